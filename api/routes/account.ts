// The signed-in user's own account: password change, sessions, API keys, TOTP two-factor, and the
// short-lived purpose tokens that other channels accept (websocket, SFTP password, download link).
//
// What changes the account itself (password, 2FA, keys) needs a login session: an API key is a scoped
// credential for automation, and letting it mint keys or turn off 2FA would let a leaked key outgrow
// its scopes.
import { ApiError, badRequest, conflict, forbidden, notFound } from '../http/errors.ts';
import { ok, route, type RouteCtx, type RouteSpec } from '../http/route.ts';
import type { Principal } from '../rbac/access.ts';
import { checkTotpCode, newRecoveryCodes, newTotpSecret, totpFor } from '../auth/totp.ts';
import type { TokenPurpose } from '../auth/tokens.ts';
import type { User } from '../auth/accounts.ts';
import type { ApiServices } from '../http/services.ts';

function requireSession(principal: Principal | undefined, what: string): Principal & { sessionId: string } {
  if (!principal || principal.via !== 'session' || !principal.sessionId) {
    throw forbidden(`${what} needs a login session (POST /api/auth/login); an API key cannot do it`, 'session_required');
  }
  return principal as Principal & { sessionId: string };
}

/** The signed-in user behind a login session, recorded as the audited resource. */
function sessionUser(ctx: RouteCtx, what: string): { p: Principal & { sessionId: string }; user: User } {
  const p = requireSession(ctx.principal, what);
  ctx.audit.resourceType = 'user';
  ctx.audit.resourceId = p.userId;
  return { p, user: ctx.svc.accounts.requireUser(p.userId) };
}

/** A password the caller must re-enter; a wrong one is a 401 with `message`. */
async function requirePassword(svc: ApiServices, user: User, password: string, message: string): Promise<void> {
  const checked = await svc.accounts.checkPassword(user.username, password);
  if (!checked || checked.id !== user.id) throw new ApiError(401, message, 'invalid_credentials');
}

/** Purpose → the permission the caller must hold on the named server to be given such a token. */
const PURPOSE_PERMISSION: Record<Exclude<TokenPurpose, 'access'>, string> = {
  websocket: 'server.read',
  sftp: 'file.read',
  download: 'file.read',
};

