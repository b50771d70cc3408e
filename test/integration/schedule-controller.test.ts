// The Schedule controller over a real SQLite store and the controller runtime, with a hand-driven
// wall clock: backup retention after three runs, catch-up after a simulated downtime (once, within the
// deadline; never beyond it), an interrupted run, and a command step on a server that is not running.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Manager } from '../../controller/runtime/controller.ts';
import { addScheduleController, requestScheduleRun, type ScheduleController } from '../../controller/reconcilers/schedule/reconciler.ts';
import { LABEL_SCHEDULE } from '../../controller/reconcilers/schedule/steps.ts';
import type { Backup, Schedule, ScheduleSpec, ScheduleStatus } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { until } from '../helpers/wait.ts';

describe('Schedule controller (real store, fake wall clock)', () => {
  let env: TestEnv;
  let mgr: Manager | undefined;
  let ctl: ScheduleController | undefined;
  let clock: FakeClock;
  const sent: string[] = [];

  beforeEach(async () => {
    env = await openTestEnv();
    clock = new FakeClock();
    // Half a minute past a whole minute, so "due 30 s ago" and "next in 30 s" are exact.
    clock.t = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
    sent.length = 0;
  });
  afterEach(async () => {
    await ctl?.stop();
    await mgr?.stop();
    ctl = undefined;
    mgr = undefined;
    await env.close();
  });

  const start = async () => {
    mgr = new Manager({ store: env.store, log: env.log });
    ctl = addScheduleController(mgr, {
      store: env.store,
      events: env.events,
      log: env.log,
      clock,
      pollMs: 1000,
      stepTimeoutMs: 5000,
      sendCommand: async (node, uid, line) => {
        sent.push(`${node}/${uid}: ${line}`);
      },
    });
    await mgr.start();
  };
  const create = (name: string, spec: Partial<ScheduleSpec>) =>
    env.store.create<Schedule>({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Schedule',
      metadata: { name, namespace: 'default' },
      spec: { serverRef: 'srv', schedule: '* * * * *', steps: [{ action: 'backup', payload: 'nightly' }], ...spec },
    });
  const get = (name: string) => env.store.get<Schedule>('Schedule', 'default', name);
  const backups = async (name: string) =>
    (await env.store.list<Backup>('Backup', { namespace: 'default', labelSelector: `${LABEL_SCHEDULE}=${name}` })).items;
  const runsDone = (name: string, n: number) => until(`${n} completed run(s) of ${name}`, async () => {
    const s = await get(name);
    return s.status?.runCount === n && !s.status.active && s.status.lastResult?.completedAt ? s : undefined;
  }, 10_000);

  it('a backup schedule with retention 2 keeps the 2 newest Backups after 3 runs, all owned by the Schedule', async () => {
    await start();
    const s = await create('nightly', { backupRetention: { keep: 2 } });
    const first = await until('nextScheduleTime', async () => (await get('nightly')).status?.nextScheduleTime);
    expect(new Date(first).getTime()).toBe(clock.t + 30_000);
    const names: string[] = [];
    for (let i = 1; i <= 3; i++) {
      clock.advance(i === 1 ? 30_000 : 60_000);
      const done = await runsDone('nightly', i);
      expect(done.status!.lastResult!.success).toBe(true);
      const msg = done.status!.lastResult!.steps![0]!.message!;
      names.push(/created Backup (\S+?)[;]?(\s|$)/.exec(msg)![1]!);
    }
    const left = await backups('nightly');
    expect(left.map((b) => b.metadata.name).sort()).toEqual(names.slice(1).sort());
    for (const b of left) {
      expect(b.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Schedule', name: 'nightly', uid: s.metadata.uid, controller: true })]);
      expect(b.spec).toEqual(expect.objectContaining({ serverRef: 'srv', note: 'nightly' }));
    }
    const st = (await get('nightly')).status!;
    expect(st.runCount).toBe(3);
    expect(st.lastScheduleTime).toBe(new Date(clock.t).toISOString());
    expect(st.nextScheduleTime).toBe(new Date(clock.t + 60_000).toISOString());
    expect(st.lastResult!.steps![0]!.message).toMatch(/retention 2: deleted /);
  });

  it('catch-up after downtime: one run for the latest missed time when within startingDeadlineSeconds', async () => {
    await create('catchup', { startingDeadlineSeconds: 60 });
    // Gantry "was down" for two hours: 120 runs were missed.
    await env.store.patchStatus('Schedule', 'default', 'catchup', { lastScheduleTime: new Date(clock.t - 2 * 3600_000).toISOString(), runCount: 5 });
    await start();
    const s = await runsDone('catchup', 6);
    expect(s.status!.lastScheduleTime).toBe(new Date(clock.t - 30_000).toISOString());
    expect(await backups('catchup')).toHaveLength(1);
    // Nothing more until the next minute.
    await new Promise((r) => setTimeout(r, 300));
    expect((await get('catchup')).status!.runCount).toBe(6);
  });

  it('catch-up beyond startingDeadlineSeconds: no run, a message and a MissedRun event', async () => {
    await create('late', { startingDeadlineSeconds: 10 });
    await env.store.patchStatus('Schedule', 'default', 'late', { lastScheduleTime: new Date(clock.t - 2 * 3600_000).toISOString(), runCount: 5 });
    await start();
    const s = await until('the missed-run message', async () => {
      const g = await get('late');
      return g.status?.message?.includes('missed') ? g : undefined;
    });
    expect(s.status!.message).toMatch(/30 s late, more than startingDeadlineSeconds 10/);
    expect(s.status!.runCount).toBe(5);
    expect(await backups('late')).toHaveLength(0);
    const evs = await env.events.list({ namespace: 'default', kind: 'Schedule', name: 'late' });
    expect(evs.map((e) => e.reason)).toContain('MissedRun');
    // The next minute runs normally.
    clock.advance(30_000);
    await runsDone('late', 6);
  });

  it('a run cut short by a controller restart is recorded as interrupted and not resumed', async () => {
    await create('cut', { schedule: '0 0 1 1 *', steps: [{ action: 'backup' }, { action: 'backup', delaySeconds: 300 }] });
    const st: ScheduleStatus = {
      active: true,
      runCount: 1,
      lastScheduleTime: new Date(clock.t - 60_000).toISOString(),
      lastResult: { startedAt: new Date(clock.t - 60_000).toISOString(), steps: [{ action: 'backup', success: true, message: 'created Backup x' }] },
    };
    await env.store.patchStatus('Schedule', 'default', 'cut', st);
    await start();
    const s = await until('interrupted', async () => {
      const g = await get('cut');
      return g.status?.active === false ? g : undefined;
    });
    expect(s.status!.lastResult).toMatchObject({ success: false, steps: [{ success: true }, { skipped: true, success: false, message: 'not run: the run was interrupted' }] });
    expect(s.status!.message).toMatch(/interrupted/);
    expect(s.status!.runCount).toBe(1);
    expect(await backups('cut')).toHaveLength(0);
  });

  it('a command step on a server that is not running fails with a clear message; continueOnFailure lets the next step run', async () => {
    await env.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name: 'srv', namespace: 'default' },
      spec: { templateRef: 'none', state: 'Stopped' },
    });
    await start();
    await create('cmd', {
      steps: [
        { action: 'command', payload: 'say restart in 5 minutes', continueOnFailure: true },
        { action: 'backup', delaySeconds: 5 },
        { action: 'command', payload: 'say bye' },
        { action: 'backup' },
      ],
    });
    await until('scheduled', async () => (await get('cmd')).status?.nextScheduleTime);
    clock.advance(30_000);
    await until('the first step written', async () => (await get('cmd')).status?.lastResult?.steps?.length === 1);
    // The delay runs on the schedule's clock.
    expect((await get('cmd')).status!.active).toBe(true);
    clock.advance(5_000);
    const s = await runsDone('cmd', 1);
    expect(s.status!.lastResult!.success).toBe(false);
    expect(s.status!.lastResult!.steps).toEqual([
      { action: 'command', success: false, message: 'server srv is not running (phase unknown); command "say restart in 5 minutes" not sent' },
      expect.objectContaining({ action: 'backup', success: true }),
      { action: 'command', success: false, message: 'server srv is not running (phase unknown); command "say bye" not sent' },
      { action: 'backup', success: false, skipped: true, message: 'not run: step 3 (command) failed' },
    ]);
    expect(s.status!.message).toMatch(/step 1 \(command\) failed/);
    expect(sent).toEqual([]);
  });

  it('concurrencyPolicy Forbid skips a run due while one is going; Replace aborts the old run for the new one', async () => {
    await start();
    const steps = [{ action: 'backup' as const }, { action: 'backup' as const, delaySeconds: 90 }];
    await create('forbid', { concurrencyPolicy: 'Forbid', steps });
    await create('replace', { concurrencyPolicy: 'Replace', steps });
    await until('scheduled', async () => (await get('forbid')).status?.nextScheduleTime && (await get('replace')).status?.nextScheduleTime);
    clock.advance(30_000); // minute 1: both start, both wait 90 s before their second step
    await until('both running', async () => (await get('forbid')).status?.lastResult?.steps?.length === 1 && (await get('replace')).status?.lastResult?.steps?.length === 1);
    clock.advance(60_000); // minute 2: still going
    const skipped = await until('the skip', async () => {
      const g = await get('forbid');
      return g.status?.message?.includes('still going') ? g : undefined;
    });
    expect(skipped.status!.runCount).toBe(1);
    const replaced = await until('the replacement', async () => {
      const g = await get('replace');
      return g.status?.runCount === 2 ? g : undefined;
    });
    expect(replaced.status!.active).toBe(true);
    await until('the replaced run reported', async () => (await get('replace')).status?.message?.includes('replaced by the run due at'));
    clock.advance(30_000); // forbid's first run finishes (90 s after minute 1)
    await runsDone('forbid', 1);
    clock.advance(30_000); // minute 3: forbid runs again; replace's run is replaced again
    await until('forbid runs at minute 3', async () => (await get('forbid')).status?.runCount === 2);
    const evs = await env.events.list({ namespace: 'default', kind: 'Schedule', name: 'forbid' });
    expect(evs.map((e) => e.reason)).toEqual(expect.arrayContaining(['RunSkipped', 'RunSucceeded']));
  });

  it('requestScheduleRun runs a yearly Schedule once now, without moving lastScheduleTime', async () => {
    await start();
    await create('manual', { schedule: '0 0 1 1 *' });
    await until('scheduled', async () => (await get('manual')).status?.nextScheduleTime);
    await requestScheduleRun(env.store, 'default', 'manual', new Date(clock.t));
    const s = await runsDone('manual', 1);
    expect(s.status!.lastScheduleTime).toBeUndefined();
    expect(await backups('manual')).toHaveLength(1);
    // Handled: more reconciles do not run it again.
    await env.store.patch('Schedule', 'default', 'manual', { metadata: { labels: { touched: 'yes' } } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await get('manual')).status!.runCount).toBe(1);
  });

  it('an invalid expression is reported in status naming the field; fixing it schedules again', async () => {
    await start();
    await create('bad', { schedule: '0 0 * 13 *' });
    await until('the complaint', async () => (await get('bad')).status?.message === 'month: 13 is out of range 1-12');
    await env.store.patch('Schedule', 'default', 'bad', { spec: { schedule: '0 0 * 12 *' } });
    const s = await until('fixed', async () => {
      const g = await get('bad');
      return g.status?.nextScheduleTime && !g.status.message ? g : undefined;
    });
    expect(s.status!.observedGeneration).toBe(2);
  });
});
