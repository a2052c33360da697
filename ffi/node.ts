/**
 * Node adapter of the FFI contract: koffi (ffi-napi does not build on Node 20).
 *
 * @module
 */
import koffi from "koffi";
import { type FfiSignatures, type FfiType, isWideFfiType, type NativeLibrary } from "./contract.ts";

const KOFFI_TYPES: { readonly [K in FfiType]: string } = {
  void: "void",
  bool: "bool",
  u8: "uint8_t",
  i8: "int8_t",
  u16: "uint16_t",
  i16: "int16_t",
  u32: "uint32_t",
  i32: "int32_t",
  u64: "uint64_t",
  i64: "int64_t",
  usize: "uintptr_t",
  isize: "intptr_t",
  f32: "float",
  f64: "double",
};

/**
 * Opens `path` with koffi. koffi returns 64-bit results as a `number` when
 * they are safe integers; they are converted so that they are always `bigint`.
 *
 * @example
 * ```ts
 * import { open } from "./node.ts";
 * const lib = open("/tmp/libx.so", { answer: { params: [], result: "u32" } });
 * ```
 */
export function open<S extends FfiSignatures>(path: string, signatures: S): NativeLibrary<S> {
  const lib = koffi.load(path);
  let open = true;
  const load = (sigs: FfiSignatures): Record<string, unknown> => {
    if (!open) throw new Error(`${path} was closed`);
    const symbols: Record<string, (...args: unknown[]) => unknown> = {};
    for (const [name, sig] of Object.entries(sigs)) {
      const fn = lib.func(name, KOFFI_TYPES[sig.result], sig.params.map((p) => KOFFI_TYPES[p])) as (
        ...args: unknown[]
      ) => unknown;
      symbols[name] = isWideFfiType(sig.result) ? (...args: unknown[]) => BigInt(fn(...args) as number | bigint) : fn;
    }
    return symbols;
  };
  let symbols: Record<string, unknown>;
  try {
    symbols = load(signatures);
  } catch (e) {
    lib.unload();
    throw e;
  }
  return {
    path,
    runtime: "node",
    wideArgs: "number",
    symbols: symbols as NativeLibrary<S>["symbols"],
    bind: (more) => load(more) as never,
    addressOf: (buffer) => BigInt(koffi.address(buffer)),
    close(): void {
      if (!open) return;
      open = false;
      lib.unload();
    },
  };
}
