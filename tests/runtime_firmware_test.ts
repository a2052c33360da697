/**
 * The generated counters and allocator (emit/percpu_runtime_c.ts) as
 * bare-metal firmware on 4 CPUs of every arch under QEMU: a counter hammered
 * by every CPU with a sampling reader (sum exact at every sample, read within
 * batch × CPUs, compare at the truth), then the allocator workload on every
 * CPU at once with a unique pattern per block in every CPU's area,
 * coalescing and exhaustion (firmware/_program_runtime_ext.ts). One image
 * per arch, built in parallel, booted one after another.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPercpu, type Target, u64 } from "../mod.ts";
import { bootFirmware, buildFirmware, describeBoot } from "../firmware/build.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

/** Every arch, aarch64 also at EL2 and riscv64 with the preempt and irq guards compiled in. */
const RUNS: readonly { arch: Target; features: readonly ("el2" | "preempt" | "irq")[] }[] = [
  { arch: "x86_64", features: [] },
  { arch: "aarch64", features: [] },
  { arch: "aarch64", features: ["el2"] },
  { arch: "riscv64", features: ["preempt", "irq"] },
  { arch: "riscv32", features: [] },
  { arch: "loongarch64", features: [] },
];

test(
  `firmware on 4 CPUs of ${RUNS.map((r) => [r.arch, ...r.features].join("+")).join(", ")}: percpu_counter_* under a concurrent hammer and percpu_alloc/percpu_free under a concurrent workload pass every check`,
  () =>
    withTempDir("runtime-fw", async (dir) => {
      const images = await Promise.all(RUNS.map((r, i) => {
        const sdk = createPercpu();
        sdk.define("CPU_TAG", u64, 3);
        sdk.counter("EVENTS", { batch: 16, init: -5n });
        sdk.counter("BYTES");
        return sdk.buildFirmware({
          arch: r.arch,
          cpus: 4,
          features: [...r.features],
          dynamic: 4096,
          out: join(dir, `${i}-${r.arch}`),
          program: { inline: false, hammer: 20 },
        });
      }));
      const lines: string[] = [];
      for (const [i, image] of images.entries()) {
        const result = await bootFirmware(image, { timeoutMs: 60_000 });
        assert.ok(result.passed, describeBoot(result));
        assert.ok(result.lines.some((l) => /var=EVENTS check=counter-hammer ok/.test(l)), "the counter phase ran");
        assert.ok(result.lines.some((l) => /check=dyn-workload ok/.test(l)), "the allocator phase ran");
        // A u128 block through percpu_<op>_dyn(u128, ...) on every CPU of the 64-bit arches (riscv32 has no u128).
        const wide = RUNS[i]!.arch !== "riscv32";
        for (const check of ["dyn-u128", "dyn-u128-remote"]) {
          for (let cpu = 0; cpu < 4; cpu++) assert.equal(result.lines.includes(`cpu=${cpu} var=- check=${check} ok`), wide, `${RUNS[i]!.arch} cpu ${cpu} ${check}`);
        }
        lines.push(`${[RUNS[i]!.arch, ...RUNS[i]!.features].join("+")} ${result.result?.checks} checks ${Math.round(result.durationMs)} ms`);
      }
      console.log(`     ${lines.join("; ")}`);
    }),
  { timeoutMs: 300_000, only: ["deno"] },
);
