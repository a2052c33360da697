/**
 * The aarch64 backend on the instruction IR of arch/asm.ts: the inline-asm
 * clobbers and scratch outputs of `PERCPU_INLINE` come from the defs of the
 * same builders that make `percpu.S`, so here they are checked
 * independently, on the rendered text, for every op, feature set and
 * exception level; and every function of `percpu.S` renders as a function
 * (labels alone on their line, instructions tab-indented, ending in `ret`).
 */
import assert from "node:assert/strict";
import { aligned, array, bool, createPercpu, f32, i16, i8, struct, u16, u32, u64, u8 } from "../mod.ts";
import type { PercpuSdk } from "../mod.ts";
import { type GenInput, generatorInput, type PlacedLeaf } from "../sdk/plan.ts";
import { resolveConfig } from "../sdk/config.ts";
import { leafOps } from "../sdk/symbols.ts";
import { aarch64Backend, aarch64LeafAssembly } from "../arch/aarch64.ts";
import { defineScalarsOfEveryWidth } from "./_fixtures.ts";
import { test } from "./_harness.ts";

type FeatureName = "preempt" | "irq" | "naive" | "el2";

const SETS: readonly (readonly FeatureName[])[] = [[], ["preempt"], ["irq"], ["preempt", "irq"], ["naive"]].flatMap((s) => [
  s as FeatureName[],
  [...s, "el2"] as FeatureName[],
]);

/** Scalars of every kind, nested arrays and structs, and leaves past the scaled-immediate, 16-bit and `lsl #12` reaches. */
function layout(): PercpuSdk {
  const sdk = createPercpu();
  defineScalarsOfEveryWidth(sdk);
  sdk.define("READY", bool, true);
  sdk.define("F32V", f32, 1.5);
  sdk.define("PAD", array(u8, 40000), new Array<number>(40000).fill(0));
  sdk.define("ST", struct({ a: u64, b: u32, c: array(i16, 3), d: struct({ e: i8, f: array(u16, 2) }) }), { a: 1n, b: 2, c: [1, 2, 3], d: { e: -1, f: [4, 5] } });
  sdk.define("MAT", array(array(u32, 3), 17), Array.from({ length: 17 }, () => [0, 0, 0]));
  sdk.define("LINE", aligned(u64, 64), 7n);
  sdk.define("FAR8", i8, -3);
  sdk.define("FAR16", u16, 9);
  return sdk;
}

const name = (features: readonly FeatureName[]): string => features.join("+") || "none";

/** Machine general-purpose registers a template names (`x9`, `w9` are both x9); operands such as `%w[v]` or `%0` name none. */
function namedRegs(template: string): string[] {
  return [...new Set([...template.matchAll(/(?<![%\w])[xw]([12]?\d|30)\b/g)].map((m) => `x${m[1]}`))];
}

/** The inline asm statements with clobbers (template, outputs, inputs, clobbers; empty sections as "") of a `PERCPU_INLINE` block. */
function statements(h: string): string[][] {
  // Operands and clobbers hold no colon, so the sections split at ":".
  return [...h.matchAll(/^ {2}__asm__ volatile\("((?:[^"\\]|\\.)*)" :(.*)\);$/gm)]
    .map(([, template = "", rest = ""]) => [template, ...rest.split(":").map((part) => part.trim())])
    .filter((st) => st.length === 4);
}

/**
 * Checks each statement independently of the IR, on its text: the clobbers are
 * exactly the machine registers the template names (none: every register is
 * an operand), `"cc"` where the template is an LL/SC loop (always declared)
 * or sets the flags, and `"memory"`; every placeholder is declared, the
 * scratch ones as early-clobber outputs. Returns how many are LL/SC loops and
 * how many use the register-offset scratch `t`.
 */
