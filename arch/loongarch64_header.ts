/**
 * The loongarch64 primitives of `percpu.h` (see emit/percpu_h.ts), the same
 * shapes as the per-variable functions of arch/loongarch64.ts, for every kind:
 *
 * - constant-offset reads and writes are ONE instruction relative to `$r21`,
 *   chosen from the offset by `__builtin_choose_expr` (so at `-O0` too) with the
 *   offset as an `"i"` operand: `ld.{b,bu,h,hu,w,d} r, $r21, off` /
 *   `st.{b,h,w,d}` for off < 2048, `ldptr.{w,d}` / `stptr.{w,d}` for 32/64-bit
 *   values at 4-aligned offsets below 32 KiB. Beyond, the offset goes to a
 *   register (`lu12i.w; ori`, CPU-independent) and the access is a single
 *   `ldx`/`stx` against `$r21` (3 instructions); the guarded forms take the
 *   guard only there. 32-bit values load with `ld.w` (sign-extended as the psABI
 *   wants); floats travel in integer registers (lp64s); bool loads with `ld.bu`.
 * - `_AT` forms: `ldx`/`stx r, $r21, a` (one instruction given `a`; unguarded).
 * - 32/64-bit integer RMW: one AM* on the computed address (`addi.d t, $r21,
 *   off` or `add.d t, $r21, a`, then `amadd`/`amand`/`amor`/`amxor`/`amswap`,
 *   `sub` = `amadd` of the negation) and an `ll`/`sc` loop for cmpxchg:
 *   atomic, so a migration between the address and the AM* only makes the
 *   update land, whole, in the area of the CPU it was computed on — no guard,
 *   as the functions of `percpu.S`.
 * - 8/16-bit integer RMW, as `percpu.S`: with `preempt`/`irq` on, a masked
 *   `ll.w`/`sc.w` loop on the aligned word (atomic, no hooks); with both off,
 *   plain load-op-store against `$r21` (`ld.hu; add.d; st.h`). bool and floats:
 *   load-op-store inside the guard (the SDK defines no RMW ops for them).
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { counterKindToken, kindToken, type LeafKind } from "../sdk/c_names.ts";

/**
 * How a kind's read-modify-write ops are built: `amo` (32/64-bit integers: AM* / ll-sc on the
 * value), `sub` (8/16-bit integers: a masked `ll.w`/`sc.w` loop on the aligned word, used when a
 * guard feature is on, as the functions of `percpu.S`), `gen` (load-op-store, guarded).
 */
type RmwClass = "amo" | "sub" | "gen";

/** Per kind: load suffix (`ld.<s>`, `ldx.<s>`), store / AM* suffix, RMW class, sign-extended type of AM* operands. */
export const KINDS: Record<
  LeafKind,
  { readonly ld: string; readonly st: string; readonly rmw: RmwClass; readonly sx: string }
> = {
  u8: { ld: "bu", st: "b", rmw: "sub", sx: "" },
  i8: { ld: "b", st: "b", rmw: "sub", sx: "" },
  bool: { ld: "bu", st: "b", rmw: "gen", sx: "" },
  u16: { ld: "hu", st: "h", rmw: "sub", sx: "" },
  i16: { ld: "h", st: "h", rmw: "sub", sx: "" },
  u32: { ld: "w", st: "w", rmw: "amo", sx: "int32_t" },
  i32: { ld: "w", st: "w", rmw: "amo", sx: "int32_t" },
  u64: { ld: "d", st: "d", rmw: "amo", sx: "int64_t" },
  i64: { ld: "d", st: "d", rmw: "amo", sx: "int64_t" },
  f32: { ld: "w", st: "w", rmw: "gen", sx: "" },
  f64: { ld: "d", st: "d", rmw: "gen", sx: "" },
};

/** The AM* mnemonic stem and C value expression (over `T` and `v`) of each RMW primitive. */
const AMO_OPS: readonly (readonly [string, string, string])[] = [
  ["ADD", "amadd", "PERCPU__LA_VAL(T, K, v)"],
  ["SUB", "amadd", "(uint64_t)0 - (uint64_t)PERCPU__LA_VAL(T, K, v)"],
  ["AND", "amand", "PERCPU__LA_VAL(T, K, v)"],
  ["OR", "amor", "PERCPU__LA_VAL(T, K, v)"],
  ["XOR", "amxor", "PERCPU__LA_VAL(T, K, v)"],
];

