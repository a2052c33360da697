/**
 * The aarch64 primitives of `percpu.h` (see emit/percpu_h.ts). The per-CPU
 * base is TPIDR_EL1 (TPIDR_EL2 with `el2`); no access is ever a single
 * instruction (`mrs`, then the access), so:
 *
 * - constant-offset reads and writes are one inline-asm block, chosen at
 *   compile time (`__builtin_choose_expr`, so `-O0` included) from the offset:
 *   `mrs x8, tpidr_el1; ldr w0, [x8, #off]` (2) when `off` is a multiple of
 *   the size and `off / size < 4096` (a bool read adds an `and #1`: the
 *   compiler cannot know the asm-loaded byte is 0 or 1); `add x8, x8, #hi, lsl #12` and the low
 *   12 bits as the immediate below 16 MiB (3); else a register offset the
 *   compiler materialises (3–4). The `_AT` forms are C volatile accesses on
 *   `PERCPU__BASE() + a`, so the compiler folds the constant part of `a`;
 * - the guarded forms (`PERCPU__RD_G`, `PERCPU__WR_G`, their `_AT` forms via
 *   the generic fallback) always take the guard (`PERCPU__GUARD_ENTER/EXIT`);
 * - the integer read-modify-write ops (add/sub/and/or/xor/inc/dec/xchg/cmpxchg/
 *   add_return) are an ARMv8.0 LL/SC loop (`ldxr`/`stxr`, `ldxrb`/`stxrb`,
 *   `ldxrh`/`stxrh`; no LSE on Cortex-A57) on the address computed from the
 *   register: an interrupt between `ldxr` and `stxr` clears the exclusive
 *   monitor so the loop retries. The counter ops (add/sub/and/or/xor/inc/dec)
 *   are unguarded like `percpu.S`: a migration after `mrs` only means the
 *   update lands, atomically, on the previous CPU's copy. The ops whose
 *   result or target must be this CPU's (xchg, cmpxchg, try_cmpxchg, the
 *   `_return` ops; guard class `this_cpu`) take the guard around `mrs` and
 *   the loop, as Linux's arm64 `this_cpu_*` disables preemption;
 *   bool and float leaves have none (using one fails a `_Static_assert`);
 * - values travel through integer registers (floats as their bits), so the
 *   accesses compile with `-mgeneral-regs-only` and never touch FP/SIMD.
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { counterKindToken, kindToken, type LeafKind, U128_PRIMITIVE_SUFFIX } from "../sdk/c_names.ts";

/** Per kind: load, store, register width (`w`/`x`), exclusive suffix (null: no RMW ops) and cmpxchg compare extension. */
export const KINDS: Record<LeafKind, { readonly ld: string; readonly st: string; readonly r: "w" | "x"; readonly ex: string | null; readonly cmp: string }> = {
  u8: { ld: "ldrb", st: "strb", r: "w", ex: "b", cmp: ", uxtb" },
  i8: { ld: "ldrsb", st: "strb", r: "w", ex: "b", cmp: ", uxtb" },
  u16: { ld: "ldrh", st: "strh", r: "w", ex: "h", cmp: ", uxth" },
  i16: { ld: "ldrsh", st: "strh", r: "w", ex: "h", cmp: ", uxth" },
  u32: { ld: "ldr", st: "str", r: "w", ex: "", cmp: "" },
  i32: { ld: "ldr", st: "str", r: "w", ex: "", cmp: "" },
  u64: { ld: "ldr", st: "str", r: "x", ex: "", cmp: "" },
  i64: { ld: "ldr", st: "str", r: "x", ex: "", cmp: "" },
  bool: { ld: "ldrb", st: "strb", r: "w", ex: null, cmp: "" },
  f32: { ld: "ldr", st: "str", r: "w", ex: null, cmp: "" },
  f64: { ld: "ldr", st: "str", r: "x", ex: null, cmp: "" },
};

