// The operations layer over a real SQLite store and the shared informers: waits served by one
// informer watch however many wait, goals of the power actions (status written as the GameServer
// controller would), the creation checks with their codes, and the identity resolvers.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Operations } from '../../controller/operations/index.ts';
import { OpError } from '../../controller/operations/errors.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import type { GameServer } from '../../crds/types.ts';
import { byName, byUid, byUidOrName } from '../../api/ops/identity.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';

const server = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'tiny', ...spec } });
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: OpError) => `${e.code}:${e.reason}`);

describe('operations layer', () => {
  let env: TestEnv;
  let manager: Manager;
  let ops: Operations;
  let watches: number;

  beforeEach(async () => {
    env = await openTestEnv();
    const watch = env.store.watch.bind(env.store);
    watches = 0;
    env.store.watch = (o, cb) => {
      watches++;
      return watch(o, cb);
    };
    manager = new Manager({ store: env.store, log: env.log });
    ops = new Operations({ store: env.store, informers: manager });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'tiny' }, spec: { image: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh', ports: [{ containerPort: 25565 }], resources: { memoryMb: 128, cpuCores: 0.5, diskMb: 0 } } });
    // The process's shared GameServer informer, as gantry up has it (the controllers use it).
    manager.informer<GameServer>('GameServer');
    await manager.start();
  });
  afterEach(async () => {
    await manager.stop();
    await env.close();
  });

  it('serves 20 concurrent waits from the one shared informer watch', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `w${i}`);
    for (const n of names) await env.store.create(server(n));
    const before = watches;
    const changes = await Promise.all(names.map(async (n) => ops.servers.start((await ops.servers.get('default', n))!)));
    const waits = Promise.all(changes.map((c) => ops.servers.wait(c, { timeoutMs: 30_000 })));
    await expect.poll(() => ops.waits.pending).toBe(20);
    for (const n of names) await env.store.patchStatus('GameServer', 'default', n, { phase: 'running' });
    expect((await waits).map((w) => w.reached)).toEqual(names.map(() => true));
    expect(watches - before).toBe(0); // no store watch per wait: the GameServer informer's is shared
  });

  it('ends a wait when the goal is reached, when it cannot be, when the server is deleted, and at the timeout', async () => {
    for (const n of ['reach', 'hope', 'gone', 'slow']) await env.store.create(server(n));
    const watchesBefore = watches;
    const start = async (n: string) => {
      const change = await ops.servers.start((await ops.servers.get('default', n))!);
      return ops.servers.wait(change, { timeoutMs: n === 'slow' ? 200 : 30_000 });
    };
    const waiting = Promise.all(['reach', 'hope', 'gone', 'slow'].map(start));
    await new Promise((r) => setTimeout(r, 50));
    // The GameServer controller's status writes: running, a stop edit (hopeless), a delete.
    await env.store.patchStatus('GameServer', 'default', 'reach', { phase: 'starting' });
    await env.store.patchStatus('GameServer', 'default', 'reach', { phase: 'running' });
    await env.store.patch('GameServer', 'default', 'hope', { spec: { state: 'Stopped' } });
    await env.store.delete('GameServer', 'default', 'gone');
    const [reach, hope, gone, slow] = await waiting;
    expect(reach).toMatchObject({ reached: true, settled: true });
    expect(reach.object?.status?.phase).toBe('running');
    expect(hope).toMatchObject({ reached: false, settled: true, deleted: false });
    expect(gone).toMatchObject({ reached: false, settled: true, deleted: true, object: undefined });
    expect(slow).toMatchObject({ reached: false, settled: false });
    expect(watches - watchesBefore).toBe(0);
    expect(ops.waits.pending).toBe(0);
  });

  it('a wait ignores cached versions older than the write it waits on', async () => {
    await env.store.create(server('stale'));
    await env.store.patchStatus('GameServer', 'default', 'stale', { phase: 'stopped', observedGeneration: 1 });
    const s = (await ops.servers.get('default', 'stale'))!;
    // Running, then stopped: the cache may still hold the stopped status of generation 1 when the wait starts.
    await env.store.patch('GameServer', 'default', 'stale', { spec: { state: 'Running' } });
    await env.store.patchStatus('GameServer', 'default', 'stale', { phase: 'running', observedGeneration: 2 });
    const change = await ops.servers.stop((await ops.servers.get('default', 'stale'))!);
    expect(change.server.metadata.generation).toBe(3);
    expect(s.metadata.generation).toBe(1);
    const r = ops.servers.wait(change, { timeoutMs: 300 });
    expect(await r).toMatchObject({ reached: false, settled: false });
    await env.store.patchStatus('GameServer', 'default', 'stale', { phase: 'stopped', observedGeneration: 3 });
    expect(await ops.servers.wait(change, { timeoutMs: 30_000 })).toMatchObject({ reached: true });
  });

  it('refuses with coded errors: taken name, no room on the node, a held host port, deleting a running server, suspending twice', async () => {
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'small' }, spec: { address: 'small.example', capacity: { memoryMb: 256, cpuCores: 1, diskMb: 1000 } } });
    const input = { namespace: 'default', templateRef: 'tiny', owner: 'u1', nodeName: 'small' };
    const a = await ops.servers.create({ ...input, name: 'a', ports: [{ containerPort: 25565, hostPort: 30001, protocol: 'TCP' }] }, { canEditLocked: false });
    expect(a.spec?.nodeName).toBe('small');
    expect(await codeOf(ops.servers.create({ ...input, name: 'a' }, { canEditLocked: false }))).toBe('conflict:already_exists');
    expect(await codeOf(ops.servers.create({ ...input, name: 'b', resources: { memoryMb: 512 } }, { canEditLocked: false }))).toBe('insufficient_resources:insufficient_resources');
    expect(await codeOf(ops.servers.create({ ...input, name: 'c', ports: [{ containerPort: 25565, hostPort: 30001, protocol: 'TCP' }] }, { canEditLocked: false }))).toBe('conflict:port_unavailable');
    expect(await codeOf(ops.servers.create({ ...input, name: 'd', templateRef: 'nope' }, { canEditLocked: false }))).toBe('not_found:not_found');
    await env.store.patch('GameServer', 'default', 'a', { spec: { state: 'Running' } });
    expect(await codeOf(ops.servers.delete((await ops.servers.get('default', 'a'))!))).toBe('invalid:server_not_stopped');
    const suspended = await ops.servers.suspend((await ops.servers.get('default', 'a'))!, { by: 'staff' });
    expect(await codeOf(ops.servers.suspend(suspended, { by: 'staff' }))).toBe('conflict:already_suspended');
    expect(await codeOf(ops.nodes.delete(await ops.nodes.require('small')))).toBe('invalid:node_has_servers');
    expect(await codeOf(ops.templates.delete(await ops.templates.require('tiny')))).toBe('conflict:template_in_use');
  });

  it('resolves server ids by name, by uid, or either; a re-created name is another uid', async () => {
    const deps = { servers: ops.servers, informers: manager };
    const first = await env.store.create<GameServer>(server('named'));
    const names = byName(deps, 'default');
    const uids = byUid(deps, 'default');
    const either = byUidOrName(deps, 'default');
    const cacheHas = (uid: string) => manager.informer<GameServer>('GameServer').list().some((s) => s.metadata.uid === uid);
    await expect.poll(() => cacheHas(first.metadata.uid!)).toBe(true);
    expect((await names.resolve('named'))?.metadata.uid).toBe(first.metadata.uid);
    expect((await uids.resolve(first.metadata.uid!))?.metadata.name).toBe('named');
    expect((await either.resolve(first.metadata.uid!.toUpperCase()))?.metadata.name).toBe('named');
    expect((await either.resolve('named'))?.metadata.uid).toBe(first.metadata.uid);
    expect(await uids.resolve('named')).toBeUndefined();
    expect(await uids.resolve('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await byUid(deps, 'elsewhere').resolve(first.metadata.uid!)).toBeUndefined();
    expect(either.idOf(first)).toBe(first.metadata.uid);

    await env.store.delete('GameServer', 'default', 'named');
    const second = await env.store.create<GameServer>(server('named'));
    await expect.poll(() => cacheHas(second.metadata.uid!)).toBe(true);
    expect(await uids.resolve(first.metadata.uid!)).toBeUndefined();
    expect((await uids.resolve(second.metadata.uid!))?.metadata.name).toBe('named');
  });
});
