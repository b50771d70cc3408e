// The typed, versioned messages between a node agent and the controller's agent hub, over one
// WebSocket (text frames, one JSON message each). Shared by both sides: the agent imports it
// directly, the controller through controller/hub. Every inbound message is validated here; an
// invalid one gets an `error` reply and a log line, never a crash.
import { Ajv, type ValidateFunction } from 'ajv';
import type { ContainerSpec, InstallSpec } from './runtime/spec.ts';
import type { ObservedContainer } from './runtime/events.ts';
import type { StatsSample } from './runtime/stats.ts';
import type { HealthReport } from './runtime/health.ts';
import type { FileEntry } from './files/server-files.ts';
import type { PlayerSample } from './runtime/players.ts';

// Types the controller and the API read from agent messages, re-exported so they import this file only.
export type { ContainerSpec, InstallSpec, ObservedContainer, StatsSample, HealthReport, FileEntry, PlayerSample };

// Typed refusals of the confined file system (agent/files/): the code travels in RPC errors.
export type FileErrorCode =
  | 'invalid_path' // NUL byte, empty/over-long path, the root where a file is needed, not a regular file
  | 'invalid_argument' // a bad mode, name or option
  | 'path_escape' // `..` or an archive entry that would land outside the server root
  | 'symlink_escape' // a symlink pointing outside (or dangling, or swapped in during the operation)
  | 'hardlink' // a regular file with more than one link (may be an outside file's second name)
  | 'not_found'
  | 'exists'
  | 'not_a_directory'
  | 'is_a_directory'
  | 'not_empty'
  | 'too_large' // upload or text read over its limit
  | 'archive_limit' // decompression over its total size, entry count or time
  | 'invalid_archive'
  | 'no_space'
  | 'permission_denied';

/** HTTP status the API should answer for each code. */
export const FILE_ERROR_STATUS: Record<FileErrorCode, number> = {
  invalid_path: 400,
  invalid_argument: 400,
  path_escape: 403,
  symlink_escape: 403,
  hardlink: 403,
  not_found: 404,
  exists: 409,
  not_a_directory: 409,
  is_a_directory: 409,
  not_empty: 409,
  too_large: 413,
  archive_limit: 413,
  invalid_archive: 422,
  no_space: 507,
  permission_denied: 403,
};


/** Bumped on any incompatible change; the hub refuses agents speaking another major version. */
export const PROTOCOL_VERSION = 1;

/** WebSocket close codes the hub uses (4000–4999 are for applications). The agent acts on them:
 *  after REPLACED, REVOKED or UNSUPPORTED_VERSION reconnecting with the same credential is pointless. */
export const CLOSE_REPLACED = 4000;
/** The node credential was revoked (token rotation, node deleted): re-enrol with a new token. */
export const CLOSE_REVOKED = 4001;
/** The first frame was not a valid hello, or hello did not come in time. */
export const CLOSE_PROTOCOL_ERROR = 4002;
/** The agent speaks another protocol version. */
export const CLOSE_UNSUPPORTED_VERSION = 4003;
/** The controller is shutting down (standard "going away"). */
export const CLOSE_GOING_AWAY = 1001;

/** Path of the agent WebSocket and the enrolment call on the controller. */
export const AGENT_CONNECT_PATH = '/api/agent/connect';
export const AGENT_ENROLL_PATH = '/api/agent/enroll';

// ---------------------------------------------------------------------------------------------
// Enrolment (plain HTTP, before the socket): a one-time deployment token becomes a node credential.
export interface EnrollRequest {
  token: string;
  agentVersion: string;
  hostname?: string;
}
export interface EnrollResponse {
  nodeName: string;
  nodeUid: string;
  /** Long-lived secret; sent as `Authorization: Bearer` on every connect. Shown once. */
  credential: string;
}

// ---------------------------------------------------------------------------------------------
// Messages
export interface ConsoleLine {
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  /** Milliseconds since the epoch, when the agent read the line. */
  ts: number;
}

