/**
 * Worker script of tests/counter_test.ts: binds its thread to one CPU, then
 * adds its seeded values to the shared counter one by one, publishing how
 * many it has completed after each add.
 */
import { type CounterTask, counterValues, defineCounter } from "./_counter_fixture.ts";
import { serveWorker } from "./_workers.ts";

serveWorker<CounterTask, null>(async (task, control) => {
  const { sdk, COUNT } = defineCounter(task.tag, task.batch);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    const values = counterValues(task.cpu, task.m);
    const progress = new Int32Array(task.progress);
    control.ready();
    for (let i = 0; i < task.m; i++) {
      COUNT.add(values[i]!);
      Atomics.store(progress, task.cpu, i + 1);
    }
    return null;
  } finally {
    sdk.close();
  }
});
