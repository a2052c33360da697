/**
 * The Rust output on bare metal (issue 13, kernel part): a `#![no_std]`
 * Rust program using the generated kernel-mode `percpu.rs`, linked with the
 * platform's boot stub and the generated `percpu.S`, boots under QEMU on 4
 * CPUs of x86_64, aarch64 (EL1 and EL2), riscv64 and loongarch64 and passes
 * every check of every accessor on every CPU (expected values from the op
 * catalog's models; aarch64 with `lse` too, on QEMU `-cpu max`); guard
 * hooks written in Rust count the calls per op and leaf, so the runs prove
 * which ops take the guard (the this_cpu ops and the counter ops of ordinary
 * variables do, a `counter: true` variable's counter ops do not). A wrong expectation and a missing
 * CPU fail the run. The optimised accessors are measured in the compiled
 * code: the shortest forms percpu.h uses on each arch. The emitter's
 * per-arch choices are unit-tested on every runtime.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { aligned, array, bool, createPercpu, f32, f64, i16, i32, i64, i8, isize, type PercpuSdk, struct, u128, u16, u32, u64, u8, usize } from "../mod.ts";
import { emitRust } from "../emit/percpu_rs.ts";
import { generateFiles } from "../emit/index.ts";
import { type BootResult, bootFirmware, describeBoot } from "../firmware/build.ts";
import { bareMetalRustc, buildRustFirmware, rustFeatureFlags, rustSysroot, rustTarget } from "../firmware/rust_build.ts";
import { resolveConfig } from "../sdk/config.ts";
import { LEAF_OP_SPECS } from "../sdk/ops.ts";
import { generatorInput } from "../sdk/plan.ts";
import { leafOps } from "../sdk/symbols.ts";
import type { Target } from "../sdk/targets.ts";
import { test } from "./_harness.ts";
import { disassemble, OBJDUMP, run, runOk } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

/**
 * Every scalar type, a struct of narrow fields, short (expanded) and long
 * (indexed) arrays, an aligned struct, `atomic: true` variables, u128 leaves
 * at every position (a scalar, a field, expanded elements; an indexed array
 * beyond 64 KiB), and, behind a 70 000-byte buffer, a struct of every type
 * beyond 64 KiB, so the far forms (aarch64 `add lsl #12`, riscv `lui; add
 * gp`, loongarch `ldx`) run too.
 */
function firmwareSdk(): PercpuSdk {
  const sdk = createPercpu();
  sdk.define("CPU_ID", usize, 0);
  sdk.define("FLAGS", struct({ on: bool, level: i8, mode: u8, temp: i16, port: u16 }), { on: true, level: -7, mode: 200, temp: -1234, port: 8080 });
  sdk.define("STATS", struct({ irqs: u64, ticks: u32, delta: i32, drift: i64, off: isize }), { irqs: 5n, ticks: 3, delta: -40000, drift: -(2n ** 40n), off: -1n });
  sdk.define("RATE", f32, -2.5);
  sdk.define("LOAD", f64, 0.1);
  sdk.define("HIST", array(u32, 4), [1, 2, 3, 0xffffffff]);
  sdk.define("RING", array(i64, 40), Array.from({ length: 40 }, (_, i) => BigInt(i * i) - 100n));
  sdk.define("HOT", aligned(struct({ hits: u64, misses: u32 }), 64), { hits: 9n, misses: 1 });
  sdk.define("ATOM", u64, 0, { atomic: true });
  sdk.define("ATOM32", i32, -7, { atomic: true });
  // Declared statistics counters: their counter ops stay single unguarded atomics on aarch64/riscv/loongarch
  // (riscv 8/16-bit excepted: no AMO there); this_cpu ops on them are guarded all the same.
  sdk.define("EVENTS", u64, 3, { counter: true });
  sdk.define("CSTAT", struct({ n32: i32, n16: u16 }), { n32: -5, n16: 65530 }, { counter: true });
  sdk.define("U_LONE", u128, 7n);
  sdk.define("U_SLOT", struct({ seq: u64, pair: u128 }), { seq: 1n, pair: (1n << 100n) + 3n });
  sdk.define("U_PAIRS", array(u128, 3), [1n, 2n, (1n << 128n) - 1n]);
  sdk.define("BUF", array(u8, 70_000), Array.from({ length: 70_000 }, (_, i) => (i % 4099 === 0 ? (i >> 4) & 0xff : 0)));
  sdk.define(
    "TAIL",
    struct({ a: u64, b: f64, c: i16, d: bool, e: f32, f: i8, g: u16, h: i32, i: u32, j: i64 }),
    { a: 0xdead_beef_cafen, b: -3.75, c: -300, d: true, e: 0.5, f: -128, g: 65535, h: -2, i: 7, j: -(2n ** 62n) },
  );
  sdk.define("U_RING", array(u128, 20), Array.from({ length: 20 }, (_, i) => BigInt(i) << 70n));
  return sdk;
}

/** The u128 leaves of {@link firmwareSdk} (their check lines name the leaf as C does). */
const U128_LEAVES = ["U_LONE", "U_SLOT__pair", "U_PAIRS__0", "U_PAIRS__1", "U_PAIRS__2", "U_RING"];

