/**
 * Bare-metal firmware on x86_64 and aarch64 under QEMU: the generated
 * kernel-mode accessors run on 4 CPUs and every check of the test program
 * passes; a missing CPU or a wrong value fails with the exit status and the
 * failing line, never a hang. Also the shared machinery: platform registry,
 * linker script, boot-output parsing.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
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
  PercpuError,
  type PercpuSdk,
  struct,
  TARGETS,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import {
  type BootResult,
  bootFirmware,
  buildFirmware,
  describeBoot,
  type FirmwareImage,
  firmwareLinkerScript,
  linkFirmware,
  parseBoot,
} from "../firmware/build.ts";
import { platformFor } from "../firmware/platforms.ts";
import { backendFor } from "../arch/index.ts";
import { test } from "./_harness.ts";
import { run } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

const BOOT_TIMEOUT_MS = 20_000;

/**
 * Every scalar type (signed, unsigned, bool, floats), a nested struct, short
 * (expanded) and long (indexed) arrays and a cache-line aligned struct; with
 * `big`, a 70 000-byte buffer follows and more variables of every type sit
 * behind it, beyond 64 KiB, so the long-offset accessors run too.
 */
function mixedSdk(big: boolean): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("CPU_ID", usize, 0);
  sdk.define("FLAGS", struct({ on: bool, level: i8, mode: u8, temp: i16, port: u16 }), { on: true, level: -7, mode: 200, temp: -1234, port: 8080 });
  sdk.define(
    "STATS",
    struct({ irqs: u64, ticks: u32, delta: i32, drift: i64, off: isize, nest: struct({ lo: u16, hi: i16, ok: bool }) }),
    { irqs: 5n, ticks: 3, delta: -40000, drift: -(2n ** 40n), off: -1n, nest: { lo: 1, hi: -2, ok: false } },
  );
  sdk.define("RATE", f32, -2.5);
  sdk.define("LOAD", f64, 0.1);
  sdk.define("HIST", array(u32, 4), [1, 2, 3, 0xffffffff]);
  sdk.define("RING", array(i64, 40), Array.from({ length: 40 }, (_, i) => BigInt(i * i) - 100n));
  sdk.define("HOT", aligned(struct({ hits: u64, misses: u32 }), 64), { hits: 9n, misses: 1 });
  // atomic: true (locked local RMW on x86_64): the remote_add hammer adds add_current on the owner
  sdk.define("ATOM", u64, 0, { atomic: true });
  sdk.define("ATOM32", i32, -1, { atomic: true });
  if (big) {
    sdk.define("BUF", array(u8, 70_000), Array.from({ length: 70_000 }, (_, i) => (i % 4099 === 0 ? (i >> 4) & 0xff : 0)));
    sdk.define(
      "TAIL",
      struct({ a: u64, b: f64, c: i16, d: bool, e: f32, f: i8, g: u16, h: i32, i: u32, j: i64, k: usize, l: isize, m: u8 }),
      { a: 0xdead_beef_cafen, b: -3.75, c: -300, d: true, e: 0.5, f: -128, g: 65535, h: -2, i: 7, j: -(2n ** 62n), k: 42n, l: -42n, m: 0x80 },
    );
    sdk.define("FAR", array(u32, 5000), Array.from({ length: 5000 }, (_, i) => i * 3));
  }
  return sdk;
}

function smallSdk(ticks: number): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  sdk.define("TICKS", u32, ticks);
  sdk.define("LEVEL", i8, -3);
  return sdk;
}

function assertPassed(r: BootResult, cpus: number): void {
  assert.ok(r.passed, describeBoot(r));
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.failures, []);
  assert.deepEqual([...r.perCpu.keys()].sort(), Array.from({ length: cpus }, (_, i) => i));
  for (const [cpu, counts] of r.perCpu) assert.ok(counts.ok > 0 && counts.fail === 0, `cpu ${cpu}: ${JSON.stringify(counts)}`);
  assert.equal(r.result?.checks, [...r.perCpu.values()].reduce((n, c) => n + c.ok, 0));
}

/** Checks every CPU reported every kind of check for a variable. */
function assertChecksCover(r: BootResult, checks: readonly string[], vars: readonly string[]): void {
  for (const check of checks) {
    for (const v of vars) {
      for (let cpu = 0; cpu < r.cpus; cpu++) {
        const line = `cpu=${cpu} var=${v} check=${check} ok`;
        assert.ok(r.lines.includes(line), `missing "${line}"`);
      }
    }
  }
}

