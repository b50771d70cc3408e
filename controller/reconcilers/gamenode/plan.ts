// The GameNode reconciler's pure half: from the node, what the agent hub knows of it and the servers
// bound to it, the status the node should have, the events of what changed, the servers whose
// NodeReachable condition must flip, and when to look again. No I/O; inputs are not modified.
//
// - Phase: Online while the agent is connected *and* its last heartbeat (any frame; the hub's
//   lastHeartbeat, or status.lastHeartbeatTime when the hub has none) is at most heartbeatTimeoutMs
//   old. A socket that is still open but silent for longer is Offline (reason HeartbeatTimeout): a
//   hung agent or a half-open TCP connection must not keep servers scheduled there. Not connected:
//   Offline (AgentDisconnected, or AgentNotConnected when the node never reported).
// - Conditions: Ready (True = Online) and Schedulable (False while spec.unschedulable: the cordon is
//   reflected in status, as kubectl shows SchedulingDisabled). lastTransitionTime moves only when a
//   condition's status changes; a changed reason or message alone keeps it. Messages are stable (no
//   "n seconds ago"), so an unchanged node plans an empty patch. Conditions of other types are kept.
// - allocatable (resources.ts: spec.capacity → the hub's health report → the last value written) and
//   allocated (every server bound to the node, running or not; plus the count of servers and of host
//   ports in use).
// - Events on transitions only: NodeOnline, NodeOffline (Warning), NodeCordoned, NodeUncordoned.
//   The first observation of an offline node that was never Ready is not an event.
// - Servers: while the node is Offline, the servers placed on it (status.nodeName, else
//   spec.nodeName) whose NodeReachable is not already False are listed in serversUnreachable (the
//   executor sets NodeReachable=False on them and touches nothing else: their containers are left
//   alone, the agent keeps running them); while Online, those whose NodeReachable is False/Unknown
//   are listed in serversReachable (set it True and enqueue them, so they are reconciled again).
// - requeueAfterMs: while connected, just after the heartbeat deadline (so a silent agent turns
//   Offline on time without any polling of healthy state); not connected: none (the hub's
//   nodeConnected event enqueues the node).
// - The patch holds only what changed (a JSON merge patch for patchStatus; `conditions` is sent
//   whole, since a merge patch replaces arrays). lastHeartbeatTime, dockerVersion and osInfo are
//   left to the hub's NodeStatusWriter (throttled writes); agentVersion is set here only when it differs.
import type { HealthReport } from '../../../agent/runtime/health.ts';
import type { GameNode, GameNodeStatus, GameServer, NodeCapacity } from '../../../crds/types.ts';
import { hostPortsOf, portId } from '../../scheduling/ports.ts';
import { allocatedOn, DIMENSIONS, nodeAllocatable, serverKey, type TemplateSource } from '../../scheduling/resources.ts';
import { currentNode, isOnNode } from '../../../crds/placement.ts';
import { findCondition, setCondition } from '../shared/conditions.ts';

/** The hub's view of the node (a NodeObserved fits; pass `{connected: false}` when the hub has none). */
export interface HubNodeState {
  connected: boolean;
  /** Last frame from the agent, ms since the epoch. */
  lastHeartbeat?: number;
  health?: HealthReport;
  agentVersion?: string;
}

export interface PlanNodeInput {
  node: GameNode;
  hubState: HubNodeState | undefined;
  /** Servers bound to the node; others in the list are ignored. */
  boundServers: readonly GameServer[];
  /** Templates of the servers (their requests); missing ones count the template defaults. */
  templates?: TemplateSource;
  now: number;
  heartbeatTimeoutMs: number;
}

export interface NodeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface NodePlan {
  /** Only the fields that change; `{}` = nothing to write. */
  statusPatch: GameNodeStatus;
  events: NodeEvent[];
  /** Keys (namespace/name) of servers to mark NodeReachable=False. */
  serversUnreachable: string[];
  /** Keys of servers to mark NodeReachable=True and reconcile again. */
  serversReachable: string[];
  requeueAfterMs?: number;
}

export const READY = 'Ready';
export const SCHEDULABLE = 'Schedulable';
export const NODE_REACHABLE = 'NodeReachable';

/** RFC 3339 with second precision, as Kubernetes (and node-status.ts) writes times. */
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

interface Liveness {
  online: boolean;
  reason: string;
  message: string;
  requeueAfterMs?: number;
}

function liveness(node: GameNode, hub: HubNodeState | undefined, now: number, timeoutMs: number): Liveness {
  const fromStatus = node.status?.lastHeartbeatTime ? Date.parse(node.status.lastHeartbeatTime) : NaN;
  const last = hub?.lastHeartbeat ?? (Number.isFinite(fromStatus) ? fromStatus : undefined);
  if (!hub?.connected) {
    if (last === undefined) return { online: false, reason: 'AgentNotConnected', message: 'the agent has not connected yet' };
    return { online: false, reason: 'AgentDisconnected', message: `the agent disconnected; last heartbeat at ${rfc3339(last)}` };
  }
  if (last === undefined) {
    return { online: false, reason: 'HeartbeatTimeout', message: 'the agent is connected but has sent no heartbeat', requeueAfterMs: timeoutMs };
  }
  const deadline = last + timeoutMs;
  if (now > deadline) {
    return {
      online: false,
      reason: 'HeartbeatTimeout',
      message: `no heartbeat since ${rfc3339(last)} (timeout ${seconds(timeoutMs)})`,
      // The socket is still open: look again, the agent may resume (or the hub closes it).
      requeueAfterMs: timeoutMs,
    };
  }
  return { online: true, reason: 'AgentReady', message: 'the agent is connected and sending heartbeats', requeueAfterMs: deadline - now + 1 };
}


