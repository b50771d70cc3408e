// A dialect is how one panel's API speaks: its envelope and error bodies, how a client sends its
// credential, how its server ids map to GameServers, its permission names, its rate-limit headers.
// A facade is a dialect plus its declared routes, mounted as its own Hono sub-app (own error handler,
// own catch-all) under its own path: Catalyst at `/api`, the other panels under `/compat/<panel>`,
// each optionally on a port of its own (then at `/`, so a client with hard-coded paths works).
//
// Identity, RBAC, rate limits, audit and the operations are shared (route.ts runs the one pipeline);
// the dialect only translates. See docs/ARCHITECTURE.md "How to add a facade".
import { Hono, type Context } from 'hono';
import type { GameServer } from '../../crds/types.ts';
import type { LimitResult } from './rate-limit.ts';
import type { ApiServices } from './services.ts';
import type { Principal } from '../rbac/access.ts';
import type { ExtraPath } from './openapi.ts';
import type { Logger } from '../../lib/log.ts';
import type { UpgradeHandler } from '../ws/registry.ts';
import { mountRoutes, type JsonSchema, type RouteSpec } from './route.ts';

/** How a client of this panel sends its token (what authenticate() reads; documented in OpenAPI). */
export interface CredentialPlacement {
  in: 'header' | 'cookie' | 'query';
  /** Header, cookie or query parameter name (`authorization` for `Bearer <token>`). */
  name: string;
  /** `bearer`: the header value is `Bearer <token>`. */
  scheme?: 'bearer';
}

export interface Authenticated {
  principal: Principal;
  /** The scope claim of a purpose token (download links), for the handler to check. */
  tokenScope?: Record<string, string>;
}

export interface Dialect {
  /** The facade's name: the audit entry's `facade` ('catalyst', 'ccpanel', …). */
  name: string;
  /** Renders any error (OpError/ApiError by code, StoreError, unknown → 500) in this panel's body. */
  renderError(c: Context, err: unknown, svc: ApiServices): Response;
  /** The answer for a path under the facade that no route serves. */
  notFound(c: Context): Response;
  /** Who calls (throws an unauthorized OpError when nobody or no longer valid). */
  authenticate(c: Context, svc: ApiServices, spec: RouteSpec): Promise<Authenticated>;
  credential: CredentialPlacement;
  /** The path parameter naming the server of server-scoped routes, and how its value maps to a GameServer. */
  serverParam: string;
  resolveServer(id: string, svc: ApiServices): Promise<GameServer | undefined>;
  /** The id this dialect shows for a server (what resolveServer accepts back). */
  serverId(server: GameServer): string;
  /** The facade's permission name → Gantry's catalogue (api/rbac/permissions.ts). Default: the same. */
  permission?(name: string): string;
  /** Headers a rate-limited answer carries in this panel (also on allowed calls). */
  rateLimitHeaders?(c: Context, r: LimitResult): void;
  /** The error body's JSON schema (OpenAPI components.schemas.Error; the garbage test checks refusals against it). */
  errorSchema: JsonSchema;
  /** OpenAPI info for the facade's document. */
  info: { title: string; description: string };
}

/** A WebSocket endpoint of a facade: opened once per process, served at `mount + path`. */
export interface FacadeSocket {
  /** Below the facade's mount (Catalyst: /ws; a panel: /ws/v1/monitor). */
  path: string;
  open(svc: ApiServices, log: Logger): UpgradeHandler & { close(): Promise<void> };
}

export interface Facade {
  name: string;
  dialect: Dialect;
  /** Prefix added to every declared path on the main port ('' for Catalyst, `/compat/ccpanel`, …). */
  mount: string;
  /** The path space (below `mount`) the facade owns: its catch-all answers there in its dialect. */
  scope: string;
  routes: readonly RouteSpec[];
  /** Paths served by other modules that the facade's document lists too. */
  extraPaths?: readonly ExtraPath[];
  /** Its WebSocket endpoints (the socket registry routes upgrades to them). */
  sockets?: readonly FacadeSocket[];
}

/**
 * The Hono app of one facade: its routes under `base` (default: its mount; '' when it has a port of its
 * own), its own catch-all over its scope and its own error handler, so nothing sniffs paths.
 */
export function facadeApp(facade: Facade, svc: ApiServices, base = facade.mount): Hono {
  const app = base ? new Hono().basePath(base) : new Hono();
  mountRoutes(app, facade.routes, svc, facade.dialect);
  app.all(`${facade.scope}/*`, (c) => facade.dialect.notFound(c));
  if (facade.scope) app.all(facade.scope, (c) => facade.dialect.notFound(c));
  // Served alone on a port of its own, the rest of the path space is its too.
  app.notFound((c) => facade.dialect.notFound(c));
  app.onError((err, c) => facade.dialect.renderError(c, err, svc));
  return app;
}
