/**
 * The adapter registry: picks the FFI adapter of the running runtime
 * (`deno.ts`, `bun.ts`, `node.ts`) and opens libraries through it. The only
 * module that imports the adapters, each through a dynamic import so that a
 * runtime never loads another's FFI module (`bun:ffi`, koffi).
 *
 * @module
 */
import { fail } from "../sdk/errors.ts";
import type { FfiAdapter, FfiRuntime, FfiSignatures, NativeLibrary } from "./contract.ts";

/** Loaders of every runtime's adapter: adding a runtime to {@link FfiRuntime} is a compile error here. */
const ADAPTERS = {
  deno: () => import("./deno.ts"),
  bun: () => import("./bun.ts"),
  node: () => import("./node.ts"),
} satisfies Record<FfiRuntime, () => Promise<FfiAdapter>>;

const loaded = new Map<FfiRuntime, FfiAdapter>();

async function adapterFor(runtime: FfiRuntime): Promise<FfiAdapter> {
  const hit = loaded.get(runtime);
  if (hit) return hit;
  const mod: FfiAdapter = await ADAPTERS[runtime]();
  loaded.set(runtime, mod);
  return mod;
}

/**
 * Detects the runtime from its globals (Deno first: it also defines `process`).
 *
 * @example
 * ```ts
 * import { detectRuntime } from "./adapters.ts";
 * console.log(detectRuntime()); // "deno", "bun", "node" or null
 * ```
 */
export function detectRuntime(): FfiRuntime | null {
  const g = globalThis as { Deno?: unknown; Bun?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  if (typeof g.process?.versions?.node === "string") return "node";
  return null;
}

/**
 * Opens a shared library with typed signatures through the adapter of the
 * running runtime (`Deno.dlopen`, `bun:ffi` or koffi).
 *
 * @example
 * ```ts
 * import { openLibrary } from "./adapters.ts";
 * const lib = await openLibrary("/tmp/libm.so", { answer: { params: [], result: "u32" } } as const);
 * console.log(lib.symbols.answer()); // a number
 * lib.close();
 * ```
 */
export async function openLibrary<const S extends FfiSignatures>(
  path: string,
  signatures: S,
): Promise<NativeLibrary<S>> {
  const runtime = detectRuntime();
  if (runtime === null) {
    fail("native_unsupported_runtime", [], "Cannot open a native library: this JS runtime is not Deno, Bun or Node");
  }
  const adapter = await adapterFor(runtime);
  let lib: NativeLibrary<S>;
  try {
    lib = adapter.open(path, signatures);
  } catch (e) {
    fail(
      "native_build_failed",
      [],
      `Cannot open native library ${JSON.stringify(path)} on ${runtime}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const bind = lib.bind.bind(lib);
  return Object.assign(lib, {
    bind<const B extends FfiSignatures>(more: B) {
      try {
        return bind(more);
      } catch (e) {
        if (e instanceof Error && e.name === "PercpuError") throw e;
        fail(
          "native_build_failed",
          [],
          `Cannot bind ${Object.keys(more).join(", ")} in ${JSON.stringify(path)} on ${runtime}: ${
            e instanceof Error ? e.message : String(e)
          }`,
        );
      }
    },
  });
}
