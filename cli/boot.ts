/**
 * `percpu boot`: build the firmware for one or every arch, boot it under
 * QEMU, print a progress line per arch and a per-CPU table at the end.
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import process from "node:process";
import type { BootResult } from "../firmware/build.ts";
import { TARGETS, type Target } from "../sdk/targets.ts";
import { loadConfig } from "./config.ts";
import { HELP } from "./main.ts";
import { arch, cpus, needConfig, parse, UsageError } from "./usage.ts";

/** A per-CPU pass/fail table of boot results: one row per arch, one column per CPU. */
export function bootTable(results: readonly BootResult[]): string {
  const maxCpus = Math.max(...results.map((r) => r.cpus));
  const head = ["arch", ...Array.from({ length: maxCpus }, (_, i) => `cpu${i}`), "result"];
  const rows = results.map((r) => [
    r.arch,
    ...Array.from({ length: maxCpus }, (_, i) => {
      if (i >= r.cpus) return "";
      const c = r.perCpu.get(i);
      if (!c) return "missing";
      return c.fail > 0 ? `FAIL ${c.fail}` : `ok ${c.ok}`;
    }),
    r.passed ? `pass ${Math.round(r.durationMs)} ms` : r.timedOut ? "timeout" : `FAIL (exit ${r.exitCode ?? r.status})`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** Runs the boot verb; returns 0 when every arch passed. */
export async function boot(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    arch: { type: "string" },
    cpus: { type: "string" },
    preempt: { type: "boolean" },
    irq: { type: "boolean" },
    el2: { type: "boolean" },
    out: { type: "string" },
    "timeout-ms": { type: "string" },
  });
  if (values.help) return (out(HELP.boot!), 0);
  const config = needConfig(positionals, "boot");
  const arches: readonly Target[] = values.arch === "all" ? TARGETS : [arch(values.arch, "boot")];
  const timeoutMs = values["timeout-ms"] === undefined ? 20_000 : Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout-ms must be a positive integer, got "${String(values["timeout-ms"])}"`);
  if (values.el2 && !arches.includes("aarch64")) throw new UsageError("--el2 applies to aarch64 only");
  const n = cpus(values.cpus);
  const { sdk } = await loadConfig(config);
  const outDir = typeof values.out === "string" ? values.out : join(tmpdir(), `percpu-boot-${process.pid}`);
  const results: BootResult[] = [];
  for (const a of arches) {
    const features = [
      ...(values.preempt ? ["preempt" as const] : []),
      ...(values.irq ? ["irq" as const] : []),
      ...(values.el2 && a === "aarch64" ? ["el2" as const] : []),
    ];
    out(`${a}: building firmware for ${n} CPUs${features.length ? ` (${features.join(" ")})` : ""} ...`);
    const image = await sdk.buildFirmware({ arch: a, cpus: n, features, out: join(outDir, a) });
    const result = await sdk.bootFirmware(image, { timeoutMs });
    results.push(result);
    const checks = result.result?.checks ?? 0;
    out(`${a}: ${result.passed ? "pass" : "FAIL"}: ${checks} checks on ${result.perCpu.size}/${n} CPUs in ${Math.round(result.durationMs)} ms`);
    for (const f of result.failures.slice(0, 10)) out(`  cpu=${f.cpu} var=${f.var} check=${f.check}: ${f.detail}`);
  }
  out("");
  out(bootTable(results));
  return results.every((r) => r.passed) ? 0 : 1;
}
