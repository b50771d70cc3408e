// Fired alerts, in the main database (they are rare and worth keeping: synchronous=FULL costs nothing
// here). At most one open alert per (rule, target), enforced by a partial unique index, so a race
// between two evaluations can never open a second one.
import { randomUUID } from 'node:crypto';
import type { AlertSeverity, AlertType } from '../../crds/types.ts';
import { migrate, type Migration } from '../store/migrations.ts';
import type { SqlDb } from '../store/sql-db.ts';

/** The alert shape of the Catalyst API (Alerts section), plus Gantry's rule, target and resolution. */
export interface Alert {
  id: string;
  /** Name of the AlertRule. */
  rule: string;
  /** `GameServer:<namespace>/<name>` or `GameNode:<name>`. */
  target: string;
  serverId: string | null;
  serverNamespace: string | null;
  serverUid: string | null;
  nodeId: string | null;
  type: AlertType;
  severity: AlertSeverity;
  title: string;
  message: string;
  metadata: Record<string, unknown>;
  resolved: boolean;
  resolvedAt: string | null;
  /** The user who resolved it; null when it resolved by itself. */
  resolvedBy: string | null;
  /** Why it resolved: `condition cleared`, `resolved by <user>`, `rule deleted`, … */
  resolution: string | null;
  createdAt: string;
}

export type NewAlert = Omit<Alert, 'id' | 'resolved' | 'resolvedAt' | 'resolvedBy' | 'resolution' | 'createdAt'> & { createdAt?: string };

export interface AlertFilter {
  /** A server's name or uid. */
  serverId?: string;
  /** One server as it exists now: its uid, or its name on alerts that record no uid (not those of an earlier server of the name). */
  server?: { name: string; uid: string };
  nodeId?: string;
  type?: string;
  severity?: string;
  resolved?: boolean;
  rule?: string;
  /** Default 100, at most 1000; newest first. */
  limit?: number;
  offset?: number;
}

export interface AlertStats {
  total: number;
  unresolved: number;
  byType: Record<string, number>;
  bySeverity: Record<string, number>;
}

/** A bad request or a missing alert; `status` is the HTTP code the API should answer with. */
export class AlertError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404,
  ) {
    super(message);
    this.name = 'AlertError';
  }
}

export const ALERT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'fired alerts',
    up: `
      CREATE TABLE alerts (
        id TEXT PRIMARY KEY, rule TEXT NOT NULL, target TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL,
        server_id TEXT, server_namespace TEXT, server_uid TEXT, node_id TEXT,
        title TEXT NOT NULL, message TEXT NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0, resolved_at TEXT, resolved_by TEXT, resolution TEXT);
      CREATE UNIQUE INDEX alerts_open ON alerts (rule, target) WHERE resolved = 0;
      CREATE INDEX alerts_created ON alerts (created_at);`,
  },
];

interface AlertRow {
  id: string;
  rule: string;
  target: string;
  type: AlertType;
  severity: AlertSeverity;
  server_id: string | null;
  server_namespace: string | null;
  server_uid: string | null;
  node_id: string | null;
  title: string;
  message: string;
  metadata: string;
  created_at: string;
  resolved: number;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution: string | null;
}

const fromRow = (r: AlertRow): Alert => ({
  id: r.id,
  rule: r.rule,
  target: r.target,
  serverId: r.server_id,
  serverNamespace: r.server_namespace,
  serverUid: r.server_uid,
  nodeId: r.node_id,
  type: r.type,
  severity: r.severity,
  title: r.title,
  message: r.message,
  metadata: JSON.parse(r.metadata) as Record<string, unknown>,
  resolved: r.resolved === 1,
  resolvedAt: r.resolved_at,
  resolvedBy: r.resolved_by,
  resolution: r.resolution,
  createdAt: r.created_at,
});

const TYPES = ['resource_threshold', 'node_offline', 'server_crashed'];
const SEVERITIES = ['info', 'warning', 'critical'];

export class AlertStore {
  private constructor(
    private readonly db: SqlDb,
    private readonly now: () => Date,
  ) {}

  static async open(db: SqlDb, now: () => Date = () => new Date()): Promise<AlertStore> {
    await migrate(db, 'alerts', ALERT_MIGRATIONS);
    return new AlertStore(db, now);
  }

