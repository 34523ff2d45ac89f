/** The standard Transformer attention (SPEC §3): one softmax map per head, no λ. */
import type { ModelConfig } from '../config.ts';
import { groupedGeometry } from './shared.ts';
import type { VariantModule } from './variant.ts';

export const baseline: VariantModule = {
  name: 'baseline',
  label: 'Baseline',
  differential: false,
  lambdaKind: 'none',
  extraConfigKeys: [],
  width: (c) => ({ width: c.n_heads * c.head_dim, formula: 'n_heads·head_dim' }),
  matched: (b: ModelConfig) => ({ ...b }),
  geometry: (c, batch, seqQ, seqK) => groupedGeometry(c.n_heads, c.n_kv_heads, c.head_dim, batch, seqQ, seqK),
  outputProjection: 'out_proj',
  attentionShapes(c) {
    const { d_model: D, n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
    return [
      ['q_proj.weight', [H * d, D]],
      ['k_proj.weight', [Hkv * d, D]],
      ['v_proj.weight', [Hkv * d, D]],
      ['out_proj.weight', [D, H * d]],
    ];
  },
  combine: () => ({ combine: { kind: 'none' } }),
  maps: (_backend, _g, probs) => ({ p: probs }),
  views: { main: { key: 'p', name: 'p', title: 'P = softmax(QKᵀ/√d)' }, parts: [] },
  lambdaReadout: () => undefined,
  huggingFace: {
    modelType: 'llama',
    architecture: 'LlamaForCausalLM',
    defaultNormEps: 1e-6,
    mapsPerHead: 1,
    extraConfig: { mlp_bias: false, pretraining_tp: 1 },
  },
};
