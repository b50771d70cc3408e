// tar / tar.gz archives of a server's files, with node-tar (tar 7) doing all of the tar format.
//
// Creating: node-tar's own fs walker opens files by path, which a symlink swapped in mid-walk could
// redirect outside the root. So the walk is ServerFiles.walk (fd-relative, O_NOFOLLOW, verified) and
// each entry is handed to tar's Pack as a ReadEntry built from a tar Header; the bytes come from the
// verified fd. Symlinks are archived as links (those pointing outside the root are skipped), as are
// hard-linked files (both reported).
//
// Extracting is two passes over the archive with the same checks: the first only validates (paths,
// link targets, limits), so a hostile archive is refused before anything is written; the second
// writes through ServerFiles in strict mode (no link followed on the way, a link at a file's name is
// replaced, never written through). A change of the archive between passes is caught by the same
// checks in the second pass. Limits: total bytes of file entries, entry count, decompressed stream
// size and wall time — a gzip bomb stops at the first that trips. Setuid/setgid/sticky bits, owners
// and device/FIFO entries are dropped.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Header, Pack, Parser, ReadEntry } from 'tar';
import { FileError, isFileError } from './errors.ts';
import { resolveLinkTarget, showPath, splitEntryPath, splitPath } from './paths.ts';
import { ServerFiles, type WalkEntry } from './server-files.ts';

export interface ArchiveLimits {
  /** Sum of the sizes of the file entries. */
  maxBytes: number;
  maxEntries: number;
  /** Both passes together. */
  timeoutMs: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 10 * 1024 ** 3, maxEntries: 200_000, timeoutMs: 15 * 60_000 };

export interface ExtractResult {
  entries: number;
  bytes: number;
  /** Entries not extracted (devices, FIFOs, unknown types), by path. */
  skipped: string[];
}

export interface PackResult {
  entries: number;
  bytes: number;
  /** Files left out (hard links, files that vanished), with why. */
  skipped: { path: string; reason: string }[];
}

const READ_CHUNK = 64 * 1024;

/**
 * A tar (gzip by default) stream of `paths` (server-relative; `/` = everything), entries named
 * relative to the root. `done` settles when every entry is in; abort with `signal`.
 */
export function packServerFiles(files: ServerFiles, paths: string[], opts: { gzip?: boolean; signal?: AbortSignal } = {}): { stream: Pack; done: Promise<PackResult> } {
  const pack = new Pack({ gzip: opts.gzip === false ? undefined : { level: 6 }, portable: true });
  const result: PackResult = { entries: 0, bytes: 0, skipped: [] };
  const done = (async () => {
    try {
      for await (const e of files.walk(paths)) {
        opts.signal?.throwIfAborted();
        await addEntry(pack, e, result, opts.signal);
      }
      pack.end();
      return result;
    } catch (err) {
      pack.emit('error', err as Error);
      throw err;
    }
  })();
  done.catch(() => {});
  return { stream: pack, done };
}

async function addEntry(pack: Pack, e: WalkEntry, result: PackResult, signal?: AbortSignal): Promise<void> {
  const path = e.parts.join('/');
  const mode = e.stats.mode & 0o777;
  const mtime = e.stats.mtime;
  if (e.type === 'directory') {
    pack.add(new ReadEntry(new Header({ path: `${path}/`, type: 'Directory', mode, mtime, size: 0 })).end() as ReadEntry);
    result.entries++;
    return;
  }
  if (e.type === 'symlink') {
    // A link out of the root would make the archive unextractable here (extraction refuses it) and
    // could point a restore elsewhere: left out and reported.
    if (!e.linkTarget || resolveLinkTarget(e.parts.slice(0, -1), e.linkTarget) === undefined) {
      result.skipped.push({ path: showPath(e.parts), reason: `symlink to ${JSON.stringify(e.linkTarget)} points outside the server's directory` });
      return;
    }
    pack.add(new ReadEntry(new Header({ path, type: 'SymbolicLink', linkpath: e.linkTarget, mode, mtime, size: 0 })).end() as ReadEntry);
    result.entries++;
    return;
  }
  if (e.type !== 'file' || !e.open) return;
  let fh;
  try {
    fh = await e.open();
  } catch (err) {
    if (!isFileError(err)) throw err;
    result.skipped.push({ path: showPath(e.parts), reason: err.message });
    return;
  }
  try {
    const st = await fh.stat();
    const size = st.size;
    const entry = new ReadEntry(new Header({ path, type: 'File', mode, mtime: st.mtime, size }));
    pack.add(entry);
    let pos = 0;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    while (pos < size) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_CHUNK, size - pos), pos);
      // A file that shrank while being read is padded with zeros (like GNU tar): the header promised `size`.
      const chunk = bytesRead === 0 ? Buffer.alloc(Math.min(READ_CHUNK, size - pos)) : Buffer.from(buf.subarray(0, bytesRead));
      pos += chunk.length;
      if (!entry.write(chunk)) await drained(entry, signal);
    }
    entry.end();
    result.entries++;
    result.bytes += size;
  } finally {
    await fh.close().catch(() => {});
  }
}

