/**
 * Code generation: from a layout and a validated configuration to the four
 * files `percpu.S`, `percpu.h`, `percpu.ld` and `percpu.json`.
 *
 * @module
 */
import { z } from "zod";
import type { Features, GenConfig, GenInput, Mode, PlacedVar } from "../arch/backend.ts";
import { cScalarType } from "../arch/c_types.ts";
import { configSummary } from "../arch/_asm.ts";
import { emitHeader } from "../emit/percpu_h.ts";
import { backendFor } from "../arch/index.ts";
import { generateLinkerScript } from "../linker/script.ts";
import { fail } from "./errors.ts";
import { writeGeneratedFiles } from "./fs.ts";
import type { Layout } from "./layout.ts";
import { buildManifest, type Manifest, manifestJson } from "./manifest.ts";
import { parseOptions } from "./options.ts";
import { accessorLeaves } from "./symbols.ts";
import { type Target, TARGETS } from "./targets.ts";

/** Names of the optional features. */
export const FEATURE_NAMES = ["preempt", "irq", "naive", "el2"] as const;

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
}

const featureFlags = z.strictObject({
  preempt: z.boolean().optional(),
  irq: z.boolean().optional(),
  naive: z.boolean().optional(),
  el2: z.boolean().optional(),
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
  features: z.union([z.array(namedEnum("feature", FEATURE_NAMES)), featureFlags]).optional(),
});

/** Validates generation options into a {@link GenConfig}. */
export function resolveConfig(options: GenerateOptions): GenConfig {
  const o = parseOptions(generateSchema, options, "generate options");
  const list = Array.isArray(o.features) ? o.features : undefined;
  const flags = Array.isArray(o.features) ? {} : (o.features ?? {});
  const on = (name: keyof Features): boolean => list ? list.includes(name) : flags[name] === true;
  const features: Features = { preempt: on("preempt"), irq: on("irq"), naive: on("naive"), el2: on("el2") };
  const mode = o.mode ?? "kernel";
  if (features.el2 && o.arch !== "aarch64") fail("options_invalid", ["features", "el2"], `Invalid generate options: el2 is an aarch64 feature, not ${o.arch}`);
  if (features.naive && (features.preempt || features.irq)) {
    fail("options_invalid", ["features", "naive"], "Invalid generate options: naive (one CPU, plain globals) needs no preempt or irq guard");
  }
  if (features.naive && o.cpus !== undefined && o.cpus !== 1) {
    fail("options_invalid", ["cpus"], `Invalid generate options: naive mode has exactly 1 CPU, got cpus ${o.cpus}`);
  }
  const cpus = features.naive ? 1 : (o.cpus ?? 4);
  return { arch: o.arch, cpus, mode, features, functions: o.functions ?? mode === "user" };
}

/** The normalised generator input for a layout and configuration. */
export function generatorInput(layout: Layout, config: GenConfig): GenInput {
  const vars: PlacedVar[] = layout.vars.map((v) => ({
    layout: v,
    leaves: accessorLeaves(v.name, v.type, layout.target).map((leaf) => ({
      ...leaf,
      varName: v.name,
      areaOffset: v.offset + leaf.offset,
      cType: cScalarType(leaf.scalar),
    })),
  }));
  return { layout, config, vars };
}

/** The four generated files. */
export type GeneratedFiles = {
  readonly "percpu.S": string;
  readonly "percpu.h": string;
  readonly "percpu.ld": string;
  readonly "percpu.json": string;
};

/** The result of `sdk.generate()`. */
export interface Generated {
  readonly config: GenConfig;
  readonly layout: Layout;
  readonly manifest: Manifest;
  readonly files: GeneratedFiles;
  /**
   * Writes the four files into `dir` (created if missing), replacing only
   * them: each is written into a hidden temp dir inside `dir`, then renamed
   * over its target; every other file in `dir` is left untouched. See
   * {@link writeGeneratedFiles} for the errors.
   */
  write(dir: string): Promise<void>;
}

/** Generates every file for a layout (pure; writing happens in `write`). */
export function generateFiles(layout: Layout, options: GenerateOptions): Generated {
  const config = resolveConfig(options);
  if (config.arch !== layout.target) fail("options_invalid", ["arch"], `Invalid generate options: arch ${config.arch} does not match the layout's target ${layout.target}`);
  const backend = backendFor(config.arch);
  if (config.mode === "user" && !backend.supportsUserMode) {
    fail("options_invalid", ["mode"], `Invalid generate options: user mode (hosted Linux) is supported on x86_64 only, not ${config.arch}`);
  }
  const input = generatorInput(layout, config);
  backend.check(input);
  const manifest = buildManifest(layout);
  const files: GeneratedFiles = {
    "percpu.S": backend.assembly(config.functions ? input : { ...input, vars: [] }),
    "percpu.h": emitHeader(backend, input, { functions: config.functions }),
    "percpu.ld": generateLinkerScript(layout, { cpus: config.cpus, summary: configSummary(input) }),
    "percpu.json": manifestJson(manifest),
  };
  return { config, layout, manifest, files, write: (dir) => writeGeneratedFiles(dir, files) };
}
