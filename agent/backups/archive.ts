// Writing and reading backup archives (gzip'd tar, node-tar 7), streamed: nothing is held in memory
// beyond the stream buffers, and the archive's sha256 and size are computed on the bytes as they pass.
// The pack of a data dir and the strict extract are shared with transfers between nodes
// (agent/transfers/), which stream the same tar uncompressed.
//
// Writing goes to a `.partial` file the caller renames into place, so a crash never leaves a
// truncated archive under the final name. Reading verifies the sha256 of the compressed bytes while it
// extracts into a directory the caller swaps in only when everything (checksum included) succeeded.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readlinkSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { compileIgnore } from './ignore.ts';
import { ParallelGunzip, ParallelGzip } from './parallel-gzip.ts';
import { UnsafeArchiveEntryError, normaliseEntryPath, symlinkStaysInside, unsafeEntryReason } from './strict-entry-filter.ts';

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  constructor(readonly file: string, readonly expected: string, readonly actual: string) {
    super(`archive ${file} has sha256 ${actual}, expected ${expected}: refusing to restore a changed or damaged archive`);
  }
}

export interface ArchiveStats extends PackStats {
  sizeBytes: number;
  sha256: string;
}

export interface StreamOptions {
  signal?: AbortSignal;
  /**
   * Test-only slow-down: this many ms of delay per chunk of at most `slowChunkBytes` (default 64 KiB)
   * written to (or read from) the archive, so a test can kill the agent in the middle reliably.
   */
  slowMs?: number;
  slowChunkBytes?: number;
}

/** Counts and hashes the bytes passing through. */
export class Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Test-only: splits the stream into small chunks and waits between them. */
class Slow extends Transform {
  constructor(private readonly ms: number, private readonly chunkBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const parts: Buffer[] = [];
    for (let o = 0; o < chunk.length; o += this.chunkBytes) parts.push(chunk.subarray(o, o + this.chunkBytes));
    const next = (): void => {
      const p = parts.shift();
      if (!p) return cb();
      this.push(p);
      setTimeout(next, this.ms);
    };
    next();
  }
}

export const slowStages = (o: StreamOptions) => (o.slowMs && o.slowMs > 0 ? [new Slow(o.slowMs, o.slowChunkBytes ?? 64 * 1024)] : []);

/**
 * node-tar stores a second path to an inode as a hard-link entry. Restores refuse hard links (their
 * target could be anything), so every file is stored in full: a link cache that never remembers.
 */
const NO_HARD_LINKS = { get: () => undefined, set() {} } as unknown as Map<`${number}:${number}`, string>;

/** What a pack of a data dir put in and left out, filled in as the pack runs. */
export interface PackStats {
  /** Entries written (files, directories, symlinks; the data directory itself counts as one). */
  entries: number;
  /** Paths left out on purpose (symlinks pointing outside the data directory, sockets, FIFOs), first 20. */
  skipped: string[];
  skippedCount: number;
  /** Problems node-tar reported and worked around (a file vanished while it was read…), first 20. */
  warnings: string[];
}

/**
 * An uncompressed tar of `dataDir`: its contents as `./…`, the directory itself as `./` (so its mode
 * and owner come back), owners and modes kept, every file in full (no hard-link entries). Symlinks are
 * stored as links; those pointing outside the data directory, sockets, FIFOs and devices are left out
 * (an extract refuses them) and counted in `stats`. Ignore patterns: ignore.ts. Backups gzip this
 * stream; transfers send it as it is.
 */
export function packDataDir(dataDir: string, opts: { ignore?: readonly string[] } = {}): { stream: Readable; stats: PackStats } {
  const ignored = compileIgnore(opts.ignore);
  const stats: PackStats = { entries: 0, skipped: [], skippedCount: 0, warnings: [] };
  const skip = (rel: string) => {
    stats.skippedCount++;
    if (stats.skipped.length < 20) stats.skipped.push(rel);
  };
  const filter = (p: string, st: Stats | tar.ReadEntry): boolean => {
    const stat = st as Stats;
    const rel = normaliseEntryPath(p);
    if (ignored(rel, stat.isDirectory())) return false;
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkSync(`${dataDir}/${rel}`);
      } catch {
        return false; // vanished since it was listed
      }
      if (!symlinkStaysInside(rel, target)) {
        skip(rel);
        return false;
      }
    } else if (!stat.isFile() && !stat.isDirectory()) {
      // Sockets, FIFOs, devices: not data, and an extract refuses them.
      skip(rel);
      return false;
    }
    stats.entries++;
    return true;
  };
  const stream = tar.c(
    {
      cwd: dataDir,
      portable: false, // keep owners: the game gets its files back as they were
      follow: false,
      linkCache: NO_HARD_LINKS,
      // node-tar reads each file into one buffer of up to 16 MiB by default: 1 MiB keeps the garbage
      // (external memory the GC must chase) and the peak RSS small at no cost in read speed.
      maxReadSize: 1024 * 1024,
      filter,
      onwarn: (code: string, message: string) => {
        if (stats.warnings.length < 20) stats.warnings.push(`${code}: ${message}`);
      },
    },
    ['.'],
  ) as unknown as Readable;
  return { stream, stats };
}

/**
 * Archives `dataDir` (packDataDir) into `dest`, gzip'd, which must not exist; it is created 0600 and
 * fsynced before this resolves.
 */
