// Turns a request's credentials into a Principal: `Authorization: Bearer <access JWT>` or
// `Bearer gak_…` (API key), or a purpose token handed over some other way (the websocket's query
// string, an SFTP password, a download link). Every failure is a 401 that says what was wrong.
import type { AccountStore } from './accounts.ts';
import { API_KEY_PREFIX } from './accounts.ts';
import type { TokenPurpose, TokenService } from './tokens.ts';
import { ApiError } from '../http/errors.ts';
import type { Principal } from '../rbac/access.ts';
import { revalidate } from '../rbac/authorize.ts';

const TOKEN_REFUSED: Record<'user_gone' | 'user_disabled' | 'session_revoked' | 'key_revoked', string> = {
  user_gone: 'Invalid token: the user no longer exists',
  user_disabled: 'Account disabled',
  session_revoked: 'Session ended (logged out, password changed or revoked): log in again',
  key_revoked: 'Invalid API key (unknown, revoked or expired)',
};

export class Authenticator {
  constructor(
    readonly accounts: AccountStore,
    readonly tokens: TokenService,
  ) {}

  async fromAuthorizationHeader(header: string | undefined): Promise<Principal> {
    if (!header) throw new ApiError(401, 'Authentication required: send Authorization: Bearer <token>', 'no_token');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new ApiError(401, 'Invalid Authorization header: expected "Bearer <token>"', 'token_invalid');
    return this.fromBearer(m[1]!);
  }

  /** An access token or an API key. */
  async fromBearer(token: string): Promise<Principal> {
    if (token.startsWith(API_KEY_PREFIX)) return this.fromApiKey(token);
    return this.fromToken(token, 'access');
  }

  fromApiKey(key: string): Principal {
    const apiKey = this.accounts.findApiKey(key);
    if (!apiKey) throw new ApiError(401, 'Invalid API key (unknown, revoked or expired)', 'token_invalid');
    const user = this.accounts.getUser(apiKey.userId)!;
    return { userId: user.id, username: user.username, email: user.email, via: 'apikey', apiKeyId: apiKey.id, grants: this.accounts.grantsOf(user.id), scopes: apiKey.permissions };
  }

  /** A signed token of the given purpose; access tokens must also belong to a live session. */
  async fromToken(token: string, purpose: TokenPurpose): Promise<Principal> {
    const claims = await this.tokens.verify(token, purpose);
    if (purpose === 'access' && claims.sid === undefined) throw new ApiError(401, 'Invalid token: no session', 'token_invalid');
    const claimed: Principal = { userId: claims.userId, username: '', email: '', via: purpose === 'access' ? 'session' : 'token', sessionId: claims.sid, grants: [] };
    // The same answer every long-lived transport asks for again later (api/rbac/authorize.ts).
    const r = revalidate(this.accounts, claimed, Date.now());
    if (!r.ok) throw new ApiError(401, TOKEN_REFUSED[r.code], r.code);
    return r.principal;
  }

  /** Catalyst's token payload. */
  async issueAccessToken(userId: string, sessionId: string): Promise<{ token: string; expiresAt: string }> {
    const user = this.accounts.requireUser(userId);
    // The grants as held (`*`, `server.*`), not expanded: an administrator's token stays short enough
    // to be an SFTP password (OpenSSH cuts passwords at 1023 bytes). Informational only: every request
    // reads the current grants.
    return this.tokens.sign('access', { userId, email: user.email, username: user.username, permissions: this.accounts.grantsOf(userId), sid: sessionId });
  }
}
