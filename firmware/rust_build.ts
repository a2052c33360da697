/**
 * Builds the Rust firmware: a `#![no_std]` crate (`fw.rs`, see
 * `rust_program.ts`) using the generated `percpu.rs`, compiled with Debian's
 * rustc-web (`/usr/bin/rustc`) into a static library and linked with ld.lld-19
 * against the platform's boot stub and drivers (`boot.S`, `platform.c`) and
 * the kernel-mode `percpu.S`, all built with clang-19 as the C firmware is.
 * The image boots with `bootFirmware` (build.ts) like the C one.
 *
 * Bare-metal targets have no prebuilt `core`: {@link rustSysroot} builds
 * `core` and `compiler_builtins` (with its `mem` functions) from
 * rust-web-src (`/usr/src/rustc-<version>/library`) once per compiler
 * version and target and caches the sysroot outside the repository
 * (`$XDG_CACHE_HOME/percpu-sdk/rust-core/<version>/<target>`, else
 * `~/.cache/...`), written into a temporary directory and renamed into
 * place, so concurrent builds never see half a sysroot.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { match } from "ts-pattern";
import { generateFiles } from "../emit/index.ts";
import type { GenerateOptions } from "../sdk/config.ts";
import { fail, PercpuError } from "../sdk/errors.ts";
import { checkOutputDirectory, writeGeneratedFiles } from "../sdk/fs.ts";
import { firstU128Path, type Layout } from "../sdk/layout.ts";
import { generatorInput } from "../sdk/plan.ts";
import type { Target } from "../sdk/targets.ts";
import { checkMachineLimit, execOk, type FirmwareImage, firmwareFlags, firmwareLinkerScript } from "./build.ts";
import { platformFor } from "./platforms.ts";
import { type RustProgramOptions, rustFirmwareProgram } from "./rust_program.ts";

/** The rustc that builds bare-metal Rust (Debian's rustc-web; `PERCPU_RUSTC` overrides). */
export function bareMetalRustc(): string {
  return process.env.PERCPU_RUSTC ?? "/usr/bin/rustc";
}

/**
 * The Rust target of an arch's firmware (riscv64: `imac`, lp64, the C
 * firmware's ABI; loongarch64: soft-float lp64s like the C firmware, since
 * ld.lld refuses to link objects of different float ABIs); riscv32 has none.
 *
 * @example
 * ```ts
 * import { rustTarget } from "./rust_build.ts";
 * rustTarget("riscv64"); // "riscv64imac-unknown-none-elf"
 * ```
 */
export function rustTarget(arch: Target): string {
  return match(arch)
    .returnType<string>()
    .with("x86_64", () => "x86_64-unknown-none")
    .with("aarch64", () => "aarch64-unknown-none")
    .with("riscv64", () => "riscv64imac-unknown-none-elf")
    .with("loongarch64", () => "loongarch64-unknown-none-softfloat")
    .with("riscv32", () => fail("options_invalid", ["arch"], "Cannot build Rust firmware for riscv32: percpu.rs supports the 64-bit targets"))
    .exhaustive();
}

/** Runs a command and returns its stdout (build_failed when it fails). */
function output(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(
          (error as NodeJS.ErrnoException).code === "ENOENT"
            ? new Error(`Cannot run ${command}: it is not installed (run scripts/toolchain.sh)`)
            : new Error(`${command} ${args.join(" ")} failed: ${stderr || error.message}`),
        );
      } else resolvePromise(stdout);
    });
  });
}

/** The compiler's release and commit (`1.96.0-ac68faa20c58`), the key of the cached sysroots. */
async function rustcVersion(rustc: string): Promise<{ readonly release: string; readonly key: string }> {
  const text = await output(rustc, ["-vV"]);
  const release = /^release: (\S+)$/m.exec(text)?.[1];
  const commit = /^commit-hash: (\S+)$/m.exec(text)?.[1] ?? "unknown";
  if (release === undefined) throw new Error(`Cannot read the version of ${rustc}: ${text}`);
  return { release, key: `${release}-${commit.slice(0, 12)}` };
}

/** The cache root: `$XDG_CACHE_HOME/percpu-sdk`, else `~/.cache/percpu-sdk`. */
function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "percpu-sdk");
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The flags every bare-metal crate of the firmware is compiled with (core included). */
/**
 * The rustc flags a generation's features need: `lse` (aarch64 ARMv8.1 atomics) compiles the program with
 * `-C target-feature=+lse`, so the module's `core::sync::atomic` RMW ops are the single LSE instructions of
 * percpu.h's lse forms (`stadd`, `ldadd`, `swp`, `cas`, ...); percpu.rs refuses to build without it.
 *
 * @example
 * ```ts
 * import { rustFeatureFlags } from "./rust_build.ts";
 * rustFeatureFlags(true); // ["-C", "target-feature=+lse"]
 * ```
 */