/** Checks of the PERCPU_INLINE round (integer-only ones for variables with integers). */
const INLINE_CHECKS = ["init-generic", "hooks-generic", "write-generic", "remote-generic", "remote_write-generic", "reset-generic"];

/** The variables behind the 64 KiB mark passed every check on every CPU, through both accessor flavours. */
function assertLongOffsets(r: BootResult, sdk: PercpuSdk): void {
  const layout = sdk.layout(r.arch);
  assert.ok(layout.vars.find((v) => v.name === "TAIL")!.offset > 65536);
  const tail = ["TAIL.a", "TAIL.b", "TAIL.c", "TAIL.d", "TAIL.e", "TAIL.f", "TAIL.j", "TAIL.l", "BUF[69999]", "FAR[4999]"];
  assertChecksCover(r, ["init", "hooks", "write", "remote", "remote_write", "reset"], tail);
  assertChecksCover(r, ["ops", "add"], ["TAIL.a", "TAIL.c", "TAIL.f", "TAIL.k", "BUF[35000]", "FAR[2500]"]);
  // The PERCPU_INLINE round reports one line per variable and check.
  assertChecksCover(r, INLINE_CHECKS, ["TAIL", "BUF", "FAR"]);
}

test("platformFor() gives every target a platform for that arch", () => {
  for (const t of TARGETS) {
    const p = platformFor(t);
    assert.equal(p.arch, t);
    assert.equal(p.qemu("fw.elf", { cpus: 3, el2: false }).args.join(" ").includes("-smp 3"), true);
  }
  assert.equal(platformFor("x86_64").exitCode(3), 1);
  assert.equal(platformFor("x86_64").exitCode(1), 0);
  assert.equal(platformFor("x86_64").exitCode(0), -1);
  assert.ok(platformFor("aarch64").qemu("fw.elf", { cpus: 4, el2: true }).args.includes("virt,virtualization=on"));
});

test("parseBoot() passes only when the exit status, the result line and every check agree", () => {
  const image = { arch: "aarch64" as const, cpus: 2, expectedChecks: 2 };
  const good = "cpu=0 var=A check=init ok\r\ncpu=1 var=A check=init ok\r\nresult: pass cpus=2 checks=2\r\n";
  const parse = (stdout: string, status: number | null, timedOut = false) =>
    parseBoot(image, { stdout, stderr: "", status, timedOut, durationMs: 5 });
  const ok = parse(good, 0);
  assert.ok(ok.passed, describeBoot(ok));
  assert.deepEqual(ok.lines[2], "result: pass cpus=2 checks=2");
  assert.deepEqual(ok.perCpu.get(1), { ok: 1, fail: 0 });
  // The firmware said pass but exited with a failure code: disagreement fails.
  const disagree = parse(good, 1);
  assert.equal(disagree.passed, false);
  assert.match(disagree.failures.map((f) => f.detail).join("\n"), /disagrees/);
  // A fail line with a zero exit status also disagrees.
  const failLine = parse("cpu=1 var=A.b[3] check=remote FAIL op=remote_read of=0 got=0x1 expected=0x2\nresult: fail cpus=2 checks=2 failed=1\n", 0);
  assert.equal(failLine.passed, false);
  assert.deepEqual(failLine.failures[0], { cpu: 1, var: "A.b[3]", check: "remote", detail: "op=remote_read of=0 got=0x1 expected=0x2" });
  // Missing result line, killed QEMU, or fewer checks than the image has all fail.
  assert.equal(parse("cpu=0 var=A check=init ok\n", 0).passed, false);
  assert.equal(parse(good, null, true).passed, false);
  assert.equal(parse("cpu=0 var=A check=init ok\nresult: pass cpus=2 checks=1\n", 0).passed, false);
});

