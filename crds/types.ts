// TypeScript shapes of the CRDs in this folder, written by hand to follow the YAML (the YAML is the
// source: test/unit/crds-types.test.ts fails when the two drift apart).
//
// A field is optional here unless the schema requires it. Fields the schema defaults (marked
// "default: …") are always present on an object that went through CrdRegistry.validate(), i.e. on
// every stored object.
import type { Resource } from './resource.ts';

export const KINDS = {
  ServerTemplate: 'ServerTemplate',
  GameServer: 'GameServer',
  GameNode: 'GameNode',
  Backup: 'Backup',
  Restore: 'Restore',
  Schedule: 'Schedule',
  AlertRule: 'AlertRule',
} as const;
export type KindName = (typeof KINDS)[keyof typeof KINDS];

/** RFC 3339 date-time string, e.g. `2026-01-02T15:04:05Z`. */
export type DateTime = string;
export type Protocol = 'TCP' | 'UDP';

/** metav1.Condition: one aspect of an object's state. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: DateTime;
  observedGeneration?: number;
}

export interface ResourceLimits {
  memoryMb?: number;
  cpuCores?: number;
  /** 0 means no quota. */
  diskMb?: number;
  pidsLimit?: number;
}

// ---- ServerTemplate (cluster-scoped) --------------------------------------------------------------

export interface TemplatePort {
  name?: string;
  containerPort: number;
  /** default: TCP */
  protocol?: Protocol;
}

export interface TemplateVariable {
  /** `^[A-Z_][A-Z0-9_]*$`; referenced as `{{NAME}}` and passed as an environment variable. */
  name: string;
  displayName?: string;
  description?: string;
  default?: string;
  /** default: false */
  required?: boolean;
  /** Regular expression a value must match. */
  pattern?: string;
  /** default: true */
  userEditable?: boolean;
  /** default: true; false hides the value from server owners (secrets). */
  userViewable?: boolean;
}

export type ConfigFileParser = 'properties' | 'json' | 'yaml' | 'ini' | 'file';

export interface ConfigFile {
  /** Relative to dataPath. */
  path: string;
  parser: ConfigFileParser;
  /** Key (dotted path for json/yaml, section.key for ini, line prefix for file) → value with {{VAR}}. */
  replace: Record<string, string>;
}

export interface ServerTemplateSpec {
  displayName?: string;
  description?: string;
  image: string;
  /** Alternative images by label; a GameServer picks one with spec.image. */
  images?: Record<string, string>;
  /** With `{{VAR}}` placeholders. */
  startCommand: string;
  /** default: {type: command, value: stop} */
  stop?: { type?: 'command' | 'signal'; value?: string };
  /** Regular expression; the first console line matching it means "running". */
  readyPattern?: string;
  /** default: /data */
  dataPath?: string;
  install?: { image?: string; script: string; /** default: /bin/sh */ entrypoint?: string };
  ports?: TemplatePort[];
  variables?: TemplateVariable[];
  environment?: Record<string, string>;
  configFiles?: ConfigFile[];
  /** default: {memoryMb: 1024, cpuCores: 1, diskMb: 10240}; what servers get for a limit they leave out. */
  resources?: ResourceLimits;
  /** How the agent queries a running server for its players (status.players). */
  query?: ServerQuery;
  features?: string[];
}

export interface ServerQuery {
  /** `minecraft` (server list ping), `source` (A2S), or a gamedig game id / `protocol-<name>`. */
  type: string;
  /** Container port to query; default the primary port. */
  port?: number;
  /** Which binding of that port; default UDP for source, else TCP. */
  protocol?: Protocol;
  /** default 30 */
  intervalSeconds?: number;
  /** default 5 */
  timeoutSeconds?: number;
}

export interface PlayerCount {
  online: number;
  max: number;
  names?: string[];
  updatedAt: DateTime;
  error?: string;
}

export interface ServerTemplateStatus {
  observedGeneration?: number;
  /** Valid: placeholders resolve, readyPattern compiles. */
  conditions?: Condition[];
}

export type ServerTemplate = Resource<ServerTemplateSpec, ServerTemplateStatus>;

// ---- GameServer (namespaced) ---------------------------------------------------------------------

export interface ServerPort {
  name?: string;
  containerPort: number;
  /** 0 or left out: allocated from the node's portRange. */
  hostPort?: number;
  /** default: TCP */
  protocol?: Protocol;
  /** default: false; the first port when none is marked. */
  primary?: boolean;
}

