/**
 * The Rust firmware test program: a `#![no_std]` crate (`fw.rs`) that uses
 * the generated `percpu.rs` the way a kernel does (`#[path = "percpu.rs"] mod
 * percpu;`) and checks every accessor of every variable on every CPU, as the
 * C program of `program.ts` does through `percpu.h`: the seed's runtime API
 * (`init`, `init_in_place`, `init_percpu_reg`, `read/write_percpu_reg`,
 * `percpu_area_*`, `InitError`), per variable `offset`, `symbol_vma`,
 * `current_ptr`, `current_ref_raw`, `current_ref_mut_raw`, `with_current`,
 * `reset_to_init`, `remote_ptr`, `remote_ref_raw`, `remote_ref_mut_raw`, and
 * every op of the catalog on every slot (sdk/ops.ts, with the expected
 * values from the catalog's models and the value patterns of
 * `_program_values.ts`, never from the generator's output; u128 leaves run
 * the C firmware's u128 plan, `u128CheckPlan`). The guard hooks
 * (`percpu_preempt_disable` ...) are Rust `#[unsafe(no_mangle)] extern "C"`
 * functions that count calls per CPU; each op's count is checked against
 * what the catalog and the arch allow (`_program_calls.ts` `guardUse`, plus
 * `with_current`, which must always take the guard).
 *
 * It prints the C program's line format over the platform's UART (`fw_putc`
 * of `platform.c`), so `parseBoot` reads both: `cpu=2 var=STATS.irqs
 * check=write ok` / `... FAIL op=... got=0x.. expected=0x..`, and CPU 0's
 * `result: pass cpus=4 checks=N`; barriers are bounded by the arch's counter.
 *
 * @module
 */
import type { AnyPlacedLeaf, GenInput } from "../sdk/plan.ts";
import { LEAF_OP_SPECS, type LeafOp } from "../sdk/ops.ts";
import { leafOps } from "../sdk/symbols.ts";
import { isInteger } from "../sdk/values.ts";
import { guardUse } from "./_program_calls.ts";
import { collectSlots, M64, pattern, RMW_CHECK_OPS, rmwCheckPlan, type Slot, u128CheckPlan } from "./_program_values.ts";

/** Options of {@link rustFirmwareProgram}. */
export interface RustProgramOptions {
  /** `add_current` / `remote_add` calls per CPU and integer slot in the concurrent hammers (default 200). */
  readonly hammer?: number;
  /** Milliseconds a barrier waits while no CPU makes progress (default 750 per CPU, at least 3000). */
  readonly timeoutMs?: number;
}

/** The generated crate root and what a passing run prints. */
export interface RustFirmwareProgram {
  /** The text of `fw.rs`. */
  readonly source: string;
  /** Check lines of a complete, passing run (every CPU's, plus CPU 0's runtime check). */
  readonly expectedChecks: number;
}

/**
 * Whether a current-CPU read-modify-write op must (true) or must never (false) call the hooks when a guard feature
 * is on, by percpu.h's rule; null for the other ops. x86_64: one `%gs` instruction, never. aarch64, riscv64,
 * loongarch64: the ops of guard class `this_cpu` (xchg, cmpxchg, try_cmpxchg, `_return`) always; the counter ops
 * only when the variable is not `counter: true`, or the arch has no single atomic for it (riscv 8/16-bit).
 */
function rmwGuardExpected(input: GenInput, slot: Slot, op: LeafOp): boolean | null {
  const spec = LEAF_OP_SPECS[op];
  if (spec.scalars !== "integer" || spec.target !== "current") return null;
  if (input.config.arch === "x86_64") return false;
  if (spec.guard === "this_cpu") return true;
  const oneAtomic = !(input.config.arch === "riscv64" && slot.leaf.size < 4);
  return !(slot.leaf.counter === true && oneAtomic);
}

/** Whether an op changes the value whatever its operands (inc, dec, the `_return` ops: no identity operand, not a swap or compare). */
function changesValue(op: LeafOp): boolean {
  const spec = LEAF_OP_SPECS[op];
  return spec.scalars === "integer" && spec.target === "current" && spec.identity === null && spec.model !== null && spec.values.length <= 1 && op !== "xchg_current";
}

