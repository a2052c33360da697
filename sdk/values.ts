/**
 * Checking, encoding and decoding of per-CPU values. Bytes are little-endian
 * (every supported target is), floats IEEE-754, `bool` one byte 0/1.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail, type PathSegment, quotePath } from "./errors.ts";
import { forEachScalar, scalarLayout, structFields, typeLayout } from "./layout.ts";
import type { Target } from "./targets.ts";
import { describeValue, type IntegerScalarName, type PercpuType, type ScalarName, type StructType } from "./types.ts";

/** Inclusive range of an integer scalar of `bytes` bytes. */
export function integerRange(name: IntegerScalarName | "u128", bytes: number): { min: bigint; max: bigint } {
  const bits = BigInt(bytes * 8);
  return name.startsWith("i")
    ? { min: -(1n << (bits - 1n)), max: (1n << (bits - 1n)) - 1n }
    : { min: 0n, max: (1n << bits) - 1n };
}

/** Whether a scalar is read back as a `bigint`. */
export function isWide(name: ScalarName): boolean {
  return name === "u64" || name === "i64" || name === "usize" || name === "isize" || name === "u128";
}

/** Whether a scalar is an integer of up to 64 bits (not bool, a float or u128: the read-modify-write ops apply). */
export function isInteger(name: ScalarName): name is IntegerScalarName {
  return name !== "bool" && name !== "f32" && name !== "f64" && name !== "u128";
}

const F32_MAX = 3.4028234663852886e38;

/**
 * Checks one scalar value and returns it normalised (`bigint` for 64-bit and
 * pointer-sized ints). `bytes` is the scalar's size on the target being
 * checked (8 for usize when no target is known yet).
 */
export function checkScalar(name: ScalarName, value: unknown, path: readonly PathSegment[], bytes: number): unknown {
  // Messages (and the path, which callers may reuse) are only built on failure: this runs once per scalar of large arrays.
  if (name === "bool") {
    if (typeof value !== "boolean") fail("init_wrong_kind", [...path], `Invalid value for ${quotePath(path)}: expected a boolean for bool, got ${describeValue(value)}`);
    return value;
  }
  if (name === "f32" || name === "f64") {
    if (typeof value !== "number") fail("init_wrong_kind", [...path], `Invalid value for ${quotePath(path)}: expected a number for ${name}, got ${describeValue(value)}`);
    if (name === "f32" && Number.isFinite(value) && Math.abs(value) > F32_MAX) {
      fail("init_float_out_of_range", [...path], `Invalid value for ${quotePath(path)}: ${value} overflows f32 (largest finite ${F32_MAX})`);
    }
    return value;
  }
  const wide = isWide(name);
  const { min, max, low, high } = integerRangeOf(name, bytes);
  // The common case, a number in range for a narrow int, without BigInt (`-0` normalises to 0 as through BigInt).
  if (typeof value === "number" && !wide && value >= low && value <= high && Number.isInteger(value)) return value === 0 ? 0 : value;
  let big: bigint;
  if (typeof value === "bigint") {
    if (!wide) fail("init_wrong_kind", [...path], `Invalid value for ${quotePath(path)}: expected a number for ${name}, got bigint ${describeValue(value)}`);
    big = value;
  } else if (typeof value === "number") {
    if (Number.isNaN(value)) fail("init_nan", [...path], `Invalid value for ${quotePath(path)}: NaN is not a valid ${name}`);
    if (!Number.isInteger(value)) fail("init_not_integer", [...path], `Invalid value for ${quotePath(path)}: ${describeValue(value)} is not an integer, ${name} needs one`);
    if (wide && !Number.isSafeInteger(value)) {
      fail("init_unsafe_number", [...path], `Invalid value for ${quotePath(path)}: ${describeValue(value)} is beyond Number.MAX_SAFE_INTEGER and may have lost precision, pass a bigint for ${name}`);
    }
    big = BigInt(value);
  } else {
    fail("init_wrong_kind", [...path], `Invalid value for ${quotePath(path)}: expected ${wide ? "a bigint or safe integer" : "an integer number"} for ${name}, got ${describeValue(value)}`);
  }
  if (big < min || big > max) {
    fail("init_out_of_range", [...path], `Invalid value for ${quotePath(path)}: ${big} is out of range for ${name}${bytes !== 8 && wide ? ` (${bytes} bytes on this target)` : ""} (${min}..${max})`);
  }
  return wide ? big : Number(big);
}