function checkStatements(h: string, what: string): { llsc: number; far: number } {
  const found = statements(h);
  assert.ok(found.length > 0, `${what}: no inline asm statements`);
  let llsc = 0;
  let far = 0;
  for (const [template = "", outputs = "", inputs = "", clobbers = ""] of found) {
    const named = namedRegs(template);
    const loop = /\\tldxr[bh]? /.test(template);
    const setsFlags = /\\t(cmp|cmn|tst|subs|adds|ands) /.test(template);
    assert.equal(clobbers, [...named.map((r) => `"${r}"`), ...(loop || setsFlags ? [`"cc"`] : []), `"memory"`].join(", "), `${what}: ${template}`);
    // Every register of an inline accessor is an operand the compiler allocates: no argument, callee-saved, frame or link register (none at all) is named.
    assert.deepEqual(named, [], `${what}: inline asm names a fixed register: ${template}`);
    assert.doesNotMatch(template, /(?<![%\w])(sp|lr|fp)\b/, template);
    // Each placeholder the template names is a declared operand; the scratch ones (written only) are early-clobber outputs.
    const placeholders = new Set([...template.matchAll(/%[xwsd]\[(\w+)\]/g)].map((m) => m[1]!));
    const declared = new Set([...`${outputs} : ${inputs}`.matchAll(/\[(\w+)\] "/g)].map((m) => m[1]!));
    assert.deepEqual([...placeholders].sort(), [...declared].sort(), `${what}: ${template}`);
    for (const scratch of ["t", "old", "st", "next"]) {
      assert.equal(placeholders.has(scratch), outputs.includes(`[${scratch}] "=&r"(${scratch})`), `${what}: ${scratch}: ${template}`);
    }
    if (loop) llsc++;
    if (placeholders.has("t")) far++;
  }
  return { llsc, far };
}

/** A one-variable input with the leaf moved to `areaOffset` (no real layout links there: beyond 16 MiB needs the register offset). */
function farInput(areaOffset: number, features: readonly FeatureName[]): GenInput {
  const sdk = createPercpu();
  sdk.define("X", u16, 0);
  const base = generatorInput(sdk.layout("aarch64"), resolveConfig({ arch: "aarch64", functions: true, features: [...features] }));
  const v = base.vars[0]!;
  const leaf: PlacedLeaf = { ...v.leaves[0]!, areaOffset };
  return { ...base, vars: [{ layout: { ...v.layout, offset: areaOffset }, leaves: [leaf], u128Leaves: [] }] };
}

test("asm IR (aarch64): every inline asm statement clobbers exactly the registers its template names, cc for LL/SC loops and flag-setting code, plus memory", () => {
  for (const features of SETS) {
    const gen = layout().generate({ arch: "aarch64", functions: true, features: [...features] });
    const h = gen.files["percpu.h"];
    const reg = features.includes("el2") ? "tpidr_el2" : "tpidr_el1";
    if (!features.includes("naive")) assert.ok(h.includes(`  __asm__ volatile("mrs %0, ${reg}" : "=r"(r));`), `${name(features)}: the register helper`);
    assert.ok(statements(h).length > 100, `${name(features)}: only ${statements(h).length} inline asm statements`);
    const { llsc } = checkStatements(h, name(features));
    assert.ok(llsc > 20, `${name(features)}: LL/SC statements`);
    for (const off of [2 ** 24 + 2, 2 ** 31 - 2]) {
      const far = checkStatements(aarch64Backend.inlineC(farInput(off, features)), `${name(features)} at ${off}`);
      // Current and remote reads and writes; naive current accesses fold the offset into the symbol instead.
      assert.equal(far.far, features.includes("naive") ? 2 : 4, `${name(features)} at ${off}: register-offset reads and writes`);
    }
  }
});

test("asm IR (aarch64): out-of-line leaves render as functions; labels stand alone, instructions are tab-indented, bodies end in ret", () => {
  for (const features of SETS) {
    const gen = layout().generate({ arch: "aarch64", functions: true, features: [...features] });
    const input = generatorInput(gen.layout, gen.config);
    const s = gen.files["percpu.S"];
    let leaves = 0;
    for (const v of input.vars) {
      for (const leaf of v.leaves) {
        for (const op of leafOps(leaf.scalar)) {
          const text = aarch64LeafAssembly(input, leaf, op);
          assert.ok(s.includes(text), `${name(features)} ${leaf.symbol} ${op}: not the percpu.S text`);
          const body = text.split("\n").slice(5, -2);
          assert.equal(body.at(-1), "\tret", `${leaf.symbol} ${op}`);
          for (const line of body) assert.ok(/^\t[a-z]\S* ?/.test(line) || /^\d+:$/.test(line), `${name(features)} ${op}: ${JSON.stringify(line)}`);
          leaves++;
        }
      }
    }
    assert.ok(leaves > 100, `${name(features)}: ${leaves} leaf functions`);
    // Every function of percpu.S (runtime, per-variable, leaves): labels alone, instructions tab-indented, ending in ret or a tail branch.
    const functions = s.split(/^\.section \.text\./m).slice(1);
    assert.ok(functions.length > leaves, "runtime and per-variable functions too");
    for (const f of functions) {
      const lines = f.split("\n");
      const fn = lines[0]!.split(",")[0]!;
      const start = lines.indexOf(`${fn}:`);
      const end = lines.indexOf(`.size ${fn}, . - ${fn}`);
      assert.ok(start > 0 && end > start, fn);
      const body = lines.slice(start + 1, end);
      assert.ok(["\tret", "\tb percpu_init"].includes(body.at(-1)!), `${fn}: ${body.at(-1)}`);
      for (const line of body) assert.ok(/^\t[a-z]/.test(line) || /^\d+:$/.test(line), `${fn}: ${JSON.stringify(line)}`);
      // Scratch is x9-x15 (and x0-x7 for arguments and results); callee-saved x19-x28 and x16-x18 (IP0/IP1, platform) are never named, x29/x30 only by the guard frame.
      const text = body.join("\n");
      assert.doesNotMatch(text, /(?<![%\w])[xw](1[6-9]|2[0-8])\b/, fn);
      for (const line of body.filter((l) => /(?<![%\w])[xw](29|30)\b/.test(l))) {
        assert.ok(/^\t(stp x29, x30, \[sp, #-\d+\]!|mov x29, sp|ldp x29, x30, \[sp\], #\d+)$/.test(line), `${fn}: ${line}`);
      }
    }
  }
});
