// The clients' WebSocket (`/ws`, Catalyst's client protocol): live console, state and stats of the
// servers a user may see, and console input.
//
// - Upgrade: `?token=` holds an access token (as the document says) or a `websocket`-purpose token;
//   an API key may come as `Authorization: Bearer gak_…`. Anything else is refused with 401 BEFORE the
//   socket is accepted. Connection limits (total, per user) answer 503 / 429 the same way.
// - Every message is authorised again against the current account state and the current GameServer
//   (from an informer cache): a revoked role, a removed subuser grant, a suspended server count at once.
//   Account changes are pushed too: a deleted or disabled user, or an ended session, closes the
//   user's sockets (4401); losing access to a subscribed server closes the socket (4403) with a reason
//   naming the server, so a client never keeps a stream it may no longer read.
// - Fan-out: each console line is serialised once and written to every subscriber. ws.send never
//   blocks, so one slow client cannot hold others back; what it costs is memory, so a client whose
//   unsent bytes pass `highWaterBytes` gets no more log lines or stats until they drain below
//   `lowWaterBytes`, and is then told `{type:'dropped', serverId, count}`. State updates, errors and
//   confirmations are never dropped; a client past `maxBufferedBytes` anyway is terminated.
// - A bad message gets `{type:'error', message}` and the socket stays; limits (message size,
//   messages per second) close it: 1009 (ws itself) and 1008.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { ConsoleLine } from '../../agent/protocol.ts';
import type { StatsSample } from '../../agent/protocol.ts';
import type { GameServer } from '../../crds/types.ts';
import type { HandlerRegistration, Informer } from '../../controller/runtime/informer.ts';
import type { GoneServer, PerServerState } from '../../controller/lifecycle/server-reaper.ts';
import type { ServerKey } from '../auth/accounts.ts';
import { closeReason } from '../../controller/hub/close-codes.ts';
import { bearerToken, rejectUpgrade, requestPath } from '../../controller/hub/upgrade.ts';
import type { Logger } from '../../lib/log.ts';
import { API_KEY_PREFIX } from '../auth/accounts.ts';
import { ApiError } from '../http/errors.ts';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';
import { authorizeOnServer } from '../rbac/authorize.ts';
import { dataNode } from '../../crds/placement.ts';

export const CLIENT_WS_PATH = '/ws';

/** Close codes of the client socket (4xxx: application-defined, after HTTP's meaning). */
export const WS_CLOSE = {
  /** The user was deleted or disabled, or the session/API key behind the socket ended. */
  unauthorized: 4401,
  /** Access to a subscribed server was revoked. */
  forbidden: 4403,
  policy: 1008,
  tooBig: 1009,
  goingAway: 1001,
} as const;

/** Catalyst's three events, and Gantry's server_players_update (status.players changed). */
export type ClientEvent = 'server_log' | 'server_state_update' | 'resource_stats' | 'server_players_update';
export const CLIENT_EVENTS: readonly ClientEvent[] = ['server_log', 'server_state_update', 'resource_stats', 'server_players_update'];
/** What each event needs on the server. */
const EVENT_PERMISSION: Record<ClientEvent, string> = {
  server_log: 'server.logs.read',
  server_state_update: 'server.read',
  resource_stats: 'server.read',
  server_players_update: 'server.read',
};

export interface ClientSocketLimits {
  /** Open sockets in all (default 5000); more are refused with 503. */
  maxConnections: number;
  /** Open sockets per user (default 20); more are refused with 429. */
  maxConnectionsPerUser: number;
  /** Largest inbound message in bytes (default 16 KiB); larger closes the socket with 1009. */
  maxMessageBytes: number;
  /** Inbound messages per second per socket, sustained (default 20) ... */
  messagesPerSecond: number;
  /** ... and as a burst (default 40). Past the burst each message is refused; past twice the burst the socket is closed (1008). */
  messageBurst: number;
  /** Servers one socket may subscribe to (default 100). */
  maxSubscriptionsPerSocket: number;
  /** Sockets subscribed to one server (default 500). */
  maxSubscribersPerServer: number;
  /** console_input messages per second per server across all sockets (default 10, burst 20). */
  consoleInputsPerSecond: number;
  /** Longest console_input data (default 4096 bytes, the agent's line limit). */
  maxConsoleInputBytes: number;
  /** Unsent bytes past which log lines and stats are dropped for that client (default 1 MiB). */
  highWaterBytes: number;
  /** Unsent bytes below which delivery resumes with a `dropped` notice (default 256 KiB). */
  lowWaterBytes: number;
  /** Unsent bytes past which the client is terminated (default 16 MiB): only undroppable messages get here. */
  maxBufferedBytes: number;
  /** Ping interval; a client that has not answered the previous ping is terminated (default 30 s). */
  pingIntervalMs: number;
}

