// The connection wrapper every SQLite-backed module builds on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../controller/store/migrations.ts';
import { SqliteDb, SqliteError } from '../../controller/store/sqlite-db.ts';

describe('SqliteDb', () => {
  let dir: string;
  let db: SqliteDb;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-db-'));
    db = await SqliteDb.open(path.join(dir, 't.db'));
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode with synchronous=FULL by default, NORMAL on request', async () => {
    expect((await db.get<{ journal_mode: string }>('PRAGMA journal_mode'))?.journal_mode).toBe('wal');
    expect((await db.get<{ synchronous: number }>('PRAGMA synchronous'))?.synchronous).toBe(2);
    const other = await SqliteDb.open(path.join(dir, 'n.db'), { synchronous: 'NORMAL', busyTimeoutMs: 1234 });
    expect((await other.get<{ synchronous: number }>('PRAGMA synchronous'))?.synchronous).toBe(1);
    expect((await other.get<{ timeout: number }>('PRAGMA busy_timeout'))?.timeout).toBe(1234);
    await other.close();
  });

  it('runs concurrent transactions one at a time (no interleaving, each commits alone)', async () => {
    await db.run('INSERT INTO t VALUES (?, ?)', ['n', 0]);
    // Each transaction reads, yields, writes: interleaving would lose increments or fail a BEGIN.
    await Promise.all(
      Array.from({ length: 50 }, () =>
        db.transaction(async (tx) => {
          const row = await tx.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['n']);
          await new Promise((r) => setImmediate(r));
          await tx.run('UPDATE t SET v = ? WHERE k = ?', [row!.v + 1, 'n']);
        }),
      ),
    );
    expect((await db.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['n']))?.v).toBe(50);
  });

  it('rolls back when the function throws, and keeps going afterwards', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.get('SELECT * FROM t WHERE k = ?', ['a'])).toBeUndefined();
    await db.transaction((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['b', 2]));
    expect(await db.all('SELECT k FROM t')).toEqual([{ k: 'b' }]);
  });

  it('runs afterCommit hooks only after a successful commit, before the next transaction', async () => {
    const order: string[] = [];
    const a = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
      tx.afterCommit(() => order.push('a committed'));
    });
    const b = db.transaction(async (tx) => {
      order.push('b started');
      tx.afterCommit(() => order.push('never'));
      throw new Error('no');
    });
    await a;
    await expect(b).rejects.toThrow('no');
    expect(order).toEqual(['a committed', 'b started']);
  });

  it('batch applies one statement alone and several atomically', async () => {
    expect(await db.batch([])).toEqual([]);
    const [one] = await db.batch([{ sql: 'INSERT INTO t VALUES (?, ?)', params: ['a', 1] }]);
    expect(one!.changes).toBe(1);
    const failed = await db
      .batch([
        { sql: 'INSERT INTO t VALUES (?, ?)', params: ['b', 1] },
        { sql: 'UPDATE t SET v = v + 1 WHERE k = ?', params: ['a'] },
        { sql: 'INSERT INTO t VALUES (?, ?)', params: ['a', 9] }, // duplicate key
      ])
      .catch((e) => e);
    expect(failed).toBeInstanceOf(SqliteError);
    expect(await db.all('SELECT k, v FROM t ORDER BY k')).toEqual([{ k: 'a', v: 1 }]);
    await db.locked(async (r) => {
      await r.batch([
        { sql: 'INSERT INTO t VALUES (?, ?)', params: ['b', 2] },
        { sql: 'INSERT INTO t VALUES (?, ?)', params: ['c', 3] },
      ]);
      expect(await r.all('SELECT k FROM t ORDER BY k')).toEqual([{ k: 'a' }, { k: 'b' }, { k: 'c' }]);
    });
  });

  it('reports SQLite failures as SqliteError with the code and the statement', async () => {
    await db.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
    const err = await db.run('INSERT INTO t VALUES (?, ?)', ['a', 2]).catch((e) => e);
    expect(err).toBeInstanceOf(SqliteError);
    expect(err.code).toBe('SQLITE_CONSTRAINT');
    expect(err.message).toContain('INSERT INTO t');
    const bad = await db.all('SELEC nonsense').catch((e) => e);
    expect(bad).toBeInstanceOf(SqliteError);
    // A failed prepare is not cached: the same text fails the same way again.
    await expect(db.all('SELEC nonsense')).rejects.toBeInstanceOf(SqliteError);
  });

  it('a get leaves no read snapshot open (later reads see later commits)', async () => {
    await db.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
    await db.run('INSERT INTO t VALUES (?, ?)', ['b', 1]);
    expect((await db.get<{ k: string }>('SELECT k FROM t ORDER BY k'))?.k).toBe('a');
    await db.run('DELETE FROM t WHERE k = ?', ['a']);
    expect((await db.get<{ k: string }>('SELECT k FROM t ORDER BY k'))?.k).toBe('b');
  });

  it('evicts beyond the statement cache and closes cleanly with cached statements', async () => {
    const small = await SqliteDb.open(path.join(dir, 's.db'), { statementCacheSize: 3 });
    for (let i = 0; i < 20; i++) expect(await small.get<{ x: number }>(`SELECT ${i} AS x`)).toEqual({ x: i });
    await small.close();
    await small.close(); // idempotent
    await expect(small.get('SELECT 1')).rejects.toThrow(/closed/);
  });

  it('close waits for queued work', async () => {
    const p = db.transaction(async (tx) => {
      await new Promise((r) => setTimeout(r, 20));
      await tx.run('INSERT INTO t VALUES (?, ?)', ['late', 1]);
    });
    const closing = db.close();
    await p;
    await closing;
    const again = await SqliteDb.open(path.join(dir, 't.db'));
    expect(await again.get('SELECT k FROM t')).toEqual({ k: 'late' });
    db = again;
  });
});

describe('migrate', () => {
  it('applies each migration once, per component, and refuses a newer schema', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-mig-'));
    const db = await SqliteDb.open(path.join(dir, 'm.db'));
    try {
      const v1 = [{ version: 1, description: 'a', up: 'CREATE TABLE a (x)' }];
      const v2 = [...v1, { version: 2, description: 'b', up: async (tx: { exec(s: string): Promise<void> }) => tx.exec('CREATE TABLE b (y)') }];
      expect(await migrate(db, 'one', v1)).toBe(1);
      expect(await migrate(db, 'one', v1)).toBe(1);
      expect(await migrate(db, 'one', v2)).toBe(2);
      expect(await migrate(db, 'two', [{ version: 1, description: 'c', up: 'CREATE TABLE c (z)' }])).toBe(1);
      await expect(migrate(db, 'one', v1)).rejects.toThrow(/schema is at version 2, this build knows only 1/);
      await expect(migrate(db, 'three', [{ version: 2, description: 'gap', up: '' }])).rejects.toThrow(/without gaps/);
      // A failing migration leaves nothing half-applied.
      await expect(
        migrate(db, 'four', [{ version: 1, description: 'bad', up: 'CREATE TABLE d (x); CREATE TABLE d (x)' }]),
      ).rejects.toBeInstanceOf(SqliteError);
      expect(await db.get("SELECT name FROM sqlite_master WHERE name = 'd'")).toBeUndefined();
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
