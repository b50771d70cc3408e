// Server operations: the rules and spec edits every facade (and the schedule steps) shares. Each
// imperative action is a spec edit (DESIGN.md "Imperative → declarative"): the GameServer controller
// does the work, and a Goal says when its status shows the action done, so a caller may wait for it
// (served from the shared informer, waits.ts). Nothing here knows who calls: identity, permissions
// and the request/answer shapes are the dialects' (api/); rules that depend on the caller take it as
// a flag (canEditLocked).
import type { GameNode, GameServer, GameServerSpec, ServerPort, ServerTemplate } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/resource.ts';
import { boundNode, currentNode, dataNode, isTransferring, targetNode } from '../../crds/placement.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { ServerReaper } from '../lifecycle/server-reaper.ts';
import { allocatePorts, portRangeOf, usedPorts } from '../scheduling/ports.ts';
import { allocatedOn, dimensionName, effectiveRequests, formatFree, formatQuantity, freeOf, nodeAllocatable, shortfalls } from '../scheduling/resources.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/types.ts';
import { conflict, invalid, notFound, OpError, unavailable } from './errors.ts';
import { getOrUndefined } from './lookup.ts';
import { effectivePorts, mustBeStopped, nextTrigger, serverPhase } from './server-state.ts';
import type { Verdict, WaitOptions, WaitOutcome, Waits } from './waits.ts';

export interface ServerOpsDeps {
  store: ResourceStore;
  waits: Waits;
  /** Wall-clock time (epoch ms) for trigger stamps. */
  now: () => number;
  /** Live node health (allocatable when a node declares no capacity). */
  hub?: Pick<AgentHub, 'node'>;
  /** Told when a delete removed the object at once (controller/lifecycle/server-reaper.ts). */
  reaper?: Pick<ServerReaper, 'serverGone'>;
}

/** When an action is done, judged on the server's status. */
export type Goal = (s: GameServer) => Verdict;

/** A spec edit made, and the goal its status will reach. */
export interface ServerChange {
  server: GameServer;
  goal: Goal;
}

export interface CreateServerInput {
  namespace: string;
  name: string;
  templateRef: string;
  owner: string;
  displayName?: string;
  description?: string;
  /** Bind to this node (checked: free resources and host ports); left out, the scheduler picks one. */
  nodeName?: string;
  resources?: NonNullable<GameServerSpec['resources']>;
  ports?: ServerPort[];
  networkMode?: GameServerSpec['networkMode'];
  environment?: Record<string, string>;
  restartPolicy?: { policy?: 'always' | 'on-failure' | 'never'; maxCrashCount?: number };
  stopTimeoutSeconds?: number;
}

export interface UpdateServerInput {
  displayName?: string;
  description?: string;
  stopTimeoutSeconds?: number;
  owner?: string;
  /** Merged into the current values; null removes a key. */
  environment?: Record<string, string | null>;
  /** New limits: only while stopped, and they must fit on the node. */
  resources?: NonNullable<GameServerSpec['resources']>;
}

export interface UpdateServerResult {
  server: GameServer;
  owner?: { from: string | null; to: string };
  resources?: NonNullable<GameServerSpec['resources']>;
}

const failed = (s: GameServer) => ['crashed', 'error'].includes(serverPhase(s));

/**
 * Checks the variable values a caller sets against the template: required ones present (a template
 * default counts), the values it sets matching their pattern, locked ones (userEditable: false) changed
 * only by callers allowed to (`canEditLocked`). `env` is the whole resulting environment, `changed` the
 * keys this call sets.
 */
