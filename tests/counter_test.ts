/**
 * Per-CPU counters (`sdk.counter()`, Linux `percpu_counter`): the DSL and
 * its checks, then the generated runtime proven by running it — C threads
 * as CPUs with a concurrent reader, Workers as CPUs through FFI, and the
 * fold and compare boundaries. (The same runtime under QEMU on every arch:
 * tests/runtime_firmware_test.ts.)
 *
 * Every sample of a concurrent reader is checked exactly: each CPU adds
 * known values and publishes how many adds it has completed, so at any
 * instant its contribution to the truth is one of its prefix sums between
 * the count published before the sample and one past the count published
 * after it. `sum()` must lie between the sums of those prefix minima and
 * maxima (no slack: folds are under the lock), `read()` within batch × CPUs
 * of them.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPercpu, PercpuError, u32, u64 } from "../mod.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { run, runOk } from "./_toolchain.ts";
import { type CounterTask, counterValues, defineCounter } from "./_counter_fixture.ts";
import { WorkerGroup } from "./_workers.ts";

test("counter() validates batch and init with options_invalid naming the counter, and lays out an i32 delta per CPU", () => {
  const sdk = createPercpu();
  sdk.counter("NR_FILES");
  sdk.counter("BIG", { batch: 1000, init: -(1n << 40n) });
  const bad: [string, unknown][] = [
    ["A", { batch: 0 }],
    ["B", { batch: 2 ** 31 }],
    ["C", { batch: 1.5 }],
    ["D", { init: 1n << 63n }],
    ["E", { init: "1" }],
    ["F", { bacth: 3 }],
    ["G", 7],
  ];
  for (const [name, options] of bad) {
    assert.throws(
      () => sdk.counter(name, options as { batch: number }),
      (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes(`"${name}"`),
      name,
    );
  }
  assert.throws(() => sdk.counter("NR_FILES"), (e: unknown) => e instanceof PercpuError && e.code === "name_duplicate");
  const layout = sdk.layout("riscv32");
  assert.deepEqual(layout.vars.map((v) => [v.name, v.size, v.percpuCounter]), [
    ["NR_FILES", 4, { batch: null, init: 0n }],
    ["BIG", 4, { batch: 1000, init: -(1n << 40n) }],
  ]);
  const out = sdk.generate({ arch: "riscv32", cpus: 20 });
  assert.deepEqual(out.manifest.counters, [{ name: "NR_FILES", batch: null, init: "0" }, { name: "BIG", batch: 1000, init: "-1099511627776" }]);
  assert.ok(out.files["percpu.h"].includes("#define PERCPU_COUNTER_NR_FILES_BATCH 40"), "default batch max(32, 2 x 20)");
  assert.ok(out.files["percpu.h"].includes("#define PERCPU_COUNTER_BIG_BATCH 1000"));
  assert.ok(out.files["percpu_runtime.c"]!.length > 0);
  assert.equal(createPercpu().generate({ arch: "riscv64" }).files["percpu_runtime.c"], undefined, "no runtime without counters or dynamic");
});

/** C threads (= CPUs) and adds per thread. */
const T = 4;
const M = 200_000;
const CBATCH = 64;

/**
 * The C hammer: T adder threads add M seeded signed values each through
 * `percpu_counter_add`, publishing their progress; a reader thread samples
 * `percpu_counter_read` and `percpu_counter_sum` meanwhile and checks each
 * sample against the prefix-sum windows. Prints samples, bad samples,
 * final sum, truth, folds.
 */
