/**
 * The loongarch64 backend (kernel mode, lp64s): the per-CPU register is
 * `$r21`, which the LoongArch psABI reserves and LLVM never allocates
 * (`LoongArchRegisterInfo::getReservedRegs` marks R21 non-allocatable; our
 * tests prove it under full register pressure), so kernel C can keep it for us.
 *
 * Code shapes, chosen per access from the known offset:
 * - a read or write is ONE instruction relative to `$r21`: `ld.d r, $r21, off`
 *   (off < 2048), `ldptr.d/w r, $r21, off` (32/64-bit, off % 4 == 0, < 32 KiB),
 *   otherwise the CPU-independent offset is built first and the access is still
 *   a single `ldx.d r, $r21, t` (`lu12i.w t, hi20; ori t, t, lo12; ldx.d`: 3).
 *   Indexed leaves compute `off + i * stride` the same way. What is computed
 *   first is an offset, never an address: `$r21` is read only by the access
 *   itself, so a migration before it changes nothing and these ops take no guard
 *   (Linux' LoongArch `__percpu_read` is the same single `ldx`).
 * - integer RMW ops are atomic on the computed address `$r21 + off`: `amadd`,
 *   `amand`, `amor`, `amxor`, `amswap` (`.w`/`.d`) and an `ll`/`sc` loop for
 *   cmpxchg. A migration between the address computation and the atomic can only
 *   make the update land (atomically, never lost) in the area of the CPU the code
 *   ran on a moment earlier, so they take no hook either. 8/16-bit RMW ops (no
 *   byte/halfword AM* before LA v1.1): with `preempt`/`irq` on, a masked
 *   `ll.w`/`sc.w` loop on the aligned word; with both off, plain load/op/store.
 * - `reset_to_init` (a copy loop) is the one multi-instruction sequence that
 *   needs the guard: with `preempt`/`irq` it calls the hooks (`$ra` and the
 *   flags saved in a 16-byte frame).
 *
 * `naive` (one CPU) addresses `__percpu_areas + off` PC-relatively
 * (`pcalau12i` + `%pc_lo12`) and never touches `$r21`. 32-bit values (including
 * `uint32_t` and soft-float `float`) are returned sign-extended as the psABI
 * requires (`ld.w`, never `ld.wu`).
 *
 * Lowerings build the instruction IR of `asm.ts` from typed registers (each
 * instruction records the registers it writes and reads; `$zero` is neither)
 * and render it once: `percpu.S` through `renderFunction`, the inline asm of
 * `PERCPU_INLINE` one item per C string, with `%[name]` operand placeholders
 * as registers, so its scratch outputs come from the defs.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail, type PathSegment, quotePath } from "../sdk/errors.ts";
import { cTypeName, GUARD_HOOKS, type IndexDim, INTEGER_OPS, leafFunction, leafOps, type LeafOp, type LoweredLeafOp, varFunction } from "../sdk/symbols.ts";
import type { VarLayout } from "../sdk/layout.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { type AsmItem, definedRegs, inlineTemplate, insn, label, renderFunction } from "./asm.ts";
import { type ArithmeticOp, isRemoteOp, LEAF_OP_SPECS, type LocalRmwOp, REMOTE_RMW_LIKE } from "../sdk/ops.ts";
import { loongarch64HeaderPrimitives } from "./loongarch64_header.ts";
import type { GenInput, PlacedLeaf, PlacedU128Leaf } from "../sdk/plan.ts";
import type { ArchBackend } from "./backend.ts";
import { cPrototype, leafSignature } from "./c_types.ts";

/** The per-CPU register. */
export const LOONGARCH64_PERCPU_REG = "$r21";

/**
 * clang-19 flags for kernel-mode C and asm. `-mfpu=none` makes lp64s really
 * soft-float: without it clang-19 still enables `+f,+d,+lsx` and emits FPU/LSX
 * instructions (which trap while EUEN.FPE is off). Linker relaxation is off by
 * default in clang-19 for LoongArch (`-mno-relax` is reported unused and would
 * break `-Werror`), and no generated instruction carries `R_LARCH_RELAX`.
 */
export const LOONGARCH64_CLANG_FLAGS: readonly string[] = ["--target=loongarch64-unknown-none-elf", "-mabi=lp64s", "-mfpu=none"];

/** Largest end offset (exclusive) of any byte an accessor reaches: offsets up to 2 GiB. */
export const LOONGARCH64_MAX_REACH = 2 ** 31;

// ---------------------------------------------------------------------------
// Registers and instructions (IR)

/** A general-purpose register by its psABI name (`$r21` keeps its number: it has no ABI role but ours). */
type Gpr =
  | "$zero" | "$ra" | "$tp" | "$sp"
  | "$a0" | "$a1" | "$a2" | "$a3" | "$a4" | "$a5" | "$a6" | "$a7"
  | "$t0" | "$t1" | "$t2" | "$t3" | "$t4" | "$t5" | "$t6" | "$t7" | "$t8"
  | "$r21" | "$fp"
  | "$s0" | "$s1" | "$s2" | "$s3" | "$s4" | "$s5" | "$s6" | "$s7" | "$s8";

/** An inline-asm operand (`%[t0]`, `%[v]`) standing for a register the C compiler allocates. */
type Placeholder = `%[${string}]`;

/** A register the IR records: a real one in `percpu.S`, an operand placeholder in `PERCPU_INLINE`. */
type Reg = Gpr | Placeholder;

/** One item of a loongarch64 instruction list. */
type Item = AsmItem<Reg>;

/** An immediate operand: a number, or a relocation such as `%pc_lo12(sym)`. */
type Imm = number | string;

/** `$zero` reads as 0 and ignores writes: it is never a def or a use. */
const live = (regs: readonly Reg[]): Reg[] => regs.filter((r) => r !== "$zero");

/** `op rd, rj, rk`: writes `rd`, reads `rj` and `rk`. */
function rrr(op: string, rd: Reg, rj: Reg, rk: Reg): Item {
  return insn(op, [rd, rj, rk], { defs: live([rd]), uses: live([rj, rk]) });
}

/** `op rd, rj, imm`: writes `rd`, reads `rj`. */
function rri(op: string, rd: Reg, rj: Reg, imm: Imm): Item {
  return insn(op, [rd, rj, String(imm)], { defs: live([rd]), uses: live([rj]) });
}

/** `op rd, rj`: writes `rd`, reads `rj`. */
function rr(op: string, rd: Reg, rj: Reg): Item {
  return insn(op, [rd, rj], { defs: live([rd]), uses: live([rj]) });
}

