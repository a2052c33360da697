/**
 * The loaded native SDK: generates x86_64 user-mode code for a layout,
 * builds it with the shim into a cached shared library, opens it through the
 * runtime's FFI adapter and exposes the runtime and every accessor as JS
 * functions. Every value goes through the generated native code; JS only
 * validates arguments and assembles struct/array values from their leaves.
 *
 * Misuse never reaches native code: a current-CPU access on a thread that has
 * not bound its per-CPU register (`initPercpuReg`) to this library, a CPU id
 * outside the initialised areas, a value outside its type, or any use after
 * `close()` throws a `PercpuError` first.
 *
 * @module
 */
import { z } from "zod";
import { leafSignature } from "../arch/c_types.ts";
import type { Generated } from "../emit/index.ts";
import { cScalarType } from "../sdk/c_names.ts";
import type { Features } from "../sdk/config.ts";
import { type GenInput, generatorInput, type PlacedLeaf } from "../sdk/plan.ts";
import { fail, type PathSegment, PercpuError, quotePath } from "../sdk/errors.ts";
import { scalarLayout } from "../sdk/layout.ts";
import { parseOptions } from "../sdk/options.ts";
import {
  RUNTIME,
  type RuntimeCType,
  type RuntimeFunction,
  type RuntimeName,
  RUNTIME_NAMES,
  VAR_OP_SPECS,
  type VarOp,
  VAR_OPS,
  type VarOpSpec,
} from "../sdk/ops.ts";
import { leafOps, varFunction } from "../sdk/symbols.ts";
import { type PercpuType, SCALAR_NAMES } from "../sdk/types.ts";
import { checkScalar, checkValue, isInteger } from "../sdk/values.ts";
import { openLibrary } from "./adapters.ts";
import { buildSharedLibrary } from "./build.ts";
import type { FfiSignature, FfiSignatures, FfiType, NativeLibrary } from "./contract.ts";
import {
  type AccessorName,
  compileAccessors,
  type HandleAccessors,
  type IntegerAccessorName,
  type ThreadBinding,
} from "./_accessors.ts";
import { generateShim, HOOK_COUNTERS, SHIM_SIGNATURES } from "./shim.ts";

/** Options of `sdk.load()`. */
export interface LoadOptions {
  /** Areas the library holds; `init(n)` accepts `n` up to this (default 4). */
  readonly cpus?: number;
  /** Guard features compiled in: `["preempt", "irq"]` or `{ preempt: true }`. */
  readonly features?: readonly ("preempt" | "irq")[] | Partial<Pick<Features, "preempt" | "irq">>;
  /** Cache root for built libraries (default `node_modules/.cache/percpu`). */
  readonly cacheDir?: string;
  /** C compiler (default `$CC` or `cc`). */
  readonly cc?: string;
}

/** What `sdk.load()` did. */
export interface LoadInfo {
  /** Path of the opened shared library. */
  readonly path: string;
  /** SHA-256 of its inputs (the cache key). */
  readonly hash: string;
  /** Whether the library came from the cache (nothing was compiled). */
  readonly cached: boolean;
  /** Wall time of the whole load, in milliseconds. */
  readonly ms: number;
  /** The generated files the library was built from. */
  readonly generated: Generated;
}

/** The calling thread's guard-hook counters in the shim. */
export interface HookCounts {
  readonly preemptDisable: number;
  readonly preemptEnable: number;
  readonly irqSave: number;
  readonly irqRestore: number;
  /** Current preempt-disable nesting depth. */
  readonly preemptDepth: number;
  /** Whether the simulated interrupts are off. */
  readonly irqDisabled: boolean;
}

/** What `withCurrent` hands its callback: raw access to the current CPU's value while the guard is held. */
export interface CurrentCell<V> {
  /** Reads the whole value with the raw accessors. */
  get(): V;
  /** Writes the whole value with the raw accessors. */
  set(value: V): void;
  /** Address of the value in the current CPU's area. */
  readonly ptr: bigint;
}

const loadSchema = z.strictObject({
  cpus: z.number().int().min(1).max(4096).optional(),
  features: z.union([
    z.array(z.enum(["preempt", "irq"])),
    z.strictObject({ preempt: z.boolean().optional(), irq: z.boolean().optional() }),
  ]).optional(),
  cacheDir: z.string().min(1).optional(),
  cc: z.string().min(1).optional(),
});

