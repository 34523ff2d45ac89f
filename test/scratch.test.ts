/** The scratch arena of the native and wasm backends (Backend.withScratch): reuse, overflow, nesting, poisoning. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScratchArena, scratchEnabled } from '../src/backends/scratch.ts';

function counting() {
  const made: number[] = [];
  const allocate = (n: number) => {
    made.push(n);
    return new Float32Array(n);
  };
  return { made, allocate };
}

test('scratch: outside a scope every alloc is fresh', () => {
  const { made, allocate } = counting();
  const arena = new ScratchArena(allocate);
  const a = arena.alloc(5);
  const b = arena.alloc(5);
  assert.notEqual(a.buffer, b.buffer);
  assert.deepEqual(made, [5, 5]);
});

test('scratch: the first scope allocates, it sizes the slab, the next scope reuses it', () => {
  const { made, allocate } = counting();
  const arena = new ScratchArena(allocate);
  arena.run(() => {
    arena.alloc(3);
    arena.alloc(20);
  });
  assert.deepEqual(made, [3, 20, 48], 'two fresh arrays, then a slab of 16 + 32 aligned floats');
  let views: Float32Array[] = [];
  arena.run(() => {
    views = [arena.alloc(3), arena.alloc(20)];
  });
  assert.equal(made.length, 3, 'the second scope allocates nothing');
  assert.equal(views[0].buffer, views[1].buffer);
  assert.equal(views[0].byteOffset, 0);
  assert.equal(views[1].byteOffset, 16 * 4, 'offsets are 64-byte aligned');
  assert.equal(views[1].length, 20);
  // views never overlap within a scope
  views[0].fill(1);
  views[1].fill(2);
  assert.ok(views[0].every((x) => x === 1));
});

test('scratch: a larger scope grows the slab; nested scopes share the outer one', () => {
  const { made, allocate } = counting();
  const arena = new ScratchArena(allocate);
  arena.run(() => arena.alloc(16));
  arena.run(() => {
    arena.alloc(16);
    arena.run(() => arena.alloc(16)); // inner: the same scope
  });
  assert.deepEqual(made, [16, 16, 16, 32], 'outgrown once: a fresh array, then a slab of 32');
  arena.run(() => {
    const a = arena.alloc(16);
    const b = arena.run(() => arena.alloc(16));
    assert.equal(a.buffer, b.buffer);
    assert.notEqual(a.byteOffset, b.byteOffset);
  });
  assert.equal(made.length, 4);
});

test('scratch: an exception still closes the scope; poison marks what escaped', () => {
  const arena = new ScratchArena((n) => new Float32Array(n), true);
  arena.run(() => arena.alloc(8));
  assert.throws(() =>
    arena.run(() => {
      arena.alloc(8).fill(1);
      throw new Error('boom');
    }),
  );
  let escaped: Float32Array = new Float32Array(0);
  arena.run(() => {
    escaped = arena.alloc(8);
    escaped.fill(3);
  });
  assert.ok(
    escaped.every((x) => Number.isNaN(x)),
    'a view used after its scope reads NaN',
  );
  const outside = arena.alloc(4);
  assert.equal(outside.buffer.byteLength, 16, 'after the scope, allocation is fresh again');
});

test('DIFF_TRANSFORMER_SCRATCH=0: backends go without scratch memory (less memory, slower)', async () => {
  const { createWasmBackend } = await import('../src/backends/wasm/index.ts');
  const { createNativeBackend, loadNativeAddon } = await import('../src/backends/native/index.ts');
  const saved = process.env.DIFF_TRANSFORMER_SCRATCH;
  try {
    process.env.DIFF_TRANSFORMER_SCRATCH = '0';
    assert.equal(scratchEnabled(), false);
    assert.equal(createWasmBackend({ threads: 1 }).withScratch, undefined);
    if (loadNativeAddon()) assert.equal(createNativeBackend().withScratch, undefined);
    delete process.env.DIFF_TRANSFORMER_SCRATCH;
    assert.equal(scratchEnabled(), true);
    assert.equal(typeof createWasmBackend({ threads: 1 }).withScratch, 'function');
    if (loadNativeAddon()) assert.equal(typeof createNativeBackend().withScratch, 'function');
  } finally {
    if (saved === undefined) delete process.env.DIFF_TRANSFORMER_SCRATCH;
    else process.env.DIFF_TRANSFORMER_SCRATCH = saved;
  }
});
