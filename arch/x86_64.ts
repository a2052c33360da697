/**
 * The x86_64 backend: GS-relative accessors (kernel: `GS_BASE` through
 * `wrmsr`/`rdmsr`; hosted Linux: `arch_prctl(ARCH_SET_GS)`), or plain
 * RIP-relative globals with the `naive` feature.
 *
 * Every per-CPU access is one instruction relative to `%gs` (Linux's
 * `this_cpu_*` model): `mov`/`movzx`/`movsx`/`movss`/`movsd` for reads and
 * writes, `add`/`sub`/`and`/`or`/`xor` with a `%gs:` memory destination for
 * the RMW ops, and `cmpxchg` without `lock` (atomic against interrupts and
 * preemption on the local CPU). Index arguments only scale an offset, so an
 * index computation before the access never needs a guard either. The only
 * code that takes the preempt/irq guard hooks is `<v>_reset_to_init`, which
 * copies several words (possibly with `rep movsb` through an absolute
 * address).
 *
 * Syntax: AT&T throughout (the `.S` file and the inline asm of `percpu.h`),
 * which GNU as, LLVM's integrated assembler and both compilers' inline asm
 * accept without dialect switches. Every reference to a data symbol is
 * RIP-relative, so the same `percpu.S` links into a kernel at any address and
 * into a position-independent shared object without text relocations.
 *
 * Lowerings build the instruction IR of `asm.ts` from typed operands (each
 * instruction records the registers it writes and reads, `"flags"` for the
 * condition codes) and render it once: `percpu.S` through `renderFunction`,
 * the inline asm of `PERCPU_INLINE` through `inlineTemplate`, whose `"cc"`
 * clobber comes from the defs.
 *
 * @module
 */
import { match } from "ts-pattern";
import { fail } from "../sdk/errors.ts";
import type { LoweredScalarName } from "../sdk/c_names.ts";
import { cTypeName, leafOps, type LeafOp, type LoweredLeafOp, varFunction } from "../sdk/symbols.ts";
import { isRemoteOp, LEAF_OP_SPECS } from "../sdk/ops.ts";
import { remoteRmwC } from "./_remote_c.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { type AsmItem, definedRegs, inlineTemplate, insn, label, renderFunction } from "./asm.ts";
import { x86_64HeaderPrimitives } from "./x86_64_header.ts";
import type { AnyPlacedLeaf, GenInput, PlacedLeaf, PlacedU128Leaf, PlacedVar } from "../sdk/plan.ts";
import type { ArchBackend } from "./backend.ts";
import { cPrototype, type CSignature, leafSignature } from "./c_types.ts";

/** `IA32_GS_BASE`, the MSR holding the GS segment base in kernel mode. */
const MSR_GS_BASE = 0xc0000101;
/** Linux `arch_prctl` system call number and its `ARCH_SET_GS` code. */
const SYS_ARCH_PRCTL = 158;
const ARCH_SET_GS = 0x1001;
/** Largest displacement / immediate an instruction can hold (signed 32 bits). */
const DISP32_MAX = 2 ** 31 - 1;
/** Hook names (must match sdk/symbols.ts GUARD_HOOKS). */
const PREEMPT_DISABLE = "percpu_preempt_disable";
const PREEMPT_ENABLE = "percpu_preempt_enable";
const IRQ_SAVE = "percpu_irq_save";
const IRQ_RESTORE = "percpu_irq_restore";
/** `reset_to_init` copies up to this many bytes with individual moves, larger ones with `rep movsb`. */
const UNROLL_COPY_LIMIT = 64;

/** SysV integer argument registers, in order. */
const INT_ARG_REGS = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"] as const;

/** A 64-bit general-purpose register this backend names. */
type Gpr = typeof INT_ARG_REGS[number] | "rax" | "rbx" | "r10" | "r11";

/** Register name of a GPR at an access width (1, 2, 4 or 8 bytes), without `%`. */
function sub(reg: Gpr, size: number): string {
  const legacy: Partial<Record<Gpr, readonly [string, string, string]>> = {
    rax: ["al", "ax", "eax"],
    rbx: ["bl", "bx", "ebx"],
    rcx: ["cl", "cx", "ecx"],
    rdx: ["dl", "dx", "edx"],
    rsi: ["sil", "si", "esi"],
    rdi: ["dil", "di", "edi"],
  };
  if (size === 8) return reg;
  const names = legacy[reg] ?? [`${reg}b`, `${reg}w`, `${reg}d`];
  return match(size)
    .with(1, () => names[0])
    .with(2, () => names[1])
    .with(4, () => names[2])
    .otherwise(() => {
      throw new Error(`no ${size}-byte register`);
    });
}

/** AT&T operand-size suffix of an access width. */
function suffix(size: number): string {
  return match(size)
    .with(1, () => "b")
    .with(2, () => "w")
    .with(4, () => "l")
    .with(8, () => "q")
    .otherwise(() => {
      throw new Error(`no ${size}-byte operand size`);
    });
}

/** Whether a scalar is passed in an SSE register. */
function isFloat(s: LoweredScalarName): boolean {
  return s === "f32" || s === "f64";
}

/** Where a parameter arrives: an integer register, the stack (offset from `%rsp` at entry) or an SSE register. */
type ParamLoc = { readonly kind: "reg"; readonly reg: Gpr } | { readonly kind: "stack"; readonly at: number } | { readonly kind: "xmm"; readonly index: number };

/** The C type of a u128 leaf's values (`cScalarType("u128")`). */
const U128_C_TYPE = "unsigned __int128";

