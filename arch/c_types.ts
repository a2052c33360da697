/**
 * C spellings of per-CPU types: scalar types, struct/array declarators and
 * the `typedef`s `percpu.h` declares. Layout-equivalent to `sdk/layout.ts`
 * (the property tests compile these and `_Static_assert` our offsets).
 *
 * @module
 */
import { match } from "ts-pattern";
import { cScalarType } from "../sdk/c_names.ts";
import { leafOpSpec } from "../sdk/ops.ts";
import { leafFunction, type LeafOp } from "../sdk/symbols.ts";
import type { AnyPlacedLeaf } from "../sdk/plan.ts";
import type { PercpuType } from "../sdk/types.ts";

/**
 * A C declaration of `name` with type `type`, e.g. `uint32_t hist[8]` or
 * `struct { uint64_t irqs; uint32_t ticks; } stats`. `aligned(T, a)` becomes
 * `struct { T v __attribute__((aligned(a))); }` so that its size rounds up like ours.
 * (Not `_Alignas(a)`: C forbids it below T's natural alignment, which our
 * `aligned(T, a)` allows and treats as `max(a, alignof T)`, as the attribute does.)
 */
export function cDeclaration(type: PercpuType, name: string, indent = ""): string {
  return match(type)
    .returnType<string>()
    .with({ kind: "scalar" }, (t) => `${cScalarType(t.name)} ${name}`)
    .with({ kind: "array" }, (t) => cDeclaration(t.element, `${name}[${t.length}]`, indent))
    .with({ kind: "struct" }, (t) => {
      const inner = indent + "  ";
      const fields = Object.entries(t.fields).map(([f, ft]) => `${inner}${cDeclaration(ft, f, inner)};\n`).join("");
      return `struct {\n${fields}${indent}} ${name}`;
    })
    .with({ kind: "aligned" }, (t) => `struct {\n${indent}  ${cDeclaration(t.inner, "v", indent + "  ")} __attribute__((aligned(${t.align})));\n${indent}} ${name}`)
    .exhaustive();
}

/** C expression suffix reaching a path inside a value of `type` (`.irqs`, `.hist[3]`, `.v` for aligned). */
export function cMemberPath(type: PercpuType, path: readonly (string | number)[]): string {
  let out = "";
  let t = type;
  let i = 0;
  while (true) {
    if (t.kind === "aligned") {
      out += ".v";
      t = t.inner;
      continue;
    }
    if (i >= path.length) return out;
    const seg = path[i++]!;
    if (t.kind === "array") {
      out += `[${seg}]`;
      t = t.element;
    } else if (t.kind === "struct") {
      out += `.${seg}`;
      t = t.fields[seg as string]!;
    } else {
      throw new Error(`path ${path.join(".")} goes below a scalar`);
    }
  }
}

/** One C parameter. */
export interface CParam {
  readonly type: string;
  readonly name: string;
}

/** The C signature of a leaf operation (the contract of `percpu.h`). */
export interface CSignature {
  readonly name: string;
  readonly ret: string;
  readonly params: readonly CParam[];
}

/**
 * Signature of a leaf operation, from the op catalog. Parameter order: `cpu`
 * (remote ops), one `uintptr_t iN` per index dimension, then the value(s).
 */
export function leafSignature(leaf: AnyPlacedLeaf, op: LeafOp): CSignature {
  const spec = leafOpSpec(op);
  const values = opValueSignature(op, leaf.cType);
  const params: CParam[] = [
    ...(spec.target === "remote" ? [{ type: "uintptr_t", name: "cpu" }] : []),
    ...leaf.indices.map((_, i) => ({ type: "uintptr_t", name: `i${i}` })),
    ...values.params,
  ];
  return { name: leafFunction(leaf, op), ret: values.ret, params };
}

/**
 * The value parameters and the return type of a leaf op on values of C
 * type `cType`, from the op catalog: the part of every signature of the op
 * after its location (a leaf's CPU and indices, a run-time offset).
 *
 * @example
 * ```ts
 * import { opValueSignature } from "./c_types.ts";
 * opValueSignature("try_cmpxchg_current", "uint64_t");
 * // { params: [{ type: "uint64_t *", name: "expected" }, { type: "uint64_t", name: "desired" }], ret: "bool" }
 * ```
 */
export function opValueSignature(op: LeafOp, cType: string): { readonly params: readonly CParam[]; readonly ret: string } {
  const spec = leafOpSpec(op);
  return {
    // `ok` ops (try_cmpxchg) take their first value by pointer: it receives the value found on failure.
    params: spec.values.map((name, i) => ({ type: spec.returns === "ok" && i === 0 ? `${cType} *` : cType, name })),
    ret: spec.returns === "value" ? cType : spec.returns === "ok" ? "bool" : "void",
  };
}

/** `ret name(params)` as C text (`void` for no parameters). */
export function cPrototype(sig: CSignature): string {
  const params = sig.params.length === 0 ? "void" : sig.params.map((p) => `${p.type} ${p.name}`).join(", ");
  return `${sig.ret} ${sig.name}(${params})`;
}
