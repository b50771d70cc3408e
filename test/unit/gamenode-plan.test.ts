// planNode: phase from heartbeats, conditions, allocatable/allocated, events, server reachability.
import { describe, expect, it } from 'vitest';
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { Condition, GameNode, GameNodeStatus, GameServer } from '../../crds/types.ts';
import { planNode, type HubNodeState, type PlanNodeInput } from '../../controller/reconcilers/gamenode/plan.ts';
import { setCondition } from '../../controller/reconcilers/shared/conditions.ts';
import { boundServer, deepFreeze, node, server, template } from './scheduling-fixtures.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const TIMEOUT = 30_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const MiB = 1024 * 1024;
const health = { memory: { totalBytes: 8192 * MiB }, cpu: { cores: 8 }, disk: { totalBytes: 50000 * MiB } } as unknown as HealthReport;
const connected = (lastHeartbeat = T0 - 1000): HubNodeState => ({ connected: true, lastHeartbeat, agentVersion: '0.1.0', health });

function plan(n: GameNode, hubState: HubNodeState | undefined, servers: GameServer[] = [], now = T0, extra: Partial<PlanNodeInput> = {}) {
  return planNode({ node: n, hubState, boundServers: servers, now, heartbeatTimeoutMs: TIMEOUT, ...extra });
}

/** The node after its status patch was applied (merge patch: objects merge, arrays replace). */
function applied(n: GameNode, patch: GameNodeStatus): GameNode {
  const status: GameNodeStatus = { ...n.status, ...patch };
  if (patch.allocatable) status.allocatable = { ...n.status?.allocatable, ...patch.allocatable };
  if (patch.allocated) status.allocated = { ...n.status?.allocated, ...patch.allocated };
  return deepFreeze({ ...n, status: structuredClone(status) });
}

const cond = (n: GameNode, type: string) => n.status?.conditions?.find((c) => c.type === type);

describe('planNode: phase', () => {
  it.each([
    ['connected with a fresh heartbeat', connected(), 'Online', 'AgentReady'],
    ['connected, heartbeat exactly at the timeout', connected(T0 - TIMEOUT), 'Online', 'AgentReady'],
    ['connected but silent past the timeout', connected(T0 - TIMEOUT - 1), 'Offline', 'HeartbeatTimeout'],
    ['connected, no heartbeat known at all', { connected: true }, 'Offline', 'HeartbeatTimeout'],
    ['disconnected', { connected: false, lastHeartbeat: T0 - 5000 }, 'Offline', 'AgentDisconnected'],
    ['never connected', undefined, 'Offline', 'AgentNotConnected'],
  ] as const)('%s → %s', (_, hub, phase, reason) => {
    const p = plan(node('n1', { status: {} }), hub);
    expect(p.statusPatch.phase).toBe(phase);
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: phase === 'Online' ? 'True' : 'False', reason, lastTransitionTime: iso(T0) });
  });

  it('falls back to status.lastHeartbeatTime when the hub has no heartbeat', () => {
    const n = node('n1', { status: { phase: 'Online', lastHeartbeatTime: iso(T0 - 10_000) } });
    expect(plan(n, { connected: true }).statusPatch.phase).toBeUndefined();
    expect(plan(n, { connected: true }, [], T0 + TIMEOUT).statusPatch.phase).toBe('Offline');
  });

  it('requeues just after the heartbeat deadline while connected, not at all while disconnected', () => {
    expect(plan(node('n1'), connected(T0 - 1000)).requeueAfterMs).toBe(TIMEOUT - 1000 + 1);
    expect(plan(node('n1'), connected(T0 - TIMEOUT - 5)).requeueAfterMs).toBe(TIMEOUT);
    expect(plan(node('n1'), { connected: false }).requeueAfterMs).toBeUndefined();
  });
});

