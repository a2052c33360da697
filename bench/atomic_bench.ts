/**
 * What `define(..., { atomic: true })` costs on x86_64 (native C loop over
 * the generated user-mode code): `addCurrent` of a plain variable (`addq $1,
 * %gs:off`) against an atomic one (`lock addq $1, %gs:off`), inline from
 * `percpu.h` and as a call into `percpu.S`, and `remote_add` on the own copy
 * (`lock addq` through `__percpu_base + cpu * stride`), each with 1 and 2
 * threads (one CPU each, own copies: no sharing), in the same run. Prints a
 * markdown table with the locked/unlocked ratios. Run: `deno run -A
 * bench/atomic_bench.ts` (or `bun bench/atomic_bench.ts`).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPercpu, u64 } from "../mod.ts";

/** Iterations per thread per measurement. */
const N = 20_000_000;

/** Rounds over every case; the best round of each case counts (the machine may be shared). */
const ROUNDS = 7;

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "percpu.h"

#define N ${N}ULL
#define BARRIER() __asm__ volatile("" ::: "memory")

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

typedef void (*loop_fn)(uintptr_t cpu);
static void loop_plain_inline(uintptr_t cpu) { (void)cpu; for (uint64_t i = 0; i < N; i++) { percpu_add_current(PLAIN, 1); BARRIER(); } }
static void loop_atomic_inline(uintptr_t cpu) { (void)cpu; for (uint64_t i = 0; i < N; i++) { percpu_add_current(ATOMIC, 1); BARRIER(); } }
static void loop_plain_call(uintptr_t cpu) { (void)cpu; for (uint64_t i = 0; i < N; i++) { percpu_PLAIN_add_current(1); BARRIER(); } }
static void loop_atomic_call(uintptr_t cpu) { (void)cpu; for (uint64_t i = 0; i < N; i++) { percpu_ATOMIC_add_current(1); BARRIER(); } }
static void loop_remote_inline(uintptr_t cpu) { for (uint64_t i = 0; i < N; i++) { percpu_remote_add(REMOTE, cpu, 1); BARRIER(); } }
static void loop_remote_call(uintptr_t cpu) { for (uint64_t i = 0; i < N; i++) { percpu_REMOTE_remote_add(cpu, 1); BARRIER(); } }

struct job { loop_fn fn; uintptr_t cpu; double ns; };
static void *run_job(void *p) {
  struct job *j = p;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)(j->cpu % (uintptr_t)sysconf(_SC_NPROCESSORS_ONLN)), &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  percpu_init_reg(j->cpu);
  double t0 = now();
  j->fn(j->cpu);
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