/** Validates `load()` options. */
export function parseLoadOptions(options: LoadOptions): LoadOptions {
  return parseOptions(loadSchema, options, "load options") as LoadOptions;
}

type AnyFn = (...args: unknown[]) => unknown;

const C_TO_FFI: ReadonlyMap<string, FfiType> = new Map<string, FfiType>([
  ["void", "void"],
  ...SCALAR_NAMES.map((s) =>
    [cScalarType(s), s === "usize" ? "usize" : s === "isize" ? "isize" : s] as [string, FfiType]
  ),
]);

function ffiOf(cType: string): FfiType {
  const t = C_TO_FFI.get(cType);
  if (t === undefined) throw new Error(`no FFI type for C type ${cType}`);
  return t;
}

/** FFI type of each C type a runtime signature uses. */
const RUNTIME_FFI = { void: "void", uintptr_t: "usize", intptr_t: "isize" } as const satisfies Record<RuntimeCType, FfiType>;

/** The runtime's FFI signatures, from the op catalog. */
const RUNTIME_SIGNATURES = {} as Record<RuntimeName, FfiSignature>;
for (const name of RUNTIME_NAMES) {
  const f: RuntimeFunction = RUNTIME[name];
  RUNTIME_SIGNATURES[name] = { params: f.params.map((p) => RUNTIME_FFI[p.type]), result: RUNTIME_FFI[f.ret] };
}

/** The FFI signature of a whole-variable op, from the op catalog: the CPU (remote ops), and the pointer or nothing. */
function varOpSignature(spec: VarOpSpec): FfiSignature {
  return {
    params: spec.target === "remote" ? ["usize"] : [],
    result: spec.returns === "pointer" ? "usize" : "void",
  };
}

/** The FFI signatures of the whole-variable ops, from the op catalog. */
const VAR_OP_SIGNATURES = {} as Record<VarOp, FfiSignature>;
for (const op of VAR_OPS) VAR_OP_SIGNATURES[op] = varOpSignature(VAR_OP_SPECS[op]);

/** Every FFI signature the library is opened with: runtime, shim, and each variable's functions. */
export function librarySignatures(input: GenInput): Record<string, FfiSignature> {
  const out: Record<string, FfiSignature> = { ...RUNTIME_SIGNATURES, ...SHIM_SIGNATURES };
  for (const v of input.vars) {
    for (const op of VAR_OPS) out[varFunction(v.layout.name, op)] = VAR_OP_SIGNATURES[op];
    for (const leaf of v.leaves) {
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        out[sig.name] = { params: sig.params.map((p) => ffiOf(p.type)), result: ffiOf(sig.ret) };
      }
    }
  }
  return out;
}

/**
 * Which library this JS context (= this OS thread: every Worker has its own)
 * has bound the per-CPU register to, and to which CPU. The register is one
 * per thread whatever the library, so binding one library unbinds another.
 */
const thread: ThreadBinding = { owner: null, cpu: -1 };

/** Records that this thread's register now belongs to `state` (unbinding the previous library). */
function bindThread(state: NativeState, cpu: number): void {
  const previous = thread.owner as NativeState | null;
  if (previous !== null && previous !== state) previous.bound = false;
  thread.owner = state;
  thread.cpu = cpu;
  state.bound = true;
}

const RANGE_CODES: ReadonlySet<string> = new Set([
  "init_out_of_range",
  "init_float_out_of_range",
  "init_unsafe_number",
  "init_not_integer",
  "init_nan",
]);

function asNativeValueError(e: unknown): never {
  if (e instanceof PercpuError && RANGE_CODES.has(e.code)) {
    throw new PercpuError("native_value_out_of_range", e.path, e.message);
  }
  throw e;
}

/** Shared state of one opened library. */
class NativeState {
  readonly lib: NativeLibrary;
  /** Bound functions by symbol name (the runtime and shim at load, the rest on first use). */
  readonly fns: Record<string, AnyFn>;
  readonly capacity: number;
  readonly stride: number;
  /** Cached count of initialised areas (0 = unknown or none; refreshed natively on a miss). */
  num = 0;
  /** Whether this thread's per-CPU register is bound to this library (`thread.owner === this`). */
  bound = false;
  closed = false;

