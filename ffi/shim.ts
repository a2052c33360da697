/**
 * `shim.c`: the C half of the host shim, compiled with the generated
 * user-mode `percpu.S` into one shared library. It owns the native per-CPU
 * areas, provides counting guard hooks (only when a feature needs them, so
 * with both features off no hook symbol exists in the library at all), a
 * guard pair for `withCurrent`, and empty functions used as FFI-cost floors.
 *
 * @module
 */
import { type CSignature, leafSignature } from "../arch/c_types.ts";
import type { Features } from "../sdk/config.ts";
import { isRemoteOp, LEAF_OP_SPECS } from "../sdk/ops.ts";
import type { GenInput, PlacedLeaf, PlacedU128Leaf } from "../sdk/plan.ts";
import { type LeafOp, leafOps } from "../sdk/symbols.ts";
import type { FfiSignature } from "./contract.ts";

/** Indices of the hook counters `percpu_shim_hook_count(i)` returns. */
export const HOOK_COUNTERS = ["preemptDisable", "preemptEnable", "irqSave", "irqRestore"] as const;

/** Native functions the shim exports beyond the generated runtime, with their FFI signatures. */
export const SHIM_SIGNATURES = {
  /** Initialises `n` areas in the shim's own aligned storage (`percpu_init`'s result, or -3 when `n` exceeds it). */
  percpu_shim_init: { params: ["usize"], result: "isize" },
  /** How many areas the shim's storage holds (the `cpus` the library was generated for). */
  percpu_shim_capacity: { params: [], result: "usize" },
  /** Address of the shim's storage (area 0 after `percpu_shim_init`). */
  percpu_shim_areas: { params: [], result: "usize" },
  /** Guard for `withCurrent`: preempt off, irq saved; returns the irq flags. */
  percpu_shim_guard_enter: { params: [], result: "usize" },
  /** Releases the guard taken by `percpu_shim_guard_enter`. */
  percpu_shim_guard_exit: { params: ["usize"], result: "void" },
  /** Calling thread's count of one hook (see {@link HOOK_COUNTERS}). */
  percpu_shim_hook_count: { params: ["u32"], result: "u64" },
  /** Calling thread's preempt-disable depth. */
  percpu_shim_preempt_depth: { params: [], result: "i32" },
  /** Whether the calling thread's simulated interrupts are off (1) or on (0). */
  percpu_shim_irq_disabled: { params: [], result: "u32" },
  /** Zeroes the calling thread's hook counters (depth and irq state are kept). */
  percpu_shim_hooks_reset: { params: [], result: "void" },
  /** Bit 0: preempt hooks compiled in; bit 1: irq hooks. */
  percpu_shim_features: { params: [], result: "u32" },
  /** Empty functions (return the constant 90): the FFI call floor for 32- and 64-bit results. */
  percpu_shim_empty_u32: { params: [], result: "u32" },
  percpu_shim_empty_u64: { params: [], result: "u64" },
  /** Address of the read-only template (`__percpu_template`), the host's `.percpu` load image: `symbolVma()` is it plus the offset. */
  percpu_shim_template: { params: [], result: "usize" },
  /**
   * Claims a CPU id for the calling thread in the library's owner table (one
   * atomic compare-and-swap; shared by every thread and every SDK instance
   * that opened this file): `shared` 0 = exclusively, 1 = shared with other
   * threads that claim it shared too. On success (0) the thread's previous
   * claim, if another, is released; 1 = another thread holds it exclusively,
   * 2 = other threads share it (an exclusive claim fails), -1 = no such CPU.
   */
  percpu_shim_claim: { params: ["usize", "u32"], result: "isize" },
  /** Releases the calling thread's claim (nothing when it holds none); a thread's claim is also released when it exits. */
  percpu_shim_release: { params: [], result: "void" },
  /** Who holds a CPU id: 0 nobody, -1 one thread exclusively, k > 0 k threads sharing it (-2: no such CPU). */
  percpu_shim_cpu_holders: { params: ["usize"], result: "isize" },
  /** The CPU id the calling thread has claimed, or -1. */
  percpu_shim_claimed_cpu: { params: [], result: "isize" },
} as const satisfies Record<string, FfiSignature>;

