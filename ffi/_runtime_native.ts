/**
 * The native side of per-CPU counters and dynamic allocations: thin,
 * checked calls into `runtime_shim.c` (ffi/_runtime_shim.ts). Everything is
 * computed by the generated C runtime in the loaded library, whose state is
 * shared by every thread and Worker that loads it.
 *
 * @module
 */
import { ALLOC_STATS } from "../emit/percpu_runtime_c.ts";
import { fail, type PathSegment, quotePath } from "../sdk/errors.ts";
import { scalarLayout } from "../sdk/layout.ts";
import { LEAF_OP_SPECS, type LeafOp } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { describeValue, type ScalarName } from "../sdk/types.ts";
import { checkArgument, readScalar, writeScalar } from "../sdk/values.ts";
import { dynFunction } from "./_runtime_shim.ts";

type AnyFn = (...args: unknown[]) => unknown;

/** What the runtime handles need from the loaded library (ffi/native.ts provides it). */
export interface RuntimeEnv {
  /** Bound functions by name (binding the missing ones). */
  bind(names: readonly string[]): AnyFn[];
  /** Throws `native_closed` after `close()`. */
  open(what: string): void;
  /** Throws unless this thread's register is bound to the library (current-CPU ops). */
  requireBound(what: string, path: readonly PathSegment[]): void;
  /** Checks a CPU id against the initialised areas. */
  cpu(cpu: unknown, what: string, path: readonly PathSegment[]): number;
  /** The native address of a buffer. */
  addressOf(buffer: ArrayBuffer): bigint;
  /** This thread's 32-byte scratch buffer and its address (the u128 accessors' values and result). */
  scratch(): { readonly buffer: ArrayBuffer; readonly address: bigint };
  /** How 64-bit arguments are passed. */
  readonly wideArgs: "bigint" | "number";
}

/** An i64 argument of a counter op, checked (number or bigint), in the runtime's form. */
function i64Arg(env: RuntimeEnv, value: unknown, path: readonly PathSegment[], what: string): bigint | number {
  const v = checkArgument("i64", value, 8, "exact", path, what) as bigint;
  return env.wideArgs === "bigint" || !Number.isSafeInteger(Number(v)) ? v : Number(v);
}

/** The native calls of one counter (`percpu__counters[index]`). */
export class NativeCounter {
  readonly #env: RuntimeEnv;
  readonly #name: string;
  readonly #index: bigint | number;
  readonly #fns: Record<string, AnyFn> = {};

  /** @internal Built by `NativeSdk.counter`. */
  constructor(env: RuntimeEnv, name: string, index: number) {
    this.#env = env;
    this.#name = name;
    this.#index = env.wideArgs === "bigint" ? BigInt(index) : index;
  }

