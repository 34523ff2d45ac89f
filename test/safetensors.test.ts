import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  type NamedTensor,
  readSafetensors,
  readSafetensorsFile,
  SafetensorsError,
  writeSafetensors,
  writeSafetensorsFile,
} from '../src/io/safetensors.ts';

/** Build a safetensors file by hand: header (object or raw string), optional padding, data bytes. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), pad = 0): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text + ' '.repeat(pad));
  return buildRaw(json, data);
}

function buildRaw(json: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setFloat32(4 * i, v, true);
  });
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp, source?: string): void {
  assert.throws(
    () => readSafetensors(bytes, source),
    (err: Error) => {
      assert.ok(err instanceof SafetensorsError, `expected SafetensorsError, got ${err}`);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

test('round trip of several tensors, scalar and empty, keeps order and metadata', () => {
  const tensors = new Map<string, NamedTensor>([
    ['z.weight', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
    ['10', { shape: [], data: new Float32Array([Math.PI]) }],
    ['empty', { shape: [0], data: new Float32Array(0) }],
    ['a.bias', { shape: [3], data: new Float32Array([Number.NaN, Number.NEGATIVE_INFINITY, -0]) }],
    ['2', { shape: [1, 0, 4], data: new Float32Array(0) }],
  ]);
  const metadata = { format: 'pt', config: '{"dim":4}' };
  const bytes = writeSafetensors(tensors, metadata);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const back = readSafetensors(bytes);
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) {
    const got = back.tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual([...got.data], [...t.data]);
  }
  assert.ok(Object.is(back.tensors.get('a.bias')!.data[2], -0));
  assert.deepEqual(back.metadata, metadata);
});

test('record input: without metadata only the checksum list is written, and it is not returned', () => {
  const tensors = {
    b: { shape: [1], data: new Float32Array([2]) },
    a: { shape: [1], data: new Float32Array([1]) },
  };
  for (const meta of [undefined, {}]) {
    const bytes = writeSafetensors(tensors, meta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(Object.keys(header.__metadata__), ['sha256']);
    const back = readSafetensors(bytes);
    assert.deepEqual([...back.tensors.keys()], ['b', 'a']);
    assert.deepEqual(back.metadata, {});
  }
});

test('file round trip through writeSafetensorsFile leaves no temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'm.safetensors');
  writeSafetensorsFile(path, { w: { shape: [2], data: new Float32Array([1, 2]) } }, { step: '3' });
  const back = readSafetensorsFile(path);
  assert.deepEqual([...back.tensors.get('w')!.data], [1, 2]);
  assert.deepEqual(back.metadata, { step: '3' });
  assert.deepEqual(readdirSync(dir), ['m.safetensors']);
  assert.throws(() => readSafetensors(new Uint8Array(3), path), new RegExp(`^SafetensorsError: ${path}`));
});

test('writer rejects inconsistent input', () => {
  assert.throws(
    () => writeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
    /4 elements, data has 3/,
  );
  assert.throws(() => writeSafetensors({ w: { shape: [-1], data: new Float32Array(0) } }), SafetensorsError);
  assert.throws(
    () => writeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } }),
    /reserved/,
  );
});

test('header padded with trailing spaces is accepted; odd header length still reads correctly', () => {
  const data = f32Bytes([1.5, -2, 3]);
  const header = { x: f32([3], 0, 12) };
  for (let pad = 0; pad < 8; pad++) {
    const bytes = build(header, data, pad);
    assert.deepEqual([...readSafetensors(bytes).tensors.get('x')!.data], [1.5, -2, 3]);
    // also at an odd byte offset inside a larger buffer
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    assert.deepEqual([...readSafetensors(shifted.subarray(1)).tensors.get('x')!.data], [1.5, -2, 3]);
  }
});

test('F16 decoding', () => {
  const halves = [0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555];
  const data = new Uint8Array(2 * halves.length);
  const view = new DataView(data.buffer);
  halves.forEach((h, i) => {
    view.setUint16(2 * i, h, true);
  });
  const bytes = build({ h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, data.length] } }, data);
  const got = [...readSafetensors(bytes).tensors.get('h')!.data];
  const want = [1, -2.5, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, Number.NaN, -0];
  want.forEach((w, i) => {
    assert.ok(Object.is(got[i], Math.fround(w)), `half ${halves[i]}: ${got[i]} != ${w}`);
  });
  assert.ok(Math.abs(got[10] - 1 / 3) < 1e-3);
});

test('BF16 decoding takes the top 16 bits of float32', () => {
  const values = [1, -2.5, 3.140625, 1e30, -Infinity, Number.NaN];
  const f = new Float32Array(values);
  const bits = new Uint32Array(f.buffer);
  const data = new Uint8Array(2 * values.length);
  const view = new DataView(data.buffer);
  bits.forEach((b, i) => {
    view.setUint16(2 * i, b >>> 16, true);
  });
  const bytes = build({ b: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, data.length] } }, data);
  const t = readSafetensors(bytes).tensors.get('b')!;
  assert.deepEqual(t.shape, [2, 3]);
  const expected = new Float32Array(new Uint32Array([...bits].map((b) => b & 0xffff0000)).buffer);
  assert.deepEqual([...t.data], [...expected]);
  assert.equal(t.data[0], 1);
  assert.equal(t.data[1], -2.5);
});

test('F64 decoding', () => {
  const data = new Uint8Array(24);
  const view = new DataView(data.buffer);
  [0.1, -1e300, 2].forEach((v, i) => {
    view.setFloat64(8 * i, v, true);
  });
  const bytes = build({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, data);
  assert.deepEqual([...readSafetensors(bytes).tensors.get('d')!.data], [Math.fround(0.1), -Infinity, 2]);
});

test('mixed dtypes with a non-aligned data section', () => {
  const half = new Uint8Array([0x00, 0x3c]);
  const data = new Uint8Array([...half, ...f32Bytes([7])]);
  const header = { h: { dtype: 'F16', shape: [1], data_offsets: [0, 2] }, f: f32([1], 2, 6) };
  const back = readSafetensors(build(header, data, 1));
  assert.deepEqual([...back.tensors.keys()], ['h', 'f']);
  assert.equal(back.tensors.get('f')!.data[0], 7);
});

test('truncated and absurd header lengths', () => {
  rejects(new Uint8Array(5), /at least 8 bytes.*found 5/, 'x.safetensors');
  rejects(new Uint8Array(5), /^x\.safetensors: /, 'x.safetensors');
  const past = build({});
  new DataView(past.buffer).setBigUint64(0, 100n, true);
  rejects(past, /header length 100 runs past the end of the file/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  rejects(huge, /exceeds the 100000000-byte limit/);
});

test('header not UTF-8 JSON or not an object', () => {
  rejects(buildRaw(new Uint8Array([0x7b, 0xff, 0x7d]), new Uint8Array(0)), /not valid UTF-8 JSON/);
  rejects(build('{"a": '), /not valid UTF-8 JSON/);
  rejects(build('[1,2]'), /expected the header to be a JSON object, found array/);
  rejects(build('null'), /found null/);
  rejects(build('"str"'), /found string/);
});

test('bad tensor entries', () => {
  const d4 = new Uint8Array(4);
  rejects(build({ t: 5 }, d4), /tensor "t" to be an object, found number/);
  rejects(build({ t: { shape: [1], data_offsets: [0, 4] } }, d4), /"t" dtype to be a string, found nothing/);
  rejects(build({ t: { dtype: 'F32', data_offsets: [0, 4] } }, d4), /shape to be an array/);
  rejects(build({ t: { dtype: 'F32', shape: [1] } }, d4), /data_offsets to be \[begin, end\]/);
  rejects(
    build({ t: { dtype: 'F32', shape: '1', data_offsets: [0, 4] } }, d4),
    /shape to be an array, found string/,
  );
  rejects(
    build({ t: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, d4),
    /dtype to be a string, found number/,
  );
});

test('__metadata__ must be a string to string map', () => {
  rejects(build({ __metadata__: ['a'] }), /__metadata__ to be an object, found array/);
  rejects(build({ __metadata__: { a: 1 } }), /__metadata__\["a"\] to be a string, found number/);
});

test('unknown and integer dtypes', () => {
  const d4 = new Uint8Array(4);
  rejects(
    build({ t: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, d4),
    /unsupported dtype "Q4"; supported: F32, F16, BF16, F64/,
  );
  rejects(
    build({ t: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, d4),
    /"I32" \(integer.*unsupported\).*supported: F32/,
  );
});

test('bad shapes', () => {
  rejects(build({ t: f32([-1], 0, 0) }), /non-negative integers, found \[-1\]/);
  rejects(build({ t: f32([1.5], 0, 0) }), /non-negative integers, found \[1.5\]/);
  rejects(
    build({ t: { dtype: 'F32', shape: ['2'], data_offsets: [0, 0] } }),
    /non-negative integers, found \["2"\]/,
  );
  rejects(build({ t: f32([2 ** 30, 2 ** 30], 0, 0) }), /overflows/);
  rejects(build('{"t":{"dtype":"F32","shape":[1e400],"data_offsets":[0,0]}}'), /non-negative integers/);
});

test('bad data_offsets', () => {
  const d8 = new Uint8Array(8);
  rejects(build({ t: f32([1], 4, 0) }, d8), /0 <= begin <= end, found array \[4,0\]/);
  rejects(build({ t: f32([1], -4, 0) }, d8), /0 <= begin <= end/);
  rejects(build({ t: f32([1], 0, 4.5) }, d8), /0 <= begin <= end/);
  rejects(build({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, d8), /data_offsets/);
  rejects(build({ t: f32([4], 0, 16) }, d8), /\[0, 16\] run past the data section \(8 bytes\)/);
  rejects(build({ t: f32([3], 0, 8) }, d8), /needs 12 bytes, but data_offsets span 8/);
});

test('overlaps, holes and trailing bytes in the data section', () => {
  const d12 = new Uint8Array(12);
  rejects(
    build({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, d12),
    /"b" \[4, 12\] overlaps tensor "a" \[0, 8\]/,
  );
  rejects(build({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, d12), /bytes \[4, 8\) .* not covered/);
  rejects(build({ a: f32([2], 0, 8) }, d12), /12 bytes but tensors cover only 8/);
  rejects(build({ a: f32([0], 4, 4), b: f32([2], 0, 8) }, new Uint8Array(8)), /overlaps/);
  // empty tensors at a boundary are fine
  const ok = readSafetensors(
    build({ a: f32([0], 0, 0), b: f32([2], 0, 8), c: f32([0], 8, 8) }, new Uint8Array(8)),
  );
  assert.deepEqual([...ok.tensors.keys()], ['a', 'b', 'c']);
});