export type RestartPolicyName = 'always' | 'on-failure' | 'never';
export type NetworkMode = 'bridge' | 'host' | 'none';
export type GameServerPhase =
  | 'stopped' | 'installing' | 'starting' | 'running' | 'stopping' | 'crashed' | 'transferring' | 'suspended' | 'error';

export interface GameServerSpec {
  displayName?: string;
  description?: string;
  /** Name of a ServerTemplate. */
  templateRef: string;
  image?: string;
  startCommand?: string;
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  /** default: Stopped */
  state?: 'Running' | 'Stopped';
  /** default: false */
  suspended?: boolean;
  suspendReason?: string;
  /** Left-out limits fall back to the template's resources. */
  resources?: ResourceLimits;
  /** Left out: the template's ports with allocated host ports. */
  ports?: ServerPort[];
  /** default: bridge */
  networkMode?: NetworkMode;
  /** Variable values and extra environment variables. */
  environment?: Record<string, string>;
  /** default: {policy: on-failure, maxCrashCount: 5}; maxCrashCount 0 = no limit. */
  restartPolicy?: { policy?: RestartPolicyName; maxCrashCount?: number };
  /** default: 30 */
  stopTimeoutSeconds?: number;
  /** One-shot triggers: acted on when newer than the handled* value in status. */
  restartedAt?: DateTime;
  killedAt?: DateTime;
  reinstalledAt?: DateTime;
  crashCountResetAt?: DateTime;
  owner?: string;
  /** default: false */
  keepDataOnDelete?: boolean;
}

export interface GameServerStatus {
  phase?: GameServerPhase;
  /** Scheduled, Installed, Ready, NodeReachable, UpToDate; Transferred (the transfer controller's). */
  conditions?: Condition[];
  observedGeneration?: number;
  nodeName?: string;
  containerId?: string;
  /** `host:port` players connect to. */
  address?: string;
  ports?: ServerPort[];
  crashCount?: number;
  lastCrashAt?: DateTime;
  exitCode?: number;
  oomKilled?: boolean;
  startedAt?: DateTime;
  handledRestartedAt?: DateTime;
  handledKilledAt?: DateTime;
  handledReinstalledAt?: DateTime;
  handledCrashCountResetAt?: DateTime;
  installedAt?: DateTime;
  /** Players online from the agent's query (templates with `query`), while running. */
  players?: PlayerCount;
  specHash?: string;
  /** The transfer between nodes under way (the transfer controller's). */
  transfer?: TransferStatus;
  message?: string;
}

export type TransferPhase = 'Streaming' | 'CleaningSource' | 'CleaningTarget';

export interface TransferStatus {
  id: string;
  from: string;
  to: string;
  phase: TransferPhase;
  startedAt?: DateTime;
  bytes?: number;
  entries?: number;
  sha256?: string;
  message?: string;
}

export type GameServer = Resource<GameServerSpec, GameServerStatus>;

// ---- GameNode (cluster-scoped) -------------------------------------------------------------------

export interface NodeCapacity {
  memoryMb?: number;
  cpuCores?: number;
  diskMb?: number;
}

export interface GameNodeSpec {
  displayName?: string;
  description?: string;
  address: string;
  publicAddress?: string;
  location?: string;
  capacity?: NodeCapacity;
  /** default: {start: 27000, end: 28000}, inclusive. */
  portRange?: { start: number; end: number };
  /** default: 0.0.0.0 */
  bindAddress?: string;
  /** default: false */
  unschedulable?: boolean;
}

export interface GameNodeStatus {
  phase?: 'Online' | 'Offline' | 'Unknown';
  lastHeartbeatTime?: DateTime;
  agentVersion?: string;
  dockerVersion?: string;
  osInfo?: { os?: string; kernelVersion?: string; architecture?: string; hostname?: string };
  allocatable?: NodeCapacity;
  allocated?: NodeCapacity & { servers?: number; ports?: number };
  /** Ready. */
  conditions?: Condition[];
  observedGeneration?: number;
  message?: string;
}

export type GameNode = Resource<GameNodeSpec, GameNodeStatus>;

// ---- Backup and Restore (namespaced) -------------------------------------------------------------

export type JobPhase = 'pending' | 'in_progress' | 'completed' | 'failed';

