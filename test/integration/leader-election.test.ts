// coordination.k8s.io/v1 Leases as the dialect serves them (the real kubectl and client-node's
// CoordinationV1Api), and LeaderElector over them: one leader among candidates, a released lease
// taken at once, a leader that cannot renew giving up within its renew deadline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { LeaderElector } from '../../controller/coordination/leader-election.ts';
import { toStoreError } from '../../controller/store/kube-store.ts';
import { createLogger } from '../../lib/log.ts';
import { signIn } from '../helpers/api.ts';
import { kubectlFor } from '../helpers/kube.ts';
import { startKubeEndpoint, type KubeEndpoint } from '../helpers/stores.ts';
import { until, waitFor } from '../helpers/wait.ts';
import { startFreezableRelay } from '../helpers/net.ts';

const log = createLogger({ test: 'leader-election' }, 'error');
const FAST = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };

const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return toStoreError(err, 'lease call');
  }
  throw new Error('expected a refusal');
};

describe('Leases in the dialect', () => {
  let endpoint: KubeEndpoint;
  let api: k8s.CoordinationV1Api;
  beforeAll(async () => {
    endpoint = await startKubeEndpoint({ prefix: 'gantry-leases-' });
    api = endpoint.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
  });
  afterAll(async () => {
    await endpoint?.stop();
  });

  it('create, get, update with the read resourceVersion; stale, missing and taken are refused', async () => {
    const now = new k8s.V1MicroTime(Date.now());
    const created = await api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l1' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 10, renewTime: now, acquireTime: now, leaseTransitions: 0 } } });
    expect(created.metadata?.resourceVersion).toBeTruthy();
    expect((await refusal(api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l1' }, spec: {} } }))).reason).toBe('AlreadyExists');
    const read = await api.readNamespacedLease({ name: 'l1', namespace: 'default' });
    expect(read.spec?.holderIdentity).toBe('a');
    const updated = await api.replaceNamespacedLease({ name: 'l1', namespace: 'default', body: { ...read, spec: { ...read.spec, holderIdentity: 'b' } } });
    expect(updated.metadata?.resourceVersion).not.toBe(read.metadata?.resourceVersion);
    // The version read before that update is stale now: exactly the race two candidates run.
    expect((await refusal(api.replaceNamespacedLease({ name: 'l1', namespace: 'default', body: { ...read, spec: { ...read.spec, holderIdentity: 'c' } } }))).reason).toBe('Conflict');
    expect((await refusal(api.replaceNamespacedLease({ name: 'l1', namespace: 'default', body: { metadata: { name: 'l1' }, spec: { holderIdentity: 'c' } } }))).reason).toBe('Invalid');
    expect((await refusal(api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l2' }, spec: { leaseDurationSeconds: -1 } } }))).reason).toBe('Invalid');
    expect((await refusal(api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'Bad Name' }, spec: {} } }))).reason).toBe('Invalid');
    expect((await refusal(api.readNamespacedLease({ name: 'ghost', namespace: 'default' }))).reason).toBe('NotFound');
    expect((await api.readNamespacedLease({ name: 'l1', namespace: 'default' })).spec?.holderIdentity).toBe('b');
    await api.deleteNamespacedLease({ name: 'l1', namespace: 'default' });
    expect((await refusal(api.readNamespacedLease({ name: 'l1', namespace: 'default' }))).reason).toBe('NotFound');
  });

  it('a user without resource.write cannot take a lease; kubectl lists them', async () => {
    const user = await signIn(endpoint.gantry.api, 'lease-reader');
    const kc = new k8s.KubeConfig();
    kc.loadFromString(endpoint.kubeconfig.exportConfig().replace(/"token":"[^"]+"/, `"token":"${user.token}"`));
    const asUser = kc.makeApiClient(k8s.CoordinationV1Api);
    expect((await refusal(asUser.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'mine' }, spec: { holderIdentity: 'me' } } }))).reason).toBe('Forbidden');

    await api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'for-kubectl' }, spec: { holderIdentity: 'someone', leaseDurationSeconds: 15 } } });
    const admin = await signIn(endpoint.gantry.api, 'lease-admin', ['admin']);
    const kubectl = await kubectlFor(endpoint.gantry.tls!, admin.token, 'lease-admin');
    try {
      const r = await kubectl.run(['get', 'leases', '-n', 'default', '-o', 'name']);
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')).toContain('lease.coordination.k8s.io/for-kubectl');
    } finally {
      await kubectl.close();
    }
  });
});