export const DEFAULT_WS_LIMITS: ClientSocketLimits = {
  maxConnections: 5000,
  maxConnectionsPerUser: 20,
  maxMessageBytes: 16 * 1024,
  messagesPerSecond: 20,
  messageBurst: 40,
  maxSubscriptionsPerSocket: 100,
  maxSubscribersPerServer: 500,
  consoleInputsPerSecond: 10,
  maxConsoleInputBytes: 4096,
  highWaterBytes: 1024 * 1024,
  lowWaterBytes: 256 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  pingIntervalMs: 30_000,
};

export interface ClientSocketsOptions {
  limits?: Partial<ClientSocketLimits>;
  log?: Logger;
}

/** A token bucket: `rate` per second, at most `burst` saved up. */
class Bucket {
  private tokens: number;
  private at: number;
  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface Subscription {
  serverId: string;
  uid: string;
  events: Set<ClientEvent>;
  /** Lines/stats not delivered to this client since the last `dropped` notice. */
  dropped: number;
}

class Client {
  principal: Principal;
  readonly subs = new Map<string, Subscription>();
  readonly bucket: Bucket;
  /** Messages refused by the rate limit since the last accepted one. */
  excess = 0;
  /** Dropping log lines and stats until the send buffer drains. */
  dropping = false;
  alive = true;
  closing = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    principal: Principal,
    /** A websocket-purpose token may be limited to one server. */
    readonly scopeServer: string | undefined,
    readonly ip: string | undefined,
    limits: ClientSocketLimits,
    now: number,
  ) {
    this.principal = principal;
    this.bucket = new Bucket(limits.messagesPerSecond, limits.messageBurst, now);
  }
}

type Inbound =
  | { type: 'subscribe'; serverId: string; events?: ClientEvent[]; history?: number }
  | { type: 'unsubscribe'; serverId: string }
  | { type: 'console_input'; serverId: string; data: string }
  | { type: 'ping' };

/** Console lines a subscribe may ask to replay (the hub keeps 1000 per server by default). */
const MAX_HISTORY = 1000;
const ID = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The parsed message, or why it is not one. */
export function parseClientMessage(raw: string): { ok: true; msg: Inbound } | { ok: false; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'message is not valid JSON' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'message must be a JSON object with a "type"' };
  const m = v as Record<string, unknown>;
  if (m.type === 'ping') return { ok: true, msg: { type: 'ping' } };
  if (m.type !== 'subscribe' && m.type !== 'unsubscribe' && m.type !== 'console_input') {
    return { ok: false, error: `unknown message type ${JSON.stringify(m.type)} (expected subscribe, unsubscribe, console_input or ping)` };
  }
  if (typeof m.serverId !== 'string' || !ID.test(m.serverId)) return { ok: false, error: `${m.type}: "serverId" must be a server id (lowercase letters, digits, "-" and ".")` };
  if (m.type === 'subscribe') {
    const history = m.history ?? 0;
    if (typeof history !== 'number' || !Number.isInteger(history) || history < 0 || history > MAX_HISTORY) return { ok: false, error: `subscribe: "history" must be an integer from 0 to ${MAX_HISTORY} (console lines to replay)` };
    if (m.events === undefined) return { ok: true, msg: { type: 'subscribe', serverId: m.serverId, history } };
    if (!Array.isArray(m.events) || m.events.length === 0) return { ok: false, error: `subscribe: "events" must be a non-empty array of ${CLIENT_EVENTS.join(', ')}` };
    const bad = m.events.find((e) => !CLIENT_EVENTS.includes(e as ClientEvent));
    if (bad !== undefined) return { ok: false, error: `subscribe: unknown event ${JSON.stringify(bad)} (available: ${CLIENT_EVENTS.join(', ')})` };
    return { ok: true, msg: { type: 'subscribe', serverId: m.serverId, events: [...new Set(m.events as ClientEvent[])], history } };
  }
  if (m.type === 'unsubscribe') return { ok: true, msg: { type: 'unsubscribe', serverId: m.serverId } };
  if (typeof m.data !== 'string') return { ok: false, error: 'console_input: "data" must be a string' };
  return { ok: true, msg: { type: 'console_input', serverId: m.serverId, data: m.data } };
}

