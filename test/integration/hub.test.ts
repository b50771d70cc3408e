// The agent hub over a real HTTP server and a real `ws` client acting as the agent (no Docker).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../agent/protocol.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import { CLOSE_PROTOCOL_ERROR, CLOSE_REPLACED, CLOSE_UNSUPPORTED_VERSION } from '../../controller/hub/close-codes.ts';
import { AgentRpcError, NodeDisconnectedError, NodeNotConnectedError, RpcError, RpcTimeoutError } from '../../controller/hub/errors.ts';
import { captureLogs } from '../helpers/env.ts';
import { eventually, hello, nodeStatus, startHarness, type Harness } from './hub-harness.ts';

const container = (uid: string, over: Partial<ObservedContainer> = {}): ObservedContainer => ({
  uid,
  name: `srv-${uid}`,
  namespace: 'default',
  containerId: `cid-${uid}`,
  state: 'running',
  oomKilled: false,
  ports: [],
  ...over,
});

describe('agent hub', () => {
  let h: Harness;
  afterEach(() => h.close());

  describe('with default settings', () => {
    beforeEach(async () => {
      h = await startHarness({ hub: { statsIntervalMs: 2000, consoleThrottle: { lines: 50, intervalMs: 200 }, consoleBufferLines: 3 } });
    });

    it('refuses an upgrade without a credential, or with a bad one, with a 401 before accepting', async () => {
      const none = await h.connect();
      expect(none).toMatchObject({ ok: false, status: 401 });
      expect(!none.ok && none.body).toMatch(/missing "Authorization: Bearer <node credential>"/);

      const bad = await h.connect({ authorization: 'Bearer gnc_notarealcredential' });
      expect(bad).toEqual({ ok: false, status: 401, body: 'unknown node credential\n' });

      const basic = await h.connect({ authorization: 'Basic Zm9vOmJhcg==' });
      expect(basic).toMatchObject({ ok: false, status: 401 });

      const elsewhere = await h.connect({}, '/api/something-else');
      expect(elsewhere).toMatchObject({ ok: false, status: 404 });
      expect(h.hub.nodes()).toEqual([]);
    });

    it('answers hello with welcome and the configured settings, marks the node Online, then Offline on disconnect', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const seen: string[] = [];
      h.hub.on('nodeConnected', (name, info) => seen.push(`connected ${name} ${info.agentVersion}`));
      h.hub.on('nodeDisconnected', (name) => seen.push(`disconnected ${name}`));

      const agent = await h.agent(credential);
      const welcome = await agent.handshake();
      expect(welcome).toEqual({
        type: 'welcome',
        protocolVersion: PROTOCOL_VERSION,
        nodeName: 'alpha',
        heartbeatIntervalMs: 10_000,
        statsIntervalMs: 2000,
        consoleThrottle: { lines: 50, intervalMs: 200 },
      });
      expect(h.hub.isConnected('alpha')).toBe(true);
      expect(h.hub.node('alpha')).toMatchObject({ connected: true, agentVersion: '0.1.0-test', synced: false });

      const online = await eventually(async () => {
        const s = await nodeStatus(h, 'alpha');
        return s.phase === 'Online' ? s : undefined;
      }, 'status Online');
      expect(online).toMatchObject({
        phase: 'Online',
        agentVersion: '0.1.0-test',
        dockerVersion: '20.10.24',
        osInfo: { os: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-test', architecture: 'x64', hostname: 'node-host' },
      });
      expect(online.lastHeartbeatTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      await agent.close();
      const offline = await eventually(async () => {
        const s = await nodeStatus(h, 'alpha');
        return s.phase === 'Offline' ? s : undefined;
      }, 'status Offline');
      expect(offline.lastHeartbeatTime).toBeDefined();
      expect(h.hub.isConnected('alpha')).toBe(false);
      expect(h.hub.node('alpha')?.connected).toBe(false);
      expect(seen).toEqual(['connected alpha 0.1.0-test', 'disconnected alpha']);
    });

    it('refuses another protocol version with an error message and a close that says why', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      agent.send(hello({ protocolVersion: PROTOCOL_VERSION + 1 }));
      const err = await agent.next('error');
      expect(err.message).toMatch(new RegExp(`protocol version ${PROTOCOL_VERSION + 1} is not supported.*speaks version ${PROTOCOL_VERSION}`));
      const closed = await agent.closed;
      expect(closed.code).toBe(CLOSE_UNSUPPORTED_VERSION);
      expect(closed.reason).toMatch(/not supported/);
      expect(h.hub.isConnected('alpha')).toBe(false);
    });

    it('requires hello first', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      agent.send({ type: 'ping', ts: 1 });
      expect((await agent.next('error')).message).toBe('expected hello as the first message, got ping');
      expect((await agent.closed).code).toBe(CLOSE_PROTOCOL_ERROR);

      const again = await h.agent(credential);
      again.send('this is not json');
      expect((await again.next('error')).message).toMatch(/^not JSON/);
      expect((await again.closed).code).toBe(CLOSE_PROTOCOL_ERROR);
    });

    it('answers invalid frames with an error and a warn line, and keeps the connection', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      await agent.handshake();
      const logs = captureLogs();
      try {
        agent.send('{"type": ');
        expect((await agent.next('error')).message).toMatch(/^not JSON/);
        agent.send({ type: 'launch-missiles' });
        expect((await agent.next('error')).message).toBe('unknown agent message type "launch-missiles"');
        agent.send({ type: 'stats', samples: [{ time: 1 }] } as never);
        expect((await agent.next('error')).message).toMatch(/^invalid stats message/);
        agent.send({ type: 'response', id: 'r1', ok: 'maybe' });
        expect(await agent.next('error')).toMatchObject({ ref: 'r1' });
        agent.ws.send(Buffer.from([1, 2, 3]), { binary: true });
        expect((await agent.next('error')).message).toMatch(/binary frames/);
        agent.send(hello());
        expect((await agent.next('error')).message).toMatch(/hello was already received/);
      } finally {
        logs.restore();
      }
      const warns = logs.lines().filter((l) => l.msg === 'invalid message from agent');
      expect(warns.length).toBe(5);
      expect(warns[0]).toMatchObject({ level: 'warn', node: 'alpha' });

      agent.send({ type: 'ping', ts: 42 });
      expect(await agent.next('pong')).toEqual({ type: 'pong', ts: 42 });
      expect(h.hub.isConnected('alpha')).toBe(true);
    });

    it('answers pings with pongs carrying the same ts', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      await agent.handshake();
      agent.send({ type: 'ping', ts: 1234.5 });
      expect(await agent.next('pong')).toEqual({ type: 'pong', ts: 1234.5 });
    });

    it('makes RPC calls: round trip, agent error, timeout, refusal before sending, not connected', async () => {
      const { credential } = await h.enrolledNode('alpha');
      await expect(h.hub.call('alpha', 'start', { uid: 'u1' })).rejects.toBeInstanceOf(NodeNotConnectedError);
      const agent = await h.agent(credential);
      await agent.handshake();

      const p = h.hub.call('alpha', 'stop', { uid: 'u1', timeoutSeconds: 5 }, { timeoutMs: 20_000 });
      const req = await agent.next('request');
      expect(req).toMatchObject({ method: 'stop', params: { uid: 'u1', timeoutSeconds: 5 }, timeoutMs: 20_000 });
      agent.send({ type: 'response', id: req.id, ok: true, result: { exitCode: 0, killed: false, alreadyStopped: false } });
      expect(await p).toEqual({ exitCode: 0, killed: false, alreadyStopped: false });

      const failing = h.hub.call('alpha', 'ensureImage', { image: 'nope:1' }).catch((e: unknown) => e);
      const req2 = await agent.next('request');
      agent.send({ type: 'response', id: req2.id, ok: false, error: { code: 'image_unavailable', message: 'no registry reachable' } });
      const err = await failing;
      expect(err).toBeInstanceOf(AgentRpcError);
      expect(err).toMatchObject({ code: 'image_unavailable', nodeName: 'alpha', method: 'ensureImage' });
      expect((err as Error).message).toBe('node "alpha" ensureImage failed (image_unavailable): no registry reachable');

      const slow = h.hub.call('alpha', 'inspect', { uid: 'u9' }, { timeoutMs: 150 }).catch((e: unknown) => e);
      await agent.next('request');
      const timeout = await slow;
      expect(timeout).toBeInstanceOf(RpcTimeoutError);
      expect(timeout).toMatchObject({ code: 'timeout', nodeName: 'alpha', method: 'inspect', timeoutMs: 150 });
      expect((timeout as Error).message).toBe('node "alpha" did not answer inspect within 150 ms');

      const bad = await h.hub.call('alpha', 'kill', { uid: 'u1', signal: 'rm -rf /' }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(RpcError);
      expect(bad).toMatchObject({ code: 'invalid_params' });

      // An agent's `error` naming a pending request rejects it.
      const refused = h.hub.call('alpha', 'list', {}).catch((e: unknown) => e);
      const req3 = await agent.next('request');
      agent.send({ type: 'error', message: 'busy', ref: req3.id });
      expect(await refused).toMatchObject({ code: 'rejected', message: 'node "alpha" rejected list: busy' });

      // A late answer to a timed-out call is ignored, not a crash.
      agent.send({ type: 'response', id: 'does-not-exist', ok: true, result: {} });
      agent.send({ type: 'ping', ts: 7 });
      expect(await agent.next('pong')).toEqual({ type: 'pong', ts: 7 });
      expect(agent.received.filter((m) => m.type === 'request')).toEqual([]);
    });

    it('rejects pending calls when the agent disconnects', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      await agent.handshake();
      const a = h.hub.call('alpha', 'start', { uid: 'u1' }).catch((e: unknown) => e);
      const b = h.hub
        .call('alpha', 'install', {
          spec: { serverUid: 'u1', name: 's', namespace: 'default', image: 'img:1', dataDir: '/d', dataPath: '/data' } as never,
          install: { image: 'img:1', script: 'true' },
        })
        .catch((e: unknown) => e);
      await agent.next('request');
      await agent.next('request');
      agent.ws.terminate();
      for (const p of [a, b]) {
        const err = await p;
        expect(err).toBeInstanceOf(NodeDisconnectedError);
        expect(err).toMatchObject({ code: 'disconnected', nodeName: 'alpha' });
      }
      await expect(h.hub.call('alpha', 'start', { uid: 'u1' })).rejects.toBeInstanceOf(NodeNotConnectedError);
    });

    it('keeps observed containers, stats and console from snapshot/container/stats/console messages', async () => {
      const { credential } = await h.enrolledNode('alpha');
      const agent = await h.agent(credential);
      await agent.handshake();
      const changes: string[] = [];
      const consoles: string[] = [];
      h.hub.on('containerChanged', (node, c) => changes.push(`${node}/${c.uid}:${c.state}`));
      h.hub.on('console', (node, uid, lines) => consoles.push(`${node}/${uid}:${lines.map((l) => l.line).join('|')}`));
      const snapshots: number[] = [];
      h.hub.on('snapshot', (_n, cs) => snapshots.push(cs.length));

      agent.send({ type: 'snapshot', containers: [container('a'), container('b', { state: 'exited', exitCode: 3 })] });
      await eventually(() => h.hub.node('alpha')?.synced, 'snapshot');
      expect(h.hub.containers('alpha').map((c) => `${c.uid}:${c.state}`)).toEqual(['a:running', 'b:exited']);
      expect(changes).toEqual(['alpha/a:running', 'alpha/b:exited']);

      agent.send({ type: 'container', container: container('a', { state: 'exited', exitCode: 0 }) });
      await eventually(() => h.hub.container('alpha', 'a')?.state === 'exited', 'container update');
      agent.send({ type: 'container', container: container('b', { state: 'removed' }) });
      await eventually(() => h.hub.container('alpha', 'b') === undefined, 'container removal');

      // A second snapshot replaces: c appears, a vanishes (reported as removed), unchanged ones are quiet.
      changes.length = 0;
      agent.send({ type: 'snapshot', containers: [container('c')] });
      await eventually(() => h.hub.container('alpha', 'c'), 'second snapshot');
      expect(h.hub.containers('alpha').map((c) => c.uid)).toEqual(['c']);
      expect(changes.sort()).toEqual(['alpha/a:removed', 'alpha/c:running']);
      expect(snapshots).toEqual([2, 1]);

      agent.send({ type: 'stats', samples: [{ uid: 'c', containerId: 'cid-c', time: 1, cpuPercent: 12.5, overDiskLimit: false }] } as never);
      await eventually(() => h.hub.latestStats('alpha', 'c'), 'stats');
      expect(h.hub.latestStats('alpha', 'c')).toMatchObject({ cpuPercent: 12.5 });

      const line = (l: string) => ({ stream: 'stdout' as const, line: l, ts: Date.now() });
      agent.send({ type: 'console', uid: 'c', lines: [line('one'), line('two')] });
      agent.send({ type: 'console', uid: 'c', lines: [line('three'), line('four')] });
      await eventually(() => consoles.length === 2, 'console');
      // consoleBufferLines: 3 keeps the newest three.
      expect(h.hub.consoleHistory('alpha', 'c').map((l) => l.line)).toEqual(['two', 'three', 'four']);
      expect(h.hub.consoleHistory('alpha', 'c', 1).map((l) => l.line)).toEqual(['four']);
      expect(consoles).toEqual(['alpha/c:one|two', 'alpha/c:three|four']);

      const healthSeen: string[] = [];
      h.hub.on('health', (node, hr) => healthSeen.push(`${node}:${hr.docker.version}`));
      agent.send({ type: 'health', health: { ...hello().health, docker: { version: '24.0.7', apiVersion: '1.43' } } });
      await eventually(async () => (await nodeStatus(h, 'alpha')).dockerVersion === '24.0.7', 'docker version in status');
      expect(healthSeen).toEqual(['alpha:24.0.7']);
    });

    it('a second connection of the same node replaces the first', async () => {
      const { credential } = await h.enrolledNode('alpha');
      let disconnects = 0;
      h.hub.on('nodeDisconnected', () => disconnects++);
      const first = await h.agent(credential);
      await first.handshake();
      const pending = h.hub.call('alpha', 'start', { uid: 'u1' }).catch((e: unknown) => e);
      await first.next('request');

      const second = await h.agent(credential);
      await second.handshake();
      const closed = await first.closed;
      expect(closed.code).toBe(CLOSE_REPLACED);
      expect(closed.reason).toMatch(/replaced by a newer connection/);
      expect(await pending).toBeInstanceOf(NodeDisconnectedError);
      expect(h.hub.isConnected('alpha')).toBe(true);
      expect(disconnects).toBe(0);

      const p = h.hub.call('alpha', 'start', { uid: 'u1' });
      const req = await second.next('request');
      second.send({ type: 'response', id: req.id, ok: true, result: {} });
      expect(await p).toEqual({});
      expect((await nodeStatus(h, 'alpha')).phase).toBe('Online');
    });

    it('a throwing event listener is logged, not fatal', async () => {
      const { credential } = await h.enrolledNode('alpha');
      h.hub.on('nodeConnected', () => {
        throw new Error('listener bug');
      });
      const agent = await h.agent(credential);
      await agent.handshake();
      agent.send({ type: 'ping', ts: 1 });
      expect(await agent.next('pong')).toEqual({ type: 'pong', ts: 1 });
    });
  });

  it('terminates an agent that stops sending frames, and the node goes Offline', async () => {
    h = await startHarness({ hub: { heartbeatIntervalMs: 250, heartbeatWriteIntervalMs: 250 } });
    const { credential } = await h.enrolledNode('alpha');
    const agent = await h.agent(credential);
    const welcome = await agent.handshake();
    expect(welcome.heartbeatIntervalMs).toBe(250);
    // A live agent answering the hub's pings stays connected past the dead-agent limit (3 intervals).
    await eventually(() => agent.pongsSent >= 5, 'five pings answered');
    expect(h.hub.isConnected('alpha')).toBe(true);

    agent.autoPong = false;
    const closed = await agent.closed;
    expect(closed.code).toBe(1006); // terminated, no close frame
    expect(h.hub.isConnected('alpha')).toBe(false);
    await eventually(async () => (await nodeStatus(h, 'alpha')).phase === 'Offline', 'status Offline');
  });
});