async function drained(entry: ReadEntry, signal?: AbortSignal): Promise<void> {
  await once(entry as unknown as NodeJS.EventEmitter, 'drain', signal ? { signal } : undefined);
}

/** Catalyst's compress: a new `.tar.gz` at `destination` (never overwriting) of `paths`. */
export async function compress(files: ServerFiles, paths: string[], destination: string, opts: { maxBytes?: number } = {}): Promise<PackResult & { archivePath: string; size: number }> {
  if (!Array.isArray(paths) || paths.length === 0) throw new FileError('invalid_argument', 'compress needs at least one path');
  const dest = splitPath(destination, 'destination');
  if (dest.length === 0) throw new FileError('invalid_path', 'destination must name a file');
  const ac = new AbortController();
  const { stream, done } = packServerFiles(files, paths, { signal: ac.signal });
  try {
    const [written, packed] = await Promise.all([
      files.writeStream(showPath(dest), stream, { exclusive: true, maxBytes: opts.maxBytes ?? Number.MAX_SAFE_INTEGER }).catch((err) => {
        ac.abort(err);
        throw err;
      }),
      done,
    ]);
    return { ...packed, archivePath: showPath(dest), size: written.size };
  } catch (err) {
    ac.abort(err);
    throw err;
  }
}

// ---- extraction ----------------------------------------------------------------------------------

type Source = () => Readable | AsyncIterable<Uint8Array> | Promise<Readable | AsyncIterable<Uint8Array>>;

/**
 * Extracts a tar or tar.gz (detected by content) into `target` (server-relative directory) of `files`.
 * `open` is called once per pass and must yield the same bytes each time.
 */
export async function extractArchive(open: Source, files: ServerFiles, target: string, limits: Partial<ArchiveLimits> = {}): Promise<ExtractResult> {
  const lim: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS, ...limits };
  const targetParts = splitPath(target, 'target');
  const deadline = Date.now() + lim.timeoutMs;
  await scan(await open(), files, targetParts, lim, deadline, false);
  return scan(await open(), files, targetParts, lim, deadline, true);
}

/**
 * For callers holding a host path (backups): extracts the archive at `archivePath` into `destDir`
 * (created if missing is the caller's job), confined to `destDir` exactly as decompress is.
 */
export async function extractTarGz(archivePath: string, destDir: string, limits: Partial<ArchiveLimits> = {}): Promise<ExtractResult> {
  const files = await ServerFiles.open(destDir);
  return extractArchive(() => createReadStream(archivePath, { highWaterMark: READ_CHUNK }), files, '/', limits);
}

/** Catalyst's decompress: an archive inside the root into a directory inside the root. */
export function decompress(files: ServerFiles, archivePath: string, target: string, limits: Partial<ArchiveLimits> = {}): Promise<ExtractResult> {
  return extractArchive(async () => (await files.openRead(archivePath)).stream, files, target, limits);
}

async function* decompressed(source: Readable | AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = Buffer.from(first.value);
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value);
    }
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: READ_CHUNK });
    const input = Readable.from(all());
    input.on('error', (e) => gunzip.destroy(e));
    try {
      yield* input.pipe(gunzip) as AsyncIterable<Buffer>;
    } finally {
      input.destroy();
      gunzip.destroy();
    }
  } else {
    yield* all();
  }
}

const limitError = (what: string) => new FileError('archive_limit', `archive refused: ${what}`);

