// The ResourceStore contract: what every store promises its callers (controllers, informers, the API),
// run on SqliteStore and on KubeStore (test/integration/store-contract.test.ts). It holds only what a
// real apiserver also does: resourceVersions are opaque (compared for equality, never as numbers or
// across kinds), every test lives in a namespace (and names cluster objects) of its own so the store
// need not be empty, and a watch "from now" is asked for as such. What only SqliteStore does — one
// global revision, its body cache, watches of every kind, the exact numbering — stays in
// test/integration/store-*.test.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import { StoreError } from '../../controller/store/errors.ts';
import type { ResourceStore, WatchEvent } from '../../controller/store/types.ts';
import { storeFailure, type StoreFactory, type StoreUnderTest } from '../helpers/stores.ts';
import { waitFor } from '../helpers/wait.ts';

const API = 'gantry.dev/v1alpha1';
const HISTORY = 40;

export const server = (ns: string, name: string, spec: Record<string, unknown> = {}, meta: Partial<Resource['metadata']> = {}): Resource => ({
  apiVersion: API,
  kind: 'GameServer',
  metadata: { name, namespace: ns, ...meta } as Resource['metadata'],
  spec: { templateRef: 'testgame', ...spec },
});

export const gameNode = (name: string, meta: Partial<Resource['metadata']> = {}): Resource => ({
  apiVersion: API,
  kind: 'GameNode',
  metadata: { name, ...meta },
  spec: { address: '127.0.0.1' },
});

const fail = storeFailure;