/**
 * The shim's wrapper of a leaf function that takes an index (an element of
 * a long array, `percpu_BIG_add_current(i, v)` → `percpu__ix_BIG_add_current`):
 * the same function with its CPU and index parameters as `uint32_t`. Every
 * CPU id and index fits (arrays have at most 2^31 elements, areas at most
 * 2 GiB), and a 32-bit argument is what every runtime passes fastest (Bun
 * converts a JS number to a 64-bit argument through a slow helper). A user's
 * symbol cannot take the name: variable names never start with `_`.
 *
 * @example
 * ```ts
 * import { indexedWrapper } from "./shim.ts";
 * indexedWrapper("percpu_BIG_add_current"); // "percpu__ix_BIG_add_current"
 * ```
 */
export function indexedWrapper(fn: string): string {
  return `percpu__ix_${fn.slice("percpu_".length)}`;
}

/**
 * The C signature of {@link indexedWrapper}'s function of a leaf op: the
 * leaf function's, with the CPU (remote ops) and index parameters as
 * `uint32_t` (the values keep their type, `uintptr_t` for a `usize` leaf).
 *
 * @example
 * ```ts
 * import { indexedWrapperSignature } from "./shim.ts";
 * import type { PlacedLeaf } from "../sdk/plan.ts";
 * declare const bigLeaf: PlacedLeaf; // the element leaf of `BIG: array(u32, 64)`
 * indexedWrapperSignature(bigLeaf, "add_current").name; // "percpu__ix_BIG_add_current"
 * ```
 */
export function indexedWrapperSignature(leaf: PlacedLeaf, op: LeafOp): CSignature {
  const sig = leafSignature(leaf, op);
  const lead = (isRemoteOp(op) ? 1 : 0) + leaf.indices.length;
  return {
    name: indexedWrapper(sig.name),
    ret: sig.ret,
    params: sig.params.map((p, i) => (i < lead ? { type: "uint32_t", name: p.name } : p)),
  };
}

/** The C definitions of the {@link indexedWrapper}s of every leaf function with an index parameter. */
function indexedWrapperLines(input: GenInput): string[] {
  const out: string[] = [];
  for (const v of input.vars) {
    for (const leaf of v.leaves) {
      if (leaf.indices.length === 0) continue;
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        const w = indexedWrapperSignature(leaf, op);
        const params = w.params.map((p) => `${p.type} ${p.name}`).join(", ");
        const call = `${sig.name}(${sig.params.map((p) => p.name).join(", ")})`;
        out.push(`${w.ret} ${w.name}(${params}) { ${w.ret === "void" ? "" : "return "}${call}; }`);
      }
    }
  }
  return out;
}

/** The hook-related part of a configuration. */
/**
 * The shim's wrapper of a u128 leaf function (FFI has no 128-bit type):
 * `percpu__w_SLOT__pair_read_current`. It takes the CPU (remote ops) and
 * the indices as 32-bit numbers, then the address of a 32-byte buffer of
 * four `uint64_t`: the values in (low half first: `v`, or `expected` then
 * `desired`) and the value returned out, in `buf[0..1]`.
 *
 * @example
 * ```ts
 * import { u128Wrapper } from "./shim.ts";
 * u128Wrapper("percpu_SLOT__pair_cmpxchg128_current"); // "percpu__w_SLOT__pair_cmpxchg128_current"
 * ```
 */
export function u128Wrapper(fn: string): string {
  return `percpu__w_${fn.slice("percpu_".length)}`;
}

/** The FFI signature of {@link u128Wrapper} for an op of a leaf: the CPU and indices as `u32`, then the buffer. */
export function u128WrapperSignature(leaf: PlacedU128Leaf, op: LeafOp): FfiSignature {
  const lead = (isRemoteOp(op) ? 1 : 0) + leaf.indices.length;
  return { params: [...new Array<"u32">(lead).fill("u32"), "usize"], result: "void" };
}

/**
 * A C function `name` taking the `lead` parameters (C declarations) and a
 * buffer of four `uint64_t`, whose body is `call` of the lead arguments
 * and the u128 values of op `op` read from the buffer (low half first), and
 * writes a returned value back into `buf[0..1]`: the FFI face of a u128 op
 * (FFI has no 128-bit type), for the static leaves' wrappers and the
 * dynamic accessors of runtime_shim.c alike.
 *
 * @example
 * ```ts
 * import { u128BufferFunction } from "./shim.ts";
 * u128BufferFunction("w", "read_current", [], (args) => `f(${args.join(", ")})`);
 * // "void w(uint64_t *buf) { unsigned __int128 r = f(); buf[0] = (uint64_t)r; buf[1] = (uint64_t)(r >> 64); }"
 * ```
 */
