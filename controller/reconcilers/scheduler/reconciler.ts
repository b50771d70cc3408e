// The scheduler's executor: binds GameServers without spec.nodeName to a node (spec.nodeName, then
// status.nodeName + ports), and admits servers bound by hand (checks resources and allocates ports).
// Admission is its only write of status.nodeName; afterwards the transfer controller owns it.
// One worker, plus an assume cache, so two servers created at the same moment never see the same
// free space (controller/scheduling/scheduler.ts explains the whole argument).
import type { GameNode, GameServer, ServerTemplate } from '../../../crds/types.ts';
import type { Manager } from '../../runtime/controller.ts';
import { keyOf } from '../../runtime/informer.ts';
import type { Controller } from '../../runtime/controller.ts';
import type { AgentHub } from '../../hub/agent-hub.ts';
import type { EventSink } from '../../events/recorder.ts';
import type { ResourceStore } from '../../store/types.ts';
import { isStoreError } from '../../store/errors.ts';
import { applyAssumed, placementOf, schedule, type Placement } from '../../scheduling/scheduler.ts';
import { setCondition } from '../shared/conditions.ts';
import type { Logger } from '../../../lib/log.ts';
import { boundNode, dataNode, isAdmitted } from '../../../crds/placement.ts';

export interface SchedulerDeps {
  store: ResourceStore;
  hub: AgentHub;
  events: EventSink;
  log: Logger;
  /** Unschedulable servers are tried again at least this often (node and template changes retry at once). */
  retryMs?: number;
}

/**
 * Unbound, or bound by hand (spec.nodeName) but not yet admitted (no status.nodeName). A server whose
 * status.nodeName is set is admitted; a different spec.nodeName then means a transfer, not ours.
 */
const needsScheduling = (s: GameServer): boolean => !s.metadata.deletionTimestamp && (!boundNode(s) || !isAdmitted(s));

export function addSchedulerController(mgr: Manager, deps: SchedulerDeps): Controller<GameServer> {
  const nodes = mgr.informer<GameNode>('GameNode');
  const templates = mgr.informer<ServerTemplate>('ServerTemplate');
  const assumed = new Map<string, Placement>();
  const retryMs = deps.retryMs ?? 60_000;
  const pendingKeys = (): string[] => controller.informer.list().filter(needsScheduling).map((s: GameServer) => keyOf(s));

  const controller: Controller<GameServer> = mgr.addController<GameServer>({
    name: 'scheduler',
    kind: 'GameServer',
    workers: 1,
    // Only a server that still needs placing is worth a look: the status writes of the lifecycle that
    // follows (installing, stopped, container ids…) used to reconcile it here five times for nothing.
    ownUpdateFilter: (_o: GameServer, n: GameServer) => needsScheduling(n),
    watches: [
      { kind: 'GameNode', map: () => pendingKeys() },
      { kind: 'ServerTemplate', map: () => pendingKeys() },
    ],
    reconcile: async (key) => {
      const server = controller.informer.get(key);
      if (!server || !needsScheduling(server)) return;
      const { namespace, name } = server.metadata;
      if (isAdmitted(server)) {
        // Admitted, then its binding was cleared (a merge patch, a manifest without nodeName): its data
        // is on status.nodeName, so it is bound there again. Placing it anew would move status.nodeName
        // away from its data; moving is a transfer (set spec.nodeName to the target).
        try {
          await deps.store.patch('GameServer', namespace, name, { spec: { nodeName: dataNode(server) } }, { resourceVersion: server.metadata.resourceVersion });
        } catch (err) {
          if (isStoreError(err, 'Conflict') || isStoreError(err, 'NotFound')) return { requeue: true };
          throw err;
        }
        return;
      }
      const template = templates.getByName(undefined, server.spec?.templateRef ?? '');
      const view = applyAssumed(controller.informer.list(), assumed.values());
      for (const k of view.settled) assumed.delete(k);
      const result = schedule(server, template, nodes.list(), view.servers, {
        templates: (t) => templates.getByName(undefined, t),
        health: (n) => deps.hub.node(n)?.health,
      });
      const now = Date.now();

      if (!result.ok) {
        const conditions = setCondition(server.status?.conditions, { type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: result.reason, observedGeneration: server.metadata.generation }, now);
        if (JSON.stringify(conditions) !== JSON.stringify(server.status?.conditions)) {
          await deps.store.patchStatus('GameServer', namespace, name, { conditions, message: result.reason });
          await deps.events.record({ kind: 'GameServer', namespace, name, uid: server.metadata.uid }, 'Warning', 'FailedScheduling', result.reason);
        }
        return { requeueAfterMs: retryMs };
      }

      const placement = placementOf(server, result);
      assumed.set(key, placement);
      try {
        if (!server.spec?.nodeName) {
          await deps.store.patch('GameServer', namespace, name, { spec: { nodeName: result.nodeName } }, { resourceVersion: server.metadata.resourceVersion });
        }
        const conditions = setCondition(server.status?.conditions, { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: `bound to node ${result.nodeName}`, observedGeneration: server.metadata.generation }, now);
        await deps.store.patchStatus('GameServer', namespace, name, { nodeName: result.nodeName, ports: result.ports, conditions });
      } catch (err) {
        assumed.delete(key);
        // Changed or deleted meanwhile: decide again from a fresh read.
        if (isStoreError(err, 'Conflict') || isStoreError(err, 'NotFound')) return { requeue: true };
        throw err;
      }
      const ports = result.ports.filter((p) => p.hostPort).map((p) => `${p.hostPort}/${p.protocol ?? 'TCP'}`);
      await deps.events.record(
        { kind: 'GameServer', namespace, name, uid: server.metadata.uid },
        'Normal',
        'Scheduled',
        `assigned to node ${result.nodeName}${ports.length ? ` with host ports ${ports.join(', ')}` : ''}`,
      );
      deps.log.info('server scheduled', { server: key, node: result.nodeName, ports });
      return;
    },
  });
  return controller;
}
