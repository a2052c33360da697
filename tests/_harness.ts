/**
 * A tiny runtime-neutral test harness: the same test files run unchanged on
 * Deno, Bun and (through `dist/`) Node. `tests/run.ts` discovers and runs them.
 *
 * @module
 */

/** The JS runtime executing the tests. */
export type Runtime = "deno" | "bun" | "node";

/** Detects the current runtime. */
export function currentRuntime(): Runtime {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  return "node";
}

/** Options of one test. */
export interface TestOptions {
  /** Run only on these runtimes (e.g. a toolchain test whose result cannot differ by runtime). Not counted elsewhere. */
  readonly only?: readonly Runtime[];
  /** Fail the test when it runs longer than this (default 120 s). */
  readonly timeoutMs?: number;
}

/** A registered test. */
export interface TestCase {
  readonly name: string;
  readonly fn: () => void | Promise<void>;
  readonly options: TestOptions;
}

/** Every registered test, in registration order. */
export const registry: TestCase[] = [];

/** Registers a test; its name should read as a sentence: `define() rejects duplicate names`. */
export function test(name: string, fn: () => void | Promise<void>, options: TestOptions = {}): void {
  registry.push({ name, fn, options });
}
