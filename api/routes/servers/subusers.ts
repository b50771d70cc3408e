// Subusers: other users given chosen permissions on one server (not in Catalyst's document; the panel
// needs it for shared servers). Whoever holds server.subusers on the server (owners do) manages them,
// and may hand out only permissions they hold there themselves, so sharing never escalates.
import type { GameServer } from '../../../crds/types.ts';
import { route, ok, done, type RouteCtx, type RouteSpec } from '../../http/route.ts';
import { badRequest, forbidden, notFound } from '../../http/errors.ts';
import { checkGrants } from '../../auth/accounts.ts';
import { SERVER_PERMISSIONS, expandGrants, hasPermission } from '../../rbac/permissions.ts';

const permissionsSchema = { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 }, description: `Per-server permissions: ${SERVER_PERMISSIONS.join(', ')} (or a wildcard such as file.*)` };

function describe(ctx: RouteCtx, userId: string, permissions: string[]): Record<string, unknown> {
  const u = ctx.svc.accounts.getUser(userId);
  return { userId, username: u?.username ?? null, email: u?.email ?? null, permissions, effectivePermissions: expandGrants(permissions).filter((p) => SERVER_PERMISSIONS.includes(p)) };
}

/** Validated grants the caller may give on this server. */
function grantable(ctx: RouteCtx, server: GameServer, perms: unknown): string[] {
  const grants = checkGrants(perms, SERVER_PERMISSIONS);
  const mine = ctx.svc.access.permissionsOn(ctx.principal!, server, SERVER_PERMISSIONS);
  const beyond = expandGrants(grants).filter((p) => SERVER_PERMISSIONS.includes(p) && !hasPermission(mine, p));
  if (beyond.length) throw forbidden(`You cannot grant permissions you do not hold on this server: ${beyond.join(', ')}`, 'grant_escalation');
  return grants;
}

function targetUser(ctx: RouteCtx, server: GameServer, ref: { userId?: string; email?: string }): string {
  const user = ref.userId ? ctx.svc.accounts.getUser(ref.userId) : ref.email ? ctx.svc.accounts.findUser(ref.email) : undefined;
  if (!ref.userId && !ref.email) throw badRequest('give userId or email');
  if (!user) throw notFound(`User not found: ${ref.userId ?? ref.email}`);
  if (user.id === server.spec?.owner) throw badRequest('The owner already holds every owner permission on the server', 'owner_not_subuser');
  return user.id;
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
      const userId = targetUser(ctx, s, ctx.body);
      const existed = !!ctx.svc.accounts.serverGrant(userId, s);
      const perms = grantable(ctx, s, ctx.body.permissions);
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
      const perms = grantable(ctx, s, ctx.body.permissions);
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
