import assert from "node:assert/strict";
import { join } from "node:path";
import { generateLinkerScript } from "../linker/script.ts";
import { createPercpu, struct, TARGETS, u16, u64, u8 } from "../mod.ts";
import type { Layout } from "../sdk/layout.ts";
import { test } from "./_harness.ts";
import { elfSymbols, linkKernel } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

function config(extra: boolean) {
  const sdk = createPercpu();
  if (extra) sdk.define("INSERTED", u16, 0);
  sdk.define("FLAG", u8, 1);
  sdk.define("CPU_ID", u64, 0);
  sdk.define("STATS", struct({ irqs: u64, ticks: u16 }), { irqs: 0, ticks: 0 });
  return sdk;
}

const script = (layout: Layout): string => generateLinkerScript(layout, { cpus: 4, summary: "a corrupted layout" });

for (const arch of TARGETS) {
  test(`${arch}: the generated percpu.ld links, and a layout that moved fails the link through its ASSERTs`, () =>
    withTempDir(`ld-${arch}`, async (root) => {
      const gen = config(false).generate({ arch, cpus: 4 });
      const good = await linkKernel(gen, join(root, "good"));
      assert.equal(good.code, 0, good.stderr);
      const syms = await elfSymbols(good.elf);
      for (const v of gen.manifest.vars) assert.equal(syms.get(`__PERCPU_${v.name}`), BigInt(v.offset));

      // One variable 8 bytes off from where the code put it.
      const moved = { ...gen.layout, vars: gen.layout.vars.map((v) => (v.name === "CPU_ID" ? { ...v, offset: v.offset + 8 } : v)) };
      const r1 = await linkKernel(gen, join(root, "moved"), { ldScript: script(moved) });
      assert.notEqual(r1.code, 0);
      assert.match(r1.stderr, new RegExp(`percpu: __PERCPU_CPU_ID is not at offset ${moved.vars[1]!.offset} as the SDK computed`));

      // A template of another size.
      const grown = { ...gen.layout, areaSize: gen.layout.areaSize + 8 };
      const r2 = await linkKernel(gen, join(root, "grown"), { ldScript: script(grown) });
      assert.notEqual(r2.code, 0);
      assert.match(r2.stderr, new RegExp(`percpu: the .percpu template is not ${grown.areaSize} bytes`));

      // A stale percpu.ld from before a variable was inserted, linked with the new percpu.S.
      const stale = script(gen.layout);
      const newer = config(true).generate({ arch, cpus: 4 });
      const r3 = await linkKernel(newer, join(root, "stale"), { ldScript: stale });
      assert.notEqual(r3.code, 0);
      assert.match(r3.stderr, /percpu: __PERCPU_FLAG is not at offset/);
    }));
}
