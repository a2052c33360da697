#!/usr/bin/env node
/**
 * The `percpu` command line: `gen`, `layout`, `boot` and `check` verbs over a
 * config module. Usage errors exit 2, failures exit 1, never a stack trace
 * for a user error.
 *
 * @module
 */
import { existsSync, realpathSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { match } from "ts-pattern";
import type { Mode } from "../arch/backend.ts";
import { backendFor } from "../arch/index.ts";
import { PercpuError } from "../sdk/errors.ts";
import { FEATURE_NAMES } from "../sdk/generate.ts";
import { TARGETS } from "../sdk/targets.ts";
import { loadConfig } from "./config.ts";
import { arch, cpus, needConfig, parse, UsageError } from "./usage.ts";
import { layoutSvg, layoutTable } from "./layout_view.ts";

/** Help text of every verb. */
export const HELP: Record<string, string> = {
  main: `percpu: per-CPU variables for kernels, hypervisors and firmware

Usage: percpu <verb> <config> [options]    (a config default-exports an SDK instance)

Verbs:
  gen      write percpu.S, percpu.h, percpu.ld and percpu.json for one arch
  layout   show the per-CPU area as a table, JSON manifest or SVG picture
  boot     build the firmware and boot it under QEMU on every CPU
  check    validate the config and report every error at once

Run "percpu <verb> --help" for a verb's options.`,
  gen: `Usage: percpu gen <config> --arch <arch> --out <dir> [--cpus N] [--mode kernel|user]
                   [--preempt] [--irq] [--naive] [--el2]

Writes the generated files into <dir> (atomically) and prints what it wrote.
Arches: ${TARGETS.join(", ")}. --cpus defaults to 4, --mode to kernel.`,
  layout: `Usage: percpu layout <config> [--arch <arch>] [--cpus N] [--json] [--svg <file>]

Prints a table of variables (offset, size, align, padding) for --arch (default x86_64),
or the manifest as JSON (--json), or writes an SVG picture of N areas side by side (--svg).`,
  boot: `Usage: percpu boot <config> --arch <arch|all> [--cpus N] [--preempt] [--irq] [--el2] [--timeout-ms N]

Builds bare-metal firmware running the generated accessors on every CPU, boots it
under qemu-system-<arch>, prints a progress line per arch and a per-CPU table.`,
  check: `Usage: percpu check <config>

Loads the config, collecting every define() error, then lays out and generates for
every arch; reports all problems at once (exit 1) or "ok".`,
};

async function gen(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    arch: { type: "string" },
    out: { type: "string" },
    cpus: { type: "string" },
    mode: { type: "string" },
    ...Object.fromEntries(FEATURE_NAMES.map((f) => [f, { type: "boolean" as const }])),
  });
  if (values.help) return (out(HELP.gen!), 0);
  const config = needConfig(positionals, "gen");
  const a = arch(values.arch, "gen");
  if (typeof values.out !== "string") throw new UsageError("percpu gen needs --out <dir>");
  const mode = values.mode ?? "kernel";
  if (mode !== "kernel" && mode !== "user") throw new UsageError(`--mode must be kernel or user, got "${String(mode)}"`);
  const { sdk } = await loadConfig(config);
  const features = FEATURE_NAMES.filter((f) => values[f] === true);
  const generated = sdk.generate({ arch: a, cpus: cpus(values.cpus), mode: mode as Mode, features });
  await generated.write(values.out);
  for (const [name, text] of Object.entries(generated.files)) out(`wrote ${values.out}/${name} (${text.length} bytes)`);
  return 0;
}

async function layout(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { arch: { type: "string" }, json: { type: "boolean" }, svg: { type: "string" }, cpus: { type: "string" } });
  if (values.help) return (out(HELP.layout!), 0);
  const config = needConfig(positionals, "layout");
  const a = values.arch === undefined ? "x86_64" : arch(values.arch, "layout");
  const { sdk } = await loadConfig(config);
  const l = sdk.layout(a);
  if (values.json) out(JSON.stringify(sdk.manifest(a), null, 2));
  else out(layoutTable(l, backendFor(a).registerName).trimEnd());
  if (typeof values.svg === "string") {
    await writeFile(values.svg, layoutSvg(l, { cpus: cpus(values.cpus), register: backendFor(a).registerName }));
    if (!values.json) out(`wrote ${values.svg}`);
  }
  return 0;
}

async function check(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(HELP.check!), 0);
  const { sdk, errors } = await loadConfig(needConfig(positionals, "check"), true);
  const problems = errors.map((e) => `${e.code}: ${e.message}`);
  for (const t of TARGETS) {
    try {
      sdk.generate({ arch: t });
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      problems.push(`${e.code} (${t}): ${e.message}`);
    }
  }
  if (problems.length === 0) {
    out(`ok: ${sdk.vars.length} variables, generated for ${TARGETS.join(", ")}`);
    return 0;
  }
  for (const p of problems) out(p);
  out(`${problems.length} problem${problems.length === 1 ? "" : "s"}`);
  return 1;
}

/** Runs the CLI with `argv` (without the program name); returns the exit status. */
export async function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    return await match(verb)
      .with("gen", () => gen(rest, out))
      .with("layout", () => layout(rest, out))
      .with("check", () => check(rest, out))
      .with("boot", async () => (await import("./boot.ts")).boot(rest, out))
      .with("--help", "-h", "help", () => (out(HELP.main!), 0))
      .otherwise(() => {
        throw new UsageError(verb === undefined ? "missing verb" : `unknown verb "${verb}"`);
      });
  } catch (e) {
    if (e instanceof UsageError) {
      err(`percpu: ${e.message} (see percpu --help)`);
      return 2;
    }
    if (e instanceof PercpuError) {
      err(`percpu: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

const proc = (globalThis as unknown as { process: { argv: string[]; exitCode?: number } }).process;
/** Deno and Bun say whether this is the entry module; Node is asked through the real path (the npm bin is a symlink). */
function isEntry(): boolean {
  const main = (import.meta as { main?: boolean }).main;
  if (main !== undefined) return main;
  const argv1 = proc.argv[1];
  return argv1 !== undefined && existsSync(argv1) && realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
}
if (isEntry()) {
  proc.exitCode = await main(proc.argv.slice(2));
}
