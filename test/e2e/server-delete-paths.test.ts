// Issue 15 §1: what was given on a server must die with it, whichever way it is deleted. For every
// delete path — Catalyst's DELETE, `gantry delete` (the CLI), the resource API's DELETE, a manifests-dir
// prune, an owner-reference cascade, and a delete Gantry did not see (it was down: the sweep at start) —
// a real server runs on the real Docker engine with a subuser (bob) holding a grant, a /ws subscription
// and an SFTP session, console history, metrics and an open alert; it is deleted, and a new server of
// the same name is created. Bob must get 404, the old console, metrics and alerts must not show for the
// new server, and the reaper must have dropped the old uid's state everywhere.
import { execFile } from 'node:child_process';
import { rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { serverSeries } from '../../controller/metrics/history.ts';
import type { GameServer, Schedule } from '../../crds/types.ts';
import { signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = 'reap-node';
const run = promisify(execFile);
const PATHS = (process.env.REAP_ONLY ? [process.env.REAP_ONLY] : ['catalyst', 'cli', 'resource-api', 'manifests', 'cascade']) as readonly ('catalyst' | 'cli' | 'resource-api' | 'manifests' | 'cascade')[];
type DeletePath = (typeof PATHS)[number];
const nameOf = (p: DeletePath | 'down') => `reap-${p}`;

type Msg = Record<string, any>;

interface Victim {
  name: string;
  uid: string;
  marker: string;
  alertId: string;
  ws: { ws: WebSocket; received: Msg[] };
  sftp?: { conn: ssh2.Client; closed: Promise<void> };
}

describe('per-server state dies with the server, on every delete path', () => {
  let local: LocalGantry;
  let g: Embedded;
  let admin: SignedIn;
  let bob: SignedIn;
  const victims = new Map<string, Victim>();

  const call = async (who: SignedIn | undefined, method: string, p: string, body?: unknown) => {
    const res = await fetch(g.url + p, { method, headers: { 'content-type': 'application/json', ...(who?.headers ?? {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const stored = (name: string) => g.store.get<GameServer>('GameServer', 'default', name).catch(() => undefined);

  function openWs(token: string): Promise<{ ws: WebSocket; received: Msg[] }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${g.url.replace('http', 'ws')}/ws?token=${token}`);
      const received: Msg[] = [];
      ws.on('message', (d) => received.push(JSON.parse(d.toString()) as Msg));
      ws.once('open', () => resolve({ ws, received }));
      ws.once('error', reject);
    });
  }

  function sftpLogin(username: string, password: string): Promise<{ conn: ssh2.Client; closed: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const conn = new ssh2.Client();
      const closed = new Promise<void>((r) => conn.on('close', () => r()));
      conn.on('error', () => undefined);
      conn.once('error', reject);
      conn.on('ready', () => conn.sftp((err) => (err ? reject(err) : resolve({ conn, closed }))));
      conn.connect({ host: '127.0.0.1', port: g.sftp!.port, username, password, tryKeyboard: false });
    });
  }

  /** Creates the server the way its delete path needs, running, then gives it everything that must die with it. */
  async function makeVictim(p: DeletePath | 'down'): Promise<Victim> {
    const name = nameOf(p);
    const spec = { templateRef: 'testgame', state: 'Running', nodeName: NODE, resources: { memoryMb: 64, cpuCores: 0.1, diskMb: 50 } };
    if (p === 'manifests') {
      await writeFile(path.join(g.manifests.dir, `${name}.yaml`), `apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  templateRef: testgame\n  state: Running\n  nodeName: ${NODE}\n  resources: {memoryMb: 64, cpuCores: 0.1, diskMb: 50}\n`);
      await until(`${name} from the manifest`, () => stored(name));
    } else if (p === 'cascade') {
      const owner = await g.store.create<Schedule>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Schedule', metadata: { name: `${name}-owner`, namespace: 'default' }, spec: { serverRef: 'nobody', schedule: '0 4 * * *', suspend: true, steps: [{ action: 'stop' }] } });
      await g.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default', ownerReferences: [{ apiVersion: 'gantry.dev/v1alpha1', kind: 'Schedule', name: owner.metadata.name, uid: owner.metadata.uid! }] }, spec });
    } else {
      await g.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec });
    }
    await until(`${name} running`, async () => {
      const s = await stored(name);
      if (s?.status?.phase === 'running') return true;
      throw new Error(`phase ${s?.status?.phase}: ${s?.status?.message ?? ''} ${JSON.stringify(s?.status?.conditions ?? [])}`);
    });
    const uid = (await stored(name))!.metadata.uid!;
    // Bob is given the server the way a panel user would be: through Catalyst's subuser route.
    expect((await call(admin, 'POST', `/api/servers/${name}/subusers`, { userId: bob.userId, permissions: ['server.read', 'server.logs.read', 'file.read'] })).status).toBe(201);
    const marker = `say marker-of-${name}-${uid.slice(0, 8)}`;
    expect((await call(admin, 'POST', `/api/servers/${name}/command`, { command: marker })).status).toBe(200);
    await until(`${name}: the marker in bob's console history`, async () => JSON.stringify((await call(bob, 'GET', `/api/servers/${name}/logs?limit=1000`)).body?.data ?? []).includes(marker));
    await until(`${name}: a metrics point`, async () => ((await call(bob, 'GET', `/api/servers/${name}/metrics`)).body?.data?.points?.length ?? 0) > 0);
    const alert = await until(`${name}: an open alert`, async () => (await call(admin, 'GET', `/api/alerts?serverId=${name}&resolved=false`)).body?.data?.find((a: Msg) => a.serverUid === uid));
    const ws = await openWs(bob.token);
    ws.ws.send(JSON.stringify({ type: 'subscribe', serverId: name, events: ['server_log'] }));
    await until(`${name}: bob subscribed`, () => ws.received.some((m) => m.type === 'subscribed' && m.serverId === name));
    const sftp = g.sftp ? await sftpLogin(`${bob.username}.${name}`, 'correct horse battery') : undefined;
    const v = { name, uid, marker, alertId: alert.id as string, ws, sftp };
    victims.set(name, v);
    return v;
  }

  async function deleteBy(p: DeletePath, v: Victim): Promise<void> {
    switch (p) {
      case 'catalyst':
        expect((await call(admin, 'POST', `/api/servers/${v.name}/stop?wait=true`)).body).toMatchObject({ reached: true });
        expect((await call(admin, 'DELETE', `/api/servers/${v.name}`)).status).toBe(200);
        break;
      case 'cli': {
        const { key } = await g.api.accounts.createApiKey(admin.userId, { name: 'reap-cli', permissions: ['*'] });
        const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_TOKEN: key, GANTRY_CONFIG_DIR: path.join(local.dataDir, 'cli-config') };
        delete env.GANTRY_SERVER;
        const out = await run(path.join(ROOT, 'bin/gantry'), ['delete', 'gameserver', v.name, '--server', g.url], { env });
        expect(out.stdout).toContain(v.name);
        break;
      }
      case 'resource-api':
        // The Kubernetes dialect answers 202 while the cleanup finalizer still holds the object.
        expect([200, 202]).toContain((await call(admin, 'DELETE', `/k8s/apis/gantry.dev/v1alpha1/namespaces/default/gameservers/${v.name}`)).status);
        break;
      case 'manifests':
        await unlink(path.join(g.manifests.dir, `${v.name}.yaml`));
        break;
      case 'cascade':
        await g.store.delete('Schedule', 'default', `${v.name}-owner`);
        break;
    }
    await until(`${v.name} gone from the store (finalizer done)`, async () => !(await stored(v.name)), 120_000);
  }

  /** Re-creates the name and checks that nothing of the deleted server attaches to the new one. */
  async function expectNothingLeaks(v: Victim): Promise<void> {
    await g.reaper.settled();
    const created = await call(admin, 'POST', '/api/servers', { id: v.name, name: v.name, templateId: 'testgame', nodeId: NODE, allocatedMemoryMb: 64, allocatedCpuCores: 0.1, allocatedDiskMb: 50 });
    expect(created.status).toBe(201);
    const newUid = created.body.data.uuid as string;
    expect(newUid).not.toBe(v.uid);

    // The grant: bob was never given the new server.
    expect((await call(bob, 'GET', `/api/servers/${v.name}`)).status).toBe(404);
    expect((await call(bob, 'GET', `/api/servers/${v.name}/logs`)).status).toBe(404);
    expect((await call(bob, 'GET', '/api/servers')).body.data.map((s: Msg) => s.id)).not.toContain(v.name);
    expect(g.api.accounts.serversGrantedTo(bob.userId).map((k) => k.uid)).not.toContain(v.uid);
    expect(g.api.accounts.knownServerUids()).not.toContain(v.uid);
    // The console history, the metrics and the open alert of the old one are not the new one's.
    expect(JSON.stringify((await call(admin, 'GET', `/api/servers/${v.name}/logs?limit=1000`)).body.data)).not.toContain(v.marker);
    expect(g.hub.consoleHistory(NODE, v.uid)).toEqual([]);
    expect((await call(admin, 'GET', `/api/servers/${v.name}/metrics`)).body.data.points).toEqual([]);
    expect(g.metrics.knownServerUids()).not.toContain(v.uid);
    expect((await g.metrics.query({ series: serverSeries(v.uid), from: 0 })).points).toEqual([]);
    expect((await call(admin, 'GET', `/api/alerts?serverId=${v.name}`)).body.data.map((a: Msg) => a.id)).not.toContain(v.alertId);
    expect((await call(admin, 'GET', `/api/alerts/${v.alertId}`)).body.data).toMatchObject({ resolved: true, serverUid: v.uid });
    // The audit history of the new server is its own; the old one's is kept under the old uid.
    const newAudit = (await call(admin, 'GET', `/api/admin/audit-logs?resourceId=${v.name}&resourceUid=${newUid}`)).body.data as Msg[];
    expect(newAudit.map((e) => e.action)).toEqual(['server.create']);
    expect((await call(admin, 'GET', `/api/admin/audit-logs?resourceUid=${v.uid}`)).body.data.map((e: Msg) => e.action)).toContain('server.subusers');
    // Bob's socket: told the server went, and the new one is not his.
    if (v.ws.ws.readyState === WebSocket.OPEN) {
      await until(`${v.name}: bob told the subscription ended`, () => v.ws.received.some((m) => m.type === 'unsubscribed' && m.serverId === v.name));
      v.ws.ws.send(JSON.stringify({ type: 'subscribe', serverId: v.name }));
      await until(`${v.name}: bob refused the new server`, () => v.ws.received.some((m) => m.type === 'error' && m.serverId === v.name && /not found/.test(m.message)));
      v.ws.ws.close();
    }
    if (v.sftp) await v.sftp.closed; // ended by the reaper
  }

  beforeAll(async () => {
    local = await startLocalGantry('gantry-reap-', NODE, { sftpPort: 0 });
    g = local.gantry;
    admin = await signInAdmin(g.api, 'reap-admin');
    bob = await signIn(g.api, 'reap-bob');
    await g.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'AlertRule', metadata: { name: 'reap-always' }, spec: { type: 'resource_threshold', target: { kind: 'GameServer', namespace: 'default' }, condition: { metric: 'memory', operator: '>=', value: 0 }, cooldownSeconds: 0 } });
    await Promise.all(PATHS.map((p) => makeVictim(p)));
  }, 240_000);

  let restarted = false;
  afterAll(async () => {
    for (const v of victims.values()) {
      v.ws.ws.terminate();
      v.sftp?.conn.end();
    }
    const names = [...PATHS, 'down' as const].map(nameOf);
    if (!restarted) return local?.stop(names);
    // The Gantry started again by the last test is not the helper's: stop it, then clean up as it would.
    await g.stop();
    for (const n of names) await run('sh', ['-c', `docker ps -aq --filter label=gantry.dev/server-name=${n} | xargs -r docker rm -f`]).catch(() => undefined);
    await rm(local.dataDir, { recursive: true, force: true });
  }, 120_000);

  for (const p of PATHS) {
    it(`deleted by ${p}: the old grantee sees nothing of the new server of the same name`, async () => {
      const v = victims.get(nameOf(p))!;
      await deleteBy(p, v);
      await expectNothingLeaks(v);
    }, 180_000);
  }

  it('deleted while Gantry was down: the sweep at start drops what was kept for it', async () => {
    const v = await makeVictim('down');
    v.ws.ws.terminate();
    v.sftp?.conn.end();
    const dataDir = local.dataDir;
    restarted = true;
    await g.stop();
    // Gantry is down: the server is deleted behind its back (as kubectl against a cluster would, or a
    // kill -9 between the store's delete and the forget), its container removed by hand.
    const db = await SqliteDb.open(path.join(dataDir, 'gantry.db'));
    const store = await SqliteStore.open({ db, schema: g.registry });
    await store.delete('GameServer', 'default', v.name);
    const held = await store.get<GameServer>('GameServer', 'default', v.name);
    await store.update({ ...held, metadata: { ...held.metadata, finalizers: [] } });
    await store.close();
    await db.close();
    await run('sh', ['-c', `docker ps -aq --filter label=gantry.dev/server-uid=${v.uid} | xargs -r docker rm -f`]);

    g = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', localAgent: { nodeName: NODE } });
    await until('the sweep at start', async () => {
      await g.reaper.settled();
      return !g.api.accounts.knownServerUids().includes(v.uid) && !g.metrics.knownServerUids().includes(v.uid);
    });
    admin = await signIn(g.api, 'reap-admin', ['admin']);
    bob = await signIn(g.api, 'reap-bob');
    await until('the node Online again', async () => (await g.store.get('GameNode', undefined, NODE)).status?.phase === 'Online');
    await expectNothingLeaks({ ...v, ws: { ws: v.ws.ws, received: [] }, sftp: undefined });
  }, 240_000);
});
