// The file routes over real HTTP against the real hub and a real file-serving agent process
// (files-agent-child.ts: the agent's connection, dispatcher, file handlers and byte streams; no Docker).
// The edges of streaming: the upload limit declared up front and crossed mid-stream (chunked), a
// client that disconnects mid-upload, a path field after the file, names that are not names, and the
// audit of refused reads. The happy paths and attacks with real containers are in test/e2e/api-files.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GameServer } from '../../crds/types.ts';
import { eventually, startHarness, type Harness } from './hub-harness.ts';
import { until } from '../helpers/wait.ts';
import { compiledPath } from '../../lib/package-files.ts';
import { signIn } from '../helpers/api.ts';

const MiB = 1024 * 1024;
const LIMIT = 4 * MiB;
const SERVER = 'srv';

let h: Harness;
let base: string;
let data: string;
let child: ChildProcess;

interface Answer {
  status: number;
  body: any;
}

/** Sends a multipart body made of `parts` (Buffers or streams); chunked unless `length` is true. */
function send(url: string, headers: Record<string, string>, boundary: string, parts: (Buffer | Readable)[], length?: number, onRequest?: (req: http.ClientRequest) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, ...(length !== undefined ? { 'content-length': String(length) } : {}) } });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      res.on('error', reject);
    });
    req.on('error', (err) => setTimeout(() => (answered ? undefined : reject(err)), 500));
    onRequest?.(req);
    void (async () => {
      try {
        for (const p of parts) {
          if (Buffer.isBuffer(p)) {
            if (!req.write(p)) await new Promise((r) => req.once('drain', r));
          } else {
            for await (const c of p) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
          }
        }
        req.end();
      } catch {
        /* the server closed: its answer is what counts */
      }
    })();
  });
}

const B = 'XyZ-boundary-123';
const field = (name: string, value: string) => Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const fileHead = (filename: string) => Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
const tail = Buffer.from(`\r\n--${B}--\r\n`);
const zeros = (n: number) => Readable.from((function* () { for (let i = 0; i < n; i += 64 * 1024) yield Buffer.alloc(Math.min(64 * 1024, n - i)); })());
const uploadUrl = () => `${h.url}/api/servers/${SERVER}/files/upload`;
const leftovers = async () => (await readdir(data, { recursive: true })).filter((n) => n.includes('.gantry-tmp-') || n.includes('big'));

