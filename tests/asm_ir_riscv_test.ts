/**
 * The RISC-V backend on the instruction IR of arch/asm.ts: the inline-asm
 * clobbers of `PERCPU_INLINE` come from the defs of the same builders that
 * make `percpu.S`, and cover every temporary a template names (checked
 * here independently, on the rendered text, for every op and feature set).
 */
import assert from "node:assert/strict";
import { array, createPercpu, struct, u32, u64, u8 } from "../mod.ts";
import type { PercpuSdk } from "../mod.ts";
import { generatorInput } from "../sdk/plan.ts";
import { leafOps } from "../sdk/symbols.ts";
import { riscv32Backend, riscv64Backend, riscvLeafAssembly } from "../arch/riscv.ts";
import { defineScalarsOfEveryWidth } from "./_fixtures.ts";
import { test } from "./_harness.ts";

const SETS = [[], ["preempt"], ["irq"], ["preempt", "irq"], ["naive"]] as const;

function layout(): PercpuSdk {
  const sdk = createPercpu();
  defineScalarsOfEveryWidth(sdk);
  sdk.define("PAD", array(u8, 5000), new Array<number>(5000).fill(0));
  sdk.define("ST", struct({ a: u64, b: u32 }), { a: 1n, b: 2 });
  sdk.define("MAT", array(array(u32, 3), 17), Array.from({ length: 17 }, () => [0, 0, 0]));
  return sdk;
}

test("asm IR (riscv): every inline asm statement clobbers exactly the temporaries its template names, plus memory", () => {
  for (const backend of [riscv64Backend, riscv32Backend]) {
    for (const features of SETS) {
      const gen = layout().generate({ arch: backend.arch, functions: true, features: [...features] });
      const statements = [...gen.files["percpu.h"].matchAll(/__asm__ volatile\("((?:[^"\\]|\\.)*)" : (.*)\);$/gm)];
      assert.ok(statements.length > 50, `${backend.arch} ${features.join("+")}: only ${statements.length} inline asm statements`);
      for (const [, template, operands] of statements) {
        const clobbers = operands!.split(" : ").at(-1);
        const named = ["t0", "t1", "t2", "t3", "t4", "t5", "t6"].filter((t) => new RegExp(`\\b${t}\\b`).test(template!));
        assert.equal(clobbers, [...named.map((t) => `"${t}"`), `"memory"`].join(", "), template);
        assert.doesNotMatch(template!, /\b(a[0-7]|s\d+|ra|sp)\b/, `inline asm names a fixed argument/saved register: ${template}`);
      }
    }
  }
});

test("asm IR (riscv): out-of-line leaves render as functions; labels stand alone, instructions are tab-indented", () => {
  for (const arch of ["riscv64", "riscv32"] as const) {
    const gen = layout().generate({ arch, functions: true, features: ["preempt", "irq"] });
    const input = generatorInput(gen.layout, gen.config);
    for (const v of input.vars) {
      for (const leaf of v.leaves) {
        for (const op of leafOps(leaf.scalar)) {
          const text = riscvLeafAssembly(arch, input, leaf, op);
          assert.ok(gen.files["percpu.S"].includes(text), `${arch} ${leaf.symbol} ${op}: not the percpu.S text`);
          const body = text.split("\n").slice(5, -2);
          assert.equal(body.at(-1), "\tret");
          for (const line of body) assert.ok(/^\t\S/.test(line) || /^[.\w]+:$/.test(line), `${arch} ${op}: ${JSON.stringify(line)}`);
        }
      }
    }
  }
});
