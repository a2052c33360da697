/**
 * The layout engine checked against real C compilers. fast-check generates
 * random areas (random type trees with random valid initial values); each is
 * defined on a fresh SDK instance. Per target ONE C file declares every area
 * as a `struct` (members declared with `arch/c_types.ts` `cDeclaration`), holds
 * `_Static_assert`s of offsetof/sizeof/_Alignof for every variable and every
 * nested field taken from `sdk.manifest(target)`, and a `const` initialised
 * object per area written with C initializers of the same values. The object
 * is compiled (host `cc` for x86_64, clang-19 for the others), its bytes are
 * read back from the ELF and compared with the manifest's initial bytes.
 *
 * Reproduce a run with `PERCPU_LAYOUT_SEED=<seed>` (printed on failure).
 */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { cDeclaration } from "../arch/c_types.ts";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  i64,
  isize,
  type LayoutOrder,
  type Manifest,
  type ManifestType,
  type PercpuType,
  type ScalarName,
  struct,
  type Target,
  u16,
  u8,
} from "../mod.ts";
import { roughSize, typeArb, valueArb } from "./_arbitraries.ts";
import { test } from "./_harness.ts";
import { run, tempDir } from "./_toolchain.ts";

/** Areas (each 1..4 variables, each variable one random type tree) per run. */
const AREAS = 240;

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = env.PERCPU_LAYOUT_SEED !== undefined ? Number(env.PERCPU_LAYOUT_SEED) : (Math.random() * 2 ** 31) | 0;

