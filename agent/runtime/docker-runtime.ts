// The agent's Docker runtime: the only code in Gantry that talks to Docker (dockerode).
//
// Containers are found by their labels (server uid, role, the policy's extra labels, and the node
// label: scope.ts), never by a name alone, so an agent that restarts finds — and adopts — what it
// created, and an agent sharing the Docker engine with another never touches the other's containers.
// Lifecycle operations of one server are serialised (a start never interleaves with a stop); kill
// and console commands bypass that queue on purpose (kill is the escape hatch of a hanging stop).

import { mkdir, mkdtemp, realpath, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Docker from './docker-client.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { LineSplitter, ServerConsole, type ConsoleOptions, type ConsoleStream, type Demux } from './console.ts';
import { observeFromInspect, type ObservedContainer } from './events.ts';
import {
  DEFAULT_POLICY,
  LABEL_DATA_DIR,
  LABEL_DISK_MB,
  LABEL_SPEC_HASH,
  normaliseSignal,
  stopFromLabels,
  toCreateOptions,
  toInstallCreateOptions,
  type ContainerSpec,
  type InstallSpec,
  type RuntimePolicy,
  type StopSpec,
} from './spec.ts';
import { diskUsage, isOverDiskLimit, type DiskUsage } from './stats.ts';
import { ContainerScope } from './scope.ts';

export interface PullProgress {
  image: string;
  status: string;
  layer?: string;
  /** Bytes downloaded / to download over the layers seen so far (when Docker reports them). */
  downloadedBytes: number;
  totalBytes: number;
}

export class ImageUnavailableError extends Error {
  override readonly name = 'ImageUnavailableError';
  constructor(readonly image: string, readonly reason: string) {
    super(`image "${image}" is not present on this node and could not be pulled: ${reason}`);
  }
}

export class ServerNotFoundError extends Error {
  override readonly name = 'ServerNotFoundError';
  constructor(readonly uid: string) {
    super(`no container for server ${uid} on this node`);
  }
}

export class DiskLimitError extends Error {
  override readonly name = 'DiskLimitError';
  constructor(readonly uid: string, readonly usedBytes: number, readonly limitBytes: number) {
    super(`server ${uid} uses ${mib(usedBytes)} MiB of disk, over its limit of ${mib(limitBytes)} MiB: refusing to start (free some space or raise diskMb)`);
  }
}

const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);

export interface StopResult {
  exitCode: number | undefined;
  /** The graceful stop timed out and the container was SIGKILLed. */
  killed: boolean;
  /** It was not running in the first place. */
  alreadyStopped: boolean;
}

export interface InstallResult {
  exitCode: number;
  timedOut: boolean;
  durationMs: number;
}

export interface DockerRuntimeOptions {
  docker?: Docker;
  log?: Logger;
  policy?: Partial<RuntimePolicy>;
  console?: Omit<ConsoleOptions, 'log'>;
  /** Root of the servers' data dirs: `remove({removeData})` deletes only dirs strictly inside it. */
  dataRoot?: string;
  /** Where install scripts are staged (a host dir dockerd can bind-mount; default the OS temp dir). */
  workDir?: string;
  /** Give up a pull after this long (default 30 min) ... */
  pullTimeoutMs?: number;
  /** ... or once Docker reported nothing for this long (default 2 min): an unreachable registry must not hang a create. */
  pullStallMs?: number;
  /** Disk walks before a start stop after this many entries (default 200k). */
  diskMaxEntries?: number;
}

interface DockerError {
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}
const statusOf = (e: unknown): number | undefined => (e as DockerError)?.statusCode;
const messageOf = (e: unknown): string => (e as DockerError)?.json?.message ?? (e as Error)?.message ?? String(e);

export class DockerRuntime {
  readonly docker: Docker;
  readonly policy: RuntimePolicy;
  private readonly log: Logger;
  private readonly consoles = new Map<string, ServerConsole>();
  private readonly ids = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly demux: Demux;
  /** Which containers on the engine are this agent's. */
  readonly scope: ContainerScope;

