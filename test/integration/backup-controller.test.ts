// The Backup controller against the real agent hub, store and Manager, with a scripted agent on a real
// WebSocket: what it asks the agent and what it writes when the controller restarts mid-backup, when
// the agent disconnects mid-backup, and when a Backup is deleted while its node is away.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupCreateResult, RequestMessage } from '../../agent/protocol.ts';
import { addBackupController } from '../../controller/reconcilers/backup/reconciler.ts';
import { BACKUP_FINALIZER } from '../../controller/reconcilers/backup/plan.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import type { Backup } from '../../crds/types.ts';
import { createLogger } from '../../lib/log.ts';
import { eventually, startHarness, type Harness, type TestAgent } from './hub-harness.ts';

const NS = 'default';

describe('Backup controller with a scripted agent', () => {
  let h: Harness;
  let credential: string;
  let agent: TestAgent;
  const managers: Manager[] = [];
  const log = createLogger({ test: 'backup-controller' }, 'error');

  const startController = async () => {
    const mgr = new Manager({ store: h.env.store, log });
    addBackupController(mgr, { store: h.env.store, hub: h.hub, events: h.env.events, log });
    await mgr.start();
    managers.push(mgr);
    return mgr;
  };
  const connectAgent = async () => {
    agent = await h.agent(credential);
    await agent.handshake();
    agent.send({ type: 'snapshot', containers: [] });
    await eventually(() => h.hub.isConnected('n1'), 'n1 connected');
  };
  const getBackup = (name: string) => h.env.store.get('Backup', NS, name).then((b) => b as unknown as Backup, () => undefined);
  const nextRequest = async (method: string): Promise<RequestMessage> => {
    for (;;) {
      const r = await agent.next('request', 15_000);
      if (r.method === method) return r;
    }
  };
  const result = (over: Partial<BackupCreateResult> = {}): BackupCreateResult => ({
    path: '/agent/backups/srv/bk.tar.gz',
    sizeBytes: 42,
    sha256: 'f'.repeat(64),
    startedAt: new Date().toISOString(),
    completedAt: new Date().toISOString(),
    entries: 3,
    skipped: [],
    skippedCount: 0,
    warnings: [],
    ...over,
  });

  beforeEach(async () => {
    h = await startHarness();
    ({ credential } = await h.enrolledNode('n1'));
    await connectAgent();
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'mc', namespace: NS }, spec: { templateRef: 't', state: 'Stopped' } });
    await h.env.store.patchStatus('GameServer', NS, 'mc', { nodeName: 'n1', phase: 'stopped' });
  });

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.stop();
    await h.close();
  });

  it('after a controller restart mid-backup asks the agent to attach (never a second archive) and completes', async () => {
    const m1 = await startController();
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'b1', namespace: NS }, spec: { serverRef: 'mc', ignore: ['logs/'] } });
    const first = await nextRequest('backup.create');
    const server = await h.env.store.get('GameServer', NS, 'mc');
    expect(first.params).toEqual({ uid: server.metadata.uid, backupUid: (await getBackup('b1'))!.metadata.uid, dataDir: 'default/mc', ignore: ['logs/'] });
    expect(first.timeoutMs).toBeGreaterThanOrEqual(3600_000);
    const running = await eventually(async () => ((await getBackup('b1'))?.status?.phase === 'in_progress' ? getBackup('b1') : undefined), 'in_progress');
    expect(running!.status).toMatchObject({ nodeName: 'n1', startedAt: expect.any(String) });
    expect(running!.metadata.finalizers).toContain(BACKUP_FINALIZER);

    await m1.stop();
    managers.splice(managers.indexOf(m1), 1);
    await startController();
    const second = await nextRequest('backup.create');
    expect(second.params).toMatchObject({ backupUid: running!.metadata.uid, attach: true });
    agent.send({ type: 'response', id: second.id, ok: true, result: result() });
    const done = await eventually(async () => ((await getBackup('b1'))?.status?.phase === 'completed' ? getBackup('b1') : undefined), 'completed');
    expect(done!.status).toMatchObject({ sizeBytes: 42, sha256: 'f'.repeat(64), path: '/agent/backups/srv/bk.tar.gz' });
    // The first call's late answer changes nothing: the object is completed already.
    agent.send({ type: 'response', id: first.id, ok: true, result: result({ sizeBytes: 1 }) });
    await new Promise((r) => setTimeout(r, 300));
    expect((await getBackup('b1'))!.status!.sizeBytes).toBe(42);
  });

  it('fails a backup whose agent disconnects mid-job, and deletes its archive once the node is back', async () => {
    await startController();
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'b2', namespace: NS }, spec: { serverRef: 'mc' } });
    await nextRequest('backup.create');
    agent.ws.terminate();
    const failed = await eventually(async () => ((await getBackup('b2'))?.status?.phase === 'failed' ? getBackup('b2') : undefined), 'failed');
    expect(failed!.status!.message).toMatch(/^agent disconnected during backup \(node n1\)/);
    const events = await h.env.events.list({ namespace: NS, kind: 'Backup', name: 'b2' });
    expect(events.map((e) => e.reason)).toContain('BackupFailed');

    // Deleted while the node is away: the Backup stays (finalizer) and says why.
    await h.env.store.delete('Backup', NS, 'b2');
    await eventually(async () => /waiting for node n1/.test((await getBackup('b2'))?.status?.message ?? ''), 'waiting message');
    await connectAgent();
    const del = await nextRequest('backup.delete');
    expect(del.params).toEqual({ backupUid: failed!.metadata.uid, uid: (await h.env.store.get('GameServer', NS, 'mc')).metadata.uid });
    agent.send({ type: 'response', id: del.id, ok: true, result: { deleted: true } });
    await eventually(async () => !(await getBackup('b2')), 'b2 gone');
  });

  it('stays pending while the node is disconnected and starts when it connects', async () => {
    await startController();
    agent.ws.terminate();
    await eventually(() => !h.hub.isConnected('n1'), 'n1 disconnected');
    await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'b3', namespace: NS }, spec: { serverRef: 'mc' } });
    await eventually(async () => (await getBackup('b3'))?.status?.phase === 'pending', 'pending');
    expect((await getBackup('b3'))!.status!.message).toMatch(/node n1 .*to connect/);
    await connectAgent();
    const req = await nextRequest('backup.create');
    agent.send({ type: 'response', id: req.id, ok: false, error: { code: 'failed', message: 'backup of /x failed: ENOSPC' } });
    const failed = await eventually(async () => ((await getBackup('b3'))?.status?.phase === 'failed' ? getBackup('b3') : undefined), 'failed');
    expect(failed!.status!.message).toBe('node "n1" backup.create failed (failed): backup of /x failed: ENOSPC');
  });
});
