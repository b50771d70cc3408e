// SFTP paths inside the chroot ('/' = the server's data directory) and the mapping of file entries
// and refusals to SFTP's wire vocabulary. Pure functions, no I/O.
import { resolveLinkTarget } from '../../lib/link-target.ts';
import type { FileEntry } from '../../agent/protocol.ts';

/** Raised when a path climbs above '/', which the chroot never allows (refused, audited). */
export class PathEscapeError extends Error {
  override readonly name = 'PathEscapeError';
  readonly code = 'path_escape';
}

/**
 * REALPATH: `..` is resolved lexically and clamped at the root, as inside a chroot (`cd ..` at '/'
 * stays at '/'). Relative paths are relative to '/' (the session's home).
 */
export function realPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/**
 * A path an operation acts on: `..` is resolved lexically, and one that climbs above '/' is refused
 * rather than clamped — a client sending `/../../etc/passwd` is asking for a file outside, and gets
 * told no, not silently given the server's own `/etc/passwd`. The agent then applies the confinement
 * proper (symlinks, races); this only turns `..` into something the agent accepts (it refuses `..`).
 */
export function opPath(p: string): string {
  if (p.includes('\0')) throw new PathEscapeError(`path ${JSON.stringify(p)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new PathEscapeError(`${p}: leaves the server's directory ('/' is its root)`);
      out.pop();
    } else out.push(part);
  }
  return `/${out.join('/')}`;
}

export const parentOf = (p: string): string => {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
};

/** Resolves a symlink's stored target against the link's directory; undefined when absolute or above '/'. */
export function linkTargetPath(linkPath: string, target: string): string | undefined {
  const out = resolveLinkTarget(parentOf(linkPath).split('/').filter(Boolean), target);
  return out && `/${out.join('/')}`;
}

// ---- attributes ----------------------------------------------------------------------------------

const S_IFMT: Record<FileEntry['type'], number> = { file: 0o100000, directory: 0o040000, symlink: 0o120000, other: 0o100000 };

export interface SftpAttrs {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
}

export function attrsOf(e: Pick<FileEntry, 'type' | 'mode' | 'size' | 'modified'>): SftpAttrs {
  const mtime = Math.floor(Date.parse(e.modified) / 1000) || 0;
  return { mode: S_IFMT[e.type] | (e.mode & 0o7777), uid: 0, gid: 0, size: e.size, atime: mtime, mtime };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function modeString(mode: number): string {
  const type = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : '-';
  let s = type;
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    s += (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-');
  }
  return s;
}

/** `ls -l`-style line, what OpenSSH's `ls -l` prints verbatim. */
export function longnameOf(e: FileEntry, now = Date.now()): string {
  const a = attrsOf(e);
  const d = new Date(a.mtime * 1000);
  // Like ls: the year instead of the time for files older than ~6 months (or in the future).
  const recent = Math.abs(now - d.getTime()) < 182 * 86400_000;
  const when = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${recent ? `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}` : ` ${d.getUTCFullYear()}`}`;
  const name = e.type === 'symlink' && e.target !== undefined ? `${e.name} -> ${e.target}` : e.name;
  return `${modeString(a.mode)}    1 gantry   gantry   ${String(a.size).padStart(10, ' ')} ${when} ${name}`;
}

// ---- refusals --------------------------------------------------------------------------------------

export const STATUS = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, OP_UNSUPPORTED: 8 } as const;
export type SftpStatus = (typeof STATUS)[keyof typeof STATUS];

/** Agent file-error codes (agent/files/errors.ts) → SFTP status. Anything else is FAILURE with its message. */
export function statusOfCode(code: string | undefined): SftpStatus {
  switch (code) {
    case 'not_found':
      return STATUS.NO_SUCH_FILE;
    case 'path_escape':
    case 'symlink_escape':
    case 'hardlink':
    case 'permission_denied':
      return STATUS.PERMISSION_DENIED;
    default:
      return STATUS.FAILURE;
  }
}
