/**
 * The JSON manifest of a layout: everything a consumer (a kernel build, a
 * debugger script, our tests) needs to know about the per-CPU area.
 *
 * @module
 */
import { match } from "ts-pattern";
import { scalarLayout, structFields, type Layout, typeLayout, type VarLayout } from "./layout.ts";
import { TARGET_INFO, type Target } from "./targets.ts";
import { ChunkedText, LineBuffer } from "./text.ts";
import type { PercpuType, ScalarName } from "./types.ts";

/** Manifest format version; bumped on any incompatible change. */
export const MANIFEST_VERSION = 1;

/** A type tree with its computed layout. */
export type ManifestType =
  | { readonly kind: "scalar"; readonly name: ScalarName; readonly size: number; readonly align: number }
  | { readonly kind: "array"; readonly length: number; readonly size: number; readonly align: number; readonly element: ManifestType }
  | {
    readonly kind: "struct";
    readonly size: number;
    readonly align: number;
    readonly fields: readonly { readonly name: string; readonly offset: number; readonly type: ManifestType }[];
  }
  | { readonly kind: "aligned"; readonly size: number; readonly align: number; readonly inner: ManifestType };

/** One variable in the manifest. */
export interface ManifestVar {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly align: number;
  readonly paddingBefore: number;
  readonly type: ManifestType;
  /** Initial bytes as lowercase hex, little-endian. */
  readonly init: string;
}

/** The manifest of one target's layout (JSON-serialisable). */
export interface Manifest {
  readonly format: "percpu-manifest";
  readonly version: typeof MANIFEST_VERSION;
  readonly target: Target;
  readonly pointerBytes: number;
  readonly endian: "little";
  readonly areaSize: number;
  readonly stride: number;
  readonly areaAlign: number;
  readonly selfPointerOffset: number | null;
  /** The dynamic region in every area (`generate({ dynamic })`); absent without one. */
  readonly dynamic?: { readonly offset: number; readonly size: number };
  /** The per-CPU counters: each one's `i32` delta is the variable of the same name; absent without counters. */
  readonly counters?: readonly { readonly name: string; readonly batch: number | null; readonly init: string }[];
  readonly vars: readonly ManifestVar[];
}

/**
 * Hex string of bytes (lowercase, two digits per byte).
 *
 * @example
 * ```ts
 * import { toHex } from "./manifest.ts";
 * toHex(new Uint8Array([1, 0xab])); // "01ab"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  // One flat string per call (a `+=` per byte would leave a rope of one node per byte in the manifest).
  let zero = true;
  for (let i = 0; i < bytes.length && zero; i++) zero = bytes[i] === 0;
  if (zero) return "00".repeat(bytes.length);
  const digits = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) digits[i] = HEX[bytes[i]!]!;
  return digits.join("");
}

/** Two lowercase hex digits of every byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** The type tree of `type` with sizes, alignments and field offsets for a target. */
export function manifestType(type: PercpuType, target: Target): ManifestType {
  let cache = manifestTypeCache.get(target);
  if (!cache) manifestTypeCache.set(target, cache = new WeakMap());
  const hit = cache.get(type);
  if (hit) return hit;
  const made = describeType(type, target);
  if (made.kind === "struct") Object.freeze(made.fields);
  cache.set(type, Object.freeze(made));
  return made;
}

/** Manifest types per type object and target (shared by every variable of that type; they are never mutated). */
const manifestTypeCache = new Map<Target, WeakMap<PercpuType, ManifestType>>();

function describeType(type: PercpuType, target: Target): ManifestType {
  const { size, align } = typeLayout(type, target);
  return match(type)
    .returnType<ManifestType>()
    .with({ kind: "scalar" }, (t) => ({ kind: "scalar", name: t.name, ...scalarLayout(t.name, target) }))
    .with({ kind: "array" }, (t) => ({ kind: "array", length: t.length, size, align, element: manifestType(t.element, target) }))
    .with({ kind: "struct" }, (t) => ({
      kind: "struct",
      size,
      align,
      fields: structFields(t, target).map((f) => ({ name: f.name, offset: f.offset, type: manifestType(f.type, target) })),
    }))
    .with({ kind: "aligned" }, (t) => ({ kind: "aligned", size, align, inner: manifestType(t.inner, target) }))
    .exhaustive();
}

/** Builds the manifest of a layout. */
export function buildManifest(layout: Layout): Manifest {
  return { ...manifestHead(layout), vars: layout.vars.map((v) => manifestVar(v, layout.target)) };
}

