/**
 * The loongarch64 primitives of `percpu.h` (arch/loongarch64_header.ts),
 * proven through the generic accessors: a C file calling every accessor on
 * every kind (u64, u32, u16, i8, bool, f32, f64, struct fields, a long array,
 * values between 2 KiB and 32 KiB and beyond 32 KiB) compiles with clang-19
 * at -O0 and -O2 with -Wall -Werror for the features none / preempt / irq, and
 * its -O2 disassembly has the shortest forms: one `ld`/`st` below 2 KiB, one
 * `ldptr`/`stptr` up to 32 KiB, `lu12i.w; ori; ldx` beyond, `amadd` & co. on
 * `$r21 + off`, `ll`/`sc` loops, hooks only where a sequence is longer than one
 * instruction, and `$r21` never written.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { backendFor } from "../arch/index.ts";
import { array, bool, createPercpu, f32, f64, type Generated, i16, i8, struct, u16, u32, u64, u8 } from "../mod.ts";
import { GUARD_HOOKS } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";
import { bodyLength, CLANG, disassemble, OBJDUMP, run, runOk } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

/** Scalar leaves under test: C function suffix, leaf name, C type, whether the integer RMW ops apply. */
const LEAVES = [
  { n: "u64", leaf: "U64", t: "uint64_t", int: true },
  { n: "u32", leaf: "U32", t: "uint32_t", int: true },
  { n: "u16", leaf: "U16", t: "uint16_t", int: true },
  { n: "i8", leaf: "I8", t: "int8_t", int: true },
  { n: "flag", leaf: "FLAG", t: "bool", int: false },
  { n: "f", leaf: "F", t: "float", int: false },
  { n: "d", leaf: "D", t: "double", int: false },
  { n: "sta", leaf: "ST__a", t: "uint32_t", int: true },
  { n: "stb", leaf: "ST__b", t: "int16_t", int: true },
  { n: "mid", leaf: "MID", t: "uint64_t", int: true },
  { n: "midw", leaf: "MIDW", t: "uint32_t", int: true },
  { n: "mid8", leaf: "MID8", t: "uint8_t", int: true },
  { n: "far", leaf: "FAR", t: "uint64_t", int: true },
  { n: "farw", leaf: "FARW", t: "int16_t", int: true },
] as const;

/** Long arrays (the `_at` forms): C function suffix, leaf name, element type. */
const ARRAYS = [
  { n: "big", leaf: "BIG", t: "uint64_t" },
  { n: "pad", leaf: "PAD", t: "uint8_t" },
] as const;

const FEATURES = { none: [], preempt: ["preempt"], irq: ["irq"] } as const;
type Features = keyof typeof FEATURES;

/** The layout: small scalars first, then PAD pushes MID* past 2 KiB and BLOB pushes FAR* past 32 KiB. */
function generate(features: Features): Generated {
  const sdk = createPercpu();
  // counter: true: the shapes below are the statistics-counter ones (counter ops unguarded where one atomic);
  // tests/ops_counts_test.ts measures the default, guarded ones.
  sdk.define("U64", u64, 0x1122334455667788n, { counter: true });
  sdk.define("U32", u32, 0xdeadbeef, { counter: true });
  sdk.define("U16", u16, 65000, { counter: true });
  sdk.define("I8", i8, -7, { counter: true });
  sdk.define("FLAG", bool, true);
  sdk.define("F", f32, 1.5);
  sdk.define("D", f64, -2.25);
  sdk.define("ST", struct({ a: u32, b: i16 }), { a: 1, b: -2 }, { counter: true });
  sdk.define("BIG", array(u64, 100), Array.from({ length: 100 }, (_, i) => BigInt(i)), { counter: true });
  sdk.define("PAD", array(u8, 3000), Array.from({ length: 3000 }, () => 0), { counter: true });
  sdk.define("MID", u64, 5n, { counter: true });
  sdk.define("MIDW", u32, 6, { counter: true });
  sdk.define("MID8", u8, 7, { counter: true });
  sdk.define("BLOB", array(u8, 40000), Array.from({ length: 40000 }, () => 0), { counter: true });
  sdk.define("FAR", u64, 8n, { counter: true });
  sdk.define("FARW", i16, -9, { counter: true });
  return sdk.generate({ arch: "loongarch64", cpus: 4, features: [...FEATURES[features]] });
}

