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
import { describeValue, type IntegerScalarName, type PercpuType, type ScalarName } from "./types.ts";

/** Inclusive range of an integer scalar of `bytes` bytes. */
export function integerRange(name: IntegerScalarName, bytes: number): { min: bigint; max: bigint } {
  const bits = BigInt(bytes * 8);
  return name.startsWith("i")
    ? { min: -(1n << (bits - 1n)), max: (1n << (bits - 1n)) - 1n }
    : { min: 0n, max: (1n << bits) - 1n };
}

/** Whether a scalar is read back as a `bigint`. */
export function isWide(name: ScalarName): boolean {
  return name === "u64" || name === "i64" || name === "usize" || name === "isize";
}

/** Whether a scalar is an integer (not bool or float). */
export function isInteger(name: ScalarName): name is IntegerScalarName {
  return name !== "bool" && name !== "f32" && name !== "f64";
}

const F32_MAX = 3.4028234663852886e38;

/**
 * Checks one scalar value and returns it normalised (`bigint` for 64-bit and
 * pointer-sized ints). `bytes` is the scalar's size on the target being
 * checked (8 for usize when no target is known yet).
 */
export function checkScalar(name: ScalarName, value: unknown, path: readonly PathSegment[], bytes: number): unknown {
  // Messages are built only on failure: this runs once per scalar of large arrays.
  const where = (): string => quotePath(path);
  const got = (): string => describeValue(value);
  if (name === "bool") {
    if (typeof value !== "boolean") fail("init_wrong_kind", path, `Invalid value for ${where()}: expected a boolean for bool, got ${got()}`);
    return value;
  }
  if (name === "f32" || name === "f64") {
    if (typeof value !== "number") fail("init_wrong_kind", path, `Invalid value for ${where()}: expected a number for ${name}, got ${got()}`);
    if (name === "f32" && Number.isFinite(value) && Math.abs(value) > F32_MAX) {
      fail("init_float_out_of_range", path, `Invalid value for ${where()}: ${value} overflows f32 (largest finite ${F32_MAX})`);
    }
    return value;
  }
  const wide = isWide(name);
  let big: bigint;
  if (typeof value === "bigint") {
    if (!wide) fail("init_wrong_kind", path, `Invalid value for ${where()}: expected a number for ${name}, got bigint ${got()}`);
    big = value;
  } else if (typeof value === "number") {
    if (Number.isNaN(value)) fail("init_nan", path, `Invalid value for ${where()}: NaN is not a valid ${name}`);
    if (!Number.isInteger(value)) fail("init_not_integer", path, `Invalid value for ${where()}: ${got()} is not an integer, ${name} needs one`);
    if (wide && !Number.isSafeInteger(value)) {
      fail("init_unsafe_number", path, `Invalid value for ${where()}: ${got()} is beyond Number.MAX_SAFE_INTEGER and may have lost precision, pass a bigint for ${name}`);
    }
    big = BigInt(value);
  } else {
    fail("init_wrong_kind", path, `Invalid value for ${where()}: expected ${wide ? "a bigint or safe integer" : "an integer number"} for ${name}, got ${got()}`);
  }
  const { min, max } = integerRange(name, bytes);
  if (big < min || big > max) {
    fail("init_out_of_range", path, `Invalid value for ${where()}: ${big} is out of range for ${name}${bytes !== 8 && wide ? ` (${bytes} bytes on this target)` : ""} (${min}..${max})`);
  }
  return wide ? big : Number(big);
}

/**
 * Checks a whole value against a type tree, independent of the target
 * (pointer-sized ints are checked as 64-bit), and returns it normalised and frozen.
 */
