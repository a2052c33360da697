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
 * @module
 */
import { match } from "ts-pattern";
import { fail } from "../sdk/errors.ts";
import type { ScalarName } from "../sdk/types.ts";
import { cTypeName, leafOps, type LeafOp, varFunction } from "../sdk/symbols.ts";
import { AREAS_SYMBOL, asmFunction, BASE_SYMBOL, commonData, NUM_SYMBOL, TEMPLATE_SYMBOL } from "./_asm.ts";
import { x86_64HeaderPrimitives } from "./x86_64_header.ts";
import type { GenInput, PlacedLeaf, PlacedVar } from "../sdk/plan.ts";
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
type Gpr = typeof INT_ARG_REGS[number] | "rax" | "r10" | "r11";

/** Register name of a GPR at an access width (1, 2, 4 or 8 bytes), without `%`. */
function sub(reg: Gpr, size: number): string {
  const legacy: Partial<Record<Gpr, readonly [string, string, string]>> = {
    rax: ["al", "ax", "eax"],
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
function isFloat(s: ScalarName): boolean {
  return s === "f32" || s === "f64";
}

/** Where a parameter arrives: an integer register, the stack (offset from `%rsp` at entry) or an SSE register. */
type ParamLoc = { readonly kind: "reg"; readonly reg: Gpr } | { readonly kind: "stack"; readonly at: number } | { readonly kind: "xmm"; readonly index: number };

/** SysV locations of a signature's parameters, by name. */
function paramLocations(sig: CSignature): Map<string, ParamLoc> {
  const out = new Map<string, ParamLoc>();
  let ints = 0;
  let floats = 0;
  let stack = 0;
  for (const p of sig.params) {
    if (p.type === "float" || p.type === "double") {
      out.set(p.name, { kind: "xmm", index: floats++ });
    } else if (ints < INT_ARG_REGS.length) {
      out.set(p.name, { kind: "reg", reg: INT_ARG_REGS[ints++]! });
    } else {
      out.set(p.name, { kind: "stack", at: 8 + 8 * stack++ });
    }
  }
  return out;
}

/** An AT&T operand for a parameter location (register or stack slot). */
function locOperand(loc: ParamLoc): string {
  return match(loc)
    .with({ kind: "reg" }, (l) => `%${l.reg}`)
    .with({ kind: "stack" }, (l) => `${l.at}(%rsp)`)
    .with({ kind: "xmm" }, (l) => `%xmm${l.index}`)
    .exhaustive();
}

/** `dst = src * k` for a non-negative constant `k` (uses `movabs` when `k` does not fit an imm32). */
function mulConst(src: string, k: number, dst: Gpr): string[] {
  if (k === 1) return [`movq ${src}, %${dst}`];
  if (k <= DISP32_MAX) return [`imulq $${k}, ${src}, %${dst}`];
  return [`movabsq $${k}, %${dst}`, `imulq ${src}, %${dst}`];
}

/** How the per-CPU memory of the current CPU is addressed. */
type Access = "gs" | "naive";

function accessOf(input: GenInput): Access {
  return input.config.features.naive ? "naive" : "gs";
}

/** A memory operand and the instructions computing its registers. */
interface Address {
  readonly setup: string[];
  readonly mem: string;
}

/** The memory operand of a leaf for an op (current area, or the remote area of the `cpu` argument). */
function leafAddress(input: GenInput, leaf: PlacedLeaf, op: LeafOp, locs: Map<string, ParamLoc>): Address {
  const setup: string[] = [];
  const remote = op === "remote_read" || op === "remote_write";
  const off = leaf.areaOffset;
  // Index part: a scaled register (one dim, stride 1/2/4/8, register argument) or a byte offset in %r10.
  let index: string | null = null;
  const dims = leaf.indices;
  const first = dims.length === 1 ? locs.get("i0") : undefined;
  if (dims.length === 1 && first?.kind === "reg" && [1, 2, 4, 8].includes(dims[0]!.stride)) {
    index = `%${first.reg},${dims[0]!.stride}`;
  } else if (dims.length > 0) {
    dims.forEach((d, k) => {
      const src = locOperand(locs.get(`i${k}`)!);
      if (k === 0) setup.push(...mulConst(src, d.stride, "r10"));
      else setup.push(...mulConst(src, d.stride, "rax"), "addq %rax, %r10");
    });
    index = "%r10,1";
  }
  if (remote) {
    setup.push(...mulConst(locOperand(locs.get("cpu")!), input.layout.stride, "r11"), `addq ${BASE_SYMBOL}(%rip), %r11`);
    return { setup, mem: `${off}(%r11${index ? `,${index}` : ""})` };
  }
  return match(accessOf(input))
    .with("gs", () => ({ setup, mem: index ? `%gs:${off}(,${index})` : `%gs:${off}` }))
    .with("naive", () => {
      if (!index) return { setup, mem: `${AREAS_SYMBOL}+${off}(%rip)` };
      setup.push(`leaq ${AREAS_SYMBOL}(%rip), %r11`);
      return { setup, mem: `${off}(%r11,${index})` };
    })
    .exhaustive();
}

/** The load of a scalar into the return register, extended to 64 bits (signed: sign-extended). */
function loadInstr(s: ScalarName, size: number, mem: string): string {
  return match(s)
    .with("u8", "bool", () => `movzbl ${mem}, %eax`)
    .with("i8", () => `movsbq ${mem}, %rax`)
    .with("u16", () => `movzwl ${mem}, %eax`)
    .with("i16", () => `movswq ${mem}, %rax`)
    .with("u32", () => `movl ${mem}, %eax`)
    .with("i32", () => `movslq ${mem}, %rax`)
    .with("u64", "i64", "usize", "isize", () => `mov${suffix(size)} ${mem}, %${sub("rax", size)}`)
    .with("f32", () => `movss ${mem}, %xmm0`)
    .with("f64", () => `movsd ${mem}, %xmm0`)
    .exhaustive();
}

/** Extends the old value left in al/ax/eax/rax by `cmpxchg` to the 64-bit return convention of {@link loadInstr}. */
function extendResult(s: ScalarName): string[] {
  return match(s)
    .with("u8", () => ["movzbl %al, %eax"])
    .with("i8", () => ["movsbq %al, %rax"])
    .with("u16", () => ["movzwl %ax, %eax"])
    .with("i16", () => ["movswq %ax, %rax"])
    .with("i32", () => ["movslq %eax, %rax"])
    .otherwise(() => []);
}

/** Body (without `ret`) of a leaf operation. */
function leafBody(input: GenInput, leaf: PlacedLeaf, op: LeafOp): string[] {
  const sig = leafSignature(leaf, op);
  const locs = paramLocations(sig);
  const { setup, mem } = leafAddress(input, leaf, op, locs);
  const size = leaf.size;
  const sfx = suffix(size);
  // Value parameters that arrived on the stack are loaded after the address (all argument registers are free then).
  const spare: Gpr[] = ["rdi", "rsi"];
  const value = (name: string): string => {
    const loc = locs.get(name)!;
    if (loc.kind === "stack") {
      const reg = spare.shift()!;
      setup.push(`movq ${loc.at}(%rsp), %${reg}`);
      return `%${sub(reg, size)}`;
    }
    return loc.kind === "reg" ? `%${sub(loc.reg, size)}` : locOperand(loc);
  };
  const acc = `%${sub("rax", size)}`;
  const body = match(op)
    .returnType<string[]>()
    .with("read_current_raw", "read_current", "remote_read", () => [loadInstr(leaf.scalar, size, mem)])
    .with("write_current_raw", "write_current", "remote_write", () => {
      const v = value("v");
      if (leaf.scalar === "f32") return [`movss ${v}, ${mem}`];
      if (leaf.scalar === "f64") return [`movsd ${v}, ${mem}`];
      return [`mov${sfx} ${v}, ${mem}`];
    })
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", () => {
      const mnemonic = op.slice(0, op.indexOf("_"));
      return [`${mnemonic}${sfx} ${value("v")}, ${mem}`];
    })
    // `xchg` with memory is implicitly locked (a full barrier, ~20 cycles, no cache-line prefetch);
    // like Linux's this_cpu_xchg we use a load and an unlocked `cmpxchg` retry loop instead. Each
    // `cmpxchg` is one instruction on the current CPU's area, so an interrupt or a migration between
    // the load and the `cmpxchg` only makes the compare fail and retry: no update is lost and no guard is needed.
    .with("xchg_current", () => {
      const v = value("v");
      return [`mov${sfx} ${mem}, ${acc}`, "1:", `cmpxchg${sfx} ${v}, ${mem}`, "jne 1b", ...extendResult(leaf.scalar)];
    })
    .with("cmpxchg_current", () => {
      const e = value("expected");
      const d = value("desired");
      return [`mov${sfx} ${e}, ${acc}`, `cmpxchg${sfx} ${d}, ${mem}`, ...extendResult(leaf.scalar)];
    })
    .exhaustive();
  return [...setup, ...body];
}

