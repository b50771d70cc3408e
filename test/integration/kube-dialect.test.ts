// The Kubernetes dialect's details over a real SQLite store, in process: discovery, Status bodies for
// every refusal, Tables, patches, dryRun, selectors, paging, watch (Table and 410), OpenAPI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs/minimal.js';
import { openApiApp, signInAdmin, type ApiApp } from '../helpers/api.ts';

const G = '/k8s/apis/gantry.dev/v1alpha1';
const NS = `${G}/namespaces/default`;
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const gs = (name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>) => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name, ...(labels ? { labels } : {}) },
  spec: { templateRef: 'testgame', ...spec },
});

describe('Kubernetes dialect', () => {
  let a: ApiApp;
  let auth: Record<string, string>;
  beforeAll(async () => {
    a = await openApiApp({ app: { kube: { bookmarkIntervalMs: 50 } } });
    auth = (await signInAdmin(a.svc)).headers;
  });
  afterAll(() => a.env.close());

  const req = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await a.app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };

  it('serves discovery as kubectl reads it, in plain JSON even when aggregated discovery is asked for', async () => {
    const aggregated = { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' };
    const api = await req('GET', '/k8s/api', undefined, aggregated);
    expect(api.body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect(api.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await req('GET', '/k8s/apis', undefined, aggregated)).body.groups[0]).toMatchObject({ name: 'gantry.dev', preferredVersion: { groupVersion: 'gantry.dev/v1alpha1' } });
    const core = await req('GET', '/k8s/api/v1');
    expect(core.body.resources.map((r: { name: string }) => r.name)).toEqual(['events', 'namespaces']);
    const list = (await req('GET', G)).body;
    const byName = Object.fromEntries(list.resources.map((r: { name: string }) => [r.name, r]));
    expect(byName.gameservers).toMatchObject({ singularName: 'gameserver', namespaced: true, kind: 'GameServer', shortNames: ['gs'], categories: ['gantry'], verbs: expect.arrayContaining(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) });
    expect(byName['gameservers/status']).toMatchObject({ verbs: ['get', 'patch', 'update'] });
    expect(byName.gamenodes.namespaced).toBe(false);
    // /version is public, like kube-apiserver's; everything else needs a token.
    const version = await a.app.request('/k8s/version');
    expect(await version.json()).toMatchObject({ major: '1', gitVersion: expect.stringMatching(/^v1\.\d+\.0\+gantry/) });
    const anon = await a.app.request('/k8s/api');
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    const forged = await req('GET', '/k8s/api', undefined, { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ4In0.forged' });
    expect(forged.body).toMatchObject({ reason: 'Unauthorized', code: 401 });
  });

  it('answers every refusal with a Kubernetes Status', async () => {
    expect((await req('POST', `${NS}/gameservers`, gs('kube-d1'))).status).toBe(201);
    const dup = await req('POST', `${NS}/gameservers`, gs('kube-d1'));
    expect(dup.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409, message: 'gameservers.gantry.dev "kube-d1" already exists', details: { name: 'kube-d1', group: 'gantry.dev', kind: 'gameservers' } });
    const missing = await req('GET', `${NS}/gameservers/kube-nope`);
    expect(missing.body).toMatchObject({ reason: 'NotFound', code: 404, message: 'gameservers.gantry.dev "kube-nope" not found' });
    const invalid = await req('POST', `${NS}/gameservers`, gs('kube-bad', { state: 'Exploded', memroyMb: 1 }));
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ reason: 'Invalid', details: { kind: 'GameServer', name: 'kube-bad' } });
    expect(invalid.body.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.memroyMb', 'spec.state']);
    expect(invalid.body.message).toMatch(/^GameServer\.gantry\.dev "kube-bad" is invalid: \[/);
    const cur = (await req('GET', `${NS}/gameservers/kube-d1`)).body;
    await req('PATCH', `${NS}/gameservers/kube-d1`, { spec: { displayName: 'moved on' } }, { 'content-type': 'application/merge-patch+json' });
    const stale = await req('PUT', `${NS}/gameservers/kube-d1`, cur);
    expect(stale.body).toMatchObject({ reason: 'Conflict', code: 409, message: expect.stringMatching(/^Operation cannot be fulfilled on gameservers\.gantry\.dev "kube-d1": the object has been modified/) });
    const smp = await req('PATCH', `${NS}/gameservers/kube-d1`, { spec: {} }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(smp.body).toMatchObject({ reason: 'UnsupportedMediaType', code: 415, message: 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json' });
    const apply = await req('PATCH', `${NS}/gameservers/kube-d1?fieldManager=kubectl`, 'spec: {}', { 'content-type': 'application/apply-patch+yaml' });
    expect(apply.body.reason).toBe('UnsupportedMediaType');
    expect((await req('DELETE', `${NS}/gameservers`)).body).toMatchObject({ reason: 'MethodNotAllowed', code: 405 });
    expect((await req('POST', '/k8s/api/v1/namespaces', { metadata: { name: 'x' } })).body).toMatchObject({ reason: 'MethodNotAllowed', code: 405 });
    expect((await req('GET', `${NS}/spaceships`)).body).toMatchObject({ reason: 'NotFound', code: 404 });
    expect((await req('GET', `${NS}/gamenodes`)).status).toBe(404); // cluster-scoped under a namespace
    expect((await req('GET', `${NS}/gameservers`, undefined, { accept: 'application/vnd.kubernetes.protobuf' })).body).toMatchObject({ reason: 'NotAcceptable', code: 406 });
    expect((await req('POST', `${NS}/gameservers`, '{"kind": ')).body).toMatchObject({ reason: 'BadRequest', message: expect.stringMatching(/not valid JSON/) });
    expect((await req('POST', `${NS}/gameservers`, gs('kube-big', { description: 'x'.repeat(2 * 1024 * 1024) }))).body).toMatchObject({ reason: 'RequestEntityTooLarge', code: 413 });
    expect((await req('POST', `${NS}/gameservers`, { ...gs('kube-x'), metadata: { name: 'kube-x', namespace: 'other' } })).body.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
    expect((await req('POST', `${NS}/gameservers`, { ...gs('kube-x'), apiVersion: 'gantry.dev/v2' })).status).toBe(400);
    expect((await req('GET', `${NS}/gameservers?fieldSelector=spec.state%3DRunning`)).body).toMatchObject({ reason: 'BadRequest', message: expect.stringMatching(/field label not supported: "spec.state"/) });
    expect((await req('GET', `${NS}/gameservers?labelSelector=${encodeURIComponent('a in (')}`)).status).toBe(400);
    expect((await req('POST', `${NS}/gameservers?dryRun=Some`, gs('kube-x'))).status).toBe(400);
    expect((await req('DELETE', `${NS}/gameservers/kube-d1?propagationPolicy=Foreground`)).body.message).toMatch(/Foreground is not supported/);
  });

  it('patches with merge and JSON patch, keeps name and namespace immutable, and honours dryRun', async () => {
    // The finalizer the GameServer controller would add (no controller runs here).
    await req('POST', `${NS}/gameservers`, { ...gs('kube-p1'), metadata: { name: 'kube-p1', finalizers: ['gantry.dev/cleanup'] } });
    const merged = await req('PATCH', `${NS}/gameservers/kube-p1`, { spec: { displayName: 'M' }, metadata: { labels: { a: 'b' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(merged.body).toMatchObject({ spec: { displayName: 'M' }, metadata: { labels: { a: 'b' } } });
    const json = await req('PATCH', `${NS}/gameservers/kube-p1`, [{ op: 'test', path: '/spec/displayName', value: 'M' }, { op: 'replace', path: '/spec/displayName', value: 'J' }, { op: 'remove', path: '/metadata/labels/a' }], { 'content-type': 'application/json-patch+json' });
    expect(json.body.spec.displayName).toBe('J');
    expect(json.body.metadata.labels).toBeUndefined();
    const failedTest = await req('PATCH', `${NS}/gameservers/kube-p1`, [{ op: 'test', path: '/spec/displayName', value: 'nope' }], { 'content-type': 'application/json-patch+json' });
    expect(failedTest.body).toMatchObject({ reason: 'Invalid', code: 422 });
    const rename = await req('PATCH', `${NS}/gameservers/kube-p1`, [{ op: 'replace', path: '/metadata/name', value: 'kube-other' }], { 'content-type': 'application/json-patch+json' });
    expect(rename.body).toMatchObject({ reason: 'Invalid', details: { causes: [{ field: 'metadata.name' }] } });
    const proto = await req('PATCH', `${NS}/gameservers/kube-p1`, [{ op: 'add', path: '/__proto__/polluted', value: 1 }], { 'content-type': 'application/json-patch+json' });
    expect(proto.status).toBe(400);
    const badPrecondition = await req('PATCH', `${NS}/gameservers/kube-p1`, { metadata: { resourceVersion: '1' }, spec: { displayName: 'x' } }, { 'content-type': 'application/merge-patch+json' });
    expect(badPrecondition.body.reason).toBe('Conflict');

    const before = (await req('GET', `${NS}/gameservers/kube-p1`)).body;
    const dry = await req('PATCH', `${NS}/gameservers/kube-p1?dryRun=All`, { spec: { displayName: 'dry' } }, { 'content-type': 'application/merge-patch+json' });
    expect(dry.body.spec.displayName).toBe('dry');
    expect(dry.body.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    const dryCreate = await req('POST', `${NS}/gameservers?dryRun=All`, gs('kube-dry'));
    expect(dryCreate.status).toBe(201);
    expect(dryCreate.body.metadata.uid).toBeTruthy();
    const dryDelete = await req('DELETE', `${NS}/gameservers/kube-p1?dryRun=All`);
    expect(dryDelete.status).toBe(202); // the cleanup finalizer would hold it
    const after = (await req('GET', `${NS}/gameservers/kube-p1`)).body;
    expect(after).toEqual(before);
    expect((await req('GET', `${NS}/gameservers/kube-dry`)).status).toBe(404);
    // Deleting for real: the finalizer holds the object, so 202 with deletionTimestamp.
    const del = await req('DELETE', `${NS}/gameservers/kube-p1`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: before.metadata.uid } });
    expect(del.status).toBe(202);
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();
    const wrongUid = await req('DELETE', `${NS}/gameservers/kube-d1`, { preconditions: { uid: 'not-the-uid' } });
    expect(wrongUid.body).toMatchObject({ reason: 'Conflict', message: expect.stringMatching(/Precondition failed: UID in precondition/) });
    // A template has no finalizer: gone at once, 200.
    await req('POST', `${G}/servertemplates`, { apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'kube-tmpl' }, spec: { image: 'busybox', startCommand: 'sh' } });
    expect((await req('DELETE', `${G}/servertemplates/kube-tmpl`)).status).toBe(200);
  });

  it('renders Tables from the printer columns, filters by field and label, and pages', async () => {
    for (const n of ['kube-t1', 'kube-t2', 'kube-t3']) await req('POST', `${NS}/gameservers`, gs(n, { state: 'Running' }, { tier: n === 'kube-t2' ? 'gold' : 'iron' }));
    const table = (await req('GET', `${NS}/gameservers?labelSelector=tier`, undefined, { accept: TABLE })).body;
    expect(table).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
    expect(table.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(['Name', 'Phase', 'Node', 'Template', 'State', 'Age', 'Address', 'Crashes', 'Message']);
    expect(table.columnDefinitions.filter((c: { priority: number }) => c.priority === 1).map((c: { name: string }) => c.name)).toEqual(['Address', 'Crashes', 'Message']);
    expect(table.rows.map((r: { cells: unknown[] }) => r.cells[0])).toEqual(['kube-t1', 'kube-t2', 'kube-t3']);
    expect(table.rows[0].cells.slice(1, 5)).toEqual([null, null, 'testgame', 'Running']);
    expect(table.rows[0].cells[5]).toMatch(/^\d+s$/);
    expect(table.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'kube-t1', namespace: 'default' } });
    const gold = (await req('GET', `${NS}/gameservers?labelSelector=tier%3Dgold`)).body;
    expect(gold.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['kube-t2']);
    const byName = (await req('GET', `${G}/gameservers?fieldSelector=metadata.name%3Dkube-t3`)).body;
    expect(byName).toMatchObject({ kind: 'GameServerList', items: [{ metadata: { name: 'kube-t3' } }] });
    const page1 = (await req('GET', `${NS}/gameservers?labelSelector=tier&limit=2`)).body;
    expect(page1.items).toHaveLength(2);
    const page2 = (await req('GET', `${NS}/gameservers?labelSelector=tier&limit=2&continue=${encodeURIComponent(page1.metadata.continue)}`)).body;
    expect(page2.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['kube-t3']);
    expect(page2.metadata.continue).toBeUndefined();
    const one = (await req('GET', `${NS}/gameservers/kube-t1`, undefined, { accept: TABLE })).body;
    expect(one.rows).toHaveLength(1);
  });

  it('watches with selectors, as Tables, and answers a too-old resourceVersion with an ERROR event', async () => {
    const rv = (await req('GET', `${NS}/gameservers`)).body.metadata.resourceVersion;
    const ctrl = new AbortController();
    const res = await a.app.request(`${NS}/gameservers?watch=1&resourceVersion=${rv}&fieldSelector=metadata.name%3Dkube-w1`, { headers: { ...auth, accept: TABLE }, signal: ctrl.signal });
    expect(res.status).toBe(200);
    await req('POST', `${NS}/gameservers`, gs('kube-w0'));
    await req('POST', `${NS}/gameservers`, gs('kube-w1'));
    await req('PATCH', `${NS}/gameservers/kube-w1`, { spec: { displayName: 'w' } }, { 'content-type': 'application/merge-patch+json' });
    const events = await readEvents(res, 2);
    ctrl.abort();
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED']);
    expect(events[0].object).toMatchObject({ kind: 'Table', rows: [{ cells: ['kube-w1', null, null, 'testgame', 'Stopped', expect.any(String), null, null, null] }] });
    expect(events[0].object.columnDefinitions).toHaveLength(9);
    expect(events[1].object.columnDefinitions).toBeUndefined(); // headers once, as kubectl expects

    const marked = await a.app.request(`${NS}/gameservers?watch=1&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dkube-none`, { headers: { ...auth, accept: TABLE } });
    const [bookmark] = await readEvents(marked, 1);
    expect(bookmark).toMatchObject({ type: 'BOOKMARK', object: { kind: 'Table', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) }, rows: [] } });
    const old = await a.app.request(`${NS}/gameservers?watch=1&resourceVersion=999999999`, { headers: auth });
    expect(old.status).toBe(200);
    const [err] = await readEvents(old, 1);
    expect(err).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410 } });
  });

  it('publishes OpenAPI v3 and v2 (JSON and protobuf) from the CRD schemas', async () => {
    const root = (await req('GET', '/k8s/openapi/v3')).body;
    const url = root.paths['apis/gantry.dev/v1alpha1'].serverRelativeURL as string;
    expect(url).toMatch(/^\/k8s\/openapi\/v3\/apis\/gantry\.dev\/v1alpha1\?hash=[0-9A-F]+$/);
    const v3 = (await req('GET', url)).body;
    const schema = v3.components.schemas['dev.gantry.v1alpha1.GameServer'];
    expect(schema['x-kubernetes-group-version-kind']).toEqual([{ group: 'gantry.dev', kind: 'GameServer', version: 'v1alpha1' }]);
    expect(schema.properties.spec.properties.state).toMatchObject({ description: 'Desired state.', enum: ['Running', 'Stopped'] });
    const patchOp = v3.paths['/apis/gantry.dev/v1alpha1/namespaces/{namespace}/gameservers/{name}'].patch;
    // No strategic merge patch listed: kubectl then sends a JSON merge patch, as for any custom resource.
    expect(Object.keys(patchOp.requestBody.content)).toEqual(['application/json-patch+json', 'application/merge-patch+json']);
    expect(patchOp.parameters.map((p: { name: string }) => p.name)).toContain('fieldValidation');
    const v2 = (await req('GET', '/k8s/openapi/v2')).body;
    expect(v2.definitions['dev.gantry.v1alpha1.GameServer'].properties.metadata).toEqual({ $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' });
    const pb = await a.app.request('/k8s/openapi/v2', { headers: { ...auth, accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
    const bytes = new Uint8Array(await pb.arrayBuffer());
    // Field 1 (swagger) first: "2.0".
    const r = protobuf.Reader.create(bytes);
    expect(r.uint32()).toBe((1 << 3) | 2);
    expect(r.string()).toBe('2.0');
    expect(Buffer.from(bytes).includes(Buffer.from('dev.gantry.v1alpha1.GameServer'))).toBe(true);
  });

  it('serves core/v1 Events with field selectors and implicit Namespaces', async () => {
    const s = (await req('GET', `${NS}/gameservers/kube-t1`)).body;
    await a.env.events.record({ kind: 'GameServer', namespace: 'default', name: 'kube-t1', uid: s.metadata.uid }, 'Warning', 'Crashed', 'exit 1');
    await a.env.events.record({ kind: 'GameServer', namespace: 'default', name: 'kube-t2' }, 'Normal', 'Started', 'ok');
    const sel = encodeURIComponent(`involvedObject.name=kube-t1,involvedObject.namespace=default,involvedObject.uid=${s.metadata.uid}`);
    const list = (await req('GET', `/k8s/api/v1/namespaces/default/events?fieldSelector=${sel}`)).body;
    expect(list).toMatchObject({ kind: 'EventList', items: [{ reason: 'Crashed', involvedObject: { name: 'kube-t1' } }] });
    const table = (await req('GET', '/k8s/api/v1/namespaces/default/events', undefined, { accept: TABLE })).body;
    expect(table.columnDefinitions.filter((c: { priority: number }) => !c.priority).map((c: { name: string }) => c.name)).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
    expect(table.rows.map((r: { cells: unknown[] }) => r.cells[3])).toEqual(['gameserver/kube-t1', 'gameserver/kube-t2']);
    expect((await req('GET', '/k8s/api/v1/events?fieldSelector=count%3D1')).body.reason).toBe('BadRequest');
    await req('POST', `${G}/namespaces/team-a/gameservers`, gs('kube-ns'));
    const ns = (await req('GET', '/k8s/api/v1/namespaces')).body;
    expect(ns.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(['default', 'team-a']);
    expect((await req('GET', '/k8s/api/v1/namespaces/team-a')).body).toMatchObject({ kind: 'Namespace', status: { phase: 'Active' } });
    expect((await req('GET', '/k8s/api/v1/namespaces/nowhere')).body.reason).toBe('NotFound');
  });
});

async function readEvents(res: Response, n: number): Promise<any[]> {
  const reader = res.body!.getReader();
  const out: any[] = [];
  let buf = '';
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += new TextDecoder().decode(value);
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l) out.push(JSON.parse(l));
  }
  await reader.cancel().catch(() => undefined);
  return out;
}
