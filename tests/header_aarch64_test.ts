/**
 * The aarch64 primitives of the generic `percpu.h` (arch/aarch64_header.ts),
 * proven with the real toolchain: a C file calling every generic accessor is
 * compiled with clang-19 at -O0 and -O2 (`-Wall -Werror`,
 * `-mgeneral-regs-only`) for every feature set and disassembled with
 * llvm-objdump-19 (relocations shown, so hook calls are visible by name).
 * Values are run under QEMU by the firmware test program's generic round.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import { array, bool, createPercpu, f32, f64, i8, struct, u16, u32, u64, u8 } from "../mod.ts";
import { GUARD_HOOKS } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { bodyLength, CLANG, disassemble, run, undefinedSymbols } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type FeatureName = "preempt" | "irq" | "el2";

const FEATURE_SETS: readonly (readonly FeatureName[])[] = [[], ["preempt"], ["irq"], ["preempt", "irq"], ["el2"]];

/** A mix of kinds: scalars, a struct, a long array and variables beyond 32 KiB (past the scaled-immediate reach). */
function mixedSdk() {
  const sdk = createPercpu();
  // counter: true: the shapes below are the statistics-counter ones (counter ops unguarded where one atomic);
  // tests/ops_counts_test.ts measures the default, guarded ones.
  sdk.define("CPU_ID", u64, 4n, { counter: true });
  sdk.define("COUNT", u32, 3, { counter: true });
  sdk.define("HALF", u16, 7, { counter: true });
  sdk.define("SMALL", i8, -7, { counter: true });
  sdk.define("READY", bool, true);
  sdk.define("RATIO", f32, 1.5);
  sdk.define("LOAD", f64, 2.25);
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, tag: i8 }), { irqs: 1n, ticks: 2, tag: -3 }, { counter: true });
  sdk.define("BIG", array(u32, 100), new Array(100).fill(5), { counter: true });
  sdk.define("PAD", array(u8, 40000), new Array(40000).fill(0), { counter: true });
  sdk.define("FAR", u64, 9n, { counter: true });
  sdk.define("FAR_W", u32, 10, { counter: true });
  return sdk;
}

/** A scalar leaf of {@link mixedSdk} as the test C file uses it. */
interface Leaf {
  readonly name: string;
  readonly cType: string;
  /** Floats cross function boundaries as their bits (no float parameters under -mgeneral-regs-only). */
  readonly bits?: "uint32_t" | "uint64_t";
  /** Integer kinds get the read-modify-write ops, with this exclusive-access suffix. */
  readonly ex?: "" | "b" | "h";
  /** Within the scaled 12-bit immediate (2-instruction raw access). */
  readonly near: boolean;
}

const LEAVES: readonly Leaf[] = [
  { name: "CPU_ID", cType: "uint64_t", ex: "", near: true },
  { name: "COUNT", cType: "uint32_t", ex: "", near: true },
  { name: "HALF", cType: "uint16_t", ex: "h", near: true },
  { name: "SMALL", cType: "int8_t", ex: "b", near: true },
  { name: "READY", cType: "bool", near: true },
  { name: "RATIO", cType: "float", bits: "uint32_t", near: true },
  { name: "LOAD", cType: "double", bits: "uint64_t", near: true },
  { name: "STATS__irqs", cType: "uint64_t", ex: "", near: true },
  { name: "STATS__ticks", cType: "uint32_t", ex: "", near: true },
  { name: "STATS__tag", cType: "int8_t", ex: "b", near: true },
  { name: "FAR", cType: "uint64_t", ex: "", near: false },
  { name: "FAR_W", cType: "uint32_t", ex: "", near: false },
];

const RMW_OPS = ["add", "sub", "and", "or", "xor"] as const;

