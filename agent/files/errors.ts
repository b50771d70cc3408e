// Typed refusals of the confined file system. Every refusal names the server-relative path the caller
// gave (never the host path: an API client must not learn the node's layout) and carries a code the
// API maps to a 4xx and audits.
import type { FileErrorCode } from '../protocol.ts';

export { FILE_ERROR_STATUS, type FileErrorCode } from '../protocol.ts';

export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(readonly code: FileErrorCode, message: string) {
    super(message);
  }
}

export const isFileError = (e: unknown): e is FileError => (e as { name?: unknown })?.name === 'FileError' && typeof (e as { code?: unknown }).code === 'string';

/** An fs error (errno code) about `shown` → a FileError; anything else is returned unchanged. */
export function fromFsError(err: unknown, shown: string): unknown {
  if (isFileError(err)) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new FileError('not_found', `${shown}: no such file or directory`);
    case 'EEXIST':
      return new FileError('exists', `${shown}: already exists`);
    case 'ENOTDIR':
      return new FileError('not_a_directory', `${shown}: a parent is not a directory`);
    case 'EISDIR':
      return new FileError('is_a_directory', `${shown}: is a directory`);
    case 'ENOTEMPTY':
      return new FileError('not_empty', `${shown}: directory not empty`);
    case 'ENAMETOOLONG':
      return new FileError('invalid_path', `${shown}: name too long`);
    case 'ELOOP':
      return new FileError('symlink_escape', `${shown}: is a symlink, which is not followed here`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new FileError('no_space', `${shown}: no space left on the node's disk`);
    case 'EACCES':
    case 'EPERM':
      return new FileError('permission_denied', `${shown}: permission denied on the node`);
    case 'ENXIO':
      return new FileError('invalid_path', `${shown}: not a regular file (a FIFO or socket)`);
    case 'EINVAL':
      return new FileError('invalid_path', `${shown}: invalid operation (e.g. moving a directory into itself)`);
    default:
      return err;
  }
}
