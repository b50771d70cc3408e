// The HTTP surface of Gantry, assembled from route modules. Each module owns one family of paths.
import { Hono } from 'hono';
import type { CrdRegistry } from '../crds/registry.ts';
import type { ResourceStore } from '../controller/store/types.ts';
import type { EventSink } from '../controller/events/recorder.ts';
import type { Logger } from '../lib/log.ts';
import { systemRoutes } from './routes/system.ts';
import { agentRoutes } from './routes/agent.ts';
import type { NodeEnrollment } from '../controller/nodes/enrollment.ts';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from '../controller/runtime/metrics.ts';
import type { ApiServices } from './http/services.ts';
import { guard } from './http/guard.ts';
import { facadeApp } from './http/dialect.ts';
import { CATALYST } from './catalyst/dialect.ts';
import { FACADES } from './facades.ts';
import { KUBE_BASE, kubeApp, type KubeSettings } from './kube/app.ts';
import { webAssets } from './web/static.ts';

export interface AppDeps {
  /** Prometheus metrics of the controller, served at /metrics. */
  metrics?: MetricsRegistry;
  store: ResourceStore;
  registry: CrdRegistry;
  events: EventSink;
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
  // Paths of their own modules first: a facade's catch-all (Catalyst's over /api) must not shadow them.
  app.route('/', systemRoutes({ store: deps.store, log, startedAt }));
  if (deps.nodes) app.route('/', agentRoutes({ nodes: deps.nodes, log }));
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', (c) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
  }
  // The Kubernetes dialect (kubectl, client libraries) under its own base path; Catalyst owns /api.
  app.route(KUBE_BASE, kubeApp(svc, deps.kube));
  // Each panel's API as its own sub-app: its routes, its catch-all and error handler, in its dialect.
  for (const facade of FACADES) app.route('/', facadeApp(facade, svc));
  // The web panel at / (never under the API's prefixes, which the facades' catch-alls answer).
  if (deps.webRoot) app.use('*', webAssets({ root: deps.webRoot, log }));
  // Outside every facade (/healthz, /metrics, the agent's paths): the primary API's shape.
  app.notFound((c) => CATALYST.notFound(c));
  app.onError((err, c) => CATALYST.renderError(c, err, svc));
  return app;
}
