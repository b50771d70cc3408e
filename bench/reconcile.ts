// The reconcile loop end to end (store → informers → scheduler / GameServer / GameNode controllers →
// hub → a real local agent process → Docker), beside Docker's own CLI and the store, in the same run.
//
//   node dist/bench/reconcile.js      (BENCH_SERVERS=200 BENCH_STARTS=5 BENCH_IDLE_SECONDS=15 for a quick run)
//
// Everything runs as `gantry up` does (startEmbedded with a local agent child process, real Docker,
// the example templates); this process is the controller.
//
//   (a) spec edit → status running: a GameServer whose container already exists (one start/stop
//       cycle first) gets `spec.state: Running` through store.patch; time until a store watch shows
//       status.phase `running` (the template's ready line `Done! server ready` was seen). Reference:
//       `docker start -a` of an equivalent existing container (same image, command, env, limits,
//       hardening, log driver) read until the same line. Median of BENCH_STARTS (10) each,
//       interleaved; reset by `spec.state: Stopped` (graceful stop command) / `docker stop`.
//   (b) BENCH_SERVERS (1,000) GameServers with state Stopped (each is scheduled — spec.nodeName,
//       status.nodeName, ports — then installed without being started: data dir, image, the
//       template's install script, its container created; phase `stopped`): time from the first
//       create to all of them bound and stopped, and to all of them admitted (the control plane
//       alone, before any Docker work); reference: the same creates into a bare store (same
//       CRD validation and durability, no controllers). Then a full resync (what the periodic resync
//       does: every cached GameServer and GameNode re-delivered to the controllers): time until every
//       work queue has drained; reference: one store list of them all, the floor for touching every
//       object.
//   (c) with those servers present and nothing to do, CPU over BENCH_IDLE_SECONDS (60) of this
//       process (the controller: process.cpuUsage) and of the agent child (/proc/<pid>/stat), as % of
//       one core; reference: an idle `node -e 'setInterval(()=>{},1000)'` (its own process.cpuUsage
//       over IPC, and /proc like the agent: /proc counts 10 ms ticks, too coarse for an idle process).
//       Reconciles and store writes in the window are counted too: with no polling both stay near 0.
// At the end every GameServer is deleted through its finalizer (containers and data removed), the
// embedded system stopped, the reference container removed and the temp dir deleted.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { startEmbedded, type Embedded } from '../bin/commands/up.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import type { Watch, WatchEvent } from '../controller/store/types.ts';
import type { Counter, Histogram } from '../controller/runtime/metrics.ts';
import type { GameNode, GameServer } from '../crds/types.ts';
import type { Resource } from '../crds/resource.ts';
import { logSink, setLogSink } from '../lib/log.ts';
import { fmt, median, num, ratio, sh, runIfMain } from './lib.ts';
import { PACKAGE_ROOT as ROOT } from '../lib/package-files.ts';

const API = 'gantry.dev/v1alpha1';
const READY_LINE = 'Done! server ready';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A free TCP port on this machine (for the reference container's published port). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

let clkTck = 100;
/** utime + stime of a process, in ms (from /proc/<pid>/stat; the comm field may hold spaces). */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
}

/**
 * One store watch over the bench namespace: the latest version of every GameServer, waiters on one
 * object, and a running count of the servers that are bound and stopped. Event-driven, no polling.
 */
class ServerWatch {
  readonly latest = new Map<string, GameServer>();
  readonly converged = new Set<string>();
  /** When each server was first seen scheduled and admitted (spec.nodeName, status.nodeName, ports). */
  readonly admittedAt = new Map<string, number>();
  failed?: string;
  private watch?: Watch;
  private waiters: { name: string; pred: (s: GameServer) => boolean; resolve: (s: GameServer) => void }[] = [];
  private countWaiter?: { n: number; prefix: string; resolve: () => void };

  constructor(private readonly embedded: Embedded, private readonly ns: string) {}

  async start(): Promise<void> {
    this.watch = await this.embedded.store.watch({ kind: 'GameServer', namespace: this.ns }, (ev) => this.onEvent(ev));
  }

  stop(): void {
    this.watch?.stop();
  }

