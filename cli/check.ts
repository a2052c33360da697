/**
 * `percpu check`: load a config collecting every `define()` error, then lay
 * out and generate for every arch, and report all problems at once.
 *
 * @module
 */
import { formatPath, PercpuError } from "../sdk/errors.ts";
import { TARGETS } from "../sdk/targets.ts";
import { loadConfig } from "./config.ts";
import { HELP } from "./help.ts";
import { type Io, needConfig, parse } from "./usage.ts";

/**
 * One problem `percpu check` found; `arch` is null for a definition error.
 *
 * @example
 * ```ts
 * import type { Problem } from "./check.ts";
 * const p: Problem = { code: "init_out_of_range", arch: null, path: "COUNT", message: "..." };
 * ```
 */
export interface Problem {
  readonly code: string;
  readonly arch: string | null;
  readonly path: string;
  readonly message: string;
}

/**
 * Runs `percpu check` with the verb's arguments; returns 0 when the config is
 * fine, 1 when it has problems.
 *
 * @example
 * ```ts
 * import { check } from "./check.ts";
 * const status = await check(["examples/kernel/percpu.config.ts"], { out: console.log, err: console.error }); // 0
 * ```
 */
export async function check(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: "boolean" } });
  if (values.help) return (io.out(HELP.check), 0);
  const { sdk, errors } = await loadConfig(needConfig(positionals, "check"), true);
  const problems: Problem[] = errors.map((e) => ({ code: e.code, arch: null, path: formatPath(e.path), message: e.message }));
  for (const t of TARGETS) {
    try {
      sdk.generate({ arch: t });
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      problems.push({ code: e.code, arch: t, path: formatPath(e.path), message: e.message });
    }
  }
  if (values.json) {
    io.out(JSON.stringify({ ok: problems.length === 0, variables: sdk.vars.length, problems }, null, 2));
  } else if (problems.length === 0) {
    io.out(`ok: ${sdk.vars.length} variables, generated for ${TARGETS.join(", ")}`);
  } else {
    for (const p of problems) io.out(`${p.code}${p.arch === null ? "" : ` (${p.arch})`}: ${p.message}`);
    io.out(`${problems.length} problem${problems.length === 1 ? "" : "s"}`);
  }
  return problems.length === 0 ? 0 : 1;
}
