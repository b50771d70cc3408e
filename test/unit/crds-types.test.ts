// crds/types.ts and the CRD schemas must describe the same fields. Each sample below is typed with
// every optional field made required (so the compiler demands every field of the TS type), must
// validate (so it has no field the schema lacks and every value fits), must come out of validation
// unchanged (no default was missing), and must cover every field the schema declares.
import { beforeAll, describe, expect, it } from 'vitest';
import { CrdRegistry } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import {
  KINDS,
  type AlertRule, type Backup, type Condition, type GameNode, type GameServer, type KindTypes, type Restore, type Schedule, type ServerTemplate,
} from '../../crds/types.ts';

type DeepRequired<T> = T extends (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> } : T;
type Sample<T extends Resource<any, any>> = {
  apiVersion: string;
  kind: T['kind'];
  metadata: { name: string; namespace?: string };
  spec: DeepRequired<NonNullable<T['spec']>>;
  status: DeepRequired<NonNullable<T['status']>>;
};

const T = '2026-01-02T03:04:05Z';
const API = 'gantry.dev/v1alpha1';
const condition: DeepRequired<Condition> = { type: 'Ready', status: 'True', reason: 'Running', message: 'ok', lastTransitionTime: T, observedGeneration: 1 };

const serverTemplate: Sample<ServerTemplate> = {
  apiVersion: API, kind: 'ServerTemplate', metadata: { name: 'minecraft' },
  spec: {
    displayName: 'Minecraft', description: 'Java edition', image: 'itzg/minecraft-server:java21', images: { 'Java 17': 'itzg/minecraft-server:java17' },
    startCommand: 'java -Xmx{{MEMORY}}M -jar server.jar', stop: { type: 'command', value: 'stop' }, readyPattern: 'Done \\(',
    dataPath: '/data', install: { image: 'alpine:3', script: 'wget -O server.jar "$URL"', entrypoint: '/bin/ash' },
    ports: [{ name: 'game', containerPort: 25565, protocol: 'TCP' }],
    variables: [{ name: 'MEMORY', displayName: 'Memory', description: 'Heap in MiB', default: '1024', required: true, pattern: '^[0-9]+$', userEditable: false, userViewable: true }],
    environment: { EULA: 'TRUE' },
    configFiles: [{ path: 'server.properties', parser: 'properties', replace: { 'server-port': '{{SERVER_PORT}}' } }],
    resources: { memoryMb: 2048, cpuCores: 2, diskMb: 10240, pidsLimit: 512 },
    query: { type: 'minecraft', port: 25565, protocol: 'TCP', intervalSeconds: 30, timeoutSeconds: 5 },
    features: ['eula', 'java_version'],
  },
  status: { observedGeneration: 1, conditions: [condition] },
};

const gameServer: Sample<GameServer> = {
  apiVersion: API, kind: 'GameServer', metadata: { name: 'lobby', namespace: 'default' },
  spec: {
    displayName: 'Lobby', description: 'Main lobby', templateRef: 'minecraft', image: 'itzg/minecraft-server:java17', startCommand: 'java -jar server.jar',
    nodeName: 'node-1', nodeSelector: { region: 'eu' }, state: 'Running', suspended: false, suspendReason: 'billing',
    resources: { memoryMb: 4096, cpuCores: 2, diskMb: 10240, pidsLimit: 1024 },
    ports: [{ name: 'game', containerPort: 25565, hostPort: 25565, protocol: 'TCP', primary: true }],
    networkMode: 'bridge', environment: { MEMORY: '4096' }, restartPolicy: { policy: 'always', maxCrashCount: 5 }, stopTimeoutSeconds: 30,
    restartedAt: T, killedAt: T, reinstalledAt: T, crashCountResetAt: T, owner: 'user-1', keepDataOnDelete: true,
  },
  status: {
    phase: 'running', conditions: [condition], observedGeneration: 3, nodeName: 'node-1', containerId: 'abc123', address: '203.0.113.4:25565',
    ports: [{ name: 'game', containerPort: 25565, hostPort: 25565, protocol: 'TCP', primary: true }],
    crashCount: 0, lastCrashAt: T, exitCode: 0, oomKilled: false, startedAt: T, handledRestartedAt: T, handledKilledAt: T,
    handledReinstalledAt: T, handledCrashCountResetAt: T, installedAt: T, specHash: 'sha256:0f', message: 'running',
    players: { online: 3, max: 20, names: ['alice'], updatedAt: T, error: 'timed out' },
    transfer: { id: '0f3a9c', from: 'node-1', to: 'node-2', phase: 'Streaming', startedAt: T, bytes: 1024, entries: 3, sha256: 'ab'.repeat(32), message: 'moving' },
  },
};

