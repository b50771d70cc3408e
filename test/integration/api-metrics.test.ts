// Metrics history over HTTP: samples recorded into a real MetricsHistory (its own SQLite file) come
// back as NexusPanel data_points at the requested interval and as Catalyst-style points; bad times,
// reversed and oversized ranges are 400 naming the parameter; server.read / node.read apply.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { MetricsHistory, nodeSeries, serverSeries, type MetricValues } from '../../controller/metrics/history.ts';
import type { GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

const MINUTE = 60_000;
const MiB = 1024 * 1024;

describe('metrics API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let metrics: MetricsHistory;
  let api: ApiApp;
  let admin: SignedIn, owner: SignedIn, other: SignedIn, viewer: SignedIn;
  /** The first sample: a 5-minute boundary about half an hour ago (inside the raw tier). */
  let T0: number;

  const call = (who: SignedIn, p: string) => api.as(who, 'GET', p);
  const iso = (t: number) => new Date(t).toISOString();
  const values = (cpu: number): MetricValues => ({ cpu, memoryBytes: 256 * MiB, memoryLimitBytes: 1024 * MiB, diskBytes: 1024 * MiB, diskLimitBytes: 10 * 1024 * MiB, networkRxBps: 1000, networkTxBps: 500 });

  beforeAll(async () => {
    env = await openTestEnv();
    metrics = await MetricsHistory.open({ path: path.join(env.dir, 'metrics.db'), compactIntervalMs: 24 * 3600_000, log: env.log });
    api = await openApiApp({ env, api: { metrics, limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000 } } });
    svc = api.svc;
    admin = await signInAdmin(svc);
    owner = await signIn(svc, 'owner');
    other = await signIn(svc, 'other');
    viewer = await signIn(svc, 'viewer');
    const mc = await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'mc', namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    const theirs = await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'theirs', namespace: 'default' }, spec: { templateRef: 'testgame', owner: other.userId } });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'n1' }, spec: { address: '127.0.0.1' } });
    await svc.accounts.setServerGrant('default', 'mc', viewer.userId, ['server.read']);

    T0 = Math.floor(Date.now() / (5 * MINUTE)) * 5 * MINUTE - 30 * MINUTE;
    // 20 minutes, one sample every 10 s; CPU is 10, 20, 30, 40 % in the four 5-minute blocks.
    for (let t = T0; t < T0 + 20 * MINUTE; t += 10_000) {
      const block = Math.floor((t - T0) / (5 * MINUTE));
      metrics.record(serverSeries(mc.metadata.uid!), t, values(10 * (block + 1)));
      metrics.record(serverSeries(theirs.metadata.uid!), t, values(99));
    }
    for (let t = T0; t < T0 + 10 * MINUTE; t += 30_000) metrics.record(nodeSeries('n1'), t, { ...values(50), networkRxBps: 0, networkTxBps: 0 });
  });
  afterAll(async () => {
    await metrics.close();
    await env.close();
  });

  const history = (who: SignedIn, q: string) => call(who, `/api/servers/mc/metrics/history?${q}`);
  const range = (from = T0, to = T0 + 20 * MINUTE) => `start_time=${iso(from)}&end_time=${iso(to)}`;

  it('answers NexusPanel data_points at the requested interval (cpu, 5m)', async () => {
    const r = await history(owner, `metric_type=cpu&${range()}&interval=5m`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.success).toBe(true);
    expect(r.body.data.metric_type).toBe('cpu');
    expect(r.body.data.interval).toBe('5m');
    expect(r.body.data.data_points.map((p: { timestamp: string; value: number }) => [p.timestamp, p.value])).toEqual([
      [iso(T0), 10],
      [iso(T0 + 5 * MINUTE), 20],
      [iso(T0 + 10 * MINUTE), 30],
      [iso(T0 + 15 * MINUTE), 40],
    ]);
  });

  it('answers memory and disk in % of the limit and network in bytes/s; 1m buckets; the default interval', async () => {
    const mem = (await history(owner, `metric_type=memory&${range()}&interval=1m`)).body.data;
    expect(mem.interval).toBe('1m');
    expect(mem.data_points).toHaveLength(20);
    expect(mem.data_points[0]).toEqual({ timestamp: iso(T0), value: 25, bytes: 256 * MiB, limit_bytes: 1024 * MiB });
    expect(mem.data_points[19].timestamp).toBe(iso(T0 + 19 * MINUTE));
    const disk = (await history(owner, `metric_type=disk&${range()}&interval=1h`)).body.data;
    expect(disk.interval).toBe('1h');
    expect(disk.data_points.every((p: { value: number }) => Math.abs(p.value - 10) < 1e-9)).toBe(true);
    const net = (await history(owner, `metric_type=network&${range(T0, T0 + 5 * MINUTE)}&interval=5m`)).body.data;
    expect(net.data_points).toEqual([{ timestamp: iso(T0), value: 1500, rx_bps: 1000, tx_bps: 500 }]);
    // Left out: the finest interval that keeps the answer within 1000 points (1m for 20 minutes).
    const dflt = (await history(owner, `metric_type=cpu&${range()}`)).body.data;
    expect(dflt.interval).toBe('1m');
    expect(dflt.data_points).toHaveLength(20);
    // Only this range: the first block alone.
    const part = (await history(owner, `metric_type=cpu&${range(T0, T0 + 5 * MINUTE)}&interval=1m`)).body.data.data_points;
    expect(part.map((p: { value: number }) => p.value)).toEqual([10, 10, 10, 10, 10]);
  });

  it('refuses bad queries with 400 naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      [range(), /metric_type: is required/],
      [`metric_type=temperature&${range()}`, /metric_type: must be one of cpu, memory, disk, network/],
      [`metric_type=cpu&start_time=${iso(T0)}`, /end_time: is required/],
      [`metric_type=cpu&start_time=yesterday&end_time=${iso(T0)}`, /start_time: "yesterday" is not an ISO 8601 time/],
      [`metric_type=cpu&start_time=${iso(T0)}&end_time=2026-13-45T99:00:00Z`, /end_time: .*is not an ISO 8601 time/],
      [`metric_type=cpu&${range(T0, T0 - MINUTE)}`, /end_time: must be after start_time/],
      [`metric_type=cpu&${range(T0, T0)}`, /end_time: must be after start_time/],
      [`metric_type=cpu&${range(T0 - 400 * 24 * 60 * MINUTE, T0)}&interval=1d`, /spans 400 days; at most 366/],
      // A range reaching 30 days into the future at 1m.
      [`metric_type=cpu&${range(T0, T0 + 30 * 24 * 60 * MINUTE)}&interval=1m`, /43200 points; at most 10000/],
      [`metric_type=cpu&${range()}&interval=7m`, /interval: must be one of 1m, 5m, 1h, 1d/],
    ];
    for (const [q, msg] of cases) {
      const r = await history(owner, q);
      expect(r.status, q).toBe(400);
      expect(r.body.message, q).toMatch(msg);
    }
  });

  it('answers the interval it used: history older than a day exists only in hourly buckets', async () => {
    const old = (await history(owner, `metric_type=cpu&${range(T0 - 30 * 24 * 60 * MINUTE, T0 - 29 * 24 * 60 * MINUTE)}&interval=1m`)).body.data;
    expect(old).toEqual({ metric_type: 'cpu', interval: '1h', data_points: [] });
    const recent = (await history(owner, `metric_type=cpu&${range()}&interval=1m`)).body.data;
    expect(recent.interval).toBe('1m');
  });

  it('answers Catalyst-style points with every value, raw within the last hour by default', async () => {
    const r = await call(owner, `/api/servers/mc/metrics?start=${T0}&end=${iso(T0 + 20 * MINUTE)}&interval=5m`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toMatchObject({ serverId: 'mc', start: iso(T0), end: iso(T0 + 20 * MINUTE), interval: '5m', intervalMs: 5 * MINUTE, resolution: 'raw' });
    expect(r.body.data.points).toHaveLength(4);
    expect(r.body.data.points[1]).toMatchObject({
      timestamp: iso(T0 + 5 * MINUTE), cpu: 20, cpuMax: 20, memoryBytes: 256 * MiB, memoryLimitBytes: 1024 * MiB, memoryPercent: 25,
      diskPercent: 10, networkRxBps: 1000, networkTxBps: 500, samples: 30,
    });
    const raw = (await call(owner, '/api/servers/mc/metrics')).body.data;
    expect(raw.interval).toBe('raw');
    expect(raw.points).toHaveLength(120);
    expect(raw.points[0].timestamp).toBe(iso(T0));
    const bad = await call(owner, '/api/servers/mc/metrics?interval=soon');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/interval: "soon" is not an interval/);
    expect((await call(owner, `/api/servers/mc/metrics?start=${iso(T0)}&end=${iso(T0 - 1)}`)).status).toBe(400);
  });

  it('applies server.read (404 for a server the caller cannot see) and node.read', async () => {
    expect((await history(other, `metric_type=cpu&${range()}`)).status).toBe(404);
    expect((await call(other, '/api/servers/mc/metrics')).status).toBe(404);
    expect((await history(viewer, `metric_type=cpu&${range()}&interval=5m`)).body.data.data_points).toHaveLength(4);
    // Each server has its own series.
    const theirs = (await call(other, `/api/servers/theirs/metrics/history?metric_type=cpu&${range()}&interval=5m`)).body.data.data_points;
    expect(theirs.map((p: { value: number }) => p.value)).toEqual([99, 99, 99, 99]);

    const node = await call(admin, `/api/nodes/n1/metrics?start=${iso(T0)}&end=${iso(T0 + 10 * MINUTE)}&interval=5m`);
    expect(node.status, JSON.stringify(node.body)).toBe(200);
    expect(node.body.data).toMatchObject({ nodeId: 'n1', interval: '5m' });
    expect(node.body.data.points.map((p: { cpu: number; samples: number }) => [p.cpu, p.samples])).toEqual([[50, 10], [50, 10]]);
    expect((await call(admin, '/api/nodes/nope/metrics')).status).toBe(404);
    expect((await call(owner, '/api/nodes/n1/metrics')).status).toBe(403);
  });
});
