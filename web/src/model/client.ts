/** The page's side of a model worker: promises for load / maps, callbacks for streamed generation. */
import type {
  BackendChoice,
  MapsResponse,
  ModelInfo,
  ModelSource,
  Request,
  Response,
  SamplingOptions,
} from './protocol.ts';

type DoneResponse = Extract<Response, { type: 'done' }>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (message: string) => void;
  onPrompt?: (ids: number[]) => void;
  onToken?: (id: number, piece: string) => void;
}

export class ModelClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextReq = 1;

  constructor() {
    this.worker = new Worker(new URL('../worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (event: MessageEvent<Response>) => this.receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`the model worker failed: ${event.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  private receive(m: Response): void {
    const p = this.pending.get(m.req);
    if (!p) return;
    switch (m.type) {
      case 'progress':
        p.onProgress?.(m.message);
        return;
      case 'prompt':
        p.onPrompt?.(m.ids);
        return;
      case 'token':
        p.onToken?.(m.id, m.piece);
        return;
      case 'error':
        this.pending.delete(m.req);
        p.reject(new Error(m.message));
        return;
      case 'loaded':
        this.pending.delete(m.req);
        p.resolve(m.info);
        return;
      default:
        this.pending.delete(m.req);
        p.resolve(m);
    }
  }

  private call<T>(message: Request, callbacks: Omit<Pending, 'resolve' | 'reject'> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (message.type !== 'stop')
        this.pending.set(message.req, { resolve: resolve as (v: unknown) => void, reject, ...callbacks });
      this.worker.postMessage(message);
    });
  }

  load(
    source: ModelSource,
    onProgress?: (message: string) => void,
    backend: BackendChoice = 'auto',
  ): Promise<ModelInfo> {
    return this.call({ type: 'load', req: this.nextReq++, source, backend }, { onProgress });
  }

  generate(
    prompt: string,
    options: SamplingOptions,
    onPrompt: (ids: number[]) => void,
    onToken: (id: number, piece: string) => void,
  ): Promise<DoneResponse> {
    return this.call({ type: 'generate', req: this.nextReq++, prompt, options }, { onPrompt, onToken });
  }

  stop(): void {
    this.worker.postMessage({ type: 'stop' } satisfies Request);
  }

  maps(input: { ids?: number[]; text?: string }, maxTokens: number): Promise<MapsResponse> {
    return this.call({ type: 'maps', req: this.nextReq++, ...input, maxTokens });
  }

  terminate(): void {
    this.worker.terminate();
    const error = new Error('the model was closed');
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
