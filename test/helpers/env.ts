// A real registry + SQLite store + event recorder in a temp dir, for integration tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CrdRegistry } from '../../crds/registry.ts';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import { SqliteStore, type SqliteStoreOptions } from '../../controller/store/sqlite-store.ts';
import { EventRecorder } from '../../controller/events/recorder.ts';
import { createLogger, setLogSink, logSink, type Logger } from '../../lib/log.ts';

export interface TestEnv {
  dir: string;
  registry: CrdRegistry;
  db: SqliteDb;
  store: SqliteStore;
  events: EventRecorder;
  log: Logger;
  close(): Promise<void>;
}

let registry: CrdRegistry | undefined;

export async function openTestEnv(storeOpts: Partial<SqliteStoreOptions> = {}): Promise<TestEnv> {
  registry ??= await CrdRegistry.load();
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-test-'));
  // NORMAL keeps tests fast; durability under FULL has its own test.
  const db = await SqliteDb.open(path.join(dir, 'gantry.db'), { synchronous: 'NORMAL' });
  const log = createLogger({ test: true }, 'warn');
  const store = await SqliteStore.open({ db, schema: registry, log, ...storeOpts });
  const events = await EventRecorder.open({ db });
  return {
    dir,
    registry,
    db,
    store,
    events,
    log,
    async close() {
      await store.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Captures structured log lines (parsed) until restore() is called. */
export function captureLogs() {
  const previous = logSink;
  const lines: Record<string, unknown>[] = [];
  setLogSink((l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  return { lines: () => lines, restore: () => setLogSink(previous) };
}
