// What KubeStore does beyond the store contract, against a store-only Gantry's /k8s over HTTPS:
// a watch the server ends (timeoutSeconds) goes on from the last version with nothing lost or
// repeated; errors keep the apiserver's words; and an informer over KubeStore survives the apiserver
// going away and coming back (it lists again and catches up).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded } from '../../bin/commands/up.ts';
import { KubeStore } from '../../controller/store/kube-store.ts';
import { KubeEventSink } from '../../controller/events/kube-events.ts';
import { StoreError } from '../../controller/store/errors.ts';
import { Informer } from '../../controller/runtime/informer.ts';
import type { WatchEvent } from '../../controller/store/types.ts';
import { createLogger } from '../../lib/log.ts';
import { server } from '../contract/store.ts';
import { startKubeEndpoint, type KubeEndpoint } from '../helpers/stores.ts';
import { until, waitFor } from '../helpers/wait.ts';

const log = createLogger({ test: 'kube-store' }, 'error');

describe('KubeStore against the dialect', () => {
  let endpoint: KubeEndpoint;
  beforeAll(async () => {
    endpoint = await startKubeEndpoint({ prefix: 'gantry-kube-store-' });
  });
  afterAll(async () => {
    await endpoint?.stop();
  });

  it('a watch the server ends every second goes on from the last version: every change once, in order', async () => {
    const store = new KubeStore({ kubeConfig: endpoint.kubeconfig, kinds: endpoint.gantry.registry, watchTimeoutSeconds: 1, rewatchDelayMs: 20 });
    try {
      const ns = 'resume';
      // Count the watch requests (client-node's Watch), to see the server did end them.
      const watcher = (store as unknown as { watcher: { watch: (...a: unknown[]) => Promise<unknown> } }).watcher;
      const original = watcher.watch.bind(watcher);
      let requests = 0;
      watcher.watch = (...a: unknown[]) => {
        requests++;
        return original(...a);
      };
      const seen: WatchEvent[] = [];
      const w = await store.watch({ kind: 'GameServer', namespace: ns }, (e) => seen.push(e));
      await store.create(server(ns, 'a'));
      for (let i = 0; i < 6; i++) {
        await store.patch('GameServer', ns, 'a', { spec: { displayName: `v${i}` } });
        // Spread over several server-side timeouts: each re-watch must start where the last ended.
        await new Promise((r) => setTimeout(r, 400));
      }
      await waitFor(() => seen.length >= 7, 'every change');
      await new Promise((r) => setTimeout(r, 1200));
      w.stop();
      expect(requests).toBeGreaterThan(2);
      expect(seen.map((e) => e.type)).toEqual(['ADDED', ...Array(6).fill('MODIFIED')]);
      expect(seen.slice(1).map((e) => (e.object.spec as { displayName: string }).displayName)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    } finally {
      await store.close();
    }
  });

  it('refusals carry the apiserver\'s reason, code and field causes; a closed store refuses', async () => {
    const store = new KubeStore({ kubeConfig: endpoint.kubeconfig, kinds: endpoint.gantry.registry });
    const err = await store.create(server('errs', 'x', { state: 'Exploding' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ reason: 'Invalid', code: 422 });
    expect((err as StoreError).causes.map((c) => c.field)).toContain('spec.state');
    await store.close();
    expect(await store.get('GameServer', 'errs', 'x').catch((e: unknown) => e)).toMatchObject({ reason: 'ServiceUnavailable' });
  });

  it('a token the apiserver refuses is Unauthorized, not a crash', async () => {
    const bad = endpoint.kubeconfig.exportConfig().replace(/"token":"[^"]+"/, '"token":"gak_not-a-key"');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromString(bad);
    const store = new KubeStore({ kubeConfig: kc, kinds: endpoint.gantry.registry });
    expect(await store.list('GameServer').catch((e: unknown) => e)).toMatchObject({ reason: 'Unauthorized', code: 401 });
    expect(await store.watch({ kind: 'GameServer', resourceVersion: '0' }, () => {}).catch((e: unknown) => e)).toMatchObject({ code: 401 });
    await store.close();
  });
});

describe('KubeEventSink: core/v1 Events on the apiserver', () => {
  let endpoint: KubeEndpoint;
  beforeAll(async () => {
    endpoint = await startKubeEndpoint({ prefix: 'gantry-kube-events-' });
  });
  afterAll(async () => {
    await endpoint?.stop();
  });

  it('creates the first occurrence, counts repeats with a patch, lists newest first by the apiserver\'s field selectors', async () => {
    const sink = new KubeEventSink({ kubeConfig: endpoint.kubeconfig, component: 'gantry-controller', instance: 'replica-x' });
    const obj = { kind: 'GameServer', namespace: 'ev', name: 'mc', uid: 'uid-ev-1', apiVersion: 'gantry.dev/v1alpha1' };
    const first = await sink.record(obj, 'Normal', 'Started', 'container started');
    expect(first).toMatchObject({ count: 1, reason: 'Started', involvedObject: { kind: 'GameServer', name: 'mc', namespace: 'ev' }, metadata: { namespace: 'ev' } });
    await sink.record(obj, 'Warning', 'Crashed', 'exit 1');
    const again = await sink.record(obj, 'Warning', 'Crashed', 'exit 1');
    expect(again.count).toBe(2);
    const listed = await sink.list({ namespace: 'ev', name: 'mc' });
    expect(listed.map((e) => [e.reason, e.count])).toEqual([['Crashed', 2], ['Started', 1]]);
    expect((await sink.list({ namespace: 'ev', uid: 'uid-ev-1', type: 'Normal' })).map((e) => e.reason)).toEqual(['Started']);
    expect(await sink.list({ name: 'mc', limit: 1 })).toHaveLength(1);
    // What the apiserver holds (kubectl get events reads the same).
    const held = await endpoint.gantry.events.list({ namespace: 'ev', name: 'mc' });
    expect(held.find((e) => e.reason === 'Crashed')?.count).toBe(2);
    await expect(sink.record({ kind: '', name: '' }, 'Normal', 'x', 'y')).rejects.toMatchObject({ reason: 'BadRequest' });
  });

  it('an event the apiserver no longer has is created again on the next repeat', async () => {
    const sink = new KubeEventSink({ kubeConfig: endpoint.kubeconfig });
    const obj = { kind: 'GameNode', name: `gone-${Date.now()}` };
    await sink.record(obj, 'Normal', 'Online', 'agent connected');
    // Forget the name the sink tracks, as if the apiserver had dropped the event (events expire).
    const tracked = (sink as unknown as { tracked: Map<string, { name: string }> }).tracked;
    for (const v of tracked.values()) v.name = 'expired.0';
    const again = await sink.record(obj, 'Normal', 'Online', 'agent connected');
    expect(again.reason).toBe('Online');
  });
});

describe('an informer over KubeStore across an apiserver restart', () => {
  it('lists again when the apiserver is back and sees what changed while it was away', async () => {
    const endpoint = await startKubeEndpoint({ prefix: 'gantry-kube-restart-' });
    const tlsPort = endpoint.gantry.tls!.port;
    const store = new KubeStore({ kubeConfig: endpoint.kubeconfig, kinds: endpoint.gantry.registry, rewatchDelayMs: 50 });
    const informer = new Informer({ store, kind: 'GameServer', namespace: 'restart', log, backoff: { initialMs: 100, maxMs: 500 } });
    let again: Awaited<ReturnType<typeof startEmbedded>> | undefined;
    try {
      await store.create(server('restart', 'before'));
      informer.start();
      await informer.waitForSync();
      expect(informer.get('restart/before')).toBeTruthy();

      await endpoint.gantry.stop();
      // Back on the same data dir and HTTPS port (same CA, same API key), with a change made meanwhile.
      again = await startEmbedded({ dataDir: endpoint.dataDir, port: 0, tlsPort, host: '127.0.0.1', storeOnly: true, sftpPort: false });
      await again.store.create(server('restart', 'after'));
      await again.store.delete('GameServer', 'restart', 'before');
      await until('the informer to catch up', () => !!informer.get('restart/after') && !informer.get('restart/before'), 60_000);
    } finally {
      await informer.stop();
      await store.close();
      await again?.stop();
      await endpoint.stop().catch(() => undefined);
    }
  }, 180_000);
});
