// The Kubernetes REST dialect as its own Hono app, mounted under a base path of its own (`/k8s`):
// Catalyst owns `/api`, and a kubeconfig `server:` URL may carry a path, which kubectl and client
// libraries prefix to every request. Everything below answers in Kubernetes' terms: Status bodies for
// every refusal (its own error handler and catch-all), Tables, watch streams.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ApiServices } from '../http/services.ts';
import { can } from '../rbac/access.ts';
import { KubeAccess } from './access.ts';
import type { KubeDeps, KubeEnv } from './context.ts';
import { mountCore } from './core.ts';
import { mountDiscovery } from './discovery.ts';
import { mountResources } from './resources.ts';
import type { LeaseStore } from './lease-store.ts';
import { mountLeases } from './leases.ts';
import { failure, kubeError, statusReply } from './status.ts';

/** Where `gantry up` serves the dialect: kubeconfig `server: http://HOST:8080/k8s`. */
export const KUBE_BASE = '/k8s';

/**
 * Where kubectl reaches the dialect: client-go sends a bearer token only over TLS, so `gantry up`
 * also listens with HTTPS (api/http/tls.ts) and `gantry kubeconfig` reads tlsPort and ca (filled in
 * once the HTTPS listener is up) to point kubectl there.
 */
export interface KubeSettings {
  tlsPort?: number;
  /** PEM of the CA that signed the HTTPS certificate. */
  ca?: string;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (default 60 s). */
  bookmarkIntervalMs?: number;
  /** coordination.k8s.io/v1 Leases (leader election of `gantry controller` replicas); not served without. */
  leases?: LeaseStore;
}

/** Paths an unauthenticated client may read (as kube-apiserver's system:public-info-viewer). */
const PUBLIC = new Set(['/version']);

export function kubeApp(svc: ApiServices, endpoint: KubeSettings = {}, base = KUBE_BASE): Hono<KubeEnv> {
  const app = new Hono<KubeEnv>();
  const deps: KubeDeps = { svc, access: new KubeAccess(svc.store, svc.access), base, bookmarkIntervalMs: endpoint.bookmarkIntervalMs ?? 60_000 };
  const { log } = svc;

  app.use('*', bodyLimit({
    maxSize: svc.limits.maxBodyBytes,
    onError: (c) => c.json(failure('RequestEntityTooLarge', `the request body is larger than the limit of ${svc.limits.maxBodyBytes} bytes`), 413),
  }));
  app.use('*', async (c, next) => {
    const rel = c.req.path.slice(base.length) || '/';
    if (PUBLIC.has(rel)) return next();
    try {
      const principal = await svc.auth.fromAuthorizationHeader(c.req.header('authorization'));
      c.set('principal', principal);
      if (!can(principal, 'rate-limit.bypass')) {
        const r = svc.limiter.hit(`user:${principal.userId}`, { limit: svc.limits.userPerMinute, windowMs: 60_000 });
        if (!r.allowed) throw kubeError('TooManyRequests', `rate limit exceeded: ${r.limit} requests a minute per user; try again in ${r.retryAfter} seconds`, { retryAfterSeconds: r.retryAfter });
      }
    } catch (err) {
      // Whatever was wrong with the credentials, a Kubernetes client expects this body.
      const status = err instanceof Error && 'statusCode' in err && (err as { statusCode: number }).statusCode === 401
        ? kubeError('Unauthorized', `Unauthorized: ${err.message}`)
        : err;
      return statusReply(c, status, log);
    }
    return next();
  });

  // Not a Kubernetes path: what `gantry kubeconfig` needs to write a kubeconfig kubectl can use.
  app.get('/endpoint', (c) => {
    if (!endpoint.tlsPort || !endpoint.ca) throw kubeError('NotFound', 'this Gantry serves no HTTPS listener (gantry up --tls-port), and kubectl sends its token only over HTTPS');
    return c.json({ tlsPort: endpoint.tlsPort, basePath: base, certificateAuthorityData: Buffer.from(endpoint.ca).toString('base64') });
  });
  mountDiscovery(app, deps, { leases: !!endpoint.leases });
  mountCore(app, deps);
  // Before the custom resources: their /apis/:group/:version/... routes would answer first otherwise.
  if (endpoint.leases) mountLeases(app, deps, endpoint.leases);
  mountResources(app, deps);

  app.all('*', (c) => statusReply(c, kubeError('NotFound', `the server could not find the requested resource (${c.req.method} ${c.req.path})`), log));
  app.onError((err, c) => statusReply(c, err, log));
  return app;
}
