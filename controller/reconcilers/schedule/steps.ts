// What one Schedule step does to its GameServer. Lifecycle steps are the operations layer's spec edits
// (controller/operations/: the same ones every REST facade makes) followed by its wait for the goal,
// served from the shared informer, so the next step (a console command after a restart) meets the
// server in the state it expects.
//
// Decisions:
// - restart on a server whose spec.state is Stopped is SKIPPED (success, skipped: true): a schedule
//   must not bring back a server its operator stopped (the GameServer controller treats a restart
//   trigger on a Stopped server the same way). Use a start step to start it.
// - command on a server that is not running fails with a message naming its phase; continueOnFailure
//   decides whether later steps run.
// - backup creates a Backup owned by the Schedule (labelled gantry.dev/schedule) and succeeds once it
//   is created: the Backup controller does the work, and the Backup's own status tells how it went.
//   Then retention deletes this Schedule's Backups beyond backupRetention.keep, newest kept.
import type { Backup, GameServer, Schedule, ScheduleStep, ScheduleStepResult } from '../../../crds/types.ts';
import type { Logger } from '../../../lib/log.ts';
import type { Clock } from '../../runtime/workqueue.ts';
import type { ResourceStore } from '../../store/types.ts';
import { StoreError } from '../../store/errors.ts';
import type { Operations } from '../../operations/index.ts';
import type { ServerChange } from '../../operations/servers.ts';
import { dataNode } from '../../../crds/placement.ts';

export const LABEL_SCHEDULE = 'gantry.dev/schedule';
/** When the schedule's clock made the Backup (ms precision; creationTimestamp has only seconds). */
export const ANNOTATION_SCHEDULED_AT = 'gantry.dev/scheduled-at';

export interface StepContext {
  store: ResourceStore;
  /** The operations layer (spec edits, goals, waits) built on this controller's informers and clock. */
  ops: Operations;
  /** Sends a console line to the server's container on its node. */
  sendCommand(node: string, uid: string, line: string): Promise<void>;
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
  /** How long start/stop/restart/kill wait for the server to reach the goal. */
  waitTimeoutMs: number;
  schedule: Schedule;
  /** The scheduled time of the run (names and annotates backups). */
  scheduledTime: Date;
}

export class AbortedError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'AbortedError';
  }
}

/** Waits ms on the clock; rejects with AbortedError when the signal fires. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError(String(signal.reason ?? 'aborted')));
    const onAbort = () => {
      clock.clearTimeout(h);
      reject(new AbortedError(String(signal.reason ?? 'aborted')));
    };
    const h = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const ok = (step: ScheduleStep, message: string, skipped = false): ScheduleStepResult => ({ action: step.action, success: true, message, ...(skipped ? { skipped } : {}) });
const fail = (step: ScheduleStep, message: string): ScheduleStepResult => ({ action: step.action, success: false, message });

async function getServer(ctx: StepContext): Promise<GameServer> {
  const ns = ctx.schedule.metadata.namespace ?? 'default';
  return ctx.store.get<GameServer>('GameServer', ns, ctx.schedule.spec!.serverRef);
}

const phaseOf = (s?: GameServer) => s?.status?.phase ?? 'unknown';
const detail = (s?: GameServer) => `phase ${phaseOf(s)}${s?.status?.message ? `: ${s.status.message}` : ''}`;

/** Applies the change's goal wait; the step's result. */
async function awaitGoal(ctx: StepContext, step: ScheduleStep, change: ServerChange, what: string, done: string): Promise<ScheduleStepResult> {
  const r = await ctx.ops.servers.wait(change, { timeoutMs: ctx.waitTimeoutMs, signal: ctx.signal });
  if (ctx.signal.aborted) throw new AbortedError(String(ctx.signal.reason ?? 'aborted'));
  if (r.reached) return ok(step, done);
  if (r.deleted) return fail(step, `GameServer ${ctx.schedule.spec!.serverRef} was deleted while waiting for ${what}`);
  if (r.settled) return fail(step, `the server cannot become ${what} now (${detail(r.object)})`);
  return fail(step, `the server did not become ${what} within ${Math.round(ctx.waitTimeoutMs / 1000)} s (${detail(r.object)})`);
}

/** Runs one step; never throws except AbortedError (the run was replaced or the Schedule deleted). */
export async function runStep(step: ScheduleStep, index: number, ctx: StepContext): Promise<ScheduleStepResult> {
  try {
    return await runStepUnsafe(step, index, ctx);
  } catch (err) {
    if (err instanceof AbortedError) throw err;
    const e = err as Error & { code?: number };
    if (err instanceof StoreError && e.code === 404) return fail(step, `GameServer ${ctx.schedule.spec!.serverRef} not found in namespace ${ctx.schedule.metadata.namespace ?? 'default'}`);
    return fail(step, e.message);
  }
}

