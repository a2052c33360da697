/**
 * The seed's own test suite (percpu/tests/test_percpu.rs of arceos-org/percpu
 * 0.4.0) ported case by case to this SDK's TypeScript API: its seven
 * variables with their initial values, the in-place and dynamic (caller
 * buffer) init, the invalid bases and sp-naive, for every feature set the
 * seed's CI runs (`sp-naive`, `sp-naive,preempt`, default, `preempt`; the
 * seed adds `non-zero-vma` for hosted runs, which our user mode always is).
 * Only the public API is used: no raw symbol is called.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bool, createPercpu, PercpuError, type PercpuSdk, struct, u16, u32, u64, u8, usize } from "../mod.ts";
import { test } from "./_harness.ts";

/** The seed's CI feature sets (`.github/workflows/test.yml`), as `load()` features. */
const FEATURE_SETS = {
  "sp-naive": ["naive"],
  "sp-naive,preempt": ["naive", "preempt"],
  "default": [],
  "preempt": ["preempt"],
} as const satisfies Record<string, readonly ("naive" | "preempt")[]>;

type FeatureSet = keyof typeof FEATURE_SETS;

/** The seed's variables (test_percpu.rs lines 10-34). */
function defineSeedVars(sdk: PercpuSdk) {
  return {
    BOOL: sdk.define("BOOL", bool, true),
    U8: sdk.define("U8", u8, 1),
    U16: sdk.define("U16", u16, 2),
    U32: sdk.define("U32", u32, 3),
    U64: sdk.define("U64", u64, 4),
    USIZE: sdk.define("USIZE", usize, 5),
    STRUCT: sdk.define("STRUCT", struct({ foo: usize, bar: u8 }), { foo: 6, bar: 7 }),
  };
}

type SeedVars = ReturnType<typeof defineSeedVars>;

/** Loads the seed's variables with a feature set on a fresh SDK instance, runs `body`, closes it. */
async function withSeed(set: FeatureSet, body: (sdk: PercpuSdk, v: SeedVars) => void): Promise<void> {
  const sdk = createPercpu();
  const vars = defineSeedVars(sdk);
  await sdk.load({ features: [...FEATURE_SETS[set]] });
  try {
    body(sdk, vars);
  } finally {
    sdk.close();
  }
}

/** Whether a call throws a PercpuError with this code (the seed's `is_err()` with the exact InitError). */
function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof PercpuError && e.code === code, `expected ${code}`);
}

/** tester_local_ptr(base) (lines 36-55): base + offset is the current pointer of every variable. */
function testerLocalPtr(v: SeedVars, base: bigint): void {
  for (const [name, x] of Object.entries(v)) {
    assert.equal(base + BigInt(x.offset()), x.currentPtr(), `${name}: base + offset == current_ptr`);
  }
}

/** tester_local_is_init() (lines 57-80). */
function testerLocalIsInit(v: SeedVars): void {
  assert.equal(v.BOOL.readCurrent(), true);
  assert.equal(v.U8.readCurrent(), 1);
  assert.equal(v.U16.readCurrent(), 2);
  assert.equal(v.U32.readCurrent(), 3);
  assert.equal(v.U64.readCurrent(), 4n);
  assert.equal(v.USIZE.readCurrent(), 5n);
  v.STRUCT.withCurrent((s) => {
    assert.equal(s.get().foo, 6n);
    assert.equal(s.get().bar, 7);
  });
}

/** tester_local_rw() (lines 82-116); with preempt, `with_current` takes the NoPreempt guard once. */
function testerLocalRw(sdk: PercpuSdk, v: SeedVars, preempt: boolean): void {
  v.BOOL.writeCurrent(true);
  v.U8.writeCurrent(123);
  v.U16.writeCurrent(0xabcd);
  v.U32.writeCurrent(0xdead_beef);
  v.U64.writeCurrent(0xa2ce_a2ce_a2ce_a2cen);
  v.USIZE.writeCurrent(0xffff_0000n);
  sdk.resetHookCounts();
  v.STRUCT.withCurrent((s) => {
    s.set({ foo: 0x2333n, bar: 100 });
  });
  assert.equal(sdk.hookCounts().preemptDisable, preempt ? 1 : 0, "with_current takes the preempt guard iff preempt");
  assert.equal(sdk.hookCounts().preemptDepth, 0);

  assert.equal(v.U8.readCurrent(), 123);
  assert.equal(v.U16.readCurrent(), 0xabcd);
  assert.equal(v.U32.readCurrent(), 0xdead_beef);
  assert.equal(v.U64.readCurrent(), 0xa2ce_a2ce_a2ce_a2cen);
  assert.equal(v.USIZE.readCurrent(), 0xffff_0000n);
  v.STRUCT.withCurrent((s) => {
    assert.equal(s.get().foo, 0x2333n);
    assert.equal(s.get().bar, 100);
  });
}

