// Scheduled tasks (Catalyst "Scheduled Tasks") ↔ Schedule resources in the Catalyst namespace.
//
// A Catalyst task is one action on a cron schedule; a Schedule is a list of steps. A task created here
// is a Schedule with one step, unless the caller sends `steps` (Gantry's extension), and every
// Schedule — also those from manifests or kubectl — is listed as a task. A Schedule of several steps
// answers `action: "steps"` with the list in `steps`, since no single Catalyst action describes it.
//
// The routes carry no :serverId, so the pipeline only authenticates; each handler loads the Schedule,
// then its GameServer, and checks task.* there (owner, subuser or global grant). A task on a server the
// caller cannot see is answered 404, like the server itself.
import type { GameServer, Schedule, ScheduleAction, ScheduleSpec, ScheduleStatus, ScheduleStep } from '../../crds/types.ts';
import { parseCron } from '../../controller/reconcilers/schedule/cron.ts';
import { ANNOTATION_DISPLAY_NAME, LABEL_SERVER } from '../../controller/operations/schedules.ts';
import { route, ok, done, type RouteSpec, type JsonSchema } from '../http/route.ts';
import { badRequest, forbidden, notFound } from '../http/errors.ts';
import { can, type Principal } from '../rbac/access.ts';
import { getOrUndefined, slugify } from '../catalyst/common.ts';
import type { ApiServices } from '../http/services.ts';

/** The task's Catalyst name (a Schedule has no display name of its own). */
export const ANNOTATION_TASK_NAME = ANNOTATION_DISPLAY_NAME;
export { LABEL_SERVER };

const ACTIONS: ScheduleAction[] = ['start', 'stop', 'restart', 'kill', 'backup', 'command'];

export interface CatalystTask {
  id: string;
  serverId: string;
  name: string;
  action: ScheduleAction | 'steps';
  schedule: string;
  payload: Record<string, unknown> | null;
  enabled: boolean;
  lastRunAt: string | null;
  nextRunAt: string | null;
  runCount: number;
  createdAt: string | null;
  timeZone: string;
  steps: ScheduleStep[];
  onlyWhenRunning: boolean;
  concurrencyPolicy: string;
  lastResult: ScheduleStatus['lastResult'] | null;
  /** The Schedule controller's last word (a skipped run, a bad expression, …). */
  message: string | null;
}

function payloadOf(step: ScheduleStep): Record<string, unknown> | null {
  if (step.payload === undefined) return null;
  return step.action === 'command' ? { command: step.payload } : { note: step.payload };
}

/** The time the next run is due: the controller's status, or (before it looked) the expression's. */
function nextRun(s: Schedule, now: number): string | null {
  if (s.spec?.suspend) return null;
  if (s.status?.nextScheduleTime) return s.status.nextScheduleTime;
  try {
    return parseCron(s.spec!.schedule, s.spec!.timeZone ?? 'UTC').next(new Date(now))?.toISOString() ?? null;
  } catch {
    return null;
  }
}

export function toCatalystTask(s: Schedule, now: number): CatalystTask {
  const spec = s.spec!;
  const st = s.status ?? {};
  const single = spec.steps.length === 1 ? spec.steps[0]! : undefined;
  return {
    id: s.metadata.name,
    serverId: spec.serverRef,
    name: s.metadata.annotations?.[ANNOTATION_TASK_NAME] ?? s.metadata.name,
    action: single ? single.action : 'steps',
    schedule: spec.schedule,
    payload: single ? payloadOf(single) : null,
    enabled: !spec.suspend,
    // A run by hand does not move lastScheduleTime; the last run's start covers both kinds.
    lastRunAt: st.lastResult?.startedAt ?? st.lastScheduleTime ?? null,
    nextRunAt: nextRun(s, now),
    runCount: st.runCount ?? 0,
    createdAt: s.metadata.creationTimestamp ?? null,
    timeZone: spec.timeZone ?? 'UTC',
    steps: spec.steps,
    onlyWhenRunning: spec.onlyWhenRunning ?? false,
    concurrencyPolicy: spec.concurrencyPolicy ?? 'Forbid',
    lastResult: st.lastResult ?? null,
    message: st.message ?? null,
  };
}