/** agent → controller, first message on every connection. */
export interface HelloMessage {
  type: 'hello';
  protocolVersion: number;
  agentVersion: string;
  health: HealthReport;
}
/** controller → agent, the answer to hello: settings the node follows. */
export interface WelcomeMessage {
  type: 'welcome';
  protocolVersion: number;
  nodeName: string;
  heartbeatIntervalMs: number;
  statsIntervalMs: number;
  /** Console throttle like Wings: at most `lines` per `intervalMs` per server; false = off. */
  consoleThrottle: { lines: number; intervalMs: number } | false;
}
/** agent → controller: everything Gantry runs on the node, after welcome and after any resync. */
export interface SnapshotMessage {
  type: 'snapshot';
  containers: ObservedContainer[];
}
export interface ContainerMessage {
  type: 'container';
  container: ObservedContainer;
}
export interface StatsMessage {
  type: 'stats';
  samples: StatsSample[];
}
/** agent → controller: player counts that changed (agent/runtime/players.ts); after every connect, all of them.
 *  Added in protocol 1 without a version bump: a controller that predates it answers `error` and goes on. */
export interface PlayersMessage {
  type: 'players';
  samples: PlayerSample[];
}
export interface HealthMessage {
  type: 'health';
  health: HealthReport;
}
export interface ConsoleMessage {
  type: 'console';
  uid: string;
  lines: ConsoleLine[];
}
export interface PingMessage {
  type: 'ping';
  ts: number;
}
export interface PongMessage {
  type: 'pong';
  ts: number;
}
export interface RequestMessage<M extends RpcMethod = RpcMethod> {
  type: 'request';
  id: string;
  method: M;
  params: RpcParams[M];
  /** The caller gives up after this long; the agent may use it to bound its work. */
  timeoutMs?: number;
}
export interface RpcErrorBody {
  /** Machine-readable: invalid_params, not_found, image_unavailable, disk_limit, timeout, failed, unknown_method. */
  code: string;
  message: string;
}
export type ResponseMessage =
  | { type: 'response'; id: string; ok: true; result: unknown }
  | { type: 'response'; id: string; ok: false; error: RpcErrorBody };
/** Either side: the message it received could not be accepted. */
export interface ErrorMessage {
  type: 'error';
  message: string;
  /** The offending request id, when it had one. */
  ref?: string;
}

/** Either side: flow control of a byte stream (file upload/download). The bytes travel in binary
 *  frames `[0x01][id u32 BE][payload]`; lib/byte-streams.ts implements both ends. */
export interface StreamMessage {
  type: 'stream';
  id: number;
  op: 'credit' | 'end' | 'abort';
  bytes?: number;
  error?: RpcErrorBody;
}

export type AgentMessage = HelloMessage | SnapshotMessage | ContainerMessage | StatsMessage | PlayersMessage | HealthMessage | ConsoleMessage | PingMessage | PongMessage | ResponseMessage | ErrorMessage | StreamMessage;
export type ControllerMessage = WelcomeMessage | RequestMessage | PingMessage | PongMessage | ErrorMessage | StreamMessage;

