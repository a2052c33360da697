/**
 * Pure layout functions: size, alignment and offsets of type trees for a
 * target (C / `repr(C)` rules), and the layout of a whole per-CPU area.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail, formatPath, type PathSegment } from "./errors.ts";
import { TARGET_INFO, type Target } from "./targets.ts";
import type { PercpuType, ScalarName, StructType } from "./types.ts";

/** Size and alignment of a type on a target, in bytes. */
export interface TypeLayout {
  readonly size: number;
  readonly align: number;
}

/** Largest per-CPU area: offsets must fit every arch's reach (2 GiB). */
export const MAX_AREA_SIZE = 2 ** 31;

/** The smallest stride unit: areas are cache-line (64-byte) multiples, as in the seed. */
export const STRIDE_UNIT = 64;

/** Rounds `n` up to a multiple of the power of two `align`. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Size of every scalar; `null` marks the target-dependent ones (pointer width, 64-bit alignment). */
const SCALAR_SIZES = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4,
  u64: 8, i64: 8, f64: 8, usize: null, isize: null, u128: 16,
} as const satisfies Record<ScalarName, number | null>;

/** Scalar layouts per target, built once: a lookup allocates nothing (it runs once per scalar of every value). */
const SCALAR_LAYOUTS = new Map<Target, Readonly<Record<ScalarName, TypeLayout>>>();

/** Size and alignment of a scalar on a target (a shared, frozen object). */
export function scalarLayout(name: ScalarName, target: Target): TypeLayout {
  let table = SCALAR_LAYOUTS.get(target);
  if (!table) {
    const info = TARGET_INFO[target];
    const entries = (Object.keys(SCALAR_SIZES) as ScalarName[]).map((n) => {
      const size = SCALAR_SIZES[n] ?? info.pointerBytes;
      // u128 (`unsigned __int128`) is 16-byte aligned on every 64-bit psABI; riscv32 refuses it (sdk/plan.ts).
      return [n, Object.freeze({ size, align: size === 8 ? info.align64 : size })] as const;
    });
    SCALAR_LAYOUTS.set(target, table = Object.freeze(Object.fromEntries(entries) as Record<ScalarName, TypeLayout>));
  }
  return table[name];
}

const layoutCache = new Map<Target, WeakMap<PercpuType, TypeLayout>>();

/** Size and alignment of any type tree on a target (cached per type object). */
export function typeLayout(type: PercpuType, target: Target): TypeLayout {
  let cache = layoutCache.get(target);
  if (!cache) layoutCache.set(target, cache = new WeakMap());
  const hit = cache.get(type);
  if (hit) return hit;
  const result = match(type)
    .returnType<TypeLayout>()
    .with({ kind: "scalar" }, (t) => scalarLayout(t.name, target))
    .with({ kind: "array" }, (t) => {
      const e = typeLayout(t.element, target);
      return { size: e.size * t.length, align: e.align };
    })
    .with({ kind: "struct" }, (t) => {
      const fields = structFields(t, target);
      const align = Math.max(...fields.map((f) => f.align));
      const last = fields[fields.length - 1]!;
      return { size: alignUp(last.offset + last.size, align), align };
    })
    .with({ kind: "aligned" }, (t) => {
      const inner = typeLayout(t.inner, target);
      const align = Math.max(inner.align, t.align);
      return { size: alignUp(inner.size, align), align };
    })
    .exhaustive();
  cache.set(type, result);
  return result;
}

/** Placement of one struct field. */
export interface FieldLayout extends TypeLayout {
  readonly name: string;
  readonly type: PercpuType;
  readonly offset: number;
  /** Padding bytes inserted before this field. */
  readonly paddingBefore: number;
}

const fieldCache = new Map<Target, WeakMap<StructType, readonly FieldLayout[]>>();

/** Fields of a struct with their offsets, in declaration order (computed once per struct type and target; frozen). */
export function structFields(type: StructType, target: Target): readonly FieldLayout[] {
  let cache = fieldCache.get(target);
  if (!cache) fieldCache.set(target, cache = new WeakMap());
  let fields = cache.get(type);
  if (!fields) cache.set(type, fields = Object.freeze(placeFields(type, target)));
  return fields;
}

