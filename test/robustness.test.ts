/**
 * Misuse that must never lose or poison data (issue 14, cases 1–6), through the real CLI: divergence
 * never saves non-finite weights; a crash during the final save is repaired by --resume; the run
 * folder is locked; corruption and changed data are refused; bad --out paths, early failures and
 * finished runs behave. Each test names the case it covers; `serve` is in serve.test.ts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { generateTokens } from '../src/generate/generate.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { readSafetensorsFile, SafetensorsError, writeSafetensorsFile } from '../src/io/safetensors.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { repoRoot, runCli, smallCorpus, tempDir } from './cli-helpers.ts';

const corpus = smallCorpus();
const LOCK = '.diff-transformer.lock';
/** A small, fast run of the nano preset. */
const run = (out: string, extra: string[] = [], data = corpus) => [
  'train',
  '--preset',
  'nano',
  '--data',
  data,
  '--out',
  out,
  '--batch',
  '4',
  '--seq',
  '32',
  '--vocab',
  '300',
  '--backend',
  'js',
  '--quiet',
  ...extra,
];

function oneLineError(r: ReturnType<typeof runCli>, pattern: RegExp): void {
  assert.notEqual(r.status, 0, `expected a failure: ${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
}

const allFinite = (path: string) => {
  for (const [name, t] of readSafetensorsFile(path).tensors)
    assert.ok(t.data.every(Number.isFinite), `${path}: ${name} is finite`);
};

describe('case 1: divergence never saves non-finite weights', () => {
  test('--lr 1e300 --save-every 1: stops at step 1 naming the tensor, and leaves nothing behind', () => {
    const out = join(tempDir(), 'x');
    const r = runCli(run(out, ['--variant', 'diff', '--steps', '20', '--lr', '1e300', '--save-every', '1']));
    oneLineError(
      r,
      /training diverged at step 1: after the update .* model\.embed_tokens\.weight holds \d+ NaN or infinite values .*; no checkpoint was written yet/,
    );
    assert.ok(!existsSync(out), 'the folder the run created is removed again');
    // …so the same command with a sane learning rate simply starts
    assert.equal(runCli(run(out, ['--variant', 'diff', '--steps', '2'])).status, 0);
  });

  test('--lr 1e9: weights stay finite but λ overflows; refused before it is saved', () => {
    const out = join(tempDir(), 'x');
    const r = runCli(run(out, ['--variant', 'diff', '--steps', '20', '--lr', '1e9', '--save-every', '1']));
    oneLineError(r, /training diverged at step \d+: .*(λ of layer \d+ is|NaN or infinite)/);
    if (existsSync(join(out, 'model.safetensors'))) {
      allFinite(join(out, 'model.safetensors'));
      loadModelFolder(out, createJsBackend()); // λ finite too
    }
  });

  test('a model folder with NaN weights is refused by info and generate, naming the tensor', () => {
    const out = join(tempDir(), 'm');
    assert.equal(runCli(run(out, ['--variant', 'diff', '--steps', '2'])).status, 0);
    const path = join(out, 'model.safetensors');
    const { tensors, metadata } = readSafetensorsFile(path);
    tensors.get('model.layers.1.mlp.down_proj.weight')!.data[5] = Number.NaN;
    writeSafetensorsFile(path, tensors, metadata);
    for (const args of [
      ['info', '--model', out],
      ['generate', '--model', out, '--prompt', 'Call me'],
    ]) {
      const r = runCli(args);
      oneLineError(
        r,
        /model\.layers\.1\.mlp\.down_proj\.weight holds 1 NaN or infinite value \(the first at index 5\)/,
      );
      assert.equal(r.stdout, '');
    }
  });
});

describe('case 2: a crash during the final save is repaired by --resume', () => {
  const flags = ['--variant', 'diff', '--steps', '20', '--save-every', '10', '--eval-every', '10'];
  const whole = join(tempDir(), 'whole');
  const wholeRun = () => {
    if (!existsSync(join(whole, 'model.safetensors'))) assert.equal(runCli(run(whole, flags)).status, 0);
    return readFileSync(join(whole, 'model.safetensors'));
  };

  for (const file of ['model.safetensors', 'checkpoint.safetensors']) {
    test(`killed before the last rename of ${file}: --resume ends with the uninterrupted model`, () => {
      const out = join(tempDir(), 'killed');
      const crash = runCli(run(out, flags), { DIFF_TRANSFORMER_KILL_BEFORE_RENAME: `${file}:2` });
      assert.equal(crash.signal, 'SIGKILL');
      const resumed = runCli(run(out, [...flags, '--resume']));
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.deepEqual(readFileSync(join(out, 'model.safetensors')), wholeRun());
      assert.equal(readSafetensorsFile(join(out, 'model.safetensors')).metadata.step, '20');
      assert.deepEqual(
        readdirSync(out).filter((n) => n.includes('.tmp-') || n === LOCK),
        [],
        'no temporary file or lock left',
      );
    });
  }

  test('a finished run whose model.safetensors is stale is repaired by --resume', () => {
    const out = join(tempDir(), 'finished');
    const older = join(tempDir(), 'older');
    assert.equal(runCli(run(older, ['--variant', 'diff', '--steps', '10', '--save-every', '10'])).status, 0);
    assert.equal(runCli(run(out, flags)).status, 0);
    cpSync(join(older, 'model.safetensors'), join(out, 'model.safetensors')); // step 10 beside a step-20 checkpoint
    const r = runCli(run(out, [...flags, '--resume']));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /rewrote model\.safetensors from the checkpoint \(step 20\): it held step 10/);
    assert.match(r.stdout, /20 steps, val loss [\d.]+, [\d.]+ bits\/byte, already finished/);
    assert.doesNotMatch(r.stdout, /NaN/);
    assert.deepEqual(readFileSync(join(out, 'model.safetensors')), wholeRun());
  });
});

/** Start a long training run in the background; resolves once it holds the lock. */
async function background(out: string, variant = 'diff'): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin/diff-transformer.js'), ...run(out, ['--variant', variant, '--steps', '100000'])],
    {
      cwd: repoRoot,
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 600 && !existsSync(join(out, LOCK)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(join(out, LOCK)), 'the background run locked its folder');
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    if (child.exitCode !== null || child.signalCode !== null)
      done({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => done({ code, signal }));
  });

describe('case 3: the run folder is locked', () => {
  test('a second train (any variant) or --resume on a folder in use is refused; a dead holder is taken over', async () => {
    const out = join(tempDir(), 'busy');
    const first = await background(out);
    try {
      const holder = JSON.parse(readFileSync(join(out, LOCK), 'utf8'));
      assert.equal(holder.pid, first.pid);
      for (const extra of [
        ['--variant', 'baseline', '--steps', '2'],
        ['--variant', 'diff', '--steps', '100000', '--resume'],
      ]) {
        oneLineError(
          runCli(run(out, extra)),
          new RegExp(
            `is in use by process ${first.pid} \\(train --variant diff, started .*\\): wait for it to finish`,
          ),
        );
      }
      const compare = runCli([
        'compare',
        '--preset',
        'nano',
        '--out',
        out,
        '--steps',
        '1',
        '--backend',
        'js',
      ]);
      oneLineError(compare, /is in use by process/);
    } finally {
      first.kill('SIGKILL');
      await exited(first);
    }
    assert.ok(existsSync(join(out, LOCK)), 'kill -9 leaves the lock behind');
    const next = runCli(run(out, ['--variant', 'diff', '--steps', '2']));
    assert.match(
      next.stderr,
      new RegExp(`taking over the lock of process ${first.pid} .*which is no longer running`),
    );
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} releases the lock (and a fresh run's files) and ends the process by that signal`, async () => {
      const out = join(tempDir(), 'sig');
      const child = await background(out);
      child.kill(signal);
      const { signal: got } = await exited(child);
      assert.equal(got, signal);
      assert.ok(!existsSync(join(out, LOCK)));
      assert.deepEqual(
        existsSync(out) ? readdirSync(out) : [],
        [],
        'a fresh run stopped before its first checkpoint leaves nothing',
      );
    });
  }

  test('the lock is released after success and after an error', () => {
    const out = join(tempDir(), 'ok');
    assert.equal(runCli(run(out, ['--variant', 'diff', '--steps', '2'])).status, 0);
    assert.ok(!existsSync(join(out, LOCK)));
    oneLineError(
      runCli(run(out, ['--variant', 'diff', '--steps', '2', '--lr', '0.1', '--resume'])),
      /different settings/,
    );
    assert.ok(!existsSync(join(out, LOCK)));
  });
});

