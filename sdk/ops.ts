/**
 * The op catalog: one table of every runtime function, every whole-variable
 * operation and every per-leaf operation, with its C signature, its JS name
 * and its guard class. The header's generic accessors and prototypes, the
 * per-variable function signatures, the FFI signatures and the firmware's
 * checks are derived from it, so adding an op is one row here plus one
 * lowering per ISA (or the generic fallback), and every `Record<LeafOp, …>`
 * that must handle it fails to compile until it does.
 *
 * @module
 */

/** A C type of a runtime or whole-variable signature (scalar leaf types come from the leaf). */
export type RuntimeCType = "void" | "uintptr_t" | "intptr_t";

/** A runtime function of `percpu.S`: its C signature and its name on the JS SDK. */
export interface RuntimeFunction {
  readonly ret: RuntimeCType;
  readonly params: readonly { readonly name: string; readonly type: RuntimeCType }[];
  /** The `PercpuSdk` method that calls it through FFI (`null`: not exposed). */
  readonly js: string | null;
}

/** The runtime of every generated `percpu.S`, in declaration order. */
export const RUNTIME = {
  percpu_init: { ret: "intptr_t", params: [{ name: "base", type: "uintptr_t" }, { name: "n", type: "uintptr_t" }], js: "init" },
  percpu_init_in_place: { ret: "uintptr_t", params: [], js: "initInPlace" },
  percpu_init_reg: { ret: "void", params: [{ name: "cpu", type: "uintptr_t" }], js: "initPercpuReg" },
  percpu_read_reg: { ret: "uintptr_t", params: [], js: "readPercpuReg" },
  percpu_write_reg: { ret: "void", params: [{ name: "value", type: "uintptr_t" }], js: "writePercpuReg" },
  percpu_area_base: { ret: "uintptr_t", params: [{ name: "cpu", type: "uintptr_t" }], js: "areaBase" },
  percpu_area_num: { ret: "uintptr_t", params: [], js: "areaNum" },
  percpu_area_size: { ret: "uintptr_t", params: [], js: "areaSize" },
} as const satisfies Record<string, RuntimeFunction>;

/** A runtime function name. */
export type RuntimeName = keyof typeof RUNTIME;

/** Names of the runtime functions, in declaration order. */
export const RUNTIME_NAMES = Object.keys(RUNTIME) as RuntimeName[];

/** Which CPU's copy an operation touches. */
export type OpTarget = "current" | "remote";

/**
 * Whether an operation may call the preempt/irq hooks when a guard feature is
 * on: `never` (raw and remote ops, pointers); `lowering` (guarded exactly when
 * the arch's lowering is more than one instruction, or is not an atomic on
 * the computed address: a counter update that a migration moves to the
 * previous CPU's copy still lands atomically, so sums stay exact);
 * `this_cpu` (the result or the target must be this CPU's — xchg, cmpxchg,
 * try_cmpxchg, the `_return` ops — so the op is guarded whenever its
 * lowering is more than one instruction, atomic or not, as Linux's arm64
 * `this_cpu_*` disables preemption around them).
 */
export type GuardClass = "never" | "lowering" | "this_cpu";

/** A whole-variable operation (`percpu_current_ptr(V)`, `percpu_X_current_ptr()`). */
export interface VarOpSpec {
  readonly js: string;
  readonly target: OpTarget;
  /** `pointer`: returns a typed pointer to the variable; `void`: returns nothing. */
  readonly returns: "pointer" | "void";
  readonly guard: GuardClass;
}

/** Operations on a whole variable. */
export const VAR_OP_SPECS = {
  current_ptr: { js: "currentPtr", target: "current", returns: "pointer", guard: "never" },
  remote_ptr: { js: "remotePtr", target: "remote", returns: "pointer", guard: "never" },
  reset_to_init: { js: "resetToInit", target: "current", returns: "void", guard: "lowering" },
} as const satisfies Record<string, VarOpSpec>;

/** A whole-variable operation name. */
export type VarOp = keyof typeof VAR_OP_SPECS;

/** Whole-variable operation names, in catalog order. */
export const VAR_OPS = Object.keys(VAR_OP_SPECS) as VarOp[];

/** Which scalars an op applies to (see {@link LeafOpSpec.scalars}). */
export type ScalarClass = "every" | "integer" | "u128";

