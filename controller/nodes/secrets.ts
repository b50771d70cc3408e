// Secrets of node enrolment: one-time deployment tokens (`gdt_…`) and long-lived node credentials
// (`gnc_…`). Both are 32 random bytes in base64url behind a prefix that says what they are (so a
// leaked one is recognisable in a log or a secret scanner). Only their SHA-256 is ever stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const DEPLOYMENT_TOKEN_PREFIX = 'gdt_';
export const NODE_CREDENTIAL_PREFIX = 'gnc_';
const SECRET_BYTES = 32;
/** Anything longer is not one of ours; refusing it early bounds the hashing work. */
export const MAX_SECRET_LENGTH = 256;

export function newSecret(prefix: string): string {
  return prefix + randomBytes(SECRET_BYTES).toString('base64url');
}

/** Hex SHA-256 of the whole secret, prefix included. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests (the row found by hash lookup against the presented secret's). */
export function sameHash(storedHex: string, presentedHex: string): boolean {
  const a = Buffer.from(storedHex, 'hex');
  const b = Buffer.from(presentedHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