/** The per-kind table: mnemonics, the integer type a value is held in and stored as, and the conversions between it and the C type. */
function kindTable(): string[] {
  // The same table for the kinds of counter: true variables (pkc_*), which differ only in PERCPU__CG_ENTER_/EXIT_.
  return (Object.keys(KINDS) as LeafKind[]).flatMap((k) => [kindToken(k), counterKindToken(k)].map((t) => [k, t] as const)).flatMap(([k, t]) => {
    const { ld, st, r, ex, cmp } = KINDS[k];
    const hold = r === "x" ? "uint64_t" : "uint32_t";
    const float = k === "f32" || k === "f64";
    // Floats as their bits (memcpy), a loaded bool as its byte (0 or 1, as a C bool load assumes); integers by conversion.
    const to = float
      ? `__extension__({ T percpu__a64f_; ${hold} percpu__a64u_ = (h); __builtin_memcpy(&percpu__a64f_, &percpu__a64u_, sizeof percpu__a64f_); percpu__a64f_; })`
      : k === "bool"
      ? `__extension__({ T percpu__a64f_; uint8_t percpu__a64u_ = (uint8_t)(h); __builtin_memcpy(&percpu__a64f_, &percpu__a64u_, 1); percpu__a64f_; })`
      : "((T)(h))";
    const from = float
      ? `__extension__({ T percpu__a64f_ = (T)(v); ${hold} percpu__a64u_; __builtin_memcpy(&percpu__a64u_, &percpu__a64f_, sizeof percpu__a64u_); percpu__a64u_; })`
      : `((${hold})(T)(v))`;
    return [
      `#define PERCPU__A64_LD_${t} "${ld}"`,
      `#define PERCPU__A64_ST_${t} "${st}"`,
      `#define PERCPU__A64_R_${t} "${r}"`,
      `#define PERCPU__A64_H_${t} ${hold}`,
      `#define PERCPU__A64_TO_${t}(T, h) ${to}`,
      `#define PERCPU__A64_FROM_${t}(T, v) ${from}`,
      `#define PERCPU__A64_EX_${t} "${ex ?? ""}"`,
      `#define PERCPU__A64_RMW_${t}${ex === null ? ` _Static_assert(0, "percpu: ${k} leaves have no read-modify-write ops");` : ""}`,
      `#define PERCPU__A64_CMP_${t} "${cmp}"`,
      // The type a value is stored as in memory operands and store inputs (no widening, so no masking).
      `#define PERCPU__A64_S_${t}(T) ${float ? hold : "T"}`,
    ];
  });
}

/**
 * One constant-offset access as a compile-time choice of three asm blocks:
 * scaled immediate, `add #hi, lsl #12` plus the low 12 bits, register offset.
 * `insn` is the C string of the mnemonic and value operand; `outs`/`ins` the
 * other operands (`[b]`, the base, is an early-clobber output of every block).
 */
function constAccess(reg: string, insn: string, outs: string, ins: string): string {
  const block = (addr: string, extraIns: string, adjust = ""): string =>
    `__extension__({ __asm__ __volatile__("mrs %[b], ${reg}\\n\\t${adjust}" ${insn}, ${addr}" : ${outs} : ${[ins, extraIns].filter(Boolean).join(", ")} : "memory"); })`;
  return [
    "__builtin_choose_expr(PERCPU__A64_NEAR(T, o), ",
    block("[%[b], #%[lo]]", `[lo] "i"((uintptr_t)(o))`),
    ", __builtin_choose_expr(PERCPU__A64_MID(T, o), ",
    block("[%[b], #%[lo]]", `[hi] "i"((uintptr_t)(o) >> 12), [lo] "i"((uintptr_t)(o) & 4095u)`, "add %[b], %[b], #%[hi], lsl #12\\n\\t"),
    ", ",
    block("[%[b], %x[off]]", `[off] "r"((uintptr_t)(o))`),
    "))",
  ].join("");
}

