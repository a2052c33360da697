/**
 * The interrupt phase of the firmware test program (`checks_irq.c`, only when
 * `firmwareProgram(..., { irq })` asks for it): every CPU arms its periodic
 * timer (`firmware/_irq_platforms.ts`) and runs a loop of read-modify-write
 * ops on every integer leaf of the layout, while its timer handler does
 * read-modify-write ops on the same leaves of the same CPU (add, sub, inc,
 * dec, the `_return` ops, a try_cmpxchg retry loop in the loop and a cmpxchg
 * in the handler; u128 leaves a cmpxchg128 retry loop and a cmpxchg128). With the timer
 * stopped each CPU checks every leaf is exactly `start + loops × MAIN_DELTA +
 * ticks × TICK_DELTA` (mod 2^bits; ticks counted by the handler) and that it
 * took at least `minTicks` interrupts. An op the interrupt splits between its
 * load and its store loses the handler's update: the total comes out short.
 *
 * Output: `cpu=N var=X check=irq ok|FAIL ...` per leaf and CPU,
 * `cpu=N var=- check=irq_ticks ok|FAIL` per CPU, and per CPU an info line
 * `irq: cpu=N var=- ticks=T` and `... loops=L` plus, for a leaf whose total is off,
 * `irq: cpu=N var=X lost=K` (K handler updates missing: the least K with
 * K × TICK_DELTA ≡ expected − got mod 2^bits).
 *
 * @module
 */
import type { GenInput, PlacedU128Leaf } from "../sdk/plan.ts";
import { type LeafOp, leafFunction } from "../sdk/symbols.ts";
import { IRQ_API_C } from "./_irq_platforms.ts";
import { leafCall } from "./_program_calls.ts";
import { collectSlots, hex, type Slot } from "./_program_values.ts";

/** Options of the interrupt phase. */
export interface IrqPhaseOptions {
  /** Iterations of the main loop per CPU (default 5000; up to 64 times as many until `1.5 × minTicks` interrupts came). */
  readonly loops?: number;
  /** Timer period in microseconds (default 50). */
  readonly periodUs?: number;
  /** Interrupts each CPU must take for the run to pass (default 100). */
  readonly minTicks?: number;
}

/** The ops of one main-loop iteration, with their operands: net +3 (mod 2^bits), +2 more from a try_cmpxchg loop. */
const MAIN_OPS: readonly (readonly [LeafOp, readonly string[]])[] = [
  ["add_current", ["3"]],
  ["inc_current", []],
  ["sub_current", ["1"]],
  ["add_return_current", ["2"]],
  ["dec_current", []],
  ["sub_return_current", ["1"]],
];
const MAIN_DELTA = 5n;
/** The handler's ops: net +6, +1 more from a cmpxchg (nothing can run between its read and the cmpxchg). */
const TICK_OPS: readonly (readonly [LeafOp, readonly string[]])[] = [
  ["add_current", ["4"]],
  ["inc_return_current", []],
  ["sub_current", ["2"]],
  ["inc_current", []],
  ["add_current", ["2"]],
];
/** Odd, so a count of lost handler updates is unique mod 2^bits. */
const TICK_DELTA = 7n;

/**
 * What the u128 leaves get per main-loop iteration and per tick, through a
 * cmpxchg128 retry loop in the loop (percpu.h's generic accessors) and one
 * cmpxchg128 in the handler (the percpu.S functions): both carry into the
 * high half, and the tick's low half is odd, so lost updates are counted as
 * for the smaller leaves.
 */
const MAIN_DELTA_U128 = (1n << 64n) + 5n;
const TICK_DELTA_U128 = (1n << 64n) + 7n;

/** The first barrier id of this phase (the counter/dynamic phases use 64..~80). */
const BARRIER_BASE = 94;

/** The C of the phase and how many check lines it prints (all CPUs). */
export interface IrqProgram {
  readonly text: string;
  readonly checks: number;
}

/** Integer scalar leaves (not bool or float) the phase updates. */
export function irqSlots(input: GenInput): Slot[] {
  return collectSlots(input).filter((s) => !["bool", "f32", "f64"].includes(s.leaf.scalar));
}