/** Leaf offsets from the generated header's data lines (`#define PERCPU_L_X T, K, off`). */
function leafOffsets(header: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const m of header.matchAll(/^#define PERCPU_LI?_(\w+) [^,]+, pkc?_\w+, (\d+)$/gm)) map.set(m[1]!, Number(m[2]));
  return map;
}

/** The C test file: one function per accessor and leaf (`rr_u64` = read_current_raw of U64, ...). */
function testSource(): string {
  const out = ['#include "percpu.h"', ""];
  for (const { n, leaf: x, t, int } of LEAVES) {
    out.push(
      `${t} rr_${n}(void) { return percpu_read_current_raw(${x}); }`,
      `${t} rg_${n}(void) { return percpu_read_current(${x}); }`,
      `void wr_${n}(${t} v) { percpu_write_current_raw(${x}, v); }`,
      `void wg_${n}(${t} v) { percpu_write_current(${x}, v); }`,
      `void wz_${n}(void) { percpu_write_current_raw(${x}, 0); }`,
      `${t} rm_${n}(uintptr_t cpu) { return percpu_remote_read(${x}, cpu); }`,
      `void wm_${n}(uintptr_t cpu, ${t} v) { percpu_remote_write(${x}, cpu, v); }`,
    );
    if (!int) continue;
    for (const op of ["add", "sub", "and", "or", "xor"]) {
      out.push(`void ${op}_${n}(${t} v) { percpu_${op}_current(${x}, v); }`);
    }
    out.push(
      `void inc_${n}(void) { percpu_add_current(${x}, 1); }`,
      `${t} xchg_${n}(${t} v) { return percpu_xchg_current(${x}, v); }`,
      `${t} cas_${n}(${t} e, ${t} d) { return percpu_cmpxchg_current(${x}, e, d); }`,
    );
  }
  for (const { n, leaf: x, t } of ARRAYS) {
    out.push(
      `${t} rr_${n}(uintptr_t i) { return percpu_read_current_raw_at(${x}, i); }`,
      `${t} rg_${n}(uintptr_t i) { return percpu_read_current_at(${x}, i); }`,
      `void wr_${n}(uintptr_t i, ${t} v) { percpu_write_current_raw_at(${x}, v, i); }`,
      `void wg_${n}(uintptr_t i, ${t} v) { percpu_write_current_at(${x}, v, i); }`,
      `${t} rm_${n}(uintptr_t cpu, uintptr_t i) { return percpu_remote_read_at(${x}, cpu, i); }`,
      `void wm_${n}(uintptr_t cpu, uintptr_t i, ${t} v) { percpu_remote_write_at(${x}, cpu, v, i); }`,
      ...["add", "sub", "and", "or", "xor"].map((op) =>
        `void ${op}_${n}(uintptr_t i, ${t} v) { percpu_${op}_current_at(${x}, v, i); }`
      ),
      `${t} xchg_${n}(uintptr_t i, ${t} v) { return percpu_xchg_current_at(${x}, v, i); }`,
      `${t} cas_${n}(uintptr_t i, ${t} e, ${t} d) { return percpu_cmpxchg_current_at(${x}, e, d, i); }`,
    );
  }
  out.push(
    "percpu_ST_t *ptr_st(void) { return percpu_current_ptr(ST); }",
    "uint64_t *ptr_far(void) { return percpu_current_ptr(FAR); }",
    "void reset_st(void) { percpu_reset_to_init(ST); }",
    // Arguments evaluated exactly once, also through the far and _at forms.
    "uintptr_t once_count;",
    "static uintptr_t once(uintptr_t v) { once_count++; return v; }",
    "void once_all(void) {",
    "  percpu_write_current(FAR, once(1)); percpu_add_current(FAR, once(1)); percpu_add_current(U16, once(1));",
    "  (void)percpu_xchg_current(MID8, once(1)); (void)percpu_cmpxchg_current(FAR, once(1), once(2));",
    "  percpu_add_current_at(BIG, once(1), once(2)); (void)percpu_cmpxchg_current_at(PAD, once(1), once(2), once(3));",
    "}",
    "",
  );
  return out.join("\n");
}

/** Function name → the symbols it branches to (`R_LARCH_B26` relocations), from `llvm-objdump-19 -dr`. */
async function callTargets(obj: string): Promise<Map<string, string[]>> {
  const out = await runOk(OBJDUMP, ["-dr", obj]);
  const map = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of out.split("\n")) {
    const head = /^[0-9a-f]+ <([^>]+)>:$/.exec(line.trim());
    if (head) map.set(head[1]!, current = []);
    const reloc = /R_LARCH_B26\s+(\S+)/.exec(line);
    if (reloc && current) current.push(reloc[1]!);
  }
  return map;
}

