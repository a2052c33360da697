/**
 * The facade, the top layer: the SDK instance with the fluent `define()` DSL,
 * the per-target layout and manifest of everything defined on it, and thin
 * delegates to generation (`emit/`), firmware (`firmware/`) and FFI (`ffi/`).
 *
 * @module
 */
import { z } from "zod";
import { type Generated, generateFiles } from "./emit/index.ts";
import type { BindOptions, CurrentCell, HookCounts, InitOptions, LoadInfo, LoadOptions, NativeSdk, NativeVar } from "./ffi/native.ts";
import type { BootFirmwareOptions, BootResult, BuildFirmwareOptions, FirmwareImage } from "./firmware/build.ts";
import type { GenerateOptions } from "./sdk/config.ts";
import { fail, PercpuError, quotePath } from "./sdk/errors.ts";
import { checkDefineOptions, computeLayout, counterOption, type DefineOptions, type Layout, type LayoutOrder } from "./sdk/layout.ts";
import { buildManifest, type Manifest } from "./sdk/manifest.ts";
import { checkVarName } from "./sdk/names.ts";
import { parseOptions } from "./sdk/options.ts";
import { leafOps, SymbolClashes } from "./sdk/symbols.ts";
// Leaf handles (field/at):
import type { NativeLeaf } from "./ffi/native.ts";
import type { PathSegment } from "./sdk/errors.ts";
import { structFields, typeLayout } from "./sdk/layout.ts";
import { type LEAF_OP_SPECS as LEAF_OP_SPECS_TYPE, LEAF_OP_SPECS, type LeafOp, SCALAR_OPS } from "./sdk/ops.ts";
import { type ArrayType, describeValue, type StructType } from "./sdk/types.ts";
import { checkTarget, type Target } from "./sdk/targets.ts";
import { type AlignedType, checkType, type Infer, type InferInit, type IntegerScalarName, type PercpuType, type ScalarType, typeName } from "./sdk/types.ts";
import { ByteSlab, checkValue, encodeChecked, encodeValue, isInteger } from "./sdk/values.ts";
// Per-CPU counters and dynamic allocation (percpu_runtime.ts):
import { checkCounterOptions, type CounterOptions } from "./sdk/counters.ts";
import type { CounterSpec } from "./sdk/layout.ts";
import { type AllocatorStats, PercpuAllocation, PercpuCounter } from "./percpu_runtime.ts";
import { i32 } from "./sdk/types.ts";

/**
 * The operand of a read-modify-write op on an n-bit integer, as C takes it:
 * a number or a bigint from -(2^n − 1) to 2^n − 1, wrapped modulo 2^n
 * (`addCurrent(-1)` on an unsigned variable decrements, as Linux's
 * `this_cpu_add(x, -1)`). A number for a 64-bit type must be a safe integer.
 */
export type IntegerArgument = number | bigint;

/** Types whose handles have the integer read-modify-write ops and `sum()`. */
export type IntegerVarType = ScalarType<IntegerScalarName> | AlignedType<ScalarType<IntegerScalarName>>;

/** A u128 scalar variable's type (`aligned()` wrappers allowed): the variables with `cmpxchg128Current`. */
export type U128VarType = ScalarType<"u128"> | AlignedType<ScalarType<"u128">>;

function notLoaded(what: string): never {
  fail("native_not_loaded", [], `Cannot ${what}: the native library is not loaded, await sdk.load({ cpus }) first`);
}

/** Options of {@link createPercpu}. */
export interface PercpuOptions {
  /**
   * Variable order in the area: `"definition"` (default) keeps definition
   * order; `"min-padding"` sorts by decreasing alignment to remove padding.
   */
  readonly order?: LayoutOrder;
}

const optionsSchema = z.strictObject({
  order: z.enum(["definition", "min-padding"]).optional(),
});

/**
 * A defined per-CPU variable: its name, type and initial value.
 * `T` is the type tree; values read back as `Infer<T>`.
 */
export class PercpuVar<T extends PercpuType = PercpuType> {
  /** Variable name (also the C symbol stem). */
  readonly name: string;
  /** Type tree. */
  readonly type: T;
  /** Initial value, normalised (`bigint` for 64-bit ints) and frozen. */
  readonly init: Infer<T>;
  /** The SDK instance the variable belongs to. */
  readonly sdk: PercpuSdk;

  /** @internal Use {@link PercpuSdk.define}. */
  constructor(sdk: PercpuSdk, name: string, type: T, init: Infer<T>) {
    this.sdk = sdk;
    this.name = name;
    this.type = type;
    this.init = init;
  }

  /** A short description, e.g. `CPU_ID: u64`. */
  toString(): string {
    return `${this.name}: ${typeName(this.type)}`;
  }

