// Authentication for /metrics, which is not a Catalyst-declared route: a Prometheus scraper reads the
// refusal as a Kubernetes-style Status (what it shows for a failed scrape of an apiserver too).
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiServices } from './services.ts';
import { isApiError } from './errors.ts';
import { can } from '../rbac/access.ts';
import { failure } from '../kube/status.ts';

function refuse(c: Context, reason: 'Unauthorized' | 'Forbidden', message: string): Response {
  return c.json(failure(reason, message), reason === 'Unauthorized' ? 401 : 403);
}

/** Every method needs `permission` (a global grant; admins hold `*`). */
export function guard(svc: ApiServices, permission: string): MiddlewareHandler {
  return async (c, next) => {
    let principal;
    try {
      principal = await svc.auth.fromAuthorizationHeader(c.req.header('authorization'));
    } catch (err) {
      if (isApiError(err)) return refuse(c, 'Unauthorized', err.message);
      throw err;
    }
    if (!can(principal, permission)) return refuse(c, 'Forbidden', `user "${principal.username}" lacks the ${permission} permission`);
    await next();
  };
}
