/** Messages between the page and a model worker (one worker per model panel). */
import type { ModelConfig } from 'diff-transformer/browser';

export type ModelSource =
  /** A served model: files under `base` (e.g. "models/diff/"). */
  | { kind: 'url'; name: string; base: string }
  /** A folder the user picked or dropped: its files by name. */
  | { kind: 'files'; name: string; files: Record<string, File> };

export interface SamplingOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

/** Attention maps of every layer (Float32Array, [1, H, T, T]), as `LanguageModel.forward` returns them. */
export interface WireLayerMaps {
  a1?: Float32Array;
  a2?: Float32Array;
  diff?: Float32Array;
  lambda?: Float32Array;
  p?: Float32Array;
}

/** Which backend the worker should run: `auto` (wasm when it loads, else js) or one of them. */
export type BackendChoice = 'auto' | 'wasm' | 'js';

/** The backend a worker runs its model on. */
export interface BackendInfo {
  name: 'wasm' | 'js';
  /** threads computing together (1 for js) */
  threads: number;
  /** whether the page is cross-origin isolated (SharedArrayBuffer, so wasm threads) */
  crossOriginIsolated: boolean;
  /** why wasm is not used, or runs on one thread (empty when it runs threaded) */
  note: string;
}

export type Request =
  | { type: 'load'; req: number; source: ModelSource; backend?: BackendChoice }
  | { type: 'generate'; req: number; prompt: string; options: SamplingOptions }
  | { type: 'stop' }
  | { type: 'maps'; req: number; ids?: number[]; text?: string; maxTokens: number };

export interface ModelInfo {
  name: string;
  config: ModelConfig;
  parameters: number;
  loadMs: number;
  backend: BackendInfo;
}

export type Response =
  | { type: 'progress'; req: number; message: string }
  | { type: 'loaded'; req: number; info: ModelInfo }
  | { type: 'error'; req: number; message: string }
  | { type: 'prompt'; req: number; ids: number[] }
  | { type: 'token'; req: number; id: number; piece: string }
  | { type: 'done'; req: number; ids: number[]; reason: 'end of text' | 'max tokens' | 'stopped'; ms: number }
  | {
      type: 'maps';
      req: number;
      ids: number[];
      labels: string[];
      maps: WireLayerMaps[];
      lambdas: number[] | null;
      truncated: boolean;
      ms: number;
    };

/** A worker's answer to a `maps` request. */
export type MapsResponse = Extract<Response, { type: 'maps' }>;
