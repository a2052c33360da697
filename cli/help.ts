/**
 * The `percpu` command's verbs, help texts and version. A module of its own
 * so that every verb can show its help without importing the entry point.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FEATURE_NAMES, MAX_CPUS } from "../sdk/config.ts";
import { TARGETS } from "../sdk/targets.ts";
import { platformFor } from "../firmware/platforms.ts";

/** The verbs of the command line. */
export const VERBS = ["gen", "layout", "boot", "check"] as const;

/** One verb. */
export type Verb = typeof VERBS[number];

const limits = TARGETS.map((t) => `${t} ${platformFor(t).maxCpus}`).join(", ");

/**
 * Help text of the command (`main`) and of every verb.
 *
 * @example
 * ```ts
 * import { HELP } from "./help.ts";
 * console.log(HELP.boot.split("\n")[0]); // "Usage: percpu boot <config> --arch <arch|all> ..."
 * ```
 */
export const HELP: Readonly<Record<Verb | "main", string>> = {
  main: `percpu: per-CPU variables for kernels, hypervisors and firmware

Usage: percpu <verb> <config> [options]    (a config default-exports an SDK instance)
       percpu --help | --version

Verbs:
  gen      write percpu.S, percpu.h, percpu.ld and percpu.json for one arch or all
  layout   show the per-CPU area as a table, JSON manifest or SVG picture
  boot     build the firmware and boot it under QEMU on every CPU
  check    validate the config and report every error at once

Run "percpu <verb> --help" for a verb's options. Errors print one line
"percpu: <code>: <message>"; exit status 1 for a failure, 2 for bad usage.`,
  gen: `Usage: percpu gen <config> --arch <arch|all> --out <dir> [--cpus N] [--mode kernel|user]
                   [--preempt] [--irq] [--naive] [--el2] [--functions] [--rust] [--dynamic BYTES] [--json]

Writes the generated files into <dir> (each file replaced atomically) and prints
what it wrote; with --arch all, one subdirectory per arch (<dir>/<arch>).
percpu.h has the generic accessors (percpu_read_current(CPU_ID), ...); --functions
also writes the out-of-line per-variable functions into percpu.S (percpu_CPU_ID_read_current, ...;
always on in --mode user). --rust also writes percpu.rs, the seed's Rust API over
percpu.S (x86_64, aarch64, riscv64, loongarch64; not riscv32). --dynamic BYTES
reserves a dynamic region in every area for percpu_alloc/percpu_free
(percpu_runtime.c is written when there is one or a counter).
Arches: ${TARGETS.join(", ")}. Features: ${FEATURE_NAMES.join(", ")}.
--cpus 1..${MAX_CPUS} (default 4; --naive means 1), --mode defaults to kernel.
--json prints the files written and their sizes as JSON.`,
  layout: `Usage: percpu layout <config> [--arch <arch>] [--cpus N] [--json] [--svg <file>]

Prints a table of variables (offset, size, align, padding) for --arch (default x86_64),
or the manifest as JSON (--json), and writes an SVG picture of N areas side by side
(--svg; many CPUs are drawn as the first two, the last and a note for the rest).`,
  boot: `Usage: percpu boot <config> --arch <arch|all> [--cpus N] [--preempt] [--irq] [--el2]
                    [--timeout-ms N] [--out <dir>] [--json]

Builds bare-metal firmware running the generated accessors on every CPU, boots it
under qemu-system-<arch>, prints a line per arch as it starts and ends and a per-CPU
table. Most CPUs per machine: ${limits}.
--timeout-ms defaults to 10000 + 1500*CPUs + 100*CPUs^2 ms. --out keeps the images (<dir>/<arch>);
otherwise they are built in a temporary directory that is removed afterwards.
--json prints the per-arch results as JSON (progress goes to stderr).`,
  check: `Usage: percpu check <config> [--json]

Loads the config, collecting every define() error, then lays out and generates for
every arch; reports all problems at once (exit 1) or "ok". --json prints
{ ok, variables, problems: [{ code, arch, path, message }] }.`,
};

/** Reads `version` from the package.json of this package, the nearest one above this module. */
function readVersion(): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 6; i++) {
      const file = join(dir, "package.json");
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
        if (pkg.name === "percpu-sdk" && typeof pkg.version === "string") return pkg.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // not a file: URL (a remote import) or an unreadable package.json
  }
  return "unknown";
}

/**
 * `percpu <version>`, the version from the package's package.json (found next
 * to the sources in the repository and next to `dist/` in an installed package).
 *
 * @example
 * ```ts
 * import { versionLine } from "./help.ts";
 * console.log(versionLine()); // "percpu 0.1.0"
 * ```
 */
export function versionLine(): string {
  return `percpu ${readVersion()}`;
}
