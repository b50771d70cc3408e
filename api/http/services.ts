// What route modules are given: the controller's parts they read and edit, and the API's own parts.
import type { CrdRegistry } from '../../crds/registry.ts';
import type { GameServer } from '../../crds/types.ts';
import type { AnyResource } from '../../crds/resource.ts';
import { hasLocalRevision, type ResourceStore } from '../../controller/store/types.ts';
import type { EventSink } from '../../controller/events/recorder.ts';
import type { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import type { AgentHub } from '../../controller/hub/agent-hub.ts';
import type { MetricsHistory } from '../../controller/metrics/history.ts';
import type { AlertService } from '../../controller/alerts/service.ts';
import type { DatabaseService } from '../../controller/databases/service.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { AccountStore } from '../auth/accounts.ts';
import type { Authenticator } from '../auth/authenticate.ts';
import type { ServerAccess } from '../rbac/access.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { InformerSource } from '../../controller/runtime/controller.ts';
import type { ServerReaper } from '../../controller/lifecycle/server-reaper.ts';
import type { Operations } from '../../controller/operations/index.ts';

export interface ApiLimits {
  /** Requests a minute per IP on the auth routes (login, register, refresh, setup). default 10 */
  authPerMinute: number;
  /** Requests a minute per user (per IP when anonymous). default 200 */
  userPerMinute: number;
  /** Largest JSON body (bytes). default 1 MiB */
  maxBodyBytes: number;
  /** Largest file upload (bytes). default 100 MiB */
  uploadMaxBytes: number;
}

export const DEFAULT_LIMITS: ApiLimits = { authPerMinute: 10, userPerMinute: 200, maxBodyBytes: 1024 * 1024, uploadMaxBytes: 100 * 1024 * 1024 };

export interface ApiServices {
  store: ResourceStore;
  registry: CrdRegistry;
  events: EventSink;
  log: Logger;
  accounts: AccountStore;
  auth: Authenticator;
  access: ServerAccess;
  audit: AuditLog;
  limiter: RateLimiter;
  limits: ApiLimits;
  servers: ServerDirectory;
  /** Shared informers (the controller Manager's in embedded mode): one GameServer cache for every reader. */
  informers: InformerSource;
  /** Where per-server state is dropped when a server goes (controller/lifecycle/server-reaper.ts). */
  reaper: ServerReaper;
  /** The panel-neutral operations (rules, spec edits, waits): every facade's handlers call these. */
  ops: Operations;
  /** Present in embedded/controller mode: live state, console, files. */
  hub?: AgentHub;
  nodes?: NodeEnrollment;
  /** Stats and health history (embedded/controller mode); routes answer empty histories without it. */
  metrics?: MetricsHistory;
  /** Fired alerts (embedded/controller mode); routes answer no alerts without it. */
  alerts?: AlertService;
  /** Database hosts and server databases (embedded/controller mode); the routes answer 503 without it. */
  databases?: DatabaseService;
  publicUrl?: string;
  trustProxy?: boolean;
  startedAt: Date;
  now: () => number;
  /** Stops what openApiServices started itself (its informers and reaper when none were given). */
  close(): Promise<void>;
}

/**
 * Lists of a kind, reused while the store's revision has not moved (any committed write moves it), so a
 * burst of reads costs one query each and is never stale. Only a store in this process has such a
 * revision (LocalRevision); over a remote store (KubeStore) every call lists. Callers must not mutate
 * the objects.
 */
export class ListCache {
  private readonly lists = new Map<string, { rv: string; items: unknown[] }>();

  constructor(private readonly store: ResourceStore) {}

  async list<T extends AnyResource>(kind: string, namespace?: string): Promise<T[]> {
    const opts = namespace === undefined ? {} : { namespace };
    if (!hasLocalRevision(this.store)) return (await this.store.list<T>(kind, opts)).items;
    const key = `${kind}/${namespace ?? ''}`;
    const rv = await this.store.currentResourceVersion();
    const hit = this.lists.get(key);
    if (hit?.rv === rv) return hit.items as T[];
    const list = await this.store.list<T>(kind, opts);
    // An object that did not change keeps its identity across revisions (another object's write moved
    // the revision): what is cached per object (e.g. its mapped JSON) survives.
    const before = new Map((hit?.items as T[] | undefined)?.map((o) => [o.metadata.uid, o]));
    const items = list.items.map((o) => {
      const old = before.get(o.metadata.uid);
      return old && old.metadata.resourceVersion === o.metadata.resourceVersion ? old : o;
    });
    this.lists.set(key, { rv: list.resourceVersion, items });
    return items;
  }
}

/** GameServers as the Catalyst API names them: id = metadata.name in one namespace. */
export class ServerDirectory {
  readonly lists: ListCache;

  constructor(
    private readonly store: ResourceStore,
    readonly namespace: string,
  ) {
    this.lists = new ListCache(store);
  }

  async find(id: string): Promise<GameServer | undefined> {
    if (!id || id.length > 253) return undefined;
    try {
      return await this.store.get<GameServer>('GameServer', this.namespace, id);
    } catch (err) {
      if (isStoreError(err) && err.code === 404) return undefined;
      throw err;
    }
  }

  /** Every server of the namespace (cached by revision: do not mutate). */
  list(): Promise<GameServer[]> {
    return this.lists.list<GameServer>('GameServer', this.namespace);
  }

  /** The same, oldest first (creation time, then name), sorted once per list (do not mutate). */
  async listOldestFirst(): Promise<readonly GameServer[]> {
    const all = await this.list();
    let sorted = this.byAge.get(all);
    if (!sorted) {
      sorted = [...all].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
      this.byAge.set(all, sorted);
    }
    return sorted;
  }

  private readonly byAge = new WeakMap<readonly GameServer[], GameServer[]>();
}
