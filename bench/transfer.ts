// A server's data moved between two agents (agent/transfers/, the controller's relay, the transfer
// controller) against `tar c | tar x` between the same two directories, in the same run.
//
//   npx tsx bench/transfer.ts        (BENCH_TRANSFER_MB=100 for a quick run; default 1024 = 1 GiB)
//   BENCH_RUNS (default 2): moves A → B and back per run, each followed by its reference; median.
//
// Set-up: `gantry up` in process (controller, API, its local agent as node A, a child process) and a
// second `gantry agent` process (node B), both on this machine; a stopped GameServer on A whose data
// dir holds the mixed data of bench/backups.ts (45 % random, 35 % text, 20 % small files).
//
//   moved    : from the transfer request (the operations layer, as the API calls it) until status.nodeName
//              names the target: both agents' tar streams through the controller with flow control,
//              sha256 on both ends, the strict extract into the staging dir, the target's verified swap
//              and syncfs, the source's container removed, the flip.
//   settled  : until the transfer is over: also the source copy removed (`rm -rf` of the data dir).
//   reference: `tar c -C <from> . | tar x -C <to>` between the same two directories (two processes, no
//              hashing, no durability); also shown with `sync -f` after it (what the commit adds).
// Peak RSS of the controller process (this one) during the moves shows the relay's memory stays bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Embedded } from '../bin/commands/up.ts';
import type { GameNode, GameServer } from '../crds/types.ts';
import { makeDataDir } from './backups.ts';
import { fmt, MB, median, num, procStatus, resetPeakRss, runIfMain, sh, throughputRows } from './lib.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const A = 'bench-transfer-a';
const B = 'bench-transfer-b';
const NAME = 'bench-transfer';

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms: number, everyMs = 25): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function mustSh(script: string): Promise<number> {
  const t0 = performance.now();
  const r = await sh('sh', ['-c', script], 3600_000);
  if (r.code !== 0) throw new Error(`${script} failed: ${r.out}`);
  return performance.now() - t0;
}

export async function run(): Promise<void> {
  const mb = num('BENCH_TRANSFER_MB', 1024);
  const runs = num('BENCH_RUNS', 2);
  const root = await mkdtemp(path.join(tmpdir(), 'gantry-bench-transfer-'));
  const agentB = path.join(root, 'agent-b');
  const dirOf = (node: string) => path.join(node === A ? path.join(root, 'gantry/agent') : agentB, 'servers/default', NAME);
  const { startEmbedded } = await import('../bin/commands/up.ts');
  const gantry: Embedded = await startEmbedded({ dataDir: path.join(root, 'gantry'), port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: A } });
  let child: ChildProcess | undefined;
  let uid: string | undefined;
  try {
    const node = (n: string) => gantry.store.get('GameNode', undefined, n) as unknown as Promise<GameNode>;
    const server = () => gantry.store.get('GameServer', 'default', NAME) as unknown as Promise<GameServer>;
    await until(`${A} online`, async () => (await node(A)).status?.phase === 'Online', 60_000, 200);
    await gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: B }, spec: { address: '127.0.0.1' } });
    const { token } = await gantry.nodes.issueDeploymentToken(B, 600_000);
    child = spawn(path.join(ROOT, 'bin/gantry'), ['agent', '--panel', gantry.url, '--data-dir', agentB], { env: { ...process.env, GANTRY_TOKEN_DEPLOY: token, GANTRY_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'] });
    await until(`${B} online`, async () => gantry.hub.node(B)?.synced && (await node(B)).status?.phase === 'Online', 60_000, 200);

    // diskMb 0: no quota, so no disk is reserved for it on either node.
    await gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: NAME, namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: A, state: 'Stopped', resources: { memoryMb: 64, cpuCores: 0.25, diskMb: 0 } } });
    await until('the server installed on A', async () => (await server()).status?.phase === 'stopped' && !!(await server()).status?.containerId, 120_000, 200);
    uid = (await server()).metadata.uid;
    const t0 = performance.now();
    const { files } = await makeDataDir(dirOf(A), mb * MB);
    await sh('sync', []);
    const bytes = Number((await sh('du', ['-sb', dirOf(A)])).out.split(/\s/)[0]);
    console.log(`data: ${fmt(bytes / MB, 0)} MiB in ${fmt(files)} files (generated in ${fmt((performance.now() - t0) / 1000, 1)} s); ${runs} run(s) of A → B and B → A, median`);

    const movedMs: number[] = [];
    const settledMs: number[] = [];
    const tarMs: number[] = [];
    const tarSyncMs: number[] = [];
    let peak = 0;
    let from = A;
    for (let i = 0; i < runs * 2; i++) {
      const to = from === A ? B : A;
      const rest = procStatus('self', 'VmRSS');
      resetPeakRss('self');
      const start = performance.now();
      await gantry.api.ops.servers.transfer(await server(), to);
      await until('the flip', async () => (await server()).status?.nodeName === to, 3600_000);
      movedMs.push(performance.now() - start);
      await until('settled', async () => {
        const s = await server();
        return !s.status?.transfer && s.status?.phase === 'stopped' && !existsSync(dirOf(from));
      }, 3600_000);
      settledMs.push(performance.now() - start);
      peak = Math.max(peak, procStatus('self', 'VmHWM') - rest);
      const cond = (await server()).status?.conditions?.find((c) => c.type === 'Transferred');
      if (cond?.reason !== 'TransferCompleted') throw new Error(`transfer ${from} → ${to} did not complete: ${cond?.reason}: ${cond?.message}`);

      // The reference between the same two directories: the one just emptied receives a copy.
      await mkdir(dirOf(from), { recursive: true });
      tarMs.push(await mustSh(`tar c -C '${dirOf(to)}' . | tar x -C '${dirOf(from)}'`));
      await rm(dirOf(from), { recursive: true, force: true });
      await mkdir(dirOf(from), { recursive: true });
      tarSyncMs.push(await mustSh(`tar c -C '${dirOf(to)}' . | tar x -C '${dirOf(from)}' && sync -f '${dirOf(from)}'`));
      await rm(dirOf(from), { recursive: true, force: true });
      from = to;
    }
    const row = throughputRows(bytes, { what: 30, ref: 24 });
    row('moved (data on the target)', median(movedMs), median(tarMs), 'tar c | tar x');
    row('moved (data on the target)', median(movedMs), median(tarSyncMs), 'tar c | tar x; sync -f');
    row('settled (source copy removed)', median(settledMs), median(tarMs), 'tar c | tar x');
    console.log(`controller peak RSS above its resting size during a move: ${fmt(peak / MB, 1)} MiB (the relay holds at most two stream windows)`);
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await gantry.stop();
    if (uid) await sh('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${uid}) 2>/dev/null || true`]);
    await rm(root, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
