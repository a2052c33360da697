import assert from "node:assert/strict";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import type { Target } from "../sdk/targets.ts";
import { currentRuntime, test } from "./_harness.ts";
import { CLANG, disassemble, run, undefinedSymbols } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

const KERNEL_ARCHES: readonly Target[] = ["x86_64", "aarch64", "riscv64", "loongarch64"];

/** Generates `config` into `dir` and compiles `source` against it; returns the object's path (in `dir`). */
async function compileExample(dir: string, config: string, source: string, arch: Target, features: readonly ("el2" | "preempt")[]): Promise<string> {
  const sdk = (await import(`../examples/${config}`)).default;
  await sdk.generate({ arch, cpus: 4, features }).write(dir);
  const obj = join(dir, "example.o");
  const r = await run(CLANG, [...backendFor(arch).clangFlags, "-ffreestanding", "-O2", "-Wall", "-Werror", "-I", dir, "-c", join("examples", source), "-o", obj]);
  assert.equal(r.code, 0, `${source} for ${arch}:\n${r.stderr}`);
  return obj;
}

for (const arch of KERNEL_ARCHES) {
  test(`the kernel example compiles for ${arch} with the inline accessors and calls no out-of-line accessor`, () =>
    withTempDir(`example-${arch}`, async (dir) => {
      const obj = await compileExample(dir, "kernel/percpu.config.ts", "kernel/kernel.c", arch, []);
      const undef = [...await undefinedSymbols(obj)];
      // Only the runtime (percpu_init_reg, percpu_area_num) and the base word stay out of line.
      for (const s of undef) assert.match(s, /^(percpu_init_reg|percpu_area_num|__percpu_base|__percpu_areas)$/, `${arch}: unexpected call to ${s}`);
      const fns = await disassemble(obj);
      assert.ok(fns.has("schedule") && fns.has("handle_irq"), `${arch}: functions present`);
    }));
}

test("the hypervisor example compiles for aarch64 EL2 and reads TPIDR_EL2, never TPIDR_EL1", () =>
  withTempDir("example-aarch64", async (dir) => {
    const obj = await compileExample(dir, "hypervisor/percpu.config.ts", "hypervisor/hypervisor.c", "aarch64", ["el2"]);
    const text = [...(await disassemble(obj)).values()].flat().join("\n").toLowerCase();
    assert.match(text, /mrs x\d+, tpidr_el2/);
    assert.doesNotMatch(text, /tpidr_el1/);
  }));

/** Runs an example script as a child process of this runtime, the way its header says to. */
function runExample(script: string): ReturnType<typeof run> {
  const exe = currentRuntime() === "deno" ? ["node_modules/.bin/deno", "run", "-A"] : ["node_modules/.bin/bun"];
  return run(exe[0]!, [...exe.slice(1), script], { timeoutMs: 120_000 });
}

test("the ffi-test example passes on this runtime", async () => {
  const r = await runExample("examples/ffi-test/driver_test.ts");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /^driver_test: ok$/m);
});

test("the ffi-workers example runs four Workers as four CPUs and passes on this runtime", async () => {
  const r = await runExample("examples/ffi-workers/main.ts");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  for (let cpu = 0; cpu < 4; cpu++) assert.match(r.stdout, new RegExp(`^cpu${cpu}: ${(cpu + 1) * 100000} packets`, "m"));
  assert.match(r.stdout, /^total: 1000000 packets$/m);
  assert.match(r.stdout, /^ffi-workers: ok$/m);
});
