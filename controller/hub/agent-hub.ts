// The agent hub: the controller's end of every node agent's WebSocket (agent/protocol.ts).
//
// - Upgrade: `Authorization: Bearer <node credential>` is checked BEFORE the WebSocket is accepted;
//   a refusal is a plain `401` with a one-line reason. A credential revoked while its check was in
//   flight is refused too (revocation sequence numbers), and revocation closes live connections.
// - Handshake: the first frame must be `hello` with our protocol version; the answer is `welcome`
//   with the settings the agent follows (heartbeat, stats interval, console throttle).
// - Liveness: the hub pings every heartbeat interval and answers the agent's pings; a connection
//   with no frame for `missedHeartbeats` intervals is terminated. A second connection of the same
//   node replaces the first.
// - Every inbound frame goes through parseAgentMessage: an invalid one gets an `error` reply and a
//   (rate-limited) warn line, never a crash, and the connection stays.
// - Observed state per node (containers, latest stats, console history, health) feeds typed events
//   for the reconcilers; `call()` is the typed RPC with ids, timeouts and typed errors.
// - GameNode.status (phase, lastHeartbeatTime, versions, OS) follows the connection (node-status.ts).
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import {
  AGENT_CONNECT_PATH,
  checkRequest,
  MAX_FRAME_BYTES,
  parseAgentMessage,
  PROTOCOL_VERSION,
  type AgentMessage,
  type ConsoleLine,
  type ControllerMessage,
  type RequestMessage,
  type RpcMethod,
  type RpcParams,
  type RpcResults,
} from '../../agent/protocol.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { PlayerSample } from '../../agent/runtime/players.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';
import type { CredentialsRevoked, NodeAuthenticator } from '../nodes/enrollment.ts';
import type { ResourceStore } from '../store/types.ts';
import { CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR, CLOSE_REPLACED, CLOSE_REVOKED, CLOSE_UNSUPPORTED_VERSION, closeReason } from './close-codes.ts';
import { AgentRpcError, NodeDisconnectedError, NodeNotConnectedError, RpcError, RpcTimeoutError } from './errors.ts';
import { NodeStatusWriter } from './node-status.ts';
import { HubFiles, type HubFilesOptions, type StreamChannel } from './files/hub-files.ts';
import { decodeDataFrame } from '../../lib/byte-streams.ts';
import { ConsoleRing, newNodeState, sameContainer, type NodeObserved, type NodeState } from './observed.ts';
import { bearerToken, rejectUpgrade, requestPath } from './upgrade.ts';
import type { GoneServer, PerServerState } from '../lifecycle/server-reaper.ts';

export type ConsoleThrottle = { lines: number; intervalMs: number } | false;

export interface AgentHubOptions {
  /** Checks node credentials; its `onRevoked` (if any) disconnects agents whose credential was revoked. */
  auth: NodeAuthenticator;
  /** Where GameNode.status is written; without it the hub keeps status to itself. */
  store?: ResourceStore;
  log?: Logger;
  /** Pings both ways at this interval (default 10 s, at least 100 ms). */
  heartbeatIntervalMs?: number;
  /** A connection silent for this many heartbeat intervals is dead (default 3). */
  missedHeartbeats?: number;
  /** Time allowed between accepting the socket and hello (default: missedHeartbeats × heartbeat). */
  helloTimeoutMs?: number;
  /** Stats sampling interval the agents follow (default 5 s). */
  statsIntervalMs?: number;
  /** Console lines per interval per server on the agent, like Wings (default 2000 per 100 ms); false = off. */
  consoleThrottle?: ConsoleThrottle;
  /** Console lines kept per server (default 1000). */
  consoleBufferLines?: number;
  /** Servers per node with stats/console kept (default 1024); beyond it the oldest console buffer goes. */
  maxTrackedServers?: number;
  /** RPC timeout when the caller gives none (default 30 s). */
  defaultRpcTimeoutMs?: number;
  /** lastHeartbeatTime is written at most this often (default 10 s). */
  heartbeatWriteIntervalMs?: number;
  /** File transfers (controller/hub/files/). */
  files?: HubFilesOptions;
  now?: () => number;
}

