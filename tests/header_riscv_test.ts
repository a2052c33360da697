/**
 * The RISC-V primitives of the generic `percpu.h` (arch/riscv_header.ts),
 * riscv64 and riscv32 × features none / preempt / irq / both: a C file calling
 * every generic accessor compiles with `-Wall -Werror` at -O0 and -O2, and
 * at -O2 the disassembly has the shapes the primitives promise (one
 * instruction near gp, three beyond 2 KiB, AMOs for 32/64-bit RMW, the guard
 * only around multi-instruction sequences, gp never written).
 *
 * @module
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { array, bool, createPercpu, f32, f64, i8, struct, u16, u32, u64, u8 } from "../mod.ts";
import type { Generated } from "../mod.ts";
import { backendFor } from "../arch/index.ts";
import { GUARD_HOOKS } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { bodyLength, CLANG, disassemble, run } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type Rv = "riscv64" | "riscv32";
type FeatureSet = "none" | "preempt" | "irq" | "preempt+irq";

/** A scalar leaf of the test layout: name, C type, a value, whether it is an integer. */
interface Leaf {
  readonly name: string;
  readonly cType: string;
  readonly value: string;
  readonly integer: boolean;
  /** Beyond 2 KiB from gp. */
  readonly far: boolean;
  /** Bytes of the value (64-bit kinds take two words on riscv32). */
  readonly bytes: number;
}

const LEAVES: readonly Leaf[] = [
  { name: "CNT", cType: "uint64_t", value: "5", integer: true, far: false, bytes: 8 },
  { name: "W32", cType: "uint32_t", value: "7", integer: true, far: false, bytes: 4 },
  { name: "H16", cType: "uint16_t", value: "9", integer: true, far: false, bytes: 2 },
  { name: "B8", cType: "int8_t", value: "-3", integer: true, far: false, bytes: 1 },
  { name: "READY", cType: "bool", value: "true", integer: false, far: false, bytes: 1 },
  { name: "RATIO", cType: "float", value: "1.5f", integer: false, far: false, bytes: 4 },
  { name: "SCALE", cType: "double", value: "2.25", integer: false, far: false, bytes: 8 },
  { name: "ST__irqs", cType: "uint64_t", value: "11", integer: true, far: false, bytes: 8 },
  { name: "ST__ticks", cType: "uint32_t", value: "12", integer: true, far: false, bytes: 4 },
  { name: "FAR", cType: "uint64_t", value: "13", integer: true, far: true, bytes: 8 },
  { name: "FAR32", cType: "uint32_t", value: "14", integer: true, far: true, bytes: 4 },
];

/** Every kind of the issue, a struct, a 100-element (indexed) array and variables behind a 5000-byte array (beyond 4 KiB: lui; add gp; l* %lo). */
function layoutSdk() {
  const sdk = createPercpu();
  // counter: true: the shapes below are the statistics-counter ones (counter ops unguarded where one atomic);
  // tests/ops_counts_test.ts measures the default, guarded ones.
  sdk.define("CNT", u64, 0n, { counter: true });
  sdk.define("W32", u32, 0, { counter: true });
  sdk.define("H16", u16, 0, { counter: true });
  sdk.define("B8", i8, 0, { counter: true });
  sdk.define("READY", bool, false);
  sdk.define("RATIO", f32, 0);
  sdk.define("SCALE", f64, 0);
  sdk.define("ST", struct({ irqs: u64, ticks: u32 }), { irqs: 0n, ticks: 0 }, { counter: true });
  sdk.define("BIG", array(u32, 100), new Array<number>(100).fill(0), { counter: true });
  sdk.define("PAD", array(u8, 5000), new Array<number>(5000).fill(0), { counter: true });
  sdk.define("FAR", u64, 0n, { counter: true });
  sdk.define("FAR32", u32, 0, { counter: true });
  return sdk;
}