const short = (e: WatchEvent) => `${e.type} ${e.object.metadata?.name ?? ''}`;
/** A unique, valid name for this run (tests share one store and never clean up behind them). */
const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export function storeContract(factory: StoreFactory): void {
  let sut: StoreUnderTest;
  let store: ResourceStore;
  beforeAll(async () => {
    sut = await factory({ historyLimit: HISTORY });
    store = sut.store;
  });
  afterAll(async () => {
    await sut?.close();
  });

  describe('create, get, list', () => {
    it('create fills uid, creationTimestamp, resourceVersion, generation 1 and schema defaults; get returns the same', async () => {
      const ns = unique('crud');
      const input = server(ns, 'alpha', {}, { labels: { app: 'mc' } });
      const before = JSON.stringify(input);
      const created = await store.create(input);
      expect(JSON.stringify(input)).toBe(before);
      expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(created.metadata.generation).toBe(1);
      expect(created.metadata.namespace).toBe(ns);
      expect(typeof created.metadata.resourceVersion).toBe('string');
      expect(created.spec).toMatchObject({ templateRef: 'testgame', state: 'Stopped' });
      expect(created.status).toBeUndefined();
      expect(await store.get('GameServer', ns, 'alpha')).toEqual(created);
    });

    it('ignores client-set server fields and drops status on create (status subresource)', async () => {
      const ns = unique('crud');
      const created = await store.create({
        ...server(ns, 'a'),
        metadata: { name: 'a', namespace: ns, uid: 'mine', generation: 9, creationTimestamp: '2000-01-01T00:00:00Z' },
        status: { phase: 'running' },
      });
      expect(created.metadata.uid).not.toBe('mine');
      expect(created.metadata.generation).toBe(1);
      expect(created.metadata.creationTimestamp).not.toBe('2000-01-01T00:00:00Z');
      expect(created.status).toBeUndefined();
    });

    it('a namespaced object without a namespace lands in default; a cluster-scoped one has none', async () => {
      const name = unique('dflt');
      const a = await store.create<Resource>({ ...server('x', name), metadata: { name } });
      expect(a.metadata.namespace).toBe('default');
      expect((await store.get('GameServer', undefined, name)).metadata.uid).toBe(a.metadata.uid);
      await store.delete('GameServer', 'default', name);
      const n = await store.create(gameNode(unique('node')));
      expect(n.metadata.namespace).toBeUndefined();
      expect((await store.get('GameNode', undefined, n.metadata.name)).metadata.uid).toBe(n.metadata.uid);
    });

    it('a taken name is AlreadyExists (409); the same name in another namespace is fine', async () => {
      const ns = unique('crud');
      await store.create(server(ns, 'a'));
      const err = await fail(store.create(server(ns, 'a')));
      expect(err.reason).toBe('AlreadyExists');
      expect(err.code).toBe(409);
      expect(err.message).toContain('"a"');
      await store.create(server(`${ns}-other`, 'a'));
    });

    it('generateName picks a free name', async () => {
      const ns = unique('crud');
      const a = await store.create({ ...server(ns, ''), metadata: { namespace: ns, generateName: 'mc-' } as unknown as Resource['metadata'] });
      const b = await store.create({ ...server(ns, ''), metadata: { namespace: ns, generateName: 'mc-' } as unknown as Resource['metadata'] });
      expect(a.metadata.name).toMatch(/^mc-[a-z0-9]{5}$/);
      expect(b.metadata.name).not.toBe(a.metadata.name);
    });

    it('an invalid object is Invalid (422) with field causes, and nothing is written', async () => {
      const ns = unique('crud');
      const err = await fail(store.create(server(ns, 'Bad Name', { state: 'Exploding' })));
      expect(err.reason).toBe('Invalid');
      expect(err.code).toBe(422);
      const fields = err.causes.map((c) => c.field);
      expect(fields).toContain('metadata.name');
      expect(fields).toContain('spec.state');
      expect((await store.list('GameServer', { namespace: ns })).items).toEqual([]);
      expect((await fail(store.create({ ...server(ns, 'x'), spec: undefined }))).reason).toBe('Invalid');
    });

    it('bad input is a typed BadRequest, never a raw error', async () => {
      const ns = unique('crud');
      expect((await fail(store.create({ kind: 'Nope', apiVersion: API, metadata: { name: 'a' } }))).reason).toBe('BadRequest');
      expect((await fail(store.create({ apiVersion: API, metadata: { name: 'a' } } as unknown as Resource))).reason).toBe('BadRequest');
      expect((await fail(store.create(null as unknown as Resource))).reason).toBe('BadRequest');
      const cyclic: Record<string, unknown> = { ...server(ns, 'c') };
      (cyclic.spec as Record<string, unknown>).self = cyclic;
      expect((await fail(store.create(cyclic as unknown as Resource))).reason).toBe('BadRequest');
      expect((await fail(store.get('Nope', undefined, 'a'))).reason).toBe('BadRequest');
      expect((await fail(store.list('GameServer', { limit: -1 }))).reason).toBe('BadRequest');
      expect((await fail(store.list('GameServer', { labelSelector: 'a in b' }))).reason).toBe('BadRequest');
      expect((await fail(store.patch('GameServer', ns, 'c', [1]))).reason).toBe('BadRequest');
    });

    it('an object larger than the store takes is refused with a 4xx naming the size', async () => {
      const ns = unique('crud');
      const environment = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`V${i}`, 'x'.repeat(30_000)]));
      const err = await fail(store.create(server(ns, 'big', { environment })));
      expect(err.code).toBeGreaterThanOrEqual(400);
      expect(err.code).toBeLessThan(500);
      expect(err.message).toMatch(/too large|larger than/i);
    });

    it('get of a missing object is NotFound (404), naming it', async () => {
      const err = await fail(store.get('GameServer', unique('crud'), 'ghost'));
      expect(err.reason).toBe('NotFound');
      expect(err.code).toBe(404);
      expect(err.message).toContain('ghost');
    });

    it('lists by namespace, label and field selector, ordered by name, with a resourceVersion', async () => {
      const a = unique('lst');
      const b = `${a}-b`;
      for (const [ns, name, app] of [[b, 'z', 'mc'], [a, 'y', 'mc'], [a, 'x', 'valheim'], [a, 'w', undefined]] as const) {
        await store.create(server(ns, name, {}, { labels: app ? { app, run: a } : { run: a } }));
      }
      const inA = await store.list('GameServer', { namespace: a });
      expect(inA.items.map((i) => i.metadata.name)).toEqual(['w', 'x', 'y']);
      expect(typeof inA.resourceVersion).toBe('string');
      expect(inA.resourceVersion).not.toBe('');
      expect(inA.continue).toBeUndefined();
      const everywhere = await store.list('GameServer', { labelSelector: `run=${a}` });
      expect(everywhere.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort()).toEqual([`${a}/w`, `${a}/x`, `${a}/y`, `${b}/z`].sort());
      expect((await store.list('GameServer', { namespace: a, labelSelector: 'app=mc' })).items.map((i) => i.metadata.name)).toEqual(['y']);
      expect((await store.list('GameServer', { namespace: a, labelSelector: 'app!=mc' })).items.map((i) => i.metadata.name)).toEqual(['w', 'x']);
      expect((await store.list('GameServer', { namespace: a, labelSelector: '!app' })).items.map((i) => i.metadata.name)).toEqual(['w']);
      expect((await store.list('GameServer', { labelSelector: `run=${a},app in (mc,cs2)` })).items.map((i) => i.metadata.name).sort()).toEqual(['y', 'z']);
      expect((await store.list('GameServer', { namespace: a, fieldSelector: 'metadata.name=x' })).items.map((i) => i.metadata.name)).toEqual(['x']);
      expect((await store.list('GameServer', { labelSelector: `run=${a}`, fieldSelector: `metadata.namespace=${b}` })).items.map((i) => i.metadata.name)).toEqual(['z']);
    });

    it('pages with limit/continue through every object once', async () => {
      const ns = unique('page');
      for (let i = 0; i < 12; i++) await store.create(server(ns, `s${String(i).padStart(2, '0')}`));
      const names: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      do {
        const page = await store.list('GameServer', { namespace: ns, limit: 5, continue: cont });
        expect(page.items.length).toBeLessThanOrEqual(5);
        names.push(...page.items.map((i) => i.metadata.name));
        cont = page.continue;
        pages++;
      } while (cont);
      expect(names).toEqual(Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`));
      expect(pages).toBe(3);
      expect((await fail(store.list('GameServer', { namespace: ns, limit: 5, continue: 'garbage!!' }))).reason).toBe('BadRequest');
    });
  });

  describe('update, patch, status', () => {
    it('update replaces spec and metadata, keeps status, bumps generation on spec change only', async () => {
      const ns = unique('upd');
      const c = await store.create(server(ns, 'a', { displayName: 'one' }, { labels: { x: '1' }, annotations: { note: 'hi' } }));
      await store.patchStatus('GameServer', ns, 'a', { phase: 'running' });
      const cur = await store.get('GameServer', ns, 'a');
      const relabeled = await store.update({ ...cur, metadata: { ...cur.metadata, labels: { y: '2' }, annotations: undefined }, status: { phase: 'ignored' } });
      expect(relabeled.metadata.labels).toEqual({ y: '2' });
      expect(relabeled.metadata.annotations).toBeUndefined();
      expect(relabeled.metadata.generation).toBe(1);
      expect(relabeled.status).toEqual({ phase: 'running' });
      expect(relabeled.metadata.resourceVersion).not.toBe(cur.metadata.resourceVersion);
      const respec = await store.update({ ...relabeled, spec: { ...relabeled.spec, displayName: 'two' } });
      expect(respec.metadata.generation).toBe(2);
      expect(respec.spec).toMatchObject({ displayName: 'two' });
      expect(respec.metadata.uid).toBe(c.metadata.uid);
      expect(respec.metadata.creationTimestamp).toBe(c.metadata.creationTimestamp);
    });

    it('a stale resourceVersion is Conflict (409); a missing one is refused; a missing object is NotFound', async () => {
      const ns = unique('upd');
      const c = await store.create(server(ns, 'a'));
      await store.update({ ...c, spec: { ...c.spec, displayName: 'one' } });
      const err = await fail(store.update({ ...c, spec: { ...c.spec, displayName: 'two' } }));
      expect(err.reason).toBe('Conflict');
      expect(err.code).toBe(409);
      expect(err.message).toMatch(/has been modified/);
      const noRv = await fail(store.update({ ...c, metadata: { ...c.metadata, resourceVersion: undefined } }));
      expect(noRv.code).toBeGreaterThanOrEqual(400);
      expect(noRv.code).toBeLessThan(500);
      expect((await fail(store.patch('GameServer', ns, 'a', { spec: { displayName: 'three' } }, { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
      expect((await fail(store.patchStatus('GameServer', ns, 'a', { phase: 'x' }, { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
      expect((await fail(store.update(server(ns, 'ghost', {}, { resourceVersion: c.metadata.resourceVersion })))).reason).toBe('NotFound');
    });

    it('a no-op write returns the object unchanged: same resourceVersion, no event', async () => {
      const ns = unique('noop');
      const c = await store.create(server(ns, 'a', { displayName: 'one' }, { labels: { x: '1' } }));
      const seen: string[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns }, (ev) => seen.push(ev.type));
      expect(await store.update({ ...c })).toEqual(c);
      expect(await store.patch('GameServer', ns, 'a', { spec: { displayName: 'one' }, metadata: { labels: { x: '1' } } })).toEqual(c);
      expect(await store.patch('GameServer', ns, 'a', {})).toEqual(c);
      expect(await store.patchStatus('GameServer', ns, 'a', {})).toEqual(c);
      // A write after them is the first event the watch sees.
      await store.patch('GameServer', ns, 'a', { spec: { displayName: 'two' } });
      await waitFor(() => seen.length > 0, 'the watch to see the real write');
      w.stop();
      expect(seen).toEqual(['MODIFIED']);
    });

    it('uid, name and namespace are immutable; server-owned fields in a write are ignored', async () => {
      const ns = unique('imm');
      const c = await store.create(server(ns, 'a'));
      expect((await fail(store.update({ ...c, metadata: { ...c.metadata, uid: 'other' } }))).code).toBeGreaterThanOrEqual(400);
      expect((await fail(store.patch('GameServer', ns, 'a', { metadata: { name: 'b' } }))).code).toBeGreaterThanOrEqual(400);
      const p = await store.patch('GameServer', ns, 'a', { metadata: { generation: 42 }, spec: { displayName: 'x' } });
      expect(p.metadata.generation).toBe(2);
      expect(p.metadata.uid).toBe(c.metadata.uid);
    });

    it('patch is a JSON merge patch of metadata and spec; status in it is ignored', async () => {
      const ns = unique('patch');
      await store.create(server(ns, 'a', { displayName: 'one', ports: [{ containerPort: 1 }], environment: { KEEP: '1', DROP: '2' } }, { labels: { a: '1', b: '2' } }));
      const p = await store.patch('GameServer', ns, 'a', {
        metadata: { labels: { b: null, c: '3' } },
        spec: { displayName: 'two', ports: [{ containerPort: 2 }], environment: { DROP: null } },
        status: { phase: 'hacked' },
      });
      expect(p.metadata.labels).toEqual({ a: '1', c: '3' });
      expect(p.spec).toMatchObject({ displayName: 'two', environment: { KEEP: '1' } });
      expect((p.spec as { ports: unknown[] }).ports).toHaveLength(1);
      expect((p.spec as { ports: { containerPort: number }[] }).ports[0]!.containerPort).toBe(2);
      expect(p.status).toBeUndefined();
      expect(p.metadata.generation).toBe(2);
      const labelsOnly = await store.patch('GameServer', ns, 'a', { metadata: { labels: { a: null } } });
      expect(labelsOnly.metadata.generation).toBe(2);
      expect((await fail(store.patch('GameServer', ns, 'a', { spec: { state: 'Nope' } }))).reason).toBe('Invalid');
      expect((await fail(store.patch('GameServer', ns, 'ghost', { spec: {} }))).reason).toBe('NotFound');
    });

    it('updateStatus/patchStatus change only status, never spec, metadata or generation', async () => {
      const ns = unique('status');
      const c = await store.create(server(ns, 'a', { displayName: 'one' }));
      const s1 = await store.updateStatus({ ...c, spec: { templateRef: 'other' }, metadata: { ...c.metadata, labels: { no: 'no' } }, status: { phase: 'starting', message: 'hello' } });
      expect(s1.status).toEqual({ phase: 'starting', message: 'hello' });
      expect(s1.spec).toEqual(c.spec);
      expect(s1.metadata.labels).toBeUndefined();
      expect(s1.metadata.generation).toBe(1);
      const s2 = await store.patchStatus('GameServer', ns, 'a', { phase: 'running', observedGeneration: 1, message: null });
      expect(s2.status).toEqual({ phase: 'running', observedGeneration: 1 });
      expect(s2.metadata.generation).toBe(1);
      expect((await fail(store.updateStatus(c))).reason).toBe('Conflict');
      expect((await fail(store.patchStatus('GameServer', ns, 'a', { phase: 7 }))).reason).toBe('Invalid');
      expect((await fail(store.patchStatus('GameServer', ns, 'a', 'str'))).reason).toBe('BadRequest');
    });

    it('dry runs check everything and store nothing', async () => {
      const ns = unique('dry');
      const dry = await store.create(server(ns, 'a'), { dryRun: true });
      expect(dry.metadata.name).toBe('a');
      expect((await fail(store.get('GameServer', ns, 'a'))).reason).toBe('NotFound');
      expect((await fail(store.create(server(ns, 'a', { state: 'Nope' }), { dryRun: true }))).reason).toBe('Invalid');
      const real = await store.create(server(ns, 'a'));
      const p = await store.patch('GameServer', ns, 'a', { spec: { displayName: 'dry' } }, { dryRun: true });
      expect(p.spec).toMatchObject({ displayName: 'dry' });
      expect((await store.get('GameServer', ns, 'a')).metadata.resourceVersion).toBe(real.metadata.resourceVersion);
      await store.delete('GameServer', ns, 'a', { dryRun: true });
      expect((await store.get('GameServer', ns, 'a')).metadata.uid).toBe(real.metadata.uid);
    });
  });

  describe('delete', () => {
    it('deletes at once without finalizers; a second delete is NotFound', async () => {
      const ns = unique('del');
      await store.create(server(ns, 'a'));
      const gone = await store.delete('GameServer', ns, 'a');
      expect(gone.metadata.name).toBe('a');
      expect((await fail(store.get('GameServer', ns, 'a'))).reason).toBe('NotFound');
      expect((await fail(store.delete('GameServer', ns, 'a'))).reason).toBe('NotFound');
    });

    it('finalizers hold the object with a deletionTimestamp until the last one is removed', async () => {
      const ns = unique('del');
      await store.create(server(ns, 'a', {}, { finalizers: ['gantry.dev/test'] }));
      const pending = await store.delete('GameServer', ns, 'a');
      expect(pending.metadata.deletionTimestamp).toBeTruthy();
      const held = await store.get('GameServer', ns, 'a');
      expect(held.metadata.deletionTimestamp).toBeTruthy();
      await store.patch('GameServer', ns, 'a', { metadata: { finalizers: null } });
      expect((await fail(store.get('GameServer', ns, 'a'))).reason).toBe('NotFound');
    });

    it('a delete with a stale resourceVersion precondition is Conflict', async () => {
      const ns = unique('del');
      const c = await store.create(server(ns, 'a'));
      await store.patch('GameServer', ns, 'a', { spec: { displayName: 'moved' } });
      expect((await fail(store.delete('GameServer', ns, 'a', { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
      expect((await store.get('GameServer', ns, 'a')).metadata.uid).toBe(c.metadata.uid);
    });

    it('dependents go with their owner (Background); Orphan keeps them and drops the reference', async () => {
      const ns = unique('gc');
      const owner = await store.create(server(ns, 'owner'));
      const ref = { apiVersion: API, kind: 'GameServer', name: 'owner', uid: owner.metadata.uid! };
      const backup = (name: string) => ({ apiVersion: API, kind: 'Backup', metadata: { name, namespace: ns, ownerReferences: [ref] }, spec: { serverRef: 'owner' } });
      await store.create(backup('b1'));
      await store.delete('GameServer', ns, 'owner');
      let left: Resource[] = [];
      for (let i = 0; i < 100; i++) {
        left = (await store.list('Backup', { namespace: ns })).items;
        if (!left.length) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toEqual([]);

      const owner2 = await store.create(server(ns, 'owner2'));
      await store.create({ ...backup('b2'), metadata: { name: 'b2', namespace: ns, ownerReferences: [{ ...ref, name: 'owner2', uid: owner2.metadata.uid! }] } });
      await store.delete('GameServer', ns, 'owner2', { propagationPolicy: 'Orphan' });
      let kept = await store.get('Backup', ns, 'b2');
      for (let i = 0; i < 100; i++) {
        kept = await store.get('Backup', ns, 'b2');
        if (!kept.metadata.ownerReferences?.length) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(kept.metadata.ownerReferences ?? []).toEqual([]);
    });
  });

  describe('watch', () => {
    it('from a list\'s resourceVersion: every later change of the kind, in order, filtered by namespace', async () => {
      const ns = unique('w');
      const other = `${ns}-other`;
      const list = await store.list('GameServer', { namespace: ns });
      const inNs: WatchEvent[] = [];
      const nodes: WatchEvent[] = [];
      const w1 = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: list.resourceVersion }, (e) => inNs.push(e));
      const nodeName = unique('wn');
      const w2 = await store.watch({ kind: 'GameNode', fieldSelector: `metadata.name=${nodeName}` }, (e) => nodes.push(e));
      await store.create(server(ns, 'a'));
      await store.create(server(other, 'b'));
      await store.create(gameNode(nodeName));
      await store.patch('GameServer', ns, 'a', { spec: { displayName: 'x' } });
      await store.patchStatus('GameNode', undefined, nodeName, { phase: 'Online' });
      await store.delete('GameServer', ns, 'a');
      await waitFor(() => inNs.length >= 3 && nodes.length >= 2, 'the watch events');
      w1.stop();
      w2.stop();
      expect(inNs.map(short)).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a']);
      expect(nodes.map(short)).toEqual([`ADDED ${nodeName}`, `MODIFIED ${nodeName}`]);
      expect(inNs[1]!.object.spec).toMatchObject({ displayName: 'x' });
      // The event's version is the object's, as a get after it would return.
      expect(inNs[1]!.object.metadata.resourceVersion).toBeTruthy();
    });

    it('without a resourceVersion: only changes after the call; with "0": the current objects first', async () => {
      const ns = unique('w');
      await store.create(server(ns, 'old'));
      const fromNow: WatchEvent[] = [];
      const fromAny: WatchEvent[] = [];
      const w1 = await store.watch({ kind: 'GameServer', namespace: ns }, (e) => fromNow.push(e));
      const w2 = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: '0' }, (e) => fromAny.push(e));
      await store.create(server(ns, 'new'));
      await waitFor(() => fromNow.length >= 1 && fromAny.length >= 2, 'the watch events');
      w1.stop();
      w2.stop();
      expect(fromNow.map(short)).toEqual(['ADDED new']);
      expect(fromAny.map(short)).toEqual(['ADDED old', 'ADDED new']);
    });

    it('a label-selector watch sees an object entering as ADDED and leaving as DELETED', async () => {
      const ns = unique('w');
      const seen: WatchEvent[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns, labelSelector: 'app=mc' }, (e) => seen.push(e));
      await store.create(server(ns, 'a'));
      await store.patch('GameServer', ns, 'a', { metadata: { labels: { app: 'mc' } } });
      await store.patch('GameServer', ns, 'a', { spec: { displayName: 'in' } });
      await store.patch('GameServer', ns, 'a', { metadata: { labels: { app: 'other' } } });
      await waitFor(() => seen.length >= 3, 'the selector transitions');
      w.stop();
      expect(seen.map(short)).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a']);
    });

    it('stop() ends delivery', async () => {
      const ns = unique('w');
      const seen: WatchEvent[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns }, (e) => seen.push(e));
      await store.create(server(ns, 'a'));
      await waitFor(() => seen.length === 1, 'the first event');
      w.stop();
      w.stop();
      await store.create(server(ns, 'b'));
      const probe: WatchEvent[] = [];
      const w2 = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: '0' }, (e) => probe.push(e));
      await waitFor(() => probe.length === 2, 'the probe to see both');
      w2.stop();
      expect(seen.map(short)).toEqual(['ADDED a']);
    });

    it('a version older than the history kept: 410 Gone (thrown, or as the one ERROR event), and a list gives a fresh version', async () => {
      const ns = unique('gone');
      const first = await store.create(server(ns, 'a'));
      for (let i = 0; i < HISTORY + 5; i++) await store.patch('GameServer', ns, 'a', { spec: { displayName: `v${i}` } });
      const seen: WatchEvent[] = [];
      let thrown: StoreError | undefined;
      try {
        const w = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: first.metadata.resourceVersion }, (e) => seen.push(e));
        await waitFor(() => seen.length > 0, 'the watch to answer');
        w.stop();
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        thrown = err;
      }
      if (thrown) expect(thrown.reason).toBe('Gone');
      else {
        expect(seen).toHaveLength(1);
        expect(seen[0]!.type).toBe('ERROR');
        expect((seen[0]!.object as unknown as { code: number }).code).toBe(410);
      }
      const list = await store.list('GameServer', { namespace: ns });
      const after: WatchEvent[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: list.resourceVersion }, (e) => after.push(e));
      await store.patch('GameServer', ns, 'a', { spec: { displayName: 'fresh' } });
      await waitFor(() => after.length === 1, 'the fresh watch');
      w.stop();
      expect(after.map(short)).toEqual(['MODIFIED a']);
    });

    it('many writers, one watcher from a list: every change once, none lost', async () => {
      const ns = unique('race');
      const list = await store.list('GameServer', { namespace: ns });
      const seen: WatchEvent[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns, resourceVersion: list.resourceVersion }, (e) => seen.push(e));
      await Promise.all(Array.from({ length: 4 }, async (_, k) => {
        await store.create(server(ns, `s${k}`));
        for (let i = 0; i < 3; i++) await store.patch('GameServer', ns, `s${k}`, { spec: { displayName: `${k}-${i}` } });
      }));
      await waitFor(() => seen.length >= 16, 'every change');
      w.stop();
      expect(seen).toHaveLength(16);
      for (let k = 0; k < 4; k++) {
        const mine = seen.filter((e) => e.object.metadata.name === `s${k}`);
        expect(mine.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED']);
        expect(mine.map((e) => (e.object.spec as { displayName?: string }).displayName)).toEqual([undefined, `${k}-0`, `${k}-1`, `${k}-2`]);
      }
    });

    it('a watch with a bad selector is refused with BadRequest', async () => {
      expect((await fail(store.watch({ kind: 'GameServer', labelSelector: 'a in b', resourceVersion: '0' }, () => {}))).reason).toBe('BadRequest');
      expect((await fail(store.watch({ kind: 'Nope' }, () => {}))).reason).toBe('BadRequest');
    });
  });

  describe('optimistic concurrency', () => {
    it('of two updates from the same version, exactly one wins; retrying from a fresh read succeeds', async () => {
      const ns = unique('occ');
      const c = await store.create(server(ns, 'a'));
      const results = await Promise.allSettled([1, 2].map((i) => store.update({ ...c, spec: { ...c.spec, displayName: `w${i}` } })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((lost.reason as StoreError).reason).toBe('Conflict');
      const fresh = await store.get('GameServer', ns, 'a');
      const done = await store.update({ ...fresh, spec: { ...fresh.spec, displayName: 'retried' } });
      expect(done.spec).toMatchObject({ displayName: 'retried' });
    });
  });
}
