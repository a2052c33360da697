/**
 * The firmware test program: freestanding C generated from the generator
 * input that checks every accessor of every variable on every CPU. Expected
 * values are computed here, in TypeScript, from the layout (initial bytes)
 * and from CPU-specific patterns, and embedded as constants; the C side only
 * calls the generated functions and compares.
 *
 * Every CPU runs the same rounds of phases separated by bounded barriers
 * (a missing CPU fails the run instead of hanging): runtime init and the
 * per-CPU register, initial values and pointers, guard hooks, writes and
 * read-back, remote reads and writes, read-modify-write semantics, a
 * concurrent `add_current` hammer with an exact sum, and `reset_to_init`.
 * One output line per check: `cpu=2 var=STATS.irqs check=remote ok` or
 * `... FAIL op=... got=0x.. expected=0x..`; CPU 0 ends with
 * `result: pass cpus=4 checks=N` (or `result: fail ...`) and exits 0 / 1.
 * A second round repeats the checks through the generic `percpu.h` accessors
 * (`check=remote-generic`, one line per variable and check).
 *
 * @module
 */
import { leafSignature } from "../arch/c_types.ts";
import { cScalarType } from "../sdk/c_names.ts";
import type { GenInput, PlacedLeaf } from "../sdk/plan.ts";
import { formatPath, type PathSegment } from "../sdk/errors.ts";
import { INTEGER_OPS, LEAF_OP_SPECS, VAR_OP_SPECS, type VarOp } from "../sdk/ops.ts";
import { type LeafOp, leafOps, varFunction } from "../sdk/symbols.ts";
import type { PercpuType, ScalarName } from "../sdk/types.ts";
import { isInteger } from "../sdk/values.ts";

/** Options of {@link firmwareProgram}. */
export interface ProgramOptions {
  /** Also run every check a second time through the generic `percpu.h` accessors (`percpu_read_current(X)`, ...; default true). */
  readonly inline?: boolean;
  /** `add_current` calls per CPU and integer slot in the concurrent hammer (default 200). */
  readonly hammer?: number;
  /** Milliseconds a barrier waits while no CPU makes progress before the run fails (default 750 per CPU, at least 3000). */
  readonly timeoutMs?: number;
}

/** The generated C sources and what the run must report. */
export interface FirmwareProgram {
  /** File name → C text: `fw.h`, `main.c`, `checks.c` and, with `inline`, `checks_generic.c`. */
  readonly files: Readonly<Record<string, string>>;
  /** Names of the C files to compile. */
  readonly sources: readonly string[];
  /** Check lines a complete run prints: every CPU's checks plus CPU 0's runtime checks. */
  readonly expectedChecks: number;
}

/** How the guard hooks may be used by an operation. */
type GuardUse = "never" | "may" | "must";

/** One place the program checks: a leaf, or one sampled element of an indexed leaf. */
interface Slot {
  readonly id: number;
  readonly leaf: PlacedLeaf;
  /** `STATS.irqs`, `BIG[69999]`. */
  readonly name: string;
  /** Index arguments (empty for a plain leaf). */
  readonly idx: readonly number[];
  /** Offset of the slot from the start of its variable. */
  readonly varOffset: number;
  readonly bits: number;
  readonly mask: bigint;
  /** Initial value as unsigned bits. */
  readonly init: bigint;
}

const M64 = (1n << 64n) - 1n;
const DEFAULT_HAMMER = 200;
/**
 * Default barrier idle limit for `cpus` CPUs: 750 ms per CPU, at least 3 s.
 * Under TCG every vCPU spinning at a barrier takes host time from the ones
 * still working (measured on 2 host cores: x86_64 with 12 CPUs needs more than
 * 3 s; 12 pass with 9 s and 16 with 12 s).
 */
function defaultBarrierIdleMs(cpus: number): number {
  return Math.max(3000, 750 * cpus);
}
/** Most index tuples checked per indexed leaf (each dimension samples first, second, middle, last). */
const MAX_SAMPLES = 16;

/** A 64-bit mixing function (splitmix64 finaliser) for value patterns. */
function mix(a: number, b: number): bigint {
  let h = (BigInt(a) * 0x9E3779B97F4A7C15n + BigInt(b) * 0xC2B2AE3D27D4EB4Fn + 0x165667B19E3779F9n) & M64;
  h ^= h >> 30n;
  h = (h * 0xBF58476D1CE4E5B9n) & M64;
  h ^= h >> 27n;
  h = (h * 0x94D049BB133111EBn) & M64;
  return h ^ (h >> 31n);
}

function floatBits(value: number, bytes: 4 | 8): bigint {
  const view = new DataView(new ArrayBuffer(8));
  if (bytes === 4) {
    view.setFloat32(0, value, true);
    return BigInt(view.getUint32(0, true));
  }
  view.setFloat64(0, value, true);
  return view.getBigUint64(0, true);
}

/**
 * A CPU-specific value for a slot as unsigned bits: integers differ per CPU,
 * alternate the sign bit and avoid the initial value; floats are exact.
 */
