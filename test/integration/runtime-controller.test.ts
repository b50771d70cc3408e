// Controllers and the Manager against a real SqliteStore: reconcile of every listed object after sync,
// errors retried with growing backoff, requeue and requeueAfter, secondary kinds mapped to primary keys,
// rapid updates coalescing into few reconciles that end on the final state, external enqueue, metrics,
// and a stop() that drains in-flight reconciles and leaves no timer behind.
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { createLogger } from '../../lib/log.ts';
import { generationChanged, Manager, ownerKeys, type ReconcileContext, type ReconcileResult } from '../../controller/runtime/controller.ts';
import { ExponentialBackoff } from '../../controller/runtime/workqueue.ts';
import { captureLogs, openTestEnv, type TestEnv } from '../helpers/env.ts';
import { waitFor } from '../helpers/wait.ts';

const quiet = createLogger({ test: true }, 'error');
const API = 'gantry.dev/v1alpha1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = (name: string, spec: Record<string, unknown> = {}): Resource => ({
  apiVersion: API,
  kind: 'GameServer',
  metadata: { name, namespace: 'default' },
  spec: { templateRef: 'testgame', ...spec },
});
const gameNode = (name: string): Resource => ({ apiVersion: API, kind: 'GameNode', metadata: { name }, spec: { address: `${name}.local` } });

