/**
 * The RISC-V primitives of `percpu.h` (see emit/percpu_h.ts), riscv64 and
 * riscv32: the per-CPU base is gp, bound to a C value through an empty asm
 * (`PERCPU__BASE()`), so C volatile accesses on it fold into `l* r, off(gp)`
 * and the generic fallback's `_AT` reads and writes become `add t, gp, a;
 * l* r, 0(t)` without copying gp first.
 *
 * Shapes, per kind (`K`) and offset:
 * - near (offset < 2048) reads and writes of a kind that fits one register
 *   are one instruction relative to gp: writes are always an asm `s* r,
 *   off(gp)` with an `"i"` offset (one instruction at every optimisation
 *   level, so an unguarded write can never land in the area of a CPU the
 *   code migrated away from); reads are that asm `l* r, off(gp)` at `-O0` and
 *   a C volatile load at `-O2` (`__OPTIMIZE__`), which the compiler folds
 *   into the same single `l* r, off(gp)` while knowing the value's psABI
 *   extension (an asm output would cost a `sext.w`/`andi` after it). A read
 *   split by a migration would only read the previous CPU's word, as if the
 *   migration had come right after it;
 * - the guarded `read_current`/`write_current` take no guard for those and
 *   the generic guarded C access (`PERCPU__RD_G_AT`/`PERCPU__WR_G_AT`) for
 *   far offsets (`addi t, gp, 2047; l* r, lo(t)` below 4 KiB, `lui; add gp;
 *   l* %lo` beyond, as the compiler picks) and 64-bit kinds on riscv32 (two
 *   words); the near/far choice is a C `if` on the constant offset, which
 *   clang drops at `-O0` too;
 * - `add/sub/and/or/xor/xchg` of 32-bit kinds (and 64-bit on riscv64) are the
 *   AMO on the address computed from gp (`amoadd.w zero, v, (t)`; `sub` is
 *   `amoadd` of the negation; `xchg` is `amoswap`), `cmpxchg` an LR/SC loop:
 *   a migration between computing the address and the AMO only makes the
 *   update land, atomically, on the CPU the address was computed on, so they
 *   take no guard — the same code for constant (`PERCPU__ADD`) and runtime
 *   (`PERCPU__ADD_AT`) offsets;
 * - 8/16-bit kinds (no AMO at those widths), 64-bit kinds on riscv32, bool
 *   and floats: the guarded load-op-store of the generic fallback
 *   (`PERCPU__RMW_GENERIC`), and a guarded load-then-store for `xchg` /
 *   `cmpxchg`.
 *
 * Each kind carries two class tokens (`PERCPU__RV_WORDS_pk_u32 percpu__one`,
 * `PERCPU__RV_AW_pk_u32 percpu__w`) that the primitives paste into the name
 * of their shape, so the fixed block does not grow with the kinds.
 *
 * Values follow the soft-float psABIs: f32/f64 travel in integer registers,
 * so their asm operands are the bits (`__builtin_memcpy` into the same-sized
 * unsigned type, free at `-O2`).
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { counterKindToken, kindToken, type LeafKind } from "../sdk/c_names.ts";

/** Largest displacement of a load/store (signed 12-bit). */
const IMM12_MAX = 2047;

/** Per kind: load mnemonic (extending per the psABI), store mnemonic, integer type of the bits in a register. */
export const KIND: Record<LeafKind, { readonly ld: string; readonly st: string; readonly bits: string; readonly bytes: 1 | 2 | 4 | 8 }> = {
  u8: { ld: "lbu", st: "sb", bits: "uint8_t", bytes: 1 },
  i8: { ld: "lb", st: "sb", bits: "int8_t", bytes: 1 },
  bool: { ld: "lbu", st: "sb", bits: "uint8_t", bytes: 1 },
  u16: { ld: "lhu", st: "sh", bits: "uint16_t", bytes: 2 },
  i16: { ld: "lh", st: "sh", bits: "int16_t", bytes: 2 },
  // lw sign-extends, as the riscv64 psABI keeps every 32-bit value (u32 included).
  u32: { ld: "lw", st: "sw", bits: "uint32_t", bytes: 4 },
  i32: { ld: "lw", st: "sw", bits: "int32_t", bytes: 4 },
  f32: { ld: "lw", st: "sw", bits: "uint32_t", bytes: 4 },
  u64: { ld: "ld", st: "sd", bits: "uint64_t", bytes: 8 },
  i64: { ld: "ld", st: "sd", bits: "int64_t", bytes: 8 },
  f64: { ld: "ld", st: "sd", bits: "uint64_t", bytes: 8 },
};

