// The audit log: every mutating API call (and every refusal of one), with who, what, on which
// resource, from where, and the outcome. Kept in the embedded database, pruned by age.
import type { SqlDb } from '../../controller/store/sql-db.ts';
import { migrate, type Migration } from '../../controller/store/migrations.ts';
import type { Logger } from '../../lib/log.ts';

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'audit log',
    up: `
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, user_id TEXT, username TEXT,
        action TEXT NOT NULL, resource_type TEXT, resource_id TEXT, ip_address TEXT,
        status INTEGER NOT NULL, metadata TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_log_user ON audit_log(user_id, id);
      CREATE INDEX audit_log_action ON audit_log(action, id);
      CREATE INDEX audit_log_time ON audit_log(created_at);
    `,
  },
  {
    version: 2,
    description: 'audit entries name the server by uid too',
    // A server deleted and created again under the same name has another uid: its audit history
    // is told apart by resource_uid (entries before this migration have none).
    up: `
      ALTER TABLE audit_log ADD COLUMN resource_uid TEXT;
      CREATE INDEX audit_log_resource_uid ON audit_log(resource_uid, id);
    `,
  },
  {
    version: 3,
    description: 'audit entries name the facade the call came through',
    // catalyst, kubernetes, ccpanel, …; sftp and websocket calls name their transport's facade.
    // Entries before this migration came through Catalyst's API (or SFTP, as their metadata says).
    up: `
      ALTER TABLE audit_log ADD COLUMN facade TEXT;
      UPDATE audit_log SET facade = CASE
        WHEN json_extract(metadata, '$.facade') IS NOT NULL THEN json_extract(metadata, '$.facade')
        WHEN json_extract(metadata, '$.via') = 'sftp' THEN 'sftp'
        ELSE 'catalyst' END;
      CREATE INDEX audit_log_facade ON audit_log(facade, id);
    `,
  },
];

export interface AuditEntry {
  id: string;
  userId: string | null;
  username: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  /** The uid of the resource (servers: tells a re-created server of the same name apart). */
  resourceUid?: string | null;
  /** The facade the call came through: catalyst, kubernetes, sftp, … (a panel's dialect name). */
  facade?: string | null;
  /** The HTTP status the call ended with (2xx done, 4xx refused). */
  status: number;
  metadata: Record<string, unknown>;
  ipAddress: string | null;
  createdAt: string;
}

export type AuditInput = Omit<AuditEntry, 'id' | 'createdAt'>;

export interface AuditQuery {
  userId?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  resourceUid?: string;
  /** Entries about the server with this uid (metadata.serverUid), whatever their resource type. */
  serverUid?: string;
  facade?: string;
  /** Entries with a smaller id (paging backwards). */
  before?: number;
  limit?: number;
}

export class AuditLog {
  private constructor(
    private readonly db: SqlDb,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly retentionDays: number,
  ) {}

  static async open(opts: { db: SqlDb; log: Logger; now?: () => number; retentionDays?: number }): Promise<AuditLog> {
    await migrate(opts.db, 'audit', MIGRATIONS);
    return new AuditLog(opts.db, opts.log, opts.now ?? Date.now, opts.retentionDays ?? 90);
  }

  async record(entry: AuditInput): Promise<void> {
    try {
      await this.db.run('INSERT INTO audit_log (created_at, user_id, username, action, resource_type, resource_id, resource_uid, facade, ip_address, status, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        new Date(this.now()).toISOString(), entry.userId, entry.username, entry.action, entry.resourceType, entry.resourceId, entry.resourceUid ?? null, entry.facade ?? null, entry.ipAddress, entry.status, JSON.stringify(entry.metadata ?? {}),
      ]);
    } catch (err) {
      // The call itself already happened; losing its audit line is logged loudly, not turned into a 500.
      this.log.error('cannot write audit entry', { err, action: entry.action, userId: entry.userId });
    }
  }

  async list(q: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      where.push(sql);
      params.push(v);
    };
    if (q.userId) add('user_id = ?', q.userId);
    if (q.action) {
      // `server.*` lists a family of actions.
      if (q.action.endsWith('.*')) add('action LIKE ?', q.action.slice(0, -1).replace(/[%_]/g, '') + '%');
      else add('action = ?', q.action);
    }
    if (q.resourceType) add('resource_type = ?', q.resourceType);
    if (q.resourceId) add('resource_id = ?', q.resourceId);
    if (q.resourceUid) add('resource_uid = ?', q.resourceUid);
    // A server's own entries carry its uid as resource_uid; those about its backups, files, tasks as metadata.serverUid.
    if (q.serverUid) {
      where.push("(resource_uid = ? OR json_extract(metadata, '$.serverUid') = ?)");
      params.push(q.serverUid, q.serverUid);
    }
    if (q.facade) add('facade = ?', q.facade);
    if (q.before) add('id < ?', q.before);
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const rows = await this.db.all<Record<string, unknown>>(
      `SELECT * FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id), userId: (r.user_id as string) ?? null, username: (r.username as string) ?? null, action: r.action as string,
      resourceType: (r.resource_type as string) ?? null, resourceId: (r.resource_id as string) ?? null, resourceUid: (r.resource_uid as string) ?? null, facade: (r.facade as string) ?? null, status: r.status as number,
      metadata: JSON.parse(r.metadata as string) as Record<string, unknown>, ipAddress: (r.ip_address as string) ?? null, createdAt: r.created_at as string,
    }));
  }

  async prune(): Promise<number> {
    const cutoff = new Date(this.now() - this.retentionDays * 86_400_000).toISOString();
    return (await this.db.run('DELETE FROM audit_log WHERE created_at < ?', [cutoff])).changes;
  }
}
