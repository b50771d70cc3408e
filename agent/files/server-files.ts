// The confined file system of one server: every file operation the API, archives and SFTP perform on
// a server's data directory goes through here.
//
// Node has no openat(), so confinement uses /proc/self/fd magic links instead: a directory is walked
// one component at a time, each opened O_DIRECTORY|O_NOFOLLOW relative to the previous one's fd
// (`/proc/self/fd/N/name`), and each fd's real path (readlink of /proc/self/fd/N) is checked to lie
// inside the real root. Every final operation (open, rename, unlink, mkdir, symlink, chmod) then runs
// against `/proc/self/fd/<dir>/<name>`, i.e. against the directory inode that was verified, so a
// directory swapped for a symlink between check and use cannot redirect it. Final components are
// opened O_NOFOLLOW and re-verified after open; metadata changes go through such an fd (fchmod),
// never through a path that could follow a link.
//
// Symlinks: a link whose target resolves inside the root is followed for reads, listings and writes
// (operators keep such links); one pointing outside, or dangling, is refused (symlink_escape) and
// never written through. Deleting a link removes the link. Archive extraction and the `strict` option
// follow no links at all.
//
// Writes go to a temp file in the target directory and are renamed into place after fsync: a reader
// never sees a half-written file, and a failed or too-large upload leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { constants as C, existsSync, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readlink, realpath, rename, rmdir, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { FileError, fromFsError, isFileError } from './errors.ts';
import { MAX_NAME_LENGTH, TEMP_PREFIX, showPath, splitPath, within } from './paths.ts';

export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
export const DEFAULT_MAX_TEXT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LIST_LIMIT = 10_000;
const MAX_SYMLINK_HOPS = 40;
const MAX_DEPTH = 1024;
const STREAM_CHUNK = 256 * 1024;

const O_DIR = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const O_READ = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
const fdPath = (fh: FileHandle): string => `/proc/self/fd/${fh.fd}`;
const at = (dir: FileHandle, name: string): string => `${fdPath(dir)}/${name}`;
const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;
const closeQuietly = (fh: FileHandle | undefined) => fh?.close().catch(() => {});

export interface ServerFilesOptions {
  /** Upload / write limit in bytes (default 100 MiB, like Catalyst). */
  maxUploadBytes?: number;
  /** readText limit (default 10 MiB). */
  maxTextBytes?: number;
  /** Entries returned by one list (default 10 000; `truncated` says when more exist). */
  listLimit?: number;
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  /** Server-relative, with a leading `/`. */
  path: string;
  type: EntryType;
  isDirectory: boolean;
  size: number;
  /** Permission bits, e.g. 0o644 (shown as `modeString` "0644"). */
  mode: number;
  modeString: string;
  modified: string;
  /** For a symlink: its target as stored (not resolved). */
  target?: string;
}

export interface WalkOptions {
  /** Create missing directories (0755) on the way. */
  create?: boolean;
  /** Follow symlinks that resolve inside the root (default true); false refuses every link on the way. */
  follow?: boolean;
}

export interface WriteOptions {
  /** Refuse beyond this many bytes (default: the instance's maxUploadBytes). */
  maxBytes?: number;
  /** Permission bits of the new file (default: the replaced file's, else 0644). */
  mode?: number;
  mtime?: Date;
  /** Fail with `exists` when the name exists (create), instead of replacing it. */
  exclusive?: boolean;
  /** Create missing parent directories (default true). */
  createParents?: boolean;
  /** Follow no symlink at all: a link on the way is refused, a link at the name is replaced (archives). */
  strict?: boolean;
}

export interface WalkEntry {
  parts: string[];
  type: EntryType;
  stats: Stats;
  linkTarget?: string;
  /** For files: opens it (O_NOFOLLOW, verified, the same inode as listed, a single link). */
  open?: () => Promise<FileHandle>;
}

