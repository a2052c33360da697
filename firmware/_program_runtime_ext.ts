/**
 * The firmware phases of the generated runtime (emit/percpu_runtime_c.ts):
 * `checks_runtime.c` with `fw_runtime_ext(cpu)`, run by every CPU after the
 * accessor rounds, when the layout has counters or a dynamic region.
 *
 * Counters: every CPU adds a seeded sequence of signed values (the same
 * xorshift here and in C; the truth computed here), publishing its progress;
 * the last CPU also samples `percpu_counter_read` / `percpu_counter_sum`
 * after each of its adds and checks each sample against the window of
 * prefix sums the CPUs can be at (sum exact, read within batch × CPUs). Then
 * every CPU checks the final sum and `percpu_counter_compare` at the truth.
 *
 * Allocator: accessors on a shared offset from every CPU, then every CPU
 * allocates and frees random sizes (1..128) and alignments (1..64)
 * concurrently, writing a pattern unique to (owner, block, CPU, byte) into
 * every CPU's copy, checked at every free and at the end (blocks must come
 * zeroed, aligned and inside the region); after everyone frees, the region
 * must be one free block; CPU 0 then exhausts it with 256-byte blocks.
 *
 * @module
 */
import { counterBatch } from "../sdk/counters.ts";
import type { GenInput } from "../sdk/plan.ts";
import { counterVars, needsRuntime } from "../emit/percpu_runtime_c.ts";
import type { LeafOp } from "../sdk/ops.ts";
import { leafFunction } from "../sdk/symbols.ts";
import { TARGET_INFO } from "../sdk/targets.ts";
import { u128CheckPlan } from "./_program_values.ts";

/** Adds per CPU of the counter hammer, and allocator steps per CPU. */
const COUNTER_ADDS = 1500;
const DYN_STEPS = 600;

/** The first barrier id of these phases (the rounds use 1..62, the end 63). */
const BARRIER_BASE = 64;

/** Barrier slots the firmware runtime must provide for these phases. */
export const RUNTIME_EXT_BARRIERS = 96;

/** The seeded values CPU `cpu` adds (the C side draws the same): mostly −20..20, every 53rd ±2^33. */
function counterValues(cpu: number, m: number): bigint[] {
  let x = (0x9e3779b9 ^ Math.imul(cpu + 1, 0x85ebca6b)) >>> 0 || 1;
  const out: bigint[] = [];
  for (let i = 0; i < m; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(i % 53 === 52 ? ((x & 1) !== 0 ? 1n : -1n) << 33n : BigInt((x % 41) - 20));
  }
  return out;
}

/** The C of `fw_runtime_ext` and how many check lines it prints (all CPUs). */
export interface RuntimeExtProgram {
  readonly text: string;
  readonly checks: number;
}

