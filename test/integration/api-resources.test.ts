// The resource API over a real SQLite store: CRUD, errors as Status bodies, watch streaming.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor, signInAdmin } from '../helpers/api.ts';

const BASE = '/apis/gantry.dev/v1alpha1';
const gs = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name },
  spec: { templateRef: 'testgame', ...spec },
});

describe('resource API', () => {
  let env: TestEnv;
  let app: ReturnType<typeof createApp>;
  let auth: Record<string, string>;
  beforeEach(async () => {
    env = await openTestEnv();
    const api = await apiServicesFor(env);
    auth = (await signInAdmin(api)).headers;
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, maxBodyBytes: 64 * 1024, api });
  });
  afterEach(() => env.close());

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  it('creates, reads, lists, updates, patches and deletes with Kubernetes semantics', async () => {
    const created = await call('POST', `${BASE}/namespaces/default/gameservers`, gs('alpha'));
    expect(created.status).toBe(201);
    expect(created.body.metadata).toMatchObject({ name: 'alpha', namespace: 'default', generation: 1 });
    expect(created.body.spec.state).toBe('Stopped'); // schema default applied

    const list = await call('GET', `${BASE}/namespaces/default/gameservers`);
    expect(list.body.kind).toBe('GameServerList');
    expect(list.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['alpha']);

    const upd = await call('PUT', `${BASE}/namespaces/default/gameservers/alpha`, { ...created.body, spec: { ...created.body.spec, state: 'Running' } });
    expect(upd.status).toBe(200);
    expect(upd.body.metadata.generation).toBe(2);

    const stale = await call('PUT', `${BASE}/namespaces/default/gameservers/alpha`, created.body);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });

    const patched = await call('PATCH', `${BASE}/namespaces/default/gameservers/alpha`, { spec: { displayName: 'Alpha!' } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.body.spec).toMatchObject({ displayName: 'Alpha!', state: 'Running' });

    const status = await call('PATCH', `${BASE}/namespaces/default/gameservers/alpha/status`, { status: { phase: 'running' } });
    expect(status.status).toBe(200);
    expect(status.body.status.phase).toBe('running');
    expect(status.body.metadata.generation).toBe(3);

    expect((await call('DELETE', `${BASE}/namespaces/default/gameservers/alpha`)).status).toBe(200);
    const gone = await call('GET', `${BASE}/namespaces/default/gameservers/alpha`);
    expect(gone.status).toBe(404);
    expect(gone.body.message).toBe('GameServer "alpha" not found');
  });

  it('answers bad input with a 4xx Status that names the problem', async () => {
    const invalid = await call('POST', `${BASE}/namespaces/default/gameservers`, gs('bad', { state: 'Exploded' }));
    expect(invalid.status).toBe(422);
    expect(invalid.body.reason).toBe('Invalid');
    expect(invalid.body.details.causes[0].field).toBe('spec.state');

    const malformed = await call('POST', `${BASE}/namespaces/default/gameservers`, '{"kind": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/not valid JSON/);

    const notObject = await call('POST', `${BASE}/namespaces/default/gameservers`, '[1,2]');
    expect(notObject.status).toBe(400);

    const huge = await call('POST', `${BASE}/namespaces/default/gameservers`, gs('huge', { displayName: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(413);

    const wrongNs = await call('POST', `${BASE}/namespaces/default/gameservers`, { ...gs('x'), metadata: { name: 'x', namespace: 'other' } });
    expect(wrongNs.status).toBe(400);
    expect(wrongNs.body.message).toMatch(/does not match the namespace in the URL/);

    const wrongName = await call('PUT', `${BASE}/namespaces/default/gameservers/a`, { ...gs('b'), metadata: { name: 'b', resourceVersion: '1' } });
    expect(wrongName.status).toBe(400);

    const wrongKind = await call('POST', `${BASE}/namespaces/default/gameservers`, { ...gs('k'), kind: 'GameNode' });
    expect(wrongKind.status).toBe(400);

    expect((await call('GET', `${BASE}/namespaces/default/spaceships`)).status).toBe(404);
    expect((await call('GET', `${BASE}/namespaces/default/gamenodes`)).status).toBe(400); // cluster-scoped under a namespace
    expect((await call('GET', `${BASE}/namespaces/default/gameservers?limit=-1`)).status).toBe(400);
    expect((await call('GET', `${BASE}/namespaces/default/gameservers?labelSelector=${encodeURIComponent('a in (')}`)).status).toBe(400);

    expect((await call('POST', `${BASE}/namespaces/default/gameservers`, gs('dup'))).status).toBe(201);
    const dup = await call('POST', `${BASE}/namespaces/default/gameservers`, gs('dup'));
    expect(dup.status).toBe(409);
    expect(dup.body.reason).toBe('AlreadyExists');
  });

  it('serves cluster-scoped kinds and discovery', async () => {
    const node = { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'node-1' }, spec: { address: '127.0.0.1' } };
    expect((await call('POST', `${BASE}/gamenodes`, node)).status).toBe(201);
    expect((await call('GET', `${BASE}/gamenodes/node-1`)).body.metadata.name).toBe('node-1');
    const disc = await call('GET', BASE);
    expect(disc.body.resources.map((r: { name: string }) => r.name)).toContain('gameservers');
  });

  it('streams watch events from a resourceVersion', async () => {
    const first = await call('POST', `${BASE}/namespaces/default/gameservers`, gs('w1'));
    const controller = new AbortController();
    const res = await app.request(`${BASE}/namespaces/default/gameservers?watch=true&resourceVersion=${first.body.metadata.resourceVersion}`, { signal: controller.signal, headers: auth });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await call('POST', `${BASE}/namespaces/default/gameservers`, gs('w2'));
    await call('DELETE', `${BASE}/namespaces/default/gameservers/w1`);
    const events: { type: string; object: { metadata: { name: string } } }[] = [];
    let buf = '';
    while (events.length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l) events.push(JSON.parse(l));
    }
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w2', 'DELETED w1']);
    await reader.cancel();
    controller.abort();

  });

  it('lists events', async () => {
    await env.events.record({ kind: 'GameServer', namespace: 'default', name: 'a' }, 'Warning', 'Test', 'something happened');
    const res = await call('GET', '/api/v1/namespaces/default/events');
    expect(res.body.items[0]).toMatchObject({ reason: 'Test', message: 'something happened', count: 1 });
  });

  it('reports health and version', async () => {
    expect((await call('GET', '/healthz')).body.status).toBe('ok');
    expect((await call('GET', '/api/version')).body.data.name).toBe('gantry');
  });
});
