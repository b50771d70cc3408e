import { mkdtemp, mkdir, rm, writeFile, link, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeUsage, cpuPercent, diskUsage, isOverDiskLimit, memoryUsage, StatsSampler, targetsFromObserved, type RawStats } from '../../agent/runtime/stats.ts';

// Recorded from `stats({stream:false})` of the test image running `burn` (Docker 20.10, cgroup v1,
// 2 CPUs, 64 MiB limit); unused fields trimmed.
const RECORDED_V1: RawStats = {
  read: '2026-11-23T12:43:27.718634255Z',
  pids_stats: { current: 3 },
  blkio_stats: { io_service_bytes_recursive: [] },
  cpu_stats: { cpu_usage: { total_usage: 2444451434, percpu_usage: [2126713107, 317738327] }, system_cpu_usage: 3469290000000, online_cpus: 2 },
  precpu_stats: { cpu_usage: { total_usage: 1443536548, percpu_usage: [1125798221, 317738327] }, system_cpu_usage: 3467280000000, online_cpus: 2 },
  memory_stats: { usage: 970752, stats: { total_inactive_file: 8192, inactive_file: 8192, cache: 16384, rss: 200704 }, limit: 67108864 },
  networks: { eth0: { rx_bytes: 736, tx_bytes: 0 } },
};

describe('agent/runtime/stats: docker stats formulas', () => {
  it('CPU % = Δtotal / Δsystem × online CPUs × 100 (one busy loop on 2 CPUs ≈ 99.6 %)', () => {
    const { percent, onlineCpus } = cpuPercent(RECORDED_V1);
    expect(onlineCpus).toBe(2);
    expect(percent).toBeCloseTo(((2444451434 - 1443536548) / (3469290000000 - 3467280000000)) * 2 * 100, 10);
    expect(percent).toBeCloseTo(99.593, 2);
  });

  it('memory = usage − total_inactive_file (v1) / inactive_file (v2); usage when not smaller', () => {
    expect(memoryUsage(RECORDED_V1)).toBe(970752 - 8192);
    expect(memoryUsage({ ...RECORDED_V1, memory_stats: { usage: 5000, stats: { inactive_file: 1000 } } })).toBe(4000);
    expect(memoryUsage({ ...RECORDED_V1, memory_stats: { usage: 5000, stats: { total_inactive_file: 9000 } } })).toBe(5000);
    expect(memoryUsage({ ...RECORDED_V1, memory_stats: {} })).toBe(0);
  });

  it('computeUsage sums networks and block I/O; a first sample without precpu is 0 %', () => {
    const u = computeUsage({
      ...RECORDED_V1,
      networks: { eth0: { rx_bytes: 100, tx_bytes: 10 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 4096 }, { op: 'Write', value: 8192 }, { op: 'Total', value: 12288 }] },
    });
    expect(u).toMatchObject({ networkRxBytes: 101, networkTxBytes: 12, blockReadBytes: 4096, blockWriteBytes: 8192, pids: 3, memoryLimitBytes: 67108864 });
    expect(u.memoryPercent).toBeCloseTo((962560 / 67108864) * 100, 6);
    expect(cpuPercent({ ...RECORDED_V1, precpu_stats: { cpu_usage: { total_usage: 0 } } }).percent).toBe(0);
    // percpu_usage length when online_cpus is absent (older engines)
    expect(cpuPercent({ ...RECORDED_V1, cpu_stats: { ...RECORDED_V1.cpu_stats, online_cpus: undefined } }).onlineCpus).toBe(2);
  });
});

describe('agent/runtime/stats: disk usage', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('counts allocated bytes once per hard link, does not follow symlinks, stops at the entry cap', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'gantry-du-'));
    dirs.push(d);
    await mkdir(path.join(d, 'world', 'region'), { recursive: true });
    await writeFile(path.join(d, 'world', 'region', 'r.0.0.mca'), Buffer.alloc(64 * 1024, 1));
    await writeFile(path.join(d, 'server.properties'), 'motd=x\n');
    await link(path.join(d, 'world', 'region', 'r.0.0.mca'), path.join(d, 'hardlink.mca'));
    await symlink('/usr', path.join(d, 'usr-link'));
    const u = await diskUsage(d);
    expect(u.truncated).toBe(false);
    expect(u.files).toBe(3); // the mca once, properties, the symlink itself
    expect(u.bytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(u.bytes).toBeLessThan(64 * 1024 * 2);
    const capped = await diskUsage(d, { maxEntries: 2 });
    expect(capped.truncated).toBe(true);
    expect(isOverDiskLimit(u, 0)).toBe(false);
    expect(isOverDiskLimit({ bytes: 2 * 1024 * 1024 }, 1)).toBe(true);
    expect(isOverDiskLimit({ bytes: 1024 * 1024 }, 1)).toBe(false);
    expect(isOverDiskLimit(undefined, 1)).toBe(false);
  });

  it('the sampler samples only its targets, computes usage and flags the disk limit', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'gantry-du-'));
    dirs.push(d);
    await writeFile(path.join(d, 'big'), Buffer.alloc(2 * 1024 * 1024, 1));
    const asked: string[] = [];
    const docker = {
      getContainer: (id: string) => ({
        stats: async () => {
          asked.push(id);
          return RECORDED_V1;
        },
      }),
    };
    const samples: unknown[] = [];
    const sampler = new StatsSampler({ docker: docker as never, targets: () => [{ uid: 'u1', containerId: 'c1', dataDir: d, diskMb: 1 }], onSample: (s) => samples.push(s) });
    await sampler.measureDisk('u1', d);
    const [s] = await sampler.sampleAll();
    expect(asked).toEqual(['c1']);
    expect(samples).toHaveLength(1);
    expect(s.cpuPercent).toBeCloseTo(99.593, 2);
    expect(s.disk!.bytes).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(s.overDiskLimit).toBe(true);
  });
});

describe('agent/runtime/stats: targetsFromObserved', () => {
  it('keeps running containers only, with data dir and disk limit from their labels', () => {
    const base = { oomKilled: false, ports: [] };
    expect(
      targetsFromObserved([
        { ...base, uid: 'a', containerId: 'ca', state: 'running', labels: { 'gantry.dev/data-dir': '/d/a', 'gantry.dev/disk-mb': '10' } },
        { ...base, uid: 'b', containerId: 'cb', state: 'exited', exitCode: 0 },
        { ...base, uid: 'c', containerId: 'cc', state: 'running' },
      ]),
    ).toEqual([
      { uid: 'a', containerId: 'ca', dataDir: '/d/a', diskMb: 10 },
      { uid: 'c', containerId: 'cc', dataDir: undefined, diskMb: undefined },
    ]);
  });
});
