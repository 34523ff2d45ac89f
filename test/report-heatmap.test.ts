/**
 * The report's heatmap SVG (src/eval/heatmap.ts), pinned byte for byte: the figures in reports/ must
 * not change when the grid parts it shares with the web app (src/report/heatmap-grid.ts, colour scales
 * in src/report/color-scale.ts) change. The expected texts are the output of the renderer before it
 * was built on the shared parts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heatmapSvg } from '../src/eval/heatmap.ts';
import { reportScale, toRgbFunction } from '../src/report/color-scale.ts';

test('signed, annotated, labelled: byte for byte as before (text escaped, quotes kept)', () => {
  const svg = heatmapSvg([0.5, -0.25, 0, 1], 2, 2, {
    title: `a "b" & <c>`,
    signed: true,
    max: 0.8,
    rowLabels: ['L1 +', 'L1 −'],
    colLabels: ['x', 'y'],
    annotate: true,
    cell: 10,
  });
  assert.equal(svg, EXPECTED_SIGNED);
});

test('unsigned, clipped, automatic cell size, zero cells left out: byte for byte as before', () => {
  const svg = heatmapSvg([0, 0.3, 0.6, 0.9], 2, 2, { title: 't', signed: false, clip: 0.5 });
  assert.equal(svg, EXPECTED_UNSIGNED);
});

test("the report's scale: white at 0, one colour per sign at ±max, clamped beyond, all white for max ≤ 0", () => {
  const signed = reportScale(2, true);
  const rgb = (v: number, s = signed) => toRgbFunction(s.color(v));
  assert.equal(rgb(0), 'rgb(255,255,255)');
  assert.equal(rgb(2), 'rgb(178,24,43)');
  assert.equal(rgb(5), 'rgb(178,24,43)');
  assert.equal(rgb(-2), 'rgb(33,102,172)');
  assert.equal(rgb(1, reportScale(1, false)), 'rgb(8,48,107)');
  assert.equal(rgb(1, reportScale(0, false)), 'rgb(255,255,255)');
});

const EXPECTED_SIGNED = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="520" height="100" viewBox="0 0 520 100">',
  '<rect width="100%" height="100%" fill="white"/>',
  '<text x="10" y="18" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="13">a "b" &amp; &lt;c&gt;</text>',
  '<text x="10" y="33" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="10">rows: query position, columns: key position</text>',
  '<text x="10" y="46" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="10">min -0.250, max 1.000, blue &lt; 0 &lt; red</text>',
  '<text x="56" y="77" text-anchor="end" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11">L1 +</text>',
  '<text x="56" y="87" text-anchor="end" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11">L1 −</text>',
  '<text x="65" y="64" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11">x</text>',
  '<text x="75" y="64" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11">y</text>',
  '<rect x="60" y="68" width="10" height="10" fill="rgb(207,111,123)"/>',
  '<text x="65" y="77" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11" fill="white">0.50</text>',
  '<rect x="70" y="68" width="10" height="10" fill="rgb(186,207,229)"/>',
  '<text x="75" y="77" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11" fill="black">-0.25</text>',
  '<rect x="60" y="78" width="10" height="10" fill="rgb(255,255,255)"/>',
  '<text x="65" y="87" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11" fill="black">0.00</text>',
  '<rect x="70" y="78" width="10" height="10" fill="rgb(178,24,43)"/>',
  '<text x="75" y="87" text-anchor="middle" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="11" fill="white">1.00</text>',
  '<rect x="60" y="68" width="20" height="20" fill="none" stroke="#888" stroke-width="0.5"/>',
  '</svg>',
].join('\n');

const EXPECTED_UNSIGNED = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="520" height="80" viewBox="0 0 520 80">',
  '<rect width="100%" height="100%" fill="white"/>',
  '<text x="10" y="18" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="13">t</text>',
  '<text x="10" y="33" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="10">rows: query position, columns: key position</text>',
  '<text x="10" y="46" font-family="Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif" font-size="10">min 0.000, max 0.900; colour clipped at 0.600 (50th pct.)</text>',
  '<rect x="18" y="52" width="8" height="8" fill="rgb(132,152,181)"/>',
  '<rect x="10" y="60" width="8" height="8" fill="rgb(8,48,107)"/>',
  '<rect x="18" y="60" width="8" height="8" fill="rgb(8,48,107)"/>',
  '<rect x="10" y="52" width="16" height="16" fill="none" stroke="#888" stroke-width="0.5"/>',
  '</svg>',
].join('\n');
