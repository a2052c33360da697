/**
 * Name rules, proven with the real tools: register and assembler operator
 * names (`SP`, `PTR`, `OFFSET`, `rax`, `x30`, ...) and names equal ignoring
 * case (`sp`, `SP`) are accepted, as variables and as struct fields. For every
 * target (aarch64 with and without el2), with and without the per-variable
 * functions, `percpu.S` is assembled, a C file using the generic accessors on
 * those names is compiled with clang-19 and both are linked with ld.lld-19
 * through `percpu.ld`; on the host the same names run natively (gcc, GNU as,
 * GNU ld) and through FFI. What still collides is still rejected: C keywords,
 * a leading `_`, `__`, bad identifiers, too long, non-strings, and names whose
 * generated symbols the SDK already uses.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import {
  array,
  bool,
  createPercpu,
  f64,
  type GenerateOptions,
  PercpuError,
  type PercpuErrorCode,
  type PercpuSdk,
  type PercpuType,
  struct,
  type Target,
  u16,
  u32,
  u64,
  u8,
} from "../mod.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { CLANG, elfSymbols, LLD, NM, run, runOk } from "./_toolchain.ts";

/** Register and operator names of the five targets, in mixed case; `RAX`/`rax` and `SP`/`sp` are both defined. */
const REGISTER_NAMES = ["PTR", "SP", "PC", "LR", "FP", "TP", "GP", "OFFSET", "ZERO", "CR3", "FS", "S1", "X0", "W0", "BYTE", "RAX", "rax", "sp", "a0", "t0", "r21", "x30"] as const;

/** Scalar types cycled over {@link REGISTER_NAMES}. */
const SCALARS = [u64, u32, u16, u8] as const;

/** Initial value of the i-th register-named variable (distinct, fits in a u8). */
const initOf = (i: number): number => 10 + i;

/** A struct whose fields are named like registers, and a long (indexed) array of them. */
const REGS_T = struct({ sp: u64, pc: u32, lr: u64, x0: u8, rax: u16, OFFSET: u32, ra: bool, fp: f64 });
const FRAMES_T = array(struct({ ra: u64, fp: u32 }), 20);

/** Defines every register-named variable plus `REGS` and `FRAMES` on a fresh instance. */
function registerNamed(): PercpuSdk {
  const sdk = createPercpu();
  REGISTER_NAMES.forEach((name, i) => sdk.define(name, SCALARS[i % SCALARS.length]!, initOf(i) as never));
  sdk.define("REGS", REGS_T, { sp: 0x1000n, pc: 0x20, lr: 0x30n, x0: 4, rax: 5, OFFSET: 6, ra: true, fp: 1.5 });
  sdk.define("FRAMES", FRAMES_T, Array.from({ length: 20 }, (_, i) => ({ ra: BigInt(100 + i), fp: 200 + i })));
  return sdk;
}

/** Kernel C using the generic accessors on the register names (and, with functions, the per-variable functions). */
function kernelC(functions: boolean): string {
  return [
    '#include "percpu.h"',
    "volatile uint64_t percpu_test_sink;",
    "static void sink(uint64_t v) { percpu_test_sink = v; }",
    "uint64_t kmain(void);",
    "uint64_t kmain(void) {",
    "  percpu_init_in_place();",
    "  percpu_init_reg(0);",
    "  sink(percpu_read_current(SP));",
    "  sink(percpu_read_current(sp));",
    "  percpu_add_current(PTR, 1);",
    "  percpu_sub_current(OFFSET, 1);",
    "  percpu_write_current(ZERO, 0);",
    "  sink(percpu_read_current_raw(RAX) + percpu_read_current_raw(rax));",
    "  sink(percpu_xchg_current(x30, 3));",
    "  sink(percpu_cmpxchg_current(r21, 1, 2));",
    "  sink(percpu_remote_read(CR3, 1));",
    "  percpu_remote_write(BYTE, 1, 7);",
    "  sink(percpu_read_current(REGS__sp));",
    "  percpu_write_current(REGS__pc, 5);",
    "  percpu_add_current(REGS__OFFSET, 1);",
    "  percpu_or_current(REGS__rax, 1);",
    "  sink(percpu_read_current(REGS__ra));",
    "  sink(percpu_current_ptr(REGS)->lr + percpu_remote_ptr(REGS, 1)->x0);",
    "  sink(percpu_read_current_at(FRAMES__ra, 3));",
    "  percpu_add_current_at(FRAMES__fp, 1, 19);",
    "  percpu_reset_to_init(REGS);",
    "  sink(PERCPU_SP_OFFSET + PERCPU_sp_OFFSET + sizeof(percpu_OFFSET_t));",
    ...(functions ? ["  sink(percpu_SP_read_current_raw() + percpu_sp_read_current());", "  percpu_REGS__sp_add_current(1);", "  sink((uintptr_t)percpu_PTR_current_ptr());"] : []),
    "  return percpu_test_sink;",
    "}",
    "",
  ].join("\n");
}

