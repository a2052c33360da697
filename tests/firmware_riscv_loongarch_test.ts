/**
 * The riscv64, riscv32 and loongarch64 firmware platforms boot under QEMU:
 * first with a small hand-made `fw_main` (every CPU prints, the exit status
 * carries pass/fail, a missing CPU fails instead of hanging), built by a
 * minimal driver here; then the SDK's full firmware test program.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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
  isize,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { bootFirmware, buildFirmware, describeBoot } from "../firmware/build.ts";
import { loongarch64Platform } from "../firmware/loongarch64.ts";
import type { FirmwarePlatform } from "../firmware/platform.ts";
import { riscv32Platform, riscv64Platform } from "../firmware/riscv.ts";
import { test } from "./_harness.ts";
import { CLANG, LLD, OBJDUMP, run, runOk } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

/** Kernel-mode target flags (DESIGN.md), independent of the arch backends. */
const TARGET_FLAGS: Record<string, readonly string[]> = {
  riscv64: ["--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64", "-mcmodel=medany", "-mno-relax"],
  riscv32: ["--target=riscv32-unknown-none-elf", "-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "-mno-relax"],
  loongarch64: ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s"],
};

const STACK_SIZE = 16384;
const BOOT_TIMEOUT_MS = 10_000;

/** A hand-made fw_main: releases the others, every CPU prints, CPU 0 waits (bounded) for all, then exits. */
function helloC(cpus: number, exitCode: number): string {
  return `#include <stdint.h>
void fw_putc(char c);
void fw_exit(int code);
void fw_start_cpu(uintptr_t cpu);
void fw_main(uintptr_t cpu);
volatile uint32_t fw_release;
static volatile uint32_t print_lock;
static volatile uint32_t arrived;

static void puts_(const char *s) { while (*s) fw_putc(*s++); }
static void putu(uintptr_t v) {
  char buf[24];
  int n = 0;
  do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v != 0);
  while (n > 0) fw_putc(buf[--n]);
}
static void lock(void) { while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE) != 0) {} }
static void unlock(void) { __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE); }

void fw_main(uintptr_t cpu) {
  if (cpu == 0) {
    for (uintptr_t i = 1; i < ${cpus}; i++) fw_start_cpu(i);
    __atomic_store_n(&fw_release, 1, __ATOMIC_SEQ_CST);
  }
  lock();
  puts_("cpu="); putu(cpu); puts_(" hello\\n");
  unlock();
  __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
  if (cpu != 0) return;
  for (uint32_t spin = 0; spin < 20000000u && __atomic_load_n(&arrived, __ATOMIC_SEQ_CST) != ${cpus}; spin++) {}
  uint32_t n = __atomic_load_n(&arrived, __ATOMIC_SEQ_CST);
  lock();
  if (n != ${cpus}) {
    puts_("result fail arrived="); putu(n); fw_putc('\\n');
    fw_exit(2);
  }
  puts_("result done code=${exitCode}\\n");
  fw_exit(${exitCode});
}
`;
}

function linkerScript(platform: FirmwarePlatform, cpus: number): string {
  return [
    "ENTRY(_start)",
    "SECTIONS {",
    `  . = 0x${platform.loadAddress.toString(16)};`,
    "  .text : { KEEP(*(.text.boot)) *(.text .text.*) }",
    "  .rodata : { *(.rodata .rodata.* .srodata .srodata.*) }",
    "  .data : { *(.data .data.* .sdata .sdata.*) }",
    "  .bss : { *(.bss .bss.* .sbss .sbss.* COMMON) }",
    `  .stack (NOLOAD) : ALIGN(16) { . += ${STACK_SIZE * cpus}; }`,
    "  __fw_stack_top = .;",
    "}",
    "",
  ].join("\n");
}

/** Builds the hand-made image into `dir` with clang-19 + ld.lld-19; returns the ELF path. */
async function buildHello(dir: string, platform: FirmwarePlatform, cpus: number, exitCode: number): Promise<string> {
  const cfg = { cpus, el2: false };
  await writeFile(join(dir, "boot.S"), platform.bootAsm(cfg));
  await writeFile(join(dir, "platform.c"), platform.platformC(cfg));
  await writeFile(join(dir, "hello.c"), helloC(cpus, exitCode));
  await writeFile(join(dir, "fw.ld"), linkerScript(platform, cpus));
  const flags = [
    ...TARGET_FLAGS[platform.arch]!,
    ...platform.cflags,
    "-ffreestanding",
    "-fno-builtin",
    "-O2",
    "-Wall",
    "-Werror",
    "-c",
  ];
  await Promise.all(
    ["boot.S", "platform.c", "hello.c"].map((f) => runOk(CLANG, [...flags, f, "-o", `${f}.o`], { cwd: dir })),
  );
  await runOk(LLD, ["-T", "fw.ld", "-o", "fw.elf", "boot.S.o", "platform.c.o", "hello.c.o"], { cwd: dir });
  return join(dir, "fw.elf");
}

interface Boot {
  readonly status: number;
  readonly lines: string[];
  readonly ms: number;
}

/** Boots an image (optionally with a different -smp), bounded by a timeout. */
async function boot(platform: FirmwarePlatform, elf: string, cpus: number, smp = cpus): Promise<Boot> {
  const { command, args } = platform.qemu(elf, { cpus, el2: false });
  const smpAt = args.indexOf("-smp");
  assert.notEqual(smpAt, -1, "the QEMU command sets -smp");
  assert.equal(args[smpAt + 1], String(cpus));
  const patched = args.map((a, i) => (i === smpAt + 1 ? String(smp) : a));
  const started = performance.now();
  const r = await run(command, patched, { timeoutMs: BOOT_TIMEOUT_MS });
  const ms = Math.round(performance.now() - started);
  assert.doesNotMatch(
    r.stderr,
    /killed after/,
    `${platform.arch} QEMU did not finish within ${BOOT_TIMEOUT_MS} ms:\n${r.stdout}`,
  );
  return { status: r.code, lines: r.stdout.replace(/\r/g, "").split("\n").filter((l) => l !== ""), ms };
}

const PLATFORMS: readonly FirmwarePlatform[] = [riscv64Platform, riscv32Platform, loongarch64Platform];

/** The register the generated code owns, which no instruction of the stub or drivers may even mention. */
const PERCPU_REG: Record<string, RegExp> = {
  riscv64: /[\s,(](gp|x3)\b/,
  riscv32: /[\s,(](gp|x3)\b/,
  loongarch64: /\$(r21|u0)\b/,
};

/** The hand-made boots use no SDK code beyond the platform's text: their outcome cannot depend on the JS runtime. */
const QEMU_ONLY = { only: ["deno"] } as const;

for (const platform of PLATFORMS) {
  test(`${platform.arch} firmware boots 4 CPUs that all print and exits 0 on success`, async () => {
    await withTempDir(`fw-${platform.arch}`, async (dir) => {
      const elf = await buildHello(dir, platform, 4, 0);
      const b = await boot(platform, elf, 4);
      const hello = b.lines.filter((l) => / hello$/.test(l)).sort();
      assert.deepEqual(hello, ["cpu=0 hello", "cpu=1 hello", "cpu=2 hello", "cpu=3 hello"], b.lines.join("\n"));
      assert.equal(b.lines.at(-1), "result done code=0");
      assert.equal(b.status, 0);
      assert.equal(platform.exitCode(b.status), 0);
    });
  }, QEMU_ONLY);

  test(`${platform.arch} firmware reports a failing fw_exit as a non-zero code`, async () => {
    await withTempDir(`fw-${platform.arch}`, async (dir) => {
      const elf = await buildHello(dir, platform, 4, 1);
      const b = await boot(platform, elf, 4);
      assert.equal(b.lines.at(-1), "result done code=1");
      assert.equal(platform.exitCode(b.status), 1);
    });
  }, QEMU_ONLY);

  test(`${platform.arch} firmware fails instead of hanging when a CPU is missing`, async () => {
    await withTempDir(`fw-${platform.arch}`, async (dir) => {
      const elf = await buildHello(dir, platform, 4, 0);
      const b = await boot(platform, elf, 4, 3);
      assert.equal(b.lines.filter((l) => / hello$/.test(l)).length, 3, b.lines.join("\n"));
      assert.equal(b.lines.at(-1), "result fail arrived=3");
      assert.notEqual(platform.exitCode(b.status), 0);
    });
  }, QEMU_ONLY);

  test(`${platform.arch} boot stub and drivers never use the per-CPU register`, async () => {
    await withTempDir(`fw-${platform.arch}`, async (dir) => {
      const elf = await buildHello(dir, platform, 4, 0);
      const out = await runOk(OBJDUMP, [
        "-d",
        "--no-show-raw-insn",
        "--no-leading-addr",
        ...(platform.arch === "loongarch64" ? [] : ["-M", "no-aliases"]),
        elf,
      ]);
      const insns = out.split("\n").map((l) => l.trim().replace(/\s+/g, " ")).filter((l) =>
        /^[a-z]/.test(l) && !l.endsWith(":")
      );
      assert.ok(insns.length > 50, `disassembly has ${insns.length} instructions`);
      assert.deepEqual(insns.filter((l) => PERCPU_REG[platform.arch]!.test(l)), []);
    });
  }, QEMU_ONLY);
}

// ---- the SDK's full firmware test program on each platform ----

/** Every kind of type: signed, unsigned, float, bool, nested struct, short and long arrays, a cache-line aligned var. */
function mixedConfig(): ReturnType<typeof createPercpu> {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, delta: i8, nest: struct({ depth: i16, on: bool }) }), {
    irqs: 5,
    ticks: 3,
    delta: -2,
    nest: { depth: -300, on: true },
  });
  sdk.define("RATIO", f64, -1.5);
  sdk.define("SCALE", f32, 2.25);
  sdk.define("READY", bool, true);
  sdk.define("HIST", array(u32, 24), Array.from({ length: 24 }, (_, i) => i * 7));
  sdk.define("TRIPLE", array(i16, 3), [1, -2, 3]);
  sdk.define("HOT", aligned(struct({ hits: u64, misses: u32 }), 64), { hits: 9, misses: 1 });
  // atomic: true (32-bit: riscv32 has no 64-bit atomics): the remote_add hammer adds add_current on the owner
  sdk.define("ATOM", u32, 0, { atomic: true });
  sdk.define("WIDE", struct({ p: usize, q: isize, r: i32, t: i64, u: u16, v: u8 }), {
    p: 1,
    q: -1,
    r: -5,
    t: -7n,
    u: 65535,
    v: 200,
  });
  return sdk;
}