const move = (rd: Reg, rj: Reg): Item => rr("move", rd, rj);
const addD = (rd: Reg, rj: Reg, rk: Reg): Item => rrr("add.d", rd, rj, rk);
const addiD = (rd: Reg, rj: Reg, imm: Imm): Item => rri("addi.d", rd, rj, imm);
const ori = (rd: Reg, rj: Reg, imm: number): Item => rri("ori", rd, rj, imm);
const andi = (rd: Reg, rj: Reg, imm: number): Item => rri("andi", rd, rj, imm);
/** `rd = sext(imm << 12)`. */
const lu12iW = (rd: Reg, imm: number): Item => insn("lu12i.w", [rd, String(imm)], { defs: live([rd]) });
/** `rd[63:32] = sext(imm)`, keeping `rd[31:0]`. */
const lu32iD = (rd: Reg, imm: number): Item => insn("lu32i.d", [rd, String(imm)], { defs: live([rd]), uses: live([rd]) });
/** `rd = pc-page(sym)`. */
const pcalau12i = (rd: Reg, sym: string): Item => insn("pcalau12i", [rd, `%pc_hi20(${sym})`], { defs: live([rd]) });
/** `rd[msb:lsb] = rj[msb-lsb:0]`, keeping the other bits of `rd`. */
const bstrinsD = (rd: Reg, rj: Reg, msb: number, lsb: number): Item =>
  insn("bstrins.d", [rd, rj, String(msb), String(lsb)], { defs: live([rd]), uses: live([rd, rj]) });
/** `rd = zext(rj[msb:lsb])`. */
const bstrpickD = (rd: Reg, rj: Reg, msb: number, lsb: number): Item => insn("bstrpick.d", [rd, rj, String(msb), String(lsb)], { defs: live([rd]), uses: live([rj]) });
/** `rd = (rj << sa) + rk`. */
const alslD = (rd: Reg, rj: Reg, rk: Reg, sa: number): Item => insn("alsl.d", [rd, rj, rk, String(sa)], { defs: live([rd]), uses: live([rj, rk]) });

/** A load (`ld`, `ldptr`: `rd, base, imm`; `ldx`: `rd, base, index`). */
function load(op: string, rd: Reg, base: Reg, disp: Imm | { readonly reg: Reg }): Item {
  const d = typeof disp === "object" ? disp.reg : String(disp);
  return insn(op, [rd, base, d], { defs: live([rd]), uses: live(typeof disp === "object" ? [base, disp.reg] : [base]) });
}

/** A store (`st`, `stptr`: `rs, base, imm`; `stx`: `rs, base, index`): writes no register. */
function store(op: string, rs: Reg, base: Reg, disp: Imm | { readonly reg: Reg }): Item {
  const d = typeof disp === "object" ? disp.reg : String(disp);
  return insn(op, [rs, base, d], { uses: live(typeof disp === "object" ? [rs, base, disp.reg] : [rs, base]) });
}

/** `amop rd, rk, (rj)`: `rd` = old value, memory = old op `rk`. */
const amo = (op: string, rd: Reg, rk: Reg, rj: Reg): Item => insn(op, [rd, rk, rj], { defs: live([rd]), uses: live([rk, rj]) });
/** `ll rd, rj, 0`: load-linked. */
const ll = (sfx: string, rd: Reg, rj: Reg): Item => load(`ll.${sfx}`, rd, rj, 0);
/** `sc rd, rj, 0`: stores `rd` if the link holds and sets `rd` to whether it did. */
const sc = (sfx: string, rd: Reg, rj: Reg): Item => insn(`sc.${sfx}`, [rd, rj, "0"], { defs: live([rd]), uses: live([rd, rj]) });

const bne = (rj: Reg, rd: Reg, target: string): Item => insn("bne", [rj, rd, target], { uses: live([rj, rd]) });
const beqz = (rj: Reg, target: string): Item => insn("beqz", [rj, target], { uses: live([rj]) });
const bnez = (rj: Reg, target: string): Item => insn("bnez", [rj, target], { uses: live([rj]) });
const b = (target: string): Item => insn("b", [target]);
/** Registers a call may write (psABI caller-saved: `$ra`, `$a*`, `$t*`). */
const CALLER_SAVED: readonly Gpr[] = ["$ra", "$a0", "$a1", "$a2", "$a3", "$a4", "$a5", "$a6", "$a7", "$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6", "$t7", "$t8"];
/** A call (`bl fn`): reads the argument registers, may write every caller-saved register. */
const bl = (fn: string): Item => insn("bl", [fn], { defs: CALLER_SAVED, uses: ["$a0", "$a1", "$a2", "$a3", "$a4", "$a5", "$a6", "$a7"] });
const ret = (): Item => insn("ret", [], { uses: ["$ra"] });

/** The text of one instruction or label, unindented (`ld.d $a0, $r21, 8`, `1:`). */
const itemText = (it: Item): string => inlineTemplate([it]);

// ---------------------------------------------------------------------------
// Instruction building blocks

const isSi12 = (n: number): boolean => n >= -2048 && n <= 2047;
const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;

/** Whether `ldptr`/`stptr`/`ll`/`sc` (si14 << 2) reach `n`. */
const isSi14x4 = (n: number): boolean => n % 4 === 0 && n >= -32768 && n <= 32764;

/** `rd = n` for 0 <= n < 2^32 in 1–3 instructions (`lu12i.w` sign-extends, so bit 31 needs `lu32i.d`). */
function li(rd: Reg, n: number): Item[] {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new RangeError(`Cannot load immediate ${n}: expected 0 <= n < 2^32`);
  if (n <= 4095) return [ori(rd, "$zero", n)];
  const hi = Math.floor(n / 4096);
  const lo = n % 4096;
  const out = [lu12iW(rd, hi >= 2 ** 19 ? hi - 2 ** 20 : hi)];
  if (lo !== 0) out.push(ori(rd, rd, lo));
  if (hi >= 2 ** 19) out.push(lu32iD(rd, 0));
  return out;
}

/** The instruction lines of {@link li} (`rd = n` for 0 <= n < 2^32), for callers outside the IR. */
export function loadImmediate(rd: Reg, n: number): string[] {
  return li(rd, n).map(itemText);
}

/** `rd = src * k` (k > 0): a shift for powers of two, else `mul.d`. */
function multiply(rd: Reg, src: Reg, k: number): Item[] {
  if (k === 1) return [move(rd, src)];
  if (isPow2(k)) return [rri("slli.d", rd, src, Math.log2(k))];
  return [...li(rd, k), rrr("mul.d", rd, src, rd)];
}

/** `out = off + sum(idx[k] * dims[k].stride)` with `scratch` (CPU-independent; no per-CPU register involved). */
function indexOffset(out: Reg, scratch: Reg, off: number, idx: readonly Reg[], dims: readonly IndexDim[]): Item[] {
  const items = off === 0 && dims.length > 0 ? [] : li(out, off);
  dims.forEach((d, k) => {
    const i = idx[k]!;
    const s = d.stride;
    if (items.length === 0) items.push(...multiply(out, i, s));
    else if (s === 1) items.push(addD(out, out, i));
    else if (isPow2(s) && Math.log2(s) <= 4) items.push(alslD(out, i, out, Math.log2(s)));
    else items.push(...multiply(scratch, i, s), addD(out, out, scratch));
  });
  return items;
}

/** The displacement of an access from its base register. */
type Disp =
  | { readonly kind: "imm"; readonly value: number }
  /** `%pc_lo12(sym+off)` after a matching `pcalau12i` of the base (si12 semantics). */
  | { readonly kind: "reloc"; readonly text: string }
  | { readonly kind: "reg"; readonly reg: Reg };

/** Where an access goes: base register plus displacement. */
interface Site {
  readonly base: Reg;
  readonly disp: Disp;
}

