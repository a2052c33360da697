/**
 * The `percpu.h` emitter. Per variable it writes data only — an offset
 * macro, a typedef and one line per accessor leaf (`PERCPU_L_<LEAF>`: C
 * type, kind, offset) — and then a fixed block that does not grow with the
 * variables: the arch's primitives (`PERCPU__RD`, `PERCPU__ADD`, ... from the
 * backend), a generic fallback for every primitive an arch leaves out
 * (guarded load-op-store, as Linux's asm-generic/percpu.h), and the generic
 * accessors keyed by leaf name, Linux style:
 *
 * ```c
 * percpu_read_current(CPU_ID);              percpu_write_current_raw(STATS__irqs, v);
 * percpu_add_current(IRQ_COUNT__3, 1);      percpu_remote_read(CPU_ID, cpu);
 * percpu_current_ptr(STATS);                percpu_read_current_at(BIG, i);   // long arrays
 * ```
 *
 * A leaf's kind token selects its family of primitives (`PERCPU__W_<K>`):
 * u128 leaves go to the `_U128` ones (`PERCPU__CMPXCHG128_U128`, ...), so the
 * same accessors serve them and no per-kind table holds a 16-byte scalar.
 *
 * The primitives are macros over integer constant offsets, so the shortest
 * instruction for an offset is chosen at any optimisation level (`-O0`
 * included). With `functions` the header also declares today's out-of-line
 * per-variable functions of `percpu.S` (`percpu_<LEAF>_read_current_raw`, ...)
 * and, under `PERCPU_INLINE`, their `static inline` versions.
 *
 * @module
 */
import type { ArchBackend } from "../arch/backend.ts";
import type { AnyPlacedLeaf, GenInput } from "../sdk/plan.ts";
import { cDeclaration, cPrototype, leafSignature } from "../arch/c_types.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, configSummary, TEMPLATE_SYMBOL } from "../arch/_asm.ts";
import { INTEGER_OPS, LEAF_OP_SPECS, LEAF_OPS, type LeafOp, type LeafOpSpec, RUNTIME, RUNTIME_NAMES, U128_OPS } from "../sdk/ops.ts";
import { cTypeName, GUARD_HOOKS, leafDataMacro, leafIndexMacro, leafOps, offsetMacro, varFunction } from "../sdk/symbols.ts";
import { TARGET_INFO } from "../sdk/targets.ts";
import { atomicKindToken, counterKindToken, kindToken, type LeafKind, leafKind, LOWERED_SCALAR_NAMES, type LoweredScalarName, U128_KIND_TOKEN, U128_PRIMITIVE_SUFFIX } from "../sdk/c_names.ts";
import { remoteRmwMacros } from "../arch/_remote_c.ts";
import { ChunkedText, LineBuffer } from "../sdk/text.ts";
import { type PercpuType, SCALAR_NAMES, type ScalarName } from "../sdk/types.ts";
import { runtimeHeaderBlock } from "./percpu_runtime_c.ts";

/** The data lines of one leaf: its `PERCPU_L_` tuple (`kind` is its kind token) and, for indexed leaves, its index expression. */
function pushLeafData(lines: LineBuffer, leaf: AnyPlacedLeaf, kind: string): void {
  lines.push(`#define ${leafDataMacro(leaf)} ${leaf.cType}, ${kind}, ${leaf.areaOffset}`);
  if (leaf.indices.length > 0) {
    const params = leaf.indices.map((_, i) => `i${i}`);
    const sum = leaf.indices.map((d, i) => `(uintptr_t)(i${i}) * ${d.stride}u`).join(" + ");
    lines.push(`#define ${leafIndexMacro(leaf)}(${params.join(", ")}) (${sum})`);
  }
}

/** The kind token of every scalar on a target with `pointerBytes`-wide pointers (looked up once per leaf). */
function kindTokens(pointerBytes: number, token: (kind: LeafKind) => string = kindToken): Readonly<Record<LoweredScalarName, string>> {
  return Object.fromEntries(LOWERED_SCALAR_NAMES.map((n) => [n, token(leafKind(n, pointerBytes))])) as Record<LoweredScalarName, string>;
}

/**
 * The guard of multi-instruction sequences, from the features: nothing, or
 * the preempt / irq hooks the kernel provides.
 */
