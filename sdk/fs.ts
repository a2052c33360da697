/**
 * The one place generated files reach the disk. {@link writeGeneratedFiles}
 * only ever creates or replaces the files it is given: everything else in
 * the output directory (a kernel tree, a project) is left as it was.
 *
 * @module
 */
import { lstat, mkdir, mkdtemp, open, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fail, PercpuError } from "./errors.ts";
import { ChunkedText } from "./text.ts";

/** Default bound of every filesystem call of {@link writeGeneratedFiles}, in milliseconds. */
export const WRITE_TIMEOUT_MS = 10_000;

/** Prefix of the hidden temporary directory {@link writeGeneratedFiles} creates inside the output directory. */
export const TEMP_DIR_PREFIX = ".percpu-tmp-";

/** Options of {@link writeGeneratedFiles}. */
export interface WriteOptions {
  /** Bound of each filesystem call in milliseconds (default {@link WRITE_TIMEOUT_MS}); past it the write fails with `write_timeout`. */
  readonly timeoutMs?: number;
}

/**
 * Writes `files` (plain file name → contents) into the directory `dir`,
 * creating only the missing parts of `dir`. Every file is first written into
 * a hidden temporary directory inside `dir` (so each rename stays on one
 * filesystem), then renamed over its target, each rename atomic; the
 * temporary directory is removed whether the write succeeds or fails. Every
 * other file and directory in `dir` is left untouched, and nothing the
 * function did not create is ever deleted. Each file is replaced whole or not
 * at all; should a rename itself fail, the files renamed before it stay new.
 *
 * Throws a {@link PercpuError}: `out_dir_empty` for an empty or blank `dir`,
 * `out_dir_not_directory` when `dir` (or one of its parents) exists and is
 * not a directory, `out_file_name_invalid` for a name that is not a plain
 * file name, `out_file_is_directory` when a target file exists as a
 * directory, `write_timeout` when a filesystem call takes longer than
 * `options.timeoutMs`, and `write_failed` for any other I/O failure. The
 * checks run before anything is written.
 *
 * @example
 * ```ts
 * import { mkdtemp, readFile, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { writeGeneratedFiles } from "./fs.ts";
 * const dir = await mkdtemp(join(tmpdir(), "percpu-doc-"));
 * try {
 *   await writeGeneratedFiles(join(dir, "build"), { "percpu.h": "#pragma once\n" });
 *   console.log(await readFile(join(dir, "build", "percpu.h"), "utf8")); // "#pragma once\n"
 * } finally {
 *   await rm(dir, { recursive: true, force: true });
 * }
 * ```
 */
export async function writeGeneratedFiles(
  dir: string,
  files: Readonly<Record<string, string | Uint8Array | ChunkedText>>,
  options: WriteOptions = {},
): Promise<void> {
  const shown = JSON.stringify(dir);
  checkNotEmpty(dir);
  for (const name of Object.keys(files)) {
    if (!isPlainName(name)) {
      fail("out_file_name_invalid", [], `Cannot write generated files into ${shown}: ${JSON.stringify(name)} is not a plain file name`);
    }
  }
  const ms = options.timeoutMs ?? WRITE_TIMEOUT_MS;
  const fs = <T>(call: string, path: string, op: () => Promise<T>) => bounded(op(), { dir, call, path, ms });
  const target = resolve(dir);
  const created: string[] = [];
  let tmp: string | undefined;
  let failure: unknown;
  try {
    created.push(...await ensureDirectory(target, dir, fs));
    for (const name of Object.keys(files)) {
      const info = await fs("lstat", join(target, name), () => lstat(join(target, name))).catch((e) => ignoreMissing(e));
      if (info?.isDirectory()) {
        fail("out_file_is_directory", [], `Cannot write generated files into ${shown}: ${JSON.stringify(join(target, name))} is a directory`);
      }
    }
    const making = mkdtemp(join(target, TEMP_DIR_PREFIX));
    try {
      tmp = await fs("mkdtemp", join(target, TEMP_DIR_PREFIX), () => making);
    } catch (e) {
      // A mkdtemp that timed out but succeeds later still has its directory removed.
      making.then((late) => rm(late, { recursive: true, force: true })).catch(() => {});
      throw e;
    }
    for (const [name, contents] of Object.entries(files)) {
      const path = join(tmp, name);
      // Text goes through one reused buffer (`writeFile` of a string makes an encoded copy of it first).
      if (typeof contents === "string") await writeChunks(path, [contents], fs);
      else if (contents instanceof ChunkedText) await writeChunks(path, contents.chunks(), fs);
      else await fs("writeFile", path, () => writeFile(path, contents));
    }
    for (const name of Object.keys(files)) {
      const from = join(tmp, name);
      await fs("rename", from, () => rename(from, join(target, name)));
    }
  } catch (e) {
    failure = e;
  }
  // Cleanup: the temporary directory, and on failure the (then empty) directories created above.
  const leftovers: string[] = [];
  if (tmp !== undefined) {
    const t = tmp;
    await fs("rm", t, () => rm(t, { recursive: true, force: true, maxRetries: 3 })).catch(() => leftovers.push(t));
  }
  if (failure !== undefined) {
    for (const d of created.reverse()) await fs("rmdir", d, () => rmdir(d)).catch(() => leftovers.push(d));
  }
  if (failure instanceof PercpuError) throw failure;
  if (failure !== undefined) {
    fail("write_failed", [], `Cannot write generated files into ${shown}: ${failure instanceof Error ? failure.message : String(failure)}`);
  }
  if (leftovers.length > 0) {
    fail("write_failed", [], `Cannot write generated files into ${shown}: could not remove ${leftovers.map((p) => JSON.stringify(p)).join(", ")}`);
  }
}

