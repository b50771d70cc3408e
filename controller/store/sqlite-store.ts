// The embedded ResourceStore: Kubernetes object semantics over one SQLite file.
//
// Tables: `history` (one row per change, keyed by the global resourceVersion, bounded), `resources`
// (the current object per key, kept up to date from history by triggers), `owner_refs` (owner uid →
// dependent uid, so garbage collection does not scan every object).
//
// A write holds the connection (SqliteDb.locked), reads what it needs, decides, and only then
// applies its statements in one batch. Every object change is one INSERT into history whose triggers
// update `resources` inside SQLite, so the common create or update is a single statement: SQLite
// makes it atomic on its own, without BEGIN/COMMIT. That matters because each statement is a round
// trip through sqlite3's thread pool, the largest cost after fsync. Watchers are fed after the batch
// commits, while the connection is still held (see watchers.ts). This relies on one process owning
// the file, which the in-memory resourceVersion and watch fan-out need anyway.
import { createHash, randomUUID } from 'node:crypto';
import { API_VERSION, type FieldError, type ObjectMeta, type Resource, type AnyResource } from '../../crds/resource.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { BodyCache } from './body-cache.ts';
import { alreadyExists, badRequest, conflict, gone, invalid, notFound, StoreError } from './errors.ts';
import { parseFieldSelector, type FieldSelector } from './field-selector.ts';
import { parseLabelSelector, type LabelSelector } from './label-selector.ts';
import { deepEqual, mergePatch } from './merge-patch.ts';
import { canonicalMeta, generateNameSuffix, nameProblem, ORPHAN_FINALIZER, validateMetadata } from './metadata.ts';
import { migrate, type Migration } from './migrations.ts';
import { SqliteDb, SqliteError, type SqlRunner, type Statement, type Synchronous } from './sqlite-db.ts';
import type {
  DeleteOptions,
  KindScope,
  ListOptions,
  ResourceList,
  ResourceStore,
  SchemaValidator,
  UpdateOptions,
  Watch,
  WriteOptions,
  WatchEvent,
  WatchOptions,
  LocalRevision,
} from './types.ts';
import { WatchHub, Watcher, type Change } from './watchers.ts';

export const STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'resources, bounded change history, owner reference index',
    up: `
      CREATE TABLE resources (
        id        INTEGER PRIMARY KEY,
        kind      TEXT    NOT NULL,
        namespace TEXT    NOT NULL,          -- '' for cluster-scoped kinds
        name      TEXT    NOT NULL,
        uid       TEXT    NOT NULL UNIQUE,
        rv        INTEGER NOT NULL,
        body      TEXT    NOT NULL,
        UNIQUE (kind, namespace, name)
      );
      CREATE TABLE history (
        rv        INTEGER PRIMARY KEY,       -- the global resourceVersion; dense from min(rv) to max(rv)
        type      TEXT    NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
        kind      TEXT    NOT NULL,
        namespace TEXT    NOT NULL,
        name      TEXT    NOT NULL,
        uid       TEXT    NOT NULL,
        body      TEXT    NOT NULL,
        prev_body TEXT                       -- only when labels changed (selector watches need it)
      );
      CREATE TRIGGER history_added AFTER INSERT ON history WHEN NEW.type = 'ADDED' BEGIN
        INSERT INTO resources (kind, namespace, name, uid, rv, body) VALUES (NEW.kind, NEW.namespace, NEW.name, NEW.uid, NEW.rv, NEW.body);
      END;
      CREATE TRIGGER history_modified AFTER INSERT ON history WHEN NEW.type = 'MODIFIED' BEGIN
        UPDATE resources SET rv = NEW.rv, body = NEW.body WHERE uid = NEW.uid;
      END;
      CREATE TRIGGER history_deleted AFTER INSERT ON history WHEN NEW.type = 'DELETED' BEGIN
        DELETE FROM resources WHERE uid = NEW.uid;
        DELETE FROM owner_refs WHERE dependent_uid = NEW.uid;
      END;
      CREATE TABLE owner_refs (
        owner_uid     TEXT NOT NULL,
        dependent_uid TEXT NOT NULL,
        PRIMARY KEY (owner_uid, dependent_uid)
      ) WITHOUT ROWID;
      CREATE INDEX owner_refs_dependent ON owner_refs (dependent_uid);
    `,
  },
];

export interface SqliteStoreOptions {
  schema: SchemaValidator;
  /** Database file; or pass `db` to share a connection (then close() leaves it open). */
  path?: string;
  db?: SqliteDb;
  /** For a store that opens its own file. FULL by default: acknowledged writes survive power loss. */
  synchronous?: Synchronous;
  /** Changes kept for watches from an older resourceVersion; older ones answer 410 Gone. */
  historyLimit?: number;
  /** Undelivered events a watcher may accumulate before it is closed with an ERROR event. */
  maxWatchBacklog?: number;
  /** Objects whose latest JSON is kept in memory for get and update (0: none). */
  cacheSize?: number;
  /** Largest serialised object accepted. */
  maxObjectBytes?: number;
  log?: Logger;
  /** Clock for timestamps (tests). */
  now?: () => Date;
}

