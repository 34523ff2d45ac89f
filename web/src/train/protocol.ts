/**
 * Messages between the Train view and a training worker (one worker per model). A worker trains one
 * variant with the library's training core (src/train/session.ts, the CLI's own loop), so the same
 * flags give the CLI's batches and losses.
 *
 *   page → worker                           worker → page
 *   tokenizer {text, vocab}                 tokenizer {json, vocabSize, ms}     (once per run, by one worker)
 *   start {run, text, tokenizerJson,        started {config, parameters, step, backend}
 *          checkpoint?}                     step {record}  ·  maps {snapshot}  ·  checkpoint {step, bytes}
 *   pause · resume · stop                   paused {step} · stopped {step} · done {step}
 *   export                                  folder {files}                       (the model folder's files)
 *                                           error {message, kind}
 */
import type { MetricsRecord, ModelConfig, Variant } from 'diff-transformer/browser';
import type { BackendChoice, BackendInfo, WireLayerMaps } from '../model/protocol.ts';

/** The flags of one run, as `diff-transformer train` takes them. */
export interface RunSpec {
  variant: Variant;
  preset: string;
  steps: number;
  seed: number;
  /** Defaults of the preset when absent. */
  batch?: number;
  seq?: number;
  lr?: number;
  evalEvery?: number;
  /** A checkpoint every this many steps (and at pause, stop and the end). */
  saveEvery: number;
  /** Attention maps of the probe prompt every this many steps (and at step 0 and the end). */
  mapsEvery: number;
  /** The fixed probe prompt; at most MAX_PROBE_TOKENS of its tokens are used. */
  probe: string;
  /** What the data is recorded as in the settings (the CLI: fingerprints of the files). */
  data: unknown[];
  backend?: BackendChoice;
  maxThreads?: number;
}

export const MAX_PROBE_TOKENS = 24;

export interface MapsSnapshot {
  step: number;
  ids: number[];
  labels: string[];
  maps: WireLayerMaps[];
  /** λ per layer (V1) or mean sigmoid λ (V2); null for the baseline. */
  lambdas: number[] | null;
}

export type ErrorKind = 'memory' | 'data' | 'diverged' | 'other';

export type TrainRequest =
  | { type: 'tokenizer'; text: string; vocab: number }
  | {
      type: 'start';
      run: RunSpec;
      text: string;
      tokenizerJson: string;
      /** Continue from this checkpoint (safetensors bytes) and the metrics recorded up to it. */
      checkpoint?: Uint8Array;
      metrics?: MetricsRecord[];
    }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'export' };

export type TrainResponse =
  | { type: 'tokenizer'; json: string; vocabSize: number; ms: number }
  | {
      type: 'started';
      config: ModelConfig;
      parameters: number;
      step: number;
      backend: BackendInfo;
    }
  | { type: 'step'; record: MetricsRecord }
  | { type: 'maps'; snapshot: MapsSnapshot }
  | { type: 'checkpoint'; step: number; bytes: Uint8Array }
  | { type: 'paused'; step: number }
  | { type: 'stopped'; step: number }
  | { type: 'done'; step: number }
  | { type: 'folder'; files: Record<string, Uint8Array> }
  | { type: 'error'; message: string; kind: ErrorKind };
