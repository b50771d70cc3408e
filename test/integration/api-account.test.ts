// The account routes through the real app and a real SQLite file: password change ends the other
// sessions, own sessions, API keys (shown once, scoped, revocable), TOTP enrol/verify/disable with
// replay refused, and purpose tokens.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { totpFor } from '../../api/auth/totp.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin } from '../helpers/api.ts';

describe('account API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  let clock: number;
  beforeEach(async () => {
    clock = Date.parse('2026-03-01T12:00:00Z');
    api = await openApiApp({ api: { limits: { authPerMinute: 1000 }, now: () => clock } });
    ({ env, svc } = api);
  });
  afterEach(() => env.close());

  const call = (...a: Parameters<ApiApp['call']>) => api.call(...a);
  const login = async (body: Record<string, unknown>) => call('POST', '/api/auth/login', body);

  it('changes the password: the old one stops working and every other session ends, this one stays', async () => {
    await svc.accounts.createUser({ email: 'ann@example.com', username: 'ann', password: 'first-password' });
    const a = (await login({ username: 'ann', password: 'first-password' })).body.data;
    const b = (await login({ username: 'ann', password: 'first-password' })).body.data;

    const list = await call('GET', '/api/auth/sessions', undefined, a.token);
    expect(list.body.data).toHaveLength(2);
    expect(list.body.data.filter((s: { current: boolean }) => s.current)).toHaveLength(1);

    expect(await call('POST', '/api/auth/password', { currentPassword: 'wrong-password', newPassword: 'second-password' }, a.token)).toMatchObject({ status: 401, body: { message: 'Current password is wrong' } });
    expect((await call('POST', '/api/auth/password', { currentPassword: 'first-password', newPassword: 'short' }, a.token)).body.message).toMatch(/Password too weak/);
    expect((await call('POST', '/api/auth/password', { currentPassword: 'first-password' }, a.token)).status).toBe(400);
    const changed = await call('POST', '/api/auth/password', { currentPassword: 'first-password', newPassword: 'second-password' }, a.token);
    expect(changed).toMatchObject({ status: 200, body: { success: true, data: { sessionsEnded: 1 } } });

    expect((await call('GET', '/api/auth/me', undefined, a.token)).status).toBe(200);
    expect((await call('GET', '/api/auth/me', undefined, b.token)).body).toMatchObject({ statusCode: 401, reason: 'session_revoked' });
    expect((await call('POST', '/api/auth/refresh', { refreshToken: b.refreshToken })).status).toBe(401);
    expect((await login({ username: 'ann', password: 'first-password' })).status).toBe(401);
    expect((await login({ username: 'ann', password: 'second-password' })).status).toBe(200);
  });

  it('ends one of your own sessions but answers 404 for someone else\'s', async () => {
    const ann = await signIn(svc, 'ann');
    const other = await signIn(svc, 'ann');
    const bob = await signIn(svc, 'bob');
    const annSessions = (await call('GET', '/api/auth/sessions', undefined, ann.token)).body.data as { id: string; current: boolean }[];
    const otherId = annSessions.find((s) => !s.current)!.id;
    expect((await call('DELETE', `/api/auth/sessions/${otherId}`, undefined, bob.token)).status).toBe(404);
    expect((await call('GET', '/api/auth/me', undefined, other.token)).status).toBe(200);
    expect((await call('DELETE', `/api/auth/sessions/${otherId}`, undefined, ann.token)).status).toBe(200);
    expect((await call('GET', '/api/auth/me', undefined, other.token)).status).toBe(401);
    expect((await call('DELETE', `/api/auth/sessions/${otherId}`, undefined, ann.token)).status).toBe(404);
  });

  it('creates API keys shown once, limited to their scopes, revocable, and never able to mint more', async () => {
    const admin = await signInAdmin(svc);
    const created = await call('POST', '/api/auth/api-keys', { name: 'ci', permissions: ['user.read'] }, admin.token);
    expect(created.status).toBe(201);
    const key = created.body.data.key as string;
    expect(key).toMatch(/^gak_/);
    expect(created.body.data).toMatchObject({ name: 'ci', permissions: ['user.read'], prefix: key.slice(0, 10) });

    const listed = await call('GET', '/api/auth/api-keys', undefined, admin.token);
    expect(listed.body.data).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    // Scoped: an administrator's key with user.read reads users and nothing else.
    expect((await call('GET', '/api/admin/users', undefined, key)).status).toBe(200);
    const denied = await call('POST', '/api/admin/users', { email: 'x@example.com', username: 'xx', password: 'password-123' }, key);
    expect(denied).toMatchObject({ status: 403, body: { reason: 'missing_permission' } });
    expect((await call('GET', '/api/admin/roles', undefined, key)).status).toBe(403);
    expect((await call('GET', '/api/auth/me', undefined, key)).body.data).toMatchObject({ via: 'apikey', permissions: ['user.read'] });
    // A key cannot create keys, change the password, touch 2FA or get purpose tokens.
    expect((await call('POST', '/api/auth/api-keys', { name: 'wider', permissions: ['*'] }, key)).body).toMatchObject({ statusCode: 403, reason: 'session_required' });
    expect((await call('POST', '/api/auth/password', { currentPassword: 'x', newPassword: 'yyyyyyyyy' }, key)).status).toBe(403);
    expect((await call('POST', '/api/auth/2fa/enroll', undefined, key)).status).toBe(403);
    expect((await call('POST', '/api/auth/tokens', { purpose: 'websocket' }, key)).status).toBe(403);

    // On the resource API too (its own permissions, resource.read/write), refused in its own dialect.
    const reader = await call('POST', '/api/auth/api-keys', { name: 'get', permissions: ['resource.read'] }, admin.token);
    expect((await call('GET', '/k8s/apis/gantry.dev/v1alpha1/gamenodes', undefined, reader.body.data.key)).status).toBe(200);
    expect((await call('GET', '/k8s/apis/gantry.dev/v1alpha1/gamenodes', undefined, key)).body).toMatchObject({ kind: 'Status', code: 403 });
    expect((await call('POST', '/k8s/apis/gantry.dev/v1alpha1/gamenodes', { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'n1' }, spec: { address: '10.0.0.1' } }, reader.body.data.key)).status).toBe(403);

    // Bad input.
    expect((await call('POST', '/api/auth/api-keys', { name: 'x', permissions: ['server.explode'] }, admin.token)).body.message).toBe('unknown permission "server.explode"');
    expect((await call('POST', '/api/auth/api-keys', { name: 'x', permissions: [], expiresAt: '2020-01-01T00:00:00Z' }, admin.token)).body.message).toBe('expiresAt must be in the future');
    const user = await signIn(svc, 'plain');
    expect((await call('POST', '/api/auth/api-keys', { name: 'x', permissions: ['user.delete'] }, user.token)).body.message).toMatch(/you do not hold user\.delete/);

    // Expiry and revocation.
    const short = await call('POST', '/api/auth/api-keys', { name: 'short', permissions: ['user.read'], expiresAt: new Date(clock + 60_000).toISOString() }, admin.token);
    expect((await call('GET', '/api/admin/users', undefined, short.body.data.key)).status).toBe(200);
    clock += 120_000;
    expect((await call('GET', '/api/admin/users', undefined, short.body.data.key)).status).toBe(401);
    expect((await call('DELETE', `/api/auth/api-keys/${created.body.data.id}`, undefined, user.token)).status).toBe(404);
    expect((await call('DELETE', `/api/auth/api-keys/${created.body.data.id}`, undefined, admin.token)).status).toBe(200);
    expect((await call('GET', '/api/admin/users', undefined, key)).status).toBe(401);
  });

  it('enrols TOTP, then login needs a code; each code and each recovery code is accepted once', async () => {
    await svc.accounts.createUser({ email: 'tia@example.com', username: 'tia', password: 'tia-password' });
    const s = (await login({ username: 'tia', password: 'tia-password' })).body.data;
    expect((await call('POST', '/api/auth/2fa/verify', { code: '123456' }, s.token)).body.reason).toBe('totp_not_enrolled');

    const enrol = await call('POST', '/api/auth/2fa/enroll', undefined, s.token);
    expect(enrol.status).toBe(200);
    const { secret, otpauthUri } = enrol.body.data as { secret: string; otpauthUri: string };
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Gantry:tia%40example\.com\?/);
    expect(otpauthUri).toContain(`secret=${secret}`);
    // Not active until verified: login still works without a code.
    expect((await login({ username: 'tia', password: 'tia-password' })).status).toBe(200);

    const totp = totpFor({ email: 'tia@example.com' }, secret);
    const code = () => totp.generate({ timestamp: clock });
    expect((await call('POST', '/api/auth/2fa/verify', { code: '000000' === code() ? '111111' : '000000' }, s.token)).body.reason).toBe('totp_invalid');
    const verified = await call('POST', '/api/auth/2fa/verify', { code: code() }, s.token);
    expect(verified.status).toBe(200);
    const recovery = verified.body.data.recoveryCodes as string[];
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    expect((await call('GET', '/api/auth/me', undefined, s.token)).body.data.totpEnabled).toBe(true);
    expect((await call('POST', '/api/auth/2fa/enroll', undefined, s.token)).status).toBe(409);

    expect((await login({ username: 'tia', password: 'tia-password' })).body).toMatchObject({ statusCode: 401, reason: 'totp_required' });
    // The code used to verify is spent: replaying it within its 30 s is refused.
    expect((await login({ username: 'tia', password: 'tia-password', totpCode: code() })).body).toMatchObject({ statusCode: 401, reason: 'totp_invalid' });
    clock += 30_000;
    const fresh = code();
    expect((await login({ username: 'tia', password: 'tia-password', totpCode: fresh })).status).toBe(200);
    expect((await login({ username: 'tia', password: 'tia-password', totpCode: fresh })).body.reason).toBe('totp_invalid');
    // Wrong password with a right code is still refused, without burning anything useful.
    clock += 30_000;
    expect((await login({ username: 'tia', password: 'nope-nope', totpCode: code() })).status).toBe(401);

    expect((await login({ username: 'tia', password: 'tia-password', recoveryCode: recovery[0] })).status).toBe(200);
    expect((await login({ username: 'tia', password: 'tia-password', recoveryCode: recovery[0] })).body.reason).toBe('recovery_code_invalid');
    expect((await login({ username: 'tia', password: 'tia-password', recoveryCode: recovery[1]!.toUpperCase() })).status).toBe(200);

    // Disable needs the password and a code.
    clock += 30_000;
    expect((await call('POST', '/api/auth/2fa/disable', { password: 'wrong-password', code: code() }, s.token)).status).toBe(401);
    expect((await call('POST', '/api/auth/2fa/disable', { password: 'tia-password', code: '12345x' }, s.token)).status).toBe(401);
    expect((await call('POST', '/api/auth/2fa/disable', { password: 'tia-password', code: recovery[2] }, s.token)).status).toBe(200);
    expect((await call('POST', '/api/auth/2fa/disable', { password: 'tia-password', code: recovery[3] }, s.token)).body.reason).toBe('totp_not_enabled');
    expect((await login({ username: 'tia', password: 'tia-password' })).status).toBe(200);
    expect(svc.accounts.totpState((await svc.accounts.findUser('tia'))!.id)).toMatchObject({ enabled: false, secret: null, recoveryCodes: 0 });
  });

  it('issues purpose tokens that only their own channel accepts, scoped to a server the caller may use', async () => {
    const ann = await signIn(svc, 'ann');
    const srv = await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'mine', namespace: 'default' }, spec: { templateRef: 't', owner: ann.userId } });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'theirs', namespace: 'default' }, spec: { templateRef: 't', owner: 'someone-else' } });
    expect(srv.metadata.name).toBe('mine');

    const ws = await call('POST', '/api/auth/tokens', { purpose: 'websocket', serverId: 'mine' }, ann.token);
    expect(ws.body.data).toMatchObject({ purpose: 'websocket', serverId: 'mine' });
    expect(Date.parse(ws.body.data.expiresAt) - clock).toBe(60_000);
    expect((await svc.auth.fromToken(ws.body.data.token, 'websocket')).userId).toBe(ann.userId);
    expect((await call('GET', '/api/auth/me', undefined, ws.body.data.token)).body.reason).toBe('token_wrong_purpose');

    const dl = await call('POST', '/api/auth/tokens', { purpose: 'download', serverId: 'mine', path: '/server.properties' }, ann.token);
    const claims = await svc.auth.tokens.verify(dl.body.data.token, 'download');
    expect(claims.scope).toEqual({ serverId: 'mine', path: '/server.properties' });
    await expect(svc.auth.fromToken(dl.body.data.token, 'sftp')).rejects.toMatchObject({ reason: 'token_wrong_purpose' });

    expect((await call('POST', '/api/auth/tokens', { purpose: 'sftp', serverId: 'theirs' }, ann.token)).status).toBe(404);
    expect((await call('POST', '/api/auth/tokens', { purpose: 'download', serverId: 'mine' }, ann.token)).body.message).toMatch(/needs serverId and path/);
    expect((await call('POST', '/api/auth/tokens', { purpose: 'access' }, ann.token)).body.message).toMatch(/purpose: must be one of "websocket", "sftp", "download"/);
    expect((await call('POST', '/api/auth/tokens', { purpose: 'websocket', path: '/x' }, ann.token)).status).toBe(400);
  });
});
