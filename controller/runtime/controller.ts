// Controllers and the manager that runs them, after controller-runtime.
//
// A Controller has a primary kind (every add/update/delete/resync of one enqueues its key), any number
// of secondary kinds with a mapping from a changed object to primary keys (a GameNode change → every
// GameServer on that node), a work queue and a reconcile function:
//
//   reconcile(key) resolves {}                  → success: forget(key) (backoff starts over)
//                  resolves { requeueAfterMs }  → forget(key), add again after that delay
//                  resolves { requeue: true }   → add again with the key's backoff
//                  throws                       → logged, counted, add again with the key's backoff
//
// Reconcile is level-triggered: it receives only the key and reads the current state from the
// informer caches (an object missing from the cache was deleted). Events coalesce in the queue, so
// ten quick edits of one object may give one reconcile that sees the last of them.
//
// The Manager shares one informer per kind between its controllers, starts them, waits until every
// cache has synced, then starts the workers; stop() shuts every queue down (in-flight reconciles
// finish) and stops the informers. External event sources (the agent hub) call enqueue().
import type { Resource } from '../../crds/resource.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import type { ResourceStore } from '../store/types.ts';
import { Informer, keyOf, objectKey, splitKey, type IndexFunc, type InformerOptions, type KubeObject } from './informer.ts';
import { MetricsRegistry, runtimeMetrics, type RuntimeMetrics } from './metrics.ts';
import { ExponentialBackoff, WorkQueue, realClock, type Clock, type RateLimiter } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile again with the key's backoff (the same as throwing, without the error). */
  requeue?: boolean;
  /** Reconcile again after this many ms (takes precedence over requeue); the backoff starts over. */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  key: string;
  namespace?: string;
  name: string;
  /** Failed or requeued attempts for this key since its last success. */
  retries: number;
  log: Logger;
}

export type ReconcileFunc = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

export type MapResult = readonly string[] | string | undefined | null;
/** Primary keys for a changed secondary object (declared bivariantly, like IndexFunc). */
export type MapFunc<S extends KubeObject = KubeObject> = { bivarianceHack(obj: S): MapResult }['bivarianceHack'];

export interface WatchSpec<S extends KubeObject = KubeObject> {
  kind: string;
  /** Called with the object before and after an update (both may map to keys), on add and on delete. */
  map: MapFunc<S>;
  /** Updates for which this returns false enqueue nothing (controller-runtime's predicates), e.g.
   *  status-only writes of a secondary kind the controller only cares about the spec of. */
  updateFilter?: { bivarianceHack(oldObj: S, newObj: S): boolean }['bivarianceHack'];
}

/** An update filter passing only spec changes (metadata.generation moved). */
export const generationChanged = (oldObj: KubeObject, newObj: KubeObject): boolean => oldObj.metadata.generation !== newObj.metadata.generation;

