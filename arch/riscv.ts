/**
 * RISC-V backends (riscv64 LP64 and riscv32 ILP32, both soft-float, kernel
 * mode only). The per-CPU register is `gp`: `percpu_init_reg` sets it and
 * every current-CPU access is relative to it. The generated code is built
 * with `-mno-relax` and `percpu.S` says `.option norelax`, so the linker never
 * relaxes anything against `gp`.
 *
 * Code shapes, chosen per leaf from the known offset:
 * - offset < 2048 (signed 12-bit): `l{b,bu,h,hu,w,d} r, off(gp)` / `s{b,h,w,d}
 *   r, off(gp)`: one instruction, so the guarded `read_current` /
 *   `write_current` take no guard;
 * - up to 2 GiB: `lui t0, hi; add t0, t0, gp; l* r, lo(t0)` with
 *   `hi = (off + 0x800) >> 12`. For `hi = 0x80000` (off ≥ 2^31 − 2048) `lui`
 *   sign-extends on riscv64, so that case subtracts instead:
 *   `lui t0, 0x80000; sub t0, gp, t0` adds +2^31 on both widths;
 * - 32/64-bit read-modify-write ops (`amoadd`, `amoand`, `amoor`, `amoxor`,
 *   `amoswap`, an LR/SC loop for cmpxchg; `sub` = `amoadd` of the negation)
 *   run on the computed address: a migration between computing the address
 *   and the AMO makes the update land, atomically, on the CPU the address
 *   was computed on, so no update is ever lost and they need no guard;
 * - 8/16-bit RMW ops (no AMO for those widths), 64-bit values on riscv32
 *   (register pairs: two loads/stores), indexed and far `read_current` /
 *   `write_current` and `reset_to_init` are plain sequences, wrapped in the
 *   `preempt` / `irq` hooks when those features are on (ra and the arguments
 *   saved on a 16-byte aligned frame);
 * - `naive`: one CPU, plain globals addressed PC-relative (`auipc`) from
 *   `__percpu_areas`; `gp` is never touched (`percpu_init_reg` and
 *   `percpu_write_reg` do nothing, `percpu_read_reg` returns the area).
 *
 * Lowerings build the instruction IR of `asm.ts` from typed register operands
 * (x-registers by ABI name; inline-asm placeholders such as `%[v0]` name no
 * register), each instruction recording the registers it writes and reads,
 * and render it once: `percpu.S` through `renderFunction`, the inline asm of
 * `PERCPU_INLINE` through a local renderer of the same items.
 *
 * `PERCPU_INLINE` (`inlineC`): RMW ops are the same asm sequences as inline
 * asm (clobbers: the t-registers the sequence defines, and "memory"); plain loads/stores are C volatile
 * accesses relative to gp obtained through an empty asm bound to gp, so the
 * compiler folds the offset into a single `l* r, off(gp)` and extends the
 * value exactly as the psABI wants (an asm output would cost an extra
 * `sext.w`/`andi`). Guards are C calls of the same hooks around them.
 *
 * Values follow the soft-float psABIs: f32/f64 travel in integer registers
 * (riscv64: one register, riscv32: f64 in a pair); 32-bit integers are
 * sign-extended on riscv64 (so u32 reads use `lw`), narrower ones extended by
 * their signedness.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail } from "../sdk/errors.ts";
import { MAX_AREA_SIZE } from "../sdk/layout.ts";
import { cTypeName, GUARD_HOOKS, leafFunction, leafOps, type LeafOp, type LoweredLeafOp, varFunction } from "../sdk/symbols.ts";
import type { ScalarName } from "../sdk/types.ts";
import type { LoweredScalarName } from "../sdk/c_names.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { type AsmItem, definedRegs, insn, label, renderFunction, renderLines } from "./asm.ts";
import { riscvHeaderPrimitives } from "./riscv_header.ts";
import type { AnyPlacedLeaf, GenInput, PlacedLeaf, PlacedU128Leaf } from "../sdk/plan.ts";
import type { ArchBackend } from "./backend.ts";
import { leafSignature } from "./c_types.ts";
import { type RemoteRmwOp } from "../sdk/ops.ts";
import { remoteRmwC } from "./_remote_c.ts";

/** The two RISC-V widths. */
type RiscvTarget = "riscv64" | "riscv32";

/** Facts of one RISC-V width. */
interface Rv {
  readonly arch: RiscvTarget;
  /** Register width in bytes. */
  readonly xlen: 4 | 8;
  /** Register-sized load / store. */
  readonly ld: "ld" | "lw";
  readonly sd: "sd" | "sw";
}

const RV64: Rv = { arch: "riscv64", xlen: 8, ld: "ld", sd: "sd" };
const RV32: Rv = { arch: "riscv32", xlen: 4, ld: "lw", sd: "sw" };

/** Largest displacement of a load/store/addi (signed 12-bit). */
const IMM12_MAX = 2047;

// ---------------------------------------------------------------- registers and instructions (IR)

/** Integer argument registers, in order. */
const ARG_REGS = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"] as const;
/** Temporaries (caller-saved scratch), in order: what the inline asm may clobber. */
const TEMP_REGS = ["t0", "t1", "t2", "t3", "t4", "t5", "t6"] as const;
/** What a call may write besides ra: every caller-saved register. */
const CALL_CLOBBERED = [...TEMP_REGS, ...ARG_REGS] as const;

/** An x-register by ABI name. */
type XReg =
  | "zero" | "ra" | "sp" | "gp" | "tp"
  | typeof TEMP_REGS[number]
  | `s${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11}`
  | typeof ARG_REGS[number];

/** An inline-asm operand placeholder (`%[v0]`): a register the compiler picks, recorded by no def/use. */
interface Placeholder {
  readonly inline: string;
}

/** A register operand: an x-register, or an inline-asm placeholder. */
type Operand = XReg | Placeholder;

/** One item of a RISC-V instruction list. */
type Item = AsmItem<XReg>;

const spell = (o: Operand): string => (typeof o === "string" ? o : o.inline);
/** The registers an operand names (a placeholder names none). */
const regsOf = (o: Operand): XReg[] => (typeof o === "string" ? [o] : []);
/** The registers a destination writes (`zero` discards). */
const written = (o: Operand): XReg[] => regsOf(o).filter((r) => r !== "zero");

/** A memory reference: its spelling and the registers its address reads (a symbol names none). */
interface Addr {
  readonly text: string;
  readonly regs: readonly XReg[];
}

/** `disp(base)`. */
function disp(base: XReg, d: number): Addr {
  return { text: `${d}(${base})`, regs: [base] };
}

/** A symbol (`sym` or `sym+off`): a PC-relative pseudo-instruction operand. */
function sym(text: string): Addr {
  return { text, regs: [] };
}

/** `rd = rs1 <op> rs2` (`add`, `sub`, `and`, `or`, `xor`, `sltu`, `mul`). */
function rrr(op: string, rd: Operand, rs1: Operand, rs2: Operand): Item {
  return insn(op, [spell(rd), spell(rs1), spell(rs2)], { defs: written(rd), uses: [...regsOf(rs1), ...regsOf(rs2)] });
}

/** `rd = rs <op> imm` (`addi`, `slli`). */
function rri(op: string, rd: Operand, rs: Operand, imm: number): Item {
  return insn(op, [spell(rd), spell(rs), `${imm}`], { defs: written(rd), uses: regsOf(rs) });
}

/** `rd = f(rs)` (`mv`, `neg`, `sext.w`). */
function rr(op: string, rd: Operand, rs: Operand): Item {
  return insn(op, [spell(rd), spell(rs)], { defs: written(rd), uses: regsOf(rs) });
}