  /** Opens an alert; undefined when one is already open for (rule, target). */
  async open(a: NewAlert): Promise<Alert | undefined> {
    const id = randomUUID();
    const createdAt = a.createdAt ?? this.now().toISOString();
    const res = await this.db.run(
      `INSERT INTO alerts (id, rule, target, type, severity, server_id, server_namespace, server_uid, node_id, title, message, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [id, a.rule, a.target, a.type, a.severity, a.serverId, a.serverNamespace, a.serverUid, a.nodeId, a.title, a.message, JSON.stringify(a.metadata), createdAt],
    );
    return res.changes ? this.get(id) : undefined;
  }

  async get(id: string): Promise<Alert> {
    if (typeof id !== 'string' || !id) throw new AlertError('an alert id is required', 400);
    const r = await this.db.get<AlertRow>('SELECT * FROM alerts WHERE id = ?', [id]);
    if (!r) throw new AlertError(`alert "${id}" not found`, 404);
    return fromRow(r);
  }

  async openAlerts(): Promise<Alert[]> {
    return (await this.db.all<AlertRow>('SELECT * FROM alerts WHERE resolved = 0')).map(fromRow);
  }

  async list(f: AlertFilter = {}): Promise<Alert[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.serverId !== undefined) {
      where.push('(server_id = ? OR server_uid = ?)');
      params.push(f.serverId, f.serverId);
    }
    if (f.server !== undefined) {
      where.push('(server_uid = ? OR (server_uid IS NULL AND server_id = ?))');
      params.push(f.server.uid, f.server.name);
    }
    if (f.nodeId !== undefined) {
      where.push('node_id = ?');
      params.push(f.nodeId);
    }
    if (f.type !== undefined) {
      if (!TYPES.includes(f.type)) throw new AlertError(`type must be one of ${TYPES.join(', ')}, not "${f.type}"`, 400);
      where.push('type = ?');
      params.push(f.type);
    }
    if (f.severity !== undefined) {
      if (!SEVERITIES.includes(f.severity)) throw new AlertError(`severity must be one of ${SEVERITIES.join(', ')}, not "${f.severity}"`, 400);
      where.push('severity = ?');
      params.push(f.severity);
    }
    if (f.resolved !== undefined) {
      where.push('resolved = ?');
      params.push(f.resolved ? 1 : 0);
    }
    if (f.rule !== undefined) {
      where.push('rule = ?');
      params.push(f.rule);
    }
    const limit = f.limit ?? 100;
    const offset = f.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AlertError(`limit must be an integer from 1 to 1000, not ${limit}`, 400);
    if (!Number.isInteger(offset) || offset < 0) throw new AlertError(`offset must be a non-negative integer, not ${offset}`, 400);
    const rows = await this.db.all<AlertRow>(
      `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`,
      [...params, limit, offset],
    );
    return rows.map(fromRow);
  }

  /** Resolves open alerts; returns those it resolved (already resolved ones are left as they were). */
  async resolve(ids: readonly string[], by: string | null, resolution: string): Promise<Alert[]> {
    if (!ids.length) return [];
    const at = this.now().toISOString();
    return this.db.transaction(async (tx) => {
      const out: Alert[] = [];
      for (const id of ids) {
        const res = await tx.run('UPDATE alerts SET resolved = 1, resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved = 0', [at, by, resolution, id]);
        if (res.changes) out.push(fromRow((await tx.get<AlertRow>('SELECT * FROM alerts WHERE id = ?', [id]))!));
      }
      return out;
    });
  }

  async stats(): Promise<AlertStats> {
    const rows = await this.db.all<{ type: string; severity: string; resolved: number; n: number }>(
      'SELECT type, severity, resolved, count(*) AS n FROM alerts GROUP BY type, severity, resolved',
    );
    const s: AlertStats = {
      total: 0,
      unresolved: 0,
      byType: Object.fromEntries(TYPES.map((t) => [t, 0])),
      bySeverity: Object.fromEntries(SEVERITIES.map((t) => [t, 0])),
    };
    for (const r of rows) {
      s.total += r.n;
      if (!r.resolved) s.unresolved += r.n;
      s.byType[r.type] = (s.byType[r.type] ?? 0) + r.n;
      s.bySeverity[r.severity] = (s.bySeverity[r.severity] ?? 0) + r.n;
    }
    return s;
  }
}