/** Size and extension of a scalar access. */
interface Width {
  readonly size: 1 | 2 | 4 | 8;
  /** Sign-extend on load (i8/i16; 32-bit loads always sign-extend per the psABI). */
  readonly signed: boolean;
}

function widthOf(leaf: PlacedLeaf): Width {
  const size = leaf.size as Width["size"];
  return { size, signed: leaf.scalar === "i8" || leaf.scalar === "i16" };
}

const SUFFIX = { 1: "b", 2: "h", 4: "w", 8: "d" } as const;

/** `ld.b/ld.bu/ld.h/ld.hu/ld.w/ld.d` stem for a width (no `.wu`: 32-bit values live sign-extended). */
function loadSuffix(w: Width): string {
  return w.size <= 2 && !w.signed ? `${SUFFIX[w.size]}u` : SUFFIX[w.size];
}

/** One load or store at a site; a far immediate is built in `scratch` (still one access instruction). */
function access(kind: "ld" | "st", w: Width, reg: Reg, site: Site, scratch: Reg): Item[] {
  const sfx = kind === "ld" ? loadSuffix(w) : SUFFIX[w.size];
  const mem = kind === "ld" ? load : store;
  return match(site.disp)
    .returnType<Item[]>()
    .with({ kind: "imm" }, ({ value }) => {
      if (isSi12(value)) return [mem(`${kind}.${sfx}`, reg, site.base, value)];
      if (w.size >= 4 && isSi14x4(value)) return [mem(`${kind}ptr.${SUFFIX[w.size]}`, reg, site.base, value)];
      return [...li(scratch, value), mem(`${kind}x.${sfx}`, reg, site.base, { reg: scratch })];
    })
    .with({ kind: "reloc" }, ({ text }) => [mem(`${kind}.${sfx}`, reg, site.base, text)])
    .with({ kind: "reg" }, ({ reg: r }) => [mem(`${kind}x.${sfx}`, reg, site.base, { reg: r })])
    .exhaustive();
}

/** `rd = base + disp`. */
function address(rd: Reg, site: Site): Item[] {
  return match(site.disp)
    .returnType<Item[]>()
    .with({ kind: "imm" }, ({ value }) => (isSi12(value) ? [addiD(rd, site.base, value)] : [...li(rd, value), addD(rd, site.base, rd)]))
    .with({ kind: "reloc" }, ({ text }) => [addiD(rd, site.base, text)])
    .with({ kind: "reg" }, ({ reg }) => [addD(rd, site.base, reg)])
    .exhaustive();
}

/** A site whose displacement several accesses can share: a far immediate moves into `reg`. */
function shareable(site: Site, reg: Reg): { items: Item[]; site: Site } {
  if (site.disp.kind === "imm" && !isSi12(site.disp.value)) {
    return { items: li(reg, site.disp.value), site: { base: site.base, disp: { kind: "reg", reg } } };
  }
  return { items: [], site };
}

/** Extends the low `w.size` bytes of `src` into `rd` as the C type wants it. */
function extend(rd: Reg, src: Reg, w: Width): Item[] {
  return match(w.size)
    .returnType<Item[]>()
    .with(1, () => [w.signed ? rr("ext.w.b", rd, src) : andi(rd, src, 255)])
    .with(2, () => [w.signed ? rr("ext.w.h", rd, src) : bstrpickD(rd, src, 15, 0)])
    .with(4, () => [rri("addi.w", rd, src, 0)])
    .with(8, () => (rd === src ? [] : [move(rd, src)]))
    .exhaustive();
}

/** Registers an op body is written in (`.S`: real registers; inline C: `%[name]` operands). */
interface Regs {
  /** Result. Written only after every input has been consumed. */
  readonly r: Reg;
  /** Value, expected and desired inputs. */
  readonly v: Reg;
  readonly e: Reg;
  readonly d: Reg;
  /** Seven scratch registers T0..T6. */
  readonly t: readonly Reg[];
}

/** The arithmetic read-modify-write ops of the catalog. */
type RmwOp = ArithmeticOp;
/** The local read-modify-write ops of the catalog: the sequences the atomic lowerings emit (remote RMW ops reuse them on `cpu`'s copy). */
type AtomicOp = LocalRmwOp;

const AMO: Record<Exclude<RmwOp, "sub_current">, string> = {
  add_current: "amadd",
  and_current: "amand",
  or_current: "amor",
  xor_current: "amxor",
};

const ALU: Record<RmwOp, (w: Width) => string> = {
  add_current: (w) => (w.size === 8 ? "add.d" : "add.w"),
  sub_current: (w) => (w.size === 8 ? "sub.d" : "sub.w"),
  and_current: () => "and",
  or_current: () => "or",
  xor_current: () => "xor",
};

/** 32/64-bit RMW: one AM* (or an ll/sc loop for cmpxchg) on `T0 = base + disp`. */
function atomicWord(op: AtomicOp, w: Width, s: Site, R: Regs): Item[] {
  const [t0, t1, t2, t3, t4] = R.t as [Reg, Reg, Reg, Reg, Reg];
  const sfx = SUFFIX[w.size];
  const addr = address(t0, s);
  // add.w/addi.w sign-extend as the LP64 ABI keeps 32-bit values.
  const add = w.size === 8 ? "add.d" : "add.w";
  const sub = w.size === 8 ? "sub.d" : "sub.w";
  const step = (n: 1 | -1): Item[] => [addiD(t4, "$zero", n), ...addr, amo(`amadd.${sfx}`, t1, t4, t0), rrr(add, R.r, t1, t4)];
  return match(op)
    .returnType<Item[]>()
    .with("inc_current", "dec_current", (o) => [addiD(t4, "$zero", o === "inc_current" ? 1 : -1), ...addr, amo(`amadd.${sfx}`, "$zero", t4, t0)])
    // amadd leaves the old value; one add makes it the new one (Linux's this_cpu_add_return).
    .with("add_return_current", () => [...addr, amo(`amadd.${sfx}`, t1, R.v, t0), rrr(add, R.r, t1, R.v)])
    .with("sub_return_current", () => [...addr, rrr("sub.d", t2, "$zero", R.v), amo(`amadd.${sfx}`, t1, t2, t0), rrr(sub, R.r, t1, R.v)])
    .with("inc_return_current", () => step(1))
    .with("dec_return_current", () => step(-1))
    .with("try_cmpxchg_current", () => atomicWord("cmpxchg_current", w, s, R))
    .with("add_current", "and_current", "or_current", "xor_current", (o) => [...addr, amo(`${AMO[o]}.${sfx}`, "$zero", R.v, t0)])
    .with("sub_current", () => [...addr, rrr("sub.d", t1, "$zero", R.v), amo(`amadd.${sfx}`, "$zero", t1, t0)])
    .with("xchg_current", () => [...addr, amo(`amswap.${sfx}`, t1, R.v, t0), move(R.r, t1)])
    .with("cmpxchg_current", () => [
      ...addr,
      ...(w.size === 8 ? [] : extend(t2, R.e, w)),
      label("1"),
      ll(sfx, t1, t0),
      bne(t1, w.size === 8 ? R.e : t2, "2f"),
      move(t3, R.d),
      sc(sfx, t3, t0),
      beqz(t3, "1b"),
      label("2"),
      move(R.r, t1),
    ])
    .exhaustive();
}

