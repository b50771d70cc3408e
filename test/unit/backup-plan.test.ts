// The Backup plan over its state table (controller/reconcilers/backup/plan.ts), plus the ignore matcher
// and the strict archive entry filter of the agent.
import { describe, expect, it } from 'vitest';
import type { Backup, BackupStatus, GameServer } from '../../crds/types.ts';
import type { BackupCreateResult } from '../../agent/protocol.ts';
import { BACKUP_FINALIZER, planBackup, relevantNode, type BackupPlanInput } from '../../controller/reconcilers/backup/plan.ts';
import { JobTracker } from '../../controller/reconcilers/shared/jobs.ts';
import type { NodeView } from '../../controller/reconcilers/shared/reconcile.ts';
import { compileIgnore, IgnorePatternError } from '../../agent/backups/ignore.ts';
import { unsafeEntryReason } from '../../agent/backups/strict-entry-filter.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const SERVER_UID = 'aaaa-1111';
const BACKUP_UID = 'bbbb-2222';
const up: NodeView = { name: 'node-a', exists: true, connected: true };
const down: NodeView = { name: 'node-a', exists: true, connected: false };

const server = (over: Partial<GameServer['status']> = { nodeName: 'node-a', phase: 'running' }): GameServer => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name: 'mc', namespace: 'default', uid: SERVER_UID },
  spec: { templateRef: 't' },
  status: over,
});
const backup = (status?: BackupStatus, opts: { finalizer?: boolean; deleting?: boolean; ttl?: string; ignore?: string[] } = {}): Backup => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'Backup',
  metadata: {
    name: 'b1',
    namespace: 'default',
    uid: BACKUP_UID,
    finalizers: opts.finalizer === false ? [] : [BACKUP_FINALIZER],
    ...(opts.deleting ? { deletionTimestamp: NOW.toISOString() } : {}),
  },
  spec: { serverRef: 'mc', ...(opts.ttl ? { ttl: opts.ttl } : {}), ...(opts.ignore ? { ignore: opts.ignore } : {}) },
  ...(status ? { status } : {}),
});
const result: BackupCreateResult = {
  path: `/agent/backups/${SERVER_UID}/${BACKUP_UID}.tar.gz`,
  sizeBytes: 1234,
  sha256: 'c'.repeat(64),
  startedAt: '2026-03-01T11:59:00.000Z',
  completedAt: '2026-03-01T11:59:30.000Z',
  entries: 10,
  skipped: [],
  skippedCount: 0,
  warnings: [],
};
const running: BackupStatus = { phase: 'in_progress', nodeName: 'node-a', startedAt: '2026-03-01T11:59:00.000Z' };
const completed: BackupStatus = { phase: 'completed', nodeName: 'node-a', path: result.path, sizeBytes: 1234, sha256: result.sha256, startedAt: result.startedAt, completedAt: result.completedAt };
const run = (i: Partial<BackupPlanInput>) => planBackup({ backup: backup(), server: server(), node: up, now: NOW, ...i });

