// The typed, versioned messages between a node agent and the controller's agent hub, over one
// WebSocket (text frames, one JSON message each). Shared by both sides: the agent imports it
// directly, the controller through controller/hub. Every inbound message is validated here; an
// invalid one gets an `error` reply and a log line, never a crash.
import { Ajv, type ValidateFunction } from 'ajv';
import type { ContainerSpec, InstallSpec } from './runtime/spec.ts';
import type { ObservedContainer } from './runtime/events.ts';
import type { StatsSample } from './runtime/stats.ts';
import type { HealthReport } from './runtime/health.ts';

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

export type AgentMessage = HelloMessage | SnapshotMessage | ContainerMessage | StatsMessage | HealthMessage | ConsoleMessage | PingMessage | PongMessage | ResponseMessage | ErrorMessage;
export type ControllerMessage = WelcomeMessage | RequestMessage | PingMessage | PongMessage | ErrorMessage;

// ---------------------------------------------------------------------------------------------
// RPC: methods the controller calls on an agent, with their params and results.
export interface RpcParams {
  ensureImage: { image: string };
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
}
export interface RpcResults {
  ensureImage: { pulled: boolean };
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
}
export type RpcMethod = keyof RpcParams;
export const RPC_METHODS: readonly RpcMethod[] = [
  'ensureImage', 'create', 'start', 'stop', 'kill', 'restart', 'remove', 'sendCommand', 'install', 'inspect', 'list', 'consoleHistory',
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

const PARAM_SCHEMAS: Record<RpcMethod, object> = {
  ensureImage: obj({ image: { type: 'string', minLength: 1 } }, ['image']),
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
};

const AGENT_SCHEMAS: Record<AgentMessage['type'], object> = {
  hello: obj({ type: { const: 'hello' }, protocolVersion: { type: 'integer' }, agentVersion: { type: 'string' }, health }, ['type', 'protocolVersion', 'agentVersion', 'health']),
  snapshot: obj({ type: { const: 'snapshot' }, containers: { type: 'array', items: observed } }, ['type', 'containers']),
  container: obj({ type: { const: 'container' }, container: observed }, ['type', 'container']),
  stats: obj({ type: { const: 'stats' }, samples: { type: 'array', items: obj({ uid, time: { type: 'number' } }, ['uid', 'time'], true) } }, ['type', 'samples']),
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
};

const ajv = new Ajv({ allErrors: false, strict: false });
const compileAll = <K extends string>(schemas: Record<K, object>) =>
  Object.fromEntries(Object.entries(schemas).map(([k, s]) => [k, ajv.compile(s as object)])) as Record<K, ValidateFunction>;
const agentValidators = compileAll(AGENT_SCHEMAS);
const controllerValidators = compileAll(CONTROLLER_SCHEMAS);
const paramValidators = compileAll(PARAM_SCHEMAS);

/** Largest frame either side accepts; bigger frames are refused without parsing. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string; ref?: string };

function parseWith<T extends { type: string }>(raw: string, validators: Record<string, ValidateFunction>, side: string): Parsed<T> {
  if (raw.length > MAX_FRAME_BYTES) return { ok: false, error: `frame of ${raw.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  const type = (value as { type?: unknown } | null)?.type;
  const ref = typeof (value as { id?: unknown } | null)?.id === 'string' ? (value as { id: string }).id : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    return { ok: false, error: `unknown ${side} message type ${JSON.stringify(type)}`, ref };
  }
  const validate = validators[type];
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
  const validate = paramValidators[req.method];
  if (!validate(req.params)) {
    const e = validate.errors?.[0];
    return { code: 'invalid_params', message: `${req.method}: params${e?.instancePath ?? ''} ${e?.message ?? 'are invalid'}` };
  }
  return undefined;
}
