/**
 * Test helpers that run the `percpu` command the way a user does: as a child
 * process through one of its entries (the runtime on `cli/main.ts`, `deno
 * task`, `npm run`, `bun run`), and check its output contract.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { currentRuntime } from "./_harness.ts";
import { run, type RunResult } from "./_toolchain.ts";

/** The repository's kernel example config. */
export const KERNEL = "examples/kernel/percpu.config.ts";

/** One way to start the command: a program and the arguments before the verb. */
export interface Entry {
  readonly name: string;
  readonly cmd: string;
  readonly args: readonly string[];
}

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The current runtime running this checkout's `cli/main.ts` directly (absolute paths: any working directory works). */
export function selfEntry(): Entry {
  const main = join(ROOT, "cli", "main.ts");
  return currentRuntime() === "deno"
    ? { name: "deno run cli/main.ts", cmd: join(ROOT, "node_modules", ".bin", "deno"), args: ["run", "-A", "--config", join(ROOT, "deno.json"), main] }
    : { name: "bun cli/main.ts", cmd: join(ROOT, "node_modules", ".bin", "bun"), args: [main] };
}

/** Runs `percpu <argv>` through `entry` (60 s bound unless `timeoutMs`), in `cwd` (default: the working directory). */
export function percpu(
  entry: Entry,
  argv: readonly string[],
  opts: { env?: Record<string, string | undefined>; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return run(entry.cmd, [...entry.args, ...argv], { ...opts, env: { NO_COLOR: "1", ...opts.env } });
}

/** A stack frame line (`    at f (file.ts:1:2)`) or a runtime's uncaught-error banner. */
const STACK = /^\s+at .*:\d+(:\d+)?\)?$|Uncaught|Stack backtrace|node:internal|^\s*\d+ \| /m;

/** The output carries no stack trace. */
export function assertNoStack(r: RunResult): void {
  assert.doesNotMatch(r.stderr, STACK, r.stderr);
  assert.doesNotMatch(r.stdout, STACK, r.stdout);
}

/** Strips the line `deno task` prints before running its task. */
function ownStderr(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !/^Task percpu /.test(l));
}

/**
 * The command failed with `status` and printed exactly one line
 * `percpu: <code>: ...` on stderr matching `detail`, no stack trace.
 */
export function assertOneError(r: RunResult, status: number, code: string, detail?: RegExp): void {
  const lines = ownStderr(r.stderr);
  assert.equal(r.code, status, `exit status: ${r.stderr}${r.stdout}`);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^percpu: ${code}: `), r.stderr);
  if (detail) assert.match(lines[0]!, detail);
  assertNoStack(r);
}

/**
 * What every entry must do: `--version`, `--help` and each verb's `--help`,
 * `check`/`layout`/`gen` (into `outDir`) on `config`, and one failing input of
 * each kind (usage: exit 2; a bad config: exit 1), never a stack trace.
 */
export async function assertEntryContract(entry: Entry, config: string, outDir: string): Promise<void> {
  const version = await percpu(entry, ["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^percpu \d+\.\d+\.\d+\n$/);
  const help = await percpu(entry, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Verbs:\n {2}gen/);
  for (const verb of ["gen", "layout", "boot", "check"]) {
    const r = await percpu(entry, [verb, "--help"]);
    assert.equal(r.code, 0, `${verb} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: percpu ${verb} `), verb);
  }
  const checked = await percpu(entry, ["check", config]);
  assert.equal(checked.code, 0, checked.stderr);
  assert.match(checked.stdout, /^ok: \d+ variables/);
  const laid = await percpu(entry, ["layout", config, "--arch", "riscv64"]);
  assert.equal(laid.code, 0, laid.stderr);
  assert.match(laid.stdout, /^riscv64: area \d+ bytes/);
  const generated = await percpu(entry, ["gen", config, "--arch", "aarch64", "--out", outDir, "--json"]);
  assert.equal(generated.code, 0, generated.stderr);
  assert.deepEqual(JSON.parse(generated.stdout).files.map((f: { path: string }) => f.path.slice(outDir.length + 1)), ["percpu.S", "percpu.h", "percpu.ld", "percpu.json"]);
  assertOneError(await percpu(entry, ["layout", config, "--arch", "mips"]), 2, "usage", /unknown arch "mips": expected one of x86_64, aarch64/);
  assertOneError(await percpu(entry, ["boot", config, "--arch", "all", "--cpus", "9"]), 2, "usage", /aarch64 \(at most 8\), loongarch64 \(at most 4\)/);
  assertOneError(await percpu(entry, ["check", `${config}.missing`]), 1, "config_invalid", /no such file/);
}