  /** Every function the library has, with its signature (computed on the first bind); bound on first use. */
  readonly #signatures: () => Readonly<Record<string, FfiSignature>>;
  #signatureTable: Readonly<Record<string, FfiSignature>> | null = null;

  constructor(
    lib: NativeLibrary,
    signatures: () => Readonly<Record<string, FfiSignature>>,
    capacity: number,
    stride: number,
  ) {
    this.lib = lib;
    this.fns = { ...(lib.symbols as unknown as Record<string, AnyFn>) };
    this.#signatures = signatures;
    this.capacity = capacity;
    this.stride = stride;
  }

  /** The functions of these symbols, binding the ones not bound yet in one batch. */
  bind(names: readonly string[]): AnyFn[] {
    const missing: Record<string, FfiSignature> = {};
    for (const name of names) {
      if (this.fns[name] !== undefined) continue;
      const sig = (this.#signatureTable ??= this.#signatures())[name];
      if (sig === undefined) throw new Error(`native function ${name} is not in the library`);
      missing[name] = sig;
    }
    if (Object.keys(missing).length > 0) {
      this.open(`bind ${Object.keys(missing).join(", ")}`);
      Object.assign(this.fns, this.lib.bind(missing));
    }
    return names.map((n) => this.fns[n]!);
  }

  /** Throws unless the library is open. */
  open(what: string): void {
    if (this.closed) fail("native_closed", [], `Cannot ${what}: the native library was closed, load() it again`);
  }

  /** Throws the right error for a current-CPU access on a thread not bound to this library. */
  unbound(what: string, path: readonly PathSegment[]): never {
    this.open(what);
    if (this.areaNum() === 0) {
      fail(
        "native_not_initialised",
        path,
        `Cannot ${what}: the per-CPU areas are not initialised, call init(cpus) first`,
      );
    }
    fail(
      "native_not_initialised",
      path,
      `Cannot ${what}: this thread has not bound its per-CPU register, call initPercpuReg(cpu) on it first`,
    );
  }

  /** The native count of initialised areas (also refreshes the cache). */
  areaNum(): number {
    this.num = Number(this.fns.percpu_area_num!() as bigint);
    return this.num;
  }

  /** Checks a CPU id against the initialised areas and returns it. */
  cpu(cpu: unknown, what: string, path: readonly PathSegment[]): number {
    this.open(what);
    const n = this.areaNum();
    if (typeof cpu !== "number" || !Number.isInteger(cpu)) {
      fail(
        "native_cpu_out_of_range",
        path,
        `Cannot ${what}: the CPU id must be an integer, got ${typeof cpu === "bigint" ? `${cpu}n` : String(cpu)}`,
      );
    }
    if (n === 0) {
      fail(
        "native_not_initialised",
        path,
        `Cannot ${what}: the per-CPU areas are not initialised, call init(cpus) first`,
      );
    }
    if (cpu < 0 || cpu >= n) {
      fail(
        "native_cpu_out_of_range",
        path,
        `Cannot ${what}: CPU ${cpu} is out of range, ${n} area${n === 1 ? " is" : "s are"} initialised (0..${n - 1})`,
      );
    }
    return cpu;
  }

  /** The count of initialised areas, or an error when there are none. */
  count(what: string, path: readonly PathSegment[]): number {
    this.open(what);
    const n = this.num > 0 ? this.num : this.areaNum();
    if (n === 0) {
      fail(
        "native_not_initialised",
        path,
        `Cannot ${what}: the per-CPU areas are not initialised, call init(cpus) first`,
      );
    }
    return n;
  }
}

/** The verb of each whole-variable op's error messages (`Cannot reset "X": …`). */
const VAR_OP_VERBS = {
  current_ptr: "get the current pointer of",
  remote_ptr: "get the remote pointer of",
  reset_to_init: "reset",
} as const satisfies Record<VarOp, string>;

/**
 * The native accessors of one variable. Methods mirror the seed's API,
 * camelCased; `PercpuVar` installs {@link NativeVar.accessors} on the handle.
 */
export class NativeVar {
  /** Offset of the variable from the area base (the per-CPU register). */
  readonly offsetValue: number;
  /** Whether the variable is a single integer (the RMW ops and `sum` exist). */
  readonly integer: boolean;
  /** The per-variable accessors (see ffi/_accessors.ts): stubs until their first call compiles them. */
  readonly accessors: HandleAccessors;
  readonly #state: NativeState;
  readonly #name: string;