function placeFields(type: StructType, target: Target): FieldLayout[] {
  const out: FieldLayout[] = [];
  let end = 0;
  for (const [name, fieldType] of Object.entries(type.fields)) {
    const { size, align } = typeLayout(fieldType, target);
    const offset = alignUp(end, align);
    out.push({ name, type: fieldType, offset, size, align, paddingBefore: offset - end });
    end = offset + size;
  }
  return out;
}

/** A primitive value inside a variable, reachable by a path of fields and indices. */
export interface ScalarLeaf {
  /** Field names and array indices below the variable. */
  readonly path: readonly PathSegment[];
  readonly scalar: ScalarName;
  /** Offset from the start of the variable. */
  readonly offset: number;
  readonly size: number;
}

/** Calls `visit` for every scalar inside a type tree, in memory order. */
export function forEachScalar(
  type: PercpuType,
  target: Target,
  visit: (leaf: ScalarLeaf) => void,
  base = 0,
  path: readonly PathSegment[] = [],
): void {
  match(type)
    .with({ kind: "scalar" }, (t) => visit({ path, scalar: t.name, offset: base, size: scalarLayout(t.name, target).size }))
    .with({ kind: "array" }, (t) => {
      const stride = typeLayout(t.element, target).size;
      for (let i = 0; i < t.length; i++) forEachScalar(t.element, target, visit, base + i * stride, [...path, i]);
    })
    .with({ kind: "struct" }, (t) => {
      for (const f of structFields(t, target)) forEachScalar(f.type, target, visit, base + f.offset, [...path, f.name]);
    })
    .with({ kind: "aligned" }, (t) => forEachScalar(t.inner, target, visit, base, path))
    .exhaustive();
}

/** A variable as the layout sees it. */
export interface VarDef {
  readonly name: string;
  readonly type: PercpuType;
  /** Initial bytes for this target (little-endian), `size` long. */
  readonly init: Uint8Array;
  /** `define(..., { atomic: true })`: local RMW ops are atomic against other CPUs (see {@link checkDefineOptions}). */
  readonly atomic?: boolean;
  /** `define(..., { counter: true })`: the counter ops may act on the previous CPU's copy after a migration (see {@link DefineOptions.counter}). */
  readonly counter?: boolean;
  /** Present when the variable is a per-CPU counter's delta (`percpu.counter()`, sdk/counters.ts). */
  readonly percpuCounter?: CounterSpec;
}

/** What `percpu.counter(name, options)` asked for: the delta variable is an `i32` per CPU; the global count starts at `init`. */
export interface CounterSpec {
  /** Fold threshold; `null`: the default of the generation (`max(32, 2 × cpus)`). */
  readonly batch: number | null;
  /** Initial value of the global count. */
  readonly init: bigint;
}

/** Placement of one variable in the per-CPU area. */
export interface VarLayout extends TypeLayout {
  readonly name: string;
  readonly type: PercpuType;
  /** Offset from the area base (the per-CPU register value). */
  readonly offset: number;
  /** Padding bytes inserted before this variable. */
  readonly paddingBefore: number;
  /** Initial bytes, little-endian. */
  readonly init: Uint8Array;
  /** Present (and `true`) only for variables defined `{ atomic: true }`. */
  readonly atomic?: true;
  /** Present (and `true`) only for variables defined `{ counter: true }`. */
  readonly counter?: true;
  /** Present only for a per-CPU counter's delta variable. */
  readonly percpuCounter?: CounterSpec;
}

/** How variables are ordered in the area. */
export type LayoutOrder = "definition" | "min-padding";

/** The computed layout of one per-CPU area for a target. */
export interface Layout {
  readonly target: Target;
  /** Bytes used by one area (end of the last variable). */
  readonly areaSize: number;
  /** Distance between consecutive areas: `areaSize` rounded up to `areaAlign`. */
  readonly stride: number;
  /** Required alignment of every area base: 64 or the largest variable alignment. */
  readonly areaAlign: number;
  /** Offset of the area's pointer to itself, or `null` when the target needs none. */
  readonly selfPointerOffset: number | null;
  readonly vars: readonly VarLayout[];
  /**
   * The dynamic region (`generate({ dynamic })`, sdk/dynamic.ts): `size` bytes
   * at `offset` in every area, after the static variables; absent without one.
   */
  readonly dynamic?: { readonly offset: number; readonly size: number };
}

/** Name of the reserved self-pointer slot in layouts that have one. */
export const SELF_POINTER_NAME = "__self";

/**
 * Lays out variables for a target. With `order: "min-padding"` variables are
 * stably sorted by decreasing alignment, which removes all inter-variable padding.
 */