/** The LL/SC loop text (a C string) of an RMW op: `op` is the data-processing mnemonic, or `xchg` / `cmpxchg`. */
function llsc(op: string, operand?: string): string {
  const w = `%" PERCPU__A64_R_##K "`;
  const ld = `1:\\n\\tldxr" PERCPU__A64_EX_##K " ${w}[old], [%[p]]\\n\\t`;
  const st = (v: string): string => `stxr" PERCPU__A64_EX_##K " %w[st], ${w}[${v}], [%[p]]\\n\\tcbnz %w[st], 1b`;
  if (op === "xchg") return `"${ld}${st("val")}"`;
  if (op === "cmpxchg") return `"${ld}cmp ${w}[old], ${w}[exp]" PERCPU__A64_CMP_##K "\\n\\tb.ne 2f\\n\\t${st("val")}\\n2:"`;
  return `"${ld}${op} ${w}[new], ${w}[old], ${operand ?? `${w}[val]`}\\n\\t${st("new")}"`;
}

/**
 * The read-modify-write primitives with ARMv8.1 LSE atomics (features `lse`): one instruction on the address
 * computed from the register (`stadd`/`stclr`/`stset`/`steor`, `swp`, `cas`, `ldadd` with the size suffix),
 * the operand negated or inverted where the instruction has the other sense; guards as the LL/SC forms.
 * Each template enables the extension itself (`.arch_extension lse`), whatever `-march` the includer uses.
 */
function lsePrimitives(rmwHead: (hold: string, guard: "this_cpu" | "counter") => string): string[] {
  const w = (n: string): string => `%" PERCPU__A64_R_##K "[${n}]`;
  const lse = (insn: string): string => `".arch_extension lse\\n\\t${insn}"`;
  const store = (name: string, mn: string, value: string): string =>
    `#define PERCPU__${name}_AT(T, K, a${name === "INC" || name === "DEC" ? "" : ", v"}) ${rmwHead(`percpu__a64v_ = ${value}`, "counter")}` +
    `percpu__a64o_ = 0; percpu__a64s_ = 0; (void)percpu__a64o_; percpu__a64s_ = 0; (void)percpu__a64s_; __asm__ __volatile__(${lse(`${mn}" PERCPU__A64_EX_##K " ${w("val")}, [%[p]]`)} : : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "memory"); PERCPU__CG_EXIT_##K (void)0; })`;
  const from = "PERCPU__A64_FROM_##K(T, v)";
  return [
    "/* Read-modify-write: ARMv8.1 LSE atomics (features lse), one instruction on the computed address. */",
    store("ADD", "stadd", from),
    store("SUB", "stadd", `(PERCPU__A64_H_##K)0 - ${from}`),
    store("AND", "stclr", `~${from}`),
    store("OR", "stset", from),
    store("XOR", "steor", from),
    store("INC", "stadd", "1"),
    store("DEC", "stadd", "(PERCPU__A64_H_##K)0 - 1"),
    `#define PERCPU__XCHG_AT(T, K, a, v) ${rmwHead(`percpu__a64v_ = ${from}`, "this_cpu")}percpu__a64s_ = 0; (void)percpu__a64s_; ` +
    `__asm__ __volatile__(${lse(`swp" PERCPU__A64_EX_##K " ${w("val")}, ${w("old")}, [%[p]]`)} : [old] "=&r"(percpu__a64o_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "memory"); PERCPU__GUARD_EXIT PERCPU__A64_TO_##K(T, percpu__a64o_); })`,
    `#define PERCPU__CMPXCHG_AT(T, K, a, e, d) ${rmwHead(`percpu__a64v_ = PERCPU__A64_FROM_##K(T, d)`, "this_cpu")}percpu__a64s_ = 0; (void)percpu__a64s_; percpu__a64o_ = PERCPU__A64_FROM_##K(T, e); ` +
    `__asm__ __volatile__(${lse(`cas" PERCPU__A64_EX_##K " ${w("old")}, ${w("val")}, [%[p]]`)} : [old] "+r"(percpu__a64o_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "memory"); PERCPU__GUARD_EXIT PERCPU__A64_TO_##K(T, percpu__a64o_); })`,
    "/* add_return: ldadd leaves the old value; the compiler adds the operand once more. */",
    `#define PERCPU__ADD_RETURN_AT(T, K, a, v) ${rmwHead(`percpu__a64v_ = ${from}`, "this_cpu")}percpu__a64s_ = 0; (void)percpu__a64s_; ` +
    `__asm__ __volatile__(${lse(`ldadd" PERCPU__A64_EX_##K " ${w("val")}, ${w("old")}, [%[p]]`)} : [old] "=&r"(percpu__a64o_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "memory"); PERCPU__GUARD_EXIT PERCPU__A64_TO_##K(T, (PERCPU__A64_H_##K)(percpu__a64o_ + percpu__a64v_)); })`,
  ];
}