export function u128BufferFunction(
  name: string,
  op: LeafOp,
  lead: readonly { readonly type: string; readonly name: string }[],
  call: (args: readonly string[]) => string,
): string {
  const spec = LEAF_OP_SPECS[op];
  const params = [...lead.map((p) => `${p.type} ${p.name}`), "uint64_t *buf"].join(", ");
  const values = spec.values.map((_, i) => `((unsigned __int128)buf[${2 * i + 1}] << 64 | buf[${2 * i}])`);
  const e = call([...lead.map((p) => p.name), ...values]);
  const body = spec.returns === "value" ? `unsigned __int128 r = ${e}; buf[0] = (uint64_t)r; buf[1] = (uint64_t)(r >> 64);` : `${e};`;
  return `void ${name}(${params}) { ${body} }`;
}

/** The C of every u128 wrapper ({@link u128Wrapper}): the CPU and indices as 32-bit numbers, then the buffer. */
function u128WrapperLines(input: GenInput): string[] {
  const out: string[] = [];
  for (const v of input.vars) {
    for (const leaf of v.u128Leaves) {
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        const lead = sig.params.slice(0, sig.params.length - LEAF_OP_SPECS[op].values.length).map((p) => ({ type: "uint32_t", name: p.name }));
        out.push(u128BufferFunction(u128Wrapper(sig.name), op, lead, (args) => `${sig.name}(${args.join(", ")})`));
      }
    }
  }
  return out;
}

export type ShimFeatures = Pick<Features, "preempt" | "irq">;

/**
 * Generates `shim.c` for a generation input (it includes the generated
 * `percpu.h`). The counters are per thread (`__thread`), so each Worker sees
 * its own exact counts.
 */
export function generateShim(input: GenInput): string {
  const { layout, config } = input;
  const { preempt, irq } = config.features;
  const lines = [
    `/* shim.c: generated by the percpu SDK (host FFI shim, ${config.cpus} CPUs${preempt ? ", preempt" : ""}${
      irq ? ", irq" : ""
    }). Do not edit. */`,
    "#include <stdbool.h>",
    "#include <stdint.h>",
    '#include "percpu.h"',
    "",
    `#define SHIM_CPUS ${config.cpus}u`,
    `#define SHIM_PREEMPT ${preempt ? 1 : 0}`,
    `#define SHIM_IRQ ${irq ? 1 : 0}`,
    "",
    `static _Alignas(${layout.areaAlign}) unsigned char shim_areas[(uintptr_t)SHIM_CPUS * ${layout.stride}u];`,
    "",
    "intptr_t percpu_shim_init(uintptr_t n) {",
    "  if (n == 0 || n > SHIM_CPUS) return -3;",
    "  return percpu_init((uintptr_t)shim_areas, n);",
    "}",
    "uintptr_t percpu_shim_capacity(void) { return SHIM_CPUS; }",
    "uintptr_t percpu_shim_areas(void) { return (uintptr_t)shim_areas; }",
    "",
    "static __thread uint64_t shim_counts[4];",
    "static __thread int32_t shim_preempt_depth;",
    "static __thread uintptr_t shim_irq_off;",
    "",
    "#if SHIM_PREEMPT",
    "void percpu_preempt_disable(void) { shim_counts[0]++; shim_preempt_depth++; }",
    "void percpu_preempt_enable(void) { shim_counts[1]++; shim_preempt_depth--; }",
    "#endif",
    "#if SHIM_IRQ",
    "uintptr_t percpu_irq_save(void) { uintptr_t flags = shim_irq_off; shim_counts[2]++; shim_irq_off = 1; return flags; }",
    "void percpu_irq_restore(uintptr_t flags) { shim_counts[3]++; shim_irq_off = flags; }",
    "#endif",
    "",
    "uintptr_t percpu_shim_guard_enter(void) {",
    "  uintptr_t flags = 0;",
    "#if SHIM_PREEMPT",
    "  percpu_preempt_disable();",
    "#endif",
    "#if SHIM_IRQ",
    "  flags = percpu_irq_save();",
    "#endif",
    "  return flags;",
    "}",
    "void percpu_shim_guard_exit(uintptr_t flags) {",
    "  (void)flags;",
    "#if SHIM_IRQ",
    "  percpu_irq_restore(flags);",
    "#endif",
    "#if SHIM_PREEMPT",
    "  percpu_preempt_enable();",
    "#endif",
    "}",
    "",
    "uint64_t percpu_shim_hook_count(uint32_t which) { return which < 4 ? shim_counts[which] : 0; }",
    "int32_t percpu_shim_preempt_depth(void) { return shim_preempt_depth; }",
    "uint32_t percpu_shim_irq_disabled(void) { return shim_irq_off != 0; }",
    "void percpu_shim_hooks_reset(void) { for (int i = 0; i < 4; i++) shim_counts[i] = 0; }",
    "uint32_t percpu_shim_features(void) { return SHIM_PREEMPT | (SHIM_IRQ << 1); }",
    "",
    "/* FFI-cost floors: nothing but a constant (non-zero, so a BigInt result costs what a real value costs). */",
    "uint32_t percpu_shim_empty_u32(void) { return 90; }",
    "uint64_t percpu_shim_empty_u64(void) { return 90; }",
    "",
    "/* The template (the initial area, read-only): the host's .percpu load image, which symbol_vma addresses. */",
    'extern const unsigned char __percpu_template[] __attribute__((visibility("hidden")));',
    "uintptr_t percpu_shim_template(void) { return (uintptr_t)__percpu_template; }",
    "",
    ...CLAIM_LINES,
    "/* 32-bit-index wrappers of the indexed leaf functions (see indexedWrapper in ffi/shim.ts). */",
    ...indexedWrapperLines(input),
    "/* u128 leaf wrappers: values through a uint64_t[4] buffer (see u128Wrapper in ffi/shim.ts). */",
    ...u128WrapperLines(input),
    "",
  ];
  return lines.join("\n");
}