const u64 = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}ull`;

/** The u128 halves as two C literals, low first. */
function halves(v: bigint): string[] {
  return [u64(v), u64(v >> 64n)];
}

/**
 * The u128 phase: every CPU writes a pattern of its own into each u128 leaf
 * (element 0 of indexed ones), reads it back (guarded and raw), then
 * `cmpxchg128_current` hits, misses by the high half only and by the low
 * half only, each checked against the catalog's model — once through the
 * `percpu.S` functions (`u128-ops`), once through `percpu.h`'s generic
 * accessors (`u128-macros`); after a barrier every CPU reads every other
 * CPU's final value remotely both ways. Three check lines per leaf and CPU.
 */
function u128Phase(input: GenInput, next: (name: string) => string): { body: string[]; tables: string[]; checks: number } {
  const cpus = input.config.cpus;
  const body: string[] = [];
  const remote: string[] = [];
  const tables: string[] = [];
  let checks = 0;
  let id = 0;
  for (const plan of u128CheckPlan(input)) {
    const leaf = plan.leaf;
    const j = id++;
    const fn = (op: LeafOp): string => leafFunction(leaf, op);
    const idx = leaf.indices.map(() => "0");
    const viaFunction = (op: LeafOp, ...args: string[]): string => `${fn(op)}(${[...idx, ...args].join(", ")})`;
    // percpu.h's generic accessors: percpu_<op>(X, args) on a plain leaf, percpu_<op>_at(X, args, indices) on an indexed one.
    const viaMacro = (op: LeafOp, ...args: string[]): string => `percpu_${op}${idx.length > 0 ? "_at" : ""}(${[leaf.symbol, ...args, ...idx].join(", ")})`;
    // Per CPU: the value written, the hit's desired, then (expected, desired, want result, want value) for the hit and the two misses.
    const rows = Array.from({ length: cpus }, (_, c) =>
      [plan.written[c]!, plan.steps[0]!.desired[c]!, ...plan.steps.flatMap((s) => [s.expected[c]!, s.desired[c]!, s.result[c]!, s.value[c]!])].flatMap(halves)
    );
    tables.push(`static const uint64_t fw_u128_${j}[FW_CPUS][${rows[0]!.length}] = {\n${rows.map((r) => `  { ${r.join(", ")} },`).join("\n")}\n};`);
    // The last column: the value each CPU's copy is left with (plan.final), which every CPU reads remotely.
    const final = rows[0]!.length / 2 - 1;
    const val = (k: number): string => `((unsigned __int128)fw_u128_${j}[cpu][${2 * k + 1}] << 64 | fw_u128_${j}[cpu][${2 * k}])`;
    const expect = (what: string, expr: string, k: number): string[] => [
      `    { unsigned __int128 x_ = ${expr}; fw_expect(&k, "${what}_lo", (uint64_t)x_, fw_u128_${j}[cpu][${2 * k}]); fw_expect(&k, "${what}_hi", (uint64_t)(x_ >> 64), fw_u128_${j}[cpu][${2 * k + 1}]); }`,
    ];
    const step = (call: typeof viaFunction, s: number, name: string): string[] => {
      const base = 2 + 4 * s;
      return [
        ...expect(`${name}_result`, call("cmpxchg128_current", val(base), val(base + 1)), base + 2),
        ...expect(`${name}_value`, call("read_current"), base + 3),
      ];
    };
    // The same sequence through the percpu.S functions and through percpu.h's accessors (each ends on the same value).
    for (const [check, call] of [["u128-ops", viaFunction], ["u128-macros", viaMacro]] as const) {
      body.push(
        `  /* u128 ${leaf.symbol} (${check}): write, read, cmpxchg128 hit and misses (high half, low half) */`,
        `  {`,
        `    fw_chk k;`,
        `    fw_chk_begin(&k, cpu, "${leaf.symbol}", "${check}");`,
        `    ${call("write_current", val(0))};`,
        ...expect("read", call("read_current"), 0),
        ...expect("read_raw", call("read_current_raw"), 0),
        ...step(call, 0, "hit"),
        ...step(call, 1, "miss_high"),
        ...step(call, 2, "miss_low"),
        `    fw_chk_end(&k);`,
        `  }`,
      );
    }
    remote.push(
      `  {`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "${leaf.symbol}", "u128-remote");`,
      `    for (uintptr_t c = 0; c < FW_CPUS; c++) {`,
      `      unsigned __int128 x_ = ${fn("remote_read")}(${["c", ...idx].join(", ")});`,
      `      fw_expect_at(&k, "remote_read_lo", c, (uint64_t)x_, fw_u128_${j}[c][${2 * final}]);`,
      `      fw_expect_at(&k, "remote_read_hi", c, (uint64_t)(x_ >> 64), fw_u128_${j}[c][${2 * final + 1}]);`,
      `      x_ = ${viaMacro("remote_read", "c")};`,
      `      fw_expect_at(&k, "remote_read_macro_lo", c, (uint64_t)x_, fw_u128_${j}[c][${2 * final}]);`,
      `      fw_expect_at(&k, "remote_read_macro_hi", c, (uint64_t)(x_ >> 64), fw_u128_${j}[c][${2 * final + 1}]);`,
      `    }`,
      `    fw_chk_end(&k);`,
      `  }`,
    );
    checks += 3 * cpus;
  }
  // Two barriers for all leaves: every CPU's final values are in place before anyone reads them remotely.
  if (id > 0) body.push(next("u128-written"), ...remote, next("u128-remote"));
  return { body, tables, checks };
}

