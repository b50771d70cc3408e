// Catalyst flow 3 end to end: `gantry up` (embedded, real local agent, real Docker), a client on /ws
// watches a server start (server_state_update with previousState), types "say hello" (console_input)
// and reads the game server's answer (server_log).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { signIn, type SignedIn } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-ws';
type Msg = Record<string, any>;

function openWs(url: string): Promise<{ ws: WebSocket; received: Msg[]; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const received: Msg[] = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString()) as Msg));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.once('open', () => resolve({ ws, received, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('client WebSocket with a real agent and Docker', () => {
  let gantry: Embedded;
  let dataDir: string;
  let alice: SignedIn;
  const get = async () => (await gantry.store.get('GameServer', 'default', 'wsgame')) as unknown as GameServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-ws-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    await until('the local node Online', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
    alice = await signIn(gantry.api, 'alice');
  });

  afterAll(async () => {
    const s = await get().catch(() => undefined);
    await gantry?.stop();
    if (s?.status?.containerId) await run('docker', ['rm', '-f', s.status.containerId]).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses /ws without a token with 401', async () => {
    await expect(openWs(`${gantry.url.replace('http', 'ws')}/ws`)).rejects.toThrow(/401/);
  });

  it('flow 3: state updates with previousState on start, console_input "say hello", the echo as server_log', async () => {
    await gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name: 'wsgame', namespace: 'default' },
      spec: { templateRef: 'testgame', owner: alice.userId, state: 'Stopped', resources: { memoryMb: 64, cpuCores: 0.5, diskMb: 50 } },
    });
    await until('phase stopped (scheduled, created)', async () => (await get()).status?.phase === 'stopped');

    const c = await openWs(`${gantry.url.replace('http', 'ws')}/ws?token=${alice.token}`);
    c.ws.send(JSON.stringify({ type: 'subscribe', serverId: 'wsgame', events: ['server_log', 'server_state_update'] }));
    const sub = await until('subscribed', () => c.received.find((m) => m.type === 'subscribed'), 10_000);
    expect(sub).toMatchObject({ serverId: 'wsgame', state: 'stopped' });

    await gantry.store.patch('GameServer', 'default', 'wsgame', { spec: { state: 'Running' } });
    await until('server_state_update running', () => c.received.some((m) => m.type === 'server_state_update' && m.state === 'running'));
    const updates = c.received.filter((m) => m.type === 'server_state_update');
    expect(updates[0]).toMatchObject({ serverId: 'wsgame', previousState: 'stopped' });
    // Each update names the state before it: a chain from stopped to running.
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.previousState).toBe(updates[i - 1]!.state);
    expect(updates.map((u) => u.state)).toContain('starting');
    // The boot lines came as server_log while it started.
    expect(c.received.some((m) => m.type === 'server_log' && m.data === 'Done! server ready\n')).toBe(true);

    c.ws.send(JSON.stringify({ type: 'console_input', serverId: 'wsgame', data: 'say hello\n' }));
    const line = await until('the [say] line', () => c.received.find((m) => m.type === 'server_log' && m.data === '[say] hello\n'), 20_000);
    expect(line).toMatchObject({ serverId: 'wsgame', stream: 'stdout' });
    expect(Date.parse(line.timestamp)).toBeGreaterThan(0);
    expect(c.received.filter((m) => m.type === 'error')).toEqual([]);

    // Deleting the user closes the socket at once.
    await gantry.api.accounts.deleteUser(alice.userId);
    expect(await c.closed).toBe(4401);
  }, 120_000);
});
