/**
 * The x86_64 primitives of `percpu.h` (see emit/percpu_h.ts): every access
 * is one `%gs`-relative instruction, as Linux's `this_cpu_*`, so none needs
 * the guard. Constant offsets are `"i"` operands printed with `%c`
 * (`movq %gs:0x8, %rax`); the `_AT` forms take the offset in a register
 * (`movq %gs:(%rdx), %rax`). Read-modify-write ops use a `%gs:` memory
 * destination (`addq %rdi, %gs:0x8`); `xchg` is an unlocked `cmpxchg` loop
 * (the `xchg` instruction is implicitly locked), `cmpxchg` has no `lock`:
 * both are atomic against interrupts and preemption on the local CPU. The
 * leaves of `atomic: true` variables carry `pka_` kind tokens whose
 * `PERCPU__X86_LOCK_` is `"lock "`: their RMW ops are `lock add %gs:`,
 * `lock cmpxchg %gs:` (atomic against other CPUs too).
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { atomicKindToken, kindToken, type LeafKind, U128_PRIMITIVE_SUFFIX } from "../sdk/c_names.ts";

/** Load mnemonic, temporary type and output constraint per kind (narrow ints load extended into 32 bits). */
export const LOAD: Record<LeafKind, readonly [string, string, string]> = {
  u8: ["movzbl", "uint32_t", "=r"],
  i8: ["movsbl", "int32_t", "=r"],
  u16: ["movzwl", "uint32_t", "=r"],
  i16: ["movswl", "int32_t", "=r"],
  u32: ["movl", "uint32_t", "=r"],
  i32: ["movl", "int32_t", "=r"],
  u64: ["movq", "uint64_t", "=r"],
  i64: ["movq", "int64_t", "=r"],
  bool: ["movb", "bool", "=q"],
  f32: ["movss", "float", "=x"],
  f64: ["movsd", "double", "=x"],
};

/** The kinds an `atomic: true` variable can have (32/64-bit integers). */
const ATOMIC_KINDS: readonly LeafKind[] = ["u32", "i32", "u64", "i64"];

/** Store mnemonic, operand-size suffix (integers) and value constraint per kind. */
export const STORE: Record<LeafKind, readonly [string, string, string]> = {
  u8: ["movb", "b", "qi"],
  i8: ["movb", "b", "qi"],
  bool: ["movb", "b", "qi"],
  u16: ["movw", "w", "ri"],
  i16: ["movw", "w", "ri"],
  u32: ["movl", "l", "ri"],
  i32: ["movl", "l", "ri"],
  u64: ["movq", "q", "er"],
  i64: ["movq", "q", "er"],
  f32: ["movss", "", "x"],
  f64: ["movsd", "", "x"],
};

/**
 * The u128 family of one offset form (`suffix` `""` or `_AT`; `mem`/`high`
 * print the low and high 8 bytes of operand n, `at` the offset operand).
 * The raw reads and writes are two `movq` (not single-copy atomic: a remote
 * reader may see half an update); the guarded read, the guarded write and
 * `cmpxchg128` are `cmpxchg16b %gs:` without `lock` (a read as a compare with
 * zero, a write as a load and a compare-exchange loop): single-copy atomic on
 * this CPU, so, like `xchg`, no guard (a migration only makes a compare fail
 * and retry on the new CPU's copy). `cmpxchg128` is Linux's this_cpu_cmpxchg128.
 */
