import { describe, expect, it } from 'vitest';
import { age, evalJsonPath, renderTable } from '../../bin/table.ts';
import type { KindInfo } from '../../crds/registry.ts';

describe('printer column JSONPath', () => {
  const obj = { metadata: { name: 'a', labels: { 'gantry.dev/x': 'y' } }, spec: { ports: [{ hostPort: 25565 }] } };
  it('reads nested fields, array indexes and escaped dots', () => {
    expect(evalJsonPath(obj, '.metadata.name')).toBe('a');
    expect(evalJsonPath(obj, '.spec.ports[0].hostPort')).toBe(25565);
    expect(evalJsonPath(obj, '.metadata.labels.gantry\\.dev/x')).toBe('y');
    expect(evalJsonPath(obj, '.status.phase')).toBeUndefined();
  });
  it('formats ages like kubectl', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(age('2026-01-01T23:59:30Z', now)).toBe('30s');
    expect(age('2026-01-01T23:30:00Z', now)).toBe('30m');
    expect(age('2026-01-01T00:00:00Z', now)).toBe('24h');
    expect(age('2025-12-20T00:00:00Z', now)).toBe('13d');
  });
  it('renders a table with the printer columns and <none> for missing values', () => {
    const info = {
      kind: 'GameServer', scope: 'Namespaced', printerColumns: [
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Port', type: 'integer', jsonPath: '.spec.ports[0].hostPort' },
        { name: 'Debug', type: 'string', jsonPath: '.spec.x', priority: 1 },
      ],
    } as unknown as KindInfo;
    const item = { ...obj, metadata: { ...obj.metadata, namespace: 'prod' } };
    const [head, row] = renderTable(info, [item as never], { allNamespaces: true }).split('\n');
    expect(head.split(/\s+/)).toEqual(['NAMESPACE', 'NAME', 'PHASE', 'PORT']);
    expect(row.split(/\s+/)).toEqual(['prod', 'a', '<none>', '25565']);
    // Columns line up: each value starts where its header does.
    expect(row.indexOf('25565')).toBe(head.indexOf('PORT'));
    const wide = renderTable(info, [item as never], { wide: true }).split('\n')[0];
    expect(wide.split(/\s+/)).toEqual(['NAME', 'PHASE', 'PORT', 'DEBUG']);
  });
});
