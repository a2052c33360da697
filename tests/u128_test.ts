/**
 * The `u128` scalar: its layout against clang-19 on every 64-bit target
 * (`unsigned __int128`: size 16, align 16), its values (bigints of
 * 0..2^128 − 1, two little-endian 64-bit halves), its ops in the catalog
 * (reads, writes and `cmpxchg128_current`, no integer RMW), the clear
 * `type_not_on_target` refusals (riscv32 at layout time: no 128-bit C type),
 * and every lowering, measured and run: percpu.h's generic accessors and the
 * percpu.S functions on each 64-bit arch (natively on the host, under QEMU
 * on 4 CPUs, through FFI).
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { array, createPercpu, decodeValue, encodeValue, PercpuError, struct, type Target, u128, u64, u8 } from "../mod.ts";
import { LEAF_OP_SPECS } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { exerciseU128, U128_BIG, type U128Handle, U128_MAX } from "./_u128_fixture.ts";
import { withTempDir } from "./_tmp.ts";
import { firmwareFlags } from "../firmware/build.ts";
import { bodyLength, CLANG, disassemble, run, runOk } from "./_toolchain.ts";

/** The 64-bit kernel targets and their clang-19 flags. */
const TARGETS_64: Readonly<Record<Exclude<Target, "riscv32">, readonly string[]>> = {
  x86_64: ["--target=x86_64-unknown-none-elf"],
  aarch64: ["--target=aarch64-unknown-none-elf"],
  riscv64: ["--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64"],
  loongarch64: ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s"],
};

const MAX = U128_MAX;

