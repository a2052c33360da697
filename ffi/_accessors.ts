/**
 * Compiles the JS side of one variable's accessors into straight-line
 * functions (one `new Function` per method, on its first call). Every native call then sits at
 * its own call site that only ever sees one FFI function, which keeps Deno's
 * fast-call path (and V8 inlining on Node) instead of a polymorphic slow path,
 * and a struct/array value is read or written by one unrolled expression over
 * its leaves (loops for indexed arrays). CPU ids and indices (`uintptr_t`)
 * are passed in the runtime's faster form (`env.wideArgs`): Deno's fast path
 * takes 64-bit integers only as BigInt, Bun converts a number faster. Nothing here computes a value: every
 * leaf goes through its generated native accessor.
 *
 * @module
 */
import { structFields } from "../sdk/layout.ts";
import { ARRAY_EXPAND_LIMIT, type LeafOp } from "../sdk/symbols.ts";
import type { PercpuType, ScalarName } from "../sdk/types.ts";
import { integerRange, isInteger, isWide } from "../sdk/values.ts";

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
  /** Slow-path check of a scalar argument: returns it normalised or throws the exact error. */
  checkScalar(value: unknown): unknown;
  /** Check of a whole value (struct/array): returns it normalised or throws. */
  checkValue(value: unknown): unknown;
  /** Binds the native functions of these symbol names (one batch) and returns them in order. */
  bind(names: readonly string[]): ((...args: unknown[]) => unknown)[];
  /** Called when a method has been compiled in place of its stub. */
  install(op: AccessorName, fn: (...args: never[]) => unknown): void;
}

/** The compiled accessors of one variable (integer ops only for integer variables). */
export interface CompiledAccessors {
  readCurrent(): unknown;
  readCurrentRaw(): unknown;
  writeCurrent(value: unknown): void;
  writeCurrentRaw(value: unknown): void;
  remoteRead(cpu: number): unknown;
  remoteWrite(cpu: number, value: unknown): void;
  addCurrent?(value: unknown): void;
  subCurrent?(value: unknown): void;
  andCurrent?(value: unknown): void;
  orCurrent?(value: unknown): void;
  xorCurrent?(value: unknown): void;
  xchgCurrent?(value: unknown): unknown;
  cmpxchgCurrent?(expected: unknown, desired: unknown): unknown;
  sum?(): unknown;
}

/** Inline JS condition that is true when `v` is NOT a valid value of the scalar (then the slow check runs). */
function invalidCondition(name: ScalarName, v: string): string {
  if (name === "bool") return `typeof ${v} !== "boolean"`;
  if (name === "f64") return `typeof ${v} !== "number"`;
  if (name === "f32") {
    return `typeof ${v} !== "number" || (${v} > 3.4028234663852886e38 && ${v} !== Infinity) || (${v} < -3.4028234663852886e38 && ${v} !== -Infinity)`;
  }
  const size = name.endsWith("8") ? 1 : name.endsWith("16") ? 2 : name.endsWith("32") ? 4 : 8;
  const { min, max } = integerRange(name as Exclude<ScalarName, "bool" | "f32" | "f64">, size);
  if (isWide(name)) return `typeof ${v} !== "bigint" || ${v} < ${min}n || ${v} > ${max}n`;
  return `typeof ${v} !== "number" || !(${v} >= ${min} && ${v} <= ${max}) || !Number.isInteger(${v})`;
}

/** Names of the compiled methods. */
export type AccessorName = keyof CompiledAccessors;

/**
 * Builds the accessors of a variable. `type` is its type tree and `name` its
 * symbol stem; the leaves are found by the same naming rule as
 * `accessorLeaves` (expanded arrays `__i`, struct fields `__name`, long arrays
 * indexed). Each method starts as a stub: its first call binds the native
 * functions that method needs (`env.bind`, one batch), compiles it, puts it in
 * place of the stub and reports it through `env.install`.
 */
