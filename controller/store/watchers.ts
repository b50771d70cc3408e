// Fan-out of committed changes to watch callbacks.
//
// The store hands every committed change to publish() in commit order, while it still holds the
// connection, and registers watchers under the same lock after replaying history into them; that is
// what makes "every event > X exactly once, no gap" hold. This module keeps the other half of the
// promise: each watcher has its own queue and delivery loop, so a slow, throwing or rejecting
// callback delays only itself, and one that falls too far behind is cut off with an ERROR event
// (as an apiserver closes a watch it cannot feed) instead of growing memory without bound.
import type { Resource } from '../../crds/resource.ts';
import type { Logger } from '../../lib/log.ts';
import { gone } from './errors.ts';
import type { FieldSelector } from './field-selector.ts';
import type { LabelSelector } from './label-selector.ts';
import type { WatchEvent } from './types.ts';

type Labels = Record<string, string> | undefined;

/** One committed change, as stored in the history table. */
export interface Change {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: string;
  namespace: string | undefined;
  name: string;
  /** The object after the change (for DELETED: its last state), JSON with resourceVersion = rv. */
  body: string;
  labels: Labels;
  /** Only when a MODIFIED change altered labels: selector watches may see it as ADDED or DELETED. */
  prevBody?: string;
  prevLabels?: Labels;
}

export interface WatchFilter {
  kind?: string;
  namespace?: string;
  selector: LabelSelector;
  /** Optional: name and namespace never change, so it only filters (no ADDED/DELETED transitions). */
  fields?: FieldSelector;
}

interface Pending {
  type: WatchEvent['type'];
  rv: number;
  body?: string;
  object?: Resource;
}

export interface WatcherOptions {
  filter: WatchFilter;
  onEvent: (ev: WatchEvent) => unknown;
  maxBacklog: number;
  log: Logger;
  /** Object shell for BOOKMARK events. */
  bookmarkShell: { apiVersion: string; kind: string };
  onClose: (w: Watcher) => void;
}

/** Deliveries per turn before yielding to I/O, so a long backlog cannot starve the process. */
const BATCH = 256;

export class Watcher {
  /** The newest rv handed to this watcher; older ones are duplicates and are dropped. */
  lastRv = 0;
  private queue: Pending[] = [];
  private head = 0;
  private scheduled = false;
  private draining = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private failures = 0;

  constructor(private readonly opts: WatcherOptions) {}

  get active(): boolean {
    return !this.stopped;
  }

  /** Queues the event this watcher should see for a change, if any. */
  offer(ch: Change): void {
    if (this.stopped || ch.rv <= this.lastRv) return;
    this.lastRv = ch.rv;
    const type = eventType(this.opts.filter, ch);
    if (!type) return;
    // A change that leaves a selector is reported with the content that still matched.
    const body = type === 'DELETED' && ch.type === 'MODIFIED' ? ch.prevBody! : ch.body;
    this.push({ type, rv: ch.rv, body });
  }

  /** A synthetic ADDED for an object that exists (a watch from resourceVersion "0"). */
  offerExisting(obj: Resource): void {
    const { selector, fields } = this.opts.filter;
    if (this.stopped || !selector.matches(obj.metadata.labels) || (fields && !fields.matches(obj.metadata))) return;
    this.push({ type: 'ADDED', rv: Number(obj.metadata.resourceVersion), object: obj });
  }

  startBookmarks(intervalMs: number, currentRv: () => number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.stopped) return;
      const rv = currentRv();
      const last = this.queue[this.queue.length - 1];
      // A watcher that has not caught up needs one bookmark, not one per interval.
      if (last && last.type === 'BOOKMARK' && this.queue.length > this.head) last.rv = rv;
      else this.push({ type: 'BOOKMARK', rv });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.queue = [];
    this.head = 0;
    this.opts.onClose(this);
  }

  private push(p: Pending): void {
    // Behind = the consumer is busy with an earlier event (its callback has not returned) while the
    // backlog passes the bound. One commit may carry many changes at once (group commit): a watcher
    // that is not busy gets them on its next turn, however many.
    if (this.draining && this.queue.length - this.head >= this.opts.maxBacklog) return this.overflow();
    this.queue.push(p);
    this.schedule();
  }

  private overflow(): void {
    const pending = this.queue.length - this.head;
    this.opts.log.warn('watcher fell behind; closing it with an ERROR event', { pending, kind: this.opts.filter.kind });
    const status = gone(`watch closed: the client fell ${pending} events behind; list again and watch from the new resourceVersion`).toStatus();
    const cb = this.opts.onEvent;
    this.stop();
    setImmediate(() => this.call(cb, { type: 'ERROR', object: status as unknown as Resource }));
  }

  private schedule(): void {
    if (this.scheduled || this.draining) return;
    this.scheduled = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    this.draining = true;
    try {
      let n = 0;
      while (!this.stopped && this.head < this.queue.length) {
        const p = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        const r = this.call(this.opts.onEvent, this.materialise(p));
        if (r) await r;
        if (++n % BATCH === 0) await new Promise<void>((res) => setImmediate(res));
      }
    } finally {
      this.draining = false;
    }
    if (!this.stopped && this.head < this.queue.length) this.schedule();
  }

  private materialise(p: Pending): WatchEvent {
    if (p.type === 'BOOKMARK') {
      return { type: 'BOOKMARK', object: { ...this.opts.bookmarkShell, metadata: { resourceVersion: String(p.rv) } } as Resource };
    }
    // Parsed per delivery: every watcher gets its own object and may mutate it.
    const object = p.object ?? (JSON.parse(p.body!) as Resource);
    object.metadata.resourceVersion = String(p.rv);
    return { type: p.type, object };
  }

  /** Calls back, containing throws and rejections; returns a promise only when the callback did. */
  private call(cb: (ev: WatchEvent) => unknown, ev: WatchEvent): Promise<void> | undefined {
    const report = (err: unknown) => {
      this.failures++;
      // Every failure is logged until it is clearly a pattern; then one line per hundred.
      if (this.failures <= 10 || this.failures % 100 === 0) {
        this.opts.log.warn('watch callback failed', { err, eventType: ev.type, failures: this.failures });
      }
    };
    try {
      const r = cb(ev);
      if (r && typeof (r as Promise<unknown>).then === 'function') return (r as Promise<unknown>).then(() => undefined, report);
    } catch (err) {
      report(err);
    }
    return undefined;
  }
}

/** How a change looks through a filter: Kubernetes turns selector transitions into ADDED/DELETED. */
export function eventType(f: WatchFilter, ch: Change): Change['type'] | undefined {
  if (f.kind !== undefined && ch.kind !== f.kind) return undefined;
  if (f.namespace !== undefined && ch.namespace !== f.namespace) return undefined;
  if (f.fields && !f.fields.matches(ch)) return undefined;
  if (f.selector.empty) return ch.type;
  const now = f.selector.matches(ch.labels);
  if (ch.type !== 'MODIFIED' || ch.prevBody === undefined) return now ? ch.type : undefined;
  const before = f.selector.matches(ch.prevLabels);
  if (now && before) return 'MODIFIED';
  if (now) return 'ADDED';
  if (before) return 'DELETED';
  return undefined;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  add(w: Watcher): void {
    this.watchers.add(w);
  }

  remove(w: Watcher): void {
    this.watchers.delete(w);
  }

  get size(): number {
    return this.watchers.size;
  }

  publish(changes: readonly Change[]): void {
    for (const w of this.watchers) for (const ch of changes) w.offer(ch);
  }

  stopAll(): void {
    for (const w of [...this.watchers]) w.stop();
  }
}