export function computeLayout(defs: readonly VarDef[], target: Target, order: LayoutOrder = "definition"): Layout {
  const info = TARGET_INFO[target];
  let placed = defs;
  if (order === "min-padding") {
    // Stable: equal alignments keep their definition order.
    const align = (d: VarDef): number => typeLayout(d.type, target).align;
    placed = defs.map((d, index) => ({ d, index })).sort((a, b) => align(b.d) - align(a.d) || a.index - b.index).map((p) => p.d);
  }
  let end = info.selfPointer ? info.pointerBytes : 0;
  let maxAlign = 1;
  const vars: VarLayout[] = [];
  for (const d of placed) {
    if (target === "riscv32") refuseU128(d.name, d.type, target, "riscv32 has no 128-bit C type (clang refuses unsigned __int128 there)");
    const { size, align } = typeLayout(d.type, target);
    const offset = alignUp(end, align);
    const placedVar: VarLayout = { name: d.name, type: d.type, offset, size, align, paddingBefore: offset - end, init: d.init };
    const flags = { ...(d.atomic === true ? { atomic: true } : {}), ...(d.counter === true ? { counter: true } : {}) };
    const withFlags = { ...placedVar, ...flags } as VarLayout;
    vars.push(d.percpuCounter !== undefined ? { ...withFlags, percpuCounter: d.percpuCounter } : withFlags);
    end = offset + size;
    if (align > maxAlign) maxAlign = align;
    if (end > MAX_AREA_SIZE) {
      fail("area_too_large", [d.name], `Per-CPU area too large at "${d.name}": it would end at byte ${end}, the limit is ${MAX_AREA_SIZE} (2 GiB)`);
    }
  }
  const areaAlign = Math.max(STRIDE_UNIT, maxAlign);
  return {
    target,
    areaSize: end,
    stride: Math.max(alignUp(end, areaAlign), areaAlign),
    areaAlign,
    selfPointerOffset: info.selfPointer ? 0 : null,
    vars,
  };
}

/** The scalars `atomic: true` accepts: the widths every arch has a native atomic RMW for (riscv32: 32-bit only, checked when generating). */
const ATOMIC_SCALARS: ReadonlySet<ScalarName> = new Set<ScalarName>(["u32", "i32", "u64", "i64", "usize", "isize"]);

/** The options of `define(name, type, init, options)`. */
export interface DefineOptions {
  /**
   * Make the variable's read-modify-write ops on the current CPU atomic
   * against other CPUs (x86_64: `lock`-prefixed `%gs:` instructions; the
   * other arches' RMW ops already are atomics on the computed address), so
   * that `remoteAdd`/`remoteCmpxchg` from other CPUs lose no update. 32- and
   * 64-bit integer scalar variables only (`u32`, `i32`, `u64`, `i64`,
   * `usize`, `isize`, possibly `aligned`); 64-bit ones not on riscv32.
   */
  readonly atomic?: boolean;
  /**
   * The variable's integers are statistics counters: their counter ops (add,
   * sub, and, or, xor, inc, dec) stay unguarded where they are one atomic on
   * the address computed from the per-CPU register (aarch64, riscv,
   * loongarch), so a migration in between makes the update land, whole, on
   * the previous CPU's copy — the sum over CPUs stays exact. Without it they
   * take the preempt/irq guard there (the safe default: a preempt count
   * needs this CPU's copy). Changes nothing on x86_64 (one `%gs:`
   * instruction) or without guard features; the ops whose result must be
   * this CPU's (xchg, cmpxchg, the `_return` ops) are always guarded.
   * Variables with at least one integer leaf only. (A batched, foldable
   * counter with a global count is something else: `percpu.counter()`.)
   */
  readonly counter?: boolean;
}

/** Whether a type has an integer leaf (`counter: true` needs one). */
function hasIntegerLeaf(type: PercpuType): boolean {
  switch (type.kind) {
    case "scalar":
      return type.name !== "bool" && type.name !== "f32" && type.name !== "f64";
    case "aligned":
      return hasIntegerLeaf(type.inner);
    case "array":
      return hasIntegerLeaf(type.element);
    case "struct":
      return Object.values(type.fields).some(hasIntegerLeaf);
  }
}

