// Resource arithmetic of the scheduler: what a GameServer asks for, what a GameNode can give, what is
// already handed out on it, and what is left. Pure functions: no I/O, inputs are never modified (the
// informer cache hands out deep-frozen objects).
//
// Decisions:
// - Requests = limits. A GameServer's limits (memoryMb, cpuCores, diskMb) are what the container gets,
//   so they are also what the scheduler reserves: no overcommit, like Pterodactyl's allocations (a
//   node operator who wants to overcommit raises spec.capacity above the machine's real size).
// - A limit the server leaves out falls back to its template's spec.resources, then to the
//   template defaults of crds/servertemplate.yaml (1024 MiB, 1 core, 10240 MiB disk).
// - `diskMb: 0` means "no quota", and a server without a quota reserves no disk (it is not bounded,
//   so there is nothing to reserve; set a quota to have disk accounted).
// - Allocatable, per field: spec.capacity when set ("what the scheduler may hand out", CRD), else what
//   the agent's health report says the machine has (total memory, CPU count, size of the file system
//   holding the data root: totals, not "available", because the servers already placed are what uses
//   the rest and would otherwise be counted twice), else the last value the GameNode reconciler wrote
//   to status.allocatable (the node is offline and the hub has no report). No reserve is subtracted
//   for the OS: operators who want headroom set spec.capacity.
// - Allocated = the sum over every server bound to the node, running or not. A stopped server keeps
//   its data (disk) and its host ports on the node, and must be able to start again without finding
//   its memory given away: starting is an operator's promise, not a scheduling decision. A server is
//   bound to the node named by spec.nodeName (the binding) and also, while it is being transferred,
//   to the node named by status.nodeName (its container and data are still there); it counts on both.
// - CPU is summed in millicores (integers), so 0.1 + 0.2 is 0.3 and comparisons are exact.
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { GameNode, GameServer, NodeCapacity, ServerTemplate } from '../../crds/types.ts';
import { isOnNode, nodesOf } from '../../crds/placement.ts';

/** crds/servertemplate.yaml spec.resources defaults. */
export const TEMPLATE_DEFAULT_RESOURCES = Object.freeze({ memoryMb: 1024, cpuCores: 1, diskMb: 10240 });

/** A complete set of schedulable quantities. memoryMb and diskMb in MiB, cpuCores in cores. */
export interface Quantities {
  memoryMb: number;
  cpuCores: number;
  diskMb: number;
}

/** Allocatable may be unknown per field (no capacity in spec, no health report yet). */
export type PartialQuantities = Partial<Quantities>;

export type Dimension = keyof Quantities;
export const DIMENSIONS: readonly Dimension[] = ['memoryMb', 'cpuCores', 'diskMb'];

/** Templates by name: a Map (e.g. built from an informer list) or a lookup (e.g. informer.get). */
export type TemplateSource = ReadonlyMap<string, ServerTemplate> | ((name: string) => ServerTemplate | undefined);

export function lookupTemplate(src: TemplateSource | undefined, name: string | undefined): ServerTemplate | undefined {
  if (!src || !name) return undefined;
  return typeof src === 'function' ? src(name) : src.get(name);
}

/** `namespace/name` (the work-queue key, as controller/runtime's keyOf). */
export function serverKey(s: { metadata: { name: string; namespace?: string } }): string {
  return s.metadata.namespace ? `${s.metadata.namespace}/${s.metadata.name}` : s.metadata.name;
}

/** Same object: same uid when both have one, else same key. */
export function sameServer(a: GameServer, b: GameServer): boolean {
  if (a.metadata.uid && b.metadata.uid) return a.metadata.uid === b.metadata.uid;
  return serverKey(a) === serverKey(b);
}

/** Integer millicores of a core count (exact arithmetic). */
export const toMilli = (cores: number): number => Math.round(cores * 1000);
const fromMilli = (m: number): number => m / 1000;

const MiB = 1024 * 1024;

/** The memory, CPU and disk a server reserves (its limits; see the header for the fallbacks). */
export function effectiveRequests(server: GameServer, template: ServerTemplate | undefined): Quantities {
  const own = server.spec?.resources ?? {};
  const tpl = template?.spec?.resources ?? {};
  const pick = (d: Dimension): number => {
    const v = own[d] ?? tpl[d] ?? TEMPLATE_DEFAULT_RESOURCES[d];
    return Number.isFinite(v) && v > 0 ? v : 0;
  };
  return { memoryMb: pick('memoryMb'), cpuCores: fromMilli(toMilli(pick('cpuCores'))), diskMb: pick('diskMb') };
}

/** What a health report says the machine has. Defensive: reports are validated only loosely. */
export function allocatableFromHealth(h: HealthReport | undefined): PartialQuantities {
  const out: PartialQuantities = {};
  if (!h || typeof h !== 'object') return out;
  const mem = h.memory?.totalBytes;
  if (typeof mem === 'number' && Number.isFinite(mem) && mem >= 0) out.memoryMb = Math.floor(mem / MiB);
  const cores = h.cpu?.cores;
  if (typeof cores === 'number' && Number.isFinite(cores) && cores >= 0) out.cpuCores = cores;
  const disk = h.disk?.totalBytes;
  if (typeof disk === 'number' && Number.isFinite(disk) && disk >= 0) out.diskMb = Math.floor(disk / MiB);
  return out;
}