export function checkVariables(template: ServerTemplate, env: Record<string, string>, changed: Iterable<string>, canEditLocked: boolean): void {
  const vars = template.spec?.variables ?? [];
  const changedSet = new Set(changed);
  if (!canEditLocked) {
    // The template's fixed environment is as locked as a non-editable variable: overriding it would
    // get around the lock.
    const names = new Set(vars.map((v) => v.name));
    const fixed = Object.keys(template.spec?.environment ?? {}).filter((k) => !names.has(k) && changedSet.has(k));
    const locked = [...vars.filter((v) => v.userEditable === false && changedSet.has(v.name)).map((v) => v.name), ...fixed];
    if (locked.length) throw new OpError('forbidden', `These template variables can only be changed by an administrator: ${locked.join(', ')}`, 'variable_locked');
  }
  const missing = vars.filter((v) => v.required && (env[v.name] === undefined || env[v.name] === '') && (v.default === undefined || v.default === '')).map((v) => v.name);
  if (missing.length) throw invalid(`Missing required template variables: ${missing.join(', ')}`, 'missing_variables');
  // Only values this call sets: a template whose pattern was tightened later must not block
  // unrelated edits (the reconciler reports the stale value in the server's status).
  for (const v of vars) {
    if (!v.pattern || !changedSet.has(v.name)) continue;
    const value = env[v.name];
    if (value === undefined) continue;
    let re: RegExp;
    try {
      re = new RegExp(v.pattern);
    } catch {
      continue; // the template's own status reports a pattern that does not compile
    }
    if (!re.test(value)) throw invalid(`Invalid value for template variable ${v.name}: "${value.slice(0, 100)}" does not match ${v.pattern}`, 'invalid_variable');
  }
}

export class ServerOps {
  constructor(private readonly d: ServerOpsDeps) {}

  get(namespace: string, name: string): Promise<GameServer | undefined> {
    return getOrUndefined<GameServer>(this.d.store, 'GameServer', namespace, name);
  }

  async require(namespace: string, name: string): Promise<GameServer> {
    const s = await this.get(namespace, name);
    if (!s) throw notFound(`server "${name}" not found`);
    return s;
  }

  template(name: string): Promise<ServerTemplate | undefined> {
    return getOrUndefined<ServerTemplate>(this.d.store, 'ServerTemplate', undefined, name);
  }

  node(name: string): Promise<GameNode | undefined> {
    return getOrUndefined<GameNode>(this.d.store, 'GameNode', undefined, name);
  }

  // ---- power and lifecycle (spec edits + goals) ---------------------------------------------------

  /** spec.state = Running; a server meant to run that exited by itself also gets a restart trigger. */
  async start(s: GameServer): Promise<ServerChange> {
    const spec: Record<string, unknown> = { state: 'Running' };
    // Already meant to run but exited by itself (on-failure after a clean exit, crash limit): only a
    // restart trigger starts it again (see the gameserver reconciler).
    if (s.spec?.state === 'Running' && !['running', 'starting', 'installing', 'stopping'].includes(serverPhase(s))) {
      spec.restartedAt = nextTrigger(this.d.now(), s.spec?.restartedAt);
    }
    const server = await this.patchSpec(s, spec);
    return {
      server,
      goal: (x) => (serverPhase(x) === 'running' ? 'reached' : x.spec?.state !== 'Running' || (failed(x) && x.metadata.generation === x.status?.observedGeneration) ? 'hopeless' : undefined),
    };
  }

  /** spec.state = Stopped (stopTimeoutSeconds: how long before it is killed). */
  async stop(s: GameServer, opts: { timeoutSeconds?: number } = {}): Promise<ServerChange> {
    const spec: Record<string, unknown> = { state: 'Stopped' };
    if (opts.timeoutSeconds !== undefined) spec.stopTimeoutSeconds = opts.timeoutSeconds;
    const server = await this.patchSpec(s, spec);
    const gen = server.metadata.generation ?? 0;
    return {
      server,
      // A server that already reads crashed/error has not been stopped until the controller saw the
      // edit (it then settles as stopped): counting it at once answered "stopped" with status crashed.
      goal: (x) => (serverPhase(x) === 'stopped' || (failed(x) && (x.status?.observedGeneration ?? 0) >= gen) ? 'reached' : x.spec?.state === 'Running' ? 'hopeless' : undefined),
    };
  }

