/**
 * A small instruction IR for the backends: a lowering returns a list of
 * {@link AsmItem}s (instructions with the registers they write and read,
 * labels, directives) and the text is rendered once, at the edge. Whoever
 * needs to know what a sequence clobbers asks {@link definedRegs}; nothing
 * scans rendered text again.
 *
 * The IR is ISA-neutral: operands are already-spelled operand strings in the
 * arch's syntax (AT&T on x86_64), and the register type `R` is the backend's
 * own register names (a pseudo-register such as `"flags"` may stand for the
 * condition codes).
 *
 * @module
 */

/** An instruction: mnemonic, operands in the arch's printed order, and the registers it writes (`defs`) and reads (`uses`). */
export interface AsmInsn<R extends string = string> {
  readonly kind: "insn";
  readonly op: string;
  readonly operands: readonly string[];
  readonly defs: readonly R[];
  readonly uses: readonly R[];
}

/** A label (`name:`); local numeric labels (`1`) are labels too. */
export interface AsmLabel {
  readonly kind: "label";
  readonly name: string;
}

/** An assembler directive, printed verbatim (`.p2align 4`, `.globl f`). */
export interface AsmDirective {
  readonly kind: "directive";
  readonly text: string;
}

/**
 * One item of an instruction list.
 *
 * @example
 * ```ts
 * import { type AsmItem, insn, label } from "./asm.ts";
 * const loop: AsmItem<"rax" | "flags">[] = [label("1"), insn("decq", ["%rax"], { defs: ["rax", "flags"], uses: ["rax"] }), insn("jnz", ["1b"], { uses: ["flags"] })];
 * loop.length; // 3
 * ```
 */
export type AsmItem<R extends string = string> = AsmInsn<R> | AsmLabel | AsmDirective;

/** The registers an instruction writes and reads (both default to none). */
export interface RegEffects<R extends string = string> {
  readonly defs?: readonly R[];
  readonly uses?: readonly R[];
}

/**
 * An instruction item.
 *
 * @example
 * ```ts
 * import { insn } from "./asm.ts";
 * const i = insn("movq", ["%gs:8", "%rax"], { defs: ["rax"] });
 * i.defs; // ["rax"]
 * ```
 */
export function insn<R extends string = string>(op: string, operands: readonly string[] = [], effects: RegEffects<R> = {}): AsmInsn<R> {
  return { kind: "insn", op, operands, defs: effects.defs ?? [], uses: effects.uses ?? [] };
}

/**
 * A label item (`name` without the colon).
 *
 * @example
 * ```ts
 * import { label, renderLines } from "./asm.ts";
 * renderLines([label(".Lloop")]); // [".Lloop:"]
 * ```
 */
export function label(name: string): AsmLabel {
  return { kind: "label", name };
}

/**
 * A directive item, printed verbatim.
 *
 * @example
 * ```ts
 * import { directive, renderLines } from "./asm.ts";
 * renderLines([directive(".p2align 4")]); // [".p2align 4"]
 * ```
 */
export function directive(text: string): AsmDirective {
  return { kind: "directive", text };
}

/** The text of an instruction without indentation: `op` or `op a, b`. */
function insnText(i: AsmInsn<string>): string {
  return i.operands.length === 0 ? i.op : `${i.op} ${i.operands.join(", ")}`;
}

/**
 * GNU-as lines of an item list: instructions tab-indented, labels and
 * directives unindented (`name:` / the directive text).
 *
 * @example
 * ```ts
 * import { insn, label, renderLines } from "./asm.ts";
 * renderLines([label("1"), insn("cmpxchgq", ["%rdi", "%gs:8"]), insn("jne", ["1b"])]);
 * // ["1:", "\tcmpxchgq %rdi, %gs:8", "\tjne 1b"]
 * ```
 */
export function renderLines(items: readonly AsmItem<string>[]): string[] {
  return items.map((it) => {
    switch (it.kind) {
      case "insn":
        return `\t${insnText(it)}`;
      case "label":
        return `${it.name}:`;
      case "directive":
        return it.text;
    }
  });
}

