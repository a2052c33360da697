/**
 * Variables and messages shared by tests/atomic_test.ts and its Worker script
 * (tests/_atomic_worker.ts): both sides define the same variables to load the
 * same cached library.
 *
 * @module
 */
import { createPercpu, type PercpuSdk, type PercpuVar, type ScalarType, u64 } from "../mod.ts";

/** The counters of the test: both sides define them alike to load the same cached library. */
export interface AtomicCounters {
  readonly sdk: PercpuSdk;
  readonly EXACT: PercpuVar<ScalarType<"u64">>;
  readonly LOSSY: PercpuVar<ScalarType<"u64">>;
}

/** Defines the counters on a fresh SDK instance. */
export function defineAtomicCounters(tag: string): AtomicCounters {
  const sdk = createPercpu();
  const EXACT = sdk.define(`EXACT_${tag}`, u64, 0, { atomic: true });
  const LOSSY = sdk.define(`LOSSY_${tag}`, u64, 0);
  return { sdk, EXACT, LOSSY };
}

/** Message from the test to a Worker. */
export interface AtomicTask {
  readonly tag: string;
  readonly cpus: number;
  readonly cpu: number;
  readonly m: number;
  /** Int32Array over it: [0] = go flag. */
  readonly barrier: SharedArrayBuffer;
}

/** Messages from a Worker. */
export type AtomicReport =
  | { readonly type: "ready"; readonly cpu: number }
  | { readonly type: "done"; readonly cpu: number }
  | { readonly type: "error"; readonly cpu: number; readonly message: string };
