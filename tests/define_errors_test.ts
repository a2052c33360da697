/**
 * Bad input → a clear `PercpuError`, nothing defined. Every case is its own
 * test: it checks the class, the exact `code`, the `path`, that the message
 * names the variable/field, that `sdk.vars` and the layout are unchanged, and
 * that a valid definition afterwards still works (no half-registered symbols).
 */
import assert from "node:assert/strict";
import {
  aligned,
  array,
  bool,
  createPercpu,
  f32,
  f64,
  i16,
  i32,
  i64,
  i8,
  isize,
  PERCPU_ERROR_CODES,
  PercpuError,
  type PercpuErrorCode,
  type PathSegment,
  type PercpuSdk,
  type PercpuType,
  struct,
  u16,
  u32,
  u64,
  u8,
  usize,
} from "../mod.ts";
import { test } from "./_harness.ts";

/** Defines without the compile-time checks (bad inputs are the point here). */
function defineAny(sdk: PercpuSdk, name: unknown, type: unknown, init: unknown): void {
  sdk.define(name as string, type as PercpuType, init);
}

/** One bad input. */
interface BadInput {
  /** Completes "define() rejects …". */
  readonly what: string;
  /** The whole test name when the bad call is not define(). */
  readonly title?: string;
  readonly code: PercpuErrorCode;
  readonly path: readonly PathSegment[];
  /** Substrings the message must contain (the quoted variable/field path, the bad value). */
  readonly mentions: readonly string[];
  /** Variables defined before the bad call (must survive it untouched). */
  readonly setup?: (sdk: PercpuSdk) => void;
  /** The bad call. */
  readonly act: (sdk: PercpuSdk) => unknown;
  /** A valid definition that must still work afterwards (same name when the name was fine); its var name. */
  readonly retry?: (sdk: PercpuSdk) => string;
  /** Options of the instance. */
  readonly fresh?: () => PercpuSdk;
}

/** Runs `act`, returns the `PercpuError` it must throw. */
function expectPercpuError(act: () => unknown): PercpuError {
  let thrown: unknown;
  try {
    act();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, "expected a PercpuError, nothing was thrown");
  assert.ok(thrown instanceof PercpuError, `expected a PercpuError, got ${String(thrown)}`);
  assert.ok(thrown instanceof Error);
  assert.equal(thrown.name, "PercpuError");
  return thrown;
}

/** Std-style message: sentence case, no trailing period. */
function assertMessageStyle(message: string): void {
  assert.match(message, /^[A-Z]/, `message not in sentence case: ${message}`);
  assert.doesNotMatch(message, /\.$/, `message ends with a period: ${message}`);
}

