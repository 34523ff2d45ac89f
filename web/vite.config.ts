/**
 * Builds the browser app into web/dist (committed, so users need no build step): `npm run build:web`.
 * The app imports the library's own modules from ../src. Three of them import node:fs, node:path or
 * node:crypto for file I/O that the app never calls (src/tokenizer/tokenizer.ts, src/io/safetensors.ts →
 * src/io/atomic-write.ts); Vite replaces those imports by empty modules, and their notices are folded
 * into one line here.
 */
import { createLogger, defineConfig } from 'vite';

const logger = createLogger();
const externalized = new Set<string>();
const warn = logger.warn;
logger.warn = (message, options) => {
  const match =
    /Module "(node:[a-z]+)" has been externalized for browser compatibility, imported by "([^"]+)"/.exec(
      message,
    );
  if (match) {
    externalized.add(`${match[2].replace(/^.*\/src\//, 'src/')} → ${match[1]}`);
    return;
  }
  warn(message, options);
};

export default defineConfig({
  base: './',
  customLogger: logger,
  worker: { format: 'es' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  plugins: [
    {
      name: 'summarise-node-builtins',
      buildEnd() {
        if (externalized.size)
          logger.info(
            `node built-ins left out of the browser bundle (file I/O only): ${[...externalized].sort().join(', ')}`,
          );
      },
    },
  ],
});
