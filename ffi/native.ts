/**
 * The loaded native SDK: generates x86_64 user-mode code for a layout,
 * builds it with the shim into a cached shared library, opens it through the
 * runtime's FFI adapter and exposes the runtime and every accessor as JS
 * functions. Every value goes through the generated native code; JS only
 * validates arguments and assembles struct/array values from their leaves.
 *
 * Misuse never reaches native code: a current-CPU access on a thread that has
 * not bound its per-CPU register (`initPercpuReg`) to this library
 * (`native_not_initialised`, or `thread_bound_elsewhere` when another SDK
 * instance holds the thread), a CPU id outside the initialised areas, a
 * wrong argument (`value_wrong_kind`, `value_out_of_range`: see
 * ffi/_accessors.ts for the C-like integer rule), a CPU id another live
 * thread holds (`cpu_already_bound`), or any use after `close()` throws a
 * `PercpuError` first.
 *
 * @module
 */
import { z } from "zod";
import { leafSignature } from "../arch/c_types.ts";
import type { Generated } from "../emit/index.ts";
import { cScalarType } from "../sdk/c_names.ts";
import type { Features } from "../sdk/config.ts";
import { type AnyPlacedLeaf, type GenInput, generatorInput } from "../sdk/plan.ts";
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
import { describeValue, type PercpuType, SCALAR_NAMES, type ScalarName } from "../sdk/types.ts";
import { checkArgument, checkValue, type IntegerArgMode, isInteger, type ScalarCheck } from "../sdk/values.ts";
import { openLibrary } from "./adapters.ts";
import { buildSharedLibrary } from "./build.ts";
import type { FfiSignature, FfiSignatures, FfiType, NativeLibrary } from "./contract.ts";
import {
  type AccessorEnv,
  type AccessorName,
  compileAccessors,
  resolveLeaf,
  type HandleAccessors,
  type IntegerAccessorName,
  type ThreadBinding,
} from "./_accessors.ts";
import { generateShim, HOOK_COUNTERS, indexedWrapperSignature, SHIM_SIGNATURES, u128Wrapper, u128WrapperSignature } from "./shim.ts";
import { ALLOC_SHIM_SIGNATURES, COUNTER_SHIM_SIGNATURES, dynSignatures, generateRuntimeShim } from "./_runtime_shim.ts";
import { NativeAllocator, NativeCounter, type RuntimeEnv } from "./_runtime_native.ts";
import { counterVars } from "../emit/percpu_runtime_c.ts";

