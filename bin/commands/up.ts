// `gantry up`: the embedded, all-in-one mode on this machine.
import { mkdir, chmod } from 'node:fs/promises';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { CrdRegistry } from '../../crds/registry.ts';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { EventRecorder } from '../../controller/events/recorder.ts';
import { ManifestSource } from '../../controller/sources/manifests.ts';
import { createApp } from '../../api/app.ts';
import { rootLogger } from '../../lib/log.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';

export interface UpOptions {
  dataDir: string;
  manifestsDir?: string;
  port: number;
  host: string;
}

/** Runs until SIGINT/SIGTERM; resolves with the exit code after a clean shutdown. */
export async function up(opts: UpOptions): Promise<number> {
  const log = rootLogger.child({ component: 'up' });
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  const dbPath = path.join(dataDir, 'gantry.db');

  const registry = await CrdRegistry.load();
  const db = await SqliteDb.open(dbPath);
  const store = await SqliteStore.open({ db, schema: registry, log: rootLogger.child({ component: 'store' }) });
  const events = await EventRecorder.open({ db, component: 'gantry' });

  let manifests: ManifestSource | undefined;
  if (opts.manifestsDir) {
    const dir = path.resolve(opts.manifestsDir);
    await mkdir(dir, { recursive: true });
    manifests = new ManifestSource({ dir, store, registry, events, log: rootLogger });
    await manifests.start();
  }

  const app = createApp({ store, registry, events, log: rootLogger.child({ component: 'api' }) });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, () => resolve(s));
    s.once('error', (err) => reject(new Error(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`)));
  });
  const address = server.address() as AddressInfo;
  log.info('gantry is up', {
    version: GANTRY_VERSION,
    url: `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${address.port}`,
    port: address.port,
    dataDir,
    database: dbPath,
    manifests: manifests?.dir ?? null,
    kinds: registry.kinds().map((k) => k.kind),
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal });
      try {
        // Stop intake first (HTTP, files), then close the database once nothing can write.
        await new Promise<void>((r) => {
          server.close(() => r());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await manifests?.stop();
        await store.close();
        await db.close();
        log.info('stopped cleanly');
        resolve(0);
      } catch (err) {
        log.error('shutdown failed', { err });
        resolve(1);
      }
    };
    process.once('SIGINT', () => void shutdown('SIGINT'));
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
  });
}