// ---------------------------------------------------------------------------------------------
// RPC: methods the controller calls on an agent, with their params and results.
export interface RpcParams {
  ensureImage: { image: string };
  /** Creates the server's data dir (confined to the node's servers root) if missing: its files are usable before any container exists. */
  ensureDataDir: { uid: string; dataDir: string };
  create: { spec: ContainerSpec };
  start: { uid: string };
  stop: { uid: string; timeoutSeconds?: number };
  kill: { uid: string; signal?: string };
  restart: { uid: string };
  remove: { uid: string; removeData: boolean; dataDir?: string };
  sendCommand: { uid: string; line: string };
  install: { spec: ContainerSpec; install: InstallSpec };
  inspect: { uid: string };
  list: Record<string, never>;
  consoleHistory: { uid: string; lines?: number };
  'backup.create': BackupCreateParams;
  /** uid (the server's) is optional: the agent finds the archive by backupUid alone. */
  'backup.delete': { uid?: string; backupUid: string };
  'restore.run': RestoreRunParams;
  /** Streams a finished backup archive (byte stream `streamId`, `window` = the sender's first credit);
   *  the archive is named by uids, never by path. */
  'backup.download': { serverUid: string; backupUid: string; streamId: number; window: number };
  // Transfers between nodes (agent/transfers/): the controller relays the byte stream from the
  // source's transfer.send to the target's transfer.receive, then commits (or aborts) on the target.
  'transfer.send': TransferSendParams;
  'transfer.receive': TransferReceiveParams;
  'transfer.commit': TransferCommitParams;
  'transfer.abort': TransferAbortParams;
  // Files (agent/files/): paths are relative to the server's data dir (`/` = its root). The agent finds
  // the data dir from the server's container; `dataDir` (as in ContainerSpec.dataDir, confined to the
  // node's servers root) is for servers without a container yet.
  'files.list': FilesTarget & { path: string };
  'files.stat': FilesTarget & { path: string };
  /** Text content (UTF-8), at most maxBytes (default and ceiling 2 MiB: bigger files are downloaded). */
  'files.read': FilesTarget & { path: string; maxBytes?: number };
  'files.write': FilesTarget & { path: string; content: string };
  'files.create': FilesTarget & { path: string; isDirectory?: boolean; content?: string };
  'files.delete': FilesTarget & { paths: string[] };
  'files.rename': FilesTarget & { from: string; to: string; overwrite?: boolean };
  'files.copy': FilesTarget & { from: string; to: string };
  'files.chmod': FilesTarget & { path: string; mode: number };
  'files.compress': FilesTarget & { paths: string[]; destination: string };
  'files.decompress': FilesTarget & { archivePath: string; targetPath: string };
  /** Opens byte stream `streamId` from the agent; `window` = credit the sender starts with. */
  'files.download': FilesTarget & { path: string; streamId: number; window: number };
  /** Receives byte stream `streamId` into `path` (atomically); the agent grants credit when ready. */
  'files.upload': FilesTarget & { path: string; streamId: number; maxBytes?: number };
}
export interface FilesTarget {
  uid: string;
  dataDir?: string;
}
export type FileRpcMethod = Extract<keyof RpcParams, `files.${string}`>;

// Backups and restores (agent/backups/). Archives live at DATA/backups/<serverUid>/<backupUid>.tar.gz.
export interface BackupCreateParams {
  /** The server whose data is archived. */
  uid: string;
  /** The Backup resource's uid: names the archive and makes the call idempotent. */
  backupUid: string;
  /** The server's data dir, as in ContainerSpec.dataDir. */
  dataDir: string;
  /** .gitignore-style patterns (agent/backups/ignore.ts). */
  ignore?: string[];
  /** Only join a running job for backupUid or return its finished archive; never start one
   *  (the controller lost track of the job, e.g. it restarted). Neither → `not_found`. */
  attach?: boolean;
}
export interface BackupCreateResult {
  /** Absolute path of the archive on the node. */
  path: string;
  sizeBytes: number;
  sha256: string;
  startedAt: string;
  completedAt: string;
  entries: number;
  /** Paths left out (symlinks pointing outside the data dir…), first 20, and how many in all. */
  skipped: string[];
  skippedCount: number;
  warnings: string[];
}
export interface RestoreRunParams {
  /** The server restored into; it must not be running. */
  uid: string;
  /** The Restore resource's uid (idempotence, temp dir names). */
  restoreUid: string;
  dataDir: string;
  /** Which archive: the Backup's server uid and uid (never a path: the agent computes it). */
  backup: { serverUid: string; backupUid: string };
  /** The Backup's recorded sha256; a different archive is refused. */
  sha256: string;
  /** Empty the data dir first (else the archive's files are laid over the current ones). */
  truncate?: boolean;
  attach?: boolean;
}
export interface RestoreRunResult {
  startedAt: string;
  completedAt: string;
  entries: number;
}
// Transfers (agent/transfers/manager.ts). `transferId` names the staging dir and the record on the
// target, so every call is idempotent per transfer.
export interface TransferTarget {
  uid: string;
  transferId: string;
  /** The server's data dir, as in ContainerSpec.dataDir. */
  dataDir: string;
}
/** Streams the stopped server's data dir as an uncompressed tar on byte stream `streamId`
 *  (`window` = the first credit); answers once the last byte went out. */
