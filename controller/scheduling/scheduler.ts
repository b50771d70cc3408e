// The scheduler: which GameNode a GameServer goes to, with which host ports. Pure functions: the
// executor (the GameServer reconciler) reads the informer caches, calls these, and writes the result.
//
// schedule(server, template, nodes, servers) picks, for a server without spec.nodeName:
//   candidates = nodes that are not being deleted, Online (status.phase, kept up to date from the
//   heartbeats by the GameNode reconciler), schedulable (not spec.unschedulable), whose labels match
//   spec.nodeSelector, with enough free memory, CPU and disk (resources.ts) and the host ports
//   (ports.ts); the least loaded wins: lowest memory fraction *after* placement (so of two empty nodes
//   the bigger one), ties broken by node name, so the same inputs always give the same node.
//   None fits → a Kubernetes-style reason counting why per node, e.g.
//   `0/3 nodes available: 1 offline, 1 unschedulable, 1 insufficient memory (needs 2048 MiB, 1024 free)`,
//   plus the reasons per node (for an Event or the panel).
// A server that already has spec.nodeName (an operator's choice, or an earlier binding) is not
// scheduled again: schedule() re-checks the binding with checkBinding() instead.
//
// checkBinding(server, template, node, servers) re-verifies a binding on the node it names: enough
// resources and the host ports (allocating the omitted ones, keeping ports the server already had).
// It ignores phase, cordon and nodeSelector, which decide where *new* servers go and never evict a
// bound one (as spec.nodeName bypasses the Kubernetes scheduler). An unknown capacity is not held
// against a hand-made binding (only known limits are enforced).
//
// ---- Keeping concurrent bindings from overcommitting a node or sharing a port ---------------------
//
// The binding is two writes by the executor: spec.nodeName (an update carrying the server's
// resourceVersion, so it fails with Conflict if the server changed since it was read), then status
// (nodeName, ports, Scheduled=True). Two servers created at the same moment must not both get the
// last 60 % of a node or the same port. The executor guarantees it as the Kubernetes scheduler does:
//
// 1. One scheduling decision at a time: schedule → write runs under one lock (or one queue worker) in
//    the controller process, and only the elected leader runs the GameServer controller.
// 2. An assume cache: after deciding and before writing, the executor records the Placement; until
//    the informer shows the binding, every later decision sees the server as already placed
//    (applyAssumed() overlays the placements on the informer's list and tells which ones have settled
//    and can be forgotten). A failed write (Conflict or other) forgets the placement and requeues the
//    server, which is then scheduled again from a fresh read. This closes the window between a write
//    and its watch event, which is what would otherwise let two servers see the same free space.
// 3. A deterministic tie-break as the safety net: a collision can still be made by hand (two
//    manifests naming the same node and hostPort, kubectl setting spec.nodeName) or by a second
//    controller during a leader hand-over. Before admitting a bound server (writing its status ports,
//    creating its container) the executor calls checkBinding() on a fresh view. checkBinding counts
//    only the servers *senior* to the one checked: a server already admitted on the node
//    (status.nodeName = the node) before one that is not, then the older creationTimestamp, then the
//    key. Every observer ranks two servers the same way, so of two colliding servers exactly one is
//    refused (Scheduled=False with the reason) and never both, and a running server is never the one
//    that gives way to a newcomer.
// A stronger cross-process guarantee (a per-node allocation record updated with a resourceVersion
// precondition) is not needed while one leader schedules, and would put every binding through one
// hot object.
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { GameNode, GameServer, ServerPort, ServerTemplate } from '../../crds/types.ts';
import { allocatePorts, usedPorts } from './ports.ts';
import {
  allocatedOn,
  dimensionName,
  effectiveRequests,
  formatFree,
  formatQuantity,
  freeOf,
  isBoundTo,
  lookupTemplate,
  nodeAllocatable,
  sameServer,
  serverKey,
  shortfalls,
  type Dimension,
  type Quantities,
  type Shortfall,
  type TemplateSource,
} from './resources.ts';