/** SysV locations of a signature's parameters, by name (a u128 value `v` also has `v.hi`, its high half). */
function paramLocations(sig: CSignature): Map<string, ParamLoc> {
  const out = new Map<string, ParamLoc>();
  let ints = 0;
  let floats = 0;
  let stack = 0;
  for (const p of sig.params) {
    if (p.type === U128_C_TYPE) {
      // SysV: an __int128 takes two consecutive integer registers, or a 16-byte-aligned stack slot when two are not left.
      if (ints + 2 <= INT_ARG_REGS.length) {
        out.set(p.name, { kind: "reg", reg: INT_ARG_REGS[ints]! });
        out.set(`${p.name}.hi`, { kind: "reg", reg: INT_ARG_REGS[ints + 1]! });
        ints += 2;
      } else {
        stack += stack % 2;
        out.set(p.name, { kind: "stack", at: 8 + 8 * stack });
        out.set(`${p.name}.hi`, { kind: "stack", at: 16 + 8 * stack });
        stack += 2;
      }
    } else if (p.type === "float" || p.type === "double") {
      out.set(p.name, { kind: "xmm", index: floats++ });
    } else if (ints < INT_ARG_REGS.length) {
      out.set(p.name, { kind: "reg", reg: INT_ARG_REGS[ints++]! });
    } else {
      out.set(p.name, { kind: "stack", at: 8 + 8 * stack++ });
    }
  }
  return out;
}

// ---------------------------------------------------------------- instructions (IR)

/** A register the IR records: a GPR, `%rsp`, an SSE register, or `"flags"` for the condition codes. */
type X86Reg = Gpr | "rsp" | `xmm${number}` | "flags";

/** One item of an x86_64 instruction list. */
type Item = AsmItem<X86Reg>;

/** An operand: its AT&T spelling and the registers it names (`isReg`: a register, not a memory reference). */
interface Operand {
  readonly text: string;
  readonly regs: readonly X86Reg[];
  readonly isReg: boolean;
}

/** An operand, or a plain string for what names no register (immediates, symbols, labels, inline-asm placeholders). */
type Opnd = Operand | string;

/** A GPR at an access width. */
function reg(r: Gpr, size = 8): Operand {
  return { text: `%${sub(r, size)}`, regs: [r], isReg: true };
}

/** An SSE register. */
function xmm(n: number): Operand {
  return { text: `%xmm${n}`, regs: [`xmm${n}`], isReg: true };
}

/** A memory reference and the registers its address reads (`%rip` is not recorded). */
function memRef(text: string, ...regs: X86Reg[]): Operand {
  return { text, regs, isReg: false };
}

/** An immediate. */
function imm(n: number): string {
  return `$${n}`;
}

const spell = (o: Opnd): string => (typeof o === "string" ? o : o.text);
const regsIn = (o: Opnd): readonly X86Reg[] => (typeof o === "string" ? [] : o.regs);
const writtenBy = (dst: Opnd): readonly X86Reg[] => (typeof dst !== "string" && dst.isReg ? dst.regs : []);
const addressOf = (dst: Opnd): readonly X86Reg[] => (typeof dst !== "string" && !dst.isReg ? dst.regs : []);

/** `dst = src` (moves, loads, stores, extensions, `lea`): no flags; reads the source and a memory destination's address. */
function mov(op: string, src: Opnd, dst: Opnd): Item {
  return insn(op, [spell(src), spell(dst)], { defs: writtenBy(dst), uses: [...regsIn(src), ...addressOf(dst)] });
}

/** `dst = dst <op> src`, setting the flags (`add`, `sub`, `and`, `or`, `xor`, `shr`, two-operand `imul`). */
function alu(op: string, src: Opnd, dst: Opnd): Item {
  return insn(op, [spell(src), spell(dst)], { defs: [...writtenBy(dst), "flags"], uses: [...regsIn(src), ...regsIn(dst)] });
}

/** `dst = src * k` (three-operand `imul`). */
function imul3(k: number, src: Opnd, dst: Gpr): Item {
  return insn("imulq", [imm(k), spell(src), spell(reg(dst))], { defs: [dst, "flags"], uses: regsIn(src) });
}

/** `dst -= 1`, setting the flags. */
function dec(op: string, dst: Opnd): Item {
  return insn(op, [spell(dst)], { defs: [...writtenBy(dst), "flags"], uses: regsIn(dst) });
}

/** `dst = <op> dst` (`inc`, `neg`, ...), setting the flags. */
function unary(op: string, dst: Opnd): Item {
  return insn(op, [spell(dst)], { defs: [...writtenBy(dst), "flags"], uses: regsIn(dst) });
}

/** `xadd src, dst`: `dst += src`, `src` = the old `dst`. */
function xadd(op: string, src: Opnd, dst: Opnd): Item {
  return insn(op, [spell(src), spell(dst)], { defs: [...writtenBy(src), ...writtenBy(dst), "flags"], uses: [...regsIn(src), ...regsIn(dst)] });
}

/** `setcc dst` from the flags. */
function setcc(op: string, dst: Opnd): Item {
  return insn(op, [spell(dst)], { defs: writtenBy(dst), uses: ["flags"] });
}

/** Flags from `a & b`. */
function test(a: Opnd, b: Opnd): Item {
  return insn("testq", [spell(a), spell(b)], { defs: ["flags"], uses: [...regsIn(a), ...regsIn(b)] });
}

/** `cmpxchg src, dst` (no `lock`): compares with and may load the accumulator. */
function cmpxchg(op: string, src: Opnd, dst: Opnd): Item {
  return insn(op, [spell(src), spell(dst)], { defs: ["rax", ...writtenBy(dst), "flags"], uses: ["rax", ...regsIn(src), ...regsIn(dst)] });
}

/** A conditional jump on the flags. */
function jcc(op: string, target: string): Item {
  return insn(op, [target], { uses: ["flags"] });
}

/** SysV caller-saved GPRs (what a call may write). */
const CALLER_SAVED: readonly Gpr[] = ["rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"];

