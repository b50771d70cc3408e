// The transfer plan over its whole state table (controller/reconcilers/transfer/plan.ts): refusals,
// the start, a move running / failed / lost / done, the flip, both cleanups, cancellation and deletion,
// and a walk from the request to the end with the plan applied to its own output.
import { describe, expect, it } from 'vitest';
import type { GameServer, GameServerStatus, ServerPort, TransferStatus } from '../../crds/types.ts';
import { CLEANUP_RETRY_MS, planTransfer, TRANSFER_FINALIZER, TRANSFERRED, type TransferNodeView, type TransferPlan, type TransferPlanInput } from '../../controller/reconcilers/transfer/plan.ts';
import { applyStatusPatch } from '../../controller/reconcilers/gameserver/plan.ts';
import type { ObservedContainer } from '../../agent/protocol.ts';

const UID = 'c0ffee00-0000-4000-8000-000000000001';
const NOW = new Date('2026-03-01T10:00:00.000Z');
const PORTS: ServerPort[] = [{ containerPort: 25565, hostPort: 28001, protocol: 'TCP', primary: true }];
const node = (name: string, over: Partial<TransferNodeView> = {}): TransferNodeView => ({ name, exists: true, connected: true, synced: true, ...over });
const moved = { sha256: 'ab'.repeat(32), bytes: 10240, entries: 4, skipped: [], skippedCount: 0 };

function server(over: { spec?: Partial<GameServer['spec']>; status?: GameServerStatus; deleting?: boolean; finalizers?: string[] } = {}): GameServer {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'GameServer',
    metadata: { name: 'mc', namespace: 'default', uid: UID, generation: 2, finalizers: over.finalizers ?? ['gantry.dev/cleanup'], ...(over.deleting ? { deletionTimestamp: NOW.toISOString() } : {}) },
    spec: { templateRef: 'testgame', nodeName: 'b', state: 'Stopped', ...over.spec },
    status: over.status ?? { phase: 'transferring', nodeName: 'a', ports: [{ containerPort: 25565, hostPort: 27001, protocol: 'TCP' }] },
  };
}

const streaming = (over: Partial<TransferStatus> = {}): TransferStatus => ({ id: 't1', from: 'a', to: 'b', phase: 'Streaming', startedAt: NOW.toISOString(), ...over });
const withTransfer = (t: TransferStatus, status: GameServerStatus = {}) => ({ nodeName: 'a', ...status, transfer: t });

function input(over: Partial<TransferPlanInput> = {}): TransferPlanInput {
  return { server: server(), source: node('a'), target: node('b'), fit: { ok: true, ports: PORTS }, jobs: {}, now: NOW, newId: 'n3w1d', ...over };
}

const types = (p: TransferPlan) => p.actions.map((a) => a.type);
const cond = (p: TransferPlan) => p.status.conditions?.find((c) => c.type === TRANSFERRED);
const params = (id: string) => ({ uid: UID, transferId: id, dataDir: 'default/mc' });

describe('transfer plan: nothing to do', () => {
  it('not transferring (spec.nodeName = status.nodeName): nothing; a stale finalizer goes', () => {
    const s = server({ spec: { nodeName: 'a' } });
    expect(planTransfer(input({ server: s }))).toEqual({ status: {}, actions: [], events: [] });
    const f = server({ spec: { nodeName: 'a' }, finalizers: [TRANSFER_FINALIZER] });
    expect(types(planTransfer(input({ server: f })))).toEqual(['removeFinalizer']);
  });

  it('not admitted yet (no status.nodeName): the scheduler\'s, not ours', () => {
    expect(planTransfer(input({ server: server({ status: {} }) })).actions).toEqual([]);
  });

  it('deleting without a transfer: only its finalizer goes', () => {
    expect(types(planTransfer(input({ server: server({ deleting: true, finalizers: [TRANSFER_FINALIZER] }) })))).toEqual(['removeFinalizer']);
  });
});

