/**
 * The `percpu.rs` emitter: a Rust module (only `core`, so a `#![no_std]`
 * crate can use it: `#[path = "gen/percpu.rs"] mod percpu;`) with the API of
 * the seed crate (arceos-org/percpu + percpu_macros) over our layout, linked
 * with the generated `percpu.S` (assembled into `libpercpu.a`).
 *
 * Per variable `NAME` it declares `pub static NAME: NAME_WRAPPER`, a
 * zero-sized wrapper with the seed's methods (`offset`, `symbol_vma`,
 * `current_ptr`, `current_ref_raw`, `current_ref_mut_raw`, `with_current`,
 * `reset_to_init`, `remote_ptr`, `remote_ref_raw`, `remote_ref_mut_raw`,
 * and on scalar variables `read_current_raw`, `write_current_raw`,
 * `read_current`, `write_current`) with the seed's signatures and `unsafe`
 * markers. Scalar variables of every scalar type have them (the seed: `bool`
 * and the unsigned integers only), plus the C interface's ops of the catalog
 * (`add_current` … `cmpxchg_current` on integers, `remote_read`,
 * `remote_write`, `remote_add`, `remote_cmpxchg`; the remote ones `unsafe`
 * like the seed's `remote_ptr`, since any CPU id is accepted). Arrays of more
 * than 16 scalars get them with index parameters (`BIG.read_current(i)`,
 * bounds-checked), as `percpu.h`'s `_at` forms. The fields and elements of
 * struct and array variables are percpu.h's leaves: one `pub static
 * STATS__irqs: leaf::STATS__irqs` per leaf (`STATS__hist__2`, `GRID__h`
 * indexed) with `current_ptr`, `remote_ptr` and the same value methods.
 *
 * Accessors are inline `core::arch::asm!` with a `const` offset: one
 * `%gs`-relative instruction (`mov {0:e}, dword ptr gs:[{off}]`), as
 * `percpu.h` does; the current area's base is the self pointer at
 * `gs:[PERCPU_SELF_OFFSET]`. Pointers are made from the register value with
 * `core::ptr::with_exposed_provenance(_mut)` (the areas are memory the Rust
 * program never saw as an allocation, or a buffer `init` exposes), never from
 * `&self`. The runtime (`init`, `init_in_place`, `init_percpu_reg`, …) calls
 * the `extern "C"` functions of `percpu.S`. Guards: like `percpu.h` on
 * x86_64, single-instruction accessors take none; `with_current` (it runs
 * the caller's closure on the current copy) and `reset_to_init` (a copy)
 * call the hooks of the preempt / irq features (`percpu_preempt_disable` …,
 * which the program provides as `#[unsafe(no_mangle)] extern "C"`). With
 * `naive` (the seed's `sp-naive`) the variables live in the one area
 * `__percpu_areas` of `percpu.S`; every access is a volatile access through
 * its address, guarded like `percpu.h`'s generic fallback, and `offset()` /
 * `symbol_vma()` are the storage address, as in the seed.
 *
 * Struct types become `#[repr(C)]` structs (the struct's `name` when it has
 * one, else `<VAR>_T`, nested ones `<parent>__<field>`), arrays Rust arrays,
 * `aligned(T, n)` a `#[repr(C, align(n))]` tuple struct; every one has
 * compile-time asserts of its size, alignment and field offsets against the
 * layout (`core::mem::offset_of!`).
 *
 * @module
 */
import { fail } from "../sdk/errors.ts";
import { structFields, typeLayout } from "../sdk/layout.ts";
import type { GenInput, PlacedLeaf, PlacedVar } from "../sdk/plan.ts";
import { GUARD_HOOKS, storageSymbol } from "../sdk/symbols.ts";
import { type Target, TARGET_INFO } from "../sdk/targets.ts";
import type { PercpuType, ScalarName } from "../sdk/types.ts";
import { isInteger } from "../sdk/values.ts";
import { AREAS_SYMBOL, BASE_SYMBOL, configSummary, TEMPLATE_SYMBOL } from "../arch/_asm.ts";

/** Rust keywords a field name is written as a raw identifier for (`r#type`). */
const RAW_KEYWORDS: ReadonlySet<string> = new Set([
  "as",
  "break",
  "const",
  "continue",
  "else",
  "enum",
  "extern",
  "false",
  "fn",
  "for",
  "if",
  "impl",
  "in",
  "let",
  "loop",
  "match",
  "mod",
  "move",
  "mut",
  "pub",
  "ref",
  "return",
  "static",
  "struct",
  "trait",
  "true",
  "type",
  "unsafe",
  "use",
  "where",
  "while",
  "async",
  "await",
  "dyn",
  "abstract",
  "become",
  "box",
  "do",
  "final",
  "macro",
  "override",
  "priv",
  "typeof",
  "unsized",
  "virtual",
  "yield",
  "try",
  "gen",
]);

/** Names Rust cannot use as a field, even raw. */
const NO_RAW: ReadonlySet<string> = new Set(["self", "Self", "super", "crate", "_"]);

/** A field name as a Rust identifier. */
function rustField(name: string, where: readonly (string | number)[]): string {
  if (NO_RAW.has(name)) {
    fail("options_invalid", [...where, name], `Cannot generate percpu.rs: field name "${name}" is reserved in Rust`);
  }
  return RAW_KEYWORDS.has(name) ? `r#${name}` : name;
}

/** The Rust spelling of a scalar (pointer-sized ones stay `usize`/`isize`). */
function rustScalar(s: ScalarName): string {
  return s;
}

