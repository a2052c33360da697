/**
 * Leaf handles (`STATS.field("irqs")`, `STATS.field("hist").at(2)`,
 * `IRQ_COUNT.at(20)`): for every scalar type as a struct field, as an
 * element of a short (expanded) and of a long (indexed) array and nested
 * below aligned wrappers, every catalog op through the leaf handle agrees
 * with the whole-variable read-back and, for the read-modify-write ops, with
 * the catalog's BigInt model of C (signed wrap-around, `addCurrent(-1)` on
 * unsigned); remote ops on another CPU, pointers = variable pointer +
 * manifest offset, `sum()`, bad paths, handles before load and across
 * reloads, and the compile-time types (`typeChecks`, never run).
 *
 * @module
 */
import assert from "node:assert/strict";
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
  type LeafHandle,
  type ManifestType,
  PercpuError,
  type PercpuSdk,
  type PercpuType,
  type ScalarType,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import type { LoweredScalarName as ScalarName } from "../sdk/c_names.ts";
import { LEAF_OP_SPECS, type LeafOpSpec } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { OPERAND_SAMPLES } from "./_fixtures.ts";

const SCALARS = {
  u8,
  i8,
  u16,
  i16,
  u32,
  i32,
  u64,
  i64,
  usize,
  isize,
  bool,
  f32,
  f64,
} as const satisfies Record<ScalarName, ScalarType>;

const BITS: Record<ScalarName, number> = {
  u8: 8,
  i8: 8,
  u16: 16,
  i16: 16,
  u32: 32,
  i32: 32,
  u64: 64,
  i64: 64,
  usize: 64,
  isize: 64,
  bool: 8,
  f32: 32,
  f64: 64,
};
const WIDE = new Set<ScalarName>(["u64", "i64", "usize", "isize"]);
const SIGNED = new Set<ScalarName>(["i8", "i16", "i32", "i64", "isize"]);
const FLOATS = new Set<ScalarName>(["bool", "f32", "f64"]);

/** The JS value of an n-bit pattern for scalar `s` (signed types sign-extended). */
function fromBits(s: ScalarName, bits: bigint): number | bigint {
  const n = BigInt(BITS[s]);
  const mask = (1n << n) - 1n;
  let v = bits & mask;
  if (SIGNED.has(s) && v >> (n - 1n) === 1n) v -= 1n << n;
  return WIDE.has(s) ? v : Number(v);
}

/** The n-bit pattern of a JS integer value of scalar `s`. */
function toBits(s: ScalarName, v: number | bigint): bigint {
  return BigInt(v) & ((1n << BigInt(BITS[s])) - 1n);
}

/** Values of a non-integer scalar to write and read back. */
function plainSamples(s: ScalarName): unknown[] {
  if (s === "bool") return [true, false, true];
  if (s === "f32") return [1.5, Math.fround(-3.4e38), Math.fround(0.1), -0, Infinity];
  return [-2.25e300, 0.1, Number.MIN_VALUE, -Infinity];
}

/** The variables of one scalar type: a struct with the scalar at every kind of position, and a long top-level array. */
function defineFor(sdk: PercpuSdk, s: ScalarName, tag: string) {
  const t = SCALARS[s];
  const zero = s === "bool" ? false : WIDE.has(s) ? 0n : 0;
  const type = struct({
    pad: u8,
    f: t,
    shrt: array(t, 4),
    lng: array(t, 20),
    deep: aligned(array(struct({ a: aligned(t, 16), b: array(t, 17), c: array(array(t, 2), 18) }), 3), 64),
  });
  const deepInit = () => ({ a: zero, b: new Array(17).fill(zero), c: Array.from({ length: 18 }, () => [zero, zero]) });
  const S = sdk.define(`LS_${s}_${tag}`, type, {
    pad: 1,
    f: zero,
    shrt: new Array(4).fill(zero),
    lng: new Array(20).fill(zero),
    deep: [deepInit(), deepInit(), deepInit()],
  } as never);
  const A = sdk.define(`LA_${s}_${tag}`, array(t, 24), new Array(24).fill(zero) as never);
  return { S, A };
}

