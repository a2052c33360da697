import assert from "node:assert/strict";
import { aligned, array, createPercpu, struct, u16, u32, u64, u8 } from "../mod.ts";
import { test } from "./_harness.ts";

test("layout() keeps definition order and rounds the stride up to 64", () => {
  const sdk = createPercpu();
  sdk.define("FLAG", u8, 1);
  sdk.define("CPU_ID", u64, 7n);
  sdk.define("STATS", struct({ irqs: u64, ticks: u32 }), { irqs: 0, ticks: 3 });
  const l = sdk.layout("aarch64");
  assert.deepEqual(l.vars.map((v) => [v.name, v.offset, v.size, v.align]), [["FLAG", 0, 1, 1], ["CPU_ID", 8, 8, 8], ["STATS", 16, 16, 8]]);
  assert.equal(l.areaSize, 32);
  assert.equal(l.stride, 64);
});

test("layout() reserves the self pointer first on x86_64 only", () => {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  assert.equal(sdk.layout("x86_64").vars[0]!.offset, 8);
  assert.equal(sdk.layout("x86_64").selfPointerOffset, 0);
  assert.equal(sdk.layout("riscv64").vars[0]!.offset, 0);
});

test("usize is 4 bytes on riscv32 and 8 elsewhere", async () => {
  const { usize } = await import("../mod.ts");
  const sdk = createPercpu();
  sdk.define("A", u16, 0);
  sdk.define("P", usize, 5);
  assert.deepEqual([sdk.layout("riscv32").vars[1]!.offset, sdk.layout("riscv32").vars[1]!.size], [4, 4]);
  assert.deepEqual([sdk.layout("riscv64").vars[1]!.offset, sdk.layout("riscv64").vars[1]!.size], [8, 8]);
});

test("min-padding order removes padding and an aligned var raises the stride", () => {
  const sdk = createPercpu({ order: "min-padding" });
  sdk.define("A", u8, 0);
  sdk.define("HOT", aligned(array(u32, 3), 128), [1, 2, 3]);
  sdk.define("B", u64, 0);
  const l = sdk.layout("riscv64");
  assert.deepEqual(l.vars.map((v) => [v.name, v.offset, v.paddingBefore]), [["HOT", 0, 0], ["B", 128, 0], ["A", 136, 0]]);
  assert.equal(l.areaAlign, 128);
  assert.equal(l.stride, 256);
});
