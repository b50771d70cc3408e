// Metrics history over HTTP: a server's container stats and a node's health, read from MetricsHistory.
//
// Two shapes for the same data:
// - `GET /api/servers/:serverId/metrics` and `GET /api/nodes/:nodeId/metrics` (Catalyst style): every
//   value per point, `start`/`end` as ISO 8601 or epoch ms, `interval` as 30s/1m/5m/1h/1d.
// - `GET /api/servers/:serverId/metrics/history` (NexusPanel's "Get Historical Metrics"): one metric,
//   `data: {metric_type, interval, data_points: [{timestamp, value}]}` — inside the primary API's
//   `{success, data}` envelope, not NexusPanel's `{code, message, data}`.
//
// The interval answered is the one used: history older than a tier's retention exists only at that
// tier's resolution (1-minute buckets for 24 h, 1-hour buckets for 30 days by default), so asking for
// 1m over last week's data answers 1h points and says "1h".
import type { GameNode } from '../../crds/types.ts';
import { nodeSeries, serverSeries, type MetricPoint, type MetricsResult } from '../../controller/metrics/history.ts';
import { route, ok, type RouteSpec } from '../http/route.ts';
import { badRequest, notFound } from '../http/errors.ts';
import { getOrUndefined } from '../catalyst/common.ts';
import type { ApiServices } from '../http/services.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Longest range one request may span. */
export const MAX_SPAN_MS = 366 * DAY;
/** Most buckets one request may ask for (span / interval). */
export const MAX_POINTS = 10_000;
/** Points when no interval is given (the finest NexusPanel interval that stays within this). */
const DEFAULT_POINTS = 1000;

const HISTORY_INTERVALS: Record<string, number> = { '1m': MINUTE, '5m': 5 * MINUTE, '1h': HOUR, '1d': DAY };
const UNITS: Record<string, number> = { s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/** ISO 8601 or epoch milliseconds; 400 naming the parameter otherwise. */
function parseTime(name: string, v: unknown): number {
  const s = String(v);
  const t = /^\d{1,15}$/.test(s) ? Number(s) : /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) throw badRequest(`query parameter ${name}: "${s.slice(0, 50)}" is not an ISO 8601 time (e.g. 2026-01-15T15:00:00Z) or epoch milliseconds`, 'invalid_query');
  return t;
}

function parseInterval(name: string, v: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(v);
  const ms = m ? Number(m[1]) * UNITS[m[2]!]! : NaN;
  if (!(ms > 0)) throw badRequest(`query parameter ${name}: "${v.slice(0, 50)}" is not an interval such as 30s, 1m, 5m, 1h or 1d`, 'invalid_query');
  return ms;
}

export function intervalLabel(ms: number): string {
  if (!ms) return 'raw';
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return ms % SECOND === 0 ? `${ms / SECOND}s` : `${ms}ms`;
}

/** The interval the history will use: data older than a tier's retention exists only at the next
 *  tier's resolution, so a finer request is rounded up to it (as MetricsHistory.query does). */
function effectiveInterval(svc: ApiServices, from: number, intervalMs: number | undefined): number | undefined {
  if (!intervalMs || !svc.metrics) return intervalMs;
  const now = svc.now();
  const res = from >= now - svc.metrics.rawRetentionMs ? 0 : from >= now - svc.metrics.minuteRetentionMs ? MINUTE : HOUR;
  return res ? Math.ceil(Math.max(intervalMs, res) / res) * res : intervalMs;
}

/** The range checks both shapes share: end after start, not too long, not too many points. */
function checkRange(svc: ApiServices, from: number, to: number, requestedMs: number | undefined, names: [string, string]): void {
  if (to <= from) throw badRequest(`query parameter ${names[1]}: must be after ${names[0]} (${new Date(to).toISOString()} is not after ${new Date(from).toISOString()})`, 'invalid_range');
  if (to - from > MAX_SPAN_MS) throw badRequest(`the range ${names[0]}..${names[1]} spans ${Math.ceil((to - from) / DAY)} days; at most ${MAX_SPAN_MS / DAY} days per request`, 'invalid_range');
  const intervalMs = effectiveInterval(svc, from, requestedMs);
  if (intervalMs && (to - from) / intervalMs > MAX_POINTS) {
    throw badRequest(`the range at interval ${intervalLabel(intervalMs)} is ${Math.ceil((to - from) / intervalMs)} points; at most ${MAX_POINTS} — choose a coarser interval or a shorter range`, 'invalid_range');
  }
}

async function query(svc: ApiServices, series: string, from: number, to: number, intervalMs: number | undefined): Promise<MetricsResult> {
  if (!svc.metrics) return { series, from, to, intervalMs: intervalMs ?? 0, tier: 'raw', points: [] };
  return svc.metrics.query({ series, from, to, intervalMs });
}

function toPoint(p: MetricPoint): Record<string, unknown> {
  const { t, ...values } = p;
  return { timestamp: new Date(t).toISOString(), ...values };
}

