/**
 * The per-architecture lowerings of `percpu.rs` (see emit/percpu_rs.ts): how
 * a Rust method reaches the current CPU's copy of a leaf with inline
 * `core::arch::asm!`, in the shortest form `percpu.h` uses on the arch, with
 * the mnemonics taken from the same per-kind tables the C header is built
 * from (arch/*_header.ts):
 *
 * - x86_64: one `%gs`-relative instruction per access and per RMW op (never
 *   a guard; `lock` for `atomic: true` variables), as Linux's `this_cpu_*`;
 *   the base is the self pointer at `gs:[PERCPU_SELF_OFFSET]`. Kernel builds
 *   (`x86_64-unknown-none`, soft-float) move floats as their bits in
 *   integer registers.
 * - aarch64: `mrs x, tpidr_el1` (`tpidr_el2` with `el2`) then the access
 *   with the offset as a scaled immediate (2 instructions), `add #hi, lsl
 *   #12` below 16 MiB (3), else in a register; never one instruction, so
 *   `read_current` / `write_current` always take the guard, as percpu.h.
 * - riscv64: `l* r, off(gp)` / `s* r, off(gp)` for offsets below 2048 (one
 *   instruction, no guard); beyond, and for indexed leaves, `add t, gp, o`
 *   then a volatile access, guarded in the guarded forms, as percpu.h.
 * - loongarch64: one instruction relative to `$r21` at any offset:
 *   `ld`/`st` below 2048, `ldptr`/`stptr` (32/64-bit, 4-aligned, below
 *   32 KiB), else `ldx`/`stx` with the offset in a register; no guard.
 *
 * Read-modify-write ops on aarch64, riscv64 and loongarch64 are one atomic
 * on the address computed from the register (`core::sync::atomic`, relaxed:
 * LL/SC on ARMv8.0, `amoadd`/`amadd` and LR/SC or LL/SC loops, masked ones
 * for 8/16-bit values; with `lse` the counter ops are `stadd`/`stclr`/`stset`/
 * `steor` asm and the others `ldadd`/`swp`/`cas` under `+lse`). Which of them
 * take the guard is percpu.h's decision (emit/percpu_rs.ts `rustRmwGuarded`).
 *
 * u128 leaves (`RustIsa.u128`) take the forms of the arch's `percpu.S`
 * functions: x86_64 two `movq` for the raw reads and writes, `cmpxchg16b
 * %gs:` for `read_current` (compared with zero), `write_current` (a loop)
 * and `cmpxchg128_current` (one, unlocked), never guarded; aarch64 `ldp` /
 * `stp`, `ldxp`/`stxp` loops and the ARMv8.0 LL/SC compare-exchange (one
 * `casp` with `lse`) on the computed address, guarded; riscv64 and
 * loongarch64 (no 128-bit atomic) two 64-bit loads or stores and a load,
 * two compares and two stores, the current-CPU ones guarded.
 *
 * @module
 */
import { match } from "ts-pattern";
import { KINDS as A64_KINDS } from "../arch/aarch64_header.ts";
import { KINDS as LA_KINDS } from "../arch/loongarch64_header.ts";
import { LOAD as X86_LOAD, STORE as X86_STORE } from "../arch/x86_64_header.ts";
import { KIND as RV_KINDS } from "../arch/riscv_header.ts";
import { type LeafKind, leafKind } from "../sdk/c_names.ts";
import { fail } from "../sdk/errors.ts";
import type { LocalRmwOp, RemoteOp } from "../sdk/ops.ts";
import type { AnyPlacedLeaf, GenInput, PlacedLeaf } from "../sdk/plan.ts";
import type { U128LeafOp } from "../sdk/symbols.ts";
import type { Target } from "../sdk/targets.ts";
import type { LoweredScalarName } from "../sdk/c_names.ts";

/**
 * Where a method finds its leaf: the index parameters (long arrays) and the
 * statements computing the offset operand.
 */
export interface LeafAccess {
  /** Index parameters after `&self` (and `cpu_id`), each `, iN: usize`. */
  readonly params: string;
  /** The index arguments to pass on, each `, iN`. */
  readonly args: string;
  /** The offset from the area base when it is a constant (plain leaves), else null (indexed leaves). */
  readonly constOffset: number | null;
  /**
   * Statements before an indexed access that bind `o`, the byte offset from
   * the area base (bounds-checked); empty for plain leaves.
   */
  readonly offsetPrelude: readonly string[];
  /** The x86_64 `%gs` form: statements before the asm, the AT&T memory operand (`%gs:{off}`), its operands. */
  readonly gs: { readonly prelude: readonly string[]; readonly at: string; readonly operands: string };
}

