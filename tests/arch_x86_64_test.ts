/**
 * The x86_64 backend, proven with the real toolchain: kernel images linked
 * with ld.lld and read back, instruction counts from the disassembly, the
 * inline header compiled, a PIC shared object checked, and user-mode
 * programs run natively (GS base per thread through arch_prctl).
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { aligned, array, bool, createPercpu, f32, f64, i16, i32, i64, i8, isize, PercpuError, struct, u16, u32, u64, u8, usize } from "../mod.ts";
import type { Generated } from "../emit/index.ts";
import type { Features, Mode } from "../sdk/config.ts";
import { type GenInput, generatorInput, type PlacedLeaf } from "../sdk/plan.ts";
import { cMemberPath } from "../arch/c_types.ts";
import { emitHeader } from "../emit/percpu_h.ts";
import { x86_64Backend } from "../arch/x86_64.ts";
import { percpuAssembly } from "../arch/_asm.ts";
import { ARRAY_EXPAND_LIMIT, cTypeName, GUARD_HOOKS, leafFunction, leafOps, offsetMacro, storageSymbol, varFunction } from "../sdk/symbols.ts";
import type { PercpuType } from "../sdk/types.ts";
import { isInteger } from "../sdk/values.ts";
import { test } from "./_harness.ts";
import {
  bodyLength,
  compileInlineHeader,
  disassemble,
  elfSymbols,
  linkKernel,
  run,
  runOk,
  sectionSizes,
  undefinedSymbols,
} from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type FeatureList = (keyof Features)[];

/** A layout mixing every scalar kind, structs, short and long arrays, multi-dim indexing and over-alignment. */
function smallSdk(big = false) {
  const sdk = createPercpu();
  sdk.define("U8V", u8, 200);
  sdk.define("I8V", i8, -100);
  sdk.define("I16V", i16, -5);
  sdk.define("U16V", u16, 65000);
  sdk.define("U32V", u32, 4000000000);
  sdk.define("I32V", i32, -70000);
  sdk.define("U64", u64, 1n << 40n);
  sdk.define("I64", i64, -3n);
  sdk.define("FLAG", bool, true);
  sdk.define("F32V", f32, 1.5);
  sdk.define("F64V", f64, -2.25);
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, s: i8, on: bool }), { irqs: 1n, ticks: 2, s: -1, on: false });
  sdk.define("HIST", array(u16, 4), [1, 2, 3, 4]);
  sdk.define("LONG", array(i32, 40), Array.from({ length: 40 }, (_, i) => -i));
  sdk.define("GRID", array(array(struct({ a: u64, b: i8 }), 20), 18), Array.from({ length: 18 }, () => Array.from({ length: 20 }, () => ({ a: 1n, b: -2 }))));
  sdk.define("HOT", aligned(u64, 128), 9n);
  sdk.define("P", usize, 3n);
  sdk.define("Q", isize, -3n);
  if (big) {
    sdk.define("BIG", array(u8, 70000), Array.from({ length: 70000 }, (_, i) => i % 251));
    sdk.define("AFTER", u64, 5n);
    sdk.define("FAR", f64, 0.125);
  }
  return sdk;
}

function generate(opts: { big?: boolean; mode?: Mode; features?: FeatureList }): Generated {
  const features = opts.features ?? [];
  return smallSdk(opts.big).generate({ functions: true, arch: "x86_64", ...(features.includes("naive") ? {} : { cpus: 4 }), mode: opts.mode ?? "kernel", features });
}

const FEATURE_SETS: { name: string; features: FeatureList }[] = [
  { name: "none", features: [] },
  { name: "preempt", features: ["preempt"] },
  { name: "irq", features: ["irq"] },
  { name: "preempt+irq", features: ["preempt", "irq"] },
  { name: "naive", features: ["naive"] },
];

/** The hooks a feature set must reference. */
function expectedHooks(features: FeatureList): string[] {
  return [
    ...(features.includes("preempt") ? [GUARD_HOOKS[0], GUARD_HOOKS[1]] : []),
    ...(features.includes("irq") ? [GUARD_HOOKS[2], GUARD_HOOKS[3]] : []),
  ].sort();
}

