/**
 * The aarch64 backend (kernel mode only): the per-CPU register is TPIDR_EL1,
 * or TPIDR_EL2 with the `el2` feature (hypervisors); `naive` uses plain
 * globals reached PC-relatively (`adrp`), with no register at all.
 *
 * Code shape, chosen per access from the known layout:
 * - an access whose offset is a multiple of its size with `offset / size < 4096`
 *   uses the scaled 12-bit immediate: `mrs x9, tpidr_el1; ldr w0, [x9, #off]` (2);
 * - below 16 MiB: `add x9, x9, #hi, lsl #12` and the low 12 bits as the
 *   immediate (3); anything below 2 GiB: `movz`/`movk` into x10 and a
 *   register-offset access `[x9, x10]` (4). Nothing is ever truncated.
 *
 * Every access is naturally aligned (firmware runs with the MMU off, where
 * memory is Device-nGnRnE and an unaligned access faults), all code is
 * PC-relative (`adrp` + `:lo12:`; images link at 0x40100000) and integer
 * code never touches FP/SIMD registers (FP may be disabled in CPACR_EL1).
 *
 * Guarding: on aarch64 no per-CPU access is a single instruction (`mrs`, then
 * the access), so with `preempt`/`irq` on, `read_current`, `write_current` and
 * `reset_to_init` call the hooks around the access. The integer
 * read-modify-write ops (add/sub/and/or/xor/xchg/cmpxchg) instead always use
 * an ARMv8.0 LL/SC loop (`ldxr`/`stxr`; Cortex-A57 has no LSE) on the computed
 * address: an interrupt between `ldxr` and `stxr` clears the exclusive monitor
 * (exception return does) so the loop retries, and a migration after `mrs`
 * only means the update lands, atomically, on the CPU the thread was on — no
 * update is ever lost, so they need no hooks, with or without features.
 *
 * Lowerings build the instruction IR of `asm.ts` from typed register operands
 * (`x9`/`w9` are register x9, `s0`/`d0` are v0, `nzcv` stands for the
 * condition flags; an inline-asm operand such as `%w[v]` is the placeholder
 * register `%[v]`), each instruction recording the registers it writes and
 * reads, and render it once: `percpu.S` through `renderFunction`, the inline
 * asm of `PERCPU_INLINE` through a local renderer of the same items. The
 * inline statements' scratch outputs and clobbers come from the defs.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail, type PathSegment } from "../sdk/errors.ts";
import { cTypeName, GUARD_HOOKS, leafFunction, leafOps, type LeafOp, type LoweredLeafOp, varFunction } from "../sdk/symbols.ts";
import { cScalarType, type LoweredScalarName } from "../sdk/c_names.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { type AsmItem, definedRegs, inlineTemplate, insn, label, renderFunction, renderLines } from "./asm.ts";
import { type ArithmeticOp, LEAF_OP_SPECS, type LocalRmwOp, REMOTE_RMW_LIKE, type RemoteRmwOp } from "../sdk/ops.ts";
import { remoteRmwC } from "./_remote_c.ts";
import { aarch64HeaderPrimitives } from "./aarch64_header.ts";
import type { Features } from "../sdk/config.ts";
import type { GenInput, PlacedLeaf, PlacedU128Leaf } from "../sdk/plan.ts";
import type { ArchBackend } from "./backend.ts";
import { leafSignature } from "./c_types.ts";

/** Largest byte offset (end of an access) the generated code reaches from the area base: 2 GiB. */
export const AARCH64_REACH = 2 ** 31;

// ---------------------------------------------------------------- registers and instructions (IR)

type Digit = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
/** A general-purpose register x0..x30 (its w form is the same register). */
type XReg = `x${Digit}` | `x${1 | 2}${Digit}` | "x30";
/** An FP/SIMD register v0..v31 (its s and d forms are the same register). */
type VReg = `v${Digit}` | `v${1 | 2}${Digit}` | "v30" | "v31";
/** An inline-asm operand (`%[v]`, any of its forms `%x[v]`, `%w[v]`): a register the C compiler picks. */
type Placeholder = `%[${string}]`;
/** A register the IR records: machine registers, `nzcv` for the condition flags, or an inline-asm placeholder. */
type A64Reg = XReg | VReg | "sp" | "nzcv" | Placeholder;

/** One item of an aarch64 instruction list. */
type Item = AsmItem<A64Reg>;

/** A register operand: its spelling (`w9`, `%x[b]`) and the register it is. */
interface Opnd {
  readonly text: string;
  readonly reg: A64Reg;
}

/** A register in its spellings: 64-bit, 32-bit, single and double FP (or an inline-asm operand). */
interface Reg {
  readonly x: Opnd;
  readonly w: Opnd;
  readonly s: Opnd;
  readonly d: Opnd;
}

/** The general-purpose registers x0..x30, by number. */
const XREGS = Array.from({ length: 31 }, (_, n) => `x${n}` as XReg);

/** A machine register `n` (x9, w9, s9, d9: x9 for the integer forms, v9 for the FP ones). */
function hw(n: number): Reg {
  const x = XREGS[n];
  if (x === undefined) throw new RangeError(`aarch64: no register x${n}`);
  const v = `v${n}` as VReg;
  return { x: { text: x, reg: x }, w: { text: `w${n}`, reg: x }, s: { text: `s${n}`, reg: v }, d: { text: `d${n}`, reg: v } };
}

/** A named inline-asm operand (`%x[b]`, `%w[b]`, ...): every form is the placeholder register `%[b]`. */
function operand(name: string): Reg {
  const reg: Placeholder = `%[${name}]`;
  return { x: { text: `%x[${name}]`, reg }, w: { text: `%w[${name}]`, reg }, s: { text: `%s[${name}]`, reg }, d: { text: `%d[${name}]`, reg } };
}

/** The stack pointer. */
const SP: Opnd = { text: "sp", reg: "sp" };
/** Argument registers x0..x7 (AAPCS64). */
const ARG_REGS: readonly XReg[] = XREGS.slice(0, 8);
/** What a call may write (AAPCS64 caller-saved): x0..x18, lr, the flags, v0..v7 and v16..v31. */
const CALL_CLOBBERED: readonly A64Reg[] = [
  ...XREGS.slice(0, 19),
  "x30",
  "nzcv",
  ...Array.from({ length: 32 }, (_, n) => `v${n}` as VReg).filter((_, n) => n < 8 || n >= 16),
];

/** A memory operand: its spelling, the registers its address reads, and the base it writes back (pre/post-index). */
interface Mem {
  readonly text: string;
  readonly uses: readonly A64Reg[];
  readonly defs: readonly A64Reg[];
}

/** `[base]` or `[base, #off]`. */
function at(base: Opnd, off = 0): Mem {
  return { text: off === 0 ? `[${base.text}]` : `[${base.text}, #${off}]`, uses: [base.reg], defs: [] };
}

/** `[base, index]` (register offset). */
function atIndex(base: Opnd, index: Opnd): Mem {
  return { text: `[${base.text}, ${index.text}]`, uses: [base.reg, index.reg], defs: [] };
}

/** `[base, #:lo12:sym]` (the low 12 bits of a symbol after `adrp`). */
function atLo12(base: Opnd, sym: string): Mem {
  return { text: `[${base.text}, #:lo12:${sym}]`, uses: [base.reg], defs: [] };
}

/** `[base], #step` (post-indexed: the access at base, then `base += step`). */
function postIndex(base: Opnd, step: number): Mem {
  return { text: `[${base.text}], #${step}`, uses: [base.reg], defs: [base.reg] };
}

/** `[base, #off]!` (pre-indexed: `base += off`, then the access). */
function preIndex(base: Opnd, off: number): Mem {
  return { text: `[${base.text}, #${off}]!`, uses: [base.reg], defs: [base.reg] };
}

/** A load `rt = [mem]` (`ldr`, `ldrb`, `ldrsh`, `ldxr`, ...). */
function load(mn: string, rt: Opnd, mem: Mem): Item {
  return insn(mn, [rt.text, mem.text], { defs: [rt.reg, ...mem.defs], uses: mem.uses });
}

