/**
 * What keeps generation linear at kernel scale without changing a byte of
 * its output: texts built in chunks and written chunk by chunk, the manifest
 * text made per variable from its type's text, `.byte`/`.zero` directives
 * without per-byte arrays, and structurally equal types shared so every
 * per-type cache serves all variables of a type.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { pushByteDirectives } from "../arch/_asm.ts";
import { aligned, array, createPercpu, struct, type Target, u16, u32, u64, u8 } from "../mod.ts";
import { writeGeneratedFiles } from "../sdk/fs.ts";
import { manifestJson } from "../sdk/manifest.ts";
import { ChunkedText, LineBuffer } from "../sdk/text.ts";
import { typeLayout } from "../sdk/layout.ts";
import { roughSize, typeArb, valueArb } from "./_arbitraries.ts";
import { test } from "./_harness.ts";
import { withTempDir } from "./_tmp.ts";

const TARGETS: readonly Target[] = ["x86_64", "aarch64", "riscv64", "riscv32", "loongarch64"];

/** Lines of every length class: empty, short, and long enough to close a chunk by characters alone. */
const lineArb = fc.oneof(fc.constant(""), fc.string({ maxLength: 40 }), fc.string({ minLength: 20_000, maxLength: 60_000 }));

test("LineBuffer: the chunks of any lines, taken at any points, concatenate to lines.join(\"\\n\")", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(lineArb, fc.boolean()), { maxLength: 40 }), fc.nat({ max: 9000 }), (lines, filler) => {
      // Filler lines push the buffer across its line-count boundary too.
      const all = [...Array.from({ length: filler }, (_, i) => `l${i}`), ...lines.map(([l]) => l)];
      const takes = [...Array.from({ length: filler }, () => false), ...lines.map(([, t]) => t)];
      const out = new LineBuffer();
      const chunks: string[] = [];
      all.forEach((line, i) => {
        out.push(line);
        if (takes[i]) chunks.push(...out.take());
      });
      chunks.push(...out.end());
      assert.equal(chunks.join(""), all.join("\n"));
    }),
    { numRuns: 60 },
  );
});

test("ChunkedText: every pass over the chunks gives the same text, and text() is their concatenation", () => {
  let passes = 0;
  const text = new ChunkedText(function* () {
    passes++;
    for (let i = 0; i < 1000; i++) yield `chunk ${i}\n`;
  });
  const first = [...text.chunks()].join("");
  const second = [...text.chunks()].join("");
  assert.equal(first, second);
  assert.equal(passes, 2);
  assert.equal(text.text(), first);
  assert.equal(String(text), first);
  // Once whole, the text is not produced again.
  assert.deepEqual([...text.chunks()], [first]);
  assert.equal(passes, 3);
});

/**
 * The `.byte`/`.zero` rule, stated plainly: zero runs of 16 or more bytes are
 * one `.zero`, every other byte goes, in order, into `.byte` lines of 16
 * (the last before a `.zero` or the end may be shorter).
 */
function directivesByRule(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    for (let i = 0; i < pending.length; i += 16) out.push(`\t.byte ${pending.slice(i, i + 16).join(", ")}`);
    pending = [];
  };
  for (let i = 0; i < bytes.length;) {
    let j = i;
    while (j < bytes.length && bytes[j] === 0) j++;
    if (j - i >= 16) {
      flush();
      out.push(`\t.zero ${j - i}`);
      i = j;
    } else {
      pending.push(bytes[i]!);
      i++;
    }
  }
  flush();
  return out;
}

test("pushByteDirectives follows the .zero/.byte rule for any bytes, zero runs of every length around 16 included", () => {
  const runs = fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 40 }).map((n) => new Uint8Array(n))), { maxLength: 12 });
  fc.assert(
    fc.property(runs, (parts) => {
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const lines: string[] = [];
      pushByteDirectives(lines, bytes);
      assert.deepEqual(lines, directivesByRule(bytes));
    }),
    { numRuns: 400 },
  );
});

