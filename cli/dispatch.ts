/**
 * The `percpu` command line without its process glue: picks the verb, runs
 * it and turns every error into one line `percpu: <code>: <message>` on
 * stderr, with exit status 2 for bad usage and 1 for a failure.
 *
 * @module
 */
import { PercpuError } from "../sdk/errors.ts";
import { boot } from "./boot.ts";
import { check } from "./check.ts";
import { gen } from "./gen.ts";
import { HELP, type Verb, VERBS, versionLine } from "./help.ts";
import { layout } from "./layout.ts";
import { type Io, UsageError } from "./usage.ts";

const RUN = { gen, layout, boot, check } satisfies Record<Verb, (argv: string[], io: Io) => Promise<number>>;

function isVerb(s: string | undefined): s is Verb {
  return (VERBS as readonly (string | undefined)[]).includes(s);
}

/** The error's message on one line (internal errors only; SDK messages are already written for users). */
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
}

/**
 * Runs the command line with `argv` (without the program name) and returns
 * the exit status: 0 success, 1 failure, 2 bad usage. Never throws.
 *
 * @example
 * ```ts
 * import { runCli } from "./dispatch.ts";
 * const lines: string[] = [];
 * const status = await runCli(["--version"], { out: (s) => lines.push(s), err: (s) => lines.push(s) });
 * console.log(status, lines); // 0 ["percpu 0.1.0"]
 * ```
 */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === "--version" || verb === "-V" || verb === "version") return (io.out(versionLine()), 0);
    if (verb === "--help" || verb === "-h" || verb === "help") return (io.out(HELP.main), 0);
    if (!isVerb(verb)) throw new UsageError(verb === undefined ? "missing verb" : `unknown verb "${verb}": expected one of ${VERBS.join(", ")}`);
    return await RUN[verb](rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`percpu: usage: ${e.message} (see percpu ${isVerb(verb) ? `${verb} ` : ""}--help)`);
      return 2;
    }
    if (e instanceof PercpuError) {
      io.err(`percpu: ${e.code}: ${e.message}`);
      return 1;
    }
    io.err(`percpu: internal_error: ${oneLine(e)}`);
    const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
    if (env?.PERCPU_DEBUG && e instanceof Error && e.stack) io.err(e.stack);
    return 1;
  }
}
