/**
 * The contract every architecture backend implements. The generation input
 * it receives is declared in the ground (`sdk/config.ts`, `sdk/plan.ts`).
 * Every fact about an architecture lives in its own file
 * (`arch/x86_64.ts`, ...); nothing else knows about registers.
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import type { Target } from "../sdk/targets.ts";

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
  /** The line-comment marker of the arch's assembler (`#`, `//`). */
  readonly commentChar: string;
  /**
   * `percpu.S` after the data every arch shares (`commonData` of
   * arch/_asm.ts): the runtime and the per-variable functions of
   * `input.vars` (none when it is empty). `percpuAssembly` puts the two together.
   */
  code(input: GenInput): string;
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
   * Whether the leaves of `atomic: true` variables get their own kind tokens
   * in `percpu.h` (`pka_u64` instead of `pk_u64`, see `atomicKindToken`) so
   * that the arch's primitives can lock them (x86_64); absent: the arch's
   * integer RMW primitives already are atomics on the address.
   */
  readonly atomicKinds?: boolean;
  /**
   * Whether the leaves of `counter: true` variables get their own kind
   * tokens in `percpu.h` (`pkc_u64`, see `counterKindToken`) whose counter
   * ops skip the guard (`PERCPU__CG_ENTER_`/`EXIT_` empty); the arch's
   * primitives wrap their counter ops in those macros (aarch64, riscv,
   * loongarch: the address is computed apart from the atomic).
   */
  readonly counterKinds?: boolean;
  /**
   * C definitions used when `PERCPU_INLINE` is defined in a header generated
   * with `functions`: every per-variable function as a `static inline` function
   * with inline asm (runtime functions stay extern).
   */
  inlineC(input: GenInput): string;
}
