// The clients' WebSocket (`/ws`, Catalyst's client protocol): the shared endpoint machinery
// (endpoint.ts: authentication before the upgrade, live principal, limits, closes on account changes),
// the fan-out with backpressure (fanout.ts) and Catalyst's wire protocol (catalyst-protocol.ts),
// wired to the hub's console and stats, the shared GameServer informer and the accounts. Another
// panel's socket is its own protocol module on the same two parts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConsoleLine, StatsSample } from '../../agent/protocol.ts';
import type { GameServer } from '../../crds/types.ts';
import type { HandlerRegistration, Informer } from '../../controller/runtime/informer.ts';
import type { GoneServer, PerServerState } from '../../controller/lifecycle/server-reaper.ts';
import type { Logger } from '../../lib/log.ts';
import type { ServerKey } from '../auth/accounts.ts';
import type { ApiServices } from '../http/services.ts';
import { SocketEndpoint, type EndpointLimits } from './endpoint.ts';
import { DEFAULT_FANOUT_LIMITS, Fanout, type FanoutLimits } from './fanout.ts';
import { CatalystProtocol, type CatalystPeer, type CatalystProtocolLimits } from './catalyst-protocol.ts';

export { WS_CLOSE } from './endpoint.ts';
export { CLIENT_EVENTS, parseClientMessage, type ClientEvent } from './catalyst-protocol.ts';

export const CLIENT_WS_PATH = '/ws';

export type ClientSocketLimits = EndpointLimits & CatalystProtocolLimits & FanoutLimits;

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
  ...DEFAULT_FANOUT_LIMITS,
  pingIntervalMs: 30_000,
};

export interface ClientSocketsOptions {
  limits?: Partial<ClientSocketLimits>;
  log?: Logger;
  /** Where it is served (default /ws; a facade on a port of its own may use another). */
  path?: string;
}

export class ClientSockets implements PerServerState {
  readonly stateName = 'client websocket subscriptions';
  readonly limits: ClientSocketLimits;
  readonly path: string;
  private readonly svc: ApiServices;
  private readonly informer: Informer<GameServer>;
  private readonly endpoint: SocketEndpoint<CatalystPeer>;
  private readonly fanout: Fanout<CatalystPeer>;
  private readonly protocol: CatalystProtocol;
  private readonly cleanups: (() => void)[] = [];
  private closed?: Promise<void>;

  constructor(svc: ApiServices, opts: ClientSocketsOptions = {}) {
    this.svc = svc;
    this.limits = { ...DEFAULT_WS_LIMITS, ...opts.limits };
    this.path = opts.path ?? CLIENT_WS_PATH;
    const log = opts.log ?? svc.log.child({ component: 'client-ws' });
    // The process's shared GameServer cache (all namespaces; ours is svc.servers.namespace).
    this.informer = svc.informers.informer<GameServer>('GameServer');
    this.fanout = new Fanout<CatalystPeer>(this.limits, log, (peer) => this.protocol.onResumed(peer));
    this.protocol = new CatalystProtocol({ svc, log, limits: this.limits, fanout: this.fanout, endpoint: () => this.endpoint, server: (id) => this.cachedServer(id) });
    this.endpoint = new SocketEndpoint<CatalystPeer>({ svc, path: this.path, limits: this.limits, log, protocol: this.protocol, ready: this.informer.waitForSync() });

    const mine = (s: GameServer) => (s.metadata.namespace ?? 'default') === svc.servers.namespace;
    const reg: HandlerRegistration = this.informer.addEventHandler({ onUpdate: (before, after) => mine(after) && this.protocol.onServerUpdate(before, after) });
    this.cleanups.push(() => reg.remove(), svc.reaper.register(this));
    const hub = svc.hub;
    if (hub) {
      const onConsole = (_node: string, uid: string, lines: ConsoleLine[]) => this.protocol.onConsole(uid, lines);
      const onStats = (_node: string, samples: StatsSample[]) => this.protocol.onStats(samples);
      hub.on('console', onConsole);
      hub.on('stats', onStats);
      this.cleanups.push(() => hub.off('console', onConsole), () => hub.off('stats', onStats));
    }
    const onAccess = (server: ServerKey, userId: string) => this.protocol.onAccessChanged(server, userId);
    svc.accounts.on('serverAccessChanged', onAccess);
    this.cleanups.push(() => svc.accounts.off('serverAccessChanged', onAccess));
  }

  /** A server as this endpoint's cache sees it (the cache every message is authorised against). */
  cachedServer(serverId: string): GameServer | undefined {
    return this.informer.getByName(this.svc.servers.namespace, serverId);
  }

  /** Open sockets (for tests and metrics). */
  get size(): number {
    return this.endpoint.size;
  }

  /** For the socket registry. Never rejects. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    return this.endpoint.handleUpgrade(req, socket, head);
  }

  knownServerUids(): string[] {
    return this.protocol.knownServerUids();
  }

  forgetServers(gone: readonly GoneServer[]): void {
    this.protocol.forgetServers(gone);
  }

  /** Closes every client socket (1001) and stops following the hub, the informer and the accounts. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const f of this.cleanups.splice(0)) f();
      await this.endpoint.close();
      this.fanout.close();
    })();
    return this.closed;
  }
}
