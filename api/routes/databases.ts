// Server databases (Catalyst's "Databases": list, create, rotate, delete under a server) and the
// database hosts they live on (admin routes in Catalyst's style; the document has none). The work
// is controller/databases/service.ts; these handlers authorise, map shapes and map its errors:
// 400 bad input, 404 unknown id, 409 taken or in use, 502 the host refused, 503 the host unreachable.
import { DatabaseError, type DatabaseService } from '../../controller/databases/service.ts';
import { route, ok, type RouteCtx, type RouteSpec } from '../http/route.ts';
import { ApiError } from '../http/errors.ts';
import { toCatalystDatabase, toCatalystDatabaseHost } from '../catalyst/databases.ts';

function service(ctx: RouteCtx): DatabaseService {
  if (!ctx.svc.databases) throw new ApiError(503, 'Server databases are not available in this Gantry process', 'databases_unavailable');
  return ctx.svc.databases;
}

/** Runs a database operation; its DatabaseError becomes the Catalyst error with the same status. */
async function op<T>(ctx: RouteCtx, fn: (db: DatabaseService) => Promise<T>): Promise<T> {
  try {
    return await fn(service(ctx));
  } catch (err) {
    if (err instanceof DatabaseError) {
      ctx.audit.metadata.refused = err.code;
      throw new ApiError(err.status, err.message, err.code);
    }
    throw err;
  }
}

const serverRef = (ctx: RouteCtx) => ({ uid: ctx.server!.metadata.uid!, namespace: ctx.server!.metadata.namespace ?? ctx.svc.servers.namespace, name: ctx.server!.metadata.name });
const ID = { type: 'string', minLength: 1, maxLength: 64 } as const;
const HOSTS = { permission: 'database.hosts' } as const;

const hostBody = (required: string[]) => ({
  type: 'object',
  additionalProperties: false,
  required,
  minProperties: 1,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    host: { type: 'string', minLength: 1, maxLength: 253, description: 'Host name or IP address of the MySQL/MariaDB server' },
    port: { type: 'integer', minimum: 1, maximum: 65535, description: 'default 3306' },
    username: { type: 'string', minLength: 1, maxLength: 80, description: 'An admin user that may create databases and users and grant on them' },
    password: { type: 'string', maxLength: 1024, description: 'Write-only: stored encrypted, never returned' },
    maxDatabases: { type: ['integer', 'null'], minimum: 0, description: 'null: no limit' },
    verify: { type: 'boolean', description: 'Log in before saving (default true): 503 when that fails' },
  },
});