/** A store `[mem] = rt` (`str`, `strb`, ...). */
function store(mn: string, rt: Opnd, mem: Mem): Item {
  return insn(mn, [rt.text, mem.text], { defs: mem.defs, uses: [rt.reg, ...mem.uses] });
}

/** `stp r1, r2, [mem]`. */
function stp(r1: Opnd, r2: Opnd, mem: Mem): Item {
  return insn("stp", [r1.text, r2.text, mem.text], { defs: mem.defs, uses: [r1.reg, r2.reg, ...mem.uses] });
}

/** `ldp r1, r2, [mem]`. */
function ldp(r1: Opnd, r2: Opnd, mem: Mem): Item {
  return insn("ldp", [r1.text, r2.text, mem.text], { defs: [r1.reg, r2.reg, ...mem.defs], uses: mem.uses });
}

/** `stxr{b,h} status, rt, [base]`: stores `rt` if the exclusive monitor holds; `status` is 0 on success. */
function stxr(ex: string, status: Opnd, rt: Opnd, base: Opnd): Item {
  return insn(`stxr${ex}`, [status.text, rt.text, `[${base.text}]`], { defs: [status.reg], uses: [rt.reg, base.reg] });
}

/** `movz rd, #imm{, lsl #shift}`. */
function movz(rd: Opnd, imm: number, shift: number): Item {
  return insn("movz", [rd.text, `#${imm}`, ...(shift ? [`lsl #${shift}`] : [])], { defs: [rd.reg] });
}

/** `movk rd, #imm, lsl #shift` (keeps the other bits of rd). */
function movk(rd: Opnd, imm: number, shift: number): Item {
  return insn("movk", [rd.text, `#${imm}`, ...(shift ? [`lsl #${shift}`] : [])], { defs: [rd.reg], uses: [rd.reg] });
}

/** `mov rd, #imm` (a small constant, `-1`, ...). */
function movConst(rd: Opnd, imm: number): Item {
  return insn("mov", [rd.text, `#${imm}`], { defs: [rd.reg] });
}

/** `mov rd, rs`. */
function mov(rd: Opnd, rs: Opnd): Item {
  return insn("mov", [rd.text, rs.text], { defs: [rd.reg], uses: [rs.reg] });
}

/** `add rd, rn, #imm{, lsl #12}`; `imm` may be a relocation (`:lo12:sym`). */
function addImm(rd: Opnd, rn: Opnd, imm: number | string, lsl12 = false): Item {
  return insn("add", [rd.text, rn.text, `#${imm}`, ...(lsl12 ? ["lsl #12"] : [])], { defs: [rd.reg], uses: [rn.reg] });
}

/** `op rd, rn, rm{, lsl #shift}` (`add`, `sub`, `and`, `orr`, `eor`). */
function rrr(op: string, rd: Opnd, rn: Opnd, rm: Opnd, shift = 0): Item {
  return insn(op, [rd.text, rn.text, rm.text, ...(shift ? [`lsl #${shift}`] : [])], { defs: [rd.reg], uses: [rn.reg, rm.reg] });
}

/** `madd rd, rn, rm, ra`: `rd = ra + rn * rm`. */
function madd(rd: Opnd, rn: Opnd, rm: Opnd, ra: Opnd): Item {
  return insn("madd", [rd.text, rn.text, rm.text, ra.text], { defs: [rd.reg], uses: [rn.reg, rm.reg, ra.reg] });
}

/** `sub rd, rn, #imm`. */
function subImm(rd: Opnd, rn: Opnd, imm: number): Item {
  return insn("sub", [rd.text, rn.text, `#${imm}`], { defs: [rd.reg], uses: [rn.reg] });
}

/** `subs rd, rn, #imm` (sets the flags). */
function subsImm(rd: Opnd, rn: Opnd, imm: number): Item {
  return insn("subs", [rd.text, rn.text, `#${imm}`], { defs: [rd.reg, "nzcv"], uses: [rn.reg] });
}

/** `tst rn, #imm` (sets the flags). */
function tst(rn: Opnd, imm: number): Item {
  return insn("tst", [rn.text, `#${imm}`], { defs: ["nzcv"], uses: [rn.reg] });
}

/** `cmp rn, rm{, ext}` (sets the flags; `ext` such as `uxtb` extends rm). */
function cmp(rn: Opnd, rm: Opnd, ext: string | null = null): Item {
  return insn("cmp", [rn.text, rm.text, ...(ext ? [ext] : [])], { defs: ["nzcv"], uses: [rn.reg, rm.reg] });
}

/** A sign extension `rd = ext(rn)` (`sxtb`, `sxth`, `sxtw`). */
function extend(mn: string, rd: Opnd, rn: Opnd): Item {
  return insn(mn, [rd.text, rn.text], { defs: [rd.reg], uses: [rn.reg] });
}

/** `mrs rd, sysreg`. */
function mrs(rd: Opnd, sysreg: string): Item {
  return insn("mrs", [rd.text, sysreg], { defs: [rd.reg] });
}

/** `msr sysreg, rs`. */
function msr(sysreg: string, rs: Opnd): Item {
  return insn("msr", [sysreg, rs.text], { uses: [rs.reg] });
}

/** `adrp rd, sym` (the 4 KiB page of a symbol). */
function adrp(rd: Opnd, sym: string): Item {
  return insn("adrp", [rd.text, sym], { defs: [rd.reg] });
}

/** `cbz`/`cbnz rt, target`. */
function cbranch(op: "cbz" | "cbnz", rt: Opnd, target: string): Item {
  return insn(op, [rt.text, target], { uses: [rt.reg] });
}

/** `b.ne target` (reads the flags). */
function bne(target: string): Item {
  return insn("b.ne", [target], { uses: ["nzcv"] });
}

/** `b target`; a tail call passes the argument registers `uses`. */
function b(target: string, uses: readonly A64Reg[] = []): Item {
  return insn("b", [target], { uses });
}

/** `bl f`: reads the argument registers, may write every caller-saved register. */
function bl(f: string): Item {
  return insn("bl", [f], { defs: CALL_CLOBBERED, uses: ARG_REGS });
}

/** `ret` (through lr). */
function ret(): Item {
  return insn("ret", [], { uses: ["x30"] });
}

// ---------------------------------------------------------------- lowering

/** Address register of the generated accessors. */
const BASE = hw(9);
/** Scratch for large immediates. */
const TMP = hw(10);

/** How a scalar is loaded, stored and held in a register. */
interface ScalarIsa {
  readonly load: string;
  readonly store: string;
  /** Exclusive load/store suffix: `b`, `h` or `` (width then comes from the register). */
  readonly ex: string;
  /** Register form holding the loaded value. */
  readonly form: keyof Reg;
  /** Register form of a stored value / RMW operand. */
  readonly valueForm: keyof Reg;
  /** Zero-extension for comparisons against the exclusive-loaded value (`uxtb`), if narrower than 32 bits. */
  readonly cmpExt: string | null;
  /** Sign extension of an old value from `w` into `x0` for signed narrow types (`sxtb`), else null. */
  readonly signExt: string | null;
  readonly float: boolean;
}

/** Load/store facts of each scalar (signed loads sign-extend to 64 bits; bool and unsigned zero-extend). */
function scalarIsa(name: LoweredScalarName): ScalarIsa {
  const int = (load: string, store: string, ex: string, form: "x" | "w", valueForm: "x" | "w", cmpExt: string | null, signExt: string | null): ScalarIsa =>
    ({ load, store, ex, form, valueForm, cmpExt, signExt, float: false });
  return match(name)
    .returnType<ScalarIsa>()
    .with("u8", "bool", () => int("ldrb", "strb", "b", "w", "w", "uxtb", null))
    .with("i8", () => int("ldrsb", "strb", "b", "x", "w", "uxtb", "sxtb"))
    .with("u16", () => int("ldrh", "strh", "h", "w", "w", "uxth", null))
    .with("i16", () => int("ldrsh", "strh", "h", "x", "w", "uxth", "sxth"))
    .with("u32", () => int("ldr", "str", "", "w", "w", null, null))
    .with("i32", () => int("ldrsw", "str", "", "x", "w", null, "sxtw"))
    .with("u64", "i64", "usize", "isize", () => int("ldr", "str", "", "x", "x", null, null))
    .with("f32", () => ({ load: "ldr", store: "str", ex: "", form: "s", valueForm: "s", cmpExt: null, signExt: null, float: true }))
    .with("f64", () => ({ load: "ldr", store: "str", ex: "", form: "d", valueForm: "d", cmpExt: null, signExt: null, float: true }))
    .exhaustive();
}

