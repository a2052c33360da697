/**
 * The instruction IR of arch/asm.ts: rendering (the same text as `_asm.ts`'s
 * `asmFunction`, assembled by clang-19 and read back with llvm-objdump-19),
 * inline-asm templates (compiled in C) and the def/use collection.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { asmFunction } from "../arch/_asm.ts";
import { type AsmItem, definedRegs, directive, inlineTemplate, insn, label, renderFunction, renderLines, usedRegs } from "../arch/asm.ts";
import { test } from "./_harness.ts";
import { CLANG, disassemble, runOk } from "./_toolchain.ts";
import { withTempDir } from "./_tmp.ts";

type R = "rax" | "rdi" | "rsi" | "flags";

/** `count(n)`: returns n after a decrementing loop (a label, a backward local jump, flags written and read). */
const countDown: AsmItem<R>[] = [
  insn("movq", ["%rdi", "%rax"], { defs: ["rax"], uses: ["rdi"] }),
  insn("movq", ["%rdi", "%rsi"], { defs: ["rsi"], uses: ["rdi"] }),
  label("1"),
  insn("decq", ["%rsi"], { defs: ["rsi", "flags"], uses: ["rsi"] }),
  insn("jnz", ["1b"], { uses: ["flags"] }),
  insn("ret"),
];

test("asm IR (x86_64): renderLines indents instructions with a tab and leaves labels and directives unindented", () => {
  assert.deepEqual(renderLines([directive(".p2align 4"), label(".Lx"), insn("rep movsb"), insn("addq", ["$8", "%rax"]), insn("ret")]), [
    ".p2align 4",
    ".Lx:",
    "\trep movsb",
    "\taddq $8, %rax",
    "\tret",
  ]);
});

test("asm IR (x86_64): renderFunction prints exactly what asmFunction prints for the same body", () => {
  const asText = ["movq %rdi, %rax", "movq %rdi, %rsi", "1:", "decq %rsi", "jnz 1b", "ret"];
  assert.equal(renderFunction("count", countDown), asmFunction("count", asText));
  assert.equal(renderFunction("count", countDown, 64), asmFunction("count", asText, 64));
});

test("asm IR (x86_64): a rendered function assembles with clang-19 and disassembles to its instructions", async () => {
  await withTempDir("asm-ir", async (dir) => {
    await writeFile(join(dir, "f.S"), [renderFunction("count", countDown), `.section .note.GNU-stack, "", @progbits`, ""].join("\n"));
    await runOk(CLANG, ["--target=x86_64-unknown-none-elf", "-c", "f.S", "-o", "f.o"], { cwd: dir });
    const insns = (await disassemble(join(dir, "f.o"))).get("count");
    assert.ok(insns, "no <count> in the disassembly");
    assert.equal(insns.length, 5);
    assert.deepEqual(insns.slice(0, 3), ["movq %rdi, %rax", "movq %rdi, %rsi", "decq %rsi"]);
    assert.match(insns[3]!, /^jne 0x6\b/); // back to the decq after the two 3-byte moves
    assert.equal(insns[4], "retq");
  });
});

test("asm IR (x86_64): definedRegs and usedRegs list each register once in first-seen order, labels and directives add none", () => {
  assert.deepEqual(definedRegs(countDown), ["rax", "rsi", "flags"]);
  assert.deepEqual(usedRegs(countDown), ["rdi", "rsi", "flags"]);
  assert.deepEqual(definedRegs([label("a"), directive(".p2align 3"), insn("ret")]), []);
});

test("asm IR (x86_64): inlineTemplate joins a retry loop into one C template that clang-19 compiles to the same instructions", async () => {
  const loop: AsmItem<R>[] = [
    insn("movq", ["%[m]", "%[o]"]),
    label("1"),
    insn("cmpxchgq", ["%[v]", "%[m]"], { defs: ["rax", "flags"], uses: ["rax"] }),
    insn("jne", ["1b"], { uses: ["flags"] }),
  ];
  const template = inlineTemplate(loop);
  assert.equal(template, "movq %[m], %[o]\\n1:\\tcmpxchgq %[v], %[m]\\n\\tjne 1b");
  const clobbers = definedRegs(loop).includes("flags") ? `"memory", "cc"` : `"memory"`;
  assert.equal(clobbers, `"memory", "cc"`);
  await withTempDir("asm-ir", async (dir) => {
    await writeFile(
      join(dir, "x.c"),
      [
        "unsigned long swap(unsigned long *p, unsigned long v) {",
        "  unsigned long o;",
        `  __asm__ __volatile__("${template}" : [o] "=&a"(o), [m] "+m"(*p) : [v] "r"(v) : ${clobbers});`,
        "  return o;",
        "}",
        "",
      ].join("\n"),
    );
    await runOk(CLANG, ["--target=x86_64-unknown-none-elf", "-O2", "-fomit-frame-pointer", "-Wall", "-Werror", "-c", "x.c", "-o", "x.o"], { cwd: dir });
    const insns = (await disassemble(join(dir, "x.o"))).get("swap");
    assert.ok(insns, "no <swap> in the disassembly");
    assert.equal(insns.length, 4);
    assert.deepEqual([insns[0], insns[1], insns[3]], ["movq (%rdi), %rax", "cmpxchgq %rsi, (%rdi)", "retq"]);
    assert.match(insns[2]!, /^jne 0x3\b/); // back to the cmpxchg after the 3-byte load
  });
});