export const accountRoutes: RouteSpec[] = [
  route({
    method: 'POST',
    path: '/api/auth/password',
    summary: 'Change your password; every other session of yours ends (this one stays)',
    tag: 'auth',
    access: 'authenticated',
    // The current password is guessable here as at login, so the same per-IP bucket applies.
    rateLimit: 'auth',
    audit: 'auth.password',
    body: {
      type: 'object',
      properties: { currentPassword: { type: 'string', maxLength: 1024 }, newPassword: { type: 'string', maxLength: 1024 } },
      required: ['currentPassword', 'newPassword'],
      additionalProperties: false,
    },
    responses: { 200: 'changed; other sessions revoked', 400: 'weak new password', 401: 'current password wrong' },
    handler: async (ctx: RouteCtx<{ currentPassword: string; newPassword: string }>) => {
      const { c, svc, body, audit } = ctx;
      const { p, user } = sessionUser(ctx, 'changing the password');
      await requirePassword(svc, user, body.currentPassword, 'Current password is wrong');
      if (body.currentPassword === body.newPassword) throw badRequest('the new password is the same as the current one', 'password_unchanged');
      await svc.accounts.updateUser(user.id, { password: body.newPassword });
      const ended = await svc.accounts.revokeAllSessions(user.id, 'password changed', p.sessionId);
      audit.metadata.sessionsEnded = ended;
      return ok(c, { sessionsEnded: ended }, 200, { message: 'Password changed' });
    },
  }),

  // ---- sessions ----------------------------------------------------------------------------------------
  route({
    method: 'GET',
    path: '/api/auth/sessions',
    summary: 'Your active login sessions (devices)',
    tag: 'auth',
    access: 'authenticated',
    handler: ({ c, svc, principal }) => {
      const sessions = svc.accounts.listSessions(principal!.userId)
        .sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt))
        .map((s) => ({ id: s.id, createdAt: s.createdAt, lastUsedAt: s.lastUsedAt, expiresAt: s.expiresAt, ip: s.ip ?? null, userAgent: s.userAgent ?? null, current: s.id === principal!.sessionId }));
      return ok(c, sessions);
    },
  }),
  route({
    method: 'DELETE',
    path: '/api/auth/sessions/:sessionId',
    summary: 'End one of your sessions (its access and refresh tokens stop working)',
    tag: 'auth',
    access: 'authenticated',
    audit: 'auth.session.revoke',
    responses: { 200: 'ended', 404: 'no such session of yours' },
    handler: async ({ c, svc, principal, params, audit }) => {
      const s = svc.accounts.getSession(params.sessionId!);
      // Someone else's session answers like a missing one: session ids are not to be probed.
      if (!s || s.userId !== principal!.userId) throw notFound(`session "${params.sessionId}" not found`);
      audit.resourceType = 'session';
      audit.resourceId = s.id;
      await svc.accounts.revokeSession(s.id, 'revoked by user');
      return ok(c, undefined, 200, { message: 'Session ended' });
    },
  }),

  // ---- API keys ----------------------------------------------------------------------------------------
  route({
    method: 'POST',
    path: '/api/auth/api-keys',
    summary: 'Create an API key limited to the given permissions (the key is shown only in this answer)',
    tag: 'auth',
    access: 'authenticated',
    audit: 'auth.apikey.create',
    body: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 100 },
        permissions: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 200 },
        expiresAt: { type: ['string', 'null'], format: 'date-time' },
      },
      required: ['name', 'permissions'],
      additionalProperties: false,
    },
    responses: { 201: 'the key (shown once) and its record', 400: 'unknown permission, one you do not hold, or a past expiry' },
    handler: async ({ c, svc, principal, body, audit }) => {
      const p = requireSession(principal, 'creating an API key');
      const { key, apiKey } = await svc.accounts.createApiKey(p.userId, body);
      audit.resourceType = 'api_key';
      audit.resourceId = apiKey.id;
      audit.metadata.permissions = apiKey.permissions;
      c.header('Cache-Control', 'no-store');
      return ok(c, { ...apiKey, key }, 201, { message: 'Store the key now: it is not shown again' });
    },
  }),
  route({
    method: 'GET',
    path: '/api/auth/api-keys',
    summary: 'Your API keys (without their secrets)',
    tag: 'auth',
    access: 'authenticated',
    handler: ({ c, svc, principal }) => ok(c, svc.accounts.listApiKeys(principal!.userId)),
  }),
  route({
    method: 'DELETE',
    path: '/api/auth/api-keys/:keyId',
    summary: 'Revoke one of your API keys (it stops working at once)',
    tag: 'auth',
    access: 'authenticated',
    audit: 'auth.apikey.revoke',
    responses: { 200: 'revoked', 404: 'no such key of yours' },
    handler: async ({ c, svc, principal, params, audit }) => {
      audit.resourceType = 'api_key';
      audit.resourceId = params.keyId;
      // A key may revoke itself (or a sibling): taking rights away is always safe.
      await svc.accounts.revokeApiKey(principal!.userId, params.keyId!);
      return ok(c, undefined, 200, { message: 'API key revoked' });
    },
  }),

  // ---- TOTP two-factor ---------------------------------------------------------------------------------
  route({
    method: 'POST',
    path: '/api/auth/2fa/enroll',
    summary: 'Start two-factor enrolment: a new TOTP secret and otpauth:// URI (not active until verified)',
    tag: 'auth',
    access: 'authenticated',
    audit: 'auth.2fa.enroll',
    responses: { 200: 'secret and otpauthUri', 409: 'two-factor is already on' },
    handler: async ({ c, svc, principal, audit }) => {
      const p = requireSession(principal, 'enrolling two-factor');
      const user = svc.accounts.requireUser(p.userId);
      if (svc.accounts.totpState(user.id).enabled) throw conflict('Two-factor is already enabled: disable it first to enrol a new device', 'totp_enabled');
      const secret = newTotpSecret();
      // Enrolling again before verifying replaces the pending secret: the last QR code scanned wins.
      await svc.accounts.setTotp(user.id, { secret, enabled: false });
      audit.resourceType = 'user';
      audit.resourceId = user.id;
      c.header('Cache-Control', 'no-store');
      return ok(c, { secret, otpauthUri: totpFor(user, secret).toString(), digits: 6, period: 30, algorithm: 'SHA1' });
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/2fa/verify',
    summary: 'Confirm enrolment with a current code: two-factor turns on; 10 recovery codes are shown once',
    tag: 'auth',
    access: 'authenticated',
    rateLimit: 'auth',
    audit: 'auth.2fa.verify',
    body: { type: 'object', properties: { code: { type: 'string', maxLength: 16 } }, required: ['code'], additionalProperties: false },
    responses: { 200: 'enabled; recoveryCodes', 400: 'no enrolment pending, or a wrong code', 409: 'already enabled' },
    handler: async (ctx) => {
      const { c, svc, body } = ctx;
      const { user } = sessionUser(ctx, 'verifying two-factor');
      const state = svc.accounts.totpState(user.id);
      if (state.enabled) throw conflict('Two-factor is already enabled', 'totp_enabled');
      if (!state.secret) throw badRequest('No two-factor enrolment is pending: call POST /api/auth/2fa/enroll first', 'totp_not_enrolled');
      if (!(await checkTotpCode(svc.accounts, user, state.secret, body.code.trim(), svc.now()))) throw badRequest('Invalid or already used two-factor code', 'totp_invalid');
      const recoveryCodes = newRecoveryCodes(10);
      await svc.accounts.setTotp(user.id, { secret: state.secret, enabled: true, recoveryCodes });
      c.header('Cache-Control', 'no-store');
      return ok(c, { enabled: true, recoveryCodes }, 200, { message: 'Two-factor enabled. Store the recovery codes now: they are not shown again' });
    },
  }),
  route({
    method: 'POST',
    path: '/api/auth/2fa/disable',
    summary: 'Turn two-factor off: needs your password and a current code (or a recovery code)',
    tag: 'auth',
    access: 'authenticated',
    rateLimit: 'auth',
    audit: 'auth.2fa.disable',
    body: {
      type: 'object',
      properties: { password: { type: 'string', maxLength: 1024 }, code: { type: 'string', maxLength: 64 } },
      required: ['password', 'code'],
      additionalProperties: false,
    },
    responses: { 200: 'disabled', 400: 'two-factor is not on', 401: 'wrong password or code' },
    handler: async (ctx) => {
      const { c, svc, body } = ctx;
      const { user } = sessionUser(ctx, 'disabling two-factor');
      const state = svc.accounts.totpState(user.id);
      if (!state.enabled || !state.secret) throw badRequest('Two-factor is not enabled', 'totp_not_enabled');
      await requirePassword(svc, user, body.password, 'Password is wrong');
      const code = body.code.trim();
      const valid = /^\d{6}$/.test(code)
        ? await checkTotpCode(svc.accounts, user, state.secret, code, svc.now())
        : await svc.accounts.useRecoveryCode(user.id, code);
      if (!valid) throw new ApiError(401, 'Invalid or already used two-factor code', 'totp_invalid');
      await svc.accounts.setTotp(user.id, { secret: null, enabled: false, recoveryCodes: [] });
      return ok(c, { enabled: false }, 200, { message: 'Two-factor disabled' });
    },
  }),

  // ---- purpose tokens --------------------------------------------------------------------------------
  route({
    method: 'POST',
    path: '/api/auth/tokens',
    summary: 'A short-lived token for one purpose: websocket (?token=), sftp (the SFTP password) or download (a link to one file)',
    tag: 'auth',
    access: 'authenticated',
    audit: false,
    body: {
      type: 'object',
      properties: {
        purpose: { type: 'string', enum: ['websocket', 'sftp', 'download'] },
        serverId: { type: 'string', minLength: 1, maxLength: 253 },
        path: { type: 'string', minLength: 1, maxLength: 4096 },
        backupId: { type: 'string', minLength: 1, maxLength: 253, description: 'A download token for this backup\'s archive (instead of path)' },
      },
      required: ['purpose'],
      additionalProperties: false,
    },
    responses: { 200: 'token, purpose, expiresAt', 400: 'download without serverId and path (or backupId)', 403: 'API keys call the API directly', 404: 'server not found' },
    handler: async ({ c, svc, principal, body }: RouteCtx<{ purpose: Exclude<TokenPurpose, 'access'>; serverId?: string; path?: string; backupId?: string }>) => {
      // A purpose token carries the user's full grants, not a key's scopes, and outlives the key's
      // revocation: handing one to a key would widen it.
      const p = requireSession(principal, 'issuing a purpose token');
      const { purpose, serverId, path, backupId } = body;
      if (purpose === 'download' && (!serverId || (!path === !backupId))) throw badRequest('a download token needs serverId and path (the one file it opens), or serverId and backupId (the one backup archive)');
      if (path !== undefined && (purpose !== 'download' || path.includes('\0'))) throw badRequest(purpose !== 'download' ? 'path applies to download tokens only' : 'path must not contain NUL');
      if (backupId !== undefined && purpose !== 'download') throw badRequest('backupId applies to download tokens only');
      const scope: Record<string, string> = {};
      if (serverId) {
        const server = await svc.servers.find(serverId);
        if (!server) throw notFound(`server "${serverId}" not found`);
        svc.access.check(p, server, backupId ? 'backup.read' : PURPOSE_PERMISSION[purpose]);
        scope.serverId = serverId;
      }
      if (path) scope.path = path;
      if (backupId) scope.backupId = backupId;
      const user = svc.accounts.requireUser(p.userId);
      const { token, expiresAt } = await svc.auth.tokens.sign(purpose, { userId: user.id, email: user.email, username: user.username, sid: p.sessionId, ...(serverId ? { scope } : {}) });
      c.header('Cache-Control', 'no-store');
      return ok(c, { token, purpose, expiresAt, ...scope });
    },
  }),
];
