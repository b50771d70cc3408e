// What the hub knows about each node from its agent: the observed half of reconciliation.
import type { ConsoleLine } from '../../agent/protocol.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { PlayerSample } from '../../agent/runtime/players.ts';

/** A bounded FIFO of console lines: the newest `capacity` lines of one server. */
export class ConsoleRing {
  private readonly buf: (ConsoleLine | undefined)[];
  private start = 0;
  private size = 0;
  /** Lines ever pushed (so a reader can tell how many it missed). */
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`console buffer capacity must be a positive integer, not ${capacity}`);
    this.buf = new Array(capacity);
  }

  push(lines: readonly ConsoleLine[]): void {
    // Only the last `capacity` of a large batch can survive anyway.
    const from = Math.max(0, lines.length - this.capacity);
    for (let i = from; i < lines.length; i++) {
      const at = (this.start + this.size) % this.capacity;
      this.buf[at] = lines[i];
      if (this.size < this.capacity) this.size++;
      else this.start = (this.start + 1) % this.capacity;
    }
    this.total += lines.length;
  }

  /** The newest `n` lines (all kept by default), oldest first. */
  lines(n = this.size): ConsoleLine[] {
    const count = Math.max(0, Math.min(n, this.size));
    const out: ConsoleLine[] = [];
    for (let i = this.size - count; i < this.size; i++) out.push(this.buf[(this.start + i) % this.capacity]!);
    return out;
  }

  get length(): number {
    return this.size;
  }
}

/** One node as the hub sees it. The maps are live: read them, do not modify them. */
export interface NodeObserved {
  nodeName: string;
  /** The uid of the GameNode the connected (or last connected) agent authenticated as. */
  nodeUid: string;
  connected: boolean;
  connectedAt?: number;
  disconnectedAt?: number;
  /** Last frame of any kind from the agent (ms since the epoch). */
  lastHeartbeat?: number;
  agentVersion?: string;
  protocolVersion?: number;
  health?: HealthReport;
  /** False from connect until the agent's first snapshot: until then `containers` is the last connection's view. */
  synced: boolean;
  /** By server uid; removed containers are dropped. */
  containers: ReadonlyMap<string, ObservedContainer>;
  /** The latest sample per server uid. */
  stats: ReadonlyMap<string, StatsSample>;
  /** The latest player count per server uid (servers with a query). */
  players: ReadonlyMap<string, PlayerSample>;
  /** Console history per server uid (bounded). */
  console: ReadonlyMap<string, ConsoleRing>;
}

/** The hub's mutable form of NodeObserved. */
export interface NodeState extends NodeObserved {
  containers: Map<string, ObservedContainer>;
  stats: Map<string, StatsSample>;
  players: Map<string, PlayerSample>;
  console: Map<string, ConsoleRing>;
}

export function newNodeState(nodeName: string, nodeUid: string): NodeState {
  return { nodeName, nodeUid, connected: false, synced: false, containers: new Map(), stats: new Map(), players: new Map(), console: new Map() };
}

/** Cheap change test for observed containers (the agent re-reports unchanged ones after a resync). */
export function sameContainer(a: ObservedContainer | undefined, b: ObservedContainer): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
