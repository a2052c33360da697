/**
 * The generated per-CPU runtime beyond the seed's: per-CPU counters (Linux
 * `percpu_counter`) and the dynamic-region allocator (Linux `alloc_percpu` /
 * `free_percpu`). Two pieces: the C API block of `percpu.h`
 * ({@link runtimeHeaderBlock}) and `percpu_runtime.c` ({@link emitRuntimeC}),
 * freestanding C (no libc: the arch's atomics through `__atomic` builtins,
 * 32-bit lock words, 64-bit fields only under the lock or, on 64-bit targets,
 * as relaxed atomics). Both are emitted only when the layout has a counter or
 * a dynamic region. One copy of the state exists per image: every thread and
 * Worker loading the shared library (or every CPU of a firmware image) shares it.
 *
 * Counters: CPU `c`'s delta is the `i32` per-CPU variable named like the
 * counter; `percpu_counter_add` (under the arch's guard, the preempt / irq
 * hooks when they are on) adds to it and, when `|delta + v| >= batch`, folds
 * the whole delta into the global count under the counter's spinlock, as
 * Linux's `percpu_counter_add_batch`. `percpu_counter_sum` takes the lock and
 * adds every CPU's delta (one aligned 32-bit load each), so it never sees a
 * fold half-done. `percpu_counter_read` is the global count alone (within
 * `batch × CPUs` of the truth).
 *
 * Allocator: the region is cut in {@link DYNAMIC_GRANULE}-byte granules; a
 * segment tree over them (longest free run, free prefix, free suffix per
 * node, range assignment with lazy tags) finds the first free run that fits
 * in O(log n) and marks or frees a block in O(log n), so freed neighbours
 * coalesce by construction. An aligned request of `size` bytes looks for a
 * run of `size + align − granule` bytes and places the block at its first
 * aligned granule. `lens[g]` (the block length at its first granule, 0
 * elsewhere) detects double frees and foreign offsets.
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { counterBatch } from "../sdk/counters.ts";
import { DYNAMIC_GRANULE } from "../sdk/dynamic.ts";
import { LEAF_OP_SPECS, LEAF_OPS, type LeafOp } from "../sdk/ops.ts";
import { cScalarType, kindToken, leafKind, LOWERED_SCALAR_NAMES, U128_KIND_TOKEN } from "../sdk/c_names.ts";
import { TARGET_INFO } from "../sdk/targets.ts";
import { SCALAR_NAMES } from "../sdk/types.ts";
import { BASE_SYMBOL } from "../arch/_asm.ts";
import type { VarLayout } from "../sdk/layout.ts";

/** The counters of a generation input (their delta variables), in layout order. */
export function counterVars(input: GenInput): readonly VarLayout[] {
  return input.layout.vars.filter((v) => v.percpuCounter !== undefined);
}

/** Whether the input needs the runtime (`percpu_runtime.c` and the `percpu.h` block). */
export function needsRuntime(input: GenInput): boolean {
  return input.layout.dynamic !== undefined || input.layout.vars.some((v) => v.percpuCounter !== undefined);
}

/** C symbol of a counter's global state: `percpu__ctr_NR_FILES`. */
export function counterSymbol(name: string): string {
  return `percpu__ctr_${name}`;
}

/** Statistics of `percpu_alloc_stats`, in field order (also the FFI shim's indices). */
export const ALLOC_STATS = ["size", "used", "free", "largestFree", "allocations", "failures"] as const;

/** The `percpu_<op>_dyn` arguments after the scalar and the offset: the CPU of remote ops, then the values. */
function dynArgs(op: LeafOp): string[] {
  const spec = LEAF_OP_SPECS[op];
  return [...(spec.target === "remote" ? ["cpu"] : []), ...spec.values];
}

/**
 * The `percpu.h` block of the counters and the allocator (empty when the
 * input has neither): declarations, `percpu_counter_*(NAME, ...)` macros,
 * and `percpu_<op>_dyn(S, off, ...)` for every op of the catalog on a run-time
 * offset, `S` a scalar name (`u64`, `i32`, `usize`, ...).
 */
