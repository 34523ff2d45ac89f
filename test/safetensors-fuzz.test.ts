/**
 * Property-based fuzzing of the safetensors reader (fast-check): thousands of random byte changes,
 * truncations and extensions of valid files. Each mutated file is either refused with a
 * SafetensorsError or — for our own checksummed files — read exactly as the original; never another
 * exception, and never an allocation larger than the file allows (a float32 array per tensor, at
 * most twice the file's size when F16/BF16 is widened).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type NamedTensor,
  readSafetensors,
  readSafetensorsFile,
  type SafetensorsContent,
  SafetensorsError,
  writeSafetensors,
} from '../src/io/safetensors.ts';
import { tempDir } from './cli-helpers.ts';

const SEED = 20261202;
const name = fc.stringMatching(/^[a-z][a-z0-9._]{0,10}$/);
const tensor: fc.Arbitrary<NamedTensor> = fc
  .array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
  .chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.float32Array({ minLength: n, maxLength: n }).map((data) => ({ shape, data }));
  });
const tensors = fc.uniqueArray(fc.tuple(name, tensor), { selector: (t) => t[0], minLength: 1, maxLength: 4 });
const metadata = fc.dictionary(
  fc.stringMatching(/^[a-z_]{1,8}$/).filter((k) => k !== 'sha256'),
  fc.string({ unit: 'binary', maxLength: 16 }),
  { maxKeys: 3 },
);
/** One of our files: tensors and metadata through writeSafetensors (so with checksums). */
const ours = fc.tuple(tensors, metadata).map(([list, meta]) => ({
  bytes: writeSafetensors(new Map(list), meta),
  tensors: new Map(list),
  metadata: { ...meta }, // fc.dictionary gives null-prototype objects; the reader's have Object's
}));

/** Another tool's file: no checksums, any float dtype, arbitrary data bytes. */
const DTYPE_SIZES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
const foreign = fc
  .uniqueArray(
    fc.tuple(
      name,
      fc.constantFrom(...(Object.keys(DTYPE_SIZES) as Array<keyof typeof DTYPE_SIZES>)),
      fc.integer({ min: 0, max: 6 }),
    ),
    { selector: (t) => t[0], minLength: 1, maxLength: 4 },
  )
  .chain((list) => {
    const total = list.reduce((s, [, dtype, n]) => s + DTYPE_SIZES[dtype] * n, 0);
    return fc.uint8Array({ minLength: total, maxLength: total }).map((data) => {
      const header: Record<string, unknown> = {};
      let offset = 0;
      for (const [n, dtype, count] of list) {
        header[n] = { dtype, shape: [count], data_offsets: [offset, offset + DTYPE_SIZES[dtype] * count] };
        offset += DTYPE_SIZES[dtype] * count;
      }
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + json.length + data.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(data, 8 + json.length);
      return out;
    });
  });

/** A list of (position, value) byte writes, positions as fractions of the file length. */
const writes = (max: number) =>
  fc.array(
    fc.tuple(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 0, max: 255 })),
    {
      minLength: 1,
      maxLength: max,
    },
  );

function mutate(
  bytes: Uint8Array,
  list: Array<[number, number]>,
  skip: (i: number) => boolean = () => false,
) {
  const out = bytes.slice();
  for (const [at, value] of list) {
    const i = Math.floor(at * out.length);
    if (!skip(i)) out[i] = value;
  }
  return out;
}

/** The largest typed-array allocation made while `fn` runs (in bytes), and what fn returned or threw. */
function measured<T>(fn: () => T): { largest: number; total: number; result?: T; error?: unknown } {
  const saved = { Float32Array: globalThis.Float32Array, Uint8Array: globalThis.Uint8Array };
  let largest = 0;
  let total = 0;
  const spy = <C extends Float32ArrayConstructor | Uint8ArrayConstructor>(ctor: C): C =>
    new Proxy(ctor, {
      construct(target, args) {
        if (typeof args[0] === 'number') {
          const bytes = args[0] * target.BYTES_PER_ELEMENT;
          largest = Math.max(largest, bytes);
          total += bytes;
        }
        return Reflect.construct(target, args);
      },
    });
  globalThis.Float32Array = spy(saved.Float32Array);
  globalThis.Uint8Array = spy(saved.Uint8Array);
  try {
    const result = fn();
    return { largest, total, result };
  } catch (error) {
    return { largest, total, error };
  } finally {
    Object.assign(globalThis, saved);
  }
}