/** `rd = value` (`li`, `lui`, `lla`): writes rd, reads nothing. */
function ri(op: "li" | "lui" | "lla", rd: Operand, value: string | number): Item {
  return insn(op, [spell(rd), `${value}`], { defs: written(rd) });
}

/** A load `rd = [addr]` (`addr` a symbol: the `auipc` pseudo-instruction through rd). */
function load(mn: string, rd: Operand, addr: Addr): Item {
  return insn(mn, [spell(rd), addr.text], { defs: written(rd), uses: addr.regs });
}

/** A store `[addr] = rs`; a symbol address takes a scratch register for its `auipc`. */
function store(mn: string, rs: Operand, addr: Addr, scratch?: XReg): Item {
  const operands = [spell(rs), addr.text, ...(scratch ? [scratch] : [])];
  return insn(mn, operands, { defs: scratch ? [scratch] : [], uses: [...regsOf(rs), ...addr.regs] });
}

/** An AMO `rd = [base]; [base] = [base] <op> rs2` (`amoadd.w`, `amoswap.d`, ...). */
function amo(op: string, rd: Operand, rs2: Operand, base: XReg): Item {
  return insn(op, [spell(rd), spell(rs2), `(${base})`], { defs: written(rd), uses: [...regsOf(rs2), base] });
}

/** `lr.{w,d} rd, (base)`. */
function lr(s: "w" | "d", rd: Operand, base: XReg): Item {
  return insn(`lr.${s}`, [spell(rd), `(${base})`], { defs: written(rd), uses: [base] });
}

/** `sc.{w,d} rd, rs, (base)`: rd is 0 on success. */
function sc(s: "w" | "d", rd: Operand, rs: Operand, base: XReg): Item {
  return insn(`sc.${s}`, [spell(rd), spell(rs), `(${base})`], { defs: written(rd), uses: [...regsOf(rs), base] });
}

/** A two-register conditional branch (`bne`). */
function branch2(op: string, rs1: Operand, rs2: Operand, target: string): Item {
  return insn(op, [spell(rs1), spell(rs2), target], { uses: [...regsOf(rs1), ...regsOf(rs2)] });
}

/** A compare-with-zero branch (`beqz`, `bnez`). */
function branch1(op: "beqz" | "bnez", rs: Operand, target: string): Item {
  return insn(op, [spell(rs), target], { uses: regsOf(rs) });
}

/** `j target`. */
function jump(target: string): Item {
  return insn("j", [target]);
}

/** `call f`: writes ra and may write every caller-saved register. */
function call(f: string, uses: readonly XReg[] = []): Item {
  return insn("call", [f], { defs: ["ra", ...CALL_CLOBBERED], uses });
}

/** `tail f` (through t1), passing the argument registers `uses`. */
function tail(f: string, uses: readonly XReg[]): Item {
  return insn("tail", [f], { defs: ["t1"], uses });
}

/** `ret`. */
function ret(): Item {
  return insn("ret", [], { uses: ["ra"] });
}

// ---------------------------------------------------------------- lowering

/** Registers (or inline-asm operands) of one operation. */
interface Regs {
  /** Index parameters. */
  readonly idx: readonly Operand[];
  /** `cpu` of remote ops (none in inline asm, whose remote accesses are C). */
  readonly cpu: Operand | null;
  /** Value words (low first): the written/added value. */
  readonly v: readonly Operand[];
  /** cmpxchg expected / desired words. */
  readonly e: readonly Operand[];
  readonly d: readonly Operand[];
  /** Result words. */
  readonly r: readonly Operand[];
}

/** Generation context. */
interface Ctx {
  readonly rv: Rv;
  readonly input: GenInput;
  readonly naive: boolean;
  /** preempt or irq: multi-instruction non-atomic sequences take the guard. */
  readonly guarded: boolean;
}

/** A memory operand and the instructions that prepare it. */
interface Mem {
  readonly setup: readonly Item[];
  /** A load into `rd` at `extra` bytes past the leaf address. */
  load(mn: string, rd: Operand, extra?: number): Item;
  /** A store of `rs` at `extra` bytes past the leaf address. */
  store(mn: string, rs: Operand, extra?: number): Item;
}

/** hi/lo parts of an offset 0 ≤ off < 2^31: `off = hi * 4096 + lo`, lo signed 12-bit, hi ≤ 0x80000. */
function splitOffset(off: number): { hi: number; lo: number } {
  const hi = Math.floor((off + 0x800) / 4096);
  return { hi, lo: off - hi * 4096 };
}

/** `dst = base + hi * 4096` (dst is also the scratch register). */
function addUpper(dst: XReg, base: XReg, hi: number): Item[] {
  // lui sign-extends bit 31 on riscv64: 0x80000 means -2^31 there, so subtract it (+2^31 on both widths).
  return hi === 0x80000 ? [ri("lui", dst, "0x80000"), rrr("sub", dst, base, dst)] : [ri("lui", dst, hi), rrr("add", dst, dst, base)];
}

/** `dst = src + off` for 0 ≤ off < 2^31 (dst ≠ src; dst is the scratch). */
function addConst(dst: XReg, src: XReg, off: number): Item[] {
  if (off <= IMM12_MAX) return [rri("addi", dst, src, off)];
  const { hi, lo } = splitOffset(off);
  return [...addUpper(dst, src, hi), ...(lo !== 0 ? [rri("addi", dst, dst, lo)] : [])];
}

/** `dst = src * k` (scratch t3 for a non power of two). */
function scaled(dst: XReg, src: Operand, k: number): Item[] {
  if (k === 1) return [rr("mv", dst, src)];
  if (Number.isInteger(Math.log2(k))) return [rri("slli", dst, src, Math.log2(k))];
  return [ri("li", "t3", k), rrr("mul", dst, src, "t3")];
}

/** `t1 = Σ idx[k] * stride[k]` (scratch t2, t3). */
function indexSum(leaf: AnyPlacedLeaf, idx: readonly Operand[]): Item[] {
  const out: Item[] = [];
  leaf.indices.forEach((dim, k) => {
    if (k === 0) out.push(...scaled("t1", idx[0]!, dim.stride));
    else out.push(...scaled("t2", idx[k]!, dim.stride), rrr("add", "t1", "t1", "t2"));
  });
  return out;
}

/** A memory operand `off(base)` with `off ≤ 2^31`, using `tmp` when the offset is far. */
function memAt(base: XReg, off: number, extraMax: number, tmp: XReg, setup: readonly Item[] = []): Mem {
  let reg = base;
  let d = off;
  const items = [...setup];
  if (off + extraMax > IMM12_MAX) {
    const { hi, lo } = splitOffset(off);
    if (hi === 0 || lo + extraMax > IMM12_MAX) {
      items.push(...addConst(tmp, base, off));
      d = 0;
    } else {
      items.push(...addUpper(tmp, base, hi));
      d = lo;
    }
    reg = tmp;
  }
  return {
    setup: items,
    load: (mn, rd, extra = 0) => load(mn, rd, disp(reg, d + extra)),
    store: (mn, rs, extra = 0) => store(mn, rs, disp(reg, d + extra)),
  };
}

/** The current-CPU memory operand of a leaf (`extraMax`: largest `extra` used, 4 for riscv32 pairs). */
function currentMem(ctx: Ctx, leaf: AnyPlacedLeaf, idx: readonly Operand[], extraMax: number): Mem {
  const off = leaf.areaOffset;
  if (leaf.indices.length > 0) {
    if (ctx.naive) return memAt("t0", 0, extraMax, "t0", [...indexSum(leaf, idx), ri("lla", "t0", `${AREAS_SYMBOL}+${off}`), rrr("add", "t0", "t0", "t1")]);
    return memAt("t1", off, extraMax, "t0", [...indexSum(leaf, idx), rrr("add", "t1", "t1", "gp")]);
  }
  if (ctx.naive) {
    // PC-relative pseudo-instructions: auipc + load/store (t0 is the store's scratch).
    return {
      setup: [],
      load: (mn, rd, extra = 0) => load(mn, rd, sym(`${AREAS_SYMBOL}+${off + extra}`)),
      store: (mn, rs, extra = 0) => store(mn, rs, sym(`${AREAS_SYMBOL}+${off + extra}`), "t0"),
    };
  }
  return memAt("gp", off, extraMax, "t0");
}

