/**
 * The targets the SDK lays out and generates for, with the few facts the
 * layout needs. Everything else about an architecture lives in `arch/`.
 *
 * @module
 */
import { z } from "zod";
import { fail } from "./errors.ts";

/** Every supported target architecture. */
export const TARGETS = ["x86_64", "aarch64", "riscv64", "riscv32", "loongarch64"] as const;

/** A target architecture. */
export type Target = typeof TARGETS[number];

/** Layout-relevant facts of a target. */
export interface TargetInfo {
  /** Size and alignment of `usize`/`isize` and of pointers. */
  readonly pointerBytes: 4 | 8;
  /** Alignment of 64-bit scalars (u64/i64/f64). */
  readonly align64: 4 | 8;
  /**
   * Whether each area starts with a pointer to itself. x86_64 needs it because
   * GS_BASE cannot be read cheaply in kernel mode (rdmsr); one `mov reg, gs:[0]`
   * yields the base instead.
   */
  readonly selfPointer: boolean;
}

/** One row per target. */
export const TARGET_INFO = {
  x86_64: { pointerBytes: 8, align64: 8, selfPointer: true },
  aarch64: { pointerBytes: 8, align64: 8, selfPointer: false },
  riscv64: { pointerBytes: 8, align64: 8, selfPointer: false },
  // The RISC-V ILP32 psABI keeps 8-byte alignment for 64-bit scalars.
  riscv32: { pointerBytes: 4, align64: 8, selfPointer: false },
  loongarch64: { pointerBytes: 8, align64: 8, selfPointer: false },
} as const satisfies Record<Target, TargetInfo>;

/** zod schema of a target name. */
export const targetSchema: z.ZodType<Target> = z.enum(TARGETS);

/** Validates a target name, throwing `target_unknown`. */
export function checkTarget(target: unknown): Target {
  const parsed = targetSchema.safeParse(target);
  if (!parsed.success) {
    fail("target_unknown", [], `Unknown target ${JSON.stringify(String(target))}: expected one of ${TARGETS.join(", ")}`);
  }
  return parsed.data;
}
