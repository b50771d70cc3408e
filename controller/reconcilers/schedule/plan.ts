// The Schedule reconciler's pure decision: given the Schedule, the time and what this process is
// running, is a run due now, is it skipped (and why), what status to write and when to look again.
//
// Rules (see docs/ARCHITECTURE.md, "Schedules"):
// - Runs are counted from status.lastScheduleTime, or the creation time for a new Schedule: a Schedule
//   never runs for times before it existed.
// - However many runs were missed while Gantry was down, at most ONE is made up: the latest. With
//   startingDeadlineSeconds, even that one is dropped when it is later than the deadline.
// - A spec change (new expression, unsuspend, …) starts counting afresh: runs due before it are not
//   made up (lastScheduleTime moves to the latest such slot without a run).
// - status.active true while this process runs nothing means the run was cut short by a controller
//   restart: it is recorded as interrupted, never resumed half-way (its steps could repeat).
// - concurrencyPolicy decides when a run is due while one is going: Forbid skips the new one (the slot
//   is used up, so it is not made up later), Replace aborts the old one, Allow runs both.
// - onlyWhenRunning: a run due while the server is not running is skipped (slot used up).
import type { Schedule, ScheduleStatus, ScheduleStepResult } from '../../../crds/types.ts';
import { CronError, parseCron } from './cron.ts';

export interface ScheduleObserved {
  now: Date;
  /** Runs of this Schedule going on in this process. */
  activeRuns: number;
  /** The GameServer's phase is running (only consulted with onlyWhenRunning). */
  serverRunning: boolean;
}

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** A status merge patch: null clears a field. */
export type StatusPatch = { [K in keyof ScheduleStatus]?: ScheduleStatus[K] | null };

/** Annotation asking for one run now, whatever the schedule (the REST facade's "execute task"):
 *  an RFC 3339 time; handled once a run started at or after it (status.lastResult.startedAt). */
export const ANNOTATION_RUN_REQUESTED = 'gantry.dev/run-requested-at';

export interface SchedulePlan {
  /** Start a run for this scheduled time (the executor writes runCount and active, and
   *  lastScheduleTime unless the run was requested by hand). */
  start?: { scheduledTime: Date; replace: boolean; manual?: boolean };
  /** Written whether or not a run starts; empty = nothing to write. */
  status: StatusPatch;
  events: PlanEvent[];
  /** Reconcile again at this time (the next run); undefined = only when something changes. */
  wakeAt?: Date;
}