describe('transfer plan: refusals (nothing moved; spec.nodeName set back)', () => {
  const running: ObservedContainer = { uid: UID, containerId: 'c1', state: 'running', oomKilled: false, ports: [] };
  it.each([
    ['meant to run', input({ server: server({ spec: { state: 'Running' } }) }), 'ServerNotStopped', /must be stopped \(spec.state is Running\)/],
    ['source not connected', input({ source: node('a', { connected: false, synced: false }) }), 'SourceUnreachable', /node a, which holds the data, is not connected/],
    ['source not synced yet', input({ source: node('a', { synced: false }) }), 'SourceUnreachable', /not connected/],
    ['its container still running', input({ sourceContainer: running }), 'ServerNotStopped', /container is still running on node a/],
    ['target missing', input({ target: node('b', { exists: false, connected: false }) }), 'TargetNotFound', /node b does not exist/],
    ['target being deleted', input({ target: node('b', { deleting: true }) }), 'TargetNotFound', /being deleted/],
    ['target offline', input({ target: node('b', { connected: false }) }), 'TargetOffline', /node b is offline/],
    ['does not fit', input({ fit: { ok: false, reason: 'insufficient memory on node b (needs 2048 MiB, 1024 free)' } }), 'InsufficientResources', /insufficient memory on node b/],
  ])('%s', (_name, inp, reason, message) => {
    const p = planTransfer(inp);
    expect(cond(p)).toMatchObject({ status: 'False', reason, observedGeneration: 2, lastTransitionTime: NOW.toISOString().replace('.000', '') });
    expect(cond(p)!.message).toMatch(message);
    expect(cond(p)!.message).toMatch(/spec.nodeName is set back to a$/);
    expect(p.actions).toEqual([{ type: 'revertSpec', nodeName: 'a', unless: 'b' }]);
    expect(p.events).toEqual([{ type: 'Warning', reason: 'TransferRefused', message: cond(p)!.message }]);
    expect(p.status.transfer).toBeUndefined();
    // Planned again before the spec write landed: the same revert, no second event, no status change.
    const again = planTransfer({ ...inp, server: { ...inp.server, status: applyStatusPatch(inp.server.status, p.status) } });
    expect(again).toEqual({ status: {}, actions: p.actions, events: [] });
  });
});

describe('transfer plan: the start', () => {
  it('all checks pass: Streaming (written first), the finalizer, the move', () => {
    const p = planTransfer(input());
    expect(p.status.transfer).toEqual({ id: 'n3w1d', from: 'a', to: 'b', phase: 'Streaming', startedAt: NOW.toISOString() });
    expect(cond(p)).toMatchObject({ status: 'False', reason: 'Transferring', message: 'moving the data from node a to node b' });
    expect(p.actions).toEqual([{ type: 'addFinalizer' }, { type: 'startMove', source: 'a', target: 'b', params: params('n3w1d') }]);
    expect(p.events.map((e) => e.reason)).toEqual(['TransferStarted']);
    expect(types(planTransfer(input({ server: server({ finalizers: [TRANSFER_FINALIZER] }) })))).toEqual(['startMove']);
  });

  it('a suspended server (stopped by its suspension) may move', () => {
    expect(types(planTransfer(input({ server: server({ spec: { state: 'Running', suspended: true } }) })))).toEqual(['addFinalizer', 'startMove']);
  });
});