export interface TransferSendParams extends TransferTarget {
  streamId: number;
  window: number;
}
export interface TransferSendResult {
  /** sha256 of the tar stream as it was sent. */
  sha256: string;
  bytes: number;
  entries: number;
  /** Left out: symlinks pointing outside the data dir, sockets, FIFOs (first 20, and how many). */
  skipped: string[];
  skippedCount: number;
}
/** Receives byte stream `streamId` into a staging dir beside the data dir (credit granted when ready). */
export type TransferReceiveParams = TransferTarget & { streamId: number };
export interface TransferReceiveResult {
  /** sha256 of the tar stream as it arrived. */
  sha256: string;
  bytes: number;
  entries: number;
}
/** Swaps the staged tree in when `sha256` (the source's) matches what arrived. */
export type TransferCommitParams = TransferTarget & { sha256: string };
export type TransferAbortParams = TransferTarget;

export interface RpcResults {
  ensureImage: { pulled: boolean };
  ensureDataDir: { created: boolean };
  create: { containerId: string; created: boolean };
  start: Record<string, never>;
  stop: { exitCode: number | null; killed: boolean; alreadyStopped: boolean };
  kill: Record<string, never>;
  restart: Record<string, never>;
  remove: Record<string, never>;
  sendCommand: Record<string, never>;
  install: { exitCode: number | null; timedOut: boolean; durationMs: number };
  inspect: ObservedContainer | null;
  list: ObservedContainer[];
  consoleHistory: ConsoleLine[];
  'backup.create': BackupCreateResult;
  'backup.delete': { deleted: boolean };
  'restore.run': RestoreRunResult;
  'backup.download': { size: number };
  'transfer.send': TransferSendResult;
  'transfer.receive': TransferReceiveResult;
  'transfer.commit': { committedAt: string };
  'transfer.abort': { removedStaging: boolean; removedData: boolean };
  'files.list': { path: string; entries: FileEntry[]; truncated: boolean };
  'files.stat': FileEntry;
  'files.read': { content: string; size: number };
  'files.write': { size: number };
  'files.create': FileEntry;
  'files.delete': { results: { path: string; ok: boolean; error?: RpcErrorBody }[] };
  'files.rename': Record<string, never>;
  'files.copy': Record<string, never>;
  'files.chmod': Record<string, never>;
  /** `skipped`: the first 100 entries left out (hard links, links pointing outside); skippedCount: all. */
  'files.compress': { archivePath: string; size: number; entries: number; bytes: number; skipped: { path: string; reason: string }[]; skippedCount: number };
  'files.decompress': { entries: number; bytes: number; skipped: string[]; skippedCount: number };
  'files.download': { size: number; mode: number; modified: string };
  'files.upload': { size: number };
}
export type RpcMethod = keyof RpcParams;
export const RPC_METHODS: readonly RpcMethod[] = [
  'ensureImage', 'ensureDataDir', 'create', 'start', 'stop', 'kill', 'restart', 'remove', 'sendCommand', 'install', 'inspect', 'list', 'consoleHistory',
  'backup.create', 'backup.delete', 'restore.run', 'backup.download',
  'transfer.send', 'transfer.receive', 'transfer.commit', 'transfer.abort',
  'files.list', 'files.stat', 'files.read', 'files.write', 'files.create', 'files.delete', 'files.rename', 'files.copy', 'files.chmod',
  'files.compress', 'files.decompress', 'files.download', 'files.upload',
];

