/**
 * Loading a config module: a TS/JS module whose default export is an SDK
 * instance (`percpu.config.ts` by convention).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { fail, type PercpuError } from "../sdk/errors.ts";
import { collectDefineErrors, PercpuSdk } from "../sdk/percpu.ts";

/** A loaded config and the `define()` errors collected while loading it. */
export interface LoadedConfig {
  readonly sdk: PercpuSdk;
  readonly path: string;
  /** Errors `define()` raised while the module ran (only collected when `collect` is set). */
  readonly errors: readonly PercpuError[];
}

/** Imports a config module; with `collect`, bad definitions are gathered instead of aborting the import. */
export async function loadConfig(path: string, collect = false): Promise<LoadedConfig> {
  const abs = resolve(path);
  if (!existsSync(abs)) fail("config_invalid", [], `Cannot load config ${JSON.stringify(path)}: no such file`);
  const importIt = async (): Promise<unknown> => (await import(pathToFileURL(abs).href)).default;
  const { result, errors } = collect ? await collectDefineErrors(importIt) : { result: await importIt(), errors: [] };
  if (!(result instanceof PercpuSdk)) {
    fail("config_invalid", [], `Cannot use config ${JSON.stringify(path)}: its default export must be an SDK instance (export default percpu, or createPercpu())`);
  }
  return { sdk: result, path: abs, errors };
}
