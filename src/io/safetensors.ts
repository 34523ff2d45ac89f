/**
 * Safetensors reader and writer (float tensors only).
 *
 * File layout: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *   { "name": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ..., "__metadata__": {..} }
 * then the data section; offsets are relative to the start of the data section.
 *
 * Contract:
 * - `readSafetensors` accepts F32, F16, BF16 and F64 and returns float32 copies (never views into
 *   `bytes`, so alignment of the input does not matter). Tensors come back ordered by their data
 *   offset, which is the order they were written in.
 * - Anything malformed (truncated file, bad JSON, bad dtype/shape/offsets, overlapping tensors, bytes
 *   not covered by any tensor, ...) throws `SafetensorsError` saying what was expected and what was
 *   found, prefixed with `source` when given. Sizes are checked against the file before allocating.
 * - `writeSafetensors` writes F32 little-endian in the given insertion order, the header padded with
 *   spaces to a multiple of 8 bytes, with `__metadata__` first.
 * - Integrity: the writer records a SHA-256 of every tensor (dtype, shape and bytes) and of the other
 *   metadata in `__metadata__["sha256"]` (a JSON object: tensor name or "__metadata__" → hex; format in
 *   checksum.ts). The reader verifies it when present — a mismatch names the file and the tensor — and
 *   leaves it out of the metadata it returns; files without it (other tools') load unchecked.
 * - `readSafetensorsFile` reads the header first and then each tensor straight into its array, so files
 *   over 2 GiB load and a hostile header never causes an allocation beyond the file's size.
 */
import { nodeBuiltin } from '../core/node-builtins.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { hashingAvailable, metadataChecksum, tensorChecksum } from './checksum.ts';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

export type TensorInput = Map<string, NamedTensor> | Record<string, NamedTensor>;

/** Largest header accepted (the reference implementation uses the same cap). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
/** The `__metadata__` entry holding the checksum list (format: checksum.ts and README, Formats). */
export const CHECKSUM_KEY = 'sha256';
/** Largest single read (readSync takes at most 2 GiB at a time). */
const READ_CHUNK = 1 << 28;
const DTYPE_SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const SUPPORTED = 'supported: F32, F16, BF16, F64';
const OTHER_DTYPES = ['BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64', 'F8_E4M3', 'F8_E5M2'];
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Where the bytes come from: a buffer, or an open file read piece by piece (so a file larger than one
 * buffer can hold still loads, and nothing is allocated before the header has been checked against
 * the file's size).
 */
interface ByteSource {
  length: number;
  /** Fill `target` with the bytes at [position, position + target.length). */
  read(position: number, target: Uint8Array): void;
}

export function readSafetensors(bytes: Uint8Array, source?: string): SafetensorsContent {
  return readFrom(
    {
      length: bytes.length,
      read: (position, target) => target.set(bytes.subarray(position, position + target.length)),
    },
    source,
  );
}

/** Reads the file in pieces (header first, then each tensor straight into its array). */
export function readSafetensorsFile(path: string): SafetensorsContent {
  const { closeSync, fstatSync, openSync, readSync } = nodeBuiltin('node:fs');
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new SafetensorsError(`${path}: cannot read: ${(error as Error).message}`);
  }
  try {
    const length = fstatSync(fd).size;
    const read = (position: number, target: Uint8Array) => {
      for (let done = 0; done < target.length; ) {
        const n = readSync(fd, target, done, Math.min(target.length - done, READ_CHUNK), position + done);
        if (n === 0) throw new SafetensorsError(`${path}: the file shrank while it was being read`);
        done += n;
      }
    };
    return readFrom({ length, read }, path);
  } finally {
    closeSync(fd);
  }
}

