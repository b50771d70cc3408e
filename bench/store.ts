// Store throughput and watch latency, beside plain SQLite measured in the same run.
//
//   node dist/bench/store.js            (BENCH_N=2000 for a quick run)
//
// Reference: the same JSON written by the same sqlite3 library with the same pragmas (WAL,
// synchronous=FULL), one autocommitted INSERT/UPDATE per write — the cost of durable SQLite itself.
// The ratio shows what the store adds: validation, the history row, the version, the watch fan-out.
// Store and reference run interleaved in chunks, so a noisy neighbour on a shared machine slows both
// alike instead of skewing the ratio.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sqlite3 from 'sqlite3';
import type { FieldError, Resource } from '../crds/resource.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import type { SchemaValidator } from '../controller/store/types.ts';
import { runIfMain } from './lib.ts';

const API = 'gantry.dev/v1alpha1';
const CHUNK = 500;

/** The bench measures the store, not a schema: validation is a trivial pass. */
const schema: SchemaValidator = {
  get: (kind) => (kind === 'GameServer' ? { kind, scope: 'Namespaced', apiVersion: API, hasStatusSubresource: true } : undefined),
  validate: (): FieldError[] => [],
};

const server = (i: number): Resource => ({
  apiVersion: API,
  kind: 'GameServer',
  metadata: { name: `gs-${String(i).padStart(6, '0')}`, namespace: 'default', labels: { app: 'minecraft', tier: i % 2 ? 'a' : 'b' } },
  spec: {
    displayName: `Server ${i}`,
    templateRef: 'paper',
    state: 'Running',
    resources: { memoryMb: 2048, cpuCores: 2, diskMb: 10240 },
    ports: [{ containerPort: 25565, hostPort: 25565 + (i % 1000), protocol: 'TCP', primary: true }],
    environment: { EULA: 'TRUE', MOTD: 'A Gantry server', VERSION: '1.21' },
    counter: 0,
  },
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));

/** Plain sqlite3 over one table, configured like SqliteDb. */
async function rawDb(file: string) {
  const db = await new Promise<sqlite3.Database>((res, rej) => {
    const d: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? rej(err) : res(d)));
  });
  const exec = (sql: string) => new Promise<void>((res, rej) => db.exec(sql, (err) => (err ? rej(err) : res())));
  await exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  await exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (name, body) VALUES (?, ?)');
  const upd = db.prepare('UPDATE t SET body = ? WHERE name = ?');
  const run = (s: sqlite3.Statement, params: unknown[]) => new Promise<void>((res, rej) => s.run(params, (err: Error | null) => (err ? rej(err) : res())));
  return {
    insert: (name: string, body: string) => run(ins, [name, body]),
    update: (name: string, body: string) => run(upd, [body, name]),
    all: () => new Promise<{ body: string }[]>((res, rej) => db.all('SELECT body FROM t ORDER BY name', (err, rows: { body: string }[]) => (err ? rej(err) : res(rows)))),
    close: async () => {
      await new Promise<void>((r) => ins.finalize(() => r()));
      await new Promise<void>((r) => upd.finalize(() => r()));
      await new Promise<void>((res, rej) => db.close((err) => (err ? rej(err) : res())));
    },
  };
}

