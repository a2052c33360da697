import assert from "node:assert/strict";
import { defineCounters, type WorkerResult, type WorkerTask } from "./_ffi_fixture.ts";
import { test } from "./_harness.ts";
import { WorkerGroup } from "./_workers.ts";

const W = 4;
const M = 2_000_000;

test(
  "W = 4 Workers bound to their own CPUs add M times each: every CPU holds M and sum() is W x M, read remotely meanwhile",
  async () => {
    const tag = "WK";
    const { sdk, HITS, SMALL } = defineCounters(tag);
    await sdk.load({ cpus: W + 1 });
    let workers: WorkerGroup<WorkerTask, WorkerResult> | null = null;
    try {
      assert.equal(sdk.init(W + 1), W + 1);
      const tasks = Array.from({ length: W }, (_, cpu): WorkerTask => ({ tag, cpus: W + 1, cpu, m: M }));
      workers = new WorkerGroup(new URL("./_ffi_worker.ts", import.meta.url), tasks);
      await workers.ready("the Workers to bind their CPUs");
      // The main thread is CPU W: its own counter stays untouched.
      sdk.initPercpuReg(W);
      workers.release();
      // Remote reads while the Workers write: every value only grows and never passes M.
      const last = new Array<bigint>(W).fill(0n);
      let intermediate = 0;
      let reads = 0;
      const deadline = Date.now() + 60_000;
      while (last.some((v) => v < BigInt(M)) && Date.now() < deadline) {
        workers.check();
        for (let cpu = 0; cpu < W; cpu++) {
          const v = HITS.remoteRead(cpu);
          reads++;
          assert.ok(v >= last[cpu]! && v <= BigInt(M), `CPU ${cpu} went from ${last[cpu]} to ${v}`);
          if (v > 0n && v < BigInt(M)) intermediate++;
          last[cpu] = v;
        }
      }
      const reports = await workers.reports("the Workers to finish");
      assert.ok(intermediate > 0, `remote reads saw the counters move (${reads} reads)`);
      for (let cpu = 0; cpu < W; cpu++) {
        const r = reports[cpu]!;
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
      workers?.terminate();
      sdk.close();
    }
  },
  { timeoutMs: 120_000 },
);
