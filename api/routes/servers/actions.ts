// Power actions, suspension, restart policy and crash count. Each is a spec edit (DESIGN.md table):
// the reconciler does the work and status says how far it got. Answers return at once, or with
// `?wait=true` once the status reaches the goal (bounded by waitSeconds, default 60 s).
import type { Context } from 'hono';
import type { GameServer } from '../../../crds/types.ts';
import { route, done, ok, type RouteCtx, type RouteSpec } from '../../http/route.ts';
import { conflict } from '../../http/errors.ts';
import { nextTrigger } from '../../catalyst/common.ts';
import { serverPhase } from '../../catalyst/servers.ts';
import { DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS, waitForServer } from './wait.ts';

const waitQuery = {
  wait: { type: 'boolean', description: 'Answer once the status reaches the goal (or after waitSeconds)' },
  waitSeconds: { type: 'integer', minimum: 1, maximum: MAX_WAIT_SECONDS, description: `default ${DEFAULT_WAIT_SECONDS}` },
};

const patchSpec = (ctx: RouteCtx, spec: Record<string, unknown>) =>
  ctx.svc.store.patch<GameServer>('GameServer', ctx.svc.servers.namespace, ctx.server!.metadata.name, { spec });

interface Goal {
  reached: (s: GameServer) => boolean;
  hopeless: (s: GameServer) => boolean;
  reachedMessage: string;
}

async function answer(ctx: RouteCtx, updated: GameServer, message: string, goal: Goal): Promise<Response> {
  const { c, svc, query } = ctx;
  const base = { serverId: updated.metadata.name };
  if (!query.wait) return done(c, message, { ...base, status: serverPhase(updated) });
  const seconds = (query.waitSeconds as number | undefined) ?? DEFAULT_WAIT_SECONDS;
  const outcome = await waitForServer(svc, updated, goal.reached, goal.hopeless, seconds * 1000);
  const s = outcome.server;
  const status = s ? serverPhase(s) : 'deleted';
  return done(c as Context, outcome.reached ? goal.reachedMessage : message, {
    ...base,
    status,
    reached: outcome.reached,
    ...(outcome.reached ? {} : { statusMessage: s?.status?.message ?? null, timedOut: !outcome.settled }),
  });
}

const failed = (s: GameServer) => ['crashed', 'error'].includes(serverPhase(s));

