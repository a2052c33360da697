// Node checks against the built package (dist/, from `npm run build`): the
// published ESM entry loads in plain Node, lays out and describes variables
// exactly as the TypeScript sources do on Deno, and throws PercpuError.
// Ends with `node: N passed, N failed`; exits 1 on any failure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = join(root, "dist", "mod.js");
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${String(e?.stack ?? e).split("\n").map((l) => `     ${l}`).join("\n")}`);
  }
}

/**
 * One configuration, run here against dist/ and on Deno against the sources
 * (its text is sent to `deno eval`), so both must agree byte for byte.
 */
const config = (m) => {
  const sdk = m.createPercpu();
  sdk.define("FLAG", m.bool, true);
  sdk.define("NEG", m.i8, -2);
  sdk.define("TEMP", m.f32, 0.1);
  sdk.define("CPU_ID", m.u64, 0x0102030405060708n);
  sdk.define("STATS", m.struct({ irqs: m.u64, ticks: m.u32, hist: m.array(m.i16, 3) }), { irqs: 5, ticks: 0xdeadbeef, hist: [-1, 2, -32768] });
  sdk.define("HOT", m.aligned(m.u32, 64), 7);
  sdk.define("SLOT", m.usize, 0x12345678);
  return m.TARGETS.map((t) => JSON.stringify(sdk.manifest(t))).join("\n");
};

let mod;
await check("dist/mod.js and dist/mod.d.ts exist and the package entry points at them", async () => {
  assert.ok(existsSync(dist), "dist/mod.js is missing: run `npm run build` first");
  assert.ok(existsSync(join(root, "dist", "mod.d.ts")));
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.equal(pkg.exports["."].import, "./dist/mod.js");
  mod = await import(pathToFileURL(dist).href);
  for (const name of ["createPercpu", "percpu", "PercpuError", "struct", "array", "aligned", "u64", "TARGETS"]) assert.ok(name in mod, name);
});

if (mod) {
  const { createPercpu, PercpuError, struct, array, aligned, u8, u32, u64, i8, f32, usize } = mod;

  await check("define() normalises values (u64 to bigint) and freezes them", () => {
    const sdk = createPercpu();
    const id = sdk.define("CPU_ID", u64, 5);
    const s = sdk.define("S", struct({ a: u8, b: array(u32, 2) }), { a: 1, b: [2, 3] });
    assert.equal(id.init, 5n);
    assert.deepEqual(s.init, { a: 1, b: [2, 3] });
    assert.ok(Object.isFrozen(s.init));
  });

  await check("layout() offsets, stride and self pointer match hand-computed values", () => {
    const sdk = createPercpu();
    sdk.define("FLAG", u8, 1);
    sdk.define("CPU_ID", u64, 7n);
    sdk.define("HOT", aligned(u32, 64), 3);
    sdk.define("SLOT", usize, 9);
    const x = sdk.layout("x86_64");
    assert.deepEqual(x.vars.map((v) => [v.name, v.offset, v.size]), [["FLAG", 8, 1], ["CPU_ID", 16, 8], ["HOT", 64, 64], ["SLOT", 128, 8]]);
    assert.deepEqual([x.areaSize, x.stride, x.selfPointerOffset], [136, 192, 0]);
    const r = sdk.layout("riscv32");
    assert.deepEqual(r.vars.map((v) => [v.name, v.offset, v.size]), [["FLAG", 0, 1], ["CPU_ID", 8, 8], ["HOT", 64, 64], ["SLOT", 128, 4]]);
    assert.deepEqual([r.areaSize, r.stride, r.selfPointerOffset], [132, 192, null]);
  });

  await check("manifest() has the format header and little-endian initial bytes", () => {
    const sdk = createPercpu();
    sdk.define("NEG", i8, -2);
    sdk.define("TEMP", f32, 0.1);
    sdk.define("CPU_ID", u64, 0x0102030405060708n);
    const m = sdk.manifest("aarch64");
    assert.equal(m.format, "percpu-manifest");
    assert.equal(m.version, 1);
    assert.equal(m.target, "aarch64");
    assert.equal(m.endian, "little");
    const f = new DataView(new ArrayBuffer(4));
    f.setFloat32(0, 0.1, true);
    const f32hex = Buffer.from(f.buffer).toString("hex");
    assert.deepEqual(m.vars.map((v) => [v.name, v.offset, v.init]), [["NEG", 0, "fe"], ["TEMP", 4, f32hex], ["CPU_ID", 8, "0807060504030201"]]);
    assert.equal(f32hex, "cdcccc3d");
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
  });

  await check("bad input throws PercpuError with a code and a path, and defines nothing", () => {
    const sdk = createPercpu();
    sdk.define("STATS", struct({ hist: array(u8, 3) }), { hist: [1, 2, 3] });
    let err;
    try {
      sdk.define("OTHER", struct({ hist: array(u8, 3) }), { hist: [1, 2, 256] });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof PercpuError);
    assert.ok(err instanceof Error);
    assert.equal(err.code, "init_out_of_range");
    assert.deepEqual(err.path, ["OTHER", "hist", 2]);
    assert.match(err.message, /"OTHER\.hist\[2\]"/);
    assert.deepEqual(sdk.vars.map((v) => v.name), ["STATS"]);
    assert.throws(() => sdk.define("STATS", u8, 1), (e) => e instanceof PercpuError && e.code === "name_duplicate");
    sdk.layout("x86_64");
    assert.throws(() => sdk.define("LATE", u8, 1), (e) => e instanceof PercpuError && e.code === "sealed");
    assert.throws(() => sdk.layout("mips"), (e) => e instanceof PercpuError && e.code === "target_unknown");
    assert.throws(() => createPercpu({ order: "random" }), (e) => e instanceof PercpuError && e.code === "options_invalid");
  });

  await check("dist/ on Node and the sources on Deno give byte-identical manifests", () => {
    const ours = config(mod);
    const code = `const m = await import(${JSON.stringify(join(root, "mod.ts"))}); console.log((${config.toString()})(m));`;
    const r = spawnSync(join(root, "node_modules", ".bin", "deno"), ["eval", "--ext=ts", code], { cwd: root, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const theirs = r.stdout.trimEnd();
    assert.equal(theirs.split("\n").length, mod.TARGETS.length);
    const hash = (s) => createHash("sha256").update(s).digest("hex");
    assert.equal(hash(theirs), hash(ours));
    assert.equal(theirs, ours);
  });
}

await check("on Node, write() under /proc fails within seconds with write_failed (a recursive mkdir would spin forever there)", () => {
  const code = `const m = await import(${JSON.stringify(pathToFileURL(dist).href)});
const s = m.createPercpu();
s.define("A", m.u8, 0);
try { await s.generate({ arch: "riscv64" }).write("/proc/percpu-x/out"); console.log("wrote"); } catch (e) { console.log(e.code); }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.signal, null, "node was still running after 20 s");
  assert.equal(r.stdout.trim(), "write_failed", r.stderr);
});

console.log(`node: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
