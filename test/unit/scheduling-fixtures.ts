// Builders of GameNodes, GameServers and ServerTemplates for the scheduling and gamenode unit tests.
// Every object is deep-frozen, as the informer cache hands them out: a function that mutates its
// input fails the test.
import type { GameNode, GameNodeSpec, GameNodeStatus, GameServer, GameServerSpec, GameServerStatus, ServerTemplate, ServerTemplateSpec } from '../../crds/types.ts';

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export interface NodeOpts {
  spec?: Partial<GameNodeSpec>;
  status?: GameNodeStatus;
  labels?: Record<string, string>;
  /** Shorthand for spec.capacity.memoryMb (default 4096; cpu 4, disk 100000). */
  memoryMb?: number;
  phase?: 'Online' | 'Offline';
  deleting?: boolean;
}

export function node(name: string, o: NodeOpts = {}): GameNode {
  return deepFreeze({
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'GameNode',
    metadata: {
      name,
      uid: `uid-${name}`,
      generation: 1,
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {
      address: `${name}.example`,
      capacity: { memoryMb: o.memoryMb ?? 4096, cpuCores: 4, diskMb: 100000 },
      portRange: { start: 27000, end: 28000 },
      bindAddress: '0.0.0.0',
      unschedulable: false,
      ...o.spec,
    },
    status: o.status ?? { phase: o.phase ?? 'Online' },
  });
}

export interface ServerOpts {
  ns?: string;
  spec?: Partial<GameServerSpec>;
  status?: GameServerStatus;
  created?: string;
  uid?: string;
}

export function server(name: string, o: ServerOpts = {}): GameServer {
  return deepFreeze({
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'GameServer',
    metadata: { name, namespace: o.ns ?? 'default', uid: o.uid ?? `uid-${name}`, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec: { templateRef: 'mc', state: 'Stopped', suspended: false, networkMode: 'bridge', ...o.spec },
    ...(o.status ? { status: o.status } : {}),
  } as GameServer);
}

/** A server bound and admitted on `nodeName` with the given resources and status ports. */
export function boundServer(name: string, nodeName: string, o: ServerOpts & { memoryMb?: number; ports?: { hostPort: number; protocol?: 'TCP' | 'UDP' }[] } = {}): GameServer {
  return server(name, {
    ...o,
    spec: { nodeName, resources: { memoryMb: o.memoryMb ?? 1024, cpuCores: 1, diskMb: 1000 }, ...o.spec },
    status: {
      nodeName,
      ports: (o.ports ?? []).map((p) => ({ containerPort: 25565, hostPort: p.hostPort, protocol: p.protocol ?? 'TCP' })),
      ...o.status,
    },
  });
}

export function template(name = 'mc', spec: Partial<ServerTemplateSpec> = {}): ServerTemplate {
  return deepFreeze({
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ServerTemplate',
    metadata: { name },
    spec: {
      image: 'gantry-test/gameserver:1',
      startCommand: 'run',
      resources: { memoryMb: 1024, cpuCores: 1, diskMb: 10240 },
      ports: [{ containerPort: 25565, protocol: 'TCP' }],
      ...spec,
    },
  } as ServerTemplate);
}