/** Characters encoded per encode of {@link writeChunks}: its buffer holds them at 3 UTF-8 bytes each. */
const WRITE_CHARS = 1 << 18;

/**
 * Writes text chunks as UTF-8 through two reused buffers: no string of the
 * whole file and no encoded copy of it (slices of a flat chunk copy nothing).
 * While one buffer is being written, the next chunks are produced and
 * encoded into the other, so the producer's work and the kernel's overlap.
 */
async function writeChunks(path: string, chunks: Iterable<string>, fs: BoundedFs): Promise<void> {
  const buffers = [new Uint8Array(WRITE_CHARS * 3), new Uint8Array(WRITE_CHARS * 3)];
  const encoder = new TextEncoder();
  const file = await fs("open", path, () => open(path, "wx"));
  let failure: unknown;
  let inFlight: Promise<void> | undefined;
  try {
    let buffer = buffers[0]!;
    let used = 0;
    /** Where the next buffer goes in the file: two writes are in flight at once, so each names its position. */
    let position = 0;
    const writeAll = async (bytes: Uint8Array, length: number, start: number): Promise<void> => {
      let at = 0;
      while (at < length) at += (await fs("write", path, () => file.write(bytes, at, length - at, start + at))).bytesWritten;
    };
    /** Starts writing the filled buffer and switches to the other one once its own write is done. */
    const flip = async (): Promise<void> => {
      const started = writeAll(buffer, used, position);
      position += used;
      // Handled here so a failure while the next chunk is produced is no unhandled rejection; awaited below.
      started.catch(() => {});
      const previous = inFlight;
      inFlight = started;
      await previous;
      buffer = buffer === buffers[0] ? buffers[1]! : buffers[0]!;
      used = 0;
    };
    for (const chunk of chunks) {
      let from = 0;
      while (from < chunk.length) {
        // Never split a surrogate pair between two encodes.
        let to = Math.min(from + WRITE_CHARS, chunk.length);
        if (to < chunk.length && (chunk.charCodeAt(to - 1) & 0xfc00) === 0xd800) to--;
        if (used + (to - from) * 3 > buffer.length) await flip();
        used += encoder.encodeInto(from === 0 && to === chunk.length ? chunk : chunk.slice(from, to), buffer.subarray(used)).written;
        from = to;
      }
    }
    await flip();
    await inFlight;
  } catch (e) {
    failure = e;
    // A write still running must end before the file is closed.
    await inFlight?.catch(() => {});
  }
  await fs("close", path, () => file.close()).catch((e) => (failure ??= e));
  if (failure !== undefined) throw failure;
}

/** A name that stays inside its directory: not empty, `.`, `..`, and without a separator or NUL. */
function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

type BoundedFs = <T>(call: string, path: string, op: () => Promise<T>) => Promise<T>;

