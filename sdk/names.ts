/**
 * Rules for variable and field names: C identifiers that are not C keywords,
 * that do not start with `_` or contain `__`, and that cannot collide with
 * the symbols the generators emit (that last check is `SymbolClashes` in
 * `sdk/symbols.ts`, run by `define()`). Field names, which `percpu.h` writes
 * bare as struct members, must also not be C++ keywords, standard macros
 * (`SIZE_MAX`, `NULL`) or start with `PERCPU_` (the header's macros).
 *
 * Register and assembler operator names (`SP`, `PTR`, `OFFSET`, `rax`, `x0`,
 * `a0`, ...) are accepted: no generated file ever writes a bare name. Every
 * symbol carries a prefix (`__PERCPU_<N>`, `percpu_<N>_<op>`,
 * `PERCPU_<N>_OFFSET`, `PERCPU_L_<N>...`, `percpu_<N>_t`), and the generic C
 * accessors paste the name onto a prefix with `##` before it is ever expanded.
 *
 * Names that differ only in case (`sp`, `SP`, `Sp`) are accepted too: C, the
 * C preprocessor, GNU as, LLVM's integrated assembler, ld.bfd and ld.lld all
 * compare symbols case-sensitively, and so do the JS side and `percpu.json`;
 * no file name is derived from a variable name (the FFI cache is keyed by a
 * hash). The one case-insensitive namespace of the toolchain is GNU as's
 * `.macro` names, and no generated `percpu.S` defines a macro.
 * `tests/names_test.ts` proves both with the real tools.
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
 * C++ keywords and alternative operator tokens that are not C keywords:
 * `percpu.h` is also a C++ header, and a field name appears bare in the
 * struct it declares (`uint64_t new;` does not compile as C++).
 */
const CXX_KEYWORDS: ReadonlySet<string> = new Set([
  "and", "and_eq", "bitand", "bitor", "catch", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
  "consteval", "constinit", "const_cast", "co_await", "co_return", "co_yield", "decltype", "delete",
  "dynamic_cast", "explicit", "export", "friend", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
  "operator", "or", "or_eq", "private", "protected", "public", "reinterpret_cast", "requires", "static_cast",
  "template", "this", "throw", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
]);

/** Length of the longest C++ keyword: longer field names need no lookup. */
const CXX_KEYWORDS_LONGEST = Math.max(...[...CXX_KEYWORDS].map((k) => k.length));

/**
 * The object-like limit macros of `<stdint.h>` (C99 `_MIN`/`_MAX`, C23 `_WIDTH`), which
 * `percpu.h` includes: a field `SIZE_MAX` would be expanded inside its struct.
 */
const STDINT_MACRO = /^(U?INT(8|16|32|64|_LEAST(8|16|32|64)|_FAST(8|16|32|64)|PTR|MAX)|PTRDIFF|SIG_ATOMIC|SIZE|WCHAR|WINT)_(MIN|MAX|WIDTH)$/;

/** Prefix of the object-like macros `percpu.h` defines (`PERCPU_STRIDE`, `PERCPU_<N>_OFFSET`, `PERCPU_L_<LEAF>`, `PERCPU_INLINE`). */
const HEADER_MACRO_PREFIX = "PERCPU_";

/** Longest accepted variable or field name. */
export const MAX_NAME_LENGTH = 64;

/** Longest name quoted whole in a message; longer ones are cut (a name may be any string a caller passes). */
const QUOTE_LIMIT = 100;

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

/** A rejected name as a message shows it: a string JSON-quoted (escapes visible, cut after {@link QUOTE_LIMIT} characters), anything else as its value (`42`, `null`, `an object`). */
function describeName(name: unknown): string {
  if (typeof name === "string") {
    return name.length > QUOTE_LIMIT ? `${JSON.stringify(name.slice(0, QUOTE_LIMIT))}... (${name.length} characters)` : JSON.stringify(name);
  }
  if (typeof name === "bigint") return `${name}n`;
  if (name === null) return "null";
  if (typeof name === "object") return Array.isArray(name) ? "an array" : "an object";
  if (typeof name === "function") return "a function";
  return String(name);
}

/**
 * The subject of a message: `variable name "1abc"`, or `field name "hit-count"
 * of "STATS"` (the enclosing path quoted too, so nested fields are found).
 */
function subject(name: unknown, path: readonly PathSegment[], what: "variable" | "field"): string {
  const where = what === "field" && path.length > 1 ? ` of ${quotePath(path.slice(0, -1))}` : "";
  return `${what} name ${describeName(name)}${where}`;
}

