// The MySQL/MariaDB side of server databases, through mysql2: one short admin connection per
// operation (they are rare), statement timeouts, no multi-statements. Names are validated here and
// quoted by mysql2 (escapeId / `?` placeholders), never spliced into SQL; each database gets its own
// user with privileges on that database only.
import mysql from 'mysql2/promise';

export interface HostAddress {
  host: string;
  port: number;
  username: string;
  password: string;
}

/** The host could not be reached or refused the admin login: the API answers 503. */
export class HostUnavailableError extends Error {
  override readonly name = 'HostUnavailableError';
  constructor(readonly address: string, readonly reason: string) {
    super(`database host ${address} is unavailable: ${reason}`);
  }
}

/** The host refused the statement (a name taken, a privilege missing): `conflict` → 409, else 502. */
export class HostRefusedError extends Error {
  override readonly name = 'HostRefusedError';
  constructor(readonly address: string, readonly code: string, message: string, readonly conflict: boolean) {
    super(`database host ${address} refused: ${message}`);
  }
}

/** Names a database may have: letters, digits, underscore; not one of the server's own schemas. */
export const DATABASE_NAME = /^[A-Za-z0-9_]{1,64}$/;
const SYSTEM_SCHEMAS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

export function checkDatabaseName(name: string): string | undefined {
  if (!DATABASE_NAME.test(name)) return `database name "${name.slice(0, 80)}" must be 1-64 letters, digits or underscores`;
  if (SYSTEM_SCHEMAS.has(name.toLowerCase())) return `"${name}" is a system schema of the database server`;
  return undefined;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_ACCESS_DENIED_ERROR', 'ER_CON_COUNT_ERROR', 'ER_HOST_IS_BLOCKED', 'ER_HOST_NOT_PRIVILEGED',
]);
/** The name (or user) exists already on the host. */
const CONFLICT = new Set(['ER_DB_CREATE_EXISTS', 'ER_CANNOT_USER']);

const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 15_000;

const where = (a: HostAddress) => `${a.host}:${a.port}`;

function classify(a: HostAddress, err: unknown): Error {
  const e = err as { code?: string; message?: string; fatal?: boolean };
  const code = e?.code ?? 'UNKNOWN';
  if (UNREACHABLE.has(code) || (e?.fatal && !CONFLICT.has(code))) {
    const reason = code === 'ER_ACCESS_DENIED_ERROR' ? `the admin login was refused (${e.message})` : code === 'ECONNREFUSED' ? 'connection refused (nothing listens there?)' : `${code}${e?.message ? `: ${e.message}` : ''}`;
    return new HostUnavailableError(where(a), reason);
  }
  return new HostRefusedError(where(a), code, e?.message ?? String(err), CONFLICT.has(code));
}

type Conn = mysql.Connection;

async function withAdmin<T>(a: HostAddress, fn: (q: (sql: string, values?: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
  let conn: Conn;
  try {
    conn = await mysql.createConnection({ host: a.host, port: a.port, user: a.username, password: a.password, connectTimeout: CONNECT_TIMEOUT_MS, multipleStatements: false, supportBigNumbers: true });
  } catch (err) {
    throw classify(a, err);
  }
  // A connection that dies later reports on its own emitter; the statement in flight fails with it.
  conn.on('error', () => {});
  const q = async (sql: string, values: unknown[] = []) => {
    try {
      const [rows] = await conn.query({ sql, values, timeout: STATEMENT_TIMEOUT_MS });
      return rows;
    } catch (err) {
      throw classify(a, err);
    }
  };
  try {
    return await fn(q);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

/** Logs in and reads the server's version (the "test connection" of the admin routes). */
export async function probe(a: HostAddress): Promise<{ version: string; latencyMs: number }> {
  const t0 = Date.now();
  const rows = (await withAdmin(a, (q) => q('SELECT VERSION() AS version'))) as { version: string }[];
  return { version: String(rows[0]?.version ?? ''), latencyMs: Date.now() - t0 };
}

export interface DatabaseGrant {
  database: string;
  username: string;
  password: string;
  /** Where the user may connect from (MySQL host pattern); '%' = anywhere. */
  remote: string;
}

/**
 * CREATE DATABASE (never IF NOT EXISTS: a database that exists already, ours or not, is a conflict
 * and is never handed to a server), CREATE USER, GRANT ALL on that database only. A failure after
 * the database was made drops what was made.
 */
export async function createDatabase(a: HostAddress, g: DatabaseGrant): Promise<void> {
  const bad = checkDatabaseName(g.database);
  if (bad) throw new Error(bad);
  await withAdmin(a, async (q) => {
    await q(`CREATE DATABASE ${mysql.escapeId(g.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    try {
      await q('CREATE USER ?@? IDENTIFIED BY ?', [g.username, g.remote, g.password]);
      await q(`GRANT ALL PRIVILEGES ON ${mysql.escapeId(g.database)}.* TO ?@?`, [g.username, g.remote]);
    } catch (err) {
      await q(`DROP DATABASE IF EXISTS ${mysql.escapeId(g.database)}`).catch(() => undefined);
      if (!(err instanceof HostRefusedError && err.code === 'ER_CANNOT_USER')) await q('DROP USER IF EXISTS ?@?', [g.username, g.remote]).catch(() => undefined);
      throw err;
    }
  });
}

export async function setPassword(a: HostAddress, g: Pick<DatabaseGrant, 'username' | 'remote' | 'password'>): Promise<void> {
  await withAdmin(a, (q) => q('ALTER USER ?@? IDENTIFIED BY ?', [g.username, g.remote, g.password]));
}

/** Drops the database and its user; both may be gone already (idempotent). */
export async function dropDatabase(a: HostAddress, g: Pick<DatabaseGrant, 'database' | 'username' | 'remote'>): Promise<void> {
  const bad = checkDatabaseName(g.database);
  if (bad) throw new Error(bad);
  await withAdmin(a, async (q) => {
    await q(`DROP DATABASE IF EXISTS ${mysql.escapeId(g.database)}`);
    await q('DROP USER IF EXISTS ?@?', [g.username, g.remote]);
  });
}