/** Per RMW primitive: the `ll.w`/`sc.w` loop body (%0 old word, %1 new word, %3 value, %4 lane mask) and its value operand. */
const SUBWORD_OPS: Record<string, readonly [string, string]> = {
  ADD: [
    "add.w %1, %0, %3\\n\\txor %1, %1, %0\\n\\tand %1, %1, %4\\n\\txor %1, %1, %0",
    "PERCPU__LA_SW_LANE(percpu__w_)",
  ],
  SUB: [
    "add.w %1, %0, %3\\n\\txor %1, %1, %0\\n\\tand %1, %1, %4\\n\\txor %1, %1, %0",
    "PERCPU__LA_SW_LANE((uint64_t)0 - (uint64_t)percpu__w_)",
  ],
  AND: ["and %1, %0, %3", "(PERCPU__LA_SW_LANE(percpu__w_) | ~percpu__m_)"],
  OR: ["or %1, %0, %3", "PERCPU__LA_SW_LANE(percpu__w_)"],
  XOR: ["xor %1, %0, %3", "PERCPU__LA_SW_LANE(percpu__w_)"],
};

/** A masked `ll.w`/`sc.w` loop on the word holding an 8/16-bit value; `result`: return the old value (xchg). */
function subword([body, val]: readonly [string, string], result = false): string {
  // Counter ops (result false) take PERCPU__CG_ENTER_##K: guarded unless counter: true; xchg is guarded by its wrapper.
  const [enter, exit] = result ? ["", ""] : ["PERCPU__CG_ENTER_##K ", "PERCPU__CG_EXIT_##K "];
  return `__extension__({ T percpu__w_ = (T)(v); ${enter}PERCPU__LA_SW_PRE(T, a) uint64_t percpu__o_, percpu__n_; ` +
    `__asm__ __volatile__("1:\\tll.w %0, %2, 0\\n\\t${body}\\n\\tsc.w %1, %2, 0\\n\\tbeqz %1, 1b" ` +
    `: "=&r"(percpu__o_), "=&r"(percpu__n_) : "r"(percpu__p_), "r"(${val}), "r"(percpu__m_) : "memory"); ` +
    `${exit}(void)percpu__n_; ${result ? "(T)(percpu__o_ >> percpu__s_);" : "(void)percpu__o_;"} })`;
}

/** The C operator of each RMW primitive in the load-op-store form. */
const C_OPS: Record<string, string> = { ADD: "+", SUB: "-", AND: "&", OR: "|", XOR: "^" };

/**
 * Per-kind tables (`PERCPU__LA_LD_pk_u8 "bu"`, ...) pasted by the primitives; 8/16-bit
 * integers take the masked ll/sc loop only when `guarded` (else load-op-store, no guard to take).
 */
function kindTables(guarded: boolean): string[] {
  // The same tables for the kinds of counter: true variables (pkc_*), which differ only in PERCPU__CG_ENTER_/EXIT_.
  return (Object.keys(KINDS) as LeafKind[]).flatMap((k) => [kindToken(k), counterKindToken(k)].map((t) => [k, t] as const)).flatMap(([k, t]) => {
    const { ld, st, rmw, sx } = KINDS[k];
    return [
      `#define PERCPU__LA_LD_${t} "${ld}"`,
      `#define PERCPU__LA_ST_${t} "${st}"`,
      `#define PERCPU__LA_CLS_${t} ${rmw === "sub" && !guarded ? "gen" : rmw}`,
      ...(rmw === "amo" ? [`#define PERCPU__LA_SX_${t} ${sx}`] : []),
    ];
  });
}

