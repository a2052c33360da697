/**
 * Worker script of tests/this_cpu_ops_test.ts: binds its thread to a CPU and
 * runs M `addReturnCurrent(1)` on it (checking each return is the previous
 * plus one), or M `tryCmpxchgCurrent` increment loops on a CPU it shares.
 */
import { defineThisCpuCounters, type ThisCpuReport, type ThisCpuTask } from "./_this_cpu_fixture.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: { data: ThisCpuTask }) => void) | null;
  postMessage(msg: ThisCpuReport): void;
};

scope.onmessage = async (e) => {
  const task = e.data;
  const { sdk, SEQ, CAS } = defineThisCpuCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu, { shared: task.mode === "try" });
    scope.postMessage({ type: "ready", id: task.id });
    const go = new Int32Array(task.barrier);
    while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 1000);
    let broken: string | null = null;
    let retries = 0;
    if (task.mode === "add_return") {
      let prev = SEQ.readCurrent();
      for (let i = 0; i < task.m; i++) {
        const now = SEQ.addReturnCurrent(1);
        if (broken === null && now !== prev + 1n) broken = `call ${i}: ${now} after ${prev}`;
        prev = now;
      }
    } else {
      for (let i = 0; i < task.m; i++) {
        let expected = CAS.readCurrent();
        for (;;) {
          const r = CAS.tryCmpxchgCurrent(expected, expected + 1n);
          if (r.ok) break;
          retries++;
          expected = r.value;
        }
      }
    }
    scope.postMessage({ type: "done", id: task.id, broken, retries });
  } catch (err) {
    scope.postMessage({ type: "error", id: task.id, message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  } finally {
    sdk.close();
  }
};