const gameNode: Sample<GameNode> = {
  apiVersion: API, kind: 'GameNode', metadata: { name: 'node-1' },
  spec: {
    displayName: 'Node 1', description: 'Production', address: '10.0.0.5', publicAddress: 'node1.example.com', location: 'eu-west',
    capacity: { memoryMb: 32768, cpuCores: 16, diskMb: 512000 }, portRange: { start: 27000, end: 28000 }, bindAddress: '0.0.0.0', unschedulable: false,
  },
  status: {
    phase: 'Online', lastHeartbeatTime: T, agentVersion: '0.1.0', dockerVersion: '20.10.24',
    osInfo: { os: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', architecture: 'amd64', hostname: 'node1' },
    allocatable: { memoryMb: 30000, cpuCores: 15, diskMb: 500000 },
    allocated: { memoryMb: 4096, cpuCores: 2, diskMb: 10240, servers: 1, ports: 1 },
    conditions: [condition], observedGeneration: 1, message: 'ok',
  },
};

const backup: Sample<Backup> = {
  apiVersion: API, kind: 'Backup', metadata: { name: 'lobby-1', namespace: 'default' },
  spec: { serverRef: 'lobby', ignore: ['*.log'], ttl: '720h', note: 'before update' },
  status: {
    phase: 'completed', nodeName: 'node-1', path: '/var/lib/gantry/backups/lobby-1.tar.gz', sizeBytes: 268435456,
    sha256: 'a'.repeat(64), startedAt: T, completedAt: T, expiresAt: T, message: 'done',
  },
};

const restore: Sample<Restore> = {
  apiVersion: API, kind: 'Restore', metadata: { name: 'lobby-1-restore', namespace: 'default' },
  spec: { backupRef: 'lobby-1', serverRef: 'lobby', truncate: true },
  status: { phase: 'in_progress', nodeName: 'node-1', startedAt: T, completedAt: T, message: 'extracting' },
};

const schedule: Sample<Schedule> = {
  apiVersion: API, kind: 'Schedule', metadata: { name: 'nightly', namespace: 'default' },
  spec: {
    serverRef: 'lobby', schedule: '0 4 * * *', timeZone: 'Europe/Paris',
    steps: [{ action: 'command', payload: 'say restarting', delaySeconds: 0, continueOnFailure: true }],
    suspend: false, onlyWhenRunning: true, concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 300, backupRetention: { keep: 7 },
  },
  status: {
    lastScheduleTime: T, nextScheduleTime: T, runCount: 45, active: false,
    lastResult: { startedAt: T, completedAt: T, success: true, steps: [{ action: 'command', success: true, skipped: false, message: 'sent' }] },
    message: 'ok', observedGeneration: 2,
  },
};

const alertRule: Sample<AlertRule> = {
  apiVersion: API, kind: 'AlertRule', metadata: { name: 'high-cpu' },
  spec: {
    displayName: 'High CPU', description: 'CPU above 90% for 5 minutes', type: 'resource_threshold',
    target: { kind: 'GameServer', name: 'lobby', namespace: 'default' }, selector: { tier: 'prod' },
    condition: { metric: 'cpu', operator: '>', value: 90, durationSeconds: 300 }, severity: 'critical',
    actions: [{ type: 'webhook', url: 'https://discord.com/api/webhooks/1/x', format: 'discord' }], cooldownSeconds: 600, enabled: true,
  },
  status: { lastEvaluated: T, lastFiredAt: T, firing: 1, message: 'lobby: cpu 95 > 90', observedGeneration: 1 },
};

const samples: { [K in keyof KindTypes]: Sample<KindTypes[K]> } = {
  ServerTemplate: serverTemplate, GameServer: gameServer, GameNode: gameNode, Backup: backup, Restore: restore, Schedule: schedule, AlertRule: alertRule,
};

/** Field paths a schema declares (`spec.ports[].name`, map values as `{}`). */
function schemaPaths(node: any, at: string, out: Set<string>): Set<string> {
  for (const [k, child] of Object.entries<any>(node.properties ?? {})) {
    const p = at ? `${at}.${k}` : k;
    out.add(p);
    schemaPaths(child, p, out);
  }
  if (node.items) schemaPaths(node.items, `${at}[]`, out);
  if (node.additionalProperties) schemaPaths(node.additionalProperties, `${at}{}`, out);
  return out;
}

/** The same paths, as present in a value that follows the schema. */
function valuePaths(node: any, value: any, at: string, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const item of value) valuePaths(node.items, item, `${at}[]`, out);
  else if (value && typeof value === 'object') {
    if (node.additionalProperties) for (const v of Object.values(value)) valuePaths(node.additionalProperties, v, `${at}{}`, out);
    for (const [k, v] of Object.entries(value)) {
      if (!node.properties?.[k]) continue;
      const p = at ? `${at}.${k}` : k;
      out.add(p);
      valuePaths(node.properties[k], v, p, out);
    }
  }
  return out;
}

describe('crds/types.ts matches the CRD schemas', () => {
  let reg: CrdRegistry;
  beforeAll(() => {
    reg = CrdRegistry.loadSync();
  });

  it('KINDS names every kind the registry knows', () => {
    expect(Object.values(KINDS).sort()).toEqual(reg.kinds().map((k) => k.kind).sort());
    expect(Object.keys(samples).sort()).toEqual(Object.values(KINDS).sort());
  });

  it.each(Object.entries(samples))('a fully populated %s validates unchanged and covers every schema field', (kind, sample) => {
    const copy = structuredClone(sample) as Resource;
    expect(reg.validate(copy)).toEqual([]);
    expect(copy).toEqual(sample);
    const crd = (reg.definitions() as any[]).find((d) => d.spec.names.kind === kind);
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    const declared = [...schemaPaths(schema, '', new Set())].filter((p) => /^(spec|status)[.[{]/.test(p));
    const present = valuePaths(schema, sample, '', new Set());
    expect(declared.filter((p) => !present.has(p))).toEqual([]);
  });
});