/** Integer kinds (the only ones with AMOs; bool and floats go through the generic forms). */
const INTEGER: ReadonlySet<LeafKind> = new Set(["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"]);

/** The class tokens of a kind on a register width of `xlen` bytes: register words, AMO width (`percpu__none`: none). */
function classes(kind: LeafKind, xlen: 4 | 8): { readonly words: "percpu__one" | "percpu__pair"; readonly amo: "percpu__w" | "percpu__d" | "percpu__none" } {
  const { bytes } = KIND[kind];
  const amo = !INTEGER.has(kind) ? "percpu__none" : bytes === 4 ? "percpu__w" : bytes === 8 && xlen === 8 ? "percpu__d" : "percpu__none";
  return { words: bytes <= xlen ? "percpu__one" : "percpu__pair", amo };
}

/** The data lines of one kind: mnemonics, bits type and its two class tokens (prefixed so no macro of the includer expands them). */
function kindLines(kind: LeafKind, xlen: 4 | 8): string[] {
  // The same lines for the kinds of counter: true variables (pkc_*), which differ only in PERCPU__CG_ENTER_/EXIT_.
  return [kindToken(kind), counterKindToken(kind)].flatMap((t) => kindTokenLines(kind, t, xlen));
}

/** {@link kindLines} for one token of the kind. */
function kindTokenLines(kind: LeafKind, t: string, xlen: 4 | 8): string[] {
  const { ld, st, bits } = KIND[kind];
  const { words, amo } = classes(kind, xlen);
  return [
    `#define PERCPU__RV_LD_${t} "${ld}"`,
    `#define PERCPU__RV_ST_${t} "${st}"`,
    `#define PERCPU__RV_BITS_${t} ${bits}`,
    `#define PERCPU__RV_WORDS_${t} ${words}`,
    `#define PERCPU__RV_AW_${t} ${amo}`,
  ];
}

/** The five void read-modify-write ops: primitive name, AMO and C operator. */
const RMW = [["ADD", "add", "+"], ["SUB", "add", "-"], ["AND", "and", "&"], ["OR", "or", "|"], ["XOR", "xor", "^"]] as const;

/**
 * Every primitive, dispatched on a class token of the kind
 * (`PERCPU__RV_CAT(PERCPU__RV_RD_, PERCPU__RV_WORDS_##K)` → `PERCPU__RV_RD_percpu__one`).
 */