/** More than 64 KiB per CPU, with variables past 2 KiB, 32 KiB and 64 KiB so the long-offset sequences run. */
function bigConfig(): ReturnType<typeof createPercpu> {
  const sdk = createPercpu();
  sdk.define("NEAR", u32, 11);
  sdk.define("PAD", array(u8, 3000), Array.from({ length: 3000 }, (_, i) => (i % 500 === 7 ? 0x5a : 0)));
  sdk.define("MID", i64, -123456789n);
  // Mostly zero (the sampled first/middle/last elements are not), which keeps the image and its C tables small.
  sdk.define(
    "BUF",
    array(u64, 8200),
    Array.from({ length: 8200 }, (_, i) => (i % 1025 === 0 || i === 8199 ? BigInt(i) << 40n | 3n : 0n)),
  );
  sdk.define("FAR", struct({ count: u64, level: i16, flag: bool }), { count: 77, level: -9, flag: true });
  sdk.define("FAR_F", f32, 0.5);
  return sdk;
}

const FULL_CONFIGS = [
  {
    name: "a mixed-type config with preempt and irq",
    make: mixedConfig,
    features: ["preempt", "irq"] as const,
    minAreaSize: 0,
  },
  { name: "a config with more than 64 KiB per CPU", make: bigConfig, features: [] as const, minAreaSize: 65536 },
] as const;

