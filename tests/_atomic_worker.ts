/**
 * Worker script of tests/atomic_test.ts: binds its thread to one CPU and, M
 * times, adds to its own copy and to the next CPU's copy (`remoteAdd`, and a
 * `remoteCmpxchg` increment retried until it lands) of an `atomic: true`
 * counter and of a plain one.
 */
import { type AtomicTask, defineAtomicCounters } from "./_atomic_fixture.ts";
import { serveWorker } from "./_workers.ts";

serveWorker<AtomicTask, null>(async (task, control) => {
  const { sdk, EXACT, LOSSY } = defineAtomicCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    control.ready();
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
    return null;
  } finally {
    sdk.close();
  }
});
