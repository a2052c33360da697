/**
 * The `this_cpu_*` ops of the catalog through FFI (x86_64 user mode, the
 * generated functions called natively): Linux's lib/percpu_test.c ported to
 * the JS handles (the wrap-around and sign cases of add/sub/inc/dec and the
 * `_return` ops on long, unsigned long, int and unsigned int), Workers as
 * CPUs each running M `addReturnCurrent(1)` on its own copy (every return
 * the previous one plus one, the total exact), and Workers sharing one CPU
 * whose `tryCmpxchgCurrent` retry loops on an `atomic: true` counter lose
 * no increment.
 */
import assert from "node:assert/strict";
import { bool, createPercpu, f64, i32, isize, PercpuError, type PercpuVar, type ScalarType, struct, u32, u64, usize } from "../mod.ts";
import { test } from "./_harness.ts";
import { defineThisCpuCounters, type ThisCpuReport, type ThisCpuTask } from "./_this_cpu_fixture.ts";

/** The ops of the port's counters, on a number (32-bit) or bigint (64-bit) value. */
interface CounterOps {
  readCurrent(): number | bigint;
  writeCurrent(x: number | bigint): void;
  addCurrent(x: number | bigint): void;
  subCurrent(x: number | bigint): void;
  incCurrent(): void;
  decCurrent(): void;
  addReturnCurrent(x: number | bigint): number | bigint;
  subReturnCurrent(x: number | bigint): number | bigint;
  incReturnCurrent(): number | bigint;
  decReturnCurrent(): number | bigint;
  tryCmpxchgCurrent(e: number | bigint, d: number | bigint): { ok: boolean; value: number | bigint };
}

/** A counter of the port: its handle (as {@link CounterOps}) and width, and whether C's type is signed. */
interface Counter {
  readonly name: string;
  readonly v: CounterOps;
  readonly bits: 32 | 64;
  readonly signed: boolean;
}

/** A handle of one of the port's types as the ops the port calls (each takes and returns its own JS form). */
function ops<N extends "isize" | "usize" | "i32" | "u32">(v: PercpuVar<ScalarType<N>>): CounterOps {
  return v as unknown as CounterOps;
}