/** The calls around a guarded sequence (none with both features off). `%rbx` keeps the irq flags and aligns the stack. */
function guarded(input: GenInput, inner: readonly string[]): string[] {
  const { preempt, irq } = input.config.features;
  if (!preempt && !irq) return [...inner];
  return [
    "pushq %rbx",
    ...(preempt ? [`call ${PREEMPT_DISABLE}@PLT`] : []),
    ...(irq ? [`call ${IRQ_SAVE}@PLT`, "movq %rax, %rbx"] : []),
    ...inner,
    ...(irq ? ["movq %rbx, %rdi", `call ${IRQ_RESTORE}@PLT`] : []),
    ...(preempt ? [`call ${PREEMPT_ENABLE}@PLT`] : []),
    "popq %rbx",
  ];
}

/** Copies a variable's initial bytes from the template into the current area. */
function resetBody(input: GenInput, v: PlacedVar): string[] {
  const { offset, size } = v.layout;
  const naive = accessOf(input) === "naive";
  const dest = (at: number): string => (naive ? `${AREAS_SYMBOL}+${at}(%rip)` : `%gs:${at}`);
  const copy: string[] = [];
  if (size <= UNROLL_COPY_LIMIT) {
    let done = 0;
    for (const chunk of [8, 4, 2, 1]) {
      while (size - done >= chunk) {
        const r = `%${sub("rax", chunk)}`;
        copy.push(`mov${suffix(chunk)} ${TEMPLATE_SYMBOL}+${offset + done}(%rip), ${r}`, `mov${suffix(chunk)} ${r}, ${dest(offset + done)}`);
        done += chunk;
      }
    }
  } else {
    copy.push(
      naive ? `leaq ${AREAS_SYMBOL}+${offset}(%rip), %rdi` : `movq %gs:${input.layout.selfPointerOffset ?? 0}, %rdi`,
      ...(naive ? [] : [`addq $${offset}, %rdi`]),
      `leaq ${TEMPLATE_SYMBOL}+${offset}(%rip), %rsi`,
      `movl $${size}, %ecx`,
      "rep movsb",
    );
  }
  return guarded(input, copy);
}

