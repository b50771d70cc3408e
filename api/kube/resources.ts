// The verbs on Gantry's kinds, at the paths an apiserver serves custom resources under:
//   /apis/gantry.dev/v1alpha1[/namespaces/NS]/PLURAL[/NAME[/status]]
// get, list, watch, create, update, patch (merge and JSON patch), delete, and the status
// subresource. Every write is: read the current object, build what it becomes, authorise that
// change (access.ts), write it with the read resourceVersion as precondition (retrying a patch a few
// times when a controller wrote in between, as an apiserver's patch loop does), audit.
import type { Hono } from 'hono';
import jsonpatch from 'fast-json-patch';
import type { KindInfo } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import { badRequest, conflict, invalid, isStoreError } from '../../controller/store/errors.ts';
import { mergePatch } from '../../controller/store/merge-patch.ts';
import { PATCH_CONTENT_TYPES } from '../../crds/openapi.ts';
import { auditWrite, type KubeContext, type KubeDeps, type KubeEnv } from './context.ts';
import { negotiate, readBody, requireObjectBodyType } from './negotiate.ts';
import { kubeError, statusReply, type Target } from './status.ts';
import { crdColumns, toTable } from './table.ts';
import { watchResponse } from './watch.ts';
import type { Verb } from './access.ts';

const PATCH_RETRIES = 5;

