/* Per-physical-CPU state of an EL2 hypervisor; the generic accessors read TPIDR_EL2.
 * Compiled for aarch64 by tests/examples_test.ts. */
#include "percpu.h"

/* Trap handler: account a guest exit by exception class. */
void account_exit(uint64_t esr_el2) {
  percpu_add_current(EXITS__total, 1);
  switch ((esr_el2 >> 26) & 7u) {
    case 0: percpu_add_current(EXITS__by_class__0, 1); break;
    case 1: percpu_add_current(EXITS__by_class__1, 1); break;
    case 6: percpu_add_current(EXITS__by_class__6, 1); break;
    default: percpu_add_current(EXITS__by_class__7, 1); break;
  }
}

/* vCPU switch: remember which vCPU and VMID are live on this physical CPU. */
void load_vcpu(uintptr_t vcpu, uint16_t vmid) {
  percpu_write_current(CURRENT_VCPU, vcpu);
  percpu_write_current(ACTIVE_VMID, vmid);
}

uintptr_t current_vcpu(void) { return percpu_read_current(CURRENT_VCPU); }
