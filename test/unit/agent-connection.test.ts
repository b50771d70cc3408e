// The agent's controller connection, RPC dispatch and enrolment against a fake controller on a real
// socket (test/unit/agent-connection.fake-controller.ts). No Docker: RPC handlers are fakes, and where a
// whole Agent runs (agentCommand) it gets a fake dockerode with no containers.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentConnection, backoffDelay, errorMessageFromBody, panelUrl, safeParseControllerMessage, type ConnectionOptions } from '../../agent/connection.ts';
import { EnrollmentRefusedError, loadCredential, obtainCredential, saveCredential, tokenHash } from '../../agent/credentials.ts';
import { AGENT_CONNECT_PATH, type ResponseMessage } from '../../agent/protocol.ts';
import { DataDirError, RpcDispatcher, resolveDataDir, type RpcHandlers } from '../../agent/rpc-handlers.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';
import { agentCommand } from '../../bin/commands/agent.ts';
import type { Logger } from '../../lib/log.ts';
import { FakeController, grantEnrollment, until } from './agent-connection.fake-controller.ts';

/** A logger that records instead of printing (tests assert on warn lines). */
const logged: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
const log: Logger = (() => {
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void logged.push({ level, msg, fields });
  const l: Logger = { debug: () => {}, info: rec('info'), warn: rec('warn'), error: rec('error'), child: () => l };
  return l;
})();
const health = async (): Promise<HealthReport> => ({ time: new Date().toISOString(), agentVersion: '0.0.0-test' }) as HealthReport;
const observed = (uid: string, state: ObservedContainer['state'], extra: Partial<ObservedContainer> = {}): ObservedContainer => ({
  uid,
  containerId: `c-${uid}`,
  state,
  oomKilled: false,
  ports: [],
  ...extra,
});

let fc: FakeController;
const open: AgentConnection[] = [];
const dirs: string[] = [];

beforeEach(async () => {
  fc = await new FakeController().listen();
});
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await fc.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function connect(extra: Partial<ConnectionOptions> = {}): AgentConnection {
  const c = new AgentConnection({
    panel: fc.url,
    credential: 'cred-1',
    health,
    log,
    onRequest: async (req) => ({ type: 'response', id: req.id, ok: true, result: { echo: req.method } }),
    backoff: { initialMs: 20, maxMs: 200 },
    consoleBatchMs: 5,
    ...extra,
  });
  open.push(c);
  c.start();
  return c;
}

async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-unit-'));
  dirs.push(d);
  return d;
}

describe('backoff, URLs, error bodies', () => {
  it('full jitter: uniform in [0, min(max, initial·2^n)), capped at max', () => {
    const o = { initialMs: 500, maxMs: 30_000 };
    expect(backoffDelay(0, o, () => 0)).toBe(0);
    expect(backoffDelay(0, o, () => 0.999999)).toBe(499);
    expect(backoffDelay(1, o, () => 0.5)).toBe(500);
    expect(backoffDelay(3, o, () => 0.5)).toBe(2000);
    expect(backoffDelay(6, o, () => 0.999999)).toBe(29_999); // 500·64 = 32 000 > cap
    expect(backoffDelay(1000, o, () => 0.999999)).toBe(29_999); // no overflow for huge attempts
    for (let n = 0; n < 12; n++) {
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(n, o);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(30_000, 500 * 2 ** n));
      }
    }
  });

  it('panel URLs: http→ws, https→wss, a path prefix is kept', () => {
    expect(panelUrl('http://10.0.0.1:8080', AGENT_CONNECT_PATH, true)).toBe('ws://10.0.0.1:8080/api/agent/connect');
    expect(panelUrl('https://panel.example/gantry/', AGENT_CONNECT_PATH, true)).toBe('wss://panel.example/gantry/api/agent/connect');
    expect(panelUrl('https://panel.example', '/api/agent/enroll')).toBe('https://panel.example/api/agent/enroll');
    expect(() => panelUrl('ftp://x', '/a')).toThrow(/use http/);
    expect(() => panelUrl('not a url', '/a')).toThrow(/invalid panel URL/);
  });

  it('error bodies: JSON message / error, Kubernetes Status, text', () => {
    expect(errorMessageFromBody(401, '{"message":"deployment token expired"}')).toBe('deployment token expired');
    expect(errorMessageFromBody(401, '{"error":"deployment token already used"}')).toBe('deployment token already used');
    expect(errorMessageFromBody(401, '{"error":{"message":"unknown deployment token"}}')).toBe('unknown deployment token');
    expect(errorMessageFromBody(403, 'forbidden\n')).toBe('forbidden');
    expect(errorMessageFromBody(502, '')).toBe('HTTP 502');
  });

  it('a bare `null` frame is an invalid message, not an exception', () => {
    expect(safeParseControllerMessage('null')).toMatchObject({ ok: false });
  });
});