const typeOf = (st: Stats): EntryType => (st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other');

export class ServerFiles {
  readonly maxUploadBytes: number;
  readonly maxTextBytes: number;
  readonly listLimit: number;

  private constructor(
    /** The real path of the server's data directory. */
    readonly root: string,
    opts: ServerFilesOptions,
  ) {
    this.maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    this.maxTextBytes = opts.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
    this.listLimit = opts.listLimit ?? DEFAULT_LIST_LIMIT;
  }

  /** Opens the confined view of `root` (which must exist and be a directory). Linux only (/proc). */
  static async open(root: string, opts: ServerFilesOptions = {}): Promise<ServerFiles> {
    if (!existsSync('/proc/self/fd')) throw new Error('the confined file system needs Linux /proc/self/fd');
    let real: string;
    try {
      real = await realpath(root);
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new FileError('not_found', "the server's data directory does not exist yet on this node");
      throw err;
    }
    const st = await lstat(real);
    if (!st.isDirectory()) throw new FileError('not_a_directory', "the server's data directory is not a directory");
    return new ServerFiles(real, opts);
  }

  // ---- read ------------------------------------------------------------------------------------

  async list(path: string): Promise<{ path: string; entries: FileEntry[]; truncated: boolean }> {
    const parts = splitPath(path);
    const dir = await this.openDir(parts, { follow: true });
    try {
      const names = (await readdir(fdPath(dir))).filter((n) => !n.startsWith(TEMP_PREFIX));
      const truncated = names.length > this.listLimit;
      const entries: FileEntry[] = [];
      for (const name of names.slice(0, this.listLimit)) {
        let st: Stats;
        try {
          st = await lstat(at(dir, name));
        } catch {
          continue; // deleted meanwhile
        }
        entries.push(await this.entry(dir, name, [...parts, name], st));
      }
      entries.sort((a, b) => Number(b.isDirectory) - Number(a.isDirectory) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { path: showPath(parts), entries, truncated };
    } catch (err) {
      throw fromFsError(err, showPath(parts));
    } finally {
      await closeQuietly(dir);
    }
  }

  /** lstat of one path (a symlink is described, not followed). */
  async stat(path: string): Promise<FileEntry> {
    const parts = splitPath(path);
    if (parts.length === 0) {
      const dir = await this.openRoot();
      try {
        return toEntry('', [], await dir.stat());
      } finally {
        await closeQuietly(dir);
      }
    }
    return this.withParent(parts, { follow: true }, async (dir, name) => this.entry(dir, name, parts, await lstat(at(dir, name))));
  }

  /** A regular file for reading: its size and a stream (64 KiB chunks) that closes the file when done. */
  async openRead(path: string): Promise<{ size: number; mode: number; mtime: Date; stream: Readable }> {
    const { fh, st } = await this.openFile(splitPath(path), true);
    // Exactly `size` bytes even if the game server appends meanwhile: callers announce the size first
    // (Content-Length), and a longer body would break the response.
    if (st.size === 0) {
      await closeQuietly(fh);
      return { size: 0, mode: st.mode & 0o7777, mtime: st.mtime, stream: Readable.from([]) };
    }
    return { size: st.size, mode: st.mode & 0o7777, mtime: st.mtime, stream: fh.createReadStream({ highWaterMark: STREAM_CHUNK, autoClose: true, start: 0, end: st.size - 1 }) };
  }

  /** A text file's content (UTF-8), refused when larger than maxBytes (default maxTextBytes). */
  async readText(path: string, opts: { maxBytes?: number } = {}): Promise<{ content: string; size: number }> {
    const parts = splitPath(path);
    const max = opts.maxBytes ?? this.maxTextBytes;
    const { fh, st } = await this.openFile(parts, true);
    try {
      if (st.size > max) throw new FileError('too_large', `${showPath(parts)} is ${st.size} bytes, over the ${max}-byte limit for reading as text; download it instead`);
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(STREAM_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > max) throw new FileError('too_large', `${showPath(parts)} grew past the ${max}-byte limit while being read`);
        chunks.push(buf.subarray(0, bytesRead));
      }
      return { content: Buffer.concat(chunks).toString('utf8'), size: total };
    } finally {
      await closeQuietly(fh);
    }
  }

  // ---- write -----------------------------------------------------------------------------------

  /** Writes (replaces) a file from a byte source, atomically. */
  async writeStream(path: string, source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> | Readable, opts: WriteOptions = {}, hops = 0): Promise<{ size: number }> {
    const parts = splitPath(path);
    const shown = showPath(parts);
    if (parts.length === 0) throw new FileError('is_a_directory', '/ is the server root, not a file');
    const max = opts.maxBytes ?? this.maxUploadBytes;
    const dir = await this.openDir(parts.slice(0, -1), { create: opts.createParents ?? true, follow: !opts.strict });
    const name = parts[parts.length - 1];
    let redirect: string[] | undefined;
    try {
      let st: Stats | undefined;
      try {
        st = await lstat(at(dir, name));
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
      if (st?.isSymbolicLink() && !opts.strict && !opts.exclusive) {
        // Written through only when the target exists inside the root; a dangling link never is.
        redirect = await this.resolveLink(at(dir, name), shown);
      } else {
        if (st && opts.exclusive) throw new FileError('exists', `${shown} already exists`);
        if (st?.isDirectory()) throw new FileError('is_a_directory', `${shown} is a directory`);
        if (st?.isFile() && st.nlink > 1) throw hardlinkError(shown);
        const mode = opts.mode ?? (st?.isFile() ? st.mode & 0o777 : 0o644);
        return await this.writeTemp(dir, name, shown, source, max, mode, opts);
      }
    } catch (err) {
      throw fromFsError(err, shown);
    } finally {
      await closeQuietly(dir);
    }
    if (hops >= MAX_SYMLINK_HOPS) throw new FileError('symlink_escape', `${shown}: too many levels of symlinks`);
    return this.writeStream(showPath(redirect), source, { ...opts, createParents: false }, hops + 1);
  }

  private async writeTemp(dir: FileHandle, name: string, shown: string, source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>, max: number, mode: number, opts: WriteOptions): Promise<{ size: number }> {
    const tmp = `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
    const fh = await open(at(dir, tmp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    let size = 0;
    let placed = false;
    try {
      for await (const piece of source) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        size += chunk.length;
        if (size > max) throw new FileError('too_large', `${shown}: more than the ${max}-byte limit`);
        for (let off = 0; off < chunk.length; ) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      }
      await fh.chmod(mode & 0o777);
      if (opts.mtime) await fh.utimes(opts.mtime, opts.mtime);
      await fh.datasync();
      await fh.close();
      if (opts.exclusive) {
        await link(at(dir, tmp), at(dir, name)); // fails if the name appeared meanwhile: never replaces
        await unlink(at(dir, tmp));
      } else {
        await rename(at(dir, tmp), at(dir, name)); // replaces a link at the name, never follows it
      }
      placed = true;
      return { size };
    } finally {
      if (!placed) {
        await closeQuietly(fh);
        await unlink(at(dir, tmp)).catch(() => {});
      }
    }
  }

  writeText(path: string, content: string, opts: WriteOptions = {}): Promise<{ size: number }> {
    return this.writeStream(path, [Buffer.from(content, 'utf8')], { maxBytes: this.maxTextBytes, ...opts });
  }

  /** Catalyst's create: a new file (with optional content) or directory; `exists` if the name is taken. */
  async create(path: string, opts: { isDirectory?: boolean; content?: string } = {}): Promise<FileEntry> {
    if (opts.isDirectory) await this.mkdir(path);
    else await this.writeText(path, opts.content ?? '', { exclusive: true });
    return this.stat(path);
  }

  /** One directory (`exists` if taken), or with `recursive` every missing one (no error if present). */
  async mkdir(path: string, opts: { recursive?: boolean; strict?: boolean; mode?: number } = {}): Promise<void> {
    const parts = splitPath(path);
    if (parts.length === 0) {
      if (opts.recursive) return;
      throw new FileError('exists', '/ is the server root');
    }
    if (opts.recursive) {
      await closeQuietly(await this.openDir(parts, { create: true, follow: !opts.strict }));
      return;
    }
    await this.withParent(parts, { follow: !opts.strict }, async (dir, name) => {
      await mkdir(at(dir, name), (opts.mode ?? 0o755) & 0o777);
    });
  }

  /** Creates (or with `replace`, atomically replaces a non-directory with) a symlink. The target is stored as given. */
  async symlink(path: string, target: string, opts: { replace?: boolean; strict?: boolean } = {}): Promise<void> {
    const parts = splitPath(path);
    if (parts.length === 0) throw new FileError('invalid_path', '/ is the server root');
    if (target.includes('\0')) throw new FileError('invalid_path', `symlink target of ${showPath(parts)} contains a NUL byte`);
    await this.withParent(parts, { create: true, follow: !opts.strict }, async (dir, name) => {
      if (!opts.replace) return symlink(target, at(dir, name));
      const tmp = `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
      await symlink(target, at(dir, tmp));
      try {
        await rename(at(dir, tmp), at(dir, name));
      } catch (err) {
        await unlink(at(dir, tmp)).catch(() => {});
        throw err;
      }
    });
  }

  // ---- delete, move, copy, chmod -----------------------------------------------------------------

  /** Deletes a file, a symlink (only the link) or a directory (recursively, never following links). */
  async delete(path: string): Promise<void> {
    const parts = splitPath(path);
    if (parts.length === 0) throw new FileError('invalid_path', 'refusing to delete the server root itself');
    await this.withParent(parts, { follow: true }, async (dir, name) => {
      const st = await lstat(at(dir, name));
      if (st.isDirectory()) await this.removeTree(dir, name, 0);
      else await unlink(at(dir, name));
    });
  }

  /** Deletes each path; one failure does not stop the others. */
  async deleteMany(paths: string[]): Promise<{ path: string; ok: boolean; error?: { code: string; message: string } }[]> {
    const out: { path: string; ok: boolean; error?: { code: string; message: string } }[] = [];
    for (const p of paths) {
      try {
        await this.delete(p);
        out.push({ path: p, ok: true });
      } catch (err) {
        if (!isFileError(err)) throw err;
        out.push({ path: p, ok: false, error: { code: err.code, message: err.message } });
      }
    }
    return out;
  }

  private async removeTree(parent: FileHandle, name: string, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new FileError('invalid_path', `directory tree deeper than ${MAX_DEPTH} levels`);
    let fh: FileHandle;
    try {
      fh = await open(at(parent, name), O_DIR);
    } catch (err) {
      // Swapped for a symlink or file since it was listed: remove that name only.
      if (errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR') return unlink(at(parent, name));
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    try {
      await this.verify(fh, name);
      for (const e of await readdir(fdPath(fh), { withFileTypes: true })) {
        if (e.isDirectory()) {
          await this.removeTree(fh, e.name, depth + 1);
          continue;
        }
        try {
          await unlink(at(fh, e.name));
        } catch (err) {
          if (errno(err) === 'EISDIR') await this.removeTree(fh, e.name, depth + 1);
          else if (errno(err) !== 'ENOENT') throw err;
        }
      }
    } finally {
      await closeQuietly(fh);
    }
    await rmdir(at(parent, name));
  }

  /** Renames/moves inside the root; `exists` unless overwrite. A symlink is moved as a link. */
  async rename(from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<void> {
    const a = splitPath(from, 'from');
    const b = splitPath(to, 'to');
    if (a.length === 0 || b.length === 0) throw new FileError('invalid_path', 'the server root cannot be moved or replaced');
    if (b.length >= a.length && a.every((x, i) => b[i] === x)) {
      if (b.length === a.length) return;
      throw new FileError('invalid_path', `cannot move ${showPath(a)} into itself (${showPath(b)})`);
    }
    await this.withParent(a, { follow: true }, async (src, srcName) => {
      await lstat(at(src, srcName));
      await this.withParent(b, { follow: true, create: true }, async (dst, dstName) => {
        if (!opts.overwrite) {
          const exists = await lstat(at(dst, dstName)).then(() => true, (e) => (errno(e) === 'ENOENT' ? false : Promise.reject(e)));
          if (exists) throw new FileError('exists', `${showPath(b)} already exists`);
        }
        await rename(at(src, srcName), at(dst, dstName));
      });
    });
  }

  /** Copies a file, a symlink (as a link) or a directory tree; `exists` unless overwrite (files only). */
  async copy(from: string, to: string, opts: { overwrite?: boolean; strict?: boolean } = {}): Promise<void> {
    const a = splitPath(from, 'from');
    const b = splitPath(to, 'to');
    if (a.length === 0 || b.length === 0) throw new FileError('invalid_path', 'the server root cannot be copied or replaced');
    if (b.length >= a.length && a.every((x, i) => b[i] === x)) throw new FileError('invalid_path', `cannot copy ${showPath(a)} into itself (${showPath(b)})`);
    await this.copyParts(a, b, opts, 0);
  }

  private async copyParts(a: string[], b: string[], opts: { overwrite?: boolean; strict?: boolean }, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) throw new FileError('invalid_path', `directory tree deeper than ${MAX_DEPTH} levels`);
    const follow = !opts.strict;
    const st = await this.withParent(a, { follow }, (dir, name) => lstat(at(dir, name)));
    if (st.isSymbolicLink()) {
      const target = await this.withParent(a, { follow }, (dir, name) => readlink(at(dir, name)));
      return this.symlink(showPath(b), target, { replace: opts.overwrite, strict: opts.strict });
    }
    if (st.isFile()) {
      const { fh, st: fst } = await this.openFile(a, false, opts.strict);
      try {
        await this.writeStream(showPath(b), fh.createReadStream({ highWaterMark: STREAM_CHUNK, autoClose: false }), { maxBytes: Number.MAX_SAFE_INTEGER, mode: fst.mode & 0o777, exclusive: !opts.overwrite, strict: opts.strict });
      } finally {
        await closeQuietly(fh);
      }
      return;
    }
    if (!st.isDirectory()) return; // sockets, FIFOs, devices are not copied
    await this.mkdir(showPath(b), { mode: st.mode & 0o777, strict: opts.strict });
    const dir = await this.openDir(a, { follow });
    let names: string[];
    try {
      names = (await readdir(fdPath(dir))).filter((n) => !n.startsWith(TEMP_PREFIX));
    } finally {
      await closeQuietly(dir);
    }
    for (const n of names) await this.copyParts([...a, n], [...b, n], opts, depth + 1);
  }

  /** Sets permission bits (0–0777: no setuid/setgid/sticky) through an fd opened O_NOFOLLOW; a symlink is refused. */
  async chmod(path: string, mode: number): Promise<void> {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new FileError('invalid_argument', `mode must be 0–0777 (no setuid, setgid or sticky bits), not ${mode}`);
    const parts = splitPath(path);
    if (parts.length === 0) throw new FileError('invalid_path', "refusing to change the server root's mode");
    const shown = showPath(parts);
    await this.withParent(parts, { follow: true }, async (dir, name) => {
      const st = await lstat(at(dir, name));
      if (st.isSymbolicLink()) throw new FileError('invalid_path', `${shown} is a symlink: modes are never changed through links (chmod its target)`);
      const fh = await open(at(dir, name), O_READ);
      try {
        await this.verify(fh, shown);
        const fst = await fh.stat();
        if (fst.ino !== st.ino || fst.dev !== st.dev) throw new FileError('symlink_escape', `${shown} changed while being opened`);
        if (fst.isFile() && fst.nlink > 1) throw hardlinkError(shown);
        await fh.chmod(mode);
      } finally {
        await closeQuietly(fh);
      }
    });
  }

  // ---- handles (SFTP) ----------------------------------------------------------------------------

  /**
   * A confined file handle for offset I/O (SFTP OPEN/READ/WRITE): opened O_NOFOLLOW, verified inside
   * the root, a regular single-link file. A symlink at the name is followed only to an existing file
   * inside the root; O_CREAT never creates through a link. Unlike writeStream, writes land in the file
   * itself (SFTP clients expect that); `truncate` happens only after the checks.
   */
  async openHandle(path: string, o: { write?: boolean; read?: boolean; create?: boolean; exclusive?: boolean; truncate?: boolean; append?: boolean; mode?: number } = {}, hops = 0): Promise<{ handle: FileHandle; stats: Stats }> {
    const parts = splitPath(path);
    const shown = showPath(parts);
    if (parts.length === 0) throw new FileError('is_a_directory', '/ is the server root, a directory');
    const write = !!(o.write || o.append);
    let flags = (write ? (o.read ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY) | C.O_NOFOLLOW | C.O_NONBLOCK;
    if (o.create) flags |= C.O_CREAT;
    if (o.exclusive) flags |= C.O_CREAT | C.O_EXCL;
    if (o.append) flags |= C.O_APPEND;
    let redirect: string[] | undefined;
    const r = await this.withParent(parts, { follow: true }, async (dir, name) => {
      let fh: FileHandle;
      try {
        fh = await open(at(dir, name), flags, (o.mode ?? 0o644) & 0o777);
      } catch (err) {
        if (errno(err) === 'ELOOP' && !o.exclusive) {
          redirect = await this.resolveLink(at(dir, name), shown);
          return undefined;
        }
        throw err;
      }
      const st = await this.verifyRegular(fh, shown); // closes it when refusing
      if (o.truncate && write) await fh.truncate(0);
      return { handle: fh, stats: st };
    });
    if (r) return r;
    if (hops >= MAX_SYMLINK_HOPS) throw new FileError('symlink_escape', `${shown}: too many levels of symlinks`);
    return this.openHandle(showPath(redirect!), { ...o, create: false }, hops + 1);
  }

  /** Sets access and modification times (SFTP SETSTAT) through an O_NOFOLLOW fd; a symlink is refused. */
  async setTimes(path: string, atime: Date, mtime: Date): Promise<void> {
    const parts = splitPath(path);
    const shown = showPath(parts);
    if (parts.length === 0) throw new FileError('invalid_path', "refusing to change the server root's times");
    await this.withParent(parts, { follow: true }, async (dir, name) => {
      const fh = await open(at(dir, name), O_READ);
      try {
        await this.verify(fh, shown);
        await fh.utimes(atime, mtime);
      } finally {
        await closeQuietly(fh);
      }
    });
  }

  /** The canonical form of a client path (`/a/b`), for SFTP REALPATH: lexical, never touching the disk. */
  static normalize(path: string): string {
    return showPath(splitPath(path));
  }

  // ---- walking (archives) ----------------------------------------------------------------------

  /**
   * Every entry under `paths` (a directory before its children, names sorted), never following a
   * symlink (links are yielded as links), skipping temp files. `[]`/`'/'` walks the root's children.
   */
  async *walk(paths: string[]): AsyncGenerator<WalkEntry> {
    for (const p of paths) {
      const parts = splitPath(p);
      if (parts.length === 0) {
        const dir = await this.openRoot();
        try {
          yield* this.walkChildren(dir, [], 0);
        } finally {
          await closeQuietly(dir);
        }
        continue;
      }
      const dir = await this.openDir(parts.slice(0, -1), { follow: true });
      try {
        const name = parts[parts.length - 1];
        let st: Stats;
        try {
          st = await lstat(at(dir, name));
        } catch (err) {
          throw fromFsError(err, showPath(parts));
        }
        yield* this.walkOne(dir, name, parts, st, 0);
      } finally {
        await closeQuietly(dir);
      }
    }
  }

  private async *walkOne(dir: FileHandle, name: string, parts: string[], st: Stats, depth: number): AsyncGenerator<WalkEntry> {
    const type = typeOf(st);
    const shown = showPath(parts);
    if (type === 'symlink') {
      yield { parts, type, stats: st, linkTarget: await readlink(at(dir, name)) };
    } else if (type === 'file') {
      yield {
        parts,
        type,
        stats: st,
        open: async () => {
          const fh = await open(at(dir, name), O_READ).catch((e) => Promise.reject(fromFsError(e, shown)));
          try {
            await this.verify(fh, shown);
            const fst = await fh.stat();
            if (fst.ino !== st.ino || !fst.isFile()) throw new FileError('symlink_escape', `${shown} changed while being archived`);
            if (fst.nlink > 1) throw hardlinkError(shown);
            return fh;
          } catch (err) {
            await closeQuietly(fh);
            throw err;
          }
        },
      };
    } else if (type === 'directory') {
      if (depth > MAX_DEPTH) throw new FileError('invalid_path', `directory tree deeper than ${MAX_DEPTH} levels`);
      let sub: FileHandle;
      try {
        sub = await open(at(dir, name), O_DIR);
      } catch (err) {
        if (errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR' || errno(err) === 'ENOENT') return; // changed since listed
        throw err;
      }
      try {
        await this.verify(sub, shown);
        yield { parts, type, stats: st };
        yield* this.walkChildren(sub, parts, depth + 1);
      } finally {
        await closeQuietly(sub);
      }
    }
  }

  private async *walkChildren(dir: FileHandle, parts: string[], depth: number): AsyncGenerator<WalkEntry> {
    const names = (await readdir(fdPath(dir))).filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
    for (const n of names) {
      let st: Stats;
      try {
        st = await lstat(at(dir, n));
      } catch {
        continue;
      }
      yield* this.walkOne(dir, n, [...parts, n], st, depth);
    }
  }

  // ---- confinement primitives ------------------------------------------------------------------

  private async openRoot(): Promise<FileHandle> {
    const fh = await open(this.root, O_DIR);
    await this.verify(fh, '/');
    return fh;
  }

  /** Closes `fh` and refuses when its real path is not inside the root (a link was swapped in). */
  private async verify(fh: FileHandle, shown: string): Promise<void> {
    let real: string;
    try {
      real = await readlink(fdPath(fh));
    } catch (err) {
      await closeQuietly(fh);
      throw err;
    }
    if (real.endsWith(' (deleted)')) real = real.slice(0, -' (deleted)'.length);
    if (!within(this.root, real)) {
      await closeQuietly(fh);
      throw new FileError('symlink_escape', `${shown} resolves outside the server's directory (a symlink was swapped in)`);
    }
  }

  /** A symlink (as `/proc/self/fd/N/name`) → the root-relative parts of its target; refuses outside or dangling targets. */
  private async resolveLink(p: string, shown: string): Promise<string[]> {
    let real: string;
    try {
      real = await realpath(p);
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR') {
        throw new FileError('symlink_escape', `${shown} is a dangling symlink (or a loop): Gantry never follows or writes through it`);
      }
      throw err;
    }
    if (!within(this.root, real)) throw new FileError('symlink_escape', `${shown} is a symlink pointing outside the server's directory`);
    return real === this.root ? [] : real.slice(this.root.length + 1).split('/');
  }

  /** The directory at `parts`, walked component by component from the root, verified. Caller closes it. */
  async openDir(parts: readonly string[], o: WalkOptions = {}, hops = 0): Promise<FileHandle> {
    let dir = await this.openRoot();
    try {
      for (let i = 0, retries = 0; i < parts.length; i++) {
        const name = parts[i];
        const shown = showPath(parts.slice(0, i + 1));
        if (Buffer.byteLength(name) > MAX_NAME_LENGTH) throw new FileError('invalid_path', `${shown}: name too long`);
        let next: FileHandle;
        try {
          next = await open(at(dir, name), O_DIR);
        } catch (err) {
          const code = errno(err);
          if (code === 'ENOENT' && o.create && retries++ < 8) {
            await mkdir(at(dir, name), 0o755).catch((e) => (errno(e) === 'EEXIST' ? undefined : Promise.reject(e)));
            i--;
            continue;
          }
          if (code === 'ELOOP' || code === 'ENOTDIR') {
            const st = await lstat(at(dir, name));
            if (!st.isSymbolicLink()) throw new FileError('not_a_directory', `${shown} is not a directory`);
            if (o.follow === false) throw new FileError('symlink_escape', `${shown} is a symlink, which is not followed here`);
            if (hops >= MAX_SYMLINK_HOPS) throw new FileError('symlink_escape', `${shown}: too many levels of symlinks`);
            const target = await this.resolveLink(at(dir, name), shown);
            await closeQuietly(dir);
            dir = await this.openDir(target, { follow: true }, hops + 1);
            continue;
          }
          throw fromFsError(err, shown);
        }
        await this.verify(next, shown);
        await closeQuietly(dir);
        dir = next;
        retries = 0;
      }
      return dir;
    } catch (err) {
      await closeQuietly(dir);
      throw fromFsError(err, showPath(parts));
    }
  }

  /** Runs `fn` with the verified parent directory of `parts` and the final name. */
  private async withParent<T>(parts: string[], o: WalkOptions, fn: (dir: FileHandle, name: string) => Promise<T>): Promise<T> {
    if (parts.length === 0) throw new FileError('invalid_path', 'the server root is not allowed here');
    const dir = await this.openDir(parts.slice(0, -1), o);
    try {
      return await fn(dir, parts[parts.length - 1]);
    } catch (err) {
      throw fromFsError(err, showPath(parts));
    } finally {
      await closeQuietly(dir);
    }
  }

  /** verify(), then the fd's stats when it is a regular file with one link; refusing closes the fd. */
  private async verifyRegular(fh: FileHandle, shown: string): Promise<Stats> {
    await this.verify(fh, shown);
    const st = await fh.stat();
    const problem = st.isDirectory()
      ? new FileError('is_a_directory', `${shown} is a directory`)
      : !st.isFile()
        ? new FileError('invalid_path', `${shown} is not a regular file`)
        : st.nlink > 1
          ? hardlinkError(shown)
          : undefined;
    if (problem) {
      await closeQuietly(fh);
      throw problem;
    }
    return st;
  }

  /** A regular file opened for reading: O_NOFOLLOW, verified, single-link. `follow` allows an inside symlink at the name. */
  private async openFile(parts: string[], follow: boolean, strict = false, hops = 0): Promise<{ fh: FileHandle; st: Stats }> {
    const shown = showPath(parts);
    if (parts.length === 0) throw new FileError('is_a_directory', '/ is the server root, a directory');
    let redirect: string[] | undefined;
    const r = await this.withParent(parts, { follow: !strict }, async (dir, name) => {
      let fh: FileHandle;
      try {
        fh = await open(at(dir, name), O_READ);
      } catch (err) {
        if (errno(err) === 'ELOOP' && follow && !strict) {
          redirect = await this.resolveLink(at(dir, name), shown);
          return undefined;
        }
        throw err;
      }
      const st = await this.verifyRegular(fh, shown);
      return { fh, st };
    });
    if (r) return r;
    if (hops >= MAX_SYMLINK_HOPS) throw new FileError('symlink_escape', `${shown}: too many levels of symlinks`);
    return this.openFile(redirect!, follow, strict, hops + 1);
  }

  private async entry(dir: FileHandle, name: string, parts: string[], st: Stats): Promise<FileEntry> {
    const e = toEntry(name, parts, st);
    if (st.isSymbolicLink()) e.target = await readlink(at(dir, name)).catch(() => undefined);
    return e;
  }
}

function toEntry(name: string, parts: string[], st: Stats): FileEntry {
  const type = typeOf(st);
  const mode = st.mode & 0o7777;
  return {
    name,
    path: showPath(parts),
    type,
    isDirectory: type === 'directory',
    size: type === 'file' ? st.size : 0,
    mode,
    modeString: mode.toString(8).padStart(4, '0'),
    modified: st.mtime.toISOString(),
  };
}

const hardlinkError = (shown: string) =>
  new FileError('hardlink', `${shown} has more than one hard link (it may be a second name of a file outside the server's directory); refusing to use it`);
