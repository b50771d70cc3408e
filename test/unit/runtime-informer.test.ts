// Informer failure paths that a real store cannot produce on demand: a list that keeps failing (backoff
// grows, capped), a watch call that answers 410 Gone (relist), stop before the first sync. The happy
// paths and the real 410/ERROR paths run against SqliteStore in test/integration/runtime-informer.test.ts.
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import { createLogger } from '../../lib/log.ts';
import { captureLogs } from '../helpers/env.ts';
import { StoreError } from '../../controller/store/errors.ts';
import type { ResourceList, ResourceStore, Watch, WatchEvent } from '../../controller/store/types.ts';
import { Informer, keyOf, splitKey } from '../../controller/runtime/informer.ts';
import { MetricsRegistry, runtimeMetrics } from '../../controller/runtime/metrics.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const quiet = createLogger({ test: true }, 'error');

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

const obj = (name: string, rv: number, extra: Partial<Resource> = {}): Resource => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameNode',
  metadata: { name, uid: `uid-${name}`, resourceVersion: String(rv) },
  spec: { address: 'x' },
  ...extra,
});

/** A scripted stand-in for the store: list and watch answer whatever the test queued. */
class ScriptedStore {
  lists = 0;
  watches: { rv?: string; onEvent: (ev: WatchEvent) => void; stopped: boolean }[] = [];
  listAnswers: (() => Promise<ResourceList>)[] = [];
  watchAnswers: (() => Promise<void>)[] = [];

  async list(): Promise<ResourceList> {
    this.lists++;
    const next = this.listAnswers.shift();
    if (!next) throw new Error('no list answer scripted');
    return next();
  }

  async watch(opts: { resourceVersion?: string }, onEvent: (ev: WatchEvent) => void): Promise<Watch> {
    const answer = this.watchAnswers.shift();
    if (answer) await answer();
    const w = { rv: opts.resourceVersion, onEvent, stopped: false };
    this.watches.push(w);
    return { stop: () => void (w.stopped = true) };
  }

  asStore(): ResourceStore {
    return this as unknown as ResourceStore;
  }
}

