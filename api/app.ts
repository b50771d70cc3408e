// The HTTP surface of Gantry, assembled from route modules. Each module owns one family of paths.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { CrdRegistry } from '../crds/registry.ts';
import type { ResourceStore } from '../controller/store/types.ts';
import type { EventRecorder } from '../controller/events/recorder.ts';
import { StoreError } from '../controller/store/errors.ts';
import type { Logger } from '../lib/log.ts';
import { resourceRoutes } from './routes/resources.ts';
import { systemRoutes } from './routes/system.ts';
import { eventRoutes } from './routes/events.ts';
import { agentRoutes } from './routes/agent.ts';
import type { NodeEnrollment } from '../controller/nodes/enrollment.ts';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from '../controller/runtime/metrics.ts';
import { statusResponse } from './status.ts';
import type { ApiServices } from './http/services.ts';
import { mountRoutes, renderError } from './http/route.ts';
import { guard } from './http/guard.ts';
import { catalystError } from './http/errors.ts';
import { CATALYST_ROUTES } from './routes/catalyst.ts';

export interface AppDeps {
  /** Prometheus metrics of the controller, served at /metrics. */
  metrics?: MetricsRegistry;
  store: ResourceStore;
  registry: CrdRegistry;
  events: EventRecorder;
  log: Logger;
  /** Largest accepted request body for resource writes (bytes). */
  maxBodyBytes?: number;
  /** Node enrolment: mounts /api/agent/enroll and /api/nodes/:id/deployment-token. */
  nodes?: NodeEnrollment;
  /** The URL agents should dial, when it is not the one requests arrive on (proxies). */
  publicUrl?: string;
  /** Accounts, tokens, RBAC, audit, rate limits: every route but /healthz, /api/version and enrolment needs them. */
  api: ApiServices;
}

export function createApp(deps: AppDeps): Hono {
  const { log } = deps;
  const app = new Hono();
  const startedAt = new Date();
  const maxSize = deps.maxBodyBytes ?? 1024 * 1024;

  app.use('/apis/*', bodyLimit({
    maxSize,
    onError: (c) => {
      const status = new StoreError('BadRequest', `request body is larger than the limit of ${maxSize} bytes`).toStatus();
      return c.json({ ...status, reason: 'RequestEntityTooLarge', code: 413 }, 413);
    },
  }));
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    log.debug('http', { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - t0) });
  });

  const svc = deps.api;
  app.use('/apis/*', guard(svc, 'resource.read', 'resource.write'));
  app.use('/api/v1/*', guard(svc, 'resource.read', 'resource.write'));
  app.use('/metrics', guard(svc, 'admin.read', 'admin.read'));
  app.route('/', systemRoutes({ store: deps.store, log, startedAt }));
  app.route('/', eventRoutes({ events: deps.events, log }));
  app.route('/', resourceRoutes(deps));
  mountRoutes(app, CATALYST_ROUTES, svc);
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
  }
  if (deps.nodes) {
    app.route('/', agentRoutes({ nodes: deps.nodes, log }));
  }
  // Unknown paths under /api answer in Catalyst's shape; the resource API keeps Kubernetes' Status.
  app.notFound((c) => (c.req.path.startsWith('/apis/') ? statusResponse(c, new StoreError('NotFound', `the server could not find the requested resource (${c.req.path})`), log) : catalystError(c, 404, `no route for ${c.req.method} ${c.req.path}`, 'no_route')));
  app.onError((err, c) => (c.req.path.startsWith('/api/') && !c.req.path.startsWith('/api/v1/') ? renderError(c, svc, err) : statusResponse(c, err, log)));
  return app;
}