export interface SchedulingContext {
  /** Templates of the other servers (their requests); a server whose template is missing counts the defaults. */
  templates?: TemplateSource;
  /** The hub's latest health report of a node (allocatable when spec.capacity leaves a field out). */
  health?: (nodeName: string) => HealthReport | undefined;
}

export type ScheduleResult =
  | { ok: true; nodeName: string; ports: ServerPort[]; requests: Quantities }
  | {
      ok: false;
      reason: string;
      /** Why each node was not chosen, by node name (empty when the server itself is at fault). */
      nodes: Record<string, string[]>;
    };

/** Why one node cannot take the server. */
type Category = 'deleting' | 'offline' | 'unschedulable' | 'selector' | Dimension | 'portConflict' | 'portsExhausted';

interface Problem {
  category: Category;
  /** Full sentence for the per-node list. */
  text: string;
  shortfall?: Shortfall;
  /** For port problems: the allocator's reason. */
  detail?: string;
}

const ORDER: readonly Category[] = ['deleting', 'offline', 'unschedulable', 'selector', 'memoryMb', 'cpuCores', 'diskMb', 'portConflict', 'portsExhausted'];

const LABEL: Record<Category, (n: number) => string> = {
  deleting: () => 'being deleted',
  offline: () => 'offline',
  unschedulable: () => 'unschedulable',
  selector: () => "didn't match node selector",
  memoryMb: () => 'insufficient memory',
  cpuCores: () => 'insufficient cpu',
  diskMb: () => 'insufficient disk',
  portConflict: (n) => (n === 1 ? 'port conflict' : 'port conflicts'),
  portsExhausted: () => 'insufficient ports',
};

function fail(reason: string, nodes: Record<string, string[]> = {}): ScheduleResult {
  return { ok: false, reason, nodes };
}

/** True when every nodeSelector pair is a label of the node. */
export function matchesSelector(node: GameNode, selector: Record<string, string> | undefined): boolean {
  const labels = node.metadata.labels ?? {};
  return Object.entries(selector ?? {}).every(([k, v]) => Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === v);
}

/**
 * Seniority on `nodeName`, lowest first: admitted on the node (status.nodeName) before not, then the
 * older creationTimestamp, then the key. checkBinding counts only servers senior to the one checked.
 */
export function seniorityKey(s: GameServer, nodeName: string): [number, string, string] {
  return [s.status?.nodeName === nodeName ? 0 : 1, s.metadata.creationTimestamp ?? '\uffff', serverKey(s)];
}

export function isSenior(a: GameServer, b: GameServer, nodeName: string): boolean {
  const ka = seniorityKey(a, nodeName);
  const kb = seniorityKey(b, nodeName);
  for (let i = 0; i < 3; i++) {
    if (ka[i]! < kb[i]!) return true;
    if (ka[i]! > kb[i]!) return false;
  }
  return false;
}

function templateLookup(ctx: SchedulingContext, own: ServerTemplate | undefined): TemplateSource {
  return (name: string) => lookupTemplate(ctx.templates, name) ?? (own && own.metadata.name === name ? own : undefined);
}

function shortfallText(s: Shortfall, nodeName?: string): string {
  const on = nodeName ? ` on node ${nodeName}` : '';
  const free = s.free === undefined ? 'capacity unknown' : `${formatFree(s.dimension, s.free)} free`;
  return `insufficient ${dimensionName(s.dimension)}${on} (needs ${formatQuantity(s.dimension, s.needs)}, ${free})`;
}

interface Fit {
  node: GameNode;
  ports: ServerPort[];
  /** Memory after placement and allocatable memory, for least-loaded ordering. */
  used: number;
  total: number;
}