/** A call through the PLT of a SysV function. */
function call(fn: string): Item {
  return insn("call", [`${fn}@PLT`], { defs: [...CALLER_SAVED, "flags"], uses: ["rsp"] });
}

const jmp = (target: string): Item => insn("jmp", [target]);
const ret = (): Item => insn("ret", [], { uses: ["rsp"] });
const push = (r: Gpr): Item => insn("pushq", [spell(reg(r))], { defs: ["rsp"], uses: [r, "rsp"] });
const pop = (r: Gpr): Item => insn("popq", [spell(reg(r))], { defs: [r, "rsp"], uses: ["rsp"] });
/** `memcpy(%rdi, %rsi, %rcx)`, advancing all three. */
const repMovsb = (): Item => insn("rep movsb", [], { defs: ["rdi", "rsi", "rcx"], uses: ["rdi", "rsi", "rcx"] });
/** A Linux system call (number in `%rax`; the kernel writes `%rax`, `%rcx`, `%r11`). */
const syscall = (): Item => insn("syscall", [], { defs: ["rax", "rcx", "r11"], uses: ["rax", "rdi", "rsi", "rdx", "r10", "r8", "r9"] });
/** `MSR[%ecx] = %edx:%eax`. */
const wrmsr = (): Item => insn("wrmsr", [], { uses: ["rax", "rdx", "rcx"] });

// ---------------------------------------------------------------- lowering

/** The operand of a parameter location (register or stack slot). */
function locOperand(loc: ParamLoc): Operand {
  return match(loc)
    .with({ kind: "reg" }, (l) => reg(l.reg))
    .with({ kind: "stack" }, (l) => memRef(`${l.at}(%rsp)`, "rsp"))
    .with({ kind: "xmm" }, (l) => xmm(l.index))
    .exhaustive();
}

/** `dst = src * k` for a non-negative constant `k` (uses `movabs` when `k` does not fit an imm32). */
function mulConst(src: Operand, k: number, dst: Gpr): Item[] {
  if (k === 1) return [mov("movq", src, reg(dst))];
  if (k <= DISP32_MAX) return [imul3(k, src, dst)];
  return [mov("movabsq", imm(k), reg(dst)), alu("imulq", src, reg(dst))];
}

/** How the per-CPU memory of the current CPU is addressed. */
type Access = "gs" | "naive";

function accessOf(input: GenInput): Access {
  return input.config.features.naive ? "naive" : "gs";
}

/** A memory operand and the instructions computing its registers. */
interface Address {
  readonly setup: Item[];
  readonly mem: Operand;
}

/** The memory operand of a leaf for an op (current area, or the remote area of the `cpu` argument). */
function leafAddress(input: GenInput, leaf: AnyPlacedLeaf, op: LeafOp, locs: Map<string, ParamLoc>): Address {
  const setup: Item[] = [];
  const remote = isRemoteOp(op);
  const off = leaf.areaOffset;
  // Index part: a scaled register (one dim, stride 1/2/4/8, register argument) or a byte offset in %r10.
  let index: { readonly text: string; readonly reg: Gpr } | null = null;
  const dims = leaf.indices;
  const first = dims.length === 1 ? locs.get("i0") : undefined;
  if (dims.length === 1 && first?.kind === "reg" && [1, 2, 4, 8].includes(dims[0]!.stride)) {
    index = { text: `%${first.reg},${dims[0]!.stride}`, reg: first.reg };
  } else if (dims.length > 0) {
    dims.forEach((d, k) => {
      const src = locOperand(locs.get(`i${k}`)!);
      if (k === 0) setup.push(...mulConst(src, d.stride, "r10"));
      else setup.push(...mulConst(src, d.stride, "rax"), alu("addq", reg("rax"), reg("r10")));
    });
    index = { text: "%r10,1", reg: "r10" };
  }
  const indexRegs: X86Reg[] = index ? [index.reg] : [];
  if (remote) {
    setup.push(...mulConst(locOperand(locs.get("cpu")!), input.layout.stride, "r11"), alu("addq", memRef(`${BASE_SYMBOL}(%rip)`), reg("r11")));
    return { setup, mem: memRef(`${off}(%r11${index ? `,${index.text}` : ""})`, "r11", ...indexRegs) };
  }
  return match(accessOf(input))
    .with("gs", () => ({ setup, mem: memRef(index ? `%gs:${off}(,${index.text})` : `%gs:${off}`, ...indexRegs) }))
    .with("naive", () => {
      if (!index) return { setup, mem: memRef(`${AREAS_SYMBOL}+${off}(%rip)`) };
      setup.push(mov("leaq", memRef(`${AREAS_SYMBOL}(%rip)`), reg("r11")));
      return { setup, mem: memRef(`${off}(%r11,${index.text})`, "r11", ...indexRegs) };
    })
    .exhaustive();
}

/** The load of a scalar into the return register, extended to 64 bits (signed: sign-extended). */
function loadInstr(s: LoweredScalarName, size: number, mem: Operand): Item {
  return match(s)
    .with("u8", "bool", () => mov("movzbl", mem, reg("rax", 4)))
    .with("i8", () => mov("movsbq", mem, reg("rax")))
    .with("u16", () => mov("movzwl", mem, reg("rax", 4)))
    .with("i16", () => mov("movswq", mem, reg("rax")))
    .with("u32", () => mov("movl", mem, reg("rax", 4)))
    .with("i32", () => mov("movslq", mem, reg("rax")))
    .with("u64", "i64", "usize", "isize", () => mov(`mov${suffix(size)}`, mem, reg("rax", size)))
    .with("f32", () => mov("movss", mem, xmm(0)))
    .with("f64", () => mov("movsd", mem, xmm(0)))
    .exhaustive();
}

