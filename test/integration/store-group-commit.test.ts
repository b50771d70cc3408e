// Group commit (SqliteDb.write, used by every store write): writes that queue up share one COMMIT —
// one fsync with synchronous=FULL — yet each is acknowledged only once durable, fails on its own
// (taken name, stale resourceVersion) without touching the others, sees the writes before it in the
// same transaction, and an error that ends the transaction fails the whole group and nothing else.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import type { Resource } from '../../crds/resource.ts';
import type { WatchEvent } from '../../controller/store/types.ts';
import { gs, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';
import { waitFor } from '../helpers/wait.ts';

let env: TmpStore;
beforeEach(async () => {
  env = await openTmpStore();
});
afterEach(() => env.cleanup());

const settled = <T>(ps: Promise<T>[]) => Promise.allSettled(ps);
const errorOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as { reason?: string; message: string }) : undefined);

describe('group commit in the store', () => {
  it('50 concurrent creates share commits, each durable and published in resourceVersion order', async () => {
    const events: WatchEvent[] = [];
    await env.store.watch({}, (e) => events.push(e));
    const before = { ...env.store.db.writeCounters };
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => env.store.create(gs(`g${i}`))));
    const commits = env.store.db.writeCounters.commits - before.commits;
    expect(env.store.db.writeCounters.writes - before.writes).toBe(50);
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(10);
    const rvs = created.map((o) => Number(o.metadata.resourceVersion)).sort((a, b) => a - b);
    expect(rvs).toEqual(Array.from({ length: 50 }, (_, i) => rvs[0]! + i)); // dense
    await waitFor(() => events.length === 50, 'the 50 events');
    expect(events.map((e) => Number(e.object.metadata.resourceVersion))).toEqual(rvs);
    await env.reopen();
    expect((await env.store.list('GameServer', { namespace: 'default' })).items).toHaveLength(50);
  });

  it('a taken name or a stale resourceVersion fails only that write; a later write of the group sees an earlier one', async () => {
    const base = await env.store.create(gs('base'));
    const owner = await env.store.create(gs('owner'));
    const [a, dup, stale, patchOfNew, created, withOwner] = await settled<unknown>([
      env.store.patch('GameServer', 'default', 'base', { spec: { counter: 1 } }),
      env.store.create(gs('base')), // taken
      env.store.patch('GameServer', 'default', 'base', { spec: { counter: 2 } }, { resourceVersion: base.metadata.resourceVersion }), // stale after the first patch
      env.store.patch('GameServer', 'default', 'fresh', { spec: { counter: 7 } }), // created just below, same group: not yet there
      env.store.create(gs('fresh')),
      env.store.create(gs('base', {}, { ownerReferences: [{ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', name: 'owner', uid: owner.metadata.uid! }] })), // taken, 2 statements
    ]);
    expect(a.status).toBe('fulfilled');
    expect(errorOf(dup)?.reason).toBe('AlreadyExists');
    expect(errorOf(stale)?.reason).toBe('Conflict');
    expect(errorOf(patchOfNew)?.reason).toBe('NotFound'); // queued before the create: it could not see it
    expect(created.status).toBe('fulfilled');
    expect(errorOf(withOwner)?.reason).toBe('AlreadyExists');
    // The patch queued after the create in one group sees it.
    const [c, p] = await Promise.all([env.store.create(gs('later')), env.store.patch<Resource>('GameServer', 'default', 'later', { spec: { counter: 3 } })]);
    expect((p.spec as { counter: number }).counter).toBe(3);
    expect(Number(p.metadata.resourceVersion)).toBe(Number(c.metadata.resourceVersion) + 1);
    // What failed left nothing: no second "base", no owner index row for it.
    await env.reopen();
    const all = (await env.store.list('GameServer', { namespace: 'default' })).items.map((o) => o.metadata.name).sort();
    expect(all).toEqual(['base', 'fresh', 'later', 'owner']);
    expect(await env.store.db.all('SELECT * FROM owner_refs')).toEqual([]);
    expect(((await env.store.get<Resource>('GameServer', 'default', 'base')).spec as { counter: number }).counter).toBe(1);
  });
});

describe('group commit in SqliteDb', () => {
  it('an error that ends the transaction fails every write of the group and commits none; the next group works', async () => {
    const db = await SqliteDb.open(path.join(env.dir, 'raw.db'));
    try {
      await db.exec('CREATE TABLE t (v TEXT)');
      const ins = (v: string) => db.write(async () => ({ result: v, statements: [{ sql: 'INSERT INTO t (v) VALUES (?)', params: [v] }] }));
      const broken = () => db.write(async () => ({ result: 'x', statements: [{ sql: 'INSERT INTO no_such_table (v) VALUES (1)' }] }));
      const rs = await settled([ins('a'), broken(), ins('b')]);
      expect(rs.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']); // b was not decided yet: it ran again, alone
      expect(errorOf(rs[0]!)?.message).toMatch(/no such table/);
      expect(await db.all('SELECT v FROM t')).toEqual([{ v: 'b' }]);
      expect(await ins('c')).toBe('c');
      expect((await db.all('SELECT v FROM t ORDER BY v')).map((r) => r.v)).toEqual(['b', 'c']);
    } finally {
      await db.close();
    }
  });

  it('a write reads what the writes before it in the group applied; a failing decide applies nothing', async () => {
    const db = await SqliteDb.open(path.join(env.dir, 'raw2.db'));
    try {
      await db.exec('CREATE TABLE t (v INTEGER)');
      const add = () =>
        db.write(async (r) => {
          const row = await r.get<{ n: number }>('SELECT count(*) AS n FROM t');
          return { result: row!.n, statements: [{ sql: 'INSERT INTO t (v) VALUES (?)', params: [row!.n] }] };
        });
      const refuse = db.write(async () => {
        throw new Error('refused');
      });
      const rs = await settled([add(), refuse, add(), add()]);
      expect(rs.map((r) => (r.status === 'fulfilled' ? r.value : 'x'))).toEqual([0, 'x', 1, 2]);
      expect(db.writeCounters.commits).toBe(1);
    } finally {
      await db.close();
    }
  });
});
