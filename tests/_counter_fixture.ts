/**
 * Shared by tests/counter_test.ts and its Worker script (tests/_counter_worker.ts):
 * both sides define the same counter (so they load the same cached library)
 * and draw the same seeded signed values, so the test knows every Worker's
 * prefix sums.
 *
 * @module
 */
import { createPercpu, type PercpuCounter, type PercpuSdk } from "../mod.ts";

/** The counter of the Worker test. */
export function defineCounter(tag: string, batch: number): { sdk: PercpuSdk; COUNT: PercpuCounter } {
  const sdk = createPercpu();
  const COUNT = sdk.counter(`COUNT_${tag}`, { batch });
  return { sdk, COUNT };
}

/**
 * The `m` signed values CPU `cpu` adds (xorshift32 seeded by the CPU): mostly
 * in −20..20, every 97th one ±2^33 (past i32: always folded at once).
 */
export function counterValues(cpu: number, m: number): BigInt64Array {
  const out = new BigInt64Array(m);
  let x = (0x9e3779b9 ^ (cpu * 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < m; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const small = BigInt((x % 41) - 20);
    out[i] = i % 97 === 96 ? (x & 1 ? 1n : -1n) << 33n : small;
  }
  return out;
}

/** What the test hands each Worker (tests/_workers.ts carries it). */
export interface CounterTask {
  readonly tag: string;
  readonly batch: number;
  readonly cpus: number;
  readonly cpu: number;
  readonly m: number;
  /** Int32Array over it: [cpu] adds completed by that CPU. */
  readonly progress: SharedArrayBuffer;
}
