/**
 * The maths of what a panel shows for one layer and head, without the DOM: the head's slice of each
 * attention map of the layer ([1, H, T, T] → [T, T]), which map is the main one and which are its parts
 * (the variant's views), and the layer's λ (V1: one per layer; V2: one per query token and head).
 */
import { type ModelConfig, variantModule } from 'diff-transformer/browser';
import type { MapsResponse } from '../model/protocol.ts';
import { headSlice, headsOf } from '../render/heatmap.ts';

/** What the panel shows for one layer and head: the main map, the smaller ones, V2's λ strip. */
export interface HeadView {
  variant: string;
  rows: number;
  heads: number;
  main: { name: string; title: string; values: Float32Array; signed: boolean };
  parts: { name: string; title: string; values: Float32Array }[];
  /** V2: sigmoid λ per query token for this head. */
  tokenLambda?: Float32Array;
  /** V1: the layer's λ. */
  lambda?: number;
}

/**
 * The view of `layer` and `head` (clamped to the layer's heads) of `maps` from a model with `config`,
 * or undefined when the layer has no maps.
 */
export function headView(
  maps: MapsResponse,
  config: ModelConfig,
  layer: number,
  head: number,
): HeadView | undefined {
  const layerMaps = maps.maps[layer];
  if (!layerMaps) return undefined;
  const rows = maps.ids.length;
  const any = layerMaps.p ?? layerMaps.a1!;
  const heads = headsOf(any.length, rows, rows);
  const h = Math.min(head, heads - 1);
  const slice = (m: Float32Array) => headSlice(m, heads, rows, rows, h) as Float32Array;
  const variant = variantModule(config);
  const { main, parts } = variant.views;
  const view: HeadView = {
    variant: variant.name,
    rows,
    heads,
    main: {
      name: main.name,
      title: main.title,
      values: slice(layerMaps[main.key]!),
      signed: variant.differential,
    },
    parts: parts.map((p) => ({ name: p.name, title: p.title, values: slice(layerMaps[p.key]!) })),
  };
  if (variant.lambdaKind === 'layer')
    view.lambda = layerMaps.lambda?.[0] ?? maps.lambdas?.[layer] ?? Number.NaN;
  if (variant.lambdaKind === 'token') {
    // λ is [B, T, H]: this head's λ per query token.
    const tokenLambda = new Float32Array(rows);
    for (let t = 0; t < rows; t++) tokenLambda[t] = layerMaps.lambda![t * heads + h];
    view.tokenLambda = tokenLambda;
  }
  return view;
}

/** The mean of some values (NaN for none). */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}
