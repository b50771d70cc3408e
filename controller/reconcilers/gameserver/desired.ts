// The desired container of a GameServer: GameServer + ServerTemplate + GameNode → ContainerSpec.
// Pure: no I/O, never throws for bad input — a problem comes back as { error: { reason, message } }
// for the server's status.
//
// Decisions (see README.md in this folder):
//   - image: spec.image, which may name a key of the template's `images` (then that image is used) or
//     be an image reference itself; else the template's image.
//   - start command: spec.startCommand, else the template's, resolved by agent/template.ts
//     (tokenised, then substituted per word, run without a shell).
//   - built-in variables (lowest precedence: a template variable default or the server's environment
//     overrides them, see resolveVariables):
//       SERVER_PORT    the primary port's containerPort: what the game listens on inside the
//                      container. With networkMode host there is no mapping, so it is the host port.
//       SERVER_IP      0.0.0.0 (the address to bind inside the container; with networkMode host the
//                      node's bindAddress).
//       SERVER_MEMORY  the memory limit in MiB (0 = unlimited).
//       SERVER_NAME    metadata.name;  SERVER_UUID  metadata.uid.
//       SERVER_PORT_<NAME>  the same as SERVER_PORT for every named port (name upper-cased, - → _).
//   - data dir: `<namespace>/<name>`, relative: the agent resolves it under its servers data root.
//   - resources: each limit from the server, else the template, else the CRD defaults.
//   - ports: the server's, else the template's; a missing host port is taken from status.ports (the
//     allocation the scheduler recorded). In bridge mode a port without a host port is an error
//     (PortNotAllocated): Docker would otherwise pick a random one the allocator does not know.
//   - the hash is sha256 over the canonical JSON of the ContainerSpec (first 16 hex). It is the
//     CONTROLLER's hash, recorded in status.specHash when a create is issued; the agent's own label
//     hash (observed.specHash) depends on node policy and the absolute data dir, so it is not compared.
import { createHash } from 'node:crypto';
import type { GameNode, GameServer, ServerPort, ServerQuery, ServerTemplate } from '../../../crds/types.ts';
import type { ContainerSpec, InstallSpec, PortSpec, QuerySpec, StopSpec } from '../../../agent/runtime/spec.ts';
import { resolveStart, TemplateError } from '../../../agent/template.ts';
import { canonicalJson } from '../../../lib/canonical-json.ts';
import { dataDirOf } from '../../../crds/placement.ts';

/** Re-exported: the data-dir convention lives with the placement accessors (crds/placement.ts). */
export { dataDirOf };

export const DEFAULT_MEMORY_MB = 1024;
export const DEFAULT_CPU_CORES = 1;
export const DEFAULT_DISK_MB = 10240;
export const DEFAULT_STOP_TIMEOUT_SECONDS = 30;
export const DEFAULT_DATA_PATH = '/data';
export const DEFAULT_INSTALL_ENTRYPOINT = '/bin/sh';

export interface Desired {
  containerSpec: ContainerSpec;
  /** Present when the template has an install script. */
  install?: InstallSpec;
  /** The template's readyPattern, compiled; absent: running as soon as the container runs. */
  readyPattern?: RegExp;
  /** Controller-side hash of containerSpec (see above). */
  hash: string;
  /** The effective port bindings (with allocated host ports): status.ports. */
  ports: ServerPort[];
  /** `host:port` players connect to (node public address or address : primary host port). */
  address?: string;
  /** The display form of the start command (status message, console banner). */
  commandLine: string;
}

export interface DesiredError {
  error: { reason: string; message: string };
}

export type DesiredResult = Desired | DesiredError;

export interface ResolveOptions {
  /** Kill the install container after this long (agent default 3600). */
  installTimeoutSeconds?: number;
  /** Extra built-in variables (lowest precedence, below the built-ins above). */
  extraBuiltins?: Record<string, string>;
}

export const isDesiredError = (d: DesiredResult | undefined): d is DesiredError => !!d && 'error' in d;

const fail = (reason: string, message: string): DesiredError => ({ error: { reason, message } });

