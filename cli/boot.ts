/**
 * `percpu boot`: build the firmware for one or every arch, boot it under
 * QEMU, print a line per arch as it starts and as it ends and a per-CPU table
 * at the end (also when an arch fails or throws).
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BootResult, defaultBootTimeoutMs } from "../firmware/build.ts";
import { platformFor } from "../firmware/platforms.ts";
import { PercpuError } from "../sdk/errors.ts";
import type { Target } from "../sdk/targets.ts";
import { loadConfig } from "./config.ts";
import { HELP } from "./help.ts";
import { arches, cpus, type Io, needConfig, parse, UsageError } from "./usage.ts";

/**
 * What happened on one arch: a boot result, or the error that stopped the
 * build or the boot.
 *
 * @example
 * ```ts
 * import type { ArchOutcome } from "./boot.ts";
 * const o: ArchOutcome = { arch: "riscv64", cpus: 2, error: { code: "build_failed", message: "clang-19 failed" } };
 * ```
 */
export type ArchOutcome =
  | { readonly arch: Target; readonly cpus: number; readonly result: BootResult }
  | { readonly arch: Target; readonly cpus: number; readonly error: { readonly code: string; readonly message: string } };

/**
 * A per-CPU pass/fail table of boot outcomes: one row per arch, one column
 * per CPU (at most 8 columns, then a count of the rest). Takes outcomes or
 * plain boot results.
 *
 * @example
 * ```ts
 * import { bootTable } from "./boot.ts";
 * console.log(bootTable([{ arch: "x86_64", cpus: 2, error: { code: "toolchain_missing", message: "no clang-19" } }]));
 * // arch    cpu0  cpu1  result
 * // x86_64              ERROR toolchain_missing
 * ```
 */
