// The Restore plan: pure, from (Restore, its GameServer and Backup, the node, the job this process
// runs) to a status patch written first and the actions run after it.
//
// Decision: a Restore whose GameServer is not stopped FAILS at once (it does not wait). A Restore left
// pending would fire whenever the server next happens to stop — minutes or days later, overwriting
// the data of a server that has moved on. The REST layer refuses the same case with 409 up front.
// Only a Backup still being taken is waited for (pending), because "back up, then restore" is a
// sequence an operator can create in one go.
//
//   phase      | situation                                             | result
//   -----------+-------------------------------------------------------+---------------------------------
//   new/pending| GameServer or Backup missing, Backup failed, Backup on | failed, message says which
//              | another node than the server, server not stopped       |
//              | (phase stopped|crashed and spec.state Stopped)         |
//   new/pending| Backup pending/in_progress                            | pending (waits)
//   new/pending| node not connected                                    | pending (waits)
//   new/pending| all good                                              | in_progress → startJob
//   in_progress| job running / succeeded / failed / none here          | as for a Backup (see backup/plan.ts)
//   completed, failed                                                  | terminal: nothing
import type { Backup, GameServer, Restore, RestoreStatus } from '../../../crds/types.ts';
import type { RestoreRunParams, RestoreRunResult } from '../../../agent/protocol.ts';
import type { JobObserved } from '../shared/jobs.ts';
import type { NodeView, PlanEvent, StatusPatch } from '../shared/reconcile.ts';
import { dataDirOf, dataNode } from '../../../crds/placement.ts';
import { archiveServerUid } from '../../../crds/backups.ts';

export interface RestorePlanInput {
  restore: Restore;
  server?: GameServer;
  backup?: Backup;
  /** The node of relevantRestoreNode(). */
  node?: NodeView;
  job?: JobObserved<RestoreRunResult>;
  now: Date;
}

export type RestoreAction = { type: 'startJob'; node: string; params: RestoreRunParams };

export interface RestorePlan {
  status: StatusPatch<RestoreStatus>;
  actions: RestoreAction[];
  events: PlanEvent[];
  forgetJob?: boolean;
}

/** Where the archive is (the restore runs there); once started, where it ran. */
export function relevantRestoreNode(restore: Restore, backup: Backup | undefined): string | undefined {
  const phase = restore.status?.phase;
  if (phase && phase !== 'pending') return restore.status?.nodeName;
  return backup?.status?.nodeName;
}

const STOPPED_PHASES = new Set(['stopped', 'crashed']);

/** Server uid the archive was taken for: its parent directory on the node (…/<serverUid>/<backupUid>.tar.gz). */

function diff(current: RestoreStatus | undefined, want: StatusPatch<RestoreStatus>): StatusPatch<RestoreStatus> {
  const out: Record<string, unknown> = {};
  const cur = (current ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) {
    if (v === null || v === undefined) {
      if (cur[k] !== undefined) out[k] = null;
    } else if (cur[k] !== v) out[k] = v;
  }
  return out as StatusPatch<RestoreStatus>;
}