describe('Informer (scripted store)', () => {
  it('keys are namespace/name, or name for cluster-scoped objects', () => {
    expect(keyOf({ metadata: { name: 'a', namespace: 'team' } })).toBe('team/a');
    expect(keyOf({ metadata: { name: 'node-1' } })).toBe('node-1');
    expect(splitKey('team/a')).toEqual({ namespace: 'team', name: 'a' });
    expect(splitKey('node-1')).toEqual({ name: 'node-1' });
  });

  it('retries a failing list at once, then with doubling backoff up to the cap; sync follows the first good list', async () => {
    const clock = new FakeClock();
    const store = new ScriptedStore();
    const fail = () => Promise.reject(new Error('database is locked'));
    store.listAnswers.push(fail, fail, fail, fail, fail, fail, async () => ({ items: [obj('n1', 1)], resourceVersion: '1' }));
    const inf = new Informer({ store: store.asStore(), kind: 'GameNode', clock, log: quiet, backoff: { initialMs: 100, maxMs: 400 }, bookmarkIntervalMs: 0 });
    inf.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await flush();
      delays.push(Math.round(clock.fireNext() * 1000) / 1000); // the fake clock adds up float deadlines
    }
    await flush();
    expect(store.lists).toBe(7);
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.list().map(keyOf)).toEqual(['n1']);
    // 0, then ~100, ~200, ~400 (±20 % jitter), then capped at 400.
    expect(delays[0]).toBe(0);
    expect(delays[1]).toBeGreaterThanOrEqual(80);
    expect(delays[1]).toBeLessThanOrEqual(120);
    expect(delays[2]).toBeGreaterThanOrEqual(160);
    expect(delays[2]).toBeLessThanOrEqual(240);
    expect(delays[3]).toBeGreaterThanOrEqual(320);
    for (const d of delays.slice(3)) expect(d).toBeLessThanOrEqual(400);
    await inf.stop();
    expect(clock.pending).toBe(0);
  });

  it('a watch call answered with 410 Gone makes it list again and watch from the new version', async () => {
    const clock = new FakeClock();
    const store = new ScriptedStore();
    const registry = new MetricsRegistry();
    store.listAnswers.push(
      async () => ({ items: [obj('n1', 1)], resourceVersion: '5' }),
      async () => ({ items: [obj('n1', 7), obj('n2', 8)], resourceVersion: '9' }),
    );
    store.watchAnswers.push(() => Promise.reject(new StoreError('Gone', 'too old resource version: 5')));
    const seen: string[] = [];
    const inf = new Informer({ store: store.asStore(), kind: 'GameNode', clock, log: quiet, bookmarkIntervalMs: 0, metrics: runtimeMetrics(registry) });
    inf.addEventHandler({
      onAdd: (o, initial) => seen.push(`add ${o.metadata.name} ${initial}`),
      onUpdate: (a, b) => seen.push(`update ${a.metadata.name} ${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`),
      onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    inf.start();
    await flush();
    clock.fireNext(); // the immediate retry
    await flush();
    expect(store.lists).toBe(2);
    expect(store.watches.map((w) => w.rv)).toEqual(['9']);
    expect(seen).toEqual(['add n1 true', 'update n1 1->7', 'add n2 false']);
    expect(inf.lastSyncResourceVersion()).toBe('9');
    expect(registry.render()).toContain('gantry_informer_relists_total{kind="GameNode"} 1\n');
    await inf.stop();
    expect(store.watches[0]!.stopped).toBe(true);
  });

  it('stopped before its first list completes: waitForSync answers false and no watch outlives stop()', async () => {
    const store = new ScriptedStore();
    let release!: () => void;
    store.listAnswers.push(() => new Promise((r) => (release = () => r({ items: [], resourceVersion: '1' }))));
    const inf = new Informer({ store: store.asStore(), kind: 'GameNode', log: quiet });
    inf.start();
    const sync = inf.waitForSync();
    await flush();
    const stopped = inf.stop();
    expect(await sync).toBe(false);
    release();
    await stopped;
    expect(store.watches.length).toBe(0);
    expect(inf.hasSynced()).toBe(false);
  });

  it('a throwing handler is contained; cached objects are frozen; a late handler gets the cache replayed', async () => {
    const store = new ScriptedStore();
    store.listAnswers.push(async () => ({ items: [obj('n1', 1), obj('n2', 2)], resourceVersion: '2' }));
    const inf = new Informer({ store: store.asStore(), kind: 'GameNode', log: quiet, bookmarkIntervalMs: 0 });
    const good: string[] = [];
    inf.addEventHandler({
      onAdd: () => {
        throw new Error('bad handler');
      },
    });
    inf.addEventHandler({ onAdd: (o) => good.push(o.metadata.name) });
    const logs = captureLogs();
    try {
      inf.start();
      expect(await inf.waitForSync()).toBe(true);
      await flush();
    } finally {
      logs.restore();
    }
    expect(good).toEqual(['n1', 'n2']);
    expect(logs.lines().filter((l) => l.msg === 'event handler threw').length).toBe(2);
    const cached = inf.get('n1')!;
    expect(() => {
      (cached.spec as Record<string, unknown>).address = 'changed';
    }).toThrow(TypeError);
    const late: [string, boolean][] = [];
    inf.addEventHandler({ onAdd: (o, initial) => late.push([o.metadata.name, initial]) });
    expect(late).toEqual([['n1', true], ['n2', true]]);
    // Live events after the watch started.
    store.watches[0]!.onEvent({ type: 'MODIFIED', object: obj('n1', 3, { spec: { address: 'y' } }) });
    store.watches[0]!.onEvent({ type: 'DELETED', object: obj('n2', 4) });
    expect(inf.get('n1')!.spec).toEqual({ address: 'y' });
    expect(inf.get('n2')).toBeUndefined();
    expect(inf.lastSyncResourceVersion()).toBe('4');
    await inf.stop();
  });
});
