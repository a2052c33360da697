/**
 * Worker script of tests/ffi_workers_test.ts: loads the same cached library,
 * binds its thread to one CPU and increments its counters M times.
 */
import { defineCounters, type WorkerReport, type WorkerTask } from "./_ffi_fixture.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: { data: WorkerTask }) => void) | null;
  postMessage(msg: WorkerReport): void;
};

scope.onmessage = async (e) => {
  const task = e.data;
  const { sdk, HITS, SMALL } = defineCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    scope.postMessage({ type: "ready", cpu: task.cpu });
    const go = new Int32Array(task.barrier);
    while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 1000);
    const started = performance.now();
    for (let i = 0; i < task.m; i++) {
      HITS.addCurrent(1n);
      SMALL.addCurrent(1);
    }
    const ms = performance.now() - started;
    scope.postMessage({
      type: "done",
      cpu: task.cpu,
      hits: HITS.readCurrent(),
      small: SMALL.readCurrent(),
      reg: sdk.readPercpuReg(),
      base: sdk.areaBase(task.cpu),
      ms,
    });
  } catch (err) {
    scope.postMessage({
      type: "error",
      cpu: task.cpu,
      message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err),
    });
  } finally {
    sdk.close();
  }
};