/** `mov` of any non-negative constant below 2^48 into `reg` with `movz`/`movk` (never truncated). */
function movImm(reg: Reg, value: number): Item[] {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** 48) throw new RangeError(`Cannot materialise ${value}: expected 0 <= value < 2^48`);
  const out: Item[] = [];
  for (let shift = 0; shift < 48; shift += 16) {
    const chunk = Math.floor(value / 2 ** shift) % 0x10000;
    if (chunk === 0) continue;
    out.push(out.length === 0 ? movz(reg.x, chunk, shift) : movk(reg.x, chunk, shift));
  }
  return out.length === 0 ? [movz(reg.x, 0, 0)] : out;
}

/** `dst += idx * stride`: a shifted add for powers of two, else `madd` through `tmp`. */
function scaledAdd(dst: Reg, idx: Reg, stride: number, tmp: Reg): Item[] {
  if (stride > 0 && (stride & (stride - 1)) === 0 && stride < 2 ** 31) return [rrr("add", dst.x, dst.x, idx.x, Math.log2(stride))];
  return [...movImm(tmp, stride), madd(dst.x, idx.x, tmp.x, dst.x)];
}

/** `reg += off` in the fewest instructions (0 to 3). */
function addOffset(reg: Reg, off: number, tmp: Reg): Item[] {
  if (off === 0) return [];
  if (off < 4096) return [addImm(reg.x, reg.x, off)];
  if (off < 2 ** 24) {
    const lo = off % 4096;
    return [addImm(reg.x, reg.x, Math.floor(off / 4096), true), ...(lo ? [addImm(reg.x, reg.x, lo)] : [])];
  }
  return [...movImm(tmp, off), rrr("add", reg.x, reg.x, tmp.x)];
}

/** Instructions and memory operand reaching `base + off` for an access of `size` bytes. */
interface Place {
  readonly items: readonly Item[];
  readonly mem: Mem;
}

/**
 * The memory operand for `base + off`: the scaled immediate when it fits (0
 * extra instructions), `add ..., lsl #12` plus a scaled low part below 16 MiB
 * (1), else `movz`/`movk` into `tmp` and a register offset (2). May modify `base`.
 */
function memOperand(base: Reg, off: number, size: number, tmp: Reg): Place {
  if (off % size === 0 && off / size < 4096) return { items: [], mem: at(base.x, off) };
  const lo = off % 4096;
  if (off < 2 ** 24 && lo % size === 0) return { items: [addImm(base.x, base.x, Math.floor(off / 4096), true)], mem: at(base.x, lo) };
  return { items: movImm(tmp, off), mem: atIndex(base.x, tmp.x) };
}

/** The system register holding the per-CPU base. */
function perCpuRegister(features: Features): string {
  return features.el2 ? "tpidr_el2" : "tpidr_el1";
}

/** Loads the address of a symbol (plus addend) PC-relatively. */
function adr(reg: Reg, sym: string): Item[] {
  return [adrp(reg.x, sym), addImm(reg.x, reg.x, `:lo12:${sym}`)];
}

/** `sym+off` (or `sym` for 0) as an assembler expression. */
function symPlus(sym: string, off: number): string {
  return off === 0 ? sym : `${sym}+${off}`;
}

/** Register assignment of a leaf op's C parameters by the AAPCS64 (GP in x0.., FP in v0..). */
function argRegs(leaf: PlacedLeaf, op: LoweredLeafOp): Map<string, Reg> {
  const out = new Map<string, Reg>();
  let gp = 0;
  let fp = 0;
  for (const p of leafSignature(leaf, op).params) out.set(p.name, hw(p.type === "float" || p.type === "double" ? fp++ : gp++));
  return out;
}

/** Whether a leaf access addresses the current CPU's area (register or naive globals) or `cpu`'s area. */
type Where = "current" | "remote";

/**
 * Instructions reaching leaf `leaf` (with index registers added) as a memory
 * operand relative to x9; `x9` and `x10` are clobbered.
 */
function leafPlace(input: GenInput, leaf: PlacedLeaf, where: Where, args: Map<string, Reg>): Place {
  const { features } = input.config;
  const idx = leaf.indices.flatMap((dim, k) => scaledAdd(BASE, args.get(`i${k}`)!, dim.stride, TMP));
  if (where === "current" && features.naive) {
    const sym = symPlus(AREAS_SYMBOL, leaf.areaOffset);
    if (leaf.indices.length === 0) return { items: [adrp(BASE.x, sym)], mem: atLo12(BASE.x, sym) };
    return { items: [...adr(BASE, sym), ...idx], mem: at(BASE.x) };
  }
  const head = where === "current" ? [mrs(BASE.x, perCpuRegister(features))] : remoteBase(input, BASE, args.get("cpu")!, TMP);
  const place = memOperand(BASE, leaf.areaOffset, leaf.size, TMP);
  return { items: [...head, ...idx, ...place.items], mem: place.mem };
}

/** Instructions leaving the full address of a current-area leaf (indices added) in x9; clobbers x10. */
function leafAddress(input: GenInput, leaf: PlacedLeaf, args: Map<string, Reg>): Item[] {
  const idx = leaf.indices.flatMap((dim, k) => scaledAdd(BASE, args.get(`i${k}`)!, dim.stride, TMP));
  return [...currentAddress(input, BASE, leaf.areaOffset, TMP), ...idx];
}

/** `reg = BASE + cpu * stride` (the area of `cpu`). */
function remoteBase(input: GenInput, reg: Reg, cpu: Reg, tmp: Reg): Item[] {
  return [adrp(reg.x, BASE_SYMBOL), load("ldr", reg.x, atLo12(reg.x, BASE_SYMBOL)), ...scaledAdd(reg, cpu, input.layout.stride, tmp)];
}

/** `reg = current area base + off` (the register, or the naive globals). */
function currentAddress(input: GenInput, reg: Reg, off: number, tmp: Reg): Item[] {
  const { features } = input.config;
  if (features.naive) return adr(reg, symPlus(AREAS_SYMBOL, off));
  return [mrs(reg.x, perCpuRegister(features)), ...addOffset(reg, off, tmp)];
}

/**
 * Wraps a body (no `ret`) in the enabled guard hooks: a frame (16-byte aligned
 * sp) saves lr and the arguments across the hook calls, and the result across
 * the restore calls. Without hooks the body is returned as is.
 */
