/**
 * The runtime-neutral FFI contract: a shared library opened with typed call
 * signatures, and the helpers every adapter shares. One adapter per runtime
 * implements it (`deno.ts`, `bun.ts`, `node.ts`); this module imports none of
 * them — `adapters.ts` is the registry that picks the one of the running runtime.
 *
 * @module
 */

/** C types a native function may take or return (`usize` = `uintptr_t`). */
export const FFI_TYPES = [
  "void",
  "bool",
  "u8",
  "i8",
  "u16",
  "i16",
  "u32",
  "i32",
  "u64",
  "i64",
  "usize",
  "isize",
  "f32",
  "f64",
] as const;

/** One C type of the contract. */
export type FfiType = typeof FFI_TYPES[number];

/** C types passed to and from JS as `bigint` (64-bit and pointer-sized integers). */
export type WideFfiType = "u64" | "i64" | "usize" | "isize";

/** The call signature of one native function. */
export interface FfiSignature {
  readonly params: readonly FfiType[];
  readonly result: FfiType;
}

/** Signatures by symbol name. */
export type FfiSignatures = { readonly [name: string]: FfiSignature };

/** JS type of a result: `bigint` for 64-bit ints, `number` below and for floats, `boolean`, `undefined` for void. */
export type FfiResult<T extends FfiType> = T extends "void" ? void
  : T extends "bool" ? boolean
  : T extends WideFfiType ? bigint
  : number;

/** JS type accepted for an argument: 64-bit ints take a `bigint` or a safe-integer `number`. */
export type FfiArg<T extends FfiType> = T extends "bool" ? boolean
  : T extends WideFfiType ? bigint | number
  : number;

/** JS argument types of a parameter list. */
export type FfiArgs<P extends readonly FfiType[]> = { -readonly [K in keyof P]: FfiArg<P[K]> };

/** A callable native function typed by its signature. */
export type NativeFunction<S extends FfiSignature> = (...args: FfiArgs<S["params"]>) => FfiResult<S["result"]>;

/** The JS runtimes with an adapter. */
export type FfiRuntime = "deno" | "bun" | "node";

/**
 * An opened shared library: its functions by name, typed by the signatures
 * it was opened with. Results follow {@link FfiResult} on every runtime.
 */
export interface NativeLibrary<S extends FfiSignatures = FfiSignatures> {
  /** Absolute path of the shared object. */
  readonly path: string;
  /** The runtime whose adapter opened it. */
  readonly runtime: FfiRuntime;
  /**
   * The faster JS form of a 64-bit integer argument on this runtime: Deno's
   * fast calls take only `bigint` (a `number` drops to a ~50× slower path),
   * Bun and koffi convert a `number` faster than a `bigint`. Both are accepted.
   */
  readonly wideArgs: "bigint" | "number";
  /** Callable functions by symbol name. */
  readonly symbols: { readonly [K in keyof S]: NativeFunction<S[K]> };
  /**
   * Binds more functions of the same file later (synchronously), so a large
   * library only pays for the symbols it uses; `close()` releases them too.
   */
  bind<const B extends FfiSignatures>(signatures: B): { readonly [K in keyof B]: NativeFunction<B[K]> };
  /**
   * The native address of a non-empty buffer's first byte, through this
   * runtime's FFI (ArrayBuffer memory never moves: the address holds while
   * the buffer lives).
   */
  addressOf(buffer: ArrayBuffer | SharedArrayBuffer): bigint;
  /** Unloads the library (the OS keeps it mapped while other threads still hold it open). Idempotent. */
  close(): void;
}

/** One `dlopen` of a batch of symbols, as a runtime returns it. */
export interface OpenedBatch {
  readonly symbols: Record<string, unknown>;
  close(): void;
}

/**
 * Builds a {@link NativeLibrary} for runtimes that open one handle per batch
 * of symbols (Deno, Bun): `openBatch` binds the initial signatures and each
 * later `bind()`; `close()` releases every handle once, and binding after it throws.
 */
export function batchedLibrary<S extends FfiSignatures>(
  path: string,
  runtime: FfiRuntime,
  wideArgs: "bigint" | "number",
  signatures: S,
  openBatch: (signatures: FfiSignatures) => OpenedBatch,
  addressOf: (buffer: ArrayBuffer | SharedArrayBuffer) => bigint,
): NativeLibrary<S> {
  const handles: OpenedBatch[] = [];
  let open = true;
  const load = (sigs: FfiSignatures): Record<string, unknown> => {
    if (!open) throw new Error(`${path} was closed`);
    const batch = openBatch(sigs);
    handles.push(batch);
    return batch.symbols;
  };
  return {
    path,
    runtime,
    wideArgs,
    symbols: load(signatures) as NativeLibrary<S>["symbols"],
    bind: (more) => load(more) as never,
    addressOf,
    close(): void {
      if (!open) return;
      open = false;
      for (const h of handles.splice(0)) h.close();
    },
  };
}

/** What each adapter module exports (checked by the registry in `adapters.ts`). */
export interface FfiAdapter {
  /** Opens `path` with `signatures`; a missing symbol or an unloadable file throws. */
  open<S extends FfiSignatures>(path: string, signatures: S): NativeLibrary<S>;
}

/** Whether a result type comes back as a `bigint`. */
export function isWideFfiType(t: FfiType): t is WideFfiType {
  return t === "u64" || t === "i64" || t === "usize" || t === "isize";
}