  /** @internal Built by {@link NativeSdk}. */
  constructor(state: NativeState, name: string, type: PercpuType, offset: number, leaves: readonly PlacedLeaf[]) {
    this.#state = state;
    this.#name = name;
    this.offsetValue = offset;
    const path = [name];
    const only = leaves.length === 1 && leaves[0]!.indices.length === 0 && leaves[0]!.symbol === name
      ? leaves[0]!
      : null;
    this.integer = only !== null && isInteger(only.scalar);
    const size = only === null ? 0 : scalarLayout(only.scalar, "x86_64").size;
    this.accessors = compileAccessors(name, type, {
      wideArgs: state.lib.wideArgs,
      state,
      unbound: (what) => state.unbound(what, path),
      cpu: (cpu, what) => state.cpu(cpu, what, path),
      count: (what) => state.count(what, path),
      checkScalar: (v) => {
        try {
          return checkScalar(only!.scalar, v, path, size);
        } catch (e) {
          return asNativeValueError(e);
        }
      },
      checkValue: (v) => {
        try {
          return checkValue(type, v, path);
        } catch (e) {
          return asNativeValueError(e);
        }
      },
      bind: (names) => state.bind(names),
      install: (op, fn) => this.#installer?.(op, fn),
    });
  }

  #bound(what: string): void {
    if (thread.owner !== this.#state) this.#state.unbound(`${what} ${quotePath([this.#name])}`, [this.#name]);
  }

  #fn(name: string): AnyFn {
    return this.#state.fns[name] ?? this.#state.bind([name])[0]!;
  }

  #installer: ((op: AccessorName, fn: (...args: never[]) => unknown) => void) | null = null;

  /**
   * Registers who is told when a method is compiled in place of its stub
   * (`PercpuVar` re-installs it as its own property). Replaces the previous one.
   */
  onInstall(installer: (op: AccessorName, fn: (...args: never[]) => unknown) => void): void {
    this.#installer = installer;
  }

  /** An integer op (or integer derived method) of the compiled accessors, or a TypeError for non-integer variables. */
  integerOp<K extends IntegerAccessorName>(op: K): NonNullable<HandleAccessors[K]> {
    const f = this.accessors[op];
    if (f === undefined) {
      throw new TypeError(`Cannot call ${op}() on ${quotePath([this.#name])}: it is not an integer variable`);
    }
    return f as NonNullable<HandleAccessors[K]>;
  }

  /**
   * Calls a whole-variable op as its catalog row says: a current op checks
   * this thread's binding, a remote one takes and checks `cpu` (passed first).
   */
  #varOp(op: VarOp, cpu?: number): unknown {
    const spec: VarOpSpec = VAR_OP_SPECS[op];
    const what = `${VAR_OP_VERBS[op]} ${quotePath([this.#name])}`;
    switch (spec.target) {
      case "current":
        if (thread.owner !== this.#state) this.#state.unbound(what, [this.#name]);
        return this.#fn(varFunction(this.#name, op))();
      case "remote": {
        const c = this.#state.cpu(cpu, what, [this.#name]);
        return this.#fn(varFunction(this.#name, op))(c);
      }
    }
  }

  /** Address of the variable in the current CPU's area (`<v>_current_ptr`). */
  currentPtr(): bigint {
    return this.#varOp("current_ptr") as bigint;
  }

  /** Address of the variable in `cpu`'s area (`<v>_remote_ptr`). */
  remotePtr(cpu: number): bigint {
    return this.#varOp("remote_ptr", cpu) as bigint;
  }

  /** Copies the initial value into the current CPU's area (`<v>_reset_to_init`). */
  resetToInit(): void {
    this.#varOp("reset_to_init");
  }