  /** spec.restartedAt = now and state Running: stopped and started again (a stopped server is started). */
  async restart(s: GameServer): Promise<ServerChange> {
    const trigger = nextTrigger(this.d.now(), s.spec?.restartedAt);
    const startedBefore = serverPhase(s) === 'running' ? s.status?.startedAt : undefined;
    const server = await this.patchSpec(s, { state: 'Running', restartedAt: trigger });
    const handled = (x: GameServer) => !!x.status?.handledRestartedAt && Date.parse(x.status.handledRestartedAt) >= Date.parse(trigger);
    return {
      server,
      goal: (x) => {
        if (handled(x) && serverPhase(x) === 'running' && (startedBefore === undefined || x.status?.startedAt !== startedBefore)) return 'reached';
        return x.spec?.state !== 'Running' || (handled(x) && failed(x)) ? 'hopeless' : undefined;
      },
    };
  }

  /** spec.killedAt = now and state Stopped: SIGKILL without a graceful stop. */
  async kill(s: GameServer): Promise<ServerChange> {
    const trigger = nextTrigger(this.d.now(), s.spec?.killedAt);
    const server = await this.patchSpec(s, { state: 'Stopped', killedAt: trigger });
    return {
      server,
      goal: (x) => (!!x.status?.handledKilledAt && Date.parse(x.status.handledKilledAt) >= Date.parse(trigger) && !['running', 'starting', 'stopping'].includes(serverPhase(x)) ? 'reached' : x.spec?.state === 'Running' ? 'hopeless' : undefined),
    };
  }

  /** spec.reinstalledAt = now: the template's install script runs again. */
  async install(s: GameServer): Promise<ServerChange> {
    const trigger = nextTrigger(this.d.now(), s.spec?.reinstalledAt);
    const server = await this.patchSpec(s, { reinstalledAt: trigger });
    return { server, goal: (x) => (!!x.status?.handledReinstalledAt && Date.parse(x.status.handledReinstalledAt) >= Date.parse(trigger) && serverPhase(x) !== 'installing' ? 'reached' : undefined) };
  }

  /** Suspends (it is stopped; actions are refused until unsuspended). Conflict when already suspended. */
  async suspend(s: GameServer, opts: { reason?: string; by: string }): Promise<GameServer> {
    if (s.spec?.suspended) throw conflict('Server is already suspended', 'already_suspended');
    return this.d.store.patch<GameServer>('GameServer', s.metadata.namespace, s.metadata.name, {
      metadata: { annotations: { 'gantry.dev/suspended-at': new Date(this.d.now()).toISOString(), 'gantry.dev/suspended-by': opts.by } },
      spec: { suspended: true, suspendReason: opts.reason ?? null },
    });
  }

  /** Clears a suspension; the server stays stopped. Conflict when not suspended. */
  async unsuspend(s: GameServer): Promise<GameServer> {
    if (!s.spec?.suspended) throw conflict('Server is not suspended', 'not_suspended');
    return this.d.store.patch<GameServer>('GameServer', s.metadata.namespace, s.metadata.name, {
      metadata: { annotations: { 'gantry.dev/suspended-at': null, 'gantry.dev/suspended-by': null } },
      spec: { suspended: false, suspendReason: null, state: 'Stopped' },
    });
  }

  setRestartPolicy(s: GameServer, rp: { policy?: 'always' | 'on-failure' | 'never'; maxCrashCount?: number }): Promise<GameServer> {
    const patch: Record<string, unknown> = {};
    if (rp.policy !== undefined) patch.policy = rp.policy;
    if (rp.maxCrashCount !== undefined) patch.maxCrashCount = rp.maxCrashCount;
    return this.patchSpec(s, { restartPolicy: patch });
  }

  /** spec.crashCountResetAt = now: a server held at its crash limit may start again. */
  resetCrashCount(s: GameServer): Promise<GameServer> {
    return this.patchSpec(s, { crashCountResetAt: nextTrigger(this.d.now(), s.spec?.crashCountResetAt) });
  }

  /** Waits until the change's goal is reached or hopeless, the server is deleted, or the timeout. */
  wait(change: ServerChange, opts: WaitOptions): Promise<WaitOutcome<GameServer>> {
    return this.d.waits.waitFor('GameServer', change.server, change.goal, opts);
  }

