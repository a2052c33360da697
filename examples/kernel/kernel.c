/* The per-CPU parts of a small kernel, using the generated accessors inline.
 * Compiled for x86_64, aarch64, riscv64 and loongarch64 by tests/examples_test.ts. */
#define PERCPU_INLINE
#include "percpu.h"

struct task { uintptr_t id; struct task *next; };

/* Called once per CPU at boot, after CPU 0 ran percpu_init_in_place(). */
void cpu_boot(uintptr_t cpu) {
  percpu_init_reg(cpu);
  percpu_CPU_ID_write_current_raw((uint32_t)cpu);
}

void preempt_disable(void) { percpu_PREEMPT_COUNT_add_current(1); }
void preempt_enable(void) { percpu_PREEMPT_COUNT_sub_current(1); }
int preemptible(void) { return percpu_PREEMPT_COUNT_read_current_raw() == 0; }

/* Interrupt entry: IRQs are off here, so the raw forms are safe. */
void handle_irq(unsigned irq) {
  switch (irq & 3u) {
    case 0: percpu_IRQ_COUNT__0_add_current(1); break;
    case 1: percpu_IRQ_COUNT__1_add_current(1); break;
    case 2: percpu_IRQ_COUNT__2_add_current(1); break;
    default: (*percpu_IRQ_COUNT_current_ptr())[irq & 15u] += 1; break;
  }
  percpu_RUNQUEUE__need_resched_write_current_raw(true);
}

struct task *current_task(void) { return (struct task *)percpu_CURRENT_TASK_read_current(); }

/* Pick the next task from this CPU's run queue and account the switch. */
struct task *schedule(void) {
  struct task *next = (struct task *)percpu_RUNQUEUE__head_read_current();
  if (next) {
    percpu_RUNQUEUE__head_write_current((uintptr_t)next->next);
    percpu_RUNQUEUE__nr_running_sub_current(1);
    percpu_CURRENT_TASK_write_current((uintptr_t)next);
  }
  percpu_RUNQUEUE__need_resched_write_current(false);
  percpu_STATS__context_switches_add_current(1);
  return next;
}

/* Total context switches over all CPUs, read remotely. */
uint64_t total_context_switches(void) {
  uint64_t sum = 0;
  for (uintptr_t cpu = 0; cpu < percpu_area_num(); cpu++) sum += percpu_STATS__context_switches_remote_read(cpu);
  return sum;
}