export interface NodeConnectedInfo {
  nodeUid: string;
  agentVersion: string;
  health: HealthReport;
  /** An older connection of the same node was closed for this one. */
  replaced: boolean;
}

export interface NodeDisconnectedInfo {
  nodeUid: string;
  /** WebSocket close code (1006 when the connection simply dropped). */
  code: number;
  reason: string;
}

/** Events for the reconcilers; listeners run synchronously and a throwing one is logged, not fatal. */
export interface AgentHubEvents {
  nodeConnected: [nodeName: string, info: NodeConnectedInfo];
  nodeDisconnected: [nodeName: string, info: NodeDisconnectedInfo];
  /** A full snapshot replaced the node's containers (containerChanged follows for each difference). */
  snapshot: [nodeName: string, containers: ObservedContainer[]];
  /** A container appeared, changed or went (state `removed`), from a snapshot or a container message. */
  containerChanged: [nodeName: string, container: ObservedContainer];
  stats: [nodeName: string, samples: StatsSample[]];
  /** Player counts that changed (the agent sends only changes, and everything after a connect). */
  players: [nodeName: string, samples: PlayerSample[]];
  console: [nodeName: string, uid: string, lines: ConsoleLine[]];
  health: [nodeName: string, health: HealthReport];
}

export interface CallOptions {
  /** Give up after this long (default: the hub's defaultRpcTimeoutMs). Sent to the agent too. */
  timeoutMs?: number;
}

interface PendingCall {
  method: RpcMethod;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type ConnState = 'hello' | 'ready' | 'closing' | 'closed';

class AgentConnection {
  state: ConnState = 'hello';
  lastFrameAt: number;
  readonly acceptedAt: number;
  readonly pending = new Map<string, PendingCall>();
  ticker?: NodeJS.Timeout;
  helloTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  /** Why the hub closed it (undefined: the agent or the network did). */
  closedBecause?: string;
  invalidFrames = 0;
  readonly closed: Promise<void>;
  markClosed!: () => void;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly nodeName: string,
    readonly nodeUid: string,
    readonly remote: string,
    now: number,
  ) {
    this.lastFrameAt = now;
    this.acceptedAt = now;
    this.closed = new Promise((r) => (this.markClosed = r));
  }
}

const DEFAULT_THROTTLE: ConsoleThrottle = { lines: 2000, intervalMs: 100 };

