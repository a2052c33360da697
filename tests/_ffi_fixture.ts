/**
 * Variables shared by the multi-Worker FFI test and its Worker script: both
 * sides must define the same variables to load the same cached library.
 *
 * @module
 */
import { createPercpu, type PercpuSdk, type PercpuVar, type ScalarType, u32, u64 } from "../mod.ts";

/** The counters each Worker increments on its own CPU. */
export interface Counters {
  readonly sdk: PercpuSdk;
  readonly HITS: PercpuVar<ScalarType<"u64">>;
  readonly SMALL: PercpuVar<ScalarType<"u32">>;
}

/** Defines the counters on a fresh SDK instance; `tag` keeps libraries of different runs apart. */
export function defineCounters(tag: string): Counters {
  const sdk = createPercpu();
  const HITS = sdk.define(`HITS_${tag}`, u64, 0);
  const SMALL = sdk.define(`SMALL_${tag}`, u32, 0);
  return { sdk, HITS, SMALL };
}

/** Message from the test to a Worker. */
export interface WorkerTask {
  readonly tag: string;
  readonly cpus: number;
  readonly cpu: number;
  readonly m: number;
  /** Int32Array over it: [0] = go flag. */
  readonly barrier: SharedArrayBuffer;
}

/** Messages from a Worker. */
export type WorkerReport =
  | { readonly type: "ready"; readonly cpu: number }
  | {
    readonly type: "done";
    readonly cpu: number;
    readonly hits: bigint;
    readonly small: number;
    readonly reg: bigint;
    readonly base: bigint;
    readonly ms: number;
  }
  | { readonly type: "error"; readonly cpu: number; readonly message: string };
