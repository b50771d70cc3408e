// planSchedule over its state table: new schedule, due run, catch-up (one run, never a burst),
// deadline, concurrency policies, onlyWhenRunning, suspend, invalid expressions, interrupted runs.
import { describe, expect, it } from 'vitest';
import { planSchedule } from '../../controller/reconcilers/schedule/plan.ts';
import type { Schedule, ScheduleSpec, ScheduleStatus } from '../../crds/types.ts';

const sched = (spec: Partial<ScheduleSpec> = {}, status: ScheduleStatus = {}, created = '2026-01-01T00:00:00Z'): Schedule => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'Schedule',
  metadata: { name: 's', namespace: 'default', generation: 1, creationTimestamp: created },
  spec: { serverRef: 'srv', schedule: '0 * * * *', timeZone: 'UTC', steps: [{ action: 'command', payload: 'say hi' }], ...spec },
  status,
});
const at = (iso: string) => new Date(iso);
const obs = (now: string, activeRuns = 0, serverRunning = true) => ({ now: at(now), activeRuns, serverRunning });

describe('planSchedule', () => {
  it('a new schedule waits for its first time and reports it exactly', () => {
    const p = planSchedule(sched({}, {}, '2026-01-01T00:10:00Z'), obs('2026-01-01T00:10:05Z'));
    expect(p.start).toBeUndefined();
    expect(p.status.nextScheduleTime).toBe('2026-01-01T01:00:00.000Z');
    expect(p.wakeAt?.toISOString()).toBe('2026-01-01T01:00:00.000Z');
  });

  it('never runs for times before the schedule existed', () => {
    const p = planSchedule(sched({}, {}, '2026-01-01T00:59:59Z'), obs('2026-01-01T00:59:59.500Z'));
    expect(p.start).toBeUndefined();
  });

  it('starts the run that is due and looks again at the next time', () => {
    const p = planSchedule(sched({}, { lastScheduleTime: '2026-01-01T00:00:00Z' }), obs('2026-01-01T01:00:00.020Z'));
    expect(p.start).toEqual({ scheduledTime: at('2026-01-01T01:00:00Z'), replace: false });
    expect(p.status.nextScheduleTime).toBe('2026-01-01T02:00:00.000Z');
  });

  it('after downtime makes up only the latest missed run (no burst)', () => {
    const p = planSchedule(sched({ schedule: '* * * * *' }, { lastScheduleTime: '2026-01-01T00:00:00Z' }), obs('2026-01-01T05:17:30Z'));
    expect(p.start?.scheduledTime.toISOString()).toBe('2026-01-01T05:17:00.000Z');
    expect(p.status.nextScheduleTime).toBe('2026-01-01T05:18:00.000Z');
  });

  it('startingDeadlineSeconds: within it the missed run happens, beyond it the run is dropped with a message', () => {
    const spec = { startingDeadlineSeconds: 120 };
    const st = { lastScheduleTime: '2026-01-01T00:00:00Z' };
    expect(planSchedule(sched(spec, st), obs('2026-01-01T01:01:59Z')).start?.scheduledTime.toISOString()).toBe('2026-01-01T01:00:00.000Z');
    const late = planSchedule(sched(spec, st), obs('2026-01-01T01:02:01Z'));
    expect(late.start).toBeUndefined();
    expect(late.status.lastScheduleTime).toBe('2026-01-01T01:00:00.000Z');
    expect(late.status.message).toMatch(/missed the run due at 2026-01-01T01:00:00.000Z: 121 s late, more than startingDeadlineSeconds 120/);
    expect(late.events[0]).toMatchObject({ type: 'Warning', reason: 'MissedRun' });
  });

  it('concurrencyPolicy: Forbid skips (slot used up), Replace replaces, Allow runs alongside', () => {
    const st = { lastScheduleTime: '2026-01-01T00:00:00Z', active: true };
    const now = '2026-01-01T01:00:01Z';
    const forbid = planSchedule(sched({ concurrencyPolicy: 'Forbid' }, st), obs(now, 1));
    expect(forbid.start).toBeUndefined();
    expect(forbid.status.lastScheduleTime).toBe('2026-01-01T01:00:00.000Z');
    expect(forbid.events[0]?.reason).toBe('RunSkipped');
    expect(planSchedule(sched({ concurrencyPolicy: 'Replace' }, st), obs(now, 1)).start).toEqual({ scheduledTime: at('2026-01-01T01:00:00Z'), replace: true });
    expect(planSchedule(sched({ concurrencyPolicy: 'Allow' }, st), obs(now, 1)).start).toEqual({ scheduledTime: at('2026-01-01T01:00:00Z'), replace: false });
  });

  it('onlyWhenRunning skips a run while the server is not running', () => {
    const p = planSchedule(sched({ onlyWhenRunning: true }, { lastScheduleTime: '2026-01-01T00:00:00Z' }), obs('2026-01-01T01:00:01Z', 0, false));
    expect(p.start).toBeUndefined();
    expect(p.status.lastResult?.steps?.[0]).toMatchObject({ skipped: true, success: true });
    expect(p.status.lastScheduleTime).toBe('2026-01-01T01:00:00.000Z');
  });

  it('suspend: no run, no next time; unsuspending clears the message', () => {
    const p = planSchedule(sched({ suspend: true }, { lastScheduleTime: '2026-01-01T00:00:00Z', nextScheduleTime: '2026-01-01T01:00:00Z' }), obs('2026-01-01T01:00:01Z'));
    expect(p.start).toBeUndefined();
    expect(p.status.nextScheduleTime).toBeNull();
    expect(p.status.message).toMatch(/^suspended/);
    const back = planSchedule(sched({}, { lastScheduleTime: '2026-01-01T01:00:00Z', message: p.status.message! }), obs('2026-01-01T01:30:00Z'));
    expect(back.status.message).toBeNull();
    expect(back.status.nextScheduleTime).toBe('2026-01-01T02:00:00.000Z');
  });

  it('a spec change starts counting afresh: a slot missed under the old spec is not run at once', () => {
    // "0 4 * * *" became "0 5 * * *" at 10:00: 05:00 today is after the last run (04:00) but was never due.
    const s = sched({ schedule: '0 5 * * *' }, { lastScheduleTime: '2026-01-01T04:00:00.000Z', observedGeneration: 1 });
    s.metadata.generation = 2;
    const p = planSchedule(s, obs('2026-01-01T10:00:00Z'));
    expect(p.start).toBeUndefined();
    expect(p.status).toMatchObject({ lastScheduleTime: '2026-01-01T05:00:00.000Z', observedGeneration: 2, nextScheduleTime: '2026-01-02T05:00:00.000Z' });
    // Unchanged spec after downtime: the catch-up rule applies.
    const same = sched({ schedule: '0 5 * * *' }, { lastScheduleTime: '2026-01-01T04:00:00.000Z', observedGeneration: 1 });
    expect(planSchedule(same, obs('2026-01-01T10:00:00Z')).start?.scheduledTime.toISOString()).toBe('2026-01-01T05:00:00.000Z');
  });

  it('an invalid expression or zone: a message naming the field, no run, no wake-up', () => {
    const p = planSchedule(sched({ schedule: '0 25 * * *' }), obs('2026-01-02T00:00:00Z'));
    expect(p.start).toBeUndefined();
    expect(p.wakeAt).toBeUndefined();
    expect(p.status.message).toBe('hour: 25 is out of range 0-23');
    expect(p.events[0]).toMatchObject({ type: 'Warning', reason: 'InvalidSchedule' });
    expect(planSchedule(sched({ timeZone: 'Europe/Nowhere' }), obs('2026-01-02T00:00:00Z')).status.message).toMatch(/timeZone: "Europe\/Nowhere"/);
  });

  it('status.active with no run in this process: the run is recorded as interrupted, not resumed', () => {
    const st: ScheduleStatus = {
      lastScheduleTime: '2026-01-01T01:00:00Z',
      active: true,
      runCount: 3,
      lastResult: { startedAt: '2026-01-01T01:00:00Z', steps: [{ action: 'command', success: true }] },
    };
    const s = sched({ steps: [{ action: 'command', payload: 'say a' }, { action: 'restart', delaySeconds: 300 }] }, st);
    const p = planSchedule(s, obs('2026-01-01T01:03:00Z'));
    expect(p.start).toBeUndefined();
    expect(p.status.active).toBe(false);
    expect(p.status.lastResult).toMatchObject({ success: false, completedAt: '2026-01-01T01:03:00.000Z' });
    expect(p.status.lastResult?.steps).toEqual([
      { action: 'command', success: true },
      { action: 'restart', success: false, skipped: true, message: 'not run: the run was interrupted' },
    ]);
    expect(p.status.message).toMatch(/interrupted: the controller stopped during it/);
  });

  it('a run requested by hand (annotation) starts once, even when suspended; Forbid makes it wait for a running one', () => {
    const req = (s: Schedule, at: string) => ((s.metadata.annotations = { 'gantry.dev/run-requested-at': at }), s);
    const st = { lastScheduleTime: '2026-01-01T01:00:00.000Z' };
    const p = planSchedule(req(sched({ suspend: true }, st), '2026-01-01T01:29:59.000Z'), obs('2026-01-01T01:30:00Z'));
    expect(p.start).toEqual({ scheduledTime: at('2026-01-01T01:30:00Z'), replace: false, manual: true });
    // Handled once a run started at or after the request.
    const done = req(sched({}, { ...st, lastResult: { startedAt: '2026-01-01T01:30:00.000Z' } }), '2026-01-01T01:29:59.000Z');
    expect(planSchedule(done, obs('2026-01-01T01:31:00Z')).start).toBeUndefined();
    expect(planSchedule(req(sched({}, { ...st, active: true }), '2026-01-01T01:29:59.000Z'), obs('2026-01-01T01:30:00Z', 1)).start).toBeUndefined();
    expect(planSchedule(req(sched({ concurrencyPolicy: 'Replace' }, { ...st, active: true }), '2026-01-01T01:29:59.000Z'), obs('2026-01-01T01:30:00Z', 1)).start).toMatchObject({ replace: true, manual: true });
    // A cron slot due at the same time is covered by the requested run.
    const both = planSchedule(req(sched({}, st), '2026-01-01T01:59:00.000Z'), obs('2026-01-01T02:00:01Z'));
    expect(both.start?.manual).toBe(true);
    expect(both.status.lastScheduleTime).toBe('2026-01-01T02:00:00.000Z');
  });

  it('writes nothing when nothing changed', () => {
    const s = sched({}, { lastScheduleTime: '2026-01-01T01:00:00.000Z', nextScheduleTime: '2026-01-01T02:00:00.000Z', observedGeneration: 1 });
    expect(planSchedule(s, obs('2026-01-01T01:30:00Z')).status).toEqual({});
  });
});