  // ---- create, update, delete ---------------------------------------------------------------------

  /** Creates a GameServer after every check: template, node, name, variables, node fit, host ports. */
  async create(input: CreateServerInput, opts: { canEditLocked: boolean }): Promise<GameServer> {
    const template = await this.template(input.templateRef);
    if (!template) throw notFound(`Template not found: "${input.templateRef}"`);
    const node = input.nodeName ? await this.node(input.nodeName) : undefined;
    if (input.nodeName && !node) throw notFound(`Node not found: "${input.nodeName}"`);
    if (node?.metadata.deletionTimestamp) throw invalid(`Node ${node.metadata.name} is being deleted`);
    if (await this.get(input.namespace, input.name)) throw conflict(`A server with id "${input.name}" already exists; choose another name or give an id`, 'already_exists');

    const env = input.environment ?? {};
    checkVariables(template, env, Object.keys(env), opts.canEditLocked);
    const spec: GameServerSpec = { templateRef: template.metadata.name, owner: input.owner, state: 'Stopped' };
    if (input.displayName !== undefined) spec.displayName = input.displayName;
    if (input.description !== undefined) spec.description = input.description;
    if (node) spec.nodeName = node.metadata.name;
    if (input.resources && Object.keys(input.resources).length) spec.resources = input.resources;
    if (input.ports) spec.ports = input.ports;
    if (input.networkMode) spec.networkMode = input.networkMode;
    if (Object.keys(env).length) spec.environment = env;
    if (input.restartPolicy && (input.restartPolicy.policy !== undefined || input.restartPolicy.maxCrashCount !== undefined)) spec.restartPolicy = { ...input.restartPolicy };
    if (input.stopTimeoutSeconds !== undefined) spec.stopTimeoutSeconds = input.stopTimeoutSeconds;
    const candidate: GameServer = { apiVersion: API_VERSION, kind: 'GameServer', metadata: { name: input.name, namespace: input.namespace }, spec };

    if (node) {
      await this.checkFits(candidate, template, node);
      const alloc = allocatePorts({ server: candidate, template, node, used: usedPorts(node.metadata.name, await this.listServers()) });
      if (!alloc.ok) throw new OpError(alloc.kind === 'conflict' ? 'conflict' : 'invalid', `Cannot bind the server's ports on node ${node.metadata.name}: ${alloc.reason}`, 'port_unavailable');
    }
    return this.d.store.create<GameServer>(candidate);
  }

  /** Changes settings; environment checked against the template, new limits only while stopped and if they fit. */
  async update(s: GameServer, changes: UpdateServerInput, opts: { canEditLocked: boolean }): Promise<UpdateServerResult> {
    const template = await this.template(s.spec?.templateRef ?? '');
    const out: Omit<UpdateServerResult, 'server'> = {};
    const server = await this.patchFresh(s, async (current) => {
      const spec: Record<string, unknown> = {};
      delete out.owner;
      delete out.resources;
      if (changes.displayName !== undefined) spec.displayName = changes.displayName;
      if (changes.description !== undefined) spec.description = changes.description;
      if (changes.stopTimeoutSeconds !== undefined) spec.stopTimeoutSeconds = changes.stopTimeoutSeconds;
      if (changes.owner !== undefined && changes.owner !== current.spec?.owner) {
        spec.owner = changes.owner;
        out.owner = { from: current.spec?.owner ?? null, to: changes.owner };
      }
      if (changes.environment !== undefined) {
        if (!template) throw invalid(`the server's template "${current.spec?.templateRef}" is missing; its variables cannot be checked`);
        const env: Record<string, string> = { ...(current.spec?.environment ?? {}) };
        for (const [k, v] of Object.entries(changes.environment)) {
          if (v === null) delete env[k];
          else env[k] = v;
        }
        checkVariables(template, env, Object.keys(changes.environment), opts.canEditLocked);
        spec.environment = changes.environment;
      }
      if (changes.resources && Object.keys(changes.resources).length) {
        const cur = current.spec?.resources ?? {};
        const differs = Object.entries(changes.resources).some(([k, v]) => (cur as Record<string, number>)[k] !== v);
        if (differs) {
          mustBeStopped(current, 'to update resource allocations');
          // During a transfer the new limits must fit where the server is going.
          const nodeName = targetNode(current);
          const node = nodeName ? await this.node(nodeName) : undefined;
          if (node && template) await this.checkFits({ ...current, spec: { ...current.spec!, resources: { ...cur, ...changes.resources } } }, template, node);
          spec.resources = changes.resources;
          out.resources = changes.resources;
        }
      }
      return { spec };
    });
    return { server, ...out };
  }

