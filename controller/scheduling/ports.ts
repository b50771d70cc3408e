// Host ports: which ones a node's servers hold, and which ones a server gets. Pure functions.
//
// Rules:
// - TCP and UDP are separate spaces: 27015/TCP and 27015/UDP are different ports (a Source server
//   uses both; two servers may each have one of them).
// - A port whose hostPort is 0 or left out is allocated from the node's spec.portRange (inclusive,
//   default 27000-28000 as in crds/gamenode.yaml): the lowest free port first, so the result is
//   deterministic. A server that already held a port for the same containerPort/protocol on this node
//   (status.ports with status.nodeName = the node) keeps it while it is still free and inside the
//   range: players' addresses do not change on a restart or a re-check.
// - An explicit hostPort is the operator's choice and may lie outside the range (25565 for Minecraft
//   on a node whose range is 27000-28000 is normal): the range only bounds what Gantry picks by
//   itself. It must not be held by another server on the node; a collision is refused with a reason
//   naming the holder (`port 25565/TCP on node n1 is already used by default/alpha`).
// - networkMode host: the container binds host ports directly, so each port's host port is its
//   containerPort (an explicit port in the sense above; spec hostPort is ignored, as Docker does).
//   networkMode none: no host ports at all.
// - Which server wins a collision is decided by the caller through `PortUse.senior` (see
//   scheduler.ts: a server already placed beats one being placed). A port held by a junior server is
//   never allocated to anyone else, but an explicit request for it is not refused: the junior is the
//   one that must give way, and its own check says so.
import type { GameNode, GameServer, Protocol, ServerPort, ServerTemplate } from '../../crds/types.ts';
import { sameServer, serverKey } from './resources.ts';

/** crds/gamenode.yaml spec.portRange default. */
export const DEFAULT_PORT_RANGE = Object.freeze({ start: 27000, end: 28000 });

export interface PortRange {
  start: number;
  end: number;
}

export function portRangeOf(node: GameNode): PortRange {
  const r = node.spec?.portRange;
  if (r && Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 1 && r.end <= 65535 && r.start <= r.end) return { start: r.start, end: r.end };
  return { ...DEFAULT_PORT_RANGE };
}

/** `25565/TCP`: the identity of a host port. */
export const portId = (port: number, protocol: Protocol): string => `${port}/${protocol}`;

const protoOf = (p: { protocol?: Protocol }): Protocol => (p.protocol === 'UDP' ? 'UDP' : 'TCP');
const validPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;

/**
 * The host ports (id → port/protocol) a server holds on a node: its status.ports where it is, plus
 * the explicit ports of its binding. Ports that are allocated (or come from the template) become
 * visible only with the status write; between the spec.nodeName write and that one the executor's
 * assume cache (scheduler.ts, applyAssumed) stands in for them.
 */
export function hostPortsOf(server: GameServer, nodeName: string): { hostPort: number; protocol: Protocol }[] {
  const out = new Map<string, { hostPort: number; protocol: Protocol }>();
  const add = (hostPort: number | undefined, protocol: Protocol) => {
    if (validPort(hostPort)) out.set(portId(hostPort, protocol), { hostPort, protocol });
  };
  // The bindings in effect (allocated ones included) where the server is.
  if (server.status?.nodeName === nodeName) for (const p of server.status.ports ?? []) add(p.hostPort, protoOf(p));
  // The binding's explicit ports, before status has caught up.
  if (server.spec?.nodeName === nodeName && server.spec.networkMode !== 'none') {
    const host = server.spec.networkMode === 'host';
    for (const p of server.spec.ports ?? []) add(host ? p.containerPort : p.hostPort, protoOf(p));
  }
  return [...out.values()];
}

/** Who holds a host port, and whether they win a collision against the server being checked. */
export interface PortUse {
  owner: string;
  senior: boolean;
}

/**
 * Host ports held on `nodeName` by `servers`, `except` left out. `isSenior` (default: everyone)
 * decides who wins an explicit collision. Two holders of one port (a collision made by hand): the
 * senior one is kept.
 */
export function usedPorts(
  nodeName: string,
  servers: Iterable<GameServer>,
  opts: { except?: GameServer; isSenior?: (s: GameServer) => boolean } = {},
): Map<string, PortUse> {
  const used = new Map<string, PortUse>();
  for (const s of servers) {
    if (opts.except && sameServer(s, opts.except)) continue;
    const ports = hostPortsOf(s, nodeName);
    if (!ports.length) continue;
    const use: PortUse = { owner: serverKey(s), senior: opts.isSenior ? opts.isSenior(s) : true };
    for (const p of ports) {
      const id = portId(p.hostPort, p.protocol);
      const prev = used.get(id);
      if (!prev || (use.senior && !prev.senior)) used.set(id, use);
    }
  }
  return used;
}

