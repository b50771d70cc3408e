// The node agent: DockerRuntime + EventWatcher + StatsSampler + HealthReporter + the controller
// connection, wired together.
//
//   start: wait for dockerd → adopt the labelled containers as they are (running ones keep running,
//          their consoles are re-attached) → follow Docker events → dial the controller.
//   dockerd restarted (the event stream reconnected): adopt again (consoles re-attached), and a full
//          snapshot goes to the controller.
//   stop:  close the socket, stop sampling and watching, detach the consoles; containers keep running.
//
// Data layout under DATA_DIR: credential.json (bin/commands/agent.ts), servers/ (every server's data dir
// must lie inside it: agent/rpc-handlers.ts resolveDataDir), work/ (install scripts staged for bind mounts),
// backups/ (archives, restore outcomes), transfers/ (records of data received from other nodes).

import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Docker from './runtime/docker-client.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { GANTRY_VERSION } from '../lib/version.ts';
import { AgentConnection, backoffDelay, type ConnectionOptions, type Rejection } from './connection.ts';
import type { WelcomeMessage } from './protocol.ts';
import { RpcDispatcher, createRuntimeHandlers } from './rpc-handlers.ts';
import { DEFAULT_THROTTLE, type ServerConsole, type ThrottleOptions } from './runtime/console.ts';
import { DockerRuntime } from './runtime/docker-runtime.ts';
import { EventWatcher, type ObservedContainer } from './runtime/events.ts';
import { HealthReporter } from './runtime/health.ts';
import { StatsSampler, targetsFromObserved } from './runtime/stats.ts';
import { PlayerPoller, type QueryFn } from './runtime/players.ts';
import { ByteStreams } from '../lib/byte-streams.ts';
import { createFileHandlers } from './files/handlers.ts';
import type { ArchiveLimits } from './files/archive.ts';
import { LABEL_DATA_DIR } from './runtime/spec.ts';
import { recoverBackupState } from './backups/manager.ts';
import { recoverTransferState } from './transfers/manager.ts';

export type ConnectionTuning = Pick<
  ConnectionOptions,
  'backoff' | 'random' | 'heartbeatIntervalMs' | 'handshakeTimeoutMs' | 'healthEveryHeartbeats' | 'consoleBatchMs' | 'consoleBufferLines' | 'maxBufferedBytes' | 'stableMs'
>;

export interface AgentOptions {
  /** The controller's base URL (http:// or https://). */
  panel: string;
  credential: string;
  /** The agent's data dir (absolute or relative to the cwd). */
  dataDir: string;
  docker?: Docker;
  log?: Logger;
  /** Labels put on every container and scoping what this agent lists and adopts (tests: gantry.test=1). */
  scopeLabels?: Record<string, string>;
  /** This agent's GameNode (from its credential): its containers carry `gantry.dev/node` and it touches
   *  no other agent's containers on a shared Docker engine (runtime/scope.ts). */
  nodeName?: string;
  /** Container name prefix (default `gantry`). */
  namePrefix?: string;
  connection?: ConnectionTuning;
  /** Stats interval until the controller sets one (default 5 s). */
  statsIntervalMs?: number;
  /** Console throttle until the controller sets one (default: 2000 lines/s per server). */
  consoleThrottle?: ThrottleOptions | false;
  /** File manager limits: upload size (default 100 MiB), decompression (agent/files/archive.ts). */
  files?: { maxUploadBytes?: number; archiveLimits?: Partial<ArchiveLimits> };
  /** Player queries (agent/runtime/players.ts): queries in flight at most (default 8), tick (default 1 s). */
  players?: { concurrency?: number; tickMs?: number; query?: QueryFn };
}

export interface AgentEvents {
  rejected: [Rejection];
  ready: [WelcomeMessage];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly dataDir: string;
  readonly serversRoot: string;
  readonly docker: Docker;
  readonly runtime: DockerRuntime;
  readonly watcher: EventWatcher;
  readonly sampler: StatsSampler;
  readonly health: HealthReporter;
  readonly players: PlayerPoller;
  readonly connection: AgentConnection;
  readonly rpc: RpcDispatcher;
  /** File upload/download streams over the controller connection. */
  readonly streams: ByteStreams;
  private readonly log: Logger;
  private readonly consoles = new Map<string, ServerConsole>();
  private readonly attaching = new Set<string>();
  private readonly installing = new Map<string, number>();
  private throttle: ThrottleOptions | false;
  private statsTimer: NodeJS.Timeout | undefined;
  private statsIntervalMs: number;
  private sampling = false;
  private started = false;
  private stopped = false;
  private watcherConnects = 0;
  private readonly stopSignal = new AbortController();

