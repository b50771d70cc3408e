// The Restore plan over its state table (controller/reconcilers/restore/plan.ts).
import { describe, expect, it } from 'vitest';
import type { Backup, GameServer, Restore, RestoreStatus } from '../../crds/types.ts';
import { planRestore, relevantRestoreNode, type RestorePlanInput } from '../../controller/reconcilers/restore/plan.ts';
import type { NodeView } from '../../controller/reconcilers/shared/reconcile.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const SHA = 'd'.repeat(64);
const up: NodeView = { name: 'node-a', exists: true, connected: true };
const down: NodeView = { name: 'node-a', exists: true, connected: false };

const server = (spec: Partial<GameServer['spec']> = { state: 'Stopped' }, status: GameServer['status'] = { nodeName: 'node-a', phase: 'stopped' }): GameServer => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name: 'mc', namespace: 'default', uid: 'srv-2' },
  spec: { templateRef: 't', ...spec },
  status,
});
const backup = (status: Backup['status'] = { phase: 'completed', nodeName: 'node-a', path: '/a/backups/srv-1/bk-1.tar.gz', sha256: SHA }): Backup => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'Backup',
  metadata: { name: 'b1', namespace: 'default', uid: 'bk-1' },
  spec: { serverRef: 'mc' },
  status,
});
const restore = (status?: RestoreStatus, truncate = false): Restore => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'r1', namespace: 'default', uid: 'rs-1' },
  spec: { backupRef: 'b1', serverRef: 'mc', ...(truncate ? { truncate } : {}) },
  ...(status ? { status } : {}),
});
const run = (i: Partial<RestorePlanInput>) => planRestore({ restore: restore(), server: server(), backup: backup(), node: up, now: NOW, ...i });
const inProgress: RestoreStatus = { phase: 'in_progress', nodeName: 'node-a', startedAt: '2026-03-01T11:59:00.000Z' };

describe('Restore plan', () => {
  it('starts on a stopped server with the backup\'s archive and checksum (never a path)', () => {
    const p = run({ restore: restore(undefined, true) });
    expect(p.status).toEqual({ phase: 'in_progress', nodeName: 'node-a', startedAt: NOW.toISOString() });
    expect(p.actions).toEqual([
      { type: 'startJob', node: 'node-a', params: { uid: 'srv-2', restoreUid: 'rs-1', dataDir: 'default/mc', backup: { serverUid: 'srv-1', backupUid: 'bk-1' }, sha256: SHA, truncate: true } },
    ]);
    // A crashed server counts as stopped.
    expect(run({ server: server({ state: 'Stopped' }, { nodeName: 'node-a', phase: 'crashed' }) }).status.phase).toBe('in_progress');
  });

  it('fails at once when the server is not stopped (running, stopping, or set to Running)', () => {
    for (const s of [server({ state: 'Running' }, { nodeName: 'node-a', phase: 'running' }), server({ state: 'Stopped' }, { nodeName: 'node-a', phase: 'stopping' }), server({ state: 'Running' }, { nodeName: 'node-a', phase: 'stopped' })]) {
      const p = run({ server: s });
      expect(p.status).toMatchObject({ phase: 'failed', completedAt: NOW.toISOString(), message: expect.stringMatching(/must be stopped before a restore/) });
      expect(p.actions).toEqual([]);
      expect(p.events[0].reason).toBe('RestoreFailed');
    }
  });

  it('fails for a missing server or backup, a failed backup, another node, or a backup without archive', () => {
    expect(run({ server: undefined }).status.message).toBe('GameServer default/mc does not exist');
    expect(run({ backup: undefined }).status.message).toBe('Backup default/b1 does not exist');
    expect(run({ backup: backup({ phase: 'failed', message: 'disk full' }) }).status.message).toMatch(/failed \(disk full\)/);
    expect(run({ server: server({ state: 'Stopped' }, { nodeName: 'node-b', phase: 'stopped' }) }).status.message).toMatch(/on node node-a but GameServer default\/mc is on node node-b/);
    expect(run({ backup: backup({ phase: 'completed', nodeName: 'node-a' }) }).status.message).toMatch(/records no archive/);
  });

  it('waits for a backup still being taken, and for a disconnected node', () => {
    expect(run({ backup: backup({ phase: 'in_progress', nodeName: 'node-a' }) }).status).toEqual({ phase: 'pending', message: 'waiting for Backup default/b1 to complete (phase in_progress)' });
    const p = run({ node: down });
    expect(p.status).toMatchObject({ phase: 'pending', message: expect.stringMatching(/node node-a/) });
    expect(p.actions).toEqual([]);
  });

  it('records the job outcome: completed, failed (checksum), disconnect, never sent', () => {
    expect(run({ restore: restore(inProgress), job: { state: 'running' } })).toMatchObject({ status: {}, actions: [] });
    const ok = run({ restore: restore(inProgress), job: { state: 'succeeded', result: { startedAt: 'x', completedAt: '2026-03-01T11:59:40.000Z', entries: 12 } } });
    expect(ok.status).toEqual({ phase: 'completed', completedAt: '2026-03-01T11:59:40.000Z', message: '12 entries restored' });
    expect(ok.forgetJob).toBe(true);
    const bad = run({ restore: restore(inProgress), job: { state: 'failed', code: 'checksum_mismatch', message: 'archive x has sha256 y, expected z' } });
    expect(bad.status).toMatchObject({ phase: 'failed', message: 'archive x has sha256 y, expected z' });
    const gone = run({ restore: restore(inProgress), job: { state: 'failed', code: 'disconnected', message: 'm' } });
    expect(gone.status.message).toMatch(/^agent disconnected during restore .* previous data stays/);
    const never = run({ restore: restore(inProgress), job: { state: 'failed', code: 'not_connected', message: 'm' } });
    expect(never.status).toMatchObject({ phase: 'pending', startedAt: null });
  });

  it('after a controller restart asks the agent (attach), or waits for the node', () => {
    const p = run({ restore: restore(inProgress) });
    expect(p.actions).toEqual([{ type: 'startJob', node: 'node-a', params: expect.objectContaining({ restoreUid: 'rs-1', attach: true }) }]);
    expect(run({ restore: restore(inProgress), node: down }).status.message).toMatch(/reconnect/);
  });

  it('is terminal once completed or failed, and level-triggered (same input, no write)', () => {
    expect(run({ restore: restore({ phase: 'completed' }) })).toMatchObject({ status: {}, actions: [] });
    expect(run({ restore: restore({ phase: 'failed' }), server: undefined })).toMatchObject({ status: {}, actions: [] });
    const waiting = run({ node: down }).status;
    expect(run({ restore: restore(waiting as RestoreStatus), node: down }).status).toEqual({});
  });

  it('looks at the backup\'s node before starting, the recorded one after', () => {
    expect(relevantRestoreNode(restore(), backup())).toBe('node-a');
    expect(relevantRestoreNode(restore({ ...inProgress, nodeName: 'n9' }), backup())).toBe('n9');
  });
});