/** A CPU's u128 value in the dynamic check: both halves CPU-specific, the high one above 2^64's worth. */
const DYN_U128 = (v: string): string => `((unsigned __int128)(0xA5A5000000000000ull + ${v}) << 64 | (0xFFFFFFFFFFFFFF00ull + ${v}))`;

/**
 * The u128 part of the allocator check (64-bit targets): a 16-aligned block
 * through `percpu_<op>_dyn(u128, off, ...)` — every CPU writes its value,
 * compare-exchanges it (a hit adding 2^64 + 1, carrying the low half into the
 * high one, then a miss), and after a barrier reads every CPU's remotely;
 * freed before the workload. Two check lines per CPU.
 */
function dynU128(input: GenInput, next: (name: string) => string): { body: string[]; checks: number } {
  if (TARGET_INFO[input.layout.target].pointerBytes !== 8) return { body: [], checks: 0 };
  const one = "(((unsigned __int128)1 << 64) + 1)";
  const body = [
    `  static uintptr_t fw_dyn_wide; /* one for all CPUs, as fw_dyn_shared */`,
    `  if (cpu == 0) fw_dyn_wide = percpu_alloc(16, 16);`,
    next("dyn-wide-alloc"),
    `  percpu_write_current_dyn(u128, fw_dyn_wide, ${DYN_U128("cpu")});`,
    `  {`,
    `    fw_chk k;`,
    `    fw_chk_begin(&k, cpu, "-", "dyn-u128");`,
    `    fw_expect(&k, "aligned_16", fw_dyn_wide % 16u == 0 && fw_dyn_wide != 0, 1);`,
    `    unsigned __int128 v = ${DYN_U128("cpu")}, got = percpu_cmpxchg128_current_dyn(u128, fw_dyn_wide, v, v + ${one});`,
    `    fw_expect(&k, "hit_lo", (uint64_t)got, (uint64_t)v);`,
    `    fw_expect(&k, "hit_hi", (uint64_t)(got >> 64), (uint64_t)(v >> 64));`,
    `    got = percpu_cmpxchg128_current_dyn(u128, fw_dyn_wide, v, 0);`,
    `    fw_expect(&k, "miss_hi", (uint64_t)(got >> 64), (uint64_t)((v + ${one}) >> 64));`,
    `    got = percpu_read_current_dyn(u128, fw_dyn_wide);`,
    `    fw_expect(&k, "after_lo", (uint64_t)got, (uint64_t)(v + ${one}));`,
    `    fw_expect(&k, "after_hi", (uint64_t)(got >> 64), (uint64_t)((v + ${one}) >> 64));`,
    `    fw_chk_end(&k);`,
    `  }`,
    next("dyn-wide-written"),
    `  {`,
    `    fw_chk k;`,
    `    fw_chk_begin(&k, cpu, "-", "dyn-u128-remote");`,
    `    for (uintptr_t c = 0; c < FW_CPUS; c++) {`,
    `      unsigned __int128 want = ${DYN_U128("c")} + ${one}, got = percpu_remote_read_dyn(u128, fw_dyn_wide, c);`,
    `      fw_expect_at(&k, "remote_lo", c, (uint64_t)got, (uint64_t)want);`,
    `      fw_expect_at(&k, "remote_hi", c, (uint64_t)(got >> 64), (uint64_t)(want >> 64));`,
    `    }`,
    `    fw_chk_end(&k);`,
    `  }`,
    next("dyn-wide-read"),
    `  if (cpu == 0) (void)percpu_free(fw_dyn_wide);`,
  ];
  return { body, checks: 2 * input.config.cpus };
}

