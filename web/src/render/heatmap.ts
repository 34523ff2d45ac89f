/**
 * Attention maps → SVG. A map is [B, H, T, S] row-major (query rows T, key columns S, S − T earlier
 * positions from a cache); one head of batch row 0 is drawn as a T × S grid with token labels on both
 * axes. The causal upper triangle (keys after the query) is drawn as one grey shape, not as cells.
 * Every cell carries its exact value in `data-v` (and its row/column in `data-r`/`data-c`), which the
 * page uses for hovering and the end-to-end test for checking the values against the library.
 * The grid itself (cell positions, labels' density, escaping, colours) is drawn with the parts shared
 * with the report's figures, from the library's browser entry.
 */
import {
  type ColorScale,
  cellRect,
  cellX,
  cellY,
  centreX,
  centreY,
  escapeAttribute,
  escapeXml,
  fitCell,
  formatValue,
  type Grid,
  gridBox,
  labelStride,
  textColorOn,
  toHex,
} from 'diff-transformer/browser';

/** One head of one batch row of a [B, H, T, S] map, as a [T, S] view (no copy). */
export function headSlice(
  map: Float32Array | Float64Array,
  heads: number,
  rows: number,
  cols: number,
  head: number,
  batch = 0,
): Float32Array | Float64Array {
  if (map.length % (heads * rows * cols) !== 0)
    throw new RangeError(`map of ${map.length} values is not [B, ${heads}, ${rows}, ${cols}]`);
  if (!(head >= 0 && head < heads)) throw new RangeError(`head ${head} out of range [0, ${heads})`);
  const start = (batch * heads + head) * rows * cols;
  return map.subarray(start, start + rows * cols);
}

/** Heads of a [B, H, T, S] map given B = 1 and the sizes. */
export function headsOf(mapLength: number, rows: number, cols: number): number {
  return Math.round(mapLength / (rows * cols));
}

/** A token's text made visible: spaces ␣, newlines ↵, tabs ⇥, other control characters as �; shortened. */
export function tokenLabel(text: string, maxChars = 10): string {
  let s = text
    .replace(/ /g, '␣')
    .replace(/\r?\n/g, '↵')
    .replace(/\t/g, '⇥')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we replace
    .replace(/[\u0000-\u001f\u007f]/g, '�');
  if (s === '') s = '∅';
  const chars = [...s];
  return chars.length > maxChars ? `${chars.slice(0, maxChars - 1).join('')}…` : s;
}

/** Cell size in px for a map of `cols` columns in `width` px, between 4 and 28. */
export function cellSize(cols: number, width: number): number {
  return fitCell(cols, width, 4, 28);
}

export interface HeatmapOptions {
  /** Name of the map (a1, a2, diff, p, lambda), written to data-map. */
  name: string;
  /** [rows, cols] row-major. */
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  scale: ColorScale;
  rowLabels: readonly string[];
  /** Column labels; omit to draw none. */
  colLabels?: readonly string[];
  /** Cell size in px. */
  cell: number;
  /** Width reserved for the row labels (px). Default 78. */
  labelWidth?: number;
  /** Height reserved for the column labels (px). Default 64 when there are column labels. */
  labelHeight?: number;
  /** Draw the causal mask: cell (r, c) exists only for c ≤ r + (cols − rows). Default true. */
  causal?: boolean;
  /** Print values in cells when they are at least this large (px). Default 30. */
  valuesFrom?: number;
}

export interface HeatmapLayout {
  width: number;
  height: number;
  x0: number;
  y0: number;
}

export function heatmapLayout(o: HeatmapOptions): HeatmapLayout {
  const labelWidth = o.labelWidth ?? 78;
  const labelHeight = o.colLabels ? (o.labelHeight ?? 64) : 4;
  return {
    x0: labelWidth,
    y0: 2,
    width: labelWidth + o.cols * o.cell + 2,
    height: 2 + o.rows * o.cell + labelHeight,
  };
}

