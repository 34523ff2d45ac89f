/**
 * The Train view: a DIFF model and its baseline (V2 optional) trained side by side in this tab, one
 * Web Worker per model (worker.ts), with the CLI's training code, seeds and batches. Live: both
 * losses on one chart, tokens/s, λ per layer, and the attention maps of a fixed probe prompt every N
 * steps with a slider to replay them. Pause, resume, stop; the run is kept in IndexedDB (store.ts) and
 * offered again after a reload; each model downloads as a model folder (.zip) the CLI loads, or opens
 * in the Inspect view.
 *
 * For tests and curious users, `window.__train` holds the records and map snapshots shown.
 */
import {
  divergingScale,
  extent,
  getPreset,
  type MetricsRecord,
  PRESETS,
  sequentialScale,
  VARIANTS,
  type Variant,
  variantLabel,
} from 'diff-transformer/browser';
import { lineChartSvg, type Series } from '../render/chart.ts';
import { headSlice, headsOf, heatmapSvg } from '../render/heatmap.ts';
import { el, formatCount } from '../ui/dom.ts';
import type { PickedFolder } from '../ui/folder.ts';
import { TrainClient } from './client.ts';
import type { MapsSnapshot, RunSpec, TrainResponse } from './protocol.ts';
import { clearRun, loadRun, type StoredRun, saveRun } from './store.ts';
import { downloadBytes, zipFolder } from './zip.ts';

/** A dropped text must be at least this large: a tokenizer and a 10% validation split need some text. */
export const MIN_TEXT_BYTES = 10_000;
const PROBE = 'Call me Ishmael. Some years ago, never mind how long precisely';
/** Checked at first: the paper's comparison, DIFF V1 beside its baseline. */
const SIDE_BY_SIDE: readonly Variant[] = ['diff', 'baseline'];
const COLORS: Record<Variant, string> = { diff: '#b2182b', baseline: '#2166ac', diffv2: '#1b7837' };
const MAP_TITLES: Record<string, string> = { a1: 'A1', a2: 'A2', diff: 'A1 − λ·A2', p: 'P' };

interface ModelState {
  variant: Variant;
  client: TrainClient;
  records: MetricsRecord[];
  snapshots: MapsSnapshot[];
  step: number;
  status: string;
  backend: string;
  parameters: number;
  waiting?: (files: Record<string, Uint8Array>) => void;
}

