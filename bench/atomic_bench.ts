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
import { createPercpu, u64 } from "../mod.ts";
import { type LoopRow, rowNs, runLoopBench } from "./_native_loops.ts";

/** Iterations per thread per measurement. */
const N = 20_000_000;

/** Rounds over every case; the best round of each case counts (the machine may be shared). */
const ROUNDS = 7;

/** One measured row. */
export type AtomicBenchResult = LoopRow;

/** Builds and runs the benchmark; returns ns/op per case and thread count. */
export function runAtomicBench(): AtomicBenchResult[] {
  const sdk = createPercpu();
  sdk.define("PLAIN", u64, 0);
  sdk.define("ATOMIC", u64, 0, { atomic: true });
  sdk.define("REMOTE", u64, 0, { atomic: true });
  const gen = sdk.generate({ arch: "x86_64", mode: "user", cpus: 2, functions: true });
  const { rows, checks } = runLoopBench({
    tag: "atomic-bench",
    files: { "percpu.S": gen.files["percpu.S"], "percpu.h": gen.files["percpu.h"] },
    prelude: "",
    rounds: ROUNDS,
    cases: [
      { name: "plain-inline", body: "percpu_add_current(PLAIN, 1); BARRIER();", ops: N },
      { name: "atomic-inline", body: "percpu_add_current(ATOMIC, 1); BARRIER();", ops: N },
      { name: "plain-call", body: "percpu_PLAIN_add_current(1); BARRIER();", ops: N },
      { name: "atomic-call", body: "percpu_ATOMIC_add_current(1); BARRIER();", ops: N },
      { name: "remote-inline", body: "percpu_remote_add(REMOTE, cpu, 1); BARRIER();", ops: N },
      { name: "remote-call", body: "percpu_REMOTE_remote_add(cpu, 1); BARRIER();", ops: N },
    ],
    // Every loop ran ROUNDS x (1 thread on CPU 0 + 2 threads on CPUs 0, 1); ATOMIC and REMOTE have two loops each.
    check: `printf("check %llu %llu %llu\\n", (unsigned long long)(percpu_remote_read(ATOMIC, 0) + percpu_remote_read(ATOMIC, 1)),
    (unsigned long long)(percpu_remote_read(REMOTE, 0) + percpu_remote_read(REMOTE, 1)), 2ULL * 3 * ${ROUNDS} * ${N}ULL);`,
  });
  for (const [atomic, remote, want] of checks) {
    if (atomic !== want || remote !== want) throw new Error(`updates lost: atomic ${atomic}, remote ${remote}, expected ${want}`);
  }
  return rows;
}

/** Formats the results as a markdown table with the locked/unlocked ratios. */
export function atomicTable(rows: readonly AtomicBenchResult[]): string {
  const get = (name: string, threads: number): number => rowNs(rows, name, threads);
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
