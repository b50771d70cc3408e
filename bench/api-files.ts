// File transfers through the HTTP API against `cp` of the same file on the same disk, in the same run.
//
//   node dist/bench/api-files.js      (BENCH_API_FILE_MB=100 for a quick run; default 500)
//
// Everything a client's transfer crosses: HTTP (@hono/node-server), the route pipeline (auth, server
// lookup, permission), busboy parsing the multipart body off the Node request, the hub's
// credit-controlled byte stream over the agent's WebSocket, and a real agent process
// (test/integration/files-agent-child.ts: the agent's connection, dispatcher, file handlers) writing
// the temp file, fsync and rename. bench/files.ts measures the hub alone; the difference is the HTTP side.
// The client is curl in its own process (as a real client is), so this process is the API alone.
//
//   (a) upload: `curl -F file=@…` (multipart/form-data), vs `cp` + `sync` of the same file.
//   (b) download: `curl -o` of GET .../files/download, vs `cp` of it.
//   (c) peak RSS growth of this process (API + hub) during each transfer, vs the file size.
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GameServer } from '../crds/types.ts';
import { eventually, startHarness } from '../test/integration/hub-harness.ts';
import { MB, fmt, num, procStatus as statusOf, ratio, resetPeakRss, runIfMain, spawnFilesAgent, timedSh, writeRandomFile } from './lib.ts';

/** curl with the caller's headers; throws unless the answer is 200. */
async function curl(args: string[], headers: Record<string, string>, what: string): Promise<number> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return timedSh('curl', ['-sS', '--fail-with-body', ...h, ...args], 600_000, what);
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
    const upS = await curl(['-o', '/dev/null', '-F', 'path=/', '-F', `file=@${src};filename=big.bin;type=application/octet-stream`, `${h.url}/api/servers/srv/files/upload`], h.admin.headers, 'curl upload');
    const upGrowth = statusOf('self', 'VmHWM') - rss0;
    if ((await stat(path.join(servers, 'default/srv/big.bin'))).size !== size) throw new Error('uploaded size differs');

    // (b) download vs cp
    const stored = path.join(servers, 'default/srv/big.bin');
    const cpDown = await timedSh('cp', [stored, path.join(base, 'cp-down.bin')], 600_000);
    await rm(path.join(base, 'cp-down.bin'));
    const rss1 = statusOf('self', 'VmRSS');
    resetPeakRss('self');
    const downS = await curl(['-o', path.join(base, 'down.bin'), `${h.url}/api/servers/srv/files/download?path=/big.bin`], h.admin.headers, 'curl download');
    const downGrowth = statusOf('self', 'VmHWM') - rss1;
    if ((await stat(path.join(base, 'down.bin'))).size !== size) throw new Error('downloaded size differs');

    const mbps = (s: number) => `${fmt(sizeMb / s)} MB/s`;
    console.log(`file: ${sizeMb} MB; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    console.log(`(a) upload through the HTTP API   ${fmt(upS, 2)} s (${mbps(upS)})   vs cp+sync ${fmt(cpUp, 2)} s (${mbps(cpUp)})   → ${ratio(upS, cpUp)} the time`);
    console.log(`(b) download through the HTTP API ${fmt(downS, 2)} s (${mbps(downS)})   vs cp ${fmt(cpDown, 2)} s (${mbps(cpDown)})   → ${ratio(downS, cpDown)} the time`);
    console.log(`(c) API process peak RSS growth: upload ${fmt(upGrowth / MB, 1)} MB, download ${fmt(downGrowth / MB, 1)} MB, vs the file's ${sizeMb} MB → ${ratio(upGrowth, size)} / ${ratio(downGrowth, size)} of it (RSS before: ${fmt(rss0 / MB, 1)} MB)`);
  } finally {
    child?.kill('SIGTERM');
    await h.close();
    await rm(base, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