/** A per-leaf operation of the catalog. */
export interface LeafOpSpec {
  /** The `PercpuVar` method name. */
  readonly js: string;
  readonly target: OpTarget;
  /** Value parameters after the CPU (remote ops) and the indices: C names, in order. */
  readonly values: readonly string[];
  /**
   * `value`: returns a value of the leaf's type (the read, the old or the new
   * value); `void`: nothing; `ok`: returns a C `bool`, and the first value
   * parameter is passed by pointer (`T *expected`) and receives the value
   * found when the op fails, as Linux's `try_cmpxchg` (in JS: `{ ok, value }`).
   */
  readonly returns: "value" | "void" | "ok";
  /**
   * The scalars it applies to: `every` (reads and writes, u128 included),
   * `integer` (the read-modify-write ops of the integers up to 64 bits),
   * `u128` (the 128-bit compare-and-exchange, the one RMW op of u128).
   */
  readonly scalars: ScalarClass;
  readonly guard: GuardClass;
  /**
   * The `percpu.h` primitive implementing it (`PERCPU__ADD` / `PERCPU__ADD_AT`
   * for the constant and run-time offset forms; remote ones take the CPU first).
   */
  readonly primitive: string;
  /**
   * For read-modify-write ops, an operand that leaves the value unchanged
   * (`"zero"`: 0, `"ones"`: all bits set), so a check can call the op
   * without disturbing the value; `null` for the others.
   */
  readonly identity: "zero" | "ones" | null;
  /**
   * What a read-modify-write op does to an n-bit value, as C does it: from
   * the old value and the operands (unsigned bits, `mask` = 2^n − 1) to the
   * new value and the returned one (`null` for void ops). `null` for the
   * plain reads and writes. The firmware derives its expected values from it.
   */
  readonly model: ((old: bigint, operands: readonly bigint[], mask: bigint) => RmwOutcome) | null;
  /**
   * The same as C expressions over `{old}` and the operands `{0}`, `{1}`
   * (of the leaf's type): the new value and the returned one. `percpu.h`'s
   * generic fallback builds the guarded load-op-store of every RMW op from
   * it, so a new op works on every arch before any ISA specialises it.
   */
  readonly c: {
    readonly value: string;
    readonly result: string | null;
    /** When present, the new value is stored only if this holds (a compare-and-exchange that misses stores nothing). */
    readonly when?: string;
  } | null;
  /**
   * When the op is another primitive with fixed operands (`inc` is `add 1`,
   * `try_cmpxchg` is `cmpxchg` plus a compare): its `percpu.h` fallback as a
   * C expression, with `{F}` the form suffix (empty or `_AT`), `{a}` the
   * offset and `{0}`, `{1}` the operands. An arch with a shorter sequence
   * specialises the primitive; otherwise it costs what the other op costs.
   */
  readonly derived: string | null;
}

/** The effect of a read-modify-write op: the value it leaves and what it returns. */
export interface RmwOutcome {
  readonly value: bigint;
  readonly result: bigint | null;
  /** For `returns: "ok"` ops: whether the op succeeded (`result` is then the value found). */
  readonly ok?: boolean;
}

/** The model of a read-modify-write op (see {@link LeafOpSpec.model}); explicitly typed so the catalog's type is explicit for JSR. */
type RmwModel = (old: bigint, operands: readonly bigint[], mask: bigint) => RmwOutcome;

/** The model of an op that combines the value with one operand and returns nothing. */
function arith(f: (old: bigint, v: bigint) => bigint): RmwModel {
  return (old, [v = 0n], mask) => ({ value: f(old, v) & mask, result: null });
}

/** The model of an op that returns the value it leaves (the `_return` ops). */
function newValue(f: (old: bigint, v: bigint) => bigint): RmwModel {
  return (old, [v = 0n], mask) => {
    const value = f(old, v) & mask;
    return { value, result: value };
  };
}

