// Gzip on every core, pigz-style: the stream is cut into blocks that are compressed concurrently
// (node:zlib on the libuv thread pool), each a complete gzip member, written in order. Concatenated
// members are one valid gzip file (RFC 1952 §2.2): gunzip, `tar xzf` and zlib.createGunzip read them.
//
// Each member records its own compressed length in a header extra field (subfield "GZ", 4 bytes, little
// endian), as bgzip's BGZF does with "BC": a reader finds the members without inflating them, so
// inflating can run on every core too (ParallelGunzip). Input without that field (an archive written
// before, or by another tool) is inflated as one stream, as before.
import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;
const gunzip = promisify(zlib.gunzip) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

/** Uncompressed bytes per member. Smaller blocks lose more ratio (each starts without history). */
export const GZIP_BLOCK_BYTES = 1024 * 1024;
/** The largest member a reader accepts (ours are ~1 MiB; random data grows it by a few bytes). */
const MAX_MEMBER_BYTES = 4 * GZIP_BLOCK_BYTES;
const FEXTRA = 0x04;
/** Header of a member: the 10 fixed bytes, XLEN, and the one subfield "GZ" of 4 bytes. */
const HEADER_BYTES = 10 + 2 + 8;

const defaultConcurrency = (): number => Math.max(1, os.availableParallelism());

/** zlib.gzip's member with the "GZ" size field added: [our header][zlib's member minus its 10-byte header]. */
function withSizeField(member: Buffer): [Buffer, Buffer] {
  const body = member.subarray(10);
  const head = Buffer.alloc(HEADER_BYTES);
  member.copy(head, 0, 0, 10);
  head[3] = FEXTRA; // zlib writes FLG 0: no name, comment or extra of its own
  head.writeUInt16LE(8, 10); // XLEN
  head[12] = 0x47; // 'G'
  head[13] = 0x5a; // 'Z'
  head.writeUInt16LE(4, 14);
  head.writeUInt32LE(HEADER_BYTES + body.length, 16);
  return [head, body];
}

/** Runs up to `concurrency` jobs at once and hands their results over in the order they were started. */
class OrderedJobs<T> {
  private readonly queue: Promise<T>[] = [];
  constructor(private readonly concurrency: number) {}
  /** Starts a job; resolves with the results that are due so the number in flight stays bounded. */
  async add(job: Promise<T>): Promise<T[]> {
    job.catch(() => {}); // awaited in order below; a later job failing first must not be unhandled
    this.queue.push(job);
    const due: T[] = [];
    while (this.queue.length >= this.concurrency) due.push(await this.queue.shift()!);
    return due;
  }
  async drain(): Promise<T[]> {
    const out: T[] = [];
    while (this.queue.length) out.push(await this.queue.shift()!);
    return out;
  }
}

export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private members = 0;
  private readonly jobs: OrderedJobs<[Buffer, Buffer]>;

  constructor(private readonly opts: { level?: number; blockBytes?: number; concurrency?: number } = {}) {
    super();
    this.jobs = new OrderedJobs(opts.concurrency ?? defaultConcurrency());
  }

  private compress(block: Buffer): Promise<[Buffer, Buffer]> {
    this.members++;
    // chunkSize: zlib hands its output to the main thread in pieces of this size (16 KiB by default:
    // dozens of callbacks per block); one piece per block instead.
    return gzip(block, { level: this.opts.level ?? 6, chunkSize: block.length + 1024 }).then(withSizeField);
  }

  private pushMembers(done: [Buffer, Buffer][]): void {
    for (const [head, body] of done) {
      this.push(head);
      this.push(body);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const size = this.opts.blockBytes ?? GZIP_BLOCK_BYTES;
    void (async () => {
      while (this.pendingBytes >= size) {
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
        this.pending = [all.subarray(size)];
        this.pendingBytes -= size;
        this.pushMembers(await this.jobs.add(this.compress(all.subarray(0, size))));
      }
    })().then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    void (async () => {
      // An empty input is still one (empty) member: a gzip file has at least one.
      if (this.pendingBytes > 0 || this.members === 0) this.pushMembers(await this.jobs.add(this.compress(Buffer.concat(this.pending, this.pendingBytes))));
      this.pushMembers(await this.jobs.drain());
    })().then(() => cb(), cb);
  }
}

