// The Schedule controller: planSchedule() decides, this file acts. A run is an in-process task (steps
// with delays of up to a day each); its progress is written to status as each step ends, and a
// restart of the controller mid-run is reported as an interrupted run by the next plan.
//
// Time comes from an injectable wall clock (epoch ms) used for "now", step delays and the wake-up
// timer at the next scheduled time. The wake-up is this controller's own timer rather than the work
// queue's requeueAfter, because the queue runs on the monotonic clock and tests drive this one.
import type { Schedule, ScheduleStepResult, GameServer } from '../../../crds/types.ts';
import type { Logger } from '../../../lib/log.ts';
import type { EventSink } from '../../events/recorder.ts';
import type { Controller, Manager, ReconcileResult } from '../../runtime/controller.ts';
import { keyOf, splitKey } from '../../runtime/informer.ts';
import type { Clock } from '../../runtime/workqueue.ts';
import { StoreError } from '../../store/errors.ts';
import type { ResourceStore } from '../../store/types.ts';
import { planSchedule, type StatusPatch } from './plan.ts';
import { AbortedError, runStep, sleep, type StepContext } from './steps.ts';
import { Operations } from '../../operations/index.ts';

/** Wall-clock time (epoch ms) and timers. */
export const wallClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Node's timers hold at most ~24.8 days; a later wake-up is re-armed from an earlier one. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ScheduleControllerDeps {
  store: ResourceStore;
  /** Sends a console line (the hub's sendCommand RPC). */
  sendCommand(node: string, uid: string, line: string): Promise<void>;
  events?: EventSink;
  log: Logger;
  clock?: Clock;
  /** How long a lifecycle step waits for the server to reach its goal (default 10 min). */
  stepTimeoutMs?: number;
  /** @deprecated waits follow the shared informer now; ignored. */
  pollMs?: number;
  /** The operations layer the steps use (default: one over this Manager's informers and the clock). */
  operations?: Operations;
}

interface Run {
  id: number;
  scheduledTime: Date;
  abort: AbortController;
  done: Promise<void>;
  /** Aborted for a newer run (concurrencyPolicy Replace), which owns active and lastResult. */
  replaced?: boolean;
}

export class ScheduleController {
  readonly controller: Controller<Schedule>;
  private readonly deps: ScheduleControllerDeps;
  private readonly clock: Clock;
  private readonly runs = new Map<string, Set<Run>>();
  private readonly timers = new Map<string, unknown>();
  private runSeq = 0;
  private stopped = false;
  private readonly ops: Operations;

  constructor(mgr: Manager, deps: ScheduleControllerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? wallClock;
    this.ops = deps.operations ?? new Operations({ store: deps.store, informers: mgr, clock: this.clock });
    this.controller = mgr.addController<Schedule>({
      name: 'schedule',
      kind: 'Schedule',
      workers: 2,
      reconcile: (key) => this.reconcile(key),
      // onlyWhenRunning reads the server's phase; a server's spec change does not matter here.
      watches: [{ kind: 'GameServer', map: (gs) => this.schedulesOf(gs as GameServer) }],
    });
  }

  private schedulesOf(gs: GameServer): string[] {
    return this.controller.informer
      .list()
      .filter((s) => s.spec?.onlyWhenRunning && s.spec.serverRef === gs.metadata.name && (s.metadata.namespace ?? 'default') === (gs.metadata.namespace ?? 'default'))
      .map((s) => keyOf(s));
  }

  /** Runs going on now, by Schedule key (for tests and the API). */
  activeRuns(key: string): number {
    return this.runs.get(key)?.size ?? 0;
  }