/** Extends the old value left in al/ax/eax/rax by `cmpxchg` to the 64-bit return convention of {@link loadInstr}. */
function extendResult(s: LoweredScalarName): Item[] {
  return match(s)
    .with("u8", () => [mov("movzbl", reg("rax", 1), reg("rax", 4))])
    .with("i8", () => [mov("movsbq", reg("rax", 1), reg("rax"))])
    .with("u16", () => [mov("movzwl", reg("rax", 2), reg("rax", 4))])
    .with("i16", () => [mov("movswq", reg("rax", 2), reg("rax"))])
    .with("i32", () => [mov("movslq", reg("rax", 4), reg("rax"))])
    // Already the full register (or the 32-bit zero-extended one).
    .with("u32", "u64", "i64", "usize", "isize", "bool", "f32", "f64", () => [])
    .exhaustive();
}

/** Body (without `ret`) of a leaf operation. */
function leafBody(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): Item[] {
  const sig = leafSignature(leaf, op);
  const locs = paramLocations(sig);
  const { setup, mem } = leafAddress(input, leaf, op, locs);
  const size = leaf.size;
  const sfx = suffix(size);
  // Value parameters that arrived on the stack are loaded after the address (all argument registers are free then).
  const spare: Gpr[] = ["rdi", "rsi"];
  const value = (name: string): Operand => {
    const loc = locs.get(name)!;
    if (loc.kind === "stack") {
      const r = spare.shift()!;
      setup.push(mov("movq", locOperand(loc), reg(r)));
      return reg(r, size);
    }
    return loc.kind === "reg" ? reg(loc.reg, size) : locOperand(loc);
  };
  const acc = reg("rax", size);
  // `atomic: true` variables: every RMW on the current CPU is `lock`-prefixed (atomic against other CPUs,
  // so remote RMWs lose no update); remote RMWs always are.
  const lock = leaf.atomic ? "lock " : "";
  const body = match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "read_current", "remote_read", () => [loadInstr(leaf.scalar, size, mem)])
    .with("write_current_raw", "write_current", "remote_write", () => {
      const v = value("v");
      if (leaf.scalar === "f32") return [mov("movss", v, mem)];
      if (leaf.scalar === "f64") return [mov("movsd", v, mem)];
      return [mov(`mov${sfx}`, v, mem)];
    })
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", () => {
      const mnemonic = op.slice(0, op.indexOf("_"));
      return [alu(`${lock}${mnemonic}${sfx}`, value("v"), mem)];
    })
    .with("remote_add", () => [alu(`lock add${sfx}`, value("v"), mem)])
    .with("remote_cmpxchg", () => {
      const e = value("expected");
      const d = value("desired");
      return [mov(`mov${sfx}`, e, acc), cmpxchg(`lock cmpxchg${sfx}`, d, mem), ...extendResult(leaf.scalar)];
    })
    // `xchg` with memory is implicitly locked (a full barrier, ~20 cycles, no cache-line prefetch);
    // like Linux's this_cpu_xchg we use a load and an unlocked `cmpxchg` retry loop instead. Each
    // `cmpxchg` is one instruction on the current CPU's area, so an interrupt or a migration between
    // the load and the `cmpxchg` only makes the compare fail and retry: no update is lost and no guard is needed.
    .with("xchg_current", () => {
      const v = value("v");
      return [mov(`mov${sfx}`, mem, acc), label("1"), cmpxchg(`${lock}cmpxchg${sfx}`, v, mem), jcc("jne", "1b"), ...extendResult(leaf.scalar)];
    })
    .with("cmpxchg_current", () => {
      const e = value("expected");
      const d = value("desired");
      return [mov(`mov${sfx}`, e, acc), cmpxchg(`${lock}cmpxchg${sfx}`, d, mem), ...extendResult(leaf.scalar)];
    })
    .with("inc_current", "dec_current", (o) => [unary(`${lock}${o === "inc_current" ? "inc" : "dec"}${sfx}`, mem)])
    // Linux's this_cpu_add_return: `xadd` leaves the old value in the register, one `add` makes it the new one.
    .with("add_return_current", "sub_return_current", (o) => {
      const v = value("v");
      const neg = o === "sub_return_current" ? [unary(`neg${sfx}`, acc)] : [];
      return [mov(`mov${sfx}`, v, acc), ...neg, xadd(`${lock}xadd${sfx}`, acc, mem), alu(`${o === "sub_return_current" ? "sub" : "add"}${sfx}`, v, acc), ...extendResult(leaf.scalar)];
    })
    .with("inc_return_current", "dec_return_current", (o) => {
      const inc = o === "inc_return_current";
      return [mov(`mov${sfx}`, imm(inc ? 1 : -1), acc), xadd(`${lock}xadd${sfx}`, acc, mem), unary(`${inc ? "inc" : "dec"}${sfx}`, acc), ...extendResult(leaf.scalar)];
    })
    // try_cmpxchg(&expected, desired): one `cmpxchg`; *expected receives the value found (the same value on success).
    .with("try_cmpxchg_current", () => {
      const loc = locs.get("expected")!;
      const ptr = loc.kind === "reg" ? loc.reg : (setup.push(mov("movq", locOperand(loc), reg("rdi"))), "rdi" as const);
      const d = value("desired");
      return [
        mov(`mov${sfx}`, memRef(`(%${ptr})`, ptr), acc),
        cmpxchg(`${lock}cmpxchg${sfx}`, d, mem),
        mov(`mov${sfx}`, acc, memRef(`(%${ptr})`, ptr)),
        setcc("sete", reg("rax", 1)),
        mov("movzbl", reg("rax", 1), reg("rax", 4)),
      ];
    })
    .exhaustive();
  return [...setup, ...body];
}

