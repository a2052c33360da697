// The package works for a Node user who never heard of Deno: `npm pack` the
// built package, install the tarball into a fresh project, then on Node (koffi)
// import it, generate, load the shim and call an accessor, and run the `percpu`
// command through every entry an installed project has: the npm bin on Node,
// `bunx percpu`, `bunx --bun percpu` and `deno run npm:percpu-sdk` (a Deno user of
// the package), each as a child process: version, help, every verb, failures.
// Ends with `node-pack: N passed, N failed`; exits 1 on any failure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checks, root, sh } from "./_lib.mjs";

const { check, finish } = checks("node-pack", "node pack");

/** Runs a command to completion (bounded), never throwing on a non-zero exit. */
function runCmd(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1", ...env } });
  return { code: r.status ?? 128, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const STACK = /^\s+at .*:\d+(:\d+)?\)?$|Uncaught|Stack backtrace|node:internal/m;

/** Exactly one `percpu: <code>: ...` line on stderr, the given status, no stack trace. */
function assertOneError(r, status, code, detail) {
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(r.code, status, r.stderr + r.stdout);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^percpu: ${code}: `));
  if (detail) assert.match(lines[0], detail);
  assert.doesNotMatch(r.stderr + r.stdout, STACK);
}

/** What every entry of the installed package must do, on the project's `percpu.config.mjs`. */
function assertEntryContract(percpu, cwd) {
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  assert.equal(percpu(["--version"]).stdout, `percpu ${version}\n`);
  assert.match(percpu(["--help"]).stdout, /Verbs:\n {2}gen/);
  for (const verb of ["gen", "layout", "boot", "check"]) {
    const r = percpu([verb, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: percpu ${verb} `));
  }
  const checked = percpu(["check", "percpu.config.mjs", "--json"]);
  assert.equal(checked.code, 0, checked.stderr);
  assert.deepEqual(JSON.parse(checked.stdout), { ok: true, variables: 1, problems: [] });
  const laid = percpu(["layout", "percpu.config.mjs", "--arch", "aarch64"]);
  assert.equal(laid.code, 0, laid.stderr);
  assert.match(laid.stdout, /^aarch64: area 8 bytes, stride 64/);
  assert.match(laid.stdout, /CPU_ID\s+u64/);
  const out = mkdtempSync(join(tmpdir(), "percpu-pack-gen-"));
  try {
    const generated = percpu(["gen", "percpu.config.mjs", "--arch", "all", "--out", out, "--json"]);
    assert.equal(generated.code, 0, generated.stderr);
    assert.equal(JSON.parse(generated.stdout).files.length, 20);
    assert.deepEqual(readdirSync(out).sort(), ["aarch64", "loongarch64", "riscv32", "riscv64", "x86_64"]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  assertOneError(percpu(["layout", "percpu.config.mjs", "--arch", "mips"]), 2, "usage", /expected one of x86_64/);
  assertOneError(percpu(["boot", "percpu.config.mjs", "--arch", "all", "--cpus", "9"]), 2, "usage", /aarch64 \(at most 8\), loongarch64 \(at most 4\)/);
  assertOneError(percpu(["check", "throws.mjs"]), 1, "config_invalid", /the config is broken/);
  assertOneError(percpu(["check", "missing.mjs"]), 1, "config_invalid", /no such file/);
}

/** One real boot through an entry, in a fresh TMPDIR that must be empty afterwards. */
function assertBoots(percpu, arch, cpus) {
  const tmp = mkdtempSync(join(tmpdir(), "percpu-pack-tmp-"));
  try {
    const r = percpu(["boot", "percpu.config.mjs", "--arch", arch, "--cpus", String(cpus)], { TMPDIR: tmp });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^${arch}: pass: \\d+ checks on ${cpus}/${cpus} CPUs`, "m"));
    assert.match(r.stdout, new RegExp(`^${arch}\\s+ok \\d+.*pass \\d+ ms$`, "m"));
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}


const work = mkdtempSync(join(tmpdir(), "percpu-pack-"));
const project = join(work, "app");
try {
  await check("npm pack produces a tarball with dist/ and no sources", () => {
    sh("npm", ["pack", "--ignore-scripts", "--pack-destination", work], root);
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "tarball");
    const list = sh("tar", ["-tzf", join(work, tgz)], work).split("\n");
    assert.ok(list.includes("package/dist/mod.js") && list.includes("package/dist/mod.d.ts") && list.includes("package/dist/cli/main.js"));
    // Sources only in the shipped examples (package.json "files"); the library itself is built JS.
    const sources = list.filter((f) => f.startsWith("package/tests/") || f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("package/examples/"));
    assert.deepEqual(sources, [], "only built files");
  });

  await check("the tarball installs into a fresh Node project", () => {
    sh("mkdir", ["-p", project], work);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(work, tgz)], project);
  });

  await check("a Node program imports it, generates, loads the shim and calls the accessors natively", () => {
    writeFileSync(
      join(project, "main.mjs"),
      `import { createPercpu, u64, u32, struct, PercpuError } from "percpu-sdk";
const sdk = createPercpu();
const HITS = sdk.define("HITS", u64, 40n);
const STATS = sdk.define("STATS", struct({ irqs: u32, ticks: u64 }), { irqs: 1, ticks: 2n });
const gen = sdk.generate({ arch: "riscv64", cpus: 2 });
if (!gen.files["percpu.S"].includes("__PERCPU_HITS")) throw new Error("no storage symbol");
await sdk.load({ cpus: 2 });
sdk.init(2);
sdk.initPercpuReg(1);
HITS.addCurrent(2n);
STATS.writeCurrent({ irqs: 7, ticks: 9n });
let misuse = "";
try { HITS.remoteRead(2); } catch (e) { misuse = e instanceof PercpuError ? e.code : "other"; }
console.log(JSON.stringify({ hits: String(HITS.readCurrent()), sum: String(HITS.sum()), off: HITS.offset(), ptr: String(HITS.currentPtr() - sdk.readPercpuReg()), stats: STATS.remoteRead(1).irqs, misuse }));
sdk.close();
`,
    );
    const out = JSON.parse(sh("node", ["main.mjs"], project).trim());
    assert.deepEqual(out, { hits: "42", sum: "82", off: 8, ptr: "8", stats: 7, misuse: "native_cpu_out_of_range" });
  });

  const bunx = join(root, "node_modules", ".bin", "bunx");
  const deno = join(root, "node_modules", ".bin", "deno");
  const entries = {
    "the npm bin on Node": (argv, env) => runCmd(join(project, "node_modules", ".bin", "percpu"), argv, project, env),
    "bunx percpu": (argv, env) => runCmd(bunx, ["percpu", ...argv], project, env),
    "bunx --bun percpu": (argv, env) => runCmd(bunx, ["--bun", "percpu", ...argv], project, env),
    "deno run npm:percpu-sdk": (argv, env) => runCmd(deno, ["run", "-A", "npm:percpu-sdk", ...argv], project, env),
  };
  writeFileSync(join(project, "percpu.config.mjs"), `import { createPercpu, u64 } from "percpu-sdk";\nconst sdk = createPercpu();\nsdk.define("CPU_ID", u64, 0);\nexport default sdk;\n`);
  writeFileSync(join(project, "throws.mjs"), `throw new Error("the config is broken");\n`);
  for (const [name, percpu] of Object.entries(entries)) {
    await check(`${name} prints its version and help, runs every verb and fails with one line`, () => assertEntryContract(percpu, project));
  }

  await check("the npm bin on Node says to use .js/.mjs or deno/bun for a .ts config", () => {
    writeFileSync(join(project, "percpu.config.ts"), `export default 1 as number;\n`);
    assertOneError(entries["the npm bin on Node"](["check", "percpu.config.ts"]), 1, "config_invalid", /Node cannot import \.ts files; write the config as \.js or \.mjs, or run percpu with deno or bun/);
  });

  await check("the npm bin on Node boots riscv64 on 2 CPUs and removes its temporary directory", () => assertBoots(entries["the npm bin on Node"], "riscv64", 2));
  await check("bunx --bun percpu boots loongarch64 on 1 CPU and removes its temporary directory", () => assertBoots(entries["bunx --bun percpu"], "loongarch64", 1));
  await check("deno run npm:percpu-sdk boots aarch64 on 2 CPUs and removes its temporary directory", () => assertBoots(entries["deno run npm:percpu-sdk"], "aarch64", 2));
} finally {
  rmSync(work, { recursive: true, force: true });
}

finish();
