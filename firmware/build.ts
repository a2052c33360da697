/**
 * Builds bare-metal firmware images that run the generated per-CPU code on
 * every CPU of a QEMU machine, and boots them: `buildFirmware` writes the
 * generated `percpu.S`/`.h`/`.ld` (kernel mode), the platform's boot stub and
 * drivers, the test program and a linker script, compiles them with clang-19
 * and links with ld.lld-19; `bootFirmware` runs `qemu-system-<arch>` with a
 * bounded timeout and parses the serial output into a per-CPU result.
 *
 * The output directory holds every source (`percpu.*`, `boot.S`,
 * `platform.c`, `fw.h`, `main.c`, `checks*.c`, `link.ld`), the image
 * `fw.elf` and `firmware.json` (arch, CPUs, features, expected check count,
 * compile units), so an image can be booted by path and rebuilt with
 * {@link linkFirmware} after editing a source.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { backendFor } from "../arch/index.ts";
import { fail, PercpuError } from "../sdk/errors.ts";
import { checkOutputDirectory, writeGeneratedFiles } from "../sdk/fs.ts";
import { generateFiles } from "../emit/index.ts";
import type { GenerateOptions } from "../sdk/config.ts";
import { generatorInput } from "../sdk/plan.ts";
import type { Layout } from "../sdk/layout.ts";
import { parseOptions } from "../sdk/options.ts";
import type { Target } from "../sdk/targets.ts";
import { FW_STACK_SIZE } from "./platform.ts";
import { platformFor } from "./platforms.ts";
import { firmwareProgram, type ProgramOptions } from "./program.ts";
import { irqSources } from "./_irq_platforms.ts";

/** Options of {@link buildFirmware}. */
export interface BuildFirmwareOptions {
  readonly arch: Target;
  /** CPUs the image is built for (default 4). */
  readonly cpus?: number;
  /** Generation features (`["preempt", "irq"]`, `{ el2: true }`, ...). */
  readonly features?: GenerateOptions["features"];
  /**
   * Output directory (created if missing): the sources, `fw.elf` and `firmware.json` are written
   * into it once the image is linked, replacing only those files; checked before anything is built.
   */
  readonly out: string;
  /** Test-program options (generic-accessor round, hammer count, barrier spin limit). */
  readonly program?: ProgramOptions;
  /** Bytes of the dynamic per-CPU region (`generate({ dynamic })`); the program then checks the allocator too. */
  readonly dynamic?: number;
  /**
   * The layout whose values the test program expects (default: the layout the
   * accessors are generated from). A layout with other initial values makes
   * the checks fail — how the checker itself is tested.
   */
  readonly expect?: Layout;
}

/** A built image and what booting it must show. */
export interface FirmwareImage {
  readonly arch: Target;
  readonly cpus: number;
  readonly el2: boolean;
  /** Built with the aarch64 `lse` feature: booted on a CPU with ARMv8.1 atomics (`-cpu max`). */
  readonly lse?: boolean;
  /** Path of the linked ELF (`<out>/fw.elf`). */
  readonly image: string;
  /** The output directory. */
  readonly dir: string;
  /** Names of the files written into `dir`. */
  readonly files: readonly string[];
  /** Check lines a complete, passing run prints (all CPUs). */
  readonly expectedChecks: number;
}

/** Options of {@link bootFirmware}. */
export interface BootFirmwareOptions {
  /** Kill QEMU after this long (default {@link defaultBootTimeoutMs} of the CPU count). */
  readonly timeoutMs?: number;
  /** Boot with this many CPUs instead of the image's count (a missing CPU must fail the run). */
  readonly cpus?: number;
  /**
   * Extra QEMU arguments after the platform's (e.g. `["-singlestep"]`: one guest instruction per
   * translation block, so an interrupt can land between any two instructions, as on hardware).
   */
  readonly qemuArgs?: readonly string[];
}

/** One failing check (or a run-level problem with `check` "result", "fatal" or "barrier"). */
export interface FirmwareFailure {
  /** The CPU, or -1 for a run-level problem. */
  readonly cpu: number;
  readonly var: string;
  readonly check: string;
  readonly detail: string;
}