/** The exact current-CPU address of a leaf (or variable) in `dst`. */
function currentAddress(ctx: Ctx, dst: XReg, off: number, leaf?: PlacedLeaf, idx: readonly Operand[] = []): Item[] {
  if (leaf && leaf.indices.length > 0) {
    if (ctx.naive) return [...indexSum(leaf, idx), ri("lla", dst, `${AREAS_SYMBOL}+${off}`), rrr("add", dst, dst, "t1")];
    return [...indexSum(leaf, idx), rrr("add", "t1", "t1", "gp"), ...addConst(dst, "t1", off)];
  }
  if (ctx.naive) return [ri("lla", dst, `${AREAS_SYMBOL}+${off}`)];
  return addConst(dst, "gp", off);
}

/** `t0 = BASE + cpu * stride` (scratch t2, t3). */
function remoteBase(ctx: Ctx, cpu: Operand): Item[] {
  return [load(ctx.rv.ld, "t0", sym(BASE_SYMBOL)), ...scaled("t2", cpu, ctx.input.layout.stride), rrr("add", "t0", "t0", "t2")];
}

/** The remote memory operand of a leaf: BASE + cpu*stride + index + off. */
function remoteMem(ctx: Ctx, leaf: AnyPlacedLeaf, regs: Regs, extraMax: number): Mem {
  if (regs.cpu === null) throw new Error("riscv: a remote access needs a cpu register");
  const setup = [...indexSum(leaf, regs.idx), ...remoteBase(ctx, regs.cpu)];
  if (leaf.indices.length > 0) setup.push(rrr("add", "t0", "t0", "t1"));
  return memAt("t0", leaf.areaOffset, extraMax, "t1", setup);
}

/** Register words a value of this scalar takes. */
function words(ctx: Ctx, leaf: AnyPlacedLeaf): 1 | 2 {
  return leaf.size > ctx.rv.xlen ? 2 : 1;
}

/** Load mnemonic giving the ABI-extended value of a scalar that fits a register. */
function loadMnemonic(ctx: Ctx, s: LoweredScalarName): string {
  return match(s)
    .with("u8", "bool", () => "lbu")
    .with("i8", () => "lb")
    .with("u16", () => "lhu")
    .with("i16", () => "lh")
    // the psABI sign-extends 32-bit values (signed or not) on riscv64
    .with("u32", "i32", "f32", () => "lw")
    .with("u64", "i64", "f64", "usize", "isize", () => ctx.rv.ld)
    .exhaustive();
}

/** Store mnemonic for a size that fits a register. */
function storeMnemonic(size: number): string {
  return match(size)
    .with(1, () => "sb")
    .with(2, () => "sh")
    .with(4, () => "sw")
    .otherwise(() => "sd");
}

/** Whether the RMW ops of this leaf are AMOs (32-bit, or 64-bit on riscv64). */
function amoCapable(ctx: Ctx, leaf: PlacedLeaf): boolean {
  return leaf.size === 4 || (leaf.size === 8 && ctx.rv.xlen === 8);
}

/** AMO width suffix. */
function amoSuffix(leaf: PlacedLeaf): "w" | "d" {
  return leaf.size === 8 ? "d" : "w";
}

/** Whether a guarded op on this leaf is a single instruction relative to gp. */
function singleInstruction(ctx: Ctx, leaf: PlacedLeaf): boolean {
  return !ctx.naive && leaf.indices.length === 0 && words(ctx, leaf) === 1 && leaf.areaOffset <= IMM12_MAX;
}

/** Whether an op takes the preempt/irq guard in this generation. */
function takesGuard(ctx: Ctx, leaf: PlacedLeaf, op: LoweredLeafOp): boolean {
  if (!ctx.guarded) return false;
  return match(op)
    .with("read_current_raw", "write_current_raw", "remote_read", "remote_write", "remote_add", "remote_cmpxchg", () => false)
    .with("read_current", "write_current", () => !singleInstruction(ctx, leaf))
    // Counter ops: guarded unless they are one AMO on a counter: true variable (a migration then moves the whole update).
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "inc_current", "dec_current", () => !amoCapable(ctx, leaf) || !leaf.counter)
    // Guard class `this_cpu`: the result or the target must be this CPU's, and computing the address from gp is an instruction apart.
    .with("xchg_current", "cmpxchg_current", "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", () => true)
    .exhaustive();
}

