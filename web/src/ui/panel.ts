/**
 * One model panel: choose a model (served, or a folder picked/dropped), stream its generation, draw its
 * attention maps for the chosen layer and head, list where a hovered token attends, and plot its
 * training curves. The app owns two panels side by side and shares the layer and colour scales.
 */
import {
  type ColorScale,
  formatValue,
  isVariant,
  METRICS_FILE,
  sequentialScale,
  TOKENIZER_FILE,
  toHex,
  variantLabel,
  variantModule,
  WEIGHTS_FILE,
} from 'diff-transformer/browser';
import { ModelClient } from '../model/client.ts';
import type {
  BackendChoice,
  BackendInfo,
  ModelInfo,
  ModelSource,
  Response,
  SamplingOptions,
} from '../model/protocol.ts';
import {
  lambdaBarsSvg,
  layerColor,
  lineChartSvg,
  parseMetrics,
  type Series,
  trainingCurves,
} from '../render/chart.ts';
import {
  cellSize,
  headSlice,
  headsOf,
  heatmapSvg,
  legendSvg,
  rowEntries,
  tokenLabel,
} from '../render/heatmap.ts';
import { el, formatCount } from './dom.ts';
import { folderFromDrop, folderFromFileList, type PickedFolder } from './folder.ts';

export type MapsResponse = Extract<Response, { type: 'maps' }>;

export interface ServedModelEntry {
  id: string;
  name: string;
  files: Record<string, boolean>;
  config: unknown;
  configError?: string;
}

export interface Scales {
  probability: ColorScale;
  signed: ColorScale;
}

/** What the panel shows for one layer and head: the main map, the smaller ones, V2's λ strip. */
export interface HeadView {
  variant: string;
  rows: number;
  heads: number;
  main: { name: string; title: string; values: Float32Array; signed: boolean };
  parts: { name: string; title: string; values: Float32Array }[];
  /** V2: sigmoid λ per query token for this head. */
  tokenLambda?: Float32Array;
  /** V1: the layer's λ. */
  lambda?: number;
}

export interface PanelHooks {
  /** Something changed that affects the shared layer list or colour scales. */
  changed(): void;
  /** Only the drawing changed (e.g. another head): redraw with the shared scales. */
  rerender(): void;
  /** The user hovered query row `row` (so the other panel can follow). */
  hovered(panel: Panel, row: number): void;
}

const NONE = '';
const FOLDER = '__folder__';

/** The backend asked for in the page's address (`?backend=js` or `?backend=wasm`); default auto. */
function backendChoice(): BackendChoice {
  const asked = new URLSearchParams(location.search).get('backend');
  return asked === 'js' || asked === 'wasm' ? asked : 'auto';
}

/** "wasm (4 threads)", "wasm (1 thread)", "js" */
export function backendLabel(b: BackendInfo): string {
  return b.name === 'js' ? 'js' : `wasm (${b.threads} thread${b.threads === 1 ? '' : 's'})`;
}

export class Panel {
  readonly root: HTMLElement;
  info?: ModelInfo;
  maps?: MapsResponse;
  head = 0;
  hoverRow?: number;
  promptIds: number[] = [];
  generatedIds: number[] = [];
  private client?: ModelClient;
  private loadToken = 0;
  private readonly select: HTMLSelectElement;
  private readonly picker: HTMLInputElement;
  private readonly card: HTMLElement;
  private readonly message: HTMLElement;
  private readonly output: HTMLElement;
  private readonly status: HTMLElement;
  private readonly headSelect: HTMLSelectElement;
  private readonly mapsBox: HTMLElement;
  private readonly inspector: HTMLElement;
  private readonly lambdaBox: HTMLElement;
  private readonly training: HTMLElement;
  private lastLayer = 0;
  private lastScales?: Scales;

