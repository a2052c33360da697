/**
 * The `percpu.rs` emitter: a Rust module (only `core`, so a `#![no_std]`
 * crate can use it: `#[path = "gen/percpu.rs"] mod percpu;`) with the API of
 * the seed crate (arceos-org/percpu + percpu_macros) over our layout, linked
 * with the generated `percpu.S` (assembled into `libpercpu.a`).
 *
 * Per variable `NAME` it declares `pub static NAME: NAME_WRAPPER`, a
 * zero-sized wrapper with the seed's methods (`offset`, `symbol_vma`,
 * `current_ptr`, `current_ref_raw`, `current_ref_mut_raw`, `with_current`,
 * `reset_to_init`, `remote_ptr`, `remote_ref_raw`, `remote_ref_mut_raw`,
 * and on scalar variables `read_current_raw`, `write_current_raw`,
 * `read_current`, `write_current`) with the seed's signatures and `unsafe`
 * markers. Scalar variables of every scalar type have them (the seed: `bool`
 * and the unsigned integers only), plus the C interface's ops of the catalog
 * (`add_current` … `cmpxchg_current` on integers, `remote_read`,
 * `remote_write`, `remote_add`, `remote_cmpxchg`; the remote ones `unsafe`
 * like the seed's `remote_ptr`, since any CPU id is accepted). Arrays of more
 * than 16 scalars get them with index parameters (`BIG.read_current(i)`,
 * bounds-checked), as `percpu.h`'s `_at` forms. `u128` leaves have the
 * reads and writes and `cmpxchg128_current(expected, desired) -> u128` (the
 * old value; no integer read-modify-write), in the forms of the arch's
 * `percpu.S` functions (see emit/_rust_lower.ts). The fields and elements of
 * struct and array variables are percpu.h's leaves: one `pub static
 * STATS__irqs: leaf::STATS__irqs` per leaf (`STATS__hist__2`, `GRID__h`
 * indexed) with `current_ptr`, `remote_ptr` and the same value methods.
 *
 * Accessors are inline `core::arch::asm!` with a `const` offset, in the
 * shortest form `percpu.h` uses on the arch (emit/_rust_lower.ts: x86_64
 * `%gs`-relative instructions, aarch64 `mrs` + `ldr [x, #off]`, riscv64
 * `ld r, off(gp)`, loongarch64 `ld.d r, $r21, off`); the read-modify-write
 * ops are one `%gs` instruction on x86_64 and one atomic on the address
 * computed from the register elsewhere, guarded there as percpu.h guards them
 * (the `this_cpu` ops always, the counter ops unless the variable is
 * `counter: true`; see {@link rustRmwGuarded}). `try_cmpxchg_current` takes
 * `&mut expected` and returns a `bool`, as C's `T *expected`. Pointers are made from the register
 * value with `core::ptr::with_exposed_provenance(_mut)` (the areas are memory
 * the Rust program never saw as an allocation, or a buffer `init` exposes),
 * never from `&self`. The runtime (`init`, `init_in_place`,
 * `init_percpu_reg`, …) calls the `extern "C"` functions of `percpu.S`.
 * Guards: like `percpu.h`, accessors that are one instruction against the
 * register take none; `read_current` / `write_current` take it where the
 * arch needs more (aarch64; riscv64 beyond 2 KiB and indexed); `with_current`
 * (it runs the caller's closure on the current copy) and `reset_to_init` (a
 * copy) always call the hooks of the preempt / irq features
 * (`percpu_preempt_disable` …, which the program provides as
 * `#[unsafe(no_mangle)] extern "C"`). The methods of a leaf are one per op of
 * the catalog (sdk/ops.ts), built by `OP_METHODS`, a `Record<LeafOp, ...>`:
 * a new op does not compile until it has a Rust form. With
 * `naive` (the seed's `sp-naive`) the variables live in the one area
 * `__percpu_areas` of `percpu.S`; every access is a volatile access through
 * its address, guarded like `percpu.h`'s generic fallback, and `offset()` /
 * `symbol_vma()` are the storage address, as in the seed.
 *
 * Struct types become `#[repr(C)]` structs (the struct's `name` when it has
 * one, else `<VAR>_T`, nested ones `<parent>__<field>`), arrays Rust arrays,
 * `aligned(T, n)` a `#[repr(C, align(n))]` tuple struct; every one has
 * compile-time asserts of its size, alignment and field offsets against the
 * layout (`core::mem::offset_of!`).
 *
 * @module
 */
import { fail } from "../sdk/errors.ts";
import { structFields, typeLayout } from "../sdk/layout.ts";
import type { AnyPlacedLeaf, GenInput, PlacedLeaf, PlacedU128Leaf, PlacedVar } from "../sdk/plan.ts";
import { GUARD_HOOKS, storageSymbol } from "../sdk/symbols.ts";
import { type Target, TARGET_INFO } from "../sdk/targets.ts";
import type { PercpuType, ScalarName } from "../sdk/types.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, configSummary, TEMPLATE_SYMBOL } from "../arch/_asm.ts";
import { match } from "ts-pattern";
import { type IntegerOp, LEAF_OP_SPECS, type LeafOp, type LocalRmwOp, REMOTE_RMW_LIKE, type RemoteRmwOp, type U128Op } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { type LeafAccess, leafAccess, type RustIsa, rustIsaFor } from "./_rust_lower.ts";

/** Rust keywords a field name is written as a raw identifier for (`r#type`). */
const RAW_KEYWORDS: ReadonlySet<string> = new Set([
  "as",
  "break",
  "const",
  "continue",
  "else",
  "enum",
  "extern",
  "false",
  "fn",
  "for",
  "if",
  "impl",
  "in",
  "let",
  "loop",
  "match",
  "mod",
  "move",
  "mut",
  "pub",
  "ref",
  "return",
  "static",
  "struct",
  "trait",
  "true",
  "type",
  "unsafe",
  "use",
  "where",
  "while",
  "async",
  "await",
  "dyn",
  "abstract",
  "become",
  "box",
  "do",
  "final",
  "macro",
  "override",
  "priv",
  "typeof",
  "unsized",
  "virtual",
  "yield",
  "try",
  "gen",
]);

/** Names Rust cannot use as a field, even raw. */
const NO_RAW: ReadonlySet<string> = new Set(["self", "Self", "super", "crate", "_"]);

/** A field name as a Rust identifier. */
function rustField(name: string, where: readonly (string | number)[]): string {
  if (NO_RAW.has(name)) {
    fail("options_invalid", [...where, name], `Cannot generate percpu.rs: field name "${name}" is reserved in Rust`);
  }
  return RAW_KEYWORDS.has(name) ? `r#${name}` : name;
}

