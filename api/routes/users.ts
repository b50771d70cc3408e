// Users and roles administration, and the permission catalogue.
//
// Nobody hands out more than they hold: a caller may only assign a role (or write a role's permissions)
// whose every grant they hold themselves, and may only change or delete a user whose permissions they
// hold. Otherwise user.update alone would be a path to `*` (give yourself the admin role, or reset an
// administrator's password).
import type { GameServer } from '../../crds/types.ts';
import { ADMIN_ROLE, checkGrants, type AccountStore, type Role, type User } from '../auth/accounts.ts';
import { badRequest, conflict, forbidden } from '../http/errors.ts';
import { ok, route, type RouteSpec } from '../http/route.ts';
import { can, type Principal } from '../rbac/access.ts';
import { credentialProps } from './auth.ts';
import { expandGrants, PERMISSIONS } from '../rbac/permissions.ts';

function holdsAll(principal: Principal, grants: readonly string[]): string[] {
  const missing: string[] = [];
  for (const g of grants) {
    if (g === '*') {
      if (!can(principal, '*')) missing.push('*');
      continue;
    }
    for (const p of expandGrants([g])) if (!can(principal, p)) missing.push(p);
  }
  return [...new Set(missing)];
}

function checkCanAssign(accounts: AccountStore, principal: Principal, roleIds: readonly string[]): void {
  for (const id of roleIds) {
    const role = accounts.getRole(id);
    if (!role) throw badRequest(`unknown role "${id}"`);
    const missing = holdsAll(principal, role.permissions);
    if (missing.length) throw forbidden(`You cannot assign the role "${role.name}": it grants ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}, which you do not hold`, 'privilege_escalation');
  }
}

function checkCanManage(accounts: AccountStore, principal: Principal, target: User, verb: string): void {
  const missing = holdsAll(principal, accounts.grantsOf(target.id));
  if (missing.length) throw forbidden(`You cannot ${verb} ${target.username}: they hold ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}, which you do not`, 'privilege_escalation');
}

/** Role permissions being written: known names first (a typo gets "unknown permission"), then all held by the caller. */
function checkCanGrant(principal: Principal, permissions: readonly string[]): void {
  const missing = holdsAll(principal, checkGrants(permissions));
  if (missing.length) throw forbidden(`You cannot grant ${missing.slice(0, 5).join(', ')}: you do not hold it`, 'privilege_escalation');
}

/** Editing a role you could not assign would let you change what its (more powerful) holders hold. */
function checkCanEditRole(principal: Principal, role: Role, verb: string): void {
  const missing = holdsAll(principal, role.permissions);
  if (missing.length) throw forbidden(`You cannot ${verb} the role "${role.name}": it grants ${missing.slice(0, 5).join(', ')}, which you do not hold`, 'privilege_escalation');
}

/** True when no other enabled user holds the admin role. */
function isLastEnabledAdmin(accounts: AccountStore, userId: string): boolean {
  if (!accounts.rolesOfUser(userId).some((r) => r.id === ADMIN_ROLE)) return false;
  return !accounts.listUsers().some((u) => u.id !== userId && !u.disabled && accounts.rolesOfUser(u.id).some((r) => r.id === ADMIN_ROLE));
}

const roleSummary = (r: Role) => ({ id: r.id, name: r.name, permissions: r.permissions });

