#!/usr/bin/env node
/**
 * The `percpu` command (`gen`, `layout`, `boot` and `check` over a config
 * module): the process entry point and nothing else. The command line itself
 * is {@link runCli} in `dispatch.ts`; no module imports this one.
 *
 * @example
 * ```ts
 * // deno run -A cli/main.ts layout examples/kernel/percpu.config.ts --arch riscv64
 * import { runCli } from "./dispatch.ts";
 * await runCli(["--help"], { out: console.log, err: console.error });
 * ```
 *
 * @module
 */
import { existsSync, realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runCli } from "./dispatch.ts";

/** Deno and Bun say whether this is the entry module; Node is asked through the real path (the npm bin is a symlink). */
function isEntry(): boolean {
  const main = (import.meta as { main?: boolean }).main;
  if (main !== undefined) return main;
  const argv1 = process.argv[1];
  return argv1 !== undefined && existsSync(argv1) && realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
}

if (isEntry()) {
  process.exitCode = await runCli(process.argv.slice(2), { out: (s) => console.log(s), err: (s) => console.error(s) });
}