const HAMMER_C = `#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include "percpu.h"
#define T ${T}
#define M ${M}
#define B ((int64_t)PERCPU_COUNTER_HITS_BATCH * T)
static int64_t vals[T][M];
static int64_t pre[T][M + 1];
static uint32_t seq[T];
static volatile int go;
static void *adder(void *arg) {
  uintptr_t t = (uintptr_t)arg;
  percpu_init_reg(t);
  while (!go) {}
  for (uint32_t i = 0; i < M; i++) {
    percpu_counter_add(HITS, vals[t][i]);
    __atomic_store_n(&seq[t], i + 1, __ATOMIC_RELEASE);
  }
  return 0;
}
static void window(const uint32_t *s1, const uint32_t *s2, int64_t *lo, int64_t *hi) {
  *lo = 0; *hi = 0;
  for (int t = 0; t < T; t++) {
    uint32_t a = s1[t], b = s2[t] + 1 > M ? M : s2[t] + 1;
    int64_t mn = pre[t][a], mx = pre[t][a];
    for (uint32_t j = a; j <= b; j++) { if (pre[t][j] < mn) mn = pre[t][j]; if (pre[t][j] > mx) mx = pre[t][j]; }
    *lo += mn; *hi += mx;
  }
}
int main(void) {
  uint32_t x = 12345;
  for (int t = 0; t < T; t++) {
    pre[t][0] = 0;
    for (int i = 0; i < M; i++) {
      x ^= x << 13; x ^= x >> 17; x ^= x << 5;
      vals[t][i] = (i % 101 == 100) ? ((x & 1) ? ((int64_t)1 << 35) : -((int64_t)1 << 35)) : (int64_t)(x % 41) - 20;
      pre[t][i + 1] = pre[t][i] + vals[t][i];
    }
  }
  if (percpu_init_in_place() != T) return 2;
  pthread_t th[T];
  for (uintptr_t t = 0; t < T; t++) pthread_create(&th[t], 0, adder, (void *)t);
  go = 1;
  long samples = 0, bad_read = 0, bad_sum = 0;
  uint32_t s1[T], s2[T];
  for (;;) {
    int done = 1;
    for (int t = 0; t < T; t++) { s1[t] = __atomic_load_n(&seq[t], __ATOMIC_ACQUIRE); if (s1[t] != M) done = 0; }
    int64_t r = percpu_counter_read(HITS);
    int64_t s = percpu_counter_sum(HITS);
    for (int t = 0; t < T; t++) s2[t] = __atomic_load_n(&seq[t], __ATOMIC_ACQUIRE);
    int64_t lo, hi;
    window(s1, s2, &lo, &hi);
    if (r < lo - B || r > hi + B) bad_read++;
    if (s < lo || s > hi) bad_sum++;
    samples++;
    if (done) break;
  }
  for (int t = 0; t < T; t++) pthread_join(th[t], 0);
  int64_t truth = 0;
  for (int t = 0; t < T; t++) truth += pre[t][M];
  printf("%ld %ld %ld %lld %lld %llu\\n", samples, bad_read, bad_sum, (long long)percpu_counter_sum(HITS), (long long)truth,
         (unsigned long long)percpu_counter_folds(HITS));
  return 0;
}
`;

