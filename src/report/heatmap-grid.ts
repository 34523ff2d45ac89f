/**
 * The grid part of a heatmap SVG, shared by the report's figures (src/eval/heatmap.ts) and the web
 * app's attention maps (web/src/render/heatmap.ts): escaping text for SVG, fitting a cell size to a
 * width, where cell (r, c) and its centre lie, the cell rectangles and frame, and how densely labels
 * may be drawn. No file system here: the browser entry exports it.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

/** Text made safe as SVG/XML character data (between tags); quotes stay as they are. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>]/g, (c) => ENTITIES[c]);
}

/** Text made safe inside a double-quoted SVG/XML attribute value. */
export function escapeAttribute(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ENTITIES[c]);
}

/** The cell size (px) that fits `count` cells in `width` px, floored, between `min` and `max`. */
export function fitCell(count: number, width: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(width / Math.max(1, count))));
}

/** A grid of square cells: its top-left corner (x0, y0) and the cell size, all in px. */
export interface Grid {
  x0: number;
  y0: number;
  cell: number;
}

/** Left edge of column `c`. */
export const cellX = (g: Grid, c: number): number => g.x0 + c * g.cell;
/** Top edge of row `r`. */
export const cellY = (g: Grid, r: number): number => g.y0 + r * g.cell;
/** Horizontal centre of column `c`. */
export const centreX = (g: Grid, c: number): number => g.x0 + c * g.cell + g.cell / 2;
/** Vertical centre of row `r`. */
export const centreY = (g: Grid, r: number): number => g.y0 + r * g.cell + g.cell / 2;

/** The rectangle of cell (r, c) filled with `fill`; `attributes` (with a leading space) are appended. */
export function cellRect(g: Grid, r: number, c: number, fill: string, attributes = ''): string {
  return `<rect x="${cellX(g, c)}" y="${cellY(g, r)}" width="${g.cell}" height="${g.cell}" fill="${fill}"${attributes}/>`;
}

/** The position and size attributes of the whole grid of `rows` × `cols` cells (for a frame). */
export function gridBox(g: Grid, rows: number, cols: number): string {
  return `x="${g.x0}" y="${g.y0}" width="${cols * g.cell}" height="${rows * g.cell}"`;
}

/** Show every k-th label so that labels never overlap (about `minSpacing` px per label). */
export function labelStride(cell: number, minSpacing = 11): number {
  return Math.max(1, Math.ceil(minSpacing / cell));
}
