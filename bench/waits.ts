// `?wait=true` and schedule-step waits: BENCH_WAITS servers each waited on until running, served
// from the shared informer (controller/operations/waits.ts) vs the reference — one store watch per
// wait, filtered by name, as the waits were written before (and as a wait against a Kubernetes API
// server would cost one watch connection each). Same store, same writes: every server's status goes
// to running once all waits are armed; measured from the first write to the last wait resolved, and
// the store watchers open while waiting.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CrdRegistry } from '../crds/registry.ts';
import type { GameServer } from '../crds/types.ts';
import { SqliteDb } from '../controller/store/sqlite-db.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import type { WatchEvent } from '../controller/store/types.ts';
import { Manager } from '../controller/runtime/controller.ts';
import { Operations } from '../controller/operations/index.ts';
import { createLogger } from '../lib/log.ts';
import { fmt, median, num, ratio, runIfMain } from './lib.ts';

const WAITS = num('BENCH_WAITS', 500);
const ROUNDS = num('BENCH_ROUNDS', 3);

interface Round {
  ms: number;
  watchers: number;
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-waits-'));
  const log = createLogger({ bench: 'waits' }, 'error');
  const registry = await CrdRegistry.load();
  const db = await SqliteDb.open(path.join(dir, 'gantry.db'), { synchronous: 'NORMAL' });
  const store = await SqliteStore.open({ db, schema: registry, log });
  let open = 0;
  const watch = store.watch.bind(store);
  store.watch = async (o, cb) => {
    const w = await watch(o, cb);
    open++;
    return { stop: () => (open--, w.stop()) };
  };
  const manager = new Manager({ store, log });
  const ops = new Operations({ store, informers: manager });
  manager.informer<GameServer>('GameServer');
  await manager.start();
  const names = Array.from({ length: WAITS }, (_, i) => `w-${i}`);
  for (const n of names) await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: n, namespace: 'default' }, spec: { templateRef: 'none' } });

  const writeAll = async () => {
    const t0 = performance.now();
    for (const n of names) await store.patchStatus('GameServer', 'default', n, { phase: 'running' });
    return t0;
  };
  const reset = async () => {
    for (const n of names) await store.patchStatus('GameServer', 'default', n, { phase: 'stopped' });
    await new Promise((r) => setTimeout(r, 200));
  };

  const informerRound = async (): Promise<Round> => {
    await reset();
    const changes = await Promise.all(names.map(async (n) => ops.servers.start((await ops.servers.get('default', n))!)));
    const before = open;
    const waits = changes.map((c) => ops.servers.wait(c, { timeoutMs: 120_000 }));
    while (ops.waits.pending < WAITS) await new Promise((r) => setTimeout(r, 5));
    const watchers = open - before;
    const t0 = await writeAll();
    const outcomes = await Promise.all(waits);
    if (!outcomes.every((o) => o.reached)) throw new Error('a wait did not reach its goal');
    return { ms: performance.now() - t0, watchers };
  };

  // The reference: a watch per wait from the written version, namespace-wide, filtered in memory.
  const watchRound = async (): Promise<Round> => {
    await reset();
    const written = await Promise.all(names.map((n) => store.patch<GameServer>('GameServer', 'default', n, { spec: { state: 'Running' } })));
    const before = open;
    const stops: (() => void)[] = [];
    const waits = written.map((s) => new Promise<void>((resolve) => {
      void store.watch({ kind: 'GameServer', namespace: 'default', resourceVersion: s.metadata.resourceVersion }, (ev: WatchEvent) => {
        if (ev.object.metadata?.name !== s.metadata.name) return;
        if ((ev.object as unknown as GameServer).status?.phase === 'running') resolve();
      }).then((w) => stops.push(() => w.stop()));
    }));
    while (stops.length < WAITS) await new Promise((r) => setTimeout(r, 5));
    const watchers = open - before;
    const t0 = await writeAll();
    await Promise.all(waits);
    const ms = performance.now() - t0;
    for (const stop of stops) stop();
    return { ms, watchers };
  };

  const ours: Round[] = [];
  const ref: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    ours.push(await informerRound());
    ref.push(await watchRound());
  }
  await manager.stop();
  await store.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });

  const m = (rs: Round[]) => median(rs.map((r) => r.ms));
  console.log(`${fmt(WAITS)} concurrent waits until running (${WAITS} status writes), median of ${ROUNDS}`);
  console.log(`    informer waits   ${fmt(m(ours))} ms, ${ours[0]!.watchers} store watches while waiting`);
  console.log(`    watch per wait   ${fmt(m(ref))} ms, ${ref[0]!.watchers} store watches while waiting`);
  console.log(`    informer/watch: time ${ratio(m(ours), m(ref))}, store watches ${ours[0]!.watchers} vs ${ref[0]!.watchers}`);
}

runIfMain(import.meta.url, run);
