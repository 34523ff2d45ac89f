/**
 * The web panel's head view (web/src/ui/head-view.ts): one head's slice of each map of a layer, the
 * variant's main map and parts, and λ per layer (V1) or per query token of the head (V2).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/model/config.ts';
import type { MapsResponse, WireLayerMaps } from '../web/src/model/protocol.ts';
import { headView, mean } from '../web/src/ui/head-view.ts';

const T = 3;
const H = 2;
const config = (variant: string) =>
  parseConfig({
    variant,
    vocab_size: 32,
    d_model: 16,
    n_layers: 2,
    ffn_hidden: 24,
    n_heads: H,
    n_kv_heads: H,
    head_dim: variant === 'diff' ? 4 : 8, // V1 splits each head in two
  });

/** A [1, H, T, T] map whose value at (h, r, c) is offset + 100 h + 10 r + c. */
const map = (offset: number) =>
  Float32Array.from({ length: H * T * T }, (_, i) => offset + 100 * Math.floor(i / (T * T)) + (i % (T * T)));

function response(layers: WireLayerMaps[], lambdas: number[] | null): MapsResponse {
  return {
    type: 'maps',
    req: 1,
    ids: [5, 6, 7],
    labels: ['a', 'b', 'c'],
    maps: layers,
    lambdas,
    truncated: false,
    ms: 1,
  };
}

test('V1: the diff map is the signed main map, A1 and A2 its parts, λ of the layer', () => {
  const maps = response(
    [
      { diff: map(0), a1: map(1000), a2: map(2000), lambda: Float32Array.of(0.25) },
      { diff: map(0), a1: map(1000), a2: map(2000) },
    ],
    [0.25, 0.5],
  );
  const view = headView(maps, config('diff'), 0, 1)!;
  assert.equal(view.rows, T);
  assert.equal(view.heads, H);
  assert.equal(view.main.name, 'diff');
  assert.equal(view.main.signed, true);
  assert.deepEqual(Array.from(view.main.values), [100, 101, 102, 103, 104, 105, 106, 107, 108]);
  assert.deepEqual(
    view.parts.map((p) => [p.name, p.values[0]]),
    [
      ['a1', 1100],
      ['a2', 2100],
    ],
  );
  assert.equal(view.lambda, 0.25);
  assert.equal(view.tokenLambda, undefined);
  // A layer without its own λ takes the maps' λ per layer.
  assert.equal(headView(maps, config('diff'), 1, 0)!.lambda, 0.5);
  // A head past the last is the last; a layer without maps has no view.
  assert.equal(headView(maps, config('diff'), 0, 7)!.main.values[0], 100);
  assert.equal(headView(maps, config('diff'), 2, 0), undefined);
});

test('V2: λ per query token of the chosen head, from the [B, T, H] λ map', () => {
  const lambda = Float32Array.from({ length: T * H }, (_, i) => i / 10); // [t, h] = (2t + h) / 10
  const maps = response([{ diff: map(0), a1: map(1000), a2: map(2000), lambda }], [0.3]);
  const view = headView(maps, config('diffv2'), 0, 1)!;
  assert.equal(view.main.name, 'v2diff');
  assert.deepEqual(Array.from(view.tokenLambda!), Array.from(Float32Array.of(0.1, 0.3, 0.5)));
  assert.equal(view.lambda, undefined);
  assert.ok(Math.abs(mean(view.tokenLambda!) - 0.3) < 1e-6);
});

test('baseline: one unsigned map, no parts, no λ', () => {
  const view = headView(response([{ p: map(0) }], null), config('baseline'), 0, 0)!;
  assert.equal(view.main.name, 'p');
  assert.equal(view.main.signed, false);
  assert.deepEqual(view.parts, []);
  assert.equal(view.lambda, undefined);
  assert.equal(view.tokenLambda, undefined);
  assert.deepEqual(Array.from(view.main.values), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});
