/**
 * Compiles the JS side of one variable's accessors into straight-line
 * functions (one `new Function` per method, on its first call). Every native call then sits at
 * its own call site that only ever sees one FFI function, which keeps Deno's
 * fast-call path (and V8 inlining on Node) instead of a polymorphic slow path,
 * and a struct/array value is read or written by one unrolled expression over
 * its leaves (loops for indexed arrays). A CPU id (`uintptr_t`) of a
 * non-indexed leaf is passed in the runtime's faster form (`env.wideArgs`):
 * Deno's fast path takes 64-bit integers only as BigInt, Bun converts a
 * number faster. Indexed leaves are called through the shim's wrappers with
 * 32-bit CPU and index parameters (`indexedWrapper` of ffi/shim.ts), which
 * every runtime passes as plain numbers at the cost of an argument-less
 * call. Nothing here computes a value: every leaf goes through its generated
 * native accessor.
 *
 * The methods are derived from the op catalog (`LEAF_OP_SPECS` of
 * sdk/ops.ts): one method per leaf op, named by its `js`, taking the CPU
 * (remote ops) and then its `values`, checking each value and the binding
 * (current ops) or the CPU (remote ops), and calling the op's native function
 * (expanded over the leaves for a struct or array). Integer ops exist only on
 * integer variables.
 *
 * Arguments are taken as C takes them: every integer argument may be a
 * `number` (a safe integer) or a `bigint` whatever the width; the value of a
 * write must lie in the type's range, while the operands of the
 * read-modify-write ops (add, sub, and, or, xor, xchg, cmpxchg) may be any
 * integer of `[-(2^n − 1), 2^n − 1]` and are wrapped modulo 2^n into the
 * type first (so `addCurrent(-1)` on an unsigned variable decrements, as
 * Linux's `this_cpu_add(var, -1)`). The inline check of each method accepts
 * only what its native function takes as it is (the type's range, in the
 * runtime's form) and costs what it did; everything else goes to the slow
 * path (`env.checkScalar`), which converts and wraps it or throws
 * `value_wrong_kind` / `value_out_of_range`. {@link DERIVED_METHODS} lists the few methods computed in
 * JS from catalog ops (`sum`). A new catalog row is a new method and a new key
 * of {@link CompiledAccessors} with nothing to write here.
 *
 * @module
 */
import { structFields, typeLayout } from "../sdk/layout.ts";
import { match } from "ts-pattern";
import { LEAF_OP_SPECS, LEAF_OPS, type LeafOpSpec, type ScalarClass } from "../sdk/ops.ts";
import { ARRAY_EXPAND_LIMIT, type LeafOp } from "../sdk/symbols.ts";
import type { PercpuType, ScalarName } from "../sdk/types.ts";
import { integerRange, type IntegerArgMode, isInteger, isWide } from "../sdk/values.ts";
import { indexedWrapper, u128Wrapper } from "./shim.ts";

/** The per-thread binding every accessor checks: which library owns this thread's per-CPU register. */
export interface ThreadBinding {
  owner: object | null;
  cpu: number;
}

/** What the compiled accessors need from their library. */
export interface AccessorEnv {
  /** How CPU ids and indices (`uintptr_t`) are passed: see `NativeLibrary.wideArgs`. */
  readonly wideArgs: "bigint" | "number";
  /**
   * The library state: `state.bound` is true while this thread's register is
   * bound to this library (kept equal to `thread.owner === state`, but one
   * boolean load is cheaper on the hot path); `state.num` caches the area count.
   */
  readonly state: { num: number; bound: boolean };
  /** Throws the right error for a current-CPU access on an unbound thread or a closed library. */
  unbound(what: string): never;
  /** Validates a CPU id against the initialised areas (refreshing the cached count); returns it or throws. */
  cpu(cpu: unknown, what: string): number;
  /** The area count for `sum()` (refreshed natively when the cache says 0); throws when not initialised. */
  count(what: string): number;
  /**
   * Slow-path check of a scalar argument of `method` (its value parameter
   * `param`): returns it in the form the native function takes (wrapped
   * modulo 2^n for `wrap`, the read-modify-write operands) or throws the exact
   * `value_wrong_kind` / `value_out_of_range` error (see `checkArgument` of sdk/values.ts).
   */
  checkScalar(value: unknown, method: string, param: string, mode: IntegerArgMode): unknown;
  /** Check of a whole value (struct/array) written by `method`: returns it normalised or throws. */
  checkValue(value: unknown, method: string): unknown;
  /**
   * A 16-byte buffer of this thread and its native address: the `T *expected`
   * of `ok` ops (try_cmpxchg) points into it.
   */
  scratch(): { readonly buffer: ArrayBuffer; readonly address: bigint };
  /** Binds the native functions of these symbol names (one batch) and returns them in order. */
  bind(names: readonly string[]): ((...args: unknown[]) => unknown)[];
  /** Called when a method has been compiled in place of its stub. */
  install(op: AccessorName, fn: (...args: never[]) => unknown): void;
}