function guardMacros(input: GenInput): string[] {
  const { preempt, irq } = input.config.features;
  const enter = [...(preempt ? [`${GUARD_HOOKS[0]}();`] : []), ...(irq ? [`uintptr_t percpu__irq_ = ${GUARD_HOOKS[2]}();`] : [])];
  const exit = [...(irq ? [`${GUARD_HOOKS[3]}(percpu__irq_);`] : []), ...(preempt ? [`${GUARD_HOOKS[1]}();`] : [])];
  return [
    "/* The guard around multi-instruction sequences (features: " +
    `${[...(preempt ? ["preempt"] : []), ...(irq ? ["irq"] : [])].join(" ") || "none"}). */`,
    `#define PERCPU__GUARD_ENTER ${enter.join(" ")}`.trimEnd(),
    `#define PERCPU__GUARD_EXIT ${exit.join(" ")}`.trimEnd(),
  ];
}

/** Every leaf kind, in a fixed order. */
const LEAF_KINDS: readonly LeafKind[] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "bool", "f32", "f64"];

/**
 * The guard of the counter ops (add, sub, and, or, xor, inc, dec) per kind
 * token: the preempt/irq guard for ordinary variables (the update must land
 * on this CPU's copy), nothing for `counter: true` ones (`pkc_*`: an atomic
 * update of the previous CPU's copy after a migration keeps sums exact).
 */
function counterGuardMacros(): string[] {
  return [
    "/* Counter ops: guarded unless the variable is counter: true (pkc_ kinds). */",
    ...LEAF_KINDS.flatMap((k) => [
      `#define PERCPU__CG_ENTER_${kindToken(k)} PERCPU__GUARD_ENTER`,
      `#define PERCPU__CG_EXIT_${kindToken(k)} PERCPU__GUARD_EXIT`,
      `#define PERCPU__CG_ENTER_${counterKindToken(k)}`,
      `#define PERCPU__CG_EXIT_${counterKindToken(k)}`,
    ]),
  ];
}

/**
 * The primitive selector of every kind token, applied by the generic
 * accessors to the op's primitive (`PERCPU__W_<K>(m)`): the kinds up to 64
 * bits use the primitive itself, `pk_u128` its 128-bit family.
 */
function primitiveSelectors(): string[] {
  const tokens = LEAF_KINDS.flatMap((k) => [kindToken(k), atomicKindToken(k), counterKindToken(k)]);
  return [
    "/* Primitive selectors per kind: up to 64 bits the op's primitive, u128 leaves its _U128 family. */",
    ...tokens.map((t) => `#define PERCPU__W_${t}(m) m`),
    `#define PERCPU__W_${U128_KIND_TOKEN}(m) m##${U128_PRIMITIVE_SUFFIX}`,
  ];
}

/**
 * Primitives of naive builds (one CPU, plain globals, no register): plain C
 * on `__percpu_areas`, the same on every arch.
 */
const NAIVE_PRIMITIVES = `/* naive: one CPU, plain globals in ${AREAS_SYMBOL}; no per-CPU register. */
extern unsigned char ${AREAS_SYMBOL}[] __attribute__((visibility("hidden")));
#define PERCPU__BASE() ((uintptr_t)${AREAS_SYMBOL})`;

/** The read-modify-write ops on the current CPU (the remote ones have their own generic primitives, {@link remoteRmwMacros}). */
const LOCAL_RMW_OPS: readonly LeafOp[] = INTEGER_OPS.filter((op) => LEAF_OP_SPECS[op].target === "current");

/** Macro parameters of an op's operands: `a0`, `a1`, ... */
function operandParams(op: LeafOp): string[] {
  return LEAF_OP_SPECS[op].values.map((_, i) => `a${i}`);
}

/**
 * The fallback of every read-modify-write op of the catalog, from its C
 * model: a guarded load-op-store on `PERCPU__BASE() + a` (operands converted
 * to the leaf type first, each evaluated once).
 */