/** One C function per accessor call, named `t_<leaf>_<op>`. */
function cSource(): string {
  const fns: string[] = ['#include "percpu.h"'];
  const fn = (name: string, ret: string, params: string, body: string): void => {
    fns.push(`${ret} ${name}(${params});`, `${ret} ${name}(${params}) { ${body} }`);
  };
  for (const l of LEAVES) {
    const t = l.cType;
    fn(`t_${l.name}_read_current_raw`, t, "void", `return percpu_read_current_raw(${l.name});`);
    fn(`t_${l.name}_read_current`, t, "void", `return percpu_read_current(${l.name});`);
    fn(`t_${l.name}_write_current_raw`, "void", `${t} v`, `percpu_write_current_raw(${l.name}, v);`);
    fn(`t_${l.name}_write_current`, "void", `${t} v`, `percpu_write_current(${l.name}, v);`);
    fn(`t_${l.name}_write_value`, "void", "void", `percpu_write_current(${l.name}, ${l.value});`);
    fn(`t_${l.name}_write_zero`, "void", "void", `percpu_write_current(${l.name}, 0);`);
    fn(`t_${l.name}_remote_read`, t, "uintptr_t cpu", `return percpu_remote_read(${l.name}, cpu);`);
    fn(`t_${l.name}_remote_write`, "void", `uintptr_t cpu, ${t} v`, `percpu_remote_write(${l.name}, cpu, v);`);
    if (!l.integer) continue;
    for (const op of ["add", "sub", "and", "or", "xor"]) fn(`t_${l.name}_${op}_current`, "void", `${t} v`, `percpu_${op}_current(${l.name}, v);`);
    fn(`t_${l.name}_xchg_current`, t, `${t} v`, `return percpu_xchg_current(${l.name}, v);`);
    fn(`t_${l.name}_cmpxchg_current`, t, `${t} e, ${t} d`, `return percpu_cmpxchg_current(${l.name}, e, d);`);
  }
  fn("t_BIG_read_current_at", "uint32_t", "uintptr_t i", "return percpu_read_current_at(BIG, i);");
  fn("t_BIG_read_current_raw_at", "uint32_t", "uintptr_t i", "return percpu_read_current_raw_at(BIG, i);");
  fn("t_BIG_write_current_at", "void", "uint32_t v, uintptr_t i", "percpu_write_current_at(BIG, v, i);");
  for (const op of ["add", "sub", "and", "or", "xor"]) fn(`t_BIG_${op}_current_at`, "void", "uint32_t v, uintptr_t i", `percpu_${op}_current_at(BIG, v, i);`);
  fn("t_BIG_xchg_current_at", "uint32_t", "uint32_t v, uintptr_t i", "return percpu_xchg_current_at(BIG, v, i);");
  fn("t_BIG_cmpxchg_current_at", "uint32_t", "uint32_t e, uint32_t d, uintptr_t i", "return percpu_cmpxchg_current_at(BIG, e, d, i);");
  fn("t_BIG_remote_read_at", "uint32_t", "uintptr_t cpu, uintptr_t i", "return percpu_remote_read_at(BIG, cpu, i);");
  fn("t_ST_current_ptr", "percpu_ST_t *", "void", "return percpu_current_ptr(ST);");
  fn("t_FAR_current_ptr", "uint64_t *", "void", "return percpu_current_ptr(FAR);");
  fn("t_ST_reset_to_init", "void", "void", "percpu_reset_to_init(ST);");
  // Every argument is evaluated exactly once: eight volatile loads from p (offsets 0..28).
  fn(
    "t_arg_once",
    "uint32_t",
    "volatile uint32_t *p",
    "percpu_add_current(W32, *p++); percpu_write_current(H16, *p++); (void)percpu_xchg_current(B8, *p++); percpu_add_current_at(BIG, p[0], p[1]); p += 2; " +
      "(void)percpu_read_current_at(BIG, *p++); return percpu_cmpxchg_current(W32, p[0], p[1]);",
  );
  return fns.join("\n") + "\n";
}

