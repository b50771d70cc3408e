// GameNode.status from the agent connection: phase Online/Offline, lastHeartbeatTime, agentVersion,
// dockerVersion, osInfo. Writes per node are serialised (Online never overtakes the Offline before
// it) and heartbeats are written at most every `heartbeatWriteIntervalMs` (a trailing write catches
// the latest one), so a chatty agent does not turn into a write storm.
//
// Every write first checks the node's uid: a node deleted and created again under the same name is
// someone else's, and must not get the old agent's status.
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { GameNodeStatus } from '../../crds/types.ts';
import type { Logger } from '../../lib/log.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/types.ts';

const KIND = 'GameNode';

/** RFC 3339 with second precision, as Kubernetes writes times. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const str = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v !== '' ? v.slice(0, max) : undefined);

/** The status fields a health report fills. Defensive: the protocol checks only a report's identifying fields. */
export function statusFromHealth(h: HealthReport | undefined): Pick<GameNodeStatus, 'dockerVersion' | 'osInfo'> {
  if (!h || typeof h !== 'object') return {};
  const docker = (h.docker ?? {}) as Partial<HealthReport['docker']>;
  const os = (h.os ?? {}) as Partial<HealthReport['os']>;
  const osName = str(os.prettyName, 128) ?? str(docker.operatingSystem, 128) ?? (os.platform ? str(`${os.platform}${os.release ? ' ' + os.release : ''}`, 128) : undefined);
  const osInfo: NonNullable<GameNodeStatus['osInfo']> = {};
  if (osName) osInfo.os = osName;
  const kernel = str(docker.kernelVersion, 128) ?? str(os.release, 128);
  if (kernel) osInfo.kernelVersion = kernel;
  const arch = str(os.arch, 32);
  if (arch) osInfo.architecture = arch;
  const hostname = str(h.hostname, 253);
  if (hostname) osInfo.hostname = hostname;
  const out: Pick<GameNodeStatus, 'dockerVersion' | 'osInfo'> = {};
  const dockerVersion = str(docker.version, 64);
  if (dockerVersion) out.dockerVersion = dockerVersion;
  if (Object.keys(osInfo).length) out.osInfo = osInfo;
  return out;
}

interface NodeWrites {
  uid: string;
  chain: Promise<void>;
  lastHeartbeatWritten: number;
  /** The newest heartbeat not yet written. */
  pendingHeartbeat?: number;
  timer?: NodeJS.Timeout;
  /** Docker version / OS info last written, to skip identical writes. */
  lastHealthKey?: string;
}

export class NodeStatusWriter {
  private readonly nodes = new Map<string, NodeWrites>();

  constructor(
    private readonly store: ResourceStore,
    private readonly log: Logger,
    private readonly heartbeatWriteIntervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  online(nodeName: string, uid: string, agentVersion: string, health: HealthReport | undefined, at: number): void {
    const n = this.entry(nodeName, uid);
    clearTimeout(n.timer);
    n.timer = undefined;
    n.pendingHeartbeat = undefined;
    n.lastHeartbeatWritten = at;
    const fromHealth = statusFromHealth(health);
    n.lastHealthKey = JSON.stringify(fromHealth);
    this.enqueue(nodeName, n, { phase: 'Online', lastHeartbeatTime: rfc3339(at), agentVersion: agentVersion.slice(0, 64), ...fromHealth });
  }

  heartbeat(nodeName: string, uid: string, at: number): void {
    const n = this.nodes.get(nodeName);
    if (!n || n.uid !== uid) return;
    n.pendingHeartbeat = at;
    if (n.timer) return;
    const due = n.lastHeartbeatWritten + this.heartbeatWriteIntervalMs;
    const delay = Math.max(0, due - this.now());
    if (delay === 0) return this.writeHeartbeat(nodeName, n);
    n.timer = setTimeout(() => {
      n.timer = undefined;
      this.writeHeartbeat(nodeName, n);
    }, delay);
    n.timer.unref();
  }

  health(nodeName: string, uid: string, health: HealthReport): void {
    const n = this.nodes.get(nodeName);
    if (!n || n.uid !== uid) return;
    const fromHealth = statusFromHealth(health);
    const key = JSON.stringify(fromHealth);
    if (key === n.lastHealthKey || key === '{}') return;
    n.lastHealthKey = key;
    this.enqueue(nodeName, n, fromHealth);
  }

  offline(nodeName: string, uid: string, lastHeartbeat: number | undefined): void {
    const n = this.nodes.get(nodeName);
    if (!n || n.uid !== uid) return;
    clearTimeout(n.timer);
    n.timer = undefined;
    n.pendingHeartbeat = undefined;
    const patch: GameNodeStatus = { phase: 'Offline' };
    if (lastHeartbeat !== undefined) patch.lastHeartbeatTime = rfc3339(lastHeartbeat);
    this.enqueue(nodeName, n, patch);
  }

  /** Resolves when every write queued so far has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.chain));
  }

  /** Drops pending heartbeat timers (writes already queued still run; await flush()). */
  stop(): void {
    for (const n of this.nodes.values()) {
      clearTimeout(n.timer);
      n.timer = undefined;
    }
  }

  private entry(nodeName: string, uid: string): NodeWrites {
    let n = this.nodes.get(nodeName);
    if (!n || n.uid !== uid) {
      if (n) clearTimeout(n.timer);
      // Chain after the previous node's writes, so nothing of the old uid lands after the new one's.
      n = { uid, chain: n?.chain ?? Promise.resolve(), lastHeartbeatWritten: 0 };
      this.nodes.set(nodeName, n);
    }
    return n;
  }

  private writeHeartbeat(nodeName: string, n: NodeWrites): void {
    if (n.pendingHeartbeat === undefined) return;
    const at = n.pendingHeartbeat;
    n.pendingHeartbeat = undefined;
    n.lastHeartbeatWritten = this.now();
    this.enqueue(nodeName, n, { lastHeartbeatTime: rfc3339(at) });
  }

  private enqueue(nodeName: string, n: NodeWrites, patch: GameNodeStatus): void {
    const uid = n.uid;
    n.chain = n.chain.then(async () => {
      try {
        const node = await this.store.get(KIND, undefined, nodeName);
        if (node.metadata.uid !== uid) return;
        await this.store.patchStatus(KIND, undefined, nodeName, patch);
      } catch (err) {
        if (isStoreError(err, 'NotFound')) return;
        this.log.warn('cannot update node status', { node: nodeName, patch, err });
      }
    });
  }
}