/**
 * A global function in a section of its own (`.text.<name>`, so a link with
 * `--gc-sections` drops the unused ones): `.section`, `.globl`, `.type`,
 * `.p2align`, the label, the rendered body and `.size`, ending in a newline —
 * the same text as `asmFunction` of `_asm.ts` for the rendered body.
 *
 * @example
 * ```ts
 * import { insn, renderFunction } from "./asm.ts";
 * renderFunction("answer", [insn("movl", ["$42", "%eax"], { defs: ["eax"] }), insn("ret")]);
 * // '.section .text.answer, "ax", %progbits\n.globl answer\n.type answer, %function\n.p2align 4\nanswer:\n\tmovl $42, %eax\n\tret\n.size answer, . - answer\n'
 * ```
 */
export function renderFunction(name: string, body: readonly AsmItem<string>[], align = 16): string {
  const frame = (text: string): AsmDirective => directive(text);
  return [
    ...renderLines([
      frame(`.section .text.${name}, "ax", %progbits`),
      frame(`.globl ${name}`),
      frame(`.type ${name}, %function`),
      frame(`.p2align ${Math.log2(align)}`),
      label(name),
      ...body,
      frame(`.size ${name}, . - ${name}`),
    ]),
    "",
  ].join("\n");
}

/**
 * The body of a C inline-asm template string for an item list (without the
 * quotes): items separated by an escaped newline, instructions after the
 * first item tab-indented unless they follow a label on the same line.
 * Operands are spelled as inline asm wants them (`%%gs:8`, `%[v]`).
 *
 * @example
 * ```ts
 * import { inlineTemplate, insn, label } from "./asm.ts";
 * inlineTemplate([insn("movq", ["%%gs:8", "%[o]"]), label("1"), insn("cmpxchgq", ["%[v]", "%%gs:8"]), insn("jne", ["1b"])]);
 * // "movq %%gs:8, %[o]\\n1:\\tcmpxchgq %[v], %%gs:8\\n\\tjne 1b"
 * ```
 */
export function inlineTemplate(items: readonly AsmItem<string>[]): string {
  let out = "";
  let afterLabel = false;
  items.forEach((it, k) => {
    const text = it.kind === "insn" ? insnText(it) : it.kind === "label" ? `${it.name}:` : it.text;
    const sep = k === 0 ? "" : it.kind === "insn" && afterLabel ? "\\t" : it.kind === "insn" ? "\\n\\t" : "\\n";
    out += sep + text;
    afterLabel = it.kind === "label";
  });
  return out;
}

/** The distinct registers of a field of every instruction, in first-seen order. */
function collect<R extends string>(items: readonly AsmItem<R>[], field: "defs" | "uses"): R[] {
  const seen = new Set<R>();
  for (const it of items) if (it.kind === "insn") for (const r of it[field]) seen.add(r);
  return [...seen];
}

/**
 * Every register an item list writes, each once, in first-written order
 * (what a clobber list or a callee-saved check needs).
 *
 * @example
 * ```ts
 * import { definedRegs, insn } from "./asm.ts";
 * definedRegs([insn("movq", ["%rdi", "%rax"], { defs: ["rax"], uses: ["rdi"] }), insn("addq", ["$1", "%rax"], { defs: ["rax", "flags"], uses: ["rax"] })]);
 * // ["rax", "flags"]
 * ```
 */
export function definedRegs<R extends string>(items: readonly AsmItem<R>[]): R[] {
  return collect(items, "defs");
}

/**
 * Every register an item list reads, each once, in first-read order.
 *
 * @example
 * ```ts
 * import { insn, usedRegs } from "./asm.ts";
 * usedRegs([insn("movq", ["%rdi", "%rax"], { defs: ["rax"], uses: ["rdi"] })]); // ["rdi"]
 * ```
 */
export function usedRegs<R extends string>(items: readonly AsmItem<R>[]): R[] {
  return collect(items, "uses");
}
