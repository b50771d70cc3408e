// The web panel's asset serving (api/web/static.ts) through the real app on a real socket: raw request
// paths (Node's client sends them verbatim), a real assets dir with symlinks pointing out of it.
import { request } from 'node:http';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiApp, signInAdmin, type ApiApp } from '../helpers/api.ts';
import { CONTENT_SECURITY_POLICY, IMMUTABLE, defaultWebRoot, safeSegments } from '../../api/web/static.ts';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(port: number, rawPath: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-AbCdEf12.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;

describe('web assets served at /', () => {
  let api: ApiApp;
  let dir: string;
  let root: string;
  let outside: string;
  let server: ServerType;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-web-static-'));
    root = path.join(dir, 'dist');
    outside = path.join(dir, 'secret');
    await mkdir(path.join(root, 'assets'), { recursive: true });
    await mkdir(outside);
    await writeFile(path.join(outside, 'passwd'), 'root:x:0:0:SECRET\n');
    await writeFile(path.join(root, 'index.html'), INDEX);
    await writeFile(path.join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(path.join(root, 'assets', 'index-AbCdEf12.js'), SCRIPT);
    await writeFile(path.join(root, 'assets', 'style-Zz9_Yy8-.css'), 'body{color:red}');
    // Symlinks planted in the build output: out of it (a file, a directory), and one that stays inside.
    await symlink(path.join(outside, 'passwd'), path.join(root, 'assets', 'evil-AbCdEf12.js'));
    await symlink(outside, path.join(root, 'assets', 'linked'));
    await symlink(path.join(root, 'assets', 'index-AbCdEf12.js'), path.join(root, 'assets', 'alias-AbCdEf12.js'));
    api = await openApiApp({ app: { webRoot: root } });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await api.env.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers / and client routes with index.html, no-cache and a Content-Security-Policy', async () => {
    for (const p of ['/', '/servers/web-a', '/admin/nodes?tab=2', '/login']) {
      const r = await raw(port, p);
      expect(r.status, p).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.body.toString()).toBe(INDEX);
    }
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/script-src[^;]*unsafe-inline/);
  });

  it('caches hashed assets for a year, the rest revalidates; gzip, ETag and HEAD work', async () => {
    const js = await raw(port, '/assets/index-AbCdEf12.js');
    expect(js.status).toBe(200);
    expect(js.headers['cache-control']).toBe(IMMUTABLE);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect(js.headers['content-security-policy']).toBeUndefined();
    expect(js.body.toString()).toBe(SCRIPT);

    const gz = await raw(port, '/assets/index-AbCdEf12.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('Accept-Encoding');
    expect(Number(gz.headers['content-length'])).toBeLessThan(SCRIPT.length / 10);
    expect(gunzipSync(gz.body).toString()).toBe(SCRIPT);

    const again = await raw(port, '/assets/index-AbCdEf12.js', { headers: { 'if-none-match': String(js.headers.etag) } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);

    const head = await raw(port, '/assets/style-Zz9_Yy8-.css', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(head.headers['content-length']).toBe('15');
    expect(head.body.length).toBe(0);

    const icon = await raw(port, '/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers['cache-control']).toBe('no-cache');
    expect(icon.headers['content-type']).toBe('image/svg+xml');
  });

  it('a missing asset or file is a 404, never index.html', async () => {
    await writeFile(path.join(root, '.source-hash'), 'abc\n');
    for (const p of ['/assets/gone-12345678.js', '/assets/page', '/robots.txt', '/x/y.png', '/.source-hash', '/.git/config']) {
      const r = await raw(port, p);
      expect(r.status, p).toBe(404);
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.body.toString()).not.toContain('<html');
    }
  });

  it('never shadows the API: unknown /api paths stay JSON, the other prefixes keep their own answers', async () => {
    const unknown = await raw(port, '/api/nope/deeper');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body.toString())).toMatchObject({ statusCode: 404, error: 'Not Found' });
    const encoded = await raw(port, '/%61pi/nope');
    expect(encoded.status).toBe(404);
    expect(encoded.body.toString()).not.toContain('<html');
    const servers = await raw(port, '/api/servers');
    expect(servers.status).toBe(401);
    expect(JSON.parse(servers.body.toString())).toMatchObject({ statusCode: 401 });
    const apis = await raw(port, '/apis/gantry.dev/v1alpha1/nothing');
    expect(apis.headers['content-type']).toContain('application/json');
    for (const p of ['/ws', '/k8s/api', '/compat/ccpanel/api/v1/instances', '/metrics', '/api']) {
      const r = await raw(port, p);
      expect(r.headers['content-type'], p).toContain('application/json');
      expect(r.body.toString(), p).not.toContain('<html');
    }
    const health = await raw(port, '/healthz');
    expect(JSON.parse(health.body.toString()).status).toBe('ok');
    const admin = await signInAdmin(api.svc, 'web-static-admin');
    const me = await raw(port, '/api/auth/me', { headers: admin.headers });
    expect(JSON.parse(me.body.toString()).data.username).toBe('web-static-admin');
    // Other methods pass through to the API's 404.
    const post = await raw(port, '/some/page', { method: 'POST' });
    expect(post.status).toBe(404);
    expect(post.headers['content-type']).toContain('application/json');
  });

  it('refuses traversal in every spelling and symlinks out of the assets dir', async () => {
    const attempts = [
      '/assets/../../etc/passwd',
      '/assets/../../secret/passwd',
      '/assets/%2e%2e/%2e%2e/secret/passwd',
      '/assets/%2E%2E/%2E%2E/secret/passwd',
      '/assets/..%2f..%2fsecret%2fpasswd',
      '/assets/%2e%2e%2f%2e%2e%2fsecret%2fpasswd',
      '/..%5c..%5csecret%5cpasswd',
      '/assets/%252e%252e/%252e%252e/secret/passwd',
      '/assets/evil-AbCdEf12.js',
      '/assets/linked/passwd',
      '/assets/linked',
      '/assets/x%00.js',
      '/assets/%E0%A4%A.js',
      '//secret/passwd',
    ];
    for (const p of attempts) {
      const r = await raw(port, p);
      expect(r.body.toString(), p).not.toContain('SECRET');
      expect([200, 400, 404], p).toContain(r.status);
      // What is answered 200 is the panel itself (a client route), never a file from elsewhere.
      if (r.status === 200) expect(r.body.toString(), p).toBe(INDEX);
    }
    expect((await raw(port, '/assets/..%2f..%2fsecret%2fpasswd')).status).toBe(400);
    expect((await raw(port, '/assets/x%00.js')).status).toBe(400);
    expect((await raw(port, '/assets/%E0%A4%A.js')).status).toBe(400);
    expect((await raw(port, '/assets/evil-AbCdEf12.js')).status).toBe(404);
    expect((await raw(port, '/assets/linked/passwd')).status).toBe(404);
    // A link that stays inside the dir is served like the file it names.
    const alias = await raw(port, '/assets/alias-AbCdEf12.js');
    expect(alias.status).toBe(200);
    expect(alias.body.toString()).toBe(SCRIPT);
  });

  it('a panel that is not built says how to build it', async () => {
    const empty = await openApiApp({ app: { webRoot: path.join(dir, 'not-built') } });
    try {
      const res = await empty.app.request('/servers');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('scripts/build-web.sh');
      expect((await empty.app.request('/api/nope')).status).toBe(404);
    } finally {
      await empty.env.close();
    }
  });

  it('segments: decoded once, anything that could climb refused', () => {
    expect(safeSegments('/assets/a%20b.js')).toEqual(['assets', 'a b.js']);
    expect(safeSegments('/')).toEqual([]);
    expect(safeSegments('/servers/x/')).toEqual(['servers', 'x']);
    for (const bad of ['/a//b', '/a/./b', '/a/%2e%2e', '/a%2fb', '/a%5cb', '/%00', '/%zz']) expect(() => safeSegments(bad), bad).toThrow();
  });

  it('finds the checkout\'s web/dist from anywhere below it, or GANTRY_WEB_DIR', async () => {
    const repo = path.resolve(import.meta.dirname, '../..');
    expect(await defaultWebRoot(path.join(repo, 'api', 'web'), {})).toBe(path.join(repo, 'web', 'dist'));
    expect(await defaultWebRoot(path.join(repo, 'api', 'web'), { GANTRY_WEB_DIR: '/srv/panel' })).toBe('/srv/panel');
  });
});