interface Located {
  info: KindInfo;
  /** Namespace from the path (undefined: cluster-scoped, or every namespace). */
  ns: string | undefined;
  name?: string;
  status: boolean;
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function mountResources(app: Hono<KubeEnv>, deps: KubeDeps): void {
  const { svc, access } = deps;
  const { store, registry, log } = svc;

  const notServed = () => kubeError('NotFound', 'the server could not find the requested resource');

  /** Maps the path to a kind and scope, refusing what an apiserver would not route. */
  const locate = (c: KubeContext): Located => {
    const { group, version, ns, plural, name, sub } = c.req.param() as Record<string, string | undefined>;
    const info = registry.kinds().find((k) => k.plural === plural && k.group === group && k.version === version);
    if (!info) throw notServed();
    if (ns !== undefined && info.scope === 'Cluster') throw notServed();
    if (ns === undefined && info.scope === 'Namespaced' && name !== undefined) throw notServed();
    if (sub !== undefined && (sub !== 'status' || !info.hasStatusSubresource)) throw notServed();
    return { info, ns, name, status: sub === 'status' };
  };

  const target = (loc: Located | undefined, name?: string): Target | undefined =>
    loc ? { resource: loc.info.plural, group: loc.info.group, name: name ?? loc.name } : undefined;

  const auditType = (info: KindInfo) => (info.kind === 'GameServer' ? 'server' : info.kind.toLowerCase());
  const auditId = (info: KindInfo, ns: string | undefined, name: string) => (info.scope === 'Namespaced' ? `${ns ?? 'default'}/${name}` : name);

  const dryRunOf = (c: KubeContext): boolean => {
    const values = c.req.queries('dryRun') ?? [];
    for (const v of values) if (v !== 'All') throw kubeError('BadRequest', `Invalid dryRun value: "${v}" (only All is supported)`);
    return values.length > 0;
  };

  /** Runs a write verb: authorisation and store errors become Status bodies; every outcome is audited. */
  const write = (verb: Verb, fn: (c: KubeContext, loc: Located, ctx: { action: string; name?: string; dryRun: boolean }) => Promise<Response>) =>
    async (c: KubeContext): Promise<Response> => {
      let loc: Located | undefined;
      const ctx = { action: `kubernetes.${verb}`, name: undefined as string | undefined, dryRun: false };
      let res: Response;
      try {
        loc = locate(c);
        ctx.name = loc.name;
        ctx.dryRun = dryRunOf(c);
        res = await fn(c, loc, ctx);
      } catch (err) {
        res = statusReply(c, err, log, target(loc, ctx.name));
      }
      if (loc && !ctx.dryRun) {
        auditWrite(c, deps, { action: ctx.action, resourceType: auditType(loc.info), resourceId: auditId(loc.info, loc.ns, ctx.name ?? ''), metadata: { verb, kind: loc.info.kind } }, res.status);
      }
      return res;
    };

  const read = (fn: (c: KubeContext, loc: Located) => Promise<Response>) => async (c: KubeContext): Promise<Response> => {
    let loc: Located | undefined;
    try {
      loc = locate(c);
      return await fn(c, loc);
    } catch (err) {
      return statusReply(c, err, log, target(loc));
    }
  };

  /** The body of create/update: an object of this kind, its name and namespace agreeing with the URL. */
  const objectBody = async (c: KubeContext, loc: Located): Promise<Resource> => {
    requireObjectBodyType(c);
    const body = await readBody(c, `a ${loc.info.kind} object`);
    if (!isObject(body)) throw kubeError('BadRequest', `the request body must be a ${loc.info.kind} object, not ${Array.isArray(body) ? 'an array' : typeof body}`);
    if (body.apiVersion !== undefined && body.apiVersion !== loc.info.apiVersion) {
      throw kubeError('BadRequest', `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${loc.info.apiVersion})`);
    }
    if (body.kind !== undefined && body.kind !== loc.info.kind) {
      throw kubeError('BadRequest', `the kind in the data (${String(body.kind)}) does not match the expected kind (${loc.info.kind})`);
    }
    body.apiVersion = loc.info.apiVersion;
    body.kind = loc.info.kind;
    if (body.metadata === undefined) body.metadata = {};
    if (!isObject(body.metadata)) throw invalid(loc.info.kind, '', [{ field: 'metadata', message: 'must be an object' }]);
    if (loc.name !== undefined) {
      if (body.metadata.name !== undefined && body.metadata.name !== loc.name) {
        throw kubeError('BadRequest', `the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${loc.name})`);
      }
      body.metadata.name = loc.name;
    }
    if (loc.info.scope === 'Namespaced') {
      if (body.metadata.namespace !== undefined && body.metadata.namespace !== loc.ns) {
        throw kubeError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      body.metadata.namespace = loc.ns;
    }
    return body as Resource;
  };

  /** An edit that drops spec.owner keeps the stored one (owner is defaulted at create, like a server-set field). */
  const keepOwner = (info: KindInfo, cur: Resource, next: Resource) => {
    if (info.kind !== 'GameServer') return;
    const owner = (cur.spec as { owner?: string } | undefined)?.owner;
    if (owner !== undefined && isObject(next.spec) && next.spec.owner === undefined) next.spec.owner = owner;
  };

  const immutableIdentity = (info: KindInfo, cur: Resource, next: Resource) => {
    const errs: { field: string; message: string }[] = [];
    if (!isObject(next) || !isObject(next.metadata)) throw invalid(info.kind, cur.metadata.name, [{ field: 'metadata', message: 'must be an object' }]);
    if (next.metadata.name !== cur.metadata.name) errs.push({ field: 'metadata.name', message: `field is immutable (is "${cur.metadata.name}")` });
    if ((next.metadata.namespace ?? undefined) !== (cur.metadata.namespace ?? undefined)) errs.push({ field: 'metadata.namespace', message: `field is immutable (is "${cur.metadata.namespace ?? ''}")` });
    if (next.kind !== cur.kind) errs.push({ field: 'kind', message: `field is immutable (is "${cur.kind}")` });
    if (next.apiVersion !== cur.apiVersion) errs.push({ field: 'apiVersion', message: `must be ${cur.apiVersion}` });
    if (errs.length) throw invalid(info.kind, cur.metadata.name, errs);
  };

  // ---- reads -------------------------------------------------------------------------------------

  const get = read(async (c, loc) => {
    const p = c.get('principal');
    const rendering = negotiate(c, true);
    access.requireKindRead(p, loc.info, 'get', loc.ns);
    const obj = await store.get(loc.info.kind, loc.ns, loc.name!);
    await access.requireRead(p, loc.info, obj);
    if (rendering.as === 'table') return c.json(toTable(crdColumns(loc.info), [obj], rendering, { resourceVersion: obj.metadata.resourceVersion }));
    return c.json(obj);
  });

  const list = read(async (c, loc) => {
    const p = c.get('principal');
    const q = c.req.query();
    const rendering = negotiate(c, true);
    const watching = q.watch === 'true' || q.watch === '1';
    access.requireKindRead(p, loc.info, watching ? 'watch' : 'list', loc.ns);
    if (watching) return watchResponse(c, deps, loc.info, loc.ns, rendering);
    let limit: number | undefined;
    if (q.limit !== undefined && q.limit !== '') {
      limit = Number(q.limit);
      if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit must be a non-negative integer, not "${q.limit}"`);
    }
    const res = await store.list(loc.info.kind, { namespace: loc.ns, labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, limit, continue: q.continue || undefined });
    let items = res.items;
    if (!access.readsAll(p, loc.info)) {
      const servers = new Map();
      const visible = await Promise.all(items.map((o) => access.canRead(p, loc.info, o, servers)));
      items = items.filter((_, i) => visible[i]);
    }
    const meta = { resourceVersion: res.resourceVersion, ...(res.continue ? { continue: res.continue } : {}) };
    if (rendering.as === 'table') return c.json(toTable(crdColumns(loc.info), items, rendering, meta));
    return c.json({ apiVersion: loc.info.apiVersion, kind: `${loc.info.kind}List`, metadata: meta, items });
  });

  // ---- writes ------------------------------------------------------------------------------------

  const create = write('create', async (c, loc, ctx) => {
    if (loc.info.scope === 'Namespaced' && loc.ns === undefined) throw kubeError('MethodNotAllowed', `the server does not allow this method on the requested resource (create ${loc.info.plural} in a namespace: /apis/${loc.info.group}/${loc.info.version}/namespaces/NS/${loc.info.plural})`);
    const p = c.get('principal');
    const body = await objectBody(c, loc);
    ctx.name = body.metadata.name || (body.metadata as { generateName?: string }).generateName;
    if (loc.info.kind === 'GameServer' && isObject(body.spec) && body.spec.owner === undefined) body.spec.owner = p.userId;
    const decision = await access.authorizeWrite(p, loc.info, 'create', undefined, body);
    ctx.action = decision.permission;
    const created = await store.create(body, { dryRun: ctx.dryRun });
    ctx.name = created.metadata.name;
    return c.json(created, 201);
  });

  const update = write('update', async (c, loc, ctx) => {
    const p = c.get('principal');
    const body = await objectBody(c, loc);
    const cur = await store.get(loc.info.kind, loc.ns, loc.name!);
    keepOwner(loc.info, cur, body);
    if (loc.status) {
      ctx.action = await access.authorizeStatusWrite(p, loc.info, 'update', cur);
      return c.json(await store.updateStatus(body));
    }
    const decision = await access.authorizeWrite(p, loc.info, 'update', cur, body);
    ctx.action = decision.permission;
    return c.json(await store.update(body, { dryRun: ctx.dryRun }));
  });

  const patch = write('patch', async (c, loc, ctx) => {
    const p = c.get('principal');
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!(PATCH_CONTENT_TYPES as readonly string[]).includes(type)) {
      throw kubeError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_CONTENT_TYPES.join(', ')}`);
    }
    const raw = await readBody(c, 'a patch');
    const json = type === 'application/json-patch+json';
    if (json && !Array.isArray(raw)) throw kubeError('BadRequest', 'a JSON patch (application/json-patch+json) must be an array of operations');
    if (!json && !isObject(raw)) throw kubeError('BadRequest', 'a merge patch (application/merge-patch+json) must be a JSON object');
    for (let attempt = 0; ; attempt++) {
      const cur = await store.get(loc.info.kind, loc.ns, loc.name!);
      const next = json ? applyJsonPatch(loc.info, cur, raw as jsonpatch.Operation[]) : (mergePatch(cur, raw) as Resource);
      immutableIdentity(loc.info, cur, next);
      // A resourceVersion the client put in the patch is a precondition, not a value.
      const wanted = next.metadata.resourceVersion;
      const precondition = wanted !== undefined && wanted !== cur.metadata.resourceVersion ? wanted : (json ? undefined : (raw as Resource).metadata?.resourceVersion);
      if (precondition !== undefined && precondition !== cur.metadata.resourceVersion) {
        throw conflict(loc.info.kind, cur.metadata.name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      next.metadata.resourceVersion = cur.metadata.resourceVersion;
      try {
        if (loc.status) {
          ctx.action = await access.authorizeStatusWrite(p, loc.info, 'patch', cur);
          return c.json(await store.updateStatus({ ...cur, status: next.status }));
        }
        keepOwner(loc.info, cur, next);
        const decision = await access.authorizeWrite(p, loc.info, 'patch', cur, next);
        ctx.action = decision.permission;
        return c.json(await store.update(next, { dryRun: ctx.dryRun }));
      } catch (err) {
        if (isStoreError(err, 'Conflict') && precondition === undefined && attempt < PATCH_RETRIES) continue;
        throw err;
      }
    }
  });

  const remove = write('delete', async (c, loc, ctx) => {
    const p = c.get('principal');
    const opts = await deleteOptions(c);
    const q = c.req.query();
    const policy = q.propagationPolicy ?? opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : 'Background');
    if (policy === 'Foreground') throw kubeError('BadRequest', 'propagationPolicy Foreground is not supported by Gantry: use Background (dependents are deleted after the owner) or Orphan');
    if (policy !== 'Background' && policy !== 'Orphan') throw kubeError('BadRequest', `propagationPolicy must be Background or Orphan, not "${String(policy)}"`);
    const dryRun = ctx.dryRun || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All'));
    ctx.dryRun = dryRun;
    const cur = await store.get(loc.info.kind, loc.ns, loc.name!);
    const decision = await access.authorizeWrite(p, loc.info, 'delete', cur, undefined);
    ctx.action = decision.permission;
    const pre = isObject(opts.preconditions) ? opts.preconditions : {};
    if (typeof pre.uid === 'string' && pre.uid !== cur.metadata.uid) {
      throw conflict(loc.info.kind, cur.metadata.name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    const res = await store.delete(loc.info.kind, loc.ns, loc.name!, {
      propagationPolicy: policy,
      resourceVersion: typeof pre.resourceVersion === 'string' ? pre.resourceVersion : undefined,
      dryRun,
    });
    // Still there (finalizers hold it): 202 Accepted with the object, as an apiserver answers.
    const pending = !!res.metadata.deletionTimestamp && (res.metadata.finalizers ?? []).length > 0;
    return c.json(res, pending ? 202 : 200);
  });

  const collectionOnly = async (c: KubeContext) => {
    try {
      locate(c);
      throw kubeError('MethodNotAllowed', `the server does not allow this method on the requested resource (${c.req.method} of a collection; delete objects one by one)`);
    } catch (err) {
      return statusReply(c, err, log);
    }
  };

  const prefixes = ['/apis/:group/:version/namespaces/:ns/:plural', '/apis/:group/:version/:plural'];
  for (const base of prefixes) {
    app.get(base, list);
    app.post(base, create);
    app.on(['PUT', 'PATCH', 'DELETE'], base, collectionOnly);
    app.get(`${base}/:name`, get);
    app.put(`${base}/:name`, update);
    app.patch(`${base}/:name`, patch);
    app.delete(`${base}/:name`, remove);
    app.post(`${base}/:name`, collectionOnly);
    app.get(`${base}/:name/:sub`, get);
    app.put(`${base}/:name/:sub`, update);
    app.patch(`${base}/:name/:sub`, patch);
    app.on(['POST', 'DELETE'], `${base}/:name/:sub`, collectionOnly);
  }
}

function applyJsonPatch(info: KindInfo, cur: Resource, ops: jsonpatch.Operation[]): Resource {
  try {
    return jsonpatch.applyPatch(clone(cur), ops, true, false).newDocument as Resource;
  } catch (err) {
    const e = err as Error & { name: string };
    if (e.name === 'TEST_OPERATION_FAILED') throw invalid(info.kind, cur.metadata.name, [{ field: '', message: `the JSON patch's test operation failed: ${e.message.split('\n')[0]}` }]);
    throw kubeError('BadRequest', `the JSON patch cannot be applied: ${e.message.split('\n')[0]}`);
  }
}

/** DeleteOptions from the body (kubectl sends one), as JSON; an empty body is no options. */
async function deleteOptions(c: KubeContext): Promise<Record<string, any>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw kubeError('BadRequest', `the DeleteOptions body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(v)) throw kubeError('BadRequest', 'the DeleteOptions body must be an object');
  return v;
}