/** tester_reset_to_init() (lines 118-126). */
function testerResetToInit(v: SeedVars): void {
  for (const x of Object.values(v)) x.resetToInit();
}

/** tester_remote_is_init(remote_id) (lines 128-184): `*X.remote_ptr(id)` is the initial value. */
function testerRemoteIsInit(sdk: PercpuSdk, v: SeedVars, id: number): void {
  for (const [name, x] of Object.entries(v)) {
    assert.equal(x.remotePtr(id), sdk.areaBase(id) + BigInt(x.offset()), `${name}: remote_ptr(${id})`);
  }
  assert.equal(v.BOOL.remoteRead(id), true);
  assert.equal(v.U8.remoteRead(id), 1);
  assert.equal(v.U16.remoteRead(id), 2);
  assert.equal(v.U32.remoteRead(id), 3);
  assert.equal(v.U64.remoteRead(id), 4n);
  assert.equal(v.USIZE.remoteRead(id), 5n);
  assert.deepEqual(v.STRUCT.remoteRead(id), { foo: 6n, bar: 7 });
}

/** tester_remote_rw(remote_id) (lines 186-253): writes through `remote_ref_mut_raw`, reads back. */
function testerRemoteRw(v: SeedVars, id: number): void {
  v.BOOL.remoteWrite(id, false);
  v.U8.remoteWrite(id, 222);
  v.U16.remoteWrite(id, 0x1234);
  v.U32.remoteWrite(id, 0xf00d_f00d);
  v.U64.remoteWrite(id, 0xfeed_feed_feed_feedn);
  v.USIZE.remoteWrite(id, 0x0000_ffffn);
  v.STRUCT.remoteWrite(id, { foo: 0x2333n, bar: 100 });

  assert.equal(v.BOOL.remoteRead(id), false);
  assert.equal(v.U8.remoteRead(id), 222);
  assert.equal(v.U16.remoteRead(id), 0x1234);
  assert.equal(v.U32.remoteRead(id), 0xf00d_f00d);
  assert.equal(v.U64.remoteRead(id), 0xfeed_feed_feed_feedn);
  assert.equal(v.USIZE.remoteRead(id), 0x0000_ffffn);
  assert.deepEqual(v.STRUCT.remoteRead(id), { foo: 0x2333n, bar: 100 });
}

/** test_percpu_local(base) (lines 255-261). */
function testPercpuLocal(sdk: PercpuSdk, v: SeedVars, base: bigint, preempt: boolean): void {
  testerLocalPtr(v, base);
  testerLocalIsInit(v);
  testerLocalRw(sdk, v, preempt);
  testerResetToInit(v);
  testerLocalIsInit(v);
}

/** test_percpu_remote(remote_id) (lines 263-267). */
function testPercpuRemote(sdk: PercpuSdk, v: SeedVars, id: number): void {
  testerRemoteIsInit(sdk, v, id);
  testerRemoteRw(v, id);
}

for (const set of ["sp-naive", "sp-naive,preempt"] as const) {
  const preempt = set.endsWith("preempt");

  test(`seed ${set}: test_percpu_sp_naive (init_in_place = Ok(1), local tests, init(null, 1) = Ok(1))`, async () => {
    await withSeed(set, (sdk, v) => {
      // The seed's sp-naive globals hold their initial values before any init (and every thread sees them).
      testerLocalIsInit(v);
      assert.equal(sdk.areaNum(), 1, "percpu_area_num() is 1");
      assert.deepEqual(sdk.layoutExpected(4), { size: 0, align: 64 }, "percpu_area_layout_expected: no memory needed");

      assert.equal(sdk.initInPlace(), 1, "init_in_place() == Ok(1)");
      sdk.initPercpuReg(0);
      // test_percpu_local(0): the seed's base is 0 and its offsets are the globals' addresses; here the base of the one
      // area plus the (relative) offset is the pointer, and symbol_vma() is the absolute address, as in the seed.
      for (const x of Object.values(v)) assert.equal(x.symbolVma(), x.currentPtr(), `${x.name}: symbol_vma == current_ptr`);
      testPercpuLocal(sdk, v, sdk.areaBase(0), preempt);

      // init() with parameters is ignored in sp-naive mode.
      assert.equal(sdk.init(1, { base: null }), 1, "init(null, 1) == Ok(1)");
    });
  });

  test(`seed ${set}: init(buf, 1) ignores the buffer, areaBase(0) and the accessors stay on the one area`, async () => {
    await withSeed(set, (sdk, v) => {
      const before = sdk.areaBase(0);
      const buf = new ArrayBuffer(1024);
      assert.equal(sdk.init(1, { base: buf }), 1);
      assert.equal(sdk.init(1, { base: 0x41n }), 1, "a misaligned raw base is ignored too");
      assert.equal(sdk.areaBase(0), before);
      assert.notEqual(sdk.areaBase(0), sdk.addressOf(buf));
      v.U32.writeCurrent(0x5eed);
      assert.equal(v.U32.remoteRead(0), 0x5eed, "remote(0) and current are the same memory");
      assert.equal(v.U32.currentPtr(), sdk.areaBase(0) + BigInt(v.U32.offset()));
      assert.deepEqual([...new Uint8Array(buf)].filter((b) => b !== 0), [], "nothing was written into the ignored buffer");
      assert.equal(sdk.native!.currentCpu(), 0, "naive: every thread is on the one area");
    });
  });
}

