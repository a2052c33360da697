/**
 * Runs every `tests/*_test.ts` on the current runtime and ends with one line
 * `<runtime>: N passed, N failed`. `PERCPU_TEST_FILTER=substr` selects tests.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { currentRuntime, registry, type TestCase } from "./_harness.ts";

const here = dirname(fileURLToPath(import.meta.url));
const runtime = currentRuntime();
const filter = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.PERCPU_TEST_FILTER ?? "";
const files = readdirSync(here).filter((f) => f.endsWith("_test.ts")).sort();

let passed = 0;
let failed = 0;
let notHere = 0;
const failures: string[] = [];

async function runOne(file: string, t: TestCase): Promise<void> {
  const started = performance.now();
  const timeoutMs = t.options.timeoutMs ?? 120_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(t.fn),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    passed++;
    console.log(`ok   ${file} > ${t.name} (${Math.round(performance.now() - started)} ms)`);
  } catch (e) {
    failed++;
    const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    failures.push(`${file} > ${t.name}`);
    console.log(`FAIL ${file} > ${t.name}\n${detail.split("\n").map((l) => `     ${l}`).join("\n")}`);
  } finally {
    clearTimeout(timer);
  }
}

for (const file of files) {
  const before = registry.length;
  try {
    await import(join(here, file));
  } catch (e) {
    failed++;
    failures.push(`${file} (failed to load)`);
    console.log(`FAIL ${file} failed to load\n     ${e instanceof Error ? e.stack : String(e)}`);
    continue;
  }
  for (const t of registry.slice(before)) {
    if (filter && !`${file} > ${t.name}`.includes(filter)) continue;
    if (t.options.only && !t.options.only.includes(runtime)) {
      notHere++;
      continue;
    }
    await runOne(file, t);
  }
}

if (failures.length > 0) console.log(`\n${runtime} failures:\n${failures.map((f) => `  ${f}`).join("\n")}`);
console.log(`(${notHere} tests run on another runtime only)`);
console.log(`${runtime}: ${passed} passed, ${failed} failed`);
const proc = (globalThis as { process?: { exitCode?: number } }).process;
if (proc) proc.exitCode = failed > 0 ? 1 : 0;
