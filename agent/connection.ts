// The agent's one WebSocket to the controller's agent hub (agent/protocol.ts is the contract).
//
//   open ─► hello ─► (welcome) ─► snapshot ─► ready: container / stats / health / console / pings
//
// - Reconnects forever with exponential backoff and full jitter (delay = random × min(max, initial × 2^n)).
//   The attempt counter resets only after a welcomed connection stayed up `stableMs`, so a controller
//   that accepts and drops at once cannot make the agent spin.
// - After every (re)connect: hello, then a full snapshot of the latest observed state per container.
//   While not ready, container changes are coalesced into that state (latest per container; the snapshot
//   carries them), stats and health are dropped, console lines wait in a bounded per-server buffer whose
//   overflow drops the oldest lines and is announced by one system line in that server's console.
// - Heartbeats both ways: `ping` every heartbeatIntervalMs, `pong` answers the controller's pings; when
//   nothing at all arrives for 3 intervals the socket is terminated and a reconnect follows.
// - Every inbound frame goes through parseControllerMessage: an invalid one gets an `error` reply (ref =
//   its id when it had one; a request additionally gets a `response ok:false invalid_params` so the
//   caller's pending call ends at once) and a warn log line, never a crash.
// - 401/403 on the upgrade, or close code 4001 (revoked) after it, means the node credential is
//   rejected; 4000 (replaced by another agent with the same credential) and 4003 (unsupported protocol
//   version) are final too: the connection stops and emits `rejected`; it does not retry.

import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { createLogger, type Logger } from '../lib/log.ts';
import { GANTRY_VERSION } from '../lib/version.ts';
import {
  CLOSE_REPLACED,
  CLOSE_REVOKED,
  CLOSE_UNSUPPORTED_VERSION,
  AGENT_CONNECT_PATH,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseControllerMessage,
  type AgentMessage,
  type ConsoleLine,
  type ControllerMessage,
  type Parsed,
  type RequestMessage,
  type ResponseMessage,
  type StreamMessage,
  type WelcomeMessage,
} from './protocol.ts';
import type { ObservedContainer } from './runtime/events.ts';
import type { HealthReport } from './runtime/health.ts';
import type { StatsSample } from './runtime/stats.ts';
import type { PlayerSample } from './runtime/players.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Full jitter: uniformly random in [0, min(max, initial × 2^attempt)). Pure. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.floor(random() * cap);
}

/** `http(s)://host[:port][/prefix]` → `ws(s)://host[:port][/prefix]` + path. */
export function panelUrl(panel: string, pathname: string, ws = false): string {
  let u: URL;
  try {
    u = new URL(panel);
  } catch {
    throw new Error(`invalid panel URL "${panel}" (expected http://host:port or https://host)`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error(`invalid panel URL "${panel}": use http:// or https://`);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  u.protocol = ws ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\/+$/, '') + pathname;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** The controller's message from an HTTP error body (JSON `message` / `error`, Kubernetes Status, or text). */
export function errorMessageFromBody(status: number, body: string): string {
  const text = body.trim();
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof j.message === 'string' && j.message) return j.message;
    if (typeof j.error === 'string' && j.error) return j.error;
    const nested = (j.error as { message?: unknown } | undefined)?.message;
    if (typeof nested === 'string' && nested) return nested;
  } catch {
    // not JSON
  }
  return text ? text.slice(0, 500) : `HTTP ${status}`;
}

/** parseControllerMessage, never throwing (a bare `null` frame makes it throw). */
export function safeParseControllerMessage(raw: string): Parsed<ControllerMessage> {
  try {
    return parseControllerMessage(raw);
  } catch (e) {
    return { ok: false, error: `invalid frame: ${(e as Error).message}` };
  }
}

export type ConnectionState = 'idle' | 'connecting' | 'handshake' | 'ready' | 'waiting' | 'rejected' | 'closed';

export interface ConnectionOptions {
  /** The controller's base URL (http:// or https://). */
  panel: string;
  credential: string;
  agentVersion?: string;
  /** The node's health, for hello and the periodic `health` message. */
  health: () => Promise<HealthReport>;
  /** Runs one RPC; the connection sends the response on the socket the request came from. */
  onRequest: (req: RequestMessage) => Promise<ResponseMessage>;
  log?: Logger;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
  /** Liveness before the first welcome and until the controller sets it (default 10 s). */
  heartbeatIntervalMs?: number;
  /** Upgrade + hello + welcome must complete within this (default 15 s). */
  handshakeTimeoutMs?: number;
  /** A `health` message every N heartbeats (default 6). */
  healthEveryHeartbeats?: number;
  /** Console lines of a server are batched this long into one frame (default 10 ms; 0 = next tick). */
  consoleBatchMs?: number;
  /** Console lines kept per server while the socket is down or congested (default 2000). */
  consoleBufferLines?: number;
  /** The socket's send buffer above which console lines wait (default 4 MiB). */
  maxBufferedBytes?: number;
  /** A welcomed connection that lasted this long resets the backoff (default 5 s). */
  stableMs?: number;
  /** Byte streams (file transfers, lib/byte-streams.ts): binary data frames and `stream` control messages. */
  onStreamData?: (frame: Buffer) => void;
  onStreamControl?: (msg: StreamMessage) => void;
}

