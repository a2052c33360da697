/**
 * `define(name, type, init, { atomic: true })` and the remote read-modify-write
 * ops (`remote_add`, `remote_cmpxchg`): threads as CPUs, each adding to its
 * own copy with `add_current` while the others `remote_add` (and
 * `remote_cmpxchg`-increment) the same copy. With `atomic: true` the final
 * values are exact, every time; without it, on x86_64, the owner's unlocked
 * `add %gs:` and the remote `lock add` race and updates are lost (measured
 * and reported; asserted only as "never more than exact").
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createPercpu, PercpuError, struct, u16, u32, u64, u8 } from "../mod.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { run, runOk } from "./_toolchain.ts";
import { type AtomicTask, defineAtomicCounters } from "./_atomic_fixture.ts";
import { WorkerGroup } from "./_workers.ts";

test("define() accepts { atomic: true } on 32/64-bit integer scalars and refuses it elsewhere with options_invalid naming the variable", () => {
  const sdk = createPercpu();
  sdk.define("A64", u64, 0, { atomic: true });
  sdk.define("A32", u32, 0, { atomic: true });
  sdk.define("PLAIN", u64, 0, { atomic: false });
  sdk.define("NONE", u64, 0, {});
  const bad: [string, () => unknown][] = [
    ["S", () => sdk.define("S", struct({ a: u64 }), { a: 0n }, { atomic: true })],
    ["B8", () => sdk.define("B8", u8, 0, { atomic: true })],
    ["B16", () => sdk.define("B16", u16, 0, { atomic: true })],
    ["X", () => sdk.define("X", u64, 0, { atomic: 1 } as unknown as { atomic: boolean })],
    ["Y", () => sdk.define("Y", u64, 0, { atomc: true } as unknown as { atomic: boolean })],
  ];
  for (const [name, f] of bad) {
    assert.throws(f, (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes(`"${name}"`), name);
  }
  const layout = sdk.layout("x86_64");
  assert.deepEqual(layout.vars.map((v) => [v.name, v.atomic === true]), [["A64", true], ["A32", true], ["PLAIN", false], ["NONE", false]]);
});

test("atomic: true locks the x86_64 RMW ops of that variable only (percpu.S and percpu.h); remote RMW is locked for every variable", () => {
  const sdk = createPercpu();
  sdk.define("AT", u64, 0, { atomic: true });
  sdk.define("PL", u64, 0);
  const files = sdk.generate({ arch: "x86_64", mode: "user", functions: true }).files;
  const fn = (name: string): string => {
    const s = files["percpu.S"];
    const at = s.indexOf(`${name}:`);
    return s.slice(at, s.indexOf("ret", at));
  };
  assert.match(fn("percpu_AT_add_current"), /lock addq %rdi, %gs:/);
  assert.match(fn("percpu_AT_cmpxchg_current"), /lock cmpxchgq %rsi, %gs:/);
  assert.match(fn("percpu_AT_xchg_current"), /lock cmpxchgq/);
  assert.doesNotMatch(fn("percpu_PL_add_current"), /lock/);
  assert.match(fn("percpu_PL_remote_add"), /lock addq/);
  assert.match(fn("percpu_PL_remote_cmpxchg"), /lock cmpxchgq/);
  assert.match(files["percpu.h"], /#define PERCPU_L_AT uint64_t, pka_u64, /);
  assert.match(files["percpu.h"], /#define PERCPU_L_PL uint64_t, pk_u64, /);
  assert.match(files["percpu.h"], /#define PERCPU__X86_LOCK_pka_u64 "lock "/);
});

test("riscv32 refuses atomic: true on a 64-bit variable when generating (no 64-bit atomics in RV32A); riscv64 accepts it", () => {
  const sdk = createPercpu();
  sdk.define("W", u64, 0, { atomic: true });
  assert.throws(() => sdk.generate({ arch: "riscv32" }), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes('"W"'));
  assert.ok(sdk.generate({ arch: "riscv64", functions: true }).files["percpu.S"].includes("percpu_W_remote_add:"));
});

/** Threads per run, iterations per thread and per op. */
const T = 2;
const M = 1_000_000;

/**
 * C: T threads, thread t is CPU t. Each does M times: add_current(X, 1) on
 * its own copy, remote_add(X, next, 1) on the next CPU's copy, and one
 * remote_cmpxchg increment (retried until it lands) of the next copy, for
 * X = EXACT (atomic u64), EXACT32 (atomic u32) and LOSSY (plain u64); once
 * through the out-of-line functions of percpu.S and once through percpu.h.
 * Prints per variable the sum over CPUs.
 */
