/**
 * One model panel: choose a model (served, or a folder picked/dropped), stream its generation, draw its
 * attention maps for the chosen layer and head, list where a hovered token attends, and plot its
 * training curves. The app owns two panels side by side and shares the layer and colour scales.
 *
 * This file composes the panel and holds its state (the model's worker, the maps, the head and the
 * hovered row); each part is drawn by its own module: model-picker, model-card, generation-box,
 * head-view (the maths), attention-maps, lambda-box, inspector and training-charts.
 */
import { METRICS_FILE, TOKENIZER_FILE, WEIGHTS_FILE } from 'diff-transformer/browser';
import { ModelClient } from '../model/client.ts';
import type {
  BackendChoice,
  MapsResponse,
  ModelInfo,
  ModelSource,
  SamplingOptions,
} from '../model/protocol.ts';
import { tokenLabel } from '../render/heatmap.ts';
import { attentionMaps } from './attention-maps.ts';
import { el } from './dom.ts';
import type { PickedFolder } from './folder.ts';
import { GenerationBox } from './generation-box.ts';
import { type HeadView, headView } from './head-view.ts';
import { highlightRow, inspectorContents } from './inspector.ts';
import { lambdaBox } from './lambda-box.ts';
import { modelCard } from './model-card.ts';
import { ModelPicker, NONE, type ServedModelEntry } from './model-picker.ts';
import type { Scales } from './scales.ts';
import { trainingCharts } from './training-charts.ts';

export interface PanelHooks {
  /** Something changed that affects the shared layer list or colour scales. */
  changed(): void;
  /** Only the drawing changed (e.g. another head): redraw with the shared scales. */
  rerender(): void;
  /** The user hovered query row `row` (so the other panel can follow). */
  hovered(panel: Panel, row: number): void;
}

/** The backend asked for in the page's address (`?backend=js` or `?backend=wasm`); default auto. */
function backendChoice(): BackendChoice {
  const asked = new URLSearchParams(location.search).get('backend');
  return asked === 'js' || asked === 'wasm' ? asked : 'auto';
}

export class Panel {
  readonly root: HTMLElement;
  info?: ModelInfo;
  maps?: MapsResponse;
  head = 0;
  hoverRow?: number;
  private client?: ModelClient;
  private loadToken = 0;
  private readonly picker: ModelPicker;
  private readonly generation = new GenerationBox();
  private readonly card = el('div', { class: 'model-card' });
  private readonly message = el('div', { class: 'message', role: 'status' });
  private readonly headSelect: HTMLSelectElement;
  private readonly mapsBox = el('div', { class: 'maps' });
  private readonly inspector = el('div', { class: 'inspector' });
  private readonly lambdaBox = el('div', { class: 'lambda-box' });
  private readonly training = el('div', { class: 'training' });
  private lastLayer = 0;
  private lastScales?: Scales;

  constructor(
    readonly key: 'A' | 'B',
    served: readonly ServedModelEntry[],
    private readonly hooks: PanelHooks,
  ) {
    const folder = (f: PickedFolder) => void this.loadFolder(f);
    this.picker = new ModelPicker(key, served, {
      served: (m) => void this.loadServed(m),
      folder,
      none: () => this.unload(),
    });
    this.headSelect = el('select', { class: 'head-select', 'aria-label': `head of model ${key}` });
    this.headSelect.addEventListener('change', () => {
      this.head = Number(this.headSelect.value);
      this.hooks.rerender();
    });
    this.root = el(
      'section',
      { class: 'panel empty', 'data-panel': key },
      el(
        'header',
        { class: 'panel-head' },
        el('span', { class: 'panel-key' }, key),
        this.picker.select,
        this.picker.openButton,
        this.picker.picker,
      ),
      this.card,
      this.message,
      el(
        'div',
        { class: 'drop-hint' },
        'Drop a model folder here (config.json, model.safetensors, tokenizer.json)',
      ),
      el('h3', {}, 'Generation'),
      this.generation.output,
      this.generation.status,
      el(
        'div',
        { class: 'attention-head' },
        el('h3', {}, 'Attention'),
        el('label', {}, 'head ', this.headSelect),
      ),
      this.mapsBox,
      this.inspector,
      this.lambdaBox,
      el('h3', {}, 'Training'),
      this.training,
    );
    this.picker.acceptDrops(this.root, { folder });
    this.mapsBox.addEventListener('mouseover', (e) => {
      const row = (e.target as Element).getAttribute?.('data-r');
      if (row !== null && row !== undefined) this.setHover(Number(row), true);
    });
  }