describe('Controller + Manager against SqliteStore', () => {
  let env: TestEnv | undefined;
  let mgr: Manager | undefined;
  afterEach(async () => {
    await mgr?.stop();
    mgr = undefined;
    await env?.close();
    env = undefined;
  });

  async function setup(storeOpts = {}) {
    env = await openTestEnv(storeOpts);
    mgr = new Manager({ store: env.store, log: quiet, resyncPeriodMs: 0 });
    return { store: env.store, mgr };
  }

  it('reconciles every listed object after the caches sync, then each change; external enqueue works', async () => {
    const { store, mgr } = await setup();
    await store.create(server('a'));
    await store.create(server('b'));
    const seen: string[] = [];
    let syncedWhenFirstRan: boolean | undefined;
    const c = mgr.addController<GameServer>({
      name: 'gameserver',
      kind: 'GameServer',
      reconcile: async (key, ctx) => {
        syncedWhenFirstRan ??= mgr.hasSynced();
        seen.push(`${key}|${ctx.namespace}|${ctx.name}`);
        return {};
      },
    });
    await mgr.start();
    await waitFor(() => seen.length === 2 && c.isIdle(), 'the initial reconciles');
    expect(syncedWhenFirstRan).toBe(true);
    expect(seen.sort()).toEqual(['default/a|default|a', 'default/b|default|b']);

    await store.delete('GameServer', 'default', 'a');
    await waitFor(() => seen.length === 3, 'a reconcile for the delete');
    expect(seen[2]).toBe('default/a|default|a');
    expect(c.informer.get('default/a')).toBeUndefined(); // the reconciler finds it gone

    expect(mgr.enqueue('gameserver', 'default/ghost')).toBe(true);
    expect(mgr.enqueue('no-such-controller', 'x')).toBe(false);
    await waitFor(() => seen.length === 4, 'the external enqueue');
    expect(seen[3]).toBe('default/ghost|default|ghost');
    expect(mgr.controller('gameserver')).toBe(c);
  });

  it('a reconcile that throws is logged and retried with growing backoff until it succeeds, then forgotten', async () => {
    const { store, mgr } = await setup();
    await store.create(server('flaky'));
    const retries: number[] = [];
    const c = mgr.addController({
      name: 'flaky',
      kind: 'GameServer',
      rateLimiter: new ExponentialBackoff(5, 1000),
      reconcile: async (_key, ctx) => {
        retries.push(ctx.retries);
        if (retries.length <= 3) throw new Error(`attempt ${retries.length} failed`);
        return {};
      },
    });
    const logs = captureLogs();
    try {
      await mgr.start();
      await waitFor(() => retries.length === 4 && c.isIdle(), 'the fourth attempt');
    } finally {
      logs.restore();
    }
    expect(retries).toEqual([0, 1, 2, 3]);
    expect(c.queue.numRequeues('default/flaky')).toBe(0); // forgotten after success
    const failures = logs.lines().filter((l) => l.msg === 'reconcile failed; retrying with backoff');
    expect(failures.map((l) => l.retries)).toEqual([0, 1, 2]);
    expect(failures[0]).toMatchObject({ controller: 'flaky', key: 'default/flaky', err: { message: 'attempt 1 failed' } });
    const text = mgr.metrics.render();
    expect(text).toContain('gantry_reconcile_total{controller="flaky",result="error"} 3\n');
    expect(text).toContain('gantry_reconcile_total{controller="flaky",result="success"} 1\n');
    expect(text).toContain('gantry_reconcile_errors_total{controller="flaky"} 3\n');
    expect(text).toContain('gantry_workqueue_retries_total{name="flaky"} 3\n');
    expect(text).toContain('gantry_reconcile_duration_seconds_count{controller="flaky"} 4\n');
    expect(text).toContain('gantry_workqueue_depth{name="flaky"} 0\n');
  });

  it('requeueAfterMs reconciles again after the delay with no change to the object; requeue: true retries with backoff', async () => {
    const { store, mgr } = await setup();
    await store.create(server('timer'));
    await store.create(server('again'));
    const calls = new Map<string, ReconcileContext[]>();
    const c = mgr.addController({
      name: 'requeue',
      kind: 'GameServer',
      rateLimiter: new ExponentialBackoff(5, 1000),
      reconcile: async (key, ctx): Promise<ReconcileResult> => {
        const list = calls.get(key) ?? [];
        list.push(ctx);
        calls.set(key, list);
        if (key === 'default/timer' && list.length < 3) return { requeueAfterMs: 15 };
        if (key === 'default/again' && list.length < 3) return { requeue: true };
        return {};
      },
    });
    await mgr.start();
    await waitFor(() => calls.get('default/timer')?.length === 3 && calls.get('default/again')?.length === 3 && c.isIdle(), 'the requeues');
    // requeueAfter forgets the backoff; requeue counts it.
    expect(calls.get('default/timer')!.map((x) => x.retries)).toEqual([0, 0, 0]);
    expect(calls.get('default/again')!.map((x) => x.retries)).toEqual([0, 1, 2]);
    expect(mgr.metrics.render()).toContain('gantry_reconcile_total{controller="requeue",result="requeue"} 4\n');
  });

  it('a change of a secondary kind enqueues exactly the primary keys its mapping names', async () => {
    const { store, mgr } = await setup();
    await store.create(gameNode('n1'));
    await store.create(gameNode('n2'));
    await store.create(server('s1', { nodeName: 'n1' }));
    await store.create(server('s2', { nodeName: 'n1' }));
    await store.create(server('s3', { nodeName: 'n2' }));
    const reconciled: string[] = [];
    const mapped: string[] = [];
    const servers = mgr.informer<GameServer>('GameServer', { byNode: (gs) => gs.spec?.nodeName });
    const c = mgr.addController<GameServer>({
      name: 'gs-nodes',
      kind: 'GameServer',
      watches: [
        {
          kind: 'GameNode',
          map: (node: GameNode) => {
            mapped.push(node.metadata.name);
            return servers.indexKeys('byNode', node.metadata.name);
          },
        },
      ],
      reconcile: async (key) => {
        reconciled.push(key);
        return {};
      },
    });
    await mgr.start();
    await waitFor(() => reconciled.length >= 3 && c.isIdle(), 'the initial reconciles');
    reconciled.length = 0;
    mapped.length = 0;

    await store.patch('GameNode', undefined, 'n1', { spec: { unschedulable: true } });
    // A later event in the same watch stream: once it is mapped, the n1 change has been handled.
    await store.create(gameNode('n3'));
    await waitFor(() => mapped.includes('n3'), 'the GameNode events');
    await waitFor(() => c.isIdle(), 'the queue to drain');
    expect(mapped.filter((n) => n === 'n1').length).toBeGreaterThanOrEqual(1);
    expect(reconciled.sort()).toEqual(['default/s1', 'default/s2']);
  });

  it('an update filter drops secondary updates it rejects (status-only writes), but not spec changes', async () => {
    const { store, mgr } = await setup();
    await store.create(gameNode('n1'));
    await store.create(server('s1', { nodeName: 'n1' }));
    const reconciled: string[] = [];
    const mapped: string[] = [];
    const c = mgr.addController<GameServer>({
      name: 'gs-filtered',
      kind: 'GameServer',
      watches: [{ kind: 'GameNode', map: (n: GameNode) => (mapped.push(n.metadata.name), ['default/s1']), updateFilter: generationChanged }],
      reconcile: async (key) => {
        reconciled.push(key);
        return {};
      },
    });
    await mgr.start();
    await waitFor(() => reconciled.length >= 1 && c.isIdle(), 'the initial reconcile');
    reconciled.length = 0;
    mapped.length = 0;

    await store.patchStatus('GameNode', undefined, 'n1', { phase: 'Online' });
    await store.create(gameNode('n2')); // a later event: once it is mapped, the status write was seen
    await waitFor(() => mapped.includes('n2'), 'the GameNode events');
    expect(mapped).toEqual(['n2']);

    await store.patch('GameNode', undefined, 'n1', { spec: { unschedulable: true } });
    await waitFor(() => mapped.includes('n1'), 'the spec change to be mapped');
  });

  it('an own-kind update filter keeps a failing reconcile\'s status write from skipping its backoff; a spec change still reconciles at once', async () => {
    const { store, mgr } = await setup();
    await store.create(server('failing'));
    const attempts: number[] = [];
    const c = mgr.addController({
      name: 'failing',
      kind: 'GameServer',
      // The first retry waits a minute: only an event can bring the key back sooner.
      rateLimiter: new ExponentialBackoff(60_000, 60_000),
      ownUpdateFilter: generationChanged,
      reconcile: async (key, ctx) => {
        attempts.push(ctx.retries);
        const [ns, name] = key.split('/');
        await store.patchStatus('GameServer', ns, name!, { message: `attempt ${attempts.length} failed` });
        throw new Error(`attempt ${attempts.length} failed`);
      },
    });
    const logs = captureLogs();
    try {
      await mgr.start();
      await waitFor(() => attempts.length === 1 && c.queue.delayedCount() === 1, 'the first failure, waiting out its backoff');
      // The status write's watch event has been delivered (the informer holds the new status) and dropped.
      await waitFor(() => (c.informer.get('default/failing') as GameServer | undefined)?.status?.message === 'attempt 1 failed', 'the status event');
      await sleep(100);
      expect(attempts).toEqual([0]);
      await store.patch('GameServer', 'default', 'failing', { spec: { displayName: 'changed' } });
      await waitFor(() => attempts.length === 2, 'the spec change to reconcile at once');
      expect(attempts).toEqual([0, 1]);
    } finally {
      logs.restore();
    }
  });

  it('ownerKeys maps an object to its owners of a kind', () => {
    const map = ownerKeys('GameServer');
    const obj = {
      metadata: {
        name: 'b1',
        namespace: 'team',
        ownerReferences: [
          { apiVersion: API, kind: 'GameServer', name: 'mc', uid: 'u1' },
          { apiVersion: API, kind: 'Schedule', name: 'nightly', uid: 'u2' },
        ],
      },
    };
    expect(map(obj)).toEqual(['team/mc']);
  });

  it('many rapid updates of one object coalesce into few reconciles, never concurrent, the last seeing the final state', async () => {
    const { store, mgr } = await setup();
    await store.create(server('busy', { displayName: 'v0' }));
    const seen: string[] = [];
    let active = 0;
    let overlaps = 0;
    const c = mgr.addController<GameServer>({
      name: 'coalesce',
      kind: 'GameServer',
      workers: 4,
      reconcile: async (key) => {
        if (active++ > 0) overlaps++;
        const obj = c.informer.get(key);
        seen.push(obj?.spec?.displayName ?? '');
        await sleep(10); // a reconcile takes a while: events pile up meanwhile
        active--;
        return {};
      },
    });
    await mgr.start();
    await waitFor(() => seen.length === 1 && c.isIdle(), 'the initial reconcile');
    seen.length = 0;

    const updates = 40;
    for (let i = 1; i <= updates; i++) await store.patch('GameServer', 'default', 'busy', { spec: { displayName: `v${i}` } });
    await waitFor(() => seen[seen.length - 1] === `v${updates}` && c.isIdle(), 'a reconcile of the final state');
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(updates);
    expect(overlaps).toBe(0);
    // Every reconcile saw a state at least as new as the one before it.
    const versions = seen.map((s) => Number(s.slice(1)));
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
  });

  it('stop() waits for in-flight reconciles, drops pending and delayed work, and leaves no timer behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    env = await openTestEnv();
    const { store } = env;
    await store.create(server('slow'));
    await store.create(server('later'));
    await store.create(server('failing'));
    const before = timers();
    const m = new Manager({ store, log: quiet, resyncPeriodMs: 60_000, bookmarkIntervalMs: 60_000 });
    mgr = m;
    let release!: () => void;
    const slowGate = new Promise<void>((r) => (release = r));
    let slowStarted = false;
    let slowFinished = false;
    let failingCalls = 0;
    const c = m.addController({
      name: 'stopper',
      kind: 'GameServer',
      workers: 3,
      rateLimiter: new ExponentialBackoff(60_000, 120_000),
      reconcile: async (key) => {
        if (key === 'default/slow') {
          slowStarted = true;
          await slowGate;
          slowFinished = true;
          return {};
        }
        if (key === 'default/later') return { requeueAfterMs: 60_000 };
        failingCalls++;
        throw new Error('always');
      },
    });
    m.addController({ name: 'other', kind: 'GameNode', reconcile: async () => ({}) });
    const logs = captureLogs();
    try {
      await m.start();
      await waitFor(() => slowStarted && failingCalls === 1 && c.queue.delayedCount() === 2, 'the delayed keys and the slow reconcile');
    } finally {
      logs.restore();
    }
    expect(timers()).toBeGreaterThan(before);

    let stopped = false;
    const stopping = m.stop().then(() => (stopped = true));
    await sleep(20);
    expect(stopped).toBe(false); // 'slow' is still reconciling
    release();
    await stopping;
    expect(slowFinished).toBe(true);
    expect(c.queue.delayedCount()).toBe(0);
    expect(c.queue.isShuttingDown).toBe(true);
    expect(timers()).toBeLessThanOrEqual(before);
    // Enqueues after stop are ignored.
    c.enqueue('default/slow');
    expect(c.queue.len()).toBe(0);
    await m.stop(); // twice is fine
  });
});