test("Linux's lib/percpu_test.c through FFI: add/sub/inc/dec and the _return ops wrap and sign-extend as C does on long, unsigned long, int, unsigned int", async () => {
  const sdk = createPercpu();
  const counters: Counter[] = [
    { name: "long", v: ops(sdk.define("LONG_COUNTER", isize, 0n)), bits: 64, signed: true },
    { name: "unsigned long", v: ops(sdk.define("ULONG_COUNTER", usize, 0n)), bits: 64, signed: false },
    { name: "int", v: ops(sdk.define("INT_COUNTER", i32, 0)), bits: 32, signed: true },
    { name: "unsigned int", v: ops(sdk.define("UINT_COUNTER", u32, 0)), bits: 32, signed: false },
  ];
  await sdk.load({ cpus: 1 });
  try {
    sdk.init(1);
    sdk.initPercpuReg(0);
    for (const c of counters) {
      const bits = BigInt(c.bits);
      // A C value of the counter's type, in the handle's JS form (64-bit: bigint, 32-bit: number).
      const cValue = (x: bigint): number | bigint => {
        const w = c.signed ? BigInt.asIntN(c.bits, x) : BigInt.asUintN(c.bits, x);
        return c.bits === 64 ? w : Number(w);
      };
      const h = c.v;
      let n = 0n; // the native value, as C computes it
      const what = (s: string) => `${c.name}: ${s}`;
      const check = (s: string, linux: bigint, returned?: number | bigint): void => {
        assert.equal(h.readCurrent(), cValue(n), what(`${s}: the per-CPU value is the native one`));
        assert.equal(cValue(n), cValue(linux), what(`${s}: the value Linux expects`));
        if (returned !== undefined) assert.equal(returned, cValue(n), what(`${s}: the returned value`));
      };
      const reset = (): void => {
        n = 0n;
        h.writeCurrent(cValue(0n));
      };
      // The operands as C converts them: -1UL is all ones of unsigned long (converted to int: -1); -ui_one is 2^32 - 1.
      const minusOneUL = c.bits === 64 ? (1n << 64n) - 1n : -1n;
      const minusUiOne = 0xffff_ffffn;
      const arg = (x: bigint): number | bigint => (c.bits === 64 ? x : Number(x));
      reset();
      n += -1n, h.addCurrent(-1), check("add -1", -1n);
      n += 1n, h.addCurrent(1), check("add 1", 0n);
      n += minusOneUL, h.addCurrent(arg(minusOneUL)), check("add -1UL", -1n);
      n += 1n, h.incCurrent(), check("inc", 0n);
      n -= 1n, h.decCurrent(), check("dec", -1n);
      assert.equal(BigInt.asUintN(c.bits, n), (1n << bits) - 1n, what("dec from 0 is UINT_MAX/ULONG_MAX's bits"));
      reset();
      n += minusUiOne, h.addCurrent(arg(minusUiOne)), check("add -ui_one", 0xffff_ffffn);
      n += 1n, h.addCurrent(1), check("add ui_one", 0x1_0000_0000n);
      reset();
      n -= 1n, h.subCurrent(1), check("sub ui_one", -1n);
      n -= minusUiOne, h.subCurrent(arg(minusUiOne)), check("sub -ui_one", -0x1_0000_0000n);
      reset();
      n += 1n, check("add_return ui_one", 1n, h.addReturnCurrent(1));
      n -= 1n, check("sub_return ui_one", 0n, h.subReturnCurrent(1));
      n += minusUiOne, check("add_return -ui_one", 0xffff_ffffn, h.addReturnCurrent(arg(minusUiOne)));
      n -= minusUiOne, check("sub_return -ui_one", 0n, h.subReturnCurrent(arg(minusUiOne)));
      n += 1n, check("inc_return", 1n, h.incReturnCurrent());
      n -= 1n, check("dec_return", 0n, h.decReturnCurrent());
      n -= 1n, check("dec_return wraps", -1n, h.decReturnCurrent());
      n += 1n, check("inc_return wraps", 0n, h.incReturnCurrent());
      // The largest value plus one wraps to the smallest (LONG_MAX + 1 == LONG_MIN, as the hardware does).
      const max = c.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      n = max, h.writeCurrent(cValue(max));
      n += 1n, check("inc_return max", c.signed ? -(1n << (bits - 1n)) : 0n, h.incReturnCurrent());
      // try_cmpxchg: a stale expected value fails and reports the value found, which the retry uses.
      const miss = h.tryCmpxchgCurrent(cValue(n + 5n), cValue(0n));
      assert.deepEqual(miss, { ok: false, value: cValue(n) }, what("try_cmpxchg miss reports the value found"));
      check("try_cmpxchg miss", n);
      const hit = h.tryCmpxchgCurrent(miss.value, cValue(n + 1n));
      assert.deepEqual(hit, { ok: true, value: miss.value }, what("try_cmpxchg hit returns the expected value"));
      n += 1n, check("try_cmpxchg hit", n);
    }
  } finally {
    sdk.close();
  }
});

