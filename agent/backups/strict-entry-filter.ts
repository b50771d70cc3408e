// A minimal, strict check of the entries of a backup archive before they are extracted. Kept on its own
// and named for what it is so it can later be folded into the confined file system's safe extract
// (agent/files/); it is deliberately stricter than node-tar's defaults, which strip or skip bad entries
// with a warning: here one bad entry refuses the whole restore, because our own backups never contain
// one, so an archive that does was not made by us or was tampered with.
//
// Refused: absolute paths, any `..` segment, NUL bytes, hard links (their target could be any file),
// devices and FIFOs, and symlinks whose target is absolute or climbs out of the destination.
import path from 'node:path';

export class UnsafeArchiveEntryError extends Error {
  override readonly name = 'UnsafeArchiveEntryError';
}

export interface ArchiveEntryLike {
  path: string;
  type: string;
  linkpath?: string;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink']);

/** The entry's path inside the archive, normalised ('./a/b' → 'a/b', './' → '.'). */
export function normaliseEntryPath(p: string): string {
  const n = path.posix.normalize(p.replace(/\/+$/, '') || '.');
  return n === './' ? '.' : n.replace(/^\.\//, '');
}

const escapes = (normalised: string) => normalised === '..' || normalised.startsWith('../');

/** Why the entry may not be extracted, or undefined when it is safe. */
export function unsafeEntryReason(entry: ArchiveEntryLike): string | undefined {
  const raw = entry.path;
  if (raw.includes('\0')) return `entry ${JSON.stringify(raw)} has a NUL byte in its path`;
  if (path.posix.isAbsolute(raw)) return `entry ${JSON.stringify(raw)} has an absolute path`;
  if (raw.split('/').includes('..')) return `entry ${JSON.stringify(raw)} has a ".." path segment`;
  if (!ALLOWED_TYPES.has(entry.type)) {
    const what = entry.type === 'Link' ? 'a hard link' : `of type ${entry.type}`;
    return `entry ${JSON.stringify(raw)} is ${what}, which backups never contain`;
  }
  if (entry.type === 'SymbolicLink') {
    const target = entry.linkpath ?? '';
    if (target === '' || target.includes('\0')) return `symlink ${JSON.stringify(raw)} has an empty or invalid target`;
    if (path.posix.isAbsolute(target)) return `symlink ${JSON.stringify(raw)} points to the absolute path ${JSON.stringify(target)}`;
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(normaliseEntryPath(raw)), target));
    if (escapes(resolved)) return `symlink ${JSON.stringify(raw)} points outside the data directory (${JSON.stringify(target)})`;
  }
  return undefined;
}

/** True when a symlink found at `relPath` (in the data dir) with `target` stays inside it. */
export function symlinkStaysInside(relPath: string, target: string): boolean {
  return unsafeEntryReason({ path: relPath, type: 'SymbolicLink', linkpath: target }) === undefined;
}
