/**
 * The C spelling of every scalar type (freestanding `<stdint.h>`/`<stdbool.h>`):
 * the one table the plan, the header, the FFI signatures and the firmware
 * checks share.
 *
 * @module
 */
import { SCALAR_NAMES, type ScalarName } from "./types.ts";

/** C type of each scalar. */
const C_SCALAR_TYPES = {
  u8: "uint8_t",
  u16: "uint16_t",
  u32: "uint32_t",
  u64: "uint64_t",
  usize: "uintptr_t",
  i8: "int8_t",
  i16: "int16_t",
  i32: "int32_t",
  i64: "int64_t",
  isize: "intptr_t",
  bool: "bool",
  f32: "float",
  f64: "double",
  u128: "unsigned __int128",
} as const satisfies Record<ScalarName, string>;

/**
 * The C type of a scalar (freestanding `<stdint.h>`/`<stdbool.h>`).
 *
 * @example
 * ```ts
 * import { cScalarType } from "./c_names.ts";
 * cScalarType("usize"); // "uintptr_t"
 * ```
 */
export function cScalarType(name: ScalarName): string {
  return C_SCALAR_TYPES[name];
}

/** A leaf's scalar kind: pointer-sized types resolved for the target. */
export type LeafKind = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "bool" | "f32" | "f64";

/** The scalars up to 64 bits, which share the per-kind tables of every backend (u128 leaves have their own lowering, see sdk/plan.ts `PlacedU128Leaf`). */
export type LoweredScalarName = Exclude<ScalarName, "u128">;

/** The {@link LoweredScalarName}s, in `SCALAR_NAMES` order (the dynamic-allocation accessors are made for each). */
export const LOWERED_SCALAR_NAMES: readonly LoweredScalarName[] = SCALAR_NAMES.filter((n): n is LoweredScalarName => n !== "u128");

/** The kind of a scalar on a target with `pointerBytes`-wide pointers. */
export function leafKind(scalar: LoweredScalarName, pointerBytes: number): LeafKind {
  if (scalar === "usize") return pointerBytes === 8 ? "u64" : "u32";
  if (scalar === "isize") return pointerBytes === 8 ? "i64" : "i32";
  return scalar;
}

/**
 * The preprocessor token of a kind in `PERCPU_L_*` data and primitive names
 * (`pk_u64`): prefixed so that no macro of the including code (`bool` is one,
 * from stdbool.h) can expand it before it is pasted.
 */
export function kindToken(kind: LeafKind): string {
  return `pk_${kind}`;
}

/**
 * The kind token of u128 leaves in `PERCPU_L_*` data: its primitive selector
 * (`PERCPU__W_pk_u128`) sends every generic accessor to the 128-bit family
 * (`PERCPU__RD_G` → `PERCPU__RD_G_U128`), so no per-kind table of an arch
 * has to hold a 16-byte scalar.
 */
export const U128_KIND_TOKEN = "pk_u128";

/** Suffix of the primitives of u128 leaves in `percpu.h` (`PERCPU__RD_G_U128`, `PERCPU__CMPXCHG128_AT_U128`). */
export const U128_PRIMITIVE_SUFFIX = "_U128";

/**
 * The token of an `atomic: true` variable's kind on arches that lock its
 * read-modify-write ops in `percpu.h` (x86_64): `pka_u64`.
 *
 * @example
 * ```ts
 * import { atomicKindToken } from "./c_names.ts";
 * atomicKindToken("u64"); // "pka_u64"
 * ```
 */
export function atomicKindToken(kind: LeafKind): string {
  return `pka_${kind}`;
}

/**
 * The token of a `counter: true` variable's kind on arches whose counter ops
 * in `percpu.h` are guarded by default (aarch64, riscv, loongarch): `pkc_u64`,
 * whose `PERCPU__CG_ENTER_`/`EXIT_` are empty.
 *
 * @example
 * ```ts
 * import { counterKindToken } from "./c_names.ts";
 * counterKindToken("u64"); // "pkc_u64"
 * ```
 */
export function counterKindToken(kind: LeafKind): string {
  return `pkc_${kind}`;
}
