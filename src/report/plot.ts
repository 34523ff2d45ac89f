/**
 * Line charts for reports, as SVG and PNG files.
 *
 * Contract:
 * - `lineChartSvg` draws one line per series (legend in the given order) from a vega-lite spec,
 *   compiled to vega and rendered headless (`renderer: 'none'`). The same input gives the same SVG.
 *   Points with finite `lo` and `hi` get an error bar from lo to hi (e.g. a 95% interval).
 * - Points whose x or y is not finite (or not positive on a log axis) are dropped. An empty series
 *   list, duplicate series names, or no drawable point at all is a clear `Error`.
 * - `svgToPng` rasterises with resvg on a white background, loading system fonts; `scale` multiplies
 *   the SVG's own width and height.
 * - `writeChart` writes `${basePath}.svg` and `${basePath}.png` and returns both paths.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

// vega, vega-lite (≈ 0.25 s to import) and resvg load on the first chart, not with this module: the
// commands that import it (compare, eval, report) start as fast as the ones that never draw.
const loadResvg = () => createRequire(import.meta.url)('@resvg/resvg-js') as typeof import('@resvg/resvg-js');

export interface Series {
  name: string;
  points: Array<{ x: number; y: number; lo?: number; hi?: number }>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  logX?: boolean;
  logY?: boolean;
}

/** Common sans-serif faces first, so resvg finds one where the generic `sans-serif` maps to a missing face. */
const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';

interface Row {
  series: string;
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

/** The chart's rows: every drawable point, tagged with its series name. */
function chartRows(series: Series[], options: LineChartOptions): Row[] {
  if (series.length === 0) throw new Error(`line chart "${options.title}": no series to plot`);
  const names = new Set<string>();
  const rows: Row[] = [];
  for (const s of series) {
    if (names.has(s.name))
      throw new Error(`line chart "${options.title}": duplicate series name "${s.name}"`);
    names.add(s.name);
    for (const { x, y, lo, hi } of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if ((options.logX && x <= 0) || (options.logY && y <= 0)) continue;
      const bar =
        lo !== undefined &&
        hi !== undefined &&
        Number.isFinite(lo) &&
        Number.isFinite(hi) &&
        !(options.logY && lo <= 0);
      rows.push(bar ? { series: s.name, x, y, lo, hi } : { series: s.name, x, y });
    }
  }
  if (rows.length === 0) throw new Error(`line chart "${options.title}": no finite points to plot`);
  return rows;
}

/** A multi-series line chart as an SVG string. */
export async function lineChartSvg(series: Series[], options: LineChartOptions): Promise<string> {
  const rows = chartRows(series, options);
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: options.xLabel,
    scale: options.logX ? { type: 'log' as const } : { zero: false },
  };
  const yScale = options.logY ? { type: 'log' as const } : { zero: false };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: { domain: series.map((s) => s.name) },
  };
  const line = {
    mark: { type: 'line' as const, strokeWidth: 1.5 },
    encoding: {
      x,
      y: { field: 'y', type: 'quantitative' as const, title: options.yLabel, scale: yScale },
      color,
    },
  };
  const bars = rows.some((r) => r.lo !== undefined)
    ? [
        {
          transform: [{ filter: 'isValid(datum.lo)' }],
          mark: { type: 'rule' as const, strokeWidth: 1 },
          encoding: {
            x,
            y: { field: 'lo', type: 'quantitative' as const, scale: yScale },
            y2: { field: 'hi' },
            color,
          },
        },
      ]
    : [];
  const spec: TopLevelSpec = {
    title: options.title,
    width: options.width ?? 640,
    height: options.height ?? 360,
    background: 'white',
    config: { font: FONT },
    data: { values: rows },
    layer: [line, ...bars],
  };
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG string to PNG bytes (white background, `scale` times the SVG size). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  if (!(scale > 0)) throw new Error(`svgToPng: scale must be positive, found ${scale}`);
  const resvg = new (loadResvg().Resvg)(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true },
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Writes the chart as `${basePath}.svg` and `${basePath}.png`. */
export async function writeChart(
  basePath: string,
  series: Series[],
  options: LineChartOptions,
): Promise<{ svg: string; png: string }> {
  const svgText = await lineChartSvg(series, options);
  const paths = { svg: `${basePath}.svg`, png: `${basePath}.png` };
  mkdirSync(dirname(basePath), { recursive: true });
  writeFileSync(paths.svg, svgText);
  writeFileSync(paths.png, svgToPng(svgText));
  return paths;
}
