// What the server operations need from identity and RBAC, for every facade: who becomes the owner,
// who may edit locked template variables or raise limits, and which grants a user may hand out on a
// server. The rules themselves are the operations layer's (controller/operations/servers.ts).
import type { GameServer } from '../../crds/types.ts';
import type { CreateServerInput, UpdateServerInput, UpdateServerResult } from '../../controller/operations/servers.ts';
import { OpError } from '../../controller/operations/errors.ts';
import { checkGrants } from '../auth/accounts.ts';
import type { ApiServices } from '../http/services.ts';
import { can, type Principal } from '../rbac/access.ts';
import { SERVER_PERMISSIONS, expandGrants, hasPermission } from '../rbac/permissions.ts';

/** Staff: the global server.update grant (not an owner's or subuser's). */
const isStaff = (p: Principal) => can(p, 'server.update');

/** The owner a request names, checked: only staff may set it, and the user must exist. */
export function chosenOwner(svc: ApiServices, principal: Principal, ownerId: string | undefined): string | undefined {
  if (ownerId === undefined) return undefined;
  if (!isStaff(principal)) throw new OpError('forbidden', 'Choosing a server\'s owner needs the global server.update permission', 'missing_permission');
  if (!svc.accounts.getUser(ownerId)) throw new OpError('invalid', `ownerId: no user "${ownerId}"`);
  return ownerId;
}

/** Creates a server for the caller (or, staff only, for `ownerId`). */
export function createServer(svc: ApiServices, principal: Principal, input: Omit<CreateServerInput, 'owner'> & { ownerId?: string }): Promise<GameServer> {
  const { ownerId, ...rest } = input;
  const owner = chosenOwner(svc, principal, ownerId) ?? principal.userId;
  return svc.ops.servers.create({ ...rest, owner }, { canEditLocked: isStaff(principal) });
}

/** Changes a server's settings; limits and the owner only with the global grant (owners cannot raise their own). */
export function updateServer(svc: ApiServices, principal: Principal, server: GameServer, changes: Omit<UpdateServerInput, 'owner'> & { ownerId?: string }): Promise<UpdateServerResult> {
  const { ownerId, ...rest } = changes;
  const owner = chosenOwner(svc, principal, ownerId);
  if (rest.resources && Object.keys(rest.resources).length && !isStaff(principal)) {
    throw new OpError('forbidden', 'Changing resource limits needs the global server.update permission (owners and subusers cannot change their own limits)', 'missing_permission');
  }
  return svc.ops.servers.update(server, { ...rest, ...(owner !== undefined ? { owner } : {}) }, { canEditLocked: isStaff(principal) });
}

/** The user a subuser request names (by id or email); not the owner. */
export function subuserTarget(svc: ApiServices, server: GameServer, ref: { userId?: string; email?: string }): string {
  if (!ref.userId && !ref.email) throw new OpError('invalid', 'give userId or email');
  const user = ref.userId ? svc.accounts.getUser(ref.userId) : svc.accounts.findUser(ref.email!);
  if (!user) throw new OpError('not_found', `User not found: ${ref.userId ?? ref.email}`, 'not_found');
  if (user.id === server.spec?.owner) throw new OpError('invalid', 'The owner already holds every owner permission on the server', 'owner_not_subuser');
  return user.id;
}

/** Validated grants the caller may give on this server: only permissions they hold there (no escalation). */
export function grantableOn(svc: ApiServices, principal: Principal, server: GameServer, perms: unknown): string[] {
  const grants = checkGrants(perms, SERVER_PERMISSIONS);
  const mine = svc.access.permissionsOn(principal, server, SERVER_PERMISSIONS);
  const beyond = expandGrants(grants).filter((p) => SERVER_PERMISSIONS.includes(p) && !hasPermission(mine, p));
  if (beyond.length) throw new OpError('forbidden', `You cannot grant permissions you do not hold on this server: ${beyond.join(', ')}`, 'grant_escalation');
  return grants;
}