/** The member size recorded in a header by ParallelGzip, or undefined for a member without it. */
function memberSize(buf: Buffer): number | undefined {
  if (buf.length < HEADER_BYTES || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8 || !(buf[3] & FEXTRA)) return undefined;
  if (buf.readUInt16LE(10) !== 8 || buf[12] !== 0x47 || buf[13] !== 0x5a || buf.readUInt16LE(14) !== 4) return undefined;
  return buf.readUInt32LE(16);
}

export class GzipFormatError extends Error {
  override readonly name = 'GzipFormatError';
}

/**
 * Inflates a gzip stream. Members that carry ParallelGzip's size field are inflated concurrently, each
 * bounded (a member over 4 MiB, or inflating to more than its block, is refused: ours never are); any
 * other input goes through zlib.createGunzip as one stream.
 */
export class ParallelGunzip extends Transform {
  /** Received, not yet cut into members: chunks and their total (joined only when a member is whole). */
  private chunks: Buffer[] = [];
  private have = 0;
  private mode: 'unknown' | 'members' | 'stream' = 'unknown';
  private inner?: zlib.Gunzip;
  private readonly jobs: OrderedJobs<Buffer>;

  constructor(opts: { concurrency?: number } = {}) {
    super();
    this.jobs = new OrderedJobs(opts.concurrency ?? defaultConcurrency());
  }

  /** The first `n` bytes received as one buffer (joining chunks only as far as needed). */
  private head(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks, this.have)];
    return this.chunks[0];
  }

  private takeAll(): Buffer {
    const all = Buffer.concat(this.chunks, this.have);
    this.chunks = [];
    this.have = 0;
    return all;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.mode === 'stream') return void this.toInner(chunk, cb);
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.mode === 'unknown') {
      if (this.have < HEADER_BYTES) return cb();
      if (memberSize(this.head(HEADER_BYTES)) === undefined) {
        this.mode = 'stream';
        return void this.toInner(this.takeAll(), cb);
      }
      this.mode = 'members';
    }
    void this.members(false).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.mode === 'unknown') {
      // Shorter than one of our headers: let zlib judge it (an empty or cut gzip stream fails there).
      this.mode = 'stream';
      return void this.toInner(this.takeAll(), (err) => (err ? cb(err) : this._flush(cb)));
    }
    if (this.mode === 'stream') {
      this.inner!.once('end', () => cb()).once('error', cb);
      this.inner!.end();
      return;
    }
    void this.members(true).then(() => cb(), cb);
  }

  private async members(last: boolean): Promise<void> {
    while (this.have > 0) {
      if (this.have < HEADER_BYTES) {
        if (!last) break;
        throw new GzipFormatError('gzip data ends in the middle of a member header');
      }
      const size = memberSize(this.head(HEADER_BYTES));
      if (size === undefined) throw new GzipFormatError('gzip data is damaged: a member without its size field follows sized members');
      if (size < HEADER_BYTES + 8 || size > MAX_MEMBER_BYTES) throw new GzipFormatError(`gzip member of ${size} bytes is out of bounds (at most ${MAX_MEMBER_BYTES})`);
      if (this.have < size) {
        if (last) throw new GzipFormatError('gzip data ends in the middle of a member');
        break;
      }
      const all = this.takeAll();
      const member = all.subarray(0, size);
      if (all.length > size) {
        this.chunks = [all.subarray(size)];
        this.have = all.length - size;
      }
      // maxOutputLength: a member claiming one size but inflating to gigabytes stops at once.
      // chunkSize: one output piece per block (see ParallelGzip.compress).
      for (const out of await this.jobs.add(gunzip(member, { maxOutputLength: MAX_MEMBER_BYTES, chunkSize: GZIP_BLOCK_BYTES + 1024 }))) this.push(out);
    }
    if (last) for (const out of await this.jobs.drain()) this.push(out);
  }

  private toInner(chunk: Buffer, cb: TransformCallback): void {
    if (!this.inner) {
      this.inner = zlib.createGunzip({ chunkSize: 256 * 1024 });
      this.inner.on('data', (d: Buffer) => this.push(d));
      this.inner.on('error', (err) => this.destroy(err));
    }
    if (this.inner.write(chunk)) cb();
    else this.inner.once('drain', () => cb());
  }
}
