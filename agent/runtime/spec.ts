// The resolved container spec the controller sends, and its pure mapping to Docker create options.
// No Docker calls here: everything is unit-tested as data.
//
// Hardening (always, not configurable per server — a template cannot loosen it):
//   - Privileged false; SecurityOpt no-new-privileges (setuid binaries cannot raise privileges).
//   - CapDrop ALL, then CapAdd DEFAULT_CAP_ADD only (see below). Node operators may change the list
//     through RuntimePolicy (agent configuration), never through a template or server.
//   - PidsLimit (default 512) against fork bombs.
//   - /tmp is a tmpfs of 64 MiB: rw,exec,nosuid,nodev. NOT noexec: JVM servers (Netty epoll,
//     LWJGL, sqlite-jdbc, RocksDB...) extract native libraries to /tmp and dlopen them, which fails on
//     a noexec mount ("failed to map segment from shared object"). nosuid/nodev cost nothing. The
//     tmpfs pages are charged to the container's memory cgroup, so it cannot exhaust the node.
//   - Memory swap = memory (no swap); NanoCpus for the CPU quota (Docker refuses NanoCpus together
//     with CpuPeriod/CpuQuota, so only NanoCpus is set).
//   - A bounded log driver (`local`, 5 MiB, one file): the console is attached, docker's own log is
//     only a short tail for `docker logs`; a chatty server cannot fill the node's disk with it.
//   - Restart policy "no": the controller decides restarts (crash counting, backoff).

import { createHash } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { LABEL_NODE } from './scope.ts';

export type Protocol = 'TCP' | 'UDP';

export interface PortSpec {
  containerPort: number;
  /** 0 or absent: a random free host port (Docker picks it; see observed ports). */
  hostPort?: number;
  protocol?: Protocol;
}

export interface StopSpec {
  /** `command`: a console line written to stdin (e.g. `stop`); `signal`: a signal name (SIGTERM, SIGINT...). */
  type: 'command' | 'signal';
  value: string;
}

export interface ContainerSpec {
  serverUid: string;
  name: string;
  namespace: string;
  image: string;
  /** argv; empty or absent: the image's default CMD (with its ENTRYPOINT, if any). */
  command?: string[];
  env?: Record<string, string>;
  /** Host path of the server's data directory (created by the runtime when missing). */
  dataDir: string;
  /** Where the data directory is mounted in the container (the template's data path). */
  dataPath: string;
  /** Hard memory limit in MiB (swap = memory). 0/absent: unlimited. */
  memoryMb?: number;
  /** CPU quota in cores (1.5 = one and a half). 0/absent: unlimited. */
  cpuCores?: number;
  pidsLimit?: number;
  /** Disk quota in MiB: not enforced by Docker here, measured and reported (stats.ts). */
  diskMb?: number;
  ports?: PortSpec[];
  /** Host address the ports are published on (e.g. 0.0.0.0 or the node's public IP). */
  bindAddress?: string;
  /** bridge (default), host, none, or a user-defined network name. */
  networkMode?: string;
  stop?: StopSpec;
  stopTimeoutSeconds?: number;
  /** Optional user[:group] the process runs as (default: the image's USER). */
  user?: string;
  /** Player queries of the running server (agent/runtime/players.ts), kept in a label so an adopted container is still queried. */
  query?: QuerySpec;
}

/** Where and how the agent queries a server for its players; `error` when the template's query cannot be resolved (reported as the players error). */
export type QuerySpec =
  | { type: string; host: string; port: number; intervalSeconds: number; timeoutSeconds: number }
  | { error: string };

/** Node-level policy: agent configuration, never part of a server spec. */
export interface RuntimePolicy {
  /** Capabilities kept after CapDrop ALL. */
  capAdd: string[];
  defaultPidsLimit: number;
  tmpfsSizeMb: number;
  logDriver: { Type: string; Config: Record<string, string> };
  /** Labels added to every container (e.g. a test-run label); also used to scope listing. */
  extraLabels: Record<string, string>;
  /** This agent's GameNode: every container gets `gantry.dev/node=<it>` and only those are its own (scope.ts). */
  nodeName?: string;
  /** Container names: `${namePrefix}-${namespace}-${name}-${uid8}`. */
  namePrefix: string;
}

