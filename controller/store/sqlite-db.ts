// One sqlite3 connection, made safe to share across async callers.
//
// sqlite3's callback API runs statements of one connection in whatever order they are issued, so two
// async "transactions" interleave: the second BEGIN fails and its statements join (and commit with)
// the first. Every use of the connection therefore goes through one FIFO mutex: a transaction holds it
// from BEGIN IMMEDIATE to COMMIT/ROLLBACK, a plain statement holds it for itself. A side effect we rely
// on: whoever holds the mutex outside a transaction sees only committed data, and nothing commits
// until they let go.
//
// Group commit (write()): with synchronous=FULL every COMMIT is an fsync, milliseconds on this kind of
// disk, so writes that queue up behind one another share a transaction — one fsync for all of them —
// each in a SAVEPOINT of its own, so one write failing (a name taken, a precondition) undoes only
// itself. Each is acknowledged only after the COMMIT that includes it: durability per acknowledged
// write is unchanged. A write alone runs as before (a single statement needs no BEGIN/COMMIT).
import sqlite3 from 'sqlite3';

export type Synchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
export type SqlParams = readonly unknown[] | Record<string, unknown>;

export interface SqliteDbOptions {
  /** FULL (default): an acknowledged commit survives power loss, not only a process crash. */
  synchronous?: Synchronous;
  /** How long a statement waits for a lock held by another process before failing (ms). */
  busyTimeoutMs?: number;
  /** Prepared statements kept ready (least recently used are finalized beyond this). */
  statementCacheSize?: number;
}

export interface RunResult {
  changes: number;
  lastID: number;
}

/** What a caller may do with the connection: the db itself (each call locks) or a transaction handle. */
export interface SqlRunner {
  run(sql: string, params?: SqlParams): Promise<RunResult>;
  /** The first row. The statement runs to completion: write LIMIT 1 if it could return many rows. */
  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
  /** Several statements separated by `;`, no parameters (schema scripts). */
  exec(sql: string): Promise<void>;
}

export interface Statement {
  sql: string;
  params?: SqlParams;
}

/** The handle of locked(): the connection is yours until fn returns. */
export interface LockedRunner extends SqlRunner {
  /**
   * Runs write statements atomically: a single one on its own (SQLite makes every statement, with
   * its triggers, atomic — and that saves the BEGIN and COMMIT round trips), several inside
   * BEGIN IMMEDIATE … COMMIT, rolled back if one fails.
   */
  batch(statements: readonly Statement[]): Promise<RunResult[]>;
}

/**
 * What a grouped write (SqliteDb.write) decided: statements to apply, and what to do once they were
 * applied in the transaction (`applied`: later writes of the same group build on it) and once that
 * transaction committed (`committed`: runs in order, while the connection is still held).
 */
export interface WriteOutcome<T> {
  result: T;
  statements: readonly Statement[];
  applied?: () => void;
  committed?: () => void;
}

/** The handle of a grouped write's decide step: reads see the writes of its group applied before it. */
export interface GroupRunner extends SqlRunner {
  /** Scratch space shared by the writes of one transaction (a store keeps its pending state here). */
  readonly group: Record<string, unknown>;
}

/** How much commit grouping happened (tests, benches). */
export interface WriteCounters {
  /** Grouped writes acknowledged. */
  writes: number;
  /** COMMITs (or single autocommit statements) that carried them. */
  commits: number;
}

