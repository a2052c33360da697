/**
 * Worker script of tests/ffi_workers_test.ts: loads the same cached library,
 * binds its thread to one CPU and increments its counters M times.
 */
import { defineCounters, type WorkerResult, type WorkerTask } from "./_ffi_fixture.ts";
import { serveWorker } from "./_workers.ts";

serveWorker<WorkerTask, WorkerResult>(async (task, control) => {
  const { sdk, HITS, SMALL } = defineCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    control.ready();
    const started = performance.now();
    for (let i = 0; i < task.m; i++) {
      HITS.addCurrent(1n);
      SMALL.addCurrent(1);
    }
    const ms = performance.now() - started;
    return { hits: HITS.readCurrent(), small: SMALL.readCurrent(), reg: sdk.readPercpuReg(), base: sdk.areaBase(task.cpu), ms };
  } finally {
    sdk.close();
  }
});
