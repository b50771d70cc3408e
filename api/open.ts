// Opens the API's own state (accounts, audit log, signing secret) beside the controller's, and bundles
// everything route modules need into ApiServices.
import type { SqliteDb } from '../controller/store/sqlite-db.ts';
import { AccountStore } from './auth/accounts.ts';
import { Authenticator } from './auth/authenticate.ts';
import { TokenService, loadOrCreateSecret } from './auth/tokens.ts';
import { AuditLog } from './audit/audit-log.ts';
import { ServerAccess } from './rbac/access.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { DEFAULT_LIMITS, ServerDirectory, type ApiLimits, type ApiServices } from './http/services.ts';

/** The controller's parts are passed through as ApiServices names them; the API's own are opened here. */
export interface OpenApiOptions extends Pick<ApiServices, 'store' | 'registry' | 'events' | 'log' | 'hub' | 'nodes' | 'metrics' | 'alerts' | 'publicUrl' | 'trustProxy'> {
  db: SqliteDb;
  /** Where the signing secret lives (generated on first start). Or pass `secret`. */
  dataDir?: string;
  secret?: Uint8Array;
  limits?: Partial<ApiLimits>;
  /** The namespace Catalyst's server ids live in. default: default */
  namespace?: string;
  accessTokenTtlSeconds?: number;
  now?: () => number;
}

export async function openApiServices(opts: OpenApiOptions): Promise<ApiServices> {
  const now = opts.now ?? Date.now;
  const secret = opts.secret ?? (opts.dataDir ? await loadOrCreateSecret(opts.dataDir) : undefined);
  if (!secret) throw new Error('openApiServices needs dataDir or secret');
  const accounts = await AccountStore.open({ db: opts.db, now });
  const tokens = new TokenService({ secret, accessTtlSeconds: opts.accessTokenTtlSeconds, now });
  const audit = await AuditLog.open({ db: opts.db, log: opts.log, now });
  return {
    store: opts.store,
    registry: opts.registry,
    events: opts.events,
    log: opts.log,
    accounts,
    auth: new Authenticator(accounts, tokens),
    access: new ServerAccess(accounts),
    audit,
    limiter: new RateLimiter(now),
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    servers: new ServerDirectory(opts.store, opts.namespace ?? 'default'),
    hub: opts.hub,
    nodes: opts.nodes,
    metrics: opts.metrics,
    alerts: opts.alerts,
    publicUrl: opts.publicUrl,
    trustProxy: opts.trustProxy,
    startedAt: new Date(now()),
    now,
  };
}
