// Catalyst's client protocol on /ws: live console, state and stats of the servers a user may see, and
// console input. A protocol module on the shared endpoint (endpoint.ts: auth, live principal, limits)
// and fan-out (fanout.ts: backpressure, drop accounting).
//
// In: subscribe {serverId, events?, history?}, unsubscribe {serverId}, console_input {serverId, data},
// ping. Out: subscribed {events, state}, server_log, server_state_update {state, previousState},
// resource_stats, server_players_update {players}, error {message, serverId?, reason?}, unsubscribed (also when the server is deleted),
// dropped {serverId, count}, pong.
//
// Every message is authorised again (api/rbac/authorize.ts) against the current GameServer of the
// shared informer; a subscription is bound to the server's uid, so a server deleted and created again
// under the same name is not the subscribed one. Losing a permission a subscription needs (role,
// subuser grant, owner change) closes the socket (4403) naming the server.
import type { WebSocket } from 'ws';
import type { ConsoleLine, StatsSample } from '../../agent/protocol.ts';
import type { GameServer } from '../../crds/types.ts';
import { dataNode } from '../../crds/placement.ts';
import type { GoneServer } from '../../controller/lifecycle/server-reaper.ts';
import type { Logger } from '../../lib/log.ts';
import type { ServerKey } from '../auth/accounts.ts';
import type { ApiServices } from '../http/services.ts';
import { authorizeOnServer } from '../rbac/authorize.ts';
import { Bucket, Peer, WS_CLOSE, type EndpointLimits, type SocketEndpoint, type SocketProtocol, type UpgradeAuth } from './endpoint.ts';
import type { Fanout } from './fanout.ts';

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

export interface CatalystProtocolLimits {
  /** Servers one socket may subscribe to (default 100). */
  maxSubscriptionsPerSocket: number;
  /** Sockets subscribed to one server (default 500). */
  maxSubscribersPerServer: number;
  /** console_input messages per second per server across all sockets (default 10, burst 20). */
  consoleInputsPerSecond: number;
  /** Longest console_input data (default 4096 bytes, the agent's line limit). */
  maxConsoleInputBytes: number;
}

interface Subscription {
  serverId: string;
  uid: string;
  events: Set<ClientEvent>;
  /** Lines/stats not delivered to this client since the last `dropped` notice. */
  dropped: number;
}

export class CatalystPeer extends Peer {
  /** By Catalyst server id (metadata.name). */
  readonly subs = new Map<string, Subscription>();
  /** The same, by server uid (hub events come by uid). */
  readonly subsByUid = new Map<string, Subscription>();
}

type Inbound =
  | { type: 'subscribe'; serverId: string; events?: ClientEvent[]; history?: number }
  | { type: 'unsubscribe'; serverId: string }
  | { type: 'console_input'; serverId: string; data: string }
  | { type: 'ping' };

/** Console lines a subscribe may ask to replay (the hub keeps 1000 per server by default). */
const MAX_HISTORY = 1000;
const ID = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MIB = 1024 * 1024;

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

/** Catalyst's server_log message, encoded once for every subscriber. */
function logFrame(serverId: string, l: ConsoleLine): Buffer {
  return Buffer.from(JSON.stringify({ type: 'server_log', serverId, stream: l.stream, data: l.line + '\n', timestamp: new Date(l.ts).toISOString() }));
}