const MIB = 1024 * 1024;

/** Catalyst's server_log message, encoded once for every subscriber. */
function logFrame(serverId: string, l: ConsoleLine): Buffer {
  return Buffer.from(JSON.stringify({ type: 'server_log', serverId, stream: l.stream, data: l.line + '\n', timestamp: new Date(l.ts).toISOString() }));
}

export class ClientSockets implements PerServerState {
  readonly stateName = 'client websocket subscriptions';
  readonly limits: ClientSocketLimits;
  private readonly svc: ApiServices;
  private readonly log: Logger;
  private readonly wss: WebSocketServer;
  private readonly informer: Informer<GameServer>;
  private readonly ready: Promise<boolean>;
  private readonly clients = new Set<Client>();
  private readonly byUser = new Map<string, Set<Client>>();
  /** Subscribers per server id. */
  private readonly subscribers = new Map<string, Set<Client>>();
  /** Server id per uid (console and stats arrive by uid). */
  private readonly idOfUid = new Map<string, string>();
  private readonly consoleBuckets = new Map<string, Bucket>();
  private readonly draining = new Set<Client>();
  private readonly drainTimer: NodeJS.Timeout;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly cleanups: (() => void)[] = [];
  private seq = 0;
  private closed?: Promise<void>;

  constructor(svc: ApiServices, opts: ClientSocketsOptions = {}) {
    this.svc = svc;
    this.limits = { ...DEFAULT_WS_LIMITS, ...opts.limits };
    this.log = opts.log ?? svc.log.child({ component: 'client-ws' });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.wss.on('error', (err) => this.log.error('client websocket server error', { err }));
    // The process's shared GameServer cache (all namespaces; ours is svc.servers.namespace).
    this.informer = svc.informers.informer<GameServer>('GameServer');
    const mine = (s: GameServer) => (s.metadata.namespace ?? 'default') === svc.servers.namespace;
    const reg: HandlerRegistration = this.informer.addEventHandler({
      onAdd: (s) => mine(s) && this.idOfUid.set(s.metadata.uid!, s.metadata.name),
      onUpdate: (before, after) => mine(after) && this.onServerUpdate(before, after),
    });
    this.cleanups.push(() => reg.remove(), svc.reaper.register(this));
    this.ready = this.informer.waitForSync();

    const hub = svc.hub;
    if (hub) {
      const onConsole = (_node: string, uid: string, lines: ConsoleLine[]) => this.onConsole(uid, lines);
      const onStats = (_node: string, samples: StatsSample[]) => this.onStats(samples);
      hub.on('console', onConsole);
      hub.on('stats', onStats);
      this.cleanups.push(() => hub.off('console', onConsole), () => hub.off('stats', onStats));
    }
    const onUser = (userId: string, change: 'deleted' | 'disabled' | 'permissions' | 'sessions') => this.onUserChanged(userId, change);
    const onAccess = (server: ServerKey, userId: string) => this.onAccessChanged(server, userId);
    svc.accounts.on('userChanged', onUser);
    svc.accounts.on('serverAccessChanged', onAccess);
    this.cleanups.push(() => svc.accounts.off('userChanged', onUser), () => svc.accounts.off('serverAccessChanged', onAccess));

    this.drainTimer = setInterval(() => this.checkDrained(), 50);
    this.drainTimer.unref();
    this.pingTimer = setInterval(() => this.pingAll(), this.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** A server as this hub's cache sees it (the cache every message is authorised against). */
  cachedServer(serverId: string): GameServer | undefined {
    return this.informer.getByName(this.svc.servers.namespace, serverId);
  }

  /** Open sockets (for tests and metrics). */
  get size(): number {
    return this.clients.size;
  }

  // ---- accepting --------------------------------------------------------------------------------

  /** For `server.on('upgrade')` on CLIENT_WS_PATH. Never rejects. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const onError = (err: Error) => this.log.debug('client socket error before upgrade', { err });
    socket.on('error', onError);
    const ip = req.socket?.remoteAddress;
    try {
      if (this.closed) return rejectUpgrade(socket, 503, 'server is shutting down');
      if (requestPath(req) !== CLIENT_WS_PATH) return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${requestPath(req)}`);
      let auth: { principal: Principal; scopeServer?: string };
      try {
        auth = await this.authenticate(req);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        this.log.info('client socket refused', { ip, reason: err.message });
        return rejectUpgrade(socket, err.statusCode, err.message, { 'WWW-Authenticate': 'Bearer realm="gantry"' });
      }
      await this.ready;
      if (this.closed) return rejectUpgrade(socket, 503, 'server is shutting down');
      const { principal } = auth;
      if (this.clients.size >= this.limits.maxConnections) {
        this.log.warn('client socket refused: connection limit', { limit: this.limits.maxConnections });
        return rejectUpgrade(socket, 503, `too many WebSocket connections (limit ${this.limits.maxConnections}); try again later`, { 'Retry-After': '5' });
      }
      if ((this.byUser.get(principal.userId)?.size ?? 0) >= this.limits.maxConnectionsPerUser) {
        return rejectUpgrade(socket, 429, `too many WebSocket connections for user ${principal.username} (limit ${this.limits.maxConnectionsPerUser}); close one first`, { 'Retry-After': '5' });
      }
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          socket.off('error', onError);
          this.accept(ws, principal, auth.scopeServer, ip);
          resolve();
        });
      });
    } catch (err) {
      this.log.error('client upgrade failed', { ip, err });
      rejectUpgrade(socket, 500, 'internal error while opening the WebSocket');
    }
  }

  private async authenticate(req: IncomingMessage): Promise<{ principal: Principal; scopeServer?: string }> {
    let token: string | null = null;
    try {
      token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    } catch {
      // a malformed URL is just "no token"
    }
    const auth = this.svc.auth;
    if (!token) {
      const bearer = bearerToken(req);
      if (bearer) return { principal: await auth.fromBearer(bearer) };
      throw new ApiError(401, 'Authentication required: connect to /ws?token=<access or websocket token>', 'no_token');
    }
    if (token.startsWith(API_KEY_PREFIX)) {
      // A key in a URL ends up in proxy logs; keys go in the header.
      throw new ApiError(401, 'API keys are not accepted in the query string: send "Authorization: Bearer <key>"', 'token_invalid');
    }
    try {
      return { principal: await auth.fromToken(token, 'access') };
    } catch (err) {
      if (!(err instanceof ApiError) || err.reason !== 'token_wrong_purpose') throw err;
    }
    const principal = await auth.fromToken(token, 'websocket');
    const claims = await auth.tokens.verify(token, 'websocket');
    return { principal, scopeServer: claims.scope?.server };
  }

  private accept(ws: WebSocket, principal: Principal, scopeServer: string | undefined, ip: string | undefined): void {
    const c = new Client(++this.seq, ws, principal, scopeServer, ip, this.limits, this.svc.now());
    this.clients.add(c);
    let mine = this.byUser.get(principal.userId);
    if (!mine) this.byUser.set(principal.userId, (mine = new Set()));
    mine.add(c);
    ws.on('message', (data, isBinary) => this.onMessage(c, data, isBinary));
    ws.on('pong', () => (c.alive = true));
    ws.on('close', (code, reason) => this.onClose(c, code, reason.toString('utf8')));
    ws.on('error', (err) => this.log.debug('client socket error', { client: c.id, user: principal.username, err }));
    this.log.debug('client socket accepted', { client: c.id, user: principal.username, via: principal.via, ip });
    // The account may have changed while the token was being checked.
    const gone = this.refreshPrincipal(c);
    if (gone) this.closeClient(c, WS_CLOSE.unauthorized, gone);
  }

  // ---- inbound ----------------------------------------------------------------------------------

  private onMessage(c: Client, data: RawData, isBinary: boolean): void {
    if (c.closing) return;
    if (!c.bucket.take(this.svc.now())) {
      c.excess++;
      if (c.excess > this.limits.messageBurst) {
        this.log.warn('client socket closed: message rate limit', { client: c.id, user: c.principal.username });
        return this.closeClient(c, WS_CLOSE.policy, `message rate limit exceeded (${this.limits.messagesPerSecond}/s)`);
      }
      return this.error(c, `rate limit: at most ${this.limits.messagesPerSecond} messages per second (burst ${this.limits.messageBurst}); message ignored`);
    }
    c.excess = 0;
    if (isBinary) return this.error(c, 'binary frames are not accepted: send JSON text messages');
    const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const parsed = parseClientMessage(raw);
    if (!parsed.ok) return this.error(c, parsed.error);
    // Every message is authorised against the accounts as they are now.
    const gone = this.refreshPrincipal(c);
    if (gone) return this.closeClient(c, WS_CLOSE.unauthorized, gone);
    const msg = parsed.msg;
    switch (msg.type) {
      case 'ping':
        return this.send(c, { type: 'pong' });
      case 'subscribe':
        return this.subscribe(c, msg.serverId, msg.events ?? [...CLIENT_EVENTS], msg.history ?? 0);
      case 'unsubscribe':
        this.unsubscribe(c, msg.serverId);
        return this.send(c, { type: 'unsubscribed', serverId: msg.serverId });
      case 'console_input':
        return void this.consoleInput(c, msg.serverId, msg.data);
    }
  }

  /** Undefined when the principal is still valid (grants refreshed), else why not. */
  private refreshPrincipal(c: Client): string | undefined {
    const { accounts } = this.svc;
    const p = c.principal;
    const user = accounts.getUser(p.userId);
    if (!user) return 'user deleted';
    if (user.disabled) return 'account disabled';
    if (p.sessionId !== undefined && !accounts.isSessionActive(p.sessionId)) return 'session ended (logged out or revoked): log in again';
    if (p.apiKeyId !== undefined && !accounts.listApiKeys(p.userId).some((k) => k.id === p.apiKeyId && (!k.expiresAt || k.expiresAt > new Date(this.svc.now()).toISOString()))) {
      return 'API key revoked or expired';
    }
    c.principal = { ...p, grants: accounts.grantsOf(p.userId) };
    return undefined;
  }

  /** The server, if the client may use `permissions` on it; else an error text (not found for servers it cannot see). */
  private authorise(c: Client, serverId: string, permissions: string[]): { server: GameServer } | { error: string } {
    const server = this.informer.getByName(this.svc.servers.namespace, serverId);
    if (!server || (c.scopeServer !== undefined && c.scopeServer !== serverId)) return { error: `server "${serverId}" not found` };
    for (const perm of permissions) {
      const v = authorizeOnServer(this.svc.access, c.principal, server, perm);
      if (v.outcome !== 'allowed') return { error: v.message };
    }
    return { server };
  }

  private subscribe(c: Client, serverId: string, events: ClientEvent[], history: number): void {
    const r = this.authorise(c, serverId, [...new Set(['server.read', ...events.map((e) => EVENT_PERMISSION[e])])]);
    if ('error' in r) return this.error(c, `subscribe: ${r.error}`, serverId);
    const existing = c.subs.get(serverId);
    if (!existing) {
      if (c.subs.size >= this.limits.maxSubscriptionsPerSocket) return this.error(c, `subscribe: at most ${this.limits.maxSubscriptionsPerSocket} servers per connection`, serverId);
      const subs = this.subscribers.get(serverId);
      if ((subs?.size ?? 0) >= this.limits.maxSubscribersPerServer) return this.error(c, `subscribe: server "${serverId}" has the most subscribers allowed (${this.limits.maxSubscribersPerServer}); try again later`, serverId);
    }
    const uid = r.server.metadata.uid!;
    this.idOfUid.set(uid, serverId);
    c.subs.set(serverId, { serverId, uid, events: new Set(events), dropped: existing?.dropped ?? 0 });
    let set = this.subscribers.get(serverId);
    if (!set) this.subscribers.set(serverId, (set = new Set()));
    set.add(c);
    this.send(c, { type: 'subscribed', serverId, events, state: r.server.status?.phase ?? null });
    // The replay and the registration above happen in the same tick as each other, so the first
    // live line follows the last replayed one with no gap and no repeat.
    const node = dataNode(r.server);
    if (history > 0 && events.includes('server_log') && node && this.svc.hub) {
      const sub = c.subs.get(serverId)!;
      for (const l of this.svc.hub.consoleHistory(node, uid, history)) this.sendDroppable(c, sub, logFrame(serverId, l));
    }
  }

  private unsubscribe(c: Client, serverId: string): void {
    c.subs.delete(serverId);
    const set = this.subscribers.get(serverId);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) this.subscribers.delete(serverId);
  }

  private async consoleInput(c: Client, serverId: string, data: string): Promise<void> {
    const r = this.authorise(c, serverId, ['server.console']);
    if ('error' in r) return this.error(c, `console_input: ${r.error}`, serverId);
    const server = r.server;
    if (server.spec?.suspended) return this.error(c, `console_input: server "${serverId}" is suspended`, serverId, 'server_suspended');
    if (Buffer.byteLength(data) > this.limits.maxConsoleInputBytes) return this.error(c, `console_input: "data" is longer than ${this.limits.maxConsoleInputBytes} bytes`, serverId);
    // "say hi\n" is one command; the trailing newline is the Enter key, not an empty second command.
    const lines = data.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => l.replace(/\r$/, ''));
    const uid = server.metadata.uid!;
    let bucket = this.consoleBuckets.get(uid);
    if (!bucket) this.consoleBuckets.set(uid, (bucket = new Bucket(this.limits.consoleInputsPerSecond, this.limits.consoleInputsPerSecond * 2, this.svc.now())));
    if (!bucket.take(this.svc.now())) return this.error(c, `console_input: rate limit: at most ${this.limits.consoleInputsPerSecond} inputs per second per server; input ignored`, serverId, 'rate_limited');
    const node = dataNode(server);
    const hub = this.svc.hub;
    if (!hub || !node) return this.error(c, `console_input: server "${serverId}" is not on a node (phase ${server.status?.phase ?? 'unknown'})`, serverId, 'server_not_running');
    const audit = (status: number, error?: string) =>
      void this.svc.audit.record({
        userId: c.principal.userId,
        username: c.principal.username,
        action: 'server.console',
        resourceType: 'server',
        resourceId: serverId,
        resourceUid: uid,
        ipAddress: c.ip ?? null,
        facade: 'catalyst',
        status,
        metadata: error ? { via: 'websocket', lines: lines.length, error } : { via: 'websocket', lines: lines.length },
      });
    try {
      for (const line of lines) await hub.call(node, 'sendCommand', { uid: server.metadata.uid!, line }, { timeoutMs: 10_000 });
      audit(200);
    } catch (err) {
      const message = (err as Error).message;
      audit(409, message);
      this.error(c, `console_input: cannot send to server "${serverId}": ${message}`, serverId, 'console_failed');
    }
  }

