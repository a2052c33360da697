/**
 * The generation plan: a layout and a validated configuration turned into the
 * normalised input every backend and emitter receives (each variable with its
 * accessor leaves placed in the area).
 *
 * @module
 */
import { cScalarType } from "./c_names.ts";
import type { GenConfig } from "./config.ts";
import type { LoweredScalarName } from "./c_names.ts";
import { firstU128Path, type Layout, type VarLayout } from "./layout.ts";
import type { Target } from "./targets.ts";
import { type AccessorLeaf, typeLeaves } from "./symbols.ts";

/** An accessor leaf placed in the area: `areaOffset` is relative to the per-CPU register. */
export interface PlacedLeaf extends AccessorLeaf {
  /** The scalar: never u128 (those leaves are a variable's `u128Leaves`). */
  readonly scalar: LoweredScalarName;
  /** The variable the leaf belongs to. */
  readonly varName: string;
  /** Offset of the leaf (element 0 of indexed dims) from the area base. */
  readonly areaOffset: number;
  /** C type of the scalar: `uint64_t`, `int8_t`, `bool`, `float`, ... */
  readonly cType: string;
  /** The variable is `atomic: true`: its local RMW ops must be atomic against other CPUs. */
  readonly atomic?: boolean;
  /** The variable is `counter: true`: its counter ops may stay unguarded where they are one atomic on the computed address. */
  readonly counter?: boolean;
}

/** A u128 accessor leaf (percpu.h's `_U128` family and the per-variable functions of every 64-bit backend lower it). */
export interface PlacedU128Leaf extends Omit<PlacedLeaf, "scalar"> {
  readonly scalar: "u128";
}

/** A placed leaf of any scalar. */
export type AnyPlacedLeaf = PlacedLeaf | PlacedU128Leaf;

/**
 * A variable and its accessor leaves: `leaves` those up to 64 bits,
 * `u128Leaves` its u128 ones (their own primitives in percpu.h and their own
 * lowering in each backend and in percpu.rs).
 */
export interface PlacedVar {
  readonly layout: VarLayout;
  readonly leaves: readonly PlacedLeaf[];
  readonly u128Leaves: readonly PlacedU128Leaf[];
}

/** Everything a backend needs to generate code. */
export interface GenInput {
  readonly layout: Layout;
  readonly config: GenConfig;
  readonly vars: readonly PlacedVar[];
}

/**
 * The normalised generator input for a layout and configuration.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import { computeLayout } from "./layout.ts";
 * import { generatorInput } from "./plan.ts";
 * import { u64 } from "./types.ts";
 * import { encodeValue } from "./values.ts";
 * const layout = computeLayout([{ name: "CPU_ID", type: u64, init: encodeValue(u64, 0, "riscv64") }], "riscv64");
 * const input = generatorInput(layout, resolveConfig({ arch: "riscv64" }));
 * input.vars[0]!.leaves[0]!.cType; // "uint64_t"
 * ```
 */
export function generatorInput(layout: Layout, config: GenConfig): GenInput {
  // u128 is laid out on every 64-bit target (riscv32 refused it at layout); percpu.h's u128 family, every backend's
  // per-variable functions and percpu.rs lower it.
  const vars: PlacedVar[] = layout.vars.map((v) => new PlannedVar(v, layout.target));
  return { layout, config, vars };
}

/**
 * A planned variable whose leaves are placed when read, each time: nothing
 * per leaf is kept for the whole generation (a kernel's header reads each of
 * hundreds of thousands of leaves once, and they die young).
 */
class PlannedVar implements PlacedVar {
  readonly layout: VarLayout;
  readonly #target: Target;

  constructor(layout: VarLayout, target: Target) {
    this.layout = layout;
    this.#target = target;
  }

  get leaves(): readonly PlacedLeaf[] {
    return this.#placed(false) as PlacedLeaf[];
  }

  get u128Leaves(): readonly PlacedU128Leaf[] {
    return firstU128Path(this.layout.type) === null ? [] : this.#placed(true) as PlacedU128Leaf[];
  }

  #placed(u128: boolean): AnyPlacedLeaf[] {
    const v = this.layout;
    const all = typeLeaves(v.type, this.#target);
    const some = firstU128Path(v.type) === null ? (u128 ? [] : all) : all.filter((l) => (l.scalar === "u128") === u128);
    // One literal shape per leaf (no spreads): this runs for every leaf of every variable.
    return some.map((l) => ({
      symbol: v.name + l.suffix,
      path: l.path,
      scalar: l.scalar as LoweredScalarName,
      size: l.size,
      offset: l.offset,
      indices: l.indices,
      varName: v.name,
      areaOffset: v.offset + l.offset,
      cType: cScalarType(l.scalar),
      atomic: v.atomic === true,
      counter: v.counter === true,
    }));
  }
}
