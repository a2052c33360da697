/**
 * The C/asm symbol contract shared by the generators, the FFI shim and the
 * firmware: which functions exist for a variable and what they are called.
 *
 * @module
 */
import { match } from "ts-pattern";
import type { PathSegment } from "./errors.ts";
import { scalarLayout, structFields, typeLayout } from "./layout.ts";
import type { Target } from "./targets.ts";
import type { PercpuType, ScalarName } from "./types.ts";
import { isInteger } from "./values.ts";

/** Functions every variable gets, whatever its type. */
export const VAR_OPS = ["current_ptr", "remote_ptr", "reset_to_init"] as const;

/** Functions every primitive leaf gets. */
export const SCALAR_OPS = [
  "read_current_raw", "write_current_raw", "read_current", "write_current", "remote_read", "remote_write",
] as const;

/** Extra functions every integer leaf gets. */
export const INTEGER_OPS = [
  "add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current",
] as const;

/** A per-leaf operation name. */
export type LeafOp = typeof SCALAR_OPS[number] | typeof INTEGER_OPS[number];

/** The runtime functions of every generated `percpu.S`. */
export const RUNTIME_FUNCTIONS = [
  "percpu_init", "percpu_init_in_place", "percpu_init_reg", "percpu_read_reg", "percpu_write_reg",
  "percpu_area_base", "percpu_area_num", "percpu_area_size",
] as const;

/** Hooks the user provides when the `preempt` / `irq` features are on. */
export const GUARD_HOOKS = ["percpu_preempt_disable", "percpu_preempt_enable", "percpu_irq_save", "percpu_irq_restore"] as const;

/** Macros and linker symbols the generated files define besides per-variable ones. */
export const FIXED_SYMBOLS = [
  "PERCPU_H", "PERCPU_INLINE", "PERCPU_AREA_SIZE", "PERCPU_STRIDE", "PERCPU_AREA_ALIGN", "PERCPU_MAX_CPUS",
  "PERCPU_SELF_OFFSET", "percpu_self", "_percpu_start", "_percpu_end", "_percpu_load_start", "_percpu_load_end",
] as const;

/** Arrays up to this length get one accessor per element; longer ones are indexed. */
export const ARRAY_EXPAND_LIMIT = 16;

/** One dimension of an indexed accessor: it takes an index `< length` and steps by `stride`. */
export interface IndexDim {
  readonly length: number;
  readonly stride: number;
}

/**
 * A primitive the generators make accessors for: a scalar, or a run of equal
 * scalars in long arrays reached through index arguments.
 */
export interface AccessorLeaf {
  /** `NAME`, `STATS__irqs`, `IRQS__3`: joined with `__`; indexed arrays add no segment. */
  readonly symbol: string;
  /** Path below the variable (indices of indexed dims are absent). */
  readonly path: readonly PathSegment[];
  readonly scalar: ScalarName;
  readonly size: number;
  /** Offset from the variable start (of element 0 for indexed dims). */
  readonly offset: number;
  /** Index parameters, outermost first; empty for a plain leaf. */
  readonly indices: readonly IndexDim[];
}

/** Every accessor leaf of a variable on a target, in memory order. */
export function accessorLeaves(name: string, type: PercpuType, target: Target): AccessorLeaf[] {
  const out: AccessorLeaf[] = [];
  const walk = (t: PercpuType, symbol: string, path: readonly PathSegment[], offset: number, indices: readonly IndexDim[]): void =>
    match(t)
      .with({ kind: "scalar" }, (s) => {
        out.push({ symbol, path, scalar: s.name, size: scalarLayout(s.name, target).size, offset, indices });
      })
      .with({ kind: "array" }, (a) => {
        const stride = typeLayout(a.element, target).size;
        if (a.length <= ARRAY_EXPAND_LIMIT) {
          for (let i = 0; i < a.length; i++) walk(a.element, `${symbol}__${i}`, [...path, i], offset + i * stride, indices);
        } else {
          walk(a.element, symbol, path, offset, [...indices, { length: a.length, stride }]);
        }
      })
      .with({ kind: "struct" }, (s) => {
        for (const f of structFields(s, target)) walk(f.type, `${symbol}__${f.name}`, [...path, f.name], offset + f.offset, indices);
      })
      .with({ kind: "aligned" }, (a) => walk(a.inner, symbol, path, offset, indices))
      .exhaustive();
  walk(type, name, [], 0, []);
  return out;
}

/** The operations a leaf of this scalar type has. */
export function leafOps(scalar: ScalarName): readonly LeafOp[] {
  return isInteger(scalar) ? [...SCALAR_OPS, ...INTEGER_OPS] : SCALAR_OPS;
}

/** C function name of a leaf operation: `percpu_STATS__irqs_add_current`. */
export function leafFunction(leaf: AccessorLeaf | string, op: LeafOp): string {
  return `percpu_${typeof leaf === "string" ? leaf : leaf.symbol}_${op}`;
}

/** C function name of a whole-variable operation: `percpu_STATS_current_ptr`. */
export function varFunction(name: string, op: typeof VAR_OPS[number]): string {
  return `percpu_${name}_${op}`;
}

/** Storage symbol of a variable in `.percpu`. */
export function storageSymbol(name: string): string {
  return `__PERCPU_${name}`;
}

/** Header constant holding a variable's offset. */
export function offsetMacro(name: string): string {
  return `PERCPU_${name}_OFFSET`;
}

/** C type name the header declares for a variable's type. */
export function cTypeName(name: string): string {
  return `percpu_${name}_t`;
}

/** Every global name the generated files define for one variable (target-independent). */
export function varSymbols(name: string, type: PercpuType): string[] {
  const names = [storageSymbol(name), offsetMacro(name), cTypeName(name), ...VAR_OPS.map((op) => varFunction(name, op))];
  for (const leaf of accessorLeaves(name, type, "x86_64")) {
    for (const op of leafOps(leaf.scalar)) names.push(leafFunction(leaf, op));
  }
  return names;
}

/** Names every generated file set defines regardless of variables. */
export const RESERVED_SYMBOLS: ReadonlySet<string> = new Set<string>([...RUNTIME_FUNCTIONS, ...GUARD_HOOKS, ...FIXED_SYMBOLS]);
