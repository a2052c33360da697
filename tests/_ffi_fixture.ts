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

/** What the test hands each Worker (tests/_workers.ts carries it). */
export interface WorkerTask {
  readonly tag: string;
  readonly cpus: number;
  readonly cpu: number;
  readonly m: number;
}

/** What a Worker reports when done: its own reads of its counters and register. */
export interface WorkerResult {
  readonly hits: bigint;
  readonly small: number;
  readonly reg: bigint;
  readonly base: bigint;
  readonly ms: number;
}
