/** A panel's model card: the variant badge, the model's name and its size facts. */
import { variantLabel } from 'diff-transformer/browser';
import type { ModelInfo } from '../model/protocol.ts';
import { el, formatCount } from './dom.ts';

/** The card's contents for a loaded model. */
export function modelCard(info: ModelInfo): HTMLElement[] {
  const c = info.config;
  const facts: [string, string][] = [
    ['parameters', formatCount(info.parameters)],
    ['layers', String(c.n_layers)],
    ['heads', c.n_kv_heads === c.n_heads ? String(c.n_heads) : `${c.n_heads} (kv ${c.n_kv_heads})`],
    ['d_model', String(c.d_model)],
    ['vocab', String(c.vocab_size)],
  ];
  return [
    el('span', { class: `badge ${c.variant}` }, variantLabel(c.variant)),
    el('span', { class: 'model-name' }, info.name),
    ...facts.map(([k, v]) => el('span', { class: 'fact' }, el('b', {}, v), ` ${k}`)),
    el('span', { class: 'fact muted' }, `loaded in ${Math.round(info.loadMs)} ms`),
  ];
}