export function runtimeHeaderBlock(input: GenInput): string[] {
  if (!needsRuntime(input)) return [];
  const cpus = input.config.cpus;
  const lines = [
    "",
    "/* Per-CPU counters (Linux percpu_counter) and the dynamic region (alloc_percpu); the runtime is percpu_runtime.c. */",
    "/* Read-mostly fields and the lock's line apart, so adds on other CPUs do not miss on every fold. */",
    "struct percpu_counter {",
    "  uintptr_t off;                  /* offset of the i32 per-CPU delta */",
    "  int32_t batch;                  /* fold when |delta| reaches it */",
    "  uint32_t lock __attribute__((aligned(64))); /* spinlock word: 0 free, 1 held */",
    "  int64_t count;                  /* the global count: written under the lock */",
    "  uint64_t folds;                 /* statistics, under the lock: deltas folded, sums taken */",
    "  uint64_t sums;",
    "};",
    "void percpu__counter_add_batch(struct percpu_counter *c, int64_t v, int32_t batch);",
    "int64_t percpu__counter_read(struct percpu_counter *c);",
    "int64_t percpu__counter_sum(struct percpu_counter *c);",
    "void percpu__counter_set(struct percpu_counter *c, int64_t v);",
    "int percpu__counter_compare(struct percpu_counter *c, int64_t rhs);",
    "#define percpu_counter_add_batch(C, v, b) percpu__counter_add_batch(&percpu__ctr_##C, (int64_t)(v), (int32_t)(b))",
    "#define percpu_counter_add(C, v) percpu__counter_add_batch(&percpu__ctr_##C, (int64_t)(v), PERCPU_COUNTER_##C##_BATCH)",
    "#define percpu_counter_sub(C, v) percpu_counter_add(C, -(int64_t)(v))",
    "#define percpu_counter_inc(C) percpu_counter_add(C, 1)",
    "#define percpu_counter_dec(C) percpu_counter_add(C, -1)",
    "#define percpu_counter_read(C) percpu__counter_read(&percpu__ctr_##C)",
    "#define percpu_counter_read_positive(C) __extension__({ int64_t percpu__r_ = percpu_counter_read(C); percpu__r_ > 0 ? percpu__r_ : 0; })",
    "#define percpu_counter_sum(C) percpu__counter_sum(&percpu__ctr_##C)",
    "#define percpu_counter_sum_positive(C) __extension__({ int64_t percpu__r_ = percpu_counter_sum(C); percpu__r_ > 0 ? percpu__r_ : 0; })",
    "#define percpu_counter_set(C, v) percpu__counter_set(&percpu__ctr_##C, (int64_t)(v))",
    "#define percpu_counter_compare(C, rhs) percpu__counter_compare(&percpu__ctr_##C, (int64_t)(rhs))",
    "#define percpu_counter_folds(C) (*(volatile uint64_t *)&percpu__ctr_##C.folds)",
  ];
  const counters = counterVars(input);
  lines.push(`#define PERCPU_COUNTERS ${counters.length}u`, "extern struct percpu_counter *const percpu__counters[];");
  for (const v of counters) {
    lines.push(`#define PERCPU_COUNTER_${v.name}_BATCH ${counterBatch(v.percpuCounter!, cpus)}`, `extern struct percpu_counter ${counterSymbol(v.name)};`);
  }
  const dyn = input.layout.dynamic;
  if (dyn !== undefined) {
    const pointerBytes = TARGET_INFO[input.layout.target].pointerBytes;
    lines.push(
      `#define PERCPU_DYNAMIC_START ${dyn.offset}u`,
      `#define PERCPU_DYNAMIC_SIZE ${dyn.size}u`,
      `#define PERCPU_DYNAMIC_GRANULE ${DYNAMIC_GRANULE}u`,
      "/* percpu_alloc: an offset valid in every area, zero-filled on every initialised CPU (0: no room, size 0, or align not a power of two <= PERCPU_AREA_ALIGN). */",
      "uintptr_t percpu_alloc(uintptr_t size, uintptr_t align);",
      "/* percpu_alloc_init: the same, each CPU's copy filled from init (size bytes). */",
      "uintptr_t percpu_alloc_init(uintptr_t size, uintptr_t align, const void *init);",
      "/* percpu_free: 0, -1 not a live allocation (double free, or inside a block), -2 foreign offset (outside the region or misaligned). */",
      "intptr_t percpu_free(uintptr_t off);",
      "struct percpu_alloc_stats { uintptr_t size, used, free, largest_free, allocations, failures; };",
      "void percpu_alloc_stats(struct percpu_alloc_stats *out);",
      "/* Accessors on run-time offsets: percpu_<op>_dyn(S, off, args...), S a scalar name (u64, i32, usize, ...). */",
      ...LOWERED_SCALAR_NAMES.map((s) => `#define PERCPU_DT_${s} ${cScalarType(s)}, ${kindToken(leafKind(s, pointerBytes))}`),
      ...(pointerBytes === 8 ? [`#define PERCPU_DT_u128 ${cScalarType("u128")}, ${U128_KIND_TOKEN}`] : []),
    );
    const arities = new Set(LEAF_OPS.map((op) => dynArgs(op).length));
    for (const n of [...arities].sort()) {
      const a = Array.from({ length: n }, (_, i) => `a${i}`);
      const tail = a.map((x) => `, ${x}`).join("");
      lines.push(
        `#define PERCPU__DE${n}(m${tail}, o, T, K) PERCPU__W_##K(m)(T, K, (uintptr_t)(o)${tail})`,
        `#define PERCPU__DY${n}(m${tail}, o, L) PERCPU__DE${n}(m${tail}, o, L)`,
      );
    }
    for (const op of LEAF_OPS) {
      const args = dynArgs(op);
      const params = ["S", "off", ...args].join(", ");
      const wrapped = args.map((x) => `(${x})`);
      lines.push(`#define percpu_${op}_dyn(${params}) PERCPU__DY${args.length}(${[`${LEAF_OP_SPECS[op].primitive}_AT`, ...wrapped, "off", "PERCPU_DT_##S"].join(", ")})`);
    }
    lines.push(
      `#define percpu_ptr(off, cpu) ((void *)(${BASE_SYMBOL} + (uintptr_t)(cpu) * PERCPU_STRIDE + (uintptr_t)(off)))`,
      "#define percpu_this_ptr(off) ((void *)(PERCPU__BASE() + (uintptr_t)(off)))",
    );
  }
  return lines;
}

