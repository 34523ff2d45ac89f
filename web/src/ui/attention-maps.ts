/**
 * A panel's attention maps for one layer and head: the main map (with V2's λₜ strip beside it), the
 * colour legends, and the smaller maps of its parts, sized to the width available.
 */
import { sequentialScale } from 'diff-transformer/browser';
import { cellSize, heatmapSvg, legendSvg } from '../render/heatmap.ts';
import { el } from './dom.ts';
import type { HeadView } from './head-view.ts';
import type { Scales } from './scales.ts';

export interface MapsLayout {
  /** The token labels of the rows and columns. */
  labels: readonly string[];
  /** The width available (px). */
  width: number;
  /** Whether the maps cover only the first tokens of the input. */
  truncated: boolean;
}

function figure(cls: string, title: string, svg: string): HTMLElement {
  const f = el('figure', { class: cls }, el('figcaption', {}, title));
  f.insertAdjacentHTML('beforeend', svg);
  return f;
}

/** The maps box's contents for `view`, coloured with the scales shared by the panels. */
export function attentionMaps(view: HeadView, scales: Scales, o: MapsLayout): HTMLElement[] {
  const { labels, width } = o;
  const T = view.rows;
  const stripWidth = view.tokenLambda ? 44 : 0;
  const mainCell = Math.min(32, cellSize(T, width - 90 - stripWidth));
  const partCell = Math.min(20, cellSize(T, (width - 24) / 2 - 86));
  const mainScale = view.main.signed ? scales.signed : scales.probability;
  const mainTitle =
    view.lambda !== undefined ? `${view.main.title}   (λ = ${view.lambda.toFixed(4)})` : view.main.title;
  const mainRow = el('div', { class: 'main-row' });
  mainRow.append(
    figure(
      'map main',
      mainTitle,
      heatmapSvg({
        name: view.main.name,
        values: view.main.values,
        rows: T,
        cols: T,
        scale: mainScale,
        rowLabels: labels,
        colLabels: labels,
        cell: mainCell,
      }),
    ),
  );
  if (view.tokenLambda)
    mainRow.append(
      figure(
        'map strip',
        'λₜ',
        heatmapSvg({
          name: 'lambda',
          values: view.tokenLambda,
          rows: T,
          cols: 1,
          causal: false,
          scale: sequentialScale(1),
          rowLabels: [],
          colLabels: ['λ'],
          labelWidth: 2,
          cell: mainCell,
          valuesFrom: 1000,
        }),
      ),
    );
  const legends = el('div', { class: 'legends' });
  legends.insertAdjacentHTML(
    'beforeend',
    legendSvg(
      mainScale,
      view.main.signed ? `${view.main.title.split(' (')[0]} (signed)` : 'attention probability',
    ),
  );
  if (view.main.signed)
    legends.insertAdjacentHTML('beforeend', legendSvg(scales.probability, 'A1, A2 probability'));
  if (view.tokenLambda)
    legends.insertAdjacentHTML('beforeend', legendSvg(sequentialScale(1), 'λₜ = sigmoid(x·W_λ)', 150));
  const boxes: HTMLElement[] = [mainRow, legends];
  if (view.parts.length) {
    const parts = el('div', { class: 'parts-row' });
    for (const p of view.parts)
      parts.append(
        figure(
          'map part',
          p.title,
          heatmapSvg({
            name: p.name,
            values: p.values,
            rows: T,
            cols: T,
            scale: scales.probability,
            rowLabels: labels,
            colLabels: labels,
            cell: partCell,
            labelWidth: 70,
          }),
        ),
      );
    boxes.push(parts);
  }
  if (o.truncated)
    boxes.push(
      el(
        'p',
        { class: 'muted' },
        `Maps over the first ${T} tokens (the rest is left out to keep them legible).`,
      ),
    );
  return boxes;
}