  /** Deletes a stopped server (its container and data go with it, by the cleanup finalizer). */
  async delete(s: GameServer): Promise<void> {
    mustBeStopped(s, 'before deletion');
    const { namespace, name } = s.metadata;
    const after = await this.d.store.delete<GameServer>('GameServer', namespace, name, { resourceVersion: s.metadata.resourceVersion }).catch(async (err) => {
      // A status write in between is no reason to refuse; check again on the fresh object.
      const fresh = await this.get(namespace ?? 'default', name);
      if (!fresh || fresh.metadata.uid !== s.metadata.uid) return undefined;
      if (!(isStoreError(err) && err.reason === 'Conflict')) throw err;
      mustBeStopped(fresh, 'before deletion');
      return this.d.store.delete<GameServer>('GameServer', namespace, name);
    });
    // Removed at once (no finalizer held it): its grants and the rest go now, not when the informer
    // hears of it. Held by the cleanup finalizer: the reaper drops them when the object goes.
    if (after && !after.metadata.deletionTimestamp) await this.d.reaper?.serverGone(after);
  }

  // ---- transfer between nodes ---------------------------------------------------------------------

  /**
   * Moves a stopped server to `targetName`: spec.nodeName = the target (the transfer controller moves
   * the data, controller/reconcilers/transfer/). Checked first, as the document lists: stopped, not
   * already there, target online (connected, not cordoned, not being deleted) and with the resources
   * and host ports; the source must be connected (its agent streams the data). Host ports the node
   * picked from the source's range are handed back (hostPort 0) to be allocated from the target's;
   * ports an operator chose outside the range stay and must be free there. The goal: the data is on
   * the target (status.nodeName flipped); hopeless once spec.nodeName was set back (refused, failed).
   */
  async transfer(s: GameServer, targetName: string): Promise<ServerChange & { from: string | undefined; to: string }> {
    const node = await this.node(targetName);
    if (!node) throw notFound(`Node not found: "${targetName}"`, 'node_not_found');
    const t = s.status?.transfer;
    if (t || isTransferring(s)) {
      const what = t ? `${t.from} → ${t.to}, ${t.phase}` : `${dataNode(s)} → ${boundNode(s)}`;
      throw conflict(`A transfer of this server is under way (${what}); wait for it to end`, 'transfer_in_progress');
    }
    const from = currentNode(s);
    if (from === targetName) throw invalid(`Server already on target node ${targetName}`, 'already_on_node');
    mustBeStopped(s, 'before a transfer');
    if (node.metadata.deletionTimestamp) throw invalid(`Target node ${targetName} is being deleted`, 'target_unavailable');
    if (node.spec?.unschedulable) throw invalid(`Target node ${targetName} is cordoned (spec.unschedulable): it takes no servers`, 'target_unschedulable');
    if (!this.d.hub?.node(targetName)?.connected || node.status?.phase !== 'Online') throw invalid(`Target node ${targetName} is offline`, 'target_offline');
    const source = dataNode(s);
    if (source && !this.d.hub?.node(source)?.connected) throw unavailable(`Node ${source}, which holds the server's data, is offline: the data cannot be read`, 'source_offline');

    const template = await this.template(s.spec?.templateRef ?? '');
    const sourceNode = source ? await this.node(source) : undefined;
    const ports = s.spec?.ports && sourceNode ? releaseAllocatedPorts(s.spec.ports, sourceNode) : undefined;
    const candidate: GameServer = { ...s, spec: { ...s.spec!, nodeName: targetName, ...(ports ? { ports } : {}) } };
    if (template) await this.checkFits(candidate, template, node);
    if ((s.spec?.networkMode ?? 'bridge') !== 'none') {
      const alloc = allocatePorts({ server: candidate, template, node, used: usedPorts(targetName, await this.listServers(), { except: s }) });
      if (!alloc.ok) throw new OpError('insufficient_resources', `Target node ${targetName} cannot give the server its ports: ${alloc.reason}`, 'port_unavailable');
    }
    const server = await this.patchFresh(s, (current) => {
      if (current.status?.transfer || isTransferring(current) || currentNode(current) !== from) throw conflict('The server changed meanwhile (another transfer?); look again', 'transfer_in_progress');
      mustBeStopped(current, 'before a transfer');
      return { spec: { nodeName: targetName, ...(ports ? { ports } : {}) } };
    });
    return {
      server,
      from,
      to: targetName,
      goal: (x) => {
        if (dataNode(x) === targetName && x.status?.transfer?.phase !== 'Streaming') return 'reached';
        return boundNode(x) !== targetName ? 'hopeless' : undefined;
      },
    };
  }