/**
 * The u128 family's guarded read and write (`ldxp`/`stxp` loops: a 128-bit
 * `ldxp` is single-copy atomic only when the `stxp` after it succeeds, so
 * the read stores back what it loaded) and `cmpxchg128` (the ARMv8.0 LL/SC
 * loop, storing the value found back on a miss for the same reason; one
 * `casp` with `lse`, its pairs pinned to x0:x1 and x2:x3 as it needs even
 * registers), each under the guard: `mrs` and the access are several
 * instructions and the result must be this CPU's. The raw forms are one
 * volatile 128-bit access (`mrs; ldp` / `stp`; not single-copy atomic before
 * LSE2, so a remote writer can tear them).
 */
function u128Primitives(lse: boolean): string[] {
  const head = (decl: string): string =>
    `__extension__({ ${decl} uint32_t percpu__a64s_; PERCPU__GUARD_ENTER uintptr_t percpu__a64p_ = PERCPU__BASE() + (uintptr_t)(a); `;
  const value = "(T)((unsigned __int128)percpu__a64h_ << 64 | percpu__a64l_)";
  const split = (v: string, lo: string, hi: string): string => `unsigned __int128 percpu__a64${v}_ = (T)(${v}); uint64_t ${lo} = (uint64_t)percpu__a64${v}_, ${hi} = (uint64_t)(percpu__a64${v}_ >> 64);`;
  const loop = (store: string): string => `"1:\\n\\tldxp %[lo], %[hi], [%[p]]\\n\\tstxp %w[st], ${store}, [%[p]]\\n\\tcbnz %w[st], 1b"`;
  const outs = `[lo] "=&r"(percpu__a64l_), [hi] "=&r"(percpu__a64h_), [st] "=&r"(percpu__a64s_)`;
  const cas = lse
    ? `(void)percpu__a64s_; register uint64_t percpu__x0_ __asm__("x0") = percpu__a64l_, percpu__x1_ __asm__("x1") = percpu__a64h_, percpu__x2_ __asm__("x2") = percpu__a64dl_, percpu__x3_ __asm__("x3") = percpu__a64dh_; ` +
      `__asm__ __volatile__(".arch_extension lse\\n\\tcasp %[e0], %[e1], %[d0], %[d1], [%[p]]" : [e0] "+r"(percpu__x0_), [e1] "+r"(percpu__x1_) : [d0] "r"(percpu__x2_), [d1] "r"(percpu__x3_), [p] "r"(percpu__a64p_) : "memory"); ` +
      `percpu__a64l_ = percpu__x0_; percpu__a64h_ = percpu__x1_; `
    : `uint64_t percpu__a64el_ = percpu__a64l_, percpu__a64eh_ = percpu__a64h_; ` +
      `__asm__ __volatile__("1:\\n\\tldxp %[lo], %[hi], [%[p]]\\n\\tcmp %[lo], %[el]\\n\\tccmp %[hi], %[eh], #0, eq\\n\\tb.ne 2f\\n\\tstxp %w[st], %[dl], %[dh], [%[p]]\\n\\tcbnz %w[st], 1b\\n\\tb 3f\\n` +
      `2:\\n\\tstxp %w[st], %[lo], %[hi], [%[p]]\\n\\tcbnz %w[st], 1b\\n3:" : ${outs} : [p] "r"(percpu__a64p_), [el] "r"(percpu__a64el_), [eh] "r"(percpu__a64eh_), [dl] "r"(percpu__a64dl_), [dh] "r"(percpu__a64dh_) : "cc", "memory"); `;
  const s = U128_PRIMITIVE_SUFFIX;
  const raw = ["", "_AT"].flatMap((form) => [
    `#define PERCPU__RD${form}${s}(T, K, a) (*(volatile T *)(PERCPU__BASE() + (uintptr_t)(a)))`,
    `#define PERCPU__WR${form}${s}(T, K, a, v) ((void)(*(volatile T *)(PERCPU__BASE() + (uintptr_t)(a)) = (T)(v)))`,
  ]);
  return [
    `/* u128: raw forms one ldp/stp; guarded ldxp/stxp loops for read_current/write_current; cmpxchg128 ${lse ? "one casp (lse)" : "the LL/SC loop (ARMv8.0)"} under the guard. */`,
    ...raw,
    `#define PERCPU__RD_G_AT${s}(T, K, a) ${head("uint64_t percpu__a64l_, percpu__a64h_;")}` +
    `__asm__ __volatile__(${loop("%[lo], %[hi]")} : ${outs} : [p] "r"(percpu__a64p_) : "memory"); PERCPU__GUARD_EXIT ${value}; })`,
    `#define PERCPU__WR_G_AT${s}(T, K, a, v) ${head(`${split("v", "percpu__a64vl_", "percpu__a64vh_")} uint64_t percpu__a64l_, percpu__a64h_;`)}` +
    `__asm__ __volatile__(${loop("%[vl], %[vh]")} : ${outs} : [p] "r"(percpu__a64p_), [vl] "r"(percpu__a64vl_), [vh] "r"(percpu__a64vh_) : "memory"); PERCPU__GUARD_EXIT (void)percpu__a64l_; (void)percpu__a64h_; })`,
    `#define PERCPU__RD_G${s}(T, K, o) PERCPU__RD_G_AT${s}(T, K, o)`,
    `#define PERCPU__WR_G${s}(T, K, o, v) PERCPU__WR_G_AT${s}(T, K, o, v)`,
    `#define PERCPU__CMPXCHG128_AT${s}(T, K, a, e, d) ${head(`${split("e", "percpu__a64l_", "percpu__a64h_")} ${split("d", "percpu__a64dl_", "percpu__a64dh_")}`)}` +
    `${cas}PERCPU__GUARD_EXIT ${value}; })`,
  ];
}