export interface ConnectionEvents {
  /** Handshake done and snapshot sent. */
  ready: [WelcomeMessage];
  /** The controller's settings (first welcome of each connection, and any later one). */
  welcome: [WelcomeMessage];
  disconnected: [{ reason: string; delayMs: number }];
  /** Refused for good (credential rejected, replaced by another agent, unsupported version): the connection stopped. */
  rejected: [Rejection];
}

export type RejectReason = 'credential' | 'replaced' | 'version';
export interface Rejection {
  /** HTTP status of the refused upgrade (401/403), or the WebSocket close code (4000/4001/4003). */
  status: number;
  message: string;
  reason: RejectReason;
}

/**
 * Close codes after which reconnecting with the same credential is pointless (protocol.ts).
 * Any other close (4002 protocol error, 1001 going away, 1006...) is retried with backoff.
 */
const FATAL_CLOSE_CODES: Record<number, { reason: RejectReason; message: string }> = {
  [CLOSE_REPLACED]: { reason: 'replaced', message: 'another agent connected with this node\'s credential' },
  [CLOSE_REVOKED]: { reason: 'credential', message: 'node credential revoked' },
  [CLOSE_UNSUPPORTED_VERSION]: { reason: 'version', message: `the controller does not support protocol version ${PROTOCOL_VERSION}` },
};

interface ConsoleQueue {
  lines: ConsoleLine[];
  head: number;
  dropped: number;
}

const MAX_LINES_PER_FRAME = 2000;
/** Worst case JSON-escapes 6× (control characters as \uXXXX): 512 Ki chars stay under MAX_FRAME_BYTES. */
const MAX_CHARS_PER_FRAME = 512 * 1024;
const HEALTH_TIMEOUT_MS = 5000;

export class AgentConnection extends EventEmitter<ConnectionEvents> {
  private ws: WebSocket | undefined;
  private _state: ConnectionState = 'idle';
  private credential: string;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private lastReceived = 0;
  private welcomedAt = 0;
  private beats = 0;
  private heartbeatMs: number;
  private readonly known = new Map<string, ObservedContainer>();
  private readonly consoleQueues = new Map<string, ConsoleQueue>();
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private welcome: WelcomeMessage | undefined;
  /** Counters for benches and tests. */
  readonly counters = { connects: 0, framesIn: 0, framesOut: 0, invalidFrames: 0, consoleLinesSent: 0, consoleLinesDropped: 0 };

  /** The WebSocket URL dialled. */
  readonly url: string;

  constructor(private readonly opts: ConnectionOptions) {
    super();
    this.credential = opts.credential;
    this.log = opts.log ?? createLogger({ component: 'agent.connection' });
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.heartbeatMs = opts.heartbeatIntervalMs ?? 10_000;
    this.url = panelUrl(opts.panel, AGENT_CONNECT_PATH, true);
  }

  get state(): ConnectionState {
    return this._state;
  }

  get ready(): boolean {
    return this._state === 'ready';
  }

  /** The controller's current settings (undefined before the first welcome). */
  get settings(): WelcomeMessage | undefined {
    return this.welcome;
  }

  start(): void {
    if (this._state !== 'idle' && this._state !== 'rejected') return;
    this.attempt = 0;
    this.connect();
  }

  /** Replaces the credential (after a re-enrolment) and reconnects now. */
  setCredential(credential: string): void {
    this.credential = credential;
    if (this._state === 'closed') return;
    this.dropSocket('credential replaced');
    this.clearTimer('reconnectTimer');
    this._state = 'idle';
    this.start();
  }