/**
 * Kept after CapDrop ALL — Docker's default set minus what a game server does not need:
 *   CHOWN, SETUID, SETGID   entrypoints that chown the data dir then drop to a user (gosu, su-exec);
 *                           also what Wings keeps.
 *   DAC_OVERRIDE, FOWNER    root entrypoints editing files owned by the game user in the bind-mounted
 *                           data dir (config templating, chmod); only affects the container's own view.
 *   KILL                    a root wrapper signalling its game process running as another uid.
 *   NET_BIND_SERVICE        ports below 1024 inside the container (web maps, voice query ports).
 * Dropped from Docker's defaults: MKNOD, NET_RAW (raw sockets / ARP spoofing on the bridge),
 * SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE, FSETID.
 */
export const DEFAULT_CAP_ADD = ['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE'] as const;

export const DEFAULT_POLICY: RuntimePolicy = {
  capAdd: [...DEFAULT_CAP_ADD],
  defaultPidsLimit: 512,
  tmpfsSizeMb: 64,
  // `local` refuses compress=true with max-file=1 ("compression cannot be enabled when max file count is 1").
  logDriver: { Type: 'local', Config: { 'max-size': '5m', 'max-file': '1', compress: 'false' } },
  extraLabels: {},
  namePrefix: 'gantry',
};

export const LABEL_UID = 'gantry.dev/server-uid';
export const LABEL_NAME = 'gantry.dev/server-name';
export const LABEL_NAMESPACE = 'gantry.dev/namespace';
export const LABEL_SPEC_HASH = 'gantry.dev/spec-hash';
/** `server` or `install`. */
export const LABEL_ROLE = 'gantry.dev/role';
/** Kept on the container so an agent that adopts it after a restart still knows how to stop it. */
export const LABEL_STOP = 'gantry.dev/stop';
export const LABEL_STOP_TIMEOUT = 'gantry.dev/stop-timeout';
export const LABEL_DATA_DIR = 'gantry.dev/data-dir';
export const LABEL_DISK_MB = 'gantry.dev/disk-mb';
export const LABEL_QUERY = 'gantry.dev/query';
export { LABEL_NODE };

const MiB = 1024 * 1024;
export const DEFAULT_STOP_TIMEOUT_SECONDS = 30;