  // ---- outbound ---------------------------------------------------------------------------------

  private send(c: Client, msg: Record<string, unknown>): void {
    this.sendRaw(c, JSON.stringify(msg));
  }

  /** A frame shared by many clients goes as a Buffer: encoded once, not once per client. */
  private sendRaw(c: Client, text: string | Buffer): void {
    if (c.closing || c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.log.warn('client terminated: not reading', { client: c.id, user: c.principal.username, bufferedMiB: Math.round(c.ws.bufferedAmount / MIB) });
      c.closing = true;
      c.ws.terminate();
      return;
    }
    if (typeof text === 'string') c.ws.send(text);
    else c.ws.send(text, { binary: false });
  }

  private error(c: Client, message: string, serverId?: string, reason?: string): void {
    const msg: Record<string, unknown> = { type: 'error', message };
    if (serverId !== undefined) msg.serverId = serverId;
    if (reason !== undefined) msg.reason = reason;
    this.send(c, msg);
  }

  /** Log lines and stats: dropped (and counted) for a client that is not keeping up. */
  private sendDroppable(c: Client, sub: Subscription, text: Buffer): void {
    if (!c.dropping && c.ws.bufferedAmount > this.limits.highWaterBytes) {
      c.dropping = true;
      this.draining.add(c);
    }
    if (c.dropping) {
      sub.dropped++;
      return;
    }
    this.sendRaw(c, text);
  }

