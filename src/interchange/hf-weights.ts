/**
 * Hugging Face weights ↔ our parameters (SPEC §6), for a variant with a Hugging Face counterpart
 * (its module's `huggingFace`: DIFF V1 ↔ DiffLlama, baseline ↔ Llama).
 *
 * Reading: `model.safetensors`, or the shards listed by `model.safetensors.index.json` (each tensor
 * must be in the shard the index names); F32, F16, BF16 and F64 come back as float32, exactly.
 * Import: o_proj → our output projection, q/k/v rows permuted (hf-layout.ts), a parameter the
 * counterpart lacks (DIFF V1's subln.weight) = 1, non-persistent RoPE buffers are dropped, a tied
 * lm_head that equals the embedding is dropped.
 * Export: the inverse permutation, and that parameter folded into the columns of o_proj
 * (o_proj[:, h·2d + c] = out_proj[:, h·2d + c]·subln[c]), the only step that rounds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CONFIG_FILE, WEIGHTS_FILE } from '../io/model-folder.ts';
import { type NamedTensor, readSafetensorsFile } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import { layerPrefix, parameterShapes, tensorMismatches } from '../model/parameters.ts';
import { variantModule } from '../model/variants/index.ts';
import { hfCounterpart, InterchangeError } from './hf-config.ts';
import { gatherRows, hfRowOrder, scatterRows } from './hf-layout.ts';

export const HF_INDEX_FILE = 'model.safetensors.index.json';

/** Every tensor of a Hugging Face folder, by name. */
export function readHfTensors(dir: string): Map<string, NamedTensor> {
  const single = join(dir, WEIGHTS_FILE);
  const indexPath = join(dir, HF_INDEX_FILE);
  if (existsSync(indexPath)) return readShards(dir, indexPath);
  if (existsSync(single)) return readSafetensorsFile(single).tensors;
  const other = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt'].find((f) =>
    existsSync(join(dir, f)),
  );
  throw new InterchangeError(
    `${dir}: expected ${WEIGHTS_FILE} or ${HF_INDEX_FILE} beside ${CONFIG_FILE}, found ${other ? `${other} (only safetensors weights can be imported)` : 'neither'}`,
  );
}

function readShards(dir: string, indexPath: string): Map<string, NamedTensor> {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (error) {
    throw new InterchangeError(`${indexPath}: not valid JSON (${(error as Error).message})`);
  }
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new InterchangeError(`${indexPath}: expected a weight_map object of tensor name → shard file`);
  const byFile = new Map<string, Set<string>>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || basename(file) !== file || !file.endsWith('.safetensors'))
      throw new InterchangeError(
        `${indexPath}: weight_map["${name}"] must be a .safetensors file name in the folder, found ${JSON.stringify(file)}`,
      );
    if (!byFile.has(file)) byFile.set(file, new Set());
    byFile.get(file)!.add(name);
  }
  const tensors = new Map<string, NamedTensor>();
  for (const [file, names] of byFile) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new InterchangeError(`${indexPath} lists ${file}, which is missing`);
    const shard = readSafetensorsFile(path).tensors;
    for (const [name, tensor] of shard) {
      if (!names.has(name))
        throw new InterchangeError(
          `${path} holds tensor ${name}, which ${HF_INDEX_FILE} does not place there`,
        );
      tensors.set(name, tensor);
    }
    const absent = [...names].filter((n) => !shard.has(n));
    if (absent.length)
      throw new InterchangeError(`${path} lacks ${absent.join(', ')} (listed in ${HF_INDEX_FILE})`);
  }
  return tensors;
}

/** The attention projections whose rows are permuted: [name, our row ← HF row order, columns]. */
function permutedProjections(c: ModelConfig, layer: number): [string, Int32Array, number][] {
  const a = `${layerPrefix(layer)}self_attn.`;
  const maps = hfCounterpart(c).mapsPerHead;
  const D = c.d_model;
  return [
    [`${a}q_proj.weight`, hfRowOrder(c.n_heads, c.head_dim, maps, true), D],
    [`${a}k_proj.weight`, hfRowOrder(c.n_kv_heads, c.head_dim, maps, true), D],
    [`${a}v_proj.weight`, hfRowOrder(c.n_kv_heads, c.head_dim, maps, false), D],
  ];
}