/** The catalog's leaf ops, with their literal types. */
type Specs = typeof LEAF_OP_SPECS;

/** One `unknown` per element of a tuple of C parameter names (a value of the leaf's type, or of the whole variable). */
type Unknowns<V extends readonly unknown[]> = { -readonly [I in keyof V]: unknown };

/**
 * The JS method of a leaf op, from its spec: the CPU first for remote ops,
 * then one argument per value parameter; it returns a value when the op does.
 */
export type LeafMethod<S extends LeafOpSpec> = (
  ...args: [...(S["target"] extends "remote" ? [cpu: number] : []), ...Unknowns<S["values"]>]
) => S["returns"] extends "value" ? unknown : S["returns"] extends "ok" ? { ok: boolean; value: unknown } : void;

/** The leaf ops whose `scalars` class is `C`. */
type OpsWhere<C extends ScalarClass> = { [K in LeafOp]: Specs[K]["scalars"] extends C ? K : never }[LeafOp];

/** What a method derived in JS from catalog ops is: integer variables only or not, and the leaf op it calls. */
export interface DerivedMethodSpec {
  /** Whether only integer variables have it (like the integer ops). */
  readonly integer: boolean;
  /** The leaf op whose native function it calls. */
  readonly uses: LeafOp;
}

/**
 * Methods that are not catalog rows but are computed in JS from one: `sum`
 * adds up every initialised CPU's value read with `remote_read` (a JS number
 * or bigint, not wrapped to the type).
 */
export const DERIVED_METHODS = {
  sum: { integer: true, uses: "remote_read" },
} as const satisfies Record<string, DerivedMethodSpec>;

/** The name of a {@link DERIVED_METHODS} entry. */
export type DerivedMethod = keyof typeof DERIVED_METHODS;

/** Flattens an intersection of object types into one (keeping optional keys optional). */
type Flat<T> = { [K in keyof T]: T[K] };

/**
 * The compiled accessors of one variable, derived from the catalog: a method
 * per leaf op named by its `js` (the integer ops optional: only integer
 * variables have them), plus the {@link DERIVED_METHODS}.
 */
export type CompiledAccessors = Flat<
  & { [K in OpsWhere<"every"> as Specs[K]["js"]]: LeafMethod<Specs[K]> }
  & { [K in OpsWhere<"integer" | "u128"> as Specs[K]["js"]]?: LeafMethod<Specs[K]> }
  & { [K in DerivedMethod as typeof DERIVED_METHODS[K]["integer"] extends true ? never : K]: () => unknown }
  & { [K in DerivedMethod as typeof DERIVED_METHODS[K]["integer"] extends true ? K : never]?: () => unknown }
>;

/** The accessors of a loaded variable's handle (`NativeVar.accessors`, which `PercpuVar` reaches): the catalog-derived {@link CompiledAccessors}. */
export type HandleAccessors = CompiledAccessors;

/** Names of the compiled methods. */
export type AccessorName = keyof HandleAccessors;

/** The methods only integer variables have (the integer ops and the integer derived methods). */
export type IntegerAccessorName = {
  [K in AccessorName]-?: undefined extends HandleAccessors[K] ? K : never;
}[AccessorName];

/**
 * The verb of an op's error messages (`Cannot update "X": …`): `update` for
 * the integer read-modify-write ops, `read` for an op that returns a value
 * and takes none, `write` for the others.
 */
function opVerb(spec: LeafOpSpec): "read" | "write" | "update" {
  if (spec.scalars !== "every") return "update";
  return spec.values.length === 0 && spec.returns === "value" ? "read" : "write";
}

/** The typed-array view of the scratch buffer holding a value of each scalar type (x86_64: usize/isize are 64-bit). */
const SCRATCH_VIEW = {
  u8: "Uint8Array",
  i8: "Int8Array",
  u16: "Uint16Array",
  i16: "Int16Array",
  u32: "Uint32Array",
  i32: "Int32Array",
  u64: "BigUint64Array",
  i64: "BigInt64Array",
  usize: "BigUint64Array",
  isize: "BigInt64Array",
  bool: "Uint8Array",
  f32: "Float32Array",
  f64: "Float64Array",
  // Two 64-bit halves, low first.
  u128: "BigUint64Array",
} as const satisfies Record<ScalarName, string>;

