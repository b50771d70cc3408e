// Walks every declared route of every facade (api/facades.ts) × every kind of caller, and checks the
// status code the authorisation pipeline gives: no token, a bad signature, an expired token, alg none, a user without
// the permission, the server's owner, a subuser with and without the permission, an administrator.
//
// Mutating routes are called with a malformed JSON body: the pipeline authorises before it parses, so
// an allowed caller gets 400 invalid_json and no handler runs (nothing is deleted mid-walk), while a
// refused caller gets 401/403/404 without learning anything from validation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createApp } from '../../api/app.ts';
import type { ApiServices } from '../../api/http/services.ts';
import type { RouteSpec } from '../../api/http/route.ts';
import { DatabaseService } from '../../controller/databases/service.ts';
import type { Facade } from '../../api/http/dialect.ts';
import { FACADES } from '../../api/facades.ts';
import { OWNER_PERMISSIONS, SERVER_PERMISSIONS } from '../../api/rbac/permissions.ts';
import { credentialFor, routePath, withQuery } from '../helpers/facades.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor, signIn, signInAdmin } from '../helpers/api.ts';

const SERVER = 'rbac-fixture';

type Caller = 'none' | 'badSignature' | 'expired' | 'algNone' | 'stranger' | 'owner' | 'subuserWith' | 'subuserWithout' | 'admin';
const CALLERS: Caller[] = ['none', 'badSignature', 'expired', 'algNone', 'stranger', 'owner', 'subuserWith', 'subuserWithout', 'admin'];

/** The outcome the rules predict: 'allowed' means the pipeline let the call through to validation or the handler. */
export function expected(r: RouteSpec, caller: Caller, facade: Facade = FACADES[0]!): 401 | 403 | 404 | 'allowed' {
  if (r.access === 'public') return 'allowed';
  if (['none', 'badSignature', 'expired', 'algNone'].includes(caller)) return 401;
  if (caller === 'admin' || r.access === 'authenticated') return 'allowed';
  const { server } = r.access;
  const permission = facade.dialect.permission ? facade.dialect.permission(r.access.permission) : r.access.permission;
  if (!server) return 403;
  if (caller === 'stranger') return 404;
  if (caller === 'owner') return OWNER_PERMISSIONS.includes(permission) && r.access.ownerAllowed !== false ? 'allowed' : 403;
  if (caller === 'subuserWith') return SERVER_PERMISSIONS.includes(permission) ? 'allowed' : 403;
  return permission === 'server.read' ? 'allowed' : 403;
}

describe.each(FACADES.map((f) => [f.name, f] as const))('RBAC of facade %s: every route × every caller', (_name, facade) => {
  let env: TestEnv;
  let svc: ApiServices;
  let app: ReturnType<typeof createApp>;
  const tokens = {} as Record<Caller, string | undefined>;

  beforeAll(async () => {
    env = await openTestEnv();
    const databases = await DatabaseService.open({ db: env.db, dataDir: env.dir, log: env.log });
    svc = await apiServicesFor(env, { databases, limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000 } });
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: svc });
    const admin = await signInAdmin(svc);
    const owner = await signIn(svc, 'owner');
    const stranger = await signIn(svc, 'stranger');
    const subWith = await signIn(svc, 'subwith');
    const subWithout = await signIn(svc, 'subwithout');
    fixture = await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: SERVER, namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    await svc.accounts.setServerGrant('default', SERVER, subWith.userId, [...SERVER_PERMISSIONS]);
    await svc.accounts.setServerGrant('default', SERVER, subWithout.userId, ['server.read']);
    const { session } = await svc.accounts.createSession(owner.userId);
    Object.assign(tokens, {
      none: undefined,
      badSignature: await new SignJWT({ userId: owner.userId, purpose: 'access', sid: session.id }).setProtectedHeader({ alg: 'HS256' }).setIssuer('gantry').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('not-the-secret-not-the-secret-xx')),
      expired: (await svc.auth.tokens.sign('access', { userId: owner.userId, sid: session.id }, -60)).token,
      algNone: new UnsecuredJWT({ userId: owner.userId, purpose: 'access', sid: session.id }).setIssuer('gantry').setIssuedAt().setExpirationTime('1h').encode(),
      stranger: stranger.token,
      owner: owner.token,
      subuserWith: subWith.token,
      subuserWithout: subWithout.token,
      admin: admin.token,
    });
  });
  afterAll(() => env.close());

  const ROUTES = facade.routes;
  const serverId = () => facade.dialect.serverId(fixture);
  let fixture: import('../../crds/types.ts').GameServer;

  it('declares routes consistently: admin paths need a permission, server paths check it on the server', () => {
    expect(ROUTES.length).toBeGreaterThan(5);
    const loose = ROUTES.filter((r) => /\/admin(\/|$)/.test(r.path) && typeof r.access !== 'object');
    expect(loose.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    const unscoped = ROUTES.filter((r) => r.path.includes(`:${facade.dialect.serverParam}`) && !(typeof r.access === 'object' && r.access.server));
    expect(unscoped.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    const dup = ROUTES.map((r) => `${r.method} ${r.path}`).filter((k, i, all) => all.indexOf(k) !== i);
    expect(dup).toEqual([]);
  });

  for (const r of ROUTES) {
    it(`${r.method} ${r.path}`, async () => {
      const outcomes: string[] = [];
      const wrong: string[] = [];
      for (const caller of CALLERS) {
        const cred = credentialFor(facade, tokens[caller]);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...cred.headers };
        const mutating = r.method !== 'GET';
        const res = await app.request(withQuery(routePath(facade, r, serverId()), cred.query), { method: r.method, headers, body: mutating ? '{' : undefined });
        const body = (await res.text()).slice(0, 300);
        const want = expected(r, caller, facade);
        const authRefusal = res.status === 401 || res.status === 403 || (res.status === 404 && body.includes(`server \\"${serverId()}\\" not found`));
        const got = authRefusal ? res.status : 'allowed';
        outcomes.push(`${caller}:${res.status}`);
        if (res.status >= 500) wrong.push(`${caller} got ${res.status}: ${body}`);
        else if (got !== want) wrong.push(`${caller}: expected ${want}, got ${res.status} ${body}`);
      }
      expect(wrong, outcomes.join(' ')).toEqual([]);
    });
  }
});
