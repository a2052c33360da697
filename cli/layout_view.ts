/**
 * Human views of a layout: a terminal table and an SVG picture of the
 * per-CPU areas side by side. Pure functions from a layout to text.
 *
 * @module
 */
import type { Layout } from "../sdk/layout.ts";
import { TARGET_INFO } from "../sdk/targets.ts";
import { typeName } from "../sdk/types.ts";

/**
 * One row of the layout: a variable, the self pointer, or padding.
 *
 * @example
 * ```ts
 * import type { LayoutRow } from "./layout_view.ts";
 * const row: LayoutRow = { kind: "var", name: "CPU_ID", offset: 0, size: 8, align: 8, type: "u64" };
 * ```
 */
export interface LayoutRow {
  readonly kind: "var" | "self" | "padding";
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly align: number;
  readonly type: string;
}

/**
 * The rows of one area in memory order, padding (between vars and up to the stride) included.
 *
 * @example
 * ```ts
 * import { createPercpu, u32 } from "../mod.ts";
 * import { layoutRows } from "./layout_view.ts";
 * const sdk = createPercpu();
 * sdk.define("TICKS", u32, 0);
 * layoutRows(sdk.layout("riscv64")).map((r) => r.name); // ["TICKS", "(tail to stride)"]
 * ```
 */
export function layoutRows(layout: Layout): LayoutRow[] {
  const rows: LayoutRow[] = [];
  let at = 0;
  if (layout.selfPointerOffset !== null) {
    const size = TARGET_INFO[layout.target].pointerBytes;
    rows.push({ kind: "self", name: "(self)", offset: layout.selfPointerOffset, size, align: size, type: "pointer to this area" });
    at = layout.selfPointerOffset + size;
  }
  for (const v of layout.vars) {
    if (v.offset > at) rows.push({ kind: "padding", name: "(padding)", offset: at, size: v.offset - at, align: 1, type: "" });
    rows.push({ kind: "var", name: v.name, offset: v.offset, size: v.size, align: v.align, type: typeName(v.type) });
    at = v.offset + v.size;
  }
  if (layout.stride > at) rows.push({ kind: "padding", name: "(tail to stride)", offset: at, size: layout.stride - at, align: 1, type: "" });
  return rows;
}

/**
 * A plain-text table of the layout with a one-line summary.
 *
 * @example
 * ```ts
 * import { createPercpu, u32 } from "../mod.ts";
 * import { layoutTable } from "./layout_view.ts";
 * const sdk = createPercpu();
 * sdk.define("TICKS", u32, 0);
 * console.log(layoutTable(sdk.layout("riscv64"), "gp")); // "riscv64: area 4 bytes, stride 64, ..."
 * ```
 */
