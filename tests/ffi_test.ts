import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i32,
  i64,
  i8,
  isize,
  PercpuError,
  type PercpuSdk,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { openLibrary } from "../ffi/adapters.ts";
import { buildSharedLibrary } from "../ffi/build.ts";
import { test } from "./_harness.ts";
import { run, runOk } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

const HOOKS = ["percpu_preempt_disable", "percpu_preempt_enable", "percpu_irq_save", "percpu_irq_restore"];

/** Every scalar type, a struct, a short (expanded) and a long (indexed) array, a 2-D indexed array and an aligned var. */
function defineAll(sdk: PercpuSdk, tag: string) {
  return {
    U8: sdk.define(`U8_${tag}`, u8, 200),
    I8: sdk.define(`I8_${tag}`, i8, -100),
    U16: sdk.define(`U16_${tag}`, u16, 60000),
    I16: sdk.define(`I16_${tag}`, i16, -30000),
    U32: sdk.define(`U32_${tag}`, u32, 4000000000),
    I32: sdk.define(`I32_${tag}`, i32, -2000000000),
    U64: sdk.define(`U64_${tag}`, u64, 0xfedcba9876543210n),
    I64: sdk.define(`I64_${tag}`, i64, -(2n ** 62n)),
    USIZE: sdk.define(`USIZE_${tag}`, usize, 2n ** 63n),
    ISIZE: sdk.define(`ISIZE_${tag}`, isize, -5),
    FLAG: sdk.define(`FLAG_${tag}`, bool, true),
    F32: sdk.define(`F32_${tag}`, f32, 1.5),
    F64: sdk.define(`F64_${tag}`, f64, -2.25e300),
    STATS: sdk.define(`STATS_${tag}`, struct({ irqs: u64, ticks: u32, hist: array(u16, 4), on: bool }), {
      irqs: 7,
      ticks: 3,
      hist: [1, 2, 3, 4],
      on: false,
    }),
    LONG: sdk.define(
      `LONG_${tag}`,
      array(struct({ a: u32, b: i8 }), 20),
      Array.from({ length: 20 }, (_, i) => ({ a: i * 1000, b: -i })),
    ),
    GRID: sdk.define(
      `GRID_${tag}`,
      array(array(u8, 17), 18),
      Array.from({ length: 18 }, (_, i) => Array.from({ length: 17 }, (_, j) => (i * 17 + j) % 256)),
    ),
    HOT: sdk.define(`HOT_${tag}`, aligned(u64, 128), 42),
  };
}

let unique = 0;
/** A name suffix unique within this process (stable across runs, so later runs hit the cache). */
function tagOf(name: string): string {
  return `${name}${unique++}`;
}

/** Functions of the loaded .so that call a guard hook, from its disassembly. */
async function hookCallers(so: string): Promise<Map<string, number>> {
  const out = await runOk("objdump", ["-d", "--no-show-raw-insn", so], { timeoutMs: 60_000 });
  const callers = new Map<string, number>();
  let current = "";
  for (const line of out.split("\n")) {
    const head = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (head) {
      current = head[1]!;
      continue;
    }
    if (
      /\bcall\S*\s.*<percpu_preempt_disable(@plt)?>/.test(line) || /\bcall\S*\s.*<percpu_irq_save(@plt)?>/.test(line)
    ) {
      callers.set(current, (callers.get(current) ?? 0) + 1);
    }
  }
  return callers;
}

function dynamicSymbols(out: string): Set<string> {
  return new Set(out.split("\n").map((l) => l.trim().split(/\s+/).pop()!).filter(Boolean));
}