/**
 * 8/16-bit RMW as a masked `ll.w`/`sc.w` loop on the aligned word holding the
 * value: atomic against interrupts, other CPUs and migration.
 */
function atomicSubword(op: AtomicOp, w: Width, s: Site, R: Regs): Item[] {
  const [t0, t1, t2, t3, t4, t5, t6] = R.t as [Reg, Reg, Reg, Reg, Reg, Reg, Reg];
  const laneMask = w.size === 1 ? [ori(t2, "$zero", 255)] : [lu12iW(t2, 15), ori(t2, t2, 4095)];
  const lane = (rd: Reg, src: Reg): Item[] => [w.size === 1 ? andi(rd, src, 255) : bstrpickD(rd, src, 15, 0), rrr("sll.w", rd, rd, t1)];
  const prologue = [
    ...address(t0, s),
    andi(t1, t0, 3),
    rri("slli.w", t1, t1, 3),
    bstrinsD(t0, "$zero", 1, 0),
    ...laneMask,
    rrr("sll.w", t2, t2, t1),
  ];
  const loop = (body: Item[], exit = false): Item[] => [
    label("1"),
    ll("w", t4, t0),
    ...body,
    sc("w", t5, t0),
    beqz(t5, "1b"),
    ...(exit ? [label("2")] : []),
  ];
  const result = [rrr("srl.w", t4, t4, t1), ...extend(R.r, t4, w)];
  // inc/dec: the operand 1 in t6 (free until cmpxchg's expected lane).
  const one = [addiD(t6, "$zero", 1)];
  const addLoop = (alu: string, v: Reg): Item[] => [
    ...prologue,
    ...lane(t3, v),
    ...loop([rrr(alu, t5, t4, t3), rrr("xor", t5, t5, t4), rrr("and", t5, t5, t2), rrr("xor", t5, t5, t4)]),
  ];
  // _return: the old lane (t4 after the loop) plus the operand once more, extended as the type.
  const newLane = (alu: string, v: Reg): Item[] => [rrr("srl.w", t4, t4, t1), rrr(alu, t4, t4, v), ...extend(R.r, t4, w)];
  const cmpxchgLoop = (): Item[] => [
    ...prologue,
    ...lane(t6, R.e),
    ...lane(t3, R.d),
    ...loop([rrr("and", t5, t4, t2), bne(t5, t6, "2f"), rrr("andn", t5, t4, t2), rrr("or", t5, t5, t3)], true),
    ...result,
  ];
  return match(op)
    .returnType<Item[]>()
    .with("inc_current", () => [...one, ...addLoop("add.w", t6)])
    .with("dec_current", () => [...one, ...addLoop("sub.w", t6)])
    .with("add_return_current", () => [...addLoop("add.w", R.v), ...newLane("add.w", R.v)])
    .with("sub_return_current", () => [...addLoop("sub.w", R.v), ...newLane("sub.w", R.v)])
    .with("inc_return_current", () => [...one, ...addLoop("add.w", t6), ...newLane("add.w", t6)])
    .with("dec_return_current", () => [...one, ...addLoop("sub.w", t6), ...newLane("sub.w", t6)])
    .with("try_cmpxchg_current", () => cmpxchgLoop())
    .with("add_current", "sub_current", (o) => [
      ...prologue,
      ...lane(t3, R.v),
      ...loop([rrr(ALU[o](w), t5, t4, t3), rrr("xor", t5, t5, t4), rrr("and", t5, t5, t2), rrr("xor", t5, t5, t4)]),
    ])
    .with("and_current", () => [...prologue, ...lane(t3, R.v), rrr("orn", t3, t3, t2), ...loop([rrr("and", t5, t4, t3)])])
    .with("or_current", "xor_current", (o) => [...prologue, ...lane(t3, R.v), ...loop([rrr(ALU[o](w), t5, t4, t3)])])
    .with("xchg_current", () => [...prologue, ...lane(t3, R.v), ...loop([rrr("andn", t5, t4, t2), rrr("or", t5, t5, t3)]), ...result])
    .with("cmpxchg_current", () => [
      ...prologue,
      ...lane(t6, R.e),
      ...lane(t3, R.d),
      ...loop([rrr("and", t5, t4, t2), bne(t5, t6, "2f"), rrr("andn", t5, t4, t2), rrr("or", t5, t5, t3)], true),
      ...result,
    ])
    .exhaustive();
}

/** 8/16-bit RMW without protection (both guard features off): load, op, store. */
function plainSubword(op: AtomicOp, w: Width, site: Site, R: Regs): Item[] {
  const [t0, t1, t2, t3] = R.t as [Reg, Reg, Reg, Reg];
  const { items, site: s } = shareable(site, t0);
  const uw: Width = { size: w.size, signed: false };
  const step = (alu: string, v: Reg, pre: Item[], returns: boolean): Item[] => [
    ...pre,
    ...items,
    ...access("ld", uw, t1, s, t0),
    rrr(alu, t1, t1, v),
    ...access("st", w, t1, s, t0),
    ...(returns ? extend(R.r, t1, w) : []),
  ];
  const one = [addiD(t3, "$zero", 1)];
  return match(op)
    .returnType<Item[]>()
    .with("inc_current", () => step("add.w", t3, one, false))
    .with("dec_current", () => step("sub.w", t3, one, false))
    .with("add_return_current", () => step("add.w", R.v, [], true))
    .with("sub_return_current", () => step("sub.w", R.v, [], true))
    .with("inc_return_current", () => step("add.w", t3, one, true))
    .with("dec_return_current", () => step("sub.w", t3, one, true))
    .with("try_cmpxchg_current", () => plainSubword("cmpxchg_current", w, site, R))
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", (o) => [
      ...items,
      ...access("ld", uw, t1, s, t0),
      rrr(ALU[o](w), t1, t1, R.v),
      ...access("st", w, t1, s, t0),
    ])
    .with("xchg_current", () => [...items, ...access("ld", w, t1, s, t0), ...access("st", w, R.v, s, t0), move(R.r, t1)])
    .with("cmpxchg_current", () => [
      ...items,
      ...access("ld", w, t1, s, t0),
      ...extend(t2, R.e, w),
      bne(t1, t2, "1f"),
      ...access("st", w, R.d, s, t0),
      label("1"),
      move(R.r, t1),
    ])
    .exhaustive();
}

/** The body of one leaf op at a prepared site (setup already emitted). */
function leafBody(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp, site: Site, R: Regs): Item[] {
  const w = widthOf(leaf);
  const guarded = input.config.features.preempt || input.config.features.irq;
  const t0 = R.t[0]!;
  return match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "read_current", "remote_read", () => access("ld", w, R.r, site, t0))
    .with("write_current_raw", "write_current", "remote_write", () => access("st", w, R.v, site, t0))
    // 32/64-bit RMW (every `atomic: true` variable) is one AM* or an ll/sc loop: atomic against other CPUs.
    .with(
      "add_current",
      "sub_current",
      "and_current",
      "or_current",
      "xor_current",
      "xchg_current",
      "cmpxchg_current",
      "inc_current",
      "dec_current",
      "add_return_current",
      "sub_return_current",
      "inc_return_current",
      "dec_return_current",
      "try_cmpxchg_current",
      (o) => w.size >= 4 ? atomicWord(o, w, site, R) : guarded ? atomicSubword(o, w, site, R) : plainSubword(o, w, site, R),
    )
    // Remote RMW: always atomic on `cpu`'s copy (amadd.w/d or ll/sc; the masked ll.w/sc.w loop for 8/16 bits).
    .with("remote_add", "remote_cmpxchg", (o) => {
      const like = REMOTE_RMW_LIKE[o];
      return w.size >= 4 ? atomicWord(like, w, site, R) : atomicSubword(like, w, site, R);
    })
    .exhaustive();
}

