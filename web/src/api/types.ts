// The shapes of the API's answers the pages read (Catalyst's, as api/catalyst/ maps them).
export interface Me {
  id: string;
  email: string;
  username: string;
  totpEnabled: boolean;
  roles: { id: string; name: string }[];
  permissions: string[];
}

export interface Allocation {
  containerPort: number;
  hostPort: number | null;
  protocol: string;
  isPrimary: boolean;
  name?: string;
}

export interface Server {
  id: string;
  uuid: string;
  name: string;
  description: string | null;
  nodeId: string | null;
  templateId: string;
  ownerId: string | null;
  status: string;
  desiredState: 'running' | 'stopped';
  statusMessage: string | null;
  suspended: boolean;
  suspensionReason: string | null;
  allocatedMemoryMb: number;
  allocatedCpuCores: number;
  allocatedDiskMb: number;
  primaryHostPort: number | null;
  address: string | null;
  cpuUsage: number;
  memoryUsageMb: number;
  crashCount: number;
  restartPolicy: string;
  createdAt: string;
  // detail only
  node?: { id: string; name: string; publicAddress: string | null; isOnline: boolean } | null;
  template?: { id: string; name: string; dockerImage: string | null; found: boolean };
  environment?: Record<string, string>;
  allocations?: Allocation[];
  diskUsageMb?: number | null;
  startedAt?: string | null;
  exitCode?: number | null;
  image?: string | null;
  permissions?: string[];
  stopTimeoutSeconds?: number;
}

export interface Node {
  id: string;
  name: string;
  description: string | null;
  hostname: string;
  publicAddress: string;
  maxMemoryMb: number | null;
  maxCpuCores: number | null;
  maxDiskMb: number | null;
  isOnline: boolean;
  status: string;
  lastSeenAt: string | null;
  agentVersion: string | null;
  dockerVersion: string | null;
  os: string | null;
  allocated: { memoryMb?: number; cpuCores?: number; diskMb?: number } | null;
  portRange: { start: number; end: number } | null;
  unschedulable: boolean;
  servers: { id: string; name: string; status: string }[];
}

// The template variable is the CRD's own type (crds/types.ts): one definition for YAML, API and panel.
export type { TemplateVariable } from '../../../crds/types.ts';
import type { TemplateVariable } from '../../../crds/types.ts';

export interface Template {
  id: string;
  name: string;
  description: string | null;
  dockerImage: string;
  startCommand: string;
  stopCommand: string | null;
  stopSignal: string | null;
  ports: { internal: number; protocol: string; name?: string }[];
  environment: Record<string, string>;
  variables: TemplateVariable[];
  readyPattern: string | null;
  install: { image?: string; script: string; entrypoint?: string } | null;
  resources: { memoryMb?: number; cpuCores?: number; diskMb?: number };
  images: Record<string, string>;
}

export interface FileEntry {
  name: string;
  path?: string;
  type?: string;
  isDirectory?: boolean;
  isFile?: boolean;
  isSymlink?: boolean;
  size: number;
  mode?: number | string;
  modified?: string;
  modifiedAt?: string;
  mtime?: string;
}

export interface Backup {
  id: string;
  name: string;
  status: string;
  sizeBytes?: number | null;
  size?: number | null;
  checksum?: string | null;
  createdAt: string;
  completedAt?: string | null;
  message?: string | null;
  note?: string | null;
}

export interface Task {
  id: string;
  name: string;
  serverId: string;
  action: string;
  payload?: unknown;
  schedule: string;
  timeZone?: string;
  enabled: boolean;
  lastRunAt: string | null;
  nextRunAt: string | null;
  lastResult?: unknown;
  steps?: { action: string; payload?: unknown; delaySeconds?: number }[];
}

export interface User {
  id: string;
  email: string;
  username: string;
  disabled?: boolean;
  totpEnabled?: boolean;
  roles?: { id: string; name: string }[];
  roleIds?: string[];
  createdAt?: string;
}

export interface Role {
  id: string;
  name: string;
  description?: string | null;
  permissions: string[];
  builtin?: boolean;
}

export interface PermissionInfo {
  name: string;
  description: string;
  serverScoped?: boolean;
}

export interface Alert {
  id: string;
  serverId: string | null;
  nodeId: string | null;
  type: string;
  severity: string;
  title: string;
  message: string;
  resolved: boolean;
  createdAt: string;
  resolvedAt: string | null;
}

export interface AlertRule {
  id: string;
  name: string;
  type: string;
  target?: string;
  targetId?: string | null;
  conditions?: Record<string, unknown>;
  severity?: string;
  enabled: boolean;
  actions?: unknown[];
  firing?: boolean;
}

export interface AuditEntry {
  id: string;
  userId: string | null;
  username: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  status: number;
  metadata: Record<string, unknown>;
  ipAddress: string | null;
  createdAt: string;
}

export interface MetricPoint {
  timestamp: string;
  cpu: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  diskBytes: number;
  networkRxBps: number;
  networkTxBps: number;
}

export interface ServerDatabase {
  id: string;
  name: string;
  username: string;
  password: string;
  host: string;
  port: number;
  hostId: string;
  hostName: string;
  createdAt: string;
}

export interface DatabaseHost {
  id: string;
  name: string;
  host: string;
  port: number;
  username: string;
  maxDatabases: number | null;
  databaseCount: number;
}
