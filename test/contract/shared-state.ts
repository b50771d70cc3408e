// The contract of what is not resources — accounts, sessions, API keys, server grants, audit, node
// credentials, events, alerts — over an SqlDb, run on SQLite and on a real PostgreSQL
// (test/integration/shared-state.test.ts). Each module opens on the database as it would in a
// process; "another replica" is a second connection to the same database, opened after the first
// wrote (what a standby does when it takes the lease), and must see everything the first one wrote.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlDb } from '../../controller/store/sql-db.ts';
import { AccountStore, ADMIN_ROLE, USER_ROLE } from '../../api/auth/accounts.ts';
import { AuditLog } from '../../api/audit/audit-log.ts';
import { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { EventRecorder } from '../../controller/events/recorder.ts';
import { AlertStore, type NewAlert } from '../../controller/alerts/store.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { CrdRegistry } from '../../crds/registry.ts';
import { createLogger } from '../../lib/log.ts';
import { ApiError } from '../../api/http/errors.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SharedDatabase {
  /** A new connection to the same database (one per replica). */
  open(): Promise<SqlDb>;
  close(): Promise<void>;
}

const log = createLogger({ test: true }, 'warn');
const PASSWORD = 'correct horse battery';
const tag = () => randomBytes(3).toString('hex');

async function refused(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}

