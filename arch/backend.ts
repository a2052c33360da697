/**
 * The contract every architecture backend implements, and the normalised
 * generation input they receive. Every fact about an architecture lives in
 * its own file (`arch/x86_64.ts`, ...); nothing else knows about registers.
 *
 * @module
 */
import type { Layout, VarLayout } from "../sdk/layout.ts";
import type { AccessorLeaf } from "../sdk/symbols.ts";
import type { Target } from "../sdk/targets.ts";

/** `kernel`: bare metal / kernel code. `user`: a hosted Linux process (x86_64 only). */
export type Mode = "kernel" | "user";

/** Optional behaviours of the generated code. */
export interface Features {
  /** Guarded ops call `percpu_preempt_disable/enable` around multi-instruction sequences. */
  readonly preempt: boolean;
  /** Guarded ops call `percpu_irq_save/restore` around multi-instruction sequences. */
  readonly irq: boolean;
  /** One CPU, plain globals, no per-CPU register (like the seed's `sp-naive`). */
  readonly naive: boolean;
  /** aarch64 only: use TPIDR_EL2 (hypervisors). */
  readonly el2: boolean;
}

/** A validated, normalised generation request. */
export interface GenConfig {
  readonly arch: Target;
  /** Number of CPU areas the linker script / in-place init reserves (1 with `naive`). */
  readonly cpus: number;
  readonly mode: Mode;
  readonly features: Features;
  /**
   * Whether `percpu.S` carries the out-of-line per-variable functions (and
   * `percpu.h` their prototypes): default off in kernel mode, on in user mode.
   */
  readonly functions: boolean;
}

/** An accessor leaf placed in the area: `areaOffset` is relative to the per-CPU register. */
export interface PlacedLeaf extends AccessorLeaf {
  /** The variable the leaf belongs to. */
  readonly varName: string;
  /** Offset of the leaf (element 0 of indexed dims) from the area base. */
  readonly areaOffset: number;
  /** C type of the scalar: `uint64_t`, `int8_t`, `bool`, `float`, ... */
  readonly cType: string;
}

/** A variable and its accessor leaves. */
export interface PlacedVar {
  readonly layout: VarLayout;
  readonly leaves: readonly PlacedLeaf[];
}

/** Everything a backend needs to generate code. */
export interface GenInput {
  readonly layout: Layout;
  readonly config: GenConfig;
  readonly vars: readonly PlacedVar[];
}

/** One architecture: its toolchain flags and its code generators. */
export interface ArchBackend {
  readonly arch: Target;
  /** Name of the per-CPU base register (for docs and pictures), e.g. `GS_BASE`, `TPIDR_EL1`. */
  readonly registerName: string;
  /** clang-19 flags selecting the target and ABI for kernel-mode C and asm (`--target=...`, `-march`, ...). */
  readonly clangFlags: readonly string[];
  /** Whether `mode: "user"` (hosted Linux) is supported. */
  readonly supportsUserMode: boolean;
  /**
   * Rejects what this arch cannot generate (an offset beyond reach, an
   * unsupported feature) with a `PercpuError`; called before generating.
   */
  check(input: GenInput): void;
  /** The complete `percpu.S` (the per-variable functions of `input.vars`; none when it is empty). */
  assembly(input: GenInput): string;
  /**
   * The arch's fixed block of `percpu.h` primitives (see emit/percpu_h.ts):
   * `PERCPU__BASE()` and any of `PERCPU__RD`, `PERCPU__WR`, `PERCPU__RD_G`,
   * `PERCPU__WR_G`, `PERCPU__ADD`/`SUB`/`AND`/`OR`/`XOR`, `PERCPU__XCHG`,
   * `PERCPU__CMPXCHG` (constant offsets) and their `_AT` forms (any offset)
   * it specialises; the generic fallback provides the rest. Independent of
   * the variables (not called in naive mode).
   */
  headerPrimitives(input: GenInput): string;
  /**
   * C definitions used when `PERCPU_INLINE` is defined in a header generated
   * with `functions`: every per-variable function as a `static inline` function
   * with inline asm (runtime functions stay extern).
   */
  inlineC(input: GenInput): string;
}