/**
 * What the writes of one transaction (SqliteDb.write groups them) have applied but not committed yet:
 * the writes after them must see it, and nobody else may before the COMMIT (the cache, `rv` and the
 * watchers change only then).
 */
interface GroupState {
  /** The last resourceVersion handed out in the group. */
  rv: number;
  /** Bodies by cache key (null: removed). */
  bodies: Map<string, string | null>;
  /** Objects by uid (null: removed). */
  byUid: Map<string, Resource | null>;
}

interface WriteCtx {
  r: SqlRunner;
  /** The last resourceVersion handed out in this write. */
  rv: number;
  changes: Change[];
  /** Applied together at the end (see write()). */
  statements: Statement[];
  /** Objects this write has already changed, by uid (null: removed): reads must see them. */
  touched: Map<string, Resource | null>;
  /** The writes before this one in the same transaction. */
  group: GroupState;
}

type Mode = 'spec' | 'status';
type Policy = 'Background' | 'Orphan';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const IMMUTABLE_META = ['name', 'namespace', 'uid', 'creationTimestamp'] as const;
const CONFLICT_DETAIL = 'the object has been modified; please apply your changes to the latest version and try again';

export class SqliteStore implements ResourceStore, LocalRevision {
  readonly db: SqliteDb;
  private readonly ownsDb: boolean;
  private readonly schema: SchemaValidator;
  private readonly historyLimit: number;
  private readonly pruneEvery: number;
  private readonly maxWatchBacklog: number;
  private readonly maxObjectBytes: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly hub = new WatchHub();
  private readonly cache: BodyCache;
  /** Newest committed resourceVersion; only changed after COMMIT, under the connection lock. */
  private rv = 0;
  private prunedBelow = 0;
  private closed = false;

