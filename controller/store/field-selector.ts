// Kubernetes field selectors (?fieldSelector=): `metadata.name=x`, `metadata.namespace!=y`, comma-
// separated, all required. A custom-resource apiserver supports exactly these two fields (plus a
// CRD's selectableFields, which Gantry's CRDs do not declare); any other field is a 400 naming the
// supported ones, as kube-apiserver answers `field label not supported`.
import { badRequest } from './errors.ts';

export interface FieldRequirement {
  field: 'metadata.name' | 'metadata.namespace';
  op: '=' | '!=';
  value: string;
}

export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[];
  readonly empty: boolean;
  matches(meta: { name: string; namespace?: string }): boolean;
  /** The single name an equality requirement pins, if any (lets a store look one row up). */
  readonly name?: string;
  toString(): string;
}

const FIELDS = new Set(['metadata.name', 'metadata.namespace']);

export function parseFieldSelector(raw: string | undefined): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const part of (raw ?? '').split(',')) {
    const term = part.trim();
    if (!term) continue;
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid fieldSelector "${raw}": "${term}" is not field=value or field!=value`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!FIELDS.has(field)) throw badRequest(`field label not supported: "${field}" (fieldSelector supports metadata.name and metadata.namespace)`);
    if (/[=!,]/.test(value)) throw badRequest(`invalid fieldSelector "${raw}": value "${value}" of ${field} contains an operator`);
    requirements.push({ field: field as FieldRequirement['field'], op: op === '!=' ? '!=' : '=', value: value.trim() });
  }
  const names = requirements.filter((r) => r.field === 'metadata.name' && r.op === '=').map((r) => r.value);
  return {
    requirements,
    empty: requirements.length === 0,
    name: names.length === 1 ? names[0] : undefined,
    matches(meta) {
      for (const r of requirements) {
        const actual = r.field === 'metadata.name' ? meta.name : (meta.namespace ?? '');
        if ((actual === r.value) !== (r.op === '=')) return false;
      }
      return true;
    },
    toString: () => requirements.map((r) => `${r.field}${r.op}${r.value}`).sort().join(','),
  };
}
