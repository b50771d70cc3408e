// MetricsHistory over a real SQLite file: raw, minute and hour tiers with exact expected averages,
// retention, late samples, network rates, node health, bad queries and reopening the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOUR, MINUTE, MetricsHistory, nodeSeries, serverSeries } from '../../controller/metrics/history.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const values = (cpu: number, mem = 100) => ({ cpu, memoryBytes: mem, memoryLimitBytes: 1000, diskBytes: 10, diskLimitBytes: 100, networkRxBps: 0, networkTxBps: 0 });

describe('MetricsHistory', () => {
  let dir: string;
  let clock: FakeClock;
  let m: MetricsHistory;
  const open = () => MetricsHistory.open({ path: path.join(dir, 'metrics.db'), clock, compactIntervalMs: 10 * HOUR });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-metrics-'));
    clock = new FakeClock();
    clock.t = T0;
    m = await open();
  });
  afterEach(async () => {
    await m.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One sample every 10 s from `from` for `ms`, cpu = minute index within the hour (so averages are known). */
  const feed = (series: string, from: number, ms: number) => {
    for (let t = from; t < from + ms; t += 10_000) m.record(series, t, values(Math.floor((t % HOUR) / MINUTE), 100 + ((t / 10_000) % 6)));
  };

  it('raw points within the hour; minute buckets over a day; hour buckets beyond; expired raw rows deleted', async () => {
    const a = serverSeries('uid-a');
    // Three hours of samples, compacted every 10 minutes as the clock goes.
    for (let k = 0; k < 18; k++) {
      feed(a, T0 + k * 10 * MINUTE, 10 * MINUTE);
      clock.t = T0 + (k + 1) * 10 * MINUTE;
      await m.compact();
    }
    feed(serverSeries('uid-b'), T0, 3 * HOUR);
    const now = clock.t; // T0 + 3 h

    const raw = await m.query({ series: a, from: now - 30 * MINUTE });
    expect(raw.tier).toBe('raw');
    expect(raw.intervalMs).toBe(0);
    expect(raw.points).toHaveLength(180);
    expect(raw.points[0]).toMatchObject({ t: now - 30 * MINUTE, cpu: 30, samples: 1, memoryPercent: expect.any(Number) });

    // 5-minute buckets over the last hour from raw rows: minutes 0..4 average to 2.
    const raw5 = await m.query({ series: a, from: now - HOUR, intervalMs: 5 * MINUTE });
    expect(raw5.points).toHaveLength(12);
    expect(raw5.points[0]).toMatchObject({ t: now - HOUR, cpu: 2, cpuMax: 4, samples: 30 });

    const day = await m.query({ series: a, from: now - 24 * HOUR, intervalMs: MINUTE });
    expect(day.tier).toBe('minute');
    expect(day.points).toHaveLength(180);
    expect(day.points[61]).toMatchObject({ t: T0 + 61 * MINUTE, cpu: 1, cpuMax: 1, samples: 6, memoryBytes: 102.5, memoryMaxBytes: 105 });

    // Hour buckets over a week: the minute indexes 0..59 average to 29.5 in every complete hour.
    const week = await m.query({ series: a, from: now - 7 * 24 * HOUR });
    expect(week.tier).toBe('hour');
    expect(week.intervalMs).toBe(HOUR);
    expect(week.points.map((p) => [p.t, p.cpu, p.cpuMax, p.samples])).toEqual([
      [T0, 29.5, 59, 360],
      [T0 + HOUR, 29.5, 59, 360],
      [T0 + 2 * HOUR, 29.5, 59, 360],
    ]);

    // Raw rows older than an hour are gone; the other series (never compacted alone) still answers.
    const rawRows = await m.db.get<{ n: number; oldest: number }>('SELECT count(*) AS n, min(t) AS oldest FROM raw WHERE series = (SELECT id FROM series WHERE name = ?)', [a]);
    expect(rawRows!.oldest).toBeGreaterThanOrEqual(now - HOUR - 10 * MINUTE);
    expect((await m.query({ series: serverSeries('uid-b'), from: now - 24 * HOUR, intervalMs: HOUR })).points.map((p) => p.cpu)).toEqual([29.5, 29.5, 29.5]);
  });

  it('a late sample joins its minute bucket after that minute was rolled up, counted once', async () => {
    const s = serverSeries('late');
    m.record(s, T0 + 1000, values(10));
    m.record(s, T0 + 2000, values(20));
    clock.t = T0 + 5 * MINUTE;
    await m.compact();
    m.record(s, T0 + 3000, values(60));
    await m.compact();
    clock.t = T0 + 2 * HOUR;
    const q = await m.query({ series: s, from: T0, to: T0 + MINUTE, intervalMs: MINUTE });
    expect(q.tier).toBe('minute');
    expect(q.points).toEqual([expect.objectContaining({ t: T0, cpu: 30, cpuMax: 60, samples: 3 })]);
  });

  it('the unrolled tail is part of minute-tier answers without double counting', async () => {
    const s = serverSeries('tail');
    m.record(s, T0 + 1000, values(10));
    clock.t = T0 + 30_000;
    await m.compact();
    m.record(s, T0 + 20_000, values(30));
    clock.t = T0 + 2 * HOUR;
    const q = await m.query({ series: s, from: T0, to: T0 + MINUTE, intervalMs: MINUTE });
    expect(q.points).toEqual([expect.objectContaining({ cpu: 20, samples: 2 })]);
  });

  it('container stats become rates for the network and percentages of the limits', async () => {
    const base: StatsSample = {
      uid: 'u1', containerId: 'c', time: T0, cpuPercent: 50, onlineCpus: 2, memoryBytes: 256, memoryLimitBytes: 1024, memoryPercent: 25,
      networkRxBytes: 1000, networkTxBytes: 500, blockReadBytes: 0, blockWriteBytes: 0, pids: 3, overDiskLimit: false,
      disk: { bytes: 50, files: 1, truncated: false, measuredAt: T0 }, diskLimitBytes: 200,
    };
    m.recordServerStats([base, { ...base, time: T0 + 2000, networkRxBytes: 5000, networkTxBytes: 700 }]);
    const q = await m.query({ series: serverSeries('u1'), from: T0, to: T0 + 10_000 });
    expect(q.points.map((p) => [p.networkRxBps, p.networkTxBps])).toEqual([[0, 0], [2000, 100]]);
    expect(q.points[1]).toMatchObject({ memoryPercent: 25, diskPercent: 25, cpu: 50 });
  });

  it('node health is its own series', async () => {
    m.recordNodeHealth('n1', {
      time: new Date(T0).toISOString(), agentVersion: '1', hostname: 'h', cpu: { cores: 2, percent: 12, loadAverage: [0, 0, 0] },
      memory: { totalBytes: 1000, availableBytes: 600, usedBytes: 400 }, disk: { path: '/', totalBytes: 100, freeBytes: 20, usedBytes: 80 },
      containers: { total: 1, running: 1, gantry: 1, gantryRunning: 1 }, uptime: { systemSeconds: 1, agentSeconds: 1 },
      docker: { version: '20', apiVersion: '1.41' }, os: { platform: 'linux', release: '6', arch: 'x64' },
    });
    const q = await m.query({ series: nodeSeries('n1'), from: T0 - 1000 });
    expect(q.points).toEqual([expect.objectContaining({ cpu: 12, memoryPercent: 40, diskPercent: 80 })]);
  });

  it('bad queries are refused with the reason; an unknown series is empty', async () => {
    await expect(m.query({ series: 'server:x', from: T0, to: T0 })).rejects.toThrow(/from \(\d+\) must be before to/);
    await expect(m.query({ series: 'server:x', from: T0 - 1, intervalMs: -5 })).rejects.toThrow(/intervalMs must be positive/);
    expect((await m.query({ series: 'server:nobody', from: T0 - HOUR })).points).toEqual([]);
  });

  it('survives a reopen: buffered samples are flushed on close, roll-up state is kept', async () => {
    const s = serverSeries('persist');
    feed(s, T0, 5 * MINUTE);
    clock.t = T0 + 5 * MINUTE;
    await m.compact();
    feed(s, T0 + 5 * MINUTE, MINUTE);
    await m.close();
    m = await open();
    clock.t = T0 + 3 * HOUR;
    const q = await m.query({ series: s, from: T0, intervalMs: 10 * MINUTE, to: T0 + 10 * MINUTE });
    expect(q.points).toEqual([expect.objectContaining({ samples: 36, cpu: 2.5 })]);
  });
});
