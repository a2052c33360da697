/**
 * Interrupt safety under a real timer interrupt, on 4 CPUs of every arch
 * under QEMU: the firmware's interrupt phase (firmware/_program_irq.ts) runs
 * read-modify-write ops (add, sub, inc, dec, add/sub/inc_return) on 8-, 16-,
 * 32- and 64-bit leaves, and a cmpxchg128 retry loop on a u128 leaf (64-bit
 * arches), while each CPU's periodic timer handler
 * (firmware/_irq_platforms.ts) does the same ops on the same leaves; every
 * total must be exact and every CPU must take at least 100 interrupts.
 *
 * QEMU's TCG delivers interrupts only between translation blocks, so a
 * straight-line load-op-store is never split by default (measured: riscv64
 * with no guard feature, 4 CPUs, ~660 interrupts over 1.2 M iterations, 0
 * lost). The boots run with `-singlestep` (one instruction a block), so an
 * interrupt can land between any two instructions as on hardware. Then the
 * negative control — no guard feature where the form is a plain
 * load-op-store (8/16-bit on riscv64, riscv32 and loongarch64, 64-bit on
 * riscv32) — loses updates, and the harness reports how many.
 * QEMU and clang do the same whichever runtime generated the files: Deno only.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPercpu, i8, PercpuError, u128, u16, u32, u64, u8 } from "../mod.ts";
import { type BootResult, bootFirmware, buildFirmware, describeBoot } from "../firmware/build.ts";
import type { Target } from "../sdk/targets.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

const ARCHES: readonly Target[] = ["x86_64", "aarch64", "riscv64", "riscv32", "loongarch64"];
const VARS = ["B8", "H16", "S8", "W32", "D64", "Q128"] as const;
/** Leaves whose form with no guard feature is a plain load-op-store (everything else is one atomic or an LL/SC loop). */
const PLAIN: Readonly<Record<Target, readonly (typeof VARS)[number][]>> = {
  x86_64: [],
  aarch64: [],
  riscv64: ["B8", "H16", "S8", "Q128"],
  riscv32: ["B8", "H16", "S8", "D64"],
  loongarch64: ["B8", "H16", "S8", "Q128"],
};
/**
 * Plain forms whose window is too rare to be hit on every run: the u128 compare-and-exchange is one op
 * of the loop (the small leaves have seven), so its negative control may or may not lose; its lost
 * updates are printed, and with `irq` its total must be exact like every other.
 */
const MAY_LOSE: ReadonlySet<string> = new Set(["Q128"]);
/** The leaves of an arch's layout (riscv32 has no u128). */
const varsOf = (arch: Target): readonly (typeof VARS)[number][] => (arch === "riscv32" ? VARS.filter((v) => v !== "Q128") : VARS);
const MIN_TICKS = 100;

function irqLayoutSdk(arch: Target) {
  const sdk = createPercpu();
  // Its low half 3 short of a carry: the first updates carry into the high half.
  if (arch !== "riscv32") sdk.define("Q128", u128, (1n << 64n) - 3n);
  sdk.define("B8", u8, 7);
  sdk.define("H16", u16, 0x1234);
  sdk.define("W32", u32, 5);
  sdk.define("D64", u64, 0x1_0000_0000n);
  sdk.define("S8", i8, -3);
  return sdk;
}

type Feature = "irq" | "el2" | "preempt";

async function bootIrq(arch: Target, features: readonly Feature[], root: string): Promise<BootResult> {
  const sdk = irqLayoutSdk(arch);
  const image = await buildFirmware(sdk.layout(arch), {
    arch,
    cpus: 4,
    features: [...features],
    out: join(root, `${arch}-${features.join(",") || "none"}`),
    // The barrier after the loop waits for the slowest CPU: ten 4-CPU boots share the host cores.
    program: { inline: false, hammer: 20, timeoutMs: 60_000, irq: { loops: 2000, periodUs: 50, minTicks: MIN_TICKS } },
  });
  return await bootFirmware(image, { timeoutMs: 150_000, qemuArgs: ["-singlestep"] });
}

/** `irq: cpu=N var=X key=V` lines as numbers. */
function info(r: BootResult, key: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of r.lines) {
    const m = /^irq: cpu=(\d+) var=(\S+) (\w+)=(\d+)$/.exec(l);
    if (m && m[3] === key) out.set(`${m[1]}:${m[2]}`, Number(m[4]));
  }
  return out;
}

