/**
 * What the files of a model folder mean, without a file system: the text of `config.json` → a checked
 * config, the tensors of `model.safetensors` → the model's parameters (exactly the expected names and
 * shapes, every mismatch listed in one error, NaN/Inf weights refused naming the first tensor that
 * holds them). The library's loader (src/io/model-folder.ts) reads the files with node:fs and builds
 * on this; the web app (web/src/model/load.ts) gets it through the browser entry.
 */
import type { Backend } from '../core/backend.ts';
import { type ModelConfig, parseConfig } from '../model/config.ts';
import { nonFiniteLambda } from '../model/lambda-check.ts';
import { type ParameterSet, parameterShapes, tensorMismatches } from '../model/parameters.ts';
import { describeNonFinite, findNonFinite } from './finite.ts';
import type { NamedTensor } from './safetensors.ts';

export class ModelFolderError extends Error {
  override name = 'ModelFolderError';
}

/** The text of config.json, parsed and checked (`source` names the file in errors). */
export function parseConfigText(text: string, source: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFolderError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(json, source);
}

/**
 * How a mismatch between the tensors and the config is listed: `all` groups every name by kind (the
 * command line); `first` lists the first few problems one by one (a one-line status on a page).
 */
export type MismatchListing = 'all' | 'first';

/** Problems listed one by one before `first` shortens the list. */
const FIRST_PROBLEMS = 4;

function listMismatches(m: ReturnType<typeof tensorMismatches>, listing: MismatchListing): string {
  if (listing === 'all')
    return [
      m.missing.length ? `missing tensors: ${m.missing.join(', ')}` : '',
      m.unexpected.length ? `unexpected tensors: ${m.unexpected.join(', ')}` : '',
      m.misshapen.length ? `wrong shapes: ${m.misshapen.join('; ')}` : '',
    ]
      .filter(Boolean)
      .join(' | ');
  const problems = [
    ...m.missing.map((name) => `missing ${name}`),
    ...m.misshapen,
    ...m.unexpected.map((name) => `unexpected ${name}`),
  ];
  return (
    problems.slice(0, FIRST_PROBLEMS).join('; ') +
    (problems.length > FIRST_PROBLEMS ? `; … (${problems.length} problems)` : '')
  );
}

/**
 * Check names, shapes and finiteness against the config; returns the parameters in canonical order,
 * on `backend` (float32 arrays as they are; other precisions converted). `source` names the weights
 * file in errors.
 */
export function parametersFromTensors(
  config: ModelConfig,
  tensors: Map<string, NamedTensor>,
  backend: Backend,
  source: string,
  listing: MismatchListing = 'all',
): ParameterSet {
  const mismatches = tensorMismatches(config, tensors);
  const { missing, unexpected, misshapen } = mismatches;
  if (missing.length || unexpected.length || misshapen.length)
    throw new ModelFolderError(
      `${source} does not match its ${config.variant} config: ${listMismatches(mismatches, listing)}`,
    );
  const nonFinite = findNonFinite([...tensors].map(([name, t]) => [name, t.data]));
  const bad = nonFinite
    ? describeNonFinite(nonFinite)
    : nonFiniteLambda(config, { get: (name) => tensors.get(name)?.data });
  if (bad) throw new ModelFolderError(`${source}: ${bad}: these weights are unusable`);
  const params: ParameterSet = new Map();
  for (const name of parameterShapes(config).keys()) {
    const data = tensors.get(name)!.data;
    params.set(name, backend.precision === 'f32' ? data : backend.fromArray(data));
  }
  return params;
}