describe('connection to a fake controller', () => {
  it('handshake order: hello → (welcome) → snapshot, then live container / console messages', async () => {
    fc.welcomeDelayMs = 150;
    const c = connect();
    c.setContainers([observed('u1', 'running'), observed('u2', 'exited', { exitCode: 0 }), observed('gone', 'removed')]);
    const conn = await until('hello', () => fc.current && fc.current.messages.length > 0 && fc.current);
    expect(conn.authorization).toBe('Bearer cred-1');
    await until('snapshot', () => fc.ready);
    expect(conn.messages.map((m) => m.type).slice(0, 2)).toEqual(['hello', 'snapshot']);
    const hello = conn.messages[0] as Extract<typeof conn.messages[0], { type: 'hello' }>;
    expect(hello.protocolVersion).toBe(1);
    const snap = fc.all('snapshot')[0];
    expect(snap.containers.map((o) => o.uid).sort()).toEqual(['u1', 'u2']); // removed ones are not "what runs"
    expect(c.settings?.nodeName).toBe('node-a');

    c.sendContainer(observed('u1', 'exited', { exitCode: 3 }));
    for (let i = 1; i <= 50; i++) c.console('u1', { stream: 'stdout', line: `line ${i}`, ts: Date.now() });
    c.console('u2', { stream: 'stderr', line: 'other server', ts: Date.now() });
    await until('container message', () => fc.all('container').length === 1);
    expect(fc.all('container')[0].container).toMatchObject({ uid: 'u1', state: 'exited', exitCode: 3 });
    await until('console lines', () => fc.lines('u1').length === 50 && fc.lines('u2').length === 1);
    expect(fc.lines('u1')).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 1}`));
    expect(fc.consoleFrames).toBeLessThan(51); // batched (both servers' lines arrived in a few frames)
    expect(conn.invalid).toEqual([]);
  });

  it('answers the controller\'s ping with a pong carrying its ts; sends its own pings, and health every N of them', async () => {
    fc.welcome.heartbeatIntervalMs = 100;
    connect({ healthEveryHeartbeats: 2 });
    const conn = await until('ready', () => fc.ready);
    fc.sendRaw(conn, JSON.stringify({ type: 'ping', ts: 12345 }));
    await until('pong', () => fc.all('pong').find((m) => m.ts === 12345));
    await until('agent pings', () => fc.all('ping').length >= 4);
    await until('health', () => fc.all('health').length >= 1);
    expect(fc.all('health')[0].health.agentVersion).toBe('0.0.0-test');
  });

  it('invalid frames get error replies (ref = id) and a warn line; the agent stays connected', async () => {
    const rpc = new RpcDispatcher({
      log,
      handlers: { start: async () => ({}), list: async () => [] } satisfies Partial<RpcHandlers>,
    });
    connect({ onRequest: (r) => rpc.dispatch(r) });
    const conn = await until('ready', () => fc.ready);
    const errors = () => fc.all('error', conn);
    fc.sendRaw(conn, 'this is not JSON');
    await until('error for non-JSON', () => errors().length === 1);
    expect(errors()[0].message).toMatch(/^not JSON/);
    expect(errors()[0].ref).toBeUndefined();

    fc.sendRaw(conn, JSON.stringify({ type: 'launch-missiles', id: 'm1' }));
    await until('error for unknown type', () => errors().length === 2);
    expect(errors()[1]).toMatchObject({ message: 'unknown controller message type "launch-missiles"', ref: 'm1' });

    fc.sendRaw(conn, 'null');
    await until('error for null', () => errors().length === 3);

    // an envelope that fails validation: error with ref AND a failed response, so the call ends at once
    fc.sendRaw(conn, JSON.stringify({ type: 'request', id: 'r-noparams', method: 'start' }));
    await until('error for a broken request', () => errors().length === 4);
    expect(errors()[3].ref).toBe('r-noparams');
    const broken = await until('response to the broken request', () => fc.all('response', conn).find((r) => r.id === 'r-noparams'));
    expect(broken).toMatchObject({ ok: false, error: { code: 'invalid_params' } });

    const bad = await fc.request('start', {} as never);
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect((bad as Extract<ResponseMessage, { ok: false }>).error.message).toMatch(/uid/);
    const unknown = await fc.requestRaw({ method: 'formatDisk', params: {} });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    expect((unknown as Extract<ResponseMessage, { ok: false }>).error.message).toMatch(/unknown method "formatDisk"/);
    const notImplemented = await fc.request('inspect', { uid: 'x' });
    expect(notImplemented).toMatchObject({ ok: false, error: { code: 'unknown_method' } });

    expect(logged.filter((l) => l.level === 'warn' && l.msg === 'invalid message from the controller').map((l) => l.fields?.error)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^not JSON/), 'unknown controller message type "launch-missiles"']),
    );
    expect(logged.some((l) => l.level === 'warn' && l.msg === 'request refused' && l.fields?.code === 'unknown_method')).toBe(true);
    // still the same connection, still working
    expect(await fc.request('list', {})).toMatchObject({ ok: true, result: [] });
    expect(fc.conns).toHaveLength(1);
    expect(conn.closed).toBe(false);
    expect(conn.invalid).toEqual([]);
  });

  it('after the controller drops the socket: reconnects, hello + full snapshot again (changes made meanwhile coalesced into it); buffered console delivered, stats dropped', async () => {
    const c = connect({ backoff: { initialMs: 400, maxMs: 400 }, random: () => 0.5 }); // redial after 200 ms
    c.setContainers([observed('u1', 'running')]);
    const first = await until('ready', () => fc.ready);
    const noticed = new Promise((r) => c.once('disconnected', r));
    first.ws.terminate();
    await noticed;
    expect(c.ready).toBe(false);
    c.sendContainer(observed('u1', 'exited', { exitCode: 0 }));
    c.sendContainer(observed('u1', 'running', { startedAt: 'later' }));
    c.sendContainer(observed('u3', 'created'));
    c.sendContainer(observed('u3', 'removed'));
    c.sendStats([{ uid: 'u1', time: 1 } as never]);
    c.console('u1', { stream: 'stdout', line: 'while away', ts: 1 });
    const second = await until('second connection ready', () => fc.ready !== first && fc.ready);
    expect(second.messages.map((m) => m.type).slice(0, 2)).toEqual(['hello', 'snapshot']);
    const snap = fc.all('snapshot', second)[0];
    expect(snap.containers).toEqual([observed('u1', 'running', { startedAt: 'later' })]);
    await until('buffered console line', () => fc.lines('u1').includes('while away'));
    expect(fc.all('container', second)).toEqual([]); // the snapshot carried the changes
    expect(fc.all('stats')).toEqual([]);
  });

  it('console overflow while disconnected drops the oldest lines and says how many, in place', async () => {
    // nothing listens on port 9: the agent keeps redialling, the queue stays bounded meanwhile
    const c = new AgentConnection({ panel: 'http://127.0.0.1:9', credential: 'cred-1', health, log, onRequest: async (r) => ({ type: 'response', id: r.id, ok: true, result: null }), consoleBufferLines: 10, backoff: { initialMs: 10, maxMs: 20 } });
    open.push(c);
    c.start();
    for (let i = 1; i <= 25; i++) c.console('u1', { stream: 'stdout', line: `l${i}`, ts: i });
    expect(c.counters.consoleLinesDropped).toBe(15);
    c.close();
    // the same queue logic, now with a reachable controller
    const d = connect({ consoleBufferLines: 10 });
    for (let i = 1; i <= 25; i++) d.console('u1', { stream: 'stdout', line: `l${i}`, ts: i });
    await until('lines delivered', () => fc.lines('u1').length === 11);
    expect(fc.lines('u1')[0]).toBe('[Gantry] 15 console lines dropped: the controller was unreachable or too slow');
    expect(fc.console.get('u1')![0].stream).toBe('system');
    expect(fc.lines('u1').slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => `l${i + 16}`));
  });

  it('a burst while connected is sent in full frames, never dropped by the (disconnected-only) buffer cap', async () => {
    const c = connect({ consoleBufferLines: 100 });
    await until('ready', () => fc.ready);
    for (let i = 1; i <= 5000; i++) c.console('u1', { stream: 'stdout', line: `b${i}`, ts: i });
    await until('all lines', () => fc.lines('u1').length >= 5000);
    expect(fc.lines('u1')).toEqual(Array.from({ length: 5000 }, (_, i) => `b${i + 1}`));
    expect(c.counters.consoleLinesDropped).toBe(0);
  });

  it('heartbeat timeout: a controller silent for 3 intervals is dropped and redialled', async () => {
    fc.welcome.heartbeatIntervalMs = 100;
    fc.answerPings = false;
    const c = connect();
    await until('ready', () => fc.ready);
    await until('redialled after silence', () => fc.conns.length >= 2 && fc.conns[1].messages.some((m) => m.type === 'hello'), 20_000);
    expect(c.counters.connects).toBeGreaterThanOrEqual(2);
    expect(fc.conns[0].closed).toBe(true);
  });

  it('no welcome within the handshake timeout: redialled', async () => {
    fc.autoWelcome = false;
    connect({ handshakeTimeoutMs: 200 });
    await until('second hello', () => fc.conns.length >= 2 && fc.conns[1].messages.some((m) => m.type === 'hello'), 20_000);
  });

  it('401 on connect is final: `rejected` with the controller\'s message, no redial', async () => {
    fc.rejectMessage = 'node "node-a" was deleted';
    const c = connect({ credential: 'stale' });
    const rej = await new Promise<unknown>((r) => c.once('rejected', r));
    expect(rej).toEqual({ status: 401, message: 'node "node-a" was deleted', reason: 'credential' });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.counters.connects).toBe(1);
    expect(c.state).toBe('rejected');
  });

  it('close code 4001 (revoked) after connecting is final too', async () => {
    const c = connect();
    const conn = await until('ready', () => fc.ready);
    const rejected = new Promise<unknown>((r) => c.once('rejected', r));
    conn.ws.close(4001, 'credential revoked: token rotated');
    expect(await rejected).toEqual({ status: 4001, message: 'credential revoked: token rotated', reason: 'credential' });
  });
});

describe('RPC dispatch', () => {
  it('same-server requests run in order, other servers concurrently, kill bypasses the queue; responses carry the ids', async () => {
    const events: string[] = [];
    const gates = new Map<string, () => void>();
    const gate = (name: string) => new Promise<void>((r) => gates.set(name, r));
    const rpc = new RpcDispatcher({
      log,
      handlers: {
        start: async ({ uid }) => {
          events.push(`start ${uid} begin`);
          await gate(`start ${uid}`);
          events.push(`start ${uid} end`);
          return {};
        },
        stop: async ({ uid }) => {
          events.push(`stop ${uid}`);
          return { exitCode: 0, killed: false, alreadyStopped: false };
        },
        kill: async ({ uid }) => {
          events.push(`kill ${uid}`);
          return {};
        },
      },
    });
    const pStartA = rpc.dispatch({ type: 'request', id: '1', method: 'start', params: { uid: 'a' } });
    const pStopA = rpc.dispatch({ type: 'request', id: '2', method: 'stop', params: { uid: 'a' } });
    const pKillA = rpc.dispatch({ type: 'request', id: '3', method: 'kill', params: { uid: 'a' } });
    const pStartB = rpc.dispatch({ type: 'request', id: '4', method: 'start', params: { uid: 'b' } });
    await until('both starts begun', () => events.includes('start b begin') && events.includes('start a begin'));
    expect(await pKillA).toEqual({ type: 'response', id: '3', ok: true, result: {} });
    expect(events).not.toContain('stop a'); // waits behind start a
    gates.get('start a')!();
    expect(await pStartA).toMatchObject({ id: '1', ok: true });
    expect(await pStopA).toMatchObject({ id: '2', ok: true, result: { exitCode: 0 } });
    expect(events.indexOf('stop a')).toBeGreaterThan(events.indexOf('start a end'));
    gates.get('start b')!();
    expect(await pStartB).toMatchObject({ id: '4', ok: true });
  });

  it('runtime errors map to codes; a request that waited past its timeout is answered `timeout` without running', async () => {
    const named = (name: string, msg: string) => Object.assign(new Error(msg), { name });
    let ran = 0;
    let release!: () => void;
    const rpc = new RpcDispatcher({
      log,
      handlers: {
        ensureImage: async () => {
          throw named('ImageUnavailableError', 'image "x" is not present on this node and could not be pulled: offline');
        },
        start: async ({ uid }) => {
          if (uid === 'missing') throw named('ServerNotFoundError', 'no container for server missing on this node');
          if (uid === 'full') throw named('DiskLimitError', 'over its limit');
          if (uid === 'slow') await new Promise<void>((r) => (release = r));
          ran++;
          return {};
        },
        stop: async () => {
          throw new Error('docker said no');
        },
      },
    });
    const code = async (p: Promise<ResponseMessage>) => {
      const r = await p;
      return r.ok ? 'ok' : r.error.code;
    };
    expect(await code(rpc.dispatch({ type: 'request', id: 'a', method: 'ensureImage', params: { image: 'x' } }))).toBe('image_unavailable');
    expect(await code(rpc.dispatch({ type: 'request', id: 'b', method: 'start', params: { uid: 'missing' } }))).toBe('not_found');
    expect(await code(rpc.dispatch({ type: 'request', id: 'c', method: 'start', params: { uid: 'full' } }))).toBe('disk_limit');
    expect(await code(rpc.dispatch({ type: 'request', id: 'd', method: 'stop', params: { uid: 'x' } }))).toBe('failed');
    const slow = rpc.dispatch({ type: 'request', id: 'e', method: 'start', params: { uid: 'slow' } });
    const late = rpc.dispatch({ type: 'request', id: 'f', method: 'start', params: { uid: 'slow' }, timeoutMs: 1 });
    await new Promise((r) => setTimeout(r, 30));
    release();
    expect(await code(slow)).toBe('ok');
    const lateRes = await late;
    expect(lateRes).toMatchObject({ id: 'f', ok: false, error: { code: 'timeout' } });
    expect(ran).toBe(1);
  });

  it('data dirs: relative ones resolve under the servers root; anything outside it (or escaping by symlink) is refused', async () => {
    const root = path.join(await tmpDir(), 'servers');
    await mkdir(root, { recursive: true });
    expect(await resolveDataDir(root, 'default/mc')).toBe(path.join(root, 'default/mc'));
    expect(await resolveDataDir(root, path.join(root, 'a/b'))).toBe(path.join(root, 'a/b'));
    await expect(resolveDataDir(root, '/etc')).rejects.toBeInstanceOf(DataDirError);
    await expect(resolveDataDir(root, '../x')).rejects.toThrow(/not inside/);
    await expect(resolveDataDir(root, root)).rejects.toThrow(/not inside/);
    await expect(resolveDataDir(root, '..foo')).resolves.toBe(path.join(root, '..foo'));
    await symlink('/etc', path.join(root, 'evil'));
    await expect(resolveDataDir(root, 'evil/sub')).rejects.toThrow(/through a symlink/);
  });
});

describe('enrolment and credentials', () => {
  it('first start enrols and stores the credential with mode 0600; later starts reuse it and ignore --token', async () => {
    const dir = await tmpDir();
    grantEnrollment(fc, 'tok-1', 'cred-xyz');
    const first = await obtainCredential({ dataDir: dir, panel: fc.url, token: 'tok-1', log });
    expect(first.enrolled).toBe(true);
    expect(first.cred).toMatchObject({ panel: fc.url, nodeName: 'node-a', nodeUid: 'uid-node-a', credential: 'cred-xyz', tokenSha256: tokenHash('tok-1') });
    const file = path.join(dir, 'credential.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ credential: 'cred-xyz', nodeName: 'node-a' });
    expect(fc.enrollRequests).toEqual([expect.objectContaining({ token: 'tok-1', agentVersion: expect.any(String), hostname: expect.any(String) })]);
    const second = await obtainCredential({ dataDir: dir, panel: fc.url, token: 'tok-other', log });
    expect(second.enrolled).toBe(false);
    expect(second.cred.credential).toBe('cred-xyz');
    expect(fc.enrollRequests).toHaveLength(1);
    // no --panel: the stored one
    expect((await obtainCredential({ dataDir: dir, log })).cred.panel).toBe(fc.url);
    // no leftover temp files
    expect((await readdir(dir)).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('enrolment refusals are final and carry the controller\'s message; 5xx is retried', async () => {
    const dir = await tmpDir();
    fc.enrollAnswers.set('old', { status: 401, body: { message: 'deployment token expired' } });
    fc.enrollAnswers.set('used', { status: 401, body: { message: 'deployment token already used' } });
    const err = await obtainCredential({ dataDir: dir, panel: fc.url, token: 'old', log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrollmentRefusedError);
    expect((err as EnrollmentRefusedError).reason).toBe('deployment token expired');
    await expect(obtainCredential({ dataDir: dir, panel: fc.url, token: 'used', log })).rejects.toThrow('deployment token already used');
    await expect(obtainCredential({ dataDir: dir, panel: fc.url, token: 'nope', log })).rejects.toThrow('unknown deployment token');
    expect(await loadCredential(dir)).toBeUndefined();

    let calls = 0;
    fc.enrollAnswers.set('flaky', () => (++calls < 3 ? { status: 503, body: { message: 'starting up' } } : { status: 200, body: { nodeName: 'n', nodeUid: 'u', credential: 'c' } }));
    const ok = await obtainCredential({ dataDir: dir, panel: fc.url, token: 'flaky', log, backoff: { initialMs: 10, maxMs: 20 } });
    expect(ok.cred.credential).toBe('c');
    expect(calls).toBe(3);
  });

  it('agentCommand: a refused token exits 2 with the message; missing --token exits 2', async () => {
    const dir = await tmpDir();
    fc.enrollAnswers.set('old', { status: 401, body: { message: 'deployment token expired' } });
    const out: string[] = [];
    const code = await agentCommand({ panel: fc.url, token: 'old', dataDir: dir, log, stderr: (l) => out.push(l), handleSignals: false });
    expect(code).toBe(2);
    expect(out.join('\n')).toContain('deployment token expired');
    const code2 = await agentCommand({ panel: fc.url, dataDir: dir, log, stderr: (l) => out.push(l), handleSignals: false });
    expect(code2).toBe(2);
    expect(out.at(-1)).toMatch(/give --token/);
    expect(await agentCommand({ panel: 'ftp://x', token: 't', dataDir: dir, log, stderr: (l) => out.push(l), handleSignals: false })).toBe(2);
    expect(out.at(-1)).toMatch(/--panel: invalid panel URL/);
  });

  it('agentCommand: a rejected stored credential exits 2 with `node credential rejected: …`; with a fresh --token it re-enrols and connects', async () => {
    const dir = await tmpDir();
    await saveCredential(dir, { panel: fc.url, nodeName: 'node-a', nodeUid: 'uid-node-a', credential: 'revoked-cred', enrolledAt: new Date().toISOString(), tokenSha256: tokenHash('tok-old') });
    fc.rejectMessage = 'credential revoked: token rotated';
    const out: string[] = [];
    const code = await agentCommand({ dataDir: dir, log, docker: fakeDocker() as unknown as Docker, stderr: (l) => out.push(l), handleSignals: false });
    expect(code).toBe(2);
    expect(out.join('\n')).toContain('node credential rejected: credential revoked: token rotated');

    // the same (used) token again: not retried, told why
    out.length = 0;
    expect(await agentCommand({ dataDir: dir, token: 'tok-old', log, docker: fakeDocker() as unknown as Docker, stderr: (l) => out.push(l), handleSignals: false })).toBe(2);
    expect(out.join('\n')).toMatch(/create a new deployment token/);

    grantEnrollment(fc, 'tok-new', 'cred-new');
    const stop = new AbortController();
    const running = agentCommand({ dataDir: dir, token: 'tok-new', log, docker: fakeDocker() as unknown as Docker, stderr: (l) => out.push(l), handleSignals: false, signal: stop.signal, connection: { backoff: { initialMs: 10, maxMs: 50 } } });
    const conn = await until('connected with the new credential', () => fc.ready?.authorization === 'Bearer cred-new' && fc.ready);
    expect(conn.messages[0].type).toBe('hello');
    expect((await loadCredential(dir))!.credential).toBe('cred-new');
    stop.abort();
    expect(await running).toBe(0);
  });
});

describe('agent resync', () => {
  it('when the docker event stream reconnects (dockerd restarted), a fresh snapshot goes out on the same connection, telling the truth', async () => {
    const dir = await tmpDir();
    const docker = fakeDocker();
    docker.containers.set('srv-1', { state: 'exited', exitCode: 0 });
    docker.containers.set('srv-2', { state: 'exited', exitCode: 0 });
    const stop = new AbortController();
    await saveCredential(dir, { panel: fc.url, nodeName: 'node-a', nodeUid: 'u', credential: 'cred-1', enrolledAt: '' });
    const running = agentCommand({ dataDir: dir, log, docker: docker as unknown as Docker, stderr: () => {}, handleSignals: false, signal: stop.signal });
    const conn = await until('ready', () => fc.ready);
    expect(fc.all('snapshot', conn)[0].containers.map((o) => `${o.uid} ${o.state}`).sort()).toEqual(['srv-1 exited', 'srv-2 exited']);
    // dockerd goes away and comes back; srv-2 vanished meanwhile, srv-1 now exited 137
    docker.containers.delete('srv-2');
    docker.containers.set('srv-1', { state: 'exited', exitCode: 137 });
    docker.events.at(-1)!.end();
    await until('second snapshot', () => fc.all('snapshot', conn).length === 2, 20_000);
    expect(fc.all('snapshot', conn)[1].containers).toEqual([expect.objectContaining({ uid: 'srv-1', state: 'exited', exitCode: 137 })]);
    expect(fc.conns).toHaveLength(1);
    stop.abort();
    expect(await running).toBe(0);
  });
});

interface FakeContainer {
  state: 'created' | 'running' | 'exited';
  exitCode?: number;
}

/** Just enough of dockerode for an Agent whose containers never run (no attach). */
function fakeDocker() {
  const containers = new Map<string, FakeContainer>();
  const events: PassThrough[] = [];
  // Containers of the agent's node (agent/runtime/scope.ts: an agent with a node name owns only those).
  const labels = (uid: string) => ({ 'gantry.dev/server-uid': uid, 'gantry.dev/server-name': uid, 'gantry.dev/namespace': 'default', 'gantry.dev/role': 'server', 'gantry.dev/node': 'node-a' });
  return {
    containers,
    events,
    ping: async () => 'OK',
    listContainers: async (o?: { filters?: { label?: string[] } }) =>
      o?.filters?.label?.includes('gantry.dev/role=install') ? [] : [...containers].map(([uid, c]) => ({ Id: `id-${uid}`, Labels: labels(uid), State: c.state })),
    getEvents: async () => {
      const s = new PassThrough();
      events.push(s);
      return s;
    },
    getContainer: (id: string) => ({
      inspect: async () => {
        const uid = id.replace(/^id-/, '');
        const c = containers.get(uid);
        if (!c) throw Object.assign(new Error('no such container'), { statusCode: 404 });
        return { Id: id, Name: `/${uid}`, Config: { Labels: labels(uid), Image: 'img' }, State: { Status: c.state, Running: c.state === 'running', ExitCode: c.exitCode ?? 0, OOMKilled: false, StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '2026-01-01T00:01:00Z' }, NetworkSettings: { Ports: {} } };
      },
    }),
    version: async () => ({ Version: '20.10.24', ApiVersion: '1.41' }),
    info: async () => ({ Containers: containers.size, ContainersRunning: 0 }),
    getImage: () => ({ inspect: async () => ({}) }),
    modem: { demuxStream: () => {} },
  };
}