/** The named Rust types (structs, aligned wrappers) of a generation, emitted once each, with their asserts. */
class RustTypes {
  readonly defs: string[] = [];
  readonly #named = new Map<string, PercpuType>();
  readonly #target: Target;

  constructor(target: Target) {
    this.#target = target;
  }

  /** The Rust type of `type`; `name` names it when it is a struct or an aligned wrapper. */
  of(type: PercpuType, name: string, where: readonly (string | number)[]): string {
    switch (type.kind) {
      case "scalar":
        return rustScalar(type.name);
      case "array":
        return `[${this.of(type.element, `${name}__E`, [...where, 0])}; ${type.length}]`;
      case "struct": {
        const given = (type as { readonly name?: unknown }).name;
        const n = typeof given === "string" && given.length > 0 ? given : name;
        if (this.#define(n, type, where)) {
          const fields = structFields(type, this.#target);
          const lines = fields.map((f) =>
            `    pub ${rustField(f.name, where)}: ${this.of(f.type, `${n}__${f.name}`, [...where, f.name])},`
          );
          this.#push(n, type, [
            "#[repr(C)]",
            "#[derive(Clone, Copy, Debug, PartialEq)]",
            `pub struct ${n} {`,
            ...lines,
            "}",
          ]);
          for (const f of fields) {
            this.defs.push(
              `const _: () = assert!(core::mem::offset_of!(${n}, ${rustField(f.name, where)}) == ${f.offset});`,
            );
          }
          this.defs.push("");
        }
        return n;
      }
      case "aligned": {
        if (this.#define(name, type, where)) {
          const inner = this.of(type.inner, `${name}__V`, where);
          this.#push(name, type, [
            `#[repr(C, align(${type.align}))]`,
            "#[derive(Clone, Copy, Debug, PartialEq)]",
            `pub struct ${name}(pub ${inner});`,
          ]);
          this.defs.push("");
        }
        return name;
      }
    }
  }

  /** Whether `name` is new (then it is recorded); the same name for another type is an error. */
  #define(name: string, type: PercpuType, where: readonly (string | number)[]): boolean {
    const seen = this.#named.get(name);
    if (seen === undefined) {
      this.#named.set(name, type);
      return true;
    }
    if (seen !== type) {
      fail(
        "options_invalid",
        [...where],
        `Cannot generate percpu.rs: the Rust type name "${name}" is used by two different types`,
      );
    }
    return false;
  }

  #push(name: string, type: PercpuType, lines: readonly string[]): void {
    const { size, align } = typeLayout(type, this.#target);
    this.defs.push(
      ...lines,
      `const _: () = assert!(core::mem::size_of::<${name}>() == ${size});`,
      `const _: () = assert!(core::mem::align_of::<${name}>() == ${align});`,
    );
  }
}

/** Operand modifier of a general register at an access width (`{0:e}`), per size. */
const REG_MOD: Readonly<Record<number, string>> = { 1: "", 2: ":x", 4: ":e", 8: "" };
/** Intel memory-operand size keyword, per size. */
const PTR: Readonly<Record<number, string>> = { 1: "byte", 2: "word", 4: "dword", 8: "qword" };
/** The accumulator at each width (explicit register of `cmpxchg`). */
const ACC: Readonly<Record<number, string>> = { 1: "al", 2: "ax", 4: "eax", 8: "rax" };

/** Register class of a value operand of this scalar. */
function regClass(s: ScalarName, size: number): string {
  if (s === "f32" || s === "f64") return "xmm_reg";
  return size === 1 ? "reg_byte" : "reg";
}

/** The type a value of this scalar has inside the asm (bool as a byte). */
function asmType(s: ScalarName): string {
  return s === "bool" ? "u8" : rustScalar(s);
}

/**
 * How a leaf's methods reach its scalar: the index parameters (long arrays), the
 * `%gs` memory operand and its asm operands, and the pointers the naive and remote
 * paths use.
 */
interface LeafAccess {
  /** Index parameters after `&self` (and `cpu_id`), each `, iN: usize`. */
  readonly params: string;
  /** The index arguments to pass on, each `, iN`. */
  readonly args: string;
  /** Statements computing the index operand (bounds-checked), before a `%gs` access. */
  readonly prelude: readonly string[];
  /** The address inside `gs:[...]`. */
  readonly at: string;
  /** The asm operands of the address. */
  readonly operands: string;
}

/** The access of a plain leaf: a constant offset. */
const CONST_ACCESS: LeafAccess = {
  params: "",
  args: "",
  prelude: [],
  at: "{off}",
  operands: "off = const Self::OFFSET",
};

/** The access of an indexed leaf: the byte offset of the indices in a register (`Self::index` checks them). */
function indexedAccess(leaf: PlacedLeaf): LeafAccess {
  const names = leaf.indices.map((_, i) => `i${i}`);
  const params = names.map((n) => `, ${n}: usize`).join("");
  const args = names.map((n) => `, ${n}`).join("");
  const operands = "x = in(reg) x, off = const Self::OFFSET";
  const one = leaf.indices.length === 1 ? leaf.indices[0]! : null;
  if (one !== null && [1, 2, 4, 8].includes(one.stride)) {
    // One dimension with a stride an address can scale by: `gs:[{x}*4 + {off}]`, as percpu.h's `%gs:off(,%reg,4)`.
    return {
      params,
      args,
      prelude: [`assert!(i0 < ${one.length}, "per-CPU array index out of range");`, "let x = i0;"],
      at: `{x}*${one.stride} + {off}`,
      operands,
    };
  }
  return { params, args, prelude: [`let x = Self::index(${names.join(", ")});`], at: "{x} + {off}", operands };
}

