// TOTP two-factor (RFC 6238 via otpauth): 30 s steps, 6 digits, SHA-1 (what authenticator apps use),
// ±1 step of clock drift. Each step is accepted once per user, and each recovery code once.
import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { AccountStore, User } from './accounts.ts';
import { ApiError } from '../http/errors.ts';

export const TOTP_PERIOD = 30;

export function totpFor(user: Pick<User, 'email'>, secretBase32: string): TOTP {
  return new TOTP({ issuer: 'Gantry', label: user.email, algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD, secret: Secret.fromBase32(secretBase32) });
}

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function newRecoveryCodes(n = 10): string[] {
  return Array.from({ length: n }, () => randomBytes(5).toString('hex'));
}

/**
 * Checks a TOTP code against the secret and burns its time step: the same code (or an older one) is
 * refused afterwards, so a code seen over a shoulder cannot be replayed within its 30 s.
 */
export async function checkTotpCode(accounts: AccountStore, user: User, secret: string, code: string, now = Date.now()): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const delta = totpFor(user, secret).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / TOTP_PERIOD) + delta;
  return accounts.useTotpStep(user.id, step);
}

/** The second factor at login, when the user enrolled one: totpCode or recoveryCode in the body. */
export async function verifySecondFactor(accounts: AccountStore, user: User, body: { totpCode?: unknown; recoveryCode?: unknown }, now = Date.now()): Promise<void> {
  const state = accounts.totpState(user.id);
  if (!state.enabled || !state.secret) return;
  if (typeof body.totpCode === 'string' && body.totpCode !== '') {
    if (await checkTotpCode(accounts, user, state.secret, body.totpCode, now)) return;
    throw new ApiError(401, 'Invalid or already used two-factor code', 'totp_invalid');
  }
  if (typeof body.recoveryCode === 'string' && body.recoveryCode !== '') {
    if (await accounts.useRecoveryCode(user.id, body.recoveryCode)) return;
    throw new ApiError(401, 'Invalid or already used recovery code', 'recovery_code_invalid');
  }
  throw new ApiError(401, 'Two-factor code required: send totpCode (or recoveryCode)', 'totp_required');
}
