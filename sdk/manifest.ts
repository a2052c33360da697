/**
 * The JSON manifest of a layout: everything a consumer (a kernel build, a
 * debugger script, our tests) needs to know about the per-CPU area.
 *
 * @module
 */
import { match } from "ts-pattern";
import { scalarLayout, structFields, type Layout, typeLayout } from "./layout.ts";
import { TARGET_INFO, type Target } from "./targets.ts";
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
  readonly vars: readonly ManifestVar[];
}

/** Hex string of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]!;
  return s;
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
    vars: layout.vars.map((v) => ({
      name: v.name,
      offset: v.offset,
      size: v.size,
      align: v.align,
      paddingBefore: v.paddingBefore,
      type: manifestType(v.type, layout.target),
      init: toHex(v.init),
    })),
  };
}

/** The manifest as the canonical JSON text written to `percpu.json`. */
export function manifestJson(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
