/**
 * Native loop benchmark (C calling the generated x86_64 user-mode code):
 * per-CPU add (`addq $1, %gs:off`, inline from `percpu.h` and as a call into
 * `percpu.S`) against a `__thread` increment, a `sched_getcpu()`-indexed
 * array and one shared atomic, each with 1 and 2 threads. Prints a markdown
 * table. Run: `deno run -A bench/native_bench.ts` (or `bun bench/native_bench.ts`).
 *
 * @module
 */
import { createPercpu, u64 } from "../mod.ts";
import { type LoopRow, rowNs, runLoopBench } from "./_native_loops.ts";

/** Iterations per thread per measurement. */
const N = 50_000_000;

/** Rounds over every case; the best round of each case counts (the machine may be shared). */
const ROUNDS = 15;

const PRELUDE = String.raw`
void percpu_HITS_add_current_direct(uint64_t v);
void bench_add_global(uint64_t v);
static __thread uint64_t tls_counter;
static struct { _Alignas(64) uint64_t v; } by_cpu[1024];
static uint64_t shared_counter;
__attribute__((noipa)) static void tls_add_call(void) { tls_counter++; BARRIER(); }
`;

/** One measured row. */
export type NativeResult = LoopRow;

/** Builds and runs the native benchmark; returns ns/op per case and thread count. */
export function runNativeBench(): NativeResult[] {
  const sdk = createPercpu();
  sdk.define("HITS", u64, 0);
  const gen = sdk.generate({ arch: "x86_64", mode: "user", cpus: 2 });
  // The header's PERCPU_INLINE section defines the inline accessors; the call variant is the
  // percpu.S function itself, reached through an alias so both can live in one program.
  const alias = [
    "",
    ".text",
    ".globl percpu_HITS_add_current_direct",
    ".set percpu_HITS_add_current_direct, percpu_HITS_add_current",
    // The same call shape without %gs: an asm function adding to a plain global.
    ".globl bench_add_global",
    ".p2align 4",
    "bench_add_global:",
    "\taddq %rdi, bench_global(%rip)",
    "\tret",
    ".bss",
    ".p2align 6",
    "bench_global: .zero 64",
    "",
  ].join("\n");
  const { rows, checks } = runLoopBench({
    tag: "native-bench",
    files: { "percpu.S": gen.files["percpu.S"] + alias, "percpu.h": gen.files["percpu.h"] },
    head: "#define PERCPU_INLINE",
    prelude: PRELUDE,
    rounds: ROUNDS,
    cases: [
      { name: "percpu-inline", body: "percpu_HITS_add_current(1); BARRIER();", ops: N },
      { name: "percpu-call", body: "percpu_HITS_add_current_direct(1); BARRIER();", ops: N },
      { name: "global-call", body: "bench_add_global(1); BARRIER();", ops: N },
      { name: "tls", body: "tls_counter++; BARRIER();", ops: N },
      { name: "tls-call", body: "tls_add_call();", ops: N },
      { name: "getcpu-atomic", body: "__atomic_fetch_add(&by_cpu[sched_getcpu() & 1023].v, 1, __ATOMIC_RELAXED);", ops: N / 4 },
      { name: "getcpu-plain", body: "by_cpu[sched_getcpu() & 1023].v++; BARRIER();", ops: N / 4 },
      { name: "shared-atomic", body: "__atomic_fetch_add(&shared_counter, 1, __ATOMIC_RELAXED);", ops: N / 8 },
    ],
    // inline + call loops each round, on 1 thread (CPU 0) and 2 threads (CPUs 0 and 1): no update lost.
    check: `printf("check %llu %llu\\n", (unsigned long long)(percpu_HITS_remote_read(0) + percpu_HITS_remote_read(1)), 2ULL * 3 * ${ROUNDS} * ${N}ULL);`,
  });
  for (const [got, want] of checks) if (got !== want) throw new Error(`per-CPU counters lost updates: ${got} != ${want}`);
  return rows;
}

/** Formats the results as a markdown table with the two target ratios. */
export function nativeTable(rows: readonly NativeResult[]): string {
  const get = (name: string, threads: number): number => rowNs(rows, name, threads);
  const label: Record<string, string> = {
    "percpu-inline": "per-CPU add, inline `addq $1, %gs:off` (percpu.h)",
    "percpu-call": "per-CPU add, call into percpu.S",
    "global-call": "call into an asm function adding to a plain global (same call shape, no %gs)",
    "tls": "`__thread` increment",
    "tls-call": "`__thread` increment in a non-inlined function",
    "getcpu-atomic": "`sched_getcpu()`-indexed array, atomic add",
    "getcpu-plain": "`sched_getcpu()`-indexed array, plain add (racy)",
    "shared-atomic": "one shared atomic (`lock xadd`)",
  };
  const lines = ["| native loop (C, -O2) | 1 thread ns/op | 2 threads ns/op |", "|---|---:|---:|"];
  for (const name of Object.keys(label)) {
    lines.push(`| ${label[name]} | ${get(name, 1).toFixed(2)} | ${get(name, 2).toFixed(2)} |`);
  }
  const ok = (v: boolean): string => (v ? "✓" : "✗");
  const vsTls = [1, 2].map((t) => get("percpu-inline", t) / get("tls", t));
  const callVsGlobal = get("percpu-call", 1) / get("global-call", 1);
  const atomicVsPercpu = get("shared-atomic", 2) / get("percpu-inline", 2);
  lines.push(
    "",
    `- per-CPU add / \`__thread\` increment (inline): ${
      vsTls.map((r, i) => `${i + 1} thread${i ? "s" : ""} ${r.toFixed(2)}× ${ok(r <= 1.05)}`).join(", ")
    } (target ≤ 1.05×; sub-ns loops, ±10% run to run)`,
    `- call into percpu.S / same-shape call to a plain-global asm add (1 thread): ${
      callVsGlobal.toFixed(2)
    }× (the call, not %gs, is the cost)`,
    `- shared atomic / per-CPU add (2 threads): ${atomicVsPercpu.toFixed(1)}× slower (target ≥ 3×) ${
      ok(atomicVsPercpu >= 3)
    }`,
  );
  return lines.join("\n");
}

const self = (import.meta as { main?: boolean }).main;
if (
  self === true ||
  (self === undefined && (globalThis as { process?: { argv: string[] } }).process?.argv[1]?.endsWith("native_bench.ts"))
) {
  console.log(nativeTable(runNativeBench()));
}
