// The clients' WebSocket (/ws) against a real HTTP server, real agent hub, real SQLite accounts and a
// scripted agent over the real agent protocol (console and stats frames in, sendCommand requests out).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AGENT_CONNECT_PATH } from '../../agent/protocol.ts';
import { rejectUpgrade, requestPath } from '../../controller/hub/upgrade.ts';
import { ClientSockets, CLIENT_WS_PATH, WS_CLOSE } from '../../api/ws/client-hub.ts';
import type { GameServer } from '../../crds/types.ts';
import { signIn, type SignedIn } from '../helpers/api.ts';
import { waitFor } from '../helpers/wait.ts';
import { startHarness, type Harness, type TestAgent } from './hub-harness.ts';

type Msg = Record<string, any>;

class Client {
  readonly received: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.received.push(JSON.parse(d.toString()) as Msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }
  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }
  /** The next message matching, removed from the queue. */
  async next(pred: (m: Msg) => boolean, what: string, ms = 10_000): Promise<Msg> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      if (Date.now() > end) throw new Error(`no ${what}; got ${JSON.stringify(this.received.slice(-5))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
  type(t: string, serverId?: string) {
    return this.next((m) => m.type === t && (serverId === undefined || m.serverId === serverId), `${t} message`);
  }
  /** A round trip: everything the server sent before the pong has arrived. */
  async sync(): Promise<void> {
    this.send({ type: 'ping' });
    await this.type('pong');
  }
}

describe('client WebSocket /ws', () => {
  let h: Harness;
  let cs: ClientSockets;
  let agent: TestAgent;
  let alice: SignedIn;
  let bob: SignedIn;
  let port: number;
  const uids: Record<string, string> = {};
  const clients: Client[] = [];

  function connect(query: string, headers: Record<string, string> = {}): Promise<{ ok: true; client: Client } | { ok: false; status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${CLIENT_WS_PATH}${query}`, { headers });
      ws.once('open', () => {
        const client = new Client(ws);
        clients.push(client);
        resolve({ ok: true, client });
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
      });
      ws.once('error', reject);
    });
  }
  async function open(who: SignedIn): Promise<Client> {
    const r = await connect(`?token=${who.token}`);
    if (!r.ok) throw new Error(`refused: ${r.status} ${r.body}`);
    return r.client;
  }
  async function createServer(name: string, owner: string, status: Record<string, unknown> = { phase: 'running', nodeName: 'n1' }): Promise<void> {
    const s = await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', owner, nodeName: 'n1' } } as GameServer);
    uids[name] = s.metadata.uid!;
    await h.env.store.patchStatus('GameServer', 'default', name, status);
  }
  const setPhase = (name: string, phase: string) => h.env.store.patchStatus('GameServer', 'default', name, { phase });

  beforeAll(async () => {
    h = await startHarness();
    cs = new ClientSockets(h.api, { limits: { maxConnectionsPerUser: 3, maxSubscribersPerServer: 2, messagesPerSecond: 20, messageBurst: 40, maxMessageBytes: 4096, highWaterBytes: 256 * 1024, lowWaterBytes: 64 * 1024 } });
    // The harness answers only the agent path; route /ws to the client sockets as `gantry up` does.
    h.server.removeAllListeners('upgrade');
    h.server.on('upgrade', (req, socket, head) => {
      if (requestPath(req) === AGENT_CONNECT_PATH) void h.hub.handleUpgrade(req, socket, head);
      else if (requestPath(req) === CLIENT_WS_PATH) void cs.handleUpgrade(req, socket, head);
      else rejectUpgrade(socket, 404, 'no endpoint');
    });
    port = Number(new URL(h.url).port);
    const cred = await h.enrolledNode('n1');
    agent = await h.agent(cred.credential);
    await agent.handshake();
    agent.send({ type: 'snapshot', containers: [] });
    alice = await signIn(h.api, 'alice');
    bob = await signIn(h.api, 'bob');
    await createServer('alpha', alice.userId);
    await createServer('beta', bob.userId);
  });

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await cs?.close();
    await h?.close();
  });

  it('refuses the upgrade without a valid token (401, before the socket opens)', async () => {
    const none = await connect('');
    expect(none).toMatchObject({ ok: false, status: 401 });
    expect((none as { body: string }).body).toMatch(/token/);
    const bad = await connect('?token=not-a-jwt');
    expect(bad).toMatchObject({ ok: false, status: 401 });
    const key = await connect('?token=gak_whatever');
    expect(key).toMatchObject({ ok: false, status: 401 });
    // A websocket-purpose token is accepted; so is an API key in the Authorization header.
    const { token } = await h.api.auth.tokens.sign('websocket', { userId: alice.userId });
    const viaWsToken = await connect(`?token=${token}`);
    expect(viaWsToken.ok).toBe(true);
    const { key: apiKey } = await h.api.accounts.createApiKey(alice.userId, { name: 'ws', permissions: ['server.read'] });
    const viaKey = await connect('', { authorization: `Bearer ${apiKey}` });
    expect(viaKey.ok).toBe(true);
    for (const r of [viaWsToken, viaKey]) if (r.ok) r.client.ws.close();
    await waitFor(() => cs.size === 0, 'sockets closed');
  });

  it('flow 3: subscribe, console lines as server_log, stats, console_input to the agent', async () => {
    const c = await open(alice);
    c.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log', 'server_state_update', 'resource_stats'] });
    expect(await c.type('subscribed')).toEqual({ type: 'subscribed', serverId: 'alpha', events: ['server_log', 'server_state_update', 'resource_stats'], state: 'running' });

    agent.send({ type: 'console', uid: uids.alpha, lines: [{ stream: 'stdout', line: '[INFO] Player joined', ts: Date.UTC(2026, 0, 25) }, { stream: 'stderr', line: 'oops', ts: Date.UTC(2026, 0, 25) }] });
    expect(await c.type('server_log')).toEqual({ type: 'server_log', serverId: 'alpha', stream: 'stdout', data: '[INFO] Player joined\n', timestamp: '2026-01-25T00:00:00.000Z' });
    expect(await c.type('server_log')).toMatchObject({ stream: 'stderr', data: 'oops\n' });

    const sample = { uid: uids.alpha, containerId: 'c1', time: Date.now(), cpuPercent: 45.2, onlineCpus: 2, memoryBytes: 2048 * 1024 * 1024, memoryLimitBytes: 4096 * 1024 * 1024, memoryPercent: 50, networkRxBytes: 7654321, networkTxBytes: 1234567, blockReadBytes: 0, blockWriteBytes: 0, pids: 3, overDiskLimit: false };
    agent.send({ type: 'stats', samples: [sample] });
    expect(await c.type('resource_stats')).toMatchObject({ serverId: 'alpha', cpu: 45.2, memoryMb: 2048, networkSent: 1234567, networkReceived: 7654321 });

    // A late subscriber may ask for the recent lines first; live lines follow them.
    const late = await open(alice);
    late.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log'], history: 1 });
    await late.type('subscribed');
    expect((await late.type('server_log')).data).toBe('oops\n');
    late.send({ type: 'subscribe', serverId: 'alpha', history: 5000 });
    expect((await late.type('error')).message).toMatch(/history/);
    late.ws.close();

    c.send({ type: 'console_input', serverId: 'alpha', data: 'say Hello from frontend!\n' });
    const req = (await agent.next('request')) as unknown as Msg;
    expect(req).toMatchObject({ method: 'sendCommand', params: { uid: uids.alpha, line: 'say Hello from frontend!' } });
    agent.send({ type: 'response', id: req.id, ok: true, result: {} });
    const audit = await (async () => {
      for (let i = 0; i < 100; i++) {
        const rows = await h.api.audit.list({ action: 'server.console', resourceId: 'alpha' });
        if (rows.length) return rows;
        await new Promise((r) => setTimeout(r, 20));
      }
      return [];
    })();
    expect(audit[0]).toMatchObject({ userId: alice.userId, status: 200 });

    // The agent's refusal comes back as an error naming the server; the socket stays.
    c.send({ type: 'console_input', serverId: 'alpha', data: 'say again' });
    const req2 = (await agent.next('request')) as unknown as Msg;
    agent.send({ type: 'response', id: req2.id, ok: false, error: { code: 'not_found', message: 'container is not running' } });
    expect((await c.type('error')).message).toMatch(/alpha.*container is not running/);
    c.ws.close();
  });

  it('server_state_update carries previousState; deletion ends the subscription', async () => {
    await createServer('gamma', alice.userId, { phase: 'stopped', nodeName: 'n1' });
    const c = await open(alice);
    c.send({ type: 'subscribe', serverId: 'gamma', events: ['server_state_update'] });
    expect(await c.type('subscribed')).toMatchObject({ state: 'stopped' });
    await setPhase('gamma', 'starting');
    expect(await c.type('server_state_update')).toMatchObject({ serverId: 'gamma', state: 'starting', previousState: 'stopped' });
    await setPhase('gamma', 'running');
    expect(await c.type('server_state_update')).toMatchObject({ state: 'running', previousState: 'starting' });
    // Not subscribed to logs: console lines are not sent.
    agent.send({ type: 'console', uid: uids.gamma, lines: [{ stream: 'stdout', line: 'hidden', ts: Date.now() }] });
    await h.env.store.delete('GameServer', 'default', 'gamma');
    expect(await c.type('unsubscribed')).toMatchObject({ serverId: 'gamma', reason: 'server deleted' });
    expect(c.received.filter((m) => m.type === 'server_log')).toEqual([]);
    c.ws.close();
  });

  it("refuses other users' servers and missing permissions with an error, keeping the socket", async () => {
    const c = await open(alice);
    c.send({ type: 'subscribe', serverId: 'beta' });
    expect((await c.type('error')).message).toMatch(/server "beta" not found/);
    c.send({ type: 'console_input', serverId: 'beta', data: 'stop' });
    expect((await c.type('error')).message).toMatch(/not found/);
    c.send({ type: 'subscribe', serverId: 'nope' });
    expect((await c.type('error')).message).toMatch(/not found/);
    // Bad messages: each gets an error, the socket stays open.
    for (const bad of ['not json', '[]', { type: 'dance' }, { type: 'subscribe', serverId: 'Alpha!' }, { type: 'subscribe', serverId: 'alpha', events: ['everything'] }, { type: 'console_input', serverId: 'alpha' }]) {
      c.send(bad);
      expect((await c.type('error')).message).toBeTruthy();
    }
    await c.sync();
    // A subuser with read-only access may watch but not type.
    await h.api.accounts.setServerGrant('default', 'beta', alice.userId, ['server.read']);
    c.send({ type: 'subscribe', serverId: 'beta', events: ['server_state_update'] });
    expect(await c.type('subscribed')).toMatchObject({ serverId: 'beta' });
    c.send({ type: 'subscribe', serverId: 'beta', events: ['server_log'] });
    expect((await c.type('error')).message).toMatch(/requires server\.logs\.read/);
    c.send({ type: 'console_input', serverId: 'beta', data: 'stop' });
    expect((await c.type('error')).message).toMatch(/requires server\.console/);
    await h.api.accounts.removeServerGrant('default', 'beta', alice.userId);
    expect(await c.closed).toEqual({ code: WS_CLOSE.forbidden, reason: expect.stringMatching(/access to server beta revoked/) });
  });

  it('refuses console input on a suspended server', async () => {
    await h.env.store.patch('GameServer', 'default', 'alpha', { spec: { suspended: true } });
    await waitFor(() => cs.cachedServer('alpha')?.spec?.suspended === true, 'the suspension in the cache');
    const c = await open(alice);
    c.send({ type: 'console_input', serverId: 'alpha', data: 'say hi' });
    expect(await c.type('error')).toMatchObject({ serverId: 'alpha', reason: 'server_suspended', message: expect.stringMatching(/suspended/) });
    expect(agent.received.filter((m) => m.type === 'request')).toEqual([]);
    await h.env.store.patch('GameServer', 'default', 'alpha', { spec: { suspended: false } });
    await waitFor(() => cs.cachedServer('alpha')?.spec?.suspended === false, 'the unsuspension in the cache');
    c.ws.close();
  });

  it('a revoked subuser loses the socket at once', async () => {
    const carol = await signIn(h.api, 'carol');
    await h.api.accounts.setServerGrant('default', 'alpha', carol.userId, ['server.read', 'server.logs.read']);
    const c = await open(carol);
    c.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log'] });
    await c.type('subscribed');
    await h.api.accounts.removeServerGrant('default', 'alpha', carol.userId);
    const closed = await c.closed;
    expect(closed.code).toBe(WS_CLOSE.forbidden);
    expect(closed.reason).toMatch(/alpha/);
  });

  it("a deleted user's, a disabled user's and a logged-out session's sockets are closed", async () => {
    const dave = await signIn(h.api, 'dave');
    const c1 = await open(dave);
    await c1.sync();
    await h.api.accounts.deleteUser(dave.userId);
    expect(await c1.closed).toEqual({ code: WS_CLOSE.unauthorized, reason: 'user deleted' });

    const erin = await signIn(h.api, 'erin');
    const c2 = await open(erin);
    await c2.sync();
    await h.api.accounts.updateUser(erin.userId, { disabled: true });
    expect(await c2.closed).toEqual({ code: WS_CLOSE.unauthorized, reason: 'account disabled' });

    const fay = await signIn(h.api, 'fay');
    const other = await signIn(h.api, 'fay'); // a second session of the same user
    const c3 = await open(fay);
    const c4 = await open(other);
    const sid = (await h.api.auth.fromToken(fay.token, 'access')).sessionId!;
    await h.api.accounts.revokeSession(sid, 'logout');
    expect((await c3.closed).code).toBe(WS_CLOSE.unauthorized);
    await c4.sync(); // the other session's socket stays
    expect(c4.ws.readyState).toBe(WebSocket.OPEN);
    c4.ws.close();
  });

  it('closes on an oversized message (1009) and on a sustained message flood (1008)', async () => {
    const c1 = await open(alice);
    c1.send({ type: 'console_input', serverId: 'alpha', data: 'x'.repeat(8000) });
    expect((await c1.closed).code).toBe(WS_CLOSE.tooBig);

    const c2 = await open(alice);
    for (let i = 0; i < 200; i++) c2.send({ type: 'ping' });
    const closed = await c2.closed;
    expect(closed).toEqual({ code: WS_CLOSE.policy, reason: expect.stringMatching(/rate limit/) });
    expect(c2.received.some((m) => m.type === 'error' && /rate limit/.test(m.message))).toBe(true);
  });

  it('limits connections per user (429) and names the limit', async () => {
    await waitFor(() => cs.size === 0, 'earlier sockets gone');
    const open3 = [await open(bob), await open(bob), await open(bob)];
    const fourth = await connect(`?token=${bob.token}`);
    expect(fourth).toMatchObject({ ok: false, status: 429 });
    expect((fourth as { body: string }).body).toMatch(/limit 3/);
    // Other users are not affected.
    const a = await open(alice);
    a.ws.close();
    for (const c of open3) c.ws.close();
  });

  it('limits subscribers per server; an unsubscribe frees the place', async () => {
    await waitFor(() => cs.size === 0, 'earlier sockets gone');
    const [a, b, c] = [await open(alice), await open(alice), await open(alice)];
    for (const x of [a, b]) {
      x.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log'] });
      await x.type('subscribed');
    }
    c.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log'] });
    expect((await c.type('error')).message).toMatch(/most subscribers allowed \(2\)/);
    b.send({ type: 'unsubscribe', serverId: 'alpha' });
    await b.type('unsubscribed');
    c.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log'] });
    await c.type('subscribed');
    for (const x of [a, b, c]) x.ws.close();
    await waitFor(() => cs.size === 0, 'sockets closed');
  });

  it('a client that stops reading does not hold back another; it is told what it missed', async () => {
    const slow = await open(alice);
    const fast = await open(alice);
    for (const c of [slow, fast]) {
      c.send({ type: 'subscribe', serverId: 'alpha', events: ['server_log', 'server_state_update'] });
      await c.type('subscribed');
    }
    // The slow client stops reading from its TCP socket; once the kernel buffers are full, the
    // server's send buffer for it grows past the high-water mark.
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const pad = 'x'.repeat(1000);
    // Batches like the agent's (it flushes every 10 ms), each well under the high-water mark, so a
    // client that reads keeps up; 40 MB in all, more than the kernel's socket buffers hold.
    const BATCHES = 800;
    const PER = 50;
    // Each batch reaches the reading client before the next is sent (the clients share this process,
    // so an unpaced sender would starve the reader too): every line of it arrives while the other
    // client is stalled.
    let fastLines = 0;
    fast.ws.on('message', () => fastLines++);
    for (let b = 0; b < BATCHES; b++) {
      agent.send({ type: 'console', uid: uids.alpha, lines: Array.from({ length: PER }, (_, i) => ({ stream: 'stdout', line: `line ${b * PER + i} ${pad}`, ts: Date.now() })) });
      if (b === BATCHES / 2) await setPhase('alpha', 'stopping'); // a state update in the middle is never dropped
      await waitFor(() => fastLines >= (b + 1) * PER, `batch ${b} at the reading client`);
    }
    await fast.sync();
    const got = fast.received.filter((m) => m.type === 'server_log').map((m) => Number(/^line (\d+)/.exec(m.data)![1]));
    expect(got).toEqual(Array.from({ length: BATCHES * PER }, (_, i) => i));
    expect(fast.received.filter((m) => m.type === 'dropped')).toEqual([]);
    await fast.type('server_state_update');
    const seenBySlow = slow.received.length;

    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    const notice = await slow.next((m) => m.type === 'dropped', 'dropped notice', 30_000);
    expect(notice.serverId).toBe('alpha');
    expect(notice.count).toBeGreaterThan(0);
    await slow.sync();
    const logs = slow.received.filter((m) => m.type === 'server_log');
    const dropped = notice.count + slow.received.filter((m) => m.type === 'dropped').reduce((n, m) => n + m.count, 0);
    // Every line is either delivered or counted, none twice.
    expect(logs.length + dropped).toBe(BATCHES * PER);
    expect(seenBySlow).toBeLessThan(BATCHES * PER);
    expect(slow.received.some((m) => m.type === 'server_state_update' && m.state === 'stopping')).toBe(true);
    await setPhase('alpha', 'running');
  }, 120_000);
});
