// Server databases against a real MariaDB (started here like the tests do): what Gantry adds to the
// statements a host runs.
//
//   node dist/bench/databases.js      (BENCH_DATABASES=30)
//
//   create + rotate + delete of N databases through DatabaseService (a fresh admin connection per
//   operation, names checked, records and sealed passwords in SQLite), vs the same statements
//   (CREATE DATABASE, CREATE USER, GRANT / ALTER USER / DROP DATABASE, DROP USER) on one mysql2
//   connection kept open.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { DatabaseService } from '../controller/databases/service.ts';
import { SqliteDb } from '../controller/store/sqlite-db.ts';
import { createLogger } from '../lib/log.ts';
import { startMariaDb } from '../test/helpers/mariadb.ts';
import { fmt, num, ratio, runIfMain } from './lib.ts';

export async function run(): Promise<void> {
  const n = num('BENCH_DATABASES', 30);
  const maria = await startMariaDb();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-db-'));
  const db = await SqliteDb.open(path.join(dir, 'gantry.db'));
  try {
    const svc = await DatabaseService.open({ db, dataDir: dir, log: createLogger({ bench: true }, 'warn') });
    const host = await svc.createHost({ name: 'bench', host: maria.host, port: maria.port, username: maria.admin.username, password: maria.admin.password });
    const server = { uid: '0b6c2f9e-1111-4222-8333-444455556666', namespace: 'default', name: 'bench' };

    const conn = await mysql.createConnection({ host: maria.host, port: maria.port, user: maria.admin.username, password: maria.admin.password });
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const name = `raw_${i}`;
      await conn.query(`CREATE DATABASE ${mysql.escapeId(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await conn.query('CREATE USER ?@? IDENTIFIED BY ?', [`r${i}`, '%', 'pw-one-xxxxxxxxxxxxxxxx']);
      await conn.query(`GRANT ALL PRIVILEGES ON ${mysql.escapeId(name)}.* TO ?@?`, [`r${i}`, '%']);
      await conn.query('ALTER USER ?@? IDENTIFIED BY ?', [`r${i}`, '%', 'pw-two-xxxxxxxxxxxxxxxx']);
      await conn.query(`DROP DATABASE ${mysql.escapeId(name)}`);
      await conn.query('DROP USER ?@?', [`r${i}`, '%']);
    }
    const rawMs = (performance.now() - t0) / n;
    await conn.end();

    t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const d = await svc.create(server, { hostId: host.id, name: `svc_${i}` });
      await svc.rotate(server.uid, d.id);
      await svc.remove(server.uid, d.id);
    }
    const svcMs = (performance.now() - t0) / n;
    console.log(`create + rotate + delete of one database (${n} in a row): DatabaseService ${fmt(svcMs, 1)} ms vs the same statements on one open mysql2 connection ${fmt(rawMs, 1)} ms: ${ratio(svcMs, rawMs)}`);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
    await maria.stop();
  }
}

runIfMain(import.meta.url, run);