function dispatchLines(): string[] {
  const lines = [
    "#define PERCPU__RV_CAT(a, b) PERCPU__RV_CAT_(a, b)",
    "#define PERCPU__RV_CAT_(a, b) a##b",
    "#define PERCPU__RV_RD_percpu__one(T, K, o) PERCPU__RV_RD1(T, K, o)",
    "#define PERCPU__RV_RD_percpu__pair(T, K, o) PERCPU__RD_AT(T, K, o)",
    "#define PERCPU__RV_WR_percpu__one(T, K, o, v) PERCPU__RV_WR1(T, K, o, v)",
    "#define PERCPU__RV_WR_percpu__pair(T, K, o, v) PERCPU__WR_AT(T, K, o, v)",
    "#define PERCPU__RV_RD_G_percpu__one(T, K, o) PERCPU__RV_RD1_G(T, K, o)",
    "#define PERCPU__RV_RD_G_percpu__pair(T, K, o) PERCPU__RD_G_AT(T, K, o)",
    "#define PERCPU__RV_WR_G_percpu__one(T, K, o, v) PERCPU__RV_WR1_G(T, K, o, v)",
    "#define PERCPU__RV_WR_G_percpu__pair(T, K, o, v) PERCPU__WR_G_AT(T, K, o, v)",
  ];
  for (const [name, mnemonic, op] of RMW) {
    for (const [aw, u] of [["w", "uint32_t"], ["d", "uint64_t"]] as const) {
      // The AMO operand is unsigned of the AMO's width: no extension needed, negation without overflow.
      lines.push(`#define PERCPU__RV_${name}_percpu__${aw}(T, K, a, v) PERCPU__RV_AMO(T, K, ${u}, "amo${mnemonic}.${aw}", a, ${name === "SUB" ? `(${u})0 -` : ""}, v)`);
    }
    lines.push(`#define PERCPU__RV_${name}_percpu__none(T, K, a, v) PERCPU__RMW_GENERIC(T, a, ${op}, v)`);
  }
  lines.push(
    '#define PERCPU__RV_XCHG_percpu__w(T, K, a, v) PERCPU__RV_AMOSWAP(T, "w", a, v)',
    '#define PERCPU__RV_XCHG_percpu__d(T, K, a, v) PERCPU__RV_AMOSWAP(T, "d", a, v)',
    "#define PERCPU__RV_XCHG_percpu__none(T, K, a, v) PERCPU__RV_XCHG_G(T, K, a, v)",
    '#define PERCPU__RV_CMPXCHG_percpu__w(T, K, a, e, d) PERCPU__RV_LRSC(T, "w", int32_t, a, e, d)',
    '#define PERCPU__RV_CMPXCHG_percpu__d(T, K, a, e, d) PERCPU__RV_LRSC(T, "d", int64_t, a, e, d)',
    "#define PERCPU__RV_CMPXCHG_percpu__none(T, K, a, e, d) PERCPU__RV_CMPXCHG_G(T, K, a, e, d)",
    '#define PERCPU__RV_ADD_RETURN_percpu__w(T, K, a, v) PERCPU__RV_AMOADD_RET(T, uint32_t, "w", a, v)',
    '#define PERCPU__RV_ADD_RETURN_percpu__d(T, K, a, v) PERCPU__RV_AMOADD_RET(T, uint64_t, "d", a, v)',
    "#define PERCPU__RV_ADD_RETURN_percpu__none(T, K, a, v) PERCPU__RV_ADD_RETURN_G(T, K, a, v)",
    "#define PERCPU__RD(T, K, o) PERCPU__RV_CAT(PERCPU__RV_RD_, PERCPU__RV_WORDS_##K)(T, K, o)",
    "#define PERCPU__WR(T, K, o, v) PERCPU__RV_CAT(PERCPU__RV_WR_, PERCPU__RV_WORDS_##K)(T, K, o, v)",
    "#define PERCPU__RD_G(T, K, o) PERCPU__RV_CAT(PERCPU__RV_RD_G_, PERCPU__RV_WORDS_##K)(T, K, o)",
    "#define PERCPU__WR_G(T, K, o, v) PERCPU__RV_CAT(PERCPU__RV_WR_G_, PERCPU__RV_WORDS_##K)(T, K, o, v)",
    ...RMW.map(([name]) => `#define PERCPU__${name}_AT(T, K, a, v) PERCPU__RV_CAT(PERCPU__RV_${name}_, PERCPU__RV_AW_##K)(T, K, a, v)`),
    "#define PERCPU__XCHG_AT(T, K, a, v) PERCPU__RV_CAT(PERCPU__RV_XCHG_, PERCPU__RV_AW_##K)(T, K, a, v)",
    "#define PERCPU__CMPXCHG_AT(T, K, a, e, d) PERCPU__RV_CAT(PERCPU__RV_CMPXCHG_, PERCPU__RV_AW_##K)(T, K, a, e, d)",
    "#define PERCPU__ADD_RETURN_AT(T, K, a, v) PERCPU__RV_CAT(PERCPU__RV_ADD_RETURN_, PERCPU__RV_AW_##K)(T, K, a, v)",
  );
  return lines;
}

/**
 * The shapes shared by every kind. `o` is an integer constant expression; the
 * near asm gets `o` only when it is near (0 otherwise, in the arm the `if`
 * drops), so both arms are always valid code.
 */
