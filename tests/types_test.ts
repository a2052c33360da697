/**
 * Compile-time checks of `Infer`/`InferInit`: this file only typechecks if
 * handles read back with the right JS types and wrong initial values are
 * rejected by the compiler (`// @ts-expect-error` fails when there is no
 * error). `tsc --noEmit` checks it with the project; the last test runs
 * `deno check` on it. The same lines also run, so the runtime behaviour
 * (normalised, frozen values; PercpuError for the wrong inits) is asserted too.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i64,
  i8,
  type Infer,
  type InferInit,
  isize,
  PercpuError,
  type PercpuType,
  type PercpuVar,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { test } from "./_harness.ts";

/** `true` only when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

// Exact value types of every scalar.
const scalarTypes: [
  Equal<Infer<typeof u8>, number>,
  Equal<Infer<typeof u16>, number>,
  Equal<Infer<typeof u32>, number>,
  Equal<Infer<typeof i8>, number>,
  Equal<Infer<typeof i16>, number>,
  Equal<Infer<typeof u64>, bigint>,
  Equal<Infer<typeof i64>, bigint>,
  Equal<Infer<typeof usize>, bigint>,
  Equal<Infer<typeof isize>, bigint>,
  Equal<Infer<typeof bool>, boolean>,
  Equal<Infer<typeof f32>, number>,
  Equal<Infer<typeof f64>, number>,
  // 64-bit inits also take safe-integer numbers; narrower ones only numbers.
  Equal<InferInit<typeof u64>, bigint | number>,
  Equal<InferInit<typeof u32>, number>,
  // An unknown type tree reads back as unknown (no false precision).
  Equal<Infer<PercpuType>, unknown>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];

const Stats = struct({ irqs: u64, ticks: u32, hist: array(u16, 4), hot: aligned(struct({ x: f32, on: bool }), 64), cpus: array(struct({ id: i64 }), 2) });
const structType: Equal<
  Infer<typeof Stats>,
  { irqs: bigint; ticks: number; hist: number[]; hot: { x: number; on: boolean }; cpus: { id: bigint }[] }
> = true;

test("define() handles read back with the inferred JS types", () => {
  const sdk = createPercpu();
  const CPU_ID = sdk.define("CPU_ID", u64, 0);
  const TICKS = sdk.define("TICKS", u32, 7);
  const FLAG = sdk.define("FLAG", bool, true);
  const TEMP = sdk.define("TEMP", f64, 1.5);
  const SLOT = sdk.define("SLOT", usize, 2n ** 40n);
  const STATS = sdk.define("STATS", Stats, {
    irqs: 1,
    ticks: 2,
    hist: [1, 2, 3, 4],
    hot: { x: 0.5, on: false },
    cpus: [{ id: -1n }, { id: 2 }],
  });

  const id: bigint = CPU_ID.init;
  const ticks: number = TICKS.init;
  const flag: boolean = FLAG.init;
  const temp: number = TEMP.init;
  const slot: bigint = SLOT.init;
  const irqs: bigint = STATS.init.irqs;
  const hist: number[] = STATS.init.hist;
  const x: number = STATS.init.hot.x;
  const cpu1: bigint = STATS.init.cpus[1]!.id;
  const handle: PercpuVar<typeof Stats> = STATS;
  // @ts-expect-error a u32 reads back as a number, not a bigint
  const wrongTicks: bigint = TICKS.init;
  // @ts-expect-error a u64 reads back as a bigint, not a number
  const wrongId: number = CPU_ID.init;
  // @ts-expect-error the struct has no field "nope"
  const nope: unknown = STATS.init.nope;

  // And at run time: 64-bit values are normalised to bigint, the rest as given, all frozen.
  assert.equal(id, 0n);
  assert.equal(typeof wrongId, "bigint");
  assert.equal(typeof wrongTicks, "number");
  assert.equal(nope, undefined);
  assert.deepEqual([ticks, flag, temp, slot, irqs, cpu1, x], [7, true, 1.5, 2n ** 40n, 1n, 2n, 0.5]);
  assert.deepEqual(hist, [1, 2, 3, 4]);
  assert.ok(Object.isFrozen(STATS.init) && Object.isFrozen(STATS.init.hist) && Object.isFrozen(STATS.init.cpus[0]));
  assert.equal(handle.type, Stats);
  assert.equal(`${STATS}`.startsWith("STATS: struct { irqs: u64"), true);
  assert.ok(scalarTypes.every((t) => t) && structType);
});

test("wrong initial values are compile errors and PercpuErrors", () => {
  const sdk = createPercpu();
  const rejects = (define: () => unknown, code: string): void => {
    assert.throws(define, (e: unknown) => e instanceof PercpuError && e.code === code);
  };
  // @ts-expect-error a string is not a u32
  rejects(() => sdk.define("A", u32, "1"), "init_wrong_kind");
  // @ts-expect-error a bigint is not a u32
  rejects(() => sdk.define("A", u32, 1n), "init_wrong_kind");
  // @ts-expect-error a number is not a bool
  rejects(() => sdk.define("A", bool, 1), "init_wrong_kind");
  // @ts-expect-error a boolean is not a u8
  rejects(() => sdk.define("A", u8, true), "init_wrong_kind");
  // @ts-expect-error a string is not a u64
  rejects(() => sdk.define("A", u64, "1"), "init_wrong_kind");
  // @ts-expect-error missing field b
  rejects(() => sdk.define("A", struct({ a: u8, b: u8 }), { a: 1 }), "init_missing_field");
  // @ts-expect-error extra field c
  rejects(() => sdk.define("A", struct({ a: u8 }), { a: 1, c: 2 }), "init_extra_field");
  // @ts-expect-error array element of the wrong type
  rejects(() => sdk.define("A", array(u8, 2), [1, "2"]), "init_wrong_kind");
  // @ts-expect-error an object is not an array
  rejects(() => sdk.define("A", array(u8, 2), { 0: 1, 1: 2 }), "init_wrong_kind");
  // @ts-expect-error nested field of the wrong type
  rejects(() => sdk.define("A", struct({ s: struct({ f: f32 }) }), { s: { f: true } }), "init_wrong_kind");
  // @ts-expect-error aligned keeps the inner type: a bigint is not an i8
  rejects(() => sdk.define("A", aligned(i8, 16), 1n), "init_wrong_kind");
  // @ts-expect-error the name must be a string
  rejects(() => sdk.define(5, u8, 1), "name_not_identifier");
  // Out-of-range values are run-time checks only (the type is just `number`).
  rejects(() => sdk.define("A", u8, 256), "init_out_of_range");
  assert.equal(sdk.vars.length, 0);
  // Accepted spellings: a number or a bigint for 64-bit, readonly arrays, objects for structs.
  const hist = [1, 2] as const;
  sdk.define("A", u64, 1);
  sdk.define("B", i64, -1n);
  sdk.define("C", array(u8, 2), hist);
  assert.deepEqual(sdk.vars.map((v) => v.init), [1n, -1n, [1, 2]]);
});

test("this file passes deno check (Infer holds and every @ts-expect-error is needed)", () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const r = spawnSync(join(root, "node_modules/.bin/deno"), ["check", "--quiet", "tests/types_test.ts"], { cwd: root, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
}, { only: ["deno"] });
