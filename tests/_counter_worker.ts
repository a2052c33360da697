/**
 * Worker script of tests/counter_test.ts: binds its thread to one CPU, then
 * adds its seeded values to the shared counter one by one, publishing how
 * many it has completed after each add.
 */
import { type CounterReport, type CounterTask, counterValues, defineCounter } from "./_counter_fixture.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: { data: CounterTask }) => void) | null;
  postMessage(msg: CounterReport): void;
};

scope.onmessage = async (e) => {
  const task = e.data;
  const { sdk, COUNT } = defineCounter(task.tag, task.batch);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu);
    const values = counterValues(task.cpu, task.m);
    const shared = new Int32Array(task.shared);
    scope.postMessage({ type: "ready", cpu: task.cpu });
    while (Atomics.load(shared, 0) === 0) Atomics.wait(shared, 0, 0, 1000);
    for (let i = 0; i < task.m; i++) {
      COUNT.add(values[i]!);
      Atomics.store(shared, 1 + task.cpu, i + 1);
    }
    scope.postMessage({ type: "done", cpu: task.cpu });
  } catch (err) {
    scope.postMessage({ type: "error", cpu: task.cpu, message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  } finally {
    sdk.close();
  }
};
