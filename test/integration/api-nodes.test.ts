// The Catalyst node endpoints over GameNode: list (servers embedded), get, create (a deployment token
// instead of Catalyst's secret, and it enrols), update, delete (refused while servers are bound).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import type { GameNode } from '../../crds/types.ts';
import { AGENT_ENROLL_PATH } from '../../agent/protocol.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

describe('nodes API', () => {
  let env: TestEnv;
  let nodes: NodeEnrollment;
  let svc: ApiServices;
  let api: ApiApp;
  let admin: SignedIn;
  let user: SignedIn;

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);

  beforeEach(async () => {
    env = await openTestEnv();
    nodes = await NodeEnrollment.open({ db: env.db, store: env.store, log: env.log });
    await nodes.start();
    api = await openApiApp({ env, base: 'http://gantry.test', api: { nodes, limits: { authPerMinute: 100_000, userPerMinute: 100_000 } }, app: { nodes } });
    svc = api.svc;
    admin = await signInAdmin(svc);
    user = await signIn(svc, 'user');
  });
  afterEach(async () => {
    nodes.stop();
    await env.close();
  });

  it('creates a node with a deployment token that enrols an agent, lists and gets it with its servers', async () => {
    const res = await call(admin, 'POST', '/api/nodes', { name: 'Production 2', description: 'Second production node', locationId: 'eu-west', hostname: 'node2.example.com', publicAddress: '192.168.1.101', maxMemoryMb: 65536, maxCpuCores: 32 });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.data).toMatchObject({ id: 'production-2', name: 'Production 2', description: 'Second production node', locationId: 'eu-west', hostname: 'node2.example.com', publicAddress: '192.168.1.101', maxMemoryMb: 65536, maxCpuCores: 32, isOnline: false, lastSeenAt: null, servers: [] });
    expect(res.body.data.deploymentToken).toMatch(/^gdt_/);
    expect(res.body.data.command).toBe(`gantry agent --panel http://gantry.test --token ${res.body.data.deploymentToken}`);
    expect(res.body.data).not.toHaveProperty('secret');
    const n = (await env.store.get('GameNode', undefined, 'production-2')) as unknown as GameNode;
    expect(n.spec).toMatchObject({ displayName: 'Production 2', address: 'node2.example.com', publicAddress: '192.168.1.101', location: 'eu-west', capacity: { memoryMb: 65536, cpuCores: 32 } });
    // The token is real: an agent can enrol with it.
    const enrol = await call(undefined, 'POST', AGENT_ENROLL_PATH, { token: res.body.data.deploymentToken, agentVersion: '0.1.0-test', hostname: 'h' });
    expect(enrol.status).toBe(200);
    expect(enrol.body.nodeName).toBe('production-2');

    expect((await call(admin, 'POST', '/api/nodes', { name: 'production 2', hostname: 'x' })).status).toBe(409);
    expect((await call(admin, 'POST', '/api/nodes', { name: 'x' })).body.message).toMatch(/hostname: is required/);
    expect((await call(admin, 'POST', '/api/nodes', { name: 'y', hostname: 'has space' })).status).toBe(400);

    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 't' }, spec: { image: 'i', startCommand: 'c' } });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'lobby', namespace: 'default' }, spec: { templateRef: 't', nodeName: 'production-2', displayName: 'Lobby' } });
    await env.store.patchStatus('GameServer', 'default', 'lobby', { phase: 'running' });
    const list = await call(admin, 'GET', '/api/nodes');
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].servers).toEqual([{ id: 'lobby', uuid: expect.any(String), name: 'Lobby', status: 'running' }]);
    const one = await call(admin, 'GET', '/api/nodes/production-2');
    expect(one.body.data).toMatchObject({ id: 'production-2', servers: [{ id: 'lobby' }] });
    expect(one.body.data.createdAt).toMatch(/^\d{4}-/);
    expect((await call(admin, 'GET', '/api/nodes/nope')).body).toMatchObject({ statusCode: 404, message: 'Node not found: "nope"' });
  });

  it('needs node permissions: a plain user is refused everything', async () => {
    await call(admin, 'POST', '/api/nodes', { name: 'n1', hostname: 'h1' });
    expect((await call(user, 'GET', '/api/nodes')).status).toBe(403);
    expect((await call(user, 'GET', '/api/nodes/n1')).status).toBe(403);
    expect((await call(user, 'POST', '/api/nodes', { name: 'n2', hostname: 'h' })).status).toBe(403);
    expect((await call(user, 'PUT', '/api/nodes/n1', { name: 'x' })).status).toBe(403);
    expect((await call(user, 'DELETE', '/api/nodes/n1')).status).toBe(403);
    expect((await call(undefined, 'GET', '/api/nodes')).status).toBe(401);
    const reader = await signIn(svc, 'reader', [(await svc.accounts.createRole({ name: 'Node reader', permissions: ['node.read'] })).id]);
    expect((await call(reader, 'GET', '/api/nodes')).status).toBe(200);
  });

  it('updates the fields given and keeps the rest', async () => {
    await call(admin, 'POST', '/api/nodes', { name: 'production-1', hostname: 'node1.example.com', maxMemoryMb: 32768, maxCpuCores: 16 });
    const res = await call(admin, 'PUT', '/api/nodes/production-1', { name: 'production-1-updated', maxMemoryMb: 65536, unschedulable: true });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ id: 'production-1', name: 'production-1-updated', hostname: 'node1.example.com', maxMemoryMb: 65536, maxCpuCores: 16, unschedulable: true });
    expect((await call(admin, 'PUT', '/api/nodes/production-1', { portRange: { start: 100, end: 50 } })).status).toBe(400);
    expect((await call(admin, 'PUT', '/api/nodes/nope', { name: 'x' })).status).toBe(404);
  });

  it('refuses to delete a node with servers bound to it, then deletes it', async () => {
    await call(admin, 'POST', '/api/nodes', { name: 'busy', hostname: 'h' });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 's1', namespace: 'default' }, spec: { templateRef: 't', nodeName: 'busy' } });
    const refused = await call(admin, 'DELETE', '/api/nodes/busy');
    expect(refused).toMatchObject({ status: 400, body: { statusCode: 400, reason: 'node_has_servers' } });
    expect(refused.body.message).toMatch(/^Cannot delete node with active servers \(1: s1\)/);
    await env.store.delete('GameServer', 'default', 's1');
    expect((await call(admin, 'DELETE', '/api/nodes/busy')).body).toMatchObject({ success: true });
    expect((await call(admin, 'GET', '/api/nodes/busy')).status).toBe(404);
    const audit = await svc.audit.list({ resourceType: 'node', resourceId: 'busy' });
    expect(audit.map((e) => `${e.action}:${e.status}`)).toEqual(['node.delete:200', 'node.delete:400', 'node.create:201']);
  });
});
