// Catalyst servers ↔ GameServer. id = metadata.name (namespace svc.servers.namespace), uuid =
// metadata.uid, name = displayName, status = status.phase, allocated* = the effective limits (the
// server's, else its template's, else the defaults), usage figures = the hub's latest stats sample.
import type { GameNode, GameServer, ServerPort, ServerTemplate } from '../../crds/types.ts';
import { effectivePorts, serverPhase } from '../../controller/operations/server-state.ts';
import type { AgentHub } from '../../controller/hub/agent-hub.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import { effectiveRequests } from '../../controller/scheduling/resources.ts';
import { currentNode, dataNode } from '../../crds/placement.ts';
import { latest, MiB } from './common.ts';

// The readings every dialect shares live with the operations; re-exported for the Catalyst mappings.
export { effectivePorts, isStopped, mustBeStopped, serverPhase } from '../../controller/operations/server-state.ts';
export { checkVariables } from '../../controller/operations/servers.ts';

export function toAllocation(p: ServerPort): Record<string, unknown> {
  return { containerPort: p.containerPort, hostPort: p.hostPort || null, protocol: p.protocol ?? 'TCP', isPrimary: !!p.primary, ...(p.name ? { name: p.name } : {}) };
}

export interface ServerView {
  template?: ServerTemplate;
  node?: GameNode;
  hub?: AgentHub;
  /** Full detail (GET one): environment, node and template embedded. */
  detail?: boolean;
  /** Show the values of variables the template hides from owners (userViewable: false). */
  revealSecrets?: boolean;
}

/** Live usage from the hub's latest sample, only while a container runs (a stopped server uses nothing). */
export function usageOf(s: GameServer, hub: AgentHub | undefined): { cpuUsage: number; memoryUsageMb: number; networkSent: number; networkReceived: number; diskUsageMb: number | null; statsAt: string | null } {
  const node = dataNode(s);
  const uid = s.metadata.uid;
  const running = ['running', 'starting', 'stopping'].includes(serverPhase(s));
  const sample = node && uid && running ? hub?.latestStats(node, uid) : undefined;
  if (!sample) return { cpuUsage: 0, memoryUsageMb: 0, networkSent: 0, networkReceived: 0, diskUsageMb: null, statsAt: null };
  return {
    cpuUsage: Math.round(sample.cpuPercent * 10) / 10,
    memoryUsageMb: Math.round(sample.memoryBytes / MiB),
    networkSent: sample.networkTxBytes,
    networkReceived: sample.networkRxBytes,
    diskUsageMb: sample.disk ? Math.round(sample.disk.bytes / MiB) : null,
    statsAt: new Date(sample.time).toISOString(),
  };
}

export function visibleEnvironment(s: GameServer, template: ServerTemplate | undefined, reveal: boolean): Record<string, string> {
  const env = { ...(s.spec?.environment ?? {}) };
  if (reveal) return env;
  for (const v of template?.spec?.variables ?? []) if (v.userViewable === false) delete env[v.name];
  return env;
}

/**
 * toCatalystServer's list form (no detail) as UTF-8 JSON bytes, kept per server object. A list answer is
 * mostly the same servers again, and mapping and serialising them was most of its cost (profile of
 * GET /api/servers: 100 servers, 70 KB). An entry holds while everything the mapping reads is the same
 * object: the server (a new object per change: ListCache), its template, and the hub's container and
 * stats sample for it (the hub replaces them, never edits them). Anything else → mapped again.
 */
const listJson = new WeakMap<GameServer, { template?: ServerTemplate; container?: ObservedContainer; sample?: StatsSample; json: Buffer }>();

export function catalystServerJson(s: GameServer, view: { template?: ServerTemplate; hub?: AgentHub }): Buffer {
  const node = dataNode(s);
  const uid = s.metadata.uid;
  const container = node && uid ? view.hub?.container(node, uid) : undefined;
  const sample = node && uid ? view.hub?.latestStats(node, uid) : undefined;
  const hit = listJson.get(s);
  if (hit && hit.template === view.template && hit.container === container && hit.sample === sample) return hit.json;
  const json = Buffer.from(JSON.stringify(toCatalystServer(s, view)));
  listJson.set(s, { template: view.template, container, sample, json });
  return json;
}

