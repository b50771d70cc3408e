// `gantry up`: the embedded, all-in-one mode on this machine.
import { mkdir, chmod } from 'node:fs/promises';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { CrdRegistry } from '../../crds/registry.ts';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { EventRecorder, type EventSink } from '../../controller/events/recorder.ts';
import type { ResourceStore } from '../../controller/store/types.ts';
import type { SqlDb } from '../../controller/store/sql-db.ts';
import { ManifestSource } from '../../controller/sources/manifests.ts';
import { seedTemplates } from '../../controller/sources/seed.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { AgentHub } from '../../controller/hub/agent-hub.ts';
import { AGENT_CONNECT_PATH } from '../../agent/protocol.ts';
import { createServer as createHttpsServer } from 'node:https';
import { createApp } from '../../api/app.ts';
import { FACADES } from '../../api/facades.ts';
import { facadeApp } from '../../api/http/dialect.ts';
import type { KubeSettings } from '../../api/kube/app.ts';
import { LeaseStore } from '../../api/kube/lease-store.ts';
import { defaultTlsNames, loadOrCreateTls } from '../../api/http/tls.ts';
import { openApiServices } from '../../api/open.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { bootstrapAdmin } from '../../api/auth/bootstrap.ts';
import { SocketRegistry, type UpgradeHandler } from '../../api/ws/registry.ts';
import { rootLogger } from '../../lib/log.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';
import { LocalAgent } from './local-agent.ts';
import { untilSignal } from './signals.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import { addGameNodeController } from '../../controller/reconcilers/gamenode/reconciler.ts';
import { addGameServerController } from '../../controller/reconcilers/gameserver/reconciler.ts';
import { addBackupController } from '../../controller/reconcilers/backup/reconciler.ts';
import { addRestoreController } from '../../controller/reconcilers/restore/reconciler.ts';
import { addSchedulerController } from '../../controller/reconcilers/scheduler/reconciler.ts';
import { addTransferController } from '../../controller/reconcilers/transfer/reconciler.ts';
import { addScheduleController, type ScheduleController } from '../../controller/reconcilers/schedule/reconciler.ts';
import { MetricsHistory, type MetricsHistoryOptions } from '../../controller/metrics/history.ts';
import { AlertService } from '../../controller/alerts/service.ts';
import { SftpServer } from '../../api/sftp/server.ts';
import { ServerReaper } from '../../controller/lifecycle/server-reaper.ts';
import { Operations } from '../../controller/operations/index.ts';
import type { GameServer } from '../../crds/types.ts';
import { DatabaseService } from '../../controller/databases/service.ts';
import type { SecretBox } from '../../controller/databases/secret-box.ts';
import { ServerDatabases } from '../../controller/databases/cleanup.ts';
import { defaultWebRoot } from '../../api/web/static.ts';

