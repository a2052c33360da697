/**
 * Generation scaling benchmark: `define` + `layout` + `generate` + `write` of
 * 1 000, 10 000 and 100 000 mixed variables (scalars, structs with nested
 * arrays, aligned blocks), each size in its own child process so its peak RSS
 * is its own; and what including `percpu.h` costs a C translation unit
 * (clang-19 -O2, 1 000 variables against 10, per arch).
 *
 * Run: `deno run -A bench/generate_bench.ts [--sizes 1000,10000] [--runs 5] [--no-header]`.
 * Each size runs `--runs` times (default 5, each in a fresh process); the
 * table shows the run of median total time, with the fastest and slowest
 * totals beside it. Prints markdown tables; ratios are taken within the same run.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { backendFor } from "../arch/index.ts";
import { aligned, array, createPercpu, i32, type PercpuSdk, struct, u16, u32, u64, u8 } from "../mod.ts";
import type { Target } from "../sdk/targets.ts";

/** What one child process measured for one size. */
export interface ScalingResult {
  readonly vars: number;
  readonly defineMs: number;
  readonly layoutMs: number;
  readonly generateMs: number;
  readonly writeMs: number;
  /** Bytes of each generated file. */
  readonly bytes: Readonly<Record<string, number>>;
  /** Peak resident set of the child process (VmHWM), in MiB. */
  readonly peakRssMiB: number;
}

const INNER = struct({ x: u8, y: i32 });
const STATS = struct({ irqs: u64, hist: array(u16, 4), inner: INNER });
const HOT = aligned(u64, 64);

/**
 * Defines `n` variables cycling through five shapes: u64, u32, a struct with a
 * nested array and struct, an aligned block and a short array.
 */