/** Whether an instruction writes `$r21` (its first operand is the destination unless it is a store or a branch). */
function writesR21(insn: string): boolean {
  const [mnemonic, first] = insn.split(/[\s,]+/);
  return first === "$r21" && !/^(st|sc\.|beq|bne|blt|bge|beqz|bnez|jirl)/.test(mnemonic!);
}

/** Compiles the test file at one optimisation level; returns the object's disassembly and branch targets. */
async function compile(
  dir: string,
  opt: "-O0" | "-O2",
): Promise<{ dis: Map<string, string[]>; calls: Map<string, string[]> }> {
  const obj = `test${opt}.o`;
  const r = await run(CLANG, [
    ...backendFor("loongarch64").clangFlags,
    "-ffreestanding",
    "-Wall",
    "-Werror",
    opt,
    "-c",
    "test.c",
    "-o",
    obj,
  ], { cwd: dir });
  assert.equal(r.code, 0, `clang ${opt} failed:\n${r.stderr}`);
  return { dis: await disassemble(join(dir, obj)), calls: await callTargets(join(dir, obj)) };
}

for (const features of Object.keys(FEATURES) as Features[]) {
  test(`loongarch64 percpu.h (${features}): every generic accessor compiles at -O0 and -O2 to its shortest $r21 form`, async () => {
    const gen = generate(features);
    const guarded = features !== "none";
    const hooks = features === "preempt"
      ? [GUARD_HOOKS[0], GUARD_HOOKS[1]]
      : features === "irq"
      ? [GUARD_HOOKS[2], GUARD_HOOKS[3]]
      : [];
    await withTempDir("hdr-la64", async (dir) => {
      await gen.write(dir);
      await writeFile(join(dir, "test.c"), testSource());
      const off = leafOffsets(gen.files["percpu.h"]);
      const o = (leaf: string): number => off.get(leaf)!;
      // The layout is what the assertions below are about.
      for (const x of ["U64", "U32", "U16", "I8", "FLAG", "F", "D", "ST__a", "ST__b"]) {
        assert.ok(o(x) < 2048, `${x} at ${o(x)}`);
      }
      for (const x of ["MID", "MIDW", "MID8"]) assert.ok(o(x) >= 2048 && o(x) < 32768, `${x} at ${o(x)}`);
      assert.equal(o("MID") % 8, 0);
      for (const x of ["FAR", "FARW"]) assert.ok(o(x) >= 32768 && o(x) % 4096 !== 0, `${x} at ${o(x)}`);

      const o0 = await compile(dir, "-O0");
      const { dis, calls } = await compile(dir, "-O2");
      const fn = (name: string): string[] => {
        const insns = dis.get(name);
        assert.ok(insns, `${name} missing`);
        return insns;
      };
      const text = (name: string): string => fn(name).join("\n");
      const callsOf = (name: string): string[] => calls.get(name) ?? [];

      // $r21 is never written, at any level; nothing calls anything but the hooks.
      for (const d of [o0.dis, dis]) {
        for (const [name, insns] of d) for (const i of insns) assert.ok(!writesR21(i), `${name} writes $r21: ${i}`);
      }
      for (const c of [o0.calls, calls]) {
        for (const [name, targets] of c) {
          for (const t of targets) assert.ok((hooks as readonly string[]).includes(t), `${name} calls ${t}`);
        }
      }

      // Near scalars: one load / store relative to $r21, with the kind's extension (the return adds at most one
      // ABI extension: clang cannot know an asm result is already extended).
      const loads: Record<string, string> = {
        u64: "d",
        u32: "w",
        u16: "hu",
        i8: "b",
        flag: "bu",
        f: "w",
        d: "d",
        sta: "w",
        stb: "h",
      };
      const stores: Record<string, string> = {
        u64: "d",
        u32: "w",
        u16: "h",
        i8: "b",
        flag: "b",
        f: "w",
        d: "d",
        sta: "w",
        stb: "h",
      };
      for (const { n, leaf } of LEAVES.filter((l) => o(l.leaf) < 2048)) {
        for (const [f, d] of [[`rr_${n}`, dis], [`rg_${n}`, dis], [`rr_${n}`, o0.dis]] as const) {
          const insns = d.get(f)!;
          const r21 = insns.filter((i) => i.includes("$r21"));
          assert.deepEqual(r21, [`ld.${loads[n]} $a0, $r21, ${o(leaf)}`], `${f}: ${insns.join("; ")}`);
        }
        assert.equal(fn(`rr_${n}`)[0], `ld.${loads[n]} $a0, $r21, ${o(leaf)}`);
        assert.ok(bodyLength(fn(`rr_${n}`)) <= 2, `rr_${n}: ${text(`rr_${n}`)}`);
        assert.deepEqual(fn(`wr_${n}`), [`st.${stores[n]} $a0, $r21, ${o(leaf)}`, "ret"]);
        assert.deepEqual(fn(`wg_${n}`), [`st.${stores[n]} $a0, $r21, ${o(leaf)}`, "ret"], "one instruction: no guard");
        assert.deepEqual(fn(`wz_${n}`), [`st.${stores[n]} $zero, $r21, ${o(leaf)}`, "ret"]);
        assert.equal(callsOf(`rg_${n}`).length, 0, `rg_${n} is one instruction: no guard`);
      }
      for (const n of ["u64", "f", "d"]) {
        assert.equal(bodyLength(fn(`rr_${n}`)), 1, `rr_${n}: ${text(`rr_${n}`)}`);
        assert.equal(bodyLength(fn(`rg_${n}`)), 1, `rg_${n}: ${text(`rg_${n}`)}`);
      }
      assert.ok(!text("rr_u32").includes("ld.wu"), "32-bit values load sign-extended");

      // 2 KiB..32 KiB: ldptr/stptr for 32/64-bit values (one instruction, no guard); bytes need the offset in a register.
      for (const [n, sfx] of [["mid", "d"], ["midw", "w"]] as const) {
        const x = n === "mid" ? "MID" : "MIDW";
        assert.equal(fn(`rr_${n}`)[0], `ldptr.${sfx} $a0, $r21, ${o(x)}`);
        assert.equal(fn(`rg_${n}`)[0], `ldptr.${sfx} $a0, $r21, ${o(x)}`);
        assert.deepEqual(fn(`wr_${n}`), [`stptr.${sfx} $a0, $r21, ${o(x)}`, "ret"]);
        assert.equal(callsOf(`rg_${n}`).length + callsOf(`wg_${n}`).length, 0, `${n}: one instruction, no guard`);
      }
      assert.equal(bodyLength(fn("rr_mid")), 1, text("rr_mid"));
      assert.match(text("rr_mid8"), /^ldx\.bu \$a0, \$r21, \$a\d$/m);

      // Beyond 32 KiB: the offset (CPU-independent) in a register, then one ldx/stx; the guarded forms take the guard.
      assert.equal(bodyLength(fn("rr_far")), 3, text("rr_far"));
      assert.match(text("rr_far"), /^lu12i\.w (\$a\d), \d+\nori \1, \1, \d+\nldx\.d \$a0, \$r21, \1$/m);
      assert.match(text("wr_far"), /^stx\.d \$a0, \$r21, \$a\d$/m);
      assert.match(text("rr_farw"), /^ldx\.h \$a0, \$r21, \$a\d$/m);
      for (const f of ["rg_far", "wg_far", "rg_farw"]) {
        assert.deepEqual([...new Set(callsOf(f))].sort(), [...hooks].sort(), `${f} guard`);
      }
      for (const f of ["rr_far", "wr_far", "rm_far", "wm_far", "ptr_far", "ptr_st"]) {
        assert.equal(callsOf(f).length, 0, `${f} takes no guard`);
      }
      for (const f of ["xchg_big", "cas_big"]) assert.equal(callsOf(f).length > 0, guarded, `${f}: xchg/cmpxchg are guarded with preempt/irq`);
      assert.deepEqual(callsOf("reset_st").length > 0, guarded, "reset_to_init is guarded");

      // 32/64-bit RMW: AM* on $r21 + off, unguarded; cmpxchg an ll/sc loop.
      for (const { n, leaf, t } of LEAVES.filter((l) => l.int && (l.t.endsWith("32_t") || l.t.endsWith("64_t")))) {
        const sfx = t.includes("64") ? "d" : "w";
        const addr = o(leaf) < 2048
          ? `^addi\\.d (\\$a\\d), \\$r21, ${o(leaf)}$`
          : `^add\\.d (\\$a\\d), \\$r21, \\$a\\d$`;
        for (
          const [op, am] of [["add", "amadd"], ["sub", "amadd"], ["and", "amand"], ["or", "amor"], ["xor", "amxor"], [
            "inc",
            "amadd",
          ]]
        ) {
          assert.match(
            text(`${op}_${n}`),
            new RegExp(`${addr}\\n${am}\\.${sfx} \\$zero, \\$a\\d, \\1$`, "m"),
            `${op}_${n}: ${text(`${op}_${n}`)}`,
          );
          assert.equal(callsOf(`${op}_${n}`).length, 0, `${op}_${n} takes no guard`);
        }
        if (o(leaf) < 2048) assert.equal(bodyLength(fn(`add_${n}`)), 2, `add_${n}: ${text(`add_${n}`)}`);
        assert.match(text(`sub_${n}`), /^sub\.d \$a0, \$zero, \$a0$/m, "sub = amadd of the negation");
        assert.match(text(`xchg_${n}`), new RegExp(`^amswap\\.${sfx} `, "m"));
        // xchg/cmpxchg (guard class this_cpu) take the guard: the expected value then lives in a saved register.
        assert.match(
          text(`cas_${n}`),
          new RegExp(`^ll\\.${sfx} (\\$[as]\\d), (\\$a\\d), 0\\nbne \\1, \\$${guarded ? "(s\\d|fp)" : "a0"}, .*\\n.*\\nsc\\.${sfx} .*\\nbeqz `, "m"),
        );
        for (const op of ["xchg", "cas"]) assert.equal(callsOf(`${op}_${n}`).length > 0, guarded, `${op}_${n}`);
      }
      assert.ok(!/bstrpick|addi\.w/.test(text("add_u32")), `32-bit AM* operands need no extension: ${text("add_u32")}`);

      // 8/16-bit RMW: load-op-store without guard features (as percpu.S), a masked ll.w/sc.w loop (no hooks) with them.
      for (const n of ["u16", "i8", "stb", "mid8", "farw"]) {
        for (const op of ["add", "sub", "and", "or", "xor", "xchg", "cas"]) {
          const body = text(`${op}_${n}`);
          if (guarded) {
            assert.match(body, /^ll\.w .*\n(.*\n)*sc\.w /m, `${op}_${n}: ${body}`);
            assert.equal(callsOf(`${op}_${n}`).length > 0, op === "xchg" || op === "cas", `${op}_${n}: only xchg/cmpxchg take the guard`);
          } else {
            assert.doesNotMatch(body, /^ll\./m, `${op}_${n}: ${body}`);
          }
        }
      }
      if (!guarded) {
        assert.deepEqual(fn("add_u16"), [
          `ld.hu $a1, $r21, ${o("U16")}`,
          "add.d $a0, $a1, $a0",
          `st.h $a0, $r21, ${o("U16")}`,
          "ret",
        ]);
      }

      // Long arrays: the offset in a register, one ldx/stx against $r21 (no guard); AM* on $r21 + offset.
      assert.match(text("rr_big"), /^ldx\.d \$a0, \$r21, \$a0$/m);
      assert.equal(bodyLength(fn("rr_big")), 3, text("rr_big"));
      assert.match(text("wg_big"), /^stx\.d \$a1, \$r21, \$a0$/m);
      assert.match(text("add_big"), /^add\.d (\$a\d), \$r21, \$a\d\namadd\.d \$zero, \$a1, \1$/m);
      assert.match(text("cas_big"), /^ll\.d /m);
      assert.match(text("rr_pad"), /^ldx\.bu \$a0, \$r21, \$a0$/m);
      for (
        const f of [
          "rr_big",
          "rg_big",
          "wr_big",
          "wg_big",
          "add_big",
          "rr_pad",
          "rg_pad",
          "rm_big",
          "wm_pad",
        ]
      ) {
        assert.equal(callsOf(f).length, 0, `${f} takes no guard`);
      }
      for (const f of ["xchg_big", "cas_big"]) assert.equal(callsOf(f).length > 0, guarded, `${f}: xchg/cmpxchg are guarded with preempt/irq`);
      // Remote accesses never touch $r21.
      for (const [name, insns] of dis) {
        if (/^[rw]m_/.test(name)) assert.ok(!insns.some((i) => i.includes("$r21")), `${name} uses $r21`);
      }
    });
  });
}