/** Hugging Face calls every output projection o_proj; ours is named by the variant. */
function outputProjectionNames(c: ModelConfig) {
  const ours = `.self_attn.${variantModule(c).outputProjection}.`;
  const hf = '.self_attn.o_proj.';
  return {
    hfName: (name: string) => name.replace(ours, hf),
    ourName: (name: string) => name.replace(hf, ours),
  };
}

/** The names (per layer) of our parameter the counterpart lacks, and of the output projection it folds into. */
function foldedParameters(c: ModelConfig): { folded: string; into: string }[] {
  const folded = hfCounterpart(c).foldedIntoOutput;
  if (!folded) return [];
  const into = `${variantModule(c).outputProjection}.weight`;
  return Array.from({ length: c.n_layers }, (_, l) => ({
    folded: `${layerPrefix(l)}self_attn.${folded}`,
    into: `${layerPrefix(l)}self_attn.${into}`,
  }));
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** Hugging Face tensors → our parameters (names and shapes checked against `c`, every problem listed). */
export function tensorsFromHf(
  c: ModelConfig,
  hf: Map<string, NamedTensor>,
  source: string,
): Map<string, NamedTensor> {
  const { hfName, ourName } = outputProjectionNames(c);
  const shapes = parameterShapes(c);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, tensor] of hf) {
    if (name.endsWith('.rotary_emb.inv_freq')) continue; // a buffer of older checkpoints, recomputed
    if (name === 'lm_head.weight' && c.tie_embeddings) {
      const embed = hf.get('model.embed_tokens.weight');
      if (embed && sameValues(embed.data, tensor.data)) continue;
      throw new InterchangeError(
        `${source}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight`,
      );
    }
    tensors.set(ourName(name), tensor);
  }
  for (const { folded } of foldedParameters(c)) {
    const shape = shapes.get(folded)!;
    tensors.set(folded, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1) });
  }
  const { missing, unexpected, misshapen } = tensorMismatches(c, tensors);
  const problems = [
    missing.length ? `missing tensors: ${missing.map(hfName).join(', ')}` : '',
    unexpected.length ? `tensors we cannot represent: ${unexpected.map(hfName).join(', ')}` : '',
    misshapen.length ? `wrong shapes: ${misshapen.map(hfName).join('; ')}` : '',
  ].filter(Boolean);
  if (problems.length)
    throw new InterchangeError(`${source} does not match its config: ${problems.join(' | ')}`);
  for (let l = 0; l < c.n_layers; l++)
    for (const [name, order, cols] of permutedProjections(c, l)) {
      const t = tensors.get(name)!;
      tensors.set(name, { shape: t.shape, data: gatherRows(t.data, cols, order) });
    }
  return new Map([...shapes.keys()].map((name) => [name, tensors.get(name)!]));
}

/** Our parameters → Hugging Face tensors (names in canonical order); `c` must be exportable. */
export function tensorsToHf(
  c: ModelConfig,
  params: ReadonlyMap<string, Float32Array>,
): Map<string, NamedTensor> {
  const { hfName } = outputProjectionNames(c);
  const out = new Map<string, NamedTensor>();
  const permuted = new Map<string, Float32Array>();
  for (let l = 0; l < c.n_layers; l++)
    for (const [name, order, cols] of permutedProjections(c, l))
      permuted.set(name, scatterRows(params.get(name)!, cols, order));
  const foldedInto = new Map(foldedParameters(c).map(({ folded, into }) => [into, folded]));
  const folded = new Set(foldedInto.values());
  for (const [name, shape] of parameterShapes(c)) {
    if (folded.has(name)) continue;
    let data = permuted.get(name) ?? params.get(name)!;
    const scale = foldedInto.get(name);
    if (scale !== undefined) data = foldColumnScale(data, shape[1], params.get(scale)!);
    out.set(hfName(name), { shape, data });
  }
  return out;
}

/** w [rows, cols] → w·diag(scale repeated along the columns): out[r, j] = w[r, j]·scale[j mod |scale|] */
function foldColumnScale(w: Float32Array, cols: number, scale: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] * scale[(i % cols) % scale.length];
  return out;
}
