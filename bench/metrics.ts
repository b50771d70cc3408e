// Metrics history: ingest and a 24 h history query, beside plain sqlite3 measured in the same run.
//
//   node dist/bench/metrics.js        (BENCH_METRICS_SERVERS=1000, BENCH_METRICS_SECONDS=60,
//                                    BENCH_METRICS_QUERY_SERVERS=20 for the 24 h data set)
//
// Ingest: SERVERS simulated containers × 1 sample/s for SECONDS, time compressed: every second's
// samples are handed to MetricsHistory.recordServerStats as fast as it takes them, then flushed.
// Reference: the same rows INSERTed by the same sqlite3 library into the same raw table and index
// (WAL, synchronous=NORMAL), one prepared INSERT per row inside one transaction — the usual way.
//
// Query: 24 h of history for one server among QUERY_SERVERS, at 1-minute resolution (1,440 points)
// from the minute tier, vs the reference answering the same question from 24 h of raw 1 s samples in
// a plain (series, t)-indexed table: SELECT of every row, and SELECT … GROUP BY minute.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sqlite3 from 'sqlite3';
import type { StatsSample } from '../agent/runtime/stats.ts';
import { HOUR, MINUTE, MetricsHistory, serverSeries } from '../controller/metrics/history.ts';
import { fmt, median, num, ratio, runIfMain } from './lib.ts';

const RAW_SCHEMA = `CREATE TABLE raw (
  id INTEGER PRIMARY KEY, series INTEGER NOT NULL, t INTEGER NOT NULL,
  cpu REAL NOT NULL, mem REAL NOT NULL, mem_limit REAL NOT NULL, disk REAL NOT NULL, disk_limit REAL NOT NULL,
  net_rx REAL NOT NULL, net_tx REAL NOT NULL);
  CREATE INDEX raw_series_t ON raw (series, t);`;

async function openRaw(file: string) {
  const db = await new Promise<sqlite3.Database>((res, rej) => {
    const d: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? rej(err) : res(d)));
  });
  const exec = (sql: string) => new Promise<void>((res, rej) => db.exec(sql, (err) => (err ? rej(err) : res())));
  await exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  const all = <T>(sql: string, p: unknown[]) => new Promise<T[]>((res, rej) => db.all(sql, p, (err: Error | null, rows: T[]) => (err ? rej(err) : res(rows))));
  const close = async (...stmts: sqlite3.Statement[]) => {
    await Promise.all(stmts.map((s) => new Promise<void>((r) => s.finalize(() => r()))));
    await new Promise<void>((r) => db.close(() => r()));
  };
  return { db, exec, all, close };
}

function samplesFor(servers: number, second: number, t0: number): StatsSample[] {
  const out: StatsSample[] = new Array(servers);
  for (let i = 0; i < servers; i++) {
    out[i] = {
      uid: `uid-${i}`, containerId: `c${i}`, time: t0 + second * 1000, cpuPercent: (i * 7 + second * 13) % 100, onlineCpus: 2,
      memoryBytes: 500e6 + i * 1000 + second, memoryLimitBytes: 2e9, memoryPercent: 25, networkRxBytes: second * 1000 * (i + 1),
      networkTxBytes: second * 500 * (i + 1), blockReadBytes: 0, blockWriteBytes: 0, pids: 10, overDiskLimit: false,
      disk: { bytes: 1e9, files: 100, truncated: false, measuredAt: t0 }, diskLimitBytes: 1e10,
    };
  }
  return out;
}

async function ingest(dir: string, servers: number, seconds: number) {
  const t0 = Date.UTC(2026, 0, 1);
  const batches = Array.from({ length: seconds }, (_, s) => samplesFor(servers, s, t0));
  const total = servers * seconds;

  // Gantry: MetricsHistory, compaction off during the run (measured separately).
  const m = await MetricsHistory.open({ path: path.join(dir, 'metrics.db'), compactIntervalMs: 10 * HOUR });
  let start = performance.now();
  for (const b of batches) {
    m.recordServerStats(b);
    // Let a flush that reached maxBatch proceed, as the event loop would between agent messages.
    await new Promise((r) => setImmediate(r));
  }
  await m.flush();
  const gantryMs = performance.now() - start;
  start = performance.now();
  await m.compact(t0 + seconds * 1000 + 5 * MINUTE);
  const rollupMs = performance.now() - start;
  const written = m.written;
  await m.close();

  // Reference: one prepared INSERT per row in one transaction, same table and index.
  const raw = await openRaw(path.join(dir, 'reference.db'));
  await raw.exec(RAW_SCHEMA);
  const ins = raw.db.prepare('INSERT INTO raw (series, t, cpu, mem, mem_limit, disk, disk_limit, net_rx, net_tx) VALUES (?,?,?,?,?,?,?,?,?)');
  const run = (p: unknown[]) => new Promise<void>((res, rej) => ins.run(p, (err: Error | null) => (err ? rej(err) : res())));
  const prev = new Map<string, number>();
  start = performance.now();
  await raw.exec('BEGIN');
  for (const b of batches) {
    for (const s of b) {
      // The same derived values the history stores (rates from the previous sample), ids by series.
      const p = prev.get(s.uid);
      prev.set(s.uid, s.networkRxBytes);
      await run([Number(s.uid.slice(4)) + 1, s.time, s.cpuPercent, s.memoryBytes, s.memoryLimitBytes, s.disk!.bytes, s.diskLimitBytes, p === undefined ? 0 : s.networkRxBytes - p, 0]);
    }
  }
  await raw.exec('COMMIT');
  const refMs = performance.now() - start;
  await raw.close(ins);

  if (written !== total) throw new Error(`history wrote ${written} rows, expected ${total}`);
  const g = (total / gantryMs) * 1000;
  const r = (total / refMs) * 1000;
  console.log(`ingest ${fmt(servers)} servers × ${seconds} s = ${fmt(total)} samples (time compressed)`);
  console.log(`  MetricsHistory (buffer + multi-row INSERT batches): ${fmt(g)} samples/s (${fmt(gantryMs)} ms)`);
  console.log(`  reference: prepared INSERT per row in one transaction: ${fmt(r)} samples/s (${fmt(refMs)} ms)   ratio ${ratio(g, r)}`);
  console.log(`  headroom at 1 sample/s per server: ${fmt(g / servers, 1)}× real time; roll-up of those ${fmt(total)} rows into minutes: ${fmt(rollupMs)} ms`);
}