test("x86_64 firmware passes every check on 4 CPUs for a config mixing every type beyond 64 KiB, with preempt and irq guards", async () => {
  const sdk = mixedSdk(true);
  await withTempDir("fw-x86", async (root) => {
    const out = join(root, "image");
    const image = await sdk.buildFirmware({ arch: "x86_64", cpus: 4, features: ["preempt", "irq"], out });
    const r = await sdk.bootFirmware(image, { timeoutMs: BOOT_TIMEOUT_MS });
    assertPassed(r, 4);
    assert.equal(r.result?.checks, image.expectedChecks);
    assertChecksCover(r, ["init", "hooks", "write", "remote", "remote_write", "reset"], ["STATS.nest.ok", "RATE", "LOAD", "HIST[3]", "RING[39]", "HOT.hits"]);
    assertChecksCover(r, ["ops", "add"], ["FLAGS.level", "STATS.drift", "STATS.off", "RING[20]"]);
    assertChecksCover(r, INLINE_CHECKS, ["CPU_ID", "FLAGS", "STATS", "RATE", "LOAD", "HIST", "RING", "HOT"]);
    assertChecksCover(r, ["reg", "hooks"], ["-"]);
    // Linux's lib/percpu_test.c, ported: long (isize), unsigned long (usize), int (i32), unsigned int (u32).
    assertChecksCover(r, ["percpu_test"], ["CPU_ID", "STATS.ticks", "STATS.delta", "STATS.off"]);
    assertChecksCover(r, ["percpu_test-generic"], ["CPU_ID", "STATS"]);
    assertLongOffsets(r, sdk);
    // The image is complete on disk: sources, generated files and the ELF with its PVH note.
    for (const f of ["percpu.S", "percpu.h", "percpu.ld", "boot.S", "platform.c", "main.c", "checks.c", "link.ld", "fw.elf"]) {
      assert.ok(image.files.includes(f), f);
    }
    const notes = await run("llvm-readelf-19", ["-n", image.image]);
    assert.match(notes.stdout, /Xen/);
  });
});

test("aarch64 firmware with the lse feature (ARMv8.1 stadd/ldadd/swp/cas) passes every check on 4 CPUs under -cpu max, with preempt and irq guards", async () => {
  const sdk = mixedSdk(false);
  await withTempDir("fw-a64-lse", async (root) => {
    const out = join(root, "image");
    const image = await sdk.buildFirmware({ arch: "aarch64", cpus: 4, features: ["preempt", "irq", "lse"], out });
    const dis = await run("llvm-objdump-19", ["-d", "--no-show-raw-insn", image.image]);
    for (const insn of ["stadd", "ldadd", "swp", "cas", "stclr", "stset", "steor"]) assert.match(dis.stdout, new RegExp(`\\t${insn}[bh]?\\t`), insn);
    const r = await sdk.bootFirmware(image, { timeoutMs: BOOT_TIMEOUT_MS });
    assertPassed(r, 4);
    assertChecksCover(r, ["ops", "add", "percpu_test"], ["STATS.delta", "CPU_ID"]);
    assertChecksCover(r, ["percpu_test-generic", "ops-generic"], ["CPU_ID", "STATS"]);
  });
});

test("aarch64 firmware passes every check on 4 CPUs for a config mixing every type beyond 64 KiB, with preempt and irq guards", async () => {
  const sdk = mixedSdk(true);
  await withTempDir("fw-a64", async (root) => {
    const out = join(root, "image");
    const image = await sdk.buildFirmware({ arch: "aarch64", cpus: 4, features: ["preempt", "irq"], out });
    const r = await sdk.bootFirmware(image, { timeoutMs: BOOT_TIMEOUT_MS });
    assertPassed(r, 4);
    assertChecksCover(r, ["init", "hooks", "write", "remote", "remote_write", "reset"], ["FLAGS.on", "STATS.irqs", "RATE", "RING[0]", "HOT.misses"]);
    assertChecksCover(r, INLINE_CHECKS, ["FLAGS", "STATS", "RATE", "RING", "HOT"]);
    assertChecksCover(r, ["ops", "add"], ["FLAGS.mode", "STATS.delta", "HIST[0]"]);
    assertChecksCover(r, ["percpu_test"], ["CPU_ID", "STATS.ticks", "STATS.delta", "STATS.off"]);
    assertLongOffsets(r, sdk);
  });
});

