// "Wait until the object reaches the goal", served from the shared informers: one event handler per
// kind for every waiter of the process (a `?wait=true` request, a schedule step), never one store watch
// per wait — against a Kubernetes API server that would be one watch per waiting HTTP call.
//
// A wait starts from the object its caller just wrote (`from`): the informer may not have seen that
// write yet, so cached versions older than it (lower generation) are skipped, and an object the
// informer has not seen at all is "not yet", not "deleted". It ends when the predicate says reached or
// hopeless, when the object is deleted after it was seen, at the timeout, or on abort.
import type { Informer, KubeObject } from '../runtime/informer.ts';
import type { InformerSource } from '../runtime/controller.ts';
import { objectKey } from '../runtime/informer.ts';
import { realClock, type Clock } from '../runtime/workqueue.ts';

/** reached: the goal; hopeless: it cannot get there from here (stop waiting); undefined: not yet. */
export type Verdict = 'reached' | 'hopeless' | undefined;

export interface WaitOutcome<T> {
  /** The object as last seen (undefined once deleted). */
  object: T | undefined;
  reached: boolean;
  /** False when the wait ended by timeout or abort rather than by a verdict or a deletion. */
  settled: boolean;
  deleted: boolean;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

interface Waiter {
  key: string;
  minGeneration: number;
  seen: boolean;
  check(obj: KubeObject | undefined, deleted: boolean): void;
}

export class Waits {
  private readonly byKind = new Map<string, { informer: Informer<KubeObject>; waiters: Map<string, Set<Waiter>> }>();

  constructor(
    private readonly informers: InformerSource,
    private readonly clock: Clock = realClock,
  ) {}

  /** Waits on `from` (the object as the caller wrote it) until `verdict` decides, it is deleted, or the timeout. */
  waitFor<T extends KubeObject>(kind: string, from: T, verdict: (obj: T) => Verdict, opts: WaitOptions): Promise<WaitOutcome<T>> {
    const first = verdict(from);
    if (first) return Promise.resolve({ object: from, reached: first === 'reached', settled: true, deleted: false });
    const entry = this.entry(kind);
    const key = objectKey(from.metadata.namespace, from.metadata.name);
    return new Promise<WaitOutcome<T>>((resolve) => {
      let last: T | undefined = from;
      let done = false;
      const finish = (reached: boolean, settled: boolean, deleted: boolean) => {
        if (done) return;
        done = true;
        this.clock.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const set = entry.waiters.get(key);
        set?.delete(waiter);
        if (set?.size === 0) entry.waiters.delete(key);
        resolve({ object: deleted ? undefined : last, reached, settled, deleted });
      };
      const waiter: Waiter = {
        key,
        minGeneration: from.metadata.generation ?? 0,
        seen: false,
        check: (obj, deleted) => {
          if (deleted) {
            // A delete of a version older than ours is a previous object of the name, not this one.
            if (waiter.seen || (obj?.metadata.uid && obj.metadata.uid === from.metadata.uid)) finish(false, true, true);
            return;
          }
          if (!obj || (from.metadata.uid && obj.metadata.uid !== from.metadata.uid)) return;
          if ((obj.metadata.generation ?? 0) < waiter.minGeneration) return;
          waiter.seen = true;
          last = obj as T;
          const v = verdict(obj as T);
          if (v) finish(v === 'reached', true, false);
        },
      };
      const onAbort = () => finish(false, false, false);
      const timer = this.clock.setTimeout(() => finish(false, false, false), Math.max(1, opts.timeoutMs));
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let set = entry.waiters.get(key);
      if (!set) entry.waiters.set(key, (set = new Set()));
      set.add(waiter);
      // What the cache holds already (it may be newer than `from`).
      if (entry.informer.hasSynced()) waiter.check(entry.informer.get(key), false);
    });
  }

  /** Waiters in progress (tests, metrics). */
  get pending(): number {
    let n = 0;
    for (const e of this.byKind.values()) for (const s of e.waiters.values()) n += s.size;
    return n;
  }

  private entry(kind: string) {
    let e = this.byKind.get(kind);
    if (e) return e;
    const informer = this.informers.informer<KubeObject>(kind);
    const waiters = new Map<string, Set<Waiter>>();
    const notify = (obj: KubeObject, deleted: boolean) => {
      const set = waiters.get(objectKey(obj.metadata.namespace, obj.metadata.name));
      if (set) for (const w of [...set]) w.check(obj, deleted);
    };
    informer.addEventHandler({
      onAdd: (o) => notify(o, false),
      onUpdate: (_o, n) => notify(n, false),
      onDelete: (o) => notify(o, true),
    });
    e = { informer, waiters };
    this.byKind.set(kind, e);
    return e;
  }
}