/** Runs one Worker per task until each reports done; returns the reports by Worker id. */
async function runWorkers(tasks: readonly Omit<ThisCpuTask, "barrier">[]): Promise<Map<number, ThisCpuReport & { type: "done" }>> {
  const barrier = new SharedArrayBuffer(4);
  const go = new Int32Array(barrier);
  const done = new Map<number, ThisCpuReport & { type: "done" }>();
  const ready = new Set<number>();
  const workers: Worker[] = [];
  let failed: string | null = null;
  try {
    for (const t of tasks) {
      const w = new Worker(new URL("./_this_cpu_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e: MessageEvent<ThisCpuReport>) => {
        const r = e.data;
        if (r.type === "ready") ready.add(r.id);
        else if (r.type === "error") failed = `worker ${r.id}: ${r.message}`;
        else done.set(r.id, r);
      };
      w.onerror = (e: Event) => {
        failed = `worker ${t.id} crashed: ${(e as ErrorEvent).message}`;
      };
      workers.push(w);
      w.postMessage({ ...t, barrier } satisfies ThisCpuTask);
    }
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 90_000;
      while (!cond()) {
        if (failed) assert.fail(failed);
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => ready.size === tasks.length, "the Workers to bind");
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    await until(() => done.size === tasks.length, "the Workers to finish");
    return done;
  } finally {
    for (const w of workers) w.terminate();
  }
}

/** Workers (CPUs) and calls per Worker. */
const T = 2;
const M = 100_000;

test(`${T} Workers as CPUs, ${M} addReturnCurrent(1) each on its own copy: every return is the previous plus one, each copy and the total exact`, async () => {
  const tag = "AR";
  const { sdk, SEQ } = defineThisCpuCounters(tag);
  await sdk.load({ cpus: T });
  try {
    sdk.init(T);
    const reports = await runWorkers(Array.from({ length: T }, (_, cpu) => ({ tag, cpus: T, id: cpu, cpu, m: M, mode: "add_return" as const })));
    for (const [id, r] of reports) assert.equal(r.broken, null, `worker ${id}: the sequence is strictly increasing by one`);
    for (let cpu = 0; cpu < T; cpu++) assert.equal(SEQ.remoteRead(cpu), BigInt(M), `CPU ${cpu}'s copy`);
    assert.equal(SEQ.sum(), BigInt(T * M));
  } finally {
    sdk.close();
  }
}, { timeoutMs: 120_000 });

test(`${T} Workers sharing one CPU, ${M} tryCmpxchgCurrent increment loops each on an atomic: true counter: no increment is lost`, async () => {
  const tag = "TC";
  const { sdk, CAS } = defineThisCpuCounters(tag);
  await sdk.load({ cpus: 1 });
  try {
    sdk.init(1);
    const reports = await runWorkers(Array.from({ length: T }, (_, id) => ({ tag, cpus: 1, id, cpu: 0, m: M, mode: "try" as const })));
    const retries = [...reports.values()].reduce((a, r) => a + r.retries, 0);
    assert.equal(CAS.remoteRead(0), BigInt(T * M), `every increment landed (${retries} retries after a miss reported the value found)`);
    console.log(`     ${retries} tryCmpxchgCurrent misses retried with the value found`);
  } finally {
    sdk.close();
  }
}, { timeoutMs: 120_000 });

test("define() accepts { counter: true } on variables with integer leaves and refuses a non-boolean or an integer-free type with options_invalid naming the variable", () => {
  const sdk = createPercpu();
  sdk.define("HITS", u32, 0, { counter: true });
  sdk.define("STATS", struct({ irqs: u64, ratio: f64 }), { irqs: 0n, ratio: 0 }, { counter: true, atomic: false });
  const bad: [string, string, () => unknown][] = [
    ["F", "counter", () => sdk.define("F", f64, 0, { counter: true })],
    ["B", "counter", () => sdk.define("B", struct({ on: bool }), { on: false }, { counter: true })],
    ["N", "counter", () => sdk.define("N", u32, 0, { counter: 1 } as unknown as { counter: boolean })],
    ["K", "countr", () => sdk.define("K", u32, 0, { countr: true } as unknown as { counter: boolean })],
  ];
  for (const [name, key, f] of bad) {
    assert.throws(f, (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes(`"${name}"`) && e.path.includes(key), name);
  }
  // Only the kinds of counter variables differ where the arch guards counter ops by default; x86_64 needs no token.
  const header = (arch: "riscv64" | "x86_64") => sdk.generate({ arch, features: ["preempt"] }).files["percpu.h"];
  assert.match(header("riscv64"), /#define PERCPU_L_HITS uint32_t, pkc_u32, /);
  assert.match(header("riscv64"), /#define PERCPU_L_STATS__irqs uint64_t, pkc_u64, /);
  assert.match(header("x86_64"), /#define PERCPU_L_HITS uint32_t, pk_u32, /);
});