function summary(what: string, r: BootResult): string {
  const ticks = [...info(r, "ticks").values()];
  const loops = [...info(r, "loops").values()];
  return `${what}: ${Math.round(r.durationMs)} ms, interrupts per CPU ${ticks.join("/")}, iterations per CPU ${loops.join("/")}`;
}

test("timer interrupts on 4 CPUs of every arch, aarch64 EL1 and EL2 (-singlestep): with irq every total is exact; without a guard feature exactly the plain load-op-store forms lose updates", async () => {
  await withTempDir("fw-irq", async (root) => {
    const configs: { arch: Target; features: Feature[] }[] = [
      ...ARCHES.flatMap((arch) => [{ arch, features: ["irq" as const] }, { arch, features: [] }]),
      { arch: "aarch64", features: ["irq", "el2"] },
      // Both guards nest (preempt_disable, irq_save, ..., irq_restore, preempt_enable) while the handler takes them too.
      { arch: "riscv32", features: ["preempt", "irq"] },
    ];
    const runs = await Promise.all(configs.map(({ arch, features }) =>
      bootIrq(arch, features, root).then((r) => ({ arch, features: features.join(",") || "none", irq: features.includes("irq"), r }))
    ));
    for (const { arch, features, irq, r } of runs) {
      const what = `${arch} [${features}]`;
      console.log(summary(what, r));
      const ticks = info(r, "ticks");
      for (let cpu = 0; cpu < 4; cpu++) {
        assert.ok((ticks.get(`${cpu}:-`) ?? 0) >= MIN_TICKS, `${what}: cpu ${cpu} took ${ticks.get(`${cpu}:-`)} interrupts\n${describeBoot(r)}`);
        assert.ok(r.lines.includes(`cpu=${cpu} var=- check=irq_ticks ok`), `${what}: cpu ${cpu} irq_ticks\n${describeBoot(r)}`);
      }
      const plain = irq ? [] : PLAIN[arch];
      if (plain.length === 0) {
        assert.ok(r.passed, `${what}: ${describeBoot(r)}`);
        for (let cpu = 0; cpu < 4; cpu++) {
          for (const v of varsOf(arch)) assert.ok(r.lines.includes(`cpu=${cpu} var=${v} check=irq ok`), `${what}: cpu ${cpu} ${v}`);
        }
        continue;
      }
      // The negative control: the run must fail, on the plain forms only, and say how many updates it lost.
      assert.equal(r.passed, false, `${what} must lose updates: ${describeBoot(r)}`);
      const lost = info(r, "lost");
      const failing = r.failures.filter((f) => f.cpu >= 0);
      assert.ok(failing.every((f) => f.check === "irq" && plain.includes(f.var as (typeof VARS)[number])), `${what}: only plain forms fail\n${describeBoot(r)}`);
      for (const v of varsOf(arch)) {
        const perCpu = [0, 1, 2, 3].map((cpu) => lost.get(`${cpu}:${v}`) ?? 0);
        if (plain.includes(v)) {
          const total = perCpu.reduce((a, b) => a + b, 0);
          console.log(`  ${what} ${v}: lost ${perCpu.join("/")} handler updates per CPU`);
          if (!MAY_LOSE.has(v)) assert.ok(total > 0, `${what}: ${v} lost no update\n${describeBoot(r)}`);
        } else {
          for (let cpu = 0; cpu < 4; cpu++) assert.ok(r.lines.includes(`cpu=${cpu} var=${v} check=irq ok`), `${what}: cpu ${cpu} ${v} is one atomic: exact`);
        }
      }
    }
  });
}, { only: ["deno"], timeoutMs: 300_000 });

test("the interrupt phase's options are checked before anything is built", async () => {
  const layout = irqLayoutSdk("riscv64").layout("riscv64");
  for (const [irq, field] of [[{ loops: 0 }, "loops"], [{ periodUs: 1.5 }, "periodUs"], [{ minTicks: -1 }, "minTicks"], [{ every: 1 }, "every"]] as const) {
    await assert.rejects(
      buildFirmware(layout, { arch: "riscv64", out: "/nonexistent/percpu-irq-never-built", program: { irq } as never }),
      (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes(field),
      field,
    );
  }
  await assert.rejects(
    bootFirmware("/nonexistent/fw.elf", { qemuArgs: [1] } as never),
    (e: unknown) => e instanceof PercpuError && e.code === "options_invalid" && e.message.includes("qemuArgs"),
  );
});