describe('LeaderElector', () => {
  let endpoint: KubeEndpoint;
  beforeAll(async () => {
    endpoint = await startKubeEndpoint({ prefix: 'gantry-elector-' });
  });
  afterAll(async () => {
    await endpoint?.stop().catch(() => undefined);
  });

  const candidate = (identity: string, name: string, events: string[]) =>
    new LeaderElector({
      kubeConfig: endpoint.kubeconfig, namespace: 'default', name, identity, log, ...FAST,
      onStartedLeading: () => void events.push(`${identity} leads`),
      onStoppedLeading: (why) => void events.push(`${identity} stopped: ${why}`),
    });

  it('of three candidates one leads; stopping it releases the lease and another takes it', async () => {
    const events: string[] = [];
    const all = ['a', 'b', 'c'].map((id) => candidate(id, 'three', events));
    all.forEach((e) => e.start());
    await waitFor(() => all.some((e) => e.isLeader), 'a leader');
    // A few renewal rounds: still exactly one.
    await new Promise((r) => setTimeout(r, FAST.retryPeriodMs * 5));
    expect(all.filter((e) => e.isLeader)).toHaveLength(1);
    const first = all.find((e) => e.isLeader)!;
    await first.stop();
    const api = endpoint.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    await until('another candidate to lead', () => all.some((e) => e !== first && e.isLeader), 10_000);
    expect(all.filter((e) => e.isLeader)).toHaveLength(1);
    const second = all.find((e) => e.isLeader)!;
    const lease = await api.readNamespacedLease({ name: 'three', namespace: 'default' });
    expect(lease.spec?.leaseTransitions).toBe(1);
    expect(events.filter((e) => e.endsWith('leads'))).toHaveLength(2);
    for (const e of all) if (e !== first) await e.stop();
    expect(second.isLeader).toBe(false);
  });

  it('a leader whose renewal hangs (the apiserver answers nothing) gives up on time, not when the call returns', async () => {
    // A TCP relay to the endpoint that can be frozen: connections stay open, nothing is answered.
    const target = new URL(endpoint.kubeconfig.getCurrentCluster()!.server);
    const relay = await startFreezableRelay(target.hostname, Number(target.port));
    const kc = new k8s.KubeConfig();
    kc.loadFromString(endpoint.kubeconfig.exportConfig().replace(`"server":"${target.origin}`, `"server":"https://127.0.0.1:${relay.port}`));
    const events: string[] = [];
    const hung = new LeaderElector({
      kubeConfig: kc, namespace: 'default', name: 'hung', identity: 'hung', log, ...FAST,
      onStartedLeading: () => void events.push('leads'),
      onStoppedLeading: (why) => void events.push(`stopped: ${why}`),
    });
    try {
      hung.start();
      await waitFor(() => hung.isLeader, 'the candidate to lead');
      relay.freeze();
      await waitFor(() => events.some((e) => e.startsWith('stopped')), 'the leader to give up while its renewal hangs', 15_000);
      expect(hung.isLeader).toBe(false);
      expect(events.at(-1)).toMatch(/renew deadline/);
    } finally {
      await hung.stop();
      await relay.close();
    }
  });

  it('a leader that cannot reach the apiserver gives up within its renew deadline', async () => {
    const events: string[] = [];
    const solo = candidate('solo', 'solo', events);
    solo.start();
    await waitFor(() => solo.isLeader, 'solo to lead');
    await endpoint.gantry.stop();
    await waitFor(() => events.some((e) => e.startsWith('solo stopped')), 'the leader to give up', 15_000);
    expect(solo.isLeader).toBe(false);
    expect(events.at(-1)).toMatch(/not renewed within the renew deadline/);
    await solo.stop();
  });
});