  private constructor(db: SqliteDb, ownsDb: boolean, opts: SqliteStoreOptions) {
    this.db = db;
    this.ownsDb = ownsDb;
    this.schema = opts.schema;
    this.historyLimit = Math.max(1, Math.floor(opts.historyLimit ?? 10_000));
    // Pruning in steps keeps the common write at one history statement; the bound is approximate upward.
    this.pruneEvery = Math.max(1, Math.min(256, Math.floor(this.historyLimit / 20)));
    this.maxWatchBacklog = opts.maxWatchBacklog ?? 100_000;
    this.maxObjectBytes = opts.maxObjectBytes ?? 1536 * 1024;
    this.log = opts.log ?? rootLogger.child({ component: 'store' });
    this.now = opts.now ?? (() => new Date());
    this.cache = new BodyCache(opts.cacheSize ?? 10_000);
  }

  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    if (!opts.db && !opts.path) throw new Error('SqliteStore.open needs a path or an open SqliteDb');
    const db = opts.db ?? (await SqliteDb.open(opts.path!, { synchronous: opts.synchronous }));
    try {
      await migrate(db, 'store', STORE_MIGRATIONS);
      const row = await db.get<{ rv: number | null }>('SELECT max(rv) AS rv FROM history');
      const store = new SqliteStore(db, !opts.db, opts);
      store.rv = row?.rv ?? 0;
      return store;
    } catch (err) {
      if (!opts.db) await db.close().catch(() => {});
      throw err;
    }
  }

  async currentResourceVersion(): Promise<string> {
    this.assertOpen();
    return String(this.rv);
  }

  // ---- reads ------------------------------------------------------------------------------------

  async get<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string): Promise<T> {
    this.assertOpen();
    const info = this.info(kind);
    const key = BodyCache.key(info.kind, nsKey(info, namespace), name);
    const hit = this.cache.get(key);
    if (hit !== undefined) return JSON.parse(hit) as T;
    // Filled under the lock: a write cannot commit between the read and the fill and be overwritten.
    return this.db.locked((r) => this.load(r, info, namespace, name)) as Promise<T>;
  }

  async list<T extends AnyResource = Resource>(kind: string, opts: ListOptions = {}): Promise<ResourceList<T>> {
    this.assertOpen();
    const info = this.info(kind);
    const ns = info.scope === 'Cluster' || opts.namespace === undefined || opts.namespace === '' ? undefined : opts.namespace;
    const selector = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit must be a non-negative integer, not ${String(opts.limit)}`);
    const query = queryId(info.kind, ns, selector, fields);
    const filtered = !selector.empty || !fields.empty;
    let after: [string, string] = ['', ''];
    if (opts.continue) after = decodeContinue(opts.continue, query);

    const { rows, rv } = await this.db.locked(async (r) => {
      const out: Resource[] = [];
      const want = limit ? limit + 1 : Infinity;
      // Without a selector every row counts, so one query fetches exactly enough; with one, fetch in
      // batches until the page is full.
      const batch = !limit ? -1 : !filtered ? limit + 1 : Math.max(100, limit * 2);
      for (;;) {
        const page = ns === undefined
          ? await r.all<{ namespace: string; name: string; body: string }>(
              'SELECT namespace, name, body FROM resources WHERE kind = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name LIMIT ?',
              [info.kind, after[0], after[1], batch],
            )
          : await r.all<{ namespace: string; name: string; body: string }>(
              'SELECT namespace, name, body FROM resources WHERE kind = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?',
              [info.kind, ns, after[1], batch],
            );
        for (const row of page) {
          const obj = JSON.parse(row.body) as Resource;
          if (selector.matches(obj.metadata.labels) && fields.matches(obj.metadata)) out.push(obj);
          if (out.length >= want) break;
        }
        if (out.length >= want || batch < 0 || page.length < batch) break;
        const last = page[page.length - 1]!;
        after = [last.namespace, last.name];
      }
      return { rows: out, rv: this.rv };
    });

    let cont: string | undefined;
    if (limit && rows.length > limit) {
      rows.length = limit;
      const last = rows[limit - 1]!.metadata;
      cont = encodeContinue(query, last.namespace ?? '', last.name);
    }
    return { items: rows as T[], resourceVersion: String(rv), ...(cont ? { continue: cont } : {}) };
  }

  // ---- writes -----------------------------------------------------------------------------------

  async create<T extends AnyResource = Resource>(input: T, opts: WriteOptions = {}): Promise<T> {
    this.assertOpen();
    const obj = parseInput(input);
    const info = this.info(obj.kind);
    const meta = obj.metadata as ObjectMeta & { generateName?: string };
    const namespaced = info.scope === 'Namespaced';
    if (namespaced) meta.namespace = meta.namespace || 'default';
    else delete meta.namespace;
    // Server-owned fields: whatever the client sent is replaced.
    for (const f of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp'] as const) delete meta[f];
    if (info.hasStatusSubresource !== false) delete obj.status;

    const generate = !meta.name && typeof meta.generateName === 'string' && meta.generateName !== '';
    // The suffix is chosen in the transaction; validate with a placeholder of the same shape.
    if (generate) meta.name = `${meta.generateName}xxxxx`;
    const errs = this.check(info, obj);
    const label = meta.name || meta.generateName || '';
    if (errs.length) throw invalid(info.kind, label, errs);

    const created = this.write(async (w) => {
      const key = nsKey(info, meta.namespace);
      if (generate) {
        for (let i = 0; ; i++) {
          meta.name = `${meta.generateName}${generateNameSuffix()}`;
          if (!(await this.exists(w.r, info.kind, key, meta.name))) break;
          if (i === 8) throw new StoreError('AlreadyExists', `could not generate a unique name from "${meta.generateName}"; retry`, { kind: info.kind });
        }
      } else if (opts.dryRun && (await this.exists(w.r, info.kind, key, meta.name))) {
        // A real create learns this from the UNIQUE constraint, which a dry run never reaches.
        throw alreadyExists(info.kind, meta.name);
      }
      meta.uid = randomUUID();
      meta.creationTimestamp = this.timestamp();
      meta.generation = 1;
      obj.metadata = canonicalMeta(meta);
      this.emit(w, 'ADDED', obj);
      this.indexOwners(w, obj);
      if (opts.dryRun) delete obj.metadata.resourceVersion;
      return obj as T;
    }, opts.dryRun);
    // A taken name fails the UNIQUE (kind, namespace, name) of resources: no lookup round trip needed.
    return created.catch((err: unknown) => {
      throw isNameTaken(err) ? alreadyExists(info.kind, meta.name) : err;
    });
  }

  async update<T extends AnyResource = Resource>(input: T, opts: WriteOptions = {}): Promise<T> {
    this.assertOpen();
    const obj = parseInput(input);
    const info = this.info(obj.kind);
    const rv = requireVersion(info, obj);
    return this.modify(info, obj.metadata.namespace, obj.metadata.name, rv, 'spec', opts, (cur) => {
      const m = obj.metadata;
      const next: Resource = { ...cur, apiVersion: obj.apiVersion ?? cur.apiVersion, kind: obj.kind, spec: obj.spec };
      next.metadata = {
        ...cur.metadata,
        uid: m.uid ?? cur.metadata.uid,
        creationTimestamp: m.creationTimestamp ?? cur.metadata.creationTimestamp,
        labels: m.labels,
        annotations: m.annotations,
        finalizers: m.finalizers,
        ownerReferences: m.ownerReferences,
      };
      if (info.hasStatusSubresource === false) next.status = obj.status;
      return next;
    }) as Promise<T>;
  }

  async patch<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, patch: unknown, opts: UpdateOptions = {}): Promise<T> {
    this.assertOpen();
    const info = this.info(kind);
    if (!isPlainObject(patch)) throw badRequest(`a merge patch of ${info.kind} "${name}" must be a JSON object`);
    const p = parseJson(patch, 'patch') as Record<string, unknown>;
    let precondition = opts.resourceVersion;
    if (isPlainObject(p.metadata)) {
      // Kubernetes treats a resourceVersion inside the patch as a precondition, not as a value to write.
      const prv = p.metadata.resourceVersion;
      if (precondition === undefined && typeof prv === 'string' && prv !== '') precondition = prv;
      delete p.metadata.resourceVersion;
    }
    if (info.hasStatusSubresource !== false) delete p.status;
    return this.modify(info, namespace, name, precondition, 'spec', opts, (cur) => mergePatch(cur, p) as Resource) as Promise<T>;
  }

  async updateStatus<T extends AnyResource = Resource>(input: T): Promise<T> {
    this.assertOpen();
    const obj = parseInput(input);
    const info = this.info(obj.kind);
    const rv = requireVersion(info, obj);
    return this.modify(info, obj.metadata.namespace, obj.metadata.name, rv, 'status', {}, (cur) => ({ ...cur, status: obj.status })) as Promise<T>;
  }

  async patchStatus<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, statusPatch: unknown, opts: UpdateOptions = {}): Promise<T> {
    this.assertOpen();
    const info = this.info(kind);
    if (statusPatch !== null && !isPlainObject(statusPatch)) throw badRequest(`a status merge patch of ${info.kind} "${name}" must be a JSON object`);
    const p = parseJson(statusPatch, 'status patch');
    return this.modify(info, namespace, name, opts.resourceVersion, 'status', opts, (cur) => ({
      ...cur,
      status: mergePatch(cur.status, p) as Record<string, unknown> | undefined,
    })) as Promise<T>;
  }

  async delete<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<T> {
    this.assertOpen();
    const info = this.info(kind);
    const policy = opts.propagationPolicy ?? 'Background';
    if (policy !== 'Background' && policy !== 'Orphan') throw badRequest(`propagationPolicy must be Background or Orphan, not "${String(policy)}"`);
    return this.write(async (w) => {
      const cur = await this.load(w.r, info, namespace, name, w.group);
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== cur.metadata.resourceVersion) {
        throw conflict(info.kind, name, `precondition failed: resourceVersion ${opts.resourceVersion} was required, the object is at ${cur.metadata.resourceVersion}`);
      }
      // Deleting again changes nothing: the first deletionTimestamp stands.
      if (cur.metadata.deletionTimestamp) return cur as T;
      const finalizers = cur.metadata.finalizers ?? [];
      if (!finalizers.length) {
        if (opts.dryRun) return cur as T;
        return (await this.remove(w, cur, policy)) as T;
      }
      const next = clone(cur);
      next.metadata.deletionTimestamp = this.timestamp();
      next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
      if (policy === 'Orphan' && !finalizers.includes(ORPHAN_FINALIZER)) next.metadata.finalizers = [...finalizers, ORPHAN_FINALIZER];
      const saved = await this.save(w, next, cur);
      if (opts.dryRun) saved.metadata.resourceVersion = cur.metadata.resourceVersion;
      return saved as T;
    }, opts.dryRun);
  }

  // ---- watch ------------------------------------------------------------------------------------

  /** As ResourceStore.watch; this store can also watch every kind at once (kind omitted). */
  async watch(opts: Omit<WatchOptions, 'kind'> & { kind?: string }, onEvent: (ev: WatchEvent) => void): Promise<Watch> {
    this.assertOpen();
    const info = opts.kind === undefined ? undefined : this.info(opts.kind);
    const namespace = info?.scope === 'Cluster' || opts.namespace === '' ? undefined : opts.namespace;
    const selector = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    const from = parseVersion(opts.resourceVersion);
    const interval = opts.bookmarkIntervalMs ?? 0;
    if (!Number.isFinite(interval) || interval < 0) throw badRequest(`bookmarkIntervalMs must be a non-negative number, not ${interval}`);

    const watcher = new Watcher({
      filter: { kind: info?.kind, namespace, selector, fields },
      onEvent,
      maxBacklog: this.maxWatchBacklog,
      log: this.log,
      bookmarkShell: { apiVersion: info?.apiVersion ?? API_VERSION, kind: info?.kind ?? '' },
      onClose: (w) => this.hub.remove(w),
    });
    // Under the connection lock nothing commits: history read now plus live events from here on are
    // every change after `from`, each once.
    await this.db.locked(async (r) => {
      if (from === 0) {
        // "0" means "any version", as in Kubernetes: the current state as ADDED, then changes.
        const rows = await r.all<{ body: string }>(
          `SELECT body FROM resources WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR namespace = ?2) ORDER BY kind, namespace, name`,
          [info?.kind ?? null, namespace ?? null],
        );
        for (const row of rows) watcher.offerExisting(JSON.parse(row.body) as Resource);
      } else if (from !== undefined && from !== this.rv) {
        if (from > this.rv) throw gone(`resourceVersion ${from} is newer than the store's (${this.rv}); list again`);
        const oldest = (await r.get<{ rv: number | null }>('SELECT min(rv) AS rv FROM history'))?.rv ?? this.rv + 1;
        if (from < oldest - 1) throw gone(`too old resource version: ${from} (history starts after ${oldest - 1}); list again`);
        const rows = await r.all<HistoryRow>(
          'SELECT rv, type, kind, namespace, name, body, prev_body FROM history WHERE rv > ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY rv',
          [from, info?.kind ?? null],
        );
        for (const row of rows) watcher.offer(changeFromRow(row));
      }
      watcher.lastRv = this.rv;
      this.hub.add(watcher);
    });
    watcher.startBookmarks(interval, () => this.rv);
    return { stop: () => watcher.stop() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.stopAll();
    if (this.ownsDb) await this.db.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }

  private info(kind: unknown): KindScope {
    if (typeof kind !== 'string' || kind === '') throw badRequest('kind is required');
    const info = this.schema.get(kind);
    if (!info) throw badRequest(`no kind "${kind}" is registered (the CRDs define which kinds exist)`);
    return info;
  }

  private timestamp(): string {
    // Kubernetes timestamps are RFC 3339 with second precision.
    return this.now().toISOString().replace(/\.\d+Z$/, 'Z');
  }

  /** Metadata rules plus the kind's schema (which applies defaults in place). */
  private check(info: KindScope, obj: Resource): FieldError[] {
    const errs: FieldError[] = [];
    if (obj.apiVersion === undefined) obj.apiVersion = info.apiVersion;
    else if (obj.apiVersion !== info.apiVersion) errs.push({ field: 'apiVersion', message: `must be ${info.apiVersion}, not "${obj.apiVersion}"` });
    errs.push(...validateMetadata(obj.metadata, info.scope === 'Namespaced'));
    normaliseStatus(obj);
    // The schema may check metadata and apiVersion as well (CrdRegistry does): one cause per field is enough.
    const mine = new Set(errs.map((e) => e.field));
    errs.push(...this.schema.validate(obj).filter((e) => !mine.has(e.field)));
    return errs;
  }

  /**
   * Runs fn with the connection held: fn reads through w.r and queues its writes (emit, indexOwners);
   * they are applied atomically when fn returns — possibly in one transaction with other writes that
   * queued at the same time (group commit, SqliteDb.write) — and once committed, published to
   * watchers before anyone else may use the connection. fn throwing applies nothing.
   */
  private write<T>(fn: (w: WriteCtx) => Promise<T>, dryRun = false): Promise<T> {
    this.assertOpen();
    return this.db.write(async (r) => {
      const group = (r.group.store ??= { rv: this.rv, bodies: new Map(), byUid: new Map() } satisfies GroupState) as GroupState;
      const w: WriteCtx = { r, rv: group.rv, changes: [], statements: [], touched: new Map(), group };
      const result = await fn(w);
      // A dry run decided everything a real write would; it only leaves the statements unapplied.
      if (!w.statements.length || dryRun) return { result, statements: [] };
      const below = w.rv - this.historyLimit;
      const prune = below - this.prunedBelow >= this.pruneEvery;
      if (prune) w.statements.push({ sql: 'DELETE FROM history WHERE rv <= ?', params: [below] });
      const keyOf = (ch: Change) => BodyCache.key(ch.kind, ch.namespace ?? '', ch.name);
      return {
        result,
        statements: w.statements,
        applied: () => {
          group.rv = w.rv;
          for (const ch of w.changes) group.bodies.set(keyOf(ch), ch.type === 'DELETED' ? null : ch.body);
          for (const [uid, obj] of w.touched) group.byUid.set(uid, obj);
        },
        committed: () => {
          if (prune) this.prunedBelow = Math.max(this.prunedBelow, below);
          for (const ch of w.changes) {
            if (ch.type === 'DELETED') this.cache.delete(keyOf(ch));
            else this.cache.set(keyOf(ch), ch.body);
          }
          this.rv = w.rv;
          this.hub.publish(w.changes);
        },
      };
    });
  }

  private async exists(r: SqlRunner, kind: string, ns: string, name: string): Promise<boolean> {
    return (await r.get('SELECT 1 AS x FROM resources WHERE kind = ? AND namespace = ? AND name = ?', [kind, ns, name])) !== undefined;
  }

  /**
   * Call with the connection held (it fills the cache). Inside a write, `group` holds what the writes
   * before it in the same transaction changed: that comes first, as the cache has only committed state.
   */
  private async load(r: SqlRunner, info: KindScope, namespace: string | undefined, name: string, group?: GroupState): Promise<Resource> {
    const ns = nsKey(info, namespace);
    const key = BodyCache.key(info.kind, ns, name);
    const pending = group?.bodies.get(key);
    if (pending === null) throw notFound(info.kind, String(name));
    if (pending !== undefined) return JSON.parse(pending) as Resource;
    let body = this.cache.get(key);
    if (body === undefined) {
      const row = await r.get<{ body: string }>('SELECT body FROM resources WHERE kind = ? AND namespace = ? AND name = ?', [info.kind, ns, name]);
      if (!row) throw notFound(info.kind, String(name));
      body = row.body;
      this.cache.set(key, body);
    }
    return JSON.parse(body) as Resource;
  }

  /** The read-check-write shared by update, patch and their status variants. */
  private modify(
    info: KindScope,
    namespace: string | undefined,
    name: string,
    precondition: string | undefined,
    mode: Mode,
    opts: WriteOptions,
    build: (cur: Resource) => Resource,
  ): Promise<Resource> {
    return this.write(async (w) => {
      const cur = await this.load(w.r, info, namespace, name, w.group);
      if (precondition !== undefined && precondition !== cur.metadata.resourceVersion) throw conflict(info.kind, name, CONFLICT_DETAIL);
      let next = build(clone(cur));
      if (!isPlainObject(next) || !isPlainObject(next.metadata)) throw invalid(info.kind, name, [{ field: 'metadata', message: 'is required' }]);

      const errs: FieldError[] = [];
      for (const f of IMMUTABLE_META) {
        if (next.metadata[f] !== cur.metadata[f]) {
          errs.push({ field: `metadata.${f}`, message: `field is immutable (is ${JSON.stringify(cur.metadata[f])}, got ${JSON.stringify(next.metadata[f])})` });
        }
      }
      if (next.kind !== cur.kind) errs.push({ field: 'kind', message: `field is immutable (is "${cur.kind}")` });
      if (errs.length) throw invalid(info.kind, name, errs);
      // Server-owned metadata follows the stored object whatever the client sent.
      const { resourceVersion, generation, deletionTimestamp } = cur.metadata;
      next.metadata = { ...next.metadata, resourceVersion, generation, deletionTimestamp };
      if (deletionTimestamp === undefined) delete next.metadata.deletionTimestamp;
      const statusSub = info.hasStatusSubresource !== false;

      if (mode === 'status') {
        const candidate: Resource = { ...clone(cur), status: next.status };
        const vErrs = this.check(info, candidate);
        if (vErrs.length) throw invalid(info.kind, name, vErrs);
        // Schema defaults may touch spec; a status write must not, so only the status is kept.
        next = { ...clone(cur), status: candidate.status };
        normaliseStatus(next);
      } else {
        if (statusSub) next.status = cur.status;
        if (cur.metadata.deletionTimestamp) next = this.deletingWrite(info, cur, next, statusSub);
        else {
          const vErrs = this.check(info, next);
          if (vErrs.length) throw invalid(info.kind, name, vErrs);
        }
      }
      next.metadata = canonicalMeta(next.metadata);
      if (next.status === undefined) delete next.status;
      if (next.spec === undefined) delete next.spec;
      if (deepEqual(next, cur)) return cur;

      if (!deepEqual(next.spec, cur.spec) || (!statusSub && !deepEqual(next.status, cur.status))) {
        next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
      }
      const saved = await this.save(w, next, cur);
      if (opts.dryRun) saved.metadata.resourceVersion = cur.metadata.resourceVersion;
      return saved;
    }, opts.dryRun);
  }

  /** An object being deleted may only lose finalizers (and have its status written). */
  private deletingWrite(info: KindScope, cur: Resource, next: Resource, statusSub: boolean): Resource {
    const a = canonicalMeta(cur.metadata);
    const b = canonicalMeta(next.metadata);
    const errs: FieldError[] = [];
    for (const f of ['labels', 'annotations', 'ownerReferences'] as const) {
      if (!deepEqual(a[f], b[f])) errs.push({ field: `metadata.${f}`, message: 'may not change while the object is being deleted (only finalizers may be removed)' });
    }
    if (!deepEqual(cur.spec, next.spec)) errs.push({ field: 'spec', message: 'may not change while the object is being deleted (only finalizers may be removed)' });
    if (!statusSub && !deepEqual(cur.status, next.status)) errs.push({ field: 'status', message: 'may not change while the object is being deleted' });
    const before = a.finalizers ?? [];
    const after = Array.isArray(b.finalizers) ? b.finalizers : [];
    const added = after.filter((f) => !before.includes(f));
    if (added.length) errs.push({ field: 'metadata.finalizers', message: `no new finalizers can be added while the object is being deleted (added ${added.join(', ')})` });
    if (errs.length) throw invalid(info.kind, cur.metadata.name, errs);
    const result = clone(cur);
    result.metadata.finalizers = after;
    return result;
  }

  /**
   * Writes `next` over `cur`, or removes it when it is being deleted and no finalizer holds it any
   * more (the orphan finalizer is the store's own: it is honoured here, not waited for).
   */
  private async save(w: WriteCtx, next: Resource, cur: Resource): Promise<Resource> {
    const finalizers = next.metadata.finalizers ?? [];
    if (next.metadata.deletionTimestamp && finalizers.every((f) => f === ORPHAN_FINALIZER)) {
      return this.remove(w, next, finalizers.length ? 'Orphan' : 'Background');
    }
    this.emit(w, 'MODIFIED', next, cur);
    const uids = (o: Resource) => (o.metadata.ownerReferences ?? []).map((r) => r.uid).join('\n');
    if (uids(next) !== uids(cur)) {
      w.statements.push({ sql: 'DELETE FROM owner_refs WHERE dependent_uid = ?', params: [next.metadata.uid] });
      this.indexOwners(w, next);
    }
    return next;
  }

  /**
   * Removes an object, then handles its dependents like the Kubernetes garbage collector: Orphan strips
   * the owner reference; Background deletes each dependent (through its own finalizers), except that
   * one with another owner still present only loses the dangling reference. All in this transaction,
   * so a crash cannot leave half a cascade behind; the owner's DELETED event comes first.
   */
  private async remove(w: WriteCtx, obj: Resource, policy: Policy): Promise<Resource> {
    const uid = obj.metadata.uid!;
    this.emit(w, 'DELETED', obj);
    const deps = await w.r.all<{ dependent_uid: string }>('SELECT dependent_uid FROM owner_refs WHERE owner_uid = ? ORDER BY dependent_uid', [uid]);
    w.statements.push({ sql: 'DELETE FROM owner_refs WHERE owner_uid = ?', params: [uid] });
    const ownerIsCluster = this.schema.get(obj.kind)?.scope === 'Cluster';

    for (const { dependent_uid } of deps) {
      // Through `touched`: an earlier step of this cascade may have changed or removed it.
      const dep = await this.byUid(w, dependent_uid);
      const refs = dep?.metadata.ownerReferences ?? [];
      if (!dep || !refs.some((r) => r.uid === uid)) continue;
      // A namespaced owner only owns objects of its own namespace; other references are invalid and ignored.
      if (!ownerIsCluster && dep.metadata.namespace !== obj.metadata.namespace) continue;
      const others = refs.filter((r) => r.uid !== uid);
      if (policy === 'Orphan' || (await this.anyExists(w, others.map((r) => r.uid)))) {
        const next = clone(dep);
        next.metadata = canonicalMeta({ ...next.metadata, ownerReferences: others });
        await this.save(w, next, dep);
      } else if (!dep.metadata.deletionTimestamp) {
        if ((dep.metadata.finalizers ?? []).length) {
          const next = clone(dep);
          next.metadata.deletionTimestamp = this.timestamp();
          next.metadata.generation = (dep.metadata.generation ?? 0) + 1;
          next.metadata = canonicalMeta(next.metadata);
          await this.save(w, next, dep);
        } else {
          await this.remove(w, dep, 'Background');
        }
      }
    }
    return obj;
  }

  /** The object as this write sees it: its own changes first, then the database. */
  private async byUid(w: WriteCtx, uid: string): Promise<Resource | undefined> {
    const mine = w.touched.has(uid) ? w.touched.get(uid) : w.group.byUid.get(uid);
    if (mine !== undefined) return mine === null ? undefined : clone(mine);
    const row = await w.r.get<{ body: string }>('SELECT body FROM resources WHERE uid = ?', [uid]);
    return row ? (JSON.parse(row.body) as Resource) : undefined;
  }

  private async anyExists(w: WriteCtx, uids: string[]): Promise<boolean> {
    for (const uid of uids) if (await this.byUid(w, uid)) return true;
    return false;
  }

  private indexOwners(w: WriteCtx, obj: Resource): void {
    for (const ref of obj.metadata.ownerReferences ?? []) {
      w.statements.push({ sql: 'INSERT OR IGNORE INTO owner_refs (owner_uid, dependent_uid) VALUES (?, ?)', params: [ref.uid, obj.metadata.uid] });
    }
  }

  /**
   * The one way an object is written: stamps the next resourceVersion on obj and queues its history
   * row (whose triggers apply it to `resources`) and its watch event.
   */
  private emit(w: WriteCtx, type: Change['type'], obj: Resource, prev?: Resource): void {
    const rv = w.rv + 1;
    obj.metadata.resourceVersion = String(rv);
    const body = JSON.stringify(obj);
    if (type !== 'DELETED' && Buffer.byteLength(body) > this.maxObjectBytes) {
      throw badRequest(`${obj.kind} "${obj.metadata.name}" is too large: ${Buffer.byteLength(body)} bytes, the limit is ${this.maxObjectBytes}`);
    }
    const labelsChanged = type === 'MODIFIED' && prev !== undefined && !deepEqual(prev.metadata.labels, obj.metadata.labels);
    const prevBody = labelsChanged ? JSON.stringify(prev) : undefined;
    const ns = obj.metadata.namespace ?? '';
    w.statements.push({
      sql: 'INSERT INTO history (rv, type, kind, namespace, name, uid, body, prev_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      params: [rv, type, obj.kind, ns, obj.metadata.name, obj.metadata.uid, body, prevBody ?? null],
    });
    w.touched.set(obj.metadata.uid!, type === 'DELETED' ? null : obj);
    w.rv = rv;
    w.changes.push({
      rv,
      type,
      kind: obj.kind,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      body,
      labels: obj.metadata.labels,
      ...(labelsChanged ? { prevBody, prevLabels: prev!.metadata.labels } : {}),
    });
  }
}

