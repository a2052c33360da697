/**
 * The loongarch64 backend, proven with the real toolchain: every feature set ×
 * {small mixed layout, layout > 64 KiB} is assembled with clang-19, linked with
 * ld.lld-19 through `percpu.ld`, read back (symbols, `.percpu` size) and
 * disassembled (instruction counts, the one `$r21` access, hook references);
 * `percpu.h` compiles with PERCPU_INLINE; clang-19 is shown never to allocate
 * `$r21`; and a bare-metal image under qemu-system-loongarch64 runs every
 * accessor (extern and inline) against C's own arithmetic, including offsets
 * beyond 64 KiB.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadImmediate, loongarch64Backend } from "../arch/loongarch64.ts";
import { percpuAssembly } from "../arch/_asm.ts";
import type { Generated } from "../emit/index.ts";
import { type GenInput, generatorInput, type PlacedLeaf, type PlacedVar } from "../sdk/plan.ts";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i32,
  i64,
  i8,
  type PercpuSdk,
  type PercpuType,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { PercpuError } from "../sdk/errors.ts";
import { GUARD_HOOKS, leafFunction, leafOps, storageSymbol, varFunction } from "../sdk/symbols.ts";
import { isRemoteOp, LEAF_OP_SPECS } from "../sdk/ops.ts";
import { test } from "./_harness.ts";
import {
  bodyLength,
  CLANG,
  compileInlineHeader,
  disassemble,
  elfSymbols,
  LLD,
  linkKernel,
  OBJDUMP,
  READELF,
  run,
  runOk,
  sectionSizes,
  undefinedSymbols,
} from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

const FLAGS = loongarch64Backend.clangFlags;

// ---------------------------------------------------------------------------
// Layouts (definitions keep their values so the QEMU test knows every initial value)

interface Def {
  readonly name: string;
  readonly type: PercpuType;
  readonly init: unknown;
}

const SMALL: readonly Def[] = [
  { name: "U8", type: u8, init: 200 },
  { name: "I16", type: i16, init: -300 },
  { name: "U32", type: u32, init: 0xdeadbeef },
  { name: "U64", type: u64, init: 0x123456789abcdef0n },
  { name: "I64", type: i64, init: -5n },
  { name: "FLAG", type: bool, init: true },
  { name: "F", type: f32, init: 1.5 },
  { name: "D", type: f64, init: -2.25 },
  { name: "ST", type: struct({ a: u8, b: i32, c: array(u16, 3), d: i8 }), init: { a: 1, b: -2, c: [3, 4, 65535], d: -128 } },
  { name: "SBYTES", type: array(i8, 20), init: Array.from({ length: 20 }, (_, i) => i - 10) },
  { name: "HALVES", type: array(u16, 17), init: Array.from({ length: 17 }, (_, i) => 65000 + i) },
  { name: "ALN", type: aligned(u32, 128), init: 42 },
  { name: "I8", type: i8, init: -7 },
  { name: "U16", type: u16, init: 65000 },
  { name: "I32", type: i32, init: -100000 },
  { name: "USZ", type: usize, init: 77n },
  // Two index dimensions, the outer with a stride (40) that is not a power of two.
  { name: "GRID", type: array(array(u16, 20), 17), init: Array.from({ length: 17 }, (_, i) => Array.from({ length: 20 }, (_, j) => i * 100 + j)) },
  { name: "HIST", type: struct({ n: u32, hist: array(i64, 24) }), init: { n: 3, hist: Array.from({ length: 24 }, (_, i) => BigInt(-i)) } },
];

const BIG: readonly Def[] = [
  { name: "HEAD", type: u32, init: 1 },
  { name: "PAD", type: array(u8, 3000), init: Array.from({ length: 3000 }, (_, i) => i % 251) },
  { name: "MID", type: u64, init: 0xfeedfacecafebeefn },
  { name: "MID16", type: i16, init: -2 },
  { name: "BLOB", type: array(u8, 70000), init: Array.from({ length: 70000 }, () => 0) },
  { name: "FAR", type: u64, init: 0xfeedn },
  { name: "FAR8", type: i8, init: -9 },
  { name: "FAR16", type: u16, init: 0xbeef },
  { name: "FAR32", type: i32, init: -123456 },
  { name: "FARF", type: f64, init: 0.5 },
  { name: "FARU8", type: u8, init: 250 },
  { name: "TABLE", type: array(u32, 100), init: Array.from({ length: 100 }, (_, i) => i * 1000003) },
];

const LAYOUTS = { small: SMALL, big: BIG } as const;
type LayoutName = keyof typeof LAYOUTS;

/** Whether a type has an integer leaf. */
function hasInteger(t: PercpuType): boolean {
  if (t.kind === "scalar") return t.name !== "bool" && t.name !== "f32" && t.name !== "f64";
  if (t.kind === "aligned") return hasInteger(t.inner);
  if (t.kind === "array") return hasInteger(t.element);
  return Object.values(t.fields).some(hasInteger);
}