export interface UpOptions {
  dataDir: string;
  manifestsDir?: string;
  /** ServerTemplates in this directory are created at start when missing (undefined = none). */
  seedDir?: string;
  port: number;
  host: string;
  /** The URL agents dial, when it is not the one operators' requests arrive on (a proxy, NAT). */
  publicUrl?: string;
  /** Run a local agent for this machine as a child process (GameNode `nodeName`, enrolled automatically). */
  localAgent?: { nodeName: string };
  /** Metrics history retention per tier (defaults: raw 1 h, 1-minute 24 h, 1-hour 30 days). */
  metricsRetention?: Partial<Pick<MetricsHistoryOptions, 'rawRetentionMs' | 'minuteRetentionMs' | 'hourRetentionMs'>>;
  /** Rate limits and body sizes of the API (defaults as Catalyst documents them). */
  apiLimits?: Partial<import('../../api/http/services.ts').ApiLimits>;
  /** SFTP port (the CLI defaults to 2022); 0 = a random port (tests); undefined, -1 or false = no SFTP. */
  sftpPort?: number | false;
  /** HTTPS port of the same API (the CLI defaults to 6443), where kubectl is pointed: client-go sends a
   *  token only over TLS. 0 = a random port (tests); undefined, -1 or false = none. */
  tlsPort?: number | false;
  /** When tlsPort is taken, listen on a free port instead (logged; `gantry kubeconfig` reads the port
   *  actually served), rather than failing: for the CLI's default port, never for one asked for. */
  tlsPortFallback?: boolean;
  /** Facades also served on a port of their own, at `/` (a client with hard-coded paths works): name → port (0 = any free one). */
  facadePorts?: Record<string, number>;
  /** Extra names and addresses for the HTTPS certificate (besides localhost, the host name and --host). */
  tlsNames?: string[];
  /** The built web panel served at `/` (default: the checkout's web/dist); false = no panel. */
  webDir?: string | false;
  /** Serve the store and the APIs over it (REST, /k8s) but run nothing that acts on it: no controllers,
   *  no alert evaluation, no local agent. What `gantry controller --kubeconfig` replicas use as their
   *  apiserver where there is no Kubernetes (tests, a trial). */
  storeOnly?: boolean;
  /** Changes the store keeps for watches from an older resourceVersion (SqliteStore historyLimit; tests). */
  storeHistoryLimit?: number;
}

/** Everything a Gantry process runs, started; `stop()` shuts it down in order. */
export interface Gantry<S extends ResourceStore = ResourceStore> {
  url: string;
  port: number;
  dataDir: string;
  store: S;
  registry: CrdRegistry;
  events: EventSink;
  nodes: NodeEnrollment;
  hub: AgentHub;
  /** The manifests directory watcher (embedded mode only). */
  manifests?: ManifestSource;
  localAgent?: LocalAgent;
  manager: Manager;
  api: ApiServices;
  /** The Schedule controller (runs in progress, for the API); none when storeOnly. */
  schedules?: ScheduleController;
  /** Stats and health history (DATA_DIR/metrics.db). */
  metrics: MetricsHistory;
  /** Fired alerts: list/get/resolve/bulkResolve/stats; none when storeOnly. */
  alerts?: AlertService;
  /** Database hosts and server databases. */
  databases: DatabaseService;
  /** The SFTP server (api/sftp/), when sftpPort asked for one; `sftp.port` is the bound port. */
  sftp?: SftpServer;
  /** Drops per-server state (grants, console buffers, metrics, alerts, sockets) when a server goes. */
  reaper: ServerReaper;
  /** The facades on ports of their own (UpOptions.facadePorts): name → url. */
  facadeUrls: Record<string, string>;
  /** The HTTPS listener of the API (kubectl's endpoint is `${tls.url}/k8s`), when tlsPort asked for one. */
  tls?: { url: string; port: number; ca: string };
  stop(): Promise<void>;
}

/** `gantry up`: the store is SQLite in the data dir, and the manifests directory is watched. */
export interface Embedded extends Gantry<SqliteStore> {
  events: EventRecorder;
  manifests: ManifestSource;
}

/** What startGantry runs on: the store and the database of what is not resources, opened by the caller. */
export interface GantryParts<S extends ResourceStore> {
  dataDir: string;
  registry: CrdRegistry;
  store: S;
  db: SqlDb;
  events: EventSink;
  /** Watch this directory of manifests (embedded mode); undefined: none. */
  manifestsDir?: string;
  /** Serve coordination.k8s.io Leases at /k8s (when this process is the apiserver). */
  leases?: LeaseStore;
  /** The token-signing secret; default: DATA_DIR/secret (generated on first start). */
  secret?: Uint8Array;
  /** Seals server databases' passwords; default: DATA_DIR/database-secrets.key. Replicas must share it. */
  databaseSecrets?: SecretBox;
  /** The informers' bookmark interval (a watch silent for three is taken for dropped); default 30 s. */
  bookmarkIntervalMs?: number;
  /** Closes what the caller opened, after everything else stopped. */
  close(): Promise<void>;
}