function positiveInt(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer of at least ${min}, not ${v}`);
  return v;
}

export class AgentHub extends EventEmitter<AgentHubEvents> implements PerServerState {
  readonly stateName = 'agent hub console and stats';
  readonly heartbeatIntervalMs: number;
  /** File downloads/uploads as byte streams over the agent connections (controller/hub/files/). */
  readonly files: HubFiles;
  readonly statsIntervalMs: number;
  readonly consoleThrottle: ConsoleThrottle;
  private readonly missedHeartbeats: number;
  private readonly helloTimeoutMs: number;
  private readonly consoleBufferLines: number;
  private readonly maxTrackedServers: number;
  private readonly defaultRpcTimeoutMs: number;
  private readonly auth: NodeAuthenticator;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wss: WebSocketServer;
  private readonly status?: NodeStatusWriter;
  private readonly unsubscribe?: () => void;

  /** Connections past hello, one per node. */
  private readonly current = new Map<string, AgentConnection>();
  /** Every open connection, before and after hello. */
  private readonly connections = new Set<AgentConnection>();
  private readonly nodeStates = new Map<string, NodeState>();
  private revocationSeq = 0;
  private readonly lastRevocation = new Map<string, number>();
  private connSeq = 0;
  private callSeq = 0;
  private closing?: Promise<void>;

  constructor(opts: AgentHubOptions) {
    super();
    this.auth = opts.auth;
    this.log = opts.log ?? rootLogger.child({ component: 'agent-hub' });
    this.now = opts.now ?? Date.now;
    this.heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', opts.heartbeatIntervalMs ?? 10_000, 100);
    this.missedHeartbeats = positiveInt('missedHeartbeats', opts.missedHeartbeats ?? 3);
    this.helloTimeoutMs = positiveInt('helloTimeoutMs', opts.helloTimeoutMs ?? this.heartbeatIntervalMs * this.missedHeartbeats);
    this.statsIntervalMs = positiveInt('statsIntervalMs', opts.statsIntervalMs ?? 5_000, 100);
    const throttle = opts.consoleThrottle === undefined ? DEFAULT_THROTTLE : opts.consoleThrottle;
    if (throttle !== false) {
      positiveInt('consoleThrottle.lines', throttle.lines);
      positiveInt('consoleThrottle.intervalMs', throttle.intervalMs);
    }
    this.consoleThrottle = throttle;
    this.consoleBufferLines = positiveInt('consoleBufferLines', opts.consoleBufferLines ?? 1000);
    this.maxTrackedServers = positiveInt('maxTrackedServers', opts.maxTrackedServers ?? 1024);
    this.defaultRpcTimeoutMs = positiveInt('defaultRpcTimeoutMs', opts.defaultRpcTimeoutMs ?? 30_000);
    // Frames up to twice the protocol limit reach the parser (and get an error reply); ws closes the
    // connection (1009) on anything larger rather than buffer it.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES * 2, perMessageDeflate: false, clientTracking: false });
    this.wss.on('error', (err) => this.log.error('websocket server error', { err }));
    if (opts.store) {
      this.status = new NodeStatusWriter(opts.store, this.log, opts.heartbeatWriteIntervalMs ?? 10_000, this.now);
    }
    this.unsubscribe = opts.auth.onRevoked?.((ev) => this.onRevoked(ev));
    this.files = new HubFiles(this, opts.files);
  }

  // ---- accepting connections ----------------------------------------------------------------------

  /**
   * For `server.on('upgrade')` on AGENT_CONNECT_PATH: authenticates, then accepts or refuses. Never
   * rejects; the returned promise settles when the request has been accepted or refused.
   */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const onError = (err: Error) => this.log.debug('agent socket error before upgrade', { err });
    socket.on('error', onError);
    const remote = req.socket?.remoteAddress ?? 'unknown';
    try {
      if (this.closing) return rejectUpgrade(socket, 503, 'controller is shutting down');
      if (requestPath(req) !== AGENT_CONNECT_PATH) return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${requestPath(req)}`);
      const credential = bearerToken(req);
      if (!credential) {
        this.log.warn('agent connection refused', { remote, reason: 'no credential' });
        return rejectUpgrade(socket, 401, 'missing "Authorization: Bearer <node credential>" header', { 'WWW-Authenticate': 'Bearer realm="gantry-agent"' });
      }
      const seq = this.revocationSeq;
      const result = await this.auth.authenticate(credential);
      if (!result.ok) {
        this.log.warn('agent connection refused', { remote, reason: result.reason });
        return rejectUpgrade(socket, 401, result.reason, { 'WWW-Authenticate': 'Bearer realm="gantry-agent", error="invalid_token"' });
      }
      if ((this.lastRevocation.get(result.nodeName) ?? 0) > seq) {
        this.log.warn('agent connection refused', { remote, node: result.nodeName, reason: 'credential revoked during the check' });
        return rejectUpgrade(socket, 401, 'node credential was revoked', { 'WWW-Authenticate': 'Bearer realm="gantry-agent", error="invalid_token"' });
      }
      if (this.closing) return rejectUpgrade(socket, 503, 'controller is shutting down');
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => {
        // ws answers a request that is not a valid WebSocket handshake with 400 itself (callback not called).
        socket.once('close', () => resolve());
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          socket.off('error', onError);
          this.accept(ws, result.nodeName, result.nodeUid, remote);
          resolve();
        });
      });
    } catch (err) {
      this.log.error('agent upgrade failed', { remote, err });
      rejectUpgrade(socket, 500, 'internal error while checking the node credential');
    }
  }

  private accept(ws: WebSocket, nodeName: string, nodeUid: string, remote: string): void {
    const conn = new AgentConnection(++this.connSeq, ws, nodeName, nodeUid, remote, this.now());
    this.connections.add(conn);
    ws.on('message', (data, isBinary) => this.onFrame(conn, data, isBinary));
    ws.on('close', (code, reason) => this.onClose(conn, code, reason.toString('utf8')));
    ws.on('error', (err) => this.log.warn('agent connection error', { node: nodeName, conn: conn.id, err }));
    conn.helloTimer = setTimeout(() => {
      if (conn.state !== 'hello') return;
      this.sendError(conn, `no hello within ${this.helloTimeoutMs} ms`);
      this.closeConn(conn, CLOSE_PROTOCOL_ERROR, `no hello within ${this.helloTimeoutMs} ms`);
    }, this.helloTimeoutMs);
    conn.helloTimer.unref();
    conn.ticker = setInterval(() => this.tick(conn), this.heartbeatIntervalMs);
    conn.ticker.unref();
    this.log.debug('agent socket accepted', { node: nodeName, conn: conn.id, remote });
  }

  private tick(conn: AgentConnection): void {
    if (conn.state === 'closed') return;
    const silent = this.now() - conn.lastFrameAt;
    if (silent > this.heartbeatIntervalMs * this.missedHeartbeats) {
      this.log.warn('agent missed its heartbeats; terminating the connection', { node: conn.nodeName, conn: conn.id, silentMs: silent });
      conn.closedBecause = `no frame for ${silent} ms (heartbeat ${this.heartbeatIntervalMs} ms)`;
      this.failPending(conn, conn.closedBecause);
      conn.state = 'closing';
      conn.ws.terminate();
      return;
    }
    if (conn.state === 'ready') this.send(conn, { type: 'ping', ts: this.now() });
  }

  // ---- inbound frames -----------------------------------------------------------------------------

  private onFrame(conn: AgentConnection, data: RawData, isBinary: boolean): void {
    if (conn.state === 'closing' || conn.state === 'closed') return;
    conn.lastFrameAt = this.now();
    if (isBinary) {
      // Byte-stream data (file transfers); its flow control travels in `stream` messages.
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (conn.state === 'ready' && this.current.get(conn.nodeName) === conn && decodeDataFrame(buf)) return this.files.onData(conn.id, buf);
      return this.invalid(conn, 'binary frames are only accepted as byte-stream data after hello ([0x01][stream id u32 BE][payload]); messages are JSON text frames');
    }
    const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const parsed = parseAgentMessage(raw);
    if (!parsed.ok) return this.invalid(conn, parsed.error, parsed.ref);
    try {
      if (conn.state === 'hello') this.onHello(conn, parsed.message);
      else this.onMessage(conn, parsed.message);
    } catch (err) {
      // A bug here must not take the controller down with it.
      this.log.error('agent message handling failed', { node: conn.nodeName, type: parsed.message.type, err });
    }
  }

  private invalid(conn: AgentConnection, error: string, ref?: string): void {
    conn.invalidFrames++;
    // One noisy agent must not flood the log: the first few, then every hundredth.
    if (conn.invalidFrames <= 5 || conn.invalidFrames % 100 === 0) {
      this.log.warn('invalid message from agent', { node: conn.nodeName, conn: conn.id, error, ref, count: conn.invalidFrames });
    }
    this.sendError(conn, error, ref);
    if (conn.state === 'hello') this.closeConn(conn, CLOSE_PROTOCOL_ERROR, `expected a valid hello first: ${error}`);
  }

  private onHello(conn: AgentConnection, msg: AgentMessage): void {
    if (msg.type !== 'hello') {
      const text = `expected hello as the first message, got ${msg.type}`;
      this.log.warn('agent skipped hello', { node: conn.nodeName, conn: conn.id, type: msg.type });
      this.sendError(conn, text);
      return this.closeConn(conn, CLOSE_PROTOCOL_ERROR, text);
    }
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      const text = `agent protocol version ${msg.protocolVersion} is not supported: this controller (Gantry ${GANTRY_VERSION}) speaks version ${PROTOCOL_VERSION}; run an agent of the same Gantry version`;
      this.log.warn('agent refused: protocol version mismatch', { node: conn.nodeName, agentVersion: msg.agentVersion, protocolVersion: msg.protocolVersion, expected: PROTOCOL_VERSION });
      this.sendError(conn, text);
      return this.closeConn(conn, CLOSE_UNSUPPORTED_VERSION, text);
    }
    clearTimeout(conn.helloTimer);
    conn.state = 'ready';
    const { nodeName, nodeUid } = conn;

    const previous = this.current.get(nodeName);
    this.current.set(nodeName, conn);
    if (previous && previous !== conn) {
      this.log.info('agent reconnected; closing its older connection', { node: nodeName, old: previous.id, new: conn.id });
      this.closeConn(previous, CLOSE_REPLACED, 'replaced by a newer connection of the same node');
    }

    let state = this.nodeStates.get(nodeName);
    if (!state || state.nodeUid !== nodeUid) {
      state = newNodeState(nodeName, nodeUid);
      this.nodeStates.set(nodeName, state);
    }
    const now = this.now();
    state.connected = true;
    state.connectedAt = now;
    state.disconnectedAt = undefined;
    state.lastHeartbeat = now;
    state.agentVersion = msg.agentVersion;
    state.protocolVersion = msg.protocolVersion;
    state.health = msg.health;
    state.synced = false;
    // the agent sends every player count right after welcome: nothing of the last connection is kept
    state.players.clear();

    this.send(conn, {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      nodeName,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      statsIntervalMs: this.statsIntervalMs,
      consoleThrottle: this.consoleThrottle,
    });
    this.log.info('agent connected', { node: nodeName, conn: conn.id, remote: conn.remote, agentVersion: msg.agentVersion, replaced: !!previous });
    this.status?.online(nodeName, nodeUid, msg.agentVersion, msg.health, now);
    this.fire('nodeConnected', nodeName, { nodeUid, agentVersion: msg.agentVersion, health: msg.health, replaced: !!previous });
  }

  private onMessage(conn: AgentConnection, msg: AgentMessage): void {
    const state = this.nodeStates.get(conn.nodeName);
    if (!state || this.current.get(conn.nodeName) !== conn) return;
    state.lastHeartbeat = conn.lastFrameAt;
    this.status?.heartbeat(conn.nodeName, conn.nodeUid, conn.lastFrameAt);
    switch (msg.type) {
      case 'hello':
        return this.sendError(conn, 'hello was already received on this connection');
      case 'ping':
        return this.send(conn, { type: 'pong', ts: msg.ts });
      case 'pong':
        return;
      case 'snapshot':
        return this.onSnapshot(conn.nodeName, state, msg.containers);
      case 'container':
        return this.onContainer(conn.nodeName, state, msg.container);
      case 'stats':
        for (const s of msg.samples) {
          if (state.stats.has(s.uid) || state.stats.size < this.maxTrackedServers) state.stats.set(s.uid, s);
        }
        return this.fire('stats', conn.nodeName, msg.samples);
      case 'players':
        for (const p of msg.samples) {
          if (state.players.has(p.uid) || state.players.size < this.maxTrackedServers) state.players.set(p.uid, p);
        }
        return this.fire('players', conn.nodeName, msg.samples);
      case 'health':
        state.health = msg.health;
        this.status?.health(conn.nodeName, conn.nodeUid, msg.health);
        return this.fire('health', conn.nodeName, msg.health);
      case 'console':
        return this.onConsole(conn.nodeName, state, msg.uid, msg.lines);
      case 'response': {
        const call = conn.pending.get(msg.id);
        if (!call) {
          this.log.debug('response to an unknown or timed-out request', { node: conn.nodeName, id: msg.id });
          return;
        }
        conn.pending.delete(msg.id);
        clearTimeout(call.timer);
        if (msg.ok) call.resolve(msg.result);
        else call.reject(new AgentRpcError(conn.nodeName, call.method, msg.error.code, msg.error.message));
        return;
      }
      case 'stream':
        return this.files.onControl(conn.id, msg);
      case 'error': {
        this.log.warn('agent reported an error', { node: conn.nodeName, message: msg.message, ref: msg.ref });
        const call = msg.ref === undefined ? undefined : conn.pending.get(msg.ref);
        if (call) {
          conn.pending.delete(msg.ref!);
          clearTimeout(call.timer);
          call.reject(new RpcError('rejected', conn.nodeName, call.method, `node "${conn.nodeName}" rejected ${call.method}: ${msg.message}`));
        }
        return;
      }
    }
  }

  private onSnapshot(nodeName: string, state: NodeState, containers: ObservedContainer[]): void {
    const next = new Map<string, ObservedContainer>();
    for (const c of containers) if (c.state !== 'removed') next.set(c.uid, c);
    const changed: ObservedContainer[] = [];
    for (const [uid, c] of next) if (!sameContainer(state.containers.get(uid), c)) changed.push(c);
    for (const [uid, old] of state.containers) {
      if (!next.has(uid)) {
        changed.push({ ...old, state: 'removed', ports: [] });
        state.stats.delete(uid);
        state.players.delete(uid);
      }
    }
    state.containers = next;
    state.synced = true;
    this.fire('snapshot', nodeName, [...next.values()]);
    for (const c of changed) this.fire('containerChanged', nodeName, c);
  }

  private onContainer(nodeName: string, state: NodeState, c: ObservedContainer): void {
    const prev = state.containers.get(c.uid);
    if (c.state === 'removed') {
      state.containers.delete(c.uid);
      state.stats.delete(c.uid);
      state.players.delete(c.uid);
    } else {
      if (sameContainer(prev, c)) return;
      state.containers.set(c.uid, c);
    }
    this.fire('containerChanged', nodeName, c);
  }

  private onConsole(nodeName: string, state: NodeState, uid: string, lines: ConsoleLine[]): void {
    let ring = state.console.get(uid);
    if (!ring) {
      if (state.console.size >= this.maxTrackedServers) {
        const oldest = state.console.keys().next().value as string;
        state.console.delete(oldest);
      }
      ring = new ConsoleRing(this.consoleBufferLines);
      state.console.set(uid, ring);
    }
    ring.push(lines);
    this.fire('console', nodeName, uid, lines);
  }

  // ---- closing ------------------------------------------------------------------------------------

  private onClose(conn: AgentConnection, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    clearTimeout(conn.helloTimer);
    clearTimeout(conn.killTimer);
    clearInterval(conn.ticker);
    this.connections.delete(conn);
    const why = conn.closedBecause ?? `connection closed by the agent or the network (code ${code}${reason ? `: ${reason}` : ''})`;
    this.failPending(conn, why);
    conn.markClosed();
    if (this.current.get(conn.nodeName) !== conn) {
      this.log.debug('agent socket closed', { node: conn.nodeName, conn: conn.id, code, reason: why });
      return;
    }
    this.current.delete(conn.nodeName);
    const state = this.nodeStates.get(conn.nodeName);
    if (state && state.nodeUid === conn.nodeUid) {
      state.connected = false;
      state.disconnectedAt = this.now();
      this.status?.offline(conn.nodeName, conn.nodeUid, state.lastHeartbeat);
    }
    this.log.info('agent disconnected', { node: conn.nodeName, conn: conn.id, code, reason: why });
    this.fire('nodeDisconnected', conn.nodeName, { nodeUid: conn.nodeUid, code, reason: why });
  }

  /** Closes with a close frame; terminates if the agent does not complete the close handshake. */
  private closeConn(conn: AgentConnection, code: number, why: string): void {
    if (conn.state === 'closing' || conn.state === 'closed') return;
    conn.state = 'closing';
    conn.closedBecause = why;
    this.failPending(conn, why);
    try {
      conn.ws.close(code, closeReason(why));
    } catch {
      conn.ws.terminate();
    }
    conn.killTimer = setTimeout(() => conn.ws.terminate(), 5_000);
    conn.killTimer.unref();
  }

  private failPending(conn: AgentConnection, why: string): void {
    this.files.onClosed(conn.id, why);
    for (const [id, call] of conn.pending) {
      conn.pending.delete(id);
      clearTimeout(call.timer);
      call.reject(new NodeDisconnectedError(conn.nodeName, call.method, why));
    }
  }

  private onRevoked(ev: CredentialsRevoked): void {
    this.lastRevocation.set(ev.nodeName, ++this.revocationSeq);
    for (const conn of this.connections) {
      if (conn.nodeName === ev.nodeName && (ev.nodeUid === undefined || conn.nodeUid === ev.nodeUid)) {
        this.log.info('disconnecting agent: credential revoked', { node: ev.nodeName, conn: conn.id, cause: ev.cause });
        this.closeConn(conn, CLOSE_REVOKED, ev.message);
      }
    }
    if (ev.cause === 'deleted') {
      const state = this.nodeStates.get(ev.nodeName);
      if (state && (ev.nodeUid === undefined || state.nodeUid === ev.nodeUid)) this.nodeStates.delete(ev.nodeName);
    }
  }

  /** Closes every connection of a node (e.g. an operator's action). Returns how many were closed. */
  disconnect(nodeName: string, reason: string, code = CLOSE_REVOKED): number {
    let n = 0;
    for (const conn of this.connections) {
      if (conn.nodeName === nodeName) {
        this.closeConn(conn, code, reason);
        n++;
      }
    }
    return n;
  }

  /** Closes every agent connection (they reconnect to whoever serves next), writes their Offline status, stops. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.unsubscribe?.();
      const open = [...this.connections];
      for (const conn of open) this.closeConn(conn, CLOSE_GOING_AWAY, 'controller is shutting down');
      await Promise.race([
        Promise.all(open.map((c) => c.closed)),
        new Promise((r) => setTimeout(r, 2_000).unref()),
      ]);
      for (const conn of this.connections) conn.ws.terminate();
      await Promise.all([...this.connections].map((c) => c.closed));
      await new Promise<void>((r) => this.wss.close(() => r()));
      this.status?.stop();
      await this.status?.flush();
    })();
    return this.closing;
  }

  // ---- RPC ----------------------------------------------------------------------------------------

  /**
   * Calls `method` on the node's agent. Rejects with NodeNotConnectedError (never sent),
   * RpcTimeoutError, NodeDisconnectedError (sent, outcome unknown), AgentRpcError (the agent's code
   * and message), or RpcError code invalid_params (refused here before sending).
   */
  call<M extends RpcMethod>(nodeName: string, method: M, params: RpcParams[M], opts: CallOptions = {}): Promise<RpcResults[M]> {
    const conn = this.current.get(nodeName);
    if (!conn || conn.state !== 'ready') return Promise.reject(new NodeNotConnectedError(nodeName, method));
    const timeoutMs = opts.timeoutMs ?? this.defaultRpcTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      return Promise.reject(new RpcError('invalid_params', nodeName, method, `timeoutMs must be a positive integer, not ${timeoutMs}`));
    }
    const id = `${conn.id}.${++this.callSeq}`;
    const request: RequestMessage<M> = { type: 'request', id, method, params, timeoutMs };
    const problem = checkRequest(request as unknown as RequestMessage);
    if (problem) return Promise.reject(new RpcError(problem.code, nodeName, method, `node "${nodeName}" ${method} not sent: ${problem.message}`));
    return new Promise<RpcResults[M]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (conn.pending.delete(id)) reject(new RpcTimeoutError(nodeName, method, timeoutMs));
      }, timeoutMs);
      conn.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.send(conn, request as unknown as ControllerMessage, (err) => {
        if (!err || !conn.pending.delete(id)) return;
        clearTimeout(timer);
        reject(new RpcError('send_failed', nodeName, method, `node "${nodeName}" ${method} could not be sent: ${err.message}`));
      });
    });
  }

  /** The node's current connection for byte streams (controller/hub/files/); undefined when not connected. */
  streamChannel(nodeName: string): StreamChannel | undefined {
    const conn = this.current.get(nodeName);
    if (!conn || conn.state !== 'ready') return undefined;
    const open = () => conn.state === 'ready' && conn.ws.readyState === WebSocket.OPEN;
    return {
      connId: conn.id,
      control: (msg) => {
        if (!open()) return false;
        this.send(conn, msg);
        return true;
      },
      data: (frame, written) => {
        if (!open()) return false;
        conn.ws.send(frame, { binary: true }, written);
        return true;
      },
    };
  }

  // ---- observed state -----------------------------------------------------------------------------

  /** What the hub knows of a node (connected or last connected), or undefined. */
  node(nodeName: string): NodeObserved | undefined {
    return this.nodeStates.get(nodeName);
  }

  nodes(): NodeObserved[] {
    return [...this.nodeStates.values()];
  }

  isConnected(nodeName: string): boolean {
    return this.current.get(nodeName)?.state === 'ready';
  }

  containers(nodeName: string): ObservedContainer[] {
    return [...(this.nodeStates.get(nodeName)?.containers.values() ?? [])];
  }

  container(nodeName: string, uid: string): ObservedContainer | undefined {
    return this.nodeStates.get(nodeName)?.containers.get(uid);
  }

  /** The latest player count the node's agent reported for a server (a running server with a query). */
  players(nodeName: string, uid: string): PlayerSample | undefined {
    return this.nodeStates.get(nodeName)?.players.get(uid);
  }

  latestStats(nodeName: string, uid: string): StatsSample | undefined {
    return this.nodeStates.get(nodeName)?.stats.get(uid);
  }

  /** The newest `lines` console lines of a server kept by the hub (all kept by default), oldest first. */
  consoleHistory(nodeName: string, uid: string, lines?: number): ConsoleLine[] {
    return this.nodeStates.get(nodeName)?.console.get(uid)?.lines(lines) ?? [];
  }

  // PerServerState: a deleted server's console buffer and latest sample go with it, so a new server
  // of the same name (another uid anyway) never shows them and the memory is freed at once.
  knownServerUids(): string[] {
    const uids = new Set<string>();
    for (const st of this.nodeStates.values()) for (const m of [st.console, st.stats, st.players]) for (const uid of m.keys()) uids.add(uid);
    return [...uids];
  }

  forgetServers(gone: readonly GoneServer[]): void {
    for (const st of this.nodeStates.values()) {
      for (const { uid } of gone) {
        // A container the agent still reports keeps its buffer: it is really there (e.g. not yet removed).
        if (st.containers.has(uid)) continue;
        st.console.delete(uid);
        st.stats.delete(uid);
        st.players.delete(uid);
      }
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------------

  private send(conn: AgentConnection, msg: ControllerMessage, cb?: (err?: Error) => void): void {
    if (conn.ws.readyState !== WebSocket.OPEN) {
      cb?.(new Error('connection is not open'));
      return;
    }
    conn.ws.send(JSON.stringify(msg), (err) => {
      if (err) this.log.debug('send to agent failed', { node: conn.nodeName, type: msg.type, err });
      cb?.(err ?? undefined);
    });
  }

  private sendError(conn: AgentConnection, message: string, ref?: string): void {
    const msg: ControllerMessage = ref === undefined ? { type: 'error', message } : { type: 'error', message, ref };
    this.send(conn, msg);
  }

  private fire<K extends keyof AgentHubEvents>(event: K, ...args: AgentHubEvents[K]): void {
    // rawListeners: a once() listener's wrapper removes itself when called.
    for (const listener of this.rawListeners(event as never) as ((...a: unknown[]) => void)[]) {
      try {
        listener(...args);
      } catch (err) {
        this.log.error('agent hub listener failed', { event, err });
      }
    }
  }
}