/** {@link integerRange} of every integer scalar and size, made once (the check of every integer value looks it up). */
const RANGES = new Map<string, IntegerBounds>();

/** An integer range as bigints and, for the fast path of narrow ints, as numbers. */
interface IntegerBounds {
  readonly min: bigint;
  readonly max: bigint;
  readonly low: number;
  readonly high: number;
}

function integerRangeOf(name: IntegerScalarName | "u128", bytes: number): IntegerBounds {
  const key = `${name}${bytes}`;
  let range = RANGES.get(key);
  if (range === undefined) {
    const { min, max } = integerRange(name, bytes);
    RANGES.set(key, range = Object.freeze({ min, max, low: Number(min), high: Number(max) }));
  }
  return range;
}

/**
 * How a runtime call takes an integer argument (see {@link checkArgument}):
 * `exact` within the type's own range (the value of a write), `wrap` any
 * integer of `[-(2^n − 1), 2^n − 1]` reduced modulo 2^n as C converts it (the
 * operands of the read-modify-write ops).
 */
export type IntegerArgMode = "exact" | "wrap";

/**
 * Checks one scalar argument of a runtime call and returns it in the form the
 * FFI takes: a `number` for ints of up to 32 bits and for floats, a `bigint`
 * for 64-bit and pointer-sized ints, a boolean for `bool`. An integer may be
 * given as a `number` (a safe integer) or a `bigint` whatever its width. With
 * `mode` `exact` it must lie in the type's range; with `wrap` it may be any
 * integer of `[-(2^n − 1), 2^n − 1]` and is reduced modulo 2^n into the
 * type's range exactly as C converts it (so -1 is 255 for a u8, 2^31 is
 * -2^31 for an i32). `bytes` is the scalar's size on the host. A wrong
 * argument throws a `PercpuError`: `value_wrong_kind` (not a number/bigint/
 * boolean as the type needs, a non-integer or NaN for an integer type, a
 * number beyond `Number.MAX_SAFE_INTEGER` where only a bigint is exact) or
 * `value_out_of_range`, with the message `${what} must …, got ${value}`
 * (strings quoted: `got "1"`).
 *
 * @example
 * ```ts
 * import { checkArgument } from "./values.ts";
 * checkArgument("u8", -1, 1, "wrap", ["X"], "the value"); // 255
 * checkArgument("u32", 5n, 4, "exact", ["X"], "the value"); // 5
 * checkArgument("u64", 7, 8, "exact", ["X"], "the value"); // 7n
 * ```
 */
export function checkArgument(
  name: ScalarName,
  value: unknown,
  bytes: number,
  mode: IntegerArgMode,
  path: readonly PathSegment[],
  what: string,
): unknown {
  const got = (): string => `got ${describeValue(value)}`;
  if (name === "bool") {
    if (typeof value !== "boolean") fail("value_wrong_kind", [...path], `${what} must be a boolean for bool, ${got()}`);
    return value;
  }
  if (name === "f32" || name === "f64") {
    if (typeof value !== "number") fail("value_wrong_kind", [...path], `${what} must be a number for ${name}, ${got()}`);
    if (name === "f32" && Number.isFinite(value) && Math.abs(value) > F32_MAX) {
      fail("value_out_of_range", [...path], `${what} overflows f32 (largest finite ${F32_MAX}), ${got()}`);
    }
    return value;
  }
  let big: bigint;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "number" && Number.isInteger(value)) big = BigInt(value);
  else fail("value_wrong_kind", [...path], `${what} must be an integer (a number or a bigint) for ${name}, ${got()}`);
  const bits = bytes * 8;
  const { min, max } = mode === "wrap" ? wrapRangeOf(bits) : integerRangeOf(name, bytes);
  if (big < min || big > max) {
    const how = mode === "wrap" ? ` (an operand wraps modulo 2^${bits} as in C)` : "";
    fail("value_out_of_range", [...path], `${what} must be in ${min}..${max} for ${name}${how}, ${got()}`);
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    fail(
      "value_wrong_kind",
      [...path],
      `${what} is beyond Number.MAX_SAFE_INTEGER and may have lost precision, pass a bigint for ${name}, ${got()}`,
    );
  }
  const c = name.startsWith("i") ? BigInt.asIntN(bits, big) : BigInt.asUintN(bits, big);
  return isWide(name) ? c : Number(c);
}