/** `checks_runtime.c` for an input, or `null` when it has no counter, no dynamic region and no u128 leaf. */
export function runtimeExtC(input: GenInput): RuntimeExtProgram | null {
  if (!needsRuntime(input) && !input.vars.some((v) => v.u128Leaves.length > 0)) return null;
  const cpus = input.config.cpus;
  const counters = counterVars(input);
  let barrier = BARRIER_BASE;
  const next = (name: string): string => `  fw_barrier(cpu, ${barrier++}, "${name}");`;
  const body: string[] = [];
  let checks = 0;
  for (const v of counters) {
    const n = v.name;
    const init = v.percpuCounter!.init;
    let truth = init;
    for (let c = 0; c < cpus; c++) for (const x of counterValues(c, COUNTER_ADDS)) truth += x;
    const slack = BigInt(counterBatch(v.percpuCounter!, cpus) * cpus);
    body.push(
      `  /* counter ${n}: hammer with a sampling reader, then the exact sum */`,
      `  {`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "${n}", "counter-init");`,
      `    fw_expect(&k, "read", (uint64_t)percpu_counter_read(${n}), ${u64(init)});`,
      `    fw_expect(&k, "sum", (uint64_t)percpu_counter_sum(${n}), ${u64(init)});`,
      `    fw_chk_end(&k);`,
      `  }`,
      `  fw_ctr_prefix(cpu);`,
      next(`${n}-start`),
      `  {`,
      `    uint32_t bad_read = 0, bad_sum = 0, samples = 0, x = fw_ctr_seed(cpu);`,
      `    for (uint32_t i = 0; i < FW_CTR_ADDS; i++) {`,
      `      percpu_counter_add(${n}, fw_ctr_next(&x, i));`,
      `      __atomic_store_n(&fw_ctr_seq[cpu], i + 1, __ATOMIC_RELEASE);`,
      `      if (cpu == FW_CPUS - 1) {`,
      `        uint32_t s1[FW_CPUS], s2[FW_CPUS];`,
      `        for (uintptr_t c = 0; c < FW_CPUS; c++) s1[c] = __atomic_load_n(&fw_ctr_seq[c], __ATOMIC_ACQUIRE);`,
      `        int64_t r = percpu_counter_read(${n}), s = percpu_counter_sum(${n});`,
      `        for (uintptr_t c = 0; c < FW_CPUS; c++) s2[c] = __atomic_load_n(&fw_ctr_seq[c], __ATOMIC_ACQUIRE);`,
      `        int64_t lo, hi;`,
      `        fw_ctr_window(s1, s2, ${u64(init)}, &lo, &hi);`,
      `        if (r < lo - (int64_t)${slack} || r > hi + (int64_t)${slack}) bad_read++;`,
      `        if (s < lo || s > hi) bad_sum++;`,
      `        samples++;`,
      `      }`,
      `    }`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "${n}", "counter-hammer");`,
      `    fw_expect(&k, "bad_read_samples", bad_read, 0);`,
      `    fw_expect(&k, "bad_sum_samples", bad_sum, 0);`,
      `    fw_expect(&k, "samples", samples, cpu == FW_CPUS - 1 ? FW_CTR_ADDS : 0);`,
      `    fw_chk_end(&k);`,
      `  }`,
      next(`${n}-done`),
      `  {`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "${n}", "counter-sum");`,
      `    int64_t r = percpu_counter_read(${n});`,
      `    fw_expect(&k, "sum", (uint64_t)percpu_counter_sum(${n}), ${u64(truth)});`,
      `    fw_expect(&k, "read_within_slack", r >= (int64_t)${u64(truth - slack)} && r <= (int64_t)${u64(truth + slack)}, 1);`,
      `    fw_expect(&k, "compare_eq", (uint64_t)(int64_t)percpu_counter_compare(${n}, (int64_t)${u64(truth)}), 0);`,
      `    fw_expect(&k, "compare_lt", (uint64_t)(int64_t)percpu_counter_compare(${n}, (int64_t)${u64(truth + 1n)}), (uint64_t)(int64_t)-1);`,
      `    fw_expect(&k, "compare_gt", (uint64_t)(int64_t)percpu_counter_compare(${n}, (int64_t)${u64(truth - 1n)}), 1);`,
      `    fw_expect(&k, "compare_far", (uint64_t)(int64_t)percpu_counter_compare(${n}, (int64_t)${u64(truth + slack * 4n)}), (uint64_t)(int64_t)-1);`,
      `    fw_chk_end(&k);`,
      `  }`,
      next(`${n}-checked`),
      `  if (cpu == 0) for (uintptr_t c = 0; c < FW_CPUS; c++) __atomic_store_n(&fw_ctr_seq[c], 0, __ATOMIC_RELAXED);`,
      next(`${n}-reset`),
    );
    checks += 3 * cpus;
  }
  const u128 = u128Phase(input, next);
  body.push(...u128.body);
  checks += u128.checks;
  const dyn = input.layout.dynamic;
  if (dyn !== undefined) {
    body.push(
      `  /* the allocator: accessors on an offset, the concurrent workload, coalescing, exhaustion */`,
      next("dyn-start"),
      `  if (cpu == 0) fw_dyn_shared = percpu_alloc(8, 8);`,
      next("dyn-shared"),
      `  percpu_write_current_dyn(u64, fw_dyn_shared, 1000u + cpu);`,
      `  percpu_add_current_dyn(u64, fw_dyn_shared, 5);`,
      next("dyn-written"),
      `  {`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "-", "dyn-accessors");`,
      `    fw_expect(&k, "offset_in_region", fw_dyn_shared >= PERCPU_DYNAMIC_START && fw_dyn_shared < PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE, 1);`,
      `    fw_expect(&k, "read_current_dyn", percpu_read_current_dyn(u64, fw_dyn_shared), 1005u + cpu);`,
      `    for (uintptr_t c = 0; c < FW_CPUS; c++) {`,
      `      fw_expect_at(&k, "remote_read_dyn", c, percpu_remote_read_dyn(u64, fw_dyn_shared, c), 1005u + c);`,
      `      fw_expect_at(&k, "percpu_ptr", c, *(volatile uint64_t *)percpu_ptr(fw_dyn_shared, c), 1005u + c);`,
      `    }`,
      `    fw_chk_end(&k);`,
      `  }`,
    );
    // Its barriers come in program order: made here, after the ones above.
    const wide = dynU128(input, next);
    body.push(
      ...wide.body,
      next("dyn-read"),
      `  if (cpu == 0) {`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "-", "dyn-free-codes");`,
      `    fw_expect(&k, "free", (uint64_t)percpu_free(fw_dyn_shared), 0);`,
      `    fw_expect(&k, "double_free", (uint64_t)percpu_free(fw_dyn_shared), (uint64_t)(intptr_t)-1);`,
      `    fw_expect(&k, "foreign", (uint64_t)percpu_free(PERCPU_DYNAMIC_START + 3), (uint64_t)(intptr_t)-2);`,
      `    fw_expect(&k, "outside", (uint64_t)percpu_free(PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE), (uint64_t)(intptr_t)-2);`,
      `    fw_chk_end(&k);`,
      `  }`,
      next("dyn-workload-start"),
      `  fw_dyn_workload(cpu);`,
      next("dyn-workload-done"),
      `  fw_dyn_release(cpu);`,
      next("dyn-released"),
      `  {`,
      `    struct percpu_alloc_stats s;`,
      `    percpu_alloc_stats(&s);`,
      `    fw_chk k;`,
      `    fw_chk_begin(&k, cpu, "-", "dyn-coalesced");`,
      `    fw_expect(&k, "used", s.used, 0);`,
      `    fw_expect(&k, "largest_free", s.largest_free, PERCPU_DYNAMIC_SIZE);`,
      `    fw_expect(&k, "allocations", s.allocations, 0);`,
      `    fw_chk_end(&k);`,
      `  }`,
      next("dyn-coalesce-checked"),
      `  if (cpu == 0) fw_dyn_exhaust(cpu);`,
      next("dyn-end"),
    );
    checks += 3 * cpus + 2 + wide.checks;
  }
  if (barrier > RUNTIME_EXT_BARRIERS) throw new Error(`the runtime phases need ${barrier} barriers, the firmware has ${RUNTIME_EXT_BARRIERS}`);
  const text = `/* checks_runtime.c: firmware phases of the counters and the allocator, generated by the percpu SDK. Do not edit. */
