/**
 * Every op of the catalog on every arch × {no guard feature, preempt, irq}
 * under QEMU on 4 CPUs: a small config (each integer width, the C types of
 * Linux's lib/percpu_test.c, a struct, a long array for the `_at` forms and,
 * on the 64-bit arches, a u128 for cmpxchg128_current)
 * booted through the firmware test program, whose checks come from the
 * catalog (every op once per CPU with its expected result from the op's
 * model, the guard hooks as the op's guard class says, the lib/percpu_test.c
 * port) through both the `percpu.S` functions and the `percpu.h` accessors.
 * The larger configs of tests/firmware_test.ts and
 * tests/firmware_riscv_loongarch_test.ts run with preempt and irq together.
 * QEMU and clang do the same whichever runtime generated the files: Deno only.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { array, createPercpu, i16, i32, i64, isize, struct, u128, u32, u8, usize } from "../mod.ts";
import { describeBoot } from "../firmware/build.ts";
import type { Target } from "../sdk/targets.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

const ARCHES: readonly Target[] = ["x86_64", "aarch64", "riscv64", "riscv32", "loongarch64"];
const FEATURE_SETS: readonly (readonly ("preempt" | "irq")[])[] = [[], ["preempt"], ["irq"]];

function smallSdk(arch: Target) {
  const sdk = createPercpu();
  // u128 and cmpxchg128_current on the 64-bit arches (riscv32 has no 128-bit C type).
  if (arch !== "riscv32") sdk.define("Q128", u128, (1n << 64n) - 1n);
  sdk.define("B8", u8, 200);
  sdk.define("H16", i16, -2);
  sdk.define("W32", u32, 7);
  sdk.define("D64", i64, -9n);
  sdk.define("LONG", isize, -1n);
  sdk.define("ULONG", usize, 5n);
  sdk.define("INT", i32, -3);
  sdk.define("STATS", struct({ hits: u32, delta: i16 }), { hits: 1, delta: -1 }, { counter: true });
  sdk.define("RING", array(u32, 20), Array.from({ length: 20 }, (_, i) => i));
  return sdk;
}

for (const arch of ARCHES) {
  test(`${arch}: every catalog op passes on 4 CPUs under QEMU with no guard feature, with preempt and with irq (percpu.S and percpu.h)`, async () => {
    for (const features of FEATURE_SETS) {
      const sdk = smallSdk(arch);
      await withTempDir(`fw-matrix-${arch}`, async (root) => {
        const image = await sdk.buildFirmware({ arch, cpus: 4, features: [...features], out: join(root, "image"), program: { hammer: 50 } });
        const r = await sdk.bootFirmware(image, { timeoutMs: 60_000 });
        const what = `${arch} [${features.join(",") || "none"}]`;
        assert.ok(r.passed, `${what}: ${describeBoot(r)}`);
        assert.equal(r.result?.checks, image.expectedChecks, what);
        for (let cpu = 0; cpu < 4; cpu++) {
          for (const check of ["hooks", "ops", "percpu_test", "ops-generic", "percpu_test-generic"]) {
            assert.ok(r.lines.some((l) => l.startsWith(`cpu=${cpu} var=`) && l.endsWith(` check=${check} ok`)), `${what}: cpu ${cpu} ran ${check}`);
          }
          for (const check of arch === "riscv32" ? [] : ["u128-ops", "u128-macros", "u128-remote"]) {
            assert.ok(r.lines.includes(`cpu=${cpu} var=Q128 check=${check} ok`), `${what}: cpu ${cpu} ran ${check}`);
          }
        }
      });
    }
  }, { only: ["deno"], timeoutMs: 240_000 });
}