interface PendingWrite {
  decide: (r: GroupRunner) => Promise<WriteOutcome<unknown>>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

/** Writes sharing one transaction at most (bounds the latency of the first of them). */
const MAX_GROUP = 128;

export interface Tx extends SqlRunner {
  /** Runs after COMMIT succeeds, while the connection is still held: nothing else has committed since. */
  afterCommit(fn: () => void): void;
}

/** A failure reported by SQLite, with the statement that caused it. */
export class SqliteError extends Error {
  /** SQLite's code, e.g. SQLITE_CONSTRAINT, SQLITE_BUSY. */
  readonly code: string;
  readonly sql: string;
  constructor(cause: unknown, sql: string, op: string) {
    const e = cause as { message?: string; code?: string };
    const short = sql.replace(/\s+/g, ' ').trim().slice(0, 200);
    super(`sqlite ${op} failed: ${e?.message ?? String(cause)} [${short}]`, { cause });
    this.name = 'SqliteError';
    this.code = e?.code ?? 'SQLITE_ERROR';
    this.sql = short;
  }
}

/**
 * An error that may have ended the group's transaction (I/O, busy, a full disk…): the whole group
 * fails. A constraint failure (a taken name) undoes only its statement, and an error that is not
 * SQLite's (a precondition, a validation) came before any statement ran.
 */
const isFatal = (err: unknown): boolean => err instanceof SqliteError && err.code !== 'SQLITE_CONSTRAINT';

class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async lock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

export class SqliteDb implements SqlRunner {
  readonly dialect = 'sqlite' as const;
  readonly path: string;
  private readonly conn: sqlite3.Database;
  private readonly mutex = new Mutex();
  private readonly pendingWrites: PendingWrite[] = [];
  private groupQueued = false;
  readonly writeCounters: WriteCounters = { writes: 0, commits: 0 };
  private readonly statements = new Map<string, Promise<sqlite3.Statement>>();
  private readonly cacheSize: number;
  private closed = false;
  private closing?: Promise<void>;

  private constructor(path: string, conn: sqlite3.Database, cacheSize: number) {
    this.path = path;
    this.conn = conn;
    this.cacheSize = cacheSize;
  }

  static async open(path: string, opts: SqliteDbOptions = {}): Promise<SqliteDb> {
    const conn = await new Promise<sqlite3.Database>((resolve, reject) => {
      const c: sqlite3.Database = new sqlite3.Database(path, (err) => (err ? reject(new SqliteError(err, path, 'open')) : resolve(c)));
    });
    // Without a listener an error event (e.g. close with live statements) would crash the process.
    conn.on('error', () => {});
    const db = new SqliteDb(path, conn, opts.statementCacheSize ?? 200);
    try {
      const sync = opts.synchronous ?? 'FULL';
      if (!['OFF', 'NORMAL', 'FULL', 'EXTRA'].includes(sync)) throw new Error(`synchronous must be OFF, NORMAL, FULL or EXTRA, not "${sync}"`);
      await db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      const mode = await db.get<{ journal_mode: string }>('PRAGMA journal_mode = WAL');
      // An in-memory database answers "memory"; anything else means WAL was refused (e.g. a read-only dir).
      if (mode?.journal_mode !== 'wal' && path !== ':memory:' && path !== '') {
        throw new Error(`could not switch ${path} to WAL mode (journal_mode is ${mode?.journal_mode})`);
      }
      await db.exec(`PRAGMA synchronous = ${sync}`);
      await db.exec('PRAGMA foreign_keys = ON');
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return db;
  }

  run(sql: string, params?: SqlParams): Promise<RunResult> {
    return this.locked(() => this.rawRun(sql, params));
  }

  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.locked(() => this.rawGet<T>(sql, params));
  }

  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.locked(() => this.rawAll<T>(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.locked(() => this.rawExec(sql));
  }

  /**
   * Holds the connection for several statements without a transaction: reads inside see one
   * committed state, because nothing on this connection commits until fn returns (and this process
   * is the only writer of the file). Use the runner passed in; calling the db's own methods from
   * inside would wait for yourself forever.
   */
  locked<T>(fn: (r: LockedRunner) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`database ${this.path} is closed`));
    return this.mutex.lock(() => {
      if (this.closed) throw new Error(`database ${this.path} is closed`);
      return fn({ ...this.runner(), batch: (stmts) => this.rawBatch(stmts) });
    });
  }

  /** See LockedRunner.batch. */
  batch(statements: readonly Statement[]): Promise<RunResult[]> {
    return this.locked((r) => r.batch(statements));
  }

