// Routes of the primary API are declared, not hand-wired: each one states its method, path, who may
// call it (public, any signed-in user, or a permission — globally or on the server in `:serverId`), its
// rate-limit bucket, its body and query schemas, and its audit action. mountRoutes() turns a declaration
// into a Hono handler that runs the same pipeline for every route:
//
//   rate limit (auth bucket, per IP) → authenticate → rate limit (per user) → load the server →
//   authorise → refuse on a suspended server → parse + validate body and query → handler → audit.
//
// One place for the rules means the RBAC test can walk every route, and the OpenAPI document is
// generated from the same list (openapi.ts), so neither can drift from the code.
import type { Context, Hono } from 'hono';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { GameServer } from '../../crds/types.ts';
import { ApiError, badRequest, notFound } from './errors.ts';
import { authorizeOnServer, refusal } from '../rbac/authorize.ts';
import type { Principal } from '../rbac/access.ts';
import { can } from '../rbac/access.ts';
import type { ApiServices } from './services.ts';
import type { Dialect } from './dialect.ts';
import { clientIp } from './client-ip.ts';
import { CATALYST, ok, okJsonList, done } from '../catalyst/dialect.ts';

// Catalyst's envelope helpers, where route modules have always imported them from.
export { ok, okJsonList, done };

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type JsonSchema = Record<string, unknown>;

export type Access =
  | 'public'
  /** Any signed-in user; the handler narrows what they see. */
  | 'authenticated'
  | {
      permission: string;
      /** The permission is checked on the server named by `:serverId` (owner, subuser or global grant). */
      server?: boolean;
      /** Owners hold the permission on their own servers (default true for server routes). */
      ownerAllowed?: boolean;
    };

export interface RouteCtx<B = any> {
  c: Context;
  svc: ApiServices;
  /** The facade's dialect the route is served in. */
  dialect: Dialect;
  /** Undefined only on public routes. */
  principal: Principal | undefined;
  /** The server of a server route (the dialect's `serverParam`, resolved by its identity), loaded and authorised. */
  server: GameServer | undefined;
  body: B;
  query: Record<string, any>;
  params: Record<string, string>;
  ip: string | undefined;
  /** The scope claim of a `?token=` purpose token that authenticated the call (RouteSpec.queryToken). */
  tokenScope?: Record<string, string>;
  /** What the audit entry says about the target; handlers fill it in as they learn it. */
  audit: { resourceType?: string; resourceId?: string; resourceUid?: string; metadata: Record<string, unknown>; action?: string };
}

export interface RouteSpec {
  method: Method;
  /** Hono syntax: `/api/servers/:serverId/start`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  /** default: 'default' (per user, per IP when anonymous); 'auth' = the login bucket (per IP). */
  rateLimit?: 'auth' | 'default' | 'none';
  /** Audit action; default: the permission for mutating routes. false = not audited (e.g. login noise is). */
  audit?: string | false;
  /** Answer 423 when the server is suspended. */
  blockedWhenSuspended?: boolean;
  /** JSON body schema (validated with ajv; also the OpenAPI request body). */
  body?: JsonSchema;
  /** default: true when a body schema is given for POST/PUT/PATCH, unless every property is optional. */
  bodyRequired?: boolean;
  /** Query parameters: name → schema (type string, integer, number or boolean). */
  query?: Record<string, JsonSchema & { description?: string }>;
  /** The handler reads the request body itself (streamed uploads): no JSON parsing, no body limit here. */
  rawBody?: boolean;
  /** Also accept a `?token=` purpose token of this kind when there is no Authorization header (links a
   *  browser opens); the handler must check ctx.tokenScope against what the call touches. */
  queryToken?: 'download';
  /** Documented responses: status → description. */
  responses?: Record<number, string>;
  handler: (ctx: RouteCtx) => Promise<Response> | Response;
}

export function route(spec: RouteSpec): RouteSpec {
  return spec;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: true }));

