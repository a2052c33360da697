/**
 * The handles of per-CPU counters (`sdk.counter()`) and dynamic per-CPU
 * allocations (`sdk.alloc()`): thin delegates to the generated C runtime in
 * the loaded library (ffi/_runtime_native.ts), part of the facade.
 *
 * @module
 */
import type { NativeSdk } from "./ffi/native.ts";
import { type AllocStats, NativeAllocator } from "./ffi/_runtime_native.ts";
import { fail, type PathSegment, PercpuError, quotePath } from "./sdk/errors.ts";
import { checkArgument, checkValue } from "./sdk/values.ts";
import { structFields, typeLayout } from "./sdk/layout.ts";
import type { PercpuType, ScalarName } from "./sdk/types.ts";

export type { AllocStats } from "./ffi/_runtime_native.ts";

function notLoaded(what: string): never {
  fail("native_not_loaded", [], `Cannot ${what}: the native library is not loaded, await sdk.load({ cpus }) first`);
}

/**
 * A per-CPU counter (Linux `struct percpu_counter`), defined with
 * `sdk.counter(name, { batch?, init? })`. Its per-CPU `i32` delta is the
 * variable `name` of the layout; the global `i64` count and its lock live
 * in the generated runtime, one copy per loaded library (shared by every
 * thread and Worker). Every method runs the generated C code.
 *
 * @example
 * ```ts
 * import { createPercpu } from "./mod.ts";
 * const sdk = createPercpu();
 * const NR_FILES = sdk.counter("NR_FILES", { batch: 16 });
 * await sdk.load({ cpus: 2 });
 * sdk.init(2);
 * sdk.initPercpuReg(0);
 * NR_FILES.add(5);
 * console.log(NR_FILES.read(), NR_FILES.sum()); // 0n 5n (5 < batch: still in CPU 0's delta)
 * sdk.close();
 * ```
 */
export class PercpuCounter {
  /** The counter's name (also its per-CPU delta variable's). */
  readonly name: string;
  readonly #native: () => NativeSdk | null;

  /** @internal Made by `sdk.counter()`. */
  constructor(name: string, native: () => NativeSdk | null) {
    this.name = name;
    this.#native = native;
  }

  #n(what: string) {
    const n = this.#native();
    if (n === null) notLoaded(`${what} counter "${this.name}"`);
    return n.counter(this.name);
  }

  /** `percpu_counter_add(C, v)`: adds `v` (i64, number or bigint) on the current CPU. */
  add(v: bigint | number): void {
    this.#n("add to").add(v);
  }

  /** `percpu_counter_sub(C, v)`. */
  sub(v: bigint | number): void {
    this.#n("subtract from").add(typeof v === "bigint" ? -v : -v);
  }

  /** `percpu_counter_inc(C)`. */
  inc(): void {
    this.#n("increment").add(1);
  }

  /** `percpu_counter_dec(C)`. */
  dec(): void {
    this.#n("decrement").add(-1);
  }

  /** `percpu_counter_read(C)`: the global count, fast and approximate (within batch × CPUs). */
  read(): bigint {
    return this.#n("read").read();
  }

  /** `percpu_counter_read_positive(C)`: {@link read}, 0 when negative. */
  readPositive(): bigint {
    const r = this.#n("read").read();
    return r > 0n ? r : 0n;
  }

  /** `percpu_counter_sum(C)`: exact, the global count plus every CPU's delta under the counter's lock. */
  sum(): bigint {
    return this.#n("sum").sum();
  }

  /** `percpu_counter_sum_positive(C)`. */
  sumPositive(): bigint {
    const r = this.#n("sum").sum();
    return r > 0n ? r : 0n;
  }

  /** `percpu_counter_set(C, v)`: every delta 0, the global count `v` (racing adds may be lost, as in Linux). */
  set(v: bigint | number): void {
    this.#n("set").set(v);
  }

  /**
   * `percpu_counter_compare(C, rhs)`: the sign of count − rhs, from the
   * approximate count when it is farther than batch × CPUs from `rhs`, else
   * from the exact sum (Linux's `__percpu_counter_compare`).
   */
  compare(rhs: bigint | number): -1 | 0 | 1 {
    return this.#n("compare").compare(rhs);
  }

  /** The batch the loaded library folds at (`max(32, 2 × cpus)` unless given). */
  batch(): number {
    return this.#n("read the batch of").batch();
  }

  /** Statistics: deltas folded into the global count, and exact sums taken, since load. */
  stats(): { readonly folds: bigint; readonly sums: bigint } {
    const n = this.#n("read the statistics of");
    return { folds: n.folds(), sums: n.sums() };
  }
}

