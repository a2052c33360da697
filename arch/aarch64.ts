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
 * @module
 */
import { match } from "ts-pattern";
import { fail, type PathSegment } from "../sdk/errors.ts";
import { GUARD_HOOKS, leafFunction, leafOps, type LeafOp, varFunction, cTypeName } from "../sdk/symbols.ts";
import type { ScalarName } from "../sdk/types.ts";
import { AREAS_SYMBOL, asmFunction, BASE_SYMBOL, commonData, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { type ArithmeticOp, isArithmeticOp } from "../sdk/ops.ts";
import { aarch64HeaderPrimitives } from "./aarch64_header.ts";
import type { Features } from "../sdk/config.ts";
import type { GenInput, PlacedLeaf } from "../sdk/plan.ts";
import type { ArchBackend } from "./backend.ts";
import { leafSignature } from "./c_types.ts";

/** Largest byte offset (end of an access) the generated code reaches from the area base: 2 GiB. */
export const AARCH64_REACH = 2 ** 31;

/** A register in its spellings: 64-bit, 32-bit, single and double FP (or an inline-asm operand). */
interface Reg {
  readonly x: string;
  readonly w: string;
  readonly s: string;
  readonly d: string;
}

/** A machine register `n` (x9, w9, s9, d9). */
function hw(n: number): Reg {
  return { x: `x${n}`, w: `w${n}`, s: `s${n}`, d: `d${n}` };
}

/** A named inline-asm operand (`%x[b]`, `%w[b]`, ...). */
function operand(name: string): Reg {
  return { x: `%x[${name}]`, w: `%w[${name}]`, s: `%s[${name}]`, d: `%d[${name}]` };
}

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
function scalarIsa(name: ScalarName): ScalarIsa {
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
function movImm(reg: Reg, value: number): string[] {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** 48) throw new RangeError(`Cannot materialise ${value}: expected 0 <= value < 2^48`);
  const out: string[] = [];
  for (let shift = 0; shift < 48; shift += 16) {
    const chunk = Math.floor(value / 2 ** shift) % 0x10000;
    if (chunk === 0) continue;
    const sh = shift === 0 ? "" : `, lsl #${shift}`;
    out.push(out.length === 0 ? `movz ${reg.x}, #${chunk}${sh}` : `movk ${reg.x}, #${chunk}${sh}`);
  }
  return out.length === 0 ? [`movz ${reg.x}, #0`] : out;
}

/** `dst += idx * stride`: a shifted add for powers of two, else `madd` through `tmp`. */
function scaledAdd(dst: Reg, idx: Reg, stride: number, tmp: Reg): string[] {
  if (stride > 0 && (stride & (stride - 1)) === 0 && stride < 2 ** 31) {
    const k = Math.log2(stride);
    return [k === 0 ? `add ${dst.x}, ${dst.x}, ${idx.x}` : `add ${dst.x}, ${dst.x}, ${idx.x}, lsl #${k}`];
  }
  return [...movImm(tmp, stride), `madd ${dst.x}, ${idx.x}, ${tmp.x}, ${dst.x}`];
}

/** `reg += off` in the fewest instructions (0 to 3). */
function addImm(reg: Reg, off: number, tmp: Reg): string[] {
  if (off === 0) return [];
  if (off < 4096) return [`add ${reg.x}, ${reg.x}, #${off}`];
  if (off < 2 ** 24) {
    const lo = off % 4096;
    return [`add ${reg.x}, ${reg.x}, #${Math.floor(off / 4096)}, lsl #12`, ...(lo ? [`add ${reg.x}, ${reg.x}, #${lo}`] : [])];
  }
  return [...movImm(tmp, off), `add ${reg.x}, ${reg.x}, ${tmp.x}`];
}

/** Instructions and memory operand reaching `base + off` for an access of `size` bytes. */
interface Place {
  readonly lines: readonly string[];
  readonly mem: string;
}

/**
 * The memory operand for `base + off`: the scaled immediate when it fits (0
 * extra instructions), `add ..., lsl #12` plus a scaled low part below 16 MiB
 * (1), else `movz`/`movk` into `tmp` and a register offset (2). May modify `base`.
 */
function memOperand(base: Reg, off: number, size: number, tmp: Reg): Place {
  if (off % size === 0 && off / size < 4096) return { lines: [], mem: off === 0 ? `[${base.x}]` : `[${base.x}, #${off}]` };
  const lo = off % 4096;
  if (off < 2 ** 24 && lo % size === 0) {
    return { lines: [`add ${base.x}, ${base.x}, #${Math.floor(off / 4096)}, lsl #12`], mem: lo === 0 ? `[${base.x}]` : `[${base.x}, #${lo}]` };
  }
  return { lines: movImm(tmp, off), mem: `[${base.x}, ${tmp.x}]` };
}

/** The system register holding the per-CPU base. */
function perCpuRegister(features: Features): string {
  return features.el2 ? "tpidr_el2" : "tpidr_el1";
}

/** Lines loading the address of a symbol (plus addend) PC-relatively. */
function adr(reg: Reg, sym: string): string[] {
  return [`adrp ${reg.x}, ${sym}`, `add ${reg.x}, ${reg.x}, #:lo12:${sym}`];
}

/** `sym+off` (or `sym` for 0) as an assembler expression. */
function symPlus(sym: string, off: number): string {
  return off === 0 ? sym : `${sym}+${off}`;
}

/** Register assignment of a leaf op's C parameters by the AAPCS64 (GP in x0.., FP in v0..). */
function argRegs(leaf: PlacedLeaf, op: LeafOp): Map<string, Reg> {
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
    if (leaf.indices.length === 0) return { lines: [`adrp ${BASE.x}, ${sym}`], mem: `[${BASE.x}, #:lo12:${sym}]` };
    return { lines: [...adr(BASE, sym), ...idx], mem: `[${BASE.x}]` };
  }
  const head = where === "current" ? [`mrs ${BASE.x}, ${perCpuRegister(features)}`] : remoteBase(input, BASE, args.get("cpu")!, TMP);
  const place = memOperand(BASE, leaf.areaOffset, leaf.size, TMP);
  return { lines: [...head, ...idx, ...place.lines], mem: place.mem };
}

