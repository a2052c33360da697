// `percpu boot` as a child process of the current runtime: a real boot, its
// JSON, timeouts, machine limits and a missing toolchain, and the same limits
// through the SDK.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseBoot } from "../firmware/build.ts";
import { createPercpu, PercpuError, u64 } from "../mod.ts";
import { test } from "./_harness.ts";
import { assertNoStack, assertOneError, KERNEL, percpu, selfEntry } from "./_cli.ts";
import { withTempDir } from "./_tmp.ts";

const self = selfEntry();

test("percpu boot boots riscv64 on 2 CPUs, prints a start and an end line and the table, and leaves no temp dir", async () => {
  await withTempDir("cli-tmp", async (tmp) => {
    const r = await percpu(self, ["boot", KERNEL, "--arch", "riscv64", "--cpus", "2"], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^riscv64: building and booting on 2 CPUs \.\.\.$/m);
    assert.match(r.stdout, /^riscv64: pass: \d+ checks on 2\/2 CPUs in \d+ ms \(boot \d+ ms\)$/m);
    assert.match(r.stdout, /^arch\s+cpu0\s+cpu1\s+result\nriscv64\s+ok \d+\s+ok \d+\s+pass \d+ ms$/m);
    assert.deepEqual(await readdir(tmp), []);
  });
}, { timeoutMs: 60_000 });

test("percpu boot --json prints only JSON and --out keeps the image", async () => {
  await withTempDir("cli", async (dir) => {
    const r = await percpu(self, ["boot", KERNEL, "--arch", "loongarch64", "--cpus", "1", "--json", "--out", dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout);
    assert.equal(report.passed, true);
    assert.equal(report.results.length, 1);
    assert.equal(report.results[0].arch, "loongarch64");
    assert.deepEqual(report.results[0].perCpu.map((c: { cpu: number }) => c.cpu), [0]);
    assert.match(r.stderr, /^loongarch64: pass: /m);
    assert.ok((await readdir(join(dir, "loongarch64"))).includes("fw.elf"));
  });
}, { timeoutMs: 60_000 });

test("percpu boot names --timeout-ms when QEMU is killed, still prints the table and exits 1", async () => {
  const r = await percpu(self, ["boot", KERNEL, "--arch", "x86_64", "--cpus", "1", "--timeout-ms", "1"]);
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /^x86_64: TIMEOUT: /m);
  assert.match(r.stdout, /QEMU was killed after 1 ms: raise --timeout-ms \(default 11600 for 1 CPU\)/);
  assert.match(r.stdout, /^x86_64\s+.*timeout$/m);
  assertNoStack(r);
}, { timeoutMs: 60_000 });

test("percpu boot prints every arch's error and the whole table when the toolchain is missing", async () => {
  const r = await percpu(self, ["boot", KERNEL, "--arch", "all", "--cpus", "2"], { env: { PATH: "/nonexistent" } });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  for (const arch of ["x86_64", "aarch64", "riscv64", "riscv32", "loongarch64"]) {
    assert.match(r.stdout, new RegExp(`^${arch}: building and booting`, "m"));
    assert.match(r.stdout, new RegExp(`^${arch}: ERROR toolchain_missing: Cannot run clang-19`, "m"));
    assert.match(r.stdout, new RegExp(`^${arch}\\s+ERROR toolchain_missing$`, "m"));
  }
  assertNoStack(r);
});

test("percpu boot refuses more CPUs than each machine runs before building anything", async () => {
  const t0 = performance.now();
  assertOneError(await percpu(self, ["boot", KERNEL, "--arch", "all", "--cpus", "9"]), 2, "usage", /aarch64 \(at most 8\), loongarch64 \(at most 4\)$|aarch64 \(at most 8\), loongarch64 \(at most 4\) \(see/);
  assertOneError(await percpu(self, ["boot", KERNEL, "--arch", "x86_64", "--cpus", "256"]), 2, "usage", /x86_64 \(at most 255\)/);
  assertOneError(await percpu(self, ["boot", KERNEL, "--arch", "riscv64", "--cpus", "513"]), 2, "usage", /riscv64 \(at most 512\)/);
  assertOneError(await percpu(self, ["boot", KERNEL, "--arch", "loongarch64", "--cpus", "5"]), 2, "usage", /loongarch64 \(at most 4\)/);
  assert.ok(performance.now() - t0 < 20_000);
});

test("buildFirmware and bootFirmware reject CPUs over the machine limit with cpus_over_machine_limit", async () => {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  await assert.rejects(sdk.buildFirmware({ arch: "aarch64", cpus: 9, out: "build/never-aarch64" }), (e: unknown) => {
    assert.ok(e instanceof PercpuError);
    assert.equal(e.code, "cpus_over_machine_limit");
    assert.equal(e.message, "Cannot boot 9 CPUs on aarch64: QEMU's machine runs at most 8");
    return true;
  });
  const image = { arch: "loongarch64" as const, cpus: 4, el2: false, image: "/nonexistent/fw.elf", dir: "/nonexistent", files: [], expectedChecks: 1 };
  await assert.rejects(sdk.bootFirmware(image, { cpus: 5 }), (e: unknown) => e instanceof PercpuError && e.code === "cpus_over_machine_limit");
});

test("a boot without a result line reports QEMU's own stderr", () => {
  const r = parseBoot({ arch: "aarch64", cpus: 9, expectedChecks: 1 }, {
    stdout: "",
    stderr: "qemu-system-aarch64: Number of SMP CPUs requested (9) exceeds max CPUs supported by machine 'mach-virt' (8)\n",
    status: 1,
    timedOut: false,
    durationMs: 20,
  });
  assert.equal(r.passed, false);
  assert.ok(r.failures.some((f) => f.detail === "QEMU: qemu-system-aarch64: Number of SMP CPUs requested (9) exceeds max CPUs supported by machine 'mach-virt' (8)"));
});

test("generate() names the bad feature or arch and the allowed values", () => {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  assert.throws(() => sdk.generate({ arch: "x86_64", features: ["preemt" as "preempt"] }), {
    code: "options_invalid",
    message: 'Invalid generate options: features[0]: unknown feature "preemt": expected one of preempt, irq, naive, el2, lse',
  });
  assert.throws(() => sdk.generate({ arch: "x86_64", features: { preemt: true } as never }), {
    message: 'Invalid generate options: features: unknown feature "preemt": expected one of preempt, irq, naive, el2, lse',
  });
});