/** Every per-leaf operation. The order is the order of the generated functions and prototypes. */
export const LEAF_OP_SPECS = {
  read_current_raw: { js: "readCurrentRaw", target: "current", values: [], returns: "value", scalars: "every", guard: "never", primitive: "PERCPU__RD", identity: null, model: null, c: null, derived: null },
  write_current_raw: { js: "writeCurrentRaw", target: "current", values: ["v"], returns: "void", scalars: "every", guard: "never", primitive: "PERCPU__WR", identity: null, model: null, c: null, derived: null },
  read_current: { js: "readCurrent", target: "current", values: [], returns: "value", scalars: "every", guard: "lowering", primitive: "PERCPU__RD_G", identity: null, model: null, c: null, derived: null },
  write_current: { js: "writeCurrent", target: "current", values: ["v"], returns: "void", scalars: "every", guard: "lowering", primitive: "PERCPU__WR_G", identity: null, model: null, c: null, derived: null },
  remote_read: { js: "remoteRead", target: "remote", values: [], returns: "value", scalars: "every", guard: "never", primitive: "PERCPU__REMOTE_RD", identity: null, model: null, c: null, derived: null },
  remote_write: { js: "remoteWrite", target: "remote", values: ["v"], returns: "void", scalars: "every", guard: "never", primitive: "PERCPU__REMOTE_WR", identity: null, model: null, c: null, derived: null },
  add_current: { js: "addCurrent", target: "current", values: ["v"], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__ADD", identity: "zero", model: arith((o, v) => o + v) as RmwModel, c: { value: "{old} + {0}", result: null }, derived: null },
  sub_current: { js: "subCurrent", target: "current", values: ["v"], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__SUB", identity: "zero", model: arith((o, v) => o - v) as RmwModel, c: { value: "{old} - {0}", result: null }, derived: null },
  and_current: { js: "andCurrent", target: "current", values: ["v"], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__AND", identity: "ones", model: arith((o, v) => o & v) as RmwModel, c: { value: "{old} & {0}", result: null }, derived: null },
  or_current: { js: "orCurrent", target: "current", values: ["v"], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__OR", identity: "zero", model: arith((o, v) => o | v) as RmwModel, c: { value: "{old} | {0}", result: null }, derived: null },
  xor_current: { js: "xorCurrent", target: "current", values: ["v"], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__XOR", identity: "zero", model: arith((o, v) => o ^ v) as RmwModel, c: { value: "{old} ^ {0}", result: null }, derived: null },
  xchg_current: { js: "xchgCurrent", target: "current", values: ["v"], returns: "value", scalars: "integer", guard: "this_cpu", primitive: "PERCPU__XCHG", identity: null, model: ((old, [v = 0n]) => ({ value: v, result: old })) as RmwModel, c: { value: "{0}", result: "{old}" }, derived: null },
  cmpxchg_current: {
    js: "cmpxchgCurrent",
    target: "current",
    values: ["expected", "desired"],
    returns: "value",
    scalars: "integer",
    guard: "this_cpu",
    primitive: "PERCPU__CMPXCHG",
    identity: null,
    model: ((old, [expected = 0n, desired = 0n]) => ({ value: old === expected ? desired : old, result: old })) as RmwModel,
    c: { value: "{old} == {0} ? {1} : {old}", result: "{old}" },
    derived: null,
  },
  // Linux's this_cpu_inc/dec: `add 1`/`sub 1` (x86_64 `incq %gs:x`); counter class, like add.
  inc_current: { js: "incCurrent", target: "current", values: [], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__INC", identity: null, model: arith((o) => o + 1n) as RmwModel, c: { value: "{old} + 1", result: null }, derived: "PERCPU__ADD{F}(T, K, {a}, 1)" },
  dec_current: { js: "decCurrent", target: "current", values: [], returns: "void", scalars: "integer", guard: "lowering", primitive: "PERCPU__DEC", identity: null, model: arith((o) => o - 1n) as RmwModel, c: { value: "{old} - 1", result: null }, derived: "PERCPU__SUB{F}(T, K, {a}, 1)" },
  // this_cpu_add_return and friends: the new value (x86_64 `xadd %gs:x` + add); this CPU's value, so guarded where multi-instruction.
  add_return_current: { js: "addReturnCurrent", target: "current", values: ["v"], returns: "value", scalars: "integer", guard: "this_cpu", primitive: "PERCPU__ADD_RETURN", identity: null, model: newValue((o, v) => o + v) as RmwModel, c: { value: "{old} + {0}", result: "(T)({old} + {0})" }, derived: null },
  sub_return_current: { js: "subReturnCurrent", target: "current", values: ["v"], returns: "value", scalars: "integer", guard: "this_cpu", primitive: "PERCPU__SUB_RETURN", identity: null, model: newValue((o, v) => o - v) as RmwModel, c: { value: "{old} - {0}", result: "(T)({old} - {0})" }, derived: "PERCPU__ADD_RETURN{F}(T, K, {a}, (T)-(T)({0}))" },
  inc_return_current: { js: "incReturnCurrent", target: "current", values: [], returns: "value", scalars: "integer", guard: "this_cpu", primitive: "PERCPU__INC_RETURN", identity: null, model: newValue((o) => o + 1n) as RmwModel, c: { value: "{old} + 1", result: "(T)({old} + 1)" }, derived: "PERCPU__ADD_RETURN{F}(T, K, {a}, 1)" },
  dec_return_current: { js: "decReturnCurrent", target: "current", values: [], returns: "value", scalars: "integer", guard: "this_cpu", primitive: "PERCPU__DEC_RETURN", identity: null, model: newValue((o) => o - 1n) as RmwModel, c: { value: "{old} - 1", result: "(T)({old} - 1)" }, derived: "PERCPU__ADD_RETURN{F}(T, K, {a}, (T)-1)" },
  // Linux's preferred compare-and-exchange: bool, and on failure *expected = the value found.
  try_cmpxchg_current: {
    js: "tryCmpxchgCurrent",
    target: "current",
    values: ["expected", "desired"],
    returns: "ok",
    scalars: "integer",
    guard: "this_cpu",
    primitive: "PERCPU__TRY_CMPXCHG",
    identity: null,
    model: ((old, [expected = 0n, desired = 0n]) => ({ value: old === expected ? desired : old, result: old, ok: old === expected })) as RmwModel,
    c: null,
    // Locals named apart from the cmpxchg primitives' own (`percpu__e_`, ...), which expand inside.
    derived:
      "__extension__({ T *percpu__tp_ = ({0}); T percpu__te_ = *percpu__tp_; T percpu__tf_ = PERCPU__CMPXCHG{F}(T, K, {a}, percpu__te_, {1}); bool percpu__tok_ = percpu__tf_ == percpu__te_; if (!percpu__tok_) *percpu__tp_ = percpu__tf_; percpu__tok_; })",
  },
  // Remote read-modify-write: one atomic on `cpu`'s copy (x86_64 `lock add`/`lock cmpxchg`, aarch64
  // LL/SC, riscv AMO or LR/SC, loongarch AM* or LL/SC). Exact against other remote RMWs, and against
  // the owner's RMW ops when the variable is `atomic: true` (see README "Remote access").
  remote_add: { js: "remoteAdd", target: "remote", values: ["v"], returns: "void", scalars: "integer", guard: "never", primitive: "PERCPU__REMOTE_ADD", identity: "zero", model: arith((o, v) => o + v) as RmwModel, c: { value: "{old} + {0}", result: null }, derived: null },
  remote_cmpxchg: {
    js: "remoteCmpxchg",
    target: "remote",
    values: ["expected", "desired"],
    returns: "value",
    scalars: "integer",
    guard: "never",
    primitive: "PERCPU__REMOTE_CMPXCHG",
    identity: null,
    model: ((old, [expected = 0n, desired = 0n]) => ({ value: old === expected ? desired : old, result: old })) as RmwModel,
    c: { value: "{old} == {0} ? {1} : {old}", result: "{old}" },
    derived: null,
  },
  // Linux's this_cpu_cmpxchg128 on a u128 leaf (64-bit arches): x86_64 `cmpxchg16b %gs:x` (no lock), aarch64
  // LL/SC `ldxp/stxp` or lse `casp`, a guarded load-compare-store where no 128-bit CAS exists (riscv64, loongarch64).
  cmpxchg128_current: {
    js: "cmpxchg128Current",
    target: "current",
    values: ["expected", "desired"],
    returns: "value",
    scalars: "u128",
    guard: "this_cpu",
    primitive: "PERCPU__CMPXCHG128",
    identity: null,
    model: ((old, [expected = 0n, desired = 0n]) => ({ value: old === expected ? desired : old, result: old })) as RmwModel,
    // Stores only on a hit: the fallback's two 8-byte stores are skipped on a miss.
    c: { value: "{1}", result: "{old}", when: "{old} == {0}" },
    derived: null,
  },
} as const satisfies Record<string, LeafOpSpec>;

/** A per-leaf operation name. */
export type LeafOp = keyof typeof LEAF_OP_SPECS;

/** The read-modify-write ops on the current CPU that combine the value with one operand (they have an identity operand): add, sub, and, or, xor. */
export type ArithmeticOp = {
  [K in LeafOp]: typeof LEAF_OP_SPECS[K]["identity"] extends null ? never : typeof LEAF_OP_SPECS[K]["target"] extends "current" ? K : never;
}[LeafOp];

/**
 * Whether an op is an {@link ArithmeticOp}.
 *
 * @example
 * ```ts
 * import { isArithmeticOp } from "./ops.ts";
 * isArithmeticOp("and_current"); // true
 * isArithmeticOp("xchg_current"); // false
 * ```
 */
export function isArithmeticOp(op: LeafOp): op is ArithmeticOp {
  return LEAF_OP_SPECS[op].identity !== null && LEAF_OP_SPECS[op].target === "current";
}

/** The integer-only (read-modify-write) ops: every op a lowering of atomics must handle. */
export type IntegerOp = { [K in LeafOp]: typeof LEAF_OP_SPECS[K]["scalars"] extends "integer" ? K : never }[LeafOp];

/** The ops of every scalar (reads and writes, current and remote). */
export type EveryScalarOp = { [K in LeafOp]: typeof LEAF_OP_SPECS[K]["scalars"] extends "every" ? K : never }[LeafOp];

/** The u128-only ops (`cmpxchg128_current`). */
export type U128Op = { [K in LeafOp]: typeof LEAF_OP_SPECS[K]["scalars"] extends "u128" ? K : never }[LeafOp];

/** The read-modify-write ops on another CPU's copy (`remote_add`, `remote_cmpxchg`): always one atomic on its address. */
export type RemoteRmwOp = { [K in IntegerOp]: typeof LEAF_OP_SPECS[K]["target"] extends "remote" ? K : never }[IntegerOp];

/** The read-modify-write ops on the current CPU's copy (`add_current` ... `cmpxchg_current`). */
export type LocalRmwOp = Exclude<IntegerOp, RemoteRmwOp>;

/**
 * The local op each remote read-modify-write op computes (same operands,
 * same model): the lowerings emit the local op's atomic sequence on the
 * remote copy's address.
 */
export const REMOTE_RMW_LIKE = {
  remote_add: "add_current",
  remote_cmpxchg: "cmpxchg_current",
} as const satisfies Record<RemoteRmwOp, LocalRmwOp>;

/**
 * Whether an integer op is a {@link RemoteRmwOp}.
 *
 * @example
 * ```ts
 * import { isRemoteRmwOp } from "./ops.ts";
 * isRemoteRmwOp("remote_add"); // true
 * isRemoteRmwOp("add_current"); // false
 * ```
 */
export function isRemoteRmwOp(op: IntegerOp): op is RemoteRmwOp {
  return op in REMOTE_RMW_LIKE;
}

/** The ops on another CPU's copy: `remote_read`, `remote_write` and the {@link RemoteRmwOp}s. */
export type RemoteOp = { [K in LeafOp]: typeof LEAF_OP_SPECS[K]["target"] extends "remote" ? K : never }[LeafOp];

/**
 * Whether an op touches another CPU's copy (`remote_read`, `remote_write`,
 * `remote_add`, `remote_cmpxchg`): it takes the CPU first and addresses
 * `__percpu_base + cpu * stride`.
 *
 * @example
 * ```ts
 * import { isRemoteOp } from "./ops.ts";
 * isRemoteOp("remote_cmpxchg"); // true
 * ```
 */
export function isRemoteOp(op: LeafOp): op is RemoteOp {
  return LEAF_OP_SPECS[op].target === "remote";
}

/** Every per-leaf operation name, in catalog order. */
export const LEAF_OPS = Object.keys(LEAF_OP_SPECS) as LeafOp[];

/** The operations of every scalar leaf (bool, floats and u128 included). */
export const SCALAR_OPS: readonly EveryScalarOp[] = LEAF_OPS.filter((op): op is EveryScalarOp => LEAF_OP_SPECS[op].scalars === "every");

/** The extra operations of integer leaves (up to 64 bits). */
export const INTEGER_OPS: readonly IntegerOp[] = LEAF_OPS.filter((op): op is IntegerOp => LEAF_OP_SPECS[op].scalars === "integer");

/** The extra operations of u128 leaves. */
export const U128_OPS: readonly U128Op[] = LEAF_OPS.filter((op): op is U128Op => LEAF_OP_SPECS[op].scalars === "u128");

/**
 * The spec of a leaf operation.
 *
 * @example
 * ```ts
 * import { leafOpSpec } from "./ops.ts";
 * leafOpSpec("cmpxchg_current").values; // ["expected", "desired"]
 * ```
 */
export function leafOpSpec(op: LeafOp): LeafOpSpec {
  return LEAF_OP_SPECS[op];
}