describe('case 4: corruption and changed data are refused', () => {
  const trained = () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'd'));
    cpSync(corpus, join(dir, 'd/x.txt'));
    const out = join(dir, 'run');
    assert.equal(runCli(run(out, ['--variant', 'diff', '--steps', '4'], join(dir, 'd/x.txt'))).status, 0);
    return { dir, out, data: join(dir, 'd/x.txt') };
  };
  /** Change one byte of tensor `name` in the safetensors file at `path` (no checksum update). */
  const flipByte = (path: string, name: string, offset: number, value?: number) => {
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const entry = JSON.parse(bytes.subarray(8, 8 + n).toString())[name];
    const at = 8 + n + entry.data_offsets[0] + offset;
    bytes[at] = value ?? bytes[at] ^ 0x10;
    writeFileSync(path, bytes);
  };

  test('a flipped byte in the AdamW moments, or a weight set to −9e36, is refused naming file and tensor', () => {
    const { out, data } = trained();
    const ckpt = join(out, 'checkpoint.safetensors');
    const good = readFileSync(ckpt);
    flipByte(ckpt, 'adam_m.model.layers.0.mlp.up_proj.weight', 100);
    oneLineError(
      runCli(run(out, ['--variant', 'diff', '--steps', '4', '--resume'], data)),
      /checkpoint\.safetensors: invalid safetensors: tensor "adam_m\.model\.layers\.0\.mlp\.up_proj\.weight" fails its checksum/,
    );
    writeFileSync(ckpt, good);
    const bytes = Buffer.alloc(4);
    bytes.writeFloatLE(-9e36);
    for (let i = 0; i < 4; i++) flipByte(ckpt, 'param.model.norm.weight', i, bytes[i]);
    oneLineError(
      runCli(run(out, ['--variant', 'diff', '--steps', '4', '--resume'], data)),
      /tensor "param\.model\.norm\.weight" fails its checksum/,
    );
    flipByte(join(out, 'model.safetensors'), 'model.norm.weight', 0);
    oneLineError(
      runCli(['info', '--model', out]),
      /model\.safetensors: invalid safetensors: tensor "model\.norm\.weight" fails its checksum/,
    );
  });

  test('--resume compares data by content: another spelling of the path is the same file, changed content is refused', () => {
    const { dir, out, data } = trained();
    // runCli runs in the repository root: the other spelling is relative to it, with a redundant `./`
    const other = `./${relative(repoRoot, join(dir, 'd'))}/./x.txt`;
    const r = runCli(run(out, ['--variant', 'diff', '--steps', '4', '--resume'], other));
    assert.equal(r.status, 0, `${other}: ${r.stderr}`);
    const bytes = readFileSync(data).length;
    writeFileSync(data, `${readFileSync(data, 'utf8')}more`);
    oneLineError(
      runCli(run(out, ['--variant', 'diff', '--steps', '4', '--resume'], data)),
      new RegExp(
        `cannot resume: the content of .*d/x\\.txt changed since the checkpoint: it was ${bytes} bytes, sha256 [0-9a-f]{12}…, now ${bytes + 4} bytes`,
      ),
    );
  });

  test('a changed tokenizer.json is refused', () => {
    const { out, data } = trained();
    const path = join(out, 'tokenizer.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    // A tokenizer that is still valid but different: the first two merges (both of byte pairs) swapped,
    // with the ids of the tokens they create.
    const { merges, vocab } = json.model;
    const parts = (m: string | string[]) => (typeof m === 'string' ? m.split(' ') : m);
    const [made0, made1] = [merges[0], merges[1]].map((m) => parts(m).join(''));
    assert.ok(!parts(merges[1]).includes(made0), 'the first two merges are independent');
    [merges[0], merges[1]] = [merges[1], merges[0]];
    [vocab[made0], vocab[made1]] = [vocab[made1], vocab[made0]];
    writeFileSync(path, JSON.stringify(json));
    oneLineError(
      runCli(run(out, ['--variant', 'diff', '--steps', '4', '--resume'], data)),
      /tokenizer\.json/,
    );
  });
});