/** A handle under test: how to get it and how to find its value in the whole variable's value. */
interface Case {
  readonly label: string;
  readonly handle: () => LeafHandle<PercpuType>;
  readonly path: readonly (string | number)[];
  readonly whole: { readCurrent(): unknown; remoteRead(cpu: number): unknown; currentPtr(): bigint; remotePtr(cpu: number): bigint; name: string };
}

function pick(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const seg of path) v = (v as Record<string | number, unknown>)[seg];
  return v;
}

/** The byte offset of a path from the manifest's type tree. */
function manifestOffset(type: ManifestType, path: readonly (string | number)[]): number {
  let t = type;
  let off = 0;
  for (const seg of path) {
    while (t.kind === "aligned") t = t.inner;
    if (t.kind === "struct") {
      const f = t.fields.find((x) => x.name === seg)!;
      off += f.offset;
      t = f.type;
    } else if (t.kind === "array") {
      off += (seg as number) * t.element.size;
      t = t.element;
    } else {
      throw new Error(`bad path ${path.join(".")}`);
    }
  }
  return off;
}

function cases(v: ReturnType<typeof defineFor>): Case[] {
  // deno-lint-ignore no-explicit-any
  const S = v.S as any;
  // deno-lint-ignore no-explicit-any
  const A = v.A as any;
  const c = (label: string, whole: Case["whole"], path: (string | number)[], handle: () => LeafHandle<PercpuType>): Case => ({
    label,
    whole,
    path,
    handle,
  });
  return [
    c("struct field", S, ["f"], () => S.field("f")),
    c("short array element", S, ["shrt", 2], () => S.field("shrt").at(2)),
    c("long array element", S, ["lng", 17], () => S.field("lng").at(17)),
    c("aligned nested field", S, ["deep", 1, "a"], () => S.field("deep").at(1).field("a")),
    c("nested long array element", S, ["deep", 2, "b", 16], () => S.field("deep").at(2).field("b").at(16)),
    c("2-D long/short element", S, ["deep", 0, "c", 17, 1], () => S.field("deep").at(0).field("c").at(17).at(1)),
    c("top-level long array element", A, [20], () => A.at(20)),
  ];
}

/** Calls a catalog op on a handle. */
function callOp(h: LeafHandle<PercpuType>, spec: LeafOpSpec, cpu: number, values: unknown[]): unknown {
  const f = (h as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>)[spec.js];
  assert.ok(typeof f === "function", `${spec.js} exists`);
  return spec.target === "remote" ? f.call(h, cpu, ...values) : f.call(h, ...values);
}

let unique = 0;

