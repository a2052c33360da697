/**
 * The dynamic per-CPU region (`generate({ dynamic: bytes })`, Linux's
 * `alloc_percpu` chunk): `bytes` more in every CPU area, after the static
 * variables, handed out at run time by the generated allocator
 * (`percpu_alloc(size, align)` → an offset valid in every area). The
 * allocator's metadata is global, one copy outside the areas.
 *
 * @module
 */
import { fail } from "./errors.ts";
import { alignUp, type Layout, MAX_AREA_SIZE } from "./layout.ts";

/** Allocation unit of the dynamic region, in bytes (every offset and size is a multiple). */
export const DYNAMIC_GRANULE = 8;

/** Largest dynamic region: 1 MiB per CPU (the allocator's global metadata is about 13 bytes per granule). */
export const MAX_DYNAMIC_BYTES = 1 << 20;

/**
 * The layout with a dynamic region of `bytes` (rounded up to
 * {@link DYNAMIC_GRANULE}) appended to every area: it starts at the first
 * multiple of the area alignment after the static variables (never at 0,
 * so 0 stays "no allocation"), and the area size, stride and template grow
 * by it. `bytes` 0 returns the layout itself.
 *
 * @example
 * ```ts
 * import { computeLayout } from "./layout.ts";
 * import { withDynamicRegion } from "./dynamic.ts";
 * import { u64 } from "./types.ts";
 * const layout = withDynamicRegion(computeLayout([{ name: "X", type: u64, init: new Uint8Array(8) }], "riscv64"), 4096);
 * layout.dynamic; // { offset: 64, size: 4096 }
 * ```
 */
export function withDynamicRegion(layout: Layout, bytes: number): Layout {
  if (bytes === 0) return layout;
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_DYNAMIC_BYTES) {
    fail("options_invalid", ["dynamic"], `Invalid generate options: dynamic must be an integer number of bytes from 0 to ${MAX_DYNAMIC_BYTES}, got ${bytes}`);
  }
  const size = alignUp(bytes, DYNAMIC_GRANULE);
  const offset = alignUp(Math.max(layout.areaSize, 1), layout.areaAlign);
  const areaSize = offset + size;
  if (areaSize > MAX_AREA_SIZE) {
    fail("area_too_large", ["dynamic"], `Per-CPU area too large with a dynamic region of ${size} bytes: it would end at byte ${areaSize}, the limit is ${MAX_AREA_SIZE} (2 GiB)`);
  }
  return { ...layout, areaSize, stride: alignUp(areaSize, layout.areaAlign), dynamic: { offset, size } };
}
