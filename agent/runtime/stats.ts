// Container resource usage, computed exactly as `docker stats` does, plus data-directory disk usage.
//
//   CPU %  = Δ cpu_stats.cpu_usage.total_usage / Δ cpu_stats.system_cpu_usage × online_cpus × 100
//            (Δ against precpu_stats, which a `stats({stream:false})` sample carries)
//   memory = usage − total_inactive_file (cgroup v1) / inactive_file (cgroup v2), when smaller than usage
//   network rx/tx = sums over every interface; block I/O read/write = sums of io_service_bytes_recursive
//
// The sampler only samples containers it is told are running (the events stream knows), at a
// configurable interval, one request per container at a time (a slow daemon never piles requests up).
// Disk usage is a bounded walk (entry cap, hard links counted once, cached per interval) because a
// data dir can hold millions of files; `truncated` says the cap was hit.
//
// Disk limit: usage above diskMb sets `overDiskLimit`. The runtime does not stop a running server for
// it (killing a server mid-save risks corrupting the very data the limit protects); the controller
// refuses to START a server that is over its limit and surfaces the condition, and DockerRuntime.start
// refuses too when given the last measurement (see DiskLimitError).

import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from '../../lib/log.ts';
import type { ObservedContainer } from './events.ts';
import { LABEL_DATA_DIR, LABEL_DISK_MB } from './spec.ts';

export interface ContainerUsage {
  cpuPercent: number;
  /** Online CPUs the percentage is relative to (100 % = one core fully busy, max = onlineCpus × 100). */
  onlineCpus: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  memoryPercent: number;
  networkRxBytes: number;
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
}

export interface DiskUsage {
  bytes: number;
  files: number;
  /** The walk stopped at the entry cap: bytes is a lower bound. */
  truncated: boolean;
  measuredAt: number;
}

export interface StatsSample extends ContainerUsage {
  uid: string;
  containerId: string;
  time: number;
  disk?: DiskUsage;
  diskLimitBytes?: number;
  overDiskLimit: boolean;
}

/** The fields of a Docker stats sample used (dockerode's ContainerStats fits). */
export interface RawStats {
  read?: string;
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  pids_stats?: { current?: number };
}

/** CPU % like docker's calculateCPUPercentUnix. */
export function cpuPercent(s: RawStats): { percent: number; onlineCpus: number } {
  const onlineCpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  if (!(systemDelta > 0) || !(cpuDelta > 0) || !s.precpu_stats?.system_cpu_usage) return { percent: 0, onlineCpus };
  return { percent: (cpuDelta / systemDelta) * onlineCpus * 100, onlineCpus };
}

/** Memory in use like docker's calculateMemUsageUnixNoCache. */
export function memoryUsage(s: RawStats): number {
  const usage = s.memory_stats.usage ?? 0;
  const st = s.memory_stats.stats ?? {};
  const v1 = st.total_inactive_file;
  if (v1 !== undefined && v1 < usage) return usage - v1;
  const v2 = st.inactive_file;
  if (v2 !== undefined && v2 < usage) return usage - v2;
  return usage;
}

export function computeUsage(s: RawStats): ContainerUsage {
  const { percent, onlineCpus } = cpuPercent(s);
  const memoryBytes = memoryUsage(s);
  const memoryLimitBytes = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') read += e.value;
    else if (op === 'write') write += e.value;
  }
  return {
    cpuPercent: percent,
    onlineCpus,
    memoryBytes,
    memoryLimitBytes,
    memoryPercent: memoryLimitBytes > 0 ? (memoryBytes / memoryLimitBytes) * 100 : 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: s.pids_stats?.current ?? 0,
  };
}

export function isOverDiskLimit(disk: Pick<DiskUsage, 'bytes'> | undefined, diskMb: number | undefined): boolean {
  return Boolean(disk && diskMb && diskMb > 0 && disk.bytes > diskMb * 1024 * 1024);
}

/**
 * Allocated bytes (like `du`: st_blocks × 512, hard links once) of a directory tree, without
 * following symlinks, stopping after maxEntries entries.
 */
export async function diskUsage(dir: string, opts: { maxEntries?: number; concurrency?: number; now?: () => number } = {}): Promise<DiskUsage> {
  const maxEntries = opts.maxEntries ?? 200_000;
  const concurrency = opts.concurrency ?? 16;
  const seenInodes = new Set<string>();
  let bytes = 0;
  let files = 0;
  let entries = 0;
  let truncated = false;
  const queue: string[] = [dir];
  const visit = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p, { bigint: false });
    } catch {
      return; // vanished meanwhile, or unreadable
    }
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seenInodes.has(key)) return;
      seenInodes.add(key);
    }
    bytes += st.blocks !== undefined ? st.blocks * 512 : st.size;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) {
        if (entries >= maxEntries) {
          truncated = true;
          break;
        }
        entries++;
        queue.push(path.join(p, n));
      }
    } else {
      files++;
    }
  };
  while (queue.length > 0) {
    const batch = queue.splice(0, concurrency);
    await Promise.all(batch.map(visit));
  }
  return { bytes, files, truncated, measuredAt: (opts.now ?? Date.now)() };
}