#include "fw.h"
#include "percpu.h"

#define FW_CTR_ADDS ${COUNTER_ADDS}u
#define FW_DYN_STEPS ${DYN_STEPS}u
#define FW_DYN_MAXLIVE 12

void fw_runtime_ext(uintptr_t cpu);

/* The counter helpers are unused when the layout has no counter (a u128-only or allocator-only phase). */

__attribute__((unused)) static uint32_t fw_ctr_seq[FW_CPUS];
__attribute__((unused)) static int64_t fw_ctr_pre[FW_CPUS][FW_CTR_ADDS + 1];
__attribute__((unused)) static uint32_t fw_ctr_seed(uintptr_t cpu) {
  uint32_t x = 0x9e3779b9u ^ (uint32_t)((cpu + 1) * 0x85ebca6bu);
  return x ? x : 1u;
}
__attribute__((unused)) static int64_t fw_ctr_next(uint32_t *x, uint32_t i) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  if (i % 53u == 52u) return (*x & 1u) ? ((int64_t)1 << 33) : -((int64_t)1 << 33);
  return (int64_t)(*x % 41u) - 20;
}
/* This CPU's prefix sums (the reader's windows use every CPU's). */
__attribute__((unused)) static void fw_ctr_prefix(uintptr_t cpu) {
  uint32_t x = fw_ctr_seed(cpu);
  fw_ctr_pre[cpu][0] = 0;
  for (uint32_t i = 0; i < FW_CTR_ADDS; i++) fw_ctr_pre[cpu][i + 1] = fw_ctr_pre[cpu][i] + fw_ctr_next(&x, i);
}
/* The range the truth can be in between two progress snapshots: per CPU, its prefix sums from s1 to s2 + 1. */
__attribute__((unused)) static void fw_ctr_window(const uint32_t *s1, const uint32_t *s2, int64_t init, int64_t *lo, int64_t *hi) {
  *lo = init;
  *hi = init;
  for (uintptr_t c = 0; c < FW_CPUS; c++) {
    uint32_t a = s1[c], b = s2[c] + 1u > FW_CTR_ADDS ? FW_CTR_ADDS : s2[c] + 1u;
    int64_t mn = fw_ctr_pre[c][a], mx = mn;
    for (uint32_t j = a; j <= b; j++) {
      if (fw_ctr_pre[c][j] < mn) mn = fw_ctr_pre[c][j];
      if (fw_ctr_pre[c][j] > mx) mx = fw_ctr_pre[c][j];
    }
    *lo += mn;
    *hi += mx;
  }
}
${u128.tables.join("\n")}
${dyn !== undefined ? DYN_C : ""}
void fw_runtime_ext(uintptr_t cpu) {
${body.join("\n")}
}
`;
  return { text, checks };
}

/** The allocator workload of the firmware (every CPU at once) and CPU 0's exhaustion check. */
const DYN_C = `static uintptr_t fw_dyn_shared;
typedef struct { uintptr_t off, size; uint32_t seq; } fw_dyn_blk;
static fw_dyn_blk fw_dyn_live[FW_CPUS][FW_DYN_MAXLIVE];
static uint32_t fw_dyn_nlive[FW_CPUS];
static uint8_t fw_dyn_pat(uintptr_t owner, uint32_t seq, uintptr_t c, uintptr_t i) { return (uint8_t)(owner * 61u + seq * 31u + c * 7u + i * 3u + 1u); }
static uint32_t fw_dyn_verify(uintptr_t owner, const fw_dyn_blk *b) {
  uint32_t bad = 0;
  for (uintptr_t c = 0; c < FW_CPUS; c++) {
    volatile uint8_t *p = (volatile uint8_t *)percpu_ptr(b->off, c);
    for (uintptr_t i = 0; i < b->size; i++) bad += p[i] != fw_dyn_pat(owner, b->seq, c, i);
  }
  return bad;
}
static void fw_dyn_workload(uintptr_t cpu) {
  uint32_t x = 0x2545f491u * (uint32_t)(cpu + 1), seq = 0, corrupt = 0, dirty = 0, misplaced = 0, allocs = 0, codes = 0;
  uint32_t *n = &fw_dyn_nlive[cpu];
  for (uint32_t s = 0; s < FW_DYN_STEPS; s++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    if (*n == 0 || (*n < FW_DYN_MAXLIVE && x % 100u < (*n < 6 ? 60u : 40u))) {
      uintptr_t size = 1u + (x >> 8) % 128u, align = (uintptr_t)1 << ((x >> 20) % 7u);
      uintptr_t off = percpu_alloc(size, align);
      if (off == 0) {
        if (*n > 0) {
          fw_dyn_blk *v = &fw_dyn_live[cpu][--*n];
          corrupt += fw_dyn_verify(cpu, v);
          codes += percpu_free(v->off) != 0;
        }
        continue;
      }
      allocs++;
      misplaced += off % align != 0 || off < PERCPU_DYNAMIC_START || off + size > PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE;
      fw_dyn_blk *b = &fw_dyn_live[cpu][(*n)++];
      b->off = off;
      b->size = size;
      b->seq = ++seq;
      for (uintptr_t c = 0; c < FW_CPUS; c++) {
        volatile uint8_t *p = (volatile uint8_t *)percpu_ptr(off, c);
        for (uintptr_t i = 0; i < size; i++) {
          dirty += p[i] != 0;
          p[i] = fw_dyn_pat(cpu, b->seq, c, i);
        }
      }
    } else {
      uint32_t k = (x >> 4) % *n;
      corrupt += fw_dyn_verify(cpu, &fw_dyn_live[cpu][k]);
      codes += percpu_free(fw_dyn_live[cpu][k].off) != 0;
      fw_dyn_live[cpu][k] = fw_dyn_live[cpu][--*n];
    }
  }
  for (uint32_t k = 0; k < *n; k++) corrupt += fw_dyn_verify(cpu, &fw_dyn_live[cpu][k]);
  fw_chk k;
  fw_chk_begin(&k, cpu, "-", "dyn-workload");
  fw_expect(&k, "corrupt_bytes", corrupt, 0);
  fw_expect(&k, "dirty_bytes", dirty, 0);
  fw_expect(&k, "misplaced", misplaced, 0);
  fw_expect(&k, "free_errors", codes, 0);
  fw_expect(&k, "allocated", allocs > 0, 1);
  fw_chk_end(&k);
}
static void fw_dyn_release(uintptr_t cpu) {
  for (uint32_t k = 0; k < fw_dyn_nlive[cpu]; k++) (void)percpu_free(fw_dyn_live[cpu][k].off);
  fw_dyn_nlive[cpu] = 0;
}
static void fw_dyn_exhaust(uintptr_t cpu) {
  static uintptr_t blocks[PERCPU_DYNAMIC_SIZE / 256u + 1u];
  uint32_t n = 0;
  while (n < PERCPU_DYNAMIC_SIZE / 256u + 1u && (blocks[n] = percpu_alloc(256, 8)) != 0) n++;
  struct percpu_alloc_stats s;
  percpu_alloc_stats(&s);
  fw_chk k;
  fw_chk_begin(&k, cpu, "-", "dyn-exhaust");
  fw_expect(&k, "blocks", n, PERCPU_DYNAMIC_SIZE / 256u);
  fw_expect(&k, "largest_free", s.largest_free, PERCPU_DYNAMIC_SIZE % 256u);
  for (uint32_t i = 0; i < n; i += 2) (void)percpu_free(blocks[i]);
  percpu_alloc_stats(&s);
  fw_expect(&k, "largest_free_holes", s.largest_free, n > 1 ? 256u : PERCPU_DYNAMIC_SIZE);
  for (uint32_t i = 1; i < n; i += 2) (void)percpu_free(blocks[i]);
  percpu_alloc_stats(&s);
  fw_expect(&k, "largest_free_coalesced", s.largest_free, PERCPU_DYNAMIC_SIZE);
  fw_chk_end(&k);
}
`;