test("buildSharedLibrary compiles a C library once and openLibrary calls it with typed results", async () => {
  await withTempDir("ffi-cache", async (cacheDir) => {
    const src = [
      "#include <stdint.h>",
      "#include <stdbool.h>",
      "uint64_t big(void) { return 0xffffffffffffffffull; }",
      "int64_t neg64(int64_t x) { return -x; }",
      "uint32_t add32(uint32_t a, uint32_t b) { return a + b; }",
      "int8_t neg8(int8_t x) { return (int8_t)-x; }",
      "uint16_t id16(uint16_t x) { return x; }",
      "int16_t id16s(int16_t x) { return x; }",
      "int32_t id32s(int32_t x) { return x; }",
      "uint8_t id8(uint8_t x) { return x; }",
      "bool not(bool x) { return !x; }",
      "float half(float x) { return x / 2; }",
      "double twice(double x) { return x * 2; }",
      "uintptr_t plus(uintptr_t a, uintptr_t b) { return a + b; }",
      "intptr_t minus(intptr_t a) { return -a; }",
      "static int counter; void bump(void) { counter++; } int32_t get(void) { return counter; }",
    ].join("\n");
    const req = { sources: { "t.c": src }, compile: ["t.c"], cacheDir };
    const first = await buildSharedLibrary(req);
    assert.equal(first.cached, false);
    const mtime = statSync(first.path).mtimeMs;
    const second = await buildSharedLibrary(req);
    assert.equal(second.cached, true);
    assert.equal(second.path, first.path);
    assert.equal(statSync(second.path).mtimeMs, mtime);
    assert.deepEqual(readdirSync(cacheDir), [first.hash], "only the finished cache entry is left, no temp dirs");
    const lib = await openLibrary(first.path, {
      big: { params: [], result: "u64" },
      neg64: { params: ["i64"], result: "i64" },
      add32: { params: ["u32", "u32"], result: "u32" },
      neg8: { params: ["i8"], result: "i8" },
      id16: { params: ["u16"], result: "u16" },
      id16s: { params: ["i16"], result: "i16" },
      id32s: { params: ["i32"], result: "i32" },
      id8: { params: ["u8"], result: "u8" },
      not: { params: ["bool"], result: "bool" },
      half: { params: ["f32"], result: "f32" },
      twice: { params: ["f64"], result: "f64" },
      plus: { params: ["usize", "usize"], result: "usize" },
      minus: { params: ["isize"], result: "isize" },
      bump: { params: [], result: "void" },
      get: { params: [], result: "i32" },
    });
    try {
      const s = lib.symbols;
      assert.equal(s.big(), 0xffffffffffffffffn);
      assert.equal(s.neg64(5n), -5n);
      assert.equal(s.neg64(7), -7n, "64-bit results are bigint even when small");
      assert.equal(s.add32(0xffffffff, 2), 1);
      assert.equal(typeof s.add32(1, 2), "number");
      assert.equal(s.neg8(100), -100);
      assert.equal(s.id16(65535), 65535);
      assert.equal(s.id16s(-32768), -32768);
      assert.equal(s.id32s(-2147483648), -2147483648);
      assert.equal(s.id8(255), 255);
      assert.equal(s.not(false), true);
      assert.equal(s.half(3), 1.5);
      assert.equal(s.twice(1.25), 2.5);
      assert.equal(s.plus(2n ** 40n, 1), 2n ** 40n + 1n);
      assert.equal(s.minus(3), -3n);
      s.bump();
      s.bump();
      assert.equal(s.get(), 2);
      const more = lib.bind({ get: { params: [], result: "u32" }, bump: { params: [], result: "void" } });
      more.bump();
      assert.equal(more.get(), 3, "functions bound later share the library's statics");
      assert.throws(
        () => lib.bind({ nope: { params: [], result: "void" } }),
        (e: unknown) => e instanceof PercpuError && e.code === "native_build_failed",
      );
    } finally {
      lib.close();
    }
    assert.throws(
      () => lib.bind({ get: { params: [], result: "u32" } }),
      (e: unknown) => e instanceof PercpuError && /closed/.test(e.message),
    );
  });
});

test("concurrent cold builds of the same inputs end in one complete cache entry", async () => {
  await withTempDir("ffi-cache", async (cacheDir) => {
    const req = { sources: { "c.c": "int answer(void) { return 42; }" }, compile: ["c.c"], cacheDir };
    const built = await Promise.all([1, 2, 3, 4].map(() => buildSharedLibrary(req)));
    assert.equal(new Set(built.map((b) => b.path)).size, 1);
    assert.deepEqual(readdirSync(cacheDir), [built[0]!.hash], "temp dirs of the losers are gone");
    const lib = await openLibrary(built[0]!.path, { answer: { params: [], result: "i32" } });
    try {
      assert.equal(lib.symbols.answer(), 42);
    } finally {
      lib.close();
    }
  });
});

test("buildSharedLibrary reports compiler errors and a missing compiler as PercpuErrors", async () => {
  await withTempDir("ffi-cache", async (cacheDir) => {
    await assert.rejects(
      buildSharedLibrary({
        sources: { "bad.c": "int f(void) { return undefined_thing; }" },
        compile: ["bad.c"],
        cacheDir,
      }),
      (e: unknown) => e instanceof PercpuError && e.code === "native_build_failed" && /undefined_thing/.test(e.message),
    );
    await assert.rejects(
      buildSharedLibrary({
        sources: { "ok.c": "int f(void) { return 1; }" },
        compile: ["ok.c"],
        cacheDir,
        cc: "/nonexistent/cc-percpu",
      }),
      (e: unknown) => e instanceof PercpuError && e.code === "toolchain_missing",
    );
    assert.deepEqual(readdirSync(cacheDir), [], "failed builds leave nothing in the cache");
  });
});

