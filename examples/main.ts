/**
 * The whole story in one command (`npm run main`): lay out the kernel
 * example, generate code for every architecture, call the generated
 * accessors natively through FFI, and boot firmware running them on 4 CPUs
 * of every architecture under QEMU.
 */
import { join } from "node:path";
import process from "node:process";
import { bootTable } from "../cli/boot.ts";
import { layoutTable } from "../cli/layout_view.ts";
import { backendFor } from "../arch/index.ts";
import { TARGETS } from "../mod.ts";
import type { BootResult } from "../firmware/build.ts";
import kernel, { CPU_ID, IRQ_COUNT, PREEMPT_COUNT, RUNQUEUE, STATS } from "./kernel/percpu.config.ts";

const CPUS = 4;
const out = join("build", "main");

console.log("== 1. layout of examples/kernel/percpu.config.ts\n");
console.log(layoutTable(kernel.layout("x86_64"), backendFor("x86_64").registerName));

console.log("== 2. code generation for every architecture\n");
for (const arch of TARGETS) {
  const generated = kernel.generate({ arch, cpus: CPUS, features: ["preempt", "irq"] });
  await generated.write(join(out, "gen", arch));
  const sizes = Object.entries(generated.files).map(([f, text]) => `${f} ${text.length} B`).join(", ");
  console.log(`${arch.padEnd(12)} stride ${generated.layout.stride}: ${sizes}`);
}

console.log("\n== 3. the generated x86_64 accessors, called natively through FFI (4 threads' worth of CPUs)\n");
const info = await kernel.load({ cpus: CPUS, features: ["preempt", "irq"] });
console.log(`loaded ${info.path}${info.cached ? " (cached)" : ""}`);
console.log(`init(${CPUS}) = ${kernel.init(CPUS)}`);
for (let cpu = 0; cpu < CPUS; cpu++) {
  kernel.initPercpuReg(cpu);
  CPU_ID.writeCurrent(cpu);
  PREEMPT_COUNT.addCurrent(cpu + 1);
  STATS.withCurrent((cell) => {
    const s = cell.get();
    cell.set({ ...s, context_switches: s.context_switches + 10n * BigInt(cpu) });
  });
  RUNQUEUE.writeCurrent({ nr_running: cpu * 2, need_resched: cpu % 2 === 1, clock_ns: 1_000_000n * BigInt(cpu), head: 0n, tail: 0n });
  IRQ_COUNT.writeCurrent(Array.from({ length: 16 }, (_, i) => BigInt(i * cpu)));
}
for (let cpu = 0; cpu < CPUS; cpu++) {
  const rq = RUNQUEUE.remoteRead(cpu);
  console.log(
    `cpu ${cpu}: CPU_ID=${CPU_ID.remoteRead(cpu)} PREEMPT_COUNT=${PREEMPT_COUNT.remoteRead(cpu)} nr_running=${rq.nr_running} need_resched=${rq.need_resched} ` +
      `IRQ_COUNT[15]=${IRQ_COUNT.remoteRead(cpu)[15]} offset(CPU_ID)=${CPU_ID.offset()}`,
  );
}
console.log(`PREEMPT_COUNT.sum() = ${PREEMPT_COUNT.sum()} (expected ${CPUS * (CPUS + 1) / 2})`);
const ffiOk = PREEMPT_COUNT.sum() === CPUS * (CPUS + 1) / 2;
kernel.close();

console.log("\n== 4. firmware: every accessor on every CPU of every architecture under QEMU\n");
const results: BootResult[] = [];
for (const arch of TARGETS) {
  const image = await kernel.buildFirmware({ arch, cpus: CPUS, features: ["preempt", "irq"], out: join(out, "fw", arch) });
  const result = await kernel.bootFirmware(image, { timeoutMs: 30_000 });
  results.push(result);
  console.log(`${arch.padEnd(12)} ${result.passed ? "pass" : "FAIL"}: ${result.result?.checks ?? 0} checks in ${Math.round(result.durationMs)} ms`);
  for (const f of result.failures.slice(0, 5)) console.log(`  cpu=${f.cpu} var=${f.var} check=${f.check}: ${f.detail}`);
}
console.log(`\n${bootTable(results)}\n`);

const ok = ffiOk && results.every((r) => r.passed);
console.log(ok ? "main: everything passed" : "main: FAILED");
process.exitCode = ok ? 0 : 1;