describe('transfer plan: while the data moves', () => {
  const s = server({ status: withTransfer(streaming()), finalizers: [TRANSFER_FINALIZER] });
  it('job running: nothing; spec.nodeName changed or the server deleted: cancel', () => {
    expect(planTransfer(input({ server: s, jobs: { move: { state: 'running' } } }))).toEqual({ status: {}, actions: [], events: [] });
    const changed = { ...s, spec: { ...s.spec!, nodeName: 'c' } };
    expect(planTransfer(input({ server: changed, jobs: { move: { state: 'running' } } })).actions).toEqual([{ type: 'cancelMove', transferId: 't1' }]);
    const deleted = { ...s, metadata: { ...s.metadata, deletionTimestamp: NOW.toISOString() } };
    expect(planTransfer(input({ server: deleted, jobs: { move: { state: 'running' } } })).actions).toEqual([{ type: 'cancelMove', transferId: 't1' }]);
  });

  it.each([
    ['target disk full', { code: 'no_space', message: 'ENOSPC', side: 'target' as const }, 'TargetDiskFull', /node b ran out of disk space/],
    ['damaged on the way', { code: 'checksum_mismatch', message: 'sha256 x, expected y', side: 'target' as const }, 'ChecksumMismatch', /reached node b damaged/],
    ['target agent killed', { code: 'disconnected', message: 'node "b" disconnected', side: 'target' as const }, 'TargetUnreachable', /agent of node b disconnected/],
    ['source agent killed', { code: 'disconnected', message: 'node "a" disconnected', side: 'source' as const }, 'SourceUnreachable', /agent of node a disconnected/],
    ['an escaping entry', { code: 'unsafe_archive', message: 'symlink "x" points outside', side: 'target' as const }, 'UnsafeData', /node b refused the data/],
    ['an old agent', { code: 'unknown_method', message: 'unknown method "transfer.send"', side: 'source' as const }, 'AgentTooOld', /node a cannot transfer servers; upgrade it/],
    ['cancelled', { code: 'cancelled', message: 'cancelled', side: 'cancelled' as const }, 'TransferCancelled', /cancelled/],
    ['anything else', { code: 'failed', message: 'EIO', side: 'target' as const }, 'TransferFailed', /EIO/],
  ])('job failed, %s: rolled back to the source, what reached the target removed', (_name, failure, reason, message) => {
    const p = planTransfer(input({ server: s, jobs: { move: { state: 'failed', ...failure } } }));
    expect(cond(p)).toMatchObject({ status: 'False', reason });
    expect(cond(p)!.message).toMatch(message);
    expect(cond(p)!.message).toMatch(/the server stays on node a with its data$/);
    expect(p.status.transfer).toEqual({ ...streaming(), phase: 'CleaningTarget', message: cond(p)!.message });
    expect(p.status.nodeName).toBeUndefined(); // never flipped
    expect(p.actions).toEqual([{ type: 'revertSpec', nodeName: 'a', unless: 'b' }, { type: 'startTargetCleanup', node: 'b', params: params('t1') }]);
    expect(p.forgetJobs).toBe(true);
    expect(p.events).toEqual([{ type: 'Warning', reason: 'TransferFailed', message: cond(p)!.message }]);
  });

  it('rolled back with the target offline: its cleanup waits for it', () => {
    const p = planTransfer(input({ server: s, target: node('b', { connected: false }), jobs: { move: { state: 'failed', code: 'disconnected', message: 'gone', side: 'target' } } }));
    expect(p.actions).toEqual([{ type: 'revertSpec', nodeName: 'a', unless: 'b' }]);
  });

  it('no job in this process (the controller restarted): rolled back', () => {
    const p = planTransfer(input({ server: s }));
    expect(cond(p)).toMatchObject({ reason: 'ControllerRestarted' });
    expect(types(p)).toEqual(['revertSpec', 'startTargetCleanup']);
  });

  it('done and still wanted: the flip (status.nodeName, ports on the target), then the source copy goes', () => {
    const p = planTransfer(input({ server: s, jobs: { move: { state: 'succeeded', result: moved } } }));
    expect(p.status).toMatchObject({ nodeName: 'b', ports: PORTS, containerId: null, transfer: { ...streaming(), phase: 'CleaningSource', bytes: 10240, entries: 4, sha256: moved.sha256 } });
    expect(cond(p)).toMatchObject({ status: 'True', reason: 'Transferred' });
    expect(cond(p)!.message).toBe(`moved from node a to node b (10240 bytes, 4 entries, sha256 ${moved.sha256}); removing the copy on node a`);
    expect(p.actions).toEqual([{ type: 'startSourceCleanup', node: 'a', params: params('t1') }]);
    expect(p.events).toEqual([{ type: 'Normal', reason: 'Transferred', message: `moved from node a to node b (10240 bytes, 4 entries, sha256 ${moved.sha256})` }]);
    expect(p.forgetJobs).toBe(true);
  });

  it('entries left out (symlinks pointing outside…) are named in the condition and a Warning', () => {
    const p = planTransfer(input({ server: s, jobs: { move: { state: 'succeeded', result: { ...moved, skipped: ['escape'], skippedCount: 1 } } } }));
    expect(cond(p)!.message).toMatch(/; 1 entry was not moved \(symlinks pointing outside the data directory, sockets, FIFOs: escape\); removing the copy on node a$/);
    expect(p.events[0]!.type).toBe('Warning');
  });

  it('done but no longer wanted, or the ports were taken meanwhile: rolled back (the target\'s copy is removed)', () => {
    const changed = { ...s, spec: { ...s.spec!, nodeName: 'a' } };
    const p = planTransfer(input({ server: changed, jobs: { move: { state: 'succeeded', result: moved } } }));
    expect(cond(p)).toMatchObject({ reason: 'TransferCancelled' });
    expect(types(p)).toEqual(['revertSpec', 'startTargetCleanup']);
    const q = planTransfer(input({ server: s, fit: { ok: false, reason: 'port 28001/TCP on node b is already used by default/other' }, jobs: { move: { state: 'succeeded', result: moved } } }));
    expect(cond(q)).toMatchObject({ reason: 'InsufficientResources' });
    expect(cond(q)!.message).toMatch(/no longer fits there: port 28001/);
  });
});