/** The op methods of an allocated scalar, by JS name (see `LeafOpMethods` for their types). */
export type AllocMethods = Record<string, (...args: never[]) => unknown>;

/** Checks a whole value against `type` as a runtime argument: `value_wrong_kind` / `value_out_of_range` naming the part. */
function checkWhole(type: PercpuType, value: unknown, path: readonly PathSegment[], what: string): void {
  try {
    checkValue(type, value, path, (s, x, at, bytes) => checkArgument(s, x, bytes, "exact", at, `${what}: ${quotePath(at)}`));
  } catch (e) {
    if (e instanceof PercpuError && e.code.startsWith("init_")) {
      throw new PercpuError(e.code === "init_out_of_range" || e.code === "init_float_out_of_range" ? "value_out_of_range" : "value_wrong_kind", e.path, `${what}: ${e.message.replace(/^Invalid value for /, "")}`);
    }
    throw e;
  }
}

/** What the views of one allocation share: its liveness and who may free it. */
interface AllocRoot {
  readonly allocator: NativeAllocator;
  readonly label: string;
  readonly areas: () => number;
  freed: boolean;
}

/**
 * A dynamic per-CPU allocation (`sdk.alloc(type, init?)`, Linux
 * `alloc_percpu`), or a field or element of one: `size(type)` bytes at the
 * same offset in every CPU's area. A scalar has the op methods of a variable
 * of its type (`readCurrent`, `addCurrent`, `remoteRead`, ..., `sum()` for
 * integers), an array `at(i)`, a struct `field(name)`, each the handle of
 * that part. `free()` (on the allocation itself, Linux `free_percpu`)
 * returns the block; after it every method of every part is a `PercpuError`
 * `alloc_freed`.
 */
export class PercpuAllocation {
  /** The offset from every area base (`percpu_alloc`'s result, plus the part's offset within it). */
  readonly offset: number;
  readonly type: PercpuType;
  readonly #root: AllocRoot;
  readonly #path: readonly PathSegment[];
  readonly #parts = new Map<string | number, PercpuAllocation>();