/** Reads and writes: constant offsets choose the one-instruction form; `_AT` is `ldx`/`stx`. */
function accessPrimitives(): string[] {
  const rdI = (ins: string) =>
    `__extension__({ T percpu__v_; __asm__ __volatile__(${ins} " %0, $r21, %1" : "=r"(percpu__v_) : "i"(o) : "memory"); percpu__v_; })`;
  const wrI = (ins: string) =>
    `__extension__({ __asm__ __volatile__(${ins} " %z0, $r21, %1" : : "rJ"((T)(v)), "i"(o) : "memory"); })`;
  return [
    "/* Offset classes: si12 (ld/st), si14<<2 (ldptr/stptr, 32/64-bit only), one instruction either way. */",
    "#define PERCPU__LA_NEAR(o) ((o) <= 2047)",
    "#define PERCPU__LA_PTR(T, o) (sizeof(T) >= 4 && (o) % 4 == 0 && (o) <= 32764)",
    "#define PERCPU__LA_ONE(T, o) (PERCPU__LA_NEAR(o) || PERCPU__LA_PTR(T, o))",
    `#define PERCPU__RD_AT(T, K, a) __extension__({ T percpu__v_; __asm__ __volatile__("ldx." PERCPU__LA_LD_##K " %0, $r21, %1" : "=r"(percpu__v_) : "r"((uintptr_t)(a)) : "memory"); percpu__v_; })`,
    `#define PERCPU__WR_AT(T, K, a, v) __extension__({ __asm__ __volatile__("stx." PERCPU__LA_ST_##K " %z0, $r21, %1" : : "rJ"((T)(v)), "r"((uintptr_t)(a)) : "memory"); })`,
    "#define PERCPU__RD_G_AT(T, K, a) PERCPU__RD_AT(T, K, a)",
    "#define PERCPU__WR_G_AT(T, K, a, v) PERCPU__WR_AT(T, K, a, v)",
    `#define PERCPU__RD(T, K, o) __builtin_choose_expr(PERCPU__LA_NEAR(o), ${rdI(`"ld." PERCPU__LA_LD_##K`)}, ` +
    `__builtin_choose_expr(PERCPU__LA_PTR(T, o), ${rdI(`"ldptr." PERCPU__LA_ST_##K`)}, PERCPU__RD_AT(T, K, o)))`,
    `#define PERCPU__WR(T, K, o, v) __builtin_choose_expr(PERCPU__LA_NEAR(o), ${wrI(`"st." PERCPU__LA_ST_##K`)}, ` +
    `__builtin_choose_expr(PERCPU__LA_PTR(T, o), ${wrI(`"stptr." PERCPU__LA_ST_##K`)}, PERCPU__WR_AT(T, K, o, v)))`,
    "#define PERCPU__RD_G(T, K, o) __builtin_choose_expr(PERCPU__LA_ONE(T, o), PERCPU__RD(T, K, o), " +
    "__extension__({ PERCPU__GUARD_ENTER T percpu__g_ = PERCPU__RD(T, K, o); PERCPU__GUARD_EXIT percpu__g_; }))",
    "#define PERCPU__WR_G(T, K, o, v) __builtin_choose_expr(PERCPU__LA_ONE(T, o), PERCPU__WR(T, K, o, v), " +
    "__extension__({ T percpu__g_ = (T)(v); PERCPU__GUARD_ENTER PERCPU__WR(T, K, o, percpu__g_); PERCPU__GUARD_EXIT (void)0; }))",
  ];
}

/**
 * Read-modify-write: dispatched on the kind's class (`PERCPU__LA_CLS_##K`,
 * see {@link RmwClass}): `amo`, `sub` or `gen`. Constant forms with a far
 * offset use the `_AT` form with the offset in a register.
 */