// ---------------------------------------------------------------------------
// percpu.S

const A = ["$a0", "$a1", "$a2", "$a3", "$a4", "$a5", "$a6", "$a7"] as const;
const T = ["$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6"] as const;
/** Base register for naive and remote sites. */
const BASE_REG = "$t8";
/** Offset register of indexed sites. */
const OFF_REG = "$t7";
/** What a guarded body may write: the temporaries (`$t0`..`$t8`), which no hook call needs preserved. */
const GUARD_BODY_REGS: readonly Reg[] = [...T, OFF_REG, BASE_REG];

const pcrel = (rd: Reg, sym: string): Item[] => [pcalau12i(rd, sym), addiD(rd, rd, `%pc_lo12(${sym})`)];
const loadWord = (rd: Reg, sym: string): Item[] => [pcalau12i(rd, sym), load("ld.d", rd, rd, `%pc_lo12(${sym})`)];
const symPlus = (sym: string, off: number): string => (off === 0 ? sym : `${sym}+${off}`);

/** `rd = BASE + cpu * stride`, with scratch `tmp` and `baseTmp` (default `rd`; `rd` is written last). */
function areaBase(input: GenInput, rd: Reg, cpu: Reg, tmp: Reg, baseTmp: Reg = rd): Item[] {
  return [...multiply(tmp, cpu, input.layout.stride), ...loadWord(baseTmp, BASE_SYMBOL), addD(rd, baseTmp, tmp)];
}

/** Setup and site of `off` (+ indices) in the current area: `$r21`, or `__percpu_areas` when naive. */
function currentSite(input: GenInput, off: number, idx: readonly Reg[], dims: readonly IndexDim[]): { setup: Item[]; site: Site } {
  if (input.config.features.naive) {
    const sym = symPlus(AREAS_SYMBOL, off);
    if (dims.length === 0) return { setup: [pcalau12i(BASE_REG, sym)], site: { base: BASE_REG, disp: { kind: "reloc", text: `%pc_lo12(${sym})` } } };
    return { setup: [...pcrel(BASE_REG, sym), ...indexOffset(OFF_REG, T[6], 0, idx, dims)], site: { base: BASE_REG, disp: { kind: "reg", reg: OFF_REG } } };
  }
  if (dims.length === 0) return { setup: [], site: { base: LOONGARCH64_PERCPU_REG, disp: { kind: "imm", value: off } } };
  return { setup: indexOffset(OFF_REG, T[6], off, idx, dims), site: { base: LOONGARCH64_PERCPU_REG, disp: { kind: "reg", reg: OFF_REG } } };
}

/** Setup and site of `off` (+ indices) in area `cpu`. */
function remoteSite(input: GenInput, cpu: Reg, off: number, idx: readonly Reg[], dims: readonly IndexDim[]): { setup: Item[]; site: Site } {
  const base = areaBase(input, BASE_REG, cpu, T[6]);
  if (dims.length === 0) return { setup: base, site: { base: BASE_REG, disp: { kind: "imm", value: off } } };
  return { setup: [...base, ...indexOffset(OFF_REG, T[6], off, idx, dims)], site: { base: BASE_REG, disp: { kind: "reg", reg: OFF_REG } } };
}

/** Wraps a body (ending without `ret`) in the enabled guard hooks; the body may write temporaries only (checked on its defs). */
function guard(input: GenInput, body: readonly Item[]): Item[] {
  const { preempt, irq } = input.config.features;
  if (!preempt && !irq) return [...body, ret()];
  const stray = definedRegs(body).filter((r) => !GUARD_BODY_REGS.includes(r));
  if (stray.length > 0) throw new Error(`loongarch64: a guarded body may write temporaries only, not ${stray.join(", ")}`);
  const [preemptDisable, preemptEnable, irqSave, irqRestore] = GUARD_HOOKS;
  return [
    addiD("$sp", "$sp", -16),
    store("st.d", "$ra", "$sp", 8),
    ...(preempt ? [bl(preemptDisable)] : []),
    ...(irq ? [bl(irqSave), store("st.d", "$a0", "$sp", 0)] : []),
    ...body,
    ...(irq ? [load("ld.d", "$a0", "$sp", 0), bl(irqRestore)] : []),
    ...(preempt ? [bl(preemptEnable)] : []),
    load("ld.d", "$ra", "$sp", 8),
    addiD("$sp", "$sp", 16),
    ret(),
  ];
}

/**
 * Wraps the body of an op with arguments (ending without `ret`) in the enabled guard hooks: a frame keeps
 * `$ra`, the argument registers across the entry hooks and the result `$a0` across the exit ones.
 */
function guardArgs(input: GenInput, args: readonly Reg[], body: readonly Item[], result: boolean | "pair"): Item[] {
  const { preempt, irq } = input.config.features;
  if (!preempt && !irq) return [...body, ret()];
  const [preemptDisable, preemptEnable, irqSave, irqRestore] = GUARD_HOOKS;
  const frame = Math.ceil(((args.length + (result === "pair" ? 4 : 3)) * 8) / 16) * 16;
  const raAt = frame - 8;
  const flagsAt = frame - 16;
  const resultAt = frame - 24;
  // A u128 result is the pair $a0:$a1.
  const high = result === "pair" ? { save: [store("st.d", "$a1", "$sp", frame - 32)], load: [load("ld.d", "$a1", "$sp", frame - 32)] } : { save: [], load: [] };
  return [
    addiD("$sp", "$sp", -frame),
    store("st.d", "$ra", "$sp", raAt),
    ...args.map((r, k) => store("st.d", r, "$sp", 8 * k)),
    ...(preempt ? [bl(preemptDisable)] : []),
    ...(irq ? [bl(irqSave), store("st.d", "$a0", "$sp", flagsAt)] : []),
    ...args.map((r, k) => load("ld.d", r, "$sp", 8 * k)),
    ...body,
    ...(result ? [store("st.d", "$a0", "$sp", resultAt)] : []),
    ...high.save,
    ...(irq ? [load("ld.d", "$a0", "$sp", flagsAt), bl(irqRestore)] : []),
    ...(preempt ? [bl(preemptEnable)] : []),
    ...(result ? [load("ld.d", "$a0", "$sp", resultAt)] : []),
    ...high.load,
    load("ld.d", "$ra", "$sp", raAt),
    addiD("$sp", "$sp", frame),
    ret(),
  ];
}

