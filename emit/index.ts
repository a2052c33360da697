/**
 * The output registry and the generation pipeline: from a layout and the
 * generation options to every generated file. Each output is one pure
 * emitter `(input, backend) => text` registered under its file name in
 * {@link OUTPUTS}; a new output format is one emitter file plus its name in
 * {@link OutputName} and its line in {@link OUTPUTS} (the compiler asks for the
 * line); an optional one returns `null` unless its option is on (`percpu.rs`).
 * Large texts are chunked: produced while `write()` writes them, and made
 * whole only when `files` is read.
 *
 * @module
 */
import type { ArchBackend } from "../arch/backend.ts";
import { configSummary, percpuAssembly } from "../arch/_asm.ts";
import { backendFor } from "../arch/index.ts";
import { linkerScriptChunks } from "../linker/script.ts";
import { type GenConfig, type GenerateOptions, resolveConfig } from "../sdk/config.ts";
import { fail } from "../sdk/errors.ts";
import { writeGeneratedFiles } from "../sdk/fs.ts";
import type { Layout } from "../sdk/layout.ts";
import { buildManifest, layoutManifestJson, type Manifest } from "../sdk/manifest.ts";
import { type GenInput, generatorInput } from "../sdk/plan.ts";
import type { ChunkedText } from "../sdk/text.ts";
import { emitHeaderChunks } from "./percpu_h.ts";
import { emitRust } from "./percpu_rs.ts";
import { emitRuntimeC } from "./percpu_runtime_c.ts";
import { withDynamicRegion } from "../sdk/dynamic.ts";

/** Manifests by generation input: `Generated.manifest` is built on first use, once (`percpu.json` is made from the layout directly). */
const manifests = new WeakMap<GenInput, Manifest>();

function manifestOf(input: GenInput): Manifest {
  let manifest = manifests.get(input);
  if (!manifest) manifests.set(input, manifest = buildManifest(input.layout));
  return manifest;
}

/**
 * One output file's emitter: pure, from the plan and the arch backend to the
 * file's text, whole or as chunks (large files: written chunk by chunk), or
 * `null` for an optional output the configuration does not ask for.
 */
export type Emitter = (input: GenInput, backend: ArchBackend) => string | ChunkedText | null;

/** Name of a generated file: a key of {@link OUTPUTS}. */
export type OutputName = "percpu.S" | "percpu.h" | "percpu.ld" | "percpu.json" | "percpu.rs" | "percpu_runtime.c";

/** The outputs made only when their option asks for them (`rust: true`; counters or `dynamic` for `percpu_runtime.c`). */
export type OptionalOutputName = "percpu.rs" | "percpu_runtime.c";

/**
 * Every generated file by name, in output order. `percpu.S` carries the
 * per-variable functions only with `functions`; `percpu.h` declares their
 * prototypes then too.
 */
export const OUTPUTS: { readonly [N in OutputName]: Emitter } = {
  "percpu.S": (input, backend) => percpuAssembly(backend, input.config.functions ? input : { ...input, vars: [] }),
  "percpu.h": (input, backend) => emitHeaderChunks(backend, input, { functions: input.config.functions }),
  "percpu.ld": (input) => linkerScriptChunks(input.layout, { cpus: input.config.cpus, summary: configSummary(input) }),
  "percpu.json": (input) => layoutManifestJson(input.layout),
  "percpu.rs": (input) => (input.config.rust ? emitRust(input) : null),
  "percpu_runtime.c": (input) => emitRuntimeC(input),
};

/** The generated files, by name (the optional ones only when asked for). */
export type GeneratedFiles =
  & { readonly [N in Exclude<OutputName, OptionalOutputName>]: string }
  & { readonly [N in OptionalOutputName]?: string };

/** The result of `sdk.generate()`. */
export interface Generated {
  readonly config: GenConfig;
  readonly layout: Layout;
  readonly manifest: Manifest;
  readonly files: GeneratedFiles;
  /**
   * Writes the generated files into `dir` (created if missing), replacing
   * only them: each is written into a hidden temp dir inside `dir`, then
   * renamed over its target; every other file in `dir` is left untouched. See
   * {@link writeGeneratedFiles} for the errors.
   */
  write(dir: string): Promise<void>;
}

/**
 * Generates every file of {@link OUTPUTS} for a layout (pure; writing happens
 * in `write`). Throws `options_invalid` for bad options, an arch other than
 * the layout's target, or user mode on an arch without it; the backend
 * rejects what it cannot generate before anything is emitted.
 *
 * @example
 * ```ts
 * import { generateFiles } from "./index.ts";
 * import { computeLayout } from "../sdk/layout.ts";
 * import { u64 } from "../sdk/types.ts";
 * import { encodeValue } from "../sdk/values.ts";
 * const layout = computeLayout([{ name: "CPU_ID", type: u64, init: encodeValue(u64, 0, "riscv64") }], "riscv64");
 * const out = generateFiles(layout, { arch: "riscv64", cpus: 4 });
 * Object.keys(out.files); // ["percpu.S", "percpu.h", "percpu.ld", "percpu.json"]
 * ```
 */
export function generateFiles(staticLayout: Layout, options: GenerateOptions): Generated {
  const config = resolveConfig(options);
  const layout = withDynamicRegion(staticLayout, config.dynamic ?? 0);
  if (config.arch !== layout.target) fail("options_invalid", ["arch"], `Invalid generate options: arch ${config.arch} does not match the layout's target ${layout.target}`);
  const backend = backendFor(config.arch);
  if (config.mode === "user" && !backend.supportsUserMode) {
    fail("options_invalid", ["mode"], `Invalid generate options: user mode (hosted Linux) is supported on x86_64 only, not ${config.arch}`);
  }
  const input = generatorInput(layout, config);
  backend.check(input);
  const texts: Partial<Record<OutputName, string | ChunkedText>> = {};
  for (const [name, emit] of Object.entries(OUTPUTS) as [OutputName, Emitter][]) {
    const text = emit(input, backend);
    if (text !== null) texts[name] = text;
  }
  // Every emitter ran above (its errors are generate()'s); a chunked text becomes one string only when read.
  const files = {} as Record<OutputName, string>;
  for (const [name, text] of Object.entries(texts)) {
    Object.defineProperty(files, name, { enumerable: true, get: () => (typeof text === "string" ? text : text.text()) });
  }
  return {
    config,
    layout,
    get manifest() {
      return manifestOf(input);
    },
    files: Object.freeze(files),
    write: (dir) => writeGeneratedFiles(dir, texts),
  };
}
