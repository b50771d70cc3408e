// Kubernetes mode's parts, each beside a reference measured in the same run:
//
//   npx tsx bench/cluster.ts     (BENCH_OBJECTS=300 BENCH_RUNS=50 BENCH_AUDIT=2000)
//
//   (a) KubeStore (create, get, list, status patch of BENCH_OBJECTS GameServers) against a store-only
//       Gantry's /k8s over HTTPS, vs the same calls through client-node's CustomObjectsApi directly
//       (the store's own cost), and vs SqliteStore in this process (what leaving the process costs).
//   (b) An informer's first sync of those objects over KubeStore vs over SqliteStore.
//   (c) Watch latency, patch → event, median of BENCH_RUNS, KubeStore vs SqliteStore.
//   (d) Leader hand-over: two LeaderElectors on one Lease (lease 3 s, renew deadline 2 s, retry 0.5 s);
//       the leader's connection is frozen (as a kill -9 or a partition looks from the apiserver), and
//       the time until the standby leads is set beside the lease duration, its floor. Median of 3.
//   (e) BENCH_AUDIT audit entries recorded through PgDb (a real PostgreSQL, initdb'd for the run) vs
//       SqliteDb (a file), one awaited insert each; and AccountStore.open (load every user) on both.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { CrdRegistry } from '../crds/registry.ts';
import type { Resource } from '../crds/resource.ts';
import { KubeStore } from '../controller/store/kube-store.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import { SqliteDb } from '../controller/store/sqlite-db.ts';
import { PgDb } from '../controller/store/pg-db.ts';
import type { SqlDb } from '../controller/store/sql-db.ts';
import type { ResourceStore, WatchEvent } from '../controller/store/types.ts';
import { Informer } from '../controller/runtime/informer.ts';
import { AuditLog } from '../api/audit/audit-log.ts';
import { AccountStore } from '../api/auth/accounts.ts';
import { createLogger } from '../lib/log.ts';
import { startKubeEndpoint } from '../test/helpers/stores.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { LeaderElector } from '../controller/coordination/leader-election.ts';
import { startFreezableRelay } from '../test/helpers/net.ts';
import { fmt, median, num, ratio, runIfMain } from './lib.ts';

const GROUP = 'gantry.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'gameservers';
const log = createLogger({ bench: 'cluster' }, 'warn');

const server = (ns: string, name: string): Resource => ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'GameServer', metadata: { name, namespace: ns }, spec: { templateRef: 'testgame' } });

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Ops {
  create(ns: string, name: string): Promise<unknown>;
  get(ns: string, name: string): Promise<unknown>;
  list(ns: string): Promise<unknown>;
  patchStatus(ns: string, name: string, i: number): Promise<unknown>;
}

const storeOps = (store: ResourceStore): Ops => ({
  create: (ns, name) => store.create(server(ns, name)),
  get: (ns, name) => store.get('GameServer', ns, name),
  list: (ns) => store.list('GameServer', { namespace: ns }),
  patchStatus: (ns, name, i) => store.patchStatus('GameServer', ns, name, { message: `m${i}` }),
});

const rawOps = (api: k8s.CustomObjectsApi): Ops => {
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const c = { group: GROUP, version: VERSION, plural: PLURAL };
  return {
    create: (namespace, name) => api.createNamespacedCustomObject({ ...c, namespace, body: server(namespace, name) }),
    get: (namespace, name) => api.getNamespacedCustomObject({ ...c, namespace, name }),
    list: (namespace) => api.listNamespacedCustomObject({ ...c, namespace }),
    patchStatus: (namespace, name, i) => api.patchNamespacedCustomObjectStatus({ ...c, namespace, name, body: { status: { message: `m${i}` } } }, merge),
  };
};

