// One answer to "is this caller still allowed?", for every transport. HTTP asks once per request, a
// WebSocket on every message and on account events, SFTP on every operation; each maps the answer to
// its own refusal (HTTP 401/404/403/423, close 4401/4403, SFTP PERMISSION_DENIED / NO_SUCH_FILE) and
// its own wording, but none decides differently.
//
// - revalidate(principal): the user still exists and is enabled, the session behind the token is
//   active, the API key behind it is neither revoked nor expired; answers the principal with its
//   grants as they are now.
// - authorizeOnServer(principal, server, permission): allowed, not_found (the caller may not even see
//   the server: its id must not be probeable), forbidden (sees it, lacks the permission), or suspended
//   (allowed, but the server is suspended and the action is one a suspension blocks).
import type { GameServer } from '../../crds/types.ts';
import { OpError } from '../../controller/operations/errors.ts';
import type { AccountStore } from '../auth/accounts.ts';
import type { Principal, ServerAccess } from './access.ts';

export type StillValid = { ok: true; principal: Principal } | { ok: false; code: 'user_gone' | 'user_disabled' | 'session_revoked' | 'key_revoked' };

export function revalidate(accounts: AccountStore, p: Principal, now: number): StillValid {
  const user = accounts.getUser(p.userId);
  if (!user) return { ok: false, code: 'user_gone' };
  if (user.disabled) return { ok: false, code: 'user_disabled' };
  if (p.sessionId !== undefined && !accounts.isSessionActive(p.sessionId)) return { ok: false, code: 'session_revoked' };
  if (p.apiKeyId !== undefined) {
    const at = new Date(now).toISOString();
    if (!accounts.listApiKeys(p.userId).some((k) => k.id === p.apiKeyId && (!k.expiresAt || k.expiresAt > at))) return { ok: false, code: 'key_revoked' };
  }
  return { ok: true, principal: { ...p, username: user.username, email: user.email, grants: accounts.grantsOf(p.userId) } };
}

export type ServerVerdict =
  | { outcome: 'allowed' }
  | { outcome: 'not_found'; message: string }
  | { outcome: 'forbidden'; message: string; permission: string }
  | { outcome: 'suspended'; message: string; reason?: string };

export interface AuthorizeOptions {
  /** Owners hold the permission on their own servers (default true). */
  ownerAllowed?: boolean;
  /** The action is one a suspension blocks (power, console, files, …). */
  refuseSuspended?: boolean;
}

export function authorizeOnServer(access: ServerAccess, p: Principal, server: GameServer, permission: string, opts: AuthorizeOptions = {}): ServerVerdict {
  const name = server.metadata.name;
  if (!access.can(p, server, permission, { ownerAllowed: opts.ownerAllowed })) {
    if (!access.visible(p, server)) return { outcome: 'not_found', message: `server "${name}" not found` };
    return { outcome: 'forbidden', permission, message: `You do not have permission to perform this action (requires ${permission} on server ${name})` };
  }
  if (opts.refuseSuspended && server.spec?.suspended) {
    return { outcome: 'suspended', reason: server.spec.suspendReason, message: `Server is suspended${server.spec.suspendReason ? ` (${server.spec.suspendReason})` : ''}: actions are blocked until it is unsuspended` };
  }
  return { outcome: 'allowed' };
}

/** The refusal as an operation error (HTTP dialects render it: 404, 403, 423 for Catalyst). */
export function refusal(v: Exclude<ServerVerdict, { outcome: 'allowed' }>): OpError {
  if (v.outcome === 'not_found') return new OpError('not_found', v.message, 'not_found');
  if (v.outcome === 'forbidden') return new OpError('forbidden', v.message, 'missing_permission');
  return new OpError('locked', v.message, 'server_suspended');
}