async function scan(source: Readable | AsyncIterable<Uint8Array>, files: ServerFiles, target: string[], lim: ArchiveLimits, deadline: number, apply: boolean): Promise<ExtractResult> {
  const result: ExtractResult = { entries: 0, bytes: 0, skipped: [] };
  const parser = new Parser({ strict: true });
  let failure: unknown;
  let fail!: (e: unknown) => void;
  /** The entry being written: on a failure elsewhere (time limit, bad input) its write must fail too,
   *  or it would wait for data forever with its temp file open. */
  let current: ReadEntry | undefined;
  const failed = new Promise<never>((_, rej) => {
    fail = (e) => {
      failure ??= e;
      current?.destroy(failure as Error);
      rej(failure);
    };
  });
  failed.catch(() => {});
  const links = new Set<string>();
  let chain: Promise<void> = Promise.resolve();
  parser.on('entry', (e: ReadEntry) => {
    e.on('error', () => {}); // surfaces through the writer reading it
    chain = chain.then(async () => {
      if (failure) return void e.resume();
      current = e;
      try {
        await onEntry(e);
      } catch (err) {
        e.resume();
        fail(err);
      } finally {
        current = undefined;
      }
    });
  });
  parser.on('error', (err: Error) => fail(isFileError(err) ? err : new FileError('invalid_archive', `not a valid tar archive: ${err.message}`)));
  const ended = new Promise<void>((resolve) => parser.on('end', () => resolve()));

  const timer = setTimeout(() => fail(limitError(`extraction took longer than ${lim.timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
  const rawLimit = lim.maxBytes + lim.maxEntries * 1536 + 1024 * 1024; // headers and padding on top of the data

  async function onEntry(e: ReadEntry): Promise<void> {
    if (++result.entries > lim.maxEntries) throw limitError(`more than ${lim.maxEntries} entries`);
    if (Date.now() > deadline) throw limitError(`extraction took longer than ${lim.timeoutMs} ms`);
    const parts = splitEntryPath(e.path);
    if (parts.length === 0) return void e.resume(); // the archive's root directory entry
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join('/'))) {
        throw new FileError('symlink_escape', `archive entry ${JSON.stringify(e.path)} would be written through the symlink ${JSON.stringify(parts.slice(0, i).join('/'))} the archive created`);
      }
    }
    const dest = [...target, ...parts];
    const shown = showPath(dest);
    switch (e.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        result.bytes += e.size ?? 0;
        if (result.bytes > lim.maxBytes) throw limitError(`its files total more than ${lim.maxBytes} bytes`);
        links.delete(parts.join('/'));
        if (!apply) return void e.resume();
        await files.writeStream(shown, e as unknown as AsyncIterable<Uint8Array>, { strict: true, maxBytes: e.size ?? 0, mode: (e.mode ?? 0o644) & 0o777, mtime: e.mtime });
        return;
      }
      case 'Directory':
      case 'GNUDumpDir':
        links.delete(parts.join('/'));
        e.resume();
        if (apply) await files.mkdir(shown, { recursive: true, strict: true });
        return;
      case 'SymbolicLink': {
        const linkpath = e.linkpath ?? '';
        if (!linkpath || resolveLinkTarget(dest.slice(0, -1), linkpath) === undefined) {
          throw new FileError('symlink_escape', `archive entry ${JSON.stringify(e.path)} is a symlink to ${JSON.stringify(linkpath)}, outside the server's directory`);
        }
        links.add(parts.join('/'));
        e.resume();
        if (apply) await files.symlink(shown, linkpath, { replace: true, strict: true });
        return;
      }
      case 'Link': {
        // A hard link inside the archive becomes a copy: a second name would make the file unusable
        // (files with several links are refused) and could pair with an outside file.
        const from = [...target, ...splitEntryPath(e.linkpath ?? '')];
        e.resume();
        if (apply) await files.copy(showPath(from), shown, { overwrite: true, strict: true });
        return;
      }
      default:
        result.skipped.push(showPath(parts));
        e.resume();
    }
  }

  let raw = 0;
  const chunks = decompressed(source);
  try {
    for (;;) {
      // Raced with `failed`: a source that stalls must not outlive the time limit.
      const next = await Promise.race([chunks.next(), failed]);
      if (next.done || failure) break;
      const chunk = next.value;
      raw += chunk.length;
      if (raw > rawLimit) throw limitError(`it expands to more than ${rawLimit} bytes`);
      if (Date.now() > deadline) throw limitError(`extraction took longer than ${lim.timeoutMs} ms`);
      if (!parser.write(chunk)) await Promise.race([once(parser as unknown as NodeJS.EventEmitter, 'drain'), failed]);
    }
    if (failure) throw failure;
    parser.end();
    await Promise.race([ended, failed]);
    await Promise.race([chain, failed]);
    if (failure) throw failure;
    return result;
  } catch (err) {
    const z = (err as NodeJS.ErrnoException)?.code;
    fail(typeof z === 'string' && z.startsWith('Z_') ? new FileError('invalid_archive', `not a valid gzip stream: ${(err as Error).message}`) : err);
    throw failure;
  } finally {
    clearTimeout(timer);
    void chunks.return(undefined).catch(() => {});
    if (!(source as Readable).destroyed && typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
  }
}