function guarded(features: Features, body: readonly Item[], args: readonly Reg[], floatArg: keyof Reg | null, result: keyof Reg | "pair" | null): Item[] {
  if (!features.preempt && !features.irq) return [...body];
  const slots = args.length + (floatArg ? 1 : 0) + (features.irq ? 1 : 0) + (result ? 1 : 0) + (result === "pair" ? 1 : 0);
  const frame = Math.ceil((16 + 8 * slots) / 16) * 16;
  let next = 16;
  const argSlots = args.map((r) => ({ r, at: (next += 8) - 8 }));
  const floatSlot = floatArg ? (next += 8) - 8 : 0;
  const flagsSlot = features.irq ? (next += 8) - 8 : 0;
  const resultSlot = result ? (next += 8) - 8 : 0;
  const r0 = hw(0);
  // A float result/argument is kept as the whole d register; an integer one as x.
  const resultReg = result === "s" || result === "d" ? r0.d : r0.x;
  const out: Item[] = [stp(hw(29).x, hw(30).x, preIndex(SP, -frame)), mov(hw(29).x, SP)];
  for (const s of argSlots) out.push(store("str", s.r.x, at(SP, s.at)));
  if (floatArg) out.push(store("str", r0.d, at(SP, floatSlot)));
  if (features.preempt) out.push(bl(GUARD_HOOKS[0]));
  if (features.irq) out.push(bl(GUARD_HOOKS[2]), store("str", r0.x, at(SP, flagsSlot)));
  for (const s of argSlots) out.push(load("ldr", s.r.x, at(SP, s.at)));
  if (floatArg) out.push(load("ldr", r0.d, at(SP, floatSlot)));
  out.push(...body);
  // A u128 result is the pair x0:x1 (the slot after the first is kept free for it).
  const highSlot = result === "pair" ? (next += 8) - 8 : 0;
  if (result) out.push(store("str", resultReg, at(SP, resultSlot)));
  if (result === "pair") out.push(store("str", hw(1).x, at(SP, highSlot)));
  if (features.irq) out.push(load("ldr", r0.x, at(SP, flagsSlot)), bl(GUARD_HOOKS[3]));
  if (features.preempt) out.push(bl(GUARD_HOOKS[1]));
  if (result) out.push(load("ldr", resultReg, at(SP, resultSlot)));
  if (result === "pair") out.push(load("ldr", hw(1).x, at(SP, highSlot)));
  out.push(ldp(hw(29).x, hw(30).x, postIndex(SP, frame)));
  return out;
}

/** The data-processing mnemonic of each arithmetic RMW op (a new one in the catalog must be added here). */
const RMW_MNEMONIC = {
  add_current: "add",
  sub_current: "sub",
  and_current: "and",
  or_current: "orr",
  xor_current: "eor",
} as const satisfies Record<ArithmeticOp, string>;

/** Registers of an LL/SC loop. */
interface LlscRegs {
  /** Holds the address. */
  readonly addr: Reg;
  /** Loaded (old) value. */
  readonly old: Reg;
  /** New value (arithmetic ops). */
  readonly next: Reg;
  /** stxr status. */
  readonly status: Reg;
  /** Operand / desired value. */
  readonly value: Reg;
  /** cmpxchg expected value. */
  readonly expected: Reg;
}

/** `cset rd, cond`: 1 when the condition holds, else 0. */
function cset(rd: Opnd, cond: string): Item {
  return insn("cset", [rd.text, cond], { defs: [rd.reg], uses: ["nzcv"] });
}

/** The LL/SC loop of an integer RMW op (without address setup or return-value move). */
function llscLoop(isa: ScalarIsa, op: LocalRmwOp, r: LlscRegs): Item[] {
  const f = isa.valueForm;
  const ld = load(`ldxr${isa.ex}`, r.old[f], at(r.addr.x));
  const st = (v: Reg): Item => stxr(isa.ex, r.status.w, v[f], r.addr.x);
  const retry = cbranch("cbnz", r.status.w, "1b");
  const arith = (mn: string): Item[] => [label("1"), ld, rrr(mn, r.next[f], r.old[f], r.value[f]), st(r.next), retry];
  const step = (delta: 1 | -1): Item[] => [
    label("1"),
    ld,
    delta === 1 ? addImm(r.next[f], r.old[f], 1) : subImm(r.next[f], r.old[f], 1),
    st(r.next),
    retry,
  ];
  const cas = (): Item[] => [
    label("1"),
    ld,
    isa.cmpExt ? cmp(r.old.w, r.expected.w, isa.cmpExt) : cmp(r.old[f], r.expected[f]),
    bne("2f"),
    st(r.value),
    retry,
    label("2"),
  ];
  return match(op)
    .returnType<Item[]>()
    .with("inc_current", "inc_return_current", () => step(1))
    .with("dec_current", "dec_return_current", () => step(-1))
    .with("add_return_current", () => arith("add"))
    .with("sub_return_current", () => arith("sub"))
    // The flags of the loop's last `cmp` say whether it stored (stxr and cbnz leave them).
    .with("try_cmpxchg_current", () => cas())
    .with("xchg_current", () => [label("1"), ld, st(r.value), retry])
    .with("cmpxchg_current", () => [
      label("1"),
      ld,
      isa.cmpExt ? cmp(r.old.w, r.expected.w, isa.cmpExt) : cmp(r.old[f], r.expected[f]),
      bne("2f"),
      st(r.value),
      retry,
      label("2"),
    ])
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", (o) => arith(RMW_MNEMONIC[o]))
    .exhaustive();
}

/** An LSE store-form atomic (`stadd`, `stclr`, `stset`, `steor` + size suffix): `[addr] op= v`. */
function lseStore(mn: string, v: Opnd, addr: Opnd): Item {
  return insn(mn, [v.text, `[${addr.text}]`], { uses: [v.reg, addr.reg] });
}

/** An LSE load-form atomic (`ldadd`, `swp`): `old = [addr]; [addr] = old op v`. */
function lseLoad(mn: string, v: Opnd, old: Opnd, addr: Opnd): Item {
  return insn(mn, [v.text, old.text, `[${addr.text}]`], { defs: [old.reg], uses: [v.reg, addr.reg] });
}

/** `cas{b,h} old, v, [addr]`: stores `v` if `[addr]` equals `old` (compared at the access width); `old` = the value found. */
function lseCas(mn: string, old: Opnd, v: Opnd, addr: Opnd): Item {
  return insn(mn, [old.text, v.text, `[${addr.text}]`], { defs: [old.reg], uses: [old.reg, v.reg, addr.reg] });
}

/** `rd = op rm` (`neg`, `mvn`). */
function unaryOp(mn: string, rd: Opnd, rm: Opnd): Item {
  return insn(mn, [rd.text, rm.text], { defs: [rd.reg], uses: [rm.reg] });
}

/**
 * The ARMv8.1 LSE sequence of an integer RMW op (features `lse`; registers as {@link llscLoop}'s, the result in
 * the same place): one atomic instruction on the address, with `neg`/`mvn`/`mov` of the operand where the
 * instruction has the other sense, `add` for the `_return` ops' new value and `cmp` for try_cmpxchg's flags.
 */
function lseSeq(isa: ScalarIsa, op: LocalRmwOp, r: LlscRegs): Item[] {
  const f = isa.valueForm;
  const ex = isa.ex;
  const [a, v, old, next] = [r.addr.x, r.value[f], r.old[f], r.next[f]];
  const cas = (): Item[] => [mov(old, r.expected[f]), lseCas(`cas${ex}`, old, v, a)];
  return match(op)
    .returnType<Item[]>()
    .with("add_current", () => [lseStore(`stadd${ex}`, v, a)])
    .with("sub_current", () => [unaryOp("neg", next, v), lseStore(`stadd${ex}`, next, a)])
    .with("and_current", () => [unaryOp("mvn", next, v), lseStore(`stclr${ex}`, next, a)])
    .with("or_current", () => [lseStore(`stset${ex}`, v, a)])
    .with("xor_current", () => [lseStore(`steor${ex}`, v, a)])
    .with("inc_current", () => [movConst(next, 1), lseStore(`stadd${ex}`, next, a)])
    .with("dec_current", () => [movConst(next, -1), lseStore(`stadd${ex}`, next, a)])
    .with("xchg_current", () => [lseLoad(`swp${ex}`, v, old, a)])
    .with("cmpxchg_current", () => cas())
    .with("try_cmpxchg_current", () => [...cas(), isa.cmpExt ? cmp(r.old.w, r.expected.w, isa.cmpExt) : cmp(old, r.expected[f])])
    .with("add_return_current", () => [lseLoad(`ldadd${ex}`, v, old, a), rrr("add", next, old, v)])
    .with("sub_return_current", () => [unaryOp("neg", next, v), lseLoad(`ldadd${ex}`, next, old, a), rrr("sub", next, old, v)])
    .with("inc_return_current", () => [movConst(next, 1), lseLoad(`ldadd${ex}`, next, old, a), addImm(next, old, 1)])
    .with("dec_return_current", () => [movConst(next, -1), lseLoad(`ldadd${ex}`, next, old, a), subImm(next, old, 1)])
    .exhaustive();
}