function sdkOf(defs: readonly Def[]): PercpuSdk {
  const sdk = createPercpu();
  // counter: true on every variable with integers: the shapes below are the statistics-counter ones (counter ops
  // one unguarded AM*); tests/ops_counts_test.ts measures the default, guarded ones.
  for (const d of defs) sdk.define(d.name, d.type, d.init as never, hasInteger(d.type) ? { counter: true } : undefined);
  return sdk;
}

const FEATURE_SETS = {
  none: [],
  preempt: ["preempt"],
  irq: ["irq"],
  "preempt+irq": ["preempt", "irq"],
  naive: ["naive"],
} as const;
type FeatureSet = keyof typeof FEATURE_SETS;

const sdks = new Map<LayoutName, PercpuSdk>();
const generated = new Map<string, Generated>();

/** The generation for a layout and feature set (defined and generated once per file: the big layout is slow to define). */
function generate(layout: LayoutName, features: FeatureSet): Generated {
  const key = `${layout} ${features}`;
  let gen = generated.get(key);
  if (!gen) {
    let sdk = sdks.get(layout);
    if (!sdk) sdks.set(layout, sdk = sdkOf(LAYOUTS[layout]));
    const naive = features === "naive";
    gen = sdk.generate({ functions: true, arch: "loongarch64", ...(naive ? {} : { cpus: 4 }), features: [...FEATURE_SETS[features]] });
    generated.set(key, gen);
  }
  return gen;
}

function expectedHooks(features: FeatureSet): string[] {
  const [pd, pe, is, ir] = GUARD_HOOKS;
  const preempt = features === "preempt" || features === "preempt+irq";
  const irq = features === "irq" || features === "preempt+irq";
  return [...(preempt ? [pd, pe] : []), ...(irq ? [is, ir] : [])].sort();
}

/** Links a generation with its generated `percpu.ld` (naive builds keep a one-area template). */
async function link(gen: Generated, dir: string): Promise<string> {
  const r = await linkKernel(gen, dir);
  assert.equal(r.code, 0, `link failed:\n${r.stderr}`);
  return r.elf;
}

const mentionsR21 = (insn: string): boolean => /\$r21\b/.test(insn);

// ---------------------------------------------------------------------------
// Link, symbols and disassembly