  /** Aborts every run (they record "interrupted by shutdown") and clears the timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const h of this.timers.values()) this.clock.clearTimeout(h);
    this.timers.clear();
    const all = [...this.runs.values()].flatMap((s) => [...s]);
    for (const r of all) r.abort.abort('the controller is shutting down');
    await Promise.all(all.map((r) => r.done));
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    if (this.stopped) return;
    const sched = this.controller.informer.get(key);
    if (!sched || sched.metadata.deletionTimestamp) {
      this.clearTimer(key);
      for (const r of this.runs.get(key) ?? []) r.abort.abort('the Schedule was deleted');
      return;
    }
    const { namespace, name } = splitKey(key);
    const now = new Date(this.clock.now());
    const server = sched.spec?.onlyWhenRunning
      ? await this.deps.store.get<GameServer>('GameServer', namespace, sched.spec.serverRef).catch(() => undefined)
      : undefined;
    const active = this.runs.get(key) ?? new Set<Run>();
    const plan = planSchedule(sched, { now, activeRuns: active.size, serverRunning: server?.status?.phase === 'running' });

    let status: StatusPatch = plan.status;
    if (plan.start) {
      status = {
        ...status,
        ...(plan.start.manual ? {} : { lastScheduleTime: plan.start.scheduledTime.toISOString() }),
        runCount: (sched.status?.runCount ?? 0) + 1,
        active: true,
        lastResult: { startedAt: now.toISOString(), steps: [] },
        message: null,
      };
    }
    if (Object.keys(status).length) {
      // Written before the run starts: if we crash right after, the next plan sees active=true and
      // reports the run as interrupted instead of running it a second time.
      try {
        await this.deps.store.patchStatus('Schedule', namespace, name, status, { resourceVersion: sched.metadata.resourceVersion });
      } catch (err) {
        // The cache is behind a write (often this controller's own run status): plan again from the
        // newer object rather than act on a stale one. Not an error worth a log line.
        if (err instanceof StoreError && err.reason === 'Conflict') return { requeue: true };
        // Deleted between the cache read and the write: the informer's delete event finishes it.
        if (err instanceof StoreError && err.code === 404) return;
        throw err;
      }
    }
    // Only once the write above passed its precondition: a plan made from a cache that is behind (it
    // has not seen this run start yet) is refused there, and must not have aborted anything.
    if (plan.start?.replace) for (const r of active) (r.replaced = true), r.abort.abort(`replaced by the run due at ${plan.start.scheduledTime.toISOString()} (concurrencyPolicy Replace)`);
    for (const ev of plan.events) void this.event(sched, ev.type, ev.reason, ev.message);
    if (plan.start) this.startRun(key, sched, plan.start.scheduledTime, now);
    this.arm(key, plan.wakeAt);
  }

  private arm(key: string, at?: Date): void {
    this.clearTimer(key);
    if (!at || this.stopped) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(1, at.getTime() - this.clock.now()));
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        this.controller.enqueue(key);
      }, ms),
    );
  }

  private clearTimer(key: string): void {
    const h = this.timers.get(key);
    if (h !== undefined) this.clock.clearTimeout(h);
    this.timers.delete(key);
  }

  private startRun(key: string, sched: Schedule, scheduledTime: Date, startedAt: Date): void {
    const set = this.runs.get(key) ?? new Set<Run>();
    this.runs.set(key, set);
    const abort = new AbortController();
    const run = { id: ++this.runSeq, scheduledTime, abort } as Run;
    set.add(run);
    this.event(sched, 'Normal', 'RunStarted', `run for ${scheduledTime.toISOString()} started (${sched.spec!.steps.length} step(s))`);
    run.done = this.execute(sched, run, startedAt)
      .catch((err) => this.deps.log.error('schedule run failed', { schedule: key, err }))
      .finally(() => {
        set.delete(run);
        if (!set.size) this.runs.delete(key);
        // Whatever the run changed (active, lastResult), the next plan looks at it.
        if (!this.stopped) this.controller.enqueue(key);
      });
  }

  private async execute(sched: Schedule, run: Run, startedAt: Date): Promise<void> {
    const key = keyOf(sched);
    const { namespace, name } = splitKey(key);
    const log = this.deps.log.child({ schedule: key, run: run.id });
    const ctx: StepContext = {
      store: this.deps.store,
      ops: this.ops,
      sendCommand: this.deps.sendCommand,
      clock: this.clock,
      log,
      signal: run.abort.signal,
      waitTimeoutMs: this.deps.stepTimeoutMs ?? 10 * 60_000,
      schedule: sched,
      scheduledTime: run.scheduledTime,
    };
    const steps = sched.spec!.steps;
    const results: ScheduleStepResult[] = [];
    let abortedBecause: string | undefined;
    const write = async (patch: StatusPatch) => {
      try {
        await this.deps.store.patchStatus('Schedule', namespace, name, patch);
      } catch (err) {
        if (!(err instanceof StoreError && err.code === 404)) log.warn('could not write the run status', { err });
      }
    };
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      try {
        if (step.delaySeconds) await sleep(this.clock, step.delaySeconds * 1000, run.abort.signal);
        const res = await runStep(step, i, ctx);
        results.push(res);
        log.info('schedule step done', { step: i, action: step.action, success: res.success, message: res.message });
        if (!res.success && !step.continueOnFailure) {
          for (const rest of steps.slice(i + 1)) results.push({ action: rest.action, success: false, skipped: true, message: `not run: step ${i + 1} (${step.action}) failed` });
          break;
        }
      } catch (err) {
        if (!(err instanceof AbortedError)) throw err;
        abortedBecause = err.message;
        for (const rest of steps.slice(i)) results.push({ action: rest.action, success: false, skipped: true, message: `not run: ${err.message}` });
        break;
      }
      if (i < steps.length - 1) await write({ lastResult: { startedAt: startedAt.toISOString(), steps: results } });
    }
    const success = !abortedBecause && results.every((r) => r.success);
    const others = (this.runs.get(key)?.size ?? 1) - 1;
    const failed = results.find((r) => !r.success && !r.skipped);
    if (abortedBecause && run.replaced) {
      // Replaced: the run that replaced this one owns lastResult now.
      await write({ message: `the run for ${run.scheduledTime.toISOString()} was aborted: ${abortedBecause}` });
      this.event(sched, 'Warning', 'RunAborted', `run for ${run.scheduledTime.toISOString()} aborted: ${abortedBecause}`);
      return;
    }
    await write({
      active: others > 0,
      lastResult: { startedAt: startedAt.toISOString(), completedAt: new Date(this.clock.now()).toISOString(), success, steps: results },
      message: abortedBecause ? `the run for ${run.scheduledTime.toISOString()} was aborted: ${abortedBecause}` : failed ? `step ${results.indexOf(failed) + 1} (${failed.action}) failed: ${failed.message}` : null,
    });
    if (abortedBecause) this.event(sched, 'Warning', 'RunAborted', `run for ${run.scheduledTime.toISOString()} aborted: ${abortedBecause}`);
    else if (success) this.event(sched, 'Normal', 'RunSucceeded', `run for ${run.scheduledTime.toISOString()} succeeded`);
    else this.event(sched, 'Warning', 'RunFailed', `run for ${run.scheduledTime.toISOString()} failed: step ${results.indexOf(failed!) + 1} (${failed?.action}): ${failed?.message}`);
  }

  private event(s: Schedule, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.deps.events
      ?.record({ kind: 'Schedule', apiVersion: s.apiVersion, namespace: s.metadata.namespace, name: s.metadata.name, uid: s.metadata.uid }, type, reason, message)
      .catch((err) => this.deps.log.warn('could not record an event', { err, reason }));
  }
}

/** Re-exported: the run-now request is an operation (controller/operations/schedules.ts). */
export { requestScheduleRun } from '../../operations/schedules.ts';

export function addScheduleController(mgr: Manager, deps: ScheduleControllerDeps): ScheduleController {
  return new ScheduleController(mgr, deps);
}
