// coordination.k8s.io/v1 Leases at the paths an apiserver serves them, for leader election among
// `gantry controller` replicas that use this Gantry as their apiserver. get, list, create, update
// (resourceVersion required: optimistic concurrency), merge patch, delete. Reading needs
// resource.read, writing resource.write. Renewals are not audited: a holder renews every few seconds,
// and an apiserver's audit policy leaves leases out for the same reason.
import type { Hono } from 'hono';
import { mergePatch } from '../../controller/store/merge-patch.ts';
import { nameProblem } from '../../controller/store/metadata.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { can } from '../rbac/access.ts';
import type { KubeContext, KubeDeps, KubeEnv } from './context.ts';
import type { LeaseStore } from './lease-store.ts';
import { readBody, requireObjectBodyType } from './negotiate.ts';
import { kubeError, statusReply } from './status.ts';

export const COORDINATION_GROUP = 'coordination.k8s.io';
export const COORDINATION_VERSION = 'v1';
export const LEASE_RESOURCES = [
  { name: 'leases', singularName: 'lease', namespaced: true, kind: 'Lease', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'] },
];

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const PATCH_RETRIES = 5;

export function mountLeases(app: Hono<KubeEnv>, deps: KubeDeps, leases: LeaseStore): void {
  const { log } = deps.svc;
  const target = (name?: string) => ({ resource: 'leases', group: COORDINATION_GROUP, name });

  const allowed = (c: KubeContext, write: boolean) => {
    const p = c.get('principal');
    const perm = write ? 'resource.write' : 'resource.read';
    if (!can(p, perm)) throw kubeError('Forbidden', `leases.${COORDINATION_GROUP} is forbidden: User "${p.username}" cannot ${write ? 'write' : 'read'} leases (needs ${perm})`);
  };
  const namespaceOf = (c: KubeContext) => {
    const ns = c.req.param('ns')!;
    const problem = nameProblem(ns);
    if (problem) throw kubeError('BadRequest', `namespace ${problem}`);
    return ns;
  };
  const dryRun = (c: KubeContext) => {
    const values = c.req.queries('dryRun') ?? [];
    for (const v of values) if (v !== 'All') throw kubeError('BadRequest', `Invalid dryRun value: "${v}" (only All is supported)`);
    return values.length > 0;
  };
  const handle = (write: boolean, fn: (c: KubeContext) => Promise<Response>) => async (c: KubeContext) => {
    try {
      allowed(c, write);
      return await fn(c);
    } catch (err) {
      return statusReply(c, err, log, target(c.req.param('name')));
    }
  };
  const objectBody = async (c: KubeContext, ns: string, name?: string) => {
    requireObjectBodyType(c);
    const body = await readBody(c, 'a Lease object');
    if (!isObject(body)) throw kubeError('BadRequest', 'the request body must be a Lease object');
    if (body.apiVersion !== undefined && body.apiVersion !== `${COORDINATION_GROUP}/${COORDINATION_VERSION}`) throw kubeError('BadRequest', `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${COORDINATION_GROUP}/${COORDINATION_VERSION})`);
    if (body.kind !== undefined && body.kind !== 'Lease') throw kubeError('BadRequest', `the kind in the data (${String(body.kind)}) does not match the expected kind (Lease)`);
    const meta = isObject(body.metadata) ? body.metadata : {};
    if (meta.namespace !== undefined && meta.namespace !== ns) throw kubeError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    if (name !== undefined && meta.name !== undefined && meta.name !== name) throw kubeError('BadRequest', `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    body.metadata = { ...meta, ...(name !== undefined ? { name } : {}) };
    return body;
  };

  const base = `/apis/${COORDINATION_GROUP}/${COORDINATION_VERSION}`;
  app.get(`${base}/leases`, handle(false, async (c) => {
    const list = await leases.list();
    return c.json({ apiVersion: `${COORDINATION_GROUP}/${COORDINATION_VERSION}`, kind: 'LeaseList', metadata: { resourceVersion: list.resourceVersion }, items: list.items });
  }));
  app.get(`${base}/namespaces/:ns/leases`, handle(false, async (c) => {
    if (c.req.query('watch') === 'true' || c.req.query('watch') === '1') throw kubeError('MethodNotAllowed', 'watching leases is not supported by this server: get the lease again');
    const list = await leases.list(namespaceOf(c));
    return c.json({ apiVersion: `${COORDINATION_GROUP}/${COORDINATION_VERSION}`, kind: 'LeaseList', metadata: { resourceVersion: list.resourceVersion }, items: list.items });
  }));
  app.post(`${base}/namespaces/:ns/leases`, handle(true, async (c) => {
    const ns = namespaceOf(c);
    return c.json(await leases.create(ns, await objectBody(c, ns), dryRun(c)), 201);
  }));
  app.get(`${base}/namespaces/:ns/leases/:name`, handle(false, async (c) => c.json(await leases.get(namespaceOf(c), c.req.param('name')!))));
  app.put(`${base}/namespaces/:ns/leases/:name`, handle(true, async (c) => {
    const ns = namespaceOf(c);
    const name = c.req.param('name')!;
    return c.json(await leases.update(ns, name, await objectBody(c, ns, name), dryRun(c)));
  }));
  app.patch(`${base}/namespaces/:ns/leases/:name`, handle(true, async (c) => {
    const ns = namespaceOf(c);
    const name = c.req.param('name')!;
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/merge-patch+json') throw kubeError('UnsupportedMediaType', 'leases take a merge patch (application/merge-patch+json) here');
    const patch = await readBody(c, 'a patch');
    if (!isObject(patch)) throw kubeError('BadRequest', 'a merge patch must be a JSON object');
    const wanted = isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    for (let attempt = 0; ; attempt++) {
      const cur = await leases.get(ns, name);
      const next = mergePatch(cur, patch) as Record<string, any>;
      next.metadata = { ...next.metadata, name, namespace: ns, resourceVersion: wanted ?? cur.metadata.resourceVersion };
      try {
        return c.json(await leases.update(ns, name, next, dryRun(c)));
      } catch (err) {
        if (isStoreError(err, 'Conflict') && wanted === undefined && attempt < PATCH_RETRIES) continue;
        throw err;
      }
    }
  }));
  app.delete(`${base}/namespaces/:ns/leases/:name`, handle(true, async (c) => {
    const text = await c.req.text();
    let pre: Record<string, unknown> = {};
    if (text.trim()) {
      try {
        const v = JSON.parse(text) as unknown;
        if (isObject(v) && isObject(v.preconditions)) pre = v.preconditions;
      } catch (err) {
        throw kubeError('BadRequest', `the DeleteOptions body is not valid JSON: ${(err as Error).message}`);
      }
    }
    return c.json(await leases.delete(namespaceOf(c), c.req.param('name')!, { resourceVersion: typeof pre.resourceVersion === 'string' ? pre.resourceVersion : undefined, dryRun: dryRun(c) }));
  }));
}
