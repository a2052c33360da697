/**
 * Worker script of tests/this_cpu_ops_test.ts: binds its thread to a CPU and
 * runs M `addReturnCurrent(1)` on it (checking each return is the previous
 * plus one), or M `tryCmpxchgCurrent` increment loops on a CPU it shares.
 */
import { defineThisCpuCounters, type ThisCpuResult, type ThisCpuTask } from "./_this_cpu_fixture.ts";
import { serveWorker } from "./_workers.ts";

serveWorker<ThisCpuTask, ThisCpuResult>(async (task, control) => {
  const { sdk, SEQ, CAS } = defineThisCpuCounters(task.tag);
  try {
    await sdk.load({ cpus: task.cpus });
    sdk.initPercpuReg(task.cpu, { shared: task.mode === "try" });
    control.ready();
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
    return { broken, retries };
  } finally {
    sdk.close();
  }
});