export function defineMixed(sdk: PercpuSdk, n: number): void {
  for (let i = 0; i < n; i++) {
    const name = `V${i}`;
    switch (i % 5) {
      case 0: sdk.define(name, u64, i); break;
      case 1: sdk.define(name, u32, i & 0xffff); break;
      case 2: sdk.define(name, STATS, { irqs: 0, hist: [0, 1, 2, 3], inner: { x: 1, y: -1 } }); break;
      case 3: sdk.define(name, HOT, 0); break;
      default: sdk.define(name, array(u32, 3), [0, 0, 0]);
    }
  }
}

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Measures one size in this process. */
export async function measure(n: number, target: Target = "x86_64"): Promise<ScalingResult> {
  const sdk = createPercpu();
  const t0 = performance.now();
  defineMixed(sdk, n);
  const t1 = performance.now();
  sdk.layout(target);
  const t2 = performance.now();
  const out = sdk.generate({ arch: target, cpus: 4 });
  const t3 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "percpu-bench-gen-"));
  let t4: number;
  let bytes: Record<string, number>;
  try {
    await out.write(dir);
    t4 = performance.now();
    // Sizes from the files written: reading `out.files` would make every text whole in this process.
    bytes = Object.fromEntries(Object.keys(out.files).map((name) => [name, statSync(join(dir, name)).size]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { vars: n, defineMs: t1 - t0, layoutMs: t2 - t1, generateMs: t3 - t2, writeMs: t4 - t3, bytes, peakRssMiB: peakRssMiB() };
}

const MB = (b: number): string => (b / 1e6).toFixed(1);

/** Total milliseconds of a result: define + layout + generate + write. */
function totalMs(r: ScalingResult): number {
  return r.defineMs + r.layoutMs + r.generateMs + r.writeMs;
}

/** The runs of one size, in the order they ran. */
export interface SizeRuns {
  readonly vars: number;
  readonly runs: readonly ScalingResult[];
}

/** The run of median total time (the lower middle one for an even count). */
export function medianRun(runs: readonly ScalingResult[]): ScalingResult {
  const sorted = [...runs].sort((a, b) => totalMs(a) - totalMs(b));
  return sorted[(sorted.length - 1) >> 1]!;
}

/** A markdown table of scaling results (the median run of each size) with µs per variable and the spread of totals. */
export function scalingTable(sizes: readonly SizeRuns[]): string {
  const rows = sizes.map(({ runs }) => {
    const r = medianRun(runs);
    const total = totalMs(r);
    const totals = runs.map(totalMs);
    const all = Object.values(r.bytes).reduce((a, b) => a + b, 0);
    return `| ${r.vars.toLocaleString("en")} | ${r.defineMs.toFixed(0)} | ${r.layoutMs.toFixed(0)} | ${r.generateMs.toFixed(0)} | ${
      r.writeMs.toFixed(0)
    } | ${total.toFixed(0)} (${Math.min(...totals).toFixed(0)}–${Math.max(...totals).toFixed(0)}) | ${(total * 1000 / r.vars).toFixed(1)} | ${MB(all)} (${
      MB(r.bytes["percpu.S"] ?? 0)
    } .S, ${MB(r.bytes["percpu.h"] ?? 0)} .h) | ${r.peakRssMiB.toFixed(0)} |`;
  });
  return [
    "| variables | define ms | layout ms | generate ms | write ms | total ms (min–max) | µs / variable | output MB | peak RSS MiB |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

/** What a translation unit includes: the default generic header, or the 0.1-style one with `functions` (prototypes / PERCPU_INLINE). */
type HeaderKind = "generic" | "functions" | "functions+inline";

/** Compile time (best of `rounds`, ms) of a C file that only includes the header, for `vars` variables. */
function headerCompileMs(arch: Target, vars: number, kind: HeaderKind, rounds = 5): number {
  const dir = mkdtempSync(join(tmpdir(), "percpu-bench-h-"));
  try {
    const sdk = createPercpu();
    defineMixed(sdk, vars);
    writeFileSync(join(dir, "percpu.h"), sdk.generate({ arch, cpus: 4, functions: kind !== "generic" }).files["percpu.h"]);
    const inline = kind === "functions+inline" ? "#define PERCPU_INLINE\n" : "";
    writeFileSync(join(dir, "tu.c"), `${inline}#include "percpu.h"\nint tu_marker(void) { return 1; }\n`);
    const args = [...backendFor(arch).clangFlags, "-ffreestanding", "-O2", "-c", join(dir, "tu.c"), "-o", join(dir, "tu.o")];
    let best = Infinity;
    for (let i = 0; i < rounds; i++) {
      const t = performance.now();
      execFileSync("clang-19", args, { stdio: "pipe" });
      best = Math.min(best, performance.now() - t);
    }
    return best;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A markdown table: compile time of a TU including the 1 000-variable header against the 10-variable one. */
export function headerTable(): string {
  const rows: string[] = [];
  for (const arch of ["x86_64", "aarch64", "riscv64", "loongarch64"] as const) {
    for (const kind of ["generic", "functions", "functions+inline"] as const) {
      const small = headerCompileMs(arch, 10, kind);
      const big = headerCompileMs(arch, 1000, kind);
      rows.push(`| ${arch} | ${kind} | ${small.toFixed(0)} | ${big.toFixed(0)} | ${(big / small).toFixed(2)}× |`);
    }
  }
  return ["| arch | header | 10 vars ms | 1 000 vars ms | ratio |", "|---|---|---:|---:|---:|", ...rows].join("\n");
}

const argv = process.argv.slice(2);
const isMain = (import.meta as { main?: boolean }).main ?? process.argv[1] === fileURLToPath(import.meta.url);
if (isMain && argv[0] === "--child") {
  console.log(JSON.stringify(await measure(Number(argv[1]))));
} else if (isMain) {
  const sizesArg = argv.indexOf("--sizes");
  const sizes = sizesArg >= 0 ? argv[sizesArg + 1]!.split(",").map(Number) : [1_000, 10_000, 100_000];
  const runsArg = argv.indexOf("--runs");
  const runs = runsArg >= 0 ? Number(argv[runsArg + 1]) : 5;
  const self = fileURLToPath(import.meta.url);
  const child = (n: number): ScalingResult => {
    const out = execFileSync(process.execPath, [...(globalThis as { Deno?: unknown }).Deno ? ["run", "-A"] : [], self, "--child", String(n)], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
      timeout: 900_000,
    });
    return JSON.parse(out.trim().split("\n").at(-1)!) as ScalingResult;
  };
  const results: SizeRuns[] = sizes.map((n) => ({ vars: n, runs: Array.from({ length: runs }, () => child(n)) }));
  console.log(`Measured ${new Date().toISOString().slice(0, 10)}, x86_64 kernel mode, 4 CPUs; median of ${runs} runs per size\n`);
  console.log(scalingTable(results));
  const per = (r: ScalingResult): number => totalMs(r) / r.vars;
  const at10k = results.find((r) => r.vars === 10_000);
  const last = results.at(-1)!;
  if (at10k && last !== at10k) {
    console.log(`\ntime per variable at ${last.vars} / at 10 000: ${(per(medianRun(last.runs)) / per(medianRun(at10k.runs))).toFixed(2)}×`);
  }
  if (!argv.includes("--no-header")) console.log(`\n${headerTable()}`);
}
