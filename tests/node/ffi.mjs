// Node FFI checks against the built package (dist/, from `npm run build`): sdk.load()
// builds the shim and opens it with the Node FFI adapter, the generated accessors run natively with
// the same layout, values, guards and misuse errors as on Deno and Bun, and 4
// worker_threads bound to their own CPUs add concurrently with an exact sum.
// Ends with `node-ffi: N passed, N failed`; exits 1 on any failure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const m = await import(pathToFileURL(join(root, "dist", "mod.js")).href);

const W = 4;
const M = 300_000;

function counters(tag) {
  const sdk = m.createPercpu();
  const HITS = sdk.define(`NHITS_${tag}`, m.u64, 0);
  const SMALL = sdk.define(`NSMALL_${tag}`, m.u32, 0);
  return { sdk, HITS, SMALL };
}

if (!isMainThread) {
  // Worker: same variables → same cached library; bind this thread to its CPU and add M times.
  const { tag, cpus, cpu, m: count, barrier } = workerData;
  const { sdk, HITS, SMALL } = counters(tag);
  try {
    await sdk.load({ cpus });
    sdk.initPercpuReg(cpu);
    parentPort.postMessage({ type: "ready", cpu });
    const go = new Int32Array(barrier);
    while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 1000);
    for (let i = 0; i < count; i++) {
      HITS.addCurrent(1n);
      SMALL.addCurrent(1);
    }
    parentPort.postMessage({ type: "done", cpu, hits: HITS.readCurrent(), small: SMALL.readCurrent(), reg: sdk.readPercpuReg(), base: sdk.areaBase(cpu) });
  } catch (e) {
    parentPort.postMessage({ type: "error", cpu, message: String(e?.stack ?? e) });
  } finally {
    sdk.close();
  }
} else {
  let passed = 0;
  let failed = 0;
  const check = async (name, fn) => {
    try {
      await fn();
      passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}\n${String(e?.stack ?? e).split("\n").map((l) => `     ${l}`).join("\n")}`);
    }
  };
  const code = (c) => (e) => e instanceof m.PercpuError && e.code === c;

  await check("node: load() opens the shim through the Node adapter and the layout matches the manifest on every CPU", async () => {
    const sdk = m.createPercpu();
    const A = sdk.define("NA", m.u8, 200);
    const B = sdk.define("NB", m.u64, 0xfedcba9876543210n);
    const S = sdk.define("NS", m.struct({ x: m.i16, y: m.f64, z: m.array(m.u32, 20) }), { x: -3, y: 1.5, z: Array.from({ length: 20 }, (_, i) => i * 7) });
    const F = sdk.define("NF", m.f32, 0.5);
    const info = await sdk.load({ cpus: 3 });
    try {
      const manifest = JSON.parse(info.generated.files["percpu.json"]);
      assert.equal(sdk.init(3), 3);
      for (let cpu = 0; cpu < 3; cpu++) {
        sdk.initPercpuReg(cpu);
        const reg = sdk.readPercpuReg();
        assert.equal(reg, sdk.areaBase(cpu));
        for (const v of [A, B, S, F]) {
          const off = manifest.vars.find((x) => x.name === v.name).offset;
          assert.equal(Number(v.currentPtr() - reg), off);
          assert.equal(v.offset(), off);
          assert.deepEqual(v.readCurrent(), v.init);
          assert.deepEqual(v.remoteRead(cpu), v.init);
        }
      }
      assert.equal(typeof A.readCurrent(), "number");
      assert.equal(typeof B.readCurrent(), "bigint");
      A.addCurrent(100);
      assert.equal(A.readCurrent(), 44, "u8 add wraps natively");
      assert.equal(A.xchgCurrent(1), 44);
      assert.equal(A.cmpxchgCurrent(1, 2), 1);
      B.subCurrent(0xfedcba9876543211n);
      assert.equal(B.readCurrent(), 2n ** 64n - 1n);
      S.writeCurrent({ x: 5, y: -0.25, z: Array.from({ length: 20 }, (_, i) => 4000000000 - i) });
      assert.deepEqual(S.remoteRead(2), { x: 5, y: -0.25, z: Array.from({ length: 20 }, (_, i) => 4000000000 - i) });
      assert.deepEqual(S.remoteRead(1), S.init);
      assert.equal(A.sum(), 200 * 2 + 2);
    } finally {
      sdk.close();
    }
  });

  await check("node: u128 leaves (scalar, struct field, indexed element) read, write, remote and cmpxchg128Current hit and misses above 2^64, no guard hook", async () => {
    const MAX = (1n << 128n) - 1n;
    const big = 0x0123456789abcdef_fedcba9876543210n;
    const sdk = m.createPercpu();
    const LONE = sdk.define("NU_LONE", m.u128, 7n);
    const SLOT = sdk.define("NU_SLOT", m.struct({ seq: m.u64, pair: m.u128 }), { seq: 1n, pair: (1n << 100n) + 3n });
    const RING = sdk.define("NU_RING", m.array(m.u128, 20), Array.from({ length: 20 }, (_, i) => BigInt(i) << 70n));
    await sdk.load({ cpus: 2, features: ["preempt", "irq"] });
    try {
      sdk.init(2);
      sdk.initPercpuReg(0);
      assert.equal(LONE.readCurrent(), 7n);
      assert.deepEqual(SLOT.remoteRead(1), { seq: 1n, pair: (1n << 100n) + 3n });
      assert.equal(RING.at(19).readCurrent(), 19n << 70n);
      sdk.resetHookCounts();
      for (const h of [LONE, SLOT.field("pair"), RING.at(17)]) {
        for (const v of [MAX, big, 1n << 64n, (1n << 64n) - 1n, 0n]) {
          h.writeCurrent(v);
          assert.equal(h.readCurrentRaw(), v);
          h.writeCurrentRaw(v ^ MAX);
          assert.equal(h.readCurrent(), v ^ MAX);
          h.remoteWrite(1, v);
          assert.equal(h.remoteRead(1), v);
          assert.equal(h.cmpxchg128Current(v ^ MAX, big), v ^ MAX, "hit: the old value");
          assert.equal(h.cmpxchg128Current(big ^ (1n << 64n), MAX), big, "miss by the high half");
          assert.equal(h.cmpxchg128Current(big ^ 1n, MAX), big, "miss by the low half");
          assert.equal(h.readCurrent(), big, "misses store nothing");
        }
      }
      assert.equal(SLOT.field("seq").readCurrent(), 1n);
      assert.deepEqual(sdk.hookCounts().preemptDisable, 0, "cmpxchg16b %gs: needs no guard");
      assert.throws(() => LONE.writeCurrent(MAX + 1n), code("value_out_of_range"));
    } finally {
      sdk.close();
    }
  });

  await check("node: Linux's lib/percpu_test.c cases through inc/dec, the _return ops and tryCmpxchgCurrent (long, unsigned long, int, unsigned int)", async () => {
    const sdk = m.createPercpu();
    const types = [["NLONG", m.isize, 64, true], ["NULONG", m.usize, 64, false], ["NINT", m.i32, 32, true], ["NUINT", m.u32, 32, false]];
    const vars = types.map(([name, t, bits, signed]) => ({ v: sdk.define(name, t, bits === 64 ? 0n : 0), bits, signed }));
    await sdk.load({ cpus: 1 });
    try {
      sdk.init(1);
      sdk.initPercpuReg(0);
      for (const { v, bits, signed } of vars) {
        const c = (x) => {
          const w = signed ? BigInt.asIntN(bits, x) : BigInt.asUintN(bits, x);
          return bits === 64 ? w : Number(w);
        };
        const arg = (x) => (bits === 64 ? x : Number(x));
        const minusUiOne = 0xffffffffn; // -ui_one: 2^32 - 1, not -1, added to a 64-bit counter
        v.writeCurrent(c(0n));
        v.addCurrent(-1);
        assert.equal(v.readCurrent(), c(-1n), `${v.name} add -1`);
        v.incCurrent();
        assert.equal(v.readCurrent(), c(0n), `${v.name} inc`);
        v.decCurrent();
        assert.equal(v.readCurrent(), c(-1n), `${v.name} dec wraps to the all-ones value`);
        v.writeCurrent(c(0n));
        v.addCurrent(arg(minusUiOne));
        assert.equal(v.readCurrent(), c(0xffffffffn), `${v.name} add -ui_one`);
        v.addCurrent(1);
        assert.equal(v.readCurrent(), c(0x100000000n), `${v.name} add ui_one`);
        v.writeCurrent(c(0n));
        assert.equal(v.addReturnCurrent(1), c(1n), `${v.name} add_return`);
        assert.equal(v.subReturnCurrent(1), c(0n), `${v.name} sub_return`);
        assert.equal(v.addReturnCurrent(arg(minusUiOne)), c(0xffffffffn), `${v.name} add_return -ui_one`);
        assert.equal(v.subReturnCurrent(arg(minusUiOne)), c(0n), `${v.name} sub_return -ui_one`);
        assert.equal(v.decReturnCurrent(), c(-1n), `${v.name} dec_return wraps`);
        assert.equal(v.incReturnCurrent(), c(0n), `${v.name} inc_return wraps`);
        assert.deepEqual(v.tryCmpxchgCurrent(c(5n), c(9n)), { ok: false, value: c(0n) }, `${v.name} try_cmpxchg miss reports the value found`);
        assert.deepEqual(v.tryCmpxchgCurrent(c(0n), c(9n)), { ok: true, value: c(0n) }, `${v.name} try_cmpxchg hit`);
        assert.equal(v.readCurrent(), c(9n));
      }
    } finally {
      sdk.close();
    }
  });

  await check("node: misuse throws PercpuErrors instead of crashing", async () => {
    const sdk = m.createPercpu();
    const A = sdk.define("NMISUSE", m.u32, 1);
    assert.throws(() => A.readCurrent(), code("native_not_loaded"));
    await sdk.load({ cpus: 2 });
    assert.throws(() => A.readCurrent(), code("native_not_initialised"));
    assert.throws(() => sdk.initPercpuReg(0), code("native_not_initialised"));
    sdk.init(2);
    assert.throws(() => A.readCurrent(), code("native_not_initialised"));
    assert.throws(() => A.remoteRead(2), code("native_cpu_out_of_range"));
    assert.throws(() => A.remoteRead(-1), code("native_cpu_out_of_range"));
    sdk.initPercpuReg(1);
    assert.throws(() => A.writeCurrent(2 ** 32), code("value_out_of_range"));
    assert.throws(() => sdk.writePercpuReg(sdk.areaBase(0) + 4n), code("value_out_of_range"));
    sdk.close();
    assert.throws(() => A.readCurrent(), code("native_closed"));
    assert.throws(() => sdk.areaNum(), code("native_closed"));
  });

  await check("node: guards count exactly and the library references no hook of a disabled feature", async () => {
    for (const features of [["preempt", "irq"], []]) {
      const sdk = m.createPercpu();
      const BIG = sdk.define(`NBIG${features.length}`, m.array(m.u64, 40), Array.from({ length: 40 }, (_, i) => BigInt(i)));
      const C = sdk.define(`NC${features.length}`, m.u32, 0);
      const info = await sdk.load({ cpus: 1, features });
      try {
        const nm = spawnSync("nm", ["-D", info.path], { encoding: "utf8" }).stdout;
        assert.equal(/percpu_preempt_disable/.test(nm), features.length > 0);
        sdk.init(1);
        sdk.initPercpuReg(0);
        sdk.resetHookCounts();
        C.addCurrent(1);
        C.readCurrentRaw();
        let c = sdk.hookCounts();
        assert.deepEqual([c.preemptDisable, c.irqSave], [0, 0], "single-instruction and raw ops take no hook");
        BIG.resetToInit();
        assert.throws(() => C.withCurrent(() => {
          assert.equal(sdk.hookCounts().preemptDepth, features.length > 0 ? 1 : 0);
          throw new Error("boom");
        }), /boom/);
        c = sdk.hookCounts();
        const n = features.length > 0 ? 2 : 0;
        assert.deepEqual([c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore, c.preemptDepth], [n, n, n, n, 0]);
      } finally {
        sdk.close();
      }
    }
  });

  await check(`node: ${W} worker_threads bound to their own CPUs add ${M} times each and sum() is exact`, async () => {
    const tag = "NW";
    const { sdk, HITS, SMALL } = counters(tag);
    await sdk.load({ cpus: W });
    const workers = [];
    try {
      sdk.init(W);
      const barrier = new SharedArrayBuffer(4);
      const reports = new Map();
      let ready = 0;
      let error = null;
      const settled = new Promise((resolve) => {
        for (let cpu = 0; cpu < W; cpu++) {
          const w = new Worker(new URL(import.meta.url), { workerData: { tag, cpus: W, cpu, m: M, barrier } });
          w.on("message", (r) => {
            if (r.type === "ready") ready++;
            else if (r.type === "error") error = r.message;
            else reports.set(r.cpu, r);
            if (error || reports.size === W) resolve();
          });
          w.on("error", (e) => {
            error = String(e);
            resolve();
          });
          workers.push(w);
        }
      });
      while (ready < W && !error) await new Promise((r) => setTimeout(r, 10));
      assert.equal(error, null);
      Atomics.store(new Int32Array(barrier), 0, 1);
      Atomics.notify(new Int32Array(barrier), 0);
      let intermediate = 0;
      const deadline = Date.now() + 60_000;
      while (HITS.sum() < BigInt(W * M) && Date.now() < deadline) {
        for (let cpu = 0; cpu < W; cpu++) {
          const v = HITS.remoteRead(cpu);
          if (v > 0n && v < BigInt(M)) intermediate++;
        }
      }
      await settled;
      assert.equal(error, null);
      assert.ok(intermediate > 0, "remote reads ran while the workers wrote");
      for (let cpu = 0; cpu < W; cpu++) {
        const r = reports.get(cpu);
        assert.equal(r.hits, BigInt(M));
        assert.equal(r.small, M);
        assert.equal(r.reg, r.base);
        assert.equal(HITS.remoteRead(cpu), BigInt(M));
      }
      assert.equal(HITS.sum(), BigInt(W * M));
      assert.equal(SMALL.sum(), W * M);
    } finally {
      for (const w of workers) await w.terminate();
      sdk.close();
    }
  });

  // The core of tests/seed_port_test.ts (the seed's percpu/tests/test_percpu.rs), through the Node adapter.
  const seedVars = (sdk) => ({
    BOOL: sdk.define("BOOL", m.bool, true),
    U8: sdk.define("U8", m.u8, 1),
    U16: sdk.define("U16", m.u16, 2),
    U32: sdk.define("U32", m.u32, 3),
    U64: sdk.define("U64", m.u64, 4),
    USIZE: sdk.define("USIZE", m.usize, 5),
    STRUCT: sdk.define("STRUCT", m.struct({ foo: m.usize, bar: m.u8 }), { foo: 6, bar: 7 }),
  });
  const seedIsInit = (v) => {
    assert.deepEqual(
      [v.BOOL, v.U8, v.U16, v.U32, v.U64, v.USIZE, v.STRUCT].map((x) => x.readCurrent()),
      [true, 1, 2, 3, 4n, 5n, { foo: 6n, bar: 7 }],
    );
  };
  const seedLocal = (v, base) => {
    for (const x of Object.values(v)) assert.equal(base + BigInt(x.offset()), x.currentPtr(), x.name);
    seedIsInit(v);
    v.U8.writeCurrent(123);
    v.U64.writeCurrent(0xa2ce_a2ce_a2ce_a2cen);
    v.STRUCT.withCurrent((s) => s.set({ foo: 0x2333n, bar: 100 }));
    assert.deepEqual([v.U8.readCurrent(), v.U64.readCurrent(), v.STRUCT.readCurrent()], [123, 0xa2ce_a2ce_a2ce_a2cen, { foo: 0x2333n, bar: 100 }]);
    for (const x of Object.values(v)) x.resetToInit();
    seedIsInit(v);
  };
  const seedRemote = (v, id) => {
    assert.deepEqual(v.STRUCT.remoteRead(id), { foo: 6n, bar: 7 });
    v.U16.remoteWrite(id, 0x1234);
    v.USIZE.remoteWrite(id, 0xffffn);
    assert.deepEqual([v.U16.remoteRead(id), v.USIZE.remoteRead(id)], [0x1234, 0xffffn]);
  };

  for (const features of [["naive"], ["naive", "preempt"]]) {
    await check(`node seed ${features.join(",")}: test_percpu_sp_naive`, async () => {
      const sdk = m.createPercpu();
      const v = seedVars(sdk);
      await sdk.load({ features });
      try {
        seedIsInit(v);
        assert.equal(sdk.initInPlace(), 1);
        sdk.initPercpuReg(0);
        for (const x of Object.values(v)) assert.equal(x.symbolVma(), x.currentPtr());
        seedLocal(v, sdk.areaBase(0));
        assert.equal(sdk.init(1, { base: null }), 1);
      } finally {
        sdk.close();
      }
    });
  }

  for (const features of [[], ["preempt"]]) {
    await check(`node seed ${features.join(",") || "default"}: in place, dynamic (ArrayBuffer base) and invalid bases`, async () => {
      const sdk = m.createPercpu();
      const v = seedVars(sdk);
      await sdk.load({ features });
      try {
        assert.equal(sdk.initInPlace(), 4);
        sdk.initPercpuReg(0);
        assert.equal(sdk.readPercpuReg(), sdk.areaBase(0));
        seedLocal(v, sdk.readPercpuReg());
        for (const id of [1, 2, 3]) seedRemote(v, id);

        const buffer = sdk.allocAreas(4);
        assert.equal(buffer.byteLength, sdk.layoutExpected(4).size);
        const base = sdk.addressOf(buffer);
        assert.equal(base % 64n, 0n);
        assert.equal(sdk.init(4, { base: buffer }), 4);
        sdk.initPercpuReg(0);
        assert.equal(sdk.readPercpuReg(), base);
        assert.equal(sdk.areaBase(0), base);
        seedLocal(v, base);
        for (const id of [1, 2, 3]) seedRemote(v, id);
        assert.equal(buffer[3 * (buffer.byteLength / 4) + v.U16.offset()], 0x34, "CPU 3's area is the caller's buffer");

        assert.throws(() => sdk.init(1, { base: null }), code("init_invalid_base"));
        const one = sdk.allocAreas(1);
        assert.throws(() => sdk.init(1, { base: one.subarray(1) }), code("init_unaligned_base"));
        assert.throws(() => sdk.init(2, { base: one }), code("init_invalid_base"));
      } finally {
        sdk.close();
      }
    });
  }

  console.log(`node-ffi: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}