/** The calls around a guarded sequence (none with both features off). `%rbx` keeps the irq flags and aligns the stack. */
function guarded(input: GenInput, inner: readonly Item[]): Item[] {
  const { preempt, irq } = input.config.features;
  if (!preempt && !irq) return [...inner];
  if (definedRegs(inner).includes("rbx")) throw new Error("x86_64: a guarded sequence must not write %rbx (it holds the irq flags)");
  return [
    push("rbx"),
    ...(preempt ? [call(PREEMPT_DISABLE)] : []),
    ...(irq ? [call(IRQ_SAVE), mov("movq", reg("rax"), reg("rbx"))] : []),
    ...inner,
    ...(irq ? [mov("movq", reg("rbx"), reg("rdi")), call(IRQ_RESTORE)] : []),
    ...(preempt ? [call(PREEMPT_ENABLE)] : []),
    pop("rbx"),
  ];
}

/** The high half of a 16-byte memory operand: 8 more bytes of displacement (after the segment prefix). */
function highHalf(mem: Operand): Operand {
  const seg = mem.text.startsWith("%gs:") ? "%gs:" : "";
  return memRef(`${seg}8+${mem.text.slice(seg.length)}`, ...mem.regs);
}

/** `cmpxchg16b mem`: compares `%rdx:%rax` with the 16 bytes, stores `%rcx:%rbx` if equal, else loads them into `%rdx:%rax`. */
function cmpxchg16b(mem: Operand): Item {
  return insn("cmpxchg16b", [spell(mem)], { defs: ["rax", "rdx", "flags"], uses: ["rax", "rdx", "rbx", "rcx", ...mem.regs] });
}

/**
 * Body (without `ret`) of an op on a u128 leaf. Values arrive and return in
 * register pairs (SysV: low half first; returned in `%rdx:%rax`). The raw and
 * remote reads and writes are two `movq` (not single-copy atomic: a remote
 * access may tear against the owner's update); `read_current` and
 * `write_current` are `cmpxchg16b %gs:` (a read as a compare with zero, a
 * write as a load + compare-exchange loop): single-copy atomic, and like
 * `xchg_current` safe against interrupts and migration without a guard (a
 * migration only makes the compare fail and retry on the new CPU's copy).
 * `cmpxchg128_current` is one unlocked `cmpxchg16b %gs:` (Linux's
 * this_cpu_cmpxchg128). `%rbx` is callee-saved: pushed around `cmpxchg16b`.
 */
function u128Body(input: GenInput, leaf: PlacedU128Leaf, op: LeafOp): Item[] {
  const sig = leafSignature(leaf, op);
  const locs = paramLocations(sig);
  for (const name of LEAF_OP_SPECS[op].values) {
    if (locs.get(name)?.kind !== "reg") {
      fail("type_not_on_target", [leaf.varName, ...leaf.path], `Variable "${leaf.varName}" leaf ${leaf.symbol}: the u128 ${name} of ${sig.name} would be passed on the stack (too many index arguments); x86_64 lowers u128 values in register pairs only`);
    }
  }
  const { setup, mem } = leafAddress(input, leaf, op, locs);
  const r = (name: string): Gpr => (locs.get(name) as { readonly reg: Gpr }).reg;
  const move = (from: Gpr, to: Gpr): Item[] => (from === to ? [] : [mov("movq", reg(from), reg(to))]);
  const zero = (g: Gpr): Item => alu("xorl", reg(g, 4), reg(g, 4));
  const body = match(op)
    .returnType<Item[]>()
    .with("read_current_raw", "remote_read", () => [mov("movq", mem, reg("rax")), mov("movq", highHalf(mem), reg("rdx"))])
    .with("write_current_raw", "remote_write", () => [mov("movq", reg(r("v")), mem), mov("movq", reg(r("v.hi")), highHalf(mem))])
    .with("read_current", () => [push("rbx"), zero("rax"), zero("rdx"), zero("rbx"), zero("rcx"), cmpxchg16b(mem), pop("rbx")])
    // v.lo is read before %rcx is written (v.hi may be %rdx, which the loads overwrite, so it moves first too).
    .with("write_current", () => [
      push("rbx"),
      ...move(r("v"), "rbx"),
      ...move(r("v.hi"), "rcx"),
      mov("movq", mem, reg("rax")),
      mov("movq", highHalf(mem), reg("rdx")),
      label("1"),
      cmpxchg16b(mem),
      jcc("jne", "1b"),
      pop("rbx"),
    ])
    // desired.lo, expected.lo, expected.hi, desired.hi: each source is read before its register is written
    // (the pairs follow the index arguments in rdi, rsi, rdx, rcx, r8, r9).
    .with("cmpxchg128_current", () => [
      push("rbx"),
      ...move(r("desired"), "rbx"),
      ...move(r("expected"), "rax"),
      ...move(r("expected.hi"), "rdx"),
      ...move(r("desired.hi"), "rcx"),
      cmpxchg16b(mem),
      pop("rbx"),
    ])
    .with(
      "add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", "inc_current", "dec_current",
      "add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", "try_cmpxchg_current", "remote_add", "remote_cmpxchg",
      (o) => {
        throw new Error(`x86_64: ${o} does not apply to u128 leaves (sdk/ops.ts scalars)`);
      },
    )
    .exhaustive();
  return [...setup, ...body];
}

/** Copies a variable's initial bytes from the template into the current area. */
function resetBody(input: GenInput, v: PlacedVar): Item[] {
  const { offset, size } = v.layout;
  const naive = accessOf(input) === "naive";
  const dest = (at: number): Operand => memRef(naive ? `${AREAS_SYMBOL}+${at}(%rip)` : `%gs:${at}`);
  const copy: Item[] = [];
  if (size <= UNROLL_COPY_LIMIT) {
    let done = 0;
    for (const chunk of [8, 4, 2, 1]) {
      while (size - done >= chunk) {
        const r = reg("rax", chunk);
        copy.push(mov(`mov${suffix(chunk)}`, memRef(`${TEMPLATE_SYMBOL}+${offset + done}(%rip)`), r), mov(`mov${suffix(chunk)}`, r, dest(offset + done)));
        done += chunk;
      }
    }
  } else {
    copy.push(
      naive ? mov("leaq", memRef(`${AREAS_SYMBOL}+${offset}(%rip)`), reg("rdi")) : mov("movq", memRef(`%gs:${input.layout.selfPointerOffset ?? 0}`), reg("rdi")),
      ...(naive ? [] : [alu("addq", imm(offset), reg("rdi"))]),
      mov("leaq", memRef(`${TEMPLATE_SYMBOL}+${offset}(%rip)`), reg("rsi")),
      mov("movl", imm(size), reg("rcx", 4)),
      repMovsb(),
    );
  }
  return guarded(input, copy);
}