function evaluate(
  server: GameServer,
  template: ServerTemplate,
  requests: Quantities,
  node: GameNode,
  servers: readonly GameServer[],
  ctx: SchedulingContext,
  templates: TemplateSource,
): Fit | Problem[] {
  const name = node.metadata.name;
  if (node.metadata.deletionTimestamp) return [{ category: 'deleting', text: 'node is being deleted' }];
  if (node.status?.phase !== 'Online') return [{ category: 'offline', text: `node is ${(node.status?.phase ?? 'unknown').toLowerCase()}` }];
  if (node.spec?.unschedulable) return [{ category: 'unschedulable', text: 'node is cordoned (spec.unschedulable)' }];
  if (!matchesSelector(node, server.spec?.nodeSelector)) return [{ category: 'selector', text: "node labels don't match spec.nodeSelector" }];

  const allocatable = nodeAllocatable(node, ctx.health?.(name));
  const allocated = allocatedOn(name, servers, templates, server);
  const short = shortfalls(requests, freeOf(allocatable, allocated));
  if (short.length) return short.map((s) => ({ category: s.dimension, text: shortfallText(s), shortfall: s }));

  const ports = allocatePorts({ server, template, node, used: usedPorts(name, servers, { except: server }) });
  if (!ports.ok) return [{ category: ports.kind === 'conflict' ? 'portConflict' : 'portsExhausted', text: ports.reason, detail: ports.reason }];
  return { node, ports: ports.ports, used: allocated.memoryMb + requests.memoryMb, total: allocatable.memoryMb ?? 0 };
}

/** a is less loaded than b after placement (memory fraction; a node with no memory counts as full). */
function lessLoaded(a: Fit, b: Fit): boolean {
  const fa = a.total > 0 ? a.used / a.total : Infinity;
  const fb = b.total > 0 ? b.used / b.total : Infinity;
  if (fa !== fb) return fa < fb;
  return a.node.metadata.name < b.node.metadata.name;
}

function summarise(category: Category, problems: Problem[]): string {
  const label = LABEL[category](problems.length);
  if (category === 'memoryMb' || category === 'cpuCores' || category === 'diskMb') {
    const needs = problems[0]!.shortfall!.needs;
    const known = problems.map((p) => p.shortfall!.free).filter((f): f is number => f !== undefined);
    const free = !known.length
      ? 'capacity unknown'
      : problems.length === 1
        ? `${formatFree(category, known[0]!)} free`
        : `at most ${formatFree(category, Math.max(...known))} free`;
    return `${problems.length} ${label} (needs ${formatQuantity(category, needs)}, ${free})`;
  }
  if (category === 'portConflict' || category === 'portsExhausted') {
    const details = problems.map((p) => p.detail!);
    const shown = details.slice(0, 3).join('; ') + (details.length > 3 ? `; and ${details.length - 3} more` : '');
    return `${problems.length} ${label} (${shown})`;
  }
  return `${problems.length} ${label}`;
}

/**
 * Picks a node for `server` and its host ports, or says why none fits. `servers` may be every
 * GameServer (servers not bound to a node are ignored; the server itself is left out).
 */
export function schedule(
  server: GameServer,
  template: ServerTemplate | undefined,
  nodes: readonly GameNode[],
  servers: readonly GameServer[],
  ctx: SchedulingContext = {},
): ScheduleResult {
  const nodeName = server.spec?.nodeName;
  if (nodeName) return checkBinding(server, template, nodes.find((n) => n.metadata.name === nodeName), servers, ctx);
  if (!template) return fail(`template "${server.spec?.templateRef ?? ''}" not found`);
  const requests = effectiveRequests(server, template);
  const templates = templateLookup(ctx, template);
  const sorted = [...nodes].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));

  let best: Fit | undefined;
  const perNode: Record<string, string[]> = {};
  const byCategory = new Map<Category, Problem[]>();
  for (const node of sorted) {
    const r = evaluate(server, template, requests, node, servers, ctx, templates);
    if (Array.isArray(r)) {
      perNode[node.metadata.name] = r.map((p) => p.text);
      for (const p of r) {
        const list = byCategory.get(p.category) ?? [];
        list.push(p);
        byCategory.set(p.category, list);
      }
    } else if (!best || lessLoaded(r, best)) best = r;
  }
  if (best) return { ok: true, nodeName: best.node.metadata.name, ports: best.ports, requests };

  const parts = ORDER.filter((c) => byCategory.has(c)).map((c) => summarise(c, byCategory.get(c)!));
  const reason = nodes.length === 0 ? '0/0 nodes available: no GameNode exists' : `0/${nodes.length} nodes available: ${parts.join(', ')}`;
  return fail(reason, perNode);
}

