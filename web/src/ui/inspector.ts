/**
 * The hover inspector of a panel: the hovered query row highlighted in every map (and its label), and
 * a table of the keys that row attends to most, with the value in each map of the head.
 */
import { type ColorScale, formatValue, toHex } from 'diff-transformer/browser';
import { rowEntries, tokenLabel } from '../render/heatmap.ts';
import { el } from './dom.ts';
import type { HeadView } from './head-view.ts';

/** Keys listed for a query row. */
const TOP_KEYS = 10;

/** Highlight query row `row` in every heatmap under `box`. */
export function highlightRow(box: ParentNode, row: number): void {
  for (const svg of box.querySelectorAll<SVGSVGElement>('svg.heatmap-svg')) {
    const hi = svg.querySelector('.hm-row-highlight');
    const cell = svg.querySelector('rect[data-r]');
    if (!hi || !cell) continue;
    const size = Number(cell.getAttribute('height'));
    hi.setAttribute('y', String(2 + row * size));
    hi.setAttribute('visibility', 'visible');
    for (const t of svg.querySelectorAll('.hm-row-labels text'))
      t.classList.toggle('active', t.getAttribute('data-r') === String(row));
  }
}

/** A value's share of the scale's larger end, in [0, 1]: the length of its bar. */
export function barFraction(value: number, scale: ColorScale): number {
  return Math.min(1, Math.abs(value) / Math.max(1e-12, Math.max(Math.abs(scale.min), scale.max)));
}

/**
 * The inspector's contents for query `row` of `view`: a header and the table of its top keys (main map
 * first, sorted by it). `labels` are the tokens' texts; `scale` colours the main map's bars.
 */
export function inspectorContents(
  view: HeadView,
  labels: readonly string[],
  row: number,
  scale: ColorScale,
): HTMLElement[] {
  const T = view.rows;
  const maps = [view.main.values, ...view.parts.map((p) => p.values)];
  const names = [view.main.title, ...view.parts.map((p) => p.name.toUpperCase())];
  const entries = rowEntries(maps, row, T, T, 0, TOP_KEYS);
  const label = (i: number) => tokenLabel(labels[i], 14);
  const header = el(
    'div',
    { class: 'inspector-head' },
    'Query ',
    el('code', {}, label(row)),
    ` (position ${row}) attends to — top ${entries.length} of ${row + 1} keys`,
    view.tokenLambda ? `, λₜ = ${view.tokenLambda[row].toFixed(4)}` : '',
  );
  const table = el('table', { class: 'inspector-table', 'data-row': String(row) });
  table.append(
    el('tr', {}, el('th', {}, 'key'), ...names.map((n, i) => el('th', { class: i === 0 ? 'main' : '' }, n))),
  );
  for (const e of entries) {
    const main = e.values[0];
    const bar = el('span', { class: 'bar' });
    bar.style.width = `${(barFraction(main, scale) * 100).toFixed(1)}%`;
    bar.style.background = toHex(scale.color(main));
    table.append(
      el(
        'tr',
        { 'data-c': String(e.col) },
        el('td', { class: 'key' }, el('code', {}, label(e.col)), el('span', { class: 'pos' }, ` ${e.col}`)),
        el(
          'td',
          { class: 'main' },
          el('span', { class: 'bar-box' }, bar),
          el('span', { class: 'num' }, formatValue(main)),
        ),
        ...e.values.slice(1).map((v) => el('td', { class: 'num' }, formatValue(v))),
      ),
    );
  }
  return [header, table];
}