function u128Primitives(suffix: string, mem: (n: number) => string, high: (n: number) => string, at: (o: string) => string): string[] {
  const name = (p: string): string => `PERCPU__${p}${suffix}${U128_PRIMITIVE_SUFFIX}`;
  const value = "(T)((unsigned __int128)percpu__hi_ << 64 | percpu__lo_)";
  const split = (v: string, lo: string, hi: string): string => `unsigned __int128 percpu__${v}_ = (T)(${v}); uint64_t ${lo} = (uint64_t)percpu__${v}_, ${hi} = (uint64_t)(percpu__${v}_ >> 64);`;
  return [
    `#define ${name("RD")}(T, K, o) __extension__({ uint64_t percpu__lo_, percpu__hi_; __asm__ __volatile__("movq ${mem(2)}, %0\\n\\tmovq ${high(2)}, %1" : "=&r"(percpu__lo_), "=r"(percpu__hi_) : ${at("o")} : "memory"); ${value}; })`,
    `#define ${name("WR")}(T, K, o, v) __extension__({ ${split("v", "percpu__lo_", "percpu__hi_")} __asm__ __volatile__("movq %0, ${mem(2)}\\n\\tmovq %1, ${high(2)}" : : "r"(percpu__lo_), "r"(percpu__hi_), ${at("o")} : "memory"); (void)0; })`,
    `#define ${name("RD_G")}(T, K, o) __extension__({ uint64_t percpu__lo_ = 0, percpu__hi_ = 0; __asm__ __volatile__("cmpxchg16b ${mem(4)}" : "+a"(percpu__lo_), "+d"(percpu__hi_) : "b"((uint64_t)0), "c"((uint64_t)0), ${at("o")} : "memory", "cc"); ${value}; })`,
    `#define ${name("WR_G")}(T, K, o, v) __extension__({ ${split("v", "percpu__vl_", "percpu__vh_")} uint64_t percpu__lo_, percpu__hi_; __asm__ __volatile__("movq ${mem(4)}, %0\\n\\tmovq ${high(4)}, %1\\n1:\\tcmpxchg16b ${mem(4)}\\n\\tjne 1b" : "=&a"(percpu__lo_), "=&d"(percpu__hi_) : "b"(percpu__vl_), "c"(percpu__vh_), ${at("o")} : "memory", "cc"); (void)0; })`,
    `#define ${name("CMPXCHG128")}(T, K, o, e, d) __extension__({ ${split("e", "percpu__lo_", "percpu__hi_")} ${split("d", "percpu__dl_", "percpu__dh_")} __asm__ __volatile__("cmpxchg16b ${mem(4)}" : "+a"(percpu__lo_), "+d"(percpu__hi_) : "b"(percpu__dl_), "c"(percpu__dh_), ${at("o")} : "memory", "cc"); ${value}; })`,
  ];
}

/**
 * The x86_64 block of `percpu.h` primitives for a configuration (kernel or
 * user mode; naive builds use the generic naive block).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { x86_64HeaderPrimitives } from "./x86_64_header.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * x86_64HeaderPrimitives(generatorInput(sdk.layout("x86_64"), resolveConfig({ arch: "x86_64" }))); // "... #define PERCPU__ADD ..."
 * ```
 */
