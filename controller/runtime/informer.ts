// An informer per kind, after client-go's reflector + indexer + shared informer:
//
//   list ──► cache (diffed: add / update / delete to handlers) ──► watch from the list's resourceVersion
//     ▲                                                                   │
//     └── relist (with backoff when it keeps failing) ◄── 410 Gone, an ERROR event, a failed watch call,
//                                                         or a watch that went silent (no event or
//                                                         BOOKMARK for 3 bookmark intervals)
//
// - The cache is keyed `namespace/name` (cluster-scoped: `name`), with optional indexers
//   (e.g. GameServers by spec.nodeName). Cached objects are deep-frozen by default: they are shared
//   by every handler and reconciler, and a reconciler that mutated one would corrupt everyone's view.
//   Copy before changing (structuredClone / spread).
// - A relist is diffed against the cache, so a handler learns about every add, update and delete that
//   happened while the watch was down. An object whose uid changed under the same name (deleted and
//   created again meanwhile) is reported as a delete of the old one followed by an add of the new one.
// - Each watch is a numbered session; events of a session that ended (e.g. arriving late after an
//   ERROR) are ignored, so an old watch can never overwrite what a newer list brought.
// - Periodic resync re-delivers every cached object as onUpdate(obj, obj) to handlers registered
//   with { resync: true } (level-triggered controllers use it to catch anything they missed).
// - stop() ends the watch, clears every timer and waits for the run loop to exit.
import type { ObjectMeta, Resource } from '../../crds/resource.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore, Watch, WatchEvent } from '../store/types.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { realClock, type Clock } from './workqueue.ts';

/**
 * What the runtime needs of an object. Wider than crds' Resource on purpose: the typed kinds of
 * crds/types.ts (GameServer, GameNode, …) have interface specs, which TS does not treat as
 * Record<string, unknown>, so `Informer<GameServer>` must not require `T extends Resource`.
 */
