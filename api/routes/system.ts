import { Hono } from 'hono';
import type { ResourceStore } from '../../controller/store/types.ts';
import type { Logger } from '../../lib/log.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';

/** Liveness/readiness and version: what a load balancer and `gantry` itself probe. */
export function systemRoutes({ store, log, startedAt }: { store: ResourceStore; log: Logger; startedAt: Date }): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    try {
      // A one-item list: the cheapest call every store answers (an apiserver included) that proves reads work.
      const { resourceVersion } = await store.list('GameNode', { limit: 1 });
      return c.json({ status: 'ok', store: { ok: true, resourceVersion }, uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000) });
    } catch (err) {
      log.error('health check failed: store unreachable', { err });
      return c.json({ status: 'unhealthy', store: { ok: false, message: (err as Error).message } }, 503);
    }
  });
  app.get('/api/version', (c) =>
    c.json({ success: true, data: { name: 'gantry', version: GANTRY_VERSION, apiVersion: 'gantry.dev/v1alpha1', node: process.version } }),
  );
  return app;
}