/** The access of a leaf (constant offset, or indexed with `Self::index` checking the indices). */
export function leafAccess(leaf: AnyPlacedLeaf): LeafAccess {
  if (leaf.indices.length === 0) {
    return {
      params: "",
      args: "",
      constOffset: leaf.areaOffset,
      offsetPrelude: [],
      gs: { prelude: [], at: "%gs:{off}", operands: "off = const Self::OFFSET" },
    };
  }
  const names = leaf.indices.map((_, i) => `i${i}`);
  const params = names.map((n) => `, ${n}: usize`).join("");
  const args = names.map((n) => `, ${n}`).join("");
  const operands = "x = in(reg) x, off = const Self::OFFSET";
  const offsetPrelude = [`let o = Self::OFFSET + Self::index(${names.join(", ")});`];
  const one = leaf.indices.length === 1 ? leaf.indices[0]! : null;
  if (one !== null && [1, 2, 4, 8].includes(one.stride)) {
    // One dimension with a stride an address can scale by: percpu.h's `%gs:off(,%reg,4)`.
    return {
      params,
      args,
      constOffset: null,
      offsetPrelude,
      gs: {
        prelude: [`assert!(i0 < ${one.length}, "per-CPU array index out of range");`, "let x = i0;"],
        at: `%gs:{off}(,{x},${one.stride})`,
        operands,
      },
    };
  }
  return {
    params,
    args,
    constOffset: null,
    offsetPrelude,
    gs: { prelude: [`let x = Self::index(${names.join(", ")});`], at: "%gs:{off}({x})", operands },
  };
}

/** A lowered read or write: the statements (a read's last one is the value) and whether the guarded form must take the guard. */
export interface Lowered {
  readonly body: readonly string[];
  /** `read_current` / `write_current` wrap it in the guard (more than one instruction against the register). */
  readonly guarded: boolean;
}

/** The ops of a u128 leaf on the current CPU's copy: the raw and guarded reads and writes, `cmpxchg128_current`. */
export type U128CurrentOp = Exclude<U128LeafOp, RemoteOp>;

/** One architecture's way to the current CPU's copy, for the Rust module. */
export interface RustIsa {
  /** The register in docs: `GS_BASE`, `TPIDR_EL1`, `gp`, `$r21`. */
  readonly register: string;
  /** Statements binding `base: usize`, the current area's base. */
  base(): string[];
  /** Reads the leaf (statements ending in the value expression, of the leaf's Rust type). */
  read(leaf: PlacedLeaf, acc: LeafAccess): Lowered;
  /** Writes `val` (the leaf's Rust type) into the leaf. */
  write(leaf: PlacedLeaf, acc: LeafAccess): Lowered;
  /**
   * An integer read-modify-write op as its own instructions (x86_64: one
   * `%gs` instruction; aarch64 with `lse`: the counter ops as `stadd`/`stclr`/
   * `stset`/`steor`), or null: one atomic on the address from {@link address}.
   */
  rmw(op: LocalRmwOp, leaf: PlacedLeaf, acc: LeafAccess): string[] | null;
  /**
   * An op of a u128 leaf on the current CPU's copy, in the form of the arch's
   * `percpu.S` function (statements; a read's last one is the `u128`, from the
   * halves `lo` and `hi`), and whether it takes the guard (`read_current`,
   * `write_current`, `cmpxchg128_current`; the raw ones never do).
   */
  u128(op: U128CurrentOp, acc: LeafAccess): Lowered;
  /** Statements binding `p: usize`, the address of the leaf's current copy. */
  address(acc: LeafAccess): string[];
  /** Statements ending in the absolute address of a symbol (a `.percpu` storage symbol, at VMA = its offset). */
  symbolVma(symbol: string): string[];
}

/** The u128 of the halves `lo` and `hi` (u64 asm outputs). */
const U128_OF_HALVES = "((hi as u128) << 64) | lo as u128";

/** The halves of a u128 `v` as asm input expressions, low first. */
function halvesOf(v: string): readonly [string, string] {
  return [`${v} as u64`, `(${v} >> 64) as u64`];
}

/** The value of a register holding bits of `s` as the Rust scalar (`v` is the held integer). */
function fromHeld(s: LoweredScalarName, v: string): string {
  return match(s)
    .with("bool", () => `${v} != 0`)
    .with("f32", () => `f32::from_bits(${v} as u32)`)
    .with("f64", () => `f64::from_bits(${v} as u64)`)
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", (t) => `${v} as ${t}`)
    .exhaustive();
}

/** `val` as an integer an asm `in(reg)` operand takes (floats as bits, bool as a byte). */
function toHeld(s: LoweredScalarName): string {
  return match(s)
    .with("bool", () => "val as u8")
    .with("f32", "f64", () => "val.to_bits()")
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", () => "val")
    .exhaustive();
}

/** The Rust type of a scalar's bits (volatile accesses of float and bool leaves go through it too). */
function bitsType(s: LoweredScalarName): string {
  return match(s)
    .with("bool", () => "u8")
    .with("f32", () => "u32")
    .with("f64", () => "u64")
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", (t) => t)
    .exhaustive();
}

/** A volatile read of the leaf at address `p` (computed by the statements before), as the leaf's Rust type. */
function volatileRead(s: LoweredScalarName): string {
  const read = `core::ptr::read_volatile(core::ptr::with_exposed_provenance::<${bitsType(s)}>(p))`;
  return match(s)
    .with("bool", () => `${read} != 0`)
    .with("f32", "f64", (f) => `${f}::from_bits(${read})`)
    .with("u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", () => read)
    .exhaustive();
}

/** A volatile write of `val` into the leaf at address `p`. */
function volatileWrite(s: LoweredScalarName): string {
  return `core::ptr::write_volatile(core::ptr::with_exposed_provenance_mut::<${bitsType(s)}>(p), ${toHeld(s)});`;
}

