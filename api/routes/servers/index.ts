// Every /api/servers route of the primary API (Catalyst "Servers", plus subusers). Transfer and
// databases are not built: Gantry has no database hosts, and transfers wait for the data mover.
import type { RouteSpec } from '../../http/route.ts';
import { serverCrudRoutes } from './crud.ts';
import { serverActionRoutes } from './actions.ts';
import { allocationRoutes } from './allocations.ts';
import { subuserRoutes } from './subusers.ts';

export const serverRoutes: readonly RouteSpec[] = [...serverCrudRoutes, ...serverActionRoutes, ...allocationRoutes, ...subuserRoutes];
