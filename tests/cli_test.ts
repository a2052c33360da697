// The percpu command as a user runs it: a child process of the current runtime
// (`deno run -A cli/main.ts` on Deno, `bun cli/main.ts` on Bun), checked by its
// stdout, stderr and exit status. tests/cli_entries_test.ts covers deno task,
// npm run and bun run; tests/node/pack.mjs the installed npm bin and bunx.
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { assertEntryContract, assertNoStack, assertOneError, KERNEL, percpu, selfEntry } from "./_cli.ts";
import { withTempDir } from "./_tmp.ts";

const self = selfEntry();
const cli = (...argv: string[]) => percpu(self, argv);

test("the percpu command prints its version, its help and every verb's help, runs every verb and fails cleanly", async () => {
  await withTempDir("cli", (dir) => assertEntryContract(self, KERNEL, join(dir, "gen")));
});

test("percpu --version prints the version of package.json", async () => {
  const pkg = JSON.parse(await readFile("package.json", "utf8"));
  const r = await cli("--version");
  assert.equal(r.stdout, `percpu ${pkg.version}\n`);
});

test("percpu layout prints a table with offsets, sizes, padding and the base register", async () => {
  const r = await cli("layout", KERNEL, "--arch", "riscv64");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^riscv64: area \d+ bytes, stride \d+, area alignment 64, \d+ bytes of padding; base register gp/);
  assert.match(r.stdout, /0x0\s+4\s+4\s+CPU_ID\s+u32/);
  assert.match(r.stdout, /STATS\s+aligned\(struct \{ context_switches: u64/);
  assert.match(r.stdout, /\(padding\)/);
});

test("percpu layout --json prints only the manifest and --svg draws one band per variable per CPU", async () => {
  await withTempDir("cli", async (dir) => {
    const svg = join(dir, "layout.svg");
    const r = await cli("layout", KERNEL, "--arch", "aarch64", "--json", "--svg", svg, "--cpus", "3");
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(r.stdout);
    assert.equal(manifest.target, "aarch64");
    assert.equal(manifest.vars.length, 6);
    const text = await readFile(svg, "utf8");
    assert.ok(text.startsWith("<svg"));
    for (const name of ["CPU_ID", "RUNQUEUE", "IRQ_COUNT", "STATS"]) assert.equal(text.split(`>${name}  `).length - 1, 3, name);
    assert.match(text, /TPIDR_EL1/);
    assert.match(text, /CPU 2: base \+ 0x/);
  });
});

test("percpu layout --svg for 256 CPUs draws CPU 0, CPU 1, the identical rest and CPU 255 in a bounded width", async () => {
  await withTempDir("cli", async (dir) => {
    const svg = join(dir, "many.svg");
    const r = await cli("layout", KERNEL, "--arch", "riscv64", "--svg", svg, "--cpus", "256");
    assert.equal(r.code, 0, r.stderr);
    const text = await readFile(svg, "utf8");
    const width = Number(/^<svg[^>]* width="(\d+)"/.exec(text)?.[1]);
    assert.ok(width > 0 && width <= 1500, `width ${width}`);
    assert.match(text, /CPU 0: base \+ 0x0</);
    assert.match(text, /CPU 1: base \+ 0x/);
    assert.match(text, /… CPUs 2–254 …/);
    assert.match(text, /CPU 255: base \+ 0x/);
    assert.equal(text.split(">CPU_ID  ").length - 1, 3);
  });
});

test("percpu layout --svg into a directory prints one write_failed line and no table", async () => {
  await withTempDir("cli", async (dir) => {
    const r = await cli("layout", KERNEL, "--svg", dir);
    assertOneError(r, 1, "write_failed", /is a directory/);
    assert.equal(r.stdout, "");
  });
});

test("percpu gen writes the four files, --json lists them with their sizes, --arch all writes one directory per arch", async () => {
  await withTempDir("cli", async (dir) => {
    const one = await cli("gen", KERNEL, "--arch", "riscv64", "--preempt", "--out", join(dir, "one"));
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^wrote .*one\/percpu\.S \(\d+ bytes\)$/m);
    const all = await cli("gen", KERNEL, "--arch", "all", "--out", join(dir, "all"), "--json");
    assert.equal(all.code, 0, all.stderr);
    const files: { arch: string; path: string; bytes: number }[] = JSON.parse(all.stdout).files;
    assert.equal(files.length, 20);
    assert.deepEqual((await readdir(join(dir, "all"))).sort(), ["aarch64", "loongarch64", "riscv32", "riscv64", "x86_64"]);
    for (const f of files) {
      assert.equal(f.path, join(dir, "all", f.arch, f.path.split("/").pop()!));
      assert.equal((await stat(f.path)).size, f.bytes, f.path);
    }
  });
});