export function resolveDesired(server: GameServer, template: ServerTemplate | undefined, node: GameNode | undefined, opts: ResolveOptions = {}): DesiredResult {
  const spec = server.spec;
  if (!spec) return fail('InvalidSpec', 'the GameServer has no spec');
  if (!template || !template.spec) return fail('TemplateNotFound', `ServerTemplate "${spec.templateRef}" does not exist`);
  const t = template.spec;
  const uid = server.metadata.uid;
  if (!uid) return fail('InvalidSpec', 'the GameServer has no metadata.uid yet');

  // image
  let image = t.image;
  if (spec.image) image = t.images && Object.hasOwn(t.images, spec.image) ? t.images[spec.image] : spec.image;

  // resources
  const sr = spec.resources ?? {};
  const tr = t.resources ?? {};
  const memoryMb = sr.memoryMb ?? tr.memoryMb ?? DEFAULT_MEMORY_MB;
  const cpuCores = sr.cpuCores ?? tr.cpuCores ?? DEFAULT_CPU_CORES;
  const diskMb = sr.diskMb ?? tr.diskMb ?? DEFAULT_DISK_MB;
  const pidsLimit = sr.pidsLimit ?? tr.pidsLimit;

  // ports
  const networkMode = spec.networkMode ?? 'bridge';
  const allocated = server.status?.ports ?? [];
  const findAllocated = (containerPort: number, protocol: string) =>
    allocated.find((a) => a.containerPort === containerPort && (a.protocol ?? 'TCP') === protocol && a.hostPort)?.hostPort;
  const source: ServerPort[] = spec.ports && spec.ports.length > 0 ? spec.ports : (t.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol }));
  const hasPrimary = source.some((p) => p.primary);
  const ports: ServerPort[] = [];
  for (const [i, p] of source.entries()) {
    const protocol = p.protocol ?? 'TCP';
    const hostPort = p.hostPort || findAllocated(p.containerPort, protocol);
    if (!hostPort && networkMode === 'bridge') {
      return fail('PortNotAllocated', `port ${p.containerPort}/${protocol} has no host port: none in spec.ports and none allocated in status.ports`);
    }
    const out: ServerPort = { containerPort: p.containerPort, protocol, primary: hasPrimary ? Boolean(p.primary) : i === 0 };
    if (p.name) out.name = p.name;
    if (hostPort) out.hostPort = hostPort;
    ports.push(out);
  }
  const primary = ports.find((p) => p.primary);

  // built-ins
  const bindAddress = node?.spec?.bindAddress ?? '0.0.0.0';
  const listenPort = (p: ServerPort) => (networkMode === 'host' ? (p.hostPort ?? p.containerPort) : p.containerPort);
  const builtins: Record<string, string> = { ...(opts.extraBuiltins ?? {}) };
  builtins.SERVER_IP = networkMode === 'host' ? bindAddress : '0.0.0.0';
  builtins.SERVER_MEMORY = String(memoryMb);
  builtins.SERVER_NAME = server.metadata.name;
  builtins.SERVER_UUID = uid;
  if (primary) builtins.SERVER_PORT = String(listenPort(primary));
  for (const p of ports) if (p.name) builtins[`SERVER_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(listenPort(p));

  // command + environment
  let resolved;
  try {
    resolved = resolveStart({
      template: { startCommand: spec.startCommand ?? t.startCommand, environment: t.environment, variables: t.variables },
      serverEnvironment: spec.environment,
      builtins,
    });
  } catch (err) {
    if (err instanceof TemplateError) {
      // TemplateError.field names the variable, or the place (startCommand, environment.X) the message starts with
      const m = err.message;
      const reason = err.field === 'startCommand' || /^start ?command/i.test(m) ? 'InvalidStartCommand' : m.startsWith('environment.') ? 'InvalidEnvironment' : 'InvalidVariable';
      return fail(reason, err.message);
    }
    return fail('InvalidTemplate', (err as Error).message);
  }

  // ready pattern
  let readyPattern: RegExp | undefined;
  if (t.readyPattern) {
    try {
      readyPattern = new RegExp(t.readyPattern);
    } catch (err) {
      return fail('InvalidReadyPattern', `template readyPattern ${JSON.stringify(t.readyPattern)} does not compile: ${(err as Error).message}`);
    }
  }

  const stop: StopSpec = { type: t.stop?.type ?? 'command', value: t.stop?.value ?? 'stop' };
  const dataPath = t.dataPath ?? DEFAULT_DATA_PATH;
  const portSpecs: PortSpec[] = ports.map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, ...(p.hostPort ? { hostPort: p.hostPort } : {}) }));
  const containerSpec: ContainerSpec = {
    serverUid: uid,
    name: server.metadata.name,
    namespace: server.metadata.namespace ?? 'default',
    image,
    command: resolved.argv,
    env: resolved.env,
    dataDir: dataDirOf(server),
    dataPath,
    memoryMb,
    cpuCores,
    diskMb,
    ports: portSpecs,
    bindAddress,
    networkMode,
    stop,
    stopTimeoutSeconds: spec.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS,
  };
  if (pidsLimit !== undefined) containerSpec.pidsLimit = pidsLimit;
  if (t.query) containerSpec.query = queryTarget(t.query, ports, networkMode, bindAddress);

  let install: InstallSpec | undefined;
  if (t.install) {
    install = { image: t.install.image ?? image, script: t.install.script, entrypoint: t.install.entrypoint ?? DEFAULT_INSTALL_ENTRYPOINT, dataPath };
    if (opts.installTimeoutSeconds !== undefined) install.timeoutSeconds = opts.installTimeoutSeconds;
  }

  const host = node?.spec?.publicAddress ?? node?.spec?.address;
  const address = host && primary ? `${host}:${primary.hostPort ?? primary.containerPort}` : undefined;

  const out: Desired = { containerSpec, hash: hashSpec(containerSpec), ports, commandLine: resolved.commandLine };
  if (install) out.install = install;
  if (readyPattern) out.readyPattern = readyPattern;
  if (address) out.address = address;
  return out;
}

export const DEFAULT_QUERY_INTERVAL_SECONDS = 30;
export const DEFAULT_QUERY_TIMEOUT_SECONDS = 5;
/** Short names for the two protocols most games speak; anything else is passed to gamedig as it is. */
const QUERY_ALIASES: Record<string, { type: string; protocol: 'TCP' | 'UDP' }> = {
  minecraft: { type: 'protocol-minecraftvanilla', protocol: 'TCP' },
  source: { type: 'protocol-valve', protocol: 'UDP' },
};

/**
 * Where the agent on the node reaches the server's query port: the host port of that binding on the
 * node's bind address (loopback when it binds every address), or the port itself with host networking.
 * A query that cannot be resolved is not a reason to keep the server from running: it travels as
 * `{error}` and shows up as status.players.error.
 */
export function queryTarget(q: ServerQuery, ports: ServerPort[], networkMode: string, bindAddress: string): QuerySpec {
  const alias = QUERY_ALIASES[q.type];
  const type = alias?.type ?? q.type;
  const containerPort = q.port ?? ports.find((p) => p.primary)?.containerPort;
  if (containerPort === undefined) return { error: 'the template has a query section but the server has no ports to query' };
  if (networkMode === 'none') return { error: 'networkMode none: the server has no network to query' };
  const wanted = q.protocol ?? alias?.protocol ?? 'TCP';
  const candidates = ports.filter((p) => p.containerPort === containerPort);
  const binding = candidates.find((p) => (p.protocol ?? 'TCP') === wanted) ?? candidates[0];
  if (!binding) return { error: `query port ${containerPort} is not one of the server's ports (${ports.map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', ') || 'none'})` };
  const port = networkMode === 'host' ? (binding.hostPort || binding.containerPort) : binding.hostPort;
  if (!port) return { error: `query port ${containerPort} has no host port` };
  const host = bindAddress === '0.0.0.0' || bindAddress === '::' || bindAddress === '' ? '127.0.0.1' : bindAddress;
  return { type, host, port, intervalSeconds: q.intervalSeconds ?? DEFAULT_QUERY_INTERVAL_SECONDS, timeoutSeconds: q.timeoutSeconds ?? DEFAULT_QUERY_TIMEOUT_SECONDS };
}

/** sha256 (first 16 hex) of the canonical JSON (sorted keys, undefined dropped) of a container spec. */
export function hashSpec(spec: ContainerSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}

export { canonicalJson };
