/**
 * Temporary directories for tests: every one is created under the OS temp
 * dir as `percpu-<prefix>-XXXXXX` and removed when the test is done with it.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory `percpu-<prefix>-XXXXXX` under the OS temp dir; the caller removes it (prefer {@link withTempDir}). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `percpu-${prefix}-`));
}

/** Runs `fn` with a fresh temporary directory and removes the directory afterwards, whether `fn` succeeds or throws. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = await tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
