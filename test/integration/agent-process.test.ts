// The real agent (Agent + DockerRuntime against the real engine and the test image) driven through a
// fake controller's RPCs over a real socket: create → start → console (first boot line and the ready
// line) → console command echo → stop (exit 0) → start again → a new Agent instance adopts the running
// container without restarting it → invalid RPCs refused → remove. Then `gantry agent` as a real child
// process: enrols with a token, stores the credential 0600, connects, and exits 0 on SIGTERM leaving
// its container running. Every container carries gantry.test=1 and this run's label; afterAll removes them.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import type { ResponseMessage } from '../../agent/protocol.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { ContainerSpec } from '../../agent/runtime/spec.ts';
import { createLogger } from '../../lib/log.ts';
import { FakeController, grantEnrollment, until } from '../unit/agent-connection.fake-controller.ts';
import { compiledPath } from '../../lib/package-files.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'gantry-test/gameserver:1';
const RUN_ID = randomUUID().slice(0, 8);
const SCOPE = { 'gantry.test': '1', 'gantry.test.run': RUN_ID };
const docker = new Docker();
const log = createLogger({ component: 'agent', test: RUN_ID }, 'warn');

let fc: FakeController;
let dataDir = '';
const agents: Agent[] = [];

function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }));
  });
}

function newAgent(): Agent {
  const a = new Agent({ panel: fc.url, credential: 'cred-1', dataDir, docker, log, scopeLabels: SCOPE, namePrefix: `gantry-test-${RUN_ID}`, connection: { backoff: { initialMs: 50, maxMs: 500 } } });
  agents.push(a);
  return a;
}

function spec(name: string): ContainerSpec {
  return {
    serverUid: randomUUID(),
    name,
    namespace: 'test',
    image: IMAGE,
    command: ['/gameserver.sh'],
    env: { SERVER_PORT: 'none', MOTD: `agent process ${RUN_ID}` },
    dataDir: `test/${name}`, // relative: under DATA_DIR/servers
    dataPath: '/data',
    memoryMb: 128,
    pidsLimit: 64,
    stop: { type: 'command', value: 'stop' },
    stopTimeoutSeconds: 30,
  };
}

const ok = (r: ResponseMessage): unknown => {
  if (!r.ok) throw new Error(`RPC failed: ${r.error.code}: ${r.error.message}`);
  return r.result;
};

/** The latest `container` state of a server over all connections. */
const lastState = (uid: string): ObservedContainer | undefined => fc.all('container').filter((m) => m.container.uid === uid).at(-1)?.container;

