/**
 * A type-1 hypervisor's per-physical-CPU state on aarch64 at EL2: the
 * accessors use TPIDR_EL2 (`percpu gen ... --arch aarch64 --el2`).
 */
import { array, createPercpu, struct, u16, u32, u64, usize } from "../../mod.ts";

const hv = createPercpu();

/** The physical CPU's MPIDR affinity, cached. */
export const PCPU_MPIDR = hv.define("PCPU_MPIDR", u64, 0);
/** The vCPU currently loaded on this physical CPU (pointer, 0 = idle). */
export const CURRENT_VCPU = hv.define("CURRENT_VCPU", usize, 0);
/** The VMID of the guest whose stage-2 tables are live here. */
export const ACTIVE_VMID = hv.define("ACTIVE_VMID", u16, 0);
/** Exit accounting by exception class (ESR_EL2.EC low bits). */
export const EXITS = hv.define("EXITS", struct({ total: u64, by_class: array(u32, 8) }), { total: 0, by_class: [0, 0, 0, 0, 0, 0, 0, 0] });

export default hv;
