// Kubernetes-style Events in the store's database file (table `events`). Events are not resources:
// they are a bounded log of what happened to objects ("Pulled", "Crashed", "ManifestInvalid"), and a
// repeat of the same thing bumps a count instead of adding a row, as the Kubernetes event correlator does.
import { createHash, randomUUID } from 'node:crypto';
import { badRequest } from '../store/errors.ts';
import { migrate, type Migration } from '../store/migrations.ts';
import type { SqlDb } from '../store/sql-db.ts';

export type EventType = 'Normal' | 'Warning';

export interface InvolvedObject {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  apiVersion?: string;
}

/** core/v1 Event, the shape `kubectl get events` reads. */
export interface KubeEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string };
  involvedObject: InvolvedObject;
  reason: string;
  message: string;
  type: EventType;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string };
  reportingComponent: string;
}

export interface EventListOptions {
  /** Events of objects in this namespace (cluster-scoped objects' events are in "default"). */
  namespace?: string;
  kind?: string;
  name?: string;
  /** The involved object's uid (kubectl describe narrows by it, so a namesake's events stay apart). */
  uid?: string;
  type?: EventType;
  reason?: string;
  /** The event's own name. */
  eventName?: string;
  limit?: number;
}

/**
 * Where controllers record what happened to objects, and where `kubectl get events` reads it from:
 * the SQLite table below when embedded (EventRecorder), core/v1 Events on the apiserver in
 * Kubernetes mode (KubeEventSink, controller/events/kube-events.ts).
 */
export interface EventSink {
  /** Records an occurrence; a repeat of the same (object, type, reason, message) only counts up. */
  record(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<KubeEvent>;
  /** Newest first (by last occurrence). */
  list(opts?: EventListOptions): Promise<KubeEvent[]>;
}

export interface EventRecorderOptions {
  db: SqlDb;
  /** source.component of the events this recorder writes. */
  component?: string;
  /** Events kept; the least recently seen go first. */
  maxEvents?: number;
  now?: () => Date;
}

export const EVENT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events with dedupe key and recency order',
    up: `
      CREATE TABLE events (
        id             INTEGER PRIMARY KEY,
        seq            INTEGER NOT NULL,        -- bumped on every occurrence: newest-first order
        dedupe_key     TEXT    NOT NULL UNIQUE,
        name           TEXT    NOT NULL UNIQUE,
        namespace      TEXT    NOT NULL,
        uid            TEXT    NOT NULL,
        obj_kind       TEXT    NOT NULL,
        obj_namespace  TEXT    NOT NULL,        -- '' for cluster-scoped objects
        obj_name       TEXT    NOT NULL,
        obj_uid        TEXT    NOT NULL,        -- '' when unknown
        obj_api_version TEXT   NOT NULL,
        type           TEXT    NOT NULL,
        reason         TEXT    NOT NULL,
        message        TEXT    NOT NULL,
        count          INTEGER NOT NULL,
        first_ts       TEXT    NOT NULL,
        last_ts        TEXT    NOT NULL,
        component      TEXT    NOT NULL
      );
      CREATE INDEX events_seq ON events (seq);
      CREATE INDEX events_object ON events (obj_kind, obj_name);
      CREATE INDEX events_namespace ON events (namespace, seq);
    `,
  },
];

interface Row {
  /** The table's rowid (absent for a row built before its INSERT). */
  id?: number;
  seq: number;
  name: string;
  namespace: string;
  uid: string;
  obj_kind: string;
  obj_namespace: string;
  obj_name: string;
  obj_uid: string;
  obj_api_version: string;
  type: EventType;
  reason: string;
  message: string;
  count: number;
  first_ts: string;
  last_ts: string;
  component: string;
}

const MAX_MESSAGE = 1024;
const MAX_REASON = 128;

export class EventRecorder implements EventSink {
  private readonly db: SqlDb;
  private readonly component: string;
  private readonly maxEvents: number;
  private readonly now: () => Date;
  private seq = 0;
  private rows = 0;

  private constructor(opts: EventRecorderOptions) {
    this.db = opts.db;
    this.component = opts.component ?? 'gantry-controller';
    this.maxEvents = Math.max(1, opts.maxEvents ?? 10_000);
    this.now = opts.now ?? (() => new Date());
  }

  static async open(opts: EventRecorderOptions): Promise<EventRecorder> {
    await migrate(opts.db, 'events', EVENT_MIGRATIONS);
    const r = new EventRecorder(opts);
    const row = await opts.db.get<{ seq: number | null; n: number }>('SELECT max(seq) AS seq, count(*) AS n FROM events');
    r.seq = row?.seq ?? 0;
    r.rows = row?.n ?? 0;
    return r;
  }