const catalystQuery = {
  start: { type: 'string', maxLength: 40, description: 'ISO 8601 or epoch ms; default: an hour before end' },
  end: { type: 'string', maxLength: 40, description: 'ISO 8601 or epoch ms (exclusive); default: now' },
  interval: { type: 'string', maxLength: 10, description: 'Bucket size: 30s, 1m, 5m, 1h, 1d…; default: raw samples within the last hour, else about 1000 buckets' },
};

async function catalystMetrics(svc: ApiServices, series: string, q: Record<string, unknown>): Promise<Record<string, unknown>> {
  const to = q.end !== undefined ? parseTime('end', q.end) : svc.now();
  const from = q.start !== undefined ? parseTime('start', q.start) : to - HOUR;
  const intervalMs = q.interval !== undefined ? parseInterval('interval', q.interval as string) : undefined;
  checkRange(svc, from, to, intervalMs, ['start', 'end']);
  const r = await query(svc, series, from, to, intervalMs);
  return { start: new Date(from).toISOString(), end: new Date(to).toISOString(), interval: intervalLabel(r.intervalMs), intervalMs: r.intervalMs, resolution: r.tier, points: r.points.map(toPoint) };
}

const METRIC_TYPES = ['cpu', 'memory', 'disk', 'network'] as const;
type MetricType = (typeof METRIC_TYPES)[number];

/** NexusPanel's value of one metric: cpu in % (100 = one core), memory and disk in % of the limit, network in bytes/s (rx + tx). */
function historyPoint(type: MetricType, p: MetricPoint): Record<string, unknown> {
  const timestamp = new Date(p.t).toISOString();
  switch (type) {
    case 'cpu':
      return { timestamp, value: p.cpu, max: p.cpuMax };
    case 'memory':
      return { timestamp, value: p.memoryPercent, bytes: p.memoryBytes, limit_bytes: p.memoryLimitBytes };
    case 'disk':
      return { timestamp, value: p.diskPercent, bytes: p.diskBytes, limit_bytes: p.diskLimitBytes };
    case 'network':
      return { timestamp, value: p.networkRxBps + p.networkTxBps, rx_bps: p.networkRxBps, tx_bps: p.networkTxBps };
  }
}

export const metricsRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/metrics/history',
    summary: 'One metric of a server over time (NexusPanel "Get Historical Metrics"; in the {success, data} envelope)',
    tag: 'metrics',
    access: { permission: 'server.read', server: true },
    query: {
      metric_type: { type: 'string', enum: [...METRIC_TYPES], description: 'cpu (%), memory (% of limit), disk (% of limit), network (bytes/s, rx + tx)' },
      start_time: { type: 'string', maxLength: 40, description: 'ISO 8601 (required)' },
      end_time: { type: 'string', maxLength: 40, description: 'ISO 8601 (required)' },
      interval: { type: 'string', enum: Object.keys(HISTORY_INTERVALS), description: 'Aggregation interval; default: the finest giving at most 1000 points' },
    },
    responses: { 400: 'Missing or bad metric_type, times or range' },
    handler: async ({ c, svc, server, query: q }) => {
      for (const name of ['metric_type', 'start_time', 'end_time']) if (q[name] === undefined) throw badRequest(`query parameter ${name}: is required`, 'invalid_query');
      const from = parseTime('start_time', q.start_time);
      const to = parseTime('end_time', q.end_time);
      let intervalMs = q.interval !== undefined ? HISTORY_INTERVALS[q.interval as string]! : undefined;
      checkRange(svc, from, to, intervalMs, ['start_time', 'end_time']);
      intervalMs ??= Object.values(HISTORY_INTERVALS).find((ms) => (to - from) / ms <= DEFAULT_POINTS) ?? DAY;
      const r = await query(svc, serverSeries(server!.metadata.uid ?? ''), from, to, intervalMs);
      const type = q.metric_type as MetricType;
      return ok(c, { metric_type: type, interval: intervalLabel(r.intervalMs), data_points: r.points.map((p) => historyPoint(type, p)) });
    },
  }),

  route({
    method: 'GET',
    path: '/api/servers/:serverId/metrics',
    summary: 'A server\'s container stats over time (CPU, memory, disk, network per point)',
    tag: 'metrics',
    access: { permission: 'server.read', server: true },
    query: catalystQuery,
    handler: async ({ c, svc, server, query: q }) => {
      const data = await catalystMetrics(svc, serverSeries(server!.metadata.uid ?? ''), q);
      return ok(c, { serverId: server!.metadata.name, ...data });
    },
  }),

  route({
    method: 'GET',
    path: '/api/nodes/:nodeId/metrics',
    summary: 'A node\'s health over time (CPU % of the machine, memory and disk of its totals)',
    tag: 'metrics',
    access: { permission: 'node.read' },
    query: catalystQuery,
    handler: async ({ c, svc, params, query: q }) => {
      const node = await getOrUndefined<GameNode>(svc.store, 'GameNode', undefined, params.nodeId!);
      if (!node) throw notFound(`Node not found: "${params.nodeId!.slice(0, 100)}"`);
      const data = await catalystMetrics(svc, nodeSeries(node.metadata.name), q);
      return ok(c, { nodeId: node.metadata.name, ...data });
    },
  }),
];