/**
 * The CPU owner table (`percpu_shim_claim` and friends): one word per CPU id
 * (0 free, 1 held by one thread, 2k shared by k threads) changed only by
 * atomic compare-and-swap, the calling thread's claim in thread-local
 * storage, and a pthread key whose destructor releases the claim of a thread
 * that exits still holding one (deleted when the library is unloaded, so no
 * destructor ever points into an unmapped library).
 */
const CLAIM_LINES: readonly string[] = [
  "/* CPU owner table: one thread per CPU unless every holder shares it. */",
  "#include <pthread.h>",
  "#include <stdatomic.h>",
  "static _Atomic uintptr_t shim_owner[SHIM_CPUS];",
  "static __thread intptr_t shim_held = -1;",
  "static __thread uintptr_t shim_held_weight;",
  "static pthread_key_t shim_exit_key;",
  "static pthread_once_t shim_key_once = PTHREAD_ONCE_INIT;",
  "static int shim_key_ok;",
  "static void shim_drop(void) {",
  "  if (shim_held < 0) return;",
  "  atomic_fetch_sub(&shim_owner[shim_held], shim_held_weight);",
  "  shim_held = -1;",
  "  shim_held_weight = 0;",
  "  if (shim_key_ok) pthread_setspecific(shim_exit_key, NULL);",
  "}",
  "static void shim_thread_exit(void *unused) { (void)unused; shim_drop(); }",
  "static void shim_key_create(void) { shim_key_ok = pthread_key_create(&shim_exit_key, shim_thread_exit) == 0; }",
  "__attribute__((destructor)) static void shim_unload(void) { if (shim_key_ok) { shim_key_ok = 0; pthread_key_delete(shim_exit_key); } }",
  "intptr_t percpu_shim_claim(uintptr_t cpu, uint32_t shared) {",
  "  if (cpu >= SHIM_CPUS) return -1;",
  "  uintptr_t weight = shared ? 2 : 1;",
  "  uintptr_t mine = shim_held == (intptr_t)cpu ? shim_held_weight : 0;",
  "  if (mine == weight) return 0;",
  "  pthread_once(&shim_key_once, shim_key_create);",
  "  uintptr_t cur = atomic_load(&shim_owner[cpu]);",
  "  for (;;) {",
  "    uintptr_t others = cur - mine;",
  "    if (others == 1) return 1;",
  "    if (!shared && others != 0) return 2;",
  "    if (atomic_compare_exchange_weak(&shim_owner[cpu], &cur, others + weight)) break;",
  "  }",
  "  if (mine == 0 && shim_held >= 0) atomic_fetch_sub(&shim_owner[shim_held], shim_held_weight);",
  "  shim_held = (intptr_t)cpu;",
  "  shim_held_weight = weight;",
  "  if (shim_key_ok) pthread_setspecific(shim_exit_key, (void *)1);",
  "  return 0;",
  "}",
  "void percpu_shim_release(void) { shim_drop(); }",
  "intptr_t percpu_shim_cpu_holders(uintptr_t cpu) {",
  "  if (cpu >= SHIM_CPUS) return -2;",
  "  uintptr_t w = atomic_load(&shim_owner[cpu]);",
  "  return w == 1 ? -1 : (intptr_t)(w / 2);",
  "}",
  "intptr_t percpu_shim_claimed_cpu(void) { return shim_held; }",
  "",
];