export class SpecError extends Error {
  override readonly name = 'SpecError';
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

const SIGNAL_RE = /^(SIG)?[A-Z][A-Z0-9+-]*$|^[0-9]{1,2}$/;

/** Validates what Docker would otherwise reject late or silently misapply. Throws SpecError. */
export function validateSpec(spec: ContainerSpec): void {
  const need = (ok: boolean, field: string, msg: string) => {
    if (!ok) throw new SpecError(`${field}: ${msg}`, field);
  };
  need(typeof spec.serverUid === 'string' && /^[A-Za-z0-9-]{8,}$/.test(spec.serverUid), 'serverUid', 'must be a uid (letters, digits, -; 8+ chars)');
  need(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(spec.name), 'name', 'must be a DNS-1123 name');
  need(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec.namespace), 'namespace', 'must be a DNS-1123 label');
  need(typeof spec.image === 'string' && spec.image.length > 0 && !/\s/.test(spec.image), 'image', 'must be an image reference');
  need(path.isAbsolute(spec.dataDir), 'dataDir', 'must be an absolute host path');
  need(path.posix.isAbsolute(spec.dataPath) && spec.dataPath !== '/', 'dataPath', 'must be an absolute container path other than /');
  need(path.posix.normalize(spec.dataPath) !== '/tmp', 'dataPath', 'must not be /tmp (a tmpfs)');
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    need(/^[A-Za-z_][A-Za-z0-9_]*$/.test(k), `env.${k}`, 'invalid variable name');
    need(!v.includes('\0'), `env.${k}`, 'contains NUL');
  }
  for (const a of spec.command ?? []) need(!a.includes('\0'), 'command', 'an argument contains NUL');
  need(spec.memoryMb === undefined || (Number.isFinite(spec.memoryMb) && spec.memoryMb >= 0 && (spec.memoryMb === 0 || spec.memoryMb >= 6)), 'memoryMb', 'must be 0 (unlimited) or at least 6 (Docker\'s minimum)');
  need(spec.cpuCores === undefined || (Number.isFinite(spec.cpuCores) && spec.cpuCores >= 0), 'cpuCores', 'must be >= 0');
  need(spec.pidsLimit === undefined || (Number.isInteger(spec.pidsLimit) && spec.pidsLimit > 0), 'pidsLimit', 'must be a positive integer');
  need(spec.diskMb === undefined || (Number.isFinite(spec.diskMb) && spec.diskMb >= 0), 'diskMb', 'must be >= 0');
  need(spec.stopTimeoutSeconds === undefined || (Number.isInteger(spec.stopTimeoutSeconds) && spec.stopTimeoutSeconds >= 0), 'stopTimeoutSeconds', 'must be an integer >= 0');
  const seen = new Set<string>();
  (spec.ports ?? []).forEach((p, i) => {
    const f = `ports[${i}]`;
    need(Number.isInteger(p.containerPort) && p.containerPort > 0 && p.containerPort < 65536, `${f}.containerPort`, 'must be 1-65535');
    need(p.hostPort === undefined || (Number.isInteger(p.hostPort) && p.hostPort >= 0 && p.hostPort < 65536), `${f}.hostPort`, 'must be 0-65535');
    need(p.protocol === undefined || p.protocol === 'TCP' || p.protocol === 'UDP', `${f}.protocol`, 'must be TCP or UDP');
    const key = `${p.containerPort}/${p.protocol ?? 'TCP'}`;
    need(!seen.has(key), f, `duplicate port ${key}`);
    seen.add(key);
  });
  if (spec.query && !('error' in spec.query)) {
    const q = spec.query;
    need(/^[a-z0-9][a-z0-9_-]{0,63}$/.test(q.type), 'query.type', 'must be a gamedig type (lowercase letters, digits, - and _)');
    need(typeof q.host === 'string' && /^[A-Za-z0-9.:_-]{1,253}$/.test(q.host), 'query.host', 'must be a host name or IP address');
    need(Number.isInteger(q.port) && q.port > 0 && q.port < 65536, 'query.port', 'must be 1-65535');
    need(Number.isInteger(q.intervalSeconds) && q.intervalSeconds >= 1, 'query.intervalSeconds', 'must be a positive integer');
    need(Number.isInteger(q.timeoutSeconds) && q.timeoutSeconds >= 1, 'query.timeoutSeconds', 'must be a positive integer');
  }
  if (spec.stop) {
    need(spec.stop.type === 'command' || spec.stop.type === 'signal', 'stop.type', 'must be command or signal');
    if (spec.stop.type === 'signal') need(SIGNAL_RE.test(spec.stop.value), 'stop.value', 'must be a signal name like SIGTERM');
    else need(spec.stop.value.length > 0 && !/[\r\n]/.test(spec.stop.value), 'stop.value', 'must be one console line');
  }
}

export function normaliseSignal(sig: string): string {
  return /^[0-9]+$/.test(sig) || sig.startsWith('SIG') ? sig : `SIG${sig}`;
}

export function containerName(spec: Pick<ContainerSpec, 'serverUid' | 'name' | 'namespace'>, policy: Pick<RuntimePolicy, 'namePrefix'> = DEFAULT_POLICY, role: 'server' | 'install' = 'server'): string {
  const uid8 = spec.serverUid.replace(/-/g, '').slice(0, 8);
  return role === 'server' ? `${policy.namePrefix}-${spec.namespace}-${spec.name}-${uid8}` : `${policy.namePrefix}-install-${spec.namespace}-${spec.name}-${uid8}`;
}