/** Compiles the test C file against a generation at `-O0` and `-O2`; returns the -O2 disassembly. */
async function compile(gen: Generated, dir: string): Promise<Map<string, string[]>> {
  await gen.write(dir);
  await writeFile(join(dir, "use.c"), cSource());
  const flags = [...backendFor(gen.config.arch).clangFlags, "-ffreestanding", "-Wall", "-Werror", "-c", "use.c"];
  for (const opt of ["-O0", "-O2"]) {
    const r = await run(CLANG, [...flags, opt, "-o", `use${opt}.o`], { cwd: dir });
    assert.equal(r.code, 0, `${gen.config.arch} ${opt}:\n${r.stderr}`);
  }
  const O0 = await disassemble(join(dir, "use-O0.o"), ["-r"]);
  // At -O0 too, a near read is one l* off(gp) and a near write one s* off(gp): no hook call.
  for (const name of ["t_W32_read_current", "t_H16_write_current", "t_B8_read_current_raw", "t_READY_write_current"]) {
    assert.ok(O0.get(name)!.some((l) => /^(l[bhwd]u?|s[bhwd]) \w+, (0x[0-9a-f]+|\d+)\(gp\)$/.test(l)), `${name} -O0:\n${O0.get(name)!.join("\n")}`);
    assert.ok(!callsHook(O0.get(name)!), `${name} -O0 takes the guard:\n${O0.get(name)!.join("\n")}`);
  }
  if (!gen.config.features.preempt && !gen.config.features.irq) {
    for (const [name, insns] of O0) assert.ok(!callsHook(insns), `${name} -O0 calls a hook`);
  }
  return disassemble(join(dir, "use-O2.o"), ["-r"]);
}

/** Whether a function calls a guard hook (relocations are shown with `-r`). */
function callsHook(insns: readonly string[]): boolean {
  return insns.some((l) => GUARD_HOOKS.some((h) => l.includes(h)));
}

/** Instructions without the relocation lines llvm-objdump -r interleaves. */
function code(insns: readonly string[]): string[] {
  return insns.filter((l) => !/^R_RISCV_/.test(l) && !/^[0-9a-f]+: R_RISCV/.test(l));
}