/** The Rust spelling of a scalar (pointer-sized ones stay `usize`/`isize`). */
function rustScalar(s: ScalarName): string {
  return s;
}

/** The named Rust types (structs, aligned wrappers) of a generation, emitted once each, with their asserts. */
class RustTypes {
  readonly defs: string[] = [];
  readonly #named = new Map<string, PercpuType>();
  readonly #target: Target;

  constructor(target: Target) {
    this.#target = target;
  }

  /** The Rust type of `type`; `name` names it when it is a struct or an aligned wrapper. */
  of(type: PercpuType, name: string, where: readonly (string | number)[]): string {
    switch (type.kind) {
      case "scalar":
        return rustScalar(type.name);
      case "array":
        return `[${this.of(type.element, `${name}__E`, [...where, 0])}; ${type.length}]`;
      case "struct": {
        const given = (type as { readonly name?: unknown }).name;
        const n = typeof given === "string" && given.length > 0 ? given : name;
        if (this.#define(n, type, where)) {
          const fields = structFields(type, this.#target);
          const lines = fields.map((f) =>
            `    pub ${rustField(f.name, where)}: ${this.of(f.type, `${n}__${f.name}`, [...where, f.name])},`
          );
          this.#push(n, type, [
            "#[repr(C)]",
            "#[derive(Clone, Copy, Debug, PartialEq)]",
            `pub struct ${n} {`,
            ...lines,
            "}",
          ]);
          for (const f of fields) {
            this.defs.push(
              `const _: () = assert!(core::mem::offset_of!(${n}, ${rustField(f.name, where)}) == ${f.offset});`,
            );
          }
          this.defs.push("");
        }
        return n;
      }
      case "aligned": {
        if (this.#define(name, type, where)) {
          const inner = this.of(type.inner, `${name}__V`, where);
          this.#push(name, type, [
            `#[repr(C, align(${type.align}))]`,
            "#[derive(Clone, Copy, Debug, PartialEq)]",
            `pub struct ${name}(pub ${inner});`,
          ]);
          this.defs.push("");
        }
        return name;
      }
    }
  }

  /** Whether `name` is new (then it is recorded); the same name for another type is an error. */
  #define(name: string, type: PercpuType, where: readonly (string | number)[]): boolean {
    const seen = this.#named.get(name);
    if (seen === undefined) {
      this.#named.set(name, type);
      return true;
    }
    if (seen !== type) {
      fail(
        "options_invalid",
        [...where],
        `Cannot generate percpu.rs: the Rust type name "${name}" is used by two different types`,
      );
    }
    return false;
  }

  #push(name: string, type: PercpuType, lines: readonly string[]): void {
    const { size, align } = typeLayout(type, this.#target);
    this.defs.push(
      ...lines,
      `const _: () = assert!(core::mem::size_of::<${name}>() == ${size});`,
      `const _: () = assert!(core::mem::align_of::<${name}>() == ${align});`,
    );
  }
}

/** The guard statement (a value dropped at the end of the scope), or nothing without guard features. */
function guardLine(input: GenInput): string[] {
  const { preempt, irq } = input.config.features;
  return preempt || irq ? ["let _guard = Guard::new();"] : [];
}

/** Indents lines by `n` levels of four spaces. */
function indent(lines: readonly string[], n: number): string[] {
  const pad = "    ".repeat(n);
  return lines.map((l) => (l === "" ? l : pad + l));
}

/**
 * A method with its doc lines (`#[inline]` unless told). The body of an `unsafe fn` is
 * one `unsafe` block, so the module builds warning-free in edition 2024 too
 * (`unsafe_op_in_unsafe_fn`).
 */
function method(doc: readonly string[], sig: string, body: readonly string[], inline = true): string[] {
  const inner = /\bunsafe fn\b/.test(sig) ? ["unsafe {", ...indent(body, 1), "}"] : body;
  return [
    ...doc.map((d) => `/// ${d}`.trimEnd()),
    ...(inline ? ["#[inline]"] : []),
    `${sig} {`,
    ...indent(inner, 1),
    "}",
    "",
  ];
}

const SAFETY_CURRENT = ["", "# Safety", "", "Caller must ensure that preemption is disabled on the current CPU."];
const SAFETY_REMOTE = [
  "",
  "# Safety",
  "",
  "Caller must ensure that",
  "- the CPU ID is valid, and",
  "- data races will not happen.",
];
const SAFETY_REMOTE_ATOMIC = [...SAFETY_REMOTE.slice(0, 4), "- the CPU ID is valid."];

/** What the method of one catalog op on one leaf is built from. */
interface OpContext<L extends AnyPlacedLeaf = AnyPlacedLeaf> {
  readonly input: GenInput;
  readonly isa: RustIsa;
  readonly leaf: L;
  readonly acc: LeafAccess;
  /** The leaf's Rust type. */
  readonly t: string;
  /** The guard statement when a guard feature is on. */
  readonly guard: readonly string[];
  readonly naive: boolean;
  /** The index arguments, comma-separated (`i0, i1`). */
  readonly idx: string;
  /** The current copy's address (naive: the one area's). */
  readonly cur: string;
  /** The copy of `cpu_id`. */
  readonly rem: string;
}

/** Rust parameter names of the catalog's value parameters (`v` is the seed's `val`). */
function rustParam(name: string): string {
  return name === "v" ? "val" : name;
}

/**
 * The `core::sync::atomic` form of each local read-modify-write op on `a` (an atomic reference) with ordering `o`:
 * an expression (the op's value) or statements. `_return` ops add the operand once more to the old value the
 * atomic leaves (Linux's `this_cpu_add_return` on AMO arches: `ldadd`, `amoadd`, `amadd`).
 */
const ATOMIC_RMW = {
  add_current: (a: string, o: string) => `${a}.fetch_add(val, ${o});`,
  sub_current: (a: string, o: string) => `${a}.fetch_sub(val, ${o});`,
  and_current: (a: string, o: string) => `${a}.fetch_and(val, ${o});`,
  or_current: (a: string, o: string) => `${a}.fetch_or(val, ${o});`,
  xor_current: (a: string, o: string) => `${a}.fetch_xor(val, ${o});`,
  xchg_current: (a: string, o: string) => `${a}.swap(val, ${o})`,
  cmpxchg_current: (a: string, o: string) => `match ${a}.compare_exchange(expected, desired, ${o}, ${o}) {\n    Ok(v) | Err(v) => v,\n}`,
  inc_current: (a: string, o: string) => `${a}.fetch_add(1, ${o});`,
  dec_current: (a: string, o: string) => `${a}.fetch_sub(1, ${o});`,
  add_return_current: (a: string, o: string) => `${a}.fetch_add(val, ${o}).wrapping_add(val)`,
  sub_return_current: (a: string, o: string) => `${a}.fetch_sub(val, ${o}).wrapping_sub(val)`,
  inc_return_current: (a: string, o: string) => `${a}.fetch_add(1, ${o}).wrapping_add(1)`,
  dec_return_current: (a: string, o: string) => `${a}.fetch_sub(1, ${o}).wrapping_sub(1)`,
  try_cmpxchg_current: (a: string, o: string) =>
    `match ${a}.compare_exchange(*expected, desired, ${o}, ${o}) {\n    Ok(_) => true,\n    Err(found) => {\n        *expected = found;\n        false\n    }\n}`,
} as const satisfies Record<LocalRmwOp, (a: string, o: string) => string>;