export function rustFeatureFlags(lse: boolean): string[] {
  return lse ? ["-C", "target-feature=+lse"] : [];
}

const COMMON_FLAGS = ["-C", "opt-level=2", "-C", "panic=abort", "-C", "debuginfo=0", "-C", "relocation-model=static"];

/**
 * A sysroot with `core` and `compiler_builtins` for `target`, built from
 * the compiler's own library sources on first use (25–60 s per target on a
 * 2-core machine) and cached by compiler version and target; returns its path
 * (pass it as `--sysroot`).
 *
 * @example
 * ```ts
 * import { rustSysroot } from "./rust_build.ts";
 * const sysroot = await rustSysroot("aarch64-unknown-none");
 * // sysroot/lib/rustlib/aarch64-unknown-none/lib/libcore.rlib exists
 * ```
 */
export function rustSysroot(target: string, rustc: string = bareMetalRustc()): Promise<string> {
  // One build per target and compiler in this process (concurrent builds of one image set share it).
  const id = `${rustc}\u0000${target}`;
  let pending = sysroots.get(id);
  if (pending === undefined) {
    pending = buildSysroot(target, rustc);
    sysroots.set(id, pending);
    pending.catch(() => sysroots.delete(id));
  }
  return pending;
}

const sysroots = new Map<string, Promise<string>>();

async function buildSysroot(target: string, rustc: string): Promise<string> {
  const { release, key } = await rustcVersion(rustc);
  const final = join(cacheRoot(), "rust-core", key, target);
  if (await exists(join(final, "lib", "rustlib", target, "lib", "libcompiler_builtins.rlib"))) return final;
  const library = process.env.PERCPU_RUST_LIBRARY ?? `/usr/src/rustc-${release}/library`;
  if (!(await exists(join(library, "core", "src", "lib.rs")))) {
    fail("toolchain_missing", [], `Cannot build core for ${target}: ${library}/core is missing (install rust-web-src: scripts/toolchain.sh)`);
  }
  await mkdir(join(cacheRoot(), "rust-core", key), { recursive: true });
  const tmp = await mkdtemp(join(cacheRoot(), "rust-core", key, `.${target}-`));
  try {
    const lib = join(tmp, "lib", "rustlib", target, "lib");
    await mkdir(lib, { recursive: true });
    const base = ["--edition", "2024", "--crate-type", "rlib", "--target", target, ...COMMON_FLAGS, "-C", "embed-bitcode=no", "-Z", "force-unstable-if-unmarked", "--cap-lints", "allow"];
    const env = { RUSTC_BOOTSTRAP: "1" };
    await runWithEnv(rustc, [...base, "--crate-name", "core", join(library, "core", "src", "lib.rs"), "-o", join(lib, "libcore.rlib")], tmp, env);
    // compiler_builtins' build script would set these; `mem` gives the freestanding memcpy/memset/... (weak symbols).
    const cfgs = ['feature="compiler-builtins"', 'feature="mem"', "intrinsics_enabled", "arch_enabled", "optimizations_enabled", 'feature="unstable-intrinsics"'];
    await runWithEnv(
        rustc,
        [
          ...base,
          "--sysroot",
          tmp,
          "-C",
          "codegen-units=1",
          ...cfgs.flatMap((c) => ["--cfg", c]),
          "--crate-name",
          "compiler_builtins",
          join(library, "compiler-builtins", "compiler-builtins", "src", "lib.rs"),
          "-o",
          join(lib, "libcompiler_builtins.rlib"),
        ],
        tmp,
        { ...env, CFG_CARGO_FEATURES: '["compiler-builtins", "mem"]', CFG_OPT_LEVEL: "2", CFG_TARGET_FEATURES: "[]" },
    );
    try {
      await rename(tmp, final);
    } catch (e) {
      // Another process renamed its complete sysroot into place first: use that one.
      if (!(await exists(join(final, "lib", "rustlib", target, "lib", "libcompiler_builtins.rlib")))) throw e;
    }
    return final;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs a build tool with extra environment variables (never the process's own environment); build_failed when it fails. */
function runWithEnv(command: string, args: readonly string[], cwd: string, env: Readonly<Record<string, string>>): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, timeout: 600_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new PercpuError("build_failed", [], `Cannot build the Rust sysroot: ${command} ${args.join(" ")} failed:\n${stderr}${stdout}`.trimEnd()));
      } else resolvePromise();
    });
  });
}