/** The boots: every arch, aarch64 at EL1 and EL2, with and without the guard features. */
const CONFIGS = [
  { arch: "x86_64", features: ["preempt"] },
  { arch: "aarch64", features: ["preempt", "irq"] },
  { arch: "aarch64", features: ["el2"] },
  { arch: "riscv64", features: ["preempt"] },
  { arch: "loongarch64", features: [] },
  { arch: "loongarch64", features: ["preempt"] },
  // ARMv8.1 atomics (rustc -C target-feature=+lse), booted on QEMU -cpu max.
  { arch: "aarch64", features: ["lse", "preempt"] },
] as const satisfies readonly { arch: Target; features: readonly ("preempt" | "irq" | "el2" | "lse")[] }[];

const CPUS = 4;
const BOOT_TIMEOUT_MS = 60_000;

/** The QEMU and rustc parts cannot differ by JS runtime: once per `npm test`. */
const ONCE = { only: ["deno"], timeoutMs: 600_000 } as const;

test("Rust firmware passes every check of every accessor on 4 CPUs of x86_64, aarch64 EL1, EL2 and lse, riscv64 and loongarch64 (hooks exact per guard class and counter: true)", async () => {
  await withTempDir("rust-fw", async (dir) => {
    const sdk = firmwareSdk();
    // Builds in parallel (rustc), then the boots one at a time: 4 emulated CPUs per boot starve each other's
    // barriers on 2 loaded cores when several boots and builds share them.
    const builds = await Promise.all(CONFIGS.map(async (c) => {
      const name = `${c.arch}${c.features.length ? "-" + c.features.join("-") : ""}`;
      const started = performance.now();
      const image = await buildRustFirmware(sdk.layout(c.arch), { arch: c.arch, cpus: CPUS, features: [...c.features], out: join(dir, name) });
      return { name, config: c, image, buildMs: Math.round(performance.now() - started) };
    }));
    const runs = [];
    for (const b of builds) runs.push({ ...b, result: await bootFirmware(b.image, { timeoutMs: BOOT_TIMEOUT_MS }) });
    for (const { name, config, image, result, buildMs } of runs) {
      assert.ok(result.passed, `${name} (built in ${buildMs} ms):\n${describeBoot(result)}`);
      assert.equal(result.result?.checks, image.expectedChecks, name);
      // Every CPU ran the same checks: reg, the round, hooks total; CPU 0 also the runtime check.
      const perCpu = (image.expectedChecks - 1) / CPUS;
      for (let cpu = 0; cpu < CPUS; cpu++) {
        assert.deepEqual(result.perCpu.get(cpu), { ok: perCpu + (cpu === 0 ? 1 : 0), fail: 0 }, `${name} cpu ${cpu}`);
        for (const check of ["reg", "hooks", "init", "write", "remote", "remote_write", "ops", "add", "remote_add", "reset"]) {
          assert.ok(result.lines.some((l) => l.startsWith(`cpu=${cpu} `) && l.includes(` check=${check} ok`)), `${name} cpu ${cpu}: no ${check} check`);
        }
        // Every u128 leaf: write/read, cmpxchg128 hit and misses, and every CPU's value read remotely.
        for (const leaf of U128_LEAVES) {
          for (const check of ["u128-ops", "u128-remote"]) assert.ok(result.lines.includes(`cpu=${cpu} var=${leaf} check=${check} ok`), `${name} cpu ${cpu}: ${leaf} ${check}`);
        }
      }
      assert.ok(result.lines.includes("cpu=0 var=- check=runtime ok"), name);
      // The hooks' counts passed: ops that must take the guard did (with_current, aarch64 read/write_current), ops that
      // must not (raw, remote, pointers; every op without a guard feature) called no hook.
      for (let cpu = 0; cpu < CPUS; cpu++) assert.ok(result.lines.includes(`cpu=${cpu} var=CPU_ID check=hooks ok`), `${name} cpu ${cpu} (${config.features.join(",")})`);
      // Every counter:true leaf's hooks check ran and passed (its counter ops called no hook, its this_cpu ops did).
      for (const leaf of ["EVENTS", "CSTAT.n32", "CSTAT.n16", "STATS.irqs"]) {
        for (let cpu = 0; cpu < CPUS; cpu++) assert.ok(result.lines.includes(`cpu=${cpu} var=${leaf} check=hooks ok`), `${name} cpu ${cpu}: ${leaf} hooks`);
      }
      // What those checks demanded (0: no hook call allowed, 2: the guard must be taken), with a guard feature on.
      const program = await readFile(join(image.dir, "fw.rs"), "utf8");
      const demanded = (leaf: string, op: string): string => {
        const re = new RegExp(`hooks_check\\(&mut k, cpu, &hs, "${op}", (\\d)\\)`);
        // The variable's hooks check (pointers, with_current) and the leaf's (ops that keep the value) share the name;
        // the ops that change it are watched in its ops check: take the check with the op.
        for (const head of ["hooks", "ops", "u128-ops"].map((check) => `Chk::new(cpu, ${JSON.stringify(leaf)}, ${JSON.stringify(check)})`)) {
          for (let at = program.indexOf(head); at !== -1; at = program.indexOf(head, at + 1)) {
            const m = re.exec(program.slice(at, program.indexOf("k.end()", at)));
            if (m) return m[1]!;
          }
        }
        return assert.fail(`${name}: no hooks check of ${leaf} ${op}`);
      };
      const guardedArch = config.arch !== "x86_64" && (config.features as readonly string[]).some((f) => f === "preempt" || f === "irq");
      if (guardedArch) {
        assert.equal(demanded("EVENTS", "add_current"), "0", `${name}: counter: true add stays unguarded`);
        assert.equal(demanded("EVENTS", "inc_current"), "0", name);
        assert.equal(demanded("EVENTS", "add_return_current"), "2", `${name}: this_cpu op guarded`);
        assert.equal(demanded("EVENTS", "try_cmpxchg_current"), "2", name);
        assert.equal(demanded("STATS.irqs", "add_current"), "2", `${name}: counter op of a variable not declared counter`);
        assert.equal(demanded("CSTAT.n16", "add_current"), config.arch === "riscv64" ? "2" : "0", `${name}: 16-bit counter`);
        for (const op of ["read_current", "write_current", "cmpxchg128_current"]) assert.equal(demanded("U_RING", op), "2", `${name}: u128 ${op} guarded`);
      } else if (config.arch === "x86_64") {
        for (const op of ["add_current", "add_return_current", "try_cmpxchg_current"]) assert.equal(demanded("STATS.irqs", op), "0", name);
        // preempt on: cmpxchg16b %gs: takes no guard, and the boot checked that no hook was called.
        for (const op of ["read_current", "write_current", "cmpxchg128_current"]) assert.equal(demanded("U_RING", op), "0", `${name}: u128 ${op}`);
      }
      assert.equal(demanded("U_LONE", "read_current_raw"), "0", name);
      if ((config.features as readonly string[]).includes("lse")) {
        // The image runs ARMv8.1 atomics (QEMU -cpu max): the module's RMW ops are LSE instructions (percpu.S has no
        // per-variable functions in a Rust image; any would be left out here).
        const text = [...(await disassemble(image.image)).entries()].filter(([fn]) => !fn.startsWith("percpu_")).flatMap(([, body]) => body);
        for (const insn of ["stadd", "ldadd", "swp", "cas", "casp"]) assert.ok(text.some((l) => l.startsWith(`${insn} `) || l.startsWith(`${insn}h `) || l.startsWith(`${insn}b `)), `${name}: no ${insn}`);
      }
    }
    console.log(runs.map((r) => `${r.name}: ${r.image.expectedChecks} checks, build ${r.buildMs} ms, boot ${Math.round(r.result.durationMs)} ms`).join("; "));
  });
}, ONCE);

