// A plain-JavaScript user of the installed package (no TypeScript loader): loads a model folder,
// runs forward on case.json's inputs and an 8-token greedy continuation of its prompt, prints JSON.
// Usage: node forward.mjs <model folder>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createJsBackend, generateTokens, loadModelFolder } from 'diff-transformer';

const folder = process.argv[2];
const kase = JSON.parse(readFileSync(join(folder, 'case.json'), 'utf8'));
const model = loadModelFolder(folder, createJsBackend());
const batch = kase.tokens.length;
const seq = kase.tokens[0].length - 1;
const inputs = Int32Array.from(kase.tokens.flatMap((row) => row.slice(0, -1)));
const { logits } = model.forward(inputs, batch, seq);
const greedy = [...generateTokens(model, kase.greedy.prompt, { maxTokens: 8, temperature: 0 })];
process.stdout.write(`${JSON.stringify({ logits: Array.from(logits), greedy })}\n`);
