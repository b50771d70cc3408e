// Scheduling arithmetic: requests with their fallbacks, allocatable, allocated, free.
import { describe, expect, it } from 'vitest';
import type { HealthReport } from '../../agent/runtime/health.ts';
import {
  TEMPLATE_DEFAULT_RESOURCES,
  allocatableFromHealth,
  allocatedOn,
  effectiveRequests,
  freeOf,
  nodeAllocatable,
  nodesOf,
  shortfalls,
} from '../../controller/scheduling/resources.ts';
import { boundServer, node, server, template } from './scheduling-fixtures.ts';

const MiB = 1024 * 1024;
const health = (memMb: number, cores: number, diskMb?: number) =>
  ({ memory: { totalBytes: memMb * MiB + 123, availableBytes: 0, usedBytes: 0 }, cpu: { cores, loadAverage: [] }, ...(diskMb !== undefined ? { disk: { path: '/d', totalBytes: diskMb * MiB, freeBytes: 0, usedBytes: 0 } } : {}) }) as unknown as HealthReport;

describe('effectiveRequests', () => {
  const bare = template('bare', { resources: undefined });
  it.each([
    ['server limits win', server('a', { spec: { resources: { memoryMb: 2048, cpuCores: 2, diskMb: 500 } } }), template('mc', { resources: { memoryMb: 4096, cpuCores: 3, diskMb: 9 } }), { memoryMb: 2048, cpuCores: 2, diskMb: 500 }],
    ['per field: left-out limits fall back to the template', server('a', { spec: { resources: { memoryMb: 2048 } } }), template('mc', { resources: { memoryMb: 4096, cpuCores: 3, diskMb: 9 } }), { memoryMb: 2048, cpuCores: 3, diskMb: 9 }],
    ['template without resources: template defaults', server('a'), bare, { ...TEMPLATE_DEFAULT_RESOURCES }],
    ['template partly set: defaults for the rest', server('a'), template('mc', { resources: { cpuCores: 0.5 } }), { memoryMb: 1024, cpuCores: 0.5, diskMb: 10240 }],
    ['no template at all: defaults', server('a'), undefined, { memoryMb: 1024, cpuCores: 1, diskMb: 10240 }],
    ['diskMb 0 (no quota) reserves no disk', server('a', { spec: { resources: { diskMb: 0 } } }), bare, { memoryMb: 1024, cpuCores: 1, diskMb: 0 }],
  ])('%s', (_, s, t, want) => {
    expect(effectiveRequests(s, t)).toEqual(want);
  });
  it('the defaults match the CRD', () => {
    expect(TEMPLATE_DEFAULT_RESOURCES).toEqual({ memoryMb: 1024, cpuCores: 1, diskMb: 10240 });
  });
});

describe('nodeAllocatable', () => {
  it('spec.capacity per field, else the health report (totals), else the last status', () => {
    const n = node('n1', { spec: { capacity: { memoryMb: 2048 } }, status: { phase: 'Online', allocatable: { memoryMb: 1, cpuCores: 1, diskMb: 777 } } });
    expect(nodeAllocatable(n, health(8000, 8))).toEqual({ memoryMb: 2048, cpuCores: 8, diskMb: 777 });
    expect(nodeAllocatable(n, health(8000, 8, 50000))).toEqual({ memoryMb: 2048, cpuCores: 8, diskMb: 50000 });
    expect(nodeAllocatable(n, undefined)).toEqual({ memoryMb: 2048, cpuCores: 1, diskMb: 777 });
    expect(nodeAllocatable(node('n2', { spec: { capacity: undefined }, status: { phase: 'Online' } }))).toEqual({});
    expect(nodeAllocatable(n, undefined, { useStatus: false })).toEqual({ memoryMb: 2048 });
  });
  it('reads a health report defensively', () => {
    expect(allocatableFromHealth(undefined)).toEqual({});
    expect(allocatableFromHealth({} as HealthReport)).toEqual({});
    expect(allocatableFromHealth(health(1000, 2))).toEqual({ memoryMb: 1000, cpuCores: 2 });
  });
});

describe('allocatedOn / freeOf', () => {
  const t = template('mc', { resources: { memoryMb: 512, cpuCores: 0.1, diskMb: 100 } });
  const servers = [
    boundServer('a', 'n1', { memoryMb: 1000 }),
    // Stopped servers count too: their data and ports stay on the node.
    server('b', { spec: { nodeName: 'n1', state: 'Stopped', resources: { cpuCores: 0.2 } } }),
    server('c', { spec: { nodeName: 'n2' } }),
    // Being transferred n1 → n2: still holds n1 until it has moved.
    server('d', { spec: { nodeName: 'n2', resources: { memoryMb: 64, cpuCores: 0.1, diskMb: 0 } }, status: { nodeName: 'n1' } }),
    server('unbound'),
  ];
  it('sums every server bound to the node, running or not, with exact cpu', () => {
    expect(allocatedOn('n1', servers, new Map([['mc', t]]))).toEqual({ memoryMb: 1000 + 512 + 64, cpuCores: 1.3, diskMb: 1000 + 100 + 0, servers: 3 });
    expect(allocatedOn('n1', servers, (n) => (n === 'mc' ? t : undefined), servers[0])).toEqual({ memoryMb: 576, cpuCores: 0.3, diskMb: 100, servers: 2 });
    expect(allocatedOn('n2', servers, undefined)).toEqual({ memoryMb: 1024 + 64, cpuCores: 1.1, diskMb: 10240, servers: 2 });
    expect(allocatedOn('n3', servers, undefined)).toEqual({ memoryMb: 0, cpuCores: 0, diskMb: 0, servers: 0 });
  });
  it('nodesOf lists the binding and where the server is', () => {
    expect(nodesOf(servers[3]!)).toEqual(['n2', 'n1']);
    expect(nodesOf(servers[0]!)).toEqual(['n1']);
    expect(nodesOf(servers[4]!)).toEqual([]);
  });
  it('free never goes below zero; unknown stays unknown', () => {
    expect(freeOf({ memoryMb: 1000, cpuCores: 1 }, { memoryMb: 1500, cpuCores: 0.7, diskMb: 5 })).toEqual({ memoryMb: 0, cpuCores: 0.3 });
  });
  it('shortfalls: exact cpu comparison, zero requests always fit, unknown capacity fits only when asked', () => {
    expect(shortfalls({ memoryMb: 100, cpuCores: 0.3, diskMb: 0 }, { memoryMb: 100, cpuCores: 0.1 + 0.2 })).toEqual([]);
    expect(shortfalls({ memoryMb: 101, cpuCores: 0.3, diskMb: 1 }, { memoryMb: 100, cpuCores: 0.2 })).toEqual([
      { dimension: 'memoryMb', needs: 101, free: 100 },
      { dimension: 'cpuCores', needs: 0.3, free: 0.2 },
      { dimension: 'diskMb', needs: 1 },
    ]);
    expect(shortfalls({ memoryMb: 100, cpuCores: 1, diskMb: 1 }, {}, true)).toEqual([]);
  });
});