function pattern(slot: Slot, cpu: number, phase: number): bigint {
  const s = slot.leaf.scalar;
  if (s === "bool") return BigInt((cpu + slot.id + phase) & 1);
  if (s === "f32") return floatBits(Math.fround((((slot.id % 97) * 8 + cpu + 1) + phase / 8) * (cpu % 2 ? -1.25 : 0.75)), 4);
  if (s === "f64") return floatBits(((slot.id + 1) * 1e10 + cpu * 0.1 + phase + 1 / 3) * (cpu % 2 ? -1 : 1), 8);
  const top = 1n << BigInt(slot.bits - 1);
  let v = (mix(slot.id, phase) + BigInt(cpu) * 0x9E3779B97F4A7C15n) & slot.mask;
  v = cpu % 2 === 0 ? v | top : v & ~top;
  if (v === slot.init) v ^= 2n;
  return v & slot.mask;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}ull`;
}

function cString(s: string): string {
  return JSON.stringify(s);
}

/** Which indices of a dimension of `length` elements to sample. */
function sampleIndices(length: number): number[] {
  return [...new Set([0, 1, Math.floor(length / 2), length - 1])].filter((i) => i < length).sort((a, b) => a - b);
}

/** The path of a slot inside its variable, with the sampled indices of indexed dimensions in place. */
function slotPath(type: PercpuType, leaf: PlacedLeaf, idx: readonly number[]): PathSegment[] {
  const out: PathSegment[] = [];
  let t = type;
  let p = 0;
  let k = 0;
  for (;;) {
    if (t.kind === "aligned") {
      t = t.inner;
    } else if (t.kind === "array") {
      out.push(t.length > 16 ? idx[k++]! : leaf.path[p++]!);
      t = t.element;
    } else if (t.kind === "struct") {
      const f = leaf.path[p++] as string;
      out.push(f);
      t = t.fields[f]!;
    } else {
      return out;
    }
  }
}

function readBits(bytes: Uint8Array, offset: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

/** The slots of every variable: each leaf once, indexed leaves at sampled index tuples. */
function collectSlots(input: GenInput): Slot[] {
  const slots: Slot[] = [];
  for (const v of input.vars) {
    for (const leaf of v.leaves) {
      let tuples: number[][] = [[]];
      for (const dim of leaf.indices) tuples = tuples.flatMap((t) => sampleIndices(dim.length).map((i) => [...t, i]));
      for (const idx of tuples.slice(0, MAX_SAMPLES)) {
        const varOffset = leaf.offset + idx.reduce((sum, i, k) => sum + i * leaf.indices[k]!.stride, 0);
        const bits = leaf.size * 8;
        slots.push({
          id: slots.length,
          leaf,
          name: formatPath([v.layout.name, ...slotPath(v.layout.type, leaf, idx)]),
          idx,
          varOffset,
          bits,
          mask: (1n << BigInt(bits)) - 1n,
          init: readBits(v.layout.init, varOffset, leaf.size),
        });
      }
    }
  }
  return slots;
}

/** Whether an operation must, may or must never call the guard hooks (when a guard feature is on). */
function guardUse(input: GenInput, op: LeafOp | VarOp): GuardUse {
  const spec = op in LEAF_OP_SPECS ? LEAF_OP_SPECS[op as LeafOp] : VAR_OP_SPECS[op as VarOp];
  if (spec.guard === "never") return "never";
  // aarch64 has no single-instruction access relative to TPIDR (mrs + ldr/str): plain reads and
  // writes of the current CPU's value must be guarded.
  if (input.config.arch === "aarch64" && (op === "read_current" || op === "write_current")) return "must";
  return "may";
}

/** Emits C, collecting expected-value tables. */
class Emitter {
  readonly tables: string[] = [];
  readonly #tableNames = new Map<string, string>();

  /** Name of a `uint64_t[CPUS]` table holding `values` (deduplicated). */
  table(values: readonly bigint[]): string {
    const body = values.map(hex).join(", ");
    let name = this.#tableNames.get(body);
    if (!name) {
      name = `fw_t${this.#tableNames.size}`;
      this.#tableNames.set(body, name);
      this.tables.push(`const uint64_t ${name}[FW_CPUS] = {${body}};`);
    }
    return name;
  }
}

/**
 * C call text of a leaf op for a slot; `cpu` and `value` are C expressions.
 * `generic`: the `percpu.h` accessor keyed by the leaf (`percpu_add_current(X, v)`,
 * `percpu_remote_read_at(X, cpu, i)`: cpu, then values, then indices);
 * otherwise the out-of-line function of `percpu.S`.
 */
function leafCall(slot: Slot, op: LeafOp, args: { cpu?: string; values?: readonly string[] } = {}, generic = false): string {
  if (generic) {
    const indexed = slot.leaf.indices.length > 0;
    const cpu = op.startsWith("remote_") ? [args.cpu ?? "cpu"] : [];
    const arity = op === "cmpxchg_current" ? 2 : op.startsWith("read_") || op === "remote_read" ? 0 : 1;
    const values = Array.from({ length: arity }, (_, i) => args.values?.[i] ?? "0");
    const idx = indexed ? slot.idx.map(String) : [];
    return `percpu_${op}${indexed ? "_at" : ""}(${[slot.leaf.symbol, ...cpu, ...values, ...idx].join(", ")})`;
  }
  const sig = leafSignature(slot.leaf, op);
  const out: string[] = [];
  let v = 0;
  let i = 0;
  for (const p of sig.params) {
    if (p.name === "cpu") out.push(args.cpu ?? "cpu");
    else if (/^i\d+$/.test(p.name)) out.push(String(slot.idx[i++]));
    else out.push(args.values?.[v++] ?? "0");
  }
  return `${sig.name}(${out.join(", ")})`;
}

/** C expression turning a returned value into its bits. */
function bitsOf(slot: Slot, expr: string): string {
  return `fwb_${slot.leaf.scalar}(${expr})`;
}

/** C expression turning bits into a value of the slot's type. */
function valueOf(slot: Slot, bits: string): string {
  return `fwv_${slot.leaf.scalar}(${bits})`;
}

/** Integer scalars with their C type (from arch/c_types.ts) and its unsigned twin for bit conversions. */
const SCALARS: readonly { name: ScalarName; c: string; u: string }[] = (
  ["u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize"] as const
).map((name) => {
  const c = cScalarType(name);
  return { name, c, u: c.startsWith("u") ? c : `u${c}` };
});