async function runStepUnsafe(step: ScheduleStep, index: number, ctx: StepContext): Promise<ScheduleStepResult> {
  const name = ctx.schedule.spec!.serverRef;
  const server = step.action === 'backup' ? undefined : await getServer(ctx);
  const suspended = server?.spec?.suspended;
  const ops = ctx.ops.servers;

  switch (step.action) {
    case 'command': {
      const phase = phaseOf(server);
      if (phase !== 'running') return fail(step, `server ${name} is not running (phase ${phase}); command "${step.payload}" not sent`);
      const node = dataNode(server!);
      if (!node) return fail(step, `server ${name} has no node; command not sent`);
      await ctx.sendCommand(node, server!.metadata.uid!, step.payload ?? '');
      return ok(step, `sent "${step.payload}"`);
    }
    case 'start':
      if (suspended) return fail(step, `server ${name} is suspended; not started`);
      if (server!.spec?.state === 'Running' && phaseOf(server) === 'running') return ok(step, 'already running');
      return awaitGoal(ctx, step, await ops.start(server!), 'running', 'started');
    case 'stop':
      if (server!.spec?.state === 'Stopped' && phaseOf(server) === 'stopped') return ok(step, 'already stopped');
      return awaitGoal(ctx, step, await ops.stop(server!), 'stopped', 'stopped');
    case 'restart':
      if (suspended) return fail(step, `server ${name} is suspended; not restarted`);
      if (server!.spec?.state !== 'Running') return ok(step, `server ${name} is Stopped (spec.state); restart skipped: a schedule does not start a server its operator stopped (use a start step)`, true);
      return awaitGoal(ctx, step, await ops.restart(server!), 'running again', 'restarted');
    case 'kill':
      return awaitGoal(ctx, step, await ops.kill(server!), 'stopped', 'killed');
    case 'backup':
      return backupStep(step, index, ctx);
  }
  return fail(step, `unknown action "${String((step as ScheduleStep).action)}"`);
}

async function backupStep(step: ScheduleStep, index: number, ctx: StepContext): Promise<ScheduleStepResult> {
  const sched = ctx.schedule;
  const ns = sched.metadata.namespace ?? 'default';
  // The Backup records which server it is of; a missing server leaves it pending, as before.
  const server = await getServer(ctx).catch((err) => {
    if (err instanceof StoreError && err.code === 404) return undefined;
    throw err;
  });
  const at = new Date(ctx.clock.now()).toISOString();
  const created = await ctx.ops.backups.create(server ?? { metadata: { name: sched.spec!.serverRef, namespace: ns } }, {
    // A random suffix: two runs within one second, or two backup steps in one run, never collide.
    generateName: `${sched.metadata.name.slice(0, 200)}-`,
    labels: { [LABEL_SCHEDULE]: sched.metadata.name.slice(0, 63) },
    annotations: { [ANNOTATION_SCHEDULED_AT]: at, 'gantry.dev/schedule-step': String(index) },
    owner: { apiVersion: sched.apiVersion, kind: 'Schedule', name: sched.metadata.name, uid: sched.metadata.uid!, controller: true },
    ...(step.payload ? { note: step.payload } : {}),
  });
  let msg = `created Backup ${created.metadata.name}`;
  const keep = sched.spec!.backupRetention?.keep;
  if (keep) {
    const deleted = await applyRetention(ctx.store, sched, keep);
    if (deleted.length) msg += `; retention ${keep}: deleted ${deleted.join(', ')}`;
  }
  return ok(step, msg);
}

/** Deletes the Schedule's Backups beyond the `keep` newest; returns the names deleted. */
export async function applyRetention(store: ResourceStore, sched: Schedule, keep: number): Promise<string[]> {
  const ns = sched.metadata.namespace ?? 'default';
  const list = await store.list<Backup>('Backup', { namespace: ns, labelSelector: `${LABEL_SCHEDULE}=${sched.metadata.name.slice(0, 63)}` });
  const mine = list.items.filter((b) => !b.metadata.deletionTimestamp && (b.metadata.ownerReferences ?? []).some((r) => r.kind === 'Schedule' && r.uid === sched.metadata.uid));
  const when = (b: Backup) => b.metadata.annotations?.[ANNOTATION_SCHEDULED_AT] ?? b.metadata.creationTimestamp ?? '';
  mine.sort((a, b) => when(b).localeCompare(when(a)) || b.metadata.name.localeCompare(a.metadata.name));
  const deleted: string[] = [];
  for (const b of mine.slice(keep)) {
    try {
      await store.delete('Backup', ns, b.metadata.name);
      deleted.push(b.metadata.name);
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 404)) throw err;
    }
  }
  return deleted;
}
