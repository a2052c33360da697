/**
 * The manifest: deterministic (byte-identical JSON across instances and
 * across Deno/Bun), every field as computed by hand here (offsets from the C
 * rules, initial bytes written with this file's own DataView code), and a
 * JSON round trip that loses nothing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i64,
  i8,
  isize,
  MANIFEST_VERSION,
  type Manifest,
  type PercpuOptions,
  type PercpuSdk,
  struct,
  TARGETS,
  u32,
  u64,
  usize,
} from "../mod.ts";
import { manifestJson } from "../sdk/manifest.ts";
import { currentRuntime, test } from "./_harness.ts";
import { run } from "./_toolchain.ts";

const STATS = struct({ irqs: u64, ticks: u32, hist: array(i16, 3), on: bool });

/** The fixed configuration every check below uses. */
export function fixedConfig(options?: PercpuOptions): PercpuSdk {
  const sdk = createPercpu(options);
  sdk.define("FLAG", bool, true);
  sdk.define("NEG", i8, -2);
  sdk.define("TEMP", f32, 0.1);
  sdk.define("CPU_ID", u64, 0x0102030405060708n);
  sdk.define("DELTA", i64, -2);
  sdk.define("RATIO", f64, Math.PI);
  sdk.define("STATS", STATS, { irqs: 5n, ticks: 0xdeadbeef, hist: [-1, 2, -32768], on: false });
  sdk.define("HOT", aligned(u32, 64), 7);
  sdk.define("SLOT", usize, 0x12345678);
  sdk.define("ISZ", isize, -1n);
  return sdk;
}

/** `<target> <sha256 of the manifest JSON>` per target, one line each: what the other runtime prints too. */
export function fixedManifestHashes(): string {
  const sdk = fixedConfig();
  const minPad = fixedConfig({ order: "min-padding" });
  return TARGETS.flatMap((t) => [
    `${t} ${createHash("sha256").update(manifestJson(sdk.manifest(t))).digest("hex")}`,
    `${t}/min-padding ${createHash("sha256").update(manifestJson(minPad.manifest(t))).digest("hex")}`,
  ]).join("\n");
}

// ---------------------------------------------------------------- expectations written by hand

