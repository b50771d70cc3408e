// The core/v1 kinds kubectl needs beside Gantry's own: Events (`kubectl get events`, the Events of
// `kubectl describe`) from the controller's event recorder — also recorded through it (create,
// patch), as a controller using this Gantry as its apiserver does — and Namespaces. Gantry's
// namespaces are implicit (a namespaced object may name any): `default` and every namespace an object
// lives in are listed as Active, and they cannot be created or deleted.
import type { Hono } from 'hono';
import { createHash } from 'node:crypto';
import type { KubeEvent } from '../../controller/events/recorder.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import type { GameServer } from '../../crds/types.ts';
import { age } from '../../crds/columns.ts';
import { can } from '../rbac/access.ts';
import type { KubeContext, KubeDeps, KubeEnv } from './context.ts';
import { negotiate, readBody } from './negotiate.ts';
import { kubeError, statusReply } from './status.ts';
import { toTable, type Columns } from './table.ts';

export const CORE_RESOURCES = [
  { name: 'events', singularName: 'event', namespaced: true, kind: 'Event', verbs: ['create', 'get', 'list', 'patch'], shortNames: ['ev'] },
  { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] },
];

const str = (name: string, description: string, priority = 0) => ({ name, type: 'string', format: '', description, priority });

const EVENT_COLUMNS: Columns<KubeEvent> = {
  definitions: [
    str('Last Seen', 'Time of the last occurrence'), str('Type', 'Normal or Warning'), str('Reason', 'Why the event was recorded'),
    str('Object', 'The object the event is about'), str('Subobject', 'The part of the object', 1), str('Source', 'The component that recorded it', 1),
    str('Message', 'What happened'), str('First Seen', 'Time of the first occurrence', 1),
    { name: 'Count', type: 'integer', format: '', description: 'Occurrences', priority: 1 }, { ...str('Name', 'Name of the event', 1), format: 'name' },
  ],
  cells: (e, now) => [
    age(e.lastTimestamp, now), e.type, e.reason, `${e.involvedObject.kind.toLowerCase()}/${e.involvedObject.name}`, '', e.source.component,
    e.message, age(e.firstTimestamp, now), e.count, e.metadata.name,
  ],
};

interface NamespaceObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: { name: string; uid: string; resourceVersion: string; creationTimestamp: string };
  spec: { finalizers: string[] };
  status: { phase: 'Active' };
}

const NAMESPACE_COLUMNS: Columns<NamespaceObject> = {
  definitions: [{ ...str('Name', 'Name of the namespace'), format: 'name' }, str('Status', 'The phase of the namespace'), str('Age', 'Time since the first object in it')],
  cells: (n, now) => [n.metadata.name, n.status.phase, age(n.metadata.creationTimestamp, now)],
};

// fieldSelector terms of events: the columns the recorder filters on, then the rest in memory.
const EVENT_FIELDS: Record<string, (e: KubeEvent) => string | undefined> = {
  'involvedObject.kind': (e) => e.involvedObject.kind,
  'involvedObject.name': (e) => e.involvedObject.name,
  'involvedObject.namespace': (e) => e.involvedObject.namespace ?? '',
  'involvedObject.uid': (e) => e.involvedObject.uid ?? '',
  'involvedObject.apiVersion': (e) => e.involvedObject.apiVersion ?? '',
  'involvedObject.resourceVersion': () => undefined,
  'involvedObject.fieldPath': () => '',
  type: (e) => e.type,
  reason: (e) => e.reason,
  source: (e) => e.source.component,
  reportingComponent: (e) => e.reportingComponent,
  'metadata.name': (e) => e.metadata.name,
  'metadata.namespace': (e) => e.metadata.namespace,
};

function eventFieldSelector(raw: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const term of (raw ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw kubeError('BadRequest', `invalid fieldSelector term "${term}": expected field=value`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!(field in EVENT_FIELDS)) throw kubeError('BadRequest', `field label not supported: ${field}`);
    if (op === '!=') throw kubeError('BadRequest', `fieldSelector on events supports only equality (${field}!=… is not supported)`);
    out.set(field, value);
  }
  return out;
}