/** The C temporary type of an x86_64 load (arch/x86_64_header.ts `LOAD`) as the Rust type of the asm output. */
const X86_TMP: Readonly<Record<string, string>> = {
  uint32_t: "u32",
  int32_t: "i32",
  uint64_t: "u64",
  int64_t: "i64",
  bool: "u8",
  float: "f32",
  double: "f64",
};

/** Per operand-size suffix of `arch/x86_64_header.ts` (`STORE`): the operand modifier of a general register and the accumulator. */
const X86_SUFFIX: Readonly<Record<string, { readonly mod: string; readonly acc: string }>> = {
  b: { mod: "", acc: "al" },
  w: { mod: ":x", acc: "ax" },
  l: { mod: ":e", acc: "eax" },
  q: { mod: "", acc: "rax" },
};

/**
 * The `x86_64` lowering (GS_BASE; hosted and kernel), see the module docs:
 * AT&T asm (`options(att_syntax)`) with the mnemonics and operand sizes of
 * percpu.h's tables (`LOAD`, `STORE` of arch/x86_64_header.ts).
 */
function x86_64Isa(input: GenInput): RustIsa {
  const self = input.layout.selfPointerOffset ?? 0;
  // Kernel builds (x86_64-unknown-none) are soft-float: floats move as the bits of the same-sized integer.
  const softFloat = input.config.mode === "kernel";
  const kindOf = (leaf: PlacedLeaf): LeafKind => {
    const k = leafKind(leaf.scalar, 8);
    return softFloat && k === "f32" ? "u32" : softFloat && k === "f64" ? "u64" : k;
  };
  const suffix = (kind: LeafKind): { readonly sfx: string; readonly mod: string; readonly acc: string } => {
    const sfx = X86_STORE[kind][1] || (kind === "f32" ? "l" : "q");
    return { sfx, ...X86_SUFFIX[sfx]! };
  };
  const cls = (constraint: string): string => (constraint.includes("x") ? "xmm_reg" : constraint.includes("q") ? "reg_byte" : "reg");
  const base = (): string[] => [
    "let base: usize;",
    `core::arch::asm!("movq %gs:{s}, {0}", out(reg) base, s = const ${self}, options(att_syntax, nostack, preserves_flags, readonly));`,
  ];
  return {
    register: "GS_BASE",
    base,
    read(leaf, acc) {
      const kind = kindOf(leaf);
      const [ld, tmpC, constraint] = X86_LOAD[kind];
      const tmp = X86_TMP[tmpC]!;
      const c = cls(constraint);
      const mod = c === "reg" && (tmp === "u32" || tmp === "i32") ? ":e" : "";
      const value = tmp === "f32" || tmp === "f64" ? "v" : fromHeld(leaf.scalar, "v");
      return {
        body: [
          ...acc.gs.prelude,
          `let v: ${tmp};`,
          `core::arch::asm!("${ld} ${acc.gs.at}, {0${mod}}", out(${c}) v, ${acc.gs.operands}, options(att_syntax, nostack, preserves_flags, readonly));`,
          value,
        ],
        guarded: false,
      };
    },
    write(leaf, acc) {
      const kind = kindOf(leaf);
      const [st, , constraint] = X86_STORE[kind];
      const c = cls(constraint);
      const mod = c === "xmm_reg" ? "" : suffix(kind).mod;
      const value = c === "xmm_reg" ? "val" : toHeld(leaf.scalar);
      return {
        body: [
          ...acc.gs.prelude,
          `core::arch::asm!("${st} {0${mod}}, ${acc.gs.at}", in(${c}) ${value}, ${acc.gs.operands}, options(att_syntax, nostack, preserves_flags));`,
        ],
        guarded: false,
      };
    },
    rmw(op, leaf, acc) {
      const kind = kindOf(leaf);
      const { sfx, mod, acc: ax } = suffix(kind);
      const c = cls(X86_STORE[kind][2]);
      const lock = leaf.atomic === true ? "lock " : "";
      const mem = acc.gs.at;
      const opts = "options(att_syntax, nostack)";
      const arith = (mnemonic: string): string[] => [
        ...acc.gs.prelude,
        `unsafe { core::arch::asm!("${lock}${mnemonic}${sfx} {0${mod}}, ${mem}", in(${c}) val, ${acc.gs.operands}, ${opts}) }`,
      ];
      const t = leaf.scalar;
      const unary = (mnemonic: string): string[] => [
        ...acc.gs.prelude,
        `unsafe { core::arch::asm!("${lock}${mnemonic}${sfx} ${mem}", ${acc.gs.operands}, ${opts}) }`,
      ];
      // xadd leaves the old value in the register; the new one is the old plus the operand (Linux's this_cpu_add_return).
      const xadd = (operand: string): string[] => [
        ...acc.gs.prelude,
        `let d: ${t} = ${operand};`,
        `let old: ${t};`,
        `unsafe { core::arch::asm!("${lock}xadd${sfx} {v${mod}}, ${mem}", v = inout(${c}) d => old, ${acc.gs.operands}, ${opts}) }`,
        "old.wrapping_add(d)",
      ];
      return match(op)
        .returnType<string[]>()
        .with("add_current", () => arith("add"))
        .with("sub_current", () => arith("sub"))
        .with("and_current", () => arith("and"))
        .with("or_current", () => arith("or"))
        .with("xor_current", () => arith("xor"))
        .with("xchg_current", () => [
          ...acc.gs.prelude,
          `let old: ${t};`,
          // An unlocked cmpxchg loop, as percpu.h (the xchg instruction is implicitly locked).
          `unsafe { core::arch::asm!("mov${sfx} ${mem}, %${ax}", "2:", "${lock}cmpxchg${sfx} {v${mod}}, ${mem}", "jne 2b", v = in(${c}) val, ${acc.gs.operands}, out("${ax}") old, ${opts}) }`,
          "old",
        ])
        .with("cmpxchg_current", () => [
          ...acc.gs.prelude,
          `let old: ${t};`,
          `unsafe { core::arch::asm!("${lock}cmpxchg${sfx} {d${mod}}, ${mem}", d = in(${c}) desired, ${acc.gs.operands}, inout("${ax}") expected => old, ${opts}) }`,
          "old",
        ])
        .with("inc_current", () => unary("inc"))
        .with("dec_current", () => unary("dec"))
        .with("add_return_current", () => xadd("val"))
        .with("sub_return_current", () => xadd("val.wrapping_neg()"))
        .with("inc_return_current", () => xadd("1"))
        .with("dec_return_current", () => xadd(`(1 as ${t}).wrapping_neg()`))
        .with("try_cmpxchg_current", () => [
          ...acc.gs.prelude,
          `let found: ${t};`,
          "let ok: u8;",
          // cmpxchg sets ZF on success (percpu.h takes it as a flag output; Rust asm has none, so `sete`).
          `unsafe { core::arch::asm!("${lock}cmpxchg${sfx} {d${mod}}, ${mem}", "sete {ok}", d = in(${c}) desired, ok = out(reg_byte) ok, ${acc.gs.operands}, inout("${ax}") *expected => found, ${opts}) }`,
          "if ok == 0 {",
          "    *expected = found;",
          "}",
          "ok != 0",
        ])
        .exhaustive();
    },
    u128(op, acc) {
      // The halves are `%gs:off` and `%gs:off+8`. An indexed leaf's byte offset (a u128 stride is never a scale) is
      // in rsi: a `reg` operand may be given rbx, which the cmpxchg16b forms swap out.
      const indexed = acc.constOffset === null;
      const [lo, hi] = indexed ? ["%gs:{off}(%rsi)", "%gs:{off}+8(%rsi)"] : ["%gs:{off}", "%gs:{off}+8"];
      const at = indexed ? 'in("rsi") x, off = const Self::OFFSET' : "off = const Self::OFFSET";
      const outs = "lo = out(reg) lo, hi = out(reg) hi";
      const read = (asm: string, operands: string, opts: string): string[] => [
        ...acc.gs.prelude,
        "let lo: u64;",
        "let hi: u64;",
        `core::arch::asm!(${asm}, ${operands}, ${at}, options(att_syntax, ${opts}));`,
        U128_OF_HALVES,
      ];
      const [vlo, vhi] = halvesOf("val");
      const [elo, ehi] = halvesOf("expected");
      const [dlo, dhi] = halvesOf("desired");
      // cmpxchg16b stores %rcx:%rbx; rbx is LLVM's, so the low half comes in a scratch register swapped into rbx
      // and rbx is restored from it after. Unlocked (Linux's this_cpu_cmpxchg128), never guarded: the single
      // cmpxchg16b is atomic against interrupts, and a migration only makes the compare of a loop fail and retry.
      const rbx = (inner: readonly string[]): string => ['"xchgq {b}, %rbx"', ...inner, '"movq {b}, %rbx"'].join(", ");
      return match(op)
        .returnType<Lowered>()
        .with("read_current_raw", () => ({ body: read(`"movq ${lo}, {lo}", "movq ${hi}, {hi}"`, outs, "nostack, preserves_flags, readonly"), guarded: false }))
        .with("write_current_raw", () => ({
          body: [
            ...acc.gs.prelude,
            `core::arch::asm!("movq {lo}, ${lo}", "movq {hi}, ${hi}", lo = in(reg) ${vlo}, hi = in(reg) ${vhi}, ${at}, options(att_syntax, nostack, preserves_flags));`,
          ],
          guarded: false,
        }))
        // An atomic read: a compare with zero that stores zero only over zero.
        .with("read_current", () => ({
          body: read(rbx([`"cmpxchg16b ${lo}"`]), 'b = inout(reg) 0u64 => _, inout("rax") 0u64 => lo, inout("rdx") 0u64 => hi, in("rcx") 0u64', "nostack"),
          guarded: false,
        }))
        .with("write_current", () => ({
          body: [
            ...acc.gs.prelude,
            `core::arch::asm!(${rbx([`"movq ${lo}, %rax"`, `"movq ${hi}, %rdx"`, '"2:"', `"cmpxchg16b ${lo}"`, '"jne 2b"'])}, b = inout(reg) ${vlo} => _, in("rcx") ${vhi}, out("rax") _, out("rdx") _, ${at}, options(att_syntax, nostack));`,
          ],
          guarded: false,
        }))
        .with("cmpxchg128_current", () => ({
          body: read(rbx([`"cmpxchg16b ${lo}"`]), `b = inout(reg) ${dlo} => _, in("rcx") ${dhi}, inout("rax") ${elo} => lo, inout("rdx") ${ehi} => hi`, "nostack"),
          guarded: false,
        }))
        .exhaustive();
    },
    address(acc) {
      return [...acc.offsetPrelude, ...base(), `let p = base + ${acc.constOffset === null ? "o" : "Self::OFFSET"};`];
    },
    symbolVma(symbol) {
      return [
        "let value: usize;",
        `unsafe { core::arch::asm!("movabsq ${"$"}{VAR}, {0}", out(reg) value, VAR = sym ${symbol}, options(att_syntax, pure, nomem, nostack, preserves_flags)) }`,
        "value",
      ];
    },
  };
}

