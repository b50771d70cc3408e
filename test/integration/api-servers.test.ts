// The Catalyst server endpoints through the real app and a real SQLite store: create (validation
// against template and node), list/get with visibility, update rules, power actions as spec edits,
// suspension, allocations, restart policy, subusers, delete — as owner, stranger, subuser and admin.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ApiServices } from '../../api/http/services.ts';
import type { GameServer } from '../../crds/types.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('servers API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  let admin: SignedIn;
  let owner: SignedIn;
  let other: SignedIn;

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);
  const get = async (name: string) => (await env.store.get('GameServer', 'default', name)) as unknown as GameServer;
  const setPhase = (name: string, phase: string, extra: Record<string, unknown> = {}) => env.store.patchStatus('GameServer', 'default', name, { phase, ...extra });

  beforeEach(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 100_000, userPerMinute: 100_000 } } });
    ({ env, svc } = api);
    admin = await signInAdmin(svc);
    // Customers who may create servers: a role with server.create only.
    const role = await svc.accounts.createRole({ name: 'Customer', permissions: ['server.create'] });
    owner = await signIn(svc, 'owner', ['user', role.id]);
    other = await signIn(svc, 'other', ['user', role.id]);
    const testgame = parse(await readFile(path.join(ROOT, 'manifests/examples/template-testgame.yaml'), 'utf8'));
    await env.store.create(testgame);
    await env.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ServerTemplate',
      metadata: { name: 'strict' },
      spec: {
        image: 'gantry-test/gameserver:1',
        startCommand: '/gameserver.sh {{LEVEL}} {{TOKEN}}',
        ports: [{ containerPort: 25565 }, { containerPort: 25575, name: 'rcon' }],
        variables: [
          { name: 'LEVEL', required: true, pattern: '^[a-z]+$' },
          { name: 'TOKEN', required: true },
          { name: 'LOCKED', default: 'x', userEditable: false },
          { name: 'SECRET', default: 's3cret', userViewable: false },
        ],
      },
    });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'node-a' }, spec: { address: 'a.example', capacity: { memoryMb: 1024, cpuCores: 2, diskMb: 10000 }, portRange: { start: 30000, end: 30010 } } });
  });
  afterEach(() => env.close());

  const create = (who: SignedIn, body: Record<string, unknown>) => call(who, 'POST', '/api/servers', { templateId: 'testgame', ...body });

  it('creates a server owned by the caller, with a DNS-1123 id, and refuses a taken name with 409', async () => {
    const res = await create(owner, { name: 'Minecraft Lobby #1', description: 'lobby', nodeId: 'node-a', allocatedMemoryMb: 512, allocatedCpuCores: 0.5, allocatedDiskMb: 1000, environment: { MOTD: 'hello' } });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      id: 'minecraft-lobby-1',
      name: 'Minecraft Lobby #1',
      description: 'lobby',
      nodeId: 'node-a',
      templateId: 'testgame',
      status: 'stopped',
      ownerId: owner.userId,
      allocatedMemoryMb: 512,
      allocatedCpuCores: 0.5,
      allocatedDiskMb: 1000,
      primaryPort: 25565,
      networkMode: 'bridge',
      environment: { MOTD: 'hello' },
      node: { id: 'node-a', hostname: 'a.example' },
      template: { id: 'testgame', dockerImage: 'gantry-test/gameserver:1' },
    });
    expect(res.body.data.uuid).toMatch(/^[0-9a-f-]{36}$/);
    const s = await get('minecraft-lobby-1');
    expect(s.spec).toMatchObject({ owner: owner.userId, displayName: 'Minecraft Lobby #1', templateRef: 'testgame', nodeName: 'node-a', state: 'Stopped', resources: { memoryMb: 512, cpuCores: 0.5, diskMb: 1000 } });
    const again = await create(owner, { name: 'minecraft lobby 1' });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/minecraft-lobby-1.*already exists/);
    // Template defaults fill limits a server leaves out.
    const d = await create(owner, { name: 'defaults' });
    expect(d.body.data).toMatchObject({ allocatedMemoryMb: 256, allocatedCpuCores: 0.5, allocatedDiskMb: 1024, nodeId: null });
  });

  it('validates template variables, template and node, and node resources', async () => {
    const missing = await call(owner, 'POST', '/api/servers', { name: 's1', templateId: 'strict' });
    expect(missing).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'Missing required template variables: LEVEL, TOKEN' } });
    const pattern = await call(owner, 'POST', '/api/servers', { name: 's1', templateId: 'strict', environment: { LEVEL: 'Bad1', TOKEN: 't' } });
    expect(pattern.status).toBe(400);
    expect(pattern.body.message).toMatch(/LEVEL.*\^\[a-z\]\+\$/);
    const locked = await call(owner, 'POST', '/api/servers', { name: 's1', templateId: 'strict', environment: { LEVEL: 'ok', TOKEN: 't', LOCKED: 'y' } });
    expect(locked.status).toBe(403);
    expect(locked.body.message).toMatch(/LOCKED/);
    expect((await call(admin, 'POST', '/api/servers', { name: 's-admin', templateId: 'strict', environment: { LEVEL: 'ok', TOKEN: 't', LOCKED: 'y' } })).status).toBe(201);

    expect(await call(owner, 'POST', '/api/servers', { name: 's2', templateId: 'nope' })).toMatchObject({ status: 404, body: { message: 'Template not found: "nope"' } });
    expect(await create(owner, { name: 's2', nodeId: 'nope' })).toMatchObject({ status: 404, body: { message: 'Node not found: "nope"' } });
    const big = await create(owner, { name: 's3', nodeId: 'node-a', allocatedMemoryMb: 4096 });
    expect(big.status).toBe(400);
    expect(big.body.message).toMatch(/^Node does not have enough resources: needs 4096 MiB memory, 1024 free/);
    // What is bound counts: 768 + 512 > 1024.
    expect((await create(owner, { name: 's4', nodeId: 'node-a', allocatedMemoryMb: 768 })).status).toBe(201);
    expect((await create(owner, { name: 's5', nodeId: 'node-a', allocatedMemoryMb: 512 })).body.message).toMatch(/needs 512 MiB memory, 256 free/);
    // Bad bodies name the field.
    expect((await create(owner, { name: 's6', allocatedMemoryMb: 'lots' })).body.message).toMatch(/allocatedMemoryMb/);
    expect((await create(owner, { name: 's6', bogus: 1 })).body.message).toMatch(/bogus: unknown field/);
    expect((await create(owner, { name: '!!!' })).body.message).toMatch(/no letters or digits/);
    // A caller without server.create is refused.
    const plain = await signIn(svc, 'plain');
    expect((await create(plain, { name: 'x' })).status).toBe(403);
  });

  it('maps portBindings and primaryPort, and refuses a host port another server holds', async () => {
    const a = await create(owner, { name: 'ports-a', nodeId: 'node-a', allocatedMemoryMb: 128, portBindings: { '25565': 30001, '25575': 0 }, primaryPort: 25575 });
    expect(a.status).toBe(201);
    expect((await get('ports-a')).spec!.ports).toEqual([
      { containerPort: 25565, hostPort: 30001, protocol: 'TCP', primary: false, name: 'game' },
      { containerPort: 25575, hostPort: 0, protocol: 'TCP', primary: true },
    ]);
    expect(a.body.data.primaryPort).toBe(25575);
    const b = await create(owner, { name: 'ports-b', nodeId: 'node-a', allocatedMemoryMb: 128, portBindings: { '25565': 30001 } });
    expect(b.status).toBe(409);
    expect(b.body.message).toMatch(/30001\/TCP.*ports-a/);
  });

  it('lists only what the caller may see, with filters and pagination; get embeds node and template', async () => {
    for (const n of ['o1', 'o2', 'o3']) expect((await create(owner, { name: n, nodeId: n === 'o3' ? 'node-a' : undefined, allocatedMemoryMb: 128 })).status).toBe(201);
    expect((await create(other, { name: 'x1' })).status).toBe(201);
    await setPhase('o2', 'running');

    const mine = await call(owner, 'GET', '/api/servers');
    expect(mine.body.data.map((s: { id: string }) => s.id)).toEqual(['o1', 'o2', 'o3']);
    expect(mine.body.pagination).toEqual({ page: 1, limit: 20, total: 3, pages: 1 });
    expect((await call(other, 'GET', '/api/servers')).body.data.map((s: { id: string }) => s.id)).toEqual(['x1']);
    const all = await call(admin, 'GET', '/api/servers?limit=2&page=2');
    expect(all.body.data.map((s: { id: string }) => s.id)).toEqual(['o3', 'x1']);
    expect(all.body.pagination).toEqual({ page: 2, limit: 2, total: 4, pages: 2 });
    expect((await call(admin, 'GET', '/api/servers?status=running')).body.data.map((s: { id: string }) => s.id)).toEqual(['o2']);
    expect((await call(admin, 'GET', '/api/servers?nodeId=node-a')).body.data.map((s: { id: string }) => s.id)).toEqual(['o3']);
    expect((await call(admin, 'GET', '/api/servers?status=bogus')).status).toBe(400);
    expect((await call(admin, 'GET', '/api/servers?limit=1000')).status).toBe(400);

    // A subuser sees the server they were given.
    await svc.accounts.setServerGrant('default', 'o1', other.userId, ['server.read']);
    expect((await call(other, 'GET', '/api/servers')).body.data.map((s: { id: string }) => s.id)).toEqual(['o1', 'x1']);

    const one = await call(owner, 'GET', '/api/servers/o3');
    expect(one.body.data).toMatchObject({ id: 'o3', node: { id: 'node-a', name: 'node-a', hostname: 'a.example' }, template: { id: 'testgame', name: 'Test game' }, cpuUsage: 0, memoryUsageMb: 0, crashCount: 0, lastCrashAt: null, restartPolicy: 'on-failure', maxCrashCount: 5 });
    expect(one.body.data.permissions).toContain('server.start');
    expect((await call(other, 'GET', '/api/servers/o3')).status).toBe(404);
    expect((await call(other, 'GET', '/api/servers/o1')).status).toBe(200);
    expect((await call(undefined, 'GET', '/api/servers')).status).toBe(401);
  });

  it('turns power actions into spec edits; start on an exited server sets a restart trigger', async () => {
    await create(owner, { name: 'p' });
    const start = await call(owner, 'POST', '/api/servers/p/start');
    expect(start).toMatchObject({ status: 200, body: { success: true, message: 'Server start initiated', serverId: 'p' } });
    expect((await get('p')).spec).toMatchObject({ state: 'Running' });
    expect((await get('p')).spec!.restartedAt).toBeUndefined();
    await setPhase('p', 'stopped'); // exited by itself while meant to run
    await call(owner, 'POST', '/api/servers/p/start');
    const restartedAt = (await get('p')).spec!.restartedAt!;
    expect(restartedAt).toBeDefined();

    expect((await call(owner, 'POST', '/api/servers/p/restart')).body.message).toBe('Server restart initiated');
    expect(Date.parse((await get('p')).spec!.restartedAt!)).toBeGreaterThan(Date.parse(restartedAt));
    expect((await call(owner, 'POST', '/api/servers/p/stop', { timeout: 7 })).body.message).toBe('Server stop initiated');
    expect((await get('p')).spec).toMatchObject({ state: 'Stopped', stopTimeoutSeconds: 7 });
    expect((await call(owner, 'POST', '/api/servers/p/stop', { timeout: -1 })).status).toBe(400);
    expect((await call(owner, 'POST', '/api/servers/p/kill')).body.message).toBe('Server killed');
    expect((await get('p')).spec!.killedAt).toBeDefined();
    expect((await call(owner, 'POST', '/api/servers/p/install')).body).toMatchObject({ message: 'Installation started', serverId: 'p' });
    expect((await get('p')).spec!.reinstalledAt).toBeDefined();
    expect((await call(owner, 'POST', '/api/servers/p/reset-crash-count')).body.message).toBe('Crash count reset');
    expect((await get('p')).spec!.crashCountResetAt).toBeDefined();
    const rp = await call(owner, 'PATCH', '/api/servers/p/restart-policy', { restartPolicy: 'always', maxCrashCount: 3 });
    expect(rp.body).toMatchObject({ success: true, restartPolicy: 'always', maxCrashCount: 3 });
    expect((await get('p')).spec!.restartPolicy).toEqual({ policy: 'always', maxCrashCount: 3 });
    expect((await call(owner, 'PATCH', '/api/servers/p/restart-policy', { restartPolicy: 'sometimes' })).status).toBe(400);
    expect((await call(owner, 'PATCH', '/api/servers/p/restart-policy', {})).status).toBe(400);
    // A stranger does not learn the server exists.
    expect((await call(other, 'POST', '/api/servers/p/start')).status).toBe(404);
  });

  it('?wait=true answers when the status reaches the goal, else with the current status', async () => {
    await create(owner, { name: 'w' });
    const pending = call(owner, 'POST', '/api/servers/w/start?wait=true&waitSeconds=20');
    // Let the request register its watch, then play the controller.
    await new Promise((r) => setTimeout(r, 100));
    await setPhase('w', 'starting');
    await setPhase('w', 'running');
    const res = await pending;
    expect(res.body).toMatchObject({ success: true, message: 'Server is running', status: 'running', reached: true });
    // A crash ends the wait at once, not reached.
    await setPhase('w', 'running');
    const stop = await call(owner, 'POST', '/api/servers/w/stop?wait=true&waitSeconds=1');
    expect(stop.body).toMatchObject({ message: 'Server stop initiated', status: 'running', reached: false, timedOut: true });
  });

  it('suspends (409 when already), blocks other actions with 423, unsuspends to stopped', async () => {
    await create(owner, { name: 'sus' });
    expect((await call(owner, 'POST', '/api/servers/sus/suspend', { reason: 'x' })).status).toBe(403);
    const s = await call(admin, 'POST', '/api/servers/sus/suspend', { reason: 'Billing issue' });
    expect(s.body.data).toMatchObject({ id: 'sus', status: 'suspended', suspendedByUserId: admin.userId, suspensionReason: 'Billing issue' });
    expect(s.body.data.suspendedAt).toMatch(/^\d{4}-/);
    expect((await call(admin, 'POST', '/api/servers/sus/suspend')).status).toBe(409);
    const blocked = await call(owner, 'POST', '/api/servers/sus/start');
    expect(blocked).toMatchObject({ status: 423, body: { statusCode: 423, reason: 'server_suspended' } });
    expect(blocked.body.message).toMatch(/Billing issue/);
    expect((await call(owner, 'PUT', '/api/servers/sus', { name: 'n' })).status).toBe(423);
    expect((await call(owner, 'GET', '/api/servers/sus')).body.data).toMatchObject({ status: 'suspended', suspended: true, suspensionReason: 'Billing issue' });
    const u = await call(admin, 'POST', '/api/servers/sus/unsuspend');
    expect(u.body.data).toEqual({ id: 'sus', status: 'stopped', suspendedAt: null, suspendedByUserId: null, suspensionReason: null });
    expect((await get('sus')).spec).toMatchObject({ suspended: false, state: 'Stopped' });
    expect((await get('sus')).metadata.annotations ?? {}).not.toHaveProperty('gantry.dev/suspended-at');
    expect((await call(admin, 'POST', '/api/servers/sus/unsuspend')).status).toBe(409);
    expect((await call(owner, 'POST', '/api/servers/sus/start')).status).toBe(200);
  });

  it('updates name, description and environment; limits only with the global grant and only while stopped', async () => {
    expect((await call(owner, 'POST', '/api/servers', { name: 'u', templateId: 'strict', nodeId: 'node-a', allocatedMemoryMb: 256, allocatedDiskMb: 1000, environment: { LEVEL: 'abc', TOKEN: 't' } })).body).toMatchObject({ success: true });
    const r = await call(owner, 'PUT', '/api/servers/u', { name: 'Renamed', description: 'd', environment: { LEVEL: 'xyz' } });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ id: 'u', name: 'Renamed', description: 'd', environment: { LEVEL: 'xyz', TOKEN: 't' } });
    // The owner does not see a variable the template hides; an admin does.
    await call(admin, 'PUT', '/api/servers/u', { environment: { SECRET: 'hidden' } });
    expect((await call(owner, 'GET', '/api/servers/u')).body.data.environment).not.toHaveProperty('SECRET');
    expect((await call(admin, 'GET', '/api/servers/u')).body.data.environment).toMatchObject({ SECRET: 'hidden' });
    expect((await call(owner, 'PUT', '/api/servers/u', { environment: { LEVEL: 'NO' } })).status).toBe(400);
    expect((await call(owner, 'PUT', '/api/servers/u', { environment: { TOKEN: null } })).body.message).toBe('Missing required template variables: TOKEN');
    expect((await call(owner, 'PUT', '/api/servers/u', { environment: { LOCKED: 'z' } })).status).toBe(403);
    // Extra variables are fine; overriding the template's fixed environment is as locked.
    expect((await call(owner, 'PUT', '/api/servers/u', { environment: { EXTRA: '1' } })).status).toBe(200);
    await env.store.patch('ServerTemplate', undefined, 'strict', { spec: { environment: { FIXED: 'f' } } });
    expect((await call(owner, 'PUT', '/api/servers/u', { environment: { FIXED: 'g' } })).body.message).toMatch(/administrator: FIXED/);

    const raise = await call(owner, 'PUT', '/api/servers/u', { allocatedMemoryMb: 1024 });
    expect(raise.status).toBe(403);
    expect(raise.body.message).toMatch(/global server.update/);
    await setPhase('u', 'running');
    await env.store.patch('GameServer', 'default', 'u', { spec: { state: 'Running' } });
    const running = await call(admin, 'PUT', '/api/servers/u', { allocatedMemoryMb: 512 });
    expect(running.status).toBe(400);
    expect(running.body.message).toMatch(/Server must be stopped to update resource allocations/);
    await env.store.patch('GameServer', 'default', 'u', { spec: { state: 'Stopped' } });
    await setPhase('u', 'stopped');
    expect((await call(admin, 'PUT', '/api/servers/u', { allocatedMemoryMb: 2048 })).body.message).toMatch(/Node does not have enough resources/);
    const ok = await call(admin, 'PUT', '/api/servers/u', { allocatedMemoryMb: 512, allocatedCpuCores: 1 });
    expect(ok.body.data).toMatchObject({ allocatedMemoryMb: 512, allocatedCpuCores: 1 });
  });

  it('manages allocations on a stopped server: add (allocated or explicit), set primary, remove non-primary', async () => {
    await create(owner, { name: 'al', nodeId: 'node-a', allocatedMemoryMb: 128 });
    // Admitted by the scheduler: the template's port got host port 30000.
    await setPhase('al', 'stopped', { nodeName: 'node-a', ports: [{ containerPort: 25565, hostPort: 30000, protocol: 'TCP', primary: true, name: 'game' }] });
    expect((await call(owner, 'GET', '/api/servers/al/allocations')).body.data).toEqual([{ containerPort: 25565, hostPort: 30000, protocol: 'TCP', isPrimary: true, name: 'game' }]);
    const add = await call(owner, 'POST', '/api/servers/al/allocations', { containerPort: 25566 });
    expect(add.body.data).toEqual({ containerPort: 25566, hostPort: 30001, protocol: 'TCP', isPrimary: false });
    const add2 = await call(owner, 'POST', '/api/servers/al/allocations', { containerPort: 25570, hostPort: 30005 });
    expect(add2.body.data).toMatchObject({ containerPort: 25570, hostPort: 30005, isPrimary: false });
    expect((await call(owner, 'POST', '/api/servers/al/allocations', { containerPort: 25570 })).status).toBe(409);
    expect((await get('al')).spec!.ports!.map((p) => `${p.containerPort}:${p.hostPort}`)).toEqual(['25565:30000', '25566:30001', '25570:30005']);
    // Another server on the node cannot take a held host port.
    await create(owner, { name: 'al2', nodeId: 'node-a', allocatedMemoryMb: 128 });
    await setPhase('al2', 'stopped', { nodeName: 'node-a', ports: [{ containerPort: 25565, hostPort: 30002, protocol: 'TCP', primary: true }] });
    const clash = await call(owner, 'POST', '/api/servers/al2/allocations', { containerPort: 1000, hostPort: 30005 });
    expect(clash.status).toBe(409);
    expect(clash.body.message).toMatch(/30005\/TCP.*default\/al/);

    expect((await call(owner, 'POST', '/api/servers/al/allocations/primary', { containerPort: 25566 })).body.data).toEqual({ primaryPort: 25566, protocol: 'TCP' });
    expect((await call(owner, 'DELETE', '/api/servers/al/allocations/25566')).body.message).toMatch(/primary allocation/);
    expect((await call(owner, 'DELETE', '/api/servers/al/allocations/25565')).body).toEqual({ success: true });
    expect((await call(owner, 'DELETE', '/api/servers/al/allocations/4242')).status).toBe(404);
    expect((await call(owner, 'GET', '/api/servers/al/allocations')).body.data.map((a: { containerPort: number; isPrimary: boolean }) => [a.containerPort, a.isPrimary])).toEqual([[25566, true], [25570, false]]);
    expect((await call(owner, 'GET', '/api/servers/al')).body.data.primaryPort).toBe(25566);

    await env.store.patch('GameServer', 'default', 'al', { spec: { state: 'Running' } });
    expect((await call(owner, 'POST', '/api/servers/al/allocations', { containerPort: 1 })).body.message).toMatch(/must be stopped/);
    expect((await call(other, 'GET', '/api/servers/al/allocations')).status).toBe(404);
  });

  it('subusers: the owner grants what they hold, the subuser gets exactly that, removal takes it away', async () => {
    await create(owner, { name: 'sh' });
    const add = await call(owner, 'POST', '/api/servers/sh/subusers', { email: 'other@example.test', permissions: ['server.read', 'server.start'] });
    expect(add.status).toBe(201);
    expect(add.body.data).toMatchObject({ userId: other.userId, username: 'other', permissions: ['server.read', 'server.start'] });
    expect((await call(other, 'GET', '/api/servers/sh')).status).toBe(200);
    expect((await call(other, 'POST', '/api/servers/sh/start')).status).toBe(200);
    expect((await call(other, 'POST', '/api/servers/sh/stop')).status).toBe(403);
    expect((await call(other, 'GET', '/api/servers/sh/subusers')).status).toBe(403);
    // Owners do not hold server.delete by default, so they cannot give it; nor unknown or global permissions.
    expect((await call(owner, 'PUT', `/api/servers/sh/subusers/${other.userId}`, { permissions: ['server.delete'] })).status).toBe(403);
    expect((await call(owner, 'PUT', `/api/servers/sh/subusers/${other.userId}`, { permissions: ['node.read'] })).status).toBe(400);
    expect((await call(owner, 'POST', '/api/servers/sh/subusers', { userId: owner.userId, permissions: ['server.read'] })).status).toBe(400);
    expect((await call(owner, 'POST', '/api/servers/sh/subusers', { email: 'nobody@example.test', permissions: [] })).status).toBe(404);
    const put = await call(owner, 'PUT', `/api/servers/sh/subusers/${other.userId}`, { permissions: ['server.read', 'server.stop'] });
    expect(put.body.data.permissions).toEqual(['server.read', 'server.stop']);
    expect((await call(other, 'POST', '/api/servers/sh/stop')).status).toBe(200);
    expect((await call(owner, 'GET', '/api/servers/sh/subusers')).body.data).toHaveLength(1);
    expect((await call(owner, 'DELETE', `/api/servers/sh/subusers/${other.userId}`)).body.message).toBe('Subuser removed');
    expect((await call(other, 'GET', '/api/servers/sh')).status).toBe(404);
    expect((await call(owner, 'DELETE', `/api/servers/sh/subusers/${other.userId}`)).status).toBe(404);
  });

  it('deletes only stopped servers, and forgets their subuser grants', async () => {
    await create(owner, { name: 'del' });
    await svc.accounts.setServerGrant('default', 'del', other.userId, ['server.read']);
    await setPhase('del', 'running');
    expect((await call(admin, 'DELETE', '/api/servers/del')).body.message).toMatch(/must be stopped before deletion/);
    // Owners need server.delete granted (not an owner default).
    await setPhase('del', 'stopped');
    expect((await call(owner, 'DELETE', '/api/servers/del')).status).toBe(403);
    const d = await call(admin, 'DELETE', '/api/servers/del');
    expect(d.body).toMatchObject({ success: true, message: 'Server deleted successfully' });
    expect(await env.store.get('GameServer', 'default', 'del').catch(() => undefined)).toBeUndefined();
    expect(svc.accounts.serverGrant(other.userId, 'default', 'del')).toBeUndefined();
    expect((await call(admin, 'DELETE', '/api/servers/del')).status).toBe(404);
  });

  it('audits actions with the server as resource', async () => {
    await create(owner, { name: 'aud' });
    await call(owner, 'POST', '/api/servers/aud/start');
    await call(other, 'POST', '/api/servers/aud/start');
    const entries = await svc.audit.list({ resourceId: 'aud' });
    expect(entries.map((e) => [e.action, e.status, e.username])).toEqual(
      expect.arrayContaining([['server.create', 201, 'owner'], ['server.start', 200, 'owner'], ['server.start', 404, 'other']]),
    );
  });
});