/** Why `bytes` cannot be a training text, or its text. */
export function readTrainingText(name: string, bytes: Uint8Array): { text: string } | { error: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { error: `${name} is not a text file: it is not valid UTF-8 (drop a .txt file)` };
  }
  if (text.includes('\0')) return { error: `${name} is not a text file: it contains NUL bytes` };
  if (bytes.length < MIN_TEXT_BYTES)
    return {
      error: `${name} is too small to train on: ${bytes.length} bytes; the tokenizer and the validation split need at least ${MIN_TEXT_BYTES / 1000} kB of text`,
    };
  return { text };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function mountTrainView(root: HTMLElement, openInInspect: (folder: PickedFolder) => void): void {
  const number = (value: string, min = 1) =>
    el('input', { type: 'number', min: String(min), step: '1', value }) as HTMLInputElement;
  const presetSelect = el(
    'select',
    { class: 'train-preset' },
    ...['nano', 'small'].map((name) =>
      el('option', { value: name }, `${name} — ${PRESETS[name].description}`),
    ),
  ) as HTMLSelectElement;
  const corpusSelect = el(
    'select',
    { class: 'train-corpus' },
    el('option', { value: 'moby-dick' }, 'Moby Dick (bundled, 1.2 MB)'),
    el('option', { value: 'file' }, 'a text file…'),
  ) as HTMLSelectElement;
  const fileInput = el('input', {
    type: 'file',
    accept: '.txt,.md,text/plain',
    class: 'train-file',
  }) as HTMLInputElement;
  const variantBoxes = VARIANTS.map((v) => {
    const box = el('input', { type: 'checkbox', value: v, class: `train-variant-${v}` }) as HTMLInputElement;
    box.checked = SIDE_BY_SIDE.includes(v);
    return el('label', { class: 'radio' }, box, ` ${variantLabel(v)}`);
  });
  const stepsInput = number('300');
  stepsInput.className = 'train-steps';
  const seedInput = number('1', 0);
  seedInput.className = 'train-seed';
  const evalEveryInput = number('10');
  evalEveryInput.className = 'train-eval-every';
  const mapsEveryInput = number('10');
  mapsEveryInput.className = 'train-maps-every';
  const startButton = el(
    'button',
    { type: 'button', class: 'primary train-start' },
    'Start',
  ) as HTMLButtonElement;
  const pauseButton = el('button', { type: 'button', class: 'train-pause' }, 'Pause') as HTMLButtonElement;
  const stopButton = el('button', { type: 'button', class: 'train-stop' }, 'Stop') as HTMLButtonElement;
  const notice = el('div', { class: 'notice train-notice', role: 'status' });
  const isolation = el('div', { class: 'notice train-isolation' });
  const chart = el('div', { class: 'train-chart' });
  const lambdaChart = el('div', { class: 'train-lambda-chart' });
  const stats = el('div', { class: 'train-stats' });
  const layerSelect = el('select', { class: 'train-layer' }) as HTMLSelectElement;
  const headSelect = el('select', { class: 'train-head' }) as HTMLSelectElement;
  const slider = el('input', {
    type: 'range',
    min: '0',
    max: '0',
    value: '0',
    class: 'train-replay',
  }) as HTMLInputElement;
  const sliderLabel = el('span', { class: 'train-replay-label muted' });
  const mapsBox = el('div', { class: 'train-maps' });
  root.append(
    el(
      'section',
      { class: 'controls card' },
      el(
        'div',
        { class: 'settings' },
        el('label', {}, 'preset ', presetSelect),
        el('label', {}, 'corpus ', corpusSelect),
        fileInput,
      ),
      el(
        'div',
        { class: 'settings' },
        el('span', { class: 'group-label' }, 'Models'),
        ...variantBoxes,
        el('label', {}, 'steps ', stepsInput),
        el('label', {}, 'seed ', seedInput),
        el('label', { title: 'validation loss every N steps (--eval-every)' }, 'eval every ', evalEveryInput),
        el(
          'label',
          { title: 'attention maps of the probe prompt every N steps' },
          'maps every ',
          mapsEveryInput,
        ),
        startButton,
        pauseButton,
        stopButton,
      ),
      isolation,
      notice,
    ),
    el(
      'section',
      { class: 'card train-live' },
      el('div', { class: 'train-charts' }, chart, lambdaChart),
      stats,
    ),
    el(
      'section',
      { class: 'card' },
      el(
        'div',
        { class: 'settings' },
        el('span', { class: 'group-label' }, `Attention of the probe “${PROBE.slice(0, 32)}…”`),
        el('label', {}, 'layer ', layerSelect),
        el('label', {}, 'head ', headSelect),
        el('label', {}, 'replay ', slider),
        sliderLabel,
      ),
      mapsBox,
    ),
  );

  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  isolation.textContent = isolated
    ? `Cross-origin isolated: each model trains on the wasm backend with ${threadsPerModel(2)} thread(s).`
    : 'This page is not cross-origin isolated (no SharedArrayBuffer): each model trains on ONE thread, slower. Open the app with `diff-transformer serve`, which sends the COOP/COEP headers that allow threads.';
  isolation.className = `notice train-isolation ${isolated ? '' : 'info'}`;

  let models: ModelState[] = [];
  let stored: StoredRun | undefined;
  let state: 'idle' | 'running' | 'paused' | 'finished' = 'idle';
  let followLatest = true;
  const view = window as unknown as { __train?: unknown };

  function threadsPerModel(count: number): number {
    return Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 1) / count)));
  }

  const say = (text: string, kind: 'error' | 'info' | '' = '') => {
    notice.textContent = text;
    notice.className = `notice train-notice ${kind}`;
  };

  function setState(next: typeof state): void {
    state = next;
    document.body.dataset.trainState = next;
    startButton.disabled = next === 'running' || next === 'paused';
    pauseButton.disabled = next !== 'running' && next !== 'paused';
    pauseButton.textContent = next === 'paused' ? 'Resume' : 'Pause';
    stopButton.disabled = next !== 'running' && next !== 'paused';
    renderStats();
  }

  function renderCharts(): void {
    const series: Series[] = [];
    const lambdas: Series[] = [];
    for (const m of models) {
      const name = variantLabel(m.variant);
      series.push({
        label: `${name} train`,
        color: COLORS[m.variant],
        points: m.records.map((r) => [r.step, r.train_loss]),
      });
      const val = m.records.filter((r) => r.val_loss !== undefined);
      series.push({
        label: `${name} val`,
        color: COLORS[m.variant],
        dashed: true,
        dots: true,
        points: val.map((r) => [r.step, r.val_loss!]),
      });
      const layers = m.records.at(-1)?.lambda?.length ?? 0;
      for (let l = 0; l < layers; l++)
        lambdas.push({
          label: `${name} L${l}`,
          color: COLORS[m.variant],
          dashed: l % 2 === 1,
          points: m.records.map((r) => [r.step, r.lambda?.[l] ?? Number.NaN]),
        });
    }
    chart.innerHTML = lineChartSvg({
      title: 'loss (nats/token)',
      series,
      width: 560,
      height: 280,
      xLabel: 'step',
    });
    lambdaChart.innerHTML = lambdas.length
      ? lineChartSvg({
          title: 'λ per layer (V1: λ; V2: mean sigmoid λ)',
          series: lambdas,
          width: 420,
          height: 280,
          xLabel: 'step',
        })
      : '';
  }

  function renderStats(): void {
    const rows = models.map((m) => {
      const last = m.records.at(-1);
      const lastVal = [...m.records].reverse().find((r) => r.val_loss !== undefined);
      const recent = m.records.slice(-10);
      const speed = recent.length
        ? recent.reduce((s, r) => s + r.tokens_per_s, 0) / recent.length
        : Number.NaN;
      const cells = [
        el(
          'td',
          {},
          el('span', { class: 'badge', style: `background:${COLORS[m.variant]}` }, variantLabel(m.variant)),
        ),
        el('td', { class: 'train-step' }, String(m.step)),
        el('td', {}, last ? last.train_loss.toFixed(3) : '–'),
        el('td', {}, lastVal ? lastVal.val_loss!.toFixed(3) : '–'),
        el('td', { class: 'train-speed' }, Number.isFinite(speed) ? `${Math.round(speed)}` : '–'),
        el('td', {}, last?.lambda ? last.lambda.map((v) => v.toFixed(3)).join(', ') : '–'),
        el('td', { class: 'muted' }, `${formatCount(m.parameters)} · ${m.backend} · ${m.status}`),
      ];
      const actions = el('td', {});
      if (m.step > 0 && state !== 'running') {
        const download = el(
          'button',
          { type: 'button', class: `train-download-${m.variant}` },
          'Download folder',
        );
        download.addEventListener(
          'click',
          () =>
            void exportModel(m).then((files) => {
              const name = `${m.variant}-${stored?.spec.preset ?? 'model'}-step${m.step}`;
              downloadBytes(`${name}.zip`, zipFolder(name, files));
            }),
        );
        const inspect = el(
          'button',
          { type: 'button', class: `train-inspect-${m.variant}` },
          'Open in Inspect',
        );
        inspect.addEventListener(
          'click',
          () =>
            void exportModel(m).then((files) => {
              const picked: PickedFolder = {
                name: `${variantLabel(m.variant)} (trained here, step ${m.step})`,
                files: {},
              };
              for (const [file, bytes] of Object.entries(files))
                picked.files[file] = new File([bytes as Uint8Array<ArrayBuffer>], file);
              openInInspect(picked);
            }),
        );
        actions.append(download, inspect);
      }
      return el('tr', { 'data-variant': m.variant, 'data-step': String(m.step) }, ...cells, actions);
    });
    stats.replaceChildren(
      el(
        'table',
        { class: 'train-table' },
        el(
          'tr',
          {},
          ...['model', 'step', 'train loss', 'val loss', 'tokens/s', 'λ per layer', '', ''].map((h) =>
            el('th', {}, h),
          ),
        ),
        ...rows,
      ),
    );
  }

  function renderMaps(): void {
    const steps = [...new Set(models.flatMap((m) => m.snapshots.map((s) => s.step)))].sort((a, b) => a - b);
    slider.max = String(Math.max(0, steps.length - 1));
    if (followLatest) slider.value = slider.max;
    const step = steps[Number(slider.value)] ?? 0;
    sliderLabel.textContent = steps.length
      ? `step ${step} (${Number(slider.value) + 1} of ${steps.length} snapshots)`
      : '';
    const shown = models
      .map((m) => ({ m, s: [...m.snapshots].reverse().find((s) => s.step <= step) }))
      .filter((x): x is { m: ModelState; s: MapsSnapshot } => x.s !== undefined);
    const layers = Math.max(0, ...shown.map((x) => x.s.maps.length));
    if (layerSelect.options.length !== layers)
      layerSelect.replaceChildren(
        ...Array.from({ length: layers }, (_, l) => el('option', { value: String(l) }, `${l}`)),
      );
    const layer = Number(layerSelect.value) || 0;
    const heads = Math.max(
      1,
      ...shown.map((x) =>
        headsOf(x.s.maps[0]?.a1?.length ?? x.s.maps[0]?.p?.length ?? 0, x.s.ids.length, x.s.ids.length),
      ),
    );
    if (headSelect.options.length !== heads)
      headSelect.replaceChildren(
        ...Array.from({ length: heads }, (_, h) => el('option', { value: String(h) }, `${h}`)),
      );
    const head = Number(headSelect.value) || 0;
    const probs: ArrayLike<number>[] = [];
    const signed: ArrayLike<number>[] = [];
    const slices = shown.map(({ m, s }) => {
      const T = s.ids.length;
      const maps = s.maps[Math.min(layer, s.maps.length - 1)];
      const parts = (['a1', 'a2', 'diff', 'p'] as const).flatMap((key) => {
        const map = maps[key];
        if (!map) return [];
        const h = Math.min(head, headsOf(map.length, T, T) - 1);
        const values = headSlice(map, headsOf(map.length, T, T), T, T, h);
        (key === 'diff' ? signed : probs).push(values);
        return [{ key, values }];
      });
      return { m, s, T, parts };
    });
    const probability = sequentialScale(extent(probs));
    const diverging = divergingScale(extent(signed, true));
    mapsBox.replaceChildren(
      ...slices.map(({ m, s, T, parts }) =>
        el(
          'div',
          { class: 'train-model-maps', 'data-variant': m.variant, 'data-step': String(s.step) },
          el(
            'div',
            { class: 'panel-head' },
            el('span', { class: 'badge', style: `background:${COLORS[m.variant]}` }, variantLabel(m.variant)),
            el(
              'span',
              { class: 'muted' },
              ` step ${s.step}${s.lambdas ? ` · λ ${s.lambdas.map((v) => v.toFixed(3)).join(', ')}` : ''}`,
            ),
          ),
          el(
            'div',
            { class: 'parts-row' },
            ...parts.map(({ key, values }) => {
              const box = el('div', { class: 'train-map' }, el('div', { class: 'muted' }, MAP_TITLES[key]));
              const svg = document.createElement('div');
              svg.innerHTML = heatmapSvg({
                name: key,
                values,
                rows: T,
                cols: T,
                scale: key === 'diff' ? diverging : probability,
                rowLabels: s.labels,
                cell: 9,
                labelWidth: 70,
              });
              box.append(svg);
              return box;
            }),
          ),
        ),
      ),
    );
  }

  function exportModel(m: ModelState): Promise<Record<string, Uint8Array>> {
    return new Promise((resolve) => {
      m.waiting = resolve;
      m.client.send({ type: 'export' });
    });
  }

  function publish(): void {
    view.__train = {
      state,
      models: models.map((m) => ({
        variant: m.variant,
        status: m.status,
        step: m.step,
        records: m.records,
        snapshots: m.snapshots.length,
        backend: m.backend,
      })),
    };
  }

  function receive(m: ModelState, message: TrainResponse): void {
    switch (message.type) {
      case 'started':
        m.parameters = message.parameters;
        m.step = message.step;
        m.backend = `${message.backend.name} (${message.backend.threads} thread${message.backend.threads === 1 ? '' : 's'})`;
        m.status = 'training';
        if (message.backend.note) say(`${variantLabel(m.variant)}: ${message.backend.note}`, 'info');
        break;
      case 'step':
        m.records.push(message.record);
        m.step = message.record.step;
        renderCharts();
        break;
      case 'maps':
        m.snapshots.push(message.snapshot);
        renderMaps();
        break;
      case 'checkpoint':
        if (stored) {
          stored.models[m.variant] = {
            step: message.step,
            checkpoint: message.bytes,
            metrics: m.records.filter((r) => r.step <= message.step),
          };
          const run = stored;
          void saveRun(run)
            .then((steps) => {
              // the step every model of the run can continue from after a reload, as written
              document.body.dataset.trainSaved = String(Math.min(...run.variants.map((v) => steps[v] ?? 0)));
            })
            .catch((error: Error) =>
              say(`the run could not be kept for a reload: ${error.message}`, 'error'),
            );
        }
        break;
      case 'paused':
        m.status = 'paused';
        break;
      case 'stopped':
      case 'done':
        m.status = message.type;
        if (models.every((x) => x.status === 'done' || x.status === 'stopped' || x.status === 'failed')) {
          if (stored) {
            stored.finished = true;
            void saveRun(stored);
          }
          setState('finished');
          say(
            `Finished at step ${Math.max(...models.map((x) => x.step))}: download a model folder, or open it in the Inspect view.`,
            'info',
          );
        }
        break;
      case 'folder':
        m.waiting?.(message.files);
        m.waiting = undefined;
        break;
      case 'error':
        m.status = 'failed';
        say(`${variantLabel(m.variant)}: ${message.message}`, 'error');
        if (models.every((x) => x.status !== 'training' && x.status !== 'paused')) setState('finished');
        break;
    }
    renderStats();
    publish();
  }

  function launch(run: StoredRun, fresh: boolean): void {
    for (const m of models) m.client.terminate();
    stored = run;
    followLatest = true;
    const threads = threadsPerModel(run.variants.length);
    models = run.variants.map((variant) => {
      const saved = fresh ? undefined : run.models[variant];
      const m: ModelState = {
        variant,
        client: undefined as unknown as TrainClient,
        records: saved ? [...saved.metrics] : [],
        snapshots: [],
        step: saved?.step ?? 0,
        status: 'starting',
        backend: '',
        parameters: 0,
      };
      m.client = new TrainClient((message) => receive(m, message));
      const spec: RunSpec = { ...run.spec, variant, maxThreads: threads };
      m.client.send({
        type: 'start',
        run: spec,
        text: run.text,
        tokenizerJson: run.tokenizerJson,
        checkpoint: saved?.checkpoint,
        metrics: saved?.metrics,
      });
      return m;
    });
    setState('running');
    renderCharts();
    renderMaps();
    publish();
  }

  async function readCorpus(): Promise<{ name: string; text: string }> {
    if (corpusSelect.value === 'moby-dick') {
      let response: Response;
      try {
        response = await fetch('corpora/moby-dick.txt');
      } catch (error) {
        throw new Error(
          `the bundled corpus could not be fetched (${(error as Error).message}): drop a text file instead`,
        );
      }
      if (!response.ok)
        throw new Error(
          `the bundled corpus is served by \`diff-transformer serve\` (HTTP ${response.status} here): drop a text file instead`,
        );
      return { name: 'moby-dick', text: await response.text() };
    }
    const file = fileInput.files?.[0];
    if (!file) throw new Error('choose a text file to train on (or the bundled Moby Dick)');
    const read = readTrainingText(file.name, new Uint8Array(await file.arrayBuffer()));
    if ('error' in read) throw new Error(read.error);
    return { name: file.name, text: read.text };
  }

  async function start(): Promise<void> {
    const variants = variantBoxes
      .map((l) => l.querySelector('input')!)
      .filter((b) => b.checked)
      .map((b) => b.value as Variant);
    if (variants.length === 0) return say('choose at least one model to train', 'error');
    const steps = Number(stepsInput.value);
    const seed = Number(seedInput.value);
    const mapsEvery = Number(mapsEveryInput.value);
    const evalEvery = Number(evalEveryInput.value);
    if (!Number.isSafeInteger(steps) || steps < 1)
      return say(`steps must be a positive integer, found "${stepsInput.value}"`, 'error');
    if (!Number.isSafeInteger(seed) || seed < 0)
      return say(`seed must be a non-negative integer, found "${seedInput.value}"`, 'error');
    if (!Number.isSafeInteger(mapsEvery) || mapsEvery < 1)
      return say(`maps every must be a positive integer, found "${mapsEveryInput.value}"`, 'error');
    if (!Number.isSafeInteger(evalEvery) || evalEvery < 1)
      return say(`eval every must be a positive integer, found "${evalEveryInput.value}"`, 'error');
    startButton.disabled = true;
    try {
      say('reading the corpus…', 'info');
      const corpus = await readCorpus();
      const preset = getPreset(presetSelect.value);
      const bytes = new TextEncoder().encode(corpus.text).length;
      say(
        `training the tokenizer (${preset.vocab} tokens) on ${corpus.name} (${(bytes / 1e6).toFixed(2)} MB)…`,
        'info',
      );
      const tokenizer = await new Promise<string>((resolve, reject) => {
        const client = new TrainClient((m) => {
          client.terminate();
          if (m.type === 'tokenizer') resolve(m.json);
          else reject(new Error(m.type === 'error' ? m.message : `unexpected ${m.type}`));
        });
        client.send({ type: 'tokenizer', text: corpus.text, vocab: preset.vocab });
      });
      const run: StoredRun = {
        spec: {
          preset: preset.name,
          steps,
          seed,
          evalEvery,
          saveEvery: Math.max(10, Math.min(100, Math.round(steps / 10))),
          mapsEvery,
          probe: PROBE,
          data: [{ source: corpus.name, bytes, sha256: await sha256Hex(corpus.text) }],
        },
        variants,
        corpusName: corpus.name,
        text: corpus.text,
        tokenizerJson: tokenizer,
        finished: false,
        models: {},
      };
      await saveRun(run).catch(() =>
        say('IndexedDB is not available: this run will not survive a reload', 'info'),
      );
      say(
        `training ${variants.map((v) => variantLabel(v)).join(' and ')} on ${corpus.name}: ${steps} steps, seed ${seed}`,
        'info',
      );
      launch(run, true);
    } catch (error) {
      say((error as Error).message, 'error');
      setState(state === 'idle' ? 'idle' : state);
      startButton.disabled = false;
    }
  }

  startButton.addEventListener('click', () => void start());
  pauseButton.addEventListener('click', () => {
    const next = state === 'paused' ? 'resume' : 'pause';
    for (const m of models) m.client.send({ type: next });
    setState(next === 'pause' ? 'paused' : 'running');
  });
  stopButton.addEventListener('click', () => {
    for (const m of models) m.client.send({ type: 'stop' });
  });
  corpusSelect.addEventListener('change', () => {
    if (corpusSelect.value === 'file') fileInput.click();
  });
  fileInput.addEventListener('change', () => {
    if (fileInput.files?.length) corpusSelect.value = 'file';
  });
  slider.addEventListener('input', () => {
    followLatest = slider.value === slider.max;
    renderMaps();
  });
  layerSelect.addEventListener('change', renderMaps);
  headSelect.addEventListener('change', renderMaps);
  setState('idle');

  // A run from before a reload: offer to continue it.
  void loadRun()
    .then((run) => {
      if (!run) return;
      const steps = run.variants.map((v) => run.models[v]?.step ?? 0);
      const resume = el(
        'button',
        { type: 'button', class: 'train-continue' },
        run.finished ? 'Reopen' : 'Resume',
      );
      const discard = el('button', { type: 'button', class: 'train-discard' }, 'Discard');
      notice.replaceChildren(
        `A run was kept from before: ${run.variants.map((v, i) => `${variantLabel(v)} at step ${steps[i]}`).join(', ')} of ${run.spec.steps} (${run.corpusName}, ${run.spec.preset}). `,
        resume,
        ' ',
        discard,
      );
      notice.className = 'notice train-notice info';
      resume.addEventListener('click', () => {
        say(`continuing from the checkpoints (${steps.join(', ')})`, 'info');
        launch(run, false);
      });
      discard.addEventListener('click', () => void clearRun().then(() => say('')));
      document.body.dataset.trainKept = String(Math.min(...steps));
    })
    .catch(() => {
      // no IndexedDB (e.g. a private window): nothing to offer
    });
}