/** The first failing check lines of a boot. */
function failLines(r: BootResult): string[] {
  return r.lines.filter((l) => / FAIL /.test(l));
}

test("Rust firmware fails, naming the variable and check, when it expects other values, and when a CPU is missing", async () => {
  await withTempDir("rust-fw-fail", async (dir) => {
    const sdk = createPercpu();
    sdk.define("HITS", u64, 5);
    sdk.define("LEVEL", i8, -3);
    const other = createPercpu();
    other.define("HITS", u64, 6);
    other.define("LEVEL", i8, -3);
    const wrong = await buildRustFirmware(sdk.layout("riscv64"), { arch: "riscv64", out: join(dir, "wrong"), expect: other.layout("riscv64") });
    const r = await bootFirmware(wrong, { timeoutMs: BOOT_TIMEOUT_MS });
    assert.equal(r.passed, false);
    assert.equal(r.exitCode, 1, describeBoot(r));
    assert.ok(failLines(r).some((l) => /var=HITS check=init FAIL op=read_current_raw got=0x5 expected=0x6/.test(l)), describeBoot(r));
    assert.ok(!failLines(r).some((l) => /var=LEVEL/.test(l)), "only the variable with other values fails");
    const right = await buildRustFirmware(sdk.layout("riscv64"), { arch: "riscv64", out: join(dir, "right"), program: { timeoutMs: 1500 } });
    const missing = await bootFirmware(right, { cpus: 3, timeoutMs: BOOT_TIMEOUT_MS });
    assert.equal(missing.passed, false);
    assert.equal(missing.timedOut, false, "a missing CPU fails the run instead of hanging");
    assert.ok(missing.lines.some((l) => /check=barrier FAIL at=start arrived=3 expected=4/.test(l)), describeBoot(missing));
  });
}, ONCE);

