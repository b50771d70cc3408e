// Authentication for the routes that are not Catalyst-declared: the Kubernetes-style resource API,
// events and /metrics. They answer in their own dialect (a Kubernetes Status), so kubectl and
// Prometheus understand the refusal.
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiServices } from './services.ts';
import { isApiError } from './errors.ts';
import { can } from '../rbac/access.ts';

const READ = new Set(['GET', 'HEAD', 'OPTIONS']);

function k8sStatus(c: Context, code: number, message: string, reason: string): Response {
  return c.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }, code as 401);
}

/** Reads need `read`, writes need `write` (global permissions; admins hold `*`). */
export function guard(svc: ApiServices, read: string, write: string): MiddlewareHandler {
  return async (c, next) => {
    let principal;
    try {
      principal = await svc.auth.fromAuthorizationHeader(c.req.header('authorization'));
    } catch (err) {
      if (isApiError(err)) return k8sStatus(c, 401, err.message, 'Unauthorized');
      throw err;
    }
    const needed = READ.has(c.req.method) ? read : write;
    if (!can(principal, needed)) return k8sStatus(c, 403, `user "${principal.username}" lacks the ${needed} permission`, 'Forbidden');
    if (!READ.has(c.req.method)) {
      const path = c.req.path;
      await next();
      void svc.audit.record({ userId: principal.userId, username: principal.username, action: needed, resourceType: 'resource', resourceId: path, status: c.res.status, metadata: { method: c.req.method, path }, ipAddress: null });
      return;
    }
    await next();
  };
}