/** The integer type an asm output holding a loaded `kind` has (the load's extension kept). */
function heldType(kind: LeafKind, signedLoad: boolean, wide: boolean): string {
  return match(kind)
    .with("u64", "i64", "f64", () => "u64")
    .with("u8", "u16", "u32", "i8", "i16", "i32", "bool", "f32", () => (wide ? (signedLoad ? "i64" : "u64") : signedLoad ? "i32" : "u32"))
    .exhaustive();
}

/** The `aarch64` lowering (TPIDR_EL1, TPIDR_EL2 with `el2`). */
function aarch64Isa(input: GenInput): RustIsa {
  const reg = input.config.features.el2 ? "tpidr_el2" : "tpidr_el1";
  const pointerBytes = 8;
  const base = (): string[] => [
    "let base: usize;",
    `core::arch::asm!("mrs {0}, ${reg}", out(reg) base, options(nomem, nostack, preserves_flags));`,
  ];
  /** The asm lines and operands of an access at the leaf's offset: `[{b}, #off]`, `add lsl #12`, or a register offset. */
  const addressing = (leaf: PlacedLeaf, acc: LeafAccess): { readonly pre: readonly string[]; readonly lines: string[]; readonly mem: string; readonly ops: string } => {
    const off = acc.constOffset;
    const size = leaf.size;
    const mrs = `"mrs {b}, ${reg}"`;
    if (off !== null && off % size === 0 && off / size < 4096) return { pre: [], lines: [mrs], mem: `[{b}, #${off}]`, ops: "" };
    if (off !== null && off < 0x1000000 && (off & 4095) % size === 0) {
      return { pre: [], lines: [mrs, `"add {b}, {b}, #${off >> 12}, lsl #12"`], mem: `[{b}, #${off & 4095}]`, ops: "" };
    }
    return {
      pre: off === null ? acc.offsetPrelude : [`let o: usize = ${off};`],
      lines: [mrs],
      mem: "[{b}, {o}]",
      ops: ", o = in(reg) o",
    };
  };
  return {
    register: reg.toUpperCase(),
    base,
    read(leaf, acc) {
      const kind = leafKind(leaf.scalar, pointerBytes);
      const { ld, r } = A64_KINDS[kind];
      const signed = ld.startsWith("ldrs");
      const a = addressing(leaf, acc);
      const held = heldType(kind, signed, false);
      return {
        body: [
          ...a.pre,
          `let v: ${held};`,
          `core::arch::asm!(${[...a.lines, `"${ld} {v:${r}}, ${a.mem}"`].join(", ")}, b = out(reg) _, v = out(reg) v${a.ops}, options(nostack, preserves_flags, readonly));`,
          fromHeld(leaf.scalar, "v"),
        ],
        guarded: true,
      };
    },
    write(leaf, acc) {
      const kind = leafKind(leaf.scalar, pointerBytes);
      const { st, r } = A64_KINDS[kind];
      const a = addressing(leaf, acc);
      return {
        body: [
          ...a.pre,
          `core::arch::asm!(${[...a.lines, `"${st} {v:${r}}, ${a.mem}"`].join(", ")}, b = out(reg) _, v = in(reg) ${toHeld(leaf.scalar)}${a.ops}, options(nostack, preserves_flags));`,
        ],
        guarded: true,
      };
    },
    rmw(op, leaf, acc) {
      if (!input.config.features.lse) return null;
      // lse: the counter ops as percpu.h's lse forms, the store-only atomics (stadd/stclr/stset/steor; LLVM would
      // write `ldadd` into a dead register); the others are core atomics, which +lse makes ldadd, swp and cas.
      const { ex, r } = A64_KINDS[leafKind(leaf.scalar, pointerBytes)];
      const t = leaf.scalar;
      const store = (mnemonic: string, operand: string): string[] => [
        "unsafe {",
        ...indent1([
          ...acc.offsetPrelude,
          ...base(),
          `let p = base + ${acc.constOffset === null ? "o" : "Self::OFFSET"};`,
          `let v: ${t} = ${operand};`,
          `core::arch::asm!("${mnemonic}${ex ?? ""} {v:${r}}, [{p}]", p = in(reg) p, v = in(reg) v, options(nostack, preserves_flags));`,
        ]),
        "}",
      ];
      return match(op)
        .returnType<string[] | null>()
        .with("add_current", () => store("stadd", "val"))
        .with("sub_current", () => store("stadd", "val.wrapping_neg()"))
        .with("and_current", () => store("stclr", "!val"))
        .with("or_current", () => store("stset", "val"))
        .with("xor_current", () => store("steor", "val"))
        .with("inc_current", () => store("stadd", "1"))
        .with("dec_current", () => store("stadd", `(1 as ${t}).wrapping_neg()`))
        .with("xchg_current", "cmpxchg_current", "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", () => null)
        .exhaustive();
    },
    u128(op, acc) {
      // On the address computed from the register (ldxp/stxp/casp take no offset), as percpu.S; the current-CPU
      // forms take the guard (mrs + the access are several instructions, the value must be this CPU's).
      const at = [...acc.offsetPrelude, ...base(), `let p = base + ${acc.constOffset === null ? "o" : "Self::OFFSET"};`];
      const asm = (lines: readonly string[], operands: string, opts: string): string =>
        `core::arch::asm!(${lines.map((l) => JSON.stringify(l)).join(", ")}, p = in(reg) p, ${operands}, options(${opts}));`;
      const read = (lines: readonly string[], operands: string, opts: string): string[] => [...at, "let lo: u64;", "let hi: u64;", asm(lines, operands, opts), U128_OF_HALVES];
      const [vlo, vhi] = halvesOf("val");
      const [elo, ehi] = halvesOf("expected");
      const [dlo, dhi] = halvesOf("desired");
      const outs = "lo = out(reg) lo, hi = out(reg) hi";
      return match(op)
        .returnType<Lowered>()
        .with("read_current_raw", () => ({ body: read(["ldp {lo}, {hi}, [{p}]"], outs, "nostack, preserves_flags, readonly"), guarded: false }))
        .with("write_current_raw", () => ({ body: [...at, asm(["stp {lo}, {hi}, [{p}]"], `lo = in(reg) ${vlo}, hi = in(reg) ${vhi}`, "nostack, preserves_flags")], guarded: false }))
        // A 128-bit ldxp is single-copy atomic only with a successful stxp after it: the read stores back what it loaded.
        .with("read_current", () => ({
          body: read(["2:", "ldxp {lo}, {hi}, [{p}]", "stxp {s:w}, {lo}, {hi}, [{p}]", "cbnz {s:w}, 2b"], `${outs}, s = out(reg) _`, "nostack, preserves_flags"),
          guarded: true,
        }))
        .with("write_current", () => ({
          body: [
            ...at,
            asm(["2:", "ldxp {t0}, {t1}, [{p}]", "stxp {s:w}, {lo}, {hi}, [{p}]", "cbnz {s:w}, 2b"], `lo = in(reg) ${vlo}, hi = in(reg) ${vhi}, t0 = out(reg) _, t1 = out(reg) _, s = out(reg) _`, "nostack, preserves_flags"),
          ],
          guarded: true,
        }))
        .with("cmpxchg128_current", () => ({
          body: input.config.features.lse
            // casp compares and receives in an even/odd register pair and stores another: explicit x0..x3.
            ? read(["casp x0, x1, x2, x3, [{p}]"], `inout("x0") ${elo} => lo, inout("x1") ${ehi} => hi, in("x2") ${dlo}, in("x3") ${dhi}`, "nostack, preserves_flags")
            // ARMv8.0: on a miss the value found is stored back (the 128-bit ldxp is atomic only with a successful stxp).
            : read(
              ["2:", "ldxp {lo}, {hi}, [{p}]", "cmp {lo}, {e0}", "ccmp {hi}, {e1}, #0, eq", "b.ne 3f", "stxp {s:w}, {d0}, {d1}, [{p}]", "cbnz {s:w}, 2b", "b 4f", "3:", "stxp {s:w}, {lo}, {hi}, [{p}]", "cbnz {s:w}, 2b", "4:"],
              `e0 = in(reg) ${elo}, e1 = in(reg) ${ehi}, d0 = in(reg) ${dlo}, d1 = in(reg) ${dhi}, ${outs}, s = out(reg) _`,
              "nostack",
            ),
          guarded: true,
        }))
        .exhaustive();
    },
    address(acc) {
      return [...acc.offsetPrelude, ...base(), `let p = base + ${acc.constOffset === null ? "o" : "Self::OFFSET"};`];
    },
    symbolVma(symbol) {
      // abs_g1 checks that the address fits 32 bits (the seed's lone abs_g0_nc is silently wrong past 64 KiB).
      return [
        "let value: usize;",
        `unsafe { core::arch::asm!("movz {0}, #:abs_g1:{VAR}", "movk {0}, #:abs_g0_nc:{VAR}", out(reg) value, VAR = sym ${symbol}, options(pure, nomem, nostack, preserves_flags)) }`,
        "value",
      ];
    },
  };
}

