// Power actions, suspension, restart policy and crash count: Catalyst's request → the operations
// layer (controller/operations/servers.ts: the spec edit and its goal) → Catalyst's answer, at once or
// with `?wait=true` once the status reaches the goal (bounded by waitSeconds, default 60 s).
import type { Context } from 'hono';
import type { ServerChange } from '../../../controller/operations/servers.ts';
import { route, done, ok, type RouteCtx, type RouteSpec } from '../../http/route.ts';
import { serverPhase } from '../../catalyst/servers.ts';

export const DEFAULT_WAIT_SECONDS = 60;
export const MAX_WAIT_SECONDS = 300;

export const waitQuery = {
  wait: { type: 'boolean', description: 'Answer once the status reaches the goal (or after waitSeconds)' },
  waitSeconds: { type: 'integer', minimum: 1, maximum: MAX_WAIT_SECONDS, description: `default ${DEFAULT_WAIT_SECONDS}` },
};

async function answer(ctx: RouteCtx, change: ServerChange, message: string, reachedMessage: string): Promise<Response> {
  const { c, svc, query } = ctx;
  const base = { serverId: change.server.metadata.name };
  if (!query.wait) return done(c, message, { ...base, status: serverPhase(change.server) });
  const seconds = (query.waitSeconds as number | undefined) ?? DEFAULT_WAIT_SECONDS;
  const outcome = await svc.ops.servers.wait(change, { timeoutMs: seconds * 1000 });
  const s = outcome.object;
  const status = s ? serverPhase(s) : 'deleted';
  return done(c as Context, outcome.reached ? reachedMessage : message, {
    ...base,
    status,
    reached: outcome.reached,
    ...(outcome.reached ? {} : { statusMessage: s?.status?.message ?? null, timedOut: !outcome.settled }),
  });
}

export const serverActionRoutes: RouteSpec[] = [
  route({
    method: 'POST',
    path: '/api/servers/:serverId/install',
    summary: 'Run the template\'s install script again (stops the server first when running, starts it again after)',
    tag: 'servers',
    access: { permission: 'server.install', server: true },
    blockedWhenSuspended: true,
    handler: async (ctx) => {
      const { server } = await ctx.svc.ops.servers.install(ctx.server!);
      return done(ctx.c, 'Installation started', { serverId: server.metadata.name, status: serverPhase(server) });
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
    handler: async (ctx) => answer(ctx, await ctx.svc.ops.servers.start(ctx.server!), 'Server start initiated', 'Server is running'),
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
    handler: async (ctx) => answer(ctx, await ctx.svc.ops.servers.stop(ctx.server!, { timeoutSeconds: ctx.body?.timeout }), 'Server stop initiated', 'Server is stopped'),
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/restart',
    summary: 'Restart a server (spec.restartedAt = now, state Running)',
    tag: 'servers',
    access: { permission: 'server.restart', server: true },
    blockedWhenSuspended: true,
    query: waitQuery,
    handler: async (ctx) => answer(ctx, await ctx.svc.ops.servers.restart(ctx.server!), 'Server restart initiated', 'Server restarted and running'),
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/kill',
    summary: 'Kill a server at once (SIGKILL; spec.killedAt = now, state Stopped)',
    tag: 'servers',
    access: { permission: 'server.kill', server: true },
    blockedWhenSuspended: true,
    handler: async (ctx) => {
      const { server } = await ctx.svc.ops.servers.kill(ctx.server!);
      return done(ctx.c, 'Server killed', { serverId: server.metadata.name, status: serverPhase(server) });
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
      const reason: string | undefined = ctx.body?.reason;
      const updated = await ctx.svc.ops.servers.suspend(ctx.server!, { reason, by: ctx.principal!.userId });
      if (reason) ctx.audit.metadata.reason = reason;
      return ok(ctx.c, { id: updated.metadata.name, status: 'suspended', suspendedAt: updated.metadata.annotations?.['gantry.dev/suspended-at'] ?? null, suspendedByUserId: ctx.principal!.userId, suspensionReason: reason ?? null });
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
      const updated = await ctx.svc.ops.servers.unsuspend(ctx.server!);
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
      const updated = await ctx.svc.ops.servers.setRestartPolicy(ctx.server!, { policy: ctx.body.restartPolicy, maxCrashCount: ctx.body.maxCrashCount });
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
      await ctx.svc.ops.servers.resetCrashCount(ctx.server!);
      return done(ctx.c, 'Crash count reset', { serverId: ctx.server!.metadata.name });
    },
  }),
];
