/**
 * The aarch64 backend, proven with the real toolchain: generated `percpu.S`
 * is assembled with clang-19, linked at the firmware address with ld.lld-19
 * and `percpu.ld`, read back with llvm-nm/readelf and disassembled.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { aarch64Backend, aarch64LeafAssembly } from "../arch/aarch64.ts";
import type { Generated } from "../emit/index.ts";
import { resolveConfig } from "../sdk/config.ts";
import { type GenInput, generatorInput, type PlacedLeaf } from "../sdk/plan.ts";
import { aligned, array, bool, createPercpu, f32, f64, i16, i32, i64, i8, PercpuError, struct, u16, u32, u64, u8, usize } from "../mod.ts";
import { GUARD_HOOKS, leafFunction, leafOps, storageSymbol, varFunction } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import {
  bodyLength,
  CLANG,
  compileInlineHeader,
  disassemble,
  elfSymbols,
  linkKernel,
  READELF,
  run,
  runOk,
  sectionSizes,
  undefinedSymbols,
} from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type FeatureName = "preempt" | "irq" | "naive" | "el2";

const FEATURE_SETS: readonly (readonly FeatureName[])[] = [[], ["preempt"], ["irq"], ["preempt", "irq"], ["naive"], ["el2"], ["el2", "preempt"]];

/** Small layout mixing every kind of variable. */
function smallSdk() {
  const sdk = createPercpu();
  sdk.define("FLAG", u8, 1, { counter: true });
  sdk.define("DELTA", i16, -2, { counter: true });
  sdk.define("COUNT", u32, 3, { counter: true });
  sdk.define("CPU_ID", u64, 4n, { counter: true });
  sdk.define("BALANCE", i64, -5n, { counter: true });
  sdk.define("READY", bool, true);
  sdk.define("RATIO", f32, 1.5);
  sdk.define("LOAD", f64, 2.25);
  sdk.define("SMALL", i8, -7, { counter: true });
  sdk.define("SIGNED32", i32, -8, { counter: true });
  sdk.define("ADDR_WORD", usize, 9, { counter: true });
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, tag: i8 }), { irqs: 1n, ticks: 2, tag: -3 }, { counter: true });
  sdk.define("HIST", array(u16, 4), [1, 2, 3, 4], { counter: true });
  sdk.define("RING", array(u32, 40), new Array(40).fill(5), { counter: true });
  sdk.define("HOT", aligned(u64, 128), 6n, { counter: true });
  return sdk;
}

/** A layout beyond 64 KiB: variables past the scaled-immediate reach and at odd offsets. */
function farSdk() {
  const sdk = createPercpu();
  sdk.define("NEAR", u64, 0x1122334455667788n, { counter: true });
  sdk.define("BUF", array(u8, 70000), new Array(70000).fill(0), { counter: true });
  sdk.define("FAR", u64, 0x0102030405060708n, { counter: true });
  sdk.define("FAR_B", u8, 0x5a, { counter: true });
  sdk.define("ODD", u8, 0xa5, { counter: true });
  sdk.define("FAR_H", i16, -1234, { counter: true });
  sdk.define("FAR_W", u32, 0xdeadbeef, { counter: true });
  sdk.define("FAR_D", f64, -0.5);
  // Makes the area size 1 mod 8: percpu_init's byte tail copies it.
  sdk.define("TAIL", u8, 0x3c, { counter: true });
  return sdk;
}

/** Load mnemonic and destination register the AAPCS64 calls for, per C type. */
const LOADS: Record<string, RegExp> = {
  uint8_t: /^ldrb w0,/,
  bool: /^ldrb w0,/,
  int8_t: /^ldrsb x0,/,
  uint16_t: /^ldrh w0,/,
  int16_t: /^ldrsh x0,/,
  uint32_t: /^ldr w0,/,
  int32_t: /^ldrsw x0,/,
  uint64_t: /^ldr x0,/,
  int64_t: /^ldr x0,/,
  uintptr_t: /^ldr x0,/,
  intptr_t: /^ldr x0,/,
  float: /^ldr s0,/,
  double: /^ldr d0,/,
};