/**
 * The ports a server asks for, normalised: spec.ports when given (an empty list means none), else the
 * template's ports; protocol TCP by default, hostPort 0 = allocate, `primary` on exactly the marked
 * ports or else on the first one.
 */
export function requestedPorts(server: GameServer, template: ServerTemplate | undefined): ServerPort[] {
  const src: ServerPort[] = server.spec?.ports ?? template?.spec?.ports ?? [];
  const out = src.map((p) => {
    const q: ServerPort = { containerPort: p.containerPort, hostPort: validPort(p.hostPort) ? p.hostPort : 0, protocol: protoOf(p), primary: p.primary === true };
    if (p.name) q.name = p.name;
    return q;
  });
  if (out.length && !out.some((p) => p.primary)) out[0]!.primary = true;
  return out;
}

export type PortAllocation =
  | { ok: true; ports: ServerPort[] }
  | { ok: false; kind: 'conflict' | 'exhausted'; reason: string };

export interface AllocatePortsInput {
  server: GameServer;
  template: ServerTemplate | undefined;
  node: GameNode;
  /** Ports held by other servers on the node (usedPorts). */
  used: ReadonlyMap<string, PortUse>;
}

/**
 * The server's ports with host ports filled in for `node`, or why it cannot have them.
 * networkMode none → the ports with hostPort 0 (nothing is published).
 */
export function allocatePorts({ server, template, node, used }: AllocatePortsInput): PortAllocation {
  const nodeName = node.metadata.name;
  const ports = requestedPorts(server, template);
  const mode = server.spec?.networkMode ?? 'bridge';
  if (mode === 'none') return { ok: true, ports: ports.map((p) => ({ ...p, hostPort: 0 })) };
  const range = portRangeOf(node);
  const mine = new Set<string>();

  // 1. Explicit ports (host mode: every port).
  const toAllocate: ServerPort[] = [];
  for (const p of ports) {
    if (mode === 'host') p.hostPort = p.containerPort;
    if (!p.hostPort) {
      toAllocate.push(p);
      continue;
    }
    const id = portId(p.hostPort, p.protocol!);
    if (mine.has(id)) return { ok: false, kind: 'conflict', reason: `port ${id} is requested twice by ${serverKey(server)}` };
    const u = used.get(id);
    if (u?.senior) return { ok: false, kind: 'conflict', reason: `port ${id} on node ${nodeName} is already used by ${u.owner}` };
    mine.add(id);
  }
  const free = (port: number, protocol: Protocol) => !used.has(portId(port, protocol)) && !mine.has(portId(port, protocol));

  // 2. Keep what the server already had on this node.
  const previous = server.status?.nodeName === nodeName ? (server.status.ports ?? []) : [];
  const rest: ServerPort[] = [];
  for (const p of toAllocate) {
    const prev = previous.find((q) => q.containerPort === p.containerPort && protoOf(q) === p.protocol && validPort(q.hostPort));
    const hp = prev?.hostPort;
    if (hp !== undefined && hp >= range.start && hp <= range.end && free(hp, p.protocol!)) {
      p.hostPort = hp;
      mine.add(portId(hp, p.protocol!));
    } else rest.push(p);
  }

  // 3. Lowest free port of the range, per protocol.
  const cursor: Record<Protocol, number> = { TCP: range.start, UDP: range.start };
  for (const p of rest) {
    const proto = p.protocol!;
    let c = cursor[proto];
    while (c <= range.end && !free(c, proto)) c++;
    if (c > range.end) return exhausted(nodeName, range, proto, rest, used, mine);
    p.hostPort = c;
    mine.add(portId(c, proto));
    cursor[proto] = c + 1;
  }
  return { ok: true, ports };
}

function exhausted(
  nodeName: string,
  range: PortRange,
  proto: Protocol,
  rest: ServerPort[],
  used: ReadonlyMap<string, PortUse>,
  mine: Set<string>,
): PortAllocation {
  const needs = rest.filter((p) => p.protocol === proto).length;
  // Free = not held by others nor by this server's explicit/kept ports (what it could have had).
  let freeCount = 0;
  for (let c = range.start; c <= range.end; c++) {
    const id = portId(c, proto);
    if (used.has(id)) continue;
    if (mine.has(id) && !rest.some((p) => p.protocol === proto && p.hostPort === c)) continue;
    freeCount++;
  }
  return {
    ok: false,
    kind: 'exhausted',
    reason: `not enough free ${proto} ports in range ${range.start}-${range.end} on node ${nodeName} (needs ${needs}, ${freeCount} free)`,
  };
}
