// The other ways to start `percpu` in this repository, each as a child process:
// `deno task percpu`, `npm run percpu --` and `bun run percpu` (both run the
// package.json script). Each one prints its version and help, runs every verb
// and fails with one line and the right status. Deno only: these entries start
// the same processes whichever runtime runs the tests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { assertEntryContract, assertOneError, type Entry, KERNEL, percpu } from "./_cli.ts";
import { withTempDir } from "./_tmp.ts";

const ENTRIES: readonly Entry[] = [
  { name: "deno task percpu", cmd: "node_modules/.bin/deno", args: ["task", "percpu"] },
  { name: "npm run percpu --", cmd: "npm", args: ["run", "--silent", "percpu", "--"] },
  { name: "bun run percpu", cmd: "node_modules/.bin/bun", args: ["run", "--silent", "percpu"] },
];

for (const entry of ENTRIES) {
  test(`${entry.name} prints its version and help, runs every verb and fails cleanly`, async () => {
    await withTempDir("cli-entry", (dir) => assertEntryContract(entry, KERNEL, join(dir, "gen")));
  }, { only: ["deno"] });
}

test("npm run percpu without --silent passes the exit status and the one error line through", async () => {
  const r = await percpu({ name: "npm run", cmd: "npm", args: ["run", "percpu", "--"] }, ["layout", KERNEL, "--cpus", "0"]);
  assertOneError(r, 2, "usage", /--cpus must be an integer from 1 to 4096/);
}, { only: ["deno"] });

test("deno task percpu boots one arch", async () => {
  const r = await percpu(ENTRIES[0]!, ["boot", KERNEL, "--arch", "aarch64", "--cpus", "2", "--json"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(JSON.parse(r.stdout).results[0].passed, true);
}, { only: ["deno"], timeoutMs: 60_000 });
