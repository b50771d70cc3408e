// Signing in, for every facade: the rules of a login (password, disabled account, second factor), a
// new session with its access and refresh tokens, rotation and sign-out. Each dialect maps the answer
// to its own body (Catalyst's {userId, token, refreshToken}, another panel's {token, expires_at}) and
// the OpError codes to its own statuses; none writes these rules again.
import type { User } from '../auth/accounts.ts';
import { verifySecondFactor } from '../auth/totp.ts';
import { OpError } from '../../controller/operations/errors.ts';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';

export interface SessionTokens {
  user: User;
  sessionId: string;
  /** The access token (a JWT) and when it expires (ISO). */
  token: string;
  expiresAt: string;
  /** The opaque rotating refresh token (grt_…) and the session's expiry (ISO). */
  refreshToken: string;
  refreshExpiresAt: string;
}

export interface ClientInfo {
  ip?: string;
  userAgent?: string;
}

export interface SignInInput {
  /** An email or a username. */
  login: string;
  password: string;
  totpCode?: string;
  recoveryCode?: string;
}

/** Starts a session for a user already checked (sign-in, registration, first-run setup). */
export async function startSession(svc: ApiServices, user: User, client: ClientInfo): Promise<SessionTokens> {
  const { session, refreshToken } = await svc.accounts.createSession(user.id, client);
  const access = await svc.auth.issueAccessToken(user.id, session.id);
  return { user, sessionId: session.id, token: access.token, expiresAt: access.expiresAt, refreshToken, refreshExpiresAt: session.expiresAt };
}

/**
 * Checks a login and starts a session. Refusals are `unauthorized` with a reason
 * (invalid_credentials, user_disabled, totp_required, totp_invalid, recovery_code_invalid).
 * `onUser` learns who the login named once the password matched (for the audit entry).
 */
export async function signIn(svc: ApiServices, input: SignInInput, client: ClientInfo, onUser?: (user: User) => void): Promise<SessionTokens> {
  if (!input.login) throw new OpError('invalid', 'email (or username) is required', 'invalid_body');
  const user = await svc.accounts.checkPassword(input.login, input.password);
  if (!user) throw new OpError('unauthorized', 'Invalid credentials', 'invalid_credentials');
  if (user.disabled) throw new OpError('unauthorized', 'Account disabled', 'user_disabled');
  onUser?.(user);
  await verifySecondFactor(svc.accounts, user, input, svc.now());
  return startSession(svc, user, client);
}

/** Spends a refresh token for a new pair (reuse of a spent one revokes the session: accounts.ts). */
export async function refreshSession(svc: ApiServices, refreshToken: string): Promise<SessionTokens> {
  const { session, refreshToken: next } = await svc.accounts.rotateRefreshToken(refreshToken);
  const user = svc.accounts.requireUser(session.userId);
  const access = await svc.auth.issueAccessToken(user.id, session.id);
  return { user, sessionId: session.id, token: access.token, expiresAt: access.expiresAt, refreshToken: next, refreshExpiresAt: session.expiresAt };
}

/** Ends the caller's login session: its access and refresh tokens stop working. */
export async function signOut(svc: ApiServices, principal: Principal): Promise<void> {
  if (!principal.sessionId) throw new OpError('invalid', 'this credential is not a login session (API keys are revoked on their own)', 'not_a_session');
  await svc.accounts.revokeSession(principal.sessionId, 'logout');
}
