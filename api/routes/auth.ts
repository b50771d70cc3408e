// Authentication: first-run setup, register, login (with the second factor when enrolled), me,
// refresh (rotating), logout. Tokens: api/auth/tokens.ts; accounts: api/auth/accounts.ts.
import type { Context } from 'hono';
import { ADMIN_ROLE, type User } from '../auth/accounts.ts';
import { ApiError, conflict } from '../http/errors.ts';
import { ok, route, type RouteCtx, type RouteSpec } from '../http/route.ts';
import type { ApiServices } from '../http/services.ts';
import { expandGrants } from '../rbac/permissions.ts';
import { refreshSession, signIn, signOut, startSession, type SessionTokens } from '../ops/accounts.ts';

/** The account fields as request bodies take them (register, setup, login, admin user create/change). */
export const credentialProps = {
  email: { type: 'string', maxLength: 320 },
  username: { type: 'string', maxLength: 32 },
  password: { type: 'string', maxLength: 1024 },
} as const;

const credentials = {
  type: 'object',
  properties: credentialProps,
  required: ['email', 'username', 'password'],
} as const;

/** Answers a new session as Catalyst's login does, plus the refresh token and expiry. */
export function sessionBody(svc: ApiServices, t: SessionTokens): Record<string, unknown> {
  return {
    userId: t.user.id,
    email: t.user.email,
    username: t.user.username,
    token: t.token,
    expiresAt: t.expiresAt,
    refreshToken: t.refreshToken,
    refreshExpiresAt: t.refreshExpiresAt,
    permissions: expandGrants(svc.accounts.grantsOf(t.user.id)),
  };
}

/** Starts a session and answers as Catalyst's login does. */
export async function sessionResponse(c: Context, svc: ApiServices, user: User, ip: string | undefined, status = 200): Promise<Response> {
  const tokens = await startSession(svc, user, { ip, userAgent: c.req.header('user-agent') });
  c.header('Cache-Control', 'no-store');
  return ok(c, sessionBody(svc, tokens), status);
}

export const authRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/setup/status',
    summary: 'Whether first-run setup is needed (no user exists yet)',
    tag: 'auth',
    access: 'public',
    handler: ({ c, svc }) => ok(c, { needsSetup: svc.accounts.userCount() === 0 }),
  }),
  route({
    method: 'POST',
    path: '/api/auth/setup',
    summary: 'Create the first user, an administrator (only while no user exists)',
    tag: 'auth',
    access: 'public',
    rateLimit: 'auth',
    audit: 'auth.setup',
    body: credentials,
    responses: { 201: 'the administrator, signed in', 409: 'setup already done' },
    handler: async ({ c, svc, body, ip, audit }) => {
      if (svc.accounts.userCount() > 0) throw conflict('Setup already completed: log in instead', 'setup_done');
      const user = await svc.accounts.createUser({ ...body, roleIds: [ADMIN_ROLE] });
      // Two setup calls racing: the second user created also passed the check; demote it.
      if (svc.accounts.userCount() > 1) {
        await svc.accounts.deleteUser(user.id).catch(() => {});
        throw conflict('Setup already completed: log in instead', 'setup_done');
      }
      audit.resourceType = 'user';
      audit.resourceId = user.id;
      return sessionResponse(c, svc, user, ip, 201);
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/register',
    summary: 'Create an account (role "user") and sign in',
    tag: 'auth',
    access: 'public',
    rateLimit: 'auth',
    audit: 'auth.register',
    body: credentials,
    responses: { 200: 'the new user, signed in', 400: 'email taken, invalid email, weak password' },
    handler: async ({ c, svc, body, ip, audit }) => {
      const user = await svc.accounts.createUser(body);
      audit.resourceType = 'user';
      audit.resourceId = user.id;
      return sessionResponse(c, svc, user, ip);
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/login',
    summary: 'Sign in with email (or username) and password; totpCode or recoveryCode when 2FA is on',
    tag: 'auth',
    access: 'public',
    rateLimit: 'auth',
    audit: 'auth.login',
    body: {
      type: 'object',
      properties: {
        ...credentialProps,
        totpCode: { type: 'string', maxLength: 16 },
        recoveryCode: { type: 'string', maxLength: 64 },
      },
      required: ['password'],
    },
    responses: { 200: 'signed in', 401: 'Invalid credentials, or a second factor is required' },
    handler: async ({ c, svc, body, ip, audit }: RouteCtx<{ email?: string; username?: string; password: string; totpCode?: string; recoveryCode?: string }>) => {
      const login = body.email ?? body.username ?? '';
      audit.metadata.login = login.slice(0, 320);
      const tokens = await signIn(svc, { ...body, login }, { ip, userAgent: c.req.header('user-agent') }, (user) => {
        audit.resourceType = 'user';
        audit.resourceId = user.id;
      });
      c.header('Cache-Control', 'no-store');
      return ok(c, sessionBody(svc, tokens));
    },
  }),
  route({
    method: 'GET',
    path: '/api/auth/me',
    summary: 'The signed-in user, with roles and effective permissions',
    tag: 'auth',
    access: 'authenticated',
    handler: ({ c, svc, principal }) => {
      const user = svc.accounts.requireUser(principal!.userId);
      return ok(c, {
        id: user.id,
        email: user.email,
        username: user.username,
        createdAt: user.createdAt,
        totpEnabled: user.totpEnabled,
        roles: svc.accounts.rolesOfUser(user.id).map((r) => ({ id: r.id, name: r.name })),
        permissions: expandGrants(principal!.grants).filter((p) => !principal!.scopes || principal!.scopes.some((s) => s === '*' || s === p || (s.endsWith('.*') && p.startsWith(s.slice(0, -1))))),
        via: principal!.via,
      });
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/refresh',
    summary: 'Exchange a refresh token for a new access token and refresh token (the old one is spent)',
    tag: 'auth',
    access: 'public',
    rateLimit: 'auth',
    audit: false,
    body: { type: 'object', properties: { refreshToken: { type: 'string', maxLength: 200 } }, required: ['refreshToken'] },
    responses: { 200: 'new tokens', 401: 'invalid, expired or reused refresh token (reuse revokes the session)' },
    handler: async ({ c, svc, body }) => {
      const t = await refreshSession(svc, body.refreshToken);
      c.header('Cache-Control', 'no-store');
      return ok(c, { userId: t.user.id, email: t.user.email, username: t.user.username, token: t.token, expiresAt: t.expiresAt, refreshToken: t.refreshToken, refreshExpiresAt: t.refreshExpiresAt });
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/logout',
    summary: 'End this session: its access and refresh tokens stop working',
    tag: 'auth',
    access: 'authenticated',
    audit: 'auth.logout',
    handler: async ({ c, svc, principal }) => {
      if (!principal!.sessionId) throw new ApiError(400, 'this credential is not a login session (API keys are revoked with DELETE /api/auth/api-keys/:id)', 'not_a_session');
      await signOut(svc, principal!);
      return ok(c, undefined, 200, { message: 'Logged out' });
    },
  }),
];