describe('Backup plan', () => {
  it('adds its finalizer first and starts the job on a connected node, in_progress written before', () => {
    const p = run({ backup: backup(undefined, { finalizer: false, ignore: ['logs/'] }) });
    expect(p.actions.map((a) => a.type)).toEqual(['addFinalizer', 'startJob']);
    expect(p.status).toEqual({ phase: 'in_progress', nodeName: 'node-a', startedAt: NOW.toISOString() });
    expect(p.actions[1]).toEqual({ type: 'startJob', node: 'node-a', params: { uid: SERVER_UID, backupUid: BACKUP_UID, dataDir: 'default/mc', ignore: ['logs/'] } });
    expect(p.events[0].reason).toBe('BackupStarted');
  });

  it('waits (pending, with the reason) for a missing server, an unplaced server, a disconnected node', () => {
    expect(run({ server: undefined, node: undefined }).status).toEqual({ phase: 'pending', message: 'waiting for GameServer default/mc, which does not exist' });
    expect(run({ server: server({}), node: undefined }).status).toMatchObject({ phase: 'pending', message: expect.stringMatching(/placed on a node/) });
    const p = run({ node: down });
    expect(p.status).toMatchObject({ phase: 'pending', message: expect.stringMatching(/node node-a .* to connect/) });
    expect(p.actions).toEqual([]);
    // Level-triggered: the same situation again writes nothing.
    expect(run({ backup: backup({ phase: 'pending', message: p.status.message! }), node: down }).status).toEqual({});
  });

  it('does nothing while its job runs here', () => {
    const p = run({ backup: backup(running), job: { state: 'running' } });
    expect(p).toMatchObject({ status: {}, actions: [] });
  });

  it('completes with path, size, sha256, times and expiresAt from ttl', () => {
    const p = run({ backup: backup(running, { ttl: '1h' }), job: { state: 'succeeded', result } });
    expect(p.status).toEqual({ phase: 'completed', path: result.path, sizeBytes: 1234, sha256: result.sha256, completedAt: result.completedAt, expiresAt: '2026-03-01T12:59:30.000Z' });
    expect(p.forgetJob).toBe(true);
    const skipped = run({ backup: backup(running), job: { state: 'succeeded', result: { ...result, skipped: ['evil'], skippedCount: 1 } } });
    expect(skipped.status.message).toMatch(/1 path\(s\) left out.*evil/);
  });

  it('fails with the reason; an agent disconnect says so; a call never sent goes back to pending', () => {
    const d = run({ backup: backup(running), job: { state: 'failed', code: 'disconnected', message: 'node "node-a" disconnected before answering backup.create' } });
    expect(d.status).toMatchObject({ phase: 'failed', completedAt: NOW.toISOString(), message: expect.stringMatching(/^agent disconnected during backup/) });
    expect(d.events[0].reason).toBe('BackupFailed');
    const f = run({ backup: backup(running), job: { state: 'failed', code: 'failed', message: 'disk full' } });
    expect(f.status).toMatchObject({ phase: 'failed', message: 'disk full' });
    const n = run({ backup: backup(running), job: { state: 'failed', code: 'not_connected', message: 'x' } });
    expect(n.status).toMatchObject({ phase: 'pending', startedAt: null });
    expect(n.forgetJob).toBe(true);
  });

  it('after a controller restart asks the agent (attach) instead of starting a second archive, or waits for the node', () => {
    const p = run({ backup: backup(running), job: undefined });
    expect(p.actions).toEqual([{ type: 'startJob', node: 'node-a', params: { uid: SERVER_UID, backupUid: BACKUP_UID, dataDir: 'default/mc', attach: true } }]);
    expect(p.status).toEqual({});
    const w = run({ backup: backup(running), node: down });
    expect(w.actions).toEqual([]);
    expect(w.status.message).toMatch(/reconnect/);
    expect(run({ backup: backup(running), server: undefined }).status).toMatchObject({ phase: 'failed' });
  });

  it('expires: requeues until expiresAt, then deletes the Backup; no ttl keeps it', () => {
    const early = run({ backup: backup({ ...completed, expiresAt: '2026-03-01T12:59:30.000Z' }, { ttl: '1h' }) });
    expect(early.actions).toEqual([]);
    expect(early.requeueAfterMs).toBe(59 * 60_000 + 30_000);
    const late = run({ backup: backup({ ...completed, completedAt: '2026-03-01T10:00:00.000Z' }, { ttl: '1h' }) });
    expect(late.status).toEqual({ expiresAt: '2026-03-01T11:00:00.000Z' });
    expect(late.actions).toEqual([{ type: 'deleteBackup' }]);
    const failedOld = run({ backup: backup({ phase: 'failed', completedAt: '2026-03-01T10:00:00.000Z' }, { ttl: '30m' }) });
    expect(failedOld.actions).toEqual([{ type: 'deleteBackup' }]);
    const keep = run({ backup: backup(completed) });
    expect(keep).toMatchObject({ actions: [], status: {} });
    expect(keep.requeueAfterMs).toBeUndefined();
  });

  it('on deletion removes the archive on the node, then the finalizer; waits for a disconnected node', () => {
    const p = run({ backup: backup(completed, { deleting: true }) });
    expect(p.actions).toEqual([{ type: 'deleteArchive', node: 'node-a', serverUid: SERVER_UID, backupUid: BACKUP_UID }, { type: 'removeFinalizer' }]);
    const inflight = run({ backup: backup(running, { deleting: true }), server: undefined, job: { state: 'running' } });
    expect(inflight.actions).toEqual([{ type: 'deleteArchive', node: 'node-a', backupUid: BACKUP_UID }, { type: 'removeFinalizer' }]);
    const wait = run({ backup: backup(completed, { deleting: true }), node: down });
    expect(wait.actions).toEqual([]);
    expect(wait.status.message).toMatch(/waiting for node node-a/);
    expect(run({ backup: backup(completed, { deleting: true }), node: { ...down, exists: false } }).actions).toEqual([{ type: 'removeFinalizer' }]);
    expect(run({ backup: backup({ phase: 'pending' }, { deleting: true }) }).actions).toEqual([{ type: 'removeFinalizer' }]);
    expect(run({ backup: backup(completed, { deleting: true, finalizer: false }) }).actions).toEqual([]);
  });

  it('looks at the node the job ran on once started, else the server\'s', () => {
    expect(relevantNode(backup(), server({ nodeName: 'n2' }))).toBe('n2');
    expect(relevantNode(backup({ ...running, nodeName: 'n1' }), server({ nodeName: 'n2' }))).toBe('n1');
  });
});