  private checkDrained(): void {
    for (const c of this.draining) {
      if (c.closing || c.ws.readyState !== WebSocket.OPEN) {
        this.draining.delete(c);
        continue;
      }
      if (c.ws.bufferedAmount > this.limits.lowWaterBytes) continue;
      c.dropping = false;
      this.draining.delete(c);
      for (const sub of c.subs.values()) {
        if (!sub.dropped) continue;
        this.send(c, { type: 'dropped', serverId: sub.serverId, count: sub.dropped });
        sub.dropped = 0;
      }
    }
  }

  private onConsole(uid: string, lines: ConsoleLine[]): void {
    const serverId = this.idOfUid.get(uid);
    const set = serverId === undefined ? undefined : this.subscribers.get(serverId);
    if (!set || set.size === 0) return;
    // Serialised once per line, whatever the number of subscribers.
    const frames = lines.map((l) => logFrame(serverId!, l));
    for (const c of set) {
      const sub = c.subs.get(serverId!);
      if (!sub || sub.uid !== uid || !sub.events.has('server_log')) continue;
      // One write (writev) per client per batch instead of one syscall per line: ws corks each
      // frame itself, and cork() nests, so the frames leave together at our uncork().
      const raw = frames.length > 1 ? (c.ws as unknown as { _socket?: import('node:net').Socket })._socket : undefined;
      raw?.cork();
      for (const f of frames) this.sendDroppable(c, sub, f);
      raw?.uncork();
    }
  }