function registerBad(c: BadInput): void {
  test(c.title ?? `define() rejects ${c.what}`, () => {
    const sdk = c.fresh ? c.fresh() : createPercpu();
    c.setup?.(sdk);
    const before = [...sdk.vars];
    const e = expectPercpuError(() => c.act(sdk));
    assert.equal(e.code, c.code, `code (message: ${e.message})`);
    assert.ok((PERCPU_ERROR_CODES as readonly string[]).includes(e.code));
    assert.deepEqual(e.path, c.path, `path (message: ${e.message})`);
    for (const m of c.mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} does not mention ${m}`);
    assertMessageStyle(e.message);
    // Nothing was defined: the same handles, in the same order.
    assert.equal(sdk.vars.length, before.length);
    sdk.vars.forEach((v, i) => assert.equal(v, before[i]));
    if (c.retry) {
      const name = c.retry(sdk);
      assert.deepEqual(sdk.vars.map((v) => v.name), [...before.map((v) => v.name), name]);
      // The layout has exactly these variables, each with its bytes.
      const l = sdk.layout("riscv64");
      assert.deepEqual(l.vars.map((v) => v.name), sdk.vars.map((v) => v.name));
    }
  });
}

const STATS_T = struct({ irqs: u64, ticks: u32, hist: array(u8, 4) });
const STATS_OK = { irqs: 1n, ticks: 2, hist: [1, 2, 3, 4] };
const retryStats = (sdk: PercpuSdk): string => {
  sdk.define("STATS", STATS_T, STATS_OK);
  return "STATS";
};
const retryU8 = (name: string) => (sdk: PercpuSdk): string => {
  sdk.define(name, u8, 7);
  return name;
};

// ---------------------------------------------------------------- names

const badNames: { what: string; name: unknown; code: PercpuErrorCode; path: string; mention: string }[] = [
  { what: "a name starting with a digit", name: "1CPU", code: "name_not_identifier", path: "1CPU", mention: "C identifier" },
  { what: "a name with a dash", name: "CPU-ID", code: "name_not_identifier", path: "CPU-ID", mention: "C identifier" },
  { what: "a name with a space", name: "CPU ID", code: "name_not_identifier", path: "CPU ID", mention: "C identifier" },
  { what: "a name with a dot", name: "STATS.irqs", code: "name_not_identifier", path: "STATS.irqs", mention: "C identifier" },
  { what: "an empty name", name: "", code: "name_not_identifier", path: "", mention: "C identifier" },
  { what: "a non-ASCII name", name: "CPÜ", code: "name_not_identifier", path: "CPÜ", mention: "C identifier" },
  { what: "a name that is not a string", name: 42, code: "name_not_identifier", path: "42", mention: "got 42" },
  { what: "a null name", name: null, code: "name_not_identifier", path: "null", mention: "got null" },
  { what: "the C keyword int as a name", name: "int", code: "name_reserved_word", path: "int", mention: "C keyword" },
  { what: "the C11 keyword _Atomic as a name", name: "_Atomic", code: "name_reserved_word", path: "_Atomic", mention: "C keyword" },
  { what: "a name with a leading underscore", name: "_CPU", code: "name_reserved_prefix", path: "_CPU", mention: "leading underscore" },
  { what: "a name containing a double underscore", name: "CPU__ID", code: "name_double_underscore", path: "CPU__ID", mention: `"__"` },
  { what: "a name longer than 64 characters", name: "N".repeat(65), code: "name_too_long", path: "N".repeat(65), mention: "65 characters" },
];
for (const b of badNames) {
  registerBad({
    what: b.what,
    code: b.code,
    path: [b.path],
    // A string name is quoted in the message; any other value is shown as it is (`got 42`).
    mentions: typeof b.name === "string" ? [JSON.stringify(b.name), b.mention] : [b.mention],
    setup: (sdk) => sdk.define("CPU_ID", u64, 1),
    act: (sdk) => defineAny(sdk, b.name, u8, 0),
    retry: retryU8("COUNT"),
  });
}

test("define() accepts register and assembler operator names, also as fields (every generated symbol is prefixed)", () => {
  const sdk = createPercpu();
  for (const name of ["rax", "X5", "a0", "SP", "PTR", "OFFSET", "BYTE", "CR3"]) sdk.define(name, u8, 1);
  sdk.define("REGS", struct({ sp: u64, pc: u32, x0: u8 }), { sp: 1n, pc: 2, x0: 3 });
  assert.deepEqual(sdk.layout("aarch64").vars.map((v) => v.name), ["rax", "X5", "a0", "SP", "PTR", "OFFSET", "BYTE", "CR3", "REGS"]);
});

test("define() accepts a name of exactly 64 characters", () => {
  const sdk = createPercpu();
  sdk.define("N".repeat(64), u8, 1);
  assert.equal(sdk.layout("aarch64").vars[0]!.name.length, 64);
});

registerBad({
  what: "a duplicate name and keeps the first definition",
  code: "name_duplicate",
  path: ["CPU_ID"],
  mentions: [`"CPU_ID"`, "already exists"],
  setup: (sdk) => sdk.define("CPU_ID", u64, 5n),
  act: (sdk) => sdk.define("CPU_ID", u32, 9),
  retry: retryU8("CPU_NUM"),
});

registerBad({
  what: "a name whose generated symbol PERCPU_SELF_OFFSET clashes with the x86_64 self-pointer macro",
  code: "name_symbol_clash",
  path: ["SELF"],
  mentions: [`"SELF"`, `"PERCPU_SELF_OFFSET"`],
  act: (sdk) => sdk.define("SELF", u64, 0),
  retry: retryU8("SELF_ID"),
});

// Field names are checked like variable names; the path names the field.
registerBad({
  what: "a struct field name that is not a C identifier",
  code: "name_not_identifier",
  path: ["STATS", "hit-count"],
  mentions: [`field name "hit-count" of "STATS"`],
  act: (sdk) => defineAny(sdk, "STATS", { kind: "struct", fields: { irqs: u64, "hit-count": u32 } }, { irqs: 0n, "hit-count": 0 }),
  retry: retryStats,
});
registerBad({
  what: "a struct field named with a C keyword",
  code: "name_reserved_word",
  path: ["STATS", "for"],
  mentions: [`field name "for" of "STATS"`, "C keyword"],
  act: (sdk) => defineAny(sdk, "STATS", { kind: "struct", fields: { for: u32 } }, { for: 0 }),
  retry: retryStats,
});
registerBad({
  what: "a struct field name containing a double underscore",
  code: "name_double_underscore",
  path: ["STATS", "a__b"],
  mentions: [`field name "a__b" of "STATS"`, `"__"`],
  act: (sdk) => defineAny(sdk, "STATS", { kind: "struct", fields: { a__b: u32 } }, { a__b: 0 }),
  retry: retryStats,
});
registerBad({
  what: "a nested struct field with a leading underscore",
  code: "name_reserved_prefix",
  path: ["STATS", "inner", "_pad"],
  mentions: [`field name "_pad" of "STATS.inner"`, "leading underscore"],
  act: (sdk) => defineAny(sdk, "STATS", { kind: "struct", fields: { inner: { kind: "struct", fields: { _pad: u8 } } } }, { inner: { _pad: 0 } }),
  retry: retryStats,
});

// ---------------------------------------------------------------- types

const badTypes: { what: string; type: unknown; code: PercpuErrorCode; path: PathSegment[]; mentions: string[] }[] = [
  { what: "a type given as the string \"u64\"", type: "u64", code: "type_unknown", path: ["CPU_ID"], mentions: [`"CPU_ID"`, `"u64"`] },
  { what: "a type with an unknown kind", type: { kind: "foo" }, code: "type_unknown", path: ["CPU_ID"], mentions: [`"CPU_ID"`, `"foo"`] },
  { what: "the unknown scalar u256", type: { kind: "scalar", name: "u256" }, code: "type_unknown", path: ["CPU_ID"], mentions: [`"CPU_ID"`, `"u256"`] },
  { what: "a null type", type: null, code: "type_unknown", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "null"] },
  {
    what: "an unknown scalar deep inside a struct's array",
    type: { kind: "struct", fields: { irqs: u64, hist: { kind: "array", element: { kind: "scalar", name: "u33" }, length: 4 } } },
    code: "type_unknown",
    path: ["CPU_ID", "hist", 0],
    mentions: [`"CPU_ID.hist[0]"`, `"u33"`],
  },
  { what: "an empty struct", type: { kind: "struct", fields: {} }, code: "type_struct_empty", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "at least one field"] },
  {
    what: "an empty nested struct",
    type: { kind: "struct", fields: { a: u8, inner: { kind: "struct", fields: {} } } },
    code: "type_struct_empty",
    path: ["CPU_ID", "inner"],
    mentions: [`"CPU_ID.inner"`],
  },
  { what: "a struct whose fields are an array", type: { kind: "struct", fields: [u8] }, code: "type_unknown", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "fields"] },
  { what: "a zero-length array", type: { kind: "array", element: u8, length: 0 }, code: "type_array_length", path: ["CPU_ID"], mentions: [`"CPU_ID"`, ": 0,"] },
  { what: "a negative array length", type: { kind: "array", element: u8, length: -3 }, code: "type_array_length", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "-3"] },
  { what: "a fractional array length", type: { kind: "array", element: u8, length: 2.5 }, code: "type_array_length", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "2.5"] },
  { what: "an alignment of 3", type: { kind: "aligned", inner: u8, align: 3 }, code: "type_alignment_not_power_of_two", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "3 is not a power of two"] },
  { what: "an alignment of 8192", type: { kind: "aligned", inner: u8, align: 8192 }, code: "type_alignment_too_large", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "8192", "4096"] },
  { what: "an alignment of 0", type: { kind: "aligned", inner: u8, align: 0 }, code: "type_alignment_not_integer", path: ["CPU_ID"], mentions: [`"CPU_ID"`, ": 0,"] },
  { what: "a fractional alignment", type: { kind: "aligned", inner: u8, align: 1.5 }, code: "type_alignment_not_integer", path: ["CPU_ID"], mentions: [`"CPU_ID"`, "1.5"] },
  {
    what: "a bad alignment on a struct field",
    type: { kind: "struct", fields: { a: u8, hot: { kind: "aligned", inner: u64, align: 48 } } },
    code: "type_alignment_not_power_of_two",
    path: ["CPU_ID", "hot"],
    mentions: [`"CPU_ID.hot"`, "48"],
  },
];
for (const b of badTypes) {
  registerBad({
    what: b.what,
    code: b.code,
    path: b.path,
    mentions: b.mentions,
    act: (sdk) => defineAny(sdk, "CPU_ID", b.type, 0),
    retry: (sdk) => {
      sdk.define("CPU_ID", u64, 3);
      return "CPU_ID";
    },
  });
}

// ---------------------------------------------------------------- initial values

const badInits: { what: string; type: PercpuType; init: unknown; code: PercpuErrorCode; path?: PathSegment[]; mentions: string[] }[] = [
  { what: "256 for u8", type: u8, init: 256, code: "init_out_of_range", mentions: ["256", "0..255"] },
  { what: "-1 for u8", type: u8, init: -1, code: "init_out_of_range", mentions: ["-1", "u8"] },
  { what: "a negative unsigned u32", type: u32, init: -5, code: "init_out_of_range", mentions: ["-5", "u32"] },
  { what: "-129 for i8", type: i8, init: -129, code: "init_out_of_range", mentions: ["-129", "-128..127"] },
  { what: "128 for i8", type: i8, init: 128, code: "init_out_of_range", mentions: ["128", "-128..127"] },
  { what: "65536 for u16", type: u16, init: 65536, code: "init_out_of_range", mentions: ["65536", "0..65535"] },
  { what: "-32769 for i16", type: i16, init: -32769, code: "init_out_of_range", mentions: ["-32769", "i16"] },
  { what: "2^32 for u32", type: u32, init: 2 ** 32, code: "init_out_of_range", mentions: ["4294967296", "0..4294967295"] },
  { what: "2^31 for i32", type: i32, init: 2 ** 31, code: "init_out_of_range", mentions: ["2147483648", "i32"] },
  { what: "2^64 for u64", type: u64, init: 2n ** 64n, code: "init_out_of_range", mentions: ["18446744073709551616", "u64"] },
  { what: "a negative bigint for u64", type: u64, init: -1n, code: "init_out_of_range", mentions: ["-1", "u64"] },
  { what: "the i64 minimum minus one", type: i64, init: -(2n ** 63n) - 1n, code: "init_out_of_range", mentions: ["-9223372036854775809", "i64"] },
  { what: "2^63 for i64", type: i64, init: 2n ** 63n, code: "init_out_of_range", mentions: ["9223372036854775808", "i64"] },
  { what: "1.5 for u32", type: u32, init: 1.5, code: "init_not_integer", mentions: ["1.5", "not an integer"] },
  { what: "0.5 for u64", type: u64, init: 0.5, code: "init_not_integer", mentions: ["0.5", "u64"] },
  { what: "NaN for u32", type: u32, init: NaN, code: "init_nan", mentions: ["NaN", "u32"] },
  { what: "NaN for u64", type: u64, init: NaN, code: "init_nan", mentions: ["NaN", "u64"] },
  { what: "NaN for i8", type: i8, init: NaN, code: "init_nan", mentions: ["NaN", "i8"] },
  { what: "Infinity for u32", type: u32, init: Infinity, code: "init_not_integer", mentions: ["Infinity", "u32"] },
  { what: "-Infinity for i64", type: i64, init: -Infinity, code: "init_not_integer", mentions: ["-Infinity", "i64"] },
  { what: "the unsafe number 2^53+2 for u64", type: u64, init: 2 ** 53 + 2, code: "init_unsafe_number", mentions: ["9007199254740994", "bigint"] },
  { what: "the unsafe number -(2^53) for i64", type: i64, init: -(2 ** 53), code: "init_unsafe_number", mentions: ["-9007199254740992", "i64"] },
  { what: "a bigint for u32", type: u32, init: 5n, code: "init_wrong_kind", mentions: ["5n", "u32"] },
  { what: "a string for u32", type: u32, init: "5", code: "init_wrong_kind", mentions: [`"5"`, "u32"] },
  { what: "a string for u64", type: u64, init: "5", code: "init_wrong_kind", mentions: [`"5"`, "bigint or safe integer"] },
  { what: "undefined for u8", type: u8, init: undefined, code: "init_wrong_kind", mentions: ["undefined"] },
  { what: "the number 1 for bool", type: bool, init: 1, code: "init_wrong_kind", mentions: ["boolean", "got 1"] },
  { what: "true for u8", type: u8, init: true, code: "init_wrong_kind", mentions: ["u8", "got true"] },
  { what: "1e39 for f32", type: f32, init: 1e39, code: "init_float_out_of_range", mentions: ["1e+39", "f32"] },
  { what: "-1e39 for f32", type: f32, init: -1e39, code: "init_float_out_of_range", mentions: ["-1e+39", "f32"] },
  { what: "a string for f64", type: f64, init: "1.5", code: "init_wrong_kind", mentions: [`"1.5"`, "f64"] },
  { what: "a bigint for f32", type: f32, init: 1n, code: "init_wrong_kind", mentions: ["1n", "f32"] },
  { what: "70000 for an aligned u16", type: aligned(u16, 64), init: 70000, code: "init_out_of_range", mentions: ["70000", "u16"] },
  {
    what: "a struct with a missing field",
    type: STATS_T,
    init: { irqs: 1n, hist: [1, 2, 3, 4] },
    code: "init_missing_field",
    path: ["VAR", "ticks"],
    mentions: [`"ticks"`],
  },
  {
    what: "a struct with an extra (misspelt) field",
    type: STATS_T,
    init: { irqs: 1n, ticks: 2, tick: 2, hist: [1, 2, 3, 4] },
    code: "init_extra_field",
    path: ["VAR", "tick"],
    mentions: [`"tick"`, "irqs, ticks, hist"],
  },
  {
    what: "a struct field of the wrong type",
    type: STATS_T,
    init: { irqs: 1n, ticks: "2", hist: [1, 2, 3, 4] },
    code: "init_wrong_kind",
    path: ["VAR", "ticks"],
    mentions: [`"VAR.ticks"`, `"2"`],
  },
  {
    what: "an out-of-range array element inside a struct and names it VAR.hist[2]",
    type: STATS_T,
    init: { irqs: 1n, ticks: 2, hist: [1, 2, 256, 4] },
    code: "init_out_of_range",
    path: ["VAR", "hist", 2],
    mentions: [`"VAR.hist[2]"`, "256"],
  },
  {
    what: "a bad value in a struct inside an array inside a struct",
    type: struct({ cpus: array(struct({ irqs: u64, on: bool }), 3) }),
    init: { cpus: [{ irqs: 0n, on: true }, { irqs: -1n, on: false }, { irqs: 0n, on: true }] },
    code: "init_out_of_range",
    path: ["VAR", "cpus", 1, "irqs"],
    mentions: [`"VAR.cpus[1].irqs"`],
  },
  {
    what: "a missing field of a nested struct",
    type: struct({ a: u8, inner: struct({ x: u16, y: u16 }) }),
    init: { a: 1, inner: { x: 1 } },
    code: "init_missing_field",
    path: ["VAR", "inner", "y"],
    mentions: [`"VAR.inner"`, `"y"`],
  },
  { what: "an array of the wrong length", type: array(u32, 3), init: [1, 2], code: "init_array_length", mentions: ["3 elements", "got 2"] },
  { what: "an object for an array", type: array(u32, 2), init: { 0: 1, 1: 2 }, code: "init_wrong_kind", mentions: ["array of 2", "an object"] },
  { what: "a string for an array", type: array(u8, 2), init: "ab", code: "init_wrong_kind", mentions: ["array of 2", `"ab"`] },
  { what: "a sparse array", type: array(u8, 3), init: [1, , 3], code: "init_wrong_kind", path: ["VAR", 1], mentions: [`"VAR[1]"`, "undefined"] },
  { what: "a number for a struct", type: STATS_T, init: 5, code: "init_wrong_kind", mentions: ["irqs, ticks, hist", "got 5"] },
  { what: "an array for a struct", type: STATS_T, init: [1n, 2, [1, 2, 3, 4]], code: "init_wrong_kind", mentions: ["an array"] },
  { what: "null for a struct", type: STATS_T, init: null, code: "init_wrong_kind", mentions: ["null"] },
];
for (const b of badInits) {
  const path = b.path ?? ["VAR"];
  registerBad({
    what: `${b.what}`,
    code: b.code,
    path,
    mentions: [...(b.code === "init_missing_field" || b.code === "init_extra_field" ? [`"${path.slice(0, -1).join(".")}"`] : [`"${formatPathLocal(path)}"`]), ...b.mentions],
    setup: (sdk) => sdk.define("FIRST", u8, 1),
    act: (sdk) => defineAny(sdk, "VAR", b.type, b.init),
    retry: (sdk) => {
      sdk.define("VAR", u16, 2);
      return "VAR";
    },
  });
}

/** Independent of `formatPath` in the SDK: `VAR.hist[2]`. */
function formatPathLocal(path: readonly PathSegment[]): string {
  return path.map((s, i) => typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`).join("");
}

// ---------------------------------------------------------------- lifecycle, targets, options

registerBad({
  what: "a definition after layout() sealed the instance",
  code: "sealed",
  path: ["LATE"],
  mentions: [`"LATE"`, "sealed"],
  setup: (sdk) => {
    sdk.define("CPU_ID", u64, 0);
    sdk.layout("x86_64");
  },
  act: (sdk) => sdk.define("LATE", u8, 0),
});

registerBad({
  what: "a definition after manifest() sealed the instance",
  code: "sealed",
  path: ["LATE"],
  mentions: [`"LATE"`, "sealed"],
  setup: (sdk) => {
    sdk.define("CPU_ID", u64, 0);
    sdk.manifest("riscv32");
  },
  act: (sdk) => sdk.define("LATE", u8, 0),
});

test("a sealed instance keeps its layout after a rejected definition", () => {
  const sdk = createPercpu();
  sdk.define("CPU_ID", u64, 9n);
  const before = sdk.layout("x86_64");
  expectPercpuError(() => sdk.define("LATE", u8, 0));
  assert.equal(sdk.layout("x86_64"), before);
  assert.deepEqual(sdk.manifest("x86_64").vars.map((v) => v.name), ["CPU_ID"]);
});

registerBad({
  what: "target mips",
  title: "layout() rejects the unknown target \"mips\" without sealing the instance",
  code: "target_unknown",
  path: [],
  mentions: [`"mips"`, "x86_64, aarch64, riscv64, riscv32, loongarch64"],
  setup: (sdk) => sdk.define("CPU_ID", u64, 0),
  act: (sdk) => sdk.layout("mips" as never),
  retry: (sdk) => {
    assert.equal(sdk.sealed, false);
    sdk.define("AFTER", u8, 1);
    return "AFTER";
  },
});

registerBad({
  what: "empty target",
  title: "manifest() rejects an empty target name",
  code: "target_unknown",
  path: [],
  mentions: [`""`, "expected one of"],
  act: (sdk) => sdk.manifest("" as never),
  retry: retryU8("AFTER"),
});

const badOptions: { what: string; options: unknown; path: PathSegment[]; mentions: string[] }[] = [
  { what: "an unknown order option", options: { order: "random" }, path: ["order"], mentions: ["percpu options", "order", "min-padding"] },
  { what: "an unknown option key", options: { sort: "min-padding" }, path: [], mentions: ["percpu options", `"sort"`] },
  { what: "options that are a string", options: "min-padding", path: [], mentions: ["percpu options"] },
];
for (const b of badOptions) {
  test(`createPercpu() rejects ${b.what}`, () => {
    const e = expectPercpuError(() => createPercpu(b.options as never));
    assert.equal(e.code, "options_invalid");
    assert.deepEqual(e.path, b.path);
    for (const m of b.mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} does not mention ${m}`);
    assertMessageStyle(e.message);
  });
}

// Pointer-sized values are checked as 64-bit at define() and per target at layout().
registerBad({
  what: "usize 2^40",
  title: "layout(\"riscv32\") rejects a usize of 2^40 that define() accepted",
  code: "init_out_of_range",
  path: ["SLOT"],
  mentions: [`"SLOT"`, "1099511627776", "4 bytes on this target", "0..4294967295"],
  setup: (sdk) => sdk.define("SLOT", usize, 2 ** 40),
  act: (sdk) => sdk.layout("riscv32"),
});

test("a usize of 2^40 lays out on 64-bit targets after riscv32 rejected it", () => {
  const sdk = createPercpu();
  sdk.define("SLOT", usize, 2 ** 40);
  expectPercpuError(() => sdk.layout("riscv32"));
  const l = sdk.layout("aarch64");
  assert.deepEqual([...l.vars[0]!.init], [0, 0, 0, 0, 0, 1, 0, 0]);
  // riscv32 keeps failing the same way (no half-cached layout).
  assert.equal(expectPercpuError(() => sdk.manifest("riscv32")).code, "init_out_of_range");
});

registerBad({
  what: "isize field",
  title: "layout(\"riscv32\") rejects an isize struct field below -2^31 and names the field",
  code: "init_out_of_range",
  path: ["CTX", "delta"],
  mentions: [`"CTX.delta"`, "-2147483649", "isize"],
  setup: (sdk) => sdk.define("CTX", struct({ id: u32, delta: isize }), { id: 1, delta: -(2n ** 31n) - 1n }),
  act: (sdk) => sdk.layout("riscv32"),
});

// ---------------------------------------------------------------- constructors

const badConstructors: { what: string; act: () => unknown; code: PercpuErrorCode; path: PathSegment[]; mentions: string[] }[] = [
  { what: "array() rejects a zero length", act: () => array(u8, 0), code: "type_array_length", path: [], mentions: ["0", "1 to"] },
  { what: "array() rejects a negative length", act: () => array(u8, -1), code: "type_array_length", path: [], mentions: ["-1"] },
  { what: "aligned() rejects an alignment of 3", act: () => aligned(u32, 3), code: "type_alignment_not_power_of_two", path: [], mentions: ["3 is not a power of two"] },
  { what: "aligned() rejects an alignment of 8192", act: () => aligned(u32, 8192), code: "type_alignment_too_large", path: [], mentions: ["8192"] },
  { what: "struct() rejects no fields", act: () => struct({}), code: "type_struct_empty", path: [], mentions: ["at least one field"] },
  { what: "struct() rejects a bad field name and names it", act: () => struct({ ok: u8, "no way": u8 }), code: "name_not_identifier", path: ["no way"], mentions: [`"no way"`] },
];
for (const b of badConstructors) {
  test(b.what, () => {
    const e = expectPercpuError(b.act);
    assert.equal(e.code, b.code);
    assert.deepEqual(e.path, b.path);
    for (const m of b.mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} does not mention ${m}`);
    assertMessageStyle(e.message);
  });
}

test("every bad input above has its own distinct message", () => {
  const messages = new Set<string>();
  const all = [
    ...badNames.map((b) => () => defineAny(createPercpu(), b.name, u8, 0)),
    ...badTypes.map((b) => () => defineAny(createPercpu(), "CPU_ID", b.type, 0)),
    ...badInits.map((b) => () => defineAny(createPercpu(), "VAR", b.type, b.init)),
  ];
  for (const act of all) messages.add(expectPercpuError(act).message);
  assert.equal(messages.size, all.length);
  assert.ok(all.length >= 40, `only ${all.length} bad inputs`);
});
