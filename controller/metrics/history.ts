// Metrics history: container stats and node health samples in their own SQLite file (DATA_DIR/
// metrics.db, synchronous=NORMAL), so a thousand samples a second never queue behind — or slow — the
// resource store's durable writes. Losing the last second of samples in a power cut is acceptable.
//
// Tiers (all configurable): raw samples for 1 h, 1-minute aggregates for 24 h, 1-hour aggregates for
// 30 days. Aggregates keep avg and max of CPU and memory, avg of the rest, and the sample count n, so
// coarser buckets are n-weighted averages of finer ones.
//
// Write path: record*() only appends to an in-memory buffer; a flush every second (or at maxBatch rows)
// writes the buffer in ONE transaction with multi-row INSERTs. Raw rows live in a rowid table (an
// append at the end of the B-tree) with one (series, t) index for queries.
//
// Roll-up is incremental by rowid: rows with id > the last rolled id are grouped per series and minute
// and merged into the minute tier (ON CONFLICT → weighted merge), so every raw row is counted exactly
// once, late samples included. Hours are rolled from completed minutes. Raw rows are deleted by rowid
// range via checkpoints (the highest id rolled and the newest sample time it held), never by a scan.
//
// Queries read the finest tier that still covers `from`, plus whatever finer data is newer than the
// coarser tier's roll-up (the unrolled raw tail, the current hour's minutes), under the connection
// lock, so a roll-up committing mid-query can neither hide nor double-count rows.
import type { HealthReport } from '../../agent/runtime/health.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import type { Clock } from '../runtime/workqueue.ts';
import { migrate, type Migration } from '../store/migrations.ts';
import { SqliteDb, type SqlRunner } from '../store/sqlite-db.ts';
import type { GoneServer, PerServerState } from '../lifecycle/server-reaper.ts';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;

/** One sample's values. CPU in percent (100 = one core for servers; of the whole machine for nodes). */
export interface MetricValues {
  cpu: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  diskBytes: number;
  diskLimitBytes: number;
  networkRxBps: number;
  networkTxBps: number;
}

export interface MetricPoint extends MetricValues {
  /** Bucket start (epoch ms); the sample's time for raw points. */
  t: number;
  cpuMax: number;
  memoryMaxBytes: number;
  /** memoryBytes / memoryLimitBytes × 100 (0 without a limit). */
  memoryPercent: number;
  diskPercent: number;
  /** Raw samples behind the point. */
  samples: number;
}

export interface MetricsQuery {
  /** `server:<uid>` or `node:<name>` (see serverSeries/nodeSeries). */
  series: string;
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive (default: now). */
  to?: number;
  /** Bucket size in ms; raised to the resolution of the tier that holds `from`. Left out: raw points
   *  when the range is within the raw retention, else the tier's resolution (widened to keep at most
   *  maxPoints buckets). */
  intervalMs?: number;
  maxPoints?: number;
}

export interface MetricsResult {
  series: string;
  from: number;
  to: number;
  /** 0 = raw samples. */
  intervalMs: number;
  tier: 'raw' | 'minute' | 'hour';
  points: MetricPoint[];
}

export interface MetricsHistoryOptions {
  path: string;
  rawRetentionMs?: number;
  minuteRetentionMs?: number;
  hourRetentionMs?: number;
  flushIntervalMs?: number;
  /** Flush at once when this many rows are buffered. */
  maxBatch?: number;
  /** Beyond this many buffered rows (the disk cannot keep up) the oldest are dropped and counted. */
  maxBuffered?: number;
  /** Roll-up and pruning period (default 1 min). */
  compactIntervalMs?: number;
  clock?: Clock;
  log?: Logger;
}

export const serverSeries = (uid: string) => `server:${uid}`;
export const nodeSeries = (name: string) => `node:${name}`;

