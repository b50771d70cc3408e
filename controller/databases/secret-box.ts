// Secrets at rest (database hosts' admin passwords, the per-server database passwords): AES-256-GCM
// with a random 96-bit IV per value and the record's id as additional data, so a ciphertext copied
// onto another row does not decrypt. The key is 32 random bytes in DATA_DIR/database-secrets.key
// (0600), generated on first start; losing it makes the stored passwords unreadable (the databases on
// the hosts are unharmed: rotate the passwords), so it belongs in backups of the data dir.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { loadOrCreateKeyFile } from '../../lib/key-file.ts';

export const SECRETS_KEY_FILE = 'database-secrets.key';
const VERSION = 'v1';

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error(`an AES-256 key has 32 bytes, not ${key.length}`);
  }

  /** Reads DATA_DIR/database-secrets.key, creating it (0600) on first start. */
  static async open(dataDir: string): Promise<SecretBox> {
    return new SecretBox(await loadOrCreateKeyFile(dataDir, SECRETS_KEY_FILE, { bytes: 32, exact: true, damaged: 'restore it from a backup (without it the stored database passwords cannot be read)' }));
  }

  /** `v1.<iv>.<tag>.<ciphertext>` (base64url), bound to `context` (the row it belongs to). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== VERSION || !iv || !tag || ct === undefined) throw new Error('not a sealed secret of this version');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('a stored secret does not decrypt with this data dir\'s key (key file replaced, or the row was tampered with)');
    }
  }
}