export interface BackupSpec {
  /** Name of a GameServer in the same namespace. */
  serverRef: string;
  /** Glob patterns relative to the data directory. */
  ignore?: string[];
  /** `720h`, `7d`, `1h30m` (see parseDuration). */
  ttl?: string;
  note?: string;
}

export interface BackupStatus {
  phase?: JobPhase;
  nodeName?: string;
  path?: string;
  sizeBytes?: number;
  sha256?: string;
  startedAt?: DateTime;
  completedAt?: DateTime;
  expiresAt?: DateTime;
  message?: string;
}

export type Backup = Resource<BackupSpec, BackupStatus>;

export interface RestoreSpec {
  backupRef: string;
  serverRef: string;
  /** default: false; delete every file before extracting. */
  truncate?: boolean;
}

export interface RestoreStatus {
  phase?: JobPhase;
  nodeName?: string;
  startedAt?: DateTime;
  completedAt?: DateTime;
  message?: string;
}

export type Restore = Resource<RestoreSpec, RestoreStatus>;

// ---- Schedule (namespaced) -----------------------------------------------------------------------

export type ScheduleAction = 'start' | 'stop' | 'restart' | 'kill' | 'backup' | 'command';

export interface ScheduleStep {
  action: ScheduleAction;
  /** The console command (required for command); the backup's note for backup. */
  payload?: string;
  /** default: 0 */
  delaySeconds?: number;
  /** default: false */
  continueOnFailure?: boolean;
}

export interface ScheduleSpec {
  serverRef: string;
  /** 5-field cron: minute hour day-of-month month day-of-week. */
  schedule: string;
  /** default: UTC */
  timeZone?: string;
  steps: ScheduleStep[];
  /** default: false */
  suspend?: boolean;
  /** default: false */
  onlyWhenRunning?: boolean;
  /** default: Forbid */
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  startingDeadlineSeconds?: number;
  backupRetention?: { keep: number };
}

export interface ScheduleStepResult {
  action: ScheduleAction;
  success: boolean;
  skipped?: boolean;
  message?: string;
}

export interface ScheduleStatus {
  lastScheduleTime?: DateTime;
  nextScheduleTime?: DateTime;
  runCount?: number;
  active?: boolean;
  lastResult?: { startedAt?: DateTime; completedAt?: DateTime; success?: boolean; steps?: ScheduleStepResult[] };
  message?: string;
  observedGeneration?: number;
}

export type Schedule = Resource<ScheduleSpec, ScheduleStatus>;

// ---- AlertRule (cluster-scoped) ------------------------------------------------------------------

export type AlertType = 'resource_threshold' | 'node_offline' | 'server_crashed';
export type AlertMetric = 'cpu' | 'memory' | 'disk' | 'network_rx' | 'network_tx';
export type AlertOperator = '>' | '>=' | '<' | '<=' | '==';
export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertRuleSpec {
  displayName?: string;
  description?: string;
  type: AlertType;
  /** Left out: every object of the type's kind (GameNode for node_offline, else GameServer). */
  target?: { kind: 'GameServer' | 'GameNode'; name?: string; namespace?: string };
  /** Labels the targets must carry. */
  selector?: Record<string, string>;
  /** Required for resource_threshold. cpu/memory/disk in percent of the limit, network in bytes/s. */
  condition?: { metric: AlertMetric; operator: AlertOperator; value: number; /** default: 0 */ durationSeconds?: number };
  /** default: warning */
  severity?: AlertSeverity;
  actions?: { /** default: webhook */ type?: 'webhook'; url: string; /** default: generic */ format?: 'generic' | 'discord' | 'slack' }[];
  /** default: 300 */
  cooldownSeconds?: number;
  /** default: true */
  enabled?: boolean;
}

export interface AlertRuleStatus {
  lastEvaluated?: DateTime;
  lastFiredAt?: DateTime;
  /** Number of targets the rule fires for now. */
  firing?: number;
  message?: string;
  observedGeneration?: number;
}

export type AlertRule = Resource<AlertRuleSpec, AlertRuleStatus>;

/** Every Gantry resource, by kind. */
export interface KindTypes {
  ServerTemplate: ServerTemplate;
  GameServer: GameServer;
  GameNode: GameNode;
  Backup: Backup;
  Restore: Restore;
  Schedule: Schedule;
  AlertRule: AlertRule;
}
