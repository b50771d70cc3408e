// Authentication through the real app and a real SQLite file: setup, register, login, me, refresh
// rotation (reuse revokes the family), logout, and what a bad token gets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { ApiServices } from '../../api/http/services.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin } from '../helpers/api.ts';

describe('auth API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  beforeEach(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 1000 } } });
    ({ env, svc } = api);
  });
  afterEach(() => env.close());

  const call = (...a: Parameters<ApiApp['call']>) => api.call(...a);

  it('runs first-run setup once, then register, login, me, refresh and logout', async () => {
    expect((await call('GET', '/api/setup/status')).body).toEqual({ success: true, data: { needsSetup: true } });
    const setup = await call('POST', '/api/auth/setup', { email: 'root@example.com', username: 'root', password: 'hunter22hunter' });
    expect(setup.status).toBe(201);
    expect(setup.body.data.permissions).toContain('server.create');
    expect((await call('GET', '/api/setup/status')).body.data.needsSetup).toBe(false);
    const again = await call('POST', '/api/auth/setup', { email: 'x@example.com', username: 'x', password: 'hunter22hunter' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'Conflict', statusCode: 409 });

    const reg = await call('POST', '/api/auth/register', { email: 'user@example.com', username: 'johndoe', password: 'SecurePassword123!' });
    expect(reg.status).toBe(200);
    expect(reg.body).toMatchObject({ success: true, data: { email: 'user@example.com', username: 'johndoe' } });
    expect(typeof reg.body.data.token).toBe('string');
    const dup = await call('POST', '/api/auth/register', { email: 'USER@example.com', username: 'other', password: 'SecurePassword123!' });
    expect(dup).toMatchObject({ status: 400, body: { message: 'Email already exists' } });
    expect((await call('POST', '/api/auth/register', { email: 'nope', username: 'abc', password: 'SecurePassword123!' })).body.message).toBe('Invalid email format');
    expect((await call('POST', '/api/auth/register', { email: 'a@b.cd', username: 'abc', password: 'short' })).body.message).toMatch(/Password too weak/);

    const bad = await call('POST', '/api/auth/login', { email: 'user@example.com', password: 'wrong-password' });
    expect(bad).toMatchObject({ status: 401, body: { message: 'Invalid credentials' } });
    const login = await call('POST', '/api/auth/login', { email: 'user@example.com', password: 'SecurePassword123!' });
    expect(login.status).toBe(200);
    const { token, refreshToken } = login.body.data;
    const me = await call('GET', '/api/auth/me', undefined, token);
    expect(me.body.data).toMatchObject({ email: 'user@example.com', username: 'johndoe', roles: [{ id: 'user' }] });

    const r1 = await call('POST', '/api/auth/refresh', { refreshToken });
    expect(r1.status).toBe(200);
    expect(r1.body.data.refreshToken).not.toBe(refreshToken);
    expect((await call('GET', '/api/auth/me', undefined, r1.body.data.token)).status).toBe(200);
    // Reusing the spent token revokes the family: the new tokens die too.
    const reuse = await call('POST', '/api/auth/refresh', { refreshToken });
    expect(reuse).toMatchObject({ status: 401, body: { reason: 'token_reused' } });
    expect((await call('GET', '/api/auth/me', undefined, r1.body.data.token)).status).toBe(401);
    expect((await call('POST', '/api/auth/refresh', { refreshToken: r1.body.data.refreshToken })).status).toBe(401);

    const l2 = await call('POST', '/api/auth/login', { username: 'johndoe', password: 'SecurePassword123!' });
    expect((await call('POST', '/api/auth/logout', undefined, l2.body.data.token)).status).toBe(200);
    const after = await call('GET', '/api/auth/me', undefined, l2.body.data.token);
    expect(after).toMatchObject({ status: 401, body: { reason: 'session_revoked' } });
  });

  it('refuses forged, expired, unsigned and wrong-purpose tokens with a 401 that says why', async () => {
    const user = await svc.accounts.createUser({ email: 'a@example.com', username: 'alice', password: 'password-123' });
    const { session } = await svc.accounts.createSession(user.id);
    const forged = await new SignJWT({ userId: user.id, purpose: 'access', sid: session.id }).setProtectedHeader({ alg: 'HS256' }).setIssuer('gantry').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(32)));
    expect((await call('GET', '/api/auth/me', undefined, forged)).body).toMatchObject({ statusCode: 401, message: 'Invalid token: bad signature' });
    const none = new UnsecuredJWT({ userId: user.id, purpose: 'access', sid: session.id }).setIssuer('gantry').setIssuedAt().setExpirationTime('1h').encode();
    expect((await call('GET', '/api/auth/me', undefined, none)).body.message).toMatch(/algorithm not allowed|Invalid token/);
    const expired = await svc.auth.tokens.sign('access', { userId: user.id, sid: session.id }, -10);
    expect((await call('GET', '/api/auth/me', undefined, expired.token)).body).toMatchObject({ statusCode: 401, message: 'Token expired' });
    const ws = await svc.auth.tokens.sign('websocket', { userId: user.id, sid: session.id });
    expect((await call('GET', '/api/auth/me', undefined, ws.token)).body).toMatchObject({ statusCode: 401, reason: 'token_wrong_purpose' });
    expect((await call('GET', '/api/auth/me')).body).toMatchObject({ statusCode: 401, reason: 'no_token' });
    expect((await call('GET', '/api/auth/me', undefined, 'gak_nonsense')).status).toBe(401);
  });

  it('limits the auth routes to the configured rate per IP with the documented 429 body and headers', async () => {
    svc.limits.authPerMinute = 3;
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await call('POST', '/api/auth/login', { email: 'nobody@example.com', password: 'whatever-123' });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(last!.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(last!.body.message).toMatch(/^Rate limit exceeded\. Try again in \d+ seconds\.$/);
    expect(last!.headers.get('x-ratelimit-limit')).toBe('3');
    expect(last!.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('keeps access tokens short enough to be an SFTP password (OpenSSH cuts at 1023 bytes), even an administrator\'s', async () => {
    const admin = await signInAdmin(svc);
    expect(admin.token.length).toBeLessThan(1023);
    const payload = JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString()) as { permissions: string[]; purpose: string };
    expect(payload).toMatchObject({ purpose: 'access', permissions: ['*'] });
  });

  it('limits other routes per user, exempts rate-limit.bypass, and keeps users apart', async () => {
    svc.limits.userPerMinute = 2;
    const a = await signIn(svc, 'limited');
    const b = await signIn(svc, 'other');
    const admin = await signInAdmin(svc);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('GET', '/api/auth/me', undefined, a.token)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await call('GET', '/api/auth/me', undefined, b.token)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await call('GET', '/api/auth/me', undefined, admin.token)).status).toBe(200);
  });

  it('records mutating calls in the audit log, refusals included, with user, action, status and IP', async () => {
    await call('POST', '/api/auth/register', { email: 'eve@example.com', username: 'eve', password: 'SecurePassword123!' });
    await call('POST', '/api/auth/login', { email: 'eve@example.com', password: 'wrong-wrong' });
    await call('POST', '/api/auth/login', { email: 'eve@example.com', password: 'SecurePassword123!' });
    await new Promise((r) => setTimeout(r, 50));
    const entries = await svc.audit.list({ action: 'auth.*' });
    const summary = entries.map((e) => `${e.action}:${e.status}`).reverse();
    expect(summary).toEqual(['auth.register:200', 'auth.login:401', 'auth.login:200']);
    const eve = svc.accounts.findUser('eve')!;
    expect(entries[0]).toMatchObject({ resourceType: 'user', resourceId: eve.id, metadata: { login: 'eve@example.com', path: '/api/auth/login' } });
    expect(await svc.audit.list({ action: 'auth.login', limit: 1 })).toHaveLength(1);
  });
});