describe('planNode: transitions', () => {
  const servers = [
    boundServer('a', 'n1'),
    boundServer('b', 'n1', { status: { nodeName: 'n1', conditions: [{ type: 'NodeReachable', status: 'False' }] } }),
    // Bound but not yet placed anywhere else: its container would go to n1.
    server('c', { spec: { nodeName: 'n1' } }),
    // Being transferred away from n1: its container is still on n1.
    server('d', { spec: { nodeName: 'n2' }, status: { nodeName: 'n1' } }),
    // Being transferred to n1: its container is still on n2.
    server('e', { spec: { nodeName: 'n1' }, status: { nodeName: 'n2' } }),
    boundServer('elsewhere', 'n9'),
  ];

  it('online → offline on heartbeat timeout → back online, with events and reachability', () => {
    // 1. First reconcile of a connected node.
    let n = node('n1', { status: {} });
    let p = plan(n, connected(), servers);
    expect(p.statusPatch.phase).toBe('Online');
    expect(p.events).toEqual([{ type: 'Normal', reason: 'NodeOnline', message: 'node n1 is online (agent 0.1.0)' }]);
    expect(p.serversUnreachable).toEqual([]);
    expect(p.serversReachable).toEqual(['default/b']);
    n = applied(n, p.statusPatch);
    const onlineSince = cond(n, 'Ready')!.lastTransitionTime;

    // 2. Nothing changed: an empty patch, no events.
    p = plan(n, connected(T0 + 5000), servers.map((s) => (s.metadata.name === 'b' ? boundServer('b', 'n1') : s)), T0 + 10_000);
    expect(p).toEqual({ statusPatch: {}, events: [], serversUnreachable: [], serversReachable: [], requeueAfterMs: TIMEOUT - 5000 + 1 });

    // 3. The socket stays open but the agent goes silent.
    const later = T0 + 5000 + TIMEOUT + 1;
    p = plan(n, connected(T0 + 5000), servers, later);
    expect(p.statusPatch.phase).toBe('Offline');
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Ready')).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'HeartbeatTimeout',
      message: `no heartbeat since ${iso(T0 + 5000)} (timeout 30s)`,
      lastTransitionTime: iso(later),
    });
    expect(p.events).toEqual([{ type: 'Warning', reason: 'NodeOffline', message: `node n1 is offline: no heartbeat since ${iso(T0 + 5000)} (timeout 30s); 4 servers unreachable` }]);
    // b is already marked; e's container is on n2.
    expect(p.serversUnreachable).toEqual(['default/a', 'default/c', 'default/d']);
    n = applied(n, p.statusPatch);

    // 4. Still offline, now disconnected: reason changes, lastTransitionTime does not, no new event.
    p = plan(n, { connected: false, lastHeartbeat: T0 + 5000 }, servers, later + 1000);
    expect(p.statusPatch.phase).toBeUndefined();
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'AgentDisconnected', lastTransitionTime: iso(later) });
    expect(p.events).toEqual([]);
    n = applied(n, p.statusPatch);

    // 5. Back online.
    const back = later + 60_000;
    p = plan(n, connected(back), servers, back);
    expect(p.statusPatch.phase).toBe('Online');
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: iso(back) });
    expect(p.events.map((e) => e.reason)).toEqual(['NodeOnline']);
    expect(p.serversReachable).toEqual(['default/b']);
    expect(onlineSince).toBe(iso(T0));
  });

  it('a node that was never ready and is offline: no event', () => {
    expect(plan(node('n1', { status: {} }), undefined, servers).events).toEqual([]);
  });

  it('unschedulable is reflected as Schedulable=False, with events on change only', () => {
    let n = applied(node('n1', { status: {} }), plan(node('n1', { status: {} }), connected()).statusPatch);
    expect(cond(n, 'Schedulable')).toMatchObject({ status: 'True', reason: 'Schedulable' });
    n = deepFreeze({ ...n, spec: { ...n.spec!, unschedulable: true } });
    let p = plan(n, connected());
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Schedulable')).toMatchObject({ status: 'False', reason: 'Cordoned', lastTransitionTime: iso(T0) });
    expect(p.events).toEqual([{ type: 'Normal', reason: 'NodeCordoned', message: 'node n1 is cordoned: no new servers are placed on it' }]);
    n = applied(n, p.statusPatch);
    expect(plan(n, connected()).statusPatch).toEqual({});
    n = deepFreeze({ ...n, spec: { ...n.spec!, unschedulable: false } });
    p = plan(n, connected());
    expect(p.events.map((e) => e.reason)).toEqual(['NodeUncordoned']);
    // Ready is untouched by the cordon.
    expect(p.statusPatch.conditions?.find((c) => c.type === 'Ready')).toEqual(cond(n, 'Ready'));
  });

  it('keeps conditions of other types', () => {
    const other: Condition = { type: 'DiskPressure', status: 'False', lastTransitionTime: iso(T0 - 1) };
    const p = plan(node('n1', { status: { conditions: [other] } }), connected());
    expect(p.statusPatch.conditions?.[0]).toEqual(other);
    expect(p.statusPatch.conditions?.map((c) => c.type)).toEqual(['DiskPressure', 'Ready', 'Schedulable']);
  });
});