function readFrom(src: ByteSource, source?: string): SafetensorsContent {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source ? `${source}: ` : ''}invalid safetensors: ${msg}`);
  };
  if (src.length < 8) fail(`expected at least 8 bytes (header length), found ${src.length}`);
  const prefix = new Uint8Array(8);
  src.read(0, prefix);
  const n64 = new DataView(prefix.buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n64);
  if (8 + headerLen > src.length) {
    fail(
      `header length ${headerLen} runs past the end of the file (${src.length - 8} bytes after the prefix)`,
    );
  }
  const headerBytes = new Uint8Array(headerLen);
  src.read(8, headerBytes);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) fail(`expected the header to be a JSON object, found ${describe(header)}`);

  const dataStart = 8 + headerLen;
  const dataLen = src.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, fail);
    else entries.push(parseEntry(name, value, dataLen, fail));
  }
  checkCoverage(entries, dataLen, fail);
  const checksums = parseChecksums(metadata, entries, fail);
  delete metadata[CHECKSUM_KEY];
  if (checksums) {
    const found = metadataChecksum(metadata);
    if (found !== checksums[METADATA_KEY])
      fail(
        `${METADATA_KEY} fails its checksum (sha256 recorded ${checksums[METADATA_KEY]}, computed ${found}): the file is damaged`,
      );
  }

  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    const raw = readTensorBytes(src, dataStart, e);
    if (checksums) {
      const found = tensorChecksum(e.dtype, e.shape, raw.bytes);
      if (found !== checksums[e.name])
        fail(
          `tensor "${e.name}" fails its checksum (sha256 recorded ${checksums[e.name]}, computed ${found}): the file is damaged`,
        );
    }
    tensors.set(e.name, { shape: e.shape, data: raw.data ?? decode(raw.bytes, e.dtype) });
  }
  return { tensors, metadata };
}

/** A tensor's bytes; float32 little-endian data is read straight into the returned array. */
function readTensorBytes(
  src: ByteSource,
  dataStart: number,
  e: Entry,
): { bytes: Uint8Array; data?: Float32Array } {
  if (e.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    const data = new Float32Array((e.end - e.begin) / 4);
    const bytes = new Uint8Array(data.buffer);
    src.read(dataStart + e.begin, bytes);
    return { bytes, data };
  }
  const bytes = new Uint8Array(e.end - e.begin);
  src.read(dataStart + e.begin, bytes);
  return { bytes };
}

/**
 * The checksum list of a file written by this library, or undefined for files without one (other
 * tools' files load unchecked). It must name every tensor and the metadata, and nothing else.
 */
function parseChecksums(
  metadata: Record<string, string>,
  entries: readonly Entry[],
  fail: (m: string) => never,
): Record<string, string> | undefined {
  const text = metadata[CHECKSUM_KEY];
  if (text === undefined || !hashingAvailable()) return undefined;
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    fail(`${METADATA_KEY}["${CHECKSUM_KEY}"] is not JSON`);
  }
  if (!isPlainObject(list))
    fail(`expected ${METADATA_KEY}["${CHECKSUM_KEY}"] to be a JSON object, found ${describe(list)}`);
  const sums = list as Record<string, unknown>;
  const names = new Set([METADATA_KEY, ...entries.map((e) => e.name)]);
  for (const name of names) {
    if (typeof sums[name] !== 'string')
      fail(
        `${name === METADATA_KEY ? METADATA_KEY : `tensor "${name}"`} has no checksum in ${METADATA_KEY}["${CHECKSUM_KEY}"]`,
      );
  }
  for (const name of Object.keys(sums)) {
    if (!names.has(name))
      fail(`${METADATA_KEY}["${CHECKSUM_KEY}"] lists "${truncate(name)}", which is not a tensor of the file`);
  }
  return sums as Record<string, string>;
}

function parseMetadata(value: unknown, fail: (m: string) => never): Record<string, string> {
  if (!isPlainObject(value)) fail(`expected ${METADATA_KEY} to be an object, found ${describe(value)}`);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`expected ${METADATA_KEY}["${k}"] to be a string, found ${describe(v)}`);
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseEntry(name: string, value: unknown, dataLen: number, fail: (m: string) => never): Entry {
  const where = `tensor "${name}"`;
  if (!isPlainObject(value)) fail(`expected ${where} to be an object, found ${describe(value)}`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(`expected ${where} dtype to be a string, found ${describe(dtype)}`);
  const size = DTYPE_SIZES[dtype as string];
  if (size === undefined) {
    const kind = OTHER_DTYPES.includes(dtype as string) ? ' (integer/bool/fp8 dtypes are unsupported)' : '';
    fail(`${where} has unsupported dtype "${dtype}"${kind}; ${SUPPORTED}`);
  }
  if (!Array.isArray(shape)) fail(`expected ${where} shape to be an array, found ${describe(shape)}`);
  let numel = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`expected ${where} shape dims to be non-negative integers, found ${JSON.stringify(shape)}`);
    }
    numel *= d as number;
    if (!Number.isSafeInteger(numel * size)) fail(`${where} shape ${JSON.stringify(shape)} overflows`);
  }
  const offs = offsets as unknown[];
  if (
    !Array.isArray(offs) ||
    offs.length !== 2 ||
    !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    (offs[0] as number) > (offs[1] as number)
  ) {
    fail(
      `expected ${where} data_offsets to be [begin, end] integers with 0 <= begin <= end, found ${describe(offsets)}`,
    );
  }
  const [begin, end] = offs as [number, number];
  if (end > dataLen)
    fail(`${where} data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes)`);
  if (numel * size !== end - begin) {
    fail(
      `${where} shape ${JSON.stringify(shape)} x ${dtype} needs ${numel * size} bytes, but data_offsets span ${end - begin}`,
    );
  }
  return { name, dtype: dtype as string, shape: (shape as number[]).slice(), begin, end };
}

/** Tensors must tile the data section exactly: no overlaps, no holes, no trailing bytes. Sorts `entries`. */
function checkCoverage(entries: Entry[], dataLen: number, fail: (m: string) => never): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      fail(
        `tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${prev?.name}" [${prev?.begin}, ${prev?.end}]`,
      );
    }
    if (e.begin > pos) fail(`bytes [${pos}, ${e.begin}) of the data section are not covered by any tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen)
    fail(`data section has ${dataLen} bytes but tensors cover only ${pos} (trailing bytes)`);
}

function decode(raw: Uint8Array, dtype: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size = DTYPE_SIZES[dtype];
  const out = new Float32Array(raw.length / size);
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(raw);
    else for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'F64') {
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (Array.isArray(v)) return `array ${truncate(JSON.stringify(v))}`;
  if (v === null) return 'null';
  return `${typeof v} ${truncate(JSON.stringify(v))}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function writeSafetensors(tensors: TensorInput, metadata?: Record<string, string>): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // Build the JSON by hand: a JS object would move integer-like names first and lose insertion order.
  const parts: string[] = [];
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string')
      throw new SafetensorsError(`metadata "${k}" must be a string, got ${typeof v}`);
    if (k === CHECKSUM_KEY)
      throw new SafetensorsError(`metadata key "${CHECKSUM_KEY}" is reserved (checksums)`);
  }
  const sums: Record<string, string> = {};
  let offset = 0;
  for (const [name, t] of list) {
    if (name === METADATA_KEY) throw new SafetensorsError(`tensor name "${METADATA_KEY}" is reserved`);
    if (!(t.data instanceof Float32Array))
      throw new SafetensorsError(`tensor "${name}" data must be a Float32Array`);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw new SafetensorsError(`tensor "${name}" shape ${JSON.stringify(t.shape)} has an invalid dim`);
      }
      numel *= d;
    }
    if (numel !== t.data.length) {
      throw new SafetensorsError(
        `tensor "${name}" shape ${JSON.stringify(t.shape)} has ${numel} elements, data has ${t.data.length}`,
      );
    }
    const end = offset + 4 * numel;
    const info = { dtype: 'F32', shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
    if (hashingAvailable()) sums[name] = tensorChecksum('F32', t.shape, littleEndianBytes(t.data));
  }
  const meta = { ...metadata };
  if (hashingAvailable()) {
    sums[METADATA_KEY] = metadataChecksum(meta);
    Object.assign(meta, { [CHECKSUM_KEY]: JSON.stringify(sums) });
  }
  if (Object.keys(meta).length > 0) parts.unshift(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of list) {
    out.set(littleEndianBytes(t.data), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** The float32 little-endian bytes of `data` (a view on little-endian hosts). */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return out;
}

export function writeSafetensorsFile(
  path: string,
  tensors: TensorInput,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, writeSafetensors(tensors, metadata));
}