export const databaseRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/databases',
    summary: 'List the databases provisioned for a server (with their credentials)',
    tag: 'databases',
    access: { permission: 'database.read', server: true },
    handler: async (ctx) => ok(ctx.c, (await op(ctx, (db) => db.listForServer(ctx.server!.metadata.uid!))).map(toCatalystDatabase)),
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/databases',
    summary: 'Create a database (its own user, a random password) on a database host',
    tag: 'databases',
    access: { permission: 'database.create', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        hostId: { ...ID, description: 'Left out: the host with the fewest databases that has room' },
        name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_]+$', description: 'Letters, digits and underscores; unique on the host' },
      },
    },
    responses: { 201: 'Created', 400: 'Invalid hostId or name', 409: 'Name/username already exists on host', 503: 'Database host unavailable' },
    handler: async (ctx) => {
      const d = await op(ctx, (db) => db.create(serverRef(ctx), { hostId: ctx.body.hostId, name: ctx.body.name }));
      ctx.audit.resourceType = 'database';
      ctx.audit.metadata.database = d.id;
      ctx.audit.metadata.name = d.name;
      ctx.audit.metadata.hostId = d.hostId;
      return ok(ctx.c, toCatalystDatabase(d), 201);
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/databases/:databaseId/rotate',
    summary: 'Give a database a new random password (the old one stops working)',
    tag: 'databases',
    access: { permission: 'database.rotate', server: true },
    blockedWhenSuspended: true,
    responses: { 404: 'Database not found', 503: 'Database host unavailable' },
    handler: async (ctx) => {
      ctx.audit.metadata.database = ctx.params.databaseId;
      return ok(ctx.c, toCatalystDatabase(await op(ctx, (db) => db.rotate(ctx.server!.metadata.uid!, ctx.params.databaseId!))));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/servers/:serverId/databases/:databaseId',
    summary: 'Drop a database and its user on the host, then forget it',
    tag: 'databases',
    access: { permission: 'database.delete', server: true },
    blockedWhenSuspended: true,
    responses: { 404: 'Database not found', 503: 'Database host unavailable (nothing is forgotten)' },
    handler: async (ctx) => {
      ctx.audit.metadata.database = ctx.params.databaseId;
      await op(ctx, (db) => db.remove(ctx.server!.metadata.uid!, ctx.params.databaseId!));
      return ctx.c.json({ success: true }, 200);
    },
  }),

  route({
    method: 'GET',
    path: '/api/admin/database-hosts',
    summary: 'List database hosts (the admin password is never returned)',
    tag: 'databases',
    access: HOSTS,
    handler: async (ctx) => ok(ctx.c, (await op(ctx, (db) => db.listHosts())).map(toCatalystDatabaseHost)),
  }),

  route({
    method: 'POST',
    path: '/api/admin/database-hosts',
    summary: 'Add a MySQL/MariaDB host servers may create databases on',
    tag: 'databases',
    access: HOSTS,
    body: hostBody(['name', 'host', 'username', 'password']),
    responses: { 201: 'Created', 400: 'Invalid field', 409: 'A host of that name exists', 503: 'The admin login failed (verify)' },
    handler: async (ctx) => {
      const { verify, ...input } = ctx.body;
      const h = await op(ctx, (db) => db.createHost(input, { verify }));
      ctx.audit.resourceType = 'database_host';
      ctx.audit.resourceId = h.id;
      return ok(ctx.c, toCatalystDatabaseHost(h), 201);
    },
  }),

  route({
    method: 'GET',
    path: '/api/admin/database-hosts/:hostId',
    summary: 'One database host',
    tag: 'databases',
    access: HOSTS,
    handler: async (ctx) => ok(ctx.c, toCatalystDatabaseHost(await op(ctx, (db) => db.getHost(ctx.params.hostId!)))),
  }),

  route({
    method: 'PUT',
    path: '/api/admin/database-hosts/:hostId',
    summary: 'Change a database host (a new address or login is verified unless verify is false)',
    tag: 'databases',
    access: HOSTS,
    body: hostBody([]),
    bodyRequired: true,
    handler: async (ctx) => {
      const { verify, ...patch } = ctx.body;
      ctx.audit.resourceType = 'database_host';
      ctx.audit.resourceId = ctx.params.hostId;
      return ok(ctx.c, toCatalystDatabaseHost(await op(ctx, (db) => db.updateHost(ctx.params.hostId!, patch, { verify }))));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/admin/database-hosts/:hostId',
    summary: 'Remove a database host that holds no databases',
    tag: 'databases',
    access: HOSTS,
    responses: { 409: 'The host still holds databases' },
    handler: async (ctx) => {
      ctx.audit.resourceType = 'database_host';
      ctx.audit.resourceId = ctx.params.hostId;
      await op(ctx, (db) => db.deleteHost(ctx.params.hostId!));
      return ctx.c.json({ success: true }, 200);
    },
  }),

  route({
    method: 'POST',
    path: '/api/admin/database-hosts/:hostId/test',
    summary: 'Log in to a database host with its admin credentials and report its version',
    tag: 'databases',
    access: HOSTS,
    audit: false,
    responses: { 503: 'Database host unavailable' },
    handler: async (ctx) => ok(ctx.c, { reachable: true, ...(await op(ctx, (db) => db.testHost(ctx.params.hostId!))) }),
  }),
];