function rmwFallbacks(ops: readonly LeafOp[] = LOCAL_RMW_OPS, suffix = ""): string {
  return ops.map((op) => {
    const { primitive, derived } = LEAF_OP_SPECS[op];
    const c: LeafOpSpec["c"] = LEAF_OP_SPECS[op].c;
    const name = `${primitive}_AT${suffix}`;
    if (derived !== null) return `#ifndef ${name}\n#define ${name}(${["T", "K", "a", ...operandParams(op)].join(", ")}) ${derivedExpr(op, derived, "_AT", "a")}\n#endif`;
    if (c === null) throw new Error(`${op}: a read-modify-write op needs a C model for the generic fallback`);
    const params = operandParams(op);
    const expr = (e: string) => e.replaceAll("{old}", "percpu__o_").replace(/\{(\d+)\}/g, (_, i) => `percpu__a${i}_`);
    const copies = params.map((p) => `T percpu__${p}_ = (T)(${p});`).join(" ");
    const body = `${copies} PERCPU__GUARD_ENTER volatile T *percpu__p_ = PERCPU__PTR(T, a); T percpu__o_ = *percpu__p_; ${c.when === undefined ? "" : `if (${expr(c.when)}) `}*percpu__p_ = (T)(${expr(c.value)}); PERCPU__GUARD_EXIT ${c.result === null ? "(void)0" : expr(c.result)};`;
    return `#ifndef ${name}\n#define ${name}(${["T", "K", "a", ...params].join(", ")}) __extension__({ ${body} })\n#endif`;
  }).join("\n");
}

/** The fallback of an op derived from another primitive (see `LeafOpSpec.derived`), in form `form` (`""` or `_AT`) on offset `a`. */
function derivedExpr(op: LeafOp, derived: string, form: string, a: string): string {
  return derived.replaceAll("{F}", form).replaceAll("{a}", a).replace(/\{(\d+)\}/g, (_, i) => `(${operandParams(op)[Number(i)]})`);
}

/**
 * Constant-offset forms of the derived ops (`inc` is `add 1`, ...) an arch does not define: its own run-time
 * form when it specialises that (an immediate `add #1` loop), else the other op's constant form. Emitted
 * before the run-time fallbacks, so `#ifdef` sees only the arch's primitives.
 */
function derivedConstForms(): string {
  return LOCAL_RMW_OPS.flatMap((op) => {
    const { primitive, derived } = LEAF_OP_SPECS[op];
    if (derived === null) return [];
    const params = ["T", "K", "o", ...operandParams(op)].join(", ");
    return [
      `#ifndef ${primitive}\n#ifdef ${primitive}_AT\n#define ${primitive}(${params}) ${primitive}_AT(${params})\n#else\n` +
      `#define ${primitive}(${params}) ${derivedExpr(op, derived, "", "o")}\n#endif\n#endif`,
    ];
  }).join("\n");
}

/** Constant-offset forms of the RMW ops that an arch does not define: its run-time offset form. */
function rmwConstForms(ops: readonly LeafOp[] = LOCAL_RMW_OPS, suffix = ""): string {
  return ops.filter((op) => LEAF_OP_SPECS[op].derived === null).map((op) => {
    const { primitive } = LEAF_OP_SPECS[op];
    const params = ["T", "K", "o", ...operandParams(op)].join(", ");
    return `#ifndef ${primitive}${suffix}\n#define ${primitive}${suffix}(${params}) ${primitive}_AT${suffix}(${params})\n#endif`;
  }).join("\n");
}

/**
 * The u128 family (`pk_u128` leaves, 64-bit targets), each primitive unless
 * the arch defines it: the raw read and write are two 8-byte accesses made
 * with the arch's own u64 primitives (so the shortest u64 form of each half,
 * `ld r, off(gp)` on riscv64), the guarded ones the same inside the guard,
 * and `cmpxchg128` a guarded load-compare-store from the catalog's C model
 * (Linux's asm-generic this_cpu_cmpxchg128) where no 128-bit
 * compare-and-exchange exists; the remote reads and writes are the generic
 * ones. `percpu_cmpxchg128_current` on a smaller leaf fails a `_Static_assert`.
 */
