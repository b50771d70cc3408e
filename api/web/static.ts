// The web panel's built assets (web/dist), served at `/` by the same process as the API.
//
// - Only GET and HEAD, and never under the API's own prefixes (/api, /apis, /k8s, /compat, /ws,
//   /healthz, /metrics): those fall through to the app's JSON 404, so an unknown API path is never
//   answered with HTML.
// - A path is split into segments and each is decoded once; an empty, `.` or `..` segment, one holding
//   `/`, `\` or NUL after decoding, or a malformed escape is refused (400) before the disk is touched.
//   The file found is resolved with realpath and must lie inside the (real) assets dir, so a symlink
//   in the build output cannot lead anywhere else; it is then opened with O_NOFOLLOW.
// - Hashed files under /assets/ are cached for a year (`immutable`); everything else (index.html,
//   favicon) is `no-cache` with an ETag, so a new build shows up at the next load.
// - Client routes (a path whose last segment has no extension) get index.html: the SPA fallback. A
//   missing file with an extension, or anything missing under /assets/, is a 404: a stale chunk must
//   fail loudly, not parse HTML as JavaScript.
// - index.html carries a Content-Security-Policy: scripts only from this origin, no inline script,
//   no framing. Styles allow 'unsafe-inline' because CodeMirror and xterm inject <style> elements.
// - Files are read once per version (inode, size, mtime) and kept in memory with their gzip form.
import { constants as fsc } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../lib/log.ts';

/** Prefixes the SPA never answers: the API, the resource dialects, sockets, probes. */
export const RESERVED_PREFIXES: readonly string[] = ['/api', '/apis', '/k8s', '/compat', '/ws', '/healthz', '/metrics'];

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};
const COMPRESSIBLE = /^(text\/|application\/(json|manifest\+json|wasm)|image\/svg)/;
/** Vite's output names: `name-HASH.ext` with an 8-character base64url hash. */
const HASHED = /-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
/** Files larger than this are read per request instead of kept in memory (the build has none). */
const MAX_CACHED_BYTES = 8 * 1024 * 1024;

export interface WebAssetsOptions {
  /** The built assets (web/dist). */
  root: string;
  log: Logger;
}

interface CachedFile {
  key: string;
  body: Buffer;
  gzip?: Buffer;
  etag: string;
  type: string;
}

class Refusal extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

const isReserved = (p: string) => RESERVED_PREFIXES.some((r) => p === r || p.startsWith(r + '/'));

/** The decoded segments of a request path; throws a 400 Refusal for anything that could climb or smuggle. */
export function safeSegments(rawPath: string): string[] {
  if (!rawPath.startsWith('/')) throw new Refusal(400, 'path must start with /');
  const parts = rawPath.split('/').slice(1);
  if (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts.map((raw) => {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new Refusal(400, `malformed percent-encoding in path segment "${raw.slice(0, 100)}"`);
    }
    if (seg === '' || seg === '.' || seg === '..' || /[/\\\0]/.test(seg)) throw new Refusal(400, `path segment "${raw.slice(0, 100)}" is not allowed`);
    return seg;
  });
}