/** Names the generated method text uses itself, which a value parameter must not shadow. */
const LOCALS = /^(?:state|env|F|S|A|X|ok|cpu|n|s|c|[fvio][0-9]+)$/;

/** The value parameters of an op as JS parameter names (its C names), checked usable as such. */
function valueParams(op: LeafOp, spec: LeafOpSpec): readonly string[] {
  for (const v of spec.values) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) || LOCALS.test(v)) {
      throw new Error(`op ${op}: value parameter ${JSON.stringify(v)} cannot name a JS parameter of its accessor`);
    }
  }
  return spec.values;
}

/** Inline JS condition that is true when `v` is NOT a valid value of the scalar (then the slow check runs). */
function invalidCondition(name: ScalarName, v: string): string {
  if (name === "bool") return `typeof ${v} !== "boolean"`;
  if (name === "f64") return `typeof ${v} !== "number"`;
  if (name === "f32") {
    return `typeof ${v} !== "number" || (${v} > 3.4028234663852886e38 && ${v} !== Infinity) || (${v} < -3.4028234663852886e38 && ${v} !== -Infinity)`;
  }
  const size = name === "u128" ? 16 : name.endsWith("8") ? 1 : name.endsWith("16") ? 2 : name.endsWith("32") ? 4 : 8;
  const { min, max } = integerRange(name as Exclude<ScalarName, "bool" | "f32" | "f64">, size);
  if (isWide(name)) return `typeof ${v} !== "bigint" || ${v} < ${min}n || ${v} > ${max}n`;
  return `typeof ${v} !== "number" || !(${v} >= ${min} && ${v} <= ${max}) || !Number.isInteger(${v})`;
}

/**
 * What a leaf handle's accessors are compiled for (see {@link compileAccessors}):
 * the leading index arguments of the leaf's native functions that the handle
 * fixes (one per indexed array on its path, outermost first), baked into the
 * generated text as constants, and the name its errors quote (`"STATS".hist[2]`).
 *
 * @example
 * ```ts
 * import type { LeafTarget } from "./_accessors.ts";
 * // BIG.at(20) of BIG: u32[64] (indexed): percpu_BIG_read_current(20)
 * const target: LeafTarget = { fixed: [20], label: '"BIG"[20]' };
 * ```
 */
export interface LeafTarget {
  /** Index arguments passed before any others of the op (after the CPU of a remote op). */
  readonly fixed: readonly number[];
  /** The quoted path the error messages name; default the quoted symbol stem. */
  readonly label?: string;
}

/** A whole variable: no fixed indices. */
const NO_LEAF: LeafTarget = { fixed: [] };

/**
 * Where a leaf of a variable lives in the generated code, from its path
 * (field names and indices): its symbol stem (the variable name plus
 * `__field` per struct field and `__i` per element of an expanded array;
 * an indexed array adds no segment but a fixed index argument), its type
 * (aligned wrappers of the leaf itself kept), the fixed leading indices and
 * its byte offset from the variable on x86_64. The path must be valid
 * (checked by the handle): an invalid one throws a plain `Error`.
 *
 * @example
 * ```ts
 * import { array, struct, u16, u64 } from "../sdk/types.ts";
 * import { resolveLeaf } from "./_accessors.ts";
 * const STATS = struct({ irqs: u64, hist: array(u16, 20) });
 * resolveLeaf("STATS", STATS, ["hist", 2]); // { stem: "STATS__hist", fixed: [2], offset: 12, type: u16 }
 * ```
 */
export function resolveLeaf(
  name: string,
  type: PercpuType,
  path: readonly (string | number)[],
): { readonly stem: string; readonly type: PercpuType; readonly fixed: readonly number[]; readonly offset: number } {
  let stem = name;
  let t = type;
  let offset = 0;
  const fixed: number[] = [];
  for (const seg of path) {
    while (t.kind === "aligned") t = t.inner;
    if (t.kind === "struct" && typeof seg === "string") {
      const f = structFields(t, "x86_64").find((x) => x.name === seg);
      if (f === undefined) throw new Error(`${name}: no field ${seg}`);
      stem += `__${seg}`;
      offset += f.offset;
      t = f.type;
    } else if (t.kind === "array" && typeof seg === "number" && Number.isSafeInteger(seg) && seg >= 0 && seg < t.length) {
      offset += seg * typeLayout(t.element, "x86_64").size;
      if (t.length <= ARRAY_EXPAND_LIMIT) stem += `__${seg}`;
      else fixed.push(seg);
      t = t.element;
    } else {
      throw new Error(`${name}: invalid path segment ${String(seg)}`);
    }
  }
  return { stem, type: t, fixed, offset };
}