/** Sets the GS base to `%rax` (kernel: MSR; user: arch_prctl, which clobbers rcx/r11 like any syscall). */
function setGsBase(input: GenInput): Item[] {
  if (accessOf(input) === "naive") return [];
  return match(input.config.mode)
    .returnType<Item[]>()
    .with("kernel", () => [mov("movq", reg("rax"), reg("rdx")), alu("shrq", imm(32), reg("rdx")), mov("movl", imm(MSR_GS_BASE), reg("rcx", 4)), wrmsr()])
    .with("user", () => [mov("movq", reg("rax"), reg("rsi")), mov("movl", imm(ARCH_SET_GS), reg("rdi", 4)), mov("movl", imm(SYS_ARCH_PRCTL), reg("rax", 4)), syscall()])
    .exhaustive();
}

/** The runtime functions. */
function runtime(input: GenInput): string[] {
  const { layout, config } = input;
  const naive = accessOf(input) === "naive";
  const self = layout.selfPointerOffset ?? 0;
  const inPlace = config.mode === "kernel" && !naive ? "_percpu_start" : AREAS_SYMBOL;
  const stride = layout.stride;
  const step = stride <= DISP32_MAX ? [alu("addq", imm(stride), reg("rdx"))] : [mov("movabsq", imm(stride), reg("r11")), alu("addq", reg("r11"), reg("rdx"))];
  const base = memRef(`${BASE_SYMBOL}(%rip)`);
  const areaBase = (): Item[] => [...mulConst(reg("rdi"), stride, "rax"), alu("addq", base, reg("rax"))];
  return [
    renderFunction("percpu_init", [
      // naive (the seed's sp-naive): init ignores its base and count and (re)initialises the one area in place,
      // returning 1, so the accessors and percpu_area_base(0) always agree on where the area is.
      ...(naive ? [mov("leaq", memRef(`${AREAS_SYMBOL}(%rip)`), reg("rdi")), mov("movl", imm(1), reg("rsi", 4))] : []),
      label(".Lpercpu_init"),
      test(reg("rdi"), reg("rdi")),
      jcc("jz", ".Lpercpu_init_null"),
      test(imm(layout.areaAlign - 1), reg("rdi")),
      jcc("jnz", ".Lpercpu_init_unaligned"),
      mov("movq", reg("rdi"), reg("r8")),
      mov("movq", reg("rsi"), reg("r9")),
      mov("movq", reg("rdi"), reg("rdx")),
      mov("movq", reg("rsi"), reg("r10")),
      test(reg("r10"), reg("r10")),
      jcc("jz", ".Lpercpu_init_done"),
      label(".Lpercpu_init_loop"),
      mov("movq", reg("rdx"), reg("rdi")),
      mov("leaq", memRef(`${TEMPLATE_SYMBOL}(%rip)`), reg("rsi")),
      mov("movl", imm(layout.areaSize), reg("rcx", 4)),
      repMovsb(),
      ...(layout.selfPointerOffset !== null ? [mov("movq", reg("rdx"), memRef(`${self}(%rdx)`, "rdx"))] : []),
      ...step,
      dec("decq", reg("r10")),
      jcc("jnz", ".Lpercpu_init_loop"),
      label(".Lpercpu_init_done"),
      mov("movq", reg("r8"), base),
      mov("movq", reg("r9"), memRef(`${NUM_SYMBOL}(%rip)`)),
      mov("movq", reg("r9"), reg("rax")),
      ret(),
      label(".Lpercpu_init_null"),
      mov("movq", imm(-1), reg("rax")),
      ret(),
      label(".Lpercpu_init_unaligned"),
      mov("movq", imm(-2), reg("rax")),
      ret(),
    ]),
    renderFunction("percpu_init_in_place", [mov("leaq", memRef(`${inPlace}(%rip)`), reg("rdi")), mov("movl", imm(config.cpus), reg("rsi", 4)), jmp(".Lpercpu_init")]),
    renderFunction("percpu_init_reg", naive ? [ret()] : [...areaBase(), ...setGsBase(input), ret()]),
    renderFunction("percpu_read_reg", [naive ? mov("leaq", memRef(`${AREAS_SYMBOL}(%rip)`), reg("rax")) : mov("movq", memRef(`%gs:${self}`), reg("rax")), ret()]),
    renderFunction("percpu_write_reg", naive ? [ret()] : [mov("movq", reg("rdi"), reg("rax")), ...setGsBase(input), ret()]),
    renderFunction("percpu_area_base", [...areaBase(), ret()]),
    renderFunction("percpu_area_num", [mov("movq", memRef(`${NUM_SYMBOL}(%rip)`), reg("rax")), ret()]),
    renderFunction("percpu_area_size", [mov("movl", imm(layout.areaSize), reg("rax", 4)), ret()]),
  ];
}

