/**
 * Colour scales for heatmaps, shared by the web app's attention maps and the report's figures (no
 * file system here: the browser entry exports it). The app's scales: sequential (white → dark red) for
 * probabilities and diverging (blue ← white → red) centred on 0 for the signed map A1 − λ·A2; the
 * sequential scale is the positive half of the diverging one, so "red" means "attends" in every map.
 * The report's scale (`reportScale`) runs linearly from white to one colour per sign.
 */
export type Rgb = readonly [number, number, number];

/** ColorBrewer RdBu (11 classes), from negative (blue) to positive (red). */
const DIVERGING: readonly Rgb[] = [
  [5, 48, 97],
  [33, 102, 172],
  [67, 147, 195],
  [146, 197, 222],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [244, 165, 130],
  [214, 96, 77],
  [178, 24, 43],
  [103, 0, 31],
];
const WHITE: Rgb = [255, 255, 255];
const SEQUENTIAL: readonly Rgb[] = [WHITE, ...DIVERGING.slice(6)];

const clamp01 = (t: number) => Math.min(1, Math.max(0, t));

/** Piecewise-linear interpolation between evenly spaced colour stops, t in [0, 1] (clamped; NaN → 0). */
export function interpolate(stops: readonly Rgb[], t: number): Rgb {
  const u = clamp01(Number.isNaN(t) ? 0 : t) * (stops.length - 1);
  const i = Math.min(Math.floor(u), stops.length - 2);
  const f = u - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

export function toHex(c: Rgb): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** CSS/SVG functional notation: "rgb(r,g,b)". */
export function toRgbFunction(c: Rgb): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Black or white, whichever reads better on `c` (relative luminance threshold). */
export function textColorOn(c: Rgb): string {
  const lin = c.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  return luminance > 0.33 ? '#111111' : '#ffffff';
}

export interface ColorScale {
  kind: 'sequential' | 'diverging';
  /** Domain: sequential [0, max]; diverging [−max, max]. */
  min: number;
  max: number;
  color(value: number): Rgb;
}

/** Sequential scale on [0, max] (max > 0; values outside are clamped). */
export function sequentialScale(max: number): ColorScale {
  const m = max > 0 && Number.isFinite(max) ? max : 1;
  return { kind: 'sequential', min: 0, max: m, color: (v) => interpolate(SEQUENTIAL, v / m) };
}

/** Diverging scale on [−maxAbs, maxAbs], white at 0. */
export function divergingScale(maxAbs: number): ColorScale {
  const m = maxAbs > 0 && Number.isFinite(maxAbs) ? maxAbs : 1;
  return { kind: 'diverging', min: -m, max: m, color: (v) => interpolate(DIVERGING, 0.5 + (0.5 * v) / m) };
}

/** The report's end colours: unsigned magnitudes, and signed values below and above 0. */
const REPORT_UNSIGNED: readonly Rgb[] = [WHITE, [8, 48, 107]];
const REPORT_NEGATIVE: readonly Rgb[] = [WHITE, [33, 102, 172]];
const REPORT_POSITIVE: readonly Rgb[] = [WHITE, [178, 24, 43]];

/**
 * The report's scale: |value| / max (clamped to 1; all white when max ≤ 0) from white to navy, or
 * signed from white to blue below 0 and to red above.
 */
export function reportScale(max: number, signed: boolean): ColorScale {
  return {
    kind: signed ? 'diverging' : 'sequential',
    min: signed ? -max : 0,
    max,
    color(v) {
      const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
      const stops = !signed ? REPORT_UNSIGNED : t >= 0 ? REPORT_POSITIVE : REPORT_NEGATIVE;
      return interpolate(stops, Math.abs(t));
    },
  };
}

/** The largest value (or |value| with `abs`) of several arrays; 0 when all are empty. */
export function extent(arrays: readonly ArrayLike<number>[], abs = false): number {
  let m = 0;
  for (const a of arrays)
    for (let i = 0; i < a.length; i++) {
      const v = abs ? Math.abs(a[i]) : a[i];
      if (v > m) m = v;
    }
  return m;
}

/** Short label for a value on a legend or in a table. */
export function formatValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 0.001) return v.toFixed(3).replace(/\.?0+$/, '');
  return v.toExponential(1);
}
