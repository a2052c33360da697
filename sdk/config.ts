/**
 * The generation configuration: what `sdk.generate()` accepts
 * ({@link GenerateOptions}) and what the generators receive once it is
 * validated and normalised ({@link GenConfig}).
 *
 * @module
 */
import { z } from "zod";
import { fail } from "./errors.ts";
import { parseOptions } from "./options.ts";
import { type Target, TARGETS } from "./targets.ts";

/** `kernel`: bare metal / kernel code. `user`: a hosted Linux process (x86_64 only). */
export type Mode = "kernel" | "user";

/** Optional behaviours of the generated code. */
export interface Features {
  /** Guarded ops call `percpu_preempt_disable/enable` around multi-instruction sequences. */
  readonly preempt: boolean;
  /** Guarded ops call `percpu_irq_save/restore` around multi-instruction sequences. */
  readonly irq: boolean;
  /** One CPU, plain globals, no per-CPU register (like the seed's `sp-naive`). */
  readonly naive: boolean;
  /** aarch64 only: use TPIDR_EL2 (hypervisors). */
  readonly el2: boolean;
  /**
   * aarch64 only: ARMv8.1 LSE atomics (`stadd`, `ldadd`, `swp`, `cas`, ...)
   * for the read-modify-write ops instead of ARMv8.0 `ldxr`/`stxr` loops
   * (the CPU must implement FEAT_LSE: Cortex-A55/A76 and later, QEMU `-cpu max`).
   */
  readonly lse: boolean;
}

/** A validated, normalised generation request. */
export interface GenConfig {
  readonly arch: Target;
  /** Number of CPU areas the linker script / in-place init reserves (1 with `naive`). */
  readonly cpus: number;
  readonly mode: Mode;
  readonly features: Features;
  /**
   * Whether `percpu.S` carries the out-of-line per-variable functions (and
   * `percpu.h` their prototypes): default off in kernel mode, on in user mode.
   */
  readonly functions: boolean;
  /** Whether `percpu.rs` (the Rust module, emit/percpu_rs.ts) is generated too. */
  readonly rust: boolean;
}

/** Names of the optional features. */
export const FEATURE_NAMES = ["preempt", "irq", "naive", "el2", "lse"] as const;

/** Largest CPU count a generation accepts. */
export const MAX_CPUS = 4096;

/** Options of `sdk.generate()`. */
export interface GenerateOptions {
  readonly arch: Target;
  /** Areas to reserve (default 4). */
  readonly cpus?: number;
  /** Default `"kernel"`. */
  readonly mode?: Mode;
  /** Features as a list (`["preempt", "irq"]`) or flags (`{ preempt: true }`). */
  readonly features?: readonly (keyof Features)[] | Partial<Features>;
  /**
   * Also emit today's out-of-line per-variable functions (`percpu_<LEAF>_read_current_raw`, ...)
   * into `percpu.S` and their prototypes into `percpu.h`, for FFI, other languages and
   * firmware checks. Default: false in kernel mode, true in user mode.
   */
  readonly functions?: boolean;
  /**
   * Also emit `percpu.rs`: a `#![no_std]` Rust module with the seed's API
   * (per-variable wrappers with the seed's methods, `init`, `init_percpu_reg`,
   * ...) over `percpu.S` (x86_64, aarch64, riscv64, loongarch64; not riscv32). Default false.
   */
  readonly rust?: boolean;
}

const featureFlags = z.strictObject({
  preempt: z.boolean().optional(),
  irq: z.boolean().optional(),
  naive: z.boolean().optional(),
  el2: z.boolean().optional(),
  lse: z.boolean().optional(),
}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `unknown feature ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}: expected one of ${FEATURE_NAMES.join(", ")}`
      : undefined,
});

/** A zod enum whose error names the bad value and every allowed one: `unknown feature "preemt": expected one of ...`. */
function namedEnum<const T extends readonly [string, ...string[]]>(what: string, values: T) {
  return z.enum(values, { error: (issue) => `unknown ${what} ${JSON.stringify(issue.input)}: expected one of ${values.join(", ")}` });
}

const generateSchema = z.strictObject({
  arch: namedEnum("arch", TARGETS),
  cpus: z.number().int().min(1).max(MAX_CPUS).optional(),
  mode: z.enum(["kernel", "user"]).optional(),
  functions: z.boolean().optional(),
  rust: z.boolean().optional(),
  features: z.union([z.array(namedEnum("feature", FEATURE_NAMES)), featureFlags]).optional(),
});

/**
 * Validates generation options into a {@link GenConfig}; throws
 * `options_invalid` listing every issue.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * resolveConfig({ arch: "riscv64", features: ["preempt"] });
 * // { arch: "riscv64", cpus: 4, mode: "kernel", features: { preempt: true, irq: false, naive: false, el2: false, lse: false }, functions: false, rust: false }
 * ```
 */
export function resolveConfig(options: GenerateOptions): GenConfig {
  const o = parseOptions(generateSchema, options, "generate options");
  const list = Array.isArray(o.features) ? o.features : undefined;
  const flags = Array.isArray(o.features) ? {} : (o.features ?? {});
  const on = (name: keyof Features): boolean => list ? list.includes(name) : flags[name] === true;
  const features: Features = { preempt: on("preempt"), irq: on("irq"), naive: on("naive"), el2: on("el2"), lse: on("lse") };
  const mode = o.mode ?? "kernel";
  if (features.el2 && o.arch !== "aarch64") fail("options_invalid", ["features", "el2"], `Invalid generate options: el2 is an aarch64 feature, not ${o.arch}`);
  if (features.lse && o.arch !== "aarch64") fail("options_invalid", ["features", "lse"], `Invalid generate options: lse is an aarch64 feature, not ${o.arch}`);
  // naive + preempt is accepted (the seed's CI tests `sp-naive,preempt`: the guarded ops keep their guard); irq has no naive meaning.
  if (features.naive && features.irq) {
    fail("options_invalid", ["features", "naive"], "Invalid generate options: naive (one CPU, plain globals) takes no irq guard (preempt is accepted, like the seed's sp-naive,preempt)");
  }
  if (features.naive && o.cpus !== undefined && o.cpus !== 1) {
    fail("options_invalid", ["cpus"], `Invalid generate options: naive mode has exactly 1 CPU, got cpus ${o.cpus}`);
  }
  const cpus = features.naive ? 1 : (o.cpus ?? 4);
  return { arch: o.arch, cpus, mode, features, functions: o.functions ?? mode === "user", rust: o.rust ?? false };
}