/** `[-(2^bits − 1), 2^bits − 1]`, made once per width. */
const WRAP_RANGES = new Map<number, { readonly min: bigint; readonly max: bigint }>();

function wrapRangeOf(bits: number): { readonly min: bigint; readonly max: bigint } {
  let r = WRAP_RANGES.get(bits);
  if (r === undefined) {
    const max = (1n << BigInt(bits)) - 1n;
    WRAP_RANGES.set(bits, r = Object.freeze({ min: -max, max }));
  }
  return r;
}

/** The check of one scalar inside {@link checkValue}: `checkScalar`'s parameters, returning the normalised value or throwing. */
export type ScalarCheck = (name: ScalarName, value: unknown, path: readonly PathSegment[], bytes: number) => unknown;

/**
 * Checks a whole value against a type tree, independent of the target
 * (pointer-sized ints are checked as 64-bit), and returns it normalised and
 * frozen. `scalar` checks each leaf (default {@link checkScalar}, the rule of
 * initial values; runtime calls pass one built on {@link checkArgument}).
 */
export function checkValue(
  type: PercpuType,
  value: unknown,
  path: readonly PathSegment[],
  scalar: ScalarCheck = checkScalar,
): unknown {
  return checkAt(type, value, [...path], scalar);
}

/** Field names of each struct type, in order (read for every value of the type). */
const fieldNameCache = new WeakMap<StructType, readonly string[]>();

function fieldNames(type: StructType): readonly string[] {
  let names = fieldNameCache.get(type);
  if (names === undefined) fieldNameCache.set(type, names = Object.freeze(Object.keys(type.fields)));
  return names;
}

/** {@link checkValue} with `trail` the path of `value`, extended and restored in place (copied only into errors). */
function checkAt(type: PercpuType, value: unknown, trail: PathSegment[], scalar: ScalarCheck): unknown {
  // A plain switch (exhaustive through assertNever): this runs once per element of large arrays.
  switch (type.kind) {
    case "scalar":
      return scalar(type.name, value, trail, type.name === "usize" || type.name === "isize" ? 8 : scalarLayout(type.name, "x86_64").size);
    case "array": {
      if (!Array.isArray(value)) fail("init_wrong_kind", [...trail], `Invalid value for ${quotePath(trail)}: expected an array of ${type.length}, got ${describeValue(value)}`);
      if (value.length !== type.length) {
        fail("init_array_length", [...trail], `Invalid value for ${quotePath(trail)}: expected ${type.length} elements, got ${value.length}`);
      }
      // Indexing visits holes of sparse arrays as undefined (map would skip them and accept `[1, , 3]`).
      const out = new Array<unknown>(type.length);
      for (let i = 0; i < type.length; i++) {
        trail.push(i);
        out[i] = checkAt(type.element, value[i], trail, scalar);
        trail.pop();
      }
      return Object.freeze(out);
    }
    case "struct": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("init_wrong_kind", [...trail], `Invalid value for ${quotePath(trail)}: expected an object with fields ${Object.keys(type.fields).join(", ")}, got ${describeValue(value)}`);
      }
      const obj = value as Record<string, unknown>;
      const names = fieldNames(type);
      // Exactly the fields (as many own keys, each field one of them), else the first unknown key, then the first missing field.
      if (Object.keys(obj).length !== names.length || !names.every((name) => Object.hasOwn(obj, name))) {
        const extra = Object.keys(obj).find((key) => !Object.hasOwn(type.fields, key));
        if (extra !== undefined) fail("init_extra_field", [...trail, extra], `Invalid value for ${quotePath(trail)}: unknown field "${extra}", the struct has ${names.join(", ")}`);
        const missing = names.find((name) => !Object.hasOwn(obj, name))!;
        fail("init_missing_field", [...trail, missing], `Invalid value for ${quotePath(trail)}: missing field "${missing}"`);
      }
      const out: Record<string, unknown> = {};
      for (const name of names) {
        trail.push(name);
        out[name] = checkAt(type.fields[name]!, obj[name], trail, scalar);
        trail.pop();
      }
      return Object.freeze(out);
    }
    case "aligned":
      return checkAt(type.inner, value, trail, scalar);
    default:
      return assertNever(type);
  }
}

