// Every route of the primary (Catalyst) API, in one list: mounted by app.ts, documented by openapi.ts,
// walked by the RBAC test. A new route module adds its array here.
import type { RouteSpec } from '../http/route.ts';
import { route } from '../http/route.ts';
import { openApiDocument, type ExtraPath } from '../http/openapi.ts';
import { CATALYST } from '../catalyst/dialect.ts';
import { deploymentTokenRoute, nodeRoutes } from './nodes.ts';
import { serverRoutes } from './servers/index.ts';
import { templateRoutes } from './templates.ts';
import { logRoutes } from './logs.ts';
import { adminRoutes } from './admin.ts';
import { authRoutes } from './auth.ts';
import { accountRoutes } from './account.ts';
import { userRoutes } from './users.ts';
import { fileRoutes } from './files.ts';
import { backupRoutes } from './backups.ts';
import { taskRoutes } from './tasks.ts';
import { alertRoutes } from './alerts.ts';
import { metricsRoutes } from './metrics.ts';
import { databaseRoutes } from './databases.ts';
import { serverActivityRoutes } from './server-activity.ts';
import { templateImportRoutes } from './template-import.ts';

const ROUTES: RouteSpec[] = [
  ...authRoutes,
  ...accountRoutes,
  ...userRoutes,
  deploymentTokenRoute,
  ...nodeRoutes,
  ...templateRoutes,
  ...serverRoutes,
  ...logRoutes,
  ...adminRoutes,
  ...fileRoutes,
  ...backupRoutes,
  ...taskRoutes,
  ...alertRoutes,
  ...metricsRoutes,
  ...databaseRoutes,
  ...serverActivityRoutes,
  ...templateImportRoutes,
];

/** Routes outside the declared list (served by their own modules), documented for completeness. */
export const EXTRA_PATHS: readonly ExtraPath[] = [
  { method: 'GET', path: '/healthz', summary: 'Liveness and store health', tag: 'system', public: true },
  { method: 'GET', path: '/api/version', summary: 'Gantry version', tag: 'system', public: true },
  { method: 'POST', path: '/api/agent/enroll', summary: 'Exchange a deployment token for a node credential (agents)', tag: 'nodes', public: true },
  { method: 'GET', path: '/metrics', summary: 'Prometheus metrics (admin.read)', tag: 'system' },
];

let doc: Record<string, unknown> | undefined;

export const openApiRoute = route({
  method: 'GET',
  path: '/api/openapi.json',
  summary: 'This document (OpenAPI 3.1)',
  tag: 'system',
  access: 'public',
  rateLimit: 'none',
  handler: ({ c }) => c.json((doc ??= openApiDocument(CATALYST_ROUTES, EXTRA_PATHS, CATALYST))),
});

export const CATALYST_ROUTES: readonly RouteSpec[] = [...ROUTES, openApiRoute];
