/**
 * One round of the firmware test program's phases as C (`checks.c` or
 * `checks_generic.c`): guard hooks, initial values and pointers, writes,
 * remote reads, remote writes, read-modify-write ops from the catalog, the
 * concurrent `add_current` hammer and `reset_to_init`, separated by barriers.
 *
 * @module
 */
import { leafSignature } from "../arch/c_types.ts";
import type { GenInput } from "../sdk/plan.ts";
import { LEAF_OP_SPECS } from "../sdk/ops.ts";
import { type LeafOp, leafOps } from "../sdk/symbols.ts";
import { isInteger } from "../sdk/values.ts";
import { TARGET_INFO } from "../sdk/targets.ts";
import { bitsOf, guardUse, leafCall, valueOf, varOpCall } from "./_program_calls.ts";
import { cString, type Emitter, hex, M64, pattern, rmwCheckPlan, type Slot } from "./_program_values.ts";

/** One round of phases through either the extern accessors of `percpu.S` or the generic accessors of `percpu.h`. */
export function roundC(
  input: GenInput,
  slots: readonly Slot[],
  emitter: Emitter,
  opts: { inline: boolean; hammer: number; barrierBase: number },
): { text: string; checks: number } {
  const { inline, barrierBase } = opts;
  // The second round calls the generic percpu.h accessors (opts.inline keeps its 0.1 name).
  const call = (slot: Slot, op: LeafOp, args: { cpu?: string; values?: readonly string[] } = {}): string => leafCall(slot, op, args, inline);
  const varCall = (n: string, op: "current_ptr" | "remote_ptr" | "reset_to_init", cpu?: string): string => varOpCall(n, op, cpu, inline);
  const cpus = input.config.cpus;
  const suffix = inline ? "-generic" : "";
  let checks = 0;
  let barrier = barrierBase;
  const body: string[] = [];
  const ext: string[] = [];
  // The extern round prints one line per slot and check; the inline round one per variable and
  // check (consecutive slot blocks of a variable share a line), which halves the serial output.
  let pending: { name: string; check: string; inner: string[] } | null = null;
  const flush = (): void => {
    if (pending === null) return;
    checks++;
    body.push(
      "  {",
      "    fw_chk k;",
      `    fw_chk_begin(&k, cpu, ${cString(pending.name)}, "${pending.check}${suffix}");`,
      ...pending.inner.map((l) => `    ${l}`),
      "    fw_chk_end(&k);",
      "  }",
    );
    pending = null;
  };
  const line = (name: string, check: string, inner: readonly string[], varName = name): void => {
    const block = ["{", ...inner.map((l) => `  ${l}`), "}"];
    if (inline && pending !== null && pending.name === varName && pending.check === check) {
      pending.inner.push(...block);
      return;
    }
    flush();
    pending = { name: inline ? varName : name, check, inner: block };
  };
  const raw = (...lines: string[]): void => {
    flush();
    body.push(...lines);
  };
  const sync = (name: string): void => {
    raw(`  fw_barrier(cpu, ${barrier++}, "${name}${suffix}");`);
  };
  const t = (f: (cpu: number) => bigint): string => emitter.table(Array.from({ length: cpus }, (_, c) => f(c)));
  const ints = slots.filter((s) => isInteger(s.leaf.scalar));
  const pointerBytes = TARGET_INFO[input.layout.target].pointerBytes;

  // Wider views of narrow signed and bool reads: the ABI value must be sign-/zero-extended to 32 bits.
  const extView = (s: Slot, op: LeafOp): string | null => {
    if (inline || !["i8", "i16", "bool"].includes(s.leaf.scalar)) return null;
    const sig = leafSignature(s.leaf, op);
    const name = `fwx_${sig.name}`;
    const ret = s.leaf.scalar === "bool" ? "uint32_t" : "int32_t";
    const params = sig.params.length ? sig.params.map((p) => `${p.type} ${p.name}`).join(", ") : "void";
    ext.push(`${ret} ${name}(${params}) __asm__("${sig.name}");`);
    return name;
  };
  const extExpect = (s: Slot): string => {
    const narrow = s.leaf.scalar === "i8" ? "int8_t" : "int16_t";
    return s.leaf.scalar === "bool" ? hex(s.init) : `(uint64_t)(uint32_t)(int32_t)(${narrow})${hex(s.init)}`;
  };

  // 1. guard hooks first, so the first guarded call of each op is watched: every op once with a
  // neutral operand (values stay the initial ones); raw and remote ops never call a hook
  const hooked = (op: string, what: string, slot?: Slot): string[] => {
    const use = guardUse(input, op as LeafOp, slot === undefined ? undefined : slot.leaf.counter === true);
    return ["fw_hooks_take(cpu, &hs);", what, `fw_hooks_check(&k, cpu, &hs, "${op}", ${use === "never" ? 0 : use === "may" ? 1 : 2});`];
  };
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "hooks", [
      "fw_hook_snap hs;",
      ...hooked("current_ptr", `(void)${varCall(n, "current_ptr")};`),
      ...hooked("remote_ptr", `(void)${varCall(n, "remote_ptr", "cpu")};`),
      ...hooked("reset_to_init", `${varCall(n, "reset_to_init")};`),
      `fw_bytes_equal(&k, "reset_to_init", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    const inner = ["fw_hook_snap hs;", `uint64_t r = ${bitsOf(s, call(s, "read_current_raw"))};`];
    // Every op of the catalog once, with operands that leave the value as it is: the value itself
    // (writes, xchg, cmpxchg) or the op's identity (add 0, and all-ones); results must be r.
    for (const op of leafOps(s.leaf.scalar)) {
      const spec = LEAF_OP_SPECS[op];
      const operand = spec.identity === "zero" ? "0" : spec.identity === "ones" ? hex(s.mask) : "r";
      if (spec.returns === "ok") {
        // try_cmpxchg(&r, r): succeeds and leaves the value as it is.
        const invoked = call(s, op, { values: [`&e_`, valueOf(s, "r")] });
        inner.push(`{ ${s.leaf.cType} e_ = ${valueOf(s, "r")};`, ...hooked(op, `fw_expect(&k, "${op}", ${invoked}, 1);`, s), "}");
        continue;
      }
      // Ops that change the value whatever the operand (inc, add_return, ...) are watched in the ops phase instead:
      // here other CPUs read this CPU's values remotely, so they must stay the initial ones throughout.
      if (!keepsValue(op, s.mask)) continue;
      const invoked = call(s, op, { values: spec.values.map(() => valueOf(s, operand)) });
      inner.push(...hooked(op, spec.returns === "value" ? `fw_expect(&k, "${op}", ${bitsOf(s, invoked)}, r);` : `${invoked};`, s));
    }
    inner.push(`fw_expect(&k, "unchanged", ${bitsOf(s, call(s, "read_current_raw"))}, r);`);
    line(s.name, "hooks", inner, s.leaf.varName);
  }
  // 2. initial values and pointers
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "init", [
      `fw_expect(&k, "current_ptr", (uintptr_t)${varCall(n, "current_ptr")} - percpu_area_base(cpu), ${v.layout.offset}u);`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_ptr", c, (uintptr_t)${varCall(n, "remote_ptr", "c")}, percpu_area_base(c) + ${v.layout.offset}u);`,
      `fw_bytes_equal(&k, "bytes", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    const inner = [
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${hex(s.init)});`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${hex(s.init)});`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${hex(s.init)});`,
    ];
    for (const op of ["read_current_raw", "read_current", "remote_read"] as const) {
      const x = extView(s, op);
      if (x) inner.push(`fw_expect(&k, "${op}/ext32", (uint64_t)(uint32_t)${call(s, op, { cpu: "cpu" }).replace(/^[^(]+/, x)}, ${extExpect(s)});`);
    }
    line(s.name, "init", inner, s.leaf.varName);
  }

  sync("init");

  // 3. CPU-specific writes read back on the current CPU
  const w1 = (s: Slot) => t((c) => pattern(s, c, 1));
  const w2 = (s: Slot) => t((c) => pattern(s, c, 2));
  for (const s of slots) {
    line(s.name, "write", [
      `${call(s, "write_current", { values: [valueOf(s, `${w1(s)}[cpu]`)] })};`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w1(s)}[cpu]);`,
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${w1(s)}[cpu]);`,
      `${call(s, "write_current_raw", { values: [valueOf(s, `${w2(s)}[cpu]`)] })};`,
      `fw_expect(&k, "read_current_raw", ${bitsOf(s, call(s, "read_current_raw"))}, ${w2(s)}[cpu]);`,
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w2(s)}[cpu]);`,
    ], s.leaf.varName);
  }
  sync("write");

  // 4. every CPU reads every CPU's value
  for (const s of slots) {
    line(s.name, "remote", [
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${w2(s)}[c]);`,
    ], s.leaf.varName);
  }
  sync("remote");

  // 5. each CPU writes the next CPU's value; each checks what the previous CPU wrote
  const w3 = (s: Slot) => t((c) => pattern(s, c, 3));
  for (const s of slots) raw(`  ${call(s, "remote_write", { cpu: "(cpu + 1) % FW_CPUS", values: [valueOf(s, `${w3(s)}[cpu]`)] })};`);
  sync("remote_write");
  for (const s of slots) {
    line(s.name, "remote_write", [
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${w3(s)}[(cpu + FW_CPUS - 1) % FW_CPUS]);`,
      `fw_expect(&k, "remote_read", ${bitsOf(s, call(s, "remote_read"))}, ${w3(s)}[(cpu + FW_CPUS - 1) % FW_CPUS]);`,
    ], s.leaf.varName);
  }

  // 6. read-modify-write semantics on the current CPU: every integer op of the catalog in turn, twice
  // (first operand a fresh pattern, then the current value, which makes compare-style ops hit),
  // expected values from the catalog's model of the op
  for (const s of ints) {
    const steps: string[] = [];
    const plan = rmwCheckPlan(s, cpus);
    steps.push(`${call(s, "write_current", { values: [valueOf(s, `${t((c) => plan.initial[c]!)}[cpu]`)] })};`);
    for (const { op, tag, operands, outcomes } of plan.steps) {
      const spec = LEAF_OP_SPECS[op];
      const after = (): string => `fw_expect(&k, "${tag}", ${bitsOf(s, call(s, "read_current"))}, ${t((c) => outcomes[c]!.value)}[cpu]);`;
      if (spec.returns === "ok") {
        const [first, ...rest] = operands.map((o) => valueOf(s, `${t((c) => o[c]!)}[cpu]`));
        const invoked = call(s, op, { values: ["&e_", ...rest] });
        steps.push(
          `{ ${s.leaf.cType} e_ = ${first}; bool ok_ = ${invoked};`,
          `  fw_expect(&k, "${tag}/ok", ok_, ${t((c) => (outcomes[c]!.ok ? 1n : 0n))}[cpu]);`,
          `  fw_expect(&k, "${tag}/found", ${bitsOf(s, "e_")}, ${t((c) => outcomes[c]!.result!)}[cpu]); }`,
        );
        steps.push(after());
        continue;
      }
      const invoked = call(s, op, { values: operands.map((o) => valueOf(s, `${t((c) => o[c]!)}[cpu]`)) });
      const stmt = spec.returns === "value" ? `fw_expect(&k, "${tag}/returned", ${bitsOf(s, invoked)}, ${t((c) => outcomes[c]!.result!)}[cpu]);` : `${invoked};`;
      // The guard hooks of the ops the hooks phase cannot call without changing the value are watched here.
      steps.push(...(keepsValue(op, s.mask) ? [stmt] : ["{ fw_hook_snap hs;", ...hooked(op, stmt, s), "}"]));
      steps.push(after());
    }
    line(s.name, "ops", steps, s.leaf.varName);
  }

  // 6b. Linux's lib/percpu_test.c, ported: the wrap-around and sign cases of add/sub/inc/dec and the _return ops
  // on long, unsigned long, int and unsigned int (isize, usize, i32, u32; the first slot of each), each step
  // checked against the same arithmetic in native C and against the literal Linux expects.
  for (const s of linuxPercpuTestSlots(ints)) {
    line(s.name, "percpu_test", linuxPercpuTestSteps(s, call), s.leaf.varName);
  }

  // 7. all CPUs hammer add_current at once; per-CPU and summed results are exact
  if (ints.length > 0) {
    for (const s of ints) raw(`  ${call(s, "write_current", { values: [valueOf(s, "0")] })};`);
    sync("add_start");
    raw("  for (uint32_t n = 0; n < FW_HAMMER; n++) {", ...ints.map((s) => `    ${call(s, "add_current", { values: [valueOf(s, "cpu + 1")] })};`), "  }");
    sync("add");
    const ownAfter = (s: Slot) => t((c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask);
    for (const s of ints) {
      const total = Array.from({ length: cpus }, (_, c) => (BigInt(c + 1) * BigInt(opts.hammer)) & s.mask).reduce((x, y) => (x + y) & M64, 0n);
      line(s.name, "add", [
        `fw_expect(&k, "own", ${bitsOf(s, call(s, "read_current"))}, ${ownAfter(s)}[cpu]);`,
        "uint64_t sum = 0;",
        `for (uintptr_t c = 0; c < FW_CPUS; c++) sum += ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))};`,
        `fw_expect(&k, "sum", sum, ${hex(total)});`,
      ], s.leaf.varName);
    }
  }

  // 7b. every CPU hammers remote_add on the next CPU's copy at once (and, for atomic: true variables, add_current
  // on its own meanwhile): each copy ends exact. Remote RMW is atomic on the address everywhere except 64-bit
  // values on 32-bit targets (riscv32: plain load-op-store), which are left out.
  const remoteInts = ints.filter((s) => s.leaf.size <= pointerBytes);
  if (remoteInts.length > 0) {
    sync("add_checked");
    for (const s of remoteInts) raw(`  ${call(s, "write_current", { values: [valueOf(s, "0")] })};`);
    sync("radd_start");
    raw(
      "  for (uint32_t n = 0; n < FW_HAMMER; n++) {",
      ...remoteInts.map((s) => `    ${call(s, "remote_add", { cpu: "(cpu + 1) % FW_CPUS", values: [valueOf(s, "cpu + 1")] })};`),
      ...remoteInts.filter((s) => s.leaf.atomic).map((s) => `    ${call(s, "add_current", { values: [valueOf(s, "1")] })};`),
      "  }",
    );
    sync("radd");
    for (const s of remoteInts) {
      const own = t((c) => ((BigInt((c + cpus - 1) % cpus + 1) + (s.leaf.atomic ? 1n : 0n)) * BigInt(opts.hammer)) & s.mask);
      line(s.name, "remote_add", [`fw_expect(&k, "own", ${bitsOf(s, call(s, "read_current"))}, ${own}[cpu]);`], s.leaf.varName);
    }
  }

  // 8. reset_to_init restores the initial bytes on every CPU
  if (ints.length > 0) sync("add_checked2");
  for (const v of input.vars) raw(`  ${varCall(v.layout.name, "reset_to_init")};`);
  sync("reset");
  for (const v of input.vars) {
    const n = v.layout.name;
    line(n, "reset", [
      `fw_bytes_equal(&k, "bytes", ${varCall(n, "current_ptr")}, fw_init_${n}, ${v.layout.size}u);`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_bytes_equal(&k, "remote_bytes", ${varCall(n, "remote_ptr", "c")}, fw_init_${n}, ${v.layout.size}u);`,
    ]);
  }
  for (const s of slots) {
    line(s.name, "reset", [
      `fw_expect(&k, "read_current", ${bitsOf(s, call(s, "read_current"))}, ${hex(s.init)});`,
      `for (uintptr_t c = 0; c < FW_CPUS; c++) fw_expect_at(&k, "remote_read", c, ${bitsOf(s, call(s, "remote_read", { cpu: "c" }))}, ${hex(s.init)});`,
    ], s.leaf.varName);
  }
  sync("round");

  const name = inline ? "fw_round_generic" : "fw_round_extern";
  const text = `/* ${inline ? "checks_generic.c: the checks through the generic accessors of percpu.h" : "checks.c: the checks through the accessors of percpu.S"}, generated by the percpu SDK. Do not edit. */
#include "fw.h"
#include "percpu.h"

${input.vars.map((v) => `extern const uint8_t fw_init_${v.layout.name}[${v.layout.size}];`).join("\n")}
${[...new Set(emitter.tables.map((l) => l.replace(/ = .*$/, ";").replace(/^const/, "extern const")))].join("\n")}
${[...new Set(ext)].join("\n")}

void ${name}(uintptr_t cpu) {
${body.join("\n")}
}
`;
  return { text, checks };
}

