// The store's fieldSelector (list and watch) and dryRun writes, over a real SQLite file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import type { WatchEvent } from '../../controller/store/types.ts';
import type { Resource } from '../../crds/resource.ts';
import { until } from '../helpers/wait.ts';

const gs = (name: string, namespace = 'default'): Resource => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace }, spec: { templateRef: 'testgame' } });

describe('store field selectors and dry runs', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await openTestEnv();
  });
  afterEach(() => env.close());

  it('lists and watches by metadata.name and metadata.namespace, and refuses other fields', async () => {
    for (const [n, ns] of [['a', 'default'], ['b', 'default'], ['a', 'team']] as const) await env.store.create(gs(n, ns));
    const names = async (fieldSelector: string, namespace?: string) => (await env.store.list('GameServer', { fieldSelector, namespace })).items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    expect(await names('metadata.name=a')).toEqual(['default/a', 'team/a']);
    expect(await names('metadata.name==a,metadata.namespace!=team')).toEqual(['default/a']);
    expect(await names('metadata.name!=a', 'default')).toEqual(['default/b']);
    const page = await env.store.list('GameServer', { fieldSelector: 'metadata.name=a', limit: 1 });
    expect(page.items).toHaveLength(1);
    await expect(env.store.list('GameServer', { fieldSelector: 'metadata.name=b', limit: 1, continue: page.continue })).rejects.toThrow(/different query/);
    await expect(env.store.list('GameServer', { fieldSelector: 'spec.state=Running' })).rejects.toThrow(/field label not supported: "spec.state"/);
    await expect(env.store.list('GameServer', { fieldSelector: 'metadata.name' })).rejects.toThrow(/not field=value/);

    const seen: WatchEvent[] = [];
    const w = await env.store.watch({ kind: 'GameServer', fieldSelector: 'metadata.name=b', resourceVersion: '0' }, (ev) => void seen.push(ev));
    await env.store.patch('GameServer', 'default', 'a', { spec: { displayName: 'x' } });
    await env.store.patch('GameServer', 'default', 'b', { spec: { displayName: 'y' } });
    await until('the watch to see b twice', () => seen.length >= 2);
    w.stop();
    expect(seen.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b', 'MODIFIED b']);
  });

  it('runs every check of a dry run and stores nothing', async () => {
    const rv = await env.store.currentResourceVersion();
    const dry = await env.store.create(gs('d'), { dryRun: true });
    expect(dry.metadata.uid).toBeTruthy();
    expect(dry.metadata.resourceVersion).toBeUndefined();
    expect(await env.store.currentResourceVersion()).toBe(rv);
    await expect(env.store.get('GameServer', 'default', 'd')).rejects.toThrow(/not found/);
    const real = await env.store.create(gs('d'));
    await expect(env.store.create(gs('d'), { dryRun: true })).rejects.toThrow(/already exists/);
    const patched = await env.store.patch('GameServer', 'default', 'd', { spec: { displayName: 'dry' } }, { dryRun: true });
    expect(patched.spec).toMatchObject({ displayName: 'dry' });
    expect(patched.metadata).toMatchObject({ resourceVersion: real.metadata.resourceVersion, generation: 2 });
    await expect(env.store.patch('GameServer', 'default', 'd', { spec: { state: 'Exploded' } }, { dryRun: true })).rejects.toThrow(/must be one of/);
    await env.store.delete('GameServer', 'default', 'd', { dryRun: true });
    expect(await env.store.get('GameServer', 'default', 'd')).toEqual(real);
  });
});
