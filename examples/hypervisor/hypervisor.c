/* Per-physical-CPU state of an EL2 hypervisor; the accessors read TPIDR_EL2.
 * Compiled for aarch64 by tests/examples_test.ts. */
#define PERCPU_INLINE
#include "percpu.h"

/* Trap handler: account a guest exit by exception class. */
void account_exit(uint64_t esr_el2) {
  percpu_EXITS__total_add_current(1);
  switch ((esr_el2 >> 26) & 7u) {
    case 0: percpu_EXITS__by_class__0_add_current(1); break;
    case 1: percpu_EXITS__by_class__1_add_current(1); break;
    case 6: percpu_EXITS__by_class__6_add_current(1); break;
    default: percpu_EXITS__by_class__7_add_current(1); break;
  }
}

/* vCPU switch: remember which vCPU and VMID are live on this physical CPU. */
void load_vcpu(uintptr_t vcpu, uint16_t vmid) {
  percpu_CURRENT_VCPU_write_current(vcpu);
  percpu_ACTIVE_VMID_write_current(vmid);
}

uintptr_t current_vcpu(void) { return percpu_CURRENT_VCPU_read_current(); }
