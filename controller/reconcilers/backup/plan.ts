// The Backup plan: pure, from (Backup, its GameServer, the node, the job this process runs) to a status
// patch written first and the actions run after it.
//
//   phase      | situation                                   | result
//   -----------+---------------------------------------------+-------------------------------------------
//   (any)      | no finalizer, not deleting                  | addFinalizer (the archive outlives nothing)
//   new/pending| GameServer missing / not placed / node down | pending, message says which (waits; a watch
//              |                                             | on GameServers and the hub re-enqueue)
//   new/pending| node connected                              | in_progress (nodeName, startedAt) → startJob
//   in_progress| job running here                            | nothing
//   in_progress| job succeeded                               | completed: path, sizeBytes, sha256, times,
//              |                                             | expiresAt (ttl)
//   in_progress| job failed: never sent (not_connected)      | back to pending (safe: nothing started)
//   in_progress| job failed: agent disconnected              | failed "agent disconnected during backup"
//   in_progress| job failed otherwise                        | failed with the agent's reason
//   in_progress| no job here (controller restarted)          | node connected → attachJob (the agent joins
//              |                                             | a running job, returns a finished archive, or
//              |                                             | says it has neither: failed); else wait
//   completed/ | ttl set                                     | expiresAt = completedAt + ttl; past → delete
//   failed     |                                             | the Backup; else requeue at expiry
//   deleting   | finalizer present                           | node connected → deleteArchive (cancels a
//              |                                             | running job) + removeFinalizer; never started
//              |                                             | or node deleted → removeFinalizer; node down
//              |                                             | → wait (the archive must not be orphaned)
import type { Backup, BackupStatus, GameServer } from '../../../crds/types.ts';
import { parseDuration } from '../../../crds/duration.ts';
import type { BackupCreateParams, BackupCreateResult } from '../../../agent/protocol.ts';
import type { JobObserved } from '../shared/jobs.ts';
import type { NodeView, PlanEvent, StatusPatch } from '../shared/reconcile.ts';
import { dataDirOf, dataNode, isAdmitted } from '../../../crds/placement.ts';

export const BACKUP_FINALIZER = 'gantry.dev/backup-archive';

export interface BackupPlanInput {
  backup: Backup;
  /** The GameServer named by spec.serverRef (same namespace); undefined when it does not exist. */
  server?: GameServer;
  /** The node of relevantNode(); undefined when there is none. */
  node?: NodeView;
  job?: JobObserved<BackupCreateResult>;
  now: Date;
}

export type BackupAction =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer' }
  | { type: 'startJob'; node: string; params: BackupCreateParams }
  | { type: 'deleteArchive'; node: string; serverUid?: string; backupUid: string }
  | { type: 'deleteBackup' };

export interface BackupPlan {
  status: StatusPatch<BackupStatus>;
  actions: BackupAction[];
  events: PlanEvent[];
  /** The job's outcome is in `status`: drop it from the tracker once that is written. */
  forgetJob?: boolean;
  requeueAfterMs?: number;
}

/** The server uid is the archive's parent directory (the agent finds the archive without it too). */
const SERVER_UID_FROM_PATH = /\/([^/]+)\/[^/]+\.tar\.gz$/;

/** The node that matters now: where the job ran (or runs), else where the server is. */
export function relevantNode(backup: Backup, server: GameServer | undefined): string | undefined {
  const phase = backup.status?.phase;
  if (phase && phase !== 'pending') return backup.status?.nodeName;
  return server ? dataNode(server) : undefined;
}

/** How long after completion a Backup goes; undefined: kept until deleted (or an unparsable ttl). */
function ttlMs(backup: Backup): number | undefined {
  if (!backup.spec?.ttl) return undefined;
  try {
    return parseDuration(backup.spec.ttl);
  } catch {
    return undefined; // the schema refuses bad durations; an old object keeps its backup
  }
}

const MAX_REQUEUE_MS = 6 * 3600_000;