function userView(accounts: AccountStore, u: User) {
  return {
    id: u.id,
    email: u.email,
    username: u.username,
    disabled: u.disabled,
    totpEnabled: u.totpEnabled,
    roles: accounts.rolesOfUser(u.id).map(roleSummary),
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

function roleView(accounts: AccountStore, r: Role) {
  return { ...r, userCount: accounts.listUsers().filter((u) => accounts.rolesOfUser(u.id).some((x) => x.id === r.id)).length };
}

const roleIdsSchema = { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 100 } as const;
const grantsSchema = { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 500 } as const;
const roleProps = { name: { type: 'string', maxLength: 64 }, description: { type: 'string', maxLength: 500 }, permissions: grantsSchema } as const;

export const userRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/admin/users',
    summary: 'List users with their roles (paged)',
    tag: 'users',
    access: { permission: 'user.read' },
    query: {
      page: { type: 'integer', minimum: 1, description: 'page number (default 1)' },
      limit: { type: 'integer', minimum: 1, maximum: 100, description: 'items per page (default 20)' },
    },
    handler: ({ c, svc, query }) => {
      const page = (query.page as number | undefined) ?? 1;
      const limit = (query.limit as number | undefined) ?? 20;
      const all = svc.accounts.listUsers();
      const items = all.slice((page - 1) * limit, page * limit).map((u) => userView(svc.accounts, u));
      return ok(c, items, 200, { pagination: { page, limit, total: all.length, pages: Math.ceil(all.length / limit) } });
    },
  }),
  route({
    method: 'GET',
    path: '/api/admin/users/:userId',
    summary: 'One user with roles and effective permissions',
    tag: 'users',
    access: { permission: 'user.read' },
    handler: ({ c, svc, params }) => {
      const u = svc.accounts.requireUser(params.userId!);
      return ok(c, { ...userView(svc.accounts, u), permissions: expandGrants(svc.accounts.grantsOf(u.id)) });
    },
  }),
  route({
    method: 'POST',
    path: '/api/admin/users',
    summary: 'Create a user (roleIds default to ["user"])',
    tag: 'users',
    access: { permission: 'user.create' },
    body: {
      type: 'object',
      properties: { ...credentialProps, roleIds: roleIdsSchema },
      required: ['email', 'username', 'password'],
      additionalProperties: false,
    },
    responses: { 201: 'created', 400: 'invalid or taken email/username, weak password, unknown role', 403: 'a role grants more than you hold' },
    handler: async ({ c, svc, principal, body, audit }) => {
      if (body.roleIds) checkCanAssign(svc.accounts, principal!, body.roleIds);
      const u = await svc.accounts.createUser(body);
      audit.resourceType = 'user';
      audit.resourceId = u.id;
      audit.metadata.roleIds = body.roleIds;
      return ok(c, userView(svc.accounts, u), 201);
    },
  }),
  route({
    method: 'PUT',
    path: '/api/admin/users/:userId',
    summary: 'Change a user: email, username, password (ends their sessions), disabled, roleIds',
    tag: 'users',
    access: { permission: 'user.update' },
    body: {
      type: 'object',
      properties: { ...credentialProps, disabled: { type: 'boolean' }, roleIds: roleIdsSchema },
      additionalProperties: false,
    },
    responses: { 200: 'the user', 403: 'the user or a role holds more than you', 409: 'would leave no enabled administrator' },
    handler: async ({ c, svc, principal, params, body, audit }) => {
      const target = svc.accounts.requireUser(params.userId!);
      audit.resourceType = 'user';
      audit.resourceId = target.id;
      audit.metadata.fields = Object.keys(body);
      checkCanManage(svc.accounts, principal!, target, 'change');
      // Everything is checked before anything is written, so a refused role change leaves the rest unchanged.
      if (body.roleIds) {
        checkCanAssign(svc.accounts, principal!, body.roleIds);
        if (!body.roleIds.includes(ADMIN_ROLE) && isLastEnabledAdmin(svc.accounts, target.id)) throw conflict('cannot remove the admin role from the last administrator', 'last_admin');
      }
      if (body.disabled === true && !target.disabled) {
        if (target.id === principal!.userId) throw badRequest('you cannot disable your own account', 'self');
        if (isLastEnabledAdmin(svc.accounts, target.id)) throw conflict('cannot disable the last administrator', 'last_admin');
      }
      let user = await svc.accounts.updateUser(target.id, { email: body.email, username: body.username, password: body.password, disabled: body.disabled });
      if (body.password !== undefined) {
        // A reset password means the old one may be known to someone else: end every session but the caller's own.
        await svc.accounts.revokeAllSessions(target.id, 'password reset by an administrator', target.id === principal!.userId ? principal!.sessionId : undefined);
      }
      if (body.roleIds) await svc.accounts.setUserRoles(target.id, body.roleIds);
      user = svc.accounts.requireUser(target.id);
      return ok(c, userView(svc.accounts, user));
    },
  }),
  route({
    method: 'DELETE',
    path: '/api/admin/users/:userId',
    summary: 'Delete a user (not yourself, not the last administrator)',
    tag: 'users',
    access: { permission: 'user.delete' },
    responses: { 200: 'deleted', 400: 'yourself', 403: 'the user holds more than you', 409: 'the last administrator, or the user still owns servers' },
    handler: async ({ c, svc, principal, params, audit }) => {
      const target = svc.accounts.requireUser(params.userId!);
      audit.resourceType = 'user';
      audit.resourceId = target.id;
      audit.metadata.username = target.username;
      if (target.id === principal!.userId) throw badRequest('you cannot delete your own account', 'self');
      checkCanManage(svc.accounts, principal!, target, 'delete');
      // A server whose owner vanished would be nobody's: refuse until they are given away or deleted.
      const owned = (await svc.store.list<GameServer>('GameServer')).items.filter((g) => g.spec?.owner === target.id);
      if (owned.length) {
        const names = owned.slice(0, 5).map((g) => g.metadata.name).join(', ');
        throw conflict(`${target.username} owns ${owned.length} server(s) (${names}${owned.length > 5 ? ', …' : ''}): give them to another user (PUT /api/servers/:id {ownerId}) or delete them first`, 'owns_servers');
      }
      await svc.accounts.deleteUser(target.id);
      return ok(c, undefined, 200, { message: 'User deleted' });
    },
  }),

  // ---- roles -------------------------------------------------------------------------------------------
  route({
    method: 'GET',
    path: '/api/admin/roles',
    summary: 'List roles with their permissions and how many users hold each',
    tag: 'users',
    access: { permission: 'role.read' },
    handler: ({ c, svc }) => ok(c, svc.accounts.listRoles().map((r) => roleView(svc.accounts, r))),
  }),
  route({
    method: 'GET',
    path: '/api/admin/roles/:roleId',
    summary: 'One role',
    tag: 'users',
    access: { permission: 'role.read' },
    handler: ({ c, svc, params }) => ok(c, roleView(svc.accounts, svc.accounts.requireRole(params.roleId!))),
  }),
  route({
    method: 'POST',
    path: '/api/admin/roles',
    summary: 'Create a role of dot-notation permissions (wildcards such as server.* allowed)',
    tag: 'users',
    access: { permission: 'role.write' },
    body: {
      type: 'object',
      properties: roleProps,
      required: ['name', 'permissions'],
      additionalProperties: false,
    },
    responses: { 201: 'created', 400: 'unknown permission', 403: 'grants more than you hold', 409: 'name taken' },
    handler: async ({ c, svc, principal, body, audit }) => {
      checkCanGrant(principal!, body.permissions);
      const role = await svc.accounts.createRole(body);
      audit.resourceType = 'role';
      audit.resourceId = role.id;
      audit.metadata.permissions = role.permissions;
      return ok(c, roleView(svc.accounts, role), 201);
    },
  }),
  route({
    method: 'PUT',
    path: '/api/admin/roles/:roleId',
    summary: 'Change a role\'s name, description or permissions (holders are affected at once)',
    tag: 'users',
    access: { permission: 'role.write' },
    body: {
      type: 'object',
      properties: roleProps,
      additionalProperties: false,
    },
    responses: { 200: 'the role', 400: 'unknown permission, or the admin role\'s permissions', 403: 'grants more than you hold', 409: 'name taken' },
    handler: async ({ c, svc, principal, params, body, audit }) => {
      const role = svc.accounts.requireRole(params.roleId!);
      audit.resourceType = 'role';
      audit.resourceId = role.id;
      checkCanEditRole(principal!, role, 'change');
      if (body.permissions) checkCanGrant(principal!, body.permissions);
      const next = await svc.accounts.updateRole(role.id, body);
      audit.metadata.permissions = next.permissions;
      return ok(c, roleView(svc.accounts, next));
    },
  }),
  route({
    method: 'DELETE',
    path: '/api/admin/roles/:roleId',
    summary: 'Delete a role (built-in roles cannot be deleted); its holders lose it',
    tag: 'users',
    access: { permission: 'role.write' },
    responses: { 200: 'deleted', 400: 'built-in role', 403: 'grants more than you hold' },
    handler: async ({ c, svc, principal, params, audit }) => {
      const role = svc.accounts.requireRole(params.roleId!);
      audit.resourceType = 'role';
      audit.resourceId = role.id;
      checkCanEditRole(principal!, role, 'delete');
      await svc.accounts.deleteRole(role.id);
      return ok(c, undefined, 200, { message: 'Role deleted' });
    },
  }),
  route({
    method: 'GET',
    path: '/api/admin/permissions',
    summary: 'The permission catalogue: every name a role may grant (plus * and prefix.* wildcards)',
    tag: 'users',
    access: { permission: 'role.read' },
    handler: ({ c }) => ok(c, PERMISSIONS.map((p) => ({ ...p })), 200, { wildcards: ['*', '<prefix>.*'] }),
  }),
];

