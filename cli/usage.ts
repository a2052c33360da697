/**
 * Command-line parsing helpers shared by the verbs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FEATURE_NAMES, type Features, MAX_CPUS } from "../sdk/config.ts";
import { checkTarget, type Target, TARGETS } from "../sdk/targets.ts";

/**
 * Thrown for bad command-line usage (exit status 2).
 *
 * @example
 * ```ts
 * import { UsageError } from "./usage.ts";
 * const e = new UsageError("missing verb");
 * console.log(e.message); // "missing verb"
 * ```
 */
export class UsageError extends Error {}

/**
 * Where a verb prints: `out` is stdout (results), `err` stderr (progress under
 * `--json`, and errors).
 *
 * @example
 * ```ts
 * import type { Io } from "./usage.ts";
 * const lines: string[] = [];
 * const io: Io = { out: (s) => lines.push(s), err: (s) => lines.push(s) };
 * io.out("ok");
 * ```
 */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Parsed options of a verb.
 *
 * @example
 * ```ts
 * import type { ParsedArgs } from "./usage.ts";
 * const args: ParsedArgs = { values: { arch: "riscv64" }, positionals: ["percpu.config.ts"] };
 * ```
 */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: string[];
}

/**
 * Parses a verb's options (adds --help); unknown options are usage errors.
 *
 * @example
 * ```ts
 * import { parse } from "./usage.ts";
 * const { values } = parse(["--arch", "x86_64"], { arch: { type: "string" } });
 * console.log(values.arch); // "x86_64"
 * ```
 */
export function parse(argv: string[], options: Record<string, { type: "string" | "boolean" }>): ParsedArgs {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: r.values as ParsedArgs["values"], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * The single config positional.
 *
 * @example
 * ```ts
 * import { needConfig } from "./usage.ts";
 * needConfig(["percpu.config.ts"], "check"); // "percpu.config.ts"
 * ```
 */
export function needConfig(positionals: string[], verb: string): string {
  if (positionals.length !== 1) throw new UsageError(`percpu ${verb} takes exactly one config file, got ${positionals.length}`);
  return positionals[0]!;
}

/**
 * A validated --arch value.
 *
 * @example
 * ```ts
 * import { arch } from "./usage.ts";
 * arch("riscv64", "gen"); // "riscv64"
 * ```
 */
export function arch(value: unknown, verb: string): Target {
  if (typeof value !== "string") throw new UsageError(`percpu ${verb} needs --arch (one of ${TARGETS.join(", ")})`);
  try {
    return checkTarget(value);
  } catch {
    throw new UsageError(`unknown arch "${value}": expected one of ${TARGETS.join(", ")}`);
  }
}

/**
 * A validated --arch value that may also be `all` (every arch).
 *
 * @example
 * ```ts
 * import { arches } from "./usage.ts";
 * arches("all", "boot").length; // 5
 * ```
 */
export function arches(value: unknown, verb: string): readonly Target[] {
  if (value === "all") return TARGETS;
  if (typeof value !== "string") throw new UsageError(`percpu ${verb} needs --arch (all, or one of ${TARGETS.join(", ")})`);
  return [arch(value, verb)];
}

/**
 * A validated --cpus value, 1 to MAX_CPUS (default 4).
 *
 * @example
 * ```ts
 * import { cpus } from "./usage.ts";
 * cpus("8"); // 8
 * cpus(undefined); // 4
 * ```
 */
export function cpus(value: unknown, fallback = 4): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CPUS) throw new UsageError(`--cpus must be an integer from 1 to ${MAX_CPUS}, got "${String(value)}"`);
  return n;
}

/**
 * The feature flags of a verb's parsed options (`--preempt`, `--irq`, ...), as
 * a list for `generate()`.
 *
 * @example
 * ```ts
 * import { features } from "./usage.ts";
 * features({ preempt: true, irq: false }); // ["preempt"]
 * ```
 */
export function features(values: ParsedArgs["values"]): (keyof Features)[] {
  return FEATURE_NAMES.filter((f) => values[f] === true);
}

/**
 * The option table of every feature flag, for {@link parse}.
 *
 * @example
 * ```ts
 * import { FEATURE_OPTIONS, parse } from "./usage.ts";
 * parse(["--irq"], FEATURE_OPTIONS).values.irq; // true
 * ```
 */
export const FEATURE_OPTIONS: Record<string, { type: "boolean" }> = Object.fromEntries(FEATURE_NAMES.map((f) => [f, { type: "boolean" as const }]));