test(
  `C: ${T} threads x ${M} percpu_counter_add of random signed values with a concurrent reader: every sum() sample exact, every read() within batch x CPUs, the final sum exact`,
  () =>
    withTempDir("counter-c", async (dir) => {
      const sdk = createPercpu();
      sdk.counter("HITS", { batch: CBATCH });
      const out = sdk.generate({ arch: "x86_64", mode: "user", cpus: T });
      await out.write(dir);
      await writeFile(join(dir, "h.c"), HAMMER_C);
      await runOk("cc", ["-O2", "-Wall", "-Werror", "-pthread", "-o", "h", "h.c", "percpu.S", "percpu_runtime.c"], { cwd: dir, timeoutMs: 60_000 });
      const r = await run(join(dir, "h"), [], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const [samples, badRead, badSum, sum, truth, folds] = r.stdout.trim().split(" ");
      assert.ok(Number(samples) > 10, `the reader sampled during the run (${samples})`);
      assert.equal(badRead, "0", "read() within batch x CPUs at every sample");
      assert.equal(badSum, "0", "sum() within the exact window at every sample");
      assert.equal(sum, truth, "final sum exact");
      console.log(`     ${samples} concurrent samples, ${folds} folds for ${T * M} adds (batch ${CBATCH}: one fold per ${Math.round((T * M) / Number(folds))} adds)`);
    }),
  { timeoutMs: 120_000, only: ["deno"] },
);

/** Workers per FFI run and adds per Worker. */
const W = 4;
const WM = 20_000;
const WBATCH = 48;

test(
  `${W} Workers as CPUs through FFI: ${WM} adds of random signed values each, a concurrent reader checks read() and sum() at every sample, the final sum is exact`,
  async () => {
    const tag = "W";
    const { sdk, COUNT } = defineCounter(tag, WBATCH);
    await sdk.load({ cpus: W });
    let workers: WorkerGroup<CounterTask, null> | null = null;
    try {
      assert.equal(sdk.init(W), W);
      assert.equal(COUNT.batch(), WBATCH);
      const progress = new SharedArrayBuffer(4 * W);
      const flags = new Int32Array(progress);
      const prefix = Array.from({ length: W }, (_, cpu) => {
        const v = counterValues(cpu, WM);
        const p = new BigInt64Array(WM + 1);
        for (let i = 0; i < WM; i++) p[i + 1] = p[i]! + v[i]!;
        return p;
      });
      const tasks = Array.from({ length: W }, (_, cpu): CounterTask => ({ tag, batch: WBATCH, cpus: W, cpu, m: WM, progress }));
      workers = new WorkerGroup(new URL("./_counter_worker.ts", import.meta.url), tasks);
      await workers.ready("the Workers to bind");
      workers.release();
      const deadline = Date.now() + 90_000;
      const slack = BigInt(WBATCH * W);
      let samples = 0;
      let moving = 0;
      const seq = (cpu: number): number => Atomics.load(flags, cpu);
      for (;;) {
        for (let k = 0; k < 200; k++) {
          const s1 = Array.from({ length: W }, (_, c) => seq(c));
          const r = COUNT.read();
          const s = COUNT.sum();
          const s2 = Array.from({ length: W }, (_, c) => seq(c));
          let lo = 0n;
          let hi = 0n;
          for (let c = 0; c < W; c++) {
            const p = prefix[c]!;
            let mn = p[s1[c]!]!;
            let mx = mn;
            for (let j = s1[c]!; j <= Math.min(s2[c]! + 1, WM); j++) {
              if (p[j]! < mn) mn = p[j]!;
              if (p[j]! > mx) mx = p[j]!;
            }
            lo += mn;
            hi += mx;
          }
          assert.ok(s >= lo && s <= hi, `sample ${samples}: sum() ${s} outside the exact window ${lo}..${hi}`);
          assert.ok(r >= lo - slack && r <= hi + slack, `sample ${samples}: read() ${r} farther than ${slack} from ${lo}..${hi}`);
          samples++;
          if (s1.some((x) => x > 0 && x < WM)) moving++;
        }
        if (workers.settled()) break;
        workers.check();
        if (Date.now() > deadline) assert.fail("timed out waiting for the Workers to finish");
        await new Promise((r) => setTimeout(r, 5));
      }
      const truth = prefix.reduce((t, p) => t + p[WM]!, 0n);
      assert.equal(COUNT.sum(), truth, "final sum exact");
      assert.ok(COUNT.compare(truth) === 0);
      const { folds } = COUNT.stats();
      console.log(`     ${samples} samples (${moving} while Workers ran), ${folds} folds for ${W * WM} adds`);
      assert.ok(moving > 0, "some samples were taken while the Workers were adding");
    } finally {
      workers?.terminate();
      sdk.close();
    }
  },
  { timeoutMs: 150_000 },
);

test("through FFI: a delta folds when |delta| reaches the batch (>=, as Linux), compare() uses the exact sum within batch x CPUs and the global count beyond, set/inc/dec/readPositive", async () => {
  const sdk = createPercpu();
  const C = sdk.counter("EDGE", { batch: 8, init: 100 });
  const D = sdk.counter("DEFAULT");
  assert.throws(() => C.read(), (e: unknown) => e instanceof PercpuError && e.code === "native_not_loaded");
  await sdk.load({ cpus: 4 });
  try {
    sdk.init(4);
    assert.throws(() => C.add(1), (e: unknown) => e instanceof PercpuError && e.code === "native_not_initialised", "add() needs a bound CPU");
    assert.equal(D.batch(), 32, "default batch max(32, 2 x 4)");
    assert.equal(C.read(), 100n, "init");
    sdk.initPercpuReg(0);
    C.add(7);
    assert.deepEqual([C.read(), C.sum(), C.stats().folds], [100n, 107n, 0n], "|7| < 8 stays in the delta");
    C.inc();
    assert.deepEqual([C.read(), C.sum(), C.stats().folds], [108n, 108n, 1n], "|8| >= 8 folds");
    C.add(-7);
    C.dec();
    assert.deepEqual([C.read(), C.sum(), C.stats().folds], [100n, 100n, 2n], "-8 folds too");
    C.add(1n << 40n);
    assert.equal(C.read(), 100n + (1n << 40n), "a value past i32 folds at once");
    assert.throws(() => C.add(1n << 63n), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range");
    assert.throws(() => C.add(1.5), (e: unknown) => e instanceof PercpuError && e.code === "value_wrong_kind");
    C.set(100);
    for (let cpu = 0; cpu < 4; cpu++) {
      sdk.initPercpuReg(cpu);
      C.add(7);
    }
    assert.deepEqual([C.read(), C.sum()], [100n, 128n]);
    // slack = batch x CPUs = 32: |read - rhs| <= 32 takes the exact sum, farther the global count alone.
    const cases: [bigint, number, boolean][] = [
      [132n, -1, true], [133n, -1, false], [128n, 0, true], [127n, 1, true], [129n, -1, true], [68n, 1, true], [67n, 1, false], [-(1n << 62n), 1, false],
    ];
    for (const [rhs, want, exact] of cases) {
      const before = C.stats().sums;
      assert.equal(C.compare(rhs), want, `compare(${rhs})`);
      assert.equal(C.stats().sums - before, exact ? 1n : 0n, `compare(${rhs}) ${exact ? "takes" : "does not take"} the exact sum`);
    }
    C.set(-5);
    assert.deepEqual([C.read(), C.readPositive(), C.sum(), C.sumPositive()], [-5n, 0n, -5n, 0n]);
    C.sub(-6);
    assert.equal(C.sum(), 1n);
  } finally {
    sdk.close();
  }
  assert.throws(() => C.sum(), (e: unknown) => e instanceof PercpuError && e.code === "native_closed");
});

test("through FFI with the preempt and irq guards the counter and the allocator take balanced guards; in naive mode (one area, no register) they work on the one CPU", async () => {
  const guarded = createPercpu();
  const G = guarded.counter("GUARDED", { batch: 4 });
  await guarded.load({ cpus: 2, features: ["preempt", "irq"], dynamic: 512 });
  try {
    guarded.init(2);
    guarded.initPercpuReg(1);
    guarded.resetHookCounts();
    for (let i = 0; i < 10; i++) G.add(1);
    assert.equal(G.sum(), 10n);
    const h = guarded.hookCounts();
    assert.ok(h.preemptDisable >= 11 && h.preemptDisable === h.preemptEnable, `preempt balanced (${h.preemptDisable}/${h.preemptEnable})`);
    assert.ok(h.irqSave >= 11 && h.irqSave === h.irqRestore, `irq balanced (${h.irqSave}/${h.irqRestore})`);
    assert.deepEqual([h.preemptDepth, h.irqDisabled], [0, false]);
    const a = guarded.alloc(u32, 3);
    a.free();
    const after = guarded.hookCounts();
    assert.ok(after.preemptDisable > h.preemptDisable && after.preemptDisable === after.preemptEnable, "alloc/free take the guard too");
  } finally {
    guarded.close();
  }
  const naive = createPercpu();
  const N = naive.counter("NAIVE", { batch: 3, init: 1 });
  await naive.load({ features: ["naive"], dynamic: 256 });
  try {
    naive.init(1);
    N.add(2);
    assert.deepEqual([N.read(), N.sum()], [1n, 3n]);
    N.add(1);
    assert.deepEqual([N.read(), N.sum()], [4n, 4n]);
    const x = naive.alloc(u64, 9n);
    x.addCurrent(1);
    assert.deepEqual([x.readCurrent(), x.remoteRead(0)], [10n, 10n]);
    x.free();
  } finally {
    naive.close();
  }
});