const wall: Clock = { now: () => Date.now(), setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

export const METRICS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'series, raw samples, aggregates, roll-up state',
    up: `
      CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE raw (
        id INTEGER PRIMARY KEY, series INTEGER NOT NULL, t INTEGER NOT NULL,
        cpu REAL NOT NULL, mem REAL NOT NULL, mem_limit REAL NOT NULL, disk REAL NOT NULL, disk_limit REAL NOT NULL,
        net_rx REAL NOT NULL, net_tx REAL NOT NULL);
      CREATE INDEX raw_series_t ON raw (series, t);
      CREATE TABLE agg (
        res INTEGER NOT NULL, series INTEGER NOT NULL, t INTEGER NOT NULL,
        cpu REAL NOT NULL, cpu_max REAL NOT NULL, mem REAL NOT NULL, mem_max REAL NOT NULL, mem_limit REAL NOT NULL,
        disk REAL NOT NULL, disk_limit REAL NOT NULL, net_rx REAL NOT NULL, net_tx REAL NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (res, series, t)) WITHOUT ROWID;
      CREATE INDEX agg_res_t ON agg (res, t);
      CREATE TABLE rollup_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE raw_checkpoints (upto_id INTEGER PRIMARY KEY, max_t INTEGER NOT NULL);`,
  },
];

type Row = [series: number, t: number, cpu: number, mem: number, memLimit: number, disk: number, diskLimit: number, rx: number, tx: number];
const COLS = 9;
/** Multi-row INSERT sizes (each a cached statement); a batch is cut into these, largest first. */
const CHUNKS = [512, 128, 32, 8, 1];

const AGG_COLS = 'cpu, cpu_max, mem, mem_max, mem_limit, disk, disk_limit, net_rx, net_tx, n';
const RAW_AS_AGG = 'cpu, cpu AS cpu_max, mem, mem AS mem_max, mem_limit, disk, disk_limit, net_rx, net_tx, 1 AS n';
const MERGE = `ON CONFLICT (res, series, t) DO UPDATE SET
  cpu = (cpu * n + excluded.cpu * excluded.n) / (n + excluded.n), cpu_max = max(cpu_max, excluded.cpu_max),
  mem = (mem * n + excluded.mem * excluded.n) / (n + excluded.n), mem_max = max(mem_max, excluded.mem_max),
  mem_limit = max(mem_limit, excluded.mem_limit),
  disk = (disk * n + excluded.disk * excluded.n) / (n + excluded.n), disk_limit = max(disk_limit, excluded.disk_limit),
  net_rx = (net_rx * n + excluded.net_rx * excluded.n) / (n + excluded.n),
  net_tx = (net_tx * n + excluded.net_tx * excluded.n) / (n + excluded.n), n = n + excluded.n`;
const weighted = (bucket: string) => `SELECT (t / ${bucket}) * ${bucket} AS t,
  sum(cpu * n) / sum(n) AS cpu, max(cpu_max) AS cpu_max, sum(mem * n) / sum(n) AS mem, max(mem_max) AS mem_max,
  max(mem_limit) AS mem_limit, sum(disk * n) / sum(n) AS disk, max(disk_limit) AS disk_limit,
  sum(net_rx * n) / sum(n) AS net_rx, sum(net_tx * n) / sum(n) AS net_tx, sum(n) AS n`;

interface AggRow {
  t: number;
  cpu: number;
  cpu_max: number;
  mem: number;
  mem_max: number;
  mem_limit: number;
  disk: number;
  disk_limit: number;
  net_rx: number;
  net_tx: number;
  n: number;
}

export class MetricsHistory implements PerServerState {
  readonly stateName = 'metrics history';
  readonly db: SqliteDb;
  readonly rawRetentionMs: number;
  readonly minuteRetentionMs: number;
  readonly hourRetentionMs: number;
  private readonly opts: MetricsHistoryOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly seriesIds = new Map<string, number>();
  private readonly prevNet = new Map<string, { t: number; rx: number; tx: number }>();
  private buffer: Row[] = [];
  private pendingSeries = new Map<string, Row[]>();
  private flushing: Promise<void> = Promise.resolve();
  private flushTimer: unknown;
  private compactTimer: unknown;
  private rolledId = 0;
  private hourRolledT = 0;
  private closed = false;
  /** Rows dropped because the buffer was full. */
  dropped = 0;
  /** Rows written since open. */
  written = 0;