export function sharedStateContract(factory: () => Promise<SharedDatabase>): void {
  let shared: SharedDatabase;
  let a: SqlDb;
  let b: SqlDb;
  beforeAll(async () => {
    shared = await factory();
    a = await shared.open();
    b = await shared.open();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await shared?.close();
  });

  describe('accounts', () => {
    it('users: created once, found case-insensitively, a taken email or username refused, seen by another replica', async () => {
      const accounts = await AccountStore.open({ db: a });
      const t = tag();
      const u = await accounts.createUser({ email: `Ann-${t}@Example.test`, username: `ann-${t}`, password: PASSWORD, roleIds: [USER_ROLE] });
      expect(accounts.findUser(`ANN-${t}@example.TEST`)?.id).toBe(u.id);
      expect((await refused(accounts.createUser({ email: `ann-${t}@example.test`, username: `other-${t}`, password: PASSWORD }))).reason).toBe('email_taken');
      expect((await refused(accounts.createUser({ email: `x-${t}@example.test`, username: `ANN-${t}`, password: PASSWORD }))).reason).toBe('username_taken');
      expect(await accounts.checkPassword(`ann-${t}`, PASSWORD)).toMatchObject({ id: u.id });
      expect(await accounts.checkPassword(`ann-${t}`, 'wrong password here')).toBeUndefined();
      // Two replicas racing for one email: the database's case-insensitive unique index decides.
      const racer = await AccountStore.open({ db: b });
      await racer.createUser({ email: `race-${t}@example.test`, username: `race1-${t}`, password: PASSWORD });
      await expect(accounts.createUser({ email: `RACE-${t}@example.test`, username: `race2-${t}`, password: PASSWORD })).rejects.toThrow();
      await accounts.updateUser(u.id, { disabled: true });

      const replica = await AccountStore.open({ db: b });
      expect(replica.getUser(u.id)).toMatchObject({ email: `Ann-${t}@Example.test`, disabled: true });
      expect(replica.rolesOfUser(u.id).map((r) => r.id)).toEqual([USER_ROLE]);
      expect(await replica.checkPassword(`ann-${t}`, PASSWORD)).toMatchObject({ id: u.id });
    });

    it('roles and their grants survive a replica change; deleting a user takes its sessions, keys and grants', async () => {
      const accounts = await AccountStore.open({ db: a });
      const t = tag();
      const role = await accounts.createRole({ name: `ops-${t}`, permissions: ['server.read', 'server.console'] });
      const u = await accounts.createUser({ email: `bob-${t}@example.test`, username: `bob-${t}`, password: PASSWORD });
      await accounts.setUserRoles(u.id, [role.id]);
      expect(accounts.grantsOf(u.id)).toEqual(expect.arrayContaining(['server.read', 'server.console']));
      const { refreshToken } = await accounts.createSession(u.id, { ip: '127.0.0.1' });
      const { key } = await accounts.createApiKey(u.id, { name: 'ci', permissions: ['server.read'] });
      await accounts.setServerGrant({ metadata: { uid: `uid-${t}`, namespace: 'default', name: `mc-${t}` } }, u.id, ['server.console']);

      const replica = await AccountStore.open({ db: b });
      expect(replica.grantsOf(u.id)).toEqual(expect.arrayContaining(['server.read', 'server.console']));
      expect(replica.findApiKey(key)?.userId).toBe(u.id);
      expect(replica.serverGrant(u.id, { metadata: { uid: `uid-${t}`, namespace: 'default', name: `mc-${t}` } })).toEqual(['server.console']);
      await replica.deleteUser(u.id);

      const third = await AccountStore.open({ db: a });
      expect(third.getUser(u.id)).toBeUndefined();
      expect(third.findApiKey(key)).toBeUndefined();
      expect(third.serversGrantedTo(u.id)).toEqual([]);
      expect((await refused(third.rotateRefreshToken(refreshToken))).statusCode).toBe(401);
      expect(third.listUsers().some((x) => x.id === u.id)).toBe(false);
    });

    it('refresh tokens rotate once: the new one works on another replica, reusing the old one ends the session', async () => {
      const accounts = await AccountStore.open({ db: a });
      const t = tag();
      const u = await accounts.createUser({ email: `cy-${t}@example.test`, username: `cy-${t}`, password: PASSWORD });
      const { session, refreshToken } = await accounts.createSession(u.id);
      const rotated = await accounts.rotateRefreshToken(refreshToken);
      expect(rotated.session.id).toBe(session.id);

      const replica = await AccountStore.open({ db: b });
      const again = await replica.rotateRefreshToken(rotated.refreshToken);
      expect(again.session.id).toBe(session.id);
      // The first token, replayed: the whole family is revoked (theft detection).
      expect((await refused(replica.rotateRefreshToken(refreshToken))).statusCode).toBe(401);
      expect((await refused(replica.rotateRefreshToken(again.refreshToken))).statusCode).toBe(401);
      expect(replica.isSessionActive(session.id)).toBe(false);
    });

    it('API keys: found by the key only, revoked for every replica', async () => {
      const accounts = await AccountStore.open({ db: a });
      const t = tag();
      const u = await accounts.createUser({ email: `dee-${t}@example.test`, username: `dee-${t}`, password: PASSWORD, roleIds: [ADMIN_ROLE] });
      const { key, apiKey } = await accounts.createApiKey(u.id, { name: 'deploy', permissions: ['*'] });
      expect(accounts.findApiKey(key)?.id).toBe(apiKey.id);
      expect(accounts.findApiKey(`${key}x`)).toBeUndefined();
      await accounts.revokeApiKey(u.id, apiKey.id);
      const replica = await AccountStore.open({ db: b });
      expect(replica.findApiKey(key)).toBeUndefined();
      expect(replica.listApiKeys(u.id)).toEqual([]);
    });

    it('server grants are keyed by uid: a server re-created under the same name inherits nothing', async () => {
      const accounts = await AccountStore.open({ db: a });
      const t = tag();
      const u = await accounts.createUser({ email: `eve-${t}@example.test`, username: `eve-${t}`, password: PASSWORD });
      const old = { metadata: { uid: `old-${t}`, namespace: 'default', name: `srv-${t}` } };
      const fresh = { metadata: { uid: `new-${t}`, namespace: 'default', name: `srv-${t}` } };
      await accounts.setServerGrant(old, u.id, ['server.read']);
      await accounts.setServerGrant(old, u.id, ['server.read', 'server.console']);
      expect(accounts.listServerGrants(old)).toEqual([{ userId: u.id, permissions: ['server.read', 'server.console'] }]);
      await accounts.forgetServers([{ uid: `old-${t}`, namespace: 'default', name: `srv-${t}` }]);
      const replica = await AccountStore.open({ db: b });
      expect(replica.serverGrant(u.id, old)).toBeUndefined();
      expect(replica.serverGrant(u.id, fresh)).toBeUndefined();
      expect(await replica.removeServerGrant(old, u.id)).toBe(false);
    });
  });

  describe('audit', () => {
    it('records, filters, pages backwards and reads the same from another replica', async () => {
      const audit = await AuditLog.open({ db: a, log });
      const t = tag();
      for (let i = 0; i < 5; i++) {
        await audit.record({ userId: `u-${t}`, username: 'ann', action: i % 2 ? 'server.start' : 'server.stop', resourceType: 'server', resourceId: `default/mc-${t}`, resourceUid: `uid-${t}`, status: 200, metadata: { i, note: "it's" }, ipAddress: '127.0.0.1' });
      }
      await audit.record({ userId: `u-${t}`, username: 'ann', action: 'server.delete', resourceType: 'server', resourceId: `default/mc-${t}`, status: 403, metadata: {}, ipAddress: null });
      const replica = await AuditLog.open({ db: b, log });
      const mine = await replica.list({ userId: `u-${t}` });
      expect(mine).toHaveLength(6);
      expect(mine[0]).toMatchObject({ action: 'server.delete', status: 403, resourceUid: null });
      expect(mine[5]!.metadata).toEqual({ i: 0, note: "it's" });
      expect((await replica.list({ userId: `u-${t}`, action: 'server.start' })).map((e) => e.metadata.i)).toEqual([3, 1]);
      expect((await replica.list({ resourceUid: `uid-${t}` })).length).toBe(5);
      // Entries about a server's parts carry its uid in metadata (a JSON member both engines read).
      await audit.record({ userId: `u-${t}`, username: 'ann', action: 'backup.create', resourceType: 'backup', resourceId: `default/b-${t}`, status: 201, metadata: { serverUid: `uid-${t}` }, ipAddress: null });
      expect((await replica.list({ serverUid: `uid-${t}` })).map((e) => e.action)).toEqual(['backup.create', 'server.stop', 'server.start', 'server.stop', 'server.start', 'server.stop']);
      const page = await replica.list({ userId: `u-${t}`, action: 'server.stop', limit: 2 });
      const next = await replica.list({ userId: `u-${t}`, action: 'server.stop', limit: 2, before: Number(page[1]!.id) });
      expect(next.map((e) => e.metadata.i)).toEqual([0]);
    });
  });

  describe('node enrolment', () => {
    let dir: string;
    let store: SqliteStore;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'gantry-shared-enroll-'));
      store = await SqliteStore.open({ path: path.join(dir, 's.db'), schema: await CrdRegistry.load() });
    });
    afterAll(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('a token issued on one replica enrols once; the credential authenticates on another; rotation revokes it', async () => {
      const name = `node-${tag()}`;
      await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name }, spec: { address: '127.0.0.1' } });
      const one = await NodeEnrollment.open({ db: a, store, log });
      const issued = await one.issueDeploymentToken(name);
      const enrolled = await one.enroll(issued.token, { agentVersion: 'test' });
      await expect(one.enroll(issued.token)).rejects.toMatchObject({ code: 'token_used' });

      const two = await NodeEnrollment.open({ db: b, store, log });
      const credential = enrolled.credential;
      expect(await two.authenticate(credential)).toMatchObject({ ok: true, nodeName: name });
      expect(await two.authenticate(`${credential}x`)).toMatchObject({ ok: false });
      await two.issueDeploymentToken(name);
      expect(await one.authenticate(credential)).toMatchObject({ ok: false, code: 'credential_revoked' });
    });
  });

  describe('events and alerts', () => {
    it('events count repeats and list by object, newest first, from another replica', async () => {
      const t = tag();
      const one = await EventRecorder.open({ db: a, component: 'replica-a' });
      const obj = { kind: 'GameServer', namespace: 'default', name: `mc-${t}`, uid: `uid-${t}` };
      await one.record(obj, 'Normal', 'Started', 'container started');
      await one.record(obj, 'Warning', 'Crashed', 'exit 1');
      await one.record(obj, 'Warning', 'Crashed', 'exit 1');
      const two = await EventRecorder.open({ db: b, component: 'replica-b' });
      const list = await two.list({ namespace: 'default', name: `mc-${t}` });
      expect(list.map((e) => [e.reason, e.count])).toEqual([['Crashed', 2], ['Started', 1]]);
      expect((await two.list({ uid: `uid-${t}`, type: 'Normal' })).map((e) => e.reason)).toEqual(['Started']);
      expect(await two.list({ name: `mc-${t}`, limit: 1 })).toHaveLength(1);
    });

    it('a fired alert opens once per rule and target, and resolves for every replica', async () => {
      const t = tag();
      const one = await AlertStore.open(a);
      const alert: NewAlert = {
        rule: `rule-${t}`, target: `GameServer:default/mc-${t}`, serverId: `mc-${t}`, serverNamespace: 'default', serverUid: `uid-${t}`, nodeId: null,
        type: 'server_crashed', severity: 'critical', title: 'Server crashed', message: "mc crashed (it's down)", metadata: { exitCode: 1 },
      };
      const opened = await one.open(alert);
      expect(opened).toBeTruthy();
      expect(await one.open(alert)).toBeUndefined();
      const two = await AlertStore.open(b);
      expect((await two.openAlerts()).some((x) => x.id === opened!.id)).toBe(true);
      await two.resolve([opened!.id], null, 'fixed');
      expect((await one.get(opened!.id)).resolved).toBe(true);
    });
  });
}