test("percpu.json is exactly JSON.stringify(manifest, null, 2) for random areas on every target", () => {
  const areas = fc.sample(
    fc.array(typeArb.filter((t) => roughSize(t) <= 4096), { minLength: 0, maxLength: 6 }).chain((types) => fc.tuple(fc.constant(types), fc.tuple(...types.map(valueArb)))),
    { numRuns: 30, seed: 20261201 },
  );
  for (const [types, values] of areas) {
    for (const target of TARGETS) {
      const sdk = createPercpu();
      types.forEach((t, i) => sdk.define(`V${i}`, t, values[i] as never));
      const gen = sdk.generate({ arch: target, cpus: 2 });
      const expected = JSON.stringify(gen.manifest, null, 2) + "\n";
      assert.equal(gen.files["percpu.json"], expected, `${target}: ${types.length} variables`);
      assert.equal(manifestJson(gen.manifest), expected);
    }
  }
});

test("types made by the constructors are shared by structure, so every per-type cache serves all variables of a type", () => {
  assert.equal(array(u32, 3), array(u32, 3));
  assert.notEqual(array(u32, 3), array(u32, 4));
  assert.notEqual(array(u32, 3), array(u16, 3));
  const inner = struct({ x: u8, y: u16 });
  assert.equal(struct({ irqs: u64, hist: array(u16, 4), inner }), struct({ irqs: u64, hist: array(u16, 4), inner: struct({ x: u8, y: u16 }) }));
  // Field order is layout: the same fields in another order are another type.
  assert.notEqual(struct({ x: u8, y: u16 }), struct({ y: u16, x: u8 }));
  assert.notEqual(struct({ x: u8 }), struct({ z: u8 }));
  assert.equal(aligned(u64, 64), aligned(u64, 64));
  assert.notEqual(aligned(u64, 64), aligned(u64, 128));
  assert.equal(typeLayout(array(u32, 3), "riscv32"), typeLayout(array(u32, 3), "riscv32"));
  // A bad type is rejected every time it is asked for, never remembered.
  for (let i = 0; i < 2; i++) {
    assert.throws(() => array(u32, 0), { code: "type_array_length" });
    assert.throws(() => struct({ "a-b": u8 }), { code: "name_not_identifier" });
    assert.throws(() => aligned(u32, 3), { code: "type_alignment_not_power_of_two" });
  }
});

test("a chunked text is written byte for byte, with a surrogate pair across an encode boundary", async () => {
  // 2^18 characters are encoded at a time: put an emoji's two halves on both sides of that boundary.
  const head = "x".repeat((1 << 18) - 1);
  const chunks = [head + "\u{1F600}" + "y".repeat(1000), "é\n".repeat(300_000), "", "end\n"];
  const text = new ChunkedText(() => chunks);
  await withTempDir("percpu-chunks-", async (dir) => {
    await writeGeneratedFiles(dir, { "a.txt": text, "b.txt": chunks.join("") });
    const expected = Buffer.from(chunks.join(""), "utf8");
    assert.deepEqual(await readFile(join(dir, "a.txt")), expected);
    assert.deepEqual(await readFile(join(dir, "b.txt")), expected);
  });
});

test("generate(): what write() puts on disk is byte for byte the files' text, for every output", async () => {
  const sdk = createPercpu();
  const stats = struct({ irqs: u64, hist: array(u16, 4) });
  for (let i = 0; i < 3000; i++) {
    if (i % 3 === 0) sdk.define(`CNT_${i}`, u64, i);
    else if (i % 3 === 1) sdk.define(`ST_${i}`, stats, { irqs: i, hist: [i & 0xffff, 0, 0, 1] });
    else sdk.define(`BY_${i}`, array(u8, 40), new Array(40).fill(i & 0xff));
  }
  const gen = sdk.generate({ arch: "riscv64", cpus: 4, functions: true });
  await withTempDir("percpu-gen-write-", async (dir) => {
    await gen.write(dir);
    for (const [name, text] of Object.entries(gen.files)) {
      assert.ok(text.length > 100_000, `${name}: ${text.length} characters`);
      assert.equal(await readFile(join(dir, name), "utf8"), text, name);
    }
  });
});