function u128Fallback(pointerBytes: number): string {
  const s = U128_PRIMITIVE_SUFFIX;
  const u64 = `uint64_t, ${kindToken("u64")}`;
  const misuse = (form: string): string =>
    `#define PERCPU__CMPXCHG128${form}(T, K, o, e, d) __extension__({ _Static_assert(0, "percpu: cmpxchg128_current needs a u128 leaf"); (T)0; })`;
  if (pointerBytes !== 8) return [misuse(""), misuse("_AT")].join("\n");
  const lines = ["/* u128 leaves (unsigned __int128): their own family of primitives, reached through PERCPU__W_pk_u128. */"];
  for (const form of ["", "_AT"]) {
    // A run-time offset is evaluated once; a constant one stays an integer constant expression for the "i" operands.
    const [copy, a] = form === "" ? ["", "(uintptr_t)(o)"] : ["uintptr_t percpu__ua_ = (uintptr_t)(o); ", "percpu__ua_"];
    const def = (name: string, params: string, body: string): string =>
      `#ifndef PERCPU__${name}${form}${s}\n#define PERCPU__${name}${form}${s}(T, K, o${params}) __extension__({ ${body} })\n#endif`;
    lines.push(
      def("RD", "", `${copy}uint64_t percpu__ul_ = PERCPU__RD${form}(${u64}, ${a}); uint64_t percpu__uh_ = PERCPU__RD${form}(${u64}, ${a} + 8u); (T)((unsigned __int128)percpu__uh_ << 64 | percpu__ul_);`),
      def("WR", ", v", `${copy}unsigned __int128 percpu__uv_ = (T)(v); PERCPU__WR${form}(${u64}, ${a}, (uint64_t)percpu__uv_); PERCPU__WR${form}(${u64}, ${a} + 8u, (uint64_t)(percpu__uv_ >> 64)); (void)0;`),
      def("RD_G", "", `PERCPU__GUARD_ENTER T percpu__ug_ = PERCPU__RD${form}${s}(T, K, o); PERCPU__GUARD_EXIT percpu__ug_;`),
      def("WR_G", ", v", `T percpu__ug_ = (T)(v); PERCPU__GUARD_ENTER PERCPU__WR${form}${s}(T, K, o, percpu__ug_); PERCPU__GUARD_EXIT (void)0;`),
    );
  }
  lines.push(
    rmwFallbacks(U128_OPS, s),
    rmwConstForms(U128_OPS, s),
    ...["REMOTE_RD", "REMOTE_WR"].flatMap((r) => [`#define PERCPU__${r}${s} PERCPU__${r}`, `#define PERCPU__${r}_AT${s} PERCPU__${r}`]),
    misuse(""),
    misuse("_AT"),
  );
  return lines.join("\n");
}

/**
 * What every arch gets unless it defines its own: each primitive in terms of
 * `PERCPU__BASE()` and C volatile accesses, the read-modify-write ones as a
 * guarded load-op-store (exact against interrupts and preemption when the
 * preempt/irq features are on, not atomic against other CPUs), as Linux's
 * asm-generic/percpu.h does. Constant-offset forms default to the runtime ones.
 */
const GENERIC_FALLBACK = (pointerBytes: number): string => `/* Generic fallback for every primitive the arch does not specialise (cf. asm-generic/percpu.h). */
#define PERCPU__PTR(T, a) ((volatile T *)(PERCPU__BASE() + (uintptr_t)(a)))
#ifndef PERCPU__RD_AT
#define PERCPU__RD_AT(T, K, a) (*PERCPU__PTR(T, a))
#endif
#ifndef PERCPU__WR_AT
#define PERCPU__WR_AT(T, K, a, v) ((void)(*PERCPU__PTR(T, a) = (T)(v)))
#endif
#ifndef PERCPU__RD_G_AT
#define PERCPU__RD_G_AT(T, K, a) __extension__({ PERCPU__GUARD_ENTER T percpu__v_ = PERCPU__RD_AT(T, K, a); PERCPU__GUARD_EXIT percpu__v_; })
#endif
#ifndef PERCPU__WR_G_AT
#define PERCPU__WR_G_AT(T, K, a, v) __extension__({ T percpu__w_ = (T)(v); PERCPU__GUARD_ENTER PERCPU__WR_AT(T, K, a, percpu__w_); PERCPU__GUARD_EXIT (void)0; })
#endif
${derivedConstForms()}
#define PERCPU__RMW_GENERIC(T, a, OP, v) __extension__({ T percpu__w_ = (T)(v); PERCPU__GUARD_ENTER volatile T *percpu__p_ = PERCPU__PTR(T, a); *percpu__p_ = (T)(*percpu__p_ OP percpu__w_); PERCPU__GUARD_EXIT (void)0; })
${rmwFallbacks()}
#ifndef PERCPU__RD
#define PERCPU__RD(T, K, o) PERCPU__RD_AT(T, K, o)
#endif
#ifndef PERCPU__WR
#define PERCPU__WR(T, K, o, v) PERCPU__WR_AT(T, K, o, v)
#endif
#ifndef PERCPU__RD_G
#define PERCPU__RD_G(T, K, o) PERCPU__RD_G_AT(T, K, o)
#endif
#ifndef PERCPU__WR_G
#define PERCPU__WR_G(T, K, o, v) PERCPU__WR_G_AT(T, K, o, v)
#endif
${rmwConstForms()}
${u128Fallback(pointerBytes)}`;

