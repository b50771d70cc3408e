// The dashboard's search box: free words match name, id, address, node and template; `phase:running`,
// `node:NAME` and `template:NAME` narrow by field. Case does not matter; every term must match.
export interface Searchable {
  id: string;
  name: string;
  status: string;
  nodeId: string | null;
  templateId: string;
  address: string | null;
}

export interface ParsedQuery {
  words: string[];
  fields: Record<string, string[]>;
}

const FIELDS = new Set(['phase', 'status', 'node', 'template']);

export function parseQuery(q: string): ParsedQuery {
  const out: ParsedQuery = { words: [], fields: {} };
  for (const raw of q.toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z]+):(.+)$/.exec(raw);
    if (m && FIELDS.has(m[1]!)) {
      const key = m[1] === 'status' ? 'phase' : m[1]!;
      (out.fields[key] ??= []).push(m[2]!);
    } else {
      out.words.push(raw);
    }
  }
  return out;
}

export function matches(s: Searchable, q: ParsedQuery, phases?: ReadonlySet<string>): boolean {
  if (phases && phases.size && !phases.has(s.status)) return false;
  const phase = q.fields.phase;
  if (phase && !phase.some((p) => s.status === p)) return false;
  const node = q.fields.node;
  if (node && !node.some((n) => (s.nodeId ?? '').toLowerCase().includes(n))) return false;
  const tmpl = q.fields.template;
  if (tmpl && !tmpl.some((n) => s.templateId.toLowerCase().includes(n))) return false;
  const hay = [s.id, s.name, s.address ?? '', s.nodeId ?? '', s.templateId].join(' ').toLowerCase();
  return q.words.every((w) => hay.includes(w));
}