  get loaded(): boolean {
    return Boolean(this.info && this.client);
  }

  get layers(): number {
    return this.info?.config.n_layers ?? 0;
  }

  /** Token ids of the last prompt generated from. */
  get promptIds(): number[] {
    return this.generation.promptIds;
  }

  /** Token ids generated after it. */
  get generatedIds(): number[] {
    return this.generation.generatedIds;
  }

  private showMessage(text: string, kind: 'error' | 'info' | '' = ''): void {
    this.message.textContent = text;
    this.message.className = `message ${kind}`;
  }

  /** Forget the model shown (and its worker): an empty card, output and training box. */
  private clearModel(): void {
    this.client?.terminate();
    this.client = undefined;
    this.info = undefined;
    this.maps = undefined;
    this.card.replaceChildren();
    this.generation.clear();
    this.training.replaceChildren();
  }

  unload(): void {
    this.clearModel();
    this.picker.show(NONE);
    this.showMessage('');
    this.root.classList.add('empty');
    this.hooks.changed();
  }

  async loadServed(m: ServedModelEntry): Promise<void> {
    this.picker.show(m.id, false);
    // Absolute: the worker resolves relative URLs against its own script, not the page.
    const base = new URL(`models/${encodeURIComponent(m.id)}/`, document.baseURI).href;
    if (m.configError) {
      this.fail(new Error(`${m.name}: ${m.configError}`));
      return;
    }
    const missing = [WEIGHTS_FILE, TOKENIZER_FILE].filter((f) => !m.files[f]);
    if (missing.length) {
      this.fail(new Error(`${m.name} is not a complete model folder: ${missing.join(', ')} missing`));
      return;
    }
    const metrics = m.files[METRICS_FILE]
      ? () => fetch(`${base}metrics.jsonl`).then((r) => (r.ok ? r.text() : ''))
      : undefined;
    await this.load({ kind: 'url', name: m.name, base }, metrics, m.id);
  }

  async loadFolder(folder: PickedFolder): Promise<void> {
    const metricsFile = folder.files[METRICS_FILE];
    const value = this.picker.addFolder(folder.name);
    await this.load(
      { kind: 'files', name: folder.name, files: folder.files },
      metricsFile ? () => metricsFile.text() : undefined,
      value,
    );
  }

  private fail(error: Error): void {
    this.root.classList.add('empty');
    this.showMessage(error.message, 'error');
    this.hooks.changed();
  }

  private async load(source: ModelSource, metrics: (() => Promise<string>) | undefined, selectValue: string) {
    const token = ++this.loadToken;
    this.clearModel();
    this.picker.show(selectValue);
    this.root.classList.add('empty');
    this.root.classList.add('loading');
    this.showMessage(`Loading ${source.name}…`, 'info');
    this.hooks.changed();
    const client = new ModelClient();
    try {
      const info = await client.load(
        source,
        (m) => {
          if (token === this.loadToken) this.showMessage(`Loading ${source.name}: ${m}…`, 'info');
        },
        backendChoice(),
      );
      if (token !== this.loadToken) {
        client.terminate();
        return;
      }
      this.client = client;
      this.info = info;
      this.head = 0;
      this.root.classList.remove('empty');
      this.showMessage('');
      this.card.replaceChildren(...modelCard(info));
      this.generation.showBackend(info.backend);
      const showTraining = (text: string) =>
        this.training.replaceChildren(trainingCharts(text, this.info?.config));
      if (metrics) void metrics().then((text) => token === this.loadToken && showTraining(text));
      else showTraining('');
      this.hooks.changed();
    } catch (error) {
      client.terminate();
      if (token === this.loadToken) this.fail(error as Error);
    } finally {
      if (token === this.loadToken) this.root.classList.remove('loading');
    }
  }