/** Copies `size` bytes from `src` to `dst` in `chunk`-byte units (temporaries `t`). */
function copyLoop(dst: Reg, src: Reg, size: number, chunk: 1 | 2 | 4 | 8, t: readonly [Reg, Reg], loop: string): Item[] {
  const w: Width = { size: chunk, signed: false };
  const n = size / chunk;
  const [v, cnt] = t;
  const at = (base: Reg, k: number): Site => ({ base, disp: { kind: "imm", value: k * chunk } });
  if (n <= 8) return Array.from({ length: n }, (_, k) => [...access("ld", w, v, at(src, k), cnt), ...access("st", w, v, at(dst, k), cnt)]).flat();
  return [
    ...li(cnt, n),
    label(loop),
    ...access("ld", w, v, at(src, 0), cnt),
    ...access("st", w, v, at(dst, 0), cnt),
    addiD(src, src, chunk),
    addiD(dst, dst, chunk),
    addiD(cnt, cnt, -1),
    bnez(cnt, `${loop}b`),
  ];
}

/** The widest unit (<= 8 bytes) dividing both the offset and the size of a copy. */
function chunkFor(offset: number, size: number): 1 | 2 | 4 | 8 {
  for (const c of [8, 4, 2] as const) if (offset % c === 0 && size % c === 0) return c;
  return 1;
}

/** `count` units of `step` bytes from `$t3` to `$t5` (both advanced), counted in `$t4`, at local label `loop`. */
function initCopy(count: number, step: 1 | 8, loop: string): Item[] {
  if (count === 0) return [];
  const [ldOp, stOp] = step === 8 ? ["ld.d", "st.d"] : ["ld.bu", "st.b"];
  return [
    ...li("$t4", count),
    label(loop),
    load(ldOp, "$t6", "$t3", 0),
    store(stOp, "$t6", "$t5", 0),
    addiD("$t3", "$t3", step),
    addiD("$t5", "$t5", step),
    addiD("$t4", "$t4", -1),
    bnez("$t4", `${loop}b`),
  ];
}

function runtimeAsm(input: GenInput): string[] {
  const { layout, config } = input;
  const naive = config.features.naive;
  const mask = layout.areaAlign - 1;
  const alignCheck = mask <= 4095 ? [andi("$t0", "$a0", mask)] : [...li("$t0", mask), rrr("and", "$t0", "$a0", "$t0")];
  const init = [
    beqz("$a0", "8f"),
    ...alignCheck,
    bnez("$t0", "9f"),
    ...pcrel("$t0", BASE_SYMBOL),
    store("st.d", "$a0", "$t0", 0),
    ...pcrel("$t0", NUM_SYMBOL),
    store("st.d", "$a1", "$t0", 0),
    move("$t1", "$a0"), // destination area
    move("$t2", "$a1"), // areas left
    label("1"),
    beqz("$t2", "7f"),
    ...pcrel("$t3", TEMPLATE_SYMBOL),
    move("$t5", "$t1"),
    ...initCopy(Math.floor(layout.areaSize / 8), 8, "2"),
    ...initCopy(layout.areaSize % 8, 1, "3"),
    ...li("$t4", layout.stride),
    addD("$t1", "$t1", "$t4"),
    addiD("$t2", "$t2", -1),
    b("1b"),
    label("7"),
    move("$a0", "$a1"),
    ret(),
    label("8"),
    addiD("$a0", "$zero", -1),
    ret(),
    label("9"),
    addiD("$a0", "$zero", -2),
    ret(),
  ];
  const inPlace = [...pcrel("$a0", naive ? AREAS_SYMBOL : "_percpu_start"), ...li("$a1", config.cpus), b("percpu_init")];
  const reg = LOONGARCH64_PERCPU_REG;
  // naive (the seed's sp-naive): init ignores its base and count and (re)initialises the one area in place, returning 1,
  // so the accessors and percpu_area_base(0) always agree on where the area is.
  const naiveArgs = naive ? [...pcrel("$a0", AREAS_SYMBOL), ...li("$a1", 1)] : [];
  return [
    renderFunction("percpu_init", [...naiveArgs, ...init]),
    renderFunction("percpu_init_in_place", inPlace),
    // naive: there is no per-CPU register; the accessors use __percpu_areas, which read_reg reports.
    renderFunction("percpu_init_reg", naive ? [ret()] : [...areaBase(input, reg, "$a0", "$t1", "$t0"), ret()]),
    renderFunction("percpu_read_reg", naive ? [...pcrel("$a0", AREAS_SYMBOL), ret()] : [move("$a0", reg), ret()]),
    renderFunction("percpu_write_reg", naive ? [ret()] : [move(reg, "$a0"), ret()]),
    renderFunction("percpu_area_base", [...areaBase(input, "$a0", "$a0", "$t1"), ret()]),
    renderFunction("percpu_area_num", [...loadWord("$a0", NUM_SYMBOL), ret()]),
    renderFunction("percpu_area_size", [...li("$a0", layout.areaSize), ret()]),
  ];
}

function varAsm(input: GenInput, v: VarLayout): string[] {
  const cur = currentSite(input, v.offset, [], []);
  const remote = remoteSite(input, "$a0", v.offset, [], []);
  const dst = "$t0";
  const src = "$t1";
  const reset = [
    ...cur.setup,
    ...address(dst, cur.site),
    ...pcrel(src, symPlus(TEMPLATE_SYMBOL, v.offset)),
    ...copyLoop(dst, src, v.size, chunkFor(v.offset, v.size), ["$t2", "$t3"], "1"),
  ];
  return [
    renderFunction(varFunction(v.name, "current_ptr"), [...cur.setup, ...address("$a0", cur.site), ret()]),
    renderFunction(varFunction(v.name, "remote_ptr"), [...remote.setup, ...address("$a0", remote.site), ret()]),
    renderFunction(varFunction(v.name, "reset_to_init"), guard(input, reset)),
  ];
}

function leafAsm(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  const remote = isRemoteOp(op);
  const first = remote ? 1 : 0;
  const idx = leaf.indices.map((_, k) => A[first + k]!);
  const vi = first + leaf.indices.length;
  const R: Regs = { r: "$a0", v: A[vi]!, e: A[vi]!, d: A[vi + 1]!, t: T };
  const { setup, site } = remote
    ? remoteSite(input, "$a0", leaf.areaOffset, idx, leaf.indices)
    : currentSite(input, leaf.areaOffset, idx, leaf.indices);
  // Ops whose result or target must be this CPU's (guard class `this_cpu`) take the guard, and the counter ops unless
  // the variable is counter: true: `$r21` plus an offset is computed apart from the AM* / LL/SC, so a migration in
  // between would act on the previous CPU's copy.
  const spec = LEAF_OP_SPECS[op];
  const params = leafSignature(leaf, op).params.length;
  const guarded = (body: readonly Item[]): Item[] =>
    !remote && (spec.guard === "this_cpu" || ((spec.scalars === "integer") && !leaf.counter)) ? guardArgs(input, A.slice(0, params), body, true) : [...body, ret()];
  if (op === "try_cmpxchg_current") {
    // `T *expected` in e's register: the expected value loaded into $a6, the cmpxchg leaving the value found in $a7,
    // which is stored back (the same value on success); $a0 = whether they matched.
    if (vi + 1 >= 6) throw new Error(`loongarch64: no free argument registers for try_cmpxchg of ${leaf.symbol}`);
    const w = widthOf(leaf);
    const ptr = A[vi]!;
    const at0: Site = { base: ptr, disp: { kind: "imm", value: 0 } };
    const body = leafBody(input, leaf, op, site, { ...R, e: "$a6", r: "$a7" });
    return renderFunction(leafFunction(leaf, op), guarded([
      ...access("ld", w, "$a6", at0, T[0]!),
      ...setup,
      ...body,
      ...access("st", w, "$a7", at0, T[0]!),
      rrr("xor", "$t0", "$a7", "$a6"),
      rri("sltui", "$a0", "$t0", 1),
    ]));
  }
  return renderFunction(leafFunction(leaf, op), guarded([...setup, ...leafBody(input, leaf, op, site, R)]));
}