export interface KubeObject {
  metadata: ObjectMeta;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones (client-go's MetaNamespaceKeyFunc). */
export function keyOf(obj: { metadata: { name: string; namespace?: string } }): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : obj.metadata.name;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** The inverse of keyOf. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export type IndexValue = string | readonly string[] | undefined | null;
/** Index values of an object (none: not in this index). Declared bivariantly, so an
 *  IndexFunc<GameServer> may be passed where an IndexFunc<KubeObject> is expected. */
export type IndexFunc<T> = { bivarianceHack(obj: T): IndexValue }['bivarianceHack'];

export interface ResourceEventHandler<T> {
  /** isInInitialList: the object came with the first list (or the replay for a late handler). */
  onAdd?(obj: T, isInInitialList: boolean): void;
  /** On resync oldObj === newObj (same resourceVersion). */
  onUpdate?(oldObj: T, newObj: T): void;
  /** finalStateUnknown: the delete was found by a relist; obj is the last state the cache had. */
  onDelete?(obj: T, finalStateUnknown: boolean): void;
}

export interface HandlerOptions {
  /** Receive every cached object as onUpdate(obj, obj) at each resync period. */
  resync?: boolean;
}

export interface HandlerRegistration {
  remove(): void;
}

export interface InformerOptions<T extends KubeObject> {
  store: ResourceStore;
  kind: string;
  /** Only this namespace (default: all). */
  namespace?: string;
  labelSelector?: string;
  indexers?: Record<string, IndexFunc<T>>;
  /** Resync period for handlers registered with { resync: true }; 0 (default) = never. */
  resyncPeriodMs?: number;
  /**
   * The store sends a BOOKMARK at this interval (default 30 s); a watch silent for three intervals
   * is taken for dropped and the informer relists. 0 = no bookmarks, no silence detection.
   */
  bookmarkIntervalMs?: number;
  /** Relist backoff after repeated failures: the first retry is immediate, then initialMs doubling to maxMs. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Deep-freeze cached objects (default true). */
  freeze?: boolean;
  log?: Logger;
  metrics?: Pick<RuntimeMetrics, 'informerRelists'>;
  clock?: Clock;
}

interface HandlerEntry<T> {
  handler: ResourceEventHandler<T>;
  resync: boolean;
  removed: boolean;
}

type EndReason = { type: 'error'; message: string; gone: boolean } | { type: 'silent' } | { type: 'stopped' };

interface Session {
  watch?: Watch;
  ended: boolean;
  lastEventAt: number;
  end(reason: EndReason): void;
}

const DEFAULT_BOOKMARK_MS = 30_000;
const SILENT_INTERVALS = 3;

export class Informer<T extends KubeObject = Resource> {
  readonly kind: string;
  private readonly store: ResourceStore;
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly freeze: boolean;
  private readonly bookmarkMs: number;
  private readonly backoffInitial: number;
  private readonly backoffMax: number;

  private readonly items = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private handlers: HandlerEntry<T>[] = [];

  private synced = false;
  private readonly syncWaiters: ((ok: boolean) => void)[] = [];
  private started = false;
  private stopped = false;
  private running?: Promise<void>;
  private current?: Session;
  private lastRv = '';
  private failures = 0;
  private lists = 0;
  private sleepTimer: unknown;
  private wake?: () => void;
  private resyncTimer: unknown;
  private watchdog: unknown;
  /** The latest store.watch() call, settled or not: stop() waits for it so no store watcher outlives us. */
  private watchCall: Promise<void> = Promise.resolve();

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.kind = opts.kind;
    this.store = opts.store;
    this.log = (opts.log ?? rootLogger).child({ component: 'informer', kind: opts.kind });
    this.clock = opts.clock ?? realClock;
    this.freeze = opts.freeze ?? true;
    this.bookmarkMs = opts.bookmarkIntervalMs ?? DEFAULT_BOOKMARK_MS;
    this.backoffInitial = Math.max(1, opts.backoff?.initialMs ?? 200);
    this.backoffMax = Math.max(this.backoffInitial, opts.backoff?.maxMs ?? 30_000);
    if (opts.indexers) this.addIndexers(opts.indexers);
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** Starts listing and watching (once). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.running = this.run();
    const period = this.opts.resyncPeriodMs ?? 0;
    if (period > 0) this.scheduleResync(period);
  }

  /** Ends the watch, clears timers, and resolves when the run loop has exited. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.current?.end({ type: 'stopped' });
      if (this.sleepTimer !== undefined) this.clock.clearTimeout(this.sleepTimer);
      this.sleepTimer = undefined;
      this.wake?.();
      if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
      this.resyncTimer = undefined;
      for (const w of this.syncWaiters.splice(0)) w(false);
    }
    await this.running;
    await this.watchCall;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list is in the cache (and handlers were told), false if stopped first. */
  waitForSync(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The resourceVersion the cache reflects (from the last list, event or bookmark). */
  lastSyncResourceVersion(): string {
    return this.lastRv;
  }

  // ---- handlers and indexers ----------------------------------------------------------------------

  /**
   * Registers a handler. Added after the first list, it is first told about every cached object
   * (onAdd with isInInitialList = true) before this call returns.
   */
  addEventHandler(handler: ResourceEventHandler<T>, opts: HandlerOptions = {}): HandlerRegistration {
    const entry: HandlerEntry<T> = { handler, resync: opts.resync ?? false, removed: false };
    this.handlers = [...this.handlers, entry];
    if (this.synced) for (const obj of this.items.values()) this.call(entry, 'onAdd', () => handler.onAdd?.(obj, true));
    return {
      remove: () => {
        entry.removed = true;
        this.handlers = this.handlers.filter((e) => e !== entry);
      },
    };
  }

  indexerNames(): string[] {
    return [...this.indexers.keys()];
  }

  /** Adds indexers; may be called after start (the index is built from the cache). */
  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      if (this.indexers.has(name)) throw new Error(`informer ${this.kind}: indexer "${name}" already exists`);
      this.indexers.set(name, fn);
      const index = new Map<string, Set<string>>();
      this.indices.set(name, index);
      for (const [key, obj] of this.items) for (const v of this.indexValues(fn, obj)) addTo(index, v, key);
    }
  }

  // ---- cache reads (objects are shared and, by default, frozen: copy before changing) --------------

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(objectKey(namespace, name));
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  get size(): number {
    return this.items.size;
  }

  /** Objects whose indexer returned `value`. */
  byIndex(indexName: string, value: string): T[] {
    return this.indexKeys(indexName, value).map((k) => this.items.get(k)!);
  }

  /** Keys of the objects whose indexer returned `value`. */
  indexKeys(indexName: string, value: string): string[] {
    const index = this.indices.get(indexName);
    if (!index) throw new Error(`informer ${this.kind}: no indexer "${indexName}"`);
    return [...(index.get(value) ?? [])];
  }

