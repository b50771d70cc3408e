// A server's console: demultiplexed stdout/stderr split into lines tagged by stream, stdin for
// commands, a per-server output throttle (like Wings) and a bounded ring buffer of recent lines.
// The pure parts (LineSplitter, LineThrottle, RingBuffer) are unit-tested with a fake clock.

import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type { Logger } from '../../lib/log.ts';

export type ConsoleStream = 'stdout' | 'stderr' | 'system';

export interface ConsoleLine {
  /** Per-console sequence number, increasing by one per emitted line (dropped lines get none). */
  seq: number;
  /** Epoch milliseconds when the agent received the line. */
  time: number;
  stream: ConsoleStream;
  line: string;
}

export interface ThrottleOptions {
  /** Lines accepted per interval; past it, lines are dropped until the interval ends. */
  maxLines: number;
  intervalMs: number;
}

/** Defaults: 2000 lines per second per server (a modded boot fits; a log flood does not). */
export const DEFAULT_THROTTLE: ThrottleOptions = { maxLines: 2000, intervalMs: 1000 };

export const throttleNotice = (dropped: number): string => `[Gantry] output throttled: ${dropped} lines dropped`;

/**
 * Fixed-window line throttle. `offer(now)` says whether a line passes; when an interval in which
 * lines were dropped is over, exactly one notice is due: `offer` returns it (to emit before the line
 * it accepts) and `flush(now)` returns it when no further line comes (the console calls flush from a
 * timer at `windowEnd()`).
 */
export class LineThrottle {
  private windowStart = -Infinity;
  private count = 0;
  private dropped = 0;

  constructor(private opts: ThrottleOptions) {
    if (!(opts.maxLines > 0) || !(opts.intervalMs > 0)) throw new Error('throttle: maxLines and intervalMs must be > 0');
  }

  get options(): ThrottleOptions {
    return { ...this.opts };
  }

  /** Lines dropped in the current window so far. */
  get pendingDropped(): number {
    return this.dropped;
  }

  windowEnd(): number {
    return this.windowStart + this.opts.intervalMs;
  }

  offer(now: number): { accept: boolean; notice?: string } {
    let notice: string | undefined;
    if (now >= this.windowStart + this.opts.intervalMs || now < this.windowStart) {
      notice = this.roll(now);
    }
    if (this.count < this.opts.maxLines) {
      this.count++;
      return notice === undefined ? { accept: true } : { accept: true, notice };
    }
    this.dropped++;
    return notice === undefined ? { accept: false } : { accept: false, notice };
  }

  /** The notice for a finished window with drops (and starts a fresh window), or undefined. `force`: even mid-window. */
  flush(now: number, force = false): string | undefined {
    if (this.dropped > 0 && (force || now >= this.windowStart + this.opts.intervalMs)) return this.roll(now);
    return undefined;
  }

  private roll(now: number): string | undefined {
    const notice = this.dropped > 0 ? throttleNotice(this.dropped) : undefined;
    this.windowStart = now;
    this.count = 0;
    this.dropped = 0;
    return notice;
  }
}

/** Bounded FIFO of the most recent items. */
export class RingBuffer<T> {
  private items: (T | undefined)[];
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('ring buffer capacity must be > 0');
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    const idx = (this.start + this.size) % this.capacity;
    this.items[idx] = item;
    if (this.size < this.capacity) this.size++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest first; the last `n` items when n is given. */
  toArray(n = this.size): T[] {
    const count = Math.max(0, Math.min(n, this.size));
    const out: T[] = [];
    for (let i = this.size - count; i < this.size; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.start = 0;
    this.size = 0;
  }
}

/**
 * Splits a byte stream into lines: UTF-8 decoded across chunk boundaries, `\n` or `\r\n` ends a line,
 * a line longer than maxLineBytes is cut into pieces (a process printing without newlines cannot grow
 * memory without bound). `end()` returns the unterminated rest.
 */
export class LineSplitter {
  private decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly maxLineLength = 16_384) {}

  push(chunk: Buffer | string): string[] {
    this.partial += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines: string[] = [];
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      let line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.cut(line, lines, true);
    }
    if (this.partial.length > this.maxLineLength) {
      const rest: string[] = [];
      this.cut(this.partial, rest, false);
      this.partial = rest.pop() ?? '';
      lines.push(...rest);
    }
    return lines;
  }

  end(): string[] {
    this.partial += this.decoder.end();
    const rest = this.partial;
    this.partial = '';
    if (rest === '') return [];
    const lines: string[] = [];
    this.cut(rest.endsWith('\r') ? rest.slice(0, -1) : rest, lines, true);
    return lines;
  }

  private cut(line: string, out: string[], complete: boolean): void {
    while (line.length > this.maxLineLength) {
      out.push(line.slice(0, this.maxLineLength));
      line = line.slice(this.maxLineLength);
    }
    if (complete || line.length > 0) out.push(line);
  }
}

export interface ConsoleOptions {
  /** Lines kept for late subscribers (the console view's history). */
  historyLines?: number;
  /** false: no throttle (e.g. for benchmarks). */
  throttle?: ThrottleOptions | false;
  maxLineLength?: number;
  now?: () => number;
  log?: Logger;
}

