// The thin executor around the Restore plan (see plan.ts for the rules): gathers the Restore, its
// GameServer and Backup and the node's connection, writes the status patch, starts the agent's
// `restore.run` as a job outside the reconcile (../shared/jobs.ts) and records events.
import type { Backup, GameNode, GameServer, Restore } from '../../../crds/types.ts';
import type { RestoreRunResult } from '../../../agent/protocol.ts';
import type { Controller, Manager } from '../../runtime/controller.ts';
import { keyOf } from '../../runtime/informer.ts';
import { JobTracker } from '../shared/jobs.ts';
import { nodeView, recordPlanEvents, requeueOnNodeChange, writePlannedStatus, type HubReconcilerDeps } from '../shared/reconcile.ts';
import { serverRefKey } from '../backup/reconciler.ts';
import { planRestore, relevantRestoreNode } from './plan.ts';

const BY_SERVER = 'byServer';
const BY_BACKUP = 'byBackup';
export const RESTORE_RPC_TIMEOUT_MS = 6 * 3600_000;

export function addRestoreController(mgr: Manager, deps: HubReconcilerDeps): Controller<Restore> {
  const { store, hub, log } = deps;
  const now = deps.now ?? (() => new Date());
  const servers = mgr.informer<GameServer>('GameServer');
  const backups = mgr.informer<Backup>('Backup');
  const nodes = mgr.informer<GameNode>('GameNode');
  const jobs = new JobTracker<RestoreRunResult>();

  const controller: Controller<Restore> = mgr.addController<Restore>({
    name: 'restore',
    kind: 'Restore',
    workers: deps.workers ?? 2,
    indexers: {
      [BY_SERVER]: serverRefKey,
      [BY_BACKUP]: (r: Restore) => (r.spec?.backupRef ? `${r.metadata.namespace ?? ''}/${r.spec.backupRef}` : undefined),
    },
    watches: [
      { kind: 'GameServer', map: (s: GameServer) => controller.informer.indexKeys(BY_SERVER, keyOf(s)) },
      { kind: 'Backup', map: (b: Backup) => controller.informer.indexKeys(BY_BACKUP, `${b.metadata.namespace ?? ''}/${b.metadata.name}`) },
    ],
    reconcile: async (key) => {
      const restore = controller.informer.get(key);
      if (!restore) return;
      const uid = restore.metadata.uid!;
      const ns = restore.metadata.namespace;
      const server = servers.getByName(ns, restore.spec?.serverRef ?? '');
      const backup = backups.getByName(ns, restore.spec?.backupRef ?? '');
      const result = planRestore({ restore, server, backup, node: nodeView(hub, nodes, relevantRestoreNode(restore, backup)), job: jobs.get(uid), now: now() });

      if (!(await writePlannedStatus(store, 'Restore', restore, result.status))) return { requeue: true };
      if (result.forgetJob) jobs.forget(uid);
      for (const action of result.actions) {
        jobs.start(uid, () => hub.call(action.node, 'restore.run', action.params, { timeoutMs: RESTORE_RPC_TIMEOUT_MS }), () => controller.enqueue(key));
      }
      await recordPlanEvents(deps.events, log, 'Restore', restore, result.events);
      return {};
    },
  });

  const unfinished = () => controller.informer.list().filter((r) => r.status?.phase !== 'completed' && r.status?.phase !== 'failed');
  requeueOnNodeChange(hub, controller, unfinished);
  return controller;
}