  /** Runs `fn` with the shim's guard held (released when `fn` throws). `fn` must be synchronous. */
  withCurrent<R>(fn: (cell: CurrentCell<unknown>) => R): R {
    this.#bound("access");
    const st = this.#state;
    const ptr = this.#fn(varFunction(this.#name, "current_ptr"))() as bigint;
    const a = this.accessors;
    const cell: CurrentCell<unknown> = { get: () => a.readCurrentRaw(), set: (v) => a.writeCurrentRaw(v), ptr };
    const flags = st.fns.percpu_shim_guard_enter!();
    let result: R;
    try {
      result = fn(cell);
    } finally {
      st.fns.percpu_shim_guard_exit!(flags);
    }
    if (result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function") {
      throw new TypeError(
        `withCurrent() callback for ${
          quotePath([this.#name])
        } returned a promise: the guard cannot be held across await, pass a synchronous function`,
      );
    }
    return result;
  }
}

/** The runtime half of a loaded library: `init`, the per-CPU register and the areas. */
export class NativeSdk {
  /** What the load did (path, cache hit, timing). */
  readonly info: LoadInfo;
  readonly #state: NativeState;
  readonly #vars = new Map<string, NativeVar>();

  /** @internal Use {@link loadNative}; `started` is when the load began (`performance.now()`). */
  constructor(state: NativeState, input: GenInput, info: Omit<LoadInfo, "ms">, started: number) {
    this.#state = state;
    for (const v of input.vars) {
      this.#vars.set(v.layout.name, new NativeVar(state, v.layout.name, v.layout.type, v.layout.offset, v.leaves));
    }
    this.info = { ...info, ms: performance.now() - started };
  }

  /** The accessors of a variable by name. */
  variable(name: string): NativeVar {
    const v = this.#vars.get(name);
    if (v === undefined) throw new Error(`variable ${name} is not in the loaded library`);
    return v;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#state.closed;
  }

  /**
   * Initialises `cpus` areas in the library's 64-byte-aligned native storage
   * (copies of the template; on x86_64 each with its self pointer) and
   * returns the count. Re-initialising resets every area.
   */
  init(cpus: number): number {
    const st = this.#state;
    st.open("init");
    if (typeof cpus !== "number" || !Number.isInteger(cpus) || cpus < 1 || cpus > st.capacity) {
      fail(
        "native_cpu_out_of_range",
        [],
        `Cannot init ${
          String(cpus)
        } CPUs: the library was loaded for ${st.capacity} (load({ cpus }) sets it), pass 1..${st.capacity}`,
      );
    }
    const r = Number(st.fns.percpu_shim_init!(cpus) as bigint);
    if (r !== cpus) fail("native_not_initialised", [], `Cannot init ${cpus} CPUs: percpu_init returned ${r}`);
    st.num = r;
    return r;
  }

  /** Points the calling thread's per-CPU register at `cpu`'s area (one thread = one CPU). */
  initPercpuReg(cpu: number): void {
    const st = this.#state;
    const c = st.cpu(cpu, "initPercpuReg", []);
    st.fns.percpu_init_reg!(BigInt(c));
    bindThread(st, c);
  }