/** Moves an old value (from an exclusive load, zero-extended) into the return register with the C type's extension. */
function returnOld(isa: ScalarIsa, from: Reg, to: Reg): Item {
  if (isa.signExt) return extend(isa.signExt, to.x, from.w);
  return mov(to[isa.valueForm], from[isa.valueForm]);
}

/** Moves a computed value (its bits above the type's width undefined) into the return register, extended as the C type is. */
function returnNew(isa: ScalarIsa, from: Reg, to: Reg): Item {
  if (isa.signExt) return extend(isa.signExt, to.x, from.w);
  if (isa.cmpExt) return extend(isa.cmpExt, to.w, from.w);
  return mov(to[isa.valueForm], from[isa.valueForm]);
}

/** The ops whose result or target must be this CPU's (guard class `this_cpu`): guarded when a guard feature is on. */
function thisCpu(op: LocalRmwOp): boolean {
  return LEAF_OP_SPECS[op].guard === "this_cpu";
}

/** Body (without `ret`) of one leaf operation in `percpu.S`. */
function leafBody(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): Item[] {
  const isa = scalarIsa(leaf.scalar);
  const args = argRegs(leaf, op);
  const features = input.config.features;
  const r0 = hw(0);
  const gpArgs = [...args.entries()].filter(([n]) => !(isa.float && n === "v")).map(([, r]) => r);
  const floatArg = isa.float && args.has("v") ? isa.valueForm : null;
  const read = (where: Where): Item[] => {
    const p = leafPlace(input, leaf, where, args);
    return [...p.items, load(isa.load, r0[isa.form], p.mem)];
  };
  const write = (where: Where): Item[] => {
    const p = leafPlace(input, leaf, where, args);
    return [...p.items, store(isa.store, args.get("v")![isa.valueForm], p.mem)];
  };
  const rmw = (o: LocalRmwOp, where: Where = "current"): Item[] => {
    // Full address in x9 (exclusives take no offset), then the loop: the current CPU's copy, or
    // `cpu`'s copy for the remote RMW ops (the same LL/SC loop: atomic on the address either way).
    const addr = where === "current"
      ? leafAddress(input, leaf, args)
      : [
        ...remoteBase(input, BASE, args.get("cpu")!, TMP),
        ...addOffset(BASE, leaf.areaOffset, TMP),
        ...leaf.indices.flatMap((dim, k) => scaledAdd(BASE, args.get(`i${k}`)!, dim.stride, TMP)),
      ];
    const tryOp = o === "try_cmpxchg_current";
    const regs: LlscRegs = {
      addr: BASE,
      old: hw(11),
      next: hw(13),
      status: hw(12),
      value: args.get(o === "cmpxchg_current" || tryOp ? "desired" : "v") ?? hw(14),
      // try_cmpxchg: the expected value is loaded from *expected (x0) into x14.
      expected: tryOp ? hw(14) : args.get("expected") ?? r0,
    };
    // try_cmpxchg's `T *expected` (after any index arguments).
    const ptr = args.get("expected") ?? r0;
    const head = tryOp ? [load(isa.load === "ldrsw" ? "ldr" : isa.load.replace("ldrs", "ldr"), hw(14)[isa.valueForm], at(ptr.x))] : [];
    const loop = features.lse ? lseSeq(isa, o, regs) : llscLoop(isa, o, regs);
    const tail = match(o)
      .returnType<Item[]>()
      .with("xchg_current", "cmpxchg_current", () => [returnOld(isa, regs.old, r0)])
      .with("add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", () => [returnNew(isa, regs.next, r0)])
      .with("try_cmpxchg_current", () => [store(isa.store, regs.old[isa.valueForm], at(ptr.x)), cset(r0.w, "eq")])
      .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "inc_current", "dec_current", () => [])
      .exhaustive();
    const body = [...head, ...addr, ...loop, ...tail];
    // Ops whose result or target must be this CPU's take the guard: mrs and the loop are several instructions.
    // Counter ops too, unless the variable is counter: true (then a migration moves the whole update to the previous CPU's copy).
    if (where === "current" && (thisCpu(o) || !leaf.counter)) return guarded(features, body, gpArgs, null, LEAF_OP_SPECS[o].returns === "void" ? null : "x");
    return body;
  };
  return match(op)
    .returnType<Item[]>()
    .with("read_current_raw", () => read("current"))
    .with("write_current_raw", () => write("current"))
    .with("read_current", () => guarded(features, read("current"), gpArgs, null, isa.form))
    .with("write_current", () => guarded(features, write("current"), gpArgs, floatArg, null))
    .with("remote_read", () => read("remote"))
    .with("remote_write", () => write("remote"))
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
      (o) => rmw(o),
    )
    .with("remote_add", "remote_cmpxchg", (o) => rmw(REMOTE_RMW_LIKE[o], "remote"))
    .exhaustive();
}

/**
 * The assembly text (one `renderFunction`: body plus `ret`) of one leaf
 * operation: exported so tests can assemble accessors for offsets no real
 * layout can be linked at.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { aarch64LeafAssembly } from "./aarch64.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0n);
 * const gen = sdk.generate({ arch: "aarch64", functions: true });
 * const input = generatorInput(gen.layout, gen.config);
 * aarch64LeafAssembly(input, input.vars[0]!.leaves[0]!, "read_current_raw"); // "...\tmrs x9, tpidr_el1\n\tldr x0, [x9]\n\tret\n..."
 * ```
 */
export function aarch64LeafAssembly(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  return renderFunction(leafFunction(leaf, op), [...leafBody(input, leaf, op), ret()]);
}

/**
 * AAPCS64 registers of a u128 leaf op's parameters: `uintptr_t`s one each,
 * an `unsigned __int128` an even-numbered pair (its high half as `name.hi`).
 * A value that would go on the stack (more than x0..x7) is refused.
 */
function u128ArgRegs(leaf: PlacedU128Leaf, op: LeafOp): Map<string, Reg> {
  const out = new Map<string, Reg>();
  let gp = 0;
  const sig = leafSignature(leaf, op);
  for (const p of sig.params) {
    if (p.type === cScalarType("u128")) {
      gp += gp % 2;
      if (gp + 2 > ARG_REGS.length) {
        fail("type_not_on_target", [leaf.varName, ...leaf.path], `Variable "${leaf.varName}" leaf ${leaf.symbol}: the u128 ${p.name} of ${sig.name} would be passed on the stack (too many index arguments); aarch64 lowers u128 values in register pairs only`);
      }
      out.set(p.name, hw(gp));
      out.set(`${p.name}.hi`, hw(gp + 1));
      gp += 2;
    } else {
      out.set(p.name, hw(gp++));
    }
  }
  return out;
}

/**
 * Body (without `ret`) of an op on a u128 leaf. The full address is in x9.
 * The raw and remote accesses are `ldp`/`stp` (not single-copy atomic before
 * LSE2: a remote read may tear); `read_current` and `write_current` are
 * `ldxp`/`stxp` loops (a 128-bit `ldxp` is single-copy atomic only when the
 * `stxp` after it succeeds, so the read stores back what it loaded);
 * `cmpxchg128_current` is the LL/SC loop of ARMv8.0 (on a miss the value
 * found is stored back, for the same reason) or one `casp` with `lse`. The
 * current-CPU ops take the guard (several instructions: `mrs` + the access),
 * as Linux's arm64 this_cpu ops disable preemption.
 */