  private onStats(samples: StatsSample[]): void {
    for (const s of samples) {
      const serverId = this.idOfUid.get(s.uid);
      const set = serverId === undefined ? undefined : this.subscribers.get(serverId);
      if (!set || set.size === 0) continue;
      const frame = Buffer.from(JSON.stringify({
        type: 'resource_stats',
        serverId,
        cpu: Math.round(s.cpuPercent * 100) / 100,
        memoryMb: Math.round((s.memoryBytes / MIB) * 10) / 10,
        memoryLimitMb: Math.round((s.memoryLimitBytes / MIB) * 10) / 10,
        networkSent: s.networkTxBytes,
        networkReceived: s.networkRxBytes,
        diskMb: s.disk ? Math.round((s.disk.bytes / MIB) * 10) / 10 : undefined,
        timestamp: new Date(s.time).toISOString(),
      }));
      for (const c of set) {
        const sub = c.subs.get(serverId!);
        if (sub && sub.uid === s.uid && sub.events.has('resource_stats')) this.sendDroppable(c, sub, frame);
      }
    }
  }

  private onServerUpdate(before: GameServer, after: GameServer): void {
    const serverId = after.metadata.name;
    this.idOfUid.set(after.metadata.uid!, serverId);
    const set = this.subscribers.get(serverId);
    if (!set || set.size === 0) return;
    // Ownership can change in an update: whoever lost the server loses the stream now.
    for (const c of [...set]) this.recheck(c, serverId);
    this.pushPlayers(serverId, before, after);
    const previousState = before.status?.phase ?? null;
    const state = after.status?.phase ?? null;
    if (previousState === state) return;
    const frame = Buffer.from(JSON.stringify({ type: 'server_state_update', serverId, state, previousState, timestamp: new Date(this.svc.now()).toISOString() }));
    for (const c of this.subscribers.get(serverId) ?? []) {
      if (c.subs.get(serverId)?.events.has('server_state_update')) this.sendRaw(c, frame);
    }
  }