/**
 * Whether an op called with the hooks phase's operands (its identity, or the value itself) leaves the value as
 * it is and, returning a value, returns it: true for the reads and writes, add 0, and all-ones, xchg and cmpxchg
 * of the value; false for inc, dec and the `_return` ops of the value (`add_return(r)` is `2r`).
 */
function keepsValue(op: LeafOp, mask: bigint): boolean {
  const spec = LEAF_OP_SPECS[op];
  if (spec.model === null || spec.returns === "ok") return true;
  const sample = 5n;
  const operand = spec.identity === "zero" ? 0n : spec.identity === "ones" ? mask : sample;
  const outcome = spec.model(sample, spec.values.map(() => operand), mask);
  return outcome.value === sample && (outcome.result === null || outcome.result === sample);
}

/** The scalar types of Linux's lib/percpu_test.c: long, unsigned long, int, unsigned int. */
const LINUX_TEST_TYPES = ["isize", "usize", "i32", "u32"] as const;

/** The first slot of each {@link LINUX_TEST_TYPES} type. */
function linuxPercpuTestSlots(ints: readonly Slot[]): Slot[] {
  return LINUX_TEST_TYPES.flatMap((t) => ints.find((s) => s.leaf.scalar === t) ?? []);
}

/**
 * The steps of lib/percpu_test.c for one slot of type T (U: the unsigned type of its width): each step updates
 * a native `n` as C does, runs the per-CPU op, and checks the per-CPU value (and the returned one) against `n`
 * and `n` against the literal the Linux test expects. `ui_one` is a volatile `unsigned int` 1, so `-ui_one`
 * is 0xffffffff: added to a 64-bit counter it adds 2^32 − 1, not −1 (the sign case the Linux test exists for).
 */