function describeAjvError(where: string, e: ErrorObject): string {
  const field = (where + e.instancePath.replace(/\//g, '.')).replace(/^\./, '') || where;
  if (e.keyword === 'enum') return `${field}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'required') return `${field ? field + '.' : ''}${(e.params as { missingProperty: string }).missingProperty}: is required`;
  if (e.keyword === 'additionalProperties') return `${field ? field + '.' : ''}${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`;
  return `${field}: ${e.message ?? 'is invalid'}`;
}

function compileQuery(spec: RouteSpec): ((q: Record<string, string>) => Record<string, unknown>) | undefined {
  if (!spec.query) return undefined;
  const entries = Object.entries(spec.query);
  return (raw) => {
    const out: Record<string, unknown> = {};
    for (const [name, schema] of entries) {
      const v = raw[name];
      if (v === undefined || v === '') continue;
      const type = schema.type;
      let parsed: unknown = v;
      if (type === 'integer' || type === 'number') {
        parsed = Number(v);
        if (!Number.isFinite(parsed as number) || (type === 'integer' && !Number.isInteger(parsed))) throw badRequest(`query parameter ${name}: must be ${type === 'integer' ? 'an integer' : 'a number'}, got "${v.slice(0, 50)}"`);
        if (typeof schema.minimum === 'number' && (parsed as number) < schema.minimum) throw badRequest(`query parameter ${name}: must be >= ${schema.minimum}`);
        if (typeof schema.maximum === 'number' && (parsed as number) > schema.maximum) throw badRequest(`query parameter ${name}: must be <= ${schema.maximum}`);
      } else if (type === 'boolean') {
        if (v !== 'true' && v !== 'false') throw badRequest(`query parameter ${name}: must be true or false, got "${v.slice(0, 50)}"`);
        parsed = v === 'true';
      } else if (Array.isArray(schema.enum) && !schema.enum.includes(v)) {
        throw badRequest(`query parameter ${name}: must be one of ${schema.enum.join(', ')}`);
      } else if (typeof schema.maxLength === 'number' && v.length > schema.maxLength) {
        throw badRequest(`query parameter ${name}: longer than ${schema.maxLength} characters`);
      }
      out[name] = parsed;
    }
    return out;
  };
}

const MUTATING = new Set<Method>(['POST', 'PUT', 'PATCH', 'DELETE']);

export function auditAction(spec: RouteSpec): string | undefined {
  if (spec.audit === false) return undefined;
  if (typeof spec.audit === 'string') return spec.audit;
  if (!MUTATING.has(spec.method)) return undefined;
  return typeof spec.access === 'object' ? spec.access.permission : `${spec.tag}.${spec.method.toLowerCase()}`;
}

/**
 * Mounts declared routes on `app`, each running the one pipeline in `dialect` (default: Catalyst's):
 * its authentication, server ids, permission names, rate-limit headers and error bodies.
 */
export function mountRoutes(app: Hono, routes: readonly RouteSpec[], svc: ApiServices, dialect: Dialect = CATALYST): void {
  const permissionOf = (name: string) => (dialect.permission ? dialect.permission(name) : name);
  for (const spec of routes) {
    const validateBody: ValidateFunction | undefined = spec.body ? ajv.compile(spec.body) : undefined;
    const parseQuery = compileQuery(spec);
    const action = auditAction(spec);
    const bodyRequired = spec.bodyRequired ?? (!!spec.body && Array.isArray(spec.body.required) && (spec.body.required as unknown[]).length > 0);
    const handler = async (c: Context): Promise<Response> => {
      const ip = clientIp(c, svc.trustProxy);
      const ctx: RouteCtx = { c, svc, dialect, principal: undefined, server: undefined, body: undefined, query: {}, params: c.req.param() as Record<string, string>, ip, audit: { metadata: {} } };
      let status = 500;
      try {
        const res = await run(ctx);
        status = res.status;
        return res;
      } catch (err) {
        const res = dialect.renderError(c, err, svc);
        status = res.status;
        return res;
      } finally {
        // Refusals before authentication (401, 429 by IP) are not attributed to anyone; they are still
        // recorded for mutating routes, since failed attempts are what an audit is read for.
        if (action && status !== 500) {
          void svc.audit.record({
            userId: ctx.principal?.userId ?? null,
            username: ctx.principal?.username ?? null,
            action: ctx.audit.action ?? action,
            resourceType: ctx.audit.resourceType ?? (ctx.server ? 'server' : null),
            resourceId: ctx.audit.resourceId ?? ctx.params[dialect.serverParam] ?? null,
            resourceUid: ctx.audit.resourceUid ?? ((ctx.audit.resourceType ?? 'server') === 'server' ? (ctx.audit.metadata.serverUid as string | undefined) : undefined) ?? null,
            status,
            metadata: { ...ctx.audit.metadata, method: spec.method, path: c.req.path, ...(ctx.principal?.apiKeyId ? { apiKeyId: ctx.principal.apiKeyId } : {}) },
            ipAddress: ip ?? null,
            facade: dialect.name,
          });
        }
      }
    };

    const run = async (ctx: RouteCtx): Promise<Response> => {
      const { c } = ctx;
      const bucket = spec.rateLimit ?? 'default';
      if (bucket === 'auth') limit(c, svc, dialect, `auth:${ctx.ip ?? 'unknown'}`, svc.limits.authPerMinute);
      if (spec.access !== 'public') {
        const who = await dialect.authenticate(c, svc, spec);
        ctx.principal = who.principal;
        if (who.tokenScope) ctx.tokenScope = who.tokenScope;
      }
      if (bucket === 'default' && !(ctx.principal && can(ctx.principal, 'rate-limit.bypass'))) {
        limit(c, svc, dialect, ctx.principal ? `user:${ctx.principal.userId}` : `ip:${ctx.ip ?? 'unknown'}`, svc.limits.userPerMinute);
      }
      if (typeof spec.access === 'object') {
        const permission = permissionOf(spec.access.permission);
        if (spec.access.server) {
          const id = ctx.params[dialect.serverParam] ?? '';
          const server = await dialect.resolveServer(id, svc);
          if (!server) throw notFound(`server "${id}" not found`);
          // The uid ties the entry (refusals too) to this server, not to a later one re-created under the same name.
          ctx.audit.metadata.serverUid = server.metadata.uid;
          const verdict = authorizeOnServer(svc.access, ctx.principal!, server, permission, { ownerAllowed: spec.access.ownerAllowed, refuseSuspended: spec.blockedWhenSuspended });
          if (verdict.outcome === 'not_found' || verdict.outcome === 'forbidden') throw refusal(verdict);
          ctx.server = server;
          ctx.audit.metadata.serverName = server.spec?.displayName ?? server.metadata.name;
          if (verdict.outcome === 'suspended') throw refusal(verdict);
        } else if (!can(ctx.principal!, permission)) {
          throw new ApiError(403, `You do not have permission to perform this action (requires ${permission})`, 'missing_permission');
        }
      }
      // After authorisation, so a caller without the permission learns nothing from validation errors.
      if (!spec.rawBody && MUTATING.has(spec.method)) ctx.body = await readBody(c, svc, spec, validateBody, bodyRequired);
      if (parseQuery) ctx.query = parseQuery(c.req.query());
      return spec.handler(ctx);
    };

    app.on(spec.method, spec.path, handler);
  }
}

function limit(c: Context, svc: ApiServices, dialect: Dialect, key: string, perMinute: number): void {
  const r = svc.limiter.hit(key, { limit: perMinute, windowMs: 60_000 });
  dialect.rateLimitHeaders?.(c, r);
  if (!r.allowed) {
    c.header('Retry-After', String(r.retryAfter));
    throw new ApiError(429, `Rate limit exceeded. Try again in ${r.retryAfter} seconds.`, 'rate_limited', { retryAfter: r.retryAfter });
  }
}

async function readBody(c: Context, svc: ApiServices, spec: RouteSpec, validate: ValidateFunction | undefined, required: boolean): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > svc.limits.maxBodyBytes) throw new ApiError(413, `request body is larger than the limit of ${svc.limits.maxBodyBytes} bytes`, 'body_too_large');
  const buf = await readLimited(c, svc.limits.maxBodyBytes);
  const text = buf.toString('utf8');
  let body: unknown;
  if (text.trim() === '') {
    if (required) throw badRequest('request body is empty; expected a JSON object');
    body = {};
  } else {
    const type = c.req.header('content-type') ?? '';
    if (type && !/json/i.test(type)) throw new ApiError(415, `Content-Type ${type.split(';')[0]} is not supported here: send application/json`, 'unsupported_media_type');
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw badRequest(`request body is not valid JSON: ${(e as Error).message}`, 'invalid_json');
    }
  }
  if (validate) {
    if (!validate(body)) throw badRequest(describeAjvError('', validate.errors![0]!).replace(/^: /, 'body: '), 'invalid_body');
  } else if (spec.body === undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw badRequest('request body must be a JSON object');
  }
  return body;
}

/** Reads at most `max` bytes; a longer (or chunked, undeclared) body is a 413, never buffered whole. */
async function readLimited(c: Context, max: number): Promise<Buffer> {
  const stream = c.req.raw.body;
  if (!stream) return Buffer.alloc(0);
  const reader = stream.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done: finished, value } = await reader.read();
    if (finished) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new ApiError(413, `request body is larger than the limit of ${max} bytes`, 'body_too_large');
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}
