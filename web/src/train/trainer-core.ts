/**
 * What a training worker does, apart from being a worker (worker.ts): it answers the requests of
 * protocol.ts with the library's training core — resolveSettings, textTrainingData, TrainingSession
 * (src/train/session.ts), the code the CLI's `train` runs — so the browser trains on the same batches
 * from the same seeds. Runs in Node too (test/browser-train-protocol.test.ts drives it directly).
 *
 * The loop yields one turn of the event loop between steps (`nextTurn`), so pause, resume, stop and
 * export are seen between steps. Checkpoints are the CLI's checkpoint.safetensors content
 * (checkpoint-content.ts), as bytes, for the page to keep (IndexedDB).
 */
import {
  type Backend,
  CONFIG_FILE,
  checkpointContent,
  configToJSON,
  countParameters,
  DataError,
  DivergedError,
  type LanguageModel,
  METRICS_FILE,
  type MetricsRecord,
  type NamedTensor,
  parameterShapes,
  readSafetensors,
  resolveSettings,
  restoreCheckpoint,
  TOKENIZER_FILE,
  Tokenizer,
  TrainingSession,
  textTrainingData,
  trainTokenizer,
  WEIGHTS_FILE,
  writeSafetensors,
} from 'diff-transformer/browser';
import type { BackendInfo, WireLayerMaps } from '../model/protocol.ts';
import {
  type ErrorKind,
  MAX_PROBE_TOKENS,
  type MapsSnapshot,
  type RunSpec,
  type TrainRequest,
  type TrainResponse,
} from './protocol.ts';

export type Post = (message: TrainResponse, transfer?: Transferable[]) => void;
export type BackendFor = (run: RunSpec) => Promise<{ backend: Backend; info: BackendInfo }>;

/** The files of a model folder (`diff-transformer info DIR` and `generate --model DIR` load it). */
export function modelFolderFiles(
  model: LanguageModel,
  step: number,
  tokenizerJson: string,
  metrics: readonly MetricsRecord[],
): Record<string, Uint8Array> {
  const tensors = new Map<string, NamedTensor>();
  for (const [name, shape] of parameterShapes(model.config))
    tensors.set(name, { shape, data: Float32Array.from(model.params.get(name)!) });
  const text = new TextEncoder();
  return {
    [CONFIG_FILE]: text.encode(`${JSON.stringify(configToJSON(model.config), null, 2)}\n`),
    // the metadata saveModelFolder writes (src/io/model-folder.ts)
    [WEIGHTS_FILE]: writeSafetensors(tensors, {
      format: 'pt',
      step: String(step),
      variant: model.config.variant,
    }),
    [TOKENIZER_FILE]: text.encode(tokenizerJson),
    [METRICS_FILE]: text.encode(metrics.map((r) => `${JSON.stringify(r)}\n`).join('')),
  };
}

/** Memory, data, divergence or anything else, for the page to say what to do. */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof DivergedError) return 'diverged';
  if (error instanceof DataError) return 'data';
  const message = error instanceof Error ? error.message : String(error);
  if (
    /out of memory|memory access out of bounds|Memory\.grow|Maximum memory size|Array buffer allocation failed|Invalid typed array length/i.test(
      message,
    )
  )
    return 'memory';
  return 'other';
}

