// Content negotiation as an apiserver does it: `Accept` may ask for a meta.k8s.io Table (kubectl get),
// aggregated discovery (answered with plain JSON, as servers without it do: the client falls back),
// protobuf (answered with JSON when the client also takes JSON). Request bodies are JSON or YAML.
import type { Context } from 'hono';
import { parse as parseYaml } from 'yaml';
import { kubeError } from './status.ts';

export type Rendering = { as: 'object' } | { as: 'table'; version: 'v1' | 'v1beta1'; includeObject: 'None' | 'Metadata' | 'Object' };

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header.split(',').map((part) => {
    const [type, ...ps] = part.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const p of ps) {
      const eq = p.indexOf('=');
      if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
    }
    return { type: (type ?? '').toLowerCase(), params };
  }).filter((m) => m.type);
}

const JSONISH = new Set(['application/json', 'application/*', '*/*']);

/**
 * How to render an object or list: the first acceptable media range wins. A Table is offered only
 * where `tables` is true (resource reads); anything else acceptable falls back to plain JSON.
 */
export function negotiate(c: Context, tables: boolean): Rendering {
  const ranges = parseAccept(c.req.header('accept'));
  for (const m of ranges) {
    if (!JSONISH.has(m.type)) continue;
    const as = m.params.as;
    if (as === undefined) return { as: 'object' };
    if (tables && as === 'Table' && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) {
      const raw = c.req.query('includeObject') ?? 'Metadata';
      if (raw !== 'None' && raw !== 'Metadata' && raw !== 'Object') throw kubeError('BadRequest', `includeObject must be None, Metadata or Object, not "${raw}"`);
      return { as: 'table', version: m.params.v, includeObject: raw };
    }
  }
  throw kubeError('NotAcceptable', 'only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io');
}

/** Whether the client asked for gnostic's protobuf form of /openapi/v2 (kubectl always does). */
export function wantsProtobufOpenApi(c: Context): boolean {
  return parseAccept(c.req.header('accept')).some((m) => m.type.startsWith('application/com.github.proto-openapi.spec.v2'));
}

/** The request body as a JSON value: JSON, or YAML (which an apiserver accepts too). */
export async function readBody(c: Context, what: string): Promise<unknown> {
  const type = (c.req.header('content-type') ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const text = await c.req.text();
  if (text.trim() === '') throw kubeError('BadRequest', `the request body is empty; expected ${what}`);
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml') {
    try {
      return parseYaml(text);
    } catch (err) {
      throw kubeError('BadRequest', `the request body is not valid YAML: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw kubeError('BadRequest', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Content types accepted for create and update bodies. */
export function requireObjectBodyType(c: Context): void {
  const type = (c.req.header('content-type') ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && type !== 'application/yaml' && type !== '*/*') {
    throw kubeError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
}