/** One C function per accessor call, named `t_<op>_<leaf>`. */
function testSource(): string {
  const fns: string[] = [];
  for (const l of LEAVES) {
    const x = l.name;
    // Parameters and results of the C type, or of its bits for floats.
    const pt = l.bits ?? l.cType;
    const toC = (p: string) => (l.bits ? `({ ${l.cType} f_; __builtin_memcpy(&f_, &${p}, sizeof f_); f_; })` : p);
    const ret = (e: string) => (l.bits ? `${l.cType} f_ = ${e}; ${pt} u_; __builtin_memcpy(&u_, &f_, sizeof u_); return u_;` : `return ${e};`);
    fns.push(
      `${pt} t_rd_raw_${x}(void) { ${ret(`percpu_read_current_raw(${x})`)} }`,
      `${pt} t_rd_${x}(void) { ${ret(`percpu_read_current(${x})`)} }`,
      `void t_wr_raw_${x}(${pt} v) { percpu_write_current_raw(${x}, ${toC("v")}); }`,
      `void t_wr_${x}(${pt} v) { percpu_write_current(${x}, ${toC("v")}); }`,
      `${pt} t_remote_rd_${x}(uintptr_t cpu) { ${ret(`percpu_remote_read(${x}, cpu)`)} }`,
      `void t_remote_wr_${x}(uintptr_t cpu, ${pt} v) { percpu_remote_write(${x}, cpu, ${toC("v")}); }`,
    );
    if (l.ex !== undefined) {
      for (const op of RMW_OPS) fns.push(`void t_${op}_${x}(${pt} v) { percpu_${op}_current(${x}, v); }`);
      fns.push(
        `${pt} t_xchg_${x}(${pt} v) { return percpu_xchg_current(${x}, v); }`,
        `${pt} t_cmpxchg_${x}(${pt} e, ${pt} d) { return percpu_cmpxchg_current(${x}, e, d); }`,
      );
    }
  }
  fns.push(
    "uint32_t t_rd_raw_at_BIG(uintptr_t i) { return percpu_read_current_raw_at(BIG, i); }",
    "uint32_t t_rd_at_BIG(uintptr_t i) { return percpu_read_current_at(BIG, i); }",
    "void t_wr_raw_at_BIG(uint32_t v, uintptr_t i) { percpu_write_current_raw_at(BIG, v, i); }",
    "void t_wr_at_BIG(uint32_t v, uintptr_t i) { percpu_write_current_at(BIG, v, i); }",
    ...RMW_OPS.map((op) => `void t_${op}_at_BIG(uint32_t v, uintptr_t i) { percpu_${op}_current_at(BIG, v, i); }`),
    "uint32_t t_xchg_at_BIG(uint32_t v, uintptr_t i) { return percpu_xchg_current_at(BIG, v, i); }",
    "uint32_t t_cmpxchg_at_BIG(uint32_t e, uint32_t d, uintptr_t i) { return percpu_cmpxchg_current_at(BIG, e, d, i); }",
    "uint32_t t_remote_rd_at_BIG(uintptr_t cpu, uintptr_t i) { return percpu_remote_read_at(BIG, cpu, i); }",
    "void t_remote_wr_at_BIG(uintptr_t cpu, uint32_t v, uintptr_t i) { percpu_remote_write_at(BIG, cpu, v, i); }",
    "uintptr_t t_ptr_STATS(void) { return (uintptr_t)percpu_current_ptr(STATS); }",
    "uintptr_t t_remote_ptr_STATS(uintptr_t cpu) { return (uintptr_t)percpu_remote_ptr(STATS, cpu); }",
    "void t_reset_STATS(void) { percpu_reset_to_init(STATS); }",
  );
  return ['#include "percpu.h"', ...fns, ""].join("\n");
}

/** Compile flags: the backend's plus -mgeneral-regs-only, warnings as errors. */
function cflags(opt: string): string[] {
  return [...backendFor("aarch64").clangFlags, "-mgeneral-regs-only", "-ffreestanding", "-Wall", "-Werror", opt];
}

/** A disassembled function: its instructions and the symbols it calls (from relocations). */
interface Fn {
  readonly insns: readonly string[];
  readonly calls: readonly string[];
}

