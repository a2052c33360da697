// The package works for a Node user who never heard of Deno: `npm pack` the
// built package, install the tarball into a fresh project, then on Node (koffi)
// import it, generate, load the shim and call an accessor, and run the `percpu` bin.
// Ends with `node-pack: N passed, N failed`; exits 1 on any failure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let passed = 0;
let failed = 0;

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   node pack > ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL node pack > ${name}\n     ${(e && e.stack) || e}`);
  }
}

const work = mkdtempSync(join(tmpdir(), "percpu-pack-"));
const project = join(work, "app");
try {
  await check("npm pack produces a tarball with dist/ and no sources", () => {
    sh("npm", ["pack", "--ignore-scripts", "--pack-destination", work], root);
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "tarball");
    const list = sh("tar", ["-tzf", join(work, tgz)], work).split("\n");
    assert.ok(list.includes("package/dist/mod.js") && list.includes("package/dist/mod.d.ts") && list.includes("package/dist/cli/main.js"));
    assert.ok(!list.some((f) => f.startsWith("package/tests/") || f.endsWith(".ts") && !f.endsWith(".d.ts")), "only built files");
  });

  await check("the tarball installs into a fresh Node project", () => {
    sh("mkdir", ["-p", project], work);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(work, tgz)], project);
  });

  await check("a Node program imports it, generates, loads the shim and calls the accessors natively", () => {
    writeFileSync(
      join(project, "main.mjs"),
      `import { createPercpu, u64, u32, struct, PercpuError } from "percpu-sdk";
const sdk = createPercpu();
const HITS = sdk.define("HITS", u64, 40n);
const STATS = sdk.define("STATS", struct({ irqs: u32, ticks: u64 }), { irqs: 1, ticks: 2n });
const gen = sdk.generate({ arch: "riscv64", cpus: 2 });
if (!gen.files["percpu.S"].includes("__PERCPU_HITS")) throw new Error("no storage symbol");
await sdk.load({ cpus: 2 });
sdk.init(2);
sdk.initPercpuReg(1);
HITS.addCurrent(2n);
STATS.writeCurrent({ irqs: 7, ticks: 9n });
let misuse = "";
try { HITS.remoteRead(2); } catch (e) { misuse = e instanceof PercpuError ? e.code : "other"; }
console.log(JSON.stringify({ hits: String(HITS.readCurrent()), sum: String(HITS.sum()), off: HITS.offset(), ptr: String(HITS.currentPtr() - sdk.readPercpuReg()), stats: STATS.remoteRead(1).irqs, misuse }));
sdk.close();
`,
    );
    const out = JSON.parse(sh("node", ["main.mjs"], project).trim());
    assert.deepEqual(out, { hits: "42", sum: "82", off: 8, ptr: "8", stats: 7, misuse: "native_cpu_out_of_range" });
  });

  await check("the percpu bin runs a JavaScript config on Node and through bunx", () => {
    writeFileSync(join(project, "percpu.config.mjs"), `import { createPercpu, u64 } from "percpu-sdk";\nconst sdk = createPercpu();\nsdk.define("CPU_ID", u64, 0);\nexport default sdk;\n`);
    const out = sh(join(project, "node_modules", ".bin", "percpu"), ["layout", "percpu.config.mjs", "--arch", "aarch64"], project);
    assert.match(out, /^aarch64: area 8 bytes, stride 64/);
    assert.match(out, /CPU_ID\s+u64/);
    const viaBunx = sh(join(root, "node_modules", ".bin", "bunx"), ["percpu", "layout", "percpu.config.mjs", "--arch", "riscv32"], project);
    assert.match(viaBunx, /^riscv32: area 8 bytes, stride 64/);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(`node-pack: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
