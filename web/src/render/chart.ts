/**
 * Small SVG line charts (training curves, λ per layer) and the parsing of `metrics.jsonl`: linear
 * scales, "nice" ticks, path data with gaps, down-sampling, legend. Pure functions returning strings.
 */
import { escapeAttribute, escapeXml } from 'diff-transformer/browser';

export type Point = readonly [number, number];

export interface Series {
  label: string;
  color: string;
  points: readonly Point[];
  /** Dashed line (e.g. a reference value). */
  dashed?: boolean;
  /** Draw a dot on every point (sparse series such as validation loss). */
  dots?: boolean;
}

/** About `count` round tick values covering [min, max] (steps 1, 2 or 5 × 10^k). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  if (min > max) [min, max] = [max, min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  for (let i = first; i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Linear map from [d0, d1] to [r0, r1] (a degenerate domain maps to the middle of the range). */
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** SVG path data through the points; non-finite values break the line. */
export function linePath(
  points: readonly Point[],
  sx: (v: number) => number,
  sy: (v: number) => number,
): string {
  let d = '';
  let pen = false;
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${round2(sx(x))},${round2(sy(y))}`;
    pen = true;
  }
  return d;
}

/** At most `max` points, evenly picked, always keeping the first and last. */
export function downsample(points: readonly Point[], max: number): Point[] {
  if (points.length <= max || max < 2) return [...points];
  const out: Point[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)]);
  return out;
}

export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(0);
  return String(Number(v.toPrecision(6)));
}

export interface ChartOptions {
  title: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  xLabel?: string;
  yLabel?: string;
  /** Force the y-domain (otherwise the data's extent, padded). */
  yDomain?: [number, number];
}

/** A complete line chart as an SVG string (axes, grid, ticks, series, legend). */
export function lineChartSvg(o: ChartOptions): string {
  const width = o.width ?? 420;
  const height = o.height ?? 240;
  const m = { top: 30, right: 14, bottom: 40, left: 52 };
  const all = o.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><text class="chart-title" x="${m.left}" y="16">${escapeXml(o.title)}</text>`;
  if (all.length === 0)
    return `${head}<text class="chart-empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  let [y0, y1] = o.yDomain ?? [Math.min(...ys), Math.max(...ys)];
  if (!o.yDomain) {
    const pad = (y1 - y0) * 0.06 || Math.abs(y0) * 0.1 || 1;
    y0 -= pad;
    y1 += pad;
  }
  const sx = linearScale(x0, x1, m.left, width - m.right);
  const sy = linearScale(y0, y1, height - m.bottom, m.top);
  const parts: string[] = [head];
  parts.push('<g class="chart-grid">');
  for (const t of niceTicks(y0, y1, 5)) {
    const y = round2(sy(t));
    parts.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}"/><text class="tick" x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="central">${formatTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 5)) {
    const x = round2(sx(t));
    parts.push(
      `<text class="tick" x="${x}" y="${height - m.bottom + 14}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  parts.push('</g>');
  parts.push(
    `<line class="chart-axis" x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}"/>`,
  );
  if (o.xLabel)
    parts.push(
      `<text class="axis-label" x="${(m.left + width - m.right) / 2}" y="${height - 6}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`,
    );
  if (o.yLabel)
    parts.push(
      `<text class="axis-label" transform="translate(12,${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
    );
  parts.push(
    `<clipPath id="clip-${width}-${height}"><rect x="${m.left}" y="${m.top - 2}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom + 4}"/></clipPath>`,
  );
  parts.push(`<g clip-path="url(#clip-${width}-${height})">`);
  for (const s of o.series) {
    const pts = downsample(s.points, 800);
    parts.push(
      `<path class="series" d="${linePath(pts, sx, sy)}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 4"' : ''} data-label="${escapeAttribute(s.label)}"/>`,
    );
    if (s.dots)
      for (const [x, y] of pts)
        if (Number.isFinite(x) && Number.isFinite(y))
          parts.push(`<circle cx="${round2(sx(x))}" cy="${round2(sy(y))}" r="2.4" fill="${s.color}"/>`);
  }
  parts.push('</g>');
  // Legend, top right, one row.
  let lx = width - m.right;
  const legend: string[] = [];
  for (const s of [...o.series].reverse()) {
    const w = 22 + s.label.length * 6.2;
    lx -= w;
    legend.push(
      `<line x1="${round2(lx)}" x2="${round2(lx + 14)}" y1="12" y2="12" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/><text class="legend" x="${round2(lx + 18)}" y="12" dominant-baseline="central">${escapeXml(s.label)}</text>`,
    );
  }
  parts.push(...legend, '</svg>');
  return parts.join('');
}

