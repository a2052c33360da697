/**
 * The instruction counts of every current-CPU read-modify-write op of the
 * catalog through the generic `percpu.h` accessors, measured on real
 * clang-19 -O2 output (llvm-objdump-19) for every arch, with no guard
 * feature and with `preempt`: the README's op table is this measurement
 * (the test fails, printing the measured table, when they differ). It also
 * checks the migration semantics of each guard class: with `preempt` every
 * op calls the hooks wherever the address is computed apart from the access
 * (every arch but x86_64, whose `%gs:` forms are single instructions), except
 * the counter ops (`lowering`) of a `counter: true` variable, one atomic on
 * the computed address; the ops whose result must be this CPU's
 * (`this_cpu`) call them always.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPercpu, u32, u64 } from "../mod.ts";
import { firmwareFlags } from "../firmware/build.ts";
import { LEAF_OP_SPECS, type LeafOp, LEAF_OPS } from "../sdk/ops.ts";
import { GUARD_HOOKS } from "../sdk/symbols.ts";
import type { Target } from "../sdk/targets.ts";
import { test } from "./_harness.ts";
import { bodyLength, CLANG, disassemble, run } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

/** The columns: every arch, and aarch64 with the ARMv8.1 LSE atomics (`features: ["lse"]`). */
const COLUMNS: readonly { readonly label: string; readonly arch: Target; readonly lse: boolean }[] = [
  { label: "x86_64", arch: "x86_64", lse: false },
  { label: "aarch64", arch: "aarch64", lse: false },
  { label: "aarch64 + `lse`", arch: "aarch64", lse: true },
  { label: "riscv64", arch: "riscv64", lse: false },
  { label: "riscv32", arch: "riscv32", lse: false },
  { label: "loongarch64", arch: "loongarch64", lse: false },
];

/** The current-CPU read-modify-write ops, in catalog order. */
const OPS: readonly LeafOp[] = LEAF_OPS.filter((op) => LEAF_OP_SPECS[op].scalars === "integer" && LEAF_OP_SPECS[op].target === "current");

/** One C function per op on leaf `X` of C type `t` (the word size of the arch), named `t_<op>`. */
function source(t: string): string {
  const fns = OPS.map((op) => {
    const spec = LEAF_OP_SPECS[op];
    const params = spec.returns === "ok" ? [`${t} *e`, `${t} d`] : spec.values.map((v) => `${t} ${v}`);
    const args = spec.returns === "ok" ? ["e", "d"] : spec.values;
    const call = `percpu_${op}(${["X", ...args].join(", ")})`;
    const ret = spec.returns === "ok" ? "bool" : spec.returns === "value" ? t : "void";
    return `${ret} t_${op}(${params.join(", ") || "void"}) { ${ret === "void" ? "" : "return "}${call}; }`;
  });
  return ['#include "percpu.h"', ...fns, ""].join("\n");
}

/** Per op: instructions without the return, and whether it calls a guard hook. */
type Measured = ReadonlyMap<LeafOp, { readonly n: number; readonly hooks: boolean; readonly text: string }>;

async function measure(dir: string, arch: Target, features: readonly ("preempt" | "irq" | "lse")[], counter = false): Promise<Measured> {
  const sdk = createPercpu();
  sdk.define("PAD", u64, 0);
  sdk.define("X", arch === "riscv32" ? u32 : u64, 0, { counter });
  const gen = sdk.generate({ arch, features: [...features] });
  await gen.write(dir);
  await writeFile(join(dir, "t.c"), source(arch === "riscv32" ? "uint32_t" : "uint64_t"));
  const r = await run(CLANG, [...firmwareFlags(arch), "-fomit-frame-pointer", "-c", "t.c", "-o", "t.o"], { cwd: dir });
  assert.equal(r.code, 0, `${arch} [${features.join(",")}]:\n${r.stderr}`);
  const dis = await disassemble(join(dir, "t.o"), ["-r"]);
  const out = new Map<LeafOp, { n: number; hooks: boolean; text: string }>();
  for (const op of OPS) {
    const lines = dis.get(`t_${op}`);
    assert.ok(lines, `${arch}: t_${op} not found`);
    const insns = lines.filter((l) => !/^R_/.test(l));
    const hooks = lines.some((l) => /^R_/.test(l) && GUARD_HOOKS.some((h) => l.includes(h)));
    out.set(op, { n: bodyLength(insns), hooks, text: insns.join("; ") });
  }
  return out;
}

