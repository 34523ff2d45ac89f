/**
 * A panel's generation: the prompt and the streamed text with a caret, and the status line under it
 * (the backend, then tokens, speed and why generation stopped). It keeps the token ids of the prompt
 * and of the generated text, which the maps over "prompt + generation" are computed from.
 */
import type { ModelClient } from '../model/client.ts';
import type { BackendInfo, SamplingOptions } from '../model/protocol.ts';
import { el } from './dom.ts';

/** "wasm (4 threads)", "wasm (1 thread)", "js" */
export function backendLabel(b: BackendInfo): string {
  return b.name === 'js' ? 'js' : `wasm (${b.threads} thread${b.threads === 1 ? '' : 's'})`;
}

export class GenerationBox {
  readonly output = el('div', { class: 'output', 'data-role': 'output' });
  readonly status = el('div', { class: 'gen-status' });
  promptIds: number[] = [];
  generatedIds: number[] = [];

  clear(): void {
    this.output.replaceChildren();
    this.status.textContent = '';
  }

  /** The status line of a model just loaded: its backend (and why it is not threaded wasm). */
  showBackend(b: BackendInfo): void {
    this.status.textContent = `backend ${backendLabel(b)}${b.note ? ` (${b.note})` : ''}`;
    this.status.dataset.backend = b.name;
    this.status.dataset.threads = String(b.threads);
  }

  /**
   * Stream a generation from `client` into the box. `backend` is read again at the end (the model may
   * have been unloaded meanwhile); a failure is passed to `failed` after the status line is reset.
   */
  async generate(
    client: ModelClient,
    prompt: string,
    options: SamplingOptions,
    backend: () => BackendInfo | undefined,
    failed: (error: Error) => void,
  ): Promise<void> {
    const promptSpan = el('span', { class: 'prompt-text' }, prompt);
    const genSpan = el('span', { class: 'gen-text' });
    const caret = el('span', { class: 'caret' });
    this.output.replaceChildren(promptSpan, genSpan, caret);
    this.generatedIds = [];
    this.status.textContent = `generating… · backend ${backendLabel(backend()!)}`;
    try {
      const done = await client.generate(
        prompt,
        options,
        (ids) => {
          this.promptIds = ids;
        },
        (id, piece) => {
          if (id >= 0) this.generatedIds.push(id);
          genSpan.textContent += piece;
        },
      );
      const rate = done.ids.length / Math.max(1e-3, done.ms / 1000);
      const b = backend();
      const suffix = b ? ` · backend ${backendLabel(b)}` : '';
      this.status.textContent = `${done.ids.length} tokens · ${rate.toFixed(1)} tokens/s · stopped by ${done.reason}${suffix}`;
    } catch (error) {
      const b = backend();
      this.status.textContent = b ? `backend ${backendLabel(b)}` : '';
      failed(error as Error);
    } finally {
      caret.remove();
    }
  }
}
