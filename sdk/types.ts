/**
 * Per-CPU data types as immutable values with a literal `kind`, and
 * {@link Infer} which derives the JS value type of any type tree.
 *
 * @module
 */
import { fail, type PathSegment, quotePath } from "./errors.ts";
import { checkFieldName } from "./names.ts";

/** Names of the primitive (scalar) types. */
export const SCALAR_NAMES = [
  "u8", "u16", "u32", "u64", "usize",
  "i8", "i16", "i32", "i64", "isize",
  "bool", "f32", "f64", "u128",
] as const;

/** A primitive type name. */
export type ScalarName = typeof SCALAR_NAMES[number];

/** A primitive type: an integer, `bool` or an IEEE-754 float. */
export interface ScalarType<N extends ScalarName = ScalarName> {
  readonly kind: "scalar";
  readonly name: N;
}

/** A fixed-length array `T[length]`. */
export interface ArrayType<E extends PercpuType = PercpuType> {
  readonly kind: "array";
  readonly element: E;
  readonly length: number;
}

/** The field types of a struct, in declaration order. */
export type StructFields = { readonly [name: string]: PercpuType };

/** A C (`repr(C)`) struct: fields in declaration order, natural alignment. */
export interface StructType<F extends StructFields = StructFields> {
  readonly kind: "struct";
  readonly fields: F;
}

/**
 * `inner` with its alignment raised to `align` and its size rounded up to a
 * multiple of it (like C `struct { T v __attribute__((aligned(align))); }`).
 */
export interface AlignedType<T extends PercpuType = PercpuType> {
  readonly kind: "aligned";
  readonly inner: T;
  readonly align: number;
}

/** Any per-CPU data type. */
export type PercpuType =
  | ScalarType
  | ArrayType<PercpuType>
  | StructType<StructFields>
  | AlignedType<PercpuType>;

/** JS value type of each scalar when read back. */
export interface ScalarValues {
  u8: number; u16: number; u32: number; u64: bigint; usize: bigint;
  i8: number; i16: number; i32: number; i64: bigint; isize: bigint;
  bool: boolean; f32: number; f64: number; u128: bigint;
}

/** Scalars whose values are `bigint` (64-bit or pointer-sized integers). */
export type WideScalarName = "u64" | "usize" | "i64" | "isize" | "u128";

/** Scalars that are integers of up to 64 bits (the read-modify-write ops apply; u128 has its own, `cmpxchg128`). */
export type IntegerScalarName = Exclude<ScalarName, "bool" | "f32" | "f64" | "u128">;

/** The JS value of a type tree: `bigint` for 64-bit ints, `number` below, `boolean`, objects, arrays. */
export type Infer<T> = [PercpuType] extends [T] ? unknown : InferConcrete<T>;

type InferConcrete<T> = T extends ScalarType<infer N> ? ScalarValues[N]
  : T extends ArrayType<infer E> ? InferConcrete<E>[]
  : T extends StructType<infer F> ? { -readonly [K in keyof F]: InferConcrete<F[K]> }
  : T extends AlignedType<infer I> ? InferConcrete<I>
  : never;

/** What an initial value may be: like {@link Infer}, but 64-bit ints also accept safe-integer numbers. */
export type InferInit<T> = [PercpuType] extends [T] ? unknown : InferInitConcrete<T>;

type InferInitConcrete<T> = T extends ScalarType<infer N> ? (N extends WideScalarName ? bigint | number : ScalarValues[N])
  : T extends ArrayType<infer E> ? readonly InferInitConcrete<E>[]
  : T extends StructType<infer F> ? { readonly [K in keyof F]: InferInitConcrete<F[K]> }
  : T extends AlignedType<infer I> ? InferInitConcrete<I>
  : never;

function scalar<N extends ScalarName>(name: N): ScalarType<N> {
  return Object.freeze({ kind: "scalar", name });
}

/** Unsigned 8-bit integer. */
export const u8: ScalarType<"u8"> = scalar("u8");
/** Unsigned 16-bit integer. */
export const u16: ScalarType<"u16"> = scalar("u16");
/** Unsigned 32-bit integer. */
export const u32: ScalarType<"u32"> = scalar("u32");
/** Unsigned 64-bit integer, read back as `bigint`. */
export const u64: ScalarType<"u64"> = scalar("u64");
/** Unsigned pointer-sized integer (4 bytes on riscv32, 8 elsewhere), read back as `bigint`. */
export const usize: ScalarType<"usize"> = scalar("usize");
/** Signed 8-bit integer. */
export const i8: ScalarType<"i8"> = scalar("i8");
/** Signed 16-bit integer. */
export const i16: ScalarType<"i16"> = scalar("i16");
/** Signed 32-bit integer. */
export const i32: ScalarType<"i32"> = scalar("i32");
/** Signed 64-bit integer, read back as `bigint`. */
export const i64: ScalarType<"i64"> = scalar("i64");
/** Signed pointer-sized integer, read back as `bigint`. */
export const isize: ScalarType<"isize"> = scalar("isize");
/** Boolean stored in one byte (0 or 1). */
export const bool: ScalarType<"bool"> = scalar("bool");
/** IEEE-754 binary32. */
export const f32: ScalarType<"f32"> = scalar("f32");
/** IEEE-754 binary64. */
export const f64: ScalarType<"f64"> = scalar("f64");
/**
 * Unsigned 128-bit integer (`unsigned __int128`, 16-byte aligned), read back
 * as `bigint`; 64-bit targets only (riscv32 has no 128-bit C type). Reads,
 * writes and `cmpxchg128Current` apply (no add/sub/...).
 */