/** Whether a leaf's index can ride in the addressing mode (one dim, stride 1/2/4/8). */
function scaledIndex(leaf: PlacedLeaf): boolean {
  return leaf.indices.length === 1 && [1, 2, 4, 8].includes(leaf.indices[0]!.stride);
}

/** The displacement of the memory operand of an AT&T instruction (`%gs:0x48(,%rdi,4)` → 0x48). */
function displacement(insn: string): number | null {
  const m = /(?:%gs:)?(-?0x[0-9a-f]+|-?\d+)\(|%gs:(0x[0-9a-f]+|\d+)\b/.exec(insn);
  if (!m) return null;
  return Number(m[1] ?? m[2]);
}

async function checkKernelImage(big: boolean, features: FeatureList): Promise<void> {
  const gen = generate({ big, features });
  const naive = features.includes("naive");
  const input = generatorInput(gen.layout, gen.config);
  await withTempDir("x86-kernel", async (dir) => {
    // Naive builds keep the one-area .percpu template too, so percpu.ld proves their layout as well.
    const link = await linkKernel(gen, dir);
    assert.equal(link.code, 0, link.stderr);
    const syms = await elfSymbols(link.elf);
    for (const v of gen.manifest.vars) assert.equal(syms.get(storageSymbol(v.name)), BigInt(v.offset), v.name);
    assert.equal((await sectionSizes(link.elf)).get(".percpu"), gen.manifest.stride * gen.config.cpus);
    assert.equal(syms.get("_percpu_end")! - syms.get("_percpu_start")!, BigInt(gen.manifest.stride * gen.config.cpus));
    const dis = await disassemble(link.elf);
    const fn = (name: string): string[] => {
      const insns = dis.get(name);
      assert.ok(insns, `${name} is missing`);
      // Alignment padding after the return (nopw/nopl/...) is not part of the function.
      const end = insns.findLastIndex((l) => !/^nop/.test(l));
      return insns.slice(0, end + 1);
    };
    let leaves = 0;
    for (const v of input.vars) {
      for (const leaf of v.leaves) {
        leaves++;
        const read = fn(leafFunction(leaf, "read_current_raw"));
        const fast = leaf.indices.length === 0 || scaledIndex(leaf);
        if (fast && !(naive && leaf.indices.length > 0)) {
          assert.equal(bodyLength(read), 1, `${leaf.symbol}: ${read.join("; ")}`);
          // (naive: the displacement is RIP-relative; the native run proves its offsets)
          if (!naive) assert.equal(displacement(read[0]!), leaf.areaOffset, `${leaf.symbol}: ${read[0]}`);
          assert.match(read[0]!, naive ? /\(%rip\)/ : /%gs:/);
          assert.match(read[0]!, /^mov/);
        } else {
          // Index arithmetic first (lea / imul / add), then exactly one access.
          assert.ok(bodyLength(read) <= 1 + 2 * leaf.indices.length, `${leaf.symbol}: ${read.join("; ")}`);
          assert.equal(displacement(read[read.length - 2]!), leaf.areaOffset, `${leaf.symbol}: ${read.join("; ")}`);
        }
        for (const op of leafOps(leaf.scalar)) {
          const body = fn(leafFunction(leaf, op));
          assert.ok(!body.some((l) => /^call/.test(l)), `${leaf.symbol}_${op} calls a hook: ${body.join("; ")}`);
          if (naive || op.startsWith("remote")) assert.ok(!body.some((l) => l.includes("%gs")), `${leaf.symbol}_${op} uses GS`);
        }
        if (isInteger(leaf.scalar) && fast && !(naive && leaf.indices.length > 0)) {
          for (const op of ["add_current", "sub_current", "and_current", "or_current", "xor_current", "write_current"] as const) {
            const body = fn(leafFunction(leaf, op));
            assert.equal(bodyLength(body), 1, `${leaf.symbol}_${op}: ${body.join("; ")}`);
            assert.match(body[0]!, new RegExp(`^${op === "write_current" ? "mov" : op.split("_")[0]}[bwlq] `));
          }
          assert.equal(bodyLength(fn(leafFunction(leaf, "cmpxchg_current"))) <= 3, true);
        }
      }
      const reset = fn(varFunction(v.layout.name, "reset_to_init"));
      assert.equal(reset.filter((l) => /^call/.test(l)).length, expectedHooks(features).length, reset.join("; "));
    }
    assert.ok(leaves > 20);
    const undef = await undefinedSymbols(join(dir, "percpu.o"));
    assert.deepEqual([...undef].filter((s) => (GUARD_HOOKS as readonly string[]).includes(s)).sort(), expectedHooks(features));
    if (naive) assert.ok(!(await runOk("llvm-objdump-19", ["-d", link.elf])).includes("%gs"));
    const inline = await compileInlineHeader(gen, dir);
    assert.equal(inline.code, 0, inline.stderr);
  });
}

for (const big of [false, true]) {
  for (const fs of FEATURE_SETS) {
    test(`x86_64 kernel ${big ? "layout past 64 KiB" : "small layout"} with features ${fs.name} links at the manifest offsets with 1-instruction accessors`, () => checkKernelImage(big, fs.features), { timeoutMs: 60_000 });
  }
}

test("x86_64 generation is byte-identical for identical input", () => {
  for (const features of [[], ["preempt", "irq"], ["naive"]] as FeatureList[]) {
    for (const mode of ["kernel", "user"] as const) {
      const a = generate({ mode, features }).files;
      const b = generate({ mode, features }).files;
      assert.deepEqual(a, b);
    }
  }
});

test("x86_64 kernel mode sets GS_BASE through the MSR and user mode through arch_prctl", () => {
  const kernel = generate({}).files["percpu.S"];
  const user = generate({ mode: "user" }).files["percpu.S"];
  const naive = generate({ features: ["naive"] }).files["percpu.S"];
  const section = (s: string, name: string): string => s.slice(s.indexOf(`${name}:`), s.indexOf(`.size ${name},`));
  assert.match(section(kernel, "percpu_init_reg"), /movl \$3221225729, %ecx\n\twrmsr/);
  assert.match(section(kernel, "percpu_write_reg"), /wrmsr/);
  assert.match(section(user, "percpu_init_reg"), /movl \$4097, %edi\n\tmovl \$158, %eax\n\tsyscall/);
  assert.doesNotMatch(user, /wrmsr|rdmsr/);
  assert.doesNotMatch(naive, /%gs|wrmsr|syscall/);
  assert.match(user, /\.section \.note\.GNU-stack, "", @progbits/);
});

test("x86_64 check() rejects an offset beyond a signed 32-bit displacement", () => {
  const gen = generate({});
  const input = generatorInput(gen.layout, gen.config);
  const v = input.vars[1]!;
  const far: GenInput = { ...input, vars: [{ ...v, leaves: v.leaves.map((l) => ({ ...l, areaOffset: 2 ** 31 })) }] };
  assert.throws(() => x86_64Backend.check(far), (e: unknown) => e instanceof PercpuError && e.code === "offset_out_of_reach" && /2147483648/.test(e.message));
  const edge: GenInput = { ...input, vars: [{ ...v, leaves: v.leaves.map((l) => ({ ...l, areaOffset: 2 ** 31 - 1 })) }] };
  x86_64Backend.check(edge);
  x86_64Backend.check(input);
});

test("x86_64 user mode builds a PIC shared object without text relocations that exports every accessor", async () => {
  for (const features of [[], ["preempt", "irq"]] as FeatureList[]) {
    const gen = generate({ big: true, mode: "user", features });
    await withTempDir("x86-so", async (dir) => {
      await gen.write(dir);
      await runOk("cc", ["-shared", "-fPIC", "-Wl,-z,defs", ...(features.length ? ["-Wl,--unresolved-symbols=ignore-all"] : []), "percpu.S", "-o", "libpercpu.so"], { cwd: dir });
      const dyn = await runOk("readelf", ["-d", join(dir, "libpercpu.so")]);
      assert.doesNotMatch(dyn, /TEXTREL/);
      const exported = new Set((await runOk("nm", ["-D", "--defined-only", join(dir, "libpercpu.so")])).split("\n").map((l) => l.trim().split(/\s+/).pop()!));
      const input = generatorInput(gen.layout, gen.config);
      for (const v of input.vars) {
        for (const op of ["current_ptr", "remote_ptr", "reset_to_init"] as const) assert.ok(exported.has(varFunction(v.layout.name, op)));
        for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) assert.ok(exported.has(leafFunction(leaf, op)), leafFunction(leaf, op));
      }
      for (const internal of ["__percpu_base", "__percpu_num", "__percpu_template", "__percpu_areas"]) assert.ok(!exported.has(internal), internal);
      const undef = await undefinedSymbols(join(dir, "libpercpu.so"));
      assert.deepEqual([...undef].filter((s) => (GUARD_HOOKS as readonly string[]).includes(s)).sort(), expectedHooks(features));
      const inline = await compileInlineHeader(gen, dir);
      assert.equal(inline.code, 0, inline.stderr);
    });
  }
});

