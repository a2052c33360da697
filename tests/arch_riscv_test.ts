import assert from "node:assert/strict";
import { join } from "node:path";
import { aligned, array, bool, createPercpu, f32, f64, i16, i64, i8, PercpuError, struct, u16, u32, u64, u8, usize } from "../mod.ts";
import type { PercpuSdk } from "../mod.ts";
import { generatorInput } from "../sdk/plan.ts";
import { GUARD_HOOKS, leafFunction, leafOps, storageSymbol } from "../sdk/symbols.ts";
import { computeLayout } from "../sdk/layout.ts";
import { riscv32Backend, riscv64Backend, riscvLeafAssembly } from "../arch/riscv.ts";
import { test } from "./_harness.ts";
import { bodyLength, compileInlineHeader, disassemble, elfSymbols, linkKernel, run, sectionSizes, undefinedSymbols } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type Rv = "riscv64" | "riscv32";
type FeatureSet = "none" | "preempt" | "irq" | "preempt+irq" | "naive";

const FEATURE_SETS: readonly FeatureSet[] = ["none", "preempt", "irq", "preempt+irq", "naive"];

function features(set: FeatureSet): ("preempt" | "irq" | "naive")[] {
  return set === "none" ? [] : (set.split("+") as ("preempt" | "irq" | "naive")[]);
}

/** Every scalar kind, a struct, a short (expanded) and a long (indexed) array and an aligned var, all below 2048. */
function smallLayout(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("FLAG8", u8, 7, { counter: true });
  sdk.define("TEMP", i16, -3, { counter: true });
  sdk.define("WORD32", u32, 0xdeadbeef, { counter: true });
  sdk.define("COUNT", u64, 5n, { counter: true });
  sdk.define("DELTA", i64, -9n, { counter: true });
  sdk.define("CPU_PTR", usize, 3, { counter: true });
  sdk.define("READY", bool, true);
  sdk.define("RATIO", f32, 1.5);
  sdk.define("SCALE", f64, 2.25);
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, small: i8 }), { irqs: 1n, ticks: 2, small: -1 }, { counter: true });
  sdk.define("HIST", array(u32, 4), [1, 2, 3, 4], { counter: true });
  sdk.define("RING", array(u16, 20), new Array<number>(20).fill(6), { counter: true });
  sdk.define("HOT", aligned(u16, 64), 9, { counter: true });
  return sdk;
}

/** A layout larger than 64 KiB: variables below 2048, beyond 2048 and beyond 64 KiB. */
function bigLayout(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("NEAR", u64, 1n, { counter: true });
  sdk.define("NEAR32", u32, 4, { counter: true });
  sdk.define("MID", array(u8, 3000), new Array<number>(3000).fill(0), { counter: true });
  sdk.define("PAST2K", u32, 2, { counter: true });
  sdk.define("PAST2K_B", i8, -5, { counter: true });
  sdk.define("BULK", array(u8, 70000), new Array<number>(70000).fill(0), { counter: true });
  sdk.define("FAR", u64, 77n, { counter: true });
  sdk.define("FAR16", i16, -2, { counter: true });
  sdk.define("FARF", f64, 0.5);
  sdk.define("FARS", struct({ x: u32, y: u16 }), { x: 1, y: 2 }, { counter: true });
  return sdk;
}

const LAYOUTS = { small: smallLayout, "> 64 KiB": bigLayout } as const;

/** llvm-objdump shows the `.Lpcrel_hi` labels of auipc pairs as functions: fold them back into their function. */
function foldLocalLabels(map: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let last: string[] | undefined;
  for (const [name, insns] of map) {
    if (name.startsWith(".L") && last) last.push(...insns);
    else out.set(name, last = [...insns]);
  }
  return out;
}

const MEM = /^(lbu|lb|lhu|lh|lwu|lw|ld) a0, (-?(?:0x)?[0-9a-f]+)\((\w+)\)$/;

function immediate(text: string): number {
  return text.startsWith("-") ? -Number(text.slice(1)) : Number(text);
}

