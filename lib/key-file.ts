// Secrets kept as hex in a file of the data dir (the JWT signing secret, the key that seals database
// passwords): read when present, else generated once — 0600, fsynced, created with 'wx' so of two
// processes racing the loser reads the winner's.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface KeyFileOptions {
  /** Bytes of a new key; a stored key must have at least this many. */
  bytes: number;
  /** A stored key must have exactly `bytes` (an AES key), not just at least. */
  exact?: boolean;
  /** What to tell an operator whose file is damaged (what breaks, what to do). */
  damaged: string;
}

export async function loadOrCreateKeyFile(dir: string, name: string, opts: KeyFileOptions): Promise<Buffer> {
  const file = path.join(dir, name);
  const hexLength = opts.bytes * 2;
  try {
    const hex = (await readFile(file, 'utf8')).trim();
    const valid = /^[0-9a-f]+$/.test(hex) && hex.length % 2 === 0 && (opts.exact ? hex.length === hexLength : hex.length >= hexLength);
    if (!valid) throw new Error(`${file} does not hold a hex key of ${opts.exact ? '' : 'at least '}${opts.bytes} bytes; ${opts.damaged}`);
    return Buffer.from(hex, 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = randomBytes(opts.bytes);
  try {
    const fh = await open(file, 'wx', 0o600);
    await fh.writeFile(key.toString('hex') + '\n');
    await fh.sync();
    await fh.close();
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateKeyFile(dir, name, opts);
    throw err;
  }
}
