/**
 * The 0.2 C interface: `percpu.h` carries per-variable data and a fixed set
 * of generic accessors; kernel-mode `percpu.S` has no per-variable code
 * unless `functions` asks for it, and every function sits in its own section.
 * Proven by assembling and linking with the real toolchain and, on x86_64,
 * by running every generic accessor natively on the host.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import { array, bool, createPercpu, f32, f64, i16, i8, type PercpuSdk, struct, u16, u32, u64, u8 } from "../mod.ts";
import { TARGETS } from "../sdk/targets.ts";
import { percpu, selfEntry } from "./_cli.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { CLANG, elfSymbols, LLD, READELF, run, runOk } from "./_toolchain.ts";

function mixed(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 7);
  sdk.define("TICKS", u32, 3);
  sdk.define("SMALL", u8, 250);
  sdk.define("NEG", i8, -5);
  sdk.define("DELTA", i16, -300);
  sdk.define("ON", bool, true);
  sdk.define("TEMP", f32, 1.5);
  sdk.define("RATIO", f64, -2.25);
  sdk.define("STATS", struct({ irqs: u64, hist: array(u16, 4) }), { irqs: 11, hist: [1, 2, 3, 4] });
  sdk.define("BIG", array(u32, 100), Array.from({ length: 100 }, (_, i) => i * 3));
  sdk.define("GRID", array(struct({ h: array(u16, 20), x: u8 }), 30), Array.from({ length: 30 }, (_, i) => ({ h: Array.from({ length: 20 }, (_, j) => i * 20 + j), x: i })));
  return sdk;
}

/** Function symbols an assembled `percpu.S` defines (`T`/`t` in llvm-nm). */
async function functionSymbols(obj: string): Promise<string[]> {
  const out = await runOk("llvm-nm-19", ["--defined-only", obj]);
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter((p) => (p[1] === "T" || p[1] === "t") && !p[2]!.startsWith(".L")).map((p) => p[2]!).sort();
}

for (const arch of TARGETS) {
  test(`${arch} kernel-mode percpu.S defines only the runtime by default; functions: true adds the per-variable functions, each in its own section`, () =>
    withTempDir(`generic-${arch}`, async (dir) => {
      const flags = backendFor(arch).clangFlags;
      await mixed().generate({ arch }).write(join(dir, "plain"));
      await runOk(CLANG, [...flags, "-c", join(dir, "plain", "percpu.S"), "-o", join(dir, "plain.o")]);
      const plain = await functionSymbols(join(dir, "plain.o"));
      assert.deepEqual(plain.filter((s) => !/^percpu_(init|init_in_place|init_reg|read_reg|write_reg|area_base|area_num|area_size)$/.test(s)), []);
      assert.ok(plain.includes("percpu_init_reg"), plain.join(" "));
      await mixed().generate({ arch, functions: true }).write(join(dir, "fns"));
      await runOk(CLANG, [...flags, "-c", join(dir, "fns", "percpu.S"), "-o", join(dir, "fns.o")]);
      const fns = await functionSymbols(join(dir, "fns.o"));
      for (const s of ["percpu_CPU_ID_read_current_raw", "percpu_STATS__hist__2_add_current", "percpu_BIG_read_current", "percpu_STATS_reset_to_init"]) assert.ok(fns.includes(s), s);
      const sections = await runOk(READELF, ["-S", "-W", join(dir, "fns.o")]);
      for (const s of fns) assert.match(sections, new RegExp(`\\.text\\.${s}\\s`), `${s} has its own section`);
    }));
}