  /** Every value an index currently holds. */
  indexedValues(indexName: string): string[] {
    const index = this.indices.get(indexName);
    if (!index) throw new Error(`informer ${this.kind}: no indexer "${indexName}"`);
    return [...index.keys()];
  }

  // ---- the list/watch loop ------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.stopped) {
      let reason: EndReason;
      let startedAt = this.clock.now();
      try {
        if (this.lists++ > 0) this.opts.metrics?.informerRelists.inc({ kind: this.kind });
        const list = await this.store.list(this.kind, { namespace: this.opts.namespace, labelSelector: this.opts.labelSelector });
        if (this.stopped) break;
        this.replace(list.items as unknown as T[], list.resourceVersion);
        startedAt = this.clock.now();
        reason = await this.watchFrom(list.resourceVersion);
      } catch (err) {
        reason = { type: 'error', message: err instanceof Error ? err.message : String(err), gone: isStoreError(err, 'Gone') };
      }
      if (this.stopped || reason.type === 'stopped') break;
      // A watch that ran for a while before ending is a fresh start, not a repeated failure.
      if (this.clock.now() - startedAt >= this.backoffMax) this.failures = 0;
      this.failures++;
      // Immediate first retry, then initial · 2^n with ±20 % jitter (so informers do not relist in step), capped.
      const delay = this.failures <= 1 ? 0 : Math.min(this.backoffMax, this.backoffInitial * 2 ** (this.failures - 2) * (0.8 + 0.4 * Math.random()));
      const fields = { reason: reason.type, message: 'message' in reason ? reason.message : undefined, failures: this.failures, retryInMs: Math.round(delay) };
      if (reason.type === 'error' && reason.gone && this.failures <= 1) this.log.info('watch expired; relisting', fields);
      else this.log.warn('list/watch ended; relisting', fields);
      await this.sleep(delay);
    }
  }

  /** Watches from rv until the session ends; resolves with the reason. */
  private watchFrom(rv: string): Promise<EndReason> {
    return new Promise<EndReason>((resolve, reject) => {
      const session: Session = {
        ended: false,
        lastEventAt: this.clock.now(),
        end: (reason) => {
          if (session.ended) return;
          session.ended = true;
          session.watch?.stop();
          if (this.current === session) this.current = undefined;
          this.disarmWatchdog();
          resolve(reason);
        },
      };
      this.current = session;
      const watchOpts = { kind: this.kind, namespace: this.opts.namespace, labelSelector: this.opts.labelSelector, resourceVersion: rv, bookmarkIntervalMs: this.bookmarkMs };
      let call: Promise<Watch>;
      try {
        call = this.store.watch(watchOpts, (ev) => this.onEvent(session, ev));
      } catch (err) {
        call = Promise.reject(err);
      }
      this.watchCall = call.then(
        (w) => {
          session.watch = w;
          if (session.ended) w.stop();
          else this.armWatchdog(session);
        },
        (err: unknown) => {
          if (session.ended) return;
          session.ended = true;
          if (this.current === session) this.current = undefined;
          reject(err);
        },
      );
    });
  }

  private onEvent(session: Session, ev: WatchEvent): void {
    if (session.ended || this.stopped || this.current !== session) return;
    session.lastEventAt = this.clock.now();
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.upsert(ev.object as unknown as T, false);
        this.lastRv = ev.object.metadata.resourceVersion ?? this.lastRv;
        break;
      case 'DELETED': {
        const key = keyOf(ev.object);
        const old = this.items.get(key);
        this.lastRv = ev.object.metadata.resourceVersion ?? this.lastRv;
        if (!old) break;
        this.removeKey(key, old);
        this.notifyDelete(this.prepare(ev.object as unknown as T), false);
        break;
      }
      case 'BOOKMARK':
        this.lastRv = ev.object.metadata?.resourceVersion ?? this.lastRv;
        break;
      case 'ERROR': {
        const status = ev.object as unknown as { message?: string; code?: number; reason?: string };
        session.end({ type: 'error', message: status.message ?? 'watch error', gone: status.code === 410 || status.reason === 'Gone' });
        break;
      }
    }
  }

  private armWatchdog(session: Session): void {
    if (this.bookmarkMs <= 0) return;
    const limit = this.bookmarkMs * SILENT_INTERVALS;
    const check = () => {
      this.watchdog = undefined;
      if (session.ended) return;
      const silent = this.clock.now() - session.lastEventAt;
      if (silent >= limit) {
        this.log.warn('watch silent (no event or bookmark); taking it for dropped', { silentMs: Math.round(silent) });
        session.end({ type: 'silent' });
      } else {
        this.watchdog = this.clock.setTimeout(check, limit - silent);
      }
    };
    this.watchdog = this.clock.setTimeout(check, limit);
  }

  private disarmWatchdog(): void {
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.wake = undefined;
        this.sleepTimer = undefined;
        resolve();
      };
      this.wake = done;
      this.sleepTimer = this.clock.setTimeout(done, ms);
    });
  }

  private scheduleResync(period: number): void {
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.stopped) return;
      if (this.synced) this.resync();
      this.scheduleResync(period);
    }, period);
  }

  /** Re-delivers every cached object as an update to the handlers that asked for resync. */
  resync(): void {
    const targets = this.handlers.filter((e) => e.resync);
    if (!targets.length) return;
    for (const obj of [...this.items.values()]) {
      for (const e of targets) if (!e.removed) this.call(e, 'onUpdate', () => e.handler.onUpdate?.(obj, obj));
    }
  }

  // ---- cache maintenance --------------------------------------------------------------------------

  /** Makes the cache equal to a fresh list, telling handlers what changed. */
  private replace(items: T[], rv: string): void {
    const initial = !this.synced;
    const seen = new Set<string>();
    for (const raw of items) {
      const key = keyOf(raw);
      seen.add(key);
      const old = this.items.get(key);
      if (old && old.metadata.resourceVersion === raw.metadata.resourceVersion && old.metadata.uid === raw.metadata.uid) continue;
      this.upsert(raw, initial);
    }
    for (const [key, old] of [...this.items]) {
      if (seen.has(key)) continue;
      this.removeKey(key, old);
      this.notifyDelete(old, true);
    }
    this.lastRv = rv;
    if (initial) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w(true);
    }
  }

  private upsert(raw: T, initial: boolean): void {
    const obj = this.prepare(raw);
    const key = keyOf(obj);
    const old = this.items.get(key);
    if (old && old.metadata.uid !== obj.metadata.uid) {
      // Same name, another object: the old one is gone.
      this.removeKey(key, old);
      this.notifyDelete(old, true);
      this.insert(key, obj);
      this.notifyAdd(obj, initial);
    } else if (old) {
      this.removeFromIndices(key, old);
      this.insert(key, obj);
      for (const e of this.handlers) this.call(e, 'onUpdate', () => e.handler.onUpdate?.(old, obj));
    } else {
      this.insert(key, obj);
      this.notifyAdd(obj, initial);
    }
  }

  private insert(key: string, obj: T): void {
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const v of this.indexValues(fn, obj)) addTo(index, v, key);
    }
  }

  private removeKey(key: string, old: T): void {
    this.items.delete(key);
    this.removeFromIndices(key, old);
  }

  private removeFromIndices(key: string, old: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const v of this.indexValues(fn, old)) {
        const set = index.get(v);
        if (!set) continue;
        set.delete(key);
        if (!set.size) index.delete(v);
      }
    }
  }

  private indexValues(fn: IndexFunc<T>, obj: T): readonly string[] {
    try {
      const v = fn(obj);
      if (v === undefined || v === null) return [];
      return typeof v === 'string' ? [v] : v;
    } catch (err) {
      this.log.warn('indexer threw; object left out of the index', { err, key: keyOf(obj) });
      return [];
    }
  }

  private prepare(obj: T): T {
    return this.freeze ? deepFreeze(obj) : obj;
  }

  private notifyAdd(obj: T, initial: boolean): void {
    for (const e of this.handlers) this.call(e, 'onAdd', () => e.handler.onAdd?.(obj, initial));
  }

  private notifyDelete(obj: T, finalStateUnknown: boolean): void {
    for (const e of this.handlers) this.call(e, 'onDelete', () => e.handler.onDelete?.(obj, finalStateUnknown));
  }

  /** A throwing handler is logged and skipped; it never stops the informer or other handlers. */
  private call(e: HandlerEntry<T>, what: string, fn: () => void): void {
    if (e.removed) return;
    try {
      fn();
    } catch (err) {
      this.log.error('event handler threw', { err, handler: what });
    }
  }
}

function addTo(index: Map<string, Set<string>>, value: string, key: string): void {
  let set = index.get(value);
  if (!set) {
    set = new Set();
    index.set(value, set);
  }
  set.add(key);
}

export function deepFreeze<V>(v: V): V {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v as Record<string, unknown>)) deepFreeze(child);
  }
  return v;
}