describe('case 6: smaller ones', () => {
  test('--out an existing file, or a path that cannot be created, is one clear line (fast)', () => {
    const file = join(tempDir(), 'f');
    writeFileSync(file, 'precious');
    oneLineError(runCli(run(file, ['--variant', 'diff'])), /--out .*f is a file, not a folder/);
    oneLineError(
      runCli(run(join(file, 'sub'), ['--variant', 'diff'])),
      /cannot create --out .*f\/sub: .*f is a file, not a folder/,
    );
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    const started = Date.now();
    oneLineError(
      runCli(run('/proc/foo/bar', ['--variant', 'diff'])),
      /cannot create --out \/proc\/foo\/bar: /,
    );
    assert.ok(Date.now() - started < 30_000);
  });

  test('--eval-every 0 and --save-every -1 are refused', () => {
    oneLineError(
      runCli(run(join(tempDir(), 'o'), ['--variant', 'diff', '--eval-every', '0'])),
      /--eval-every must be a positive integer, found 0/,
    );
    oneLineError(
      runCli(run(join(tempDir(), 'o'), ['--variant', 'diff', '--save-every', '-1'])),
      /--save-every must be a positive integer, found -1/,
    );
  });

  test('a --vocab larger than the corpus allows says what it got', () => {
    const small = join(tempDir(), 'small.txt');
    writeFileSync(small, 'Call me Ishmael. Some years ago, never mind how long precisely. '.repeat(20));
    const out = join(tempDir(), 'v');
    const r = runCli(
      run(
        out,
        ['--variant', 'diff', '--steps', '1', '--seq', '8', '--batch', '1', '--vocab', '1000000'],
        small,
      ),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /--vocab 1000000: the corpus has no pair left to merge after (\d+) tokens; the vocabulary has \1/,
    );
  });

  test('a file over 2 GiB is read piece by piece, and its errors name it', () => {
    const path = join(tempDir(), 'huge.safetensors');
    const fd = openSync(path, 'w');
    const header = Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, prefix);
    writeSync(fd, header);
    ftruncateSync(fd, 2 ** 31 + 1000); // sparse: trailing bytes past the one tensor
    closeSync(fd);
    assert.throws(
      () => readSafetensorsFile(path),
      (e: Error) =>
        e instanceof SafetensorsError &&
        e.message.startsWith(`${path}: invalid safetensors: data section has`),
    );
  });

  test('library: token ids are checked (integers of the vocabulary), empty input is named, no CLI flags in messages', () => {
    const model = loadModelFolder(join(repoRoot, 'test/fixtures/reference/diff-small'), createJsBackend());
    assert.ok(model instanceof LanguageModel);
    assert.throws(() => model.greedy([1.5, 2], 1), /token id 1\.5 at position 0 is not an integer/);
    assert.throws(
      () => [...generateTokens(model, [3, 2.25], { maxTokens: 1 })],
      /token id 2\.25 at position 1 is not an integer/,
    );
    const V = model.config.vocab_size;
    assert.throws(
      () => model.forward(Int32Array.of(1, V), 1, 2),
      new RegExp(`token id ${V} at position 1 is outside the vocabulary \\[0, ${V}\\)`),
    );
    assert.throws(() => model.forward(new Int32Array(0), 1, 0), /expected at least one token, found none/);
    for (const o of [
      { maxTokens: -1 },
      { maxTokens: 1, temperature: -1 },
      { maxTokens: 1, topK: 0.5 },
      { maxTokens: 1, topP: 2 },
    ]) {
      assert.throws(
        () => [...generateTokens(model, [1], o)],
        (e: Error) => !e.message.includes('--'),
      );
    }
  });
});

test('checkpoints record the data and tokenizer fingerprints', () => {
  const out = join(tempDir(), 'fp');
  assert.equal(runCli(run(out, ['--variant', 'baseline', '--steps', '1'])).status, 0);
  const { state } = loadCheckpoint(out, createJsBackend());
  const data = state.settings.data as Array<{ source: string; bytes: number; sha256: string }>;
  assert.equal(data.length, 1);
  assert.equal(data[0].bytes, readFileSync(corpus).length);
  assert.match(data[0].sha256, /^[0-9a-f]{64}$/);
  assert.equal(state.tokenizer?.bytes, readFileSync(join(out, 'tokenizer.json')).length);
  assert.equal(readMetrics(out).length, 1);
});