/** The SVG of one heatmap (cells, mask, labels, a hidden row highlight). */
export function heatmapSvg(o: HeatmapOptions): string {
  const { rows, cols, cell, values, scale } = o;
  if (values.length !== rows * cols)
    throw new RangeError(`heatmap ${o.name}: ${values.length} values for ${rows} × ${cols} cells`);
  const L = heatmapLayout(o);
  const grid: Grid = { x0: L.x0, y0: L.y0, cell };
  const offset = cols - rows;
  const causal = o.causal ?? true;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="heatmap-svg" data-map="${escapeAttribute(o.name)}" data-rows="${rows}" data-cols="${cols}" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">`,
  );
  const gridW = cols * cell;
  const gridH = rows * cell;
  out.push(`<rect class="hm-frame" ${gridBox(grid, rows, cols)} fill="#f3f3f6"/>`);
  const printValues = cell >= (o.valuesFrom ?? 30);
  out.push('<g class="hm-cells" shape-rendering="crispEdges">');
  for (let r = 0; r < rows; r++) {
    const last = causal ? Math.min(cols - 1, r + offset) : cols - 1;
    for (let c = 0; c <= last; c++) {
      const v = values[r * cols + c];
      const color = scale.color(v);
      out.push(cellRect(grid, r, c, toHex(color), ` data-r="${r}" data-c="${c}" data-v="${v}"`));
      if (printValues)
        out.push(
          `<text class="hm-value" x="${centreX(grid, c)}" y="${centreY(grid, r)}" fill="${textColorOn(color)}" text-anchor="middle" dominant-baseline="central">${formatValue(v)}</text>`,
        );
    }
  }
  out.push('</g>');
  if (causal && offset < cols - 1) {
    // The masked triangle above the diagonal, as a staircase outline.
    const pts: string[] = [];
    const xAt = (c: number) => cellX(grid, c);
    const yAt = (r: number) => cellY(grid, r);
    pts.push(`${xAt(Math.max(0, offset + 1))},${yAt(0)}`, `${xAt(cols)},${yAt(0)}`);
    const lastMaskedRow = Math.min(rows, cols - 1 - offset); // rows r < this have masked cells
    pts.push(`${xAt(cols)},${yAt(lastMaskedRow)}`);
    for (let r = lastMaskedRow - 1; r >= 0; r--) {
      const c = r + offset + 1;
      pts.push(`${xAt(c)},${yAt(r + 1)}`, `${xAt(c)},${yAt(r)}`);
    }
    out.push(`<polygon class="hm-mask" points="${pts.join(' ')}" fill="#e9e9ee"/>`);
  }
  const stride = labelStride(cell);
  const font = Math.min(12, Math.max(8, cell - 2));
  out.push(`<g class="hm-row-labels" font-size="${font}">`);
  for (let r = 0; r < rows; r++) {
    if (r % stride !== 0 && r !== rows - 1) continue;
    out.push(
      `<text x="${L.x0 - 5}" y="${centreY(grid, r)}" text-anchor="end" dominant-baseline="central" data-r="${r}">${escapeXml(o.rowLabels[r] ?? '')}</text>`,
    );
  }
  out.push('</g>');
  if (o.colLabels) {
    out.push(`<g class="hm-col-labels" font-size="${font}">`);
    for (let c = 0; c < cols; c++) {
      if (c % stride !== 0 && c !== cols - 1) continue;
      const x = centreX(grid, c);
      const y = L.y0 + gridH + 5;
      out.push(
        `<text transform="translate(${x},${y}) rotate(-55)" text-anchor="end" dominant-baseline="central" data-c="${c}">${escapeXml(o.colLabels[c] ?? '')}</text>`,
      );
    }
    out.push('</g>');
  }
  out.push(
    `<rect class="hm-row-highlight" x="${L.x0 - 1}" y="${L.y0}" width="${gridW + 2}" height="${cell}" fill="none" visibility="hidden"/>`,
    '</svg>',
  );
  return out.join('');
}

/** A horizontal colour legend for a scale: gradient bar with min, 0 (diverging) and max ticks. */
export function legendSvg(scale: ColorScale, label: string, width = 200): string {
  const id = `lg-${scale.kind}-${Math.round(scale.max * 1e6)}`;
  const stops: string[] = [];
  for (let i = 0; i <= 10; i++) {
    const t = i / 10;
    stops.push(
      `<stop offset="${t}" stop-color="${toHex(scale.color(scale.min + t * (scale.max - scale.min)))}"/>`,
    );
  }
  const ticks: [number, string][] = [
    [0, formatValue(scale.min)],
    [1, formatValue(scale.max)],
  ];
  if (scale.kind === 'diverging') ticks.splice(1, 0, [0.5, '0']);
  const barX = 4;
  const barW = width - 8;
  const tickText = ticks
    .map(
      ([t, text]) =>
        `<line x1="${barX + t * barW}" x2="${barX + t * barW}" y1="30" y2="34" stroke="#555"/><text x="${barX + t * barW}" y="45" text-anchor="${t === 0 ? 'start' : t === 1 ? 'end' : 'middle'}">${escapeXml(text)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="legend-svg" width="${width}" height="50" viewBox="0 0 ${width} 50"><defs><linearGradient id="${id}">${stops.join('')}</linearGradient></defs><text x="${barX}" y="11" class="legend-label">${escapeXml(label)}</text><rect x="${barX}" y="17" width="${barW}" height="13" fill="url(#${id})" stroke="#bbb" stroke-width="0.5"/>${tickText}</svg>`;
}

export interface RowEntry {
  /** Key position. */
  col: number;
  /** One value per map, in the order given. */
  values: number[];
}

/**
 * The keys one query row attends to, sorted by the value in map `sortBy` (largest first), at most
 * `limit`: what the hover panel lists. Keys after the query (causal mask) are left out.
 */
export function rowEntries(
  maps: readonly ArrayLike<number>[],
  row: number,
  rows: number,
  cols: number,
  sortBy = 0,
  limit = Number.POSITIVE_INFINITY,
): RowEntry[] {
  const last = Math.min(cols - 1, row + cols - rows);
  const entries: RowEntry[] = [];
  for (let c = 0; c <= last; c++) entries.push({ col: c, values: maps.map((m) => m[row * cols + c]) });
  entries.sort((a, b) => b.values[sortBy] - a.values[sortBy] || a.col - b.col);
  return entries.slice(0, limit);
}