/** Probe functions over the module, one accessor each, compiled at -O2 for each target and disassembled (the hooks stay external calls). */
const PROBES = `#![no_std]
#[path = "percpu.rs"] pub mod percpu;
use percpu::*;
#[unsafe(no_mangle)] pub fn probe_read() -> usize { unsafe { CPU_ID.read_current_raw() } }
#[unsafe(no_mangle)] pub fn probe_write(v: usize) { unsafe { CPU_ID.write_current_raw(v) } }
#[unsafe(no_mangle)] pub fn probe_read_i8() -> i8 { FLAGS__level.read_current() }
#[unsafe(no_mangle)] pub fn probe_add(v: u64) { EVENTS.add_current(v) }
#[unsafe(no_mangle)] pub fn probe_inc() { EVENTS.inc_current() }
#[unsafe(no_mangle)] pub fn probe_dec32() { CSTAT__n32.dec_current() }
#[unsafe(no_mangle)] pub fn probe_add_plain(v: u64) { STATS__irqs.add_current(v) }
#[unsafe(no_mangle)] pub fn probe_cmpxchg(e: u64, d: u64) -> u64 { EVENTS.cmpxchg_current(e, d) }
#[unsafe(no_mangle)] pub fn probe_xchg(v: u64) -> u64 { EVENTS.xchg_current(v) }
#[unsafe(no_mangle)] pub fn probe_add_return(v: u64) -> u64 { EVENTS.add_return_current(v) }
#[unsafe(no_mangle)] pub fn probe_inc_return() -> u64 { EVENTS.inc_return_current() }
#[unsafe(no_mangle)] pub fn probe_try_cmpxchg(e: &mut u64, d: u64) -> bool { EVENTS.try_cmpxchg_current(e, d) }
#[unsafe(no_mangle)] pub fn probe_read_far() -> u64 { unsafe { TAIL__a.read_current_raw() } }
#[unsafe(no_mangle)] pub fn probe_cmpxchg128(e: u128, d: u128) -> u128 { U_LONE.cmpxchg128_current(e, d) }
#[unsafe(no_mangle)] pub fn probe_read128() -> u128 { U_LONE.read_current() }
#[unsafe(no_mangle)] pub fn probe_write128(v: u128) { U_LONE.write_current(v) }
#[unsafe(no_mangle)] pub fn probe_read128_raw() -> u128 { unsafe { U_LONE.read_current_raw() } }
`;

/** The probes of counter ops on `counter: true` variables: no guard on any arch. */
const COUNTER_PROBES = ["probe_add", "probe_inc", "probe_dec32"];
/** The probes that take the guard with preempt on aarch64/riscv64/loongarch64: this_cpu ops, and a counter op of a variable not declared counter. */
const GUARDED_PROBES = ["probe_add_plain", "probe_cmpxchg", "probe_xchg", "probe_add_return", "probe_inc_return", "probe_try_cmpxchg"];

/** A compiled probe object: each function's instructions up to its return, and the guard hooks it calls. */
interface Probes {
  readonly insns: Map<string, string[]>;
  /** Per function: relocations naming a guard hook (`percpu_preempt_disable`, `_enable`; tail calls included). */
  readonly hookCalls: Map<string, number>;
}

/** Compiles the probes against one generation (-O2) and disassembles them. */
async function compileProbes(dir: string, arch: "x86_64" | "aarch64" | "riscv64" | "loongarch64", features: readonly ("preempt" | "lse")[]): Promise<Probes> {
  const target = rustTarget(arch);
  const sub = join(dir, `${arch}-${features.join("-") || "none"}`);
  const gen = generateFiles(firmwareSdk().layout(arch), { arch, mode: "kernel", rust: true, features: [...features] });
  await mkdir(sub, { recursive: true });
  await writeFile(join(sub, "percpu.rs"), gen.files["percpu.rs"]!);
  await writeFile(join(sub, "probe.rs"), PROBES);
  await runOk(bareMetalRustc(), [
    "--edition", "2024", "--crate-type", "lib", "--emit=obj", "--target", target, "--sysroot", await rustSysroot(target),
    "-C", "opt-level=2", "-C", "panic=abort", ...rustFeatureFlags(features.includes("lse")), "probe.rs", "-o", "probe.o",
  ], { cwd: sub, timeoutMs: 300_000 });
  const insns = new Map<string, string[]>();
  for (const [fn, body] of await disassemble(join(sub, "probe.o"))) {
    const ret = body.findIndex((l) => /^(ret|retq|jr ra|ret x30|jirl \$zero, \$ra, 0)\b/.test(l));
    insns.set(fn, body.slice(0, ret === -1 ? body.length : ret));
  }
  // The hooks are external symbols: every call of one (bl, call, tail b/jmp) carries a relocation naming it.
  const hookCalls = new Map<string, number>();
  let current = "";
  for (const line of (await runOk(OBJDUMP, ["-dr", join(sub, "probe.o")], { timeoutMs: 120_000 })).split("\n")) {
    const head = /^[0-9a-f]+ <([^>]+)>:$/.exec(line.trim());
    if (head) current = head[1]!;
    else if (/R_\w+\s+percpu_preempt_(disable|enable)\b/.test(line)) hookCalls.set(current, (hookCalls.get(current) ?? 0) + 1);
  }
  return { insns, hookCalls };
}