/** Each call of each op through `a` and `b` in turn (the order alternating), so both see the same load. */
async function interleaved(a: Ops, b: Ops, nsA: string, nsB: string, n: number): Promise<{ a: Record<string, number>; b: Record<string, number> }> {
  const sum = { a: {} as Record<string, number>, b: {} as Record<string, number> };
  const each = async (op: string, call: (o: Ops, ns: string, i: number) => Promise<unknown>, count: number) => {
    sum.a[op] = 0;
    sum.b[op] = 0;
    for (let i = 0; i < count; i++) {
      const order: ['a' | 'b', Ops, string][] = i % 2 ? [['b', b, nsB], ['a', a, nsA]] : [['a', a, nsA], ['b', b, nsB]];
      for (const [k, o, ns] of order) sum[k][op]! += await time(() => call(o, ns, i));
    }
  };
  await each('create', (o, ns, i) => o.create(ns, `s${i}`), n);
  await each('get', (o, ns, i) => o.get(ns, `s${i}`), n);
  await each('list', (o, ns) => o.list(ns), 10);
  await each('patchStatus', (o, ns, i) => o.patchStatus(ns, `s${i}`, i), n);
  return sum;
}

async function syncTime(store: ResourceStore, ns: string): Promise<number> {
  const inf = new Informer({ store, kind: 'GameServer', namespace: ns, log, bookmarkIntervalMs: 0 });
  const t0 = performance.now();
  inf.start();
  await inf.waitForSync();
  const ms = performance.now() - t0;
  await inf.stop();
  return ms;
}

async function watchLatency(store: ResourceStore, ns: string, runs: number): Promise<number> {
  await store.create(server(ns, 'lat'));
  let resolveNext: (() => void) | undefined;
  const w = await store.watch({ kind: 'GameServer', namespace: ns }, (ev: WatchEvent) => {
    if (ev.type === 'MODIFIED') resolveNext?.();
  });
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const seen = new Promise<void>((r) => (resolveNext = r));
    const t0 = performance.now();
    await store.patch('GameServer', ns, 'lat', { spec: { displayName: `v${i}` } });
    await seen;
    samples.push(performance.now() - t0);
  }
  w.stop();
  return median(samples);
}

async function audit(db: SqlDb, n: number): Promise<{ record: number; open: number }> {
  const a = await AuditLog.open({ db, log });
  const record = await time(async () => {
    for (let i = 0; i < n; i++) await a.record({ userId: 'u', username: 'bench', action: 'server.start', resourceType: 'server', resourceId: `default/s${i % 50}`, status: 200, metadata: { i }, ipAddress: '127.0.0.1' });
  });
  const accounts = await AccountStore.open({ db });
  for (let i = 0; i < 50; i++) await accounts.createUser({ email: `u${i}@bench.test`, username: `user${i}`, password: 'correct horse battery' });
  const open = await time(() => AccountStore.open({ db }));
  return { record, open };
}

async function handover(kubeConfig: k8s.KubeConfig, round: number): Promise<number> {
  const lease = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
  const target = new URL(kubeConfig.getCurrentCluster()!.server);
  const relay = await startFreezableRelay(target.hostname, Number(target.port));
  const viaRelay = new k8s.KubeConfig();
  viaRelay.loadFromString(kubeConfig.exportConfig().replace(`"server":"${target.origin}`, `"server":"https://127.0.0.1:${relay.port}`));
  const name = `bench-handover-${round}`;
  let standbyLeads = 0;
  const leader = new LeaderElector({ kubeConfig: viaRelay, namespace: 'default', name, identity: 'leader', log, ...lease, onStartedLeading: () => {}, onStoppedLeading: () => {} });
  leader.start();
  while (!leader.isLeader) await new Promise((r) => setTimeout(r, 20));
  const standby = new LeaderElector({ kubeConfig, namespace: 'default', name, identity: 'standby', log, ...lease, onStartedLeading: () => void (standbyLeads = performance.now()), onStoppedLeading: () => {} });
  standby.start();
  // Let the standby observe the leader renewing, then cut the leader off.
  await new Promise((r) => setTimeout(r, lease.retryPeriodMs * 3));
  const cut = performance.now();
  relay.freeze();
  while (!standbyLeads) await new Promise((r) => setTimeout(r, 10));
  const ms = standbyLeads - cut;
  await standby.stop();
  await leader.stop();
  await relay.close();
  return ms;
}