// ---- body schemas ---------------------------------------------------------------------------------

const payloadSchema: JsonSchema = {
  type: ['object', 'null'],
  description: '{command} for a command task; {note} (the backup\'s note) for a backup task',
  properties: { command: { type: 'string', minLength: 1, maxLength: 4096 }, note: { type: 'string', minLength: 1, maxLength: 4096 } },
  additionalProperties: false,
};

const stepSchema: JsonSchema = {
  type: 'object',
  required: ['action'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', enum: ACTIONS },
    payload: { type: 'string', minLength: 1, maxLength: 4096 },
    delaySeconds: { type: 'integer', minimum: 0, maximum: 86400 },
    continueOnFailure: { type: 'boolean' },
  },
};

function taskBodySchema(create: boolean): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    ...(create ? { required: ['serverId', 'name', 'schedule'] } : {}),
    properties: {
      ...(create ? { serverId: { type: 'string', minLength: 1, maxLength: 253 } } : {}),
      name: { type: 'string', minLength: 1, maxLength: 128 },
      action: { type: 'string', enum: ACTIONS, description: 'One action (Catalyst); or give steps instead' },
      schedule: { type: 'string', minLength: 1, maxLength: 256, description: '5-field cron: minute hour day-of-month month day-of-week' },
      payload: payloadSchema,
      enabled: { type: 'boolean' },
      timeZone: { type: 'string', minLength: 1, maxLength: 64, description: 'IANA time zone the schedule is read in (default UTC)' },
      steps: { type: 'array', minItems: 1, maxItems: 32, items: stepSchema, description: 'Several actions in order (replaces action/payload)' },
      onlyWhenRunning: { type: 'boolean' },
      concurrencyPolicy: { type: 'string', enum: ['Allow', 'Forbid', 'Replace'] },
    },
  };
}

interface TaskBody {
  serverId?: string;
  name?: string;
  action?: ScheduleAction;
  schedule?: string;
  payload?: { command?: string; note?: string } | null;
  enabled?: boolean;
  timeZone?: string;
  steps?: ScheduleStep[];
  onlyWhenRunning?: boolean;
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
}

/** The one step of a Catalyst action + payload; 400 naming the field when they do not fit together. */
function stepOf(action: ScheduleAction, payload: TaskBody['payload']): ScheduleStep {
  if (action === 'command') {
    if (!payload?.command) throw badRequest('payload.command: is required for action "command" (the console command to send)', 'invalid_body');
    if (payload.note !== undefined) throw badRequest('payload.note: only a backup task takes a note', 'invalid_body');
    return { action, payload: payload.command };
  }
  if (payload?.command !== undefined) throw badRequest(`payload.command: only a command task sends a console command, not a ${action} task`, 'invalid_body');
  if (payload?.note !== undefined && action !== 'backup') throw badRequest(`payload.note: only a backup task takes a note, not a ${action} task`, 'invalid_body');
  return payload?.note !== undefined ? { action, payload: payload.note } : { action };
}

// ---- loading and authorising --------------------------------------------------------------------

async function serverOf(svc: ApiServices, s: Schedule): Promise<GameServer | undefined> {
  return svc.servers.find(s.spec?.serverRef ?? '');
}

/**
 * The Schedule behind a task id, authorised for `permission` on its server. 404 when it does not exist
 * or the caller cannot see its server; a Schedule whose server is gone needs the global grant.
 */
