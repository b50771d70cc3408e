// @kubernetes/client-node 1.4 (the design card's client) against `gantry up`'s dialect over HTTPS
// with Gantry's CA: CRUD through CustomObjectsApi, errors as ApiException with a Status body, core
// Events through CoreV1Api, and a watch and an informer seeing changes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { kubeconfigFor } from '../../bin/commands/kubeconfig.ts';
import { signInAdmin } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const group = 'gantry.dev';
const version = 'v1alpha1';
const plural = 'gameservers';
const namespace = 'default';
const body = (name: string) => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name }, spec: { templateRef: 'testgame' } });

describe('@kubernetes/client-node against the dialect', () => {
  let g: Embedded;
  let dataDir: string;
  let kc: k8s.KubeConfig;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-kube-cn-'));
    g = await startEmbedded({ dataDir, port: 0, tlsPort: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples') });
    const admin = await signInAdmin(g.api);
    kc = new k8s.KubeConfig();
    kc.loadFromString(stringify(kubeconfigFor({ server: `${g.tls!.url}/k8s`, token: admin.token, username: 'admin', certificateAuthorityData: Buffer.from(g.tls!.ca).toString('base64') })));
  });
  afterAll(async () => {
    await g?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates, lists, patches and deletes custom objects; errors carry the Status', async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const created = await api.createNamespacedCustomObject({ group, version, namespace, plural, body: body('kube-cn-1') });
    expect(created.metadata.uid).toBeTruthy();
    const list = await api.listNamespacedCustomObject({ group, version, namespace, plural });
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toContain('kube-cn-1');
    const patched = await api.patchNamespacedCustomObject(
      { group, version, namespace, plural, name: 'kube-cn-1', body: { spec: { displayName: 'from client-node' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(patched.spec.displayName).toBe('from client-node');
    const err = await api.getNamespacedCustomObject({ group, version, namespace, plural, name: 'kube-cn-missing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<string>).code).toBe(404);
    expect(JSON.parse((err as k8s.ApiException<string>).body)).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const nodes = await api.listClusterCustomObject({ group, version, plural: 'servertemplates' });
    expect(nodes.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toContain('testgame');
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const events = await core.listNamespacedEvent({ namespace });
    expect(Array.isArray(events.items)).toBe(true);
    expect((await core.listNamespace()).items.map((n) => n.metadata?.name)).toContain('default');
  });

  it('watches and keeps an informer in step', async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const listPath = `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const rv = (await api.listNamespacedCustomObject({ group, version, namespace, plural })).metadata.resourceVersion;
    const ctrl = await watch.watch(listPath, { resourceVersion: rv, allowWatchBookmarks: true }, (phase, obj) => seen.push(`${phase} ${obj.metadata.name}`), () => undefined);

    const informer = k8s.makeInformer(kc, listPath, () => api.listNamespacedCustomObject({ group, version, namespace, plural }) as never);
    const informed = new Set<string>();
    informer.on('add', (o: k8s.KubernetesObject) => informed.add(o.metadata!.name!));
    informer.on('delete', (o: k8s.KubernetesObject) => informed.delete(o.metadata!.name!));
    await informer.start();

    await api.createNamespacedCustomObject({ group, version, namespace, plural, body: body('kube-cn-2') });
    await api.deleteNamespacedCustomObject({ group, version, namespace, plural, name: 'kube-cn-2' });
    await until('the watch to see ADDED and the deletion', () => seen.includes('ADDED kube-cn-2') && seen.some((s) => s.endsWith('kube-cn-2') && s !== 'ADDED kube-cn-2'));
    await api.createNamespacedCustomObject({ group, version, namespace, plural, body: body('kube-cn-3') });
    await until('the informer to hold kube-cn-3', () => informed.has('kube-cn-3'));
    expect(informer.list().map((o) => o.metadata!.name)).toEqual(expect.arrayContaining(['kube-cn-1', 'kube-cn-3']));
    ctrl.abort();
    await informer.stop();
  });
});