interface HistoryRow {
  rv: number;
  type: Change['type'];
  kind: string;
  namespace: string;
  name: string;
  body: string;
  prev_body: string | null;
}

function changeFromRow(row: HistoryRow): Change {
  const obj = JSON.parse(row.body) as Resource;
  return {
    rv: row.rv,
    type: row.type,
    kind: row.kind,
    namespace: row.namespace || undefined,
    name: row.name,
    body: row.body,
    labels: obj.metadata.labels,
    ...(row.prev_body !== null ? { prevBody: row.prev_body, prevLabels: (JSON.parse(row.prev_body) as Resource).metadata.labels } : {}),
  };
}

/** The UNIQUE (kind, namespace, name) constraint of resources, hit by a create of a taken name. */
function isNameTaken(err: unknown): boolean {
  return err instanceof SqliteError && err.code === 'SQLITE_CONSTRAINT' && /resources\.kind, resources\.namespace, resources\.name/.test(err.message);
}

function nsKey(info: KindScope, namespace: string | undefined): string {
  return info.scope === 'Cluster' ? '' : namespace || 'default';
}

function parseJson(v: unknown, what: string): unknown {
  try {
    return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
  } catch (err) {
    throw badRequest(`${what} is not representable as JSON: ${(err as Error).message}`);
  }
}

