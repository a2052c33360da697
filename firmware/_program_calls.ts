/**
 * How a check calls an accessor: the C call text of a leaf or variable op
 * (out-of-line functions of `percpu.S`, or the generic `percpu.h` forms keyed
 * by the variable), the conversions between values and their bits, and
 * whether an op must, may or must never call the guard hooks (from the op
 * catalog `sdk/ops.ts`).
 *
 * @module
 */
import { leafSignature } from "../arch/c_types.ts";
import type { GenInput } from "../sdk/plan.ts";
import { LEAF_OP_SPECS, VAR_OP_SPECS, type VarOp } from "../sdk/ops.ts";
import { type LeafOp, varFunction } from "../sdk/symbols.ts";
import type { Slot } from "./_program_values.ts";

/** How the guard hooks may be used by an operation. */
export type GuardUse = "never" | "may" | "must";

/**
 * Whether an operation must, may or must never call the guard hooks (when a guard feature is on), for a leaf
 * of a variable defined `counter: true` or not (`counter`; unknown for whole-variable ops).
 */
export function guardUse(input: GenInput, op: LeafOp | VarOp, counter?: boolean): GuardUse {
  const spec = op in LEAF_OP_SPECS ? LEAF_OP_SPECS[op as LeafOp] : VAR_OP_SPECS[op as VarOp];
  if (spec.guard === "never") return "never";
  // The counter ops are guarded by default wherever the address is computed apart from the atomic; a
  // counter: true variable leaves the single-atomic ones unguarded.
  const counterOp = op in LEAF_OP_SPECS && LEAF_OP_SPECS[op as LeafOp].scalars === "integer" && spec.guard === "lowering";
  if (counterOp && counter === false && input.config.arch !== "x86_64" && !input.config.features.naive) return "must";
  // aarch64 has no single-instruction access relative to TPIDR (mrs + ldr/str): plain reads and
  // writes of the current CPU's value must be guarded.
  if (input.config.arch === "aarch64" && (op === "read_current" || op === "write_current")) return "must";
  // Ops whose result or target must be this CPU's are guarded wherever the address is computed apart from the atomic.
  if (spec.guard === "this_cpu" && input.config.arch !== "x86_64" && !input.config.features.naive) return "must";
  return "may";
}

/**
 * C call text of a leaf op for a slot; `cpu` and `value` are C expressions.
 * `generic`: the `percpu.h` accessor keyed by the leaf (`percpu_add_current(X, v)`,
 * `percpu_remote_read_at(X, cpu, i)`: cpu, then values, then indices);
 * otherwise the out-of-line function of `percpu.S`.
 */
export function leafCall(slot: Slot, op: LeafOp, args: { cpu?: string; values?: readonly string[] } = {}, generic = false): string {
  if (generic) {
    const indexed = slot.leaf.indices.length > 0;
    const cpu = op.startsWith("remote_") ? [args.cpu ?? "cpu"] : [];
    const arity = LEAF_OP_SPECS[op].values.length;
    const values = Array.from({ length: arity }, (_, i) => args.values?.[i] ?? "0");
    const idx = indexed ? slot.idx.map(String) : [];
    return `percpu_${op}${indexed ? "_at" : ""}(${[slot.leaf.symbol, ...cpu, ...values, ...idx].join(", ")})`;
  }
  const sig = leafSignature(slot.leaf, op);
  const out: string[] = [];
  let v = 0;
  let i = 0;
  for (const p of sig.params) {
    if (p.name === "cpu") out.push(args.cpu ?? "cpu");
    else if (/^i\d+$/.test(p.name)) out.push(String(slot.idx[i++]));
    else out.push(args.values?.[v++] ?? "0");
  }
  return `${sig.name}(${out.join(", ")})`;
}

/** C expression turning a returned value into its bits. */
export function bitsOf(slot: Slot, expr: string): string {
  return `fwb_${slot.leaf.scalar}(${expr})`;
}

/** C expression turning bits into a value of the slot's type. */
export function valueOf(slot: Slot, bits: string): string {
  return `fwv_${slot.leaf.scalar}(${bits})`;
}

/**
 * C call text of a variable op on variable `n`; `cpu` is a C expression (the
 * remote ops' argument). `generic`: the `percpu.h` accessor
 * (`percpu_remote_ptr(X, c)`); otherwise the out-of-line function of `percpu.S`.
 */
export function varOpCall(
  n: string,
  op: "current_ptr" | "remote_ptr" | "reset_to_init",
  cpu: string | undefined,
  generic: boolean,
): string {
  if (generic) return `percpu_${op}(${[n, ...(cpu !== undefined ? [cpu] : [])].join(", ")})`;
  return `${varFunction(n, op)}(${cpu ?? ""})`;
}