  /**
   * The handle of a field of a struct variable (`aligned()` looked
   * through): every op of the field's type, at the cost of a variable of
   * that type (see {@link PercpuLeaf}). Cached: the same handle each time.
   * An unknown field name is a compile error and, at run time,
   * `value_wrong_kind`.
   *
   * @example
   * ```ts
   * import { array, createPercpu, struct, u16, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const STATS = sdk.define("STATS", struct({ irqs: u64, hist: array(u16, 4) }), { irqs: 0, hist: [0, 0, 0, 0] });
   * await sdk.load();
   * sdk.init(1);
   * sdk.initPercpuReg(0);
   * STATS.field("irqs").addCurrent(1);
   * STATS.field("hist").at(2).writeCurrent(7);
   * const irqs: bigint = STATS.field("irqs").readCurrent(); // 1n
   * ```
   */
  field<K extends FieldName<T>>(name: K): LeafHandle<FieldType<T, K>> {
    const h = this.#leaves?.fields.get(name);
    if (h !== undefined) return h as unknown as LeafHandle<FieldType<T, K>>;
    const self = this as unknown as PercpuVar;
    return childLeaf(self, self, this.#leaves ??= newLeafNode(self), "field", name) as unknown as LeafHandle<FieldType<T, K>>;
  }

  /** The cached leaf handles below this variable (`field()`, `at()`). */
  #leaves: LeafNode | undefined;

  /**
   * The handle of an element of an array variable, short (one native
   * function per element) or long (indexed: the index is baked into the
   * handle's methods); `aligned()` looked through. Cached per index. An
   * index outside the array is `value_out_of_range`.
   *
   * @example
   * ```ts
   * import { array, createPercpu, u32 } from "./mod.ts";
   * const sdk = createPercpu();
   * const IRQ_COUNT = sdk.define("IRQ_COUNT", array(u32, 64), new Array(64).fill(0));
   * await sdk.load();
   * sdk.init(1);
   * sdk.initPercpuReg(0);
   * IRQ_COUNT.at(20).addCurrent(1);
   * console.log(IRQ_COUNT.at(20).readCurrent(), IRQ_COUNT.readCurrent()[20]); // 1 1
   * ```
   */
  at(index: [ElementType<T>] extends [never] ? never : number): LeafHandle<ElementType<T>> {
    if (typeof index === "number") {
      const h = this.#leaves?.elements[index];
      if (h !== undefined) return h as unknown as LeafHandle<ElementType<T>>;
    }
    const self = this as unknown as PercpuVar;
    return childLeaf(self, self, this.#leaves ??= newLeafNode(self), "at", index) as unknown as LeafHandle<ElementType<T>>;
  }

  // ---- Native access (after `await sdk.load()`): thin delegates to ffi/native.ts ----

  #native: NativeVar | undefined;

  /**
   * @internal Attaches the native accessors (`sdk.load()` does this). The
   * compiled per-variable functions are also installed as own properties so
   * that a call site reaches the FFI call without a shared, polymorphic
   * wrapper in between (they behave exactly like the methods below).
   */
  attachNative(native: NativeVar): void {
    this.#native = native;
    const install = (op: string, fn: unknown): void => {
      Object.defineProperty(this, op, { value: fn, configurable: true, writable: true, enumerable: false });
    };
    for (const [op, fn] of Object.entries(native.accessors)) install(op, fn);
    native.onInstall(install);
    attachLeaves(this as unknown as PercpuVar, native);
  }

  #n(): NativeVar {
    return this.#native ?? notLoaded(`access ${quotePath([this.name])}`);
  }

  /** Offset of the variable from its area base on the host (x86_64) layout. */
  offset(): number {
    return this.#native?.offsetValue ?? this.sdk.layout("x86_64").vars.find((v) => v.name === this.name)!.offset;
  }

  /**
   * The seed's `symbol_vma()`: the variable's address in the host's `.percpu`
   * load image (the template the areas are copied from), the same on every
   * CPU; in naive mode the plain global's address (`currentPtr()`), as in the
   * seed's sp-naive.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const HITS = sdk.define("HITS", u64, 0);
   * await sdk.load({ features: ["naive"] });
   * console.log(HITS.symbolVma() === HITS.currentPtr()); // true
   * ```
   */
  symbolVma(): bigint {
    return this.#n().symbolVma();
  }

  /** Address of the current CPU's copy (`<v>_current_ptr`). */
  currentPtr(): bigint {
    return this.#n().currentPtr();
  }

  /** Reads the current CPU's value without a guard (`*_read_current_raw` of every leaf). */
  readCurrentRaw(): Infer<T> {
    return this.#n().accessors.readCurrentRaw() as Infer<T>;
  }

  /** Writes the current CPU's value without a guard. */
  writeCurrentRaw(value: InferInit<T>): void {
    this.#n().accessors.writeCurrentRaw(value);
  }

  /** Reads the current CPU's value (guarded where the access is not one instruction). */
  readCurrent(): Infer<T> {
    return this.#n().accessors.readCurrent() as Infer<T>;
  }

  /** Writes the current CPU's value (guarded where the access is not one instruction). */
  writeCurrent(value: InferInit<T>): void {
    this.#n().accessors.writeCurrent(value);
  }

  /**
   * Runs `fn` with preemption and interrupts off (the shim's guard hooks, when
   * loaded with those features); `fn` gets raw access to the current CPU's
   * value. The guard is released when `fn` returns or throws.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const COUNTER = sdk.define("COUNTER", u64, 0);
   * await sdk.load();
   * sdk.init(1);
   * sdk.initPercpuReg(0);
   * COUNTER.withCurrent((c) => c.set(c.get() + 1n));
   * ```
   */
  withCurrent<R>(fn: (cell: CurrentCell<Infer<T>>) => R): R {
    return this.#n().withCurrent(fn as (cell: CurrentCell<unknown>) => R);
  }

  /** Restores the current CPU's copy to the initial value (`<v>_reset_to_init`). */
  resetToInit(): void {
    this.#n().resetToInit();
  }

  /** Address of `cpu`'s copy (`<v>_remote_ptr`). */
  remotePtr(cpu: number): bigint {
    return this.#n().remotePtr(cpu);
  }

  /**
   * Reads `cpu`'s value with plain loads, as Linux's `per_cpu(x, cpu)`: a
   * value wider than one machine word (a struct, a 64-bit value on riscv32)
   * is several loads and may be torn while its owner writes it.
   */
  remoteRead(cpu: number): Infer<T> {
    return this.#n().accessors.remoteRead(cpu) as Infer<T>;
  }

  /**
   * Writes `cpu`'s value with plain stores. It races the owner's
   * read-modify-write ops (on x86_64 an unlocked `add %gs:`, as Linux's
   * `this_cpu_add`): an update either side makes meanwhile can be lost.
   */
  remoteWrite(cpu: number, value: InferInit<T>): void {
    this.#n().accessors.remoteWrite(cpu, value);
  }

  /** Adds to the current CPU's value (wrapping; one `add %gs:` instruction on x86_64). */
  addCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): void {
    this.#n().integerOp("addCurrent")(value);
  }