// ------------------------------------------------------------------ native run

/** The full C access path of a leaf with every indexed dim at its last element. */
function leafMember(type: PercpuType, leaf: PlacedLeaf): { member: string; idx: string[] } {
  const full: (string | number)[] = [];
  const idx: string[] = [];
  let t = type;
  let pi = 0;
  for (;;) {
    if (t.kind === "aligned") t = t.inner;
    else if (t.kind === "array") {
      if (t.length > ARRAY_EXPAND_LIMIT) {
        full.push(t.length - 1);
        idx.push(`(uintptr_t)${t.length - 1}`);
      } else full.push(leaf.path[pi++] as number);
      t = t.element;
    } else if (t.kind === "struct") {
      const f = leaf.path[pi++] as string;
      full.push(f);
      t = t.fields[f]!;
    } else break;
  }
  return { member: cMemberPath(type, full), idx };
}

/** Test values per C type (signed types get negative values by truncation). */
function values(cType: string): [string, string, string, string] {
  if (cType === "float") return ["1.5f", "-2.25f", "0.0f", "1e30f"];
  if (cType === "double") return ["-1e300", "3.5", "0.0", "0.125"];
  if (cType === "bool") return ["true", "false", "true", "false"];
  return [`(${cType})0xF0E1D2C3B4A59687ull`, `(${cType})0x0123456789ABCDEFull`, `(${cType})0x8000000000000081ull`, `(${cType})0x00FF00FF00FF00FFull`];
}

