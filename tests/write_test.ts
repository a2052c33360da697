import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createPercpu, PercpuError, u32, u64 } from "../mod.ts";
import { TEMP_DIR_PREFIX, writeGeneratedFiles } from "../sdk/fs.ts";
import { percpu, selfEntry } from "./_cli.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const GENERATED = ["percpu.S", "percpu.h", "percpu.json", "percpu.ld"];

function sdk() {
  const s = createPercpu();
  s.define("CPU_ID", u64, 0);
  s.define("TICKS", u32, 7);
  return s;
}

/** Every entry under `dir` (symlinks not followed) → kind, mode and content hash or link target. */
async function snapshot(dir: string, skip: readonly string[] = GENERATED): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const path = join(d, name);
      const rel = relative(dir, path);
      if (d === dir && skip.includes(name)) continue;
      const info = await lstat(path);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) out.set(rel, `link ${mode} -> ${await readlink(path)}`);
      else if (info.isDirectory()) {
        out.set(rel, `dir ${mode}`);
        await walk(path);
      } else out.set(rel, `file ${mode} ${createHash("sha256").update(await readFile(path)).digest("hex")}`);
    }
  };
  await walk(dir);
  return out;
}

/** A kernel tree with foreign files of every kind and a previous generation with other contents. */
async function kernelTree(dir: string): Promise<void> {
  await mkdir(join(dir, "src"));
  await mkdir(join(dir, "include", "asm", "deep"), { recursive: true });
  await writeFile(join(dir, "Makefile"), "all:\n\tclang -c src/main.c\n");
  await writeFile(join(dir, "src", "main.c"), '#include "percpu.h"\nint main(void) { return 0; }\n');
  await writeFile(join(dir, "include", "asm", "deep", "regs.h"), "#define GP 3\n");
  await symlink("src/main.c", join(dir, "main-link.c"));
  await symlink("does-not-exist", join(dir, "dangling"));
  await writeFile(join(dir, "secret.key"), "0123456789abcdef");
  await chmod(join(dir, "secret.key"), 0o600);
  await writeFile(join(dir, "readonly.txt"), "do not touch");
  await chmod(join(dir, "readonly.txt"), 0o444);
  await chmod(join(dir, "include"), 0o750);
  await writeFile(join(dir, "percpu.S"), "/* stale: from an older generation */\n");
  await writeFile(join(dir, "percpu.h"), "/* stale header */\n");
}

/** Asserts `dir` holds exactly the generated files of `files`, and no temporary directory. */
async function assertGenerated(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [name, text] of Object.entries(files)) assert.equal(await readFile(join(dir, name), "utf8"), text, name);
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(TEMP_DIR_PREFIX)), []);
}

/** Writes a config module into `dir` (importing this checkout's mod.ts) and returns its path. */
async function writeConfig(dir: string): Promise<string> {
  const path = join(dir, "percpu.config.ts");
  const mod = pathToFileURL(join(ROOT, "mod.ts")).href;
  await writeFile(
    path,
    [
      `import { createPercpu, u32, u64 } from ${JSON.stringify(mod)};`,
      "const percpu = createPercpu();",
      'percpu.define("CPU_ID", u64, 0);',
      'percpu.define("TICKS", u32, 7);',
      "export default percpu;",
      "",
    ].join("\n"),
  );
  return path;
}

/** Runs `percpu gen` as a child process on the current runtime. */
function cliGen(config: string, out: string, cwd = ROOT) {
  return percpu(selfEntry(), ["gen", config, "--arch", "riscv64", "--out", out], { cwd });
}

const isCode = (code: string) => (e: unknown) => e instanceof PercpuError && e.code === code;

test("write() into a kernel tree replaces only the generated files and leaves every other entry byte-identical", async () => {
  await withTempDir("write-api", async (dir) => {
    await kernelTree(dir);
    const before = await snapshot(dir);
    const gen = sdk().generate({ arch: "riscv64" });
    await gen.write(dir);
    assert.deepEqual(await snapshot(dir), before);
    await assertGenerated(dir, gen.files);
    // A second generation over the first replaces it again.
    const again = createPercpu();
    again.define("OTHER", u32, 1);
    const next = again.generate({ arch: "riscv64" });
    await next.write(dir);
    assert.deepEqual(await snapshot(dir), before);
    await assertGenerated(dir, next.files);
  });
});

