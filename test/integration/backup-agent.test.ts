// The agent's backup and restore jobs on a real file system (agent/backups/): archive, checksum,
// ignore patterns, owners and modes, the atomic swap, refusals, and the recovery after a crash.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupManager, recoverBackupState, restorePaths } from '../../agent/backups/manager.ts';
import { resolveDataDir } from '../../agent/rpc-handlers.ts';
import { createLogger } from '../../lib/log.ts';
import { treeSnapshot } from '../helpers/tree.ts';
import { until } from '../helpers/wait.ts';

const isRoot = process.getuid?.() === 0;

const snapshot = (root: string) => treeSnapshot(root);

describe('agent backups (real file system)', () => {
  let root: string;
  let serversRoot: string;
  let backupsRoot: string;
  let data: string;
  let running = false;
  let mgr: BackupManager;
  const log = createLogger({ test: 'backup-agent' }, 'error');
  const SERVER = 'srv-uid-1';

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'gantry-backup-'));
    serversRoot = path.join(root, 'servers');
    backupsRoot = path.join(root, 'backups');
    data = path.join(serversRoot, 'default', 'mc');
    await mkdir(path.join(data, 'world/region'), { recursive: true });
    await mkdir(path.join(data, 'logs'), { recursive: true });
    await mkdir(path.join(data, 'cache/deep'), { recursive: true });
    await writeFile(path.join(data, 'server.properties'), 'motd=hello\n');
    await writeFile(path.join(data, 'world/level.dat'), Buffer.from([0, 1, 2, 3, 255]));
    await writeFile(path.join(data, 'world/region/r.0.0.mca'), Buffer.alloc(300_000, 7));
    await writeFile(path.join(data, 'logs/latest.log'), 'log line\n');
    await writeFile(path.join(data, 'cache/deep/blob.bin'), 'cache');
    await writeFile(path.join(data, 'run.sh'), '#!/bin/sh\n');
    await chmod(path.join(data, 'run.sh'), 0o750);
    await writeFile(path.join(data, 'secret.txt'), 's');
    await chmod(path.join(data, 'secret.txt'), 0o600);
    await symlink('world/level.dat', path.join(data, 'level-link'));
    if (isRoot) await chown(path.join(data, 'world/level.dat'), 1234, 2345);
    running = false;
    mgr = new BackupManager({ serversRoot, backupsRoot, resolveDataDir: (d) => resolveDataDir(serversRoot, d), isRunning: async () => running, log, slowMs: 0 });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const backup = (backupUid: string, extra: Partial<Parameters<BackupManager['createBackup']>[0]> = {}) =>
    mgr.createBackup({ uid: SERVER, backupUid, dataDir: 'default/mc', ...extra });
  const restore = (restoreUid: string, backupUid: string, sha256: string, extra: Partial<Parameters<BackupManager['runRestore']>[0]> = {}) =>
    mgr.runRestore({ uid: SERVER, restoreUid, dataDir: 'default/mc', backup: { serverUid: SERVER, backupUid }, sha256, ...extra });

  it('archives the data dir with a correct sha256 and size, under the agent dir, and restores it byte for byte with modes and owners', async () => {
    const before = await snapshot(data);
    const r = await backup('b1');
    expect(r.path).toBe(path.join(backupsRoot, SERVER, 'b1.tar.gz'));
    const bytes = await readFile(r.path);
    expect(r.sizeBytes).toBe(bytes.length);
    expect(r.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await stat(r.path)).mode & 0o777).toBe(0o600);
    expect(existsSync(`${r.path}.partial`)).toBe(false);
    // Gzip members compressed in parallel are still one gzip file to GNU tar.
    expect(execFileSync('tar', ['-tzf', r.path], { encoding: 'utf8' }).split('\n')).toContain('./world/level.dat');

    // Change everything: edit, delete, add, chmod.
    await writeFile(path.join(data, 'server.properties'), 'motd=changed\n');
    await rm(path.join(data, 'world'), { recursive: true });
    await writeFile(path.join(data, 'new-file'), 'new');
    await chmod(path.join(data, 'run.sh'), 0o644);

    const res = await restore('r1', 'b1', r.sha256, { truncate: true });
    expect(res.entries).toBeGreaterThan(5);
    expect(await snapshot(data)).toEqual(before);
    if (isRoot) expect((await stat(path.join(data, 'world/level.dat'))).uid).toBe(1234);
    // Nothing left beside the data dir (the replaced tree is removed just after the answer).
    await until('the replaced tree removed', async () => (await readdir(path.dirname(data))).length === 1, 10_000);
    expect((await readdir(path.dirname(data))).sort()).toEqual(['mc']);
  });

  it('without truncate lays the archive over the current files and keeps files the archive does not have', async () => {
    const r = await backup('b1');
    await writeFile(path.join(data, 'server.properties'), 'motd=changed\n');
    await writeFile(path.join(data, 'extra.txt'), 'keep me');
    await restore('r1', 'b1', r.sha256);
    expect(await readFile(path.join(data, 'server.properties'), 'utf8')).toBe('motd=hello\n');
    expect(await readFile(path.join(data, 'extra.txt'), 'utf8')).toBe('keep me');
  });

  it('honours ignore patterns (gitignore-like) and leaves out symlinks pointing outside', async () => {
    await symlink('/etc/passwd', path.join(data, 'evil-abs'));
    await symlink('../../../outside', path.join(data, 'evil-rel'));
    const r = await backup('b1', { ignore: ['logs/', '/cache', '*.mca', '!nothing'] });
    const names: string[] = [];
    await tar.t({ file: r.path, onReadEntry: (e) => void names.push(e.path.replace(/^\.\//, '')) });
    expect(names).toContain('server.properties');
    expect(names).toContain('world/level.dat');
    expect(names).toContain('level-link');
    expect(names.some((n) => n.startsWith('logs'))).toBe(false);
    expect(names.some((n) => n.startsWith('cache'))).toBe(false);
    expect(names.some((n) => n.endsWith('.mca'))).toBe(false);
    expect(names).not.toContain('evil-abs');
    expect(names).not.toContain('evil-rel');
    expect(r.skippedCount).toBe(2);
    expect(r.skipped.sort()).toEqual(['evil-abs', 'evil-rel']);
  });

  it('stores a hard-linked file twice in full (restores refuse hard-link entries)', async () => {
    await link(path.join(data, 'server.properties'), path.join(data, 'hard'));
    const r = await backup('b1');
    const types: string[] = [];
    await tar.t({ file: r.path, onReadEntry: (e) => void types.push(e.type) });
    expect(types).not.toContain('Link');
    await rm(path.join(data, 'hard'));
    await restore('r1', 'b1', r.sha256, { truncate: true });
    expect(await readFile(path.join(data, 'hard'), 'utf8')).toBe('motd=hello\n');
  });

  it('is idempotent: a second call returns the finished archive, attach joins or reports a lost job', async () => {
    const p1 = backup('b1');
    const p2 = backup('b1', { attach: true });
    const [a, b] = await Promise.all([p1, p2]);
    expect(b).toEqual(a);
    expect(await backup('b1')).toEqual(a);
    await expect(backup('b-never', { attach: true })).rejects.toMatchObject({ code: 'not_found' });
    expect(existsSync(path.join(backupsRoot, SERVER, 'b-never.tar.gz.partial'))).toBe(false);
  });

  it('refuses a bad ignore pattern and a missing data dir with clear codes', async () => {
    await expect(backup('b1', { ignore: ['../x'] })).rejects.toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/\.\./) });
    await expect(mgr.createBackup({ uid: SERVER, backupUid: 'b2', dataDir: 'default/none' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(mgr.createBackup({ uid: SERVER, backupUid: 'b3', dataDir: '../../etc' })).rejects.toThrow(/not inside/);
    expect(await readdir(path.join(backupsRoot, SERVER)).catch(() => [])).toEqual([]);
  });

  it('deletes an archive, and cancels a running backup when deleted', async () => {
    const r = await backup('b1');
    expect(await mgr.deleteBackup('b1', SERVER)).toEqual({ deleted: true });
    expect(existsSync(r.path)).toBe(false);
    expect(await mgr.deleteBackup('b1', SERVER)).toEqual({ deleted: false });
    expect(existsSync(path.join(backupsRoot, SERVER))).toBe(false); // the server's last archive went: its dir too

    const slow = new BackupManager({ serversRoot, backupsRoot, resolveDataDir: (d) => resolveDataDir(serversRoot, d), isRunning: async () => false, log, slowMs: 50 });
    const job = slow.createBackup({ uid: SERVER, backupUid: 'b2', dataDir: 'default/mc' });
    const partial = path.join(backupsRoot, SERVER, 'b2.tar.gz.partial');
    for (let i = 0; i < 200 && !existsSync(partial); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(partial)).toBe(true);
    await slow.deleteBackup('b2');
    await expect(job).rejects.toMatchObject({ code: 'aborted' });
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(path.join(backupsRoot, SERVER, 'b2.tar.gz'))).toBe(false);
  });

  it('refuses a restore with a checksum mismatch, a running server, or a missing archive, leaving the data untouched', async () => {
    const r = await backup('b1');
    await writeFile(path.join(data, 'server.properties'), 'motd=current\n');
    const current = await snapshot(data);

    await expect(restore('r1', 'b1', 'a'.repeat(64))).rejects.toMatchObject({ code: 'checksum_mismatch', message: expect.stringMatching(/sha256/) });
    expect(await snapshot(data)).toEqual(current);

    // A damaged archive (one byte flipped in the middle): refused as a checksum mismatch.
    const bytes = await readFile(r.path);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await writeFile(r.path, bytes);
    await expect(restore('r2', 'b1', r.sha256, { truncate: true })).rejects.toMatchObject({ code: 'checksum_mismatch' });
    expect(await snapshot(data)).toEqual(current);

    running = true;
    await expect(restore('r3', 'b1', r.sha256)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/stop it/) });
    running = false;
    await expect(restore('r4', 'missing', r.sha256)).rejects.toMatchObject({ code: 'not_found' });
    expect(await snapshot(data)).toEqual(current);
    expect((await readdir(path.dirname(data))).sort()).toEqual(['mc']);
  });

  it('refuses archives with unsafe entries (../, absolute, hard link, symlink escaping) and changes nothing', async () => {
    const current = await snapshot(data);
    const src = path.join(root, 'evil-src');
    await mkdir(path.join(src, 'a'), { recursive: true });
    await writeFile(path.join(src, 'a/f'), 'x');
    const cases: Array<[string, (h: tar.Header) => void]> = [
      ['dotdot', (h) => (h.path = '../escape')],
      ['absolute', (h) => (h.path = '/tmp/escape')],
      ['hardlink', (h) => Object.assign(h, { type: 'Link', linkpath: 'a/f', size: 0 })],
      ['symlink', (h) => Object.assign(h, { type: 'SymbolicLink', linkpath: '../../../../etc', size: 0 })],
    ];
    for (const [name, mutate] of cases) {
      // Hand-built tar: one good file, then the bad entry.
      const blocks: Buffer[] = [];
      const add = (h: tar.Header, body = Buffer.alloc(0)) => {
        const hb = Buffer.alloc(512);
        h.encode(hb, 0);
        blocks.push(hb, body, Buffer.alloc((512 - (body.length % 512)) % 512));
      };
      add(new tar.Header({ path: 'good', type: 'File', size: 2, mode: 0o644, mtime: new Date() }), Buffer.from('ok'));
      const bad = new tar.Header({ path: 'bad', type: 'File', size: 0, mode: 0o644, mtime: new Date() });
      mutate(bad);
      add(bad);
      blocks.push(Buffer.alloc(1024));
      const { gzipSync } = await import('node:zlib');
      const archive = gzipSync(Buffer.concat(blocks));
      const file = mgr.archivePath(SERVER, `evil-${name}`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, archive);
      const sha = createHash('sha256').update(archive).digest('hex');
      await expect(restore(`r-${name}`, `evil-${name}`, sha, { truncate: true }), name).rejects.toMatchObject({ code: 'unsafe_archive' });
      expect(await snapshot(data), name).toEqual(current);
      expect(existsSync(path.join(root, 'escape')) || existsSync('/tmp/escape'), name).toBe(false);
    }
    expect((await readdir(path.dirname(data))).sort()).toEqual(['mc']);
  });

  it('recovers on start: partial archives and orphan records go, an interrupted extraction goes, an interrupted swap is undone or finished', async () => {
    const dir = path.join(backupsRoot, SERVER);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'dead.tar.gz.partial'), 'half');
    await writeFile(path.join(dir, 'orphan.json'), '{}');
    const done = await backup('kept');

    // An extraction in progress when the agent died.
    const { tmp: tmp1 } = restorePaths(data, 'rx');
    await mkdir(tmp1);
    await writeFile(path.join(tmp1, 'half'), 'x');
    // Server 2: died between "data → old" and "tmp → data": data missing, old present.
    const data2 = path.join(serversRoot, 'default', 'two');
    const { old: old2 } = restorePaths(data2, 'ry');
    await mkdir(old2, { recursive: true });
    await writeFile(path.join(old2, 'precious'), 'old data');
    // Server 3: died after the swap, before removing old: both present.
    const data3 = path.join(serversRoot, 'default', 'three');
    const { old: old3 } = restorePaths(data3, 'rz');
    await mkdir(data3, { recursive: true });
    await writeFile(path.join(data3, 'restored'), 'new');
    await mkdir(old3);

    const report = await recoverBackupState({ serversRoot, backupsRoot, log });
    expect(report).toMatchObject({ partialsRemoved: 1, orphanRecordsRemoved: 1, extractionsRemoved: 1, swapsRolledBack: ['default/two'], swapsFinished: ['default/three'] });
    expect((await readdir(dir)).sort()).toEqual(['kept.json', 'kept.tar.gz']);
    expect(existsSync(done.path)).toBe(true);
    expect(await readFile(path.join(data2, 'precious'), 'utf8')).toBe('old data');
    expect(await readFile(path.join(data3, 'restored'), 'utf8')).toBe('new');
    expect((await readdir(path.join(serversRoot, 'default'))).sort()).toEqual(['mc', 'three', 'two']);

    // The controller asking afterwards learns each outcome.
    const fresh = new BackupManager({ serversRoot, backupsRoot, resolveDataDir: (d) => resolveDataDir(serversRoot, d), isRunning: async () => false, log });
    const attach = (restoreUid: string, dataDir: string) => fresh.runRestore({ uid: 'x', restoreUid, dataDir, backup: { serverUid: SERVER, backupUid: 'kept' }, sha256: done.sha256, attach: true });
    await expect(attach('rx', 'default/mc')).rejects.toMatchObject({ code: 'interrupted' });
    await expect(attach('ry', 'default/two')).rejects.toMatchObject({ code: 'interrupted', message: expect.stringMatching(/put back/) });
    await expect(attach('rz', 'default/three')).resolves.toMatchObject({ completedAt: expect.any(String) });
    await expect(attach('unknown', 'default/mc')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('a restore killed mid-swap (simulated by the rename order) loses no data after recovery', async () => {
    const r = await backup('b1');
    const before = await snapshot(data);
    // Reproduce the exact state between the two renames of a real restore.
    const { tmp, old } = restorePaths(data, 'rk');
    await mkdir(tmp);
    await rename(data, old);
    await recoverBackupState({ serversRoot, backupsRoot, log });
    expect(await snapshot(data)).toEqual(before);
    expect(r.sha256).toMatch(/^[a-f0-9]{64}$/);
  });
});
