/**
 * A training worker: one model, trained by TrainerCore (trainer-core.ts) on the backend of
 * model/backend-choice.ts (wasm, threaded when the page is cross-origin isolated).
 */
import { chooseBackend } from '../model/backend-choice.ts';
import type { TrainRequest, TrainResponse } from './protocol.ts';
import { TrainerCore } from './trainer-core.ts';

const scope = self as unknown as {
  postMessage(message: TrainResponse, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<TrainRequest>) => void) | null;
};

// One turn of the event loop through a message port (setTimeout(0) is clamped to 4 ms when nested).
const turns = new MessageChannel();
const waiting: (() => void)[] = [];
turns.port1.onmessage = () => waiting.shift()?.();
const nextTurn = () =>
  new Promise<void>((done) => {
    waiting.push(done);
    turns.port2.postMessage(null);
  });

const core = new TrainerCore(
  (message, transfer = []) => scope.postMessage(message, transfer),
  (run) => chooseBackend(run.backend ?? 'wasm', run.maxThreads ?? 2),
  nextTurn,
);
scope.onmessage = (event) => void core.handle(event.data);
