// Backups (Catalyst's routes). A backup is desired state: POST creates a `Backup` resource and the
// backup controller has the server's node write the archive (controller/reconcilers/backup/); a
// restore creates a `Restore` (controller/reconcilers/restore/); DELETE deletes the Backup and its
// finalizer removes the archive. Answers come from the resources' status, so they are true.
//
// Decisions:
// - A Backup or Restore created here has an ownerReference to its GameServer: deleting the server
//   deletes its backups (and their archives), as on Pterodactyl. Backups a Schedule creates are owned by
//   the Schedule instead (controller/reconcilers/schedule/) and are listed here too (spec.serverRef).
// - id = the Backup's metadata.name (generated: `<server>-xxxxx`); Catalyst's `name` is kept in the
//   annotation gantry.dev/backup-name. A route's :backupId also accepts the Backup's uid.
// - Restore is refused with 409 unless the server is stopped and meant to stay stopped (the restore
//   controller would fail it anyway), unless the backup is completed, and while another restore of the
//   server is pending or running. `truncate` (default false, as on Pterodactyl) empties the data dir first.
// - The archive is downloaded through the hub as a byte stream (`backup.download` RPC), never buffered.
import type { Backup, Restore } from '../../crds/types.ts';
import { archiveServerUid } from '../../crds/backups.ts';
import { BACKUP_NAME_ANNOTATION, SERVER_LABEL } from '../../controller/operations/backups.ts';
import { route, ok, done, type RouteCtx, type RouteSpec } from '../http/route.ts';
import { ApiError, conflict, forbidden } from '../http/errors.ts';
import { streamResponse } from '../http/stream-response.ts';
import { toApiError } from './files.ts';

export { BACKUP_NAME_ANNOTATION, SERVER_LABEL };
const DEFAULT_WAIT_SECONDS = 60;
const MAX_WAIT_SECONDS = 600;
const MiB = 1024 * 1024;

/** Catalyst's backup shape plus Gantry's fields. */
export function toCatalystBackup(b: Backup): Record<string, unknown> {
  const st = b.status ?? {};
  return {
    id: b.metadata.name,
    uuid: b.metadata.uid,
    serverId: b.spec!.serverRef,
    name: b.metadata.annotations?.[BACKUP_NAME_ANNOTATION] ?? b.metadata.name,
    path: st.path ?? null,
    sizeMb: st.sizeBytes !== undefined ? Math.round((st.sizeBytes / MiB) * 100) / 100 : 0,
    sizeBytes: st.sizeBytes ?? null,
    checksum: st.sha256 ? `sha256:${st.sha256}` : null,
    status: st.phase ?? 'pending',
    createdAt: b.metadata.creationTimestamp,
    startedAt: st.startedAt ?? null,
    completedAt: st.completedAt ?? null,
    expiresAt: st.expiresAt ?? null,
    nodeId: st.nodeName ?? null,
    message: st.message ?? null,
    ignore: b.spec!.ignore ?? [],
    ttl: b.spec!.ttl ?? null,
    note: b.spec!.note ?? null,
    deleting: !!b.metadata.deletionTimestamp,
  };
}

function toCatalystRestore(r: Restore): Record<string, unknown> {
  return {
    id: r.metadata.name,
    uuid: r.metadata.uid,
    serverId: r.spec!.serverRef,
    backupId: r.spec!.backupRef,
    truncate: !!r.spec!.truncate,
    status: r.status?.phase ?? 'pending',
    createdAt: r.metadata.creationTimestamp,
    startedAt: r.status?.startedAt ?? null,
    completedAt: r.status?.completedAt ?? null,
    message: r.status?.message ?? null,
  };
}

const waitQuery = {
  wait: { type: 'boolean', description: 'Answer once the job completed or failed (bounded by timeout)' },
  timeout: { type: 'integer', minimum: 1, maximum: MAX_WAIT_SECONDS, description: `Seconds to wait with wait=true (default ${DEFAULT_WAIT_SECONDS})` },
} as const;
const waitMs = (q: Record<string, unknown>) => ((q.timeout as number | undefined) ?? DEFAULT_WAIT_SECONDS) * 1000;

