// The admin endpoints: statistics from the store and the accounts, every server with its owner,
// health that reports only what exists, and the audit log with its filters.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

describe('admin API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  let admin: SignedIn;
  let user: SignedIn;

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);

  beforeEach(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 100_000, userPerMinute: 100_000 } } });
    ({ env, svc } = api);
    admin = await signInAdmin(svc);
    user = await signIn(svc, 'johndoe');
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 't' }, spec: { image: 'i', startCommand: 'c', resources: { memoryMb: 1024, cpuCores: 1, diskMb: 1000 } } });
    for (const [name, cap, online] of [['n1', 8192, true], ['n2', 4096, false]] as const) {
      await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name }, spec: { address: `${name}.example`, capacity: { memoryMb: cap, cpuCores: 4, diskMb: 100000 } } });
      await env.store.patchStatus('GameNode', undefined, name, { phase: online ? 'Online' : 'Offline' });
    }
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'lobby', namespace: 'default' }, spec: { templateRef: 't', nodeName: 'n1', owner: user.userId, displayName: 'minecraft-lobby', resources: { memoryMb: 4096, cpuCores: 2 } } });
    await env.store.patchStatus('GameServer', 'default', 'lobby', { phase: 'running', nodeName: 'n1' });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'survival', namespace: 'default' }, spec: { templateRef: 't', nodeName: 'n2', owner: admin.userId } });
  });
  afterEach(() => env.close());

  it('GET /api/admin/stats counts servers, nodes, users and what is allocated', async () => {
    const res = await call(admin, 'GET', '/api/admin/stats');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({
      totalServers: 2,
      runningServers: 1,
      totalNodes: 2,
      onlineNodes: 1,
      totalUsers: 2,
      totalMemoryMb: 12288,
      usedMemoryMb: 5120,
      totalCpuCores: 8,
      usedCpuCores: 3,
      totalDiskMb: 200000,
      usedDiskMb: 2000,
    });
  });

  it('GET /api/admin/servers lists every server with owner and node', async () => {
    const res = await call(admin, 'GET', '/api/admin/servers');
    expect(res.body.data).toHaveLength(2);
    expect(res.body.data.find((s: { id: string }) => s.id === 'lobby')).toMatchObject({
      id: 'lobby',
      name: 'minecraft-lobby',
      owner: { id: user.userId, username: 'johndoe' },
      node: { id: 'n1', name: 'n1' },
      status: 'running',
      allocatedMemoryMb: 4096,
      cpuUsage: 0,
    });
    expect(res.body.pagination).toMatchObject({ total: 2 });
    expect((await call(admin, 'GET', `/api/admin/servers?ownerId=${admin.userId}`)).body.data.map((s: { id: string }) => s.id)).toEqual(['survival']);
  });

  it('GET /api/admin/health reports database, nodes, services and uptime, and no Redis', async () => {
    const res = await call(admin, 'GET', '/api/admin/health');
    expect(res.body.data).toMatchObject({
      status: 'degraded',
      database: 'connected',
      redis: 'not used',
      nodes: { total: 2, online: 1, offline: 1 },
      services: { api: 'running', agentHub: 'not configured', nodeEnrollment: 'not configured' },
    });
    expect(res.body.data.uptime).toBeGreaterThanOrEqual(0);
    await env.store.patchStatus('GameNode', undefined, 'n2', { phase: 'Online' });
    expect((await call(admin, 'GET', '/api/admin/health')).body.data.status).toBe('healthy');
  });

  it('GET /api/admin/audit-logs filters by user, action, resource and pages with before', async () => {
    await call(admin, 'POST', '/api/servers/lobby/suspend', { reason: 'Billing issue' });
    await call(admin, 'POST', '/api/servers/lobby/unsuspend');
    await call(user, 'POST', '/api/servers/survival/start');
    const all = await call(admin, 'GET', '/api/admin/audit-logs');
    expect(all.body.data[0]).toMatchObject({ userId: user.userId, username: 'johndoe', action: 'server.start', resourceId: 'survival', status: 404 });
    const mine = await call(admin, 'GET', `/api/admin/audit-logs?userId=${admin.userId}&action=server.suspend`);
    expect(mine.body.data.map((e: { action: string }) => e.action)).toEqual(['server.suspend', 'server.suspend']);
    expect(mine.body.data[1]).toMatchObject({ resourceId: 'lobby', metadata: { serverName: 'minecraft-lobby', reason: 'Billing issue' } });
    expect(mine.body.data[1].ipAddress === null || typeof mine.body.data[1].ipAddress === 'string').toBe(true);
    expect(mine.body.data[1].createdAt).toMatch(/^\d{4}-/);
    const page = await call(admin, 'GET', `/api/admin/audit-logs?limit=1&before=${all.body.data[0].id}`);
    expect(page.body.data).toHaveLength(1);
    expect(page.body.data[0].id).toBe(all.body.data[1].id);
    expect((await call(admin, 'GET', '/api/admin/audit-logs?resourceType=server&resourceId=lobby')).body.data).toHaveLength(2);
    expect((await call(admin, 'GET', '/api/admin/audit-logs?before=abc')).status).toBe(400);
    expect((await call(admin, 'GET', '/api/admin/audit-logs?limit=0')).status).toBe(400);
  });

  it('needs admin.read', async () => {
    for (const p of ['/api/admin/stats', '/api/admin/servers', '/api/admin/health', '/api/admin/audit-logs']) {
      expect((await call(user, 'GET', p)).status, p).toBe(403);
      expect((await call(undefined, 'GET', p)).status, p).toBe(401);
    }
  });
});
