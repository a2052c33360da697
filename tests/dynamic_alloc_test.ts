/**
 * Dynamic per-CPU allocation (`generate/load({ dynamic })`, `percpu_alloc` /
 * `percpu_free`, `sdk.alloc()`): the region in the layout, the linker script
 * and percpu.json (proven by linking), the allocator's contract in C
 * (exhaustion, coalescing, alignment, double free and foreign offsets, zero
 * fill and templates, accessors on offsets), C threads and FFI Workers
 * allocating and freeing concurrently with a unique pattern per block on
 * every CPU. (Under QEMU on every arch: tests/runtime_firmware_test.ts.)
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { aligned, array, createPercpu, PercpuError, type PercpuSdk, struct, u128, u16, u32, u64, u8 } from "../mod.ts";
import { test } from "./_harness.ts";
import { exerciseU128, U128_BIG, U128_MAX } from "./_u128_fixture.ts";
import { withTempDir } from "./_tmp.ts";
import { elfSymbols, linkKernel, run, runOk } from "./_toolchain.ts";
import { KERNEL, percpu as percpuCli, selfEntry } from "./_cli.ts";
import { readFile } from "node:fs/promises";
import { type DynamicSummary, type DynamicTask, dynamicSdk, WORKER_DYNAMIC } from "./_dynamic_fixture.ts";
import { WorkerGroup } from "./_workers.ts";

test("generate({ dynamic }) reserves the region after the static variables in every area, in percpu.h, percpu.ld and percpu.json; the linked kernel image has it", () =>
  withTempDir("dyn-gen", async (dir) => {
    const sdk = createPercpu();
    sdk.define("A", u64, 1);
    sdk.define("B", aligned(u8, 128), 2);
    const plain = sdk.layout("aarch64");
    const out = sdk.generate({ arch: "aarch64", cpus: 4, dynamic: 1000 });
    const dyn = out.layout.dynamic!;
    assert.deepEqual(dyn, { offset: 256, size: 1000 }, "after the statics, at the area alignment, rounded to 8 bytes");
    assert.equal(out.layout.areaSize, 1256);
    assert.equal(out.layout.stride, 1280);
    assert.equal(plain.dynamic, undefined);
    assert.deepEqual(out.manifest.dynamic, dyn);
    assert.deepEqual(JSON.parse(out.files["percpu.json"]).dynamic, dyn);
    assert.ok(out.files["percpu.h"].includes("#define PERCPU_DYNAMIC_START 256u"));
    const gen = await linkKernel(out, dir);
    assert.equal(gen.code, 0, gen.stderr);
    const syms = await elfSymbols(gen.elf);
    assert.equal(syms.get("_percpu_end")! - syms.get("_percpu_start")!, 4n * 1280n, "4 areas of the grown stride");
    assert.equal(syms.get("_percpu_load_end")! - syms.get("_percpu_load_start")!, 1256n, "the template includes the region");
    assert.throws(() => createPercpu().generate({ arch: "riscv64", dynamic: 2 ** 21 }), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
    const empty = createPercpu().generate({ arch: "riscv64", dynamic: 64 });
    assert.deepEqual(empty.layout.dynamic, { offset: 64, size: 64 }, "never at offset 0 (0 means no allocation)");
  }), { only: ["deno"] });

test("percpu gen --dynamic BYTES writes the region into percpu.json and percpu_runtime.c; a bad count is a usage error", () =>
  withTempDir("dyn-cli", async (dir) => {
    const r = await percpuCli(selfEntry(), ["gen", KERNEL, "--arch", "loongarch64", "--dynamic", "2048", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(await readFile(join(dir, "percpu.json"), "utf8"));
    assert.equal(manifest.dynamic.size, 2048);
    assert.match(await readFile(join(dir, "percpu_runtime.c"), "utf8"), /uintptr_t percpu_alloc\(uintptr_t size, uintptr_t align\)/);
    const bad = await percpuCli(selfEntry(), ["gen", KERNEL, "--arch", "riscv64", "--dynamic", "-1", "--out", dir]);
    assert.equal(bad.code, 2);
  }), { only: ["deno"] });

/** The allocator's contract, in C, on the host (4 CPUs, a 4 KiB region). */
const CONTRACT_C = `#include <stdio.h>
#include <string.h>
#include "percpu.h"
static int fails;
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\\n", __LINE__, #c); fails++; } } while (0)
static struct percpu_alloc_stats st(void) { struct percpu_alloc_stats s; percpu_alloc_stats(&s); return s; }
int main(void) {
  CHECK(percpu_init_in_place() == 4);
  uintptr_t b[16];
  int n = 0;
  while (n < 16 && (b[n] = percpu_alloc(512, 8)) != 0) n++;
  CHECK(n == PERCPU_DYNAMIC_SIZE / 512);
  CHECK(st().used == PERCPU_DYNAMIC_SIZE && st().largest_free == 0 && st().failures == 1 && st().allocations == 8);
  for (int i = 1; i < n; i++) CHECK(b[i] == b[i - 1] + 512);
  CHECK(percpu_free(b[1]) == 0 && percpu_free(b[3]) == 0 && percpu_free(b[5]) == 0);
  CHECK(st().largest_free == 512 && st().free == 1536);
  CHECK(percpu_free(b[2]) == 0);
  CHECK(st().largest_free == 1536);
  CHECK(percpu_alloc(1024, 8) == b[1]);
  CHECK(percpu_free(b[1]) == 0);
  CHECK(percpu_free(b[0]) == 0 && percpu_free(b[4]) == 0 && percpu_free(b[6]) == 0);
  CHECK(st().largest_free == PERCPU_DYNAMIC_SIZE - 512);
  CHECK(percpu_free(b[7]) == 0);
  CHECK(st().used == 0 && st().largest_free == PERCPU_DYNAMIC_SIZE);
  /* double free, foreign offsets: reported, the allocator unchanged */
  CHECK(percpu_free(b[0]) == -1);
  CHECK(percpu_free(0) == -2);
  CHECK(percpu_free(PERCPU_DYNAMIC_START + 4) == -2);
  CHECK(percpu_free(PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE) == -2);
  uintptr_t x = percpu_alloc(64, 8);
  CHECK(percpu_free(x + 8) == -1);
  CHECK(st().used == 64 && st().allocations == 1);
  CHECK(percpu_free(x) == 0 && percpu_free(x) == -1);
  CHECK(st().used == 0 && st().largest_free == PERCPU_DYNAMIC_SIZE);
  /* alignment up to the area alignment */
  uintptr_t pad = percpu_alloc(1, 1);
  for (uintptr_t a = 1; a <= PERCPU_AREA_ALIGN; a *= 2) {
    uintptr_t o = percpu_alloc(a + 1, a);
    CHECK(o != 0 && o % a == 0 && ((uintptr_t)percpu_ptr(o, 3)) % a == 0);
  }
  CHECK(percpu_alloc(8, 2 * PERCPU_AREA_ALIGN) == 0);
  CHECK(percpu_alloc(8, 3) == 0 && percpu_alloc(0, 8) == 0 && percpu_alloc(PERCPU_DYNAMIC_SIZE + 1, 8) == 0);
  (void)pad;
  /* zero fill on every CPU after reuse, templates */
  uintptr_t z = percpu_alloc(64, 64);
  for (uintptr_t c = 0; c < 4; c++) memset(percpu_ptr(z, c), 0xab, 64);
  CHECK(percpu_free(z) == 0);
  uintptr_t z2 = percpu_alloc(64, 64);
  CHECK(z2 == z);
  for (uintptr_t c = 0; c < 4; c++) for (int i = 0; i < 64; i++) CHECK(((unsigned char *)percpu_ptr(z2, c))[i] == 0);
  unsigned char tmpl[40];
  for (int i = 0; i < 40; i++) tmpl[i] = (unsigned char)(i * 7 + 1);
  uintptr_t t = percpu_alloc_init(40, 8, tmpl);
  for (uintptr_t c = 0; c < 4; c++) CHECK(memcmp(percpu_ptr(t, c), tmpl, 40) == 0);
  /* the generic accessors on offsets */
  percpu_init_reg(2);
  percpu_write_current_dyn(u64, t, 5);
  percpu_add_current_dyn(u64, t, 3);
  CHECK(percpu_remote_read_dyn(u64, t, 2) == 8 && *(uint64_t *)percpu_ptr(t, 2) == 8 && percpu_read_current_dyn(u64, t) == 8);
  CHECK(percpu_cmpxchg_current_dyn(u64, t, 8, 11) == 8 && percpu_read_current_raw_dyn(u64, t) == 11);
  CHECK(*(uint64_t *)percpu_ptr(t, 1) != 11);
  percpu_remote_write_dyn(u16, t + 8, 0, 0xbeef);
  percpu_remote_add_dyn(u16, t + 8, 0, 1);
  CHECK(percpu_remote_read_dyn(u16, t + 8, 0) == 0xbef0);
  CHECK(*(uint64_t *)percpu_this_ptr(t) == 11);
  printf("%d\\n", fails);
  return fails != 0;
}
`;

