// The server reaper over a real SQLite store and informer, and the participants it drives: subuser
// grants keyed by uid (with the adoption of name-keyed rows of the first schema), the metrics history
// (every tier of a deleted server's series), and the sweep's ordering (a server created while it runs
// is never swept).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountStore } from '../../api/auth/accounts.ts';
import { ServerReaper, type GoneServer, type PerServerState } from '../../controller/lifecycle/server-reaper.ts';
import { HOUR, MINUTE, MetricsHistory, serverSeries } from '../../controller/metrics/history.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import type { GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { until } from '../helpers/wait.ts';

const server = (name: string) => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame' } });

class Recorder implements PerServerState {
  readonly stateName = 'recorder';
  readonly forgotten: GoneServer[] = [];
  constructor(readonly known: Set<string>) {}
  knownServerUids() {
    return [...this.known];
  }
  forgetServers(gone: readonly GoneServer[]) {
    for (const g of gone) {
      this.forgotten.push(g);
      this.known.delete(g.uid);
    }
  }
}

describe('ServerReaper', () => {
  let env: TestEnv;
  let manager: Manager;
  let reaper: ServerReaper;

  beforeEach(async () => {
    env = await openTestEnv();
    manager = new Manager({ store: env.store, log: env.log });
    reaper = new ServerReaper({ store: env.store, informer: manager.informer<GameServer>('GameServer'), log: env.log, sweepIntervalMs: 0 });
  });
  afterEach(async () => {
    await reaper.stop();
    await manager.stop();
    await env.close();
  });

  it('sweeps at start only the uids no stored server has, then forgets each deleted server with its name', async () => {
    const a = await env.store.create<GameServer>(server('a'));
    const b = await env.store.create<GameServer>(server('b'));
    const rec = new Recorder(new Set([a.metadata.uid!, b.metadata.uid!, 'uid-of-a-server-deleted-while-down']));
    reaper.register(rec);
    reaper.start();
    await manager.start();
    await until('the start sweep', async () => {
      await reaper.settled();
      return rec.forgotten.length === 1;
    });
    expect(rec.forgotten).toEqual([{ uid: 'uid-of-a-server-deleted-while-down' }]);

    await env.store.delete('GameServer', 'default', 'a');
    await until('the delete reaped', () => rec.forgotten.length === 2);
    expect(rec.forgotten[1]).toEqual({ uid: a.metadata.uid, namespace: 'default', name: 'a' });
    // Re-created under the same name: another uid, nothing forgotten for it.
    const a2 = await env.store.create<GameServer>(server('a'));
    expect(a2.metadata.uid).not.toBe(a.metadata.uid);
    rec.known.add(a2.metadata.uid!);
    expect(await reaper.sweep()).toBe(0);
    expect([...rec.known].sort()).toEqual([a2.metadata.uid!, b.metadata.uid!].sort());
  });

  it('a participant registered after the start sweep is swept on its own; a failing one does not stop the others', async () => {
    reaper.start();
    await manager.start();
    await reaper.settled();
    const failing: PerServerState = { stateName: 'failing', knownServerUids: () => ['ghost-1'], forgetServers: () => Promise.reject(new Error('disk full')) };
    const rec = new Recorder(new Set(['ghost-2']));
    reaper.register(failing);
    reaper.register(rec);
    await until('the late sweep', async () => {
      await reaper.settled();
      return rec.forgotten.length === 1;
    });
    expect(rec.forgotten).toEqual([{ uid: 'ghost-2' }]);
  });

  it('never sweeps a server created while the sweep runs: uids are collected before the store is listed', async () => {
    reaper.start();
    await manager.start();
    await reaper.settled();
    let created: GameServer | undefined;
    const racing: PerServerState = {
      stateName: 'racing',
      knownServerUids: async () => {
        // The grant is given on a server that exists from here on; the list comes after.
        created ??= await env.store.create<GameServer>(server('fresh'));
        return [created.metadata.uid!];
      },
      forgetServers: (gone) => {
        throw new Error(`must not forget ${gone.map((g) => g.uid).join(', ')}`);
      },
    };
    reaper.register(racing);
    await reaper.settled();
    expect(await reaper.sweep()).toBe(0);
    expect(created).toBeDefined();
  });
});