/** Links, places, disassembles and compiles inline one generation; asserts everything the issue requires. */
async function checkGeneration(arch: Rv, set: FeatureSet, layoutName: keyof typeof LAYOUTS): Promise<void> {
    const gen = LAYOUTS[layoutName]().generate({ functions: true, arch, features: features(set) });
    await withTempDir(`rv-${arch}`, (dir) => withTempDir(`rv-inline-${arch}`, async (inlineDir) => {
      const naive = set === "naive";
      // The inline header compiles for the target, and an inline near read is one instruction.
      const nearLeaf = layoutName === "small" ? "WORD32" : "NEAR32";
      const extraC = `uint32_t t_near(void);\nuint32_t t_near(void) { return percpu_${nearLeaf}_read_current_raw(); }\n`;
      const inlineBuild = compileInlineHeader(gen, inlineDir, { extraC });
      const link = await linkKernel(gen, dir);
      assert.equal(link.code, 0, link.stderr);
      const [syms, sizes, undef, dis, relocs] = await Promise.all([
        elfSymbols(link.elf), sectionSizes(link.elf), undefinedSymbols(join(dir, "percpu.o")), disassemble(link.elf),
        run("llvm-readelf-19", ["-r", join(dir, "percpu.o")]),
      ]);

      // Placement: every storage symbol at the manifest offset, .percpu = stride × cpus.
      for (const v of gen.manifest.vars) assert.equal(syms.get(storageSymbol(v.name)), BigInt(v.offset), v.name);
      assert.equal(sizes.get(".percpu"), gen.manifest.stride * gen.config.cpus);

      // Hooks: referenced exactly when their feature is on.
      const wantPreempt = set.includes("preempt");
      const wantIrq = set.includes("irq");
      assert.equal(undef.has(GUARD_HOOKS[0]), wantPreempt);
      assert.equal(undef.has(GUARD_HOOKS[1]), wantPreempt);
      assert.equal(undef.has(GUARD_HOOKS[2]), wantIrq);
      assert.equal(undef.has(GUARD_HOOKS[3]), wantIrq);

      const code = foldLocalLabels(dis);
      // gp: set only by percpu_init_reg/percpu_write_reg, never touched at all in naive mode.
      const gpUsers = [...code].filter(([, insns]) => insns.some((l) => /\bgp\b/.test(l))).map(([name]) => name);
      if (naive) assert.deepEqual(gpUsers, []);
      else assert.ok(gpUsers.includes("percpu_init_reg") && gpUsers.includes("percpu_write_reg") && gpUsers.includes("percpu_read_reg"));
      for (const [name, insns] of code) {
        assert.ok(!insns.some((l) => /^(mv|addi|add|lui|ld|lw|auipc|sub|li) gp\b/.test(l)) || /^percpu_(init|write)_reg$/.test(name), `${name} writes gp`);
      }
      // Nothing can relax against gp: no R_RISCV_RELAX in the object.
      assert.doesNotMatch(relocs.stdout, /R_RISCV_RELAX/);
      assert.match(relocs.stdout, /R_RISCV_PCREL_HI20/);
      const input = generatorInput(gen.layout, gen.config);
      const xlen = arch === "riscv64" ? 8 : 4;
      let near = 0;
      let far = 0;
      for (const v of input.vars) {
        for (const leaf of v.leaves) {
          const raw = code.get(leafFunction(leaf, "read_current_raw"));
          assert.ok(raw, `${leaf.symbol} read_current_raw is missing`);
          const fits = leaf.size <= xlen && leaf.indices.length === 0;
          if (naive) {
            assert.ok(raw.every((l) => !/\bgp\b/.test(l)), `naive code touches gp: ${raw.join("; ")}`);
          } else if (fits && leaf.areaOffset < 2048) {
            near++;
            assert.equal(bodyLength(raw), 1, `${leaf.symbol} at ${leaf.areaOffset}: ${raw.join("; ")}`);
            const m = MEM.exec(raw[0]!);
            assert.ok(m, raw[0]);
            assert.equal(m[3], "gp");
            assert.equal(immediate(m[2]!), leaf.areaOffset);
          } else if (fits) {
            far++;
            assert.ok(bodyLength(raw) <= 3, `${leaf.symbol} at ${leaf.areaOffset}: ${raw.join("; ")}`);
            assert.ok(raw.some((l) => /\bgp\b/.test(l)));
          }
          // Guarded ops: no hook around a single gp-relative instruction; a hook or an AMO otherwise.
          const guarded = code.get(leafFunction(leaf, "read_current"))!;
          const calls = guarded.filter((l) => /^(jalr|auipc ra)/.test(l)).length;
          if (!wantPreempt && !wantIrq) assert.equal(calls, 0);
          else if (fits && leaf.areaOffset < 2048 && !naive) assert.deepEqual(guarded, raw);
          else assert.ok(calls > 0, `${leaf.symbol} read_current takes no guard: ${guarded.join("; ")}`);
          if (leafOps(leaf.scalar).includes("add_current")) {
            const add = code.get(leafFunction(leaf, "add_current"))!;
            const amo = leaf.size === 4 || (leaf.size === 8 && xlen === 8);
            if (amo) assert.ok(add.some((l) => l.startsWith("amoadd.")) && !add.some((l) => l.startsWith("jalr")), add.join("; "));
            else if (wantPreempt || wantIrq) assert.ok(add.some((l) => l.startsWith("jalr")), add.join("; "));
          }
        }
      }
      if (!naive && layoutName === "small") assert.ok(near > 10);
      if (!naive && layoutName !== "small") assert.ok(far >= 5 && near >= 1);

      const inline = await inlineBuild;
      assert.equal(inline.code, 0, inline.stderr);
      const obj = await disassemble(join(inlineDir, "inline_test.o"));
      const tNear = obj.get("t_near")!;
      if (!naive) {
        assert.equal(bodyLength(tNear), 1, tNear.join("; "));
        assert.match(tNear[0]!, /\(gp\)$/);
      }
    }));
}

for (const arch of ["riscv64", "riscv32"] as const satisfies readonly Rv[]) {
  for (const set of FEATURE_SETS) {
    test(`${arch} kernel ${set}: small and > 64 KiB layouts link, place every variable and read with the shortest code`, async () => {
      await Promise.all([checkGeneration(arch, set, "small"), checkGeneration(arch, set, "> 64 KiB")]);
    });
  }
}