test("load() compiles on a cold cache and a warm load reuses the library without compiling", async () => {
  await withTempDir("ffi-cache", async (cacheDir) => {
    const tag = tagOf("W");
    const make = () => {
      const sdk = createPercpu();
      sdk.define(`A_${tag}`, u64, 1);
      return sdk;
    };
    const a = make();
    const cold = await a.load({ cpus: 2, cacheDir });
    a.close();
    const b = make();
    const warm = await b.load({ cpus: 2, cacheDir });
    try {
      assert.equal(cold.cached, false);
      assert.equal(warm.cached, true);
      assert.equal(warm.path, cold.path);
      assert.ok(warm.path.startsWith(join(cacheDir, cold.hash)));
      for (const f of ["percpu.S", "percpu.h", "shim.c", "libpercpu.so"]) {
        assert.ok(existsSync(join(cacheDir, cold.hash, f)), f);
      }
      assert.ok(warm.ms < cold.ms, `warm ${warm.ms} ms < cold ${cold.ms} ms`);
      b.init(2);
      assert.equal(b.areaNum(), 2);
    } finally {
      b.close();
    }
    const c = createPercpu();
    c.define(`A_${tag}`, u64, 2);
    const other = await c.load({ cpus: 2, cacheDir });
    c.close();
    assert.notEqual(other.hash, cold.hash, "a different initial value is a different library");
  });
});

test("layout: currentPtr() - readPercpuReg() equals offset() and the manifest for every variable on every CPU", async () => {
  const sdk = createPercpu();
  const vars = defineAll(sdk, tagOf("L"));
  const info = await sdk.load({ cpus: 4 });
  try {
    const manifest = JSON.parse(info.generated.files["percpu.json"]) as {
      stride: number;
      areaAlign: number;
      areaSize: number;
      vars: { name: string; offset: number }[];
    };
    assert.equal(sdk.init(4), 4);
    assert.equal(sdk.areaNum(), 4);
    assert.equal(sdk.areaSize(), manifest.areaSize);
    for (let cpu = 0; cpu < 4; cpu++) {
      sdk.initPercpuReg(cpu);
      const reg = sdk.readPercpuReg();
      assert.equal(reg, sdk.areaBase(cpu));
      assert.equal(reg % BigInt(manifest.areaAlign), 0n, "areas are aligned");
      assert.equal(sdk.areaBase(cpu) - sdk.areaBase(0), BigInt(cpu * manifest.stride));
      for (const v of Object.values(vars)) {
        const m = manifest.vars.find((x) => x.name === v.name)!;
        assert.equal(Number(v.currentPtr() - reg), m.offset, `${v.name} current offset`);
        assert.equal(v.offset(), m.offset, `${v.name} offset()`);
        assert.equal(Number(v.remotePtr(cpu) - sdk.areaBase(cpu)), m.offset, `${v.name} remote offset`);
      }
    }
  } finally {
    sdk.close();
  }
});

test("native reads after init return the initial values on every CPU, current and remote", async () => {
  const sdk = createPercpu();
  const vars = defineAll(sdk, tagOf("I"));
  await sdk.load({ cpus: 3 });
  try {
    sdk.init(3);
    for (let cpu = 0; cpu < 3; cpu++) {
      sdk.initPercpuReg(cpu);
      for (const v of Object.values(vars)) {
        assert.deepEqual(v.readCurrent(), v.init, `${v.name} readCurrent on CPU ${cpu}`);
        assert.deepEqual(v.readCurrentRaw(), v.init, `${v.name} readCurrentRaw on CPU ${cpu}`);
        assert.deepEqual(v.remoteRead(cpu), v.init, `${v.name} remoteRead(${cpu})`);
      }
    }
    assert.equal(typeof vars.U32.readCurrent(), "number");
    assert.equal(typeof vars.U64.readCurrent(), "bigint");
    assert.equal(typeof vars.FLAG.readCurrent(), "boolean");
  } finally {
    sdk.close();
  }
});