/** The arguments after the leaf of a catalog op, as macro parameters: the CPU of remote ops, then the values. */
function opArgs(op: LeafOp): string[] {
  const spec = LEAF_OP_SPECS[op];
  return [...(spec.target === "remote" ? ["cpu"] : []), ...spec.values];
}

/**
 * The generic accessors, derived from the op catalog: for every leaf op
 * `percpu_<op>(X, args...)` on a plain leaf and `percpu_<op>_at(X, args...,
 * indices...)` on a long array's leaf, each expanding the leaf data into the
 * op's primitive (`PERCPU__ADD(T, K, O, v)`, `PERCPU__ADD_AT(T, K, O + i, v)`).
 * The `PERCPU__Cn`/`PERCPU__An` indirections let the leaf data expand into
 * arguments before the primitive is applied.
 */
function genericAccessors(pointerBytes: number): string {
  const arity = Math.max(...LEAF_OPS.map((op) => opArgs(op).length));
  const lines = [
    ...primitiveSelectors(),
    "/* Generic accessors keyed by leaf name, one per op of the catalog; _at forms: values first, then one index per dimension. */",
  ];
  for (let n = 0; n <= arity; n++) {
    const a = Array.from({ length: n }, (_, i) => `a${i}`);
    const with_ = (...xs: string[]) => [...xs, ...a].join(", ");
    lines.push(
      `#define PERCPU__E${n}(${with_("m")}, T, K, O) PERCPU__W_##K(m)(T, K, O${a.map((x) => `, ${x}`).join("")})`,
      `#define PERCPU__C${n}(${with_("m")}, L) PERCPU__E${n}(${with_("m")}, L)`,
      `#define PERCPU__F${n}(${with_("m")}, i, T, K, O) PERCPU__W_##K(m)(T, K, ((uintptr_t)(O) + (i))${a.map((x) => `, ${x}`).join("")})`,
      `#define PERCPU__A${n}(${with_("m")}, i, L) PERCPU__F${n}(${with_("m")}, i, L)`,
    );
  }
  lines.push(
    `#define PERCPU__REMOTE(T, c, a) ((volatile T *)(${BASE_SYMBOL} + (uintptr_t)(c) * PERCPU_STRIDE + (uintptr_t)(a)))`,
    "#define PERCPU__REMOTE_RD(T, K, a, c) (*PERCPU__REMOTE(T, c, a))",
    "#define PERCPU__REMOTE_WR(T, K, a, c, v) ((void)(*PERCPU__REMOTE(T, c, a) = (T)(v)))",
    "#define PERCPU__REMOTE_RD_AT PERCPU__REMOTE_RD",
    "#define PERCPU__REMOTE_WR_AT PERCPU__REMOTE_WR",
    "/* Remote read-modify-write: __atomic builtins on cpu's copy (plain where no lock-free atomic of the width exists: 64-bit on riscv32). */",
    ...remoteRmwMacros(pointerBytes),
    "",
  );
  for (const op of LEAF_OPS) {
    const { primitive } = LEAF_OP_SPECS[op];
    const args = opArgs(op);
    const wrapped = args.map((x) => `(${x})`);
    const params = ["X", ...args].join(", ");
    lines.push(`#define percpu_${op}(${params}) PERCPU__C${args.length}(${[primitive, ...wrapped, "PERCPU_L_##X"].join(", ")})`);
  }
  lines.push("");
  for (const op of LEAF_OPS) {
    const { primitive } = LEAF_OP_SPECS[op];
    const args = opArgs(op);
    const wrapped = args.map((x) => `(${x})`);
    const params = ["X", ...args, "..."].join(", ");
    lines.push(
      `#define percpu_${op}_at(${params}) PERCPU__A${args.length}(${[`${primitive}_AT`, ...wrapped, "PERCPU_I_##X(__VA_ARGS__)", "PERCPU_LI_##X"].join(", ")})`,
    );
  }
  return lines.join("\n");
}