/** The parsed outcome of a boot. */
export interface BootResult {
  readonly arch: Target;
  /** CPUs the image was built for. */
  readonly cpus: number;
  /** True when the exit status, the result line and every check agree on a pass. */
  readonly passed: boolean;
  /** The firmware's exit code (from QEMU's status), or null when QEMU was killed. */
  readonly exitCode: number | null;
  /** QEMU's raw exit status, or null when killed. */
  readonly status: number | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** Serial output lines (`\r` stripped). */
  readonly lines: readonly string[];
  /** `result:` line's verdict and count, or null when missing. */
  readonly result: { readonly pass: boolean; readonly checks: number } | null;
  /** ok / FAIL line counts per CPU. */
  readonly perCpu: ReadonlyMap<number, { ok: number; fail: number }>;
  readonly failures: readonly FirmwareFailure[];
  /** QEMU's stderr. */
  readonly stderr: string;
}

const CLANG = "clang-19";
const LLD = "ld.lld-19";
const METADATA = "firmware.json";

/** A finished process. */
interface Exec {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

function exec(command: string, args: readonly string[], opts: { cwd?: string; timeoutMs: number }): Promise<Exec> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === "ENOENT"
          ? new PercpuError("toolchain_missing", [], `Cannot run ${command}: it is not installed (run scripts/toolchain.sh or .ci/run)`)
          : e,
      );
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ status: timedOut ? null : code, stdout, stderr, timedOut });
    });
  });
}

/**
 * Runs a build tool in `cwd` (killed after `timeoutMs`, default 120 s);
 * throws `build_failed` with its output when it fails.
 *
 * @example
 * ```ts
 * import { execOk } from "./build.ts";
 * await execOk("clang-19", ["--version"], ".");
 * ```
 */
