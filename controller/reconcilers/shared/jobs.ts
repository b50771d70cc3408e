// Long agent calls (a backup, a restore) run outside the reconcile: the reconciler starts one, returns,
// and is enqueued again when it settles; the next reconcile reads the outcome here, writes it to
// status, then forgets it. Keyed by the resource's uid. An outcome lives only in this process: a
// controller that restarts finds none and asks the agent instead (`attach`).
export type JobObserved<R> =
  | { state: 'running' }
  | { state: 'succeeded'; result: R }
  | { state: 'failed'; code: string; message: string; side?: 'source' | 'target' | 'cancelled' };

export class JobTracker<R> {
  private readonly jobs = new Map<string, JobObserved<R>>();

  /** Starts `run` unless a job for `id` is known; `onSettled` is called once it ends (enqueue the key). */
  start(id: string, run: () => Promise<R>, onSettled: () => void): void {
    if (this.jobs.has(id)) return;
    this.jobs.set(id, { state: 'running' });
    run().then(
      (result) => this.jobs.set(id, { state: 'succeeded', result }),
      (err: unknown) => {
        const e = err as { code?: unknown; message?: unknown; side?: unknown };
        const failed: JobObserved<R> = { state: 'failed', code: typeof e?.code === 'string' ? e.code : 'failed', message: typeof e?.message === 'string' ? e.message : String(err) };
        // A job between two nodes (a transfer) says which end failed.
        if (e?.side === 'source' || e?.side === 'target' || e?.side === 'cancelled') failed.side = e.side;
        this.jobs.set(id, failed);
      },
    ).finally(onSettled);
  }

  get(id: string): JobObserved<R> | undefined {
    return this.jobs.get(id);
  }

  /** Drops a settled outcome (after its status was written). A running job is kept. */
  forget(id: string): void {
    if (this.jobs.get(id)?.state !== 'running') this.jobs.delete(id);
  }

  get size(): number {
    return this.jobs.size;
  }
}