function errorMessage(error: unknown, kind: ErrorKind, run?: RunSpec): string {
  const message = error instanceof Error ? error.message : String(error);
  if (kind === 'memory')
    return `out of memory: the ${run?.preset ?? ''} model needs more memory than this tab may use (${message}); choose a smaller preset, train fewer models at once, or close other tabs`;
  if (kind === 'diverged') return `${message} (try a lower learning rate)`;
  return message;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function toWireMaps(maps: NonNullable<ReturnType<LanguageModel['forward']>['maps']>): {
  wire: WireLayerMaps[];
  transfer: Transferable[];
} {
  const wire: WireLayerMaps[] = [];
  const transfer: Transferable[] = [];
  for (const layer of maps) {
    const copy: WireLayerMaps = {};
    for (const key of ['a1', 'a2', 'diff', 'lambda', 'p'] as const) {
      const value = layer[key];
      if (value) {
        const f32 = Float32Array.from(value);
        copy[key] = f32;
        transfer.push(f32.buffer);
      }
    }
    wire.push(copy);
  }
  return { wire, transfer };
}

export class TrainerCore {
  private session: TrainingSession | undefined;
  private run: RunSpec | undefined;
  private tokenizer: Tokenizer | undefined;
  private tokenizerJson = '';
  private tokenizerPrint = { bytes: 0, sha256: '' };
  private probeIds: number[] = [];
  private metrics: MetricsRecord[] = [];
  private paused = false;
  private stopRequested = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly post: Post,
    private readonly backendFor: BackendFor,
    private readonly nextTurn: () => Promise<void>,
  ) {}

  /** Answer one request; errors are posted, never thrown. */
  async handle(message: TrainRequest): Promise<void> {
    try {
      switch (message.type) {
        case 'tokenizer': {
          const started = performance.now();
          const tokenizer = trainTokenizer(message.text, { vocabSize: message.vocab });
          this.post({
            type: 'tokenizer',
            json: JSON.stringify(tokenizer.toJSON()),
            vocabSize: tokenizer.vocabSize,
            ms: performance.now() - started,
          });
          return;
        }
        case 'start':
          await this.start(message);
          return;
        case 'pause':
          this.paused = true;
          return;
        case 'resume':
          this.paused = false;
          this.wake?.();
          return;
        case 'stop':
          this.stopRequested = true;
          this.wake?.();
          return;
        case 'export': {
          const session = this.requireSession();
          const files = modelFolderFiles(session.model, session.step, this.tokenizerJson, this.metrics);
          this.post(
            { type: 'folder', files },
            Object.values(files).map((f) => f.buffer as ArrayBuffer),
          );
          return;
        }
      }
    } catch (error) {
      const kind = errorKind(error);
      this.post({ type: 'error', message: errorMessage(error, kind, this.run), kind });
    }
  }

  private requireSession(): TrainingSession {
    if (!this.session) throw new Error('no model is training: start a run first');
    return this.session;
  }

  private async start(m: Extract<TrainRequest, { type: 'start' }>): Promise<void> {
    if (this.session) throw new Error('this worker is already training a model');
    const { run } = m;
    this.run = run;
    const { backend, info } = await this.backendFor(run);
    const tokenizer = Tokenizer.fromJSON(JSON.parse(m.tokenizerJson));
    this.tokenizer = tokenizer;
    this.tokenizerJson = m.tokenizerJson;
    this.tokenizerPrint = {
      bytes: new TextEncoder().encode(m.tokenizerJson).length,
      sha256: await sha256Hex(m.tokenizerJson),
    };
    const { preset, settings, evalEvery } = resolveSettings(
      {
        variant: run.variant,
        preset: run.preset,
        steps: run.steps,
        seed: run.seed,
        batch: run.batch,
        seq: run.seq,
        lr: run.lr,
        evalEvery: run.evalEvery,
        vocab: tokenizer.vocabSize,
      },
      run.data,
    );
    const checkpoint = m.checkpoint
      ? restoreCheckpoint(
          readSafetensors(m.checkpoint, 'the saved checkpoint'),
          backend,
          'the saved checkpoint',
        )
      : undefined;
    const data = textTrainingData(m.text, tokenizer, settings);
    const session = new TrainingSession({
      preset,
      settings,
      evalEvery,
      tokenizer,
      data,
      backend,
      checkpoint,
    });
    this.session = session;
    this.metrics = (m.metrics ?? []).filter((r) => r.step <= session.step);
    this.probeIds = tokenizer.encode(run.probe).slice(0, MAX_PROBE_TOKENS);
    this.post({
      type: 'started',
      config: session.model.config,
      parameters: countParameters(session.model.config).total,
      step: session.step,
      backend: info,
    });
    if (this.probeIds.length > 0) this.postMaps();
    await this.loop();
  }

  private async loop(): Promise<void> {
    const session = this.requireSession();
    const run = this.run!;
    while (!session.done) {
      await this.nextTurn();
      if (this.paused && !this.stopRequested) {
        this.saveCheckpoint();
        this.post({ type: 'paused', step: session.step });
        await new Promise<void>((wake) => {
          this.wake = wake;
        });
        this.wake = undefined;
      }
      if (this.stopRequested) {
        this.saveCheckpoint();
        this.post({ type: 'stopped', step: session.step });
        return;
      }
      const record = session.next();
      this.metrics.push(record);
      this.post({ type: 'step', record });
      if (record.step % run.mapsEvery === 0 || session.done) this.postMaps();
      if (record.step % run.saveEvery === 0 && !session.done) this.saveCheckpoint();
    }
    this.saveCheckpoint();
    this.post({ type: 'done', step: session.step });
  }

  private saveCheckpoint(): void {
    const session = this.requireSession();
    const { tensors, metadata } = checkpointContent(
      session.model.params,
      session.optimiser,
      session.runState(this.tokenizerPrint),
    );
    const bytes = writeSafetensors(tensors, metadata);
    this.post({ type: 'checkpoint', step: session.step, bytes }, [bytes.buffer as ArrayBuffer]);
  }

  private postMaps(): void {
    const session = this.requireSession();
    const ids = this.probeIds;
    if (ids.length === 0) return;
    const result = session.model.forward(Int32Array.from(ids), 1, ids.length, { maps: true });
    const { wire, transfer } = toWireMaps(result.maps ?? []);
    const snapshot: MapsSnapshot = {
      step: session.step,
      ids,
      labels: ids.map((id) => this.tokenizer!.decode([id])),
      maps: wire,
      lambdas: result.lambdas ?? null,
    };
    this.post({ type: 'maps', snapshot }, transfer);
  }
}
