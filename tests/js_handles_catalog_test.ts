/**
 * The JS handles are derived from the op catalog: every leaf op of
 * `LEAF_OP_SPECS` is the handle method named by its `js`, called through real
 * FFI, and does what its row says (its `model` for read-modify-write ops, a
 * read-back for the reads and writes, of the current CPU or of the CPU it is
 * given). The ops come from the catalog, so a new row is exercised here
 * without editing this file.
 */
import assert from "node:assert/strict";
import { array, bool, createPercpu, f64, i16, PercpuError, type PercpuVar, struct, u32, u64 } from "../mod.ts";
import { type AccessorName, DERIVED_METHODS, type DerivedMethod } from "../ffi/_accessors.ts";
import { LEAF_OP_SPECS, LEAF_OPS, type LeafOp, type LeafOpSpec } from "../sdk/ops.ts";
import { OPERAND_SAMPLES } from "./_fixtures.ts";
import { test } from "./_harness.ts";

// Compile-time: every catalog op is a compiled method, and every compiled method is a handle method.
const catalogMethods = [] as typeof LEAF_OP_SPECS[LeafOp]["js"][] satisfies AccessorName[];
const handleMethods = [] as AccessorName[] satisfies (keyof PercpuVar)[];
void [catalogMethods, handleMethods];

type Method = (...args: unknown[]) => unknown;

/** The handle's method `js` as a plain function (bound to the handle). */
function method(v: PercpuVar, js: string): Method {
  const f = (v as unknown as Record<string, unknown>)[js];
  assert.equal(typeof f, "function", `${v.name}.${js}`);
  return (f as Method).bind(v);
}

/** The methods installed on a loaded handle (the compiled accessors are its own properties). */
function ownMethods(v: PercpuVar): string[] {
  return Object.getOwnPropertyNames(v).filter((k) => typeof (v as unknown as Record<string, unknown>)[k] === "function")
    .sort();
}

/** The verb of an op's error messages: `update` for integer ops, `read` for value-returning ops without values, else `write`. */
function verbOf(spec: LeafOpSpec): string {
  if (spec.scalars !== "every") return "update";
  return spec.values.length === 0 && spec.returns === "value" ? "read" : "write";
}

/** How the test checks an op: a plain read, a plain write, or a read-modify-write against its model. */
function kindOf(op: LeafOp): "read" | "write" | "rmw" {
  const spec: LeafOpSpec = LEAF_OP_SPECS[op];
  if (spec.model !== null) return "rmw";
  if (spec.values.length === 0 && spec.returns === "value") return "read";
  if (spec.values.length === 1 && spec.returns === "void") return "write";
  throw new Error(`no check for the shape of ${op}: give it a model or extend this test`);
}

/** The CPU every op is run on (the current CPU, and the one remote ops are given); CPU 0 must stay untouched. */
const CPU = 1;


/** An integer variable under test: how its n-bit patterns map to JS values. */
interface IntegerCase {
  readonly v: PercpuVar;
  readonly bits: bigint;
  readonly signed: boolean;
  readonly wide: boolean;
}

function toJs(c: IntegerCase, bits: bigint): number | bigint {
  const mask = (1n << c.bits) - 1n;
  let x = bits & mask;
  if (c.signed && x >= 1n << (c.bits - 1n)) x -= 1n << c.bits;
  return c.wide ? x : Number(x);
}

/** Calls op `op` of the handle on {@link CPU} with `values`. */
function call(v: PercpuVar, op: LeafOp, values: readonly unknown[]): unknown {
  const spec: LeafOpSpec = LEAF_OP_SPECS[op];
  return method(v, spec.js)(...(spec.target === "remote" ? [CPU] : []), ...values);
}

const readers = LEAF_OPS.filter((op) => kindOf(op) === "read");
const writers = LEAF_OPS.filter((op) => kindOf(op) === "write");
const rmws = LEAF_OPS.filter((op) => kindOf(op) === "rmw" && LEAF_OP_SPECS[op].scalars === "integer");
/** A remote reader and writer (to check that other CPUs' copies are left alone). */
const remoteReader = readers.find((op) => LEAF_OP_SPECS[op].target === "remote");
const remoteWriter = writers.find((op) => LEAF_OP_SPECS[op].target === "remote");

/** Every reader of the catalog sees `expected` on {@link CPU}. */
function assertReads(v: PercpuVar, expected: unknown, what: string): void {
  for (const r of readers) assert.deepEqual(call(v, r, []), expected, `${what}: ${LEAF_OP_SPECS[r].js}`);
}