/**
 * A C program that checks every accessor of a generation natively: offsets
 * against the C typedefs, read/write/raw/remote, RMW semantics, signed and
 * float round trips, reset_to_init, and (extern build) the 64-bit extension of
 * narrow results that FFI callers see.
 */
function programC(gen: Generated, opts: { inline: boolean; hooks: boolean; threads: boolean }): string {
  const input = generatorInput(gen.layout, gen.config);
  const naive = gen.config.features.naive;
  // The CPU whose area the remote ops use (naive mode has one area), and CPU 3 stays untouched.
  const REMOTE = naive ? "0" : "1";
  const out: string[] = [
    ...(opts.inline ? ["#define PERCPU_INLINE"] : []),
    '#include "percpu.h"',
    "#include <stdio.h>",
    "#include <string.h>",
    "#include <pthread.h>",
    "static int fails;",
    '#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\\n", __LINE__, #c); fails++; } } while (0)',
  ];
  if (opts.hooks) {
    out.push(
      "static unsigned long pd, pe, is, ir, misaligned; static uintptr_t last_flags;",
      "static void aligned_check(void *fp) { if ((uintptr_t)fp % 16) misaligned++; }",
      "void percpu_preempt_disable(void) { aligned_check(__builtin_frame_address(0)); pd++; }",
      "void percpu_preempt_enable(void) { aligned_check(__builtin_frame_address(0)); pe++; }",
      "uintptr_t percpu_irq_save(void) { aligned_check(__builtin_frame_address(0)); is++; return 0xF1A65; }",
      "void percpu_irq_restore(uintptr_t f) { aligned_check(__builtin_frame_address(0)); ir++; last_flags = f; }",
      "#define GUARDS_ARE(n) CHECK(pd == (n) && pe == (n) && is == (n) && ir == (n))",
    );
  } else {
    out.push("#define GUARDS_ARE(n) ((void)0)");
  }
  const inits: string[] = [];
  const wideDecls: string[] = [];
  const body: string[] = [];
  for (const v of input.vars) {
    const name = v.layout.name;
    const t = cTypeName(name);
    inits.push(`static const unsigned char init_${name}[${v.layout.size}] = { ${[...v.layout.init].join(", ")} };`);
    // One function per variable keeps the compile time of large layouts linear.
    body.push(`static void check_${name}(void) {`, `CHECK(${offsetMacro(name)} == ${v.layout.offset}u);`);
    body.push(`CHECK((uintptr_t)${varFunction(name, "current_ptr")}() - percpu_read_reg() == ${offsetMacro(name)});`);
    body.push(`CHECK((uintptr_t)${varFunction(name, "remote_ptr")}(${REMOTE}) == percpu_area_base(${REMOTE}) + ${offsetMacro(name)});`);
    body.push(`CHECK(memcmp(${varFunction(name, "current_ptr")}(), init_${name}, sizeof(${t})) == 0);`);
    if (!naive) body.push(`CHECK(memcmp(${varFunction(name, "remote_ptr")}(3), init_${name}, sizeof(${t})) == 0);`);
    for (const leaf of v.leaves) {
      const { member, idx } = leafMember(v.layout.type, leaf);
      const T = leaf.cType;
      const f = (op: Parameters<typeof leafFunction>[1]): string => leafFunction(leaf, op);
      const call = (op: Parameters<typeof leafFunction>[1], ...args: string[]): string => `${f(op)}(${[...idx, ...args].join(", ")})`;
      const rcall = (op: Parameters<typeof leafFunction>[1], ...args: string[]): string => `${f(op)}(${[REMOTE, ...idx, ...args].join(", ")})`;
      const [A, B, C, D] = values(T);
      body.push("{");
      body.push(`  ${T} *p = &(*${varFunction(name, "current_ptr")}())${member};`);
      body.push(`  ${T} *rp = &(*${varFunction(name, "remote_ptr")}(${REMOTE}))${member};`);
      body.push(`  CHECK(*p == *rp);`);
      body.push(`  CHECK(${call("read_current")} == *p && ${call("read_current_raw")} == *p);`);
      body.push(`  ${call("write_current", A)}; CHECK(*p == ${A});`);
      body.push(`  CHECK(${call("read_current")} == ${A}); CHECK(${call("read_current_raw")} == ${A});`);
      body.push(`  ${call("write_current_raw", B)}; CHECK(*p == ${B}); CHECK(${call("read_current")} == ${B});`);
      body.push(`  ${rcall("remote_write", C)}; CHECK(*rp == ${C}); CHECK(${rcall("remote_read")} == ${C}); CHECK(*p == (rp == p ? ${C} : ${B}));`);
      body.push(`  ${call("write_current_raw", B)};`);
      if (isInteger(leaf.scalar)) {
        body.push(
          `  ${T} e = ${B};`,
          `  ${call("add_current", C)}; e = (${T})(e + ${C}); CHECK(*p == e);`,
          `  ${call("sub_current", A)}; e = (${T})(e - ${A}); CHECK(*p == e);`,
          `  ${call("and_current", D)}; e = (${T})(e & ${D}); CHECK(*p == e);`,
          `  ${call("or_current", C)}; e = (${T})(e | ${C}); CHECK(*p == e);`,
          `  ${call("xor_current", A)}; e = (${T})(e ^ ${A}); CHECK(*p == e);`,
          `  ${T} o = ${call("xchg_current", B)}; CHECK(o == e); CHECK(*p == ${B});`,
          `  o = ${call("cmpxchg_current", B, C)}; CHECK(o == ${B}); CHECK(*p == ${C});`,
          `  o = ${call("cmpxchg_current", B, A)}; CHECK(o == ${C}); CHECK(*p == ${C});`,
        );
      } else if (T === "bool") {
        body.push(`  ${call("write_current", "true")}; CHECK(*(unsigned char *)p == 1); CHECK(${call("read_current")} == 1);`);
      }
      if (!opts.inline && idx.length === 0 && T !== "float" && T !== "double") {
        // What an FFI caller reading the whole of %rax sees: narrow results are zero- or sign-extended.
        // Declared like an FFI signature that reads all of %rax (asm labels bind them to the same symbols).
        const wide = (op: Parameters<typeof leafFunction>[1], params: string): string => {
          wideDecls.push(`int64_t wide_${f(op)}(${params}) __asm__("${f(op)}");`);
          return `wide_${f(op)}`;
        };
        body.push(
          `  ${call("write_current", A)};`,
          `  CHECK(${wide("read_current_raw", "void")}() == (int64_t)(${T})${A});`,
          `  CHECK(${wide("remote_read", "uintptr_t")}(0) == (int64_t)(${T})${A});`,
        );
        if (isInteger(leaf.scalar)) {
          body.push(
            `  CHECK(${wide("xchg_current", T)}(${B}) == (int64_t)(${T})${A});`,
            `  CHECK(${wide("cmpxchg_current", `${T}, ${T}`)}(${B}, ${A}) == (int64_t)(${T})${B});`,
          );
        }
      }
      body.push("}");
    }
    body.push(`GUARDS_ARE(guards);`);
    body.push(`CHECK(memcmp(${varFunction(name, "current_ptr")}(), init_${name}, sizeof(${t})) != 0 || sizeof(${t}) < 2);`);
    body.push(`${varFunction(name, "reset_to_init")}(); ${opts.hooks ? "guards++;" : ""}`);
    body.push(`GUARDS_ARE(guards);`);
    body.push(`CHECK(memcmp(${varFunction(name, "current_ptr")}(), init_${name}, sizeof(${t})) == 0);`);
    if (!naive) body.push(`CHECK(memcmp(${varFunction(name, "remote_ptr")}(3), init_${name}, sizeof(${t})) == 0);`);
    body.push("}");
  }
  out.push(...inits, ...wideDecls, ...(opts.hooks ? ["static unsigned long guards;"] : []), ...body);
  if (opts.threads) {
    out.push(
      "#define N 200000",
      "static uintptr_t worker_reg;",
      "static void *worker(void *arg) {",
      "  (void)arg; percpu_init_reg(2); worker_reg = percpu_read_reg();",
      "  for (int i = 0; i < N; i++) { percpu_U64_add_current(1); percpu_I16V_sub_current(1); }",
      "  return 0;",
      "}",
    );
  }
  out.push(
    "int main(void) {",
    ...(gen.config.features.naive
      // naive = the seed's sp-naive: the one area exists from the start and init ignores its arguments (Ok(1)).
      ? [`  CHECK(percpu_area_num() == 1);`, `  CHECK(percpu_init(0, 4) == 1); CHECK(percpu_init(64 + 8, 4) == 1); CHECK(percpu_area_base(0) == percpu_read_reg());`]
      : [`  CHECK(percpu_init(0, 4) == -1); CHECK(percpu_init(64 + 8, 4) == -2);`, `  CHECK(percpu_area_num() == 0);`]),
    `  CHECK(percpu_init_in_place() == ${gen.config.cpus});`,
    `  CHECK(percpu_area_num() == ${gen.config.cpus}); CHECK(percpu_area_size() == PERCPU_AREA_SIZE);`,
    `  CHECK(percpu_area_base(1) - percpu_area_base(0) == PERCPU_STRIDE); CHECK(percpu_area_base(0) % PERCPU_AREA_ALIGN == 0);`,
    ...(gen.config.features.naive
      ? ["  percpu_init_reg(0); CHECK(percpu_read_reg() == percpu_area_base(0));"]
      : [
        "  percpu_init_reg(1); CHECK(percpu_read_reg() == percpu_area_base(1));",
        "  percpu_write_reg(percpu_area_base(2)); CHECK(percpu_read_reg() == percpu_area_base(2));",
        "  percpu_init_reg(0); CHECK(percpu_read_reg() == percpu_area_base(0));",
        "  for (uintptr_t c = 0; c < 4; c++) CHECK(*(uintptr_t *)percpu_area_base(c) == percpu_area_base(c));",
      ]),
    ...input.vars.map((v) => `  check_${v.layout.name}();`),
  );
  if (opts.threads) {
    out.push(
      "  { pthread_t th; uint64_t before = percpu_U64_read_current(); int16_t s2 = percpu_I16V_remote_read(2);",
      "    CHECK(pthread_create(&th, 0, worker, 0) == 0);",
      "    for (int i = 0; i < N; i++) percpu_U64_add_current(2);",
      "    CHECK(pthread_join(th, 0) == 0);",
      "    CHECK(worker_reg == percpu_area_base(2)); CHECK(percpu_read_reg() == percpu_area_base(0));",
      "    CHECK(percpu_U64_read_current() == before + 2 * (uint64_t)N);",
      "    CHECK(percpu_U64_remote_read(2) == before + (uint64_t)N);",
      "    CHECK(percpu_I16V_remote_read(2) == (int16_t)(s2 - N)); }",
    );
  }
  if (opts.hooks) out.push("  CHECK(misaligned == 0); CHECK(last_flags == 0xF1A65); CHECK(guards > 10);");
  out.push('  if (fails == 0) printf("OK\\n");', "  return fails != 0;", "}", "");
  return out.join("\n");
}