function header(input: GenInput, opts: Required<ProgramOptions>): string {
  const { config, layout } = input;
  const conv = SCALARS.map((s) =>
    `static inline uint64_t fwb_${s.name}(${s.c} v) { return (uint64_t)(${s.u})v; }\n` +
    `static inline ${s.c} fwv_${s.name}(uint64_t b) { return (${s.c})(${s.u})b; }`
  );
  return `/* fw.h: shared declarations of the firmware test program, generated by the percpu SDK. Do not edit. */
#ifndef FW_H
#define FW_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_CPUS ${config.cpus}u
#define FW_PREEMPT ${config.features.preempt ? 1 : 0}
#define FW_IRQ ${config.features.irq ? 1 : 0}
#define FW_TIMEOUT_MS ${opts.timeoutMs}u
/* Bound of the print lock's spin and backstop of timed waits (a clock that does not tick). */
#define FW_SPIN_LIMIT 2000000000u
#define FW_HAMMER ${opts.hammer}u
#define FW_AREA_SIZE ${layout.areaSize}u
#define FW_STRIDE ${layout.stride}u

void fw_putc(char c);
void fw_exit(int code);
void fw_start_cpu(uintptr_t cpu);
void fw_main(uintptr_t cpu);

/* One check: prints one line when it ends; keeps the first failure's detail. */
typedef struct {
  uintptr_t cpu;
  const char *var;
  const char *check;
  uint32_t failed;
  uint32_t len;
  char detail[160];
} fw_chk;

void fw_chk_begin(fw_chk *k, uintptr_t cpu, const char *var, const char *check);
void fw_expect(fw_chk *k, const char *op, uint64_t got, uint64_t want);
void fw_expect_at(fw_chk *k, const char *op, uintptr_t of, uint64_t got, uint64_t want);
void fw_chk_end(fw_chk *k);
void fw_barrier(uintptr_t cpu, uint32_t id, const char *name);
int fw_bytes_equal(fw_chk *k, const char *op, const void *got, const uint8_t *want, uintptr_t n);

/* Guard-hook accounting (per CPU). use: 0 never, 1 may, 2 must call the hooks. */
typedef struct {
  uint64_t pd, pe, is, ir;
} fw_hook_snap;
void fw_hooks_take(uintptr_t cpu, fw_hook_snap *s);
void fw_hooks_check(fw_chk *k, uintptr_t cpu, const fw_hook_snap *s, const char *op, int use);

static inline uint64_t fwb_bool(bool v) { return (uint64_t)v; }
static inline bool fwv_bool(uint64_t b) { return b != 0; }
static inline uint64_t fwb_f32(float v) { uint32_t b; __builtin_memcpy(&b, &v, 4); return b; }
static inline float fwv_f32(uint64_t b) { uint32_t u = (uint32_t)b; float v; __builtin_memcpy(&v, &u, 4); return v; }
static inline uint64_t fwb_f64(double v) { uint64_t b; __builtin_memcpy(&b, &v, 8); return b; }
static inline double fwv_f64(uint64_t b) { double v; __builtin_memcpy(&v, &b, 8); return v; }
${conv.join("\n")}

void fw_round_extern(uintptr_t cpu);
void fw_round_generic(uintptr_t cpu);
#endif
`;
}