for (const s of Object.keys(SCALARS) as ScalarName[]) {
  test(`leaf handles of ${s}: every catalog op agrees with the whole-variable read-back and the BigInt model of C`, async () => {
    const sdk = createPercpu();
    const v = defineFor(sdk, s, `t${unique++}`);
    await sdk.load({ cpus: 2 });
    try {
      sdk.init(2);
      sdk.initPercpuReg(0);
      const integer = !FLOATS.has(s);
      const n = BigInt(BITS[s]);
      const mask = (1n << n) - 1n;
      const manifest = sdk.manifest("x86_64");
      for (const k of cases(v)) {
        const h = k.handle();
        const at = `${s} ${k.label}`;
        assert.equal(k.handle(), h, `${at}: the handle is cached`);
        const cur = () => pick(k.whole.readCurrent(), k.path);
        const rem = (cpu: number) => pick(k.whole.remoteRead(cpu), k.path);
        // Pointers: variable pointer + manifest offset.
        const mv = manifest.vars.find((x) => x.name === k.whole.name)!;
        const off = BigInt(manifestOffset(mv.type, k.path));
        assert.equal(h.currentPtr(), k.whole.currentPtr() + off, `${at}: currentPtr`);
        assert.equal(h.remotePtr(1), k.whole.remotePtr(1) + off, `${at}: remotePtr`);
        assert.equal(BigInt(h.offset()), off, `${at}: offset()`);
        if (!integer) {
          for (const x of plainSamples(s)) {
            for (const w of ["writeCurrent", "writeCurrentRaw"] as const) {
              (h as unknown as Record<string, (x: unknown) => void>)[w]!(x);
              assert.equal(h.readCurrent(), x, `${at}: ${w}(${String(x)}) read back`);
              assert.equal(h.readCurrentRaw(), x);
              assert.equal(cur(), x, `${at}: ${w} whole read-back`);
            }
            h.remoteWrite(1, x);
            assert.equal(h.remoteRead(1), x);
            assert.equal(rem(1), x, `${at}: remoteWrite whole read-back`);
          }
          assert.equal((h as unknown as { addCurrent?: unknown }).addCurrent, undefined, "no integer ops on a non-integer leaf");
          assert.equal((h as unknown as { sum?: unknown }).sum, undefined);
          continue;
        }
        // Integer: every catalog op, from several start values, with operands across [-(2^n - 1), 2^n - 1].
        const starts = [0n, 1n, mask, mask >> 1n, (mask >> 1n) + 1n, 0x5an & mask];
        const operands: (number | bigint)[] = [];
        for (const b of OPERAND_SAMPLES) {
          const m = b & mask;
          operands.push(m, -m);
        }
        operands.push(-1, -1n, 1);
        const asArg = (x: number | bigint, i: number): number | bigint => {
          // Alternate number and bigint forms where a number is exact.
          const big = BigInt(x);
          if (i % 2 === 0 && big >= -(2n ** 53n) + 1n && big <= 2n ** 53n - 1n) return Number(big);
          return big;
        };
        let i = 0;
        for (const op of leafOps(s)) {
          const spec: LeafOpSpec = LEAF_OP_SPECS[op];
          const cpu = spec.target === "remote" ? 1 : 0;
          const read = () => toBits(s, (cpu === 1 ? h.remoteRead(1) : h.readCurrent()) as number | bigint);
          const wholeBits = () => toBits(s, (cpu === 1 ? rem(1) : cur()) as number | bigint);
          const set = (bits: bigint) => (cpu === 1 ? h.remoteWrite(1, fromBits(s, bits)) : h.writeCurrent(fromBits(s, bits)));
          for (const start of starts) {
            if (spec.model === null) {
              if (spec.values.length === 0) {
                set(start);
                assert.equal(toBits(s, callOp(h, spec, cpu, []) as number | bigint), start, `${at}: ${spec.js}`);
              } else {
                const x = fromBits(s, start);
                set(start ^ mask);
                callOp(h, spec, cpu, [x]);
                assert.equal(read(), start, `${at}: ${spec.js}(${x})`);
                assert.equal(wholeBits(), start, `${at}: ${spec.js}(${x}) whole read-back`);
              }
              continue;
            }
            for (const a of operands) {
              const b = operands[(i * 7 + 3) % operands.length]!;
              const args = spec.values.length === 2 ? [asArg(a, i), asArg(b, i + 1)] : [asArg(a, i)];
              if (spec.values.length === 2 && i % 3 === 0) args[0] = asArg(fromBits(s, start), i); // cmpxchg hits
              i++;
              set(start);
              const want = spec.model(start, args.map((x) => BigInt(x) & mask), mask);
              const got = callOp(h, spec, cpu, args);
              const what = `${at}: ${spec.js}(${args.join(", ")}) from ${start}`;
              assert.equal(read(), want.value, `${what}: value`);
              assert.equal(wholeBits(), want.value, `${what}: whole read-back`);
              if (spec.returns === "ok") assert.deepEqual(got, { ok: want.ok, value: fromBits(s, want.result!) }, `${what}: result`);
              else if (want.result !== null) assert.equal(got, fromBits(s, want.result), `${what}: result`);
              else assert.equal(got, undefined);
            }
          }
        }
        // addCurrent(-1) on unsigned decrements through zero, as Linux's this_cpu_add(x, -1).
        h.writeCurrent(fromBits(s, 0n));
        h.addCurrent(-1);
        assert.equal(toBits(s, h.readCurrent() as number | bigint), mask, `${at}: addCurrent(-1) from 0`);
        // sum() over both CPUs, as JS numbers/bigints (not wrapped).
        h.writeCurrent(fromBits(s, 3n));
        h.remoteWrite(1, fromBits(s, 4n));
        const sum = (h as unknown as { sum(): number | bigint }).sum();
        assert.equal(sum, WIDE.has(s) ? 7n : 7, `${at}: sum`);
        // The other CPU's copy is untouched by current-CPU ops.
        h.remoteWrite(1, fromBits(s, 0x11n));
        h.writeCurrent(fromBits(s, 0x22n));
        h.addCurrent(1);
        assert.equal(toBits(s, h.remoteRead(1) as number | bigint), 0x11n, `${at}: remote copy untouched`);
        assert.equal(toBits(s, rem(1) as number | bigint), 0x11n);
      }
      // Nothing but the leaves under test changed: the padding byte keeps its value.
      assert.equal((v.S.readCurrent() as { pad: number }).pad, 1);
    } finally {
      sdk.close();
    }
  });
}