test("percpu gen --out DIR (child process) replaces only the generated files of a kernel tree", async () => {
  await withTempDir("write-cli", async (root) => {
    const config = await writeConfig(root);
    const dir = join(root, "kernel");
    await mkdir(dir);
    await kernelTree(dir);
    const before = await snapshot(dir);
    const r = await cliGen(config, dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await snapshot(dir), before);
    await assertGenerated(dir, sdk().generate({ arch: "riscv64" }).files);
  });
});

test("percpu gen --out . in a project keeps the config and every other file of the project", async () => {
  await withTempDir("write-dot", async (project) => {
    await writeConfig(project);
    await writeFile(join(project, "package.json"), '{ "name": "my-kernel" }\n');
    await mkdir(join(project, "src"));
    await writeFile(join(project, "src", "entry.S"), ".globl _start\n_start: j _start\n");
    await writeFile(join(project, "percpu.S"), "/* stale */\n");
    const before = await snapshot(project);
    const r = await cliGen("percpu.config.ts", ".", project);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await snapshot(project), before);
    await assertGenerated(project, sdk().generate({ arch: "riscv64" }).files);
  });
});

test("write() refuses an empty or blank output directory with out_dir_empty and writes nothing", async () => {
  await withTempDir("write-empty", async (project) => {
    const config = await writeConfig(project);
    const before = await snapshot(project, []);
    const gen = sdk().generate({ arch: "riscv64" });
    for (const dir of ["", " ", "\t\n"]) {
      await assert.rejects(gen.write(dir), (e) => isCode("out_dir_empty")(e) && (e as Error).message.includes(JSON.stringify(dir)));
    }
    const r = await cliGen(config, "", project);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /Cannot write generated files into "": the output directory is empty/);
    assert.deepEqual(await snapshot(project, []), before);
  });
});

test("write() refuses an output path that is a regular file, or under one, with out_dir_not_directory", async () => {
  await withTempDir("write-file", async (root) => {
    const config = await writeConfig(root);
    const file = join(root, "kernel.elf");
    await writeFile(file, "\x7fELF not really");
    const before = await snapshot(root, []);
    const gen = sdk().generate({ arch: "riscv64" });
    await assert.rejects(gen.write(file), (e) => isCode("out_dir_not_directory")(e) && (e as Error).message.includes(JSON.stringify(file)));
    await assert.rejects(gen.write(join(file, "sub", "dir")), (e) => isCode("out_dir_not_directory")(e) && (e as Error).message.includes(JSON.stringify(file)));
    const r = await cliGen(config, file);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /the output directory exists and is not a directory/);
    assert.deepEqual(await snapshot(root, []), before);
  });
});

test("write() under /proc fails fast with write_failed instead of hanging, on the API and the CLI", async () => {
  const started = performance.now();
  await assert.rejects(
    sdk().generate({ arch: "riscv64" }).write("/proc/percpu-x"),
    (e) => isCode("write_failed")(e) && (e as Error).message.includes('"/proc/percpu-x"'),
  );
  assert.ok(performance.now() - started < 3_000, "the API call took more than 3 s");
  await withTempDir("write-proc", async (root) => {
    const config = await writeConfig(root);
    const t0 = performance.now();
    const r = await cliGen(config, "/proc/percpu-x/build");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /Cannot write generated files into "\/proc\/percpu-x\/build"/);
    assert.ok(performance.now() - t0 < 20_000, "the CLI took more than 20 s");
  });
});

test("a target file that exists as a directory is refused with out_file_is_directory, replacing nothing and deleting nothing", async () => {
  await withTempDir("write-isdir", async (dir) => {
    await kernelTree(dir);
    await mkdir(join(dir, "percpu.ld"));
    await writeFile(join(dir, "percpu.ld", "mine.ld"), "/* the user's */\n");
    const before = await snapshot(dir, []);
    await assert.rejects(
      sdk().generate({ arch: "riscv64" }).write(dir),
      (e) => isCode("out_file_is_directory")(e) && (e as Error).message.includes(JSON.stringify(join(dir, "percpu.ld"))),
    );
    assert.deepEqual(await snapshot(dir, []), before);
  });
});

