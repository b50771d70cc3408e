// The plain JSON resource API: /apis/gantry.dev/v1alpha1/[namespaces/NS/]PLURAL[/NAME[/status]].
// Paths and bodies follow the Kubernetes REST conventions so the same routes grow into the
// kubectl-compatible dialect later.
import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import type { CrdRegistry, KindInfo } from '../../crds/registry.ts';
import { GROUP, VERSION, type Resource } from '../../crds/resource.ts';
import type { ResourceStore, WatchEvent } from '../../controller/store/types.ts';
import { badRequest, notFound, StoreError } from '../../controller/store/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { readJson, requireObject, statusResponse } from '../status.ts';

export interface ResourceRouteDeps {
  store: ResourceStore;
  registry: CrdRegistry;
  log: Logger;
}

const BASE = `/apis/${GROUP}/${VERSION}`;

export function resourceRoutes({ store, registry, log }: ResourceRouteDeps): Hono {
  const app = new Hono();

  const kindFor = (plural: string): KindInfo => {
    const info = registry.kinds().find((k) => k.plural === plural);
    if (!info) throw new StoreError('NotFound', `the server could not find the requested resource type "${plural}"`);
    return info;
  };

  /** Namespace from the path; cluster-scoped kinds under a namespace path are a client error. */
  const scope = (info: KindInfo, ns: string | undefined): string | undefined => {
    if (info.scope === 'Cluster' && ns !== undefined) {
      throw badRequest(`${info.kind} is cluster-scoped; use ${BASE}/${info.plural}`);
    }
    return ns;
  };

  const handle = (fn: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await fn(c);
    } catch (err) {
      return statusResponse(c, err, log);
    }
  };

  /** A body must name the same kind/namespace/name as the URL, so a PUT cannot write elsewhere. */
  const bodyObject = async (c: Context, info: KindInfo, ns: string | undefined, name?: string): Promise<Resource> => {
    const body = requireObject(await readJson(c), 'request body') as unknown as Resource;
    body.apiVersion ??= info.apiVersion;
    body.kind ??= info.kind;
    if (body.kind !== info.kind) throw badRequest(`body kind "${body.kind}" does not match the URL (${info.kind})`);
    const meta = requireObject(body.metadata ?? {}, 'metadata') as unknown as Resource['metadata'];
    body.metadata = meta;
    if (name !== undefined) {
      if (meta.name !== undefined && meta.name !== name) {
        throw badRequest(`metadata.name "${meta.name}" does not match the name in the URL ("${name}")`);
      }
      meta.name = name;
    }
    if (info.scope === 'Namespaced' && ns !== undefined) {
      if (meta.namespace !== undefined && meta.namespace !== ns) {
        throw badRequest(`metadata.namespace "${meta.namespace}" does not match the namespace in the URL ("${ns}")`);
      }
      meta.namespace = ns;
    }
    return body;
  };

  const list = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const q = c.req.query();
    if (q.watch === 'true' || q.watch === '1') return watch(c, info, ns);
    const limit = q.limit !== undefined ? parseLimit(q.limit) : undefined;
    const res = await store.list(info.kind, { namespace: ns, labelSelector: q.labelSelector, limit, continue: q.continue });
    return c.json({
      apiVersion: info.apiVersion,
      kind: `${info.kind}List`,
      metadata: { resourceVersion: res.resourceVersion, ...(res.continue ? { continue: res.continue } : {}) },
      items: res.items,
    });
  });

  const watch = async (c: Context, info: KindInfo, ns: string | undefined): Promise<Response> => {
    const q = c.req.query();
    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    // Registering the watch before streaming lets a Gone (410) answer as a normal error status.
    const w = await store.watch(
      {
        kind: info.kind,
        namespace: ns,
        labelSelector: q.labelSelector,
        resourceVersion: q.resourceVersion || undefined,
        bookmarkIntervalMs: q.allowWatchBookmarks === 'true' ? 10_000 : 0,
      },
      (ev) => {
        queue.push(ev);
        wake?.();
      },
    );
    const timeoutMs = q.timeoutSeconds ? Math.max(1, Number(q.timeoutSeconds)) * 1000 : 30 * 60_000;
    c.header('Content-Type', 'application/json');
    return stream(c, async (s) => {
      let open = true;
      s.onAbort(() => {
        open = false;
        wake?.();
      });
      const deadline = setTimeout(() => {
        open = false;
        wake?.();
      }, timeoutMs);
      try {
        while (open) {
          while (queue.length && open) await s.write(JSON.stringify(queue.shift()) + '\n');
          if (!open) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        clearTimeout(deadline);
        w.stop();
      }
    });
  };

  const get = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    return c.json(await store.get(info.kind, ns, c.req.param('name')!));
  });

  const create = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const obj = await bodyObject(c, info, ns);
    return c.json(await store.create(obj), 201);
  });

  const update = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const obj = await bodyObject(c, info, ns, c.req.param('name'));
    if (!obj.metadata.resourceVersion) {
      throw badRequest('metadata.resourceVersion is required for an update (read the object first, or use PATCH)');
    }
    return c.json(await store.update(obj));
  });

  const patch = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const type = c.req.header('content-type') ?? '';
    if (type.includes('json-patch+json') || type.includes('apply-patch')) {
      throw new StoreError('BadRequest', `unsupported patch type "${type}": use application/merge-patch+json`);
    }
    const body = requireObject(await readJson(c), 'patch');
    const rv = (body.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    return c.json(await store.patch(info.kind, ns, c.req.param('name')!, body, { resourceVersion: rv }));
  });

  const updateStatus = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const obj = await bodyObject(c, info, ns, c.req.param('name'));
    return c.json(await store.updateStatus(obj));
  });

  const patchStatus = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const body = requireObject(await readJson(c), 'patch');
    return c.json(await store.patchStatus(info.kind, ns, c.req.param('name')!, body.status ?? {}));
  });

  const getStatus = get;

  const remove = handle(async (c) => {
    const info = kindFor(c.req.param('plural')!);
    const ns = scope(info, c.req.param('ns'));
    const policy = c.req.query('propagationPolicy');
    if (policy !== undefined && policy !== 'Background' && policy !== 'Orphan' && policy !== 'Foreground') {
      throw badRequest(`propagationPolicy must be Background or Orphan, not "${policy}"`);
    }
    const obj = await store.delete(info.kind, ns, c.req.param('name')!, {
      propagationPolicy: policy === 'Orphan' ? 'Orphan' : 'Background',
    });
    return c.json(obj);
  });

  for (const prefix of [`${BASE}/namespaces/:ns`, BASE]) {
    app.get(`${prefix}/:plural`, list);
    app.post(`${prefix}/:plural`, create);
    app.get(`${prefix}/:plural/:name`, get);
    app.put(`${prefix}/:plural/:name`, update);
    app.patch(`${prefix}/:plural/:name`, patch);
    app.delete(`${prefix}/:plural/:name`, remove);
    app.get(`${prefix}/:plural/:name/status`, getStatus);
    app.put(`${prefix}/:plural/:name/status`, updateStatus);
    app.patch(`${prefix}/:plural/:name/status`, patchStatus);
  }

  // Discovery, so clients (and later kubectl) can map kinds to paths.
  app.get('/apis', (c) =>
    c.json({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: GROUP, versions: [{ groupVersion: `${GROUP}/${VERSION}`, version: VERSION }], preferredVersion: { groupVersion: `${GROUP}/${VERSION}`, version: VERSION } }],
    }),
  );
  app.get(BASE, (c) =>
    c.json({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${GROUP}/${VERSION}`,
      resources: registry.kinds().flatMap((k) => [
        {
          name: k.plural,
          singularName: k.singular,
          namespaced: k.scope === 'Namespaced',
          kind: k.kind,
          shortNames: k.shortNames,
          verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        },
        { name: `${k.plural}/status`, singularName: '', namespaced: k.scope === 'Namespaced', kind: k.kind, verbs: ['get', 'patch', 'update'] },
      ]),
    }),
  );

  app.notFound((c) => statusResponse(c, notFound('path', c.req.path), log));
  return app;
}

function parseLimit(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`limit must be a non-negative integer, not "${raw}"`);
  return n;
}
