/**
 * The `u128` scalar: its layout against clang-19 on every 64-bit target
 * (`unsigned __int128`: size 16, align 16), its values (bigints of
 * 0..2^128 − 1, two little-endian 64-bit halves), its ops in the catalog
 * (reads, writes and `cmpxchg128_current`, no integer RMW), and the clear
 * `type_not_on_target` refusals: riscv32 at layout time (no 128-bit C type),
 * and code generation on every target until a backend lowers u128 leaves.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { array, createPercpu, decodeValue, encodeValue, PercpuError, struct, type Target, u128, u64, u8 } from "../mod.ts";
import { LEAF_OP_SPECS } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";
import { CLANG, run } from "./_toolchain.ts";

/** The 64-bit kernel targets and their clang-19 flags. */
const TARGETS_64: Readonly<Record<Exclude<Target, "riscv32">, readonly string[]>> = {
  x86_64: ["--target=x86_64-unknown-none-elf"],
  aarch64: ["--target=aarch64-unknown-none-elf"],
  riscv64: ["--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64"],
  loongarch64: ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s"],
};

const MAX = (1n << 128n) - 1n;

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

test("code generation refuses u128 leaves on every target (no backend lowers them yet), naming the variable and the leaf", () => {
  for (const arch of ["x86_64", "aarch64", "riscv64", "loongarch64"] as const) {
    const sdk = createPercpu();
    sdk.define("HITS", u64, 0);
    sdk.define("SLOT", struct({ seq: u64, pair: u128 }), { seq: 0n, pair: 0n });
    assertRefused(() => sdk.generate({ arch, cpus: 2 }), "type_not_on_target", ['"SLOT"', "pair", "u128", arch]);
    assertRefused(() => sdk.generate({ arch, cpus: 2, rust: true }), "type_not_on_target", ['"SLOT"', "u128"]);
  }
});
