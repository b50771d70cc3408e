// The store with the real CRD registry (crds/*.yaml through ajv) instead of the test fake.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrdRegistry } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import { StoreError } from '../../controller/store/errors.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';

describe('SqliteStore with the real CrdRegistry', () => {
  let dir: string;
  let store: SqliteStore;
  let registry: CrdRegistry;
  beforeAll(async () => {
    registry = await CrdRegistry.load();
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-store-crd-'));
    // CrdRegistry is a SchemaValidator as it is: get(kind) → KindInfo, validate(obj) → FieldError[].
    store = await SqliteStore.open({ path: path.join(dir, 'g.db'), schema: registry });
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const server = (name: string, spec: Record<string, unknown> = {}): Resource => ({
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'GameServer',
    metadata: { name },
    spec: { templateRef: 'paper', ...spec },
  });

  it('stores schema defaults, drops status on create, keeps scope rules', async () => {
    const c = await store.create({ ...server('mc'), status: { phase: 'running' } });
    expect(c.spec).toMatchObject({ templateRef: 'paper', state: 'Stopped' });
    expect(c.status).toBeUndefined();
    expect(c.metadata.namespace).toBe('default');
    const n = await store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameNode',
      metadata: { name: 'node-1', namespace: 'nope' },
      spec: { address: '10.0.0.1' },
    });
    expect(n.metadata.namespace).toBeUndefined();
  });

  it('reports schema violations as Invalid with one cause per field', async () => {
    const err = await store.create({ ...server('Bad_Name', { state: 'Exploding', memroyMb: 1 }) }).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.reason).toBe('Invalid');
    const fields = (err as StoreError).causes.map((c) => c.field);
    expect(fields.filter((f) => f === 'metadata.name')).toHaveLength(1);
    expect(fields).toContain('spec.state');
    expect(fields.some((f) => f.includes('memroyMb'))).toBe(true);
  });

  it('validates status writes against the schema and leaves spec and generation alone', async () => {
    const s = await store.patchStatus('GameServer', 'default', 'mc', { phase: 'running', observedGeneration: 1 });
    expect(s.status).toMatchObject({ phase: 'running', observedGeneration: 1 });
    expect(s.metadata.generation).toBe(1);
    const bad = await store.patchStatus('GameServer', 'default', 'mc', { phase: 'flying' }).catch((e) => e);
    expect(bad.reason).toBe('Invalid');
    expect(bad.causes.map((c: { field: string }) => c.field)).toContain('status.phase');
  });
});
