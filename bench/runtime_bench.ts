/**
 * What the generated counters and allocator cost (native C loops over the
 * x86_64 user-mode runtime, emit/percpu_runtime_c.ts), each against its
 * baseline in the same run: `percpu_counter_add` against one shared
 * `__atomic_fetch_add` (`lock xadd`) with 1 and 2 threads, the fold
 * frequency at the default batch, an alloc/free pair against `malloc`/`free`
 * of the same sizes, and the fragmentation the random workload leaves
 * (largest free block / free bytes). Run: `deno run -A bench/runtime_bench.ts`.
 *
 * @module
 */
import { createPercpu, u64 } from "../mod.ts";
import { rowNs, runLoopBench } from "./_native_loops.ts";

/** Iterations per thread per measurement, allocator pairs per measurement, rounds (the best counts). */
const N = 20_000_000;
const PAIRS = 2_000_000;
const ROUNDS = 5;
/** CPUs of the generated code (the allocator zero-fills every CPU's copy; the harness runs 1 and 2 threads). */
const CPUS = 2;
const DYNAMIC = 64 * 1024;
/** Signed adds of the fold-frequency run. */
const SIGNED_ADDS = 1_000_000;

const PRELUDE = String.raw`
static uint64_t shared_count;
static uint32_t rnd(uint32_t *x) { *x ^= *x << 13; *x ^= *x >> 17; *x ^= *x << 5; return *x; }
static uintptr_t sizes[1024];
__attribute__((constructor)) static void init_sizes(void) { uint32_t x = 7; for (int i = 0; i < 1024; i++) sizes[i] = 8 + rnd(&x) % 249; }
`;

/**
 * After the measurements: the folds the counter loops made (ROUNDS x 3 thread-runs x N adds), the fold
 * frequency with signed values -20..20 (one thread), and the fragmentation the tests' random workload
 * (sizes 1..512, alignments 1..64) leaves at a steady state.
 */
const CHECK = String.raw`
  uint32_t x = 11;
  uint64_t plus_folds = percpu_counter_folds(EVENTS);
  percpu_init_reg(0);
  for (uint32_t i = 0; i < ${SIGNED_ADDS}u; i++) percpu_counter_add(EVENTS, (int64_t)(rnd(&x) % 41) - 20);
  uint64_t signed_folds = percpu_counter_folds(EVENTS) - plus_folds;
  static uintptr_t live[4096];
  int n = 0;
  for (int s = 0; s < 200000; s++) {
    uint32_t r = rnd(&x);
    if (n == 0 || (n < 4096 && r % 100 < 55)) {
      uintptr_t o = percpu_alloc(1 + (r >> 8) % 512, (uintptr_t)1 << ((r >> 20) % 7));
      if (o) live[n++] = o; else if (n) percpu_free(live[--n]);
    } else { int k = (int)((r >> 4) % (uint32_t)n); percpu_free(live[k]); live[k] = live[--n]; }
  }
  struct percpu_alloc_stats st;
  percpu_alloc_stats(&st);
  printf("check folds %llu %llu %d %llu\n", (unsigned long long)plus_folds, 3ULL * ${ROUNDS} * ${N}ULL, PERCPU_COUNTER_EVENTS_BATCH, (unsigned long long)signed_folds);
  printf("check frag %lu %lu %lu %d\n", (unsigned long)st.used, (unsigned long)st.free, (unsigned long)st.largest_free, n);
`;

/** The measured figures. */
export interface RuntimeBenchResult {
  /** ns per `percpu_counter_add` / shared atomic add, with 1 and 2 threads. */
  readonly counter: readonly [number, number];
  readonly atomic: readonly [number, number];
  /** ns per alloc+free pair (sizes 8..256) of the percpu allocator and of malloc. */
  readonly alloc: number;
  readonly malloc: number;
  /** Folds per add with `+1` adds at the default batch, and with signed −20..20 adds. */
  readonly foldsPerAdd: number;
  readonly signedFoldsPerAdd: number;
  readonly batch: number;
  /** After the random workload: bytes used, free, largest free block, live blocks. */
  readonly frag: { readonly used: number; readonly free: number; readonly largest: number; readonly live: number };
}