  constructor(private readonly opts: AgentOptions) {
    super();
    this.log = opts.log ?? createLogger({ component: 'agent' });
    this.dataDir = path.resolve(opts.dataDir);
    this.serversRoot = path.join(this.dataDir, 'servers');
    this.docker = opts.docker ?? new Docker();
    this.throttle = opts.consoleThrottle ?? DEFAULT_THROTTLE;
    this.statsIntervalMs = opts.statsIntervalMs ?? 5000;
    const scope = opts.scopeLabels ?? {};
    this.runtime = new DockerRuntime({
      docker: this.docker,
      log: this.log.child({ component: 'agent.runtime' }),
      policy: { extraLabels: scope, ...(opts.nodeName ? { nodeName: opts.nodeName } : {}), ...(opts.namePrefix ? { namePrefix: opts.namePrefix } : {}) },
      console: { throttle: this.throttle },
      dataRoot: this.serversRoot,
      workDir: path.join(this.dataDir, 'work'),
    });
    this.watcher = new EventWatcher({ docker: this.docker, scope: this.runtime.scope, log: this.log.child({ component: 'agent.events' }) });
    this.sampler = new StatsSampler({ docker: this.docker, targets: () => targetsFromObserved(this.watcher.current.values()), onSample: () => {}, log: this.log.child({ component: 'agent.stats' }) });
    this.health = new HealthReporter({ docker: this.docker, dataRoot: this.dataDir, scope: this.runtime.scope });
    this.players = new PlayerPoller({
      ...opts.players,
      targets: () => [...this.watcher.current.values()].filter((o) => o.state === 'running'),
      onChange: (samples) => this.connection.sendPlayers(samples),
      log: this.log.child({ component: 'agent.players' }),
    });
    this.streams = new ByteStreams({
      control: (msg) => this.connection.sendStreamControl(msg),
      data: (frame, written) => this.connection.sendStreamData(frame, written),
    });
    this.rpc = new RpcDispatcher({
      log: this.log.child({ component: 'agent.rpc' }),
      handlers: {
        ...createFileHandlers({
          serversRoot: this.serversRoot,
          dataDirOf: async (uid) => (this.watcher.current.get(uid) ?? (await this.runtime.inspect(uid)))?.labels?.[LABEL_DATA_DIR],
          streams: this.streams,
          maxUploadBytes: opts.files?.maxUploadBytes,
          archiveLimits: opts.files?.archiveLimits,
          log: this.log.child({ component: 'agent.files' }),
        }),
        ...createRuntimeHandlers({
        runtime: this.runtime,
        streams: this.streams,
        serversRoot: this.serversRoot,
        log: this.log.child({ component: 'agent.rpc' }),
        touch: (uid) => this.consoleOf(uid),
        onInstall: (uid, running) => {
          const n = (this.installing.get(uid) ?? 0) + (running ? 1 : -1);
          if (n > 0) this.installing.set(uid, n);
          else this.installing.delete(uid);
        },
        }),
      },
    });
    this.connection = new AgentConnection({
      ...opts.connection,
      panel: opts.panel,
      credential: opts.credential,
      agentVersion: GANTRY_VERSION,
      log: this.log.child({ component: 'agent.connection' }),
      health: () => this.health.report(),
      onRequest: (req) => this.rpc.dispatch(req),
      onStreamData: (frame) => this.streams.onData(frame),
      onStreamControl: (msg) => this.streams.onControl(msg),
    });
    this.connection.on('disconnected', ({ reason }) => this.streams.closeAll(`controller connection lost: ${reason}`));
    this.connection.on('welcome', (w) => this.applySettings(w));
    this.connection.on('ready', (w) => {
      // a new connection (or controller) knows nothing yet: the full picture, then changes
      this.connection.sendPlayers(this.players.current());
      this.emit('ready', w);
    });
    this.connection.on('rejected', (r) => {
      this.streams.closeAll(`controller refused this agent: ${r.message}`);
      this.emit('rejected', r);
    });
    this.watcher.on('state', (s) => this.onState(s));
    this.watcher.on('connected', () => this.onWatcherConnected());
  }

  /** Waits for dockerd, adopts, watches, dials the controller. Resolves once the controller is being dialled. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await mkdir(this.serversRoot, { recursive: true });
    await mkdir(path.join(this.dataDir, 'work'), { recursive: true });
    // Before any request: undo or finish what a killed backup/restore left (partial archives, a swap).
    await recoverBackupState({ serversRoot: this.serversRoot, backupsRoot: path.join(this.dataDir, 'backups'), log: this.log.child({ component: 'agent.backups' }) });
    await recoverTransferState({ serversRoot: this.serversRoot, transfersRoot: path.join(this.dataDir, 'transfers'), log: this.log.child({ component: 'agent.transfers' }) });
    await this.waitForDocker();
    if (this.stopped) return;
    const adopted = await this.runtime.adopt();
    if (this.stopped) {
      this.runtime.close(); // stop() ran while adopting: drop the consoles adopt() just attached
      return;
    }
    for (const o of adopted) this.consoleOf(o.uid);
    this.connection.setContainers(adopted);
    this.log.info('adopted existing containers as they are (none restarted)', {
      count: adopted.length,
      running: adopted.filter((o) => o.state === 'running').map((o) => `${o.namespace}/${o.name}`),
    });
    await this.watcher.start();
    if (this.stopped) {
      this.watcher.stop();
      return;
    }
    this.connection.start();
    this.players.start();
    this.log.info('agent started', { version: GANTRY_VERSION, panel: this.opts.panel, url: this.connection.url, dataDir: this.dataDir });
  }

  /** Replaces the credential (after a re-enrolment) and reconnects. */
  setCredential(credential: string): void {
    this.connection.setCredential(credential);
  }