/** Indents lines by one level of four spaces. */
function indent1(lines: readonly string[]): string[] {
  return lines.map((l) => (l === "" ? l : "    " + l));
}

/** Largest signed 12-bit displacement (riscv and loongarch loads and stores, `addi`). */
const SI12_MAX = 2047;

/**
 * The u128 ops of an arch without a 128-bit atomic (riscv64, loongarch64), as its percpu.S functions and Linux's
 * asm-generic `this_cpu_cmpxchg128`: two 64-bit loads / stores, and `cmpxchg128_current` a load, two compares and
 * two stores; the current-CPU forms take the guard. `ld` / `st` are the mnemonics, `at` the asm lines' statements
 * and memory operands of each half (with the operands they need).
 */
function u128Pairs(op: U128CurrentOp, ld: string, st: string, at: { readonly pre: readonly string[]; readonly mem: readonly [string, string]; readonly ops: string }): Lowered {
  const [m0, m1] = at.mem;
  const asm = (lines: readonly string[], operands: string, opts: string): string =>
    `core::arch::asm!(${lines.map((l) => JSON.stringify(l)).join(", ")}, ${operands}${at.ops}, options(${opts}));`;
  const read = (lines: readonly string[], operands: string, opts: string): string[] => [...at.pre, "let lo: u64;", "let hi: u64;", asm(lines, operands, opts), U128_OF_HALVES];
  const [vlo, vhi] = halvesOf("val");
  const [elo, ehi] = halvesOf("expected");
  const [dlo, dhi] = halvesOf("desired");
  const loads = [`${ld} {lo}, ${m0}`, `${ld} {hi}, ${m1}`];
  const stores = [`${st} {lo}, ${m0}`, `${st} {hi}, ${m1}`];
  const outs = "lo = out(reg) lo, hi = out(reg) hi";
  const write = (): string[] => [...at.pre, asm(stores, `lo = in(reg) ${vlo}, hi = in(reg) ${vhi}`, "nostack, preserves_flags")];
  return match(op)
    .returnType<Lowered>()
    .with("read_current_raw", () => ({ body: read(loads, outs, "nostack, preserves_flags, readonly"), guarded: false }))
    .with("read_current", () => ({ body: read(loads, outs, "nostack, preserves_flags, readonly"), guarded: true }))
    .with("write_current_raw", () => ({ body: write(), guarded: false }))
    .with("write_current", () => ({ body: write(), guarded: true }))
    .with("cmpxchg128_current", () => ({
      body: read(
        [...loads, "bne {lo}, {e0}, 2f", "bne {hi}, {e1}, 2f", `${st} {d0}, ${m0}`, `${st} {d1}, ${m1}`, "2:"],
        `e0 = in(reg) ${elo}, e1 = in(reg) ${ehi}, d0 = in(reg) ${dlo}, d1 = in(reg) ${dhi}, ${outs}`,
        "nostack, preserves_flags",
      ),
      guarded: true,
    }))
    .exhaustive();
}

