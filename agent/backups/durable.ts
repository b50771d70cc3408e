// Small durable-file helpers shared by the agent's backups, restores and transfers: records written
// whole or not at all, directory renames made durable, and the uid check for names that become paths.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';

const SAFE_UID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** True when `v` may name a file or directory (no separators, no dots, at most 128 characters). */
export const safeUid = (v: string): boolean => SAFE_UID.test(v) && v.length <= 128;

/** Writes JSON to a temp file beside `file`, fsyncs it, renames it into place (readers see all or nothing). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(JSON.stringify(value));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** fsyncs a directory so the renames inside it survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  } finally {
    await fh.close();
  }
}

/** The parsed JSON of a file, undefined when it is missing or unreadable. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