/**
 * Builds the accessors of a variable, or of one leaf of it (a field or
 * element at any depth, see {@link resolveLeaf}). `type` is its type tree
 * and `name` its symbol stem; `leaf.fixed` are the index arguments the
 * leaf's native functions take first (constants in the generated text, so a
 * leaf handle costs what a variable of its type costs); the leaves are found by the same naming rule as
 * `accessorLeaves` (expanded arrays `__i`, struct fields `__name`, long arrays
 * indexed). Each method starts as a stub: its first call binds the native
 * functions that method needs (`env.bind`, one batch), compiles it, puts it in
 * place of the stub and reports it through `env.install`.
 */
export function compileAccessors(
  name: string,
  type: PercpuType,
  env: AccessorEnv,
  leaf: LeafTarget = NO_LEAF,
): CompiledAccessors {
  const fixed = leaf.fixed.map((i) => {
    if (!Number.isSafeInteger(i) || i < 0) throw new Error(`fixed index ${i} of ${name} is not an index`);
    return `${i}`;
  });
  let scalar: ScalarName | null = null;
  for (let t = type;; t = t.inner) {
    if (t.kind === "scalar") scalar = t.name;
    if (t.kind !== "aligned") break;
  }
  const integer = scalar !== null && isInteger(scalar);
  const q = leaf.label ?? `"${name}"`;
  const word = (x: string): string => (env.wideArgs === "bigint" ? `BigInt(${x})` : x);
  const msg = (verb: string): string => JSON.stringify(`${verb} ${q}`);
  // Function names of the generated methods: the symbol stem, made a JS identifier.
  const fnName = name.replace(/[^A-Za-z0-9_$]/g, "_");
  const bound = `if (state.bound !== true) env.unbound`;
  // The inline condition accepts exactly the values the native function takes as they are (the type's
  // own range, in the runtime's JS form); anything else (a bigint for a narrow int, a number for a wide
  // one, a negative operand of an unsigned RMW op, ...) goes to the slow path, which normalises and
  // wraps it or throws.
  const check = (v: string, method: string, mode: IntegerArgMode): string =>
    scalar !== null
      ? `if (${invalidCondition(scalar, v)}) ${v} = env.checkScalar(${v}, ${JSON.stringify(method)}, ${
        JSON.stringify(v)
      }, ${JSON.stringify(mode)});`
      : `${v} = env.checkValue(${v}, ${JSON.stringify(method)});`;
  const cpuCheck = (what: string): string =>
    `if (typeof cpu !== "number" || (cpu >>> 0) !== cpu || cpu >= state.num) cpu = env.cpu(cpu, ${JSON.stringify(what)});`;

  /** `ref` names the native function of a leaf op on a leaf symbol (its 32-bit-index wrapper when `indexed`, the u128 buffer wrapper for `"u128"`). */
  type Ref = (symbol: string, leafOp: LeafOp, indexed: boolean | "u128") => string;

  /** The CPU and index arguments of a native call, as JS expressions of numbers. */
  interface CallArgs {
    readonly cpu: string | null;
    readonly indices: readonly string[];
  }

  /**
   * A call of a leaf op's native function: with indices, the shim's wrapper
   * taking the CPU and the indices as 32-bit numbers (see `indexedWrapper`);
   * without, the function itself, the CPU in the runtime's word form.
   */
  const call = (ref: Ref, symbol: string, op: LeafOp, a: CallArgs, values: readonly string[]): string => {
    const indexed = a.indices.length > 0;
    const cpu = a.cpu === null ? [] : [indexed ? a.cpu : word(a.cpu)];
    return `${ref(symbol, op, indexed)}(${[...cpu, ...a.indices, ...values].join(", ")})`;
  };

  /**
   * A call of a u128 leaf op through its shim wrapper (`u128Wrapper`): the
   * values go into the scratch buffer `W` (four `BigUint64`, low half
   * first), the CPU and indices as 32-bit numbers; a value-returning op's
   * result is composed from `W[0]` and `W[1]`.
   */
  const call128 = (ref: Ref, symbol: string, op: LeafOp, a: CallArgs, values: readonly string[]): string => {
    const stores = values.flatMap((v, i) => [`W[${2 * i}] = BigInt.asUintN(64, ${v})`, `W[${2 * i + 1}] = ${v} >> 64n`]);
    const f = `${ref(symbol, op, "u128")}(${[...(a.cpu === null ? [] : [a.cpu]), ...a.indices, "A"].join(", ")})`;
    const result = LEAF_OP_SPECS[op].returns === "value" ? ["W[0] | (W[1] << 64n)"] : [];
    return `(${[...stores, f, ...result].join(", ")})`;
  };

  /** Source (parameters, body) of the method of a leaf op. */
  const leafSource = (op: LeafOp, ref: Ref): [string, string] => {
    const spec: LeafOpSpec = LEAF_OP_SPECS[op];
    const values = valueParams(op, spec);
    const verb = opVerb(spec);
    const stmts = values.map((v) => check(v, spec.js, spec.scalars === "integer" ? "wrap" : "exact"));
    let args: CallArgs;
    let params: readonly string[];
    switch (spec.target) {
      case "current":
        stmts.push(`${bound}(${msg(verb)});`);
        args = { cpu: null, indices: fixed };
        params = values;
        break;
      case "remote":
        stmts.push(cpuCheck(`${verb} ${q}`));
        args = { cpu: "cpu", indices: fixed };
        params = ["cpu", ...values];
        break;
    }
    stmts.push(callSource(op, spec, args, values, ref));
    return [params.join(", "), stmts.join(" ")];
  };

  /**
   * The statement calling a leaf op's native function with `args` (the CPU)
   * and the checked `values`: one call on a scalar variable (returning its
   * result when the op returns one); on a struct or array, a value-returning
   * op without values is read leaf by leaf into one value and a void op of
   * one value is written leaf by leaf from it.
   */
  const callSource = (
    op: LeafOp,
    spec: LeafOpSpec,
    args: CallArgs,
    values: readonly string[],
    ref: Ref,
  ): string => {
    if (scalar !== null && spec.returns === "ok") {
      // The first value goes through this thread's scratch buffer (the C `T *`), which holds the value found afterwards.
      const [first, ...rest] = values;
      return `S[0] = ${first}; const ok = ${call(ref, name, op, args, ["A", ...rest])}; return { ok, value: S[0] };`;
    }
    if (scalar === "u128") return `${spec.returns === "value" ? "return " : ""}${call128(ref, name, op, args, values)};`;
    if (scalar !== null) return `${spec.returns === "value" ? "return " : ""}${call(ref, name, op, args, values)};`;
    if (spec.values.length === 0 && spec.returns === "value") return `return ${expand(ref).read(type, name, args, op)};`;
    if (spec.values.length === 1 && spec.returns === "void") return expand(ref).write(type, name, args, values[0]!, op);
    throw new Error(`op ${op} has no JS expansion over the leaves of a struct or array ${q}`);
  };

  /** The leaf-by-leaf read expression and write statements of a whole value (fresh temporaries per method). */
  const expand = (ref: Ref) => {
    let k = 0;
    const read = (t: PercpuType, sym: string, args: CallArgs, lop: LeafOp): string => {
      switch (t.kind) {
        case "scalar":
          return t.name === "u128" ? call128(ref, sym, lop, args, []) : call(ref, sym, lop, args, []);
        case "aligned":
          return read(t.inner, sym, args, lop);
        case "struct":
          return `{ ${
            structFields(t, "x86_64").map((f) => `${JSON.stringify(f.name)}: ${read(f.type, `${sym}__${f.name}`, args, lop)}`)
              .join(", ")
          } }`;
        case "array": {
          if (t.length <= ARRAY_EXPAND_LIMIT) {
            return `[${Array.from({ length: t.length }, (_, i) => read(t.element, `${sym}__${i}`, args, lop)).join(", ")}]`;
          }
          const i = `i${k++}`;
          const o = `o${k++}`;
          return `(() => { const ${o} = new Array(${t.length}); for (let ${i} = 0; ${i} < ${t.length}; ${i}++) ${o}[${i}] = ${
            read(t.element, sym, { cpu: args.cpu, indices: [...args.indices, i] }, lop)
          }; return ${o}; })()`;
        }
      }
    };
    const write = (t: PercpuType, sym: string, args: CallArgs, value: string, lop: LeafOp): string => {
      switch (t.kind) {
        case "scalar": {
          if (t.name !== "u128") return `${call(ref, sym, lop, args, [value])};`;
          const u = `v${k++}`;
          return `{ const ${u} = ${value}; ${call128(ref, sym, lop, args, [u])}; }`;
        }
        case "aligned":
          return write(t.inner, sym, args, value, lop);
        case "struct": {
          const v = `v${k++}`;
          return `{ const ${v} = ${value}; ${
            structFields(t, "x86_64").map((f) =>
              write(f.type, `${sym}__${f.name}`, args, `${v}[${JSON.stringify(f.name)}]`, lop)
            ).join(" ")
          } }`;
        }
        case "array": {
          const v = `v${k++}`;
          if (t.length <= ARRAY_EXPAND_LIMIT) {
            return `{ const ${v} = ${value}; ${
              Array.from({ length: t.length }, (_, i) => write(t.element, `${sym}__${i}`, args, `${v}[${i}]`, lop))
                .join(" ")
            } }`;
          }
          const i = `i${k++}`;
          return `{ const ${v} = ${value}; for (let ${i} = 0; ${i} < ${t.length}; ${i}++) { ${
            write(t.element, sym, { cpu: args.cpu, indices: [...args.indices, i] }, `${v}[${i}]`, lop)
          } } }`;
        }
      }
    };
    return { read, write };
  };

  /** Source (parameters, body) of a derived method. */
  const derivedSource = (m: DerivedMethod, ref: Ref): [string, string] => {
    switch (m) {
      case "sum":
        return [
          "",
          `const n = env.count(${msg("sum")}); let s = ${
            scalar !== null && isWide(scalar) ? "0n" : "0"
          }; for (let c = 0; c < n; c++) s += ${call(ref, name, DERIVED_METHODS.sum.uses, { cpu: "c", indices: fixed }, [])}; return s;`,
        ];
    }
  };

  const compile = (method: string, source: (ref: Ref) => [string, string]): (...args: never[]) => unknown => {
    const names: string[] = [];
    const ref = (symbol: string, leafOp: LeafOp, indexed: boolean | "u128"): string => {
      const base = `percpu_${symbol}_${leafOp}`;
      const fname = indexed === "u128" ? u128Wrapper(base) : indexed ? indexedWrapper(base) : base;
      let i = names.indexOf(fname);
      if (i < 0) i = names.push(fname) - 1;
      return `f${i}`;
    };
    const [params, body] = source(ref);
    const fns = env.bind(names);
    const consts = names.length > 0 ? `const ${names.map((_, i) => `f${i} = F[${i}]`).join(", ")};\n` : "";
    // `ok` ops: S views the scratch buffer as the leaf's type, A is its address in the runtime's uintptr_t form.
    // u128 leaves: W views it as four 64-bit halves.
    const views = [
      ...(/\bS\[0\]/.test(body) && scalar !== null ? [`S = new ${SCRATCH_VIEW[scalar]}(X.buffer, 0, 1)`] : []),
      ...(/\bW\[/.test(body) ? ["W = new BigUint64Array(X.buffer, 0, 4)"] : []),
    ];
    const scratch = views.length > 0
      ? `const X = env.scratch(), ${views.join(", ")}, A = ${env.wideArgs === "bigint" ? "X.address" : "Number(X.address)"};\n`
      : "";
    const text =
      `"use strict";\nconst state = env.state;\n${consts}${scratch}return function ${fnName}_${method}(${params}) { ${body} };`;
    // deno-lint-ignore no-new-func
    return new Function("env", "F", text)(env, fns) as (...args: never[]) => unknown;
  };

  const accessors: Record<string, (...args: never[]) => unknown> = {};
  const stub = (method: AccessorName, source: (ref: Ref) => [string, string]): void => {
    accessors[method] = (...args: never[]): unknown => {
      const real = compile(method, source);
      accessors[method] = real;
      env.install(method, real);
      return real(...args);
    };
  };
  for (const op of LEAF_OPS) {
    const applies = match(LEAF_OP_SPECS[op].scalars)
      .with("every", () => true)
      .with("integer", () => integer)
      .with("u128", () => scalar === "u128")
      .exhaustive();
    if (!applies) continue;
    stub(LEAF_OP_SPECS[op].js, (ref) => leafSource(op, ref));
  }
  for (const m of Object.keys(DERIVED_METHODS) as DerivedMethod[]) {
    if (DERIVED_METHODS[m].integer && !integer) continue;
    stub(m, (ref) => derivedSource(m, ref));
  }
  return accessors as unknown as CompiledAccessors;
}
