// Flow-controlled byte streams multiplexed over one message channel (the agent WebSocket): used by
// both ends of file uploads and downloads, so it lives in lib/ (the agent and the controller may both
// import it; it depends on nothing but node:stream).
//
// Data travels in binary frames `[0x01][stream id: u32 BE][payload]`; control in JSON messages
// `{type:'stream', id, op:'credit'|'end'|'abort', bytes?, error?}`. Credit-based flow control: the
// sender may have at most `credit` unacknowledged bytes in flight; the receiver grants more as its
// consumer actually reads (not as frames arrive), so memory on both sides stays bounded by the window
// however fast the producer or slow the consumer. Data beyond the granted credit is a protocol error
// that aborts the stream. A stream ends with `end` (all data sent) or `abort` (either side, with a
// code); losing the connection aborts every stream on it.
//
// Cost per byte: a sender copies its source into frames of up to `chunk` bytes (taking what the
// source already holds, never waiting for more), so a 64 KiB-chunked source (an HTTP body) still
// crosses the socket in 256 KiB frames; frames are reused once the transport has written them, so a
// transfer allocates no memory per frame on the sending side.
import { Readable, type Duplex } from 'node:stream';

export const STREAM_DATA_TAG = 0x01;
export const DEFAULT_STREAM_WINDOW = 4 * 1024 * 1024;
export const DEFAULT_STREAM_CHUNK = 256 * 1024;
const HEADER = 5;

export interface StreamControl {
  type: 'stream';
  id: number;
  op: 'credit' | 'end' | 'abort';
  /** credit: bytes granted on top of earlier grants. */
  bytes?: number;
  /** abort: why. */
  error?: { code: string; message: string };
}

export interface StreamTransport {
  /** Sends a control message; false when the channel is gone. */
  control(msg: StreamControl): boolean;
  /**
   * Sends a binary data frame; false when the channel is gone. `written` (when the transport supports
   * it) is called once the frame's bytes are no longer needed (written to the socket, or failed): the
   * sender then reuses the buffer. A transport that never calls it just costs an allocation per frame.
   */
  data(frame: Buffer, written?: (err?: Error | null) => void): boolean;
}

export class StreamError extends Error {
  override readonly name = 'StreamError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function encodeDataFrame(id: number, chunk: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + chunk.length);
  frame[0] = STREAM_DATA_TAG;
  frame.writeUInt32BE(id, 1);
  frame.set(chunk, HEADER);
  return frame;
}

export function decodeDataFrame(frame: Buffer): { id: number; data: Buffer } | undefined {
  if (frame.length < HEADER || frame[0] !== STREAM_DATA_TAG) return undefined;
  return { id: frame.readUInt32BE(1), data: frame.subarray(HEADER) };
}

const errorOf = (err: unknown): { code: string; message: string } => {
  const code = (err as { code?: unknown })?.code;
  return { code: typeof code === 'string' && /^[a-z_]+$/.test(code) ? code : 'failed', message: (err as Error)?.message ?? String(err) };
};

interface Receiver {
  readable: Readable;
  /** Arrived, not yet handed to the readable (bounded by the credit granted). */
  queue: Buffer[];
  received: number;
  /** Bytes handed to the readable: what the consumer pulled, for credit purposes. */
  handed: number;
  granted: number;
  /** The readable asked for data while the queue was empty. */
  wanting: boolean;
  /** `end` arrived (push(null) once the queue is empty). */
  complete: boolean;
  /** Finished either way: no abort is sent for it any more. */
  ended: boolean;
}

interface Sender {
  credit: number;
  error?: Error;
  /** Wakes a sender waiting for credit (or for an abort). */
  wake?: () => void;
  /** Wakes a sender waiting on its source, when the stream is aborted. */
  stop?: () => void;
}

export interface ByteStreamsOptions {
  /** Receive window in bytes (default 1 MiB). */
  window?: number;
  /** Largest data frame payload (default 256 KiB). */
  chunk?: number;
}