test("Rust accessors compile to the shortest forms of percpu.h on each arch, guarded exactly where percpu.h guards (measured in the -O2 code)", async () => {
  await withTempDir("rust-fw-insn", async (dir) => {
    const forms: Record<"x86_64" | "aarch64" | "riscv64" | "loongarch64", Record<string, RegExp[]>> = {
      x86_64: {
        probe_read: [/^movq %gs:0x8, %rax$/],
        probe_write: [/^movq %rdi, %gs:0x8$/],
        probe_read_i8: [/^movsbl %gs:0x\w+, %eax$/],
        probe_add: [/^addq %rdi, %gs:0x\w+$/],
        probe_inc: [/^incq %gs:0x\w+$/],
        probe_dec32: [/^decl %gs:0x\w+$/],
        probe_add_plain: [/^addq %rdi, %gs:0x\w+$/],
        probe_cmpxchg: [/^movq %rdi, %rax$/, /^cmpxchgq %rsi, %gs:0x\w+$/],
        probe_add_return: [/^movq %rdi, %rax$/, /^xaddq %rax, %gs:0x\w+$/, /^addq %rdi, %rax$/],
        probe_inc_return: [/^movl \$0x1, %eax$/, /^xaddq %rax, %gs:0x\w+$/, /^incq %rax$/],
        probe_read_far: [/^movq %gs:0x1\w{4}, %rax$/],
      },
      aarch64: {
        probe_read: [/^mrs x8, TPIDR_EL1$/, /^ldr x0, \[x8\]$/],
        probe_write: [/^mrs x8, TPIDR_EL1$/, /^str x0, \[x8\]$/],
        probe_add: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^ldxr x9, \[x8\]$/, /^add x9, x9, x0$/, /^stxr w10, x9, \[x8\]$/, /^cbnz w10/],
        probe_inc: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^ldxr x9, \[x8\]$/, /^add x9, x9, #0x1$/, /^stxr w10, x9, \[x8\]$/, /^cbnz w10/],
        probe_read_far: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x11, lsl #12$/, /^ldr x0, \[x8, #0x\w+\]$/],
      },
      riscv64: {
        probe_read: [/^ld a0, 0x0\(gp\)$/],
        probe_write: [/^sd a0, 0x0\(gp\)$/],
        probe_read_i8: [/^lb a0, 0x\w+\(gp\)$/],
        probe_add: [/^addi a1, gp, 0x\w+$/, /^amoadd\.d zero, a0, \(a1\)$/],
        probe_read_far: [/^lui a0, 0x11$/, /^addi a0, a0, /, /^add a1, gp, a0$/, /^ld a0, 0x0\(a1\)$/],
      },
      loongarch64: {
        probe_read: [/^ld\.d \$a0, \$r21, 0$/],
        probe_write: [/^st\.d \$a0, \$r21, 0$/],
        probe_read_i8: [/^ld\.b \$a0, \$r21, \d+$/],
        probe_add: [/^addi\.d \$a1, \$r21, \d+$/, /^amadd\.d \$\w+, \$a0, \$a1$/],
        probe_read_far: [/^lu12i\.w \$a0, 17$/, /^ori \$a1, \$a0, \d+$/, /^ldx\.d \$a0, \$r21, \$a1$/],
      },
    };
    const counts: string[] = [];
    const pin = (what: string, insns: readonly string[], want: readonly RegExp[]): void => {
      assert.equal(insns.length, want.length, `${what}:\n${insns.join("\n")}`);
      want.forEach((re, i) => assert.match(insns[i]!, re, `${what}:\n${insns.join("\n")}`));
    };
    const arches = ["x86_64", "aarch64", "riscv64", "loongarch64"] as const;
    const guardedBuilds = await Promise.all(arches.map((arch) => compileProbes(dir, arch, arch === "x86_64" ? [] : ["preempt"])));
    const bareBuilds = await Promise.all([
      ...arches.slice(1).map((arch) => compileProbes(dir, arch, [])),
      compileProbes(dir, "aarch64", ["lse"]),
    ]);
    for (const [i, arch] of arches.entries()) {
      const { insns: fns, hookCalls } = guardedBuilds[i]!;
      const get = (fn: string): string[] => fns.get(fn) ?? assert.fail(`${arch}: ${fn} not found`);
      const calls = (fn: string): number => hookCalls.get(fn) ?? 0;
      for (const [fn, want] of Object.entries(forms[arch])) {
        pin(`${arch} ${fn}`, get(fn), want);
        counts.push(`${arch} ${fn}=${get(fn).length}`);
      }
      if (arch === "x86_64") {
        // One %gs instruction or cmpxchg + sete: never a call.
        for (const fn of [...COUNTER_PROBES, ...GUARDED_PROBES]) assert.equal(calls(fn), 0, `${arch} ${fn}:\n${get(fn).join("\n")}`);
        counts.push(`x86_64 probe_try_cmpxchg=${get("probe_try_cmpxchg").length}`);
        continue;
      }
      // preempt on: counter ops of counter: true variables call no hook; this_cpu ops and other variables' counter ops both hooks.
      for (const fn of COUNTER_PROBES) assert.equal(calls(fn), 0, `${arch} ${fn} (counter: true) is unguarded:\n${get(fn).join("\n")}`);
      for (const fn of GUARDED_PROBES) assert.equal(calls(fn), 2, `${arch} ${fn} calls percpu_preempt_disable and _enable:\n${get(fn).join("\n")}`);
      if (arch === "aarch64") {
        // A guarded read on aarch64 (2 instructions): the hooks around mrs + ldrsb.
        const rd = get("probe_read_i8");
        assert.ok(rd.some((l) => /^mrs x8, TPIDR_EL1$/.test(l)) && rd.some((l) => /^ldrsb w\d+, \[x8, #0x\w+\]$/.test(l)) && calls("probe_read_i8") === 2, rd.join("\n"));
      }
    }
    // Without guard features: the this_cpu forms themselves (the atomics percpu.h uses).
    const bare: Record<string, Record<string, RegExp[]>> = {
      aarch64: {
        // The loop's new value is the result (LLVM reuses the add; percpu.h's loop returns [new] too).
        probe_add_return: [/^mrs x8, TPIDR_EL1$/, /^add x9, x8, #0x\w+$/, /^ldxr x8, \[x9\]$/, /^add x8, x8, x0$/, /^stxr w10, x8, \[x9\]$/, /^cbnz w10/, /^mov x0, x8$/],
        probe_inc: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^ldxr x9, \[x8\]$/, /^add x9, x9, #0x1$/, /^stxr w10, x9, \[x8\]$/, /^cbnz w10/],
      },
      riscv64: {
        probe_add_return: [/^addi a1, gp, 0x\w+$/, /^amoadd\.d a1, a0, \(a1\)$/, /^add a0, a0, a1$/],
        probe_xchg: [/^addi a1, gp, 0x\w+$/, /^amoswap\.d a0, a0, \(a1\)$/],
      },
      loongarch64: {
        probe_add_return: [/^addi\.d \$a1, \$r21, \d+$/, /^amadd\.d \$a2, \$a0, \$a1$/, /^add\.d \$a0, \$a2, \$a0$/],
        probe_xchg: [/^addi\.d \$a2, \$r21, \d+$/, /^amswap\.d \$a1, \$a0, \$a2$/, /^move \$a0, \$a1$/],
      },
      "aarch64-lse": {
        probe_add: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^stadd x0, \[x8\]$/],
        probe_inc: [/^mrs x8, TPIDR_EL1$/, /^(add x8, x8, #0x\w+|mov w9, #0x1)$/, /^(add x8, x8, #0x\w+|mov w9, #0x1)$/, /^stadd x9, \[x8\]$/],
        probe_dec32: [/^mrs x8, TPIDR_EL1$/, /^(add x8, x8, #0x\w+|mov w9, #-0x1)$/, /^(add x8, x8, #0x\w+|mov w9, #-0x1)$/, /^stadd w9, \[x8\]$/],
        probe_inc_return: [/^mrs x8, TPIDR_EL1$/, /^(add x8, x8, #0x\w+|mov w9, #0x1)$/, /^(add x8, x8, #0x\w+|mov w9, #0x1)$/, /^ldadd x9, x8, \[x8\]$/, /^add x0, x8, #0x1$/],
        probe_try_cmpxchg: [/^mrs x8, TPIDR_EL1$/, /^ldr x10, \[x0\]$/, /^add x8, x8, #0x\w+$/, /^mov x9, x10$/, /^cas x9, x1, \[x8\]$/, /^cmp x9, x10$/, /^cset w8, eq$/, /^b\.eq/, /^str x9, \[x0\]$/, /^mov w0, w8$/],
        probe_xchg: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^swp x0, x0, \[x8\]$/],
        probe_add_return: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^ldadd x0, x8, \[x8\]$/, /^add x0, x8, x0$/],
        probe_cmpxchg: [/^mrs x8, TPIDR_EL1$/, /^add x8, x8, #0x\w+$/, /^cas x0, x1, \[x8\]$/],
      },
    };
    for (const [i, name] of ["aarch64", "riscv64", "loongarch64", "aarch64-lse"].entries()) {
      const { insns: fns, hookCalls } = bareBuilds[i]!;
      for (const fn of ["probe_add", "probe_inc", "probe_dec32", ...GUARDED_PROBES]) {
        const insns = fns.get(fn) ?? assert.fail(`${name}: ${fn} not found`);
        assert.equal(hookCalls.get(fn) ?? 0, 0, `${name} ${fn}:\n${insns.join("\n")}`);
        if (!(fn in (bare[name] ?? {}))) counts.push(`${name} ${fn}=${insns.length}`);
      }
      for (const [fn, want] of Object.entries(bare[name] ?? {})) {
        pin(`${name} ${fn}`, fns.get(fn)!, want);
        counts.push(`${name} ${fn}=${want.length}`);
      }
    }
    // u128 (U_LONE, near): the forms of percpu.S's u128 functions. x86_64: cmpxchg16b %gs: (one, unlocked) with rbx
    // swapped through a scratch register, never a hook; elsewhere the current-CPU ops take the guard, the raw ones not.
    const x86 = guardedBuilds[0]!;
    const x86Body = (fn: string): string[] => x86.insns.get(fn) ?? assert.fail(`x86_64: ${fn} not found`);
    pin("x86_64 probe_cmpxchg128", x86Body("probe_cmpxchg128"), [/^movq %rdx, %(r\w+)$/, /^movq %rsi, %rdx$/, /^movq %rdi, %rax$/, /^xchgq %r\w+, %rbx$/, /^cmpxchg16b %gs:0x\w+$/, /^movq %r\w+, %rbx$/]);
    pin("x86_64 probe_read128", x86Body("probe_read128"), [/^xorl /, /^xorl /, /^xorl /, /^xorl /, /^xchgq %r\w+, %rbx$/, /^cmpxchg16b %gs:0x\w+$/, /^movq %r\w+, %rbx$/]);
    pin("x86_64 probe_write128", x86Body("probe_write128"), [/^movq %rsi, %rcx$/, /^xchgq %rdi, %rbx$/, /^movq %gs:0x\w+, %rax$/, /^movq %gs:0x\w+, %rdx$/, /^cmpxchg16b %gs:0x\w+$/, /^jne /, /^movq %rdi, %rbx$/]);
    pin("x86_64 probe_read128_raw", x86Body("probe_read128_raw"), [/^movq %gs:0x\w+, %rax$/, /^movq %gs:0x\w+, %rdx$/]);
    for (const fn of ["probe_cmpxchg128", "probe_read128", "probe_write128"]) {
      assert.ok(!x86Body(fn).some((l) => l.startsWith("lock")), `x86_64 ${fn}: unlocked`);
      assert.equal(x86Body(fn).filter((l) => l.startsWith("cmpxchg16b %gs:")).length, 1, `x86_64 ${fn}: one cmpxchg16b %gs:`);
      assert.equal(x86.hookCalls.get(fn) ?? 0, 0, `x86_64 ${fn}`);
    }
    counts.push(...["probe_cmpxchg128", "probe_read128", "probe_write128", "probe_read128_raw"].map((fn) => `x86_64 ${fn}=${x86Body(fn).length}`));
    const mnemonics = (b: Probes, fn: string, what: string): string[] => (b.insns.get(fn) ?? assert.fail(`${what}: ${fn} not found`)).map((l) => l.split(/\s/)[0]!);
    for (const [i, arch] of (["aarch64", "riscv64", "loongarch64"] as const).entries()) {
      const b = guardedBuilds[i + 1]!;
      for (const fn of ["probe_cmpxchg128", "probe_read128", "probe_write128"]) assert.equal(b.hookCalls.get(fn) ?? 0, 2, `${arch} ${fn} is guarded:\n${b.insns.get(fn)?.join("\n")}`);
      assert.equal(b.hookCalls.get("probe_read128_raw") ?? 0, 0, arch);
      assert.deepEqual(mnemonics(b, "probe_read128_raw", arch), { aarch64: ["mrs", "add", "ldp"], riscv64: ["ld", "ld"], loongarch64: ["ld.d", "ld.d"] }[arch], arch);
    }
    // Without guard features: the sequences themselves (riscv64/loongarch64 read_current is read_current_raw's code).
    const bare128: Record<string, Record<string, string[]>> = {
      aarch64: {
        probe_cmpxchg128: ["mrs", "add", "ldxp", "cmp", "ccmp", "b.ne", "stxp", "cbnz", "b", "stxp", "cbnz", "mov", "mov"],
        probe_read128: ["mrs", "add", "ldxp", "stxp", "cbnz"],
        probe_write128: ["mrs", "add", "ldxp", "stxp", "cbnz"],
      },
      riscv64: { probe_cmpxchg128: ["ld", "ld", "bne", "bne", "sd", "sd", "mv", "mv"], probe_write128: ["sd", "sd"] },
      loongarch64: { probe_cmpxchg128: ["ld.d", "ld.d", "bne", "bne", "st.d", "st.d", "move", "move"], probe_write128: ["st.d", "st.d"] },
      "aarch64-lse": { probe_cmpxchg128: ["mrs", "add", "casp"] },
    };
    for (const [i, name] of ["aarch64", "riscv64", "loongarch64", "aarch64-lse"].entries()) {
      for (const [fn, want] of Object.entries(bare128[name]!)) {
        assert.deepEqual(mnemonics(bareBuilds[i]!, fn, name), want, `${name} ${fn}:\n${bareBuilds[i]!.insns.get(fn)!.join("\n")}`);
        counts.push(`${name} ${fn}=${want.length}`);
      }
    }
    console.log(counts.join(", "));
  });
}, ONCE);

test("percpu.rs per arch: every catalog op on every leaf, guards where the arch's form is more than one instruction", () => {
  const sdk = createPercpu();
  sdk.define("NEAR", u32, 1);
  sdk.define("PAD", array(u8, 5000), new Array(5000).fill(0));
  sdk.define("FAR", u64, 2);
  sdk.define("S", struct({ a: i16, b: f32 }), { a: 1, b: 2 });
  sdk.define("CNT", u64, 0, { counter: true });
  sdk.define("CNT8", u8, 0, { counter: true });
  sdk.define("WIDE", u128, 0n);
  const bodyOf = (rs: string, wrapper: string, method: string): string => {
    const impl = rs.indexOf(`impl ${wrapper} {`);
    assert.notEqual(impl, -1, wrapper);
    const at = rs.slice(impl).search(new RegExp(`fn ${method}[<(]`)) + impl;
    return rs.slice(at, rs.indexOf("\n    }\n", at));
  };
  const guarded = (rs: string, wrapper: string, method: string): boolean => bodyOf(rs, wrapper, method).includes("Guard::new()");
  for (const arch of ["x86_64", "aarch64", "riscv64", "loongarch64"] as const) {
    const input = generatorInput(sdk.layout(arch), resolveConfig({ arch, features: ["preempt"] }));
    const rs = emitRust(input);
    for (const v of input.vars) {
      for (const leaf of [...v.leaves, ...v.u128Leaves]) {
        for (const op of leafOps(leaf.scalar)) {
          const spec = LEAF_OP_SPECS[op];
          const unsafe = op.endsWith("_raw") || spec.target === "remote" ? "unsafe " : "";
          assert.ok(rs.includes(`pub ${unsafe}fn ${op}(&self`), `${arch}: ${leaf.symbol} has no ${op}`);
        }
      }
    }
    // with_current and reset_to_init always take the guard; raw and remote ops never do.
    assert.ok(guarded(rs, "NEAR_WRAPPER", "with_current") && guarded(rs, "NEAR_WRAPPER", "reset_to_init"), arch);
    assert.ok(!guarded(rs, "NEAR_WRAPPER", "read_current_raw") && !guarded(rs, "NEAR_WRAPPER", "remote_read"), arch);
    // RMW as percpu.h: x86_64 one %gs instruction, never guarded; elsewhere the this_cpu ops always, the counter ops
    // unless the variable is counter: true and the op is one atomic (riscv64 8/16-bit: no AMO, guarded).
    const x86 = arch === "x86_64";
    for (const op of ["xchg_current", "cmpxchg_current", "try_cmpxchg_current", "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current"]) {
      assert.equal(guarded(rs, "NEAR_WRAPPER", op), !x86, `${arch} NEAR ${op}`);
      assert.equal(guarded(rs, "CNT_WRAPPER", op), !x86, `${arch} CNT ${op}`);
    }
    for (const op of ["add_current", "sub_current", "and_current", "or_current", "xor_current", "inc_current", "dec_current"]) {
      assert.equal(guarded(rs, "NEAR_WRAPPER", op), !x86, `${arch} NEAR ${op}`);
      assert.equal(guarded(rs, "CNT_WRAPPER", op), false, `${arch} CNT ${op}`);
      assert.equal(guarded(rs, "CNT8_WRAPPER", op), arch === "riscv64", `${arch} CNT8 ${op}`);
    }
    assert.ok(rs.includes("pub fn try_cmpxchg_current(&self, expected: &mut u64, desired: u64) -> bool"), arch);
    const expectGuard = { x86_64: [false, false], aarch64: [true, true], riscv64: [false, true], loongarch64: [false, false] }[arch];
    assert.equal(guarded(rs, "NEAR_WRAPPER", "read_current"), expectGuard[0], `${arch} near read_current`);
    assert.equal(guarded(rs, "FAR_WRAPPER", "read_current"), expectGuard[1], `${arch} far read_current`);
    assert.equal(guarded(rs, "FAR_WRAPPER", "write_current"), expectGuard[1], `${arch} far write_current`);
    // u128: the current-CPU ops guarded as the arch's percpu.S functions (never on x86_64), raw and remote never.
    for (const op of ["read_current", "write_current", "cmpxchg128_current"]) assert.equal(guarded(rs, "WIDE_WRAPPER", op), !x86, `${arch} WIDE ${op}`);
    for (const op of ["read_current_raw", "write_current_raw", "remote_read", "remote_write"]) assert.equal(guarded(rs, "WIDE_WRAPPER", op), false, `${arch} WIDE ${op}`);
    assert.ok(rs.includes("pub fn cmpxchg128_current(&self, expected: u128, desired: u128) -> u128"), arch);
    assert.ok(!rs.includes("fn add_current(&self, val: u128)"), `${arch}: no integer RMW on u128`);
  }
  // aarch64 EL2 uses TPIDR_EL2 everywhere.
  const el2 = emitRust(generatorInput(sdk.layout("aarch64"), resolveConfig({ arch: "aarch64", features: ["el2"] })));
  assert.ok(el2.includes("tpidr_el2") && !el2.includes("tpidr_el1"));
});

test("kernel-mode percpu.rs of every 64-bit arch compiles warning-free for its bare-metal target with every feature set (edition 2024; 2021 too without features); lse only with +lse", async () => {
  await withTempDir("rust-fw-features", async (dir) => {
    const sdk = firmwareSdk();
    const sets = [[], ["preempt", "irq"], ["naive"], ["naive", "preempt"]] as const;
    for (const arch of ["x86_64", "aarch64", "riscv64", "loongarch64"] as const) {
      const target = rustTarget(arch);
      const sysroot = await rustSysroot(target);
      for (const features of [...sets, ...(arch === "aarch64" ? [["el2", "preempt"], ["lse", "irq"]] as const : [])]) {
        const sub = join(dir, `${arch}-${features.join("-") || "none"}`);
        await mkdir(sub, { recursive: true });
        const naive = (features as readonly string[]).includes("naive");
        const gen = generateFiles(sdk.layout(arch), { arch, mode: "kernel", rust: true, cpus: naive ? 1 : 4, features: [...features] });
        await writeFile(join(sub, "percpu.rs"), gen.files["percpu.rs"]!);
        // A public module: rustc type-checks and lints every item (the boots above run the code of the feature sets they use).
        await writeFile(join(sub, "lib.rs"), '#![no_std]\n#[path = "percpu.rs"] pub mod percpu;\n');
        if ((features as readonly string[]).includes("lse")) {
          // Without +lse the atomics would be LL/SC loops, not percpu.h's lse forms: the module refuses to build.
          const r = await run(bareMetalRustc(), [
            "--edition", "2024", "--crate-type", "lib", "--emit=obj", "--target", target, "--sysroot", sysroot, "-C", "panic=abort", "lib.rs", "-o", "nolse.o",
          ], { cwd: sub, timeoutMs: 300_000 });
          assert.notEqual(r.code, 0, "percpu.rs with lse builds without +lse");
          assert.match(r.stderr, /generated with features lse: compile with -C target-feature=\+lse/);
        }
        for (const edition of features.length === 0 ? ["2021", "2024"] : ["2024"]) {
          await runOk(bareMetalRustc(), [
            "--edition", edition, "--crate-type", "lib", "--emit=obj", "--target", target, "--sysroot", sysroot,
            "-C", "opt-level=0", "-C", "panic=abort", "-D", "warnings", ...rustFeatureFlags((features as readonly string[]).includes("lse")), "lib.rs", "-o", `lib-${edition}.o`,
          ], { cwd: sub, timeoutMs: 300_000 });
        }
      }
    }
  });
}, ONCE);
