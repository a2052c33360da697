import assert from "node:assert/strict";
import { defineCounters, type WorkerReport, type WorkerTask } from "./_ffi_fixture.ts";
import { test } from "./_harness.ts";

const W = 4;
const M = 2_000_000;

test(
  "W = 4 Workers bound to their own CPUs add M times each: every CPU holds M and sum() is W x M, read remotely meanwhile",
  async () => {
    const tag = "WK";
    const { sdk, HITS, SMALL } = defineCounters(tag);
    await sdk.load({ cpus: W + 1 });
    const workers: Worker[] = [];
    try {
      assert.equal(sdk.init(W + 1), W + 1);
      const barrier = new SharedArrayBuffer(4);
      const go = new Int32Array(barrier);
      const reports = new Map<number, WorkerReport>();
      const ready = new Set<number>();
      let failed: string | null = null;
      let notify: () => void = () => {};
      for (let cpu = 0; cpu < W; cpu++) {
        const w = new Worker(new URL("./_ffi_worker.ts", import.meta.url).href, { type: "module" });
        w.onmessage = (e: MessageEvent<WorkerReport>) => {
          const r = e.data;
          if (r.type === "ready") ready.add(r.cpu);
          else if (r.type === "error") failed = `worker ${r.cpu}: ${r.message}`;
          else reports.set(r.cpu, r);
          notify();
        };
        w.onerror = (e: Event) => {
          failed = `worker ${cpu} crashed: ${(e as ErrorEvent).message}`;
          notify();
        };
        workers.push(w);
        const task: WorkerTask = { tag, cpus: W + 1, cpu, m: M, barrier };
        w.postMessage(task);
      }
      const until = async (cond: () => boolean, what: string): Promise<void> => {
        const deadline = Date.now() + 60_000;
        while (!cond()) {
          if (failed) assert.fail(failed);
          if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
          await new Promise<void>((r) => {
            notify = r;
            setTimeout(r, 50);
          });
        }
      };
      await until(() => ready.size === W, "the Workers to bind their CPUs");
      // The main thread is CPU W: its own counter stays untouched.
      sdk.initPercpuReg(W);
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      // Remote reads while the Workers write: every value only grows and never passes M.
      const last = new Array<bigint>(W).fill(0n);
      let intermediate = 0;
      let reads = 0;
      const deadline = Date.now() + 60_000;
      while (last.some((v) => v < BigInt(M)) && Date.now() < deadline) {
        for (let cpu = 0; cpu < W; cpu++) {
          const v = HITS.remoteRead(cpu);
          reads++;
          assert.ok(v >= last[cpu]! && v <= BigInt(M), `CPU ${cpu} went from ${last[cpu]} to ${v}`);
          if (v > 0n && v < BigInt(M)) intermediate++;
          last[cpu] = v;
        }
      }
      await until(() => reports.size === W, "the Workers to finish");
      assert.ok(intermediate > 0, `remote reads saw the counters move (${reads} reads)`);
      for (let cpu = 0; cpu < W; cpu++) {
        const r = reports.get(cpu)!;
        assert.equal(r.type, "done");
        if (r.type !== "done") continue;
        assert.equal(r.hits, BigInt(M), `CPU ${cpu} read its own counter`);
        assert.equal(r.small, M);
        assert.equal(r.reg, r.base, `Worker ${cpu}'s register points at its own area`);
        assert.equal(HITS.remoteRead(cpu), BigInt(M));
        assert.equal(SMALL.remoteRead(cpu), M);
      }
      assert.equal(HITS.sum(), BigInt(W * M));
      assert.equal(SMALL.sum(), W * M);
      assert.equal(HITS.readCurrent(), 0n, "the main thread's CPU was not touched");
      assert.equal(sdk.readPercpuReg(), sdk.areaBase(W));
    } finally {
      for (const w of workers) w.terminate();
      sdk.close();
    }
  },
  { timeoutMs: 120_000 },
);