function checkIdentifier(name: unknown, path: readonly PathSegment[], what: "variable" | "field"): asserts name is string {
  // Messages are built only on failure: this runs for every variable and field defined.
  if (typeof name !== "string") {
    fail("name_not_identifier", path, `Invalid ${what} name: expected a C identifier string ([A-Za-z_][A-Za-z0-9_]*), got ${describeName(name)}`);
  }
  if (!isIdentifier(name)) {
    fail("name_not_identifier", path, `Invalid ${subject(name, path, what)}: expected a C identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  if (name.length > MAX_NAME_LENGTH) {
    fail("name_too_long", path, `Invalid ${subject(name, path, what)}: ${name.length} characters, at most ${MAX_NAME_LENGTH} allowed`);
  }
  if (name.length <= C_KEYWORDS_LONGEST && C_KEYWORDS.has(name)) fail("name_reserved_word", path, `Invalid ${subject(name, path, what)}: it is a C keyword`);
  if (name.charCodeAt(0) === 95 /* _ */) {
    fail("name_reserved_prefix", path, `Invalid ${subject(name, path, what)}: a leading underscore is reserved for the implementation`);
  }
  if (name.includes("__")) {
    fail("name_double_underscore", path, `Invalid ${subject(name, path, what)}: "__" joins field paths in generated symbols (STATS__irqs), so no name may contain it`);
  }
}

/**
 * Validates a per-CPU variable name: a C identifier of at most
 * {@link MAX_NAME_LENGTH} characters, not a C keyword, not starting with `_`
 * and not containing `__`. Register names (`SP`, `rax`) and names equal
 * ignoring case are fine; clashes with generated symbols are found later by
 * `SymbolClashes`.
 *
 * @example
 * ```ts
 * import { checkVarName } from "./names.ts";
 * import { PercpuError } from "./errors.ts";
 * checkVarName("SP"); // fine: every generated symbol is prefixed
 * try {
 *   checkVarName("a__b");
 * } catch (e) {
 *   if (e instanceof PercpuError) console.log(e.code); // name_double_underscore
 * }
 * ```
 */
export function checkVarName(name: unknown): asserts name is string {
  // A non-string goes into the path as the message shows it (`42`, `an object`): String() of some objects throws.
  checkIdentifier(name, [typeof name === "string" ? name : describeName(name)], "variable");
}

/**
 * Validates a struct field name by the rules of {@link checkVarName}, and,
 * because `percpu.h` declares each field by its bare name in a struct (for C
 * and C++), also rejects C++ keywords (`new`, `class`), the `<stdint.h>` limit
 * macros (`SIZE_MAX`, `INT64_WIDTH`) and the `PERCPU_` prefix of the header's
 * own macros. `path` ends with the field name and is what the error carries.
 *
 * @example
 * ```ts
 * import { checkFieldName } from "./names.ts";
 * import { PercpuError } from "./errors.ts";
 * checkFieldName("sp", ["REGS", "sp"]); // fine
 * try {
 *   checkFieldName("_pad", ["REGS", "_pad"]);
 * } catch (e) {
 *   if (e instanceof PercpuError) console.log(e.message); // Invalid field name "_pad" of "REGS": a leading underscore ...
 * }
 * ```
 */
export function checkFieldName(name: string, path: readonly PathSegment[]): void {
  checkIdentifier(name, path, "field");
  // Unlike a variable name (only ever pasted onto a prefix with ##), a field name is a bare
  // member name in percpu.h's typedef: it must not be a C++ keyword or a macro the header sees.
  if (name.length <= CXX_KEYWORDS_LONGEST && CXX_KEYWORDS.has(name)) {
    fail("name_reserved_word", path, `Invalid ${subject(name, path, "field")}: it is a C++ keyword, and percpu.h declares the field by name for C and C++`);
  }
  const last = name.charCodeAt(name.length - 1);
  if ((last === 88 /* X */ || last === 78 /* N */ || last === 72 /* H */) && STDINT_MACRO.test(name)) {
    fail("name_reserved_word", path, `Invalid ${subject(name, path, "field")}: it is a <stdint.h> macro, which percpu.h includes`);
  }
  if (name === "NULL") fail("name_reserved_word", path, `Invalid ${subject(name, path, "field")}: it is the <stddef.h> macro, defined in nearly every C file`);
  if (name.startsWith(HEADER_MACRO_PREFIX)) {
    fail("name_reserved_prefix", path, `Invalid ${subject(name, path, "field")}: "${HEADER_MACRO_PREFIX}" is the prefix of percpu.h's macros, and the header declares the field by name`);
  }
}
