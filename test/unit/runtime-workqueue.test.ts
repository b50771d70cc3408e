// The work queue: dedupe, one key never processed concurrently with itself, per-key exponential
// backoff with a cap, forget, addAfter ordering on one timer, and shutdown draining in-flight keys.
// Time is a hand-driven clock, so nothing here depends on how fast the machine is.
import { describe, expect, it } from 'vitest';
import { ExponentialBackoff, WorkQueue } from '../../controller/runtime/workqueue.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

/** Takes every ready key (marking them in flight) and marks them done. */
async function drainOrder(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('deduplicates: a key queued twice is handed out once, in FIFO order', async () => {
    const adds: number[] = [];
    const q = new WorkQueue({ clock: new FakeClock(), metrics: { depth: () => {}, added: () => adds.push(1), retried: () => {} } });
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    expect(q.len()).toBe(3);
    expect(adds.length).toBe(3);
    expect(await drainOrder(q)).toEqual(['a', 'b', 'c']);
    expect(q.isIdle()).toBe(true);
  });

  it('a key added while it is processed is not handed out again until done(), then exactly once', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // remembered, not ready: a second worker cannot take it
    q.add('b');
    expect(await q.get()).toBe('b');
    q.done('b');
    q.done('a');
    expect(q.len()).toBe(1);
    expect(await drainOrder(q)).toEqual(['a']);
    expect(q.isIdle()).toBe(true);
  });

  it('never processes one key concurrently with itself, with many workers and re-adds during processing', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let overlaps = 0;
    const processed: string[] = [];
    const readdsLeft = new Map([['a', 5], ['b', 3]]);
    const running = q.run(4, async (key) => {
      if (active.has(key)) overlaps++;
      active.add(key);
      processed.push(key);
      await tick();
      // Re-added while in flight: must run again afterwards, never alongside.
      const left = readdsLeft.get(key) ?? 0;
      if (left > 0) {
        readdsLeft.set(key, left - 1);
        q.add(key);
        q.add(key);
      }
      await tick();
      active.delete(key);
    });
    for (const k of ['a', 'b', 'c', 'a', 'b', 'd']) q.add(k);
    while (!q.isIdle()) await tick();
    await q.shutdown();
    await running;
    expect(overlaps).toBe(0);
    expect(processed.filter((k) => k === 'a').length).toBe(6);
    expect(processed.filter((k) => k === 'b').length).toBe(4);
    expect(processed.filter((k) => k === 'c').length).toBe(1);
    expect(processed.filter((k) => k === 'd').length).toBe(1);
  });

  it('backoff doubles per failure up to the cap and starts over after forget', () => {
    const b = new ExponentialBackoff(5, 100);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => b.when('k'))).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(b.numRequeues('k')).toBe(7);
    expect(b.when('other')).toBe(5); // per key
    b.forget('k');
    expect(b.numRequeues('k')).toBe(0);
    expect(b.when('k')).toBe(5);
    // No overflow after very many failures.
    for (let i = 0; i < 5000; i++) b.when('many');
    expect(b.when('many')).toBe(100);
    // Defaults: 5 ms doubling to 5 minutes.
    const d = new ExponentialBackoff();
    let last = 0;
    for (let i = 0; i < 40; i++) last = d.when('x');
    expect(d.baseDelayMs).toBe(5);
    expect(last).toBe(5 * 60_000);
  });

  it('addRateLimited waits the key’s backoff on the clock; forget resets it', async () => {
    const clock = new FakeClock();
    let retries = 0;
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff(5, 40), metrics: { depth: () => {}, added: () => {}, retried: () => retries++ } });
    const waitFor = (ms: number) => {
      // Ready exactly when its delay has passed, not a moment before.
      clock.advance(ms - 1);
      expect(q.len()).toBe(0);
      clock.advance(1);
      expect(q.len()).toBe(1);
    };
    const fail = async () => {
      q.addRateLimited('k');
      expect(q.delayedCount()).toBe(1);
    };
    await fail();
    waitFor(5);
    expect(await drainOrder(q)).toEqual(['k']);
    await fail();
    waitFor(10);
    await drainOrder(q);
    await fail();
    waitFor(20);
    await drainOrder(q);
    await fail();
    waitFor(40);
    await drainOrder(q);
    await fail();
    waitFor(40); // capped
    await drainOrder(q);
    expect(q.numRequeues('k')).toBe(5);
    expect(retries).toBe(5);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    await fail();
    waitFor(5);
  });

  it('addAfter releases keys in deadline order on a single timer; the earlier deadline of a key wins', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('c', 30);
    q.addAfter('a', 10);
    q.addAfter('b', 20);
    q.addAfter('d', 10);
    q.addAfter('x', 100);
    q.addAfter('x', 15); // earlier: moves x forward
    q.addAfter('a', 50); // later: ignored, a stays at 10
    expect(clock.pending).toBe(1);
    expect(q.delayedCount()).toBe(5);
    const order: string[] = [];
    for (const step of [10, 5, 5, 10, 100]) {
      clock.advance(step);
      order.push(...(await drainOrder(q)));
    }
    expect(order).toEqual(['a', 'd', 'x', 'b', 'c']);
    expect(clock.pending).toBe(0);
    expect(q.isIdle()).toBe(true);
    // ms <= 0 adds at once.
    q.addAfter('now', 0);
    expect(q.len()).toBe(1);
  });

  it('a delayed key that is already queued is not queued twice', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('k');
    q.addAfter('k', 5);
    clock.advance(5);
    expect(q.len()).toBe(1);
    expect(await drainOrder(q)).toEqual(['k']);
  });

  it('shutdown waits for in-flight keys, drops queued and delayed ones, and ends the workers', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const gate = deferred();
    const started: string[] = [];
    const finished: string[] = [];
    const running = q.run(1, async (key) => {
      started.push(key);
      await gate.promise;
      finished.push(key);
    });
    q.add('a');
    q.add('b');
    q.addAfter('later', 1000);
    while (started.length === 0) await tick();
    expect(q.processingCount()).toBe(1);

    let drained = false;
    const shut = q.shutdown().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false); // 'a' is still in flight
    expect(clock.pending).toBe(0); // the delayed key's timer is gone
    q.add('c'); // ignored while shutting down
    expect(q.len()).toBe(0);

    gate.resolve();
    await shut;
    await running;
    expect(drained).toBe(true);
    expect(started).toEqual(['a']);
    expect(finished).toEqual(['a']);
    expect(await q.get()).toBeUndefined();
    expect(q.isShuttingDown).toBe(true);
    await q.shutdown(); // twice is fine
  });

  it('get() waiting for work returns undefined on shutdown; a handler that throws gets the key retried with backoff', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff(5, 1000) });
    const waiting = q.get();
    await q.shutdown();
    expect(await waiting).toBeUndefined();

    const q2 = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff(5, 1000) });
    let calls = 0;
    const running = q2.run(2, async () => {
      calls++;
      throw new Error('boom');
    });
    q2.add('k');
    while (calls < 1) await tick();
    await tick();
    expect(q2.numRequeues('k')).toBe(1);
    clock.advance(5);
    while (calls < 2) await tick();
    await q2.shutdown();
    await running;
    expect(calls).toBe(2);
  });

  it('reports depth to its metrics hooks', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ clock: new FakeClock(), metrics: { depth: (n) => depths.push(n), added: () => {}, retried: () => {} } });
    q.add('a');
    q.add('b');
    await drainOrder(q);
    expect(depths).toEqual([1, 2, 1, 0]);
  });
});
