/* The per-CPU parts of a small kernel, through the generic accessors of percpu.h
 * (inline, keyed by leaf name: no per-variable code in percpu.S).
 * Compiled for x86_64, aarch64, riscv64 and loongarch64 by tests/examples_test.ts. */
#include "percpu.h"

struct task { uintptr_t id; struct task *next; };

/* Called once per CPU at boot, after CPU 0 ran percpu_init_in_place(). */
void cpu_boot(uintptr_t cpu) {
  percpu_init_reg(cpu);
  percpu_write_current_raw(CPU_ID, (uint32_t)cpu);
}

void preempt_disable(void) { percpu_add_current(PREEMPT_COUNT, 1); }
void preempt_enable(void) { percpu_sub_current(PREEMPT_COUNT, 1); }
int preemptible(void) { return percpu_read_current_raw(PREEMPT_COUNT) == 0; }

/* Interrupt entry: IRQs are off here, so the raw forms are safe. */
void handle_irq(unsigned irq) {
  switch (irq & 3u) {
    case 0: percpu_add_current(IRQ_COUNT__0, 1); break;
    case 1: percpu_add_current(IRQ_COUNT__1, 1); break;
    case 2: percpu_add_current(IRQ_COUNT__2, 1); break;
    default: (*percpu_current_ptr(IRQ_COUNT))[irq & 15u] += 1; break;
  }
  percpu_write_current_raw(RUNQUEUE__need_resched, true);
}

struct task *current_task(void) { return (struct task *)percpu_read_current(CURRENT_TASK); }

/* Pick the next task from this CPU's run queue and account the switch. */
struct task *schedule(void) {
  struct task *next = (struct task *)percpu_read_current(RUNQUEUE__head);
  if (next) {
    percpu_write_current(RUNQUEUE__head, (uintptr_t)next->next);
    percpu_sub_current(RUNQUEUE__nr_running, 1);
    percpu_write_current(CURRENT_TASK, (uintptr_t)next);
  }
  percpu_write_current(RUNQUEUE__need_resched, false);
  percpu_add_current(STATS__context_switches, 1);
  return next;
}

/* Total context switches over all CPUs, read remotely. */
uint64_t total_context_switches(void) {
  uint64_t sum = 0;
  for (uintptr_t cpu = 0; cpu < percpu_area_num(); cpu++) sum += percpu_remote_read(STATS__context_switches, cpu);
  return sum;
}
