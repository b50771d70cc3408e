// Logs, console commands and live usage through the real app, hub and a scripted agent over a real
// WebSocket: history from the hub (and from the agent when the hub has none), stream/limit/before
// filters, command delivery and its refusals (not running, node offline, agent error), stats in GET.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { GameServer } from '../../crds/types.ts';
import { signIn, type SignedIn } from '../helpers/api.ts';
import { eventually, startHarness, type Harness, type TestAgent } from './hub-harness.ts';

const NODE = 'node-c';
const MiB = 1024 * 1024;

describe('server console, logs and usage over the hub', () => {
  let h: Harness;
  let agent: TestAgent;
  let owner: SignedIn;
  let stranger: SignedIn;

  const call = async (who: SignedIn, method: string, p: string, body?: unknown) => {
    const res = await fetch(h.url + p, { method, headers: { 'content-type': 'application/json', ...who.headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const observed = (uid: string, over: Partial<ObservedContainer> = {}): ObservedContainer => ({ uid, name: 'srv', namespace: 'default', containerId: `cid-${uid}`, containerName: `gantry-default-srv`, state: 'running', oomKilled: false, ports: [], ...over });

  async function makeServer(name: string): Promise<GameServer> {
    const res = await call(h.admin, 'POST', '/api/servers', { name, templateId: 'tiny', nodeId: NODE });
    expect(res.status).toBe(201);
    await h.api.store.patch('GameServer', 'default', name, { spec: { owner: owner.userId } });
    await h.api.store.patchStatus('GameServer', 'default', name, { phase: 'running', nodeName: NODE });
    return (await h.api.store.get('GameServer', 'default', name)) as unknown as GameServer;
  }

  beforeEach(async () => {
    h = await startHarness();
    owner = await signIn(h.api, 'owner');
    stranger = await signIn(h.api, 'stranger');
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 'tiny' }, spec: { image: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh', resources: { memoryMb: 128, cpuCores: 0.5, diskMb: 0 } } });
    const { credential } = await h.enrolledNode(NODE);
    agent = await h.agent(credential);
    await agent.handshake();
    agent.send({ type: 'snapshot', containers: [] });
    await eventually(() => h.hub.node(NODE)?.synced, 'snapshot');
  });
  afterEach(() => h.close());

  it('serves console history with stream, limit and before filters', async () => {
    const s = await makeServer('logs');
    const uid = s.metadata.uid!;
    const t0 = Date.parse('2026-01-25T02:29:17.000Z');
    agent.send({
      type: 'console',
      uid,
      lines: [
        { stream: 'system', line: '[Gantry] starting', ts: t0 },
        { stream: 'stdout', line: '[boot] gantry test server v1', ts: t0 + 1000 },
        { stream: 'stderr', line: 'warning: something', ts: t0 + 2000 },
        { stream: 'stdout', line: 'Done! server ready', ts: t0 + 3000 },
      ],
    });
    await eventually(() => h.hub.consoleHistory(NODE, uid).length === 4, 'console lines in the hub');

    const all = await call(owner, 'GET', '/api/servers/logs/logs');
    expect(all.status).toBe(200);
    expect(all.body.data).toHaveLength(4);
    expect(all.body.data[3]).toMatchObject({ serverId: 'logs', stream: 'stdout', data: 'Done! server ready\n', timestamp: '2026-01-25T02:29:20.000Z' });
    expect(typeof all.body.data[3].id).toBe('string');
    expect(new Set(all.body.data.map((l: { id: string }) => l.id)).size).toBe(4);
    expect((await call(owner, 'GET', '/api/servers/logs/logs?stream=stderr')).body.data.map((l: { data: string }) => l.data)).toEqual(['warning: something\n']);
    expect((await call(owner, 'GET', '/api/servers/logs/logs?limit=2')).body).toMatchObject({ hasMore: true, data: [{ stream: 'stderr' }, { stream: 'stdout' }] });
    const before = await call(owner, 'GET', `/api/servers/logs/logs?before=${encodeURIComponent('2026-01-25T02:29:19.000Z')}`);
    expect(before.body.data.map((l: { stream: string }) => l.stream)).toEqual(['system', 'stdout']);
    expect((await call(owner, 'GET', '/api/servers/logs/logs?limit=1001')).status).toBe(400);
    expect((await call(owner, 'GET', '/api/servers/logs/logs?stream=stdin')).status).toBe(400);
    expect((await call(owner, 'GET', '/api/servers/logs/logs?before=yesterday')).body.message).toMatch(/before/);
    expect((await call(stranger, 'GET', '/api/servers/logs/logs')).status).toBe(404);
  });

  it('asks the agent for history when the hub holds none (e.g. after a controller restart)', async () => {
    const s = await makeServer('fresh');
    const pending = call(owner, 'GET', '/api/servers/fresh/logs');
    const req = await agent.next('request');
    expect(req).toMatchObject({ method: 'consoleHistory', params: { uid: s.metadata.uid, lines: 1000 } });
    agent.send({ type: 'response', id: req.id, ok: true, result: [{ stream: 'stdout', line: 'from the agent', ts: 1 }] });
    expect((await pending).body.data.map((l: { data: string }) => l.data)).toEqual(['from the agent\n']);
  });

  it('sends commands to a running server; refuses when not running, when the agent fails, when the node is offline', async () => {
    const s = await makeServer('cmd');
    const uid = s.metadata.uid!;
    const notYet = await call(owner, 'POST', '/api/servers/cmd/command', { command: 'say hi' });
    expect(notYet).toMatchObject({ status: 409, body: { reason: 'server_not_running' } });

    agent.send({ type: 'container', container: observed(uid) });
    await eventually(() => h.hub.container(NODE, uid), 'container observed');
    const pending = call(owner, 'POST', '/api/servers/cmd/command', { command: 'say hi' });
    const req = await agent.next('request');
    expect(req).toMatchObject({ method: 'sendCommand', params: { uid, line: 'say hi' } });
    agent.send({ type: 'response', id: req.id, ok: true, result: {} });
    expect(await pending).toMatchObject({ status: 200, body: { success: true, message: 'Command sent' } });

    const refused = call(owner, 'POST', '/api/servers/cmd/command', { command: 'say no' });
    const req2 = await agent.next('request');
    agent.send({ type: 'response', id: req2.id, ok: false, error: { code: 'not_found', message: 'no console attached' } });
    expect(await refused).toMatchObject({ status: 409, body: { message: 'The node refused the command: no console attached' } });

    expect((await call(owner, 'POST', '/api/servers/cmd/command', { command: '' })).status).toBe(400);
    expect((await call(owner, 'POST', '/api/servers/cmd/command', { command: 'a\nb' })).body.message).toMatch(/one line/);
    expect((await call(stranger, 'POST', '/api/servers/cmd/command', { command: 'x' })).status).toBe(404);

    await h.api.store.patchStatus('GameServer', 'default', 'cmd', { phase: 'stopped' });
    expect((await call(owner, 'POST', '/api/servers/cmd/command', { command: 'x' })).body.message).toBe('Server is not running (status: stopped); start it first');
    await h.api.store.patchStatus('GameServer', 'default', 'cmd', { phase: 'running' });
    await agent.close();
    await eventually(() => !h.hub.isConnected(NODE), 'agent gone');
    expect(await call(owner, 'POST', '/api/servers/cmd/command', { command: 'x' })).toMatchObject({ status: 409, body: { message: `Cannot send the command: node ${NODE} is offline`, reason: 'node_offline' } });
  });

  it('reports live usage from the latest stats sample while running', async () => {
    const s = await makeServer('usage');
    const uid = s.metadata.uid!;
    agent.send({ type: 'container', container: observed(uid) });
    agent.send({ type: 'stats', samples: [{ uid, containerId: `cid-${uid}`, time: Date.now(), cpuPercent: 45.23, onlineCpus: 2, memoryBytes: 300 * MiB, memoryLimitBytes: 512 * MiB, memoryPercent: 58, networkRxBytes: 7654321, networkTxBytes: 1234567, blockReadBytes: 0, blockWriteBytes: 0, pids: 3, overDiskLimit: false }] });
    await eventually(() => h.hub.latestStats(NODE, uid), 'stats');
    const one = await call(owner, 'GET', '/api/servers/usage');
    expect(one.body.data).toMatchObject({ cpuUsage: 45.2, memoryUsageMb: 300, networkSent: 1234567, networkReceived: 7654321, containerName: 'gantry-default-srv', containerId: `cid-${uid}`, node: { id: NODE, isOnline: true } });
    expect((await call(owner, 'GET', '/api/servers')).body.data[0]).toMatchObject({ id: 'usage', cpuUsage: 45.2, memoryUsageMb: 300 });
    // Stopped: the last sample is history, not usage.
    await h.api.store.patchStatus('GameServer', 'default', 'usage', { phase: 'stopped' });
    expect((await call(owner, 'GET', '/api/servers/usage')).body.data).toMatchObject({ cpuUsage: 0, memoryUsageMb: 0 });
  });

  it('the list (served from JSON kept per server) follows every input: the server, its template, a new stats sample, the container', async () => {
    const s = await makeServer('cached');
    const other = await makeServer('other');
    const uid = s.metadata.uid!;
    const list = async () => (await call(h.admin, 'GET', '/api/servers?limit=100')).body as { data: Record<string, unknown>[]; pagination: Record<string, number> };
    const mine = async () => (await list()).data.find((x) => x.id === 'cached')!;
    agent.send({ type: 'container', container: observed(uid) });
    const sample = (cpuPercent: number, time: number) => ({ type: 'stats', samples: [{ uid, containerId: `cid-${uid}`, time, cpuPercent, onlineCpus: 2, memoryBytes: 100 * MiB, memoryLimitBytes: 512 * MiB, memoryPercent: 20, networkRxBytes: 1, networkTxBytes: 2, blockReadBytes: 0, blockWriteBytes: 0, pids: 3, overDiskLimit: false }] });
    agent.send(sample(10, Date.now()));
    await eventually(() => h.hub.latestStats(NODE, uid)?.cpuPercent === 10, 'first sample');
    const first = await list();
    expect(first.pagination).toEqual({ page: 1, limit: 100, total: 2, pages: 1 });
    expect(first.data.map((x) => x.id)).toEqual(['cached', 'other']); // oldest first
    expect(first.data.find((x) => x.id === 'cached')).toMatchObject({ cpuUsage: 10, containerName: 'gantry-default-srv', status: 'running' });
    // The same answer the single-server mapping gives (its list part).
    const one = (await call(h.admin, 'GET', '/api/servers/cached')).body.data as Record<string, unknown>;
    for (const [k, v] of Object.entries(first.data.find((x) => x.id === 'cached')!)) expect(one[k], k).toEqual(v);

    agent.send(sample(77.7, Date.now() + 1));
    await eventually(() => h.hub.latestStats(NODE, uid)?.cpuPercent === 77.7, 'second sample');
    expect(await mine()).toMatchObject({ cpuUsage: 77.7 });
    agent.send({ type: 'container', container: observed(uid, { containerName: 'renamed-container' }) });
    await eventually(() => h.hub.container(NODE, uid)?.containerName === 'renamed-container', 'container update');
    expect(await mine()).toMatchObject({ containerName: 'renamed-container' });
    await h.api.store.patch('ServerTemplate', undefined, 'tiny', { spec: { resources: { memoryMb: 256 } } });
    expect(await mine()).toMatchObject({ allocatedMemoryMb: 256 });
    await h.api.store.patchStatus('GameServer', 'default', 'cached', { message: 'hello' });
    expect(await mine()).toMatchObject({ statusMessage: 'hello', cpuUsage: 77.7 });
    // Another server's change leaves this one's entry as it was, and the other shows its own.
    await h.api.store.patchStatus('GameServer', 'default', other.metadata.name, { message: 'other msg' });
    const last = await list();
    expect(last.data.find((x) => x.id === 'other')).toMatchObject({ statusMessage: 'other msg' });
    expect(last.data.find((x) => x.id === 'cached')).toMatchObject({ statusMessage: 'hello' });
  });
});
