// A fake controller for the agent's tests and bench: a real HTTP server with the enrolment endpoint and
// the agent WebSocket (`ws`), speaking agent/protocol.ts. Every agent frame is validated with
// parseAgentMessage (a frame that fails lands in `invalid`, so tests can assert the agent's output
// conforms). Tests script it: delay or withhold the welcome, stop answering pings, drop sockets, refuse
// credentials, and call RPCs.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import {
  AGENT_CONNECT_PATH,
  AGENT_ENROLL_PATH,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type AgentMessage,
  type ConsoleLine,
  type EnrollResponse,
  type ResponseMessage,
  type RpcMethod,
  type RpcParams,
  type WelcomeMessage,
} from '../../agent/protocol.ts';

export interface FakeAgentConn {
  ws: WebSocket;
  authorization: string | undefined;
  messages: AgentMessage[];
  /** Raw frames that failed parseAgentMessage. */
  invalid: string[];
  closed: boolean;
  welcomed: boolean;
}

export interface EnrollAnswer {
  status: number;
  body: unknown;
}

export class FakeController {
  readonly server: http.Server;
  readonly wss: WebSocketServer;
  url = '';
  /** Credentials accepted on connect; anything else gets 401 with `rejectMessage`. */
  readonly credentials = new Set<string>(['cred-1']);
  rejectMessage = 'unknown node credential';
  /** Enrolment: token → answer (default: 401 unknown deployment token). */
  enrollAnswers = new Map<string, EnrollAnswer | (() => EnrollAnswer)>();
  readonly enrollRequests: unknown[] = [];
  welcome: Omit<WelcomeMessage, 'type'> = { protocolVersion: PROTOCOL_VERSION, nodeName: 'node-a', heartbeatIntervalMs: 10_000, statsIntervalMs: 60_000, consoleThrottle: false };
  /** Send welcome on hello (after `welcomeDelayMs`). */
  autoWelcome = true;
  welcomeDelayMs = 0;
  /** Answer the agent's pings. */
  answerPings = true;
  readonly conns: FakeAgentConn[] = [];
  private readonly pending = new Map<string, (r: ResponseMessage) => void>();
  /** Console lines per server uid, in arrival order, over all connections. */
  readonly console = new Map<string, ConsoleLine[]>();
  consoleFrames = 0;
  consoleLineCount = 0;
  /** When false, console lines are only counted (bench: no per-line memory). */
  keepConsole = true;
  onMessage?: (m: AgentMessage, c: FakeAgentConn) => void;

  constructor() {
    this.server = http.createServer((req, res) => this.onHttp(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 8 * 1024 * 1024 });
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== AGENT_CONNECT_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const auth = req.headers.authorization;
      const cred = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!this.credentials.has(cred)) {
        const body = JSON.stringify({ message: this.rejectMessage });
        socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, auth));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    this.wss.close();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections?.();
  }

  /** The latest connection. */
  get current(): FakeAgentConn | undefined {
    return this.conns.at(-1);
  }

  /** The latest open connection that has been welcomed and has sent its snapshot. */
  get ready(): FakeAgentConn | undefined {
    const c = this.current;
    return c && !c.closed && c.messages.some((m) => m.type === 'snapshot') ? c : undefined;
  }

  sendWelcome(c: FakeAgentConn, extra: Partial<WelcomeMessage> = {}): void {
    c.welcomed = true;
    this.sendRaw(c, JSON.stringify({ type: 'welcome', ...this.welcome, ...extra }));
  }

  sendRaw(c: FakeAgentConn, frame: string): void {
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(frame);
  }

  /** Calls an RPC on the latest ready connection. */
  request<M extends RpcMethod>(method: M, params: RpcParams[M], timeoutMs = 120_000): Promise<ResponseMessage> {
    return this.requestRaw({ method, params, timeoutMs });
  }

  requestRaw(fields: Record<string, unknown>, timeoutMs = 120_000): Promise<ResponseMessage> {
    const c = this.ready;
    if (!c) return Promise.reject(new Error('no agent connected'));
    const id = (fields.id as string | undefined) ?? randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no response to ${String(fields.method)} (${id}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sendRaw(c, JSON.stringify({ type: 'request', id, ...fields }));
    });
  }

  /** All messages of a type over all connections (or one connection). */
  all<T extends AgentMessage['type']>(type: T, conn?: FakeAgentConn): Extract<AgentMessage, { type: T }>[] {
    const src = conn ? [conn] : this.conns;
    return src.flatMap((c) => c.messages.filter((m): m is Extract<AgentMessage, { type: T }> => m.type === type));
  }

  lines(uid: string): string[] {
    return (this.console.get(uid) ?? []).map((l) => l.line);
  }

  private onSocket(ws: WebSocket, authorization: string | undefined): void {
    const c: FakeAgentConn = { ws, authorization, messages: [], invalid: [], closed: false, welcomed: false };
    this.conns.push(c);
    ws.on('close', () => (c.closed = true));
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const raw = data.toString();
      const parsed = parseAgentMessage(raw);
      if (!parsed.ok) {
        c.invalid.push(raw.slice(0, 500));
        return;
      }
      const m = parsed.message;
      if (m.type === 'console') {
        this.consoleFrames++;
        this.consoleLineCount += m.lines.length;
        if (this.keepConsole) {
          let arr = this.console.get(m.uid);
          if (!arr) this.console.set(m.uid, (arr = []));
          for (const l of m.lines) arr.push(l);
        }
        this.onMessage?.(m, c);
        return; // not kept in `messages` (volume)
      }
      c.messages.push(m);
      this.onMessage?.(m, c);
      if (m.type === 'hello' && this.autoWelcome) {
        if (this.welcomeDelayMs > 0) setTimeout(() => this.sendWelcome(c), this.welcomeDelayMs);
        else this.sendWelcome(c);
      } else if (m.type === 'ping' && this.answerPings) {
        this.sendRaw(c, JSON.stringify({ type: 'pong', ts: m.ts }));
      } else if (m.type === 'response') {
        this.pending.get(m.id)?.(m);
        this.pending.delete(m.id);
      }
    });
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'POST' || req.url !== AGENT_ENROLL_PATH) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let parsed: { token?: string } = {};
      try {
        parsed = JSON.parse(body) as { token?: string };
      } catch {
        // empty
      }
      this.enrollRequests.push(parsed);
      const a = this.enrollAnswers.get(parsed.token ?? '');
      const answer = typeof a === 'function' ? a() : a ?? { status: 401, body: { message: 'unknown deployment token' } };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  }
}

/** A successful enrolment answer that also registers the credential as accepted. */
export function grantEnrollment(fc: FakeController, token: string, credential = `cred-${token}`, node: Partial<EnrollResponse> = {}): void {
  fc.enrollAnswers.set(token, () => {
    fc.credentials.add(credential);
    return { status: 200, body: { nodeName: 'node-a', nodeUid: 'uid-node-a', credential, ...node } };
  });
}

/** Polls until fn returns a truthy value (generous default timeout; no timing assertions). */
export async function until<T>(what: string, fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