describe('JobTracker', () => {
  it('records outcomes with the error code, calls back once, and forgets only settled jobs', async () => {
    const t = new JobTracker<number>();
    let settled = 0;
    let resolve!: (n: number) => void;
    t.start('a', () => new Promise<number>((r) => (resolve = r)), () => settled++);
    t.start('a', () => Promise.resolve(99), () => settled++); // already known: ignored
    expect(t.get('a')).toEqual({ state: 'running' });
    t.forget('a');
    expect(t.get('a')).toEqual({ state: 'running' });
    resolve(7);
    await new Promise((r) => setTimeout(r, 0));
    expect(t.get('a')).toEqual({ state: 'succeeded', result: 7 });
    t.start('b', () => Promise.reject(Object.assign(new Error('gone'), { code: 'disconnected' })), () => settled++);
    await new Promise((r) => setTimeout(r, 0));
    expect(t.get('b')).toEqual({ state: 'failed', code: 'disconnected', message: 'gone' });
    expect(settled).toBe(2);
    t.forget('a');
    expect(t.get('a')).toBeUndefined();
  });
});

describe('ignore patterns (gitignore-like)', () => {
  const m = (patterns: string[]) => compileIgnore(patterns);
  it('matches names at any depth, anchors patterns with a slash, and directory-only patterns', () => {
    const i = m(['*.log', '/cache', 'world/region/*.tmp', 'tmp/', '# comment', '']);
    expect(i('a.log', false)).toBe(true);
    expect(i('logs/x/a.log', false)).toBe(true);
    expect(i('cache', true)).toBe(true);
    expect(i('sub/cache', true)).toBe(false);
    expect(i('world/region/r.tmp', false)).toBe(true);
    expect(i('other/world/region/r.tmp', false)).toBe(false);
    expect(i('tmp', true)).toBe(true);
    expect(i('tmp', false)).toBe(false);
    expect(i('a/tmp', true)).toBe(true);
    expect(i('server.properties', false)).toBe(false);
    expect(i('.', true)).toBe(false);
  });
  it('supports ** , ?, classes, negation (last match wins) and escapes', () => {
    const i = m(['**/dynmap/**', 'a/**/b', 'file?.txt', '[0-9]*.dat', '*.jar', '!keep.jar', '\\#hash']);
    expect(i('plugins/dynmap/web/x.png', false)).toBe(true);
    expect(i('dynmap/x', false)).toBe(true);
    expect(i('a/b', false)).toBe(true);
    expect(i('a/x/y/b', false)).toBe(true);
    expect(i('file1.txt', false)).toBe(true);
    expect(i('file10.txt', false)).toBe(false);
    expect(i('7days.dat', false)).toBe(true);
    expect(i('days.dat', false)).toBe(false);
    expect(i('server.jar', false)).toBe(true);
    expect(i('keep.jar', false)).toBe(false);
    expect(i('#hash', false)).toBe(true);
  });
  it('refuses patterns that cannot mean anything sane', () => {
    expect(() => m(['../etc'])).toThrow(IgnorePatternError);
    expect(() => m(['/'])).toThrow(/matches nothing/);
    expect(() => m(['abc\\'])).toThrow(/backslash/);
  });
});

describe('strict archive entry filter', () => {
  it('accepts ordinary files, dirs and inside symlinks', () => {
    expect(unsafeEntryReason({ path: './', type: 'Directory' })).toBeUndefined();
    expect(unsafeEntryReason({ path: './world/level.dat', type: 'File' })).toBeUndefined();
    expect(unsafeEntryReason({ path: './a/link', type: 'SymbolicLink', linkpath: '../b/c' })).toBeUndefined();
  });
  it('refuses escapes, absolute paths, hard links, devices and outside symlinks, naming the entry', () => {
    expect(unsafeEntryReason({ path: '../x', type: 'File' })).toMatch(/"\.\.\/x" has a "\.\." path segment/);
    expect(unsafeEntryReason({ path: 'a/../../x', type: 'File' })).toMatch(/\.\./);
    expect(unsafeEntryReason({ path: '/etc/passwd', type: 'File' })).toMatch(/absolute/);
    expect(unsafeEntryReason({ path: 'h', type: 'Link', linkpath: 'x' })).toMatch(/hard link/);
    expect(unsafeEntryReason({ path: 'dev', type: 'CharacterDevice' })).toMatch(/CharacterDevice/);
    expect(unsafeEntryReason({ path: 'f', type: 'FIFO' })).toMatch(/FIFO/);
    expect(unsafeEntryReason({ path: 'l', type: 'SymbolicLink', linkpath: '/etc' })).toMatch(/absolute path/);
    expect(unsafeEntryReason({ path: 'a/l', type: 'SymbolicLink', linkpath: '../../x' })).toMatch(/outside/);
    expect(unsafeEntryReason({ path: 'x\0y', type: 'File' })).toMatch(/NUL/);
  });
});