  /** Clean shutdown: the socket, the sampler and the watcher stop; every container keeps running. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopSignal.abort();
    this.connection.close();
    this.streams.closeAll('agent shutting down');
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    this.sampler.stop();
    this.players.stop();
    this.watcher.stop();
    const running = [...this.watcher.current.values()].filter((o) => o.state === 'running');
    if (this.rpc.pending > 0) {
      // Their answers cannot be delivered any more; let them finish briefly so Docker is not left mid-call.
      this.log.info('waiting briefly for requests in flight', { pending: this.rpc.pending });
      await Promise.race([this.rpc.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    this.runtime.close();
    // A request that finishes later may attach a console again: detach it then too (no stream left open).
    void this.rpc.idle().then(() => this.runtime.close());
    this.log.info('agent stopped; containers left running', { running: running.length, servers: running.map((o) => `${o.namespace}/${o.name}`) });
  }

  /** The console of a server, subscribed to the connection (once per console object) with the current throttle. */
  consoleOf(uid: string): ServerConsole {
    const c = this.runtime.console(uid);
    if (this.consoles.get(uid) !== c) {
      this.consoles.set(uid, c);
      c.setThrottle(this.throttle);
      c.onLine((l) => this.connection.console(uid, { stream: l.stream, line: l.line, ts: l.time }));
    }
    return c;
  }

  private async waitForDocker(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.docker.ping();
        if (attempt > 0) this.log.info('docker is reachable');
        return;
      } catch (err) {
        const delayMs = Math.max(250, backoffDelay(attempt, { initialMs: 1000, maxMs: 15_000 }));
        this.log.warn('docker is not reachable; waiting for it before adopting containers', { err, delayMs });
        await new Promise<void>((r) => {
          const t = setTimeout(r, delayMs);
          this.stopSignal.signal.addEventListener('abort', () => {
            clearTimeout(t);
            r();
          }, { once: true });
        });
      }
    }
  }

  private onState(s: ObservedContainer): void {
    if (this.stopped) return;
    this.connection.sendContainer(s);
    if (s.state === 'removed') {
      this.consoles.delete(s.uid);
      return;
    }
    const c = this.consoleOf(s.uid);
    // Started outside the agent (or the stream broke): attach so the output is not lost from here on.
    if (s.state === 'running' && !c.attached && !this.attaching.has(s.uid)) {
      this.attaching.add(s.uid);
      this.runtime
        .attach(s.uid)
        .then(() => {
          if (this.stopped) this.runtime.close(); // stop() ran meanwhile: never leave a stream open
        })
        .catch((err) => this.log.warn('could not attach the console of a running container', { uid: s.uid, err }))
        .finally(() => this.attaching.delete(s.uid));
    }
  }

  /** dockerd came back (or its event stream did): re-adopt and send a full snapshot. */
  private onWatcherConnected(): void {
    this.watcherConnects++;
    if (this.watcherConnects === 1 || this.stopped) return;
    void (async () => {
      try {
        if (this.installing.size === 0) {
          const adopted = await this.runtime.adopt();
          for (const o of adopted) this.consoleOf(o.uid);
        } else {
          // adopt() removes leftover install containers: not while an install is running. Re-attach only.
          for (const o of this.watcher.current.values()) {
            if (o.state === 'running' && !this.consoleOf(o.uid).attached) await this.runtime.attach(o.uid).catch(() => {});
          }
        }
      } catch (err) {
        this.log.warn('re-adopting containers after docker reconnected failed', { err });
      }
      if (this.stopped) {
        this.runtime.close();
        return;
      }
      const list = [...this.watcher.current.values()].filter((o) => o.state !== 'removed');
      this.log.info('docker event stream reconnected; resynced', { containers: list.length });
      this.connection.sendSnapshot(list);
    })();
  }

  private applySettings(w: WelcomeMessage): void {
    const throttle: ThrottleOptions | false = w.consoleThrottle === false ? false : { maxLines: w.consoleThrottle.lines, intervalMs: w.consoleThrottle.intervalMs };
    if (JSON.stringify(throttle) !== JSON.stringify(this.throttle)) {
      this.throttle = throttle;
      for (const c of this.consoles.values()) c.setThrottle(throttle);
    }
    if (w.statsIntervalMs !== this.statsIntervalMs || !this.statsTimer) {
      this.statsIntervalMs = w.statsIntervalMs;
      this.startStats();
    }
  }

  private startStats(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => void this.sampleOnce(), this.statsIntervalMs);
    this.statsTimer.unref?.();
  }

  /** One round of samples of every running container, sent as one `stats` message (skipped while disconnected). */
  private async sampleOnce(): Promise<void> {
    if (this.sampling || !this.connection.ready) return;
    this.sampling = true;
    try {
      const samples = await this.sampler.sampleAll();
      this.connection.sendStats(samples);
    } catch (err) {
      this.log.debug('stats round failed', { err });
    } finally {
      this.sampling = false;
    }
  }
}