export function bootTable(rows_: readonly (ArchOutcome | BootResult)[]): string {
  const outcomes: ArchOutcome[] = rows_.map((o) => ("perCpu" in o ? { arch: o.arch, cpus: o.cpus, result: o } : o));
  const shown = Math.min(8, Math.max(...outcomes.map((o) => o.cpus)));
  const more = Math.max(...outcomes.map((o) => o.cpus)) > shown;
  const head = ["arch", ...Array.from({ length: shown }, (_, i) => `cpu${i}`), ...(more ? ["more"] : []), "result"];
  const rows = outcomes.map((o) => {
    if ("error" in o) return [o.arch, ...Array.from({ length: shown }, () => ""), ...(more ? [""] : []), `ERROR ${o.error.code}`];
    const r = o.result;
    const cell = (i: number): string => {
      const c = r.perCpu.get(i);
      if (!c) return "missing";
      return c.fail > 0 ? `FAIL ${c.fail}` : `ok ${c.ok}`;
    };
    const rest = Array.from({ length: Math.max(0, r.cpus - shown) }, (_, i) => i + shown);
    const restOk = rest.filter((i) => { const c = r.perCpu.get(i); return c !== undefined && c.ok > 0 && c.fail === 0; }).length;
    return [
      r.arch,
      ...Array.from({ length: shown }, (_, i) => (i >= r.cpus ? "" : cell(i))),
      ...(more ? [rest.length === 0 ? "" : `${restOk}/${rest.length} ok`] : []),
      r.passed ? `pass ${Math.round(r.durationMs)} ms` : r.timedOut ? "timeout" : `FAIL (exit ${r.exitCode ?? r.status})`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** An outcome as plain JSON (maps become arrays). */
function outcomeJson(o: ArchOutcome): unknown {
  if ("error" in o) return { arch: o.arch, cpus: o.cpus, passed: false, error: o.error };
  const r = o.result;
  return {
    arch: r.arch,
    cpus: r.cpus,
    passed: r.passed,
    timedOut: r.timedOut,
    exitCode: r.exitCode,
    status: r.status,
    durationMs: Math.round(r.durationMs),
    checks: r.result?.checks ?? 0,
    perCpu: [...r.perCpu].sort(([a], [b]) => a - b).map(([cpu, c]) => ({ cpu, ok: c.ok, fail: c.fail })),
    failures: r.failures,
    stderr: r.stderr,
  };
}

/** The lines printed when an arch ends. */
function endLines(o: ArchOutcome, elapsedMs: number, timeoutMs: number): string[] {
  const took = `${Math.round(elapsedMs)} ms`;
  if ("error" in o) {
    const [first, ...rest] = o.error.message.split("\n");
    return [`${o.arch}: ERROR ${o.error.code}: ${first} (after ${took})`, ...rest.slice(0, 20).map((l) => `  ${l}`)];
  }
  const r = o.result;
  const checks = r.result?.checks ?? 0;
  const lines = [`${r.arch}: ${r.passed ? "pass" : r.timedOut ? "TIMEOUT" : "FAIL"}: ${checks} checks on ${r.perCpu.size}/${r.cpus} CPUs in ${took} (boot ${Math.round(r.durationMs)} ms)`];
  if (r.timedOut) lines.push(`  QEMU was killed after ${timeoutMs} ms: raise --timeout-ms (default ${defaultBootTimeoutMs(r.cpus)} for ${r.cpus} CPU${r.cpus === 1 ? "" : "s"})`);
  if (!r.passed) {
    for (const f of r.failures.filter((f) => !f.detail.startsWith("QEMU was killed")).slice(0, 10)) lines.push(`  cpu=${f.cpu} var=${f.var} check=${f.check}: ${f.detail}`);
    for (const l of r.stderr.trim().split("\n").filter((l) => l.trim()).slice(0, 20)) lines.push(`  qemu: ${l}`);
    if (r.perCpu.size === 0) for (const l of r.lines.slice(-5)) lines.push(`  | ${l}`);
  }
  return lines;
}

/**
 * Runs `percpu boot` with the verb's arguments; returns 0 when every arch
 * passed. Machine limits are checked for every arch before anything is built.
 *
 * @example
 * ```ts
 * import { boot } from "./boot.ts";
 * const status = await boot(["examples/kernel/percpu.config.ts", "--arch", "riscv64", "--cpus", "2"], { out: console.log, err: console.error });
 * ```
 */
export async function boot(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    arch: { type: "string" },
    cpus: { type: "string" },
    preempt: { type: "boolean" },
    irq: { type: "boolean" },
    el2: { type: "boolean" },
    out: { type: "string" },
    json: { type: "boolean" },
    "timeout-ms": { type: "string" },
  });
  if (values.help) return (io.out(HELP.boot), 0);
  const config = needConfig(positionals, "boot");
  const targets = arches(values.arch, "boot");
  const n = cpus(values.cpus);
  const timeoutMs = values["timeout-ms"] === undefined ? defaultBootTimeoutMs(n) : Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout-ms must be a positive integer, got "${String(values["timeout-ms"])}"`);
  if (values.el2 && !targets.includes("aarch64")) throw new UsageError("--el2 applies to aarch64 only");
  const over = targets.filter((a) => n > platformFor(a).maxCpus);
  if (over.length > 0) {
    throw new UsageError(`--cpus ${n} is more than QEMU's machine runs on ${over.map((a) => `${a} (at most ${platformFor(a).maxCpus})`).join(", ")}`);
  }
  const { sdk } = await loadConfig(config);
  const progress = values.json ? io.err : io.out;
  const keep = typeof values.out === "string";
  const outDir = keep ? values.out as string : await mkdtemp(join(tmpdir(), "percpu-boot-"));
  const outcomes: ArchOutcome[] = [];
  try {
    for (const a of targets) {
      const features = [
        ...(values.preempt ? ["preempt" as const] : []),
        ...(values.irq ? ["irq" as const] : []),
        ...(values.el2 && a === "aarch64" ? ["el2" as const] : []),
      ];
      progress(`${a}: building and booting on ${n} CPU${n === 1 ? "" : "s"}${features.length ? ` (${features.join(" ")})` : ""} ...`);
      const started = performance.now();
      let outcome: ArchOutcome;
      try {
        const image = await sdk.buildFirmware({ arch: a, cpus: n, features, out: join(outDir, a) });
        outcome = { arch: a, cpus: n, result: await sdk.bootFirmware(image, { timeoutMs }) };
      } catch (e) {
        const error = e instanceof PercpuError ? { code: e.code, message: e.message } : { code: "internal_error", message: e instanceof Error ? e.message : String(e) };
        outcome = { arch: a, cpus: n, error };
      }
      outcomes.push(outcome);
      for (const l of endLines(outcome, performance.now() - started, timeoutMs)) progress(l);
    }
  } finally {
    if (!keep) await rm(outDir, { recursive: true, force: true });
  }
  const passed = outcomes.every((o) => "result" in o && o.result.passed);
  if (values.json) io.out(JSON.stringify({ passed, results: outcomes.map(outcomeJson) }, null, 2));
  else {
    io.out("");
    io.out(bootTable(outcomes));
  }
  return passed ? 0 : 1;
}