/** The runtime part: printing, checks, barriers, hooks, fw_main. */
function mainC(input: GenInput, emitter: Emitter, initTables: readonly string[], withInline: boolean): string {
  const { layout, config } = input;
  const kernel = config.mode === "kernel" && !config.features.naive;
  const selfCheck = layout.selfPointerOffset !== null && !config.features.naive
    ? `
    fw_expect(&k, "self_pointer", *(volatile uintptr_t *)(percpu_area_base(cpu) + ${layout.selfPointerOffset}u), percpu_area_base(cpu));`
    : "";
  const regCheck = config.features.naive ? "" : `
    percpu_init_reg(cpu);
    fw_expect(&k, "read_reg", percpu_read_reg(), percpu_area_base(cpu));${selfCheck}
    percpu_write_reg(percpu_area_base((cpu + 1) % FW_CPUS));
    fw_expect(&k, "write_reg", percpu_read_reg(), percpu_area_base((cpu + 1) % FW_CPUS));
    percpu_init_reg(cpu);
    fw_expect(&k, "init_reg", percpu_read_reg(), percpu_area_base(cpu));`;
  return `/* main.c: the firmware test program's runtime, generated by the percpu SDK. Do not edit. */
#include "fw.h"
#include "percpu.h"

/* The stubs of machines whose CPUs all start at once wait for this word. */
volatile uint32_t fw_release;

/* The C compiler may emit calls to these even in freestanding code. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memcpy(void *dst, const void *src, size_t n) {
  volatile uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}
void *memmove(void *dst, const void *src, size_t n) {
  volatile uint8_t *d = dst;
  const uint8_t *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}
void *memset(void *dst, int c, size_t n) {
  volatile uint8_t *d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}
int memcmp(const void *a, const void *b, size_t n) {
  const volatile uint8_t *x = a;
  const volatile uint8_t *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

${emitter.tables.join("\n")}
${initTables.join("\n")}

/* ---- output ---- */
static volatile uint32_t fw_print_lock;
static volatile uint32_t fw_done;
static uint32_t fw_checks[FW_CPUS];
/* Bumped by every finished check and barrier arrival: a barrier times out only when no CPU makes progress. */
static volatile uint32_t fw_progress;
static uint32_t fw_fails[FW_CPUS];

typedef struct {
  char buf[320];
  uint32_t n;
} fw_line;

static void fw_add(fw_line *l, const char *s) {
  while (*s && l->n < sizeof l->buf - 1) l->buf[l->n++] = *s++;
}
static void fw_add_dec(fw_line *l, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && l->n < sizeof l->buf - 1) l->buf[l->n++] = tmp[--n];
}
static void fw_add_hex(fw_line *l, uint64_t v) {
  fw_add(l, "0x");
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 0xf) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) {
    if (l->n < sizeof l->buf - 1) l->buf[l->n++] = "0123456789abcdef"[(v >> shift) & 0xf];
  }
}
static void fw_emit(fw_line *l) {
  uint32_t spin = 0;
  while (__atomic_exchange_n(&fw_print_lock, 1, __ATOMIC_ACQUIRE) != 0 && spin < FW_SPIN_LIMIT) spin++;
  for (uint32_t i = 0; i < l->n; i++) fw_putc(l->buf[i]);
  fw_putc('\\n');
  __atomic_store_n(&fw_print_lock, 0, __ATOMIC_RELEASE);
}

static void fw_result_and_exit(void) {
  uint64_t checks = 0;
  uint64_t fails = 0;
  for (uint32_t c = 0; c < FW_CPUS; c++) {
    checks += __atomic_load_n(&fw_checks[c], __ATOMIC_SEQ_CST);
    fails += __atomic_load_n(&fw_fails[c], __ATOMIC_SEQ_CST);
  }
  fw_line l = {.n = 0};
  fw_add(&l, fails == 0 ? "result: pass cpus=" : "result: fail cpus=");
  fw_add_dec(&l, FW_CPUS);
  fw_add(&l, " checks=");
  fw_add_dec(&l, checks);
  if (fails != 0) {
    fw_add(&l, " failed=");
    fw_add_dec(&l, fails);
  }
  fw_emit(&l);
  fw_exit(fails == 0 ? 0 : 1);
}

/* A failure the run cannot continue from: the first CPU to get here reports and exits. */
static void fw_fatal(void) {
  if (__atomic_exchange_n(&fw_done, 1, __ATOMIC_SEQ_CST) == 0) {
    __atomic_fetch_add(&fw_fails[0], 1, __ATOMIC_SEQ_CST);
    fw_result_and_exit();
  }
  for (;;) {
  }
}

/* ---- checks ---- */
void fw_chk_begin(fw_chk *k, uintptr_t cpu, const char *var, const char *check) {
  k->cpu = cpu;
  k->var = var;
  k->check = check;
  k->failed = 0;
  k->len = 0;
}

static void fw_detail(fw_chk *k, const char *op, const char *what, int has_of, uintptr_t of, uint64_t got, uint64_t want) {
  if (k->failed++ != 0) return;
  fw_line l = {.n = 0};
  fw_add(&l, "op=");
  fw_add(&l, op);
  if (what) {
    fw_add(&l, "/");
    fw_add(&l, what);
  }
  if (has_of) {
    fw_add(&l, " of=");
    fw_add_dec(&l, of);
  }
  fw_add(&l, " got=");
  fw_add_hex(&l, got);
  fw_add(&l, " expected=");
  fw_add_hex(&l, want);
  for (uint32_t i = 0; i < l.n && i < sizeof k->detail - 1; i++) k->detail[k->len++] = l.buf[i];
}

void fw_expect(fw_chk *k, const char *op, uint64_t got, uint64_t want) {
  if (got != want) fw_detail(k, op, 0, 0, 0, got, want);
}

void fw_expect_at(fw_chk *k, const char *op, uintptr_t of, uint64_t got, uint64_t want) {
  if (got != want) fw_detail(k, op, 0, 1, of, got, want);
}

/* Like fw_expect, reported as op=<op>/<what>. */
static void fw_expect_sub(fw_chk *k, const char *op, const char *what, uint64_t got, uint64_t want) {
  if (got != want) fw_detail(k, op, what, 0, 0, got, want);
}

int fw_bytes_equal(fw_chk *k, const char *op, const void *got, const uint8_t *want, uintptr_t n) {
  const volatile uint8_t *g = got;
  for (uintptr_t i = 0; i < n; i++) {
    if (g[i] != want[i]) {
      fw_detail(k, op, 0, 1, i, g[i], want[i]);
      return 0;
    }
  }
  return 1;
}

void fw_chk_end(fw_chk *k) {
  fw_line l = {.n = 0};
  fw_add(&l, "cpu=");
  fw_add_dec(&l, k->cpu);
  fw_add(&l, " var=");
  fw_add(&l, k->var);
  fw_add(&l, " check=");
  fw_add(&l, k->check);
  if (k->failed == 0) {
    fw_add(&l, " ok");
  } else {
    fw_add(&l, " FAIL ");
    for (uint32_t i = 0; i < k->len; i++) {
      char s[2] = {k->detail[i], 0};
      fw_add(&l, s);
    }
    if (k->failed > 1) {
      fw_add(&l, " failures=");
      fw_add_dec(&l, k->failed);
    }
    fw_fails[k->cpu]++;
  }
  fw_checks[k->cpu]++;
  fw_emit(&l);
  __atomic_fetch_add(&fw_progress, 1, __ATOMIC_RELAXED);
}

/* ---- a clock for timeouts: the architecture's counter ---- */
static inline uintptr_t fw_now(void) {
#if defined(__x86_64__)
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uintptr_t)hi << 32) | lo;
#elif defined(__aarch64__)
  uint64_t v;
  __asm__ volatile("isb\\n\\tmrs %0, cntvct_el0" : "=r"(v));
  return v;
#elif defined(__riscv)
  uintptr_t v;
  __asm__ volatile("rdtime %0" : "=r"(v));
  return v;
#elif defined(__loongarch__)
  uint64_t v, id;
  __asm__ volatile("rdtime.d %0, %1" : "=r"(v), "=r"(id));
  return v;
#else
#error "no clock for this architecture"
#endif
}

/* Counter ticks per millisecond (an assumed rate where it is not architected). */
static uintptr_t fw_ticks_per_ms(void) {
#if defined(__x86_64__)
  return 2000000u; /* TCG reads the host TSC: assume 2 GHz (a faster host shortens timeouts in proportion) */
#elif defined(__aarch64__)
  uint64_t f;
  __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(f));
  return f >= 1000 ? f / 1000 : 62500;
#elif defined(__riscv)
  return 10000u; /* virt: timebase-frequency 10 MHz */
#else
  return 100000u; /* loongarch virt: 100 MHz stable counter */
#endif
}

/* ---- barriers: each id is used once, so a counter reaching FW_CPUS releases it ---- */
static volatile uint32_t fw_barriers[64];

void fw_barrier(uintptr_t cpu, uint32_t id, const char *name) {
  __atomic_fetch_add(&fw_barriers[id], 1, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(&fw_progress, 1, __ATOMIC_RELAXED);
  uintptr_t start = fw_now();
  uintptr_t limit = fw_ticks_per_ms() * FW_TIMEOUT_MS;
  uint32_t seen = __atomic_load_n(&fw_progress, __ATOMIC_RELAXED);
  for (uint32_t spin = 0;; spin++) {
    uint32_t n = __atomic_load_n(&fw_barriers[id], __ATOMIC_SEQ_CST);
    if (n >= FW_CPUS) return;
    uint32_t now_seen = __atomic_load_n(&fw_progress, __ATOMIC_RELAXED);
    if (now_seen != seen) { /* another CPU is still working: restart the timeout */
      seen = now_seen;
      start = fw_now();
    }
    if ((uintptr_t)(fw_now() - start) >= limit || spin >= FW_SPIN_LIMIT) {
      fw_line l = {.n = 0};
      fw_add(&l, "cpu=");
      fw_add_dec(&l, cpu);
      fw_add(&l, " var=- check=barrier FAIL at=");
      fw_add(&l, name);
      fw_add(&l, " arrived=");
      fw_add_dec(&l, n);
      fw_add(&l, " expected=");
      fw_add_dec(&l, FW_CPUS);
      fw_add(&l, " idle_ms=");
      fw_add_dec(&l, FW_TIMEOUT_MS);
      fw_emit(&l);
      fw_fatal();
    }
  }
}

/* ---- guard hooks: count calls per CPU and check their nesting ---- */
typedef struct {
  uint64_t pd, pe, is, ir;
  int64_t depth;
  int64_t irq_depth;
  uint32_t err;
  uint32_t pad[7];
} fw_hook_state;
/* Slot FW_CPUS counts calls that came from no known CPU. */
static fw_hook_state fw_hooks[FW_CPUS + 1];

static fw_hook_state *fw_hook_cpu(void) {
  uintptr_t reg = percpu_read_reg();
  uintptr_t base = percpu_area_base(0);
  uintptr_t cpu = (reg - base) / PERCPU_STRIDE;
  return &fw_hooks[reg >= base && (reg - base) % PERCPU_STRIDE == 0 && cpu < FW_CPUS ? cpu : FW_CPUS];
}

void percpu_preempt_disable(void) {
  fw_hook_state *h = fw_hook_cpu();
  h->pd++;
  h->depth++;
}

void percpu_preempt_enable(void) {
  fw_hook_state *h = fw_hook_cpu();
  h->pe++;
  if (h->depth <= 0) h->err |= 1;
  if (h->irq_depth > 0) h->err |= 8; /* irq_restore must come first */
  h->depth--;
}

uintptr_t percpu_irq_save(void) {
  fw_hook_state *h = fw_hook_cpu();
  h->is++;
  if (FW_PREEMPT && h->depth <= 0) h->err |= 4; /* irq_save must be inside preempt_disable */
  h->irq_depth++;
  return (uintptr_t)0xF1A60000u + (uintptr_t)(h - fw_hooks) * 256u + (uintptr_t)h->irq_depth;
}

void percpu_irq_restore(uintptr_t flags) {
  fw_hook_state *h = fw_hook_cpu();
  h->ir++;
  if (flags != (uintptr_t)0xF1A60000u + (uintptr_t)(h - fw_hooks) * 256u + (uintptr_t)h->irq_depth) h->err |= 2;
  h->irq_depth--;
}

void fw_hooks_take(uintptr_t cpu, fw_hook_snap *s) {
  s->pd = fw_hooks[cpu].pd;
  s->pe = fw_hooks[cpu].pe;
  s->is = fw_hooks[cpu].is;
  s->ir = fw_hooks[cpu].ir;
}

void fw_hooks_check(fw_chk *k, uintptr_t cpu, const fw_hook_snap *s, const char *op, int use) {
  const fw_hook_state *h = &fw_hooks[cpu];
  uint64_t pd = h->pd - s->pd, pe = h->pe - s->pe, is = h->is - s->is, ir = h->ir - s->ir;
  uint64_t calls = pd + pe + is + ir;
  if (use == 0 || (!FW_PREEMPT && !FW_IRQ)) fw_expect_sub(k, op, "hook_calls", calls, 0); /* no hook at all */
  if (!FW_PREEMPT) fw_expect_sub(k, op, "preempt_calls", pd + pe, 0);
  if (!FW_IRQ) fw_expect_sub(k, op, "irq_calls", is + ir, 0);
  fw_expect_sub(k, op, "preempt_balance", pd, pe); /* got = disables, expected = enables */
  fw_expect_sub(k, op, "irq_balance", is, ir);
  fw_expect_sub(k, op, "preempt_depth", (uint64_t)h->depth, 0);
  fw_expect_sub(k, op, "irq_depth", (uint64_t)h->irq_depth, 0);
  fw_expect_sub(k, op, "nesting_errors", h->err, 0);
  if (use == 2 && FW_PREEMPT) fw_expect_sub(k, op, "preempt_guard_taken", pd != 0, 1); /* a multi-instruction op must take the guard */
  if (use == 2 && FW_IRQ) fw_expect_sub(k, op, "irq_guard_taken", is != 0, 1);
}

static void fw_hooks_total(uintptr_t cpu) {
  fw_chk k;
  fw_chk_begin(&k, cpu, "-", "hooks");
  const fw_hook_state *h = &fw_hooks[cpu];
  fw_expect(&k, "preempt_balance", h->pd, h->pe);
  fw_expect(&k, "irq_balance", h->is, h->ir);
  fw_expect(&k, "preempt_depth", (uint64_t)h->depth, 0);
  fw_expect(&k, "irq_depth", (uint64_t)h->irq_depth, 0);
  fw_expect(&k, "nesting_errors", h->err, 0);
  fw_expect(&k, "unknown_cpu_calls", fw_hooks[FW_CPUS].pd + fw_hooks[FW_CPUS].is, 0);
  if (!FW_PREEMPT) fw_expect(&k, "preempt_calls", h->pd, 0);
  if (!FW_IRQ) fw_expect(&k, "irq_calls", h->is, 0);
  fw_chk_end(&k);
}

/* ---- the program ---- */
${kernel ? "extern char _percpu_start[];\n" : ""}
static void fw_runtime_checks(void) {
  fw_chk k;
  fw_chk_begin(&k, 0, "-", "runtime");
  fw_expect(&k, "init_null", (uint64_t)percpu_init(0, FW_CPUS), (uint64_t)(intptr_t)-1);
${kernel ? `  fw_expect(&k, "init_unaligned", (uint64_t)percpu_init((uintptr_t)_percpu_start + 8, FW_CPUS), (uint64_t)(intptr_t)-2);
` : ""}  fw_expect(&k, "init_in_place", percpu_init_in_place(), FW_CPUS);
  fw_expect(&k, "area_num", percpu_area_num(), FW_CPUS);
  fw_expect(&k, "area_size", percpu_area_size(), FW_AREA_SIZE);
  fw_expect(&k, "base_aligned", percpu_area_base(0) % PERCPU_AREA_ALIGN, 0);
  for (uintptr_t c = 0; c < FW_CPUS; c++) {
${kernel ? `    fw_expect_at(&k, "area_base", c, percpu_area_base(c), (uintptr_t)_percpu_start + c * FW_STRIDE);
` : `    fw_expect_at(&k, "area_base", c, percpu_area_base(c), percpu_area_base(0) + c * FW_STRIDE);
`}  }
  fw_chk_end(&k);
}

void fw_main(uintptr_t cpu) {
  if (cpu == 0) {
    fw_runtime_checks();
    for (uintptr_t c = 1; c < FW_CPUS; c++) fw_start_cpu(c);
    __atomic_store_n(&fw_release, 1, __ATOMIC_SEQ_CST);
  }
  {
    fw_chk k;
    fw_chk_begin(&k, cpu, "-", "reg");${regCheck}
    fw_chk_end(&k);
  }
  fw_barrier(cpu, 0, "start");
  fw_round_extern(cpu);
${withInline ? "  fw_round_generic(cpu);\n" : ""}  fw_hooks_total(cpu);
  fw_barrier(cpu, 63, "end");
  if (cpu == 0 && __atomic_exchange_n(&fw_done, 1, __ATOMIC_SEQ_CST) == 0) fw_result_and_exit();
}
`;
}

