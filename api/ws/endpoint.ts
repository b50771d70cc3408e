// What every client WebSocket endpoint needs, whatever its protocol: authentication BEFORE the socket
// is accepted, connection limits, a live principal, message size and rate limits, pings, and closes
// on account changes. A protocol (Catalyst's /ws, another panel's) plugs in its message handling.
//
// - Upgrade: `?token=` holds an access token or a `websocket`-purpose token (optionally scoped to one
//   server); an API key may come as `Authorization: Bearer gak_…` (never in a URL, where proxies log
//   it). Anything else is refused with 401 before the upgrade; past the limits 503 (total) / 429 (per
//   user).
// - The principal is revalidated (api/rbac/authorize.ts) on every message and on every account event:
//   a deleted or disabled user, an ended session or a revoked key closes the socket (4401). The token's
//   own expiry does not: the socket lives as long as what it stood for.
// - A message larger than maxMessageBytes closes with 1009 (ws itself); one past the rate is refused,
//   and a socket past twice the burst is closed (1008).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { closeReason } from '../../controller/hub/close-codes.ts';
import { bearerToken, rejectUpgrade, requestPath } from '../../controller/hub/upgrade.ts';
import type { Logger } from '../../lib/log.ts';
import { API_KEY_PREFIX } from '../auth/accounts.ts';
import { ApiError } from '../http/errors.ts';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';
import { revalidate } from '../rbac/authorize.ts';
import type { FanoutPeer } from './fanout.ts';

/** Close codes of client sockets (4xxx: application-defined, after HTTP's meaning). */
export const WS_CLOSE = {
  /** The user was deleted or disabled, or the session/API key behind the socket ended. */
  unauthorized: 4401,
  /** Access to a subscribed server was revoked. */
  forbidden: 4403,
  policy: 1008,
  tooBig: 1009,
  goingAway: 1001,
} as const;

export interface EndpointLimits {
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
  /** Ping interval; a client that has not answered the previous ping is terminated (default 30 s). */
  pingIntervalMs: number;
}

/** A token bucket: `rate` per second, at most `burst` saved up. */
export class Bucket {
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

/** One open client socket. Protocols extend it with what they keep per client. */
export class Peer implements FanoutPeer {
  principal: Principal;
  readonly bucket: Bucket;
  /** Messages refused by the rate limit since the last accepted one. */
  excess = 0;
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
    limits: EndpointLimits,
    now: number,
  ) {
    this.principal = principal;
    this.bucket = new Bucket(limits.messagesPerSecond, limits.messageBurst, now);
  }

  get label(): string {
    return this.principal.username;
  }
}

export interface UpgradeAuth {
  principal: Principal;
  scopeServer?: string;
}

/** A socket protocol: what the endpoint hands over once a socket is open and its caller still valid. */
export interface SocketProtocol<P extends Peer> {
  newPeer(id: number, ws: WebSocket, auth: UpgradeAuth, ip: string | undefined): P;
  /** A text message; the principal was revalidated just before. */
  onMessage(peer: P, text: string): void;
  /** The account changed and the principal is still valid (refreshed): re-check what the peer holds. */
  onAccountChanged(peer: P): void;
  /** The peer is gone (closed by either side): drop it from every index. */
  onGone(peer: P): void;
  /** Tells the client its message was refused (rate, binary frame) in the protocol's error shape. */
  sendError(peer: P, message: string): void;
}

/** Why a refreshed principal is no longer valid, as a close reason. */
const GONE: Record<'user_gone' | 'user_disabled' | 'session_revoked' | 'key_revoked', string> = {
  user_gone: 'user deleted',
  user_disabled: 'account disabled',
  session_revoked: 'session ended (logged out or revoked): log in again',
  key_revoked: 'API key revoked or expired',
};