  /** status.players changed (the controller writes it only on a change): `{online, max, names?, updatedAt, error?}`, null when no longer known. */
  private pushPlayers(serverId: string, before: GameServer, after: GameServer): void {
    const a = before.status?.players;
    const b = after.status?.players;
    if (JSON.stringify(a ?? null) === JSON.stringify(b ?? null)) return;
    const frame = Buffer.from(JSON.stringify({ type: 'server_players_update', serverId, players: b ?? null, timestamp: new Date(this.svc.now()).toISOString() }));
    for (const c of this.subscribers.get(serverId) ?? []) {
      if (c.subs.get(serverId)?.events.has('server_players_update')) this.sendRaw(c, frame);
    }
  }

  // ---- account changes --------------------------------------------------------------------------

  /** Closes the client (4403) when it lost a permission its subscription to `serverId` needs. */
  private recheck(c: Client, serverId: string): boolean {
    const sub = c.subs.get(serverId);
    if (!sub || c.closing) return true;
    const server = this.informer.getByName(this.svc.servers.namespace, serverId);
    // Gone, or another server of the same name by now: the reaper ends the subscription.
    if (!server || server.metadata.uid !== sub.uid) return true;
    const perms = new Set(['server.read', ...[...sub.events].map((e) => EVENT_PERMISSION[e])]);
    for (const perm of perms) {
      if (!this.svc.access.can(c.principal, server, perm)) {
        this.log.info('client socket closed: access revoked', { client: c.id, user: c.principal.username, server: serverId, permission: perm });
        this.closeClient(c, WS_CLOSE.forbidden, `access to server ${serverId} revoked (requires ${perm})`);
        return false;
      }
    }
    return true;
  }