function hammerC(generic: boolean): string {
  const vars = ["EXACT", "EXACT32", "LOSSY"];
  const add = (v: string) => (generic ? `percpu_add_current(${v}, 1)` : `percpu_${v}_add_current(1)`);
  const radd = (v: string) => (generic ? `percpu_remote_add(${v}, next, 1)` : `percpu_${v}_remote_add(next, 1)`);
  const rread = (v: string, c: string) => (generic ? `percpu_remote_read(${v}, ${c})` : `percpu_${v}_remote_read(${c})`);
  const rcas = (v: string, e: string, d: string) => (generic ? `percpu_remote_cmpxchg(${v}, next, ${e}, ${d})` : `percpu_${v}_remote_cmpxchg(next, ${e}, ${d})`);
  return `#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include "percpu.h"
#define T ${T}
#define M ${M}
static volatile int go;
static void *worker(void *arg) {
  uintptr_t cpu = (uintptr_t)arg, next = (cpu + 1) % T;
  percpu_init_reg(cpu);
  while (!go) {}
  for (long i = 0; i < M; i++) {
${vars.map((v) => `    ${add(v)}; ${radd(v)};`).join("\n")}
${
    vars.map((v) =>
      `    for (;;) { __typeof__(${rread(v, "next")}) o = ${rread(v, "next")}; if (${rcas(v, "o", "o + 1")} == o) break; }`
    ).join("\n")
  }
  }
  return 0;
}
int main(void) {
  pthread_t th[T];
  if (percpu_init_in_place() < T) return 2;
  for (uintptr_t t = 0; t < T; t++) pthread_create(&th[t], 0, worker, (void *)t);
  go = 1;
  for (int t = 0; t < T; t++) pthread_join(th[t], 0);
${vars.map((v) => `  { uint64_t s = 0; for (uintptr_t c = 0; c < T; c++) s += ${rread(v, "c")}; printf("%s %llu\\n", "${v}", (unsigned long long)s); }`).join("\n")}
  return 0;
}
`;
}

for (const generic of [false, true]) {
  test(
    `x86_64 user mode, ${T} threads x ${M} add_current + remote_add + remote_cmpxchg each (${generic ? "percpu.h generic accessors" : "percpu.S functions"}): atomic variables are exact, every run`,
    () =>
      withTempDir("atomic-c", async (dir) => {
        const sdk = createPercpu();
        sdk.define("EXACT", u64, 0, { atomic: true });
        sdk.define("EXACT32", u32, 0, { atomic: true });
        sdk.define("LOSSY", u64, 0);
        await sdk.generate({ arch: "x86_64", mode: "user", cpus: T, functions: true }).write(dir);
        await writeFile(join(dir, "h.c"), hammerC(generic));
        await runOk("cc", ["-O2", "-Wall", "-Werror", "-pthread", "-o", "h", "h.c", "percpu.S"], { cwd: dir });
        const want = BigInt(3 * T * M);
        const lost: bigint[] = [];
        for (let runNo = 0; runNo < 3; runNo++) {
          const r = await run(join(dir, "h"), []);
          assert.equal(r.code, 0, r.stderr);
          const sums = new Map(r.stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]).map(([k, v]) => [k, BigInt(v)]));
          assert.equal(sums.get("EXACT"), want, "atomic u64: no update lost");
          assert.equal(sums.get("EXACT32"), want & 0xffff_ffffn, "atomic u32: no update lost");
          const lossy = sums.get("LOSSY")!;
          assert.ok(lossy <= want, `plain u64 never gains updates (${lossy})`);
          lost.push(want - lossy);
        }
        // Without atomic: true the owner's unlocked add %gs: races the remote lock add / lock cmpxchg.
        console.log(`     plain (non-atomic) variable, ${availableParallelism()} cores: ${lost.join(", ")} of ${want} updates lost per run`);
      }),
    { timeoutMs: 120_000 },
  );
}

/** Workers per FFI run and iterations per Worker. */
const W = 2;
const WM = 200_000;

test(
  `${W} Workers as CPUs through FFI: addCurrent + remoteAdd + remoteCmpxchg on an atomic: true variable, ${WM} each, lose no update`,
  async () => {
    const tag = "AT";
    const { sdk, EXACT, LOSSY } = defineAtomicCounters(tag);
    await sdk.load({ cpus: W });
    let workers: WorkerGroup<AtomicTask, null> | null = null;
    try {
      assert.equal(sdk.init(W), W);
      const tasks = Array.from({ length: W }, (_, cpu): AtomicTask => ({ tag, cpus: W, cpu, m: WM }));
      workers = new WorkerGroup(new URL("./_atomic_worker.ts", import.meta.url), tasks);
      await workers.ready("the Workers to bind");
      workers.release();
      await workers.reports("the Workers to finish");
      for (let cpu = 0; cpu < W; cpu++) assert.equal(EXACT.remoteRead(cpu), BigInt(3 * WM), `CPU ${cpu}'s copy`);
      assert.equal(EXACT.sum(), BigInt(3 * W * WM));
      const lossy = LOSSY.sum() as bigint;
      assert.ok(lossy <= BigInt(3 * W * WM));
      console.log(`     plain variable through FFI: ${BigInt(3 * W * WM) - lossy} of ${3 * W * WM} updates lost`);
      // remoteCmpxchg returns the old value and stores only on a match.
      sdk.initPercpuReg(0);
      const before = EXACT.remoteRead(1);
      assert.equal(EXACT.remoteCmpxchg(1, before + 1n, 7n), before, "a miss returns the value");
      assert.equal(EXACT.remoteRead(1), before, "and stores nothing");
      assert.equal(EXACT.remoteCmpxchg(1, before, 7n), before);
      assert.equal(EXACT.remoteRead(1), 7n);
      EXACT.remoteAdd(1, -1);
      assert.equal(EXACT.remoteRead(1), 6n, "remoteAdd(-1) wraps as in C");
    } finally {
      workers?.terminate();
      sdk.close();
    }
  },
  { timeoutMs: 150_000 },
);
