// What the reconcilers share besides the runtime: the plan vocabulary (status patches, events, node
// views) and the executor's small I/O steps (a status write at the planned version, events that never
// fail a reconcile, finalizers, re-enqueues when a node's agent comes or goes).
import type { GameNode } from '../../../crds/types.ts';
import type { Controller } from '../../runtime/controller.ts';
import { keyOf } from '../../runtime/informer.ts';
import type { AgentHub } from '../../hub/agent-hub.ts';
import type { EventSink } from '../../events/recorder.ts';
import type { ResourceStore } from '../../store/types.ts';
import { isStoreError } from '../../store/errors.ts';
import type { Logger } from '../../../lib/log.ts';

/** Status fields to set; null deletes (merge patch). */
export type StatusPatch<S> = { [K in keyof S]?: S[K] | null };

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** What a reconciler that calls agents needs (backup, restore, transfer). */
export interface HubReconcilerDeps {
  store: ResourceStore;
  hub: AgentHub;
  events: EventSink;
  log: Logger;
  workers?: number;
  now?: () => Date;
}

export interface NodeView {
  name: string;
  /** A GameNode of that name exists. */
  exists: boolean;
  /** Its agent is connected (RPCs can be sent). */
  connected: boolean;
}

export function nodeView(hub: AgentHub, nodes: { getByName(ns: undefined, name: string): GameNode | undefined }, name: string | undefined): NodeView | undefined {
  if (!name) return undefined;
  return { name, exists: !!nodes.getByName(undefined, name), connected: hub.isConnected(name) };
}

type Planned = { metadata: { namespace?: string; name: string; uid?: string; resourceVersion?: string } };

/** Writes a plan's status patch (if any) at the version planned from; false when that version is stale (plan again). */
export async function writePlannedStatus(store: ResourceStore, kind: string, obj: Planned, status: Record<string, unknown>): Promise<boolean> {
  if (Object.keys(status).length === 0) return true;
  try {
    await store.patchStatus(kind, obj.metadata.namespace, obj.metadata.name, status, { resourceVersion: obj.metadata.resourceVersion });
    return true;
  } catch (err) {
    // A stale cache: plan again from the newer object (the job outcome stays in the tracker).
    if (isStoreError(err, 'Conflict') || isStoreError(err, 'NotFound')) return false;
    throw err;
  }
}

/** Records a plan's events on the object; a failed record is logged, never fails the reconcile. */
export async function recordPlanEvents(events: EventSink, log: Logger, kind: string, obj: Planned, planned: readonly PlanEvent[]): Promise<void> {
  for (const e of planned) {
    await events.record({ kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid }, e.type, e.reason, e.message).catch((err) => log.warn('event not recorded', { err }));
  }
}

/** A node (dis)connecting can unblock or fail the unfinished objects: reconcile them again. */
export function requeueOnNodeChange<T extends Planned>(hub: AgentHub, controller: Controller<T>, unfinished: () => T[]): void {
  hub.on('nodeConnected', () => unfinished().forEach((o) => controller.enqueue(keyOf(o))));
  hub.on('nodeDisconnected', () => unfinished().forEach((o) => controller.enqueue(keyOf(o))));
}

export async function updateFinalizers(store: ResourceStore, kind: string, obj: { metadata: { namespace?: string; name: string } }, finalizer: string, add: boolean): Promise<void> {
  const { namespace, name } = obj.metadata;
  for (let attempt = 0; ; attempt++) {
    let current;
    try {
      current = await store.get(kind, namespace, name);
    } catch (err) {
      if (isStoreError(err, 'NotFound')) return;
      throw err;
    }
    const list = current.metadata.finalizers ?? [];
    const next = add ? [...new Set([...list, finalizer])] : list.filter((f) => f !== finalizer);
    if (next.length === list.length) return;
    try {
      await store.patch(kind, namespace, name, { metadata: { finalizers: next } }, { resourceVersion: current.metadata.resourceVersion });
      return;
    } catch (err) {
      if (isStoreError(err, 'NotFound')) return;
      if (!isStoreError(err, 'Conflict') || attempt >= 4) throw err;
    }
  }
}