export async function startEmbedded(opts: UpOptions): Promise<Embedded> {
  // Refused before anything is opened.
  for (const name of Object.keys(opts.facadePorts ?? {})) {
    if (!FACADES.some((f) => f.name === name)) throw new Error(`--facade-port: no facade "${name}" (known: ${FACADES.map((f) => f.name).join(', ')})`);
  }
  const log = rootLogger.child({ component: 'up' });
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  const registry = await CrdRegistry.load();
  const db = await SqliteDb.open(path.join(dataDir, 'gantry.db'));
  const store = await SqliteStore.open({ db, schema: registry, historyLimit: opts.storeHistoryLimit, log: rootLogger.child({ component: 'store' }) });
  const events = await EventRecorder.open({ db, component: 'gantry' });
  if (opts.seedDir) await seedTemplates(store, path.resolve(opts.seedDir), log);
  const g = await startGantry(opts, {
    dataDir,
    registry,
    store,
    db,
    events,
    manifestsDir: path.resolve(opts.manifestsDir ?? path.join(dataDir, 'manifests')),
    leases: await LeaseStore.open(db),
    close: async () => {
      await store.close();
      await db.close();
    },
  });
  return { ...g, events, manifests: g.manifests! };
}

/** The controllers, the agent hub, the APIs and their listeners over a store someone opened. */
export async function startGantry<S extends ResourceStore>(opts: UpOptions, parts: GantryParts<S>): Promise<Gantry<S>> {
  const log = rootLogger.child({ component: 'up' });
  const { dataDir, registry, store, db, events } = parts;
  let manifests: ManifestSource | undefined;
  if (parts.manifestsDir) {
    await mkdir(parts.manifestsDir, { recursive: true });
    manifests = new ManifestSource({ dir: parts.manifestsDir, store, registry, events, log: rootLogger });
    await manifests.start();
  }

  const nodes = await NodeEnrollment.open({ db, store, log: rootLogger.child({ component: 'enrollment' }) });
  await nodes.start();
  const hub = new AgentHub({ auth: nodes, store, log: rootLogger.child({ component: 'agent-hub' }) });

  // The controllers: informers over the store, work queues, reconcilers.
  const manager = new Manager({ store, log: rootLogger.child({ component: 'controller' }), bookmarkIntervalMs: parts.bookmarkIntervalMs });
  // Per-server state dies with its server, whichever way it was deleted (controller/lifecycle/).
  const reaper = new ServerReaper({ store, informer: manager.informer<GameServer>('GameServer'), log: rootLogger });
  // The operations layer (rules, spec edits, waits on the shared informers): the API's facades and the
  // schedule steps use the same one.
  const ops = new Operations({ store, informers: manager, hub, reaper });
  const schedules = opts.storeOnly ? undefined : addControllers(manager, { store, hub, events, operations: ops });
  // Metrics in their own SQLite file, so a flood of samples never queues behind resource writes.
  const metrics = await MetricsHistory.open({ path: path.join(dataDir, 'metrics.db'), ...opts.metricsRetention, log: rootLogger.child({ component: 'metrics' }) });
  hub.on('stats', (_node, samples) => metrics.recordServerStats(samples));
  hub.on('health', (node, health) => metrics.recordNodeHealth(node, health));
  const alerts = opts.storeOnly ? undefined : await AlertService.open({ db, store, manager, hub, events, log: rootLogger.child({ component: 'alerts' }) });
  // Server databases: hosts and records in the main database, passwords sealed with DATA_DIR/database-secrets.key.
  const databases = await DatabaseService.open({ db, dataDir, box: parts.databaseSecrets, log: rootLogger.child({ component: 'databases' }) });
  for (const state of [hub, metrics, alerts, new ServerDatabases({ service: databases, events, log: rootLogger.child({ component: 'databases' }) })]) if (state) reaper.register(state);
  reaper.start();
  await manager.start();

  const apiLog = rootLogger.child({ component: 'api' });
  const api = await openApiServices({ db, dataDir, secret: parts.secret, store, registry, events, hub, nodes, metrics, alerts, databases, publicUrl: opts.publicUrl, log: apiLog, limits: opts.apiLimits, informers: manager, reaper, ops });
  await bootstrapAdmin(api.accounts, process.env, apiLog);
  // WebSocket endpoints by path: the agent hub's, and every facade's own sockets (api/ws/registry.ts).
  const sockets = new SocketRegistry();
  sockets.register(AGENT_CONNECT_PATH, hub, 'agent hub');
  const facadeSockets = new Map<string, { path: string; handler: UpgradeHandler & { close(): Promise<void> } }[]>();
  for (const facade of FACADES) {
    const opened = (facade.sockets ?? []).map((s) => ({ path: s.path, handler: s.open(api, rootLogger.child({ component: `${facade.name}-ws` })) }));
    for (const s of opened) sockets.register(facade.mount + s.path, s.handler, facade.name);
    facadeSockets.set(facade.name, opened);
  }
  const kube: KubeSettings = { leases: parts.leases };
  const webRoot = opts.webDir === false ? undefined : opts.webDir ? path.resolve(opts.webDir) : await defaultWebRoot();
  const app = createApp({ store, registry, events, nodes, metrics: manager.metrics, publicUrl: opts.publicUrl, log: apiLog, api, kube, webRoot });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, () => resolve(s));
    s.once('error', (err) => reject(new Error(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`)));
  });
  server.on('upgrade', (req, socket, head) => sockets.handleUpgrade(req, socket, head));
  const address = server.address() as AddressInfo;
  const url = `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${address.port}`;
  let tlsServer: ServerType | undefined;
  let tls: Gantry['tls'];
  if (opts.tlsPort !== undefined && opts.tlsPort !== false && opts.tlsPort >= 0) {
    const material = await loadOrCreateTls(dataDir, defaultTlsNames(opts.host, opts.tlsNames));
    const listenTls = (port: number) => new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port, hostname: opts.host, createServer: createHttpsServer, serverOptions: { key: material.key, cert: material.cert } }, () => resolve(s));
      s.once('error', (err) => reject(Object.assign(new Error(`cannot listen on ${opts.host}:${port} (HTTPS): ${err.message}`), { code: (err as NodeJS.ErrnoException).code })));
    });
    try {
      tlsServer = await listenTls(opts.tlsPort);
    } catch (err) {
      if (!opts.tlsPortFallback || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      log.warn('the HTTPS port is taken; serving HTTPS on a free port instead (gantry kubeconfig finds it)', { port: opts.tlsPort });
      tlsServer = await listenTls(0);
    }
    // The same sockets over TLS (wss://).
    tlsServer.on('upgrade', (req, socket, head) => sockets.handleUpgrade(req, socket, head));
    const tlsPort = (tlsServer.address() as AddressInfo).port;
    tls = { url: `https://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${tlsPort}`, port: tlsPort, ca: material.ca };
    kube.tlsPort = tlsPort;
    kube.ca = material.ca;
  }
  // Facades on ports of their own: the facade's sub-app alone, at `/`.
  const facadeServers: ServerType[] = [];
  const facadeUrls: Record<string, string> = {};
  for (const [name, port] of Object.entries(opts.facadePorts ?? {})) {
    const facade = FACADES.find((f) => f.name === name)!;
    const s: ServerType = await new Promise((resolve, reject) => {
      const srv = serve({ fetch: facadeApp(facade, api, '').fetch, port, hostname: opts.host }, () => resolve(srv));
      srv.once('error', (err) => reject(new Error(`cannot listen on ${opts.host}:${port} for facade ${name}: ${err.message}`)));
    });
    // Its sockets at their own paths there too (the same endpoints: one set of limits and subscriptions).
    const own = new SocketRegistry();
    for (const sock of facadeSockets.get(name) ?? []) own.register(sock.path, sock.handler, name);
    s.on('upgrade', (req, socket, head) => own.handleUpgrade(req, socket, head));
    facadeServers.push(s);
    facadeUrls[name] = `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${(s.address() as AddressInfo).port}`;
  }
  // Before "gantry is up": whoever waits for that line may use SFTP (or stop us) right after it.
  let sftp: SftpServer | undefined;
  if (opts.sftpPort !== undefined && opts.sftpPort !== false && opts.sftpPort >= 0) {
    sftp = new SftpServer({ svc: api, dataDir, log: rootLogger.child({ component: 'sftp' }) });
    await sftp.start({ port: opts.sftpPort, host: opts.host });
  }
  log.info('gantry is up', {
    version: GANTRY_VERSION,
    url,
    port: address.port,
    dataDir,
    database: db.path,
    ...(manifests ? { manifests: manifests.dir } : {}),
    ...(webRoot ? { web: webRoot } : {}),
    kinds: registry.kinds().map((k) => k.kind),
    ...(sftp ? { sftpPort: sftp.port } : {}),
    ...(tls ? { tlsUrl: tls.url, kubernetes: `${tls.url}/k8s` } : {}),
    ...(facadeServers.length ? { facades: facadeUrls } : {}),
  });

  let localAgent: LocalAgent | undefined;
  if (opts.localAgent && !opts.storeOnly) {
    localAgent = new LocalAgent({
      panelUrl: url,
      dataDir: path.join(dataDir, 'agent'),
      nodeName: opts.localAgent.nodeName,
      store,
      nodes,
      log: rootLogger.child({ component: 'local-agent' }),
    });
    await localAgent.start();
  }

  const stop = async () => {
    await sftp?.stop();
    await localAgent?.stop();
    await schedules?.stop();
    await reaper.stop();
    await manager.stop();
    // Stop intake first (agents, HTTP, files), then close the database once nothing can write.
    // The hub goes first: upgraded sockets would keep server.close() waiting, and it writes
    // the nodes' Offline status on the way out.
    for (const opened of facadeSockets.values()) for (const s of opened) await s.handler.close();
    await hub.close();
    nodes.stop();
    for (const s of [server, tlsServer, ...facadeServers]) {
      if (!s) continue;
      await new Promise<void>((r) => {
        s.close(() => r());
        (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    }
    await alerts?.close();
    await metrics.close();
    await manifests?.stop();
    await parts.close();
  };
  return { url, port: address.port, dataDir, store, registry, events, nodes, hub, manifests, localAgent, manager, api, schedules, metrics, alerts, databases, sftp, reaper, tls, facadeUrls, stop };
}

/** The reconcilers of every kind on one manager; returns the Schedule controller (runs in progress). */
export function addControllers(manager: Manager, deps: { store: ResourceStore; hub: AgentHub; events: EventSink; operations: Operations }): ScheduleController {
  const { store, hub, events } = deps;
  const controllerLog = (name: string) => rootLogger.child({ component: `${name}-controller` });
  addSchedulerController(manager, { store, hub, events, log: controllerLog('scheduler') });
  const gameservers = addGameServerController(manager, { store, hub, events, log: controllerLog('gameserver') });
  addTransferController(manager, { store, hub, events, log: controllerLog('transfer') });
  addGameNodeController(manager, { store, hub, events, log: controllerLog('gamenode'), onServersChanged: (keys) => keys.forEach((k) => gameservers.enqueue(k)) });
  addBackupController(manager, { store, hub, events, log: controllerLog('backup') });
  addRestoreController(manager, { store, hub, events, log: controllerLog('restore') });
  return addScheduleController(manager, {
    store,
    operations: deps.operations,
    events,
    log: controllerLog('schedule'),
    sendCommand: async (node, uid, line) => {
      await hub.call(node, 'sendCommand', { uid, line });
    },
  });
}

/** Runs until SIGINT/SIGTERM; resolves with the exit code after a clean shutdown. */
export async function up(opts: UpOptions): Promise<number> {
  const embedded = await startEmbedded(opts);
  return untilSignal(rootLogger.child({ component: 'up' }), () => embedded.stop());
}
