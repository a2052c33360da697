import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPercpu, PercpuError, struct, TARGETS, u32, u64 } from "../mod.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

function sdk() {
  const s = createPercpu();
  s.define("CPU_ID", u64, 3);
  s.define("STATS", struct({ irqs: u64, ticks: u32 }), { irqs: 0, ticks: 1 });
  return s;
}

test("write() replaces the generated files of an existing output directory, keeps every other file and leaves no temporary files", async () => {
  await withTempDir("gen-write", async (root) => {
    const out = join(root, "out");
    await mkdir(out);
    await writeFile(join(out, "stale.txt"), "from an older run");
    await writeFile(join(out, "percpu.S"), "/* older generation */\n");
    const gen = sdk().generate({ arch: "riscv64" });
    await gen.write(out);
    assert.deepEqual((await readdir(out)).sort(), ["percpu.S", "percpu.h", "percpu.json", "percpu.ld", "stale.txt"]);
    assert.equal(await readFile(join(out, "stale.txt"), "utf8"), "from an older run");
    assert.deepEqual(await readdir(root), ["out"]);
    for (const [name, text] of Object.entries(gen.files)) assert.equal(await readFile(join(out, name), "utf8"), text);
  });
});

test("a failed write() throws a PercpuError and leaves no temporary directory behind", async () => {
  await withTempDir("gen-fail", async (root) => {
    const blocker = join(root, "file");
    await writeFile(blocker, "not a directory");
    await assert.rejects(sdk().generate({ arch: "x86_64" }).write(join(blocker, "out")), (e) => e instanceof PercpuError && e.code === "out_dir_not_directory");
    assert.deepEqual(await readdir(root), ["file"]);
    assert.equal(await readFile(blocker, "utf8"), "not a directory");
    // The earlier output in the same parent survives a failed write elsewhere.
    const out = join(root, "kept");
    await sdk().generate({ arch: "aarch64" }).write(out);
    const before = await readFile(join(out, "percpu.S"), "utf8");
    await assert.rejects(sdk().generate({ arch: "riscv32" }).write(join(blocker, "again")), (e) => e instanceof PercpuError && e.code === "out_dir_not_directory");
    assert.equal(await readFile(join(out, "percpu.S"), "utf8"), before);
    assert.deepEqual((await readdir(root)).sort(), ["file", "kept"]);
  });
});

test("generate() is byte-identical for identical input on every arch, and a different input changes it", () => {
  for (const arch of TARGETS) {
    const hash = (g: ReturnType<ReturnType<typeof sdk>["generate"]>) => createHash("sha256").update(JSON.stringify(g.files)).digest("hex");
    const a = hash(sdk().generate({ arch, cpus: 3, features: ["preempt"] }));
    const b = hash(sdk().generate({ arch, cpus: 3, features: ["preempt"] }));
    const c = hash(sdk().generate({ arch, cpus: 4, features: ["preempt"] }));
    assert.equal(a, b, arch);
    assert.notEqual(a, c, arch);
  }
});

test("generate() rejects bad options with PercpuErrors naming the field", () => {
  const bad: [unknown, string, RegExp][] = [
    [{ arch: "mips" }, "target_unknown", /mips/],
    [{ arch: "x86_64", cpus: 0 }, "options_invalid", /cpus/],
    [{ arch: "x86_64", cpus: 1.5 }, "options_invalid", /cpus/],
    [{ arch: "x86_64", mode: "hosted" }, "options_invalid", /mode/],
    [{ arch: "x86_64", features: ["turbo"] }, "options_invalid", /features/],
    [{ arch: "riscv64", features: ["el2"] }, "options_invalid", /el2 is an aarch64 feature/],
    [{ arch: "x86_64", features: ["lse"] }, "options_invalid", /lse is an aarch64 feature/],
    [{ arch: "aarch64", mode: "user" }, "options_invalid", /user mode/],
    // naive + preempt is the seed's sp-naive,preempt (accepted); naive + irq has no meaning.
    [{ arch: "x86_64", features: ["naive", "irq"] }, "options_invalid", /naive/],
    [{ arch: "x86_64", features: ["naive"], cpus: 2 }, "options_invalid", /exactly 1 CPU/],
    [{ arch: "x86_64", extra: 1 }, "options_invalid", /extra/],
  ];
  for (const [options, code, message] of bad) {
    assert.throws(() => sdk().generate(options as never), (e) => e instanceof PercpuError && e.code === code && message.test(e.message), JSON.stringify(options));
  }
});


