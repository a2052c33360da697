/**
 * Shared fast-check arbitraries: random type trees (every scalar, arrays,
 * structs, `aligned()`), valid values of a type, and a rough size bound to
 * keep samples small. Used by the layout-against-C test and the generation
 * tests.
 *
 * @module
 */
import fc from "fast-check";
import type { LoweredScalarName } from "../sdk/c_names.ts";
import { aligned, array, bool, f32, f64, i16, i32, i64, i8, isize, type PercpuType, struct, u16, u32, u64, u8, usize } from "../mod.ts";

/** Every scalar type by name that every target generates accessors for (u128 has its own tests: tests/u128_test.ts). */
export const SCALARS: Record<LoweredScalarName, PercpuType> = { u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, bool, f32, f64 };
/** Alignments `aligned()` accepts, 1 to a page. */
export const ALIGNS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
/** Field names the random structs draw from. */
export const FIELD_NAMES = ["a", "b", "count", "hits", "x1", "y_2", "Flag", "lo", "hi", "z"];

/** A random type tree. */
export const typeArb: fc.Arbitrary<PercpuType> = fc.letrec<{ type: PercpuType; array: PercpuType; struct: PercpuType; aligned: PercpuType }>(
  (tie) => ({
    type: fc.oneof(
      { maxDepth: 4, depthSize: "small", depthIdentifier: "type" },
      { arbitrary: fc.constantFrom(...Object.values(SCALARS)), weight: 5 },
      { arbitrary: tie("array"), weight: 2 },
      { arbitrary: tie("struct"), weight: 3 },
      { arbitrary: tie("aligned"), weight: 1 },
    ),
    array: fc.tuple(tie("type"), fc.integer({ min: 1, max: 4 })).map(([e, n]) => array(e, n)),
    struct: fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELD_NAMES), tie("type")), { minLength: 1, maxLength: 4, selector: (f) => f[0] })
      .map((fields) => struct(Object.fromEntries(fields))),
    aligned: fc.tuple(tie("type"), fc.constantFrom(...ALIGNS)).map(([t, a]) => aligned(t, a)),
  }),
).type;

/** Random valid values of a type (usize/isize within 32 bits so every target accepts them). */
export function valueArb(t: PercpuType): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case "scalar": {
      const int = (min: number, max: number) => fc.integer({ min, max });
      const big = (min: bigint, max: bigint) => fc.bigInt({ min, max });
      switch (t.name) {
        case "u8": return int(0, 255);
        case "u16": return int(0, 65535);
        case "u32": return int(0, 2 ** 32 - 1);
        case "i8": return int(-128, 127);
        case "i16": return int(-32768, 32767);
        case "i32": return int(-(2 ** 31), 2 ** 31 - 1);
        // 64-bit inits may be bigints or safe-integer numbers.
        case "u64": return fc.oneof(big(0n, 2n ** 64n - 1n), fc.maxSafeNat());
        case "i64": return fc.oneof(big(-(2n ** 63n), 2n ** 63n - 1n), fc.maxSafeInteger());
        case "usize": return fc.oneof(big(0n, 2n ** 32n - 1n), int(0, 2 ** 32 - 1));
        case "isize": return fc.oneof(big(-(2n ** 31n), 2n ** 31n - 1n), int(-(2 ** 31), 2 ** 31 - 1));
        case "bool": return fc.boolean();
        case "f32": return fc.float({ noNaN: true });
        case "f64": return fc.double({ noNaN: true });
      }
      throw new Error("unreachable");
    }
    case "array": return fc.array(valueArb(t.element), { minLength: t.length, maxLength: t.length });
    case "struct": return fc.record(Object.fromEntries(Object.entries(t.fields).map(([k, ft]) => [k, valueArb(ft)])));
    case "aligned": return valueArb(t.inner);
  }
}

/** Size on the largest-layout target, computed here (not by the SDK) only to keep areas small. */
export function roughSize(t: PercpuType): number {
  switch (t.kind) {
    case "scalar": return 8;
    case "array": return t.length * roughSize(t.element);
    case "struct": return Object.values(t.fields).reduce((s, f) => s + roughSize(f) + 8, 0);
    case "aligned": return roughSize(t.inner) + t.align;
  }
}