async function runProgram(gen: Generated, opts: { inline: boolean; hooks: boolean; threads: boolean }): Promise<void> {
  await withTempDir("x86-run", async (dir) => {
    await gen.write(dir);
    await writeFile(join(dir, "main.c"), programC(gen, opts));
    // -O2 where inlining matters; the extern build only calls out, -O1 compiles it faster.
    await runOk("cc", [opts.inline ? "-O2" : "-O1", "-Wall", "-Werror", "-pthread", "main.c", "percpu.S", "-o", "main"], { cwd: dir, timeoutMs: 60_000 });
    const r = await run(join(dir, "main"), [], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.stdout.trim(), "OK", `exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.equal(r.code, 0);
  });
}

test("x86_64 user-mode accessors run natively with exact offsets, RMW semantics and per-thread GS bases", async () => {
  await runProgram(generate({ big: true, mode: "user" }), { inline: false, hooks: false, threads: true });
}, { timeoutMs: 60_000 });

test("x86_64 user-mode inline accessors of percpu.h behave like the extern ones", async () => {
  await runProgram(generate({ big: true, mode: "user" }), { inline: true, hooks: false, threads: true });
}, { timeoutMs: 60_000 });

test("x86_64 guards wrap only reset_to_init, once each, with an aligned stack and the saved irq flags", async () => {
  await runProgram(generate({ mode: "user", features: ["preempt", "irq"] }), { inline: false, hooks: true, threads: false });
}, { timeoutMs: 60_000 });

test("x86_64 naive mode runs with plain globals, extern and inline", async () => {
  const big = smallSdk(true).generate({ functions: true, arch: "x86_64", mode: "user", features: ["naive"] });
  const small = smallSdk(false).generate({ functions: true, arch: "x86_64", mode: "user", features: ["naive"] });
  await Promise.all([runProgram(big, { inline: false, hooks: false, threads: false }), runProgram(small, { inline: true, hooks: false, threads: false })]);
}, { timeoutMs: 60_000 });

test("x86_64 accessors with more integer arguments than registers read indices and values from the stack", async () => {
  // A 64-byte array reached through a synthetic six-dimensional leaf (strides 32..1, two elements each):
  // remote_write takes cpu + 6 indices + v (i5 and v on the stack), cmpxchg 6 indices + 2 values.
  const sdk = createPercpu();
  sdk.define("CUBE", array(u8, 64), Array.from({ length: 64 }, (_, i) => i));
  const gen = sdk.generate({ functions: true, arch: "x86_64", cpus: 2, mode: "user" });
  const real = generatorInput(gen.layout, gen.config);
  const v = real.vars[0]!;
  const dims = [32, 16, 8, 4, 2, 1].map((stride) => ({ length: 2, stride }));
  const input: GenInput = { ...real, vars: [{ ...v, leaves: [{ ...v.leaves[0]!, indices: dims }], u128Leaves: [] }] };
  await withTempDir("x86-stack", async (dir) => {
    await writeFile(join(dir, "percpu.S"), percpuAssembly(x86_64Backend, input).text());
    await writeFile(join(dir, "percpu.h"), emitHeader(x86_64Backend, input, { functions: true }));
    const main = (inline: boolean): string => [
      ...(inline ? ["#define PERCPU_INLINE"] : []),
      '#include "percpu.h"',
      "#include <stdio.h>",
      "int main(void) {",
      "  int fails = 0;",
      "  percpu_init_in_place(); percpu_init_reg(0);",
      "  uint8_t *cur = *percpu_CUBE_current_ptr(), *rem = *percpu_CUBE_remote_ptr(1);",
      "  for (uintptr_t k = 0; k < 64; k++) {",
      "    uintptr_t a = k >> 5 & 1, b = k >> 4 & 1, c = k >> 3 & 1, d = k >> 2 & 1, e = k >> 1 & 1, f = k & 1;",
      "    if (percpu_CUBE_read_current(a, b, c, d, e, f) != k) fails++;",
      "    percpu_CUBE_remote_write(1, a, b, c, d, e, f, (uint8_t)(100 + k)); if (rem[k] != 100 + k) fails++;",
      "    if (percpu_CUBE_remote_read(1, a, b, c, d, e, f) != 100 + k) fails++;",
      "    if (percpu_CUBE_cmpxchg_current(a, b, c, d, e, f, (uint8_t)k, (uint8_t)(k + 1)) != k || cur[k] != k + 1) fails++;",
      "    if (percpu_CUBE_cmpxchg_current(a, b, c, d, e, f, (uint8_t)k, 7) != k + 1 || cur[k] != k + 1) fails++;",
      "    if (percpu_CUBE_xchg_current(a, b, c, d, e, f, 3) != k + 1 || cur[k] != 3) fails++;",
      "    percpu_CUBE_add_current(a, b, c, d, e, f, 4); if (cur[k] != 7) fails++;",
      "  }",
      '  printf(fails ? "FAIL %d\\n" : "OK\\n", fails);',
      "  return fails != 0;",
      "}",
      "",
    ].join("\n");
    for (const inline of [false, true]) {
      await writeFile(join(dir, "main.c"), main(inline));
      await runOk("cc", ["-O2", "-Wall", "-Werror", "main.c", "percpu.S", "-o", "main"], { cwd: dir });
      const r = await run(join(dir, "main"), [], { cwd: dir });
      assert.equal(r.stdout.trim(), "OK", `${inline ? "inline" : "extern"}: ${r.stdout}${r.stderr}`);
    }
    const asm = percpuAssembly(x86_64Backend, input).text();
    const remoteWrite = asm.slice(asm.indexOf("percpu_CUBE_remote_write:"), asm.indexOf(".size percpu_CUBE_remote_write"));
    assert.ok(remoteWrite.includes("8(%rsp)") && remoteWrite.includes("16(%rsp)"), remoteWrite);
  });
});
