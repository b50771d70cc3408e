// Server databases: admin-managed MySQL/MariaDB hosts, and per-server databases created on them
// (Catalyst's "Databases" section). Not desired state of a game server, so not a resource: hosts and
// databases are rows in the main database, like accounts — the admin password and each database's
// password are sealed with AES-256-GCM (secret-box.ts) and never leave this module except a
// database's own password, which its server's users are shown as Catalyst documents.
//
// A database belongs to its server's **uid**: a server deleted and re-created under the same name
// sees none of the old one's databases, and ServerDatabases (cleanup.ts) drops the old ones on their host.
// Order of writes: the host is changed first, the record after, so a record never names a database
// that was not made; a failure on the host leaves the record as it was (delete, rotate) or absent
// (create).
import { randomBytes } from 'node:crypto';
import { migrate, type Migration } from '../store/migrations.ts';
import type { SqlDb } from '../store/sql-db.ts';
import type { Logger } from '../../lib/log.ts';
import { SecretBox } from './secret-box.ts';
import * as mysqlAdmin from './mysql-admin.ts';
import { HostRefusedError, HostUnavailableError, checkDatabaseName, type HostAddress } from './mysql-admin.ts';

/** What the API maps to a status: 400 bad input, 404 unknown id, 409 taken or in use, 502 the host refused, 503 the host is unreachable. */
export class DatabaseError extends Error {
  override readonly name = 'DatabaseError';
  constructor(
    readonly status: 400 | 404 | 409 | 502 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DatabaseHost {
  id: string;
  name: string;
  host: string;
  port: number;
  username: string;
  /** At most this many databases on the host (null: no limit). */
  maxDatabases: number | null;
  databaseCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface HostInput {
  name: string;
  host: string;
  port?: number;
  username: string;
  password: string;
  maxDatabases?: number | null;
}

export interface ServerRef {
  uid: string;
  namespace: string;
  name: string;
}

export interface ServerDatabase {
  id: string;
  hostId: string;
  hostName: string;
  host: string;
  port: number;
  name: string;
  username: string;
  password: string;
  /** MySQL host pattern the user may connect from. */
  remote: string;
  serverUid: string;
  serverName: string;
  createdAt: string;
}

export const DATABASE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'database hosts and server databases',
    up: `
      CREATE TABLE database_hosts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, host TEXT NOT NULL, port INTEGER NOT NULL,
        username TEXT NOT NULL, password_sealed TEXT NOT NULL, max_databases INTEGER,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
      CREATE TABLE server_databases (
        id TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES database_hosts(id),
        server_uid TEXT NOT NULL, server_namespace TEXT NOT NULL, server_name TEXT NOT NULL,
        name TEXT NOT NULL, username TEXT NOT NULL, password_sealed TEXT NOT NULL, remote TEXT NOT NULL,
        created_at TEXT NOT NULL, orphaned_at TEXT, last_error TEXT);
      CREATE UNIQUE INDEX server_databases_name ON server_databases (host_id, name);
      CREATE UNIQUE INDEX server_databases_user ON server_databases (host_id, username);
      CREATE INDEX server_databases_server ON server_databases (server_uid);`,
  },
];

interface HostRow {
  id: string;
  name: string;
  host: string;
  port: number;
  username: string;
  password_sealed: string;
  max_databases: number | null;
  created_at: string;
  updated_at: string;
  database_count?: number;
}

interface DbRow {
  id: string;
  host_id: string;
  server_uid: string;
  server_namespace: string;
  server_name: string;
  name: string;
  username: string;
  password_sealed: string;
  remote: string;
  created_at: string;
  orphaned_at: string | null;
  last_error: string | null;
}

export interface DatabaseServiceOptions {
  db: SqlDb;
  /** Where the key file lives (DATA_DIR); or pass `box`. */
  dataDir?: string;
  box?: SecretBox;
  log: Logger;
  now?: () => number;
  /** MySQL host pattern for the users made (default '%': game servers connect from their containers). */
  remote?: string;
}

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
/** A host name or IP literal (no scheme, path, spaces or quotes). */
const ADDRESS = /^[A-Za-z0-9.:_-]{1,253}$/;
const ADMIN_USER = /^[^\s'"`\\]{1,80}$/;

export class DatabaseService {
  private readonly db: SqlDb;
  private readonly box: SecretBox;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly remote: string;

  private constructor(opts: DatabaseServiceOptions, box: SecretBox) {
    this.db = opts.db;
    this.box = box;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.remote = opts.remote ?? '%';
  }

  static async open(opts: DatabaseServiceOptions): Promise<DatabaseService> {
    const box = opts.box ?? (opts.dataDir ? await SecretBox.open(opts.dataDir) : undefined);
    if (!box) throw new Error('DatabaseService needs dataDir or box');
    await migrate(opts.db, 'databases', DATABASE_MIGRATIONS);
    return new DatabaseService(opts, box);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  // ---- hosts -------------------------------------------------------------------------------------

  async listHosts(): Promise<DatabaseHost[]> {
    const rows = await this.db.all<HostRow>(
      `SELECT h.*, (SELECT count(*) FROM server_databases d WHERE d.host_id = h.id) AS database_count FROM database_hosts h ORDER BY h.created_at, h.id`,
    );
    return rows.map(hostView);
  }

  async getHost(id: string): Promise<DatabaseHost> {
    return hostView(await this.hostRow(id));
  }

  private async hostRow(id: string): Promise<HostRow> {
    const row = await this.db.get<HostRow>(
      `SELECT h.*, (SELECT count(*) FROM server_databases d WHERE d.host_id = h.id) AS database_count FROM database_hosts h WHERE h.id = ?`,
      [id],
    );
    if (!row) throw new DatabaseError(404, 'host_not_found', `database host "${id}" not found`);
    return row;
  }

  private address(row: HostRow): HostAddress {
    return { host: row.host, port: row.port, username: row.username, password: this.box.open(row.password_sealed, `host:${row.id}`) };
  }

  /** Creates a host; with `verify` (default) the admin login is tried first (503 when it fails). */
  async createHost(input: HostInput, opts: { verify?: boolean } = {}): Promise<DatabaseHost> {
    checkHost(input);
    const id = `host_${randomBytes(6).toString('hex')}`;
    const port = input.port ?? 3306;
    if (opts.verify !== false) await this.call(() => mysqlAdmin.probe({ host: input.host, port, username: input.username, password: input.password }));
    const at = this.iso();
    try {
      await this.db.run(
        'INSERT INTO database_hosts (id, name, host, port, username, password_sealed, max_databases, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [id, input.name, input.host, port, input.username, this.box.seal(input.password, `host:${id}`), input.maxDatabases ?? null, at, at],
      );
    } catch (err) {
      if (/UNIQUE/.test((err as Error).message)) throw new DatabaseError(409, 'host_exists', `a database host named "${input.name}" exists already`);
      throw err;
    }
    this.log.info('database host created', { id, name: input.name, host: input.host, port });
    return this.getHost(id);
  }

  async updateHost(id: string, patch: Partial<HostInput>, opts: { verify?: boolean } = {}): Promise<DatabaseHost> {
    const row = await this.hostRow(id);
    const current = this.address(row);
    const next: HostInput = {
      name: patch.name ?? row.name,
      host: patch.host ?? row.host,
      port: patch.port ?? row.port,
      username: patch.username ?? row.username,
      password: patch.password ?? current.password,
      maxDatabases: patch.maxDatabases === undefined ? row.max_databases : patch.maxDatabases,
    };
    checkHost(next);
    const moved = next.host !== row.host || next.port !== row.port || next.username !== row.username || next.password !== current.password;
    if (moved && opts.verify !== false) await this.call(() => mysqlAdmin.probe({ host: next.host, port: next.port!, username: next.username, password: next.password }));
    try {
      await this.db.run('UPDATE database_hosts SET name = ?, host = ?, port = ?, username = ?, password_sealed = ?, max_databases = ?, updated_at = ? WHERE id = ?', [
        next.name, next.host, next.port, next.username, this.box.seal(next.password, `host:${id}`), next.maxDatabases ?? null, this.iso(), id,
      ]);
    } catch (err) {
      if (/UNIQUE/.test((err as Error).message)) throw new DatabaseError(409, 'host_exists', `a database host named "${next.name}" exists already`);
      throw err;
    }
    return this.getHost(id);
  }

  /** Refused (409) while databases live on the host: they would be orphaned with their data. */
  async deleteHost(id: string): Promise<void> {
    const row = await this.hostRow(id);
    if ((row.database_count ?? 0) > 0) throw new DatabaseError(409, 'host_in_use', `database host "${row.name}" still holds ${row.database_count} database(s); delete them first`);
    await this.db.run('DELETE FROM database_hosts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM server_databases WHERE host_id = ?)', [id, id]);
    this.log.info('database host deleted', { id, name: row.name });
  }

  async testHost(id: string): Promise<{ version: string; latencyMs: number }> {
    const row = await this.hostRow(id);
    return this.call(() => mysqlAdmin.probe(this.address(row)));
  }

  // ---- server databases --------------------------------------------------------------------------

  async listForServer(serverUid: string): Promise<ServerDatabase[]> {
    const rows = await this.db.all<DbRow & HostRow & { host_name: string }>(
      `SELECT d.*, h.name AS host_name, h.host, h.port FROM server_databases d JOIN database_hosts h ON h.id = d.host_id
       WHERE d.server_uid = ? AND d.orphaned_at IS NULL ORDER BY d.created_at, d.id`,
      [serverUid],
    );
    return rows.map((r) => this.dbView(r));
  }

  async getForServer(serverUid: string, id: string): Promise<ServerDatabase> {
    const found = (await this.listForServer(serverUid)).find((d) => d.id === id);
    if (!found) throw new DatabaseError(404, 'database_not_found', `database "${id}" not found on this server`);
    return found;
  }

  /**
   * Creates `name` on the host (`hostId`, else the host with the fewest databases that has room) with
   * a user of its own and a random password. 409 when the name (or, rarely, the generated user) is
   * taken on the host, 503 when the host is unreachable.
   */
  async create(server: ServerRef, input: { hostId?: string; name: string }): Promise<ServerDatabase> {
    const bad = checkDatabaseName(input.name);
    if (bad) throw new DatabaseError(400, 'invalid_name', bad);
    const host = input.hostId ? await this.hostRow(input.hostId).catch((err) => {
      throw err instanceof DatabaseError && err.status === 404 ? new DatabaseError(400, 'invalid_host', `hostId "${input.hostId}" is not a database host`) : err;
    }) : await this.pickHost();
    if (host.max_databases !== null && (host.database_count ?? 0) >= host.max_databases) {
      throw new DatabaseError(409, 'host_full', `database host "${host.name}" holds its maximum of ${host.max_databases} databases`);
    }
    const taken = await this.db.get('SELECT 1 FROM server_databases WHERE host_id = ? AND name = ?', [host.id, input.name]);
    if (taken) throw new DatabaseError(409, 'name_taken', `a database named "${input.name}" already exists on host "${host.name}"`);
    const id = `db_${randomBytes(6).toString('hex')}`;
    const username = `u${server.uid.replace(/-/g, '').slice(0, 8)}_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(24).toString('base64url');
    await this.call(() => mysqlAdmin.createDatabase(this.address(host), { database: input.name, username, password, remote: this.remote }), `a database or user named "${input.name}"/"${username}" already exists on host "${host.name}"`);
    try {
      await this.db.run(
        `INSERT INTO server_databases (id, host_id, server_uid, server_namespace, server_name, name, username, password_sealed, remote, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, host.id, server.uid, server.namespace, server.name, input.name, username, this.box.seal(password, `db:${id}`), this.remote, this.iso()],
      );
    } catch (err) {
      // Lost a race for the name on our side (the host would have refused the second CREATE
      // DATABASE already); never leave a database without its record.
      await mysqlAdmin.dropDatabase(this.address(host), { database: input.name, username, remote: this.remote }).catch(() => undefined);
      if (/UNIQUE/.test((err as Error).message)) throw new DatabaseError(409, 'name_taken', `a database named "${input.name}" already exists on host "${host.name}"`);
      throw err;
    }
    this.log.info('server database created', { id, host: host.name, database: input.name, username, server: `${server.namespace}/${server.name}`, serverUid: server.uid });
    return this.getForServer(server.uid, id);
  }

  /** A new random password, set on the host first; the old one stops working. */
  async rotate(serverUid: string, id: string): Promise<ServerDatabase> {
    const d = await this.getForServer(serverUid, id);
    const host = await this.hostRow(d.hostId);
    const password = randomBytes(24).toString('base64url');
    await this.call(() => mysqlAdmin.setPassword(this.address(host), { username: d.username, remote: d.remote, password }));
    await this.db.run('UPDATE server_databases SET password_sealed = ? WHERE id = ?', [this.box.seal(password, `db:${id}`), id]);
    this.log.info('server database password rotated', { id, database: d.name, serverUid });
    return this.getForServer(serverUid, id);
  }

  /** Drops the database and its user on the host, then the record (kept when the host is unreachable). */
  async remove(serverUid: string, id: string): Promise<void> {
    const d = await this.getForServer(serverUid, id);
    await this.dropRow(d.id);
  }

  private async dropRow(id: string): Promise<void> {
    const row = await this.db.get<DbRow>('SELECT * FROM server_databases WHERE id = ?', [id]);
    if (!row) return;
    const host = await this.hostRow(row.host_id);
    await this.call(() => mysqlAdmin.dropDatabase(this.address(host), { database: row.name, username: row.username, remote: row.remote }));
    await this.db.run('DELETE FROM server_databases WHERE id = ?', [id]);
    this.log.info('server database dropped', { id, host: host.name, database: row.name, serverUid: row.server_uid });
  }

  /**
   * The server (this uid) is gone: its databases are hidden at once and dropped on their hosts; those
   * whose host cannot be reached stay recorded as orphaned with the reason (forgetServer again retries).
   */
  async forgetServer(serverUid: string): Promise<{ dropped: number; failed: { id: string; name: string; error: string }[] }> {
    await this.db.run('UPDATE server_databases SET orphaned_at = ? WHERE server_uid = ? AND orphaned_at IS NULL', [this.iso(), serverUid]);
    return this.dropOrphans((r) => r.server_uid === serverUid);
  }

  /** Every server uid with databases recorded, orphans included (the ServerReaper's sweep retries those). */
  async serverUids(): Promise<string[]> {
    return (await this.db.all<{ server_uid: string }>('SELECT DISTINCT server_uid FROM server_databases')).map((r) => r.server_uid);
  }

  async orphans(): Promise<{ id: string; name: string; serverUid: string; serverName: string; hostId: string; orphanedAt: string; lastError: string | null }[]> {
    const rows = await this.db.all<DbRow>('SELECT * FROM server_databases WHERE orphaned_at IS NOT NULL ORDER BY orphaned_at');
    return rows.map((r) => ({ id: r.id, name: r.name, serverUid: r.server_uid, serverName: r.server_name, hostId: r.host_id, orphanedAt: r.orphaned_at!, lastError: r.last_error }));
  }

  private async dropOrphans(filter: (r: DbRow) => boolean = () => true) {
    const rows = (await this.db.all<DbRow>('SELECT * FROM server_databases WHERE orphaned_at IS NOT NULL')).filter(filter);
    let dropped = 0;
    const failed: { id: string; name: string; error: string }[] = [];
    for (const r of rows) {
      try {
        await this.dropRow(r.id);
        dropped++;
      } catch (err) {
        const error = (err as Error).message;
        failed.push({ id: r.id, name: r.name, error });
        await this.db.run('UPDATE server_databases SET last_error = ? WHERE id = ?', [error.slice(0, 1000), r.id]);
      }
    }
    return { dropped, failed };
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private async pickHost(): Promise<HostRow> {
    const hosts = await this.db.all<HostRow>(
      `SELECT h.*, (SELECT count(*) FROM server_databases d WHERE d.host_id = h.id) AS database_count FROM database_hosts h ORDER BY database_count, h.created_at`,
    );
    if (hosts.length === 0) throw new DatabaseError(400, 'no_host', 'no database host is configured: an administrator adds one first (POST /api/admin/database-hosts)');
    const free = hosts.find((h) => h.max_databases === null || (h.database_count ?? 0) < h.max_databases);
    if (!free) throw new DatabaseError(409, 'host_full', 'every database host holds its maximum number of databases');
    return free;
  }

  /** Runs a host operation, mapping its failures to DatabaseError (503 unreachable, 409 conflict, 502 refused). */
  private async call<T>(fn: () => Promise<T>, conflictMessage?: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof HostUnavailableError) throw new DatabaseError(503, 'host_unavailable', `Database host unavailable: ${err.message}`);
      if (err instanceof HostRefusedError) {
        if (err.conflict) throw new DatabaseError(409, 'name_taken', conflictMessage ?? err.message);
        throw new DatabaseError(502, 'host_refused', err.message);
      }
      throw err;
    }
  }