for (const set of ["default", "preempt"] as const) {
  const preempt = set === "preempt";

  test(`seed ${set}: test_percpu_multi_core_in_place`, async () => {
    await withSeed(set, (sdk, v) => {
      assert.equal(sdk.initInPlace(), 4, "init_in_place() == Ok(4)");
      sdk.initPercpuReg(0);
      const baseFromReg = sdk.readPercpuReg();
      const baseCalculated = sdk.areaBase(0);
      assert.equal(baseFromReg, baseCalculated);
      assert.ok(sdk.areaSize() > 0);
      testPercpuLocal(sdk, v, baseFromReg, preempt);
      testPercpuRemote(sdk, v, 1);
      testPercpuRemote(sdk, v, 2);
      testPercpuRemote(sdk, v, 3);
    });
  });

  test(`seed ${set}: test_percpu_multi_core_dynamic (init with a caller-allocated buffer)`, async () => {
    await withSeed(set, (sdk, v) => {
      const layout = sdk.layoutExpected(4);
      assert.equal(layout.align, 64);
      assert.equal(layout.size, 4 * Math.ceil(sdk.areaSize() / 64) * 64);
      const buffer = sdk.allocAreas(4);
      assert.equal(buffer.byteLength, layout.size);
      const base = sdk.addressOf(buffer);
      assert.equal(base % 64n, 0n);

      assert.equal(sdk.init(4, { base: buffer }), 4, "init(base, 4) == Ok(4)");
      sdk.initPercpuReg(0);
      const baseFromReg = sdk.readPercpuReg();
      const baseCalculated = sdk.areaBase(0);
      assert.equal(baseFromReg, base);
      assert.equal(baseCalculated, base);

      testPercpuLocal(sdk, v, base, preempt);
      testPercpuRemote(sdk, v, 1);
      testPercpuRemote(sdk, v, 2);
      testPercpuRemote(sdk, v, 3);
      // The areas really are the caller's memory: CPU 3's U8 (written 222 by tester_remote_rw) is in the buffer.
      assert.equal(buffer[3 * (layout.size / 4) + v.U8.offset()], 222);
    });
  });

  test(`seed ${set}: test_percpu_init_rejects_invalid_base`, async () => {
    await withSeed(set, (sdk) => {
      throwsCode(() => sdk.init(1, { base: null }), "init_invalid_base");
      throwsCode(() => sdk.init(1, { base: 0n }), "init_invalid_base");

      const base = sdk.allocAreas(1);
      assert.notEqual(sdk.addressOf(base), 0n);
      throwsCode(() => sdk.init(1, { base: base.subarray(1) }), "init_unaligned_base");
      throwsCode(() => sdk.init(1, { base: sdk.addressOf(base) + 1n }), "init_unaligned_base");
      // Beyond the seed: a buffer smaller than layoutExpected(n) fails up front, and nothing was initialised.
      throwsCode(() => sdk.init(2, { base }), "init_invalid_base");
      assert.equal(sdk.areaNum(), 0);
    });
  });

  test(`seed ${set}: symbol_vma is the same on every CPU and offsets are symbol_vma differences`, async () => {
    await withSeed(set, (sdk, v) => {
      sdk.initInPlace();
      const vmas = Object.values(v).map((x) => x.symbolVma());
      const offsets = Object.values(v).map((x) => BigInt(x.offset()));
      for (let i = 1; i < vmas.length; i++) assert.equal(vmas[i]! - vmas[0]!, offsets[i]! - offsets[0]!);
      for (const x of Object.values(v)) {
        for (let cpu = 0; cpu < 4; cpu++) assert.notEqual(x.symbolVma(), x.remotePtr(cpu), "the load image is not an area");
      }
      sdk.init(2, { base: sdk.allocAreas(2) });
      assert.deepEqual(Object.values(v).map((x) => x.symbolVma()), vmas, "symbol_vma does not move with the areas");
    });
  });
}
