/**
 * The app: two model panels side by side (a DIFF model and its baseline by default), one prompt, the
 * sampling settings of the CLI, a shared layer and shared colour scales — the paper's Figure 1, live.
 * Models run in Web Workers with the library's own code; the server (if any) only hands out files.
 */
import './styles.css';
import {
  divergingScale,
  extent,
  isVariant,
  sequentialScale,
  VARIANTS,
  variantModule,
} from 'diff-transformer/browser';
import type { SamplingOptions } from './model/protocol.ts';
import { mountTrainView } from './train/view.ts';
import { $, el } from './ui/dom.ts';
import type { ServedModelEntry } from './ui/model-picker.ts';
import { Panel } from './ui/panel.ts';
import type { Scales } from './ui/scales.ts';

/** Attention maps are drawn for at most this many tokens. */
const MAX_MAP_TOKENS = 64;

const promptBox = $('#prompt') as HTMLTextAreaElement;
const generateButton = $('#generate') as HTMLButtonElement;
const stopButton = $('#stop') as HTMLButtonElement;
const layerSelect = $('#layer') as HTMLSelectElement;
const notice = $('#notice');
const attendOver = () =>
  document.querySelector<HTMLInputElement>('input[name=over]:checked')?.value ?? 'prompt';

function readNumber(id: string, name: string, check: (v: number) => boolean, rule: string): number {
  const input = $(`#${id}`) as HTMLInputElement;
  const value = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(value) || !check(value)) {
    input.focus();
    throw new Error(`${name} must be ${rule}, found "${input.value}"`);
  }
  return value;
}

function samplingOptions(): SamplingOptions {
  return {
    maxTokens: readNumber(
      'max-tokens',
      'max tokens',
      (v) => Number.isInteger(v) && v >= 0 && v <= 2000,
      'an integer in [0, 2000]',
    ),
    temperature: readNumber('temperature', 'temperature', (v) => v >= 0, 'a number ≥ 0'),
    topK: readNumber('top-k', 'top-k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0'),
    topP: readNumber('top-p', 'top-p', (v) => v > 0 && v <= 1, 'in (0, 1]'),
    seed: readNumber('seed', 'seed', (v) => Number.isSafeInteger(v), 'an integer'),
  };
}

function showNotice(text: string, kind: 'error' | 'info' | '' = ''): void {
  notice.textContent = text;
  notice.className = `notice ${kind}`;
}

let panels: Panel[] = [];
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let generating = false;

function currentLayer(): number {
  return Number(layerSelect.value) || 0;
}

/** Layer choices: as many as the deepest loaded model has (shallower ones show their last layer). */
function updateLayers(): void {
  const layers = Math.max(0, ...panels.map((p) => p.layers));
  if (layerSelect.options.length === layers) return;
  const keep = currentLayer();
  layerSelect.replaceChildren(
    ...Array.from({ length: layers }, (_, l) => el('option', { value: String(l) }, `layer ${l}`)),
  );
  layerSelect.value = String(Math.min(keep, Math.max(0, layers - 1)));
}

/** Colour scales shared by both panels so that their maps compare directly. */
function sharedScales(layer: number): Scales {
  const probabilities: Float32Array[] = [];
  const signed: Float32Array[] = [];
  for (const p of panels) {
    const view = p.headView(Math.min(layer, p.layers - 1));
    if (!view) continue;
    (view.main.signed ? signed : probabilities).push(view.main.values);
    for (const part of view.parts) probabilities.push(part.values);
  }
  return {
    probability: sequentialScale(extent(probabilities)),
    signed: divergingScale(extent(signed, true)),
  };
}

function renderAll(): void {
  updateLayers();
  const layer = currentLayer();
  const scales = sharedScales(layer);
  for (const p of panels) p.renderMaps(Math.min(layer, Math.max(0, p.layers - 1)), scales);
  document.body.classList.toggle(
    'has-models',
    panels.some((p) => p.loaded),
  );
}

/** Recompute the maps of every loaded panel for the current input. */
async function refreshMaps(): Promise<void> {
  const prompt = promptBox.value;
  if (!prompt) return;
  const over = attendOver();
  await Promise.all(
    panels
      .filter((p) => p.loaded)
      .map((p) =>
        over === 'generated' && p.promptIds.length
          ? p.computeMaps({ ids: [...p.promptIds, ...p.generatedIds] }, MAX_MAP_TOKENS)
          : p.computeMaps({ text: prompt }, MAX_MAP_TOKENS),
      ),
  );
  renderAll();
  document.body.dataset.mapsReady = String(Date.now());
}

