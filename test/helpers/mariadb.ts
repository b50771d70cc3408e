// A real MariaDB (Debian's mariadb-server) for the server-database tests: a fresh datadir in a temp
// dir, mariadbd on a free loopback port, an admin user that may create databases and users, stopped
// (and the dir removed) by stop(). Nothing global: no system service, no /var/lib/mysql, no 3306.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './net.ts';

export { freePort };

const run = promisify(execFile);

export interface TestMariaDb {
  host: string;
  port: number;
  /** The admin the tests give Gantry (all privileges, with grant option). */
  admin: { username: string; password: string };
  /** Connects as anyone (the credentials a server database was given). */
  connect(user: string, password: string, database?: string): Promise<mysql.Connection>;
  /** Runs SQL as root over the socket (to look at what Gantry did). */
  root<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

export async function startMariaDb(): Promise<TestMariaDb> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-mariadb-'));
  const datadir = path.join(dir, 'data');
  const socketPath = path.join(dir, 'mysqld.sock');
  const user = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'nobody');
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, `--user=${user}`, '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 120_000 });
  const port = await freePort();
  const proc: ChildProcess = spawn('mariadbd', [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${socketPath}`, `--port=${port}`, '--bind-address=127.0.0.1', '--skip-name-resolve',
    `--user=${user}`, `--pid-file=${path.join(dir, 'mysqld.pid')}`, `--log-error=${path.join(dir, 'error.log')}`,
    '--innodb-buffer-pool-size=16M', '--skip-log-bin', '--max-connections=50',
  ], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let dead = false;
  void exited.then(() => (dead = true));
  const rootConn = async () => mysql.createConnection({ socketPath, user: 'root', connectTimeout: 2000 });
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      const c = await rootConn();
      await c.end();
      break;
    } catch (err) {
      if (dead || Date.now() > end) {
        const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
        proc.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
        throw new Error(`mariadbd did not come up (${(err as Error).message}): ${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const admin = { username: 'gantry_admin', password: 'admin-pw-' + Math.random().toString(36).slice(2) };
  const root = async <T>(sql: string, values: unknown[] = []): Promise<T> => {
    const c = await rootConn();
    try {
      const [rows] = await c.query(sql, values);
      return rows as T;
    } finally {
      await c.end();
    }
  };
  await root('CREATE USER ?@? IDENTIFIED BY ?', [admin.username, '%', admin.password]);
  await root('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [admin.username, '%']);
  return {
    host: '127.0.0.1',
    port,
    admin,
    connect: (u, p, database) => mysql.createConnection({ host: '127.0.0.1', port, user: u, password: p, database, connectTimeout: 5000 }),
    root,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
