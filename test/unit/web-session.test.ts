// The panel's session against the real API (auth routes, rotating refresh tokens, session revocation,
// in-process through the Hono app): an expired access token is refreshed and the call retried; two
// tabs refreshing at once spend the refresh token once (a second spend would revoke the session);
// a revoked session signs the panel out instead of refreshing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../web/src/api/http.ts';
import { Session, SESSION_KEY, type KeyValueStore, type LockFn, type SessionData } from '../../web/src/api/session.ts';
import { ApiError } from '../../web/src/api/errors.ts';
import { openApiApp, type ApiApp } from '../helpers/api.ts';

class MemoryStorage implements KeyValueStore {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

/** One lock shared by every "tab" (what navigator.locks gives across tabs). */
function sharedLock(): LockFn {
  let chain: Promise<unknown> = Promise.resolve();
  return <T>(_name: string, fn: () => Promise<T>) => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };
}

describe('web: session and API client against the real auth routes', () => {
  let api: ApiApp;
  let refreshCalls = 0;
  const fetchApp = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    if (url.endsWith('/api/auth/refresh')) refreshCalls++;
    return api.app.request(url, init);
  }) as typeof fetch;

  beforeAll(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 1000 } } });
    await api.svc.accounts.createUser({ email: 'web-session@example.test', username: 'websession', password: 'correct horse battery', roleIds: ['admin'] });
  });
  afterAll(async () => {
    await api.env.close();
  });

  async function login(): Promise<SessionData> {
    const r = await api.call('POST', '/api/auth/login', { email: 'web-session@example.test', password: 'correct horse battery' });
    expect(r.status).toBe(200);
    return r.body.data as SessionData;
  }

  /** The session with its access token swapped for one that expired (signed with the server's secret). */
  async function withExpiredAccess(s: SessionData): Promise<SessionData> {
    const claims = await api.svc.auth.tokens.verify(s.token, 'access');
    const past = await api.svc.auth.tokens.sign('access', { userId: claims.userId, email: claims.email, username: claims.username, permissions: claims.permissions, sid: claims.sid }, -60);
    return { ...s, token: past.token, expiresAt: past.expiresAt };
  }

  it('an expired access token is refreshed once and the call answered', async () => {
    const storage = new MemoryStorage();
    const session = new Session({ storage, fetch: fetchApp, lock: sharedLock(), now: () => Date.now() - 10 * 60_000 });
    const client = new ApiClient(session, fetchApp);
    const start = await withExpiredAccess(await login());
    session.set(start);
    refreshCalls = 0;
    const me = await client.get<{ username: string }>('/api/auth/me');
    expect(me.username).toBe('websession');
    expect(refreshCalls).toBe(1);
    expect(session.current!.token).not.toBe(start.token);
    expect(session.current!.refreshToken).not.toBe(start.refreshToken);
    expect(JSON.parse(storage.getItem(SESSION_KEY)!).token).toBe(session.current!.token);
  });

  it('two tabs refreshing together spend the refresh token once and both stay signed in', async () => {
    const storage = new MemoryStorage();
    const lock = sharedLock();
    const tabA = new Session({ storage, fetch: fetchApp, lock });
    const start = await withExpiredAccess(await login());
    tabA.set(start);
    const tabB = new Session({ storage, fetch: fetchApp, lock });
    const a = new ApiClient(tabA, fetchApp);
    const b = new ApiClient(tabB, fetchApp);
    refreshCalls = 0;
    const [ra, rb] = await Promise.all([a.get<{ username: string }>('/api/auth/me'), b.get<{ username: string }>('/api/auth/me')]);
    expect([ra.username, rb.username]).toEqual(['websession', 'websession']);
    expect(refreshCalls).toBe(1);
    expect(tabA.current!.token).toBe(tabB.current!.token);
    // The session is alive: a later call with the shared tokens works.
    expect((await a.get<{ username: string }>('/api/auth/me')).username).toBe('websession');
  });

  it('a revoked session signs out without refreshing; a spent refresh token ends the session', async () => {
    const storage = new MemoryStorage();
    const session = new Session({ storage, fetch: fetchApp });
    const client = new ApiClient(session, fetchApp);
    const s = await login();
    session.set(s);
    const changes: (SessionData | undefined)[] = [];
    session.onChange((x) => changes.push(x));
    await client.call('POST', '/api/auth/logout');
    refreshCalls = 0;
    const err = await client.get('/api/auth/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).reason).toBe('session_revoked');
    expect(refreshCalls).toBe(0);
    expect(session.current).toBeUndefined();
    expect(changes.at(-1)).toBeUndefined();

    // A refresh token already spent (say, by a tab that lost its storage) is refused: signed out.
    const fresh = await login();
    const rotated = await api.call('POST', '/api/auth/refresh', { refreshToken: fresh.refreshToken });
    expect(rotated.status).toBe(200);
    const stale = new Session({ storage: new MemoryStorage(), fetch: fetchApp });
    stale.set(await withExpiredAccess(fresh));
    const refused = await new ApiClient(stale, fetchApp).get('/api/auth/me').catch((e: unknown) => e);
    expect((refused as ApiError).status).toBe(401);
    expect(stale.current).toBeUndefined();
  });

  it('network failures and non-JSON answers become messages', async () => {
    const session = new Session({ storage: new MemoryStorage(), fetch: fetchApp });
    const down = new ApiClient(session, (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch);
    const err = (await down.get('/api/version').catch((e: unknown) => e)) as ApiError;
    expect(err.message).toContain('Cannot reach Gantry (fetch failed)');
    const notFound = (await new ApiClient(session, fetchApp).get('/api/nope').catch((e: unknown) => e)) as ApiError;
    expect([notFound.status, notFound.message]).toEqual([404, 'no route for GET /api/nope']);
  });
});
