/**
 * Bun adapter of the FFI contract: `bun:ffi` `dlopen`.
 *
 * @module
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { batchedLibrary, type FfiSignatures, type FfiType, type NativeLibrary } from "./contract.ts";

const BUN_TYPES: { readonly [K in FfiType]: FFIType } = {
  void: FFIType.void,
  bool: FFIType.bool,
  u8: FFIType.u8,
  i8: FFIType.i8,
  u16: FFIType.u16,
  i16: FFIType.i16,
  u32: FFIType.u32,
  i32: FFIType.i32,
  u64: FFIType.u64,
  i64: FFIType.i64,
  usize: FFIType.u64,
  isize: FFIType.i64,
  f32: FFIType.f32,
  f64: FFIType.f64,
};

/**
 * Opens `path` with `bun:ffi`. 64-bit results come back as `bigint`
 * (`u64`/`i64`, not the `_fast` variants), ≤ 32-bit ones as `number`.
 *
 * @example
 * ```ts
 * import { open } from "./bun.ts";
 * const lib = open("/tmp/libx.so", { answer: { params: [], result: "u32" } });
 * ```
 */
export function open<S extends FfiSignatures>(path: string, signatures: S): NativeLibrary<S> {
  return batchedLibrary(path, "bun", "number", signatures, (sigs) => {
    const defs: Record<string, { args: FFIType[]; returns: FFIType }> = {};
    for (const [name, sig] of Object.entries(sigs)) {
      defs[name] = { args: sig.params.map((p) => BUN_TYPES[p]), returns: BUN_TYPES[sig.result] };
    }
    return dlopen(path, defs);
  }, (buffer) => BigInt(ptr(buffer)));
}
