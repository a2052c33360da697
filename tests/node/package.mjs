// What npm ships and what npm resolves: the packed tarball carries LICENSE, every
// file README.md links to and the ffi-workers example; a CommonJS program can
// require() the installed package; the committed package-lock.json is exactly what
// `npm install` writes. Needs dist/ (scripts/test.sh builds it first).
// Ends with `node-package: N passed, N failed`; exits 1 on any failure.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { checks, root, sh } from "./_lib.mjs";

const { check, finish } = checks("node-package", "node package");


/** Relative link targets of a Markdown text (`[x](path)`, `![x](path)`), without anchors. */
function relativeLinks(markdown) {
  const links = [...markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
  return links.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l) && !l.startsWith("#")).map((l) => l.split("#")[0]);
}

const work = mkdtempSync(join(tmpdir(), "percpu-package-"));
const project = join(work, "app");
try {
  const tgz = join(work, sh("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", work], root).trim().split("\n").pop());
  const files = new Set(sh("tar", ["-tzf", tgz], work).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, "")));

  await check("the tarball ships LICENSE and the ffi-workers example", () => {
    assert.ok(files.has("LICENSE"), "LICENSE");
    assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License\n\nCopyright \(c\) 2026 the percpu SDK authors\n/);
    for (const f of readdirSync(join(root, "examples", "ffi-workers"))) assert.ok(files.has(`examples/ffi-workers/${f}`), f);
  });

  await check("every relative link in README.md resolves inside the tarball", () => {
    const links = relativeLinks(readFileSync(join(root, "README.md"), "utf8"));
    assert.ok(links.includes("docs/kernel-layout-riscv64.svg"), `the layout picture is linked (found ${links.join(", ")})`);
    const missing = links.map((l) => posix.normalize(l).replace(/\/$/, "")).filter((l) => !files.has(l) && ![...files].some((f) => f.startsWith(`${l}/`)));
    assert.deepEqual(missing, [], "linked but not packed");
  });

  await check("a CommonJS program require()s the installed package", () => {
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tgz], project);
    writeFileSync(
      join(project, "main.cjs"),
      `const { createPercpu, u64, PercpuError } = require("percpu-sdk");
const sdk = createPercpu();
sdk.define("CPU_ID", u64, 0);
const gen = sdk.generate({ arch: "aarch64", cpus: 2 });
console.log(JSON.stringify({ stride: sdk.layout("aarch64").stride, asm: gen.files["percpu.S"].includes("__PERCPU_CPU_ID"), error: typeof PercpuError, resolved: require.resolve("percpu-sdk").endsWith("/node_modules/percpu-sdk/dist/mod.js") }));
`,
    );
    const out = JSON.parse(sh("node", ["main.cjs"], project).trim());
    assert.deepEqual(out, { stride: 64, asm: true, error: "function", resolved: true });
  });

  await check("the committed package-lock.json is exactly what npm install writes", () => {
    const copy = join(work, "lock");
    mkdirSync(copy);
    for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(root, f), join(copy, f));
    sh("npm", ["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], copy);
    const written = readFileSync(join(copy, "package-lock.json"), "utf8").split("\n");
    const committed = readFileSync(join(root, "package-lock.json"), "utf8").split("\n");
    const line = written.findIndex((l, i) => l !== committed[i]);
    assert.ok(line === -1 && written.length === committed.length, `package-lock.json differs from what npm writes at line ${line + 1}: ${JSON.stringify(written[line])}; run \`npm install\` and commit it`);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

finish();