function hostConfigBase(spec: ContainerSpec, policy: RuntimePolicy, dataPath: string): Docker.HostConfig {
  const memory = spec.memoryMb && spec.memoryMb > 0 ? Math.round(spec.memoryMb * MiB) : 0;
  const hc: Docker.HostConfig = {
    Mounts: [{ Type: 'bind', Source: spec.dataDir, Target: dataPath, ReadOnly: false }],
    Memory: memory,
    // Swap = memory: MemorySwap is memory+swap, so equal values mean no swap. 0 with no limit.
    MemorySwap: memory,
    NanoCpus: spec.cpuCores && spec.cpuCores > 0 ? Math.round(spec.cpuCores * 1e9) : 0,
    PidsLimit: spec.pidsLimit ?? policy.defaultPidsLimit,
    Privileged: false,
    ReadonlyRootfs: false,
    SecurityOpt: ['no-new-privileges:true'],
    CapDrop: ['ALL'],
    CapAdd: [...policy.capAdd],
    Tmpfs: { '/tmp': `rw,exec,nosuid,nodev,size=${policy.tmpfsSizeMb}m,mode=1777` },
    RestartPolicy: { Name: 'no' },
    LogConfig: { Type: policy.logDriver.Type, Config: { ...policy.logDriver.Config } },
    OomKillDisable: false,
    Init: false,
  };
  return hc;
}

function baseLabels(spec: ContainerSpec, policy: RuntimePolicy, role: 'server' | 'install'): Record<string, string> {
  return {
    ...policy.extraLabels,
    ...(policy.nodeName ? { [LABEL_NODE]: policy.nodeName } : {}),
    [LABEL_UID]: spec.serverUid,
    [LABEL_NAME]: spec.name,
    [LABEL_NAMESPACE]: spec.namespace,
    [LABEL_ROLE]: role,
  };
}

function envList(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
}

/** Docker create options for the game server container (labels include the spec hash). */
export function toCreateOptions(spec: ContainerSpec, policy: RuntimePolicy = DEFAULT_POLICY): Docker.ContainerCreateOptions {
  validateSpec(spec);
  const networkMode = spec.networkMode || 'bridge';
  const publish = networkMode !== 'host' && networkMode !== 'none' && !networkMode.startsWith('container:');
  const exposed: Record<string, {}> = {};
  const bindings: Docker.PortMap = {};
  for (const p of spec.ports ?? []) {
    const key = `${p.containerPort}/${(p.protocol ?? 'TCP').toLowerCase()}`;
    exposed[key] = {};
    if (publish) bindings[key] = [{ HostIp: spec.bindAddress ?? '0.0.0.0', HostPort: p.hostPort ? String(p.hostPort) : '' }];
  }
  const stop = spec.stop ?? { type: 'signal', value: 'SIGTERM' };
  const stopTimeout = spec.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS;
  const labels: Record<string, string> = {
    ...baseLabels(spec, policy, 'server'),
    [LABEL_STOP]: JSON.stringify(stop),
    [LABEL_STOP_TIMEOUT]: String(stopTimeout),
    [LABEL_DATA_DIR]: spec.dataDir,
  };
  if (spec.diskMb) labels[LABEL_DISK_MB] = String(spec.diskMb);
  if (spec.query) labels[LABEL_QUERY] = canonicalJson(spec.query);
  const opts: Docker.ContainerCreateOptions = {
    name: containerName(spec, policy),
    Image: spec.image,
    Hostname: spec.name.slice(0, 63).replace(/\.+$/, ''),
    Env: envList(spec.env),
    Labels: labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: false,
    Tty: false,
    // The stop signal docker itself uses (`docker stop`, daemon shutdown). With a console stop command
    // the runtime writes the command and escalates straight to SIGKILL after the timeout.
    StopSignal: normaliseSignal(stop.type === 'signal' ? stop.value : 'SIGTERM'),
    StopTimeout: stopTimeout,
    ExposedPorts: exposed,
    HostConfig: {
      ...hostConfigBase(spec, policy, spec.dataPath),
      NetworkMode: networkMode,
      PortBindings: bindings,
    },
  };
  if (spec.command && spec.command.length > 0) opts.Cmd = [...spec.command];
  if (spec.user) opts.User = spec.user;
  opts.Labels![LABEL_SPEC_HASH] = hashCreateOptions(opts);
  return opts;
}