/** The instructions of a leaf operation (no guard, no return). Results go to `regs.r`. */
function opBody(ctx: Ctx, leaf: PlacedLeaf, op: LoweredLeafOp, regs: Regs): Item[] {
  const n = words(ctx, leaf);
  const extraMax = n === 2 ? 4 : 0;
  const lmn = loadMnemonic(ctx, leaf.scalar);
  const smn = storeMnemonic(leaf.size);
  const read = (m: Mem): Item[] => n === 2 ? [...m.setup, m.load("lw", regs.r[0]!), m.load("lw", regs.r[1]!, 4)] : [...m.setup, m.load(lmn, regs.r[0]!)];
  const write = (m: Mem): Item[] => n === 2 ? [...m.setup, m.store("sw", regs.v[0]!), m.store("sw", regs.v[1]!, 4)] : [...m.setup, m.store(smn, regs.v[0]!)];
  const rmw = (kind: "add" | "sub" | "and" | "or" | "xor", v: readonly Operand[] = regs.v): Item[] => {
    if (amoCapable(ctx, leaf)) {
      const s = amoSuffix(leaf);
      const addr = currentAddress(ctx, "t0", leaf.areaOffset, leaf, regs.idx);
      if (kind === "sub") return [...addr, rr("neg", "t2", v[0]!), amo(`amoadd.${s}`, "zero", "t2", "t0")];
      return [...addr, amo(`amo${kind}.${s}`, "zero", v[0]!, "t0")];
    }
    const m = currentMem(ctx, leaf, regs.idx, extraMax);
    if (n === 1) return [...m.setup, m.load(lmn, "t2"), rrr(kind, "t2", "t2", v[0]!), m.store(smn, "t2")];
    const [v0, v1] = [v[0]!, v[1]!];
    const pair = match(kind)
      .returnType<Item[]>()
      .with("add", () => [rrr("add", "t4", "t2", v0), rrr("sltu", "t2", "t4", "t2"), rrr("add", "t3", "t3", v1), rrr("add", "t3", "t3", "t2"), rr("mv", "t2", "t4")])
      .with("sub", () => [rrr("sltu", "t4", "t2", v0), rrr("sub", "t2", "t2", v0), rrr("sub", "t3", "t3", v1), rrr("sub", "t3", "t3", "t4")])
      .with("and", "or", "xor", (k) => [rrr(k, "t2", "t2", v0), rrr(k, "t3", "t3", v1)])
      .exhaustive();
    return [...m.setup, m.load("lw", "t2"), m.load("lw", "t3", 4), ...pair, m.store("sw", "t2"), m.store("sw", "t3", 4)];
  };
  const xchg = (): Item[] => {
    if (amoCapable(ctx, leaf)) {
      return [...currentAddress(ctx, "t0", leaf.areaOffset, leaf, regs.idx), amo(`amoswap.${amoSuffix(leaf)}`, regs.r[0]!, regs.v[0]!, "t0")];
    }
    const m = currentMem(ctx, leaf, regs.idx, extraMax);
    if (n === 1) return [...m.setup, m.load(lmn, "t2"), m.store(smn, regs.v[0]!), rr("mv", regs.r[0]!, "t2")];
    return [
      ...m.setup, m.load("lw", "t2"), m.load("lw", "t3", 4), m.store("sw", regs.v[0]!), m.store("sw", regs.v[1]!, 4),
      rr("mv", regs.r[0]!, "t2"), rr("mv", regs.r[1]!, "t3"),
    ];
  };
  // inc/dec and their _return forms: the operand 1 in t5 (the high word of a riscv32 pair is zero).
  const one: Item[] = [ri("li", "t5", 1)];
  const oneWords: readonly Operand[] = n === 2 ? ["t5", "zero"] : ["t5"];
  // add_return: `amoadd` leaves the old value, one add (addw: the psABI's sign-extended 32-bit value) makes the new one;
  // without an AMO (guarded) the load-op-store, then the new value read back with the type's extension.
  const addReturn = (kind: "add" | "sub", v: readonly Operand[], pre: readonly Item[] = []): Item[] => {
    if (amoCapable(ctx, leaf)) {
      const s = amoSuffix(leaf);
      const w = s === "w" && ctx.rv.xlen === 8 ? "w" : "";
      const addr = currentAddress(ctx, "t0", leaf.areaOffset, leaf, regs.idx);
      if (kind === "sub") return [...pre, ...addr, rr("neg", "t3", v[0]!), amo(`amoadd.${s}`, "t2", "t3", "t0"), rrr(`sub${w}`, regs.r[0]!, "t2", v[0]!)];
      return [...pre, ...addr, amo(`amoadd.${s}`, "t2", v[0]!, "t0"), rrr(`add${w}`, regs.r[0]!, "t2", v[0]!)];
    }
    return [...pre, ...rmw(kind, v), ...read(currentMem(ctx, leaf, regs.idx, extraMax))];
  };
  const cmpxchg = (e: readonly Operand[] = regs.e, r: readonly Operand[] = regs.r): Item[] => {
    const regs_ = { e, r };
    if (amoCapable(ctx, leaf)) {
      const s = amoSuffix(leaf);
      // lr.w sign-extends: compare with the sign-extended expected value on riscv64.
      const ext = s === "w" && ctx.rv.xlen === 8 ? [rr("sext.w", "t3", regs_.e[0]!)] : [];
      const expected: Operand = ext.length > 0 ? "t3" : regs_.e[0]!;
      return [
        ...currentAddress(ctx, "t0", leaf.areaOffset, leaf, regs.idx), ...ext,
        label("1"), lr(s, "t2", "t0"), branch2("bne", "t2", expected, "2f"), sc(s, "t4", regs.d[0]!, "t0"), branch1("bnez", "t4", "1b"),
        label("2"), rr("mv", regs_.r[0]!, "t2"),
      ];
    }
    const m = currentMem(ctx, leaf, regs.idx, extraMax);
    if (n === 1) return [...m.setup, m.load(lmn, "t2"), branch2("bne", "t2", regs_.e[0]!, "1f"), m.store(smn, regs.d[0]!), label("1"), rr("mv", regs_.r[0]!, "t2")];
    return [
      ...m.setup, m.load("lw", "t2"), m.load("lw", "t3", 4), branch2("bne", "t2", regs_.e[0]!, "1f"), branch2("bne", "t3", regs_.e[1]!, "1f"),
      m.store("sw", regs.d[0]!), m.store("sw", regs.d[1]!, 4), label("1"), rr("mv", regs_.r[0]!, "t2"), rr("mv", regs_.r[1]!, "t3"),
    ];
  };
  // try_cmpxchg(T *expected, desired): the expected words loaded from the pointer (in e's register), the cmpxchg
  // on them, the value found stored back (the same value on success), a0 = whether it matched.
  const tryCmpxchg = (): Item[] => {
    const p = regs.e[0]!;
    const used = new Set<Operand>([...regs.idx, ...regs.v, ...regs.e, ...regs.d, ...regs.r, ...(regs.cpu ? [regs.cpu] : [])]);
    const free = (["a7", "a6", "a5", "a4", "a3", "a2", "t6"] as const).filter((x) => !used.has(x));
    if (free.length < 2 * n) throw new Error(`riscv: no free registers for try_cmpxchg of ${leaf.symbol}`);
    const e = free.slice(0, n);
    const r = free.slice(n, 2 * n);
    const loadE = n === 2 ? [load("lw", e[0]!, disp(p as XReg, 0)), load("lw", e[1]!, disp(p as XReg, 4))] : [load(lmn, e[0]!, disp(p as XReg, 0))];
    const storeR = n === 2 ? [store("sw", r[0]!, disp(p as XReg, 0)), store("sw", r[1]!, disp(p as XReg, 4))] : [store(smn, r[0]!, disp(p as XReg, 0))];
    const ok = n === 2
      ? [rrr("xor", "t0", r[0]!, e[0]!), rrr("xor", "t1", r[1]!, e[1]!), rrr("or", "t0", "t0", "t1"), rr("seqz", "a0", "t0")]
      : [rrr("xor", "t0", r[0]!, e[0]!), rr("seqz", "a0", "t0")];
    return [...loadE, ...cmpxchg(e, r), ...storeR, ...ok];
  };
  return match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "read_current", () => read(currentMem(ctx, leaf, regs.idx, extraMax)))
    .with("write_current_raw", "write_current", () => write(currentMem(ctx, leaf, regs.idx, extraMax)))
    .with("remote_read", () => read(remoteMem(ctx, leaf, regs, extraMax)))
    .with("remote_write", () => write(remoteMem(ctx, leaf, regs, extraMax)))
    .with("add_current", () => rmw("add"))
    .with("sub_current", () => rmw("sub"))
    .with("and_current", () => rmw("and"))
    .with("or_current", () => rmw("or"))
    .with("xor_current", () => rmw("xor"))
    .with("xchg_current", () => xchg())
    .with("cmpxchg_current", () => cmpxchg())
    .with("inc_current", () => [...one, ...rmw("add", oneWords)])
    .with("dec_current", () => [...one, ...rmw("sub", oneWords)])
    .with("add_return_current", () => addReturn("add", regs.v))
    .with("sub_return_current", () => addReturn("sub", regs.v))
    .with("inc_return_current", () => addReturn("add", oneWords, one))
    .with("dec_return_current", () => addReturn("sub", oneWords, one))
    .with("try_cmpxchg_current", () => tryCmpxchg())
    .with("remote_add", "remote_cmpxchg", (o) => remoteRmw(ctx, leaf, o, regs, extraMax))
    .exhaustive();
}

/** `t0` = the address of `cpu`'s copy of a leaf (indices added; scratch t1, t2, t3). */
function remoteAddress(ctx: Ctx, leaf: PlacedLeaf, regs: Regs): Item[] {
  if (regs.cpu === null) throw new Error("riscv: a remote access needs a cpu register");
  const out = [...indexSum(leaf, regs.idx), ...remoteBase(ctx, regs.cpu)];
  if (leaf.indices.length > 0) out.push(rrr("add", "t0", "t0", "t1"));
  // addConst needs a destination other than its source for far offsets: t1 (free once the index is added).
  if (leaf.areaOffset === 0) return out;
  if (leaf.areaOffset <= IMM12_MAX) return [...out, ...addConst("t0", "t0", leaf.areaOffset)];
  return [...out, ...addConst("t1", "t0", leaf.areaOffset), rr("mv", "t0", "t1")];
}

