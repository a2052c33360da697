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
import { computeLayout, type Layout, type LayoutOrder } from "./sdk/layout.ts";
import { buildManifest, type Manifest } from "./sdk/manifest.ts";
import { checkVarName } from "./sdk/names.ts";
import { parseOptions } from "./sdk/options.ts";
import { SymbolClashes } from "./sdk/symbols.ts";
import { checkTarget, type Target } from "./sdk/targets.ts";
import { type AlignedType, checkType, type Infer, type InferInit, type IntegerScalarName, type PercpuType, type ScalarType, typeName } from "./sdk/types.ts";
import { ByteSlab, checkValue, encodeChecked } from "./sdk/values.ts";

/**
 * The operand of a read-modify-write op on an n-bit integer, as C takes it:
 * a number or a bigint from -(2^n − 1) to 2^n − 1, wrapped modulo 2^n
 * (`addCurrent(-1)` on an unsigned variable decrements, as Linux's
 * `this_cpu_add(x, -1)`). A number for a 64-bit type must be a safe integer.
 */
export type IntegerArgument = number | bigint;

/** Types whose handles have the integer read-modify-write ops and `sum()`. */
export type IntegerVarType = ScalarType<IntegerScalarName> | AlignedType<ScalarType<IntegerScalarName>>;

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

  /** Sum of every initialised CPU's value (read with `remote_read`). */
  sum<V extends IntegerVarType>(this: PercpuVar<V>): Infer<V> {
    return this.#n().integerOp("sum")() as Infer<V>;
  }
}

/**
 * A set of per-CPU variables. Use the default {@link percpu} instance or make
 * isolated ones with {@link createPercpu}.
 */
export class PercpuSdk {
  readonly #vars: PercpuVar[] = [];
  readonly #names = new Set<string>();
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
   * `PercpuError` (and defines nothing) on a bad name, type or initial value.
   *
   * @example
   * ```ts
   * import { createPercpu, struct, u32, u64 } from "./mod.ts";
   * const sdk = createPercpu();
   * const CPU_ID = sdk.define("CPU_ID", u64, 0);        // reads back as bigint
   * const STATS = sdk.define("STATS", struct({ irqs: u64, ticks: u32 }), { irqs: 0n, ticks: 0 });
   * ```
   */
  define<const T extends PercpuType>(name: string, type: T, init: InferInit<T>): PercpuVar<T> {
    if (collected === undefined) return this.#define(name, type, init);
    try {
      return this.#define(name, type, init);
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      collected.push(e);
      return new PercpuVar(this, String(name), type, init as Infer<T>);
    }
  }

  #define<const T extends PercpuType>(name: string, type: T, init: InferInit<T>): PercpuVar<T> {
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
    const handle = new PercpuVar(this, name, type, value);
    this.#vars.push(handle as unknown as PercpuVar);
    this.#names.add(name);
    this.#symbols.add(name, type);
    return handle;
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
      const defs = this.#vars.map((v) => ({ name: v.name, type: v.type, init: encodeChecked(v.type, v.init, t, [v.name], slab) }));
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