/** Relocations a position-independent image at 0x40100000 may carry: PC-relative pages, low-12 parts and branches. */
const PC_RELATIVE = /^R_AARCH64_(ADR_PREL_PG_HI21|ADD_ABS_LO12_NC|LDST(8|16|32|64|128)_ABS_LO12_NC|CALL26|JUMP26)$/;

/** An FP/SIMD register operand (`s0`, `d1`, `q2`, `v3.4s`, `h4`). */
const FP_REG = /(^|[\s,[])[sdqvh]\d+\b/;

async function relocationTypes(obj: string): Promise<Set<string>> {
  const out = await runOk(READELF, ["-r", "-W", obj]);
  const types = new Set<string>();
  for (const line of out.split("\n")) {
    const m = /\s(R_AARCH64_\w+)\s/.exec(line);
    if (m) types.add(m[1]!);
  }
  return types;
}

/** The expected body length of `read_current_raw` for a plain leaf at `off` of `size` bytes. */
function shortest(off: number, size: number): number {
  return off % size === 0 && off / size < 4096 ? 2 : 3;
}

async function checkGeneration(gen: Generated, features: readonly FeatureName[]): Promise<void> {
  await withTempDir("a64", (dir) => withTempDir("a64inl", async (inlineDir) => {
    const naive = features.includes("naive");
    const el2 = features.includes("el2");
    const guard = features.includes("preempt") || features.includes("irq");
    const { layout, config } = gen;
    const input = generatorInput(layout, config);
    // The inline header compiles (-Wall -Werror -O2); probes call each plain raw read so its code can be measured.
    const probeLeaves = input.vars.flatMap((v) => v.leaves.filter((l) => l.indices.length === 0 && l.cType !== "bool"));
    const probes = probeLeaves.map((l) => `${l.cType} probe_${l.symbol}(void);\n${l.cType} probe_${l.symbol}(void) { return ${leafFunction(l, "read_current_raw")}(); }`);
    const [link, inl] = await Promise.all([
      linkKernel(gen, dir),
      compileInlineHeader(gen, inlineDir, { extraC: probes.join("\n") }),
    ]);
    assert.equal(link.code, 0, `link failed:\n${link.stderr}`);
    assert.equal(inl.code, 0, `inline header:\n${inl.stderr}`);
    const [syms, sections, undef, relocs, dis, inlineDis] = await Promise.all([
      elfSymbols(link.elf),
      sectionSizes(link.elf),
      undefinedSymbols(join(dir, "percpu.o")),
      relocationTypes(join(dir, "percpu.o")),
      disassemble(link.elf),
      disassemble(join(inlineDir, "inline_test.o")),
    ]);
    // Naive builds keep the one-area `.percpu` template too, so the generated ASSERTs prove the layout there as well.
    if (naive) assert.equal(syms.get("__percpu_areas")! % BigInt(layout.areaAlign), 0n, "__percpu_areas is area-aligned");
    for (const v of gen.manifest.vars) assert.equal(syms.get(storageSymbol(v.name)), BigInt(v.offset), `${storageSymbol(v.name)} value`);
    assert.equal(sections.get(".percpu"), layout.stride * config.cpus, ".percpu size");
    assert.equal(syms.get("_percpu_end")! - syms.get("_percpu_start")!, BigInt(layout.stride * config.cpus));
    // Hooks are referenced exactly when their feature is on.
    assert.equal(undef.has(GUARD_HOOKS[0]), features.includes("preempt"));
    assert.equal(undef.has(GUARD_HOOKS[1]), features.includes("preempt"));
    assert.equal(undef.has(GUARD_HOOKS[2]), features.includes("irq"));
    assert.equal(undef.has(GUARD_HOOKS[3]), features.includes("irq"));
    // Only PC-relative relocations: the image works wherever it is linked (0x40100000 here).
    for (const t of relocs) assert.match(t, PC_RELATIVE);

    const all = [...dis.values()].flat().join("\n").toLowerCase();
    assert.equal(/tpidr_el2/.test(all), el2 && !naive, "tpidr_el2 appears iff el2");
    assert.equal(/tpidr_el1/.test(all), !el2 && !naive, "tpidr_el1 appears iff not el2");
    assert.doesNotMatch(all, /\b(ldadd|stadd|ldset|ldclr|ldeor|swp|cas)\w*\b/, "no LSE: ARMv8.0 (cortex-a57)");
    for (const v of input.vars) {
      for (const leaf of v.leaves) {
        const fn = (op: Parameters<typeof leafFunction>[1]): string[] => {
          const body = dis.get(leafFunction(leaf, op));
          assert.ok(body, `${leafFunction(leaf, op)} is defined`);
          return body;
        };
        const isFloat = leaf.scalar === "f32" || leaf.scalar === "f64";
        for (const op of leafOps(leaf.scalar)) {
          if (!isFloat) assert.doesNotMatch(fn(op).join("\n"), FP_REG, `${leafFunction(leaf, op)} must not touch FP/SIMD registers`);
        }
        const raw = fn("read_current_raw");
        if (leaf.indices.length === 0) {
          const want = naive ? 2 : shortest(leaf.areaOffset, leaf.size);
          assert.equal(bodyLength(raw), want, `${leafFunction(leaf, "read_current_raw")}: ${raw.join("; ")}`);
          assert.match(raw[0]!, naive ? /^adrp x9,/ : el2 ? /^mrs x9, tpidr_el2$/i : /^mrs x9, tpidr_el1$/i);
          assert.match(raw[bodyLength(raw) - 1]!, LOADS[leaf.cType]!);
          assert.ok(bodyLength(fn("write_current_raw")) <= 4);
        }
        // Guarded ops call the hooks exactly when a feature is on; raw ops and the counter RMW (LL/SC) of these counter: true
        // variables never do; xchg/cmpxchg (guard class this_cpu: the value taken must be this CPU's) do with a feature.
        assert.equal(fn("read_current").some((l) => l.startsWith("bl ")), guard);
        assert.equal(fn("write_current").some((l) => l.startsWith("bl ")), guard);
        assert.equal(fn("read_current_raw").some((l) => l.startsWith("bl ")), false);
        if (leafOps(leaf.scalar).includes("add_current")) {
          for (const op of ["add_current", "xchg_current", "cmpxchg_current"] as const) {
            const body = fn(op).join("\n");
            assert.match(body, /ldxr/, `${leafFunction(leaf, op)} is an LL/SC loop`);
            assert.match(body, /stxr/);
            assert.equal(/\bbl\b/.test(body), guard && op !== "add_current", `${leafFunction(leaf, op)} hooks`);
          }
        }
      }
      assert.equal(dis.get(varFunction(v.layout.name, "reset_to_init"))!.some((l) => l.startsWith("bl ")), guard);
    }
    for (const l of probeLeaves) {
      const body = inlineDis.get(`probe_${l.symbol}`)!;
      assert.ok(bodyLength(body) <= (naive ? 3 : shortest(l.areaOffset, l.size)), `inline ${l.symbol}: ${body.join("; ")}`);
      assert.match(body[bodyLength(body) - 1]!, LOADS[l.cType]!);
    }
    assert.doesNotMatch([...inlineDis.values()].flat().join("\n"), /\b(ldadd|stadd|ldset|swp|cas)\w*\b|__aarch64_/, "inline RMW is LL/SC, no LSE or outline atomics");
  }));
}

for (const features of FEATURE_SETS) {
  const label = features.length ? features.join("+") : "no features";
  test(`aarch64 kernel ${label}: a mixed layout links at 0x40100000 with every offset and the shortest reads`, async () => {
    await checkGeneration(smallSdk().generate({ functions: true, arch: "aarch64", features: [...features] }), features);
  });
  test(`aarch64 kernel ${label}: a layout beyond 64 KiB reaches its far variables in at most 4 instructions`, async () => {
    const gen = farSdk().generate({ functions: true, arch: "aarch64", features: [...features], ...(features.includes("naive") ? {} : { cpus: 2 }) });
    const far = gen.layout.vars.find((v) => v.name === "FAR")!;
    assert.ok(far.offset > 65536);
    assert.equal(gen.layout.vars.find((v) => v.name === "ODD")!.offset % 2, 1, "ODD sits at an odd offset");
    await checkGeneration(gen, features);
  });
}

/** A hand-placed leaf (for offsets no linkable layout can hold). */
function fakeLeaf(symbol: string, scalar: "u8" | "u64" | "i16", size: number, cType: string, areaOffset: number): PlacedLeaf {
  return { symbol, path: [], scalar, size, offset: 0, indices: [], varName: symbol, areaOffset, cType };
}

function fakeInput(areaOffset: number, size: number, features: readonly FeatureName[] = []): GenInput {
  const sdk = createPercpu();
  sdk.define("X", u64, 0, { counter: true });
  const layout = sdk.layout("aarch64");
  const base = generatorInput(layout, resolveConfig({ arch: "aarch64", features: [...features] }));
  const v = base.vars[0]!;
  const leaf: PlacedLeaf = { ...v.leaves[0]!, areaOffset };
  return { ...base, vars: [{ layout: { ...v.layout, offset: areaOffset, size }, leaves: [leaf], u128Leaves: [] }] };
}

/** Value of a `movz`/`movk` sequence into x10 as objdump prints it (`mov x10, #0x..`, `movk x10, #0x.., lsl #16`). */
function materialised(lines: readonly string[]): number {
  let value = 0;
  for (const l of lines) {
    const m = /^(mov|movz|movk) x10, #(0x[0-9a-f]+|\d+)(, lsl #(\d+))?$/.exec(l);
    if (!m) continue;
    const chunk = Number(m[2]) * 2 ** Number(m[4] ?? 0);
    value = m[1] === "movk" ? value - (value % 2 ** (Number(m[4] ?? 0) + 16)) + (value % 2 ** Number(m[4] ?? 0)) + chunk : chunk;
  }
  return value;
}

test("aarch64 accessors reach offsets up to 2 GiB with movz/movk and never truncate", async () => {
  await withTempDir("a64far", async (dir) => {
    const cases = [
      { off: 2 ** 31 - 8, leaf: fakeLeaf("TOP", "u64", 8, "uint64_t", 2 ** 31 - 8) },
      { off: 2 ** 24 + 1, leaf: fakeLeaf("MID", "u8", 1, "uint8_t", 2 ** 24 + 1) },
      { off: 0x10000 + 2, leaf: fakeLeaf("LOW", "i16", 2, "int16_t", 0x10000 + 2) },
    ];
    const text = cases.flatMap(({ leaf, off }) => {
      const input = fakeInput(off, leaf.size);
      return ["read_current_raw", "write_current_raw", "remote_read", "add_current", "cmpxchg_current"].map((op) =>
        aarch64LeafAssembly(input, leaf, op as "read_current_raw")
      );
    });
    await writeFile(join(dir, "far.S"), ".text\n" + text.join("\n"));
    await runOk(CLANG, [...aarch64Backend.clangFlags, "-c", "far.S", "-o", "far.o"], { cwd: dir });
    const dis = await disassemble(join(dir, "far.o"));
    for (const { leaf, off } of cases) {
      const raw = dis.get(leafFunction(leaf, "read_current_raw"))!;
      assert.ok(bodyLength(raw) <= 4, raw.join("; "));
      if (off >= 2 ** 24) {
        assert.equal(materialised(raw), off, `read of ${leaf.symbol}: ${raw.join("; ")}`);
        assert.match(raw[bodyLength(raw) - 1]!, /\[x9, x10\]$/);
        assert.equal(materialised(dis.get(leafFunction(leaf, "write_current_raw"))!), off);
        assert.equal(materialised(dis.get(leafFunction(leaf, "add_current"))!), off);
      } else {
        // add #hi, lsl #12 then the low 12 bits as the immediate.
        assert.equal(bodyLength(raw), 3, raw.join("; "));
        const hi = /add x9, x9, #(0x[0-9a-f]+|\d+), lsl #12/.exec(raw[1]!);
        const lo = /\[x9, #(0x[0-9a-f]+|\d+)\]/.exec(raw[2]!);
        assert.equal(Number(hi![1]) * 4096 + Number(lo?.[1] ?? 0), off);
      }
    }
  });
});

test("aarch64 check() rejects an offset past 2 GiB and accepts one ending at 2 GiB", () => {
  assert.doesNotThrow(() => aarch64Backend.check(fakeInput(2 ** 31 - 8, 8)));
  assert.throws(() => aarch64Backend.check(fakeInput(2 ** 31, 8)), (e: unknown) => e instanceof PercpuError && e.code === "offset_out_of_reach" && e.path[0] === "X");
});

test("aarch64 generation rejects user mode and is byte-identical for identical input", () => {
  assert.throws(() => smallSdk().generate({ functions: true, arch: "aarch64", mode: "user" }), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
  const a = smallSdk().generate({ functions: true, arch: "aarch64", features: ["preempt", "irq"] }).files;
  const b = smallSdk().generate({ functions: true, arch: "aarch64", features: ["preempt", "irq"] }).files;
  assert.deepEqual(a, b);
});

test("aarch64 inline integer accessors compile with -mgeneral-regs-only (floats need FP registers)", async () => {
  await withTempDir("a64gro", async (dir) => {
    const gen = smallSdk().generate({ functions: true, arch: "aarch64", features: ["preempt"] });
    await gen.write(dir);
    const src = [
      "#define PERCPU_INLINE",
      '#include "percpu.h"',
      "uint64_t use(uint32_t x);",
      "uint64_t use(uint32_t x) {",
      "  percpu_COUNT_add_current(x);",
      "  percpu_RING_write_current(3, x);",
      "  return percpu_CPU_ID_read_current_raw() + (uint64_t)percpu_DELTA_cmpxchg_current(-2, 5) + percpu_RING_read_current(3);",
      "}",
      "",
    ].join("\n");
    await writeFile(join(dir, "gro.c"), src);
    const r = await run(CLANG, [...aarch64Backend.clangFlags, "-mgeneral-regs-only", "-ffreestanding", "-Wall", "-Werror", "-O2", "-c", "gro.c", "-o", "gro.o"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const dis = await disassemble(join(dir, "gro.o"));
    assert.doesNotMatch(dis.get("use")!.join("\n"), FP_REG);
  });
});

// ---------------------------------------------------------------- boot under QEMU (cortex-a57, MMU off)

/** Boot stub: stack, FP on (CPACR_EL1 at EL1, CPTR_EL2 at EL2), `fw_checks()`, semihosting SYS_EXIT with its result. */
const BOOT_S = `
.section .text.boot, "ax", %progbits
.globl _start
_start:
	adrp x0, boot_stack_top
	add x0, x0, #:lo12:boot_stack_top
	mov sp, x0
	mrs x1, CurrentEL
	cmp x1, #8
	b.eq 1f
	mrs x1, cpacr_el1
	orr x1, x1, #(3 << 20)
	msr cpacr_el1, x1
	b 2f
1:	mrs x1, cptr_el2
	bic x1, x1, #(1 << 10)
	msr cptr_el2, x1
2:	isb
	bl fw_checks
	adrp x1, exit_block
	add x1, x1, #:lo12:exit_block
	str x0, [x1, #8]
	mov w0, #0x18
	hlt #0xf000
3:	b 3b
.section .data.exit_block, "aw", %progbits
.p2align 3
exit_block:
	.quad 0x20026
	.quad 0
.section .bss.boot_stack, "aw", %nobits
.p2align 4
	.zero 16384
boot_stack_top:
`;

/** The checks, run once through the out-of-line accessors and once through the inline ones. `CUR` is the CPU used. */
function checksC(fn: string): string {
  return `
int ${fn}(void);
int ${fn}(void) {
  int n = 0, first = 0;
#define CHECK(c) do { n++; if (!(c) && !first) first = n; } while (0)
  CHECK(percpu_init_in_place() == PERCPU_MAX_CPUS);
  percpu_init_reg(CUR);
  CHECK(percpu_read_reg() == percpu_area_base(CUR));
  CHECK(percpu_area_num() == PERCPU_MAX_CPUS);
  CHECK(percpu_area_size() == PERCPU_AREA_SIZE);
  CHECK(PERCPU_AREA_SIZE % 8 == 1);
  CHECK(percpu_TAIL_read_current_raw() == 0x3c);
  CHECK(percpu_TAIL_remote_read(0) == 0x3c);
  CHECK(percpu_NEAR_read_current_raw() == 0x1122334455667788ull);
  CHECK(percpu_FAR_read_current_raw() == 0x0102030405060708ull);
  CHECK(percpu_FAR_B_read_current() == 0x5a);
  CHECK(percpu_ODD_read_current_raw() == 0xa5);
  CHECK(percpu_FAR_H_read_current_raw() == -1234);
  CHECK(percpu_FAR_W_read_current_raw() == 0xdeadbeefu);
  CHECK(percpu_FAR_D_read_current_raw() == -0.5);
  percpu_FAR_D_write_current(3.25);
  CHECK(percpu_FAR_D_read_current() == 3.25);
  percpu_FAR_add_current(5);
  CHECK(percpu_FAR_read_current_raw() == 0x010203040506070dull);
  CHECK(percpu_FAR_W_cmpxchg_current(0xdeadbeefu, 7) == 0xdeadbeefu);
  CHECK(percpu_FAR_W_cmpxchg_current(1, 9) == 7);
  CHECK(percpu_FAR_W_read_current() == 7);
  CHECK(percpu_FAR_H_xchg_current(-5) == -1234);
  CHECK(percpu_FAR_H_cmpxchg_current(-5, -6) == -5);
  CHECK(percpu_FAR_H_read_current() == -6);
  percpu_ODD_sub_current(0xa6);
  CHECK(percpu_ODD_read_current_raw() == 0xff);
  percpu_ODD_xor_current(0x0f);
  CHECK(percpu_ODD_read_current_raw() == 0xf0);
  percpu_BUF_write_current(69999, 0x77);
  CHECK(percpu_BUF_read_current_raw(69999) == 0x77);
  CHECK((*percpu_BUF_current_ptr())[69999] == 0x77);
  CHECK((uintptr_t)percpu_FAR_current_ptr() == percpu_area_base(CUR) + PERCPU_FAR_OFFSET);
  CHECK(percpu_FAR_remote_read(0) == (CUR ? 0x0102030405060708ull : 0x010203040506070dull));
  percpu_FAR_remote_write(CUR, 42);
  CHECK(percpu_FAR_read_current_raw() == 42);
  CHECK(*percpu_FAR_remote_ptr(CUR) == 42);
  percpu_FAR_reset_to_init();
  CHECK(percpu_FAR_read_current_raw() == 0x0102030405060708ull);
  percpu_BUF_reset_to_init();
  CHECK(percpu_BUF_read_current_raw(69999) == 0);
  return first;
}
`;
}

async function bootCheck(features: readonly FeatureName[]): Promise<void> {
  await withTempDir("a64boot", async (dir) => {
    const naive = features.includes("naive");
    const el2 = features.includes("el2");
    const gen = farSdk().generate({ functions: true, arch: "aarch64", features: [...features], ...(naive ? {} : { cpus: 2 }) });
    await gen.write(dir);
    const cur = naive ? 0 : 1;
    const hooks = `
unsigned long hook_depth, hook_calls, hook_errors;
void percpu_preempt_disable(void) { hook_depth++; hook_calls++; }
void percpu_preempt_enable(void) { if (hook_depth-- == 0) hook_errors++; }
uintptr_t percpu_irq_save(void) { hook_depth++; hook_calls++; return 0x5a5a; }
void percpu_irq_restore(uintptr_t f) { if (f != 0x5a5a || hook_depth-- == 0) hook_errors++; }
int fw_checks_outline(void);
int fw_checks_inline(void);
int fw_checks(void);
int fw_checks(void) {
  int r = fw_checks_outline();
  if (r) return r;
  r = fw_checks_inline();
  if (r) return 100 + r;
  if (hook_errors || hook_depth) return 250;
  return ${features.includes("preempt") || features.includes("irq") ? "hook_calls ? 0 : 251" : "hook_calls ? 252 : 0"};
}
`;
    await writeFile(join(dir, "outline.c"), `#include "percpu.h"\n#define CUR ${cur}\n${hooks}${checksC("fw_checks_outline")}`);
    await writeFile(join(dir, "inline.c"), `#define PERCPU_INLINE\n#include "percpu.h"\n#define CUR ${cur}\n${checksC("fw_checks_inline")}`);
    await writeFile(join(dir, "boot.S"), BOOT_S);
    await writeFile(join(dir, "frag.ld"), await (await import("node:fs/promises")).readFile(join(dir, "percpu.ld"), "utf8"));
    await writeFile(
      join(dir, "fw.ld"),
      `ENTRY(_start)\nSECTIONS {\n  . = 0x40100000;\n  .text : { *(.text.boot) *(.text .text.*) }\n  .rodata : { *(.rodata .rodata.*) }\n  .data : { *(.data .data.*) }\n  .bss : { *(.bss .bss.*) *(COMMON) }\n  INCLUDE frag.ld\n}\n`,
    );
    const cflags = [...aarch64Backend.clangFlags, "-ffreestanding", "-Wall", "-Werror", "-O2", "-c"];
    await Promise.all(["percpu.S", "boot.S", "outline.c", "inline.c"].map((f) => runOk(CLANG, [...cflags, f, "-o", `${f}.o`], { cwd: dir })));
    await runOk("ld.lld-19", ["-T", "fw.ld", "-o", "fw.elf", "percpu.S.o", "boot.S.o", "outline.c.o", "inline.c.o"], { cwd: dir });
    const r = await run("qemu-system-aarch64", [
      "-M", el2 ? "virt,virtualization=on" : "virt", "-cpu", "cortex-a57", "-smp", "1", "-m", "128M", "-nographic",
      "-semihosting-config", "enable=on,target=native", "-kernel", "fw.elf",
    ], { cwd: dir, input: "", timeoutMs: 20_000 });
    assert.equal(r.code, 0, `firmware check ${r.code} failed (1xx: inline, 250+: hooks)\n${r.stderr}${r.stdout}`);
  });
}

for (const features of [[], ["preempt", "irq"], ["el2", "preempt"], ["naive"]] as const) {
  test(`aarch64 far-offset accessors run correctly under QEMU cortex-a57 with the MMU off (${features.length ? features.join("+") : "no features"})`, async () => {
    await bootCheck(features);
  }, { only: ["deno"] });
}

test("aarch64 accessors at 16 MiB + 1 and 2 GiB - 8 read, write and add the right bytes under QEMU", async () => {
  await withTempDir("a64boot2g", async (dir) => {
    const gen = smallSdk().generate({ functions: true, arch: "aarch64", cpus: 1 });
    await gen.write(dir);
    const top = fakeLeaf("TOP", "u64", 8, "uint64_t", 2 ** 31 - 8);
    const mid = fakeLeaf("MID", "u8", 1, "uint8_t", 2 ** 24 + 1);
    const ops = ["read_current_raw", "write_current_raw", "add_current", "cmpxchg_current"] as const;
    const far = [top, mid].flatMap((leaf) => ops.map((op) => aarch64LeafAssembly(fakeInput(leaf.areaOffset, leaf.size), leaf, op)));
    await writeFile(join(dir, "far.S"), ".text\n" + far.join("\n"));
    await writeFile(join(dir, "boot.S"), BOOT_S);
    // The area base sits 64 MiB into RAM (0x40000000); -m 2304M puts base + 2 GiB inside RAM.
    await writeFile(join(dir, "main.c"), `#include "percpu.h"
uint64_t percpu_TOP_read_current_raw(void);
void percpu_TOP_write_current_raw(uint64_t v);
void percpu_TOP_add_current(uint64_t v);
uint64_t percpu_TOP_cmpxchg_current(uint64_t e, uint64_t d);
uint8_t percpu_MID_read_current_raw(void);
void percpu_MID_write_current_raw(uint8_t v);
void percpu_MID_add_current(uint8_t v);
uint8_t percpu_MID_cmpxchg_current(uint8_t e, uint8_t d);
int fw_checks(void);
int fw_checks(void) {
  int n = 0, first = 0;
#define CHECK(c) do { n++; if (!(c) && !first) first = n; } while (0)
  const uintptr_t base = 0x44000000u;
  volatile uint64_t *topp = (volatile uint64_t *)(base + 0x7ffffff8u);
  volatile uint8_t *midp = (volatile uint8_t *)(base + 0x1000001u);
  percpu_write_reg(base);
  CHECK(percpu_read_reg() == base);
  *topp = 0x1122334455667788ull;
  midp[-1] = 0x11; *midp = 0x22; midp[1] = 0x33;
  CHECK(percpu_TOP_read_current_raw() == 0x1122334455667788ull);
  CHECK(percpu_MID_read_current_raw() == 0x22);
  percpu_TOP_write_current_raw(0xa5a5a5a5a5a5a5a5ull);
  CHECK(*topp == 0xa5a5a5a5a5a5a5a5ull);
  percpu_MID_write_current_raw(0x44);
  CHECK(midp[-1] == 0x11 && *midp == 0x44 && midp[1] == 0x33);
  percpu_TOP_add_current(0x0101010101010101ull);
  CHECK(*topp == 0xa6a6a6a6a6a6a6a6ull);
  percpu_MID_add_current(0xff);
  CHECK(midp[-1] == 0x11 && *midp == 0x43 && midp[1] == 0x33);
  CHECK(percpu_TOP_cmpxchg_current(0xa6a6a6a6a6a6a6a6ull, 7) == 0xa6a6a6a6a6a6a6a6ull);
  CHECK(*topp == 7);
  CHECK(percpu_MID_cmpxchg_current(0x43, 0x99) == 0x43 && *midp == 0x99);
  /* A truncated offset (the seed's movz #:abs_g0_nc:) would have touched base + low 16 bits instead. */
  CHECK(*(volatile uint64_t *)(base + 0xfff8u) == 0 && *(volatile uint8_t *)(base + 1u) == 0);
  return first;
}
`);
    await writeFile(join(dir, "fw.ld"), "ENTRY(_start)\nSECTIONS {\n  . = 0x40100000;\n  .text : { *(.text.boot) *(.text .text.*) }\n  .rodata : { *(.rodata .rodata.*) }\n  .data : { *(.data .data.*) }\n  .bss : { *(.bss .bss.*) *(COMMON) }\n  INCLUDE percpu.ld\n}\n");
    const cflags = [...aarch64Backend.clangFlags, "-ffreestanding", "-Wall", "-Werror", "-O2", "-c"];
    await Promise.all(["percpu.S", "far.S", "boot.S", "main.c"].map((f) => runOk(CLANG, [...cflags, f, "-o", `${f}.o`], { cwd: dir })));
    await runOk("ld.lld-19", ["-T", "fw.ld", "-o", "fw.elf", "percpu.S.o", "far.S.o", "boot.S.o", "main.c.o"], { cwd: dir });
    const r = await run("qemu-system-aarch64", [
      "-M", "virt", "-cpu", "cortex-a57", "-smp", "1", "-m", "2304M", "-nographic",
      "-semihosting-config", "enable=on,target=native", "-kernel", "fw.elf",
    ], { cwd: dir, input: "", timeoutMs: 20_000 });
    assert.equal(r.code, 0, `far check ${r.code} failed\n${r.stderr}${r.stdout}`);
  });
}, { only: ["deno"] });
