// Every API reader of "which node" during a transfer (spec.nodeName = target, status.nodeName = the
// source still holding the data), against the real app and hub with two scripted agents over real
// WebSockets: data readers (logs, console, files) go to the source, what the server shows is the
// source, node filters list it on both nodes, new limits and ports are checked on the target.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signIn, type SignedIn } from '../helpers/api.ts';
import { eventually, startHarness, type Harness, type TestAgent } from './hub-harness.ts';

const SOURCE = 'node-src';
const TARGET = 'node-dst';

describe('placement readers during a transfer', () => {
  let h: Harness;
  let owner: SignedIn;
  const agents: Record<string, TestAgent> = {};

  const call = async (who: SignedIn, method: string, p: string, body?: unknown) => {
    const res = await fetch(h.url + p, { method, headers: { 'content-type': 'application/json', ...who.headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  beforeEach(async () => {
    h = await startHarness();
    owner = await signIn(h.api, 'mover');
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'tiny' }, spec: { image: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh', ports: [{ containerPort: 25565 }], resources: { memoryMb: 128, cpuCores: 0.5, diskMb: 0 } } });
    for (const [node, range] of [[SOURCE, { start: 40000, end: 40009 }], [TARGET, { start: 41000, end: 41009 }]] as const) {
      const { credential } = await h.enrolledNode(node);
      await h.env.store.patch('GameNode', undefined, node, { spec: { portRange: range, capacity: { memoryMb: node === TARGET ? 512 : 8192, cpuCores: 4, diskMb: 100000 } } });
      const agent = await h.agent(credential);
      await agent.handshake();
      agent.send({ type: 'snapshot', containers: [] });
      agents[node] = agent;
      await eventually(() => h.hub.node(node)?.synced, `snapshot of ${node}`);
    }
    // Admitted on the source, then re-bound to the target: the transfer state.
    const created = await call(h.admin, 'POST', '/api/servers', { name: 'moving', templateId: 'tiny', nodeId: SOURCE, allocatedMemoryMb: 256 });
    expect(created.status).toBe(201);
    await h.env.store.patch('GameServer', 'default', 'moving', { spec: { owner: owner.userId, nodeName: TARGET } });
    await h.env.store.patchStatus('GameServer', 'default', 'moving', { phase: 'stopped', nodeName: SOURCE, ports: [{ containerPort: 25565, hostPort: 40000, protocol: 'TCP' }] });
  });
  afterEach(() => h.close());

  it('shows the source as the server\'s node and lists it under both nodes', async () => {
    const one = await call(owner, 'GET', '/api/servers/moving');
    expect(one.status).toBe(200);
    expect(one.body.data.nodeId).toBe(SOURCE);
    expect(one.body.data.node.id).toBe(SOURCE);
    for (const node of [SOURCE, TARGET]) {
      const list = await call(owner, 'GET', `/api/servers?nodeId=${node}`);
      expect(list.body.data.map((s: { id: string }) => s.id), node).toEqual(['moving']);
      const admin = await call(h.admin, 'GET', `/api/admin/servers?nodeId=${node}`);
      expect(admin.body.data.map((s: { id: string; nodeId: string }) => [s.id, s.nodeId]), node).toEqual([['moving', SOURCE]]);
    }
    expect((await call(owner, 'GET', '/api/servers?nodeId=elsewhere')).body.data).toEqual([]);
  });

  it('reads console history and files from the source, never from the target', async () => {
    const uid = (await h.env.store.get('GameServer', 'default', 'moving')).metadata.uid!;
    agents[SOURCE]!.send({ type: 'console', uid, lines: [{ stream: 'stdout', line: 'on the source', ts: 1 }] });
    await eventually(() => h.hub.consoleHistory(SOURCE, uid).length === 1, 'console line in the hub');
    const logs = await call(owner, 'GET', '/api/servers/moving/logs');
    expect(logs.body.data.map((l: { data: string }) => l.data)).toEqual(['on the source\n']);

    const pending = call(owner, 'GET', '/api/servers/moving/files?path=/');
    const req = await agents[SOURCE]!.next('request');
    expect(req).toMatchObject({ method: 'files.list', params: { uid, dataDir: 'default/moving', path: '/' } });
    agents[SOURCE]!.send({ type: 'response', id: req.id, ok: true, result: { path: '/', entries: [], truncated: false } });
    expect((await pending).status).toBe(200);
    expect(agents[TARGET]!.received.filter((m) => m.type === 'request')).toEqual([]);
  });

  it('checks new limits and allocates new ports on the target', async () => {
    // The target has 512 MiB: 1024 does not fit there (it would on the source).
    const tooBig = await call(h.admin, 'PUT', '/api/servers/moving', { allocatedMemoryMb: 1024 });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.message).toContain(`on node ${TARGET}`);

    const added = await call(h.admin, 'POST', '/api/servers/moving/allocations', { containerPort: 27015, protocol: 'UDP' });
    expect(added.status).toBe(200);
    expect(added.body.data.hostPort).toBeGreaterThanOrEqual(41000);
    expect(added.body.data.hostPort).toBeLessThanOrEqual(41009);
  });
});
