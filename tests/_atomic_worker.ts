/**
 * Worker script of tests/atomic_test.ts: binds its thread to one CPU and, M
 * times, adds to its own copy and to the next CPU's copy (`remoteAdd`, and a
 * `remoteCmpxchg` increment retried until it lands) of an `atomic: true`
 * counter and of a plain one.
 */
import { type AtomicReport, type AtomicTask, defineAtomicCounters } from "./_atomic_fixture.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: { data: AtomicTask }) => void) | null;
  postMessage(msg: AtomicReport): void;
};

scope.onmessage = async (e) => {
  const task = e.data;
  const { sdk, EXACT, LOSSY } = defineAtomicCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    scope.postMessage({ type: "ready", cpu: task.cpu });
    const go = new Int32Array(task.barrier);
    while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 1000);
    const next = (task.cpu + 1) % task.cpus;
    for (let i = 0; i < task.m; i++) {
      EXACT.addCurrent(1n);
      EXACT.remoteAdd(next, 1n);
      LOSSY.addCurrent(1n);
      LOSSY.remoteAdd(next, 1n);
      for (;;) {
        const o = EXACT.remoteRead(next);
        if (EXACT.remoteCmpxchg(next, o, o + 1n) === o) break;
      }
      for (;;) {
        const o = LOSSY.remoteRead(next);
        if (LOSSY.remoteCmpxchg(next, o, o + 1n) === o) break;
      }
    }
    scope.postMessage({ type: "done", cpu: task.cpu });
  } catch (err) {
    scope.postMessage({ type: "error", cpu: task.cpu, message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  } finally {
    sdk.close();
  }
};