test("leaf handles of sub-structs and sub-arrays read and write whole values like a variable of that type", async () => {
  const sdk = createPercpu();
  const tag = `w${unique++}`;
  const T = sdk.define(`LW_${tag}`, struct({ hdr: struct({ id: u16, on: bool }), hist: array(u32, 20), grid: array(array(i8, 3), 18) }), {
    hdr: { id: 1, on: false },
    hist: new Array(20).fill(0),
    grid: Array.from({ length: 18 }, () => [0, 0, 0]),
  });
  await sdk.load({ cpus: 2 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(1);
    const hdr = T.field("hdr");
    hdr.writeCurrent({ id: 65535, on: true });
    assert.deepEqual(hdr.readCurrent(), { id: 65535, on: true });
    assert.deepEqual(T.readCurrent().hdr, { id: 65535, on: true });
    const hist = T.field("hist");
    const values = Array.from({ length: 20 }, (_, i) => i * 1000);
    hist.remoteWrite(0, values);
    assert.deepEqual(hist.remoteRead(0), values);
    assert.deepEqual(T.remoteRead(0).hist, values);
    const row = T.field("grid").at(17);
    row.writeCurrentRaw([-128, 0, 127]);
    assert.deepEqual(row.readCurrentRaw(), [-128, 0, 127]);
    assert.deepEqual(T.readCurrent().grid[17], [-128, 0, 127]);
    assert.equal((row as unknown as { addCurrent?: unknown }).addCurrent, undefined, "no RMW ops on an array leaf");
    assert.throws(() => row.writeCurrent([1, 2] as never), (e: unknown) => e instanceof PercpuError && e.code === "value_wrong_kind");
    assert.throws(() => hdr.writeCurrent({ id: 70000, on: true }), (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range");
    assert.throws(
      () => T.field("hist").at(3).writeCurrent(-1),
      (e: unknown) => e instanceof PercpuError && e.code === "value_out_of_range" && e.message.includes(`"LW_${tag}.hist[3]"`),
    );
  } finally {
    sdk.close();
  }
});

test("leaf paths are checked: bad indices are value_out_of_range, unknown fields and wrong kinds value_wrong_kind, naming the path", async () => {
  const sdk = createPercpu();
  const tag = `e${unique++}`;
  const S = sdk.define(`LE_${tag}`, struct({ irqs: u64, hist: array(u16, 4), big: array(u32, 40) }), {
    irqs: 0,
    hist: [0, 0, 0, 0],
    big: new Array(40).fill(0),
  });
  const code = (c: string, ...parts: string[]) => (e: unknown): boolean => {
    assert.ok(e instanceof PercpuError, String(e));
    assert.equal(e.code, c, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} names ${p}`);
    return true;
  };
  // deno-lint-ignore no-explicit-any
  const any = S as any;
  // Checked before load too.
  assert.throws(() => S.field("hist").at(4), code("value_out_of_range", `"LE_${tag}.hist"`, "4", "0..3"));
  assert.throws(() => S.field("big").at(40), code("value_out_of_range", `"LE_${tag}.big"`, "40", "0..39"));
  assert.throws(() => S.field("big").at(-1), code("value_out_of_range", "-1"));
  assert.throws(() => S.field("big").at(1.5), code("value_wrong_kind", "1.5"));
  assert.throws(() => any.field("big").at("2"), code("value_wrong_kind", '"2"'));
  assert.throws(() => any.field("big").at(2n), code("value_wrong_kind"));
  assert.throws(() => any.field("nope"), code("value_wrong_kind", "nope", "irqs, hist, big"));
  assert.throws(() => any.field("toString"), code("value_wrong_kind", "toString"));
  assert.throws(() => any.at(0), code("value_wrong_kind", "not an array"));
  assert.throws(() => any.field("irqs").field("x"), code("value_wrong_kind", `"LE_${tag}.irqs"`, "not a struct"));
  assert.throws(() => any.field("irqs").at(0), code("value_wrong_kind", "not an array"));
  // Before load: the ops throw native_not_loaded like the variable's.
  const irqs = S.field("irqs");
  const el = S.field("big").at(39);
  assert.throws(() => irqs.readCurrent(), code("native_not_loaded", `"LE_${tag}.irqs"`));
  assert.throws(() => el.addCurrent(1), code("native_not_loaded", `"LE_${tag}.big[39]"`));
  assert.throws(() => el.currentPtr(), code("native_not_loaded"));
  assert.throws(() => el.sum(), code("native_not_loaded"));
  await sdk.load({ cpus: 2 });
  try {
    // Unbound thread and bad CPU: errors, never a crash.
    sdk.init(2);
    assert.throws(() => irqs.readCurrent(), code("native_not_initialised", `"LE_${tag}.irqs"`));
    assert.throws(() => el.addCurrent(1), code("native_not_initialised", `"LE_${tag}.big[39]"`));
    assert.throws(() => el.remoteRead(2), code("native_cpu_out_of_range"));
    sdk.initPercpuReg(0);
    // The handles made before load work now; new ones are the same objects.
    el.addCurrent(5);
    irqs.subCurrent(1n);
    assert.equal(S.field("big").at(39), el);
    assert.equal(el.readCurrent(), 5);
    assert.equal(S.readCurrent().big[39], 5);
    assert.equal(irqs.readCurrent(), 2n ** 64n - 1n);
    assert.throws(() => el.addCurrent(2 ** 32), code("value_out_of_range"));
    assert.throws(() => el.addCurrent("1" as never), code("value_wrong_kind", '"1"'));
    sdk.close();
    assert.throws(() => el.readCurrent(), code("native_closed"));
    // A second load re-attaches every handle already made.
    await sdk.load({ cpus: 2 });
    sdk.init(2);
    sdk.initPercpuReg(1);
    assert.equal(el.readCurrent(), 0);
    el.writeCurrent(9);
    assert.equal(S.readCurrent().big[39], 9);
  } finally {
    sdk.close();
  }
});

/** Compile-time checks of the leaf handle types: never run, only type-checked. */
export function typeChecks(): void {
  const sdk = createPercpu();
  const STATS = sdk.define("STATS", struct({ irqs: u64, ticks: u32, hist: array(u16, 4), hdr: aligned(struct({ on: bool }), 64) }), {
    irqs: 0,
    ticks: 0,
    hist: [0, 0, 0, 0],
    hdr: { on: false },
  });
  const IRQ_COUNT = sdk.define("IRQ_COUNT", array(u32, 64), new Array(64).fill(0));
  const HOT = sdk.define("HOT", aligned(array(i64, 20), 128), new Array(20).fill(0));
  const irqs: bigint = STATS.field("irqs").readCurrent();
  const ticks: number = STATS.field("ticks").xchgCurrent(-1);
  const bucket: number = STATS.field("hist").at(2).cmpxchgCurrent(1, 2n);
  const hist: number[] = STATS.field("hist").readCurrent();
  const on: boolean = STATS.field("hdr").field("on").remoteRead(1);
  const timer: number = IRQ_COUNT.at(20).sum();
  const hot: bigint = HOT.at(19).readCurrent();
  IRQ_COUNT.at(20).addCurrent(-1);
  STATS.field("hdr").writeCurrent({ on: true });
  const p: bigint = IRQ_COUNT.at(3).remotePtr(1);
  // @ts-expect-error: no such field
  STATS.field("nope");
  // @ts-expect-error: at() only on arrays
  STATS.at(0);
  // @ts-expect-error: at() only on arrays
  STATS.field("irqs").at(0);
  // @ts-expect-error: field() only on structs
  IRQ_COUNT.field("x");
  // @ts-expect-error: no RMW ops on a bool
  STATS.field("hdr").field("on").addCurrent(1);
  // @ts-expect-error: no RMW ops on an array
  STATS.field("hist").addCurrent(1);
  // @ts-expect-error: a u64 field reads as bigint
  const wrong: number = STATS.field("irqs").readCurrent();
  // @ts-expect-error: the remote ops take the CPU first
  IRQ_COUNT.at(1).remoteWrite(5);
  void [irqs, ticks, bucket, hist, on, timer, hot, p, wrong];
}
