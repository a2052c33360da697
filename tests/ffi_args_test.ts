/**
 * C-like integer arguments of the loaded accessors: the read-modify-write ops
 * of an n-bit integer take any integer of [-(2^n − 1), 2^n − 1] as a number
 * or a bigint and wrap modulo 2^n exactly as C converts it (checked against a
 * BigInt model of C, reading back through the handle); writes keep the type's
 * own range; every wrong argument is `value_out_of_range` or
 * `value_wrong_kind` with a message naming the variable, the op and the value.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  array,
  createPercpu,
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
import { test } from "./_harness.ts";

/** The handle methods exercised here, with loose argument types (any JS value reaches the checks). */
interface IntHandle {
  readonly name: string;
  readCurrent(): unknown;
  writeCurrent(v: unknown): void;
  writeCurrentRaw(v: unknown): void;
  remoteRead(cpu: number): unknown;
  remoteWrite(cpu: number, v: unknown): void;
  addCurrent(v: unknown): void;
  subCurrent(v: unknown): void;
  andCurrent(v: unknown): void;
  orCurrent(v: unknown): void;
  xorCurrent(v: unknown): void;
  xchgCurrent(v: unknown): unknown;
  cmpxchgCurrent(expected: unknown, desired: unknown): unknown;
}

/** Every integer scalar type with its width in bits on the host and its signedness. */
const TYPES = [
  { t: u8, name: "u8", bits: 8, signed: false },
  { t: i8, name: "i8", bits: 8, signed: true },
  { t: u16, name: "u16", bits: 16, signed: false },
  { t: i16, name: "i16", bits: 16, signed: true },
  { t: u32, name: "u32", bits: 32, signed: false },
  { t: i32, name: "i32", bits: 32, signed: true },
  { t: u64, name: "u64", bits: 64, signed: false },
  { t: i64, name: "i64", bits: 64, signed: true },
  { t: usize, name: "usize", bits: 64, signed: false },
  { t: isize, name: "isize", bits: 64, signed: true },
] as const;

type IntType = typeof TYPES[number];

/** C's conversion of an integer to the type: reduction modulo 2^n into its range. */
function toC(ty: IntType, x: bigint): bigint {
  return ty.signed ? BigInt.asIntN(ty.bits, x) : BigInt.asUintN(ty.bits, x);
}

/** The C semantics of each RMW op on converted operands: the new value and the returned one. */
const C_OPS: Record<string, (old: bigint, a: bigint, b: bigint) => { value: bigint; result: bigint | null }> = {
  addCurrent: (o, a) => ({ value: o + a, result: null }),
  subCurrent: (o, a) => ({ value: o - a, result: null }),
  andCurrent: (o, a) => ({ value: o & a, result: null }),
  orCurrent: (o, a) => ({ value: o | a, result: null }),
  xorCurrent: (o, a) => ({ value: o ^ a, result: null }),
  xchgCurrent: (_o, a) => ({ value: a, result: _o }),
  cmpxchgCurrent: (o, a, b) => ({ value: o === a ? b : o, result: o }),
};

/** The JS form a value of the type reads back as. */
function jsOf(ty: IntType, x: bigint): number | bigint {
  return ty.bits === 64 ? x : Number(x);
}

/** The argument forms of an integer: always the bigint, and the number when it is a safe integer. */
function forms(x: bigint): (number | bigint)[] {
  const n = Number(x);
  return Number.isSafeInteger(n) && BigInt(n) === x ? [x, n] : [x];
}

/** A small deterministic generator of n-bit operands in [-(2^n − 1), 2^n − 1]. */
function samples(bits: number): bigint[] {
  const max = (1n << BigInt(bits)) - 1n;
  const half = 1n << BigInt(bits - 1);
  const out = [0n, 1n, -1n, 2n, -2n, max, -max, max - 1n, -(max - 1n), half, -half, half - 1n, -(half - 1n), half + 1n];
  let s = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 12; i++) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    const v = s & max;
    out.push(i % 2 === 0 ? v : -v);
  }
  return out;
}