  private onEvent(ev: WatchEvent): void {
    if (ev.type === 'ERROR') {
      this.failed = `bench watch ended: ${(ev.object as unknown as { message?: string }).message ?? 'ERROR'}`;
      return;
    }
    if (ev.type === 'BOOKMARK') return;
    const s = ev.object as unknown as GameServer;
    const name = s.metadata.name;
    if (ev.type === 'DELETED') {
      this.latest.delete(name);
      this.converged.delete(name);
      return;
    }
    this.latest.set(name, s);
    if (!this.admittedAt.has(name) && s.spec?.nodeName && s.status?.nodeName && s.status.ports) this.admittedAt.set(name, performance.now());
    if (!s.metadata.deletionTimestamp && s.spec?.nodeName && s.status?.nodeName && s.status.phase === 'stopped') this.converged.add(name);
    else this.converged.delete(name);
    if (this.waiters.length) {
      const keep: typeof this.waiters = [];
      for (const w of this.waiters) {
        if (w.name === name && w.pred(s)) w.resolve(s);
        else keep.push(w);
      }
      this.waiters = keep;
    }
    const cw = this.countWaiter;
    if (cw && this.convergedWith(cw.prefix) >= cw.n) {
      this.countWaiter = undefined;
      cw.resolve();
    }
  }

  private convergedWith(prefix: string): number {
    let n = 0;
    for (const k of this.converged) if (k.startsWith(prefix)) n++;
    return n;
  }

  /** Resolves with the first version of `name` (seen from now on) for which pred holds. */
  next(name: string, pred: (s: GameServer) => boolean, timeoutMs: number, what: string): Promise<GameServer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        const s = this.latest.get(name);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name} ${what} (phase ${s?.status?.phase}, message ${s?.status?.message ?? '-'})`));
      }, timeoutMs);
      const done = (s: GameServer) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.waiters.push({ name, pred, resolve: done });
    });
  }

  /** Resolves once `n` servers whose name starts with `prefix` are bound and stopped. */
  allConverged(n: number, prefix: string, timeoutMs: number): Promise<void> {
    if (this.convergedWith(prefix) >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.countWaiter = undefined;
        reject(new Error(`timed out after ${timeoutMs} ms: ${this.convergedWith(prefix)} of ${n} servers bound and stopped`));
      }, timeoutMs);
      this.countWaiter = {
        n,
        prefix,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

/** `docker create` arguments reproducing a Gantry server container (inspect JSON) under another name, data dir and host port. */
function referenceCreateArgs(info: any, name: string, dataDir: string, hostPort: number, labels: Record<string, string>): string[] {
  const hc = info.HostConfig;
  const cfg = info.Config;
  const args = ['create', '--name', name, '--hostname', 'bench-ref'];
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  if (cfg.OpenStdin) args.push('-i');
  for (const e of cfg.Env ?? []) if (!e.startsWith('PATH=')) args.push('-e', e);
  if (hc.Memory) args.push('--memory', `${hc.Memory}b`, '--memory-swap', `${hc.MemorySwap || hc.Memory}b`);
  if (hc.NanoCpus) args.push('--cpus', String(hc.NanoCpus / 1e9));
  if (hc.PidsLimit) args.push('--pids-limit', String(hc.PidsLimit));
  for (const o of hc.SecurityOpt ?? []) args.push('--security-opt', o);
  for (const c of hc.CapDrop ?? []) args.push('--cap-drop', c);
  for (const c of hc.CapAdd ?? []) args.push('--cap-add', c);
  for (const [p, o] of Object.entries(hc.Tmpfs ?? {})) args.push('--tmpfs', o ? `${p}:${o}` : p);
  args.push('--restart', 'no');
  if (hc.LogConfig?.Type) {
    args.push('--log-driver', hc.LogConfig.Type);
    for (const [k, v] of Object.entries(hc.LogConfig.Config ?? {})) args.push('--log-opt', `${k}=${v}`);
  }
  if (cfg.StopSignal) args.push('--stop-signal', cfg.StopSignal);
  if (cfg.StopTimeout !== undefined && cfg.StopTimeout !== null) args.push('--stop-timeout', String(cfg.StopTimeout));
  if (hc.NetworkMode) args.push('--network', hc.NetworkMode);
  for (const m of info.Mounts ?? []) if (m.Type === 'bind') args.push('--mount', `type=bind,source=${dataDir},target=${m.Destination}`);
  for (const key of Object.keys(hc.PortBindings ?? {})) args.push('-p', `0.0.0.0:${hostPort}:${key}`);
  args.push(cfg.Image);
  args.push(...(cfg.Cmd ?? []));
  return args;
}

/** `docker start -a` until the ready line; the CLI is then SIGKILLed (not proxied: the container keeps running). */
function dockerStartUntilReady(id: string, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('docker', ['start', '-a', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      if (e) reject(e);
      else resolve(performance.now() - t0);
    };
    const timer = setTimeout(() => finish(new Error(`docker start -a ${id}: no ready line within ${timeoutMs} ms ${err}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l === READY_LINE) finish();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      if (!done) finish(new Error(`docker start -a ${id} exited with ${code} before the ready line: ${err.trim()}`));
    });
  });
}

