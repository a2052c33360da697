/**
 * The u128 checks shared by the FFI tests of static u128 leaves
 * (tests/u128_test.ts) and of u128 allocations (tests/dynamic_alloc_test.ts):
 * one handle through every u128 op, at values around 2^64 and at 2^128 − 1.
 */
import assert from "node:assert/strict";

/** All 128 bits set. */
export const U128_MAX = (1n << 128n) - 1n;

/** A value with both halves non-zero and distinct. */
export const U128_BIG = 0x0123456789abcdef_fedcba9876543210n;

/** The u128 methods of a variable, leaf or allocation handle (one type for loops over all of them). */
export interface U128Handle {
  readCurrent(): bigint;
  readCurrentRaw(): bigint;
  writeCurrent(v: bigint): void;
  writeCurrentRaw(v: bigint): void;
  remoteRead(cpu: number): bigint;
  remoteWrite(cpu: number, v: bigint): void;
  cmpxchg128Current(expected: bigint, desired: bigint): bigint;
}

/**
 * Runs every u128 op of `h` on this thread's CPU `current` and on another
 * CPU `other`, for 2^128 − 1, {@link U128_BIG}, 2^64, 2^64 − 1 and 0: the
 * guarded and raw reads and writes, the remote ones, `cmpxchg128Current`
 * hitting (the old value returned, the new one stored) and missing by the
 * high half only and by the low half only (the value found returned, nothing
 * stored). Ends with `other`'s copy 0 and `current`'s {@link U128_BIG}.
 */
export function exerciseU128(h: U128Handle, current: number, other: number): void {
  const [MAX, BIG] = [U128_MAX, U128_BIG];
  for (const v of [MAX, BIG, 1n << 64n, (1n << 64n) - 1n, 0n]) {
    h.writeCurrent(v);
    assert.equal(h.readCurrent(), v);
    assert.equal(h.readCurrentRaw(), v);
    assert.equal(h.remoteRead(current), v, "the current CPU's copy, remotely");
    h.writeCurrentRaw(v ^ MAX);
    assert.equal(h.readCurrent(), v ^ MAX);
    h.remoteWrite(other, v);
    assert.equal(h.remoteRead(other), v);
    assert.equal(h.cmpxchg128Current(v ^ MAX, BIG), v ^ MAX, "hit: the old value");
    assert.equal(h.readCurrent(), BIG, "a hit stores the new value");
    assert.equal(h.cmpxchg128Current(BIG ^ (1n << 64n), MAX), BIG, "a miss by the high half returns the value found");
    assert.equal(h.readCurrent(), BIG, "a miss stores nothing");
    assert.equal(h.cmpxchg128Current(BIG ^ 1n, MAX), BIG, "a miss by the low half returns the value found");
    assert.equal(h.readCurrent(), BIG, "a miss stores nothing");
  }
  assert.equal(h.remoteRead(other), 0n, "the other CPU keeps its own copy");
}