describe('planNode: allocatable and allocated', () => {
  it('allocatable from spec.capacity, the rest from the health report; allocated from every bound server', () => {
    const n = node('n1', { spec: { capacity: { memoryMb: 4096 } }, status: {} });
    const t = template('mc', { resources: { memoryMb: 512, cpuCores: 0.5, diskMb: 100 } });
    const servers = [
      boundServer('a', 'n1', { memoryMb: 1024, ports: [{ hostPort: 27000 }, { hostPort: 27000, protocol: 'UDP' }] }),
      server('b', { spec: { nodeName: 'n1', state: 'Stopped', ports: [{ containerPort: 1, hostPort: 25565 }] } }),
      boundServer('c', 'n2', { ports: [{ hostPort: 27001 }] }),
    ];
    const p = plan(n, connected(), servers, T0, { templates: new Map([['mc', t]]) });
    expect(p.statusPatch.allocatable).toEqual({ memoryMb: 4096, cpuCores: 8, diskMb: 50000 });
    expect(p.statusPatch.allocated).toEqual({ memoryMb: 1536, cpuCores: 1.5, diskMb: 1100, servers: 2, ports: 3 });
    expect(p.statusPatch.observedGeneration).toBe(1);
  });

  it('an offline node keeps its last allocatable; only changes are patched', () => {
    const n = node('n1', { spec: { capacity: undefined }, status: { phase: 'Offline', observedGeneration: 1, allocatable: { memoryMb: 8192, cpuCores: 8, diskMb: 50000 }, allocated: { memoryMb: 0, cpuCores: 0, diskMb: 0, servers: 0, ports: 0 } } });
    const p = plan(n, { connected: false });
    expect(p.statusPatch.allocatable).toBeUndefined();
    expect(p.statusPatch.allocated).toBeUndefined();
    expect(p.statusPatch.observedGeneration).toBeUndefined();
    expect(Object.keys(p.statusPatch)).toEqual(['conditions']);
    expect(plan(applied(n, p.statusPatch), { connected: false }).statusPatch).toEqual({});
  });

  it('a new agent version is recorded', () => {
    const n = node('n1', { status: { phase: 'Online', agentVersion: '0.0.9' } });
    expect(plan(n, connected()).statusPatch.agentVersion).toBe('0.1.0');
  });
});

describe('setCondition', () => {
  it('moves lastTransitionTime only when the status changes', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'R' }, T0);
    expect(a).toEqual([{ type: 'Ready', status: 'True', reason: 'R', lastTransitionTime: iso(T0) }]);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Other' }, T0 + 5000);
    expect(b[0]!.lastTransitionTime).toBe(iso(T0));
    const c = setCondition(b, { type: 'Ready', status: 'False', reason: 'Other' }, T0 + 9000);
    expect(c[0]!.lastTransitionTime).toBe(iso(T0 + 9000));
    expect(a[0]!.reason).toBe('R');
  });
});