/** Writes one scalar little-endian into `view` at `offset`. */
export function writeScalar(view: DataView, offset: number, name: ScalarName, size: number, value: unknown): void {
  // A plain switch (exhaustive through assertNever): this runs once per scalar of every value.
  switch (name) {
    case "bool":
      view.setUint8(offset, value ? 1 : 0);
      return;
    case "f32":
      view.setFloat32(offset, value as number, true);
      return;
    case "f64":
      view.setFloat64(offset, value as number, true);
      return;
    case "u128": {
      const big = BigInt.asUintN(128, BigInt(value as number | bigint));
      view.setBigUint64(offset, BigInt.asUintN(64, big), true);
      view.setBigUint64(offset + 8, big >> 64n, true);
      return;
    }
    case "u8": case "u16": case "u32": case "u64": case "usize":
    case "i8": case "i16": case "i32": case "i64": case "isize":
      if (size === 8) view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value as number | bigint)), true);
      else if (size === 4) view.setUint32(offset, Number(value) >>> 0, true);
      else if (size === 2) view.setUint16(offset, Number(value) & 0xffff, true);
      else view.setUint8(offset, Number(value) & 0xff);
      return;
    default:
      return assertNever(name);
  }
}

/** Reads one scalar little-endian from `view` at `offset`. */
export function readScalar(view: DataView, offset: number, name: ScalarName, size: number): number | bigint | boolean {
  return match(name)
    .returnType<number | bigint | boolean>()
    .with("bool", () => view.getUint8(offset) !== 0)
    .with("f32", () => view.getFloat32(offset, true))
    .with("f64", () => view.getFloat64(offset, true))
    .with("u128", () => view.getBigUint64(offset, true) | (view.getBigUint64(offset + 8, true) << 64n))
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", (n) => {
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(offset + i));
      const signed = n.startsWith("i") ? BigInt.asIntN(size * 8, v) : v;
      return isWide(n) ? signed : Number(signed);
    })
    .exhaustive();
}

/**
 * Checks and encodes a value for a target into `typeLayout(type).size` bytes;
 * padding is zero. Pointer-sized ints are range-checked for the target here.
 */
export function encodeValue(type: PercpuType, value: unknown, target: Target, path: readonly PathSegment[] = []): Uint8Array {
  return encodeChecked(type, checkValue(type, value, path), target, path);
}

/**
 * Hands out zero-filled byte ranges of large shared buffers: the initial
 * bytes of thousands of variables without an `ArrayBuffer` each. Every range
 * is its own; none is ever handed out twice.
 *
 * @example
 * ```ts
 * import { ByteSlab } from "./values.ts";
 * const slab = new ByteSlab();
 * const a = slab.take(8), b = slab.take(8);
 * a.buffer === b.buffer; // true: one buffer, two disjoint views
 * ```
 */
export class ByteSlab {
  #buffer = new ArrayBuffer(0);
  #view = new DataView(this.#buffer);
  #used = 0;

  /** A fresh zero-filled range of `size` bytes. */
  take(size: number): Uint8Array {
    return new Uint8Array(this.#reserve(size), this.#used - size, size);
  }

  /** Reserves `size` bytes; returns their buffer (they end at `#used`). */
  #reserve(size: number): ArrayBuffer {
    if (this.#used + size > this.#buffer.byteLength) {
      this.#buffer = new ArrayBuffer(Math.max(SLAB_BYTES, size));
      this.#view = new DataView(this.#buffer);
      this.#used = 0;
    }
    this.#used += size;
    return this.#buffer;
  }