  private dbView(r: DbRow & { host_name: string; host: string; port: number }): ServerDatabase {
    return {
      id: r.id,
      hostId: r.host_id,
      hostName: r.host_name,
      host: r.host,
      port: r.port,
      name: r.name,
      username: r.username,
      password: this.box.open(r.password_sealed, `db:${r.id}`),
      remote: r.remote,
      serverUid: r.server_uid,
      serverName: r.server_name,
      createdAt: r.created_at,
    };
  }
}

function checkHost(h: HostInput): void {
  if (!HOST_NAME.test(h.name ?? '')) throw new DatabaseError(400, 'invalid_host', 'name: 1-64 letters, digits, spaces, ".", "_" or "-"');
  if (!ADDRESS.test(h.host ?? '')) throw new DatabaseError(400, 'invalid_host', `host: "${String(h.host).slice(0, 80)}" is not a host name or IP address`);
  if (h.port !== undefined && (!Number.isInteger(h.port) || h.port < 1 || h.port > 65535)) throw new DatabaseError(400, 'invalid_host', 'port: must be 1-65535');
  if (!ADMIN_USER.test(h.username ?? '')) throw new DatabaseError(400, 'invalid_host', 'username: 1-80 characters without spaces or quotes');
  if (typeof h.password !== 'string' || h.password.length > 1024) throw new DatabaseError(400, 'invalid_host', 'password: a string of at most 1024 characters');
  if (h.maxDatabases !== undefined && h.maxDatabases !== null && (!Number.isInteger(h.maxDatabases) || h.maxDatabases < 0)) throw new DatabaseError(400, 'invalid_host', 'maxDatabases: a whole number ≥ 0, or null');
}

function hostView(r: HostRow): DatabaseHost {
  return { id: r.id, name: r.name, host: r.host, port: r.port, username: r.username, maxDatabases: r.max_databases, databaseCount: r.database_count ?? 0, createdAt: r.created_at, updatedAt: r.updated_at };
}

