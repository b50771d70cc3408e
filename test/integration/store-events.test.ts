// EventRecorder: Kubernetes-shaped, deduplicated, bounded events in the store's database.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder } from '../../controller/events/recorder.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { gs, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';

describe('EventRecorder', () => {
  let env: TmpStore;
  let events: EventRecorder;
  let clock: Date;
  beforeEach(async () => {
    env = await openTmpStore();
    clock = new Date('2025-01-01T10:00:00.000Z');
    events = await EventRecorder.open({ db: env.store.db, now: () => clock, maxEvents: 20 });
  });
  afterEach(() => env.cleanup());

  it('records a core/v1 Event and dedupes repeats into count + first/last timestamp', async () => {
    const obj = await env.store.create(gs('alpha'));
    const involved = { kind: 'GameServer', namespace: 'default', name: 'alpha', uid: obj.metadata.uid };
    const e1 = await events.record(involved, 'Warning', 'Crashed', 'exit code 3');
    expect(e1).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'default', creationTimestamp: '2025-01-01T10:00:00Z' },
      involvedObject: involved,
      reason: 'Crashed',
      message: 'exit code 3',
      type: 'Warning',
      count: 1,
      firstTimestamp: '2025-01-01T10:00:00Z',
      lastTimestamp: '2025-01-01T10:00:00Z',
      source: { component: 'gantry-controller' },
    });
    expect(e1.metadata.name).toMatch(/^alpha\.[0-9a-f]+$/);
    expect(e1.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);

    clock = new Date('2025-01-01T10:05:00.000Z');
    const e2 = await events.record(involved, 'Warning', 'Crashed', 'exit code 3');
    expect(e2.metadata.name).toBe(e1.metadata.name);
    expect(e2.count).toBe(2);
    expect(e2.firstTimestamp).toBe('2025-01-01T10:00:00Z');
    expect(e2.lastTimestamp).toBe('2025-01-01T10:05:00Z');

    // A different message, type or object is a different event.
    await events.record(involved, 'Warning', 'Crashed', 'exit code 4');
    await events.record(involved, 'Normal', 'Crashed', 'exit code 3');
    await events.record({ ...involved, uid: undefined }, 'Warning', 'Crashed', 'exit code 3');
    expect(await events.list()).toHaveLength(4);
  });

  it('lists newest first (a repeat moves an event to the front), filtered by namespace, kind, name, limit', async () => {
    await events.record({ kind: 'GameServer', namespace: 'a', name: 'one' }, 'Normal', 'Started', 'up');
    await events.record({ kind: 'GameServer', namespace: 'b', name: 'two' }, 'Normal', 'Started', 'up');
    await events.record({ kind: 'GameNode', name: 'node-1' }, 'Warning', 'NodeOffline', 'no heartbeat');
    await events.record({ kind: 'GameServer', namespace: 'a', name: 'one' }, 'Normal', 'Started', 'up');
    const all = await events.list();
    expect(all.map((e) => e.involvedObject.name)).toEqual(['one', 'node-1', 'two']);
    expect((await events.list({ namespace: 'a' })).map((e) => e.involvedObject.name)).toEqual(['one']);
    // Events of cluster-scoped objects live in "default", as in Kubernetes; the object has no namespace.
    const nodeEvents = await events.list({ namespace: 'default', kind: 'GameNode' });
    expect(nodeEvents).toHaveLength(1);
    expect(nodeEvents[0]!.involvedObject.namespace).toBeUndefined();
    expect((await events.list({ kind: 'GameServer', name: 'two' })).map((e) => e.metadata.namespace)).toEqual(['b']);
    expect(await events.list({ limit: 2 })).toHaveLength(2);
    await expect(events.list({ limit: 0 })).rejects.toSatisfy((e) => isStoreError(e, 'BadRequest'));
  });

  it('keeps at most about maxEvents, dropping the least recently seen', async () => {
    await events.record({ kind: 'GameServer', namespace: 'a', name: 'keep' }, 'Normal', 'Keep', 'first');
    for (let i = 0; i < 60; i++) {
      await events.record({ kind: 'GameServer', namespace: 'a', name: `s${i}` }, 'Normal', 'Tick', `n ${i}`);
      // Seen again and again: stays.
      if (i % 5 === 0) await events.record({ kind: 'GameServer', namespace: 'a', name: 'keep' }, 'Normal', 'Keep', 'first');
    }
    const all = await events.list();
    expect(all.length).toBeLessThanOrEqual(20 + 2);
    expect(all.length).toBeGreaterThanOrEqual(20);
    expect(all.some((e) => e.involvedObject.name === 'keep')).toBe(true);
    expect(all.some((e) => e.involvedObject.name === 's0')).toBe(false);
    expect(all[0]!.involvedObject.name).toBe('s59');
  });

  it('refuses malformed input with BadRequest and truncates long messages', async () => {
    await expect(events.record({ kind: '', name: 'x' }, 'Normal', 'R', 'm')).rejects.toSatisfy((e) => isStoreError(e, 'BadRequest'));
    await expect(events.record({ kind: 'K', name: 'x' }, 'Info' as 'Normal', 'R', 'm')).rejects.toSatisfy((e) => isStoreError(e, 'BadRequest'));
    await expect(events.record({ kind: 'K', name: 'x' }, 'Normal', '', 'm')).rejects.toSatisfy((e) => isStoreError(e, 'BadRequest'));
    const long = await events.record({ kind: 'K', name: 'x' }, 'Normal', 'R', 'y'.repeat(5000));
    expect(long.message.length).toBe(1024);
  });

  it('survives a reopen and shares the file with the store', async () => {
    await events.record({ kind: 'GameServer', namespace: 'a', name: 'one' }, 'Normal', 'Started', 'up');
    const store = await env.reopen();
    const again = await EventRecorder.open({ db: store.db, now: () => clock });
    const e = await again.record({ kind: 'GameServer', namespace: 'a', name: 'one' }, 'Normal', 'Started', 'up');
    expect(e.count).toBe(2);
    expect(await again.list()).toHaveLength(1);
  });
});
