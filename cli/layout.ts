/**
 * `percpu layout`: the per-CPU area of a config as a table, the JSON
 * manifest, or an SVG picture.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { backendFor } from "../arch/index.ts";
import { fail } from "../sdk/errors.ts";
import { loadConfig } from "./config.ts";
import { HELP } from "./help.ts";
import { layoutSvg, layoutTable } from "./layout_view.ts";
import { arch, cpus, type Io, needConfig, parse } from "./usage.ts";

/**
 * Runs `percpu layout` with the verb's arguments; returns the exit status.
 * The SVG is written before anything is printed, so a bad `--svg` path prints
 * only the error.
 *
 * @example
 * ```ts
 * import { layout } from "./layout.ts";
 * const status = await layout(["examples/kernel/percpu.config.ts", "--arch", "riscv64"], { out: console.log, err: console.error }); // 0
 * ```
 */
export async function layout(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { arch: { type: "string" }, json: { type: "boolean" }, svg: { type: "string" }, cpus: { type: "string" } });
  if (values.help) return (io.out(HELP.layout), 0);
  const config = needConfig(positionals, "layout");
  const a = values.arch === undefined ? "x86_64" : arch(values.arch, "layout");
  const n = cpus(values.cpus);
  const { sdk } = await loadConfig(config);
  const l = sdk.layout(a);
  const register = backendFor(a).registerName;
  if (typeof values.svg === "string") {
    const svg = values.svg;
    await writeFile(svg, layoutSvg(l, { cpus: n, register })).catch((e: NodeJS.ErrnoException) => {
      const why = e.code === "EISDIR" ? "it is a directory" : e.code === "ENOENT" ? "its directory does not exist" : (e.code ?? e.message);
      fail("write_failed", [], `Cannot write the SVG to ${JSON.stringify(svg)}: ${why}`);
    });
  }
  if (values.json) io.out(JSON.stringify(sdk.manifest(a), null, 2));
  else {
    io.out(layoutTable(l, register).trimEnd());
    if (typeof values.svg === "string") io.out(`wrote ${values.svg}`);
  }
  return 0;
}
