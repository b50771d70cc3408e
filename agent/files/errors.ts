// Typed refusals of the confined file system. Every refusal names the server-relative path the caller
// gave (never the host path: an API client must not learn the node's layout) and carries a code the
// API maps to a 4xx and audits.
export type FileErrorCode =
  | 'invalid_path' // NUL byte, empty/over-long path, the root where a file is needed, not a regular file
  | 'invalid_argument' // a bad mode, name or option
  | 'path_escape' // `..` or an archive entry that would land outside the server root
  | 'symlink_escape' // a symlink pointing outside (or dangling, or swapped in during the operation)
  | 'hardlink' // a regular file with more than one link (may be an outside file's second name)
  | 'not_found'
  | 'exists'
  | 'not_a_directory'
  | 'is_a_directory'
  | 'not_empty'
  | 'too_large' // upload or text read over its limit
  | 'archive_limit' // decompression over its total size, entry count or time
  | 'invalid_archive'
  | 'no_space'
  | 'permission_denied';

/** HTTP status the API should answer for each code. */
export const FILE_ERROR_STATUS: Record<FileErrorCode, number> = {
  invalid_path: 400,
  invalid_argument: 400,
  path_escape: 403,
  symlink_escape: 403,
  hardlink: 403,
  not_found: 404,
  exists: 409,
  not_a_directory: 409,
  is_a_directory: 409,
  not_empty: 409,
  too_large: 413,
  archive_limit: 413,
  invalid_archive: 422,
  no_space: 507,
  permission_denied: 403,
};

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
