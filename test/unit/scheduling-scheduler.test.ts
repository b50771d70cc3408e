// The scheduler: candidates, least loaded, reasons, binding re-checks, the assume cache's pure half.
import { describe, expect, it } from 'vitest';
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { GameServer } from '../../crds/types.ts';
import { applyAssumed, assumeBound, checkBinding, isSenior, matchesSelector, placementOf, schedule, type ScheduleResult } from '../../controller/scheduling/scheduler.ts';
import { boundServer, node, server, template } from './scheduling-fixtures.ts';

const tpl = template();
const templates = new Map([['mc', tpl]]);
const mem = (memoryMb: number, extra: Parameters<typeof server>[1] = {}) => server('new', { ...extra, spec: { resources: { memoryMb, cpuCores: 1, diskMb: 1000 }, ...extra.spec } });
const where = (r: ScheduleResult) => (r.ok ? r.nodeName : r.reason);

describe('schedule: candidates', () => {
  it.each([
    ['offline nodes are excluded', [node('a', { phase: 'Offline' }), node('b')], mem(1024), 'b'],
    ['unschedulable nodes are excluded', [node('a', { spec: { unschedulable: true } }), node('b')], mem(1024), 'b'],
    ['nodes being deleted are excluded', [node('a', { deleting: true }), node('b')], mem(1024), 'b'],
    ['nodeSelector must match the node labels', [node('a', { labels: { region: 'us' } }), node('b', { labels: { region: 'eu', ssd: 'true' } })], mem(1024, { spec: { nodeSelector: { region: 'eu' } } }), 'b'],
    ['a node without enough memory is skipped', [node('a', { memoryMb: 1000 }), node('b', { memoryMb: 2000 })], mem(1500), 'b'],
    ['of two empty nodes the bigger one (least loaded after placement)', [node('a', { memoryMb: 2048 }), node('b', { memoryMb: 8192 })], mem(1024), 'b'],
    ['ties broken by name', [node('b'), node('a'), node('c')], mem(1024), 'a'],
  ] as const)('%s', (_, nodes, s, want) => {
    expect(where(schedule(s, tpl, nodes, [], { templates }))).toBe(want);
  });

  it('least loaded by memory fraction, counting every bound server', () => {
    const nodes = [node('a', { memoryMb: 4096 }), node('b', { memoryMb: 4096 })];
    const servers = [boundServer('x', 'a', { memoryMb: 1024 }), server('y', { spec: { nodeName: 'b', resources: { memoryMb: 2048 }, state: 'Stopped' } })];
    expect(where(schedule(mem(512), tpl, nodes, servers, { templates }))).toBe('a');
    expect(where(schedule(mem(512), tpl, nodes, [...servers, boundServer('z', 'a', { memoryMb: 2048 })], { templates }))).toBe('b');
  });

  it('allocates ports on the chosen node, avoiding its servers', () => {
    const r = schedule(server('s'), tpl, [node('a')], [boundServer('x', 'a', { ports: [{ hostPort: 27000 }] })], { templates });
    expect(r).toMatchObject({ ok: true, nodeName: 'a', ports: [{ containerPort: 25565, hostPort: 27001, protocol: 'TCP', primary: true }], requests: { memoryMb: 1024, cpuCores: 1, diskMb: 10240 } });
  });

  it('a port conflict on one node sends the server to another', () => {
    const s = server('s', { spec: { ports: [{ containerPort: 25565, hostPort: 25565 }] } });
    const r = schedule(s, tpl, [node('a'), node('b')], [boundServer('alpha', 'a', { ports: [{ hostPort: 25565 }] })], { templates });
    expect(where(r)).toBe('b');
  });

  it('uses the health report when the node has no capacity in spec', () => {
    const n = node('a', { spec: { capacity: undefined } });
    const h = { memory: { totalBytes: 512 * 1024 * 1024 }, cpu: { cores: 2 }, disk: { totalBytes: 10 ** 12 } } as unknown as HealthReport;
    expect(where(schedule(mem(256), tpl, [n], [], { health: () => h }))).toBe('a');
    expect(where(schedule(mem(1024), tpl, [n], [], { health: () => h }))).toBe('0/1 nodes available: 1 insufficient memory (needs 1024 MiB, 512 free)');
    expect(where(schedule(mem(256), tpl, [n], []))).toBe(
      '0/1 nodes available: 1 insufficient memory (needs 256 MiB, capacity unknown), 1 insufficient cpu (needs 1 core, capacity unknown), 1 insufficient disk (needs 1000 MiB, capacity unknown)',
    );
  });

  it('does not modify its (frozen) inputs and is deterministic', () => {
    const args = [server('s'), tpl, [node('b'), node('a')], [boundServer('x', 'a')], { templates }] as const;
    expect(schedule(...args)).toEqual(schedule(...args));
  });
});