async function query(dir: string, servers: number) {
  const tEnd = Date.UTC(2026, 0, 2);
  const tStart = tEnd - 24 * HOUR;
  const clock = { now: () => tEnd, setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };

  // Gantry: 24 h of minute buckets per server, as the roll-up leaves them.
  const m = await MetricsHistory.open({ path: path.join(dir, 'history24.db'), clock, compactIntervalMs: 10 * HOUR });
  for (let i = 0; i < servers; i++) m.record(serverSeries(`q-${i}`), tEnd - 1000, { cpu: 0, memoryBytes: 0, memoryLimitBytes: 1, diskBytes: 0, diskLimitBytes: 1, networkRxBps: 0, networkTxBps: 0 });
  await m.flush();
  await m.db.exec('DELETE FROM raw');
  await m.db.run(
    `WITH RECURSIVE k(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM k WHERE x < 1439)
     INSERT INTO agg (res, series, t, cpu, cpu_max, mem, mem_max, mem_limit, disk, disk_limit, net_rx, net_tx, n)
     SELECT ${MINUTE}, s.id, ${tStart} + x * ${MINUTE}, (x * 7 + s.id) % 100, 100, 5e8, 6e8, 2e9, 1e9, 1e10, 1000, 500, 60 FROM k, series s`,
  );

  // Reference: 24 h of raw 1 s samples per server in a plain indexed table.
  const raw = await openRaw(path.join(dir, 'reference24.db'));
  await raw.exec(RAW_SCHEMA);
  await raw.exec(
    `WITH RECURSIVE k(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM k WHERE x < 86399), s(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM s WHERE id < ${servers})
     INSERT INTO raw (series, t, cpu, mem, mem_limit, disk, disk_limit, net_rx, net_tx)
     SELECT id, ${tStart} + x * 1000, (x * 7 + id) % 100, 5e8, 2e9, 1e9, 1e10, 1000, 500 FROM s, k ORDER BY id, x`,
  );

  const target = Math.floor(servers / 2);
  const id = (await m.db.get<{ id: number }>('SELECT id FROM series WHERE name = ?', [serverSeries(`q-${target}`)]))!.id;
  const timeIt = async (fn: () => Promise<number>) => {
    const times: number[] = [];
    let n = 0;
    for (let i = 0; i < 7; i++) {
      const s = performance.now();
      n = await fn();
      times.push(performance.now() - s);
    }
    return { ms: median(times), n };
  };
  const hist = await timeIt(async () => (await m.query({ series: serverSeries(`q-${target}`), from: tStart, to: tEnd, intervalMs: MINUTE })).points.length);
  const rawAll = await timeIt(async () => (await raw.all('SELECT t, cpu, mem, mem_limit, disk, disk_limit, net_rx, net_tx FROM raw WHERE series = ? AND t >= ? AND t < ? ORDER BY t', [id, tStart, tEnd])).length);
  const rawGrouped = await timeIt(
    async () =>
      (
        await raw.all(
          `SELECT (t / ${MINUTE}) * ${MINUTE} AS t, avg(cpu), max(cpu), avg(mem), max(mem), max(mem_limit), avg(disk), max(disk_limit), avg(net_rx), avg(net_tx), count(*)
           FROM raw WHERE series = ? AND t >= ? AND t < ? GROUP BY t / ${MINUTE} ORDER BY 1`,
          [id, tStart, tEnd],
        )
      ).length,
  );
  await m.close();
  await raw.close();
  if (hist.n !== 1440 || rawGrouped.n !== 1440 || rawAll.n !== 86400) throw new Error(`unexpected row counts ${hist.n}/${rawGrouped.n}/${rawAll.n}`);
  console.log(`24 h history of one server among ${servers} (median of 7)`);
  console.log(`  MetricsHistory.query, minute tier: ${fmt(hist.ms, 1)} ms for ${hist.n} points`);
  console.log(`  reference: raw SELECT of 24 h of 1 s samples: ${fmt(rawAll.ms, 1)} ms for ${fmt(rawAll.n)} rows   ratio ${ratio(hist.ms, rawAll.ms)}`);
  console.log(`  reference: raw SELECT … GROUP BY minute: ${fmt(rawGrouped.ms, 1)} ms for ${rawGrouped.n} points   ratio ${ratio(hist.ms, rawGrouped.ms)}`);
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-metrics-'));
  try {
    await ingest(dir, num('BENCH_METRICS_SERVERS', 1000), num('BENCH_METRICS_SECONDS', 60));
    await query(dir, num('BENCH_METRICS_QUERY_SERVERS', 20));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