function linuxPercpuTestSteps(s: Slot, call: (slot: Slot, op: LeafOp, args?: { values?: readonly string[] }) => string): string[] {
  const T = s.leaf.cType;
  const U = `uint${s.bits}_t`;
  const bits = (e: string): string => bitsOf(s, e);
  const out = [`volatile unsigned int ui_one_v = 1; unsigned int ui_one = ui_one_v; ${T} n = 0, ret_ = 0; (void)ret_;`];
  const check = (tag: string, linux: string, returned: boolean): void => {
    out.push(`fw_expect(&k, "${tag}", ${bits(call(s, "read_current"))}, ${bits("n")});`);
    out.push(`fw_expect(&k, "${tag}/linux", ${bits("n")}, ${bits(`(${T})(${linux})`)});`);
    if (returned) out.push(`fw_expect(&k, "${tag}/returned", ${bits("ret_")}, ${bits("n")});`);
  };
  const reset = (): void => {
    out.push(`n = 0; ${call(s, "write_current", { values: ["0"] })};`);
  };
  // native: `n = n <op> x` computed in U (no signed overflow), as the per-CPU op wraps.
  const step = (tag: string, native: "+" | "-", x: string, op: LeafOp, values: readonly string[], linux: string): void => {
    out.push(`n = (${T})((${U})n ${native} (${U})(${x}));`);
    const invoked = call(s, op, { values: values.map((v) => `(${T})(${v})`) });
    const returned = LEAF_OP_SPECS[op].returns === "value";
    out.push(returned ? `ret_ = ${invoked};` : `${invoked};`);
    check(tag, linux, returned);
  };
  reset();
  step("add -1", "+", "-1", "add_current", ["-1"], "-1");
  step("add 1", "+", "1", "add_current", ["1"], "0");
  step("add -1UL", "+", "-1UL", "add_current", ["-1UL"], "-1");
  step("inc", "+", "1", "inc_current", [], "0");
  step("dec", "-", "1", "dec_current", [], "-1");
  out.push(`fw_expect(&k, "dec/max", ${bits("n")}, ${bits(s.leaf.scalar.startsWith("u") ? `(${T})~(${U})0` : `(${T})-1`)});`);
  reset();
  step("add -ui_one", "+", "-ui_one", "add_current", ["-ui_one"], "0xffffffffu");
  step("add ui_one", "+", "ui_one", "add_current", ["ui_one"], "0x100000000LL");
  reset();
  step("sub ui_one", "-", "ui_one", "sub_current", ["ui_one"], "-1");
  step("sub -ui_one", "-", "-ui_one", "sub_current", ["-ui_one"], "-0x100000000LL");
  reset();
  step("add_return ui_one", "+", "ui_one", "add_return_current", ["ui_one"], "1");
  step("sub_return ui_one", "-", "ui_one", "sub_return_current", ["ui_one"], "0");
  step("add_return -ui_one", "+", "-ui_one", "add_return_current", ["-ui_one"], "0xffffffffu");
  step("sub_return -ui_one", "-", "-ui_one", "sub_return_current", ["-ui_one"], "0");
  step("inc_return", "+", "1", "inc_return_current", [], "1");
  step("dec_return", "-", "1", "dec_return_current", [], "0");
  step("dec_return wraps", "-", "1", "dec_return_current", [], "-1");
  step("inc_return wraps", "+", "1", "inc_return_current", [], "0");
  // The largest value of T (signed: LONG_MAX/INT_MAX) plus one wraps to its smallest.
  const max = s.leaf.scalar.startsWith("u") ? `(${T})~(${U})0` : `(${T})(~(${U})0 >> 1)`;
  out.push(`n = ${max}; ${call(s, "write_current", { values: [max] })};`);
  step("inc_return max", "+", "1", "inc_return_current", [], s.leaf.scalar.startsWith("u") ? "0" : `(${T})((${U})1 << ${s.bits - 1})`);
  // try_cmpxchg: a retry loop from a stale expected value loses nothing; a mismatch reports the value found.
  out.push(
    `{ ${T} e_ = (${T})((${U})n + 7u); unsigned tries_ = 0; while (!${call(s, "try_cmpxchg_current", { values: ["&e_", `(${T})((${U})e_ + 1u)`] })}) tries_++;`,
    `  fw_expect(&k, "try_cmpxchg retries", tries_, 1); n = (${T})((${U})n + 1u); }`,
  );
  check("try_cmpxchg loop", `(${T})((${U})${max} + 2u)`, false);
  out.push(
    `{ ${T} e_ = (${T})((${U})n + 5u); bool ok_ = ${call(s, "try_cmpxchg_current", { values: ["&e_", "0"] })};`,
    `  fw_expect(&k, "try_cmpxchg miss", ok_, 0); fw_expect(&k, "try_cmpxchg miss/found", ${bits("e_")}, ${bits("n")}); }`,
  );
  check("try_cmpxchg miss", `(${T})((${U})${max} + 2u)`, false);
  return out;
}
