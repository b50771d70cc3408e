// Each facade's OpenAPI document (api/facades.ts) lists exactly the routes the app serves in its path
// space (and nothing else); Catalyst serves its own at /api/openapi.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { facadeDocument, toOpenApiPath } from '../../api/http/openapi.ts';
import { CATALYST_FACADE, FACADES } from '../../api/facades.ts';
import { MetricsRegistry } from '../../controller/runtime/metrics.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor } from '../helpers/api.ts';

type Doc = { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>> };

describe('OpenAPI documents', () => {
  let env: TestEnv;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    env = await openTestEnv();
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: await apiServicesFor(env), metrics: new MetricsRegistry(), nodes: await NodeEnrollment.open({ db: env.db, store: env.store, log: env.log }) });
  });
  afterAll(() => env.close());

  it.each(FACADES.map((f) => [f.name, f] as const))('%s: OpenAPI 3.1, matching the router both ways', (_name, facade) => {
    const doc = facadeDocument(facade) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    const mount = facade.mount;
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${mount}${p}`)));
    const extra = new Set((facade.extraPaths ?? []).map((e) => `${e.method} ${mount}${toOpenApiPath(e.path)}`));
    const scope = mount + facade.scope;
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${toOpenApiPath(r.path)}`)
        .filter((k) => k.split(' ')[1]!.startsWith(`${scope}/`) || extra.has(k)),
    );
    expect([...served].filter((k) => !documented.has(k)), 'served but not documented').toEqual([]);
    expect([...documented].filter((k) => !served.has(k)), 'documented but not served').toEqual([]);
    // Every operation documents at least one success and the errors its declaration implies.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses).some((c) => c.startsWith('2')), `${m} ${p}`).toBe(true);
      }
    }
  });

  it('Catalyst: served without auth at /api/openapi.json, the same document', async () => {
    const res = await app.request('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc).toEqual(facadeDocument(CATALYST_FACADE));
    expect(doc.paths['/api/auth/me']!.get!.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/auth/me']!.get!.responses['401']).toBeDefined();
  });
});
