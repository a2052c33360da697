/**
 * JS → native benchmark on the current runtime: `readCurrent()` (and a few
 * other handle ops) in ns/op next to an empty FFI call with the same
 * signature in the same run, plus cold vs warm `load()` times.
 *
 * Run on one runtime: `deno run -A bench/ffi_bench.ts`, `bun bench/ffi_bench.ts`
 * (`--json` prints the raw figures). `--all` runs Deno, Bun and Node (Node
 * through `dist/`, via bench/ffi_bench_node.mjs; run `npm run build` first) and
 * prints one markdown table.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { array, createPercpu, struct, u32, u64 } from "../mod.ts";

/** Figures of one runtime. */
export interface FfiBenchResult {
  readonly runtime: string;
  /** ns/op by case name. */
  readonly ns: Readonly<Record<string, number>>;
  readonly coldMs: number;
  readonly warmMs: number;
}

/** Case names in table order, with their labels; `floor` names the empty call a case is compared with. */
export const FFI_CASES: readonly { readonly key: string; readonly label: string; readonly floor?: string }[] = [
  { key: "empty_u32", label: "empty FFI call, u32 result" },
  { key: "read_u32", label: "`readCurrent()` u32 (handle API)", floor: "empty_u32" },
  { key: "symbol_u32", label: "`percpu_X_read_current` u32 symbol, no JS checks", floor: "empty_u32" },
  { key: "empty_u64", label: "empty FFI call, u64 result (BigInt)" },
  { key: "read_u64", label: "`readCurrent()` u64 (handle API)", floor: "empty_u64" },
  { key: "add_u32", label: "`addCurrent(1)` u32" },
  { key: "remote_u32", label: "`remoteRead(cpu)` u32" },
  { key: "leaf_read_u64", label: "leaf `irqs.readCurrent()` u64, `irqs = STATS.field(\"irqs\")`", floor: "read_u64" },
  { key: "leaf_read_u64_path", label: "leaf `STATS.field(\"irqs\").readCurrent()` u64 (path per call)", floor: "read_u64" },
  { key: "leaf_add_u32", label: "leaf `e.addCurrent(1)` u32, `e = BIG.at(20)` (indexed array)", floor: "add_u32" },
  { key: "symbol_add_idx", label: "`percpu_BIG_add_current(20, 1)` symbol (a `uintptr_t` index argument), no JS checks", floor: "add_u32" },
  { key: "symbol_add_ix32", label: "`percpu__ix_BIG_add_current(20, 1)`, the shim's 32-bit-index wrapper the handle calls, no JS checks", floor: "add_u32" },
  { key: "leaf_add_u32_path", label: "leaf `BIG.at(20).addCurrent(1)` u32 (path per call)", floor: "add_u32" },
];

/**
 * Best-of-`rounds` ns/op of `body(n)` running `n` iterations. Many short rounds
 * and the minimum: on a shared machine the minimum is the stable estimator.
 */
function timeNs(body: (n: number) => unknown, n: number, rounds = 41): number {
  body(Math.min(n, 200_000)); // warm up / JIT
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    body(n);
    const dt = (performance.now() - t0) * 1e6 / n;
    if (dt < best) best = dt;
  }
  return best;
}

