/**
 * `percpu gen`: generate the four files for one arch (or every arch, one
 * subdirectory each) and write them.
 *
 * @module
 */
import { join } from "node:path";
import type { Generated } from "../emit/index.ts";
import type { Mode } from "../sdk/config.ts";
import { loadConfig } from "./config.ts";
import { HELP } from "./help.ts";
import { arches, cpus, FEATURE_OPTIONS, features, type Io, needConfig, parse, UsageError } from "./usage.ts";

/**
 * One file `percpu gen` wrote.
 *
 * @example
 * ```ts
 * import type { WrittenFile } from "./gen.ts";
 * const f: WrittenFile = { arch: "riscv64", path: "build/percpu.S", bytes: 1024 };
 * ```
 */
export interface WrittenFile {
  readonly arch: string;
  readonly path: string;
  readonly bytes: number;
}

/**
 * Runs `percpu gen` with the verb's arguments; returns the exit status.
 *
 * @example
 * ```ts
 * import { gen } from "./gen.ts";
 * const status = await gen(["--help"], { out: console.log, err: console.error }); // 0
 * ```
 */
export async function gen(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    arch: { type: "string" },
    out: { type: "string" },
    cpus: { type: "string" },
    mode: { type: "string" },
    json: { type: "boolean" },
    functions: { type: "boolean" },
    rust: { type: "boolean" },
    dynamic: { type: "string" },
    ...FEATURE_OPTIONS,
  });
  if (values.help) return (io.out(HELP.gen), 0);
  const config = needConfig(positionals, "gen");
  const targets = arches(values.arch, "gen");
  if (typeof values.out !== "string") throw new UsageError("percpu gen needs --out <dir>");
  const mode = values.mode ?? "kernel";
  if (mode !== "kernel" && mode !== "user") throw new UsageError(`--mode must be kernel or user, got "${String(mode)}"`);
  const wanted = features(values);
  if (wanted.includes("el2") && !targets.includes("aarch64")) throw new UsageError("--el2 applies to aarch64 only");
  const n = values.cpus === undefined ? undefined : cpus(values.cpus);
  if (wanted.includes("naive") && n !== undefined && n !== 1) throw new UsageError(`--naive means one CPU, got --cpus ${n}`);
  const dynamic = values.dynamic === undefined ? 0 : Number(values.dynamic);
  if (!Number.isSafeInteger(dynamic) || dynamic < 0) throw new UsageError(`--dynamic must be a number of bytes, got "${String(values.dynamic)}"`);
  const { sdk } = await loadConfig(config);
  const outDir = values.out;
  // Generate everything first: one bad arch writes nothing.
  const all: { dir: string; generated: Generated }[] = targets.map((a) => ({
    dir: targets.length === 1 ? outDir : join(outDir, a),
    generated: sdk.generate({
      arch: a,
      ...(n === undefined ? {} : { cpus: n }),
      mode: mode as Mode,
      ...(values.functions ? { functions: true } : {}),
      ...(values.rust ? { rust: true } : {}),
      ...(dynamic > 0 ? { dynamic } : {}),
      features: wanted.filter((f) => f !== "el2" || a === "aarch64"),
    }),
  }));
  const written: WrittenFile[] = [];
  for (const { dir, generated } of all) {
    await generated.write(dir);
    for (const [name, text] of Object.entries(generated.files)) {
      written.push({ arch: generated.config.arch, path: join(dir, name), bytes: new TextEncoder().encode(text).length });
    }
  }
  if (values.json) io.out(JSON.stringify({ files: written }, null, 2));
  else for (const f of written) io.out(`wrote ${f.path} (${f.bytes} bytes)`);
  return 0;
}