/** The `riscv64` lowering (gp). */
function riscv64Isa(): RustIsa {
  const pointerBytes = 8;
  const base = (): string[] => ["let base: usize;", 'core::arch::asm!("mv {0}, gp", out(reg) base, options(nomem, nostack, preserves_flags));'];
  const near = (acc: LeafAccess): boolean => acc.constOffset !== null && acc.constOffset <= SI12_MAX;
  const address = (acc: LeafAccess): string[] =>
    near(acc)
      ? ["let p: usize;", `core::arch::asm!("addi {p}, gp, {off}", p = out(reg) p, off = const ${acc.constOffset}, options(nomem, nostack, preserves_flags));`]
      : [
        ...(acc.constOffset === null ? acc.offsetPrelude : [`let o: usize = ${acc.constOffset};`]),
        "let p: usize;",
        'core::arch::asm!("add {p}, gp, {o}", p = out(reg) p, o = in(reg) o, options(nomem, nostack, preserves_flags));',
      ];
  return {
    register: "gp",
    base,
    read(leaf, acc) {
      if (!near(acc)) return { body: [...address(acc), volatileRead(leaf.scalar)], guarded: true };
      const kind = leafKind(leaf.scalar, pointerBytes);
      const { ld } = RV_KINDS[kind];
      const held = heldType(kind, ld === "lb" || ld === "lh" || ld === "lw", true);
      return {
        body: [
          `let v: ${held};`,
          `core::arch::asm!("${ld} {v}, {off}(gp)", v = out(reg) v, off = const ${acc.constOffset}, options(nostack, preserves_flags, readonly));`,
          fromHeld(leaf.scalar, "v"),
        ],
        guarded: false,
      };
    },
    write(leaf, acc) {
      if (!near(acc)) return { body: [...address(acc), volatileWrite(leaf.scalar)], guarded: true };
      const { st } = RV_KINDS[leafKind(leaf.scalar, pointerBytes)];
      return {
        body: [
          `core::arch::asm!("${st} {v}, {off}(gp)", v = in(reg) ${toHeld(leaf.scalar)}, off = const ${acc.constOffset}, options(nostack, preserves_flags));`,
        ],
        guarded: false,
      };
    },
    rmw: () => null,
    u128(op, acc) {
      // Both halves off gp when the second's displacement is still 12-bit, else on the computed address.
      const off = acc.constOffset;
      const at = off !== null && off + 8 <= SI12_MAX
        ? { pre: [], mem: [`${off}(gp)`, `${off + 8}(gp)`] as const, ops: "" }
        : { pre: address(acc), mem: ["0({p})", "8({p})"] as const, ops: ", p = in(reg) p" };
      return u128Pairs(op, "ld", "sd", at);
    },
    address,
    symbolVma(symbol) {
      return [
        "let value: usize;",
        `unsafe { core::arch::asm!("lui {0}, %hi({VAR})", "addi {0}, {0}, %lo({VAR})", out(reg) value, VAR = sym ${symbol}, options(pure, nomem, nostack, preserves_flags)) }`,
        "value",
      ];
    },
  };
}

