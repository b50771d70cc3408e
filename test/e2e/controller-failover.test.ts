// Two `gantry controller --kubeconfig` processes against one Kubernetes endpoint (a store-only Gantry's
// /k8s, standing in for an apiserver) sharing a real PostgreSQL (--database), a real agent reaching them through a Service-like proxy (ready
// backends only), real Docker. One replica leads (ready), the other waits (not ready). kill -9 of the
// leader: the standby takes the Lease once it expires, becomes ready, the agent reconnects to it, and
// a GameServer created during the hand-over runs exactly once (one container); a server deleted
// during the hand-over loses its subuser grant on the new leader; the old session still works.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { startKubeEndpoint, type KubeEndpoint } from '../helpers/stores.ts';
import { startServiceProxy, type ServiceProxy } from '../helpers/service-proxy.ts';
import { freePort } from '../helpers/net.ts';
import { adminEnv, loginHttp } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { PgDb } from '../../controller/store/pg-db.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);
const NODE = 'cluster-failover-node';
const SERVER = 'cluster-failover-gs';
const GONE = 'cluster-failover-gone';
// Short enough for a test, long enough that a new leader starting everything on a loaded machine
// (its event loop busy for seconds) still renews within the deadline.
const LEASE = { duration: 8, renew: 6, retry: 1 };

interface Replica {
  id: string;
  port: number;
  probePort: number;
  proc: ChildProcess;
  exited: Promise<unknown>;
  log: () => string;
}

async function startReplica(id: string, kubeconfig: string, dataDir: string, database: string, extraEnv: Record<string, string>): Promise<Replica> {
  const port = await freePort();
  const probePort = await freePort();
  const proc = spawn(GANTRY, [
    'controller', '--kubeconfig', kubeconfig, '--identity', id, '--host', '127.0.0.1', '--port', String(port), '--probe-port', String(probePort),
    '--data-dir', dataDir, '--database', database, '--no-sftp', '--lease-namespace', 'default', '--lease-name', 'cluster-failover',
    '--lease-duration', String(LEASE.duration), '--renew-deadline', String(LEASE.renew), '--retry-period', String(LEASE.retry),
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'info', ...adminEnv(), ...extraEnv } });
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise((r) => proc.on('exit', r));
  return { id, port, probePort, proc, exited, log: () => out };
}

const readyOf = async (r: Replica) => {
  try {
    return (await fetch(`http://127.0.0.1:${r.probePort}/readyz`)).status === 200;
  } catch {
    return false;
  }
};