  private onUserChanged(userId: string, change: 'deleted' | 'disabled' | 'permissions' | 'sessions'): void {
    const mine = this.byUser.get(userId);
    if (!mine) return;
    for (const c of [...mine]) {
      const gone = this.refreshPrincipal(c);
      if (gone) {
        this.log.info('client socket closed: account changed', { client: c.id, user: c.principal.username, change, reason: gone });
        this.closeClient(c, WS_CLOSE.unauthorized, gone);
        continue;
      }
      for (const serverId of [...c.subs.keys()]) if (!this.recheck(c, serverId)) break;
    }
  }

  private onAccessChanged(server: ServerKey, userId: string): void {
    if (server.namespace !== this.svc.servers.namespace) return;
    for (const c of [...(this.byUser.get(userId) ?? [])]) {
      if (c.subs.get(server.name)?.uid !== server.uid) continue;
      const gone = this.refreshPrincipal(c);
      if (gone) this.closeClient(c, WS_CLOSE.unauthorized, gone);
      else this.recheck(c, server.name);
    }
  }

  // PerServerState: subscriptions die with their server (by uid: a new server of the same name is
  // another server, whoever subscribed to the old one).
  knownServerUids(): string[] {
    const uids = new Set<string>();
    for (const c of this.clients) for (const sub of c.subs.values()) uids.add(sub.uid);
    return [...uids];
  }

  forgetServers(gone: readonly GoneServer[]): void {
    const uids = new Set(gone.map((g) => g.uid));
    for (const uid of uids) this.idOfUid.delete(uid);
    for (const c of [...this.clients]) {
      for (const sub of [...c.subs.values()]) {
        if (!uids.has(sub.uid)) continue;
        this.unsubscribe(c, sub.serverId);
        this.consoleBuckets.delete(sub.uid);
        this.send(c, { type: 'unsubscribed', serverId: sub.serverId, reason: 'server deleted' });
      }
    }
  }

  // ---- closing ----------------------------------------------------------------------------------

  private pingAll(): void {
    for (const c of this.clients) {
      if (c.closing) continue;
      if (!c.alive) {
        c.closing = true;
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        // closed under us; the close event cleans up
      }
    }
  }

  private closeClient(c: Client, code: number, why: string): void {
    if (c.closing) return;
    c.closing = true;
    // It may no longer read anything: out of every index at once, not when the close handshake ends.
    this.forget(c);
    try {
      c.ws.close(code, closeReason(why));
    } catch {
      c.ws.terminate();
    }
    setTimeout(() => c.ws.terminate(), 5_000).unref();
  }

  private forget(c: Client): void {
    for (const serverId of [...c.subs.keys()]) this.unsubscribe(c, serverId);
    this.clients.delete(c);
    this.draining.delete(c);
    const mine = this.byUser.get(c.principal.userId);
    mine?.delete(c);
    if (mine && mine.size === 0) this.byUser.delete(c.principal.userId);
  }

  private onClose(c: Client, code: number, reason: string): void {
    c.closing = true;
    this.forget(c);
    this.log.debug('client socket closed', { client: c.id, user: c.principal.username, code, reason });
  }

  /** Closes every client socket (1001) and stops following the store, the hub and the accounts. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.drainTimer);
      clearInterval(this.pingTimer);
      for (const f of this.cleanups.splice(0)) f();
      const open = [...this.clients];
      const done = open.map((c) => new Promise<void>((r) => (c.ws.readyState === WebSocket.CLOSED ? r() : c.ws.once('close', () => r()))));
      for (const c of open) this.closeClient(c, WS_CLOSE.goingAway, 'server is shutting down');
      await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 2_000).unref())]);
      for (const c of open) c.ws.terminate();
      await new Promise<void>((r) => this.wss.close(() => r()));
    })();
    return this.closed;
  }
}
