// Deletion: finalizers, deletionTimestamp, and owner-reference garbage collection.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OwnerReference, Resource } from '../../crds/resource.ts';
import { StoreError } from '../../controller/store/errors.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import type { WatchEvent } from '../../controller/store/types.ts';
import { API, gs, node, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';

// Every case runs with the body cache (the default) and without it (every read from SQLite).
const CACHE_MODES = [['cached', {}], ['uncached', { cacheSize: 0 }]] as const;

const fail = async (p: Promise<unknown>): Promise<StoreError> => {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  if (!(err instanceof StoreError)) throw new Error(`expected a StoreError, got ${String(err)}`);
  return err;
};
const ref = (o: Resource, extra: Partial<OwnerReference> = {}): OwnerReference => ({
  apiVersion: API,
  kind: o.kind,
  name: o.metadata.name,
  uid: o.metadata.uid!,
  ...extra,
});
const exists = async (store: SqliteStore, kind: string, ns: string | undefined, name: string) =>
  store.get(kind, ns, name).then(
    () => true,
    (e) => (e instanceof StoreError && e.reason === 'NotFound' ? false : Promise.reject(e)),
  );
const settle = () => new Promise((r) => setTimeout(r, 30));

describe.each(CACHE_MODES)('SqliteStore: delete (%s)', (_mode, cacheOpts) => {
  let env: TmpStore;
  let store: SqliteStore;
  let events: WatchEvent[];
  beforeEach(async () => {
    env = await openTmpStore(cacheOpts);
    store = env.store;
    events = [];
    await store.watch({}, (ev) => events.push(ev));
  });
  afterEach(() => env.cleanup());
  const trail = () => events.map((e) => `${e.type} ${e.object.kind}/${e.object.metadata.name}`);

  it('without finalizers the object goes at once and is returned with the deletion resourceVersion', async () => {
    const c = await store.create(gs('a'));
    const d = await store.delete('GameServer', 'default', 'a');
    expect(d.metadata.uid).toBe(c.metadata.uid);
    expect(Number(d.metadata.resourceVersion)).toBe(Number(c.metadata.resourceVersion) + 1);
    expect(await exists(store, 'GameServer', 'default', 'a')).toBe(false);
    expect((await fail(store.delete('GameServer', 'default', 'a'))).reason).toBe('NotFound');
    await settle();
    expect(trail()).toEqual(['ADDED GameServer/a', 'DELETED GameServer/a']);
    expect(events[1]!.object.metadata.resourceVersion).toBe(d.metadata.resourceVersion);
  });

  it('a resourceVersion precondition guards delete', async () => {
    const c = await store.create(gs('a'));
    await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } });
    expect((await fail(store.delete('GameServer', 'default', 'a', { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
    expect(await exists(store, 'GameServer', 'default', 'a')).toBe(true);
  });

  it('finalizers hold the object with a deletionTimestamp set once; removing the last one removes it', async () => {
    await store.create(gs('a', {}, { finalizers: ['gantry.dev/container', 'gantry.dev/data'] }));
    const d1 = await store.delete('GameServer', 'default', 'a');
    expect(d1.metadata.deletionTimestamp).toBeTruthy();
    expect(d1.metadata.generation).toBe(2); // controllers notice deletion through generation too
    const d2 = await store.delete('GameServer', 'default', 'a');
    expect(d2).toEqual(d1); // deleting again changes nothing

    // While deleting: status may change, finalizers may only be removed, nothing else.
    const s = await store.patchStatus('GameServer', 'default', 'a', { phase: 'stopping' });
    expect(s.status).toEqual({ phase: 'stopping' });
    const add = await fail(store.patch('GameServer', 'default', 'a', { metadata: { finalizers: ['gantry.dev/container', 'gantry.dev/data', 'more'] } }));
    expect(add.reason).toBe('Invalid');
    expect(add.causes[0]!.field).toBe('metadata.finalizers');
    expect((await fail(store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } }))).causes[0]!.field).toBe('spec');
    expect((await fail(store.patch('GameServer', 'default', 'a', { metadata: { labels: { x: 'y' } } }))).causes[0]!.field).toBe('metadata.labels');

    const one = await store.patch('GameServer', 'default', 'a', { metadata: { finalizers: ['gantry.dev/data'] } });
    expect(one.metadata.finalizers).toEqual(['gantry.dev/data']);
    expect(one.metadata.deletionTimestamp).toBe(d1.metadata.deletionTimestamp);

    const last = await store.get('GameServer', 'default', 'a');
    const gone = await store.update({ ...last, metadata: { ...last.metadata, finalizers: [] } });
    expect(gone.metadata.finalizers).toBeUndefined();
    expect(await exists(store, 'GameServer', 'default', 'a')).toBe(false);
    await settle();
    // The final removal is a single DELETED, as in Kubernetes (no MODIFIED for the last finalizer).
    expect(trail()).toEqual(['ADDED GameServer/a', 'MODIFIED GameServer/a', 'MODIFIED GameServer/a', 'MODIFIED GameServer/a', 'DELETED GameServer/a']);
  });

  it('background deletion removes dependents recursively, honouring their finalizers', async () => {
    const owner = await store.create(gs('owner'));
    const child = await store.create(gs('child', {}, { ownerReferences: [ref(owner, { controller: true })] }));
    await store.create(gs('grandchild', {}, { ownerReferences: [ref(child)] }));
    await store.create(gs('held', {}, { ownerReferences: [ref(owner)], finalizers: ['gantry.dev/hold'] }));
    await store.create(gs('elsewhere', {}, { namespace: 'other', ownerReferences: [ref(owner)] })); // invalid cross-namespace ref
    await store.create(gs('bystander'));
    await settle();
    events.length = 0;

    await store.delete('GameServer', 'default', 'owner');
    expect(await exists(store, 'GameServer', 'default', 'child')).toBe(false);
    expect(await exists(store, 'GameServer', 'default', 'grandchild')).toBe(false);
    const held = await store.get('GameServer', 'default', 'held');
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    expect(await exists(store, 'GameServer', 'other', 'elsewhere')).toBe(true);
    expect(await exists(store, 'GameServer', 'default', 'bystander')).toBe(true);
    await settle();
    expect(trail()[0]).toBe('DELETED GameServer/owner'); // the owner first, then its dependents
    expect(trail().sort()).toEqual(['DELETED GameServer/child', 'DELETED GameServer/grandchild', 'DELETED GameServer/owner', 'MODIFIED GameServer/held'].sort());

    await store.patch('GameServer', 'default', 'held', { metadata: { finalizers: null } });
    expect(await exists(store, 'GameServer', 'default', 'held')).toBe(false);
  });

  it('a cluster-scoped owner owns dependents in any namespace', async () => {
    const n = await store.create(node('node-1'));
    await store.create(gs('on-node', {}, { namespace: 'team-a', ownerReferences: [ref(n)] }));
    await store.delete('GameNode', undefined, 'node-1');
    expect(await exists(store, 'GameServer', 'team-a', 'on-node')).toBe(false);
  });

  it('a dependent with another live owner only loses the dangling reference', async () => {
    const a = await store.create(gs('a'));
    const b = await store.create(gs('b'));
    await store.create(gs('shared', {}, { ownerReferences: [ref(a), ref(b)] }));
    await store.delete('GameServer', 'default', 'a');
    const shared = await store.get('GameServer', 'default', 'shared');
    expect(shared.metadata.ownerReferences).toEqual([ref(b)]);
    await store.delete('GameServer', 'default', 'b');
    expect(await exists(store, 'GameServer', 'default', 'shared')).toBe(false);
  });

  it('Orphan strips the owner reference instead of deleting', async () => {
    const owner = await store.create(gs('owner'));
    const other = await store.create(gs('other'));
    await store.create(gs('dep', {}, { ownerReferences: [ref(owner), ref(other)] }));
    await store.delete('GameServer', 'default', 'owner', { propagationPolicy: 'Orphan' });
    const dep = await store.get('GameServer', 'default', 'dep');
    expect(dep.metadata.ownerReferences).toEqual([ref(other)]);
    expect(dep.metadata.generation).toBe(1);
  });

  it('Orphan with finalizers is remembered (orphan finalizer) until the others are gone', async () => {
    const owner = await store.create(gs('owner', {}, { finalizers: ['gantry.dev/x'] }));
    await store.create(gs('dep', {}, { ownerReferences: [ref(owner)] }));
    const d = await store.delete('GameServer', 'default', 'owner', { propagationPolicy: 'Orphan' });
    expect(d.metadata.finalizers).toEqual(['gantry.dev/x', 'orphan']);
    await store.patch('GameServer', 'default', 'owner', { metadata: { finalizers: ['orphan'] } });
    expect(await exists(store, 'GameServer', 'default', 'owner')).toBe(false);
    const dep = await store.get('GameServer', 'default', 'dep');
    expect(dep.metadata.ownerReferences).toBeUndefined();
  });

  it('owner reference cycles terminate', async () => {
    const a = await store.create(gs('a'));
    const b = await store.create(gs('b', {}, { ownerReferences: [ref(a)] }));
    await store.patch('GameServer', 'default', 'a', { metadata: { ownerReferences: [ref(b)] } });
    await store.delete('GameServer', 'default', 'a');
    expect(await exists(store, 'GameServer', 'default', 'b')).toBe(false);
  });

  it('changing ownerReferences re-indexes them', async () => {
    const a = await store.create(gs('a'));
    const b = await store.create(gs('b'));
    const dep = await store.create(gs('dep', {}, { ownerReferences: [ref(a)] }));
    await store.update({ ...dep, metadata: { ...dep.metadata, ownerReferences: [ref(b)] } });
    await store.delete('GameServer', 'default', 'a');
    expect(await exists(store, 'GameServer', 'default', 'dep')).toBe(true);
    await store.delete('GameServer', 'default', 'b');
    expect(await exists(store, 'GameServer', 'default', 'dep')).toBe(false);
  });
});