/**
 * The README table: per op the -O2 instruction count without guard features, `+ guard` when preempt adds the
 * hooks, `+ guard*` when it adds them except on a `counter: true` variable.
 */
function table(results: ReadonlyMap<string, { none: Measured; preempt: Measured; counter: Measured }>): string {
  const head = `| \`percpu.h\` op (64-bit leaf; riscv32: 32-bit) | ${COLUMNS.map((c) => c.label).join(" | ")} |`;
  const rule = `|---|${COLUMNS.map(() => "---").join("|")}|`;
  const rows = OPS.map((op) => {
    const cells = COLUMNS.map((col) => {
      const { none, preempt, counter } = results.get(col.label)!;
      const guard = preempt.get(op)!.hooks ? (counter.get(op)!.hooks ? " + guard" : " + guard*") : "";
      return `${none.get(op)!.n}${guard}`;
    });
    return `| \`percpu_${op}\` | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...rows].join("\n");
}

test("ops_counts: every current-CPU RMW op's instruction count on every arch is the README's, and each guard class is guarded as stated", async () => {
  const results = new Map<string, { none: Measured; preempt: Measured; counter: Measured }>();
  for (const { label, arch, lse } of COLUMNS) {
    const extra = lse ? (["lse"] as const) : [];
    const none = await withTempDir(`ops-counts-${arch}`, (dir) => measure(dir, arch, [...extra]));
    const preempt = await withTempDir(`ops-counts-${arch}-p`, (dir) => measure(dir, arch, ["preempt", ...extra]));
    const counter = await withTempDir(`ops-counts-${arch}-c`, (dir) => measure(dir, arch, ["preempt", ...extra], true));
    for (const op of OPS) {
      const m = none.get(op)!;
      assert.equal(m.hooks, false, `${arch} ${op}: no hook without guard features: ${m.text}`);
      const g = preempt.get(op)!;
      const cls = LEAF_OP_SPECS[op].guard;
      // x86_64: one %gs: instruction (or a cmpxchg loop on it), never guarded. Elsewhere every op is by default,
      // and a counter: true variable leaves its counter ops (one atomic on the computed address) unguarded.
      assert.equal(g.hooks, arch !== "x86_64", `${arch} ${op} (guard class ${cls}) with preempt: ${g.text}`);
      const c = counter.get(op)!;
      assert.equal(c.hooks, arch !== "x86_64" && cls === "this_cpu", `${arch} ${op} (guard class ${cls}) of a counter: true variable with preempt: ${c.text}`);
    }
    if (lse) {
      // One LSE instruction per op (stadd, ldadd, swp, cas, ...), no LL/SC loop.
      for (const op of OPS) assert.ok(!/ldxr|stxr/.test(none.get(op)!.text), `aarch64 lse ${op}: ${none.get(op)!.text}`);
    }
    results.set(label, { none, preempt, counter });
  }
  // The shortest forms promised for x86_64 (Linux's this_cpu_*): one instruction for the counter ops.
  const x86 = results.get("x86_64")!.none;
  for (const op of ["add_current", "sub_current", "and_current", "or_current", "xor_current", "inc_current", "dec_current"] as const) {
    assert.equal(x86.get(op)!.n, 1, `x86_64 ${op}: ${x86.get(op)!.text}`);
  }
  assert.match(x86.get("inc_current")!.text, /^incq %gs:/);
  assert.match(x86.get("add_return_current")!.text, /xaddq %\w+, %gs:/);
  assert.match(x86.get("try_cmpxchg_current")!.text, /cmpxchgq %\w+, %gs:/);
  const measured = table(results);
  const readme = await readFile(join(dirname(fileURLToPath(import.meta.url)), "..", "README.md"), "utf8");
  const start = readme.indexOf(measured.split("\n")[0]!);
  const committed = start < 0 ? "" : readme.slice(start, start + measured.length);
  assert.equal(committed, measured, `the README's op table is not the measured one; measured:\n${measured}`);
}, { only: ["deno"], timeoutMs: 120_000 });