export const u128: ScalarType<"u128"> = scalar("u128");

/** Largest alignment an override may ask for (a page). */
export const MAX_ALIGN = 4096;

/** Largest array length accepted (the area is capped at 2 GiB anyway). */
export const MAX_ARRAY_LENGTH = 2 ** 31;

/**
 * A fixed-length array type.
 *
 * @example
 * ```ts
 * import { array, u32 } from "../mod.ts";
 * const hist = array(u32, 8); // u32[8]
 * ```
 */
export function array<E extends PercpuType>(element: E, length: number): ArrayType<E> {
  return interned(`a${typeId(element)}:${String(length)}`, () => Object.freeze({ kind: "array", element, length }));
}

/**
 * A C-layout struct type; fields keep their declaration order.
 *
 * @example
 * ```ts
 * import { struct, u32, u64 } from "../mod.ts";
 * const Stats = struct({ irqs: u64, ticks: u32 }); // size 16, align 8
 * ```
 */
export function struct<F extends StructFields>(fields: F): StructType<F> {
  const copy = Object.freeze({ ...fields });
  let key = "s";
  for (const name of Object.keys(copy)) key += `${JSON.stringify(name)}:${typeId(copy[name])},`;
  return interned(key, () => Object.freeze({ kind: "struct", fields: copy }));
}

/**
 * Raises the alignment of a type, e.g. `aligned(T, 64)` for cache-line placement.
 * The size is rounded up to the alignment so arrays of it stay aligned.
 *
 * @example
 * ```ts
 * import { aligned, struct, u64 } from "../mod.ts";
 * const Hot = aligned(struct({ hits: u64 }), 64); // size 64, align 64
 * ```
 */
export function aligned<T extends PercpuType>(inner: T, align: number): AlignedType<T> {
  return interned(`l${typeId(inner)}:${String(align)}`, () => Object.freeze({ kind: "aligned", inner, align }));
}

/**
 * Structurally equal types made by the constructors are one object: every
 * cache keyed by a type object (layouts, leaves, manifest and C type text)
 * then serves all variables of a type, however often `array(u32, 3)` is
 * written out in `define()` calls. Types are frozen values, so sharing them
 * is invisible otherwise. The table is bounded: past its size it starts
 * afresh (a lost entry costs one more object, never a wrong answer).
 */
const internedTypes = new Map<string, PercpuType>();

/** Entries of {@link internedTypes} before it starts afresh. */
const INTERNED_TYPES_LIMIT = 1 << 16;

/** A number naming a type object (any value: a bad one is reported by `checkType` with the rest). */
const typeIds = new WeakMap<object, number>();
let nextTypeId = 0;

function typeId(type: unknown): string {
  if (typeof type !== "object" || type === null) return `?${typeof type}:${String(type)}`;
  let id = typeIds.get(type);
  if (id === undefined) typeIds.set(type, id = nextTypeId++);
  return String(id);
}

/** The type of structure `key`: the one made before, or `make()` once it passes `checkType`. */
function interned<T extends PercpuType>(key: string, make: () => T): T {
  const hit = internedTypes.get(key);
  if (hit !== undefined) return hit as T;
  const type = make();
  checkType(type, []);
  if (internedTypes.size >= INTERNED_TYPES_LIMIT) internedTypes.clear();
  internedTypes.set(key, type);
  return type;
}

/** Describes any JS value briefly for error messages (`"x"`, `12n`, `an object`). */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "bigint") return `${value}n`;
  if (value === null) return "null";
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return String(value);
}

/**
 * Deepest nesting of arrays, structs and `aligned()` wrappers a type tree may
 * have (a scalar is depth 0, `struct({ a: u8 })` depth 1). Real kernel types
 * stay far below it; the limit keeps every recursive walk (layout, values,
 * generators) bounded and turns a runaway or cyclic hand-built tree into a
 * `type_too_deep` error instead of a stack overflow.
 */
export const MAX_TYPE_DEPTH = 64;

