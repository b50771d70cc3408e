// A server's activity: the audit entries about it (power, console, files, backups, schedules,
// subusers), for whoever holds server.activity on it — owners do. Entries are matched by the server's
// uid, so a server deleted and re-created under the same name does not show its predecessor's
// history to its new owner. IP addresses are shown only to holders of the global admin.read.
import { route, ok, type RouteSpec } from '../http/route.ts';
import { badRequest } from '../http/errors.ts';
import { can } from '../rbac/access.ts';

export const serverActivityRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/activity',
    summary: 'The server\'s activity log (its audit entries), newest first; page backwards with before = the last id seen',
    tag: 'servers',
    access: { permission: 'server.activity', server: true },
    query: {
      before: { type: 'string', maxLength: 32, description: 'Only entries older than this id' },
      limit: { type: 'integer', minimum: 1, maximum: 200, description: 'default 50' },
    },
    handler: async ({ c, svc, server, principal, query }) => {
      let before: number | undefined;
      if (query.before !== undefined) {
        before = Number(query.before);
        if (!Number.isInteger(before) || before < 1) throw badRequest(`query parameter before: must be an audit entry id (a positive integer), got "${String(query.before).slice(0, 50)}"`);
      }
      const entries = await svc.audit.list({ serverUid: server!.metadata.uid, before, limit: (query.limit as number | undefined) ?? 50 });
      const admin = can(principal!, 'admin.read');
      return ok(c, entries.map((e) => (admin ? e : { ...e, ipAddress: null })));
    },
  }),
];