/** The u128 leaves the phase updates (plain ones: the 64-bit arches' u128 scalars and fields). */
export function irqU128Leaves(input: GenInput): PlacedU128Leaf[] {
  return input.vars.flatMap((v) => v.u128Leaves.filter((l) => l.indices.length === 0));
}

/** A u128 constant as C (`((unsigned __int128)hi << 64 | lo)`). */
function u128Literal(v: bigint): string {
  return `((unsigned __int128)${hex(v >> 64n)} << 64 | ${hex(v & ((1n << 64n) - 1n))})`;
}

/** `checks_irq.c`: `fw_irq_phase(cpu)` and the handler's `fw_irq_tick()`. */
export function irqPhaseC(input: GenInput, options: IrqPhaseOptions): IrqProgram {
  const loops = options.loops ?? 5000;
  const periodUs = options.periodUs ?? 50;
  const minTicks = options.minTicks ?? 100;
  const slots = irqSlots(input);
  const call = (s: Slot, [op, values]: readonly [LeafOp, readonly string[]]): string => `(void)${leafCall(s, op, { values })};`;
  const read = (s: Slot): string => `(uint64_t)${leafCall(s, "read_current")}`;
  // A retry loop adding 2 (bounded: an exhausted bound leaves the total short, which the check reports).
  const tryAdd = (s: Slot): string =>
    `{ ${s.leaf.cType} e = ${leafCall(s, "read_current")}; for (uint32_t n = 0; n < 1000000u && !${
      leafCall(s, "try_cmpxchg_current", { values: ["&e", `(${s.leaf.cType})(e + 2)`] })
    }; n++) {} }`;
  const cmpxchgAdd = (s: Slot): string =>
    `{ ${s.leaf.cType} o = ${leafCall(s, "read_current")}; (void)${leafCall(s, "cmpxchg_current", { values: ["o", `(${s.leaf.cType})(o + 1)`] })}; }`;
  const mask = (s: Slot): string => hex(s.mask);
  const wide = irqU128Leaves(input);
  const mainU128 = (l: PlacedU128Leaf): string =>
    `{ unsigned __int128 e = percpu_read_current(${l.symbol}); for (uint32_t n = 0; n < 1000000u; n++) { unsigned __int128 o = percpu_cmpxchg128_current(${l.symbol}, e, e + ${
      u128Literal(MAIN_DELTA_U128)
    }); if (o == e) break; e = o; } }`;
  const tickU128 = (l: PlacedU128Leaf): string =>
    `{ unsigned __int128 o = ${leafFunction(l, "read_current")}(); (void)${leafFunction(l, "cmpxchg128_current")}(o, o + ${u128Literal(TICK_DELTA_U128)}); }`;
  const perU128 = wide.map((l, i) => `  {
    fw_chk k;
    unsigned __int128 got = percpu_read_current(${l.symbol});
    unsigned __int128 want = start128[${i}] + (unsigned __int128)loops * ${u128Literal(MAIN_DELTA_U128)} + (unsigned __int128)ticks * ${u128Literal(TICK_DELTA_U128)};
    fw_chk_begin(&k, cpu, "${l.symbol}", "irq");
    fw_expect(&k, "total_lo", (uint64_t)got, (uint64_t)want);
    fw_expect(&k, "total_hi", (uint64_t)(got >> 64), (uint64_t)(want >> 64));
    fw_chk_end(&k);
    uint64_t lost = 0;
    for (uint64_t d = (uint64_t)(want - got); d != 0 && lost < 1000000u; d -= ${TICK_DELTA_U128 & ((1n << 64n) - 1n)}u) lost++;
    if (got != want) fw_info(cpu, "${l.symbol}", "lost", lost);
  }`);
  const perSlot = slots.map((s, i) => {
    return `  {
    fw_chk k;
    uint64_t got = ${read(s)} & ${mask(s)};
    uint64_t want = (start[${i}] + loops * ${MAIN_DELTA}u + ticks * ${TICK_DELTA}u) & ${mask(s)};
    fw_chk_begin(&k, cpu, "${s.name}", "irq");
    fw_expect(&k, "total", got, want);
    fw_chk_end(&k);
    /* Each lost handler update leaves the total ${TICK_DELTA} short (mod 2^${s.bits}). */
    uint64_t lost = 0;
    for (uint64_t d = (want - got) & ${mask(s)}; d != 0 && lost < 1000000u; d = (d - ${TICK_DELTA}u) & ${mask(s)}) lost++;
    if (got != want) fw_info(cpu, "${s.name}", "lost", lost);
  }`;
  });
  const text = `/* checks_irq.c: the timer-interrupt phase, generated by the percpu SDK. Do not edit. */
#include "fw.h"
#include "percpu.h"

${IRQ_API_C}void fw_irq_phase(uintptr_t cpu);
#define FW_IRQ_LOOPS ${loops}u
#define FW_IRQ_PERIOD_US ${periodUs}u
#define FW_IRQ_MIN_TICKS ${minTicks}u

/* Written only by each CPU's handler, read by the CPU once its timer is stopped. */
static volatile uint64_t fw_irq_ticks[FW_CPUS + 1];

static uintptr_t fw_irq_cpu(void) {
  uintptr_t reg = percpu_read_reg(), base = percpu_area_base(0);
  uintptr_t cpu = (reg - base) / PERCPU_STRIDE;
  return reg >= base && cpu < FW_CPUS ? cpu : FW_CPUS;
}

/* The timer handler: the same leaves as the interrupted loop, this CPU's copies. */
void fw_irq_tick(void) {
${slots.flatMap((s) => [...TICK_OPS.map((o) => `  ${call(s, o)}`), `  ${cmpxchgAdd(s)}`]).join("\n")}
${wide.map((l) => `  ${tickU128(l)}`).join("\n")}
  fw_irq_ticks[fw_irq_cpu()]++;
}

void fw_irq_phase(uintptr_t cpu) {
  uint64_t start[${Math.max(slots.length, 1)}];
${slots.map((s, i) => `  start[${i}] = ${read(s)};`).join("\n")}
${wide.length > 0 ? `  unsigned __int128 start128[${wide.length}];\n${wide.map((l, i) => `  start128[${i}] = percpu_read_current(${l.symbol});`).join("\n")}` : ""}
  fw_irq_setup(cpu);
  fw_barrier(cpu, ${BARRIER_BASE}, "irq-start");
  fw_irq_timer_start(FW_IRQ_PERIOD_US);
  /* At least FW_IRQ_LOOPS iterations, more (up to 64 times as many) until 1.5 times the minimum of interrupts came. */
  uint64_t loops = 0;
  for (; loops < FW_IRQ_LOOPS || (fw_irq_ticks[cpu] < FW_IRQ_MIN_TICKS + FW_IRQ_MIN_TICKS / 2u && loops < 64u * FW_IRQ_LOOPS); loops++) {
${slots.flatMap((s) => [...MAIN_OPS.map((o) => `    ${call(s, o)}`), `    ${tryAdd(s)}`]).join("\n")}
${wide.map((l) => `    ${mainU128(l)}`).join("\n")}
  }
  fw_irq_timer_stop();
  uint64_t ticks = fw_irq_ticks[cpu];
  fw_info(cpu, "-", "ticks", ticks);
  fw_info(cpu, "-", "loops", loops);
  {
    fw_chk k;
    fw_chk_begin(&k, cpu, "-", "irq_ticks");
    fw_expect(&k, "ticks_at_least_${minTicks}", ticks >= FW_IRQ_MIN_TICKS, 1);
    fw_expect(&k, "stray_ticks", fw_irq_ticks[FW_CPUS], 0);
    fw_chk_end(&k);
  }
${perSlot.join("\n")}
${perU128.join("\n")}
  fw_barrier(cpu, ${BARRIER_BASE + 1}, "irq-end");
}
`;
  return { text, checks: (slots.length + wide.length + 1) * input.config.cpus };
}