/** Options of {@link buildRustFirmware}. */
export interface BuildRustFirmwareOptions {
  readonly arch: Target;
  /** CPUs the image is built for (default 4). */
  readonly cpus?: number;
  /** Generation features (`["preempt"]`, `{ el2: true }`, ...); not `naive`. */
  readonly features?: GenerateOptions["features"];
  /** Output directory: the sources, `fw.elf` and `firmware.json` are written into it. */
  readonly out: string;
  /** Test-program options. */
  readonly program?: RustProgramOptions;
  /**
   * The layout whose values the program expects (default: the one the module is
   * generated from); other initial values make the checks fail, which is how the
   * checker itself is tested.
   */
  readonly expect?: Layout;
}

/**
 * Generates `percpu.rs`/`percpu.S` (kernel mode) and the Rust test program,
 * compiles and links them with the platform's stub and drivers into
 * `<out>/fw.elf`; the image boots with `bootFirmware`.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { bootFirmware } from "./build.ts";
 * import { buildRustFirmware } from "./rust_build.ts";
 * const sdk = createPercpu();
 * sdk.define("CPU_ID", u64, 0);
 * const image = await buildRustFirmware(sdk.layout("riscv64"), { arch: "riscv64", out: "build/rust-fw-riscv64" });
 * console.log((await bootFirmware(image)).passed); // true
 * ```
 */
export async function buildRustFirmware(layout: Layout, options: BuildRustFirmwareOptions): Promise<FirmwareImage> {
  await checkOutputDirectory(options.out);
  const target = rustTarget(options.arch);
  const generated = generateFiles(layout, {
    arch: options.arch,
    mode: "kernel",
    rust: true,
    // percpu.h has u128 leaves as percpu.S's per-variable functions only: generation refuses them without (sdk/plan.ts).
    ...(layout.vars.some((v) => firstU128Path(v.type) !== null) ? { functions: true } : {}),
    ...(options.cpus !== undefined ? { cpus: options.cpus } : {}),
    ...(options.features !== undefined ? { features: options.features } : {}),
  });
  const config = generated.config;
  if (config.features.naive) fail("options_invalid", ["features", "naive"], "Cannot build Rust firmware with naive: it runs on every CPU");
  checkMachineLimit(config.arch, config.cpus);
  const platform = platformFor(config.arch);
  const cfg = { cpus: config.cpus, el2: config.features.el2, lse: config.features.lse };
  const program = rustFirmwareProgram(generatorInput(options.expect ?? layout, config), options.program ?? {});
  const sources: Record<string, string> = {
    "percpu.S": generated.files["percpu.S"]!,
    "percpu.ld": generated.files["percpu.ld"]!,
    "percpu.rs": generated.files["percpu.rs"]!,
    "fw.rs": program.source,
    "boot.S": platform.bootAsm(cfg),
    "platform.c": platform.platformC(cfg),
    "link.ld": firmwareLinkerScript(platform.loadAddress, config.cpus),
  };
  const sysroot = await rustSysroot(target);
  const work = await mkdtemp(join(tmpdir(), `percpu-rustfw-${config.arch}-`));
  try {
    for (const [name, text] of Object.entries(sources)) await writeFile(join(work, name), text);
    const units = ["percpu.S", "boot.S", "platform.c"];
    const flags = firmwareFlags(config.arch);
    const rustc = bareMetalRustc();
    await Promise.all([
      ...units.map((u) => execOk("clang-19", [...flags, "-c", u, "-o", `${u}.o`], work)),
      execOk(rustc, ["--edition", "2024", "--crate-type", "staticlib", "--target", target, "--sysroot", sysroot, ...COMMON_FLAGS, "-D", "warnings", ...rustFeatureFlags(config.features.lse), "fw.rs", "-o", "libfw.a"], work, 300_000),
    ]);
    await execOk("ld.lld-19", ["-nostdlib", "-static", "--gc-sections", "-T", "link.ld", "-L", ".", "-o", "fw.elf", ...units.map((u) => `${u}.o`), "libfw.a"], work);
    const elf = await readFile(join(work, "fw.elf"));
    const metadata = { arch: config.arch, cpus: config.cpus, el2: cfg.el2, features: config.features, expectedChecks: program.expectedChecks, rust: target };
    const files: Record<string, string | Uint8Array> = { ...sources, "fw.elf": elf, "firmware.json": JSON.stringify(metadata, null, 2) + "\n" };
    await writeGeneratedFiles(options.out, files);
    const dir = resolve(options.out);
    return { arch: config.arch, cpus: config.cpus, el2: cfg.el2, lse: cfg.lse, image: join(dir, "fw.elf"), dir, files: Object.keys(files), expectedChecks: program.expectedChecks };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
