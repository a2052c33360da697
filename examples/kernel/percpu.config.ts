/**
 * A small kernel's per-CPU state: the CPU id, the current task, a run queue,
 * per-IRQ counters, cache-line aligned statistics and the preempt count.
 *
 * `percpu gen examples/kernel/percpu.config.ts --arch riscv64 --out build/kernel`
 */
import { aligned, array, bool, createPercpu, i32, struct, u32, u64, usize } from "../../mod.ts";

const kernel = createPercpu();

/** Logical id of the CPU this area belongs to. */
export const CPU_ID = kernel.define("CPU_ID", u32, 0);
/** Pointer to the task running on this CPU. */
export const CURRENT_TASK = kernel.define("CURRENT_TASK", usize, 0);
/** Nesting depth of preempt_disable(); 0 = preemptible. */
export const PREEMPT_COUNT = kernel.define("PREEMPT_COUNT", i32, 0);
/** This CPU's run queue. */
export const RUNQUEUE = kernel.define(
  "RUNQUEUE",
  struct({ nr_running: u32, need_resched: bool, clock_ns: u64, head: usize, tail: usize }),
  { nr_running: 0, need_resched: false, clock_ns: 0, head: 0, tail: 0 },
);
/** Interrupts taken per IRQ line. */
export const IRQ_COUNT = kernel.define("IRQ_COUNT", array(u64, 16), new Array(16).fill(0));
/** Hot counters on their own cache line so remote readers do not false-share with the run queue. */
export const STATS = kernel.define(
  "STATS",
  aligned(struct({ context_switches: u64, syscalls: u64, page_faults: u64 }), 64),
  { context_switches: 0, syscalls: 0, page_faults: 0 },
);

export default kernel;