/** Options of `sdk.load()`. */
export interface LoadOptions {
  /** Areas the library holds; `init(n)` accepts `n` up to this (default 4). */
  readonly cpus?: number;
  /**
   * Features compiled in: `["preempt", "irq"]` or `{ preempt: true }`. `"naive"` is the seed's `sp-naive`
   * (one area of plain globals, no per-CPU register; see {@link NativeSdk.init} for its base semantics),
   * alone or with `"preempt"` (the seed's `sp-naive,preempt`); it implies `cpus: 1`.
   */
  readonly features?: readonly ("preempt" | "irq" | "naive")[] | Partial<Pick<Features, "preempt" | "irq" | "naive">>;
  /** Bytes of the dynamic per-CPU region (`percpu_alloc`, `sdk.alloc()`; default 0: none). */
  readonly dynamic?: number;
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
    z.array(z.enum(["preempt", "irq", "naive"])),
    z.strictObject({ preempt: z.boolean().optional(), irq: z.boolean().optional(), naive: z.boolean().optional() }),
  ]).optional(),
  dynamic: z.number().int().min(0).optional(),
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
  // A pointer parameter (try_cmpxchg's `T *expected`) is passed as the address of a buffer.
  if (cType.endsWith(" *")) return "usize";
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
  if (counterVars(input).length > 0 || input.layout.dynamic !== undefined) Object.assign(out, COUNTER_SHIM_SIGNATURES);
  if (input.layout.dynamic !== undefined) Object.assign(out, ALLOC_SHIM_SIGNATURES, dynSignatures());
  for (const v of input.vars) {
    for (const op of VAR_OPS) out[varFunction(v.layout.name, op)] = VAR_OP_SIGNATURES[op];
    for (const leaf of v.leaves) {
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        out[sig.name] = { params: sig.params.map((p) => ffiOf(p.type)), result: ffiOf(sig.ret) };
        if (leaf.indices.length > 0) {
          const w = indexedWrapperSignature(leaf, op);
          out[w.name] = { params: w.params.map((p) => ffiOf(p.type)), result: ffiOf(w.ret) };
        }
      }
    }
    for (const leaf of v.u128Leaves) {
      for (const op of leafOps(leaf.scalar)) out[u128Wrapper(leafSignature(leaf, op).name)] = u128WrapperSignature(leaf, op);
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

/** Options of `initPercpuReg` and `writePercpuReg`. */
export interface BindOptions {
  /**
   * Share the CPU id with other threads (default `false`). A CPU id is held
   * by one thread at a time; it may be held by several only when every one
   * of them binds it with `shared: true` (their read-modify-write ops then
   * race as they would on one real CPU with preemption on).
   */
  readonly shared?: boolean;
}

/** The `shared` flag of {@link BindOptions}, checked. */
function sharedOption(options: unknown, what: string): boolean {
  if (options === undefined) return false;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    fail("value_wrong_kind", [], `Cannot ${what}: the options must be an object such as { shared: true }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "shared") fail("value_wrong_kind", [], `Cannot ${what}: unknown option "${key}", the options are { shared }`);
  }
  const shared = (options as { shared?: unknown }).shared;
  if (shared !== undefined && typeof shared !== "boolean") {
    fail("value_wrong_kind", [], `Cannot ${what}: the option shared must be a boolean, got ${describeValue(shared)}`);
  }
  return shared === true;
}

/**
 * Claims `cpu` for the calling thread in `state`'s native owner table (see
 * `percpu_shim_claim`), releasing this thread's claim on another CPU of the
 * same library; throws `cpu_already_bound` when another live thread holds it.
 */
function claimCpu(state: NativeState, cpu: number, shared: boolean, what: string): void {
  // naive (the seed's sp-naive): one area of plain globals that every thread uses, with nothing to own.
  if (state.naive) return;
  const r = Number(state.fns.percpu_shim_claim!(BigInt(cpu), shared ? 1 : 0) as bigint);
  if (r === 0) return;
  const holders = Number(state.fns.percpu_shim_cpu_holders!(BigInt(cpu)) as bigint);
  const by = r === 1 || holders < 0
    ? "another thread, which holds it exclusively"
    : `${holders} other thread${holders === 1 ? "" : "s"} sharing it`;
  if (r === 1 || r === 2) {
    fail(
      "cpu_already_bound",
      [],
      `Cannot ${what}: CPU ${cpu} is already bound by ${by} (one thread per CPU); bind another CPU, or pass { shared: true } on every thread that shares it`,
    );
  }
  throw new Error(`percpu_shim_claim(${cpu}) returned ${r}`);
}

/**
 * Records that this thread's register now belongs to `state` at `cpu`
 * (claimed already): the previous library of this thread loses it, and its
 * claim is released when it is another file (the same file shares the owner
 * table, where the new claim replaced the old one).
 */
function bindThread(state: NativeState, cpu: number): void {
  const previous = thread.owner as NativeState | null;
  if (previous !== null && previous !== state) {
    previous.bound = false;
    if (!previous.closed && previous.lib.path !== state.lib.path) previous.fns.percpu_shim_release!();
  }
  thread.owner = state;
  thread.cpu = cpu;
  state.bound = true;
}

/** Initial-value codes of `checkValue`'s shape checks (missing/extra field, array length), reported as `value_wrong_kind` for a runtime call. */
function asValueError(e: unknown, what: string): never {
  if (e instanceof PercpuError && e.code.startsWith("init_")) {
    const message = e.message.replace(/^Invalid value for /, "");
    throw new PercpuError(
      e.code === "init_out_of_range" || e.code === "init_float_out_of_range" ? "value_out_of_range" : "value_wrong_kind",
      e.path,
      `${what}: ${message}`,
    );
  }
  throw e;
}

/** How many SDK instances this JS context has loaded (numbers their labels). */
let loads = 0;

/** The label of a loaded instance: its load number in this thread, its library (cache hash) and first variables. */
function instanceLabel(n: number, hash: string, vars: readonly string[]): string {
  const shown = vars.slice(0, 3).join(", ") + (vars.length > 3 ? `, … (${vars.length} variables)` : "");
  return `load #${n} in this thread, library ${hash.slice(0, 12)}${vars.length > 0 ? `, variables ${shown}` : ""}`;
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
  /** Names this SDK instance in errors of another one (`load #2 of libpercpu.so, variables A, B`); set by `loadNative`. */
  label = "another SDK instance";
  /** Loaded with the `naive` feature (the seed's sp-naive): one area of plain globals, always "bound". */
  naive = false;
  /** Alignment the areas need (`layout.areaAlign`, at least 64); set by `loadNative`. */
  areaAlign = 64;
  /** Caller-owned buffers `init(cpus, { base })` placed areas in: kept alive until `close()`. */
  readonly keepAlive: (ArrayBuffer | SharedArrayBuffer)[] = [];
  #scratch: { readonly buffer: ArrayBuffer; readonly address: bigint } | null = null;

  /** A 32-byte buffer and its native address, for the in/out pointer argument of `try_cmpxchg` and the u128 wrappers' values (made once per thread and library). */
  scratch(): { readonly buffer: ArrayBuffer; readonly address: bigint } {
    if (this.#scratch === null) {
      const buffer = new ArrayBuffer(32);
      this.#scratch = { buffer, address: this.lib.addressOf(buffer) };
    }
    return this.#scratch;
  }

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
    const other = thread.owner as NativeState | null;
    if (other !== null && other !== this) {
      fail(
        "thread_bound_elsewhere",
        path,
        `Cannot ${what}: this thread's per-CPU register is bound to another SDK instance (${other.label}) at CPU ${thread.cpu}, call initPercpuReg(cpu) on this one to rebind it`,
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
        `Cannot ${what}: the CPU id must be an integer number, got ${describeValue(cpu)}`,
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

/**
 * The environment of the compiled accessors of a variable or a leaf at
 * `path` (variable name first) of type `type`: `scalar` is its scalar type
 * when it is one (aligned wrappers looked through), else null.
 */
function accessorEnv(
  state: NativeState,
  path: readonly PathSegment[],
  type: PercpuType,
  scalar: ScalarName | null,
  install: (op: AccessorName, fn: (...args: never[]) => unknown) => void,
): AccessorEnv {
  const size = scalar === null ? 0 : scalarLayout(scalar, "x86_64").size;
  return {
    wideArgs: state.lib.wideArgs,
    state,
    unbound: (what) => state.unbound(what, path),
    cpu: (cpu, what) => state.cpu(cpu, what, path),
    count: (what) => state.count(what, path),
    checkScalar: (v, method, param, mode: IntegerArgMode) =>
      checkArgument(
        scalar!,
        v,
        size,
        mode,
        path,
        `Cannot call ${method}() on ${quotePath(path)}: ${param === "v" ? "the value" : param}`,
      ),
    checkValue: (v, method) => {
      const what = `Cannot call ${method}() on ${quotePath(path)}`;
      const leaf: ScalarCheck = (s, x, at, bytes) => checkArgument(s, x, bytes, "exact", at, `${what}: ${quotePath(at)}`);
      try {
        return checkValue(type, v, path, leaf);
      } catch (e) {
        return asValueError(e, what);
      }
    },
    bind: (names) => state.bind(names),
    scratch: () => state.scratch(),
    install,
  };
}

/**
 * The native side of one leaf handle (a struct field or array element at
 * any depth, see {@link NativeVar.leaf}): its compiled accessors and its
 * address on a CPU (the variable's plus the leaf's offset on x86_64).
 */
export class NativeLeaf {
  /** The accessors of the leaf (stubs until their first call compiles them). */
  readonly accessors: HandleAccessors;
  /** Byte offset of the leaf from its variable. */
  readonly offset: number;
  /** Whether the leaf is a single integer (the RMW ops and `sum` exist). */
  readonly integer: boolean;
  readonly #variable: NativeVar;
  readonly #offset: bigint;

  /** @internal Built by {@link NativeVar.leaf}. */
  constructor(variable: NativeVar, accessors: HandleAccessors, offset: number, integer: boolean) {
    this.#variable = variable;
    this.accessors = accessors;
    this.offset = offset;
    this.#offset = BigInt(offset);
    this.integer = integer;
  }

  /** Address of the leaf in the current CPU's area. */
  currentPtr(): bigint {
    return this.#variable.currentPtr() + this.#offset;
  }

  /** Address of the leaf in `cpu`'s area. */
  remotePtr(cpu: number): bigint {
    return this.#variable.remotePtr(cpu) + this.#offset;
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
  constructor(state: NativeState, name: string, type: PercpuType, offset: number, leaves: readonly AnyPlacedLeaf[]) {
    this.#state = state;
    this.#name = name;
    this.offsetValue = offset;
    const path = [name];
    const only = leaves.length === 1 && leaves[0]!.indices.length === 0 && leaves[0]!.symbol === name
      ? leaves[0]!
      : null;
    this.integer = only !== null && isInteger(only.scalar);
    this.#type = type;
    this.accessors = compileAccessors(
      name,
      type,
      accessorEnv(state, path, type, only?.scalar ?? null, (op, fn) => this.#installer?.(op, fn)),
    );
  }

  readonly #type: PercpuType;

  /**
   * The native side of a leaf handle (`STATS.field("hist").at(2)`): the
   * accessors of the field or element at `path` (field names and indices,
   * valid for the variable's type: the handle checks them), compiled like a
   * variable's with the leaf's own native functions and its fixed indices
   * baked in, and its pointers. `install` is told when a method is compiled.
   */
  leaf(path: readonly PathSegment[], install: (op: AccessorName, fn: (...args: never[]) => unknown) => void): NativeLeaf {
    const r = resolveLeaf(this.#name, this.#type, path);
    const full = [this.#name, ...path];
    let t = r.type;
    while (t.kind === "aligned") t = t.inner;
    const scalar = t.kind === "scalar" ? t.name : null;
    const accessors = compileAccessors(
      r.stem,
      r.type,
      accessorEnv(this.#state, full, r.type, scalar, install),
      { fixed: r.fixed, label: quotePath(full) },
    );
    return new NativeLeaf(this, accessors, r.offset, scalar !== null && isInteger(scalar));
  }

  #bound(what: string): void {
    if (this.#state.bound !== true) this.#state.unbound(`${what} ${quotePath([this.#name])}`, [this.#name]);
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
      throw new TypeError(`Cannot call ${op}() on ${quotePath([this.#name])}: it is not ${op === "cmpxchg128Current" ? "a u128" : "an integer"} variable`);
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
        if (this.#state.bound !== true) this.#state.unbound(what, [this.#name]);
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

  /**
   * The seed's `symbol_vma()`: the variable's address in the host's
   * `.percpu` load image, the same for every CPU. Here that image is the
   * read-only template the areas are copied from (`percpu_shim_template()` +
   * offset); in naive mode it is the plain global itself (`areaBase(0)` +
   * offset), exactly as the seed's sp-naive `symbol_vma()` is `&GLOBAL`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "../mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load();
   * const vma = sdk.native!.variable("HITS").symbolVma(); // same for every CPU, whatever init did
   * ```
   */
  symbolVma(): bigint {
    const st = this.#state;
    st.open(`get the symbol VMA of ${quotePath([this.#name])}`);
    const base = st.naive ? st.fns.percpu_area_base!(0n) as bigint : st.fns.percpu_shim_template!() as bigint;
    return base + BigInt(this.offsetValue);
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

/**
 * Memory `init(cpus, { base })` can place the areas in: a buffer (kept alive by the library) or a raw address.
 *
 * @example
 * ```ts
 * import type { AreaBase } from "./native.ts";
 * const bases: AreaBase[] = [new ArrayBuffer(256), new Uint8Array(128).subarray(64), 0x1000n, null];
 * ```
 */
export type AreaBase = ArrayBuffer | SharedArrayBuffer | ArrayBufferView | bigint | number | null;

/**
 * Options of `sdk.init(cpus, options)`.
 *
 * @example
 * ```ts
 * import type { InitOptions } from "./native.ts";
 * const options: InitOptions = { base: new SharedArrayBuffer(4096) };
 * ```
 */
export interface InitOptions {
  /**
   * Where the areas go (the seed's `init(base, cpu_count)`); absent: the
   * library's own storage. `null` / `0` / `0n` is the seed's null pointer.
   */
  readonly base?: AreaBase;
}

/** A buffer's backing store, the byte offset of its view and its length; `value_wrong_kind` for anything else. */
function bufferOf(value: unknown, what: string): { buffer: ArrayBuffer | SharedArrayBuffer; offset: number; bytes: number } {
  const tag = Object.prototype.toString.call(value);
  if (tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]") {
    const buffer = value as ArrayBuffer | SharedArrayBuffer;
    return { buffer, offset: 0, bytes: buffer.byteLength };
  }
  if (ArrayBuffer.isView(value)) return { buffer: value.buffer, offset: value.byteOffset, bytes: value.byteLength };
  fail(
    "value_wrong_kind",
    [],
    `${what}: expected an ArrayBuffer, a SharedArrayBuffer, a typed array or a DataView, got ${describeValue(value)}`,
  );
}

/** The native address of a buffer's first byte (the library's FFI, see `NativeLibrary.addressOf`); 0n when empty. */
function bufferAddress(lib: NativeLibrary, buffer: ArrayBuffer | SharedArrayBuffer): bigint {
  return buffer.byteLength === 0 ? 0n : lib.addressOf(buffer);
}

/** The address `init` passes for a base, with the buffer it lives in (null: a raw address) and its usable bytes. */
function baseOf(
  st: NativeState,
  base: unknown,
  what: string,
): { address: bigint; buffer: ArrayBuffer | SharedArrayBuffer | null; bytes: number } {
  if (base === null || base === undefined) return { address: 0n, buffer: null, bytes: 0 };
  if (typeof base === "bigint" || typeof base === "number") {
    const ok = typeof base === "bigint" ? base >= 0n && base < 1n << 64n : Number.isSafeInteger(base) && base >= 0;
    if (!ok) {
      fail(
        "value_out_of_range",
        [],
        `${what}: the base address must be an integer in 0..2^64 - 1 (a number only up to 2^53 - 1), got ${describeValue(base)}`,
      );
    }
    return { address: BigInt(base), buffer: null, bytes: 0 };
  }
  const b = bufferOf(base, what);
  const address = b.bytes === 0 ? 0n : bufferAddress(st.lib, b.buffer) + BigInt(b.offset);
  return { address, buffer: b.buffer, bytes: b.bytes };
}

/** The runtime half of a loaded library: `init`, the per-CPU register and the areas. */
export class NativeSdk {
  /** What the load did (path, cache hit, timing). */
  readonly info: LoadInfo;
  readonly #state: NativeState;
  readonly #vars = new Map<string, NativeVar>();
  readonly #counters = new Map<string, NativeCounter>();
  readonly #allocator: NativeAllocator | null;

  /** @internal Use {@link loadNative}; `started` is when the load began (`performance.now()`). */
  constructor(state: NativeState, input: GenInput, info: Omit<LoadInfo, "ms">, started: number) {
    this.#state = state;
    const env = runtimeEnv(state);
    counterVars(input).forEach((v, i) => this.#counters.set(v.name, new NativeCounter(env, v.name, i)));
    this.#allocator = input.layout.dynamic !== undefined ? new NativeAllocator(env) : null;
    for (const v of input.vars) {
      this.#vars.set(v.layout.name, new NativeVar(state, v.layout.name, v.layout.type, v.layout.offset, v.u128Leaves.length > 0 ? [...v.leaves, ...v.u128Leaves] : v.leaves));
    }
    this.info = { ...info, ms: performance.now() - started };
  }

  /** The accessors of a variable by name. */
  variable(name: string): NativeVar {
    const v = this.#vars.get(name);
    if (v === undefined) throw new Error(`variable ${name} is not in the loaded library`);
    return v;
  }

  /** The native calls of a per-CPU counter by name (`percpu.counter()`). */
  counter(name: string): NativeCounter {
    const c = this.#counters.get(name);
    if (c === undefined) throw new Error(`counter ${name} is not in the loaded library`);
    return c;
  }

  /** The dynamic region's allocator, or `null` when the library was loaded without `dynamic`. */
  get allocator(): NativeAllocator | null {
    return this.#allocator;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#state.closed;
  }

  /**
   * Initialises `cpus` areas (copies of the template; on x86_64 each with its
   * self pointer) and returns the count, like the seed's `init(base, cpu_count)`.
   * Re-initialising resets every area.
   *
   * Without `options.base` the areas are the library's own 64-byte-aligned
   * storage and `cpus` is at most the `cpus` of `load()`. With `base` they
   * are placed where the caller says, as in the seed:
   * - an `ArrayBuffer`, `SharedArrayBuffer` or typed array / `DataView`
   *   (see {@link NativeSdk.allocAreas}): its memory must start at a multiple
   *   of {@link NativeSdk.layoutExpected}`(cpus).align` and hold at least
   *   `layoutExpected(cpus).size` bytes (checked up front). The library keeps
   *   a reference to every buffer it placed areas in until `close()`, so the
   *   areas never outlive their memory; keep using them through the SDK (a
   *   buffer that is transferred or detached while in use is the caller's bug).
   * - a raw address (`bigint`, or a safe-integer `number`): the caller owns
   *   the memory and its lifetime, exactly as with the seed's pointer.
   * - `null`, `0` or `0n`: the seed's null pointer.
   *
   * The base is checked by the generated `percpu_init`: a null base is a
   * `PercpuError` `init_invalid_base` (the seed's `InvalidBase`), a misaligned
   * one `init_unaligned_base` (`UnalignedBase`); a buffer that is too small is
   * `init_invalid_base` too. Threads bound before a re-init that moved the
   * areas still point at the old ones: call `initPercpuReg` again.
   *
   * Naive mode (`load({ features: ["naive"] })`, the seed's `sp-naive`): the
   * base and the count are ignored (a null base included) and the result is
   * always 1, like the seed's `Ok(1)`; the one area of plain globals never
   * moves. "Base 0 semantics": the seed's sp-naive reports
   * `percpu_area_base(0) == 0` and makes `offset()` the global's absolute
   * address, so that `base + offset` is the variable; here offsets stay
   * relative in every mode and `areaBase(0)` is the address of the one area,
   * so `areaBase(0) + offset` is still `currentPtr()`, and `symbolVma()` is
   * the absolute address as in the seed.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "../mod.ts";
   * const sdk = createPercpu();
   * const HITS = sdk.define("HITS", u64, 7);
   * await sdk.load({ cpus: 2 });
   * const areas = sdk.allocAreas(2); // 64-aligned, layoutExpected(2).size bytes
   * sdk.init(2, { base: areas });    // 2
   * sdk.initPercpuReg(0);
   * console.log(sdk.readPercpuReg() === sdk.addressOf(areas), HITS.readCurrent()); // true 7n
   * ```
   */
  init(cpus: number, options?: InitOptions): number {
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
    if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
      fail("value_wrong_kind", [], `Cannot init ${cpus} CPUs: the options must be an object such as { base }, got ${describeValue(options)}`);
    }
    for (const key of Object.keys(options ?? {})) {
      if (key !== "base") fail("value_wrong_kind", [], `Cannot init ${cpus} CPUs: unknown option "${key}", the options are { base }`);
    }
    if (options === undefined || !("base" in options)) {
      const r = Number(st.fns.percpu_shim_init!(cpus) as bigint);
      if (r !== (st.naive ? 1 : cpus)) fail("native_not_initialised", [], `Cannot init ${cpus} CPUs: percpu_init returned ${r}`);
      st.num = r;
      return r;
    }
    const what = `Cannot init ${cpus} CPUs`;
    const { address, buffer, bytes } = baseOf(st, options.base, what);
    const align = BigInt(st.areaAlign);
    if (!st.naive && buffer !== null && address !== 0n && address % align === 0n) {
      const need = this.layoutExpected(cpus).size;
      if (bytes < need) {
        fail(
          "init_invalid_base",
          [],
          `${what}: the buffer holds ${bytes} bytes, ${cpus} area${cpus === 1 ? "" : "s"} need ${need} (layoutExpected(${cpus}).size)`,
        );
      }
    }
    const r = Number(st.fns.percpu_init!(address, BigInt(cpus)) as bigint);
    if (r === -1) fail("init_invalid_base", [], `${what}: the base is null (the seed's InitError::InvalidBase)`);
    if (r === -2) {
      fail(
        "init_unaligned_base",
        [],
        `${what}: the base 0x${address.toString(16)} is not ${st.areaAlign}-byte aligned (the seed's InitError::UnalignedBase); allocAreas(${cpus}) gives an aligned buffer`,
      );
    }
    if (r !== (st.naive ? 1 : cpus)) fail("native_not_initialised", [], `${what}: percpu_init returned ${r}`);
    if (buffer !== null && !st.naive && !st.keepAlive.includes(buffer)) st.keepAlive.push(buffer);
    st.num = r;
    return r;
  }

  /**
   * Initialises every area of the library's in-place storage (the seed's
   * `init_in_place()`, through `percpu_init_in_place`): the `cpus` of
   * `load()` areas (1 in naive mode); returns the count.
   *
   * @example
   * ```ts
   * import { createPercpu, u32 } from "../mod.ts";
   * const sdk = createPercpu();
   * sdk.define("TICKS", u32, 0);
   * await sdk.load({ cpus: 4 });
   * console.log(sdk.initInPlace()); // 4
   * ```
   */
  initInPlace(): number {
    const st = this.#state;
    st.open("initInPlace");
    const r = Number(st.fns.percpu_init_in_place!() as bigint);
    if (r !== (st.naive ? 1 : st.capacity)) fail("native_not_initialised", [], `Cannot initInPlace: percpu_init_in_place returned ${r}`);
    st.num = r;
    return r;
  }

  /**
   * The memory `init(cpus, { base })` needs (the seed's
   * `percpu_area_layout_expected(cpu_count)`): `size` = `cpus` × the area
   * stride (`percpu_area_size()` rounded up to `align`), `align` = the area
   * alignment (64, or more when a variable asks for it). Naive mode needs no
   * memory: `{ size: 0, align }`, as in the seed.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "../mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load();
   * console.log(sdk.layoutExpected(4)); // { size: 256, align: 64 }
   * ```
   */
  layoutExpected(cpus: number): { readonly size: number; readonly align: number } {
    const st = this.#state;
    st.open("layoutExpected");
    if (typeof cpus !== "number" || !Number.isSafeInteger(cpus) || cpus < 0) {
      fail("value_out_of_range", [], `Cannot compute layoutExpected(${describeValue(cpus)}): the CPU count must be an integer >= 0`);
    }
    const align = st.areaAlign;
    if (st.naive) return { size: 0, align };
    const size = Number(st.fns.percpu_area_size!() as bigint);
    const stride = Math.max(Math.ceil(size / align) * align, align);
    return { size: cpus * stride, align };
  }

  /**
   * Allocates memory for `cpus` areas (the seed's `alloc(percpu_area_layout_expected(cpus))`):
   * a `Uint8Array` of exactly `layoutExpected(cpus).size` bytes whose first
   * byte is `align`-aligned, inside a slightly larger `ArrayBuffer`. Pass it
   * to `init(cpus, { base })`.
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "../mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load({ cpus: 2 });
   * const areas = sdk.allocAreas(2);
   * console.log(sdk.addressOf(areas) % 64n, areas.byteLength); // 0n 128
   * ```
   */
  allocAreas(cpus: number): Uint8Array {
    const { size, align } = this.layoutExpected(cpus);
    const buffer = new ArrayBuffer(size + align);
    const address = bufferAddress(this.#state.lib, buffer);
    const skip = Number((BigInt(align) - (address % BigInt(align))) % BigInt(align));
    return new Uint8Array(buffer, skip, size);
  }

  /**
   * The native address of a buffer's first byte (an `ArrayBuffer`,
   * `SharedArrayBuffer`, typed array or `DataView`; 0n when it is empty).
   *
   * @example
   * ```ts
   * import { createPercpu, u64 } from "../mod.ts";
   * const sdk = createPercpu();
   * sdk.define("HITS", u64, 0);
   * await sdk.load();
   * const bytes = new Uint8Array(64);
   * console.log(sdk.addressOf(bytes.subarray(1)) - sdk.addressOf(bytes)); // 1n
   * ```
   */
  addressOf(buffer: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): bigint {
    this.#state.open("addressOf");
    const b = bufferOf(buffer, "Cannot take addressOf");
    return b.bytes === 0 ? 0n : bufferAddress(this.#state.lib, b.buffer) + BigInt(b.offset);
  }

  /**
   * Points the calling thread's per-CPU register at `cpu`'s area. One thread
   * per CPU, one CPU per thread: a CPU id another live thread of this library
   * holds is a `cpu_already_bound` error unless every thread holding it binds
   * it with `{ shared: true }`; binding another CPU releases the thread's
   * previous one, and a thread's CPU is released when it calls `close()` or
   * exits. The table is the library file's, so it spans every thread and
   * every SDK instance that loaded the same configuration.
   */
  initPercpuReg(cpu: number, options?: BindOptions): void {
    const st = this.#state;
    const shared = sharedOption(options, "initPercpuReg");
    const c = st.cpu(cpu, "initPercpuReg", []);
    claimCpu(st, c, shared, `initPercpuReg(${c})`);
    st.fns.percpu_init_reg!(BigInt(c));
    bindThread(st, c);
  }

  /** The calling thread's per-CPU register (its area base). */
  readPercpuReg(): bigint {
    if (thread.owner !== this.#state) this.#state.unbound("readPercpuReg", []);
    return this.#state.fns.percpu_read_reg!() as bigint;
  }

  /**
   * Sets the calling thread's per-CPU register; `addr` (a bigint) must be the
   * base of an initialised area, and binds the thread to that area's CPU by
   * the rules of {@link NativeSdk.initPercpuReg} (`options.shared` included).
   */
  writePercpuReg(addr: bigint, options?: BindOptions): void {
    const st = this.#state;
    st.open("writePercpuReg");
    if (typeof addr !== "bigint") {
      fail("value_wrong_kind", [], `Cannot writePercpuReg: the address must be a bigint, got ${describeValue(addr)}`);
    }
    if (addr < 0n || addr >= 1n << 64n) {
      fail("value_out_of_range", [], `Cannot writePercpuReg: the address must be in 0..2^64 - 1, got ${describeValue(addr)}`);
    }
    const shared = sharedOption(options, "writePercpuReg");
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
        "value_out_of_range",
        [],
        `Cannot writePercpuReg: 0x${addr.toString(16)} is not the base of one of the ${n} initialised areas (0x${
          base.toString(16)
        } + k * ${st.stride})`,
      );
    }
    const c = Number(rel / stride);
    claimCpu(st, c, shared, `writePercpuReg(0x${addr.toString(16)})`);
    st.fns.percpu_write_reg!(addr);
    bindThread(st, c);
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
    // naive: every thread's current CPU is the one area.
    return this.#state.naive ? 0 : thread.owner === this.#state ? thread.cpu : -1;
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
      st.fns.percpu_shim_release!();
    }
    st.lib.close();
    // The areas are gone with the library: the caller-owned buffers they were placed in may be collected now.
    st.keepAlive.length = 0;
  }
}

/** What the counter and allocator handles need from a library's state. */
function runtimeEnv(state: NativeState): RuntimeEnv {
  return {
    bind: (names) => state.bind(names),
    open: (what) => state.open(what),
    requireBound: (what, path) => {
      if (state.bound !== true) state.unbound(what, path);
    },
    cpu: (cpu, what, path) => state.cpu(cpu, what, path),
    addressOf: (buffer) => bufferAddress(state.lib, buffer),
    scratch: () => state.scratch(),
    get wideArgs() {
      return state.lib.wideArgs;
    },
  };
}

/** The inputs `loadNative` needs from an SDK instance. */
export interface LoadRequest {
  /** Generates the files for a configuration (`sdk.generate`). */
  readonly generate: (
    options: { arch: "x86_64"; mode: "user"; cpus: number; features: readonly ("preempt" | "irq" | "naive")[]; dynamic?: number },
  ) => Generated;
}

/**
 * Generates x86_64 user-mode code, builds it with the shim (or finds it in
 * the cache) and opens it.
 */
export async function loadNative(request: LoadRequest, options: LoadOptions = {}): Promise<NativeSdk> {
  const started = performance.now();
  const o = parseLoadOptions(options);
  const on = (f: "preempt" | "irq" | "naive"): boolean =>
    Array.isArray(o.features)
      ? o.features.includes(f)
      : (o.features as Partial<Record<string, boolean>> | undefined)?.[f] === true;
  const features = (["preempt", "irq", "naive"] as const).filter(on);
  const naive = features.includes("naive");
  // naive has exactly one area (generate() rejects another explicit count).
  const cpus = o.cpus ?? (naive ? 1 : 4);
  const generated = request.generate({ arch: "x86_64", mode: "user", cpus, features, ...(o.dynamic ? { dynamic: o.dynamic } : {}) });
  const input = generatorInput(generated.layout, generated.config);
  const runtimeC = generated.files["percpu_runtime.c"];
  const runtimeShim = generateRuntimeShim(input);
  const built = await buildSharedLibrary({
    sources: {
      "percpu.S": generated.files["percpu.S"],
      "percpu.h": generated.files["percpu.h"],
      "shim.c": generateShim(input),
      ...(runtimeC !== undefined && runtimeShim !== null ? { "percpu_runtime.c": runtimeC, "runtime_shim.c": runtimeShim } : {}),
    },
    compile: ["percpu.S", "shim.c", ...(runtimeC !== undefined ? ["percpu_runtime.c", "runtime_shim.c"] : [])],
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    ...(o.cc !== undefined ? { cc: o.cc } : {}),
  });
  // Only the runtime and the shim are bound now; each accessor binds its own functions on first use.
  const lib: NativeLibrary = await openLibrary(
    built.path,
    { ...RUNTIME_SIGNATURES, ...SHIM_SIGNATURES } as FfiSignatures,
  );
  const state = new NativeState(lib, () => librarySignatures(input), cpus, generated.layout.stride);
  state.label = instanceLabel(++loads, built.hash, input.vars.map((v) => v.layout.name));
  state.areaAlign = generated.layout.areaAlign;
  if (naive) {
    // naive: every thread's "current CPU" is the one area of plain globals (no register to bind), so current-CPU
    // access needs no initPercpuReg, before any init too, like the seed's sp-naive globals.
    state.naive = true;
    Object.defineProperty(state, "bound", { get: () => true, set: () => {}, configurable: true, enumerable: true });
  }
  return new NativeSdk(state, input, { path: built.path, hash: built.hash, cached: built.cached, generated }, started);
}