function sharedShapes(): string[] {
  const near = `(o) <= ${IMM12_MAX}`;
  const imm = `"i"((o) <= ${IMM12_MAX} ? (o) : 0)`;
  const rd1Asm =
    `__extension__({ PERCPU__RV_BITS_##K percpu__u_; T percpu__v_; __asm__ __volatile__(PERCPU__RV_LD_##K " %0, %c1(gp)" : "=r"(percpu__u_) : ${imm} : "memory"); ` +
    "__builtin_memcpy(&percpu__v_, &percpu__u_, sizeof percpu__v_); percpu__v_; })";
  return [
    "#ifdef __OPTIMIZE__",
    "/* -O1 and up: a C volatile load on gp, folded into one `l* r, off(gp)` with the psABI extension known to the compiler. */",
    "#define PERCPU__RV_RDN(T, K, o) PERCPU__RD_AT(T, K, o)",
    "#else",
    "/* -O0: the asm `l* r, off(gp)`, one instruction. */",
    `#define PERCPU__RV_RDN(T, K, o) ${rd1Asm}`,
    "#endif",
    `#define PERCPU__RV_RD1(T, K, o) __extension__({ T percpu__r_; if (${near}) percpu__r_ = PERCPU__RV_RDN(T, K, o); else percpu__r_ = PERCPU__RD_AT(T, K, o); percpu__r_; })`,
    `#define PERCPU__RV_RD1_G(T, K, o) __extension__({ T percpu__r_; if (${near}) percpu__r_ = PERCPU__RV_RDN(T, K, o); else percpu__r_ = PERCPU__RD_G_AT(T, K, o); percpu__r_; })`,
    "/* One `s* r, off(gp)` (`zero` for a constant 0). */",
    `#define PERCPU__RV_WRN(T, K, o, x) __extension__({ PERCPU__RV_BITS_##K percpu__u_; __builtin_memcpy(&percpu__u_, &(x), sizeof percpu__u_); __asm__ __volatile__(PERCPU__RV_ST_##K " %z0, %c1(gp)" : : "rJ"(percpu__u_), ${imm} : "memory"); })`,
    `#define PERCPU__RV_WR1(T, K, o, v) __extension__({ T percpu__x_ = (T)(v); if (${near}) PERCPU__RV_WRN(T, K, o, percpu__x_); else PERCPU__WR_AT(T, K, o, percpu__x_); (void)0; })`,
    `#define PERCPU__RV_WR1_G(T, K, o, v) __extension__({ T percpu__x_ = (T)(v); if (${near}) PERCPU__RV_WRN(T, K, o, percpu__x_); else PERCPU__WR_G_AT(T, K, o, percpu__x_); (void)0; })`,
    "/* Counter AMOs on the address computed from gp: guarded unless counter: true (then a migration only moves the whole, atomic update to the previous CPU). */",
    "#define PERCPU__RV_AMO(T, K, U, insn, a, neg, v) __extension__({ U percpu__w_ = neg (U)(T)(v); PERCPU__CG_ENTER_##K " +
    '__asm__ __volatile__(insn " zero, %z1, (%0)" : : "r"(PERCPU__BASE() + (uintptr_t)(a)), "rJ"(percpu__w_) : "memory"); PERCPU__CG_EXIT_##K })',
    "/* xchg, cmpxchg and add_return must act on this CPU's copy: the guard spans computing the address and the AMO / LR/SC loop. */",
    '#define PERCPU__RV_AMOSWAP(T, S, a, v) __extension__({ T percpu__w_ = (T)(v); intptr_t percpu__o_; PERCPU__GUARD_ENTER __asm__ __volatile__("amoswap." S " %0, %z2, (%1)" : "=&r"(percpu__o_) ' +
    ': "r"(PERCPU__BASE() + (uintptr_t)(a)), "rJ"(percpu__w_) : "memory"); PERCPU__GUARD_EXIT (T)percpu__o_; })',
    "/* amoadd leaves the old value; the compiler adds the operand once more (Linux's riscv this_cpu_add_return). */",
    '#define PERCPU__RV_AMOADD_RET(T, U, S, a, v) __extension__({ U percpu__w_ = (U)(T)(v); intptr_t percpu__o_; PERCPU__GUARD_ENTER __asm__ __volatile__("amoadd." S " %0, %z2, (%1)" : "=&r"(percpu__o_) ' +
    ': "r"(PERCPU__BASE() + (uintptr_t)(a)), "rJ"(percpu__w_) : "memory"); PERCPU__GUARD_EXIT (T)((U)percpu__o_ + percpu__w_); })',
    "#define PERCPU__RV_ADD_RETURN_G(T, K, a, v) __extension__({ T percpu__w_ = (T)(v), percpu__n_; uintptr_t percpu__a_ = (uintptr_t)(a); " +
    "PERCPU__GUARD_ENTER percpu__n_ = (T)(PERCPU__RD_AT(T, K, percpu__a_) + percpu__w_); PERCPU__WR_AT(T, K, percpu__a_, percpu__n_); PERCPU__GUARD_EXIT percpu__n_; })",
    "/* lr.w sign-extends: compare with the expected value sign-extended from the kind's width (ST). */",
    "#define PERCPU__RV_LRSC(T, S, ST, a, e, d) __extension__({ T percpu__e_ = (T)(e), percpu__d_ = (T)(d); intptr_t percpu__o_; uintptr_t percpu__f_; PERCPU__GUARD_ENTER " +
    '__asm__ __volatile__("1:\\n\\tlr." S " %0, (%2)\\n\\tbne %0, %z3, 2f\\n\\tsc." S " %1, %z4, (%2)\\n\\tbnez %1, 1b\\n2:" : "=&r"(percpu__o_), "=&r"(percpu__f_) ' +
    ': "r"(PERCPU__BASE() + (uintptr_t)(a)), "rJ"((intptr_t)(ST)percpu__e_), "rJ"(percpu__d_) : "memory"); PERCPU__GUARD_EXIT (T)percpu__o_; })',
    "/* No AMO for this kind and width: a guarded load then store on the address. */",
    "#define PERCPU__RV_XCHG_G(T, K, a, v) __extension__({ T percpu__w_ = (T)(v), percpu__o_; uintptr_t percpu__a_ = (uintptr_t)(a); " +
    "PERCPU__GUARD_ENTER percpu__o_ = PERCPU__RD_AT(T, K, percpu__a_); PERCPU__WR_AT(T, K, percpu__a_, percpu__w_); PERCPU__GUARD_EXIT percpu__o_; })",
    "#define PERCPU__RV_CMPXCHG_G(T, K, a, e, d) __extension__({ T percpu__e_ = (T)(e), percpu__d_ = (T)(d), percpu__o_; uintptr_t percpu__a_ = (uintptr_t)(a); " +
    "PERCPU__GUARD_ENTER percpu__o_ = PERCPU__RD_AT(T, K, percpu__a_); if (percpu__o_ == percpu__e_) PERCPU__WR_AT(T, K, percpu__a_, percpu__d_); PERCPU__GUARD_EXIT percpu__o_; })",
  ];
}

/**
 * The riscv64 / riscv32 block of `percpu.h` primitives for a configuration
 * (`input.config.arch` picks the width; naive builds use the generic naive block).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { riscvHeaderPrimitives } from "./riscv_header.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * riscvHeaderPrimitives(generatorInput(sdk.layout("riscv64"), resolveConfig({ arch: "riscv64" }))); // "... amoadd.d ..."
 * ```
 */
export function riscvHeaderPrimitives(input: GenInput): string {
  const xlen = input.config.arch === "riscv32" ? 4 : 8;
  const kinds = Object.keys(KIND) as LeafKind[];
  return [
    `/* ${input.config.arch}: the per-CPU base is gp (build with -mno-relax); one instruction near gp, AMOs for 32${xlen === 8 ? "/64" : ""}-bit RMW. */`,
    '#define PERCPU__BASE() __extension__({ register uintptr_t percpu__g_ __asm__("gp"); __asm__ __volatile__("" : "=r"(percpu__g_)); percpu__g_; })',
    ...kinds.flatMap((k) => kindLines(k, xlen)),
    ...sharedShapes(),
    ...dispatchLines(),
  ].join("\n");
}