/** Instructions leaving the full address of a current-area leaf (indices added) in x9; clobbers x10. */
function leafAddress(input: GenInput, leaf: PlacedLeaf, args: Map<string, Reg>): string[] {
  const idx = leaf.indices.flatMap((dim, k) => scaledAdd(BASE, args.get(`i${k}`)!, dim.stride, TMP));
  return [...currentAddress(input, BASE, leaf.areaOffset, TMP), ...idx];
}

/** `reg = BASE + cpu * stride` (the area of `cpu`). */
function remoteBase(input: GenInput, reg: Reg, cpu: Reg, tmp: Reg): string[] {
  return [`adrp ${reg.x}, ${BASE_SYMBOL}`, `ldr ${reg.x}, [${reg.x}, #:lo12:${BASE_SYMBOL}]`, ...scaledAdd(reg, cpu, input.layout.stride, tmp)];
}

/** `reg = current area base + off` (the register, or the naive globals). */
function currentAddress(input: GenInput, reg: Reg, off: number, tmp: Reg): string[] {
  const { features } = input.config;
  if (features.naive) return adr(reg, symPlus(AREAS_SYMBOL, off));
  return [`mrs ${reg.x}, ${perCpuRegister(features)}`, ...addImm(reg, off, tmp)];
}

/**
 * Wraps a body (no `ret`) in the enabled guard hooks: a frame (16-byte aligned
 * sp) saves lr and the arguments across the hook calls, and the result across
 * the restore calls. Without hooks the body is returned as is.
 */
