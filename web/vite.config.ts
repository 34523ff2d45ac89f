/**
 * Builds the browser app into web/dist (committed, so users need no build step): `npm run build:web`.
 * The app imports the library as a user would, from the package's browser entry
 * (`diff-transformer/browser` → dist/browser.js, whose module graph has no node:* import) and its wasm
 * kernels (`diff-transformer/kernels.wasm?url`), so dist/ has to be built first (build:web does).
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
});