function u128Body(input: GenInput, leaf: PlacedU128Leaf, op: LeafOp): Item[] {
  const args = u128ArgRegs(leaf, op);
  const features = input.config.features;
  const x = (n: number): Opnd => hw(n).x;
  const a = (name: string): Opnd => args.get(name)!.x;
  const idx = leaf.indices.flatMap((dim, k) => scaledAdd(BASE, args.get(`i${k}`)!, dim.stride, TMP));
  const current = (): Item[] => [...currentAddress(input, BASE, leaf.areaOffset, TMP), ...idx];
  const remote = (): Item[] => [...remoteBase(input, BASE, args.get("cpu")!, TMP), ...addOffset(BASE, leaf.areaOffset, TMP), ...idx];
  const pair = (o: string, lo: Opnd, hi: Opnd, defs: readonly A64Reg[], uses: readonly A64Reg[]): Item =>
    insn(o, [lo.text, hi.text, at(BASE.x).text], { defs, uses: [...uses, BASE.x.reg] });
  const ldxp = (lo: Opnd, hi: Opnd): Item => pair("ldxp", lo, hi, [lo.reg, hi.reg], []);
  const stxp = (lo: Opnd, hi: Opnd): Item =>
    insn("stxp", [TMP.w.text, lo.text, hi.text, at(BASE.x).text], { defs: [TMP.x.reg], uses: [lo.reg, hi.reg, BASE.x.reg] });
  const cbnz = (target: string): Item => insn("cbnz", [TMP.w.text, target], { uses: [TMP.x.reg] });
  const movx = (to: Opnd, from: Opnd): Item[] => (to.reg === from.reg ? [] : [insn("mov", [to.text, from.text], { defs: [to.reg], uses: [from.reg] })]);
  const gpArgs = [...args.values()];
  const guard = (body: Item[], result: "pair" | null): Item[] => guarded(features, body, gpArgs, null, result);
  return match(op)
    .returnType<Item[]>()
    .with("read_current_raw", () => [...current(), pair("ldp", x(0), x(1), ["x0", "x1"], [])])
    .with("remote_read", () => [...remote(), pair("ldp", x(0), x(1), ["x0", "x1"], [])])
    .with("write_current_raw", () => [...current(), pair("stp", a("v"), a("v.hi"), [], [a("v").reg, a("v.hi").reg])])
    .with("remote_write", () => [...remote(), pair("stp", a("v"), a("v.hi"), [], [a("v").reg, a("v.hi").reg])])
    .with("read_current", () => guard([...current(), label("1"), ldxp(x(0), x(1)), stxp(x(0), x(1)), cbnz("1b")], "pair"))
    .with("write_current", () => guard([...current(), label("1"), ldxp(x(11), x(12)), stxp(a("v"), a("v.hi")), cbnz("1b")], null))
    .with("cmpxchg128_current", () => {
      const [e, eh, d, dh] = [a("expected"), a("expected.hi"), a("desired"), a("desired.hi")];
      if (features.lse) {
        // casp compares and receives in the even pair of `expected` (AAPCS64 gives it one), stores the pair of `desired`.
        return guard([...current(), insn("casp", [e.text, eh.text, d.text, dh.text, at(BASE.x).text], { defs: [e.reg, eh.reg], uses: [e.reg, eh.reg, d.reg, dh.reg, BASE.x.reg] }), ...movx(x(0), e), ...movx(x(1), eh)], "pair");
      }
      return guard([
        ...current(),
        label("1"),
        ldxp(x(11), x(12)),
        insn("cmp", [x(11).text, e.text], { defs: ["nzcv"], uses: ["x11", e.reg] }),
        insn("ccmp", [x(12).text, eh.text, "#0", "eq"], { defs: ["nzcv"], uses: ["x12", eh.reg, "nzcv"] }),
        insn("b.ne", ["2f"], { uses: ["nzcv"] }),
        stxp(d, dh),
        cbnz("1b"),
        insn("b", ["3f"]),
        label("2"),
        stxp(x(11), x(12)),
        cbnz("1b"),
        label("3"),
        ...movx(x(0), x(11)),
        ...movx(x(1), x(12)),
      ], "pair");
    })
    .with(
      "add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", "inc_current", "dec_current",
      "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", "remote_add", "remote_cmpxchg",
      (o) => {
        throw new Error(`aarch64: ${o} does not apply to u128 leaves (sdk/ops.ts scalars)`);
      },
    )
    .exhaustive();
}

/** A copy unit in bytes. */
type Unit = 1 | 2 | 4 | 8;

/** Copy loop of `size` bytes from x10 to x9 in `unit`-byte steps (post-indexed); clobbers x9-x12. */
function copyLoop(size: number, unit: Unit, loop: number): Item[] {
  if (size === 0) return [];
  const [ld, st, r] = match(unit)
    .returnType<[string, string, Opnd]>()
    .with(8, () => ["ldr", "str", hw(12).x])
    .with(4, () => ["ldr", "str", hw(12).w])
    .with(2, () => ["ldrh", "strh", hw(12).w])
    .with(1, () => ["ldrb", "strb", hw(12).w])
    .exhaustive();
  const src = hw(10).x;
  const dst = hw(9).x;
  const step = (): Item[] => [load(ld, r, postIndex(src, unit)), store(st, r, postIndex(dst, unit))];
  const count = size / unit;
  if (count <= 4) return Array.from({ length: count }, step).flat();
  const counter = hw(11);
  return [...movImm(counter, count), label(`${loop}`), ...step(), subsImm(counter.x, counter.x, 1), bne(`${loop}b`)];
}

/** Largest access unit (8, 4, 2, 1) dividing both `off` and `size`. */
function copyUnit(off: number, size: number): Unit {
  for (const u of [8, 4, 2] as const) if (off % u === 0 && size % u === 0) return u;
  return 1;
}

/** The runtime functions. */
function runtime(input: GenInput): string[] {
  const { layout, config } = input;
  const { features } = config;
  const naive = features.naive;
  const sysreg = perCpuRegister(features);
  const words = Math.floor(layout.areaSize / 8);
  const tail = layout.areaSize % 8;
  const [x0, x1, x9, x13, x14, x15] = [hw(0).x, hw(1).x, hw(9).x, hw(13).x, hw(14).x, hw(15).x];
  const init: Item[] = [
    cbranch("cbz", x0, "8f"),
    tst(x0, layout.areaAlign - 1),
    bne("9f"),
    mov(x13, x0), // area being filled
    mov(x14, x1), // areas left
    ...movImm(hw(15), layout.stride),
    label("1"),
    cbranch("cbz", x14, "5f"),
    ...adr(hw(10), TEMPLATE_SYMBOL),
    mov(x9, x13),
    // Bases are areaAlign (>= 64) aligned and the template is 64-aligned: 8-byte words, then the tail bytes.
    ...copyLoop(words * 8, 8, 2),
    ...copyLoop(tail, 1, 3),
    rrr("add", x13, x13, x15),
    subImm(x14, x14, 1),
    b("1b"),
    label("5"),
    adrp(x9, BASE_SYMBOL),
    store("str", x0, atLo12(x9, BASE_SYMBOL)),
    adrp(x9, NUM_SYMBOL),
    store("str", x1, atLo12(x9, NUM_SYMBOL)),
    mov(x0, x1),
    ret(),
    label("8"),
    movConst(x0, -1),
    ret(),
    label("9"),
    movConst(x0, -2),
    ret(),
  ];
  const inPlace = naive
    ? [...adr(hw(0), AREAS_SYMBOL), movConst(x1, 1), b("percpu_init", ["x0", "x1"])]
    : [...adr(hw(0), "_percpu_start"), ...movImm(hw(1), config.cpus), b("percpu_init", ["x0", "x1"])];
  const areaBase = [...remoteBase(input, hw(9), hw(0), TMP), mov(x0, x9), ret()];
  // naive (the seed's sp-naive): init ignores its base and count and (re)initialises the one area in place, returning 1,
  // so the accessors and percpu_area_base(0) always agree on where the area is.
  const naiveArgs = naive ? [...adr(hw(0), AREAS_SYMBOL), movConst(x1, 1)] : [];
  return [
    renderFunction("percpu_init", [...naiveArgs, ...init]),
    renderFunction("percpu_init_in_place", inPlace),
    // naive: one CPU and no register, so there is nothing to set.
    renderFunction("percpu_init_reg", naive ? [ret()] : [...remoteBase(input, hw(9), hw(0), TMP), msr(sysreg, x9), ret()]),
    renderFunction("percpu_read_reg", naive ? [...adr(hw(0), AREAS_SYMBOL), ret()] : [mrs(x0, sysreg), ret()]),
    renderFunction("percpu_write_reg", naive ? [ret()] : [msr(sysreg, x0), ret()]),
    renderFunction("percpu_area_base", areaBase),
    renderFunction("percpu_area_num", [adrp(x0, NUM_SYMBOL), load("ldr", x0, atLo12(x0, NUM_SYMBOL)), ret()]),
    renderFunction("percpu_area_size", [...movImm(hw(0), layout.areaSize), ret()]),
  ];
}