/** Asserts `f` throws a PercpuError with `code` whose message contains every one of `parts`. */
function assertRefused(f: () => unknown, code: string, parts: readonly string[]): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof PercpuError, String(e));
    assert.equal(e.code, code);
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(p)} in ${e.message}`);
    return true;
  });
}

test("u128 layout (offsets, size, alignment) agrees with clang-19's unsigned __int128 on x86_64, aarch64, riscv64, loongarch64", async () => {
  await withTempDir("percpu-u128-layout-", async (dir) => {
    for (const [target, flags] of Object.entries(TARGETS_64) as [Target, readonly string[]][]) {
      const sdk = createPercpu();
      sdk.define("PAIR", struct({ tag: u8, v: u128, n: u64, more: array(u128, 3) }), { tag: 1, v: MAX, n: 2n, more: [0n, 1n << 64n, 5n] });
      sdk.define("LONE", u128, 7n);
      const layout = sdk.layout(target);
      const [pair, lone] = layout.vars as [typeof layout.vars[0], typeof layout.vars[0]];
      const c = [
        "#include <stddef.h>",
        "#include <stdint.h>",
        "struct pair { uint8_t tag; unsigned __int128 v; uint64_t n; unsigned __int128 more[3]; };",
        "struct area { uint8_t pad_; struct pair PAIR; unsigned __int128 LONE; };",
        `_Static_assert(sizeof(unsigned __int128) == 16 && _Alignof(unsigned __int128) == 16, "u128");`,
        `_Static_assert(offsetof(struct pair, v) == 16 && offsetof(struct pair, n) == 32 && offsetof(struct pair, more) == 48, "fields");`,
        `_Static_assert(sizeof(struct pair) == ${pair.size} && _Alignof(struct pair) == ${pair.align}, "pair");`,
        `_Static_assert(sizeof(unsigned __int128) == ${lone.size} && _Alignof(unsigned __int128) == ${lone.align}, "lone");`,
        "",
      ].join("\n");
      const file = join(dir, `${target}.c`);
      await writeFile(file, c);
      const r = await run(CLANG, [...flags, "-ffreestanding", "-fsyntax-only", file]);
      assert.equal(r.code, 0, `${target}: ${r.stderr}`);
      // Our own figures match what clang asserted.
      assert.deepEqual([pair.size, pair.align, lone.size, lone.align], [96, 16, 16, 16], target);
      assert.equal(lone.offset % 16, 0, `${target}: LONE is 16-byte aligned in the area`);
    }
  });
});

test("u128 values: bigints 0..2^128-1 encode as two little-endian 64-bit halves and decode back; out of range is refused", () => {
  for (const v of [0n, 1n, (1n << 64n) - 1n, 1n << 64n, (1n << 64n) + 5n, 0x0123456789abcdef_fedcba9876543210n, MAX]) {
    const bytes = encodeValue(u128, v, "x86_64");
    assert.equal(bytes.length, 16);
    const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
    assert.equal(view.getBigUint64(0, true), v & ((1n << 64n) - 1n), `low half of ${v}`);
    assert.equal(view.getBigUint64(8, true), v >> 64n, `high half of ${v}`);
    assert.equal(decodeValue(u128, bytes, "aarch64"), v);
  }
  assert.equal(decodeValue(u128, encodeValue(u128, 42, "riscv64"), "riscv64"), 42n, "a safe-integer number is accepted");
  assertRefused(() => encodeValue(u128, MAX + 1n, "x86_64", ["X"]), "init_out_of_range", ["X", String(MAX + 1n), "u128"]);
  assertRefused(() => encodeValue(u128, -1n, "x86_64", ["X"]), "init_out_of_range", ["X", "u128"]);
  assertRefused(() => encodeValue(u128, 2 ** 60, "x86_64", ["X"]), "init_unsafe_number", ["X"]);
  assertRefused(() => encodeValue(u128, 1.5, "x86_64", ["X"]), "init_not_integer", ["X"]);
});

test("u128 ops in the catalog: the six reads and writes plus cmpxchg128_current (guard class this_cpu), no integer RMW, no sum", () => {
  const ops = leafOps("u128");
  assert.deepEqual(ops, [...leafOps("bool"), "cmpxchg128_current"]);
  assert.ok(!(leafOps("u64") as readonly string[]).includes("cmpxchg128_current"), "u64 has no cmpxchg128");
  const spec = LEAF_OP_SPECS.cmpxchg128_current;
  assert.equal(spec.guard, "this_cpu");
  assert.equal(spec.js, "cmpxchg128Current");
  // The model compares all 128 bits: a value differing only in the high half misses.
  const old = (1n << 64n) | 7n;
  assert.deepEqual(spec.model(old, [old, MAX], MAX), { value: MAX, result: old });
  assert.deepEqual(spec.model(old, [7n, MAX], MAX), { value: old, result: old });
});

test("riscv32 refuses u128 at layout time, naming the variable and the field", () => {
  const sdk = createPercpu();
  sdk.define("OK", u64, 0);
  sdk.define("PAIRS", struct({ n: u64, v: array(u128, 2) }), { n: 0n, v: [0n, 0n] });
  assertRefused(() => sdk.layout("riscv32"), "type_not_on_target", ['"PAIRS"', "v[0]", "u128", "riscv32"]);
  // The 64-bit targets lay it out.
  assert.equal(sdk.layout("riscv64").vars.length, 2);
});

test("every 64-bit target generates u128 leaves with and without functions, and with percpu.rs (no refusal left but riscv32's at layout)", () => {
  for (const arch of ["aarch64", "riscv64", "loongarch64", "x86_64"] as const) {
    const sdk = createPercpu();
    sdk.define("HITS", u64, 0);
    sdk.define("SLOT", struct({ seq: u64, pair: u128 }), { seq: 0n, pair: 0n });
    for (const functions of [false, true]) {
      // Built, run and measured by the tests below and by tests/rust_host_test.ts / tests/rust_firmware_test.ts.
      const gen = sdk.generate({ arch, cpus: 2, functions, rust: true });
      assert.ok(gen.files["percpu.h"].includes("#define PERCPU_L_SLOT__pair unsigned __int128, pk_u128,"), `${arch} functions=${functions}`);
      assert.ok(gen.files["percpu.rs"] !== undefined, arch);
    }
  }
});

/**
 * A host program over percpu.h's generic u128 accessors only (no per-variable
 * functions): every position, every op, values above 2^64 and 2^128 - 1,
 * checked against C's own unsigned __int128 arithmetic; the guard hooks count
 * their calls (none from the u128 accessors on x86_64; `reset_to_init`, a
 * copy, always takes the guard). Prints failures, then `ok N fails F hooks H reset_hooks R`.
 */
const U128_HOST_PROGRAM = String.raw`
#include <stdio.h>
#include "percpu.h"
typedef unsigned __int128 u128;
static int fails, checks, hooks;
void percpu_preempt_disable(void) { hooks++; }
void percpu_preempt_enable(void) { hooks++; }
uintptr_t percpu_irq_save(void) { hooks++; return 0; }
void percpu_irq_restore(uintptr_t f) { (void)f; hooks++; }
static void check(const char *what, int line, u128 got, u128 want) {
  checks++;
  if (got != want) { fails++; printf("FAIL %s (line %d): got %016llx%016llx want %016llx%016llx\n", what, line, (unsigned long long)(got >> 64), (unsigned long long)got, (unsigned long long)(want >> 64), (unsigned long long)want); }
}
#define CHECK(what, got, want) check(what, __LINE__, (got), (want))
#define MAX128 (~(u128)0)
static const u128 BIG = ((u128)0x0123456789abcdefull << 64) | 0xfedcba9876543210ull;
/* One leaf through every generic accessor: plain leaves (percpu_<op>) and indexed ones (percpu_<op>_at, element i). */
#define EXERCISE(X, AT, ...) do { \
  const u128 vals[] = { MAX128, BIG, (u128)1 << 64, ((u128)1 << 64) - 1, 0 }; \
  for (unsigned n = 0; n < sizeof vals / sizeof vals[0]; n++) { \
    u128 v = vals[n]; \
    percpu_write_current##AT(X, v __VA_ARGS__); CHECK(#X " read", percpu_read_current##AT(X __VA_ARGS__), v); \
    CHECK(#X " read_raw", percpu_read_current_raw##AT(X __VA_ARGS__), v); \
    CHECK(#X " remote_read self", percpu_remote_read##AT(X, 2 __VA_ARGS__), v); \
    percpu_write_current_raw##AT(X, v ^ MAX128 __VA_ARGS__); CHECK(#X " write_raw", percpu_read_current##AT(X __VA_ARGS__), v ^ MAX128); \
    percpu_remote_write##AT(X, 1, v __VA_ARGS__); CHECK(#X " remote_write", percpu_remote_read##AT(X, 1 __VA_ARGS__), v); \
    CHECK(#X " cmpxchg hit", percpu_cmpxchg128_current##AT(X, v ^ MAX128, BIG __VA_ARGS__), v ^ MAX128); \
    CHECK(#X " hit stores", percpu_read_current##AT(X __VA_ARGS__), BIG); \
    CHECK(#X " miss high", percpu_cmpxchg128_current##AT(X, BIG ^ ((u128)1 << 64), MAX128 __VA_ARGS__), BIG); \
    CHECK(#X " miss low", percpu_cmpxchg128_current##AT(X, BIG ^ 1, MAX128 __VA_ARGS__), BIG); \
    CHECK(#X " misses store nothing", percpu_read_current##AT(X __VA_ARGS__), BIG); \
  } \
  percpu_init_reg(1); CHECK(#X " other CPU keeps its copy", percpu_read_current##AT(X __VA_ARGS__), 0); percpu_init_reg(2); \
} while (0)
int main(void) {
  CHECK("init", percpu_init_in_place(), 4);
  percpu_init_reg(2);
  CHECK("initial", percpu_read_current(U_LONE), 7);
  CHECK("initial field", percpu_read_current(U_SLOT__pair), ((u128)1 << 100) + 3);
  CHECK("initial at", percpu_read_current_at(U_RING, 19), (u128)19 << 70);
  EXERCISE(U_LONE, );
  EXERCISE(U_SLOT__pair, );
  EXERCISE(U_PAIRS__2, );
  for (uintptr_t i = 0; i < 20; i += 19) EXERCISE(U_RING, _at, , i);
  CHECK("neighbour u64 untouched", percpu_read_current(U_SLOT__seq), 1);
  CHECK("neighbour element untouched", percpu_read_current(U_PAIRS__1), 2);
  CHECK("ring element between untouched", percpu_read_current_at(U_RING, 7), (u128)7 << 70);
  CHECK("typed pointer", percpu_current_ptr(U_SLOT)->pair, BIG);
  int accessor_hooks = hooks;
  percpu_reset_to_init(U_SLOT); /* a copy: always inside the guard, so the hooks are live when the features are on */
  CHECK("reset", percpu_read_current(U_SLOT__pair), ((u128)1 << 100) + 3);
  printf("ok %d fails %d hooks %d reset_hooks %d\n", checks, fails, accessor_hooks, hooks - accessor_hooks);
  return fails != 0;
}
`;

for (const opt of ["-O0", "-O2"]) {
  test(`percpu.h's generic u128 accessors (no per-variable functions) compute what C computes, run natively on the host (x86_64 user mode, cc ${opt}, with and without preempt + irq: no hook called)`, async () => {
    for (const features of [[], ["preempt", "irq"]] as const) {
      const sdk = createPercpu();
      defineU128(sdk);
      await withTempDir("percpu-u128-host-", async (dir) => {
        await sdk.generate({ arch: "x86_64", mode: "user", cpus: 4, functions: false, features: [...features] }).write(dir);
        await writeFile(join(dir, "main.c"), U128_HOST_PROGRAM);
        await runOk("cc", [opt, "-Wall", "-Werror", "-o", "host", "main.c", "percpu.S"], { cwd: dir });
        const r = await run(join(dir, "host"), []);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        // 4 initial checks + 5 leaves x (5 values x 10 + 1) + 4 neighbour/pointer checks + the reset.
        assert.match(r.stdout, new RegExp(`^ok 264 fails 0 hooks 0 reset_hooks ${features.length === 0 ? 0 : 4}$`, "m"), r.stdout);
      });
    }
  });
}

/** One C function per u128 accessor of percpu.h on a plain leaf (X) and an indexed one (RING, element i). */
const U128_HEADER_SOURCE = `#include "percpu.h"
typedef unsigned __int128 u128;
u128 t_read_current(void) { return percpu_read_current(U_LONE); }
u128 t_read_current_raw(void) { return percpu_read_current_raw(U_LONE); }
void t_write_current(u128 v) { percpu_write_current(U_LONE, v); }
void t_write_current_raw(u128 v) { percpu_write_current_raw(U_LONE, v); }
u128 t_cmpxchg128_current(u128 e, u128 d) { return percpu_cmpxchg128_current(U_LONE, e, d); }
u128 t_cmpxchg128_current_at(uintptr_t i, u128 e, u128 d) { return percpu_cmpxchg128_current_at(U_RING, e, d, i); }
u128 t_remote_read(uintptr_t c) { return percpu_remote_read(U_LONE, c); }
`;

/** The measured columns of the u128 accessor table: arch, features, and the mnemonics clang-19 -O2 gives (no return). */
const U128_HEADER_FORMS = [
  {
    arch: "x86_64", lse: false, forms: {
      read_current: ["pushq", "xorl", "xorl", "xorl", "xorl", "cmpxchg16b", "popq"],
      read_current_raw: ["movq", "movq"],
      write_current: ["pushq", "movq", "movq", "movq", "movq", "cmpxchg16b", "jne", "popq"],
      write_current_raw: ["movq", "movq"],
      cmpxchg128_current: ["pushq", "movq", "movq", "movq", "cmpxchg16b", "popq"],
    },
  },
  {
    arch: "aarch64", lse: false, forms: {
      read_current: ["mrs", "add", "ldxp", "stxp", "cbnz"],
      read_current_raw: ["mrs", "ldp"],
      write_current: ["mrs", "add", "ldxp", "stxp", "cbnz"],
      write_current_raw: ["mrs", "stp"],
      cmpxchg128_current: ["mrs", "add", "ldxp", "cmp", "ccmp", "b.ne", "stxp", "cbnz", "b", "stxp", "cbnz", "mov", "mov"],
    },
  },
  { arch: "aarch64", lse: true, forms: { cmpxchg128_current: ["mrs", "add", "casp"] } },
  {
    arch: "riscv64", lse: false, forms: {
      read_current: ["ld", "ld"],
      read_current_raw: ["ld", "ld"],
      write_current: ["sd", "sd"],
      write_current_raw: ["sd", "sd"],
      cmpxchg128_current: ["ld", "ld", "xor", "xor", "or", "bnez", "sd", "sd", "mv", "mv"],
    },
  },
  {
    arch: "loongarch64", lse: false, forms: {
      read_current: ["ld.d", "ld.d"],
      read_current_raw: ["ld.d", "ld.d"],
      write_current: ["st.d", "st.d"],
      write_current_raw: ["st.d", "st.d"],
      cmpxchg128_current: ["move", "ld.d", "ld.d", "xor", "xor", "or", "bnez", "st.d", "st.d", "move", "move"],
    },
  },
] as const;

/** The generated percpu.h (kernel mode, no per-variable functions) of the u128 fixture, compiled and disassembled with relocations. */
async function u128HeaderDisassembly(dir: string, arch: Exclude<Target, "riscv32">, features: readonly ("preempt" | "lse")[]): Promise<Map<string, string[]>> {
  const sdk = createPercpu();
  sdk.define("PAD", u64, 0);
  defineU128(sdk);
  await sdk.generate({ arch, cpus: 4, functions: false, features: [...features] }).write(dir);
  await writeFile(join(dir, "t.c"), U128_HEADER_SOURCE);
  const r = await run(CLANG, [...firmwareFlags(arch), "-fomit-frame-pointer", "-c", "t.c", "-o", "t.o"], { cwd: dir });
  assert.equal(r.code, 0, `${arch} [${features.join(",")}]:\n${r.stderr}`);
  return disassemble(join(dir, "t.o"), ["-r"]);
}

test("percpu.h's generic u128 accessors, measured (clang-19 -O2, kernel mode, no per-variable functions): cmpxchg16b %gs: without lock, ldxp/stxp or casp, two 8-byte accesses elsewhere; guarded where the README says", async () => {
  for (const { arch, lse, forms } of U128_HEADER_FORMS) {
    for (const preempt of [false, true]) {
      const features = [...(preempt ? ["preempt"] as const : []), ...(lse ? ["lse"] as const : [])];
      await withTempDir("percpu-u128-h-", async (dir) => {
        const dis = await u128HeaderDisassembly(dir, arch, features);
        const fn = (name: string): string[] => dis.get(`t_${name}`) ?? assert.fail(`${arch}: t_${name} not found`);
        const hooked = (name: string): boolean => fn(name).some((l) => /^R_/.test(l) && l.includes("percpu_preempt_disable"));
        for (const [op, want] of Object.entries(forms)) {
          const insns = fn(op).filter((l) => !/^R_/.test(l));
          if (!preempt) assert.deepEqual(insns.slice(0, bodyLength(insns)).map((i) => i.split(" ")[0]), want, `${arch}${lse ? "+lse" : ""} ${op}: ${insns.join("; ")}`);
          // x86_64's forms are single %gs: instructions (or a cmpxchg16b loop on one): never guarded. Elsewhere the
          // current-CPU ops whose result must be this CPU's take the guard, the raw ones never.
          const guarded = arch !== "x86_64" && !op.endsWith("_raw");
          assert.equal(hooked(op), preempt && guarded, `${arch}${lse ? "+lse" : ""} ${op} with preempt=${preempt}: ${fn(op).join("; ")}`);
        }
        if (arch === "x86_64" && !preempt) {
          for (const op of ["read_current", "write_current", "cmpxchg128_current", "cmpxchg128_current_at"]) {
            const cx = fn(op).filter((i) => i.startsWith("cmpxchg16b"));
            assert.equal(cx.length, 1, `${op}: ${fn(op).join("; ")}`);
            assert.match(cx[0]!, /%gs:/, `${op}: a %gs:-relative operand`);
            assert.ok(!fn(op).some((i) => /^lock\b/.test(i)), `${op}: no lock prefix (this CPU only, as this_cpu_cmpxchg128)`);
          }
        }
        if (arch === "aarch64" && lse && !preempt) assert.ok(!fn("cmpxchg128_current_at").some((i) => /^(ldxp|stxp)/.test(i)), "lse: casp, no LL/SC loop");
      });
    }
  }
  // The README's table of these accessors is this measurement: per arch the counts of cmpxchg128 (and with lse),
  // read_current / write_current and the raw read / write, each the first number of its cell (or half cell).
  const readme = await readFile(join(dirname(fileURLToPath(import.meta.url)), "..", "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("| arch | `percpu_cmpxchg128_current(X, old, new)` |"));
  const first = (cell: string): number => Number(/\d+/.exec(cell)?.[0] ?? NaN);
  for (const { arch, lse, forms } of U128_HEADER_FORMS) {
    const row = table.split("\n").find((l) => l.startsWith(`| ${arch} |`));
    assert.ok(row, `README: no row for ${arch}`);
    const [cx, rw, raw] = row.split(" | ").slice(1, 4) as [string, string, string];
    if (lse) {
      assert.equal(Number(/`lse`: (\d+)/.exec(cx)?.[1]), forms.cmpxchg128_current.length, `README ${arch} lse cmpxchg128: ${cx}`);
      continue;
    }
    const f = forms as Record<string, readonly string[]>;
    const cells = [["cmpxchg128_current", cx], ["read_current", rw.split(" / ")[0]!], ["write_current", rw.split(" / ")[1]!], ["read_current_raw", raw.split(" / ")[0]!], [
      "write_current_raw",
      raw.split(" / ")[1]!,
    ]] as const;
    for (const [op, cell] of cells) assert.equal(first(cell), f[op]!.length, `README ${arch} ${op}: ${cell}`);
  }
});

/** Four CPUs' worth of u128 variables at every kind of position: a scalar, a struct field, an expanded and an indexed array. */
function defineU128(sdk: ReturnType<typeof createPercpu>) {
  return {
    LONE: sdk.define("U_LONE", u128, 7n),
    SLOT: sdk.define("U_SLOT", struct({ seq: u64, pair: u128 }), { seq: 1n, pair: (1n << 100n) + 3n }),
    PAIRS: sdk.define("U_PAIRS", array(u128, 3), [1n, 2n, 3n]),
    RING: sdk.define("U_RING", array(u128, 20), Array.from({ length: 20 }, (_, i) => BigInt(i) << 70n)),
  };
}

test("u128 through FFI (x86_64 user mode): reads, writes, remote access and cmpxchg128Current hit and miss, above 2^64 and at 2^128-1, with no guard hook called", async () => {
  for (const features of [[], ["preempt", "irq"]] as const) {
    const sdk = createPercpu();
    const { LONE, SLOT, PAIRS, RING } = defineU128(sdk);
    await sdk.load({ cpus: 2, features: [...features] });
    try {
      sdk.init(2);
      sdk.initPercpuReg(0);
      assert.equal(LONE.readCurrent(), 7n);
      assert.deepEqual(SLOT.readCurrent(), { seq: 1n, pair: (1n << 100n) + 3n });
      assert.deepEqual(PAIRS.remoteRead(1), [1n, 2n, 3n]);
      assert.equal(RING.at(19).readCurrent(), 19n << 70n);
      // Typed without casts: a u128 leaf handle has cmpxchg128Current returning a bigint.
      const found: bigint = RING.at(1).cmpxchg128Current(0n, 5n);
      assert.equal(found, 1n << 70n, "a miss on the indexed element");
      sdk.resetHookCounts();
      const big = U128_BIG;
      const handles = [LONE, SLOT.field("pair"), PAIRS.at(2), RING.at(17)] as unknown as readonly U128Handle[];
      for (const h of handles) exerciseU128(h, 0, 1);
      assert.equal(SLOT.field("seq").readCurrent(), 1n, "the u64 beside the u128 is untouched");
      SLOT.writeCurrent({ seq: 9n, pair: MAX - 1n });
      assert.deepEqual(SLOT.remoteRead(0), { seq: 9n, pair: MAX - 1n });
      const hooks = sdk.hookCounts();
      assert.deepEqual([hooks.preemptDisable, hooks.irqSave], [0, 0], `${features.join("+") || "no features"}: cmpxchg16b needs no guard`);
      // Arguments are checked like any integer's: out of range or not an integer throws and changes nothing.
      assertRefused(() => LONE.writeCurrent(MAX + 1n), "value_out_of_range", ["U_LONE", "u128"]);
      assertRefused(() => LONE.cmpxchg128Current(-1n, 0n), "value_out_of_range", ["U_LONE"]);
      assertRefused(() => LONE.cmpxchg128Current(0n, 1.5), "value_wrong_kind", ["U_LONE"]);
      assert.equal(LONE.readCurrent(), big);
      assert.throws(() => (SLOT.field("seq") as unknown as { cmpxchg128Current(a: bigint, b: bigint): bigint }).cmpxchg128Current(0n, 0n), TypeError);
      assert.throws(() => (LONE as unknown as { addCurrent(v: bigint): void }).addCurrent(1n), /not an integer variable/, "no integer RMW on u128");
      assert.equal((SLOT.field("pair") as unknown as { addCurrent?: unknown }).addCurrent, undefined, "a u128 leaf handle has no integer RMW");
      assert.equal((SLOT.field("pair") as unknown as { sum?: unknown }).sum, undefined, "nor sum()");
    } finally {
      sdk.close();
    }
  }
});

test("u128 x86_64 functions, measured (clang-19 + llvm-objdump-19): cmpxchg128 is push/movs/cmpxchg16b %gs:/pop, reads and writes as documented", async () => {
  const sdk = createPercpu();
  defineU128(sdk);
  const gen = sdk.generate({ arch: "x86_64", cpus: 2, functions: true });
  await withTempDir("percpu-u128-counts-", async (dir) => {
    await writeFile(join(dir, "percpu.S"), gen.files["percpu.S"]);
    const r = await run(CLANG, ["--target=x86_64-unknown-none-elf", "-c", "percpu.S", "-o", "percpu.o"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const dis = await disassemble(join(dir, "percpu.o"));
    const body = (op: string): string[] => dis.get(`percpu_U_LONE_${op}`)!.slice(0, -1);
    const cx = body("cmpxchg128_current");
    assert.deepEqual(cx.map((i) => i.split(" ")[0]), ["pushq", "movq", "movq", "movq", "cmpxchg16b", "popq"], cx.join("; "));
    assert.match(cx[4]!, /^cmpxchg16b %gs:0x[0-9a-f]+$/, "unlocked, %gs-relative");
    assert.equal(body("read_current_raw").length, 2);
    assert.equal(body("remote_read").length, 4, "cpu * stride, + base, then two loads");
    assert.deepEqual(body("read_current").map((i) => i.split(" ")[0]), ["pushq", "xorl", "xorl", "xorl", "xorl", "cmpxchg16b", "popq"]);
    assert.deepEqual(body("write_current").map((i) => i.split(" ")[0]), ["pushq", "movq", "movq", "movq", "movq", "cmpxchg16b", "jne", "popq"]);
    assert.ok(!gen.files["percpu.S"].includes("lock cmpxchg16b"), "no lock prefix on the current CPU's copy");
  });
});

test("u128 aarch64 functions, measured: cmpxchg128 is the ARMv8.0 ldxp/cmp/ccmp/stxp loop (stxp of the old value on a miss), one casp with lse", async () => {
  const sdk = createPercpu();
  defineU128(sdk);
  await withTempDir("percpu-u128-a64-", async (dir) => {
    const forms = new Map<string, Map<string, string[]>>();
    for (const lse of [false, true]) {
      const gen = sdk.generate({ arch: "aarch64", cpus: 2, functions: true, features: lse ? ["lse"] : [] });
      await writeFile(join(dir, "percpu.S"), gen.files["percpu.S"]);
      const r = await run(CLANG, ["--target=aarch64-unknown-none-elf", "-c", "percpu.S", "-o", `p${lse}.o`], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      forms.set(String(lse), await disassemble(join(dir, `p${lse}.o`)));
    }
    const ops = (lse: boolean, fn: string): string[] => forms.get(String(lse))!.get(fn)!.slice(0, -1).map((i) => i.split(" ")[0]!);
    assert.deepEqual(ops(false, "percpu_U_LONE_cmpxchg128_current"), ["mrs", "ldxp", "cmp", "ccmp", "b.ne", "stxp", "cbnz", "b", "stxp", "cbnz", "mov", "mov"]);
    assert.deepEqual(ops(true, "percpu_U_LONE_cmpxchg128_current"), ["mrs", "casp"], "expected already in x0:x1, the result pair");
    assert.deepEqual(ops(true, "percpu_U_RING_cmpxchg128_current"), ["mrs", "add", "add", "casp", "mov", "mov"], "indexed: expected in x2:x3");
    assert.deepEqual(ops(false, "percpu_U_LONE_read_current"), ["mrs", "ldxp", "stxp", "cbnz"]);
    assert.deepEqual(ops(false, "percpu_U_LONE_write_current"), ["mrs", "ldxp", "stxp", "cbnz"]);
    assert.deepEqual(ops(false, "percpu_U_LONE_read_current_raw"), ["mrs", "ldp"]);
    assert.deepEqual(ops(false, "percpu_U_LONE_write_current_raw"), ["mrs", "stp"]);
  });
});

test("aarch64 firmware under QEMU, ARMv8.0 (cortex-a57, LL/SC), lse (-cpu max, casp) and el2 (TPIDR_EL2), 4 CPUs with preempt + irq: the u128 phase passes on every CPU, through the functions and the generic accessors", async () => {
  for (const extra of [[], ["lse"], ["el2"]] as const) {
    const sdk = createPercpu();
    sdk.define("HITS", u64, 0);
    defineU128(sdk);
    await withTempDir("percpu-u128-fw-a64-", async (root) => {
      const features = ["preempt", "irq", ...extra] as ("preempt" | "irq" | "lse" | "el2")[];
      const image = await sdk.buildFirmware({ arch: "aarch64", cpus: 4, features, out: join(root, "image") });
      const r = await sdk.bootFirmware(image, { timeoutMs: 60_000 });
      assert.ok(r.passed, `${extra.join("") || "v8.0"}: ${r.failures.map((f) => `cpu=${f.cpu} ${f.var} ${f.check}: ${f.detail}`).join("\n")}\n${r.stderr}`);
      assert.equal(r.result?.checks, image.expectedChecks);
      for (const leaf of ["U_LONE", "U_SLOT__pair", "U_RING"]) {
        for (const check of ["u128-ops", "u128-macros", "u128-remote"]) {
          for (let cpu = 0; cpu < 4; cpu++) assert.ok(r.lines.includes(`cpu=${cpu} var=${leaf} check=${check} ok`), `${extra.join("") || "v8.0"} cpu=${cpu} ${leaf} ${check}`);
        }
      }
    });
  }
}, { timeoutMs: 180_000 });

test("u128 riscv64 functions, measured: the guarded generic fallback (two ld, two bne, two sd) where no 128-bit CAS exists", async () => {
  const sdk = createPercpu();
  defineU128(sdk);
  await withTempDir("percpu-u128-rv-", async (dir) => {
    const gen = sdk.generate({ arch: "riscv64", cpus: 2, functions: true });
    await writeFile(join(dir, "percpu.S"), gen.files["percpu.S"]);
    const r = await run(CLANG, ["--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64", "-mno-relax", "-c", "percpu.S", "-o", "p.o"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const dis = await disassemble(join(dir, "p.o"));
    const ops = (fn: string): string[] => dis.get(fn)!.slice(0, -1).map((i) => i.split(" ")[0]!);
    assert.deepEqual(ops("percpu_U_LONE_cmpxchg128_current"), ["ld", "ld", "bne", "bne", "sd", "sd", "mv", "mv"]);
    assert.deepEqual(ops("percpu_U_LONE_read_current"), ["ld", "ld"], "no guard feature: nothing around it");
    assert.deepEqual(ops("percpu_U_LONE_write_current_raw"), ["sd", "sd"]);
  });
});

test("u128 loongarch64 functions, measured: the guarded generic fallback (two ld.d, two bne, two st.d)", async () => {
  const sdk = createPercpu();
  defineU128(sdk);
  await withTempDir("percpu-u128-la-", async (dir) => {
    const gen = sdk.generate({ arch: "loongarch64", cpus: 2, functions: true });
    await writeFile(join(dir, "percpu.S"), gen.files["percpu.S"]);
    const r = await run(CLANG, ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s", "-c", "percpu.S", "-o", "p.o"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const dis = await disassemble(join(dir, "p.o"));
    const ops = (fn: string): string[] => dis.get(fn)!.slice(0, -1).map((i) => i.split(" ")[0]!);
    assert.deepEqual(ops("percpu_U_LONE_cmpxchg128_current"), ["ld.d", "ld.d", "bne", "bne", "st.d", "st.d", "move", "move"]);
    assert.deepEqual(ops("percpu_U_LONE_write_current_raw"), ["st.d", "st.d"]);
  });
});

test("riscv64 and loongarch64 firmware under QEMU (4 CPUs, preempt + irq): the guarded u128 fallback passes the u128 phase on every CPU", async () => {
  for (const arch of ["riscv64", "loongarch64"] as const) {
    const sdk = createPercpu();
    sdk.define("HITS", u64, 0);
    defineU128(sdk);
    await withTempDir("percpu-u128-fw-", async (root) => {
      const image = await sdk.buildFirmware({ arch, cpus: 4, features: ["preempt", "irq"], out: join(root, "image") });
      const r = await sdk.bootFirmware(image, { timeoutMs: 60_000 });
      assert.ok(r.passed, `${arch}: ${r.failures.map((f) => `cpu=${f.cpu} ${f.var} ${f.check}: ${f.detail}`).join("\n")}\n${r.stderr}`);
      assert.equal(r.result?.checks, image.expectedChecks);
      for (const leaf of ["U_LONE", "U_SLOT__pair", "U_RING"]) {
        for (const check of ["u128-ops", "u128-macros", "u128-remote"]) {
          for (let cpu = 0; cpu < 4; cpu++) assert.ok(r.lines.includes(`cpu=${cpu} var=${leaf} check=${check} ok`), `${arch} cpu=${cpu} ${leaf} ${check}`);
        }
      }
    });
  }
}, { timeoutMs: 180_000 });

test("x86_64 firmware under QEMU (4 CPUs, preempt + irq): every CPU's u128 writes, reads, cmpxchg128 hit and both misses match the catalog model, and remote reads see each CPU's value", async () => {
  const sdk = createPercpu();
  sdk.define("HITS", u64, 0);
  defineU128(sdk);
  await withTempDir("percpu-u128-fw-", async (root) => {
    const image = await sdk.buildFirmware({ arch: "x86_64", cpus: 4, features: ["preempt", "irq"], out: join(root, "image") });
    const r = await sdk.bootFirmware(image, { timeoutMs: 60_000 });
    assert.ok(r.passed, `${r.failures.map((f) => `cpu=${f.cpu} ${f.var} ${f.check}: ${f.detail}`).join("\n")}\n${r.stderr}`);
    assert.equal(r.result?.checks, image.expectedChecks);
    for (const leaf of ["U_LONE", "U_SLOT__pair", "U_PAIRS__0", "U_PAIRS__2", "U_RING"]) {
      for (const check of ["u128-ops", "u128-macros", "u128-remote"]) {
        for (let cpu = 0; cpu < 4; cpu++) assert.ok(r.lines.includes(`cpu=${cpu} var=${leaf} check=${check} ok`), `cpu=${cpu} ${leaf} ${check}`);
      }
    }
  });
}, { timeoutMs: 120_000 });