beforeAll(async () => {
  h = await startHarness();
  h.api.limits.uploadMaxBytes = LIMIT;
  const cred = await h.enrolledNode('node-a');
  base = await mkdtemp(path.join(os.tmpdir(), 'gantry-api-files-'));
  data = path.join(base, 'servers/default', SERVER);
  await mkdir(data, { recursive: true });
  await writeFile(path.join(base, 'outside'), 'outside\n');
  child = spawn(process.execPath, [compiledPath('test/integration/files-agent-child.ts')], {
    env: { ...process.env, PANEL: h.url, CREDENTIAL: cred.credential, SERVERS_ROOT: path.join(base, 'servers'), GANTRY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`agent child exited with ${code}`)));
  });
  await eventually(() => h.hub.isConnected('node-a'), 'agent connected');
  const s = await h.env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: SERVER, namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: 'node-a' } } as GameServer);
  await h.env.store.patchStatus('GameServer', 'default', SERVER, { nodeName: 'node-a', phase: 'stopped' });
  expect(s.metadata.uid).toBeTruthy();
}, 60_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await h?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('file routes: streaming edges', () => {
  it('uploads several files in one form, path field first', async () => {
    const r = await send(uploadUrl(), h.admin.headers, B, [field('path', '/up'), fileHead('a.txt'), Buffer.from('alpha'), Buffer.from(`\r\n`), fileHead('b.txt'), Buffer.from('beta'), tail]);
    expect(r).toMatchObject({ status: 200, body: { success: true, data: [{ path: '/up/a.txt', size: 5 }, { path: '/up/b.txt', size: 4 }] } });
    expect(await readFile(path.join(data, 'up/a.txt'), 'utf8')).toBe('alpha');
    expect(await readFile(path.join(data, 'up/b.txt'), 'utf8')).toBe('beta');
  });

  it('refuses a declared body over the limit at once, and a chunked one when it crosses the limit; nothing is left', async () => {
    const declared = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('big1.bin'), zeros(LIMIT + 2 * MiB), tail], LIMIT + 2 * MiB + 400);
    expect(declared).toMatchObject({ status: 413, body: { statusCode: 413, reason: 'too_large' } });
    const chunked = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('big2.bin'), zeros(LIMIT + MiB), tail]);
    expect(chunked.status).toBe(413);
    expect(chunked.body.reason).toBe('too_large');
    expect(await leftovers()).toEqual([]);
    const audit = await h.api.audit.list({ action: 'file.write' });
    expect(audit.filter((a) => a.status === 413 && a.metadata.refused === 'too_large').length).toBeGreaterThanOrEqual(2);
    // Exactly at the limit is fine.
    const exact = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('exact.bin'), zeros(LIMIT), tail]);
    expect(exact.status).toBe(200);
    await rm(path.join(data, 'exact.bin'));
  });

  it('a client that disconnects mid-upload leaves no temp file and the next upload works', async () => {
    let req!: http.ClientRequest;
    const slow = new Readable({ read() {} });
    const pending = send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('big3.bin'), slow], undefined, (r) => (req = r)).catch((e) => e);
    slow.push(Buffer.alloc(MiB));
    await until('the temp file on the agent', async () => (await readdir(data)).some((n) => n.startsWith('.gantry-tmp-')), 10_000);
    req.destroy();
    await pending;
    await until('no temp file left', async () => (await leftovers()).length === 0, 10_000);
    expect(h.hub.files.active).toBe(0);
    const again = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('after.txt'), Buffer.from('ok'), tail]);
    expect(again.status).toBe(200);
  });

  it('refuses a file before its path, a name that is not a name, and garbage multipart', async () => {
    const noPath = await send(uploadUrl(), h.admin.headers, B, [fileHead('x.txt'), Buffer.from('x'), Buffer.from('\r\n'), field('path', '/'), tail.subarray(2)]);
    expect(noPath).toMatchObject({ status: 400, body: { reason: 'path_after_file' } });
    const dots = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('..'), Buffer.from('x'), tail]);
    expect(dots.status).toBe(400);
    const escape = await send(uploadUrl(), h.admin.headers, B, [field('path', '/../..'), fileHead('x.txt'), Buffer.from('x'), tail]);
    expect(escape).toMatchObject({ status: 403, body: { reason: 'path_escape' } });
    const broken = await send(uploadUrl(), h.admin.headers, B, [field('path', '/'), fileHead('cut.txt'), Buffer.from('no end')]);
    expect(broken.status).toBe(400);
    expect(await leftovers()).toEqual([]);
    expect((await readdir(data)).filter((n) => ['x.txt', 'cut.txt'].includes(n))).toEqual([]);
  });

  it('audits refused reads as file.refused and streams a download', async () => {
    await writeFile(path.join(data, 'hello.bin'), randomBytes(3 * MiB));
    const res = await fetch(`${h.url}/api/servers/${SERVER}/files/download?path=/hello.bin`, { headers: h.admin.headers });
    expect(res.status).toBe(200);
    // Piped straight into the Node response: its own headers and the pipeline's (the owner is rate limited) are both there.
    const owner = await signIn(h.api, 'file-owner');
    await h.env.store.patch('GameServer', 'default', SERVER, { spec: { owner: owner.userId } });
    const own = await fetch(`${h.url}/api/servers/${SERVER}/files/download?path=/hello.bin`, { headers: owner.headers });
    expect(own.status).toBe(200);
    expect(own.headers.get('content-length')).toBe(String(3 * MiB));
    expect(own.headers.get('content-disposition')).toMatch(/^attachment; filename="hello.bin"/);
    expect(own.headers.get('x-ratelimit-limit')).toBe(String(h.api.limits.userPerMinute));
    expect(Buffer.from(await own.arrayBuffer()).length).toBe(3 * MiB);
    expect(Buffer.from(await res.arrayBuffer()).equals(await readFile(path.join(data, 'hello.bin')))).toBe(true);
    const bad = await fetch(`${h.url}/api/servers/${SERVER}/files/download?path=${encodeURIComponent('../../outside')}`, { headers: h.admin.headers });
    expect(bad.status).toBe(403);
    const entries = await h.api.audit.list({ action: 'file.refused' });
    expect(entries[0]).toMatchObject({ status: 403, resourceId: SERVER, userId: h.admin.userId, metadata: { code: 'path_escape', path: '../../outside' } });
  });

  it('a client that disconnects mid-download ends the transfer on the agent', async () => {
    await writeFile(path.join(data, 'large.bin'), Buffer.alloc(64 * MiB, 1));
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${h.url}/api/servers/${SERVER}/files/download?path=/large.bin`, { headers: h.admin.headers }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', (d: Buffer) => {
          received += d.length;
          if (received >= MiB) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (e) => (received >= MiB ? resolve() : reject(e)));
    });
    await until('the download stream closed', () => h.hub.files.active === 0, 10_000);
    expect(received).toBeLessThan(64 * MiB);
    // The agent is still fine: the next download is whole.
    const again = await fetch(`${h.url}/api/servers/${SERVER}/files/download?path=/hello.bin`, { headers: h.admin.headers });
    expect((await again.arrayBuffer()).byteLength).toBe(3 * MiB);
    await rm(path.join(data, 'large.bin'));
  });
});