beforeAll(async () => {
  const info = await sh('docker', ['info', '--format', '{{.ServerVersion}}'], 30_000);
  if (info.code !== 0) throw new Error(`no Docker engine answers (run: bash scripts/setup.sh): ${info.out.trim()}`);
  const build = await sh('bash', [path.join(ROOT, 'test/images/build.sh')]);
  if (build.code !== 0) throw new Error(`test/images/build.sh failed:\n${build.out}`);
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-proc-'));
  fc = await new FakeController().listen();
});

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => {});
  await fc?.close();
  const list = await docker.listContainers({ all: true, filters: { label: [`gantry.test.run=${RUN_ID}`] } }).catch(() => []);
  for (const c of list) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('agent through a fake controller (real Docker)', () => {
  const main = spec('main');
  let containerId = '';
  let startedAt: string | undefined;

  it('connects: hello, then a snapshot (empty: nothing of this run exists yet)', async () => {
    await newAgent().start();
    const conn = await until('agent ready', () => fc.ready);
    expect(conn.messages[0]).toMatchObject({ type: 'hello', protocolVersion: 1, health: { docker: { version: expect.any(String) }, disk: { path: dataDir } } });
    expect(fc.all('snapshot', conn)[0].containers).toEqual([]);
  });

  it('create → start: console lines arrive from the first boot line to the ready line; state running', async () => {
    const created = ok(await fc.request('create', { spec: main })) as { containerId: string; created: boolean };
    expect(created.created).toBe(true);
    containerId = created.containerId;
    expect(existsSync(path.join(dataDir, 'servers/test/main'))).toBe(true);
    ok(await fc.request('start', { uid: main.serverUid }));
    await until('ready line', () => fc.lines(main.serverUid).includes('Done! server ready'));
    const stdout = fc.console.get(main.serverUid)!.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(stdout[0]).toBe('[boot] gantry test server v1');
    expect(stdout).toContain(`[boot] port=none motd=agent process ${RUN_ID}`);
    const st = await until('running state', () => lastState(main.serverUid)?.state === 'running' && lastState(main.serverUid));
    expect(st.containerId).toBe(containerId);
    startedAt = st.startedAt;
    expect(startedAt).toBeTruthy();
  });

  it('sendCommand: the echo and the answer come back as console lines', async () => {
    ok(await fc.request('sendCommand', { uid: main.serverUid, line: 'say hello agent' }));
    await until('echo', () => fc.lines(main.serverUid).includes('> say hello agent') && fc.lines(main.serverUid).includes('[say] hello agent'));
  });

  it('stop: the template stop command, exit 0, /data/saved written; state exited 0', async () => {
    const r = ok(await fc.request('stop', { uid: main.serverUid })) as { exitCode: number; killed: boolean };
    expect(r).toEqual({ exitCode: 0, killed: false, alreadyStopped: false });
    expect(existsSync(path.join(dataDir, 'servers/test/main/saved'))).toBe(true);
    await until('exited state', () => {
      const s = lastState(main.serverUid);
      return s?.state === 'exited' && s.exitCode === 0;
    });
  });

  it('a new Agent instance adopts the running container without restarting it; its snapshot shows it running', async () => {
    const from = fc.lines(main.serverUid).length;
    ok(await fc.request('start', { uid: main.serverUid }));
    await until('ready again', () => fc.lines(main.serverUid).slice(from).includes('Done! server ready'));
    const running = await until('running again', () => lastState(main.serverUid)?.state === 'running' && lastState(main.serverUid)!.startedAt !== startedAt && lastState(main.serverUid));
    startedAt = running.startedAt;

    const first = agents.at(-1)!;
    const firstConn = fc.ready!;
    await first.stop();
    await until('socket closed', () => firstConn.closed);
    const inspected = await docker.getContainer(containerId).inspect();
    expect(inspected.State.Running).toBe(true); // shutdown leaves containers running

    await newAgent().start();
    const conn = await until('second agent ready', () => fc.ready !== firstConn && fc.ready);
    const snap = fc.all('snapshot', conn)[0].containers.find((o) => o.uid === main.serverUid)!;
    expect(snap).toMatchObject({ state: 'running', containerId, startedAt });
    expect((await docker.getContainer(containerId).inspect()).State.StartedAt).toBe(startedAt);
    // its console was re-attached: commands work through the new agent
    ok(await fc.request('sendCommand', { uid: main.serverUid, line: 'say adopted' }));
    await until('adopted echo', () => fc.lines(main.serverUid).includes('[say] adopted'));
    const inspect = ok(await fc.request('inspect', { uid: main.serverUid })) as ObservedContainer;
    expect(inspect).toMatchObject({ state: 'running', startedAt });
    const history = ok(await fc.request('consoleHistory', { uid: main.serverUid, lines: 5 })) as Array<{ line: string }>;
    expect(history.map((l) => l.line)).toContain('[say] adopted');
  });

  it('invalid RPCs are refused with codes, the connection stays up', async () => {
    const conn = fc.ready!;
    const outside = await fc.request('create', { spec: { ...spec('evil'), dataDir: '/etc' } });
    expect(outside).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringMatching(/not inside/) } });
    const missing = await fc.request('start', { uid: randomUUID() });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const badImage = await fc.request('ensureImage', { image: `gantry-test/absent-${RUN_ID}:0` });
    expect(badImage).toMatchObject({ ok: false, error: { code: 'image_unavailable' } });
    const multi = await fc.request('sendCommand', { uid: main.serverUid, line: 'say a\nstop' });
    expect(multi).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(fc.ready).toBe(conn);
    expect(conn.invalid).toEqual([]);
  });

  it('remove with data: container and data dir gone; state removed', async () => {
    ok(await fc.request('remove', { uid: main.serverUid, removeData: true }));
    expect(existsSync(path.join(dataDir, 'servers/test/main'))).toBe(false);
    await until('removed state', () => lastState(main.serverUid)?.state === 'removed');
    const list = ok(await fc.request('list', {})) as ObservedContainer[];
    expect(list.find((o) => o.uid === main.serverUid)).toBeUndefined();
  });
});

describe('`gantry agent` as a child process', () => {
  it('enrols with the token (credential stored 0600), connects, and on SIGTERM exits 0 leaving its container running', async () => {
    for (const a of agents) await a.stop();
    const procDir = path.join(dataDir, 'proc');
    grantEnrollment(fc, `tok-${RUN_ID}`, `cred-proc-${RUN_ID}`);
    const script = [
      `import { agentCommand } from ${JSON.stringify(compiledPath('bin/commands/agent.ts'))};`,
      `process.exitCode = await agentCommand({ panel: ${JSON.stringify(fc.url)}, token: ${JSON.stringify(`tok-${RUN_ID}`)}, dataDir: ${JSON.stringify(procDir)},`,
      `  scopeLabels: ${JSON.stringify(SCOPE)}, namePrefix: ${JSON.stringify(`gantry-test-${RUN_ID}`)} });`,
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'info' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const conn = await until('child agent connected', () => fc.ready?.authorization === `Bearer cred-proc-${RUN_ID}` && fc.ready, 60_000);
      expect((await stat(path.join(procDir, 'credential.json'))).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(path.join(procDir, 'credential.json'), 'utf8'))).toMatchObject({ credential: `cred-proc-${RUN_ID}`, nodeName: 'node-a' });

      const s = spec('proc');
      ok(await fc.request('create', { spec: s }));
      ok(await fc.request('start', { uid: s.serverUid }));
      await until('child ready line', () => fc.lines(s.serverUid).includes('Done! server ready'));
      const id = (await docker.listContainers({ filters: { label: [`gantry.dev/server-uid=${s.serverUid}`] } }))[0].Id;

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await until('socket closed', () => conn.closed);
      expect(stderr).toContain('agent stopped; containers left running');
      expect((await docker.getContainer(id).inspect()).State.Running).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