  constructor(
    readonly key: 'A' | 'B',
    served: readonly ServedModelEntry[],
    private readonly hooks: PanelHooks,
  ) {
    this.select = el('select', { class: 'model-select', 'aria-label': `model ${key}` });
    this.select.append(
      el('option', { value: NONE }, key === 'A' ? 'Choose a model…' : 'None (single model)'),
    );
    for (const m of served) {
      const variant = (m.config as { variant?: string } | null)?.variant;
      this.select.append(
        el('option', { value: m.id }, `${m.name}${variant ? ` · ${variantLabel(variant)}` : ''}`),
      );
    }
    this.select.append(el('option', { value: FOLDER }, 'Open a model folder…'));
    this.picker = el('input', { type: 'file', class: 'hidden-input', webkitdirectory: '', multiple: '' });
    const open = el('button', { type: 'button', class: 'ghost' }, 'Open folder…');
    open.addEventListener('click', () => this.picker.click());
    this.picker.addEventListener('change', () => {
      if (this.picker.files?.length) void this.loadFolder(folderFromFileList(this.picker.files));
      this.picker.value = '';
    });
    this.select.addEventListener('change', () => {
      const value = this.select.value;
      if (value === FOLDER) {
        this.picker.click();
        this.select.value = this.currentSelectValue;
      } else if (value === NONE) this.unload();
      else {
        const m = served.find((s) => s.id === value);
        if (m) void this.loadServed(m);
      }
    });
    this.card = el('div', { class: 'model-card' });
    this.message = el('div', { class: 'message', role: 'status' });
    this.output = el('div', { class: 'output', 'data-role': 'output' });
    this.status = el('div', { class: 'gen-status' });
    this.headSelect = el('select', { class: 'head-select', 'aria-label': `head of model ${key}` });
    this.headSelect.addEventListener('change', () => {
      this.head = Number(this.headSelect.value);
      this.hooks.rerender();
    });
    this.mapsBox = el('div', { class: 'maps' });
    this.inspector = el('div', { class: 'inspector' });
    this.lambdaBox = el('div', { class: 'lambda-box' });
    this.training = el('div', { class: 'training' });
    this.root = el(
      'section',
      { class: 'panel empty', 'data-panel': key },
      el(
        'header',
        { class: 'panel-head' },
        el('span', { class: 'panel-key' }, key),
        this.select,
        open,
        this.picker,
      ),
      this.card,
      this.message,
      el(
        'div',
        { class: 'drop-hint' },
        'Drop a model folder here (config.json, model.safetensors, tokenizer.json)',
      ),
      el('h3', {}, 'Generation'),
      this.output,
      this.status,
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
    this.root.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.root.classList.add('dragging');
    });
    this.root.addEventListener('dragleave', () => this.root.classList.remove('dragging'));
    this.root.addEventListener('drop', (e) => {
      e.preventDefault();
      this.root.classList.remove('dragging');
      if (e.dataTransfer) void folderFromDrop(e.dataTransfer).then((f) => this.loadFolder(f));
    });
    this.mapsBox.addEventListener('mouseover', (e) => {
      const row = (e.target as Element).getAttribute?.('data-r');
      if (row !== null && row !== undefined) this.setHover(Number(row), true);
    });
  }

  private currentSelectValue = NONE;

  get loaded(): boolean {
    return Boolean(this.info && this.client);
  }

  get layers(): number {
    return this.info?.config.n_layers ?? 0;
  }

  private showMessage(text: string, kind: 'error' | 'info' | '' = ''): void {
    this.message.textContent = text;
    this.message.className = `message ${kind}`;
  }

  unload(): void {
    this.client?.terminate();
    this.client = undefined;
    this.info = undefined;
    this.maps = undefined;
    this.currentSelectValue = NONE;
    this.select.value = NONE;
    this.card.replaceChildren();
    this.output.replaceChildren();
    this.status.textContent = '';
    this.training.replaceChildren();
    this.showMessage('');
    this.root.classList.add('empty');
    this.hooks.changed();
  }

  async loadServed(m: ServedModelEntry): Promise<void> {
    this.select.value = m.id;
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
    const option = el('option', { value: `folder:${folder.name}` }, `${folder.name} (local folder)`);
    this.select.querySelector('option[value^="folder:"]')?.remove();
    this.select.insertBefore(option, this.select.lastChild);
    await this.load(
      { kind: 'files', name: folder.name, files: folder.files },
      metricsFile ? () => metricsFile.text() : undefined,
      option.value,
    );
  }

  private fail(error: Error): void {
    this.root.classList.add('empty');
    this.showMessage(error.message, 'error');
    this.hooks.changed();
  }

  private async load(source: ModelSource, metrics: (() => Promise<string>) | undefined, selectValue: string) {
    const token = ++this.loadToken;
    this.client?.terminate();
    this.client = undefined;
    this.info = undefined;
    this.maps = undefined;
    this.currentSelectValue = selectValue;
    this.select.value = selectValue;
    this.card.replaceChildren();
    this.output.replaceChildren();
    this.status.textContent = '';
    this.training.replaceChildren();
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
      this.renderCard();
      if (metrics) void metrics().then((text) => token === this.loadToken && this.renderTraining(text));
      else this.renderTraining('');
      this.hooks.changed();
    } catch (error) {
      client.terminate();
      if (token === this.loadToken) this.fail(error as Error);
    } finally {
      if (token === this.loadToken) this.root.classList.remove('loading');
    }
  }

  private renderCard(): void {
    const info = this.info!;
    const c = info.config;
    const variant = variantLabel(c.variant);
    const facts: [string, string][] = [
      ['parameters', formatCount(info.parameters)],
      ['layers', String(c.n_layers)],
      ['heads', c.n_kv_heads === c.n_heads ? String(c.n_heads) : `${c.n_heads} (kv ${c.n_kv_heads})`],
      ['d_model', String(c.d_model)],
      ['vocab', String(c.vocab_size)],
    ];
    this.card.replaceChildren(
      el('span', { class: `badge ${c.variant}` }, variant),
      el('span', { class: 'model-name' }, info.name),
      ...facts.map(([k, v]) => el('span', { class: 'fact' }, el('b', {}, v), ` ${k}`)),
      el('span', { class: 'fact muted' }, `loaded in ${Math.round(info.loadMs)} ms`),
    );
    const b = info.backend;
    this.status.textContent = `backend ${backendLabel(b)}${b.note ? ` (${b.note})` : ''}`;
    this.status.dataset.backend = b.name;
    this.status.dataset.threads = String(b.threads);
  }

  private renderTraining(text: string): void {
    const records = parseMetrics(text);
    if (records.length === 0) {
      this.training.replaceChildren(el('p', { class: 'muted' }, 'No metrics.jsonl in this folder.'));
      return;
    }
    const curves = trainingCurves(records);
    const loss: Series[] = [{ label: 'train', color: '#7d8fa9', points: curves.train }];
    if (curves.val.length)
      loss.push({ label: 'validation', color: '#d1495b', points: curves.val, dots: true });
    const charts = [
      lineChartSvg({
        title: 'Loss',
        series: loss,
        xLabel: 'step',
        yLabel: 'cross-entropy (nats)',
        width: 300,
      }),
    ];
    if (curves.lambda.length) {
      const config = this.info?.config;
      const name = (config && isVariant(config.variant) && variantModule(config).lambdaReadoutName) || 'λ';
      charts.push(
        lineChartSvg({
          title: 'λ per layer',
          series: curves.lambda.map((points, l) => ({ label: `layer ${l}`, color: layerColor(l), points })),
          xLabel: 'step',
          yLabel: name,
          width: 300,
        }),
      );
    }
    const box = el('div', { class: 'charts' });
    box.innerHTML = charts.join('');
    this.training.replaceChildren(box);
  }

  // Generation -------------------------------------------------------------------------------------

  async generate(prompt: string, options: SamplingOptions): Promise<void> {
    if (!this.client) return;
    const promptSpan = el('span', { class: 'prompt-text' }, prompt);
    const genSpan = el('span', { class: 'gen-text' });
    const caret = el('span', { class: 'caret' });
    this.output.replaceChildren(promptSpan, genSpan, caret);
    this.generatedIds = [];
    this.status.textContent = `generating… · backend ${backendLabel(this.info!.backend)}`;
    this.root.classList.add('busy');
    try {
      const done = await this.client.generate(
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
      const backend = this.info ? ` · backend ${backendLabel(this.info.backend)}` : '';
      this.status.textContent = `${done.ids.length} tokens · ${rate.toFixed(1)} tokens/s · stopped by ${done.reason}${backend}`;
    } catch (error) {
      this.status.textContent = this.info ? `backend ${backendLabel(this.info.backend)}` : '';
      this.showMessage((error as Error).message, 'error');
    } finally {
      caret.remove();
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

  /** The view of one layer and head, or undefined when there is nothing to show. */
  headView(layer: number): HeadView | undefined {
    const maps = this.maps?.maps[layer];
    const config = this.info?.config;
    if (!maps || !config) return undefined;
    const rows = this.maps!.ids.length;
    const any = maps.p ?? maps.a1!;
    const heads = headsOf(any.length, rows, rows);
    const head = Math.min(this.head, heads - 1);
    const slice = (m: Float32Array) => headSlice(m, heads, rows, rows, head) as Float32Array;
    const variant = variantModule(config);
    const { main, parts } = variant.views;
    const view: HeadView = {
      variant: variant.name,
      rows,
      heads,
      main: {
        name: main.name,
        title: main.title,
        values: slice(maps[main.key]!),
        signed: variant.differential,
      },
      parts: parts.map((p) => ({ name: p.name, title: p.title, values: slice(maps[p.key]!) })),
    };
    if (variant.lambdaKind === 'layer')
      view.lambda = maps.lambda?.[0] ?? this.maps!.lambdas?.[layer] ?? Number.NaN;
    if (variant.lambdaKind === 'token') {
      // λ is [B, T, H]: this head's λ per query token.
      const tokenLambda = new Float32Array(rows);
      for (let t = 0; t < rows; t++) tokenLambda[t] = maps.lambda![t * heads + head];
      view.tokenLambda = tokenLambda;
    }
    return view;
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

    const labels = this.maps.labels.map((l) => tokenLabel(l));
    const width = Math.max(320, this.mapsBox.clientWidth || 600);
    const T = view.rows;
    const stripWidth = view.tokenLambda ? 44 : 0;
    const mainCell = Math.min(32, cellSize(T, width - 90 - stripWidth));
    const partCell = Math.min(20, cellSize(T, (width - 24) / 2 - 86));
    const mainScale = view.main.signed ? scales.signed : scales.probability;
    const figure = (cls: string, title: string, svg: string) => {
      const f = el('figure', { class: cls }, el('figcaption', {}, title));
      f.insertAdjacentHTML('beforeend', svg);
      return f;
    };
    const mainTitle =
      view.lambda !== undefined ? `${view.main.title}   (λ = ${view.lambda.toFixed(4)})` : view.main.title;
    const mainRow = el('div', { class: 'main-row' });
    mainRow.append(
      figure(
        'map main',
        mainTitle,
        heatmapSvg({
          name: view.main.name,
          values: view.main.values,
          rows: T,
          cols: T,
          scale: mainScale,
          rowLabels: labels,
          colLabels: labels,
          cell: mainCell,
        }),
      ),
    );
    if (view.tokenLambda)
      mainRow.append(
        figure(
          'map strip',
          'λₜ',
          heatmapSvg({
            name: 'lambda',
            values: view.tokenLambda,
            rows: T,
            cols: 1,
            causal: false,
            scale: sequentialScale(1),
            rowLabels: [],
            colLabels: ['λ'],
            labelWidth: 2,
            cell: mainCell,
            valuesFrom: 1000,
          }),
        ),
      );
    const legends = el('div', { class: 'legends' });
    legends.insertAdjacentHTML(
      'beforeend',
      legendSvg(
        mainScale,
        view.main.signed ? `${view.main.title.split(' (')[0]} (signed)` : 'attention probability',
      ),
    );
    if (view.main.signed)
      legends.insertAdjacentHTML('beforeend', legendSvg(scales.probability, 'A1, A2 probability'));
    if (view.tokenLambda)
      legends.insertAdjacentHTML('beforeend', legendSvg(sequentialScale(1), 'λₜ = sigmoid(x·W_λ)', 150));
    const boxes: HTMLElement[] = [mainRow, legends];
    if (view.parts.length) {
      const parts = el('div', { class: 'parts-row' });
      for (const p of view.parts)
        parts.append(
          figure(
            'map part',
            p.title,
            heatmapSvg({
              name: p.name,
              values: p.values,
              rows: T,
              cols: T,
              scale: scales.probability,
              rowLabels: labels,
              colLabels: labels,
              cell: partCell,
              labelWidth: 70,
            }),
          ),
        );
      boxes.push(parts);
    }
    if (this.maps.truncated)
      boxes.push(
        el(
          'p',
          { class: 'muted' },
          `Maps over the first ${T} tokens (the rest is left out to keep them legible).`,
        ),
      );
    this.mapsBox.replaceChildren(...boxes);
    this.renderLambda(layer, view);
    if (this.hoverRow === undefined || this.hoverRow >= T) this.hoverRow = T - 1;
    this.setHover(this.hoverRow, false);
    this.publish(layer, view);
  }

  private renderLambda(layer: number, view: HeadView): void {
    const lambdas = this.maps?.lambdas;
    const variant = variantModule(this.info!.config);
    if (variant.lambdaKind === 'none' || !lambdas) {
      this.lambdaBox.replaceChildren(
        el(
          'p',
          { class: 'muted' },
          `The ${variant.label.toLowerCase()} has no λ: one softmax map per head, no noise cancellation.`,
        ),
      );
      return;
    }
    const box = el('div', {});
    const config = this.info!.config;
    const lambdaInit = variant.lambdaInit;
    if (variant.lambdaKind === 'layer' && lambdaInit) {
      box.append(el('h4', {}, 'λ per layer (the bar; the tick is λ_init)'));
      box.insertAdjacentHTML(
        'beforeend',
        lambdaBarsSvg(
          lambdas,
          layer,
          lambdas.map((_, l) => lambdaInit(config, l)),
        ),
      );
    } else {
      const t = view.tokenLambda!;
      let mean = 0;
      for (const v of t) mean += v;
      mean /= t.length;
      box.append(el('h4', {}, 'mean sigmoid λ per layer (over tokens and heads)'));
      box.insertAdjacentHTML('beforeend', lambdaBarsSvg(lambdas, layer));
      box.append(
        el(
          'p',
          { class: 'muted' },
          `layer ${layer}, head ${this.head}: mean λₜ = ${mean.toFixed(4)} over ${t.length} tokens`,
        ),
      );
    }
    this.lambdaBox.replaceChildren(box);
  }

  /** Highlight query row `row` in every map of the panel and list where it attends. */
  setHover(row: number, fromUser: boolean): void {
    const view = this.headView(this.lastLayer);
    if (!view || !this.maps || !this.lastScales || row < 0 || row >= view.rows) return;
    this.hoverRow = row;
    for (const svg of this.mapsBox.querySelectorAll<SVGSVGElement>('svg.heatmap-svg')) {
      const hi = svg.querySelector('.hm-row-highlight');
      const cell = svg.querySelector('rect[data-r]');
      if (!hi || !cell) continue;
      const size = Number(cell.getAttribute('height'));
      hi.setAttribute('y', String(2 + row * size));
      hi.setAttribute('visibility', 'visible');
      for (const t of svg.querySelectorAll('.hm-row-labels text'))
        t.classList.toggle('active', t.getAttribute('data-r') === String(row));
    }
    const T = view.rows;
    const maps = [view.main.values, ...view.parts.map((p) => p.values)];
    const names = [view.main.title, ...view.parts.map((p) => p.name.toUpperCase())];
    const entries = rowEntries(maps, row, T, T, 0, 10);
    const scale = view.main.signed ? this.lastScales.signed : this.lastScales.probability;
    const label = (i: number) => tokenLabel(this.maps!.labels[i], 14);
    const header = el(
      'div',
      { class: 'inspector-head' },
      'Query ',
      el('code', {}, label(row)),
      ` (position ${row}) attends to — top ${entries.length} of ${row + 1} keys`,
      view.tokenLambda ? `, λₜ = ${view.tokenLambda[row].toFixed(4)}` : '',
    );
    const table = el('table', { class: 'inspector-table', 'data-row': String(row) });
    table.append(
      el(
        'tr',
        {},
        el('th', {}, 'key'),
        ...names.map((n, i) => el('th', { class: i === 0 ? 'main' : '' }, n)),
      ),
    );
    for (const e of entries) {
      const main = e.values[0];
      const frac = Math.min(1, Math.abs(main) / Math.max(1e-12, Math.max(Math.abs(scale.min), scale.max)));
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${(frac * 100).toFixed(1)}%`;
      bar.style.background = toHex(scale.color(main));
      table.append(
        el(
          'tr',
          { 'data-c': String(e.col) },
          el('td', { class: 'key' }, el('code', {}, label(e.col)), el('span', { class: 'pos' }, ` ${e.col}`)),
          el(
            'td',
            { class: 'main' },
            el('span', { class: 'bar-box' }, bar),
            el('span', { class: 'num' }, formatValue(main)),
          ),
          ...e.values.slice(1).map((v) => el('td', { class: 'num' }, formatValue(v))),
        ),
      );
    }
    this.inspector.replaceChildren(header, table);
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