function sameContent(
  got: SafetensorsContent,
  want: { tensors: Map<string, NamedTensor>; metadata: Record<string, string> },
) {
  assert.deepEqual([...got.tensors.keys()].sort(), [...want.tensors.keys()].sort());
  for (const [n, t] of want.tensors) {
    const g = got.tensors.get(n)!;
    assert.deepEqual(g.shape, t.shape);
    assert.deepEqual(
      Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength),
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    );
  }
  assert.deepEqual(got.metadata, want.metadata);
}

/** Refused with our error, within the allocation bound; returns the content when it was read. */
function readChecked(bytes: Uint8Array, widen: number): SafetensorsContent | undefined {
  const r = measured(() => readSafetensors(bytes, 'fuzz.safetensors'));
  assert.ok(measured(() => new Float32Array(3)).total === 12, 'the spy sees allocations');
  if (r.error !== undefined) {
    assert.ok(
      r.error instanceof SafetensorsError,
      `expected SafetensorsError, got ${(r.error as Error)?.stack ?? r.error}`,
    );
    assert.match((r.error as Error).message, /^fuzz\.safetensors: invalid safetensors: /);
  }
  assert.ok(
    r.total <= widen * bytes.length + 8,
    `allocated ${r.total} bytes for a ${bytes.length}-byte file`,
  );
  return r.result;
}

test('our files: any single byte changed is refused or reads identically (checksums)', () => {
  fc.assert(
    fc.property(ours, writes(1), (file, list) => {
      const got = readChecked(mutate(file.bytes, list), 1);
      if (!got) return;
      sameContent(got, { tensors: file.tensors, metadata: got.metadata });
      // The one change that is not refused renames the checksum list's own key (or is whitespace):
      // the file then reads as another tool's file would, unchecked, with the same tensors.
      const extra = Object.keys(got.metadata).filter((k) => !(k in file.metadata));
      if (extra.length === 0) assert.deepEqual(got.metadata, file.metadata);
      else assert.equal(extra.length, 1);
    }),
    { numRuns: 4000, seed: SEED },
  );
});

test('our files: several changed bytes (outside the checksum key) are refused or read identically', () => {
  fc.assert(
    fc.property(ours, writes(8), (file, list) => {
      const header = Buffer.from(file.bytes).toString('latin1');
      const key = header.indexOf('"sha256":');
      const got = readChecked(
        mutate(file.bytes, list, (i) => i >= key && i < key + 9),
        1,
      );
      if (got) sameContent(got, file);
    }),
    { numRuns: 3000, seed: SEED + 1 },
  );
});

test('our files: every truncation and any extension is refused', () => {
  fc.assert(
    fc.property(
      ours,
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.uint8Array({ minLength: 1, maxLength: 9 }),
      (file, at, tail) => {
        const cut = Math.floor(at * file.bytes.length);
        assert.equal(readChecked(file.bytes.subarray(0, cut), 1), undefined);
        const longer = new Uint8Array(file.bytes.length + tail.length);
        longer.set(file.bytes);
        longer.set(tail, file.bytes.length);
        assert.equal(readChecked(longer, 1), undefined);
      },
    ),
    { numRuns: 2000, seed: SEED + 2 },
  );
});

test("other tools' files (no checksums, F16/BF16/F64): mutations are refused or read, never a crash", () => {
  fc.assert(
    fc.property(foreign, writes(4), fc.double({ min: 0, max: 1, noNaN: true }), (bytes, list, at) => {
      readChecked(bytes, 2);
      readChecked(mutate(bytes, list), 2);
      readChecked(bytes.subarray(0, Math.floor(at * bytes.length)), 2);
    }),
    { numRuns: 3000, seed: SEED + 3 },
  );
});

test('the file reader agrees with the buffer reader on mutated files', () => {
  const dir = tempDir('dt-fuzz-');
  fc.assert(
    fc.property(ours, writes(3), (file, list) => {
      const bytes = mutate(file.bytes, list);
      const path = join(dir, 'f.safetensors');
      writeFileSync(path, bytes);
      const strip = (m: string) => m.replace(/^[^:]*: /, '');
      let fromBuffer: SafetensorsContent | string;
      let fromFile: SafetensorsContent | string;
      try {
        fromBuffer = readSafetensors(bytes, path);
      } catch (e) {
        assert.ok(e instanceof SafetensorsError);
        fromBuffer = strip(e.message);
      }
      try {
        fromFile = readSafetensorsFile(path);
      } catch (e) {
        assert.ok(e instanceof SafetensorsError);
        fromFile = strip(e.message);
      }
      assert.deepEqual(fromFile, fromBuffer);
    }),
    { numRuns: 500, seed: SEED + 4 },
  );
});