/** The naive (one area, plain memory) form of each local read-modify-write op on `q`, from the catalog's C model. */
function naiveRmw(op: LocalRmwOp): string {
  return match(op)
    .with("add_current", () => "q.write_volatile(q.read_volatile().wrapping_add(val))")
    .with("sub_current", () => "q.write_volatile(q.read_volatile().wrapping_sub(val))")
    .with("and_current", () => "q.write_volatile(q.read_volatile() & val)")
    .with("or_current", () => "q.write_volatile(q.read_volatile() | val)")
    .with("xor_current", () => "q.write_volatile(q.read_volatile() ^ val)")
    .with("xchg_current", () => "let old = q.read_volatile(); q.write_volatile(val); old")
    .with("cmpxchg_current", () => "let old = q.read_volatile(); if old == expected { q.write_volatile(desired) } old")
    .with("inc_current", () => "q.write_volatile(q.read_volatile().wrapping_add(1))")
    .with("dec_current", () => "q.write_volatile(q.read_volatile().wrapping_sub(1))")
    .with("add_return_current", () => "let new = q.read_volatile().wrapping_add(val); q.write_volatile(new); new")
    .with("sub_return_current", () => "let new = q.read_volatile().wrapping_sub(val); q.write_volatile(new); new")
    .with("inc_return_current", () => "let new = q.read_volatile().wrapping_add(1); q.write_volatile(new); new")
    .with("dec_return_current", () => "let new = q.read_volatile().wrapping_sub(1); q.write_volatile(new); new")
    .with("try_cmpxchg_current", () => "let old = q.read_volatile(); if old == *expected { q.write_volatile(desired); true } else { *expected = old; false }")
    .exhaustive();
}

/** The doc line of each local read-modify-write op. */
const RMW_DOC = {
  add_current: "Adds `val` to the current CPU's value (wrapping)",
  sub_current: "Subtracts `val` from the current CPU's value (wrapping)",
  and_current: "`and`s `val` into the current CPU's value",
  or_current: "`or`s `val` into the current CPU's value",
  xor_current: "`xor`s `val` into the current CPU's value",
  xchg_current: "Replaces the current CPU's value with `val`, returning the old one",
  cmpxchg_current: "Stores `desired` if the current CPU's value is `expected`; returns the old value",
  inc_current: "Adds 1 to the current CPU's value (wrapping; Linux's `this_cpu_inc`)",
  dec_current: "Subtracts 1 from the current CPU's value (wrapping; Linux's `this_cpu_dec`)",
  add_return_current: "Adds `val` to the current CPU's value (wrapping) and returns the new value",
  sub_return_current: "Subtracts `val` from the current CPU's value (wrapping) and returns the new value",
  inc_return_current: "Adds 1 to the current CPU's value (wrapping) and returns the new value",
  dec_return_current: "Subtracts 1 from the current CPU's value (wrapping) and returns the new value",
  try_cmpxchg_current:
    "Stores `desired` if the current CPU's value is `*expected` and returns true; else writes the value found into `*expected` and returns false (Linux's `this_cpu_try_cmpxchg`, C's `T *expected`)",
} as const satisfies Record<LocalRmwOp, string>;

/**
 * Whether a local read-modify-write op takes the guard (when a guard feature is on), as percpu.h decides: never on
 * x86_64 (one `%gs` instruction); always in naive builds (plain memory); on aarch64, riscv64 and loongarch64 the ops
 * whose result or target must be this CPU's (guard class `this_cpu`: xchg, cmpxchg, try_cmpxchg, the `_return` ops)
 * always, and the counter ops (guard class `lowering`) unless the variable is `counter: true` and the op is one atomic
 * on the computed address (riscv64 has no 8/16-bit AMO: percpu.h guards those there).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { rustRmwGuarded } from "./percpu_rs.ts";
 * const sdk = createPercpu();
 * sdk.define("EVENTS", u64, 0, { counter: true });
 * const input = generatorInput(sdk.layout("aarch64"), resolveConfig({ arch: "aarch64", features: ["preempt"] }));
 * const leaf = input.vars[0]!.leaves[0]!;
 * rustRmwGuarded(input, leaf, "add_current"); // false
 * rustRmwGuarded(input, leaf, "add_return_current"); // true
 * ```
 */
export function rustRmwGuarded(input: GenInput, leaf: PlacedLeaf, op: LocalRmwOp): boolean {
  const { arch, features } = input.config;
  if (features.naive) return true;
  if (arch === "x86_64") return false;
  if (LEAF_OP_SPECS[op].guard === "this_cpu") return true;
  return !(leaf.counter === true && !(arch === "riscv64" && leaf.size < 4));
}

/** A local read-modify-write op: the arch's instructions, else one atomic on the computed address; naive: guarded plain memory. */
function localRmw(op: LocalRmwOp, c: OpContext<PlacedLeaf>): { doc: string[]; body: string[] } {
  if (c.naive) {
    return { doc: [`${RMW_DOC[op]}, inside the guard (naive: plain memory).`], body: [...c.guard, `unsafe { let q = ${c.cur}; ${naiveRmw(op)} }`] };
  }
  const own = c.isa.rmw(op, c.leaf, c.acc);
  if (own !== null && c.input.config.arch === "x86_64") {
    return { doc: [`${RMW_DOC[op]}: one \`%gs\` instruction, atomic against interrupts and preemption.`], body: own };
  }
  const atomic = `core::sync::atomic::${atomicName(c.leaf.scalar)}::from_ptr(core::ptr::with_exposed_provenance_mut(p))`;
  const guarded = rustRmwGuarded(c.input, c.leaf, op);
  return {
    doc: guarded
      ? [
        `${RMW_DOC[op]}: one atomic on the address computed from ${c.isa.register}, inside the guard of the preempt / irq`,
        LEAF_OP_SPECS[op].guard === "this_cpu"
          ? "features (the result or the target must be this CPU's)."
          : "features (a counter op of a variable not declared `counter: true`).",
      ]
      : [
        `${RMW_DOC[op]}: one atomic on the address computed from ${c.isa.register} (a migration in between`,
        "only makes the whole update land on the CPU the address was computed on; `counter: true`), so no guard.",
      ],
    body: [
      ...(guarded ? c.guard : []),
      ...(own ?? [
        "unsafe {",
        ...indent([...c.isa.address(c.acc), ...ATOMIC_RMW[op](atomic, "core::sync::atomic::Ordering::Relaxed").split("\n")], 1),
        "}",
      ]),
    ],
  };
}

