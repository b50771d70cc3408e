// File transfers through the hub against `cp` of the same file on the same disk, in the same run.
//
//   node dist/bench/files.js        (BENCH_FILE_MB=100 for a quick run; default 500)
//
// The controller end is the real hub (test/integration/hub-harness.ts: store, enrolment, hub on a real
// HTTP server) in this process; the agent end is a real process (test/integration/files-agent-child.ts:
// the agent's connection, RPC dispatcher, file handlers and byte streams). So every figure includes
// the protocol: request → confined open → credit-controlled binary frames over the WebSocket → atomic
// temp file + fsync + rename on the agent (upload) / a file written by the bench (download).
//
//   (a) upload: a local file streamed into a server's data dir, vs `cp` + `sync` of the same file.
//   (b) download (run first, on a fresh agent): the server's file streamed to a local file, vs the
//       `cp` that put it there.
//   (c) the agent's peak RSS growth during each transfer (VmHWM after a reset), vs the file size.
import type { ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { eventually, startHarness } from '../test/integration/hub-harness.ts';
import { MB, fmt, num, procStatus as status, ratio, resetPeakRss, runIfMain, spawnFilesAgent, timedSh, writeRandomFile } from './lib.ts';

export async function run(): Promise<void> {
  const sizeMb = num('BENCH_FILE_MB', 500);
  const size = sizeMb * MB;
  const h = await startHarness();
  const base = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-files-'));
  let child: ChildProcess | undefined;
  try {
    const cred = await h.enrolledNode('bench-node');
    const servers = path.join(base, 'servers');
    await mkdir(path.join(servers, 'ns/srv'), { recursive: true });
    const src = path.join(base, 'src.bin');
    await writeRandomFile(src, sizeMb);

    child = spawnFilesAgent({ panel: h.url, credential: cred.credential, serversRoot: servers, maxUploadBytes: size + MB, nodeFlags: (process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean) });
    const pid = child.pid!;
    await eventually(() => h.hub.isConnected('bench-node'), 'agent connected', 30_000);
    const T = { dataDir: 'ns/srv' };

    // (b) first, on a fresh agent (an upload before it would leave garbage that hides the download's
    // own growth): the file placed in the data dir by cp, streamed back, vs that cp.
    const stored = path.join(servers, 'ns/srv/big.bin');
    const cpDown = await timedSh('cp', [src, stored], 600_000);
    const rss1 = status(pid, 'VmRSS');
    resetPeakRss(pid);
    let t0 = performance.now();
    const d = await h.hub.files.download('bench-node', 'srv', '/big.bin', T);
    await pipeline(d.stream, createWriteStream(path.join(base, 'down.bin')));
    const downS = (performance.now() - t0) / 1000;
    const downGrowth = status(pid, 'VmHWM') - rss1;
    if ((await stat(path.join(base, 'down.bin'))).size !== size) throw new Error('downloaded size differs');
    await rm(path.join(base, 'down.bin'));

    // (a) upload vs cp + sync (the upload fsyncs before its rename)
    const cpUp = await timedSh('sh', ['-c', `cp '${src}' '${base}/cp-up.bin' && sync`], 600_000, 'cp');
    await rm(path.join(base, 'cp-up.bin'));
    const rss0 = status(pid, 'VmRSS');
    resetPeakRss(pid);
    t0 = performance.now();
    const up = await h.hub.files.upload('bench-node', 'srv', '/up.bin', createReadStream(src, { highWaterMark: 256 * 1024 }), T);
    const upS = (performance.now() - t0) / 1000;
    const upGrowth = status(pid, 'VmHWM') - rss0;
    if (up.size !== size) throw new Error(`uploaded ${up.size} bytes, expected ${size}`);

    const mbps = (s: number) => `${fmt(sizeMb / s)} MB/s`;
    console.log(`file: ${sizeMb} MB; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    console.log(`(a) upload through the hub   ${fmt(upS, 2)} s (${mbps(upS)})   vs cp+sync ${fmt(cpUp, 2)} s (${mbps(cpUp)})   → ${ratio(upS, cpUp)} the time`);
    console.log(`(b) download through the hub ${fmt(downS, 2)} s (${mbps(downS)})   vs cp ${fmt(cpDown, 2)} s (${mbps(cpDown)})   → ${ratio(downS, cpDown)} the time`);
    console.log(`(c) agent peak RSS growth: upload ${fmt(upGrowth / MB, 1)} MB, download ${fmt(downGrowth / MB, 1)} MB, vs the file's ${sizeMb} MB → ${ratio(upGrowth, size)} / ${ratio(downGrowth, size)} of it (agent RSS before: ${fmt(rss1 / MB, 1)} MB; live data is bounded by the 4 MiB window, the rest is socket/read buffers awaiting V8's GC)`);
  } finally {
    child?.kill('SIGTERM');
    await h.close();
    await rm(base, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
