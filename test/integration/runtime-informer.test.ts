// Informers against a real SqliteStore: the initial list and live watch events, indexers, relist after
// the store cut a slow watcher off (ERROR 410) with history too short to resume (catches up adds,
// updates, deletes and a re-created object), a watch that went silent, and periodic resync.
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import type { GameServer } from '../../crds/types.ts';
import { createLogger } from '../../lib/log.ts';
import type { ResourceStore, WatchEvent } from '../../controller/store/types.ts';
import { Informer, keyOf, type KubeObject } from '../../controller/runtime/informer.ts';
import { MetricsRegistry, runtimeMetrics } from '../../controller/runtime/metrics.ts';
import { captureLogs, openTestEnv, type TestEnv } from '../helpers/env.ts';
import { waitFor } from '../helpers/wait.ts';

const quiet = createLogger({ test: true }, 'error');
const API = 'gantry.dev/v1alpha1';


const server = (name: string, spec: Record<string, unknown> = {}): Resource => ({
  apiVersion: API,
  kind: 'GameServer',
  metadata: { name, namespace: 'default' },
  spec: { templateRef: 'testgame', ...spec },
});
const gameNode = (name: string): Resource => ({ apiVersion: API, kind: 'GameNode', metadata: { name }, spec: { address: `${name}.local` } });

/**
 * The real store behind a Proxy whose watches can be held back: while `pause()`d, each watch callback
 * returns a promise that settles on `resume()`, so the store's per-watcher queue backs up exactly as
 * it would for a slow consumer; `dropCurrent()` silently swallows everything the watches opened so
 * far deliver (a connection that died without a word).
 */
function controllableStore(store: ResourceStore) {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let opened = 0;
  let dropUpTo = 0;
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'watch') {
        return (opts: Parameters<ResourceStore['watch']>[0], onEvent: (ev: WatchEvent) => void) => {
          const id = ++opened;
          return target.watch(opts, (ev) => {
            if (id <= dropUpTo) return;
            if (gate) return gate.then(() => onEvent(ev));
            onEvent(ev);
          });
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store: proxy,
    pause() {
      gate = new Promise((r) => (open = r));
    },
    resume() {
      gate = undefined;
      open?.();
    },
    dropCurrent() {
      dropUpTo = opened;
    },
    watchesOpened: () => opened,
  };
}

function record<T extends KubeObject>(inf: Informer<T>, opts: { resync?: boolean } = {}) {
  const events: string[] = [];
  const raw: { type: string; old?: T; obj: T; flag?: boolean }[] = [];
  inf.addEventHandler(
    {
      onAdd: (o, initial) => {
        events.push(`add ${keyOf(o)}${initial ? ' (initial)' : ''}`);
        raw.push({ type: 'add', obj: o, flag: initial });
      },
      onUpdate: (a, b) => {
        events.push(`update ${keyOf(b)}`);
        raw.push({ type: 'update', old: a, obj: b });
      },
      onDelete: (o, unknown) => {
        events.push(`delete ${keyOf(o)}${unknown ? ' (relist)' : ''}`);
        raw.push({ type: 'delete', obj: o, flag: unknown });
      },
    },
    opts,
  );
  return { events, raw };
}

