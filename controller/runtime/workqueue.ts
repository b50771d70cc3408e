// A rate-limited work queue of string keys, after client-go's workqueue (queue + delaying + rate limiting).
//
// Guarantees:
// - dedupe: a key queued twice is processed once; queued keys are handed out in FIFO order;
// - a key is never processed concurrently with itself: a key added while it is being processed is
//   remembered ("dirty") and queued again when done(key) is called;
// - addAfter(key, ms): the key is added when the delay has passed; a key already waiting keeps the
//   earlier of its two deadlines; one timer serves every waiting key (a binary heap of deadlines);
// - addRateLimited(key): per-key exponential backoff (5 ms doubling to 5 min by default) until forget(key);
// - shutdown(): stops handing out keys, drops queued and delayed ones (reconcile is level-triggered:
//   whoever starts the controller again relists everything), and resolves once every in-flight key is done.
//
// Time goes through a Clock so tests can drive it by hand.

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time; looks the timer functions up at call time so fake timers installed later still apply. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Decides how long a failing key waits before its next attempt. */
export interface RateLimiter {
  /** The delay for this key's next retry; counts one more failure. */
  when(key: string): number;
  /** The key succeeded: its failure count starts again from zero. */
  forget(key: string): void;
  /** Failures counted for this key since the last forget. */
  numRequeues(key: string): number;
}

/** baseDelayMs · 2^failures, capped at maxDelayMs (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    readonly baseDelayMs = 5,
    readonly maxDelayMs = 5 * 60_000,
  ) {
    if (!(baseDelayMs > 0) || !(maxDelayMs >= baseDelayMs)) throw new Error(`invalid backoff: base ${baseDelayMs} ms, max ${maxDelayMs} ms`);
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2 ** n overflows to Infinity for large n, which the cap absorbs.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** Hooks the queue calls so a metrics registry can follow it. */
export interface WorkQueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
}

export interface WorkQueueOptions {
  rateLimiter?: RateLimiter;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

interface Delayed {
  key: string;
  at: number;
  /** Tie-break: keys with the same deadline come out in the order they were added. */
  seq: number;
}

export class WorkQueue {
  readonly rateLimiter: RateLimiter;
  private readonly clock: Clock;
  private readonly metrics?: WorkQueueMetrics;

  /** Ready keys in order; queue[head..] are live. */
  private queue: string[] = [];
  private head = 0;
  /** Keys that need processing (queued, or added again while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed keys and their deadline; the heap may hold stale entries, the map is the truth. */
  private readonly waiting = new Map<string, number>();
  private readonly heap: Delayed[] = [];
  private seq = 0;
  private timer: unknown;
  private timerAt = Infinity;
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly drained: (() => void)[] = [];

  constructor(opts: WorkQueueOptions = {}) {
    this.rateLimiter = opts.rateLimiter ?? new ExponentialBackoff();
    this.clock = opts.clock ?? realClock;
    this.metrics = opts.metrics;
  }

  // ---- adding -------------------------------------------------------------------------------------

  /** Queues the key unless it is already queued; a key being processed is queued again when done. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.added();
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds the key after `ms`; a key already waiting keeps the earlier deadline. ms ≤ 0 adds at once. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) return this.add(key);
    const at = this.clock.now() + ms;
    const current = this.waiting.get(key);
    if (current !== undefined && current <= at) return;
    this.waiting.set(key, at);
    heapPush(this.heap, { key, at, seq: this.seq++ });
    this.arm();
  }

  /** Adds the key after its backoff delay and counts a retry. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics?.retried();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** The key succeeded: its backoff starts again from the base delay. (Does not cancel a pending add.) */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  // ---- processing ---------------------------------------------------------------------------------

  /** The next key to process (marked in flight until done(key)); undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.shift();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Processing of the key finished; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.shuttingDown && this.processing.size === 0) this.resolveDrained();
  }

  /**
   * Runs `workers` loops of get → handler → done until shutdown. The handler should decide about
   * forget/addRateLimited itself; one that throws gets the key re-added with backoff.
   * Resolves when every loop has exited.
   */
  async run(workers: number, handler: (key: string) => Promise<void>): Promise<void> {
    const n = Math.max(1, Math.floor(workers));
    const loop = async () => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          await handler(key);
        } catch {
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: n }, loop));
  }

  /**
   * Stops the queue: no more keys are handed out or accepted, delayed keys are dropped, waiting
   * get() calls return undefined. Resolves once every key in flight is done.
   */
  shutdown(): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      this.disarm();
      this.waiting.clear();
      this.heap.length = 0;
      this.queue = [];
      this.head = 0;
      for (const k of [...this.dirty]) if (!this.processing.has(k)) this.dirty.delete(k);
      this.metrics?.depth(0);
      for (const g of this.getters.splice(0)) g(undefined);
    }
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  // ---- inspection ---------------------------------------------------------------------------------

  /** Keys ready to be processed. */
  len(): number {
    return this.queue.length - this.head;
  }

  /** Keys waiting for a delay (addAfter / addRateLimited). */
  delayedCount(): number {
    return this.waiting.size;
  }

  /** Keys in flight. */
  processingCount(): number {
    return this.processing.size;
  }

  /** Nothing ready, delayed or in flight. */
  isIdle(): boolean {
    return this.len() === 0 && this.waiting.size === 0 && this.processing.size === 0;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** A dirty key becomes ready: handed straight to a waiting worker, or queued. */
  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
      return;
    }
    this.queue.push(key);
    this.metrics?.depth(this.len());
  }

  private shift(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    this.metrics?.depth(this.len());
    return key;
  }

  private resolveDrained(): void {
    for (const r of this.drained.splice(0)) r();
  }

  /** Keeps one timer set for the earliest live deadline. */
  private arm(): void {
    while (this.heap.length && this.waiting.get(this.heap[0]!.key) !== this.heap[0]!.at) heapPop(this.heap);
    const top = this.heap[0];
    if (!top) return this.disarm();
    if (this.timer !== undefined && this.timerAt <= top.at) return;
    this.disarm();
    this.timerAt = top.at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, top.at - this.clock.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.shuttingDown) return;
    const now = this.clock.now();
    while (this.heap.length && this.heap[0]!.at <= now) {
      const d = heapPop(this.heap)!;
      if (this.waiting.get(d.key) !== d.at) continue; // superseded by an earlier deadline
      this.waiting.delete(d.key);
      this.add(d.key);
    }
    this.arm();
  }
}

// ---- a minimal binary min-heap on (at, seq) -------------------------------------------------------

const before = (a: Delayed, b: Delayed) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

function heapPush(h: Delayed[], d: Delayed): void {
  h.push(d);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(h[i]!, h[p]!)) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function heapPop(h: Delayed[]): Delayed | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length && last) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
  return top;
}
