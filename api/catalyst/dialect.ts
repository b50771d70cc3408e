// Catalyst's dialect (the primary API): `{success, data}` answers, `{error, statusCode, message,
// reason?}` errors, `Authorization: Bearer` (a `?token=` purpose token on the routes that take one),
// servers addressed by metadata.name in one namespace, X-RateLimit-* headers.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isOpError, type OpCode } from '../../controller/operations/errors.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { catalystErrorBody, isApiError } from '../http/errors.ts';
import type { Dialect } from '../http/dialect.ts';
import type { ApiServices } from '../http/services.ts';
import { byName } from '../ops/identity.ts';

/** Catalyst's status for each operation error code. */
export const CATALYST_STATUS: Record<OpCode, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  insufficient_resources: 400,
  locked: 423,
  forbidden: 403,
  unauthorized: 401,
  unavailable: 503,
  timeout: 504,
  too_large: 413,
  rate_limited: 429,
  unsupported: 415,
  failed: 502,
};

/** `{success: true, data}` with a status; extra top-level fields as Catalyst puts some beside data. */
export function ok(c: Context, data?: unknown, status = 200, extra: Record<string, unknown> = {}): Response {
  const body: Record<string, unknown> = { success: true };
  if (data !== undefined) body.data = data;
  return c.json({ ...body, ...extra }, status as ContentfulStatusCode);
}

const LIST_HEAD = Buffer.from('{"success":true,"data":[');
const COMMA = Buffer.from(',');

/**
 * ok() for a list whose items are already serialised (UTF-8 JSON kept per object, see
 * catalystServerJson): the same body and headers, assembled from the bytes — no serialising, no
 * encoding of a large string for the socket.
 */
export function okJsonList(c: Context, items: readonly Buffer[], status = 200, extra: Record<string, unknown> = {}): Response {
  const parts: Buffer[] = [LIST_HEAD];
  items.forEach((item, i) => (i ? parts.push(COMMA, item) : parts.push(item)));
  parts.push(Buffer.from(`]${Object.keys(extra).length ? `,${JSON.stringify(extra).slice(1, -1)}` : ''}}`));
  return c.body(Buffer.concat(parts), status as ContentfulStatusCode, { 'Content-Type': 'application/json' });
}

/** `{success: true, message}`: the shape of Catalyst's action answers. */
export function done(c: Context, message: string, extra: Record<string, unknown> = {}): Response {
  return c.json({ success: true, message, ...extra }, 200);
}

export function renderCatalystError(c: Context, err: unknown, svc: Pick<ApiServices, 'log'>): Response {
  const reply = (status: number, message: string, reason?: string, extra?: Record<string, unknown>) => c.json(catalystErrorBody(status, message, reason, extra), status as ContentfulStatusCode);
  if (isApiError(err)) return reply(err.statusCode, err.message, err.reason, err.extra);
  if (isOpError(err)) return reply(CATALYST_STATUS[err.code] ?? 400, err.message, err.reason, err.extra);
  // The store speaks Kubernetes (422 Invalid, 409 Conflict/AlreadyExists, 404); Catalyst says 400 for invalid input.
  if (isStoreError(err)) return reply(err.code === 422 ? 400 : err.code, err.message, err.reason);
  svc.log.error('unhandled API error', { method: c.req.method, path: c.req.path, err });
  return reply(500, 'internal error');
}

const identities = new WeakMap<ApiServices, ReturnType<typeof byName>>();
const identityOf = (svc: ApiServices) => {
  let id = identities.get(svc);
  if (!id) identities.set(svc, (id = byName({ servers: svc.ops.servers, informers: svc.informers }, svc.servers.namespace)));
  return id;
};

export const CATALYST: Dialect = {
  name: 'catalyst',
  renderError: renderCatalystError,
  notFound: (c) => c.json(catalystErrorBody(404, `no route for ${c.req.method} ${c.req.path}`, 'no_route'), 404),
  credential: { in: 'header', name: 'authorization', scheme: 'bearer' },
  async authenticate(c, svc, spec) {
    // Links a browser opens (downloads) carry a purpose token in ?token= instead of a header.
    const qt = spec.queryToken && !c.req.header('authorization') ? c.req.query('token') : undefined;
    if (qt) {
      const principal = await svc.auth.fromToken(qt, spec.queryToken!);
      return { principal, tokenScope: (await svc.auth.tokens.verify(qt, spec.queryToken!)).scope ?? {} };
    }
    return { principal: await svc.auth.fromAuthorizationHeader(c.req.header('authorization')) };
  },
  serverParam: 'serverId',
  resolveServer: (id, svc) => identityOf(svc).resolve(id),
  serverId: (s) => s.metadata.name,
  rateLimitHeaders(c, r) {
    c.header('X-RateLimit-Limit', String(r.limit));
    c.header('X-RateLimit-Remaining', String(r.remaining));
    c.header('X-RateLimit-Reset', String(r.resetAt));
  },
  errorSchema: {
    type: 'object',
    properties: { error: { type: 'string' }, statusCode: { type: 'integer' }, message: { type: 'string' }, reason: { type: 'string' } },
    required: ['error', 'statusCode', 'message'],
  },
  info: {
    title: 'Gantry API',
    description: 'The primary API of Gantry, compatible with Catalyst\'s. Answers are `{success, data}`; errors `{error, statusCode, message}`. Imperative calls become spec edits on resources; the Kubernetes dialect (kubectl) lives under /k8s.',
  },
};
