/**
 * Packaging for Deno and for C++: `deno publish --dry-run` ships the sources
 * and nothing else; Deno projects import the SDK by path (import map, local JSR
 * link, workspace member) and as the installed npm tarball; `load()` caches the
 * library in the user's project, never in the SDK; `percpu.h` links from C++.
 * Every check runs the real tool in a child process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { backendFor } from "../arch/index.ts";
import { array, createPercpu, struct, u32, u64, u8 } from "../mod.ts";
import { currentRuntime, test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { CLANG, compileInlineHeader, LLD, linkKernel, run, runOk, undefinedSymbols } from "./_toolchain.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CXX = CLANG.replace("clang", "clang++");
// deno publish's "publish.include" (deno.json): everything else in the repository stays out.
/** What deno.json's publish.include names, as file names and directory prefixes (`docs/*.svg` → `docs/`), plus deno.json itself. */
const PUBLISHED: string[] = [
  "deno.json",
  ...(JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).publish.include as string[]).map((p) =>
    p.includes("*") ? p.slice(0, p.indexOf("*")) : /\.[a-z]+$/i.test(p) || p === "LICENSE" ? p : `${p}/`
  ),
];

/** Output of a tool without ANSI colours. */
function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/**
 * A program that imports the SDK from `specifier`, defines a variable named
 * `name`, generates, loads the shim through FFI and calls accessors; it prints
 * `{ hits, sum, path }` (path: the opened library) as JSON.
 */
function probe(specifier: string, name: string): string {
  return `import { createPercpu, u64 } from ${JSON.stringify(specifier)};
const sdk = createPercpu();
const V = sdk.define(${JSON.stringify(name)}, u64, 40n);
if (!sdk.generate({ arch: "riscv64", cpus: 2 }).files["percpu.S"].includes("__PERCPU_${name}")) throw new Error("no storage symbol");
const info = await sdk.load({ cpus: 2 });
sdk.init(2);
sdk.initPercpuReg(1);
V.addCurrent(2n);
console.log(JSON.stringify({ hits: String(V.readCurrent()), sum: String(V.sum()), path: info.path }));
sdk.close();
`;
}

let denoDir: Promise<string> | undefined;

/** Deno's cache directory as this process uses it, so a child with another `$XDG_CACHE_HOME` does not download everything again. */
function sharedDenoDir(): Promise<string> {
  denoDir ??= runOk(process.execPath, ["info", "--json"]).then((out) => (JSON.parse(out) as { denoDir: string }).denoDir);
  return denoDir;
}

