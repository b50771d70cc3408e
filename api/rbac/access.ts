// Who is calling (Principal) and what they may do, globally and on one server.
//
// A permission is allowed when the caller's key scopes (if they came with an API key) allow it AND one of:
// a role grants it globally; they own the server and it is an owner permission; a subuser grant on the
// server includes it. A server the caller may not even read is answered as not found, so ids of other
// users' servers cannot be probed.
import type { GameServer } from '../../crds/types.ts';
import type { AccountStore } from '../auth/accounts.ts';
import { forbidden } from '../http/errors.ts';
import { authorizeOnServer, refusal } from './authorize.ts';
import { hasPermission, OWNER_PERMISSIONS } from './permissions.ts';

export interface Principal {
  userId: string;
  username: string;
  email: string;
  /** How they authenticated: a login session (access token), an API key, or a purpose token (websocket, SFTP). */
  via: 'session' | 'apikey' | 'token';
  sessionId?: string;
  apiKeyId?: string;
  /** Role grants (wildcards kept), read from the accounts at each request: a revoked role counts at once. */
  grants: string[];
  /** An API key's scopes; undefined when not limited by a key. */
  scopes?: string[];
}

export function can(principal: Principal, permission: string): boolean {
  return hasPermission(principal.grants, permission) && (!principal.scopes || hasPermission(principal.scopes, permission));
}

export function requirePermission(principal: Principal, permission: string): void {
  if (!can(principal, permission)) throw forbidden(`You do not have permission to perform this action (requires ${permission})`, 'missing_permission');
}

const OWNER = new Set(OWNER_PERMISSIONS);

export class ServerAccess {
  constructor(private readonly accounts: AccountStore) {}

  /** Whether the principal holds `permission` on this server (globally, as owner, or as subuser). */
  can(principal: Principal, server: GameServer, permission: string, opts: { ownerAllowed?: boolean } = {}): boolean {
    if (principal.scopes && !hasPermission(principal.scopes, permission)) return false;
    if (hasPermission(principal.grants, permission)) return true;
    if ((opts.ownerAllowed ?? true) && server.spec?.owner === principal.userId && OWNER.has(permission)) return true;
    const grant = this.accounts.serverGrant(principal.userId, server);
    return !!grant && hasPermission(grant, permission);
  }

  visible(principal: Principal, server: GameServer): boolean {
    return this.can(principal, server, 'server.read');
  }

  /** Throws not_found for a server the caller cannot see, forbidden for one they see but may not act on this way. */
  check(principal: Principal, server: GameServer, permission: string, opts: { ownerAllowed?: boolean } = {}): void {
    const v = authorizeOnServer(this, principal, server, permission, opts);
    if (v.outcome !== 'allowed') throw refusal(v);
  }

  /** The permissions the caller holds on a server, expanded (for UIs and `GET /api/servers/:id`). */
  permissionsOn(principal: Principal, server: GameServer, catalogue: readonly string[]): string[] {
    return catalogue.filter((p) => this.can(principal, server, p));
  }
}
