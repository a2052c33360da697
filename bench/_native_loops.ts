/**
 * The harness of the native loop benchmarks (bench/native_bench.ts,
 * bench/atomic_bench.ts, bench/runtime_bench.ts): one C program over the generated x86_64 user-mode
 * code that runs every case on 1 and 2 threads (each pinned to its own core
 * and bound to its own CPU id), keeps the best round of each, prints
 * `name threads ns` rows, then whatever the benchmark's check prints.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One measured loop: `body` runs `ops` times per thread, with `cpu` (the thread's CPU id) in scope. */
export interface LoopCase {
  readonly name: string;
  readonly body: string;
  readonly ops: number;
}

/** What a native loop benchmark builds and runs. */
export interface LoopBench {
  /** Prefix of the temporary directory. */
  readonly tag: string;
  /** Files written beside `bench.c` (the generated `percpu.S` and `percpu.h`, ...); every `.S` and `.c` is linked. */
  readonly files: Readonly<Record<string, string>>;
  /** C text after the includes (`#define PERCPU_INLINE` goes in `head`): helpers the loop bodies use. */
  readonly prelude: string;
  /** C text before `#include "percpu.h"`. */
  readonly head?: string;
  readonly cases: readonly LoopCase[];
  /** Rounds over every case; the best round of each counts (the machine may be shared). */
  readonly rounds: number;
  /** C statements run after the measurements, printing `check ...` lines. */
  readonly check: string;
}

/** One measured row: ns per op per thread (the slowest thread of the run). */
export interface LoopRow {
  readonly name: string;
  readonly threads: number;
  readonly ns: number;
}

/** Builds and runs a native loop benchmark: its rows and the fields of each `check` line. */
export function runLoopBench(bench: LoopBench): { rows: LoopRow[]; checks: string[][] } {
  const loops = bench.cases.map((c, i) =>
    `static void loop_${i}(uintptr_t cpu) { (void)cpu; for (uint64_t i = 0; i < ${c.ops}ULL; i++) { ${c.body} } }`
  );
  const source = String.raw`
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
${bench.head ?? ""}
#include "percpu.h"

#define BARRIER() __asm__ volatile("" ::: "memory")
${bench.prelude}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

typedef void (*loop_fn)(uintptr_t cpu);
${loops.join("\n")}

struct job { loop_fn fn; uintptr_t cpu; double ns; };
static void *run_job(void *p) {
  struct job *j = p;
  /* Pin each thread to its own core so the 2-thread rows measure the loops, not the scheduler. */
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

static double measure(loop_fn fn, int threads, uint64_t ops) {
  pthread_t t[2]; struct job j[2];
  for (int i = 0; i < threads; i++) { j[i].fn = fn; j[i].cpu = i; pthread_create(&t[i], 0, run_job, &j[i]); }
  double worst = 0;
  for (int i = 0; i < threads; i++) { pthread_join(t[i], 0); if (j[i].ns > worst) worst = j[i].ns; }
  return worst / ops;
}

int main(void) {
  if (percpu_init_in_place() != 2) return 1;
  struct { const char *name; loop_fn fn; uint64_t ops; } cases[] = {
${bench.cases.map((c, i) => `    { ${JSON.stringify(c.name)}, loop_${i}, ${c.ops}ULL },`).join("\n")}
  };
  enum { CASES = sizeof cases / sizeof cases[0] };
  double best[CASES][2];
  for (unsigned c = 0; c < CASES; c++) best[c][0] = best[c][1] = 1e300;
  for (int round = 0; round < ${bench.rounds}; round++)
    for (unsigned c = 0; c < CASES; c++)
      for (int threads = 1; threads <= 2; threads++) {
        double ns = measure(cases[c].fn, threads, cases[c].ops);
        if (ns < best[c][threads - 1]) best[c][threads - 1] = ns;
      }
  for (unsigned c = 0; c < CASES; c++)
    for (int threads = 1; threads <= 2; threads++) printf("%s %d %.3f\n", cases[c].name, threads, best[c][threads - 1]);
  ${bench.check}
  return 0;
}
`;
  const dir = mkdtempSync(join(tmpdir(), `percpu-${bench.tag}-`));
  try {
    for (const [name, text] of Object.entries(bench.files)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, "bench.c"), source);
    const sources = Object.keys(bench.files).filter((f) => f.endsWith(".S") || f.endsWith(".c"));
    execFileSync("cc", ["-O2", "-pthread", "bench.c", ...sources, "-o", "bench"], { cwd: dir });
    const out = execFileSync(join(dir, "bench"), { encoding: "utf8", timeout: 600_000 });
    const rows: LoopRow[] = [];
    const checks: string[][] = [];
    for (const line of out.trim().split("\n")) {
      const [name, ...rest] = line.split(" ");
      if (name === "check") checks.push(rest);
      else rows.push({ name: name!, threads: Number(rest[0]), ns: Number(rest[1]) });
    }
    return { rows, checks };
  } finally {
    // KEEP_BENCH=1 keeps the program for objdump.
    if (!process.env.KEEP_BENCH) rmSync(dir, { recursive: true, force: true });
  }
}

/** `ns` of one case at one thread count (throws when the run has no such row). */
export function rowNs(rows: readonly LoopRow[], name: string, threads: number): number {
  const row = rows.find((r) => r.name === name && r.threads === threads);
  if (row === undefined) throw new Error(`no result for ${name} on ${threads} thread(s)`);
  return row.ns;
}