export async function execOk(command: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<void> {
  const r = await exec(command, args, { cwd, timeoutMs });
  if (r.status !== 0) {
    fail("build_failed", [], `Cannot build the firmware: ${command} ${args.join(" ")} failed (${r.timedOut ? "timed out" : `status ${r.status}`}):\n${r.stderr}${r.stdout}`.trimEnd());
  }
}

const buildSchema = z.looseObject({
  out: z.string().min(1),
  dynamic: z.number().int().min(0).optional(),
  program: z.strictObject({
    inline: z.boolean().optional(),
    hammer: z.number().int().min(1).max(1_000_000).optional(),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
    irq: z.strictObject({
      loops: z.number().int().min(1).max(100_000_000).optional(),
      periodUs: z.number().int().min(1).max(1_000_000).optional(),
      minTicks: z.number().int().min(0).optional(),
    }).optional(),
  }).optional(),
});

/**
 * The default QEMU timeout of a boot: 10 s, plus 1.5 s per CPU, plus 0.1 s per
 * CPU squared. The guest CPUs share the host's cores, so a boot costs more
 * than linearly in the count: measured on a 2-vCPU host (QEMU 7.2, TCG), 1–2
 * CPUs boot in 60–100 ms, 8 in 1.4–3.8 s, x86_64 16 in 24 s and 32 in 118 s,
 * riscv64 64 in 87 s.
 *
 * @example
 * ```ts
 * import { defaultBootTimeoutMs } from "./build.ts";
 * defaultBootTimeoutMs(8); // 28400
 * ```
 */
export function defaultBootTimeoutMs(cpus: number): number {
  return 10_000 + 1_500 * cpus + 100 * cpus * cpus;
}

/**
 * Throws `cpus_over_machine_limit` when `cpus` is more than the QEMU machine
 * of `arch` (and its firmware) can run: aarch64 virt 8 (GICv2), riscv virt
 * 512, loongarch64 virt 4, x86_64 q35 255 (xAPIC).
 *
 * @example
 * ```ts
 * import { checkMachineLimit } from "./build.ts";
 * checkMachineLimit("aarch64", 8); // fine
 * try {
 *   checkMachineLimit("aarch64", 9);
 * } catch (e) {
 *   console.log((e as Error).message); // "Cannot boot 9 CPUs on aarch64: QEMU's machine runs at most 8"
 * }
 * ```
 */
export function checkMachineLimit(arch: Target, cpus: number): void {
  const { maxCpus } = platformFor(arch);
  if (cpus > maxCpus) fail("cpus_over_machine_limit", ["cpus"], `Cannot boot ${cpus} CPUs on ${arch}: QEMU's machine runs at most ${maxCpus}`);
}

const bootSchema = z.strictObject({
  timeoutMs: z.number().int().min(1).optional(),
  cpus: z.number().int().min(1).max(4096).optional(),
  qemuArgs: z.array(z.string()).optional(),
});

/**
 * The firmware linker script: boot code first at the load address, then
 * data, the per-CPU stacks (`__fw_stack_top`) and, last, `.percpu` from
 * `INCLUDE percpu.ld` (its segment has VMA 0 and loads at `_percpu_start`).
 *
 * @example
 * ```ts
 * import { firmwareLinkerScript } from "./build.ts";
 * firmwareLinkerScript(0x40100000, 4); // "... . = 0x40100000; ..."
 * ```
 */
export function firmwareLinkerScript(loadAddress: number, cpus: number): string {
  return `/* link.ld: firmware linker script generated by the percpu SDK. Do not edit. */
ENTRY(_start)
SECTIONS {
  . = 0x${loadAddress.toString(16)};
  .text : {
    KEEP(*(.text.boot))
    *(.text .text.*)
  }
  .rodata : { *(.rodata .rodata.*) *(.srodata .srodata.*) }
  .note.Xen : { KEEP(*(.note.Xen)) }
  .data : { *(.data .data.*) *(.sdata .sdata.*) }
  .bss : {
    __bss_start = .;
    *(.bss .bss.*) *(.sbss .sbss.*) *(COMMON)
    __bss_end = .;
  }
  .fw_stack (NOLOAD) : ALIGN(16) {
    __fw_stack_bottom = .;
    . += ${cpus} * ${FW_STACK_SIZE};
    __fw_stack_top = .;
  }
  /* Last: its segment has VMA 0 (offsets) and loads at _percpu_start. */
  INCLUDE percpu.ld
  PROVIDE(FW_STACK_SIZE = ${FW_STACK_SIZE});
  /DISCARD/ : { *(.comment) *(.eh_frame) *(.eh_frame_hdr) *(.note.GNU-stack) }
}
`;
}

/**
 * Generates, compiles and links a firmware image for a layout and writes it
 * (with every source) into `options.out`.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { bootFirmware, buildFirmware } from "./build.ts";
 * const sdk = createPercpu();
 * sdk.define("CPU_ID", u64, 0);
 * const image = await buildFirmware(sdk.layout("x86_64"), { arch: "x86_64", cpus: 4, out: "build/fw-x86_64" });
 * const result = await bootFirmware(image, { timeoutMs: 10_000 });
 * console.log(result.passed); // true
 * ```
 */
export async function buildFirmware(layout: Layout, options: BuildFirmwareOptions): Promise<FirmwareImage> {
  parseOptions(buildSchema, options, "firmware build options");
  await checkOutputDirectory(options.out);
  const generated = generateFiles(layout, {
    arch: options.arch,
    mode: "kernel",
    functions: true,
    ...(options.cpus !== undefined ? { cpus: options.cpus } : {}),
    ...(options.features !== undefined ? { features: options.features } : {}),
    ...(options.dynamic ? { dynamic: options.dynamic } : {}),
  });
  const config = generated.config;
  const arch = config.arch;
  checkMachineLimit(arch, config.cpus);
  const el2 = config.features.el2;
  const platform = platformFor(arch);
  const cfg = { cpus: config.cpus, el2, lse: config.features.lse };
  const program = firmwareProgram(generatorInput(options.expect ?? generated.layout, config), options.program ?? {});
  const sources: Record<string, string> = {
    ...generated.files,
    "boot.S": platform.bootAsm(cfg),
    "platform.c": platform.platformC(cfg),
    ...program.files,
    ...(options.program?.irq ? irqSources(arch) : {}),
    "link.ld": firmwareLinkerScript(platform.loadAddress, config.cpus),
  };
  const work = await mkdtemp(join(tmpdir(), `percpu-fw-${arch}-`));
  try {
    for (const [name, text] of Object.entries(sources)) await writeFile(join(work, name), text);
    const units = [
      "percpu.S", "boot.S", "platform.c", ...(generated.files["percpu_runtime.c"] !== undefined ? ["percpu_runtime.c"] : []),
      ...(options.program?.irq ? ["irq.S", "irq.c"] : []), ...program.sources,
    ];
    await linkFirmware(work, arch, units);
    const elf = await readFile(join(work, "fw.elf"));
    const metadata = { arch, cpus: config.cpus, el2, features: config.features, expectedChecks: program.expectedChecks, units };
    const files: Record<string, string | Uint8Array> = { ...sources, "fw.elf": elf, [METADATA]: JSON.stringify(metadata, null, 2) + "\n" };
    await writeGeneratedFiles(options.out, files);
    const dir = resolve(options.out);
    return { arch, cpus: config.cpus, el2, lse: config.features.lse, image: join(dir, "fw.elf"), dir, files: Object.keys(files), expectedChecks: program.expectedChecks };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * clang-19 flags of every firmware C and assembly unit for an arch: the
 * backend's target flags, the platform's, and freestanding `-O2 -Wall -Werror`.
 *
 * @example
 * ```ts
 * import { firmwareFlags } from "./build.ts";
 * firmwareFlags("aarch64"); // ["--target=aarch64-unknown-none-elf", ..., "-mstrict-align", ..., "-O2", ...]
 * ```
 */
export function firmwareFlags(arch: Target): string[] {
  return [
    ...backendFor(arch).clangFlags,
    ...platformFor(arch).cflags,
    "-ffreestanding", "-nostdlib", "-fno-builtin", "-O2", "-fno-pic", "-fno-stack-protector", "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables", "-std=gnu11", "-Wall", "-Werror",
  ];
}

/**
 * Compiles `units` (C and `.S` files in `dir`) with {@link firmwareFlags} and
 * links them with `dir/link.ld` into `dir/fw.elf`; returns its path. An image
 * directory written by {@link buildFirmware} lists its units in `firmware.json`,
 * so edited sources can be rebuilt in place.
 */
export async function linkFirmware(dir: string, arch: Target, units: readonly string[]): Promise<string> {
  const flags = firmwareFlags(arch);
  await Promise.all(units.map((u) => execOk(CLANG, [...flags, "-c", u, "-o", `${u}.o`], dir)));
  await execOk(LLD, ["-nostdlib", "-static", "-T", "link.ld", "-L", ".", "-o", "fw.elf", ...units.map((u) => `${u}.o`)], dir);
  return join(dir, "fw.elf");
}

const LINE = /^cpu=(\d+) var=(\S+) check=(\S+) (ok|FAIL)(?: (.*))?$/;
const RESULT = /^result: (pass|fail) cpus=(\d+) checks=(\d+)/;

/**
 * Parses serial output and the exit status into a {@link BootResult} (pure).
 *
 * @example
 * ```ts
 * import { parseBoot } from "./build.ts";
 * const r = parseBoot({ arch: "riscv64", cpus: 1, expectedChecks: 1 }, {
 *   stdout: "cpu=0 var=HITS check=init ok\nresult: pass cpus=1 checks=1\n", stderr: "", status: 0, timedOut: false, durationMs: 1,
 * });
 * console.log(r.passed); // true
 * ```
 */
export function parseBoot(
  image: Pick<FirmwareImage, "arch" | "cpus" | "expectedChecks">,
  run: { stdout: string; stderr: string; status: number | null; timedOut: boolean; durationMs: number; bootedCpus?: number },
): BootResult {
  const lines = run.stdout.replace(/\r/g, "").split("\n").filter((l) => l.length > 0);
  const perCpu = new Map<number, { ok: number; fail: number }>();
  const failures: FirmwareFailure[] = [];
  let result: { pass: boolean; checks: number } | null = null;
  for (const l of lines) {
    const m = LINE.exec(l);
    if (m) {
      const cpu = Number(m[1]);
      const counts = perCpu.get(cpu) ?? { ok: 0, fail: 0 };
      perCpu.set(cpu, counts);
      if (m[4] === "ok") counts.ok++;
      else {
        counts.fail++;
        failures.push({ cpu, var: m[2]!, check: m[3]!, detail: m[5] ?? "" });
      }
      continue;
    }
    const r = RESULT.exec(l);
    if (r) {
      result = { pass: r[1] === "pass", checks: Number(r[3]) };
      continue;
    }
    if (l.startsWith("fatal:")) failures.push({ cpu: -1, var: "-", check: "fatal", detail: l.slice(6).trim() });
  }
  const platform = platformFor(image.arch);
  const exitCode = run.status === null ? null : platform.exitCode(run.status);
  const problem = (detail: string): void => {
    failures.push({ cpu: -1, var: "-", check: "result", detail });
  };
  if (run.timedOut) problem(`QEMU was killed after ${Math.round(run.durationMs)} ms without exiting: raise the timeout (--timeout-ms, or the timeoutMs option)`);
  if (result === null) problem("no result line");
  const qemuSaid = run.stderr.trim();
  if (result === null && qemuSaid) problem(`QEMU: ${qemuSaid.split("\n").slice(0, 3).join(" / ")}`);
  if (exitCode !== null && result !== null && (exitCode === 0) !== result.pass) {
    problem(`exit status ${run.status} (code ${exitCode}) disagrees with "result: ${result.pass ? "pass" : "fail"}"`);
  }
  if (exitCode !== null && exitCode !== 0 && result === null) problem(`exit status ${run.status} (code ${exitCode})`);
  const okLines = [...perCpu.values()].reduce((n, c) => n + c.ok, 0);
  const failLines = [...perCpu.values()].reduce((n, c) => n + c.fail, 0);
  if (result?.pass) {
    if (result.checks !== image.expectedChecks) problem(`the result line counts ${result.checks} checks, the image has ${image.expectedChecks}`);
    if (okLines !== image.expectedChecks) problem(`${okLines} ok lines, the image has ${image.expectedChecks} checks`);
    for (let c = 0; c < image.cpus; c++) if (!perCpu.get(c)?.ok) problem(`CPU ${c} reported no check`);
  }
  const passed = !run.timedOut && exitCode === 0 && result !== null && result.pass && failures.length === 0 && failLines === 0;
  return {
    arch: image.arch,
    cpus: image.cpus,
    passed,
    exitCode,
    status: run.status,
    timedOut: run.timedOut,
    durationMs: run.durationMs,
    lines,
    result,
    perCpu,
    failures,
    stderr: run.stderr,
  };
}

async function loadImage(image: FirmwareImage | string): Promise<FirmwareImage> {
  if (typeof image !== "string") return image;
  const path = resolve(image);
  const dir = dirname(path);
  let meta: { arch: Target; cpus: number; el2: boolean; features?: { lse?: boolean }; expectedChecks: number };
  try {
    meta = JSON.parse(await readFile(join(dir, METADATA), "utf8"));
  } catch (e) {
    fail("boot_failed", [], `Cannot boot ${JSON.stringify(image)}: ${METADATA} next to it is missing or invalid (${e instanceof Error ? e.message : String(e)})`);
  }
  return { arch: meta.arch, cpus: meta.cpus, el2: meta.el2, lse: meta.features?.lse === true, image: path, dir, files: [], expectedChecks: meta.expectedChecks };
}

/**
 * Boots an image under QEMU (stdin closed, killed after `timeoutMs`) and
 * parses its serial output. `passed` needs the exit status, the final result
 * line and every check line to agree.
 *
 * @example
 * ```ts
 * import { bootFirmware } from "./build.ts";
 * const r = await bootFirmware("build/fw-x86_64/fw.elf", { timeoutMs: 10_000 });
 * for (const f of r.failures) console.log(`cpu=${f.cpu} var=${f.var} check=${f.check} ${f.detail}`);
 * ```
 */
export async function bootFirmware(image: FirmwareImage | string, options: BootFirmwareOptions = {}): Promise<BootResult> {
  parseOptions(bootSchema, options, "firmware boot options");
  const img = await loadImage(image);
  const platform = platformFor(img.arch);
  const cpus = options.cpus ?? img.cpus;
  checkMachineLimit(img.arch, cpus);
  const { command, args } = platform.qemu(img.image, { cpus, el2: img.el2, lse: img.lse === true });
  const started = performance.now();
  const r = await exec(command, [...args, ...(options.qemuArgs ?? [])], { timeoutMs: options.timeoutMs ?? defaultBootTimeoutMs(cpus) });
  return parseBoot(img, { ...r, durationMs: performance.now() - started, bootedCpus: cpus });
}

/**
 * A short multi-line description of a boot for error messages: failures
 * first, then the output's tail.
 *
 * @example
 * ```ts
 * import { bootFirmware, describeBoot } from "./build.ts";
 * const r = await bootFirmware("build/fw-aarch64/fw.elf");
 * if (!r.passed) throw new Error(describeBoot(r));
 * ```
 */
export function describeBoot(result: BootResult): string {
  const head = `${result.arch}: ${result.passed ? "passed" : "failed"}, status ${result.status}, exit code ${result.exitCode}, ${Math.round(result.durationMs)} ms`;
  const fails = result.failures.slice(0, 10).map((f) => `  cpu=${f.cpu} var=${f.var} check=${f.check} ${f.detail}`);
  const tail = result.lines.slice(-8).map((l) => `  | ${l}`);
  return [head, ...fails, ...tail, ...(result.stderr ? [`  stderr: ${result.stderr.trim().slice(0, 500)}`] : [])].join("\n");
}