  constructor(private readonly opts: DockerRuntimeOptions = {}) {
    this.docker = opts.docker ?? new Docker();
    this.policy = { ...DEFAULT_POLICY, ...opts.policy, extraLabels: { ...DEFAULT_POLICY.extraLabels, ...opts.policy?.extraLabels } };
    this.log = opts.log ?? createLogger({ component: 'agent.runtime' });
    this.demux = (s, out, err) => this.docker.modem.demuxStream(s, out, err);
    this.scope = new ContainerScope({ nodeName: this.policy.nodeName, extraLabels: this.policy.extraLabels, dataRoot: opts.dataRoot });
  }

  /** This agent's containers of a role (optionally of one server): listed by label, kept when owned (scope.ts). */
  private async own(role: 'server' | 'install' = 'server', uid?: string): Promise<Docker.ContainerInfo[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: this.scope.filters(role, uid) } });
    return list.filter((c) => this.scope.owns(c));
  }

  // ---- console ---------------------------------------------------------------------------------

  /** The server's console (created on first use; lives across container restarts). */
  console(uid: string): ServerConsole {
    let c = this.consoles.get(uid);
    if (!c) {
      c = new ServerConsole(uid, { ...this.opts.console, log: this.log });
      this.consoles.set(uid, c);
    }
    return c;
  }

  /** Writes one command line to the server's stdin. */
  async sendCommand(uid: string, line: string): Promise<void> {
    const c = this.console(uid);
    if (!c.attached) {
      const { info } = await this.inspectServer(uid);
      if (!info.State.Running) throw new Error(`server ${uid} is not running: cannot send a console command`);
      await this.attach(uid);
    }
    c.send(line);
  }

  /**
   * Attaches the console to the server's container (stdin, stdout, stderr) unless it already is.
   * Safe on a created or exited container: output from its next start is captured from the first byte.
   */
  async attach(uid: string): Promise<void> {
    const c = this.console(uid);
    if (c.attached) return;
    const container = this.docker.getContainer(await this.containerId(uid));
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    c.attachStream(stream, this.demux);
  }

  // ---- images ----------------------------------------------------------------------------------

  /** Present → nothing to do; absent → pulled, with progress. Throws ImageUnavailableError. */
  async ensureImage(image: string, onProgress?: (p: PullProgress) => void): Promise<{ pulled: boolean }> {
    try {
      await this.docker.getImage(image).inspect();
      return { pulled: false };
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    this.log.info('pulling image', { image });
    const layers = new Map<string, { current: number; total: number }>();
    const controller = new AbortController();
    let why = 'pull timed out';
    const timer = setTimeout(() => controller.abort(), this.opts.pullTimeoutMs ?? 30 * 60_000);
    const stallMs = this.opts.pullStallMs ?? 120_000;
    let stall: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        why = `the pull made no progress for ${Math.round(stallMs / 1000)} s`;
        controller.abort();
      }, stallMs);
    };
    alive();
    try {
      const stream = await this.docker.pull(image, { abortSignal: controller.signal });
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (ev: { status?: string; id?: string; progressDetail?: { current?: number; total?: number }; error?: string }) => {
            alive();
            if (ev.error) return;
            if (ev.id && ev.progressDetail?.total) layers.set(ev.id, { current: ev.progressDetail.current ?? 0, total: ev.progressDetail.total });
            let downloadedBytes = 0;
            let totalBytes = 0;
            for (const l of layers.values()) {
              downloadedBytes += l.current;
              totalBytes += l.total;
            }
            onProgress?.({ image, status: ev.status ?? '', layer: ev.id, downloadedBytes, totalBytes });
          },
        );
      });
    } catch (err) {
      throw new ImageUnavailableError(image, controller.signal.aborted ? why : messageOf(err));
    } finally {
      clearTimeout(timer);
      clearTimeout(stall);
    }
    // A pull that "succeeds" without producing the image (e.g. a platform mismatch) is still a failure.
    try {
      await this.docker.getImage(image).inspect();
    } catch (err) {
      throw new ImageUnavailableError(image, `pull finished but the image is missing: ${messageOf(err)}`);
    }
    return { pulled: true };
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * Creates the server's container (idempotent): an existing container with the same spec hash is
   * kept; one with another hash is replaced when stopped (a running one is an error: stop it first).
   * The console is attached before this returns, so the first boot line of the next start is captured.
   */
  async create(spec: ContainerSpec, opts: { onPullProgress?: (p: PullProgress) => void } = {}): Promise<{ containerId: string; created: boolean }> {
    const createOpts = toCreateOptions(spec, this.policy);
    return this.locked(spec.serverUid, async () => {
      const existing = await this.findContainer(spec.serverUid);
      if (existing) {
        const hash = existing.Labels?.[LABEL_SPEC_HASH];
        if (hash === createOpts.Labels![LABEL_SPEC_HASH]) {
          this.ids.set(spec.serverUid, existing.Id);
          await this.attach(spec.serverUid);
          return { containerId: existing.Id, created: false };
        }
        if (existing.State === 'running' || existing.State === 'restarting' || existing.State === 'paused') {
          throw new Error(`server ${spec.serverUid}: its container runs with another spec; stop it before re-creating`);
        }
        this.console(spec.serverUid).detach();
        await this.docker.getContainer(existing.Id).remove({ force: true, v: true }).catch((e) => {
          if (statusOf(e) !== 404) throw e;
        });
        this.ids.delete(spec.serverUid);
      }
      await this.ensureImage(spec.image, opts.onPullProgress);
      await mkdir(spec.dataDir, { recursive: true });
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer(createOpts);
      } catch (err) {
        if (statusOf(err) === 409) {
          // A container of that name without our labels (or of another agent scope): never touch it.
          throw new Error(`server ${spec.serverUid}: a container named ${createOpts.name} already exists and is not managed by this agent: ${messageOf(err)}`);
        }
        throw err;
      }
      this.ids.set(spec.serverUid, container.id);
      this.log.info('container created', { uid: spec.serverUid, containerId: container.id, name: createOpts.name });
      await this.attach(spec.serverUid);
      return { containerId: container.id, created: true };
    });
  }

  /**
   * Starts the server's container: console attached first (nothing printed at boot is lost), and
   * refused with DiskLimitError when its data dir is over diskMb (measured now unless `disk` is given).
   */
  async start(uid: string, opts: { disk?: DiskUsage; skipDiskCheck?: boolean } = {}): Promise<void> {
    return this.locked(uid, async () => {
      const { id, container, info } = await this.inspectServer(uid);
      if (info.State.Running) {
        await this.attach(uid);
        return;
      }
      const labels = info.Config.Labels ?? {};
      const diskMb = Number(labels[LABEL_DISK_MB]);
      const dataDir = labels[LABEL_DATA_DIR];
      if (!opts.skipDiskCheck && diskMb > 0 && dataDir) {
        const disk = opts.disk ?? (await diskUsage(dataDir, { maxEntries: this.opts.diskMaxEntries }));
        if (isOverDiskLimit(disk, diskMb)) {
          this.console(uid).system(`[Gantry] not starting: disk usage over the ${diskMb} MiB limit`);
          throw new DiskLimitError(uid, disk.bytes, diskMb * 1024 * 1024);
        }
      }
      await this.attach(uid);
      try {
        await container.start();
      } catch (err) {
        if (statusOf(err) !== 304) throw err; // 304: already started
      }
      this.log.info('container started', { uid, containerId: id });
    });
  }

  /**
   * Graceful stop: the stop console command (or signal) — from `opts`, else the one the container was
   * created with — then up to the stop timeout for it to exit, then SIGKILL. Returns the exit code.
   */
  async stop(uid: string, opts: { stop?: StopSpec; timeoutSeconds?: number } = {}): Promise<StopResult> {
    return this.locked(uid, async () => {
      const { id, container, info } = await this.inspectServer(uid);
      if (!info.State.Running) return { exitCode: info.State.ExitCode, killed: false, alreadyStopped: true };
      const fromLabels = stopFromLabels(info.Config.Labels);
      const stop = opts.stop ?? fromLabels.stop;
      const timeoutSeconds = opts.timeoutSeconds ?? fromLabels.timeoutSeconds;
      const con = this.console(uid);
      // Wait first, act second: the exit cannot slip between the two.
      const waitAbort = new AbortController();
      const exited = this.waitExit(container, waitAbort.signal);
      let sent = false;
      if (stop.type === 'command') {
        try {
          if (!con.attached) await this.attach(uid);
          con.send(stop.value);
          con.system(`[Gantry] stopping: sent "${stop.value}" (kill after ${timeoutSeconds}s)`);
          sent = true;
        } catch (err) {
          this.log.warn('stop command could not be written to stdin; sending SIGTERM instead', { uid, err });
        }
      }
      if (!sent) {
        const signal = normaliseSignal(stop.type === 'signal' ? stop.value : 'SIGTERM');
        con.system(`[Gantry] stopping: sent ${signal} (kill after ${timeoutSeconds}s)`);
        await container.kill({ signal }).catch((e: unknown) => {
          if (statusOf(e) !== 409) throw e; // 409: not running any more
        });
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutSeconds * 1000)));
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') {
        waitAbort.abort();
        this.log.info('container stopped', { uid, exitCode: first });
        return { exitCode: first ?? (await this.exitCodeOf(id)), killed: false, alreadyStopped: false };
      }
      con.system(`[Gantry] server did not stop within ${timeoutSeconds}s: killing it`);
      this.log.warn('stop timed out; killing', { uid, timeoutSeconds });
      await container.kill({ signal: 'SIGKILL' }).catch((e: unknown) => {
        if (statusOf(e) !== 409) throw e;
      });
      const code = await exited;
      return { exitCode: code ?? (await this.exitCodeOf(id)), killed: true, alreadyStopped: false };
    });
  }

  /** Sends a signal (default SIGKILL) now, bypassing a pending graceful stop; for SIGKILL, returns the exit code. */
  async kill(uid: string, signal = 'SIGKILL'): Promise<number | undefined> {
    const { id, container } = await this.inspectServer(uid);
    const sig = normaliseSignal(signal);
    try {
      await container.kill({ signal: sig });
    } catch (err) {
      if (statusOf(err) === 409) return this.exitCodeOf(id); // not running
      throw err;
    }
    this.console(uid).system(`[Gantry] sent ${sig}`);
    if (sig !== 'SIGKILL' && sig !== '9') return undefined;
    const r = (await container.wait({ condition: 'not-running' })) as { StatusCode?: number };
    return r?.StatusCode;
  }

  /** Graceful stop (if running) then start. */
  async restart(uid: string, opts: { stop?: StopSpec; timeoutSeconds?: number } = {}): Promise<StopResult> {
    const r = await this.stop(uid, opts);
    await this.start(uid);
    return r;
  }

  /**
   * Removes the server's container (forcefully: stop it first for a graceful end) and any leftover
   * install container; with `removeData`, also its data dir — only when that dir lies inside the
   * runtime's dataRoot (never an arbitrary host path).
   */
  async remove(uid: string, opts: { removeData?: boolean; dataDir?: string } = {}): Promise<{ removed: boolean; dataRemoved: boolean }> {
    return this.locked(uid, async () => {
      let dataDir = opts.dataDir;
      let removed = false;
      const all = [...(await this.own('server', uid)), ...(await this.own('install', uid))];
      for (const c of all) dataDir ??= c.Labels?.[LABEL_DATA_DIR];
      // Refuse before touching anything, so a refused removal leaves the server as it was.
      if (opts.removeData && dataDir) await this.assertInsideDataRoot(dataDir);
      this.consoles.get(uid)?.close();
      this.consoles.delete(uid);
      for (const c of all) {
        try {
          await this.docker.getContainer(c.Id).remove({ force: true, v: true });
          removed = true;
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
      }
      this.ids.delete(uid);
      let dataRemoved = false;
      if (opts.removeData && dataDir) {
        await rm(dataDir, { recursive: true, force: true });
        dataRemoved = true;
      }
      this.log.info('server removed', { uid, removed, dataRemoved });
      return { removed, dataRemoved };
    });
  }

  private async assertInsideDataRoot(dir: string): Promise<void> {
    const root = this.opts.dataRoot;
    if (!root) throw new Error('refusing to delete a data dir: the runtime has no dataRoot configured');
    const realRoot = await realpath(root);
    let realDir: string;
    try {
      realDir = await realpath(dir);
    } catch {
      realDir = path.resolve(dir);
    }
    const rel = path.relative(realRoot, realDir);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new Error(`refusing to delete data dir ${dir}: not inside the data root ${root}`);
    }
  }

  // ---- observation / adoption ------------------------------------------------------------------

  /** Observed state of the server's container (undefined: none). */
  async inspect(uid: string): Promise<ObservedContainer | undefined> {
    const c = await this.findContainer(uid);
    if (!c) return undefined;
    try {
      return observeFromInspect(await this.docker.getContainer(c.Id).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Every server container of this agent, as observed now. */
  async list(): Promise<ObservedContainer[]> {
    const list = await this.own('server');
    const out: ObservedContainer[] = [];
    for (const c of list) {
      try {
        out.push(observeFromInspect(await this.docker.getContainer(c.Id).inspect()));
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    return out;
  }

  /**
   * On agent start: takes over every labelled server container as it is — running ones get their
   * console re-attached (stdin stays open across attaches), none is started, stopped or restarted.
   * Leftover install containers (the agent died mid-install) are removed.
   */
  async adopt(): Promise<ObservedContainer[]> {
    const observed = await this.list();
    for (const o of observed) {
      this.ids.set(o.uid, o.containerId);
      if (o.state === 'running') {
        try {
          await this.attach(o.uid);
        } catch (err) {
          this.log.warn('could not re-attach the console of an adopted container', { uid: o.uid, err });
        }
      }
    }
    const installs = await this.own('install');
    for (const c of installs) await this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    this.log.info('adopted containers', { count: observed.length, running: observed.filter((o) => o.state === 'running').length });
    return observed;
  }

  // ---- install ---------------------------------------------------------------------------------

  /**
   * Runs the template's install script in a one-off container (install image, data dir mounted at
   * install.dataPath, same limits and hardening as the server). Its output goes to the server's
   * console (and `onLine`); the container is removed afterwards whatever happens.
   */
  async install(
    spec: ContainerSpec,
    install: InstallSpec,
    opts: { onLine?: (stream: ConsoleStream, line: string) => void; onPullProgress?: (p: PullProgress) => void } = {},
  ): Promise<InstallResult> {
    return this.locked(spec.serverUid, async () => {
      const t0 = Date.now();
      const con = this.console(spec.serverUid);
      const emit = (stream: ConsoleStream, line: string) => {
        con.ingest(stream, line);
        opts.onLine?.(stream, line);
      };
      await this.ensureImage(install.image, opts.onPullProgress);
      await mkdir(spec.dataDir, { recursive: true });
      const workDir = this.opts.workDir ?? os.tmpdir();
      await mkdir(workDir, { recursive: true });
      const scriptDir = await mkdtemp(path.join(workDir, `gantry-install-${spec.serverUid.slice(0, 8)}-`));
      let container: Docker.Container | undefined;
      try {
        await chmod(scriptDir, 0o755);
        await writeFile(path.join(scriptDir, 'install.sh'), install.script.replace(/\r\n/g, '\n'), { mode: 0o755 });
        const createOpts = toInstallCreateOptions(spec, install, scriptDir, this.policy);
        // A leftover of a crashed agent would block the name.
        const leftovers = await this.own('install', spec.serverUid);
        for (const c of leftovers) await this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
        container = await this.docker.createContainer(createOpts);
        const stream = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true });
        const outSplit = new LineSplitter();
        const errSplit = new LineSplitter();
        const sink = (sp: LineSplitter, tag: ConsoleStream) =>
          new Writable({
            write(chunk: Buffer, _e, cb) {
              for (const l of sp.push(chunk)) emit(tag, l);
              cb();
            },
          });
        const drained = new Promise<void>((resolve) => {
          const done = () => {
            for (const l of outSplit.end()) emit('stdout', l);
            for (const l of errSplit.end()) emit('stderr', l);
            resolve();
          };
          stream.once('end', done);
          stream.once('close', done);
          stream.once('error', done);
        });
        this.demux(stream, sink(outSplit, 'stdout'), sink(errSplit, 'stderr'));
        emit('system', `[Gantry] installing with image ${install.image}`);
        const exited = container.wait({ condition: 'next-exit' }).then((r: { StatusCode?: number }) => r?.StatusCode ?? -1);
        await container.start();
        const timeoutMs = (install.timeoutSeconds ?? 3600) * 1000;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
        let r = await Promise.race([exited, timeout]);
        clearTimeout(timer);
        let timedOut = false;
        if (r === 'timeout') {
          timedOut = true;
          emit('system', `[Gantry] install timed out after ${install.timeoutSeconds ?? 3600}s: killing it`);
          await container.kill({ signal: 'SIGKILL' }).catch(() => {});
          r = await exited;
        }
        // Every byte printed before the exit arrives before the attach stream ends.
        await Promise.race([drained, new Promise((res) => setTimeout(res, 5000).unref())]);
        const exitCode = r as number;
        emit('system', `[Gantry] install finished with exit code ${exitCode}`);
        return { exitCode, timedOut, durationMs: Date.now() - t0 };
      } finally {
        if (container) await container.remove({ force: true, v: true }).catch(() => {});
        await rm(scriptDir, { recursive: true, force: true }).catch(() => {});
      }
    });
  }

  /** Detaches every console (containers keep running, stdin stays open); for agent shutdown. */
  close(): void {
    for (const c of this.consoles.values()) c.close();
    this.consoles.clear();
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private async findContainer(uid: string): Promise<Docker.ContainerInfo | undefined> {
    return (await this.own('server', uid))[0];
  }

  private async containerId(uid: string): Promise<string> {
    const cached = this.ids.get(uid);
    if (cached) return cached;
    const c = await this.findContainer(uid);
    if (!c) throw new ServerNotFoundError(uid);
    this.ids.set(uid, c.Id);
    return c.Id;
  }

  /** Inspects the server's container, re-resolving it once when the cached id is gone. */
  private async inspectServer(uid: string): Promise<{ id: string; container: Docker.Container; info: Docker.ContainerInspectInfo }> {
    for (let attempt = 0; ; attempt++) {
      const id = await this.containerId(uid);
      const container = this.docker.getContainer(id);
      try {
        return { id, container, info: await container.inspect() };
      } catch (err) {
        if (statusOf(err) !== 404 || attempt > 0) throw statusOf(err) === 404 ? new ServerNotFoundError(uid) : err;
        this.ids.delete(uid);
        this.console(uid).detach();
      }
    }
  }

  /**
   * Resolves with the exit code once the container is not running. A failed wait request (socket
   * hiccup) is not taken for an exit: the state is checked and the wait retried.
   */
  private async waitExit(container: Docker.Container, signal: AbortSignal): Promise<number | undefined> {
    while (!signal.aborted) {
      try {
        const r = (await container.wait({ condition: 'not-running', abortSignal: signal })) as { StatusCode?: number };
        return r?.StatusCode;
      } catch (err) {
        if (signal.aborted) return undefined;
        if (statusOf(err) === 404) return undefined;
        try {
          const info = await container.inspect();
          if (!info.State.Running) return info.State.ExitCode;
        } catch (e) {
          if (statusOf(e) === 404) return undefined;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    return undefined;
  }

  private async exitCodeOf(id: string): Promise<number | undefined> {
    try {
      return (await this.docker.getContainer(id).inspect()).State.ExitCode;
    } catch {
      return undefined;
    }
  }

  /** Serialises lifecycle operations per server. */
  private locked<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uid) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.locks.set(uid, tail);
    void tail.then(() => {
      if (this.locks.get(uid) === tail) this.locks.delete(uid);
    });
    return run;
  }
}
