// Lexical path rules, before any file system access. API paths are relative to the server root; a
// leading `/` means the root (like Catalyst and Pterodactyl). `..` is refused outright rather than
// resolved: a client has no legitimate reason to send it, and resolving it invites off-by-one escapes.
import { FileError } from './errors.ts';

export const MAX_PATH_LENGTH = 4096;
export const MAX_NAME_LENGTH = 255;
/** Temp files of atomic writes; hidden from listings and archives. */
export const TEMP_PREFIX = '.gantry-tmp-';

/** `'/world/./region/'` → `['world', 'region']`; `'/'` and `''` → `[]` (the root). */
export function splitPath(p: unknown, what = 'path'): string[] {
  if (typeof p !== 'string') throw new FileError('invalid_path', `${what} must be a string`);
  if (p.includes('\0')) throw new FileError('invalid_path', `${what} ${JSON.stringify(p)} contains a NUL byte`);
  if (p.length > MAX_PATH_LENGTH) throw new FileError('invalid_path', `${what} is longer than ${MAX_PATH_LENGTH} characters`);
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new FileError('path_escape', `${what} ${JSON.stringify(p)} contains "..": paths are relative to the server root and may not leave it`);
    if (Buffer.byteLength(part) > MAX_NAME_LENGTH) throw new FileError('invalid_path', `${what} ${JSON.stringify(p)}: the name "${part.slice(0, 40)}…" is longer than ${MAX_NAME_LENGTH} bytes`);
    parts.push(part);
  }
  return parts;
}

/** The canonical display form: `/a/b`, or `/` for the root. */
export const showPath = (parts: readonly string[]): string => `/${parts.join('/')}`;

/** Whether `p` (absolute, normalised) is `root` or inside it. */
export function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/**
 * An archive entry's path → parts, refusing what would escape: absolute paths, drive letters,
 * `..` anywhere. Leading `./` is dropped. Unlike splitPath, an archive is hostile input from a file,
 * so every escape attempt is an error that stops the extraction.
 */
export function splitEntryPath(p: string): string[] {
  if (p.includes('\0')) throw new FileError('invalid_path', `archive entry ${JSON.stringify(p)} contains a NUL byte`);
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.startsWith('\\')) {
    throw new FileError('path_escape', `archive entry ${JSON.stringify(p)} has an absolute path`);
  }
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new FileError('path_escape', `archive entry ${JSON.stringify(p)} contains "..": it would be written outside the target`);
    parts.push(part);
  }
  return parts;
}

export { resolveLinkTarget } from '../../lib/link-target.ts';