  private constructor(db: SqliteDb, opts: MetricsHistoryOptions) {
    this.db = db;
    this.opts = opts;
    this.clock = opts.clock ?? wall;
    this.log = opts.log ?? rootLogger.child({ component: 'metrics' });
    this.rawRetentionMs = opts.rawRetentionMs ?? HOUR;
    this.minuteRetentionMs = opts.minuteRetentionMs ?? 24 * HOUR;
    this.hourRetentionMs = opts.hourRetentionMs ?? 30 * 24 * HOUR;
    for (const [k, v] of Object.entries({ rawRetentionMs: this.rawRetentionMs, minuteRetentionMs: this.minuteRetentionMs, hourRetentionMs: this.hourRetentionMs })) {
      if (!(v > 0)) throw new RangeError(`metrics ${k} must be positive, not ${v}`);
    }
  }

  static async open(opts: MetricsHistoryOptions): Promise<MetricsHistory> {
    const db = await SqliteDb.open(opts.path, { synchronous: 'NORMAL' });
    try {
      await migrate(db, 'metrics', METRICS_MIGRATIONS);
      const h = new MetricsHistory(db, opts);
      for (const r of await db.all<{ id: number; name: string }>('SELECT id, name FROM series')) h.seriesIds.set(r.name, r.id);
      const st = await db.all<{ key: string; value: number }>('SELECT key, value FROM rollup_state');
      for (const r of st) {
        if (r.key === 'raw_rolled_id') h.rolledId = r.value;
        if (r.key === 'hour_rolled_t') h.hourRolledT = r.value;
      }
      h.armCompaction();
      return h;
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
  }

  // ---- write path -------------------------------------------------------------------------------

  /** Container stats from an agent (the hub's 'stats' event). */
  recordServerStats(samples: readonly StatsSample[]): void {
    for (const s of samples) {
      const series = serverSeries(s.uid);
      const [rx, tx] = this.rates(series, s.time, s.networkRxBytes, s.networkTxBytes);
      this.record(series, s.time, {
        cpu: s.cpuPercent,
        memoryBytes: s.memoryBytes,
        memoryLimitBytes: s.memoryLimitBytes,
        diskBytes: s.disk?.bytes ?? 0,
        diskLimitBytes: s.diskLimitBytes ?? 0,
        networkRxBps: rx,
        networkTxBps: tx,
      });
    }
  }

  /** A node's health report (the hub's 'health' event). */
  recordNodeHealth(node: string, h: HealthReport): void {
    const t = Date.parse(h.time);
    this.record(nodeSeries(node), Number.isFinite(t) ? t : this.clock.now(), {
      cpu: h.cpu.percent ?? 0,
      memoryBytes: h.memory.usedBytes,
      memoryLimitBytes: h.memory.totalBytes,
      diskBytes: h.disk?.usedBytes ?? 0,
      diskLimitBytes: h.disk?.totalBytes ?? 0,
      networkRxBps: 0,
      networkTxBps: 0,
    });
  }

  /** Network counters are totals since the container started: bytes per second between two samples. */
  rates(series: string, t: number, rx: number, tx: number): [number, number] {
    const prev = this.prevNet.get(series);
    this.prevNet.set(series, { t, rx, tx });
    if (!prev || t <= prev.t || rx < prev.rx || tx < prev.tx) return [0, 0];
    const s = (t - prev.t) / 1000;
    return [(rx - prev.rx) / s, (tx - prev.tx) / s];
  }

  record(series: string, t: number, v: MetricValues): void {
    if (this.closed) return;
    const nums = [t, v.cpu, v.memoryBytes, v.memoryLimitBytes, v.diskBytes, v.diskLimitBytes, v.networkRxBps, v.networkTxBps];
    if (!nums.every(Number.isFinite)) return;
    const row: Row = [0, Math.round(t), v.cpu, v.memoryBytes, v.memoryLimitBytes, v.diskBytes, v.diskLimitBytes, v.networkRxBps, v.networkTxBps];
    const id = this.seriesIds.get(series);
    if (id !== undefined) {
      row[0] = id;
      this.buffer.push(row);
    } else {
      // A new series gets its id in the next flush.
      const rows = this.pendingSeries.get(series) ?? [];
      rows.push(row);
      this.pendingSeries.set(series, rows);
    }
    const size = this.buffer.length;
    const cap = this.opts.maxBuffered ?? 500_000;
    if (size > cap) {
      // Drop the oldest tenth at once: trimming one row per sample would cost O(n) every time.
      const drop = size - Math.floor(cap * 0.9);
      this.buffer.splice(0, drop);
      this.dropped += drop;
      this.log.warn('metrics buffer full: the disk does not keep up; oldest samples dropped', { dropped: drop });
    }
    if (size >= (this.opts.maxBatch ?? 5000)) void this.flush();
    else if (this.flushTimer === undefined) this.flushTimer = this.clock.setTimeout(() => void this.flush(), this.opts.flushIntervalMs ?? 1000);
  }

  // PerServerState: a deleted server's series go with it (every tier), so nothing of it is ever
  // served again, and a late sample for it cannot revive more than a few points until the next sweep.
  knownServerUids(): string[] {
    const uids: string[] = [];
    for (const name of [...this.seriesIds.keys(), ...this.pendingSeries.keys()]) if (name.startsWith('server:')) uids.push(name.slice('server:'.length));
    return uids;
  }

  async forgetServers(gone: readonly GoneServer[]): Promise<void> {
    const names = new Set(gone.map((g) => serverSeries(g.uid)));
    for (const n of names) {
      this.pendingSeries.delete(n);
      this.prevNet.delete(n);
    }
    const ids = [...names].map((n) => this.seriesIds.get(n)).filter((id): id is number => id !== undefined);
    if (!ids.length) return;
    const idSet = new Set(ids);
    this.buffer = this.buffer.filter((r) => !idSet.has(r[0]));
    for (const n of names) this.seriesIds.delete(n);
    // After any write in flight (it may hold rows of these series), under the connection's lock.
    const run = this.flushing.then(() =>
      this.db.transaction(async (tx) => {
        for (const id of ids) {
          await tx.run('DELETE FROM raw WHERE series = ?', [id]);
          await tx.run(`DELETE FROM agg WHERE res IN (${MINUTE}, ${HOUR}) AND series = ?`, [id]);
          await tx.run('DELETE FROM series WHERE id = ?', [id]);
        }
      }),
    );
    this.flushing = run.catch(() => undefined);
    await run;
  }

  /** Writes everything buffered; resolves when it is on disk (as far as synchronous=NORMAL goes). */
  flush(): Promise<void> {
    if (this.flushTimer !== undefined) {
      this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const rows = this.buffer;
    const pending = this.pendingSeries;
    this.buffer = [];
    this.pendingSeries = new Map();
    if (!rows.length && !pending.size) return this.flushing;
    this.flushing = this.flushing.then(() => this.write(rows, pending)).catch((err) => this.log.error('metrics flush failed; samples lost', { err, rows: rows.length }));
    return this.flushing;
  }

  private async write(rows: Row[], pending: Map<string, Row[]>): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [name, more] of pending) {
        let id = this.seriesIds.get(name);
        if (id === undefined) {
          await tx.run('INSERT OR IGNORE INTO series (name) VALUES (?)', [name]);
          id = (await tx.get<{ id: number }>('SELECT id FROM series WHERE name = ?', [name]))!.id;
          this.seriesIds.set(name, id);
        }
        for (const r of more) {
          r[0] = id;
          rows.push(r);
        }
      }
      await insertRows(tx, rows);
    });
    this.written += rows.length;
  }

  // ---- roll-up and retention --------------------------------------------------------------------

  private armCompaction(): void {
    const every = this.opts.compactIntervalMs ?? MINUTE;
    this.compactTimer = this.clock.setTimeout(() => {
      void this.compact()
        .catch((err) => this.log.error('metrics roll-up failed', { err }))
        .finally(() => {
          if (!this.closed) this.armCompaction();
        });
    }, every);
  }

  /** Flushes, rolls raw rows into minutes and completed hours into hours, and drops expired rows. */
  async compact(now = this.clock.now()): Promise<void> {
    await this.flush();
    if (this.closed) return;
    await this.db.transaction(async (tx) => {
      await this.rollRaw(tx);
      // An hour is rolled once its minutes can no longer change much: two minutes after it ends.
      const upTo = Math.floor((now - 2 * MINUTE) / HOUR) * HOUR;
      if (!this.hourRolledT) {
        const first = await tx.get<{ t: number | null }>('SELECT min(t) AS t FROM agg WHERE res = ?', [MINUTE]);
        this.hourRolledT = first?.t != null ? Math.floor(first.t / HOUR) * HOUR : upTo;
      }
      if (upTo > this.hourRolledT) {
        await tx.run(
          `INSERT INTO agg (res, series, t, ${AGG_COLS})
           SELECT ${HOUR}, series, t, cpu, cpu_max, mem, mem_max, mem_limit, disk, disk_limit, net_rx, net_tx, n FROM (
             SELECT series, ${weighted(String(HOUR)).replace(/^SELECT /, '')} FROM agg WHERE res = ? AND t >= ? AND t < ? GROUP BY series, t / ${HOUR}) WHERE true
           ${MERGE}`,
          [MINUTE, this.hourRolledT, upTo],
        );
        this.hourRolledT = upTo;
        await tx.run("INSERT INTO rollup_state (key, value) VALUES ('hour_rolled_t', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [upTo]);
      }
      // Raw rows: delete up to the newest checkpoint whose samples are all past the raw retention.
      const cp = await tx.get<{ upto_id: number }>('SELECT upto_id FROM raw_checkpoints WHERE max_t < ? ORDER BY upto_id DESC LIMIT 1', [now - this.rawRetentionMs]);
      if (cp) {
        await tx.run('DELETE FROM raw WHERE id <= ?', [cp.upto_id]);
        await tx.run('DELETE FROM raw_checkpoints WHERE upto_id <= ?', [cp.upto_id]);
      }
      await tx.run('DELETE FROM agg WHERE res = ? AND t < ?', [MINUTE, now - this.minuteRetentionMs]);
      await tx.run('DELETE FROM agg WHERE res = ? AND t < ?', [HOUR, now - this.hourRetentionMs]);
    });
  }

  private async rollRaw(tx: SqlRunner): Promise<void> {
    const top = await tx.get<{ id: number | null; t: number | null }>('SELECT max(id) AS id, max(t) AS t FROM raw WHERE id > ?', [this.rolledId]);
    if (top?.id == null) return;
    await tx.run(
      `INSERT INTO agg (res, series, t, ${AGG_COLS})
       SELECT ${MINUTE}, series, (t / ${MINUTE}) * ${MINUTE}, avg(cpu), max(cpu), avg(mem), max(mem), max(mem_limit), avg(disk), max(disk_limit), avg(net_rx), avg(net_tx), count(*)
       FROM raw WHERE id > ? AND id <= ? GROUP BY series, t / ${MINUTE}
       ${MERGE}`,
      [this.rolledId, top.id],
    );
    await tx.run('INSERT INTO raw_checkpoints (upto_id, max_t) VALUES (?, ?)', [top.id, top.t]);
    await tx.run("INSERT INTO rollup_state (key, value) VALUES ('raw_rolled_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [top.id]);
    this.rolledId = top.id;
  }

  // ---- queries ----------------------------------------------------------------------------------

  async query(q: MetricsQuery): Promise<MetricsResult> {
    const now = this.clock.now();
    const to = q.to ?? now + 1;
    const from = q.from;
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) throw new RangeError(`metrics query: from (${from}) must be before to (${to})`);
    if (q.intervalMs !== undefined && !(q.intervalMs > 0)) throw new RangeError(`metrics query: intervalMs must be positive, not ${q.intervalMs}`);
    await this.flush();
    const tier: MetricsResult['tier'] = from >= now - this.rawRetentionMs ? 'raw' : from >= now - this.minuteRetentionMs ? 'minute' : 'hour';
    const res = tier === 'raw' ? 0 : tier === 'minute' ? MINUTE : HOUR;
    const maxPoints = q.maxPoints ?? 1000;
    let interval = Math.round(q.intervalMs ?? 0);
    if (tier !== 'raw' || interval) {
      if (!q.intervalMs) interval = Math.max(res, Math.ceil((to - from) / maxPoints));
      if (res) interval = Math.ceil(Math.max(interval, res) / res) * res;
    }
    const id = this.seriesIds.get(q.series);
    if (id === undefined) return { series: q.series, from, to, intervalMs: interval, tier, points: [] };

    const rows = await this.db.locked(async (r) => {
      if (!interval) {
        return r.all<AggRow>(`SELECT t, ${RAW_AS_AGG} FROM raw WHERE series = ? AND t >= ? AND t < ? ORDER BY t`, [id, from, to]);
      }
      // Every source, each up to where the next coarser one begins, bucketed and n-weighted.
      const sources: string[] = [];
      const params: unknown[] = [];
      if (tier === 'hour') {
        sources.push(`SELECT t, ${AGG_COLS} FROM agg WHERE res = ${HOUR} AND series = ? AND t >= ? AND t < ?`);
        params.push(id, from, Math.min(to, this.hourRolledT || from));
      }
      if (tier !== 'raw') {
        sources.push(`SELECT t, ${AGG_COLS} FROM agg WHERE res = ${MINUTE} AND series = ? AND t >= ? AND t < ?`);
        params.push(id, tier === 'hour' ? Math.max(from, this.hourRolledT) : from, to);
        sources.push(`SELECT t, ${RAW_AS_AGG} FROM raw WHERE series = ? AND t >= ? AND t < ? AND id > ?`);
        params.push(id, from, to, this.rolledId);
      } else {
        sources.push(`SELECT t, ${RAW_AS_AGG} FROM raw WHERE series = ? AND t >= ? AND t < ?`);
        params.push(id, from, to);
      }
      return r.all<AggRow>(`${weighted(String(interval))} FROM (${sources.join(' UNION ALL ')}) GROUP BY t / ${interval} ORDER BY 1`, params);
    });
    return { series: q.series, from, to, intervalMs: interval, tier, points: rows.map(toPoint) };
  }

  /** Series names known (for the API's listing). */
  series(): string[] {
    return [...this.seriesIds.keys()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer);
    if (this.compactTimer !== undefined) this.clock.clearTimeout(this.compactTimer);
    await this.flushing;
    await this.db.close();
  }
}

