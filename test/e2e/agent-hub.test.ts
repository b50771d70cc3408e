// The real pieces together: `gantry up`'s embedded controller side (store, enrolment, hub, HTTP) and a
// real `gantry agent` process enrolled with a one-time token, running the test image in real Docker.
// The controller drives the container only through the hub's RPCs, as reconcilers will.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { ConsoleLine } from '../../agent/protocol.ts';
import type { ContainerSpec } from '../../agent/runtime/spec.ts';
import type { GameNode } from '../../crds/types.ts';
import { signInAdmin } from '../helpers/api.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);
const NODE = `e2e-${randomUUID().slice(0, 6)}`;

interface AgentProc {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startAgent(args: string[]): AgentProc {
  const proc = spawn(GANTRY, ['agent', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, stderr: () => err, exited: new Promise((r) => proc.on('exit', (code) => r(code))) };
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('controller hub ↔ real agent process ↔ real Docker', () => {
  let gantry: Embedded;
  let dataDir: string;
  let agentDir: string;
  let agent: AgentProc | undefined;
  const uid = randomUUID();
  const consoleLines: string[] = [];

  const issueToken = async () => {
    const res = await fetch(`${gantry.url}/api/nodes/${NODE}/deployment-token`, { method: 'POST', headers: { 'content-type': 'application/json', ...(await signInAdmin(gantry.api)).headers }, body: '{}' });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: { deploymentToken: string } }).data.deploymentToken;
  };
  const nodePhase = async () => ((await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.phase;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-up-'));
    agentDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-agent-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1' });
    gantry.hub.on('console', (_node: string, u: string, lines: ConsoleLine[]) => {
      if (u === uid) consoleLines.push(...lines.map((l) => l.line));
    });
    await gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: NODE }, spec: { address: '127.0.0.1' } });
  });

  afterAll(async () => {
    if (agent && agent.proc.exitCode === null) {
      agent.proc.kill('SIGTERM');
      await agent.exited;
    }
    await run('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${uid}) 2>/dev/null || true`]);
    await gantry?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(agentDir, { recursive: true, force: true });
  });

  it('refuses a wrong token with a message that says so', async () => {
    const wrong = startAgent(['--panel', gantry.url, '--token', 'gdt_not-a-real-token', '--data-dir', path.join(agentDir, 'wrong')]);
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr()).toMatch(/unknown deployment token/);
  });

  it('enrols with a one-time token, keeps the credential 0600, and the node goes Online', async () => {
    const token = await issueToken();
    agent = startAgent(['--panel', gantry.url, '--token', token, '--data-dir', agentDir]);
    await until('the agent to connect', () => gantry.hub.isConnected(NODE));
    await until('GameNode Online', async () => (await nodePhase()) === 'Online');
    expect((await stat(path.join(agentDir, 'credential.json'))).mode & 0o777).toBe(0o600);
    // The GameNode controller fills in what the node offers, from the agent's health report.
    const node = await until('allocatable and Ready', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.allocatable?.memoryMb && n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
    });
    expect(node.status!.allocatable!.cpuCores).toBeGreaterThan(0);
    const metrics = await (await fetch(`${gantry.url}/metrics`, { headers: (await signInAdmin(gantry.api)).headers })).text();
    expect(metrics).toMatch(/gantry_reconcile_total\{controller="gamenode",result="success"\} [1-9]/);

    const reused = startAgent(['--panel', gantry.url, '--token', token, '--data-dir', path.join(agentDir, 'reuse')]);
    expect(await reused.exited).toBe(2);
    expect(reused.stderr()).toMatch(/already used/);
  });

  it('runs a game server through hub RPCs: create, start, console, stop', async () => {
    const spec: ContainerSpec = {
      serverUid: uid,
      name: 'e2e',
      namespace: 'default',
      image: 'gantry-test/gameserver:1',
      command: ['/gameserver.sh'],
      env: { SERVER_PORT: 'none' },
      dataDir: 'default/e2e',
      dataPath: '/data',
      memoryMb: 128,
      stop: { type: 'command', value: 'stop' },
      stopTimeoutSeconds: 30,
    };
    await gantry.hub.call(NODE, 'ensureImage', { image: spec.image });
    await gantry.hub.call(NODE, 'create', { spec });
    await gantry.hub.call(NODE, 'start', { uid });
    await until('the ready line', () => consoleLines.includes('Done! server ready'));
    expect(consoleLines[0]).toMatch(/^\[boot\]/); // attached before start: nothing printed at boot is lost
    await until('observed running', () => gantry.hub.container(NODE, uid)?.state === 'running');

    await gantry.hub.call(NODE, 'sendCommand', { uid, line: 'say hello from the hub' });
    await until('the echo', () => consoleLines.includes('[say] hello from the hub'));

    const stopped = await gantry.hub.call(NODE, 'stop', { uid });
    expect(stopped.exitCode).toBe(0);
    expect(existsSync(path.join(agentDir, 'servers/default/e2e/saved'))).toBe(true);
    await until('observed exited', () => gantry.hub.container(NODE, uid)?.state === 'exited');

    const bad = await gantry.hub.call(NODE, 'start', { uid: 'no-such-server' }).catch((e: Error & { code?: string }) => e);
    expect(bad).toBeInstanceOf(Error);
    expect((bad as { code?: string }).code).toBe('not_found');
  });

  it('survives an agent restart without restarting the container', async () => {
    await gantry.hub.call(NODE, 'start', { uid });
    const before = await until('running with a start time', () => {
      const c = gantry.hub.container(NODE, uid);
      return c?.state === 'running' && c.startedAt ? c.startedAt : undefined;
    });
    agent!.proc.kill('SIGTERM');
    expect(await agent!.exited).toBe(0);
    await until('the node to drop', () => !gantry.hub.isConnected(NODE));

    agent = startAgent(['--data-dir', agentDir]); // stored credential and panel; no token
    await until('the agent to reconnect', () => gantry.hub.isConnected(NODE));
    const after = await until('the snapshot', () => gantry.hub.container(NODE, uid));
    expect(after.state).toBe('running');
    expect(after.startedAt).toBe(before);
  });

  it('survives a dockerd restart and reports the truth afterwards', async () => {
    const engine = (cmd: string) => run('bash', [path.join(ROOT, 'scripts/docker-engine.sh'), cmd], { timeout: 120_000 });
    expect(gantry.hub.container(NODE, uid)?.state).toBe('running');
    await engine('stop');
    try {
      // Without live-restore, stopping dockerd stops its containers: the agent must not keep saying "running".
      await until('the container to be reported not running', () => gantry.hub.container(NODE, uid)?.state !== 'running');
    } finally {
      await engine('ensure');
    }
    await until('a truthful report after the engine is back', () => gantry.hub.container(NODE, uid)?.state === 'exited', 120_000);
    expect(gantry.hub.isConnected(NODE)).toBe(true);
    await gantry.hub.call(NODE, 'start', { uid });
    await until('running again', () => gantry.hub.container(NODE, uid)?.state === 'running');
  });

  it('locks the agent out when the node token is rotated', async () => {
    await issueToken();
    expect(await agent!.exited).toBe(2);
    expect(agent!.stderr()).toMatch(/credential/i);
    expect(gantry.hub.isConnected(NODE)).toBe(false);
    await until('GameNode Offline', async () => (await nodePhase()) === 'Offline');
  });
});