export function compileAccessors(name: string, type: PercpuType, env: AccessorEnv): CompiledAccessors {
  let scalar: ScalarName | null = null;
  for (let t = type;; t = t.inner) {
    if (t.kind === "scalar") scalar = t.name;
    if (t.kind !== "aligned") break;
  }
  const q = `"${name}"`;
  const word = (x: string): string => (env.wideArgs === "bigint" ? `BigInt(${x})` : x);
  const msg = (verb: string): string => JSON.stringify(`${verb} ${q}`);
  const bound = `if (state.bound !== true) env.unbound`;
  const check = (v: string): string =>
    scalar !== null
      ? `if (${invalidCondition(scalar, v)}) ${v} = env.checkScalar(${v});`
      : `${v} = env.checkValue(${v});`;
  const cpuCheck = (what: string): string =>
    `if (typeof cpu !== "number" || (cpu >>> 0) !== cpu || cpu >= state.num) cpu = env.cpu(cpu, ${JSON.stringify(what)});`;

  /** Source (parameters, body) of one method; `ref` names the native function of a leaf op. */
  const source = (op: AccessorName, ref: (symbol: string, leafOp: LeafOp) => string): [string, string] => {
    let k = 0;
    const readExpr = (t: PercpuType, sym: string, args: readonly string[], lop: LeafOp): string => {
      switch (t.kind) {
        case "scalar":
          return `${ref(sym, lop)}(${args.join(", ")})`;
        case "aligned":
          return readExpr(t.inner, sym, args, lop);
        case "struct":
          return `{ ${
            structFields(t, "x86_64").map((f) =>
              `${JSON.stringify(f.name)}: ${readExpr(f.type, `${sym}__${f.name}`, args, lop)}`
            ).join(", ")
          } }`;
        case "array": {
          if (t.length <= ARRAY_EXPAND_LIMIT) {
            return `[${
              Array.from({ length: t.length }, (_, i) => readExpr(t.element, `${sym}__${i}`, args, lop)).join(", ")
            }]`;
          }
          const i = `i${k++}`;
          const o = `o${k++}`;
          return `(() => { const ${o} = new Array(${t.length}); for (let ${i} = 0; ${i} < ${t.length}; ${i}++) ${o}[${i}] = ${
            readExpr(t.element, sym, [...args, word(i)], lop)
          }; return ${o}; })()`;
        }
      }
    };
    const writeStmts = (t: PercpuType, sym: string, args: readonly string[], value: string, lop: LeafOp): string => {
      switch (t.kind) {
        case "scalar":
          return `${ref(sym, lop)}(${[...args, value].join(", ")});`;
        case "aligned":
          return writeStmts(t.inner, sym, args, value, lop);
        case "struct": {
          const v = `v${k++}`;
          return `{ const ${v} = ${value}; ${
            structFields(t, "x86_64").map((f) =>
              writeStmts(f.type, `${sym}__${f.name}`, args, `${v}[${JSON.stringify(f.name)}]`, lop)
            ).join(" ")
          } }`;
        }
        case "array": {
          const v = `v${k++}`;
          if (t.length <= ARRAY_EXPAND_LIMIT) {
            return `{ const ${v} = ${value}; ${
              Array.from({ length: t.length }, (_, i) => writeStmts(t.element, `${sym}__${i}`, args, `${v}[${i}]`, lop))
                .join(" ")
            } }`;
          }
          const i = `i${k++}`;
          return `{ const ${v} = ${value}; for (let ${i} = 0; ${i} < ${t.length}; ${i}++) { ${
            writeStmts(t.element, sym, [...args, word(i)], `${v}[${i}]`, lop)
          } } }`;
        }
      }
    };
    switch (op) {
      case "readCurrent":
        return ["", `${bound}(${msg("read")}); return ${readExpr(type, name, [], "read_current")};`];
      case "readCurrentRaw":
        return ["", `${bound}(${msg("read")}); return ${readExpr(type, name, [], "read_current_raw")};`];
      case "writeCurrent":
        return ["v", `${check("v")} ${bound}(${msg("write")}); ${writeStmts(type, name, [], "v", "write_current")}`];
      case "writeCurrentRaw":
        return [
          "v",
          `${check("v")} ${bound}(${msg("write")}); ${writeStmts(type, name, [], "v", "write_current_raw")}`,
        ];
      case "remoteRead":
        return ["cpu", `${cpuCheck(`read ${q}`)} return ${readExpr(type, name, [word("cpu")], "remote_read")};`];
      case "remoteWrite":
        return [
          "cpu, v",
          `${check("v")} ${cpuCheck(`write ${q}`)} ${writeStmts(type, name, [word("cpu")], "v", "remote_write")}`,
        ];
      case "addCurrent":
      case "subCurrent":
      case "andCurrent":
      case "orCurrent":
      case "xorCurrent":
        return [
          "v",
          `${check("v")} ${bound}(${msg("update")}); ${ref(name, `${op.slice(0, -7) as "add"}_current`)}(v);`,
        ];
      case "xchgCurrent":
        return ["v", `${check("v")} ${bound}(${msg("update")}); return ${ref(name, "xchg_current")}(v);`];
      case "cmpxchgCurrent":
        return [
          "e, d",
          `${check("e")} ${check("d")} ${bound}(${msg("update")}); return ${ref(name, "cmpxchg_current")}(e, d);`,
        ];
      case "sum":
        return [
          "",
          `const n = env.count(${msg("sum")}); let s = ${
            scalar !== null && isWide(scalar) ? "0n" : "0"
          }; for (let c = 0; c < n; c++) s += ${ref(name, "remote_read")}(${word("c")}); return s;`,
        ];
    }
  };

  const compile = (op: AccessorName): (...args: never[]) => unknown => {
    const names: string[] = [];
    const ref = (symbol: string, leafOp: LeafOp): string => {
      const fname = `percpu_${symbol}_${leafOp}`;
      let i = names.indexOf(fname);
      if (i < 0) i = names.push(fname) - 1;
      return `f${i}`;
    };
    const [params, body] = source(op, ref);
    const fns = env.bind(names);
    const consts = names.length > 0 ? `const ${names.map((_, i) => `f${i} = F[${i}]`).join(", ")};\n` : "";
    const text =
      `"use strict";\nconst state = env.state;\n${consts}return function ${name}_${op}(${params}) { ${body} };`;
    // deno-lint-ignore no-new-func
    return new Function("env", "F", text)(env, fns) as (...args: never[]) => unknown;
  };

  const ops: AccessorName[] = [
    "readCurrent",
    "readCurrentRaw",
    "writeCurrent",
    "writeCurrentRaw",
    "remoteRead",
    "remoteWrite",
  ];
  if (scalar !== null && isInteger(scalar)) {
    ops.push(
      "addCurrent",
      "subCurrent",
      "andCurrent",
      "orCurrent",
      "xorCurrent",
      "xchgCurrent",
      "cmpxchgCurrent",
      "sum",
    );
  }
  const accessors: Record<string, (...args: never[]) => unknown> = {};
  for (const op of ops) {
    accessors[op] = (...args: never[]): unknown => {
      const real = compile(op);
      accessors[op] = real;
      env.install(op, real);
      return real(...args);
    };
  }
  return accessors as unknown as CompiledAccessors;
}
