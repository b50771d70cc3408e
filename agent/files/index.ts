// The confined file system of a server's data directory (agent side): what the file RPCs, archives,
// backups and SFTP use. See server-files.ts for the confinement technique, archive.ts for tar.
export { FileError, FILE_ERROR_STATUS, fromFsError, isFileError, type FileErrorCode } from './errors.ts';
export { splitPath, splitEntryPath, showPath, TEMP_PREFIX } from './paths.ts';
export { ServerFiles, DEFAULT_MAX_UPLOAD_BYTES, type FileEntry, type ServerFilesOptions, type WriteOptions, type WalkEntry } from './server-files.ts';
export { compress, decompress, extractArchive, extractTarGz, packServerFiles, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits, type ExtractResult, type PackResult } from './archive.ts';
export { createFileHandlers, type FileHandlersOptions } from './handlers.ts';
