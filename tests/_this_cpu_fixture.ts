/**
 * Variables and messages shared by tests/this_cpu_ops_test.ts and its Worker
 * script (tests/_this_cpu_worker.ts): both sides define the same variables to
 * load the same cached library.
 *
 * @module
 */
import { createPercpu, type PercpuSdk, type PercpuVar, type ScalarType, u64 } from "../mod.ts";

/** The counters: `SEQ` (each CPU's own, `addReturnCurrent`), `CAS` (`atomic: true`, shared by Workers on one CPU). */
export interface ThisCpuCounters {
  readonly sdk: PercpuSdk;
  readonly SEQ: PercpuVar<ScalarType<"u64">>;
  readonly CAS: PercpuVar<ScalarType<"u64">>;
}

/** Defines the counters on a fresh SDK instance. */
export function defineThisCpuCounters(tag: string): ThisCpuCounters {
  const sdk = createPercpu();
  const SEQ = sdk.define(`SEQ_${tag}`, u64, 0);
  const CAS = sdk.define(`CAS_${tag}`, u64, 0, { atomic: true });
  return { sdk, SEQ, CAS };
}

/** Message from the test to a Worker. */
export interface ThisCpuTask {
  readonly tag: string;
  readonly cpus: number;
  /** Which Worker this is (two may share a CPU). */
  readonly id: number;
  readonly cpu: number;
  readonly m: number;
  /** `add_return`: M `SEQ.addReturnCurrent(1)` on the Worker's own CPU; `try`: M `CAS` increments by a `tryCmpxchgCurrent` retry loop on a CPU bound `{ shared: true }`. */
  readonly mode: "add_return" | "try";
  /** Int32Array over it: [0] = go flag. */
  readonly barrier: SharedArrayBuffer;
}

/** Messages from a Worker. */
export type ThisCpuReport =
  | { readonly type: "ready"; readonly id: number }
  | {
    readonly type: "done";
    readonly id: number;
    /** add_return: the first return value that was not the previous one plus 1 (null: every one was). */
    readonly broken: string | null;
    /** try: the failed attempts (each reported the value found, which the retry used). */
    readonly retries: number;
  }
  | { readonly type: "error"; readonly id: number; readonly message: string };