async function loadTask(svc: ApiServices, principal: Principal, id: string, permission: string): Promise<{ sched: Schedule; server?: GameServer }> {
  const sched = await getOrUndefined<Schedule>(svc.store, 'Schedule', svc.servers.namespace, id);
  const missing = () => notFound(`Task not found: "${id.slice(0, 100)}"`);
  if (!sched || !sched.spec) throw missing();
  const server = await serverOf(svc, sched);
  if (!server) {
    if (can(principal, permission)) return { sched };
    throw can(principal, 'task.read') ? forbidden(`You do not have permission to perform this action (requires ${permission})`, 'missing_permission') : missing();
  }
  if (svc.access.can(principal, server, permission)) return { sched, server };
  if (!svc.access.visible(principal, server)) throw missing();
  throw forbidden(`You do not have permission to perform this action (requires ${permission} on server ${server.metadata.name})`, 'missing_permission');
}

/** The server a new task is for, authorised: 404 unless the caller sees it, 403 without the permission. */
async function authorisedServer(svc: ApiServices, principal: Principal, serverId: string, permission: string): Promise<GameServer> {
  const server = await svc.servers.find(serverId);
  if (!server) throw notFound(`server "${serverId.slice(0, 100)}" not found`);
  svc.access.check(principal, server, permission);
  return server;
}