/** Initial bytes of a variable as a C array definition. */
function initArray(name: string, bytes: Uint8Array): string {
  let nonzero = 0;
  for (const b of bytes) if (b !== 0) nonzero++;
  if (nonzero * 8 < bytes.length) {
    const items: string[] = [];
    bytes.forEach((b, i) => {
      if (b !== 0) items.push(`[${i}] = ${b}`);
    });
    return `const uint8_t ${name}[${bytes.length}] = {${items.length ? items.join(", ") : "0"}};`;
  }
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 64) {
    lines.push(`"${Array.from(bytes.subarray(i, i + 64), (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}"`);
  }
  return `const uint8_t ${name}[${bytes.length}] = ${lines.join("\n  ")};`;
}

/** One round of phases through either the extern accessors of `percpu.S` or the generic accessors of `percpu.h`. */
function roundC(
  input: GenInput,
  slots: readonly Slot[],
  emitter: Emitter,
  opts: { inline: boolean; hammer: number; barrierBase: number },
): { text: string; checks: number } {
  const { inline, barrierBase } = opts;
  // The second round calls the generic percpu.h accessors (opts.inline keeps its 0.1 name).
  const call = (slot: Slot, op: LeafOp, args: { cpu?: string; values?: readonly string[] } = {}): string => leafCall(slot, op, args, inline);
  const varCall = (n: string, op: "current_ptr" | "remote_ptr" | "reset_to_init", cpu?: string): string =>
    inline ? `percpu_${op}(${[n, ...(cpu !== undefined ? [cpu] : [])].join(", ")})` : `${varFunction(n, op)}(${cpu ?? ""})`;
  const cpus = input.config.cpus;
  const suffix = inline ? "-generic" : "";
  let checks = 0;
  let barrier = barrierBase;
  const body: string[] = [];
  const ext: string[] = [];
  // The extern round prints one line per slot and check; the inline round one per variable and
  // check (consecutive slot blocks of a variable share a line), which halves the serial output.
  let pending: { name: string; check: string; inner: string[] } | null = null;
  const flush = (): void => {
    if (pending === null) return;
    checks++;
    body.push(
      "  {",
      "    fw_chk k;",
      `    fw_chk_begin(&k, cpu, ${cString(pending.name)}, "${pending.check}${suffix}");`,
      ...pending.inner.map((l) => `    ${l}`),
      "    fw_chk_end(&k);",
      "  }",
    );
    pending = null;
  };
  const line = (name: string, check: string, inner: readonly string[], varName = name): void => {
    const block = ["{", ...inner.map((l) => `  ${l}`), "}"];
    if (inline && pending !== null && pending.name === varName && pending.check === check) {
      pending.inner.push(...block);
      return;
    }
    flush();
    pending = { name: inline ? varName : name, check, inner: block };
  };
  const raw = (...lines: string[]): void => {
    flush();
    body.push(...lines);
  };
  const sync = (name: string): void => {
    raw(`  fw_barrier(cpu, ${barrier++}, "${name}${suffix}");`);
  };
  const t = (f: (cpu: number) => bigint): string => emitter.table(Array.from({ length: cpus }, (_, c) => f(c)));
  const ints = slots.filter((s) => isInteger(s.leaf.scalar));

  // Wider views of narrow signed and bool reads: the ABI value must be sign-/zero-extended to 32 bits.
  const extView = (s: Slot, op: LeafOp): string | null => {
    if (inline || !["i8", "i16", "bool"].includes(s.leaf.scalar)) return null;
    const sig = leafSignature(s.leaf, op);
    const name = `fwx_${sig.name}`;
    const ret = s.leaf.scalar === "bool" ? "uint32_t" : "int32_t";
    const params = sig.params.length ? sig.params.map((p) => `${p.type} ${p.name}`).join(", ") : "void";
    ext.push(`${ret} ${name}(${params}) __asm__("${sig.name}");`);
    return name;
  };
  const extExpect = (s: Slot): string => {
    const narrow = s.leaf.scalar === "i8" ? "int8_t" : "int16_t";
    return s.leaf.scalar === "bool" ? hex(s.init) : `(uint64_t)(uint32_t)(int32_t)(${narrow})${hex(s.init)}`;
  };

  // 1. guard hooks first, so the first guarded call of each op is watched: every op once with a
  // neutral operand (values stay the initial ones); raw and remote ops never call a hook
  const hooked = (op: string, what: string): string[] => {
    const use = guardUse(input, op as LeafOp);
    return ["fw_hooks_take(cpu, &hs);", what, `fw_hooks_check(&k, cpu, &hs, "${op}", ${use === "never" ? 0 : use === "may" ? 1 : 2});`];
  };
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "hooks", [
      "fw_hook_snap hs;",
      ...hooked("current_ptr", `(void)${varCall(n, "current_ptr")};`),
      ...hooked("remote_ptr", `(void)${varCall(n, "remote_ptr", "cpu")};`),
      ...hooked("reset_to_init", `${varCall(n, "reset_to_init")};`),
      `fw_bytes_equal(&k, "reset_to_init", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    const inner = ["fw_hook_snap hs;", `uint64_t r = ${bitsOf(s, call(s, "read_current_raw"))};`];
    // Every op of the catalog once, with operands that leave the value as it is: the value itself
    // (writes, xchg, cmpxchg) or the op's identity (add 0, and all-ones); results must be r.
    for (const op of leafOps(s.leaf.scalar)) {
      const spec = LEAF_OP_SPECS[op];
      const operand = spec.identity === "zero" ? "0" : spec.identity === "ones" ? hex(s.mask) : "r";
      const invoked = call(s, op, { values: spec.values.map(() => valueOf(s, operand)) });
      inner.push(...hooked(op, spec.returns === "value" ? `fw_expect(&k, "${op}", ${bitsOf(s, invoked)}, r);` : `${invoked};`));
    }
    inner.push(`fw_expect(&k, "unchanged", ${bitsOf(s, call(s, "read_current_raw"))}, r);`);
    line(s.name, "hooks", inner, s.leaf.varName);
  }
  // 2. initial values and pointers
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "init", [
      `fw_expect(&k, "current_ptr", (uintptr_t)${varCall(n, "current_ptr")} - percpu_area_base(cpu), ${v.layout.offset}u);`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_ptr", c, (uintptr_t)${varCall(n, "remote_ptr", "c")}, percpu_area_base(c) + ${v.layout.offset}u);`,
      `fw_bytes_equal(&k, "bytes", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    const inner = [
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${hex(s.init)});`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${hex(s.init)});`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${hex(s.init)});`,
    ];
    for (const op of ["read_current_raw", "read_current", "remote_read"] as const) {
      const x = extView(s, op);
      if (x) inner.push(`fw_expect(&k, "${op}/ext32", (uint64_t)(uint32_t)${call(s, op, { cpu: "cpu" }).replace(/^[^(]+/, x)}, ${extExpect(s)});`);
    }
    line(s.name, "init", inner, s.leaf.varName);
  }

  sync("init");

  // 3. CPU-specific writes read back on the current CPU
  const w1 = (s: Slot) => t((c) => pattern(s, c, 1));
  const w2 = (s: Slot) => t((c) => pattern(s, c, 2));
  for (const s of slots) {
    line(s.name, "write", [
      `${call(s, "write_current", { values: [valueOf(s, `${w1(s)}[cpu]`)] })};`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w1(s)}[cpu]);`,
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${w1(s)}[cpu]);`,
      `${call(s, "write_current_raw", { values: [valueOf(s, `${w2(s)}[cpu]`)] })};`,
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${w2(s)}[cpu]);`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w2(s)}[cpu]);`,
    ], s.leaf.varName);
  }
  sync("write");

  // 4. every CPU reads every CPU's value
  for (const s of slots) {
    line(s.name, "remote", [
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${w2(s)}[c]);`,
    ], s.leaf.varName);
  }
  sync("remote");

  // 5. each CPU writes the next CPU's value; each checks what the previous CPU wrote
  const w3 = (s: Slot) => t((c) => pattern(s, c, 3));
  for (const s of slots) raw(`  ${call(s, "remote_write", { cpu: "(cpu + 1) % FW_CPUS", values: [valueOf(s, `${w3(s)}[cpu]`)] })};`);
  sync("remote_write");
  for (const s of slots) {
    line(s.name, "remote_write", [
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w3(s)}[(cpu + FW_CPUS - 1) % FW_CPUS]);`,
      `fw_expect(&k, "remote_read", ${bitsOf(s, call(s, "remote_read"))}, ${w3(s)}[(cpu + FW_CPUS - 1) % FW_CPUS]);`,
    ], s.leaf.varName);
  }

  // 6. read-modify-write semantics on the current CPU: every integer op of the catalog in turn, twice
  // (first operand a fresh pattern, then the current value, which makes compare-style ops hit),
  // expected values from the catalog's model of the op
  const rmwOps = INTEGER_OPS.filter((op) => LEAF_OP_SPECS[op].model !== null);
  for (const s of ints) {
    const steps: string[] = [];
    let phase = 20;
    const fresh = (): bigint[] => {
      const ph = phase++;
      return Array.from({ length: cpus }, (_, c) => pattern(s, c, ph));
    };
    let now = fresh();
    steps.push(`${call(s, "write_current", { values: [valueOf(s, `${t((c) => now[c]!)}[cpu]`)] })};`);
    for (const op of rmwOps) {
      const spec = LEAF_OP_SPECS[op];
      for (const firstIsCurrent of [false, true]) {
        const operands = spec.values.map((_, i) => (i === 0 && firstIsCurrent ? now : fresh()));
        const outcomes = now.map((old, c) => spec.model!(old, operands.map((o) => o[c]!), s.mask));
        const invoked = call(s, op, { values: operands.map((o) => valueOf(s, `${t((c) => o[c]!)}[cpu]`)) });
        const tag = `${op}${firstIsCurrent ? "/current" : ""}`;
        if (spec.returns === "value") steps.push(`fw_expect(&k, "${tag}/returned", ${bitsOf(s, invoked)}, ${t((c) => outcomes[c]!.result!)}[cpu]);`);
        else steps.push(`${invoked};`);
        now = outcomes.map((o) => o.value);
        steps.push(`fw_expect(&k, "${tag}", ${bitsOf(s, call(s, "read_current"))}, ${t((c) => now[c]!)}[cpu]);`);
      }
    }
    line(s.name, "ops", steps, s.leaf.varName);
  }

  // 7. all CPUs hammer add_current at once; per-CPU and summed results are exact
  if (ints.length > 0) {
    for (const s of ints) raw(`  ${call(s, "write_current", { values: [valueOf(s, "0")] })};`);
    sync("add_start");
    raw("  for (uint32_t n = 0; n < FW_HAMMER; n++) {", ...ints.map((s) => `    ${call(s, "add_current", { values: [valueOf(s, "cpu + 1")] })};`), "  }");
    sync("add");
    const ownAfter = (s: Slot) => t((c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask);
    for (const s of ints) {
      const total = Array.from({ length: cpus }, (_, c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask).reduce((x, y) => (x + y) & M64, 0n);
      line(s.name, "add", [
        `fw_expect(&k, "own", ${bitsOf(s, call(s, "read_current"))}, ${ownAfter(s)}[cpu]);`,
        "uint64_t sum = 0;",
        `for (uintptr_t c = 0; c < FW_CPUS; c++) sum += ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))};`,
        `fw_expect(&k, "sum", sum, ${hex(total)});`,
      ], s.leaf.varName);
    }
  }

  // 8. reset_to_init restores the initial bytes on every CPU
  if (ints.length > 0) sync("add_checked");
  for (const v of input.vars) raw(`  ${varCall(v.layout.name, "reset_to_init")};`);
  sync("reset");
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "reset", [
      `fw_bytes_equal(&k, "bytes", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_bytes_equal(&k, "remote_bytes", ${varCall(n, "remote_ptr", "c")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    line(s.name, "reset", [
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${hex(s.init)});`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${hex(s.init)});`,
    ], s.leaf.varName);
  }
  sync("round");

  const name = inline ? "fw_round_generic" : "fw_round_extern";
  const text = `/* ${inline ? "checks_generic.c: the checks through the generic accessors of percpu.h" : "checks.c: the checks through the accessors of percpu.S"}, generated by the percpu SDK. Do not edit. */
#include "fw.h"
#include "percpu.h"

${input.vars.map((v) => `extern const uint8_t fw_init_${v.layout.name}[${v.layout.size}];`).join("\n")}
${[...new Set(emitter.tables.map((l) => l.replace(/ = .*$/, ";").replace(/^const/, "extern const")))].join("\n")}
${[...new Set(ext)].join("\n")}

void ${name}(uintptr_t cpu) {
${body.join("\n")}
}
`;
  return { text, checks };
}

/**
 * Generates the firmware test program for a generator input (the layout whose
 * values it expects and the accessors it calls).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { firmwareProgram } from "./program.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * const input = generatorInput(sdk.layout("riscv64"), resolveConfig({ arch: "riscv64", cpus: 4 }));
 * const { files, expectedChecks } = firmwareProgram(input, { inline: false });
 * // files["main.c"] defines fw_main; expectedChecks counts the lines of a passing run
 * ```
 */
export function firmwareProgram(input: GenInput, options: ProgramOptions = {}): FirmwareProgram {
  const opts: Required<ProgramOptions> = {
    inline: options.inline ?? true,
    hammer: options.hammer ?? DEFAULT_HAMMER,
    timeoutMs: options.timeoutMs ?? defaultBarrierIdleMs(input.config.cpus),
  };
  const slots = collectSlots(input);
  const emitter = new Emitter();
  const extern = roundC(input, slots, emitter, { inline: false, hammer: opts.hammer, barrierBase: 1 });
  const inline = opts.inline ? roundC(input, slots, emitter, { inline: true, hammer: opts.hammer, barrierBase: 32 }) : null;
  const initTables = input.vars.map((v) => initArray(`fw_init_${v.layout.name}`, v.layout.init));
  const files: Record<string, string> = {
    "fw.h": header(input, opts),
    "main.c": mainC(input, emitter, initTables, inline !== null),
    "checks.c": extern.text,
  };
  if (inline) files["checks_generic.c"] = inline.text;
  const perCpu = 1 + extern.checks + (inline?.checks ?? 0) + 1; // reg + rounds + hooks total
  return {
    files,
    sources: Object.keys(files).filter((f) => f.endsWith(".c")),
    expectedChecks: perCpu * input.config.cpus + 1, // + CPU 0's runtime check
  };
}