describe('transfer plan: cleanups', () => {
  const flipped = (over: Partial<TransferStatus> = {}) =>
    server({ spec: { nodeName: 'b' }, status: { nodeName: 'b', transfer: { ...streaming(), phase: 'CleaningSource', bytes: 1, entries: 1, sha256: moved.sha256, ...over }, conditions: [{ type: TRANSFERRED, status: 'True', reason: 'Transferred', message: 'moved from node a to node b (1 bytes); removing the copy on node a' }] }, finalizers: [TRANSFER_FINALIZER] });

  it('source cleanup: started, awaited, then the transfer ends (condition without "removing…", finalizer off)', () => {
    expect(planTransfer(input({ server: flipped() })).actions).toEqual([{ type: 'startSourceCleanup', node: 'a', params: params('t1') }]);
    expect(planTransfer(input({ server: flipped(), jobs: { source: { state: 'running' } } }))).toEqual({ status: {}, actions: [], events: [] });
    const done = planTransfer(input({ server: flipped(), jobs: { source: { state: 'succeeded', result: {} } } }));
    expect(done.status.transfer).toBeNull();
    expect(cond(done)).toMatchObject({ status: 'True', reason: 'TransferCompleted', message: 'moved from node a to node b (1 bytes)' });
    expect(done.actions).toEqual([{ type: 'removeFinalizer' }]);
    expect(done.events.map((e) => e.reason)).toEqual(['TransferCompleted']);
  });

  it('source offline: waits; failed: retried later; its GameNode deleted: nothing left to remove', () => {
    expect(planTransfer(input({ server: flipped(), source: node('a', { connected: false }) })).actions).toEqual([]);
    const failed = planTransfer(input({ server: flipped(), jobs: { source: { state: 'failed', code: 'failed', message: 'EBUSY' } } }));
    expect(failed).toMatchObject({ actions: [], forgetJobs: true, requeueAfterMs: CLEANUP_RETRY_MS });
    expect(failed.events[0]).toMatchObject({ type: 'Warning', reason: 'TransferCleanupFailed' });
    const lost = planTransfer(input({ server: flipped(), jobs: { source: { state: 'failed', code: 'disconnected', message: 'gone' } }, source: node('a', { connected: false }) }));
    expect(lost).toMatchObject({ actions: [], forgetJobs: true });
    const gone = planTransfer(input({ server: flipped(), source: node('a', { exists: false, connected: false }) }));
    expect(gone.status.transfer).toBeNull();
  });

  it('a deletion during the source cleanup still removes the copy (the finalizer holds the object)', () => {
    const s = flipped();
    s.metadata.deletionTimestamp = NOW.toISOString();
    expect(types(planTransfer(input({ server: s })))).toEqual(['startSourceCleanup']);
  });

  it('target cleanup after a rollback: the spec write again when it had not landed, then transfer.abort, then the end', () => {
    const rolled = server({ spec: { nodeName: 'b' }, status: withTransfer({ ...streaming(), phase: 'CleaningTarget', message: 'x' }), finalizers: [TRANSFER_FINALIZER] });
    expect(planTransfer(input({ server: rolled })).actions).toEqual([{ type: 'revertSpec', nodeName: 'a', unless: 'b' }, { type: 'startTargetCleanup', node: 'b', params: params('t1') }]);
    const reverted = { ...rolled, spec: { ...rolled.spec!, nodeName: 'a' } };
    expect(types(planTransfer(input({ server: reverted })))).toEqual(['startTargetCleanup']);
    const done = planTransfer(input({ server: reverted, jobs: { target: { state: 'succeeded', result: {} } } }));
    expect(done.status).toEqual({ transfer: null });
    expect(done.actions).toEqual([{ type: 'removeFinalizer' }]);
    // An operator who picked a third node meanwhile keeps that choice: no revert.
    const third = { ...rolled, spec: { ...rolled.spec!, nodeName: 'c' } };
    expect(types(planTransfer(input({ server: third })))).toEqual(['startTargetCleanup']);
  });
});

describe('transfer plan: from the request to the end', () => {
  it('every step planned on the previous one\'s output settles, each job\'s outcome read once', () => {
    let s = server();
    const apply = (p: TransferPlan) => {
      s = { ...s, status: applyStatusPatch(s.status, p.status) };
      for (const a of p.actions) {
        if (a.type === 'addFinalizer') s.metadata.finalizers = [...(s.metadata.finalizers ?? []), TRANSFER_FINALIZER];
        if (a.type === 'removeFinalizer') s.metadata.finalizers = (s.metadata.finalizers ?? []).filter((f) => f !== TRANSFER_FINALIZER);
      }
    };
    const start = planTransfer(input({ server: s }));
    apply(start);
    expect(types(start)).toEqual(['addFinalizer', 'startMove']);
    const id = s.status!.transfer!.id;
    apply(planTransfer(input({ server: s, jobs: { move: { state: 'running' } } })));
    const flip = planTransfer(input({ server: s, jobs: { move: { state: 'succeeded', result: moved } } }));
    apply(flip);
    expect(s.status).toMatchObject({ nodeName: 'b', transfer: { id, phase: 'CleaningSource' } });
    const end = planTransfer(input({ server: s, jobs: { source: { state: 'succeeded', result: {} } } }));
    apply(end);
    expect(s.status!.transfer).toBeUndefined();
    expect(s.metadata.finalizers).toEqual(['gantry.dev/cleanup']);
    expect(planTransfer(input({ server: s }))).toEqual({ status: {}, actions: [], events: [] });
  });
});