// ---------------------------------------------------------------------------------------------
// Validation. Envelopes are checked strictly; payloads produced by the runtime (observed state,
// stats, health) are checked for their identifying fields only, so adding a field is not a break.
const uid = { type: 'string', minLength: 1, maxLength: 128 } as const;
const obj = (properties: Record<string, unknown>, required: string[], additional = false) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: additional,
});
const observed = obj({ uid, containerId: { type: 'string' }, state: { type: 'string' } }, ['uid', 'containerId', 'state'], true);
const health = obj({ time: { type: 'string' }, agentVersion: { type: 'string' } }, ['time', 'agentVersion'], true);
const consoleLine = obj({ stream: { enum: ['stdout', 'stderr', 'system'] }, line: { type: 'string' }, ts: { type: 'number' } }, ['stream', 'line', 'ts']);
const spec = obj(
  { serverUid: uid, name: { type: 'string', minLength: 1 }, namespace: { type: 'string', minLength: 1 }, image: { type: 'string', minLength: 1 }, dataDir: { type: 'string', minLength: 1 }, dataPath: { type: 'string', minLength: 1 } },
  ['serverUid', 'name', 'namespace', 'image', 'dataDir', 'dataPath'],
  true,
);
const empty = obj({}, []);
// Uids name files and directories on the node: no separators, no dots.
const fileUid = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$' } as const;
const dataDir = { type: 'string', minLength: 1, maxLength: 4096 } as const;

const filePath = { type: 'string', maxLength: 4096 } as const;
const filePaths = { type: 'array', minItems: 1, maxItems: 1000, items: filePath } as const;
const streamId = { type: 'integer', minimum: 1, maximum: 0xffffffff } as const;
const files = (properties: Record<string, unknown>, required: string[]) => obj({ uid, dataDir, ...properties }, ['uid', ...required]);

const PARAM_SCHEMAS: Record<RpcMethod, object> = {
  ensureImage: obj({ image: { type: 'string', minLength: 1 } }, ['image']),
  ensureDataDir: obj({ uid, dataDir }, ['uid', 'dataDir']),
  create: obj({ spec }, ['spec']),
  start: obj({ uid }, ['uid']),
  stop: obj({ uid, timeoutSeconds: { type: 'integer', minimum: 0, maximum: 3600 } }, ['uid']),
  kill: obj({ uid, signal: { type: 'string', pattern: '^(SIG)?[A-Z0-9]+$' } }, ['uid']),
  restart: obj({ uid }, ['uid']),
  remove: obj({ uid, removeData: { type: 'boolean' }, dataDir: { type: 'string' } }, ['uid', 'removeData']),
  sendCommand: obj({ uid, line: { type: 'string', maxLength: 4096 } }, ['uid', 'line']),
  install: obj({ spec, install: obj({ image: { type: 'string', minLength: 1 }, script: { type: 'string' } }, ['image', 'script'], true) }, ['spec', 'install']),
  inspect: obj({ uid }, ['uid']),
  list: empty,
  consoleHistory: obj({ uid, lines: { type: 'integer', minimum: 1, maximum: 10_000 } }, ['uid']),
  'backup.create': obj(
    { uid: fileUid, backupUid: fileUid, dataDir, ignore: { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 1024 } }, attach: { type: 'boolean' } },
    ['uid', 'backupUid', 'dataDir'],
  ),
  'backup.delete': obj({ uid: fileUid, backupUid: fileUid }, ['backupUid']),
  'restore.run': obj(
    {
      uid: fileUid,
      restoreUid: fileUid,
      dataDir,
      backup: obj({ serverUid: fileUid, backupUid: fileUid }, ['serverUid', 'backupUid']),
      sha256: { type: 'string', pattern: '^[a-f0-9]{64}$' },
      truncate: { type: 'boolean' },
      attach: { type: 'boolean' },
    },
    ['uid', 'restoreUid', 'dataDir', 'backup', 'sha256'],
  ),
  'backup.download': obj(
    { serverUid: fileUid, backupUid: fileUid, streamId, window: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 } },
    ['serverUid', 'backupUid', 'streamId', 'window'],
  ),
  'transfer.send': obj({ uid: fileUid, transferId: fileUid, dataDir, streamId, window: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 } }, ['uid', 'transferId', 'dataDir', 'streamId', 'window']),
  'transfer.receive': obj({ uid: fileUid, transferId: fileUid, dataDir, streamId }, ['uid', 'transferId', 'dataDir', 'streamId']),
  'transfer.commit': obj({ uid: fileUid, transferId: fileUid, dataDir, sha256: { type: 'string', pattern: '^[a-f0-9]{64}$' } }, ['uid', 'transferId', 'dataDir', 'sha256']),
  'transfer.abort': obj({ uid: fileUid, transferId: fileUid, dataDir }, ['uid', 'transferId', 'dataDir']),
  'files.list': files({ path: filePath }, ['path']),
  'files.stat': files({ path: filePath }, ['path']),
  'files.read': files({ path: filePath, maxBytes: { type: 'integer', minimum: 1, maximum: 2 * 1024 * 1024 } }, ['path']),
  'files.write': files({ path: filePath, content: { type: 'string', maxLength: 2 * 1024 * 1024 } }, ['path', 'content']),
  'files.create': files({ path: filePath, isDirectory: { type: 'boolean' }, content: { type: 'string', maxLength: 2 * 1024 * 1024 } }, ['path']),
  'files.delete': files({ paths: filePaths }, ['paths']),
  'files.rename': files({ from: filePath, to: filePath, overwrite: { type: 'boolean' } }, ['from', 'to']),
  'files.copy': files({ from: filePath, to: filePath }, ['from', 'to']),
  'files.chmod': files({ path: filePath, mode: { type: 'integer', minimum: 0, maximum: 0o777 } }, ['path', 'mode']),
  'files.compress': files({ paths: filePaths, destination: filePath }, ['paths', 'destination']),
  'files.decompress': files({ archivePath: filePath, targetPath: filePath }, ['archivePath', 'targetPath']),
  'files.download': files({ path: filePath, streamId, window: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 } }, ['path', 'streamId', 'window']),
  'files.upload': files({ path: filePath, streamId, maxBytes: { type: 'integer', minimum: 0 } }, ['path', 'streamId']),
};