export class ByteStreams {
  readonly window: number;
  readonly chunk: number;
  private readonly receivers = new Map<number, Receiver>();
  private readonly senders = new Map<number, Sender>();
  /** Aborts that arrived before their stream was opened here (the sender failed at once): the
   *  receive() that follows fails at once instead of waiting forever for data. Bounded. */
  private readonly earlyAborts = new Map<number, StreamError>();
  /** Frame buffers the transport has finished with, for the next frames (bounded: a window's worth). */
  private readonly freeFrames: Buffer[] = [];
  /** Counters for tests and benches. */
  readonly counters = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, protocolErrors: 0, framesAllocated: 0 };

  constructor(private readonly transport: StreamTransport, opts: ByteStreamsOptions = {}) {
    this.window = opts.window ?? DEFAULT_STREAM_WINDOW;
    this.chunk = opts.chunk ?? DEFAULT_STREAM_CHUNK;
  }

  get active(): number {
    return this.receivers.size + this.senders.size;
  }

  /**
   * The receiving end of stream `id`. `granted`: credit the sender already starts with (agreed in the
   * request that opened the stream); with 0 the first read grants a window, so nothing is sent before
   * the consumer is ready. Destroying the readable aborts the stream at the sender.
   */
  receive(id: number, opts: { granted?: number } = {}): Readable {
    if (this.receivers.has(id)) throw new StreamError('invalid_params', `stream ${id} is already open`);
    const st: Receiver = { readable: undefined as unknown as Readable, queue: [], received: 0, handed: 0, granted: opts.granted ?? 0, wanting: false, complete: false, ended: false };
    // Pull model: data is handed to the readable only when it asks (_read), and credit follows what
    // was handed over, so the window bounds the queue and the readable's own buffer stays ≤ one chunk
    // over its highWaterMark.
    st.readable = new Readable({
      highWaterMark: this.chunk,
      read: () => this.pump(id, st),
      destroy: (err, cb) => {
        if (this.receivers.get(id) === st) {
          this.receivers.delete(id);
          // A consumer that just stops (break, AbortError) is a cancel, not a failure.
          const cancelled = !err || err.name === 'AbortError';
          if (!st.ended) this.transport.control({ type: 'stream', id, op: 'abort', error: cancelled ? { code: 'cancelled', message: 'the receiver stopped reading' } : errorOf(err) });
        }
        cb(err);
      },
    });
    // A stream failing before anyone reads it (connection lost, refused upload) must not become an
    // uncaught 'error' that takes the process down; readers still see the error.
    st.readable.on('error', () => {});
    const early = this.earlyAborts.get(id);
    if (early) {
      this.earlyAborts.delete(id);
      st.ended = true;
      st.readable.destroy(early);
      return st.readable;
    }
    this.receivers.set(id, st);
    return st.readable;
  }

  private pump(id: number, st: Receiver): void {
    st.wanting = false;
    let more = true;
    while (more && st.queue.length > 0) {
      const c = st.queue.shift()!;
      st.handed += c.length;
      more = st.readable.push(c);
    }
    if (st.queue.length === 0) {
      if (st.complete) {
        st.readable.push(null);
        return;
      }
      if (more) st.wanting = true;
    }
    if (st.ended || this.receivers.get(id) !== st) return;
    const target = st.handed + this.window;
    if (target - st.granted >= this.window / 2) {
      const bytes = target - st.granted;
      st.granted = target;
      this.transport.control({ type: 'stream', id, op: 'credit', bytes });
    }
  }

  /**
   * Sends `source` as stream `id`; resolves with the byte count after `end` went out. `credit`: what
   * the receiver granted up front. Rejects (after telling the receiver) when the source fails, the
   * receiver aborts, maxBytes is exceeded, or the channel goes.
   */
  async send(id: number, source: AsyncIterable<Uint8Array | string> | Readable, opts: { credit?: number; maxBytes?: number } = {}): Promise<number> {
    if (this.senders.has(id)) throw new StreamError('invalid_params', `stream ${id} is already open`);
    const early = this.earlyAborts.get(id);
    if (early) {
      this.earlyAborts.delete(id);
      if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
      throw early;
    }
    const st: Sender = { credit: opts.credit ?? 0 };
    this.senders.set(id, st);
    let sent = 0;
    const it = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
    // What a Readable source already holds (a PassThrough: on its writable side too) can join the
    // frame being filled; a bare iterable's cannot be seen.
    const buffered = source instanceof Readable ? () => source.readableLength > 0 || ((source as Partial<Duplex>).writableLength ?? 0) > 0 : () => false;
    let finished = false;
    // The frame being filled: [tag][id] then `fill` payload bytes, all covered by credit.
    let frame: Buffer | undefined;
    let fill = 0;
    const flush = () => {
      if (!frame || fill === 0) return;
      const f = frame;
      const n = fill;
      frame = undefined;
      fill = 0;
      if (!this.transport.data(f.subarray(0, HEADER + n), (err) => this.reuseFrame(f, err))) throw (st.error = new StreamError('disconnected', 'the connection closed during the transfer'));
      this.counters.framesOut++;
      this.counters.bytesOut += n;
      st.credit -= n;
    };
    try {
      for (;;) {
        // Raced with an abort: a source that stalls (a slow client) must not keep the stream alive.
        const next = await Promise.race([it.next(), new Promise<undefined>((r) => (st.error ? r(undefined) : (st.stop = () => r(undefined))))]);
        st.stop = undefined;
        if (next === undefined) throw st.error;
        if (next.done) {
          finished = true;
          break;
        }
        const piece = next.value;
        let buf = typeof piece === 'string' ? Buffer.from(piece) : Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        sent += buf.length;
        if (opts.maxBytes !== undefined && sent > opts.maxBytes) throw new StreamError('too_large', `more than the ${opts.maxBytes}-byte limit`);
        while (buf.length > 0) {
          if (st.error) throw st.error;
          const room = Math.min(this.chunk, st.credit) - fill;
          if (room <= 0) {
            if (fill > 0) flush();
            else await new Promise<void>((r) => (st.wake = r));
            continue;
          }
          frame ??= this.takeFrame(id);
          const n = Math.min(room, buf.length);
          buf.copy(frame, HEADER + fill, 0, n);
          fill += n;
          buf = buf.subarray(n);
          if (fill === this.chunk) flush();
        }
        // Never hold bytes back waiting for more: a partly filled frame goes unless more is already here.
        if (!buffered()) flush();
      }
      if (st.error) throw st.error;
      flush();
      this.transport.control({ type: 'stream', id, op: 'end' });
      return sent;
    } catch (err) {
      if (!st.error) {
        st.error = err as Error;
        this.transport.control({ type: 'stream', id, op: 'abort', error: errorOf(err) });
      }
      throw err;
    } finally {
      this.senders.delete(id);
      if (!finished) {
        // Not awaited: a generator stuck in an await cannot return until it resumes.
        void Promise.resolve(it.return?.()).catch(() => {});
        if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
      }
    }
  }

  private takeFrame(id: number): Buffer {
    let f = this.freeFrames.pop();
    if (!f) {
      f = Buffer.allocUnsafe(HEADER + this.chunk);
      this.counters.framesAllocated++;
      f[0] = STREAM_DATA_TAG;
    }
    f.writeUInt32BE(id, 1);
    return f;
  }

  /** The transport is done with a frame: keep it for the next one (not after a failed write: the
   *  socket may still hold it). */
  private reuseFrame(f: Buffer, err?: Error | null): void {
    if (!err && this.freeFrames.length < Math.ceil(this.window / this.chunk) + 2) this.freeFrames.push(f);
  }

  /** Aborts stream `id` from this side (either direction), telling the other side. */
  abort(id: number, err: unknown): void {
    const r = this.receivers.get(id);
    if (r) {
      r.readable.destroy(err instanceof Error ? err : new StreamError('cancelled', String(err)));
      return;
    }
    const s = this.senders.get(id);
    if (s && !s.error) {
      s.error = err instanceof Error ? err : new StreamError('cancelled', String(err));
      this.transport.control({ type: 'stream', id, op: 'abort', error: errorOf(err) });
      s.wake?.();
      s.stop?.();
    }
  }

  /** A binary frame from the channel. */
  onData(frame: Buffer): void {
    const d = decodeDataFrame(frame);
    if (!d) {
      this.counters.protocolErrors++;
      return;
    }
    const st = this.receivers.get(d.id);
    if (!st || st.ended) return; // aborted here meanwhile: frames in flight are dropped
    this.counters.framesIn++;
    this.counters.bytesIn += d.data.length;
    st.received += d.data.length;
    if (st.received > st.granted) {
      this.counters.protocolErrors++;
      st.readable.destroy(new StreamError('protocol', `stream ${d.id}: the sender exceeded its credit (${st.received} > ${st.granted} bytes)`));
      return;
    }
    st.queue.push(d.data);
    if (st.wanting) this.pump(d.id, st);
  }

  /** A control message from the channel. */
  onControl(msg: StreamControl): void {
    if (msg.op === 'credit') {
      const s = this.senders.get(msg.id);
      if (!s || !Number.isInteger(msg.bytes) || (msg.bytes ?? 0) <= 0) return;
      s.credit += msg.bytes!;
      const wake = s.wake;
      s.wake = undefined;
      wake?.();
      return;
    }
    const err = new StreamError(msg.error?.code ?? 'cancelled', msg.error?.message ?? 'the other side aborted the transfer');
    if (msg.op === 'end') {
      const r = this.receivers.get(msg.id);
      if (!r) return;
      r.ended = true;
      r.complete = true;
      this.receivers.delete(msg.id);
      if (r.wanting || r.queue.length === 0) this.pump(msg.id, r);
      return;
    }
    // abort: whichever end we hold
    const r = this.receivers.get(msg.id);
    if (r) {
      r.ended = true;
      this.receivers.delete(msg.id);
      r.readable.destroy(err);
    }
    const s = this.senders.get(msg.id);
    if (s && !s.error) {
      s.error = err;
      s.wake?.();
      s.stop?.();
    }
    if (!r && !s) {
      this.earlyAborts.set(msg.id, err);
      if (this.earlyAborts.size > 256) this.earlyAborts.delete(this.earlyAborts.keys().next().value as number);
    }
  }

  /** The channel is gone: every stream fails with `err`. */
  closeAll(reason: string): void {
    const err = new StreamError('disconnected', reason);
    this.earlyAborts.clear(); // ids are per connection: the next one may reuse them
    for (const [id, r] of this.receivers) {
      r.ended = true;
      this.receivers.delete(id);
      r.readable.destroy(err);
    }
    for (const s of this.senders.values()) {
      if (!s.error) s.error = err;
      s.wake?.();
      s.stop?.();
    }
  }
}
