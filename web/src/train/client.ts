/** The page's side of one training worker: requests out, events to a handler. */
import type { TrainRequest, TrainResponse } from './protocol.ts';

export class TrainClient {
  private readonly worker: Worker;

  constructor(onMessage: (m: TrainResponse) => void) {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (event: MessageEvent<TrainResponse>) => onMessage(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      const message = event.message || 'unknown error';
      const memory = /memory|allocation/i.test(message);
      onMessage({
        type: 'error',
        kind: memory ? 'memory' : 'other',
        message: memory
          ? `out of memory: the training worker failed (${message}); choose a smaller preset or train fewer models`
          : `the training worker failed: ${message}`,
      });
    };
  }

  send(message: TrainRequest, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  terminate(): void {
    this.worker.terminate();
  }
}