/** `rd` = the low `bits` of `rs` extended as the psABI returns a narrow scalar (u8/u16 zero-, i8/i16 sign-extended). */
function extendNarrow(ctx: Ctx, leaf: PlacedLeaf, rd: Operand, rs: Operand): Item[] {
  const shift = ctx.rv.xlen * 8 - leaf.size * 8;
  const signed = leaf.scalar === "i8" || leaf.scalar === "i16";
  return [rri("slli", rd, rs, shift), rri(signed ? "srai" : "srli", rd, rd, shift)];
}

/**
 * The remote read-modify-write ops: one atomic on `cpu`'s copy. 32-bit values (and 64-bit ones on
 * riscv64) take `amoadd` / an `lr`/`sc` loop; 8/16-bit values a masked `lr.w`/`sc.w` loop on the
 * aligned word holding them. 64-bit values on riscv32 (no 64-bit atomics in RV32A) are a plain
 * load-op-store: not atomic (documented; `atomic: true` refuses them on riscv32).
 */
function remoteRmw(ctx: Ctx, leaf: PlacedLeaf, op: RemoteRmwOp, regs: Regs, extraMax: number): Item[] {
  const addr = remoteAddress(ctx, leaf, regs);
  if (amoCapable(ctx, leaf)) {
    const s = amoSuffix(leaf);
    if (op === "remote_add") return [...addr, amo(`amoadd.${s}`, "zero", regs.v[0]!, "t0")];
    const ext = s === "w" && ctx.rv.xlen === 8 ? [rr("sext.w", "t3", regs.e[0]!)] : [];
    const expected: Operand = ext.length > 0 ? "t3" : regs.e[0]!;
    return [
      ...addr, ...ext,
      label("1"), lr(s, "t2", "t0"), branch2("bne", "t2", expected, "2f"), sc(s, "t4", regs.d[0]!, "t0"), branch1("bnez", "t4", "1b"),
      label("2"), rr("mv", regs.r[0]!, "t2"),
    ];
  }
  if (leaf.size < 4) {
    // t1 = bit shift of the lane, t0 = aligned word, t2 = lane mask.
    const prologue = [
      ...addr,
      rri("andi", "t1", "t0", 3), rri("slli", "t1", "t1", 3), rri("andi", "t0", "t0", -4),
      ri("li", "t2", leaf.size === 1 ? 0xff : 0xffff), rrr("sll", "t2", "t2", "t1"),
    ];
    if (op === "remote_add") {
      return [
        ...prologue, rrr("sll", "t3", regs.v[0]!, "t1"),
        label("1"), lr("w", "t4", "t0"),
        rrr("add", "t5", "t4", "t3"), rrr("xor", "t5", "t5", "t4"), rrr("and", "t5", "t5", "t2"), rrr("xor", "t5", "t5", "t4"),
        sc("w", "t6", "t5", "t0"), branch1("bnez", "t6", "1b"),
      ];
    }
    const [e, d] = [regs.e[0]!, regs.d[0]!];
    return [
      ...prologue,
      rrr("sll", "t3", e, "t1"), rrr("and", "t3", "t3", "t2"), rrr("sll", d, d, "t1"), rrr("and", d, d, "t2"),
      label("1"), lr("w", "t4", "t0"), rrr("and", "t5", "t4", "t2"), branch2("bne", "t5", "t3", "2f"),
      rrr("xor", "t5", "t4", "t5"), rrr("or", "t5", "t5", d), sc("w", "t6", "t5", "t0"), branch1("bnez", "t6", "1b"),
      label("2"), rrr("srl", "t4", "t4", "t1"), ...extendNarrow(ctx, leaf, regs.r[0]!, "t4"),
    ];
  }
  // 64-bit on riscv32: two words, not atomic.
  const m = remoteMem(ctx, leaf, regs, extraMax);
  if (op === "remote_add") {
    const [v0, v1] = [regs.v[0]!, regs.v[1]!];
    return [
      ...m.setup, m.load("lw", "t2"), m.load("lw", "t3", 4),
      rrr("add", "t4", "t2", v0), rrr("sltu", "t2", "t4", "t2"), rrr("add", "t3", "t3", v1), rrr("add", "t3", "t3", "t2"),
      m.store("sw", "t4"), m.store("sw", "t3", 4),
    ];
  }
  return [
    ...m.setup, m.load("lw", "t2"), m.load("lw", "t3", 4), branch2("bne", "t2", regs.e[0]!, "1f"), branch2("bne", "t3", regs.e[1]!, "1f"),
    m.store("sw", regs.d[0]!), m.store("sw", regs.d[1]!, 4), label("1"), rr("mv", regs.r[0]!, "t2"), rr("mv", regs.r[1]!, "t3"),
  ];
}

/** Copies `size` bytes from `(t1)` to `(t0)` in units of `unit` bytes (scratch t2, t3; advances t0/t1 when looping). */
function copyBytes(ctx: Ctx, size: number, unit: number, loop: string): Item[] {
  const count = Math.floor(size / unit);
  const [l, s] = match(unit)
    .returnType<[string, string]>()
    .with(1, () => ["lbu", "sb"])
    .with(2, () => ["lhu", "sh"])
    .with(4, () => ["lw", "sw"])
    .otherwise(() => [ctx.rv.ld, ctx.rv.sd]);
  const out: Item[] = [];
  if (count <= 8) {
    for (let k = 0; k < count; k++) out.push(load(l, "t2", disp("t1", k * unit)), store(s, "t2", disp("t0", k * unit)));
  } else {
    out.push(
      ri("li", "t3", count), label(loop), load(l, "t2", disp("t1", 0)), store(s, "t2", disp("t0", 0)),
      rri("addi", "t1", "t1", unit), rri("addi", "t0", "t0", unit), rri("addi", "t3", "t3", -1), branch1("bnez", "t3", loop),
    );
  }
  const rest = size - count * unit;
  const base = count <= 8 ? count * unit : 0;
  for (let k = 0; k < rest; k++) out.push(load("lbu", "t2", disp("t1", base + k)), store("sb", "t2", disp("t0", base + k)));
  return out;
}

/**
 * Wraps `body` in the enabled guard hooks: saves ra and the argument
 * registers `live` on a 16-byte aligned frame across the hook calls, and the
 * results `results` across the closing ones.
 */
function guardWrap(ctx: Ctx, live: readonly XReg[], results: readonly Operand[], body: readonly Item[]): Item[] {
  const { xlen, ld, sd } = ctx.rv;
  const { preempt, irq } = ctx.input.config.features;
  const slots = Math.max(live.length, results.length);
  const frame = Math.ceil(((2 + slots) * xlen) / 16) * 16;
  const raAt = frame - xlen;
  const flagsAt = frame - 2 * xlen;
  const slot = (k: number): Addr => disp("sp", k * xlen);
  const out: Item[] = [rri("addi", "sp", "sp", -frame), store(sd, "ra", disp("sp", raAt))];
  live.forEach((r, k) => out.push(store(sd, r, slot(k))));
  if (preempt) out.push(call(GUARD_HOOKS[0]));
  if (irq) out.push(call(GUARD_HOOKS[2]), store(sd, "a0", disp("sp", flagsAt)));
  live.forEach((r, k) => out.push(load(ld, r, slot(k))));
  out.push(...body);
  results.forEach((r, k) => out.push(store(sd, r, slot(k))));
  if (irq) out.push(load(ld, "a0", disp("sp", flagsAt)), call(GUARD_HOOKS[3], ["a0"]));
  if (preempt) out.push(call(GUARD_HOOKS[1]));
  results.forEach((r, k) => out.push(load(ld, r, slot(k))));
  out.push(load(ld, "ra", disp("sp", raAt)), rri("addi", "sp", "sp", frame));
  return out;
}