  // ---- allocations (spec.ports with explicit host ports) ------------------------------------------

  /** The port bindings in effect. */
  async ports(s: GameServer): Promise<ServerPort[]> {
    return effectivePorts(s, await this.template(s.spec?.templateRef ?? ''));
  }

  /** Adds a binding (stopped server); hostPort 0 = allocated from the node's range now. */
  async addPort(s: GameServer, port: { containerPort: number; hostPort?: number; protocol?: 'TCP' | 'UDP'; name?: string }): Promise<ServerPort> {
    const protocol = port.protocol ?? 'TCP';
    let added: ServerPort | undefined;
    await this.changePorts(s, async (ports, current) => {
      if (ports.some((p) => isPort(p, port.containerPort, protocol))) throw conflict(`Port ${port.containerPort}/${protocol} is already allocated`, 'already_allocated');
      const next = [...ports, { containerPort: port.containerPort, hostPort: port.hostPort ?? 0, protocol, primary: false, ...(port.name ? { name: port.name } : {}) } as ServerPort];
      const bound = await this.bindPorts(current, next);
      added = bound.find((p) => p.containerPort === port.containerPort && p.protocol === protocol);
      return bound;
    });
    return added!;
  }

  /** Removes a non-primary binding (stopped server). */
  removePort(s: GameServer, containerPort: number, protocol: 'TCP' | 'UDP' = 'TCP'): Promise<void> {
    return this.changePorts(s, (ports) => {
      const p = ports.find((x) => isPort(x, containerPort, protocol));
      if (!p) throw notFound(`Allocation ${containerPort}/${protocol} not found`);
      if (p.primary) throw invalid(`Port ${containerPort}/${protocol} is the primary allocation; make another port primary first`, 'primary_allocation');
      return ports.filter((x) => x !== p);
    });
  }

  /** Makes an existing binding the primary one (stopped server). */
  setPrimaryPort(s: GameServer, containerPort: number, protocol: 'TCP' | 'UDP' = 'TCP'): Promise<void> {
    return this.changePorts(s, (ports) => {
      if (!ports.some((x) => isPort(x, containerPort, protocol))) throw notFound(`Allocation ${containerPort}/${protocol} not found`);
      return ports.map((x) => ({ ...x, primary: isPort(x, containerPort, protocol) }));
    });
  }

  // ---- checks ------------------------------------------------------------------------------------

