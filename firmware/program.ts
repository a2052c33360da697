/**
 * The firmware test program: freestanding C generated from the generator
 * input that checks every accessor of every variable on every CPU. Expected
 * values are computed here, in TypeScript, from the layout (initial bytes)
 * and from CPU-specific patterns, and embedded as constants; the C side only
 * calls the generated functions and compares.
 *
 * Every CPU runs the same rounds of phases separated by bounded barriers
 * (a missing CPU fails the run instead of hanging): runtime init and the
 * per-CPU register, initial values and pointers, guard hooks, writes and
 * read-back, remote reads and writes, read-modify-write semantics, a
 * concurrent `add_current` hammer with an exact sum, and `reset_to_init`.
 * One output line per check: `cpu=2 var=STATS.irqs check=remote ok` or
 * `... FAIL op=... got=0x.. expected=0x..`; CPU 0 ends with
 * `result: pass cpus=4 checks=N` (or `result: fail ...`) and exits 0 / 1.
 * A second round repeats the checks through the generic `percpu.h` accessors
 * (`check=remote-generic`, one line per variable and check).
 *
 * The parts live beside this entry: `_program_values.ts` (slots, value
 * patterns, expected-value tables), `_program_calls.ts` (how a check calls an
 * accessor), `_program_runtime.ts` (`fw.h` and the C runtime of `main.c`) and
 * `_program_round.ts` (the phases of one round). With per-CPU counters or a
 * dynamic region, `_program_runtime_ext.ts` adds their phases after the
 * rounds (`checks_runtime.c`). With the `irq` option, `_program_irq.ts` adds
 * the timer-interrupt phase (`checks_irq.c`; the image then links the arch's
 * interrupt entry and timer from `_irq_platforms.ts`).
 *
 * @module
 */
import type { GenInput } from "../sdk/plan.ts";
import { roundC } from "./_program_round.ts";
import { header, initArray, mainC } from "./_program_runtime.ts";
import { collectSlots, Emitter } from "./_program_values.ts";
import { runtimeExtC } from "./_program_runtime_ext.ts";
import { irqPhaseC, type IrqPhaseOptions } from "./_program_irq.ts";

export type { IrqPhaseOptions } from "./_program_irq.ts";

/** Options of {@link firmwareProgram}. */
export interface ProgramOptions {
  /** Also run every check a second time through the generic `percpu.h` accessors (`percpu_read_current(X)`, ...; default true). */
  readonly inline?: boolean;
  /** `add_current` calls per CPU and integer slot in the concurrent hammer (default 200). */
  readonly hammer?: number;
  /** Milliseconds a barrier waits while no CPU makes progress before the run fails (default 750 per CPU, at least 3000). */
  readonly timeoutMs?: number;
  /**
   * Add the timer-interrupt phase (`checks_irq.c`, `firmware/_program_irq.ts`): the image then also
   * links the arch's interrupt entry and timer driver (`irq.S`, `irq.c`), and with the `irq` feature
   * `percpu_irq_save`/`percpu_irq_restore` really mask interrupts. Off by default.
   */
  readonly irq?: IrqPhaseOptions;
}

/** The generated C sources and what the run must report. */
export interface FirmwareProgram {
  /** File name → C text: `fw.h`, `main.c`, `checks.c` and, with `inline`, `checks_generic.c` (with `irq`, `checks_irq.c`). */
  readonly files: Readonly<Record<string, string>>;
  /** Names of the C files to compile. */
  readonly sources: readonly string[];
  /** Check lines a complete run prints: every CPU's checks plus CPU 0's runtime checks. */
  readonly expectedChecks: number;
}

const DEFAULT_HAMMER = 200;
/**
 * Default barrier idle limit for `cpus` CPUs: 750 ms per CPU, at least 3 s.
 * Under TCG every vCPU spinning at a barrier takes host time from the ones
 * still working (measured on 2 host cores: x86_64 with 12 CPUs needs more than
 * 3 s; 12 pass with 9 s and 16 with 12 s).
 */
function defaultBarrierIdleMs(cpus: number): number {
  return Math.max(3000, 750 * cpus);
}

/**
 * Generates the firmware test program for a generator input (the layout whose
 * values it expects and the accessors it calls).
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { resolveConfig } from "../sdk/config.ts";
 * import { generatorInput } from "../sdk/plan.ts";
 * import { firmwareProgram } from "./program.ts";
 * const sdk = createPercpu();
 * sdk.define("HITS", u64, 0);
 * const input = generatorInput(sdk.layout("riscv64"), resolveConfig({ arch: "riscv64", cpus: 4 }));
 * const { files, expectedChecks } = firmwareProgram(input, { inline: false });
 * // files["main.c"] defines fw_main; expectedChecks counts the lines of a passing run
 * ```
 */
export function firmwareProgram(input: GenInput, options: ProgramOptions = {}): FirmwareProgram {
  const opts = {
    inline: options.inline ?? true,
    hammer: options.hammer ?? DEFAULT_HAMMER,
    timeoutMs: options.timeoutMs ?? defaultBarrierIdleMs(input.config.cpus),
  };
  const slots = collectSlots(input);
  const emitter = new Emitter();
  const extern = roundC(input, slots, emitter, { inline: false, hammer: opts.hammer, barrierBase: 1 });
  const inline = opts.inline ? roundC(input, slots, emitter, { inline: true, hammer: opts.hammer, barrierBase: 32 }) : null;
  const initTables = input.vars.map((v) => initArray(`fw_init_${v.layout.name}`, v.layout.init));
  // Counters and the dynamic allocator (firmware/_program_runtime_ext.ts): phases after the rounds, when the layout has them.
  const runtimeExt = runtimeExtC(input);
  const irq = options.irq ? irqPhaseC(input, options.irq) : null;
  const files: Record<string, string> = {
    "fw.h": header(input, { ...opts, irqTimer: irq !== null }),
    "main.c": mainC(input, emitter, initTables, inline !== null, runtimeExt !== null, irq !== null),
    "checks.c": extern.text,
  };
  if (inline) files["checks_generic.c"] = inline.text;
  if (runtimeExt) files["checks_runtime.c"] = runtimeExt.text;
  if (irq) files["checks_irq.c"] = irq.text;
  const perCpu = 1 + extern.checks + (inline?.checks ?? 0) + 1; // reg + rounds + hooks total
  return {
    files,
    sources: Object.keys(files).filter((f) => f.endsWith(".c")),
    expectedChecks: perCpu * input.config.cpus + 1 + (runtimeExt?.checks ?? 0) + (irq?.checks ?? 0), // + CPU 0's runtime check
  };
}