describe('Informer against SqliteStore', () => {
  let env: TestEnv | undefined;
  const informers: Informer<never>[] = [];
  const track = <T extends KubeObject>(i: Informer<T>) => {
    informers.push(i as unknown as Informer<never>);
    return i;
  };
  afterEach(async () => {
    for (const i of informers.splice(0)) await i.stop();
    await env?.close();
    env = undefined;
  });

  it('lists, then follows watch events; indexers follow the objects', async () => {
    env = await openTestEnv();
    const { store } = env;
    await store.create(server('a', { nodeName: 'n1' }));
    await store.create(server('b', { nodeName: 'n2' }));

    const inf = track(
      new Informer<GameServer>({ store, kind: 'GameServer', log: quiet, indexers: { nodeName: (gs) => gs.spec?.nodeName } }),
    );
    const rec = record(inf);
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.hasSynced()).toBe(true);
    expect(rec.events.sort()).toEqual(['add default/a (initial)', 'add default/b (initial)']);
    expect(inf.indexKeys('nodeName', 'n1')).toEqual(['default/a']);

    await store.create(server('c', { nodeName: 'n1' }));
    const before = inf.get('default/a')!;
    await store.patch('GameServer', 'default', 'a', { spec: { nodeName: 'n2', displayName: 'Alpha' } });
    await store.delete('GameServer', 'default', 'b');
    await waitFor(() => rec.events.length === 5, 'three live events');

    expect(rec.events.slice(2)).toEqual(['add default/c', 'update default/a', 'delete default/b']);
    const upd = rec.raw[3]!;
    expect(upd.old).toBe(before);
    expect(upd.obj.spec?.displayName).toBe('Alpha');
    expect(rec.raw[4]!.flag).toBe(false);
    expect(inf.keys().sort()).toEqual(['default/a', 'default/c']);
    expect(inf.getByName('default', 'a')!.spec?.nodeName).toBe('n2');
    expect(inf.indexKeys('nodeName', 'n1')).toEqual(['default/c']);
    expect(inf.byIndex('nodeName', 'n2').map(keyOf)).toEqual(['default/a']);
    expect(inf.indexedValues('nodeName').sort()).toEqual(['n1', 'n2']);
    expect(inf.lastSyncResourceVersion()).toBe(await store.currentResourceVersion());
  });

  it('after the store cuts off a slow watch (ERROR 410) and history is gone, a relist catches up adds, updates and deletes', async () => {
    env = await openTestEnv({ historyLimit: 5, maxWatchBacklog: 3 });
    const ctl = controllableStore(env.store);
    const { store } = env;
    for (const n of ['a', 'b', 'c', 'd']) await store.create(server(n));
    const registry = new MetricsRegistry();
    const inf = track(new Informer({ store: ctl.store, kind: 'GameServer', log: quiet, metrics: runtimeMetrics(registry) }));
    const rec = record(inf);
    inf.start();
    await inf.waitForSync();
    const oldUidD = inf.get('default/d')!.metadata.uid;
    rec.events.length = 0;
    rec.raw.length = 0;

    const logs = captureLogs();
    ctl.pause();
    await store.create(server('e'));                                                 // add
    await store.patch('GameServer', 'default', 'b', { spec: { displayName: 'B2' } }); // update
    await store.delete('GameServer', 'default', 'c');                                // delete
    await store.delete('GameServer', 'default', 'd');                                // delete + create again:
    await store.create(server('d', { displayName: 'new d' }));                       // another uid
    await store.patch('GameServer', 'default', 'a', { spec: { displayName: 'A2' } });
    // Writes to another kind push the history window past everything the watch saw.
    for (let i = 0; i < 8; i++) await store.create(gameNode(`filler-${i}`));
    await expect(store.watch({ kind: 'GameServer', resourceVersion: inf.lastSyncResourceVersion() }, () => {})).rejects.toMatchObject({ reason: 'Gone' });
    ctl.resume();
    logs.restore();
    // The real store cut the backed-up watcher off (it then gets an ERROR event with a 410 Status).
    expect(logs.lines().some((l) => l.msg === 'watcher fell behind; closing it with an ERROR event')).toBe(true);

    const want = (await store.list('GameServer')).items;
    const same = () =>
      inf.size === want.length && want.every((o) => inf.get(keyOf(o))?.metadata.resourceVersion === o.metadata.resourceVersion);
    await waitFor(same, 'the cache to match the store');

    expect(inf.keys().sort()).toEqual(['default/a', 'default/b', 'default/d', 'default/e']);
    expect(inf.get('default/b')!.spec?.displayName).toBe('B2');
    expect(inf.get('default/a')!.spec?.displayName).toBe('A2');
    expect(inf.get('default/d')!.metadata.uid).not.toBe(oldUidD);
    // The first event (held by the gate) came through the old watch; the rest only by the relist.
    expect(rec.events).toContain('add default/e');
    expect(rec.events).toContain('update default/b');
    expect(rec.events).toContain('update default/a');
    expect(rec.events).toContain('delete default/c (relist)');
    // d was deleted and created again: the old object is deleted, then the new one added.
    const dEvents = rec.events.filter((e) => e.includes('default/d'));
    expect(dEvents).toEqual(['delete default/d (relist)', 'add default/d']);
    expect(rec.raw.find((r) => r.type === 'delete' && keyOf(r.obj) === 'default/d')!.obj.metadata.uid).toBe(oldUidD);
    expect(registry.render()).toMatch(/gantry_informer_relists_total\{kind="GameServer"\} [1-9]/);
    expect(ctl.watchesOpened()).toBeGreaterThanOrEqual(2);

    // And the new watch is live.
    await store.create(server('f'));
    await waitFor(() => inf.get('default/f') !== undefined, 'the new watch to deliver');
  });

  it('a watch that goes silent (no events, no bookmarks) is taken for dropped: it relists and catches up', async () => {
    env = await openTestEnv();
    const ctl = controllableStore(env.store);
    const { store } = env;
    await store.create(server('a'));
    const inf = track(new Informer({ store: ctl.store, kind: 'GameServer', log: quiet, bookmarkIntervalMs: 20 }));
    const rec = record(inf);
    inf.start();
    await inf.waitForSync();
    ctl.dropCurrent();
    await store.create(server('b'));
    await store.delete('GameServer', 'default', 'a');
    await waitFor(() => inf.get('default/b') !== undefined && inf.get('default/a') === undefined, 'the relist after silence');
    expect(rec.events).toEqual(['add default/a (initial)', 'add default/b', 'delete default/a (relist)']);
    expect(ctl.watchesOpened()).toBeGreaterThanOrEqual(2);
  });

  it('periodic resync re-delivers cached objects as updates to handlers that asked for it', async () => {
    env = await openTestEnv();
    const { store } = env;
    await store.create(server('a'));
    await store.create(server('b'));
    const inf = track(new Informer({ store, kind: 'GameServer', log: quiet, resyncPeriodMs: 10 }));
    const withResync = record(inf, { resync: true });
    const without = record(inf);
    inf.start();
    await inf.waitForSync();
    await waitFor(() => withResync.raw.filter((r) => r.type === 'update').length >= 4, 'two resyncs');
    const resyncs = withResync.raw.filter((r) => r.type === 'update');
    for (const r of resyncs) expect(r.old).toBe(r.obj); // same object: nothing changed
    expect(without.events).toEqual(withResync.events.slice(0, 2));
    expect(without.raw.some((r) => r.type === 'update')).toBe(false);
  });

  it('stop() ends the watch and leaves no timer behind', async () => {
    env = await openTestEnv();
    const { store } = env;
    await store.create(server('a'));
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const inf = new Informer({ store, kind: 'GameServer', log: quiet, resyncPeriodMs: 60_000, bookmarkIntervalMs: 60_000 });
    inf.start();
    await inf.waitForSync();
    expect(timers()).toBeGreaterThan(before); // resync + watchdog
    await inf.stop();
    expect(timers()).toBeLessThanOrEqual(before);
    // Nothing is delivered after stop.
    const seen: string[] = [];
    inf.addEventHandler({ onAdd: (o) => seen.push(keyOf(o)) });
    seen.length = 0;
    await store.create(server('late'));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([]);
    expect(inf.get('default/late')).toBeUndefined();
  });
});
