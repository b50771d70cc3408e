// The SQL database that what is not resources lives in (accounts, sessions, API keys, grants, audit,
// node credentials, events, alerts): SQLite in the data dir when embedded (SqliteDb), PostgreSQL when
// replicas share it (PgDb, `--database postgres://…`). One interface, the one the modules were written
// against: statements with `?` placeholders, transactions, batches. The modules write SQL both engines
// run; PgDb translates the few spellings that differ (see pg-db.ts).
import type { GroupRunner, LockedRunner, RunResult, SqlParams, SqlRunner, Statement, Tx, WriteOutcome } from './sqlite-db.ts';

export type { GroupRunner, LockedRunner, RunResult, SqlParams, SqlRunner, Statement, Tx, WriteOutcome };

export interface SqlDb extends SqlRunner {
  readonly dialect: 'sqlite' | 'postgres';
  /** Where it is, for messages: a file path, or a PostgreSQL URL without its password. */
  readonly path: string;
  /** Several statements that see one committed state (see SqliteDb.locked). */
  locked<T>(fn: (r: LockedRunner) => Promise<T>): Promise<T>;
  /** Write statements applied atomically. */
  batch(statements: readonly Statement[]): Promise<RunResult[]>;
  /** BEGIN … COMMIT; fn throwing rolls back. Use only the handle passed in. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * A write decided from what it reads, then applied (see SqliteDb.write): SQLite lets writes queued
   * together share one COMMIT; PostgreSQL runs each in a transaction of its own.
   */
  write<T>(decide: (r: GroupRunner) => Promise<WriteOutcome<T>>): Promise<T>;
  close(): Promise<void>;
  readonly isClosed: boolean;
}

/** Opens the database a URL names: postgres://… (or postgresql://…) is PostgreSQL, anything else a SQLite file. */
export async function openSqlDb(where: string): Promise<SqlDb> {
  if (/^postgres(ql)?:\/\//i.test(where)) {
    const { PgDb } = await import('./pg-db.ts');
    return PgDb.open(where);
  }
  const { SqliteDb } = await import('./sqlite-db.ts');
  return SqliteDb.open(where.replace(/^sqlite:(\/\/)?/i, ''));
}