/**
 * The `percpu.S` function of one op on a u128 leaf: loongarch64 has no
 * 128-bit atomic, so every access is two `ld.d`/`st.d` (remote ones may
 * tear) and `cmpxchg128_current` a load, two compares and two stores
 * (Linux's asm-generic this_cpu_cmpxchg128), under the preempt/irq guard on
 * the current CPU's copy. LP64: a u128 argument is two consecutive GARs
 * (low first), the result `$a0:$a1`.
 */
function u128Asm(input: GenInput, leaf: PlacedU128Leaf, op: LeafOp): string {
  const sig = leafSignature(leaf, op);
  const remote = isRemoteOp(op);
  const first = remote ? 1 : 0;
  const idx = leaf.indices.map((_, k) => A[first + k]!);
  const vi = first + leaf.indices.length;
  const words = LEAF_OP_SPECS[op].values.length * 2;
  if (vi + words > A.length) {
    fail("type_not_on_target", [leaf.varName, ...leaf.path], `Variable "${leaf.varName}" leaf ${leaf.symbol}: the u128 values of ${sig.name} would be passed on the stack (too many index arguments); loongarch64 lowers u128 values in register pairs only`);
  }
  const arg = (k: number): Reg => A[vi + k]!;
  const { setup, site } = remote ? remoteSite(input, "$a0", leaf.areaOffset, idx, leaf.indices) : currentSite(input, leaf.areaOffset, idx, leaf.indices);
  // Both halves: straight off the site when the displacement + 8 is a 12-bit immediate, else through the address in $t0.
  const near = site.disp.kind === "imm" && isSi12(site.disp.value + 8);
  const at = near ? [] : address("$t0", site);
  const base: Reg = near ? site.base : "$t0";
  const d0 = near && site.disp.kind === "imm" ? site.disp.value : 0;
  const ld = (r: Reg, half: 0 | 1): Item => load("ld.d", r, base, d0 + 8 * half);
  const st = (r: Reg, half: 0 | 1): Item => store("st.d", r, base, d0 + 8 * half);
  const body = match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "read_current", "remote_read", () => [...setup, ...at, ld("$t1", 0), ld("$a1", 1), move("$a0", "$t1")])
    .with("write_current_raw", "write_current", "remote_write", () => [...setup, ...at, st(arg(0), 0), st(arg(1), 1)])
    .with("cmpxchg128_current", () => [
      ...setup,
      ...at,
      ld("$t1", 0),
      ld("$t2", 1),
      bne("$t1", arg(0), "1f"),
      bne("$t2", arg(1), "1f"),
      st(arg(2), 0),
      st(arg(3), 1),
      label("1"),
      move("$a0", "$t1"),
      move("$a1", "$t2"),
    ])
    .with(
      "add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", "inc_current", "dec_current",
      "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", "remote_add", "remote_cmpxchg",
      (o) => {
        throw new Error(`loongarch64: ${o} does not apply to u128 leaves (sdk/ops.ts scalars)`);
      },
    )
    .exhaustive();
  const guarded = !remote && op !== "read_current_raw" && op !== "write_current_raw";
  const returns = LEAF_OP_SPECS[op].returns === "value" ? "pair" : false;
  return renderFunction(leafFunction(leaf, op), guarded ? guardArgs(input, A.slice(0, sig.params.length + words / 2), body, returns) : [...body, ret()]);
}