const backupRoute = (spec: Omit<RouteSpec, 'tag'>): RouteSpec => route({ ...spec, tag: 'backups' });
const target = (ctx: RouteCtx, id: string, meta: Record<string, unknown> = {}) => {
  ctx.audit.resourceType = 'backup';
  ctx.audit.resourceId = id;
  Object.assign(ctx.audit.metadata, { server: ctx.server!.metadata.name, ...meta });
};

export const backupRoutes: RouteSpec[] = [
  backupRoute({
    method: 'GET',
    path: '/api/servers/:serverId/backups',
    summary: 'List the backups of a server (newest first)',
    access: { permission: 'backup.read', server: true },
    handler: async ({ c, svc, server }) => ok(c, (await svc.ops.backups.list(server!)).map(toCatalystBackup)),
  }),

  backupRoute({
    method: 'POST',
    path: '/api/servers/:serverId/backups',
    summary: 'Create a backup (a Backup resource; the server may run). ?wait=true answers when it completed or failed',
    access: { permission: 'backup.create', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 200 },
        ignore: { anyOf: [{ type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 1024 } }, { type: 'string', maxLength: 65536 }], description: '.gitignore-style patterns (array, or one per line)' },
        ttl: { type: 'string', maxLength: 32, description: 'Delete the backup this long after it completed: 720h, 7d, 1h30m' },
        note: { type: 'string', maxLength: 1024 },
      },
    },
    query: waitQuery,
    responses: { 200: '{success, message, backupName, backupId, data}', 502: 'wait=true and the backup failed' },
    handler: async (ctx) => {
      const { c, svc, server, body, query, principal } = ctx;
      const s = server!;
      const name: string = body.name ?? `backup-${new Date(svc.now()).toISOString().replace(/[:.]/g, '-')}`;
      const ignore = typeof body.ignore === 'string' ? body.ignore.split(/\r?\n/).map((l: string) => l.trim()).filter((l: string) => l && !l.startsWith('#')) : body.ignore;
      const created = await svc.ops.backups.create(s, { name, ignore, ttl: body.ttl, note: body.note, createdBy: principal?.username });
      target(ctx, created.metadata.name, { name });
      const answer = (b: Backup, message: string) => done(c, message, { backupName: name, backupId: b.metadata.name, data: toCatalystBackup(b) });
      if (!query.wait) return answer(created, 'Backup creation started');
      const b = (await svc.ops.backups.waitForJob('Backup', created, { timeoutMs: waitMs(query) })).object;
      if (!b) throw new ApiError(409, `backup ${created.metadata.name} was deleted before it finished`, 'backup_deleted');
      if (b.status?.phase === 'failed') throw new ApiError(502, `Backup failed: ${b.status.message ?? 'no reason given'}`, 'backup_failed', { backupName: name, backupId: b.metadata.name, data: toCatalystBackup(b) });
      return answer(b, b.status?.phase === 'completed' ? 'Backup completed' : `Backup still ${b.status?.phase ?? 'pending'} after ${waitMs(query) / 1000} s`);
    },
  }),

  backupRoute({
    method: 'GET',
    path: '/api/servers/:serverId/backups/:backupId',
    summary: 'One backup and its status',
    access: { permission: 'backup.read', server: true },
    handler: async ({ c, svc, server, params }) => ok(c, toCatalystBackup(await svc.ops.backups.find(server!, params.backupId!))),
  }),

  backupRoute({
    method: 'GET',
    path: '/api/servers/:serverId/backups/:backupId/download',
    summary: 'Download the backup archive (.tar.gz, streamed from the node). Accepts ?token= (a download token for this backup) for links opened by a browser',
    access: { permission: 'backup.read', server: true },
    queryToken: 'download',
    query: { token: { type: 'string', maxLength: 4096, description: 'A download token (POST /api/auth/tokens with backupId) instead of the Authorization header' } },
    responses: { 200: 'application/gzip with Content-Length and the archive sha256 in X-Checksum-Sha256', 403: 'the token is for another file or backup', 409: 'backup not completed', 503: 'node offline' },
    handler: async ({ c, svc, server, params, tokenScope }) => {
      if (tokenScope && (tokenScope.serverId !== params.serverId || tokenScope.backupId !== params.backupId)) throw forbidden('this download token was issued for another file or backup', 'token_scope');
      const b = await svc.ops.backups.find(server!, params.backupId!);
      const st = b.status ?? {};
      if (st.phase !== 'completed' || !st.path || !st.nodeName) throw conflict(`backup ${b.metadata.name} is ${st.phase ?? 'pending'}, not completed: there is no archive to download`, 'backup_not_completed');
      const node = st.nodeName;
      if (!svc.hub) throw new ApiError(503, 'This Gantry process has no agent hub: archives are served by the nodes', 'hub_unavailable');
      if (!svc.hub.isConnected(node)) throw new ApiError(503, `Node "${node}" is offline: backup ${b.metadata.name} is stored there and cannot be downloaded until its agent reconnects`, 'node_offline');
      // The archive is DATA/backups/<serverUid>/<backupUid>.tar.gz: the server uid at backup time, which
      // the path records (a server deleted and re-created under the same name has another uid).
      const serverUid = archiveServerUid(b) ?? server!.metadata.uid!;
      let r;
      try {
        r = await svc.hub.files.downloadBackup(node, serverUid, b.metadata.uid!, { timeoutMs: 30_000 });
      } catch (err) {
        throw toApiError(err, node);
      }
      const name = (b.metadata.annotations?.[BACKUP_NAME_ANNOTATION] ?? b.metadata.name).replace(/[^A-Za-z0-9._-]/g, '_');
      const file = name.endsWith('.tar.gz') ? name : `${name}.tar.gz`;
      return streamResponse(c, r.stream, {
        'Content-Type': 'application/gzip',
        'Content-Length': String(r.size),
        'Content-Disposition': `attachment; filename="${file}"`,
        'Cache-Control': 'no-store',
        ...(st.sha256 ? { 'X-Checksum-Sha256': st.sha256 } : {}),
      });
    },
  }),

  backupRoute({
    method: 'POST',
    path: '/api/servers/:serverId/backups/:backupId/restore',
    summary: 'Restore a backup into the server (it must be stopped). ?wait=true answers when it completed or failed',
    access: { permission: 'backup.restore', server: true },
    blockedWhenSuspended: true,
    body: { type: 'object', additionalProperties: false, properties: { truncate: { type: 'boolean', description: 'Delete every file before extracting (default false)' } } },
    query: waitQuery,
    responses: { 409: 'server not stopped, backup not completed, or a restore already running', 502: 'wait=true and the restore failed' },
    handler: async (ctx) => {
      const { c, svc, server, params, body, query } = ctx;
      const s = server!;
      const b = await svc.ops.backups.find(s, params.backupId!);
      target(ctx, b.metadata.name, { truncate: !!body.truncate });
      const created = await svc.ops.backups.restore(s, b, { truncate: body.truncate });
      ctx.audit.metadata.restore = created.metadata.name;
      if (!query.wait) return done(c, 'Backup restoration started', { restoreId: created.metadata.name, data: toCatalystRestore(created) });
      const r = (await svc.ops.backups.waitForJob('Restore', created, { timeoutMs: waitMs(query) })).object;
      if (!r) throw new ApiError(409, `restore ${created.metadata.name} was deleted before it finished`, 'restore_deleted');
      if (r.status?.phase === 'failed') throw new ApiError(502, `Restore failed: ${r.status.message ?? 'no reason given'}`, 'restore_failed', { restoreId: r.metadata.name, data: toCatalystRestore(r) });
      return done(c, r.status?.phase === 'completed' ? 'Backup restored' : `Restore still ${r.status?.phase ?? 'pending'} after ${waitMs(query) / 1000} s`, { restoreId: r.metadata.name, data: toCatalystRestore(r) });
    },
  }),

  backupRoute({
    method: 'DELETE',
    path: '/api/servers/:serverId/backups/:backupId',
    summary: 'Delete a backup (its archive is removed from the node by the finalizer)',
    access: { permission: 'backup.delete', server: true },
    responses: { 409: 'a restore from this backup is running' },
    handler: async (ctx) => {
      const { c, svc, server, params } = ctx;
      const b = await svc.ops.backups.find(server!, params.backupId!);
      target(ctx, b.metadata.name);
      await svc.ops.backups.delete(b);
      return done(c, 'Backup deleted successfully');
    },
  }),
];
