// Signed tokens (JWT, HS256, jose). Every token carries `purpose`; verify() takes the purpose it
// accepts, so a websocket, SFTP or download token is never accepted as an access token, or the other
// way round. Refresh tokens and API keys are not JWTs at all (opaque, stored hashed: see accounts.ts).
import { randomBytes } from 'node:crypto';
import { loadOrCreateKeyFile } from '../../lib/key-file.ts';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { ApiError } from '../http/errors.ts';

export type TokenPurpose = 'access' | 'websocket' | 'sftp' | 'download';

export interface TokenClaims extends JWTPayload {
  purpose: TokenPurpose;
  /** Catalyst's payload. */
  userId: string;
  email?: string;
  username?: string;
  permissions?: string[];
  /** The session (refresh-token family) an access token belongs to; revoking the session ends it. */
  sid?: string;
  /** Purpose-specific scope: the server of a websocket/SFTP token, the file of a download token. */
  scope?: Record<string, string>;
}

const ISSUER = 'gantry';
const ALG = 'HS256';
export const SECRET_FILE = 'jwt-secret';

/** The signing secret: generated on first start, kept 0600 in the data dir. */
export function loadOrCreateSecret(dataDir: string): Promise<Uint8Array> {
  return loadOrCreateKeyFile(dataDir, SECRET_FILE, { bytes: 32, damaged: 'delete it to generate a new one (every token is then invalidated)' });
}

export interface TokenServiceOptions {
  secret: Uint8Array;
  /** Access-token lifetime; default 24 h as documented. */
  accessTtlSeconds?: number;
  now?: () => number;
}

const DEFAULT_TTL: Record<TokenPurpose, number> = { access: 24 * 3600, websocket: 60, sftp: 3600, download: 300 };

export class TokenService {
  private readonly key: Uint8Array;
  private readonly now: () => number;
  readonly ttl: Record<TokenPurpose, number>;
  /** Verified tokens until they expire: HS256 verification dominates an authenticated GET otherwise. */
  private readonly verified = new Map<string, TokenClaims>();
  private static readonly CACHE_MAX = 10_000;

  constructor(opts: TokenServiceOptions) {
    this.key = opts.secret;
    this.now = opts.now ?? Date.now;
    this.ttl = { ...DEFAULT_TTL, access: opts.accessTtlSeconds ?? DEFAULT_TTL.access };
  }

  async sign(purpose: TokenPurpose, claims: Omit<TokenClaims, 'purpose' | 'iat' | 'exp' | 'iss'>, ttlSeconds = this.ttl[purpose]): Promise<{ token: string; expiresAt: string }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + ttlSeconds;
    const token = await new SignJWT({ ...claims, purpose })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomBytes(9).toString('base64url'))
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** The claims, or an ApiError 401 that says what is wrong with the token. */
  async verify(token: string, purpose: TokenPurpose): Promise<TokenClaims> {
    const nowSec = Math.floor(this.now() / 1000);
    const cached = this.verified.get(token);
    if (cached) {
      if ((cached.exp ?? 0) > nowSec) return checkPurpose(cached, purpose);
      this.verified.delete(token);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: [ALG], issuer: ISSUER, currentDate: new Date(this.now()), requiredClaims: ['exp', 'iat'] }));
    } catch (err) {
      throw tokenError(err);
    }
    const claims = payload as TokenClaims;
    if (typeof claims.userId !== 'string' || typeof claims.purpose !== 'string') throw new ApiError(401, 'Invalid token: missing userId or purpose', 'token_invalid');
    if (this.verified.size >= TokenService.CACHE_MAX) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, claims);
    return checkPurpose(claims, purpose);
  }
}

function checkPurpose(claims: TokenClaims, purpose: TokenPurpose): TokenClaims {
  if (claims.purpose !== purpose) throw new ApiError(401, `Invalid token: a ${claims.purpose} token cannot be used as a ${purpose} token`, 'token_wrong_purpose');
  return claims;
}

function tokenError(err: unknown): ApiError {
  if (err instanceof joseErrors.JWTExpired) return new ApiError(401, 'Token expired', 'token_expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new ApiError(401, 'Invalid token: bad signature', 'token_invalid');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new ApiError(401, 'Invalid token: algorithm not allowed (HS256 only)', 'token_invalid');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new ApiError(401, `Invalid token: ${err.message}`, 'token_invalid');
  return new ApiError(401, 'Invalid token', 'token_invalid');
}
