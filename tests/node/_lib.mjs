// Shared helpers of the Node checks in tests/node/ (files starting with `_`
// are not run as checks by scripts/test.sh).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Runs a command to completion (5 min bound) and returns its stdout; throws with its output on a non-zero exit. */
export function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * A named list of checks: `check(name, fn)` runs one and prints `ok`/`FAIL`;
 * `finish()` prints `<label>: N passed, N failed` and sets the exit code.
 */
export function checks(label, prefix = label) {
  let passed = 0;
  let failed = 0;
  return {
    async check(name, fn) {
      try {
        await fn();
        passed++;
        console.log(`ok   ${prefix} > ${name}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${prefix} > ${name}\n     ${(e && e.stack) || e}`);
      }
    },
    finish() {
      console.log(`${label}: ${passed} passed, ${failed} failed`);
      process.exitCode = failed > 0 ? 1 : 0;
    },
  };
}