/** Depth of each type tree already validated, so a constructor checks only its own node, not the whole subtree again. */
const validatedDepth = new WeakMap<object, number>();

/**
 * Validates a type tree built by hand or by the constructors; throws a
 * `PercpuError` naming the path of the first problem. Subtrees made by the
 * constructors were validated when they were made and are not walked again.
 *
 * @example
 * ```ts
 * import { checkType } from "./types.ts";
 * const t: unknown = { kind: "scalar", name: "u32" };
 * checkType(t, ["COUNT"]); // t is now a PercpuType
 * ```
 */
export function checkType(type: unknown, path: readonly PathSegment[]): asserts type is PercpuType {
  validate(type, path, 0);
}

/** Validates `type` found `level` constructors below the root; returns its depth. */
function validate(type: unknown, path: readonly PathSegment[], level: number): number {
  const where = path.length > 0 ? ` at ${quotePath(path)}` : "";
  if (typeof type !== "object" || type === null || !("kind" in type)) {
    fail("type_unknown", path, `Unknown type${where}: got ${describeValue(type)}, expected a type such as u64, struct({...}) or array(T, n)`);
  }
  const known = validatedDepth.get(type);
  if (known !== undefined) {
    if (level + known > MAX_TYPE_DEPTH) tooDeep(path, level + known);
    return known;
  }
  const t = type as { kind: unknown } & Record<string, unknown>;
  if (t.kind !== "scalar" && level >= MAX_TYPE_DEPTH) tooDeep(path, level + 1);
  let depth: number;
  switch (t.kind) {
    case "scalar":
      if (!(SCALAR_NAMES as readonly unknown[]).includes(t.name)) {
        fail("type_unknown", path, `Unknown scalar type${where}: ${describeValue(t.name)} is not one of ${SCALAR_NAMES.join(", ")}`);
      }
      depth = 0;
      break;
    case "array": {
      const n = t.length;
      if (typeof n !== "number" || !Number.isInteger(n) || n <= 0 || n > MAX_ARRAY_LENGTH) {
        fail("type_array_length", path, `Invalid array length${where}: ${describeValue(n)}, expected an integer from 1 to ${MAX_ARRAY_LENGTH}`);
      }
      depth = 1 + validate(t.element, [...path, 0], level + 1);
      break;
    }
    case "struct": {
      const fields = t.fields;
      if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
        fail("type_unknown", path, `Invalid struct${where}: fields must be an object of types, got ${describeValue(fields)}`);
      }
      const names = Object.keys(fields);
      if (names.length === 0) fail("type_struct_empty", path, `Empty struct${where}: a struct needs at least one field`);
      let deepest = 0;
      for (const name of names) {
        checkFieldName(name, [...path, name]);
        deepest = Math.max(deepest, validate((fields as Record<string, unknown>)[name], [...path, name], level + 1));
      }
      depth = 1 + deepest;
      break;
    }
    case "aligned": {
      const a = t.align;
      if (typeof a !== "number" || !Number.isInteger(a) || a <= 0) {
        fail("type_alignment_not_integer", path, `Invalid alignment${where}: ${describeValue(a)}, expected a positive integer power of two`);
      }
      if ((a & (a - 1)) !== 0) fail("type_alignment_not_power_of_two", path, `Invalid alignment${where}: ${a} is not a power of two`);
      if (a > MAX_ALIGN) fail("type_alignment_too_large", path, `Invalid alignment${where}: ${a} is larger than ${MAX_ALIGN}`);
      depth = 1 + validate(t.inner, path, level + 1);
      break;
    }
    default:
      fail("type_unknown", path, `Unknown type kind${where}: ${describeValue(t.kind)}, expected "scalar", "array", "struct" or "aligned"`);
  }
  // Only frozen trees (what the constructors make) are remembered: a plain object could change after this check.
  if (Object.isFrozen(type) && (t.kind !== "struct" || Object.isFrozen(t.fields))) validatedDepth.set(type, depth);
  return depth;
}

function tooDeep(path: readonly PathSegment[], depth: number): never {
  const where = path.length > 0 ? ` at ${quotePath(path)}` : "";
  fail("type_too_deep", path, `Type nested too deeply${where}: at least ${depth} levels of arrays, structs and aligned(), the limit is ${MAX_TYPE_DEPTH}`);
}

/** The type name as written in the DSL, e.g. `struct { irqs: u64, hist: u32[8] }`. */
export function typeName(type: PercpuType): string {
  switch (type.kind) {
    case "scalar": return type.name;
    case "array": return `${typeName(type.element)}[${type.length}]`;
    case "struct": return `struct { ${Object.entries(type.fields).map(([k, v]) => `${k}: ${typeName(v)}`).join(", ")} }`;
    case "aligned": return `aligned(${typeName(type.inner)}, ${type.align})`;
  }
}
