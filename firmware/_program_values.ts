/**
 * Values of the firmware test program: the slots it checks (each leaf once,
 * indexed leaves at sampled index tuples, with their initial bits), the
 * CPU-specific value patterns written to them, and the deduplicated tables of
 * expected values embedded in the C text.
 *
 * @module
 */
import { INTEGER_OPS, LEAF_OP_SPECS, type RmwOutcome } from "../sdk/ops.ts";
import type { GenInput, PlacedLeaf, PlacedU128Leaf } from "../sdk/plan.ts";
import { formatPath, type PathSegment } from "../sdk/errors.ts";
import type { PercpuType } from "../sdk/types.ts";

/** One place the program checks: a leaf, or one sampled element of an indexed leaf. */
export interface Slot {
  readonly id: number;
  readonly leaf: PlacedLeaf;
  /** `STATS.irqs`, `BIG[69999]`. */
  readonly name: string;
  /** Index arguments (empty for a plain leaf). */
  readonly idx: readonly number[];
  /** Offset of the slot from the start of its variable. */
  readonly varOffset: number;
  readonly bits: number;
  readonly mask: bigint;
  /** Initial value as unsigned bits. */
  readonly init: bigint;
}

/** All 64 bits set: the mask of 64-bit sums. */
export const M64 = (1n << 64n) - 1n;
/** Most index tuples checked per indexed leaf (each dimension samples first, second, middle, last). */
const MAX_SAMPLES = 16;

/** A 64-bit mixing function (splitmix64 finaliser) for value patterns. */
function mix(a: number, b: number): bigint {
  let h = (BigInt(a) * 0x9E3779B97F4A7C15n + BigInt(b) * 0xC2B2AE3D27D4EB4Fn + 0x165667B19E3779F9n) & M64;
  h ^= h >> 30n;
  h = (h * 0xBF58476D1CE4E5B9n) & M64;
  h ^= h >> 27n;
  h = (h * 0x94D049BB133111EBn) & M64;
  return h ^ (h >> 31n);
}

/** The IEEE 754 bits of `value` as a 4- or 8-byte float. */
function floatBits(value: number, bytes: 4 | 8): bigint {
  const view = new DataView(new ArrayBuffer(8));
  if (bytes === 4) {
    view.setFloat32(0, value, true);
    return BigInt(view.getUint32(0, true));
  }
  view.setFloat64(0, value, true);
  return view.getBigUint64(0, true);
}

/**
 * A CPU-specific value for a slot as unsigned bits: integers differ per CPU,
 * alternate the sign bit and avoid the initial value; floats are exact.
 */
export function pattern(slot: Slot, cpu: number, phase: number): bigint {
  const s = slot.leaf.scalar;
  if (s === "bool") return BigInt((cpu + slot.id + phase) & 1);
  if (s === "f32") return floatBits(Math.fround((((slot.id % 97) * 8 + cpu + 1) + phase / 8) * (cpu % 2 ? -1.25 : 0.75)), 4);
  if (s === "f64") return floatBits(((slot.id + 1) * 1e10 + cpu * 0.1 + phase + 1 / 3) * (cpu % 2 ? -1 : 1), 8);
  const top = 1n << BigInt(slot.bits - 1);
  let v = (mix(slot.id, phase) + BigInt(cpu) * 0x9E3779B97F4A7C15n) & slot.mask;
  v = cpu % 2 === 0 ? v | top : v & ~top;
  if (v === slot.init) v ^= 2n;
  return v & slot.mask;
}

/** The integer ops the read-modify-write checks run: every integer op of the catalog that has a model. */
export const RMW_CHECK_OPS = INTEGER_OPS.filter((op) => LEAF_OP_SPECS[op].model !== null);

