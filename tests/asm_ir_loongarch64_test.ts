/**
 * The loongarch64 lowering on the instruction IR of arch/asm.ts: the
 * inline-asm scratch outputs of `PERCPU_INLINE` come from the IR's defs, so
 * here they are checked against what each rendered template names; and the
 * text interface of `loadImmediate` (rendered from the same builders).
 */
import assert from "node:assert/strict";
import { loadImmediate } from "../arch/loongarch64.ts";
import { array, createPercpu, i16, i8, struct, u16, u32, u64, u8 } from "../mod.ts";
import { test } from "./_harness.ts";

function generateHeader(features: readonly ("preempt" | "irq" | "naive")[], far: boolean): string {
  const sdk = createPercpu();
  if (far) sdk.define("PAD", array(u8, 40000), Array.from({ length: 40000 }, () => 0) as never);
  sdk.define("B", u8, 1 as never);
  sdk.define("H", i16, -1 as never);
  sdk.define("W", u32, 2 as never);
  sdk.define("Q", u64, 3n as never);
  sdk.define("ST", struct({ a: i8, b: array(u16, 5) }), { a: 0, b: [0, 0, 0, 0, 0] } as never);
  sdk.define("GRID", array(array(u16, 20), 3), Array.from({ length: 3 }, () => Array.from({ length: 20 }, () => 0)) as never);
  return sdk.generate({ arch: "loongarch64", functions: true, features: [...features] }).files["percpu.h"];
}

for (const features of [[], ["preempt", "irq"], ["naive"]] as const) {
  for (const far of [false, true]) {
    const name = `${features.length ? features.join("+") : "none"}${far ? ", far offsets" : ""}`;
    test(`loongarch64 IR (${name}): every inline accessor declares exactly the %[tN] scratch operands its template names, as early-clobber outputs`, () => {
      const h = generateHeader(features, far);
      const statements = h.split("__asm__ __volatile__(").slice(1).map((s) => s.slice(0, s.indexOf(";")));
      assert.ok(statements.length > 50, "expected inline accessors");
      let withScratch = 0;
      for (const st of statements) {
        const [template = "", outputs = ""] = st.split("\n    : ");
        const named = [...new Set([...template.matchAll(/%\[(t\d)\]/g)].map((m) => m[1]!))].sort();
        const declared = [...outputs.matchAll(/\[(t\d)\] "=&r"/g)].map((m) => m[1]!).sort();
        assert.deepEqual(declared, named, st);
        if (named.length > 0) withScratch++;
      }
      assert.ok(withScratch > 0, "some accessors need scratch registers");
    });
  }
}

test("loongarch64 IR: loadImmediate renders 1-3 instructions from the IR builders", () => {
  assert.deepEqual(loadImmediate("$a0", 7), ["ori $a0, $zero, 7"]);
  assert.deepEqual(loadImmediate("$t4", 0x12345), ["lu12i.w $t4, 18", "ori $t4, $t4, 837"]);
  assert.deepEqual(loadImmediate("$t0", 0x3000), ["lu12i.w $t0, 3"]);
  assert.deepEqual(loadImmediate("$a1", 0x80000fff), ["lu12i.w $a1, -524288", "ori $a1, $a1, 4095", "lu32i.d $a1, 0"]);
  assert.throws(() => loadImmediate("$a0", 2 ** 32), RangeError);
});
