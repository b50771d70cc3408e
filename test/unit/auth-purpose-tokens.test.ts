// Every token carries its purpose, and one kind is never accepted as another: the full matrix at the
// authenticator level, plus refresh tokens and API keys (not JWTs at all) offered where a JWT is expected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import type { TokenPurpose } from '../../api/auth/tokens.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor } from '../helpers/api.ts';

const PURPOSES: TokenPurpose[] = ['access', 'websocket', 'sftp', 'download'];

describe('token purposes', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let userId: string;
  let sessionId: string;
  const tokens = {} as Record<TokenPurpose, string>;
  let refreshToken: string;
  let apiKey: string;

  beforeAll(async () => {
    env = await openTestEnv();
    svc = await apiServicesFor(env);
    const user = await svc.accounts.createUser({ email: 'p@example.com', username: 'pat', password: 'password-123', roleIds: ['admin'] });
    userId = user.id;
    const s = await svc.accounts.createSession(user.id);
    sessionId = s.session.id;
    refreshToken = s.refreshToken;
    tokens.access = (await svc.auth.issueAccessToken(user.id, sessionId)).token;
    for (const p of PURPOSES.slice(1)) tokens[p] = (await svc.auth.tokens.sign(p, { userId, sid: sessionId, scope: { serverId: 's1' } })).token;
    apiKey = (await svc.accounts.createApiKey(userId, { name: 'k', permissions: ['*'] })).key;
  });
  afterAll(() => env.close());

  for (const issued of PURPOSES) {
    for (const accepted of PURPOSES) {
      it(`a ${issued} token is ${issued === accepted ? 'accepted' : 'refused'} as ${accepted}`, async () => {
        const attempt = svc.auth.fromToken(tokens[issued], accepted);
        if (issued === accepted) await expect(attempt).resolves.toMatchObject({ userId, sessionId, via: accepted === 'access' ? 'session' : 'token' });
        else await expect(attempt).rejects.toMatchObject({ statusCode: 401, reason: 'token_wrong_purpose', message: `Invalid token: a ${issued} token cannot be used as a ${accepted} token` });
      });
    }
  }

  it('REST (Authorization: Bearer) takes access tokens and API keys only', async () => {
    await expect(svc.auth.fromAuthorizationHeader(`Bearer ${tokens.access}`)).resolves.toMatchObject({ via: 'session' });
    await expect(svc.auth.fromAuthorizationHeader(`Bearer ${apiKey}`)).resolves.toMatchObject({ via: 'apikey', scopes: ['*'] });
    for (const p of ['websocket', 'sftp', 'download'] as const) {
      await expect(svc.auth.fromAuthorizationHeader(`Bearer ${tokens[p]}`)).rejects.toMatchObject({ statusCode: 401, reason: 'token_wrong_purpose' });
    }
    await expect(svc.auth.fromAuthorizationHeader(`Bearer ${refreshToken}`)).rejects.toMatchObject({ statusCode: 401, reason: 'token_invalid' });
    await expect(svc.auth.fromAuthorizationHeader(`Basic ${tokens.access}`)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refresh tokens and API keys are never taken as a signed token of any purpose, nor a signed token as a refresh token', async () => {
    for (const p of PURPOSES) {
      await expect(svc.accounts.rotateRefreshToken(tokens[p])).rejects.toMatchObject({ statusCode: 401, reason: 'token_invalid' });
      await expect(svc.auth.fromToken(refreshToken, p)).rejects.toMatchObject({ statusCode: 401, reason: 'token_invalid' });
      await expect(svc.auth.fromToken(apiKey, p)).rejects.toMatchObject({ statusCode: 401, reason: 'token_invalid' });
    }
  });

  it('an expired purpose token is refused, and every token of a session dies with it', async () => {
    const old = await svc.auth.tokens.sign('download', { userId, sid: sessionId }, -1);
    await expect(svc.auth.fromToken(old.token, 'download')).rejects.toMatchObject({ reason: 'token_expired' });
    await svc.accounts.revokeSession(sessionId, 'test');
    for (const p of PURPOSES) await expect(svc.auth.fromToken(tokens[p], p)).rejects.toMatchObject({ statusCode: 401, reason: 'session_revoked' });
    // The API key is not a session: it keeps working until revoked itself.
    await expect(svc.auth.fromBearer(apiKey)).resolves.toMatchObject({ userId });
  });
});
