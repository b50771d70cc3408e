// Subusers: other users given chosen permissions on one server (not in Catalyst's document; the panel
// needs it for shared servers). Whoever holds server.subusers on the server (owners do) manages them,
// and may hand out only permissions they hold there themselves, so sharing never escalates.
import { route, ok, done, type RouteCtx, type RouteSpec } from '../../http/route.ts';
import { notFound } from '../../http/errors.ts';
import { SERVER_PERMISSIONS, expandGrants } from '../../rbac/permissions.ts';
import { grantableOn, subuserTarget } from '../../ops/servers.ts';

const permissionsSchema = { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 }, description: `Per-server permissions: ${SERVER_PERMISSIONS.join(', ')} (or a wildcard such as file.*)` };

function describe(ctx: RouteCtx, userId: string, permissions: string[]): Record<string, unknown> {
  const u = ctx.svc.accounts.getUser(userId);
  return { userId, username: u?.username ?? null, email: u?.email ?? null, permissions, effectivePermissions: expandGrants(permissions).filter((p) => SERVER_PERMISSIONS.includes(p)) };
}

export const subuserRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/subusers',
    summary: 'List the users given access to the server',
    tag: 'servers',
    access: { permission: 'server.subusers', server: true },
    handler: (ctx) => {
      const s = ctx.server!;
      return ok(ctx.c, ctx.svc.accounts.listServerGrants(s).map((g) => describe(ctx, g.userId, g.permissions)));
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/subusers',
    summary: 'Give a user (by id or email) permissions on the server',
    tag: 'servers',
    access: { permission: 'server.subusers', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      required: ['permissions'],
      additionalProperties: false,
      properties: { userId: { type: 'string', maxLength: 128 }, email: { type: 'string', maxLength: 320 }, permissions: permissionsSchema },
    },
    handler: async (ctx) => {
      const s = ctx.server!;
      const userId = subuserTarget(ctx.svc, s, ctx.body);
      const existed = !!ctx.svc.accounts.serverGrant(userId, s);
      const perms = grantableOn(ctx.svc, ctx.principal!, s, ctx.body.permissions);
      await ctx.svc.accounts.setServerGrant(s, userId, perms);
      ctx.audit.metadata.subuser = userId;
      ctx.audit.metadata.permissions = perms;
      return ok(ctx.c, describe(ctx, userId, perms), existed ? 200 : 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/servers/:serverId/subusers/:userId',
    summary: 'Replace a subuser\'s permissions on the server',
    tag: 'servers',
    access: { permission: 'server.subusers', server: true },
    blockedWhenSuspended: true,
    body: { type: 'object', required: ['permissions'], additionalProperties: false, properties: { permissions: permissionsSchema } },
    handler: async (ctx) => {
      const s = ctx.server!;
      if (!ctx.svc.accounts.serverGrant(ctx.params.userId!, s)) throw notFound(`User ${ctx.params.userId} is not a subuser of this server`);
      const perms = grantableOn(ctx.svc, ctx.principal!, s, ctx.body.permissions);
      await ctx.svc.accounts.setServerGrant(s, ctx.params.userId!, perms);
      ctx.audit.metadata.subuser = ctx.params.userId;
      ctx.audit.metadata.permissions = perms;
      return ok(ctx.c, describe(ctx, ctx.params.userId!, perms));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/servers/:serverId/subusers/:userId',
    summary: 'Take a subuser\'s access to the server away',
    tag: 'servers',
    access: { permission: 'server.subusers', server: true },
    handler: async (ctx) => {
      const s = ctx.server!;
      const removed = await ctx.svc.accounts.removeServerGrant(s, ctx.params.userId!);
      if (!removed) throw notFound(`User ${ctx.params.userId} is not a subuser of this server`);
      ctx.audit.metadata.subuser = ctx.params.userId;
      return done(ctx.c, 'Subuser removed');
    },
  }),
];