/** One step of the read-modify-write checks of a slot (see {@link rmwCheckPlan}). */
export interface RmwCheckStep {
  readonly op: (typeof RMW_CHECK_OPS)[number];
  /** The op's name, with `/current` when its first operand is the current value. */
  readonly tag: string;
  /** Per operand of the op, its value on every CPU. */
  readonly operands: readonly (readonly bigint[])[];
  /** On every CPU, what the catalog's model says the op leaves and returns. */
  readonly outcomes: readonly RmwOutcome[];
}

/**
 * The read-modify-write checks of an integer slot, the same for the C and
 * the Rust firmware: the value each CPU writes first, then every op of
 * {@link RMW_CHECK_OPS} twice (first operand a fresh pattern, then the
 * current value, which makes compare-style ops hit), each with its operands
 * and the outcome the catalog's model computes from the value the step
 * before left.
 */
export function rmwCheckPlan(slot: Slot, cpus: number): { readonly initial: readonly bigint[]; readonly steps: readonly RmwCheckStep[] } {
  let phase = 20;
  const fresh = (): bigint[] => {
    const ph = phase++;
    return Array.from({ length: cpus }, (_, c) => pattern(slot, c, ph));
  };
  const initial = fresh();
  let now = initial;
  const steps: RmwCheckStep[] = [];
  for (const op of RMW_CHECK_OPS) {
    const spec = LEAF_OP_SPECS[op];
    for (const firstIsCurrent of [false, true]) {
      const operands = spec.values.map((_, i) => (i === 0 && firstIsCurrent ? now : fresh()));
      const outcomes = now.map((old, c) => spec.model!(old, operands.map((o) => o[c]!), slot.mask));
      steps.push({ op, tag: `${op}${firstIsCurrent ? "/current" : ""}`, operands, outcomes });
      now = outcomes.map((o) => o.value);
    }
  }
  return { initial, steps };
}

/** All 128 bits set: the mask of u128 values. */
export const U128_MAX = (1n << 128n) - 1n;

/** A u128 pattern: CPU-specific, both halves non-zero, above 2^64. */
function u128Pattern(id: number, cpu: number, phase: number): bigint {
  const lo = BigInt.asUintN(64, 0x9E3779B97F4A7C15n * BigInt(id * 8 + cpu + 1) + BigInt(phase));
  const hi = BigInt.asUintN(64, 0xC2B2AE3D27D4EB4Fn * BigInt(cpu + 3) ^ BigInt(id + phase * 16)) | 1n;
  return (hi << 64n) | lo;
}

/** One `cmpxchg128_current` step of the u128 checks: per CPU its operands and what the catalog's model says. */
export interface U128Step {
  readonly tag: "hit" | "miss_high" | "miss_low";
  readonly expected: readonly bigint[];
  readonly desired: readonly bigint[];
  /** Per CPU: the old value the op returns. */
  readonly result: readonly bigint[];
  /** Per CPU: the value the op leaves. */
  readonly value: readonly bigint[];
}

/** The u128 checks of one leaf (element 0 of an indexed one), see {@link u128CheckPlan}. */
export interface U128CheckPlan {
  readonly leaf: PlacedU128Leaf;
  /** Per CPU: the pattern written with `write_current`, then read back guarded and raw. */
  readonly written: readonly bigint[];
  /** The hit, the miss by the high half only, the miss by the low half only. */
  readonly steps: readonly U128Step[];
  /** Per CPU: the value its copy is left with, which every CPU then reads remotely. */
  readonly final: readonly bigint[];
}

/**
 * The u128 checks of every u128 leaf, the same for the C and the Rust
 * firmware: each CPU writes a pattern of its own (above 2^64), then
 * `cmpxchg128_current` hits with a second pattern, misses by the high half
 * only and by the low half only (desired 2^128 − 1, then 0), each outcome
 * from the catalog's model.
 */
