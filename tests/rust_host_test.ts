/**
 * The Rust output on the host (issue 13, host part): the seed's test suite
 * (arceos-org/percpu 0.4.0 percpu/tests/test_percpu.rs, written again case
 * by case in tests/fixtures/seed_test_percpu.rs with the seed's values)
 * built with `rustc --test` against a generated x86_64 user-mode
 * `percpu.rs`, linked with the generated `percpu.S` assembled into
 * `libpercpu.a`, for each feature set of the seed's CI (our user mode is
 * always the seed's `non-zero-vma`); plus our cases (threads as CPUs, the
 * guard hooks, the extra scalar ops), the shortest inline forms in the
 * optimised code, and kernel-mode and rich-type modules that compile with
 * their layout asserts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i8,
  type PercpuSdk,
  struct,
  u128,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { generateFiles } from "../emit/index.ts";
import { emitRust } from "../emit/percpu_rs.ts";
import { type GenerateOptions, resolveConfig } from "../sdk/config.ts";
import { PercpuError } from "../sdk/errors.ts";
import { generatorInput } from "../sdk/plan.ts";
import { test } from "./_harness.ts";
import { disassemble, run, runOk } from "./_toolchain.ts";
import { assertOneError, KERNEL, percpu, selfEntry } from "./_cli.ts";
import { withTempDir } from "./_tmp.ts";

const FIXTURE = new URL("./fixtures/seed_test_percpu.rs", import.meta.url);

/** The seed's CI feature sets (.github/workflows/test.yml) on the host, as our features (non-zero-vma is our user mode). */
const FEATURE_SETS = {
  "sp-naive": ["naive"],
  "sp-naive,preempt": ["naive", "preempt"],
  "non-zero-vma": [],
  "non-zero-vma,preempt": ["preempt"],
} as const satisfies Record<string, readonly ("naive" | "preempt")[]>;

type FeatureSet = keyof typeof FEATURE_SETS;

/** The `#[test]` functions of the fixture each feature set compiles. */
function expectedTests(set: FeatureSet): string[] {
  const naive = set.startsWith("sp-naive");
  const preempt = set.endsWith("preempt");
  return [
    ...(naive ? ["test_percpu_sp_naive"] : [
      "test_percpu_multi_core_in_place",
      "test_percpu_multi_core_dynamic",
      "test_percpu_init_rejects_invalid_base",
      "test_threads_as_cpus",
    ]),
    ...(preempt ? ["test_preempt_hooks"] : []),
    "test_scalar_ops",
  ];
}

/** The seed's seven variables with its initial values (test_percpu.rs lines 10-34). */
function defineSeedVars(sdk: PercpuSdk): void {
  sdk.define("BOOL", bool, true);
  sdk.define("U8", u8, 1);
  sdk.define("U16", u16, 2);
  sdk.define("U32", u32, 3);
  sdk.define("U64", u64, 4);
  sdk.define("USIZE", usize, 5);
  sdk.define("STRUCT", struct({ foo: usize, bar: u8 }), { foo: 6, bar: 7 });
}

/** `rustc`: `$RUSTC`, else on the PATH, else rustup's default place. */
let rustcPath: Promise<string> | undefined;
function rustc(): Promise<string> {
  return rustcPath ??= (async () => {
    for (const c of [process.env.RUSTC, "rustc", join(homedir(), ".cargo", "bin", "rustc")]) {
      if (!c) continue;
      try {
        if ((await run(c, ["--version"])).code === 0) return c;
      } catch { /* not there */ }
    }
    throw new Error("rustc not found (set RUSTC)");
  })();
}

