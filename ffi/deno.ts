/**
 * Deno adapter of the FFI contract: `Deno.dlopen`. Declares the few ambient
 * types it needs instead of pulling in Deno's type package.
 *
 * @module
 */
import { batchedLibrary, type FfiSignatures, type FfiType, type NativeLibrary } from "./contract.ts";

type DenoNativeType = Exclude<FfiType, "void">;

interface DenoForeignFunction {
  readonly parameters: readonly DenoNativeType[];
  readonly result: DenoNativeType | "void";
}

interface DenoDynamicLibrary {
  readonly symbols: Record<string, (...args: unknown[]) => unknown>;
  close(): void;
}

interface DenoFfi {
  dlopen(path: string, symbols: Record<string, DenoForeignFunction>): DenoDynamicLibrary;
  UnsafePointer: { of(buffer: ArrayBuffer | SharedArrayBuffer): unknown; value(pointer: unknown): bigint | number };
}

/**
 * Opens `path` with `Deno.dlopen`. Deno's type names match the contract's
 * one to one, and 64-bit results already come back as `bigint`.
 *
 * @example
 * ```ts
 * import { open } from "./deno.ts";
 * const lib = open("/tmp/libx.so", { answer: { params: [], result: "u32" } });
 * ```
 */
export function open<S extends FfiSignatures>(path: string, signatures: S): NativeLibrary<S> {
  const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  return batchedLibrary(path, "deno", "bigint", signatures, (sigs) => {
    const defs: Record<string, DenoForeignFunction> = {};
    for (const [name, sig] of Object.entries(sigs)) {
      defs[name] = { parameters: sig.params.map((p) => p as DenoNativeType), result: sig.result };
    }
    // Each dlopen binds only its own symbols (Deno compiles a fast-call trampoline per symbol).
    return deno.dlopen(path, defs);
  }, (buffer) => BigInt(deno.UnsafePointer.value(deno.UnsafePointer.of(buffer))));
}
