/**
 * Command-line parsing helpers shared by the verbs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { checkTarget, type Target, TARGETS } from "../sdk/targets.ts";

/** Thrown for bad command-line usage (exit status 2). */
export class UsageError extends Error {}

/** Parsed options of a verb. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: string[];
}

/** Parses a verb's options (adds --help); unknown options are usage errors. */
export function parse(argv: string[], options: Record<string, { type: "string" | "boolean" }>): ParsedArgs {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: r.values as ParsedArgs["values"], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The single config positional. */
export function needConfig(positionals: string[], verb: string): string {
  if (positionals.length !== 1) throw new UsageError(`percpu ${verb} takes exactly one config file, got ${positionals.length}`);
  return positionals[0]!;
}

/** A validated --arch value. */
export function arch(value: unknown, verb: string): Target {
  if (typeof value !== "string") throw new UsageError(`percpu ${verb} needs --arch (one of ${TARGETS.join(", ")})`);
  try {
    return checkTarget(value);
  } catch {
    throw new UsageError(`unknown arch "${value}": expected one of ${TARGETS.join(", ")}`);
  }
}

/** A validated --cpus value (default 4). */
export function cpus(value: unknown): number {
  if (value === undefined) return 4;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--cpus must be a positive integer, got "${String(value)}"`);
  return n;
}

