// `gantry node token NAME` against a real `gantry up` process (its administrator created from
// GANTRY_ADMIN_PASSWORD), and an agent (a `ws` client) enrolling and connecting to it with what the
// command printed. The command functions are called directly, authenticated with a token or GANTRY_TOKEN.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AGENT_CONNECT_PATH, AGENT_ENROLL_PATH, PROTOCOL_VERSION } from '../../agent/protocol.ts';
import { ApiError, GantryClient } from '../../bin/client.ts';
import { nodeCommand, nodeToken } from '../../bin/commands/node.ts';
import { CLOSE_GOING_AWAY, CLOSE_REVOKED } from '../../controller/hub/close-codes.ts';
import { eventually, hello } from './hub-harness.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const ADMIN_PASSWORD = 'enroll-admin-password';

interface Up {
  proc: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function startUp(dataDir: string): Promise<Up> {
  const proc = spawn(GANTRY, ['up', '--port', '0', '--sftp-port', '0', '--host', '127.0.0.1', '--no-agent', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'info', GANTRY_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const tail: string[] = [];
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        tail.push(l);
        try {
          const rec = JSON.parse(l) as Record<string, unknown>;
          if (rec.msg === 'gantry is up') resolve(rec.url as string);
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`gantry up exited with ${code}: ${tail.slice(-5).join('\n')}`)));
  });
  return { proc, url, exited };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

function connectAgent(url: string, credential: string) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + AGENT_CONNECT_PATH, { headers: { authorization: `Bearer ${credential}` } });
  const messages: { type: string; [k: string]: unknown }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; ts?: number };
    if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: m.ts }));
    else messages.push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, closed, opened };
}

async function adminToken(url: string): Promise<string> {
  const res = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { token: string } }).data.token;
}

describe('gantry node token against gantry up', () => {
  let dataDir: string;
  let up: Up;
  let adminAccess: string;
  let auth: Record<string, string>;
  /** A client env with no stored login to fall back on. */
  let bare: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-node-'));
    bare = { GANTRY_CONFIG_DIR: path.join(dataDir, 'config') };
    up = await startUp(path.join(dataDir, 'data'));
    adminAccess = await adminToken(up.url);
    auth = { authorization: `Bearer ${adminAccess}` };
    const res = await fetch(`${up.url}/k8s/apis/gantry.dev/v1alpha1/gamenodes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'edge-1' }, spec: { address: '10.0.0.7' } }),
    });
    expect(res.status).toBe(201);
  });

  afterAll(async () => {
    if (up.proc.exitCode === null) up.proc.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('needs a signed-in caller holding node.deploy', async () => {
    const anon = await nodeToken(new GantryClient(up.url, { env: bare }), 'edge-1', {}, capture().io).catch((e: unknown) => e);
    expect(anon).toMatchObject({ status: 401, message: expect.stringContaining('gantry login') });
    const reg = await fetch(`${up.url}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'pat@example.com', username: 'pat', password: 'pat-password' }) });
    const patToken = ((await reg.json()) as { data: { token: string } }).data.token;
    const denied = await nodeToken(new GantryClient(up.url, { token: patToken }), 'edge-1', {}, capture().io).catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 403, message: expect.stringContaining('node.deploy') });
  });

  it('reports an unknown node and usage errors', async () => {
    const c = capture();
    const err = await nodeToken(new GantryClient(up.url, { token: adminAccess }), 'ghost', {}, c.io).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, message: 'GameNode "ghost" not found' });

    const u = capture();
    expect(await nodeCommand(['token'], u.io)).toBe(2);
    expect(u.err.join('\n')).toMatch(/needs exactly one node NAME/);
    expect(await nodeCommand(['frobnicate'], u.io)).toBe(2);
  });

  it('prints a token, its expiry and the agent command; the agent enrols, connects, and is locked out by the next token', async () => {
    const c = capture();
    expect(await nodeToken(new GantryClient(up.url, { token: adminAccess }), 'edge-1', { ttl: '2h' }, c.io)).toBe(0);
    const text = c.out.join('\n');
    const token = /(gdt_[A-Za-z0-9_-]{43})/.exec(text)?.[1];
    expect(token).toBeDefined();
    const expires = /expires (\S+)\)/.exec(text)?.[1];
    expect(Date.parse(expires!) - Date.now()).toBeGreaterThan(HOUR_AND_A_HALF);
    expect(text).toContain(`gantry agent --panel ${up.url} --token ${token}`);

    const enrol = await fetch(up.url + AGENT_ENROLL_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, agentVersion: '0.1.0-test' }),
    });
    expect(enrol.status).toBe(200);
    const { credential, nodeName } = (await enrol.json()) as { credential: string; nodeName: string };
    expect(nodeName).toBe('edge-1');

    const agent = connectAgent(up.url, credential);
    await agent.opened;
    agent.ws.send(JSON.stringify(hello()));
    await eventually(() => agent.messages.find((m) => m.type === 'welcome'), 'welcome');
    expect(agent.messages[0]).toMatchObject({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, nodeName: 'edge-1' });
    await eventually(async () => {
      const n = (await (await fetch(`${up.url}/k8s/apis/gantry.dev/v1alpha1/gamenodes/edge-1`, { headers: auth })).json()) as { status?: { phase?: string } };
      return n.status?.phase === 'Online';
    }, 'GameNode Online');

    // JSON output, and rotation: the connected agent is disconnected.
    // The command as the CLI runs it, authenticated by GANTRY_TOKEN.
    const j = capture();
    process.env.GANTRY_TOKEN = adminAccess;
    try {
      expect(await nodeCommand(['token', 'edge-1', '-o', 'json', '--server', up.url], j.io)).toBe(0);
    } finally {
      delete process.env.GANTRY_TOKEN;
    }
    const data = JSON.parse(j.out.join('\n')) as { deploymentToken: string; expiresAt: string; command: string };
    expect(data.deploymentToken).toMatch(/^gdt_/);
    expect(data.command).toBe(`gantry agent --panel ${up.url} --token ${data.deploymentToken}`);
    expect((await agent.closed).code).toBe(CLOSE_REVOKED);

    // Enrol again with the new token and stay connected through the shutdown of `gantry up`.
    const again = await fetch(up.url + AGENT_ENROLL_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: data.deploymentToken, agentVersion: '0.1.0-test' }),
    });
    const agent2 = connectAgent(up.url, ((await again.json()) as { credential: string }).credential);
    await agent2.opened;
    agent2.ws.send(JSON.stringify(hello()));
    await eventually(() => agent2.messages.find((m) => m.type === 'welcome'), 'welcome');
    up.proc.kill('SIGTERM');
    expect((await agent2.closed).code).toBe(CLOSE_GOING_AWAY);
    expect(await up.exited).toBe(0);

    // The hub wrote Offline on the way out, before the database closed.
    up = await startUp(path.join(dataDir, 'data'));
    // The session outlives the restart: the same access token still works.
    const n = (await (await fetch(`${up.url}/k8s/apis/gantry.dev/v1alpha1/gamenodes/edge-1`, { headers: auth })).json()) as { status?: { phase?: string; agentVersion?: string } };
    expect(n.status).toMatchObject({ phase: 'Offline', agentVersion: '0.1.0-test' });
    up.proc.kill('SIGTERM');
    expect(await up.exited).toBe(0);
  });
});

const HOUR_AND_A_HALF = 90 * 60_000;