/** The `%gs`-relative read of a scalar: statements ending in the value expression. */
function gsRead(s: ScalarName, size: number, acc: LeafAccess): string[] {
  const mem = `${PTR[size]} ptr gs:[${acc.at}]`;
  const opts = "options(nostack, preserves_flags, readonly)";
  const t = rustScalar(s);
  const one = (tmp: string, insn: string, cls: string, result: string): string[] => [
    ...acc.prelude,
    `let v: ${tmp};`,
    `core::arch::asm!("${insn}", out(${cls}) v, ${acc.operands}, ${opts});`,
    result,
  ];
  switch (s) {
    case "bool":
      return one("u8", `mov {0}, ${mem}`, "reg_byte", "v != 0");
    case "u8":
    case "u16":
      return one("u32", `movzx {0:e}, ${mem}`, "reg", `v as ${t}`);
    case "i8":
    case "i16":
      return one("i32", `movsx {0:e}, ${mem}`, "reg", `v as ${t}`);
    case "f32":
      return one("f32", `movss {0}, ${mem}`, "xmm_reg", "v");
    case "f64":
      return one("f64", `movsd {0}, ${mem}`, "xmm_reg", "v");
    default:
      return one(t, `mov {0${REG_MOD[size]}}, ${mem}`, "reg", "v");
  }
}

/** The `%gs`-relative write of `val`. */
function gsWrite(s: ScalarName, size: number, acc: LeafAccess): string[] {
  const mem = `${PTR[size]} ptr gs:[${acc.at}]`;
  const opts = "options(nostack, preserves_flags)";
  const insn = s === "f32"
    ? `movss ${mem}, {0}`
    : s === "f64"
    ? `movsd ${mem}, {0}`
    : `mov ${mem}, {0${REG_MOD[size]}}`;
  const value = s === "bool" ? "val as u8" : "val";
  return [...acc.prelude, `core::arch::asm!("${insn}", in(${regClass(s, size)}) ${value}, ${acc.operands}, ${opts});`];
}

/** The guard statement (a value dropped at the end of the scope), or nothing without guard features. */
function guardLine(input: GenInput): string[] {
  const { preempt, irq } = input.config.features;
  return preempt || irq ? ["let _guard = Guard::new();"] : [];
}

/** Indents lines by `n` levels of four spaces. */
function indent(lines: readonly string[], n: number): string[] {
  const pad = "    ".repeat(n);
  return lines.map((l) => (l === "" ? l : pad + l));
}

/**
 * A method with its doc lines (`#[inline]` unless told). The body of an `unsafe fn` is
 * one `unsafe` block, so the module builds warning-free in edition 2024 too
 * (`unsafe_op_in_unsafe_fn`).
 */
function method(doc: readonly string[], sig: string, body: readonly string[], inline = true): string[] {
  const inner = /\bunsafe fn\b/.test(sig) ? ["unsafe {", ...indent(body, 1), "}"] : body;
  return [
    ...doc.map((d) => `/// ${d}`.trimEnd()),
    ...(inline ? ["#[inline]"] : []),
    `${sig} {`,
    ...indent(inner, 1),
    "}",
    "",
  ];
}

const SAFETY_CURRENT = ["", "# Safety", "", "Caller must ensure that preemption is disabled on the current CPU."];
const SAFETY_REMOTE = [
  "",
  "# Safety",
  "",
  "Caller must ensure that",
  "- the CPU ID is valid, and",
  "- data races will not happen.",
];

/**
 * The value methods of a scalar leaf: on a scalar variable's wrapper (`aligned()`
 * ones included) the seed's four and ours; on a field's or element's leaf type the
 * same. `self.leaf_ptr(..)` / `self.leaf_remote_ptr(cpu_id, ..)` give its address.
 */