export const taskRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/tasks',
    summary: 'List scheduled tasks (those on servers where the caller holds task.read)',
    tag: 'tasks',
    access: 'authenticated',
    query: { serverId: { type: 'string', maxLength: 253, description: 'Only the tasks of this server' } },
    handler: async ({ c, svc, principal, query }) => {
      const now = svc.now();
      const all = (await svc.store.list<Schedule>('Schedule', { namespace: svc.servers.namespace })).items.filter((s) => s.spec);
      if (query.serverId) {
        // A global grant also lists the tasks of a server that no longer exists.
        if (!can(principal!, 'task.read')) await authorisedServer(svc, principal!, query.serverId as string, 'task.read');
        return ok(c, all.filter((s) => s.spec!.serverRef === query.serverId).map((s) => toCatalystTask(s, now)));
      }
      if (can(principal!, 'task.read')) return ok(c, all.map((s) => toCatalystTask(s, now)));
      const servers = new Map((await svc.servers.list()).map((s) => [s.metadata.name, s]));
      const mayRead = new Map<string, boolean>();
      const visible = all.filter((s) => {
        const ref = s.spec!.serverRef;
        if (!mayRead.has(ref)) {
          const server = servers.get(ref);
          mayRead.set(ref, !!server && svc.access.can(principal!, server, 'task.read'));
        }
        return mayRead.get(ref);
      });
      return ok(c, visible.map((s) => toCatalystTask(s, now)));
    },
  }),

  route({
    method: 'GET',
    path: '/api/tasks/:taskId',
    summary: 'Get one scheduled task, with its last run',
    tag: 'tasks',
    access: 'authenticated',
    handler: async ({ c, svc, principal, params }) => {
      const { sched } = await loadTask(svc, principal!, params.taskId!, 'task.read');
      return ok(c, toCatalystTask(sched, svc.now()));
    },
  }),

  route({
    method: 'POST',
    path: '/api/tasks',
    summary: 'Create a scheduled task (a Schedule): one action, or several steps',
    tag: 'tasks',
    access: 'authenticated',
    audit: 'task.create',
    body: taskBodySchema(true),
    responses: { 201: 'Created', 400: 'Bad cron expression, time zone, action or payload', 404: 'Server not found' },
    handler: async ({ c, svc, principal, body, audit }) => {
      const b = body as TaskBody;
      const server = await authorisedServer(svc, principal!, b.serverId!, 'task.create');
      audit.resourceType = 'task';
      audit.metadata.serverId = server.metadata.name;
      let steps: ScheduleStep[];
      if (b.steps) {
        if (b.action !== undefined || (b.payload !== undefined && b.payload !== null)) throw badRequest('steps: give either action (with payload) or steps, not both', 'invalid_body');
        steps = b.steps;
      } else {
        if (!b.action) throw badRequest(`action: is required (one of ${ACTIONS.join(', ')}), or give steps`, 'invalid_body');
        steps = [stepOf(b.action, b.payload)];
      }
      // The id is made from the task's name; the store appends a random suffix, so two servers' "Daily
      // Restart" tasks never collide.
      const created = await svc.ops.schedules.create(server, {
        displayName: b.name!,
        generateName: (slugify(b.name!, 40) || 'task') + '-',
        schedule: b.schedule!,
        timeZone: b.timeZone,
        steps,
        suspend: b.enabled === false,
        onlyWhenRunning: b.onlyWhenRunning,
        concurrencyPolicy: b.concurrencyPolicy,
      });
      audit.resourceId = created.metadata.name;
      return ok(c, toCatalystTask(created, svc.now()), 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/tasks/:taskId',
    summary: 'Change a scheduled task (fields left out are kept; enabled: false suspends it)',
    tag: 'tasks',
    access: 'authenticated',
    audit: 'task.update',
    body: taskBodySchema(false),
    handler: async ({ c, svc, principal, body, params, audit }) => {
      const b = body as TaskBody;
      audit.resourceType = 'task';
      audit.resourceId = params.taskId;
      const { sched } = await loadTask(svc, principal!, params.taskId!, 'task.update');
      const spec = sched.spec!;
      const patch: Partial<ScheduleSpec> = {};
      if (b.steps) {
        if (b.action !== undefined || (b.payload !== undefined && b.payload !== null)) throw badRequest('steps: give either action (with payload) or steps, not both', 'invalid_body');
        patch.steps = b.steps;
      } else if (b.action !== undefined || b.payload !== undefined) {
        // A payload alone changes the one step's payload; an action alone keeps a fitting payload.
        const current = spec.steps.length === 1 ? spec.steps[0]! : undefined;
        const action = b.action ?? current?.action;
        if (!action) throw badRequest('action: is required to give a payload to a task of several steps; or send steps', 'invalid_body');
        const payload = b.payload !== undefined ? b.payload : current && current.action === action ? payloadOf(current) : null;
        const step = stepOf(action, payload as TaskBody['payload']);
        // Keep the step's delay and failure handling: only what Catalyst names changes.
        const kept: ScheduleStep = current ? { ...current, action: step.action } : step;
        if (step.payload === undefined) delete kept.payload;
        else kept.payload = step.payload;
        patch.steps = [kept];
      }
      if (b.schedule !== undefined) patch.schedule = b.schedule;
      if (b.timeZone !== undefined) patch.timeZone = b.timeZone;
      if (b.enabled !== undefined) patch.suspend = !b.enabled;
      if (b.onlyWhenRunning !== undefined) patch.onlyWhenRunning = b.onlyWhenRunning;
      if (b.concurrencyPolicy !== undefined) patch.concurrencyPolicy = b.concurrencyPolicy;
      const updated = await svc.ops.schedules.update(sched, patch, { displayName: b.name });
      return ok(c, toCatalystTask(updated, svc.now()));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/tasks/:taskId',
    summary: 'Delete a scheduled task (a run in progress is aborted)',
    tag: 'tasks',
    access: 'authenticated',
    audit: 'task.delete',
    handler: async ({ c, svc, principal, params, audit }) => {
      audit.resourceType = 'task';
      audit.resourceId = params.taskId;
      const { sched } = await loadTask(svc, principal!, params.taskId!, 'task.delete');
      await svc.ops.schedules.delete(sched);
      return done(c, 'Task deleted');
    },
  }),

  route({
    method: 'POST',
    path: '/api/tasks/:taskId/execute',
    summary: 'Run a task now, whatever its schedule (also when disabled); it waits for a run in progress unless concurrencyPolicy allows otherwise',
    tag: 'tasks',
    access: 'authenticated',
    audit: 'task.execute',
    responses: { 423: 'The server is suspended' },
    handler: async ({ c, svc, principal, params, audit }) => {
      audit.resourceType = 'task';
      audit.resourceId = params.taskId;
      const { sched, server } = await loadTask(svc, principal!, params.taskId!, 'task.execute');
      const at = await svc.ops.schedules.runNow(sched, server);
      return done(c, 'Task execution queued', { data: { id: sched.metadata.name, requestedAt: at.toISOString() } });
    },
  }),
];