/** Every function of one variable. */
function varFunctions(input: GenInput, v: PlacedVar): string[] {
  const { name, offset } = v.layout;
  const out = [
    renderFunction(
      varFunction(name, "current_ptr"),
      accessOf(input) === "naive"
        ? [mov("leaq", memRef(`${AREAS_SYMBOL}+${offset}(%rip)`), reg("rax")), ret()]
        : [mov("movq", memRef(`%gs:${input.layout.selfPointerOffset ?? 0}`), reg("rax")), alu("addq", imm(offset), reg("rax")), ret()],
    ),
    renderFunction(varFunction(name, "remote_ptr"), [
      ...mulConst(reg("rdi"), input.layout.stride, "rax"),
      alu("addq", memRef(`${BASE_SYMBOL}(%rip)`), reg("rax")),
      alu("addq", imm(offset), reg("rax")),
      ret(),
    ]),
    renderFunction(varFunction(name, "reset_to_init"), [...resetBody(input, v), ret()]),
  ];
  for (const leaf of v.leaves) {
    for (const op of leafOps(leaf.scalar)) out.push(renderFunction(leafSignature(leaf, op).name, [...leafBody(input, leaf, op), ret()]));
  }
  for (const leaf of v.u128Leaves) {
    for (const op of leafOps(leaf.scalar)) out.push(renderFunction(leafSignature(leaf, op).name, [...u128Body(input, leaf, op), ret()]));
  }
  return out;
}

/** `percpu.S` for x86_64. */
function code(input: GenInput): string {
  const naive = accessOf(input) === "naive";
  return [
    ".text",
    "",
    ...runtime(input),
    ...input.vars.flatMap((v) => varFunctions(input, v)),
    `.section .note.GNU-stack, "", @progbits`,
    "",
  ].join("\n");
}

/** Rejects offsets a signed 32-bit displacement cannot reach. */
function check(input: GenInput): void {
  for (const v of input.vars) {
    if (v.layout.offset > DISP32_MAX) {
      fail("offset_out_of_reach", [v.layout.name], `Offset of "${v.layout.name}" out of reach on x86_64: ${v.layout.offset} does not fit a signed 32-bit displacement`);
    }
    for (const leaf of v.leaves) {
      if (leaf.areaOffset > DISP32_MAX) {
        fail("offset_out_of_reach", [v.layout.name, ...leaf.path], `Offset of "${leaf.symbol}" out of reach on x86_64: ${leaf.areaOffset} does not fit a signed 32-bit displacement`);
      }
    }
  }
}

// ---------------------------------------------------------------- inline C

/** Inline-asm operand constraint of a value of this scalar (immediates only where the instruction takes them). */
function valueConstraint(s: LoweredScalarName, size: number): string {
  if (isFloat(s)) return "x";
  return size === 8 ? "er" : "ri";
}

/**
 * The clobbers of an inline-asm template: always `"memory"` (every accessor is a compiler barrier), and `"cc"`
 * when an instruction writes the flags. Operand registers are the compiler's (placeholders), so only the flags can
 * appear among the defs here besides the accumulator, which the accessors bind as an `"a"` output.
 */
function inlineClobbers(items: readonly Item[]): string {
  return definedRegs(items).includes("flags") ? `"memory", "cc"` : `"memory"`;
}