describe('schedule: overcommit prevention', () => {
  it('two servers each asking for 60 % of a node: the second gets the reason', () => {
    const n = [node('n1', { memoryMb: 10000 })];
    const first = mem(6000, {});
    const r1 = schedule(first, tpl, n, [], { templates });
    expect(r1.ok).toBe(true);
    // The executor's assume cache makes the first decision visible before its writes land.
    const { servers } = applyAssumed([first], [placementOf(first, r1 as Extract<ScheduleResult, { ok: true }>)]);
    const second = server('second', { spec: { resources: { memoryMb: 6000, cpuCores: 1, diskMb: 1000 } } });
    expect(where(schedule(second, tpl, n, servers, { templates }))).toBe('0/1 nodes available: 1 insufficient memory (needs 6000 MiB, 4000 free)');
  });

  it('two servers never share an allocated port', () => {
    const n = [node('n1', { spec: { portRange: { start: 27000, end: 27001 } } })];
    let servers: GameServer[] = [];
    const got: number[] = [];
    for (const name of ['s1', 's2', 's3']) {
      const s = server(name);
      const r = schedule(s, tpl, n, servers, { templates });
      if (!r.ok) {
        expect(r.reason).toBe('0/1 nodes available: 1 insufficient ports (not enough free TCP ports in range 27000-27001 on node n1 (needs 1, 0 free))');
        break;
      }
      got.push(r.ports[0]!.hostPort!);
      servers = [...servers, assumeBound(s, placementOf(s, r))];
    }
    expect(got).toEqual([27000, 27001]);
  });
});

describe('schedule: the reason', () => {
  it('counts why per node, Kubernetes-style', () => {
    const nodes = [node('a', { phase: 'Offline' }), node('b', { spec: { unschedulable: true } }), node('c', { memoryMb: 3072 })];
    const r = schedule(mem(2048), tpl, nodes, [boundServer('x', 'c', { memoryMb: 2048 })], { templates });
    expect(r).toEqual({
      ok: false,
      reason: '0/3 nodes available: 1 offline, 1 unschedulable, 1 insufficient memory (needs 2048 MiB, 1024 free)',
      nodes: { a: ['node is offline'], b: ['node is cordoned (spec.unschedulable)'], c: ['insufficient memory (needs 2048 MiB, 1024 free)'] },
    });
  });

  it('aggregates several nodes per reason', () => {
    const nodes = [node('a', { memoryMb: 1000 }), node('b', { memoryMb: 1500 }), node('c', { labels: { x: 'y' } }), node('d', { deleting: true }), node('e', { status: {} })];
    const s = mem(2048, { spec: { nodeSelector: { gpu: 'yes' } } });
    expect(where(schedule(mem(2048), tpl, nodes.slice(0, 2), [], { templates }))).toBe('0/2 nodes available: 2 insufficient memory (needs 2048 MiB, at most 1500 free)');
    expect(where(schedule(s, tpl, nodes, [], { templates }))).toBe("0/5 nodes available: 1 being deleted, 1 offline, 3 didn't match node selector");
  });

  it('port conflicts name the holder', () => {
    const s = server('s', { spec: { ports: [{ containerPort: 25565, hostPort: 25565 }] } });
    const servers = [boundServer('alpha', 'n1', { ports: [{ hostPort: 25565 }] }), boundServer('beta', 'n2', { ports: [{ hostPort: 25565 }] })];
    expect(where(schedule(s, tpl, [node('n1'), node('n2')], servers, { templates }))).toBe(
      '0/2 nodes available: 2 port conflicts (port 25565/TCP on node n1 is already used by default/alpha; port 25565/TCP on node n2 is already used by default/beta)',
    );
  });

  it('cpu and disk', () => {
    const s = server('s', { spec: { resources: { memoryMb: 64, cpuCores: 4.5, diskMb: 200000 } } });
    expect(where(schedule(s, tpl, [node('a')], [], { templates }))).toBe('0/1 nodes available: 1 insufficient cpu (needs 4.5 cores, 4 free), 1 insufficient disk (needs 200000 MiB, 100000 free)');
  });

  it('no nodes, no template', () => {
    expect(where(schedule(server('s'), tpl, [], []))).toBe('0/0 nodes available: no GameNode exists');
    expect(where(schedule(server('s'), undefined, [node('a')], []))).toBe('template "mc" not found');
  });

  it('nodeSelector needs every pair', () => {
    const n = node('a', { labels: { region: 'eu', ssd: 'true' } });
    expect(matchesSelector(n, undefined)).toBe(true);
    expect(matchesSelector(n, { region: 'eu', ssd: 'true' })).toBe(true);
    expect(matchesSelector(n, { region: 'eu', ssd: 'false' })).toBe(false);
    expect(matchesSelector(n, { toString: 'x' } as Record<string, string>)).toBe(false);
  });
});

