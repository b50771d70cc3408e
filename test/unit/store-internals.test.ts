// Pure pieces of the store: how a change looks through a watch filter, the body cache, metadata rules.
import { describe, expect, it } from 'vitest';
import { BodyCache } from '../../controller/store/body-cache.ts';
import { parseLabelSelector } from '../../controller/store/label-selector.ts';
import { canonicalMeta, generateNameSuffix, validateMetadata } from '../../controller/store/metadata.ts';
import { eventType, type Change } from '../../controller/store/watchers.ts';

const change = (over: Partial<Change>): Change => ({
  rv: 1,
  type: 'MODIFIED',
  kind: 'GameServer',
  namespace: 'default',
  name: 'a',
  body: '{}',
  labels: { app: 'mc' },
  ...over,
});

describe('eventType', () => {
  const all = { selector: parseLabelSelector('') };
  const mc = { selector: parseLabelSelector('app=mc') };
  it('filters by kind and namespace', () => {
    expect(eventType({ ...all, kind: 'GameNode' }, change({}))).toBeUndefined();
    expect(eventType({ ...all, namespace: 'x' }, change({}))).toBeUndefined();
    expect(eventType({ ...all, kind: 'GameServer', namespace: 'default' }, change({}))).toBe('MODIFIED');
  });
  it('turns selector transitions into ADDED / DELETED', () => {
    expect(eventType(mc, change({}))).toBe('MODIFIED');
    expect(eventType(mc, change({ prevBody: '{}', prevLabels: { app: 'mc' } }))).toBe('MODIFIED');
    expect(eventType(mc, change({ prevBody: '{}', prevLabels: { app: 'x' } }))).toBe('ADDED');
    expect(eventType(mc, change({ labels: { app: 'x' }, prevBody: '{}', prevLabels: { app: 'mc' } }))).toBe('DELETED');
    expect(eventType(mc, change({ labels: {}, prevBody: '{}', prevLabels: undefined }))).toBeUndefined();
    expect(eventType(mc, change({ type: 'ADDED', labels: undefined }))).toBeUndefined();
    expect(eventType(mc, change({ type: 'DELETED' }))).toBe('DELETED');
  });
});

describe('BodyCache', () => {
  it('evicts the least recently used beyond capacity; capacity 0 caches nothing', () => {
    const c = new BodyCache(2);
    c.set('a', '1');
    c.set('b', '2');
    expect(c.get('a')).toBe('1'); // a is now the most recent
    c.set('c', '3');
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('1');
    c.delete('a');
    expect(c.size).toBe(1);
    const none = new BodyCache(0);
    none.set('a', '1');
    expect(none.get('a')).toBeUndefined();
    expect(BodyCache.key('K', 'ns', 'n')).not.toBe(BodyCache.key('K', 'n', 'sn'));
  });
});

describe('metadata', () => {
  it('canonical form drops empty collections and unknown fields, in a fixed order', () => {
    const m = canonicalMeta({ labels: {}, finalizers: [], name: 'a', namespace: 'x', selfLink: '/x' } as never);
    expect(m).toEqual({ name: 'a', namespace: 'x' });
    expect(Object.keys(canonicalMeta({ uid: 'u', name: 'a', generation: 1 } as never))).toEqual(['name', 'uid', 'generation']);
  });
  it('validates names, namespaces, labels, annotations, finalizers and owner references', () => {
    expect(validateMetadata({ name: 'ok-1.x' }, false)).toEqual([]);
    expect(validateMetadata({ name: 'ok', namespace: 'default' }, true)).toEqual([]);
    const errs = validateMetadata(
      {
        name: '-bad',
        namespace: 'a.b',
        annotations: { k: 5 as unknown as string },
        ownerReferences: [
          { apiVersion: 'v', kind: 'K', name: 'n', uid: 'u', controller: true },
          { apiVersion: 'v', kind: 'K', name: 'n', uid: 'u', controller: true },
        ],
      },
      true,
    ).map((e) => e.field);
    expect(errs).toEqual(['metadata.name', 'metadata.namespace', 'metadata.annotations[k]', 'metadata.ownerReferences[1].uid', 'metadata.ownerReferences']);
  });
  it('generateName suffixes are 5 unambiguous characters', () => {
    for (let i = 0; i < 50; i++) expect(generateNameSuffix()).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });
});
