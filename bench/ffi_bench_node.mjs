// Node half of bench/ffi_bench.ts (Node 20 cannot run the TypeScript): the same cases
// against the built package in dist/ (the Node FFI adapter). `node bench/ffi_bench_node.mjs [--json]`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { array, createPercpu, struct, u32, u64 } = await import(pathToFileURL(join(root, "dist", "mod.js")).href);

function timeNs(body, n, rounds = 21) {
  body(Math.min(n, 200_000));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    body(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

const n = 100_000;
const cacheDir = mkdtempSync(join(tmpdir(), "percpu-bench-cache-"));
const define = () => {
  const sdk = createPercpu();
  return {
    sdk,
    SMALL: sdk.define("BENCH_SMALL", u32, 7),
    WIDE: sdk.define("BENCH_WIDE", u64, 9),
    STATS: sdk.define("BENCH_STATS", struct({ ticks: u32, irqs: u64 }), { ticks: 0, irqs: 5 }),
    BIG: sdk.define("BENCH_BIG", array(u32, 64), new Array(64).fill(0)),
  };
};
const first = define();
const coldMs = (await first.sdk.load({ cpus: 2, cacheDir })).ms;
first.sdk.close();
const { sdk, SMALL, WIDE, STATS, BIG } = define();
const info = await sdk.load({ cpus: 2, cacheDir });
if (!info.cached) throw new Error("the second load was not served from the cache");
const ns = {};
try {
  sdk.init(2);
  sdk.initPercpuReg(1);
  const fns = sdk.native.library.symbols;
  const emptyU32 = fns.percpu_shim_empty_u32;
  const emptyU64 = fns.percpu_shim_empty_u64;
  const symU32 = sdk.native.library.bind({ percpu_BENCH_SMALL_read_current: { params: [], result: "u32" } }).percpu_BENCH_SMALL_read_current;
  if (SMALL.readCurrent() !== 7 || WIDE.readCurrent() !== 9n || symU32() !== 7) throw new Error("unexpected values");
  const irqs = STATS.field("irqs");
  const element = BIG.at(20);
  if (irqs.readCurrent() !== 5n || element.readCurrent() !== 0) throw new Error("unexpected leaf values");
  const take = (k, v) => (ns[k] = Math.min(ns[k] ?? Infinity, v));
  for (let pass = 0; pass < 3; pass++) {
    take("empty_u32", timeNs((k) => { let s = 0; for (let i = 0; i < k; i++) s += emptyU32(); return s; }, n));
    take("read_u32", timeNs((k) => { let s = 0; for (let i = 0; i < k; i++) s += SMALL.readCurrent(); return s; }, n));
    take("symbol_u32", timeNs((k) => { let s = 0; for (let i = 0; i < k; i++) s += symU32(); return s; }, n));
    take("empty_u64", timeNs((k) => { let s = 0n; for (let i = 0; i < k; i++) s += emptyU64(); return s; }, n));
    take("read_u64", timeNs((k) => { let s = 0n; for (let i = 0; i < k; i++) s += WIDE.readCurrent(); return s; }, n));
    take("add_u32", timeNs((k) => { for (let i = 0; i < k; i++) SMALL.addCurrent(1); }, n));
    take("leaf_read_u64", timeNs((k) => { let s = 0n; for (let i = 0; i < k; i++) s += irqs.readCurrent(); return s; }, n));
    take("leaf_add_u32", timeNs((k) => { for (let i = 0; i < k; i++) element.addCurrent(1); }, n));
    take("remote_u32", timeNs((k) => { let s = 0; for (let i = 0; i < k; i++) s += SMALL.remoteRead(0); return s; }, n / 2));
  }
} finally {
  sdk.close();
  rmSync(cacheDir, { recursive: true, force: true });
}
const result = { runtime: "node", ns, coldMs, warmMs: info.ms };
if (process.argv.includes("--json")) console.log(JSON.stringify(result));
else {
  for (const [k, v] of Object.entries(ns)) console.log(`${k} ${v.toFixed(1)} ns`);
  console.log(`cold ${coldMs.toFixed(0)} ms, warm ${info.ms.toFixed(1)} ms`);
}
