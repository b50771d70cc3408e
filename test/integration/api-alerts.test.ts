// Alerts and alert rules over HTTP (real SQLite store, a real AlertService on the controller runtime):
// alerts inserted through the AlertStore are listed, filtered, resolved one by one and in bulk, and
// counted — an owner sees only their servers' alerts, another user's alert is 404 and a bulk request
// containing one is refused whole; alert rules ↔ AlertRule resources in Catalyst's shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { AlertService } from '../../controller/alerts/service.ts';
import type { NewAlert } from '../../controller/alerts/store.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import type { AlertRule, GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

describe('alerts API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let mgr: Manager;
  let alerts: AlertService;
  let api: ApiApp;
  let admin: SignedIn, owner: SignedIn, other: SignedIn, watcher: SignedIn;
  const ids: Record<string, string> = {};

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);
  const listIds = async (who: SignedIn, q = '') => {
    const r = await call(who, 'GET', `/api/alerts${q}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return new Set((r.body.data as { id: string }[]).map((a) => Object.entries(ids).find(([, id]) => id === a.id)?.[0] ?? a.id));
  };

  beforeAll(async () => {
    env = await openTestEnv();
    mgr = new Manager({ store: env.store, log: env.log });
    alerts = await AlertService.open({ db: env.db, store: env.store, manager: mgr, events: env.events, log: env.log, startupGraceMs: 0 });
    await mgr.start();
    api = await openApiApp({ env, api: { alerts, limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000 } } });
    svc = api.svc;
    admin = await signInAdmin(svc);
    owner = await signIn(svc, 'owner');
    other = await signIn(svc, 'other');
    watcher = await signIn(svc, 'watcher');
    const servers: Record<string, GameServer> = {};
    for (const [name, who] of [['mc', owner], ['theirs', other]] as const) {
      servers[name] = await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', owner: who.userId } });
    }
    await svc.accounts.setServerGrant('default', 'mc', watcher.userId, ['server.read', 'alert.read']);
    const server = (name: string) => ({ serverId: name, serverNamespace: 'default', serverUid: servers[name]!.metadata.uid!, nodeId: 'n1', target: `GameServer:default/${name}` });
    const add = async (key: string, a: NewAlert) => {
      const opened = await alerts.alerts.open(a);
      ids[key] = opened!.id;
    };
    const base = { metadata: {}, message: 'm' };
    await add('mcCpu', { ...base, ...server('mc'), rule: 'cpu-high', type: 'resource_threshold', severity: 'warning', title: 'High CPU Usage', metadata: { cpuUsage: 95.2, threshold: 90 }, createdAt: '2026-01-25T02:00:00.000Z' });
    await add('mcDisk', { ...base, ...server('mc'), rule: 'disk-full', type: 'resource_threshold', severity: 'info', title: 'Disk', createdAt: '2026-01-25T02:01:00.000Z' });
    await add('theirsCrash', { ...base, ...server('theirs'), rule: 'crashes', type: 'server_crashed', severity: 'critical', title: 'Crashed', createdAt: '2026-01-25T02:02:00.000Z' });
    await add('node', { ...base, serverId: null, serverNamespace: null, serverUid: null, nodeId: 'n1', target: 'GameNode:n1', rule: 'offline', type: 'node_offline', severity: 'critical', title: 'Node offline', createdAt: '2026-01-25T02:03:00.000Z' });
    // An alert of an older server that had the same name: not the new server's owner's business.
    await add('oldMc', { ...base, ...server('mc'), serverUid: 'uid-of-a-deleted-mc', target: 'GameServer:default/mc-old', rule: 'cpu-high', type: 'resource_threshold', severity: 'warning', title: 'Old', createdAt: '2026-01-25T01:00:00.000Z' });
  });
  afterAll(async () => {
    await alerts.close();
    await mgr.stop();
    await env.close();
  });

  it('lists every alert to an administrator, newest first, in the Catalyst shape, with filters', async () => {
    const r = await call(admin, 'GET', '/api/alerts');
    expect(r.body.data.map((a: { id: string }) => a.id)).toEqual([ids.node, ids.theirsCrash, ids.mcDisk, ids.mcCpu, ids.oldMc]);
    const a = r.body.data.find((x: { id: string }) => x.id === ids.mcCpu);
    expect(a).toMatchObject({ serverId: 'mc', nodeId: 'n1', type: 'resource_threshold', severity: 'warning', title: 'High CPU Usage', message: 'm', metadata: { cpuUsage: 95.2, threshold: 90 }, resolved: false, resolvedAt: null, resolvedBy: null, createdAt: '2026-01-25T02:00:00.000Z' });
    expect(await listIds(admin, '?serverId=theirs')).toEqual(new Set(['theirsCrash']));
    expect(await listIds(admin, '?nodeId=n1&type=node_offline')).toEqual(new Set(['node']));
    expect(await listIds(admin, '?severity=critical')).toEqual(new Set(['theirsCrash', 'node']));
    expect(await listIds(admin, '?limit=2&offset=1')).toEqual(new Set(['theirsCrash', 'mcDisk']));
    const bad = await call(admin, 'GET', '/api/alerts?type=meteor');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/type: must be one of resource_threshold/);
    expect((await call(admin, 'GET', '/api/alerts?resolved=maybe')).status).toBe(400);
  });

  it('shows a non-admin only the alerts of servers where they hold alert.read', async () => {
    expect(await listIds(owner)).toEqual(new Set(['mcCpu', 'mcDisk']));
    expect(await listIds(other)).toEqual(new Set(['theirsCrash']));
    expect(await listIds(watcher)).toEqual(new Set(['mcCpu', 'mcDisk']));
    expect(await listIds(owner, '?limit=1&offset=1')).toEqual(new Set(['mcCpu']));
    expect(await listIds(owner, '?nodeId=n1')).toEqual(new Set(['mcCpu', 'mcDisk']));
    const r = await call(owner, 'GET', '/api/alerts?serverId=theirs');
    expect(r.status).toBe(404);
    expect((await call(owner, 'GET', `/api/alerts/${ids.theirsCrash}`)).status).toBe(404);
    expect((await call(owner, 'GET', `/api/alerts/${ids.node}`)).status).toBe(404);
    expect((await call(owner, 'GET', `/api/alerts/${ids.oldMc}`)).status).toBe(404);
    expect((await call(owner, 'GET', '/api/alerts/no-such-alert')).status).toBe(404);
    const got = await call(owner, 'GET', `/api/alerts/${ids.mcCpu}`);
    expect(got.status).toBe(200);
    expect(got.body.data.id).toBe(ids.mcCpu);
  });

  it('counts the alerts the caller may see', async () => {
    const all = (await call(admin, 'GET', '/api/alerts/stats')).body.data;
    expect(all).toEqual(await alerts.stats());
    expect(all.total).toBe(5);
    const mine = (await call(owner, 'GET', '/api/alerts/stats')).body.data;
    expect(mine).toEqual({ total: 2, unresolved: 2, byType: { resource_threshold: 2, node_offline: 0, server_crashed: 0 }, bySeverity: { info: 1, warning: 1, critical: 0 } });
  });

  it('resolves one alert (alert.resolve on its server); a read-only subuser gets 403, a stranger 404', async () => {
    expect((await call(watcher, 'POST', `/api/alerts/${ids.mcCpu}/resolve`)).status).toBe(403);
    expect((await call(other, 'POST', `/api/alerts/${ids.mcCpu}/resolve`)).status).toBe(404);
    expect((await alerts.get(ids.mcCpu!)).resolved).toBe(false);
    const r = await call(owner, 'POST', `/api/alerts/${ids.mcCpu}/resolve`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: true, message: 'Alert resolved', data: { id: ids.mcCpu, resolved: true, resolvedBy: 'owner' } });
    const stored = await alerts.get(ids.mcCpu!);
    expect(stored).toMatchObject({ resolved: true, resolvedBy: 'owner' });
    expect(await listIds(owner, '?resolved=false')).toEqual(new Set(['mcDisk']));
    expect(await listIds(owner, '?resolved=true')).toEqual(new Set(['mcCpu']));
    expect((await call(owner, 'GET', '/api/alerts/stats')).body.data).toMatchObject({ total: 2, unresolved: 1 });
  });

  it('bulk-resolves all or nothing', async () => {
    const refused = await call(owner, 'POST', '/api/alerts/bulk-resolve', { alertIds: [ids.mcDisk, ids.theirsCrash] });
    expect(refused.status).toBe(404);
    expect(refused.body.message).toContain(ids.theirsCrash);
    expect((await alerts.get(ids.mcDisk!)).resolved).toBe(false);
    expect((await call(owner, 'POST', '/api/alerts/bulk-resolve', { alertIds: [] })).status).toBe(400);

    const r = await call(admin, 'POST', '/api/alerts/bulk-resolve', { alertIds: [ids.mcDisk, ids.theirsCrash, ids.mcCpu, ids.mcDisk] });
    expect(r.status).toBe(200);
    // mcCpu was resolved already: it is not counted again.
    expect(r.body).toMatchObject({ success: true, resolved: 2 });
    expect(r.body.data.map((a: { id: string }) => a.id).sort()).toEqual([ids.mcDisk, ids.theirsCrash].sort());
    expect((await alerts.get(ids.theirsCrash!)).resolvedBy).toBe('admin');
    expect((await alerts.get(ids.mcCpu!)).resolvedBy).toBe('owner');
  });

  describe('alert rules ↔ AlertRule', () => {
    const rule = (name: string) => env.store.get<AlertRule>('AlertRule', undefined, name);

    it('creates, reads, updates and deletes a rule in the Catalyst shape', async () => {
      const body = {
        name: 'High CPU Alert', type: 'resource_threshold', target: 'server', targetId: '*',
        conditions: { metric: 'cpu', operator: '>', value: 90, duration: 300 },
        actions: [{ type: 'webhook', url: 'https://discord.com/api/webhooks/1/abc', format: 'discord' }], enabled: true,
      };
      const created = await call(admin, 'POST', '/api/alert-rules', body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.data).toMatchObject({ ...body, id: 'high-cpu-alert', severity: 'warning', cooldownSeconds: 300, firing: 0 });
      const r = await rule('high-cpu-alert');
      expect(r.spec).toMatchObject({
        displayName: 'High CPU Alert', type: 'resource_threshold', target: { kind: 'GameServer' },
        condition: { metric: 'cpu', operator: '>', value: 90, durationSeconds: 300 },
        actions: [{ type: 'webhook', url: 'https://discord.com/api/webhooks/1/abc', format: 'discord' }], enabled: true,
      });
      expect(r.spec?.target?.name).toBeUndefined();
      expect(created.body.data.createdAt).toBe(r.metadata.creationTimestamp);

      expect((await call(admin, 'GET', '/api/alert-rules')).body.data.map((x: { id: string }) => x.id)).toContain('high-cpu-alert');
      expect((await call(admin, 'GET', '/api/alert-rules/high-cpu-alert')).body.data.name).toBe('High CPU Alert');
      expect((await call(admin, 'POST', '/api/alert-rules', body)).status).toBe(409);

      const upd = await call(admin, 'PUT', '/api/alert-rules/high-cpu-alert', { targetId: 'mc', enabled: false, severity: 'critical', conditions: { metric: 'memory', operator: '>=', value: 80 } });
      expect(upd.status, JSON.stringify(upd.body)).toBe(200);
      expect(upd.body.data).toMatchObject({ targetId: 'mc', target: 'server', enabled: false, severity: 'critical', conditions: { metric: 'memory', operator: '>=', value: 80, duration: 0 }, name: 'High CPU Alert' });
      expect((await rule('high-cpu-alert')).spec).toMatchObject({ target: { kind: 'GameServer', name: 'mc', namespace: 'default' }, enabled: false, severity: 'critical' });

      const crash = await call(admin, 'POST', '/api/alert-rules', { id: 'crashes', name: 'Crashes', type: 'server_crashed', severity: 'critical' });
      expect(crash.status, JSON.stringify(crash.body)).toBe(201);
      expect(crash.body.data).toMatchObject({ id: 'crashes', target: 'server', targetId: '*', conditions: null, actions: [] });

      const del = await call(admin, 'DELETE', '/api/alert-rules/high-cpu-alert');
      expect(del.body).toEqual({ success: true, message: 'Alert rule deleted' });
      await expect(rule('high-cpu-alert')).rejects.toMatchObject({ code: 404 });
      expect((await call(admin, 'GET', '/api/alert-rules/high-cpu-alert')).status).toBe(404);
      expect((await call(admin, 'DELETE', '/api/alert-rules/high-cpu-alert')).status).toBe(404);
    });

    it('refuses bad rules with 400 naming the field, and non-admins with 403', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ name: 'a', type: 'resource_threshold' }, /conditions: is required/],
        [{ name: 'b', type: 'node_offline', target: 'server' }, /target: a node_offline rule targets nodes/],
        [{ name: 'c', type: 'resource_threshold', conditions: { metric: 'cpu', operator: '~', value: 1 } }, /conditions\.operator: must be one of/],
        [{ name: 'd', type: 'server_crashed', actions: [{ url: 'ftp://x' }] }, /actions\.0\.url/],
        [{ name: 'e', type: 'server_crashed', targetId: 'Not A Name!' }, /target\.name|targetId/],
      ];
      for (const [body, msg] of cases) {
        const r = await call(admin, 'POST', '/api/alert-rules', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.message).toMatch(msg);
      }
      expect((await env.store.list('AlertRule')).items.map((r) => r.metadata.name)).toEqual(['crashes']);
      expect((await call(owner, 'GET', '/api/alert-rules')).status).toBe(403);
      expect((await call(owner, 'POST', '/api/alert-rules', { name: 'x', type: 'server_crashed' })).status).toBe(403);
    });
  });
});
