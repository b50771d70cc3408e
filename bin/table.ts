// Table output for `gantry get`, driven by the CRD's additionalPrinterColumns like kubectl.
import type { KindInfo } from '../crds/registry.ts';
import type { Resource } from '../crds/resource.ts';
import { age, evalJsonPath } from '../crds/columns.ts';

export { age, evalJsonPath };

function cell(value: unknown, type: string): string {
  if (value === undefined || value === null || value === '') return '<none>';
  if (type === 'date' && typeof value === 'string') return age(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function renderTable(info: KindInfo, items: Resource[], opts: { allNamespaces?: boolean; wide?: boolean } = {}): string {
  const columns = info.printerColumns.filter((c) => opts.wide || !c.priority);
  const header = [
    ...(opts.allNamespaces && info.scope === 'Namespaced' ? ['NAMESPACE'] : []),
    'NAME',
    ...columns.map((c) => c.name.toUpperCase()),
  ];
  const rows = items.map((item) => [
    ...(opts.allNamespaces && info.scope === 'Namespaced' ? [item.metadata.namespace ?? ''] : []),
    item.metadata.name,
    ...columns.map((c) => cell(evalJsonPath(item, c.jsonPath), c.type)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i] + 3))).join('')).join('\n');
}