/**
 * Whether `define()`'s options (already checked by {@link checkDefineOptions})
 * make the variable a counter (`{ counter: true }`).
 *
 * @example
 * ```ts
 * import { counterOption } from "./layout.ts";
 * counterOption({ counter: true }); // true
 * ```
 */
export function counterOption(options: unknown): boolean {
  return typeof options === "object" && options !== null && (options as { counter?: unknown }).counter === true;
}

/**
 * Validates `define()`'s options for variable `name` of `type` and returns
 * whether it is atomic; throws `options_invalid` naming the variable.
 *
 * @example
 * ```ts
 * import { checkDefineOptions } from "./layout.ts";
 * import { u64 } from "./types.ts";
 * checkDefineOptions("HITS", u64, { atomic: true }); // true
 * ```
 */
export function checkDefineOptions(name: string, type: PercpuType, options: unknown): boolean {
  if (options === undefined) return false;
  const where = JSON.stringify(name);
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    fail("options_invalid", [name], `Invalid define options of ${where}: expected an object like { atomic: true }, got ${options === null ? "null" : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "atomic" && key !== "counter") {
      fail("options_invalid", [name, key], `Invalid define options of ${where}: unknown option ${JSON.stringify(key)} (only "atomic", "counter")`);
    }
  }
  const counter = (options as { counter?: unknown }).counter;
  if (counter !== undefined && typeof counter !== "boolean") {
    fail("options_invalid", [name, "counter"], `Invalid define options of ${where}: counter must be a boolean, got ${typeof counter}`);
  }
  if (counter === true && !hasIntegerLeaf(type)) {
    fail("options_invalid", [name, "counter"], `Invalid define options of ${where}: counter is for variables with integer leaves, and this one has none`);
  }
  const atomic = (options as { atomic?: unknown }).atomic;
  if (atomic === undefined || atomic === false) return false;
  if (atomic !== true) fail("options_invalid", [name, "atomic"], `Invalid define options of ${where}: atomic must be a boolean, got ${typeof atomic}`);
  const scalar = type.kind === "aligned" ? type.inner : type;
  if (scalar.kind !== "scalar" || !ATOMIC_SCALARS.has(scalar.name)) {
    fail(
      "options_invalid",
      [name, "atomic"],
      `Invalid define options of ${where}: atomic is for 32- and 64-bit integer scalar variables (u32, i32, u64, i64, usize, isize), not ${
        scalar.kind === "scalar" ? scalar.name : `a ${scalar.kind}`
      }`,
    );
  }
  return true;
}

/** The path of the first u128 leaf of each type tree (`null`: none), found once per type object. */
const u128Paths = new WeakMap<PercpuType, readonly PathSegment[] | null>();

/**
 * The path (fields and indices) of the first `u128` leaf of a type, or `null`
 * when it has none (cached per type: one lookup per variable).
 *
 * @example
 * ```ts
 * import { struct, u128, u64 } from "./types.ts";
 * import { firstU128Path } from "./layout.ts";
 * firstU128Path(struct({ n: u64, pair: u128 })); // ["pair"]
 * ```
 */
export function firstU128Path(type: PercpuType): readonly PathSegment[] | null {
  const hit = u128Paths.get(type);
  if (hit !== undefined) return hit;
  const found: readonly PathSegment[] | null = match(type)
    .returnType<readonly PathSegment[] | null>()
    .with({ kind: "scalar" }, (t) => (t.name === "u128" ? [] : null))
    .with({ kind: "array" }, (t) => {
      const inner = firstU128Path(t.element);
      return inner === null ? null : [0, ...inner];
    })
    .with({ kind: "struct" }, (t) => {
      for (const name of Object.keys(t.fields)) {
        const inner = firstU128Path(t.fields[name]!);
        if (inner !== null) return [name, ...inner];
      }
      return null;
    })
    .with({ kind: "aligned" }, (t) => firstU128Path(t.inner))
    .exhaustive();
  u128Paths.set(type, found);
  return found;
}

/**
 * Throws `type_not_on_target` when variable `name`'s type has a `u128` leaf,
 * naming the variable, the leaf and `why` (the target cannot hold or lower it).
 */
export function refuseU128(name: string, type: PercpuType, target: Target, why: string): void {
  const path = firstU128Path(type);
  if (path === null) return;
  fail(
    "type_not_on_target",
    [name, ...path],
    `Variable "${name}"${path.length > 0 ? ` (leaf ${formatPath(path)})` : ""} is u128, which ${target} does not support: ${why}`,
  );
}