/** Argument registers of a leaf op per the calling convention; stack words are loaded into t5, t6 at entry. */
function argumentRegs(ctx: Ctx, leaf: AnyPlacedLeaf, op: LeafOp): { regs: Regs; live: XReg[]; entry: Item[] } {
  const sig = leafSignature(leaf, op);
  const valueWords = words(ctx, leaf);
  let next = 0;
  const entry: Item[] = [];
  const live: XReg[] = [];
  const stackTemps = ["t5", "t6"] as const;
  const take = (): XReg => {
    const k = next++;
    const a = ARG_REGS[k];
    if (a !== undefined) {
      live.push(a);
      return a;
    }
    const t = stackTemps[k - ARG_REGS.length];
    if (t === undefined) throw new Error(`riscv: ${sig.name} needs more than 10 argument words`);
    entry.push(load(ctx.rv.ld, t, disp("sp", (k - ARG_REGS.length) * ctx.rv.xlen)));
    live.push(t);
    return t;
  };
  let cpu: XReg | null = null;
  const idx: XReg[] = [];
  const v: XReg[] = [];
  const e: XReg[] = [];
  const d: XReg[] = [];
  for (const p of sig.params) {
    if (p.name === "cpu") cpu = take();
    else if (/^i\d+$/.test(p.name)) idx.push(take());
    else if (p.type.endsWith(" *")) e.push(take()); // try_cmpxchg's `T *expected`: one pointer word
    else {
      const dst = p.name === "expected" ? e : p.name === "desired" ? d : v;
      for (let w = 0; w < valueWords; w++) dst.push(take());
    }
  }
  const r: XReg[] = sig.ret === "void" ? [] : sig.ret === "bool" || valueWords === 1 ? ["a0"] : ["a0", "a1"];
  return { regs: { idx, cpu, v, e, d, r }, live, entry };
}

/** The `percpu.S` function of one leaf op. */
function leafAsm(ctx: Ctx, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  const { regs, live, entry } = argumentRegs(ctx, leaf, op);
  const body = opBody(ctx, leaf, op, regs);
  const guarded = takesGuard(ctx, leaf, op) ? guardWrap(ctx, live, regs.r, body) : body;
  return renderFunction(leafFunction(leaf, op), [...entry, ...guarded, ret()]);
}

/**
 * The `percpu.S` function of one op on a u128 leaf (riscv64; riscv32 has no
 * u128): no 128-bit atomic exists (Zacas is not assumed), so every access is
 * two `ld`/`sd` and `cmpxchg128_current` a load, two compares and two stores
 * (Linux's asm-generic this_cpu_cmpxchg128), under the preempt/irq guard on
 * the current CPU's copy when a guard feature is on. Remote accesses may tear.
 */
function u128Asm(ctx: Ctx, leaf: PlacedU128Leaf, op: LeafOp): string {
  const { regs, live, entry } = argumentRegs(ctx, leaf, op);
  const [r0, r1] = [regs.r[0] ?? "a0", regs.r[1] ?? "a1"];
  const read = (m: Mem): Item[] => [...m.setup, m.load("ld", r0), m.load("ld", r1, 8)];
  const write = (m: Mem, v: readonly Operand[]): Item[] => [...m.setup, m.store("sd", v[0]!), m.store("sd", v[1]!, 8)];
  const current = (): Mem => currentMem(ctx, leaf, regs.idx, 8);
  const body = match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "read_current", () => read(current()))
    .with("remote_read", () => read(remoteMem(ctx, leaf, regs, 8)))
    .with("write_current_raw", "write_current", () => write(current(), regs.v))
    .with("remote_write", () => write(remoteMem(ctx, leaf, regs, 8), regs.v))
    .with("cmpxchg128_current", () => {
      const m = current();
      return [
        ...m.setup,
        m.load("ld", "t2"),
        m.load("ld", "t3", 8),
        branch2("bne", "t2", regs.e[0]!, "1f"),
        branch2("bne", "t3", regs.e[1]!, "1f"),
        m.store("sd", regs.d[0]!),
        m.store("sd", regs.d[1]!, 8),
        label("1"),
        rr("mv", r0, "t2"),
        rr("mv", r1, "t3"),
      ];
    })
    .with(
      "add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", "inc_current", "dec_current",
      "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", "remote_add", "remote_cmpxchg",
      (o) => {
        throw new Error(`riscv: ${o} does not apply to u128 leaves (sdk/ops.ts scalars)`);
      },
    )
    .exhaustive();
  const guarded = ctx.guarded && (op === "read_current" || op === "write_current" || op === "cmpxchg128_current") ? guardWrap(ctx, live, regs.r, body) : body;
  return renderFunction(leafFunction(leaf, op), [...entry, ...guarded, ret()]);
}

/**
 * The `percpu.S` text of one leaf operation for a RISC-V target (what
 * `assembly()` emits for it); exposed so tests can assemble accessors for
 * offsets near 2 GiB without a 2 GiB template.
 */
export function riscvLeafAssembly(arch: RiscvTarget, input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  return leafAsm(context(arch === "riscv64" ? RV64 : RV32, input), leaf, op);
}

/** The runtime functions. */
function runtimeAsm(ctx: Ctx): string[] {
  const { layout, config } = ctx.input;
  const { xlen, ld, sd } = ctx.rv;
  const words = Math.floor(layout.areaSize / xlen);
  const rest = layout.areaSize - words * xlen;
  const init: Item[] = [
    branch1("beqz", "a0", ".Lpercpu_init_null"),
    ri("li", "t0", layout.areaAlign - 1),
    rrr("and", "t0", "a0", "t0"),
    branch1("bnez", "t0", ".Lpercpu_init_unaligned"),
    rr("mv", "t4", "a0"),
    rr("mv", "t5", "a1"),
    label(".Lpercpu_init_area"),
    branch1("beqz", "t5", ".Lpercpu_init_done"),
    ri("lla", "t1", TEMPLATE_SYMBOL),
    rr("mv", "t0", "t4"),
    ...(words > 0
      ? [
        ri("li", "t3", words), label(".Lpercpu_init_word"), load(ld, "t2", disp("t1", 0)), store(sd, "t2", disp("t0", 0)),
        rri("addi", "t1", "t1", xlen), rri("addi", "t0", "t0", xlen), rri("addi", "t3", "t3", -1), branch1("bnez", "t3", ".Lpercpu_init_word"),
      ]
      : []),
    ...Array.from({ length: rest }, (_, k) => [load("lbu", "t2", disp("t1", k)), store("sb", "t2", disp("t0", k))]).flat(),
    ri("li", "t6", layout.stride),
    rrr("add", "t4", "t4", "t6"),
    rri("addi", "t5", "t5", -1),
    jump(".Lpercpu_init_area"),
    label(".Lpercpu_init_done"),
    store(sd, "a0", sym(BASE_SYMBOL), "t0"),
    store(sd, "a1", sym(NUM_SYMBOL), "t0"),
    rr("mv", "a0", "a1"),
    ret(),
    label(".Lpercpu_init_null"),
    ri("li", "a0", -1),
    ret(),
    label(".Lpercpu_init_unaligned"),
    ri("li", "a0", -2),
    ret(),
  ];
  const areaBase = (dst: XReg): Item[] => [load(ld, "t0", sym(BASE_SYMBOL)), ...scaled("t1", "a0", layout.stride), rrr("add", dst, "t0", "t1")];
  // naive (the seed's sp-naive): init ignores its base and count and (re)initialises the one area in place, returning 1,
  // so the accessors and percpu_area_base(0) always agree on where the area is.
  const naiveArgs = ctx.naive ? [ri("lla", "a0", AREAS_SYMBOL), ri("li", "a1", 1)] : [];
  return [
    renderFunction("percpu_init", [...naiveArgs, ...init]),
    renderFunction("percpu_init_in_place", [
      ri("lla", "a0", ctx.naive ? AREAS_SYMBOL : "_percpu_start"),
      ri("li", "a1", config.cpus),
      tail("percpu_init", ["a0", "a1"]),
    ]),
    renderFunction("percpu_init_reg", ctx.naive ? [ret()] : [...areaBase("gp"), ret()]),
    renderFunction("percpu_read_reg", [ctx.naive ? ri("lla", "a0", AREAS_SYMBOL) : rr("mv", "a0", "gp"), ret()]),
    renderFunction("percpu_write_reg", ctx.naive ? [ret()] : [rr("mv", "gp", "a0"), ret()]),
    renderFunction("percpu_area_base", [...areaBase("a0"), ret()]),
    renderFunction("percpu_area_num", [load(ld, "a0", sym(NUM_SYMBOL)), ret()]),
    renderFunction("percpu_area_size", [ri("li", "a0", layout.areaSize), ret()]),
  ];
}