/** The `loongarch64` lowering ($r21). */
function loongarch64Isa(): RustIsa {
  const pointerBytes = 8;
  const base = (): string[] => [
    "let base: usize;",
    'core::arch::asm!("move {0}, $r21", out(reg) base, options(nomem, nostack, preserves_flags));',
  ];
  /** The form of an access: `ld`/`st` (si12), `ldptr`/`stptr` (si14 << 2, 32/64-bit), or `ldx`/`stx` with `o`. */
  const form = (leaf: PlacedLeaf, acc: LeafAccess): "i" | "ptr" | "x" => {
    const off = acc.constOffset;
    if (off === null) return "x";
    if (off <= SI12_MAX) return "i";
    return leaf.size >= 4 && off % 4 === 0 && off <= 32764 ? "ptr" : "x";
  };
  const pre = (acc: LeafAccess): readonly string[] => acc.constOffset === null ? acc.offsetPrelude : [`let o: usize = ${acc.constOffset};`];
  const address = (acc: LeafAccess): string[] => {
    const off = acc.constOffset;
    if (off !== null && off <= SI12_MAX) {
      return ["let p: usize;", `core::arch::asm!("addi.d {p}, $r21, {off}", p = out(reg) p, off = const ${off}, options(nomem, nostack, preserves_flags));`];
    }
    return [...pre(acc), "let p: usize;", 'core::arch::asm!("add.d {p}, $r21, {o}", p = out(reg) p, o = in(reg) o, options(nomem, nostack, preserves_flags));'];
  };
  return {
    register: "$r21",
    base,
    read(leaf, acc) {
      const kind = leafKind(leaf.scalar, pointerBytes);
      const { ld, st } = LA_KINDS[kind];
      const held = heldType(kind, !ld.endsWith("u") && ld !== "d", true);
      const f = form(leaf, acc);
      const insn = f === "i" ? `ld.${ld} {v}, $r21, {off}` : f === "ptr" ? `ldptr.${st} {v}, $r21, {off}` : `ldx.${ld} {v}, $r21, {o}`;
      const ops = f === "x" ? "o = in(reg) o" : `off = const ${acc.constOffset}`;
      return {
        body: [
          ...(f === "x" ? pre(acc) : []),
          `let v: ${held};`,
          `core::arch::asm!("${insn}", v = out(reg) v, ${ops}, options(nostack, preserves_flags, readonly));`,
          fromHeld(leaf.scalar, "v"),
        ],
        guarded: false,
      };
    },
    write(leaf, acc) {
      const { st } = LA_KINDS[leafKind(leaf.scalar, pointerBytes)];
      const f = form(leaf, acc);
      const insn = f === "i" ? `st.${st} {v}, $r21, {off}` : f === "ptr" ? `stptr.${st} {v}, $r21, {off}` : `stx.${st} {v}, $r21, {o}`;
      const ops = f === "x" ? "o = in(reg) o" : `off = const ${acc.constOffset}`;
      return {
        body: [
          ...(f === "x" ? pre(acc) : []),
          `core::arch::asm!("${insn}", v = in(reg) ${toHeld(leaf.scalar)}, ${ops}, options(nostack, preserves_flags));`,
        ],
        guarded: false,
      };
    },
    rmw: () => null,
    u128(op, acc) {
      // Both halves off $r21 when the second's displacement is still 12-bit, else on the computed address.
      const off = acc.constOffset;
      const at = off !== null && off + 8 <= SI12_MAX
        ? { pre: [], mem: [`$r21, ${off}`, `$r21, ${off + 8}`] as const, ops: "" }
        : { pre: address(acc), mem: ["{p}, 0", "{p}, 8"] as const, ops: ", p = in(reg) p" };
      return u128Pairs(op, "ld.d", "st.d", at);
    },
    address,
    symbolVma(symbol) {
      return [
        "let value: usize;",
        `unsafe { core::arch::asm!("lu12i.w {0}, %abs_hi20({VAR})", "ori {0}, {0}, %abs_lo12({VAR})", out(reg) value, VAR = sym ${symbol}, options(pure, nomem, nostack, preserves_flags)) }`,
        "value",
      ];
    },
  };
}

/**
 * The Rust lowering of a generation's arch; `options_invalid` for the
 * targets percpu.rs does not support (riscv32: the module is 64-bit only) and
 * for user mode outside x86_64.
 */
export function rustIsaFor(input: GenInput): RustIsa {
  const arch: Target = input.config.arch;
  if (input.config.mode === "user" && arch !== "x86_64") {
    fail("options_invalid", ["mode"], `Cannot generate percpu.rs for ${arch} in user mode: only x86_64 has a hosted mode`);
  }
  return match(arch)
    .returnType<RustIsa>()
    .with("x86_64", () => x86_64Isa(input))
    .with("aarch64", () => aarch64Isa(input))
    .with("riscv64", () => riscv64Isa())
    .with("loongarch64", () => loongarch64Isa())
    .with("riscv32", () =>
      fail(
        "options_invalid",
        ["arch"],
        "Cannot generate percpu.rs for riscv32: the Rust module supports the 64-bit targets (x86_64, aarch64, riscv64, loongarch64)",
      ))
    .exhaustive();
}