function code(c: string, ...parts: string[]) {
  return (e: unknown): boolean => {
    if (!(e instanceof PercpuError)) return false;
    assert.equal(e.code, c, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} names ${p}`);
    return true;
  };
}

let unique = 0;

async function loaded(tag: string): Promise<{ sdk: PercpuSdk; vars: Map<string, IntHandle> }> {
  const sdk = createPercpu();
  const vars = new Map<string, IntHandle>();
  const t = `${tag}${unique++}`;
  for (const ty of TYPES) {
    vars.set(ty.name, sdk.define(`${ty.name.toUpperCase()}_${t}`, ty.t, 0) as unknown as IntHandle);
  }
  await sdk.load({ cpus: 2 });
  sdk.init(2);
  sdk.initPercpuReg(0);
  return { sdk, vars };
}

/** Reads the current value back as a bigint, checking its JS form (number below 64 bits, bigint at 64). */
function readBack(ty: IntType, h: IntHandle): bigint {
  const v = h.readCurrent();
  assert.equal(typeof v, ty.bits === 64 ? "bigint" : "number", `${h.name} reads back as its JS form`);
  return BigInt(v as number | bigint);
}

test("addCurrent(-1) on every unsigned type decrements, wrapping from 0 to 2^n - 1, as Linux's this_cpu_add(x, -1)", async () => {
  const { sdk, vars } = await loaded("D");
  try {
    for (const ty of TYPES.filter((x) => !x.signed)) {
      const h = vars.get(ty.name)!;
      const max = (1n << BigInt(ty.bits)) - 1n;
      for (const minusOne of [-1, -1n]) {
        h.writeCurrent(jsOf(ty, 0n));
        h.addCurrent(minusOne);
        assert.equal(readBack(ty, h), max, `${ty.name}: 0 + (${typeof minusOne} -1) wraps to 2^${ty.bits} - 1`);
        h.addCurrent(minusOne);
        assert.equal(readBack(ty, h), max - 1n);
        h.writeCurrent(jsOf(ty, 10n));
        h.addCurrent(minusOne);
        assert.equal(readBack(ty, h), 9n, `${ty.name}: 10 - 1`);
        h.subCurrent(minusOne);
        assert.equal(readBack(ty, h), 10n, `${ty.name}: sub(-1) increments`);
        h.writeCurrent(jsOf(ty, max));
        h.subCurrent(minusOne);
        assert.equal(readBack(ty, h), 0n, `${ty.name}: 2^n - 1 - (-1) wraps to 0`);
      }
      assert.equal(BigInt(h.remoteRead(0) as number | bigint), 0n, "the remote read sees the same value");
    }
  } finally {
    sdk.close();
  }
});

test("signed types wrap around at their extremes in both directions, with number and bigint operands", async () => {
  const { sdk, vars } = await loaded("S");
  try {
    for (const ty of TYPES.filter((x) => x.signed)) {
      const h = vars.get(ty.name)!;
      const min = -(1n << BigInt(ty.bits - 1));
      const max = -min - 1n;
      for (const one of forms(1n)) {
        h.writeCurrent(jsOf(ty, max));
        h.addCurrent(one);
        assert.equal(readBack(ty, h), min, `${ty.name}: max + 1 = min`);
        h.subCurrent(one);
        assert.equal(readBack(ty, h), max, `${ty.name}: min - 1 = max`);
      }
      // 2^n - 1 is -1 modulo 2^n: adding it decrements.
      const all = (1n << BigInt(ty.bits)) - 1n;
      for (const f of forms(all)) {
        h.writeCurrent(jsOf(ty, 0n));
        h.addCurrent(f);
        assert.equal(readBack(ty, h), -1n, `${ty.name}: 0 + (2^n - 1) = -1`);
      }
      // An operand of the unsigned range stores its two's-complement value.
      for (const f of forms(-min)) {
        h.writeCurrent(jsOf(ty, -1n));
        assert.equal(BigInt(h.xchgCurrent(f) as number | bigint), -1n);
        assert.equal(readBack(ty, h), min, `${ty.name}: xchg(2^(n-1)) stores min`);
      }
    }
  } finally {
    sdk.close();
  }
});

test("every RMW op matches a BigInt model of C for operands across [-(2^n - 1), 2^n - 1], given as number and as bigint", async () => {
  const { sdk, vars } = await loaded("M");
  try {
    let calls = 0;
    for (const ty of TYPES) {
      const h = vars.get(ty.name)!;
      const ops = samples(ty.bits);
      const m = 1n << BigInt(ty.bits);
      // Another representative of x modulo 2^n inside [-(2^n - 1), 2^n - 1] (x itself for 0).
      const alias = (x: bigint): bigint => (x >= 1n ? x - m : x <= -1n ? x + m : x);
      for (const [op, model] of Object.entries(C_OPS)) {
        const fn = (h as unknown as Record<string, (x: unknown, y?: unknown) => unknown>)[op]!;
        for (let i = 0; i < ops.length; i++) {
          const start = toC(ty, ops[(i * 5 + 1) % ops.length]!);
          // Half of the cmpxchg calls expect the current value (through another representative), so both outcomes occur.
          const a = op === "cmpxchgCurrent" && i % 2 === 0 ? alias(start) : ops[i]!;
          const b = ops[(i * 7 + 3) % ops.length]!;
          const want = model(start, toC(ty, a), toC(ty, b));
          for (const fa of forms(a)) {
            for (const fb of op === "cmpxchgCurrent" ? forms(b) : [undefined]) {
              h.writeCurrent(jsOf(ty, start));
              const r = op === "cmpxchgCurrent" ? fn.call(h, fa, fb) : fn.call(h, fa);
              calls++;
              const where = `${ty.name}.${op}(${String(fa)}${fb === undefined ? "" : `, ${String(fb)}`}) from ${start}`;
              assert.equal(readBack(ty, h), toC(ty, want.value), where);
              if (want.result === null) assert.equal(r, undefined, where);
              else {
                assert.equal(typeof r, ty.bits === 64 ? "bigint" : "number", `${where} returns the JS form`);
                assert.equal(BigInt(r as number | bigint), want.result, where);
              }
            }
          }
        }
      }
    }
    assert.ok(calls > 1000, `${calls} calls`);
  } finally {
    sdk.close();
  }
});

test("boundaries: +-(2^n - 1) are accepted by every RMW op, +-2^n are value_out_of_range and change nothing", async () => {
  const { sdk, vars } = await loaded("B");
  try {
    for (const ty of TYPES) {
      const h = vars.get(ty.name)!;
      const max = (1n << BigInt(ty.bits)) - 1n;
      for (const op of Object.keys(C_OPS)) {
        const fn = (h as unknown as Record<string, (x: unknown, y?: unknown) => unknown>)[op]!;
        const call = (x: unknown): unknown => op === "cmpxchgCurrent" ? fn.call(h, x, x) : fn.call(h, x);
        for (const ok of [max, -max]) for (const f of forms(ok)) call(f);
        h.writeCurrent(jsOf(ty, 5n));
        for (const bad of [max + 1n, -max - 1n]) {
          for (const f of [bad, Number(bad)]) {
            assert.throws(
              () => call(f),
              code(
                "value_out_of_range",
                `"${h.name}"`,
                `${op}()`,
                `got ${typeof f === "bigint" ? `${f}n` : String(f)}`,
              ),
              `${ty.name}.${op}(${f})`,
            );
            if (op === "cmpxchgCurrent") {
              assert.throws(() => fn.call(h, 5, f), code("value_out_of_range", "desired"));
              assert.throws(() => fn.call(h, f, 5), code("value_out_of_range", "expected"));
            }
          }
        }
        assert.equal(readBack(ty, h), 5n, `${ty.name}.${op}: a rejected call writes nothing`);
      }
    }
  } finally {
    sdk.close();
  }
});

test("writes keep the type's own range, taking a number or a bigint for every width", async () => {
  const { sdk, vars } = await loaded("W");
  try {
    for (const ty of TYPES) {
      const h = vars.get(ty.name)!;
      const min = ty.signed ? -(1n << BigInt(ty.bits - 1)) : 0n;
      const max = ty.signed ? -min - 1n : (1n << BigInt(ty.bits)) - 1n;
      for (const v of [min, max, 0n, 1n, ty.signed ? -1n : 2n]) {
        for (const f of forms(v)) {
          h.writeCurrent(f);
          assert.equal(readBack(ty, h), v, `${ty.name}.writeCurrent(${String(f)})`);
          h.writeCurrentRaw(f);
          assert.equal(readBack(ty, h), v);
          h.remoteWrite(1, f);
          assert.equal(BigInt(h.remoteRead(1) as number | bigint), v, `${ty.name}.remoteWrite(1, ${String(f)})`);
        }
      }
      h.writeCurrent(jsOf(ty, 3n));
      for (const bad of [min - 1n, max + 1n]) {
        // The number nearest an unsafe bound may round back into the range (-2^63 - 1 is -2^63): only exact misses count.
        const asNumber = Number(bad);
        const out = BigInt(asNumber) < min || BigInt(asNumber) > max;
        for (const f of forms(bad).concat(!Number.isSafeInteger(asNumber) && out ? [asNumber] : [])) {
          for (
            const [op, call] of [
              ["writeCurrent", () => h.writeCurrent(f)],
              ["writeCurrentRaw", () => h.writeCurrentRaw(f)],
              ["remoteWrite", () => h.remoteWrite(0, f)],
            ] as const
          ) {
            assert.throws(call, code("value_out_of_range", `"${h.name}"`, `${op}()`), `${ty.name}.${op}(${String(f)})`);
          }
        }
      }
      assert.equal(readBack(ty, h), 3n, "nothing was written");
    }
  } finally {
    sdk.close();
  }
});

test("a non-integer, NaN, a string, null or an object is value_wrong_kind naming the variable, the op and the quoted value", async () => {
  const { sdk, vars } = await loaded("K");
  try {
    const bad: [unknown, string][] = [
      [1.5, "got 1.5"],
      [Number.NaN, "got NaN"],
      ["1", 'got "1"'],
      [null, "got null"],
      [undefined, "got undefined"],
      [{}, "got an object"],
      [true, "got true"],
    ];
    for (const ty of TYPES) {
      const h = vars.get(ty.name)!;
      h.writeCurrent(jsOf(ty, 7n));
      for (const [v, got] of bad) {
        for (const op of [...Object.keys(C_OPS), "writeCurrent", "writeCurrentRaw"]) {
          const fn = (h as unknown as Record<string, (x: unknown, y?: unknown) => unknown>)[op]!;
          assert.throws(
            () => (op === "cmpxchgCurrent" ? fn.call(h, 7, v) : fn.call(h, v)),
            code("value_wrong_kind", `"${h.name}"`, `${op}()`, got),
            `${ty.name}.${op}(${String(v)})`,
          );
        }
        assert.throws(() => h.remoteWrite(0, v), code("value_wrong_kind", "remoteWrite()", got));
      }
      if (ty.bits === 64) {
        // A number beyond 2^53 cannot be exact: only a bigint is accepted there.
        for (const f of [2 ** 53, 2 ** 60]) {
          assert.throws(() => h.addCurrent(f), code("value_wrong_kind", "bigint", `got ${f}`));
          assert.throws(() => h.writeCurrent(f), code("value_wrong_kind", "bigint"));
        }
      }
      assert.equal(readBack(ty, h), 7n, "nothing was written");
    }
  } finally {
    sdk.close();
  }
});

test("struct and array writes accept either form per leaf and report every wrong value with a value_* code", async () => {
  const sdk = createPercpu();
  const S = sdk.define(`ARGS_S${unique++}`, struct({ a: u64, b: u16, h: array(i8, 3) }), { a: 1, b: 2, h: [1, 2, 3] });
  await sdk.load({ cpus: 1 });
  try {
    sdk.init(1);
    sdk.initPercpuReg(0);
    S.writeCurrent({ a: 5 as unknown as bigint, b: 6n as unknown as number, h: [-1n as unknown as number, 0, 127] });
    assert.deepEqual(S.readCurrent(), { a: 5n, b: 6, h: [-1, 0, 127] });
    const w = (v: unknown) => () => S.writeCurrent(v as never);
    assert.throws(
      w({ a: 1n, b: 65536, h: [0, 0, 0] }),
      code("value_out_of_range", "writeCurrent()", `.b"`, "got 65536"),
    );
    assert.throws(w({ a: 1n, b: 1, h: [0, 0, "1"] }), code("value_wrong_kind", `.h[2]"`, 'got "1"'));
    assert.throws(w({ a: 1n, b: 1, h: [0, 0] }), code("value_wrong_kind", "writeCurrent()"));
    assert.throws(w({ a: 1n, b: 1 }), code("value_wrong_kind", "writeCurrent()"));
    assert.throws(w({ a: 1n, b: 1, h: [0, 0, 0], c: 1 }), code("value_wrong_kind", "writeCurrent()"));
    assert.throws(w(5), code("value_wrong_kind", "writeCurrent()"));
    assert.throws(() => S.remoteWrite(0, { a: -1n, b: 1, h: [0, 0, 0] }), code("value_out_of_range", "remoteWrite()"));
    assert.deepEqual(S.readCurrent(), { a: 5n, b: 6, h: [-1, 0, 127] }, "nothing was written");
  } finally {
    sdk.close();
  }
});

