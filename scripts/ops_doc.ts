/**
 * Writes docs/ops.md, the reference of every operation, from the op catalog
 * (sdk/ops.ts): `deno run -A scripts/ops_doc.ts`. The suite checks that the
 * committed page lists every op of the catalog.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LEAF_OP_SPECS, LEAF_OPS, RUNTIME, RUNTIME_NAMES, VAR_OP_SPECS, VAR_OPS } from "../sdk/ops.ts";

/** The markdown text of docs/ops.md. */
export function opsDoc(): string {
  const leafRows = LEAF_OPS.map((op) => {
    const s = LEAF_OP_SPECS[op];
    const args = [...(s.target === "remote" ? ["cpu"] : []), ...s.values];
    const c = `percpu_${op}(${["X", ...args].join(", ")})`;
    const at = `percpu_${op}_at(${["X", ...args, "i..."].join(", ")})`;
    const js = `${s.js}(${[...(s.target === "remote" ? ["cpu"] : []), ...s.values].join(", ")})`;
    const guard = s.guard === "never"
      ? "never"
      : s.guard === "this_cpu"
      ? "with preempt/irq wherever the address is computed apart from the access (every arch but x86_64): the result must be this CPU's"
      : s.scalars === "integer"
      ? "with preempt/irq wherever the address is computed apart from the access, unless the variable is `counter: true` and the op is one atomic"
      : "when the lowering is more than one instruction";
    return `| \`${c}\`<br>\`${at}\` | \`${js}\` | ${s.returns === "value" ? "the leaf's type" : s.returns === "ok" ? "`bool` (the value found in `*expected`; JS `{ ok, value }`)" : "—"} | ${s.scalars === "integer" ? "integers (not u128)" : s.scalars === "u128" ? "u128" : "every scalar"} | ${guard} | \`${s.primitive}\` |`;
  });
  const varRows = VAR_OPS.map((op) => {
    const s = VAR_OP_SPECS[op];
    const c = `percpu_${op}(${["V", ...(s.target === "remote" ? ["cpu"] : [])].join(", ")})`;
    return `| \`${c}\` | \`${s.js}()\` | ${s.returns === "pointer" ? "`percpu_V_t *`" : "—"} | ${s.guard === "never" ? "never" : "when preempt/irq is on"} |`;
  });
  const runtimeRows = RUNTIME_NAMES.map((name) => {
    const f = RUNTIME[name];
    const sig = `${f.ret} ${name}(${f.params.length ? f.params.map((p) => `${p.type} ${p.name}`).join(", ") : "void"})`;
    return `| \`${sig}\` | ${f.js === null ? "—" : `\`${f.js}\``} |`;
  });
  return [
    "# Operations",
    "",
    "Generated from the op catalog (`sdk/ops.ts`) by `deno run -A scripts/ops_doc.ts`. `X` is a leaf",
    "(`CPU_ID`, `STATS__irqs`, `IRQ_COUNT__3`), `V` a variable; `_at` forms are for long arrays and",
    "take the values first, then one index per dimension. With `functions: true` each op is also",
    "the function `percpu_<X>_<op>(...)` in `percpu.S`.",
    "",
    "## Per leaf",
    "",
    "| C (`percpu.h`) | JS (`PercpuVar`) | returns | on | guard (preempt/irq on) | primitive |",
    "|---|---|---|---|---|---|",
    ...leafRows,
    "",
    "## Per variable",
    "",
    "| C | JS | returns | guard |",
    "|---|---|---|---|",
    ...varRows,
    "",
    "## Runtime (`percpu.S`)",
    "",
    "| C | JS (`PercpuSdk`) |",
    "|---|---|",
    ...runtimeRows,
    "",
  ].join("\n");
}

const isMain = (import.meta as { main?: boolean }).main;
if (isMain) {
  const out = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "ops.md");
  writeFileSync(out, opsDoc());
  console.log(`wrote ${out}`);
}