/** One inline accessor: the C body statements of a leaf op. */
function inlineLeafBody(input: GenInput, leaf: PlacedLeaf, op: LoweredLeafOp): string[] {
  const s = leaf.scalar;
  const t = leaf.cType;
  const size = leaf.size;
  const sfx = suffix(size);
  const off = leaf.areaOffset;
  const dims = leaf.indices;
  const idxExpr = dims.map((d, k) => (d.stride === 1 ? `i${k}` : `i${k} * ${d.stride}u`)).join(" + ");
  const lines: string[] = [];
  if (isRemoteOp(op)) {
    const addr = `(volatile ${t} *)(${BASE_SYMBOL} + cpu * ${input.layout.stride}u + ${off}u${dims.length ? ` + ${idxExpr}` : ""})`;
    if (op === "remote_add" || op === "remote_cmpxchg") return remoteRmwC(leaf, op, addr);
    return op === "remote_read" ? [`return *${addr};`] : [`*${addr} = v;`];
  }
  // The memory reference inside the asm template plus the operands it needs.
  let mem: string;
  const memIn: string[] = [];
  let memOut: string | null = null;
  const naive = accessOf(input) === "naive";
  const writes = op !== "read_current_raw" && op !== "read_current";
  if (naive) {
    lines.push(`${t} *p_ = (${t} *)(${AREAS_SYMBOL} + ${off}u${dims.length ? ` + ${idxExpr}` : ""});`);
    mem = "%[m]";
    if (writes) memOut = op.startsWith("write") ? `[m] "=m"(*p_)` : `[m] "+m"(*p_)`;
    else memIn.push(`[m] "m"(*p_)`);
  } else if (dims.length === 1 && [1, 2, 4, 8].includes(dims[0]!.stride)) {
    mem = `%%gs:${off}(,%[i],${dims[0]!.stride})`;
    memIn.push(`[i] "r"(i0)`);
  } else if (dims.length > 0) {
    lines.push(`uintptr_t x_ = ${idxExpr};`);
    mem = `%%gs:${off}(%[i])`;
    memIn.push(`[i] "r"(x_)`);
  } else {
    mem = `%%gs:${off}`;
  }
  // The template is rendered from the same instruction IR as percpu.S; "cc" is clobbered exactly when an instruction writes the flags.
  const asm = (items: readonly Item[], outs: readonly string[], ins: readonly string[]): string =>
    `__asm__ __volatile__("${inlineTemplate(items)}" : ${outs.join(", ")} : ${ins.join(", ")} : ${inlineClobbers(items)});`;
  const outs = (...o: string[]): string[] => (memOut ? [...o, memOut] : o);
  const lock = leaf.atomic ? "lock " : "";
  const vc = valueConstraint(s, size);
  match(op)
    .with("read_current_raw", "read_current", () => {
      // Narrow integers are loaded with a zero/sign extension into a 32-bit temporary (no partial-register merge).
      const [tmp, load, constraint] = match(s)
        .returnType<[string, string, string]>()
        .with("u8", () => ["uint32_t", "movzbl", "=r"])
        .with("i8", () => ["int32_t", "movsbl", "=r"])
        .with("u16", () => ["uint32_t", "movzwl", "=r"])
        .with("i16", () => ["int32_t", "movswl", "=r"])
        .with("bool", () => ["bool", "movb", "=q"])
        .with("f32", () => ["float", "movss", "=x"])
        .with("f64", () => ["double", "movsd", "=x"])
        .with("u32", "i32", "u64", "i64", "usize", "isize", () => [t, `mov${sfx}`, "=r"])
        .exhaustive();
      lines.push(`${tmp} v_;`, asm([mov(load, mem, "%[v]")], [`[v] "${constraint}"(v_)`], memIn), `return (${t})v_;`);
    })
    .with("write_current_raw", "write_current", () => {
      const mnemonic = s === "f32" ? "movss" : s === "f64" ? "movsd" : `mov${sfx}`;
      lines.push(asm([mov(mnemonic, "%[v]", mem)], outs(), [`[v] "${vc}"(v)`, ...memIn]));
    })
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", () => {
      const mnemonic = op.slice(0, op.indexOf("_"));
      lines.push(asm([alu(`${lock}${mnemonic}${sfx}`, "%[v]", mem)], outs(), [`[v] "${vc}"(v)`, ...memIn]));
    })
    .with("xchg_current", () => {
      // Unlocked cmpxchg loop (see leafBody): cheaper than the implicitly locked xchg.
      lines.push(
        `${t} o_;`,
        asm(
          [mov(`mov${sfx}`, mem, "%[o]"), label("1"), cmpxchg(`${lock}cmpxchg${sfx}`, "%[v]", mem), jcc("jne", "1b")],
          outs(`[o] "=&a"(o_)`),
          [`[v] "r"(v)`, ...memIn],
        ),
        "return o_;",
      );
    })
    .with("cmpxchg_current", () => {
      lines.push(
        `${t} o_;`,
        asm([cmpxchg(`${lock}cmpxchg${sfx}`, "%[d]", mem)], outs(`[o] "=a"(o_)`), [`"0"(expected)`, `[d] "r"(desired)`, ...memIn]),
        "return o_;",
      );
    })
    .with("inc_current", "dec_current", (o) => {
      lines.push(asm([unary(`${lock}${o === "inc_current" ? "inc" : "dec"}${sfx}`, mem)], outs(), memIn));
    })
    .with("add_return_current", "sub_return_current", "inc_return_current", "dec_return_current", (o) => {
      const delta = o === "add_return_current" ? "v" : o === "sub_return_current" ? `(${t})-v` : o === "inc_return_current" ? "1" : `(${t})-1`;
      lines.push(`${t} d_ = ${delta}, o_ = d_;`, asm([xadd(`${lock}xadd${sfx}`, "%[o]", mem)], outs(`[o] "+r"(o_)`), memIn), `return (${t})(o_ + d_);`);
    })
    .with("try_cmpxchg_current", () => {
      lines.push(
        `${t} o_ = *expected;`,
        "bool ok_;",
        asm([cmpxchg(`${lock}cmpxchg${sfx}`, "%[d]", mem)], outs(`[o] "+a"(o_)`, `[ok] "=@ccz"(ok_)`), [`[d] "r"(desired)`, ...memIn]),
        "*expected = o_;",
        "return ok_;",
      );
    })
    .exhaustive();
  return lines;
}

/** `static inline` C versions of every leaf op and `<v>_current_ptr` (PERCPU_INLINE). */
function inlineC(input: GenInput): string {
  const naive = accessOf(input) === "naive";
  const self = input.layout.selfPointerOffset ?? 0;
  const out: string[] = [
    "/* x86_64 inline accessors: one %gs-relative instruction per access (AT&T inline asm). */",
    `extern uintptr_t ${BASE_SYMBOL} __attribute__((visibility("hidden")));`,
  ];
  if (naive) out.push(`extern unsigned char ${AREAS_SYMBOL}[] __attribute__((visibility("hidden")));`);
  out.push("");
  for (const v of input.vars) {
    const t = cTypeName(v.layout.name);
    const body = naive
      ? [`return (${t} *)(${AREAS_SYMBOL} + ${v.layout.offset}u);`]
      : [
        "uintptr_t p_;",
        `__asm__ __volatile__("${inlineTemplate([mov("movq", `%%gs:${self}`, "%0")])}" : "=r"(p_));`,
        `return (${t} *)(p_ + ${v.layout.offset}u);`,
      ];
    out.push(`static inline ${t} *${varFunction(v.layout.name, "current_ptr")}(void) {`, ...body.map((l) => `  ${l}`), "}");
    for (const leaf of v.leaves) {
      for (const op of leafOps(leaf.scalar)) {
        out.push(`static inline ${cPrototype(leafSignature(leaf, op))} {`, ...inlineLeafBody(input, leaf, op).map((l) => `  ${l}`), "}");
      }
    }
    out.push("");
  }
  return out.join("\n");
}

/** The x86_64 backend. */
export const x86_64Backend: ArchBackend = {
  arch: "x86_64",
  registerName: "GS_BASE",
  // No red zone (interrupts push onto the kernel stack); no PIC so kernels link at fixed addresses.
  // The default small code model links at 0x100000 as our firmware does; the generated asm is
  // RIP-relative and works under -mcmodel=kernel as well.
  clangFlags: ["--target=x86_64-unknown-none-elf", "-mno-red-zone", "-fno-pic"],
  supportsUserMode: true,
  check,
  commentChar: "#",
  code,
  headerPrimitives: x86_64HeaderPrimitives,
  atomicKinds: true,
  inlineC,
};