export interface MetricsRecord {
  step: number;
  train_loss?: number;
  val_loss?: number;
  val_bpb?: number;
  lambda?: number[];
}

/** The records of a metrics.jsonl text; blank lines and torn or malformed lines are skipped. */
export function parseMetrics(text: string): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (r && typeof r === 'object' && typeof r.step === 'number') out.push(r);
    } catch {
      // a line torn by a crash mid-append
    }
  }
  return out;
}

export interface TrainingCurves {
  train: Point[];
  val: Point[];
  /** One series per layer (V1 λ, V2 mean sigmoid λ); empty for the baseline. */
  lambda: Point[][];
}

export function trainingCurves(records: readonly MetricsRecord[]): TrainingCurves {
  const train: Point[] = [];
  const val: Point[] = [];
  const lambda: Point[][] = [];
  for (const r of records) {
    if (typeof r.train_loss === 'number') train.push([r.step, r.train_loss]);
    if (typeof r.val_loss === 'number') val.push([r.step, r.val_loss]);
    r.lambda?.forEach((v, l) => {
      lambda[l] ??= [];
      lambda[l].push([r.step, v]);
    });
  }
  return { train, val, lambda };
}

/** Distinct colours for per-layer series. */
export const LAYER_COLORS = [
  '#1b6ca8',
  '#d1495b',
  '#2a9d8f',
  '#e9a03b',
  '#6a4c93',
  '#8a6d3b',
  '#3d5a80',
  '#c44569',
];
export const layerColor = (l: number) => LAYER_COLORS[l % LAYER_COLORS.length];

/**
 * λ per layer as horizontal bars on a shared axis from min(0, values) to max(1, values), with the
 * layer `current` emphasised and λ_init marked when given.
 */
export function lambdaBarsSvg(
  values: readonly number[],
  current: number,
  inits?: readonly number[],
  width = 260,
): string {
  const rowH = 18;
  const left = 58;
  const right = 52;
  const height = values.length * rowH + 8;
  const lo = Math.min(0, ...values);
  const hi = Math.max(1, ...values);
  const sx = linearScale(lo, hi, left, width - right);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="lambda-svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<line class="lambda-zero" x1="${round2(sx(0))}" x2="${round2(sx(0))}" y1="2" y2="${height - 4}"/>`,
  ];
  values.forEach((v, l) => {
    const y = 4 + l * rowH;
    const x0 = sx(Math.min(0, v));
    const w = Math.abs(sx(v) - sx(0));
    parts.push(
      `<g class="lambda-row${l === current ? ' current' : ''}" data-layer="${l}" data-lambda="${v}">`,
      `<text x="${left - 6}" y="${y + rowH / 2 - 1}" text-anchor="end" dominant-baseline="central">layer ${l}</text>`,
      `<rect x="${round2(x0)}" y="${y + 2}" width="${round2(w)}" height="${rowH - 6}" rx="2"/>`,
    );
    if (inits?.[l] !== undefined)
      parts.push(
        `<line class="lambda-init" x1="${round2(sx(inits[l]))}" x2="${round2(sx(inits[l]))}" y1="${y}" y2="${y + rowH - 2}"><title>λ_init ${inits[l].toFixed(4)}</title></line>`,
      );
    parts.push(
      `<text class="lambda-value" x="${width - right + 6}" y="${y + rowH / 2 - 1}" dominant-baseline="central">${v.toFixed(4)}</text></g>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