test("riscv far offsets split into lui/add/load up to 2 GiB, also where lui would sign-extend", async () => {
  // Offsets near 2^31 - 2048 take the `lui 0x80000; sub` form: check the arithmetic by assembling and
  // evaluating it for many offsets, including every boundary, on both widths.
  const offsets = [2044, 2048, 2052, 4092, 4096, 0x17fc, 0x1800, 65532, 65536, 70000, 0x7ffff7fc, 0x7ffff800, 0x7ffffff8, 0x7ffffffc];
  for (const arch of ["riscv64", "riscv32"] as const) {
    // One accessor per offset through a hand-made layout (riscvLeafAssembly emits no 2 GiB template).
    const lines: string[] = [".option norelax", ".text"];
    for (const off of offsets) {
      const layout = computeLayout([{ name: "X", type: u32, init: new Uint8Array(4) }], arch);
      const moved = { ...layout, vars: [{ ...layout.vars[0]!, offset: off }] };
      const gen = generatorInput(moved, { arch, cpus: 1, mode: "kernel", features: { preempt: false, irq: false, naive: false, el2: false, lse: false }, functions: true, rust: false });
      const asm = riscvLeafAssembly(arch, gen, gen.vars[0]!.leaves[0]!, "read_current_raw");
      lines.push(asm.replace(/percpu_X_read_current_raw/g, `f_${off}`));
    }
    await withTempDir(`rv-far-${arch}`, async (dir) => {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(join(dir, "far.S"), lines.join("\n") + "\n");
      const backend = arch === "riscv64" ? riscv64Backend : riscv32Backend;
      const r = await run("clang-19", [...backend.clangFlags, "-c", "far.S", "-o", "far.o"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const code = await disassemble(join(dir, "far.o"));
      const mask = arch === "riscv64" ? (1n << 64n) - 1n : (1n << 32n) - 1n;
      const sext = (v: bigint, bits: bigint): bigint => (v & (1n << (bits - 1n)) ? v - (1n << bits) : v);
      for (const off of offsets) {
        const want = BigInt(off);
        const insns = code.get(`f_${off}`)!;
        assert.ok(bodyLength(insns) <= 3, insns.join("; "));
        // Evaluate with gp = 0x1000_0000 and 64- or 32-bit wrap-around.
        const gp = 0x10000000n;
        const regs = new Map<string, bigint>([["gp", gp], ["zero", 0n]]);
        let addr: bigint | undefined;
        for (const l of insns) {
          const [mn, ops] = [l.split(" ")[0]!, l.slice(l.indexOf(" ") + 1).split(", ")];
          if (mn === "lui") regs.set(ops[0]!, sext(BigInt(Number(ops[1])) << 12n, 32n) & mask);
          else if (mn === "add") regs.set(ops[0]!, (regs.get(ops[1]!)! + regs.get(ops[2]!)!) & mask);
          else if (mn === "sub") regs.set(ops[0]!, (regs.get(ops[1]!)! - regs.get(ops[2]!)!) & mask);
          else if (mn === "addi") regs.set(ops[0]!, (regs.get(ops[1]!)! + BigInt(immediate(ops[2]!))) & mask);
          else if (mn === "lw") {
            const m = /^(-?(?:0x)?[0-9a-f]+)\((\w+)\)$/.exec(ops[1]!)!;
            addr = (regs.get(m[2]!)! + BigInt(immediate(m[1]!))) & mask;
          }
        }
        assert.equal(addr, gp + want, `${arch} offset ${off}: ${insns.join("; ")}`);
      }
    });
  }
});

test("riscv check() rejects a variable beyond 2 GiB with offset_out_of_reach", () => {
  for (const backend of [riscv64Backend, riscv32Backend]) {
    const layout = computeLayout([{ name: "X", type: u64, init: new Uint8Array(8) }], backend.arch);
    const inside = { ...layout, vars: [{ ...layout.vars[0]!, offset: 2 ** 31 - 8 }] };
    const beyond = { ...layout, vars: [{ ...layout.vars[0]!, offset: 2 ** 31 }] };
    const config = { arch: backend.arch, cpus: 1, mode: "kernel" as const, features: { preempt: false, irq: false, naive: false, el2: false, lse: false }, functions: true, rust: false };
    backend.check(generatorInput(inside, config));
    assert.throws(() => backend.check(generatorInput(beyond, config)), (e) => e instanceof PercpuError && e.code === "offset_out_of_reach");
  }
});

test("riscv backends declare the kernel-only soft-float medany flags without relaxation", () => {
  assert.equal(riscv64Backend.supportsUserMode, false);
  assert.equal(riscv32Backend.supportsUserMode, false);
  for (const f of ["-march=rv64imac", "-mabi=lp64", "-mcmodel=medany", "-mno-relax"]) assert.ok(riscv64Backend.clangFlags.includes(f));
  for (const f of ["--target=riscv32-unknown-none-elf", "-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "-mno-relax"]) assert.ok(riscv32Backend.clangFlags.includes(f));
  const gen = smallLayout().generate({ functions: true, arch: "riscv64" });
  assert.match(gen.files["percpu.S"], /^\.option norelax$/m);
  assert.throws(() => smallLayout().generate({ functions: true, arch: "riscv64", mode: "user" }), PercpuError);
  // Identical input, identical output.
  for (const arch of ["riscv64", "riscv32"] as const) {
    for (const set of FEATURE_SETS) {
      const a = bigLayout().generate({ functions: true, arch, features: features(set) }).files;
      const b = bigLayout().generate({ functions: true, arch, features: features(set) }).files;
      assert.equal(a["percpu.S"], b["percpu.S"]);
      assert.equal(a["percpu.h"], b["percpu.h"]);
    }
  }
});

/** A layout for running every kind of access under QEMU: near, past 2048 and past 64 KiB, indexed, signed, float. */
function bootLayout(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("NEAR", u64, 1n, { counter: true });
  sdk.define("NEAR32", u32, 4, { counter: true });
  sdk.define("B8", u8, 200, { counter: true });
  sdk.define("S16", i16, -300, { counter: true });
  sdk.define("MID", array(u8, 3000), new Array<number>(3000).fill(0), { counter: true });
  sdk.define("PAST2K", u32, 2, { counter: true });
  sdk.define("PAST2K_B", i8, -5, { counter: true });
  sdk.define("BULK", array(u8, 70000), new Array<number>(70000).fill(0), { counter: true });
  sdk.define("FAR", u64, 77n, { counter: true });
  sdk.define("FAR_I64", i64, -9n, { counter: true });
  sdk.define("FAR16", i16, -2, { counter: true });
  sdk.define("FARF", f64, 0.5);
  sdk.define("FARFL", f32, -1.25);
  sdk.define("FARS", struct({ x: u32, y: u16 }), { x: 1, y: 2 }, { counter: true });
  sdk.define("FLAG", bool, true);
  sdk.define("RING", array(u64, 20), new Array<bigint>(20).fill(0n), { counter: true });
  return sdk;
}

/** The test body, compiled twice: against the `percpu.S` functions and against the PERCPU_INLINE versions. */
const BOOT_BODY = String.raw`
#include "percpu.h"
#define CHECK(c) do { if (!(c)) return __LINE__; } while (0)
/* soft-float: compare bit patterns (no libgcc comparison helpers here) */
static uint64_t dbits(double d) { uint64_t u; __builtin_memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }
extern volatile unsigned long preempt_calls, irq_calls;
extern volatile long preempt_depth, irq_depth;
int TEST_NAME(void);
int TEST_NAME(void) {
#ifdef NAIVE
  /* naive = the seed's sp-naive: init ignores its arguments and returns 1 (Ok(1)). */
  CHECK(percpu_init(0, 4) == 1);
  CHECK(percpu_init(0x80000000u + PERCPU_AREA_ALIGN / 2, 4) == 1);
#else
  CHECK(percpu_init(0, 4) == -1);
  CHECK(percpu_init(0x80000000u + PERCPU_AREA_ALIGN / 2, 4) == -2);
#endif
  uintptr_t n = percpu_init_in_place();
  CHECK(n == EXPECT_CPUS);
  CHECK(percpu_area_num() == n);
  CHECK(percpu_area_size() == EXPECT_AREA_SIZE);
  uintptr_t base = percpu_area_base(0);
  CHECK(base != 0 && base % PERCPU_AREA_ALIGN == 0);
  for (uintptr_t cpu = 0; cpu < n; cpu++) {
    percpu_init_reg(cpu);
#ifndef NAIVE
    CHECK(percpu_read_reg() == base + cpu * EXPECT_STRIDE);
#endif
    CHECK(percpu_area_base(cpu) == base + cpu * EXPECT_STRIDE);
    CHECK((uintptr_t)percpu_FAR_current_ptr() == base + cpu * EXPECT_STRIDE + EXPECT_FAR_OFFSET);
    CHECK((uintptr_t)percpu_FAR_remote_ptr(cpu) == base + cpu * EXPECT_STRIDE + EXPECT_FAR_OFFSET);
    CHECK(percpu_NEAR_read_current_raw() == 1 && percpu_NEAR32_read_current_raw() == 4);
    CHECK(percpu_B8_read_current_raw() == 200 && percpu_S16_read_current_raw() == -300);
    CHECK(percpu_PAST2K_read_current_raw() == 2 && percpu_PAST2K_B_read_current_raw() == -5);
    CHECK(percpu_FAR_read_current_raw() == 77 && percpu_FAR_I64_read_current_raw() == -9);
    CHECK(percpu_FAR16_read_current_raw() == -2 && percpu_FLAG_read_current_raw() == true);
    CHECK(dbits(percpu_FARF_read_current_raw()) == dbits(0.5) && fbits(percpu_FARFL_read_current_raw()) == fbits(-1.25f));
    CHECK(percpu_FARS__x_read_current_raw() == 1 && percpu_FARS__y_read_current_raw() == 2);
    CHECK(percpu_BULK_read_current_raw(69999) == 0 && percpu_RING_read_current_raw(19) == 0);
    percpu_FAR_write_current(1000 + cpu);
    percpu_RING_write_current(17, 0x1111111100000000ull + cpu);
    percpu_BULK_write_current(69999, (uint8_t)(cpu + 1));
    percpu_MID_write_current_raw(2999, (uint8_t)(cpu + 7));
    percpu_FAR16_write_current_raw((int16_t)(-100 - (int)cpu));
  }
  for (uintptr_t cpu = 0; cpu < n; cpu++) {
    CHECK(percpu_FAR_remote_read(cpu) == 1000 + cpu);
    CHECK(percpu_RING_remote_read(cpu, 17) == 0x1111111100000000ull + cpu);
    CHECK(percpu_BULK_remote_read(cpu, 69999) == cpu + 1 && percpu_MID_remote_read(cpu, 2999) == cpu + 7);
    CHECK(percpu_FAR16_remote_read(cpu) == -100 - (int)cpu);
    CHECK(percpu_RING_remote_read(cpu, 16) == 0 && percpu_RING_remote_read(cpu, 18) == 0);
  }
  uintptr_t me = n - 1;
  percpu_init_reg(me);
  CHECK(percpu_BULK_read_current(69999) == me + 1 && percpu_MID_read_current(2999) == me + 7);
  /* u64 far: carries and borrows across the 32-bit halves on riscv32 */
  percpu_FAR_write_current(0xFFFFFFFFull);
  percpu_FAR_add_current(1); CHECK(percpu_FAR_read_current() == 0x100000000ull);
  percpu_FAR_sub_current(2); CHECK(percpu_FAR_read_current() == 0xFFFFFFFEull);
  percpu_FAR_sub_current(0xFFFFFFFFull); CHECK(percpu_FAR_read_current() == 0xFFFFFFFFFFFFFFFFull);
  percpu_FAR_and_current(0x0F0F0F0F0F0F0F0Full); CHECK(percpu_FAR_read_current() == 0x0F0F0F0F0F0F0F0Full);
  percpu_FAR_or_current(0xF000000000000001ull); CHECK(percpu_FAR_read_current() == 0xFF0F0F0F0F0F0F0Full);
  percpu_FAR_xor_current(0xFF00000000000000ull); CHECK(percpu_FAR_read_current() == 0x000F0F0F0F0F0F0Full);
  CHECK(percpu_FAR_xchg_current(42) == 0x000F0F0F0F0F0F0Full); CHECK(percpu_FAR_read_current() == 42);
  CHECK(percpu_FAR_cmpxchg_current(41, 7) == 42); CHECK(percpu_FAR_read_current() == 42);
  CHECK(percpu_FAR_cmpxchg_current(42, 0x123456789ull) == 42); CHECK(percpu_FAR_read_current() == 0x123456789ull);
  CHECK(percpu_FAR_cmpxchg_current(0x223456789ull, 1) == 0x123456789ull); CHECK(percpu_FAR_read_current() == 0x123456789ull);
  /* i64 */
  percpu_FAR_I64_add_current(10); CHECK(percpu_FAR_I64_read_current() == 1);
  percpu_FAR_I64_sub_current(3); CHECK(percpu_FAR_I64_read_current() == -2);
  CHECK(percpu_FAR_I64_xchg_current(-5) == -2);
  CHECK(percpu_FAR_I64_cmpxchg_current(-5, -6) == -5); CHECK(percpu_FAR_I64_read_current() == -6);
  /* i16 far: wrap-around, sign-extended results, negative compare */
  percpu_FAR16_write_current(-2);
  percpu_FAR16_add_current(-3); CHECK(percpu_FAR16_read_current() == -5);
  percpu_FAR16_sub_current(-32000); CHECK(percpu_FAR16_read_current() == 31995);
  percpu_FAR16_add_current(1000); CHECK(percpu_FAR16_read_current() == -32541);
  CHECK(percpu_FAR16_xchg_current(7) == -32541);
  CHECK(percpu_FAR16_cmpxchg_current(7, -1) == 7); CHECK(percpu_FAR16_read_current() == -1);
  CHECK(percpu_FAR16_cmpxchg_current(-2, 3) == -1); CHECK(percpu_FAR16_read_current() == -1);
  percpu_FAR16_write_current(0x0ff0);
  percpu_FAR16_and_current(0x00ff); CHECK(percpu_FAR16_read_current() == 0x00f0);
  percpu_FAR16_or_current(0x1000); CHECK(percpu_FAR16_read_current() == 0x10f0);
  percpu_FAR16_xor_current(0x10f0); CHECK(percpu_FAR16_read_current() == 0);
  /* u8 / i8 / i16 near */
  percpu_B8_add_current(100); CHECK(percpu_B8_read_current() == 44);
  CHECK(percpu_B8_cmpxchg_current(44, 250) == 44); CHECK(percpu_B8_read_current() == 250);
  CHECK(percpu_B8_cmpxchg_current(249, 1) == 250);
  CHECK(percpu_B8_xchg_current(1) == 250); CHECK(percpu_B8_read_current_raw() == 1);
  percpu_S16_sub_current(1); CHECK(percpu_S16_read_current() == -301);
  percpu_PAST2K_B_sub_current(-10); CHECK(percpu_PAST2K_B_read_current() == 5);
  CHECK(percpu_PAST2K_B_cmpxchg_current(5, -128) == 5); CHECK(percpu_PAST2K_B_xchg_current(3) == -128);
  /* u32 far (AMO): values with bit 31 set */
  percpu_PAST2K_write_current(0x80000001u); CHECK(percpu_PAST2K_read_current() == 0x80000001u);
  CHECK(percpu_PAST2K_cmpxchg_current(0x80000001u, 5) == 0x80000001u); CHECK(percpu_PAST2K_read_current() == 5);
  CHECK(percpu_PAST2K_cmpxchg_current(0x80000005u, 9) == 5); CHECK(percpu_PAST2K_read_current() == 5);
  percpu_PAST2K_sub_current(6); CHECK(percpu_PAST2K_read_current() == 0xFFFFFFFFu);
  percpu_PAST2K_add_current(2); CHECK(percpu_PAST2K_read_current() == 1);
  CHECK(percpu_PAST2K_xchg_current(0xFFFFFFF0u) == 1);
  percpu_PAST2K_and_current(0xFF); CHECK(percpu_PAST2K_read_current() == 0xF0);
  percpu_PAST2K_or_current(0x0F); CHECK(percpu_PAST2K_read_current() == 0xFF);
  percpu_PAST2K_xor_current(0xF0); CHECK(percpu_PAST2K_read_current() == 0x0F);
  percpu_NEAR32_add_current(0xFFFFFFFFu); CHECK(percpu_NEAR32_read_current() == 3);
  percpu_NEAR_add_current(0xFFFFFFFFull); CHECK(percpu_NEAR_read_current() == 0x100000000ull);
  /* bool, floats, struct fields, indexed */
  percpu_FLAG_write_current(false); CHECK(percpu_FLAG_read_current() == false);
  percpu_FARF_write_current(-3.25); CHECK(dbits(percpu_FARF_read_current()) == dbits(-3.25));
  percpu_FARFL_write_current(6.5f); CHECK(fbits(percpu_FARFL_read_current()) == fbits(6.5f));
  CHECK(dbits(percpu_FARF_remote_read(me)) == dbits(-3.25) && fbits(percpu_FARFL_remote_read(me)) == fbits(6.5f));
  percpu_FARS__y_add_current(65535); CHECK(percpu_FARS__y_read_current() == 1 && percpu_FARS__x_read_current() == 1);
  percpu_RING_add_current(17, 5); CHECK(percpu_RING_read_current(17) == 0x1111111100000005ull + me);
  CHECK(percpu_RING_cmpxchg_current(3, 0, 9) == 0); CHECK(percpu_RING_read_current(3) == 9);
  CHECK(percpu_RING_read_current(2) == 0 && percpu_RING_read_current(4) == 0);
  percpu_BULK_add_current(69998, 250); percpu_BULK_add_current(69998, 10); CHECK(percpu_BULK_read_current(69998) == 4);
  if (n > 1) CHECK(percpu_FAR_remote_read(0) == 1000 && percpu_RING_remote_read(0, 3) == 0);
  percpu_FARS__x_remote_write(0, 0xABCDu); CHECK(percpu_FARS__x_remote_read(0) == 0xABCDu);
  /* reset_to_init */
  percpu_FAR_reset_to_init(); CHECK(percpu_FAR_read_current() == 77);
  percpu_BULK_reset_to_init(); CHECK(percpu_BULK_read_current(69999) == 0 && percpu_BULK_read_current(69998) == 0);
  percpu_FARS_reset_to_init(); CHECK(percpu_FARS__x_read_current() == 1 && percpu_FARS__y_read_current() == 2);
  /* guards: none around one gp-relative instruction or an AMO, one around every other sequence */
  unsigned long p0 = preempt_calls, i0 = irq_calls;
  (void)percpu_NEAR32_read_current(); percpu_NEAR32_write_current(4); percpu_PAST2K_add_current(1);
  (void)percpu_FAR_read_current_raw(); percpu_B8_add_current(0) /* counted below */;
#if __riscv_xlen == 64
  (void)percpu_NEAR_read_current(); percpu_FAR_add_current(0);
#endif
  CHECK(preempt_calls == p0 + GUARDED_PREEMPT && irq_calls == i0 + GUARDED_IRQ);
  (void)percpu_FAR_read_current(); percpu_FAR16_write_current(1); (void)percpu_RING_xchg_current(1, 2);
  /* B8 add + FAR read + FAR16 write, and the u64 xchg (guard class this_cpu: the value taken must be this CPU's) */
  const unsigned long guarded = 4;
  CHECK(preempt_calls == p0 + guarded * GUARDED_PREEMPT && irq_calls == i0 + guarded * GUARDED_IRQ);
  CHECK(preempt_depth == 0 && irq_depth == 0);
  return 0;
}
`;

const BOOT_MAIN = String.raw`
#include <stdint.h>
volatile unsigned long preempt_calls, irq_calls;
volatile long preempt_depth, irq_depth;
void percpu_preempt_disable(void) { preempt_calls++; preempt_depth++; }
void percpu_preempt_enable(void) { preempt_depth--; }
uintptr_t percpu_irq_save(void) { irq_calls++; irq_depth++; return 0x5a; }
void percpu_irq_restore(uintptr_t flags) { irq_depth -= flags == 0x5a ? 1 : 1000; }
static void putc_(char c) {
  volatile uint8_t *uart = (volatile uint8_t *)0x10000000;
  while ((uart[5] & 0x20) == 0) {}
  uart[0] = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putn_(int v) { char b[12]; int i = 0; do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v); while (i) putc_(b[--i]); }
int test_ext(void);
int test_inl(void);
int rv_main(void);
int rv_main(void) {
  int e = test_ext();
  int i = e ? 0 : test_inl();
  if (e) { puts_("FAIL extern line "); putn_(e); } else if (i) { puts_("FAIL inline line "); putn_(i); } else puts_("PASS");
  puts_("\n");
  return e || i;
}
`;

/** The linker script of the QEMU virt boot tests: RAM at 0x80000000, a 16 KiB boot stack, optionally `.percpu` from percpu.ld. */
function bootLinkerScript(withPercpu: boolean): string {
  return [
    "ENTRY(_start)",
    "SECTIONS {",
    "  . = 0x80000000;",
    "  .text : { *(.text.boot) *(.text .text.*) }",
    "  .rodata : { *(.rodata .rodata.* .srodata .srodata.*) }",
    "  .data : { *(.data .data.* .sdata .sdata.*) }",
    "  .bss : { *(.bss .bss.* .sbss .sbss.* COMMON) }",
    ...(withPercpu ? ["  INCLUDE percpu.ld"] : []),
    "  . = ALIGN(16) + 16384;",
    "  boot_stack_top = .;",
    "}",
    "",
  ].join("\n");
}

const BOOT_STUB = `
.section .text.boot, "ax", %progbits
.globl _start
_start:
  csrr t0, mhartid
  bnez t0, 2f
  lla sp, boot_stack_top
  call rv_main
  li t1, 0x100000
  li t2, 0x5555
  beqz a0, 1f
  li t2, 0x13333
1: sw t2, 0(t1)
2: wfi
  j 2b
`;

for (const arch of ["riscv64", "riscv32"] as const satisfies readonly Rv[]) {
  for (const set of ["none", "preempt+irq", "naive"] as const satisfies readonly FeatureSet[]) {
    test(`${arch} ${set} accessors run correctly under QEMU, extern and inline, near and beyond 64 KiB`, async () => {
      const gen = bootLayout().generate({ functions: true, arch, features: features(set) });
      await withTempDir(`rv-boot-${arch}`, async (dir) => {
        await gen.write(dir);
        const { writeFile } = await import("node:fs/promises");
        const far = gen.layout.vars.find((v) => v.name === "FAR")!;
        const preempt = set.includes("preempt") ? 1 : 0;
        const irq = set.includes("irq") ? 1 : 0;
        const naive = set === "naive";
        await writeFile(join(dir, "body.c"), BOOT_BODY);
        await writeFile(join(dir, "main.c"), BOOT_MAIN);
        await writeFile(join(dir, "boot.S"), BOOT_STUB);
        await writeFile(join(dir, "fw.ld"), bootLinkerScript(true));
        const flags = [...(arch === "riscv64" ? riscv64Backend : riscv32Backend).clangFlags, "-ffreestanding", "-O2", "-Wall", "-Werror"];
        const defs = [
          `-DEXPECT_CPUS=${gen.config.cpus}`, `-DEXPECT_AREA_SIZE=${gen.layout.areaSize}`, `-DEXPECT_STRIDE=${gen.layout.stride}`,
          `-DEXPECT_FAR_OFFSET=${far.offset}`, `-DGUARDED_PREEMPT=${preempt}`, `-DGUARDED_IRQ=${irq}`, ...(naive ? ["-DNAIVE"] : []),
        ];
        const builds = await Promise.all([
          run("clang-19", [...flags, "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir }),
          run("clang-19", [...flags, "-c", "boot.S", "-o", "boot.o"], { cwd: dir }),
          run("clang-19", [...flags, "-c", "main.c", "-o", "main.o"], { cwd: dir }),
          run("clang-19", [...flags, ...defs, "-DTEST_NAME=test_ext", "-c", "body.c", "-o", "ext.o"], { cwd: dir }),
          run("clang-19", [...flags, ...defs, "-DTEST_NAME=test_inl", "-DPERCPU_INLINE", "-c", "body.c", "-o", "inl.o"], { cwd: dir }),
        ]);
        for (const b of builds) assert.equal(b.code, 0, b.stderr);
        const link = await run("ld.lld-19", ["-T", "fw.ld", "-o", "fw.elf", "boot.o", "main.o", "ext.o", "inl.o", "percpu.o"], { cwd: dir });
        assert.equal(link.code, 0, link.stderr);
        const boot = await run(`qemu-system-${arch}`, ["-M", "virt", "-smp", "1", "-m", "128M", "-nographic", "-bios", "none", "-kernel", "fw.elf"], {
          cwd: dir,
          input: "",
          timeoutMs: 20_000,
        });
        const out = boot.stdout.replace(/\r/g, "");
        assert.match(out, /^(PASS|FAIL.*)$/m, `${boot.stderr}${out}`);
        assert.equal(/^PASS$/m.test(out) ? "PASS" : out.trim(), "PASS");
        assert.equal(boot.code, 0, boot.stderr);
      });
    }, { only: ["deno"] });
  }
}

test("riscv accessors at offsets up to 2 GiB - 4 read, write and add the right word under QEMU", async () => {
  // No 2 GiB area fits in a test image: emit only the accessors for hand-placed offsets and point gp
  // below a real word (gp = &slot - off, wrapping like the hardware does) before calling them.
  const offsets = [2048, 70000, 0x7ffff7fc, 0x7ffff800, 0x7ffffffc];
  for (const arch of ["riscv64", "riscv32"] as const) {
    const backend = arch === "riscv64" ? riscv64Backend : riscv32Backend;
    const asm: string[] = [".option norelax", ".text"];
    const calls: string[] = [];
    for (const off of offsets) {
      const layout = computeLayout([{ name: "X", type: u32, init: new Uint8Array(4) }], arch);
      const moved = { ...layout, vars: [{ ...layout.vars[0]!, offset: off }] };
      const gen = generatorInput(moved, { arch, cpus: 1, mode: "kernel", features: { preempt: false, irq: false, naive: false, el2: false, lse: false }, functions: true, rust: false });
      const leaf = gen.vars[0]!.leaves[0]!;
      for (const op of ["read_current_raw", "write_current_raw", "add_current", "cmpxchg_current"] as const) {
        asm.push(riscvLeafAssembly(arch, gen, leaf, op).replace(/percpu_X_/g, `o${off}_`));
      }
      calls.push(
        `uint32_t o${off}_read_current_raw(void); void o${off}_write_current_raw(uint32_t); void o${off}_add_current(uint32_t);`,
        `uint32_t o${off}_cmpxchg_current(uint32_t, uint32_t);`,
        `static int t${off}(void) {`,
        `  set_gp((uintptr_t)&slot - ${off}u); o${off}_write_current_raw(0x89abcdefu); set_gp(0); if (slot != 0x89abcdefu || guard[0] || guard[1]) return 1;`,
        `  slot = 0x80000001u; set_gp((uintptr_t)&slot - ${off}u); uint32_t r = o${off}_read_current_raw(); set_gp(0); if (r != 0x80000001u) return 2;`,
        `  set_gp((uintptr_t)&slot - ${off}u); o${off}_add_current(0x7fffffffu); set_gp(0); if (slot != 0u) return 3;`,
        `  set_gp((uintptr_t)&slot - ${off}u); r = o${off}_cmpxchg_current(0u, 0xfffffff0u); set_gp(0); if (r != 0u || slot != 0xfffffff0u) return 4;`,
        `  return guard[0] || guard[1] ? 5 : 0;`,
        "}",
      );
    }
    const main = [
      "#include <stdint.h>",
      "static volatile uint32_t guard[2];",
      "volatile uint32_t slot;",
      'static void set_gp(uintptr_t v) { __asm__ volatile("mv gp, %0" :: "r"(v) : "memory"); }',
      ...calls,
      "static void putc_(char c) { volatile uint8_t *u = (volatile uint8_t *)0x10000000; while ((u[5] & 0x20) == 0) {} u[0] = (uint8_t)c; }",
      "int rv_main(void);",
      "int rv_main(void) {",
      ...offsets.map((off, k) => `  { int e = t${off}(); if (e) { putc_('F'); putc_((char)('0' + ${k})); putc_((char)('0' + e)); putc_('\\n'); return 1; } }`),
      "  putc_('P'); putc_('\\n'); return 0;",
      "}",
      "",
    ].join("\n");
    await withTempDir(`rv-2g-${arch}`, async (dir) => {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(join(dir, "far.S"), asm.join("\n") + "\n");
      await writeFile(join(dir, "main.c"), main);
      await writeFile(join(dir, "boot.S"), BOOT_STUB);
      await writeFile(join(dir, "fw.ld"), bootLinkerScript(false));
      const flags = [...backend.clangFlags, "-ffreestanding", "-O2", "-Wall", "-Werror"];
      const builds = await Promise.all(["far.S", "main.c", "boot.S"].map((f) => run("clang-19", [...flags, "-c", f, "-o", `${f}.o`], { cwd: dir })));
      for (const b of builds) assert.equal(b.code, 0, b.stderr);
      const link = await run("ld.lld-19", ["-T", "fw.ld", "-o", "fw.elf", "boot.S.o", "main.c.o", "far.S.o"], { cwd: dir });
      assert.equal(link.code, 0, link.stderr);
      const boot = await run(`qemu-system-${arch}`, ["-M", "virt", "-smp", "1", "-m", "128M", "-nographic", "-bios", "none", "-kernel", "fw.elf"], {
        cwd: dir,
        input: "",
        timeoutMs: 20_000,
      });
      assert.equal(boot.stdout.replace(/\r/g, "").trim(), "P", `${arch}: ${boot.stderr}${boot.stdout}`);
      assert.equal(boot.code, 0);
    });
  }
}, { only: ["deno"] });