describe('gantry controller: two replicas, leader election, kill -9 hand-over', () => {
  let endpoint: KubeEndpoint | undefined;
  let proxy: ServiceProxy | undefined;
  const replicas: Replica[] = [];
  let agent: ChildProcess | undefined;
  let pg: TestPostgres | undefined;
  let dir = '';

  afterAll(async () => {
    for (const p of [agent, ...replicas.map((r) => r.proc)]) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await proxy?.close();
    for (const name of [SERVER, GONE]) await run('sh', ['-c', `docker ps -aq --filter label=gantry.dev/server-name=${name} | xargs -r docker rm -f`]).catch(() => undefined);
    await endpoint?.stop();
    await pg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('hands over to the standby, which runs a server created meanwhile exactly once', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-failover-'));
    endpoint = await startKubeEndpoint({ seedDir: path.join(ROOT, 'manifests/examples'), prefix: 'gantry-failover-store-' });
    const store = endpoint.gantry.store;
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, endpoint.yaml, { mode: 0o600 });
    // Each replica has a data dir of its own; what they share is the apiserver, PostgreSQL and the secret.
    pg = await startPostgres();
    const database = await pg.createDatabase('gantry_failover');
    const env = { GANTRY_SECRET: 'ab'.repeat(32) };
    replicas.push(await startReplica('replica-a', kubeconfig, path.join(dir, 'a'), database, env));
    replicas.push(await startReplica('replica-b', kubeconfig, path.join(dir, 'b'), database, env));
    proxy = await startServiceProxy(replicas.map((r) => ({ port: r.port, readyUrl: `http://127.0.0.1:${r.probePort}/readyz` })));

    // Both replicas up (their probes answer), then exactly one leads and is ready; the other answers
    // 503 on /readyz and 200 on /healthz.
    await until('both replicas alive', async () => (await Promise.all(replicas.map(async (r) => (await fetch(`http://127.0.0.1:${r.probePort}/healthz`)).status === 200))).every(Boolean), 60_000);
    const leader = await until('one replica ready', async () => {
      const states = await Promise.all(replicas.map(readyOf));
      return states.filter(Boolean).length === 1 ? replicas[states.indexOf(true)] : undefined;
    }, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${replicas.map((r) => `${r.id}: ${r.log().slice(-2000)}`).join('\n')}`);
    });
    const standby = replicas.find((r) => r !== leader)!;
    // The standby names the leader once it has read the Lease (its next try, within the retry period).
    const standbyReady = await until('the standby names the leader', async () => {
      const r = await fetch(`http://127.0.0.1:${standby.probePort}/readyz`);
      const body = (await r.json()) as { leader: string | null };
      return body.leader ? { status: r.status, leader: body.leader } : undefined;
    }, 30_000);
    expect(standbyReady).toEqual({ status: 503, leader: leader.id });
    expect((await fetch(`http://127.0.0.1:${standby.probePort}/healthz`)).status).toBe(200);
    const coordination = endpoint.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    expect((await coordination.readNamespacedLease({ name: 'cluster-failover', namespace: 'default' })).spec?.holderIdentity).toBe(leader.id);

    // A real agent, enrolled through the Service with a token the leader issues (its credential is in
    // PostgreSQL: the standby will accept it after the hand-over).
    await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: NODE }, spec: { address: '127.0.0.1' } });
    const auth = await loginHttp(proxy.url);
    const issued = await fetch(`${proxy.url}/api/nodes/${NODE}/deployment-token`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
    expect(issued.status).toBe(200);
    const token = ((await issued.json()) as { data: { deploymentToken: string } }).data.deploymentToken;
    agent = spawn(GANTRY, ['agent', '--panel', proxy.url, '--token', token, '--data-dir', path.join(dir, 'agent')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } });
    await until('the node Online', async () => ((await store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.phase === 'Online', 60_000);
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    await store.patch('GameNode', undefined, NODE, { spec: { portRange: { start: base, end: base + 50 } } });

    // A subuser grant on a server that will be deleted while nobody leads (keyed by its uid, in
    // PostgreSQL). It fits no node, so it has no container.
    const gone = await store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: GONE, namespace: 'default' }, spec: { templateRef: 'testgame', state: 'Stopped', nodeSelector: { 'failover.test/none': 'x' } } });
    const userRes = await fetch(`${proxy.url}/api/admin/users`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ email: 'failover-sub@example.test', username: 'failover-sub', password: 'correct horse battery' }) });
    expect(userRes.status).toBe(201);
    const granted = await until('the grant (the leader sees the new server)', async () => {
      const r = await fetch(`${proxy!.url}/api/servers/${GONE}/subusers`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ email: 'failover-sub@example.test', permissions: ['server.read'] }) });
      return r.status === 201 ? r : undefined;
    }, 30_000);
    expect(granted.status).toBe(201);
    const grants = await PgDb.open(database);
    const grantsOf = async (uid: string) => (await grants.get<{ n: number }>('SELECT count(*) AS n FROM server_grants WHERE server_uid = ?', [uid]))!.n;
    expect(await grantsOf(gone.metadata.uid!)).toBe(1);

    // kill -9 the leader, then delete one server and create another while nobody leads.
    leader.proc.kill('SIGKILL');
    await leader.exited;
    await store.delete('GameServer', 'default', GONE);
    const created = await store.create<GameServer>({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name: SERVER, namespace: 'default' },
      spec: { templateRef: 'testgame', state: 'Running', nodeName: NODE, resources: { memoryMb: 64, cpuCores: 0.25, diskMb: 50 } },
    });

    await until('the standby ready', () => readyOf(standby), 60_000);
    const lease = await coordination.readNamespacedLease({ name: 'cluster-failover', namespace: 'default' });
    expect(lease.spec?.holderIdentity).toBe(standby.id);
    expect(lease.spec?.leaseTransitions).toBe(1);
    const server = await until('the server running on the new leader', async () => {
      const s = (await store.get('GameServer', 'default', SERVER)) as unknown as GameServer;
      return s.status?.phase === 'running' ? s : undefined;
    }, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${standby.log().slice(-3000)}`);
    });
    const containers = (await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${created.metadata.uid}`])).stdout.split('\n').filter(Boolean);
    expect(containers).toHaveLength(1);
    expect(server.status!.containerId!.startsWith(containers[0]!)).toBe(true);

    // The deleted server's grant went with it on the new leader (a namesake would inherit nothing).
    await until('the gone server\'s grant dropped', async () => (await grantsOf(gone.metadata.uid!)) === 0, 60_000);
    await grants.close();

    // The new leader's events are core/v1 Events on the apiserver.
    const events = await endpoint.gantry.events.list({ namespace: 'default', name: SERVER });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.involvedObject.uid === created.metadata.uid)).toBe(true);

    // The session from before the hand-over is still good (shared secret, sessions in PostgreSQL).
    const after = await fetch(`${proxy.url}/api/nodes/${NODE}`, { headers: auth });
    expect(after.status).toBe(200);

    // A clean stop releases the lease (what SIGTERM of a rolling update does).
    standby.proc.kill('SIGTERM');
    await standby.exited;
    expect((await coordination.readNamespacedLease({ name: 'cluster-failover', namespace: 'default' })).spec?.holderIdentity ?? '').toBe('');
  }, 300_000);
});
