/**
 * The op catalog is the one list of operations: every op in it has its C
 * accessor in the generated header, its JS method on the handles and the SDK,
 * and its model agrees with what the generated code computes. A catalog row
 * without its JS method fails to type-check here (the `satisfies` lines).
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPercpu, PercpuSdk, PercpuVar, u16, u32, u64, u8 } from "../mod.ts";
import {
  INTEGER_OPS,
  LEAF_OP_SPECS,
  LEAF_OPS,
  type LeafOp,
  RUNTIME,
  RUNTIME_NAMES,
  VAR_OP_SPECS,
  VAR_OPS,
  type VarOp,
} from "../sdk/ops.ts";
import { OPERAND_SAMPLES } from "./_fixtures.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { run, runOk } from "./_toolchain.ts";

type LeafJs = typeof LEAF_OP_SPECS[LeafOp]["js"];
type VarJs = typeof VAR_OP_SPECS[VarOp]["js"];
type RuntimeJs = Exclude<typeof RUNTIME[keyof typeof RUNTIME]["js"], null>;
// Compile-time: every JS name of the catalog is a method of the handle / the SDK.
const leafMethods = [] as LeafJs[] satisfies (keyof PercpuVar)[];
const varMethods = [] as VarJs[] satisfies (keyof PercpuVar)[];
const runtimeMethods = [] as RuntimeJs[] satisfies (keyof PercpuSdk)[];
void [leafMethods, varMethods, runtimeMethods];

test("every op of the catalog is a method of PercpuVar, every exposed runtime function a method of PercpuSdk", () => {
  for (const op of LEAF_OPS) {
    assert.equal(
      typeof (PercpuVar.prototype as unknown as Record<string, unknown>)[LEAF_OP_SPECS[op].js],
      "function",
      op,
    );
  }
  for (const op of VAR_OPS) {
    assert.equal(
      typeof (PercpuVar.prototype as unknown as Record<string, unknown>)[VAR_OP_SPECS[op].js],
      "function",
      op,
    );
  }
  for (const name of RUNTIME_NAMES) {
    const js = RUNTIME[name].js;
    if (js !== null) {
      assert.equal(typeof (PercpuSdk.prototype as unknown as Record<string, unknown>)[js], "function", name);
    }
  }
});

test("every op of the catalog has its generic accessor in percpu.h, plain and _at (u128 ones included)", () => {
  const sdk = createPercpu();
  sdk.define("A", u64, 0);
  const header = sdk.generate({ arch: "riscv64" }).files["percpu.h"];
  for (const op of LEAF_OPS) {
    assert.match(header, new RegExp(`^#define percpu_${op}\\(X[,)]`, "m"), op);
    assert.match(header, new RegExp(`^#define percpu_${op}_at\\(X, `, "m"), `${op}_at`);
  }
});


for (
  const [what, features] of [["the x86_64 primitives", []], ["the generic fallback (naive: no arch primitive)", [
    "naive",
  ]]] as const
) {
  test(`the catalog's model of every read-modify-write op is what ${what} compute, for every width`, () =>
    withTempDir("ops-model", async (dir) => {
      const widths = [["WIDTH8", u8, 8n], ["WIDTH16", u16, 16n], ["WIDTH32", u32, 32n], ["WIDTH64", u64, 64n]] as const;
      const sdk = createPercpu();
      for (const [name, type] of widths) sdk.define(name, type, 0);
      await sdk.generate({ arch: "x86_64", mode: "user", features: [...features] }).write(dir);
      const lines: string[] = [];
      const expected: string[] = [];
      for (const [name, , bits] of widths) {
        const mask = (1n << bits) - 1n;
        const c = `uint${bits}_t`;
        for (const op of INTEGER_OPS) {
          const spec = LEAF_OP_SPECS[op];
          for (const old of OPERAND_SAMPLES) {
            const args = spec.values.map((_, i) => OPERAND_SAMPLES[(Number(old % 13n) + 5 * i + 3) % OPERAND_SAMPLES.length]! & mask);
            const o = old & mask;
            const model = spec.model!(o, args, mask);
            // remote ops on CPU 0's copy, which is this thread's current one
            const call = `percpu_${op}(${[name, ...(spec.target === "remote" ? ["0"] : []), ...args.map((a) => `(${c})${a}ull`)].join(", ")})`;
            lines.push(`  percpu_write_current_raw(${name}, (${c})${o}ull);`);
            if (spec.returns === "ok") {
              // try_cmpxchg(X, &e, d): the bool, and e holding the value found.
              const [e, d] = args.map((a) => `(${c})${a}ull`);
              lines.push(`  { ${c} e_ = ${e}; ok = percpu_${op}(${name}, &e_, ${d}); r = e_; }`);
            } else {
              lines.push(spec.returns === "value" ? `  r = (uint64_t)${call};` : `  ${call}; r = 0;`);
              lines.push("  ok = 0;");
            }
            lines.push(
              `  printf("%llu %llu %d\\n", (unsigned long long)percpu_read_current_raw(${name}), (unsigned long long)r, (int)ok);`,
            );
            expected.push(`${model.value} ${model.result ?? 0n} ${model.ok ? 1 : 0}`);
          }
        }
      }
      await writeFile(
        join(dir, "m.c"),
        `#include <stdio.h>\n#include "percpu.h"\nint main(void) {\n  uint64_t r; bool ok;\n  percpu_init_in_place(); percpu_init_reg(0);\n${
          lines.join("\n")
        }\n  return 0;\n}\n`,
      );
      await runOk("cc", ["-O2", "-Wall", "-Werror", "-o", "m", "m.c", "percpu.S"], { cwd: dir });
      const r = await run(join(dir, "m"), []);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), expected);
    }));
}

test("docs/ops.md is regenerated from the catalog (run scripts/ops_doc.ts after changing sdk/ops.ts)", async () => {
  const { opsDoc } = await import("../scripts/ops_doc.ts");
  const committed = await readFile(join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "ops.md"), "utf8");
  assert.equal(committed, opsDoc());
  for (const op of LEAF_OPS) assert.ok(committed.includes(`percpu_${op}(X`), op);
});