/** The per-variable functions: current_ptr, remote_ptr, reset_to_init. */
function varAsm(ctx: Ctx, name: string, offset: number, size: number, align: number): string[] {
  const unit = Math.min(ctx.rv.xlen, align, 64);
  const reset = [...currentAddress(ctx, "t0", offset), ri("lla", "t1", `${TEMPLATE_SYMBOL}+${offset}`), ...copyBytes(ctx, size, unit, `.L${name}_reset_loop`)];
  return [
    renderFunction(varFunction(name, "current_ptr"), [...currentAddress(ctx, "a0", offset), ret()]),
    renderFunction(varFunction(name, "remote_ptr"), [...remoteBase(ctx, "a0"), ...addConst("a0", "t0", offset), ret()]),
    renderFunction(varFunction(name, "reset_to_init"), [...(ctx.guarded ? guardWrap(ctx, [], [], reset) : reset), ret()]),
  ];
}

/** The generation context of one request. */
function context(rv: Rv, input: GenInput): Ctx {
  const f = input.config.features;
  return { rv, input, naive: f.naive, guarded: f.preempt || f.irq };
}

/** `percpu.S` for a RISC-V width. */
function code(rv: Rv, input: GenInput): string {
  const ctx = context(rv, input);
  const out: string[] = [
    "# Nothing may relax against gp (the per-CPU register).",
    ".option norelax",
    // Global so that the PERCPU_INLINE accessors in other translation units can reach them.
    `.globl ${TEMPLATE_SYMBOL}`,
    `.globl ${BASE_SYMBOL}`,
    `.globl ${NUM_SYMBOL}`,
    ...(ctx.naive ? [`.globl ${AREAS_SYMBOL}`] : []),
    "",
    ".text",
    ...runtimeAsm(ctx),
  ];
  for (const v of input.vars) {
    out.push(...varAsm(ctx, v.layout.name, v.layout.offset, v.layout.size, v.layout.align));
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) out.push(leafAsm(ctx, leaf, op));
    for (const leaf of v.u128Leaves) for (const op of leafOps(leaf.scalar)) out.push(u128Asm(ctx, leaf, op));
  }
  return out.join("\n");
}

/** C expression giving the register word(s) of a C value, extended per the psABI. */
function valueWordsC(ctx: Ctx, leaf: PlacedLeaf, expr: string): string[] {
  const s = leaf.scalar;
  if (words(ctx, leaf) === 2) {
    const bits = s === "f64" ? `__percpu_f64_bits(${expr})` : `(uint64_t)(${expr})`;
    return [`(uintptr_t)(uint32_t)${bits}`, `(uintptr_t)(${bits} >> 32)`];
  }
  return [
    match(s)
      .with("f32", () => ctx.rv.xlen === 8 ? `(uintptr_t)(intptr_t)(int32_t)__percpu_f32_bits(${expr})` : `(uintptr_t)__percpu_f32_bits(${expr})`)
      .with("f64", () => `(uintptr_t)__percpu_f64_bits(${expr})`)
      .with("u32", () => ctx.rv.xlen === 8 ? `(uintptr_t)(intptr_t)(int32_t)(${expr})` : `(uintptr_t)(${expr})`)
      .with("i8", "i16", "i32", "i64", "isize", () => `(uintptr_t)(intptr_t)(${expr})`)
      .with("u8", "u16", "u64", "usize", "bool", () => `(uintptr_t)(${expr})`)
      .exhaustive(),
  ];
}