test("aarch64 firmware at EL2 runs on TPIDR_EL2 and passes on 4 CPUs (virtualization=on, PSCI over smc)", async () => {
  const sdk = mixedSdk(false);
  await withTempDir("fw-el2", async (root) => {
    const out = join(root, "image");
    const image = await buildFirmware(sdk.layout("aarch64"), { arch: "aarch64", cpus: 4, features: ["el2", "preempt"], out });
    const asm = await readFile(join(image.dir, "percpu.S"), "utf8");
    assert.match(asm, /tpidr_el2/i);
    assert.doesNotMatch(asm, /tpidr_el1/i);
    const r = await bootFirmware(image, { timeoutMs: BOOT_TIMEOUT_MS });
    assertPassed(r, 4);
    // The same image entered at EL1 reports the wrong exception level and fails instead of hanging.
    const platform = platformFor("aarch64");
    const { command, args } = platform.qemu(image.image, { cpus: 4, el2: false });
    const started = performance.now();
    const raw = await run(command, args, { timeoutMs: BOOT_TIMEOUT_MS });
    const atEl1 = parseBoot(image, { ...raw, status: raw.code, timedOut: false, durationMs: performance.now() - started });
    assert.equal(atEl1.passed, false);
    assert.notEqual(atEl1.exitCode, 0);
    assert.match(atEl1.failures.map((f) => `${f.check} ${f.detail}`).join("\n"), /fatal entered at EL1/);
  });
});

async function smallImage(
  arch: "x86_64" | "aarch64",
  dir: string,
  opts: { features: ("preempt" | "irq")[]; expectTicks?: number; timeoutMs?: number },
): Promise<FirmwareImage> {
  const { expectTicks } = opts;
  return buildFirmware(smallSdk(7).layout(arch), {
    arch,
    cpus: 4,
    features: opts.features,
    out: join(dir, `${arch}-${expectTicks ?? "ok"}`),
    program: { inline: false, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) },
    ...(expectTicks !== undefined ? { expect: smallSdk(expectTicks).layout(arch) } : {}),
  });
}

test("a CPU missing at boot fails the run with the barrier line and exit status instead of hanging", async () => {
  await withTempDir("fw-missing", async (dir) => {
    // Images (irq guard only) that wait at most 2 s for a CPU that never comes, booted by path on 3 CPUs.
    const runs = await Promise.all((["x86_64", "aarch64"] as const).map(async (arch) => {
      const image = await smallImage(arch, dir, { features: ["irq"], timeoutMs: 2000 });
      return bootFirmware(image.image, { timeoutMs: BOOT_TIMEOUT_MS, cpus: 3 });
    }));
    for (const r of runs) {
      assert.equal(r.passed, false, describeBoot(r));
      assert.equal(r.timedOut, false);
      assert.equal(r.exitCode, 1);
      assert.equal(r.result?.pass, false);
      assert.ok(r.durationMs < 10_000, `${r.durationMs} ms`);
      const barrier = r.failures.find((f) => f.check === "barrier");
      assert.ok(barrier, describeBoot(r));
      assert.match(barrier.detail, /at=start arrived=3 expected=4/);
      assert.ok(r.lines.some((l) => /^result: fail cpus=4 /.test(l)));
    }
    // QEMU itself is killed when the boot outlives its timeout.
    const killed = await bootFirmware(join(dir, "x86_64-ok", "fw.elf"), { timeoutMs: 300, cpus: 3 });
    assert.equal(killed.timedOut, true);
    assert.equal(killed.exitCode, null);
    assert.equal(killed.passed, false);
    assert.match(killed.failures.map((f) => f.detail).join("\n"), /killed after/);
  });
});

