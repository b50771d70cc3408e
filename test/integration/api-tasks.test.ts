// Scheduled tasks over HTTP ↔ Schedule resources (real SQLite store): create maps to a one-step
// Schedule with the right spec and nextRunAt; bad cron and payloads are 400 naming the field; list,
// update and delete honour task.* on the task's server (another user's task is 404, a read-only subuser
// gets 403); execute runs the task through a real Schedule controller (a backup step creates a Backup).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { ANNOTATION_TASK_NAME, LABEL_SERVER } from '../../api/routes/tasks.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import { addScheduleController, type ScheduleController } from '../../controller/reconcilers/schedule/reconciler.ts';
import { ANNOTATION_RUN_REQUESTED } from '../../controller/reconcilers/schedule/plan.ts';
import { LABEL_SCHEDULE } from '../../controller/reconcilers/schedule/steps.ts';
import type { Backup, GameServer, Schedule } from '../../crds/types.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

describe('tasks API ↔ Schedule', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  let admin: SignedIn, owner: SignedIn, other: SignedIn, reader: SignedIn;

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);
  const schedule = (id: string) => env.store.get<Schedule>('Schedule', 'default', id);

  beforeAll(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000 } } });
    ({ env, svc } = api);
    admin = await signInAdmin(svc);
    owner = await signIn(svc, 'owner');
    other = await signIn(svc, 'other');
    reader = await signIn(svc, 'reader');
    for (const [name, who] of [['mc', owner], ['theirs', other]] as const) {
      await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', owner: who.userId } });
    }
    await svc.accounts.setServerGrant('default', 'mc', reader.userId, ['server.read', 'task.read']);
  });
  afterAll(() => env.close());

  it('creates a one-step Schedule in the Catalyst shape, with nextRunAt before the controller looked', async () => {
    const before = Date.now();
    const r = await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Daily Restart', action: 'restart', schedule: '0 3 * * *', enabled: true });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const t = r.body.data;
    expect(t).toMatchObject({ serverId: 'mc', name: 'Daily Restart', action: 'restart', schedule: '0 3 * * *', payload: null, enabled: true, lastRunAt: null, runCount: 0, timeZone: 'UTC' });
    expect(t.id).toMatch(/^daily-restart-[a-z0-9]{5}$/);
    const next = new Date(t.nextRunAt);
    expect(next.getUTCHours()).toBe(3);
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime() - before).toBeLessThanOrEqual(24 * 3600_000);
    const s = await schedule(t.id);
    expect(s.spec).toMatchObject({ serverRef: 'mc', schedule: '0 3 * * *', timeZone: 'UTC', steps: [{ action: 'restart' }], suspend: false });
    expect(s.metadata.labels?.[LABEL_SERVER]).toBe('mc');
    expect(s.metadata.annotations?.[ANNOTATION_TASK_NAME]).toBe('Daily Restart');
    expect(t.createdAt).toBe(s.metadata.creationTimestamp);
  });

  it('command tasks carry payload.command; multi-step tasks and time zones are reachable', async () => {
    const cmd = await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Announce', action: 'command', schedule: '0 12 * * *', payload: { command: 'say hi' }, enabled: false });
    expect(cmd.status).toBe(201);
    expect(cmd.body.data).toMatchObject({ action: 'command', payload: { command: 'say hi' }, enabled: false, nextRunAt: null });
    expect((await schedule(cmd.body.data.id)).spec).toMatchObject({ steps: [{ action: 'command', payload: 'say hi' }], suspend: true });

    const multi = await call(owner, 'POST', '/api/tasks', {
      serverId: 'mc', name: 'Warned restart', schedule: '30 4 * * 1', timeZone: 'Europe/Berlin',
      steps: [{ action: 'command', payload: 'say restart in 5 min' }, { action: 'restart', delaySeconds: 300 }],
    });
    expect(multi.status, JSON.stringify(multi.body)).toBe(201);
    expect(multi.body.data).toMatchObject({ action: 'steps', payload: null, timeZone: 'Europe/Berlin', steps: [{ action: 'command' }, { action: 'restart', delaySeconds: 300 }] });
    // 04:30 in Berlin is 02:30 or 03:30 UTC depending on DST, on a Monday.
    const next = new Date(multi.body.data.nextRunAt);
    expect(next.getUTCDay()).toBe(1);
    expect([2, 3]).toContain(next.getUTCHours());
  });

  it('refuses bad input with 400 naming the field, and writes nothing', async () => {
    const count = async () => (await env.store.list('Schedule', { namespace: 'default' })).items.length;
    const n = await count();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ serverId: 'mc', name: 'x', action: 'restart', schedule: '0 25 * * *' }, /schedule: hour: 25 is out of range 0-23/],
      [{ serverId: 'mc', name: 'x', action: 'restart', schedule: '0 3 * *' }, /schedule: .*exactly 5 are needed/],
      [{ serverId: 'mc', name: 'x', action: 'restart', schedule: '0 3 * * *', timeZone: 'Mars/Olympus' }, /timeZone: "Mars\/Olympus" is not a known IANA time zone/],
      [{ serverId: 'mc', name: 'x', action: 'command', schedule: '0 3 * * *' }, /payload\.command: is required/],
      [{ serverId: 'mc', name: 'x', action: 'restart', schedule: '0 3 * * *', payload: { command: 'say' } }, /payload\.command: only a command task/],
      [{ serverId: 'mc', name: 'x', action: 'explode', schedule: '0 3 * * *' }, /action: must be one of/],
      [{ serverId: 'mc', name: 'x', schedule: '0 3 * * *' }, /action: is required/],
      [{ serverId: 'mc', name: 'x', schedule: '0 3 * * *', steps: [{ action: 'command' }] }, /steps\.0\.payload/],
      [{ serverId: 'mc', name: 'x', action: 'restart', schedule: '0 3 * * *', steps: [{ action: 'stop' }] }, /either action .* or steps/],
    ];
    for (const [body, msg] of cases) {
      const r = await call(owner, 'POST', '/api/tasks', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.message).toMatch(msg);
    }
    expect(await count()).toBe(n);
  });

  it('lists only the tasks on servers the caller may read tasks of', async () => {
    const theirs = await call(other, 'POST', '/api/tasks', { serverId: 'theirs', name: 'Their backup', action: 'backup', schedule: '0 5 * * *' });
    expect(theirs.status).toBe(201);
    const ids = async (who: SignedIn, q = '') => ((await call(who, 'GET', `/api/tasks${q}`)).body.data as { id: string; serverId: string }[]).map((t) => t.serverId);
    expect(new Set(await ids(owner))).toEqual(new Set(['mc']));
    expect(await ids(other)).toEqual(['theirs']);
    expect(new Set(await ids(reader))).toEqual(new Set(['mc']));
    expect(new Set(await ids(admin))).toEqual(new Set(['mc', 'theirs']));
    expect(new Set(await ids(admin, '?serverId=theirs'))).toEqual(new Set(['theirs']));
    // Filtering by a server the caller cannot see answers like the server's own routes.
    const r = await call(owner, 'GET', '/api/tasks?serverId=theirs');
    expect(r.status).toBe(404);
    expect(r.body.message).toMatch(/server "theirs" not found/);
  });

  it('updates: enabled ↔ suspend, schedule (validated), payload, name', async () => {
    const t = (await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Say', action: 'command', schedule: '0 12 * * *', payload: { command: 'say a' } })).body.data;
    let r = await call(owner, 'PUT', `/api/tasks/${t.id}`, { enabled: false, schedule: '0 4 * * *' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toMatchObject({ enabled: false, schedule: '0 4 * * *', nextRunAt: null });
    expect((await schedule(t.id)).spec).toMatchObject({ suspend: true, schedule: '0 4 * * *', steps: [{ action: 'command', payload: 'say a' }] });

    r = await call(owner, 'PUT', `/api/tasks/${t.id}`, { enabled: true, payload: { command: 'say b' }, name: 'Say b' });
    expect(r.body.data).toMatchObject({ enabled: true, name: 'Say b', payload: { command: 'say b' } });
    expect(new Date(r.body.data.nextRunAt).getUTCHours()).toBe(4);
    expect((await schedule(t.id)).spec?.steps).toEqual([{ action: 'command', payload: 'say b', delaySeconds: 0, continueOnFailure: false }]);

    r = await call(owner, 'PUT', `/api/tasks/${t.id}`, { action: 'restart' });
    expect(r.body.data).toMatchObject({ action: 'restart', payload: null });
    expect((await schedule(t.id)).spec?.steps[0]?.payload).toBeUndefined();

    const gen = (await schedule(t.id)).metadata.generation;
    r = await call(owner, 'PUT', `/api/tasks/${t.id}`, { schedule: '61 * * * *' });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/schedule: minute: 61 is out of range 0-59/);
    expect((await schedule(t.id)).metadata.generation).toBe(gen);
  });

  it('answers 404 for another user\'s task and 403 to a subuser without the permission', async () => {
    const theirs = (await call(other, 'POST', '/api/tasks', { serverId: 'theirs', name: 'Theirs', action: 'stop', schedule: '0 1 * * *' })).body.data;
    for (const [method, suffix, body] of [['GET', '', undefined], ['PUT', '', { enabled: false }], ['DELETE', '', undefined], ['POST', '/execute', undefined]] as const) {
      const r = await call(owner, method, `/api/tasks/${theirs.id}${suffix}`, body);
      expect(r.status, `${method} ${suffix}`).toBe(404);
      expect(r.body.message).toMatch(/Task not found/);
    }
    expect((await schedule(theirs.id)).spec?.suspend).toBe(false);

    const mine = (await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Mine', action: 'stop', schedule: '0 1 * * *' })).body.data;
    expect((await call(reader, 'GET', `/api/tasks/${mine.id}`)).status).toBe(200);
    const r = await call(reader, 'PUT', `/api/tasks/${mine.id}`, { enabled: false });
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/task\.update/);
    expect((await call(reader, 'POST', `/api/tasks/${mine.id}/execute`)).status).toBe(403);
    expect((await call(reader, 'POST', '/api/tasks', { serverId: 'mc', name: 'x', action: 'stop', schedule: '0 1 * * *' })).status).toBe(403);
    expect((await call(admin, 'GET', `/api/tasks/${mine.id}`)).status).toBe(200);
  });

  it('deletes the Schedule', async () => {
    const t = (await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Gone', action: 'kill', schedule: '0 2 * * *' })).body.data;
    const r = await call(owner, 'DELETE', `/api/tasks/${t.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, message: 'Task deleted' });
    await expect(schedule(t.id)).rejects.toMatchObject({ code: 404 });
    expect((await call(owner, 'GET', `/api/tasks/${t.id}`)).status).toBe(404);
  });

  it('refuses to execute a task of a suspended server (423)', async () => {
    await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'frozen', namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    const t = (await call(owner, 'POST', '/api/tasks', { serverId: 'frozen', name: 'F', action: 'stop', schedule: '0 1 * * *' })).body.data;
    await env.store.patch('GameServer', 'default', 'frozen', { spec: { suspended: true, suspendReason: 'unpaid' } });
    const r = await call(owner, 'POST', `/api/tasks/${t.id}/execute`);
    expect(r.status).toBe(423);
    expect(r.body.message).toMatch(/unpaid/);
    expect((await schedule(t.id)).metadata.annotations?.[ANNOTATION_RUN_REQUESTED]).toBeUndefined();
  });

  describe('with a running Schedule controller', () => {
    let mgr: Manager;
    let ctl: ScheduleController;
    beforeAll(async () => {
      mgr = new Manager({ store: env.store, log: env.log });
      ctl = addScheduleController(mgr, { store: env.store, events: env.events, log: env.log, sendCommand: async () => {} });
      await mgr.start();
    });
    afterAll(async () => {
      await ctl.stop();
      await mgr.stop();
    });

    it('execute runs the task now, once, even while it is disabled', async () => {
      // A schedule that will not fire during the test (February 29 at 00:00), disabled as well.
      const t = (await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Nightly backup', action: 'backup', schedule: '0 0 29 2 *', payload: { note: 'by hand' }, enabled: false })).body.data;
      expect(t.payload).toEqual({ note: 'by hand' });
      const r = await call(owner, 'POST', `/api/tasks/${t.id}/execute`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ success: true, message: 'Task execution queued' });
      expect((await schedule(t.id)).metadata.annotations?.[ANNOTATION_RUN_REQUESTED]).toBe(r.body.data.requestedAt);

      const after = await until('the run to complete', async () => {
        const got = (await call(owner, 'GET', `/api/tasks/${t.id}`)).body.data;
        return got.lastResult?.completedAt ? got : undefined;
      }, 20_000);
      expect(after).toMatchObject({ runCount: 1, enabled: false, lastResult: { success: true, steps: [{ action: 'backup', success: true }] } });
      expect(Date.parse(after.lastRunAt)).toBeGreaterThanOrEqual(Date.parse(r.body.data.requestedAt));
      const backups = (await env.store.list<Backup>('Backup', { namespace: 'default', labelSelector: `${LABEL_SCHEDULE}=${t.id}` })).items;
      expect(backups.map((b) => [b.spec?.serverRef, b.spec?.note])).toEqual([['mc', 'by hand']]);
    });

    it('nextRunAt comes from the controller\'s status once it has looked', async () => {
      const t = (await call(owner, 'POST', '/api/tasks', { serverId: 'mc', name: 'Weekly', action: 'stop', schedule: '15 6 * * 0' })).body.data;
      const s = await until('status.nextScheduleTime', async () => ((await schedule(t.id)).status?.nextScheduleTime ? schedule(t.id) : undefined), 20_000);
      const got = (await call(owner, 'GET', `/api/tasks/${t.id}`)).body.data;
      expect(got.nextRunAt).toBe(s.status!.nextScheduleTime);
      expect(got.nextRunAt).toBe(t.nextRunAt);
    });
  });
});