  /** @internal A fresh range with a view over its buffer and its start in that view. */
  takeWithView(size: number): { readonly bytes: Uint8Array; readonly view: DataView; readonly start: number } {
    const bytes = this.take(size);
    return { bytes, view: this.#view, start: bytes.byteOffset };
  }
}

/** Size of each buffer of a {@link ByteSlab}. */
const SLAB_BYTES = 1 << 20;

/**
 * {@link encodeValue} for a value `checkValue` already accepted (only
 * pointer-sized ints are re-checked); with `slab`, the bytes are a range of
 * its shared buffers rather than an `ArrayBuffer` of their own.
 */
export function encodeChecked(type: PercpuType, value: unknown, target: Target, path: readonly PathSegment[], slab?: ByteSlab): Uint8Array {
  const size = typeLayout(type, target).size;
  // Zero is what a fresh buffer holds: the common all-zero initial value needs no walk at all.
  if (isZeroValue(type, value)) return slab ? slab.take(size) : new Uint8Array(size);
  const { bytes, view, start } = slab ? slab.takeWithView(size) : ownBytes(size);
  // One walk over value and type together; the path is only materialised for pointer-sized
  // ints, whose range depends on the target and so is checked here rather than in define().
  const trail: PathSegment[] = [];
  const write = (t: PercpuType, v: unknown, offset: number): void => {
    switch (t.kind) {
      case "scalar": {
        const { size } = scalarLayout(t.name, target);
        if (t.name === "usize" || t.name === "isize") checkScalar(t.name, v, [...path, ...trail], size);
        writeScalar(view, start + offset, t.name, size, v);
        return;
      }
      case "array": {
        const stride = typeLayout(t.element, target).size;
        const items = v as readonly unknown[];
        for (let i = 0; i < t.length; i++) {
          trail.push(i);
          write(t.element, items[i], offset + i * stride);
          trail.pop();
        }
        return;
      }
      case "struct":
        for (const f of structFields(t, target)) {
          trail.push(f.name);
          write(f.type, (v as Record<string, unknown>)[f.name], offset + f.offset);
          trail.pop();
        }
        return;
      case "aligned":
        write(t.inner, v, offset);
        return;
      default:
        return assertNever(t);
    }
  };
  write(type, value, 0);
  return bytes;
}

function ownBytes(size: number): { readonly bytes: Uint8Array; readonly view: DataView; readonly start: number } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer), start: 0 };
}

/** Whether a checked value is all zero bits on every target: a zero scalar (not -0.0), or a struct/array of them. */
function isZeroValue(type: PercpuType, value: unknown): boolean {
  switch (type.kind) {
    case "scalar":
      return value === 0n || value === false || (value === 0 && !Object.is(value, -0));
    case "array": {
      const items = value as readonly unknown[];
      for (let i = 0; i < type.length; i++) if (!isZeroValue(type.element, items[i])) return false;
      return true;
    }
    case "struct":
      for (const name in type.fields) if (!isZeroValue(type.fields[name]!, (value as Record<string, unknown>)[name])) return false;
      return true;
    case "aligned":
      return isZeroValue(type.inner, value);
    default:
      return assertNever(type);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled type ${JSON.stringify(x)}`);
}

/** Decodes bytes laid out for a target back into the JS value of the type. */
export function decodeValue(type: PercpuType, bytes: Uint8Array, target: Target, base = 0): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (t: PercpuType, offset: number): unknown =>
    match(t)
      .returnType<unknown>()
      .with({ kind: "scalar" }, (s) => readScalar(view, offset, s.name, scalarLayout(s.name, target).size))
      .with({ kind: "array" }, (a) => {
        const stride = typeLayout(a.element, target).size;
        return Array.from({ length: a.length }, (_, i) => read(a.element, offset + i * stride));
      })
      .with({ kind: "struct" }, (s) => Object.fromEntries(structFields(s, target).map((f) => [f.name, read(f.type, offset + f.offset)])))
      .with({ kind: "aligned" }, (a) => read(a.inner, offset))
      .exhaustive();
  return read(type, base);
}