export async function writeBackupArchive(dataDir: string, dest: string, opts: StreamOptions & { ignore?: readonly string[] } = {}): Promise<ArchiveStats> {
  const { stream: pack, stats } = packDataDir(dataDir, { ignore: opts.ignore });
  const meter = new Meter();
  // Compressed in 1 MiB blocks on every core (the libuv thread pool), beside the main thread that
  // reads and packs the files; node-tar's own gzip option compresses synchronously on the main thread.
  await pipeline(pack, new ParallelGzip({ level: 6 }), meter, ...slowStages(opts), createWriteStream(dest, { flags: 'wx', mode: 0o600 }), { signal: opts.signal });
  const fh = await open(dest, 'r+');
  try {
    await fh.sync(); // durable before the caller renames it into place
  } finally {
    await fh.close();
  }
  return { sizeBytes: meter.bytes, sha256: meter.hash.digest('hex'), ...stats };
}

/**
 * Resolves once node-tar's Unpack has settled: no file system operation pending, or the count has not
 * moved for a while (an entry cut short by a broken gzip stream waits for body bytes that never come,
 * so its count never drops). Unpack keeps the count in a private symbol ('pending'); with another
 * node-tar that lacks it, waits a fixed moment instead.
 */
export async function quiesce(unpack: object, stableMs = 150, maxMs = 5000): Promise<void> {
  const sym = Object.getOwnPropertySymbols(unpack).find((s) => s.description === 'pending');
  if (!sym) {
    await new Promise((r) => setTimeout(r, stableMs));
    return;
  }
  const count = () => (unpack as Record<symbol, number>)[sym];
  const end = Date.now() + maxMs;
  let last = count();
  let since = Date.now();
  while (last > 0 && Date.now() < end && Date.now() - since < stableMs) {
    await new Promise((r) => setTimeout(r, 10));
    if (count() !== last) {
      last = count();
      since = Date.now();
    }
  }
}

/** sha256 and size of a file, streamed. */
export async function hashFile(file: string, signal?: AbortSignal): Promise<{ sha256: string; sizeBytes: number }> {
  const meter = new Meter();
  await pipeline(createReadStream(file), meter, async function* (src) {
    for await (const _ of src) {
      // drain
    }
  }, { signal });
  return { sha256: meter.hash.digest('hex'), sizeBytes: meter.bytes };
}

/**
 * A node-tar extract into `destDir` that refuses the whole archive at its first unsafe entry
 * (strict-entry-filter.ts): `unsafe()` then holds the reason and the stream fails. Owners are kept
 * when running as root, modes always (no umask applied), mtimes always; files are replaced, never
 * written through (hard-linked trees stay untouched).
 */
export function strictUnpack(destDir: string): { unpack: tar.Unpack; entries: () => number; unsafe: () => UnsafeArchiveEntryError | undefined } {
  let entries = 0;
  let unsafe: UnsafeArchiveEntryError | undefined;
  const unpack = tar.x({
    cwd: destDir,
    strict: true, // node-tar's "skip with a warning" becomes an error: no silently partial extract
    unlink: true,
    chmod: true,
    processUmask: 0,
    preserveOwner: typeof process.getuid === 'function' && process.getuid() === 0,
    filter: (p: string, entry: tar.ReadEntry | Stats) => {
      const e = entry as tar.ReadEntry;
      const reason = unsafeEntryReason({ path: p, type: e.type, linkpath: e.linkpath });
      if (reason) {
        unsafe ??= new UnsafeArchiveEntryError(`refusing the archive: ${reason}`);
        unpack.abort(unsafe);
        return false;
      }
      entries++;
      return true;
    },
  }) as unknown as tar.Unpack;
  return { unpack, entries: () => entries, unsafe: () => unsafe };
}

/**
 * Extracts `archive` into `destDir` (an existing, normally empty directory the caller owns), refusing
 * unsafe entries (strictUnpack) and checking the archive's sha256 against `expectedSha256`.
 * On any failure the caller must discard `destDir`: it may hold part of the archive.
 */
export async function extractBackupArchive(archive: string, destDir: string, expectedSha256: string, opts: StreamOptions = {}): Promise<{ entries: number }> {
  const { unpack, entries, unsafe } = strictUnpack(destDir);
  const meter = new Meter();
  try {
    // One pass: the sha256 is taken on the compressed bytes as they are read, and the members are
    // inflated on every core (archives of older agents, one gzip stream, inflate as one stream).
    await pipeline(createReadStream(archive, { highWaterMark: 1024 * 1024 }), meter, ...slowStages(opts), new ParallelGunzip(), unpack as unknown as NodeJS.WritableStream, { signal: opts.signal });
  } catch (err) {
    // The pipeline rejects at the first error while node-tar may still have file operations in
    // flight; the caller removes destDir next, which must not race a late mkdir or write.
    await quiesce(unpack);
    if (unsafe()) throw unsafe();
    if (opts.signal?.aborted) throw err;
    // A damaged archive usually breaks gzip or tar before the end: say "checksum" when that is the cause.
    const { sha256 } = await hashFile(archive).catch(() => ({ sha256: '' }));
    if (sha256 && sha256 !== expectedSha256) throw new ChecksumMismatchError(archive, expectedSha256, sha256);
    throw err;
  }
  if (unsafe()) throw unsafe();
  const actual = meter.hash.digest('hex');
  if (actual !== expectedSha256) throw new ChecksumMismatchError(archive, expectedSha256, actual);
  return { entries: entries() };
}