/** Reads CPU 0's copy with the remote reader (`undefined` when the catalog has none). */
function readCpu0(v: PercpuVar): unknown {
  if (remoteReader === undefined) return undefined;
  const spec = LEAF_OP_SPECS[remoteReader];
  return method(v, spec.js)(0);
}

function defineVars(tag: string) {
  const sdk = createPercpu();
  const U32 = sdk.define(`JSH_U32_${tag}`, u32, 7);
  const U64 = sdk.define(`JSH_U64_${tag}`, u64, 7n);
  const I16 = sdk.define(`JSH_I16_${tag}`, i16, -7);
  const F64 = sdk.define(`JSH_F64_${tag}`, f64, 0.5);
  const STATS = sdk.define(`JSH_STATS_${tag}`, struct({ a: u32, b: array(i16, 3), c: f64, d: bool }), {
    a: 1,
    b: [1, -2, 3],
    c: 1.5,
    d: true,
  });
  const integers: IntegerCase[] = [
    { v: U32 as unknown as PercpuVar, bits: 32n, signed: false, wide: false },
    { v: U64 as unknown as PercpuVar, bits: 64n, signed: false, wide: true },
    { v: I16 as unknown as PercpuVar, bits: 16n, signed: true, wide: false },
  ];
  const others = [F64, STATS] as unknown as PercpuVar[];
  return { sdk, integers, others };
}