/** Generates for one arch and feature set, compiles every accessor and asserts the shapes of arch/riscv_header.ts. */
async function checkArch(arch: Rv, set: FeatureSet): Promise<void> {
  const gen = layoutSdk().generate({ arch, features: set === "none" ? [] : (set.split("+") as ("preempt" | "irq")[]) });
  const xlen = arch === "riscv64" ? 8 : 4;
  const guarded = set !== "none";
  await withTempDir(`hdr-${arch}`, async (dir) => {
    const fns = await compile(gen, dir);
    const get = (name: string): string[] => {
      const insns = fns.get(name);
      assert.ok(insns, `${name} missing`);
      return insns;
    };
    const show = (name: string): string => `${arch} ${set} ${name}:\n${get(name).join("\n")}`;
    for (const l of LEAVES) {
      const one = l.bytes <= xlen;
      const rd = code(get(`t_${l.name}_read_current_raw`));
      const wr = code(get(`t_${l.name}_write_current_raw`));
      if (one) {
        assert.equal(bodyLength(rd), l.far ? 3 : 1, show(`t_${l.name}_read_current_raw`));
        assert.equal(bodyLength(wr), l.far ? 3 : 1, show(`t_${l.name}_write_current_raw`));
        if (!l.far) {
          assert.match(rd[0]!, /^l(b|bu|h|hu|w|d) a0, (0x[0-9a-f]+|\d+)\(gp\)$/, show(`t_${l.name}_read_current_raw`));
          assert.match(wr[0]!, /^s[bhwd] (a0|zero), (0x[0-9a-f]+|\d+)\(gp\)$/, show(`t_${l.name}_write_current_raw`));
          // A constant 0 is stored from the zero register.
          assert.equal(bodyLength(code(get(`t_${l.name}_write_zero`))), 1, show(`t_${l.name}_write_zero`));
        } else assert.match(rd[0]!, /^lui /, show(`t_${l.name}_read_current_raw`));
      }
      // Guards: never in raw/remote ops; in read/write_current exactly when more than one instruction.
      for (const op of ["read_current_raw", "write_current_raw", "remote_read", "remote_write"]) {
        assert.ok(!callsHook(get(`t_${l.name}_${op}`)), show(`t_${l.name}_${op}`));
      }
      for (const op of ["read_current", "write_current"]) {
        const name = `t_${l.name}_${op}`;
        assert.equal(callsHook(get(name)), guarded && (l.far || !one), show(name));
        if (one && !l.far) assert.equal(bodyLength(code(get(name))), 1, show(name));
      }
      if (!l.integer) continue;
      const amo = l.bytes === 4 || (l.bytes === 8 && xlen === 8);
      const sfx = l.bytes === 8 ? "d" : "w";
      for (const op of ["add", "sub", "and", "or", "xor", "xchg", "cmpxchg"]) {
        const name = `t_${l.name}_${op}_current`;
        const insns = code(get(name));
        const want = op === "sub" ? "amoadd" : op === "xchg" ? "amoswap" : op === "cmpxchg" ? "lr" : `amo${op}`;
        if (amo) {
          assert.ok(insns.some((i) => i.startsWith(`${want}.${sfx}`)), show(name));
          // xchg/cmpxchg (guard class this_cpu): guarded, the exchanged value must be this CPU's; counters are not.
          assert.equal(callsHook(get(name)), guarded && (op === "xchg" || op === "cmpxchg"), show(name));
        } else {
          assert.ok(!insns.some((i) => /^(amo|lr\.|sc\.)/.test(i)), show(name));
          assert.equal(callsHook(get(name)), guarded, show(name));
        }
      }
      if (amo && !l.far) {
        // addi t, gp, off; amoadd zero, v, (t) — or the AMO on (gp) itself at offset 0.
        const add = code(get(`t_${l.name}_add_current`));
        assert.ok(bodyLength(add) <= 2 && add[bodyLength(add) - 1]!.startsWith(`amoadd.${sfx} zero,`), show(`t_${l.name}_add_current`));
        if (bodyLength(add) === 2) assert.match(add[0]!, /^addi \w+, gp, (0x[0-9a-f]+|\d+)$/, show(`t_${l.name}_add_current`));
        assert.ok(bodyLength(code(get(`t_${l.name}_sub_current`))) <= 3, show(`t_${l.name}_sub_current`));
      }
    }
    // Long arrays: the AMO on gp + index, guarded reads/writes (more than one instruction).
    for (const op of ["add", "sub", "and", "or", "xor", "xchg", "cmpxchg"]) {
      const name = `t_BIG_${op}_current_at`;
      assert.ok(code(get(name)).some((i) => /^(amo|lr\.w)/.test(i)), show(name));
      assert.equal(callsHook(get(name)), guarded && (op === "xchg" || op === "cmpxchg"), show(name));
    }
    assert.equal(callsHook(get("t_BIG_read_current_at")), guarded, show("t_BIG_read_current_at"));
    assert.equal(callsHook(get("t_BIG_write_current_at")), guarded, show("t_BIG_write_current_at"));
    assert.ok(!callsHook(get("t_BIG_read_current_raw_at")) && !callsHook(get("t_BIG_remote_read_at")), show("t_BIG_read_current_raw_at"));
    assert.deepEqual(code(get("t_ST_current_ptr")).slice(0, -1).map((i) => i.replace(/(0x[0-9a-f]+|\d+)$/, "N")), ["addi a0, gp, N"], show("t_ST_current_ptr"));
    assert.ok(!callsHook(get("t_ST_current_ptr")) && !callsHook(get("t_FAR_current_ptr")), show("t_FAR_current_ptr"));
    assert.equal(callsHook(get("t_ST_reset_to_init")), guarded, show("t_ST_reset_to_init"));
    const argLoads = code(get("t_arg_once")).flatMap((i) => {
      const m = /^l[bhw]u? \w+, (0x[0-9a-f]+)\((\w+)\)$/.exec(i);
      return m && m[2] !== "gp" && m[2] !== "sp" && m[1] !== "0x30" ? [Number(m[1])] : [];
    });
    assert.deepEqual(argLoads.sort((a, b) => a - b), [0, 4, 8, 12, 16, 20, 24, 28], show("t_arg_once"));
    // Nothing writes gp: it is never the destination (first operand) of anything but a store or a branch.
    for (const [name, insns] of fns) {
      for (const i of code(insns)) {
        const m = /^(\S+) (\w+)/.exec(i);
        if (m && !/^(s[bhwd]|b\w*)$/.test(m[1]!)) assert.notEqual(m[2], "gp", `${arch} ${set} ${name} writes gp: ${i}`);
      }
    }
  });
}

for (const arch of ["riscv64", "riscv32"] as const) {
  for (const set of ["none", "preempt", "irq", "preempt+irq"] as const) {
    test(`header_riscv: ${arch} generic accessors (features ${set}) compile at -O0/-O2 and take the promised shapes`, () => checkArch(arch, set), { only: ["deno"] });
  }
}
