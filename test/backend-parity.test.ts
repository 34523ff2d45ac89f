/**
 * Every backend that loads here (backendNames()) against the `js` oracle: the suite of
 * backend-suite.ts, and the backend list itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendNames, createBackend } from '../src/backends/index.ts';
import { createNativeBackend } from '../src/backends/native/index.ts';
import { describeBackendParity } from './backend-suite.ts';

const others = backendNames().filter((name) => name !== 'js');

test('backend list: js always, auto is the last (fastest)', () => {
  assert.ok(backendNames().includes('js'));
  assert.equal(createBackend('auto').name, backendNames().at(-1));
  if (backendNames().includes('native')) assert.equal(createBackend('auto').name, 'native');
  assert.throws(() => createBackend('no-such-backend'), /unknown backend/);
});

for (const name of others) describeBackendParity(`${name} backend matches js`, createBackend(name));

// Outputs the native kernels must overwrite in full come uninitialised, and scratch memory is
// poisoned when its scope closes: NaN would show wherever a kernel or the model relies on either.
if (others.includes('native'))
  describeBackendParity(
    'native backend with NaN-poisoned outputs matches js',
    createNativeBackend({ poisonOutputs: true }),
  );