/** Builds and runs the benchmark. */
export function runRuntimeBench(): RuntimeBenchResult {
  const sdk = createPercpu();
  sdk.define("PAD", u64, 0);
  sdk.counter("EVENTS");
  const gen = sdk.generate({ arch: "x86_64", mode: "user", cpus: CPUS, dynamic: DYNAMIC });
  const { rows, checks } = runLoopBench({
    tag: "runtime-bench",
    files: { "percpu.S": gen.files["percpu.S"], "percpu.h": gen.files["percpu.h"], "percpu_runtime.c": gen.files["percpu_runtime.c"]! },
    prelude: PRELUDE,
    rounds: ROUNDS,
    cases: [
      { name: "counter", body: "percpu_counter_add(EVENTS, 1); BARRIER();", ops: N },
      { name: "atomic", body: "__atomic_fetch_add(&shared_count, 1, __ATOMIC_RELAXED); BARRIER();", ops: N },
      { name: "alloc", body: "uintptr_t o = percpu_alloc(sizes[i & 1023], 8); BARRIER(); percpu_free(o);", ops: PAIRS },
      { name: "malloc", body: 'void *p = malloc(sizes[i & 1023]); __asm__ volatile("" : : "r"(p) : "memory"); free(p);', ops: PAIRS },
    ],
    check: CHECK,
  });
  const line = (tag: string): number[] => {
    const found = checks.find((c) => c[0] === tag);
    if (found === undefined) throw new Error(`the benchmark printed no ${tag} line`);
    return found.slice(1).map(Number);
  };
  const folds = line("folds");
  const frag = line("frag");
  return {
    counter: [rowNs(rows, "counter", 1), rowNs(rows, "counter", 2)],
    atomic: [rowNs(rows, "atomic", 1), rowNs(rows, "atomic", 2)],
    alloc: rowNs(rows, "alloc", 1),
    malloc: rowNs(rows, "malloc", 1),
    foldsPerAdd: folds[0]! / folds[1]!,
    batch: folds[2]!,
    signedFoldsPerAdd: folds[3]! / SIGNED_ADDS,
    frag: { used: frag[0]!, free: frag[1]!, largest: frag[2]!, live: frag[3]! },
  };
}

/** The results as a markdown table with the ratios. */
export function runtimeTable(r: RuntimeBenchResult): string {
  return [
    "| native loop (C, -O2, x86_64) | 1 thread ns/op | 2 threads ns/op |",
    "|---|---:|---:|",
    `| \`percpu_counter_add(EVENTS, 1)\` (batch ${r.batch}) | ${r.counter[0].toFixed(2)} | ${r.counter[1].toFixed(2)} |`,
    `| one shared \`__atomic_fetch_add\` (\`lock xadd\`) | ${r.atomic[0].toFixed(2)} | ${r.atomic[1].toFixed(2)} |`,
    "",
    `- shared atomic / counter_add: 1 thread ${(r.atomic[0] / r.counter[0]).toFixed(2)}×, 2 threads ${(r.atomic[1] / r.counter[1]).toFixed(2)}×`,
    `- folds per add: ${r.foldsPerAdd.toFixed(4)} with +1 adds (one per ${Math.round(1 / r.foldsPerAdd)}), ${r.signedFoldsPerAdd.toFixed(4)} with signed −20..20 adds`,
    `- alloc+free pair (8..256 bytes, zero-filled on ${CPUS} CPUs): ${r.alloc.toFixed(1)} ns vs malloc+free ${r.malloc.toFixed(1)} ns (${(r.alloc / r.malloc).toFixed(2)}×)`,
    `- fragmentation after 200 000 random steps (sizes 1..512, alignments 1..64, ${DYNAMIC / 1024} KiB region): ${r.frag.live} live blocks, ${r.frag.used} bytes used, largest free block ${r.frag.largest} of ${r.frag.free} free bytes (${(r.frag.largest / Math.max(r.frag.free, 1)).toFixed(2)})`,
  ].join("\n");
}

const self = (import.meta as { main?: boolean }).main;
if (
  self === true ||
  (self === undefined && (globalThis as { process?: { argv: string[] } }).process?.argv[1]?.endsWith("runtime_bench.ts"))
) {
  console.log(runtimeTable(runRuntimeBench()));
}