export interface InstallSpec {
  image: string;
  script: string;
  /** Interpreter the script file is passed to (default /bin/sh). */
  entrypoint?: string;
  /** Where the data dir is mounted for the install (default /mnt/server, Pterodactyl's convention). */
  dataPath?: string;
  /** Killed after this long (default 3600). */
  timeoutSeconds?: number;
}

export const INSTALL_SCRIPT_DIR = '/mnt/install';

/**
 * The one-off install container: same labels (role=install), same limits and hardening as the server,
 * the data dir at install.dataPath, the script mounted read-only from `scriptHostDir` and run as
 * `<entrypoint> /mnt/install/install.sh`. No stdin, no published ports.
 */
export function toInstallCreateOptions(spec: ContainerSpec, install: InstallSpec, scriptHostDir: string, policy: RuntimePolicy = DEFAULT_POLICY): Docker.ContainerCreateOptions {
  validateSpec(spec);
  if (!install.image || /\s/.test(install.image)) throw new SpecError('install.image: must be an image reference', 'install.image');
  const dataPath = install.dataPath ?? '/mnt/server';
  if (!path.posix.isAbsolute(dataPath) || dataPath === '/' || dataPath === INSTALL_SCRIPT_DIR) throw new SpecError('install.dataPath: must be an absolute path other than / and /mnt/install', 'install.dataPath');
  const networkMode = spec.networkMode && spec.networkMode !== 'none' ? spec.networkMode : 'bridge';
  const hc = hostConfigBase(spec, policy, dataPath);
  hc.Mounts!.push({ Type: 'bind', Source: scriptHostDir, Target: INSTALL_SCRIPT_DIR, ReadOnly: true });
  hc.NetworkMode = networkMode;
  const opts: Docker.ContainerCreateOptions = {
    name: containerName(spec, policy, 'install'),
    Image: install.image,
    Env: envList(spec.env),
    Labels: baseLabels(spec, policy, 'install'),
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: false,
    Tty: false,
    Entrypoint: [install.entrypoint ?? '/bin/sh'],
    Cmd: [`${INSTALL_SCRIPT_DIR}/install.sh`],
    WorkingDir: dataPath,
    HostConfig: hc,
  };
  return opts;
}

/** sha256 (first 16 hex) of the create options with keys sorted, minus the hash label itself. */
export function hashCreateOptions(opts: Docker.ContainerCreateOptions): string {
  const labels = { ...(opts.Labels ?? {}) };
  delete labels[LABEL_SPEC_HASH];
  return createHash('sha256').update(canonicalJson({ ...opts, Labels: labels })).digest('hex').slice(0, 16);
}

/** The value the `gantry.dev/spec-hash` label gets for this spec: compare it to decide on recreation. */
export function specHash(spec: ContainerSpec, policy: RuntimePolicy = DEFAULT_POLICY): string {
  return toCreateOptions(spec, policy).Labels![LABEL_SPEC_HASH];
}


/** Reads the stop settings a container was created with (for adopted containers). */
export function stopFromLabels(labels: Record<string, string> | undefined): { stop: StopSpec; timeoutSeconds: number } {
  let stop: StopSpec = { type: 'signal', value: 'SIGTERM' };
  try {
    const parsed = JSON.parse(labels?.[LABEL_STOP] ?? '') as StopSpec;
    if ((parsed.type === 'command' || parsed.type === 'signal') && typeof parsed.value === 'string') stop = parsed;
  } catch {
    // default
  }
  const t = Number(labels?.[LABEL_STOP_TIMEOUT]);
  return { stop, timeoutSeconds: Number.isFinite(t) && t >= 0 ? t : DEFAULT_STOP_TIMEOUT_SECONDS };
}