for (const layout of Object.keys(LAYOUTS) as LayoutName[]) {
  for (const features of Object.keys(FEATURE_SETS) as FeatureSet[]) {
    test(`loongarch64 ${features} ${layout}: the link matches the manifest and every accessor has its shortest form`, async () => {
      const gen = generate(layout, features);
      const naive = features === "naive";
      await withTempDir("la64", async (dir) => {
        const elf = await link(gen, dir);
        const syms = await elfSymbols(elf);
        for (const v of gen.manifest.vars) assert.equal(syms.get(storageSymbol(v.name)), BigInt(v.offset), `${v.name} offset`);
        assert.equal((await sectionSizes(elf)).get(".percpu"), gen.layout.stride * gen.config.cpus);
        const relocs = await runOk(READELF, ["-r", join(dir, "percpu.o")]);
        assert.doesNotMatch(relocs, /R_LARCH_RELAX/, "nothing may relax");
        const undef = [...await undefinedSymbols(join(dir, "percpu.o"))].sort();
        assert.deepEqual(undef, [...(naive ? [] : ["_percpu_start"]), ...expectedHooks(features)].sort());

        const dis = await disassemble(elf);
        const input = generatorInput(gen.layout, gen.config);
        const guarded = expectedHooks(features).length > 0;
        let far = 0;
        for (const v of input.vars) {
          const reset = dis.get(varFunction(v.layout.name, "reset_to_init"))!;
          assert.equal(reset.some((i) => i.startsWith("bl ")), guarded, `${v.layout.name} reset_to_init guard`);
          for (const leaf of v.leaves) {
            for (const op of leafOps(leaf.scalar)) {
              const name = leafFunction(leaf, op);
              const insns = dis.get(name);
              assert.ok(insns, `${name} missing`);
              // Only the ops whose result must be this CPU's (guard class this_cpu) take the guard on counter variables.
              const hooked = guarded && !isRemoteOp(op) && LEAF_OP_SPECS[op].guard === "this_cpu";
              assert.equal(insns.some((i) => i.startsWith("bl ")), hooked, `${name} calls a hook: ${insns.join("; ")}`);
              const r21 = insns.filter(mentionsR21);
              if (naive) {
                assert.equal(r21.length, 0, `${name} uses $r21 in naive mode`);
                continue;
              }
              // Plain 8/16-bit RMW (no guard feature asked for) is load + op + store: two $r21 accesses.
              const plainRmw = !guarded && leaf.size <= 2 && LEAF_OP_SPECS[op].scalars === "integer" && !isRemoteOp(op);
              if (op.startsWith("remote")) assert.equal(r21.length, 0, `${name} must not use $r21`);
              else assert.equal(r21.length, plainRmw ? 2 : 1, `${name}: instructions relative to $r21: ${insns.join("; ")}`);
              // $r21 is only ever a base, never written.
              for (const i of r21) assert.match(i, /^\S+ \$(?!r21)\w+, \$r21, /, `${name}: ${i}`);
              if ((op === "read_current" || op === "write_current") && leaf.indices.length === 0) {
                const access = r21[0]!;
                assert.match(access, op === "read_current" ? /^ld/ : /^st/, `${name}: the $r21 instruction is the access itself`);
              }
              if (op.endsWith("_current") && /^(add|sub|and|or|xor|xchg|cmpxchg)_/.test(op)) {
                const text = insns.join("\n");
                if (leaf.size >= 4) assert.match(text, /^(am(add|and|or|xor|swap)\.[wd]|ll\.[wd]) /m, `${name} is atomic`);
                else if (guarded) assert.match(text, /^ll\.w .*\n(.*\n)*sc\.w /m, `${name} is a masked ll/sc loop`);
                else assert.doesNotMatch(text, /^ll\./m, `${name} is plain without guard features`);
              }
            }
            if (leaf.indices.length > 0) continue;
            const raw = dis.get(leafFunction(leaf, "read_current_raw"))!;
            const n = bodyLength(raw);
            if (naive) {
              assert.equal(n, 2, `naive ${leaf.symbol}: pcalau12i + load: ${raw.join("; ")}`);
            } else if (leaf.areaOffset < 2048) {
              assert.equal(n, 1, `${leaf.symbol} at ${leaf.areaOffset}: ${raw.join("; ")}`);
              assert.match(raw[0]!, new RegExp(`^ld\\.(b|bu|h|hu|w|d) \\$a0, \\$r21, ${leaf.areaOffset}$`));
            } else {
              far++;
              assert.ok(n <= 3, `${leaf.symbol} at ${leaf.areaOffset}: ${raw.join("; ")}`);
              if (leaf.size >= 4 && leaf.areaOffset % 4 === 0 && leaf.areaOffset < 32768) assert.match(raw[0]!, /^ldptr\.[wd] \$a0, \$r21, /);
              else assert.match(raw[n - 1]!, /^ldx\.\w+ \$a0, \$r21, \$t0$/);
            }
          }
        }
        if (layout === "big" && !naive) assert.ok(far >= 8, `far leaves checked: ${far}`);
      });
    });
  }
}

test("loongarch64 output is byte-identical for identical input", () => {
  for (const features of Object.keys(FEATURE_SETS) as FeatureSet[]) {
    const once = (): Generated => sdkOf(SMALL).generate({ functions: true, arch: "loongarch64", ...(features === "naive" ? {} : { cpus: 4 }), features: [...FEATURE_SETS[features]] });
    assert.deepEqual(once().files, once().files);
  }
});

test("loongarch64 percpu.h compiles with PERCPU_INLINE and the compiled code never writes $r21", async () => {
  const configs = (Object.keys(LAYOUTS) as LayoutName[]).flatMap((layout) => (Object.keys(FEATURE_SETS) as FeatureSet[]).map((features) => ({ layout, features })));
  await Promise.all(configs.map(async ({ layout, features }) => {
    const gen = generate(layout, features);
    await withTempDir("la64-inline", async (dir) => {
      const r = await compileInlineHeader(gen, dir);
      assert.equal(r.code, 0, `${layout} ${features}:\n${r.stderr}`);
      const dis = await disassemble(join(dir, "inline_test.o"));
      const all = [...dis.values()].flat();
      assert.ok(all.length > 100, `${layout} ${features}: code was generated`);
      for (const i of all.filter(mentionsR21)) assert.match(i, /^\S+ \$(?!r21)\w+, \$r21, /, `${layout} ${features}: ${i}`);
      if (features === "naive") assert.equal(all.filter(mentionsR21).length, 0);
    });
  }));
});

