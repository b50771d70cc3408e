// The HTTP surface of Gantry, assembled from route modules. Each module owns one family of paths.
import { Hono } from 'hono';
import type { CrdRegistry } from '../crds/registry.ts';
import type { ResourceStore } from '../controller/store/types.ts';
import type { EventRecorder } from '../controller/events/recorder.ts';
import type { Logger } from '../lib/log.ts';
import { systemRoutes } from './routes/system.ts';
import { agentRoutes } from './routes/agent.ts';
import type { NodeEnrollment } from '../controller/nodes/enrollment.ts';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from '../controller/runtime/metrics.ts';
import { statusResponse } from './status.ts';
import type { ApiServices } from './http/services.ts';
import { mountRoutes, renderError } from './http/route.ts';
import { guard } from './http/guard.ts';
import { catalystError } from './http/errors.ts';
import { CATALYST_ROUTES } from './routes/catalyst.ts';
import { KUBE_BASE, kubeApp, type KubeSettings } from './kube/app.ts';
import { webAssets } from './web/static.ts';

export interface AppDeps {
  /** Prometheus metrics of the controller, served at /metrics. */
  metrics?: MetricsRegistry;
  store: ResourceStore;
  registry: CrdRegistry;
  events: EventRecorder;
  log: Logger;
  /** Node enrolment: mounts /api/agent/enroll and /api/nodes/:id/deployment-token. */
  nodes?: NodeEnrollment;
  /** The URL agents should dial, when it is not the one requests arrive on (proxies). */
  publicUrl?: string;
  /** The HTTPS listener kubectl is pointed at (filled in by `gantry up` once it listens). */
  kube?: KubeSettings;
  /** Accounts, tokens, RBAC, audit, rate limits: every route but /healthz, /api/version and enrolment needs them. */
  api: ApiServices;
  /** The built web panel (web/dist), served at `/` with an SPA fallback; absent: no panel. */
  webRoot?: string;
}

export function createApp(deps: AppDeps): Hono {
  const { log } = deps;
  const app = new Hono();
  const startedAt = new Date();
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    log.debug('http', { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - t0) });
  });

  const svc = deps.api;
  app.use('/metrics', guard(svc, 'admin.read'));
  app.route('/', systemRoutes({ store: deps.store, log, startedAt }));
  // The Kubernetes dialect (kubectl, client libraries) under its own base path; Catalyst owns /api.
  app.route(KUBE_BASE, kubeApp(svc, deps.kube));
  mountRoutes(app, CATALYST_ROUTES, svc);
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
  }
  if (deps.nodes) {
    app.route('/', agentRoutes({ nodes: deps.nodes, log }));
  }
  if (deps.webRoot) app.use('*', webAssets({ root: deps.webRoot, log }));
  // Unknown paths answer in Catalyst's shape (the dialect under /k8s has its own catch-all).
  app.notFound((c) => catalystError(c, 404, `no route for ${c.req.method} ${c.req.path}`, 'no_route'));
  app.onError((err, c) => (c.req.path.startsWith('/api/') ? renderError(c, svc, err) : statusResponse(c, err, log)));
  return app;
}
