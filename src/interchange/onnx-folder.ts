/**
 * `export --format onnx`: a folder that ONNX Runtime and transformers.js load as it is —
 *   onnx/model.onnx (or onnx/model_fp16.onnx: float16 weights, float32 inputs, outputs and compute),
 *   config.json, generation_config.json and the tokenizer files when the model folder has them.
 * transformers.js runs only the model types it registers, so this folder's config.json says
 * model_type "llama" (LlamaForCausalLM): transformers.js then drives the graph through its generic
 * decoder loop (input_ids, attention_mask, position_ids, past_key_values.* → logits, present.*) and
 * takes the empty cache shapes from the graph's inputs, so DIFF caches work unchanged. The true
 * configuration is kept under "diff_transformer". This config.json is not a Llama model for
 * Python transformers: use `export --format hf` for that.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { CONFIG_FILE, loadModelFolder } from '../io/model-folder.ts';
import { attentionGeometry } from '../model/attention.ts';
import { configToJSON } from '../model/config.ts';
import { DEFAULT_MAX_POSITIONS } from './hf-config.ts';
import { copyTokenizerFiles, readOurTokenizer } from './hf-folder.ts';
import { buildOnnxDecoder } from './onnx-decoder.ts';
import { writeFolderAtomic } from './output-folder.ts';

export type OnnxDtype = 'fp32' | 'fp16';
export const ONNX_FILES: Record<OnnxDtype, string> = {
  fp32: 'onnx/model.onnx',
  fp16: 'onnx/model_fp16.onnx',
};

export interface OnnxExportResult {
  variant: string;
  nodes: number;
  bytes: number;
  path: string;
}

export function exportOnnxFolder(
  modelDir: string,
  out: string,
  o: { dtype?: OnnxDtype; maxPositions?: number } = {},
): OnnxExportResult {
  const dtype = o.dtype ?? 'fp32';
  const model = loadModelFolder(modelDir, createBackend('js'));
  const c = model.config;
  const decoder = buildOnnxDecoder(c, model.params, { fp16: dtype === 'fp16' });
  const eos = readOurTokenizer(modelDir)?.tokenizer?.endOfTextId;
  const geo = attentionGeometry(c, 1, 1, 1);
  const config: Record<string, unknown> = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: c.vocab_size,
    hidden_size: c.d_model,
    num_hidden_layers: c.n_layers,
    num_attention_heads: geo.qHeads,
    num_key_value_heads: geo.kHeads,
    head_dim: c.head_dim,
    max_position_embeddings: o.maxPositions ?? DEFAULT_MAX_POSITIONS,
    bos_token_id: eos ?? null,
    eos_token_id: eos ?? null,
    use_cache: true,
    'transformers.js_config': { dtype },
    diff_transformer: configToJSON(c),
  };
  writeFolderAtomic(out, (dir) => {
    mkdirSync(join(dir, 'onnx'));
    writeFileAtomic(join(dir, ONNX_FILES[dtype]), decoder.bytes);
    writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
    const generation = eos === undefined ? {} : { bos_token_id: eos, eos_token_id: eos };
    writeFileAtomic(join(dir, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
    copyTokenizerFiles(modelDir, dir, true);
  });
  return {
    variant: c.variant,
    nodes: decoder.nodes,
    bytes: decoder.bytes.length,
    path: join(out, ONNX_FILES[dtype]),
  };
}
