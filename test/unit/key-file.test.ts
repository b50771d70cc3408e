import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateKeyFile } from '../../lib/key-file.ts';
import { SecretBox } from '../../controller/databases/secret-box.ts';

describe('key files and the secret box', () => {
  const dirs: string[] = [];
  const dir = async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'gantry-key-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('creates a key once (0600), reads the same one back, and racing creators agree', async () => {
    const d = await dir();
    const [a, b] = await Promise.all([loadOrCreateKeyFile(d, 'k', { bytes: 32, damaged: 'x' }), loadOrCreateKeyFile(d, 'k', { bytes: 32, damaged: 'x' })]);
    expect(a.equals(b)).toBe(true);
    expect((await stat(path.join(d, 'k'))).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateKeyFile(d, 'k', { bytes: 32, damaged: 'x' })).equals(a)).toBe(true);
    expect((await readFile(path.join(d, 'k'), 'utf8')).trim()).toBe(a.toString('hex'));
  });

  it('refuses a damaged file with the operator\'s hint, never replaces it', async () => {
    const d = await dir();
    await writeFile(path.join(d, 'k'), 'not hex\n');
    await expect(loadOrCreateKeyFile(d, 'k', { bytes: 32, damaged: 'restore it from a backup' })).rejects.toThrow(/does not hold a hex key of at least 32 bytes; restore it from a backup/);
    await writeFile(path.join(d, 'k'), 'ab'.repeat(40));
    await expect(loadOrCreateKeyFile(d, 'k', { bytes: 32, exact: true, damaged: 'x' })).rejects.toThrow(/of 32 bytes/);
    expect(await readFile(path.join(d, 'k'), 'utf8')).toBe('ab'.repeat(40));
  });

  it('seals with AES-256-GCM bound to the row: another row, another key or a flipped byte does not open', async () => {
    const box = await SecretBox.open(await dir());
    const sealed = box.seal('hunter2', 'db:db_1');
    expect(sealed).not.toContain('hunter2');
    expect(box.seal('hunter2', 'db:db_1')).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed, 'db:db_1')).toBe('hunter2');
    expect(() => box.open(sealed, 'db:db_2')).toThrow(/does not decrypt/);
    expect(() => (new SecretBox(Buffer.alloc(32, 7))).open(sealed, 'db:db_1')).toThrow(/does not decrypt/);
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] ^= 1;
    expect(() => box.open([...parts.slice(0, 3), ct.toString('base64url')].join('.'), 'db:db_1')).toThrow(/does not decrypt/);
  });
});