test("percpu gen --naive means one CPU and --naive with --cpus 2 is a usage error", async () => {
  await withTempDir("cli", async (dir) => {
    const r = await cli("gen", KERNEL, "--arch", "x86_64", "--naive", "--out", dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await readFile(join(dir, "percpu.h"), "utf8"), /#define PERCPU_MAX_CPUS 1u/);
    assertOneError(await cli("gen", KERNEL, "--arch", "x86_64", "--naive", "--cpus", "2", "--out", dir), 2, "usage", /--naive means one CPU/);
  });
});

test("percpu check reports every bad definition at once and exits 1, also as JSON", async () => {
  const r = await cli("check", "tests/fixtures/bad.config.ts");
  assert.equal(r.code, 1);
  assert.match(r.stdout, /init_out_of_range: .*"OVERFLOW"/);
  assert.match(r.stdout, /name_reserved_word: .*"int"/);
  assert.match(r.stdout, /init_array_length: .*"STATS.hist"/);
  assert.match(r.stdout, /name_duplicate: .*"GOOD"/);
  assert.match(r.stdout, /^4 problems$/m);
  const json = await cli("check", "tests/fixtures/bad.config.ts", "--json");
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout);
  assert.equal(report.ok, false);
  assert.deepEqual(report.problems.map((p: { code: string }) => p.code), ["init_out_of_range", "name_reserved_word", "init_array_length", "name_duplicate"]);
  assert.equal(report.problems[2].path, "STATS.hist");
});

test("percpu rejects bad usage with one line and status 2", async () => {
  assertOneError(await cli("frobnicate"), 2, "usage", /unknown verb "frobnicate": expected one of gen, layout, boot, check/);
  assertOneError(await cli(), 2, "usage", /missing verb/);
  assertOneError(await cli("layout"), 2, "usage", /exactly one config file/);
  assertOneError(await cli("layout", KERNEL, "--bogus"), 2, "usage", /--bogus/);
  assertOneError(await cli("gen", KERNEL, "--arch", "x86_64"), 2, "usage", /needs --out/);
  assertOneError(await cli("layout", KERNEL, "--cpus", "0"), 2, "usage", /--cpus must be an integer from 1 to 4096, got "0"/);
  assertOneError(await cli("gen", KERNEL, "--arch", "x86_64", "--cpus", "4097", "--out", "build/never"), 2, "usage", /got "4097"/);
  assertOneError(await cli("boot", KERNEL, "--arch", "riscv64", "--cpus", "4097"), 2, "usage", /got "4097"/);
  assertOneError(await cli("boot", KERNEL, "--arch", "riscv64", "--timeout-ms", "soon"), 2, "usage", /--timeout-ms/);
});

test("percpu reports every config mistake as one line with its code and status 1, never a stack trace", async () => {
  await withTempDir("cli", async (dir) => {
    await writeFile(join(dir, "throws.mjs"), `throw new Error("the config is broken");\n`);
    await writeFile(join(dir, "syntax.mjs"), `export default {\n`);
    await mkdir(join(dir, "folder.config.ts"));
    assertOneError(await cli("layout", "tests/fixtures/not_sdk.config.ts"), 1, "config_invalid", /default export must be an SDK instance/);
    assertOneError(await cli("check", "tests/fixtures/nope.config.ts"), 1, "config_invalid", /no such file/);
    assertOneError(await cli("check", join(dir, "folder.config.ts")), 1, "config_invalid", /is a directory/);
    assertOneError(await cli("layout", join(dir, "throws.mjs")), 1, "config_invalid", /the config is broken/);
    assertOneError(await cli("gen", join(dir, "syntax.mjs"), "--arch", "x86_64", "--out", join(dir, "o")), 1, "config_invalid", /syntax\.mjs/);
    assertOneError(await cli("layout", "tests/fixtures/bad.config.ts"), 1, "init_out_of_range", /"OVERFLOW"/);
    assertOneError(await cli("gen", KERNEL, "--arch", "riscv64", "--mode", "user", "--out", join(dir, "o")), 1, "options_invalid", /user mode/);
  });
});