const FULL_BOOT_TIMEOUT_MS = 30_000;

type FullConfig = typeof FULL_CONFIGS[number];

/** Builds the full test program for one platform through the public SDK API, boots it and checks every CPU passed. */
async function runFull(platform: FirmwarePlatform, cfg: FullConfig, dir: string): Promise<void> {
  const sdk = cfg.make();
  const layout = sdk.layout(platform.arch);
  assert.ok(layout.areaSize >= cfg.minAreaSize, `area is ${layout.areaSize} bytes`);
  if (cfg.minAreaSize > 0) assert.ok(layout.vars.some((v) => v.offset > 65536), "a variable lies beyond 64 KiB");
  // A generous barrier timeout: only a failing run waits for it, and a loaded host must not fail a good one.
  const image = await sdk.buildFirmware({
    arch: platform.arch,
    cpus: 4,
    features: [...cfg.features],
    out: join(dir, platform.arch),
    program: { timeoutMs: 10_000 },
  });
  assert.equal(image.arch, platform.arch);
  const r = await sdk.bootFirmware(image, { timeoutMs: FULL_BOOT_TIMEOUT_MS });
  assert.ok(r.passed, describeBoot(r));
  assert.equal(r.exitCode, 0);
  assert.deepEqual([...r.perCpu.keys()].sort(), [0, 1, 2, 3]);
  for (const [cpu, counts] of r.perCpu) assert.equal(counts.fail, 0, `cpu ${cpu}`);
  assert.equal(r.result?.checks, image.expectedChecks);
  // Linux's lib/percpu_test.c, ported (long, unsigned long, int, unsigned int), passed on every CPU through both flavours.
  for (let cpu = 0; cpu < 4; cpu++) {
    for (const check of ["percpu_test", "percpu_test-generic"]) {
      assert.ok(r.lines.some((l) => l.startsWith(`cpu=${cpu} var=`) && l.endsWith(` check=${check} ok`)), `cpu ${cpu} ran ${check}`);
    }
  }
  for (const v of layout.vars) {
    for (let cpu = 0; cpu < 4; cpu++) {
      assert.ok(r.lines.some((l) => l.startsWith(`cpu=${cpu} var=${v.name}`)), `cpu ${cpu} checked ${v.name}`);
    }
  }
}