function scheduleRefresh(delay = 250): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refreshMaps(), delay);
}

async function generate(): Promise<void> {
  if (generating) return;
  let options: SamplingOptions;
  try {
    options = samplingOptions();
  } catch (error) {
    showNotice((error as Error).message, 'error');
    return;
  }
  const prompt = promptBox.value;
  if (!prompt) {
    showNotice('Type a prompt first.', 'error');
    return;
  }
  const active = panels.filter((p) => p.loaded);
  if (!active.length) {
    showNotice('Choose a model first (or drop a model folder on a panel).', 'error');
    return;
  }
  showNotice('');
  generating = true;
  document.body.classList.add('generating');
  generateButton.disabled = true;
  stopButton.disabled = false;
  try {
    await Promise.all(active.map((p) => p.generate(prompt, options)));
  } finally {
    generating = false;
    document.body.classList.remove('generating');
    generateButton.disabled = false;
    stopButton.disabled = true;
  }
  document.body.dataset.generated = String(Date.now());
  await refreshMaps();
}

async function start(): Promise<void> {
  let served: ServedModelEntry[] = [];
  try {
    const response = await fetch('api/models');
    if (response.ok) served = await response.json();
  } catch {
    // opened without the server (e.g. from a static copy): folders can still be opened
  }
  const hooks = {
    changed: () => {
      renderAll();
      scheduleRefresh(0);
    },
    rerender: renderAll,
    hovered: (from: Panel, row: number) => {
      for (const p of panels)
        if (p !== from && p.maps && from.maps && p.maps.ids.join() === from.maps.ids.join())
          p.setHover(row, false);
    },
  };
  panels = [new Panel('A', served, hooks), new Panel('B', served, hooks)];
  $('#panels').append(...panels.map((p) => p.root));
  if (served.length === 0)
    showNotice(
      'No model is served. Open or drop a model folder (config.json, model.safetensors, tokenizer.json) on a panel, or start the app with: diff-transformer serve --model DIR',
      'info',
    );
  // Default pairing: a DIFF model on the left, a baseline on the right.
  // A differential model on the left (the first in the registry's order), a plain one on the right.
  const moduleOf = (m: ServedModelEntry) => {
    const variant = (m.config as { variant?: string } | null)?.variant;
    return isVariant(variant) ? variantModule(variant) : undefined;
  };
  const differential = VARIANTS.filter((v) => variantModule(v).differential);
  const left =
    differential.map((v) => served.find((m) => moduleOf(m)?.name === v)).find(Boolean) ?? served[0];
  const right =
    served.find((m) => m !== left && moduleOf(m)?.differential === false) ?? served.find((m) => m !== left);
  await Promise.all([left && panels[0].loadServed(left), right && panels[1].loadServed(right)]);
  await refreshMaps();
  document.body.dataset.ready = 'true';
}

generateButton.addEventListener('click', () => void generate());
stopButton.addEventListener('click', () => {
  for (const p of panels) p.stop();
});
promptBox.addEventListener('input', () => {
  if (attendOver() === 'prompt') scheduleRefresh();
});
promptBox.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void generate();
});
layerSelect.addEventListener('change', () => renderAll());
for (const radio of document.querySelectorAll('input[name=over]'))
  radio.addEventListener('change', () => void refreshMaps());
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderAll, 150);
});
// A folder dropped outside the panels would make the browser navigate away: don't.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

// Views: Inspect (the panels) and Train (train/view.ts); the address's #train or #inspect chooses.
const showView = () => {
  const train = location.hash === '#train';
  $('#inspect-view').hidden = train;
  $('#train-view').hidden = !train;
  for (const a of document.querySelectorAll<HTMLElement>('nav.views a'))
    a.classList.toggle('active', a.dataset.view === (train ? 'train' : 'inspect'));
};
window.addEventListener('hashchange', showView);
showView();
mountTrainView($('#train-view'), (folder) => {
  const diff = folder.name.startsWith('DIFF');
  location.hash = '#inspect';
  void panels[diff ? 0 : 1]?.loadFolder(folder);
});

void start();