  /** The calling thread's per-CPU register (its area base). */
  readPercpuReg(): bigint {
    if (thread.owner !== this.#state) this.#state.unbound("readPercpuReg", []);
    return this.#state.fns.percpu_read_reg!() as bigint;
  }

  /** Sets the calling thread's per-CPU register; `addr` must be the base of an initialised area. */
  writePercpuReg(addr: bigint): void {
    const st = this.#state;
    st.open("writePercpuReg");
    if (typeof addr !== "bigint") {
      throw new TypeError(`Cannot writePercpuReg: the address must be a bigint, got ${typeof addr}`);
    }
    const n = st.areaNum();
    if (n === 0) {
      fail(
        "native_not_initialised",
        [],
        "Cannot writePercpuReg: the per-CPU areas are not initialised, call init(cpus) first",
      );
    }
    const base = st.fns.percpu_area_base!(0) as bigint;
    const rel = addr - base;
    const stride = BigInt(st.stride);
    if (rel < 0n || rel % stride !== 0n || rel / stride >= BigInt(n)) {
      fail(
        "native_value_out_of_range",
        [],
        `Cannot writePercpuReg: 0x${addr.toString(16)} is not the base of one of the ${n} initialised areas (0x${
          base.toString(16)
        } + k * ${st.stride})`,
      );
    }
    st.fns.percpu_write_reg!(addr);
    bindThread(st, Number(rel / stride));
  }

  /** Base address of `cpu`'s area. */
  areaBase(cpu: number): bigint {
    const c = this.#state.cpu(cpu, "areaBase", []);
    return this.#state.fns.percpu_area_base!(c) as bigint;
  }

  /** Number of initialised areas (0 before `init`). */
  areaNum(): number {
    this.#state.open("areaNum");
    return this.#state.areaNum();
  }

  /** Bytes used by one area. */
  areaSize(): number {
    this.#state.open("areaSize");
    return Number(this.#state.fns.percpu_area_size!() as bigint);
  }

  /** The CPU the calling thread is bound to in this library, or -1. */
  currentCpu(): number {
    return thread.owner === this.#state ? thread.cpu : -1;
  }

  /** The calling thread's guard-hook counters. */
  hookCounts(): HookCounts {
    const st = this.#state;
    st.open("read the hook counters");
    const count = (i: number): number => Number(st.fns.percpu_shim_hook_count!(i) as bigint);
    const c = Object.fromEntries(HOOK_COUNTERS.map((k, i) => [k, count(i)])) as Record<
      typeof HOOK_COUNTERS[number],
      number
    >;
    return {
      ...c,
      preemptDepth: st.fns.percpu_shim_preempt_depth!() as number,
      irqDisabled: st.fns.percpu_shim_irq_disabled!() !== 0,
    };
  }

  /** Zeroes the calling thread's hook counters. */
  resetHookCounts(): void {
    this.#state.open("reset the hook counters");
    this.#state.fns.percpu_shim_hooks_reset!();
  }

  /** The opened library (for benchmarks and tests that call the shim directly). */
  get library(): NativeLibrary {
    this.#state.open("use the library");
    return this.#state.lib;
  }

  /** Unloads the library; every later call on it throws `native_closed`. Idempotent. */
  close(): void {
    const st = this.#state;
    if (st.closed) return;
    st.closed = true;
    st.num = 0;
    st.bound = false;
    if (thread.owner === st) {
      thread.owner = null;
      thread.cpu = -1;
    }
    st.lib.close();
  }
}

/** The inputs `loadNative` needs from an SDK instance. */
export interface LoadRequest {
  /** Generates the files for a configuration (`sdk.generate`). */
  readonly generate: (
    options: { arch: "x86_64"; mode: "user"; cpus: number; features: readonly ("preempt" | "irq")[] },
  ) => Generated;
}

/**
 * Generates x86_64 user-mode code, builds it with the shim (or finds it in
 * the cache) and opens it.
 */
export async function loadNative(request: LoadRequest, options: LoadOptions = {}): Promise<NativeSdk> {
  const started = performance.now();
  const o = parseLoadOptions(options);
  const on = (f: "preempt" | "irq"): boolean =>
    Array.isArray(o.features)
      ? o.features.includes(f)
      : (o.features as Partial<Record<string, boolean>> | undefined)?.[f] === true;
  const features = (["preempt", "irq"] as const).filter(on);
  const cpus = o.cpus ?? 4;
  const generated = request.generate({ arch: "x86_64", mode: "user", cpus, features });
  const input = generatorInput(generated.layout, generated.config);
  const built = await buildSharedLibrary({
    sources: {
      "percpu.S": generated.files["percpu.S"],
      "percpu.h": generated.files["percpu.h"],
      "shim.c": generateShim(input),
    },
    compile: ["percpu.S", "shim.c"],
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    ...(o.cc !== undefined ? { cc: o.cc } : {}),
  });
  // Only the runtime and the shim are bound now; each accessor binds its own functions on first use.
  const lib: NativeLibrary = await openLibrary(
    built.path,
    { ...RUNTIME_SIGNATURES, ...SHIM_SIGNATURES } as FfiSignatures,
  );
  const state = new NativeState(lib, () => librarySignatures(input), cpus, generated.layout.stride);
  return new NativeSdk(state, input, { path: built.path, hash: built.hash, cached: built.cached, generated }, started);
}