export function mountCore(app: Hono<KubeEnv>, deps: KubeDeps): void {
  const { svc, access } = deps;
  const { events, registry, store, log } = svc;

  /** Events the caller may read: all with resource.read, else those of objects they may read. */
  const visibleEvents = async (c: KubeContext, list: KubeEvent[]): Promise<KubeEvent[]> => {
    const p = c.get('principal');
    if (can(p, 'resource.read')) return list;
    const seen = new Map<string, boolean>();
    const servers = new Map<string, GameServer | null>();
    const out: KubeEvent[] = [];
    for (const e of list) {
      const o = e.involvedObject;
      const key = `${o.kind}/${o.namespace ?? ''}/${o.name}`;
      let ok = seen.get(key);
      if (ok === undefined) {
        const info = registry.get(o.kind);
        ok = false;
        if (info) {
          if (access.readsAll(p, info)) ok = true;
          else {
            try {
              ok = await access.canRead(p, info, await store.get(info.kind, o.namespace, o.name), servers);
            } catch (err) {
              if (!isStoreError(err, 'NotFound')) throw err;
            }
          }
        }
        seen.set(key, ok);
      }
      if (ok) out.push(e);
    }
    return out;
  };

  const listEvents = async (c: KubeContext) => {
    try {
      const rendering = negotiate(c, true);
      if (c.req.query('watch') === 'true' || c.req.query('watch') === '1') {
        throw kubeError('MethodNotAllowed', 'watching events is not supported by this server: list them again');
      }
      const fields = eventFieldSelector(c.req.query('fieldSelector'));
      const rawLimit = c.req.query('limit');
      const limit = rawLimit === undefined || rawLimit === '' || rawLimit === '0' ? undefined : Number(rawLimit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw kubeError('BadRequest', `limit must be a non-negative integer, not "${rawLimit}"`);
      const type = fields.get('type');
      if (type !== undefined && type !== 'Normal' && type !== 'Warning') return c.json({ apiVersion: 'v1', kind: 'EventList', metadata: {}, items: [] });
      const found = await events.list({
        namespace: c.req.param('ns'),
        kind: fields.get('involvedObject.kind'),
        name: fields.get('involvedObject.name'),
        uid: fields.get('involvedObject.uid'),
        type: type as KubeEvent['type'] | undefined,
        reason: fields.get('reason'),
        eventName: fields.get('metadata.name'),
        limit,
      });
      const matching = found.filter((e) => [...fields].every(([f, v]) => {
        const actual = EVENT_FIELDS[f]!(e);
        return actual === undefined || actual === v;
      }));
      // Oldest first, as an apiserver lists them (by name, which starts with the time).
      const items = (await visibleEvents(c, matching)).reverse();
      if (rendering.as === 'table') return c.json(toTable(EVENT_COLUMNS, items, rendering));
      return c.json({ apiVersion: 'v1', kind: 'EventList', metadata: {}, items });
    } catch (err) {
      return statusReply(c, err, log, { resource: 'events', group: '' });
    }
  };

  const getEvent = async (c: KubeContext) => {
    const name = c.req.param('name')!;
    try {
      const rendering = negotiate(c, true);
      const [found] = await events.list({ namespace: c.req.param('ns'), eventName: name, limit: 1 });
      const visible = found ? await visibleEvents(c, [found]) : [];
      if (!visible.length) throw kubeError('NotFound', `events "${name}" not found`, { name, kind: 'events' });
      if (rendering.as === 'table') return c.json(toTable(EVENT_COLUMNS, visible, rendering));
      return c.json(visible[0]);
    } catch (err) {
      return statusReply(c, err, log, { resource: 'events', group: '', name });
    }
  };

  /** `default` and every namespace an object lives in; "created" when its first object was. */
  const namespaces = async (): Promise<NamespaceObject[]> => {
    const first = new Map<string, string>([['default', svc.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')]]);
    for (const info of registry.kinds().filter((k) => k.scope === 'Namespaced')) {
      for (const o of (await store.list(info.kind)).items) {
        const ns = o.metadata.namespace ?? 'default';
        const t = o.metadata.creationTimestamp ?? '';
        const had = first.get(ns);
        if (had === undefined || (t && t < had)) first.set(ns, t || had || '');
      }
    }
    return [...first].sort(([a], [b]) => a.localeCompare(b)).map(([name, created]) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, uid: uidOf(name), resourceVersion: '1', creationTimestamp: created },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    }));
  };

  const listNamespaces = async (c: KubeContext) => {
    try {
      const rendering = negotiate(c, true);
      if (c.req.query('watch') === 'true' || c.req.query('watch') === '1') throw kubeError('MethodNotAllowed', 'watching namespaces is not supported by this server');
      const items = await namespaces();
      if (rendering.as === 'table') return c.json(toTable(NAMESPACE_COLUMNS, items, rendering));
      return c.json({ apiVersion: 'v1', kind: 'NamespaceList', metadata: {}, items });
    } catch (err) {
      return statusReply(c, err, log, { resource: 'namespaces', group: '' });
    }
  };

  const getNamespace = async (c: KubeContext) => {
    const name = c.req.param('name')!;
    try {
      const rendering = negotiate(c, true);
      const ns = (await namespaces()).find((n) => n.metadata.name === name);
      if (!ns) throw kubeError('NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' });
      if (rendering.as === 'table') return c.json(toTable(NAMESPACE_COLUMNS, [ns], rendering));
      return c.json(ns);
    } catch (err) {
      return statusReply(c, err, log, { resource: 'namespaces', group: '', name });
    }
  };

  const readOnly = (what: string) => (c: KubeContext) =>
    statusReply(c, kubeError('MethodNotAllowed', what === 'namespaces'
      ? 'the server does not allow this method on the requested resource: namespaces are implicit in Gantry (an object may name any namespace; it is listed while objects live in it)'
      : 'the server does not allow this method on the requested resource: events are recorded by Gantry\'s controllers'), log);

  app.get('/api/v1/events', listEvents);
  app.get('/api/v1/namespaces/:ns/events', listEvents);
  app.get('/api/v1/namespaces/:ns/events/:name', getEvent);
  // Recording an event (what a controller on this Gantry as its apiserver does, KubeEventSink): the
  // recorder keeps its own names and counts — a create of an occurrence already recorded, or a patch
  // of an event, counts one more occurrence of it (as the client's count would say).
  const requireEventWrite = (c: KubeContext) => {
    const p = c.get('principal');
    if (!can(p, 'resource.write')) throw kubeError('Forbidden', `events is forbidden: User "${p.username}" cannot create events (needs resource.write)`);
  };
  const occurrence = async (c: KubeContext, body: unknown, ns: string) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw kubeError('BadRequest', 'the request body must be an Event object');
    const e = body as Partial<KubeEvent> & { involvedObject?: Partial<KubeEvent['involvedObject']> };
    const o: Partial<KubeEvent['involvedObject']> = e.involvedObject ?? {};
    if (typeof o.kind !== 'string' || typeof o.name !== 'string') throw kubeError('Invalid', 'Event is invalid: involvedObject.kind and involvedObject.name are required', { kind: 'events', causes: [{ field: 'involvedObject', message: 'kind and name are required', reason: 'FieldValueRequired' }] });
    if ((o.namespace ?? ns) !== ns && !(o.namespace === undefined && ns === 'default')) throw kubeError('Invalid', 'Event is invalid: involvedObject.namespace does not match the event\'s namespace', { kind: 'events' });
    const type = e.type ?? 'Normal';
    if (type !== 'Normal' && type !== 'Warning') throw kubeError('Invalid', `Event is invalid: type must be Normal or Warning, not "${String(type)}"`, { kind: 'events' });
    if (typeof e.reason !== 'string' || !e.reason) throw kubeError('Invalid', 'Event is invalid: reason is required', { kind: 'events' });
    const involved = { kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.uid ? { uid: o.uid } : {}), ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}) };
    return events.record(involved, type, e.reason, typeof e.message === 'string' ? e.message : '');
  };
  app.post('/api/v1/namespaces/:ns/events', async (c) => {
    try {
      requireEventWrite(c);
      const ns = c.req.param('ns')!;
      return c.json(await occurrence(c, await readBody(c, 'an Event object'), ns), 201);
    } catch (err) {
      return statusReply(c, err, log, { resource: 'events', group: '' });
    }
  });
  app.patch('/api/v1/namespaces/:ns/events/:name', async (c) => {
    const name = c.req.param('name')!;
    try {
      requireEventWrite(c);
      const ns = c.req.param('ns')!;
      await readBody(c, 'a patch');
      const [found] = await events.list({ namespace: ns, eventName: name, limit: 1 });
      if (!found) throw kubeError('NotFound', `events "${name}" not found`, { name, kind: 'events' });
      return c.json(await occurrence(c, found, ns));
    } catch (err) {
      return statusReply(c, err, log, { resource: 'events', group: '', name });
    }
  });
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], ['/api/v1/events', '/api/v1/namespaces/:ns/events', '/api/v1/namespaces/:ns/events/:name'], readOnly('events'));
  app.get('/api/v1/namespaces', listNamespaces);
  app.get('/api/v1/namespaces/:name', getNamespace);
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], ['/api/v1/namespaces', '/api/v1/namespaces/:name'], readOnly('namespaces'));
}

function uidOf(name: string): string {
  const h = createHash('sha256').update(`namespace/${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
