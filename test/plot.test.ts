/** Tests for src/report/plot.ts: SVG content, PNG bytes, and bad input. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type LineChartOptions,
  lineChartSvg,
  type Series,
  svgToPng,
  writeChart,
} from '../src/report/plot.ts';

const options: LineChartOptions = {
  title: 'Validation loss',
  xLabel: 'step',
  yLabel: 'loss',
  width: 300,
  height: 200,
};
const series: Series[] = [
  { name: 'baseline', points: [1, 2, 3, 4].map((x) => ({ x, y: 5 - x * 0.5 })) },
  { name: 'diff-v1', points: [1, 2, 3, 4].map((x) => ({ x, y: 4.8 - x * 0.6 })) },
];
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function svgWidth(svg: string): number {
  const match = /^<svg[^>]*\swidth="(\d+(?:\.\d+)?)"/.exec(svg);
  assert.ok(match, 'svg has a width attribute');
  return Number(match[1]);
}

function pngWidth(png: Uint8Array): number {
  return new DataView(png.buffer, png.byteOffset, png.byteLength).getUint32(16); // IHDR width
}

describe('lineChartSvg', () => {
  test('is a well-formed SVG naming the title and every series, deterministically', async () => {
    const svg = await lineChartSvg(series, options);
    assert.ok(svg.startsWith('<svg'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    for (const text of ['Validation loss', 'baseline', 'diff-v1', 'step', 'loss'])
      assert.ok(svg.includes(text), text);
    assert.equal(await lineChartSvg(series, options), svg);
  });

  test('an empty series list is a clear error', async () => {
    await assert.rejects(lineChartSvg([], options), /no series/);
  });

  test('NaN and Infinity points are dropped', async () => {
    const noisy: Series[] = [
      {
        name: 'noisy',
        points: [
          { x: 1, y: 2 },
          { x: 2, y: Number.NaN },
          { x: Number.POSITIVE_INFINITY, y: 1 },
          { x: 3, y: 1 },
        ],
      },
    ];
    const svg = await lineChartSvg(noisy, { ...options, logY: true });
    assert.ok(svg.includes('noisy'));
    assert.ok(!/NaN|Infinity/.test(svg));
    await assert.rejects(
      lineChartSvg([{ name: 'bad', points: [{ x: Number.NaN, y: 1 }] }], options),
      /no finite points/,
    );
  });
});

describe('svgToPng and writeChart', () => {
  test('PNG bytes have the signature and the SVG width times the scale', async () => {
    const svg = await lineChartSvg(series, options);
    const png = svgToPng(svg, 1);
    assert.deepEqual(Array.from(png.subarray(0, 8)), PNG_SIGNATURE);
    assert.equal(pngWidth(png), svgWidth(svg));
    assert.equal(pngWidth(svgToPng(svg, 2)), 2 * svgWidth(svg));
  });

  test('writeChart writes both files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plot-test-'));
    try {
      const paths = await writeChart(join(dir, 'charts', 'loss'), series, options);
      assert.deepEqual(paths, { svg: join(dir, 'charts', 'loss.svg'), png: join(dir, 'charts', 'loss.png') });
      assert.ok(readFileSync(paths.svg, 'utf8').startsWith('<svg'));
      assert.deepEqual(Array.from(readFileSync(paths.png).subarray(0, 8)), PNG_SIGNATURE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