/** C expression turning result word(s) back into the leaf's C value. */
function resultC(ctx: Ctx, leaf: PlacedLeaf, r: readonly string[]): string {
  const s = leaf.scalar;
  if (words(ctx, leaf) === 2) {
    const bits = `(((uint64_t)${r[1]} << 32) | (uint32_t)${r[0]})`;
    return s === "f64" ? `__percpu_f64_from(${bits})` : `(${leaf.cType})${bits}`;
  }
  return match(s)
    .with("f32", () => `__percpu_f32_from((uint32_t)${r[0]})`)
    .with("f64", () => `__percpu_f64_from((uint64_t)${r[0]})`)
    .with("bool", () => `(${r[0]} != 0)`)
    .with("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "usize", "isize", () => `(${leaf.cType})${r[0]}`)
    .exhaustive();
}

/**
 * The body of an inline-asm template string for an item list: the
 * `percpu.S` lines of the items (instructions tab-indented, labels alone on
 * their line) joined by escaped newlines. A local renderer rather than
 * `inlineTemplate` of `asm.ts`, whose layout (no leading tab, `1:\t` after a
 * label) differs from the header text this backend has always emitted.
 */
function inlineText(items: readonly Item[]): string {
  return renderLines(items).map((l) => l.replace(/^\t/, "\\t")).join("\\n");
}

/** One `__asm__ volatile` statement from a body, with its operands and the temporaries it writes as clobbers. */
function asmStatement(body: readonly Item[], outputs: readonly string[], inputs: readonly string[], indent: string): string {
  const defs = new Set(definedRegs(body));
  const clobbers = [...TEMP_REGS.filter((t) => defs.has(t)).map((t) => `"${t}"`), `"memory"`].join(", ");
  return `${indent}__asm__ volatile("${inlineText(body)}" : ${outputs.join(", ")} : ${inputs.join(", ")} : ${clobbers});`;
}

/** C expression of a leaf's address (`uintptr_t`): current area (gp / `__percpu_areas`) or `cpu`'s area. */
function addressC(ctx: Ctx, leaf: PlacedLeaf, remote: boolean): string {
  const base = remote
    ? `${BASE_SYMBOL} + cpu * ${ctx.input.layout.stride}u`
    : ctx.naive ? `(uintptr_t)${AREAS_SYMBOL}` : "__percpu_gp()";
  const terms = leaf.indices.map((dim, k) => ` + i${k} * ${dim.stride}u`).join("");
  return `${base} + ${leaf.areaOffset}u${terms}`;
}

/** The static inline version of one leaf op. */
function leafInline(ctx: Ctx, leaf: PlacedLeaf, op: LoweredLeafOp): string {
  const sig = leafSignature(leaf, op);
  const guard = takesGuard(ctx, leaf, op);
  const { preempt, irq } = ctx.input.config.features;
  const params = sig.params.length === 0 ? "void" : sig.params.map((p) => `${p.type} ${p.name}`).join(", ");
  const lines = [`static inline ${sig.ret} ${sig.name}(${params}) {`];
  const open = (): void => {
    if (guard && preempt) lines.push(`  ${GUARD_HOOKS[0]}();`);
    if (guard && irq) lines.push(`  uintptr_t __flags = ${GUARD_HOOKS[2]}();`);
  };
  const close = (): void => {
    if (guard && irq) lines.push(`  ${GUARD_HOOKS[3]}(__flags);`);
    if (guard && preempt) lines.push(`  ${GUARD_HOOKS[1]}();`);
  };
  if (op === "remote_add" || op === "remote_cmpxchg") {
    // Remote RMW in C: the compiler's __atomic builtins on cpu's copy (no lock-free 64-bit atomic on riscv32: plain).
    const addr = `(volatile ${leaf.cType} *)(${addressC(ctx, leaf, true)})`;
    lines.push(...remoteRmwC(leaf, op, addr, ctx.rv.xlen).map((l) => `  ${l}`), "}");
    return lines.join("\n");
  }
  if (op === "try_cmpxchg_current") {
    // The inline cmpxchg (guarded itself) and the compare, in C: *expected receives the value found on failure.
    const call = `${leafFunction(leaf, "cmpxchg_current")}(${[...leaf.indices.map((_, k) => `i${k}`), "e_", "desired"].join(", ")})`;
    lines.push(`  ${leaf.cType} e_ = *expected, f_ = ${call};`, "  if (f_ == e_) return true;", "  *expected = f_;", "  return false;", "}");
    return lines.join("\n");
  }
  const plain = match(op)
    .with("read_current_raw", "read_current", "remote_read", () => "read" as const)
    .with("write_current_raw", "write_current", "remote_write", () => "write" as const)
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
      () => null,
    )
    .exhaustive();
  if (plain !== null) {
    // Plain loads/stores are C volatile accesses relative to gp (bound by an empty asm), so the compiler
    // folds the offset into one `l*`/`s* r, off(gp)` and extends the value exactly as the psABI wants.
    const lvalue = `*(volatile ${leaf.cType} *)(${addressC(ctx, leaf, op.startsWith("remote"))})`;
    open();
    if (plain === "read") lines.push(`  ${leaf.cType} __v = ${lvalue};`);
    else lines.push(`  ${lvalue} = v;`);
    close();
    if (plain === "read") lines.push("  return __v;");
    lines.push("}");
    return lines.join("\n");
  }
  const n = words(ctx, leaf);
  const decls: string[] = [];
  const inputs: string[] = [];
  const named = (prefix: string, exprs: readonly string[]): Placeholder[] =>
    exprs.map((e, k) => {
      decls.push(`  uintptr_t __${prefix}${k} = ${e};`);
      inputs.push(`[${prefix}${k}] "r"(__${prefix}${k})`);
      return { inline: `%[${prefix}${k}]` };
    });
  const idx: Placeholder[] = [];
  let v: Placeholder[] = [];
  let e: Placeholder[] = [];
  let d: Placeholder[] = [];
  for (const p of sig.params) {
    if (/^i\d+$/.test(p.name)) idx.push(...named(p.name, [p.name]));
    else if (p.name === "expected") e = named("e", valueWordsC(ctx, leaf, p.name));
    else if (p.name === "desired") d = named("d", valueWordsC(ctx, leaf, p.name));
    else v = named("v", valueWordsC(ctx, leaf, p.name));
  }
  const results = sig.ret === "void" ? [] : Array.from({ length: n }, (_, k) => `__r${k}`);
  const r: Placeholder[] = results.map((_, k) => ({ inline: `%[r${k}]` }));
  const outputs = results.map((x, k) => `[r${k}] "=&r"(${x})`);
  const body = opBody(ctx, leaf, op, { idx, cpu: null, v, e, d, r });
  lines.push(...decls);
  if (results.length > 0) lines.push(`  uintptr_t ${results.join(", ")};`);
  open();
  lines.push(asmStatement(body, outputs, inputs, "  "));
  close();
  if (results.length > 0) lines.push(`  return ${resultC(ctx, leaf, results)};`);
  lines.push("}");
  return lines.join("\n");
}

/** The `PERCPU_INLINE` definitions for a RISC-V width. */
function inlineC(rv: Rv, input: GenInput): string {
  const ctx = context(rv, input);
  const out: string[] = [
    `/* ${rv.arch} inline accessors: gp is the per-CPU register (build with -mno-relax). */`,
    "static inline uint32_t __percpu_f32_bits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }",
    "static inline float __percpu_f32_from(uint32_t u) { float f; __builtin_memcpy(&f, &u, 4); return f; }",
    "static inline uint64_t __percpu_f64_bits(double f) { uint64_t u; __builtin_memcpy(&u, &f, 8); return u; }",
    "static inline double __percpu_f64_from(uint64_t u) { double f; __builtin_memcpy(&f, &u, 8); return f; }",
    "/* gp as a C value: an empty asm bound to gp, so loads fold into `l* r, off(gp)`. */",
    'static inline uintptr_t __percpu_gp(void) { register uintptr_t __g __asm__("gp"); __asm__ volatile("" : "=r"(__g)); return __g; }',
    `extern uintptr_t ${BASE_SYMBOL};`,
    ...(ctx.naive ? [`extern unsigned char ${AREAS_SYMBOL}[];`] : []),
    "",
  ];
  for (const v of input.vars) {
    const t = cTypeName(v.layout.name);
    const base = ctx.naive ? `(uintptr_t)${AREAS_SYMBOL}` : "__percpu_gp()";
    out.push(`static inline ${t} *${varFunction(v.layout.name, "current_ptr")}(void) { return (${t} *)(${base} + ${v.layout.offset}u); }`);
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) out.push(leafInline(ctx, leaf, op));
    out.push("");
  }
  return out.join("\n");
}

/** Rejects layouts the RISC-V code cannot reach. */
function check(rv: Rv, input: GenInput): void {
  const { layout, config } = input;
  if (config.mode !== "kernel") fail("options_invalid", ["mode"], `Invalid generate options: ${rv.arch} supports kernel mode only, not ${config.mode}`);
  for (const v of input.vars) {
    const leaf = v.layout.atomic ? v.leaves[0] : undefined;
    if (leaf !== undefined && leaf.size > rv.xlen) {
      fail("options_invalid", [v.layout.name, "atomic"], `Invalid define options of ${JSON.stringify(v.layout.name)}: atomic ${leaf.size * 8}-bit values need 64-bit atomics, which ${rv.arch} (RV32A) lacks`);
    }
  }
  for (const v of layout.vars) {
    // lui/add/l* reaches gp + [-2^31, 2^31 - 2049] and the 0x80000 case up to 2^31 - 1: every offset below 2 GiB.
    if (v.offset + v.size > MAX_AREA_SIZE) {
      fail("offset_out_of_reach", [v.name], `Offset out of reach for "${v.name}": bytes up to ${v.offset + v.size} lie beyond the ${rv.arch} reach of 2 GiB from gp`);
    }
  }
  if (rv.xlen === 4 && layout.stride * config.cpus > 2 ** 32) {
    fail("offset_out_of_reach", [], `Offset out of reach: ${config.cpus} areas of ${layout.stride} bytes do not fit the riscv32 address space`);
  }
}

/** One RISC-V width as an {@link ArchBackend}. */
function backend(rv: Rv, clangFlags: readonly string[]): ArchBackend {
  return {
    arch: rv.arch,
    registerName: "gp",
    clangFlags,
    supportsUserMode: false,
    check: (input) => check(rv, input),
    commentChar: "#",
    code: (input) => code(rv, input),
    counterKinds: true,
    inlineC: (input) => inlineC(rv, input),
    headerPrimitives: riscvHeaderPrimitives,
  };
}

/** The riscv64 backend (LP64 soft-float, medany, gp = per-CPU register). */
export const riscv64Backend: ArchBackend = backend(RV64, [
  "--target=riscv64-unknown-none-elf", "-march=rv64imac", "-mabi=lp64", "-mcmodel=medany", "-mno-relax",
]);

/** The riscv32 backend (ILP32 soft-float, medany, gp = per-CPU register). */
export const riscv32Backend: ArchBackend = backend(RV32, [
  "--target=riscv32-unknown-none-elf", "-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "-mno-relax",
]);
