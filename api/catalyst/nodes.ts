// Catalyst nodes ↔ GameNode. id = metadata.name; name = displayName; hostname = spec.address;
// maxMemoryMb/maxCpuCores/maxDiskMb = spec.capacity (else what the agent reported, status.allocatable).
import type { GameNode, GameNodeSpec, GameServer } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/resource.ts';
import { isBoundTo } from '../../controller/scheduling/resources.ts';
import { latest, resourceName } from './common.ts';
import { serverPhase } from './servers.ts';

export interface CatalystNodeInput {
  id?: string;
  name?: string;
  description?: string;
  locationId?: string;
  hostname?: string;
  publicAddress?: string;
  maxMemoryMb?: number;
  maxCpuCores?: number;
  maxDiskMb?: number;
  portRange?: { start: number; end: number };
  unschedulable?: boolean;
  labels?: Record<string, string>;
}

export function toCatalystNode(n: GameNode, servers: readonly GameServer[] = []): Record<string, unknown> {
  const spec = n.spec ?? ({} as GameNodeSpec);
  const st = n.status ?? {};
  const cap = spec.capacity ?? {};
  const alloc = st.allocatable ?? {};
  return {
    id: n.metadata.name,
    uuid: n.metadata.uid,
    name: spec.displayName ?? n.metadata.name,
    description: spec.description ?? null,
    locationId: spec.location ?? null,
    hostname: spec.address,
    publicAddress: spec.publicAddress ?? spec.address,
    maxMemoryMb: cap.memoryMb ?? alloc.memoryMb ?? null,
    maxCpuCores: cap.cpuCores ?? alloc.cpuCores ?? null,
    maxDiskMb: cap.diskMb ?? alloc.diskMb ?? null,
    isOnline: st.phase === 'Online',
    status: st.phase ?? 'Unknown',
    lastSeenAt: st.lastHeartbeatTime ?? null,
    agentVersion: st.agentVersion ?? null,
    dockerVersion: st.dockerVersion ?? null,
    os: st.osInfo ?? null,
    allocated: st.allocated ?? null,
    portRange: spec.portRange ?? null,
    unschedulable: spec.unschedulable ?? false,
    labels: n.metadata.labels ?? {},
    createdAt: n.metadata.creationTimestamp,
    updatedAt: latest(n.metadata.creationTimestamp, st.lastHeartbeatTime, ...(st.conditions ?? []).map((c) => c.lastTransitionTime)) ?? n.metadata.creationTimestamp,
    servers: servers
      .filter((s) => isBoundTo(s, n.metadata.name))
      .map((s) => ({ id: s.metadata.name, uuid: s.metadata.uid, name: s.spec?.displayName ?? s.metadata.name, status: serverPhase(s) })),
  };
}

/** The spec fields a Catalyst body sets (merge-patch form: only what the body names). */
export function nodeSpecPatch(body: CatalystNodeInput): Partial<GameNodeSpec> {
  const spec: Partial<GameNodeSpec> = {};
  if (body.name !== undefined) spec.displayName = body.name;
  if (body.description !== undefined) spec.description = body.description;
  if (body.locationId !== undefined) spec.location = body.locationId;
  if (body.hostname !== undefined) spec.address = body.hostname;
  if (body.publicAddress !== undefined) spec.publicAddress = body.publicAddress;
  if (body.maxMemoryMb !== undefined || body.maxCpuCores !== undefined || body.maxDiskMb !== undefined) {
    spec.capacity = {};
    if (body.maxMemoryMb !== undefined) spec.capacity.memoryMb = body.maxMemoryMb;
    if (body.maxCpuCores !== undefined) spec.capacity.cpuCores = body.maxCpuCores;
    if (body.maxDiskMb !== undefined) spec.capacity.diskMb = body.maxDiskMb;
  }
  if (body.portRange !== undefined) spec.portRange = body.portRange;
  if (body.unschedulable !== undefined) spec.unschedulable = body.unschedulable;
  return spec;
}

export function newNode(body: CatalystNodeInput & { name: string; hostname: string }): GameNode {
  const name = resourceName('node', body.id, body.name);
  return {
    apiVersion: API_VERSION,
    kind: 'GameNode',
    metadata: { name, ...(body.labels ? { labels: body.labels } : {}) },
    spec: nodeSpecPatch(body) as GameNodeSpec,
  };
}

export function nodeBodySchema(create: boolean): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    ...(create ? { required: ['name', 'hostname'] } : {}),
    properties: {
      ...(create ? { id: { type: 'string', maxLength: 63, description: 'The node id (DNS-1123 label); default: derived from name' } } : {}),
      name: { type: 'string', minLength: 1, maxLength: 128 },
      description: { type: 'string', maxLength: 4096 },
      locationId: { type: 'string', maxLength: 63 },
      hostname: { type: 'string', minLength: 1, maxLength: 253, pattern: '^\\S+$' },
      publicAddress: { type: 'string', minLength: 1, maxLength: 253, pattern: '^\\S+$' },
      maxMemoryMb: { type: 'integer', minimum: 0 },
      maxCpuCores: { type: 'number', minimum: 0 },
      maxDiskMb: { type: 'integer', minimum: 0 },
      portRange: {
        type: 'object',
        required: ['start', 'end'],
        additionalProperties: false,
        properties: { start: { type: 'integer', minimum: 1, maximum: 65535 }, end: { type: 'integer', minimum: 1, maximum: 65535 } },
      },
      unschedulable: { type: 'boolean' },
      ...(create ? { labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } } } : {}),
    },
  };
}