export async function run(): Promise<void> {
  const n = num('BENCH_OBJECTS', 300);
  const runs = num('BENCH_RUNS', 50);
  const audits = num('BENCH_AUDIT', 2000);
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-cluster-'));
  const endpoint = await startKubeEndpoint({ prefix: 'gantry-bench-cluster-ep-' });
  const kube = new KubeStore({ kubeConfig: endpoint.kubeconfig, kinds: endpoint.gantry.registry });
  const raw = endpoint.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
  const local = await SqliteStore.open({ path: path.join(dir, 'local.db'), schema: await CrdRegistry.load() });
  try {
    console.log(`(a) ${n} GameServers: create, get, 10 lists, status patch (ms total; KubeStore and the bare client call by call in turn)`);
    // A warm-up round first (the endpoint's JIT, TLS sessions), then KubeStore and the bare client call by call.
    await interleaved(rawOps(raw), rawOps(raw), 'bench-warm-a', 'bench-warm-b', Math.min(n, 100));
    const { a: viaKube, b: viaRaw } = await interleaved(storeOps(kube), rawOps(raw), 'bench-kube', 'bench-raw', n);
    const { a: viaLocal } = await interleaved(storeOps(local), storeOps(local), 'bench-local', 'bench-local-2', n);
    for (const op of Object.keys(viaKube)) {
      console.log(`    ${op.padEnd(12)} KubeStore ${fmt(viaKube[op]!).padStart(7)}   CustomObjectsApi ${fmt(viaRaw[op]!).padStart(7)}   ${ratio(viaKube[op]!, viaRaw[op]!).padStart(7)}   SqliteStore (in process) ${fmt(viaLocal[op]!).padStart(6)}   ${ratio(viaKube[op]!, viaLocal[op]!)}`);
    }
    const syncKube = await syncTime(kube, 'bench-kube');
    const syncLocal = await syncTime(local, 'bench-local');
    console.log(`(b) informer first sync of ${n}: KubeStore ${fmt(syncKube, 1)} ms   SqliteStore ${fmt(syncLocal, 1)} ms   ${ratio(syncKube, syncLocal)}`);
    const latKube = await watchLatency(kube, 'bench-lat-kube', runs);
    const latLocal = await watchLatency(local, 'bench-lat-local', runs);
    console.log(`(c) watch latency patch → event, median of ${runs}: KubeStore ${fmt(latKube, 2)} ms   SqliteStore ${fmt(latLocal, 2)} ms   ${ratio(latKube, latLocal)}`);

    const handovers: number[] = [];
    for (let i = 0; i < 3; i++) handovers.push(await handover(endpoint.kubeconfig, i));
    const took = median(handovers);
    console.log(`(d) hand-over after the leader is cut off, median of 3: ${fmt(took)} ms   lease duration ${fmt(3000)} ms   ${ratio(took, 3000)}`);

    const pg = await startPostgres();
    try {
      const pgDb = await PgDb.open(await pg.createDatabase('gantry_bench'));
      const sqliteDb = await SqliteDb.open(path.join(dir, 'shared.db'));
      const onPg = await audit(pgDb, audits);
      const onSqlite = await audit(sqliteDb, audits);
      await pgDb.close();
      await sqliteDb.close();
      console.log(`(e) ${audits} audit entries, one awaited insert each: PostgreSQL ${fmt(onPg.record)} ms (${fmt(audits / (onPg.record / 1000))}/s)   SQLite ${fmt(onSqlite.record)} ms (${fmt(audits / (onSqlite.record / 1000))}/s)   ${ratio(onPg.record, onSqlite.record)}`);
      console.log(`    AccountStore.open (load 50 users): PostgreSQL ${fmt(onPg.open, 1)} ms   SQLite ${fmt(onSqlite.open, 1)} ms   ${ratio(onPg.open, onSqlite.open)}`);
    } finally {
      await pg.stop();
    }
  } finally {
    await kube.close();
    await local.close();
    await endpoint.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
