// The thin executor around the transfer plan (plan.ts has the rules): gathers the GameServer, its two
// nodes, the source's container and the fit on the target, writes the planned status (with the
// version it planned from), then runs the actions. The long parts run as jobs outside the reconcile
// (../shared/jobs.ts), so a 1 GB move holds no worker; each job's end enqueues the server again.
//
// The move job: relay the data from the source agent to the target agent through this process
// (hub.files.relayData: the nodes never talk to each other), have the target verify the source's
// sha256 and swap the data in (transfer.commit: durable when it answers), then remove the source's
// (stopped) container, so one container per server exists at any time. Only then does the plan flip
// status.nodeName; the source's data dir goes after the flip (`remove` with removeData).
import { randomBytes } from 'node:crypto';
import type { GameNode, GameServer, ServerTemplate } from '../../../crds/types.ts';
import { boundNode, dataNode } from '../../../crds/placement.ts';
import { generationChanged, metadataChanged, type Controller, type Manager } from '../../runtime/controller.ts';
import { keyOf } from '../../runtime/informer.ts';
import { isStoreError } from '../../store/errors.ts';
import { checkBinding } from '../../scheduling/scheduler.ts';
import { JobTracker } from '../shared/jobs.ts';
import { recordPlanEvents, updateFinalizers, writePlannedStatus, type HubReconcilerDeps } from '../shared/reconcile.ts';
import { planTransfer, TRANSFER_FINALIZER, type Fit, type MoveResult, type TransferAction, type TransferNodeView } from './plan.ts';

export interface TransferControllerDeps extends HubReconcilerDeps {
  /** Transfer ids (default: 16 random hex digits). */
  newId?: () => string;
}

/** The relay of a large data dir over slow links: generous; the agents bound nothing by it. */
export const MOVE_RPC_TIMEOUT_MS = 6 * 3600_000;
/** Commit (renames + syncfs) and cleanups (removing a data dir). */
export const STEP_RPC_TIMEOUT_MS = 30 * 60_000;

const BY_NODE = 'byTransferNode';

/** The nodes a transfer (asked for or under way) involves. */
function transferNodes(s: GameServer): string[] {
  const t = s.status?.transfer;
  if (t) return [t.from, t.to];
  const from = dataNode(s);
  const to = boundNode(s);
  return from && to && from !== to ? [from, to] : [];
}

