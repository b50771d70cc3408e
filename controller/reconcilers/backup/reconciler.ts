// The thin executor around the Backup plan: gathers the inputs (the Backup, its GameServer, the node's
// connection, the job this process runs), writes the status patch, then runs the actions. The archive
// itself is made by the agent (`backup.create`), as a job outside the reconcile (../shared/jobs.ts) so a long
// backup holds no worker; its end enqueues the Backup again.
import type { Backup, GameNode, GameServer } from '../../../crds/types.ts';
import type { BackupCreateResult } from '../../../agent/protocol.ts';
import type { Controller, Manager } from '../../runtime/controller.ts';
import { keyOf, objectKey } from '../../runtime/informer.ts';
import { isStoreError } from '../../store/errors.ts';
import { JobTracker } from '../shared/jobs.ts';
import { nodeView, recordPlanEvents, requeueOnNodeChange, updateFinalizers, writePlannedStatus, type HubReconcilerDeps, type PlanEvent } from '../shared/reconcile.ts';
import { BACKUP_FINALIZER, planBackup, relevantNode, type BackupAction } from './plan.ts';

export const BY_SERVER = 'byServer';
/** A backup of a large data dir over a slow disk: generous, the agent bounds nothing by it. */
export const BACKUP_RPC_TIMEOUT_MS = 6 * 3600_000;

/** `namespace/serverRef`: Backups and Restores are indexed by the server they name. */
export const serverRefKey = (obj: { metadata: { namespace?: string }; spec?: { serverRef?: string } }) =>
  obj.spec?.serverRef ? objectKey(obj.metadata.namespace, obj.spec.serverRef) : undefined;

export function addBackupController(mgr: Manager, deps: HubReconcilerDeps): Controller<Backup> {
  const { store, hub, log } = deps;
  const now = deps.now ?? (() => new Date());
  const servers = mgr.informer<GameServer>('GameServer');
  const nodes = mgr.informer<GameNode>('GameNode');
  const jobs = new JobTracker<BackupCreateResult>();

  const controller: Controller<Backup> = mgr.addController<Backup>({
    name: 'backup',
    kind: 'Backup',
    workers: deps.workers ?? 2,
    indexers: { [BY_SERVER]: serverRefKey },
    // A server being placed or moving on a node lets pending backups start.
    watches: [{ kind: 'GameServer', map: (s: GameServer) => controller.informer.indexKeys(BY_SERVER, keyOf(s)) }],
    reconcile: async (key) => {
      const backup = controller.informer.get(key);
      if (!backup) return;
      const uid = backup.metadata.uid!;
      const server = servers.getByName(backup.metadata.namespace, backup.spec?.serverRef ?? '');
      const result = planBackup({ backup, server, node: nodeView(hub, nodes, relevantNode(backup, server)), job: jobs.get(uid), now: now() });

      if (!(await writePlannedStatus(store, 'Backup', backup, result.status))) return { requeue: true };
      if (result.forgetJob) jobs.forget(uid);
      for (const action of result.actions) await execute(action, backup, key);
      await record(backup, result.events);
      return result.requeueAfterMs !== undefined ? { requeueAfterMs: result.requeueAfterMs } : {};
    },
  });

  async function execute(action: BackupAction, backup: Backup, key: string): Promise<void> {
    const { namespace, name } = backup.metadata;
    switch (action.type) {
      case 'addFinalizer':
      case 'removeFinalizer':
        return updateFinalizers(store, 'Backup', backup, BACKUP_FINALIZER, action.type === 'addFinalizer');
      case 'startJob':
        jobs.start(backup.metadata.uid!, () => hub.call(action.node, 'backup.create', action.params, { timeoutMs: BACKUP_RPC_TIMEOUT_MS }), () => controller.enqueue(key));
        return;
      case 'deleteArchive': {
        const r = await hub.call(action.node, 'backup.delete', { backupUid: action.backupUid, ...(action.serverUid ? { uid: action.serverUid } : {}) });
        log.info('backup archive deleted', { backup: key, node: action.node, deleted: r.deleted });
        return;
      }
      case 'deleteBackup':
        try {
          await store.delete('Backup', namespace, name, { resourceVersion: backup.metadata.resourceVersion });
        } catch (err) {
          // Conflict: it changed since we planned (a status write); the next reconcile decides again.
          if (!isStoreError(err, 'NotFound') && !isStoreError(err, 'Conflict')) throw err;
          if (isStoreError(err, 'Conflict')) controller.enqueue(key);
        }
        return;
    }
  }

  async function record(backup: Backup, events: PlanEvent[]): Promise<void> {
    await recordPlanEvents(deps.events, log, 'Backup', backup, events);
  }

  // Node connectivity lives in the hub, not the store: a node coming back lets waiting backups go on.
  const unfinished = () => controller.informer.list().filter((b) => b.metadata.deletionTimestamp || b.status?.phase !== 'completed');
  requeueOnNodeChange(hub, controller, unfinished);
  return controller;
}