/** Spinlock, guard and 64-bit helpers shared by the counters and the allocator. */
const COMMON_C = `#define PERCPU__RT_64BIT (UINTPTR_MAX > 0xffffffffu)
static inline void percpu__lock(uint32_t *l) {
  while (__atomic_exchange_n(l, 1u, __ATOMIC_ACQUIRE) != 0u) {
    while (__atomic_load_n(l, __ATOMIC_RELAXED) != 0u) {
    }
  }
}
static inline void percpu__unlock(uint32_t *l) { __atomic_store_n(l, 0u, __ATOMIC_RELEASE); }
`;

/** The counter runtime (percpu_counter_add_batch, read, sum, set, compare). */
function countersC(input: GenInput): string {
  const counters = counterVars(input);
  const cpus = input.config.cpus;
  const defs = counters.map((v) =>
    `struct percpu_counter ${counterSymbol(v.name)} = { ${v.offset}u, ${counterBatch(v.percpuCounter!, cpus)}, 0u, ${int64Literal(v.percpuCounter!.init)}, 0u, 0u };`
  );
  const table = counters.length > 0 ? counters.map((v) => `&${counterSymbol(v.name)}`).join(", ") : "0";
  return `/* ---- per-CPU counters ---- */
${defs.join("\n")}
struct percpu_counter *const percpu__counters[] = { ${table} };

static inline void percpu__count_store(struct percpu_counter *c, int64_t v) {
#if PERCPU__RT_64BIT
  __atomic_store_n(&c->count, v, __ATOMIC_RELAXED);
#else
  c->count = v;
#endif
}

void percpu__counter_add_batch(struct percpu_counter *c, int64_t v, int32_t batch) {
  PERCPU__GUARD_ENTER
  int32_t *d = (int32_t *)(PERCPU__BASE() + c->off);
  int64_t count = (int64_t)__atomic_load_n(d, __ATOMIC_RELAXED) + v;
  if (count >= batch || count <= -(int64_t)batch) {
    percpu__lock(&c->lock);
    percpu__count_store(c, c->count + count);
    /* Linux: __this_cpu_sub(delta, count - amount), so the delta ends at 0 */
    __atomic_store_n(d, (int32_t)((int64_t)__atomic_load_n(d, __ATOMIC_RELAXED) - (count - v)), __ATOMIC_RELAXED);
    c->folds++;
    percpu__unlock(&c->lock);
  } else {
    __atomic_store_n(d, (int32_t)count, __ATOMIC_RELAXED);
  }
  PERCPU__GUARD_EXIT
}

int64_t percpu__counter_read(struct percpu_counter *c) {
#if PERCPU__RT_64BIT
  return __atomic_load_n(&c->count, __ATOMIC_RELAXED);
#else
  /* no 64-bit atomic load: the count is read under the lock */
  int64_t r;
  PERCPU__GUARD_ENTER
  percpu__lock(&c->lock);
  r = c->count;
  percpu__unlock(&c->lock);
  PERCPU__GUARD_EXIT
  return r;
#endif
}

int64_t percpu__counter_sum(struct percpu_counter *c) {
  int64_t r;
  PERCPU__GUARD_ENTER
  percpu__lock(&c->lock);
  r = c->count;
  uintptr_t n = percpu_area_num();
  for (uintptr_t cpu = 0; cpu < n; cpu++) r += __atomic_load_n((int32_t *)PERCPU__REMOTE(int32_t, cpu, c->off), __ATOMIC_RELAXED);
  c->sums++;
  percpu__unlock(&c->lock);
  PERCPU__GUARD_EXIT
  return r;
}

void percpu__counter_set(struct percpu_counter *c, int64_t v) {
  PERCPU__GUARD_ENTER
  percpu__lock(&c->lock);
  uintptr_t n = percpu_area_num();
  for (uintptr_t cpu = 0; cpu < n; cpu++) __atomic_store_n((int32_t *)PERCPU__REMOTE(int32_t, cpu, c->off), 0, __ATOMIC_RELAXED);
  percpu__count_store(c, v);
  percpu__unlock(&c->lock);
  PERCPU__GUARD_EXIT
}

int percpu__counter_compare(struct percpu_counter *c, int64_t rhs) {
  int64_t count = percpu__counter_read(c);
  int64_t slack = (int64_t)c->batch * (int64_t)percpu_area_num();
  int64_t diff;
  /* far from rhs (or too far to subtract): the approximate count decides, as Linux's __percpu_counter_compare */
  if (__builtin_sub_overflow(count, rhs, &diff) || diff > slack || diff < -slack) return count > rhs ? 1 : -1;
  count = percpu__counter_sum(c);
  return count > rhs ? 1 : count < rhs ? -1 : 0;
}
`;
}

