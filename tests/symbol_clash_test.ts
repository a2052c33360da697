/**
 * The rules the cheap clash check of `define()` (sdk/symbols.ts `SymbolClashes`)
 * relies on, and a differential check against the plain rule: a variable is
 * rejected with `name_symbol_clash` exactly when one of its `varSymbols` is
 * reserved or was generated for an earlier variable, naming the first such symbol.
 */
import assert from "node:assert/strict";
import { array, createPercpu, PercpuError, type PercpuType, struct, u8 } from "../mod.ts";
import { RESERVED_SYMBOLS, VAR_OPS, varSymbols } from "../sdk/symbols.ts";
import { test } from "./_harness.ts";

/** Defines in order; returns, per definition, "ok" or "code symbol". */
function run(defs: readonly (readonly [string, PercpuType])[]): string[] {
  const sdk = createPercpu();
  return defs.map(([name, type]) => {
    try {
      sdk.define(name, type, zero(type) as never);
      return "ok";
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      return `${e.code} ${/symbol "([^"]+)"/.exec(e.message)?.[1] ?? ""}`.trim();
    }
  });
}

/** The plain rule over every generated name (what define() did with one set of every name). */
function reference(defs: readonly (readonly [string, PercpuType])[]): string[] {
  const used = new Set<string>(RESERVED_SYMBOLS);
  const names = new Set<string>();
  const sdk = createPercpu();
  return defs.map(([name, type]) => {
    try {
      sdk.define(name, type, zero(type) as never); // only for the other checks' verdict
    } catch (e) {
      if (!(e instanceof PercpuError)) throw e;
      if (e.code !== "name_symbol_clash") return e.code;
    }
    if (names.has(name)) return "name_duplicate";
    const symbols = varSymbols(name, type);
    const clash = symbols.find((s) => used.has(s));
    if (clash !== undefined) return `name_symbol_clash ${clash}`;
    names.add(name);
    for (const s of symbols) used.add(s);
    return "ok";
  });
}

function zero(type: PercpuType): unknown {
  switch (type.kind) {
    case "scalar": return type.name === "bool" ? false : 0;
    case "array": return Array.from({ length: type.length }, () => zero(type.element));
    case "struct": return Object.fromEntries(Object.entries(type.fields).map(([k, t]) => [k, zero(t)]));
    case "aligned": return zero(type.inner);
  }
}

test("symbol clash: a variable named SELF clashes with PERCPU_SELF_OFFSET", () => {
  assert.deepEqual(run([["SELF", u8]]), ["name_symbol_clash PERCPU_SELF_OFFSET"]);
  assert.deepEqual(run([["self", u8], ["SELF_X", u8]]), ["ok", "ok"]);
});

test("symbol clash: current, remote and reset are accepted (no generated name equals a generic macro)", () => {
  assert.deepEqual(run([["current", u8], ["remote", u8], ["reset", u8], ["init", u8], ["area", u8]]), ["ok", "ok", "ok", "ok", "ok"]);
});

test("symbol clash: PERCPU_L_X_OFFSET of L_X against the leaf macro of X_OFFSET, both orders", () => {
  assert.deepEqual(run([["L_X", u8], ["X_OFFSET", u8]]), ["ok", "name_symbol_clash PERCPU_L_X_OFFSET"]);
  assert.deepEqual(run([["X_OFFSET", u8], ["L_X", u8]]), ["ok", "name_symbol_clash PERCPU_L_X_OFFSET"]);
  assert.deepEqual(run([["L_X", u8], ["X", u8]]), ["ok", "ok"]);
});

test("symbol clash: a field OFFSET and a name ending in _ meet at PERCPU_L_X__OFFSET", () => {
  assert.deepEqual(run([["L_X_", u8], ["X", struct({ OFFSET: u8 })]]), ["ok", "name_symbol_clash PERCPU_L_X__OFFSET"]);
  assert.deepEqual(run([["X", struct({ OFFSET: u8 })], ["L_X_", u8]]), ["ok", "name_symbol_clash PERCPU_L_X__OFFSET"]);
});

test("symbol clash: long arrays' PERCPU_LI_ and PERCPU_I_ macros against offset macros", () => {
  const long = array(u8, 20);
  assert.deepEqual(run([["LI_X", u8], ["X_OFFSET", long]]), ["ok", "name_symbol_clash PERCPU_LI_X_OFFSET"]);
  assert.deepEqual(run([["I_X", u8], ["X_OFFSET", long]]), ["ok", "name_symbol_clash PERCPU_I_X_OFFSET"]);
  assert.deepEqual(run([["X_OFFSET", long], ["I_X", u8]]), ["ok", "name_symbol_clash PERCPU_I_X_OFFSET"]);
  assert.deepEqual(run([["LI", u8], ["I_OFFSET", u8]]), reference([["LI", u8], ["I_OFFSET", u8]]));
});

test("symbol clash: register names and names equal ignoring case clash only through the generated symbols", () => {
  const defs = [["SP", u8], ["sp", u8], ["Sp", u8], ["OFFSET", struct({ OFFSET: u8, sp: u8 })], ["L_OFFSET_", u8], ["l_OFFSET_", u8]] as const;
  assert.deepEqual(run(defs), ["ok", "ok", "ok", "ok", "name_symbol_clash PERCPU_L_OFFSET__OFFSET", "ok"]);
  assert.deepEqual(run(defs), reference(defs));
});

test("symbol clash: no whole-variable op name is a suffix of another after _ (the typedef _t included)", () => {
  const tails = ["t", ...VAR_OPS].map((op) => `_${op}`);
  for (const a of tails) for (const b of tails) if (a !== b) assert.ok(!b.endsWith(a), `${a} is a suffix of ${b}`);
});

test("symbol clash: the cheap check agrees with the plain rule on random adversarial programs", () => {
  // Case variants (l, offset, Self) and register names (SP, sp, PTR) too: neither is special any more.
  const parts = ["L", "LI", "I", "X", "Y", "OFFSET", "SELF", "t", "current", "ptr", "remote", "reset", "to", "init", "0", "3", "l", "offset", "Self", "SP", "sp", "PTR"];
  let seed = 12345;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const ident = (): string => {
    const k = 1 + rnd(3);
    let s = Array.from({ length: k }, () => parts[rnd(parts.length)]!).join("_");
    if (rnd(4) === 0) s += "_";
    return /^[0-9]/.test(s) ? `X${s}` : s;
  };
  const type = (depth: number): PercpuType => {
    const r = rnd(depth > 1 ? 1 : 4);
    if (r === 0) return u8;
    if (r === 1) return array(type(depth + 1), [2, 3, 17][rnd(3)]!);
    const fields: Record<string, PercpuType> = {};
    for (let i = 0; i < 1 + rnd(3); i++) fields[ident()] = type(depth + 1);
    return struct(fields);
  };
  for (let round = 0; round < 300; round++) {
    const defs = Array.from({ length: 2 + rnd(6) }, () => [ident(), type(0)] as const);
    assert.deepEqual(run(defs), reference(defs), JSON.stringify(defs.map(([n]) => n)));
  }
});
