// Users and roles administration through the real app: paging, roles embedded, create/update/delete
// rules (not yourself, not the last administrator), roles with wildcards taking effect at once, the
// permission catalogue, and no way to hand out more than you hold.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { PERMISSIONS } from '../../api/rbac/permissions.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin } from '../helpers/api.ts';

describe('users and roles API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  beforeEach(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 1000 } } });
    ({ env, svc } = api);
  });
  afterEach(() => env.close());

  const call = (...a: Parameters<ApiApp['call']>) => api.call(...a);

  it('lists users page by page with their roles embedded and a pagination object', async () => {
    const admin = await signInAdmin(svc);
    for (let i = 0; i < 4; i++) await svc.accounts.createUser({ email: `u${i}@example.com`, username: `user${i}`, password: 'password-123' });
    const p1 = await call('GET', '/api/admin/users?page=1&limit=2', undefined, admin.token);
    expect(p1.status).toBe(200);
    expect(p1.body.pagination).toEqual({ page: 1, limit: 2, total: 5, pages: 3 });
    expect(p1.body.data).toHaveLength(2);
    expect(p1.body.data[0]).toMatchObject({ username: 'admin', roles: [{ id: 'admin', name: 'Administrator', permissions: ['*'] }] });
    expect(p1.body.data[0]).not.toHaveProperty('passwordHash');
    const p3 = await call('GET', '/api/admin/users?page=3&limit=2', undefined, admin.token);
    expect(p3.body.data.map((u: { username: string }) => u.username)).toEqual(['user3']);
    expect((await call('GET', '/api/admin/users?limit=0', undefined, admin.token)).body.message).toBe('query parameter limit: must be >= 1');
    expect((await call('GET', '/api/admin/users?page=x', undefined, admin.token)).status).toBe(400);

    const one = await call('GET', `/api/admin/users/${p3.body.data[0].id}`, undefined, admin.token);
    expect(one.body.data).toMatchObject({ username: 'user3', roles: [{ id: 'user' }], permissions: [] });
    expect((await call('GET', '/api/admin/users/nope', undefined, admin.token)).status).toBe(404);

    const plain = await signIn(svc, 'user0');
    expect((await call('GET', '/api/admin/users', undefined, plain.token)).body).toMatchObject({ statusCode: 403, message: 'You do not have permission to perform this action (requires user.read)' });
  });

  it('creates, updates and deletes users; not yourself, not the last administrator', async () => {
    const admin = await signInAdmin(svc);
    const created = await call('POST', '/api/admin/users', { email: 'new@example.com', username: 'newbie', password: 'password-123' }, admin.token);
    expect(created).toMatchObject({ status: 201, body: { data: { username: 'newbie', roles: [{ id: 'user' }] } } });
    const id = created.body.data.id as string;
    expect((await call('POST', '/api/admin/users', { email: 'NEW@example.com', username: 'other', password: 'password-123' }, admin.token)).body.message).toBe('Email already exists');
    expect((await call('POST', '/api/admin/users', { email: 'x@example.com', username: 'x2', password: 'password-123', roleIds: ['ghost'] }, admin.token)).body.message).toBe('unknown role "ghost"');
    expect((await call('POST', '/api/admin/users', { email: 'x@example.com', username: 'x2', password: 'password-123', extra: 1 }, admin.token)).body.message).toBe('extra: unknown field');

    const s = await call('POST', '/api/auth/login', { username: 'newbie', password: 'password-123' });
    const upd = await call('PUT', `/api/admin/users/${id}`, { username: 'renamed', password: 'another-password', roleIds: ['user', 'admin'] }, admin.token);
    expect(upd.body.data).toMatchObject({ username: 'renamed', roles: expect.arrayContaining([expect.objectContaining({ id: 'admin' })]) });
    // A reset password ends the user's sessions.
    expect((await call('GET', '/api/auth/me', undefined, s.body.data.token)).status).toBe(401);
    expect((await call('POST', '/api/auth/login', { username: 'renamed', password: 'another-password' })).status).toBe(200);

    const dis = await call('PUT', `/api/admin/users/${id}`, { disabled: true }, admin.token);
    expect(dis.body.data.disabled).toBe(true);
    expect((await call('POST', '/api/auth/login', { username: 'renamed', password: 'another-password' })).body.message).toBe('Account disabled');
    // Now the signed-in admin is the last enabled administrator.
    expect((await call('PUT', `/api/admin/users/${admin.userId}`, { roleIds: ['user'] }, admin.token))).toMatchObject({ status: 409, body: { reason: 'last_admin' } });
    expect((await call('PUT', `/api/admin/users/${admin.userId}`, { disabled: true }, admin.token)).status).toBe(400);
    expect((await call('DELETE', `/api/admin/users/${admin.userId}`, undefined, admin.token)).body.message).toBe('you cannot delete your own account');
    expect(svc.accounts.requireUser(admin.userId).disabled).toBe(false);

    expect((await call('DELETE', `/api/admin/users/${id}`, undefined, admin.token)).status).toBe(200);
    expect((await call('GET', `/api/admin/users/${id}`, undefined, admin.token)).status).toBe(404);
    expect((await call('DELETE', `/api/admin/users/${id}`, undefined, admin.token)).status).toBe(404);
  });

  it('manages roles of wildcard permissions that take effect for holders at once', async () => {
    const admin = await signInAdmin(svc);
    const cat = await call('GET', '/api/admin/permissions', undefined, admin.token);
    expect(cat.body.data.map((p: { name: string }) => p.name)).toEqual(PERMISSIONS.map((p) => p.name));
    expect(cat.body.data.find((p: { name: string }) => p.name === 'server.start')).toMatchObject({ serverScoped: true, description: expect.any(String) });

    const role = await call('POST', '/api/admin/roles', { name: 'User Admin', description: 'people', permissions: ['user.*'] }, admin.token);
    expect(role).toMatchObject({ status: 201, body: { data: { name: 'User Admin', permissions: ['user.*'], builtin: false, userCount: 0 } } });
    const roleId = role.body.data.id as string;
    expect((await call('POST', '/api/admin/roles', { name: 'user admin', permissions: [] }, admin.token)).status).toBe(409);
    expect((await call('POST', '/api/admin/roles', { name: 'bad', permissions: ['server.fly'] }, admin.token)).body.message).toBe('unknown permission "server.fly"');
    expect((await call('POST', '/api/admin/roles', { name: 'bad', permissions: ['nothing.*'] }, admin.token)).body.message).toMatch(/matches no permission/);

    const bob = await signIn(svc, 'bob');
    expect((await call('GET', '/api/admin/users', undefined, bob.token)).status).toBe(403);
    await call('PUT', `/api/admin/users/${bob.userId}`, { roleIds: ['user', roleId] }, admin.token);
    expect((await call('GET', '/api/admin/users', undefined, bob.token)).status).toBe(200);
    expect((await call('GET', `/api/admin/roles/${roleId}`, undefined, admin.token)).body.data.userCount).toBe(1);
    expect((await call('GET', '/api/admin/roles', undefined, bob.token)).status).toBe(403);

    await call('PUT', `/api/admin/roles/${roleId}`, { permissions: ['user.read', 'role.read'] }, admin.token);
    expect((await call('GET', '/api/admin/roles', undefined, bob.token)).status).toBe(200);
    expect((await call('POST', '/api/admin/users', { email: 'c@example.com', username: 'carol', password: 'password-123' }, bob.token)).status).toBe(403);

    expect((await call('PUT', '/api/admin/roles/admin', { permissions: ['user.read'] }, admin.token)).status).toBe(400);
    expect((await call('DELETE', '/api/admin/roles/user', undefined, admin.token)).body.message).toMatch(/built-in role "User" cannot be deleted/);
    expect((await call('DELETE', `/api/admin/roles/${roleId}`, undefined, admin.token)).status).toBe(200);
    expect((await call('GET', '/api/admin/users', undefined, bob.token)).status).toBe(403);
    expect((await call('GET', `/api/admin/roles/${roleId}`, undefined, admin.token)).status).toBe(404);
  });

  it('never lets a caller hand out, or take over, more than they hold', async () => {
    const admin = await signInAdmin(svc);
    const managerRole = await svc.accounts.createRole({ name: 'Manager', permissions: ['user.*', 'role.*', 'server.read'] });
    const mgr = await signIn(svc, 'mgr', ['user', managerRole.id]);
    const victim = await signIn(svc, 'victim');

    const escalate = await call('PUT', `/api/admin/users/${mgr.userId}`, { roleIds: ['user', managerRole.id, 'admin'] }, mgr.token);
    expect(escalate).toMatchObject({ status: 403, body: { reason: 'privilege_escalation' } });
    expect((await call('POST', '/api/admin/users', { email: 'a2@example.com', username: 'a2', password: 'password-123', roleIds: ['admin'] }, mgr.token)).status).toBe(403);
    expect((await call('PUT', `/api/admin/users/${admin.userId}`, { password: 'i-own-you-now' }, mgr.token)).status).toBe(403);
    expect((await call('DELETE', `/api/admin/users/${admin.userId}`, undefined, mgr.token)).status).toBe(403);
    expect((await call('POST', '/api/admin/roles', { name: 'God', permissions: ['*'] }, mgr.token)).status).toBe(403);
    expect((await call('POST', '/api/admin/roles', { name: 'Nodes', permissions: ['node.*'] }, mgr.token)).status).toBe(403);
    expect((await call('PUT', `/api/admin/roles/${managerRole.id}`, { permissions: ['user.*', 'role.*', 'server.*'] }, mgr.token)).status).toBe(403);
    expect((await call('PUT', '/api/admin/roles/admin', { name: 'Mine' }, mgr.token)).status).toBe(403);
    expect(svc.accounts.requireRole(managerRole.id).permissions).toEqual(['user.*', 'role.*', 'server.read']);

    // Within their own grants they may act.
    const helpers = await call('POST', '/api/admin/roles', { name: 'Readers', permissions: ['user.read', 'server.read'] }, mgr.token);
    expect(helpers.status).toBe(201);
    expect((await call('PUT', `/api/admin/users/${victim.userId}`, { roleIds: ['user', helpers.body.data.id] }, mgr.token)).status).toBe(200);
    expect((await call('DELETE', `/api/admin/users/${victim.userId}`, undefined, mgr.token)).status).toBe(200);
  });

  it('refuses to delete a user who owns servers until staff give them away (ownerId), then deletes', async () => {
    const admin = await signInAdmin(svc);
    const carol = await signIn(svc, 'carol');
    const dave = await signIn(svc, 'dave');
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'tiny' }, spec: { image: 'busybox', startCommand: 'sleep 1' } });
    const created = await call('POST', '/api/servers', { name: 'Carol SMP', templateId: 'tiny', ownerId: carol.userId }, admin.token);
    expect(created.status).toBe(201);
    const id = created.body.data.id;
    expect((await env.store.get<any>('GameServer', 'default', id)).spec.owner).toBe(carol.userId);
    // Owners cannot pick owners.
    expect((await call('PUT', `/api/servers/${id}`, { ownerId: dave.userId }, carol.token)).status).toBe(403);
    const refused = await call('DELETE', `/api/admin/users/${carol.userId}`, undefined, admin.token);
    expect(refused).toMatchObject({ status: 409, body: { reason: 'owns_servers' } });
    expect(refused.body.message).toContain(id);
    expect((await call('PUT', `/api/servers/${id}`, { ownerId: 'nobody' }, admin.token)).status).toBe(400);
    expect((await call('PUT', `/api/servers/${id}`, { ownerId: dave.userId }, admin.token)).status).toBe(200);
    expect((await env.store.get<any>('GameServer', 'default', id)).spec.owner).toBe(dave.userId);
    expect((await call('GET', `/api/servers/${id}`, undefined, carol.token)).status).toBe(404);
    expect((await call('GET', `/api/servers/${id}`, undefined, dave.token)).status).toBe(200);
    expect((await call('DELETE', `/api/admin/users/${carol.userId}`, undefined, admin.token)).status).toBe(200);
  });
});
