// File transfers through the HTTP API against `cp` of the same file on the same disk, in the same run.
//
//   node dist/bench/api-files.js      (BENCH_API_FILE_MB=100 for a quick run; default 500)
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
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { GameServer } from '../crds/types.ts';
import { eventually, startHarness } from '../test/integration/hub-harness.ts';
import { MB, fmt, num, procStatus as statusOf, ratio, resetPeakRss, runIfMain, spawnFilesAgent, timedSh, writeRandomFile } from './lib.ts';

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
    await writeRandomFile(src, sizeMb);

    child = spawnFilesAgent({ panel: h.url, credential: cred.credential, serversRoot: servers, maxUploadBytes: size + MB });
    await eventually(() => h.hub.isConnected('bench-node'), 'agent connected', 30_000);
    await h.env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'srv', namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: 'bench-node' } } as GameServer);
    await h.env.store.patchStatus('GameServer', 'default', 'srv', { nodeName: 'bench-node', phase: 'stopped' });

    // (a) upload vs cp + sync (the upload fsyncs before its rename)
    const cpUp = await timedSh('sh', ['-c', `cp '${src}' '${base}/cp-up.bin' && sync`], 600_000, 'cp');
    await rm(path.join(base, 'cp-up.bin'));
    const rss0 = statusOf('self', 'VmRSS');
    resetPeakRss('self');
    let t0 = performance.now();
    await uploadMultipart(`${h.url}/api/servers/srv/files/upload`, h.admin.headers, src, size);
    const upS = (performance.now() - t0) / 1000;
    const upGrowth = statusOf('self', 'VmHWM') - rss0;
    if ((await stat(path.join(servers, 'default/srv/big.bin'))).size !== size) throw new Error('uploaded size differs');

    // (b) download vs cp
    const stored = path.join(servers, 'default/srv/big.bin');
    const cpDown = await timedSh('cp', [stored, path.join(base, 'cp-down.bin')], 600_000);
    await rm(path.join(base, 'cp-down.bin'));
    const rss1 = statusOf('self', 'VmRSS');
    resetPeakRss('self');
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
