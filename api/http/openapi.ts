// OpenAPI 3.1, generated per facade from its declared routes: the document cannot list a route that
// does not exist or miss one that does (test/integration/api-openapi.test.ts compares each facade's
// document with the app's router). The error schema, security scheme and info are the dialect's.
import { GANTRY_VERSION } from '../../lib/version.ts';
import { auditAction, type RouteSpec } from './route.ts';
import type { Dialect, Facade } from './dialect.ts';

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

/** The OpenAPI document of one facade (its routes and extra paths, in its dialect). */
export function facadeDocument(facade: Facade): Record<string, unknown> {
  return openApiDocument(facade.routes, facade.extraPaths ?? [], facade.dialect, facade.mount);
}

function securityScheme(d: Dialect): Record<string, unknown> {
  const c = d.credential;
  if (c.in === 'header' && c.scheme === 'bearer') return { type: 'http', scheme: 'bearer', description: 'An access token (JWT from the login route) or an API key (gak_…)' };
  return { type: 'apiKey', in: c.in, name: c.name };
}

export function openApiDocument(routes: readonly RouteSpec[], extra: readonly ExtraPath[], dialect: Dialect, mount = ''): Record<string, unknown> {
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
    info: { title: dialect.info.title, version: GANTRY_VERSION, description: dialect.info.description },
    servers: [{ url: mount || '/' }],
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearerAuth: securityScheme(dialect) },
      schemas: { Error: dialect.errorSchema },
    },
  };
}
