// SqliteStore object semantics: create, read, list, update, patch, status — against a real file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import { isStoreError, StoreError } from '../../controller/store/errors.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { API, fakeSchema, gs, node, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';
import { storeFailure } from '../helpers/stores.ts';

// Every case runs with the body cache (the default) and without it (every read from SQLite).
const CACHE_MODES = [['cached', {}], ['uncached', { cacheSize: 0 }]] as const;

const fail = storeFailure;

describe.each(CACHE_MODES)('SqliteStore: create/get/list (%s)', (_mode, cacheOpts) => {
  let env: TmpStore;
  let store: SqliteStore;
  beforeEach(async () => {
    env = await openTmpStore(cacheOpts);
    store = env.store;
  });
  afterEach(() => env.cleanup());

  it('create sets uid, creationTimestamp, resourceVersion, generation 1, default namespace and schema defaults', async () => {
    const input = gs('alpha', {}, { labels: { app: 'mc' } });
    const before = JSON.stringify(input);
    const created = await store.create(input);
    expect(JSON.stringify(input)).toBe(before); // the caller's object is not touched
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.namespace).toBe('default');
    expect(created.metadata.resourceVersion).toBe('1');
    expect(created.spec).toEqual({ templateRef: 'testgame', state: 'Stopped' });
    expect(await store.get('GameServer', 'default', 'alpha')).toEqual(created);
    expect(await store.get('GameServer', undefined, 'alpha')).toEqual(created);
    expect(await store.currentResourceVersion()).toBe('1');
  });

  it('ignores client-set server fields and drops status on create (status subresource)', async () => {
    const created = await store.create({
      ...gs('a'),
      metadata: { name: 'a', uid: 'mine', resourceVersion: '77', generation: 9, creationTimestamp: '2000-01-01T00:00:00Z', deletionTimestamp: '2000-01-01T00:00:00Z' },
      status: { phase: 'running' },
    });
    expect(created.metadata.uid).not.toBe('mine');
    expect(created.metadata.resourceVersion).toBe('1');
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.creationTimestamp).not.toBe('2000-01-01T00:00:00Z');
    expect(created.metadata.deletionTimestamp).toBeUndefined();
    expect(created.status).toBeUndefined();
  });

  it('cluster-scoped kinds have no namespace, whatever the caller says', async () => {
    const n = await store.create(node('n1', { namespace: 'x' }));
    expect(n.metadata.namespace).toBeUndefined();
    expect((await store.get('GameNode', 'whatever', 'n1')).metadata.uid).toBe(n.metadata.uid);
    expect((await store.list('GameNode', { namespace: 'ignored' })).items).toHaveLength(1);
  });

  it('a taken name is AlreadyExists (409); the same name in another namespace is fine', async () => {
    await store.create(gs('a'));
    const err = await fail(store.create(gs('a')));
    expect(err.reason).toBe('AlreadyExists');
    expect(err.code).toBe(409);
    expect(err.message).toContain('"a"');
    await store.create(gs('a', {}, { namespace: 'other' }));
    expect((await store.list('GameServer')).items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['default/a', 'other/a']);
  });

  it('generateName picks a free name', async () => {
    const a = await store.create({ ...gs(''), metadata: { generateName: 'mc-' } as unknown as Resource['metadata'] });
    const b = await store.create({ ...gs(''), metadata: { generateName: 'mc-' } as unknown as Resource['metadata'] });
    expect(a.metadata.name).toMatch(/^mc-[a-z0-9]{5}$/);
    expect(b.metadata.name).not.toBe(a.metadata.name);
    expect((a.metadata as { generateName?: string }).generateName).toBe('mc-');
    const err = await fail(store.create({ ...gs(''), metadata: { generateName: 'Bad_' } as unknown as Resource['metadata'] }));
    expect(err.reason).toBe('Invalid');
  });

  it('invalid objects are Invalid (422) with every field cause, and nothing is written', async () => {
    const err = await fail(
      store.create({
        apiVersion: 'gantry.dev/v2',
        kind: 'GameServer',
        metadata: { name: 'Bad Name', namespace: 'NS!', labels: { 'bad key!': 'x', ok: 'bad value!' }, finalizers: ['x y'] },
        spec: { state: 'Exploding', counter: 1.5 },
      }),
    );
    expect(err.reason).toBe('Invalid');
    expect(err.code).toBe(422);
    const fields = err.causes.map((c) => c.field).sort();
    expect(fields).toEqual(
      ['apiVersion', 'metadata.finalizers[0]', 'metadata.labels[bad key!]', 'metadata.labels[ok]', 'metadata.name', 'metadata.namespace', 'spec.counter', 'spec.state'].sort(),
    );
    expect(err.toStatus().details?.causes?.length).toBe(fields.length);
    expect(await store.currentResourceVersion()).toBe('0');
    expect((await fail(store.create({ ...gs('x'), spec: undefined }))).causes).toEqual([{ field: 'spec', message: 'is required' }]);
    expect((await fail(store.create({ ...gs('x'), metadata: { name: 'x', ownerReferences: [{ kind: 'GameNode' }] as never } }))).causes.map((c) => c.field)).toEqual([
      'metadata.ownerReferences[0].apiVersion',
      'metadata.ownerReferences[0].name',
      'metadata.ownerReferences[0].uid',
    ]);
  });

  it('bad input is a typed BadRequest, never a raw error', async () => {
    expect((await fail(store.create({ kind: 'Nope', apiVersion: API, metadata: { name: 'a' } }))).reason).toBe('BadRequest');
    expect((await fail(store.create({ apiVersion: API, metadata: { name: 'a' } } as unknown as Resource))).reason).toBe('BadRequest');
    expect((await fail(store.create(null as unknown as Resource))).reason).toBe('BadRequest');
    const cyclic: Record<string, unknown> = { ...gs('c') };
    (cyclic.spec as Record<string, unknown>).self = cyclic;
    expect((await fail(store.create(cyclic as unknown as Resource))).reason).toBe('BadRequest');
    expect((await fail(store.create({ ...gs('big'), spec: { blob: 'x'.repeat(2 * 1024 * 1024) } }))).message).toMatch(/too large/);
    expect((await fail(store.get('Nope', undefined, 'a'))).reason).toBe('BadRequest');
    expect((await fail(store.list('GameServer', { limit: -1 }))).reason).toBe('BadRequest');
    expect((await fail(store.list('GameServer', { labelSelector: 'a in b' }))).reason).toBe('BadRequest');
  });

  it('get of a missing object is NotFound (404)', async () => {
    const err = await fail(store.get('GameServer', 'default', 'ghost'));
    expect(err.reason).toBe('NotFound');
    expect(err.code).toBe(404);
    expect(err.toStatus()).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound', details: { name: 'ghost', kind: 'GameServer' } });
  });

  it('lists by namespace and label selector, ordered by namespace/name, with the store resourceVersion', async () => {
    for (const [ns, name, app] of [['b', 'z', 'mc'], ['a', 'y', 'mc'], ['a', 'x', 'valheim'], ['c', 'w', undefined]] as const) {
      await store.create(gs(name, {}, { namespace: ns, labels: app ? { app } : undefined }));
    }
    const all = await store.list('GameServer');
    expect(all.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['a/x', 'a/y', 'b/z', 'c/w']);
    expect(all.resourceVersion).toBe('4');
    expect(all.continue).toBeUndefined();
    expect((await store.list('GameServer', { namespace: 'a' })).items.map((i) => i.metadata.name)).toEqual(['x', 'y']);
    expect((await store.list('GameServer', { labelSelector: 'app=mc' })).items.map((i) => i.metadata.name)).toEqual(['y', 'z']);
    expect((await store.list('GameServer', { labelSelector: 'app!=mc' })).items.map((i) => i.metadata.name)).toEqual(['x', 'w']);
    expect((await store.list('GameServer', { labelSelector: '!app' })).items.map((i) => i.metadata.name)).toEqual(['w']);
    expect((await store.list('GameServer', { namespace: 'a', labelSelector: 'app in (mc,cs2)' })).items.map((i) => i.metadata.name)).toEqual(['y']);
    expect((await store.list('GameNode')).items).toEqual([]);
  });

  it('pages with limit/continue; a token from another query is BadRequest', async () => {
    for (let i = 0; i < 25; i++) {
      await store.create(gs(`s${String(i).padStart(2, '0')}`, {}, { namespace: i % 2 ? 'odd' : 'even', labels: { n: String(i % 3) } }));
    }
    const collect = async (opts: { namespace?: string; labelSelector?: string }, limit: number) => {
      const names: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      do {
        const page = await store.list('GameServer', { ...opts, limit, continue: cont });
        expect(page.items.length).toBeLessThanOrEqual(limit);
        names.push(...page.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`));
        cont = page.continue;
        pages++;
      } while (cont);
      return { names, pages };
    };
    const full = (await store.list('GameServer')).items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    expect(await collect({}, 10)).toEqual({ names: full, pages: 3 });
    expect((await collect({}, 25)).pages).toBe(1);
    expect((await collect({ namespace: 'odd' }, 4)).names).toEqual(full.filter((n) => n.startsWith('odd/')));
    const sel = (await store.list('GameServer', { labelSelector: 'n=1' })).items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    expect((await collect({ labelSelector: 'n=1' }, 3)).names).toEqual(sel);

    const first = await store.list('GameServer', { limit: 5 });
    expect(first.continue).toBeTruthy();
    const wrong = await fail(store.list('GameServer', { limit: 5, namespace: 'odd', continue: first.continue }));
    expect(wrong.reason).toBe('BadRequest');
    expect(wrong.message).toMatch(/different query/);
    expect((await fail(store.list('GameServer', { labelSelector: 'n=1', continue: first.continue }))).reason).toBe('BadRequest');
    expect((await fail(store.list('GameServer', { continue: 'garbage!!' }))).reason).toBe('BadRequest');
    // Objects created behind the cursor do not disturb the pages after it.
    await store.create(gs('a-first', {}, { namespace: 'even' }));
    const second = await store.list('GameServer', { limit: 5, continue: first.continue });
    expect(second.items[0]!.metadata.name).toBe(full[5]!.split('/')[1]);
  });
});

describe.each(CACHE_MODES)('SqliteStore: update/patch/status (%s)', (_mode, cacheOpts) => {
  let env: TmpStore;
  let store: SqliteStore;
  beforeEach(async () => {
    env = await openTmpStore(cacheOpts);
    store = env.store;
  });
  afterEach(() => env.cleanup());

  it('update replaces spec and labels/annotations/finalizers/ownerReferences, keeps status, bumps generation on spec change only', async () => {
    const c = await store.create(gs('a', { counter: 1 }, { labels: { x: '1' }, annotations: { note: 'hi' } }));
    await store.patchStatus('GameServer', 'default', 'a', { phase: 'running' });
    const cur = await store.get('GameServer', 'default', 'a');

    const relabeled = await store.update({ ...cur, metadata: { ...cur.metadata, labels: { y: '2' }, annotations: undefined }, status: { phase: 'ignored' } });
    expect(relabeled.metadata.labels).toEqual({ y: '2' });
    expect(relabeled.metadata.annotations).toBeUndefined();
    expect(relabeled.metadata.generation).toBe(1);
    expect(relabeled.status).toEqual({ phase: 'running' });
    expect(Number(relabeled.metadata.resourceVersion)).toBeGreaterThan(Number(cur.metadata.resourceVersion));

    const respec = await store.update({ ...relabeled, spec: { ...relabeled.spec, counter: 2 } });
    expect(respec.metadata.generation).toBe(2);
    expect(respec.spec).toMatchObject({ counter: 2 });
    expect(respec.metadata.uid).toBe(c.metadata.uid);
    expect(respec.metadata.creationTimestamp).toBe(c.metadata.creationTimestamp);
  });

  it('a stale or missing resourceVersion fails (Conflict 409 / Invalid)', async () => {
    const c = await store.create(gs('a'));
    await store.update({ ...c, spec: { ...c.spec, counter: 1 } });
    const err = await fail(store.update({ ...c, spec: { ...c.spec, counter: 2 } }));
    expect(err.reason).toBe('Conflict');
    expect(err.code).toBe(409);
    expect(err.message).toMatch(/has been modified/);
    const noRv = await fail(store.update({ ...c, metadata: { ...c.metadata, resourceVersion: undefined } }));
    expect(noRv.reason).toBe('Invalid');
    expect(noRv.causes[0]!.field).toBe('metadata.resourceVersion');
    expect((await fail(store.patch('GameServer', 'default', 'a', { spec: { counter: 3 } }, { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
    expect((await fail(store.patch('GameServer', 'default', 'a', { metadata: { resourceVersion: '1' }, spec: { counter: 3 } }))).reason).toBe('Conflict');
    expect((await fail(store.update(gs('ghost', {}, { resourceVersion: '1' })))).reason).toBe('NotFound');
  });

  it('a no-op write returns the object unchanged: same resourceVersion, no event', async () => {
    const c = await store.create(gs('a', { counter: 1 }, { labels: { x: '1' } }));
    const seen: string[] = [];
    const w = await store.watch({ kind: 'GameServer' }, (ev) => seen.push(ev.type));
    expect(await store.update({ ...c })).toEqual(c);
    expect(await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 }, metadata: { labels: { x: '1' } } })).toEqual(c);
    expect(await store.patch('GameServer', 'default', 'a', {})).toEqual(c);
    expect(await store.patchStatus('GameServer', 'default', 'a', {})).toEqual(c);
    expect(await store.updateStatus({ ...c, status: undefined })).toEqual(c);
    // Schema defaults make an omitted field equal to the stored default: still a no-op.
    expect(await store.update({ ...c, spec: { templateRef: 'testgame', counter: 1 } })).toEqual(c);
    expect(await store.currentResourceVersion()).toBe(c.metadata.resourceVersion);
    await new Promise((r) => setTimeout(r, 20));
    w.stop();
    expect(seen).toEqual([]);
  });

  it('uid, creationTimestamp, name, namespace and kind are immutable', async () => {
    const c = await store.create(gs('a'));
    const uid = await fail(store.update({ ...c, metadata: { ...c.metadata, uid: 'other' } }));
    expect(uid.reason).toBe('Invalid');
    expect(uid.causes.map((x) => x.field)).toEqual(['metadata.uid']);
    expect((await fail(store.update({ ...c, metadata: { ...c.metadata, creationTimestamp: '2001-01-01T00:00:00Z' } }))).causes[0]!.field).toBe('metadata.creationTimestamp');
    expect((await fail(store.patch('GameServer', 'default', 'a', { metadata: { name: 'b' } }))).causes[0]!.field).toBe('metadata.name');
    expect((await fail(store.patch('GameServer', 'default', 'a', { metadata: { namespace: 'x' } }))).causes[0]!.field).toBe('metadata.namespace');
    expect((await fail(store.patch('GameServer', 'default', 'a', { kind: 'GameNode' }))).causes[0]!.field).toBe('kind');
    // Server-owned fields in a write are ignored rather than refused.
    const p = await store.patch('GameServer', 'default', 'a', { metadata: { generation: 42, deletionTimestamp: '2001-01-01T00:00:00Z' }, spec: { counter: 5 } });
    expect(p.metadata.generation).toBe(2);
    expect(p.metadata.deletionTimestamp).toBeUndefined();
  });

  it('patch is a JSON merge patch of metadata and spec; status in it is ignored', async () => {
    await store.create(gs('a', { counter: 1, ports: [{ containerPort: 1 }], nested: { keep: true, drop: 1 } }, { labels: { a: '1', b: '2' } }));
    const p = await store.patch('GameServer', undefined, 'a', {
      metadata: { labels: { b: null, c: '3' } },
      spec: { counter: 2, ports: [{ containerPort: 2 }], nested: { drop: null } },
      status: { phase: 'hacked' },
    });
    expect(p.metadata.labels).toEqual({ a: '1', c: '3' });
    expect(p.spec).toEqual({ templateRef: 'testgame', state: 'Stopped', counter: 2, ports: [{ containerPort: 2 }], nested: { keep: true } });
    expect(p.status).toBeUndefined();
    expect(p.metadata.generation).toBe(2);
    const labelsOnly = await store.patch('GameServer', undefined, 'a', { metadata: { labels: { a: null } } });
    expect(labelsOnly.metadata.generation).toBe(2);
    expect((await fail(store.patch('GameServer', undefined, 'a', { spec: { state: 'Nope' } }))).causes[0]!.field).toBe('spec.state');
    expect((await fail(store.patch('GameServer', undefined, 'a', [1]))).reason).toBe('BadRequest');
    expect((await fail(store.patch('GameServer', undefined, 'ghost', { spec: {} }))).reason).toBe('NotFound');
  });

  it('updateStatus/patchStatus change only status, never spec, metadata or generation', async () => {
    const c = await store.create(gs('a', { counter: 1 }));
    const s1 = await store.updateStatus({ ...c, spec: { counter: 999 }, metadata: { ...c.metadata, labels: { no: 'no' } }, status: { phase: 'starting', conditions: [{ type: 'Ready' }] } });
    expect(s1.status).toEqual({ phase: 'starting', conditions: [{ type: 'Ready' }] });
    expect(s1.spec).toEqual(c.spec);
    expect(s1.metadata.labels).toBeUndefined();
    expect(s1.metadata.generation).toBe(1);
    const s2 = await store.patchStatus('GameServer', 'default', 'a', { phase: 'running', observedGeneration: 1, conditions: null });
    expect(s2.status).toEqual({ phase: 'running', observedGeneration: 1 });
    expect(s2.metadata.generation).toBe(1);
    expect((await fail(store.updateStatus(c))).reason).toBe('Conflict');
    expect((await fail(store.patchStatus('GameServer', 'default', 'a', { phase: 7 }))).causes[0]!.field).toBe('status.phase');
    expect((await fail(store.patchStatus('GameServer', 'default', 'a', { phase: 'x' }, { resourceVersion: c.metadata.resourceVersion }))).reason).toBe('Conflict');
    expect((await fail(store.patchStatus('GameServer', 'default', 'a', 'str'))).reason).toBe('BadRequest');
    const cleared = await store.patchStatus('GameServer', 'default', 'a', null);
    expect(cleared.status).toBeUndefined();
  });

  it('every write bumps one global resourceVersion that survives a reopen', async () => {
    const versions: number[] = [];
    versions.push(Number((await store.create(gs('a'))).metadata.resourceVersion));
    versions.push(Number((await store.create(node('n'))).metadata.resourceVersion));
    versions.push(Number((await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } })).metadata.resourceVersion));
    versions.push(Number((await store.patchStatus('GameNode', undefined, 'n', { phase: 'Online' })).metadata.resourceVersion));
    versions.push(Number((await store.delete('GameServer', 'default', 'a')).metadata.resourceVersion));
    expect(versions).toEqual([1, 2, 3, 4, 5]);
    store = await env.reopen();
    expect(await store.currentResourceVersion()).toBe('5');
    expect((await store.create(gs('b'))).metadata.resourceVersion).toBe('6');
    expect((await store.get('GameNode', undefined, 'n')).status).toEqual({ phase: 'Online' });
  });

  it('the validator sees every write', async () => {
    const before = fakeSchema.calls;
    await store.create(gs('a'));
    await store.patch('GameServer', 'default', 'a', { spec: { counter: 1 } });
    await store.patchStatus('GameServer', 'default', 'a', { phase: 'x' });
    expect(fakeSchema.calls - before).toBe(3);
    expect(isStoreError(await fail(store.patch('GameServer', 'default', 'a', { spec: { counter: 'x' } })), 'Invalid')).toBe(true);
  });
});