export function x86_64HeaderPrimitives(input: GenInput): string {
  const self = input.layout.selfPointerOffset ?? 0;
  const kinds = Object.keys(LOAD) as LeafKind[];
  // Atomic variables' leaves (`define(..., { atomic: true })`) carry the pka_ kind tokens: the same table plus a `lock` prefix.
  const atomicKinds = ATOMIC_KINDS.map((k) => [k, atomicKindToken(k), "lock "] as const);
  const table = [...kinds.map((k) => [k, kindToken(k), ""] as const), ...atomicKinds].flatMap(([k, t, lock]) => {
    const [ld, tmp, out] = LOAD[k];
    const [st, sfx, vc] = STORE[k];
    return [
      `#define PERCPU__X86_LOCK_${t} "${lock}"`,
      `#define PERCPU__X86_LD_${t} "${ld}"`,
      `#define PERCPU__X86_TMP_${t} ${tmp}`,
      `#define PERCPU__X86_OUT_${t} "${out}"`,
      `#define PERCPU__X86_ST_${t} "${st}"`,
      `#define PERCPU__X86_SFX_${t} "${sfx}"`,
      `#define PERCPU__X86_VAL_${t} "${vc}"`,
    ];
  });
  // One definition per primitive for the constant form (%c<n> of an "i" operand) and one for the register form.
  const forms = [
    { suffix: "", mem: (n: number) => `%%gs:%c${n}`, high: (n: number) => `%%gs:8+%c${n}`, off: `"i"` },
    { suffix: "_AT", mem: (n: number) => `%%gs:(%${n})`, high: (n: number) => `%%gs:8(%${n})`, off: `"r"` },
  ];
  const prims = forms.flatMap(({ suffix, mem, high, off }) => {
    const at = (o: string) => `${off}((uintptr_t)(${o}))`;
    const rmw = (name: string, mnemonic: string) =>
      `#define PERCPU__${name}${suffix}(T, K, o, v) __asm__ __volatile__(PERCPU__X86_LOCK_##K "${mnemonic}" PERCPU__X86_SFX_##K " %0, ${mem(1)}" : : PERCPU__X86_VAL_##K((T)(v)), ${at("o")} : "memory", "cc")`;
    return [
      `#define PERCPU__RD${suffix}(T, K, o) __extension__({ PERCPU__X86_TMP_##K percpu__v_; __asm__ __volatile__(PERCPU__X86_LD_##K " ${mem(1)}, %0" : PERCPU__X86_OUT_##K(percpu__v_) : ${at("o")} : "memory"); (T)percpu__v_; })`,
      `#define PERCPU__WR${suffix}(T, K, o, v) __asm__ __volatile__(PERCPU__X86_ST_##K " %0, ${mem(1)}" : : PERCPU__X86_VAL_##K((T)(v)), ${at("o")} : "memory")`,
      `#define PERCPU__RD_G${suffix}(T, K, o) PERCPU__RD${suffix}(T, K, o)`,
      `#define PERCPU__WR_G${suffix}(T, K, o, v) PERCPU__WR${suffix}(T, K, o, v)`,
      rmw("ADD", "add"),
      rmw("SUB", "sub"),
      rmw("AND", "and"),
      rmw("OR", "or"),
      rmw("XOR", "xor"),
      `#define PERCPU__XCHG${suffix}(T, K, o, v) __extension__({ T percpu__o_; __asm__ __volatile__("mov" PERCPU__X86_SFX_##K " ${mem(2)}, %0\\n1:\\t" PERCPU__X86_LOCK_##K "cmpxchg" PERCPU__X86_SFX_##K " %1, ${mem(2)}\\n\\tjne 1b" : "=&a"(percpu__o_) : "r"((T)(v)), ${at("o")} : "memory", "cc"); percpu__o_; })`,
      `#define PERCPU__INC${suffix}(T, K, o) __asm__ __volatile__(PERCPU__X86_LOCK_##K "inc" PERCPU__X86_SFX_##K " ${mem(0)}" : : ${at("o")} : "memory", "cc")`,
      `#define PERCPU__DEC${suffix}(T, K, o) __asm__ __volatile__(PERCPU__X86_LOCK_##K "dec" PERCPU__X86_SFX_##K " ${mem(0)}" : : ${at("o")} : "memory", "cc")`,
      // xadd leaves the old value in the register; the compiler adds the operand once more (Linux's this_cpu_add_return).
      `#define PERCPU__ADD_RETURN${suffix}(T, K, o, v) __extension__({ T percpu__d_ = (T)(v), percpu__o_ = percpu__d_; __asm__ __volatile__(PERCPU__X86_LOCK_##K "xadd" PERCPU__X86_SFX_##K " %0, ${mem(1)}" : "+r"(percpu__o_) : ${at("o")} : "memory", "cc"); (T)(percpu__o_ + percpu__d_); })`,
      // try_cmpxchg: one cmpxchg; the compiler branches on its ZF (flag output), *expected gets the value found on failure.
      `#define PERCPU__TRY_CMPXCHG${suffix}(T, K, o, pe, d) __extension__({ T *percpu__pe_ = (pe); T percpu__o_ = *percpu__pe_; bool percpu__ok_; __asm__ __volatile__(PERCPU__X86_LOCK_##K "cmpxchg" PERCPU__X86_SFX_##K " %2, ${mem(3)}" : "+a"(percpu__o_), "=@ccz"(percpu__ok_) : "r"((T)(d)), ${at("o")} : "memory"); if (!percpu__ok_) *percpu__pe_ = percpu__o_; percpu__ok_; })`,
      `#define PERCPU__CMPXCHG${suffix}(T, K, o, e, d) __extension__({ T percpu__o_; __asm__ __volatile__(PERCPU__X86_LOCK_##K "cmpxchg" PERCPU__X86_SFX_##K " %2, ${mem(3)}" : "=a"(percpu__o_) : "0"((T)(e)), "r"((T)(d)), ${at("o")} : "memory", "cc"); percpu__o_; })`,
      ...u128Primitives(suffix, mem, high, at),
    ];
  });
  return [
    "/* x86_64: one %gs-relative instruction per access (Linux this_cpu_*): no guard is ever needed. */",
    `#define PERCPU__BASE() __extension__({ uintptr_t percpu__b_; __asm__ __volatile__("movq %%gs:${self}, %0" : "=r"(percpu__b_)); percpu__b_; })`,
    ...table,
    ...prims,
  ].join("\n");
}
