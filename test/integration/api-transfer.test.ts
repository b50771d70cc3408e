// POST /api/servers/:id/transfer (Catalyst "Transfer Server") over the real app, store and hub (hub
// harness; the nodes' agents are scripted over real WebSockets, so connected and offline are real):
// the document's refusals (400 not stopped / target offline or short of resources / already there),
// 404, 409 while a transfer runs, 503 when the data's node is offline, who may ask, and the spec edit
// an accepted transfer makes (the host ports the source's range gave are handed back).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GameServer } from '../../crds/types.ts';
import { signIn } from '../helpers/api.ts';
import { eventually, startHarness, type Harness, type TestAgent } from './hub-harness.ts';

let h: Harness;
const agents: TestAgent[] = [];

async function onlineNode(name: string, spec: Record<string, unknown> = {}): Promise<void> {
  const { credential } = await h.enrolledNode(name);
  if (Object.keys(spec).length) await h.env.store.patch('GameNode', undefined, name, { spec });
  const agent = await h.agent(credential);
  agents.push(agent);
  await agent.handshake();
  agent.send({ type: 'snapshot', containers: [] });
  await eventually(async () => h.hub.node(name)?.synced && ((await h.env.store.get('GameNode', undefined, name)).status as { phase?: string } | undefined)?.phase === 'Online', `${name} online`);
}

async function placedServer(name: string, node: string, spec: Record<string, unknown> = {}, phase = 'stopped'): Promise<GameServer> {
  await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: node, state: 'Stopped', resources: { memoryMb: 512, cpuCores: 0.5, diskMb: 100 }, ...spec } });
  return h.env.store.patchStatus<GameServer>('GameServer', 'default', name, { nodeName: node, phase, ports: [{ containerPort: 25565, hostPort: 27005, protocol: 'TCP', primary: true }] });
}

