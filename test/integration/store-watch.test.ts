// Watch: ordering, filters, selector transitions, replay from history, 410 Gone, bookmarks, and the
// "every event after X exactly once, no gap" property under concurrent writes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import { createLogger } from '../../lib/log.ts';
import { StoreError } from '../../controller/store/errors.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import type { WatchEvent } from '../../controller/store/types.ts';
import { gs, node, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const settle = () => new Promise((r) => setTimeout(r, 30));
const short = (e: WatchEvent) => `${e.type} ${e.object.metadata?.name ?? ''}@${e.object.metadata?.resourceVersion}`;

describe('SqliteStore: watch', () => {
  let env: TmpStore;
  let store: SqliteStore;
  beforeEach(async () => {
    env = await openTmpStore();
    store = env.store;
  });
  afterEach(() => env.cleanup());

  it('delivers ADDED/MODIFIED/DELETED in commit order, filtered by kind and namespace', async () => {
    const all: WatchEvent[] = [];
    const servers: WatchEvent[] = [];
    const teamA: WatchEvent[] = [];
    const nodes: WatchEvent[] = [];
    await store.watch({}, (e) => all.push(e));
    await store.watch({ kind: 'GameServer' }, (e) => servers.push(e));
    await store.watch({ kind: 'GameServer', namespace: 'team-a' }, (e) => teamA.push(e));
    await store.watch({ kind: 'GameNode', namespace: 'ignored-for-cluster-kinds' }, (e) => nodes.push(e));

    await store.create(gs('a'));
    await store.create(gs('b', {}, { namespace: 'team-a' }));
    await store.create(node('n'));
    await store.patch('GameServer', 'team-a', 'b', { spec: { counter: 1 } });
    await store.patchStatus('GameNode', undefined, 'n', { phase: 'Online' });
    await store.delete('GameServer', 'default', 'a');
    await until(() => all.length === 6);
    await settle();

    expect(all.map(short)).toEqual(['ADDED a@1', 'ADDED b@2', 'ADDED n@3', 'MODIFIED b@4', 'MODIFIED n@5', 'DELETED a@6']);
    expect(servers.map(short)).toEqual(['ADDED a@1', 'ADDED b@2', 'MODIFIED b@4', 'DELETED a@6']);
    expect(teamA.map(short)).toEqual(['ADDED b@2', 'MODIFIED b@4']);
    expect(nodes.map(short)).toEqual(['ADDED n@3', 'MODIFIED n@5']);
    expect(all[3]!.object.spec).toMatchObject({ counter: 1 });
    // Each watcher gets its own copy.
    expect(all[0]!.object).not.toBe(servers[0]!.object);
  });

  it('a selector watch sees an object entering as ADDED and leaving as DELETED (with its last matching content)', async () => {
    const seen: WatchEvent[] = [];
    await store.watch({ kind: 'GameServer', labelSelector: 'app=mc' }, (e) => seen.push(e));
    await store.create(gs('a', {}, { labels: { app: 'other' } })); // 1: invisible
    await store.patch('GameServer', 'default', 'a', { metadata: { labels: { app: 'mc' } } }); // 2: enters
    await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } }); // 3: modified
    await store.patch('GameServer', 'default', 'a', { metadata: { labels: { app: 'valheim' } }, spec: { counter: 2 } }); // 4: leaves
    await store.patch('GameServer', 'default', 'a', { spec: { counter: 3 } }); // 5: invisible
    await store.delete('GameServer', 'default', 'a'); // 6: invisible
    await settle();
    expect(seen.map(short)).toEqual(['ADDED a@2', 'MODIFIED a@3', 'DELETED a@4']);
    expect(seen[2]!.object.metadata.labels).toEqual({ app: 'mc' });
    expect(seen[2]!.object.spec).toMatchObject({ counter: 1 });

    // The same transitions come out of history for a watch that starts in the past.
    const replay: WatchEvent[] = [];
    await store.watch({ kind: 'GameServer', labelSelector: 'app=mc', resourceVersion: '0' }, () => {});
    await store.watch({ kind: 'GameServer', labelSelector: 'app=mc', resourceVersion: '1' }, (e) => replay.push(e));
    await settle();
    expect(replay.map(short)).toEqual(seen.map(short));
  });

  it('replays history for a watch from an older resourceVersion, then continues live with no gap', async () => {
    for (let i = 0; i < 5; i++) await store.create(gs(`s${i}`));
    const seen: WatchEvent[] = [];
    await store.watch({ resourceVersion: '2' }, (e) => seen.push(e));
    await store.create(gs('s5'));
    await until(() => seen.length === 4);
    expect(seen.map(short)).toEqual(['ADDED s2@3', 'ADDED s3@4', 'ADDED s4@5', 'ADDED s5@6']);
    const current: WatchEvent[] = [];
    await store.watch({ resourceVersion: await store.currentResourceVersion() }, (e) => current.push(e));
    await settle();
    expect(current).toEqual([]);
  });

  it('resourceVersion "0" starts with the current objects as ADDED', async () => {
    await store.create(gs('a', {}, { labels: { app: 'mc' } }));
    await store.create(gs('b'));
    await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } });
    const seen: WatchEvent[] = [];
    await store.watch({ kind: 'GameServer', labelSelector: 'app', resourceVersion: '0' }, (e) => seen.push(e));
    await store.create(gs('c', {}, { labels: { app: 'x' } }));
    await until(() => seen.length === 2);
    expect(seen.map(short)).toEqual(['ADDED a@3', 'ADDED c@4']);
  });

  it('a version older than the history kept is 410 Gone; a future or malformed one is refused too', async () => {
    store = await env.reopen({ historyLimit: 20 });
    for (let i = 0; i < 100; i++) await store.create(gs(`s${i}`));
    const err = await store.watch({ resourceVersion: '5' }, () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.reason).toBe('Gone');
    expect(err.code).toBe(410);
    expect(err.message).toMatch(/too old resource version: 5/);
    // The newest `historyLimit` changes are always replayable.
    const seen: WatchEvent[] = [];
    await store.watch({ resourceVersion: '80' }, (e) => seen.push(e));
    await until(() => seen.length === 20);
    expect(seen[0]!.object.metadata.resourceVersion).toBe('81');
    expect(((await store.watch({ resourceVersion: '1000' }, () => {}).catch((e) => e)) as StoreError).reason).toBe('Gone');
    expect(((await store.watch({ resourceVersion: 'abc' }, () => {}).catch((e) => e)) as StoreError).reason).toBe('BadRequest');
    expect(((await store.watch({ labelSelector: 'a in' }, () => {}).catch((e) => e)) as StoreError).reason).toBe('BadRequest');
    expect(((await store.watch({ kind: 'Nope' }, () => {}).catch((e) => e)) as StoreError).reason).toBe('BadRequest');
  });

  it('history survives a restart: a watch from before it replays', async () => {
    await store.create(gs('a'));
    await store.create(gs('b'));
    store = await env.reopen();
    const seen: WatchEvent[] = [];
    await store.watch({ resourceVersion: '1' }, (e) => seen.push(e));
    await until(() => seen.length === 1);
    expect(seen.map(short)).toEqual(['ADDED b@2']);
  });

  it('sends BOOKMARKs with the current resourceVersion at the interval', async () => {
    const seen: WatchEvent[] = [];
    await store.watch({ kind: 'GameServer', bookmarkIntervalMs: 20 }, (e) => seen.push(e));
    await store.create(node('n')); // not this watch's kind, but it moves the version
    await until(() => seen.some((e) => e.type === 'BOOKMARK' && e.object.metadata.resourceVersion === '1'));
    const b = seen.find((e) => e.type === 'BOOKMARK')!;
    expect(b.object.kind).toBe('GameServer');
    expect(seen.filter((e) => e.type !== 'BOOKMARK')).toEqual([]);
  });

  it('a throwing or slow watcher does not break the store or other watchers', async () => {
    const warnings: string[] = [];
    store = await env.reopen({ log: { ...createLogger({}, 'error'), warn: (msg) => warnings.push(msg) } });
    const good: WatchEvent[] = [];
    let thrown = 0;
    let slowSeen = 0;
    await store.watch({}, () => {
      thrown++;
      throw new Error('watcher bug');
    });
    await store.watch({}, async () => {
      await new Promise((r) => setTimeout(r, 100));
      slowSeen++;
    });
    await store.watch({}, () => Promise.reject(new Error('async watcher bug')));
    await store.watch({}, (e) => good.push(e));
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) await store.create(gs(`s${i}`));
    await until(() => good.length === 20);
    // The slow watcher (100 ms per event, 2 s in all) has not held anyone up.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(slowSeen).toBeLessThan(20);
    expect(thrown).toBe(20);
    await until(() => slowSeen === 20);
    // Failures are reported, but not forever: 10 lines each for the two failing watchers.
    expect(warnings.filter((w) => w === 'watch callback failed')).toHaveLength(20);
  });

  it('a watcher that falls too far behind is closed with an ERROR (410) event', async () => {
    const warnings: string[] = [];
    store = await env.reopen({ maxWatchBacklog: 5, log: { ...createLogger({}, 'error'), warn: (msg) => warnings.push(msg) } });
    const seen: WatchEvent[] = [];
    const healthy: WatchEvent[] = [];
    await store.watch({}, async (e) => {
      seen.push(e);
      await new Promise((r) => setTimeout(r, 1000));
    });
    await store.watch({}, (e) => healthy.push(e));
    // One commit after another while the slow consumer is still busy with the first event.
    for (let i = 0; i < 20; i++) await store.create(gs(`s${i}`));
    await until(() => seen.some((e) => e.type === 'ERROR'));
    const err = seen.find((e) => e.type === 'ERROR')!.object as unknown as { code: number; reason: string };
    expect(err).toMatchObject({ kind: 'Status', code: 410, reason: 'Gone' });
    await until(() => healthy.length === 20);
    expect(warnings).toEqual(['watcher fell behind; closing it with an ERROR event']);
  });

  it('a burst committed together (group commit) reaches a watcher whole, even past the backlog bound', async () => {
    store = await env.reopen({ maxWatchBacklog: 5 });
    const healthy: WatchEvent[] = [];
    await store.watch({}, (e) => healthy.push(e));
    const commits = store.db.writeCounters.commits;
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(gs(`b${i}`))));
    expect(store.db.writeCounters.commits - commits).toBeLessThan(20);
    await until(() => healthy.length === 20);
    expect(healthy.map((e) => Number(e.object.metadata.resourceVersion))).toEqual([...healthy.map((e) => Number(e.object.metadata.resourceVersion))].sort((a, b) => a - b));
  });

  it('stop() ends delivery, even of queued events, and close() stops every watch', async () => {
    const seen: WatchEvent[] = [];
    const w = await store.watch({}, (e) => seen.push(e));
    await store.create(gs('a'));
    w.stop();
    w.stop();
    await store.create(gs('b'));
    await settle();
    expect(seen).toEqual([]);
    const after: WatchEvent[] = [];
    await store.watch({}, (e) => after.push(e));
    await store.close();
    await settle();
    await expect(store.create(gs('c'))).rejects.toThrow(/closed/);
  });

  it('every watcher registered at X receives every event > X exactly once, in order, under concurrent writes', async () => {
    const WRITERS = 8;
    const PER_WRITER = 40;
    const watchers: { from: number; rvs: number[] }[] = [];
    const register = async (from: string) => {
      const entry = { from: Number(from), rvs: [] as number[] };
      watchers.push(entry);
      await store.watch({ resourceVersion: from }, (e) => entry.rvs.push(Number(e.object.metadata.resourceVersion)));
    };
    await register('0');
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < PER_WRITER; i++) {
        const name = `w${w}-${i}`;
        await store.create(gs(name));
        if (i % 3 === 0) await store.patch('GameServer', 'default', name, { spec: { counter: i } });
        if (i % 5 === 0) await store.delete('GameServer', 'default', name);
      }
    });
    // Watchers join while writes are in flight, from the live version and from older ones.
    const joiners = (async () => {
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 3));
        const rv = Number(await store.currentResourceVersion());
        await register(String(rv));
        await register(String(Math.max(1, rv - 7)));
      }
    })();
    await Promise.all([...writers, joiners]);
    const final = Number(await store.currentResourceVersion());
    await until(() => watchers.every((w) => w.rvs.at(-1) === final || (w.from === final && w.rvs.length === 0)), 10_000);
    for (const w of watchers) {
      const expected = Array.from({ length: final - w.from }, (_, i) => w.from + 1 + i);
      expect(w.rvs, `watch from ${w.from}`).toEqual(expected);
    }
  });

  it('list then watch from the list resourceVersion reconstructs the final state (informer pattern)', async () => {
    const busy = (async () => {
      for (let i = 0; i < 60; i++) {
        await store.create(gs(`x${i}`, { counter: i }));
        if (i % 2) await store.patch('GameServer', 'default', `x${i - 1}`, { spec: { counter: -i } });
        if (i % 2 && i % 7 === 0) await store.delete('GameServer', 'default', `x${i}`);
      }
    })();
    await new Promise((r) => setTimeout(r, 15));
    const snap = await store.list('GameServer');
    const cache = new Map(snap.items.map((o) => [o.metadata.name, o]));
    await store.watch({ kind: 'GameServer', resourceVersion: snap.resourceVersion }, (e) => {
      if (e.type === 'DELETED') cache.delete(e.object.metadata.name);
      else cache.set(e.object.metadata.name, e.object as Resource);
    });
    await busy;
    const final = await store.list('GameServer');
    await until(() => [...cache.values()].every((o) => o.metadata.resourceVersion === final.items.find((f) => f.metadata.name === o.metadata.name)?.metadata.resourceVersion) && cache.size === final.items.length);
    expect([...cache.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))).toEqual(
      [...final.items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)),
    );
  });
});
