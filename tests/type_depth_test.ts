/**
 * Type trees have a depth limit with its own error code: a runaway nesting,
 * built by the constructors or by hand (even a cyclic object), is rejected
 * with `type_too_deep` at once instead of exhausting the stack after minutes.
 */
import assert from "node:assert/strict";
import { createPercpu, MAX_TYPE_DEPTH, PercpuError, type PercpuType, struct, u8 } from "../mod.ts";
import { test } from "./_harness.ts";

/** `struct({ a: struct({ a: ... u8 }) })`, `depth` levels, built bottom-up with the constructor. */
function nested(depth: number): PercpuType {
  let t: PercpuType = u8;
  for (let i = 0; i < depth; i++) t = struct({ a: t });
  return t;
}

function initOf(depth: number): unknown {
  let v: unknown = 7;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function expectTooDeep(act: () => unknown): PercpuError {
  try {
    act();
  } catch (e) {
    assert.ok(e instanceof PercpuError, `expected a PercpuError, got ${String(e)}`);
    assert.equal(e.code, "type_too_deep");
    assert.match(e.message, new RegExp(`the limit is ${MAX_TYPE_DEPTH}$`));
    return e;
  }
  assert.fail("expected type_too_deep");
}

test("a struct nested exactly MAX_TYPE_DEPTH deep defines, lays out and generates", () => {
  const sdk = createPercpu();
  const v = sdk.define("DEEP", nested(MAX_TYPE_DEPTH) as never, initOf(MAX_TYPE_DEPTH) as never);
  assert.equal(sdk.layout("x86_64").vars[0]!.size, 1);
  assert.deepEqual(v.init, initOf(MAX_TYPE_DEPTH));
  assert.ok(sdk.generate({ arch: "riscv64" }).files["percpu.S"].includes("__PERCPU_DEEP"));
});

test("struct() one level past the limit throws type_too_deep, and a 2 000-deep chain stops at the limit", () => {
  const base = nested(MAX_TYPE_DEPTH);
  const e = expectTooDeep(() => struct({ a: base }));
  assert.deepEqual(e.path, ["a"]);
  let t: PercpuType = u8;
  let built = 0;
  assert.throws(() => {
    for (let i = 0; i < 2000; i++, built++) t = struct({ a: t });
  }, (x: unknown) => x instanceof PercpuError && x.code === "type_too_deep");
  assert.equal(built, MAX_TYPE_DEPTH);
});

test("define() of a hand-built tree 100 000 levels deep throws type_too_deep naming the variable", () => {
  let t: unknown = { kind: "scalar", name: "u8" };
  for (let i = 0; i < 100_000; i++) t = { kind: "struct", fields: { a: t } };
  const sdk = createPercpu();
  const e = expectTooDeep(() => sdk.define("DEEP", t as never, 0 as never));
  assert.equal(e.path[0], "DEEP");
  assert.equal(e.path.length, MAX_TYPE_DEPTH + 1);
  assert.ok(e.message.includes(`"DEEP.a.a`), e.message);
  assert.equal(sdk.vars.length, 0);
});

test("define() of a cyclic hand-built type throws type_too_deep instead of looping", () => {
  const fields: Record<string, unknown> = {};
  const cyclic = { kind: "struct", fields };
  fields.self = cyclic;
  expectTooDeep(() => createPercpu().define("LOOP", cyclic as never, {} as never));
});

test("a constructor-built subtree at the limit is rejected when nested inside a hand-built wrapper", () => {
  const t = { kind: "array", element: nested(MAX_TYPE_DEPTH), length: 2 };
  const e = expectTooDeep(() => createPercpu().define("WRAP", t as never, [] as never));
  assert.deepEqual(e.path, ["WRAP", 0]);
});
