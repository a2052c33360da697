/**
 * Loading a config module: a TS/JS module whose default export is an SDK
 * instance (`percpu.config.ts` by convention). Every way a config can be
 * wrong (missing, a directory, a syntax error, a throw, a `.ts` file on Node)
 * becomes one `config_invalid` error; a `define()` error keeps its own code.
 *
 * @module
 */
import { statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { fail, PercpuError } from "../sdk/errors.ts";
import { collectDefineErrors, PercpuSdk } from "../percpu.ts";

/**
 * A loaded config and the `define()` errors collected while loading it.
 *
 * @example
 * ```ts
 * import { loadConfig, type LoadedConfig } from "./config.ts";
 * const config: LoadedConfig = await loadConfig("examples/kernel/percpu.config.ts");
 * console.log(config.sdk.vars.length); // 6
 * ```
 */
export interface LoadedConfig {
  readonly sdk: PercpuSdk;
  readonly path: string;
  /** Errors `define()` raised while the module ran (only collected when `collect` is set). */
  readonly errors: readonly PercpuError[];
}

/** True on Node (neither Deno nor Bun), which cannot import `.ts` files. */
function onNode(): boolean {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno === undefined && g.Bun === undefined;
}

/** One line of an error's message, whatever was thrown. */
function oneLine(e: unknown): string {
  const text = e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
  return text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0).join(" ");
}

/**
 * Imports a config module; with `collect`, bad definitions are gathered
 * instead of aborting the import. Throws `config_invalid` for a config that
 * cannot be used.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const { errors } = await loadConfig("tests/fixtures/bad.config.ts", true);
 * console.log(errors.map((e) => e.code)); // ["init_out_of_range", "name_reserved_word", ...]
 * ```
 */
export async function loadConfig(path: string, collect = false): Promise<LoadedConfig> {
  const abs = resolve(path);
  const quoted = JSON.stringify(path);
  let isFile = false;
  try {
    isFile = statSync(abs).isFile();
  } catch {
    fail("config_invalid", [], `Cannot load config ${quoted}: no such file`);
  }
  if (!isFile) fail("config_invalid", [], `Cannot load config ${quoted}: it is a directory, not a module`);
  const importIt = async (): Promise<unknown> => (await import(pathToFileURL(abs).href)).default;
  let loaded: { result: unknown; errors: PercpuError[] };
  try {
    loaded = collect ? await collectDefineErrors(importIt) : { result: await importIt(), errors: [] };
  } catch (e) {
    if (e instanceof PercpuError) throw e;
    const code = (e as { code?: unknown }).code;
    if (onNode() && [".ts", ".mts", ".cts"].includes(extname(abs)) && code === "ERR_UNKNOWN_FILE_EXTENSION") {
      fail("config_invalid", [], `Cannot load config ${quoted}: Node cannot import .ts files; write the config as .js or .mjs, or run percpu with deno or bun`);
    }
    fail("config_invalid", [], `Cannot load config ${quoted}: ${oneLine(e)}`);
  }
  if (!(loaded.result instanceof PercpuSdk)) {
    fail("config_invalid", [], `Cannot use config ${quoted}: its default export must be an SDK instance (export default percpu, or createPercpu())`);
  }
  return { sdk: loaded.result, path: abs, errors: loaded.errors };
}