/**
 * Makes `target` a directory, creating each missing component one
 * non-recursive `mkdir` at a time (Node's recursive `mkdir` spins forever on
 * `/proc/x`: procfs answers ENOENT, which Node takes for a missing parent).
 * Returns the directories created, outermost first.
 */
async function ensureDirectory(target: string, dir: string, fs: BoundedFs): Promise<string[]> {
  const missing = await missingDirectories(target, dir, fs);
  const created: string[] = [];
  try {
    for (const path of missing) {
      await fs("mkdir", path, () => mkdir(path));
      created.push(path);
    }
  } catch (e) {
    for (const d of created.reverse()) await fs("rmdir", d, () => rmdir(d)).catch(() => {});
    throw e;
  }
  return created;
}

/**
 * The components of `target` that do not exist yet, outermost first; throws
 * `out_dir_not_directory` when `target` or a parent exists and is not a directory.
 */
async function missingDirectories(target: string, dir: string, fs: BoundedFs): Promise<string[]> {
  const missing: string[] = [];
  for (let path = target; ; path = dirname(path)) {
    // ENOTDIR: a parent is a file; the walk goes on up to it and reports it.
    const info = await fs("stat", path, () => stat(path)).catch((e) => ignoreMissing(e, ["ENOENT", "ENOTDIR"]));
    if (info !== undefined) {
      if (!info.isDirectory()) {
        const what = path === target ? "the output directory exists and" : `its parent ${JSON.stringify(path)}`;
        fail("out_dir_not_directory", [], `Cannot write generated files into ${JSON.stringify(dir)}: ${what} is not a directory`);
      }
      return missing;
    }
    if (dirname(path) === path) return missing;
    missing.unshift(path);
  }
}

function checkNotEmpty(dir: string): void {
  if (typeof dir !== "string" || dir.trim() === "") {
    fail("out_dir_empty", [], `Cannot write generated files into ${JSON.stringify(dir)}: the output directory is empty`);
  }
}

/**
 * Checks, without creating anything, that {@link writeGeneratedFiles} could
 * use `dir`: not empty, and neither it nor a parent is an existing
 * non-directory. Lets a caller refuse a bad output directory before minutes
 * of work (a firmware build) rather than after.
 *
 * @example
 * ```ts
 * import { checkOutputDirectory } from "./fs.ts";
 * await checkOutputDirectory("build/riscv64"); // throws out_dir_empty / out_dir_not_directory
 * ```
 */
export async function checkOutputDirectory(dir: string, options: WriteOptions = {}): Promise<void> {
  checkNotEmpty(dir);
  const ms = options.timeoutMs ?? WRITE_TIMEOUT_MS;
  await missingDirectories(resolve(dir), dir, (call, path, op) => bounded(op(), { dir, call, path, ms }));
}

/**
 * Creates `dir` and any missing parents, one non-recursive `mkdir` per
 * component, each bounded by `options.timeoutMs` (a recursive `mkdir` can
 * spin forever on Node, see {@link writeGeneratedFiles}). Returns the
 * directories it created, outermost first.
 *
 * @example
 * ```ts
 * import { makeDirectories } from "./fs.ts";
 * const created = await makeDirectories("node_modules/.cache/percpu"); // [] when it already exists
 * ```
 */
export function makeDirectories(dir: string, options: WriteOptions = {}): Promise<string[]> {
  checkNotEmpty(dir);
  const ms = options.timeoutMs ?? WRITE_TIMEOUT_MS;
  return ensureDirectory(resolve(dir), dir, (call, path, op) => bounded(op(), { dir, call, path, ms }));
}

/** `undefined` for a missing path (an error code in `codes`, default ENOENT); rethrows anything else. */
function ignoreMissing(e: unknown, codes: readonly string[] = ["ENOENT"]): undefined {
  if (codes.includes(String((e as { code?: unknown }).code))) return undefined;
  throw e;
}

/** Settles with `promise`, or rejects with `write_timeout` once `ms` have passed. */
async function bounded<T>(promise: Promise<T>, at: { dir: string; call: string; path: string; ms: number }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new PercpuError(
          "write_timeout",
          [],
          `Cannot write generated files into ${JSON.stringify(at.dir)}: ${at.call} ${JSON.stringify(at.path)} did not finish within ${at.ms} ms`,
        ),
      );
    }, at.ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
