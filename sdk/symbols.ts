/**
 * The C/asm symbol contract shared by the generators, the FFI shim and the
 * firmware: which functions exist for a variable and what they are called.
 *
 * @module
 */
import { match } from "ts-pattern";
import type { PathSegment } from "./errors.ts";
import { scalarLayout, structFields, typeLayout } from "./layout.ts";
import type { LoweredScalarName } from "./c_names.ts";
import { INTEGER_OPS, type IntegerOp, type LeafOp, RUNTIME_NAMES, SCALAR_OPS, U128_OPS, type U128Op, type VarOp, VAR_OPS } from "./ops.ts";
import type { Target } from "./targets.ts";
import type { PercpuType, ScalarName } from "./types.ts";
import { isInteger } from "./values.ts";

// The operation names come from the op catalog (sdk/ops.ts); re-exported for the generators.
export { INTEGER_OPS, type LeafOp, SCALAR_OPS, VAR_OPS };

/** The runtime functions of every generated `percpu.S` (from the op catalog). */
export const RUNTIME_FUNCTIONS: readonly string[] = RUNTIME_NAMES;

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

/** The leaves of a type, relative to the variable: `suffix` is what follows the variable name in the symbol. */
export type RelativeLeaf = Omit<AccessorLeaf, "symbol"> & { readonly suffix: string };

/** Leaves of each type object per target: variables of one shared type walk it once. */
const leafCache = new Map<Target, WeakMap<PercpuType, readonly RelativeLeaf[]>>();

/**
 * The accessor leaves of a type relative to a variable of it, computed once
 * per type object and target (shared by every variable of the type; frozen).
 */
export function typeLeaves(type: PercpuType, target: Target): readonly RelativeLeaf[] {
  let cache = leafCache.get(target);
  if (!cache) leafCache.set(target, cache = new WeakMap());
  const hit = cache.get(type);
  if (hit) return hit;
  const out: RelativeLeaf[] = [];
  const walk = (t: PercpuType, suffix: string, path: readonly PathSegment[], offset: number, indices: readonly IndexDim[]): void =>
    match(t)
      .with({ kind: "scalar" }, (s) => {
        out.push({ suffix, path, scalar: s.name, size: scalarLayout(s.name, target).size, offset, indices });
      })
      .with({ kind: "array" }, (a) => {
        const stride = typeLayout(a.element, target).size;
        if (a.length <= ARRAY_EXPAND_LIMIT) {
          for (let i = 0; i < a.length; i++) walk(a.element, `${suffix}__${i}`, [...path, i], offset + i * stride, indices);
        } else {
          walk(a.element, suffix, path, offset, [...indices, { length: a.length, stride }]);
        }
      })
      .with({ kind: "struct" }, (s) => {
        for (const f of structFields(s, target)) walk(f.type, `${suffix}__${f.name}`, [...path, f.name], offset + f.offset, indices);
      })
      .with({ kind: "aligned" }, (a) => walk(a.inner, suffix, path, offset, indices))
      .exhaustive();
  walk(type, "", [], 0, []);
  cache.set(type, Object.freeze(out));
  return out;
}

/** Every accessor leaf of a variable on a target, in memory order. */
export function accessorLeaves(name: string, type: PercpuType, target: Target): AccessorLeaf[] {
  return typeLeaves(type, target).map((l) => ({
    symbol: name + l.suffix,
    path: l.path,
    scalar: l.scalar,
    size: l.size,
    offset: l.offset,
    indices: l.indices,
  }));
}

/** The operations a leaf of this scalar type has. */
export function leafOps(scalar: "u128"): readonly U128LeafOp[];
export function leafOps(scalar: LoweredScalarName): readonly LoweredLeafOp[];
export function leafOps(scalar: ScalarName): readonly LeafOp[];
export function leafOps(scalar: ScalarName): readonly LeafOp[] {
  if (scalar === "u128") return U128_LEAF_OPS;
  return isInteger(scalar) ? INTEGER_LEAF_OPS : SCALAR_OPS;
}

/** The ops of an integer leaf and of a u128 leaf, made once. */
const INTEGER_LEAF_OPS: readonly LoweredLeafOp[] = [...SCALAR_OPS, ...INTEGER_OPS];
const U128_LEAF_OPS: readonly U128LeafOp[] = [...SCALAR_OPS, ...U128_OPS];

/** The ops of the scalars the backends lower (every op but the u128 ones). */
export type LoweredLeafOp = Exclude<LeafOp, U128Op>;

