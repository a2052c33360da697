/**
 * How to test your own per-CPU config through FFI: the generated x86_64
 * accessors run natively; each thread that calls `initPercpuReg(cpu)` acts as
 * that CPU. Run with `deno run -A examples/ffi-test/driver_test.ts` or
 * `bun examples/ffi-test/driver_test.ts`; it exits non-zero on a failure.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { PercpuError } from "../../mod.ts";
import driver, { QUEUE, RX, SIZES } from "./percpu.config.ts";

const CPUS = 4;

/** The driver code under test, written against the handles as a kernel would use the C accessors. */
function receive(bytes: number): void {
  RX.withCurrent((cell) => {
    const rx = cell.get();
    cell.set({ ...rx, packets: rx.packets + 1n, bytes: rx.bytes + BigInt(bytes) });
  });
  const bucket = Math.min(7, Math.floor(Math.log2(Math.max(1, bytes)) / 2));
  const sizes = SIZES.readCurrent();
  sizes[bucket]! += 1;
  SIZES.writeCurrent(sizes);
}

await driver.load({ cpus: CPUS, features: ["preempt"] });
try {
  assert.equal(driver.init(CPUS), CPUS);

  // Initial values are the config's, on every CPU.
  for (let cpu = 0; cpu < CPUS; cpu++) assert.equal(QUEUE.remoteRead(cpu), 0xffff);

  // Each CPU polls its own queue and receives cpu + 1 packets.
  for (let cpu = 0; cpu < CPUS; cpu++) {
    driver.initPercpuReg(cpu);
    QUEUE.writeCurrent(cpu);
    for (let i = 0; i <= cpu; i++) receive(64 << cpu);
  }

  // Every CPU kept its own counters; the totals add up.
  for (let cpu = 0; cpu < CPUS; cpu++) {
    assert.equal(QUEUE.remoteRead(cpu), cpu);
    assert.deepEqual(RX.remoteRead(cpu), { packets: BigInt(cpu + 1), bytes: BigInt((cpu + 1) * (64 << cpu)), drops: 0 });
  }
  const packets = Array.from({ length: CPUS }, (_, cpu) => RX.remoteRead(cpu).packets).reduce((a, b) => a + b);
  assert.equal(packets, 10n);

  // reset_to_init restores the configured initial bytes of this CPU's copy only.
  driver.initPercpuReg(2);
  RX.resetToInit();
  assert.deepEqual(RX.readCurrent(), { packets: 0n, bytes: 0n, drops: 0 });
  assert.equal(RX.remoteRead(3).packets, 4n);

  // Misuse is an error, not a crash.
  assert.throws(() => QUEUE.remoteRead(CPUS), (e) => e instanceof PercpuError && e.code === "native_cpu_out_of_range");
  assert.throws(() => QUEUE.writeCurrent(70000), (e) => e instanceof PercpuError && e.code === "value_out_of_range");
  console.log("driver_test: ok");
} finally {
  driver.close();
}
process.exitCode = 0;