test("a link with --gc-sections keeps only the per-variable functions the kernel calls", () =>
  withTempDir("generic-gc", async (dir) => {
    const gen = mixed().generate({ arch: "riscv64", functions: true });
    await gen.write(dir);
    const flags = backendFor("riscv64").clangFlags;
    await writeFile(join(dir, "main.c"), '#include "percpu.h"\nuint64_t kmain(void) { percpu_init_in_place(); percpu_init_reg(0); return percpu_CPU_ID_read_current_raw(); }\n');
    await writeFile(join(dir, "k.ld"), "ENTRY(kmain)\nSECTIONS {\n  . = 0x80000000;\n  .text : { *(.text .text.*) }\n  .rodata : { *(.rodata .rodata.*) }\n  .data : { *(.data .data.*) }\n  .bss : { *(.bss .bss.*) }\n  INCLUDE percpu.ld\n}\n");
    await runOk(CLANG, [...flags, "-ffreestanding", "-O2", "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
    await runOk(CLANG, [...flags, "-ffreestanding", "-O2", "-c", "main.c", "-o", "main.o"], { cwd: dir });
    await runOk(LLD, ["-T", "k.ld", "--gc-sections", "-o", "k.elf", "main.o", "percpu.o"], { cwd: dir });
    const kept = [...(await elfSymbols(join(dir, "k.elf"))).keys()].filter((s) => /^percpu_[A-Z]/.test(s));
    assert.deepEqual(kept, ["percpu_CPU_ID_read_current_raw"]);
  }));

test("percpu gen writes no per-variable functions by default and writes them with --functions", () =>
  withTempDir("generic-cli", async (dir) => {
    const config = "examples/kernel/percpu.config.ts";
    const plain = await percpu(selfEntry(), ["gen", config, "--arch", "x86_64", "--out", join(dir, "plain")]);
    assert.equal(plain.code, 0, plain.stderr);
    const fns = await percpu(selfEntry(), ["gen", config, "--arch", "x86_64", "--functions", "--out", join(dir, "fns")]);
    assert.equal(fns.code, 0, fns.stderr);
    for (const [sub, want] of [["plain", false], ["fns", true]] as const) {
      await runOk(CLANG, [...backendFor("x86_64").clangFlags, "-c", join(dir, sub, "percpu.S"), "-o", join(dir, `${sub}.o`)]);
      assert.equal((await functionSymbols(join(dir, `${sub}.o`))).includes("percpu_CPU_ID_read_current_raw"), want, sub);
    }
  }));

/** A host program that exercises every generic accessor and prints one line per failed check, then `ok N`. */
const HOST_PROGRAM = String.raw`
#include <stdio.h>
#include <string.h>
#include "percpu.h"
static int fails, checks;
#define CHECK(what, got, want) do { checks++; if ((got) != (want)) { fails++; printf("FAIL %s: got %lld want %lld\n", what, (long long)(got), (long long)(want)); } } while (0)
int main(void) {
  CHECK("init", percpu_init_in_place(), 4);
  for (uintptr_t c = 0; c < 4; c++) { percpu_init_reg(c); percpu_write_current(CPU_ID, 100 + c); percpu_write_current_raw(TICKS, 10 * c); }
  percpu_init_reg(2);
  CHECK("read", percpu_read_current(CPU_ID), 102);
  CHECK("read_raw", percpu_read_current_raw(TICKS), 20);
  for (uintptr_t c = 0; c < 4; c++) CHECK("remote_read", percpu_remote_read(CPU_ID, c), 100 + c);
  percpu_remote_write(TICKS, 3, 77);
  percpu_init_reg(3); CHECK("remote_write", percpu_read_current(TICKS), 77); percpu_init_reg(2);
  percpu_add_current(CPU_ID, 5); CHECK("add", percpu_read_current(CPU_ID), 107);
  percpu_sub_current(CPU_ID, 8); CHECK("sub", percpu_read_current(CPU_ID), 99);
  percpu_and_current(CPU_ID, 0xF0); CHECK("and", percpu_read_current(CPU_ID), 0x60);
  percpu_or_current(CPU_ID, 0x3); CHECK("or", percpu_read_current(CPU_ID), 0x63);
  percpu_xor_current(CPU_ID, 0xFF); CHECK("xor", percpu_read_current(CPU_ID), 0x9C);
  CHECK("xchg_old", percpu_xchg_current(CPU_ID, 5), 0x9C); CHECK("xchg", percpu_read_current(CPU_ID), 5);
  CHECK("cmpxchg_miss", percpu_cmpxchg_current(CPU_ID, 4, 9), 5); CHECK("cmpxchg_miss_value", percpu_read_current(CPU_ID), 5);
  CHECK("cmpxchg_hit", percpu_cmpxchg_current(CPU_ID, 5, 9), 5); CHECK("cmpxchg_hit_value", percpu_read_current(CPU_ID), 9);
  CHECK("small_init", percpu_read_current(SMALL), 250);
  percpu_add_current(SMALL, 10); CHECK("small_wrap", percpu_read_current(SMALL), 4);
  CHECK("neg_init", percpu_read_current(NEG), -5);
  percpu_sub_current(NEG, 123); CHECK("neg_sub", percpu_read_current(NEG), -128);
  percpu_sub_current(NEG, 2); CHECK("neg_wrap", percpu_read_current(NEG), 126);
  CHECK("i16_init", percpu_read_current(DELTA), -300);
  percpu_add_current(DELTA, 301); CHECK("i16_add", percpu_read_current(DELTA), 1);
  CHECK("bool_init", percpu_read_current(ON), 1);
  percpu_write_current(ON, false); CHECK("bool_write", percpu_read_current(ON), 0);
  CHECK("f32_init", percpu_read_current(TEMP) == 1.5f, 1);
  percpu_write_current(TEMP, -0.75f); CHECK("f32_write", percpu_read_current_raw(TEMP) == -0.75f, 1);
  CHECK("f64_init", percpu_read_current(RATIO) == -2.25, 1);
  percpu_write_current_raw(RATIO, 1e300); CHECK("f64_write", percpu_remote_read(RATIO, 2) == 1e300, 1);
  CHECK("field", percpu_read_current(STATS__irqs), 11);
  percpu_add_current(STATS__hist__2, 40); CHECK("element", percpu_read_current(STATS__hist__2), 43);
  CHECK("ptr_field", percpu_current_ptr(STATS)->hist[2], 43);
  CHECK("ptr_base", (uintptr_t)percpu_current_ptr(STATS), percpu_area_base(2) + PERCPU_STATS_OFFSET);
  CHECK("remote_ptr", (uintptr_t)percpu_remote_ptr(STATS, 1), percpu_area_base(1) + PERCPU_STATS_OFFSET);
  for (uintptr_t i = 0; i < 100; i += 33) CHECK("at_read", percpu_read_current_at(BIG, i), i * 3);
  percpu_write_current_at(BIG, 5, 99); CHECK("at_write", percpu_read_current_raw_at(BIG, 99), 5);
  percpu_add_current_at(BIG, 10, 99); CHECK("at_add", percpu_read_current_at(BIG, 99), 15);
  CHECK("at_xchg", percpu_xchg_current_at(BIG, 1, 99), 15);
  CHECK("at_cmpxchg", percpu_cmpxchg_current_at(BIG, 1, 2, 99), 1); CHECK("at_cmpxchg_value", percpu_read_current_at(BIG, 99), 2);
  CHECK("at_remote", percpu_remote_read_at(BIG, 0, 99), 297);
  percpu_remote_write_at(BIG, 0, 7, 98); CHECK("at_remote_write", percpu_remote_read_at(BIG, 0, 98), 7);
  CHECK("at_2d", percpu_read_current_at(GRID__h, 29, 19), 599);
  percpu_sub_current_at(GRID__h, 100, 29, 19); CHECK("at_2d_sub", percpu_read_current_at(GRID__h, 29, 19), 499);
  CHECK("at_2d_field", percpu_read_current_at(GRID__x, 17), 17);
  percpu_reset_to_init(STATS); CHECK("reset", percpu_read_current(STATS__hist__2), 3);
  percpu_reset_to_init(GRID); CHECK("reset_2d", percpu_read_current_at(GRID__h, 29, 19), 599);
  percpu_init_reg(1); CHECK("other_cpu_untouched", percpu_read_current_at(BIG, 99), 297);
  printf("ok %d fails %d\n", checks, fails);
  return fails != 0;
}
`;

for (const opt of ["-O0", "-O2"]) {
  test(`x86_64 generic accessors compute what C computes when run natively on the host (${opt})`, () =>
    withTempDir("generic-host", async (dir) => {
      await mixed().generate({ arch: "x86_64", mode: "user" }).write(dir);
      await writeFile(join(dir, "main.c"), HOST_PROGRAM);
      await runOk("cc", [opt, "-Wall", "-Werror", "-o", "host", "main.c", "percpu.S"], { cwd: dir });
      const r = await run(join(dir, "host"), []);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok \d+ fails 0$/m);
    }));
}

test("kernel-mode output stays under 400 bytes per scalar leaf (percpu.S + percpu.h + percpu.ld, 1 000 mixed variables)", () => {
  const sdk = createPercpu();
  for (let i = 0; i < 1000; i++) {
    if (i % 3 === 0) sdk.define(`V${i}`, u64, 0);
    else if (i % 3 === 1) sdk.define(`V${i}`, u32, 0);
    else sdk.define(`V${i}`, struct({ a: u64, b: array(u16, 4) }), { a: 0, b: [0, 0, 0, 0] });
  }
  for (const arch of TARGETS) {
    const gen = sdk.generate({ arch });
    const leaves = gen.layout.vars.reduce((n, v) => n + (v.type.kind === "struct" ? 5 : 1), 0);
    const bytes = ["percpu.S", "percpu.h", "percpu.ld"].reduce((n, f) => n + new TextEncoder().encode(gen.files[f as "percpu.S"]).length, 0);
    assert.ok(bytes / leaves <= 400, `${arch}: ${(bytes / leaves).toFixed(0)} bytes per scalar leaf`);
  }
});
