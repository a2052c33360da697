// Node checks of the per-CPU counters and dynamic allocation against the built
// package (dist/): the generated runtime through the Node FFI adapter, with the
// same results as on Deno and Bun (tests/counter_test.ts, tests/dynamic_alloc_test.ts).
// Ends with `node-runtime: N passed, N failed`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { checks, root } from "./_lib.mjs";

const m = await import(pathToFileURL(join(root, "dist", "mod.js")).href);
const { check, finish } = checks("node-runtime");
const code = (c) => (e) => e instanceof m.PercpuError && e.code === c;

await check("a counter folds at the batch, sums exactly over CPUs and compares like Linux", async () => {
  const sdk = m.createPercpu();
  const C = sdk.counter("NODE_EVENTS", { batch: 8, init: 100 });
  await sdk.load({ cpus: 4 });
  try {
    sdk.init(4);
    for (let cpu = 0; cpu < 4; cpu++) {
      sdk.initPercpuReg(cpu);
      C.add(7);
    }
    assert.deepEqual([C.read(), C.sum()], [100n, 128n]);
    C.inc();
    assert.deepEqual([C.read(), C.sum(), C.stats().folds], [108n, 128n + 1n, 1n]);
    assert.equal(C.compare(129n), 0);
    assert.equal(C.compare(1000n), -1);
    assert.throws(() => C.add(1n << 63n), code("value_out_of_range"));
  } finally {
    sdk.close();
  }
});

await check("sdk.alloc() hands out zeroed blocks of the dynamic region (u128 ones too), runs their accessors, frees and coalesces", async () => {
  const sdk = m.createPercpu();
  sdk.define("NODE_STATIC", m.u64, 1);
  await sdk.load({ cpus: 2, dynamic: 256 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(1);
    const a = sdk.alloc(m.u64, 9n);
    a.addCurrent(1n);
    assert.deepEqual([a.remoteRead(0), a.remoteRead(1), a.sum()], [9n, 10n, 19n]);
    assert.deepEqual(a.tryCmpxchgCurrent(9n, 11n), { ok: false, value: 10n });
    assert.deepEqual(a.tryCmpxchgCurrent(10n, 11n), { ok: true, value: 10n });
    assert.equal(a.readCurrent(), 11n);
    const arr = sdk.alloc(m.array(m.u32, 8));
    arr.at(2).remoteWrite(0, 5);
    assert.equal(arr.at(2).remoteRead(0), 5);
    assert.throws(() => sdk.alloc(m.array(m.u64, 32)), code("alloc_exhausted"));
    const MAX = (1n << 128n) - 1n;
    const wide = sdk.alloc(m.u128, MAX);
    assert.equal(wide.offset % 16, 0);
    assert.equal(wide.remoteRead(0), MAX);
    assert.equal(wide.cmpxchg128Current(MAX, 1n << 64n), MAX, "hit: the old value");
    assert.equal(wide.cmpxchg128Current(0n, 5n), 1n << 64n, "miss: the value found");
    assert.deepEqual([wide.readCurrent(), wide.remoteRead(0)], [1n << 64n, MAX]);
    wide.free();
    a.free();
    arr.free();
    assert.throws(() => a.readCurrent(), code("alloc_freed"));
    const st = sdk.allocStats();
    assert.deepEqual([st.used, st.largestFree], [0, 256]);
  } finally {
    sdk.close();
  }
});

finish();