function plain(c: Context, status: number, message: string): Response {
  return new Response(c.req.method === 'HEAD' ? null : message + '\n', { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' } });
}

/** Middleware serving the panel; mount it after every API route (it passes anything else on). */
export function webAssets(opts: WebAssetsOptions): MiddlewareHandler {
  const log = opts.log.child({ component: 'web' });
  const root = path.resolve(opts.root);
  let realRoot: string | undefined;
  const cache = new Map<string, CachedFile>();

  const rootDir = async (): Promise<string | undefined> => {
    if (realRoot) return realRoot;
    try {
      realRoot = await realpath(root);
      return realRoot;
    } catch {
      return undefined;
    }
  };

  /** The file at `rel` inside the root, or undefined when there is none (directories count as none). */
  const load = async (base: string, segments: string[]): Promise<CachedFile | undefined> => {
    const candidate = path.join(base, ...segments);
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      return undefined;
    }
    if (real !== base && !real.startsWith(base + path.sep)) {
      log.debug('refused a file outside the assets dir', { path: '/' + segments.join('/'), resolved: real });
      throw new Refusal(404, 'not found');
    }
    const st = await stat(real).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const hit = cache.get(real);
    if (hit && hit.key === key) return hit;
    const fh = await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    let body: Buffer;
    try {
      body = await fh.readFile();
    } finally {
      await fh.close();
    }
    const type = TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream';
    const file: CachedFile = { key, body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
    if (COMPRESSIBLE.test(type) && body.length > 1024) file.gzip = gzipSync(body, { level: 9 });
    if (body.length <= MAX_CACHED_BYTES) cache.set(real, file);
    return file;
  };

  const send = (c: Context, file: CachedFile, cacheControl: string, html: boolean): Response => {
    const headers: Record<string, string> = {
      'Content-Type': file.type,
      'Cache-Control': cacheControl,
      ETag: file.etag,
      'X-Content-Type-Options': 'nosniff',
      Vary: 'Accept-Encoding',
    };
    if (html) {
      headers['Content-Security-Policy'] = CONTENT_SECURITY_POLICY;
      headers['Referrer-Policy'] = 'same-origin';
      headers['X-Frame-Options'] = 'DENY';
    }
    const inm = c.req.header('if-none-match');
    if (inm && inm.split(',').some((t) => t.trim() === file.etag)) return new Response(null, { status: 304, headers });
    let body = file.body;
    if (file.gzip && /\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      body = file.gzip;
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(body.length);
    return new Response(c.req.method === 'HEAD' ? null : (new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as Uint8Array<ArrayBuffer>), { status: 200, headers });
  };

  return async (c, next) => {
    const method = c.req.method;
    // The path as sent (dot segments already resolved by URL parsing, escapes not yet decoded).
    const rawPath = new URL(c.req.url).pathname;
    if ((method !== 'GET' && method !== 'HEAD') || isReserved(rawPath)) return next();
    try {
      const segments = safeSegments(rawPath);
      // `/%61pi/x` is /api/x once decoded: still the API's (its 404), never the panel's.
      if (isReserved('/' + segments.join('/'))) return next();
      const base = await rootDir();
      if (!base) return plain(c, 503, `The web panel is not built (no ${root}): run "bash scripts/build-web.sh" (npm run up does it)`);
      // Dot-files (the build's .source-hash, an editor's swap file) are not part of the panel.
      if (segments.some((x) => x.startsWith('.'))) return plain(c, 404, `not found: ${rawPath.slice(0, 200)}`);
      const file = segments.length ? await load(base, segments) : undefined;
      if (file) {
        const hashed = segments[0] === 'assets' && HASHED.test(segments[segments.length - 1]!);
        return send(c, file, hashed ? IMMUTABLE : 'no-cache', file.type.startsWith('text/html'));
      }
      const last = segments[segments.length - 1] ?? '';
      if (segments[0] === 'assets' || /\.[A-Za-z0-9]+$/.test(last)) return plain(c, 404, `not found: ${rawPath.slice(0, 200)}`);
      const index = await load(base, ['index.html']);
      if (!index) return plain(c, 503, `The web panel is not built (no index.html in ${root}): run "bash scripts/build-web.sh" (npm run up does it)`);
      return send(c, index, 'no-cache', true);
    } catch (err) {
      if (err instanceof Refusal) return plain(c, err.status, err.message);
      log.error('cannot serve a web asset', { err, path: rawPath.slice(0, 200) });
      return plain(c, 500, 'cannot read the web panel\'s files');
    }
  };
}

/**
 * The default location of the built panel: `web/dist` of the checkout this module belongs to, found by
 * walking up to the directory holding Gantry's package.json (so it also holds when the backend runs
 * compiled from another directory). GANTRY_WEB_DIR overrides it.
 */
export async function defaultWebRoot(from = import.meta.dirname, env = process.env): Promise<string> {
  if (env.GANTRY_WEB_DIR) return path.resolve(env.GANTRY_WEB_DIR);
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    const found = await stat(pkg).then((s) => s.isFile()).catch(() => false);
    if (found && (await stat(path.join(dir, 'web')).then((s) => s.isDirectory()).catch(() => false))) return path.join(dir, 'web', 'dist');
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(from, '../../web/dist');
    dir = up;
  }
}
