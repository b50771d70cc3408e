// The SFTP server of the controller (ssh2), embedded in `gantry up`. It runs here rather than in the
// agents because accounts and permissions live here: every operation re-checks them, so revoking a
// grant takes effect inside an open session. Files move through the agent hub to the server's node.
//
// Logins (password auth only):
//   username = <server id>,                password = an sftp token (its scope.serverId must match)
//                                                     or an access JWT (a live session);
//   username = <panel username>.<server id>, password = the panel password (Pterodactyl style) —
//                                                     refused for accounts with two-factor enabled,
//                                                     which must use a token.
// The user must hold file.read on the server, which must not be suspended and whose node must be
// online. Failed logins count against the API's per-IP auth rate limit (`auth:<ip>`).
import { mkdir, open, readFile, chmod } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ServerConfig } from 'ssh2';
import type { GameServer } from '../../crds/types.ts';
import type { AgentHub } from '../../controller/hub/agent-hub.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';
import { authorizeOnServer, revalidate } from '../rbac/authorize.ts';
import type { TokenClaims } from '../auth/tokens.ts';
import { SftpSession, type SftpIdentity } from './session.ts';
import type { GoneServer, PerServerState } from '../../controller/lifecycle/server-reaper.ts';
import { dataNode } from '../../crds/placement.ts';

export const HOST_KEY_FILE = 'sftp_host_key';
export const DEFAULT_SFTP_PORT = 2022;