/** The ops of a u128 leaf: the reads and writes of every scalar and the u128 ones (no integer read-modify-write). */
export type U128LeafOp = Exclude<LeafOp, IntegerOp>;

/** C function name of a leaf operation: `percpu_STATS__irqs_add_current`. */
export function leafFunction(leaf: AccessorLeaf | string, op: LeafOp): string {
  return `percpu_${typeof leaf === "string" ? leaf : leaf.symbol}_${op}`;
}

/** C function name of a whole-variable operation: `percpu_STATS_current_ptr`. */
export function varFunction(name: string, op: VarOp): string {
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

/** Name of a leaf's data macro in `percpu.h`: `PERCPU_L_STATS__irqs` (`PERCPU_LI_BIG` for an indexed leaf). */
export function leafDataMacro(leaf: Pick<AccessorLeaf, "symbol" | "indices">): string {
  return `PERCPU_${leaf.indices.length > 0 ? "LI" : "L"}_${leaf.symbol}`;
}

/** Name of an indexed leaf's index macro in `percpu.h`: `PERCPU_I_BIG(i0)`. */
export function leafIndexMacro(leaf: Pick<AccessorLeaf, "symbol">): string {
  return `PERCPU_I_${leaf.symbol}`;
}

/**
 * Every global name the generated files define for one variable that could
 * collide with another's (target-independent): a constant number per
 * variable and per leaf. The per-leaf functions (`percpu_<LEAF>_<op>`) need
 * no entry: no variable or field name contains `__`, so a leaf symbol is
 * unique, and no op name is a suffix of another op name after `_`.
 */
export function varSymbols(name: string, type: PercpuType): string[] {
  const names = [storageSymbol(name), offsetMacro(name), cTypeName(name), ...VAR_OPS.map((op) => varFunction(name, op))];
  for (const leaf of typeLeaves(type, "x86_64")) {
    const symbol = name + leaf.suffix;
    names.push(leafDataMacro({ symbol, indices: leaf.indices }));
    if (leaf.indices.length > 0) names.push(leafIndexMacro({ symbol }));
  }
  return names;
}

/** The generic whole-variable accessors of `percpu.h` (`percpu_current_ptr(V)`, ...): names the header defines whatever the variables. */
const GENERIC_VAR_ACCESSORS = VAR_OPS.map((op) => `percpu_${op}`);

/** Names every generated file set defines regardless of variables. */
export const RESERVED_SYMBOLS: ReadonlySet<string> = new Set<string>([...RUNTIME_FUNCTIONS, ...GUARD_HOOKS, ...FIXED_SYMBOLS, ...GENERIC_VAR_ACCESSORS]);

/** The variable-level names of {@link varSymbols} as prefix and suffix around the variable name, in its order. */
const VAR_TEMPLATES: readonly (readonly [string, string])[] = [
  ["__PERCPU_", ""],
  ["PERCPU_", "_OFFSET"],
  ["percpu_", "_t"],
  ...VAR_OPS.map((op) => ["percpu_", `_${op}`] as const),
];

/** Variable names one of whose variable-level names is reserved (today only `SELF`: `PERCPU_SELF_OFFSET`). */
const RESERVED_VAR_NAMES: ReadonlySet<string> = new Set(
  [...RESERVED_SYMBOLS].flatMap((r) =>
    VAR_TEMPLATES.filter(([p, q]) => r.length > p.length + q.length && r.startsWith(p) && r.endsWith(q)).map(([p, q]) => r.slice(p.length, r.length - q.length))
  ),
);

/** Prefixes of the per-leaf data and index macros (`PERCPU_L_`, `PERCPU_LI_`, `PERCPU_I_`). */
const LEAF_MACRO_PREFIXES = ["PERCPU_L_", "PERCPU_LI_", "PERCPU_I_"] as const;

/** Whether a reserved name has the shape of a leaf macro (none today): then every leaf macro is looked up. */
const RESERVED_LEAF_MACROS = [...RESERVED_SYMBOLS].some((r) => LEAF_MACRO_PREFIXES.some((p) => r.startsWith(p)));

/**
 * Exact detection of the clashes {@link varSymbols} would find, without
 * keeping every generated name of every variable. Of those names only two
 * kinds can ever equal a name of another variable:
 *
 * - `__PERCPU_<N>` is the only name starting with `__`: equal only for equal
 *   names (rejected before as `name_duplicate`).
 * - `percpu_<N>_t` and `percpu_<N>_<var op>`: no `_t` / `_<op>` is a suffix of
 *   another (tests/symbol_clash_test.ts checks it), so two of them are equal
 *   only with equal names and equal ops; no other name starts with
 *   `percpu_` except reserved ones (checked against the reserved set).
 * - Two leaf macros of different variables never match: no variable or field
 *   name contains `__` or starts with `_`, so a leaf symbol `NAME__f__3`
 *   splits back uniquely into the variable name and its path, and the
 *   prefixes `L_`, `LI_`, `I_` differ in their first two characters.
 * - `PERCPU_<N>_OFFSET` equals another `PERCPU_<M>_OFFSET` only for `N = M`,
 *   but it can equal a leaf macro of another variable: `L_X` and `X_OFFSET`
 *   give `PERCPU_L_X_OFFSET` twice, `L_X_` and a field `OFFSET` of `X` give
 *   `PERCPU_L_X__OFFSET` twice.
 *
 * So it keeps the offset macros that start like a leaf macro and the leaf
 * macros that end like an offset macro (none in most programs), and looks
 * names up in the reserved set only where a reserved name has their shape.
 */
export class SymbolClashes {
  /** Offset macros of the defined variables that start like a leaf macro. */
  readonly #offsets = new Set<string>();
  /** Leaf data and index macros of the defined variables that end like an offset macro. */
  readonly #leafMacros = new Set<string>();

  /**
   * The first name of {@link varSymbols}(name, type) (in its order) already
   * used by a variable added before or by the runtime, or `undefined`.
   */
  find(name: string, type: PercpuType): string | undefined {
    const reservedVar = RESERVED_VAR_NAMES.has(name);
    if (reservedVar) {
      const storage = storageSymbol(name);
      if (RESERVED_SYMBOLS.has(storage)) return storage;
    }
    if (reservedVar || mayStartLikeLeafMacro(name)) {
      const offset = offsetMacro(name);
      if ((reservedVar && RESERVED_SYMBOLS.has(offset)) || (startsLikeLeafMacro(offset) && this.#leafMacros.has(offset))) return offset;
    }
    if (reservedVar) {
      for (const [p, q] of VAR_TEMPLATES.slice(2)) {
        const symbol = p + name + q;
        if (RESERVED_SYMBOLS.has(symbol)) return symbol;
      }
    }
    for (const leaf of typeLeaves(type, "x86_64")) {
      // Only a leaf symbol ending in "T" can make a macro ending in "_OFFSET"; the others need no string at all.
      const last = leaf.suffix.length > 0 ? leaf.suffix : name;
      if (!RESERVED_LEAF_MACROS && last.charCodeAt(last.length - 1) !== 84 /* T */) continue;
      const symbol = name + leaf.suffix;
      const data = leafDataMacro({ symbol, indices: leaf.indices });
      if (this.#leafMacroUsed(data)) return data;
      if (leaf.indices.length > 0) {
        const index = leafIndexMacro({ symbol });
        if (this.#leafMacroUsed(index)) return index;
      }
    }
    return undefined;
  }

  /** Records the names of a variable that {@link find} accepted. */
  add(name: string, type: PercpuType): void {
    if (mayStartLikeLeafMacro(name)) {
      const offset = offsetMacro(name);
      if (startsLikeLeafMacro(offset)) this.#offsets.add(offset);
    }
    for (const leaf of typeLeaves(type, "x86_64")) {
      const last = leaf.suffix.length > 0 ? leaf.suffix : name;
      if (last.charCodeAt(last.length - 1) !== 84 /* T */) continue;
      const symbol = name + leaf.suffix;
      const data = leafDataMacro({ symbol, indices: leaf.indices });
      if (data.endsWith("_OFFSET")) this.#leafMacros.add(data);
      if (leaf.indices.length > 0) {
        const index = leafIndexMacro({ symbol });
        if (index.endsWith("_OFFSET")) this.#leafMacros.add(index);
      }
    }
  }

  #leafMacroUsed(macro: string): boolean {
    return (RESERVED_LEAF_MACROS && RESERVED_SYMBOLS.has(macro)) || (macro.endsWith("_OFFSET") && this.#offsets.has(macro));
  }
}

/** Whether `PERCPU_<name>_OFFSET` can start like a leaf macro: only when the name starts with `L` or `I` (no string is built for the others). */
function mayStartLikeLeafMacro(name: string): boolean {
  const first = name.charCodeAt(0);
  return first === 76 /* L */ || first === 73 /* I */;
}

function startsLikeLeafMacro(symbol: string): boolean {
  return LEAF_MACRO_PREFIXES.some((p) => symbol.startsWith(p));
}
