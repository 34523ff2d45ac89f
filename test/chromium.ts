/**
 * Headless Chromium for the browser tests, with no system package needed: Debian's /usr/bin/chromium
 * when it is installed, else the Chromium inside the npm package @sparticuz/chromium (a devDependency;
 * it unpacks a headless build with its own SwiftShader). That package unpacks into, and reuses
 * whatever `chromium` it finds in, os.tmpdir(); so it unpacks here into a fresh folder that is then
 * renamed to a folder of this project and version (atomic: test files running in parallel never
 * see a half-unpacked browser), and the next run reuses it.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sparticuz from '@sparticuz/chromium';
import { type BrowserContext, chromium } from 'playwright-core';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/** Flags for a sandboxed machine; without the background-networking ones, connections get refused. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function unpackedChromium(): Promise<string> {
  const manifest = new URL('../node_modules/@sparticuz/chromium/package.json', import.meta.url);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  const home = join(tmpdir(), `diff-transformer-chromium-${version}`);
  const exe = join(home, 'chromium');
  if (existsSync(exe)) return exe;
  const staging = mkdtempSync(`${home}.unpacking-`);
  const tmp = process.env.TMPDIR;
  process.env.TMPDIR = staging;
  try {
    await sparticuz.executablePath();
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  }
  try {
    renameSync(staging, home);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(exe)) throw err; // another test process won the rename: use its copy
  }
  return exe;
}

/** The executable the browser tests run: /usr/bin/chromium when present, else @sparticuz/chromium's. */
export async function chromiumExecutable(): Promise<string> {
  return existsSync(SYSTEM_CHROMIUM) ? SYSTEM_CHROMIUM : unpackedChromium();
}

/** A fresh headless Chromium with a new profile folder; close it when done. */
export async function launchChromium(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'dt-chromium-profile-')), {
    executablePath: await chromiumExecutable(),
    args: FLAGS,
    ...options,
  });
}
