// File transfers through the HTTP API against `cp` of the same file on the same disk, in the same run.
//
//   npx tsx bench/api-files.ts      (BENCH_API_FILE_MB=100 for a quick run; default 500)
//
// Everything a client's transfer crosses: HTTP (node:http client, @hono/node-server), the route
// pipeline (auth, server lookup, permission), busboy parsing the multipart body off the Node request,
// the hub's credit-controlled byte stream over the agent's WebSocket, and a real agent process
// (test/integration/files-agent-child.ts: the agent's connection, dispatcher, file handlers) writing
// the temp file, fsync and rename. bench/files.ts measures the hub alone; the difference is the HTTP side.
//
//   (a) upload: a local file POSTed as multipart/form-data, vs `cp` + `sync` of the same file.
//   (b) download: GET .../files/download streamed to a local file, vs `cp` of it.
//   (c) peak RSS growth of this process (API + hub) during each transfer, vs the file size.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { GameServer } from '../crds/types.ts';
import { eventually, startHarness } from '../test/integration/hub-harness.ts';
import { fmt, num, ratio, runIfMain, sh } from './lib.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;
const statusOf = (pid: number | 'self', key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

function uploadMultipart(url: string, headers: Record<string, string>, file: string, size: number): Promise<number> {
  const boundary = `----bench-${randomBytes(6).toString('hex')}`;
  const pre = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n/\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const post = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(pre.length + size + post.length) } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`upload answered ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.write(pre);
    const src = createReadStream(file, { highWaterMark: 256 * 1024 });
    src.on('end', () => req.end(post));
    src.pipe(req, { end: false });
  });
}

export async function run(): Promise<void> {
  const sizeMb = num('BENCH_API_FILE_MB', 500);
  const size = sizeMb * MB;
  const h = await startHarness();
  h.api.limits.uploadMaxBytes = size + MB;
  h.api.limits.userPerMinute = 1_000_000;
  const base = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-api-files-'));
  let child: ChildProcess | undefined;
  try {
    const cred = await h.enrolledNode('bench-node');
    const servers = path.join(base, 'servers');
    await mkdir(path.join(servers, 'default/srv'), { recursive: true });
    const src = path.join(base, 'src.bin');
    const block = randomBytes(MB);
    const w = createWriteStream(src);
    for (let i = 0; i < sizeMb; i++) if (!w.write(block)) await new Promise<void>((r) => w.once('drain', () => r()));
    await new Promise<void>((r) => w.end(() => r()));
    await sh('sync', []);

    child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--import', path.join(ROOT, 'node_modules/tsx/dist/loader.mjs'), path.join(ROOT, 'test/integration/files-agent-child.ts')], {
      env: { ...process.env, PANEL: h.url, CREDENTIAL: cred.credential, SERVERS_ROOT: servers, MAX_UPLOAD_BYTES: String(size + MB), GANTRY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await eventually(() => h.hub.isConnected('bench-node'), 'agent connected', 30_000);
    await h.env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'srv', namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: 'bench-node' } } as GameServer);
    await h.env.store.patchStatus('GameServer', 'default', 'srv', { nodeName: 'bench-node', phase: 'stopped' });

    // (a) upload vs cp + sync (the upload fsyncs before its rename)
    let t0 = performance.now();
    const cp1 = await sh('sh', ['-c', `cp '${src}' '${base}/cp-up.bin' && sync`], 600_000);
    const cpUp = (performance.now() - t0) / 1000;
    if (cp1.code !== 0) throw new Error(`cp failed: ${cp1.out}`);
    await rm(path.join(base, 'cp-up.bin'));
    const rss0 = statusOf('self', 'VmRSS');
    writeFileSync('/proc/self/clear_refs', '5');
    t0 = performance.now();
    await uploadMultipart(`${h.url}/api/servers/srv/files/upload`, h.admin.headers, src, size);
    const upS = (performance.now() - t0) / 1000;
    const upGrowth = statusOf('self', 'VmHWM') - rss0;
    if ((await stat(path.join(servers, 'default/srv/big.bin'))).size !== size) throw new Error('uploaded size differs');

    // (b) download vs cp
    const stored = path.join(servers, 'default/srv/big.bin');
    t0 = performance.now();
    const cp2 = await sh('cp', [stored, path.join(base, 'cp-down.bin')], 600_000);
    const cpDown = (performance.now() - t0) / 1000;
    if (cp2.code !== 0) throw new Error(`cp failed: ${cp2.out}`);
    await rm(path.join(base, 'cp-down.bin'));
    const rss1 = statusOf('self', 'VmRSS');
    writeFileSync('/proc/self/clear_refs', '5');
    t0 = performance.now();
    const res = await fetch(`${h.url}/api/servers/srv/files/download?path=/big.bin`, { headers: h.admin.headers });
    if (res.status !== 200 || !res.body) throw new Error(`download answered ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(path.join(base, 'down.bin')));
    const downS = (performance.now() - t0) / 1000;
    const downGrowth = statusOf('self', 'VmHWM') - rss1;
    if ((await stat(path.join(base, 'down.bin'))).size !== size) throw new Error('downloaded size differs');

    const mbps = (s: number) => `${fmt(sizeMb / s)} MB/s`;
    console.log(`file: ${sizeMb} MB; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    console.log(`(a) upload through the HTTP API   ${fmt(upS, 2)} s (${mbps(upS)})   vs cp+sync ${fmt(cpUp, 2)} s (${mbps(cpUp)})   → ${ratio(upS, cpUp)} the time`);
    console.log(`(b) download through the HTTP API ${fmt(downS, 2)} s (${mbps(downS)})   vs cp ${fmt(cpDown, 2)} s (${mbps(cpDown)})   → ${ratio(downS, cpDown)} the time`);
    console.log(`(c) API process peak RSS growth: upload ${fmt(upGrowth / MB, 1)} MB, download ${fmt(downGrowth / MB, 1)} MB, vs the file's ${sizeMb} MB → ${ratio(upGrowth, size)} / ${ratio(downGrowth, size)} of it (RSS before: ${fmt(rss0 / MB, 1)} MB; the client runs in this process too)`);
  } finally {
    child?.kill('SIGTERM');
    await h.close();
    await rm(base, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
