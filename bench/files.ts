// File transfers through the hub against `cp` of the same file on the same disk, in the same run.
//
//   npx tsx bench/files.ts        (BENCH_FILE_MB=100 for a quick run; default 500)
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
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { eventually, startHarness } from '../test/integration/hub-harness.ts';
import { fmt, num, ratio, runIfMain, sh } from './lib.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;

const status = (pid: number, key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

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
    const block = randomBytes(MB);
    const w = createWriteStream(src);
    for (let i = 0; i < sizeMb; i++) if (!w.write(block)) await new Promise<void>((r) => w.once('drain', () => r()));
    await new Promise<void>((r) => w.end(() => r()));
    await sh('sync', []);

    child = spawn(process.execPath, [...(process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean), '--disable-warning=ExperimentalWarning', '--import', path.join(ROOT, 'node_modules/tsx/dist/loader.mjs'), path.join(ROOT, 'test/integration/files-agent-child.ts')], {
      env: { ...process.env, PANEL: h.url, CREDENTIAL: cred.credential, SERVERS_ROOT: servers, MAX_UPLOAD_BYTES: String(size + MB), GANTRY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const pid = child.pid!;
    await eventually(() => h.hub.isConnected('bench-node'), 'agent connected', 30_000);
    const T = { dataDir: 'ns/srv' };

    // (b) first, on a fresh agent (an upload before it would leave garbage that hides the download's
    // own growth): the file placed in the data dir by cp, streamed back, vs that cp.
    const stored = path.join(servers, 'ns/srv/big.bin');
    let t0 = performance.now();
    const cp2 = await sh('cp', [src, stored], 600_000);
    const cpDown = (performance.now() - t0) / 1000;
    if (cp2.code !== 0) throw new Error(`cp failed: ${cp2.out}`);
    const rss1 = status(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    t0 = performance.now();
    const d = await h.hub.files.download('bench-node', 'srv', '/big.bin', T);
    await pipeline(d.stream, createWriteStream(path.join(base, 'down.bin')));
    const downS = (performance.now() - t0) / 1000;
    const downGrowth = status(pid, 'VmHWM') - rss1;
    if ((await stat(path.join(base, 'down.bin'))).size !== size) throw new Error('downloaded size differs');
    await rm(path.join(base, 'down.bin'));

    // (a) upload vs cp + sync (the upload fsyncs before its rename)
    t0 = performance.now();
    const cp1 = await sh('sh', ['-c', `cp '${src}' '${base}/cp-up.bin' && sync`], 600_000);
    const cpUp = (performance.now() - t0) / 1000;
    if (cp1.code !== 0) throw new Error(`cp failed: ${cp1.out}`);
    await rm(path.join(base, 'cp-up.bin'));
    const rss0 = status(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
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
