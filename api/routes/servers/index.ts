// Every /api/servers route of the primary API (Catalyst "Servers", plus subusers and the transfer
// between nodes); databases have routes of their own (api/routes/databases.ts).
import type { RouteSpec } from '../../http/route.ts';
import { serverCrudRoutes } from './crud.ts';
import { serverActionRoutes } from './actions.ts';
import { allocationRoutes } from './allocations.ts';
import { subuserRoutes } from './subusers.ts';
import { serverTransferRoutes } from './transfer.ts';

export const serverRoutes: readonly RouteSpec[] = [...serverCrudRoutes, ...serverActionRoutes, ...allocationRoutes, ...subuserRoutes, ...serverTransferRoutes];
