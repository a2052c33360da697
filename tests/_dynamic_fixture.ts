/**
 * Shared by tests/dynamic_alloc_test.ts and its Worker script
 * (tests/_dynamic_worker.ts): the SDK both sides load (same cached library,
 * so one allocator and one set of areas) and the messages.
 *
 * @module
 */
import { createPercpu, type PercpuSdk, u64 } from "../mod.ts";

/** Bytes of the dynamic region of the Worker test. */
export const WORKER_DYNAMIC = 4 * 1024;

/** The SDK of the Worker test (one static variable, a dynamic region). */
export function dynamicSdk(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("STATIC_DYN", u64, 7);
  return sdk;
}

/** What the test hands each Worker (tests/_workers.ts carries it). */
export interface DynamicTask {
  readonly cpus: number;
  readonly worker: number;
  readonly steps: number;
}

/** What a Worker reports when it is done. */
export interface DynamicSummary {
  readonly allocs: number;
  readonly frees: number;
  readonly exhausted: number;
  /** Pattern mismatches seen (0 unless two live allocations overlapped). */
  readonly corrupt: number;
  /** Blocks that were not zero on some CPU when handed out. */
  readonly dirty: number;
  /** Offsets not aligned as asked or outside the region. */
  readonly misplaced: number;
  /** Bytes the Worker still holds at the end (verified, then kept for the test to check the stats). */
  readonly liveBytes: number;
  readonly live: number;
}