/** The per-variable functions: current_ptr, remote_ptr, reset_to_init. */
function varFunctions(input: GenInput): string[] {
  const out: string[] = [];
  for (const v of input.vars) {
    const { name, offset, size } = v.layout;
    out.push(renderFunction(varFunction(name, "current_ptr"), [...currentAddress(input, hw(0), offset, TMP), ret()]));
    out.push(renderFunction(varFunction(name, "remote_ptr"), [...remoteBase(input, hw(9), hw(0), TMP), ...addOffset(hw(9), offset, TMP), mov(hw(0).x, hw(9).x), ret()]));
    const copy = [...currentAddress(input, hw(9), offset, hw(11)), ...adr(hw(10), symPlus(TEMPLATE_SYMBOL, offset)), ...copyLoop(size, copyUnit(offset, size), 1)];
    out.push(renderFunction(varFunction(name, "reset_to_init"), [...guarded(input.config.features, copy, [], null, null), ret()]));
  }
  return out;
}

/** The complete `percpu.S`. */
function code(input: GenInput): string {
  const parts = [
    // features lse: ARMv8.1 atomics (the backend's -march is armv8-a).
    ...(input.config.features.lse ? [".arch_extension lse"] : []),
    ".text",
    "",
    ...runtime(input),
    ...varFunctions(input),
  ];
  for (const v of input.vars) {
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) parts.push(aarch64LeafAssembly(input, leaf, op));
    for (const leaf of v.u128Leaves) {
      for (const op of leafOps(leaf.scalar)) parts.push(renderFunction(leafFunction(leaf, op), [...u128Body(input, leaf, op), ret()]));
    }
  }
  return parts.join("\n");
}

/** The byte just past the furthest access of a leaf (all index values). */
function leafEnd(leaf: PlacedLeaf): number {
  return leaf.areaOffset + leaf.indices.reduce((s, d) => s + (d.length - 1) * d.stride, 0) + leaf.size;
}

/** Rejects user mode and offsets past {@link AARCH64_REACH}. */
function check(input: GenInput): void {
  if (input.config.mode !== "kernel") fail("options_invalid", ["mode"], `Invalid generate options: aarch64 supports kernel mode only, not ${input.config.mode}`);
  for (const v of input.vars) {
    const varEnd = v.layout.offset + v.layout.size;
    if (varEnd > AARCH64_REACH) {
      fail("offset_out_of_reach", [v.layout.name], `Offset out of reach for "${v.layout.name}": it ends at byte ${varEnd}, aarch64 reaches ${AARCH64_REACH} (2 GiB)`);
    }
    for (const leaf of v.leaves) {
      const end = leafEnd(leaf);
      if (end > AARCH64_REACH) {
        const path: PathSegment[] = [leaf.varName, ...leaf.path];
        fail("offset_out_of_reach", path, `Offset out of reach for ${leaf.symbol}: it ends at byte ${end}, aarch64 reaches ${AARCH64_REACH} (2 GiB)`);
      }
    }
  }
}

// ---------------------------------------------------------------- inline C

/** C name of the inline helper reading the per-CPU register. */
const INLINE_REG = "__percpu_aarch64_reg";

/** The C integer type an asm operand of this form is held in. */
function cHold(isa: ScalarIsa, form: keyof Reg, cType: string): string {
  if (isa.float) return cType;
  return form === "x" ? "uint64_t" : "uint32_t";
}

/** C expression of the base of the area addressed by `where` plus index terms. */
function inlineBase(input: GenInput, leaf: PlacedLeaf, where: Where): string {
  const { features } = input.config;
  // naive: the compiler folds the offset into `adrp`/`add` of the symbol, so the asm needs none.
  const head = where === "remote"
    ? `${BASE_SYMBOL} + cpu * ${input.layout.stride}u`
    : features.naive ? `(uintptr_t)(${AREAS_SYMBOL} + ${leaf.areaOffset}u)` : `${INLINE_REG}()`;
  return [head, ...leaf.indices.map((d, k) => `i${k} * ${d.stride}u`)].join(" + ");
}

/**
 * The `"..."` C string of an inline-asm template for an item list: the
 * `percpu.S` lines of the items (instructions tab-indented, labels alone on
 * their line) joined by newlines. A local renderer rather than
 * `inlineTemplate` of `asm.ts`, whose layout (no leading tab, `1:\t` after a
 * label) differs from the header text this backend has always emitted.
 */
function asmText(items: readonly Item[]): string {
  return JSON.stringify(renderLines(items).join("\n"));
}

/** Whether a register the IR records is a machine general-purpose register (x0..x30), which an inline statement must clobber if it writes it. */
function isXReg(r: A64Reg): r is XReg {
  return (XREGS as readonly string[]).includes(r);
}

/**
 * The clobber list of an inline statement: the machine x-registers its
 * items write (placeholders are the compiler's operands, not clobbers),
 * `"cc"` when they write the flags — or, with `llsc`, always: an LL/SC
 * statement has always declared the flags clobbered (as the header's
 * `PERCPU__ADD_AT` does), even where only cmpxchg's `cmp` writes them — and
 * `"memory"`.
 */
function inlineClobbers(items: readonly Item[], llsc: boolean): string {
  const defs = definedRegs(items);
  const cc = llsc || defs.includes("nzcv");
  return [...defs.filter(isXReg).map((r) => `"${r}"`), ...(cc ? [`"cc"`] : []), `"memory"`].join(", ");
}

/** The early-clobber outputs among `names` (in that order) that an item list writes as placeholders `%[name]`. */
function scratchOutputs(items: readonly Item[], names: readonly string[]): string[] {
  const defs = new Set(definedRegs(items));
  return names.filter((n) => defs.has(`%[${n}]`));
}