export function toCatalystServer(s: GameServer, view: ServerView = {}): Record<string, unknown> {
  const spec = s.spec ?? ({ templateRef: '' } as NonNullable<GameServer['spec']>);
  const st = s.status ?? {};
  const req = effectiveRequests(s, view.template);
  const ports = effectivePorts(s, view.template);
  const primary = ports.find((p) => p.primary);
  // The node the server is on now (during a transfer: the source, which still holds its data).
  const nodeId = currentNode(s) ?? null;
  const containerNode = dataNode(s);
  const container = containerNode && s.metadata.uid ? view.hub?.container(containerNode, s.metadata.uid) : undefined;
  const usage = usageOf(s, view.hub);
  const ann = s.metadata.annotations ?? {};
  const out: Record<string, unknown> = {
    id: s.metadata.name,
    uuid: s.metadata.uid,
    name: spec.displayName ?? s.metadata.name,
    description: spec.description ?? null,
    nodeId,
    templateId: spec.templateRef,
    ownerId: spec.owner ?? null,
    status: serverPhase(s),
    desiredState: spec.state === 'Running' ? 'running' : 'stopped',
    statusMessage: st.message ?? null,
    suspended: !!spec.suspended,
    suspensionReason: spec.suspended ? (spec.suspendReason ?? null) : null,
    suspendedAt: spec.suspended ? (ann['gantry.dev/suspended-at'] ?? null) : null,
    suspendedByUserId: spec.suspended ? (ann['gantry.dev/suspended-by'] ?? null) : null,
    allocatedMemoryMb: req.memoryMb,
    allocatedCpuCores: req.cpuCores,
    allocatedDiskMb: req.diskMb,
    primaryPort: primary?.containerPort ?? null,
    primaryHostPort: primary?.hostPort || null,
    address: st.address ?? null,
    networkMode: spec.networkMode ?? 'bridge',
    containerName: container?.containerName ?? null,
    cpuUsage: usage.cpuUsage,
    memoryUsageMb: usage.memoryUsageMb,
    // Gantry's extension: players online from the agent's query (templates with `query`), null when not known.
    players: st.players ? { ...st.players } : null,
    crashCount: st.crashCount ?? 0,
    lastCrashAt: st.lastCrashAt ?? null,
    restartPolicy: spec.restartPolicy?.policy ?? 'on-failure',
    maxCrashCount: spec.restartPolicy?.maxCrashCount ?? 5,
    createdAt: s.metadata.creationTimestamp,
    updatedAt: latest(s.metadata.creationTimestamp, st.startedAt, st.lastCrashAt, st.installedAt, ann['gantry.dev/updated-at'], ...(st.conditions ?? []).map((c) => c.lastTransitionTime)) ?? s.metadata.creationTimestamp,
  };
  if (view.detail) {
    const n = view.node;
    out.node = nodeId ? { id: nodeId, name: n?.spec?.displayName ?? nodeId, hostname: n?.spec?.address ?? null, publicAddress: n?.spec?.publicAddress ?? n?.spec?.address ?? null, isOnline: n ? n.status?.phase === 'Online' : false } : null;
    const t = view.template;
    out.template = { id: spec.templateRef, name: t?.spec?.displayName ?? spec.templateRef, dockerImage: t?.spec?.image ?? null, found: !!t };
    out.environment = visibleEnvironment(s, t, !!view.revealSecrets);
    out.containerId = st.containerId ?? container?.containerId ?? null;
    out.networkSent = usage.networkSent;
    out.networkReceived = usage.networkReceived;
    out.diskUsageMb = usage.diskUsageMb;
    out.statsAt = usage.statsAt;
    out.allocations = ports.map(toAllocation);
    out.exitCode = st.exitCode ?? null;
    out.startedAt = st.startedAt ?? null;
    out.stopTimeoutSeconds = spec.stopTimeoutSeconds ?? 30;
    out.image = spec.image ?? t?.spec?.image ?? null;
    out.conditions = st.conditions ?? [];
  }
  return out;
}