/** Little-endian bytes of one value, written by this test (not by the SDK's encoder). */
function le(size: number, write: (v: DataView) => void): string {
  const view = new DataView(new ArrayBuffer(size));
  write(view);
  return Array.from(new Uint8Array(view.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

const STATS_BYTES = le(24, (v) => {
  v.setBigUint64(0, 5n, true);
  v.setUint32(8, 0xdeadbeef, true);
  v.setInt16(12, -1, true);
  v.setInt16(14, 2, true);
  v.setInt16(16, -32768, true);
  v.setUint8(18, 0);
});

/** [name, offset, size, align, paddingBefore, init hex] per target, derived from the C layout rules by hand. */
const EXPECTED: Record<"x86_64" | "riscv32", { areaSize: number; stride: number; vars: [string, number, number, number, number, string][] }> = {
  x86_64: {
    areaSize: 144,
    stride: 192,
    vars: [
      ["FLAG", 8, 1, 1, 0, "01"],
      ["NEG", 9, 1, 1, 0, "fe"],
      ["TEMP", 12, 4, 4, 2, le(4, (v) => v.setFloat32(0, 0.1, true))],
      ["CPU_ID", 16, 8, 8, 0, "0807060504030201"],
      ["DELTA", 24, 8, 8, 0, le(8, (v) => v.setBigInt64(0, -2n, true))],
      ["RATIO", 32, 8, 8, 0, le(8, (v) => v.setFloat64(0, Math.PI, true))],
      ["STATS", 40, 24, 8, 0, STATS_BYTES],
      ["HOT", 64, 64, 64, 0, le(64, (v) => v.setUint32(0, 7, true))],
      ["SLOT", 128, 8, 8, 0, "7856341200000000"],
      ["ISZ", 136, 8, 8, 0, "ffffffffffffffff"],
    ],
  },
  riscv32: {
    areaSize: 136,
    stride: 192,
    vars: [
      ["FLAG", 0, 1, 1, 0, "01"],
      ["NEG", 1, 1, 1, 0, "fe"],
      ["TEMP", 4, 4, 4, 2, le(4, (v) => v.setFloat32(0, 0.1, true))],
      ["CPU_ID", 8, 8, 8, 0, "0807060504030201"],
      ["DELTA", 16, 8, 8, 0, le(8, (v) => v.setBigInt64(0, -2n, true))],
      ["RATIO", 24, 8, 8, 0, le(8, (v) => v.setFloat64(0, Math.PI, true))],
      ["STATS", 32, 24, 8, 0, STATS_BYTES],
      ["HOT", 64, 64, 64, 8, le(64, (v) => v.setUint32(0, 7, true))],
      ["SLOT", 128, 4, 4, 0, "78563412"],
      ["ISZ", 132, 4, 4, 0, "ffffffff"],
    ],
  },
};

test("manifest() is byte-identical across two fresh instances for every target and order", () => {
  for (const order of ["definition", "min-padding"] as const) {
    const a = fixedConfig({ order });
    const b = fixedConfig({ order });
    for (const t of TARGETS) {
      assert.equal(manifestJson(a.manifest(t)), manifestJson(b.manifest(t)));
      assert.equal(JSON.stringify(a.manifest(t)), JSON.stringify(b.manifest(t)));
    }
  }
});

test("manifest() is stable across calls and unaffected by which target was laid out first", () => {
  const a = fixedConfig();
  const first = manifestJson(a.manifest("riscv32"));
  for (const t of TARGETS) a.manifest(t);
  assert.equal(manifestJson(a.manifest("riscv32")), first);
  const b = fixedConfig();
  assert.equal(manifestJson(b.manifest("riscv32")), first);
});

test("the manifest JSON is byte-identical on Deno and Bun (sha256 from the other runtime)", async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const self = join(root, "tests", "manifest_test.ts");
  const code = `const m = await import(${JSON.stringify(self)}); console.log(m.fixedManifestHashes());`;
  const other = currentRuntime() === "bun"
    ? { cmd: join(root, "node_modules/.bin/deno"), args: ["eval", "--ext=ts", code] }
    : { cmd: join(root, "node_modules/.bin/bun"), args: ["-e", code] };
  const r = await run(other.cmd, other.args, { cwd: root, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const theirs = r.stdout.trim();
  const ours = fixedManifestHashes();
  assert.equal(theirs.split("\n").length, TARGETS.length * 2);
  assert.match(theirs, /^x86_64 [0-9a-f]{64}$/m);
  assert.equal(theirs, ours);
}, { timeoutMs: 60_000 });

for (const target of ["x86_64", "riscv32"] as const) {
  test(`manifest("${target}") fields, offsets and little-endian initial bytes match hand-computed values`, () => {
    const m = fixedConfig().manifest(target);
    const exp = EXPECTED[target];
    assert.equal(m.format, "percpu-manifest");
    assert.equal(m.version, 1);
    assert.equal(MANIFEST_VERSION, 1);
    assert.equal(m.target, target);
    assert.equal(m.pointerBytes, target === "riscv32" ? 4 : 8);
    assert.equal(m.endian, "little");
    assert.equal(m.areaSize, exp.areaSize);
    assert.equal(m.stride, exp.stride);
    assert.equal(m.areaAlign, 64);
    assert.equal(m.selfPointerOffset, target === "x86_64" ? 0 : null);
    assert.deepEqual(
      m.vars.map((v) => [v.name, v.offset, v.size, v.align, v.paddingBefore, v.init]),
      exp.vars,
    );
    // Spot checks of encodings known by heart: 0.1f is 0x3dcccccd, pi is 0x400921fb54442d18, -2 as i64.
    const init = Object.fromEntries(m.vars.map((v) => [v.name, v.init]));
    assert.equal(init.TEMP, "cdcccc3d");
    assert.equal(init.RATIO, "182d4454fb210940");
    assert.equal(init.DELTA, "feffffffffffffff");
    assert.equal(init.STATS, "0500000000000000" + "efbeadde" + "ffff" + "0200" + "0080" + "00" + "00".repeat(5));
  });
}

test("manifest() gives the type tree with sizes, alignments and field offsets", () => {
  const m = fixedConfig().manifest("riscv32");
  const byName = new Map(m.vars.map((v) => [v.name, v]));
  assert.deepEqual(byName.get("STATS")!.type, {
    kind: "struct",
    size: 24,
    align: 8,
    fields: [
      { name: "irqs", offset: 0, type: { kind: "scalar", name: "u64", size: 8, align: 8 } },
      { name: "ticks", offset: 8, type: { kind: "scalar", name: "u32", size: 4, align: 4 } },
      {
        name: "hist",
        offset: 12,
        type: { kind: "array", length: 3, size: 6, align: 2, element: { kind: "scalar", name: "i16", size: 2, align: 2 } },
      },
      { name: "on", offset: 18, type: { kind: "scalar", name: "bool", size: 1, align: 1 } },
    ],
  });
  assert.deepEqual(byName.get("HOT")!.type, {
    kind: "aligned",
    size: 64,
    align: 64,
    inner: { kind: "scalar", name: "u32", size: 4, align: 4 },
  });
  assert.deepEqual(byName.get("SLOT")!.type, { kind: "scalar", name: "usize", size: 4, align: 4 });
  assert.deepEqual(fixedConfig().manifest("aarch64").vars.find((v) => v.name === "SLOT")!.type, { kind: "scalar", name: "usize", size: 8, align: 8 });
});

test("the manifest survives a JSON round trip unchanged", () => {
  const sdk = fixedConfig();
  for (const t of TARGETS) {
    const m = sdk.manifest(t);
    const text = manifestJson(m);
    assert.ok(text.endsWith("}\n"));
    const back = JSON.parse(text) as Manifest;
    assert.deepEqual(back, m);
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
    assert.equal(manifestJson(back), text);
  }
});

test("the min-padding order sorts by decreasing alignment, stably, and removes padding", () => {
  const sdk = fixedConfig({ order: "min-padding" });
  const m = sdk.manifest("riscv32");
  // Alignments on riscv32: HOT 64; CPU_ID, DELTA, RATIO, STATS 8; TEMP, SLOT, ISZ 4; FLAG, NEG 1.
  assert.deepEqual(m.vars.map((v) => [v.name, v.offset, v.paddingBefore]), [
    ["HOT", 0, 0],
    ["CPU_ID", 64, 0],
    ["DELTA", 72, 0],
    ["RATIO", 80, 0],
    ["STATS", 88, 0],
    ["TEMP", 112, 0],
    ["SLOT", 116, 0],
    ["ISZ", 120, 0],
    ["FLAG", 124, 0],
    ["NEG", 125, 0],
  ]);
  assert.equal(m.areaSize, 126);
  assert.equal(m.stride, 128);
  // Same bytes per variable as in definition order.
  const def = new Map(fixedConfig().manifest("riscv32").vars.map((v) => [v.name, v.init]));
  for (const v of m.vars) assert.equal(v.init, def.get(v.name));
  // x86_64: only the self pointer forces padding (before the 64-aligned HOT).
  const x = sdk.manifest("x86_64");
  assert.deepEqual(x.vars.map((v) => v.paddingBefore), [56, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(x.vars.map((v) => v.name).slice(0, 6), ["HOT", "CPU_ID", "DELTA", "RATIO", "STATS", "SLOT"]);
});