export function planRestore(input: RestorePlanInput): RestorePlan {
  const { restore, server, backup, node, job, now } = input;
  const st = restore.status ?? {};
  const ns = restore.metadata.namespace ?? 'default';
  const serverRef = `${ns}/${restore.spec?.serverRef}`;
  const backupRef = `${ns}/${restore.spec?.backupRef}`;
  const out: RestorePlan = { status: {}, actions: [], events: [] };
  const setStatus = (want: StatusPatch<RestoreStatus>) => {
    out.status = diff(st, want);
  };
  const fail = (message: string, nodeName?: string) => {
    setStatus({ phase: 'failed', completedAt: now.toISOString(), message, ...(nodeName ? { nodeName } : {}) });
    out.events.push({ type: 'Warning', reason: 'RestoreFailed', message });
    return out;
  };
  if (restore.metadata.deletionTimestamp) return out;

  const phase = st.phase;
  if (phase === undefined || phase === 'pending') {
    if (!server) return fail(`GameServer ${serverRef} does not exist`);
    if (!backup) return fail(`Backup ${backupRef} does not exist`);
    const bphase = backup.status?.phase;
    if (bphase === 'failed') return fail(`Backup ${backupRef} failed (${backup.status?.message ?? 'no message'}); there is nothing to restore`);
    if (bphase !== 'completed') {
      setStatus({ phase: 'pending', message: `waiting for Backup ${backupRef} to complete (phase ${bphase ?? 'new'})` });
      return out;
    }
    const sha256 = backup.status?.sha256;
    const backupServerUid = archiveServerUid(backup);
    const backupNode = backup.status?.nodeName;
    if (!sha256 || !backupServerUid || !backupNode) return fail(`Backup ${backupRef} is completed but records no archive (path, sha256, node)`);
    const serverNode = dataNode(server);
    if (serverNode !== backupNode) {
      return fail(`Backup ${backupRef} is on node ${backupNode} but GameServer ${serverRef} is on ${serverNode ? `node ${serverNode}` : 'no node'}; restoring across nodes is not supported`);
    }
    const sphase = server.status?.phase;
    const desired = server.spec?.state ?? 'Stopped';
    if (desired !== 'Stopped' || !sphase || !STOPPED_PHASES.has(sphase)) {
      return fail(`GameServer ${serverRef} must be stopped before a restore (spec.state ${desired}, phase ${sphase ?? 'unknown'}); stop it, then create the Restore again`);
    }
    if (!node?.connected) {
      setStatus({ phase: 'pending', message: `waiting for node ${backupNode} to connect` });
      return out;
    }
    setStatus({ phase: 'in_progress', nodeName: node.name, startedAt: now.toISOString(), message: null });
    out.actions.push({
      type: 'startJob',
      node: node.name,
      params: {
        uid: server.metadata.uid!,
        restoreUid: restore.metadata.uid!,
        dataDir: dataDirOf(server),
        backup: { serverUid: backupServerUid, backupUid: backup.metadata.uid! },
        sha256,
        ...(restore.spec?.truncate ? { truncate: true } : {}),
      },
    });
    out.events.push({ type: 'Normal', reason: 'RestoreStarted', message: `restoring Backup ${backupRef} into GameServer ${serverRef} on node ${node.name}` });
    return out;
  }

  if (phase === 'in_progress') {
    if (job?.state === 'running') return out;
    if (job?.state === 'succeeded') {
      setStatus({ phase: 'completed', completedAt: job.result.completedAt || now.toISOString(), message: `${job.result.entries} entries restored` });
      out.forgetJob = true;
      out.events.push({ type: 'Normal', reason: 'RestoreCompleted', message: `Backup ${backupRef} restored into GameServer ${serverRef}` });
      return out;
    }
    if (job?.state === 'failed') {
      out.forgetJob = true;
      if (job.code === 'not_connected') {
        setStatus({ phase: 'pending', startedAt: null, message: `node ${st.nodeName} was not connected when the restore was to start; it will be retried` });
        return out;
      }
      if (job.code === 'conflict') {
        // The agent saw the container running (state changed between plan and call): same rule as above.
        return fail(`${job.message}; create the Restore again once the server is stopped`);
      }
      const message = job.code === 'disconnected'
        ? `agent disconnected during restore (node ${st.nodeName}): ${job.message}; an interrupted restore is rolled back when the agent starts, so the previous data stays`
        : job.message;
      return fail(message);
    }
    if (node?.connected && server?.metadata.uid && backup) {
      const backupServerUid = archiveServerUid(backup);
      if (backupServerUid && backup.status?.sha256) {
        out.actions.push({
          type: 'startJob',
          node: node.name,
          params: { uid: server.metadata.uid, restoreUid: restore.metadata.uid!, dataDir: dataDirOf(server), backup: { serverUid: backupServerUid, backupUid: backup.metadata.uid! }, sha256: backup.status.sha256, attach: true },
        });
        return out;
      }
    }
    if (!server || !backup) return fail(`${!server ? `GameServer ${serverRef}` : `Backup ${backupRef}`} was deleted while the restore ran; its outcome is unknown`);
    setStatus({ message: `waiting for node ${st.nodeName} to reconnect to learn the restore's outcome` });
    return out;
  }
  return out;
}