  /** insufficient_resources "Node does not have enough resources: …" when `server` (as it would be) does not fit on `node`. */
  async checkFits(server: GameServer, template: ServerTemplate, node: GameNode): Promise<void> {
    const nodeName = node.metadata.name;
    const [servers, templates] = await Promise.all([this.listServers(), this.templates()]);
    const allocated = allocatedOn(nodeName, servers, templates, server);
    const free = freeOf(nodeAllocatable(node, this.d.hub?.node(nodeName)?.health), allocated);
    const short = shortfalls(effectiveRequests(server, template), free, true);
    if (short.length) {
      const detail = short.map((x) => `needs ${formatQuantity(x.dimension, x.needs)} ${dimensionName(x.dimension)}, ${x.free === undefined ? 'unknown' : formatFree(x.dimension, x.free)} free`).join('; ');
      throw new OpError('insufficient_resources', `Node does not have enough resources: ${detail} on node ${nodeName}`, 'insufficient_resources');
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  private patchSpec(s: GameServer, spec: Record<string, unknown>): Promise<GameServer> {
    return this.d.store.patch<GameServer>('GameServer', s.metadata.namespace, s.metadata.name, { spec });
  }

  /**
   * A read-modify-write of one server with a resourceVersion precondition, retried on conflict: for
   * edits that replace a list (ports) or depend on the current value, where a blind merge patch could
   * undo a concurrent edit. `compute` may throw to refuse.
   */
  private async patchFresh(s: GameServer, compute: (current: GameServer) => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<GameServer> {
    const ns = s.metadata.namespace ?? 'default';
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(ns, s.metadata.name);
      if (!current || (s.metadata.uid && current.metadata.uid !== s.metadata.uid)) throw notFound(`server "${s.metadata.name}" not found`);
      const patch = await compute(current);
      try {
        return await this.d.store.patch<GameServer>('GameServer', ns, s.metadata.name, patch, { resourceVersion: current.metadata.resourceVersion });
      } catch (err) {
        // Status writes by the controller bump the version too; try again on the fresh object.
        if (isStoreError(err) && err.reason === 'Conflict' && attempt < 4) continue;
        throw err;
      }
    }
  }

  private async changePorts(s: GameServer, change: (ports: ServerPort[], current: GameServer) => ServerPort[] | Promise<ServerPort[]>): Promise<void> {
    await this.patchFresh(s, async (current) => {
      mustBeStopped(current, 'to change allocations');
      return { spec: { ports: await change(await this.ports(current), current) } };
    });
  }

  /** Fills missing host ports (bound servers) and checks explicit ones, on the node it will run on. */
  private async bindPorts(server: GameServer, ports: ServerPort[]): Promise<ServerPort[]> {
    const nodeName = targetNode(server);
    if (!nodeName || (server.spec?.networkMode ?? 'bridge') === 'none') return ports;
    const node = await this.node(nodeName);
    if (!node) return ports;
    const template = await this.template(server.spec?.templateRef ?? '');
    const candidate: GameServer = { ...server, spec: { ...server.spec!, ports } };
    const result = allocatePorts({ server: candidate, template, node, used: usedPorts(nodeName, await this.listServers(), { except: server }) });
    if (!result.ok) {
      const range = portRangeOf(node);
      throw new OpError(result.kind === 'conflict' ? 'conflict' : 'invalid', `${result.reason} (node port range ${range.start}-${range.end})`, 'port_unavailable');
    }
    return result.ports;
  }

  /** Every namespace's: a node's resources and host ports are shared by all of them. */
  private async listServers(): Promise<GameServer[]> {
    return (await this.d.store.list<GameServer>('GameServer')).items;
  }

  private async templates(): Promise<Map<string, ServerTemplate>> {
    return new Map((await this.d.store.list<ServerTemplate>('ServerTemplate')).items.map((t) => [t.metadata.name, t]));
  }
}

const isPort = (x: ServerPort, containerPort: number, protocol: string) => x.containerPort === containerPort && (x.protocol ?? 'TCP') === protocol;

/** Host ports inside `node`'s range were picked by Gantry there: 0 again, to be picked on the next node. */
export function releaseAllocatedPorts(ports: readonly ServerPort[], node: GameNode): ServerPort[] {
  const range = portRangeOf(node);
  return ports.map((p) => (p.hostPort && p.hostPort >= range.start && p.hostPort <= range.end ? { ...p, hostPort: 0 } : { ...p }));
}
