// The node's health report: CPU %, memory, disk of the data root, containers, uptime, Docker and OS.

import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import type Docker from 'dockerode';
import { GANTRY_VERSION } from '../../lib/version.ts';
import type { ContainerScope } from './scope.ts';

export interface CpuTimes {
  idle: number;
  total: number;
}

export interface HealthReport {
  time: string;
  agentVersion: string;
  hostname: string;
  cpu: { cores: number; percent?: number; loadAverage: number[] };
  memory: { totalBytes: number; availableBytes: number; usedBytes: number };
  disk?: { path: string; totalBytes: number; freeBytes: number; usedBytes: number };
  containers: { total: number; running: number; gantry: number; gantryRunning: number };
  uptime: { systemSeconds: number; agentSeconds: number };
  docker: { version: string; apiVersion: string; storageDriver?: string; cgroupVersion?: string; kernelVersion?: string; operatingSystem?: string };
  os: { platform: string; release: string; arch: string; prettyName?: string };
}

/** Sum of all CPUs' times (ms) and their idle part, from os.cpus(). */
export function cpuTimes(cpus: os.CpuInfo[] = os.cpus()): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const c of cpus) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { idle, total };
}

/** Busy share between two readings, 0–100 (of all cores together). */
export function cpuPercentBetween(prev: CpuTimes, cur: CpuTimes): number | undefined {
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  if (!(total > 0)) return undefined;
  return Math.min(100, Math.max(0, ((total - idle) / total) * 100));
}

/** MemAvailable from /proc/meminfo (what `free` calls available); os.freemem() elsewhere. */
export function parseMemAvailable(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

export function parseOsRelease(text: string): string | undefined {
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return m?.[1];
}

export interface HealthOptions {
  docker: Pick<Docker, 'version' | 'info' | 'listContainers'>;
  /** The data root whose file system is reported (where server data dirs live). */
  dataRoot?: string;
  /** Label filters (key=value) of this agent's containers. */
  scopeLabels?: Record<string, string>;
  /** The agent's container scope (node label); replaces scopeLabels. */
  scope?: ContainerScope;
}

export class HealthReporter {
  private prevCpu: CpuTimes = cpuTimes();
  private readonly startedAt = Date.now();

  constructor(private readonly opts: HealthOptions) {}

  async report(): Promise<HealthReport> {
    const cur = cpuTimes();
    const percent = cpuPercentBetween(this.prevCpu, cur);
    this.prevCpu = cur;
    const total = os.totalmem();
    const available = parseMemAvailable(await readFile('/proc/meminfo', 'utf8').catch(() => '')) ?? os.freemem();
    let disk: HealthReport['disk'];
    if (this.opts.dataRoot) {
      try {
        const s = await statfs(this.opts.dataRoot);
        const totalBytes = s.blocks * s.bsize;
        const freeBytes = s.bavail * s.bsize;
        disk = { path: this.opts.dataRoot, totalBytes, freeBytes, usedBytes: totalBytes - s.bfree * s.bsize };
      } catch {
        disk = undefined;
      }
    }
    const [version, info, ours] = await Promise.all([
      this.opts.docker.version(),
      this.opts.docker.info() as Promise<Record<string, unknown>>,
      this.opts.docker
        .listContainers({
          all: true,
          filters: { label: this.opts.scope?.filters('server') ?? ['gantry.dev/server-uid', 'gantry.dev/role=server', ...Object.entries(this.opts.scopeLabels ?? {}).map(([k, v]) => `${k}=${v}`)] },
        })
        .then((list) => list.filter((c) => !this.opts.scope || this.opts.scope.owns(c))),
    ]);
    const prettyName = parseOsRelease(await readFile('/etc/os-release', 'utf8').catch(() => ''));
    return {
      time: new Date().toISOString(),
      agentVersion: GANTRY_VERSION,
      hostname: os.hostname(),
      cpu: { cores: os.cpus().length, percent, loadAverage: os.loadavg() },
      memory: { totalBytes: total, availableBytes: available, usedBytes: total - available },
      disk,
      containers: {
        total: Number(info.Containers ?? 0),
        running: Number(info.ContainersRunning ?? 0),
        gantry: ours.length,
        gantryRunning: ours.filter((c) => c.State === 'running').length,
      },
      uptime: { systemSeconds: Math.round(os.uptime()), agentSeconds: Math.round((Date.now() - this.startedAt) / 1000) },
      docker: {
        version: version.Version,
        apiVersion: version.ApiVersion,
        storageDriver: info.Driver as string | undefined,
        cgroupVersion: info.CgroupVersion as string | undefined,
        kernelVersion: info.KernelVersion as string | undefined,
        operatingSystem: info.OperatingSystem as string | undefined,
      },
      os: { platform: os.platform(), release: os.release(), arch: os.arch(), prettyName },
    };
  }
}
