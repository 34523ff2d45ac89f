/**
 * Heatmaps of attention maps and accuracy grids for the report, as SVG and PNG files: a title, a
 * caption and a min/max line above the grid. The grid itself (cells, labels, escaping, colours) is
 * drawn with the parts shared with the web app (src/report/heatmap-grid.ts, src/report/color-scale.ts).
 */
import { writeFileSync } from 'node:fs';
import { reportScale, toRgbFunction } from '../report/color-scale.ts';
import {
  cellRect,
  centreX,
  centreY,
  escapeXml,
  fitCell,
  type Grid,
  gridBox,
} from '../report/heatmap-grid.ts';
import { svgToPng } from '../report/plot.ts';

export interface HeatmapOptions {
  title: string;
  /** Signed values: a diverging blue–white–red scale symmetric around 0; else white → blue. */
  signed: boolean;
  /** Pixel size of a cell. */
  cell?: number;
  /** Second title line (default: what rows and columns of an attention map are). */
  caption?: string;
  /** Labels of the rows and columns (drawn when given). */
  rowLabels?: string[];
  colLabels?: string[];
  /** Print each cell's value (for small grids). */
  annotate?: boolean;
  /** Fixed maximum of the colour scale (default: the data's max |value|). */
  max?: number;
  /** Saturate the colour scale at this quantile of the non-zero |values| (e.g. 0.99). */
  clip?: number;
}

const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';

/** A matrix [rows, cols] as an SVG heatmap with a title and a min/max legend. */
export function heatmapSvg(values: ArrayLike<number>, rows: number, cols: number, o: HeatmapOptions): string {
  const cell = o.cell ?? fitCell(Math.max(rows, cols), 480, 2, 8);
  const top = o.colLabels ? 68 : 52;
  const left = o.rowLabels ? 60 : 10;
  const width = Math.max(left + 10 + cols * cell, 520);
  const height = top + rows * cell + 12;
  const grid: Grid = { x0: left, y0: top, cell };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const magnitudes: number[] = [];
  for (let i = 0; i < rows * cols; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
    if (values[i] !== 0) magnitudes.push(Math.abs(values[i]));
  }
  let scale = o.max ?? (o.signed ? Math.max(Math.abs(min), Math.abs(max)) : max);
  let clipped = '';
  if (o.max === undefined && o.clip !== undefined && magnitudes.length) {
    magnitudes.sort((a, b) => a - b);
    const q = magnitudes[Math.min(magnitudes.length - 1, Math.floor(o.clip * magnitudes.length))];
    if (q > 0 && q < scale) {
      scale = q;
      clipped = `; colour clipped at ${q.toFixed(3)} (${Math.round(o.clip * 100)}th pct.)`;
    }
  }
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-family="${FONT}" font-size="13">${escapeXml(o.title)}</text>`,
    `<text x="10" y="33" font-family="${FONT}" font-size="10">${escapeXml(o.caption ?? 'rows: query position, columns: key position')}</text>`,
    `<text x="10" y="46" font-family="${FONT}" font-size="10">${escapeXml(`min ${min.toFixed(3)}, max ${max.toFixed(3)}${o.signed ? ', blue < 0 < red' : ''}${clipped}`)}</text>`,
  ];
  o.rowLabels?.forEach((label, r) => {
    parts.push(
      `<text x="${left - 4}" y="${centreY(grid, r) + 4}" text-anchor="end" font-family="${FONT}" font-size="11">${escapeXml(label)}</text>`,
    );
  });
  o.colLabels?.forEach((label, c) => {
    parts.push(
      `<text x="${centreX(grid, c)}" y="${top - 4}" text-anchor="middle" font-family="${FONT}" font-size="11">${escapeXml(label)}</text>`,
    );
  });
  const colours = reportScale(scale, o.signed);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      if (v === 0 && !o.signed && !o.annotate) continue;
      parts.push(cellRect(grid, r, c, toRgbFunction(colours.color(v))));
      if (o.annotate) {
        const dark = Math.abs(v) > 0.6 * scale;
        parts.push(
          `<text x="${centreX(grid, c)}" y="${centreY(grid, r) + 4}" text-anchor="middle" font-family="${FONT}" font-size="11" fill="${dark ? 'white' : 'black'}">${v.toFixed(2)}</text>`,
        );
      }
    }
  }
  parts.push(`<rect ${gridBox(grid, rows, cols)} fill="none" stroke="#888" stroke-width="0.5"/>`, '</svg>');
  return parts.join('\n');
}

/** Writes `${base}.svg` and `${base}.png`. */
export function writeHeatmap(
  base: string,
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  o: HeatmapOptions,
): void {
  const svg = heatmapSvg(values, rows, cols, o);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, svgToPng(svg, 1.5));
}