/** A private, JSON-clean copy of a client object (callers keep theirs untouched). */
function parseInput(input: unknown): Resource {
  if (!isPlainObject(input)) throw badRequest('the object must be a JSON object');
  const obj = parseJson(input, 'the object') as Resource;
  if (typeof obj.kind !== 'string' || obj.kind === '') throw badRequest('kind is required');
  if (obj.metadata === undefined) obj.metadata = {} as ObjectMeta;
  if (!isPlainObject(obj.metadata)) throw invalid(obj.kind, '', [{ field: 'metadata', message: 'must be an object' }]);
  return obj;
}

function requireVersion(info: KindScope, obj: Resource): string {
  const np = nameProblem(obj.metadata.name);
  if (np) throw invalid(info.kind, String(obj.metadata.name ?? ''), [{ field: 'metadata.name', message: np }]);
  const rv = obj.metadata.resourceVersion;
  if (typeof rv !== 'string' || rv === '') {
    throw invalid(info.kind, obj.metadata.name, [{ field: 'metadata.resourceVersion', message: 'must be specified for an update' }]);
  }
  return rv;
}

/** `status: {}` and no status mean the same; keeping one form makes no-op writes detectable. */
function normaliseStatus(obj: Resource): void {
  if (obj.status === null || (isPlainObject(obj.status) && Object.keys(obj.status).length === 0)) delete obj.status;
}

function parseVersion(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,15}$/.test(v)) throw badRequest(`resourceVersion must be a non-negative integer string, not "${v}"`);
  return Number(v);
}

function queryId(kind: string, ns: string | undefined, selector: LabelSelector, fields: FieldSelector): string {
  return createHash('sha256').update(JSON.stringify([kind, ns ?? null, selector.toString(), fields.toString()])).digest('base64url').slice(0, 16);
}

function encodeContinue(query: string, ns: string, name: string): string {
  return Buffer.from(JSON.stringify({ v: 1, q: query, ns, n: name })).toString('base64url');
}

function decodeContinue(token: string, query: string): [string, string] {
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('invalid continue token: not one this store issued');
  }
  if (!isPlainObject(t) || t.v !== 1 || typeof t.q !== 'string' || typeof t.ns !== 'string' || typeof t.n !== 'string') {
    throw badRequest('invalid continue token: not one this store issued');
  }
  if (t.q !== query) throw badRequest('invalid continue token: it belongs to a different query (kind, namespace, labelSelector or fieldSelector changed)');
  return [t.ns, t.n];
}