test("writePercpuReg takes a bigint address: a number is value_wrong_kind, a negative one value_out_of_range without printing 0x-1", async () => {
  const sdk = createPercpu();
  sdk.define(`ARGS_R${unique++}`, u8, 0);
  await sdk.load({ cpus: 1 });
  try {
    sdk.init(1);
    assert.throws(
      () => sdk.writePercpuReg(5 as unknown as bigint),
      code("value_wrong_kind", "writePercpuReg", "got 5"),
    );
    assert.throws(() => sdk.writePercpuReg("1" as unknown as bigint), code("value_wrong_kind", 'got "1"'));
    assert.throws(() => sdk.writePercpuReg(-1n), (e: unknown) => {
      code("value_out_of_range", "got -1n")(e);
      assert.ok(!(e as Error).message.includes("0x-"), (e as Error).message);
      return true;
    });
    assert.throws(() => sdk.writePercpuReg(1n << 64n), code("value_out_of_range"));
    assert.throws(() => sdk.writePercpuReg(sdk.areaBase(0) + 8n), code("value_out_of_range", "not the base"));
    sdk.writePercpuReg(sdk.areaBase(0));
    assert.equal(sdk.readPercpuReg(), sdk.areaBase(0));
  } finally {
    sdk.close();
  }
});