/** How each target is compiled: the 64-bit host compiler and clang-19 for the kernel targets. */
const COMPILERS: Record<Target, { cmd: string; args: string[] }> = {
  x86_64: { cmd: "cc", args: [] },
  aarch64: { cmd: "clang-19", args: ["--target=aarch64-unknown-none-elf", "-ffreestanding"] },
  riscv64: { cmd: "clang-19", args: ["--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64", "-ffreestanding"] },
  riscv32: { cmd: "clang-19", args: ["--target=riscv32-unknown-none-elf", "-march=rv32imac", "-mabi=ilp32", "-ffreestanding"] },
  loongarch64: { cmd: "clang-19", args: ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s", "-ffreestanding"] },
};
const TARGET_LIST = Object.keys(COMPILERS) as Target[];

interface AreaSample {
  readonly types: readonly PercpuType[];
  readonly values: readonly unknown[];
  readonly order: LayoutOrder;
}

const areaArb: fc.Arbitrary<AreaSample> = fc
  .array(typeArb.filter((t) => roughSize(t) <= 8192), { minLength: 1, maxLength: 4 })
  .chain((types) =>
    fc.record({
      types: fc.constant(types),
      values: fc.tuple(...types.map(valueArb)),
      order: fc.constantFrom<LayoutOrder>("definition", "definition", "min-padding"),
    })
  );

// ---------------------------------------------------------------- C text

/** Exact C hex-float literal of a double (an f32 value is exact in it too). */
function hexFloat(x: number, single: boolean): string {
  if (Number.isNaN(x)) throw new Error("NaN is not generated");
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (!Number.isFinite(x)) return `${sign}${single ? "__builtin_inff()" : "__builtin_inf()"}`;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const exp = Number(bits >> 52n);
  const mant = (bits & ((1n << 52n) - 1n)).toString(16).padStart(13, "0");
  const body = exp === 0 ? `0x0.${mant}p-1022` : `0x1.${mant}p${exp - 1023}`;
  return `${sign}${body}${single ? "f" : ""}`;
}

const SIGNED_BITS: Partial<Record<ScalarName, number>> = { i8: 8, i16: 16, i32: 32, i64: 64, isize: 32 };

/** C literal of a scalar value. */
function scalarLiteral(name: ScalarName, v: unknown): string {
  if (name === "bool") return v ? "true" : "false";
  if (name === "f32" || name === "f64") return hexFloat(v as number, name === "f32");
  const n = BigInt(v as number | bigint);
  const bits = SIGNED_BITS[name];
  if (bits === undefined) return `${n}ULL`;
  const min = -(1n << BigInt(bits - 1));
  if (n === min) return `(-${-min - 1n}LL-1)`;
  return n < 0n ? `(-${-n}LL)` : `${n}LL`;
}

/** C initializer of a value (designated for structs; `.v` for aligned wrappers as in `cDeclaration`). */
function cInitializer(t: PercpuType, v: unknown): string {
  switch (t.kind) {
    case "scalar": return scalarLiteral(t.name, v);
    case "array": return `{ ${(v as unknown[]).map((e) => cInitializer(t.element, e)).join(", ")} }`;
    case "struct": return `{ ${Object.entries(t.fields).map(([k, ft]) => `.${k} = ${cInitializer(ft, (v as Record<string, unknown>)[k])}`).join(", ")} }`;
    case "aligned": return `{ .v = ${cInitializer(t.inner, v)} }`;
  }
}

/** `_Static_assert`s for a member and everything inside it, from the manifest type tree. */
function typeAsserts(area: string, mt: ManifestType, member: string, offset: number, out: string[]): void {
  const m = `((struct ${area} *)0)->${member}`;
  out.push(`SA(offsetof(struct ${area}, ${member}) == ${offset}, "${area} ${member} offset ${offset}");`);
  out.push(`SA(sizeof(${m}) == ${mt.size}, "${area} ${member} size ${mt.size}");`);
  out.push(`SA(_Alignof(__typeof__(${m})) == ${mt.align}, "${area} ${member} align ${mt.align}");`);
  switch (mt.kind) {
    case "scalar":
      return;
    case "array":
      typeAsserts(area, mt.element, `${member}[0]`, offset, out);
      if (mt.length > 1) {
        const last = offset + (mt.length - 1) * mt.element.size;
        out.push(`SA(offsetof(struct ${area}, ${member}[${mt.length - 1}]) == ${last}, "${area} ${member} last element ${last}");`);
      }
      return;
    case "struct":
      for (const f of mt.fields) typeAsserts(area, f.type, `${member}.${f.name}`, offset + f.offset, out);
      return;
    case "aligned":
      typeAsserts(area, mt.inner, `${member}.v`, offset, out);
      return;
  }
}

interface Area {
  readonly index: number;
  readonly sample: AreaSample;
  /** Variable name → type and value. */
  readonly vars: ReadonlyMap<string, { type: PercpuType; value: unknown }>;
  readonly manifests: Record<Target, Manifest>;
}

/** The one C file of a target: every area's struct, asserts and initialised object. */
function cFile(target: Target, areas: readonly Area[]): string {
  const out = [
    `/* percpu layout property test, target ${target}, seed ${SEED} */`,
    "#include <stddef.h>",
    "#include <stdint.h>",
    "#include <stdbool.h>",
    "#define SA _Static_assert",
    `SA(sizeof(void *) == ${areas[0]!.manifests[target].pointerBytes}, "pointer size");`,
    `SA(sizeof(uintptr_t) == ${areas[0]!.manifests[target].pointerBytes}, "uintptr_t size");`,
  ];
  for (const a of areas) {
    const m = a.manifests[target];
    const name = `area_${a.index}`;
    const members: string[] = [];
    if (m.selfPointerOffset !== null) members.push("  void *self_ptr;");
    for (const v of m.vars) members.push(`  ${cDeclaration(a.vars.get(v.name)!.type, v.name, "  ")};`);
    out.push(`struct ${name} {\n${members.join("\n")}\n};`);
    out.push(`struct ${name}_stride { struct ${name} a __attribute__((aligned(64))); };`);
    if (m.selfPointerOffset !== null) {
      out.push(`SA(offsetof(struct ${name}, self_ptr) == ${m.selfPointerOffset}, "${name} self pointer");`);
      out.push(`SA(sizeof(void *) == ${m.pointerBytes}, "${name} self pointer size");`);
    }
    for (const v of m.vars) {
      typeAsserts(name, v.type, v.name, v.offset, out);
      out.push(`SA(sizeof(((struct ${name} *)0)->${v.name}) == ${v.size} && _Alignof(__typeof__(((struct ${name} *)0)->${v.name})) == ${v.align}, "${name} ${v.name} var size/align");`);
    }
    const last = m.vars[m.vars.length - 1]!;
    out.push(`SA(offsetof(struct ${name}, ${last.name}) + sizeof(((struct ${name} *)0)->${last.name}) == ${m.areaSize}, "${name} area size ${m.areaSize}");`);
    out.push(`SA(sizeof(struct ${name}_stride) == ${m.stride}, "${name} stride ${m.stride}");`);
    out.push(`SA(_Alignof(struct ${name}_stride) == ${m.areaAlign}, "${name} area align ${m.areaAlign}");`);
    const inits = m.vars.map((v) => `  .${v.name} = ${cInitializer(a.vars.get(v.name)!.type, a.vars.get(v.name)!.value)},`);
    out.push(`const struct ${name} init_${a.index} = {\n${inits.join("\n")}\n};`);
  }
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------- reading the object back

/** Bytes of every defined symbol of an ELF relocatable (ELF32/ELF64, little-endian), by name. */
function elfSymbolBytes(elf: Uint8Array): Map<string, Uint8Array> {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  assert.equal(dv.getUint32(0, false), 0x7f454c46, "not an ELF file");
  const is64 = elf[4] === 2;
  assert.equal(elf[5], 1, "not little-endian");
  const word = (o: number) => (is64 ? Number(dv.getBigUint64(o, true)) : dv.getUint32(o, true));
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = dv.getUint16(is64 ? 0x3c : 0x30, true);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const h = shoff + i * shentsize;
    return is64
      ? { type: dv.getUint32(h + 4, true), offset: word(h + 24), size: word(h + 32), link: dv.getUint32(h + 40, true), entsize: word(h + 56) }
      : { type: dv.getUint32(h + 4, true), offset: word(h + 16), size: word(h + 20), link: dv.getUint32(h + 24, true), entsize: word(h + 36) };
  });
  const SHT_SYMTAB = 2, SHT_NOBITS = 8;
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  assert.ok(symtab, "no symbol table");
  const strtab = sections[symtab.link]!;
  const cstr = (o: number) => {
    let end = strtab.offset + o;
    while (elf[end] !== 0) end++;
    return new TextDecoder().decode(elf.subarray(strtab.offset + o, end));
  };
  const out = new Map<string, Uint8Array>();
  for (let o = symtab.offset; o < symtab.offset + symtab.size; o += symtab.entsize) {
    const nameOff = dv.getUint32(o, true);
    const [value, size, shndx] = is64
      ? [word(o + 8), word(o + 16), dv.getUint16(o + 6, true)]
      : [word(o + 4), word(o + 8), dv.getUint16(o + 14, true)];
    if (nameOff === 0 || shndx === 0 || shndx >= 0xff00) continue;
    const sec = sections[shndx]!;
    out.set(cstr(nameOff), sec.type === SHT_NOBITS ? new Uint8Array(size) : elf.slice(sec.offset + value, sec.offset + value + size));
  }
  return out;
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Compares every variable's manifest bytes with the bytes of the compiled
 * object; returns the first differing variable (or `null`) and the bytes compared.
 */
function compareInitBytes(
  areas: readonly Area[],
  results: readonly { target: Target; symbols: ReadonlyMap<string, Uint8Array> }[],
): { mismatch: string | null; compared: number } {
  let compared = 0;
  for (const { target, symbols } of results) {
    for (const a of areas) {
      const bytes = symbols.get(`init_${a.index}`);
      if (bytes === undefined) return { mismatch: `${target}: no object init_${a.index}`, compared };
      for (const v of a.manifests[target].vars) {
        const fromC = bytes.subarray(v.offset, v.offset + v.size);
        if (fromC.length !== v.size || hex(fromC) !== v.init || hexBytes(v.init).length !== v.size) {
          const value = JSON.stringify(a.vars.get(v.name)!.value, (_, x) => typeof x === "bigint" ? `${x}n` : x);
          return {
            mismatch: `${target}: initial bytes of area ${a.index} ${v.name} differ from the C compiler's\n` +
              `  type  ${JSON.stringify(v.type)}\n  value ${value}\n  C     ${hex(fromC)}\n  ours  ${v.init}`,
            compared,
          };
        }
        compared += v.size;
      }
    }
  }
  return { mismatch: null, compared };
}

// ---------------------------------------------------------------- the test

/** Counts of what the random trees contain (printed so a run shows its coverage). */
function treeStats(types: readonly PercpuType[]): string {
  const kinds = { struct: 0, array: 0, aligned: 0, scalar: 0 };
  const scalars = new Set<string>();
  let maxDepth = 0;
  let maxAlign = 0;
  const walk = (t: PercpuType, depth: number): void => {
    kinds[t.kind]++;
    maxDepth = Math.max(maxDepth, depth);
    if (t.kind === "scalar") scalars.add(t.name);
    else if (t.kind === "array") walk(t.element, depth + 1);
    else if (t.kind === "struct") Object.values(t.fields).forEach((f) => walk(f, depth + 1));
    else {
      maxAlign = Math.max(maxAlign, t.align);
      walk(t.inner, depth + 1);
    }
  };
  types.forEach((t) => walk(t, 0));
  return `${kinds.struct} structs, ${kinds.array} arrays, ${kinds.aligned} aligned (max ${maxAlign}), ${kinds.scalar} scalars of ${scalars.size} kinds, depth <= ${maxDepth}`;
}

/** Defines each sample on a fresh SDK instance and takes its manifest for every target. */
function defineAreas(samples: readonly AreaSample[]): Area[] {
  return samples.map((sample, index) => {
    const sdk = createPercpu({ order: sample.order });
    const vars = new Map<string, { type: PercpuType; value: unknown }>();
    sample.types.forEach((type, i) => {
      const name = `VAR_${i}`;
      sdk.define(name, type, sample.values[i]);
      vars.set(name, { type, value: sample.values[i] });
    });
    const manifests = Object.fromEntries(TARGET_LIST.map((t) => [t, sdk.manifest(t)])) as Record<Target, Manifest>;
    return { index, sample, vars, manifests };
  });
}

/** Writes and compiles one C file per target (in parallel); returns each object's symbol bytes. */
function compileAreas(areas: readonly Area[], dir: string, targets: readonly Target[] = TARGET_LIST) {
  return Promise.all(targets.map(async (target) => {
    const src = join(dir, `${target}.c`);
    const obj = join(dir, `${target}.o`);
    await writeFile(src, cFile(target, areas));
    const { cmd, args } = COMPILERS[target];
    const flags = ["-std=c11", "-O0", "-Wall", "-Werror", "-fno-common", "-fno-zero-initialized-in-bss"];
    const r = await run(cmd, [...args, ...flags, "-c", src, "-o", obj], { timeoutMs: 60_000 });
    if (r.code !== 0) {
      const first = r.stderr.split("\n").filter((l) => l.includes("error")).slice(0, 8).join("\n");
      throw new Error(`${target}: ${cmd} rejected the layout (C file kept at ${src}):\n${first}`);
    }
    return { target, symbols: elfSymbolBytes(new Uint8Array(await readFile(obj))) };
  }));
}

test(`layout of ${AREAS} random areas matches C compilers on every target, offsets and initial bytes`, async () => {
  const areas = defineAreas(fc.sample(areaArb, { seed: SEED, numRuns: AREAS }));
  const trees = areas.reduce((n, a) => n + a.sample.types.length, 0);
  assert.ok(areas.length >= 200 && trees >= 200);
  const dir = await tempDir("layout-c");
  try {
    const results = await compileAreas(areas, dir);
    const { mismatch, compared } = compareInitBytes(areas, results);
    if (mismatch !== null) throw new Error(`${mismatch}\n  (C files kept at ${dir})`);
    const expected = areas.reduce((n, a) => n + TARGET_LIST.reduce((m, t) => m + a.manifests[t].vars.reduce((k, v) => k + v.size, 0), 0), 0);
    assert.equal(compared, expected);
    console.log(`     seed ${SEED}: ${areas.length} areas, ${trees} type trees, ${TARGET_LIST.length} targets, ${compared} initial bytes equal`);
    console.log(`     trees: ${treeStats(areas.flatMap((a) => a.sample.types))}`);
    await rm(dir, { recursive: true, force: true });
  } catch (e) {
    console.log(`     layout property test failed with seed ${SEED}; rerun with PERCPU_LAYOUT_SEED=${SEED}`);
    throw e;
  }
}, { timeoutMs: 60_000 });

test("the byte comparison reports the first differing variable (the property test can fail)", async () => {
  const hot = aligned(struct({ t: f32, n: i64, ok: bool }), 64);
  const sample: AreaSample = {
    types: [u8, hot, array(isize, 2)],
    values: [200, { t: -1.5, n: -(2n ** 63n), ok: true }, [-1, 2n ** 31n - 1n]],
    order: "definition",
  };
  const [area] = defineAreas([sample]);
  const dir = await tempDir("layout-c-bytes");
  try {
    const results = await compileAreas([area!], dir, ["x86_64", "riscv32"]);
    assert.deepEqual(compareInitBytes([area!], results), { mismatch: null, compared: (1 + 64 + 16) + (1 + 64 + 8) });
    // Flip the sign bit of the f32 in our bytes: the comparison must name VAR_1.
    const m = area!.manifests.riscv32;
    const forged: Manifest = { ...m, vars: m.vars.map((v) => v.name === "VAR_1" ? { ...v, init: v.init.slice(0, 6) + "3f" + v.init.slice(8) } : v) };
    assert.equal(m.vars[1]!.init.slice(0, 8), "0000c0bf"); // -1.5f little-endian, written here by hand
    const r = compareInitBytes([{ ...area!, manifests: { ...area!.manifests, riscv32: forged } }], results);
    assert.match(r.mismatch ?? "", /riscv32: initial bytes of area 0 VAR_1 differ/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the C checks catch a wrong offset (the property test can fail)", async () => {
  const sdk = createPercpu();
  sdk.define("A", u8, 1);
  sdk.define("B", struct({ x: u16, y: array(i64, 2) }), { x: 2, y: [-1n, 3n] });
  const manifest = sdk.manifest("riscv32");
  const forged: Manifest = {
    ...manifest,
    vars: manifest.vars.map((v) => v.name === "B" ? { ...v, offset: v.offset + 4 } : v),
  };
  const area: Area = {
    index: 0,
    sample: { types: [u8], values: [1], order: "definition" },
    vars: new Map<string, { type: PercpuType; value: unknown }>([
      ["A", { type: u8, value: 1 }],
      ["B", { type: struct({ x: u16, y: array(i64, 2) }), value: { x: 2, y: [-1n, 3n] } }],
    ]),
    manifests: { riscv32: forged } as Record<Target, Manifest>,
  };
  const dir = await tempDir("layout-c-neg");
  try {
    const src = join(dir, "bad.c");
    await writeFile(src, cFile("riscv32", [area]));
    const { cmd, args } = COMPILERS.riscv32;
    const bad = await run(cmd, [...args, "-std=c11", "-c", src, "-o", join(dir, "bad.o")]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /area_0 B offset 12/);
    // The true manifest compiles.
    await writeFile(src, cFile("riscv32", [{ ...area, manifests: { riscv32: manifest } as Record<Target, Manifest> }]));
    const good = await run(cmd, [...args, "-std=c11", "-c", src, "-o", join(dir, "good.o")]);
    assert.equal(good.code, 0, good.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("hexFloat writes exact C literals for edge values", () => {
  assert.equal(hexFloat(1, false), "0x1.0000000000000p0");
  assert.equal(hexFloat(-0, true), "-0x0.0000000000000p-1022f");
  assert.equal(hexFloat(Number.MIN_VALUE, false), "0x0.0000000000001p-1022");
  assert.equal(hexFloat(-Infinity, true), "-__builtin_inff()");
  assert.equal(scalarLiteral("i64", -(2n ** 63n)), "(-9223372036854775807LL-1)");
  assert.equal(scalarLiteral("i32", -(2 ** 31)), "(-2147483647LL-1)");
});