export function layoutTable(layout: Layout, register: string): string {
  const rows = layoutRows(layout);
  const head = ["offset", "size", "align", "name", "type"];
  const cells = rows.map((r) => [`0x${r.offset.toString(16)}`, String(r.size), r.kind === "padding" ? "" : String(r.align), r.name, r.type]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: readonly string[]): string =>
    c.map((x, i) => (i < 3 ? x.padStart(widths[i]!) : i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ").trimEnd();
  const padding = rows.filter((r) => r.kind === "padding").reduce((n, r) => n + r.size, 0);
  return [
    `${layout.target}: area ${layout.areaSize} bytes, stride ${layout.stride}, area alignment ${layout.areaAlign}, ${padding} bytes of padding; base register ${register}`,
    fmt(head),
    ...cells.map(fmt),
  ].join("\n") + "\n";
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Height in pixels of a band: grows with the log of the size so tiny and huge variables both stay readable. */
function bandHeight(size: number): number {
  return Math.round(22 + 9 * Math.log2(Math.max(1, size)));
}

/**
 * Options of {@link layoutSvg}.
 *
 * @example
 * ```ts
 * import type { LayoutSvgOptions } from "./layout_view.ts";
 * const options: LayoutSvgOptions = { cpus: 4, register: "gp" };
 * ```
 */
export interface LayoutSvgOptions {
  /** Number of areas drawn side by side. */
  readonly cpus: number;
  /** Name of the per-CPU base register of the arch. */
  readonly register: string;
}

/** Most areas drawn one by one; beyond it the middle ones are one "identical" column. */
const MAX_DRAWN_CPUS = 4;

/** A column of the picture: one CPU's area, or the collapsed run of identical areas `from`..`to`. */
type Column = { readonly kind: "cpu"; readonly cpu: number } | { readonly kind: "collapsed"; readonly from: number; readonly to: number };

/** The columns for `cpus` areas: all of them up to 4, else CPU 0, CPU 1, "CPUs 2–(n-2)", CPU n-1. */
function columns(cpus: number): Column[] {
  if (cpus <= MAX_DRAWN_CPUS) return Array.from({ length: cpus }, (_, cpu) => ({ kind: "cpu", cpu }));
  return [{ kind: "cpu", cpu: 0 }, { kind: "cpu", cpu: 1 }, { kind: "collapsed", from: 2, to: cpus - 2 }, { kind: "cpu", cpu: cpus - 1 }];
}

/**
 * An SVG picture: `cpus` areas side by side, each variable a labelled band at
 * its offset (band height ∝ log size), padding hatched, the stride marked.
 * More than 4 areas are drawn as CPU 0, CPU 1, one column naming the identical
 * areas in between, and the last CPU, so the width stays bounded.
 *
 * @example
 * ```ts
 * import { createPercpu, u64 } from "../mod.ts";
 * import { layoutSvg } from "./layout_view.ts";
 * const sdk = createPercpu();
 * sdk.define("CPU_ID", u64, 0);
 * const svg = layoutSvg(sdk.layout("riscv64"), { cpus: 256, register: "gp" });
 * console.log(svg.includes("CPUs 2–254")); // true
 * ```
 */
export function layoutSvg(layout: Layout, options: LayoutSvgOptions): string {
  const rows = layoutRows(layout);
  const colWidth = 300;
  const gap = 26;
  const left = 70;
  const top = 74;
  const heights = rows.map((r) => bandHeight(r.size));
  const total = heights.reduce((a, b) => a + b, 0);
  const cols = columns(options.cpus);
  const width = left + cols.length * (colWidth + gap) + 10;
  const height = top + total + 60;
  const palette = ["#8ecae6", "#ffb703", "#90be6d", "#f4a261", "#cdb4db", "#a8dadc", "#e9c46a", "#b5e48c"];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="12">`,
    `<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#f1f1f1"/><line x1="0" y1="0" x2="0" y2="8" stroke="#bbb" stroke-width="3"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(`per-CPU areas on ${layout.target}: ${layout.areaSize} bytes used, stride ${layout.stride}`)}</text>`,
    `<text x="10" y="42">${escapeXml(`CPU i's area = base + i × ${layout.stride}; the ${options.register} register holds the area base of the running CPU`)}</text>`,
  ];
  cols.forEach((col, index) => {
    const x = left + index * (colWidth + gap);
    if (col.kind === "collapsed") {
      const mid = top + total / 2;
      out.push(`<rect x="${x}" y="${top}" width="${colWidth}" height="${total}" fill="#fafafa" stroke="#999" stroke-dasharray="6 4"/>`);
      const lines = [`… CPUs ${col.from}–${col.to} …`, `${col.to - col.from + 1} areas with the same layout,`, `CPU i at base + i × ${layout.stride}`];
      lines.forEach((l, i) => out.push(`<text x="${x + colWidth / 2}" y="${mid + (i - 1) * 18}" text-anchor="middle" fill="#555">${escapeXml(l)}</text>`));
      return;
    }
    const cpu = col.cpu;
    out.push(`<text x="${x}" y="${top - 10}" font-weight="bold">${escapeXml(`CPU ${cpu}: base + 0x${(cpu * layout.stride).toString(16)}`)}</text>`);
    let y = top;
    let colour = 0;
    rows.forEach((r, i) => {
      const h = heights[i]!;
      const fill = r.kind === "padding" ? "url(#hatch)" : r.kind === "self" ? "#dddddd" : palette[colour++ % palette.length]!;
      out.push(`<rect x="${x}" y="${y}" width="${colWidth}" height="${h}" fill="${fill}" stroke="#333" stroke-width="0.8"/>`);
      const label = r.kind === "padding" ? `${r.name} ${r.size} B` : `${r.name}  ${r.size} B  align ${r.align}`;
      out.push(`<text x="${x + 6}" y="${y + Math.min(h - 6, 15)}">${escapeXml(label)}</text>`);
      if (cpu === 0) out.push(`<text x="${left - 6}" y="${y + 12}" text-anchor="end" fill="#555">${escapeXml(`+0x${r.offset.toString(16)}`)}</text>`);
      y += h;
    });
    out.push(`<text x="${x}" y="${y + 16}" fill="#555">${escapeXml(`end of area: +0x${layout.stride.toString(16)} (stride)`)}</text>`);
  });
  out.push("</svg>", "");
  return out.join("\n");
}