export async function run(): Promise<void> {
  const n = Number(process.env.BENCH_N ?? 10_000);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`BENCH_N must be a positive integer, not ${process.env.BENCH_N}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-store-'));
  try {
    const raw = await rawDb(path.join(dir, 'raw.db'));
    const store = await SqliteStore.open({ path: path.join(dir, 'store.db'), schema, historyLimit: 10_000 });

    // commit-ack time per resourceVersion (when the write's promise resolved) and callback time.
    const ackAt = new Float64Array(2 * n + 2);
    const seenAt = new Float64Array(2 * n + 2);
    let events = 0;
    const watch = await store.watch({ kind: 'GameServer' }, (ev) => {
      seenAt[Number(ev.object.metadata.resourceVersion)] = performance.now();
      events++;
    });

    const objects = Array.from({ length: n }, (_, i) => server(i));

    /** Runs store and reference over the same chunks, alternating which goes first; returns total ms of each. */
    const interleaved = async <T>(items: T[], storeOp: (x: T) => Promise<void>, rawOp: (x: T) => Promise<void>) => {
      let storeMs = 0;
      let rawMs = 0;
      for (let i = 0; i < items.length; i += CHUNK) {
        const chunk = items.slice(i, i + CHUNK);
        const timed = async (op: (x: T) => Promise<void>) => {
          const t0 = performance.now();
          for (const x of chunk) await op(x);
          return performance.now() - t0;
        };
        if ((i / CHUNK) % 2) {
          rawMs += await timed(rawOp);
          storeMs += await timed(storeOp);
        } else {
          storeMs += await timed(storeOp);
          rawMs += await timed(rawOp);
        }
      }
      return { storeMs, rawMs };
    };

    const created: Resource[] = [];
    const { storeMs: createMs, rawMs: rawInsertMs } = await interleaved(
      objects,
      async (o) => {
        const c = await store.create(o);
        ackAt[Number(c.metadata.resourceVersion)] = performance.now();
        created.push(c);
      },
      (o) => raw.insert(o.metadata.name, JSON.stringify(o)),
    );

    const { storeMs: updateMs, rawMs: rawUpdateMs } = await interleaved(
      objects.map((_, i) => i),
      async (i) => {
        const c = created[i]!;
        const u = await store.update({ ...c, spec: { ...c.spec, counter: 1 } });
        ackAt[Number(u.metadata.resourceVersion)] = performance.now();
      },
      (i) => {
        const c = created[i] ?? objects[i]!;
        return raw.update(c.metadata.name, JSON.stringify({ ...c, spec: { ...c.spec, counter: 1 } }));
      },
    );

    let t = performance.now();
    const rows = await raw.all();
    rows.map((r) => JSON.parse(r.body) as unknown);
    const rawListMs = performance.now() - t;

    t = performance.now();
    const list = await store.list('GameServer');
    const listMs = performance.now() - t;
    if (list.items.length !== n) throw new Error(`list returned ${list.items.length} of ${n}`);

    const deadline = Date.now() + 10_000;
    while (events < 2 * n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    watch.stop();
    const lat: number[] = [];
    for (let rv = 1; rv <= 2 * n; rv++) if (seenAt[rv] && ackAt[rv]) lat.push(seenAt[rv]! - ackAt[rv]!);
    lat.sort((a, b) => a - b);

    await store.close();
    await raw.close();

    const line = (label: string, ms: number, refLabel: string, refMs: number) =>
      `${label.padEnd(8)} ${String(rate(n, ms)).padStart(6)} writes/s | ${refLabel}: ${rate(n, refMs)}/s | ratio ${(refMs / ms).toFixed(2)}`;
    console.log(`store bench: N=${n}, WAL, synchronous=FULL, sqlite ${sqlite3.VERSION}, one write per transaction, a watcher on every event`);
    console.log(line('create:', createMs, 'raw sqlite INSERT', rawInsertMs));
    console.log(line('update:', updateMs, 'raw sqlite UPDATE', rawUpdateMs));
    console.log(`list:    ${fmt(listMs)} ms for ${n} | raw SELECT + JSON.parse: ${fmt(rawListMs)} ms | ratio ${(rawListMs / listMs).toFixed(2)}`);
    console.log(
      `watch:   ${events}/${2 * n} events | latency commit-ack → callback p50 ${fmt(percentile(lat, 50))} ms, p99 ${fmt(percentile(lat, 99))} ms, max ${fmt(lat.at(-1) ?? NaN)} ms`,
    );
    if (events !== 2 * n) throw new Error(`the watcher received ${events} of ${2 * n} events`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