/** `?token=` (access or websocket-purpose token) or `Authorization: Bearer` (an API key or access token). Throws a 401 ApiError. */
export async function authenticateUpgrade(svc: ApiServices, req: IncomingMessage): Promise<UpgradeAuth> {
  let token: string | null = null;
  try {
    token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
  } catch {
    // a malformed URL is just "no token"
  }
  const auth = svc.auth;
  if (!token) {
    const bearer = bearerToken(req);
    if (bearer) return { principal: await auth.fromBearer(bearer) };
    throw new ApiError(401, `Authentication required: connect to ${requestPath(req)}?token=<access or websocket token>`, 'no_token');
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

export interface SocketEndpointOptions<P extends Peer> {
  svc: ApiServices;
  path: string;
  limits: EndpointLimits;
  log: Logger;
  protocol: SocketProtocol<P>;
  /** Resolves once the protocol's caches are ready (upgrades wait for it). */
  ready?: Promise<unknown>;
  authenticate?: (req: IncomingMessage) => Promise<UpgradeAuth>;
}

export class SocketEndpoint<P extends Peer> {
  readonly path: string;
  private readonly wss: WebSocketServer;
  private readonly peers = new Set<P>();
  private readonly byUser = new Map<string, Set<P>>();
  private readonly pingTimer: NodeJS.Timeout;
  private readonly cleanups: (() => void)[] = [];
  private seq = 0;
  private closed?: Promise<void>;

  constructor(private readonly o: SocketEndpointOptions<P>) {
    this.path = o.path;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: o.limits.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.wss.on('error', (err) => o.log.error('client websocket server error', { err }));
    const onUser = (userId: string, change: string) => this.onUserChanged(userId, change);
    o.svc.accounts.on('userChanged', onUser);
    this.cleanups.push(() => o.svc.accounts.off('userChanged', onUser));
    this.pingTimer = setInterval(() => this.pingAll(), o.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  get size(): number {
    return this.peers.size;
  }

  peersOf(userId: string): P[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  all(): P[] {
    return [...this.peers];
  }

  /** For the socket registry (this endpoint's path). Never rejects. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { log, limits } = this.o;
    const onError = (err: Error) => log.debug('client socket error before upgrade', { err });
    socket.on('error', onError);
    const ip = req.socket?.remoteAddress;
    try {
      if (this.closed) return rejectUpgrade(socket, 503, 'server is shutting down');
      let auth: UpgradeAuth;
      try {
        auth = await (this.o.authenticate ?? ((r: IncomingMessage) => authenticateUpgrade(this.o.svc, r)))(req);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        log.info('client socket refused', { ip, path: this.path, reason: err.message });
        return rejectUpgrade(socket, err.statusCode, err.message, { 'WWW-Authenticate': 'Bearer realm="gantry"' });
      }
      await this.o.ready;
      if (this.closed) return rejectUpgrade(socket, 503, 'server is shutting down');
      const { principal } = auth;
      if (this.peers.size >= limits.maxConnections) {
        log.warn('client socket refused: connection limit', { limit: limits.maxConnections });
        return rejectUpgrade(socket, 503, `too many WebSocket connections (limit ${limits.maxConnections}); try again later`, { 'Retry-After': '5' });
      }
      if ((this.byUser.get(principal.userId)?.size ?? 0) >= limits.maxConnectionsPerUser) {
        return rejectUpgrade(socket, 429, `too many WebSocket connections for user ${principal.username} (limit ${limits.maxConnectionsPerUser}); close one first`, { 'Retry-After': '5' });
      }
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          socket.off('error', onError);
          this.accept(ws, auth, ip);
          resolve();
        });
      });
    } catch (err) {
      log.error('client upgrade failed', { ip, err });
      rejectUpgrade(socket, 500, 'internal error while opening the WebSocket');
    }
  }

  /** Revalidates the peer's principal (fresh grants on success); closes it with 4401 when no longer valid. */
  refresh(peer: P): boolean {
    const r = revalidate(this.o.svc.accounts, peer.principal, this.o.svc.now());
    if (r.ok) {
      peer.principal = r.principal;
      return true;
    }
    this.o.log.info('client socket closed: account changed', { client: peer.id, user: peer.principal.username, reason: GONE[r.code] });
    this.closePeer(peer, WS_CLOSE.unauthorized, GONE[r.code]);
    return false;
  }

  /** Closes at once for every index (it may read nothing more), the close handshake after. */
  closePeer(peer: P, code: number, why: string): void {
    if (peer.closing) return;
    peer.closing = true;
    this.forget(peer);
    try {
      peer.ws.close(code, closeReason(why));
    } catch {
      peer.ws.terminate();
    }
    setTimeout(() => peer.ws.terminate(), 5_000).unref();
  }

  /** Closes every client socket (1001) and stops following the accounts. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.pingTimer);
      for (const f of this.cleanups.splice(0)) f();
      const open = [...this.peers];
      const done = open.map((p) => new Promise<void>((r) => (p.ws.readyState === WebSocket.CLOSED ? r() : p.ws.once('close', () => r()))));
      for (const p of open) this.closePeer(p, WS_CLOSE.goingAway, 'server is shutting down');
      await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 2_000).unref())]);
      for (const p of open) p.ws.terminate();
      await new Promise<void>((r) => this.wss.close(() => r()));
    })();
    return this.closed;
  }

  private accept(ws: WebSocket, auth: UpgradeAuth, ip: string | undefined): void {
    const { log, protocol } = this.o;
    const peer = protocol.newPeer(++this.seq, ws, auth, ip);
    this.peers.add(peer);
    let mine = this.byUser.get(peer.principal.userId);
    if (!mine) this.byUser.set(peer.principal.userId, (mine = new Set()));
    mine.add(peer);
    ws.on('message', (data, isBinary) => this.onMessage(peer, data, isBinary));
    ws.on('pong', () => (peer.alive = true));
    ws.on('close', (code, reason) => {
      peer.closing = true;
      this.forget(peer);
      log.debug('client socket closed', { client: peer.id, user: peer.principal.username, code, reason: reason.toString('utf8') });
    });
    ws.on('error', (err) => log.debug('client socket error', { client: peer.id, user: peer.principal.username, err }));
    log.debug('client socket accepted', { client: peer.id, user: peer.principal.username, via: peer.principal.via, ip, path: this.path });
    // The account may have changed while the token was being checked.
    this.refresh(peer);
  }

  private onMessage(peer: P, data: RawData, isBinary: boolean): void {
    const { limits, svc, protocol, log } = this.o;
    if (peer.closing) return;
    if (!peer.bucket.take(svc.now())) {
      peer.excess++;
      if (peer.excess > limits.messageBurst) {
        log.warn('client socket closed: message rate limit', { client: peer.id, user: peer.principal.username });
        return this.closePeer(peer, WS_CLOSE.policy, `message rate limit exceeded (${limits.messagesPerSecond}/s)`);
      }
      return protocol.sendError(peer, `rate limit: at most ${limits.messagesPerSecond} messages per second (burst ${limits.messageBurst}); message ignored`);
    }
    peer.excess = 0;
    if (isBinary) return protocol.sendError(peer, 'binary frames are not accepted: send JSON text messages');
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    // Every message is authorised against the accounts as they are now.
    if (!this.refresh(peer)) return;
    protocol.onMessage(peer, text);
  }

  private onUserChanged(userId: string, change: string): void {
    for (const peer of this.peersOf(userId)) {
      if (!this.refresh(peer)) {
        this.o.log.debug('client socket closed on account event', { client: peer.id, change });
        continue;
      }
      this.o.protocol.onAccountChanged(peer);
    }
  }

  private pingAll(): void {
    for (const p of this.peers) {
      if (p.closing) continue;
      if (!p.alive) {
        p.closing = true;
        p.ws.terminate();
        continue;
      }
      p.alive = false;
      try {
        p.ws.ping();
      } catch {
        // closed under us; the close event cleans up
      }
    }
  }

  private forget(peer: P): void {
    if (!this.peers.delete(peer)) return;
    const mine = this.byUser.get(peer.principal.userId);
    mine?.delete(peer);
    if (mine && mine.size === 0) this.byUser.delete(peer.principal.userId);
    this.o.protocol.onGone(peer);
  }
}
