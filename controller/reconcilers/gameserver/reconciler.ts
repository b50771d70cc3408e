// The thin executor around the GameServer plan: gathers the inputs (caches, the hub's observed
// container, whether the ready line was seen), writes progress, runs the actions through the agent
// hub in order, and writes the resulting status and events.
import type { GameNode, GameServer, GameServerStatus, ServerTemplate } from '../../../crds/types.ts';
import { generationChanged, metadataChanged, type Controller, type Manager } from '../../runtime/controller.ts';
import { keyOf } from '../../runtime/informer.ts';
import type { AgentHub } from '../../hub/agent-hub.ts';
import type { EventSink } from '../../events/recorder.ts';
import type { ResourceStore } from '../../store/types.ts';
import { isStoreError } from '../../store/errors.ts';
import { nodeIndex } from '../../scheduling/resources.ts';
import type { ObservedContainer } from '../../../agent/runtime/events.ts';
import type { Logger } from '../../../lib/log.ts';
import { canonicalJson, isDesiredError, resolveDesired } from './desired.ts';
import { applyStatusPatch, plan, planFailure, type Action, type PlanInput, type StatusPatch, type PlanEvent } from './plan.ts';
import { ReadyTracker } from './ready.ts';
import { boundNode, currentNode, dataNode, isAdmitted } from '../../../crds/placement.ts';

export const BY_UID = 'byUid';
export const BY_NODE = 'byNode';
export const BY_TEMPLATE = 'byTemplate';

export interface GameServerControllerDeps {
  store: ResourceStore;
  hub: AgentHub;
  events: EventSink;
  log: Logger;
  workers?: number;
}

/** RPC time limits: an action's own timeout plus room for the round trip. */
const RPC_SLACK_MS = 30_000;
const PULL_TIMEOUT_MS = 15 * 60_000;
const INSTALL_TIMEOUT_MS = 3600_000 + RPC_SLACK_MS;

