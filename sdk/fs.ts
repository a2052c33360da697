/**
 * The one place generated files reach the disk: written into a temporary
 * sibling directory, then renamed into place, so a failure leaves nothing
 * half-written.
 *
 * @module
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fail } from "./errors.ts";

/**
 * Writes `files` (name → contents) as the directory `dir`, atomically: an
 * existing `dir` is replaced only once every file is written.
 */
export async function writeDirAtomic(dir: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  const unique = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${unique}`);
  const old = join(parent, `.${basename(target)}.old-${unique}`);
  try {
    await mkdir(tmp, { recursive: true });
    for (const [name, contents] of Object.entries(files)) await writeFile(join(tmp, name), contents);
    let moved = false;
    try {
      await rename(target, old);
      moved = true;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
    await rename(tmp, target);
    if (moved) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    fail("write_failed", [], `Cannot write ${JSON.stringify(dir)}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