export function u128CheckPlan(input: GenInput): U128CheckPlan[] {
  const cpus = Array.from({ length: input.config.cpus }, (_, c) => c);
  const model = LEAF_OP_SPECS.cmpxchg128_current.model;
  return input.vars.flatMap((v) => v.u128Leaves).map((leaf, j) => {
    const written = cpus.map((c) => u128Pattern(j, c, 1));
    const hit = cpus.map((c) => u128Pattern(j, c, 2));
    let now = written;
    const operands = [
      ["hit", written, hit],
      ["miss_high", hit.map((p) => p ^ (1n << 64n)), cpus.map(() => U128_MAX)],
      ["miss_low", hit.map((p) => p ^ 1n), cpus.map(() => 0n)],
    ] as const;
    const steps = operands.map(([tag, expected, desired]): U128Step => {
      const out = cpus.map((c) => model(now[c]!, [expected[c]!, desired[c]!], U128_MAX));
      now = out.map((o) => o.value);
      return { tag, expected, desired, result: out.map((o) => o.result!), value: now };
    });
    return { leaf, written, steps, final: now };
  });
}

/** A C `unsigned long long` literal of `v` in hex (`0x2aull`). */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}ull`;
}

/** A C string literal of `s`. */
export function cString(s: string): string {
  return JSON.stringify(s);
}

/** Which indices of a dimension of `length` elements to sample. */
function sampleIndices(length: number): number[] {
  return [...new Set([0, 1, Math.floor(length / 2), length - 1])].filter((i) => i < length).sort((a, b) => a - b);
}

/** The path of a slot inside its variable, with the sampled indices of indexed dimensions in place. */
function slotPath(type: PercpuType, leaf: PlacedLeaf, idx: readonly number[]): PathSegment[] {
  const out: PathSegment[] = [];
  let t = type;
  let p = 0;
  let k = 0;
  for (;;) {
    if (t.kind === "aligned") {
      t = t.inner;
    } else if (t.kind === "array") {
      out.push(t.length > 16 ? idx[k++]! : leaf.path[p++]!);
      t = t.element;
    } else if (t.kind === "struct") {
      const f = leaf.path[p++] as string;
      out.push(f);
      t = t.fields[f]!;
    } else {
      return out;
    }
  }
}

/** `size` little-endian bytes at `offset` as unsigned bits (missing bytes read as 0). */
function readBits(bytes: Uint8Array, offset: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

/** The slots of every variable: each leaf once, indexed leaves at sampled index tuples. */
export function collectSlots(input: GenInput): Slot[] {
  const slots: Slot[] = [];
  for (const v of input.vars) {
    for (const leaf of v.leaves) {
      let tuples: number[][] = [[]];
      for (const dim of leaf.indices) tuples = tuples.flatMap((t) => sampleIndices(dim.length).map((i) => [...t, i]));
      for (const idx of tuples.slice(0, MAX_SAMPLES)) {
        const varOffset = leaf.offset + idx.reduce((sum, i, k) => sum + i * leaf.indices[k]!.stride, 0);
        const bits = leaf.size * 8;
        slots.push({
          id: slots.length,
          leaf,
          name: formatPath([v.layout.name, ...slotPath(v.layout.type, leaf, idx)]),
          idx,
          varOffset,
          bits,
          mask: (1n << BigInt(bits)) - 1n,
          init: readBits(v.layout.init, varOffset, leaf.size),
        });
      }
    }
  }
  return slots;
}

/** Emits C, collecting expected-value tables. */
export class Emitter {
  /** The table definitions, in the order they were first asked for. */
  readonly tables: string[] = [];
  readonly #tableNames = new Map<string, string>();

  /** Name of a `uint64_t[CPUS]` table holding `values` (deduplicated). */
  table(values: readonly bigint[]): string {
    const body = values.map(hex).join(", ");
    let name = this.#tableNames.get(body);
    if (!name) {
      name = `fw_t${this.#tableNames.size}`;
      this.#tableNames.set(body, name);
      this.tables.push(`const uint64_t ${name}[FW_CPUS] = {${body}};`);
    }
    return name;
  }
}