  /** Subtracts from the current CPU's value (wrapping). */
  subCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): void {
    this.#n().integerOp("subCurrent")(value);
  }

  /** Bitwise-ands the current CPU's value. */
  andCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): void {
    this.#n().integerOp("andCurrent")(value);
  }

  /** Bitwise-ors the current CPU's value. */
  orCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): void {
    this.#n().integerOp("orCurrent")(value);
  }

  /** Bitwise-xors the current CPU's value. */
  xorCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): void {
    this.#n().integerOp("xorCurrent")(value);
  }

  /** Swaps the current CPU's value; returns the old one. */
  xchgCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): Infer<V> {
    return this.#n().integerOp("xchgCurrent")(value) as Infer<V>;
  }

  /** Stores `desired` if the current CPU's value equals `expected`; returns the old value. */
  cmpxchgCurrent<V extends IntegerVarType>(this: PercpuVar<V>, expected: IntegerArgument, desired: IntegerArgument): Infer<V> {
    return this.#n().integerOp("cmpxchgCurrent")(expected, desired) as Infer<V>;
  }

  /** Adds 1 to the current CPU's value (wrapping; x86_64 `inc %gs:`). */
  incCurrent<V extends IntegerVarType>(this: PercpuVar<V>): void {
    this.#n().integerOp("incCurrent")();
  }

  /** Subtracts 1 from the current CPU's value (wrapping; x86_64 `dec %gs:`). */
  decCurrent<V extends IntegerVarType>(this: PercpuVar<V>): void {
    this.#n().integerOp("decCurrent")();
  }

  /** Adds to the current CPU's value; returns the new value (x86_64 `xadd %gs:` + `add`). */
  addReturnCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): Infer<V> {
    return this.#n().integerOp("addReturnCurrent")(value) as Infer<V>;
  }

  /** Subtracts from the current CPU's value; returns the new value. */
  subReturnCurrent<V extends IntegerVarType>(this: PercpuVar<V>, value: IntegerArgument): Infer<V> {
    return this.#n().integerOp("subReturnCurrent")(value) as Infer<V>;
  }

  /** Adds 1 to the current CPU's value; returns the new value. */
  incReturnCurrent<V extends IntegerVarType>(this: PercpuVar<V>): Infer<V> {
    return this.#n().integerOp("incReturnCurrent")() as Infer<V>;
  }

  /** Subtracts 1 from the current CPU's value; returns the new value. */
  decReturnCurrent<V extends IntegerVarType>(this: PercpuVar<V>): Infer<V> {
    return this.#n().integerOp("decReturnCurrent")() as Infer<V>;
  }

  /**
   * Stores `desired` if the current CPU's u128 value equals `expected`;
   * returns the old value (Linux's `this_cpu_cmpxchg128`, x86_64
   * `cmpxchg16b %gs:`). Values are bigints in 0..2^128 − 1.
   */
  cmpxchg128Current<V extends U128VarType>(this: PercpuVar<V>, expected: bigint | number, desired: bigint | number): bigint {
    return this.#n().integerOp("cmpxchg128Current")(expected, desired) as bigint;
  }

  /**
   * Stores `desired` if the current CPU's value equals `expected` (one
   * `cmpxchg %gs:` on x86_64, Linux's `this_cpu_try_cmpxchg`); returns
   * whether it did and the value found (`expected` on success), as C's
   * `*old`: a retry loop passes `value` back as the next `expected`.
   */
  tryCmpxchgCurrent<V extends IntegerVarType>(
    this: PercpuVar<V>,
    expected: IntegerArgument,
    desired: IntegerArgument,
  ): { ok: boolean; value: Infer<V> } {
    return this.#n().integerOp("tryCmpxchgCurrent")(expected, desired) as { ok: boolean; value: Infer<V> };
  }

  /**
   * Adds to `cpu`'s value with one atomic on its address (x86_64 `lock add`,
   * aarch64 LL/SC, riscv `amoadd`, loongarch `amadd`). Exact against other
   * remote RMWs, and against the owner's RMW ops when the variable is
   * defined `{ atomic: true }`; otherwise, on x86_64, the owner's unlocked
   * `add %gs:` can still lose either update (README "Remote access").
   */
  remoteAdd<V extends IntegerVarType>(this: PercpuVar<V>, cpu: number, value: IntegerArgument): void {
    this.#n().integerOp("remoteAdd")(cpu, value);
  }

  /**
   * Stores `desired` in `cpu`'s value if it equals `expected`, atomically on
   * its address (x86_64 `lock cmpxchg`, LL/SC elsewhere); returns the old
   * value. Same exactness rules as {@link PercpuVar.remoteAdd}.
   */
  remoteCmpxchg<V extends IntegerVarType>(this: PercpuVar<V>, cpu: number, expected: IntegerArgument, desired: IntegerArgument): Infer<V> {
    return this.#n().integerOp("remoteCmpxchg")(cpu, expected, desired) as Infer<V>;
  }

  /** Sum of every initialised CPU's value (read with `remote_read`). */
  sum<V extends IntegerVarType>(this: PercpuVar<V>): Infer<V> {
    return this.#n().integerOp("sum")() as Infer<V>;
  }
}

// ---- Leaf handles: every field and element of a variable as a handle ----

/**
 * A type with its `aligned()` wrappers removed.
 *
 * @example
 * ```ts
 * import { type AlignedType, u64 } from "./mod.ts";
 * import type { Unaligned } from "./percpu.ts";
 * const t: Unaligned<AlignedType<typeof u64>> = u64;
 * ```
 */
export type Unaligned<T> = [PercpuType] extends [T] ? PercpuType : T extends AlignedType<infer I> ? Unaligned<I> : T;

/**
 * The field names of a struct type (`aligned()` looked through); `never` for other types.
 *
 * @example
 * ```ts
 * import { struct, u32, u64 } from "./mod.ts";
 * import type { FieldName } from "./percpu.ts";
 * const STATS = struct({ irqs: u64, ticks: u32 });
 * const name: FieldName<typeof STATS> = "irqs";
 * ```
 */
export type FieldName<T> = [PercpuType] extends [T] ? string
  : Unaligned<T> extends StructType<infer F> ? keyof F & string
  : never;

/**
 * The type of field `K` of a struct type (`aligned()` looked through).
 *
 * @example
 * ```ts
 * import { struct, u32, u64 } from "./mod.ts";
 * import type { FieldType } from "./percpu.ts";
 * const STATS = struct({ irqs: u64, ticks: u32 });
 * const t: FieldType<typeof STATS, "ticks"> = u32;
 * ```
 */
export type FieldType<T, K> = [PercpuType] extends [T] ? PercpuType
  : Unaligned<T> extends StructType<infer F> ? (K extends keyof F ? F[K] : never)
  : never;

/**
 * The element type of an array type (`aligned()` looked through); `never` for other types.
 *
 * @example
 * ```ts
 * import { array, u16 } from "./mod.ts";
 * import type { ElementType } from "./percpu.ts";
 * const HIST = array(u16, 4);
 * const t: ElementType<typeof HIST> = u16;
 * ```
 */
export type ElementType<T> = [PercpuType] extends [T] ? PercpuType : Unaligned<T> extends ArrayType<infer E> ? E : never;