/**
 * The body of a current-CPU read or write (`op`): the raw ones in the arch's
 * form of the leaf; the guarded ones the raw method, inside the guard where
 * the arch's access needs it (one instruction against the register needs
 * none, as percpu.h). A u128 leaf's guarded ones are forms of their own
 * (`RustIsa.u128`: x86_64 `cmpxchg16b`, aarch64 `ldxp`/`stxp`), inline.
 * Naive accesses are volatile and the guarded ones guarded, like percpu.h's
 * generic fallback.
 */
function currentAccess(c: OpContext, op: "read_current_raw" | "write_current_raw" | "read_current" | "write_current"): string[] {
  const raw = op === "read_current_raw" || op === "write_current_raw";
  const read = op === "read_current_raw" || op === "read_current";
  const viaRaw = read ? `unsafe { self.read_current_raw(${c.idx}) }` : `unsafe { self.write_current_raw(${c.idx}${c.idx ? ", " : ""}val) }`;
  if (c.naive) return raw ? [read ? `core::ptr::read_volatile(${c.cur})` : `core::ptr::write_volatile(${c.cur}, val)`] : [...c.guard, viaRaw];
  const leaf = c.leaf;
  if (leaf.scalar === "u128") {
    const l = c.isa.u128(op, c.acc);
    return raw ? [...l.body] : [...(l.guarded ? c.guard : []), "unsafe {", ...indent(l.body, 1), "}"];
  }
  const l = read ? c.isa.read(leaf, c.acc) : c.isa.write(leaf, c.acc);
  return raw ? [...l.body] : [...(l.guarded ? c.guard : []), viaRaw];
}

/** `cmpxchg128_current` of a u128 leaf: the arch's form (guarded where it says), or the naive guarded load-compare-store. */
function cmpxchg128(c: OpContext<PlacedU128Leaf>): { doc: string[]; body: string[] } {
  const doc = "Stores `desired` if the current CPU's value is `expected`; returns the old value (Linux's `this_cpu_cmpxchg128`)";
  if (c.naive) return { doc: [`${doc}, inside the guard (naive: plain memory).`], body: [...c.guard, `unsafe { let q = ${c.cur}; ${naiveRmw("cmpxchg_current")} }`] };
  const l = c.isa.u128("cmpxchg128_current", c.acc);
  return {
    doc: [l.guarded ? `${doc}, inside the guard of the preempt / irq features.` : `${doc}: one instruction against the register, no guard.`],
    body: [...(l.guarded ? c.guard : []), "unsafe {", ...indent(l.body, 1), "}"],
  };
}

/** The leaf an op's method is built for: the integer ops on the scalars up to 64 bits, the u128 op on u128 leaves, reads and writes on both. */
type LeafFor<K extends LeafOp> = K extends IntegerOp ? PlacedLeaf : K extends U128Op ? PlacedU128Leaf : AnyPlacedLeaf;

/**
 * The method of each catalog op on a scalar leaf: its doc lines and body
 * (the signature comes from the catalog's values and returns). Adding an op
 * to sdk/ops.ts is a compile error here until it has a Rust form.
 */