describe('checkBinding', () => {
  const n1 = node('n1', { memoryMb: 10000 });
  it('an already bound server is re-checked, not moved (schedule delegates)', () => {
    const s = server('s', { spec: { nodeName: 'n1' } });
    expect(where(schedule(s, tpl, [node('n0', { memoryMb: 100000 }), n1], [], { templates }))).toBe('n1');
    expect(where(schedule(server('s', { spec: { nodeName: 'gone' } }), tpl, [n1], []))).toBe('node "gone" not found');
  });

  it('ignores phase, cordon and nodeSelector (they only steer new placements)', () => {
    const n = node('n1', { phase: 'Offline', spec: { unschedulable: true }, labels: {} });
    const s = server('s', { spec: { nodeName: 'n1', nodeSelector: { a: 'b' } } });
    expect(checkBinding(s, tpl, n, [], { templates })).toMatchObject({ ok: true, nodeName: 'n1', ports: [{ hostPort: 27000 }] });
  });

  it('of two colliding servers exactly one is refused: the admitted one wins, then the older', () => {
    const at = (t: string) => `2026-01-01T00:00:0${t}Z`;
    const big = (name: string, created: string, admitted: boolean) =>
      server(name, { created: at(created), spec: { nodeName: 'n1', resources: { memoryMb: 6000, cpuCores: 1, diskMb: 1 } }, ...(admitted ? { status: { nodeName: 'n1' } } : {}) });
    // Both bound at once by two writers, neither admitted: the older wins.
    let a = big('a', '2', false);
    let b = big('b', '1', false);
    expect([where(checkBinding(a, tpl, n1, [a, b], { templates })), where(checkBinding(b, tpl, n1, [a, b], { templates }))]).toEqual([
      'insufficient memory on node n1 (needs 6000 MiB, 4000 free)',
      'n1',
    ]);
    // The younger one is already admitted (running): it keeps the node.
    a = big('a', '2', true);
    expect([where(checkBinding(a, tpl, n1, [a, b], { templates })), where(checkBinding(b, tpl, n1, [a, b], { templates }))]).toEqual([
      'n1',
      'insufficient memory on node n1 (needs 6000 MiB, 4000 free)',
    ]);
    // Same for an explicit port: same time, the key decides.
    const p = (name: string) => server(name, { spec: { nodeName: 'n1', ports: [{ containerPort: 25565, hostPort: 25565 }] } });
    const [x, y] = [p('alpha'), p('beta')];
    expect(where(checkBinding(x, tpl, n1, [x, y], { templates }))).toBe('n1');
    expect(where(checkBinding(y, tpl, n1, [x, y], { templates }))).toBe('port 25565/TCP on node n1 is already used by default/alpha');
    b = big('b', '1', false);
    expect(isSenior(a, b, 'n1')).toBe(true);
    expect(isSenior(b, a, 'n1')).toBe(false);
    expect(isSenior(a, a, 'n1')).toBe(false);
  });

  it('keeps the ports the server has; the re-check is stable', () => {
    const s = server('s', { spec: { nodeName: 'n1' }, status: { nodeName: 'n1', ports: [{ containerPort: 25565, hostPort: 27007, protocol: 'TCP' }] } });
    const r = checkBinding(s, tpl, n1, [s, boundServer('o', 'n1', { ports: [{ hostPort: 27000 }] })], { templates });
    expect(r).toMatchObject({ ok: true, ports: [{ hostPort: 27007 }] });
  });

  it('a server in the list is not counted against itself', () => {
    const s = server('s', { spec: { nodeName: 'n1', resources: { memoryMb: 10000, cpuCores: 4, diskMb: 1 } }, status: { nodeName: 'n1' } });
    expect(where(checkBinding(s, tpl, n1, [s], { templates }))).toBe('n1');
  });
});

describe('applyAssumed', () => {
  const s = server('s', { uid: 'u1' });
  const p = { key: 'default/s', uid: 'u1', nodeName: 'n1', ports: [{ containerPort: 25565, hostPort: 27000, protocol: 'TCP' as const, primary: true }] };
  it('overlays placements whose writes have not landed, without touching the inputs', () => {
    const t = server('t');
    const { servers, settled } = applyAssumed([s, t], [p]);
    expect(settled).toEqual([]);
    expect(servers[0]).toMatchObject({ spec: { nodeName: 'n1' }, status: { nodeName: 'n1', ports: p.ports } });
    expect(servers[1]).toBe(t);
    expect(s.spec?.nodeName).toBeUndefined();
  });
  it('settles placements that landed, whose server is gone or was replaced', () => {
    const landed = server('s', { uid: 'u1', spec: { nodeName: 'n1' }, status: { nodeName: 'n1', ports: p.ports } });
    expect(applyAssumed([landed], [p]).settled).toEqual(['default/s']);
    expect(applyAssumed([], [p]).settled).toEqual(['default/s']);
    const replaced = server('s', { uid: 'u2' });
    expect(applyAssumed([replaced], [p])).toEqual({ servers: [replaced], settled: ['default/s'] });
    // Only spec landed: still assumed.
    expect(applyAssumed([server('s', { uid: 'u1', spec: { nodeName: 'n1' } })], [p]).settled).toEqual([]);
  });
});