int main(void) {
  if (percpu_init_in_place() != 2) return 1;
  struct { const char *name; loop_fn fn; } cases[] = {
    { "plain-inline", loop_plain_inline }, { "atomic-inline", loop_atomic_inline },
    { "plain-call", loop_plain_call }, { "atomic-call", loop_atomic_call },
    { "remote-inline", loop_remote_inline }, { "remote-call", loop_remote_call },
  };
  enum { CASES = sizeof cases / sizeof cases[0] };
  double best[CASES][2];
  for (unsigned c = 0; c < CASES; c++) best[c][0] = best[c][1] = 1e300;
  for (int round = 0; round < ${ROUNDS}; round++)
    for (unsigned c = 0; c < CASES; c++)
      for (int threads = 1; threads <= 2; threads++) {
        double ns = measure(cases[c].fn, threads);
        if (ns < best[c][threads - 1]) best[c][threads - 1] = ns;
      }
  for (unsigned c = 0; c < CASES; c++)
    for (int threads = 1; threads <= 2; threads++) printf("%s %d %.3f\n", cases[c].name, threads, best[c][threads - 1]);
  /* every loop ran ROUNDS x (1 thread on CPU 0 + 2 threads on CPUs 0, 1): nothing lost */
  uint64_t atomic = percpu_remote_read(ATOMIC, 0) + percpu_remote_read(ATOMIC, 1);
  uint64_t remote = percpu_remote_read(REMOTE, 0) + percpu_remote_read(REMOTE, 1);
  printf("check %llu %llu %llu\n", (unsigned long long)atomic, (unsigned long long)remote, 2ULL * 3 * ${ROUNDS} * N);
  return 0;
}
`;

/** One measured row. */
export interface AtomicBenchResult {
  readonly name: string;
  readonly threads: number;
  readonly ns: number;
}

/** Builds and runs the benchmark; returns ns/op per case and thread count. */
export function runAtomicBench(): AtomicBenchResult[] {
  const sdk = createPercpu();
  sdk.define("PLAIN", u64, 0);
  sdk.define("ATOMIC", u64, 0, { atomic: true });
  sdk.define("REMOTE", u64, 0, { atomic: true });
  const gen = sdk.generate({ arch: "x86_64", mode: "user", cpus: 2, functions: true });
  const dir = mkdtempSync(join(tmpdir(), "percpu-atomic-bench-"));
  try {
    writeFileSync(join(dir, "percpu.S"), gen.files["percpu.S"]);
    writeFileSync(join(dir, "percpu.h"), gen.files["percpu.h"]);
    writeFileSync(join(dir, "bench.c"), C_SOURCE);
    execFileSync("cc", ["-O2", "-pthread", "bench.c", "percpu.S", "-o", "bench"], { cwd: dir });
    const out = execFileSync(join(dir, "bench"), { encoding: "utf8", timeout: 600_000 });
    const rows: AtomicBenchResult[] = [];
    for (const line of out.trim().split("\n")) {
      const [name, a, b, c] = line.split(" ");
      if (name === "check") {
        // ATOMIC: 2 loops (inline, call); REMOTE: 2 loops; each 3 thread-runs per round.
        if (a !== c || b !== c) throw new Error(`updates lost: atomic ${a}, remote ${b}, expected ${c}`);
      } else rows.push({ name: name!, threads: Number(a), ns: Number(b) });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Formats the results as a markdown table with the locked/unlocked ratios. */
export function atomicTable(rows: readonly AtomicBenchResult[]): string {
  const get = (name: string, threads: number): number => rows.find((r) => r.name === name && r.threads === threads)!.ns;
  const label: Record<string, string> = {
    "plain-inline": "`addCurrent`, plain variable, inline `addq $1, %gs:off` (percpu.h)",
    "atomic-inline": "`addCurrent`, `atomic: true`, inline `lock addq $1, %gs:off`",
    "plain-call": "`addCurrent`, plain variable, call into percpu.S",
    "atomic-call": "`addCurrent`, `atomic: true`, call into percpu.S",
    "remote-inline": "`remote_add` on the own copy, inline (`lock add` via `__atomic`)",
    "remote-call": "`remote_add` on the own copy, call into percpu.S (`lock addq`)",
  };
  const lines = ["| native loop (C, -O2, x86_64) | 1 thread ns/op | 2 threads ns/op |", "|---|---:|---:|"];
  for (const name of Object.keys(label)) lines.push(`| ${label[name]} | ${get(name, 1).toFixed(2)} | ${get(name, 2).toFixed(2)} |`);
  const ratio = (a: string, b: string): string => [1, 2].map((t) => `${t} thread${t > 1 ? "s" : ""} ${(get(a, t) / get(b, t)).toFixed(2)}×`).join(", ");
  lines.push(
    "",
    `- atomic / plain addCurrent, inline: ${ratio("atomic-inline", "plain-inline")}`,
    `- atomic / plain addCurrent, call: ${ratio("atomic-call", "plain-call")}`,
  );
  return lines.join("\n");
}

const self = (import.meta as { main?: boolean }).main;
if (
  self === true ||
  (self === undefined && (globalThis as { process?: { argv: string[] } }).process?.argv[1]?.endsWith("atomic_bench.ts"))
) {
  console.log(atomicTable(runAtomicBench()));
}