/** Everything of a manifest but its variables. */
type ManifestHead = Omit<Manifest, "vars">;

function manifestHead(layout: Layout): ManifestHead {
  return {
    format: "percpu-manifest",
    version: MANIFEST_VERSION,
    target: layout.target,
    pointerBytes: TARGET_INFO[layout.target].pointerBytes,
    endian: "little",
    areaSize: layout.areaSize,
    stride: layout.stride,
    areaAlign: layout.areaAlign,
    selfPointerOffset: layout.selfPointerOffset,
    ...(layout.dynamic !== undefined ? { dynamic: layout.dynamic } : {}),
    ...(layout.vars.some((v) => v.percpuCounter !== undefined)
      ? { counters: layout.vars.filter((v) => v.percpuCounter !== undefined).map((v) => ({ name: v.name, batch: v.percpuCounter!.batch, init: String(v.percpuCounter!.init) })) }
      : {}),
  };
}

function manifestVar(v: VarLayout, target: Target): ManifestVar {
  return {
    name: v.name,
    offset: v.offset,
    size: v.size,
    align: v.align,
    paddingBefore: v.paddingBefore,
    type: manifestType(v.type, target),
    init: toHex(v.init),
  };
}

/**
 * `percpu.json` of a layout: exactly {@link manifestJson} of
 * {@link buildManifest}, made one variable at a time (no manifest object of
 * the whole layout is kept).
 *
 * @example
 * ```ts
 * import { buildManifest, layoutManifestJson, manifestJson } from "./manifest.ts";
 * import { computeLayout } from "./layout.ts";
 * import { u64 } from "./types.ts";
 * const layout = computeLayout([{ name: "CPU_ID", type: u64, init: new Uint8Array(8) }], "x86_64");
 * layoutManifestJson(layout).text() === manifestJson(buildManifest(layout)); // true
 * ```
 */
export function layoutManifestJson(layout: Layout): ChunkedText {
  return new ChunkedText(() => manifestLines(manifestHead(layout), layout.vars.length, function* () {
    for (const v of layout.vars) yield manifestVar(v, layout.target);
  }()));
}

/**
 * The manifest as the canonical JSON text written to `percpu.json`: the text
 * of `JSON.stringify(manifest, null, 2)` for a manifest of
 * {@link buildManifest} (keys in its order), plus a newline. Built per
 * variable from the text of its type tree, made once per type (variables
 * share type trees), so the cost per variable is a few concatenations.
 *
 * @example
 * ```ts
 * import { buildManifest, manifestJson } from "./manifest.ts";
 * import { computeLayout } from "./layout.ts";
 * import { u64 } from "./types.ts";
 * const m = buildManifest(computeLayout([{ name: "CPU_ID", type: u64, init: new Uint8Array(8) }], "x86_64"));
 * manifestJson(m) === JSON.stringify(m, null, 2) + "\n"; // true
 * ```
 */
export function manifestJson(manifest: Manifest): string {
  return manifestJsonChunks(manifest).text();
}

/** {@link manifestJson} as chunks, for writing without the whole string. */
export function manifestJsonChunks(manifest: Manifest): ChunkedText {
  const { vars, ...head } = manifest;
  return new ChunkedText(() => manifestLines(head, vars.length, vars));
}

/** The text of a manifest with `head` and the `count` variables `vars`. */
function* manifestLines(head: ManifestHead, count: number, vars: Iterable<ManifestVar>): Generator<string, void, undefined> {
  const typeText = new Map<ManifestType, string>();
  const top = JSON.stringify({ ...head, vars: [] }, null, 2);
  if (count === 0) {
    yield `${top}\n`;
    return;
  }
  const lines = new LineBuffer();
  lines.push(`${top.slice(0, -"]\n}".length)}`);
  let i = 0;
  for (const v of vars) {
    let type = typeText.get(v.type);
    if (type === undefined) typeText.set(v.type, type = JSON.stringify(v.type, null, 2).replaceAll("\n", "\n      "));
    lines.push(
      `    {\n      "name": ${JSON.stringify(v.name)},\n      "offset": ${v.offset},\n      "size": ${v.size},\n      "align": ${v.align},\n      "paddingBefore": ${v.paddingBefore},\n      "type": ${type},\n      "init": "${v.init}"\n    }${
        ++i < count ? "," : ""
      }`,
    );
    if (lines.ready) yield* lines.take();
  }
  lines.push("  ]", "}", "");
  yield* lines.end();
}