/**
 * Re-verifies the binding of a server to `node` (the node its spec.nodeName names; undefined when
 * that GameNode does not exist) against the servers senior to it, and returns its host ports.
 */
export function checkBinding(
  server: GameServer,
  template: ServerTemplate | undefined,
  node: GameNode | undefined,
  servers: readonly GameServer[],
  ctx: SchedulingContext = {},
): ScheduleResult {
  const nodeName = node?.metadata.name ?? server.spec?.nodeName ?? '';
  if (!node) return fail(`node "${nodeName}" not found`);
  if (!template) return fail(`template "${server.spec?.templateRef ?? ''}" not found`);
  const requests = effectiveRequests(server, template);
  const templates = templateLookup(ctx, template);
  const senior = (o: GameServer) => isSenior(o, server, nodeName);
  const seniors = servers.filter((o) => isBoundTo(o, nodeName) && !sameServer(o, server) && senior(o));

  const allocatable = nodeAllocatable(node, ctx.health?.(nodeName));
  const short = shortfalls(requests, freeOf(allocatable, allocatedOn(nodeName, seniors, templates)), true);
  if (short.length) {
    const reason = short.map((s) => shortfallText(s, nodeName)).join('; ');
    return fail(reason, { [nodeName]: [reason] });
  }
  const ports = allocatePorts({ server, template, node, used: usedPorts(nodeName, servers, { except: server, isSenior: senior }) });
  if (!ports.ok) return fail(ports.reason, { [nodeName]: [ports.reason] });
  return { ok: true, nodeName, ports: ports.ports, requests };
}

// ---- The assume cache's pure half ----------------------------------------------------------------

/** A decision the executor is writing: the server `key` (uid when known) goes to `nodeName` with `ports`. */
export interface Placement {
  key: string;
  uid?: string;
  nodeName: string;
  ports: ServerPort[];
}

export function placementOf(server: GameServer, result: Extract<ScheduleResult, { ok: true }>): Placement {
  const p: Placement = { key: serverKey(server), nodeName: result.nodeName, ports: result.ports };
  if (server.metadata.uid) p.uid = server.metadata.uid;
  return p;
}

/** The server as it will look once the binding is written (a copy; the input is not touched). */
export function assumeBound(server: GameServer, p: Placement): GameServer {
  return {
    ...server,
    spec: { ...server.spec!, nodeName: p.nodeName },
    status: { ...server.status, nodeName: p.nodeName, ports: p.ports.map((q) => ({ ...q })) },
  };
}

const portsKey = (ports: readonly ServerPort[] | undefined) =>
  JSON.stringify((ports ?? []).map((p) => [p.containerPort, p.protocol ?? 'TCP', p.hostPort ?? 0]).sort());

/**
 * Overlays the placements being written on the informer's list of servers. `settled` are the keys
 * whose placement the list already shows (both writes landed) or whose server is gone or was
 * replaced (another uid): the executor forgets them. Pass the complete list of servers.
 */
export function applyAssumed(servers: readonly GameServer[], assumed: Iterable<Placement>): { servers: GameServer[]; settled: string[] } {
  const byKey = new Map<string, Placement>();
  for (const p of assumed) byKey.set(p.key, p);
  const settled = new Set<string>(byKey.keys());
  const out = servers.map((s) => {
    const key = serverKey(s);
    const p = byKey.get(key);
    if (!p || (p.uid && s.metadata.uid && p.uid !== s.metadata.uid)) return s;
    const landed = s.spec?.nodeName === p.nodeName && s.status?.nodeName === p.nodeName && portsKey(s.status?.ports) === portsKey(p.ports);
    if (landed) return s;
    settled.delete(key);
    return assumeBound(s, p);
  });
  return { servers: out, settled: [...settled] };
}