export async function run(): Promise<void> {
  const N = num('BENCH_SERVERS', 1000);
  const STARTS = num('BENCH_STARTS', 10);
  const IDLE_S = num('BENCH_IDLE_SECONDS', 60);
  const RUN_ID = randomUUID().slice(0, 8);
  const NODE = `bench-reconcile-${RUN_ID}`;
  const NS = `bench-${RUN_ID}`;
  const PREFIX = 'idle-';
  const SCOPE = { 'gantry.test': '1', 'gantry.bench.run': RUN_ID };

  const info = await sh('docker', ['info', '--format', '{{.ServerVersion}}'], 30_000);
  if (info.code !== 0) throw new Error(`no Docker engine answers (run: bash scripts/setup.sh): ${info.out.trim()}`);
  const build = await sh('bash', [path.join(ROOT, 'test/images/build.sh')]);
  if (build.code !== 0) throw new Error(`test/images/build.sh failed:\n${build.out}`);
  const tck = Number((await sh('getconf', ['CLK_TCK'])).out.trim());
  if (tck > 0) clkTck = tck;

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-reconcile-'));
  // Gantry logs a structured line per scheduling decision: keep warnings and errors, drop the rest
  // (they are still built, so their cost stays in the figures). The agent child inherits the level.
  const prevSink = logSink;
  const logTail: string[] = [];
  let warnLines = 0;
  setLogSink((line) => {
    if (line.includes('"level":"info"') || line.includes('"level":"debug"')) return;
    warnLines++;
    logTail.push(line);
    if (logTail.length > 30) logTail.shift();
  });
  const prevLevel = process.env.GANTRY_LOG_LEVEL;
  process.env.GANTRY_LOG_LEVEL = 'warn';

  let embedded: Embedded | undefined;
  let watch: ServerWatch | undefined;
  let floor: ChildProcess | undefined;
  let refId: string | undefined;
  const gantryContainers = new Set<string>();
  try {
    embedded = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    if (prevLevel === undefined) delete process.env.GANTRY_LOG_LEVEL;
    else process.env.GANTRY_LOG_LEVEL = prevLevel;
    const g = embedded;
    const store = g.store;
    await until('the local GameNode Online with allocatable', async () => {
      const n = await store.get<GameNode & Resource>('GameNode', undefined, NODE);
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    }, 90_000);
    // Room for every bench server: (b) places BENCH_SERVERS of them on this one node.
    await store.patch('GameNode', undefined, NODE, {
      spec: { capacity: { memoryMb: 10_000_000, cpuCores: 100_000, diskMb: 100_000_000 }, portRange: { start: 20000, end: 40000 } },
    });
    watch = new ServerWatch(g, NS);
    await watch.start();
    const w = watch;

    const gsCtl = g.manager.controller('gameserver')!;
    const schedCtl = g.manager.controller('scheduler')!;
    const nodeCtl = g.manager.controller('gamenode')!;
    const reconciles = g.manager.metrics.get('gantry_reconcile_total') as Counter;
    const reconcileCount = (controller: string) => ['success', 'error', 'requeue'].reduce((sum, result) => sum + reconciles.get({ controller, result }), 0);
    const durations = g.manager.metrics.get('gantry_reconcile_duration_seconds') as Histogram;
    const duration = (controller: string) => durations.get({ controller });
    /** Mean reconcile time in µs between two readings of the histogram. */
    const meanUs = (a: { count: number; sum: number }, b: { count: number; sum: number }) => ((b.sum - a.sum) / Math.max(1, b.count - a.count)) * 1e6;
    /** Nothing ready or in flight (delayed requeues, e.g. the node's heartbeat check, do not count). */
    const drained = () => [gsCtl, schedCtl, nodeCtl].every((c) => c.queue.len() === 0 && c.queue.processingCount() === 0);
    const waitDrained = (what: string, ms = 120_000) => until(what, () => drained(), ms, 2);
    const rvNow = async () => Number(await store.currentResourceVersion());
    const agentPid = async (): Promise<number> => {
      const la = g.localAgent as unknown as { pid?: number; child?: ChildProcess } | undefined;
      const pid = la?.pid ?? la?.child?.pid;
      if (pid) return pid;
      const r = await sh('pgrep', ['-f', `--data-dir ${path.join(dataDir, 'agent')}`]);
      const found = Number(r.out.trim().split('\n')[0]);
      if (!found) throw new Error('cannot find the local agent process');
      return found;
    };

    // ---- (a) spec edit → status running ------------------------------------------------------------
    const START = 'start';
    const startPatch = (state: 'Running' | 'Stopped') => store.patch('GameServer', NS, START, { spec: { state } });
    await store.create({
      apiVersion: API,
      kind: 'GameServer',
      metadata: { name: START, namespace: NS },
      spec: { templateRef: 'testgame', state: 'Stopped', resources: { memoryMb: 128, cpuCores: 0.5, diskMb: 0 } },
    });
    await until('the start server stopped', async () => (await store.get<GameServer & Resource>('GameServer', NS, START)).status?.phase === 'stopped', 60_000);
    const isRunning = (s: GameServer) => s.status?.phase === 'running';
    const isStopped = (s: GameServer) => s.status?.phase === 'stopped';
    const errorOut = (s: GameServer) => {
      if (s.status?.phase === 'error' || s.status?.phase === 'crashed') throw new Error(`the start server went ${s.status.phase}: ${s.status.message}`);
      return false;
    };
    // The first start installs and creates the container (not counted).
    let first = w.next(START, (s) => errorOut(s) || isRunning(s), 120_000, 'running (first start: install + create)');
    await startPatch('Running');
    const firstRun = await first;
    const gsId = firstRun.status!.containerId!;
    gantryContainers.add(gsId);
    let stopped = w.next(START, isStopped, 60_000, 'stopped');
    await startPatch('Stopped');
    await stopped;
    await waitDrained('controllers idle after the first stop');

    // The reference: an equivalent container made by the docker CLI from the Gantry container's config.
    const gsInfo = JSON.parse((await sh('docker', ['inspect', gsId])).out)[0];
    const refData = path.join(dataDir, 'ref-data');
    await mkdir(refData, { recursive: true });
    await writeFile(path.join(refData, 'installed'), new Date().toISOString());
    const refName = `gantry-bench-ref-${RUN_ID}`;
    const created = await sh('docker', referenceCreateArgs(gsInfo, refName, refData, await freePort(), SCOPE));
    if (created.code !== 0) throw new Error(`docker create (reference) failed: ${created.out}`);
    refId = created.out.trim().split('\n').at(-1)!;
    await dockerStartUntilReady(refId); // warm-up, like the Gantry one
    await sh('docker', ['stop', refId]);

    const viaGantry: number[] = [];
    const viaCli: number[] = [];
    const gantryOnce = async () => {
      const running = w.next(START, (s) => errorOut(s) || isRunning(s), 60_000, 'running');
      const t0 = performance.now();
      await startPatch('Running');
      await running;
      viaGantry.push(performance.now() - t0);
      const s = w.next(START, isStopped, 60_000, 'stopped');
      await startPatch('Stopped');
      await s;
      await waitDrained('controllers idle after a stop');
      const id = w.latest.get(START)?.status?.containerId;
      if (id && id !== gsId) throw new Error(`the container was re-created (${gsId} → ${id}): the measurement would include a create`);
    };
    const cliOnce = async () => {
      viaCli.push(await dockerStartUntilReady(refId!));
      const r = await sh('docker', ['stop', refId!]);
      if (r.code !== 0) throw new Error(`docker stop failed: ${r.out}`);
    };
    for (let i = 0; i < STARTS; i++) {
      if (i % 2 === 0) {
        await gantryOnce();
        await cliOnce();
      } else {
        await cliOnce();
        await gantryOnce();
      }
    }

    // ---- (b) N stopped servers: create → converged, then a full resync -----------------------------
    const server = (i: number) => ({
      apiVersion: API,
      kind: 'GameServer',
      metadata: { name: `${PREFIX}${String(i).padStart(5, '0')}`, namespace: NS },
      spec: { templateRef: 'testgame', state: 'Stopped', resources: { memoryMb: 64, cpuCores: 0.1, diskMb: 0 }, environment: { MOTD: `bench server ${i}` } },
    });
    const createAll = async (create: (o: Resource) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < N; i = next++) await create(server(i));
        }),
      );
    };

    // Reference: the same creates into a bare store (same schema, same durability), no controllers.
    const bare = await SqliteStore.open({ path: path.join(dataDir, 'bare.db'), schema: g.registry });
    const tBare = performance.now();
    await createAll((o) => bare.create(o));
    const bareMs = performance.now() - tBare;
    await bare.close();

    const rvBeforeCreate = await rvNow();
    const recBeforeCreate = { gs: reconcileCount('gameserver'), sched: reconcileCount('scheduler') };
    const durCreate0 = { gs: duration('gameserver'), sched: duration('scheduler') };
    const convergedAll = w.allConverged(N, PREFIX, 600_000);
    const tCreate = performance.now();
    await createAll((o) => store.create(o));
    const createdMs = performance.now() - tCreate;
    await convergedAll;
    const convergedMs = performance.now() - tCreate;
    const admittedMs = Math.max(...[...w.admittedAt].filter(([n]) => n.startsWith(PREFIX)).map(([, t]) => t)) - tCreate;
    await waitDrained('controllers idle after convergence');
    const rvAfterCreate = await rvNow();
    const recCreate = { gs: reconcileCount('gameserver') - recBeforeCreate.gs, sched: reconcileCount('scheduler') - recBeforeCreate.sched };
    const meanCreate = { gs: meanUs(durCreate0.gs, duration('gameserver')), sched: meanUs(durCreate0.sched, duration('scheduler')) };

    // Full resync: what the periodic resync does, now. GameNode.status.allocated is refreshed only on a
    // node event (see the report), and any GameNode write re-enqueues every server on it: start right
    // after a heartbeat write, with the node reconciled, so neither lands inside the measurement.
    let nodeWrites = 0;
    const nodeWatch = await store.watch({ kind: 'GameNode' }, (ev) => {
      if (ev.type === 'MODIFIED' && ev.object.metadata.name === NODE) nodeWrites++;
    });
    const writesBefore = nodeWrites;
    await until('a GameNode heartbeat write', () => nodeWrites > writesBefore, 30_000, 20);
    nodeWatch.stop();
    nodeCtl.enqueue(NODE);
    await sleep(200);
    await waitDrained('controllers idle before the resync');
    const serversNow = g.manager.informer('GameServer').size;
    const rvBeforeResync = await rvNow();
    const recBeforeResync = { gs: reconcileCount('gameserver'), sched: reconcileCount('scheduler'), node: reconcileCount('gamenode') };
    const durBefore = duration('gameserver');
    const tResync = performance.now();
    for (const kind of ['GameServer', 'GameNode']) g.manager.informer(kind).resync();
    await waitDrained('the resync to drain');
    const resyncMs = performance.now() - tResync;
    const gsMean = meanUs(durBefore, duration('gameserver'));
    const recResync = {
      gs: reconcileCount('gameserver') - recBeforeResync.gs,
      sched: reconcileCount('scheduler') - recBeforeResync.sched,
      node: reconcileCount('gamenode') - recBeforeResync.node,
    };
    const resyncWrites = (await rvNow()) - rvBeforeResync;
    const lists: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const l = await store.list('GameServer', { namespace: NS });
      lists.push(performance.now() - t);
      if (l.items.length < N) throw new Error(`list returned ${l.items.length} servers, expected at least ${N}`);
    }
    const listMs = median(lists);

    // ---- (c) idle CPU --------------------------------------------------------------------------------
    // The reference also reports its own process.cpuUsage() over IPC when asked (µs, where /proc's
    // clock ticks are 10 ms and an idle process often shows none in a minute).
    floor = spawn(process.execPath, ['-e', "setInterval(() => {}, 1000); process.on('message', () => process.send(process.cpuUsage()))"], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const floorChild = floor;
    const floorUsage = () =>
      new Promise<number>((resolve) => {
        floorChild.once('message', (u) => resolve(((u as NodeJS.CpuUsage).user + (u as NodeJS.CpuUsage).system) / 1000));
        floorChild.send('cpu');
      });
    await sleep(3000);
    await waitDrained('controllers idle before the idle window');
    const apid = await agentPid();
    const rvIdle0 = await rvNow();
    const recIdle0 = { gs: reconcileCount('gameserver'), sched: reconcileCount('scheduler'), node: reconcileCount('gamenode') };
    const [agent0, floor0, floorSelf0] = await Promise.all([cpuMsOf(apid), cpuMsOf(floor.pid!), floorUsage()]);
    const self0 = process.cpuUsage();
    const tIdle = performance.now();
    await sleep(IDLE_S * 1000);
    const selfD = process.cpuUsage(self0);
    const [agent1, floor1, floorSelf1] = await Promise.all([cpuMsOf(apid), cpuMsOf(floor.pid!), floorUsage()]);
    const idleMs = performance.now() - tIdle;
    const recIdle = { gs: reconcileCount('gameserver') - recIdle0.gs, sched: reconcileCount('scheduler') - recIdle0.sched, node: reconcileCount('gamenode') - recIdle0.node };
    const idleWrites = (await rvNow()) - rvIdle0;
    const pct = (cpuMs: number) => (cpuMs / idleMs) * 100;
    const selfPct = pct((selfD.user + selfD.system) / 1000);
    const agentPct = pct(agent1 - agent0);
    const floorTicksPct = pct(floor1 - floor0);
    const floorPct = pct(floorSelf1 - floorSelf0);

    // ---- cleanup, timed: every server deleted through its finalizer -----------------------------------
    const all = (await store.list('GameServer', { namespace: NS })).items;
    const tDelete = performance.now();
    let nextDel = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = nextDel++; i < all.length; i = nextDel++) await store.delete('GameServer', NS, all[i].metadata.name).catch(() => undefined);
      }),
    );
    await until('every GameServer gone (finalizers done)', () => w.latest.size === 0, 300_000, 50);
    const deleteMs = performance.now() - tDelete;
    const leftover = await sh('docker', ['ps', '-aq', '--filter', `id=${gsId}`]);

    // ---- report -----------------------------------------------------------------------------------------
    const mG = median(viaGantry);
    const mC = median(viaCli);
    const row = (label: string, value: string, rest = '') => console.log(`    ${label.padEnd(66)} ${value.padStart(11)}${rest ? `   ${rest}` : ''}`);
    const minMax = (xs: number[]) => `(min ${fmt(Math.min(...xs), 1)}, max ${fmt(Math.max(...xs), 1)})`;
    console.log(`reconcile bench (run ${RUN_ID}; Docker ${info.out.trim()}; ${os.cpus().length} cores; ${fmt(N)} servers)`);
    console.log('');
    console.log(`(a) spec edit → status running (ready line seen), existing container, median of ${STARTS}`);
    row('Gantry: patch spec.state Running → store watch sees phase running', `${fmt(mG, 1)} ms`, minMax(viaGantry));
    row(`docker start -a, read to "${READY_LINE}" (reference)`, `${fmt(mC, 1)} ms`, minMax(viaCli));
    row('ratio Gantry / CLI', ratio(mG, mC));
    console.log('');
    console.log(`(b) ${fmt(N)} GameServers, state Stopped, on one node`);
    row('create → all bound and phase stopped (installed: Docker work per server)', `${fmt(convergedMs)} ms`, `${fmt(N / (convergedMs / 1000))} servers/s; the creates alone took ${fmt(createdMs)} ms`);
    row('create → all scheduled and admitted (the control plane alone)', `${fmt(admittedMs)} ms`, `${fmt(N / (admittedMs / 1000))} servers/s`);
    row(`the same ${fmt(N)} creates into a bare store (reference)`, `${fmt(bareMs)} ms`);
    row('ratio converged / bare creates', ratio(convergedMs, bareMs));
    row('ratio admitted / bare creates', ratio(admittedMs, bareMs));
    console.log(
      `    (per server: ${fmt((rvAfterCreate - rvBeforeCreate) / N, 2)} store writes, ${fmt(recCreate.gs / N, 2)} gameserver reconciles (mean ${fmt(meanCreate.gs)} µs), ${fmt(recCreate.sched / N, 2)} scheduler reconciles (mean ${fmt(meanCreate.sched)} µs))`,
    );
    row(`full resync (${fmt(serversNow)} GameServers + the node) → queues drained`, `${fmt(resyncMs, 1)} ms`, `${fmt((resyncMs * 1000) / Math.max(1, serversNow))} µs per server`);
    row(`store list of all ${fmt(N)} (reference, median of 5)`, `${fmt(listMs, 1)} ms`);
    row('ratio resync / list', ratio(resyncMs, listMs));
    console.log(`    (resync reconciles: gameserver ${fmt(recResync.gs)} (mean ${fmt(gsMean)} µs), scheduler ${fmt(recResync.sched)}, gamenode ${fmt(recResync.node)}; store writes ${fmt(resyncWrites)})`);
    console.log('');
    console.log(`(c) idle CPU over ${fmt(idleMs / 1000, 1)} s with ${fmt(serversNow)} servers present, % of one core`);
    row("idle node -e 'setInterval(…, 1000)' (reference, its process.cpuUsage)", `${fmt(floorPct, 3)} %`, `(/proc stat: ${fmt(floorTicksPct, 2)} %)`);
    row('controller process (process.cpuUsage)', `${fmt(selfPct, 3)} %`, `${ratio(selfPct, floorPct)} the reference`);
    row('local agent process (/proc stat utime+stime)', `${fmt(agentPct, 3)} %`, `${ratio(agentPct, floorPct)} the reference`);
    console.log(`    (in the window: reconciles gameserver ${fmt(recIdle.gs)}, scheduler ${fmt(recIdle.sched)}, gamenode ${fmt(recIdle.node)}; store writes ${fmt(idleWrites)})`);
    console.log('');
    console.log(`cleanup: ${fmt(all.length)} GameServers deleted through the finalizer in ${fmt(deleteMs)} ms${leftover.out.trim() ? ` (container ${gsId} still there!)` : ''}`);
    if (warnLines) console.log(`(${warnLines} warn/error log lines; last: ${logTail.at(-1)})`);
  } catch (err) {
    console.error(`reconcile bench failed: ${(err as Error).message}\n--- log tail (warn/error) ---\n${logTail.join('\n')}`);
    throw err;
  } finally {
    watch?.stop();
    if (floor && floor.exitCode === null) floor.kill('SIGKILL');
    await embedded?.stop().catch((err) => console.error(`embedded stop failed: ${(err as Error).message}`));
    if (prevLevel === undefined) delete process.env.GANTRY_LOG_LEVEL;
    else process.env.GANTRY_LOG_LEVEL = prevLevel;
    setLogSink(prevSink);
    if (refId) await sh('docker', ['rm', '-f', '-v', refId]);
    const left = await sh('docker', ['ps', '-aq', '--filter', `label=gantry.dev/namespace=${NS}`]);
    for (const id of [...gantryContainers, ...left.out.split('\n').map((s) => s.trim()).filter(Boolean)]) await sh('docker', ['rm', '-f', '-v', id]);
    await rm(dataDir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