test("C: percpu_alloc/percpu_free exhaust the region, coalesce on free, align up to the area alignment, report double frees and foreign offsets, zero-fill or copy a template on every CPU", () =>
  withTempDir("dyn-c", async (dir) => {
    const sdk = createPercpu();
    sdk.define("DYNAMIC", u32, 1); // its PERCPU_DYNAMIC_OFFSET must not clash with the region's macros
    sdk.counter("COUNTERS");
    await sdk.generate({ arch: "x86_64", mode: "user", cpus: 4, dynamic: 4096 }).write(dir);
    await writeFile(join(dir, "t.c"), CONTRACT_C);
    await runOk("cc", ["-O2", "-Wall", "-Werror", "-o", "t", "t.c", "percpu.S", "percpu_runtime.c"], { cwd: dir });
    const r = await run(join(dir, "t"), []);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), "0");
  }), { only: ["deno"] });

/** C threads, steps per thread, region bytes of the concurrent C workload. */
const CT = 4;
const CSTEPS = 10_000;
const CREGION = 16 * 1024;

/** T threads allocating random sizes and alignments, a unique pattern per block on every CPU, checked before each free and at the end. */
const WORKLOAD_C = `#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include "percpu.h"
#define T ${CT}
#define STEPS ${CSTEPS}
#define MAXLIVE 64
static volatile int go;
static long corrupt[T], dirty[T], exhausted[T], allocs[T], misplaced[T];
typedef struct { uintptr_t off, size; uint32_t seq; } blk;
static blk live[T][MAXLIVE];
static int nlive[T];
static uint8_t pat(int t, uint32_t seq, uintptr_t cpu, uintptr_t i) { return (uint8_t)(t * 61 + seq * 31 + cpu * 7 + i * 3 + 1); }
static void verify(int t, blk *b) {
  for (uintptr_t c = 0; c < T; c++) {
    volatile uint8_t *p = percpu_ptr(b->off, c);
    for (uintptr_t i = 0; i < b->size; i++) if (p[i] != pat(t, b->seq, c, i)) corrupt[t]++;
  }
}
static void *worker(void *arg) {
  int t = (int)(uintptr_t)arg;
  uint32_t x = 0x9e3779b9u * (uint32_t)(t + 1), seq = 0;
  while (!go) {}
  for (int s = 0; s < STEPS; s++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    if (nlive[t] == 0 || (nlive[t] < MAXLIVE && x % 100 < (nlive[t] < 16 ? 60u : 40u))) {
      uintptr_t size = 1 + (x >> 8) % 512, align = (uintptr_t)1 << ((x >> 20) % 7);
      uintptr_t off = percpu_alloc(size, align);
      if (off == 0) {
        exhausted[t]++;
        if (nlive[t] > 0) { blk *v = &live[t][--nlive[t]]; verify(t, v); if (percpu_free(v->off) != 0) corrupt[t]++; }
        continue;
      }
      allocs[t]++;
      if (off % align != 0 || off < PERCPU_DYNAMIC_START || off + size > PERCPU_DYNAMIC_START + PERCPU_DYNAMIC_SIZE) misplaced[t]++;
      blk *b = &live[t][nlive[t]++];
      b->off = off; b->size = size; b->seq = ++seq;
      for (uintptr_t c = 0; c < T; c++) {
        volatile uint8_t *p = percpu_ptr(off, c);
        for (uintptr_t i = 0; i < size; i++) { if (p[i] != 0) dirty[t]++; p[i] = pat(t, b->seq, c, i); }
      }
    } else {
      int k = (int)((x >> 4) % (uint32_t)nlive[t]);
      verify(t, &live[t][k]);
      if (percpu_free(live[t][k].off) != 0) corrupt[t]++;
      live[t][k] = live[t][--nlive[t]];
    }
  }
  for (int k = 0; k < nlive[t]; k++) verify(t, &live[t][k]);
  return 0;
}
int main(void) {
  if (percpu_init_in_place() != T) return 2;
  pthread_t th[T];
  for (uintptr_t t = 0; t < T; t++) pthread_create(&th[t], 0, worker, (void *)t);
  go = 1;
  for (int t = 0; t < T; t++) pthread_join(th[t], 0);
  long c = 0, d = 0, e = 0, a = 0, m = 0;
  for (int t = 0; t < T; t++) { c += corrupt[t]; d += dirty[t]; e += exhausted[t]; a += allocs[t]; m += misplaced[t]; }
  struct percpu_alloc_stats s;
  percpu_alloc_stats(&s);
  uintptr_t held = 0;
  for (int t = 0; t < T; t++) for (int k = 0; k < nlive[t]; k++) held += (live[t][k].size + 7) / 8 * 8;
  printf("%ld %ld %ld %ld %ld %lu %lu %lu %lu ", c, d, e, a, m, (unsigned long)held, (unsigned long)s.used, (unsigned long)s.free, (unsigned long)s.largest_free);
  for (int t = 0; t < T; t++) for (int k = 0; k < nlive[t]; k++) if (percpu_free(live[t][k].off) != 0) c++;
  percpu_alloc_stats(&s);
  printf("%ld %lu %lu %lu\\n", c, (unsigned long)s.used, (unsigned long)s.largest_free, (unsigned long)s.allocations);
  return 0;
}
`;