const AGENT_SCHEMAS: Record<AgentMessage['type'], object> = {
  hello: obj({ type: { const: 'hello' }, protocolVersion: { type: 'integer' }, agentVersion: { type: 'string' }, health }, ['type', 'protocolVersion', 'agentVersion', 'health']),
  snapshot: obj({ type: { const: 'snapshot' }, containers: { type: 'array', items: observed } }, ['type', 'containers']),
  container: obj({ type: { const: 'container' }, container: observed }, ['type', 'container']),
  stats: obj({ type: { const: 'stats' }, samples: { type: 'array', items: obj({ uid, time: { type: 'number' } }, ['uid', 'time'], true) } }, ['type', 'samples']),
  players: obj(
    {
      type: { const: 'players' },
      samples: {
        type: 'array',
        maxItems: 10_000,
        items: obj(
          {
            uid,
            time: { type: 'number' },
            online: { type: 'integer', minimum: 0 },
            max: { type: 'integer', minimum: 0 },
            names: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 128 } },
            error: { type: 'string', maxLength: 1024 },
          },
          ['uid', 'time', 'online', 'max'],
          true,
        ),
      },
    },
    ['type', 'samples'],
  ),
  health: obj({ type: { const: 'health' }, health }, ['type', 'health']),
  console: obj({ type: { const: 'console' }, uid, lines: { type: 'array', items: consoleLine } }, ['type', 'uid', 'lines']),
  ping: obj({ type: { const: 'ping' }, ts: { type: 'number' } }, ['type', 'ts']),
  pong: obj({ type: { const: 'pong' }, ts: { type: 'number' } }, ['type', 'ts']),
  response: {
    oneOf: [
      obj({ type: { const: 'response' }, id: { type: 'string' }, ok: { const: true }, result: {} }, ['type', 'id', 'ok']),
      obj({ type: { const: 'response' }, id: { type: 'string' }, ok: { const: false }, error: obj({ code: { type: 'string' }, message: { type: 'string' } }, ['code', 'message']) }, ['type', 'id', 'ok', 'error']),
    ],
  },
  error: obj({ type: { const: 'error' }, message: { type: 'string' }, ref: { type: 'string' } }, ['type', 'message']),
  stream: obj(
    {
      type: { const: 'stream' },
      id: streamId,
      op: { enum: ['credit', 'end', 'abort'] },
      bytes: { type: 'integer', minimum: 1 },
      error: obj({ code: { type: 'string' }, message: { type: 'string' } }, ['code', 'message']),
    },
    ['type', 'id', 'op'],
  ),
};

