// Authorisation of the Kubernetes dialect with Gantry's RBAC, per verb and object, as the REST API
// decides it: owners and subusers see and change only their servers (and only with the permission of
// what they change), the rest is NotFound or Forbidden; every write and refusal is audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_ROLE } from '../../api/auth/accounts.ts';
import { openApiApp, signIn, signInAdmin, type ApiApp, type SignedIn } from '../helpers/api.ts';

const NS = '/k8s/apis/gantry.dev/v1alpha1/namespaces/default';
const MERGE = { 'content-type': 'application/merge-patch+json' };

describe('Kubernetes dialect authorisation', () => {
  let a: ApiApp;
  let admin: SignedIn;
  let alice: SignedIn;
  let bob: SignedIn;
  let carol: SignedIn;

  const req = async (who: SignedIn, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await a.app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...who.headers, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, res };
  };
  const server = (name: string, owner: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, finalizers: ['gantry.dev/cleanup'] }, spec: { templateRef: 'testgame', owner, ...extra },
  });

  beforeAll(async () => {
    a = await openApiApp();
    admin = await signInAdmin(a.svc);
    const creator = await a.svc.accounts.createRole({ name: 'creator', permissions: ['server.create'] });
    alice = await signIn(a.svc, 'alice', [USER_ROLE, creator.id]);
    bob = await signIn(a.svc, 'bob');
    carol = await signIn(a.svc, 'carol');
    for (const [n, owner] of [['kube-alice', alice.userId], ['kube-bob', bob.userId]] as const) {
      expect((await req(admin, 'POST', `${NS}/gameservers`, server(n, owner))).status).toBe(201);
    }
    await a.svc.accounts.setServerGrant('default', 'kube-alice', carol.userId, ['server.read', 'server.start']);
  });
  afterAll(() => a.env.close());

  it('lists, gets and watches only the servers the caller may read', async () => {
    const names = async (who: SignedIn) => (await req(who, 'GET', `${NS}/gameservers`)).body.items.map((i: { metadata: { name: string } }) => i.metadata.name);
    expect(await names(admin)).toEqual(['kube-alice', 'kube-bob']);
    expect(await names(alice)).toEqual(['kube-alice']);
    expect(await names(carol)).toEqual(['kube-alice']);
    expect(await names(bob)).toEqual(['kube-bob']);
    const other = await req(alice, 'GET', `${NS}/gameservers/kube-bob`);
    expect(other.body).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    // Templates and nodes need their global permissions: Forbidden, as an apiserver says it.
    expect((await req(alice, 'GET', '/k8s/apis/gantry.dev/v1alpha1/gamenodes')).body).toMatchObject({ reason: 'Forbidden', message: 'gamenodes.gantry.dev is forbidden: User "alice" cannot list resource "gamenodes" in API group "gantry.dev" at the cluster scope (requires node.read)' });

    const rv = (await req(alice, 'GET', `${NS}/gameservers`)).body.metadata.resourceVersion;
    const ctrl = new AbortController();
    const res = await a.app.request(`${NS}/gameservers?watch=true&resourceVersion=${rv}`, { headers: alice.headers, signal: ctrl.signal });
    await req(admin, 'PATCH', `${NS}/gameservers/kube-bob`, { spec: { displayName: 'bob!' } }, MERGE);
    await req(admin, 'PATCH', `${NS}/gameservers/kube-alice`, { spec: { displayName: 'alice!' } }, MERGE);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    const first = JSON.parse(new TextDecoder().decode(value).split('\n')[0]!);
    ctrl.abort();
    expect(first).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'kube-alice' } } });
  });

  it('authorises each edit by what it changes', async () => {
    const patch = (who: SignedIn, name: string, body: unknown) => req(who, 'PATCH', `${NS}/gameservers/${name}`, body, MERGE);
    expect((await patch(alice, 'kube-alice', { spec: { displayName: 'mine' } })).status).toBe(200);
    expect((await patch(alice, 'kube-alice', { spec: { state: 'Running' } })).status).toBe(200);
    const limits = await patch(alice, 'kube-alice', { spec: { resources: { memoryMb: 99999 } } });
    expect(limits.body).toMatchObject({ reason: 'Forbidden', code: 403, message: expect.stringMatching(/User "alice" cannot patch resource "gameservers".*requires server\.update/) });
    expect((await patch(alice, 'kube-alice', { spec: { owner: bob.userId } })).body.reason).toBe('Forbidden');
    expect((await patch(alice, 'kube-alice', { spec: { suspended: true } })).body.reason).toBe('Forbidden');
    expect((await patch(alice, 'kube-alice', { metadata: { finalizers: null } })).body.message).toMatch(/finalizers/);
    expect((await patch(alice, 'kube-bob', { spec: { displayName: 'hijack' } })).body.reason).toBe('NotFound');
    expect((await req(alice, 'PATCH', `${NS}/gameservers/kube-alice/status`, { status: { phase: 'running' } }, MERGE)).body.reason).toBe('Forbidden');
    // Owners cannot delete their servers (server.delete is not an owner permission), as in the REST API.
    expect((await req(alice, 'DELETE', `${NS}/gameservers/kube-alice`)).body.reason).toBe('Forbidden');
    // carol may start but not rename.
    expect((await patch(carol, 'kube-alice', { spec: { state: 'Stopped' } })).body.reason).toBe('Forbidden');
    expect((await patch(carol, 'kube-alice', { spec: { state: 'Running', displayName: 'carol' } })).body.reason).toBe('Forbidden');
    expect((await patch(carol, 'kube-alice', { spec: { displayName: 'carol' } })).body.message).toMatch(/requires server\.update/);
  });

  it('creates with the caller as owner, and scopes server-bound kinds to their server', async () => {
    const mine = await req(alice, 'POST', `${NS}/gameservers`, { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'kube-alice-2' }, spec: { templateRef: 'testgame' } });
    expect(mine.status).toBe(201);
    expect(mine.body.spec.owner).toBe(alice.userId);
    expect((await req(bob, 'POST', `${NS}/gameservers`, { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'kube-bob-2' }, spec: { templateRef: 'testgame' } })).body.reason).toBe('Forbidden');
    const forOther = await req(alice, 'POST', `${NS}/gameservers`, { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'kube-gift' }, spec: { templateRef: 'testgame', owner: bob.userId } });
    expect(forOther.body.reason).toBe('Forbidden');
    const backup = (serverRef: string) => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Backup', metadata: { generateName: `${serverRef}-` }, spec: { serverRef } });
    const ok = await req(alice, 'POST', `${NS}/backups`, backup('kube-alice'));
    expect(ok.status).toBe(201);
    expect((await req(alice, 'POST', `${NS}/backups`, backup('kube-bob'))).body.reason).toBe('Forbidden');
    expect((await req(bob, 'GET', `${NS}/backups`)).body.items).toEqual([]);
    expect((await req(bob, 'GET', `${NS}/backups/${ok.body.metadata.name}`)).body.reason).toBe('NotFound');
    expect((await req(carol, 'POST', `${NS}/backups`, backup('kube-alice'))).body.reason).toBe('Forbidden');
  });

  it('forgets subuser grants when a server is deleted, so a namesake does not inherit them', async () => {
    await req(admin, 'POST', `${NS}/gameservers`, server('kube-reborn', alice.userId));
    await a.svc.accounts.setServerGrant('default', 'kube-reborn', bob.userId, ['server.read']);
    expect((await req(bob, 'GET', `${NS}/gameservers/kube-reborn`)).status).toBe(200);
    expect((await req(admin, 'DELETE', `${NS}/gameservers/kube-reborn?dryRun=All`)).status).toBe(202);
    expect((await req(bob, 'GET', `${NS}/gameservers/kube-reborn`)).status).toBe(200); // a dry run forgets nothing
    expect((await req(admin, 'DELETE', `${NS}/gameservers/kube-reborn`)).status).toBe(202);
    await req(admin, 'PATCH', `${NS}/gameservers/kube-reborn`, { metadata: { finalizers: null } }, MERGE); // what the controller would do
    expect((await req(admin, 'GET', `${NS}/gameservers/kube-reborn`)).status).toBe(404);
    expect((await req(admin, 'POST', `${NS}/gameservers`, server('kube-reborn', alice.userId))).status).toBe(201);
    expect((await req(bob, 'GET', `${NS}/gameservers/kube-reborn`)).body.reason).toBe('NotFound');
  });

  it('shows events only of readable objects, and audits writes and refusals naming the facade', async () => {
    await a.env.events.record({ kind: 'GameServer', namespace: 'default', name: 'kube-alice' }, 'Normal', 'Started', 'alice up');
    await a.env.events.record({ kind: 'GameServer', namespace: 'default', name: 'kube-bob' }, 'Normal', 'Started', 'bob up');
    const seen = (await req(alice, 'GET', '/k8s/api/v1/namespaces/default/events')).body.items.map((e: { message: string }) => e.message);
    expect(seen).toEqual(['alice up']);
    expect((await req(admin, 'GET', '/k8s/api/v1/namespaces/default/events')).body.items).toHaveLength(2);

    await new Promise((r) => setTimeout(r, 50)); // audit writes are fire-and-forget
    const entries = (await a.svc.audit.list({ userId: alice.userId, limit: 100 })).filter((e) => e.metadata.facade === 'kubernetes');
    expect(entries.some((e) => e.action === 'server.start' && e.status === 200 && e.resourceId === 'default/kube-alice')).toBe(true);
    expect(entries.some((e) => e.status === 403 && e.resourceId === 'default/kube-alice')).toBe(true);
    expect(entries.some((e) => e.action === 'server.create' && e.status === 201 && e.resourceId === 'default/kube-alice-2')).toBe(true);
  });
});