function guarded(features: Features, body: readonly string[], args: readonly Reg[], floatArg: keyof Reg | null, result: keyof Reg | null): string[] {
  if (!features.preempt && !features.irq) return [...body];
  const slots = args.length + (floatArg ? 1 : 0) + (features.irq ? 1 : 0) + (result ? 1 : 0);
  const frame = Math.ceil((16 + 8 * slots) / 16) * 16;
  let at = 16;
  const argSlots = args.map((r) => ({ r, at: (at += 8) - 8 }));
  const floatSlot = floatArg ? (at += 8) - 8 : 0;
  const flagsSlot = features.irq ? (at += 8) - 8 : 0;
  const resultSlot = result ? (at += 8) - 8 : 0;
  // A float result/argument is kept as the whole d register; an integer one as x.
  const resultReg = result === null ? "" : result === "s" || result === "d" ? "d0" : "x0";
  const out = [`stp x29, x30, [sp, #-${frame}]!`, "mov x29, sp"];
  for (const s of argSlots) out.push(`str ${s.r.x}, [sp, #${s.at}]`);
  if (floatArg) out.push(`str d0, [sp, #${floatSlot}]`);
  if (features.preempt) out.push(`bl ${GUARD_HOOKS[0]}`);
  if (features.irq) out.push(`bl ${GUARD_HOOKS[2]}`, `str x0, [sp, #${flagsSlot}]`);
  for (const s of argSlots) out.push(`ldr ${s.r.x}, [sp, #${s.at}]`);
  if (floatArg) out.push(`ldr d0, [sp, #${floatSlot}]`);
  out.push(...body);
  if (result) out.push(`str ${resultReg}, [sp, #${resultSlot}]`);
  if (features.irq) out.push(`ldr x0, [sp, #${flagsSlot}]`, `bl ${GUARD_HOOKS[3]}`);
  if (features.preempt) out.push(`bl ${GUARD_HOOKS[1]}`);
  if (result) out.push(`ldr ${resultReg}, [sp, #${resultSlot}]`);
  out.push(`ldp x29, x30, [sp], #${frame}`);
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

function rmwMnemonic(op: LeafOp): string {
  if (!isArithmeticOp(op)) throw new Error(`${op} is not an arithmetic RMW op`);
  return RMW_MNEMONIC[op];
}

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

/** The LL/SC loop of an integer RMW op (without address setup or return-value move). */
function llscLoop(isa: ScalarIsa, op: LeafOp, r: LlscRegs): string[] {
  const f = isa.valueForm;
  const ld = `ldxr${isa.ex} ${r.old[f]}, [${r.addr.x}]`;
  const st = (v: Reg): string => `stxr${isa.ex} ${r.status.w}, ${v[f]}, [${r.addr.x}]`;
  return match(op)
    .returnType<string[]>()
    .with("xchg_current", () => ["1:", ld, st(r.value), `cbnz ${r.status.w}, 1b`])
    .with("cmpxchg_current", () => [
      "1:",
      ld,
      isa.cmpExt ? `cmp ${r.old.w}, ${r.expected.w}, ${isa.cmpExt}` : `cmp ${r.old[f]}, ${r.expected[f]}`,
      "b.ne 2f",
      st(r.value),
      `cbnz ${r.status.w}, 1b`,
      "2:",
    ])
    .otherwise(() => ["1:", ld, `${rmwMnemonic(op)} ${r.next[f]}, ${r.old[f]}, ${r.value[f]}`, st(r.next), `cbnz ${r.status.w}, 1b`]);
}

/** Moves an old value (from an exclusive load, zero-extended) into the return register with the C type's extension. */
function returnOld(isa: ScalarIsa, from: Reg, to: Reg): string {
  if (isa.signExt) return `${isa.signExt} ${to.x}, ${from.w}`;
  return `mov ${to[isa.valueForm]}, ${from[isa.valueForm]}`;
}

/** Body (without `ret`) of one leaf operation in `percpu.S`. */
function leafBody(input: GenInput, leaf: PlacedLeaf, op: LeafOp): string[] {
  const isa = scalarIsa(leaf.scalar);
  const args = argRegs(leaf, op);
  const features = input.config.features;
  const ret = hw(0);
  const gpArgs = [...args.entries()].filter(([n]) => !(isa.float && n === "v")).map(([, r]) => r);
  const floatArg = isa.float && args.has("v") ? isa.valueForm : null;
  const read = (where: Where): string[] => {
    const p = leafPlace(input, leaf, where, args);
    return [...p.lines, `${isa.load} ${ret[isa.form]}, ${p.mem}`];
  };
  const write = (where: Where): string[] => {
    const p = leafPlace(input, leaf, where, args);
    return [...p.lines, `${isa.store} ${args.get("v")![isa.valueForm]}, ${p.mem}`];
  };
  const rmw = (): string[] => {
    // Full address in x9 (exclusives take no offset), then the loop.
    const addr = leafAddress(input, leaf, args);
    const regs: LlscRegs = {
      addr: BASE,
      old: hw(11),
      next: hw(13),
      status: hw(12),
      value: args.get(op === "cmpxchg_current" ? "desired" : "v")!,
      expected: args.get("expected") ?? hw(0),
    };
    const loop = llscLoop(isa, op, regs);
    const tail = op === "xchg_current" || op === "cmpxchg_current" ? [returnOld(isa, regs.old, ret)] : [];
    return [...addr, ...loop, ...tail];
  };
  return match(op)
    .returnType<string[]>()
    .with("read_current_raw", () => read("current"))
    .with("write_current_raw", () => write("current"))
    .with("read_current", () => guarded(features, read("current"), gpArgs, null, isa.form))
    .with("write_current", () => guarded(features, write("current"), gpArgs, floatArg, null))
    .with("remote_read", () => read("remote"))
    .with("remote_write", () => write("remote"))
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", () => rmw())
    .exhaustive();
}

/**
 * The assembly lines (body plus `ret`) of one leaf operation: exported so
 * tests can assemble accessors for offsets no real layout can be linked at.
 */
export function aarch64LeafAssembly(input: GenInput, leaf: PlacedLeaf, op: LeafOp): string {
  return asmFunction(leafFunction(leaf, op), [...leafBody(input, leaf, op), "ret"]);
}

/** Copy loop of `size` bytes from x10 to x9 in `unit`-byte steps (post-indexed); clobbers x9-x12. */
function copyLoop(size: number, unit: number, label: number): string[] {
  if (size === 0) return [];
  const [ld, st, r] = match(unit)
    .returnType<[string, string, string]>()
    .with(8, () => ["ldr", "str", "x12"])
    .with(4, () => ["ldr", "str", "w12"])
    .with(2, () => ["ldrh", "strh", "w12"])
    .otherwise(() => ["ldrb", "strb", "w12"]);
  const count = size / unit;
  if (count <= 4) return Array.from({ length: count }, () => [`${ld} ${r}, [x10], #${unit}`, `${st} ${r}, [x9], #${unit}`]).flat();
  return [
    ...movImm(hw(11), count),
    `${label}:`,
    `${ld} ${r}, [x10], #${unit}`,
    `${st} ${r}, [x9], #${unit}`,
    "subs x11, x11, #1",
    `b.ne ${label}b`,
  ];
}

/** Largest access unit (8, 4, 2, 1) dividing both `off` and `size`. */
function copyUnit(off: number, size: number): number {
  for (const u of [8, 4, 2]) if (off % u === 0 && size % u === 0) return u;
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
  const init = [
    "cbz x0, 8f",
    `tst x0, #${layout.areaAlign - 1}`,
    "b.ne 9f",
    "mov x13, x0", // area being filled
    "mov x14, x1", // areas left
    ...movImm(hw(15), layout.stride),
    "1:",
    "cbz x14, 5f",
    ...adr(hw(10), TEMPLATE_SYMBOL),
    "mov x9, x13",
    // Bases are areaAlign (>= 64) aligned and the template is 64-aligned: 8-byte words, then the tail bytes.
    ...copyLoop(words * 8, 8, 2),
    ...copyLoop(tail, 1, 3),
    "add x13, x13, x15",
    "sub x14, x14, #1",
    "b 1b",
    "5:",
    `adrp x9, ${BASE_SYMBOL}`,
    `str x0, [x9, #:lo12:${BASE_SYMBOL}]`,
    `adrp x9, ${NUM_SYMBOL}`,
    `str x1, [x9, #:lo12:${NUM_SYMBOL}]`,
    "mov x0, x1",
    "ret",
    "8:",
    "mov x0, #-1",
    "ret",
    "9:",
    "mov x0, #-2",
    "ret",
  ];
  const inPlace = naive
    ? [...adr(hw(0), AREAS_SYMBOL), "mov x1, #1", "b percpu_init"]
    : [...adr(hw(0), "_percpu_start"), ...movImm(hw(1), config.cpus), "b percpu_init"];
  const areaBase = [...remoteBase(input, hw(9), hw(0), TMP), "mov x0, x9", "ret"];
  return [
    asmFunction("percpu_init", init),
    asmFunction("percpu_init_in_place", inPlace),
    // naive: one CPU and no register, so there is nothing to set.
    asmFunction("percpu_init_reg", naive ? ["ret"] : [...remoteBase(input, hw(9), hw(0), TMP), `msr ${sysreg}, x9`, "ret"]),
    asmFunction("percpu_read_reg", naive ? [...adr(hw(0), AREAS_SYMBOL), "ret"] : [`mrs x0, ${sysreg}`, "ret"]),
    asmFunction("percpu_write_reg", naive ? ["ret"] : [`msr ${sysreg}, x0`, "ret"]),
    asmFunction("percpu_area_base", areaBase),
    asmFunction("percpu_area_num", [`adrp x0, ${NUM_SYMBOL}`, `ldr x0, [x0, #:lo12:${NUM_SYMBOL}]`, "ret"]),
    asmFunction("percpu_area_size", [...movImm(hw(0), layout.areaSize), "ret"]),
  ];
}

/** The per-variable functions: current_ptr, remote_ptr, reset_to_init. */
function varFunctions(input: GenInput): string[] {
  const out: string[] = [];
  for (const v of input.vars) {
    const { name, offset, size } = v.layout;
    out.push(asmFunction(varFunction(name, "current_ptr"), [...currentAddress(input, hw(0), offset, TMP), "ret"]));
    out.push(asmFunction(varFunction(name, "remote_ptr"), [...remoteBase(input, hw(9), hw(0), TMP), ...addImm(hw(9), offset, TMP), "mov x0, x9", "ret"]));
    const copy = [...currentAddress(input, hw(9), offset, hw(11)), ...adr(hw(10), symPlus(TEMPLATE_SYMBOL, offset)), ...copyLoop(size, copyUnit(offset, size), 1)];
    out.push(asmFunction(varFunction(name, "reset_to_init"), [...guarded(input.config.features, copy, [], null, null), "ret"]));
  }
  return out;
}

/** The complete `percpu.S`. */
function assembly(input: GenInput): string {
  const { config } = input;
  const parts = [
    commonData(input, "//"),
    ".text",
    "",
    ...runtime(input),
    ...varFunctions(input),
  ];
  for (const v of input.vars) {
    for (const leaf of v.leaves) for (const op of leafOps(leaf.scalar)) parts.push(aarch64LeafAssembly(input, leaf, op));
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

/** `"..."` C string of asm lines. */
function asmText(lines: readonly string[]): string {
  return JSON.stringify(lines.map((l) => (l.endsWith(":") ? l : `\t${l}`)).join("\n"));
}

/** Body statements of one inline leaf op. */
function inlineBody(input: GenInput, leaf: PlacedLeaf, op: LeafOp): string[] {
  const isa = scalarIsa(leaf.scalar);
  const f = input.config.features;
  const s = leaf.cType;
  const b = operand("b");
  const t = operand("t");
  const place = (where: Where): Place => memOperand(b, where === "current" && f.naive ? 0 : leaf.areaOffset, leaf.size, t);
  const usesTmp = (p: Place): boolean => p.mem.includes("[t]");
  const tmpDecl = (p: Place): string[] => (usesTmp(p) ? ["uintptr_t t;"] : []);
  const baseOut = (p: Place): string[] => [`[b] "+r"(b)`, ...(usesTmp(p) ? [`[t] "=&r"(t)`] : [])];
  const sig = leafSignature(leaf, op);
  const callRaw = (rawOp: LeafOp): string => `${leafFunction(leaf, rawOp)}(${sig.params.map((p) => p.name).join(", ")})`;
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
    return [
      `uintptr_t b = ${inlineBase(input, leaf, where)};`,
      ...tmpDecl(p),
      `${hold} v;`,
      `__asm__ volatile(${asmText([...p.lines, `${isa.load} ${v[isa.form]}, ${p.mem}`])} : [v] "=${isa.float ? "w" : "r"}"(v), ${baseOut(p).join(", ")} : : "memory");`,
      isa.float ? "return v;" : `return (${s})v;`,
    ];
  };
  const write = (where: Where): string[] => {
    const p = place(where);
    const v = operand("v");
    const value = isa.float ? "v" : `(${cHold(isa, isa.valueForm, s)})v`;
    return [
      `uintptr_t b = ${inlineBase(input, leaf, where)};`,
      ...tmpDecl(p),
      `__asm__ volatile(${asmText([...p.lines, `${isa.store} ${v[isa.valueForm]}, ${p.mem}`])} : ${baseOut(p).join(", ")} : [v] "${isa.float ? "w" : "r"}"(${value}) : "memory");`,
    ];
  };
  const rmw = (): string[] => {
    const hold = cHold(isa, isa.valueForm, s);
    const regs: LlscRegs = { addr: operand("a"), old: operand("old"), next: operand("next"), status: operand("st"), value: operand("v"), expected: operand("e") };
    const loop = llscLoop(isa, op, regs);
    const outs = [`[old] "=&r"(old)`, `[st] "=&r"(st)`];
    const ins = [`[a] "r"(a)`];
    const off = f.naive ? "" : ` + ${leaf.areaOffset}u`;
    const decls = [`uintptr_t a = ${inlineBase(input, leaf, "current")}${off};`, `${hold} old;`, "uint32_t st;"];
    if (op === "cmpxchg_current") {
      ins.push(`[e] "r"((${hold})expected)`, `[v] "r"((${hold})desired)`);
    } else {
      ins.push(`[v] "r"((${hold})v)`);
      if (op !== "xchg_current") {
        decls.push(`${hold} next;`);
        outs.push(`[next] "=&r"(next)`);
      }
    }
    const returns = op === "xchg_current" || op === "cmpxchg_current";
    return [
      ...decls,
      `__asm__ volatile(${asmText(loop)} : ${outs.join(", ")} : ${ins.join(", ")} : "cc", "memory");`,
      returns ? `return (${s})old;` : "(void)old;",
    ];
  };
  return match(op)
    .returnType<string[]>()
    .with("read_current_raw", () => read("current"))
    .with("write_current_raw", () => write("current"))
    .with("read_current", () => guard(callRaw("read_current_raw"), true))
    .with("write_current", () => guard(callRaw("write_current_raw"), false))
    .with("remote_read", () => read("remote"))
    .with("remote_write", () => write("remote"))
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", "xchg_current", "cmpxchg_current", () => rmw())
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
    out.push(
      `static inline uintptr_t ${INLINE_REG}(void) {`,
      "  uintptr_t r;",
      `  __asm__ volatile("mrs %0, ${perCpuRegister(features)}" : "=r"(r));`,
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
  assembly,
  headerPrimitives: aarch64HeaderPrimitives,
  inlineC,
};
