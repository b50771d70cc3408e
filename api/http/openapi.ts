// OpenAPI 3.1, generated from the declared routes: the document cannot list a route that does not
// exist or miss one that does (test/integration/api-openapi.test.ts compares it with the app's router).
import { GANTRY_VERSION } from '../../lib/version.ts';
import { auditAction, type RouteSpec } from './route.ts';

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, statusCode: { type: 'integer' }, message: { type: 'string' }, reason: { type: 'string' } },
  required: ['error', 'statusCode', 'message'],
};

const STANDARD: Record<number, string> = {
  400: 'Bad Request: malformed JSON, a wrong type, an unknown enum value, a missing field',
  401: 'Unauthorized: no token, a bad signature, expired, revoked, or a token of another purpose',
  403: 'Forbidden: the permission is missing',
  404: 'Not Found',
  413: 'Payload Too Large',
  423: 'Locked: the server is suspended',
  429: 'Too Many Requests (X-RateLimit-* and Retry-After headers)',
};

export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export interface ExtraPath {
  method: string;
  path: string;
  summary: string;
  tag: string;
  public?: boolean;
}

export function openApiDocument(routes: readonly RouteSpec[], extra: readonly ExtraPath[] = []): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const r of routes) {
    tags.add(r.tag);
    const p = toOpenApiPath(r.path);
    const params: unknown[] = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    for (const [name, schema] of Object.entries(r.query ?? {})) {
      const { description, ...s } = schema as Record<string, unknown>;
      params.push({ name, in: 'query', required: false, schema: s, ...(description ? { description } : {}) });
    }
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(r.responses ?? {})) responses[code] = { description };
    if (!Object.keys(responses).some((c) => c.startsWith('2'))) responses[r.method === 'POST' && /create/i.test(r.summary) ? '201' : '200'] = { description: 'OK' };
    const errors = new Set<number>([429]);
    if (r.body || r.query) errors.add(400);
    if (r.body) errors.add(413);
    if (r.access !== 'public') errors.add(401);
    if (typeof r.access === 'object') errors.add(403);
    if (typeof r.access === 'object' && r.access.server) errors.add(404);
    if (r.blockedWhenSuspended) errors.add(423);
    for (const code of errors) responses[String(code)] ??= { description: STANDARD[code], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const access = r.access === 'public' ? 'public' : r.access === 'authenticated' ? 'any signed-in user' : `${r.access.permission}${r.access.server ? ' on the server (owner, subuser or global)' : ''}`;
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${p.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)/g, (_, ch: string) => ch.toUpperCase())}`,
      summary: r.summary,
      tags: [r.tag],
      description: `Access: ${access}.${auditAction(r) ? ` Audited as \`${auditAction(r)}\`.` : ''}`,
      'x-permission': typeof r.access === 'object' ? r.access.permission : r.access,
      parameters: params,
      responses,
    };
    if (r.access !== 'public') op.security = [{ bearerAuth: [] }];
    if (r.body) op.requestBody = { required: r.bodyRequired ?? Array.isArray(r.body.required), content: { 'application/json': { schema: r.body } } };
    if (r.rawBody) op.requestBody ??= { required: true, content: { 'multipart/form-data': { schema: { type: 'object' } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    (paths[p] ??= {})[r.method.toLowerCase()] = op;
  }
  for (const e of extra) {
    tags.add(e.tag);
    (paths[toOpenApiPath(e.path)] ??= {})[e.method.toLowerCase()] = {
      summary: e.summary,
      tags: [e.tag],
      responses: { '200': { description: 'OK' } },
      ...(e.public ? {} : { security: [{ bearerAuth: [] }] }),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gantry API',
      version: GANTRY_VERSION,
      description: 'The primary API of Gantry, compatible with Catalyst\'s. Answers are `{success, data}`; errors `{error, statusCode, message}`. Imperative calls become spec edits on resources; the Kubernetes-style resource API lives under /apis/gantry.dev/v1alpha1.',
    },
    servers: [{ url: '/' }],
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An access token (JWT from /api/auth/login) or an API key (gak_…)' } },
      schemas: { Error: errorSchema },
    },
  };
}