type Listener = (line: ConsoleLine) => void;

/** The raw attach stream shape the console needs (a dockerode hijacked attach stream fits). */
export interface AttachStream extends NodeJS.ReadWriteStream {
  destroy?(err?: Error): void;
}

export type Demux = (stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream) => void;

/**
 * One server's console. Lives as long as the agent knows the server (across container restarts):
 * `attachStream` is called with each new attach stream; lines from all of them, and system lines,
 * go through one throttle into one history and to every listener.
 */
export class ServerConsole {
  private readonly listeners = new Set<Listener>();
  private readonly history: RingBuffer<ConsoleLine>;
  private throttle: LineThrottle | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private dropped = 0;
  private stream: AttachStream | undefined;
  private readonly now: () => number;
  private readonly maxLineLength: number;

  constructor(readonly uid: string, private readonly opts: ConsoleOptions = {}) {
    this.history = new RingBuffer(opts.historyLines ?? 500);
    this.now = opts.now ?? Date.now;
    this.maxLineLength = opts.maxLineLength ?? 16_384;
    this.setThrottle(opts.throttle === undefined ? DEFAULT_THROTTLE : opts.throttle);
  }

  /** Replaces the throttle; lines the old one dropped are reported at once, never lost from the count. */
  setThrottle(opts: ThrottleOptions | false): void {
    this.flushPending(true);
    this.throttle = opts === false ? undefined : new LineThrottle(opts);
  }

  /** Lines dropped by the throttle since this console was created. */
  get droppedTotal(): number {
    return this.dropped;
  }

  get attached(): boolean {
    return this.stream !== undefined;
  }

  /** Subscribes to new lines; returns the unsubscribe function. */
  onLine(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The most recent lines (oldest first). */
  recent(n?: number): ConsoleLine[] {
    return this.history.toArray(n);
  }

  /** Takes over a (demultiplexable) attach stream: its output becomes console lines, its input stdin. */
  attachStream(stream: AttachStream, demux: Demux): void {
    this.detach();
    this.stream = stream;
    const out = new LineSplitter(this.maxLineLength);
    const err = new LineSplitter(this.maxLineLength);
    const sink = (splitter: LineSplitter, tag: ConsoleStream) =>
      new Writable({
        write: (chunk: Buffer, _enc, cb) => {
          for (const l of splitter.push(chunk)) this.ingest(tag, l);
          cb();
        },
      });
    demux(stream, sink(out, 'stdout'), sink(err, 'stderr'));
    const done = () => {
      for (const l of out.end()) this.ingest('stdout', l);
      for (const l of err.end()) this.ingest('stderr', l);
      if (this.stream === stream) this.stream = undefined;
    };
    stream.once('end', done);
    stream.once('close', done);
    stream.on('error', (e: Error) => {
      this.opts.log?.debug('console stream error', { uid: this.uid, err: e });
      done();
    });
  }

  /** Stops reading the current attach stream (the container keeps running; stdin stays open). */
  detach(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners('data');
      s.destroy?.();
    }
  }

  /** Writes one command line to the process's stdin. */
  send(line: string): void {
    if (/[\r\n]/.test(line)) throw new Error('a console command is one line (no CR/LF)');
    const s = this.stream;
    if (!s) throw new Error('console is not attached: the server is not running');
    s.write(line + '\n');
  }

  /** A line from Gantry itself (throttled like the rest, so it keeps the order). */
  system(line: string): void {
    this.ingest('system', line);
  }

  /** Feeds one line as if it came from the container (the install step's output uses this). */
  ingest(stream: ConsoleStream, line: string): void {
    const now = this.now();
    if (this.throttle) {
      const { accept, notice } = this.throttle.offer(now);
      if (notice !== undefined) this.emit('system', notice, now);
      if (!accept) {
        this.dropped++;
        this.scheduleFlush();
        return;
      }
    }
    this.emit(stream, line, now);
  }

  /** Emits the throttle notice of a finished interval, if one is due (`force`: of the current one too). */
  flushPending(force = false): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.throttle) return;
    const now = this.now();
    const notice = this.throttle.flush(now, force);
    if (notice !== undefined) this.emit('system', notice, now);
  }

  close(): void {
    this.detach();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.listeners.clear();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || !this.throttle) return;
    const delay = Math.max(0, this.throttle.windowEnd() - this.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      if (!this.throttle) return;
      const notice = this.throttle.flush(this.now());
      if (notice !== undefined) this.emit('system', notice, this.now());
      else if (this.throttle.pendingDropped > 0) this.scheduleFlush();
    }, delay + 1);
    this.flushTimer.unref?.();
  }

  private emit(stream: ConsoleStream, line: string, time: number): void {
    const entry: ConsoleLine = { seq: ++this.seq, time, stream, line };
    this.history.push(entry);
    for (const l of this.listeners) {
      try {
        l(entry);
      } catch (e) {
        this.opts.log?.warn('console listener failed', { uid: this.uid, err: e });
      }
    }
  }
}