/**
 * The aarch64 block of `percpu.h` primitives for a configuration (naive
 * builds use the generic naive block).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { aarch64HeaderPrimitives } from "./aarch64_header.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * aarch64HeaderPrimitives(generatorInput(sdk.layout("aarch64"), resolveConfig({ arch: "aarch64" }))); // "... ldxr ..."
 * ```
 */
export function aarch64HeaderPrimitives(input: GenInput): string {
  const reg = input.config.features.el2 ? "tpidr_el2" : "tpidr_el1";
  const val = `%" PERCPU__A64_R_##K "[val]`;
  // `guard`: the op's result or target must be this CPU's (xchg, cmpxchg, add_return): the guard spans mrs and the loop.
  // `guard`: the op's result or target must be this CPU's (xchg, cmpxchg, add_return): the guard spans mrs and the loop.
  // Counter ops take PERCPU__CG_ENTER_##K instead: the guard, except for counter: true variables.
  const rmwHead = (hold: string, guard: "this_cpu" | "counter"): string =>
    `__extension__({ PERCPU__A64_RMW_##K PERCPU__A64_H_##K ${hold}; ${
      guard === "this_cpu" ? "PERCPU__GUARD_ENTER" : "PERCPU__CG_ENTER_##K"
    } uintptr_t percpu__a64p_ = PERCPU__BASE() + (uintptr_t)(a); PERCPU__A64_H_##K percpu__a64o_; uint32_t percpu__a64s_; `;
  const rmw = (name: string, op: string): string =>
    `#define PERCPU__${name}_AT(T, K, a, v) ${rmwHead("percpu__a64v_ = PERCPU__A64_FROM_##K(T, v)", "counter")}PERCPU__A64_H_##K percpu__a64n_; ` +
    `__asm__ __volatile__(${llsc(op)} : [old] "=&r"(percpu__a64o_), [new] "=&r"(percpu__a64n_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "cc", "memory"); PERCPU__CG_EXIT_##K (void)percpu__a64o_; })`;
  const rmwLines = input.config.features.lse ? lsePrimitives(rmwHead) : [
    "/* Read-modify-write: LL/SC loops; the constant-offset forms are the generic fallback's (PERCPU__ADD = PERCPU__ADD_AT, ...). */",
    rmw("ADD", "add"),
    rmw("SUB", "sub"),
    rmw("AND", "and"),
    rmw("OR", "orr"),
    rmw("XOR", "eor"),
    `#define PERCPU__XCHG_AT(T, K, a, v) ${rmwHead("percpu__a64v_ = PERCPU__A64_FROM_##K(T, v)", "this_cpu")}` +
    `__asm__ __volatile__(${llsc("xchg")} : [old] "=&r"(percpu__a64o_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "memory"); PERCPU__GUARD_EXIT PERCPU__A64_TO_##K(T, percpu__a64o_); })`,
    `#define PERCPU__CMPXCHG_AT(T, K, a, e, d) ${rmwHead("percpu__a64e_ = PERCPU__A64_FROM_##K(T, e), percpu__a64v_ = PERCPU__A64_FROM_##K(T, d)", "this_cpu")}` +
    `__asm__ __volatile__(${llsc("cmpxchg")} : [old] "=&r"(percpu__a64o_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_), [exp] "r"(percpu__a64e_), [val] "r"(percpu__a64v_) : "cc", "memory"); PERCPU__GUARD_EXIT PERCPU__A64_TO_##K(T, percpu__a64o_); })`,
    "/* inc/dec: the add/sub loop with the immediate 1 (no register for the operand). */",
    `#define PERCPU__INC_AT(T, K, a) ${rmwHead("percpu__a64u_ = 0", "counter")}(void)percpu__a64u_; PERCPU__A64_H_##K percpu__a64n_; ` +
    `__asm__ __volatile__(${llsc("add", "#1")} : [old] "=&r"(percpu__a64o_), [new] "=&r"(percpu__a64n_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_) : "cc", "memory"); PERCPU__CG_EXIT_##K (void)percpu__a64o_; })`,
    `#define PERCPU__DEC_AT(T, K, a) ${rmwHead("percpu__a64u_ = 0", "counter")}(void)percpu__a64u_; PERCPU__A64_H_##K percpu__a64n_; ` +
    `__asm__ __volatile__(${llsc("sub", "#1")} : [old] "=&r"(percpu__a64o_), [new] "=&r"(percpu__a64n_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_) : "cc", "memory"); PERCPU__CG_EXIT_##K (void)percpu__a64o_; })`,
    "/* add_return: the LL/SC add loop returning the new value, guarded (the value returned must be this CPU's). */",
    `#define PERCPU__ADD_RETURN_AT(T, K, a, v) ${rmwHead("percpu__a64v_ = PERCPU__A64_FROM_##K(T, v)", "this_cpu")}PERCPU__A64_H_##K percpu__a64n_; ` +
    `__asm__ __volatile__(${llsc("add")} : [old] "=&r"(percpu__a64o_), [new] "=&r"(percpu__a64n_), [st] "=&r"(percpu__a64s_) : [p] "r"(percpu__a64p_), [val] "r"(percpu__a64v_) : "cc", "memory"); PERCPU__GUARD_EXIT (void)percpu__a64o_; PERCPU__A64_TO_##K(T, percpu__a64n_); })`,
  ];
  return [
    `/* aarch64: the per-CPU base is ${reg.toUpperCase()}; no access is one instruction (mrs, then the access), so the guarded forms take the guard;`,
    " * RMW ops are LL/SC loops (ARMv8.0, no LSE) on the computed address, atomic on whichever CPU's copy they hit: no guard. */",
    `#define PERCPU__BASE() __extension__({ uintptr_t percpu__b_; __asm__ __volatile__("mrs %0, ${reg}" : "=r"(percpu__b_)); percpu__b_; })`,
    ...kindTable(),
    "/* Constant offsets: the scaled 12-bit immediate (2 instructions), add lsl #12 below 16 MiB (3), else a register offset. */",
    "#define PERCPU__A64_NEAR(T, o) ((uintptr_t)(o) % sizeof(T) == 0 && (uintptr_t)(o) / sizeof(T) < 4096u)",
    "#define PERCPU__A64_MID(T, o) ((uintptr_t)(o) < 0x1000000u && ((uintptr_t)(o) & 4095u) % sizeof(T) == 0)",
    `#define PERCPU__RD(T, K, o) __extension__({ PERCPU__A64_H_##K percpu__a64v_; uintptr_t percpu__a64b_; ` +
    `${constAccess(reg, `PERCPU__A64_LD_##K " ${val}`, `[val] "=r"(percpu__a64v_), [b] "=&r"(percpu__a64b_)`, "")}; PERCPU__A64_TO_##K(T, percpu__a64v_); })`,
    `#define PERCPU__WR(T, K, o, v) __extension__({ PERCPU__A64_S_##K(T) percpu__a64v_ = (PERCPU__A64_S_##K(T))PERCPU__A64_FROM_##K(T, v); uintptr_t percpu__a64b_; ` +
    `${constAccess(reg, `PERCPU__A64_ST_##K " ${val}`, `[b] "=&r"(percpu__a64b_)`, `[val] "rZ"(percpu__a64v_)`)}; (void)0; })`,
    "#define PERCPU__RD_G(T, K, o) __extension__({ PERCPU__GUARD_ENTER T percpu__a64g_ = PERCPU__RD(T, K, o); PERCPU__GUARD_EXIT percpu__a64g_; })",
    "#define PERCPU__WR_G(T, K, o, v) __extension__({ T percpu__a64g_ = (T)(v); PERCPU__GUARD_ENTER PERCPU__WR(T, K, o, percpu__a64g_); PERCPU__GUARD_EXIT (void)0; })",
    "/* Runtime offsets: C volatile accesses of the value's bits, so the compiler folds the constant part of the address. */",
    "#define PERCPU__RD_AT(T, K, a) PERCPU__A64_TO_##K(T, *(volatile PERCPU__A64_S_##K(T) *)(PERCPU__BASE() + (uintptr_t)(a)))",
    "#define PERCPU__WR_AT(T, K, a, v) __extension__({ PERCPU__A64_H_##K percpu__a64v_ = PERCPU__A64_FROM_##K(T, v); " +
    "*(volatile PERCPU__A64_S_##K(T) *)(PERCPU__BASE() + (uintptr_t)(a)) = (PERCPU__A64_S_##K(T))percpu__a64v_; (void)0; })",
    ...rmwLines,
    ...u128Primitives(input.config.features.lse),
  ].join("\n");
}
