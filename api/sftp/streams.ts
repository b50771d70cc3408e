// Adapters between SFTP's offset-addressed READ/WRITE packets and the hub's byte streams.
import type { Readable } from 'node:stream';

/**
 * WRITE packets → an upload's byte source. push() resolves once the chunk is taken or buffered below
 * `high` bytes, so acknowledging a WRITE only after push() bounds memory by the client's own window
 * of outstanding requests: a slow node slows the client down instead of filling the controller.
 */
export class ChunkFeed implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly space: (() => void)[] = [];

  constructor(private readonly high = 1024 * 1024) {}

  async push(chunk: Buffer): Promise<void> {
    if (this.error) throw this.error;
    if (this.ended) throw new Error('write after the file was closed');
    this.queue.push(chunk);
    this.bytes += chunk.length;
    this.poke();
    while (this.bytes > this.high && !this.error) await new Promise<void>((r) => this.space.push(r));
    if (this.error) throw this.error;
  }

  end(): void {
    this.ended = true;
    this.poke();
  }

  /** Ends the source with an error: the upload fails and leaves nothing behind. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.poke();
    for (const r of this.space.splice(0)) r();
  }

  get failed(): Error | undefined {
    return this.error;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      const c = this.queue.shift();
      if (c) {
        this.bytes -= c.length;
        if (this.bytes <= this.high) for (const r of this.space.splice(0)) r();
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** Reads exact byte counts from a Readable (fewer only at its end). */
export class StreamReader {
  private readonly it: AsyncIterator<Buffer>;
  private rest: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes handed out or skipped so far = the offset of the next byte. */
  pos = 0;

  constructor(private readonly stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Up to n bytes; an empty buffer at the end of the stream. */
  async take(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (this.rest.length === 0) {
        if (this.done) break;
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          break;
        }
        this.rest = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        continue;
      }
      const piece = this.rest.subarray(0, n - have);
      this.rest = this.rest.subarray(piece.length);
      parts.push(piece);
      have += piece.length;
    }
    this.pos += have;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
  }

  /** Discards up to n bytes (a client that skips ahead). */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const b = await this.take(Math.min(n, 256 * 1024));
      if (b.length === 0) return;
      n -= b.length;
    }
  }

  close(): void {
    this.done = true;
    this.stream.destroy();
  }
}