export function checkValue(type: PercpuType, value: unknown, path: readonly PathSegment[]): unknown {
  // A plain switch (exhaustive through assertNever): this runs once per element of large arrays.
  switch (type.kind) {
    case "scalar":
      return checkScalar(type.name, value, path, type.name === "usize" || type.name === "isize" ? 8 : scalarLayout(type.name, "x86_64").size);
    case "array": {
      if (!Array.isArray(value)) fail("init_wrong_kind", path, `Invalid value for ${quotePath(path)}: expected an array of ${type.length}, got ${describeValue(value)}`);
      if (value.length !== type.length) {
        fail("init_array_length", path, `Invalid value for ${quotePath(path)}: expected ${type.length} elements, got ${value.length}`);
      }
      // Array.from visits holes of sparse arrays (map would skip them and accept `[1, , 3]`).
      return Object.freeze(Array.from(value, (v, i) => checkValue(type.element, v, [...path, i])));
    }
    case "struct": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("init_wrong_kind", path, `Invalid value for ${quotePath(path)}: expected an object with fields ${Object.keys(type.fields).join(", ")}, got ${describeValue(value)}`);
      }
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        if (!Object.hasOwn(type.fields, key)) {
          fail("init_extra_field", [...path, key], `Invalid value for ${quotePath(path)}: unknown field "${key}", the struct has ${Object.keys(type.fields).join(", ")}`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [name, fieldType] of Object.entries(type.fields)) {
        if (!Object.hasOwn(obj, name)) fail("init_missing_field", [...path, name], `Invalid value for ${quotePath(path)}: missing field "${name}"`);
        out[name] = checkValue(fieldType, obj[name], [...path, name]);
      }
      return Object.freeze(out);
    }
    case "aligned":
      return checkValue(type.inner, value, path);
    default:
      return assertNever(type);
  }
}

/** Writes one scalar little-endian into `view` at `offset`. */
export function writeScalar(view: DataView, offset: number, name: ScalarName, size: number, value: unknown): void {
  match(name)
    .with("bool", () => view.setUint8(offset, value ? 1 : 0))
    .with("f32", () => view.setFloat32(offset, value as number, true))
    .with("f64", () => view.setFloat64(offset, value as number, true))
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", () => {
      if (size === 8) view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value as number | bigint)), true);
      else if (size === 4) view.setUint32(offset, Number(value) >>> 0, true);
      else if (size === 2) view.setUint16(offset, Number(value) & 0xffff, true);
      else view.setUint8(offset, Number(value) & 0xff);
    })
    .exhaustive();
}

/** Reads one scalar little-endian from `view` at `offset`. */
export function readScalar(view: DataView, offset: number, name: ScalarName, size: number): number | bigint | boolean {
  return match(name)
    .returnType<number | bigint | boolean>()
    .with("bool", () => view.getUint8(offset) !== 0)
    .with("f32", () => view.getFloat32(offset, true))
    .with("f64", () => view.getFloat64(offset, true))
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

/** {@link encodeValue} for a value `checkValue` already accepted (only pointer-sized ints are re-checked). */
export function encodeChecked(type: PercpuType, value: unknown, target: Target, path: readonly PathSegment[]): Uint8Array {
  const bytes = new Uint8Array(typeLayout(type, target).size);
  const view = new DataView(bytes.buffer);
  // One walk over value and type together; paths are only materialised for pointer-sized
  // ints, whose range depends on the target and so is checked here rather than in define().
  const write = (t: PercpuType, v: unknown, offset: number, at: () => PathSegment[]): void => {
    switch (t.kind) {
      case "scalar": {
        const { size } = scalarLayout(t.name, target);
        if (t.name === "usize" || t.name === "isize") checkScalar(t.name, v, at(), size);
        writeScalar(view, offset, t.name, size, v);
        return;
      }
      case "array": {
        const stride = typeLayout(t.element, target).size;
        const items = v as readonly unknown[];
        for (let i = 0; i < t.length; i++) write(t.element, items[i], offset + i * stride, () => [...at(), i]);
        return;
      }
      case "struct":
        for (const f of structFields(t, target)) write(f.type, (v as Record<string, unknown>)[f.name], offset + f.offset, () => [...at(), f.name]);
        return;
      case "aligned":
        write(t.inner, v, offset, at);
        return;
      default:
        return assertNever(t);
    }
  };
  write(type, value, 0, () => [...path]);
  return bytes;
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