/** Deep equality of JSON values (key order ignored). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => same(v, (b as unknown[])[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}


export function planNode(input: PlanNodeInput): NodePlan {
  const { node, hubState, boundServers, now, heartbeatTimeoutMs } = input;
  const name = node.metadata.name;
  const status = node.status ?? {};
  const patch: GameNodeStatus = {};
  const events: NodeEvent[] = [];

  // Phase and Ready.
  const live = liveness(node, hubState, now, heartbeatTimeoutMs);
  const phase = live.online ? 'Online' : 'Offline';
  if (status.phase !== phase) patch.phase = phase;
  if (hubState?.connected && hubState.agentVersion && status.agentVersion !== hubState.agentVersion.slice(0, 64)) {
    patch.agentVersion = hubState.agentVersion.slice(0, 64);
  }
  const wasReady = findCondition(status.conditions, READY)?.status;
  let conditions = setCondition(status.conditions, { type: READY, status: live.online ? 'True' : 'False', reason: live.reason, message: live.message }, now);

  // Cordon.
  const cordoned = node.spec?.unschedulable === true;
  const wasSchedulable = findCondition(status.conditions, SCHEDULABLE)?.status;
  conditions = setCondition(
    conditions,
    cordoned
      ? { type: SCHEDULABLE, status: 'False', reason: 'Cordoned', message: 'spec.unschedulable is set: servers on the node keep running, no new ones are placed' }
      : { type: SCHEDULABLE, status: 'True', reason: 'Schedulable', message: 'new servers may be placed on the node' },
    now,
  );
  if (!same(conditions, status.conditions)) patch.conditions = conditions;

  // Servers placed on the node.
  const mine = boundServers.filter((s) => isOnNode(s, name));
  const placed = mine.filter((s) => currentNode(s) === name);
  const reachability = (s: GameServer) => findCondition(s.status?.conditions, NODE_REACHABLE)?.status;
  const serversUnreachable = live.online ? [] : placed.filter((s) => reachability(s) !== 'False').map(serverKey).sort();
  const serversReachable = live.online ? placed.filter((s) => { const r = reachability(s); return r === 'False' || r === 'Unknown'; }).map(serverKey).sort() : [];

  // Events on transitions of Ready and Schedulable.
  if (live.online && wasReady !== 'True') {
    events.push({ type: 'Normal', reason: 'NodeOnline', message: `node ${name} is online${hubState?.agentVersion ? ` (agent ${hubState.agentVersion.slice(0, 64)})` : ''}` });
  } else if (!live.online && wasReady === 'True') {
    const n = placed.length;
    events.push({
      type: 'Warning',
      reason: 'NodeOffline',
      message: `node ${name} is offline: ${live.message}${n ? `; ${n} server${n === 1 ? '' : 's'} unreachable` : ''}`,
    });
  }
  if (cordoned && wasSchedulable !== 'False') events.push({ type: 'Normal', reason: 'NodeCordoned', message: `node ${name} is cordoned: no new servers are placed on it` });
  if (!cordoned && wasSchedulable === 'False') events.push({ type: 'Normal', reason: 'NodeUncordoned', message: `node ${name} accepts new servers again` });

  // Allocatable and allocated.
  const fresh = nodeAllocatable(node, hubState?.health);
  const allocatable: NodeCapacity = {};
  for (const d of DIMENSIONS) if (fresh[d] !== undefined) allocatable[d] = d === 'cpuCores' ? fresh[d] : Math.floor(fresh[d]!);
  if (Object.keys(allocatable).length && !same(allocatable, status.allocatable ?? {})) patch.allocatable = allocatable;

  const sum = allocatedOn(name, mine, input.templates);
  const portsInUse = new Set<string>();
  for (const s of mine) for (const p of hostPortsOf(s, name)) portsInUse.add(portId(p.hostPort, p.protocol));
  const allocated = { memoryMb: sum.memoryMb, cpuCores: sum.cpuCores, diskMb: sum.diskMb, servers: sum.servers, ports: portsInUse.size };
  if (!same(allocated, status.allocated ?? {})) patch.allocated = allocated;

  const gen = node.metadata.generation;
  if (gen !== undefined && status.observedGeneration !== gen) patch.observedGeneration = gen;

  const plan: NodePlan = { statusPatch: patch, events, serversUnreachable, serversReachable };
  if (live.requeueAfterMs !== undefined) plan.requeueAfterMs = Math.max(1, live.requeueAfterMs);
  return plan;
}