const OP_METHODS = {
  read_current_raw: (c: OpContext) => ({
    doc: ["Returns the value of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
    body: currentAccess(c, "read_current_raw"),
  }),
  write_current_raw: (c: OpContext) => ({
    doc: ["Set the value of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
    body: currentAccess(c, "write_current_raw"),
  }),
  read_current: (c: OpContext) => ({
    doc: ["Returns the value of the per-CPU static variable on the current CPU. Preemption will be disabled during", "the call."],
    body: currentAccess(c, "read_current"),
  }),
  write_current: (c: OpContext) => ({
    doc: ["Set the value of the per-CPU static variable on the current CPU. Preemption will be disabled during the", "call."],
    body: currentAccess(c, "write_current"),
  }),
  remote_read: (c: OpContext) => ({
    doc: ["Returns the value on the given CPU (a volatile read).", ...SAFETY_REMOTE],
    body: [`core::ptr::read_volatile(${c.rem})`],
  }),
  remote_write: (c: OpContext) => ({
    doc: ["Sets the value on the given CPU (a volatile write).", ...SAFETY_REMOTE],
    body: [`core::ptr::write_volatile(${c.rem}, val)`],
  }),
  add_current: (c: OpContext<PlacedLeaf>) => localRmw("add_current", c),
  sub_current: (c: OpContext<PlacedLeaf>) => localRmw("sub_current", c),
  and_current: (c: OpContext<PlacedLeaf>) => localRmw("and_current", c),
  or_current: (c: OpContext<PlacedLeaf>) => localRmw("or_current", c),
  xor_current: (c: OpContext<PlacedLeaf>) => localRmw("xor_current", c),
  xchg_current: (c: OpContext<PlacedLeaf>) => localRmw("xchg_current", c),
  cmpxchg_current: (c: OpContext<PlacedLeaf>) => localRmw("cmpxchg_current", c),
  inc_current: (c: OpContext<PlacedLeaf>) => localRmw("inc_current", c),
  dec_current: (c: OpContext<PlacedLeaf>) => localRmw("dec_current", c),
  add_return_current: (c: OpContext<PlacedLeaf>) => localRmw("add_return_current", c),
  sub_return_current: (c: OpContext<PlacedLeaf>) => localRmw("sub_return_current", c),
  inc_return_current: (c: OpContext<PlacedLeaf>) => localRmw("inc_return_current", c),
  dec_return_current: (c: OpContext<PlacedLeaf>) => localRmw("dec_return_current", c),
  try_cmpxchg_current: (c: OpContext<PlacedLeaf>) => localRmw("try_cmpxchg_current", c),
  remote_add: (c: OpContext<PlacedLeaf>) => remoteRmw("remote_add", c),
  remote_cmpxchg: (c: OpContext<PlacedLeaf>) => remoteRmw("remote_cmpxchg", c),
  cmpxchg128_current: (c: OpContext<PlacedU128Leaf>) => cmpxchg128(c),
} as const satisfies { readonly [K in LeafOp]: (c: OpContext<LeafFor<K>>) => { doc: string[]; body: string[] } };

/** A remote read-modify-write op: the atomic form of the local op it computes, on `cpu_id`'s copy. */
function remoteRmw(op: RemoteRmwOp, c: OpContext<PlacedLeaf>): { doc: string[]; body: string[] } {
  const like = REMOTE_RMW_LIKE[op];
  const atomic = `core::sync::atomic::${atomicName(c.leaf.scalar)}::from_ptr(${c.rem})`;
  const order = LEAF_OP_SPECS[op].returns === "value" ? "SeqCst" : "Relaxed";
  return {
    doc: [`${RMW_DOC[like].replace("the current CPU's", "the given CPU's")}: one atomic instruction (sequence).`, ...SAFETY_REMOTE_ATOMIC],
    body: ATOMIC_RMW[like](atomic, `core::sync::atomic::Ordering::${order}`).split("\n"),
  };
}

/** Whether a catalog op's Rust method is `unsafe` (the seed's raw ones, and every remote op, since any CPU id is accepted). */
function isUnsafeOp(op: LeafOp): boolean {
  return op === "read_current_raw" || op === "write_current_raw" || LEAF_OP_SPECS[op].target === "remote";
}

/**
 * The value methods of a scalar leaf, one per op of the catalog the scalar
 * has (sdk/symbols.ts `leafOps`): on a scalar variable's wrapper (`aligned()`
 * ones included) the seed's four and ours; on a field's or element's leaf
 * type the same. `self.leaf_ptr(..)` / `self.leaf_remote_ptr(cpu_id, ..)`
 * give its address.
 */
function scalarMethods(input: GenInput, isa: RustIsa, leaf: AnyPlacedLeaf, acc: LeafAccess): string[] {
  const t = rustScalar(leaf.scalar);
  const idx = acc.args.slice(2);
  const context = <L extends AnyPlacedLeaf>(l: L): OpContext<L> => ({
    input,
    isa,
    leaf: l,
    acc,
    t,
    guard: guardLine(input),
    naive: input.config.features.naive,
    idx,
    cur: `self.leaf_ptr(${idx})`,
    rem: `self.leaf_remote_ptr(cpu_id${acc.args})`,
  });
  // Per scalar class its ops (sdk/symbols.ts leafOps): a u128 leaf's methods are built with its own context type.
  const built: (readonly [LeafOp, { doc: string[]; body: string[] }])[] = leaf.scalar === "u128"
    ? leafOps(leaf.scalar).map((op) => [op, OP_METHODS[op](context(leaf))] as const)
    : leafOps(leaf.scalar).map((op) => [op, OP_METHODS[op](context(leaf))] as const);
  return built.flatMap(([op, { doc, body }]) => {
    const spec = LEAF_OP_SPECS[op];
    const params = [
      "&self",
      ...(spec.target === "remote" ? ["cpu_id: usize"] : []),
      ...acc.params.split(", ").filter(Boolean),
      // `ok` ops (try_cmpxchg) take the first value by `&mut`, as C's `T *expected`.
      ...spec.values.map((v, i) => `${rustParam(v)}: ${spec.returns === "ok" && i === 0 ? "&mut " : ""}${t}`),
    ];
    const ret = spec.returns === "value" ? ` -> ${t}` : spec.returns === "ok" ? " -> bool" : "";
    const sig = `pub ${isUnsafeOp(op) ? "unsafe " : ""}fn ${op}(${params.join(", ")})${ret}`;
    return method(doc, sig, body);
  });
}

/** The Rust name of the atomic type of an integer scalar: `AtomicU32`, `AtomicUsize`. */
function atomicName(s: ScalarName): string {
  if (s === "usize") return "AtomicUsize";
  if (s === "isize") return "AtomicIsize";
  return `Atomic${s[0]!.toUpperCase()}${s.slice(1)}`;
}

/** The wrapper struct, its static and its methods, for one variable. */
function wrapperItems(input: GenInput, isa: RustIsa, v: PlacedVar, types: RustTypes): string[] {
  const { name, offset, size, type } = v.layout;
  const naive = input.config.features.naive;
  const kernel = input.config.mode === "kernel";
  const t = types.of(type, `${name}_T`, [name]);
  const w = `${name}_WRAPPER`;
  const guard = guardLine(input);
  const leaves = rustLeaves(v);
  const rootLeaf = leaves.length === 1 && leaves[0]!.path.length === 0 ? leaves[0]! : null;
  // The address of the variable's template copy: the storage symbol in kernel mode (`.percpu`, VMA 0: absolute, never
  // PC-relative), the read-only template in user mode, the one area in naive builds (the seed's sp-naive global).
  const vma = naive ? [`(core::ptr::addr_of!(ffi::${AREAS_SYMBOL}) as usize) + Self::OFFSET`] : kernel
    ? isa.symbolVma(`ffi::${storageSymbol(name)}`)
    : [`(core::ptr::addr_of!(ffi::${TEMPLATE_SYMBOL}) as usize) + Self::OFFSET`];
  const currentPtr = naive
    ? [`core::ptr::addr_of_mut!(ffi::${AREAS_SYMBOL}).cast::<u8>().wrapping_add(Self::OFFSET).cast::<${t}>()`]
    : [...isa.base(), `core::ptr::with_exposed_provenance::<${t}>(base + Self::OFFSET)`];
  const out: string[] = [
    `/// Storage: ${size} bytes at offset ${offset} of every area.`,
    `#[doc = "Wrapper struct for the per-CPU data [\`${name}\`]"]`,
    `pub struct ${w} {}`,
    "",
    `/// The per-CPU variable \`${name}\` (${typeDoc(t)}).`,
    `pub static ${name}: ${w} = ${w} {};`,
    "",
    `const _: () = assert!(core::mem::size_of::<${t}>() == ${size});`,
    `const _: () = assert!(core::mem::align_of::<${t}>() == ${v.layout.align});`,
    "",
    `impl ${w} {`,
    ...indent(
      [
        `/// Offset of the variable from its area base (\`PERCPU_${name}_OFFSET\` of percpu.h).`,
        `pub const OFFSET: usize = ${offset};`,
        "/// Size of the variable in bytes.",
        `pub const SIZE: usize = ${size};`,
        "",
        ...method(
          [
            "Returns the virtual memory address of this per-CPU static variable's initial copy (the same on all",
            naive
              ? "CPUs; here the one global, as the seed's sp-naive)."
              : kernel
              ? "CPUs: its `.percpu` symbol)."
              : "CPUs: its place in the read-only template areas are initialised from).",
          ],
          "pub fn symbol_vma(&self) -> usize",
          vma,
        ),
        ...method(
          [
            "Returns the offset relative to the per-CPU data area base",
            ...(naive ? ["(naive: the storage address, as the seed's sp-naive)."] : []),
          ],
          "pub fn offset(&self) -> usize",
          [naive ? "self.symbol_vma()" : "Self::OFFSET"],
        ),
        ...method(
          ["Returns the raw pointer of this per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ptr(&self) -> *const ${t}`,
          currentPtr,
        ),
        ...method(
          ["Returns the reference of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ref_raw(&self) -> &${t}`,
          ["&*self.current_ptr()"],
        ),
        "#[allow(clippy::mut_from_ref)]",
        ...method(
          ["Returns the mutable reference of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ref_mut_raw(&self) -> &mut ${t}`,
          [`&mut *(self.current_ptr() as *mut ${t})`],
        ),
        ...method(
          [
            "Manipulate the per-CPU data on the current CPU in the given closure.",
            "Preemption will be disabled during the call.",
          ],
          `pub fn with_current<F, T>(&self, f: F) -> T where F: FnOnce(&mut ${t}) -> T`,
          [...guard, "f(unsafe { self.current_ref_mut_raw() })"],
          false,
        ),
        ...method(
          [
            "Reset the per-CPU data on the current CPU to the initial value (copied from the template).",
            "Preemption will be disabled during the reset.",
          ],
          "pub fn reset_to_init(&self)",
          [
            ...guard,
            `unsafe { core::ptr::copy_nonoverlapping((core::ptr::addr_of!(ffi::${TEMPLATE_SYMBOL}) as *const u8).add(Self::OFFSET), self.current_ptr() as *mut u8, Self::SIZE) }`,
          ],
          false,
        ),
        ...method(
          ["Returns the raw pointer of this per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ptr(&self, cpu_id: usize) -> *const ${t}`,
          [`core::ptr::with_exposed_provenance::<${t}>(percpu_area_base(cpu_id) + Self::OFFSET)`],
        ),
        ...method(
          ["Returns the reference of the per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ref_raw(&self, cpu_id: usize) -> &${t}`,
          [
            "&*self.remote_ptr(cpu_id)",
          ],
        ),
        "#[allow(clippy::mut_from_ref)]",
        ...method(
          ["Returns the mutable reference of the per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ref_mut_raw(&self, cpu_id: usize) -> &mut ${t}`,
          [`&mut *(self.remote_ptr(cpu_id) as *mut ${t})`],
        ),
        // Scalar variables, `aligned()` ones included (their values are the scalar's, as in percpu.h), and arrays
        // of more than ARRAY_EXPAND_LIMIT scalars (indexed: `read_current(i)`), as the `_at` forms of percpu.h.
        ...(rootLeaf ? leafMethods(input, isa, rootLeaf) : []),
      ],
      1,
    ),
  ];
  while (out[out.length - 1] === "") out.pop();
  out.push("}", "");
  return out;
}

/** The leaves of a variable with their methods in percpu.rs, in memory order: u128 ones among the others. */
function rustLeaves(v: PlacedVar): readonly AnyPlacedLeaf[] {
  const wide = v.u128Leaves;
  if (wide.length === 0) return v.leaves;
  return [...v.leaves, ...wide].sort((a, b) => a.areaOffset - b.areaOffset);
}

/** The helpers (address, index check) and value methods of a leaf, for the impl of its type or of the wrapper. */
function leafMethods(input: GenInput, isa: RustIsa, leaf: AnyPlacedLeaf): string[] {
  const t = rustScalar(leaf.scalar);
  const acc = leafAccess(leaf);
  const names = leaf.indices.map((_, i) => `i${i}`);
  const byte = names.length > 0 ? " + Self::index(" + names.join(", ") + ")" : "";
  const out: string[] = [];
  if (names.length > 0) {
    const check = leaf.indices.map((d, i) => `i${i} < ${d.length}`).join(" && ");
    const sum = leaf.indices.map((d, i) => `i${i} * ${d.stride}`).join(" + ");
    out.push(
      ...method(
        ["Byte offset of the element at the indices (panics when one is out of range)."],
        `fn index(${names.map((n) => `${n}: usize`).join(", ")}) -> usize`,
        [
          `assert!(${check}, "per-CPU array index out of range");`,
          sum,
        ],
      ),
    );
  }
  out.push(
    ...method(
      ["The current CPU's copy of the leaf (from the register value)."],
      `unsafe fn leaf_ptr(&self${acc.params}) -> *mut ${t}`,
      input.config.features.naive
        ? [
          `core::ptr::addr_of_mut!(ffi::${AREAS_SYMBOL}).cast::<u8>().wrapping_add(Self::OFFSET${byte}).cast::<${t}>()`,
        ]
        : [...isa.base(), `core::ptr::with_exposed_provenance_mut::<${t}>(base + Self::OFFSET${byte})`],
    ),
    ...method(
      ["The leaf on the given CPU."],
      `unsafe fn leaf_remote_ptr(&self, cpu_id: usize${acc.params}) -> *mut ${t}`,
      [
        `core::ptr::with_exposed_provenance_mut::<${t}>(percpu_area_base(cpu_id) + Self::OFFSET${byte})`,
      ],
    ),
    ...scalarMethods(input, isa, leaf, acc),
  );
  return out;
}

/** A Rust path of a leaf for docs: `STATS.irqs`, `BIG[i0]`. */
function leafDoc(leaf: AnyPlacedLeaf): string {
  return leaf.varName + leaf.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("") +
    leaf.indices.map((_, i) => `[i${i}]`).join("");
}

/**
 * The leaf types of the fields and elements of struct and array variables (the leaves of
 * percpu.h: `STATS__irqs`, `IRQS__3`, `BIG__hits` indexed), in `mod leaf`, and their statics.
 */
function leafItems(input: GenInput, isa: RustIsa): { readonly types: string[]; readonly statics: string[] } {
  const types: string[] = [];
  const statics: string[] = [];
  for (const v of input.vars) {
    const leaves = rustLeaves(v);
    if (leaves.length === 1 && leaves[0]!.path.length === 0) continue;
    for (const leaf of leaves) {
      const t = rustScalar(leaf.scalar);
      const acc = leafAccess(leaf);
      const names = leaf.indices.map((_, i) => `i${i}`).join(", ");
      types.push(
        `/// The leaf \`${leafDoc(leaf)}\` (\`${t}\`) of every CPU.`,
        `pub struct ${leaf.symbol} {}`,
        "",
        `impl ${leaf.symbol} {`,
        ...indent(
          [
            "/// Offset from the area base (of element 0 for the indexed dimensions).",
            `pub const OFFSET: usize = ${leaf.areaOffset};`,
            "",
            ...method(
              ["Returns the raw pointer of this leaf on the current CPU.", ...SAFETY_CURRENT],
              `pub unsafe fn current_ptr(&self${acc.params}) -> *const ${t}`,
              [
                `self.leaf_ptr(${names})`,
              ],
            ),
            ...method(
              ["Returns the raw pointer of this leaf on the given CPU.", ...SAFETY_REMOTE],
              `pub unsafe fn remote_ptr(&self, cpu_id: usize${acc.params}) -> *const ${t}`,
              [
                `self.leaf_remote_ptr(cpu_id${acc.args})`,
              ],
            ),
            ...leafMethods(input, isa, leaf),
          ],
          1,
        ),
      );
      while (types[types.length - 1] === "") types.pop();
      types.push("}", "");
      statics.push(
        `/// The leaf \`${leafDoc(leaf)}\` (percpu.h's \`${leaf.symbol}\`).`,
        `pub static ${leaf.symbol}: leaf::${leaf.symbol} = leaf::${leaf.symbol} {};`,
      );
    }
  }
  return { types, statics };
}

function typeDoc(t: string): string {
  return `\`${t}\``;
}

/** The runtime API (the seed's names and signatures) over the `extern "C"` runtime of `percpu.S`. */
function runtimeItems(input: GenInput, isa: RustIsa): string[] {
  const { layout, config } = input;
  const { preempt, irq } = config.features;
  const naive = config.features.naive;
  const lines: string[] = [
    "/// Errors that can occur while initializing per-CPU data areas.",
    "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]",
    "pub enum InitError {",
    "    /// The base address is null and cannot be used.",
    "    InvalidBase,",
    `    /// The base address is not aligned to ${layout.areaAlign} bytes.`,
    "    UnalignedBase,",
    "}",
    "",
    "impl core::fmt::Display for InitError {",
    "    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {",
    "        match self {",
    '            Self::InvalidBase => write!(f, "invalid per-CPU base address"),',
    '            Self::UnalignedBase => write!(f, "unaligned per-CPU base address"),',
    "        }",
    "    }",
    "}",
    "",
    "impl core::error::Error for InitError {}",
    "",
    "/// The result of `percpu_init`: n, or -1 for a null base, -2 for an unaligned one.",
    "fn init_result(r: isize) -> Result<usize, InitError> {",
    "    match r {",
    "        -1 => Err(InitError::InvalidBase),",
    "        -2 => Err(InitError::UnalignedBase),",
    "        n => Ok(n as usize),",
    "    }",
    "}",
    "",
    "/// Initialize per-CPU data areas with user-provided memory (`cpu_count` areas of",
    "/// [`PERCPU_STRIDE`] bytes, see [`percpu_area_layout_expected`]): copies the initial",
    "/// values into every area. Returns `cpu_count`, or an error for a null or unaligned base.",
    ...(naive
      ? ["///", "/// naive (the seed's sp-naive): the arguments are ignored, the one area is reinitialised; returns 1."]
      : []),
    "pub fn init(base: *mut u8, cpu_count: usize) -> Result<usize, InitError> {",
    "    init_result(unsafe { ffi::percpu_init(base.expose_provenance(), cpu_count) })",
    "}",
    "",
    `/// Initialize the ${config.cpus} per-CPU data areas ${
      naive ? "(the one naive area)" : config.mode === "kernel" ? "of the `.percpu` section" : "reserved in `percpu.S`"
    }; returns their number.`,
    "pub fn init_in_place() -> Result<usize, InitError> {",
    "    init_result(unsafe { ffi::percpu_init_in_place() } as isize)",
    "}",
    "",
    "/// Initializes the per-CPU data register for the current CPU to the area of `cpu_id`.",
    "///",
    "/// # Panics",
    "///",
    "/// Panics if the per-CPU area base address has not been set.",
    "pub fn init_percpu_reg(cpu_id: usize) {",
    "    let _ = percpu_area_base(cpu_id);",
    "    unsafe { ffi::percpu_init_reg(cpu_id) }",
    "}",
    "",
    `/// Reads the per-CPU data register (${
      naive
        ? "naive: the one area"
        : config.arch === "x86_64"
        ? "the area base, from its self pointer at `gs:[PERCPU_SELF_OFFSET]`"
        : `\`${isa.register}\``
    }).`,
    "pub fn read_percpu_reg() -> usize {",
    "    unsafe { ffi::percpu_read_reg() }",
    "}",
    "",
    `/// Writes the per-CPU data register (${
      naive
        ? "naive: no effect"
        : config.arch !== "x86_64"
        ? `\`${isa.register}\``
        : config.mode === "kernel"
        ? "`GS_BASE` through `wrmsr`"
        : "`GS_BASE` through `arch_prctl(ARCH_SET_GS)`"
    }).`,
    "///",
    "/// # Safety",
    "///",
    "/// This function is unsafe because it directly writes to a low-level register.",
    "/// Setting an invalid address may cause undefined behavior.",
    "pub unsafe fn write_percpu_reg(tp: usize) {",
    "    unsafe { ffi::percpu_write_reg(tp) }",
    "}",
    "",
    "/// Returns the base address of the per-CPU data area for the given CPU.",
    "///",
    "/// # Panics",
    "///",
    "/// Panics if the per-CPU area base address has not been set (i.e., `init()`",
    "/// or `init_in_place()` has not been called).",
    "pub fn percpu_area_base(cpu_id: usize) -> usize {",
    "    if unsafe { ffi::percpu_area_num() } == 0 {",
    '        panic!("PerCPU area base address not set");',
    "    }",
    "    unsafe { ffi::percpu_area_base(cpu_id) }",
    "}",
    "",
    "/// Returns the number of per-CPU data areas initialised (0 before `init`).",
    "pub fn percpu_area_num() -> usize {",
    "    unsafe { ffi::percpu_area_num() }",
    "}",
    "",
    "/// Returns the per-CPU data area size for one CPU (the areas are [`PERCPU_STRIDE`] apart).",
    "pub fn percpu_area_size() -> usize {",
    "    unsafe { ffi::percpu_area_size() }",
    "}",
    "",
    "/// Returns the expected layout for the per-CPU data area for the given number of CPUs.",
    "pub fn percpu_area_layout_expected(cpu_count: usize) -> core::alloc::Layout {",
    "    core::alloc::Layout::from_size_align(cpu_count * PERCPU_STRIDE, PERCPU_AREA_ALIGN).unwrap()",
    "}",
    "",
  ];
  if (preempt || irq) {
    lines.push(
      "/// The guard of `with_current` and `reset_to_init`: the hooks of the",
      `/// ${[preempt ? "preempt" : "", irq ? "irq" : ""].filter(Boolean).join(" and ")} feature${
        preempt && irq ? "s" : ""
      }, released when dropped.`,
      "struct Guard {",
      ...(irq ? ["    flags: usize,"] : []),
      "}",
      "",
      "impl Guard {",
      "    #[inline]",
      "    fn new() -> Self {",
      "        unsafe {",
      ...(preempt ? [`            ffi::${GUARD_HOOKS[0]}();`] : []),
      ...(irq ? [`            Guard { flags: ffi::${GUARD_HOOKS[2]}() }`] : ["            Guard {}"]),
      "        }",
      "    }",
      "}",
      "",
      "impl Drop for Guard {",
      "    #[inline]",
      "    fn drop(&mut self) {",
      "        unsafe {",
      ...(irq ? [`            ffi::${GUARD_HOOKS[3]}(self.flags);`] : []),
      ...(preempt ? [`            ffi::${GUARD_HOOKS[1]}();`] : []),
      "        }",
      "    }",
      "}",
      "",
    );
  }
  return lines;
}

/** The `extern "C"` declarations of `percpu.S` (runtime, template, storage symbols) and the guard hooks. */
function ffiItems(input: GenInput, types: RustTypes): string[] {
  const { layout, config } = input;
  const { preempt, irq, naive } = config.features;
  const decls: string[] = [
    "pub fn percpu_init(base: usize, n: usize) -> isize;",
    "pub fn percpu_init_in_place() -> usize;",
    "pub fn percpu_init_reg(cpu: usize);",
    "pub fn percpu_read_reg() -> usize;",
    "pub fn percpu_write_reg(value: usize);",
    "pub fn percpu_area_base(cpu: usize) -> usize;",
    "pub fn percpu_area_num() -> usize;",
    "pub fn percpu_area_size() -> usize;",
    `pub static ${TEMPLATE_SYMBOL}: [u8; ${layout.areaSize}];`,
    `pub static ${BASE_SYMBOL}: usize;`,
  ];
  if (naive) decls.push(`pub static mut ${AREAS_SYMBOL}: [u8; ${layout.stride * config.cpus}];`);
  if (config.mode === "kernel" && !naive) {
    for (const v of input.vars) {
      decls.push(
        `pub static ${storageSymbol(v.layout.name)}: ${
          types.of(v.layout.type, `${v.layout.name}_T`, [v.layout.name])
        };`,
      );
    }
  }
  if (preempt) decls.push(`pub fn ${GUARD_HOOKS[0]}();`, `pub fn ${GUARD_HOOKS[1]}();`);
  if (irq) decls.push(`pub fn ${GUARD_HOOKS[2]}() -> usize;`, `pub fn ${GUARD_HOOKS[3]}(flags: usize);`);
  return [
    "/// The symbols of the generated `percpu.S` (link it as `libpercpu.a`) and the guard hooks the program provides.",
    "#[allow(improper_ctypes)]",
    "mod ffi {",
    "    #[allow(unused_imports)]",
    "    use super::*;",
    '    unsafe extern "C" {',
    ...indent(decls, 2),
    "    }",
    "}",
    "",
  ];
}

/**
 * Generates `percpu.rs` for an x86_64 (user or kernel mode), aarch64,
 * riscv64 or loongarch64 (kernel mode) generation, naive included. Throws
 * `options_invalid` for riscv32, for user mode off x86_64 and for field
 * names Rust cannot spell.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { emitRust } from "./percpu_rs.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * const rs = emitRust(generatorInput(sdk.layout("x86_64"), resolveConfig({ arch: "x86_64", mode: "user" })));
 * rs.includes("pub static HITS: HITS_WRAPPER"); // true
 * ```
 */
export function emitRust(input: GenInput): string {
  const { layout, config } = input;
  const isa = rustIsaFor(input);
  if (TARGET_INFO[layout.target].pointerBytes !== 8) {
    fail("options_invalid", ["arch"], "Cannot generate percpu.rs: 64-bit targets only");
  }
  const types = new RustTypes(layout.target);
  const wrappers = input.vars.flatMap((v) => wrapperItems(input, isa, v, types));
  const ffi = ffiItems(input, types);
  const leaves = leafItems(input, isa);
  const lines = [
    `// percpu.rs: generated by the percpu SDK for ${configSummary(input)}. Do not edit.`,
    "//",
    '// Use it as a module (`#[path = "gen/percpu.rs"] mod percpu;`; it needs only `core`) and link',
    "// the generated percpu.S assembled into a static library (`-l static=percpu`).",
    "#![allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, unused_unsafe)]",
    "#![allow(clippy::missing_safety_doc, clippy::mut_from_ref, clippy::identity_op)]",
    "",
    ...(config.features.lse
      ? [
        "// features lse: the read-modify-write ops are core atomics, one ARMv8.1 instruction each (stadd, ldadd, swp, cas)",
        "// only when the crate is compiled for LSE.",
        '#[cfg(not(target_feature = "lse"))]',
        'compile_error!("percpu.rs was generated with features lse: compile with -C target-feature=+lse");',
        "",
      ]
      : []),
    `/// Bytes used by one area.`,
    `pub const PERCPU_AREA_SIZE: usize = ${layout.areaSize};`,
    `/// Distance between consecutive areas.`,
    `pub const PERCPU_STRIDE: usize = ${layout.stride};`,
    `/// Required alignment of every area base.`,
    `pub const PERCPU_AREA_ALIGN: usize = ${layout.areaAlign};`,
    `/// Areas \`init_in_place\` initialises.`,
    `pub const PERCPU_MAX_CPUS: usize = ${config.cpus};`,
    ...(layout.selfPointerOffset !== null
      ? [
        "/// Offset of each area's pointer to itself.",
        `pub const PERCPU_SELF_OFFSET: usize = ${layout.selfPointerOffset};`,
      ]
      : []),
    "",
    ...runtimeItems(input, isa),
    ...ffi,
    ...types.defs,
    ...wrappers,
    ...(leaves.types.length > 0
      ? [
        "/// The leaf types: one per scalar of the struct and array variables, with the value methods of a scalar variable.",
        "pub mod leaf {",
        "    #[allow(unused_imports)]",
        "    use super::*;",
        "",
        ...indent(leaves.types, 1),
        "}",
        "",
        ...leaves.statics,
        "",
      ]
      : []),
  ];
  return lines.join("\n");
}