/** Compiles the test file for `features` at `opt` and returns its functions. */
async function compiled(dir: string, features: readonly FeatureName[], opt: string): Promise<Map<string, Fn>> {
  const gen = mixedSdk().generate({ arch: "aarch64", features: [...features] });
  await gen.write(dir);
  await writeFile(join(dir, "t.c"), testSource());
  const obj = `t${opt}.o`;
  const r = await run(CLANG, [...cflags(opt), "-c", "t.c", "-o", obj], { cwd: dir });
  assert.equal(r.code, 0, `clang ${opt} [${features.join(",")}] failed:\n${r.stderr}`);
  const fns = new Map<string, Fn>();
  for (const [name, lines] of await disassemble(join(dir, obj), ["-r"])) {
    const calls = lines.flatMap((l) => /^R_AARCH64_(?:CALL26|JUMP26) (\S+)/.exec(l)?.slice(1) ?? []);
    fns.set(name, { insns: lines.filter((l) => !l.startsWith("R_")), calls });
  }
  if (opt === "-O0") {
    const hooks = [...(await undefinedSymbols(join(dir, obj)))].filter((s) => (GUARD_HOOKS as readonly string[]).includes(s));
    if (!features.includes("preempt") && !features.includes("irq")) assert.deepEqual(hooks, [], "no hook is referenced without preempt/irq");
  }
  return fns;
}

/** The function `name` of a compiled file (fails when missing). */
function fn(fns: Map<string, Fn>, name: string): Fn {
  const f = fns.get(name);
  assert.ok(f, `${name} not found in the disassembly`);
  return f;
}

/** The hooks the guarded accessors must call for a feature set. */
function expectedHooks(features: readonly FeatureName[]): string[] {
  return [...(features.includes("preempt") ? [GUARD_HOOKS[0], GUARD_HOOKS[1]] : []), ...(features.includes("irq") ? [GUARD_HOOKS[2], GUARD_HOOKS[3]] : [])];
}

/** Functions that must never call a hook: raw, remote, current_ptr and the counter LL/SC read-modify-write ops. */
function unguardedNames(fns: Map<string, Fn>): string[] {
  return [...fns.keys()].filter((n) => /^t_(rd_raw|wr_raw|remote|ptr|add|sub|and|or|xor)_/.test(n));
}

/** Functions that must call the hooks when preempt/irq is on: guarded read/write, xchg and cmpxchg, scalar and `_at`. */
function guardedNames(fns: Map<string, Fn>): string[] {
  // xchg/cmpxchg (guard class this_cpu): the exchanged value must be this CPU's, so mrs and the loop are guarded.
  return [...fns.keys()].filter((n) => /^t_(rd|wr|xchg|cmpxchg)_(at_)?[A-Z]/.test(n));
}