/** The ed25519 host key: generated on first start, kept 0600, so clients' known_hosts stay valid. */
export async function loadOrCreateHostKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, HOST_KEY_FILE);
  try {
    const key = await readFile(file, 'utf8');
    await chmod(file, 0o600);
    const parsed = ssh2.utils.parseKey(key); // a damaged file fails here, naming itself below
    if (parsed instanceof Error) throw parsed;
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot use the SFTP host key ${file}: ${(err as Error).message} (delete it to generate a new one; clients will see a changed host key)`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = ssh2.utils.generateKeyPairSync('ed25519').private;
  try {
    const fh = await open(file, 'wx', 0o600);
    await fh.writeFile(key);
    await fh.sync();
    await fh.close();
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateHostKey(dataDir);
    throw err;
  }
}

export interface SftpServerOptions {
  svc: ApiServices;
  /** DATA_DIR: the host key lives there. */
  dataDir: string;
  log?: Logger;
  /** How long a session trusts a fetched GameServer (suspension, owner, node). Default 1 s. */
  serverCacheMs?: number;
  /** A connection not authenticated by then is closed. Default 60 s. */
  loginGraceMs?: number;
  /** Concurrent connections (default 1000); more are refused at accept. */
  maxConnections?: number;
}

interface LoginRefusal {
  status: number;
  reason: string;
  message: string;
  userId?: string;
  username?: string;
  serverId?: string;
  /** Counts against the per-IP limit (wrong credentials), unlike e.g. an offline node. */
  failedCredential: boolean;
}

interface Client {
  conn: Connection;
  identity?: SftpIdentity;
  sessions: Set<SftpSession>;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export class SftpServer implements PerServerState {
  readonly stateName = 'SFTP sessions';
  private server: net.Server | undefined;
  /** Sockets whose client logged in (the login grace timer spares them). */
  private readonly authenticated = new WeakSet<object>();
  private readonly sockets = new Set<net.Socket>();
  private readonly clients = new Set<Client>();
  private readonly blockedUntil = new Map<string, number>();
  private readonly log: Logger;
  private readonly hub: AgentHub;
  private boundPort = 0;
  private readonly onUserChanged = (userId: string) => this.userChanged(userId);
  private unregister: (() => void) | undefined;

  constructor(private readonly o: SftpServerOptions) {
    if (!o.svc.hub) throw new Error('the SFTP server needs the agent hub (embedded or controller mode)');
    this.hub = o.svc.hub;
    this.log = o.log ?? createLogger({ component: 'sftp' });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Open connections (tests). */
  get connections(): number {
    return this.clients.size;
  }

  async start(opts: { port: number; host: string }): Promise<{ port: number; host: string }> {
    const hostKey = await loadOrCreateHostKey(this.o.dataDir);
    const config: ServerConfig = { hostKeys: [hostKey], ident: 'Gantry' };
    const ssh = new ssh2.Server(config, (conn, info) => this.accept(conn, info.ip));
    ssh.maxConnections = this.o.maxConnections ?? 1000;
    ssh.on('error', (err: Error) => this.log.error('sftp server error', { err }));
    const graceMs = this.o.loginGraceMs ?? 60_000;
    // Our own listener, so the login grace time (OpenSSH's LoginGraceTime) also covers sockets that
    // never send an SSH header, which ssh2 would otherwise keep forever.
    const server = net.createServer((sock) => {
      const grace = setTimeout(() => !this.authenticated.has(sock) && sock.destroy(), graceMs);
      grace.unref();
      this.sockets.add(sock);
      sock.once('close', () => {
        clearTimeout(grace);
        this.sockets.delete(sock);
      });
      sock.on('error', () => undefined); // reported by ssh2's connection when it has one
      ssh.injectSocket(sock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      throw new Error(`SFTP cannot listen on ${opts.host}:${opts.port}: ${err.message}`);
    });
    server.on('error', (err) => this.log.error('sftp listener error', { err }));
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.o.svc.accounts.on('userChanged', this.onUserChanged);
    this.unregister = this.o.svc.reaper.register(this);
    this.log.info('sftp listening', { host: opts.host, port: this.boundPort });
    return { port: this.boundPort, host: opts.host };
  }

  async stop(): Promise<void> {
    this.o.svc.accounts.off('userChanged', this.onUserChanged);
    this.unregister?.();
    const server = this.server;
    this.server = undefined;
    for (const c of this.clients) this.end(c, 'server stopping');
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    // Connections that never logged in get no polite goodbye; the others get 2 s to take theirs.
    for (const sock of this.sockets) if (!this.authenticated.has(sock)) sock.destroy();
    const force = setTimeout(() => this.sockets.forEach((sock) => sock.destroy()), 2500);
    await closed;
    clearTimeout(force);
  }

  // ---- connections -----------------------------------------------------------------------------

  private accept(conn: Connection, ip: string): void {
    const client: Client = { conn, sessions: new Set() };
    this.clients.add(client);
    // Like OpenSSH's LoginGraceTime: a connection that never authenticates does not stay forever.
    conn.on('error', (err) => this.log.debug('sftp connection error', { ip, err: err.message }));
    conn.on('close', () => {
      for (const s of client.sessions) s.close();
      this.clients.delete(client);
    });
    conn.on('authentication', (ctx) => {
      this.authenticate(ctx, ip).then(
        (identity) => {
          if (!identity) return ctx.reject(['password']);
          client.identity = identity;
          const sock = (conn as unknown as { _sock?: object })._sock;
          if (sock) this.authenticated.add(sock);
          ctx.accept();
        },
        (err) => {
          this.log.error('sftp authentication failed unexpectedly', { err, ip });
          ctx.reject(['password']);
        },
      );
    });
    conn.on('ready', () => {
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        // Only the sftp subsystem is served: without listeners, ssh2 refuses shell, exec and pty.
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          const s = new SftpSession({ svc: this.o.svc, hub: this.hub, log: this.log, identity: client.identity!, serverCacheMs: this.o.serverCacheMs ?? 1000, terminate: (why) => this.end(client, why) }, sftp);
          client.sessions.add(s);
          // The client closing its side must close ours too, or OpenSSH's client waits forever.
          sftp.on('end', () => {
            s.close();
            sftp.end();
          });
          sftp.on('close', () => {
            s.close();
            client.sessions.delete(s);
          });
        });
      });
    });
  }

  private end(client: Client, why: string): void {
    if (client.identity) this.log.info('sftp connection ended', { user: client.identity.username, serverId: client.identity.serverId, reason: why });
    for (const s of client.sessions) s.close();
    // After the current packet: terminate() may be called from inside a request handler. A peer that
    // keeps its half of the socket open after our DISCONNECT is cut off shortly after.
    setImmediate(() => {
      const sock = (client.conn as unknown as { _sock?: { destroy(): void } })._sock;
      if (!client.identity) return sock?.destroy(); // no handshake to end politely (yet)
      try {
        client.conn.end();
      } catch {
        sock?.destroy();
      }
      setTimeout(() => sock?.destroy(), 2000).unref();
    });
  }

  private userChanged(userId: string): void {
    const { accounts } = this.o.svc;
    for (const c of this.clients) {
      const id = c.identity;
      if (!id || id.userId !== userId) continue;
      const r = revalidate(accounts, { userId, username: id.username, email: id.email, via: id.via === 'token' ? 'token' : 'session', sessionId: id.sessionId, grants: [] }, Date.now());
      if (!r.ok) this.end(c, r.code === 'user_gone' ? 'user deleted' : r.code === 'user_disabled' ? 'user disabled' : 'session ended');
    }
  }

  // PerServerState: a deleted server's SFTP connections end (a new server of its name is another one).
  knownServerUids(): string[] {
    return [...this.clients].map((c) => c.identity?.serverUid).filter((u): u is string => !!u);
  }

  forgetServers(gone: readonly GoneServer[]): void {
    const uids = new Set(gone.map((g) => g.uid));
    for (const c of this.clients) if (c.identity && uids.has(c.identity.serverUid)) this.end(c, 'server deleted');
  }

  // ---- authentication --------------------------------------------------------------------------

  private async authenticate(ctx: AuthContext, ip: string): Promise<SftpIdentity | undefined> {
    if (ctx.method !== 'password') return undefined;
    const now = Date.now();
    const blocked = this.blockedUntil.get(ip);
    if (blocked !== undefined && blocked > now) {
      await this.refused(ip, ctx.username, { status: 429, reason: 'rate_limited', message: `too many failed logins from ${ip}; try again in ${Math.ceil((blocked - now) / 1000)} s`, failedCredential: false });
      return undefined;
    }
    if (blocked !== undefined) this.blockedUntil.delete(ip);
    const r = await this.login(ctx.username, ctx.password, ip);
    if ('identity' in r) {
      this.log.info('sftp login', { user: r.identity.username, serverId: r.identity.serverId, via: r.identity.via, ip });
      return r.identity;
    }
    if (r.failedCredential) {
      const { svc } = this.o;
      const hit = svc.limiter.hit(`auth:${ip}`, { limit: svc.limits.authPerMinute, windowMs: 60_000 });
      if (!hit.allowed) {
        if (this.blockedUntil.size > 10_000) for (const [k, t] of this.blockedUntil) if (t <= now) this.blockedUntil.delete(k);
        this.blockedUntil.set(ip, now + hit.retryAfter * 1000);
      }
    }
    await this.refused(ip, ctx.username, r);
    return undefined;
  }

  private async login(username: string, password: string, ip: string): Promise<{ identity: SftpIdentity } | LoginRefusal> {
    const { svc } = this.o;
    const bad = (message: string, reason = 'invalid_credentials', extra: Partial<LoginRefusal> = {}): LoginRefusal => ({ status: 401, reason, message, failedCredential: true, ...extra });
    let principal: Principal;
    let serverId: string;
    let via: SftpIdentity['via'];
    if (JWT.test(password) && (!username.includes('.') || (await svc.servers.find(username)))) {
      // (a) username = server id, password = a token.
      serverId = username;
      via = 'token';
      let claims: TokenClaims | undefined;
      let purpose: 'sftp' | 'access' = 'sftp';
      try {
        claims = await svc.auth.tokens.verify(password, 'sftp');
      } catch {
        purpose = 'access';
      }
      if (claims?.scope?.serverId !== undefined && claims.scope.serverId !== serverId) {
        return bad(`this SFTP token is for server ${claims.scope.serverId}, not ${serverId}`, 'token_scope', { userId: claims.userId, serverId });
      }
      try {
        principal = await svc.auth.fromToken(password, purpose);
      } catch (err) {
        return bad(`token refused: ${(err as Error).message}`, (err as { reason?: string }).reason ?? 'token_invalid', { serverId });
      }
    } else {
      // (b) <panel username>.<server id> + the panel password. Usernames may contain dots: the split
      // is the one naming an existing user and server, trying the last dot first.
      via = 'password';
      const split = await this.splitLogin(username);
      const user = split ? await svc.accounts.checkPassword(split.login, password) : await svc.accounts.checkPassword(`\0${username}`, password); // same work either way
      if (!split) {
        return bad(
          username.includes('.')
            ? `unknown login "${username}": no user and server match <username>.<server id>`
            : `for username = server id the password must be an SFTP or access token (a JWT; OpenSSH cuts passwords at 1023 characters, so prefer the short SFTP token from POST /api/auth/tokens)`,
          'invalid_credentials',
          { serverId: username.includes('.') ? undefined : username },
        );
      }
      if (!user) return bad('wrong username or password', 'invalid_credentials', { serverId: split.serverId, username: split.login });
      if (user.disabled) return bad('account disabled', 'user_disabled', { userId: user.id, username: user.username, serverId: split.serverId });
      if (user.totpEnabled) {
        return bad('two-factor authentication is enabled on this account: log in with the server id as username and an SFTP token (POST /api/auth/tokens) as password', 'totp_enabled', { userId: user.id, username: user.username, serverId: split.serverId });
      }
      serverId = split.serverId;
      principal = { userId: user.id, username: user.username, email: user.email, via: 'session', grants: svc.accounts.grantsOf(user.id) };
    }
    const who = { userId: principal.userId, username: principal.username, serverId };
    const server = await svc.servers.find(serverId);
    const verdict = server ? authorizeOnServer(svc.access, principal, server, 'file.read', { refuseSuspended: true }) : undefined;
    // A server the user cannot read answers like a missing one: ids of others' servers cannot be probed.
    if (!server || verdict!.outcome === 'not_found' || verdict!.outcome === 'forbidden') return bad(`no server "${serverId}" with file access for ${principal.username}`, server ? 'missing_permission' : 'server_not_found', who);
    if (verdict!.outcome === 'suspended') return { status: 423, reason: 'suspended', message: `server ${server.metadata.name} is suspended`, ...who, failedCredential: false };
    const refusal = this.nodeRefusal(server);
    if (refusal) return { ...refusal, ...who, failedCredential: false };
    return { identity: { userId: principal.userId, username: principal.username, email: principal.email, sessionId: principal.sessionId, via, serverId, serverUid: server.metadata.uid!, ip } };
  }

  private nodeRefusal(server: GameServer): Omit<LoginRefusal, 'failedCredential'> | undefined {
    const name = server.metadata.name;
    const node = dataNode(server);
    if (!node) return { status: 503, reason: 'not_placed', message: `server ${name} is not placed on a node yet` };
    if (!this.hub.isConnected(node)) return { status: 503, reason: 'node_offline', message: `node ${node} of server ${name} is offline` };
    return undefined;
  }

  private async splitLogin(username: string): Promise<{ login: string; serverId: string } | undefined> {
    const { svc } = this.o;
    for (let i = username.lastIndexOf('.'); i > 0; i = username.lastIndexOf('.', i - 1)) {
      const login = username.slice(0, i);
      const serverId = username.slice(i + 1);
      if (!serverId || !svc.accounts.findUser(login)) continue;
      if (await svc.servers.find(serverId)) return { login, serverId };
    }
    return undefined;
  }

  private async refused(ip: string, login: string, r: LoginRefusal): Promise<void> {
    this.log.info('sftp login refused', { ip, login, reason: r.reason, message: r.message });
    await this.o.svc.audit.record({
      userId: r.userId ?? null,
      username: r.username ?? null,
      action: 'sftp.refused',
      resourceType: r.serverId ? 'server' : null,
      resourceId: r.serverId ?? null,
      status: r.status,
      metadata: { via: 'sftp', op: 'login', login, reason: r.reason, message: r.message },
      ipAddress: ip,
      facade: 'sftp',
    });
  }
}
