// The OpenAPI document lists exactly the routes the app serves under /api (and nothing else).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { toOpenApiPath } from '../../api/http/openapi.ts';
import { MetricsRegistry } from '../../controller/runtime/metrics.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor } from '../helpers/api.ts';

describe('OpenAPI document', () => {
  let env: TestEnv;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    env = await openTestEnv();
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: await apiServicesFor(env), metrics: new MetricsRegistry(), nodes: await NodeEnrollment.open({ db: env.db, store: env.store, log: env.log }) });
  });
  afterAll(() => env.close());

  it('is OpenAPI 3.1, served without auth, and matches the router both ways', async () => {
    const res = await app.request('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>> };
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const served = new Set(
      app.routes
        .filter((r) => (r.path.startsWith('/api/') || r.path === '/healthz' || r.path === '/metrics') && r.method !== 'ALL')
        .map((r) => `${r.method} ${toOpenApiPath(r.path)}`),
    );
    expect([...served].filter((k) => !documented.has(k)), 'served but not documented').toEqual([]);
    expect([...documented].filter((k) => !served.has(k)), 'documented but not served').toEqual([]);
    // Every operation documents at least one success and the errors its declaration implies.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses).some((c) => c.startsWith('2')), `${m} ${p}`).toBe(true);
      }
    }
    expect(doc.paths['/api/auth/me']!.get!.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/auth/me']!.get!.responses['401']).toBeDefined();
  });
});