const KERNEL_LD = (base: string): string =>
  `ENTRY(kmain)\nSECTIONS {\n  . = ${base};\n  .text : { *(.text .text.*) }\n  .rodata : { *(.rodata .rodata.*) }\n  .data : { *(.data .data.*) }\n  .bss : { *(.bss .bss.*) }\n  INCLUDE percpu.ld\n}\n`;

/** Link address per target (where the firmware links kernels). */
const LINK_BASE: Record<Target, string> = { x86_64: "0x100000", aarch64: "0x40100000", riscv64: "0x80000000", riscv32: "0x80000000", loongarch64: "0x1000000" };

/** Every generation the test builds: each target, aarch64 also with el2. */
const VARIANTS: readonly { readonly arch: Target; readonly features: NonNullable<GenerateOptions["features"]>; readonly label: string }[] = [
  { arch: "x86_64", features: [], label: "x86_64" },
  { arch: "aarch64", features: [], label: "aarch64" },
  { arch: "aarch64", features: ["el2"], label: "aarch64 el2" },
  { arch: "riscv64", features: [], label: "riscv64" },
  { arch: "riscv32", features: [], label: "riscv32" },
  { arch: "loongarch64", features: [], label: "loongarch64" },
];

for (const { arch, features, label } of VARIANTS) {
  for (const functions of [false, true]) {
    test(`names: ${label}${functions ? " with functions" : ""}: register-named variables and fields assemble, compile with the generic accessors and link through percpu.ld`, () =>
      withTempDir(`names-${arch}`, async (dir) => {
        const gen = registerNamed().generate({ arch, cpus: 2, features, functions });
        await gen.write(dir);
        const flags = [...backendFor(arch).clangFlags];
        await writeFile(join(dir, "main.c"), kernelC(functions));
        await writeFile(join(dir, "k.ld"), KERNEL_LD(LINK_BASE[arch]));
        await runOk(CLANG, [...flags, "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
        await runOk(CLANG, [...flags, "-ffreestanding", "-Wall", "-Werror", "-O2", "-c", "main.c", "-o", "main.o"], { cwd: dir });
        await runOk(LLD, ["-T", "k.ld", "-o", "k.elf", "main.o", "percpu.o"], { cwd: dir });
        // Names equal ignoring case are distinct symbols at their own offsets (percpu.ld ASSERTs each one too).
        const syms = await elfSymbols(join(dir, "k.elf"));
        for (const v of gen.manifest.vars) assert.equal(syms.get(`__PERCPU_${v.name}`), BigInt(v.offset), v.name);
        assert.notEqual(syms.get("__PERCPU_SP"), syms.get("__PERCPU_sp"));
        assert.notEqual(syms.get("__PERCPU_RAX"), syms.get("__PERCPU_rax"));
        if (functions) {
          const defined = await runOk(NM, ["--defined-only", join(dir, "percpu.o")]);
          for (const f of ["percpu_SP_read_current", "percpu_sp_read_current", "percpu_RAX_add_current", "percpu_rax_add_current", "percpu_REGS__sp_read_current", "percpu_REGS__OFFSET_write_current"]) {
            assert.match(defined, new RegExp(` T ${f}$`, "m"), f);
          }
        }
      }));
  }
}

/** Host program: reads every register-named variable's initial value, then changes `SP` and `RAX` and checks `sp` and `rax` stay. */
function hostC(): string {
  const checks = REGISTER_NAMES.map((n, i) => `  CHECK("${n}", percpu_read_current(${n}), ${initOf(i)});`);
  return [
    "#include <stdio.h>",
    '#include "percpu.h"',
    "static int fails, checks;",
    '#define CHECK(what, got, want) do { checks++; if ((long long)(got) != (long long)(want)) { fails++; printf("FAIL %s: got %lld want %lld\\n", what, (long long)(got), (long long)(want)); } } while (0)',
    "int main(void) {",
    "  percpu_init_in_place();",
    "  percpu_init_reg(1);",
    ...checks,
    `  percpu_write_current(SP, 1000); percpu_add_current(RAX, 5);`,
    `  CHECK("SP written", percpu_read_current(SP), 1000);`,
    `  CHECK("sp untouched", percpu_read_current(sp), ${initOf(REGISTER_NAMES.indexOf("sp"))});`,
    `  CHECK("RAX added", percpu_read_current(RAX), ${initOf(REGISTER_NAMES.indexOf("RAX")) + 5});`,
    `  CHECK("rax untouched", percpu_read_current(rax), ${initOf(REGISTER_NAMES.indexOf("rax"))});`,
    `  CHECK("other CPU", percpu_remote_read(SP, 0), ${initOf(REGISTER_NAMES.indexOf("SP"))});`,
    `  CHECK("REGS.sp", percpu_read_current(REGS__sp), 0x1000);`,
    `  percpu_add_current(REGS__OFFSET, 10); CHECK("REGS.OFFSET", percpu_current_ptr(REGS)->OFFSET, 16);`,
    `  CHECK("REGS.rax", percpu_read_current(REGS__rax), 5);`,
    `  CHECK("FRAMES[19].ra", percpu_read_current_at(FRAMES__ra, 19), 119);`,
    '  printf("ok %d fails %d\\n", checks, fails);',
    "  return fails != 0;",
    "}",
    "",
  ].join("\n");
}

for (const functions of [false, true]) {
  test(`names: x86_64 user mode${functions ? " with functions" : ""}: register-named variables run natively with gcc, GNU as and GNU ld, and case variants keep their own storage`, () =>
    withTempDir("names-host", async (dir) => {
      await registerNamed().generate({ arch: "x86_64", mode: "user", cpus: 2, functions }).write(dir);
      await writeFile(join(dir, "main.c"), hostC());
      await runOk("cc", ["-O2", "-Wall", "-Werror", "-o", "host", "main.c", "percpu.S"], { cwd: dir });
      const r = await run(join(dir, "host"), []);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok \d+ fails 0$/m);
    }), { only: ["deno"] });
}

test("names: through FFI, register-named variables read and write, and SP / sp are separate variables", async () => {
  const sdk = createPercpu();
  const SP = sdk.define("SP", u64, 7n);
  const sp = sdk.define("sp", u64, 9n);
  const PTR = sdk.define("PTR", u32, 1);
  const REGS = sdk.define("REGS", struct({ sp: u64, pc: u32 }), { sp: 0x1000n, pc: 4 });
  await sdk.load({ cpus: 2 });
  try {
    assert.equal(sdk.init(2), 2);
    sdk.initPercpuReg(1);
    assert.equal(SP.readCurrent(), 7n);
    SP.writeCurrent(0xdeadn);
    PTR.addCurrent(1);
    assert.equal(SP.readCurrent(), 0xdeadn);
    assert.equal(sp.readCurrent(), 9n, "sp keeps its own storage");
    assert.equal(PTR.readCurrent(), 2);
    assert.equal(SP.remoteRead(0), 7n, "the other CPU is untouched");
    assert.deepEqual(REGS.readCurrent(), { sp: 0x1000n, pc: 4 });
    assert.notEqual(SP.offset(), sp.offset());
  } finally {
    sdk.close();
  }
});

test("names: GNU as and LLVM compare symbols case-sensitively; GNU as .macro names are not, and no generated percpu.S defines a macro", () =>
  withTempDir("names-case", async (dir) => {
    const symbols = ".data\n.globl __PERCPU_sp, __PERCPU_SP\n__PERCPU_sp: .byte 1\n__PERCPU_SP: .byte 2\n";
    await writeFile(join(dir, "sym.s"), symbols);
    await runOk("as", ["sym.s", "-o", "gas.o"], { cwd: dir });
    await runOk(CLANG, ["--target=x86_64-unknown-none-elf", "-c", "sym.s", "-o", "llvm.o"], { cwd: dir });
    for (const obj of ["gas.o", "llvm.o"]) {
      const syms = await elfSymbols(join(dir, obj));
      assert.deepEqual([syms.get("__PERCPU_sp"), syms.get("__PERCPU_SP")], [0n, 1n], obj);
    }
    await writeFile(join(dir, "macro.s"), ".macro m_sp\nnop\n.endm\n.macro m_SP\nnop\n.endm\n");
    const gas = await run("as", ["macro.s", "-o", "macro.o"], { cwd: dir });
    assert.notEqual(gas.code, 0, "GNU as folds the case of macro names");
    assert.match(gas.stderr, /already defined/);
    // So a generator that emitted one macro per variable would need a case rule; none does.
    const sdk = registerNamed();
    for (const { arch, features } of VARIANTS) {
      for (const mode of ["kernel", "user"] as const) {
        if (mode === "user" && arch !== "x86_64") continue;
        const s = sdk.generate({ arch, features, mode, functions: true }).files["percpu.S"];
        assert.doesNotMatch(s, /^\s*\.macro\b/m, `${arch} ${mode} percpu.S defines a macro`);
      }
    }
  }), { only: ["deno"] });

// ---------------------------------------------------------------- what still fails

/** The error of a define() that must fail. */
function defineError(act: (sdk: PercpuSdk) => unknown): PercpuError {
  const sdk = createPercpu();
  try {
    act(sdk);
  } catch (e) {
    assert.ok(e instanceof PercpuError, `expected a PercpuError, got ${String(e)}`);
    assert.equal(sdk.vars.length, 0, "nothing was defined");
    return e;
  }
  assert.fail("expected a PercpuError, nothing was thrown");
}

/** Zero of a (hand-built) struct of u8 fields and nested structs. */
function zeroOf(t: PercpuType): unknown {
  return t.kind === "struct" ? Object.fromEntries(Object.entries(t.fields).map(([k, f]) => [k, zeroOf(f)])) : 0;
}

/** A struct type built by hand: `struct()` itself would reject the bad field names before define() sees them. */
const rawStruct = (fields: Record<string, unknown>): PercpuType => ({ kind: "struct", fields } as unknown as PercpuType);

const rejected: { name: unknown; type?: PercpuType; code: PercpuErrorCode; mentions: string[] }[] = [
  { name: "int", code: "name_reserved_word", mentions: [`"int"`, "C keyword"] },
  { name: "while", code: "name_reserved_word", mentions: [`"while"`, "C keyword"] },
  { name: "bool", code: "name_reserved_word", mentions: [`"bool"`, "C keyword"] },
  { name: "_Atomic", code: "name_reserved_word", mentions: [`"_Atomic"`, "C keyword"] },
  { name: "_x", code: "name_reserved_prefix", mentions: [`"_x"`, "leading underscore"] },
  { name: "_SP", code: "name_reserved_prefix", mentions: [`"_SP"`, "leading underscore"] },
  { name: "a__b", code: "name_double_underscore", mentions: [`"a__b"`, `"__"`] },
  { name: "SP__", code: "name_double_underscore", mentions: [`"SP__"`, `"__"`] },
  { name: "", code: "name_not_identifier", mentions: [`name ""`, "C identifier"] },
  { name: "1abc", code: "name_not_identifier", mentions: [`"1abc"`, "C identifier"] },
  { name: "a\nb", code: "name_not_identifier", mentions: [`"a\\nb"`] },
  { name: "N".repeat(65), code: "name_too_long", mentions: [`"${"N".repeat(65)}"`, "65 characters", "at most 64"] },
  { name: "N".repeat(500), code: "name_too_long", mentions: [`"${"N".repeat(100)}"...`, "500 characters"] },
  { name: 42, code: "name_not_identifier", mentions: ["got 42"] },
  { name: 42n, code: "name_not_identifier", mentions: ["got 42n"] },
  { name: null, code: "name_not_identifier", mentions: ["got null"] },
  { name: undefined, code: "name_not_identifier", mentions: ["got undefined"] },
  { name: { toString: () => "SP" }, code: "name_not_identifier", mentions: ["got an object"] },
  { name: "REGS", type: rawStruct({ for: u8 }), code: "name_reserved_word", mentions: [`field name "for" of "REGS"`, "C keyword"] },
  { name: "REGS", type: rawStruct({ _sp: u8 }), code: "name_reserved_prefix", mentions: [`field name "_sp" of "REGS"`] },
  { name: "REGS", type: rawStruct({ inner: rawStruct({ s__p: u8 }) }), code: "name_double_underscore", mentions: [`field name "s__p" of "REGS.inner"`] },
  { name: "SELF", code: "name_symbol_clash", mentions: [`"SELF"`, `"PERCPU_SELF_OFFSET"`] },
];
// Field names are written bare into percpu.h's typedefs: C++ keywords, standard macros and the header's own macro prefix collide there.
for (const [field, code, mention] of [
  ["new", "name_reserved_word", "C++ keyword"],
  ["class", "name_reserved_word", "C++ keyword"],
  ["xor", "name_reserved_word", "C++ keyword"],
  ["SIZE_MAX", "name_reserved_word", "<stdint.h>"],
  ["INT8_MAX", "name_reserved_word", "<stdint.h>"],
  ["INT64_WIDTH", "name_reserved_word", "<stdint.h>"],
  ["NULL", "name_reserved_word", "<stddef.h>"],
  ["PERCPU_STRIDE", "name_reserved_prefix", `"PERCPU_"`],
  ["PERCPU_A_OFFSET", "name_reserved_prefix", `"PERCPU_"`],
] as const) {
  rejected.push({ name: "REGS", type: rawStruct({ [field]: u8 }), code, mentions: [`field name "${field}" of "REGS"`, mention] });
}

for (const r of rejected) {
  const shown = typeof r.name === "string"
    ? (r.name.length > 20 ? `a ${r.name.length}-character name` : JSON.stringify(r.name))
    : typeof r.name === "bigint" ? `${r.name}n` : typeof r.name === "object" && r.name !== null ? "an object" : String(r.name);
  const field = r.type?.kind === "struct" ? ` with field ${Object.keys(r.type.fields).join()}` : "";
  test(`names: define() still rejects ${shown}${field} as ${r.code}, quoting the value`, () => {
    const e = defineError((sdk) => sdk.define(r.name as string, (r.type ?? u8) as PercpuType, (r.type ? zeroOf(r.type) : 0) as never));
    assert.equal(e.code, r.code, e.message);
    for (const m of r.mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} does not mention ${m}`);
    assert.match(e.message, /^[A-Z]/);
  });
}

test("names: the field rules guard real collisions: a bare member named SIZE_MAX or NULL breaks C, new breaks C++, PERCPU_STRIDE breaks percpu.h; near misses compile", () =>
  withTempDir("names-fields", async (dir) => {
    const compile = async (lang: "c" | "c++", member: string, pre = ""): Promise<number> => {
      await writeFile(join(dir, "f.h"), `${pre}#include <stdint.h>\n#define PERCPU_STRIDE 64u\nstruct s { uint64_t ${member}; };\n`);
      return (await run(CLANG, [`-x${lang}`, "-fsyntax-only", "-Wall", "-Werror", "f.h"], { cwd: dir })).code;
    };
    for (const bad of ["SIZE_MAX", "INT8_MAX", "UINTPTR_MAX", "PERCPU_STRIDE"]) assert.notEqual(await compile("c", bad), 0, bad);
    assert.notEqual(await compile("c", "NULL", "#include <stddef.h>\n"), 0, "NULL");
    for (const bad of ["new", "class", "xor", "INT64_WIDTH", "char16_t"]) assert.notEqual(await compile("c++", bad), 0, bad);
    for (const ok of ["sp", "SP", "rax", "x0", "OFFSET", "PTR", "INT8_C", "uint64_t", "SIZE", "MAX", "PERCPU"]) {
      assert.equal(await compile("c", ok), 0, ok);
      assert.equal(await compile("c++", ok), 0, ok);
    }
    // ... and define() agrees on the near misses.
    const sdk = createPercpu();
    sdk.define("REGS", struct({ INT8_C: u8, uint64_t: u8, SIZE: u8, MAX: u8, PERCPU: u8, percpu_x: u8, NULL_: u8 }), { INT8_C: 0, uint64_t: 0, SIZE: 0, MAX: 0, PERCPU: 0, percpu_x: 0, NULL_: 0 });
  }), { only: ["deno"] });

test("names: a name clashing with the SDK's symbol space fails in either order, and its case variants do not clash", () => {
  const clash = (defs: readonly string[]): string[] => {
    const sdk = createPercpu();
    return defs.map((n) => {
      try {
        sdk.define(n, u8, 0);
        return "ok";
      } catch (e) {
        if (!(e instanceof PercpuError)) throw e;
        return e.code;
      }
    });
  };
  assert.deepEqual(clash(["SELF"]), ["name_symbol_clash"]);
  assert.deepEqual(clash(["self", "Self", "sELF"]), ["ok", "ok", "ok"]);
  assert.deepEqual(clash(["L_X", "X_OFFSET"]), ["ok", "name_symbol_clash"]);
  assert.deepEqual(clash(["X_OFFSET", "L_X"]), ["ok", "name_symbol_clash"]);
  assert.deepEqual(clash(["l_x", "X_OFFSET", "L_X", "x_offset"]), ["ok", "ok", "name_symbol_clash", "ok"]);
  assert.deepEqual(clash(["SP", "sp", "Sp", "sP", "SP"]), ["ok", "ok", "ok", "ok", "name_duplicate"]);
});