/**
 * What the node may hand out, per field: spec.capacity → the health report → status.allocatable.
 * A field none of them knows stays undefined ("unknown": the scheduler does not place on it).
 */
export function nodeAllocatable(node: GameNode, health?: HealthReport, opts: { useStatus?: boolean } = {}): PartialQuantities {
  const cap: NodeCapacity = node.spec?.capacity ?? {};
  const reported = allocatableFromHealth(health);
  const last: NodeCapacity = opts.useStatus === false ? {} : (node.status?.allocatable ?? {});
  const out: PartialQuantities = {};
  for (const d of DIMENSIONS) {
    const v = cap[d] ?? reported[d] ?? last[d];
    if (typeof v === 'number' && Number.isFinite(v)) out[d] = Math.max(0, v);
  }
  return out;
}

/** The nodes a server holds resources on: spec.nodeName (its binding) and status.nodeName (where it is). */
export { nodesOf };

/** An informer IndexFunc: GameServers by the nodes they hold resources on. */
export const nodeIndex = (server: GameServer): string[] => nodesOf(server);

export function isBoundTo(server: GameServer, nodeName: string): boolean {
  return isOnNode(server, nodeName);
}

export interface Allocated extends Quantities {
  servers: number;
}

/**
 * Sum of the requests of the servers bound to `nodeName` (see isBoundTo), `except` left out.
 * `templates` resolves each server's templateRef; a template it cannot find counts as the defaults.
 */
export function allocatedOn(
  nodeName: string,
  servers: Iterable<GameServer>,
  templates: TemplateSource | undefined,
  except?: GameServer,
): Allocated {
  let memoryMb = 0;
  let cpuMilli = 0;
  let diskMb = 0;
  let count = 0;
  for (const s of servers) {
    if (!isBoundTo(s, nodeName) || (except && sameServer(s, except))) continue;
    const r = effectiveRequests(s, lookupTemplate(templates, s.spec?.templateRef));
    memoryMb += r.memoryMb;
    cpuMilli += toMilli(r.cpuCores);
    diskMb += r.diskMb;
    count++;
  }
  return { memoryMb, cpuCores: fromMilli(cpuMilli), diskMb, servers: count };
}

/** allocatable − allocated per known field, never below 0 (a node whose capacity was lowered under its load has nothing free). */
export function freeOf(allocatable: PartialQuantities, allocated: Quantities): PartialQuantities {
  const out: PartialQuantities = {};
  if (allocatable.memoryMb !== undefined) out.memoryMb = Math.max(0, allocatable.memoryMb - allocated.memoryMb);
  if (allocatable.cpuCores !== undefined) out.cpuCores = Math.max(0, fromMilli(toMilli(allocatable.cpuCores) - toMilli(allocated.cpuCores)));
  if (allocatable.diskMb !== undefined) out.diskMb = Math.max(0, allocatable.diskMb - allocated.diskMb);
  return out;
}

/** One dimension that does not fit: what is needed and what is free (undefined: capacity unknown). */
export interface Shortfall {
  dimension: Dimension;
  needs: number;
  free?: number;
}

/**
 * The dimensions where `requests` does not fit into `free`. A request of 0 always fits (even into an
 * unknown capacity); with `unknownFits` an unknown capacity accepts anything (used to re-check a
 * binding an operator made by hand, where only known limits can be enforced).
 */
export function shortfalls(requests: Quantities, free: PartialQuantities, unknownFits = false): Shortfall[] {
  const out: Shortfall[] = [];
  for (const d of DIMENSIONS) {
    const needs = requests[d];
    if (needs <= 0) continue;
    const f = free[d];
    if (f === undefined) {
      if (!unknownFits) out.push({ dimension: d, needs });
      continue;
    }
    const fits = d === 'cpuCores' ? toMilli(needs) <= toMilli(f) : needs <= f;
    if (!fits) out.push({ dimension: d, needs, free: f });
  }
  return out;
}

const NAMES: Record<Dimension, string> = { memoryMb: 'memory', cpuCores: 'cpu', diskMb: 'disk' };

export const dimensionName = (d: Dimension): string => NAMES[d];

/** `2048 MiB`, `1.5 cores`, `1 core`. */
export function formatQuantity(d: Dimension, v: number): string {
  if (d === 'cpuCores') {
    const n = fromMilli(toMilli(v));
    return `${n} ${n === 1 ? 'core' : 'cores'}`;
  }
  return `${v} MiB`;
}

/** The free amount as shown after "needs …": the number alone when the unit is the same. */
export function formatFree(d: Dimension, v: number): string {
  return d === 'cpuCores' ? String(fromMilli(toMilli(v))) : String(v);
}