  #fn(name: string, what: string): AnyFn {
    this.#env.open(`${what} ${quotePath([this.#name])}`);
    return this.#fns[name] ??= this.#env.bind([name])[0]!;
  }

  /** `percpu_counter_add`: the current CPU's delta, folded into the global count at the batch. */
  add(v: bigint | number): void {
    const what = `call add() on counter ${quotePath([this.#name])}`;
    const f = this.#fn("percpu_shim_counter_add", "add to");
    this.#env.requireBound(what, [this.#name]);
    f(this.#index, i64Arg(this.#env, v, [this.#name], `Cannot ${what}: the value`));
  }

  /** `percpu_counter_read`: the global count (fast, within batch × CPUs of the truth). */
  read(): bigint {
    return BigInt(this.#fn("percpu_shim_counter_read", "read")(this.#index) as bigint);
  }

  /** `percpu_counter_sum`: the global count plus every CPU's delta, under the counter's lock. */
  sum(): bigint {
    return BigInt(this.#fn("percpu_shim_counter_sum", "sum")(this.#index) as bigint);
  }

  /** `percpu_counter_set`: every delta to 0 and the global count to `v`, under the lock. */
  set(v: bigint | number): void {
    const f = this.#fn("percpu_shim_counter_set", "set");
    f(this.#index, i64Arg(this.#env, v, [this.#name], `Cannot call set() on counter ${quotePath([this.#name])}: the value`));
  }

  /** `percpu_counter_compare`: -1, 0 or 1. */
  compare(rhs: bigint | number): -1 | 0 | 1 {
    const f = this.#fn("percpu_shim_counter_compare", "compare");
    return f(this.#index, i64Arg(this.#env, rhs, [this.#name], `Cannot call compare() on counter ${quotePath([this.#name])}: rhs`)) as -1 | 0 | 1;
  }

  /** How many times a delta was folded into the global count (statistics). */
  folds(): bigint {
    return BigInt(this.#fn("percpu_shim_counter_folds", "read the folds of")(this.#index) as bigint);
  }

  /** How many exact sums were taken (`sum()`, and `compare()` near the boundary). */
  sums(): bigint {
    return BigInt(this.#fn("percpu_shim_counter_sums", "read the sums of")(this.#index) as bigint);
  }

  /** The batch the library folds at. */
  batch(): number {
    return Number(this.#fn("percpu_shim_counter_batch", "read the batch of")(this.#index));
  }
}

/** `percpu_alloc_stats` as JS numbers (bytes; `allocations` live, `failures` since load). */
export type AllocStats = { readonly [K in typeof ALLOC_STATS[number]]: number };

/** The library's dynamic region allocator. */
export class NativeAllocator {
  readonly #env: RuntimeEnv;

  /** @internal Built by `NativeSdk.allocator`. */
  constructor(env: RuntimeEnv) {
    this.#env = env;
  }

  #word(n: number | bigint): number | bigint {
    return this.#env.wideArgs === "bigint" ? BigInt(n) : Number(n);
  }

  /** `percpu_alloc(size, align)` (with `init` bytes: `percpu_alloc_init`): the offset, 0 when there is no room. */
  alloc(size: number, align: number, init?: Uint8Array): number {
    this.#env.open("alloc");
    if (init === undefined) {
      const [f] = this.#env.bind(["percpu_alloc"]);
      return Number(f!(this.#word(size), this.#word(align)) as bigint);
    }
    // A private copy in an ArrayBuffer of its own: its address is stable for the call.
    const copy = new Uint8Array(new ArrayBuffer(Math.max(init.byteLength, 1)));
    copy.set(init);
    const [f] = this.#env.bind(["percpu_alloc_init"]);
    return Number(f!(this.#word(size), this.#word(align), this.#word(this.#env.addressOf(copy.buffer))) as bigint);
  }

  /** `percpu_free(off)`: 0, -1 not a live allocation, -2 a foreign offset. */
  free(off: number): number {
    this.#env.open("free");
    const [f] = this.#env.bind(["percpu_free"]);
    return Number(f!(this.#word(off)) as bigint);
  }

  /** `percpu_alloc_stats`. */
  stats(): AllocStats {
    this.#env.open("read the allocator statistics");
    const [f] = this.#env.bind(["percpu_shim_alloc_stat"]);
    return Object.fromEntries(ALLOC_STATS.map((k, i) => [k, Number(f!(i) as bigint)])) as AllocStats;
  }

  /**
   * The accessor functions of one scalar type on a run-time offset, by JS
   * method name (`readCurrent`, `addCurrent`, `remoteRead`, ...), each
   * checking its arguments as a defined variable's do; `path` names the
   * allocation in errors and `live()` guards every call (use after free).
   */
  accessors(scalar: ScalarName, off: number, path: readonly PathSegment[], live: (what: string) => void): Record<string, (...args: unknown[]) => unknown> {
    const env = this.#env;
    const size = scalarLayout(scalar, "x86_64").size;
    const offArg = this.#word(off);
    const out: Record<string, (...args: unknown[]) => unknown> = {};
    for (const op of leafOps(scalar)) out[LEAF_OP_SPECS[op].js] = this.#method(op, scalar, size, offArg, path, live, env);
    return out;
  }

  #method(
    op: LeafOp,
    scalar: ScalarName,
    size: number,
    offArg: number | bigint,
    path: readonly PathSegment[],
    live: (what: string) => void,
    env: RuntimeEnv,
  ): (...args: unknown[]) => unknown {
    const spec = LEAF_OP_SPECS[op];
    const name = dynFunction(op, scalar);
    let fn: AnyFn | null = null;
    const remote = spec.target === "remote";
    return (...args: unknown[]): unknown => {
      const what = `Cannot call ${spec.js}() on ${quotePath(path)}`;
      live(what);
      env.open(`${spec.js} ${quotePath(path)}`);
      fn ??= env.bind([name])[0]!;
      const call: unknown[] = [offArg];
      let i = 0;
      if (remote) call.push(this.#word(env.cpu(args[i++], `${spec.js} ${quotePath(path)}`, path)));
      else env.requireBound(`${spec.js} ${quotePath(path)}`, path);
      const values = spec.values.map((p) => {
        if (i >= args.length) fail("value_wrong_kind", [...path], `${what}: missing ${p}, got ${describeValue(undefined)}`);
        return checkArgument(scalar, args[i++], size, spec.scalars === "integer" ? "wrap" : "exact", path, `${what}: ${p === "v" ? "the value" : p}`);
      });
      if (spec.returns === "ok" || scalar === "u128") {
        // This thread's scratch buffer: try_cmpxchg's `expected` by address (receiving the value found), or a
        // u128's values (16 bytes each, low half first) and its result.
        const scratch = env.scratch();
        const view = new DataView(scratch.buffer);
        const address = env.wideArgs === "bigint" ? scratch.address : Number(scratch.address);
        if (scalar === "u128") {
          values.forEach((v, k) => writeScalar(view, size * k, scalar, size, v));
          fn(...call, address);
          return spec.returns === "void" ? undefined : readScalar(view, 0, scalar, size);
        }
        writeScalar(view, 0, scalar, size, values[0]);
        const ok = fn(...call, address, ...values.slice(1));
        return { ok: Boolean(ok), value: readScalar(view, 0, scalar, size) };
      }
      const r = fn(...call, ...values);
      if (spec.returns === "void") return undefined;
      return size === 8 && scalar !== "f64" ? BigInt(r as bigint) : r;
    };
  }
}