/** Runs `file` (in `cwd`) with the current runtime, the environment changed by `env` (undefined: unset), and parses its JSON line. */
async function runProbe(cwd: string, file: string, env: Readonly<Record<string, string | undefined>>): Promise<{ hits: string; sum: string; path: string }> {
  const all = currentRuntime() === "deno" ? { DENO_DIR: await sharedDenoDir(), ...env } : env;
  // env(1) takes its -u options before the assignments.
  const entries = Object.entries(all);
  const envArgs = [...entries.flatMap(([k, v]) => (v === undefined ? ["-u", k] : [])), ...entries.flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]))];
  const runtimeArgs = currentRuntime() === "deno" ? ["run", "-A", file] : [file];
  const r = await run("env", [...envArgs, process.execPath, ...runtimeArgs], { cwd, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${file} failed:\n${plain(r.stderr)}${r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { hits: string; sum: string; path: string };
  assert.equal(out.hits, "42");
  assert.equal(out.sum, "82");
  return out;
}

/** A variable name no earlier run used, so its library is built afresh and found only where this run put it. */
function freshName(): string {
  return `PKG_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
}

/** Asserts `path` is `<dir>/<hash>/libpercpu.so` and that the SDK's own directory has no entry for that hash. */
function assertCachedIn(path: string, dir: string): void {
  assert.ok(path.startsWith(`${dir}/`), `${path} is under ${dir}`);
  const hash = relative(dir, path).split("/")[0]!;
  assert.ok(!existsSync(join(root, "node_modules", ".cache", "percpu", hash)), "nothing is cached inside the SDK");
}

test("deno publish --dry-run passes and ships the sources, README, LICENSE and ffi-workers example, not tests or benchmarks", async () => {
  const r = await run(process.execPath, ["publish", "--dry-run", "--allow-dirty"], { cwd: root, timeoutMs: 60_000 });
  const out = plain(r.stdout + r.stderr);
  assert.equal(r.code, 0, out);
  assert.match(out, /Success Dry run complete/);
  const files = [...out.matchAll(/file:\/\/(\S+) \(/g)].map((m) => relative(root, m[1]!));
  for (const f of ["mod.ts", "percpu.ts", "LICENSE", "README.md", "docs/kernel-layout-riscv64.svg", "ffi/build.ts", "cli/main.ts", "examples/ffi-workers/main.ts"]) {
    assert.ok(files.includes(f), `${f} is published`);
  }
  const stray = files.filter((f) => !PUBLISHED.some((p) => (p.endsWith("/") ? f.startsWith(p) : f === p)));
  assert.deepEqual(stray, [], "only the published set ships");
}, { only: ["deno"] });

test("a Deno project imports the SDK by path: through its import map, as a linked JSR package, as a workspace member", async () => {
  await withTempDir("deno-path", async (dir) => {
    const xdg = join(dir, "xdg");
    const name = freshName();
    const forms: Record<string, { config: unknown; specifier: string }> = {
      "import-map": { config: { imports: { "percpu-sdk": join(root, "mod.ts") } }, specifier: "percpu-sdk" },
      "links": { config: { links: [root] }, specifier: "jsr:@percpu/sdk" },
      "links-mapped": { config: { links: [root], imports: { "@percpu/sdk": "jsr:@percpu/sdk@^0.1.0" } }, specifier: "@percpu/sdk" },
      "workspace": { config: { workspace: ["./percpu"] }, specifier: "@percpu/sdk" },
    };
    for (const [form, { config, specifier }] of Object.entries(forms)) {
      const project = join(dir, form);
      await mkdir(project);
      await writeFile(join(project, "deno.json"), JSON.stringify(config));
      if (form === "workspace") await symlink(root, join(project, "percpu"));
      await writeFile(join(project, "main.ts"), probe(specifier, name));
      // No node_modules in the project: the library goes to $XDG_CACHE_HOME/percpu.
      const out = await runProbe(project, "main.ts", { PERCPU_CACHE_DIR: undefined, XDG_CACHE_HOME: xdg });
      assertCachedIn(out.path, join(xdg, "percpu"));
    }
  });
}, { only: ["deno"], timeoutMs: 120_000 });

test("a Deno project imports the installed npm tarball as npm:percpu-sdk and as a package.json dependency", async () => {
  if (!existsSync(join(root, "dist", "mod.js"))) await runOk("npm", ["run", "--silent", "build"], { cwd: root, timeoutMs: 120_000 });
  await withTempDir("deno-npm", async (dir) => {
    const packed = (await runOk("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: root })).trim().split("\n").pop()!;
    const project = join(dir, "app");
    await mkdir(project);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    await runOk("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, packed)], { cwd: project, timeoutMs: 120_000 });
    const name = freshName();
    await writeFile(join(project, "npm.ts"), probe("npm:percpu-sdk", name));
    await writeFile(join(project, "bare.ts"), probe("percpu-sdk", name));
    for (const file of ["npm.ts", "bare.ts"]) {
      const out = await runProbe(project, file, { PERCPU_CACHE_DIR: undefined });
      assertCachedIn(out.path, join(project, "node_modules", ".cache", "percpu"));
    }
    assert.ok(!existsSync(join(project, "node_modules", "percpu-sdk", "node_modules")), "nothing was written inside the installed package");
  });
}, { only: ["deno"], timeoutMs: 180_000 });

test("load() caches the library under $PERCPU_CACHE_DIR, else the project's node_modules, else $XDG_CACHE_HOME, never inside a package", async () => {
  await withTempDir("cache", async (dir) => {
    const project = join(dir, "app");
    const nested = join(project, "src", "deep");
    await mkdir(nested, { recursive: true });
    await mkdir(join(project, "node_modules"));
    // Deno resolves the SDK through the project's import map; Bun resolves its bare imports from the SDK's own files.
    await writeFile(join(project, "deno.json"), JSON.stringify({ imports: { "percpu-sdk": join(root, "mod.ts") } }));
    const specifier = currentRuntime() === "deno" ? "percpu-sdk" : join(root, "mod.ts");
    const main = join(nested, "main.ts");
    await writeFile(main, probe(specifier, freshName()));
    const xdg = join(dir, "xdg");
    const unset = { PERCPU_CACHE_DIR: undefined, XDG_CACHE_HOME: xdg };

    assertCachedIn((await runProbe(nested, main, unset)).path, join(project, "node_modules", ".cache", "percpu"));
    // Run from inside an installed package that has node_modules of its own: still the project's.
    const installed = join(project, "node_modules", "some-pkg");
    await mkdir(join(installed, "node_modules"), { recursive: true });
    assertCachedIn((await runProbe(installed, main, unset)).path, join(project, "node_modules", ".cache", "percpu"));
    assert.ok(!existsSync(join(installed, "node_modules", ".cache")), "nothing is cached inside the installed package");
    const own = join(dir, "own-cache");
    assertCachedIn((await runProbe(nested, main, { ...unset, PERCPU_CACHE_DIR: own })).path, own);
    await rm(join(project, "node_modules"), { recursive: true });
    assertCachedIn((await runProbe(nested, main, unset)).path, join(xdg, "percpu"));
    assert.ok(!existsSync(join(project, "node_modules")), "without node_modules none is created");
  });
}, { only: ["deno", "bun"], timeoutMs: 120_000 });

test("percpu.h compiles as C++ (prototypes and PERCPU_INLINE) and links against percpu.S with unmangled percpu_* names", async () => {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 0);
  sdk.define("STATS", struct({ irqs: u32, hist: array(u8, 4) }), { irqs: 1, hist: [0, 1, 2, 3] });
  sdk.define("BIG", array(u32, 40), new Array<number>(40).fill(7));
  const gen = sdk.generate({ arch: "x86_64", cpus: 4, features: ["preempt", "irq"], functions: true });
  await withTempDir("cxx", async (dir) => {
    // The hooks are declared by percpu.h, so these C++ definitions get C linkage only through its extern "C".
    const hooks = [
      "void percpu_preempt_disable(void) {}",
      "void percpu_preempt_enable(void) {}",
      "uintptr_t percpu_irq_save(void) { return 0; }",
      "void percpu_irq_restore(uintptr_t flags) { (void)flags; }",
    ].join("\n");
    const linked = await linkKernel(gen, dir);
    assert.equal(linked.code, 0, linked.stderr);
    const c = await compileInlineHeader(gen, dir, { extraC: hooks });
    assert.equal(c.code, 0, c.stderr);
    const cxx = [CXX, "-x", "c++", "-std=c++17", "-ffreestanding", "-fno-exceptions", "-fno-rtti", "-Wall", "-Werror", "-O2", "-c"];
    const flags = backendFor("x86_64").clangFlags;
    // inline_test.c calls every accessor; first with PERCPU_INLINE (its first line), then with the prototypes.
    await runOk(cxx[0]!, [...cxx.slice(1), ...flags, "inline_test.c", "-o", "inline_cxx.o"], { cwd: dir });
    await runOk("sh", ["-c", "sed 1d inline_test.c > calls.cpp"], { cwd: dir });
    await runOk(cxx[0]!, [...cxx.slice(1), ...flags, "calls.cpp", "-o", "calls.o"], { cwd: dir });
    for (const obj of ["inline_cxx.o", "calls.o"]) {
      const mangled = [...(await undefinedSymbols(join(dir, obj)))].filter((s) => !/^(__)?percpu_/.test(s));
      assert.deepEqual(mangled, [], `${obj} references only unmangled percpu_* symbols`);
    }
    const used = await undefinedSymbols(join(dir, "calls.o"));
    for (const s of ["percpu_CPU_ID_read_current_raw", "percpu_STATS__hist__3_add_current", "percpu_BIG_write_current"]) assert.ok(used.has(s), s);
    const link = await run(LLD, ["-T", "kernel.ld", "-o", "cxx.elf", "percpu.o", "calls.o"], { cwd: dir });
    assert.equal(link.code, 0, `the C++ object links against percpu.S and defines the hooks with C linkage:\n${link.stderr}`);
  });
}, { only: ["deno"] });
