// Opens the API's own state (accounts, audit log, signing secret) beside the controller's, and bundles
// everything route modules need into ApiServices.
import type { SqlDb } from '../controller/store/sql-db.ts';
import { AccountStore } from './auth/accounts.ts';
import { Authenticator } from './auth/authenticate.ts';
import { TokenService, loadOrCreateSecret } from './auth/tokens.ts';
import { AuditLog } from './audit/audit-log.ts';
import { ServerAccess } from './rbac/access.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { DEFAULT_LIMITS, ServerDirectory, type ApiLimits, type ApiServices } from './http/services.ts';
import { Manager, type InformerSource } from '../controller/runtime/controller.ts';
import { ServerReaper } from '../controller/lifecycle/server-reaper.ts';
import { Operations } from '../controller/operations/index.ts';
import { realClock } from '../controller/runtime/workqueue.ts';
import type { GameServer } from '../crds/types.ts';
import { isStoreError } from '../controller/store/errors.ts';

/** The controller's parts are passed through as ApiServices names them; the API's own are opened here. */
export interface OpenApiOptions extends Pick<ApiServices, 'store' | 'registry' | 'events' | 'log' | 'hub' | 'nodes' | 'metrics' | 'alerts' | 'databases' | 'publicUrl' | 'trustProxy'> {
  db: SqlDb;
  /** Where the signing secret lives (generated on first start). Or pass `secret`. */
  dataDir?: string;
  secret?: Uint8Array;
  limits?: Partial<ApiLimits>;
  /** The namespace Catalyst's server ids live in. default: default */
  namespace?: string;
  accessTokenTtlSeconds?: number;
  now?: () => number;
  /** Shared informers (the controller's Manager). Default: a Manager of its own, started here, stopped by close(). */
  informers?: InformerSource;
  /** The server reaper of the process (started by its owner). Default: one over `informers`, started here. */
  reaper?: ServerReaper;
  /** The operations layer (shared with the schedule controller). Default: one over `informers`. */
  ops?: Operations;
}

export async function openApiServices(opts: OpenApiOptions): Promise<ApiServices> {
  const now = opts.now ?? Date.now;
  const secret = opts.secret ?? (opts.dataDir ? await loadOrCreateSecret(opts.dataDir) : undefined);
  if (!secret) throw new Error('openApiServices needs dataDir or secret');
  const namespace = opts.namespace ?? 'default';
  const resolveServer = async (ns: string, name: string) => {
    try {
      const s = await opts.store.get<GameServer>('GameServer', ns, name);
      return s.metadata.uid ? { uid: s.metadata.uid, namespace: ns, name } : undefined;
    } catch (err) {
      if (isStoreError(err) && err.code === 404) return undefined;
      throw err;
    }
  };
  const accounts = await AccountStore.open({ db: opts.db, now, resolveServer });
  // Informers and the reaper: the embedding's when given, else our own (API-only processes, tests).
  const ownManager = opts.informers ? undefined : new Manager({ store: opts.store, log: opts.log });
  const informers: InformerSource = opts.informers ?? ownManager!;
  const reaper = opts.reaper ?? new ServerReaper({ store: opts.store, informer: informers.informer<GameServer>('GameServer'), log: opts.log });
  reaper.register(accounts);
  if (!opts.reaper) reaper.start();
  if (ownManager) await ownManager.start();
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
    servers: new ServerDirectory(opts.store, namespace),
    informers,
    reaper,
    ops: opts.ops ?? new Operations({ store: opts.store, informers, hub: opts.hub, reaper, clock: { ...realClock, now } }),
    hub: opts.hub,
    nodes: opts.nodes,
    metrics: opts.metrics,
    alerts: opts.alerts,
    databases: opts.databases,
    publicUrl: opts.publicUrl,
    trustProxy: opts.trustProxy,
    startedAt: new Date(now()),
    now,
    async close() {
      if (!opts.reaper) await reaper.stop();
      await ownManager?.stop();
    },
  };
}