const iso = (d: Date) => d.toISOString();
/** Messages about the spec itself (as opposed to a run), cleared once the spec is fine again. */
const CONFIG_COMPLAINT = /^(suspended|schedule "|timeZone:|minute:|hour:|day-of-month:|month:|day-of-week:|invalid schedule)/;

export function planSchedule(s: Schedule, o: ScheduleObserved): SchedulePlan {
  const spec = s.spec!;
  const st = s.status ?? {};
  const status: StatusPatch = {};
  const events: PlanEvent[] = [];
  const now = o.now;
  const set = <K extends keyof ScheduleStatus>(k: K, v: ScheduleStatus[K] | null) => {
    const cur = st[k];
    if ((v === null && cur !== undefined) || (v !== null && JSON.stringify(cur) !== JSON.stringify(v))) status[k] = v;
  };
  set('observedGeneration', s.metadata.generation ?? null);

  if (st.active && o.activeRuns === 0) {
    const since = st.lastResult?.startedAt ?? st.lastScheduleTime ?? 'an unknown time';
    const msg = `the run started at ${since} was interrupted: the controller stopped during it; its remaining steps were not run`;
    const steps: ScheduleStepResult[] = [...(st.lastResult?.steps ?? [])];
    const done = steps.length;
    for (const step of spec.steps.slice(done)) steps.push({ action: step.action, success: false, skipped: true, message: 'not run: the run was interrupted' });
    status.active = false;
    status.lastResult = { ...st.lastResult, completedAt: iso(now), success: false, steps };
    status.message = msg;
    events.push({ type: 'Warning', reason: 'RunInterrupted', message: msg });
  }

  // A run requested by hand: runs even when suspended or the expression is bad. While a run is going
  // it waits under Forbid (the run's end reconciles again), replaces under Replace, joins under Allow.
  let manual: SchedulePlan['start'];
  const requested = Date.parse(s.metadata.annotations?.[ANNOTATION_RUN_REQUESTED] ?? '');
  const lastStarted = Date.parse(status.lastResult?.startedAt ?? st.lastResult?.startedAt ?? '');
  if (Number.isFinite(requested) && !(lastStarted >= requested)) {
    const policy = spec.concurrencyPolicy ?? 'Forbid';
    if (o.activeRuns === 0 || policy !== 'Forbid') manual = { scheduledTime: now, replace: o.activeRuns > 0 && policy === 'Replace', manual: true };
  }

  let cron;
  try {
    cron = parseCron(spec.schedule, spec.timeZone ?? 'UTC');
  } catch (err) {
    const msg = err instanceof CronError ? err.message : `invalid schedule: ${(err as Error).message}`;
    set('message', msg);
    set('nextScheduleTime', null);
    events.push({ type: 'Warning', reason: 'InvalidSchedule', message: msg });
    return { start: manual, status, events };
  }

  if (spec.suspend) {
    set('nextScheduleTime', null);
    if (!status.message) set('message', 'suspended: no runs until spec.suspend is false');
    return { start: manual, status, events };
  }

  const created = s.metadata.creationTimestamp ? new Date(s.metadata.creationTimestamp) : now;
  const from = st.lastScheduleTime ? new Date(st.lastScheduleTime) : created;
  const due = cron.latestBetween(from, now);
  let start: SchedulePlan['start'];
  const specChanged = st.observedGeneration !== undefined && st.observedGeneration !== s.metadata.generation;
  if (due && specChanged) {
    // The spec changed since the last look (a new expression, an unsuspend): slots before the change
    // are not made up, or moving "0 4 * * *" to "0 5 * * *" at 10:00 would run at once. The slot is
    // recorded as accounted for so later reconciles do not find it due either.
    set('lastScheduleTime', iso(due));
  } else if (due) {
    const lateMs = now.getTime() - due.getTime();
    const deadline = spec.startingDeadlineSeconds;
    if (deadline !== undefined && lateMs > deadline * 1000) {
      // The slot is used up so the same missed run is not reported again at every reconcile.
      const msg = `missed the run due at ${iso(due)}: ${Math.round(lateMs / 1000)} s late, more than startingDeadlineSeconds ${deadline}`;
      set('lastScheduleTime', iso(due));
      status.message = msg;
      events.push({ type: 'Warning', reason: 'MissedRun', message: msg });
    } else if (manual) {
      // The requested run covers this slot too: one run, not two back to back.
      set('lastScheduleTime', iso(due));
    } else if (o.activeRuns > 0 && (spec.concurrencyPolicy ?? 'Forbid') === 'Forbid') {
      const msg = `skipped the run due at ${iso(due)}: the previous run is still going (concurrencyPolicy Forbid)`;
      set('lastScheduleTime', iso(due));
      status.message = msg;
      events.push({ type: 'Warning', reason: 'RunSkipped', message: msg });
    } else if (spec.onlyWhenRunning && !o.serverRunning) {
      const msg = `skipped the run due at ${iso(due)}: the server is not running (onlyWhenRunning)`;
      set('lastScheduleTime', iso(due));
      status.message = msg;
      status.lastResult = {
        startedAt: iso(now),
        completedAt: iso(now),
        success: true,
        steps: spec.steps.map((x) => ({ action: x.action, success: true, skipped: true, message: 'not run: the server is not running' })),
      };
      events.push({ type: 'Normal', reason: 'RunSkipped', message: msg });
    } else {
      start = { scheduledTime: due, replace: o.activeRuns > 0 && spec.concurrencyPolicy === 'Replace' };
    }
  }

  const next = cron.next(due && due.getTime() > now.getTime() ? due : now);
  set('nextScheduleTime', next ? iso(next) : null);
  if (!next) {
    const msg = `schedule "${spec.schedule}" fires no more`;
    set('message', msg);
  } else if (status.message === undefined && st.message && CONFIG_COMPLAINT.test(st.message)) {
    // The schedule was fixed or unsuspended: the old complaint no longer applies.
    status.message = null;
  }
  return { start: manual ?? start, status, events, wakeAt: next };
}
