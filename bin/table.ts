// Table output for `gantry get`, driven by the CRD's additionalPrinterColumns like kubectl.
import type { KindInfo } from '../crds/registry.ts';
import type { Resource } from '../crds/resource.ts';

/** Evaluates the simple JSONPath subset printer columns use: `.a.b`, `.a[0].b`, `.metadata.labels.x\.y`. */
export function evalJsonPath(obj: unknown, jsonPath: string): unknown {
  const tokens = jsonPath
    .replace(/^\$/, '')
    .match(/(\\\.|[^.[\]])+|\[\d+\]/g) ?? [];
  let cur: unknown = obj;
  for (const raw of tokens) {
    if (cur === null || cur === undefined) return undefined;
    const idx = /^\[(\d+)\]$/.exec(raw);
    const key = idx ? Number(idx[1]) : raw.replace(/\\\./g, '.');
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

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
