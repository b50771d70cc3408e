// A real controller end for agent tests: SQLite store, enrolment, agent hub and the Hono app on a real
// HTTP server (127.0.0.1:0), wired as `gantry up` wires them; and a scripted agent over a real `ws`.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { WebSocket } from 'ws';
import { AGENT_CONNECT_PATH, AGENT_ENROLL_PATH, PROTOCOL_VERSION, type AgentMessage, type ControllerMessage, type EnrollResponse } from '../../agent/protocol.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';
import { createApp } from '../../api/app.ts';
import { apiServicesFor, signInAdmin, type SignedIn } from '../helpers/api.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { AgentHub, type AgentHubOptions } from '../../controller/hub/agent-hub.ts';
import { rejectUpgrade, requestPath } from '../../controller/hub/upgrade.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import type { Resource } from '../../crds/resource.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';

export const health = (over: Partial<HealthReport> = {}): HealthReport => ({
  time: new Date().toISOString(),
  agentVersion: '0.1.0-test',
  hostname: 'node-host',
  cpu: { cores: 2, percent: 3, loadAverage: [0.1, 0.1, 0.1] },
  memory: { totalBytes: 4e9, availableBytes: 3e9, usedBytes: 1e9 },
  containers: { total: 1, running: 1, gantry: 1, gantryRunning: 1 },
  uptime: { systemSeconds: 100, agentSeconds: 10 },
  docker: { version: '20.10.24', apiVersion: '1.41', kernelVersion: '6.1.0-test', operatingSystem: 'Debian GNU/Linux 12' },
  os: { platform: 'linux', release: '6.1.0-test', arch: 'x64', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  ...over,
});

export const hello = (over: Record<string, unknown> = {}) => ({
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  agentVersion: '0.1.0-test',
  health: health(),
  ...over,
});

export async function eventually<T>(fn: () => T | Promise<T>, what = 'condition', timeoutMs = 10_000): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A scripted agent: every frame it receives is queued; next() takes them in order. */
export class TestAgent {
  readonly received: ControllerMessage[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Answer the hub's pings (like a real agent). */
  autoPong = true;
  /** Pings of the hub answered so far. */
  pongsSent = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as ControllerMessage;
      if (msg.type === 'ping' && this.autoPong) {
        this.send({ type: 'pong', ts: msg.ts });
        this.pongsSent++;
        return;
      }
      this.received.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }

  send(msg: AgentMessage | Record<string, unknown> | string): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next received message (of `type`, skipping others), waiting for it. */
  async next<T extends ControllerMessage['type']>(type?: T, timeoutMs = 10_000): Promise<Extract<ControllerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => type === undefined || m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ControllerMessage, { type: T }>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type ?? 'message'} received; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** hello → welcome. */
  async handshake(over: Record<string, unknown> = {}) {
    this.send(hello(over));
    return this.next('welcome');
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000, 'test done');
    return this.closed;
  }
}

export type ConnectResult = { ok: true; agent: TestAgent } | { ok: false; status: number; body: string };

export interface Harness {
  env: TestEnv;
  nodes: NodeEnrollment;
  hub: AgentHub;
  server: ServerType;
  url: string;
  wsUrl: string;
  createNode(name: string): Promise<Resource>;
  issueToken(name: string, ttl?: string): Promise<{ status: number; body: any }>;
  enrollHttp(body: unknown): Promise<{ status: number; body: any }>;
  /** Node created, token issued over HTTP, enrolled over HTTP: the credential. */
  enrolledNode(name: string): Promise<EnrollResponse>;
  connect(headers?: Record<string, string>, path?: string): Promise<ConnectResult>;
  /** connect() with a credential, expecting success. */
  agent(credential: string): Promise<TestAgent>;
  close(): Promise<void>;
  /** The API's services and a signed-in administrator (for requests to the harness's app). */
  api: ApiServices;
  admin: SignedIn;
}

export async function startHarness(opts: { hub?: Partial<AgentHubOptions>; now?: () => number } = {}): Promise<Harness> {
  const env = await openTestEnv();
  const nodes = await NodeEnrollment.open({ db: env.db, store: env.store, log: env.log, now: opts.now });
  await nodes.start();
  const hub = new AgentHub({ auth: nodes, store: env.store, log: env.log, ...opts.hub });
  const api = await apiServicesFor(env, { hub, nodes });
  const admin = await signInAdmin(api);
  const app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, nodes, api });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  server.on('upgrade', (req, socket, head) => {
    if (requestPath(req) === AGENT_CONNECT_PATH) void hub.handleUpgrade(req, socket, head);
    else rejectUpgrade(socket, 404, `no WebSocket endpoint at ${requestPath(req)}`);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${port}${AGENT_CONNECT_PATH}`;
  const agents: TestAgent[] = [];

  const post = async (path: string, body: unknown) => {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...admin.headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const h: Harness = {
    api,
    admin,
    env,
    nodes,
    hub,
    server,
    url,
    wsUrl,
    createNode: (name) =>
      env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name }, spec: { address: `${name}.example` } }),
    issueToken: (name, ttl) => post(`/api/nodes/${name}/deployment-token`, ttl ? { ttl } : ''),
    enrollHttp: (body) => post(AGENT_ENROLL_PATH, body),
    async enrolledNode(name) {
      await h.createNode(name);
      const t = await h.issueToken(name);
      const e = await h.enrollHttp({ token: t.body.data.deploymentToken, agentVersion: '0.1.0-test', hostname: 'node-host' });
      if (e.status !== 200) throw new Error(`enrolment failed: ${JSON.stringify(e.body)}`);
      return e.body as EnrollResponse;
    },
    connect(headers = {}, path = AGENT_CONNECT_PATH) {
      return new Promise<ConnectResult>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
        ws.once('open', () => {
          const agent = new TestAgent(ws);
          agents.push(agent);
          resolve({ ok: true, agent });
        });
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        ws.once('error', (err) => reject(err));
      });
    },
    async agent(credential) {
      const r = await h.connect({ authorization: `Bearer ${credential}` });
      if (!r.ok) throw new Error(`connect refused: ${r.status} ${r.body}`);
      return r.agent;
    },
    async close() {
      for (const a of agents) a.ws.terminate();
      await hub.close();
      nodes.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await env.close();
    },
  };
  return h;
}

/** The GameNode's status, read from the store. */
export async function nodeStatus(h: Harness, name: string): Promise<Record<string, any>> {
  const n = await h.env.store.get('GameNode', undefined, name);
  return (n.status ?? {}) as Record<string, any>;
}
