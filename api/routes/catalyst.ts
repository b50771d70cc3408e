// Every route of the primary (Catalyst) API, in one list: mounted by app.ts, documented by openapi.ts,
// walked by the RBAC test. A new route module adds its array here.
import type { RouteSpec } from '../http/route.ts';
import { deploymentTokenRoute } from './nodes.ts';
import { authRoutes } from './auth.ts';

export const CATALYST_ROUTES: readonly RouteSpec[] = [
  ...authRoutes,
  deploymentTokenRoute,
];