test(
  `C: ${CT} threads x ${CSTEPS} random allocations and frees (sizes 1..512, alignments 1..64) never overlap on any CPU, blocks come zeroed, and the region coalesces back to one block`,
  () =>
    withTempDir("dyn-threads", async (dir) => {
      const sdk = createPercpu();
      sdk.define("S", u64, 1);
      await sdk.generate({ arch: "x86_64", mode: "user", cpus: CT, dynamic: CREGION }).write(dir);
      await writeFile(join(dir, "w.c"), WORKLOAD_C);
      await runOk("cc", ["-O2", "-Wall", "-Werror", "-pthread", "-o", "w", "w.c", "percpu.S", "percpu_runtime.c"], { cwd: dir });
      const r = await run(join(dir, "w"), [], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const [corrupt, dirty, exhausted, allocs, misplaced, held, used, free, largest, corruptAfter, usedAfter, largestAfter, allocsAfter] = r.stdout.trim().split(" ").map(Number);
      assert.equal(corrupt, 0, "no pattern overwritten: no two live blocks overlapped");
      assert.equal(dirty, 0, "every block came zeroed on every CPU");
      assert.equal(misplaced, 0, "every offset aligned and inside the region");
      assert.equal(used, held, "used = the live blocks, in granules");
      assert.equal(used! + free!, CREGION);
      assert.deepEqual([corruptAfter, usedAfter, largestAfter, allocsAfter], [0, 0, CREGION, 0], "every block freed: one free block again");
      console.log(`     ${allocs} allocations, ${exhausted} exhaustions; after the workload ${used} bytes live, largest free block ${largest} of ${free} free (${(largest! / free!).toFixed(2)})`);
    }),
  { timeoutMs: 120_000, only: ["deno"] },
);

/** A loaded library of 2 CPUs with a 1 KiB dynamic region, initialised, this thread on CPU 1 (closed if that fails). */
async function loadedDynamicSdk(): Promise<PercpuSdk> {
  const sdk = createPercpu();
  sdk.define("S", u64, 0);
  await sdk.load({ cpus: 2, dynamic: 1024 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(1);
    return sdk;
  } catch (e) {
    sdk.close();
    throw e;
  }
}

test("sdk.alloc(type, init?) through FFI: handles with the ops of the type (scalars, arrays via at(), structs via field(); tryCmpxchgCurrent by address), zeroed or initialised on every CPU, free(), alloc_exhausted, alloc_freed, alloc_unavailable", async () => {
  const none = createPercpu();
  none.define("N", u64, 0);
  assert.throws(() => none.alloc(u64), (e: unknown) => e instanceof PercpuError && e.code === "native_not_loaded");
  await none.load({ cpus: 1 });
  try {
    assert.throws(() => none.alloc(u64), (e: unknown) => e instanceof PercpuError && e.code === "alloc_unavailable");
  } finally {
    none.close();
  }
  const sdk = await loadedDynamicSdk();
  try {
    const a = sdk.alloc(u64, 40n);
    assert.deepEqual([a.remoteRead(0), a.remoteRead(1), a.readCurrent()], [40n, 40n, 40n]);
    a.addCurrent(2);
    a.xorCurrent(1);
    assert.equal(a.cmpxchgCurrent(43n, 50n), 43n);
    assert.deepEqual([a.remoteRead(0), a.remoteRead(1), a.sum()], [40n, 50n, 90n]);
    // try_cmpxchg: `expected` goes by address (the thread's scratch buffer) and comes back as the value found.
    assert.deepEqual(a.tryCmpxchgCurrent(49n, 60n), { ok: false, value: 50n }, "a miss returns the value found");
    assert.deepEqual(a.tryCmpxchgCurrent(50n, 51n), { ok: true, value: 50n });
    assert.deepEqual([a.remoteRead(0), a.readCurrent()], [40n, 51n]);
    const arr = sdk.alloc(array(u32, 8));
    assert.equal(arr.at(7).remoteRead(0), 0);
    arr.at(3).addCurrent(-1);
    assert.equal(arr.at(3).readCurrent(), 0xffff_ffff, "RMW operands wrap as in C");
    assert.equal(arr.at(3).sum(), 0xffff_ffff);
    assert.deepEqual(arr.at(3).tryCmpxchgCurrent(-1, 7), { ok: true, value: 0xffff_ffff }, "operands wrap into u32");
    assert.deepEqual(arr.at(3).tryCmpxchgCurrent(8, 9), { ok: false, value: 7 });
    assert.deepEqual([arr.at(3).readCurrent(), arr.at(2).readCurrent(), arr.at(4).readCurrent()], [7, 0, 0]);
    assert.throws(() => arr.at(8), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range");
    assert.throws(() => a.writeCurrent(-1n), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range");
    assert.throws(() => a.remoteRead(2), (e: unknown) => e instanceof PercpuError && e.code === "native_cpu_out_of_range");
    const st = sdk.alloc(struct({ flag: u8, hist: array(u16, 4), inner: struct({ n: u64 }) }), { flag: 1, hist: [1, 2, 3, 4], inner: { n: 5n } });
    assert.deepEqual([st.field("flag").remoteRead(0), st.field("hist").at(2).remoteRead(1), st.field("inner").field("n").readCurrent()], [1, 3, 5n]);
    assert.deepEqual(st.remoteRead(1), { flag: 1, hist: [1, 2, 3, 4], inner: { n: 5n } });
    st.remoteWrite(0, { flag: 2, hist: [5, 6, 7, 8], inner: { n: 9n } });
    assert.deepEqual([st.remoteRead(0), st.field("hist").remoteRead(1)], [{ flag: 2, hist: [5, 6, 7, 8], inner: { n: 9n } }, [1, 2, 3, 4]]);
    assert.throws(() => st.writeCurrent({ flag: 1, hist: [1, 2, 3], inner: { n: 0n } }), (e: unknown) => e instanceof PercpuError && e.code === "value_wrong_kind");
    assert.throws(() => st.writeCurrent({ flag: 256, hist: [1, 2, 3, 4], inner: { n: 0n } }), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range");
    assert.equal(st.field("inner").field("n").readCurrent(), 5n, "a refused write wrote nothing");
    st.field("inner").field("n").addCurrent(10);
    assert.equal(st.field("inner").field("n").sum(), 24n);
    assert.throws(() => (st as unknown as { field(n: string): unknown }).field("nope"), (e: unknown) => e instanceof PercpuError && e.code === "value_wrong_kind");
    assert.throws(() => st.field("hist").free(), TypeError);
    st.free();
    assert.throws(() => st.field("hist").at(0).readCurrent(), (e: unknown) => e instanceof PercpuError && e.code === "alloc_freed");
    assert.throws(() => sdk.alloc(aligned(u8, 128)), (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
    const before = sdk.allocStats();
    assert.deepEqual([before.size, before.used, before.allocations], [1024, 40, 2]);
    a.free();
    assert.throws(() => a.readCurrent(), (e: unknown) => e instanceof PercpuError && e.code === "alloc_freed");
    assert.throws(() => a.free(), (e: unknown) => e instanceof PercpuError && e.code === "alloc_freed");
    const big = sdk.alloc(array(u64, 100));
    assert.throws(() => sdk.alloc(array(u64, 100)), (e: unknown) => e instanceof PercpuError && e.code === "alloc_exhausted" && e.message.includes("largest free block"));
    const b16 = sdk.alloc(u16, 0xbeef);
    assert.equal(b16.remoteRead(0), 0xbeef);
    assert.equal(b16.offset, a.offset, "first fit reuses the freed block");
    big.free();
    arr.free();
    b16.free();
    const after = sdk.allocStats();
    assert.deepEqual([after.used, after.largestFree, after.allocations], [0, 1024, 0], "everything coalesced");
  } finally {
    sdk.close();
  }
});

test("sdk.alloc(u128) through FFI: a u128, a struct with a u128 field and an array of u128, 16-aligned, every op on 2 CPUs above 2^64, cmpxchg128Current hits and misses, no sum(), bad arguments refused, alloc_freed after free()", async () => {
  const [MAX, BIG] = [U128_MAX, U128_BIG];
  const sdk = await loadedDynamicSdk();
  try {
    const pad = sdk.alloc(u8, 1);
    const one = sdk.alloc(u128, (1n << 100n) + 3n);
    const slot = sdk.alloc(struct({ seq: u64, pair: u128 }), { seq: 9n, pair: MAX });
    const ring = sdk.alloc(array(u128, 3), [1n, 1n << 64n, MAX - 1n]);
    for (const h of [one, slot, ring]) assert.equal(h.offset % 16, 0, "u128 blocks are 16-aligned");
    assert.deepEqual([one.remoteRead(0), one.readCurrent(), one.readCurrentRaw()], [(1n << 100n) + 3n, (1n << 100n) + 3n, (1n << 100n) + 3n]);
    assert.deepEqual(slot.remoteRead(0), { seq: 9n, pair: MAX });
    assert.deepEqual(ring.readCurrent(), [1n, 1n << 64n, MAX - 1n]);
    for (const h of [one, slot.field("pair"), ring.at(2)]) exerciseU128(h, 1, 0);
    assert.deepEqual([slot.field("seq").readCurrent(), ring.at(1).readCurrent(), pad.readCurrent()], [9n, 1n << 64n, 1], "the neighbours are untouched");
    assert.equal((one as unknown as { sum?: unknown }).sum, undefined, "no sum() on u128");
    assert.equal((one as unknown as { addCurrent?: unknown }).addCurrent, undefined, "no integer RMW on u128");
    assert.throws(() => one.writeCurrent(MAX + 1n), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range" && e.message.includes("u128"));
    assert.throws(() => one.cmpxchg128Current(0n, 1.5), (e: unknown) => e instanceof PercpuError && e.code === "value_wrong_kind");
    assert.equal(one.readCurrent(), BIG, "a refused call changed nothing");
    one.free();
    assert.throws(() => one.cmpxchg128Current(BIG, 0n), (e: unknown) => e instanceof PercpuError && e.code === "alloc_freed");
    for (const h of [slot, ring, pad]) h.free();
    assert.deepEqual([sdk.allocStats().used, sdk.allocStats().allocations], [0, 0]);
  } finally {
    sdk.close();
  }
});

/** Workers and steps per Worker of the FFI workload. */
const W = 4;
const WSTEPS = 10_000;

test(
  `${W} Workers through FFI: ${WSTEPS} random sdk.alloc/free steps each on one shared allocator, a unique pattern per block on every CPU intact at every free and at the end, stats exact, the region coalesced after`,
  async () => {
    const sdk = dynamicSdk();
    await sdk.load({ cpus: W, dynamic: WORKER_DYNAMIC });
    let workers: WorkerGroup<DynamicTask, DynamicSummary> | null = null;
    try {
      assert.equal(sdk.init(W), W);
      const tasks = Array.from({ length: W }, (_, worker): DynamicTask => ({ cpus: W, worker, steps: WSTEPS }));
      workers = new WorkerGroup(new URL("./_dynamic_worker.ts", import.meta.url), tasks);
      await workers.ready("the Workers to load");
      workers.release();
      const all = await workers.reports("the Workers to finish", 150_000);
      const total = (k: keyof DynamicSummary): number => all.reduce((n, s) => n + s[k], 0);
      assert.equal(total("corrupt"), 0, "no two live allocations overlapped on any CPU");
      assert.equal(total("dirty"), 0, "every block came zeroed on every CPU");
      assert.equal(total("misplaced"), 0, "every offset aligned and inside the region");
      const st = sdk.allocStats();
      assert.equal(st.used, total("liveBytes"), "used = the live blocks");
      assert.equal(st.allocations, total("live"));
      console.log(`     ${total("allocs")} allocations, ${total("frees")} frees, ${total("exhausted")} exhaustions; ${st.used} bytes live, largest free ${st.largestFree} of ${st.free}`);
      workers.release(2);
      await workers.reports("the Workers to free their blocks");
      const end = sdk.allocStats();
      assert.deepEqual([end.used, end.largestFree, end.allocations], [0, WORKER_DYNAMIC, 0], "one free block again");
    } finally {
      workers?.terminate();
      sdk.close();
    }
  },
  { timeoutMs: 180_000 },
);