const CONTROLLER_SCHEMAS: Record<ControllerMessage['type'], object> = {
  welcome: obj(
    {
      type: { const: 'welcome' },
      protocolVersion: { type: 'integer' },
      nodeName: { type: 'string' },
      heartbeatIntervalMs: { type: 'integer', minimum: 100 },
      statsIntervalMs: { type: 'integer', minimum: 100 },
      consoleThrottle: { oneOf: [{ const: false }, obj({ lines: { type: 'integer', minimum: 1 }, intervalMs: { type: 'integer', minimum: 1 } }, ['lines', 'intervalMs'])] },
    },
    ['type', 'protocolVersion', 'nodeName', 'heartbeatIntervalMs', 'statsIntervalMs', 'consoleThrottle'],
  ),
  request: obj(
    { type: { const: 'request' }, id: { type: 'string', minLength: 1, maxLength: 64 }, method: { type: 'string' }, params: { type: 'object' }, timeoutMs: { type: 'integer', minimum: 1 } },
    ['type', 'id', 'method', 'params'],
  ),
  ping: AGENT_SCHEMAS.ping,
  pong: AGENT_SCHEMAS.pong,
  error: AGENT_SCHEMAS.error,
  stream: AGENT_SCHEMAS.stream,
};

const ajv = new Ajv({ allErrors: false, strict: false });

/** Validators by message type, each compiled on first use: an agent needs few of them, and compiling
 *  all at import cost every process ~0.3 s and several MiB. */
class Validators {
  private readonly compiled = new Map<string, ValidateFunction>();
  constructor(private readonly schemas: Record<string, object>) {}
  has(type: string): boolean {
    return Object.hasOwn(this.schemas, type);
  }
  get(type: string): ValidateFunction {
    let v = this.compiled.get(type);
    if (!v) this.compiled.set(type, (v = ajv.compile(this.schemas[type])));
    return v;
  }
}
const agentValidators = new Validators(AGENT_SCHEMAS);
const controllerValidators = new Validators(CONTROLLER_SCHEMAS);
const paramValidators = new Validators(PARAM_SCHEMAS);

/** Largest frame either side accepts; bigger frames are refused without parsing. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string; ref?: string };

function parseWith<T extends { type: string }>(raw: string, validators: Validators, side: string): Parsed<T> {
  if (raw.length > MAX_FRAME_BYTES) return { ok: false, error: `frame of ${raw.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  const type = (value as { type?: unknown } | null)?.type;
  const ref = typeof (value as { id?: unknown } | null)?.id === 'string' ? (value as { id: string }).id : undefined;
  if (typeof type !== 'string' || !validators.has(type)) {
    return { ok: false, error: `unknown ${side} message type ${JSON.stringify(type)}`, ref };
  }
  const validate = validators.get(type);
  if (!validate(value)) {
    const e = validate.errors?.[0];
    return { ok: false, error: `invalid ${type} message: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`, ref };
  }
  return { ok: true, message: value as T };
}

/** Parses a frame the controller received from an agent. */
export const parseAgentMessage = (raw: string): Parsed<AgentMessage> => parseWith<AgentMessage>(raw, agentValidators, 'agent');
/** Parses a frame an agent received from the controller. */
export const parseControllerMessage = (raw: string): Parsed<ControllerMessage> => parseWith<ControllerMessage>(raw, controllerValidators, 'controller');

/** Checks an RPC request's method and params (agent side, before acting). */
export function checkRequest(req: RequestMessage): RpcErrorBody | undefined {
  if (!(RPC_METHODS as readonly string[]).includes(req.method)) {
    return { code: 'unknown_method', message: `unknown method "${req.method}" (known: ${RPC_METHODS.join(', ')})` };
  }
  const validate = paramValidators.get(req.method);
  if (!validate(req.params)) {
    const e = validate.errors?.[0];
    return { code: 'invalid_params', message: `${req.method}: params${e?.instancePath ?? ''} ${e?.message ?? 'are invalid'}` };
  }
  return undefined;
}