/** The C spelling of an i64 constant (INT64_MIN has no literal). */
function int64Literal(v: bigint): string {
  return v === -(1n << 63n) ? "(-INT64_C(9223372036854775807) - 1)" : `INT64_C(${v})`;
}

/** The allocator of the dynamic region. */
function allocatorC(input: GenInput): string {
  const dyn = input.layout.dynamic!;
  const units = dyn.size / DYNAMIC_GRANULE;
  let leaves = 1;
  while (leaves < units) leaves *= 2;
  return `/* ---- dynamic region allocator: segment tree over ${units} granules of ${DYNAMIC_GRANULE} bytes ---- */
#define PERCPU__DYN_UNITS ${units}u
#define PERCPU__DYN_LEAVES ${leaves}u
static uint32_t percpu__dyn_lock;
static uint32_t percpu__dyn_ready;
static uint32_t percpu__dyn_best[2u * PERCPU__DYN_LEAVES];
static uint32_t percpu__dyn_pre[2u * PERCPU__DYN_LEAVES];
static uint32_t percpu__dyn_suf[2u * PERCPU__DYN_LEAVES];
static uint8_t percpu__dyn_tag[2u * PERCPU__DYN_LEAVES]; /* pending assignment of the children: 0 none, 1 free, 2 used */
static uint32_t percpu__dyn_lens[PERCPU__DYN_UNITS];    /* block length in granules at its first granule, 0 elsewhere */
static uintptr_t percpu__dyn_used, percpu__dyn_allocs, percpu__dyn_failures;

static void percpu__dyn_set(uint32_t k, uint32_t len, uint8_t tag) {
  uint32_t v = tag == 1u ? len : 0u;
  percpu__dyn_best[k] = v;
  percpu__dyn_pre[k] = v;
  percpu__dyn_suf[k] = v;
  percpu__dyn_tag[k] = tag;
}
static void percpu__dyn_push(uint32_t k, uint32_t len) {
  if (percpu__dyn_tag[k] != 0u) {
    percpu__dyn_set(2u * k, len / 2u, percpu__dyn_tag[k]);
    percpu__dyn_set(2u * k + 1u, len / 2u, percpu__dyn_tag[k]);
    percpu__dyn_tag[k] = 0u;
  }
}
static void percpu__dyn_pull(uint32_t k, uint32_t len) {
  uint32_t half = len / 2u, l = 2u * k, r = l + 1u;
  percpu__dyn_pre[k] = percpu__dyn_pre[l] == half ? half + percpu__dyn_pre[r] : percpu__dyn_pre[l];
  percpu__dyn_suf[k] = percpu__dyn_suf[r] == half ? half + percpu__dyn_suf[l] : percpu__dyn_suf[r];
  uint32_t best = percpu__dyn_best[l] > percpu__dyn_best[r] ? percpu__dyn_best[l] : percpu__dyn_best[r];
  uint32_t mid = percpu__dyn_suf[l] + percpu__dyn_pre[r];
  percpu__dyn_best[k] = mid > best ? mid : best;
}
/* Assigns [a, b) free (tag 1) or used (tag 2) below node k, which covers [lo, lo + len): O(log n). */
static void percpu__dyn_assign(uint32_t k, uint32_t lo, uint32_t len, uint32_t a, uint32_t b, uint8_t tag) {
  if (b <= lo || lo + len <= a) return;
  if (a <= lo && lo + len <= b) {
    percpu__dyn_set(k, len, tag);
    return;
  }
  percpu__dyn_push(k, len);
  percpu__dyn_assign(2u * k, lo, len / 2u, a, b, tag);
  percpu__dyn_assign(2u * k + 1u, lo + len / 2u, len / 2u, a, b, tag);
  percpu__dyn_pull(k, len);
}
/* The first granule of the leftmost free run of at least m granules, or UINT32_MAX: O(log n). */
static uint32_t percpu__dyn_find(uint32_t m) {
  if (percpu__dyn_best[1] < m) return UINT32_MAX;
  uint32_t k = 1u, lo = 0u, len = PERCPU__DYN_LEAVES;
  while (len > 1u) {
    percpu__dyn_push(k, len);
    uint32_t half = len / 2u, l = 2u * k;
    if (percpu__dyn_best[l] >= m) {
      k = l;
    } else if (percpu__dyn_suf[l] + percpu__dyn_pre[l + 1u] >= m) {
      return lo + half - percpu__dyn_suf[l];
    } else {
      k = l + 1u;
      lo += half;
    }
    len = half;
  }
  return lo;
}
static void percpu__dyn_init(void) {
  percpu__dyn_set(1u, PERCPU__DYN_LEAVES, 1u);
  /* the leaves past the region are never free */
  if (PERCPU__DYN_UNITS < PERCPU__DYN_LEAVES) percpu__dyn_assign(1u, 0u, PERCPU__DYN_LEAVES, PERCPU__DYN_UNITS, PERCPU__DYN_LEAVES, 2u);
  percpu__dyn_ready = 1u;
}

/* Zeroes the block at off (granules: 8-aligned, a multiple of 8 bytes) on every initialised CPU, a word at a time. */
static void percpu__dyn_zero(uintptr_t off, uint32_t granules) {
  uintptr_t n = percpu_area_num();
  for (uintptr_t cpu = 0; cpu < n; cpu++) {
    volatile uint64_t *p = (volatile uint64_t *)percpu_ptr(off, cpu);
    for (uint32_t i = 0; i < granules; i++) p[i] = 0u;
  }
}
/* Copies size bytes of init into the block at off on every initialised CPU. */
static void percpu__dyn_copy(uintptr_t off, uintptr_t size, const unsigned char *init) {
  uintptr_t n = percpu_area_num();
  for (uintptr_t cpu = 0; cpu < n; cpu++) {
    volatile unsigned char *p = (volatile unsigned char *)percpu_ptr(off, cpu);
    for (uintptr_t i = 0; i < size; i++) p[i] = init[i];
  }
}

uintptr_t percpu_alloc_init(uintptr_t size, uintptr_t align, const void *init) {
  if (size == 0u || size > PERCPU_DYNAMIC_SIZE || align == 0u || (align & (align - 1u)) != 0u || align > PERCPU_AREA_ALIGN) return 0u;
  uint32_t m = (uint32_t)((size + PERCPU_DYNAMIC_GRANULE - 1u) / PERCPU_DYNAMIC_GRANULE);
  uint32_t au = align > PERCPU_DYNAMIC_GRANULE ? (uint32_t)(align / PERCPU_DYNAMIC_GRANULE) : 1u;
  uintptr_t off = 0u;
  PERCPU__GUARD_ENTER
  percpu__lock(&percpu__dyn_lock);
  if (!percpu__dyn_ready) percpu__dyn_init();
  /* the region starts at a multiple of PERCPU_AREA_ALIGN: aligned granule index = aligned offset */
  uint32_t at = percpu__dyn_find(m + au - 1u);
  if (at != UINT32_MAX) {
    at = (at + au - 1u) / au * au;
    percpu__dyn_assign(1u, 0u, PERCPU__DYN_LEAVES, at, at + m, 2u);
    percpu__dyn_lens[at] = m;
    percpu__dyn_used += m;
    percpu__dyn_allocs++;
    off = PERCPU_DYNAMIC_START + (uintptr_t)at * PERCPU_DYNAMIC_GRANULE;
  } else {
    percpu__dyn_failures++;
  }
  percpu__unlock(&percpu__dyn_lock);
  PERCPU__GUARD_EXIT
  if (off != 0u) percpu__dyn_zero(off, m);
  if (off != 0u && init) percpu__dyn_copy(off, size, (const unsigned char *)init);
  return off;
}

uintptr_t percpu_alloc(uintptr_t size, uintptr_t align) { return percpu_alloc_init(size, align, 0); }

intptr_t percpu_free(uintptr_t off) {
  if (off < PERCPU_DYNAMIC_START || off >= PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE || (off - PERCPU_DYNAMIC_START) % PERCPU_DYNAMIC_GRANULE != 0u) return -2;
  uint32_t at = (uint32_t)((off - PERCPU_DYNAMIC_START) / PERCPU_DYNAMIC_GRANULE);
  intptr_t r = -1;
  PERCPU__GUARD_ENTER
  percpu__lock(&percpu__dyn_lock);
  uint32_t m = percpu__dyn_lens[at];
  if (percpu__dyn_ready && m != 0u) {
    percpu__dyn_assign(1u, 0u, PERCPU__DYN_LEAVES, at, at + m, 1u);
    percpu__dyn_lens[at] = 0u;
    percpu__dyn_used -= m;
    percpu__dyn_allocs--;
    r = 0;
  }
  percpu__unlock(&percpu__dyn_lock);
  PERCPU__GUARD_EXIT
  return r;
}

void percpu_alloc_stats(struct percpu_alloc_stats *out) {
  PERCPU__GUARD_ENTER
  percpu__lock(&percpu__dyn_lock);
  if (!percpu__dyn_ready) percpu__dyn_init();
  out->size = PERCPU_DYNAMIC_SIZE;
  out->used = percpu__dyn_used * PERCPU_DYNAMIC_GRANULE;
  out->free = PERCPU_DYNAMIC_SIZE - out->used;
  out->largest_free = (uintptr_t)percpu__dyn_best[1] * PERCPU_DYNAMIC_GRANULE;
  out->allocations = percpu__dyn_allocs;
  out->failures = percpu__dyn_failures;
  percpu__unlock(&percpu__dyn_lock);
  PERCPU__GUARD_EXIT
}
`;
}

/**
 * `percpu_runtime.c` for an input, or `null` when it has no counter and no
 * dynamic region. Compile it with the generated `percpu.h` beside it (the
 * FFI shim and the firmware do).
 */
export function emitRuntimeC(input: GenInput): string | null {
  if (!needsRuntime(input)) return null;
  return [
    `/* percpu_runtime.c: per-CPU counters and the dynamic-region allocator, generated by the percpu SDK. Do not edit. */`,
    '#include "percpu.h"',
    "",
    COMMON_C,
    countersC(input),
    ...(input.layout.dynamic !== undefined ? [allocatorC(input)] : []),
  ].join("\n");
}