test("writes round-trip through the native accessors and stay on their own CPU", async () => {
  const sdk = createPercpu();
  const v = defineAll(sdk, tagOf("R"));
  await sdk.load({ cpus: 2 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(1);
    const cases: [
      { writeCurrent(x: never): void; readCurrent(): unknown; remoteRead(c: number): unknown; init: unknown },
      unknown,
    ][] = [
      [v.U8, 255],
      [v.I8, -128],
      [v.U16, 65535],
      [v.I16, -32768],
      [v.U32, 4294967295],
      [v.I32, -2147483648],
      [v.U64, 2n ** 64n - 1n],
      [v.I64, -(2n ** 63n)],
      [v.USIZE, 123n],
      [v.ISIZE, -(2n ** 63n)],
      [v.FLAG, false],
      [v.F32, Math.fround(3.14159)],
      [v.F64, Number.MAX_VALUE],
      [v.STATS, { irqs: 2n ** 60n, ticks: 9, hist: [9, 8, 7, 6], on: true }],
      [v.LONG, Array.from({ length: 20 }, (_, i) => ({ a: 4000000000 - i, b: i - 10 }))],
      [v.GRID, Array.from({ length: 18 }, (_, i) => Array.from({ length: 17 }, (_, j) => (i + j * 3) % 256))],
      [v.HOT, 99n],
    ];
    for (const [h, value] of cases) {
      h.writeCurrent(value as never);
      assert.deepEqual(h.readCurrent(), value);
      assert.deepEqual(h.remoteRead(1), value);
      assert.deepEqual(h.remoteRead(0), h.init, "CPU 0 keeps its value");
    }
    v.U32.writeCurrentRaw(5);
    assert.equal(v.U32.readCurrentRaw(), 5);
    v.STATS.remoteWrite(0, { irqs: 1n, ticks: 2, hist: [3, 4, 5, 6], on: true });
    assert.deepEqual(v.STATS.remoteRead(0), { irqs: 1n, ticks: 2, hist: [3, 4, 5, 6], on: true });
    v.LONG.resetToInit();
    assert.deepEqual(v.LONG.readCurrent(), v.LONG.init);
    v.U64.resetToInit();
    assert.equal(v.U64.readCurrent(), v.U64.init);
    v.U64.writeCurrent(5);
    assert.equal(v.U64.readCurrent(), 5n, "64-bit writes accept safe-integer numbers");
  } finally {
    sdk.close();
  }
});

test("integer read-modify-write ops run natively with wrapping and sum() adds every CPU", async () => {
  const sdk = createPercpu();
  const tag = tagOf("M");
  const B = sdk.define(`B_${tag}`, u8, 250);
  const S = sdk.define(`S_${tag}`, i32, 0);
  const Q = sdk.define(`Q_${tag}`, u64, 0);
  await sdk.load({ cpus: 4 });
  try {
    sdk.init(4);
    sdk.initPercpuReg(2);
    B.addCurrent(10);
    assert.equal(B.readCurrent(), 4, "u8 add wraps");
    B.subCurrent(5);
    assert.equal(B.readCurrent(), 255);
    B.andCurrent(0x0f);
    assert.equal(B.readCurrent(), 0x0f);
    B.orCurrent(0xf0);
    assert.equal(B.readCurrent(), 0xff);
    B.xorCurrent(0x0f);
    assert.equal(B.readCurrent(), 0xf0);
    assert.equal(B.xchgCurrent(7), 0xf0);
    assert.equal(B.cmpxchgCurrent(1, 9), 7, "failed cmpxchg returns the current value");
    assert.equal(B.readCurrent(), 7);
    assert.equal(B.cmpxchgCurrent(7, 9), 7);
    assert.equal(B.readCurrent(), 9);
    S.subCurrent(5);
    assert.equal(S.readCurrent(), -5, "signed results sign-extend");
    Q.subCurrent(1n);
    assert.equal(Q.readCurrent(), 2n ** 64n - 1n);
    Q.addCurrent(2n);
    assert.equal(Q.readCurrent(), 1n);
    for (let c = 0; c < 4; c++) Q.remoteWrite(c, BigInt(c) * 2n ** 62n);
    assert.equal(Q.sum(), 6n * 2n ** 62n, "sum of u64 is exact beyond 64 bits");
    assert.equal(B.sum(), 250 * 3 + 9);
    assert.equal(S.sum(), -5);
  } finally {
    sdk.close();
  }
});

test("the generated percpu_init returns -1 for a null base and -2 for an unaligned one", async () => {
  const sdk = createPercpu();
  sdk.define(`X_${tagOf("N")}`, u64, 0);
  const info = await sdk.load({ cpus: 2 });
  sdk.close();
  const lib = await openLibrary(info.path, {
    percpu_init: { params: ["usize", "usize"], result: "isize" },
    percpu_shim_areas: { params: [], result: "usize" },
    percpu_area_num: { params: [], result: "usize" },
  });
  try {
    assert.equal(lib.symbols.percpu_init(0, 1), -1n);
    assert.equal(lib.symbols.percpu_init(lib.symbols.percpu_shim_areas() + 8n, 1), -2n);
    assert.equal(lib.symbols.percpu_area_num(), 0n, "failed inits change nothing");
  } finally {
    lib.close();
  }
});

test("guards: multi-instruction ops take each hook exactly once, raw and single-instruction ops none", async () => {
  const sdk = createPercpu();
  const v = defineAll(sdk, tagOf("G"));
  const info = await sdk.load({ cpus: 2, features: ["preempt", "irq"] });
  try {
    const callers = await hookCallers(info.path);
    const all = await runOk("nm", ["-D", "--defined-only", info.path]);
    for (const h of HOOKS) assert.ok(dynamicSymbols(all).has(h), `${h} is defined by the shim`);
    sdk.init(2);
    sdk.initPercpuReg(0);
    const expect = (fn: string): number => (callers.has(fn) ? 1 : 0);
    const delta = (action: () => void) => {
      sdk.resetHookCounts();
      action();
      const c = sdk.hookCounts();
      assert.equal(c.preemptDepth, 0);
      assert.equal(c.irqDisabled, false);
      return c;
    };
    let guardedSeen = 0;
    const scalars: [
      string,
      {
        readCurrent(): unknown;
        readCurrentRaw(): unknown;
        writeCurrent(x: never): void;
        writeCurrentRaw(x: never): void;
        init: unknown;
      },
    ][] = [
      ["U8", v.U8],
      ["I16", v.I16],
      ["U32", v.U32],
      ["U64", v.U64],
      ["FLAG", v.FLAG],
      ["F32", v.F32],
      ["F64", v.F64],
      ["HOT", v.HOT],
    ];
    for (const [, h] of scalars) {
      const name = (h as unknown as { name: string }).name;
      for (
        const [op, act] of [
          ["read_current", () => h.readCurrent()],
          ["write_current", () => h.writeCurrent(h.init as never)],
        ] as const
      ) {
        const n = expect(`percpu_${name}_${op}`);
        guardedSeen += n;
        const c = delta(act);
        assert.deepEqual([c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore], [n, n, n, n], `${name} ${op}`);
      }
      for (const act of [() => h.readCurrentRaw(), () => h.writeCurrentRaw(h.init as never)]) {
        const c = delta(act);
        assert.deepEqual(
          [c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore],
          [0, 0, 0, 0],
          `${name} raw ops take no hook`,
        );
      }
    }
    for (const op of ["add", "sub", "and", "or", "xor", "xchg"] as const) {
      const n = expect(`percpu_${v.U32.name}_${op}_current`);
      guardedSeen += n;
      const c = delta(() => v.U32[`${op}Current`](1));
      assert.deepEqual([c.preemptDisable, c.irqSave], [n, n], `U32 ${op}`);
    }
    for (const h of Object.values(v)) {
      const n = expect(`percpu_${h.name}_reset_to_init`);
      guardedSeen += n;
      const c = delta(() => h.resetToInit());
      assert.deepEqual(
        [c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore],
        [n, n, n, n],
        `${h.name} reset_to_init`,
      );
    }
    assert.ok(
      callers.has(`percpu_${v.LONG.name}_reset_to_init`),
      "copying a 180-byte variable is multi-instruction and guarded",
    );
    assert.ok(guardedSeen >= 1, "at least one guarded op was exercised");
    for (const fn of callers.keys()) {
      assert.ok(!/_raw$|_remote_(read|write)$|_remote_ptr$/.test(fn), `${fn} must not take a guard`);
    }
  } finally {
    sdk.close();
  }
});

test("withCurrent() holds the guard for the whole callback and releases it when the callback throws", async () => {
  const sdk = createPercpu();
  const tag = tagOf("C");
  const C = sdk.define(`C_${tag}`, u64, 10);
  const P = sdk.define(`P_${tag}`, struct({ x: u32, y: f64 }), { x: 1, y: 2 });
  await sdk.load({ cpus: 1, features: { preempt: true, irq: true } });
  try {
    sdk.init(1);
    sdk.initPercpuReg(0);
    sdk.resetHookCounts();
    const r = C.withCurrent((cell) => {
      const inside = sdk.hookCounts();
      assert.equal(inside.preemptDepth, 1);
      assert.equal(inside.irqDisabled, true);
      assert.equal(cell.ptr, C.currentPtr());
      cell.set(cell.get() + 5n);
      P.withCurrent((p) => {
        assert.equal(sdk.hookCounts().preemptDepth, 2);
        p.set({ x: p.get().x + 1, y: 0.5 });
      });
      assert.equal(sdk.hookCounts().preemptDepth, 1);
      assert.equal(sdk.hookCounts().irqDisabled, true, "the inner guard restores the outer irq state");
      return "done";
    });
    assert.equal(r, "done");
    assert.equal(C.readCurrent(), 15n);
    assert.deepEqual(P.readCurrent(), { x: 2, y: 0.5 });
    let c = sdk.hookCounts();
    assert.deepEqual([c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore, c.preemptDepth, c.irqDisabled], [
      2,
      2,
      2,
      2,
      0,
      false,
    ]);
    sdk.resetHookCounts();
    assert.throws(() =>
      C.withCurrent(() => {
        throw new Error("boom");
      }), /boom/);
    c = sdk.hookCounts();
    assert.deepEqual([c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore, c.preemptDepth, c.irqDisabled], [
      1,
      1,
      1,
      1,
      0,
      false,
    ]);
    assert.throws(() => C.withCurrent(() => Promise.resolve(1)), TypeError);
    assert.equal(sdk.hookCounts().preemptDepth, 0);
  } finally {
    sdk.close();
  }
});

test("with a feature off its hooks are not referenced by the library at all", async () => {
  for (const features of [[], ["preempt"], ["irq"]] as const) {
    const sdk = createPercpu();
    const v = defineAll(sdk, tagOf(`F${features.join("")}`));
    const info = await sdk.load({ cpus: 2, features });
    try {
      const all = dynamicSymbols(await runOk("nm", ["-D", info.path]));
      const undef = dynamicSymbols(await runOk("nm", ["-D", "--undefined-only", info.path]));
      for (const h of HOOKS) {
        const on = (h.includes("preempt") && features.includes("preempt" as never)) ||
          (h.includes("irq") && features.includes("irq" as never));
        assert.equal(all.has(h), on, `${h} present with features [${features.join(",")}]`);
        assert.ok(!undef.has(h), `${h} is never undefined`);
      }
      // The generated object alone: no hook of a disabled feature is referenced.
      await withTempDir("ffi-obj", async (dir) => {
        await writeFile(join(dir, "percpu.S"), info.generated.files["percpu.S"]);
        await runOk("cc", ["-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
        const refs = dynamicSymbols(await runOk("nm", ["--undefined-only", join(dir, "percpu.o")]));
        for (const h of HOOKS) {
          const on = (h.includes("preempt") && features.includes("preempt" as never)) ||
            (h.includes("irq") && features.includes("irq" as never));
          if (!on) assert.ok(!refs.has(h), `percpu.o references ${h} with features [${features.join(",")}]`);
        }
        if (features.length > 0) {
          assert.ok(refs.size > 0, "the guarded reset of a large variable references the enabled hook");
        }
        sdk.init(2);
        sdk.initPercpuReg(1);
        sdk.resetHookCounts();
        v.LONG.resetToInit();
        v.U32.withCurrent((cell) => cell.set(cell.get() + 1));
        const c = sdk.hookCounts();
        const p = features.includes("preempt" as never) ? 2 : 0;
        const i = features.includes("irq" as never) ? 2 : 0;
        assert.deepEqual([c.preemptDisable, c.preemptEnable, c.irqSave, c.irqRestore], [p, p, i, i]);
      });
    } finally {
      sdk.close();
    }
  }
});

function code(c: string) {
  return (e: unknown) => e instanceof PercpuError && e.code === c && e.message.length > 0;
}

test("misuse before load, before init and before initPercpuReg throws instead of crashing", async () => {
  const sdk = createPercpu();
  const tag = tagOf("B");
  const A = sdk.define(`A_${tag}`, u32, 1);
  const S = sdk.define(`S_${tag}`, struct({ a: u8 }), { a: 1 });
  assert.throws(() => A.readCurrent(), code("native_not_loaded"));
  assert.throws(() => sdk.init(1), code("native_not_loaded"));
  assert.throws(() => sdk.initPercpuReg(0), code("native_not_loaded"));
  await sdk.load({ cpus: 2 });
  try {
    await assert.rejects(sdk.load({ cpus: 2 }), code("options_invalid"));
    assert.equal(sdk.areaNum(), 0);
    for (
      const f of [
        () => A.readCurrent(),
        () => A.readCurrentRaw(),
        () => A.writeCurrent(1),
        () => A.writeCurrentRaw(1),
        () => A.addCurrent(1),
        () => A.cmpxchgCurrent(1, 2),
        () => A.currentPtr(),
        () => A.resetToInit(),
        () => A.withCurrent(() => 1),
        () => S.readCurrent(),
        () => A.remoteRead(0),
        () => A.remoteWrite(0, 1),
        () => A.remotePtr(0),
        () => A.sum(),
        () => sdk.readPercpuReg(),
        () => sdk.initPercpuReg(0),
        () => sdk.areaBase(0),
        () => sdk.writePercpuReg(0x1000n),
      ]
    ) assert.throws(f, code("native_not_initialised"));
    sdk.init(2);
    for (
      const f of [
        () => A.readCurrent(),
        () => A.writeCurrent(3),
        () => S.writeCurrent({ a: 2 }),
        () => sdk.readPercpuReg(),
        () => A.currentPtr(),
      ]
    ) {
      assert.throws(f, (e: unknown) => code("native_not_initialised")(e) && /initPercpuReg/.test((e as Error).message));
    }
    assert.equal(A.remoteRead(1), 1, "remote access needs only init");
    for (const bad of [2, 3, -1, 1.5, Number.NaN, 2 ** 53, 1n as unknown as number, "1" as unknown as number]) {
      assert.throws(() => sdk.initPercpuReg(bad), code("native_cpu_out_of_range"), `initPercpuReg(${bad})`);
      assert.throws(() => A.remoteRead(bad), code("native_cpu_out_of_range"));
      assert.throws(() => A.remoteWrite(bad, 1), code("native_cpu_out_of_range"));
      assert.throws(() => A.remotePtr(bad), code("native_cpu_out_of_range"));
      assert.throws(() => sdk.areaBase(bad), code("native_cpu_out_of_range"));
    }
    for (const bad of [0, 3, -1, 1.5]) {
      assert.throws(() => sdk.init(bad), code("native_cpu_out_of_range"), `init(${bad})`);
    }
    assert.throws(() => sdk.writePercpuReg(0n), code("value_out_of_range"));
    assert.throws(() => sdk.writePercpuReg(sdk.areaBase(0) + 8n), code("value_out_of_range"));
    assert.throws(
      () => sdk.writePercpuReg(sdk.areaBase(1) + BigInt(sdk.areaBase(1) - sdk.areaBase(0))),
      code("value_out_of_range"),
    );
    sdk.writePercpuReg(sdk.areaBase(1));
    assert.equal(sdk.readPercpuReg(), sdk.areaBase(1));
    assert.equal(A.readCurrent(), 1);
  } finally {
    sdk.close();
  }
});

test("values outside their type are rejected before any native call", async () => {
  const sdk = createPercpu();
  const v = defineAll(sdk, tagOf("V"));
  await sdk.load({ cpus: 1 });
  try {
    sdk.init(1);
    sdk.initPercpuReg(0);
    const bad: [
      { writeCurrent(x: never): void; remoteWrite(c: number, x: never): void; readCurrent(): unknown },
      unknown,
      string,
    ][] = [
      [v.U8, 256, "value_out_of_range"],
      [v.U8, -1, "value_out_of_range"],
      [v.I8, -129, "value_out_of_range"],
      [v.U16, 65536, "value_out_of_range"],
      [v.I32, 2 ** 31, "value_out_of_range"],
      [v.U32, 1.5, "value_wrong_kind"],
      [v.U32, Number.NaN, "value_wrong_kind"],
      [v.U64, -1n, "value_out_of_range"],
      [v.U64, 2n ** 64n, "value_out_of_range"],
      [v.I64, 2n ** 63n, "value_out_of_range"],
      [v.U64, 2 ** 60, "value_wrong_kind"],
      [v.F32, 1e39, "value_out_of_range"],
      [v.U32, "5", "value_wrong_kind"],
      [v.U32, 2n ** 32n, "value_out_of_range"],
      [v.FLAG, 1, "value_wrong_kind"],
      [v.F64, "1", "value_wrong_kind"],
      [v.STATS, { irqs: 1n, ticks: 1, hist: [1, 2, 3, 65536], on: true }, "value_out_of_range"],
      [v.STATS, { irqs: 1n, ticks: 1, hist: [1, 2, 3], on: true }, "value_wrong_kind"],
      [v.STATS, { irqs: 1n, ticks: 1, on: true }, "value_wrong_kind"],
    ];
    for (const [h, value, c] of bad) {
      const before = h.readCurrent();
      assert.throws(() => h.writeCurrent(value as never), code(c), `writeCurrent(${String(value)})`);
      assert.throws(() => h.remoteWrite(0, value as never), code(c));
      assert.deepEqual(h.readCurrent(), before, "nothing was written");
    }
    assert.throws(() => v.U8.addCurrent(256), code("value_out_of_range"));
    assert.throws(() => v.U8.cmpxchgCurrent(0, -256), code("value_out_of_range"));
    assert.throws(() => (v.STATS as unknown as { addCurrent(x: number): void }).addCurrent(1), TypeError);
  } finally {
    sdk.close();
  }
});

test("every call after close() throws native_closed, and the SDK can load again", async () => {
  const sdk = createPercpu();
  const tag = tagOf("Z");
  const A = sdk.define(`A_${tag}`, u64, 3);
  await sdk.load({ cpus: 2 });
  sdk.init(2);
  sdk.initPercpuReg(0);
  sdk.close();
  sdk.close();
  for (
    const f of [
      () => A.readCurrent(),
      () => A.writeCurrent(1n),
      () => A.readCurrentRaw(),
      () => A.addCurrent(1n),
      () => A.xchgCurrent(1n),
      () => A.currentPtr(),
      () => A.remoteRead(0),
      () => A.remotePtr(0),
      () => A.sum(),
      () => A.resetToInit(),
      () => A.withCurrent(() => 0),
      () => sdk.init(1),
      () => sdk.initPercpuReg(0),
      () => sdk.readPercpuReg(),
      () => sdk.areaBase(0),
      () => sdk.areaNum(),
      () => sdk.areaSize(),
      () => sdk.hookCounts(),
      () => sdk.writePercpuReg(0n),
    ]
  ) assert.throws(f, code("native_closed"));
  const again = await sdk.load({ cpus: 2 });
  try {
    assert.equal(again.cached, true);
    sdk.init(1);
    sdk.initPercpuReg(0);
    assert.equal(A.readCurrent(), 3n);
  } finally {
    sdk.close();
  }
});

test("binding the per-CPU register for one library unbinds this thread from another", async () => {
  const one = createPercpu();
  const two = createPercpu();
  const A = one.define(`A_${tagOf("O")}`, u32, 1);
  const B = two.define(`B_${tagOf("T")}`, u32, 2);
  await one.load({ cpus: 1 });
  await two.load({ cpus: 1 });
  try {
    one.init(1);
    two.init(1);
    one.initPercpuReg(0);
    assert.equal(A.readCurrent(), 1);
    assert.throws(() => B.readCurrent(), code("thread_bound_elsewhere"));
    two.initPercpuReg(0);
    assert.equal(B.readCurrent(), 2);
    assert.throws(() => A.readCurrent(), code("thread_bound_elsewhere"));
    two.close();
    assert.throws(() => A.readCurrent(), code("native_not_initialised"));
    one.initPercpuReg(0);
    assert.equal(A.readCurrent(), 1);
  } finally {
    one.close();
    two.close();
  }
});

test("the loaded library exports the whole C contract and nothing is emulated", async () => {
  const sdk = createPercpu();
  const v = defineAll(sdk, tagOf("E"));
  const info = await sdk.load({ cpus: 1 });
  sdk.close();
  const syms = dynamicSymbols(await runOk("nm", ["-D", "--defined-only", info.path]));
  const { leafPrototypes } = await import("./_toolchain.ts");
  const names = leafPrototypes(info.generated).map((p) => /(\w+)\(/.exec(p)![1]!);
  assert.ok(names.length > 100);
  for (const n of names) assert.ok(syms.has(n), n);
  for (const h of Object.values(v)) {
    for (const op of ["current_ptr", "remote_ptr", "reset_to_init"]) assert.ok(syms.has(`percpu_${h.name}_${op}`));
  }
  const r = await run("cc", ["--version"]);
  assert.equal(r.code, 0);
});

/** Compile-time checks (never run): values keep their TS types and RMW ops exist only on integers. */
function typeChecks(v: ReturnType<typeof defineAll>): void {
  const n: number = v.U32.readCurrent();
  const b: bigint = v.U64.readCurrent();
  const f: boolean = v.FLAG.remoteRead(0);
  const s: { irqs: bigint; ticks: number; hist: number[]; on: boolean } = v.STATS.readCurrent();
  const total: bigint = v.U64.sum();
  const old: number = v.U8.xchgCurrent(1);
  // @ts-expect-error: the RMW ops exist only on integer variables
  v.STATS.addCurrent(1);
  // @ts-expect-error: floats have no add
  v.F64.addCurrent(1);
  // RMW operands are C-like integers: a number or a bigint for every width.
  v.U64.addCurrent(-1);
  v.U32.addCurrent(5n);
  void [n, b, f, s, total, old];
}
void typeChecks;
