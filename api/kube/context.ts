// What every handler of the dialect shares: the caller, the services, and the audit entry of a write.
import type { Context } from 'hono';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';
import { clientIp } from '../http/client-ip.ts';
import type { KubeAccess } from './access.ts';

export type KubeEnv = { Variables: { principal: Principal } };
export type KubeContext = Context<KubeEnv>;

export interface KubeDeps {
  svc: ApiServices;
  access: KubeAccess;
  /** Where the dialect is mounted (`/k8s`): server-relative URLs it hands out carry it. */
  base: string;
  bookmarkIntervalMs: number;
}

export interface AuditTarget {
  action: string;
  resourceType: string;
  resourceId: string;
  metadata?: Record<string, unknown>;
}

/** Records a write (or its refusal) as the REST API does, naming this facade. */
export function auditWrite(c: KubeContext, deps: KubeDeps, target: AuditTarget, status: number): void {
  const p = c.get('principal');
  void deps.svc.audit.record({
    userId: p?.userId ?? null,
    username: p?.username ?? null,
    action: target.action,
    resourceType: target.resourceType,
    resourceId: target.resourceId,
    status,
    metadata: { facade: 'kubernetes', method: c.req.method, path: c.req.path, ...target.metadata, ...(p?.apiKeyId ? { apiKeyId: p.apiKeyId } : {}) },
    ipAddress: clientIp(c, deps.svc.trustProxy) ?? null,
    facade: 'kubernetes',
  });
}