/** Body statements of one inline leaf op. */
function inlineBody(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string[] {
  const isa = scalarIsa(leaf.scalar);
  const f = input.config.features;
  const s = leaf.cType;
  const b = operand("b");
  const t = operand("t");
  const place = (where: Where): Place => memOperand(b, where === "current" && f.naive ? 0 : leaf.areaOffset, leaf.size, t);
  // The far register-offset form materialises the offset in the scratch operand `t`: declared when the items write it.
  const usesTmp = (items: readonly Item[]): boolean => scratchOutputs(items, ["t"]).length > 0;
  const tmpDecl = (items: readonly Item[]): string[] => (usesTmp(items) ? ["uintptr_t t;"] : []);
  const baseOut = (items: readonly Item[]): string[] => [`[b] "+r"(b)`, ...(usesTmp(items) ? [`[t] "=&r"(t)`] : [])];
  const sig = leafSignature(leaf, op);
  const callRaw = (rawOp: LoweredLeafOp): string => `${leafFunction(leaf, rawOp)}(${sig.params.map((p) => p.name).join(", ")})`;
  const guard = (call: string, returns: boolean): string[] => {
    if (!f.preempt && !f.irq) return [returns ? `return ${call};` : `${call};`];
    const out: string[] = [];
    if (f.preempt) out.push(`${GUARD_HOOKS[0]}();`);
    if (f.irq) out.push(`uintptr_t flags = ${GUARD_HOOKS[2]}();`);
    out.push(returns ? `${s} r = ${call};` : `${call};`);
    if (f.irq) out.push(`${GUARD_HOOKS[3]}(flags);`);
    if (f.preempt) out.push(`${GUARD_HOOKS[1]}();`);
    if (returns) out.push("return r;");
    return out;
  };
  const read = (where: Where): string[] => {
    const p = place(where);
    const hold = cHold(isa, isa.form, s);
    const v = operand("v");
    const items = [...p.items, load(isa.load, v[isa.form], p.mem)];
    return [
      `uintptr_t b = ${inlineBase(input, leaf, where)};`,
      ...tmpDecl(items),
      `${hold} v;`,
      `__asm__ volatile(${asmText(items)} : [v] "=${isa.float ? "w" : "r"}"(v), ${baseOut(items).join(", ")} : : ${inlineClobbers(items, false)});`,
      isa.float ? "return v;" : `return (${s})v;`,
    ];
  };
  const write = (where: Where): string[] => {
    const p = place(where);
    const v = operand("v");
    const value = isa.float ? "v" : `(${cHold(isa, isa.valueForm, s)})v`;
    const items = [...p.items, store(isa.store, v[isa.valueForm], p.mem)];
    return [
      `uintptr_t b = ${inlineBase(input, leaf, where)};`,
      ...tmpDecl(items),
      `__asm__ volatile(${asmText(items)} : ${baseOut(items).join(", ")} : [v] "${isa.float ? "w" : "r"}"(${value}) : ${inlineClobbers(items, false)});`,
    ];
  };
  const rmw = (o: LocalRmwOp): string[] => {
    const hold = cHold(isa, isa.valueForm, s);
    const regs: LlscRegs = { addr: operand("a"), old: operand("old"), next: operand("next"), status: operand("st"), value: operand("v"), expected: operand("e") };
    const loop = f.lse ? lseSeq(isa, o, regs) : llscLoop(isa, o, regs);
    // The loop's scratch values (old, status, and the new value of arithmetic ops) are the placeholders it writes.
    const scratch = scratchOutputs(loop, ["old", "st", "next"]);
    const outs = scratch.map((n) => `[${n}] "=&r"(${n})`);
    const spec = LEAF_OP_SPECS[o];
    const ins = [
      `[a] "r"(a)`,
      ...match(o)
        .returnType<string[]>()
        .with("cmpxchg_current", () => [`[e] "r"((${hold})expected)`, `[v] "r"((${hold})desired)`])
        .with("try_cmpxchg_current", () => [`[e] "r"((${hold})*expected)`, `[v] "r"((${hold})desired)`])
        .with("inc_current", "dec_current", "inc_return_current", "dec_return_current", () => [])
        .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "add_return_current", "sub_return_current", () => [`[v] "r"((${hold})v)`])
        .exhaustive(),
    ];
    const off = f.naive ? "" : ` + ${leaf.areaOffset}u`;
    const decls = [`uintptr_t a = ${inlineBase(input, leaf, "current")}${off};`, ...scratch.map((n) => `${n === "st" ? "uint32_t" : hold} ${n};`)];
    const result = match(o)
      .returnType<string>()
      .with("xchg_current", "cmpxchg_current", () => `(${s})old`)
      .with("add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", () => `(${s})next`)
      .with("try_cmpxchg_current", () => `((${s})old == *expected ? true : (*expected = (${s})old, false))`)
      .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "inc_current", "dec_current", () => "(void)old")
      .exhaustive();
    // features lse: the LSE instructions need the extension whatever -march the includer compiles with.
    const text = f.lse ? `".arch_extension lse\\n\\t" ${asmText(loop)}` : asmText(loop);
    const stmt = `__asm__ volatile(${text} : ${outs.join(", ")} : ${ins.join(", ")} : ${inlineClobbers(loop, true)});`;
    // Ops whose result or target must be this CPU's take the guard around the whole sequence (mrs, loop).
    if ((thisCpu(o) || !leaf.counter) && (f.preempt || f.irq)) {
      // The hooks around mrs and the loop; the result is computed before the exit hooks.
      const ret = spec.returns === "void" ? [`${result};`] : [`${spec.returns === "ok" ? "bool" : s} r_ = ${result};`];
      return [
        ...(f.preempt ? [`${GUARD_HOOKS[0]}();`] : []),
        ...(f.irq ? [`uintptr_t flags = ${GUARD_HOOKS[2]}();`] : []),
        ...decls,
        stmt,
        ...ret,
        ...(f.irq ? [`${GUARD_HOOKS[3]}(flags);`] : []),
        ...(f.preempt ? [`${GUARD_HOOKS[1]}();`] : []),
        ...(spec.returns === "void" ? [] : ["return r_;"]),
      ];
    }
    return [...decls, stmt, spec.returns === "void" ? `${result};` : `return ${result};`];
  };
  return match(op)
    .returnType<string[]>()
    .with("read_current_raw", () => read("current"))
    .with("write_current_raw", () => write("current"))
    .with("read_current", () => guard(callRaw("read_current_raw"), true))
    .with("write_current", () => guard(callRaw("write_current_raw"), false))
    .with("remote_read", () => read("remote"))
    .with("remote_write", () => write("remote"))
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
      (o) => rmw(o),
    )
    .with("remote_add", "remote_cmpxchg", (o: RemoteRmwOp) => remoteRmwC(leaf, o, `(volatile ${leaf.cType} *)(${inlineBase(input, leaf, "remote")} + ${leaf.areaOffset}u)`))
    .exhaustive();
}

/**
 * The `static inline` accessors for `PERCPU_INLINE`. Float accessors need
 * the FP/SIMD registers (hard-float AAPCS64), so they are defined only when
 * `__ARM_FP` is (not under `-mgeneral-regs-only`, where integer ones still work).
 */
function inlineC(input: GenInput): string {
  const { features } = input.config;
  const out: string[] = [
    "/* aarch64 inline accessors: RMW ops are LL/SC loops (ARMv8.0, no LSE) on the computed address, no hooks needed. */",
    `extern uintptr_t ${BASE_SYMBOL};`,
  ];
  // Size and alignment let the compiler fold offsets into `adrp`/`:lo12:` of the symbol.
  if (features.naive) out.push(`extern unsigned char ${AREAS_SYMBOL}[${input.layout.stride * input.config.cpus}] __attribute__((aligned(${input.layout.areaAlign})));`);
  else {
    const r: Opnd = { text: "%0", reg: "%[0]" };
    out.push(
      `static inline uintptr_t ${INLINE_REG}(void) {`,
      "  uintptr_t r;",
      `  __asm__ volatile("${inlineTemplate([mrs(r, perCpuRegister(features))])}" : "=r"(r));`,
      "  return r;",
      "}",
    );
  }
  for (const v of input.vars) {
    const t = cTypeName(v.layout.name);
    const ptr = features.naive ? `(uintptr_t)(${AREAS_SYMBOL} + ${v.layout.offset}u)` : `${INLINE_REG}() + ${v.layout.offset}u`;
    out.push(`static inline ${t} *${varFunction(v.layout.name, "current_ptr")}(void) {`, `  return (${t} *)(${ptr});`, "}");
    for (const leaf of v.leaves) {
      const isa = scalarIsa(leaf.scalar);
      if (isa.float) out.push("#ifdef __ARM_FP");
      for (const op of leafOps(leaf.scalar)) {
        const sig = leafSignature(leaf, op);
        const params = sig.params.length === 0 ? "void" : sig.params.map((p) => `${p.type} ${p.name}`).join(", ");
        out.push(`static inline ${sig.ret} ${sig.name}(${params}) {`, ...inlineBody(input, leaf, op).map((l) => `  ${l}`), "}");
      }
      if (isa.float) out.push("#endif");
    }
  }
  return out.join("\n") + "\n";
}

/** The aarch64 backend: kernel mode at EL1 (TPIDR_EL1) or EL2 (TPIDR_EL2), or naive globals. */
export const aarch64Backend: ArchBackend = {
  arch: "aarch64",
  registerName: "TPIDR_EL1",
  clangFlags: ["--target=aarch64-unknown-none-elf", "-march=armv8-a", "-mstrict-align"],
  supportsUserMode: false,
  check,
  commentChar: "//",
  code,
  headerPrimitives: aarch64HeaderPrimitives,
  counterKinds: true,
  inlineC,
};
