/**
 * Test helpers driving the real toolchain (clang-19, ld.lld-19, llvm-19):
 * assemble and link generated code, read ELF symbols back, disassemble.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import type { Generated } from "../emit/index.ts";
import { cPrototype, leafSignature } from "../arch/c_types.ts";
import { leafOps, varFunction } from "../sdk/symbols.ts";
import { generatorInput } from "../sdk/plan.ts";

/** Tool names. */
export const CLANG = "clang-19";
export const LLD = "ld.lld-19";
export const OBJDUMP = "llvm-objdump-19";
export const READELF = "llvm-readelf-19";
export const NM = "llvm-nm-19";

/** Result of a finished process. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion (never throws on a non-zero exit; kills it after `timeoutMs`, default 60 s).
 * `env` entries are added to (or, when undefined, removed from) the inherited environment.
 */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string; timeoutMs?: number; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = opts.env === undefined ? undefined : Object.fromEntries(
      Object.entries({ ...process.env, ...opts.env }).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const child = spawn(cmd, args, { cwd: opts.cwd, ...(env ? { env } : {}), stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Runs a command and throws with its output when it fails. */
export async function runOk(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A fresh directory under the OS temp dir (see `_tmp.ts`; prefer `withTempDir`, which also removes it). */
export { tempDir } from "./_tmp.ts";

/** Link address of test kernels per arch (matches where firmware links). */
const LINK_BASE: Record<string, string> = {
  x86_64: "0x100000",
  aarch64: "0x40100000",
  riscv64: "0x80000000",
  riscv32: "0x80000000",
  loongarch64: "0x1000000",
};

/**
 * Writes the generated files into `dir`, assembles `percpu.S` for the arch and
 * links it with a minimal script that includes `percpu.ld` (or `ldScript`,
 * which then replaces the generated fragment). The link result is returned,
 * not thrown, so tests can assert failing links.
 */
export async function linkKernel(gen: Generated, dir: string, opts: { ldScript?: string } = {}): Promise<RunResult & { elf: string }> {
  await gen.write(dir);
  const arch = gen.config.arch;
  const flags = backendFor(arch).clangFlags;
  if (opts.ldScript !== undefined) await writeFile(join(dir, "percpu.ld"), opts.ldScript);
  await writeFile(
    join(dir, "kernel.ld"),
    [
      "ENTRY(percpu_init)",
      "SECTIONS {",
      `  . = ${LINK_BASE[arch]};`,
      "  .text : { *(.text .text.*) }",
      "  .rodata : { *(.rodata .rodata.*) }",
      "  .data : { *(.data .data.*) }",
      "  .bss : { *(.bss .bss.*) }",
      "  INCLUDE percpu.ld",
      "}",
      "",
    ].join("\n"),
  );
  await runOk(CLANG, [...flags, "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
  const elf = join(dir, "kernel.elf");
  const r = await run(LLD, ["-T", "kernel.ld", "--unresolved-symbols=ignore-all", "-o", "kernel.elf", "percpu.o"], { cwd: dir });
  return { ...r, elf };
}

/** Symbol name → value, from `llvm-nm-19`. */
export async function elfSymbols(elf: string): Promise<Map<string, bigint>> {
  const out = await runOk(NM, ["--defined-only", elf]);
  const map = new Map<string, bigint>();
  for (const line of out.split("\n")) {
    const m = /^([0-9a-fA-F]+) \S (\S+)$/.exec(line.trim());
    if (m) map.set(m[2]!, BigInt(`0x${m[1]}`));
  }
  return map;
}

/** Undefined symbols of an object or ELF (e.g. the guard hooks it calls). */
export async function undefinedSymbols(file: string): Promise<Set<string>> {
  const out = await runOk(NM, ["--undefined-only", file]);
  return new Set(out.split("\n").map((l) => l.trim().split(/\s+/).pop()!).filter(Boolean));
}

/** Section name → size, from `llvm-readelf-19 -S`. */
export async function sectionSizes(elf: string): Promise<Map<string, number>> {
  const out = await runOk(READELF, ["-S", "-W", elf]);
  const map = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/.exec(line);
    if (m) map.set(m[1]!, parseInt(m[2]!, 16));
  }
  return map;
}

/** Function name → its instructions (mnemonic and operands), from `llvm-objdump-19 -d`. */
export async function disassemble(elf: string, extraArgs: readonly string[] = []): Promise<Map<string, string[]>> {
  const out = await runOk(OBJDUMP, ["-d", "--no-show-raw-insn", "--no-leading-addr", ...extraArgs, elf], { timeoutMs: 120_000 });
  const map = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of out.split("\n")) {
    const head = /^<([^>]+)>:$/.exec(raw.trim());
    if (head) {
      current = [];
      map.set(head[1]!, current);
      continue;
    }
    // Comments: "// ..." (aarch64) and "# 0x..." (x86); aarch64 immediates ("#0x8") have no space after '#'.
    const line = raw.replace(/\t/g, " ").replace(/\s+(\/\/|# ).*$/, "").replace(/\s*<[^>]*>$/, "").trim();
    if (current && line && !line.startsWith("...") && !line.startsWith("Disassembly")) current.push(line.replace(/\s+/g, " "));
  }
  for (const insns of map.values()) {
    // Alignment padding after the return is not part of the function (the linker pads between
    // function sections with the arch's trap: int3, udf, unimp, break 0).
    while (insns.length > 0 && /^(nop\w*|int3|\.word|\.long|udf|c\.unimp|unimp|break 0)\b/.test(insns[insns.length - 1]!)) insns.pop();
  }
  return map;
}

const RETURNS = /^(ret|retq|ret\s+x30|jr\s+ra|jirl\s+\$zero,\s*\$ra,\s*0|jirl\s+\$r0,\s*\$r1,\s*0|c\.jr\s+ra)$/;

/** Instruction count of a function body, excluding its final return. */
export function bodyLength(insns: readonly string[]): number {
  const last = insns[insns.length - 1];
  return last !== undefined && RETURNS.test(last) ? insns.length - 1 : insns.length;
}

/**
 * Compiles a C file that includes `percpu.h` with `PERCPU_INLINE` and calls
 * every inline accessor, for the generation's arch (kernel targets; host `cc`
 * for user mode), with `-Wall -Werror`.
 */
export async function compileInlineHeader(gen: Generated, dir: string, opts: { extraC?: string } = {}): Promise<RunResult> {
  await gen.write(dir);
  const input = generatorInput(gen.layout, gen.config);
  const calls: string[] = [];
  let n = 0;
  for (const v of input.vars) {
    calls.push(`  sink((uintptr_t)${varFunction(v.layout.name, "current_ptr")}());`);
    for (const leaf of v.leaves) {
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        // A pointer parameter (try_cmpxchg's `T *expected`) points into a scratch buffer.
        const args = sig.params.map((p) =>
          p.name === "cpu" ? "1" : /^i\d$/.test(p.name) ? "2" : p.type.endsWith(" *") ? `(${p.type})(void *)percpu_test_scratch` : `(${p.type})${(n++ % 5) + 1}`
        );
        const call = `${sig.name}(${args.join(", ")})`;
        calls.push(sig.ret === "void" ? `  ${call};` : `  sink((uintptr_t)${call});`);
      }
    }
  }
  const src = [
    "#define PERCPU_INLINE",
    '#include "percpu.h"',
    "volatile uintptr_t percpu_test_sink;",
    "static uint64_t percpu_test_scratch[2];",
    "static void sink(uintptr_t v) { percpu_test_sink = v; }",
    "void percpu_test_all(void);",
    "void percpu_test_all(void) {",
    ...calls,
    "}",
    opts.extraC ?? "",
    "",
  ].join("\n");
  await writeFile(join(dir, "inline_test.c"), src);
  const common = ["-ffreestanding", "-Wall", "-Werror", "-O2", "-c", "inline_test.c", "-o", "inline_test.o"];
  return gen.config.mode === "user"
    ? run("cc", common, { cwd: dir })
    : run(CLANG, [...backendFor(gen.config.arch).clangFlags, ...common], { cwd: dir });
}

/** The C prototype text of every leaf function of a generation (for shims and checks). */
export function leafPrototypes(gen: Generated): string[] {
  const input = generatorInput(gen.layout, gen.config);
  return input.vars.flatMap((v) => v.leaves.flatMap((leaf) => leafOps(leaf.scalar).map((op) => cPrototype(leafSignature(leaf, op)))));
}
