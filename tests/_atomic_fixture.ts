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

/** What the test hands each Worker (tests/_workers.ts carries it). */
export interface AtomicTask {
  readonly tag: string;
  readonly cpus: number;
  readonly cpu: number;
  readonly m: number;
}