describe('subuser grants keyed by uid', () => {
  let env: TestEnv;
  afterEach(() => env.close());

  it('adopts the name-keyed rows of the first schema: the existing server\'s get its uid, a missing server\'s are dropped', async () => {
    env = await openTestEnv();
    const s = await env.store.create<GameServer>(server('kept'));
    const resolveServer = async (ns: string, name: string) => {
      const found = (await env.store.list<GameServer>('GameServer', { namespace: ns })).items.find((x) => x.metadata.name === name);
      return found ? { uid: found.metadata.uid!, namespace: ns, name } : undefined;
    };
    let accounts = await AccountStore.open({ db: env.db, resolveServer });
    const bob = await accounts.createUser({ email: 'bob@example.test', username: 'bob', password: 'correct horse battery' });
    // Rows as the first schema wrote them (by namespace and name).
    const t = new Date().toISOString();
    await env.db.run('INSERT INTO server_subusers (namespace, server, user_id, permissions, created_at) VALUES (?, ?, ?, ?, ?)', ['default', 'kept', bob.id, '["server.read"]', t]);
    await env.db.run('INSERT INTO server_subusers (namespace, server, user_id, permissions, created_at) VALUES (?, ?, ?, ?, ?)', ['default', 'gone', bob.id, '["server.read"]', t]);
    accounts = await AccountStore.open({ db: env.db, resolveServer });
    expect(accounts.serverGrant(bob.id, s)).toEqual(['server.read']);
    expect(accounts.serversGrantedTo(bob.id)).toEqual([{ uid: s.metadata.uid, namespace: 'default', name: 'kept' }]);
    expect(await env.db.all('SELECT * FROM server_subusers')).toEqual([]);

    // Another server of the same name is not granted; forgetting the old uid drops the row for good.
    const other = { metadata: { name: 'kept', namespace: 'default', uid: 'another-uid' } };
    expect(accounts.serverGrant(bob.id, other)).toBeUndefined();
    const changed: string[] = [];
    accounts.on('serverAccessChanged', (k, u) => changed.push(`${k.uid}:${u}`));
    await accounts.forgetServers([{ uid: s.metadata.uid! }]);
    expect(changed).toEqual([`${s.metadata.uid}:${bob.id}`]);
    expect(accounts.serverGrant(bob.id, s)).toBeUndefined();
    expect(await env.db.all('SELECT * FROM server_grants')).toEqual([]);
    expect((await AccountStore.open({ db: env.db, resolveServer })).serverGrant(bob.id, s)).toBeUndefined();
  });
});

describe('metrics history forgets a deleted server', () => {
  it('drops its raw, minute and hour rows and its series; other series stay', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-reap-metrics-'));
    const clock = new FakeClock();
    const T0 = Date.UTC(2026, 0, 1);
    clock.t = T0;
    const m = await MetricsHistory.open({ path: path.join(dir, 'metrics.db'), clock, compactIntervalMs: 10 * HOUR });
    try {
      const v = { cpu: 5, memoryBytes: 100, memoryLimitBytes: 1000, diskBytes: 1, diskLimitBytes: 10, networkRxBps: 0, networkTxBps: 0 };
      for (let t = T0; t < T0 + 2 * HOUR; t += 30_000) for (const uid of ['gone', 'kept']) m.record(serverSeries(uid), t, v);
      clock.t = T0 + 2 * HOUR + MINUTE;
      await m.flush();
      await m.compact();
      m.record(serverSeries('gone'), clock.t, v); // still buffered when the server goes
      const week = { from: T0 - HOUR, intervalMs: HOUR };
      expect((await m.query({ series: serverSeries('gone'), ...week })).points.length).toBeGreaterThan(0);
      expect(m.knownServerUids().sort()).toEqual(['gone', 'kept']);

      await m.forgetServers([{ uid: 'gone' }]);
      await m.flush();
      for (const q of [{ from: T0 }, week, { from: T0, intervalMs: MINUTE }]) {
        expect((await m.query({ series: serverSeries('gone'), ...q })).points).toEqual([]);
        expect((await m.query({ series: serverSeries('kept'), ...q })).points.length).toBeGreaterThan(0);
      }
      expect(m.knownServerUids()).toEqual(['kept']);
    } finally {
      await m.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
