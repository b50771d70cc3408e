// Server databases against a real MariaDB (Debian's mariadb-server, started by the test on a loopback
// port with a temp datadir): database hosts (admin password sealed at rest, never returned), a
// server's databases created with their own user and a random password — the test logs in with
// them and creates a table —, rotation (the old password fails), deletion, names that are not
// identifiers, another user's server, a host nothing listens on (503), and deleting a server drops
// its databases (keyed by uid: a re-created server of the same name sees none of them).
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Manager } from '../../controller/runtime/controller.ts';
import { DatabaseService } from '../../controller/databases/service.ts';
import { ServerDatabases } from '../../controller/databases/cleanup.ts';
import { ServerReaper } from '../../controller/lifecycle/server-reaper.ts';
import { SECRETS_KEY_FILE } from '../../controller/databases/secret-box.ts';
import type { GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { openApiApp, signIn, signInAdmin, type ApiApp, type SignedIn } from '../helpers/api.ts';
import { freePort, startMariaDb, type TestMariaDb } from '../helpers/mariadb.ts';
import { until } from '../helpers/wait.ts';

describe('server databases on a real MariaDB', () => {
  let maria: TestMariaDb;
  let env: TestEnv;
  let api: ApiApp;
  let mgr: Manager;
  let service: DatabaseService;
  let reaper: ServerReaper;
  let admin: SignedIn, alice: SignedIn, bob: SignedIn;
  let hostId: string;
  let deadHostId: string;
  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);
  const mkServer = (name: string, owner: string) =>
    env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', owner } });
  const schemas = async () => (await maria.root<{ Database: string }[]>('SHOW DATABASES')).map((r) => r.Database);
  const users = async () => (await maria.root<{ User: string }[]>('SELECT User FROM mysql.user')).map((r) => r.User);

  beforeAll(async () => {
    maria = await startMariaDb();
    env = await openTestEnv();
    service = await DatabaseService.open({ db: env.db, dataDir: env.dir, log: env.log });
    mgr = new Manager({ store: env.store, log: env.log });
    // the process's reaper, with the databases as one participant; a short sweep retries orphans quickly
    reaper = new ServerReaper({ store: env.store, informer: mgr.informer<GameServer>('GameServer'), log: env.log, sweepIntervalMs: 300 });
    reaper.register(new ServerDatabases({ service, events: env.events, log: env.log }));
    reaper.start();
    await mgr.start();
    api = await openApiApp({ env, api: { databases: service, informers: mgr, reaper, limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000 } } });
    admin = await signInAdmin(api.svc);
    alice = await signIn(api.svc, 'alice');
    bob = await signIn(api.svc, 'bob');
    await mkServer('alice-mc', alice.userId);
    await mkServer('bob-mc', bob.userId);
  }, 180_000);

  afterAll(async () => {
    await reaper?.stop();
    await mgr?.stop();
    await env?.close();
    await maria?.stop();
  });

  it('hosts: created after a verified login; the admin password is sealed at rest and never returned', async () => {
    expect((await call(alice, 'POST', '/api/admin/database-hosts', { name: 'x', host: '127.0.0.1', username: 'a', password: 'b' })).status).toBe(403);
    const created = await call(admin, 'POST', '/api/admin/database-hosts', { name: 'primary-mysql', host: maria.host, port: maria.port, username: maria.admin.username, password: maria.admin.password });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.data).toMatchObject({ id: expect.stringMatching(/^host_/), name: 'primary-mysql', host: maria.host, port: maria.port, username: maria.admin.username, databaseCount: 0 });
    expect(JSON.stringify(created.body)).not.toContain(maria.admin.password);
    hostId = created.body.data.id;
    const list = await call(admin, 'GET', '/api/admin/database-hosts');
    expect(list.body.data).toEqual([expect.objectContaining({ id: hostId })]);
    expect(JSON.stringify(list.body)).not.toContain(maria.admin.password);
    const test = await call(admin, 'POST', `/api/admin/database-hosts/${hostId}/test`);
    expect(test).toMatchObject({ status: 200, body: { data: { reachable: true, version: expect.stringContaining('MariaDB') } } });
    // at rest: the key file is 0600, the row holds no plaintext
    expect((await stat(path.join(env.dir, SECRETS_KEY_FILE))).mode & 0o777).toBe(0o600);
    const row = await env.db.get<{ password_sealed: string }>('SELECT password_sealed FROM database_hosts WHERE id = ?', [hostId]);
    expect(row!.password_sealed).toMatch(/^v1\./);
    expect(row!.password_sealed).not.toContain(maria.admin.password);
    expect((await readFile(path.join(env.dir, 'gantry.db'))).includes(Buffer.from(maria.admin.password))).toBe(false);
    // a wrong admin password is a 503 naming the refusal, and nothing is saved
    const wrong = await call(admin, 'POST', '/api/admin/database-hosts', { name: 'wrong', host: maria.host, port: maria.port, username: maria.admin.username, password: 'not-it' });
    expect(wrong.status).toBe(503);
    expect(wrong.body.message).toMatch(/admin login was refused/);
    expect((await call(admin, 'POST', '/api/admin/database-hosts', { name: 'primary-mysql', host: maria.host, port: maria.port, username: maria.admin.username, password: maria.admin.password })).status).toBe(409);
    expect((await call(admin, 'GET', '/api/admin/database-hosts')).body.data).toHaveLength(1);
  });

  it('the owner creates a database: its credentials log in, create a table, and reach no other database', async () => {
    const r = await call(alice, 'POST', '/api/servers/alice-mc/databases', { hostId, name: 'alice_world' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const d = r.body.data;
    expect(d).toMatchObject({ id: expect.stringMatching(/^db_/), name: 'alice_world', username: expect.stringMatching(/^u[0-9a-f]{8}_[0-9a-f]{8}$/), password: expect.any(String), host: maria.host, port: maria.port, hostId, hostName: 'primary-mysql', createdAt: expect.any(String) });
    expect(d.password.length).toBeGreaterThanOrEqual(24);
    const conn = await maria.connect(d.username, d.password, 'alice_world');
    try {
      await conn.query('CREATE TABLE players (id INT PRIMARY KEY, name VARCHAR(32))');
      await conn.query('INSERT INTO players VALUES (1, ?)', ['steve']);
      const [rows] = await conn.query('SELECT name FROM players');
      expect(rows).toEqual([{ name: 'steve' }]);
      // privileges are on this database only
      await expect(conn.query('CREATE DATABASE sneaky')).rejects.toThrow(/denied/i);
      await expect(conn.query('SELECT * FROM mysql.user')).rejects.toThrow(/denied/i);
    } finally {
      await conn.end();
    }
    const list = await call(alice, 'GET', '/api/servers/alice-mc/databases');
    expect(list.body.data).toEqual([expect.objectContaining({ id: d.id, password: d.password })]);
    // the per-database password is sealed too
    const row = await env.db.get<{ password_sealed: string }>('SELECT password_sealed FROM server_databases WHERE id = ?', [d.id]);
    expect(row!.password_sealed).not.toContain(d.password);
  });

  it('names: taken on the host (by Gantry or not) → 409 and the existing one untouched; non-identifiers and unknown hosts → 400', async () => {
    expect((await call(alice, 'POST', '/api/servers/alice-mc/databases', { hostId, name: 'alice_world' })).status).toBe(409);
    // another server cannot take the name either (unique per host)
    expect((await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId, name: 'alice_world' })).status).toBe(409);
    await maria.root('CREATE DATABASE foreign_app');
    await maria.root('CREATE TABLE foreign_app.keep (x INT)');
    const taken = await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId, name: 'foreign_app' });
    expect(taken.status).toBe(409);
    expect(taken.body.message).toMatch(/already exists on host "primary-mysql"/);
    expect(await maria.root('SHOW TABLES FROM foreign_app')).toHaveLength(1);
    for (const name of ['x`; DROP DATABASE foreign_app; --', "a'b", 'a b', '', 'x'.repeat(65), '../etc']) {
      const bad = await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId, name });
      expect(bad.status, name).toBe(400);
    }
    const system = await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId, name: 'mysql' });
    expect(system).toMatchObject({ status: 400, body: { message: expect.stringContaining('system schema') } });
    expect((await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId: 'host_nope', name: 'bobdb' })).status).toBe(400);
    expect(await schemas()).toContain('foreign_app');
  });

  it('another user: 404 for the server, 404 for a database id of someone else\'s server', async () => {
    const mine = (await call(alice, 'GET', '/api/servers/alice-mc/databases')).body.data[0];
    expect((await call(bob, 'GET', '/api/servers/alice-mc/databases')).status).toBe(404);
    expect((await call(bob, 'POST', `/api/servers/alice-mc/databases/${mine.id}/rotate`)).status).toBe(404);
    expect((await call(bob, 'POST', `/api/servers/bob-mc/databases/${mine.id}/rotate`)).status).toBe(404);
    expect((await call(bob, 'DELETE', `/api/servers/bob-mc/databases/${mine.id}`)).status).toBe(404);
    // a subuser without database grants sees the server, not its databases
    await api.svc.accounts.setServerGrant('default', 'alice-mc', bob.userId, ['server.read']);
    expect((await call(bob, 'GET', '/api/servers/alice-mc/databases')).status).toBe(403);
    await api.svc.accounts.setServerGrant('default', 'alice-mc', bob.userId, []);
  });

  it('rotate: a new password works, the old one is refused', async () => {
    const before = (await call(alice, 'GET', '/api/servers/alice-mc/databases')).body.data[0];
    const r = await call(alice, 'POST', `/api/servers/alice-mc/databases/${before.id}/rotate`);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ id: before.id, name: before.name, username: before.username });
    expect(r.body.data.password).not.toBe(before.password);
    await expect(maria.connect(before.username, before.password, 'alice_world')).rejects.toThrow(/Access denied/);
    const conn = await maria.connect(before.username, r.body.data.password, 'alice_world');
    const [rows] = await conn.query('SELECT count(*) AS n FROM players');
    expect(rows).toEqual([{ n: 1 }]);
    await conn.end();
  });

  it('a host nothing listens on: 503 for create, rotate and test, and nothing is recorded', async () => {
    const port = await freePort();
    const noVerify = await call(admin, 'POST', '/api/admin/database-hosts', { name: 'dead', host: '127.0.0.1', port, username: 'root', password: 'x' });
    expect(noVerify.status).toBe(503);
    expect(noVerify.body).toMatchObject({ statusCode: 503, message: expect.stringMatching(/Database host unavailable: .*connection refused/) });
    const added = await call(admin, 'POST', '/api/admin/database-hosts', { name: 'dead', host: '127.0.0.1', port, username: 'root', password: 'x', verify: false });
    expect(added.status).toBe(201);
    deadHostId = added.body.data.id;
    const r = await call(alice, 'POST', '/api/servers/alice-mc/databases', { hostId: deadHostId, name: 'never_made' });
    expect(r.status).toBe(503);
    expect(r.body.message).toContain(`127.0.0.1:${port}`);
    expect((await call(admin, 'POST', `/api/admin/database-hosts/${deadHostId}/test`)).status).toBe(503);
    expect((await call(alice, 'GET', '/api/servers/alice-mc/databases')).body.data.map((d: { name: string }) => d.name)).toEqual(['alice_world']);
    expect((await call(admin, 'DELETE', `/api/admin/database-hosts/${deadHostId}`)).status).toBe(200);
  });

  it('delete: the database and its user are dropped on the host; a host with databases cannot be removed', async () => {
    const extra = (await call(alice, 'POST', '/api/servers/alice-mc/databases', { hostId, name: 'alice_scratch' })).body.data;
    expect((await call(admin, 'DELETE', `/api/admin/database-hosts/${hostId}`)).status).toBe(409);
    const del = await call(alice, 'DELETE', `/api/servers/alice-mc/databases/${extra.id}`);
    expect(del).toMatchObject({ status: 200, body: { success: true } });
    expect(await schemas()).not.toContain('alice_scratch');
    expect(await users()).not.toContain(extra.username);
    expect((await call(alice, 'DELETE', `/api/servers/alice-mc/databases/${extra.id}`)).status).toBe(404);
  });

  it('deleting a server drops its databases on the host; a re-created server of the same name inherits nothing', async () => {
    const d = (await call(alice, 'GET', '/api/servers/alice-mc/databases')).body.data[0];
    await env.store.delete('GameServer', 'default', 'alice-mc');
    await until('the database dropped on the host', async () => !(await schemas()).includes('alice_world'));
    expect(await users()).not.toContain(d.username);
    await mkServer('alice-mc', alice.userId);
    expect((await call(alice, 'GET', '/api/servers/alice-mc/databases')).body.data).toEqual([]);
    expect(await service.orphans()).toEqual([]);
  });

  it('a server deleted while its host is unreachable: the database is kept as an orphan with the reason, and dropped once the host is back', async () => {
    const d = (await call(bob, 'POST', '/api/servers/bob-mc/databases', { hostId, name: 'bob_world' })).body.data;
    // the host "moves" to a port nothing listens on
    const dead = await freePort();
    expect((await call(admin, 'PUT', `/api/admin/database-hosts/${hostId}`, { port: dead, verify: false })).status).toBe(200);
    await env.store.delete('GameServer', 'default', 'bob-mc');
    const orphan = await until('recorded as an orphan with the reason', async () => (await service.orphans()).find((o) => o.id === d.id && o.lastError));
    expect(orphan.lastError).toMatch(/unavailable/);
    const events = await env.events.list({ name: 'bob-mc' });
    expect(events.some((e) => e.reason === 'DatabasesNotDropped')).toBe(true);
    expect(await schemas()).toContain('bob_world');
    // back: a verified update, and the retry drops it
    expect((await call(admin, 'PUT', `/api/admin/database-hosts/${hostId}`, { port: maria.port })).status).toBe(200);
    await until('the orphan dropped after the host came back', async () => !(await schemas()).includes('bob_world') && (await service.orphans()).length === 0);
    expect(await users()).not.toContain(d.username);
  });
});