/** Whether a type is an integer scalar (`aligned()` looked through); true for the unknown `PercpuType` (every method typed). */
type IsIntegerType<T> = [PercpuType] extends [T] ? true : Unaligned<T> extends ScalarType<infer N> ? ([N] extends [IntegerScalarName] ? true : false) : false;

/** Whether a type is the u128 scalar (`aligned()` looked through); true for the unknown `PercpuType`. */
type IsU128Type<T> = [PercpuType] extends [T] ? true : Unaligned<T> extends ScalarType<infer N> ? ([N] extends ["u128"] ? true : false) : false;

/** Whether catalog op `K` applies to a leaf of type `T` (its `scalars` class). */
type OpApplies<T, K extends LeafOp> = LeafSpecs[K]["scalars"] extends "integer" ? IsIntegerType<T>
  : LeafSpecs[K]["scalars"] extends "u128" ? IsU128Type<T>
  : true;

type LeafSpecs = typeof LEAF_OP_SPECS_TYPE;

/** One argument type per element of a tuple of C parameter names. */
type LeafArgs<V extends readonly unknown[], A> = { -readonly [I in keyof V]: A };

/** The JS method of catalog op `K` on a leaf of type `T`: the CPU first for remote ops, then its values. */
type LeafOpMethod<T, K extends LeafOp> = (
  ...args: [
    ...(LeafSpecs[K]["target"] extends "remote" ? [cpu: number] : []),
    ...LeafArgs<LeafSpecs[K]["values"], LeafSpecs[K]["scalars"] extends "integer" ? IntegerArgument : InferInit<T>>,
  ]
) => LeafSpecs[K]["returns"] extends "value" ? Infer<T> : LeafSpecs[K]["returns"] extends "ok" ? { ok: boolean; value: Infer<T> } : void;

/**
 * The op methods of a leaf handle of type `T`, derived from the op catalog
 * (sdk/ops.ts): one per leaf op named by its `js` (`readCurrent`,
 * `remoteWrite`, `addCurrent`, ...), the integer ops and `sum()` only for
 * integer leaves (all of them for the unknown `PercpuType`, whose handles
 * have them only at run time when the leaf is an integer). A new catalog row is a new method here with nothing to write.
 *
 * @example
 * ```ts
 * import { u8 } from "./mod.ts";
 * import type { LeafOpMethods } from "./percpu.ts";
 * type U8Ops = LeafOpMethods<typeof u8>;
 * const call = (ops: U8Ops): number => ops.xchgCurrent(-1); // 255 wraps in as C does
 * ```
 */
export type LeafOpMethods<T> =
  & {
    [K in LeafOp as OpApplies<T, K> extends true ? LeafSpecs[K]["js"] : never]: LeafOpMethod<T, K>;
  }
  & (IsIntegerType<T> extends true ? { sum(): Infer<T> } : unknown);

/**
 * What `field()` and `at()` return: a {@link PercpuLeaf} of the field's or
 * element's type with the catalog's op methods ({@link LeafOpMethods}).
 *
 * @example
 * ```ts
 * import { array, createPercpu, u32 } from "./mod.ts";
 * import type { LeafHandle } from "./percpu.ts";
 * const sdk = createPercpu();
 * const IRQ_COUNT = sdk.define("IRQ_COUNT", array(u32, 64), new Array(64).fill(0));
 * const timer: LeafHandle<typeof u32> = IRQ_COUNT.at(20);
 * ```
 */
export type LeafHandle<T extends PercpuType> = PercpuLeaf<T> & LeafOpMethods<T>;

/** The cached children of a variable or leaf handle. */
interface LeafNode {
  readonly fields: Map<string, PercpuLeaf>;
  readonly elements: (PercpuLeaf | undefined)[];
}

/** Per variable: every leaf handle made of it (to attach on `load()`) and its native side once loaded. */
interface LeafRoot {
  readonly leaves: PercpuLeaf[];
  native: NativeVar | null;
}

const leafRoots = new WeakMap<PercpuVar, LeafRoot>();

/** A new (empty) cache of a handle's children below variable `root`. */
function newLeafNode(root: PercpuVar): LeafNode {
  if (!leafRoots.has(root)) leafRoots.set(root, { leaves: [], native: null });
  return { fields: new Map(), elements: [] };
}

/** Attaches every leaf handle of `variable` to its (new) native side: `PercpuVar.attachNative` calls it. */
function attachLeaves(variable: PercpuVar, native: NativeVar): void {
  const root = leafRoots.get(variable);
  if (root === undefined) {
    leafRoots.set(variable, { leaves: [], native });
    return;
  }
  root.native = native;
  for (const leaf of root.leaves) leaf.attachNative(native);
}

/**
 * Checks one step of a leaf path (a field name of a struct, an index of an
 * array) below `path` of type `type` and makes (and caches) its handle.
 */
function childLeaf(
  owner: PercpuVar | PercpuLeaf,
  root: PercpuVar,
  node: LeafNode,
  how: "field" | "at",
  seg: unknown,
): PercpuLeaf {
  const path: readonly PathSegment[] = owner instanceof PercpuLeaf ? owner.path : [];
  const full = [root.name, ...path];
  let t: PercpuType = owner.type;
  while (t.kind === "aligned") t = t.inner;
  const call = `Cannot take ${how}(${describeValue(seg)}) of ${quotePath(full)}`;
  let child: PercpuLeaf;
  if (how === "field") {
    if (t.kind !== "struct") fail("value_wrong_kind", full, `${call}: it is a ${typeName(t)}, not a struct`);
    if (typeof seg !== "string" || !Object.hasOwn(t.fields, seg)) {
      fail("value_wrong_kind", full, `${call}: no such field, the fields are ${Object.keys(t.fields).join(", ")}`);
    }
    child = new PercpuLeaf<PercpuType>(root, [...path, seg], t.fields[seg]! as PercpuType);
    node.fields.set(seg, child);
  } else {
    if (t.kind !== "array") fail("value_wrong_kind", full, `${call}: it is a ${typeName(t)}, not an array`);
    if (typeof seg !== "number" || !Number.isInteger(seg)) {
      fail("value_wrong_kind", full, `${call}: the index must be an integer number, got ${describeValue(seg)}`);
    }
    if (seg < 0 || seg >= t.length) {
      fail("value_out_of_range", full, `${call}: index ${seg} is out of range, the array has ${t.length} elements (0..${t.length - 1})`);
    }
    const i = seg === 0 ? 0 : seg; // -0 → 0
    child = new PercpuLeaf<PercpuType>(root, [...path, i], t.element as PercpuType);
    node.elements[i] = child;
  }
  const r = leafRoots.get(root)!;
  r.leaves.push(child);
  if (r.native !== null) child.attachNative(r.native);
  return child;
}

