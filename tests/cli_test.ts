import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli/main.ts";
import { currentRuntime, test } from "./_harness.ts";
import { run } from "./_toolchain.ts";

const KERNEL = "examples/kernel/percpu.config.ts";

async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { status, out: out.join("\n"), err: err.join("\n") };
}

test("percpu layout prints a table with offsets, sizes, padding and the base register", async () => {
  const r = await cli("layout", KERNEL, "--arch", "riscv64");
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^riscv64: area \d+ bytes, stride \d+, area alignment 64, \d+ bytes of padding; base register gp/);
  assert.match(r.out, /0x0\s+4\s+4\s+CPU_ID\s+u32/);
  assert.match(r.out, /STATS\s+aligned\(struct \{ context_switches: u64/);
  assert.match(r.out, /\(padding\)/);
});

test("percpu layout --json prints the manifest and --svg draws one band per variable per CPU", async () => {
  const dir = await mkdtemp(join(tmpdir(), "percpu-cli-"));
  const svg = join(dir, "layout.svg");
  const r = await cli("layout", KERNEL, "--arch", "aarch64", "--json", "--svg", svg, "--cpus", "3");
  assert.equal(r.status, 0, r.err);
  const manifest = JSON.parse(r.out);
  assert.equal(manifest.target, "aarch64");
  assert.equal(manifest.vars.length, 6);
  const text = await readFile(svg, "utf8");
  assert.ok(text.startsWith("<svg"));
  for (const name of ["CPU_ID", "RUNQUEUE", "IRQ_COUNT", "STATS"]) assert.equal(text.split(`>${name}  `).length - 1, 3, name);
  assert.match(text, /TPIDR_EL1/);
  assert.match(text, /CPU 2: base \+ 0x/);
});

test("percpu check reports every bad definition at once and exits 1", async () => {
  const r = await cli("check", "tests/fixtures/bad.config.ts");
  assert.equal(r.status, 1);
  assert.match(r.out, /init_out_of_range: .*"OVERFLOW"/);
  assert.match(r.out, /name_reserved_word: .*"int"/);
  assert.match(r.out, /init_array_length: .*"STATS.hist"/);
  assert.match(r.out, /name_duplicate: .*"GOOD"/);
  assert.match(r.out, /^4 problems$/m);
});

test("percpu rejects bad usage with status 2 and a config that is not an SDK with status 1", async () => {
  assert.equal((await cli("frobnicate")).status, 2);
  assert.equal((await cli()).status, 2);
  assert.equal((await cli("layout")).status, 2);
  assert.equal((await cli("layout", KERNEL, "--arch", "mips")).status, 2);
  assert.equal((await cli("layout", KERNEL, "--bogus")).status, 2);
  assert.equal((await cli("gen", KERNEL, "--arch", "x86_64")).status, 2);
  const notSdk = await cli("layout", "tests/fixtures/not_sdk.config.ts");
  assert.equal(notSdk.status, 1);
  assert.match(notSdk.err, /default export must be an SDK instance/);
  const missing = await cli("check", "tests/fixtures/nope.config.ts");
  assert.equal(missing.status, 1);
  assert.match(missing.err, /no such file/);
});

test("every verb has --help", async () => {
  for (const verb of ["gen", "layout", "boot", "check"]) {
    const r = await cli(verb, "--help");
    assert.equal(r.status, 0);
    assert.match(r.out, new RegExp(`Usage: percpu ${verb}`));
  }
});

test("the percpu command prints one error line, no stack trace, with the right exit status", async () => {
  const exe = currentRuntime() === "deno" ? ["node_modules/.bin/deno", "run", "-A", "cli/main.ts"] : ["node_modules/.bin/bun", "cli/main.ts"];
  const bad = await run(exe[0]!, [...exe.slice(1), "layout", KERNEL, "--arch", "mips"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.doesNotMatch(bad.stderr, /\bat .*\.ts:\d+/);
  const failing = await run(exe[0]!, [...exe.slice(1), "check", "tests/fixtures/bad.config.ts"]);
  assert.equal(failing.code, 1);
  assert.doesNotMatch(failing.stderr + failing.stdout, /\bat .*\.ts:\d+/);
  const ok = await run(exe[0]!, [...exe.slice(1), "layout", KERNEL]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^x86_64: area/);
});

test("deno task percpu and bun run percpu start the command line", async () => {
  const viaDeno = await run("node_modules/.bin/deno", ["task", "percpu", "layout", KERNEL, "--arch", "loongarch64"]);
  assert.equal(viaDeno.code, 0, viaDeno.stderr);
  assert.match(viaDeno.stdout, /^loongarch64: area \d+ bytes.*base register \$r21/m);
  const viaBun = await run("node_modules/.bin/bun", ["run", "--silent", "percpu", "check", KERNEL]);
  assert.equal(viaBun.code, 0, viaBun.stderr);
  assert.match(viaBun.stdout, /^ok: 6 variables/m);
}, { only: ["deno"] });
