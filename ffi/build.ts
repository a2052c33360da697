/**
 * Builds host shared libraries with the machine's `cc` and caches them by a
 * SHA-256 of every input: `<cacheDir>/<hash>/libpercpu.so`. A build happens in
 * a temporary sibling directory renamed into place, so a reader never sees a
 * half-written library and concurrent builders (Workers, processes) agree.
 * A warm build finds the directory and compiles nothing.
 *
 * @module
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import process from "node:process";
import { fail } from "../sdk/errors.ts";
import { makeDirectories } from "../sdk/fs.ts";

/** Flags every shim is compiled with (before the request's own flags). */
export const BASE_CFLAGS: readonly string[] = [
  "-O2",
  "-shared",
  "-fPIC",
  "-Wa,--noexecstack",
  "-Wl,-z,defs",
  "-Wl,-z,noexecstack",
];

/** File name of the library inside its cache directory. */
export const LIBRARY_NAME = "libpercpu.so";

/** What to build. */
export interface BuildRequest {
  /** Source files by name (written next to each other; `#include "x.h"` works). */
  readonly sources: Readonly<Record<string, string>>;
  /** Which of `sources` are compiled, in order (the rest are headers). */
  readonly compile: readonly string[];
  /** Extra compiler flags after {@link BASE_CFLAGS}. */
  readonly flags?: readonly string[];
  /** Cache root (default {@link defaultCacheDir}). */
  readonly cacheDir?: string;
  /** Compiler command (default `$CC` or `cc`). */
  readonly cc?: string;
}

/** A built (or cached) library. */
export interface BuiltLibrary {
  /** Absolute path of the `.so`. */
  readonly path: string;
  /** Its cache directory (also holds the sources it was built from). */
  readonly dir: string;
  /** SHA-256 of the inputs, hex. */
  readonly hash: string;
  /** Whether it was found in the cache (no compiler ran). */
  readonly cached: boolean;
}

function env(name: string): string | undefined {
  return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
}

/** Whether a path lies inside some `node_modules` tree (an installed package, never a cache root). */
function insideNodeModules(dir: string): boolean {
  return dir.split(sep).includes("node_modules");
}

/**
 * The default cache root, chosen for the user's project and never inside the
 * installed SDK package:
 *
 * 1. `$PERCPU_CACHE_DIR`, when set;
 * 2. `node_modules/.cache/percpu` of the nearest directory at or above the
 *    working directory that has a `node_modules` (directories that are
 *    themselves inside a `node_modules`, such as an installed package, are
 *    skipped);
 * 3. `$XDG_CACHE_HOME/percpu`, when that is an absolute path;
 * 4. `~/.cache/percpu` (the OS temp directory when there is no home directory).
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "./build.ts";
 * console.log(defaultCacheDir()); // e.g. "/home/me/app/node_modules/.cache/percpu"
 * ```
 */
export function defaultCacheDir(): string {
  const fromEnv = env("PERCPU_CACHE_DIR");
  if (fromEnv) return resolve(fromEnv);
  for (let dir = resolve(process.cwd());; dir = dirname(dir)) {
    if (!insideNodeModules(dir) && existsSync(join(dir, "node_modules"))) return join(dir, "node_modules", ".cache", "percpu");
    if (dirname(dir) === dir) break;
  }
  const xdg = env("XDG_CACHE_HOME");
  if (xdg && isAbsolute(xdg)) return join(xdg, "percpu");
  const home = homedir();
  return home ? join(home, ".cache", "percpu") : join(tmpdir(), "percpu-cache");
}

const compilerVersions = new Map<string, string>();

/** The compiler's `--version` banner (once per process), so an upgraded compiler misses the cache. */
function compilerVersion(cc: string): string {
  let version = compilerVersions.get(cc);
  if (version === undefined) {
    const r = spawnSync(cc, ["--version"], { encoding: "utf8" });
    version = r.status === 0 ? r.stdout.trim() : "unavailable";
    compilerVersions.set(cc, version);
  }
  return version;
}

/** SHA-256 (hex) of a build's inputs: compiler and its version, flags and every source by name. */
export function buildHash(request: BuildRequest): string {
  const h = createHash("sha256");
  const cc = request.cc ?? env("CC") ?? "cc";
  h.update(JSON.stringify({ cc, version: compilerVersion(cc), flags: [...BASE_CFLAGS, ...(request.flags ?? [])], compile: request.compile }));
  for (const name of Object.keys(request.sources).sort()) {
    h.update(`\0${name}\0${request.sources[name]!.length}\0`);
    h.update(request.sources[name]!);
  }
  return h.digest("hex");
}

function runCompiler(
  cc: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stderr: string; missing: boolean }> {
  return new Promise((done) => {
    execFile(cc, args, { cwd, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (!err) return done({ code: 0, stderr: String(stderr), missing: false });
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      done({
        code: typeof e.code === "number" ? e.code : 1,
        stderr: String(stderr) || e.message,
        missing: e.code === "ENOENT",
      });
    });
  });
}

/**
 * Compiles `request.compile` into `<cacheDir>/<hash>/libpercpu.so` unless that
 * file already exists. Throws `PercpuError` `toolchain_missing` when the
 * compiler cannot be run and `native_build_failed` with its diagnostics when
 * compilation fails.
 *
 * @example
 * ```ts
 * import { buildSharedLibrary } from "./build.ts";
 * const lib = await buildSharedLibrary({ sources: { "x.c": "int x(void) { return 1; }" }, compile: ["x.c"] });
 * console.log(lib.path, lib.cached);
 * ```
 */
export async function buildSharedLibrary(request: BuildRequest): Promise<BuiltLibrary> {
  const root = resolve(request.cacheDir ?? defaultCacheDir());
  const hash = buildHash(request);
  const dir = join(root, hash);
  const path = join(dir, LIBRARY_NAME);
  if (existsSync(path)) return { path, dir, hash, cached: true };
  for (const name of request.compile) {
    if (!Object.hasOwn(request.sources, name)) {
      fail(
        "native_build_failed",
        [],
        `Cannot build ${LIBRARY_NAME}: "${name}" is listed to compile but not among the sources`,
      );
    }
  }
  const cc = request.cc ?? env("CC") ?? "cc";
  const tmp = join(
    root,
    `.${hash.slice(0, 16)}.tmp-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
  );
  try {
    await makeDirectories(root);
    await mkdir(tmp);
    for (const [name, text] of Object.entries(request.sources)) await writeFile(join(tmp, name), text);
    const args = [...BASE_CFLAGS, ...(request.flags ?? []), "-o", LIBRARY_NAME, ...request.compile];
    const r = await runCompiler(cc, args, tmp);
    if (r.missing) {
      fail(
        "toolchain_missing",
        [],
        `Cannot build ${LIBRARY_NAME}: the C compiler "${cc}" was not found (install gcc or set CC)`,
      );
    }
    if (r.code !== 0) {
      fail(
        "native_build_failed",
        [],
        `Cannot build ${LIBRARY_NAME}: ${cc} ${args.join(" ")} failed:\n${r.stderr.trim()}`,
      );
    }
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another builder won the race with identical inputs: use theirs.
      const code = (e as { code?: string }).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(path)) throw e;
    }
    return { path, dir, hash, cached: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