/** Writes `percpu.rs` and `percpu.S` of a generation (`rust: true`) into `dir` and builds `libpercpu.a` there. */
async function buildGenerated(sdk: PercpuSdk, options: GenerateOptions, dir: string): Promise<void> {
  const gen = generateFiles(sdk.layout("x86_64"), { ...options, rust: true });
  await writeFile(join(dir, "percpu.S"), gen.files["percpu.S"]);
  await writeFile(join(dir, "percpu.rs"), gen.files["percpu.rs"]!);
  await runOk("cc", ["-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
  await runOk("ar", ["rcs", "libpercpu.a", "percpu.o"], { cwd: dir });
}

/** `--cfg feature="x"` arguments. */
function cfgArgs(features: readonly string[]): string[] {
  return features.flatMap((f) => ["--cfg", `feature="${f}"`]);
}

/** Builds and runs the ported seed suite for one feature set; returns the test binary's output. */
async function runSeedSuite(set: FeatureSet): Promise<string> {
  return await withTempDir("rust-seed", async (dir) => {
    const sdk = createPercpu();
    defineSeedVars(sdk);
    const features: readonly ("naive" | "preempt")[] = FEATURE_SETS[set];
    await buildGenerated(sdk, {
      arch: "x86_64",
      mode: "user",
      cpus: features.includes("naive") ? 1 : 4,
      features: [...features],
    }, dir);
    await writeFile(join(dir, "test_percpu.rs"), await readFile(FIXTURE, "utf8"));
    await runOk(await rustc(), [
      "--edition",
      "2021",
      "--test",
      ...cfgArgs(set.split(",")),
      "test_percpu.rs",
      "-L",
      dir,
      "-l",
      "static=percpu",
      "-o",
      "test_percpu",
    ], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    const r = await run(join(dir, "test_percpu"), ["--test-threads=1"], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `the test binary failed (${set}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  });
}

for (const set of Object.keys(FEATURE_SETS) as FeatureSet[]) {
  test(
    `rust: the seed's test_percpu.rs passes against percpu.rs + libpercpu.a (x86_64 user mode, seed features ${set})`,
    async () => {
      const out = await runSeedSuite(set);
      const expected = expectedTests(set);
      for (const name of expected) {
        assert.match(out, new RegExp(`^test ${name} \\.\\.\\. ok$`, "m"), `${name} ran and passed (${set}):\n${out}`);
      }
      const ran = [...out.matchAll(/^test (\w+) \.\.\. /gm)].map((m) => m[1]!).sort();
      assert.deepEqual(ran, [...expected].sort(), "exactly the expected cases ran");
      assert.match(out, new RegExp(`^test result: ok\\. ${expected.length} passed; 0 failed; 0 ignored`, "m"));
    },
    { only: ["deno"], timeoutMs: 240_000 },
  );
}

/** A Rust test of the leaf types (fields, elements, indexed arrays) on the current CPU and remotely. */
const LEAVES_RS = `#[path = "percpu.rs"]
mod percpu;
use percpu::*;

#[test]
fn test_leaves() {
    assert!(init_in_place().is_ok());
    init_percpu_reg(0);
    // Fields and short-array elements: one leaf static each (percpu.h's STATS__irqs, STATS__hist__2).
    STATS__irqs.add_current(2);
    STATS__irqs.sub_current(1);
    STATS__hist__2.write_current(7);
    assert_eq!(STATS.with_current(|s| (s.irqs, s.hist)), (1, [0, 0, 7, 0]));
    assert_eq!(STATS__hist__2.xchg_current(8), 7);
    assert_eq!(unsafe { STATS__hist__2.current_ptr() } as usize, unsafe { STATS.current_ptr() } as usize + core::mem::offset_of!(STATS_T, hist) + 4);
    // A long array: indexed methods on the wrapper (percpu.h's _at forms), bounds-checked.
    BIG.write_current(39, 5);
    BIG.add_current(39, 1);
    assert_eq!(BIG.read_current(39), 6);
    assert_eq!(BIG.with_current(|a| (a[0], a[39])), (1, 6));
    assert!(std::panic::catch_unwind(|| BIG.read_current(40)).is_err());
    // Fields of a long array of structs: indexed leaves.
    GRID__h.add_current(19, 2);
    assert_eq!(GRID__h.read_current(19), 3);
    assert_eq!(GRID__f.read_current(3), 2.5);
    assert_eq!(GRID.with_current(|g| g[19].h), 3);
    // Two dimensions.
    M.write_current(17, 19, 9);
    assert_eq!(M.with_current(|m| m[17][19]), 9);
    assert_eq!(M.read_current(0, 0), 3);
    STATS.reset_to_init();
    assert_eq!(STATS__hist__2.read_current(), 0);
    #[cfg(not(feature = "sp-naive"))]
    unsafe {
        STATS__irqs.remote_write(1, 9);
        STATS__irqs.remote_add(1, 1);
        assert_eq!(STATS.remote_ref_raw(1).irqs, 10);
        assert_eq!(GRID__h.remote_cmpxchg(2, 5, 1, 4), 1);
        assert_eq!((*GRID.remote_ptr(2))[5].h, 4);
        assert_eq!(GRID__h.remote_read(2, 5), 4);
    }
}
`;

/**
 * The ops of issue 12 on the host: inc/dec, the `_return` ops (the new value, wrapping at the type's ends, signed
 * and unsigned, on a field and an indexed element) and try_cmpxchg (`&mut expected` untouched on success, the value
 * found on failure, as C's `T *expected`), plus a retry loop.
 */
const THIS_CPU_OPS_RS = `
#[test]
fn test_this_cpu_ops() {
    assert!(init_in_place().is_ok());
    init_percpu_reg(0);
    WRAP8.write_current(254);
    WRAP8.inc_current();
    assert_eq!(WRAP8.read_current(), 255);
    WRAP8.inc_current();
    assert_eq!(WRAP8.read_current(), 0);
    WRAP8.dec_current();
    assert_eq!(WRAP8.read_current(), 255);
    assert_eq!(WRAP8.inc_return_current(), 0);
    assert_eq!(WRAP8.dec_return_current(), 255);
    assert_eq!(WRAP8.add_return_current(3), 2);
    assert_eq!(WRAP8.sub_return_current(5), 253);
    SIGNED.write_current(i16::MAX - 1);
    assert_eq!(SIGNED.inc_return_current(), i16::MAX);
    assert_eq!(SIGNED.inc_return_current(), i16::MIN);
    assert_eq!(SIGNED.dec_return_current(), i16::MAX);
    assert_eq!(SIGNED.add_return_current(-3), i16::MAX - 3);
    assert_eq!(SIGNED.sub_return_current(-4), i16::MIN);
    SIGNED.dec_current();
    assert_eq!(SIGNED.read_current(), i16::MAX);
    STATS__irqs.write_current(u64::MAX);
    assert_eq!(STATS__irqs.add_return_current(2), 1);
    assert_eq!(STATS__irqs.sub_return_current(2), u64::MAX);
    STATS__irqs.inc_current();
    assert_eq!(STATS__irqs.read_current(), 0);
    // try_cmpxchg: a miss writes the value found into expected and leaves the value; a hit stores desired.
    STATS__irqs.write_current(40);
    let mut e = 41u64;
    assert!(!STATS__irqs.try_cmpxchg_current(&mut e, 7));
    assert_eq!((e, STATS__irqs.read_current()), (40, 40));
    assert!(STATS__irqs.try_cmpxchg_current(&mut e, 7));
    assert_eq!((e, STATS__irqs.read_current()), (40, 7));
    // The Linux retry loop: each miss refreshes expected.
    let mut old = 0u64;
    let mut tries = 0;
    while !{ let next = old * 3 + 1; STATS__irqs.try_cmpxchg_current(&mut old, next) } { tries += 1; }
    assert_eq!((tries, STATS__irqs.read_current()), (1, 22));
    let mut e8 = 0u8;
    assert!(!WRAP8.try_cmpxchg_current(&mut e8, 1));
    assert_eq!(e8, 253);
    assert!(WRAP8.try_cmpxchg_current(&mut e8, 1));
    assert_eq!(WRAP8.read_current(), 1);
    // An indexed element: the _at forms.
    BIG.write_current(3, u32::MAX);
    assert_eq!(BIG.inc_return_current(3), 0);
    BIG.dec_current(3);
    let mut eb = u32::MAX;
    assert!(BIG.try_cmpxchg_current(3, &mut eb, 9));
    assert_eq!(BIG.add_return_current(3, 1), 10);
    GRID__h.write_current(19, 1);
    GRID__h.inc_current(19);
    assert_eq!(GRID__h.sub_return_current(19, 3), u16::MAX);
}
`;

/** Defines the leaf test's variables. */
function defineLeafVars(sdk: PercpuSdk): void {
  sdk.define("STATS", struct({ irqs: u64, hist: array(u16, 4) }), { irqs: 0, hist: [0, 0, 0, 0] });
  sdk.define("BIG", array(u32, 40), new Array(40).fill(1));
  sdk.define("GRID", array(struct({ h: u16, f: f64 }), 20), new Array(20).fill({ h: 1, f: 2.5 }));
  sdk.define("M", array(array(u8, 20), 18), new Array(18).fill(new Array(20).fill(3)));
  sdk.define("WRAP8", u8, 0);
  sdk.define("SIGNED", i16, 0, { counter: true });
}

for (const features of [[], ["naive"]] as const) {
  test(
    `rust: field, element and indexed leaves, inc/dec, _return (wrapping) and try_cmpxchg (hit, miss, retry) work on the current CPU and remotely (x86_64 user mode${
      features.length ? ", naive" : ""
    })`,
    async () => {
      await withTempDir("rust-leaves", async (dir) => {
        const sdk = createPercpu();
        defineLeafVars(sdk);
        const naive = features.length > 0;
        await buildGenerated(sdk, { arch: "x86_64", mode: "user", cpus: naive ? 1 : 4, features: [...features] }, dir);
        await writeFile(join(dir, "leaves.rs"), LEAVES_RS + THIS_CPU_OPS_RS);
        await runOk(await rustc(), [
          "--edition",
          "2021",
          "--test",
          ...cfgArgs(naive ? ["sp-naive"] : []),
          "leaves.rs",
          "-L",
          dir,
          "-l",
          "static=percpu",
          "-o",
          "leaves",
        ], {
          cwd: dir,
          timeoutMs: 120_000,
        });
        const r = await run(join(dir, "leaves"), ["--test-threads=1"], { cwd: dir });
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^test test_leaves \.\.\. ok$/m);
        assert.match(r.stdout, /^test test_this_cpu_ops \.\.\. ok$/m);
        assert.match(r.stdout, /^test result: ok\. 2 passed; 0 failed/m);
      });
    },
    { only: ["deno"], timeoutMs: 120_000 },
  );
}

/**
 * The u128 leaves on the host: a scalar, a struct field, an expanded and an indexed (20-element) array element;
 * values above 2^64 and 2^128 - 1; cmpxchg128 hit, miss by the high half only and by the low half only (the old value,
 * the copy unchanged); neighbours untouched; another CPU's copy written and read remotely and then as its current
 * copy; with preempt + irq not one guard hook call (x86_64: cmpxchg16b %gs:), naive guarded like every naive access.
 */
const U128_RS = `#[path = "percpu.rs"]
mod percpu;
use percpu::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[unsafe(no_mangle)]
pub extern "C" fn percpu_preempt_disable() {
    HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
}
#[unsafe(no_mangle)]
pub extern "C" fn percpu_preempt_enable() {
    HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
}
#[unsafe(no_mangle)]
pub extern "C" fn percpu_irq_save() -> usize {
    HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    0
}
#[unsafe(no_mangle)]
pub extern "C" fn percpu_irq_restore(_flags: usize) {
    HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
}

fn hook_calls() -> usize {
    HOOK_CALLS.load(Ordering::SeqCst)
}

/// Every op on one u128 leaf ($leaf, with index $i for an indexed one); \`seed\` makes the values the leaf's own.
macro_rules! u128_ops {
    ($leaf:expr $(, $i:expr)?; $seed:expr) => {{
        let a: u128 = (0x0123_4567_89ab_cdef_u128 << 64) ^ ((($seed as u128) << 70) | 0xfedc_ba98_7654_3210 | 1);
        assert!(a > u64::MAX as u128);
        $leaf.write_current($($i,)? a);
        assert_eq!($leaf.read_current($($i)?), a);
        assert_eq!(unsafe { $leaf.read_current_raw($($i)?) }, a);
        unsafe { $leaf.write_current_raw($($i,)? u128::MAX) };
        assert_eq!($leaf.read_current($($i)?), u128::MAX);
        // The hit stores desired and returns the old value; each miss returns the value and leaves it.
        assert_eq!($leaf.cmpxchg128_current($($i,)? u128::MAX, a), u128::MAX);
        assert_eq!($leaf.read_current($($i)?), a);
        assert_eq!($leaf.cmpxchg128_current($($i,)? a ^ (1 << 64), 5), a, "miss by the high half only");
        assert_eq!($leaf.read_current($($i)?), a);
        assert_eq!($leaf.cmpxchg128_current($($i,)? a ^ 1, u128::MAX), a, "miss by the low half only");
        assert_eq!(unsafe { $leaf.read_current_raw($($i)?) }, a);
        assert_eq!($leaf.cmpxchg128_current($($i,)? a, 0), a);
        assert_eq!($leaf.read_current($($i)?), 0);
        $leaf.write_current($($i,)? a);
        #[cfg(not(feature = "sp-naive"))]
        {
            // CPU 2's copy, remotely, then as the current copy of CPU 2.
            let b = a.rotate_left(37) | (1 << 127);
            unsafe { $leaf.remote_write(2, $($i,)? b) };
            assert_eq!(unsafe { $leaf.remote_read(2 $(, $i)?) }, b);
            assert_eq!(unsafe { $leaf.remote_read(0 $(, $i)?) }, a);
            assert_eq!($leaf.read_current($($i)?), a, "CPU 0's copy is untouched");
            init_percpu_reg(2);
            assert_eq!($leaf.read_current($($i)?), b);
            assert_eq!($leaf.cmpxchg128_current($($i,)? b, u128::MAX), b);
            init_percpu_reg(0);
            assert_eq!(unsafe { $leaf.remote_read(2 $(, $i)?) }, u128::MAX);
        }
        a
    }};
}

#[test]
fn test_u128() {
    assert!(init_in_place().is_ok());
    init_percpu_reg(0);
    assert_eq!(U_LONE.read_current(), 7);
    assert_eq!(U_SLOT__pair.read_current(), (1 << 100) + 3);
    assert_eq!(U_PAIRS__2.read_current(), 3);
    assert_eq!(U_RING.read_current(19), 19 << 70);
    let calls = hook_calls();
    let lone = u128_ops!(U_LONE; 1);
    let pair = u128_ops!(U_SLOT__pair; 2);
    let p1 = u128_ops!(U_PAIRS__1; 3);
    let r18 = u128_ops!(U_RING, 18; 4);
    let r0 = u128_ops!(U_RING, 0; 5);
    // Leaves guarded: naive always (plain memory), x86_64 never (single cmpxchg16b / movq forms).
    let used = hook_calls() - calls;
    if cfg!(feature = "sp-naive") {
        assert!(used > 0, "naive u128 ops take the guard");
    } else {
        assert_eq!(used, 0, "x86_64 u128 ops call no guard hook");
    }
    // The neighbours kept their values.
    assert_eq!(U_LONE.read_current(), lone);
    assert_eq!(U_SLOT.with_current(|s| (s.seq, s.pair)), (1, pair));
    assert_eq!(U_PAIRS.with_current(|p| *p), [1, p1, 3]);
    let ring = U_RING.with_current(|r| *r);
    for (i, v) in ring.iter().enumerate() {
        assert_eq!(*v, if i == 18 { r18 } else if i == 0 { r0 } else { (i as u128) << 70 }, "U_RING[{i}]");
    }
    assert!(std::panic::catch_unwind(|| U_RING.read_current(20)).is_err());
    U_RING.reset_to_init();
    assert_eq!(U_RING.read_current(18), 18 << 70);
}
`;

for (const features of [["preempt", "irq"], ["naive", "preempt"]] as const) {
  const naive = features[0] === "naive";
  test(
    `rust: u128 leaves (scalar, field, expanded and indexed elements) read, write, cmpxchg128 (hit, miss by either half) and reach other CPUs' copies, ${
      naive ? "naive: guarded" : "x86_64: no guard hook called"
    } (x86_64 user mode, ${features.join(" + ")})`,
    async () => {
      await withTempDir("rust-u128", async (dir) => {
        const sdk = createPercpu();
        sdk.define("U_LONE", u128, 7n);
        sdk.define("U_SLOT", struct({ seq: u64, pair: u128 }), { seq: 1n, pair: (1n << 100n) + 3n });
        sdk.define("U_PAIRS", array(u128, 3), [1n, 2n, 3n]);
        sdk.define("U_RING", array(u128, 20), Array.from({ length: 20 }, (_, i) => BigInt(i) << 70n));
        await buildGenerated(sdk, { arch: "x86_64", mode: "user", cpus: naive ? 1 : 4, features: [...features] }, dir);
        await writeFile(join(dir, "u128.rs"), U128_RS);
        await runOk(await rustc(), ["--edition", "2021", "--test", ...cfgArgs(naive ? ["sp-naive"] : []), "u128.rs", "-L", dir, "-l", "static=percpu", "-o", "u128"], {
          cwd: dir,
          timeoutMs: 120_000,
        });
        const r = await run(join(dir, "u128"), ["--test-threads=1"], { cwd: dir });
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^test test_u128 \.\.\. ok$/m);
        assert.match(r.stdout, /^test result: ok\. 1 passed; 0 failed/m);
      });
    },
    { only: ["deno"], timeoutMs: 120_000 },
  );
}

test("rust: optimised accessors are the shortest %gs forms, as in C (one instruction per access)", async () => {
  await withTempDir("rust-insn", async (dir) => {
    const sdk = createPercpu();
    defineSeedVars(sdk);
    sdk.define("HITS", u64, 0, { atomic: true });
    sdk.define("HOT", aligned(u64, 64), 9);
    sdk.define("BIG", array(u32, 40), new Array(40).fill(1));
    sdk.define("WIDE", u128, 0n);
    await buildGenerated(sdk, { arch: "x86_64", mode: "user" }, dir);
    const layout = sdk.layout("x86_64");
    const off = (name: string): string => `0x${layout.vars.find((v) => v.name === name)!.offset.toString(16)}`;
    await writeFile(
      join(dir, "probe.rs"),
      [
        "#![no_std]",
        '#[path = "percpu.rs"] pub mod percpu;',
        "use percpu::*;",
        "#[unsafe(no_mangle)] pub fn probe_read_u32() -> u32 { U32.read_current() }",
        "#[unsafe(no_mangle)] pub fn probe_read_u8() -> u8 { U8.read_current() }",
        "#[unsafe(no_mangle)] pub fn probe_write_u64(v: u64) { U64.write_current(v) }",
        "#[unsafe(no_mangle)] pub fn probe_add_u16(v: u16) { U16.add_current(v) }",
        "#[unsafe(no_mangle)] pub fn probe_add_hits(v: u64) { HITS.add_current(v) }",
        "#[unsafe(no_mangle)] pub fn probe_read_hot() -> u64 { HOT.read_current() }",
        "#[unsafe(no_mangle)] pub fn probe_cmpxchg_u32(e: u32, d: u32) -> u32 { U32.cmpxchg_current(e, d) }",
        "#[unsafe(no_mangle)] pub fn probe_read_big(i: usize) -> u32 { BIG.read_current(i) }",
        "#[unsafe(no_mangle)] pub fn probe_inc_u64() { U64.inc_current() }",
        "#[unsafe(no_mangle)] pub fn probe_dec_u16() { U16.dec_current() }",
        "#[unsafe(no_mangle)] pub fn probe_add_return_u32(v: u32) -> u32 { U32.add_return_current(v) }",
        "#[unsafe(no_mangle)] pub fn probe_inc_return_u64() -> u64 { U64.inc_return_current() }",
        "#[unsafe(no_mangle)] pub fn probe_try_cmpxchg_u64(e: &mut u64, d: u64) -> bool { U64.try_cmpxchg_current(e, d) }",
        "#[unsafe(no_mangle)] pub fn probe_ptr() -> *const STRUCT_T { unsafe { STRUCT.current_ptr() } }",
        "#[unsafe(no_mangle)] pub fn probe_cmpxchg128(e: u128, d: u128) -> u128 { WIDE.cmpxchg128_current(e, d) }",
        "#[unsafe(no_mangle)] pub fn probe_read128_raw() -> u128 { unsafe { WIDE.read_current_raw() } }",
        "",
      ].join("\n"),
    );
    await runOk(await rustc(), [
      "--edition",
      "2021",
      "--crate-type",
      "lib",
      "--emit=obj",
      "-C",
      "opt-level=2",
      "probe.rs",
      "-o",
      "probe.o",
    ], { cwd: dir });
    const fns = await disassemble(join(dir, "probe.o"), ["-M", "intel"]);
    const body = (name: string): string[] =>
      fns.get(name) ?? assert.fail(`${name} not found in ${[...fns.keys()].join(", ")}`);
    assert.deepEqual(body("probe_read_u32"), [`mov eax, dword ptr gs:[${off("U32")}]`, "ret"]);
    assert.deepEqual(body("probe_read_u8"), [`movzx eax, byte ptr gs:[${off("U8")}]`, "ret"]);
    assert.deepEqual(body("probe_write_u64"), [`mov qword ptr gs:[${off("U64")}], rdi`, "ret"]);
    assert.deepEqual(body("probe_add_u16"), [`add word ptr gs:[${off("U16")}], di`, "ret"]);
    assert.deepEqual(body("probe_add_hits"), [`lock add qword ptr gs:[${off("HITS")}], rdi`, "ret"]);
    assert.deepEqual(body("probe_read_hot"), [`mov rax, qword ptr gs:[${off("HOT")}]`, "ret"]);
    assert.deepEqual(body("probe_cmpxchg_u32"), ["mov eax, edi", `cmpxchg dword ptr gs:[${off("U32")}], esi`, "ret"]);
    // Issue 12's ops: inc/dec one %gs instruction, _return xadd + add, try_cmpxchg cmpxchg + sete (C: the ZF flag output).
    assert.deepEqual(body("probe_inc_u64"), [`inc qword ptr gs:[${off("U64")}]`, "ret"]);
    assert.deepEqual(body("probe_dec_u16"), [`dec word ptr gs:[${off("U16")}]`, "ret"]);
    const addReturn = body("probe_add_return_u32");
    assert.equal(addReturn.length, 4, addReturn.join("\n"));
    assert.equal(addReturn.filter((l) => l.startsWith("xadd dword ptr gs:[")).length, 1, addReturn.join("\n"));
    assert.equal(addReturn.filter((l) => /^(add|lea) /.test(l)).length, 1, addReturn.join("\n"));
    const incReturn = body("probe_inc_return_u64");
    assert.equal(incReturn.length, 4, incReturn.join("\n"));
    assert.equal(incReturn.filter((l) => l.startsWith("xadd qword ptr gs:[")).length, 1, incReturn.join("\n"));
    const tryCmpxchg = body("probe_try_cmpxchg_u64");
    console.log(`try_cmpxchg: ${tryCmpxchg.join("; ")}; add_return: ${addReturn.join("; ")}; inc_return: ${incReturn.join("; ")}`);
    // load *e; cmpxchg; sete; branch; store *e on failure; the bool (9 with ret; C's flag output saves the sete).
    assert.equal(tryCmpxchg.length, 9, tryCmpxchg.join("\n"));
    assert.equal(tryCmpxchg[1], `cmpxchg qword ptr gs:[${off("U64")}], rsi`, tryCmpxchg.join("\n"));
    assert.match(tryCmpxchg[2]!, /^sete /, tryCmpxchg.join("\n"));
    // A long array: the bounds check, then one scaled-index access (C's `%gs:off(,%rdi,4)`).
    const big = body("probe_read_big");
    const hot = big.slice(0, big.indexOf("ret") + 1);
    assert.equal(hot.length, 4, big.join("\n"));
    assert.equal(hot[0], "cmp rdi, 0x28");
    assert.match(hot[1]!, /^jae /);
    assert.equal(hot[2], `mov eax, dword ptr gs:[4*rdi + ${off("BIG")}]`);
    assert.deepEqual(body("probe_ptr"), ["mov rax, qword ptr gs:[0x0]", `add rax, ${off("STRUCT")}`, "ret"]);
    // u128: percpu.S's forms; cmpxchg128 one unlocked cmpxchg16b with rbx swapped through a scratch register.
    const cx128 = body("probe_cmpxchg128");
    console.log(`cmpxchg128: ${cx128.join("; ")}`);
    assert.deepEqual(cx128.filter((l) => l.includes("cmpxchg16b")), [`cmpxchg16b xmmword ptr gs:[${off("WIDE")}]`], cx128.join("\n"));
    assert.ok(!cx128.some((l) => /\block\b/.test(l)) && cx128.length === 7, cx128.join("\n"));
    assert.match(cx128[3]!, /^xchg \w+, rbx$|^xchg rbx, \w+$/, cx128.join("\n"));
    assert.deepEqual(body("probe_read128_raw"), [`mov rax, qword ptr gs:[${off("WIDE")}]`, `mov rdx, qword ptr gs:[0x${(layout.vars.find((v) => v.name === "WIDE")!.offset + 8).toString(16)}]`, "ret"]);
  });
}, { only: ["deno"], timeoutMs: 120_000 });

test(
  "rust: kernel-mode, naive and rich-type percpu.rs compile warning-free (editions 2021 and 2024) with their layout asserts (structs, arrays, aligned, keyword fields)",
  async () => {
    await withTempDir("rust-kernel", async (dir) => {
      const sdk = createPercpu();
      defineSeedVars(sdk);
      sdk.define("I8", i8, -1);
      sdk.define("I16", i16, -3);
      sdk.define("F32", f32, 1.5);
      sdk.define("HOT", aligned(u64, 64), 9);
      sdk.define("BIG", array(u32, 40), new Array(40).fill(1));
      sdk.define("ST", aligned(struct({ type: array(u32, 3), inner: struct({ a: u8, b: aligned(u16, 8) }) }), 128), {
        type: [1, 2, 3],
        inner: { a: 1, b: 2 },
      });
      const configs = [["kernel", ["preempt", "irq"]], ["kernel", []], ["user", ["irq"]], ["user", ["naive"]], [
        "kernel",
        ["naive", "preempt"],
      ]] as const;
      for (const [mode, features] of configs) {
        const naive = (features as readonly string[]).includes("naive");
        await buildGenerated(sdk, { arch: "x86_64", mode, cpus: naive ? 1 : 4, features: [...features] }, dir);
        const rs = await readFile(join(dir, "percpu.rs"), "utf8");
        assert.match(rs, /const _: \(\) = assert!\(core::mem::offset_of!\(ST_T__V, r#type\) == 0\);/);
        assert.match(
          rs,
          /#\[repr\(C, align\(128\)\)\]\n#\[derive\(Clone, Copy, Debug, PartialEq\)\]\npub struct ST_T\(pub ST_T__V\);/,
        );
        await writeFile(join(dir, "lib.rs"), '#![no_std]\n#[path = "percpu.rs"] pub mod percpu;\n');
        for (const edition of ["2021", "2024"]) {
          const r = await run(await rustc(), [
            "--edition",
            edition,
            "--crate-type",
            "lib",
            "--emit=obj",
            "-D",
            "warnings",
            "lib.rs",
            "-o",
            "lib.o",
          ], { cwd: dir, timeoutMs: 120_000 });
          assert.equal(r.code, 0, `${mode} ${features.join(",")}, edition ${edition}: rustc failed:\n${r.stderr}`);
        }
      }
      // The asserts are live: a layout that disagrees with Rust's does not compile.
      const rs = await readFile(join(dir, "percpu.rs"), "utf8");
      const wrong = rs.replace(
        "assert!(core::mem::size_of::<ST_T>() == 128);",
        "assert!(core::mem::size_of::<ST_T>() == 64);",
      );
      assert.notEqual(wrong, rs);
      await writeFile(join(dir, "percpu.rs"), wrong);
      const r = await run(await rustc(), [
        "--edition",
        "2021",
        "--crate-type",
        "lib",
        "--emit=obj",
        "lib.rs",
        "-o",
        "lib.o",
      ], { cwd: dir, timeoutMs: 120_000 });
      assert.notEqual(r.code, 0, "a wrong size assert fails the build");
      assert.match(r.stderr, /size_of::<ST_T>\(\) == 64/);
    });
  },
  { only: ["deno"], timeoutMs: 240_000 },
);

test("rust: emitRust refuses what it cannot generate (riscv32, user mode off x86_64, fields Rust cannot name)", () => {
  const sdk = createPercpu();
  defineSeedVars(sdk);
  const refused = (fn: () => unknown): void =>
    assert.throws(fn, (e: unknown) => e instanceof PercpuError && e.code === "options_invalid");
  refused(() => emitRust(generatorInput(sdk.layout("riscv32"), resolveConfig({ arch: "riscv32" }))));
  assert.throws(
    () => emitRust(generatorInput(sdk.layout("riscv32"), resolveConfig({ arch: "riscv32" }))),
    /percpu\.rs for riscv32: the Rust module supports the 64-bit targets/,
  );
  refused(() => emitRust(generatorInput(sdk.layout("aarch64"), resolveConfig({ arch: "aarch64", mode: "user" }))));
  // The 64-bit kernel targets are generated.
  for (const arch of ["aarch64", "riscv64", "loongarch64"] as const) {
    assert.match(emitRust(generatorInput(sdk.layout(arch), resolveConfig({ arch }))), /pub static U64: U64_WRAPPER/);
  }
  const odd = createPercpu();
  odd.define("S", struct({ self: u8 }), { self: 1 });
  refused(() => emitRust(generatorInput(odd.layout("x86_64"), resolveConfig({ arch: "x86_64", mode: "user" }))));
});

test("percpu gen --rust (child process) writes percpu.rs, which rustc builds with percpu.S; without --rust there is none", async () => {
  await withTempDir("rust-cli", async (dir) => {
    const r = await percpu(selfEntry(), ["gen", KERNEL, "--arch", "x86_64", "--mode", "user", "--rust", "--out", join(dir, "gen")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /percpu\.rs \(\d+ bytes\)/);
    await runOk("cc", ["-c", join(dir, "gen", "percpu.S"), "-o", join(dir, "percpu.o")]);
    await runOk("ar", ["rcs", join(dir, "libpercpu.a"), join(dir, "percpu.o")]);
    // A crate that uses the module the way a seed user's kernel does.
    await writeFile(join(dir, "lib.rs"), `#![no_std]\n#[path = "gen/percpu.rs"]\nmod percpu;\npub fn cpu_id() -> u32 { percpu::CPU_ID.read_current() }\n`);
    await runOk(await rustc(), ["--edition", "2021", "--crate-type", "rlib", "-D", "warnings", "lib.rs", "-L", dir, "-l", "static=percpu"], { cwd: dir });
    const plain = await percpu(selfEntry(), ["gen", KERNEL, "--arch", "x86_64", "--mode", "user", "--out", join(dir, "plain")]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, /percpu\.rs/);
  });
  // The kernel targets: the CLI writes their percpu.rs too (tests/rust_firmware_test.ts builds and boots them).
  await withTempDir("rust-cli-kernel", async (dir) => {
    for (const arch of ["aarch64", "riscv64", "loongarch64"]) {
      const r = await percpu(selfEntry(), ["gen", KERNEL, "--arch", arch, "--preempt", "--rust", "--out", join(dir, arch)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /percpu\.rs \(\d+ bytes\)/);
    }
  });
  await withTempDir("rust-cli-never", async (dir) => {
    assertOneError(await percpu(selfEntry(), ["gen", KERNEL, "--arch", "riscv32", "--rust", "--out", join(dir, "never")]), 1, "options_invalid", /percpu\.rs for riscv32/);
  });
}, { only: ["deno"] });