function code(input: GenInput): string {
  const out = [".text", ""];
  out.push(...runtimeAsm(input));
  for (const v of input.vars) {
    out.push(...varAsm(input, v.layout));
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) out.push(leafAsm(input, leaf, op));
    for (const leaf of v.u128Leaves) for (const op of leafOps(leaf.scalar)) out.push(u128Asm(input, leaf, op));
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------
// Inline C (PERCPU_INLINE)

const INLINE_TEMPS = ["%[t0]", "%[t1]", "%[t2]", "%[t3]", "%[t4]", "%[t5]", "%[t6]"] as const;

/** C bits of a value: floats through `__builtin_memcpy`, others as integers. */
function valueBits(leaf: PlacedLeaf, name: string, decls: string[]): string {
  if (leaf.scalar === "f32" || leaf.scalar === "f64") {
    const ty = leaf.scalar === "f32" ? "uint32_t" : "uint64_t";
    decls.push(`${ty} __${name}b;`, `__builtin_memcpy(&__${name}b, &${name}, sizeof __${name}b);`);
    return `(uintptr_t)__${name}b`;
  }
  return `(uintptr_t)${name}`;
}

/** The C return statement converting the 64-bit result register. */
function returnFrom(leaf: PlacedLeaf): string[] {
  return match(leaf.scalar)
    .returnType<string[]>()
    .with("f32", () => ["uint32_t __rb = (uint32_t)__r;", "float __f;", "__builtin_memcpy(&__f, &__rb, sizeof __f);", "return __f;"])
    .with("f64", () => ["double __f;", "__builtin_memcpy(&__f, &__r, sizeof __f);", "return __f;"])
    .with("bool", () => ["return __r != 0;"])
    .with("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "usize", "isize", () => [`return (${leaf.cType})__r;`])
    .exhaustive();
}

/**
 * An `__asm__ __volatile__` statement from an item list written with `%[name]`
 * operands: one C string per item (its inline-asm text, then newline and tab).
 */
function asmStatement(items: readonly Item[], outputs: readonly string[], inputs: readonly string[]): string {
  const text = items.map((it) => JSON.stringify(`${itemText(it)}\n\t`)).join(" ");
  return `__asm__ __volatile__(${text}\n    : ${outputs.join(", ")}\n    : ${inputs.join(", ")}\n    : "memory");`;
}

/** C expression of `off + sum(i_k * stride_k)`. */
function offsetExpr(off: number, dims: readonly IndexDim[]): string {
  return [`(uintptr_t)${off}u`, ...dims.map((d, k) => `i${k} * (uintptr_t)${d.stride}u`)].join(" + ");
}

function inlineLeaf(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  const sig = leafSignature(leaf, op);
  if (op === "try_cmpxchg_current") {
    // The inline cmpxchg and the compare, in C: *expected receives the value found on failure.
    const call = `${leafFunction(leaf, "cmpxchg_current")}(${[...leaf.indices.map((_, k) => `i${k}`), "e_", "desired"].join(", ")})`;
    return [`static inline ${cPrototype(sig)} {`, `  ${leaf.cType} e_ = *expected, f_ = ${call};`, "  if (f_ == e_) return true;", "  *expected = f_;", "  return false;", "}"].join("\n");
  }
  const w = widthOf(leaf);
  const remote = isRemoteOp(op);
  const naive = input.config.features.naive;
  const decls: string[] = [];
  const inputs: string[] = [];
  // Base: $r21, or an operand (remote area / naive __percpu_areas).
  let base: Reg = LOONGARCH64_PERCPU_REG;
  let off = leaf.areaOffset;
  if (remote) {
    decls.push(`uintptr_t __base = ${BASE_SYMBOL} + cpu * (uintptr_t)${input.layout.stride}u + ${leaf.areaOffset - leaf.offset}u;`);
    off = leaf.offset;
  } else if (naive) {
    decls.push(`uintptr_t __base = (uintptr_t)${AREAS_SYMBOL};`);
  }
  if (remote || naive) {
    base = "%[b]";
    inputs.push(`[b] "r"(__base)`);
  }
  // Displacement: an immediate the instructions reach, else a register the C compiler fills.
  const rmw = (INTEGER_OPS as readonly string[]).includes(op);
  const immOk = leaf.indices.length === 0 && (isSi12(off) || (!rmw && w.size >= 4 && isSi14x4(off)));
  let site: Site;
  if (immOk) {
    site = { base, disp: { kind: "imm", value: off } };
  } else {
    decls.push(`uintptr_t __o = ${offsetExpr(off, leaf.indices)};`);
    inputs.push(`[o] "r"(__o)`);
    site = { base, disp: { kind: "reg", reg: "%[o]" } };
  }
  const names = new Set(sig.params.map((p) => p.name));
  if (names.has("v")) inputs.push(`[v] "r"(${valueBits(leaf, "v", decls)})`);
  if (names.has("expected")) inputs.push(`[e] "r"(${valueBits(leaf, "expected", decls)})`);
  if (names.has("desired")) inputs.push(`[d] "r"(${valueBits(leaf, "desired", decls)})`);
  const R: Regs = { r: "%[r]", v: "%[v]", e: "%[e]", d: "%[d]", t: INLINE_TEMPS };
  const body = leafBody(input, leaf, op, site, R);
  const outputs: string[] = [];
  const hasResult = sig.ret !== "void";
  if (hasResult) {
    decls.push("uintptr_t __r;");
    outputs.push(`[r] "=&r"(__r)`);
  }
  // Each scratch operand the body writes becomes an early-clobber output (what the IR's defs say, not a text scan).
  const written = definedRegs(body);
  INLINE_TEMPS.forEach((t, k) => {
    if (written.includes(t)) {
      decls.push(`uintptr_t __t${k};`);
      outputs.push(`[t${k}] "=&r"(__t${k})`);
    }
  });
  // Guard class `this_cpu` (xchg, cmpxchg, the _return ops): the hooks around the address and the atomic.
  const { preempt, irq } = input.config.features;
  const guard = !remote && (LEAF_OP_SPECS[op].guard === "this_cpu" || ((LEAF_OP_SPECS[op].scalars === "integer") && leaf.counter !== true));
  const enter = guard ? [...(preempt ? [`${GUARD_HOOKS[0]}();`] : []), ...(irq ? [`uintptr_t __flags = ${GUARD_HOOKS[2]}();`] : [])] : [];
  const exit = guard ? [...(irq ? [`${GUARD_HOOKS[3]}(__flags);`] : []), ...(preempt ? [`${GUARD_HOOKS[1]}();`] : [])] : [];
  const lines = [
    `static inline ${cPrototype(sig)} {`,
    ...enter.map((l) => `  ${l}`),
    ...decls.map((d) => `  ${d}`),
    `  ${asmStatement(body, outputs, inputs)}`,
    ...exit.map((l) => `  ${l}`),
    ...(hasResult ? returnFrom(leaf).map((l) => `  ${l}`) : []),
    "}",
    "",
  ];
  return lines.join("\n");
}

function inlineC(input: GenInput): string {
  const out: string[] = [
    "/* loongarch64 inline accessors: one access relative to $r21 (reserved by the psABI, never allocated by clang). */",
  ];
  out.push(`extern uintptr_t ${BASE_SYMBOL};`);
  if (input.config.features.naive) out.push(`extern unsigned char ${AREAS_SYMBOL}[];`);
  out.push("");
  for (const v of input.vars) {
    const name = v.layout.name;
    const ty = cTypeName(name);
    const off = v.layout.offset;
    // The same address lowering as `<v>_current_ptr` in percpu.S, with a far offset in an input operand.
    const ptr = (disp: Disp): string => inlineTemplate(address("%[p]", { base: LOONGARCH64_PERCPU_REG, disp }));
    const body = input.config.features.naive
      ? [`  return (${ty} *)(${AREAS_SYMBOL} + ${off});`]
      : isSi12(off)
      ? [`  ${ty} *__p;`, `  __asm__ __volatile__("${ptr({ kind: "imm", value: off })}" : [p] "=r"(__p));`, "  return __p;"]
      : [`  ${ty} *__p;`, `  __asm__ __volatile__("${ptr({ kind: "reg", reg: "%[o]" })}" : [p] "=r"(__p) : [o] "r"((uintptr_t)${off}u));`, "  return __p;"];
    out.push(`static inline ${ty} *${varFunction(name, "current_ptr")}(void) {`, ...body, "}", "");
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) out.push(inlineLeaf(input, leaf, op));
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------
// check

function check(input: GenInput): void {
  const { config, layout } = input;
  if (config.mode !== "kernel") {
    fail("options_invalid", ["mode"], `Invalid generate options: loongarch64 supports kernel mode only, not ${config.mode}`);
  }
  if (config.features.el2) fail("options_invalid", ["features", "el2"], "Invalid generate options: el2 is an aarch64 feature, not loongarch64");
  const limit = LOONGARCH64_MAX_REACH;
  const tooFar = (end: number, path: readonly PathSegment[], what: string): void => {
    if (end > limit) {
      fail("offset_out_of_reach", path, `Offset out of reach for loongarch64 at ${quotePath(path)}: ${what} ends at byte ${end}, beyond ${limit} (2 GiB)`);
    }
  };
  tooFar(layout.stride, [], "the area stride");
  for (const v of input.vars) {
    tooFar(v.layout.offset + v.layout.size, [v.layout.name], "the variable");
    for (const leaf of v.leaves) {
      const last = leaf.indices.reduce((s, d) => s + (d.length - 1) * d.stride, leaf.areaOffset);
      tooFar(last + leaf.size, [leaf.varName, ...leaf.path], "the value");
    }
  }
}

/** The loongarch64 backend (kernel mode only; `$r21` per-CPU register). */
export const loongarch64Backend: ArchBackend = {
  arch: "loongarch64",
  registerName: LOONGARCH64_PERCPU_REG,
  clangFlags: LOONGARCH64_CLANG_FLAGS,
  supportsUserMode: false,
  check,
  commentChar: "#",
  code,
  headerPrimitives: loongarch64HeaderPrimitives,
  counterKinds: true,
  inlineC,
};