export const serverActionRoutes: RouteSpec[] = [
  route({
    method: 'POST',
    path: '/api/servers/:serverId/install',
    summary: 'Run the template\'s install script again (stops the server first when running, starts it again after)',
    tag: 'servers',
    access: { permission: 'server.install', server: true },
    blockedWhenSuspended: true,
    handler: async (ctx) => {
      const updated = await patchSpec(ctx, { reinstalledAt: nextTrigger(ctx.svc.now(), ctx.server!.spec?.reinstalledAt) });
      return done(ctx.c, 'Installation started', { serverId: updated.metadata.name, status: serverPhase(updated) });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/start',
    summary: 'Start a server (spec.state = Running)',
    tag: 'servers',
    access: { permission: 'server.start', server: true },
    blockedWhenSuspended: true,
    query: waitQuery,
    handler: async (ctx) => {
      const s = ctx.server!;
      const spec: Record<string, unknown> = { state: 'Running' };
      // Already meant to run but exited by itself (on-failure after a clean exit, crash limit): only a
      // restart trigger starts it again (see the gameserver reconciler's README).
      if (s.spec?.state === 'Running' && !['running', 'starting', 'installing', 'stopping'].includes(serverPhase(s))) {
        spec.restartedAt = nextTrigger(ctx.svc.now(), s.spec?.restartedAt);
      }
      const updated = await patchSpec(ctx, spec);
      return answer(ctx, updated, 'Server start initiated', {
        reached: (x) => serverPhase(x) === 'running',
        hopeless: (x) => x.spec?.state !== 'Running' || (failed(x) && x.metadata.generation === x.status?.observedGeneration),
        reachedMessage: 'Server is running',
      });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/stop',
    summary: 'Stop a server gracefully (spec.state = Stopped; timeout → stopTimeoutSeconds, then killed)',
    tag: 'servers',
    access: { permission: 'server.stop', server: true },
    blockedWhenSuspended: true,
    body: { type: 'object', additionalProperties: false, properties: { timeout: { type: 'integer', minimum: 0, maximum: 3600, description: 'Seconds before the server is killed' } } },
    query: waitQuery,
    handler: async (ctx) => {
      const spec: Record<string, unknown> = { state: 'Stopped' };
      if (ctx.body?.timeout !== undefined) spec.stopTimeoutSeconds = ctx.body.timeout;
      const updated = await patchSpec(ctx, spec);
      return answer(ctx, updated, 'Server stop initiated', {
        // A server that already reads crashed/error has not been stopped until the controller saw the
        // edit (it then settles as stopped): counting it at once answered "stopped" with status crashed.
        reached: (x) => serverPhase(x) === 'stopped' || (['crashed', 'error'].includes(serverPhase(x)) && (x.status?.observedGeneration ?? 0) >= (updated.metadata.generation ?? 0)),
        hopeless: (x) => x.spec?.state === 'Running',
        reachedMessage: 'Server is stopped',
      });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/restart',
    summary: 'Restart a server (spec.restartedAt = now, state Running)',
    tag: 'servers',
    access: { permission: 'server.restart', server: true },
    blockedWhenSuspended: true,
    query: waitQuery,
    handler: async (ctx) => {
      const trigger = nextTrigger(ctx.svc.now(), ctx.server!.spec?.restartedAt);
      const updated = await patchSpec(ctx, { state: 'Running', restartedAt: trigger });
      const handled = (x: GameServer) => !!x.status?.handledRestartedAt && Date.parse(x.status.handledRestartedAt) >= Date.parse(trigger);
      return answer(ctx, updated, 'Server restart initiated', {
        reached: (x) => handled(x) && serverPhase(x) === 'running',
        hopeless: (x) => x.spec?.state !== 'Running' || (handled(x) && failed(x)),
        reachedMessage: 'Server restarted and running',
      });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/kill',
    summary: 'Kill a server at once (SIGKILL; spec.killedAt = now, state Stopped)',
    tag: 'servers',
    access: { permission: 'server.kill', server: true },
    blockedWhenSuspended: true,
    handler: async (ctx) => {
      const updated = await patchSpec(ctx, { state: 'Stopped', killedAt: nextTrigger(ctx.svc.now(), ctx.server!.spec?.killedAt) });
      return done(ctx.c, 'Server killed', { serverId: updated.metadata.name, status: serverPhase(updated) });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/suspend',
    summary: 'Suspend a server: it is stopped and every other action answers 423 until unsuspended',
    tag: 'servers',
    access: { permission: 'server.suspend', server: true },
    body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1024 } } },
    responses: { 409: 'Server is already suspended' },
    handler: async (ctx) => {
      const s = ctx.server!;
      if (s.spec?.suspended) throw conflict('Server is already suspended', 'already_suspended');
      const at = new Date(ctx.svc.now()).toISOString();
      const reason: string | undefined = ctx.body?.reason;
      const updated = await ctx.svc.store.patch<GameServer>('GameServer', ctx.svc.servers.namespace, s.metadata.name, {
        metadata: { annotations: { 'gantry.dev/suspended-at': at, 'gantry.dev/suspended-by': ctx.principal!.userId } },
        spec: { suspended: true, suspendReason: reason ?? null },
      });
      if (reason) ctx.audit.metadata.reason = reason;
      return ok(ctx.c, { id: updated.metadata.name, status: 'suspended', suspendedAt: at, suspendedByUserId: ctx.principal!.userId, suspensionReason: reason ?? null });
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/unsuspend',
    summary: 'Clear a suspension; the server stays stopped',
    tag: 'servers',
    access: { permission: 'server.suspend', server: true },
    responses: { 409: 'Server is not suspended' },
    handler: async (ctx) => {
      const s = ctx.server!;
      if (!s.spec?.suspended) throw conflict('Server is not suspended', 'not_suspended');
      const updated = await ctx.svc.store.patch<GameServer>('GameServer', ctx.svc.servers.namespace, s.metadata.name, {
        metadata: { annotations: { 'gantry.dev/suspended-at': null, 'gantry.dev/suspended-by': null } },
        spec: { suspended: false, suspendReason: null, state: 'Stopped' },
      });
      return ok(ctx.c, { id: updated.metadata.name, status: 'stopped', suspendedAt: null, suspendedByUserId: null, suspensionReason: null });
    },
  }),

  route({
    method: 'PATCH',
    path: '/api/servers/:serverId/restart-policy',
    summary: 'Change what happens when the server exits by itself',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { restartPolicy: { type: 'string', enum: ['always', 'on-failure', 'never'] }, maxCrashCount: { type: 'integer', minimum: 0, maximum: 1000, description: '0 = no limit' } },
      minProperties: 1,
    },
    bodyRequired: true,
    handler: async (ctx) => {
      const rp: Record<string, unknown> = {};
      if (ctx.body.restartPolicy !== undefined) rp.policy = ctx.body.restartPolicy;
      if (ctx.body.maxCrashCount !== undefined) rp.maxCrashCount = ctx.body.maxCrashCount;
      const updated = await patchSpec(ctx, { restartPolicy: rp });
      const restartPolicy = updated.spec?.restartPolicy?.policy ?? 'on-failure';
      const maxCrashCount = updated.spec?.restartPolicy?.maxCrashCount ?? 5;
      return ctx.c.json({ success: true, restartPolicy, maxCrashCount, data: { restartPolicy, maxCrashCount } }, 200);
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/reset-crash-count',
    summary: 'Reset the crash count (a server held at its crash limit may start again)',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    handler: async (ctx) => {
      await patchSpec(ctx, { crashCountResetAt: nextTrigger(ctx.svc.now(), ctx.server!.spec?.crashCountResetAt) });
      return done(ctx.c, 'Crash count reset', { serverId: ctx.server!.metadata.name });
    },
  }),
];