  /** Records an occurrence; a repeat of the same (object, type, reason, message) only counts up. */
  async record(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<KubeEvent> {
    if (!obj || typeof obj.kind !== 'string' || !obj.kind || typeof obj.name !== 'string' || !obj.name) {
      throw badRequest('an event needs the involved object\'s kind and name');
    }
    if (type !== 'Normal' && type !== 'Warning') throw badRequest(`event type must be Normal or Warning, not "${String(type)}"`);
    if (typeof reason !== 'string' || !reason) throw badRequest('an event needs a reason');
    reason = reason.slice(0, MAX_REASON);
    message = String(message ?? '');
    if (message.length > MAX_MESSAGE) message = message.slice(0, MAX_MESSAGE - 1) + '…';

    const objNs = obj.namespace ?? '';
    const key = createHash('sha256')
      .update(JSON.stringify([obj.kind, objNs, obj.name, obj.uid ?? '', type, reason, message, this.component]))
      .digest('base64url');
    const ts = this.now().toISOString().replace(/\.\d+Z$/, 'Z');

    // Through the database's group commit (SQLite): an event shares the COMMIT (the fsync) of the writes
    // queued with it, which is most of an event's cost. PostgreSQL runs it as a transaction of its own.
    return this.db.write(async (r) => {
      // Taken now, not after the commit: an event grouped with this one must get the next number.
      const seq = ++this.seq;
      const hit = await r.get<Row>('SELECT * FROM events WHERE dedupe_key = ?', [key]);
      if (hit) {
        return {
          result: toEvent({ ...hit, count: hit.count + 1, last_ts: ts, seq }),
          statements: [{ sql: 'UPDATE events SET count = count + 1, last_ts = ?, seq = ? WHERE id = ?', params: [ts, seq, hit.id] }],
        };
      }
      // Kubernetes names events <object>.<hex nanoseconds>; seq keeps two in one millisecond apart.
      const nanos = BigInt(this.now().getTime()) * 1_000_000n + BigInt(seq % 1_000_000);
      const row: Row = {
        seq, name: `${obj.name}.${nanos.toString(16)}`, namespace: objNs || 'default', uid: randomUUID(), obj_kind: obj.kind, obj_namespace: objNs,
        obj_name: obj.name, obj_uid: obj.uid ?? '', obj_api_version: obj.apiVersion ?? '', type, reason, message, count: 1, first_ts: ts, last_ts: ts, component: this.component,
      };
      const statements = [{
        sql: `INSERT INTO events (seq, dedupe_key, name, namespace, uid, obj_kind, obj_namespace, obj_name, obj_uid, obj_api_version,
                type, reason, message, count, first_ts, last_ts, component)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
        params: [row.seq, key, row.name, row.namespace, row.uid, row.obj_kind, row.obj_namespace, row.obj_name, row.obj_uid, row.obj_api_version, type, reason, message, ts, ts, this.component],
      }];
      // Pruning in steps of a tenth keeps the common insert cheap; the table never exceeds the cap by more.
      const prune = this.rows + 1 > this.maxEvents + Math.max(1, Math.floor(this.maxEvents / 10));
      // NOT IN … LIMIT reads the same to SQLite and PostgreSQL (LIMIT -1 is SQLite's alone).
      if (prune) statements.push({ sql: 'DELETE FROM events WHERE id NOT IN (SELECT id FROM events ORDER BY seq DESC LIMIT ?)', params: [this.maxEvents] });
      return {
        result: toEvent(row),
        statements,
        applied: () => {
          this.rows = prune ? this.maxEvents : this.rows + 1;
        },
      };
    });
  }

  /** Newest first (by last occurrence). */
  async list(opts: EventListOptions = {}): Promise<KubeEvent[]> {
    const limit = opts.limit ?? -1;
    if (opts.limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) throw badRequest(`limit must be a positive integer, not ${String(opts.limit)}`);
    // Only the filters given, so the statement reads the same to SQLite and PostgreSQL.
    const where: string[] = [];
    const params: unknown[] = [];
    const filters: [string, unknown][] = [
      ['namespace', opts.namespace], ['obj_kind', opts.kind], ['obj_name', opts.name], ['obj_uid', opts.uid],
      ['type', opts.type], ['reason', opts.reason], ['name', opts.eventName],
    ];
    for (const [column, value] of filters) {
      if (value === undefined || value === null) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    if (limit > 0) params.push(limit);
    const rows = await this.db.all<Row>(
      `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC${limit > 0 ? ' LIMIT ?' : ''}`,
      params,
    );
    return rows.map(toEvent);
  }
}

function toEvent(r: Row): KubeEvent {
  const involved: InvolvedObject = { kind: r.obj_kind, name: r.obj_name };
  if (r.obj_namespace) involved.namespace = r.obj_namespace;
  if (r.obj_uid) involved.uid = r.obj_uid;
  if (r.obj_api_version) involved.apiVersion = r.obj_api_version;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: r.name, namespace: r.namespace, uid: r.uid, resourceVersion: String(r.seq), creationTimestamp: r.first_ts },
    involvedObject: involved,
    reason: r.reason,
    message: r.message,
    type: r.type,
    count: r.count,
    firstTimestamp: r.first_ts,
    lastTimestamp: r.last_ts,
    source: { component: r.component },
    reportingComponent: r.component,
  };
}