/** Sets the GS base to `%rax` (kernel: MSR; user: arch_prctl, which clobbers rcx/r11 like any syscall). */
function setGsBase(input: GenInput): string[] {
  if (accessOf(input) === "naive") return [];
  return match(input.config.mode)
    .with("kernel", () => ["movq %rax, %rdx", "shrq $32, %rdx", `movl $${MSR_GS_BASE}, %ecx`, "wrmsr"])
    .with("user", () => ["movq %rax, %rsi", `movl $${ARCH_SET_GS}, %edi`, `movl $${SYS_ARCH_PRCTL}, %eax`, "syscall"])
    .exhaustive();
}

/** The runtime functions. */
function runtime(input: GenInput): string[] {
  const { layout, config } = input;
  const naive = accessOf(input) === "naive";
  const self = layout.selfPointerOffset ?? 0;
  const inPlace = config.mode === "kernel" && !naive ? "_percpu_start" : AREAS_SYMBOL;
  const stride = layout.stride;
  const step = stride <= DISP32_MAX ? [`addq $${stride}, %rdx`] : [`movabsq $${stride}, %r11`, "addq %r11, %rdx"];
  return [
    asmFunction("percpu_init", [
      ".Lpercpu_init:",
      "testq %rdi, %rdi",
      "jz .Lpercpu_init_null",
      `testq $${layout.areaAlign - 1}, %rdi`,
      "jnz .Lpercpu_init_unaligned",
      "movq %rdi, %r8",
      "movq %rsi, %r9",
      "movq %rdi, %rdx",
      "movq %rsi, %r10",
      "testq %r10, %r10",
      "jz .Lpercpu_init_done",
      ".Lpercpu_init_loop:",
      "movq %rdx, %rdi",
      `leaq ${TEMPLATE_SYMBOL}(%rip), %rsi`,
      `movl $${layout.areaSize}, %ecx`,
      "rep movsb",
      ...(layout.selfPointerOffset !== null ? [`movq %rdx, ${self}(%rdx)`] : []),
      ...step,
      "decq %r10",
      "jnz .Lpercpu_init_loop",
      ".Lpercpu_init_done:",
      `movq %r8, ${BASE_SYMBOL}(%rip)`,
      `movq %r9, ${NUM_SYMBOL}(%rip)`,
      "movq %r9, %rax",
      "ret",
      ".Lpercpu_init_null:",
      "movq $-1, %rax",
      "ret",
      ".Lpercpu_init_unaligned:",
      "movq $-2, %rax",
      "ret",
    ]),
    asmFunction("percpu_init_in_place", [`leaq ${inPlace}(%rip), %rdi`, `movl $${config.cpus}, %esi`, "jmp .Lpercpu_init"]),
    asmFunction("percpu_init_reg", naive ? ["ret"] : [...mulConst("%rdi", stride, "rax"), `addq ${BASE_SYMBOL}(%rip), %rax`, ...setGsBase(input), "ret"]),
    asmFunction("percpu_read_reg", [naive ? `leaq ${AREAS_SYMBOL}(%rip), %rax` : `movq %gs:${self}, %rax`, "ret"]),
    asmFunction("percpu_write_reg", naive ? ["ret"] : ["movq %rdi, %rax", ...setGsBase(input), "ret"]),
    asmFunction("percpu_area_base", [...mulConst("%rdi", stride, "rax"), `addq ${BASE_SYMBOL}(%rip), %rax`, "ret"]),
    asmFunction("percpu_area_num", [`movq ${NUM_SYMBOL}(%rip), %rax`, "ret"]),
    asmFunction("percpu_area_size", [`movl $${layout.areaSize}, %eax`, "ret"]),
  ];
}