test("buildFirmware() and bootFirmware() reject invalid options with a PercpuError", async () => {
  const sdk = smallSdk(1);
  await assert.rejects(sdk.buildFirmware({ arch: "x86_64", out: "" }), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
  await assert.rejects(
    sdk.buildFirmware({ arch: "x86_64", out: "x", features: ["el2"] }),
    (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && /el2/.test(e.message),
  );
  await assert.rejects(bootFirmware("/nonexistent/fw.elf"), (e: unknown) => e instanceof PercpuError && e.code === "boot_failed");
  await assert.rejects(bootFirmware("/nonexistent/fw.elf", { timeoutMs: -1 }), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
});

test("a wrong expected value fails the run naming the CPU, variable and check", async () => {
  await withTempDir("fw-wrong", async (dir) => {
    // Accessors generated (without guard features: no hook may be called) with TICKS = 7, the program expects 8.
    const runs = await Promise.all((["x86_64", "aarch64"] as const).map(async (arch) =>
      bootFirmware(await smallImage(arch, dir, { features: [], expectTicks: 8 }), { timeoutMs: BOOT_TIMEOUT_MS })
    ));
    for (const r of runs) {
      assert.equal(r.passed, false);
      assert.equal(r.exitCode, 1);
      assert.equal(r.result?.pass, false);
      for (let cpu = 0; cpu < 4; cpu++) {
        const f = r.failures.find((x) => x.cpu === cpu && x.var === "TICKS" && x.check === "init");
        assert.ok(f, describeBoot(r));
        assert.match(f.detail, /got=0x7 expected=0x8/);
      }
      // Only TICKS is wrong: the other variables still pass.
      assert.ok(r.failures.every((f) => f.var === "TICKS"), describeBoot(r));
      assert.ok(r.lines.includes("cpu=2 var=LEVEL check=init ok"));
    }
  });
});

test("the x86_64 and aarch64 boot stubs start every CPU and report an unexpected exception as a fatal line", async () => {
  // A hand-made fw_main without generated code: every CPU checks in, then CPU 0 executes an undefined instruction.
  const program = `#include <stdint.h>
void fw_putc(char c); void fw_exit(int code); void fw_start_cpu(uintptr_t cpu); void fw_main(uintptr_t cpu);
volatile uint32_t fw_release;
static volatile uint32_t arrived, lock;
void fw_main(uintptr_t cpu) {
  if (cpu == 0) { for (uintptr_t c = 1; c < 4; c++) fw_start_cpu(c); fw_release = 1; }
  while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {}
  const char *s = "hello cpu=";
  while (*s) fw_putc(*s++);
  fw_putc((char)('0' + cpu)); fw_putc('\\n');
  __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
  __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
  if (cpu != 0) return;
  while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) != 4) {}
  __builtin_trap();
}
`;
  await Promise.all((["x86_64", "aarch64"] as const).map(async (arch) => {
    await withTempDir(`fw-stub-${arch}`, async (dir) => {
      const platform = platformFor(arch);
      const cfg = { cpus: 4, el2: false };
      await writeFile(join(dir, "boot.S"), platform.bootAsm(cfg));
      await writeFile(join(dir, "platform.c"), platform.platformC(cfg));
      await writeFile(join(dir, "main.c"), program);
      await writeFile(join(dir, "percpu.ld"), "");
      await writeFile(join(dir, "link.ld"), firmwareLinkerScript(platform.loadAddress, 4));
      const flags = [...backendFor(arch).clangFlags, ...platform.cflags, "-ffreestanding", "-nostdlib", "-O2", "-fno-pic", "-Wall", "-Werror"];
      for (const unit of ["boot.S", "platform.c", "main.c"]) {
        const cc = await run("clang-19", [...flags, "-c", unit, "-o", `${unit}.o`], { cwd: dir });
        assert.equal(cc.code, 0, cc.stderr);
      }
      const ld = await run("ld.lld-19", ["-T", "link.ld", "-L", ".", "-o", "fw.elf", "boot.S.o", "platform.c.o", "main.c.o"], { cwd: dir });
      assert.equal(ld.code, 0, ld.stderr);
      const { command, args } = platform.qemu(join(dir, "fw.elf"), cfg);
      const started = performance.now();
      const raw = await run(command, args, { timeoutMs: BOOT_TIMEOUT_MS });
      const r = parseBoot({ arch, cpus: 4, expectedChecks: 0 }, { ...raw, status: raw.code, timedOut: false, durationMs: performance.now() - started });
      for (let cpu = 0; cpu < 4; cpu++) assert.ok(r.lines.includes(`hello cpu=${cpu}`), describeBoot(r));
      assert.equal(r.passed, false);
      assert.equal(r.exitCode, 3, describeBoot(r));
      const fatal = r.failures.find((f) => f.check === "fatal");
      assert.ok(fatal, describeBoot(r));
      // #UD (vector 6) on x86_64; a synchronous exception (vector 4) with ESR EC 0x3c = BRK #1 on aarch64.
      assert.match(fatal.detail, arch === "x86_64" ? /^trap vector=0x0+6 error=0x0+ rip=0x/ : /^trap vector=0x0+4 esr=0x0*f2000001 /);
    });
  }));
});

/** Copies an image directory beside it (inside the test's temp dir), edits one generated function of its percpu.S and rebuilds it there. */
async function mutant(image: FirmwareImage, fn: string, edit: (body: string[]) => string[]): Promise<string> {
  const dir = await mkdtemp(join(dirname(image.dir), "mutant-"));
  for (const f of image.files) await copyFile(join(image.dir, f), join(dir, f));
  const lines = (await readFile(join(dir, "percpu.S"), "utf8")).split("\n");
  const start = lines.indexOf(`${fn}:`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith(".size"));
  assert.ok(start >= 0 && end > start, `${fn} is not in percpu.S`);
  const body = lines.slice(start + 1, end);
  const edited = edit(body);
  assert.notDeepEqual(edited, body, `the edit changed nothing in ${fn}`);
  await writeFile(join(dir, "percpu.S"), [...lines.slice(0, start + 1), ...edited, ...lines.slice(end)].join("\n"));
  const meta = JSON.parse(await readFile(join(dir, "firmware.json"), "utf8")) as { units: string[] };
  return linkFirmware(dir, image.arch, meta.units);
}

/** Every CPU reported a failure of `check` on `var` whose detail matches. */
function assertFailsEverywhere(r: BootResult, v: string, check: string, detail: RegExp): void {
  assert.equal(r.passed, false);
  assert.equal(r.exitCode, 1, describeBoot(r));
  for (let cpu = 0; cpu < 4; cpu++) {
    assert.ok(r.failures.some((f) => f.cpu === cpu && f.var === v && f.check === check && detail.test(f.detail)), `cpu ${cpu}: ${describeBoot(r)}`);
  }
}

test("the test program catches broken accessors: a lost sign extension, an unbalanced guard, a missing guard", async () => {
  await withTempDir("fw-mutants", async (dir) => {
    const [x86, a64] = await Promise.all([
      smallImage("x86_64", dir, { features: ["preempt", "irq"] }),
      smallImage("aarch64", dir, { features: ["preempt"] }),
    ]);
    const boot = (elf: string) => bootFirmware(elf, { timeoutMs: BOOT_TIMEOUT_MS });
    // An i8 read that zero-extends: the C value is the same byte, the ABI register is not.
    const zext = await boot(await mutant(x86, "percpu_LEVEL_read_current", (b) => b.map((l) => l.replace(/movsb/, "movzb"))));
    assertFailsEverywhere(zext, "LEVEL", "init", /^op=read_current\/ext32 got=0xfd expected=0xfffffffd/);
    // A guarded read that disables preemption and never enables it again.
    const dropped = (re: RegExp) => (b: string[]) => b.filter((l, i) => !re.test(l) || b.findIndex((x) => re.test(x)) !== i);
    const unbalanced = await boot(await mutant(a64, "percpu_TICKS_read_current", dropped(/\bbl\s+percpu_preempt_enable\b/)));
    assertFailsEverywhere(unbalanced, "TICKS", "hooks", /^op=read_current\/preempt_balance got=0x1 expected=0x0/);
    // The two-instruction aarch64 read without any guard.
    const unguarded = await boot(await mutant(a64, "percpu_TICKS_read_current", (b) => b.filter((l) => !/\bbl\s+percpu_preempt_/.test(l))));
    assertFailsEverywhere(unguarded, "TICKS", "hooks", /^op=read_current\/preempt_guard_taken got=0x0 expected=0x1/);
  });
});

test("naive firmware (one CPU, plain globals, no per-CPU register) passes on x86_64 and aarch64", async () => {
  await withTempDir("fw-naive", async (dir) => {
    const runs = await Promise.all((["x86_64", "aarch64"] as const).map(async (arch) => {
      const image = await buildFirmware(smallSdk(5).layout(arch), { arch, features: ["naive"], out: join(dir, arch) });
      assert.equal(image.cpus, 1);
      return bootFirmware(image, { timeoutMs: BOOT_TIMEOUT_MS });
    }));
    for (const r of runs) {
      assertPassed(r, 1);
      assertChecksCover(r, ["init", "write", "remote", "ops", "add", "reset", "add-generic"], ["TICKS"]);
    }
  });
});
