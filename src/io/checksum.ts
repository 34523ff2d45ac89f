/**
 * Content fingerprints: SHA-256 (node:crypto; ≈ 2 GB/s with the CPU's SHA instructions) of tensors,
 * safetensors metadata and files. The exact byte sequences hashed are part of the file format
 * (README, Formats), so that other tools can verify our files:
 * - a tensor: the UTF-8 line `<dtype> <shape as JSON without spaces>\n` (e.g. `F32 [2,3]\n`), then its
 *   bytes in the data section (its data_offsets range);
 * - metadata: for every key except the checksum list itself, in the order of the keys' UTF-8 bytes,
 *   the key's UTF-8 bytes, a 0 byte, the value's UTF-8 bytes, a 0 byte.
 * node:crypto is fetched when hashing runs (the browser entry imports nothing from node:*); where the
 * runtime has no Node built-ins (a browser) `hashingAvailable()` is false and files load unchecked.
 */
import { nodeBuiltin } from '../core/node-builtins.ts';

const createHash = (algorithm: string) => nodeBuiltin('node:crypto').createHash(algorithm);

export function hashingAvailable(): boolean {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  return typeof proc?.getBuiltinModule === 'function';
}

/** Hex SHA-256 of the parts, in order (strings as UTF-8). */
export function sha256(...parts: Array<Uint8Array | string>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

export function tensorChecksum(dtype: string, shape: readonly number[], bytes: Uint8Array): string {
  return sha256(`${dtype} ${JSON.stringify(shape)}\n`, bytes);
}

export function metadataChecksum(metadata: Record<string, string>): string {
  const keys = Object.keys(metadata).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return sha256(...keys.flatMap((k) => [k, '\0', metadata[k], '\0']));
}

/** Size and SHA-256 of a file's content, read in pieces. */
export interface FileFingerprint {
  bytes: number;
  sha256: string;
}

export function fileFingerprint(path: string): FileFingerprint {
  const { closeSync, fstatSync, openSync, readSync } = nodeBuiltin('node:fs');
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const chunk = new Uint8Array(1 << 22);
    let bytes = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, bytes);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      bytes += n;
    }
    if (bytes !== fstatSync(fd).size) throw new Error(`${path} changed while it was being read`);
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}