function rmwPrimitives(): string[] {
  // The address: `addi.d` for near constants (one asm with the AM*), else the _AT form with the offset in a register.
  const near = "PERCPU__LA_NEAR(o)";
  // Counter ops: guarded (PERCPU__CG_ENTER_##K) unless the variable is counter: true.
  const amoAt = (stem: string, val: string) =>
    `__extension__({ uintptr_t percpu__p_; PERCPU__CG_ENTER_##K __asm__ __volatile__("add.d %0, $r21, %1\\n\\t${stem}." PERCPU__LA_ST_##K " $zero, %2, %0" : "=&r"(percpu__p_) : "r"((uintptr_t)(a)), "r"(${val}) : "memory"); PERCPU__CG_EXIT_##K (void)percpu__p_; })`;
  const amoI = (stem: string, val: string) =>
    `__extension__({ uintptr_t percpu__p_; PERCPU__CG_ENTER_##K __asm__ __volatile__("addi.d %0, $r21, %1\\n\\t${stem}." PERCPU__LA_ST_##K " $zero, %2, %0" : "=&r"(percpu__p_) : "i"(o), "r"(${val}) : "memory"); PERCPU__CG_EXIT_##K (void)percpu__p_; })`;
  const lines: string[] = [
    "/* AM* operands: 32-bit values sign-extended, as the psABI already holds them (no extension instruction). */",
    "#define PERCPU__LA_VAL(T, K, v) ((int64_t)(PERCPU__LA_SX_##K)(T)(v))",
    "#define PERCPU__LA_PICK(P, K) PERCPU__LA_PICK2(P, PERCPU__LA_CLS_##K)",
    "#define PERCPU__LA_PICK2(P, C) PERCPU__LA_PICK3(P, C)",
    "#define PERCPU__LA_PICK3(P, C) PERCPU__LA_##P##_##C",
  ];
  for (const [name, stem, val] of AMO_OPS) {
    const op = C_OPS[name]!;
    lines.push(
      `#define PERCPU__${name}_AT(T, K, a, v) PERCPU__LA_PICK(${name}_AT, K)(T, K, a, v)`,
      `#define PERCPU__${name}(T, K, o, v) PERCPU__LA_PICK(${name}, K)(T, K, o, v)`,
      `#define PERCPU__LA_${name}_AT_amo(T, K, a, v) ${amoAt(stem, val)}`,
      `#define PERCPU__LA_${name}_amo(T, K, o, v) __builtin_choose_expr(${near}, ${
        amoI(stem, val)
      }, PERCPU__LA_${name}_AT_amo(T, K, o, v))`,
      `#define PERCPU__LA_${name}_AT_gen(T, K, a, v) PERCPU__LA_RMW_AT_GEN(T, K, a, ${op}, v)`,
      `#define PERCPU__LA_${name}_gen(T, K, o, v) PERCPU__LA_RMW_GEN(T, K, o, ${op}, v)`,
      `#define PERCPU__LA_${name}_AT_sub(T, K, a, v) ${subword(SUBWORD_OPS[name]!)}`,
      `#define PERCPU__LA_${name}_sub(T, K, o, v) PERCPU__LA_${name}_AT_sub(T, K, o, v)`,
    );
  }
  const swapBody = (addr: string) =>
    `__asm__ __volatile__(${addr} "\\n\\tamswap." PERCPU__LA_ST_##K " %0, %2, %1" : "=&r"(percpu__o_), "=&r"(percpu__p_) : "r"((T)(v)), `;
  const casBody = (addr: string) =>
    `__asm__ __volatile__(${addr} "\\n1:\\tll." PERCPU__LA_ST_##K " %0, %1, 0\\n\\tbne %0, %3, 2f\\n\\tmove %2, %4\\n\\tsc." PERCPU__LA_ST_##K " %2, %1, 0\\n\\tbeqz %2, 1b\\n2:" ` +
    `: "=&r"(percpu__o_), "=&r"(percpu__p_), "=&r"(percpu__t_) : "r"(PERCPU__LA_VAL(T, K, e)), "r"((T)(d)), `;
  // xchg and cmpxchg must act on this CPU's copy: the guard spans computing the address and the atomic.
  const wrap = (decls: string, body: string, tail: string) =>
    `__extension__({ ${decls} PERCPU__GUARD_ENTER ${body}${tail} : "memory"); PERCPU__GUARD_EXIT (void)percpu__p_; percpu__o_; })`;
  const swapDecl = "T percpu__o_; uintptr_t percpu__p_;";
  const casDecl = "T percpu__o_; uintptr_t percpu__p_, percpu__t_;";
  lines.push(
    "#define PERCPU__XCHG_AT(T, K, a, v) PERCPU__LA_PICK(XCHG_AT, K)(T, K, a, v)",
    "#define PERCPU__XCHG(T, K, o, v) PERCPU__LA_PICK(XCHG, K)(T, K, o, v)",
    `#define PERCPU__LA_XCHG_AT_amo(T, K, a, v) ${
      wrap(swapDecl, swapBody(`"add.d %1, $r21, %3"`), `"r"((uintptr_t)(a))`)
    }`,
    `#define PERCPU__LA_XCHG_amo(T, K, o, v) __builtin_choose_expr(${near}, ${
      wrap(swapDecl, swapBody(`"addi.d %1, $r21, %3"`), `"i"(o)`)
    }, PERCPU__LA_XCHG_AT_amo(T, K, o, v))`,
    "#define PERCPU__LA_XCHG_AT_gen(T, K, a, v) __extension__({ uintptr_t percpu__a_ = (uintptr_t)(a); PERCPU__LA_XCHG_GEN(T, K, percpu__a_, v, PERCPU__RD_AT, PERCPU__WR_AT); })",
    "#define PERCPU__LA_XCHG_gen(T, K, o, v) PERCPU__LA_XCHG_GEN(T, K, o, v, PERCPU__RD, PERCPU__WR)",
    "#define PERCPU__CMPXCHG_AT(T, K, a, e, d) PERCPU__LA_PICK(CMPXCHG_AT, K)(T, K, a, e, d)",
    "#define PERCPU__CMPXCHG(T, K, o, e, d) PERCPU__LA_PICK(CMPXCHG, K)(T, K, o, e, d)",
    `#define PERCPU__LA_CMPXCHG_AT_amo(T, K, a, e, d) ${
      wrap(casDecl, casBody(`"add.d %1, $r21, %5"`), `"r"((uintptr_t)(a))`)
    }`,
    `#define PERCPU__LA_CMPXCHG_amo(T, K, o, e, d) __builtin_choose_expr(${near}, ${
      wrap(casDecl, casBody(`"addi.d %1, $r21, %5"`), `"i"(o)`)
    }, PERCPU__LA_CMPXCHG_AT_amo(T, K, o, e, d))`,
    "#define PERCPU__LA_CMPXCHG_AT_gen(T, K, a, e, d) __extension__({ uintptr_t percpu__a_ = (uintptr_t)(a); PERCPU__LA_CMPXCHG_GEN(T, K, percpu__a_, e, d, PERCPU__RD_AT, PERCPU__WR_AT); })",
    "#define PERCPU__LA_CMPXCHG_gen(T, K, o, e, d) PERCPU__LA_CMPXCHG_GEN(T, K, o, e, d, PERCPU__RD, PERCPU__WR)",
    "#define PERCPU__LA_XCHG_AT_sub(T, K, a, v) __extension__({ T percpu__gv_ = (T)(v); PERCPU__GUARD_ENTER T percpu__gr_ = PERCPU__LA_XCHG_AT_subr(T, K, a, percpu__gv_); PERCPU__GUARD_EXIT percpu__gr_; })",
    "#define PERCPU__LA_CMPXCHG_AT_sub(T, K, a, e, d) __extension__({ T percpu__ge_ = (T)(e), percpu__gd_ = (T)(d); PERCPU__GUARD_ENTER " +
      "T percpu__gr_ = PERCPU__LA_CMPXCHG_AT_subr(T, K, a, percpu__ge_, percpu__gd_); PERCPU__GUARD_EXIT percpu__gr_; })",
    "/* add_return: amadd leaves the old value, the compiler adds the operand once more; guarded (the value returned must be this CPU's). */",
    "#define PERCPU__ADD_RETURN_AT(T, K, a, v) PERCPU__LA_PICK(ADD_RETURN_AT, K)(T, K, a, v)",
    `#define PERCPU__LA_ADD_RETURN_AT_amo(T, K, a, v) __extension__({ T percpu__w_ = (T)(v), percpu__o_; uintptr_t percpu__p_; PERCPU__GUARD_ENTER ` +
      `__asm__ __volatile__("add.d %1, $r21, %3\\n\\tamadd." PERCPU__LA_ST_##K " %0, %2, %1" : "=&r"(percpu__o_), "=&r"(percpu__p_) : "r"(percpu__w_), "r"((uintptr_t)(a)) : "memory"); ` +
      "PERCPU__GUARD_EXIT (void)percpu__p_; (T)(percpu__o_ + percpu__w_); })",
    "#define PERCPU__LA_ADD_RETURN_AT_gen(T, K, a, v) PERCPU__LA_ADD_RETURN_G(T, K, a, v)",
    "#define PERCPU__LA_ADD_RETURN_AT_sub(T, K, a, v) PERCPU__LA_ADD_RETURN_G(T, K, a, v)",
    "#define PERCPU__LA_ADD_RETURN_G(T, K, a, v) __extension__({ T percpu__w_ = (T)(v), percpu__n_; uintptr_t percpu__a_ = (uintptr_t)(a); PERCPU__GUARD_ENTER " +
      "percpu__n_ = (T)(PERCPU__RD_AT(T, K, percpu__a_) + percpu__w_); PERCPU__WR_AT(T, K, percpu__a_, percpu__n_); PERCPU__GUARD_EXIT percpu__n_; })",
    `#define PERCPU__LA_XCHG_AT_subr(T, K, a, v) ${
      subword(["andn %1, %0, %4\\n\\tor %1, %1, %3", "PERCPU__LA_SW_LANE(percpu__w_)"], true)
    }`,
    "#define PERCPU__LA_XCHG_sub(T, K, o, v) PERCPU__LA_XCHG_AT_sub(T, K, o, v)",
    "#define PERCPU__LA_CMPXCHG_AT_subr(T, K, a, e, d) __extension__({ T percpu__e_ = (T)(e), percpu__d_ = (T)(d); PERCPU__LA_SW_PRE(T, a) uint64_t percpu__o_, percpu__n_; " +
      `__asm__ __volatile__("1:\\tll.w %0, %2, 0\\n\\tand %1, %0, %4\\n\\tbne %1, %5, 2f\\n\\tandn %1, %0, %4\\n\\tor %1, %1, %3\\n\\tsc.w %1, %2, 0\\n\\tbeqz %1, 1b\\n2:" ` +
      `: "=&r"(percpu__o_), "=&r"(percpu__n_) : "r"(percpu__p_), "r"(PERCPU__LA_SW_LANE(percpu__d_)), "r"(percpu__m_), "r"(PERCPU__LA_SW_LANE(percpu__e_)) : "memory"); ` +
      "(void)percpu__n_; (T)(percpu__o_ >> percpu__s_); })",
    "#define PERCPU__LA_CMPXCHG_sub(T, K, o, e, d) PERCPU__LA_CMPXCHG_AT_sub(T, K, o, e, d)",
    "/* 8/16-bit lanes of the aligned word (the base is read once; a migration after it changes the other area, atomically). */",
    "#define PERCPU__LA_SW_PRE(T, a) uintptr_t percpu__p_ = PERCPU__BASE() + (uintptr_t)(a); unsigned percpu__s_ = (unsigned)(percpu__p_ & 3u) * 8u; " +
      "uint64_t percpu__m_ = ((((uint64_t)1) << (8u * sizeof(T))) - 1u) << percpu__s_; percpu__p_ &= ~(uintptr_t)3;",
    "#define PERCPU__LA_SW_LANE(x) ((((uint64_t)(x)) << percpu__s_) & percpu__m_)",
    "/* Load-op-store of the other kinds, guarded (o: a constant, evaluated freely; a: evaluated once). */",
    "#define PERCPU__LA_RMW_GEN(T, K, o, OP, v) __extension__({ T percpu__w_ = (T)(v); PERCPU__GUARD_ENTER " +
      "T percpu__x_ = PERCPU__RD(T, K, o); PERCPU__WR(T, K, o, (T)(percpu__x_ OP percpu__w_)); PERCPU__GUARD_EXIT (void)0; })",
    "#define PERCPU__LA_RMW_AT_GEN(T, K, a, OP, v) __extension__({ uintptr_t percpu__a_ = (uintptr_t)(a); T percpu__w_ = (T)(v); PERCPU__GUARD_ENTER " +
      "T percpu__x_ = PERCPU__RD_AT(T, K, percpu__a_); PERCPU__WR_AT(T, K, percpu__a_, (T)(percpu__x_ OP percpu__w_)); PERCPU__GUARD_EXIT (void)0; })",
    "#define PERCPU__LA_XCHG_GEN(T, K, o, v, RD, WR) __extension__({ T percpu__w_ = (T)(v); PERCPU__GUARD_ENTER " +
      "T percpu__x_ = RD(T, K, o); WR(T, K, o, percpu__w_); PERCPU__GUARD_EXIT percpu__x_; })",
    "#define PERCPU__LA_CMPXCHG_GEN(T, K, o, e, d, RD, WR) __extension__({ T percpu__e_ = (T)(e), percpu__d_ = (T)(d); PERCPU__GUARD_ENTER " +
      "T percpu__x_ = RD(T, K, o); if (percpu__x_ == percpu__e_) WR(T, K, o, percpu__d_); PERCPU__GUARD_EXIT percpu__x_; })",
  );
  return lines;
}

/**
 * The loongarch64 block of `percpu.h` primitives for a configuration
 * (kernel mode; naive builds use the generic naive block): `PERCPU__BASE()`
 * reads `$r21`, and every primitive of the contract in emit/percpu_h.ts is
 * specialised (see the module documentation for the shapes).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { loongarch64HeaderPrimitives } from "./loongarch64_header.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * loongarch64HeaderPrimitives(generatorInput(sdk.layout("loongarch64"), resolveConfig({ arch: "loongarch64" }))); // "... amadd ..."
 * ```
 */
export function loongarch64HeaderPrimitives(input: GenInput): string {
  return [
    "/* loongarch64: one access relative to $r21 (ld/ldptr/ldx); 32/64-bit RMW as AM* / ll-sc on $r21 + off, unguarded. */",
    '#define PERCPU__BASE() __extension__({ uintptr_t percpu__b_; __asm__ __volatile__("move %0, $r21" : "=r"(percpu__b_)); percpu__b_; })',
    ...kindTables(input.config.features.preempt || input.config.features.irq),
    ...accessPrimitives(),
    ...rmwPrimitives(),
  ].join("\n");
}
