// The thin executor around planNode: reads the caches and the hub, writes the status patch, records
// events, and hands servers on a node that changed reachability to the GameServer controller.
import type { GameNode, GameServer, ServerTemplate } from '../../../crds/types.ts';
import type { Manager } from '../../runtime/controller.ts';
import type { AgentHub } from '../../hub/agent-hub.ts';
import type { EventSink } from '../../events/recorder.ts';
import type { ResourceStore } from '../../store/types.ts';
import { isStoreError } from '../../store/errors.ts';
import { nodeIndex } from '../../scheduling/resources.ts';
import type { Logger } from '../../../lib/log.ts';
import { planNode } from './plan.ts';

export const SERVERS_BY_NODE = 'byNode';
const ALLOCATION_BATCH_MS = 1000;

export interface GameNodeControllerDeps {
  store: ResourceStore;
  hub: AgentHub;
  events: EventSink;
  log: Logger;
  /** A connected agent silent this long counts as Offline. */
  heartbeatTimeoutMs?: number;
  /** Called with server keys whose node reachability changed (the GameServer controller's enqueue). */
  onServersChanged?: (keys: string[]) => void;
}

export function addGameNodeController(mgr: Manager, deps: GameNodeControllerDeps) {
  const servers = mgr.informer<GameServer>('GameServer', { [SERVERS_BY_NODE]: nodeIndex });
  const templates = mgr.informer<ServerTemplate>('ServerTemplate');
  const heartbeatTimeoutMs = deps.heartbeatTimeoutMs ?? 45_000;

  const controller = mgr.addController<GameNode>({
    name: 'gamenode',
    kind: 'GameNode',
    workers: 1,
    reconcile: async (key) => {
      const node = controller.informer.get(key);
      if (!node) return;
      const name = node.metadata.name;
      const observed = deps.hub.node(name);
      const plan = planNode({
        node,
        hubState: observed && { connected: observed.connected, lastHeartbeat: observed.lastHeartbeat, health: observed.health, agentVersion: observed.agentVersion },
        boundServers: servers.byIndex(SERVERS_BY_NODE, name),
        templates: (t) => templates.getByName(undefined, t),
        now: Date.now(),
        heartbeatTimeoutMs,
      });
      if (Object.keys(plan.statusPatch).length) {
        try {
          await deps.store.patchStatus('GameNode', undefined, name, plan.statusPatch, { resourceVersion: node.metadata.resourceVersion });
        } catch (err) {
          // A newer version exists (the hub writes heartbeats too): the informer brings it back here.
          if (isStoreError(err, 'Conflict') || isStoreError(err, 'NotFound')) return { requeue: true };
          throw err;
        }
      }
      for (const e of plan.events) await deps.events.record({ kind: 'GameNode', name, uid: node.metadata.uid }, e.type, e.reason, e.message);
      const changed = [...plan.serversUnreachable, ...plan.serversReachable];
      if (changed.length) deps.onServersChanged?.(changed);
      return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
    },
  });

  // A server bound, resized or deleted changes what its node has allocated. Batched per node (one
  // recount a second at most), so creating a thousand servers does not recount a thousand times.
  const recount = (s: GameServer) => nodeIndex(s).forEach((n) => controller.enqueueAfter(n, ALLOCATION_BATCH_MS));
  servers.addEventHandler({
    onAdd: (s) => recount(s),
    onUpdate: (old, s) => {
      recount(old);
      recount(s);
    },
    onDelete: (s) => recount(s),
  });

  // The hub's view of a node changes outside the store: turn its events into enqueues.
  for (const ev of ['nodeConnected', 'nodeDisconnected', 'health'] as const) {
    deps.hub.on(ev, (nodeName: string) => controller.enqueue(nodeName));
  }
  return controller;
}