/** Runs every case on the current runtime. */
export async function runFfiBench(n = 300_000): Promise<FfiBenchResult> {
  const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
  // Cold vs warm load: a fresh cache directory, then the same definitions again.
  const cacheDir = mkdtempSync(join(tmpdir(), "percpu-bench-cache-"));
  const define = () => {
    const sdk = createPercpu();
    const SMALL = sdk.define("BENCH_SMALL", u32, 7);
    const WIDE = sdk.define("BENCH_WIDE", u64, 9);
    // Leaf handles: a u64 struct field, and an element of an indexed (long) u32 array.
    const STATS = sdk.define("BENCH_STATS", struct({ ticks: u32, irqs: u64 }), { ticks: 0, irqs: 5 });
    const BIG = sdk.define("BENCH_BIG", array(u32, 64), new Array(64).fill(0));
    return { sdk, SMALL, WIDE, STATS, BIG };
  };
  let coldMs: number;
  let warmMs: number;
  {
    const { sdk } = define();
    coldMs = (await sdk.load({ cpus: 2, cacheDir })).ms;
    sdk.close();
  }
  const { sdk, SMALL, WIDE, STATS, BIG } = define();
  const info = await sdk.load({ cpus: 2, cacheDir });
  warmMs = info.ms;
  if (!info.cached) throw new Error("the second load was not served from the cache");
  try {
    sdk.init(2);
    sdk.initPercpuReg(1);
    const fns = sdk.native!.library.symbols as unknown as Record<string, () => unknown>;
    const emptyU32 = fns.percpu_shim_empty_u32! as () => number;
    const emptyU64 = fns.percpu_shim_empty_u64! as () => bigint;
    // The accessor's own symbol, bound directly (no JS wrapper, no checks).
    const symU32 = sdk.native!.library.bind({ percpu_BENCH_SMALL_read_current: { params: [], result: "u32" } })
      .percpu_BENCH_SMALL_read_current;
    if (SMALL.readCurrent() !== 7 || WIDE.readCurrent() !== 9n || symU32() !== 7) throw new Error("unexpected values");
    const irqs = STATS.field("irqs");
    const element = BIG.at(20);
    if (irqs.readCurrent() !== 5n || element.readCurrent() !== 0) throw new Error("unexpected leaf values");
    // The indexed element's own symbol, bound directly: what the index argument costs natively.
    const wide = sdk.native!.library.wideArgs === "bigint";
    const symAddIdx = sdk.native!.library.bind({
      percpu_BENCH_BIG_add_current: { params: ["usize", "u32"], result: "void" },
    }).percpu_BENCH_BIG_add_current as (i: number | bigint, v: number) => void;
    const idx: number | bigint = wide ? 20n : 20;
    const symAddIx32 = sdk.native!.library.bind({
      percpu__ix_BENCH_BIG_add_current: { params: ["u32", "u32"], result: "void" },
    }).percpu__ix_BENCH_BIG_add_current as (i: number, v: number) => void;
    const ns: Record<string, number> = {};
    // Interleave the cases over several passes and keep each case's best, so a noisy
    // neighbour hurts every case alike.
    for (let pass = 0; pass < 3; pass++) {
      const take = (key: string, v: number) => (ns[key] = Math.min(ns[key] ?? Infinity, v));
      take(
        "empty_u32",
        timeNs((k) => {
          let s = 0;
          for (let i = 0; i < k; i++) s += emptyU32();
          return s;
        }, n),
      );
      take(
        "read_u32",
        timeNs((k) => {
          let s = 0;
          for (let i = 0; i < k; i++) s += SMALL.readCurrent();
          return s;
        }, n),
      );
      take(
        "symbol_u32",
        timeNs((k) => {
          let s = 0;
          for (let i = 0; i < k; i++) s += symU32();
          return s;
        }, n),
      );
      take(
        "empty_u64",
        timeNs((k) => {
          let s = 0n;
          for (let i = 0; i < k; i++) s += emptyU64();
          return s;
        }, n),
      );
      take(
        "read_u64",
        timeNs((k) => {
          let s = 0n;
          for (let i = 0; i < k; i++) s += WIDE.readCurrent();
          return s;
        }, n),
      );
      take(
        "add_u32",
        timeNs((k) => {
          for (let i = 0; i < k; i++) SMALL.addCurrent(1);
        }, n),
      );
      take(
        "leaf_read_u64",
        timeNs((k) => {
          let s = 0n;
          for (let i = 0; i < k; i++) s += irqs.readCurrent();
          return s;
        }, n),
      );
      take(
        "leaf_read_u64_path",
        timeNs((k) => {
          let s = 0n;
          for (let i = 0; i < k; i++) s += STATS.field("irqs").readCurrent();
          return s;
        }, n),
      );
      take(
        "leaf_add_u32",
        timeNs((k) => {
          for (let i = 0; i < k; i++) element.addCurrent(1);
        }, n),
      );
      take(
        "symbol_add_idx",
        timeNs((k) => {
          for (let i = 0; i < k; i++) symAddIdx(idx, 1);
        }, n),
      );
      take(
        "symbol_add_ix32",
        timeNs((k) => {
          for (let i = 0; i < k; i++) symAddIx32(20, 1);
        }, n),
      );
      take(
        "leaf_add_u32_path",
        timeNs((k) => {
          for (let i = 0; i < k; i++) BIG.at(20).addCurrent(1);
        }, n),
      );
      take(
        "remote_u32",
        timeNs((k) => {
          let s = 0;
          for (let i = 0; i < k; i++) s += SMALL.remoteRead(0);
          return s;
        }, n / 2),
      );
    }
    return { runtime, ns, coldMs, warmMs };
  } finally {
    sdk.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Markdown table of several runtimes' figures. */
export function ffiTable(results: readonly FfiBenchResult[]): string {
  const head = `| JS → native (ns/op) | ${results.map((r) => r.runtime).join(" | ")} |`;
  const lines = [head, `|---|${results.map(() => "---:").join("|")}|`];
  for (const c of FFI_CASES) {
    const cells = results.map((r) => {
      const v = r.ns[c.key];
      if (v === undefined) return "–";
      const floor = c.floor ? r.ns[c.floor] : undefined;
      return floor ? `${v.toFixed(1)} (${(v / floor).toFixed(2)}×)` : v.toFixed(1);
    });
    lines.push(`| ${c.label} | ${cells.join(" | ")} |`);
  }
  lines.push(
    `| cold \`load()\` (generate + cc + dlopen), ms | ${results.map((r) => r.coldMs.toFixed(0)).join(" | ")} |`,
  );
  lines.push(`| warm \`load()\` (cache hit + dlopen), ms | ${results.map((r) => r.warmMs.toFixed(1)).join(" | ")} |`);
  const verdicts = results.map((r) => {
    const ratio = r.ns.read_u32! / r.ns.empty_u32!;
    return `${r.runtime}: readCurrent u32 ${ratio.toFixed(2)}× the empty call (target ≤ 1.25×) ${
      ratio <= 1.25 ? "✓" : "✗"
    }, warm load ${r.warmMs.toFixed(1)} ms (target < 100) ${r.warmMs < 100 ? "✓" : "✗"}, leaf handles ${
      (r.ns.leaf_read_u64! / r.ns.read_u64!).toFixed(2)
    }× (field read u64) / ${(r.ns.leaf_add_u32! / r.ns.add_u32!).toFixed(2)}× (indexed element add u32) the top-level variable`;
  });
  return [...lines, "", ...verdicts.map((v) => `- ${v}`)].join("\n");
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Runs this benchmark on Deno and Bun (the TypeScript) and on Node (through
 * dist/, when built) in child processes and returns every runtime's figures.
 */
export function runAllRuntimes(): FfiBenchResult[] {
  const root = join(here, "..");
  const bin = join(root, "node_modules", ".bin");
  const runs: [string, string[]][] = [
    [join(bin, "deno"), ["run", "-A", join(here, "ffi_bench.ts"), "--json"]],
    [join(bin, "bun"), [join(here, "ffi_bench.ts"), "--json"]],
  ];
  if (existsSync(join(root, "dist", "mod.js"))) runs.push(["node", [join(here, "ffi_bench_node.mjs"), "--json"]]);
  else console.error("dist/ is missing: run `npm run build` to include Node");
  return runs.map(([cmd, args]) => {
    const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", timeout: 600_000 });
    return JSON.parse(out.trim().split("\n").pop()!) as FfiBenchResult;
  });
}

const isMain = (import.meta as { main?: boolean }).main ?? process.argv[1]?.endsWith("ffi_bench.ts");
if (isMain) {
  if (process.argv.includes("--all")) {
    console.log(ffiTable(runAllRuntimes()));
  } else {
    const r = await runFfiBench();
    console.log(process.argv.includes("--json") ? JSON.stringify(r) : ffiTable([r]));
  }
}