/** Whole-variable accessors and `reset_to_init` (fixed text). */
const GENERIC_VAR_ACCESSORS = `/* Whole variables: typed pointers and reset_to_init. */
#define percpu_current_ptr(V) ((percpu_##V##_t *)(PERCPU__BASE() + PERCPU_##V##_OFFSET))
#define percpu_remote_ptr(V, cpu) ((percpu_##V##_t *)(${BASE_SYMBOL} + (uintptr_t)(cpu) * PERCPU_STRIDE + PERCPU_##V##_OFFSET))
#define percpu_reset_to_init(V) percpu__reset_range(PERCPU_##V##_OFFSET, sizeof(percpu_##V##_t))
extern const unsigned char ${TEMPLATE_SYMBOL}[] __attribute__((visibility("hidden")));
static inline void percpu__reset_range(uintptr_t off, uintptr_t n) {
  PERCPU__GUARD_ENTER
  volatile unsigned char *percpu__d_ = (volatile unsigned char *)(PERCPU__BASE() + off);
  for (uintptr_t percpu__i_ = 0; percpu__i_ < n; percpu__i_++) percpu__d_[percpu__i_] = ${TEMPLATE_SYMBOL}[off + percpu__i_];
  PERCPU__GUARD_EXIT
}`;

/** `typedef <declaration of name>;`, the declaration text computed once per type object (variables often share types). */
function typedefWriter(): (type: PercpuType, name: string) => string {
  const parts = new WeakMap<PercpuType, readonly [string, string]>();
  return (type, name) => {
    let p = parts.get(type);
    if (!p) {
      const text = cDeclaration(type, "\u0000");
      const at = text.indexOf("\u0000");
      parts.set(type, p = [text.slice(0, at), text.slice(at + 1)]);
    }
    return `typedef ${p[0]}${name}${p[1]};`;
  };
}

/** Options of {@link emitHeader}. */
export interface HeaderOptions {
  /** Also declare the out-of-line per-variable functions of `percpu.S` (and their `PERCPU_INLINE` versions). */
  readonly functions: boolean;
}

/**
 * Generates `percpu.h` for a backend: per-variable data, then the fixed
 * primitives, fallback and generic accessors (pure).
 *
 * @example
 * ```ts
 * import { backendFor } from "../arch/index.ts";
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { emitHeader } from "./percpu_h.ts";
 * const sdk = createPercpu();
 * sdk.define("CPU_ID", u64, 0);
 * const input = generatorInput(sdk.layout("riscv64"), resolveConfig({ arch: "riscv64" }));
 * emitHeader(backendFor("riscv64"), input, { functions: false }); // "... #define PERCPU_L_CPU_ID uint64_t, pk_u64, 0 ..."
 * ```
 */
export function emitHeader(backend: ArchBackend, input: GenInput, options: HeaderOptions): string {
  return emitHeaderChunks(backend, input, options).text();
}

/** {@link emitHeader} as chunks, for writing without the whole string. */
export function emitHeaderChunks(backend: ArchBackend, input: GenInput, options: HeaderOptions): ChunkedText {
  return new ChunkedText(() => headerChunks(backend, input, options));
}