  /** @internal Made by `sdk.alloc()` (and by `at`/`field` for the parts). */
  constructor(allocator: NativeAllocator | AllocRoot, type: PercpuType, offset: number, areas: () => number, path?: readonly PathSegment[]) {
    this.#root = allocator instanceof NativeAllocator ? { allocator, label: `allocation@${offset}`, areas, freed: false } : allocator;
    this.type = type;
    this.offset = offset;
    this.#path = path ?? [this.#root.label];
    let t = type;
    while (t.kind === "aligned") t = t.inner;
    Object.assign(this, t.kind === "scalar" ? this.#methods(t.name) : this.#composite(t));
  }

  /**
   * The plain reads and writes of an array or struct part, made of its
   * scalars' (one native call per scalar, as a defined variable's are not
   * one atomic access either): values as `Infer<type>`, checked whole before
   * anything is written.
   */
  #composite(t: PercpuType): AllocMethods {
    const parts = (): PercpuAllocation[] =>
      t.kind === "array" ? Array.from({ length: t.length }, (_, i) => this.at(i)) : t.kind === "struct" ? structFields(t, "x86_64").map((f) => this.field(f.name)) : [];
    const names = t.kind === "struct" ? structFields(t, "x86_64").map((f) => f.name) : null;
    const call = (part: PercpuAllocation, js: string, args: unknown[]): unknown => (part as unknown as Record<string, (...a: unknown[]) => unknown>)[js]!(...args);
    const read = (js: string) => (...args: unknown[]): unknown => {
      const values = parts().map((p) => call(p, js, args));
      return names === null ? values : Object.fromEntries(names.map((n, i) => [n, values[i]]));
    };
    const write = (js: string, remote: boolean) => (...args: unknown[]): void => {
      const value = args[remote ? 1 : 0];
      const what = `Cannot call ${js}() on ${quotePath(this.#path)}`;
      this.#live(what);
      checkWhole(this.type, value, this.#path, what);
      const items = parts();
      items.forEach((p, i) => {
        const v = names === null ? (value as unknown[])[i] : (value as Record<string, unknown>)[names[i]!];
        call(p, js, remote ? [args[0], v] : [v]);
      });
    };
    return {
      readCurrentRaw: read("readCurrentRaw"),
      readCurrent: read("readCurrent"),
      remoteRead: read("remoteRead"),
      writeCurrentRaw: write("writeCurrentRaw", false),
      writeCurrent: write("writeCurrent", false),
      remoteWrite: write("remoteWrite", true),
    };
  }

  /** The op methods of the scalar at this offset, with `sum()` for integers up to 64 bits (as a variable's). */
  #methods(scalar: ScalarName): AllocMethods {
    const root = this.#root;
    const methods = root.allocator.accessors(scalar, this.offset, this.#path, (what) => this.#live(what));
    if (scalar !== "bool" && scalar !== "f32" && scalar !== "f64" && scalar !== "u128") {
      const remoteRead = methods.remoteRead!;
      const wide = scalar.endsWith("64") || scalar.endsWith("size");
      methods.sum = () => {
        let total = 0n;
        for (let c = 0, n = root.areas(); c < n; c++) total += BigInt(remoteRead(c) as bigint | number);
        return wide ? total : Number(total);
      };
    }
    return methods;
  }

  #unwrapped(): PercpuType {
    let t = this.type;
    while (t.kind === "aligned") t = t.inner;
    return t;
  }

  #part(key: string | number, type: PercpuType, offset: number): PercpuAllocation {
    let part = this.#parts.get(key);
    if (part === undefined) this.#parts.set(key, part = new PercpuAllocation(this.#root, type, this.offset + offset, this.#root.areas, [...this.#path, key]));
    return part;
  }

  /** Element `index` of an array allocation (or part), as a handle of the element's type. */
  at(index: number): PercpuAllocation {
    const t = this.#unwrapped();
    if (t.kind !== "array") throw new TypeError(`Cannot call at() on ${quotePath(this.#path)}: it is not an array`);
    if (!Number.isInteger(index) || index < 0 || index >= t.length) {
      fail("value_out_of_range", [...this.#path, index], `Cannot call at(${String(index)}) on ${quotePath(this.#path)}: the index must be an integer in 0..${t.length - 1}`);
    }
    return this.#part(index, t.element, index * typeLayout(t.element, "x86_64").size);
  }

  /** Field `name` of a struct allocation (or part), as a handle of the field's type. */
  field(name: string): PercpuAllocation {
    const t = this.#unwrapped();
    if (t.kind !== "struct") throw new TypeError(`Cannot call field() on ${quotePath(this.#path)}: it is not a struct`);
    const f = structFields(t, "x86_64").find((x) => x.name === name);
    if (f === undefined) fail("value_wrong_kind", [...this.#path, String(name)], `Cannot call field(${JSON.stringify(name)}) on ${quotePath(this.#path)}: no such field`);
    return this.#part(name, f.type, f.offset);
  }

  #live(what: string): void {
    if (this.#root.freed) fail("alloc_freed", [this.#root.label], `${what}: it was freed`);
  }

  /** Whether the allocation was freed. */
  get freed(): boolean {
    return this.#root.freed;
  }

  /** `percpu_free(off)`: returns the block to the region; a second `free()` is `alloc_freed`. */
  free(): void {
    if (this.#path.length !== 1) throw new TypeError(`Cannot free ${quotePath(this.#path)}: free the allocation itself (${this.#root.label})`);
    this.#live(`Cannot free ${this.#root.label}`);
    const r = this.#root.allocator.free(this.offset);
    if (r !== 0) throw new Error(`percpu_free(${this.offset}) returned ${r} for a live allocation`);
    this.#root.freed = true;
  }
}

/** {@link AllocStats} re-exported for `sdk.allocStats()`. */
export type AllocatorStats = AllocStats;
