/**
 * Small shared fixtures: operand bit patterns for read-modify-write checks
 * and a run of scalars of every width that several backend tests lay out first.
 *
 * @module
 */
import { f64, i16, i64, type PercpuSdk, u32, u64, u8 } from "../mod.ts";

/** Operand bit patterns covering wrap-around, sign bits, all-ones and equal operands (mask them to the width). */
export const OPERAND_SAMPLES: readonly bigint[] = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x123456789abcdefn,
  0x8000000000000000n,
  0xffffffffffffffffn,
];

/** Defines `B8` (u8), `H16` (i16), `W32` (u32), `D64` (u64), `S64` (i64) and `F64V` (f64), in that order. */
export function defineScalarsOfEveryWidth(sdk: PercpuSdk): void {
  sdk.define("B8", u8, 1);
  sdk.define("H16", i16, -2);
  sdk.define("W32", u32, 3);
  sdk.define("D64", u64, 4n);
  sdk.define("S64", i64, -4n);
  sdk.define("F64V", f64, 0.5);
}