test("every catalog op is the JS handle method named by its js, doing what its row says through FFI (u32, u64, i16)", async () => {
  const { sdk, integers } = defineVars("ops");
  await sdk.load({ cpus: 2 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(CPU);
    for (const c of integers) {
      const v = c.v;
      const mask = (1n << c.bits) - 1n;
      const samples = [...new Set(OPERAND_SAMPLES.map((s) => s & mask))];
      const sentinel = toJs(c, 0x5a5a5a5a5a5a5a5an);
      if (remoteWriter !== undefined) method(v, LEAF_OP_SPECS[remoteWriter].js)(0, sentinel);

      // Every write is seen by every read, current and remote.
      for (const w of writers) {
        for (const bits of samples) {
          const x = toJs(c, bits);
          assert.equal(call(v, w, [x]), undefined, `${v.name}.${LEAF_OP_SPECS[w].js} returns nothing`);
          assertReads(v, x, `${v.name}.${LEAF_OP_SPECS[w].js}(${x})`);
        }
      }

      // Every read-modify-write op leaves and returns what its model says, on the old value itself too.
      for (const op of rmws) {
        const spec: LeafOpSpec = LEAF_OP_SPECS[op];
        for (const [k, old] of samples.entries()) {
          // Operands from the samples, all equal to the old value, and each one alone equal to it.
          const rotated = spec.values.map((_, i) => samples[(k + 5 * i + 3) % samples.length]!);
          const operandSets = [
            rotated,
            rotated.map(() => old),
            ...rotated.map((_, i) => rotated.map((o, j) => (j === i ? old : o))),
          ];
          for (const operands of operandSets) {
            call(v, writers[0]!, [toJs(c, old)]);
            const what = `${v.name}.${spec.js}(${operands.map((o) => toJs(c, o)).join(", ")}) on ${toJs(c, old)}`;
            const got = call(v, op, operands.map((o) => toJs(c, o)));
            const model = spec.model!(old, operands, mask);
            const want = spec.returns === "value" ? toJs(c, model.result!) : spec.returns === "ok" ? { ok: model.ok, value: toJs(c, model.result!) } : undefined;
            assert.deepEqual(got, want, `${what} returns`);
            assertReads(v, toJs(c, model.value), what);
          }
        }
      }

      // Each value parameter is checked: a bad value at any position throws and changes nothing.
      const valid = toJs(c, 3n);
      for (const op of LEAF_OPS.filter((o) => LEAF_OP_SPECS[o].scalars !== "u128")) {
        const spec: LeafOpSpec = LEAF_OP_SPECS[op];
        for (let i = 0; i < spec.values.length; i++) {
          for (const bad of ["3", c.wide ? mask + 1n : 2 ** 40, 1.5]) {
            call(v, writers[0]!, [valid]);
            const args = spec.values.map((_, j) => (j === i ? bad : valid));
            assert.throws(
              () => call(v, op, args),
              (e: unknown) => e instanceof PercpuError,
              `${v.name}.${spec.js} value ${spec.values[i]} = ${String(bad)}`,
            );
            assertReads(v, valid, `${v.name}.${spec.js} after a bad ${spec.values[i]}`);
          }
        }
      }

      if (remoteReader !== undefined) assert.equal(readCpu0(v), sentinel, `${v.name}: CPU 0's copy is untouched`);

      // The derived methods.
      for (const m of Object.keys(DERIVED_METHODS) as DerivedMethod[]) {
        switch (m) {
          case "sum": {
            call(v, writers[0]!, [toJs(c, 5n)]);
            const reads = [0, 1].map((cpu) => method(v, LEAF_OP_SPECS[DERIVED_METHODS.sum.uses].js)(cpu));
            const expected = c.wide
              ? (reads as bigint[]).reduce((a, b) => a + b, 0n)
              : (reads as number[]).reduce((a, b) => a + b, 0);
            assert.equal(method(v, "sum")(), expected, `${v.name}.sum()`);
            break;
          }
        }
      }

      // The handle has exactly the catalog's methods and the derived ones.
      assert.deepEqual(ownMethods(v), [...LEAF_OPS.filter((op) => LEAF_OP_SPECS[op].scalars !== "u128").map((op) => LEAF_OP_SPECS[op].js), ...Object.keys(DERIVED_METHODS)].sort());
    }
  } finally {
    sdk.close();
  }
});

test("every catalog op checks the binding (current ops) or the CPU (remote ops) with its verb in the message", async () => {
  const { sdk, integers, others } = defineVars("checks");
  await sdk.load({ cpus: 2 });
  try {
    sdk.init(2);
    for (const v of [...integers.map((c) => c.v), ...others]) {
      const integer = integers.some((c) => c.v === v);
      for (const op of LEAF_OPS) {
        const spec: LeafOpSpec = LEAF_OP_SPECS[op];
        if (spec.scalars === "u128" || (spec.scalars === "integer" && !integer)) continue;
        const values = spec.values.map(() => v.init);
        const f = method(v, spec.js);
        const message = new RegExp(`^Cannot ${verbOf(spec)} "${v.name}": `);
        switch (spec.target) {
          case "current":
            assert.throws(
              () => f(...values),
              (e: unknown) =>
                e instanceof PercpuError && e.code === "native_not_initialised" && message.test(e.message) &&
                /initPercpuReg/.test(e.message),
              `${v.name}.${spec.js} unbound`,
            );
            break;
          case "remote":
            for (const bad of [2, -1, 0.5]) {
              assert.throws(
                () => f(bad, ...values),
                (e: unknown) =>
                  e instanceof PercpuError && e.code === "native_cpu_out_of_range" && message.test(e.message),
                `${v.name}.${spec.js}(${bad})`,
              );
            }
            break;
        }
      }
    }
  } finally {
    sdk.close();
  }
});

test("a non-integer variable (f64, struct) has exactly the non-integer ops' methods, and they round-trip through FFI", async () => {
  const { sdk, others } = defineVars("values");
  await sdk.load({ cpus: 2 });
  try {
    sdk.init(2);
    sdk.initPercpuReg(CPU);
    const nonInteger = LEAF_OPS.filter((op) => LEAF_OP_SPECS[op].scalars === "every");
    const [F64, STATS] = others as [PercpuVar, PercpuVar];
    const samples: [PercpuVar, unknown[]][] = [
      [F64, [0, -2.5, 1e300, Number.MAX_VALUE, Number.POSITIVE_INFINITY]],
      [STATS, [{ a: 0, b: [0, 0, 0], c: 0, d: false }, { a: 4294967295, b: [-32768, 32767, -1], c: -1e-300, d: true }]],
    ];
    for (const [v, values] of samples) {
      const derived = (Object.keys(DERIVED_METHODS) as DerivedMethod[]).filter((m) => !DERIVED_METHODS[m].integer);
      assert.deepEqual(ownMethods(v), [...nonInteger.map((op) => LEAF_OP_SPECS[op].js), ...derived].sort(), v.name);
      for (const op of LEAF_OPS.filter((o) => LEAF_OP_SPECS[o].scalars !== "every")) {
        const spec: LeafOpSpec = LEAF_OP_SPECS[op];
        const proto = (v as unknown as Record<string, unknown>)[spec.js];
        if (typeof proto === "function") {
          assert.throws(
            () => (proto as Method).call(v, ...spec.values.map(() => 1)),
            TypeError,
            `${v.name}.${spec.js}`,
          );
        }
      }
      for (const w of writers) {
        for (const x of values) {
          assert.equal(call(v, w, [x]), undefined);
          assertReads(v, x, `${v.name}.${LEAF_OP_SPECS[w].js}(${JSON.stringify(x)})`);
        }
      }
    }
  } finally {
    sdk.close();
  }
});