export function addTransferController(mgr: Manager, deps: TransferControllerDeps): Controller<GameServer> {
  const { store, hub, log } = deps;
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? (() => randomBytes(8).toString('hex'));
  const nodes = mgr.informer<GameNode>('GameNode');
  const templates = mgr.informer<ServerTemplate>('ServerTemplate');
  const moves = new JobTracker<MoveResult>();
  const cleanups = new JobTracker<unknown>();
  const cancels = new Map<string, AbortController>();

  const view = (name: string | undefined): TransferNodeView | undefined => {
    if (!name) return undefined;
    const node = nodes.getByName(undefined, name);
    const state = hub.node(name);
    return { name, exists: !!node, connected: hub.isConnected(name), synced: !!state?.connected && state.synced, deleting: !!node?.metadata.deletionTimestamp };
  };

  /** Resources and host ports on `target`, as the scheduler checks a binding made by hand. */
  const fitOn = (server: GameServer, target: string | undefined): Fit => {
    const node = target ? nodes.getByName(undefined, target) : undefined;
    if (!target || !node) return { ok: false, reason: `node "${target ?? ''}" not found` };
    const bound: GameServer = { ...server, spec: { ...server.spec!, nodeName: target } };
    const r = checkBinding(bound, templates.getByName(undefined, server.spec?.templateRef ?? ''), node, controller.informer.list(), {
      templates: (t) => templates.getByName(undefined, t),
      health: (n) => hub.node(n)?.health,
    });
    return r.ok ? { ok: true, ports: r.ports } : { ok: false, reason: r.reason };
  };

  const controller: Controller<GameServer> = mgr.addController<GameServer>({
    name: 'transfer',
    kind: 'GameServer',
    workers: deps.workers ?? 2,
    // The gameserver controller's frequent status writes are not ours to look at; a binding, a
    // deletion, a finalizer, status.nodeName or status.transfer changing are.
    ownUpdateFilter: (o: GameServer, n: GameServer) =>
      generationChanged(o, n) || metadataChanged(o, n) || dataNode(o) !== dataNode(n) || JSON.stringify(o.status?.transfer) !== JSON.stringify(n.status?.transfer),
    indexers: { [BY_NODE]: transferNodes },
    watches: [{ kind: 'GameNode', map: (n) => controller.informer.byIndex(BY_NODE, n.metadata.name).map((s: GameServer) => keyOf(s)) }],
    reconcile: async (key) => {
      const server = controller.informer.get(key);
      if (!server) return;
      const t = server.status?.transfer;
      const from = t?.from ?? dataNode(server);
      const to = t?.to ?? boundNode(server);
      const source = view(from);
      const id = t?.id;
      const needsFit = !t ? from !== undefined && to !== undefined && from !== to : t.phase === 'Streaming';
      const plan = planTransfer({
        server,
        source,
        target: view(to),
        sourceContainer: source?.connected && from ? hub.container(from, server.metadata.uid!) : undefined,
        fit: needsFit ? fitOn(server, to) : { ok: true, ports: [] },
        jobs: id ? { move: moves.get(id), source: cleanups.get(`${id}:source`), target: cleanups.get(`${id}:target`) } : {},
        now: now(),
        newId: newId(),
      });
      if (!(await writePlannedStatus(store, 'GameServer', server, plan.status))) return { requeue: true };
      if (plan.forgetJobs && id) {
        moves.forget(id);
        cleanups.forget(`${id}:source`);
        cleanups.forget(`${id}:target`);
      }
      for (const action of plan.actions) await execute(action, server, key);
      await recordPlanEvents(deps.events, log, 'GameServer', server, plan.events);
      return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
    },
  });

  async function execute(action: TransferAction, server: GameServer, key: string): Promise<void> {
    switch (action.type) {
      case 'addFinalizer':
      case 'removeFinalizer':
        return updateFinalizers(store, 'GameServer', server, TRANSFER_FINALIZER, action.type === 'addFinalizer');
      case 'startMove': {
        const { source, target, params } = action;
        const abort = new AbortController();
        cancels.set(params.transferId, abort);
        moves.start(
          params.transferId,
          async () => {
            const { sent } = await hub.files.relayData({ source, target, ...params }, { timeoutMs: MOVE_RPC_TIMEOUT_MS, signal: abort.signal });
            // The target checks the source's sha256 against what it received, swaps the data in and makes it durable.
            await tagged('target', () => hub.call(target, 'transfer.commit', { ...params, sha256: sent.sha256 }, { timeoutMs: STEP_RPC_TIMEOUT_MS }));
            // The source's container (stopped) goes before the flip: never two containers of one server.
            await tagged('source', () => hub.call(source, 'remove', { uid: params.uid, removeData: false }, { timeoutMs: STEP_RPC_TIMEOUT_MS }));
            log.info('server data moved', { server: key, from: source, to: target, bytes: sent.bytes, entries: sent.entries });
            return { sha256: sent.sha256, bytes: sent.bytes, entries: sent.entries, skipped: sent.skipped, skippedCount: sent.skippedCount };
          },
          () => {
            cancels.delete(params.transferId);
            controller.enqueue(key);
          },
        );
        return;
      }
      case 'cancelMove':
        cancels.get(action.transferId)?.abort();
        return;
      case 'revertSpec':
        return revertSpec(server, action.nodeName, action.unless);
      case 'startSourceCleanup':
        cleanups.start(`${action.params.transferId}:source`, () => hub.call(action.node, 'remove', { uid: action.params.uid, removeData: true, dataDir: action.params.dataDir }, { timeoutMs: STEP_RPC_TIMEOUT_MS }), () => controller.enqueue(key));
        return;
      case 'startTargetCleanup':
        cleanups.start(`${action.params.transferId}:target`, () => hub.call(action.node, 'transfer.abort', action.params, { timeoutMs: STEP_RPC_TIMEOUT_MS }), () => controller.enqueue(key));
        return;
    }
  }

  /** spec.nodeName back to the source, unless an operator chose another node meanwhile. */
  async function revertSpec(server: GameServer, nodeName: string, unless: string): Promise<void> {
    const { namespace, name } = server.metadata;
    for (let attempt = 0; ; attempt++) {
      let current: GameServer;
      try {
        current = await store.get<GameServer>('GameServer', namespace, name);
      } catch (err) {
        if (isStoreError(err, 'NotFound')) return;
        throw err;
      }
      if (current.metadata.uid !== server.metadata.uid || boundNode(current) !== unless || current.metadata.deletionTimestamp) return;
      try {
        await store.patch('GameServer', namespace, name, { spec: { nodeName } }, { resourceVersion: current.metadata.resourceVersion });
        log.info('transfer rolled back: spec.nodeName set back', { server: `${namespace}/${name}`, nodeName, from: unless });
        return;
      } catch (err) {
        if (isStoreError(err, 'NotFound')) return;
        if (!isStoreError(err, 'Conflict') || attempt >= 4) throw err;
      }
    }
  }

  // A node's agent coming, going or reporting its containers can unblock, fail or finish a transfer.
  const involving = (node: string) => controller.informer.byIndex(BY_NODE, node).forEach((s: GameServer) => controller.enqueue(keyOf(s)));
  hub.on('nodeConnected', involving);
  hub.on('nodeDisconnected', involving);
  hub.on('snapshot', involving);
  return controller;
}

/** Runs an RPC of one end of a move; its failure names that end (the plan words the condition by it). */
async function tagged<T>(side: 'source' | 'target', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw Object.assign(err as Error, { side });
  }
}
