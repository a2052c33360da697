/**
 * Rules for variable and field names: C identifiers that are not reserved
 * words and that cannot collide with the symbols the generators emit.
 *
 * @module
 */
import { fail, type PathSegment, quotePath } from "./errors.ts";

/** C11/C23 keywords plus the GNU spellings a kernel header may see. */
const C_KEYWORDS: ReadonlySet<string> = new Set([
  "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
  "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
  "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
  "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
  "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "alignas", "alignof", "bool",
  "constexpr", "false", "nullptr", "static_assert", "thread_local", "true", "typeof",
  "typeof_unqual", "asm", "__asm__", "__attribute__", "__typeof__", "__volatile__",
]);

/**
 * Register names and assembler operators of the four architectures: as a
 * variable name they would make hand-written asm and disassembly ambiguous.
 */
const ASM_RESERVED: ReadonlySet<string> = new Set([
  // x86_64
  ..."rax rbx rcx rdx rsi rdi rbp rsp rip eax ebx ecx edx esi edi ebp esp ax bx cx dx si di bp sp al bl cl dl ah bh ch dh cs ds es fs gs ss cr0 cr2 cr3 cr4 cr8 byte word dword qword ptr offset".split(" "),
  ...Array.from({ length: 8 }, (_, i) => [`r${i + 8}`, `r${i + 8}d`, `r${i + 8}w`, `r${i + 8}b`]).flat(),
  // aarch64
  ...Array.from({ length: 31 }, (_, i) => [`x${i}`, `w${i}`]).flat(),
  "xzr", "wzr", "lr", "fp", "pc", "tpidr_el0", "tpidr_el1", "tpidr_el2",
  // riscv
  ...Array.from({ length: 32 }, (_, i) => `x${i}`),
  "zero", "ra", "gp", "tp", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "s0", "s1", "s2", "s3", "s4",
  "s5", "s6", "s7", "s8", "s9", "s10", "s11", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
  // loongarch
  ...Array.from({ length: 32 }, (_, i) => `r${i}`),
  "ra", "tp", "sp", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2", "t3", "t4", "t5",
  "t6", "t7", "t8", "u0", "fp", "s9",
]);

/** Length of the longest name in {@link ASM_RESERVED}, and the (lowercase) letters they start with: other names need no lookup. */
const ASM_RESERVED_LONGEST = Math.max(...[...ASM_RESERVED].map((r) => r.length));
const ASM_RESERVED_FIRST: ReadonlySet<number> = new Set([...ASM_RESERVED].map((r) => r.charCodeAt(0)));

/** Longest accepted variable or field name. */
export const MAX_NAME_LENGTH = 64;

/** Whether `name` matches `[A-Za-z_][A-Za-z0-9_]*` (a loop, not a regex: it is as fast on the first call as on the millionth). */
function isIdentifier(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (!letter && (i === 0 || c < 48 || c > 57)) return false;
  }
  return true;
}

/** Length of the longest C keyword: longer names need no lookup. */
const C_KEYWORDS_LONGEST = Math.max(...[...C_KEYWORDS].map((k) => k.length));

function checkIdentifier(name: unknown, path: readonly PathSegment[], what: string): asserts name is string {
  // Built only on failure: this runs for every variable and field defined.
  const where = (): string => quotePath(path);
  if (typeof name !== "string" || !isIdentifier(name)) {
    fail("name_not_identifier", path, `Invalid ${what} name ${where()}: expected a C identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  if (name.length > MAX_NAME_LENGTH) {
    fail("name_too_long", path, `Invalid ${what} name ${where()}: ${name.length} characters, at most ${MAX_NAME_LENGTH} allowed`);
  }
  if (name.length <= C_KEYWORDS_LONGEST && C_KEYWORDS.has(name)) fail("name_reserved_word", path, `Invalid ${what} name ${where()}: it is a C keyword`);
  if (name.startsWith("_")) {
    fail("name_reserved_prefix", path, `Invalid ${what} name ${where()}: a leading underscore is reserved for the implementation`);
  }
  if (name.includes("__")) {
    fail("name_reserved_prefix", path, `Invalid ${what} name ${where()}: "__" joins field paths in generated symbols`);
  }
}

/** Validates a per-CPU variable name. */
export function checkVarName(name: unknown): asserts name is string {
  const path = [typeof name === "string" ? name : String(name)];
  checkIdentifier(name, path, "variable");
  if (name.length <= ASM_RESERVED_LONGEST && ASM_RESERVED_FIRST.has(name.charCodeAt(0) | 0x20) && ASM_RESERVED.has(name.toLowerCase())) {
    fail("name_reserved_word", path, `Invalid variable name ${quotePath(path)}: it is an assembler register or operator name`);
  }
}

/** Validates a struct field name; `path` ends with the field name. */
export function checkFieldName(name: string, path: readonly PathSegment[]): void {
  checkIdentifier(name, path, "field");
}