test("a failure after the output directory was created leaves no partial file, no temporary directory and no created directory", async () => {
  await withTempDir("write-half", async (root) => {
    // A name too long for the filesystem fails (ENAMETOOLONG) once the missing directories exist.
    const out = join(root, "new", "deeper");
    await assert.rejects(
      writeGeneratedFiles(out, { "percpu.S": "new\n", ["x".repeat(300)]: "too long" }),
      (e) => isCode("write_failed")(e) && (e as Error).message.includes(JSON.stringify(out)),
    );
    assert.deepEqual(await readdir(root), []);
    // The same failure inside an existing tree keeps the stale files and removes nothing.
    await kernelTree(root);
    const before = await snapshot(root, []);
    await assert.rejects(writeGeneratedFiles(root, { "percpu.S": "new\n", ["y".repeat(300)]: "too long" }), isCode("write_failed"));
    assert.deepEqual(await snapshot(root, []), before);
  });
});

test("writeGeneratedFiles() refuses file names that are not plain names and writes nothing", async () => {
  await withTempDir("write-names", async (dir) => {
    for (const name of ["", ".", "..", "../escape.S", "sub/percpu.S", "back\\slash", "nul\0"]) {
      await assert.rejects(
        writeGeneratedFiles(join(dir, "out"), { "percpu.S": "ok\n", [name]: "bad" }),
        (e) => isCode("out_file_name_invalid")(e) && (e as Error).message.includes(JSON.stringify(name)),
      );
    }
    assert.deepEqual(await readdir(dir), []);
  });
});

test("writeGeneratedFiles() creates only the missing parts of a nested output directory", async () => {
  await withTempDir("write-nested", async (root) => {
    await mkdir(join(root, "build"));
    await writeFile(join(root, "build", "keep.o"), "object");
    const before = await snapshot(root);
    await writeGeneratedFiles(join(root, "build", "riscv64", "gen"), { "percpu.h": "#pragma once\n" });
    assert.equal(await readFile(join(root, "build", "riscv64", "gen", "percpu.h"), "utf8"), "#pragma once\n");
    const after = await snapshot(root);
    for (const [k, v] of before) assert.equal(after.get(k), v, k);
    assert.deepEqual(await readdir(join(root, "build", "riscv64", "gen")), ["percpu.h"]);
  });
});

test("a filesystem call slower than timeoutMs fails with write_timeout naming the path, and the temporary directory goes away", async () => {
  await withTempDir("write-timeout", async (dir) => {
    await writeFile(join(dir, "percpu.S"), "/* stale */\n");
    const big = new Uint8Array(64 * 1024 * 1024).fill(0x90);
    await assert.rejects(
      writeGeneratedFiles(dir, { "percpu.S": "new\n", "fw.elf": big }, { timeoutMs: 1 }),
      (e) => isCode("write_timeout")(e) && /did not finish within 1 ms/.test((e as Error).message) && (e as Error).message.includes(JSON.stringify(dir)),
    );
    assert.equal(await readFile(join(dir, "percpu.S"), "utf8"), "/* stale */\n");
    // The timed-out call may still finish in the background; its temporary directory is removed either way.
    for (let i = 0; i < 50 && (await readdir(dir)).some((n) => n.startsWith(TEMP_DIR_PREFIX)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await readdir(dir)).sort(), ["percpu.S"]);
  });
});

test("percpu boot --out FILE is refused before anything is built (no compiler is even looked for)", async () => {
  await withTempDir("write-boot", async (root) => {
    const config = await writeConfig(root);
    const file = join(root, "fw.img");
    await writeFile(file, "not a directory");
    // With no clang-19 on PATH, a check after the build would report toolchain_missing instead.
    const r = await percpu(selfEntry(), ["boot", config, "--arch", "riscv64", "--cpus", "1", "--out", file], { env: { PATH: "/nonexistent" } });
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr + r.stdout, /out_dir_not_directory/);
    assert.doesNotMatch(r.stderr + r.stdout, /toolchain_missing/);
    assert.equal(await readFile(file, "utf8"), "not a directory");
  });
});

test("buildFirmware() refuses an empty output directory and a file before building", async () => {
  await withTempDir("write-fw", async (root) => {
    const file = join(root, "x");
    await writeFile(file, "x");
    const s = sdk();
    await assert.rejects(s.buildFirmware({ arch: "riscv64", cpus: 1, out: file }), isCode("out_dir_not_directory"));
    await assert.rejects(s.buildFirmware({ arch: "riscv64", cpus: 1, out: " " }), isCode("out_dir_empty"));
  });
});