function toPoint(r: AggRow): MetricPoint {
  return {
    t: r.t,
    cpu: r.cpu,
    cpuMax: r.cpu_max,
    memoryBytes: r.mem,
    memoryMaxBytes: r.mem_max,
    memoryLimitBytes: r.mem_limit,
    memoryPercent: r.mem_limit > 0 ? (r.mem / r.mem_limit) * 100 : 0,
    diskBytes: r.disk,
    diskLimitBytes: r.disk_limit,
    diskPercent: r.disk_limit > 0 ? (r.disk / r.disk_limit) * 100 : 0,
    networkRxBps: r.net_rx,
    networkTxBps: r.net_tx,
    samples: r.n,
  };
}

async function insertRows(tx: SqlRunner, rows: Row[]): Promise<void> {
  let i = 0;
  for (const size of CHUNKS) {
    const sql = `INSERT INTO raw (series, t, cpu, mem, mem_limit, disk, disk_limit, net_rx, net_tx) VALUES ${Array.from({ length: size }, () => '(?,?,?,?,?,?,?,?,?)').join(',')}`;
    while (rows.length - i >= size) {
      const params = new Array<unknown>(size * COLS);
      for (let k = 0; k < size; k++) {
        const r = rows[i + k]!;
        for (let c = 0; c < COLS; c++) params[k * COLS + c] = r[c];
      }
      await tx.run(sql, params);
      i += size;
    }
  }
}