test("clang-19 never allocates $r21: 28 register operands take every other register, 29 do not fit", async () => {
  await withTempDir("la64-regs", async (dir) => {
    const source = (n: number): string => {
      const loads = Array.from({ length: n }, (_, i) => `  uint64_t v${i} = p[${i}];`);
      const text = Array.from({ length: n }, (_, i) => `%${i}`).join(" ");
      const ops = Array.from({ length: n }, (_, i) => `"r"(v${i})`).join(", ");
      return `#include <stdint.h>\nvoid f(volatile uint64_t *p);\nvoid f(volatile uint64_t *p) {\n${loads.join("\n")}\n  __asm__ volatile("# regs ${text}" :: ${ops});\n}\n`;
    };
    const compile = async (n: number) => {
      await writeFile(join(dir, `r${n}.c`), source(n));
      return run(CLANG, [...FLAGS, "-ffreestanding", "-Wall", "-Werror", "-O2", "-S", "-o", "-", `r${n}.c`], { cwd: dir });
    };
    const ok = await compile(28);
    assert.equal(ok.code, 0, ok.stderr);
    const regs = /# regs (.*)/.exec(ok.stdout)![1]!.trim().split(/\s+/);
    assert.equal(new Set(regs).size, 28);
    assert.ok(!regs.includes("$r21") && !regs.includes("$u0") && !regs.includes("$x"), regs.join(" "));
    const over = await compile(29);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /more registers than available/);
  });
});

test("loongarch64 clang flags are soft-float without FPU or LSX instructions", async () => {
  await withTempDir("la64-float", async (dir) => {
    await writeFile(join(dir, "f.c"), "double f(double a, double b);\ndouble f(double a, double b) { return a * b + 1.0; }\n");
    const r = await runOk(CLANG, [...FLAGS, "-ffreestanding", "-Wall", "-Werror", "-O2", "-c", "f.c", "-o", "f.o"], { cwd: dir });
    void r;
    const dis = [...(await disassemble(join(dir, "f.o"))).values()].flat();
    assert.ok(dis.some((i) => /^bl /.test(i)), "soft-float library calls");
    assert.ok(!dis.some((i) => /^(f|v)\w*\.[sdbhwq]/.test(i) || /\$f|\$vr/.test(i)), dis.join("; "));
  });
});

// ---------------------------------------------------------------------------
// check()

/** The variable the reach tests move (a u64-sized usize). */
const MOVED = "USZ";

/**
 * The small layout's input with one variable's accessors moved to
 * `offset`; the layout itself (template, runtime) stays small, since a 2 GiB
 * template cannot be materialised here.
 */
function movedInput(offset: number): GenInput {
  const input = generatorInput(sdkOf(SMALL).layout("loongarch64"), { arch: "loongarch64", cpus: 2, mode: "kernel", features: { preempt: false, irq: false, naive: false, el2: false, lse: false }, functions: true, rust: false });
  const at = input.vars.findIndex((v) => v.layout.name === MOVED);
  const last = input.vars[at]!;
  const delta = offset - last.layout.offset;
  const moved: PlacedVar = {
    layout: { ...last.layout, offset },
    u128Leaves: [],
    leaves: last.leaves.map((l): PlacedLeaf => ({ ...l, areaOffset: l.areaOffset + delta })),
  };
  return { ...input, vars: input.vars.map((v, k) => (k === at ? moved : v)) };
}