/** Changes a controller must see besides spec: deletion, finalizers, labels, annotations (controller-runtime's metadata predicates). */
export const metadataChanged = (oldObj: KubeObject, newObj: KubeObject): boolean => {
  const a = oldObj.metadata as unknown as Record<string, unknown>;
  const b = newObj.metadata as unknown as Record<string, unknown>;
  return ['deletionTimestamp', 'finalizers', 'labels', 'annotations', 'ownerReferences'].some((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
};

export interface ControllerOptions<P extends KubeObject = Resource> {
  /** Unique per manager; the `name`/`controller` label of the metrics. */
  name: string;
  /** The kind this controller reconciles: keys are its `namespace/name` (cluster-scoped: `name`). */
  kind: string;
  reconcile: ReconcileFunc;
  watches?: WatchSpec[];
  /** Indexers to add to the primary kind's shared informer (e.g. GameServers by spec.nodeName);
   *  an indexer name that already exists there is kept (same name, same meaning). */
  indexers?: Record<string, IndexFunc<P>>;
  /** Reconciles running at once (different keys; one key is never reconciled twice at once). Default 1. */
  workers?: number;
  /** Per-key retry backoff; default 5 ms doubling to 5 min. */
  rateLimiter?: RateLimiter;
  /**
   * Drops updates of the primary kind it rejects. A reconcile that writes status and then fails would
   * otherwise be re-run at once by the watch event of its own write, never waiting out its backoff
   * (controller-runtime's GenerationChangedPredicate, for the same reason).
   */
  ownUpdateFilter?: { bivarianceHack(oldObj: P, newObj: P): boolean }['bivarianceHack'];
}

/** Maps an object to the keys of its owners of `ownerKind` (ownerReferences, same namespace). */
export function ownerKeys(ownerKind: string): MapFunc<KubeObject> {
  return (obj) =>
    (obj.metadata.ownerReferences ?? []).filter((r) => r.kind === ownerKind).map((r) => objectKey(obj.metadata.namespace, r.name));
}

export class Controller<P extends KubeObject = Resource> {
  readonly name: string;
  readonly kind: string;
  readonly queue: WorkQueue;
  /** The primary kind's shared informer (the reconciler's cache of desired state). */
  readonly informer: Informer<P>;
  private readonly reconcileFn: ReconcileFunc;
  private readonly workers: number;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics;
  private running?: Promise<void>;
  private stopped = false;

  /** Use Manager.addController. */
  constructor(opts: ControllerOptions<P>, informerFor: (kind: string) => Informer<KubeObject>, metrics: RuntimeMetrics, log: Logger, clock: Clock) {
    this.name = opts.name;
    this.kind = opts.kind;
    this.reconcileFn = opts.reconcile;
    this.workers = Math.max(1, Math.floor(opts.workers ?? 1));
    this.log = log.child({ controller: opts.name });
    this.metrics = metrics;

    const name = { name: opts.name };
    const ctl = { controller: opts.name };
    metrics.queueDepth.labels(name);
    metrics.queueAdds.labels(name);
    metrics.queueRetries.labels(name);
    for (const result of ['success', 'error', 'requeue']) metrics.reconcileTotal.labels({ ...ctl, result });
    metrics.reconcileErrors.labels(ctl);
    metrics.reconcileDuration.labels(ctl);
    this.queue = new WorkQueue({
      rateLimiter: opts.rateLimiter ?? new ExponentialBackoff(),
      clock,
      metrics: {
        depth: (n) => metrics.queueDepth.set(name, n),
        added: () => metrics.queueAdds.inc(name),
        retried: () => metrics.queueRetries.inc(name),
      },
    });

    this.informer = informerFor(opts.kind) as unknown as Informer<P>;
    if (opts.indexers) addMissingIndexers(this.informer, opts.indexers);
    const own = (obj: KubeObject) => this.queue.add(keyOf(obj));
    const ownFilter = opts.ownUpdateFilter;
    this.informer.addEventHandler(
      {
        onAdd: (o) => own(o),
        // o === n is a resync: always reconciled.
        onUpdate: (o, n) => {
          if (o !== n && ownFilter && !ownFilter(o as unknown as P, n as unknown as P)) return;
          own(n);
        },
        onDelete: (o) => own(o),
      },
      { resync: true },
    );

    for (const w of opts.watches ?? []) {
      const mapped = (obj: KubeObject): readonly string[] => {
        try {
          const keys = w.map(obj);
          return keys === undefined || keys === null ? [] : typeof keys === 'string' ? [keys] : keys;
        } catch (err) {
          this.log.error('watch mapping threw', { err, kind: w.kind, object: keyOf(obj) });
          return [];
        }
      };
      const enqueue = (...objs: KubeObject[]) => {
        // The union first: adding old's keys one by one could hand a key to a worker before new's
        // mapping adds it again, which would cost a second reconcile.
        const keys = new Set<string>();
        for (const o of objs) for (const k of mapped(o)) keys.add(k);
        for (const k of keys) this.queue.add(k);
      };
      informerFor(w.kind).addEventHandler({
        onAdd: (o) => enqueue(o),
        onUpdate: (o, n) => {
          if (o !== n && w.updateFilter && !w.updateFilter(o, n)) return;
          if (o === n) enqueue(n);
          else enqueue(o, n);
        },
        onDelete: (o) => enqueue(o),
      });
    }
  }

  /** Reconcile this key soon (deduplicated with any pending reconcile of it). */
  enqueue(key: string): void {
    if (!this.stopped) this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    if (!this.stopped) this.queue.addAfter(key, ms);
  }

  enqueueObject(obj: { metadata: { name: string; namespace?: string } }): void {
    this.enqueue(keyOf(obj));
  }

  /** Nothing queued, delayed or reconciling. */
  isIdle(): boolean {
    return this.queue.isIdle();
  }

  /** Starts the workers (the Manager does this once the caches have synced). */
  start(): void {
    if (this.running || this.stopped) return;
    this.log.debug('starting workers', { workers: this.workers });
    this.running = this.queue.run(this.workers, (key) => this.process(key));
  }

  /** Stops taking keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue.shutdown();
    await this.running;
  }

  private async process(key: string): Promise<void> {
    const retries = this.queue.numRequeues(key);
    const { namespace, name } = splitKey(key);
    const ctx: ReconcileContext = { key, namespace, name, retries, log: this.log.child({ key }) };
    const labels = { controller: this.name };
    const start = process.hrtime.bigint();
    let result: 'success' | 'error' | 'requeue';
    try {
      const res = (await this.reconcileFn(key, ctx)) ?? {};
      if (res.requeueAfterMs !== undefined && res.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfterMs);
        result = 'requeue';
      } else if (res.requeue) {
        this.queue.addRateLimited(key);
        result = 'requeue';
      } else {
        this.queue.forget(key);
        result = 'success';
      }
    } catch (err) {
      result = 'error';
      this.metrics.reconcileErrors.inc(labels);
      this.log.error('reconcile failed; retrying with backoff', { key, err, retries });
      this.queue.addRateLimited(key);
    }
    this.metrics.reconcileDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    this.metrics.reconcileTotal.inc({ ...labels, result });
  }
}

function addMissingIndexers<T extends KubeObject>(inf: Informer<T>, indexers: Record<string, IndexFunc<T>>): void {
  const have = new Set(inf.indexerNames());
  inf.addIndexers(Object.fromEntries(Object.entries(indexers).filter(([n]) => !have.has(n))));
}

export interface ManagerOptions {
  store: ResourceStore;
  log?: Logger;
  /** Where the runtime's metrics go (default: a new registry, see `manager.metrics`). */
  metrics?: MetricsRegistry;
  /** Every cached primary object is reconciled again at this period. Default 10 min; 0 = never. */
  resyncPeriodMs?: number;
  /** Informer watch bookmarks / dropped-watch detection (see InformerOptions). */
  bookmarkIntervalMs?: number;
  informerBackoff?: InformerOptions<Resource>['backoff'];
  clock?: Clock;
}

/** Where shared informers come from: the Manager (which also starts them), or anything with its shape. */
export interface InformerSource {
  informer<T extends KubeObject = Resource>(kind: string, indexers?: Record<string, IndexFunc<T>>): Informer<T>;
}

export class Manager implements InformerSource {
  readonly metrics: MetricsRegistry;
  private readonly runtime: RuntimeMetrics;
  private readonly opts: ManagerOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers = new Map<string, Controller<KubeObject>>();
  private started = false;
  private stopped = false;
  private stopping?: Promise<void>;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = (opts.log ?? rootLogger).child({ component: 'controller-manager' });
    this.clock = opts.clock ?? realClock;
    this.metrics = opts.metrics ?? new MetricsRegistry();
    this.runtime = runtimeMetrics(this.metrics);
  }

  /** The shared informer of a kind (created on first use; started by start()). */
  informer<T extends KubeObject = Resource>(kind: string, indexers?: Record<string, IndexFunc<T>>): Informer<T> {
    let inf = this.informers.get(kind) as unknown as Informer<T> | undefined;
    if (!inf) {
      inf = new Informer<T>({
        store: this.opts.store,
        kind,
        resyncPeriodMs: this.opts.resyncPeriodMs ?? 10 * 60_000,
        bookmarkIntervalMs: this.opts.bookmarkIntervalMs,
        backoff: this.opts.informerBackoff,
        log: this.opts.log,
        metrics: this.runtime,
        clock: this.clock,
      });
      this.informers.set(kind, inf as unknown as Informer<KubeObject>);
      this.runtime.informerRelists.labels({ kind });
      if (this.started && !this.stopped) inf.start();
    }
    if (indexers) addMissingIndexers(inf, indexers);
    return inf;
  }

  addController<P extends KubeObject = Resource>(opts: ControllerOptions<P>): Controller<P> {
    if (this.stopped) throw new Error('the manager is stopped');
    if (this.controllers.has(opts.name)) throw new Error(`a controller named "${opts.name}" already exists`);
    const c = new Controller<P>(opts, (kind) => this.informer<KubeObject>(kind), this.runtime, this.opts.log ?? rootLogger, this.clock);
    this.controllers.set(opts.name, c as unknown as Controller<KubeObject>);
    if (this.started) void this.startWhenSynced([c as unknown as Controller<KubeObject>]);
    return c;
  }

  controller<P extends KubeObject = Resource>(name: string): Controller<P> | undefined {
    return this.controllers.get(name) as unknown as Controller<P> | undefined;
  }

  /** For external event sources: reconcile `key` in controller `name`. Unknown controller: false. */
  enqueue(controllerName: string, key: string): boolean {
    const c = this.controllers.get(controllerName);
    if (!c) return false;
    c.enqueue(key);
    return true;
  }

  /**
   * Starts every informer, waits until all have synced, then starts the controllers' workers.
   * Resolves once the workers run (or at once if stop() was called meanwhile).
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('the manager was already started');
    if (this.stopped) throw new Error('the manager is stopped');
    this.started = true;
    this.log.info('starting', { controllers: [...this.controllers.keys()], kinds: [...this.informers.keys()] });
    await this.startWhenSynced([...this.controllers.values()]);
  }

  /** Every informer has synced. */
  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  /** Shuts every queue down (in-flight reconciles finish), stops the informers. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      await Promise.all([...[...this.controllers.values()].map((c) => c.stop()), ...[...this.informers.values()].map((i) => i.stop())]);
      this.log.info('stopped');
    })();
    return this.stopping;
  }

  private async startWhenSynced(controllers: Controller<KubeObject>[]): Promise<void> {
    for (const inf of this.informers.values()) inf.start();
    const synced = await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    if (this.stopped || !synced.every(Boolean)) return;
    for (const c of controllers) c.start();
  }
}