export function addGameServerController(mgr: Manager, deps: GameServerControllerDeps): Controller<GameServer> {
  const templates = mgr.informer<ServerTemplate>('ServerTemplate');
  const nodes = mgr.informer<GameNode>('GameNode');
  const ready = new ReadyTracker();
  const { hub, store, log } = deps;

  const serversOn = (nodeName: string): string[] => controller.informer.byIndex(BY_NODE, nodeName).map((s: GameServer) => keyOf(s));
  const serverByUid = (uid: string): GameServer | undefined => controller.informer.byIndex(BY_UID, uid)[0];
  const templateOf = (s: GameServer) => templates.getByName(undefined, s.spec?.templateRef ?? '');
  /** The node holding the server's container: where its data is, else where it is bound. */
  const nodeOf = currentNode;

  const controller: Controller<GameServer> = mgr.addController<GameServer>({
    name: 'gameserver',
    kind: 'GameServer',
    workers: deps.workers ?? 4,
    // Its own status writes must not re-run it (a failing start would loop every few ms instead of
    // backing off); spec and metadata changes do, and so do the scheduler's admission and the transfer
    // controller's flip, which are status writes (status.nodeName, status.ports, status.transfer).
    ownUpdateFilter: (o: GameServer, n: GameServer) =>
      generationChanged(o, n) ||
      metadataChanged(o, n) ||
      dataNode(o) !== dataNode(n) ||
      o.status?.transfer?.phase !== n.status?.transfer?.phase ||
      JSON.stringify(o.status?.ports) !== JSON.stringify(n.status?.ports),
    indexers: {
      [BY_UID]: (s: GameServer) => s.metadata.uid,
      [BY_NODE]: nodeIndex,
      [BY_TEMPLATE]: (s: GameServer) => s.spec?.templateRef,
    },
    watches: [
      { kind: 'ServerTemplate', map: (t) => controller.informer.byIndex(BY_TEMPLATE, t.metadata.name).map((s: GameServer) => keyOf(s)) },
      // Only spec changes (address, bindAddress, portRange…) matter here: connectivity arrives
      // through the hub's events, and the heartbeat status writes every few seconds must not
      // reconcile every server on the node.
      { kind: 'GameNode', map: (n) => serversOn(n.metadata.name), updateFilter: generationChanged },
    ],
    reconcile: async (key) => {
      const server = controller.informer.get(key);
      if (!server) return;
      const uid = server.metadata.uid!;
      const nodeName = nodeOf(server);
      const template = templateOf(server);
      const node = nodeName ? nodes.getByName(undefined, nodeName) : undefined;
      const desired = resolveDesired(server, template, node);
      const nodeState = nodeName ? hub.node(nodeName) : undefined;
      const nodeConnected = !!nodeState?.connected && nodeState.synced;
      const observed: ObservedContainer | undefined = nodeConnected && nodeName ? hub.container(nodeName, uid) : undefined;

      const readyPattern = isDesiredError(desired) ? undefined : desired.readyPattern;
      if (readyPattern && observed?.state === 'running' && !ready.matchedSince(uid, observed.startedAt) && ready.needsHistoryScan(uid, observed.startedAt)) {
        // After a controller restart the ready line may have been printed before we were listening.
        try {
          ready.observe(uid, readyPattern, await hub.call(nodeName!, 'consoleHistory', { uid, lines: 2000 }));
        } catch (err) {
          log.warn('console history unavailable', { server: key, err });
        }
      }
      const input: PlanInput = {
        server: admitted(server) ? server : unbound(server),
        desired,
        observed,
        nodeConnected,
        now: new Date(),
        recentConsoleMatchedReady: readyPattern ? ready.matchedSince(uid, observed?.startedAt) : undefined,
        players: nodeConnected && nodeName ? hub.players(nodeName, uid) : undefined,
      };
      const result = plan(input);

      let rv = server.metadata.resourceVersion;
      if (hasKeys(result.progress)) {
        try {
          rv = (await store.patchStatus('GameServer', server.metadata.namespace, server.metadata.name, result.progress, { resourceVersion: rv })).metadata.resourceVersion;
        } catch (err) {
          // Stale cache: plan again from the newer object the informer is bringing.
          if (isStoreError(err, 'Conflict') || isStoreError(err, 'NotFound')) return { requeue: true };
          throw err;
        }
      }

      // The status as it stands once our progress write landed: what the final patch is relative to.
      const basis = applyStatusPatch(server.status, result.progress);
      for (const action of result.actions) {
        try {
          rv = (await execute(action, server)) ?? rv;
        } catch (err) {
          const message = (err as Error).message;
          const code = (err as { code?: string }).code;
          log.warn('action failed', { server: key, action: action.type, code, err });
          if (isStoreError(err, 'Conflict')) return { requeue: true };
          const failure = planFailure(input, result, action, { code, message });
          await writeStatus(server, failure.status, rv, basis);
          await record(server, failure.events);
          throw err; // the work queue retries with backoff
        }
      }
      if (result.actions.some((a) => a.type === 'removeFinalizer')) {
        ready.forget(uid);
        await record(server, result.events);
        return;
      }
      if (!(await writeStatus(server, result.status, rv, basis))) return { requeue: true };
      await record(server, result.events);
      return result.requeueAfterMs !== undefined ? { requeueAfterMs: result.requeueAfterMs } : {};
    },
  });

  /** Runs one action; a metadata write returns the object's new resourceVersion. */
  async function execute(action: Action, server: GameServer): Promise<string | undefined> {
    const uid = server.metadata.uid!;
    const nodeName = nodeOf(server)!;
    switch (action.type) {
      case 'addFinalizer':
      case 'removeFinalizer': {
        // Status writes (ours, the scheduler's) bump resourceVersion too: re-read and retry a few times.
        for (let attempt = 0; ; attempt++) {
          let current: GameServer;
          try {
            current = await store.get<GameServer>('GameServer', server.metadata.namespace, server.metadata.name);
          } catch (err) {
            if (action.type === 'removeFinalizer' && isStoreError(err, 'NotFound')) return;
            throw err;
          }
          const list = current.metadata.finalizers ?? [];
          const next = action.type === 'addFinalizer' ? [...new Set([...list, action.finalizer])] : list.filter((f) => f !== action.finalizer);
          if (next.length === list.length && next.every((f, i) => f === list[i])) return current.metadata.resourceVersion;
          try {
            const written = await store.patch('GameServer', server.metadata.namespace, server.metadata.name, { metadata: { finalizers: next } }, { resourceVersion: current.metadata.resourceVersion });
            return written.metadata.resourceVersion;
          } catch (err) {
            if (action.type === 'removeFinalizer' && isStoreError(err, 'NotFound')) return;
            if (!isStoreError(err, 'Conflict') || attempt >= 4) throw err;
          }
        }
      }
      case 'ensureDataDir':
        await hub.call(nodeName, 'ensureDataDir', { uid, dataDir: action.dataDir });
        return;
      case 'ensureImage':
        await hub.call(nodeName, 'ensureImage', { image: action.image }, { timeoutMs: PULL_TIMEOUT_MS });
        return;
      case 'install': {
        const r = await hub.call(nodeName, 'install', { spec: action.spec, install: action.install }, { timeoutMs: INSTALL_TIMEOUT_MS });
        if (r.timedOut) throw Object.assign(new Error(`install timed out after ${Math.round(r.durationMs / 1000)} s`), { code: 'install_timeout' });
        if (r.exitCode !== 0) throw Object.assign(new Error(`install script exited with code ${r.exitCode}`), { code: 'install_failed' });
        return;
      }
      case 'create':
        await hub.call(nodeName, 'create', { spec: action.spec });
        return;
      case 'start':
        ready.forget(uid);
        await hub.call(nodeName, 'start', { uid });
        return;
      case 'stop':
        await hub.call(nodeName, 'stop', { uid, timeoutSeconds: action.timeoutSeconds }, { timeoutMs: action.timeoutSeconds * 1000 + RPC_SLACK_MS });
        return;
      case 'kill':
        await hub.call(nodeName, 'kill', { uid, signal: action.signal });
        return;
      case 'remove':
        await hub.call(nodeName, 'remove', { uid, removeData: action.removeData, dataDir: action.dataDir });
        return;
    }
  }

  /**
   * Writes a status patch computed from `basis` (the status the plan saw, plus our progress write).
   * When the object moved on meanwhile (a spec edit, a finalizer) the patch still applies as long as
   * nobody else changed the status; if someone did, false: the caller plans again rather than
   * overwriting a newer status with one computed from an older one.
   */
  async function writeStatus(server: GameServer, patch: StatusPatch, rv: string | undefined, basis: GameServerStatus | undefined): Promise<boolean> {
    if (!hasKeys(patch)) return true;
    const { namespace, name } = server.metadata;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await store.patchStatus('GameServer', namespace, name, patch, { resourceVersion: rv });
        return true;
      } catch (err) {
        if (isStoreError(err, 'NotFound')) return true;
        if (!isStoreError(err, 'Conflict')) throw err;
      }
      const fresh = await store.get<GameServer>('GameServer', namespace, name).catch(() => undefined);
      if (!fresh) return true;
      if (canonicalJson(fresh.status ?? {}) !== canonicalJson(basis ?? {})) return false;
      rv = fresh.metadata.resourceVersion;
    }
    return false;
  }

  async function record(server: GameServer, events: PlanEvent[]): Promise<void> {
    for (const e of events) {
      await deps.events.record({ kind: 'GameServer', namespace: server.metadata.namespace, name: server.metadata.name, uid: server.metadata.uid }, e.type, e.reason, e.message);
    }
  }

  // What the agents report changes outside the store: turn it into enqueues.
  hub.on('containerChanged', (_node: string, c: ObservedContainer) => {
    const s = serverByUid(c.uid);
    if (s) controller.enqueue(keyOf(s));
  });
  // The agent sends only counts that changed: each one is worth a look (and at most one status write).
  hub.on('players', (_node: string, samples) => {
    for (const p of samples) {
      const s = serverByUid(p.uid);
      if (s) controller.enqueue(keyOf(s));
    }
  });
  hub.on('snapshot', (node: string) => serversOn(node).forEach((k) => controller.enqueue(k)));
  hub.on('nodeConnected', (node: string) => serversOn(node).forEach((k) => controller.enqueue(k)));
  hub.on('nodeDisconnected', (node: string) => serversOn(node).forEach((k) => controller.enqueue(k)));
  hub.on('console', (_node: string, uid: string, lines) => {
    const s = serverByUid(uid);
    if (!s) return;
    const pattern = readyPatternOf(templateOf(s));
    if (ready.observe(uid, pattern, lines)) controller.enqueue(keyOf(s));
  });
  return controller;
}

const patternCache = new WeakMap<ServerTemplate, RegExp | undefined>();
function readyPatternOf(t: ServerTemplate | undefined): RegExp | undefined {
  if (!t?.spec?.readyPattern) return undefined;
  if (!patternCache.has(t)) {
    try {
      patternCache.set(t, new RegExp(t.spec.readyPattern));
    } catch {
      patternCache.set(t, undefined); // resolveDesired reports the bad pattern in status
    }
  }
  return patternCache.get(t);
}

const hasKeys = (o: object) => Object.keys(o).length > 0;

/**
 * The scheduler admits a server (status.nodeName) after checking resources and ports, also when
 * spec.nodeName was set by hand. Until then the lifecycle must not touch the node, so the plan sees
 * the server as unbound and keeps the scheduler's reason in the Scheduled condition.
 */
const admitted = (s: GameServer) => !boundNode(s) || isAdmitted(s);
const unbound = (s: GameServer): GameServer => ({ ...s, spec: { ...s.spec!, nodeName: undefined } });
