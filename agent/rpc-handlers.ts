// RPC dispatch: a controller `request` → checkRequest → the DockerRuntime → a `response` with the same id.
//
// Ordering: requests run concurrently, except that the state-changing requests of one server (ensureDataDir,
// create, start, stop, restart, remove, sendCommand, install, restore.run, transfer.commit, transfer.abort)
// run one after another in arrival order (a per-uid queue: a start sent during a restore waits for it).
// backup.create and transfer.send/receive are not queued: they only read the data dir (or write beside
// it), and a long stream must not hold the server's other requests back. Three requests skip that queue on
// purpose: `kill` (the escape hatch of a hanging graceful stop must not wait behind it), and the
// read-only `inspect` and `consoleHistory`.
// A request that waited in the queue past its `timeoutMs` is answered `timeout` without running: its
// caller has given up, and a stale start or stop must not fire long after the fact.
//
// Errors map to codes: ImageUnavailableError → image_unavailable, ServerNotFoundError → not_found,
// DiskLimitError → disk_limit, SpecError / a data dir outside the agent's data root → invalid_params,
// anything else → failed, with the runtime's message.

import { mkdir, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../lib/log.ts';
import { checkRequest, type FileRpcMethod, type ConsoleLine, type RequestMessage, type ResponseMessage, type RpcErrorBody, type RpcMethod, type RpcParams, type RpcResults } from './protocol.ts';
import type { DockerRuntime, PullProgress } from './runtime/docker-runtime.ts';
import type { ContainerSpec } from './runtime/spec.ts';
import { BackupManager } from './backups/manager.ts';
import { TransferManager } from './transfers/manager.ts';
import type { ByteStreams } from '../lib/byte-streams.ts';

export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const CODE_BY_ERROR_NAME: Record<string, string> = {
  ImageUnavailableError: 'image_unavailable',
  ServerNotFoundError: 'not_found',
  DiskLimitError: 'disk_limit',
  SpecError: 'invalid_params',
  DataDirError: 'invalid_params',
};

/** A thrown value → the response's error body. */
export function errorBody(err: unknown): RpcErrorBody {
  if (err instanceof RpcError) return { code: err.code, message: err.message };
  // agent/backups/ and agent/transfers/ errors carry their own code (checksum_mismatch, conflict, not_found, no_space, …).
  if ((err as Error)?.name === 'BackupJobError' || (err as Error)?.name === 'TransferError') return { code: (err as { code: string }).code, message: (err as Error).message };
  // agent/files/ refusals (path_escape, symlink_escape, too_large, …) and byte-stream errors carry theirs too.
  if ((err as Error)?.name === 'FileError' || (err as Error)?.name === 'StreamError') return { code: (err as { code: string }).code, message: (err as Error).message };
  const name = (err as Error)?.name;
  const message = (err as Error)?.message ?? String(err);
  return { code: (name && CODE_BY_ERROR_NAME[name]) || 'failed', message: message || 'failed' };
}

export type RpcHandler<M extends RpcMethod> = (params: RpcParams[M], req: RequestMessage<M>) => Promise<RpcResults[M]>;
export type RpcHandlers = { [M in RpcMethod]: RpcHandler<M> };

/** Methods serialised per server uid. */
const QUEUED: ReadonlySet<RpcMethod> = new Set(['ensureDataDir', 'create', 'start', 'stop', 'restart', 'remove', 'sendCommand', 'install', 'restore.run', 'transfer.commit', 'transfer.abort']);

/** The server uid a request is about (undefined: not server-bound). */
export function requestUid(req: RequestMessage): string | undefined {
  const p = req.params as { uid?: unknown; spec?: { serverUid?: unknown } };
  if (typeof p?.uid === 'string') return p.uid;
  if (typeof p?.spec?.serverUid === 'string') return p.spec.serverUid;
  return undefined;
}

export interface RpcDispatcherOptions {
  handlers: Partial<RpcHandlers>;
  log?: Logger;
  now?: () => number;
}

export class RpcDispatcher {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: RpcDispatcherOptions) {
    this.log = opts.log ?? createLogger({ component: 'agent.rpc' });
    this.now = opts.now ?? Date.now;
  }

  /** Checks, queues and runs one request; always resolves with a response carrying its id. */
  dispatch(req: RequestMessage): Promise<ResponseMessage> {
    const refused = checkRequest(req);
    if (refused) {
      this.log.warn('request refused', { id: req.id, method: req.method, code: refused.code, message: refused.message });
      return Promise.resolve({ type: 'response', id: req.id, ok: false, error: refused });
    }
    const received = this.now();
    const uid = requestUid(req);
    const run = (): Promise<ResponseMessage> => {
      if (req.timeoutMs !== undefined && this.now() - received > req.timeoutMs) {
        const waited = this.now() - received;
        return Promise.resolve({
          type: 'response',
          id: req.id,
          ok: false,
          error: { code: 'timeout', message: `${req.method} not started: it waited ${waited} ms behind earlier requests for server ${uid}, past the caller's ${req.timeoutMs} ms timeout` },
        });
      }
      return this.execute(req);
    };
    let p: Promise<ResponseMessage>;
    if (uid !== undefined && QUEUED.has(req.method)) {
      const prev = this.queues.get(uid) ?? Promise.resolve();
      p = prev.then(run, run);
      const tail = p.catch(() => {});
      this.queues.set(uid, tail);
      void tail.then(() => {
        if (this.queues.get(uid) === tail) this.queues.delete(uid);
      });
    } else {
      p = run();
    }
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  /** Resolves when no request is running (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  get pending(): number {
    return this.inFlight.size;
  }

  private async execute(req: RequestMessage): Promise<ResponseMessage> {
    const handler = this.opts.handlers[req.method] as RpcHandler<RpcMethod> | undefined;
    if (!handler) return { type: 'response', id: req.id, ok: false, error: { code: 'unknown_method', message: `method "${req.method}" is not available on this agent` } };
    const t0 = this.now();
    try {
      const result = await handler(req.params, req);
      this.log.debug('request done', { id: req.id, method: req.method, ms: this.now() - t0 });
      return { type: 'response', id: req.id, ok: true, result: result ?? null };
    } catch (err) {
      const error = errorBody(err);
      this.log.warn('request failed', { id: req.id, method: req.method, uid: requestUid(req), code: error.code, message: error.message, ms: this.now() - t0 });
      return { type: 'response', id: req.id, ok: false, error };
    }
  }
}

// ---- data dirs -----------------------------------------------------------------------------------

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

const inside = (root: string, p: string, strict: boolean): boolean => {
  const rel = path.relative(root, p);
  if (rel === '') return !strict;
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

/**
 * Where a server's data lives on this node. The controller sends either a path relative to the agent's
 * servers root (`<namespace>/<name>`, recommended: the controller does not know the node's data dir) or
 * an absolute one; either way it must lie strictly inside the servers root, also after resolving
 * symlinks of the parts that exist, so a spec can never bind-mount (or delete) an arbitrary host path.
 */
export async function resolveDataDir(serversRoot: string, dataDir: string): Promise<string> {
  const root = path.resolve(serversRoot);
  const p = path.isAbsolute(dataDir) ? path.resolve(dataDir) : path.resolve(root, dataDir);
  if (!inside(root, p, true)) throw new DataDirError(`dataDir "${dataDir}" is not inside this node's servers data root ${root}`);
  const realRoot = await realpath(root);
  for (let probe = p; ; probe = path.dirname(probe)) {
    let real: string;
    try {
      real = await realpath(probe);
    } catch {
      if (probe === root || probe === path.dirname(probe)) break;
      continue;
    }
    if (!inside(realRoot, real, probe === p)) throw new DataDirError(`dataDir "${dataDir}" resolves (through a symlink) to ${real}, outside this node's servers data root ${realRoot}`);
    break;
  }
  return p;
}

// ---- the runtime's handlers ----------------------------------------------------------------------

export interface RuntimeHandlersOptions {
  runtime: DockerRuntime;
  /** Root of the servers' data dirs (DATA_DIR/servers). */
  serversRoot: string;
  log?: Logger;
  /** Called with the server uid before any server-bound method runs (the agent subscribes its console). */
  touch?: (uid: string) => void;
  /** Install started / ended (the agent avoids removing install containers while one runs). */
  onInstall?: (uid: string, running: boolean) => void;
  /** Where backup archives live (default: DATA_DIR/backups, beside serversRoot). */
  backupsRoot?: string;
  /** Byte streams to the controller (backup.download, transfer.send/receive); without them those are refused. */
  streams?: ByteStreams;
  /** Where transfer records live (default: DATA_DIR/transfers, beside serversRoot). */
  transfersRoot?: string;
}

const toWire = (l: { stream: ConsoleLine['stream']; line: string; time: number }): ConsoleLine => ({ stream: l.stream, line: l.line, ts: l.time });

/** The RPC methods, implemented on the DockerRuntime. */
export function createRuntimeHandlers(o: RuntimeHandlersOptions): Omit<RpcHandlers, FileRpcMethod> {
  const { runtime } = o;
  const log = o.log ?? createLogger({ component: 'agent.rpc' });
  const touch = (uid: string) => o.touch?.(uid);
  const progressLogger = (image: string) => {
    let last = 0;
    return (p: PullProgress) => {
      const now = Date.now();
      if (now - last < 2000) return;
      last = now;
      log.info('pulling image', { image, status: p.status, downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes });
    };
  };
  const withDataDir = async (spec: ContainerSpec): Promise<ContainerSpec> => {
    const dataDir = await resolveDataDir(o.serversRoot, spec.dataDir);
    return { ...spec, dataDir };
  };
  const ensureMkdirRoot = () => mkdir(o.serversRoot, { recursive: true });
  const isRunning = async (uid: string) => ['running', 'restarting', 'paused'].includes((await runtime.inspect(uid))?.state ?? '');
  const backups = new BackupManager({
    serversRoot: o.serversRoot,
    backupsRoot: o.backupsRoot ?? path.join(path.dirname(path.resolve(o.serversRoot)), 'backups'),
    resolveDataDir: (d) => resolveDataDir(o.serversRoot, d),
    isRunning,
    log: log.child({ component: 'agent.backups' }),
  });
  const transfers = o.streams
    ? new TransferManager({
        serversRoot: o.serversRoot,
        transfersRoot: o.transfersRoot ?? path.join(path.dirname(path.resolve(o.serversRoot)), 'transfers'),
        resolveDataDir: (d) => resolveDataDir(o.serversRoot, d),
        isRunning,
        streams: o.streams,
        log: log.child({ component: 'agent.transfers' }),
      })
    : undefined;
  const transfer = (): TransferManager => {
    if (!transfers) throw new RpcError('unknown_method', 'transfers: this agent has no byte streams');
    return transfers;
  };

  return {
    ensureImage: async ({ image }) => runtime.ensureImage(image, progressLogger(image)),
    ensureDataDir: async ({ dataDir }) => {
      await ensureMkdirRoot();
      const dir = await resolveDataDir(o.serversRoot, dataDir);
      // mkdir's answer is the first directory it made: undefined when the data dir was already there
      return { created: (await mkdir(dir, { recursive: true })) !== undefined };
    },
    create: async ({ spec }) => {
      touch(spec.serverUid);
      await ensureMkdirRoot();
      return runtime.create(await withDataDir(spec), { onPullProgress: progressLogger(spec.image) });
    },
    start: async ({ uid }) => {
      touch(uid);
      await runtime.start(uid);
      return {};
    },
    stop: async ({ uid, timeoutSeconds }) => {
      touch(uid);
      const r = await runtime.stop(uid, { timeoutSeconds });
      return { exitCode: r.exitCode ?? null, killed: r.killed, alreadyStopped: r.alreadyStopped };
    },
    kill: async ({ uid, signal }) => {
      touch(uid);
      await runtime.kill(uid, signal);
      return {};
    },
    restart: async ({ uid }) => {
      touch(uid);
      await runtime.restart(uid);
      return {};
    },
    remove: async ({ uid, removeData, dataDir }) => {
      const resolved = dataDir ? await resolveDataDir(o.serversRoot, dataDir) : undefined;
      await runtime.remove(uid, { removeData, dataDir: resolved });
      return {};
    },
    sendCommand: async ({ uid, line }) => {
      if (/[\r\n]/.test(line)) throw new RpcError('invalid_params', 'sendCommand: a console command is one line (no CR or LF)');
      touch(uid);
      await runtime.sendCommand(uid, line);
      return {};
    },
    install: async ({ spec, install }) => {
      touch(spec.serverUid);
      await ensureMkdirRoot();
      const resolved = await withDataDir(spec);
      o.onInstall?.(spec.serverUid, true);
      try {
        const r = await runtime.install(resolved, install, { onPullProgress: progressLogger(install.image) });
        return { exitCode: r.exitCode ?? null, timedOut: r.timedOut, durationMs: r.durationMs };
      } finally {
        o.onInstall?.(spec.serverUid, false);
      }
    },
    inspect: async ({ uid }) => (await runtime.inspect(uid)) ?? null,
    list: async () => runtime.list(),
    consoleHistory: async ({ uid, lines }) => {
      touch(uid);
      return runtime.console(uid).recent(lines).map(toWire);
    },
    'backup.create': (p) => backups.createBackup(p),
    'backup.delete': ({ uid, backupUid }) => backups.deleteBackup(backupUid, uid),
    'restore.run': (p) => backups.runRestore(p),
    'transfer.send': (p) => transfer().send(p),
    'transfer.receive': (p) => transfer().receive(p),
    'transfer.commit': (p) => transfer().commit(p),
    'transfer.abort': (p) => transfer().abort(p),
    'backup.download': async ({ serverUid, backupUid, streamId, window }) => {
      if (!o.streams) throw new RpcError('unknown_method', 'backup.download: this agent has no byte streams');
      // archivePath checks both uids (no separators, no dots); only finished archives have this name.
      const file = backups.archivePath(serverUid, backupUid);
      let fh;
      try {
        fh = await open(file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RpcError('not_found', `backup ${backupUid} of server ${serverUid} has no archive on this node`);
        throw err;
      }
      const { size } = await fh.stat();
      const stream = fh.createReadStream({ highWaterMark: 64 * 1024 });
      // Data frames may overtake the response: the controller registered the stream before asking.
      o.streams.send(streamId, stream, { credit: window }).catch((err) => {
        stream.destroy();
        log.info('backup download ended early', { backupUid, streamId, reason: (err as Error).message });
      });
      return { size };
    },
  };
}