function* headerChunks(backend: ArchBackend, input: GenInput, options: HeaderOptions): Generator<string, void, undefined> {
  const { layout, config } = input;
  const pointerBytes = TARGET_INFO[layout.target].pointerBytes;
  const lines = new LineBuffer();
  lines.push(
    `/* percpu.h: generated by the percpu SDK for ${configSummary(input)}. Do not edit. */`,
    "#ifndef PERCPU_H",
    "#define PERCPU_H",
    "",
    "#include <stdbool.h>",
    "#include <stdint.h>",
    "",
    "#ifdef __cplusplus",
    'extern "C" {',
    "#endif",
    "",
    `#define PERCPU_AREA_SIZE ${layout.areaSize}u`,
    `#define PERCPU_STRIDE ${layout.stride}u`,
    `#define PERCPU_AREA_ALIGN ${layout.areaAlign}u`,
    `#define PERCPU_MAX_CPUS ${config.cpus}u`,
  );
  if (layout.selfPointerOffset !== null) lines.push(`#define PERCPU_SELF_OFFSET ${layout.selfPointerOffset}u`);
  lines.push("", "/* Variables: offset and type; leaves: C type, kind, offset (PERCPU_LI_/PERCPU_I_: long arrays, use the _at forms). */");
  const typedef = typedefWriter();
  const kinds = kindTokens(pointerBytes);
  // x86_64 locks the RMW primitives of atomic variables' kinds (pka_*); naive builds use the generic fallback.
  const atomicKinds = backend.atomicKinds === true && !config.features.naive ? kindTokens(pointerBytes, atomicKindToken) : kinds;
  // aarch64, riscv, loongarch guard the counter ops by default; counter: true variables' kinds (pkc_*) leave them unguarded.
  const counterKinds = backend.counterKinds === true && !config.features.naive ? kindTokens(pointerBytes, counterKindToken) : kinds;
  for (const v of input.vars) {
    lines.push(`#define ${offsetMacro(v.layout.name)} ${v.layout.offset}u`, typedef(v.layout.type, cTypeName(v.layout.name)));
    const k = v.layout.atomic && atomicKinds !== kinds ? atomicKinds : v.layout.counter ? counterKinds : kinds;
    for (const leaf of v.leaves) pushLeafData(lines, leaf, k[leaf.scalar]);
    for (const leaf of v.u128Leaves) pushLeafData(lines, leaf, U128_KIND_TOKEN);
    if (lines.ready) yield* lines.take();
  }
  lines.push(
    "",
    "/* Runtime. percpu_init returns n, or -1 for a null base, -2 for a base not aligned to PERCPU_AREA_ALIGN. */",
    ...RUNTIME_NAMES.map((name) => {
      const f = RUNTIME[name];
      return `${f.ret} ${name}(${f.params.length ? f.params.map((p) => `${p.type} ${p.name}`).join(", ") : "void"});`;
    }),
    `extern uintptr_t ${BASE_SYMBOL} __attribute__((visibility("hidden")));`,
    "",
    "/* Guard hooks: provide these when generating with the preempt / irq features. */",
    `void ${GUARD_HOOKS[0]}(void);`,
    `void ${GUARD_HOOKS[1]}(void);`,
    `uintptr_t ${GUARD_HOOKS[2]}(void);`,
    `void ${GUARD_HOOKS[3]}(uintptr_t flags);`,
    "",
    ...guardMacros(input),
    ...(backend.counterKinds === true && !config.features.naive ? counterGuardMacros() : []),
    "",
    config.features.naive ? NAIVE_PRIMITIVES : backend.headerPrimitives(input),
    "",
    GENERIC_FALLBACK(pointerBytes),
    "",
    genericAccessors(pointerBytes),
    "",
    GENERIC_VAR_ACCESSORS,
    ...runtimeHeaderBlock(input),
  );
  if (options.functions) {
    lines.push("");
    yield* functionDeclarations(lines, backend, input);
  }
  lines.push("", "#ifdef __cplusplus", '} /* extern "C" */', "#endif", "", "#endif /* PERCPU_H */", "");
  yield* lines.end();
}

/** Prototypes of the per-variable functions of `percpu.S`, and their `static inline` versions under `PERCPU_INLINE`. */
function* functionDeclarations(lines: LineBuffer, backend: ArchBackend, input: GenInput): Generator<string, void, undefined> {
  lines.push("/* Out-of-line per-variable functions of percpu.S (generated with functions: true). */");
  for (const v of input.vars) {
    const t = cTypeName(v.layout.name);
    lines.push(`${t} *${varFunction(v.layout.name, "remote_ptr")}(uintptr_t cpu);`);
    lines.push(`void ${varFunction(v.layout.name, "reset_to_init")}(void);`);
    // u128 leaves: out-of-line functions, with or without PERCPU_INLINE (inline code has the generic accessors).
    for (const leaf of v.u128Leaves) for (const op of leafOps(leaf.scalar)) lines.push(`${cPrototype(leafSignature(leaf, op))};`);
    if (lines.ready) yield* lines.take();
  }
  lines.push("", "#ifndef PERCPU_INLINE", "");
  for (const v of input.vars) {
    lines.push(`${cTypeName(v.layout.name)} *${varFunction(v.layout.name, "current_ptr")}(void);`);
    for (const leaf of v.leaves) {
      for (const op of leafOps(leaf.scalar)) lines.push(`${cPrototype(leafSignature(leaf, op))};`);
    }
    if (lines.ready) yield* lines.take();
  }
  lines.push("", "#else /* PERCPU_INLINE */", "", backend.inlineC(input).trimEnd(), "", "#endif /* PERCPU_INLINE */");
}
