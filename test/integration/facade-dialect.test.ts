// The route pipeline in a dialect other than Catalyst's: a small test panel (cookie credential, servers
// addressed by uuid, its own permission names, `{code, message}` errors, no rate-limit headers) mounted
// as its own sub-app beside Catalyst's under /compat/testpanel, and alone on a port of its own. The
// real app, services and store; what it proves is that a facade is a Dialect + routes, and that
// identity, RBAC, audit and the operations stay shared.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { facadeApp, type Dialect, type Facade } from '../../api/http/dialect.ts';
import { facadeDocument } from '../../api/http/openapi.ts';
import { route } from '../../api/http/route.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { byUid } from '../../api/ops/identity.ts';
import { isOpError, OpError } from '../../controller/operations/errors.ts';
import type { GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const STATUS: Record<string, number> = { not_found: 404, forbidden: 403, unauthorized: 401, invalid: 422, rate_limited: 429 };
const reply = (c: Context, status: number, code: string, message: string) => c.json({ code, message }, status as ContentfulStatusCode);

const PERMISSIONS: Record<string, string> = { 'instance.view': 'server.read', 'instance.start': 'server.start' };

const TESTPANEL: Dialect = {
  name: 'testpanel',
  renderError: (c, err, svc) => {
    if (isOpError(err)) return reply(c, STATUS[err.code] ?? 400, err.code, err.message);
    svc.log.error('testpanel: unhandled', { err });
    return reply(c, 500, 'internal', 'something broke');
  },
  notFound: (c) => reply(c, 404, 'no_route', `nothing at ${c.req.path}`),
  credential: { in: 'cookie', name: 'tp_session' },
  async authenticate(c, svc) {
    const m = /(?:^|;\s*)tp_session=([^;]+)/.exec(c.req.header('cookie') ?? '');
    if (!m) throw new OpError('unauthorized', 'log in first');
    return { principal: await svc.auth.fromBearer(decodeURIComponent(m[1]!)) };
  },
  serverParam: 'uuid',
  resolveServer: (id, svc) => byUid({ servers: svc.ops.servers, informers: svc.informers }).resolve(id),
  serverId: (s) => s.metadata.uid!,
  permission: (name) => PERMISSIONS[name] ?? name,
  errorSchema: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
  info: { title: 'Test panel', description: 'A facade of the test suite' },
};

const TEST_FACADE: Facade = {
  name: 'testpanel',
  dialect: TESTPANEL,
  mount: '/compat/testpanel',
  scope: '/api',
  routes: [
    route({ method: 'GET', path: '/api/instances/:uuid', summary: 'One instance', tag: 'instances', access: { permission: 'instance.view', server: true }, handler: ({ c, server }) => c.json({ uuid: server!.metadata.uid, name: server!.metadata.name }) }),
    route({
      method: 'POST',
      path: '/api/instances/:uuid/start',
      summary: 'Start an instance',
      tag: 'instances',
      access: { permission: 'instance.start', server: true },
      audit: 'server.start',
      handler: async ({ c, svc, server }) => {
        const { server: s } = await svc.ops.servers.start(server!);
        return c.json({ started: s.spec?.state === 'Running' });
      },
    }),
    route({ method: 'GET', path: '/api/boom', summary: 'Fails', tag: 'test', access: 'authenticated', handler: () => { throw new Error('kaboom'); } }),
  ],
};

describe('a facade in its own dialect beside Catalyst', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let app: ReturnType<typeof createApp>;
  let owner: SignedIn;
  let stranger: SignedIn;
  let viewer: SignedIn;
  let s: GameServer;
  const cookie = (who: SignedIn) => ({ cookie: `tp_session=${encodeURIComponent(who.token)}` });
  const call = async (method: string, p: string, headers: Record<string, string> = {}) => {
    const res = await app.request(p, { method, headers });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

  beforeAll(async () => {
    env = await openTestEnv();
    svc = await apiServicesFor(env);
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: svc });
    app.route('/', facadeApp(TEST_FACADE, svc));
    await signInAdmin(svc);
    owner = await signIn(svc, 'tp-owner');
    stranger = await signIn(svc, 'tp-stranger');
    viewer = await signIn(svc, 'tp-viewer');
    s = await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'tp-server', namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    await svc.accounts.setServerGrant(s, viewer.userId, ['server.read']);
    await until('the server in the shared cache', () => svc.informers.informer<GameServer>('GameServer').list().some((x) => x.metadata.uid === s.metadata.uid));
  });
  afterAll(() => env.close());

  it('authenticates by its cookie, addresses servers by uuid, maps its permission names onto the shared RBAC', async () => {
    const base = `/compat/testpanel/api/instances/${s.metadata.uid}`;
    expect(await call('GET', base, cookie(owner))).toMatchObject({ status: 200, body: { uuid: s.metadata.uid, name: 'tp-server' } });
    // The name is no id here: answered like a missing server, in this dialect.
    expect(await call('GET', '/compat/testpanel/api/instances/tp-server', cookie(owner))).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await call('GET', base, cookie(stranger))).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await call('GET', base)).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    // A Bearer header is Catalyst's way, not this panel's.
    expect((await call('GET', base, owner.headers)).status).toBe(401);
    // instance.start → server.start: the viewer (server.read only) sees it but may not start it.
    expect(await call('POST', `${base}/start`, cookie(viewer))).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    const started = await call('POST', `${base}/start`, cookie(owner));
    expect(started).toMatchObject({ status: 200, body: { started: true } });
    expect(started.headers.get('x-ratelimit-limit')).toBeNull();
    expect((await env.store.get<GameServer>('GameServer', 'default', 'tp-server')).spec?.state).toBe('Running');
  });

  it('names the facade in the audit entry, beside the server uid', async () => {
    await expect.poll(async () => (await svc.audit.list({ facade: 'testpanel' })).length).toBeGreaterThanOrEqual(2);
    const entries = await svc.audit.list({ facade: 'testpanel', action: 'server.start' });
    expect(entries.map((e) => [e.status, e.username, e.resourceId, e.resourceUid, e.facade])).toEqual([
      [200, 'tp-owner', s.metadata.uid, s.metadata.uid, 'testpanel'],
      [403, 'tp-viewer', s.metadata.uid, s.metadata.uid, 'testpanel'],
    ]);
  });

  it('has its own catch-all and error handler; Catalyst keeps its own', async () => {
    expect(await call('GET', '/compat/testpanel/api/nothing', cookie(owner))).toMatchObject({ status: 404, body: { code: 'no_route' } });
    expect(await call('GET', '/compat/testpanel/api/boom', cookie(owner))).toMatchObject({ status: 500, body: { code: 'internal', message: 'something broke' } });
    expect(await call('GET', '/api/nothing', owner.headers)).toMatchObject({ status: 404, body: { statusCode: 404, reason: 'no_route' } });
    const catalyst = await call('GET', '/api/auth/me', owner.headers);
    expect(catalyst.status).toBe(200);
    expect(catalyst.headers.get('x-ratelimit-limit')).toBe('200');
  });

  it('documents itself in its own OpenAPI document, in its dialect', () => {
    const doc = facadeDocument(TEST_FACADE) as { servers: { url: string }[]; paths: Record<string, unknown>; components: { schemas: { Error: unknown }; securitySchemes: { bearerAuth: unknown } }; info: { title: string } };
    expect(doc.servers).toEqual([{ url: '/compat/testpanel' }]);
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/boom', '/api/instances/{uuid}', '/api/instances/{uuid}/start']);
    expect(doc.components.schemas.Error).toEqual(TESTPANEL.errorSchema);
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'apiKey', in: 'cookie', name: 'tp_session' });
    expect(doc.info.title).toBe('Test panel');
  });

  it('is served alone at / on a port of its own', async () => {
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const srv = serve({ fetch: facadeApp(TEST_FACADE, svc, '').fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const one = await fetch(`${url}/api/instances/${s.metadata.uid}`, { headers: cookie(owner) });
      expect(one.status).toBe(200);
      expect(((await one.json()) as { name: string }).name).toBe('tp-server');
      const elsewhere = await fetch(`${url}/anything/else`);
      expect(elsewhere.status).toBe(404);
      expect(await elsewhere.json()).toMatchObject({ code: 'no_route' });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