/** Only the keys whose value differs from the current status (null = delete an existing key). */
function diff<S extends object>(current: S | undefined, want: StatusPatch<S>): StatusPatch<S> {
  const out: StatusPatch<S> = {};
  const cur = (current ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) {
    if (v === null || v === undefined) {
      if (cur[k] !== undefined) (out as Record<string, unknown>)[k] = null;
    } else if (cur[k] !== v) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

export function planBackup(input: BackupPlanInput): BackupPlan {
  const { backup, server, node, job, now } = input;
  const st = backup.status ?? {};
  const ref = `${backup.metadata.namespace ?? 'default'}/${backup.spec?.serverRef}`;
  const hasFinalizer = (backup.metadata.finalizers ?? []).includes(BACKUP_FINALIZER);
  const out: BackupPlan = { status: {}, actions: [], events: [] };
  const setStatus = (want: StatusPatch<BackupStatus>) => {
    out.status = diff(st, want);
  };

  if (backup.metadata.deletionTimestamp) {
    if (!hasFinalizer) return out;
    const serverUid = SERVER_UID_FROM_PATH.exec(st.path ?? '')?.[1] ?? server?.metadata.uid;
    const started = !!st.nodeName && st.phase !== undefined && st.phase !== 'pending';
    if (!started) {
      out.actions.push({ type: 'removeFinalizer' });
      return out;
    }
    if (!node?.exists) {
      out.actions.push({ type: 'removeFinalizer' });
      out.events.push({ type: 'Warning', reason: 'ArchiveOrphaned', message: `node ${st.nodeName} no longer exists; its archive ${st.path ?? ''} could not be deleted` });
      return out;
    }
    if (!node.connected) {
      setStatus({ message: `deleting: waiting for node ${node.name} to connect to delete the archive` });
      return out;
    }
    out.actions.push({ type: 'deleteArchive', node: node.name, ...(serverUid ? { serverUid } : {}), backupUid: backup.metadata.uid! }, { type: 'removeFinalizer' });
    return out;
  }

  if (!hasFinalizer) out.actions.push({ type: 'addFinalizer' });

  const phase = st.phase;
  if (phase === undefined || phase === 'pending') {
    if (!server) {
      setStatus({ phase: 'pending', message: `waiting for GameServer ${ref}, which does not exist` });
      return out;
    }
    if (!isAdmitted(server) || !node) {
      setStatus({ phase: 'pending', message: `waiting for GameServer ${ref} to be placed on a node` });
      return out;
    }
    if (!node.connected) {
      setStatus({ phase: 'pending', message: `waiting for node ${node.name} (GameServer ${ref}) to connect` });
      return out;
    }
    setStatus({ phase: 'in_progress', nodeName: node.name, startedAt: now.toISOString(), message: null });
    out.actions.push({
      type: 'startJob',
      node: node.name,
      params: { uid: server.metadata.uid!, backupUid: backup.metadata.uid!, dataDir: dataDirOf(server), ...(backup.spec?.ignore?.length ? { ignore: [...backup.spec.ignore] } : {}) },
    });
    out.events.push({ type: 'Normal', reason: 'BackupStarted', message: `archiving the data of GameServer ${ref} on node ${node.name}` });
    return out;
  }

  if (phase === 'in_progress') {
    if (job?.state === 'running') return out;
    if (job?.state === 'succeeded') {
      const r = job.result;
      const ttl = ttlMs(backup);
      const skipped = r.skippedCount > 0 ? `${r.skippedCount} path(s) left out (symlinks pointing outside the data directory or special files), e.g. ${r.skipped.slice(0, 5).join(', ')}` : undefined;
      const warned = r.warnings.length > 0 ? `${r.warnings.length} warning(s): ${r.warnings.slice(0, 3).join('; ')}` : undefined;
      const note = [skipped, warned].filter(Boolean).join('; ');
      setStatus({
        phase: 'completed',
        path: r.path,
        sizeBytes: r.sizeBytes,
        sha256: r.sha256,
        completedAt: r.completedAt,
        expiresAt: ttl === undefined ? null : new Date(Date.parse(r.completedAt) + ttl).toISOString(),
        message: note || null,
      });
      out.forgetJob = true;
      out.events.push({ type: 'Normal', reason: 'BackupCompleted', message: `archive of ${r.sizeBytes} bytes, sha256 ${r.sha256.slice(0, 12)}…, on node ${st.nodeName}` });
      return out;
    }
    if (job?.state === 'failed') {
      out.forgetJob = true;
      if (job.code === 'not_connected') {
        setStatus({ phase: 'pending', startedAt: null, message: `node ${st.nodeName} was not connected when the backup was to start; it will start when the node is back` });
        return out;
      }
      const message = job.code === 'disconnected' ? `agent disconnected during backup (node ${st.nodeName}): ${job.message}` : job.message;
      setStatus({ phase: 'failed', completedAt: now.toISOString(), message });
      out.events.push({ type: 'Warning', reason: 'BackupFailed', message });
      return out;
    }
    // No job in this process: the controller restarted (or the outcome was already written and the
    // status is being re-read). Ask the agent; never start a second archive.
    if (node?.connected && server?.metadata.uid) {
      out.actions.push({ type: 'startJob', node: node.name, params: { uid: server.metadata.uid, backupUid: backup.metadata.uid!, dataDir: dataDirOf(server), attach: true } });
      return out;
    }
    if (!server) {
      setStatus({ phase: 'failed', completedAt: now.toISOString(), message: `GameServer ${ref} was deleted while the backup ran; its outcome is unknown` });
      return out;
    }
    setStatus({ message: `waiting for node ${st.nodeName} to reconnect to learn the backup's outcome` });
    return out;
  }

  // completed / failed: only expiry is left.
  const ttl = ttlMs(backup);
  if (ttl === undefined || !st.completedAt) {
    if (phase === 'completed' && st.expiresAt) setStatus({ expiresAt: null });
    return out;
  }
  const expiresAt = new Date(Date.parse(st.completedAt) + ttl);
  if (st.expiresAt !== expiresAt.toISOString()) setStatus({ expiresAt: expiresAt.toISOString() });
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) {
    out.actions.push({ type: 'deleteBackup' });
    out.events.push({ type: 'Normal', reason: 'BackupExpired', message: `ttl ${backup.spec?.ttl} passed at ${expiresAt.toISOString()}` });
  } else {
    out.requeueAfterMs = Math.min(left, MAX_REQUEUE_MS);
  }
  return out;
}