function statsFrame(serverId: string, s: StatsSample): Buffer {
  return Buffer.from(JSON.stringify({
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
}

export interface CatalystProtocolDeps {
  svc: ApiServices;
  log: Logger;
  limits: CatalystProtocolLimits & EndpointLimits;
  fanout: Fanout<CatalystPeer>;
  /** The endpoint the protocol runs on (set once both exist). */
  endpoint: () => SocketEndpoint<CatalystPeer>;
  /** The shared GameServer cache every message is authorised against. */
  server: (serverId: string) => GameServer | undefined;
}

export class CatalystProtocol implements SocketProtocol<CatalystPeer> {
  /** Subscribers per server uid (console, stats and state updates arrive by uid). */
  private readonly subscribers = new Map<string, Set<CatalystPeer>>();
  private readonly consoleBuckets = new Map<string, Bucket>();

  constructor(private readonly d: CatalystProtocolDeps) {}

  newPeer(id: number, ws: WebSocket, auth: UpgradeAuth, ip: string | undefined): CatalystPeer {
    return new CatalystPeer(id, ws, auth.principal, auth.scopeServer, ip, this.d.limits, this.d.svc.now());
  }

  sendError(peer: CatalystPeer, message: string, serverId?: string, reason?: string): void {
    const msg: Record<string, unknown> = { type: 'error', message };
    if (serverId !== undefined) msg.serverId = serverId;
    if (reason !== undefined) msg.reason = reason;
    this.send(peer, msg);
  }

  onMessage(peer: CatalystPeer, text: string): void {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.sendError(peer, parsed.error);
    const msg = parsed.msg;
    switch (msg.type) {
      case 'ping':
        return this.send(peer, { type: 'pong' });
      case 'subscribe':
        return this.subscribe(peer, msg.serverId, msg.events ?? [...CLIENT_EVENTS], msg.history ?? 0);
      case 'unsubscribe':
        this.unsubscribe(peer, msg.serverId);
        return this.send(peer, { type: 'unsubscribed', serverId: msg.serverId });
      case 'console_input':
        return void this.consoleInput(peer, msg.serverId, msg.data);
    }
  }

  onAccountChanged(peer: CatalystPeer): void {
    for (const serverId of [...peer.subs.keys()]) if (!this.recheck(peer, serverId)) break;
  }

  onGone(peer: CatalystPeer): void {
    for (const serverId of [...peer.subs.keys()]) this.unsubscribe(peer, serverId);
    this.d.fanout.forget(peer);
  }

  // ---- events from the hub, the informer and the accounts ----------------------------------------

  onConsole(uid: string, lines: ConsoleLine[]): void {
    const set = this.subscribers.get(uid);
    if (!set || set.size === 0) return;
    let frames: Buffer[] | undefined;
    for (const peer of set) {
      const sub = this.subOf(peer, uid);
      if (!sub || !sub.events.has('server_log')) continue;
      // Serialised once per line, whatever the number of subscribers.
      frames ??= lines.map((l) => logFrame(sub.serverId, l));
      this.d.fanout.sendBatch(peer, sub, frames);
    }
  }

  onStats(samples: StatsSample[]): void {
    for (const s of samples) {
      const set = this.subscribers.get(s.uid);
      if (!set || set.size === 0) continue;
      let frame: Buffer | undefined;
      for (const peer of set) {
        const sub = this.subOf(peer, s.uid);
        if (!sub || !sub.events.has('resource_stats')) continue;
        frame ??= statsFrame(sub.serverId, s);
        this.d.fanout.sendDroppable(peer, sub, frame);
      }
    }
  }

  onServerUpdate(before: GameServer, after: GameServer): void {
    const uid = after.metadata.uid!;
    const set = this.subscribers.get(uid);
    if (!set || set.size === 0) return;
    const serverId = after.metadata.name;
    // Ownership can change in an update: whoever lost the server loses the stream now.
    for (const peer of [...set]) this.recheck(peer, serverId);
    this.pushPlayers(uid, serverId, before, after);
    const previousState = before.status?.phase ?? null;
    const state = after.status?.phase ?? null;
    if (previousState === state) return;
    const frame = Buffer.from(JSON.stringify({ type: 'server_state_update', serverId, state, previousState, timestamp: new Date(this.d.svc.now()).toISOString() }));
    for (const peer of this.subscribers.get(uid) ?? []) {
      if (this.subOf(peer, uid)?.events.has('server_state_update')) this.d.fanout.send(peer, frame);
    }
  }

  /** status.players changed (the controller writes it only on a change): `{online, max, names?, updatedAt, error?}`, null when no longer known. */
  private pushPlayers(uid: string, serverId: string, before: GameServer, after: GameServer): void {
    const a = before.status?.players;
    const b = after.status?.players;
    if (JSON.stringify(a ?? null) === JSON.stringify(b ?? null)) return;
    const frame = Buffer.from(JSON.stringify({ type: 'server_players_update', serverId, players: b ?? null, timestamp: new Date(this.d.svc.now()).toISOString() }));
    for (const peer of this.subscribers.get(uid) ?? []) {
      if (this.subOf(peer, uid)?.events.has('server_players_update')) this.d.fanout.send(peer, frame);
    }
  }

  onAccessChanged(server: ServerKey, userId: string): void {
    if (server.namespace !== this.d.svc.servers.namespace) return;
    const ep = this.d.endpoint();
    for (const peer of ep.peersOf(userId)) {
      if (peer.subs.get(server.name)?.uid !== server.uid) continue;
      if (ep.refresh(peer)) this.recheck(peer, server.name);
    }
  }

  /** A drained client is told how many lines/stats it missed, per server. */
  onResumed(peer: CatalystPeer): void {
    for (const sub of peer.subs.values()) {
      if (!sub.dropped) continue;
      this.send(peer, { type: 'dropped', serverId: sub.serverId, count: sub.dropped });
      sub.dropped = 0;
    }
  }

  // PerServerState: subscriptions die with their server.
  knownServerUids(): string[] {
    return [...this.subscribers.keys()];
  }

  forgetServers(gone: readonly GoneServer[]): void {
    for (const { uid } of gone) {
      this.consoleBuckets.delete(uid);
      for (const peer of [...(this.subscribers.get(uid) ?? [])]) {
        const sub = this.subOf(peer, uid);
        if (!sub) continue;
        this.unsubscribe(peer, sub.serverId);
        this.send(peer, { type: 'unsubscribed', serverId: sub.serverId, reason: 'server deleted' });
      }
    }
  }

  // ---- messages ----------------------------------------------------------------------------------

  /** The server, if the client may use `permissions` on it; else an error text (not found for servers it cannot see). */
  private authorise(peer: CatalystPeer, serverId: string, permissions: string[], refuseSuspended = false): { server: GameServer } | { error: string; reason?: string } {
    const server = this.d.server(serverId);
    if (!server || (peer.scopeServer !== undefined && peer.scopeServer !== serverId)) return { error: `server "${serverId}" not found` };
    for (const perm of permissions) {
      const v = authorizeOnServer(this.d.svc.access, peer.principal, server, perm, { refuseSuspended });
      if (v.outcome === 'suspended') return { error: `server "${serverId}" is suspended`, reason: 'server_suspended' };
      if (v.outcome !== 'allowed') return { error: v.message };
    }
    return { server };
  }

  private subscribe(peer: CatalystPeer, serverId: string, events: ClientEvent[], history: number): void {
    const r = this.authorise(peer, serverId, [...new Set(['server.read', ...events.map((e) => EVENT_PERMISSION[e])])]);
    if ('error' in r) return this.sendError(peer, `subscribe: ${r.error}`, serverId);
    const { limits } = this.d;
    const uid = r.server.metadata.uid!;
    const existing = peer.subs.get(serverId);
    if (existing && existing.uid !== uid) this.unsubscribe(peer, serverId); // an earlier server of the name
    if (!peer.subs.has(serverId)) {
      if (peer.subs.size >= limits.maxSubscriptionsPerSocket) return this.sendError(peer, `subscribe: at most ${limits.maxSubscriptionsPerSocket} servers per connection`, serverId);
      if ((this.subscribers.get(uid)?.size ?? 0) >= limits.maxSubscribersPerServer) return this.sendError(peer, `subscribe: server "${serverId}" has the most subscribers allowed (${limits.maxSubscribersPerServer}); try again later`, serverId);
    }
    const sub: Subscription = { serverId, uid, events: new Set(events), dropped: existing?.uid === uid ? existing.dropped : 0 };
    peer.subs.set(serverId, sub);
    peer.subsByUid.set(uid, sub);
    let set = this.subscribers.get(uid);
    if (!set) this.subscribers.set(uid, (set = new Set()));
    set.add(peer);
    this.send(peer, { type: 'subscribed', serverId, events, state: r.server.status?.phase ?? null });
    // The replay and the registration above happen in the same tick as each other, so the first
    // live line follows the last replayed one with no gap and no repeat.
    const node = dataNode(r.server);
    const hub = this.d.svc.hub;
    if (history > 0 && events.includes('server_log') && node && hub) {
      this.d.fanout.sendBatch(peer, sub, hub.consoleHistory(node, uid, history).map((l) => logFrame(serverId, l)));
    }
  }

  private unsubscribe(peer: CatalystPeer, serverId: string): void {
    const sub = peer.subs.get(serverId);
    if (!sub) return;
    peer.subs.delete(serverId);
    peer.subsByUid.delete(sub.uid);
    const set = this.subscribers.get(sub.uid);
    if (!set) return;
    set.delete(peer);
    if (set.size === 0) this.subscribers.delete(sub.uid);
  }

  private async consoleInput(peer: CatalystPeer, serverId: string, data: string): Promise<void> {
    const r = this.authorise(peer, serverId, ['server.console'], true);
    if ('error' in r) return this.sendError(peer, `console_input: ${r.error}`, serverId, r.reason);
    const { svc, limits } = this.d;
    const server = r.server;
    if (Buffer.byteLength(data) > limits.maxConsoleInputBytes) return this.sendError(peer, `console_input: "data" is longer than ${limits.maxConsoleInputBytes} bytes`, serverId);
    // "say hi\n" is one command; the trailing newline is the Enter key, not an empty second command.
    const lines = data.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => l.replace(/\r$/, ''));
    const uid = server.metadata.uid!;
    let bucket = this.consoleBuckets.get(uid);
    if (!bucket) this.consoleBuckets.set(uid, (bucket = new Bucket(limits.consoleInputsPerSecond, limits.consoleInputsPerSecond * 2, svc.now())));
    if (!bucket.take(svc.now())) return this.sendError(peer, `console_input: rate limit: at most ${limits.consoleInputsPerSecond} inputs per second per server; input ignored`, serverId, 'rate_limited');
    const node = dataNode(server);
    const hub = svc.hub;
    if (!hub || !node) return this.sendError(peer, `console_input: server "${serverId}" is not on a node (phase ${server.status?.phase ?? 'unknown'})`, serverId, 'server_not_running');
    const audit = (status: number, error?: string) =>
      void svc.audit.record({
        userId: peer.principal.userId,
        username: peer.principal.username,
        action: 'server.console',
        resourceType: 'server',
        resourceId: serverId,
        resourceUid: uid,
        ipAddress: peer.ip ?? null,
        facade: 'catalyst',
        status,
        metadata: error ? { via: 'websocket', lines: lines.length, error } : { via: 'websocket', lines: lines.length },
      });
    try {
      for (const line of lines) await hub.call(node, 'sendCommand', { uid, line }, { timeoutMs: 10_000 });
      audit(200);
    } catch (err) {
      const message = (err as Error).message;
      audit(409, message);
      this.sendError(peer, `console_input: cannot send to server "${serverId}": ${message}`, serverId, 'console_failed');
    }
  }

  /** Closes the client (4403) when it lost a permission its subscription to `serverId` needs. */
  private recheck(peer: CatalystPeer, serverId: string): boolean {
    const sub = peer.subs.get(serverId);
    if (!sub || peer.closing) return true;
    const server = this.d.server(serverId);
    // Gone, or another server of the same name by now: the reaper ends the subscription.
    if (!server || server.metadata.uid !== sub.uid) return true;
    const perms = new Set(['server.read', ...[...sub.events].map((e) => EVENT_PERMISSION[e])]);
    for (const perm of perms) {
      if (!this.d.svc.access.can(peer.principal, server, perm)) {
        this.d.log.info('client socket closed: access revoked', { client: peer.id, user: peer.principal.username, server: serverId, permission: perm });
        this.d.endpoint().closePeer(peer, WS_CLOSE.forbidden, `access to server ${serverId} revoked (requires ${perm})`);
        return false;
      }
    }
    return true;
  }

  private subOf(peer: CatalystPeer, uid: string): Subscription | undefined {
    return peer.subsByUid.get(uid);
  }

  private send(peer: CatalystPeer, msg: Record<string, unknown>): void {
    this.d.fanout.send(peer, JSON.stringify(msg));
  }
}