/** A `u64` literal of Rust. */
function lit(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** A Rust string literal. */
function str(s: string): string {
  return JSON.stringify(s);
}

/** The `[u64; CPUS]` (or `[u128; CPUS]`) tables of expected values, deduplicated. */
class Tables {
  readonly defs: string[] = [];
  readonly #names = new Map<string, string>();

  /** The name of the table of `values` (one per CPU). */
  of(values: readonly bigint[], type: "u64" | "u128" = "u64"): string {
    const body = values.map(lit).join(", ");
    const key = `${type} ${body}`;
    let name = this.#names.get(key);
    if (name === undefined) {
      name = `T${this.#names.size}`;
      this.#names.set(key, name);
      this.defs.push(`static ${name}: [${type}; CPUS] = [${body}];`);
    }
    return name;
  }
}

/** Where a call goes: a leaf and the index arguments of its indexed dimensions (a slot, or a u128 leaf's element 0). */
type Site = { readonly leaf: AnyPlacedLeaf; readonly idx: readonly number[] };

/** The Rust receiver of a leaf's methods: the variable (a scalar one) or its leaf static. */
function receiver(slot: Site): string {
  return slot.leaf.path.length === 0 ? `percpu::${slot.leaf.varName}` : `percpu::${slot.leaf.symbol}`;
}

/** A call of a catalog op on a slot: `(cpu, indices..., values...)`. */
function call(slot: Site, op: LeafOp, args: { cpu?: string; values?: readonly string[] } = {}): string {
  const spec = LEAF_OP_SPECS[op];
  const list = [
    ...(spec.target === "remote" ? [args.cpu ?? "cpu"] : []),
    ...slot.idx.map(String),
    ...spec.values.map((_, i) => args.values?.[i] ?? "0"),
  ];
  const text = `${receiver(slot)}.${op}(${list.join(", ")})`;
  return op === "read_current_raw" || op === "write_current_raw" || spec.target === "remote" ? `unsafe { ${text} }` : text;
}

/** A value of the slot's type as its bits (u64). */
function bits(slot: Slot, expr: string): string {
  return `b_${slot.leaf.scalar}(${expr})`;
}

/** Bits (u64) as a value of the slot's type. */
function value(slot: Slot, expr: string): string {
  return `v_${slot.leaf.scalar}(${expr})`;
}

/** The crate's fixed part: UART output, checks, barriers, hooks, panic handler, value conversions. */
function runtime(input: GenInput, opts: Required<RustProgramOptions>): string {
  const { config, layout } = input;
  const f = config.features;
  return `// fw.rs: the Rust firmware test program, generated by the percpu SDK. Do not edit.
#![no_std]
#![no_main]
#![allow(dead_code, non_upper_case_globals, unused_unsafe, static_mut_refs)]

#[path = "percpu.rs"]
mod percpu;

use core::sync::atomic::{AtomicU32, Ordering};

unsafe extern "C" {
    fn fw_putc(c: core::ffi::c_char);
    fn fw_exit(code: i32) -> !;
    fn fw_start_cpu(cpu: usize);
    static _percpu_start: u8;
}

const CPUS: usize = ${config.cpus};
const PREEMPT: bool = ${f.preempt};
const IRQ: bool = ${f.irq};
const HAMMER: u32 = ${opts.hammer};
const TIMEOUT_MS: u64 = ${opts.timeoutMs};
const SPIN_LIMIT: u64 = 2_000_000_000;
const AREA_SIZE: usize = ${layout.areaSize};
const STRIDE: usize = ${layout.stride};

/// The stubs of machines whose CPUs all start at once wait for this word.
#[unsafe(no_mangle)]
pub static fw_release: AtomicU32 = AtomicU32::new(0);

static PRINT_LOCK: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);
static PROGRESS: AtomicU32 = AtomicU32::new(0);
static CHECKS: [AtomicU32; CPUS] = [const { AtomicU32::new(0) }; CPUS];
static FAILS: [AtomicU32; CPUS] = [const { AtomicU32::new(0) }; CPUS];
static BARRIERS: [AtomicU32; 64] = [const { AtomicU32::new(0) }; 64];

struct Line {
    buf: [u8; 320],
    n: usize,
}

impl Line {
    fn new() -> Self {
        Line { buf: [0; 320], n: 0 }
    }
    fn s(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.n < self.buf.len() {
                self.buf[self.n] = b;
                self.n += 1;
            }
        }
    }
    fn dec(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = 0;
        loop {
            tmp[i] = b'0' + (v % 10) as u8;
            i += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while i > 0 {
            i -= 1;
            if self.n < self.buf.len() {
                self.buf[self.n] = tmp[i];
                self.n += 1;
            }
        }
    }
    fn hex(&mut self, v: u64) {
        self.s("0x");
        let mut shift = 60;
        while shift > 0 && (v >> shift) & 0xf == 0 {
            shift -= 4;
        }
        loop {
            let d = ((v >> shift) & 0xf) as usize;
            if self.n < self.buf.len() {
                self.buf[self.n] = b"0123456789abcdef"[d];
                self.n += 1;
            }
            if shift == 0 {
                break;
            }
            shift -= 4;
        }
    }
    fn emit(&self) {
        let mut spin = 0u64;
        while PRINT_LOCK.swap(1, Ordering::Acquire) != 0 && spin < SPIN_LIMIT {
            spin += 1;
        }
        for &b in &self.buf[..self.n] {
            unsafe { fw_putc(b as core::ffi::c_char) };
        }
        unsafe { fw_putc(b'\\n' as core::ffi::c_char) };
        PRINT_LOCK.store(0, Ordering::Release);
    }
}

fn result_and_exit() -> ! {
    let mut checks = 0u64;
    let mut fails = 0u64;
    for c in 0..CPUS {
        checks += CHECKS[c].load(Ordering::SeqCst) as u64;
        fails += FAILS[c].load(Ordering::SeqCst) as u64;
    }
    let mut l = Line::new();
    l.s(if fails == 0 { "result: pass cpus=" } else { "result: fail cpus=" });
    l.dec(CPUS as u64);
    l.s(" checks=");
    l.dec(checks);
    if fails != 0 {
        l.s(" failed=");
        l.dec(fails);
    }
    l.emit();
    unsafe { fw_exit(if fails == 0 { 0 } else { 1 }) }
}

fn fatal() -> ! {
    if DONE.swap(1, Ordering::SeqCst) == 0 {
        FAILS[0].fetch_add(1, Ordering::SeqCst);
        result_and_exit();
    }
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut l = Line::new();
    l.s("fatal: panic");
    if let Some(loc) = info.location() {
        l.s(" at ");
        l.s(loc.file());
        l.s(":");
        l.dec(loc.line() as u64);
    }
    l.emit();
    fatal()
}

/// One check: one output line when it ends, with the first failure's detail.
struct Chk {
    cpu: usize,
    var: &'static str,
    check: &'static str,
    failed: u32,
    detail: Line,
}

impl Chk {
    fn new(cpu: usize, var: &'static str, check: &'static str) -> Self {
        Chk { cpu, var, check, failed: 0, detail: Line::new() }
    }
    fn fail(&mut self, op: &str, what: Option<&str>, of: Option<u64>, got: u64, want: u64) {
        self.failed += 1;
        if self.failed != 1 {
            return;
        }
        let d = &mut self.detail;
        d.s("op=");
        d.s(op);
        if let Some(w) = what {
            d.s("/");
            d.s(w);
        }
        if let Some(o) = of {
            d.s(" of=");
            d.dec(o);
        }
        d.s(" got=");
        d.hex(got);
        d.s(" expected=");
        d.hex(want);
    }
    fn expect(&mut self, op: &str, got: u64, want: u64) {
        if got != want {
            self.fail(op, None, None, got, want);
        }
    }
    fn expect_at(&mut self, op: &str, of: usize, got: u64, want: u64) {
        if got != want {
            self.fail(op, None, Some(of as u64), got, want);
        }
    }
    fn expect_sub(&mut self, op: &str, what: &str, got: u64, want: u64) {
        if got != want {
            self.fail(op, Some(what), None, got, want);
        }
    }
    /// A u128 as its halves (a failure names the half: \`op/lo\`, \`op/hi\`).
    fn expect128(&mut self, op: &str, got: u128, want: u128) {
        self.expect_sub(op, "lo", got as u64, want as u64);
        self.expect_sub(op, "hi", (got >> 64) as u64, (want >> 64) as u64);
    }
    fn expect128_at(&mut self, op: &str, of: usize, got: u128, want: u128) {
        for (what, shift) in [("lo", 0), ("hi", 64)] {
            if (got >> shift) as u64 != (want >> shift) as u64 {
                self.fail(op, Some(what), Some(of as u64), (got >> shift) as u64, (want >> shift) as u64);
            }
        }
    }
    fn bytes(&mut self, op: &str, got: *const u8, want: &[u8]) {
        for (i, w) in want.iter().enumerate() {
            let g = unsafe { core::ptr::read_volatile(got.add(i)) };
            if g != *w {
                self.fail(op, None, Some(i as u64), g as u64, *w as u64);
                return;
            }
        }
    }
    fn end(self) {
        let mut l = Line::new();
        l.s("cpu=");
        l.dec(self.cpu as u64);
        l.s(" var=");
        l.s(self.var);
        l.s(" check=");
        l.s(self.check);
        if self.failed == 0 {
            l.s(" ok");
        } else {
            l.s(" FAIL ");
            l.s(unsafe { core::str::from_utf8_unchecked(&self.detail.buf[..self.detail.n]) });
            if self.failed > 1 {
                l.s(" failures=");
                l.dec(self.failed as u64);
            }
            FAILS[self.cpu].fetch_add(1, Ordering::SeqCst);
        }
        CHECKS[self.cpu].fetch_add(1, Ordering::SeqCst);
        l.emit();
        PROGRESS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The architecture's counter (a clock for timeouts) and its ticks per millisecond.
#[inline(always)]
fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        let lo: u32;
        let hi: u32;
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack));
        ((hi as u64) << 32) | lo as u64
    }
    #[cfg(target_arch = "aarch64")]
    unsafe {
        let v: u64;
        core::arch::asm!("isb", "mrs {0}, cntvct_el0", out(reg) v, options(nomem, nostack));
        v
    }
    #[cfg(target_arch = "riscv64")]
    unsafe {
        let v: u64;
        core::arch::asm!("rdtime {0}", out(reg) v, options(nomem, nostack));
        v
    }
    #[cfg(target_arch = "loongarch64")]
    unsafe {
        let v: u64;
        core::arch::asm!("rdtime.d {0}, {1}", out(reg) v, out(reg) _, options(nomem, nostack));
        v
    }
}

fn ticks_per_ms() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        2_000_000 // TCG reads the host TSC: assume 2 GHz
    }
    #[cfg(target_arch = "aarch64")]
    {
        let f: u64;
        unsafe { core::arch::asm!("mrs {0}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
        if f >= 1000 { f / 1000 } else { 62_500 }
    }
    #[cfg(target_arch = "riscv64")]
    {
        10_000 // virt: timebase 10 MHz
    }
    #[cfg(target_arch = "loongarch64")]
    {
        100_000 // virt: 100 MHz stable counter
    }
}

/// Each id is used once: a counter reaching CPUS releases it; times out only when no CPU makes progress.
fn barrier(cpu: usize, id: usize, name: &str) {
    BARRIERS[id].fetch_add(1, Ordering::SeqCst);
    PROGRESS.fetch_add(1, Ordering::Relaxed);
    let mut start = now();
    let limit = ticks_per_ms() * TIMEOUT_MS;
    let mut seen = PROGRESS.load(Ordering::Relaxed);
    let mut spin = 0u64;
    loop {
        let n = BARRIERS[id].load(Ordering::SeqCst);
        if n as usize >= CPUS {
            return;
        }
        let p = PROGRESS.load(Ordering::Relaxed);
        if p != seen {
            seen = p;
            start = now();
        }
        spin += 1;
        if now().wrapping_sub(start) >= limit || spin >= SPIN_LIMIT {
            let mut l = Line::new();
            l.s("cpu=");
            l.dec(cpu as u64);
            l.s(" var=- check=barrier FAIL at=");
            l.s(name);
            l.s(" arrived=");
            l.dec(n as u64);
            l.s(" expected=");
            l.dec(CPUS as u64);
            l.emit();
            fatal();
        }
    }
}

/// Guard-hook accounting per CPU (slot CPUS: calls from no known CPU).
#[derive(Clone, Copy)]
struct Hooks {
    pd: u64,
    pe: u64,
    is: u64,
    ir: u64,
    depth: i64,
    irq_depth: i64,
    err: u64,
    pad: u64,
}

static mut HOOKS: [Hooks; CPUS + 1] = [Hooks { pd: 0, pe: 0, is: 0, ir: 0, depth: 0, irq_depth: 0, err: 0, pad: 0 }; CPUS + 1];

fn hook_slot(i: usize) -> &'static mut Hooks {
    unsafe { &mut *(&raw mut HOOKS).cast::<Hooks>().add(i) }
}

/// The calling CPU's hook slot, from the per-CPU register.
fn hooks_here() -> &'static mut Hooks {
    let reg = percpu::read_percpu_reg();
    let base = percpu::percpu_area_base(0);
    let ok = reg >= base && (reg - base) % STRIDE == 0 && (reg - base) / STRIDE < CPUS;
    hook_slot(if ok { (reg - base) / STRIDE } else { CPUS })
}

#[unsafe(no_mangle)]
pub extern "C" fn percpu_preempt_disable() {
    let h = hooks_here();
    h.pd += 1;
    h.depth += 1;
}

#[unsafe(no_mangle)]
pub extern "C" fn percpu_preempt_enable() {
    let h = hooks_here();
    h.pe += 1;
    if h.depth <= 0 {
        h.err |= 1;
    }
    if h.irq_depth > 0 {
        h.err |= 8;
    }
    h.depth -= 1;
}

#[unsafe(no_mangle)]
pub extern "C" fn percpu_irq_save() -> usize {
    let h = hooks_here();
    h.is += 1;
    if PREEMPT && h.depth <= 0 {
        h.err |= 4;
    }
    h.irq_depth += 1;
    0xF1A6_0000 + h.irq_depth as usize
}

#[unsafe(no_mangle)]
pub extern "C" fn percpu_irq_restore(flags: usize) {
    let h = hooks_here();
    h.ir += 1;
    if flags != 0xF1A6_0000 + h.irq_depth as usize {
        h.err |= 2;
    }
    h.irq_depth -= 1;
}

fn hooks_take(cpu: usize) -> Hooks {
    *hook_slot(cpu)
}

/// use: 0 never, 1 may, 2 must call the hooks (when a guard feature is on).
fn hooks_check(k: &mut Chk, cpu: usize, s: &Hooks, op: &str, usage: u32) {
    let h = *hook_slot(cpu);
    let (pd, pe, is, ir) = (h.pd - s.pd, h.pe - s.pe, h.is - s.is, h.ir - s.ir);
    if usage == 0 || (!PREEMPT && !IRQ) {
        k.expect_sub(op, "hook_calls", pd + pe + is + ir, 0);
    }
    if !PREEMPT {
        k.expect_sub(op, "preempt_calls", pd + pe, 0);
    }
    if !IRQ {
        k.expect_sub(op, "irq_calls", is + ir, 0);
    }
    k.expect_sub(op, "preempt_balance", pd, pe);
    k.expect_sub(op, "irq_balance", is, ir);
    k.expect_sub(op, "preempt_depth", h.depth as u64, 0);
    k.expect_sub(op, "irq_depth", h.irq_depth as u64, 0);
    k.expect_sub(op, "nesting_errors", h.err, 0);
    if usage == 2 && PREEMPT {
        k.expect_sub(op, "preempt_guard_taken", (pd != 0) as u64, 1);
    }
    if usage == 2 && IRQ {
        k.expect_sub(op, "irq_guard_taken", (is != 0) as u64, 1);
    }
}

fn hooks_total(cpu: usize) {
    let mut k = Chk::new(cpu, "-", "hooks");
    let h = *hook_slot(cpu);
    k.expect("preempt_balance", h.pd, h.pe);
    k.expect("irq_balance", h.is, h.ir);
    k.expect("preempt_depth", h.depth as u64, 0);
    k.expect("irq_depth", h.irq_depth as u64, 0);
    k.expect("nesting_errors", h.err, 0);
    let unknown = *hook_slot(CPUS);
    k.expect("unknown_cpu_calls", unknown.pd + unknown.is, 0);
    if !PREEMPT {
        k.expect("preempt_calls", h.pd, 0);
    }
    if !IRQ {
        k.expect("irq_calls", h.is, 0);
    }
    k.end();
}

fn b_bool(v: bool) -> u64 { v as u64 }
fn v_bool(b: u64) -> bool { b != 0 }
fn b_f32(v: f32) -> u64 { v.to_bits() as u64 }
fn v_f32(b: u64) -> f32 { f32::from_bits(b as u32) }
fn b_f64(v: f64) -> u64 { v.to_bits() }
fn v_f64(b: u64) -> f64 { f64::from_bits(b) }
fn b_u8(v: u8) -> u64 { v as u64 }
fn v_u8(b: u64) -> u8 { b as u8 }
fn b_u16(v: u16) -> u64 { v as u64 }
fn v_u16(b: u64) -> u16 { b as u16 }
fn b_u32(v: u32) -> u64 { v as u64 }
fn v_u32(b: u64) -> u32 { b as u32 }
fn b_u64(v: u64) -> u64 { v }
fn v_u64(b: u64) -> u64 { b }
fn b_usize(v: usize) -> u64 { v as u64 }
fn v_usize(b: u64) -> usize { b as usize }
fn b_i8(v: i8) -> u64 { v as u8 as u64 }
fn v_i8(b: u64) -> i8 { b as u8 as i8 }
fn b_i16(v: i16) -> u64 { v as u16 as u64 }
fn v_i16(b: u64) -> i16 { b as u16 as i16 }
fn b_i32(v: i32) -> u64 { v as u32 as u64 }
fn v_i32(b: u64) -> i32 { b as u32 as i32 }
fn b_i64(v: i64) -> u64 { v as u64 }
fn v_i64(b: u64) -> i64 { b as i64 }
fn b_isize(v: isize) -> u64 { v as u64 }
fn v_isize(b: u64) -> isize { b as isize }

fn area_start() -> usize {
    (&raw const _percpu_start) as usize
}
`;
}

/**
 * Generates the Rust firmware test program for a kernel-mode generator input
 * (the layout whose values it expects and the module it calls).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { rustFirmwareProgram } from "./rust_program.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * const input = generatorInput(sdk.layout("riscv64"), resolveConfig({ arch: "riscv64", cpus: 4, rust: true }));
 * const { source, expectedChecks } = rustFirmwareProgram(input);
 * // source defines fw_main; expectedChecks counts the lines of a passing run
 * ```
 */
export function rustFirmwareProgram(input: GenInput, options: RustProgramOptions = {}): RustFirmwareProgram {
  const cpus = input.config.cpus;
  const opts: Required<RustProgramOptions> = {
    hammer: options.hammer ?? 200,
    timeoutMs: options.timeoutMs ?? Math.max(3000, 750 * cpus),
  };
  const slots = collectSlots(input);
  const tables = new Tables();
  const t = (f: (cpu: number) => bigint): string => tables.of(Array.from({ length: cpus }, (_, c) => f(c)));
  const body: string[] = [];
  const fns: string[] = [];
  let checks = 0;
  let barrier = 1;
  // One function per check keeps every function small for the optimiser (one huge round costs rustc far more).
  const check = (name: string, what: string, inner: readonly string[]): void => {
    const fn = `check_${checks++}`;
    fns.push(`#[inline(never)]\nfn ${fn}(cpu: usize) {`, `    let mut k = Chk::new(cpu, ${str(name)}, ${str(what)});`, ...inner.map((l) => `    ${l}`), "    k.end();", "}");
    body.push(`    ${fn}(cpu);`);
  };
  const raw = (...lines: string[]): void => {
    body.push(...lines.map((l) => `    ${l}`));
  };
  const sync = (name: string): void => raw(`barrier(cpu, ${barrier++}, ${str(name)});`);
  const ints = slots.filter((s) => isInteger(s.leaf.scalar));
  const hooked = (op: string, usage: number, what: string): string[] => [
    "let hs = hooks_take(cpu);",
    what,
    `hooks_check(&mut k, cpu, &hs, ${str(op)}, ${usage});`,
  ];
  const usage = (op: LeafOp | "reset_to_init", slot?: Slot): number => {
    if (slot !== undefined && op !== "reset_to_init") {
      const exact = rmwGuardExpected(input, slot, op);
      if (exact !== null) return exact ? 2 : 0;
    }
    const u = guardUse(input, op);
    return u === "never" ? 0 : u === "may" ? 1 : 2;
  };
  const inits = input.vars.map((v) => `static INIT_${v.layout.name}: [u8; ${v.layout.size}] = [${Array.from(v.layout.init).join(", ")}];`);

  // 1. guard hooks first, every op once with operands that leave the value unchanged
  for (const v of input.vars) {
    const n = `percpu::${v.layout.name}`;
    check(v.layout.name, "hooks", [
      ...hooked("current_ptr", 0, `let _ = unsafe { ${n}.current_ptr() };`),
      ...hooked("remote_ptr", 0, `let _ = unsafe { ${n}.remote_ptr(cpu) };`),
      // with_current runs the caller's closure on the current copy: always guarded.
      ...hooked("with_current", 2, `let p = ${n}.with_current(|v| v as *mut _ as usize);`),
      `k.expect("with_current", p as u64, unsafe { ${n}.current_ptr() } as usize as u64);`,
      ...hooked("reset_to_init", usage("reset_to_init"), `${n}.reset_to_init();`),
      `k.bytes("reset_to_init", unsafe { ${n}.current_ptr() }.cast::<u8>(), &INIT_${v.layout.name});`,
    ]);
  }
  for (const s of slots) {
    const inner = [`let r = ${bits(s, call(s, "read_current_raw"))};`];
    for (const op of leafOps(s.leaf.scalar)) {
      const spec = LEAF_OP_SPECS[op];
      const operand = spec.identity === "zero" ? "0" : spec.identity === "ones" ? lit(s.mask) : "r";
      if (spec.returns === "ok") {
        // try_cmpxchg with the current value: succeeds, leaves the value and `*expected` as they are.
        const invoked = call(s, op, { values: ["&mut e", value(s, "r")] });
        inner.push(...hooked(op, usage(op, s), `let mut e = ${value(s, "r")}; let ok = ${invoked}; k.expect(${str(`${op}/ok`)}, ok as u64, 1); k.expect(${str(`${op}/expected`)}, ${bits(s, "e")}, r);`));
        continue;
      }
      // Ops that change the value whatever the operand (inc, dec, the _return ops) are watched in the ops phase: here
      // another CPU may read this value remotely at any time.
      if (changesValue(op)) continue;
      const invoked = call(s, op, { values: spec.values.map(() => value(s, operand)) });
      inner.push(...hooked(op, usage(op, s), spec.returns === "value" ? `k.expect(${str(op)}, ${bits(s, invoked)}, r);` : `${invoked};`));
    }
    inner.push(`k.expect("unchanged", ${bits(s, call(s, "read_current_raw"))}, r);`);
    check(s.name, "hooks", inner);
  }

  // 2. initial values, offsets and pointers (the seed's per-variable API)
  for (const v of input.vars) {
    const n = `percpu::${v.layout.name}`;
    const off = v.layout.offset;
    check(v.layout.name, "init", [
      `k.expect("offset", ${n}.offset() as u64, ${off});`,
      `k.expect("symbol_vma", ${n}.symbol_vma() as u64, ${off});`,
      `k.expect("current_ptr", (unsafe { ${n}.current_ptr() } as usize - percpu::percpu_area_base(cpu)) as u64, ${off});`,
      `k.expect("current_ref_raw", unsafe { ${n}.current_ref_raw() } as *const _ as usize as u64, unsafe { ${n}.current_ptr() } as usize as u64);`,
      `k.expect("current_ref_mut_raw", unsafe { ${n}.current_ref_mut_raw() } as *mut _ as usize as u64, unsafe { ${n}.current_ptr() } as usize as u64);`,
      "for c in 0..CPUS {",
      `    k.expect_at("remote_ptr", c, unsafe { ${n}.remote_ptr(c) } as usize as u64, (percpu::percpu_area_base(c) + ${off}) as u64);`,
      `    k.expect_at("remote_ref_raw", c, unsafe { ${n}.remote_ref_raw(c) } as *const _ as usize as u64, (percpu::percpu_area_base(c) + ${off}) as u64);`,
      `    k.expect_at("remote_ref_mut_raw", c, unsafe { ${n}.remote_ref_mut_raw(c) } as *mut _ as usize as u64, (percpu::percpu_area_base(c) + ${off}) as u64);`,
      "}",
      `k.bytes("bytes", unsafe { ${n}.current_ptr() }.cast::<u8>(), &INIT_${v.layout.name});`,
    ]);
  }
  for (const s of slots) {
    check(s.name, "init", [
      `k.expect("read_current_raw", ${bits(s, call(s, "read_current_raw"))}, ${lit(s.init)});`,
      `k.expect("read_current", ${bits(s, call(s, "read_current"))}, ${lit(s.init)});`,
      `for c in 0..CPUS { k.expect_at("remote_read", c, ${bits(s, call(s, "remote_read", { cpu: "c" }))}, ${lit(s.init)}); }`,
    ]);
  }
  sync("init");

  // 3. CPU-specific writes read back
  for (const s of slots) {
    const w1 = t((c) => pattern(s, c, 1));
    const w2 = t((c) => pattern(s, c, 2));
    check(s.name, "write", [
      `${call(s, "write_current", { values: [value(s, `${w1}[cpu]`)] })};`,
      `k.expect("read_current", ${bits(s, call(s, "read_current"))}, ${w1}[cpu]);`,
      `k.expect("read_current_raw", ${bits(s, call(s, "read_current_raw"))}, ${w1}[cpu]);`,
      `${call(s, "write_current_raw", { values: [value(s, `${w2}[cpu]`)] })};`,
      `k.expect("read_current_raw", ${bits(s, call(s, "read_current_raw"))}, ${w2}[cpu]);`,
      `k.expect("read_current", ${bits(s, call(s, "read_current"))}, ${w2}[cpu]);`,
    ]);
  }
  sync("write");

  // 4. every CPU reads every CPU's value
  for (const s of slots) {
    const w2 = t((c) => pattern(s, c, 2));
    check(s.name, "remote", [`for c in 0..CPUS { k.expect_at("remote_read", c, ${bits(s, call(s, "remote_read", { cpu: "c" }))}, ${w2}[c]); }`]);
  }
  sync("remote");

  // 5. each CPU writes the next CPU's value; each checks what the previous one wrote
  for (const s of slots) {
    raw(`${call(s, "remote_write", { cpu: "(cpu + 1) % CPUS", values: [value(s, `${t((c) => pattern(s, c, 3))}[cpu]`)] })};`);
  }
  sync("remote_write");
  for (const s of slots) {
    const w3 = t((c) => pattern(s, c, 3));
    check(s.name, "remote_write", [
      `k.expect("read_current", ${bits(s, call(s, "read_current"))}, ${w3}[(cpu + CPUS - 1) % CPUS]);`,
      `k.expect("remote_read", ${bits(s, call(s, "remote_read"))}, ${w3}[(cpu + CPUS - 1) % CPUS]);`,
    ]);
  }

  // 6. read-modify-write semantics: every integer op of the catalog twice (a fresh operand, then the
  // current value, which makes compare-style ops hit); expected values from the catalog's models
  const covered = new Set<string>();
  for (const s of ints) {
    const steps: string[] = [];
    const plan = rmwCheckPlan(s, cpus);
    steps.push(`${call(s, "write_current", { values: [value(s, `${t((c) => plan.initial[c]!)}[cpu]`)] })};`);
    for (const { op, tag, operands, outcomes } of plan.steps) {
      const spec = LEAF_OP_SPECS[op];
      const args = operands.map((o) => value(s, `${t((c) => o[c]!)}[cpu]`));
      // The hooks of every op, here too (the ones that change the value whatever the operand only here).
      const watched = (line: string): string[] => hooked(op, usage(op, s), line);
      if (spec.returns === "ok") {
        // try_cmpxchg: the bool, and `*expected` (unchanged on success, the value found on failure).
        const invoked = call(s, op, { cpu: "cpu", values: ["&mut e", ...args.slice(1)] });
        steps.push(
          `let mut e = ${args[0]};`,
          ...watched(`let ok = ${invoked};`),
          `k.expect(${str(`${tag}/ok`)}, ok as u64, ${t((c) => (outcomes[c]!.ok ? 1n : 0n))}[cpu]);`,
          `k.expect(${str(`${tag}/expected`)}, ${bits(s, "e")}, ${t((c) => outcomes[c]!.result!)}[cpu]);`,
        );
        for (const o of outcomes) covered.add(`${op}/${o.ok ? "hit" : "miss"}`);
      } else if (spec.returns === "value") {
        steps.push(...watched(`let got = ${bits(s, call(s, op, { cpu: "cpu", values: args }))};`));
        steps.push(`k.expect(${str(`${tag}/returned`)}, got, ${t((c) => outcomes[c]!.result!)}[cpu]);`);
      } else steps.push(...watched(`${call(s, op, { cpu: "cpu", values: args })};`));
      covered.add(op);
      steps.push(`k.expect(${str(tag)}, ${bits(s, call(s, "read_current"))}, ${t((c) => outcomes[c]!.value)}[cpu]);`);
    }
    check(s.name, "ops", steps);
  }
  // Coverage: every RMW op of the catalog ran on every integer slot, try_cmpxchg both hitting and missing.
  if (ints.length > 0) {
    const missing = [...RMW_CHECK_OPS, "try_cmpxchg_current/hit", "try_cmpxchg_current/miss"].filter((op) => !covered.has(op));
    if (missing.length > 0) throw new Error(`Rust firmware program: no check of ${missing.join(", ")}`);
  }

  // 7. all CPUs hammer add_current at once, then remote_add on the next CPU's copy: exact results
  if (ints.length > 0) {
    for (const s of ints) raw(`${call(s, "write_current", { values: [value(s, "0")] })};`);
    sync("add_start");
    raw("for _ in 0..HAMMER {", ...ints.map((s) => `    ${call(s, "add_current", { values: [value(s, "cpu as u64 + 1")] })};`), "}");
    sync("add");
    for (const s of ints) {
      const own = t((c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask);
      const total = Array.from({ length: cpus }, (_, c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask).reduce((x, y) => (x + y) & M64, 0n);
      check(s.name, "add", [
        `k.expect("own", ${bits(s, call(s, "read_current"))}, ${own}[cpu]);`,
        "let mut sum = 0u64;",
        `for c in 0..CPUS { sum = sum.wrapping_add(${bits(s, call(s, "remote_read", { cpu: "c" }))}); }`,
        `k.expect("sum", sum, ${lit(total)});`,
      ]);
    }
    sync("add_checked");
    for (const s of ints) raw(`${call(s, "write_current", { values: [value(s, "0")] })};`);
    sync("radd_start");
    raw(
      "for _ in 0..HAMMER {",
      ...ints.map((s) => `    ${call(s, "remote_add", { cpu: "(cpu + 1) % CPUS", values: [value(s, "cpu as u64 + 1")] })};`),
      ...ints.filter((s) => s.leaf.atomic).map((s) => `    ${call(s, "add_current", { values: [value(s, "1")] })};`),
      "}",
    );
    sync("radd");
    for (const s of ints) {
      const own = t((c) => ((BigInt((c + cpus - 1) % cpus + 1) + (s.leaf.atomic ? 1n : 0n)) * BigInt(opts.hammer)) & s.mask);
      check(s.name, "remote_add", [`k.expect("own", ${bits(s, call(s, "read_current"))}, ${own}[cpu]);`]);
    }
    sync("radd_checked");
  }

  // 8. u128 leaves, the C firmware's plan (_program_values.ts u128CheckPlan): write and read back guarded and raw,
  // cmpxchg128 hit and misses by either half, then every CPU's final value read remotely. The hooks of each op as the
  // arch's percpu.S functions take them: never on x86_64 (cmpxchg16b %gs:), always for the current-CPU ops elsewhere.
  const wide = u128CheckPlan(input);
  const u128Usage = (op: LeafOp): number => (input.config.arch === "x86_64" || LEAF_OP_SPECS[op].guard === "never" ? 0 : 2);
  const w = (values: readonly bigint[]): string => `${tables.of(values, "u128")}[cpu]`;
  for (const plan of wide) {
    const at: Site = { leaf: plan.leaf, idx: plan.leaf.indices.map(() => 0) };
    const u128 = (op: LeafOp, what: string): string[] => hooked(op, u128Usage(op), what);
    check(plan.leaf.symbol, "u128-ops", [
      ...u128("write_current", `${call(at, "write_current", { values: [w(plan.written)] })};`),
      ...u128("read_current", `k.expect128("read", ${call(at, "read_current")}, ${w(plan.written)});`),
      ...u128("read_current_raw", `k.expect128("read_raw", ${call(at, "read_current_raw")}, ${w(plan.written)});`),
      ...plan.steps.flatMap((step) => [
        ...u128("cmpxchg128_current", `let got = ${call(at, "cmpxchg128_current", { values: [w(step.expected), w(step.desired)] })};`),
        `k.expect128(${str(`${step.tag}_result`)}, got, ${w(step.result)});`,
        `k.expect128(${str(`${step.tag}_value`)}, ${call(at, "read_current")}, ${w(step.value)});`,
      ]),
    ]);
  }
  if (wide.length > 0) {
    sync("u128-written");
    for (const plan of wide) {
      const at: Site = { leaf: plan.leaf, idx: plan.leaf.indices.map(() => 0) };
      check(plan.leaf.symbol, "u128-remote", [
        `for c in 0..CPUS { k.expect128_at("remote_read", c, ${call(at, "remote_read", { cpu: "c" })}, ${tables.of(plan.final, "u128")}[c]); }`,
      ]);
    }
    sync("u128-remote");
  }

  // 9. reset_to_init restores the initial bytes on every CPU
  for (const v of input.vars) raw(`percpu::${v.layout.name}.reset_to_init();`);
  sync("reset");
  for (const v of input.vars) {
    const n = `percpu::${v.layout.name}`;
    check(v.layout.name, "reset", [
      `k.bytes("bytes", unsafe { ${n}.current_ptr() }.cast::<u8>(), &INIT_${v.layout.name});`,
      `for c in 0..CPUS { k.bytes("remote_bytes", unsafe { ${n}.remote_ptr(c) }.cast::<u8>(), &INIT_${v.layout.name}); }`,
    ]);
  }
  for (const s of slots) {
    check(s.name, "reset", [
      `k.expect("read_current", ${bits(s, call(s, "read_current"))}, ${lit(s.init)});`,
      `for c in 0..CPUS { k.expect_at("remote_read", c, ${bits(s, call(s, "remote_read", { cpu: "c" }))}, ${lit(s.init)}); }`,
    ]);
  }
  sync("round");
  if (barrier > 63) throw new Error(`the Rust firmware program uses ${barrier} barriers, at most 63 fit`);

  const selfCheck = input.layout.selfPointerOffset !== null
    ? [`k.expect("self_pointer", unsafe { core::ptr::read_volatile((percpu::percpu_area_base(cpu) + ${input.layout.selfPointerOffset}) as *const usize) } as u64, percpu::percpu_area_base(cpu) as u64);`]
    : [];
  const program = `
${tables.defs.join("\n")}
${inits.join("\n")}

/// The seed's runtime API, on CPU 0 before the others start.
fn runtime_checks() {
    let mut k = Chk::new(0, "-", "runtime");
    let code = |r: Result<usize, percpu::InitError>| match r {
        Ok(n) => n as u64,
        Err(percpu::InitError::InvalidBase) => 0xE1,
        Err(percpu::InitError::UnalignedBase) => 0xE2,
    };
    k.expect("init_null", code(percpu::init(core::ptr::null_mut(), CPUS)), 0xE1);
    k.expect("init_unaligned", code(percpu::init((area_start() + 8) as *mut u8, CPUS)), 0xE2);
    k.expect("init_in_place", code(percpu::init_in_place()), CPUS as u64);
    k.expect("area_num", percpu::percpu_area_num() as u64, CPUS as u64);
    k.expect("area_size", percpu::percpu_area_size() as u64, AREA_SIZE as u64);
    k.expect("base_aligned", (percpu::percpu_area_base(0) % percpu::PERCPU_AREA_ALIGN) as u64, 0);
    let l = percpu::percpu_area_layout_expected(CPUS);
    k.expect("layout_size", l.size() as u64, (CPUS * STRIDE) as u64);
    k.expect("layout_align", l.align() as u64, percpu::PERCPU_AREA_ALIGN as u64);
    for c in 0..CPUS {
        k.expect_at("area_base", c, percpu::percpu_area_base(c) as u64, (area_start() + c * STRIDE) as u64);
    }
    k.end();
}

${fns.join("\n")}

fn round(cpu: usize) {
${body.join("\n")}
}

#[unsafe(no_mangle)]
pub extern "C" fn fw_main(cpu: usize) {
    if cpu == 0 {
        runtime_checks();
        for c in 1..CPUS {
            unsafe { fw_start_cpu(c) };
        }
        fw_release.store(1, Ordering::SeqCst);
    }
    {
        let mut k = Chk::new(cpu, "-", "reg");
        percpu::init_percpu_reg(cpu);
        k.expect("read_reg", percpu::read_percpu_reg() as u64, percpu::percpu_area_base(cpu) as u64);
${selfCheck.map((l) => `        ${l}`).join("\n")}
        unsafe { percpu::write_percpu_reg(percpu::percpu_area_base((cpu + 1) % CPUS)) };
        k.expect("write_reg", percpu::read_percpu_reg() as u64, percpu::percpu_area_base((cpu + 1) % CPUS) as u64);
        percpu::init_percpu_reg(cpu);
        k.expect("init_reg", percpu::read_percpu_reg() as u64, percpu::percpu_area_base(cpu) as u64);
        k.end();
    }
    barrier(cpu, 0, "start");
    round(cpu);
    hooks_total(cpu);
    barrier(cpu, 63, "end");
    if cpu == 0 && DONE.swap(1, Ordering::SeqCst) == 0 {
        result_and_exit();
    }
}
`;
  // Per CPU: reg, the round's checks, hooks total; plus CPU 0's runtime check.
  return { source: runtime(input, opts) + program, expectedChecks: (1 + checks + 1) * cpus + 1 };
}
