/** A model folder as one .zip download (stored, not compressed: safetensors barely compress). */
import { zipSync } from 'fflate';

export function zipFolder(folder: string, files: Record<string, Uint8Array>): Uint8Array {
  const entries: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [name, bytes] of Object.entries(files)) entries[`${folder}/${name}`] = [bytes, { level: 0 }];
  return zipSync(entries);
}

export function downloadBytes(name: string, bytes: Uint8Array, type = 'application/zip'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
