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
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPercpu, u64 } from "../mod.ts";

/** Iterations per thread per measurement, allocator pairs per measurement, rounds (the best counts). */
const N = 20_000_000;
const PAIRS = 2_000_000;
const ROUNDS = 5;
/** CPUs of the generated code (the allocator zero-fills every CPU's copy). */
const CPUS = 2;
const DYNAMIC = 64 * 1024;

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "percpu.h"

#define N ${N}ULL
#define PAIRS ${PAIRS}u
#define BARRIER() __asm__ volatile("" ::: "memory")
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static uint64_t shared_count;

typedef void (*loop_fn)(void);
static void loop_counter(void) { for (uint64_t i = 0; i < N; i++) { percpu_counter_add(EVENTS, 1); BARRIER(); } }
static void loop_atomic(void) { for (uint64_t i = 0; i < N; i++) { __atomic_fetch_add(&shared_count, 1, __ATOMIC_RELAXED); BARRIER(); } }
struct job { loop_fn fn; uintptr_t cpu; double ns; };
static void *run_job(void *p) {
  struct job *j = p;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)(j->cpu % (uintptr_t)sysconf(_SC_NPROCESSORS_ONLN)), &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  percpu_init_reg(j->cpu);
  double t0 = now();
  j->fn();
  j->ns = now() - t0;
  return 0;
}
static double measure(loop_fn fn, int threads) {
  pthread_t t[2]; struct job j[2];
  for (int i = 0; i < threads; i++) { j[i].fn = fn; j[i].cpu = i; pthread_create(&t[i], 0, run_job, &j[i]); }
  double worst = 0;
  for (int i = 0; i < threads; i++) { pthread_join(t[i], 0); if (j[i].ns > worst) worst = j[i].ns; }
  return worst / N;
}
static uint32_t rnd(uint32_t *x) { *x ^= *x << 13; *x ^= *x >> 17; *x ^= *x << 5; return *x; }
static uintptr_t sizes[1024];
static double pairs_percpu(void) {
  double t0 = now();
  for (uint32_t i = 0; i < PAIRS; i++) { uintptr_t o = percpu_alloc(sizes[i & 1023], 8); BARRIER(); percpu_free(o); }
  return (now() - t0) / PAIRS;
}
static double pairs_malloc(void) {
  double t0 = now();
  for (uint32_t i = 0; i < PAIRS; i++) { void *p = malloc(sizes[i & 1023]); __asm__ volatile("" : : "r"(p) : "memory"); free(p); }
  return (now() - t0) / PAIRS;
}
int main(void) {
  if (percpu_init_in_place() != ${CPUS}) return 1;
  uint32_t x = 7;
  for (int i = 0; i < 1024; i++) sizes[i] = 8 + rnd(&x) % 249;
  double best[6];
  for (int i = 0; i < 6; i++) best[i] = 1e300;
  uint64_t folds0 = 0, adds = 0;
  for (int r = 0; r < ${ROUNDS}; r++) {
    double v[6];
    uint64_t f = percpu_counter_folds(EVENTS);
    v[0] = measure(loop_counter, 1); v[1] = measure(loop_counter, 2);
    folds0 += percpu_counter_folds(EVENTS) - f; adds += 3 * N;
    v[2] = measure(loop_atomic, 1); v[3] = measure(loop_atomic, 2);
    v[4] = pairs_percpu(); v[5] = pairs_malloc();
    for (int i = 0; i < 6; i++) if (v[i] < best[i]) best[i] = v[i];
  }
  /* fold frequency with signed values -20..20 (one thread) */
  uint64_t f = percpu_counter_folds(EVENTS);
  percpu_init_reg(0);
  for (uint32_t i = 0; i < 1000000; i++) percpu_counter_add(EVENTS, (int64_t)(rnd(&x) % 41) - 20);
  uint64_t signed_folds = percpu_counter_folds(EVENTS) - f;
  /* fragmentation: the tests' random workload (sizes 1..512, alignments 1..64) run to a steady state, then measured */
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
  printf("counter %.3f %.3f\natomic %.3f %.3f\nalloc %.3f\nmalloc %.3f\n", best[0], best[1], best[2], best[3], best[4], best[5]);
  printf("folds %llu %llu %d %llu\n", (unsigned long long)folds0, (unsigned long long)adds, PERCPU_COUNTER_EVENTS_BATCH, (unsigned long long)signed_folds);
  printf("frag %lu %lu %lu %d\n", (unsigned long)st.used, (unsigned long)st.free, (unsigned long)st.largest_free, n);
  return 0;
}
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
  const dir = mkdtempSync(join(tmpdir(), "percpu-runtime-bench-"));
  try {
    for (const name of ["percpu.S", "percpu.h", "percpu_runtime.c"] as const) writeFileSync(join(dir, name), gen.files[name]!);
    writeFileSync(join(dir, "bench.c"), C_SOURCE);
    execFileSync("cc", ["-O2", "-pthread", "bench.c", "percpu.S", "percpu_runtime.c", "-o", "bench"], { cwd: dir });
    const out = execFileSync(join(dir, "bench"), { encoding: "utf8", timeout: 600_000 });
    const row = new Map(out.trim().split("\n").map((l) => {
      const [k, ...v] = l.split(" ");
      return [k!, v.map(Number)] as const;
    }));
    const folds = row.get("folds")!;
    const frag = row.get("frag")!;
    return {
      counter: [row.get("counter")![0]!, row.get("counter")![1]!],
      atomic: [row.get("atomic")![0]!, row.get("atomic")![1]!],
      alloc: row.get("alloc")![0]!,
      malloc: row.get("malloc")![0]!,
      foldsPerAdd: folds[0]! / folds[1]!,
      batch: folds[2]!,
      signedFoldsPerAdd: folds[3]! / 1_000_000,
      frag: { used: frag[0]!, free: frag[1]!, largest: frag[2]!, live: frag[3]! },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