export interface SampleTarget {
  uid: string;
  containerId: string;
  dataDir?: string;
  diskMb?: number;
}

/** The running containers among observed states (e.g. `watcher.current.values()`), as sampler targets. */
export function targetsFromObserved(observed: Iterable<ObservedContainer>): SampleTarget[] {
  const out: SampleTarget[] = [];
  for (const o of observed) {
    if (o.state !== 'running') continue;
    const diskMb = Number(o.labels?.[LABEL_DISK_MB]);
    out.push({ uid: o.uid, containerId: o.containerId, dataDir: o.labels?.[LABEL_DATA_DIR], diskMb: diskMb > 0 ? diskMb : undefined });
  }
  return out;
}

export interface StatsSamplerOptions {
  docker: Pick<Docker, 'getContainer'>;
  /** Who is running now (e.g. from the EventWatcher): only these are sampled. */
  targets: () => SampleTarget[];
  onSample: (s: StatsSample) => void;
  intervalMs?: number;
  /** How often a data dir is walked again (default 60 s). */
  diskIntervalMs?: number;
  diskMaxEntries?: number;
  log?: Logger;
  now?: () => number;
}

export class StatsSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<string>();
  private readonly disk = new Map<string, { usage?: DiskUsage; pending?: Promise<DiskUsage> }>();
  private readonly now: () => number;

  constructor(private readonly opts: StatsSamplerOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => void this.sampleAll();
    this.timer = setInterval(tick, this.opts.intervalMs ?? 5000);
    this.timer.unref?.();
    tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last disk measurement of a server (undefined before the first walk ends). */
  lastDisk(uid: string): DiskUsage | undefined {
    return this.disk.get(uid)?.usage;
  }

  async sampleAll(): Promise<StatsSample[]> {
    const targets = this.opts.targets();
    const live = new Set(targets.map((t) => t.uid));
    for (const uid of this.disk.keys()) if (!live.has(uid)) this.disk.delete(uid);
    const out = await Promise.all(targets.filter((t) => !this.inFlight.has(t.uid)).map((t) => this.sampleOne(t)));
    return out.filter((s): s is StatsSample => s !== undefined);
  }

  /** One sample of one container; undefined when it is not running (any more). */
  async sampleOne(t: SampleTarget): Promise<StatsSample | undefined> {
    this.inFlight.add(t.uid);
    try {
      const raw = (await this.opts.docker.getContainer(t.containerId).stats({ stream: false })) as unknown as RawStats;
      if (!raw || !raw.cpu_stats || !raw.read || raw.read.startsWith('0001-01-01')) return undefined; // not running
      const disk = t.dataDir ? this.diskFor(t.uid, t.dataDir) : undefined;
      const sample: StatsSample = {
        uid: t.uid,
        containerId: t.containerId,
        time: this.now(),
        ...computeUsage(raw),
        disk,
        diskLimitBytes: t.diskMb ? t.diskMb * 1024 * 1024 : undefined,
        overDiskLimit: isOverDiskLimit(disk, t.diskMb),
      };
      this.opts.onSample(sample);
      return sample;
    } catch (err) {
      this.opts.log?.debug('stats sample failed', { uid: t.uid, err });
      return undefined;
    } finally {
      this.inFlight.delete(t.uid);
    }
  }

  /** Cached disk usage; a new walk starts in the background when the cache is older than the interval. */
  private diskFor(uid: string, dir: string): DiskUsage | undefined {
    let entry = this.disk.get(uid);
    if (!entry) {
      entry = {};
      this.disk.set(uid, entry);
    }
    const e = entry;
    const stale = !e.usage || this.now() - e.usage.measuredAt >= (this.opts.diskIntervalMs ?? 60_000);
    if (stale && !e.pending) {
      e.pending = diskUsage(dir, { maxEntries: this.opts.diskMaxEntries, now: this.now })
        .then((u) => (e.usage = u))
        .finally(() => (e.pending = undefined));
      e.pending.catch(() => {});
    }
    return e.usage;
  }

  /** Measures a data dir now (and caches it), e.g. before a start to apply the disk limit. */
  async measureDisk(uid: string, dir: string): Promise<DiskUsage> {
    const u = await diskUsage(dir, { maxEntries: this.opts.diskMaxEntries, now: this.now });
    this.disk.set(uid, { usage: u });
    return u;
  }
}