function scalarMethods(input: GenInput, leaf: PlacedLeaf, acc: LeafAccess): string[] {
  const s = leaf.scalar;
  const t = rustScalar(s);
  const size = leaf.size;
  const naive = input.config.features.naive;
  const guard = guardLine(input);
  const p = acc.params;
  const a = acc.args;
  const cur = `self.leaf_ptr(${a.slice(2)})`;
  const rem = `self.leaf_remote_ptr(cpu_id${a})`;
  const out: string[] = [];
  // Raw: one %gs-relative instruction; naive: a volatile access of the storage.
  out.push(
    ...method(
      ["Returns the value of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
      `pub unsafe fn read_current_raw(&self${p}) -> ${t}`,
      naive ? [`core::ptr::read_volatile(${cur})`] : gsRead(s, size, acc),
    ),
    ...method(
      ["Set the value of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
      `pub unsafe fn write_current_raw(&self${p}, val: ${t})`,
      naive ? [`core::ptr::write_volatile(${cur}, val)`] : gsWrite(s, size, acc),
    ),
    // One instruction needs no guard (as percpu.h on x86_64); naive accesses are guarded like percpu.h's generic fallback.
    ...method(
      [
        "Returns the value of the per-CPU static variable on the current CPU. Preemption will be disabled during",
        "the call.",
      ],
      `pub fn read_current(&self${p}) -> ${t}`,
      [...(naive ? guard : []), `unsafe { self.read_current_raw(${a.slice(2)}) }`],
    ),
    ...method(
      [
        "Set the value of the per-CPU static variable on the current CPU. Preemption will be disabled during the",
        "call.",
      ],
      `pub fn write_current(&self${p}, val: ${t})`,
      [...(naive ? guard : []), `unsafe { self.write_current_raw(${a.slice(2)}${a ? ", " : ""}val) }`],
    ),
    ...method(
      ["Returns the value on the given CPU (a volatile read).", ...SAFETY_REMOTE],
      `pub unsafe fn remote_read(&self, cpu_id: usize${p}) -> ${t}`,
      [`core::ptr::read_volatile(${rem})`],
    ),
    ...method(
      ["Sets the value on the given CPU (a volatile write).", ...SAFETY_REMOTE],
      `pub unsafe fn remote_write(&self, cpu_id: usize${p}, val: ${t})`,
      [`core::ptr::write_volatile(${rem}, val)`],
    ),
  );
  if (!isInteger(s)) return out;
  const lock = leaf.atomic === true ? "lock " : "";
  const mem = `${PTR[size]} ptr gs:[${acc.at}]`;
  const cls = regClass(s, size);
  const m = REG_MOD[size];
  const atomicType = `core::sync::atomic::${atomicName(s)}`;
  for (
    const [op, wrap] of [["add", "wrapping_add"], ["sub", "wrapping_sub"], ["and", "&"], ["or", "|"], [
      "xor",
      "^",
    ]] as const
  ) {
    const expr = wrap.startsWith("wrapping") ? `q.read_volatile().${wrap}(val)` : `q.read_volatile() ${wrap} val`;
    out.push(
      ...method(
        [`\`${op}\`s \`val\` into the current CPU's value (wrapping), atomic against interrupts and preemption.`],
        `pub fn ${op}_current(&self${p}, val: ${t})`,
        naive ? [...guard, `unsafe { let q = ${cur}; q.write_volatile(${expr}) }`] : [
          ...acc.prelude,
          `unsafe { core::arch::asm!("${lock}${op} ${mem}, {0${m}}", in(${cls}) val, ${acc.operands}, options(nostack)) }`,
        ],
      ),
    );
  }
  out.push(
    ...method(
      ["Replaces the current CPU's value with `val`, returning the old one."],
      `pub fn xchg_current(&self${p}, val: ${t}) -> ${t}`,
      naive ? [...guard, `unsafe { let q = ${cur}; let old = q.read_volatile(); q.write_volatile(val); old }`] : [
        ...acc.prelude,
        `let old: ${t};`,
        // An unlocked cmpxchg loop, as percpu.h (the xchg instruction is implicitly locked).
        `unsafe { core::arch::asm!("mov ${
          ACC[size]
        }, ${mem}", "2:", "${lock}cmpxchg ${mem}, {v${m}}", "jne 2b", v = in(${cls}) val, ${acc.operands}, out("${
          ACC[size]
        }") old, options(nostack)) }`,
        "old",
      ],
    ),
    ...method(
      ["Stores `desired` if the current CPU's value is `expected`; returns the old value."],
      `pub fn cmpxchg_current(&self${p}, expected: ${t}, desired: ${t}) -> ${t}`,
      naive
        ? [
          ...guard,
          `unsafe { let q = ${cur}; let old = q.read_volatile(); if old == expected { q.write_volatile(desired) } old }`,
        ]
        : [
          ...acc.prelude,
          `let old: ${t};`,
          `unsafe { core::arch::asm!("${lock}cmpxchg ${mem}, {d${m}}", d = in(${cls}) desired, ${acc.operands}, inout("${
            ACC[size]
          }") expected => old, options(nostack)) }`,
          "old",
        ],
    ),
    ...method(
      [
        "Adds `val` to the value on the given CPU (wrapping), one atomic instruction.",
        ...SAFETY_REMOTE.slice(0, 4),
        "- the CPU ID is valid.",
      ],
      `pub unsafe fn remote_add(&self, cpu_id: usize${p}, val: ${t})`,
      [`${atomicType}::from_ptr(${rem}).fetch_add(val, core::sync::atomic::Ordering::Relaxed);`],
    ),
    ...method(
      [
        "Compares and exchanges the value on the given CPU (one atomic instruction); returns the old value.",
        ...SAFETY_REMOTE.slice(0, 4),
        "- the CPU ID is valid.",
      ],
      `pub unsafe fn remote_cmpxchg(&self, cpu_id: usize${p}, expected: ${t}, desired: ${t}) -> ${t}`,
      [
        `match ${atomicType}::from_ptr(${rem}).compare_exchange(expected, desired, core::sync::atomic::Ordering::SeqCst, core::sync::atomic::Ordering::SeqCst) {`,
        "    Ok(v) | Err(v) => v,",
        "}",
      ],
    ),
  );
  return out;
}

/** The Rust name of the atomic type of an integer scalar: `AtomicU32`, `AtomicUsize`. */
function atomicName(s: ScalarName): string {
  if (s === "usize") return "AtomicUsize";
  if (s === "isize") return "AtomicIsize";
  return `Atomic${s[0]!.toUpperCase()}${s.slice(1)}`;
}

/** The wrapper struct, its static and its methods, for one variable. */
function wrapperItems(input: GenInput, v: PlacedVar, types: RustTypes): string[] {
  const { name, offset, size, type } = v.layout;
  const naive = input.config.features.naive;
  const kernel = input.config.mode === "kernel";
  const t = types.of(type, `${name}_T`, [name]);
  const w = `${name}_WRAPPER`;
  const guard = guardLine(input);
  const self = input.layout.selfPointerOffset ?? 0;
  const leaves = v.leaves;
  const rootLeaf = leaves.length === 1 && leaves[0]!.path.length === 0 ? leaves[0]! : null;
  // The address of the variable's template copy: the storage symbol in kernel mode (`.percpu`, VMA 0: absolute, never
  // PC-relative), the read-only template in user mode, the one area in naive builds (the seed's sp-naive global).
  const vma = naive ? [`(core::ptr::addr_of!(ffi::${AREAS_SYMBOL}) as usize) + Self::OFFSET`] : kernel
    ? [
      "let value: usize;",
      `unsafe { core::arch::asm!("movabs {0}, offset {VAR}", out(reg) value, VAR = sym ffi::${
        storageSymbol(name)
      }, options(pure, nomem, nostack, preserves_flags)) }`,
      "value",
    ]
    : [`(core::ptr::addr_of!(ffi::${TEMPLATE_SYMBOL}) as usize) + Self::OFFSET`];
  const currentPtr = naive
    ? [`core::ptr::addr_of_mut!(ffi::${AREAS_SYMBOL}).cast::<u8>().wrapping_add(Self::OFFSET).cast::<${t}>()`]
    : [
      "let base: usize;",
      `core::arch::asm!("mov {0}, qword ptr gs:[{s}]", out(reg) base, s = const ${self}, options(nostack, preserves_flags, readonly));`,
      `core::ptr::with_exposed_provenance::<${t}>(base + Self::OFFSET)`,
    ];
  const out: string[] = [
    `/// Storage: ${size} bytes at offset ${offset} of every area.`,
    `#[doc = "Wrapper struct for the per-CPU data [\`${name}\`]"]`,
    `pub struct ${w} {}`,
    "",
    `/// The per-CPU variable \`${name}\` (${typeDoc(t)}).`,
    `pub static ${name}: ${w} = ${w} {};`,
    "",
    `const _: () = assert!(core::mem::size_of::<${t}>() == ${size});`,
    `const _: () = assert!(core::mem::align_of::<${t}>() == ${v.layout.align});`,
    "",
    `impl ${w} {`,
    ...indent(
      [
        `/// Offset of the variable from its area base (\`PERCPU_${name}_OFFSET\` of percpu.h).`,
        `pub const OFFSET: usize = ${offset};`,
        "/// Size of the variable in bytes.",
        `pub const SIZE: usize = ${size};`,
        "",
        ...method(
          [
            "Returns the virtual memory address of this per-CPU static variable's initial copy (the same on all",
            naive
              ? "CPUs; here the one global, as the seed's sp-naive)."
              : kernel
              ? "CPUs: its `.percpu` symbol)."
              : "CPUs: its place in the read-only template areas are initialised from).",
          ],
          "pub fn symbol_vma(&self) -> usize",
          vma,
        ),
        ...method(
          [
            "Returns the offset relative to the per-CPU data area base",
            ...(naive ? ["(naive: the storage address, as the seed's sp-naive)."] : []),
          ],
          "pub fn offset(&self) -> usize",
          [naive ? "self.symbol_vma()" : "Self::OFFSET"],
        ),
        ...method(
          ["Returns the raw pointer of this per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ptr(&self) -> *const ${t}`,
          currentPtr,
        ),
        ...method(
          ["Returns the reference of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ref_raw(&self) -> &${t}`,
          ["&*self.current_ptr()"],
        ),
        "#[allow(clippy::mut_from_ref)]",
        ...method(
          ["Returns the mutable reference of the per-CPU static variable on the current CPU.", ...SAFETY_CURRENT],
          `pub unsafe fn current_ref_mut_raw(&self) -> &mut ${t}`,
          [`&mut *(self.current_ptr() as *mut ${t})`],
        ),
        ...method(
          [
            "Manipulate the per-CPU data on the current CPU in the given closure.",
            "Preemption will be disabled during the call.",
          ],
          `pub fn with_current<F, T>(&self, f: F) -> T where F: FnOnce(&mut ${t}) -> T`,
          [...guard, "f(unsafe { self.current_ref_mut_raw() })"],
          false,
        ),
        ...method(
          [
            "Reset the per-CPU data on the current CPU to the initial value (copied from the template).",
            "Preemption will be disabled during the reset.",
          ],
          "pub fn reset_to_init(&self)",
          [
            ...guard,
            `unsafe { core::ptr::copy_nonoverlapping((core::ptr::addr_of!(ffi::${TEMPLATE_SYMBOL}) as *const u8).add(Self::OFFSET), self.current_ptr() as *mut u8, Self::SIZE) }`,
          ],
          false,
        ),
        ...method(
          ["Returns the raw pointer of this per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ptr(&self, cpu_id: usize) -> *const ${t}`,
          [`core::ptr::with_exposed_provenance::<${t}>(percpu_area_base(cpu_id) + Self::OFFSET)`],
        ),
        ...method(
          ["Returns the reference of the per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ref_raw(&self, cpu_id: usize) -> &${t}`,
          [
            "&*self.remote_ptr(cpu_id)",
          ],
        ),
        "#[allow(clippy::mut_from_ref)]",
        ...method(
          ["Returns the mutable reference of the per-CPU static variable on the given CPU.", ...SAFETY_REMOTE],
          `pub unsafe fn remote_ref_mut_raw(&self, cpu_id: usize) -> &mut ${t}`,
          [`&mut *(self.remote_ptr(cpu_id) as *mut ${t})`],
        ),
        // Scalar variables, `aligned()` ones included (their values are the scalar's, as in percpu.h), and arrays
        // of more than ARRAY_EXPAND_LIMIT scalars (indexed: `read_current(i)`), as the `_at` forms of percpu.h.
        ...(rootLeaf ? leafMethods(input, rootLeaf) : []),
      ],
      1,
    ),
  ];
  while (out[out.length - 1] === "") out.pop();
  out.push("}", "");
  return out;
}

/** The helpers (address, index check) and value methods of a leaf, for the impl of its type or of the wrapper. */
function leafMethods(input: GenInput, leaf: PlacedLeaf): string[] {
  const t = rustScalar(leaf.scalar);
  const acc = leaf.indices.length > 0 ? indexedAccess(leaf) : CONST_ACCESS;
  const names = leaf.indices.map((_, i) => `i${i}`);
  const byte = names.length > 0 ? " + Self::index(" + names.join(", ") + ")" : "";
  const self = input.layout.selfPointerOffset ?? 0;
  const out: string[] = [];
  if (names.length > 0) {
    const check = leaf.indices.map((d, i) => `i${i} < ${d.length}`).join(" && ");
    const sum = leaf.indices.map((d, i) => `i${i} * ${d.stride}`).join(" + ");
    out.push(
      ...method(
        ["Byte offset of the element at the indices (panics when one is out of range)."],
        `fn index(${names.map((n) => `${n}: usize`).join(", ")}) -> usize`,
        [
          `assert!(${check}, "per-CPU array index out of range");`,
          sum,
        ],
      ),
    );
  }
  out.push(
    ...method(
      ["The current CPU's copy of the leaf (from the register value)."],
      `unsafe fn leaf_ptr(&self${acc.params}) -> *mut ${t}`,
      input.config.features.naive
        ? [
          `core::ptr::addr_of_mut!(ffi::${AREAS_SYMBOL}).cast::<u8>().wrapping_add(Self::OFFSET${byte}).cast::<${t}>()`,
        ]
        : [
          "let base: usize;",
          `core::arch::asm!("mov {0}, qword ptr gs:[{s}]", out(reg) base, s = const ${self}, options(nostack, preserves_flags, readonly));`,
          `core::ptr::with_exposed_provenance_mut::<${t}>(base + Self::OFFSET${byte})`,
        ],
    ),
    ...method(
      ["The leaf on the given CPU."],
      `unsafe fn leaf_remote_ptr(&self, cpu_id: usize${acc.params}) -> *mut ${t}`,
      [
        `core::ptr::with_exposed_provenance_mut::<${t}>(percpu_area_base(cpu_id) + Self::OFFSET${byte})`,
      ],
    ),
    ...scalarMethods(input, leaf, acc),
  );
  return out;
}

/** A Rust path of a leaf for docs: `STATS.irqs`, `BIG[i0]`. */
function leafDoc(leaf: PlacedLeaf): string {
  return leaf.varName + leaf.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("") +
    leaf.indices.map((_, i) => `[i${i}]`).join("");
}

/**
 * The leaf types of the fields and elements of struct and array variables (the leaves of
 * percpu.h: `STATS__irqs`, `IRQS__3`, `BIG__hits` indexed), in `mod leaf`, and their statics.
 */
function leafItems(input: GenInput): { readonly types: string[]; readonly statics: string[] } {
  const types: string[] = [];
  const statics: string[] = [];
  for (const v of input.vars) {
    const leaves = v.leaves;
    if (leaves.length === 1 && leaves[0]!.path.length === 0) continue;
    for (const leaf of leaves) {
      const t = rustScalar(leaf.scalar);
      const acc = leaf.indices.length > 0 ? indexedAccess(leaf) : CONST_ACCESS;
      const names = leaf.indices.map((_, i) => `i${i}`).join(", ");
      types.push(
        `/// The leaf \`${leafDoc(leaf)}\` (\`${t}\`) of every CPU.`,
        `pub struct ${leaf.symbol} {}`,
        "",
        `impl ${leaf.symbol} {`,
        ...indent(
          [
            "/// Offset from the area base (of element 0 for the indexed dimensions).",
            `pub const OFFSET: usize = ${leaf.areaOffset};`,
            "",
            ...method(
              ["Returns the raw pointer of this leaf on the current CPU.", ...SAFETY_CURRENT],
              `pub unsafe fn current_ptr(&self${acc.params}) -> *const ${t}`,
              [
                `self.leaf_ptr(${names})`,
              ],
            ),
            ...method(
              ["Returns the raw pointer of this leaf on the given CPU.", ...SAFETY_REMOTE],
              `pub unsafe fn remote_ptr(&self, cpu_id: usize${acc.params}) -> *const ${t}`,
              [
                `self.leaf_remote_ptr(cpu_id${acc.args})`,
              ],
            ),
            ...leafMethods(input, leaf),
          ],
          1,
        ),
      );
      while (types[types.length - 1] === "") types.pop();
      types.push("}", "");
      statics.push(
        `/// The leaf \`${leafDoc(leaf)}\` (percpu.h's \`${leaf.symbol}\`).`,
        `pub static ${leaf.symbol}: leaf::${leaf.symbol} = leaf::${leaf.symbol} {};`,
      );
    }
  }
  return { types, statics };
}

function typeDoc(t: string): string {
  return `\`${t}\``;
}

/** The runtime API (the seed's names and signatures) over the `extern "C"` runtime of `percpu.S`. */
function runtimeItems(input: GenInput): string[] {
  const { layout, config } = input;
  const { preempt, irq } = config.features;
  const naive = config.features.naive;
  const lines: string[] = [
    "/// Errors that can occur while initializing per-CPU data areas.",
    "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]",
    "pub enum InitError {",
    "    /// The base address is null and cannot be used.",
    "    InvalidBase,",
    `    /// The base address is not aligned to ${layout.areaAlign} bytes.`,
    "    UnalignedBase,",
    "}",
    "",
    "impl core::fmt::Display for InitError {",
    "    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {",
    "        match self {",
    '            Self::InvalidBase => write!(f, "invalid per-CPU base address"),',
    '            Self::UnalignedBase => write!(f, "unaligned per-CPU base address"),',
    "        }",
    "    }",
    "}",
    "",
    "impl core::error::Error for InitError {}",
    "",
    "/// The result of `percpu_init`: n, or -1 for a null base, -2 for an unaligned one.",
    "fn init_result(r: isize) -> Result<usize, InitError> {",
    "    match r {",
    "        -1 => Err(InitError::InvalidBase),",
    "        -2 => Err(InitError::UnalignedBase),",
    "        n => Ok(n as usize),",
    "    }",
    "}",
    "",
    "/// Initialize per-CPU data areas with user-provided memory (`cpu_count` areas of",
    "/// [`PERCPU_STRIDE`] bytes, see [`percpu_area_layout_expected`]): copies the initial",
    "/// values into every area. Returns `cpu_count`, or an error for a null or unaligned base.",
    ...(naive
      ? ["///", "/// naive (the seed's sp-naive): the arguments are ignored, the one area is reinitialised; returns 1."]
      : []),
    "pub fn init(base: *mut u8, cpu_count: usize) -> Result<usize, InitError> {",
    "    init_result(unsafe { ffi::percpu_init(base.expose_provenance(), cpu_count) })",
    "}",
    "",
    `/// Initialize the ${config.cpus} per-CPU data areas ${
      naive ? "(the one naive area)" : config.mode === "kernel" ? "of the `.percpu` section" : "reserved in `percpu.S`"
    }; returns their number.`,
    "pub fn init_in_place() -> Result<usize, InitError> {",
    "    init_result(unsafe { ffi::percpu_init_in_place() } as isize)",
    "}",
    "",
    "/// Initializes the per-CPU data register for the current CPU to the area of `cpu_id`.",
    "///",
    "/// # Panics",
    "///",
    "/// Panics if the per-CPU area base address has not been set.",
    "pub fn init_percpu_reg(cpu_id: usize) {",
    "    let _ = percpu_area_base(cpu_id);",
    "    unsafe { ffi::percpu_init_reg(cpu_id) }",
    "}",
    "",
    `/// Reads the per-CPU data register (${
      naive ? "naive: the one area" : "the area base, from its self pointer at `gs:[PERCPU_SELF_OFFSET]`"
    }).`,
    "pub fn read_percpu_reg() -> usize {",
    "    unsafe { ffi::percpu_read_reg() }",
    "}",
    "",
    `/// Writes the per-CPU data register (${
      naive
        ? "naive: no effect"
        : config.mode === "kernel"
        ? "`GS_BASE` through `wrmsr`"
        : "`GS_BASE` through `arch_prctl(ARCH_SET_GS)`"
    }).`,
    "///",
    "/// # Safety",
    "///",
    "/// This function is unsafe because it directly writes to a low-level register.",
    "/// Setting an invalid address may cause undefined behavior.",
    "pub unsafe fn write_percpu_reg(tp: usize) {",
    "    unsafe { ffi::percpu_write_reg(tp) }",
    "}",
    "",
    "/// Returns the base address of the per-CPU data area for the given CPU.",
    "///",
    "/// # Panics",
    "///",
    "/// Panics if the per-CPU area base address has not been set (i.e., `init()`",
    "/// or `init_in_place()` has not been called).",
    "pub fn percpu_area_base(cpu_id: usize) -> usize {",
    "    if unsafe { ffi::percpu_area_num() } == 0 {",
    '        panic!("PerCPU area base address not set");',
    "    }",
    "    unsafe { ffi::percpu_area_base(cpu_id) }",
    "}",
    "",
    "/// Returns the number of per-CPU data areas initialised (0 before `init`).",
    "pub fn percpu_area_num() -> usize {",
    "    unsafe { ffi::percpu_area_num() }",
    "}",
    "",
    "/// Returns the per-CPU data area size for one CPU (the areas are [`PERCPU_STRIDE`] apart).",
    "pub fn percpu_area_size() -> usize {",
    "    unsafe { ffi::percpu_area_size() }",
    "}",
    "",
    "/// Returns the expected layout for the per-CPU data area for the given number of CPUs.",
    "pub fn percpu_area_layout_expected(cpu_count: usize) -> core::alloc::Layout {",
    "    core::alloc::Layout::from_size_align(cpu_count * PERCPU_STRIDE, PERCPU_AREA_ALIGN).unwrap()",
    "}",
    "",
  ];
  if (preempt || irq) {
    lines.push(
      "/// The guard of `with_current` and `reset_to_init`: the hooks of the",
      `/// ${[preempt ? "preempt" : "", irq ? "irq" : ""].filter(Boolean).join(" and ")} feature${
        preempt && irq ? "s" : ""
      }, released when dropped.`,
      "struct Guard {",
      ...(irq ? ["    flags: usize,"] : []),
      "}",
      "",
      "impl Guard {",
      "    #[inline]",
      "    fn new() -> Self {",
      "        unsafe {",
      ...(preempt ? [`            ffi::${GUARD_HOOKS[0]}();`] : []),
      ...(irq ? [`            Guard { flags: ffi::${GUARD_HOOKS[2]}() }`] : ["            Guard {}"]),
      "        }",
      "    }",
      "}",
      "",
      "impl Drop for Guard {",
      "    #[inline]",
      "    fn drop(&mut self) {",
      "        unsafe {",
      ...(irq ? [`            ffi::${GUARD_HOOKS[3]}(self.flags);`] : []),
      ...(preempt ? [`            ffi::${GUARD_HOOKS[1]}();`] : []),
      "        }",
      "    }",
      "}",
      "",
    );
  }
  return lines;
}

/** The `extern "C"` declarations of `percpu.S` (runtime, template, storage symbols) and the guard hooks. */
function ffiItems(input: GenInput, types: RustTypes): string[] {
  const { layout, config } = input;
  const { preempt, irq, naive } = config.features;
  const decls: string[] = [
    "pub fn percpu_init(base: usize, n: usize) -> isize;",
    "pub fn percpu_init_in_place() -> usize;",
    "pub fn percpu_init_reg(cpu: usize);",
    "pub fn percpu_read_reg() -> usize;",
    "pub fn percpu_write_reg(value: usize);",
    "pub fn percpu_area_base(cpu: usize) -> usize;",
    "pub fn percpu_area_num() -> usize;",
    "pub fn percpu_area_size() -> usize;",
    `pub static ${TEMPLATE_SYMBOL}: [u8; ${layout.areaSize}];`,
    `pub static ${BASE_SYMBOL}: usize;`,
  ];
  if (naive) decls.push(`pub static mut ${AREAS_SYMBOL}: [u8; ${layout.stride * config.cpus}];`);
  if (config.mode === "kernel" && !naive) {
    for (const v of input.vars) {
      decls.push(
        `pub static ${storageSymbol(v.layout.name)}: ${
          types.of(v.layout.type, `${v.layout.name}_T`, [v.layout.name])
        };`,
      );
    }
  }
  if (preempt) decls.push(`pub fn ${GUARD_HOOKS[0]}();`, `pub fn ${GUARD_HOOKS[1]}();`);
  if (irq) decls.push(`pub fn ${GUARD_HOOKS[2]}() -> usize;`, `pub fn ${GUARD_HOOKS[3]}(flags: usize);`);
  return [
    "/// The symbols of the generated `percpu.S` (link it as `libpercpu.a`) and the guard hooks the program provides.",
    "#[allow(improper_ctypes)]",
    "mod ffi {",
    "    #[allow(unused_imports)]",
    "    use super::*;",
    '    unsafe extern "C" {',
    ...indent(decls, 2),
    "    }",
    "}",
    "",
  ];
}

/**
 * Generates `percpu.rs` for an x86_64 generation (user or kernel mode,
 * naive included). Throws `options_invalid` for other arches (not yet) and
 * for field names Rust cannot spell.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { emitRust } from "./percpu_rs.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * const rs = emitRust(generatorInput(sdk.layout("x86_64"), resolveConfig({ arch: "x86_64", mode: "user" })));
 * rs.includes("pub static HITS: HITS_WRAPPER"); // true
 * ```
 */
export function emitRust(input: GenInput): string {
  const { layout, config } = input;
  if (config.arch !== "x86_64") {
    fail("options_invalid", ["arch"], `Cannot generate percpu.rs for ${config.arch} yet: x86_64 only`);
  }
  if (TARGET_INFO[layout.target].pointerBytes !== 8) {
    fail("options_invalid", ["arch"], "Cannot generate percpu.rs: 64-bit targets only");
  }
  const types = new RustTypes(layout.target);
  const wrappers = input.vars.flatMap((v) => wrapperItems(input, v, types));
  const ffi = ffiItems(input, types);
  const leaves = leafItems(input);
  const lines = [
    `// percpu.rs: generated by the percpu SDK for ${configSummary(input)}. Do not edit.`,
    "//",
    '// Use it as a module (`#[path = "gen/percpu.rs"] mod percpu;`; it needs only `core`) and link',
    "// the generated percpu.S assembled into a static library (`-l static=percpu`).",
    "#![allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, unused_unsafe)]",
    "#![allow(clippy::missing_safety_doc, clippy::mut_from_ref, clippy::identity_op)]",
    "",
    `/// Bytes used by one area.`,
    `pub const PERCPU_AREA_SIZE: usize = ${layout.areaSize};`,
    `/// Distance between consecutive areas.`,
    `pub const PERCPU_STRIDE: usize = ${layout.stride};`,
    `/// Required alignment of every area base.`,
    `pub const PERCPU_AREA_ALIGN: usize = ${layout.areaAlign};`,
    `/// Areas \`init_in_place\` initialises.`,
    `pub const PERCPU_MAX_CPUS: usize = ${config.cpus};`,
    ...(layout.selfPointerOffset !== null
      ? [
        "/// Offset of each area's pointer to itself.",
        `pub const PERCPU_SELF_OFFSET: usize = ${layout.selfPointerOffset};`,
      ]
      : []),
    "",
    ...runtimeItems(input),
    ...ffi,
    ...types.defs,
    ...wrappers,
    ...(leaves.types.length > 0
      ? [
        "/// The leaf types: one per scalar of the struct and array variables, with the value methods of a scalar variable.",
        "pub mod leaf {",
        "    #[allow(unused_imports)]",
        "    use super::*;",
        "",
        ...indent(leaves.types, 1),
        "}",
        "",
        ...leaves.statics,
        "",
      ]
      : []),
  ];
  return lines.join("\n");
}
