/**
 * Workers as CPUs: the main thread loads the generated library and calls
 * `init()` once; each Worker loads the same library, binds its own thread to
 * one CPU with `initPercpuReg(cpu)` and updates its per-CPU data natively;
 * the main thread then reads every CPU's copy remotely and sums them.
 *
 * Run with `deno run -A examples/ffi-workers/main.ts` or
 * `bun examples/ffi-workers/main.ts` (Node: the same with `worker_threads`).
 * It prints one line per CPU and `ffi-workers: ok`, or exits 1.
 */
import process from "node:process";
import net, { NET_STATS, PACKETS } from "./percpu.config.ts";
import type { Report, Task } from "./worker.ts";

const CPUS = 4;
const PACKETS_PER_CPU = 100_000;

function fail(message: string): never {
  console.error(`ffi-workers: ${message}`);
  process.exit(1);
}

function runWorker(cpu: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`CPU ${cpu}'s Worker did not answer within 60 s`));
    }, 60_000);
    worker.onmessage = (e: MessageEvent<Report>) => {
      clearTimeout(timer);
      resolve(e.data);
    };
    worker.onerror = (e: Event) => {
      clearTimeout(timer);
      reject(new Error(`CPU ${cpu}'s Worker crashed: ${(e as ErrorEvent).message}`));
    };
    const task: Task = { cpus: CPUS, cpu, packets: PACKETS_PER_CPU * (cpu + 1) };
    worker.postMessage(task);
  });
}

await net.load({ cpus: CPUS });
try {
  // Once, before any Worker binds: every CPU's area gets the initial values.
  net.init(CPUS);
  const reports = await Promise.all(Array.from({ length: CPUS }, (_, cpu) => runWorker(cpu)));
  for (const r of reports) {
    if (!r.ok) fail(`CPU ${r.cpu}: ${r.error}`);
    const expected = BigInt(PACKETS_PER_CPU * (r.cpu + 1));
    if (r.packets !== expected || PACKETS.remoteRead(r.cpu) !== expected) {
      fail(`CPU ${r.cpu} counted ${r.packets} (remotely ${PACKETS.remoteRead(r.cpu)}), expected ${expected}`);
    }
    if (r.register !== net.areaBase(r.cpu)) fail(`CPU ${r.cpu}'s register is not its area base`);
    const lastSize = 64 + (Number(expected) - 1) % 1436;
    if (NET_STATS.remoteRead(r.cpu).last_size !== lastSize) fail(`CPU ${r.cpu}'s last size is not ${lastSize}`);
    console.log(`cpu${r.cpu}: ${r.packets} packets, last size ${NET_STATS.remoteRead(r.cpu).last_size}`);
  }
  const total = PACKETS.sum();
  const expectedTotal = BigInt(PACKETS_PER_CPU * (CPUS * (CPUS + 1)) / 2);
  if (total !== expectedTotal) fail(`sum() is ${total}, expected ${expectedTotal}`);
  console.log(`total: ${total} packets`);

  // Calling init() again copies the initial values over every CPU's area, in place:
  // all per-CPU data is reset, while threads stay bound (the areas do not move).
  net.init(CPUS);
  for (let cpu = 0; cpu < CPUS; cpu++) if (PACKETS.remoteRead(cpu) !== 0n) fail(`init() again left CPU ${cpu}'s data`);
  if (PACKETS.sum() !== 0n) fail("init() again did not reset the sum");
  console.log("ffi-workers: ok");
} finally {
  net.close();
}
