#!/usr/bin/env node
// The diff-transformer command: the compiled JavaScript in dist/ (`npm run build`; npm ci and npm pack build it).
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