  /** Closes the socket for good (1001 going away). */
  close(): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.clearTimers();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(1001, 'agent shutting down');
        // A controller that does not answer the close must not hold the agent's exit for ws's 30 s.
        setTimeout(() => ws.terminate(), 2000).unref();
      } else {
        ws.terminate();
      }
    }
  }

  // ---- outbound state --------------------------------------------------------------------------

  /** Replaces the known state of every container (e.g. after adoption or a docker resync). */
  setContainers(list: ObservedContainer[]): void {
    this.known.clear();
    for (const o of list) if (o.state !== 'removed') this.known.set(o.uid, o);
  }

  /** Replaces the known state and sends a full snapshot now (when ready). */
  sendSnapshot(list?: ObservedContainer[]): void {
    if (list) this.setContainers(list);
    if (this.ready) this.send({ type: 'snapshot', containers: [...this.known.values()] });
  }

  /** One container's new state: sent now when ready, else kept (latest per container) for the snapshot. */
  sendContainer(o: ObservedContainer): void {
    if (o.state === 'removed') this.known.delete(o.uid);
    else this.known.set(o.uid, o);
    if (this.ready) this.send({ type: 'container', container: o });
  }

  /** Stats are dropped while not ready (stale samples are worthless). */
  sendStats(samples: StatsSample[]): void {
    if (this.ready && samples.length > 0) this.send({ type: 'stats', samples });
  }

  sendPlayers(samples: PlayerSample[]): void {
    if (this.ready && samples.length > 0) this.send({ type: 'players', samples });
  }

  sendHealth(health: HealthReport): void {
    if (this.ready) this.send({ type: 'health', health });
  }

  /** One console line of a server: batched per server, in order; bounded while disconnected. */
  console(uid: string, line: ConsoleLine): void {
    let q = this.consoleQueues.get(uid);
    if (!q) {
      q = { lines: [], head: 0, dropped: 0 };
      this.consoleQueues.set(uid, q);
    }
    q.lines.push(line);
    const queued = q.lines.length - q.head;
    const cap = this.opts.consoleBufferLines ?? 2000;
    if (queued >= Math.min(cap, MAX_LINES_PER_FRAME) && this.ready && !this.congested()) {
      // A burst (one Docker chunk can carry thousands of lines): send a full frame now instead of
      // letting the queue hit its cap before the batch timer fires. The cap only bites while the
      // socket is down or congested.
      this.flushConsole();
      return;
    }
    if (queued > cap) {
      q.head++;
      q.dropped++;
      this.counters.consoleLinesDropped++;
      if (q.head > 1024 && q.head * 2 > q.lines.length) {
        q.lines = q.lines.slice(q.head);
        q.head = 0;
      }
    }
    if (this.ready) this.scheduleFlush(this.opts.consoleBatchMs ?? 10);
  }

  private congested(): boolean {
    return (this.ws?.bufferedAmount ?? 0) > (this.opts.maxBufferedBytes ?? 4 * 1024 * 1024);
  }

  /** Sends every queued console line now (when ready and the socket is not congested). */
  flushConsole(): void {
    this.clearTimer('flushTimer');
    const ws = this.ws;
    if (!this.ready || !ws) return;
    for (const [uid, q] of this.consoleQueues) {
      if (q.dropped > 0) {
        this.log.warn('console lines dropped: the controller was unreachable or too slow', { uid, dropped: q.dropped });
        // At the gap's place (the oldest lines went), so the controller sees where output is missing.
        q.lines.splice(q.head, 0, { stream: 'system', line: `[Gantry] ${q.dropped} console lines dropped: the controller was unreachable or too slow`, ts: Date.now() });
        q.dropped = 0;
      }
      while (q.head < q.lines.length) {
        if (this.congested()) {
          this.scheduleFlush(50); // congested: retry soon; the queue stays bounded meanwhile
          return;
        }
        let end = q.head;
        let chars = 0;
        while (end < q.lines.length && end - q.head < MAX_LINES_PER_FRAME && chars < MAX_CHARS_PER_FRAME) {
          chars += q.lines[end].line.length + 40;
          end++;
        }
        const lines = q.lines.slice(q.head, end);
        q.head = end;
        this.send({ type: 'console', uid, lines });
        this.counters.consoleLinesSent += lines.length;
      }
      this.consoleQueues.delete(uid);
    }
  }

  // ---- socket ----------------------------------------------------------------------------------

  private connect(): void {
    if (this._state === 'closed') return;
    this._state = 'connecting';
    this.counters.connects++;
    const ws = new WebSocket(this.url, {
      headers: { Authorization: `Bearer ${this.credential}`, 'User-Agent': `gantry-agent/${this.opts.agentVersion ?? GANTRY_VERSION}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: this.opts.handshakeTimeoutMs ?? 15_000,
      // Masking protects proxies from browser-made frames; for this non-browser client it only costs
      // a JS XOR loop over every byte on both ends (no bufferutil), which halved file download speed.
      // ws skips it on both ends for an all-zero mask.
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    this.ws = ws;
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      if (this.ws === ws) this.lost(reason);
    };
    this.handshakeTimer = setTimeout(() => {
      if (this.ws !== ws) return;
      this.log.warn('controller handshake timed out', { url: this.url });
      ws.terminate();
      end('handshake timed out');
    }, this.opts.handshakeTimeoutMs ?? 15_000);
    this.handshakeTimer.unref?.();

    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65_536) body += c;
      });
      const done = () => {
        req.destroy();
        ws.removeAllListeners();
        ws.on('error', () => {});
        if (this.ws !== ws || ended) return;
        ended = true;
        const message = errorMessageFromBody(status, body);
        if (status === 401 || status === 403) this.reject(status, message, 'credential');
        else this.lost(`controller answered HTTP ${status}: ${message}`);
      };
      res.once('end', done);
      res.once('error', done);
      res.once('close', done);
    });
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this._state = 'handshake';
      this.lastReceived = Date.now();
      void this.sendHello(ws);
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      this.lastReceived = Date.now();
      this.counters.framesIn++;
      if (isBinary && this.opts.onStreamData && this._state === 'ready') {
        this.opts.onStreamData(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
        return;
      }
      this.onFrame(ws, isBinary ? '\u0000binary' : data.toString());
    });
    ws.on('ping', () => (this.lastReceived = Date.now()));
    ws.on('pong', () => (this.lastReceived = Date.now()));
    ws.on('close', (code, reason) => {
      if (this.ws !== ws || ended) return;
      const fatal = FATAL_CLOSE_CODES[code];
      if (fatal) {
        ended = true;
        this.reject(code, reason.toString() || fatal.message, fatal.reason);
        return;
      }
      end(`socket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`);
    });
    ws.on('error', (err) => {
      this.log.debug('controller socket error', { err });
      end(err.message);
    });
  }

  private async sendHello(ws: WebSocket): Promise<void> {
    const health = await this.healthOrFallback();
    if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
    this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: this.opts.agentVersion ?? GANTRY_VERSION, health });
  }

  /** Health never blocks the handshake: a slow or failing docker yields a minimal report that says so. */
  private async healthOrFallback(): Promise<HealthReport> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.opts.health(),
        new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`no health report within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS))),
      ]);
    } catch (err) {
      this.log.warn('health report failed; sending a minimal one', { err });
      return {
        time: new Date().toISOString(),
        agentVersion: this.opts.agentVersion ?? GANTRY_VERSION,
        error: (err as Error).message,
      } as unknown as HealthReport;
    } finally {
      clearTimeout(timer);
    }
  }

  private onFrame(ws: WebSocket, raw: string): void {
    const parsed: Parsed<ControllerMessage> = raw === '\u0000binary' ? { ok: false, error: 'binary frames are not accepted (text JSON only)' } : safeParseControllerMessage(raw);
    if (!parsed.ok) {
      this.counters.invalidFrames++;
      this.log.warn('invalid message from the controller', { error: parsed.error, ref: parsed.ref, frame: raw.slice(0, 200) });
      this.send({ type: 'error', message: parsed.error, ...(parsed.ref !== undefined ? { ref: parsed.ref } : {}) });
      const looksLikeRequest = (() => {
        try {
          return (JSON.parse(raw) as { type?: unknown } | null)?.type === 'request';
        } catch {
          return false;
        }
      })();
      if (looksLikeRequest && parsed.ref !== undefined) {
        this.send({ type: 'response', id: parsed.ref, ok: false, error: { code: 'invalid_params', message: parsed.error } });
      }
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'welcome':
        this.onWelcome(msg);
        return;
      case 'ping':
        this.send({ type: 'pong', ts: msg.ts });
        return;
      case 'pong':
        return;
      case 'error':
        this.log.warn('the controller refused a message', { message: msg.message, ref: msg.ref });
        return;
      case 'stream':
        this.opts.onStreamControl?.(msg);
        return;
      case 'request': {
        const req = msg;
        this.opts.onRequest(req).then(
          (res) => {
            if (this.ws === ws && ws.readyState === WebSocket.OPEN) this.send(res);
            else this.log.debug('response dropped: its connection is gone', { id: req.id, method: req.method });
          },
          (err: unknown) => {
            this.log.error('request handler failed', { id: req.id, method: req.method, err });
            if (this.ws === ws) this.send({ type: 'response', id: req.id, ok: false, error: { code: 'failed', message: String((err as Error)?.message ?? err) } });
          },
        );
        return;
      }
    }
  }

  private onWelcome(w: WelcomeMessage): void {
    const first = this._state === 'handshake';
    if (w.protocolVersion !== PROTOCOL_VERSION) {
      this.log.warn('the controller speaks another protocol version', { ours: PROTOCOL_VERSION, theirs: w.protocolVersion });
    }
    this.welcome = w;
    this.heartbeatMs = w.heartbeatIntervalMs;
    this.emit('welcome', w);
    this.startHeartbeat();
    if (!first) return;
    this.clearTimer('handshakeTimer');
    // The snapshot is the latest state per container at this instant; everything after goes live.
    this.send({ type: 'snapshot', containers: [...this.known.values()] });
    this._state = 'ready';
    this.welcomedAt = Date.now();
    this.log.info('connected to the controller', { url: this.url, nodeName: w.nodeName, containers: this.known.size, heartbeatIntervalMs: w.heartbeatIntervalMs, statsIntervalMs: w.statsIntervalMs });
    this.emit('ready', w);
    if (this.consoleQueues.size > 0) this.flushConsole();
  }

  private startHeartbeat(): void {
    this.clearTimer('heartbeatTimer');
    this.beats = 0;
    this.heartbeatTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastReceived > 3 * this.heartbeatMs) {
        this.log.warn('controller silent for 3 heartbeat intervals; reconnecting', { heartbeatIntervalMs: this.heartbeatMs });
        ws.terminate();
        if (this.ws === ws) this.lost('heartbeat timeout');
        return;
      }
      this.send({ type: 'ping', ts: Date.now() });
      this.beats++;
      const every = this.opts.healthEveryHeartbeats ?? 6;
      if (this.ready && every > 0 && this.beats % every === 0) {
        void this.opts.health().then(
          (h) => this.sendHealth(h),
          (err) => this.log.warn('health report failed', { err }),
        );
      }
    }, this.heartbeatMs);
    this.heartbeatTimer.unref?.();
  }

  /** A byte-stream control message; false when not connected (the stream is lost). */
  sendStreamControl(msg: StreamMessage): boolean {
    if (!this.ready || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.send(msg);
    return true;
  }

  /** A byte-stream data frame (binary); false when not connected. `written`: see StreamTransport.data. */
  sendStreamData(frame: Buffer, written?: (err?: Error | null) => void): boolean {
    const ws = this.ws;
    if (!this.ready || !ws || ws.readyState !== WebSocket.OPEN) return false;
    this.counters.framesOut++;
    ws.send(frame, { binary: true }, written);
    return true;
  }

  private send(msg: AgentMessage): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    this.counters.framesOut++;
    ws.send(JSON.stringify(msg));
  }

  private scheduleFlush(ms: number): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushConsole();
    }, ms);
  }

  /** The socket is gone (or unusable): back off and reconnect. */
  private lost(reason: string): void {
    if (this._state === 'closed' || this._state === 'rejected') return;
    const wasReady = this._state === 'ready';
    this.dropSocket(reason);
    if (this.welcomedAt && Date.now() - this.welcomedAt >= (this.opts.stableMs ?? 5000)) this.attempt = 0;
    this.welcomedAt = 0;
    const delayMs = backoffDelay(this.attempt, this.backoff, this.opts.random);
    this.attempt++;
    this._state = 'waiting';
    (wasReady ? this.log.warn : this.log.info)('controller connection lost; reconnecting', { reason, attempt: this.attempt, delayMs });
    this.emit('disconnected', { reason, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delayMs);
  }

  private reject(status: number, message: string, reason: RejectReason): void {
    this.dropSocket('rejected');
    this._state = 'rejected';
    this.log.error(reason === 'credential' ? 'node credential rejected' : 'the controller refused this agent for good', { status, message, reason });
    this.emit('rejected', { status, message, reason });
  }

  private dropSocket(_reason: string): void {
    this.clearTimer('heartbeatTimer');
    this.clearTimer('handshakeTimer');
    this.clearTimer('flushTimer');
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
    }
    if (this._state === 'ready') this._state = 'waiting';
  }

  private clearTimer(name: 'reconnectTimer' | 'heartbeatTimer' | 'handshakeTimer' | 'flushTimer'): void {
    const t = this[name];
    if (t) {
      clearTimeout(t);
      clearInterval(t);
    }
    this[name] = undefined;
  }

  private clearTimers(): void {
    this.clearTimer('reconnectTimer');
    this.clearTimer('heartbeatTimer');
    this.clearTimer('handshakeTimer');
    this.clearTimer('flushTimer');
  }
}