const post = async (id: string, body: unknown, headers: Record<string, string> = h.admin.headers, query = '') => {
  const res = await fetch(`${h.url}/api/servers/${id}/transfer${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};
const get = (name: string) => h.env.store.get<GameServer>('GameServer', 'default', name);

beforeAll(async () => {
  h = await startHarness();
  await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'testgame' }, spec: { image: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh', ports: [{ name: 'game', containerPort: 25565 }] } });
  for (const n of ['src', 'dst']) await onlineNode(n, { capacity: { memoryMb: 4096, cpuCores: 4, diskMb: 10_000 }, portRange: { start: n === 'src' ? 27000 : 28000, end: n === 'src' ? 27100 : 28100 } });
  await onlineNode('cordoned', { unschedulable: true, capacity: { memoryMb: 4096, cpuCores: 4, diskMb: 10_000 } });
  await onlineNode('tiny', { capacity: { memoryMb: 256, cpuCores: 4, diskMb: 10_000 } });
  await h.createNode('away');
  await placedServer('mc', 'src', { ports: [{ containerPort: 25565, hostPort: 27005, protocol: 'TCP', primary: true }, { containerPort: 25575, hostPort: 25575, protocol: 'TCP' }] });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe('POST /api/servers/:id/transfer: refusals', () => {
  it('400 when the server is not stopped', async () => {
    await placedServer('running', 'src', { state: 'Running' }, 'running');
    const r = await post('running', { targetNodeId: 'dst' });
    expect(r).toMatchObject({ status: 400, body: { statusCode: 400, reason: 'server_not_stopped' } });
    expect(r.body.message).toMatch(/^Server must be stopped before a transfer/);
  });

  it('400 when the server is already on the target node', async () => {
    const r = await post('mc', { targetNodeId: 'src' });
    expect(r).toMatchObject({ status: 400, body: { message: 'Server already on target node src', reason: 'already_on_node' } });
  });

  it('400 when the target is offline, cordoned or short of resources; 404 when it does not exist', async () => {
    expect(await post('mc', { targetNodeId: 'away' })).toMatchObject({ status: 400, body: { message: 'Target node away is offline', reason: 'target_offline' } });
    expect(await post('mc', { targetNodeId: 'cordoned' })).toMatchObject({ status: 400, body: { reason: 'target_unschedulable' } });
    const tiny = await post('mc', { targetNodeId: 'tiny' });
    expect(tiny).toMatchObject({ status: 400, body: { reason: 'insufficient_resources' } });
    expect(tiny.body.message).toMatch(/^Node does not have enough resources: needs 512 MiB memory, 256 free on node tiny/);
    expect(await post('mc', { targetNodeId: 'nowhere' })).toMatchObject({ status: 404, body: { message: 'Node not found: "nowhere"' } });
    expect((await get('mc')).spec?.nodeName).toBe('src');
  });

  it('400 when a host port the operator chose is taken on the target', async () => {
    await placedServer('holder', 'dst', { ports: [{ containerPort: 25565, hostPort: 25575, protocol: 'TCP', primary: true }] });
    const r = await post('mc', { targetNodeId: 'dst' });
    expect(r).toMatchObject({ status: 400, body: { reason: 'port_unavailable' } });
    expect(r.body.message).toMatch(/port 25575\/TCP on node dst is already used by default\/holder/);
    await h.env.store.delete('GameServer', 'default', 'holder');
  });

  it('503 when the node holding the data is offline (its agent streams the data)', async () => {
    await placedServer('stranded', 'away');
    expect(await post('stranded', { targetNodeId: 'dst' })).toMatchObject({ status: 503, body: { reason: 'source_offline' } });
  });

  it('only holders of the global server.transfer: an owner cannot move their own server (404 for others)', async () => {
    const owner = await signIn(h.api, 'owner-1');
    await h.env.store.patch('GameServer', 'default', 'mc', { spec: { owner: owner.userId } });
    expect((await post('mc', { targetNodeId: 'dst' }, owner.headers)).status).toBe(403);
    const stranger = await signIn(h.api, 'stranger-1');
    expect((await post('mc', { targetNodeId: 'dst' }, stranger.headers)).status).toBe(404);
    expect((await post('mc', {}, h.admin.headers)).status).toBe(400);
    expect((await get('mc')).spec?.nodeName).toBe('src');
  });
});

describe('POST /api/servers/:id/transfer: accepted', () => {
  it('sets spec.nodeName to the target, hands back the ports the source\'s range gave, answers "initiated"; a second request is 409', async () => {
    const r = await post('mc', { targetNodeId: 'dst' });
    expect(r).toMatchObject({ status: 200, body: { success: true, message: 'Server transfer initiated', server: { id: 'mc', name: 'mc', previousNode: 'src', currentNode: 'src', targetNode: 'dst' } } });
    const s = await get('mc');
    expect(s.spec?.nodeName).toBe('dst');
    expect(s.status?.nodeName).toBe('src'); // the data has not moved yet: only the transfer controller moves it
    expect(s.spec?.ports).toEqual([
      { containerPort: 25565, hostPort: 0, protocol: 'TCP', primary: true },
      { containerPort: 25575, hostPort: 25575, protocol: 'TCP', primary: false },
    ]);
    // Its files can be read (from the source) but not changed while the data moves.
    const write = await fetch(`${h.url}/api/servers/mc/files/write`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.admin.headers }, body: JSON.stringify({ path: '/x.txt', content: 'lost?' }) });
    expect(write.status).toBe(409);
    expect(await write.json()).toMatchObject({ reason: 'transfer_in_progress', message: 'Server "mc" is being moved to node dst: its files can be read but not changed until the transfer ends' });
    const again = await post('mc', { targetNodeId: 'tiny' });
    expect(again).toMatchObject({ status: 409, body: { reason: 'transfer_in_progress' } });
    const audit = await h.api.audit.list({ action: 'server.transfer' });
    expect(audit.some((e) => e.metadata?.targetNode === 'dst' && e.metadata?.previousNode === 'src')).toBe(true);
  });
});