test("loongarch64 check() accepts offsets up to 2 GiB and rejects beyond with offset_out_of_reach", async () => {
  const moved = (input: GenInput): PlacedVar => input.vars.find((v) => v.layout.name === MOVED)!;
  const size = moved(movedInput(0)).layout.size;
  const edge = movedInput(2 ** 31 - size);
  loongarch64Backend.check(edge);
  assert.throws(() => loongarch64Backend.check(movedInput(2 ** 31 - size + 8)), (e: unknown) => e instanceof PercpuError && e.code === "offset_out_of_reach");
  const stride = (n: number): GenInput => ({ ...edge, layout: { ...edge.layout, stride: n } });
  loongarch64Backend.check(stride(2 ** 31));
  assert.throws(() => loongarch64Backend.check(stride(2 ** 31 + 64)), (e: unknown) => e instanceof PercpuError && e.code === "offset_out_of_reach");
  assert.throws(() => loongarch64Backend.check({ ...edge, config: { ...edge.config, mode: "user" } }), PercpuError);

  // The 2 GiB - 8 accessor assembles to lu12i.w/ori/ldx (the sign-extending lu12i.w stays positive).
  await withTempDir("la64-reach", async (dir) => {
    await writeFile(join(dir, "percpu.S"), percpuAssembly(loongarch64Backend, edge).text());
    await runOk(CLANG, [...FLAGS, "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
    const dis = await disassemble(join(dir, "percpu.o"));
    const leaf = moved(edge).leaves[0]!;
    const raw = dis.get(leafFunction(leaf, "read_current_raw"))!;
    assert.equal(bodyLength(raw), 3, raw.join("; "));
    const hi = Math.floor(leaf.areaOffset / 4096);
    assert.deepEqual(raw.slice(0, 3), [`lu12i.w $t0, ${hi}`, `ori $t0, $t0, ${leaf.areaOffset % 4096}`, "ldx.d $a0, $r21, $t0"]);
  });
});

// ---------------------------------------------------------------------------
// Running it: a bare-metal image on qemu-system-loongarch64

/** Immediates whose materialisation the image checks (lu12i.w sign extension, ori range). */
const IMMEDIATES = [0, 1, 2047, 2048, 4095, 4096, 4097, 70000, 0x12345678, 0x7ffff000, 0x7fffffff, 0x80000000, 0x80000fff, 0xfffff000, 0xffffffff];

/** The value of a leaf element (path below the var, then index for indexed leaves). */
function initOf(def: Def, path: readonly (string | number)[]): unknown {
  let v: unknown = def.init;
  for (const seg of path) v = (v as Record<string | number, unknown>)[seg];
  return v;
}

function cLiteral(scalar: string, v: unknown): string {
  if (scalar === "bool") return v ? "1" : "0";
  if (scalar === "f32") return `${Number(v)}f`;
  if (scalar === "f64") return `${Number(v)}`;
  if (scalar === "u64" || scalar === "usize") return `(uint64_t)${BigInt(v as bigint)}ull`;
  if (scalar === "i64" || scalar === "isize") return `(int64_t)${BigInt(v as bigint)}ll`;
  if (scalar === "u32") return `${v}u`;
  return `${v}`;
}

/** Test values per scalar: top bits set, to catch wrong extension. */
function sampleValues(scalar: string): [string, string] {
  const table: Record<string, [string, string]> = {
    u8: ["0xa5", "0x7e"], i8: ["-91", "100"], bool: ["0", "1"],
    u16: ["0x8001", "0x7ffe"], i16: ["-32000", "31000"],
    u32: ["0x80000001u", "0x7ffffffeu"], i32: ["-2000000000", "1999999999"],
    u64: ["0x8000000000000001ull", "0x0123456789abcdefull"], usize: ["0x8000000000000001ull", "42"],
    i64: ["(int64_t)-9000000000000000000ll", "(int64_t)8000000000000000000ll"], isize: ["-3", "3"],
    f32: ["-3.75f", "1024.5f"], f64: ["-1e300", "3.0e-300"],
  };
  return table[scalar]!;
}

/** The C test program exercising every accessor of a generation. */
function testProgram(gen: Generated, defs: readonly Def[], features: FeatureSet): string {
  const input = generatorInput(gen.layout, gen.config);
  const cpus = gen.config.cpus;
  const naive = gen.config.features.naive;
  const hooks = expectedHooks(features);
  const out: string[] = [
    "#include \"percpu.h\"",
    "void putc_(char c);",
    "void test_main(void);",
    "void putc_(char c) { volatile uint8_t *u = (volatile uint8_t *)0x1fe001e0UL; while ((u[5] & 0x20) == 0) {} u[0] = (uint8_t)c; }",
    "static void puts_(const char *s) { while (*s) putc_(*s++); }",
    "static void putu(uint64_t v) { char b[24]; int n = 0; do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v); while (n) putc_(b[--n]); }",
    "static unsigned failures, checks;",
    "static void check(int ok, int line) { checks++; if (!ok) { failures++; if (failures < 20) { puts_(\"check failed line \"); putu((uint64_t)line); putc_('\\n'); } } }",
    "#define CHECK(c) check((c) != 0, __LINE__)",
    "static __attribute__((unused)) int feq4(float a, float b) { uint32_t x, y; __builtin_memcpy(&x, &a, 4); __builtin_memcpy(&y, &b, 4); return x == y; }",
    "static __attribute__((unused)) int feq8(double a, double b) { uint64_t x, y; __builtin_memcpy(&x, &a, 8); __builtin_memcpy(&y, &b, 8); return x == y; }",
    "static unsigned long preempt_calls, preempt_depth, irq_saves, irq_restores, irq_bad;",
    "void percpu_preempt_disable(void) { preempt_calls++; preempt_depth++; }",
    "void percpu_preempt_enable(void) { preempt_depth--; }",
    "uintptr_t percpu_irq_save(void) { irq_saves++; return 0x5a5a0000u + irq_saves; }",
    "void percpu_irq_restore(uintptr_t f) { irq_restores++; if (f != 0x5a5a0000u + irq_saves) irq_bad++; }",
    naive ? "extern unsigned char __percpu_areas[];" : "extern char _percpu_start[];",
    `static uint8_t snapshot[${gen.layout.areaSize || 1}];`,
    "static uintptr_t area(uintptr_t cpu) { return percpu_area_base(cpu); }",
    "static void take_snapshot(void) { volatile uint8_t *a = (volatile uint8_t *)area(0); for (uintptr_t i = 0; i < PERCPU_AREA_SIZE; i++) snapshot[i] = a[i]; }",
    `static int areas_pristine(void) { for (uintptr_t c = 0; c < ${cpus}; c++) { volatile uint8_t *a = (volatile uint8_t *)area(c); for (uintptr_t i = 0; i < PERCPU_AREA_SIZE; i++) if (a[i] != snapshot[i]) return 0; } return 1; }`,
  ];
  IMMEDIATES.forEach((_, k) => out.push(`uint64_t li_test_${k}(void);`));
  for (const v of input.vars) {
    if (!naive) out.push(`extern char ${storageSymbol(v.layout.name)}[];`);
  }
  const fns: string[] = [];
  const main: string[] = [];
  let fn = 0;
  main.push(
    // naive = the seed's sp-naive: init ignores its arguments and returns 1 (Ok(1)).
    naive ? "  CHECK(percpu_init(0, 1) == 1);" : "  CHECK(percpu_init(0, 1) == -1);",
    ...(gen.layout.areaAlign > 1 ? [`  CHECK(percpu_init((uintptr_t)snapshot | 1, 1) == ${naive ? 1 : -2});`] : []),
    `  CHECK(percpu_init_in_place() == ${cpus});`,
    `  CHECK(percpu_area_num() == ${cpus});`,
    `  CHECK(percpu_area_size() == ${gen.layout.areaSize});`,
  );
  IMMEDIATES.forEach((n, k) => main.push(`  CHECK(li_test_${k}() == ${n}ull);`));
  if (naive) main.push("  CHECK(percpu_area_base(0) == (uintptr_t)__percpu_areas);", "  CHECK(percpu_read_reg() == (uintptr_t)__percpu_areas);");
  else {
    main.push(
      `  for (uintptr_t c = 0; c < ${cpus}; c++) { CHECK(percpu_area_base(c) == (uintptr_t)_percpu_start + c * ${gen.layout.stride}u); percpu_init_reg(c); CHECK(percpu_read_reg() == percpu_area_base(c)); }`,
      "  percpu_write_reg(percpu_area_base(1)); CHECK(percpu_read_reg() == percpu_area_base(1));",
    );
  }
  main.push("  percpu_init_reg(0);", "  take_snapshot();");
  const defOf = new Map(defs.map((d) => [d.name, d]));
  let resets = 0;
  // Calls of ops whose result must be this CPU's (xchg, cmpxchg: guard class this_cpu), which take the guard.
  let thisCpuCalls = 0;
  for (const v of input.vars) {
    const name = v.layout.name;
    const def = defOf.get(name)!;
    const cpuList = Array.from({ length: cpus }, (_, c) => c);
    // Pointers agree with the linker's placement.
    const varAddr = (c: string): string => naive ? `((uintptr_t)__percpu_areas + ${v.layout.offset}u)` : `((uintptr_t)_percpu_start + ${c} * ${gen.layout.stride}u + (uintptr_t)${storageSymbol(name)})`;
    fns.push(`static __attribute__((noinline)) void t${fn}(void) {`);
    main.push(`  t${fn++}();`);
    for (const c of cpuList) {
      fns.push(`  percpu_init_reg(${c}); CHECK((uintptr_t)${varFunction(name, "current_ptr")}() == ${varAddr(String(c))}); CHECK((uintptr_t)${varFunction(name, "remote_ptr")}(${c}) == ${varAddr(String(c))});`);
    }
    fns.push("  percpu_init_reg(0);", "}");
    for (const leaf of v.leaves) {
      const indexSets = leaf.indices.length === 0 ? [[]] : [0, 1, -1].map((k) => leaf.indices.map((d) => (k < 0 ? d.length - 1 : k)));
      for (const ix of indexSets) {
        const elementPath = [...leaf.path, ...ix];
        const init = cLiteral(leaf.scalar, initOf(def, elementPath));
        const T = leaf.cType;
        const idx = ix.map((i) => `${i}`);
        const call = (op: Parameters<typeof leafFunction>[1], ...args: string[]): string => `${leafFunction(leaf, op)}(${[...args.slice(0, op.startsWith("remote") ? 1 : 0), ...idx, ...args.slice(op.startsWith("remote") ? 1 : 0)].join(", ")})`;
        const [a, b] = sampleValues(leaf.scalar);
        // Soft-float has no free float compare in freestanding C: floats compare by bits.
        const eq = (x: string, y: string): string => leaf.scalar === "f32" || leaf.scalar === "f64" ? `feq${leaf.size}(${x}, ${y})` : `${x} == ${y}`;
        const out = fns;
        out.push(`static __attribute__((noinline)) void t${fn}(void) {`);
        main.push(`  t${fn++}();`);
        if (!["bool", "f32", "f64"].includes(leaf.scalar)) out.push(`    ${T} x;`);
        out.push(`    percpu_init_reg(0);`);
        for (const c of cpuList) out.push(`    CHECK(${eq(call("remote_read", String(c)), `(${T})${init}`)});`);
        out.push(
          `    CHECK(${eq(call("read_current_raw"), `(${T})${init}`)});`,
          `    CHECK(${eq(call("read_current"), `(${T})${init}`)});`,
          `    ${call("write_current", `(${T})${a}`)}; CHECK(${eq(call("read_current"), `(${T})${a}`)}); CHECK(${eq(call("read_current_raw"), `(${T})${a}`)});`,
          `    ${call("write_current_raw", `(${T})${b}`)}; CHECK(${eq(call("read_current"), `(${T})${b}`)});`,
        );
        if (!["bool", "f32", "f64"].includes(leaf.scalar)) {
          thisCpuCalls += 3;
          out.push(
            `    ${call("write_current", `(${T})${a}`)};`,
            `    x = ${call("read_current")}; ${call("add_current", `(${T})3`)}; CHECK(${eq(call("read_current"), `(${T})(x + (${T})3)`)});`,
            `    x = ${call("read_current")}; ${call("add_current", `(${T})${b}`)}; CHECK(${eq(call("read_current"), `(${T})(x + (${T})${b})`)});`,
            `    x = ${call("read_current")}; ${call("sub_current", `(${T})7`)}; CHECK(${eq(call("read_current"), `(${T})(x - (${T})7)`)});`,
            `    x = ${call("read_current")}; ${call("sub_current", `(${T})${a}`)}; CHECK(${eq(call("read_current"), `(${T})(x - (${T})${a})`)});`,
            `    x = ${call("read_current")}; ${call("and_current", `(${T})${b}`)}; CHECK(${eq(call("read_current"), `(${T})(x & (${T})${b})`)});`,
            `    x = ${call("read_current")}; ${call("or_current", `(${T})${a}`)}; CHECK(${eq(call("read_current"), `(${T})(x | (${T})${a})`)});`,
            `    x = ${call("read_current")}; ${call("xor_current", `(${T})${b}`)}; CHECK(${eq(call("read_current"), `(${T})(x ^ (${T})${b})`)});`,
            `    x = ${call("read_current")}; CHECK(${call("xchg_current", `(${T})${a}`)} == x); CHECK(${eq(call("read_current"), `(${T})${a}`)});`,
            `    CHECK(${eq(call("cmpxchg_current", `(${T})${b}`, `(${T})5`), `(${T})${a}`)}); CHECK(${eq(call("read_current"), `(${T})${a}`)});`,
            `    CHECK(${eq(call("cmpxchg_current", `(${T})${a}`, `(${T})${b}`), `(${T})${a}`)}); CHECK(${eq(call("read_current"), `(${T})${b}`)});`,
          );
        }
        // Remote access: each CPU's own value, seen from CPU 0 and written back from CPU 0.
        for (const c of cpuList.slice(1)) {
          out.push(`    percpu_init_reg(${c}); ${call("write_current", `(${T})(${a} + ${c})`)};`);
        }
        out.push("    percpu_init_reg(0);");
        for (const c of cpuList.slice(1)) {
          out.push(`    CHECK(${eq(call("remote_read", String(c)), `(${T})(${a} + ${c})`)}); ${call("remote_write", String(c), `(${T})${b}`)};`);
        }
        for (const c of cpuList.slice(1)) out.push(`    percpu_init_reg(${c}); CHECK(${eq(call("read_current"), `(${T})${b}`)});`);
        // Every area back to its initial bytes; nothing else in any area changed.
        for (const c of cpuList) {
          out.push(`    percpu_init_reg(${c}); ${varFunction(name, "reset_to_init")}();`);
          resets++;
        }
        out.push("    percpu_init_reg(0);", `    CHECK(${eq(call("read_current"), `(${T})${init}`)});`, "    CHECK(areas_pristine());", "}");
      }
    }
  }
  const guardedPreempt = hooks.includes("percpu_preempt_disable");
  const guardedIrq = hooks.includes("percpu_irq_save");
  main.push(
    `  CHECK(preempt_calls == ${guardedPreempt ? resets + thisCpuCalls : 0}u);`,
    "  CHECK(preempt_depth == 0);",
    `  CHECK(irq_saves == ${guardedIrq ? resets + thisCpuCalls : 0}u && irq_restores == irq_saves && irq_bad == 0);`,
    `  puts_(failures ? "percpu-test FAIL " : "percpu-test PASS "); putu(checks); putc_('\\n');`,
  );
  out.push(...fns, "void test_main(void) {", ...main, "}");
  return out.join("\n") + "\n";
}

const BOOT_S = `
	.section .text.boot, "ax", %progbits
	.globl _start
	.type _start, %function
_start:
	ori $t0, $zero, 8
	csrwr $t0, 0x0                 # CRMD: PLV0, interrupts off, direct addressing
	csrrd $t0, 0x20                # CPUID: only CPU 0 runs the test
	bnez $t0, 2f
	pcalau12i $sp, %pc_hi20(test_stack_top)
	addi.d $sp, $sp, %pc_lo12(test_stack_top)
	bl test_main
	lu12i.w $t0, 0x100e0
	ori $t0, $t0, 0x1c             # ACPI GED sleep control: 0x34 powers off (QEMU exits 0)
	ori $t1, $zero, 0x34
	st.b $t1, $t0, 0
2:	idle 0
	b 2b
	.size _start, . - _start
`;

function immediateAsm(): string {
  return IMMEDIATES.map((n, k) => `\t.text\n\t.globl li_test_${k}\nli_test_${k}:\n${loadImmediate("$a0", n).map((l) => `\t${l}\n`).join("")}\tret\n`).join("");
}

async function bootTest(gen: Generated, defs: readonly Def[], features: FeatureSet, inline: boolean): Promise<string> {
  return await withTempDir("la64-qemu", async (dir) => {
    await gen.write(dir);
    const naive = gen.config.features.naive;
    await writeFile(join(dir, "boot.S"), BOOT_S + immediateAsm());
    await writeFile(join(dir, "test.c"), testProgram(gen, defs, features));
    await writeFile(
      join(dir, "image.ld"),
      [
        "ENTRY(_start)",
        "SECTIONS {",
        "  . = 0x1000000;",
        "  .text : { *(.text.boot) *(.text .text.*) }",
        "  .rodata : { *(.rodata .rodata.*) *(.srodata .srodata.*) }",
        "  .data : { *(.data .data.*) *(.sdata .sdata.*) }",
        "  .bss : { *(.bss .bss.*) *(.sbss .sbss.*) *(COMMON) }",
        naive ? "" : "  INCLUDE percpu.ld",
        "  . = ALIGN(16);",
        "  . += 65536;",
        "  test_stack_top = .;",
        "}",
        "",
      ].join("\n"),
    );
    const cflags = [...FLAGS, "-ffreestanding", "-fno-builtin", "-Wall", "-Werror", "-O2", ...(inline ? ["-DPERCPU_INLINE"] : [])];
    await runOk(CLANG, [...FLAGS, "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
    await runOk(CLANG, [...FLAGS, "-c", "boot.S", "-o", "boot.o"], { cwd: dir });
    await runOk(CLANG, [...cflags, "-c", "test.c", "-o", "test.o"], { cwd: dir });
    await runOk(LLD, ["-T", "image.ld", "-o", "image.elf", "boot.o", "test.o", "percpu.o"], { cwd: dir });
    if (inline) {
      // The inline build really inlines: test_main calls no leaf accessor.
      const calls = (await runOk(OBJDUMP, ["-d", "image.elf"], { cwd: dir })).split("\n").filter((l) => /\bbl\b.*<percpu_\w+_(read|write|add|sub|and|or|xor|xchg|cmpxchg)_/.test(l) || /\bbl\b.*_current_ptr>/.test(l));
      assert.deepEqual(calls, [], "inline accessors are not called");
    }
    const r = await run("qemu-system-loongarch64", ["-M", "virt", "-smp", "1", "-m", "1G", "-nographic", "-nic", "none", "-kernel", "image.elf"], { cwd: dir, input: "", timeoutMs: 60_000 });
    const output = r.stdout.replace(/\r/g, "");
    assert.equal(r.code, 0, `qemu exited ${r.code}:\n${output}\n${r.stderr}`);
    assert.match(output, /percpu-test PASS \d+/, output);
    return output;
  });
}

for (const layout of Object.keys(LAYOUTS) as LayoutName[]) {
  for (const features of ["none", "preempt+irq", "naive"] as const) {
    test(`loongarch64 ${features} ${layout} accessors compute what C computes on qemu-system-loongarch64, extern and inline`, async () => {
      const gen = generate(layout, features);
      const [extern, inline] = await Promise.all([bootTest(gen, LAYOUTS[layout], features, false), bootTest(gen, LAYOUTS[layout], features, true)]);
      const count = (s: string): number => Number(/PASS (\d+)/.exec(s)![1]);
      assert.ok(count(extern) > 100 && count(extern) === count(inline), `${count(extern)} / ${count(inline)} checks`);
    }, { only: ["deno"], timeoutMs: 120_000 });
  }
}

test("loongarch64 preempt-only and irq-only guards call exactly their hooks on qemu", async () => {
  await Promise.all((["preempt", "irq"] as const).map((features) => bootTest(generate("small", features), SMALL, features, false)));
}, { only: ["deno"], timeoutMs: 120_000 });
