/**
 * `npm run bench`: every benchmark in one report (markdown tables with the
 * date and machine), for the README. Needs `npm run build` for the Node column.
 */
import { cpus, release } from "node:os";
import { ffiTable, runAllRuntimes } from "./ffi_bench.ts";
import { nativeTable, runNativeBench } from "./native_bench.ts";
import { runRuntimeBench, runtimeTable } from "./runtime_bench.ts";

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Linux ${release()}`;
console.log(`Measured ${new Date().toISOString().slice(0, 10)} on ${machine}\n`);
console.log(ffiTable(runAllRuntimes()));
console.log("");
console.log(nativeTable(runNativeBench()));
console.log("");
console.log(runtimeTable(runRuntimeBench()));