// One arch at a time: on a 2-CPU host, concurrent 4-vCPU machines spin against each other and take longer.
for (const platform of PLATFORMS) {
  for (const cfg of FULL_CONFIGS) {
    test(`${platform.arch} firmware passes the full test program on 4 CPUs for ${cfg.name}`, async () => {
      await withTempDir(`fw-full-${platform.arch}`, (dir) => runFull(platform, cfg, dir));
    }, { timeoutMs: 90_000 });
  }
}

test(
  "the full test program fails at a barrier instead of hanging when a CPU is missing on riscv64, riscv32 and loongarch64",
  async () => {
    const sdk = createPercpu();
    sdk.define("CPU_ID", u64, 0);
    sdk.define("TICKS", u32, 7);
    await withTempDir("fw-missing", async (dir) => {
      // The three machines boot at once: most of each run is waiting for the barrier timeout.
      const runs = await Promise.all(PLATFORMS.map(async (platform) => {
        const image = await buildFirmware(sdk.layout(platform.arch), {
          arch: platform.arch,
          cpus: 4,
          out: join(dir, platform.arch),
          program: { inline: false, timeoutMs: 300 },
        });
        return bootFirmware(image, { timeoutMs: FULL_BOOT_TIMEOUT_MS, cpus: 3 });
      }));
      for (const r of runs) {
        assert.equal(r.timedOut, false, describeBoot(r));
        assert.equal(r.passed, false, describeBoot(r));
        assert.notEqual(r.exitCode, 0, describeBoot(r));
        assert.equal(r.result?.pass, false, describeBoot(r));
        assert.ok(r.failures.some((f) => f.check === "barrier"), describeBoot(r));
        assert.equal(r.perCpu.has(3), false, `${r.arch}: CPU 3 does not exist and reports nothing`);
      }
      assert.deepEqual(runs.map((r) => r.arch), ["riscv64", "riscv32", "loongarch64"]);
    });
  },
  { timeoutMs: 90_000 },
);