  // Generation -------------------------------------------------------------------------------------

  async generate(prompt: string, options: SamplingOptions): Promise<void> {
    if (!this.client) return;
    this.root.classList.add('busy');
    try {
      await this.generation.generate(
        this.client,
        prompt,
        options,
        () => this.info?.backend,
        (error) => this.showMessage(error.message, 'error'),
      );
    } finally {
      this.root.classList.remove('busy');
    }
  }

  stop(): void {
    this.client?.stop();
  }

  // Attention maps ---------------------------------------------------------------------------------

  async computeMaps(input: { ids?: number[]; text?: string }, maxTokens: number): Promise<void> {
    if (!this.client) return;
    try {
      this.maps = await this.client.maps(input, maxTokens);
      if (this.hoverRow === undefined || this.hoverRow >= this.maps.ids.length)
        this.hoverRow = this.maps.ids.length - 1;
    } catch (error) {
      this.maps = undefined;
      this.mapsBox.replaceChildren(el('p', { class: 'message error' }, (error as Error).message));
    }
  }

  /** The view of one layer and the chosen head, or undefined when there is nothing to show. */
  headView(layer: number): HeadView | undefined {
    const config = this.info?.config;
    return this.maps && config ? headView(this.maps, config, layer, this.head) : undefined;
  }

  renderMaps(layer: number, scales: Scales): void {
    this.lastLayer = layer;
    this.lastScales = scales;
    const view = this.headView(layer);
    const config = this.info?.config;
    if (!view || !config || !this.maps) {
      if (!this.loaded) this.mapsBox.replaceChildren();
      this.inspector.replaceChildren();
      this.lambdaBox.replaceChildren();
      this.publish(layer, undefined);
      return;
    }
    // Head choices.
    if (this.headSelect.options.length !== view.heads) {
      this.headSelect.replaceChildren(
        ...Array.from({ length: view.heads }, (_, h) => el('option', { value: String(h) }, String(h))),
      );
    }
    this.head = Math.min(this.head, view.heads - 1);
    this.headSelect.value = String(this.head);
    this.mapsBox.replaceChildren(
      ...attentionMaps(view, scales, {
        labels: this.maps.labels.map((l) => tokenLabel(l)),
        width: Math.max(320, this.mapsBox.clientWidth || 600),
        truncated: this.maps.truncated,
      }),
    );
    this.lambdaBox.replaceChildren(lambdaBox(config, this.maps.lambdas, view, layer, this.head));
    if (this.hoverRow === undefined || this.hoverRow >= view.rows) this.hoverRow = view.rows - 1;
    this.setHover(this.hoverRow, false);
    this.publish(layer, view);
  }

  /** Highlight query row `row` in every map of the panel and list where it attends. */
  setHover(row: number, fromUser: boolean): void {
    const view = this.headView(this.lastLayer);
    if (!view || !this.maps || !this.lastScales || row < 0 || row >= view.rows) return;
    this.hoverRow = row;
    highlightRow(this.mapsBox, row);
    const scale = view.main.signed ? this.lastScales.signed : this.lastScales.probability;
    this.inspector.replaceChildren(...inspectorContents(view, this.maps.labels, row, scale));
    if (fromUser) this.hooks.hovered(this, row);
  }

  /** The debug hook the end-to-end test reads: the maps and the tokens shown. */
  private publish(layer: number, view: HeadView | undefined): void {
    const w = window as unknown as { __maps?: Record<string, unknown> };
    w.__maps ??= {};
    w.__maps[this.key] =
      view && this.maps && this.info
        ? {
            name: this.info.name,
            variant: this.info.config.variant,
            ids: this.maps.ids,
            layer,
            head: this.head,
            lambdas: this.maps.lambdas,
            maps: this.maps.maps,
          }
        : undefined;
  }
}