/** Every function of one variable. */
function varFunctions(input: GenInput, v: PlacedVar): string[] {
  const { name, offset } = v.layout;
  const out = [
    asmFunction(
      varFunction(name, "current_ptr"),
      accessOf(input) === "naive"
        ? [`leaq ${AREAS_SYMBOL}+${offset}(%rip), %rax`, "ret"]
        : [`movq %gs:${input.layout.selfPointerOffset ?? 0}, %rax`, `addq $${offset}, %rax`, "ret"],
    ),
    asmFunction(varFunction(name, "remote_ptr"), [
      ...mulConst("%rdi", input.layout.stride, "rax"),
      `addq ${BASE_SYMBOL}(%rip), %rax`,
      `addq $${offset}, %rax`,
      "ret",
    ]),
    asmFunction(varFunction(name, "reset_to_init"), [...resetBody(input, v), "ret"]),
  ];
  for (const leaf of v.leaves) {
    for (const op of leafOps(leaf.scalar)) out.push(asmFunction(leafSignature(leaf, op).name, [...leafBody(input, leaf, op), "ret"]));
  }
  return out;
}

/** `percpu.S` for x86_64. */
function assembly(input: GenInput): string {
  const naive = accessOf(input) === "naive";
  return [
    commonData(input, "#"),
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
function valueConstraint(s: ScalarName, size: number): string {
  if (isFloat(s)) return "x";
  return size === 8 ? "er" : "ri";
}

/** One inline accessor: the C body statements of a leaf op. */
function inlineLeafBody(input: GenInput, leaf: PlacedLeaf, op: LeafOp): string[] {
  const s = leaf.scalar;
  const t = leaf.cType;
  const size = leaf.size;
  const sfx = suffix(size);
  const off = leaf.areaOffset;
  const dims = leaf.indices;
  const idxExpr = dims.map((d, k) => (d.stride === 1 ? `i${k}` : `i${k} * ${d.stride}u`)).join(" + ");
  const lines: string[] = [];
  if (op === "remote_read" || op === "remote_write") {
    const addr = `(volatile ${t} *)(${BASE_SYMBOL} + cpu * ${input.layout.stride}u + ${off}u${dims.length ? ` + ${idxExpr}` : ""})`;
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
  const asm = (template: string, outs: readonly string[], ins: readonly string[], clobbers: string): string =>
    `__asm__ __volatile__("${template}" : ${outs.join(", ")} : ${ins.join(", ")} : ${clobbers});`;
  const outs = (...o: string[]): string[] => (memOut ? [...o, memOut] : o);
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
        .otherwise(() => [t, `mov${sfx}`, "=r"]);
      lines.push(`${tmp} v_;`, asm(`${load} ${mem}, %[v]`, [`[v] "${constraint}"(v_)`], memIn, `"memory"`), `return (${t})v_;`);
    })
    .with("write_current_raw", "write_current", () => {
      const mnemonic = s === "f32" ? "movss" : s === "f64" ? "movsd" : `mov${sfx}`;
      lines.push(asm(`${mnemonic} %[v], ${mem}`, outs(), [`[v] "${vc}"(v)`, ...memIn], `"memory"`));
    })
    .with("add_current", "sub_current", "and_current", "or_current", "xor_current", () => {
      const mnemonic = op.slice(0, op.indexOf("_"));
      lines.push(asm(`${mnemonic}${sfx} %[v], ${mem}`, outs(), [`[v] "${vc}"(v)`, ...memIn], `"memory", "cc"`));
    })
    .with("xchg_current", () => {
      // Unlocked cmpxchg loop (see leafBody): cheaper than the implicitly locked xchg.
      lines.push(
        `${t} o_;`,
        asm(`mov${sfx} ${mem}, %[o]\\n1:\\tcmpxchg${sfx} %[v], ${mem}\\n\\tjne 1b`, outs(`[o] "=&a"(o_)`), [`[v] "r"(v)`, ...memIn], `"memory", "cc"`),
        "return o_;",
      );
    })
    .with("cmpxchg_current", () => {
      lines.push(
        `${t} o_;`,
        asm(`cmpxchg${sfx} %[d], ${mem}`, outs(`[o] "=a"(o_)`), [`"0"(expected)`, `[d] "r"(desired)`, ...memIn], `"memory", "cc"`),
        "return o_;",
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
        `__asm__ __volatile__("movq %%gs:${self}, %0" : "=r"(p_));`,
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
  assembly,
  headerPrimitives: x86_64HeaderPrimitives,
  inlineC,
};