for (const features of FEATURE_SETS) {
  const label = features.length ? features.join("+") : "no features";
  const reg = features.includes("el2") ? "tpidr_el2" : "tpidr_el1";
  const other = features.includes("el2") ? "tpidr_el1" : "tpidr_el2";

  test(`header_aarch64 (${label}): -O2 raw accesses are mrs + one ldr/str when the scaled immediate fits, RMW ops are LL/SC loops, hooks only where guarded`, async () => {
    await withTempDir("hdr-a64", async (dir) => {
      const fns = await compiled(dir, features, "-O2");
      const mrs = new RegExp(`^mrs (x\\d+), ${reg}$`, "i");
      for (const l of LEAVES) {
        for (const [op, insn] of [["rd_raw", /^ldr/], ["wr_raw", /^str/]] as const) {
          const f = fn(fns, `t_${op}_${l.name}`);
          const n = bodyLength(f.insns);
          const base = mrs.exec(f.insns[0] ?? "")?.[1];
          assert.ok(base, `t_${op}_${l.name} starts with mrs of ${reg}: ${f.insns.join("; ")}`);
          if (l.near) {
            // bool reads are masked to bit 0 after the asm load (the compiler cannot know the byte is 0 or 1): one more.
            const want = l.cType === "bool" && op === "rd_raw" ? 3 : 2;
            assert.equal(n, want, `t_${op}_${l.name}: ${f.insns.join("; ")}`);
            assert.match(f.insns[1]!, new RegExp(`^${insn.source}\\w* [wx]\\d+, \\[${base}(, #0x[0-9a-f]+)?\\]$`), `t_${op}_${l.name}: ${f.insns.join("; ")}`);
          } else {
            assert.equal(n, 3, `beyond the scaled immediate: mrs, add lsl #12, access (${l.name}): ${f.insns.join("; ")}`);
            assert.match(f.insns[1]!, /, lsl #12$/);
          }
        }
        if (l.ex !== undefined) {
          for (const op of [...RMW_OPS, "xchg", "cmpxchg"]) {
            const f = fn(fns, `t_${op}_${l.name}`);
            const text = f.insns.join("; ");
            assert.ok(f.insns.some((i) => mrs.test(i)), `t_${op}_${l.name} reads ${reg}: ${text}`);
            assert.ok(f.insns.some((i) => i.startsWith(`ldxr${l.ex} `)), `t_${op}_${l.name} has ldxr${l.ex}: ${text}`);
            assert.ok(f.insns.some((i) => i.startsWith(`stxr${l.ex} `)), `t_${op}_${l.name} has stxr${l.ex}: ${text}`);
            assert.ok(f.insns.some((i) => i.startsWith("cbnz ")), `t_${op}_${l.name} retries: ${text}`);
            assert.ok(!f.insns.some((i) => /^(ldadd|stadd|swp|cas|ldset|ldclr|ldeor)/.test(i)), `t_${op}_${l.name} uses no LSE: ${text}`);
          }
        }
      }
      for (const op of [...RMW_OPS, "xchg", "cmpxchg"]) {
        const f = fn(fns, `t_${op}_at_BIG`);
        assert.ok(f.insns.some((i) => i.startsWith("ldxr ")) && f.insns.some((i) => i.startsWith("stxr ")), `t_${op}_at_BIG: ${f.insns.join("; ")}`);
      }
      // The runtime-offset read folds the array's offset: mrs, add index, ldr [x, #off].
      assert.equal(bodyLength(fn(fns, "t_rd_raw_at_BIG").insns), 3, fn(fns, "t_rd_raw_at_BIG").insns.join("; "));
      const hooks = expectedHooks(features);
      for (const name of guardedNames(fns)) assert.deepEqual([...fn(fns, name).calls].sort(), [...hooks].sort(), `${name} calls exactly the enabled hooks`);
      for (const name of unguardedNames(fns)) assert.deepEqual(fn(fns, name).calls, [], `${name} calls no hook`);
      for (const [name, f] of fns) assert.ok(!f.insns.some((i) => i.toLowerCase().includes(other)), `${name} never touches ${other}`);
      // With the guard off, the guarded forms are exactly the raw ones.
      if (hooks.length === 0) {
        for (const l of LEAVES) {
          assert.deepEqual(fn(fns, `t_rd_${l.name}`).insns, fn(fns, `t_rd_raw_${l.name}`).insns);
          assert.deepEqual(fn(fns, `t_wr_${l.name}`).insns, fn(fns, `t_wr_raw_${l.name}`).insns);
        }
      }
    });
  });

  test(`header_aarch64 (${label}): -O0 compiles every accessor, keeps mrs + ldr/str adjacent and calls hooks only where guarded`, async () => {
    await withTempDir("hdr-a64", async (dir) => {
      const fns = await compiled(dir, features, "-O0");
      for (const l of LEAVES.filter((x) => x.near)) {
        for (const [op, insn] of [["rd_raw", "ldr"], ["wr_raw", "str"]] as const) {
          const { insns } = fn(fns, `t_${op}_${l.name}`);
          const at = insns.findIndex((i) => i.toLowerCase().startsWith(`mrs `) && i.toLowerCase().endsWith(reg));
          assert.ok(at >= 0, `t_${op}_${l.name} reads ${reg}: ${insns.join("; ")}`);
          const base = insns[at]!.split(/[ ,]+/)[1]!;
          assert.match(insns[at + 1]!, new RegExp(`^${insn}\\w* [wx]\\d+, \\[${base}(, #0x[0-9a-f]+)?\\]$`), `t_${op}_${l.name}: ${insns.join("; ")}`);
        }
      }
      const hooks = expectedHooks(features);
      for (const name of guardedNames(fns)) assert.deepEqual([...fn(fns, name).calls].filter((c) => c.startsWith("percpu_")).sort(), [...hooks].sort(), name);
      for (const name of unguardedNames(fns)) assert.deepEqual(fn(fns, name).calls.filter((c) => c.startsWith("percpu_")), [], `${name} calls no hook`);
      for (const [name, f] of fns) assert.ok(!f.insns.some((i) => i.toLowerCase().includes(other)), `${name} never touches ${other}`);
    });
  });
}

test("header_aarch64: the header compiles without -mgeneral-regs-only too, and bool/float leaves have no RMW ops", async () => {
  await withTempDir("hdr-a64", async (dir) => {
    const gen = mixedSdk().generate({ arch: "aarch64" });
    await gen.write(dir);
    await writeFile(join(dir, "t.c"), testSource());
    const flags = [...backendFor("aarch64").clangFlags, "-ffreestanding", "-Wall", "-Werror", "-O2"];
    const ok = await run(CLANG, [...flags, "-c", "t.c", "-o", "t.o"], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    for (const [leaf, kind] of [["RATIO", "f32"], ["LOAD", "f64"], ["READY", "bool"]] as const) {
      await writeFile(join(dir, "bad.c"), `#include "percpu.h"\nvoid bad(void) { percpu_add_current(${leaf}, 1); }\n`);
      const bad = await run(CLANG, [...flags, "-c", "bad.c", "-o", "bad.o"], { cwd: dir });
      assert.notEqual(bad.code, 0, `percpu_add_current(${leaf}, 1) must not compile`);
      assert.match(bad.stderr, new RegExp(`${kind} leaves have no read-modify-write ops`));
    }
  });
});

test("header_aarch64: every accessor argument appears exactly once in its expansion (evaluated once)", async () => {
  await withTempDir("hdr-a64", async (dir) => {
    await mixedSdk().generate({ arch: "aarch64", features: ["preempt", "irq"] }).write(dir);
    const calls = [
      ...["COUNT", "HALF", "SMALL", "RATIO", "READY", "FAR"].flatMap((x) => [
        `percpu_write_current_raw(${x}, ARG_V)`,
        `percpu_write_current(${x}, ARG_V)`,
        `percpu_remote_read(${x}, ARG_C)`,
        `percpu_remote_write(${x}, ARG_C, ARG_V)`,
      ]),
      ...["COUNT", "SMALL", "HALF", "CPU_ID"].flatMap((x) => [
        ...RMW_OPS.map((op) => `percpu_${op}_current(${x}, ARG_V)`),
        `percpu_xchg_current(${x}, ARG_V)`,
        `percpu_cmpxchg_current(${x}, ARG_E, ARG_D)`,
      ]),
      "percpu_read_current_raw_at(BIG, ARG_I)",
      "percpu_read_current_at(BIG, ARG_I)",
      "percpu_write_current_raw_at(BIG, ARG_V, ARG_I)",
      "percpu_write_current_at(BIG, ARG_V, ARG_I)",
      ...RMW_OPS.map((op) => `percpu_${op}_current_at(BIG, ARG_V, ARG_I)`),
      "percpu_xchg_current_at(BIG, ARG_V, ARG_I)",
      "percpu_cmpxchg_current_at(BIG, ARG_E, ARG_D, ARG_I)",
      "percpu_remote_read_at(BIG, ARG_C, ARG_I)",
      "percpu_remote_write_at(BIG, ARG_C, ARG_V, ARG_I)",
    ];
    await writeFile(join(dir, "e.c"), ['#include "percpu.h"', ...calls.map((c, i) => `CALL_${i}: ${c}`), ""].join("\n"));
    const r = await run(CLANG, [...backendFor("aarch64").clangFlags, "-E", "-P", "e.c"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    for (const [i, call] of calls.entries()) {
      const line = r.stdout.split("\n").find((l) => l.startsWith(`CALL_${i}:`));
      assert.ok(line, `expansion of ${call}`);
      for (const arg of call.match(/ARG_[A-Z]/g)!) {
        assert.equal(line.split(arg).length - 1, 1, `${arg} appears once in the expansion of ${call}`);
      }
    }
  });
});