  /**
   * A write that may share its COMMIT with the writes queued behind it (see the top of this file).
   * `decide` reads what it needs through the runner and returns the statements to apply; it must not
   * write itself. It runs with the connection held, after the writes grouped before it were applied
   * (so it sees them). Throwing applies nothing of this write; a constraint failure of its statements
   * likewise fails only this write. Resolves with `result` once the commit is durable.
   */
  write<T>(decide: (r: GroupRunner) => Promise<WriteOutcome<T>>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`database ${this.path} is closed`));
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push({ decide, resolve: resolve as (v: unknown) => void, reject });
      this.queueGroup();
    });
  }

  private queueGroup(): void {
    if (this.groupQueued || this.pendingWrites.length === 0) return;
    this.groupQueued = true;
    void this.mutex.lock(async () => {
      this.groupQueued = false;
      if (this.closed) {
        for (const p of this.pendingWrites.splice(0)) p.reject(new Error(`database ${this.path} is closed`));
        return;
      }
      await this.runGroup();
    }).catch(() => {}).finally(() => this.queueGroup()); // runGroup settles every write itself
  }

  /** Runs the queued writes: alone as before, or several in one transaction. Called with the mutex held. */
  private async runGroup(): Promise<void> {
    const first = this.pendingWrites.splice(0, MAX_GROUP);
    const runner = (group: Record<string, unknown>): GroupRunner => ({ ...this.runner(), group });
    if (first.length === 1) {
      const p = first[0]!;
      let out: WriteOutcome<unknown>;
      try {
        out = await p.decide(runner({}));
        await this.rawBatch(out.statements);
      } catch (err) {
        return p.reject(err);
      }
      if (out.statements.length) this.writeCounters.commits++;
      this.writeCounters.writes++;
      out.applied?.();
      out.committed?.();
      return p.resolve(out.result);
    }
    const group: Record<string, unknown> = {};
    const units = first;
    const done: { p: PendingWrite; out: WriteOutcome<unknown> }[] = [];
    // Refusals are answered after the COMMIT too: a caller that retries on a Conflict must then read
    // the state that refused it, not the one before this transaction.
    const refused: { p: PendingWrite; err: unknown }[] = [];
    let next = 0; // units before this index are in `done` or `refused`
    try {
      await this.rawExec('BEGIN IMMEDIATE');
      for (; next < units.length; next++) {
        const p = units[next]!;
        let out: WriteOutcome<unknown>;
        try {
          out = await p.decide(runner(group));
          await this.applyInGroup(out.statements, next);
        } catch (err) {
          refused.push({ p, err });
          if (isFatal(err)) {
            next++;
            throw err;
          }
          continue;
        }
        out.applied?.();
        done.push({ p, out });
        // Writes that arrived meanwhile join this transaction, up to the bound.
        if (next === units.length - 1 && units.length < MAX_GROUP) units.push(...this.pendingWrites.splice(0, MAX_GROUP - units.length));
      }
      await this.rawExec('COMMIT');
    } catch (failure) {
      // After a failed COMMIT (or an I/O error) SQLite may already have rolled back; a second error is noise.
      await this.rawExec('ROLLBACK').catch(() => {});
      for (const { p, err } of refused) p.reject(err);
      for (const { p } of done) p.reject(failure);
      // Not decided yet: they go again, in their own group.
      this.pendingWrites.unshift(...units.slice(next));
      return;
    }
    this.writeCounters.commits++;
    this.writeCounters.writes += done.length;
    for (const { out } of done) out.committed?.();
    for (const { p, out } of done) p.resolve(out.result);
    for (const { p, err } of refused) p.reject(err);
  }

  /** One write's statements inside the group's transaction: a single statement is atomic by itself. */
  private async applyInGroup(statements: readonly Statement[], i: number): Promise<void> {
    if (statements.length === 0) return;
    if (statements.length === 1) {
      await this.rawRun(statements[0]!.sql, statements[0]!.params);
      return;
    }
    const sp = `w${i}`;
    await this.rawExec(`SAVEPOINT ${sp}`);
    try {
      for (const st of statements) await this.rawRun(st.sql, st.params);
    } catch (err) {
      await this.rawExec(`ROLLBACK TO ${sp}`).catch(() => {});
      await this.rawExec(`RELEASE ${sp}`).catch(() => {});
      throw err;
    }
    await this.rawExec(`RELEASE ${sp}`);
  }

  /**
   * BEGIN IMMEDIATE … COMMIT, one transaction at a time. fn throwing rolls back and rethrows.
   * As with locked(), use only the handle passed in.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.locked(async () => {
      const hooks: (() => void)[] = [];
      let open = true;
      const tx: Tx = {
        ...this.runner(),
        afterCommit: (f) => {
          if (!open) throw new Error('afterCommit called after the transaction ended');
          hooks.push(f);
        },
      };
      await this.rawExec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await fn(tx);
        await this.rawExec('COMMIT');
      } catch (err) {
        open = false;
        // After a failed COMMIT SQLite may already have rolled back; a second ROLLBACK error is noise.
        await this.rawExec('ROLLBACK').catch(() => {});
        throw err;
      }
      open = false;
      for (const h of hooks) h();
      return result;
    });
  }

  /** Finalizes every cached statement (sqlite3 errors on close otherwise), then closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.mutex.lock(async () => {
      this.closed = true;
      const stmts = await Promise.allSettled([...this.statements.values()]);
      this.statements.clear();
      await Promise.all(
        stmts.map((s) => (s.status === 'fulfilled' ? new Promise<void>((r) => s.value.finalize(() => r())) : undefined)),
      );
      await new Promise<void>((resolve, reject) =>
        this.conn.close((err) => (err ? reject(new SqliteError(err, this.path, 'close')) : resolve())),
      );
    });
    return this.closing;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private runner(): SqlRunner {
    return {
      run: (sql, params) => this.rawRun(sql, params),
      get: (sql, params) => this.rawGet(sql, params),
      all: (sql, params) => this.rawAll(sql, params),
      exec: (sql) => this.rawExec(sql),
    };
  }

  private statement(sql: string): Promise<sqlite3.Statement> {
    const hit = this.statements.get(sql);
    if (hit) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.statements.delete(sql);
      this.statements.set(sql, hit);
      return hit;
    }
    const p = new Promise<sqlite3.Statement>((resolve, reject) => {
      const s: sqlite3.Statement = this.conn.prepare(sql, (err) => {
        if (!err) return resolve(s);
        this.statements.delete(sql);
        s.finalize(() => {});
        reject(new SqliteError(err, sql, 'prepare'));
      });
    });
    this.statements.set(sql, p);
    if (this.statements.size > this.cacheSize) {
      const [oldest, old] = this.statements.entries().next().value as [string, Promise<sqlite3.Statement>];
      this.statements.delete(oldest);
      old.then((s) => s.finalize(() => {}), () => {});
    }
    return p;
  }

  private async rawRun(sql: string, params: SqlParams = []): Promise<RunResult> {
    const s = await this.statement(sql);
    return new Promise((resolve, reject) =>
      s.run(params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(new SqliteError(err, sql, 'run'));
        else resolve({ changes: this.changes, lastID: this.lastID });
      }),
    );
  }

  private async rawGet<T>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    // sqlite3's Statement#get leaves the statement mid-step, holding a read snapshot open (which also
    // stops the WAL from being recycled) until a reset: one more thread-pool round trip per call. all()
    // runs to completion in one trip, so get is all()'s first row — callers add LIMIT 1 where a query
    // could return many rows.
    return (await this.rawAll<T>(sql, params))[0];
  }

  private async rawAll<T>(sql: string, params: SqlParams = []): Promise<T[]> {
    const s = await this.statement(sql);
    return new Promise((resolve, reject) =>
      s.all(params, (err: Error | null, rows: T[]) => (err ? reject(new SqliteError(err, sql, 'all')) : resolve(rows))),
    );
  }

  private async rawBatch(statements: readonly Statement[]): Promise<RunResult[]> {
    if (statements.length === 0) return [];
    if (statements.length === 1) return [await this.rawRun(statements[0]!.sql, statements[0]!.params)];
    await this.rawExec('BEGIN IMMEDIATE');
    try {
      const out: RunResult[] = [];
      for (const st of statements) out.push(await this.rawRun(st.sql, st.params));
      await this.rawExec('COMMIT');
      return out;
    } catch (err) {
      await this.rawExec('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  private rawExec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.conn.exec(sql, (err) => (err ? reject(new SqliteError(err, sql, 'exec')) : resolve())));
  }
}