/**
 * A field or element of a per-CPU variable, at any depth
 * (`STATS.field("hist").at(2)`), as a handle of its own: the catalog's op
 * methods of its type ({@link LeafOpMethods}: raw and guarded read/write,
 * remote read/write, the read-modify-write ops and `sum()` on an integer;
 * the whole-value ops of a sub-struct or sub-array), {@link PercpuLeaf.currentPtr}
 * and {@link PercpuLeaf.remotePtr}, and `field()` / `at()` below it.
 *
 * Each method calls the leaf's own generated native function
 * (`percpu_STATS__irqs_add_current`, `percpu_BIG_read_current(20)` for an
 * element of an indexed array) through accessors compiled for the leaf with
 * its indices baked in as constants, so it costs what the same op on a
 * variable of the leaf's type costs. Handles exist before `load()` (their
 * ops then throw `native_not_loaded`) and follow every `load()` after.
 *
 * @example
 * ```ts
 * import { array, createPercpu, struct, u16, u64 } from "./mod.ts";
 * const sdk = createPercpu();
 * const STATS = sdk.define("STATS", struct({ irqs: u64, hist: array(u16, 4) }), { irqs: 0, hist: [0, 0, 0, 0] });
 * const irqs = STATS.field("irqs"); // before load: a handle whose ops throw native_not_loaded
 * await sdk.load({ cpus: 2 });
 * sdk.init(2);
 * sdk.initPercpuReg(0);
 * irqs.addCurrent(-1);                  // wraps as C: 2^64 - 1
 * console.log(irqs.remoteRead(0), irqs.currentPtr() === STATS.currentPtr()); // 18446744073709551615n true
 * ```
 */
export class PercpuLeaf<T extends PercpuType = PercpuType> {
  /** The variable the leaf belongs to. */
  readonly variable: PercpuVar;
  /** Field names and indices from the variable down to the leaf. */
  readonly path: readonly PathSegment[];
  /** The leaf's type tree. */
  readonly type: T;
  #native: NativeLeaf | null = null;
  /** The cached leaf handles below this one. */
  #leaves: LeafNode | undefined;

  /** @internal Use {@link PercpuVar.field} / {@link PercpuVar.at}. */
  constructor(variable: PercpuVar, path: readonly PathSegment[], type: T) {
    this.variable = variable;
    this.path = Object.freeze([...path]);
    this.type = type;
    let t: PercpuType = type;
    while (t.kind === "aligned") t = t.inner;
    const integer = t.kind === "scalar" && isInteger(t.name);
    const what = `access ${quotePath([variable.name, ...path])}`;
    const unloaded = (): never => notLoaded(what);
    if (t.kind === "scalar") for (const op of leafOps(t.name)) this.#install(LEAF_OP_SPECS[op].js, unloaded);
    else for (const op of SCALAR_OPS) this.#install(LEAF_OP_SPECS[op].js, unloaded);
    if (integer) this.#install("sum", unloaded);
  }

