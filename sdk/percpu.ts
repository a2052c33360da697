/**
 * The SDK instance: the fluent `define()` DSL and the per-target layout and
 * manifest of everything defined on it.
 *
 * @module
 */
import { z } from "zod";
import { fail, PercpuError, quotePath } from "./errors.ts";
import { computeLayout, type Layout, type LayoutOrder } from "./layout.ts";
import { buildManifest, type Manifest } from "./manifest.ts";
import { checkVarName } from "./names.ts";
import { type GenerateOptions, type Generated, generateFiles } from "./generate.ts";
import { parseOptions } from "./options.ts";
import { RESERVED_SYMBOLS, varSymbols } from "./symbols.ts";
import { checkTarget, type Target } from "./targets.ts";
import { checkType, type Infer, type InferInit, type PercpuType, typeName } from "./types.ts";
import { checkValue, encodeValue } from "./values.ts";

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
}

/**
 * A set of per-CPU variables. Use the default {@link percpu} instance or make
 * isolated ones with {@link createPercpu}.
 */
export class PercpuSdk {
  readonly #vars: PercpuVar[] = [];
  readonly #symbols = new Set<string>(RESERVED_SYMBOLS);
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
    if (this.#vars.some((v) => v.name === name)) fail("name_duplicate", [name], `Cannot define ${quotePath([name])}: a variable of that name already exists`);
    checkType(type, [name]);
    const symbols = varSymbols(name, type);
    const clash = symbols.find((s) => this.#symbols.has(s));
    if (clash !== undefined) {
      fail("name_symbol_clash", [name], `Cannot define ${quotePath([name])}: its generated symbol "${clash}" is already used by another variable or the runtime`);
    }
    const value = checkValue(type, init, [name]) as Infer<T>;
    const handle = new PercpuVar(this, name, type, value);
    this.#vars.push(handle as unknown as PercpuVar);
    for (const s of symbols) this.#symbols.add(s);
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
      const defs = this.#vars.map((v) => ({ name: v.name, type: v.type, init: encodeValue(v.type, v.init, t, [v.name]) }));
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