  #install(op: string, fn: unknown): void {
    Object.defineProperty(this, op, { value: fn, configurable: true, writable: true, enumerable: false });
  }

  /** @internal Installs the leaf's compiled accessors (the variable's `attachNative` does this). */
  attachNative(native: NativeVar): void {
    const install = (op: string, fn: unknown): void => this.#install(op, fn);
    const leaf = native.leaf(this.path, install);
    this.#native = leaf;
    for (const [op, fn] of Object.entries(leaf.accessors)) install(op, fn);
  }

  #n(): NativeLeaf {
    return this.#native ?? notLoaded(`access ${quotePath([this.variable.name, ...this.path])}`);
  }

  /** The quoted path and type, e.g. `STATS.hist[2]: u16`. */
  toString(): string {
    return `${quotePath([this.variable.name, ...this.path]).slice(1, -1)}: ${typeName(this.type)}`;
  }

  /**
   * Offset of the leaf from its variable on the host (x86_64) layout: its
   * address is the variable's plus this.
   *
   * @example
   * ```ts
   * import { createPercpu, struct, u32, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const STATS = sdk.define("STATS", struct({ ticks: u32, irqs: u64 }), { ticks: 0, irqs: 0 });
   * console.log(STATS.field("irqs").offset()); // 8
   * ```
   */
  offset(): number {
    if (this.#native !== null) return this.#native.offset;
    let off = 0;
    let t: PercpuType = this.variable.type;
    for (const seg of this.path) {
      while (t.kind === "aligned") t = t.inner;
      if (t.kind === "struct") {
        const f = structFields(t, "x86_64").find((x) => x.name === seg)!;
        off += f.offset;
        t = f.type;
      } else if (t.kind === "array") {
        off += (seg as number) * typeLayout(t.element, "x86_64").size;
        t = t.element;
      }
    }
    return off;
  }

  /** Address of the leaf in the current CPU's area (the variable's `currentPtr()` + {@link PercpuLeaf.offset}). */
  currentPtr(): bigint {
    return this.#n().currentPtr();
  }

  /** Address of the leaf in `cpu`'s area (the variable's `remotePtr(cpu)` + {@link PercpuLeaf.offset}). */
  remotePtr(cpu: number): bigint {
    return this.#n().remotePtr(cpu);
  }

  /**
   * The handle of a field of this leaf when it is a struct (see {@link PercpuVar.field}).
   *
   * @example
   * ```ts
   * import { createPercpu, struct, u8 } from "./mod.ts";
   * const sdk = createPercpu();
   * const CFG = sdk.define("CFG", struct({ irq: struct({ line: u8, prio: u8 }) }), { irq: { line: 3, prio: 1 } });
   * const line = CFG.field("irq").field("line");
   * ```
   */
  field<K extends FieldName<T>>(name: K): LeafHandle<FieldType<T, K>> {
    const h = this.#leaves?.fields.get(name);
    if (h !== undefined) return h as unknown as LeafHandle<FieldType<T, K>>;
    const self = this as unknown as PercpuLeaf;
    return childLeaf(self, this.variable, this.#leaves ??= newLeafNode(this.variable), "field", name) as unknown as LeafHandle<
      FieldType<T, K>
    >;
  }

  /**
   * The handle of an element of this leaf when it is an array (see {@link PercpuVar.at}).
   *
   * @example
   * ```ts
   * import { array, createPercpu, struct, u16 } from "./mod.ts";
   * const sdk = createPercpu();
   * const STATS = sdk.define("STATS", struct({ hist: array(u16, 32) }), { hist: new Array(32).fill(0) });
   * const bucket = STATS.field("hist").at(20);
   * ```
   */
  at(index: [ElementType<T>] extends [never] ? never : number): LeafHandle<ElementType<T>> {
    if (typeof index === "number") {
      const h = this.#leaves?.elements[index];
      if (h !== undefined) return h as unknown as LeafHandle<ElementType<T>>;
    }
    const self = this as unknown as PercpuLeaf;
    return childLeaf(self, this.variable, this.#leaves ??= newLeafNode(this.variable), "at", index) as unknown as LeafHandle<
      ElementType<T>
    >;
  }
}

/**
 * What `sdk.alloc(type)` returns: for a scalar type the op methods of a
 * variable of that type, for an array `at(i)` and for a struct `field(name)`
 * with the handle of that part.
 *
 * @example
 * ```ts
 * import { type ArrayType, u32, u64 } from "./mod.ts";
 * import type { AllocHandle } from "./percpu.ts";
 * const read = (h: AllocHandle<typeof u64>): bigint => h.readCurrent();
 * const bump = (h: AllocHandle<ArrayType<typeof u32>>): void => h.at(3).addCurrent(1);
 * ```
 */
export type AllocHandle<T extends PercpuType> = Unaligned<T> extends ArrayType<infer E> ? { at(index: number): AllocHandle<E> } & PercpuAllocation & LeafOpMethods<T>
  : Unaligned<T> extends StructType<infer F> ? { field<K extends keyof F & string>(name: K): AllocHandle<F[K]> } & PercpuAllocation & LeafOpMethods<T>
  : PercpuAllocation & LeafOpMethods<T>;

/** The `counter` field of a layout definition, when the variable is a counter's delta. */
function counterDef(spec: CounterSpec | undefined): { percpuCounter?: CounterSpec } {
  return spec === undefined ? {} : { percpuCounter: spec };
}

/**
 * A set of per-CPU variables. Use the default {@link percpu} instance or make
 * isolated ones with {@link createPercpu}.
 */
export class PercpuSdk {
  readonly #vars: PercpuVar[] = [];
  readonly #names = new Set<string>();
  /** Variables defined `{ atomic: true }`. */
  readonly #atomic = new Set<string>();
  /** Per-CPU counters by name (their deltas are variables of the same name). */
  readonly #counters = new Map<string, CounterSpec>();
  /** Variables defined `{ counter: true }`. */
  readonly #counter = new Set<string>();
  readonly #symbols = new SymbolClashes();
  readonly #layouts = new Map<Target, Layout>();
  readonly #order: LayoutOrder;
  #sealed = false;

  /** Creates an instance; `options` are validated. */
  constructor(options: PercpuOptions = {}) {
    this.#order = parseOptions(optionsSchema, options, "percpu options").order ?? "definition";
  }

  /**
   * Defines a per-CPU variable and returns its typed handle. Throws a
   * `PercpuError` (and defines nothing) on a bad name, type, initial value
   * or options. `{ atomic: true }` (integer scalars only, else
   * `options_invalid`) makes the variable's RMW ops on the current CPU
   * atomic against other CPUs (x86_64: `lock`-prefixed), so that
   * `remoteAdd`/`remoteCmpxchg` from other CPUs lose no update.
   *
   * @example
   * ```ts
   * import { createPercpu, struct, u32, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const CPU_ID = sdk.define("CPU_ID", u64, 0);        // reads back as bigint
   * const STATS = sdk.define("STATS", struct({ irqs: u64, ticks: u32 }), { irqs: 0n, ticks: 0 });
   * const HITS = sdk.define("HITS", u64, 0, { atomic: true }); // remoteAdd from other CPUs is exact
   * ```
   */
  define<const T extends PercpuType>(name: string, type: T, init: InferInit<T>, options?: DefineOptions): PercpuVar<T> {
    if (collected === undefined) return this.#define(name, type, init, options);
    try {
      return this.#define(name, type, init, options);
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      collected.push(e);
      return new PercpuVar(this, String(name), type, init as Infer<T>);
    }
  }

  #define<const T extends PercpuType>(name: string, type: T, init: InferInit<T>, options: DefineOptions | undefined): PercpuVar<T> {
    checkVarName(name);
    if (this.#sealed) {
      fail("sealed", [name], `Cannot define ${quotePath([name])}: the layout was sealed by layout(), manifest() or code generation; define every variable first`);
    }
    if (this.#names.has(name)) fail("name_duplicate", [name], `Cannot define ${quotePath([name])}: a variable of that name already exists`);
    checkType(type, [name]);
    const clash = this.#symbols.find(name, type);
    if (clash !== undefined) {
      fail("name_symbol_clash", [name], `Cannot define ${quotePath([name])}: its generated symbol "${clash}" is already used by another variable or the runtime`);
    }
    const value = checkValue(type, init, [name]) as Infer<T>;
    if (checkDefineOptions(name, type, options)) this.#atomic.add(name);
    if (counterOption(options)) this.#counter.add(name);
    const handle = new PercpuVar(this, name, type, value);
    this.#vars.push(handle as unknown as PercpuVar);
    this.#names.add(name);
    this.#symbols.add(name, type);
    return handle;
  }

  /**
   * Defines a per-CPU counter (Linux `percpu_counter`): an `i32` delta per
   * CPU (the variable `name`) and a global `i64` count starting at `init`,
   * folded at `batch` (default `max(32, 2 × cpus)` of the generation). The C
   * API is `percpu_counter_add(NAME, v)`, `percpu_counter_read(NAME)`, ...;
   * the handle has the same operations after `load()`.
   *
   * @example
   * ```ts
   * import { createPercpu } from "./mod.ts";
   * const sdk = createPercpu();
   * const NR_FILES = sdk.counter("NR_FILES", { batch: 64, init: 0n });
   * ```
   */
  counter(name: string, options?: CounterOptions): PercpuCounter {
    const spec = checkCounterOptions(String(name), options);
    this.define(name, i32, 0);
    this.#counters.set(name, spec);
    return new PercpuCounter(name, () => this.#native);
  }

  /**
   * Allocates a value of any type in the dynamic region of every CPU's area
   * (`load({ dynamic: bytes })`; Linux `alloc_percpu`), zero-filled or set to
   * `init` on every CPU, and returns its handle: a scalar's has the op
   * methods of a variable of that type, an array's `at(i)`, a struct's
   * `field(name)`, down to the scalars; `free()` returns the block.
   * No room is a `PercpuError` `alloc_exhausted`; a library loaded without
   * `dynamic` is `alloc_unavailable`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * await sdk.load({ cpus: 2, dynamic: 4096 });
   * sdk.init(2);
   * sdk.initPercpuReg(1);
   * const hits = sdk.alloc(u64, 5n);
   * hits.addCurrent(1n);
   * console.log(hits.remoteRead(0), hits.remoteRead(1)); // 5n 6n
   * hits.free();
   * sdk.close();
   * ```
   */
  alloc<const T extends PercpuType>(type: T, init?: InferInit<T>): AllocHandle<T> {
    const native = this.#n("alloc");
    const allocator = native.allocator;
    if (allocator === null) fail("alloc_unavailable", [], "Cannot alloc: the library was loaded without a dynamic region, load({ dynamic: bytes }) first");
    checkType(type, ["alloc"]);
    const { size, align } = typeLayout(type, "x86_64");
    const areaAlign = native.layoutExpected(1).align;
    if (align > areaAlign) fail("options_invalid", ["alloc"], `Cannot alloc ${typeName(type)}: its alignment ${align} is larger than the area alignment ${areaAlign}`);
    const bytes = init === undefined ? undefined : encodeValue(type, checkValue(type, init, ["alloc"]), "x86_64");
    const offset = allocator.alloc(size, align, bytes);
    if (offset === 0) {
      const st = allocator.stats();
      fail("alloc_exhausted", ["alloc"], `Cannot alloc ${typeName(type)} (${size} bytes, align ${align}): the dynamic region has ${st.free} of ${st.size} bytes free, the largest free block is ${st.largestFree}`);
    }
    return new PercpuAllocation(allocator, type, offset, () => native.areaNum()) as AllocHandle<T>;
  }

  /** `percpu_alloc_stats`: bytes of the dynamic region (size, used, free, largest free block) and live allocations. */
  allocStats(): AllocatorStats {
    const allocator = this.#n("read the allocator statistics").allocator;
    if (allocator === null) fail("alloc_unavailable", [], "Cannot read the allocator statistics: the library was loaded without a dynamic region");
    return allocator.stats();
  }

  /** Every defined variable, in definition order. */
  get vars(): readonly PercpuVar[] {
    return this.#vars;
  }

  /** Whether `define()` is closed. */
  get sealed(): boolean {
    return this.#sealed;
  }

  /** Closes `define()`: offsets are final from now on. Idempotent. */
  seal(): this {
    this.#sealed = true;
    return this;
  }

  /**
   * The layout of one per-CPU area on a target (seals the instance).
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("CPU_ID", u64, 0);
   * const { areaSize, stride, vars } = sdk.layout("aarch64"); // 8, 64, [{ name: "CPU_ID", offset: 0, ... }]
   * ```
   */
  layout(target: Target): Layout {
    const t = checkTarget(target);
    this.seal();
    let layout = this.#layouts.get(t);
    if (!layout) {
      const slab = new ByteSlab();
      const defs = this.#vars.map((v) => ({
        name: v.name,
        type: v.type,
        init: encodeChecked(v.type, v.init, t, [v.name], slab),
        atomic: this.#atomic.has(v.name),
        counter: this.#counter.has(v.name),
        ...counterDef(this.#counters.get(v.name)),
      }));
      layout = computeLayout(defs, t, this.#order);
      this.#layouts.set(t, layout);
    }
    return layout;
  }

  /** The JSON-serialisable manifest of a target's layout (seals the instance). */
  manifest(target: Target): Manifest {
    return buildManifest(this.layout(target));
  }

  /**
   * Generates `percpu.S`, `percpu.h`, `percpu.ld` and `percpu.json` for an
   * architecture (seals the instance). Nothing is written until `write(dir)`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("CPU_ID", u64, 0);
   * const out = sdk.generate({ arch: "riscv64", cpus: 4, features: ["preempt"] });
   * await out.write("build/riscv64");
   * ```
   */
  generate(options: GenerateOptions): Generated {
    const arch = checkTarget((options as { arch?: unknown })?.arch);
    return generateFiles(this.layout(arch), options);
  }

  // ---- Bare-metal firmware under QEMU: thin delegates to firmware/build.ts ----

  /**
   * Builds a bare-metal image for an architecture: boot stub, UART driver,
   * the generated kernel-mode `percpu.S`/`.h`/`.ld` and a test program that
   * checks every accessor on every CPU; written atomically into `out`.
   * Needs clang-19 and ld.lld-19. Seals the instance.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * const image = await sdk.buildFirmware({ arch: "aarch64", cpus: 4, features: ["preempt"], out: "build/fw-aarch64" });
   * const result = await sdk.bootFirmware(image, { timeoutMs: 10_000 });
   * console.log(result.passed, result.perCpu.get(3)); // true { ok: ..., fail: 0 }
   * ```
   */
  async buildFirmware(options: BuildFirmwareOptions): Promise<FirmwareImage> {
    const arch = checkTarget((options as { arch?: unknown })?.arch);
    const { buildFirmware } = await import("./firmware/build.ts");
    return buildFirmware(this.layout(arch), options);
  }

  /**
   * Boots a firmware image under `qemu-system-<arch>` with a bounded timeout
   * and returns the parsed per-CPU result; `passed` needs the exit status and
   * the final result line to agree.
   */
  async bootFirmware(image: FirmwareImage | string, options: BootFirmwareOptions = {}): Promise<BootResult> {
    const { bootFirmware } = await import("./firmware/build.ts");
    return bootFirmware(image, options);
  }

  // ---- Native access through FFI: thin delegates to ffi/native.ts ----

  #native: NativeSdk | null = null;

  #n(what: string): NativeSdk {
    return this.#native ?? notLoaded(what);
  }

  /**
   * Generates x86_64 user-mode code, builds it with the host `cc` into a
   * cached shared library (a warm load compiles nothing) and opens it through
   * the runtime's FFI (Deno, Bun or Node). Seals the instance.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const HITS = sdk.define("HITS", u64, 0);
   * await sdk.load({ cpus: 4 });
   * sdk.init(4);
   * sdk.initPercpuReg(0);
   * HITS.addCurrent(1n);
   * console.log(HITS.sum()); // 1n
   * sdk.close();
   * ```
   */
  async load(options: LoadOptions = {}): Promise<LoadInfo> {
    if (this.#native !== null && !this.#native.closed) {
      fail("options_invalid", [], `Cannot load: the SDK is already loaded from ${JSON.stringify(this.#native.info.path)}, close() it first`);
    }
    const { loadNative } = await import("./ffi/native.ts");
    const native = await loadNative({ generate: (o) => this.generate(o) }, options);
    this.#native = native;
    for (const v of this.#vars) v.attachNative(native.variable(v.name));
    return native.info;
  }

  /** The loaded native SDK, or `null` before `load()`. */
  get native(): NativeSdk | null {
    return this.#native;
  }

  /**
   * Initialises `cpus` 64-byte-aligned areas and returns the count (the
   * seed's `init(base, cpu_count)`): in the library's own storage, or in
   * `options.base` (a buffer the library keeps alive until `close()`, or a
   * raw address); `init_invalid_base` / `init_unaligned_base` like the
   * seed's `InitError`. Naive mode ignores base and count and returns 1. See
   * `NativeSdk.init` for the details and the "base 0" semantics.
   *
   * @example
   * ```ts
   * import { createPercpu, u32 } from "./mod.ts";
   * const sdk = createPercpu();
   * const TICKS = sdk.define("TICKS", u32, 3);
   * await sdk.load({ cpus: 4 });
   * sdk.init(4, { base: sdk.allocAreas(4) }); // 4
   * sdk.initPercpuReg(0);
   * console.log(TICKS.readCurrent()); // 3
   * ```
   */
  init(cpus: number, options?: InitOptions): number {
    return this.#n("init").init(cpus, options);
  }

  /**
   * Initialises every area of the library's in-place storage (the seed's
   * `init_in_place()`); returns the count (the `cpus` of `load()`, 1 in naive mode).
   *
   * @example
   * ```ts
   * import { createPercpu, u32 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("TICKS", u32, 0);
   * await sdk.load({ cpus: 2 });
   * console.log(sdk.initInPlace()); // 2
   * ```
   */
  initInPlace(): number {
    return this.#n("initInPlace").initInPlace();
  }

  /**
   * The memory `init(cpus, { base })` needs (the seed's
   * `percpu_area_layout_expected`): `{ size: cpus × stride, align }`; naive: `{ size: 0, align }`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load();
   * const { size, align } = sdk.layoutExpected(4); // 256, 64
   * ```
   */
  layoutExpected(cpus: number): { readonly size: number; readonly align: number } {
    return this.#n("layoutExpected").layoutExpected(cpus);
  }

  /**
   * A `Uint8Array` of `layoutExpected(cpus).size` bytes at an aligned
   * address, for `init(cpus, { base })`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load({ cpus: 2 });
   * sdk.init(2, { base: sdk.allocAreas(2) });
   * ```
   */
  allocAreas(cpus: number): Uint8Array {
    return this.#n("allocAreas").allocAreas(cpus);
  }

  /**
   * The native address of a buffer's first byte (compare with `areaBase` / `readPercpuReg`).
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load();
   * const areas = sdk.allocAreas(1);
   * sdk.init(1, { base: areas });
   * console.log(sdk.areaBase(0) === sdk.addressOf(areas)); // true
   * ```
   */
  addressOf(buffer: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): bigint {
    return this.#n("addressOf").addressOf(buffer);
  }

  /**
   * Binds the calling thread's per-CPU register to `cpu` (each Worker is its
   * own CPU). A CPU id another live thread holds is refused with
   * `cpu_already_bound` unless every holder passes `{ shared: true }`;
   * binding another CPU releases the previous one.
   */
  initPercpuReg(cpu: number, options?: BindOptions): void {
    this.#n("initPercpuReg").initPercpuReg(cpu, options);
  }

  /** The calling thread's per-CPU register. */
  readPercpuReg(): bigint {
    return this.#n("readPercpuReg").readPercpuReg();
  }

  /** Sets the calling thread's per-CPU register to an area base (binding that CPU as {@link PercpuSdk.initPercpuReg} does). */
  writePercpuReg(addr: bigint, options?: BindOptions): void {
    this.#n("writePercpuReg").writePercpuReg(addr, options);
  }

  /** Base address of `cpu`'s area. */
  areaBase(cpu: number): bigint {
    return this.#n("areaBase").areaBase(cpu);
  }

  /** Number of initialised areas. */
  areaNum(): number {
    return this.#n("areaNum").areaNum();
  }

  /** Bytes used by one area. */
  areaSize(): number {
    return this.#n("areaSize").areaSize();
  }

  /** The calling thread's guard-hook counters in the shim. */
  hookCounts(): HookCounts {
    return this.#n("read the hook counters").hookCounts();
  }

  /** Zeroes the calling thread's guard-hook counters. */
  resetHookCounts(): void {
    this.#n("reset the hook counters").resetHookCounts();
  }

  /** Unloads the native library; later native calls throw `native_closed`. Idempotent. */
  close(): void {
    this.#native?.close();
  }
}

let collected: PercpuError[] | undefined;

/**
 * Runs `load` (typically importing a config module) with `define()` recording
 * its errors instead of throwing them, so a checker can report every bad
 * definition at once. The failing variables are left undefined.
 */
export async function collectDefineErrors<T>(load: () => Promise<T>): Promise<{ result: T; errors: PercpuError[] }> {
  const previous = collected;
  const errors: PercpuError[] = [];
  collected = errors;
  try {
    return { result: await load(), errors };
  } finally {
    collected = previous;
  }
}

/**
 * Creates an isolated SDK instance (tests and multi-image builds use these).
 *
 * @example
 * ```ts
 * import { createPercpu, u32 } from "./mod.ts";
 * const sdk = createPercpu({ order: "min-padding" });
 * sdk.define("TICKS", u32, 0);
 * ```
 */
export function createPercpu(options?: PercpuOptions): PercpuSdk {
  return new PercpuSdk(options);
}

/** The default SDK instance: `percpu.define("CPU_ID", u64, 0)`. */
export const percpu: PercpuSdk = createPercpu();
