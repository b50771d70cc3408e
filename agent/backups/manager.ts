// Backups and restores on the node: the jobs behind the `backup.create`, `backup.delete` and
// `restore.run` RPCs, and the recovery that runs when the agent starts.
//
// Layout under the agent's data dir (never inside a server's data dir):
//   backups/<serverUid>/<backupUid>.tar.gz           the archive, present only once complete
//   backups/<serverUid>/<backupUid>.tar.gz.partial   being written (deleted on start: a dead job's)
//   backups/<serverUid>/<backupUid>.json             size, sha256, times; written before the rename,
//                                                    so a final archive always has its record
//   backups/restores/<restoreUid>.json               the outcome of a restore (for a controller that
//                                                    lost the answer)
// A restore works next to the data dir: servers/<ns>/.<name>.restore-<id> (extraction) and
// servers/<ns>/.<name>.old-<id> (the previous data during the swap). Server names never start with a
// dot, so these cannot collide with a server.
//
// Jobs are idempotent by resource uid: a second call for a running job joins it, one for a finished
// backup returns the recorded result. `attach: true` never starts work — it is how a controller that
// restarted learns whether the agent is still on it (an agent that was killed is not: not_found).
import { existsSync } from 'node:fs';
import { chown, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rename, rm, rmdir, stat, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { BackupCreateParams, BackupCreateResult, RestoreRunParams, RestoreRunResult } from '../protocol.ts';
import { ChecksumMismatchError, extractBackupArchive, writeBackupArchive } from './archive.ts';
import { IgnorePatternError } from './ignore.ts';
import { UnsafeArchiveEntryError } from './strict-entry-filter.ts';
import { fsyncDir, readJson, safeUid, writeJsonAtomic } from './durable.ts';

/** An error with an RPC code (the dispatcher's errorBody reads `code` from RpcError only, so the
 *  handlers translate these; see createBackupHandlers). */
export class BackupJobError extends Error {
  override readonly name = 'BackupJobError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Env knob for tests: ms of delay per 64 KiB of archive written or read (0/unset: none). */
export const SLOW_ENV = 'GANTRY_TEST_BACKUP_SLOW_MS';

function checkUid(what: string, v: string): string {
  if (!safeUid(v)) throw new BackupJobError('invalid_params', `${what} "${v}" is not a valid uid`);
  return v;
}

export interface BackupManagerOptions {
  serversRoot: string;
  backupsRoot: string;
  /** Resolves (and confines) a ContainerSpec.dataDir; agent/rpc-handlers.ts resolveDataDir. */
  resolveDataDir: (dataDir: string) => Promise<string>;
  /** Whether the server's container is running now (restores refuse then). */
  isRunning: (uid: string) => Promise<boolean>;
  log?: Logger;
  /** Test-only slow-down (ms per 64 KiB); default from GANTRY_TEST_BACKUP_SLOW_MS. */
  slowMs?: number;
}

interface RestoreRecord {
  phase: 'completed' | 'failed';
  code?: string;
  message?: string;
  result?: RestoreRunResult;
}

export class BackupManager {
  private readonly log: Logger;
  private readonly backups = new Map<string, { promise: Promise<BackupCreateResult>; abort: AbortController }>();
  private readonly restores = new Map<string, Promise<RestoreRunResult>>();
  private readonly slowMs: number;

  constructor(private readonly opts: BackupManagerOptions) {
    this.log = opts.log ?? createLogger({ component: 'agent.backups' });
    this.slowMs = opts.slowMs ?? (Number(process.env[SLOW_ENV]) || 0);
  }

  archivePath(serverUid: string, backupUid: string): string {
    return path.join(this.opts.backupsRoot, checkUid('server uid', serverUid), `${checkUid('backup uid', backupUid)}.tar.gz`);
  }

  private recordPath(serverUid: string, backupUid: string): string {
    return path.join(this.opts.backupsRoot, serverUid, `${backupUid}.json`);
  }

  private restoreRecordPath(restoreUid: string): string {
    return path.join(this.opts.backupsRoot, 'restores', `${checkUid('restore uid', restoreUid)}.json`);
  }

  /** Archive the server's data dir; idempotent by backupUid (see the file comment). */
  createBackup(p: BackupCreateParams): Promise<BackupCreateResult> {
    const final = this.archivePath(p.uid, p.backupUid);
    const running = this.backups.get(p.backupUid);
    if (running) return running.promise;
    const abort = new AbortController();
    const promise = (async () => {
      const done = await this.finishedBackup(p.uid, p.backupUid);
      if (done) return done;
      if (p.attach) {
        throw new BackupJobError('not_found', `no backup job ${p.backupUid} is running on this node and no archive was completed: the agent was restarted during the backup`);
      }
      return this.runBackup(p, final, abort.signal);
    })();
    this.backups.set(p.backupUid, { promise, abort });
    void promise.finally(() => this.backups.delete(p.backupUid)).catch(() => {});
    return promise;
  }

  private async finishedBackup(serverUid: string, backupUid: string): Promise<BackupCreateResult | undefined> {
    const final = this.archivePath(serverUid, backupUid);
    if (!existsSync(final)) return undefined;
    const rec = await readJson<BackupCreateResult>(this.recordPath(serverUid, backupUid));
    return rec?.sha256 ? { ...rec, path: final } : undefined;
  }

  private async runBackup(p: BackupCreateParams, final: string, signal: AbortSignal): Promise<BackupCreateResult> {
    const dataDir = await this.opts.resolveDataDir(p.dataDir);
    const st = await stat(dataDir).catch(() => undefined);
    if (!st?.isDirectory()) throw new BackupJobError('not_found', `the server's data directory ${dataDir} does not exist (was the server ever created on this node?)`);
    const dir = path.dirname(final);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const partial = `${final}.partial`;
    await rm(partial, { force: true });
    const startedAt = new Date().toISOString();
    this.log.info('backup started', { server: p.uid, backup: p.backupUid, dataDir, archive: final });
    try {
      const stats = await writeBackupArchive(dataDir, partial, { ignore: p.ignore, signal, slowMs: this.slowMs });
      const result: BackupCreateResult = { path: final, startedAt, completedAt: new Date().toISOString(), ...stats };
      // Record first, rename second: an archive under its final name always has its record.
      await writeJsonAtomic(this.recordPath(p.uid, p.backupUid), result);
      await rename(partial, final);
      await fsyncDir(dir);
      this.log.info('backup completed', { server: p.uid, backup: p.backupUid, sizeBytes: result.sizeBytes, entries: result.entries, skipped: result.skippedCount });
      return result;
    } catch (err) {
      await rm(partial, { force: true }).catch(() => {});
      if (err instanceof IgnorePatternError) throw new BackupJobError('invalid_params', err.message);
      if (signal.aborted) throw new BackupJobError('aborted', `backup ${p.backupUid} was cancelled (deleted while it ran)`);
      throw new BackupJobError('failed', `backup of ${dataDir} failed: ${(err as Error).message}`);
    }
  }

  /** Removes a backup's archive and record; cancels it first if it is running. Without the server uid
   *  (its GameServer is gone) the archive is looked up by backupUid, which is unique. */
  async deleteBackup(backupUid: string, serverUid?: string): Promise<{ deleted: boolean }> {
    checkUid('backup uid', backupUid);
    if (serverUid === undefined) {
      for (const d of await readdir(this.opts.backupsRoot, { withFileTypes: true }).catch(() => [])) {
        if (!d.isDirectory() || d.name === 'restores') continue;
        const names = await readdir(path.join(this.opts.backupsRoot, d.name)).catch(() => [] as string[]);
        if (names.some((n) => n.startsWith(`${backupUid}.`))) {
          serverUid = d.name;
          break;
        }
      }
      if (serverUid === undefined) {
        const running = this.backups.get(backupUid);
        if (running) {
          running.abort.abort();
          await running.promise.catch(() => {});
        }
        return { deleted: false };
      }
    }
    const final = this.archivePath(serverUid, backupUid);
    const running = this.backups.get(backupUid);
    if (running) {
      running.abort.abort();
      await running.promise.catch(() => {});
    }
    const existed = existsSync(final) || existsSync(`${final}.partial`);
    await rm(final, { force: true });
    await rm(`${final}.partial`, { force: true });
    await rm(this.recordPath(serverUid, backupUid), { force: true });
    // Drop the server's directory once it is empty (the server's last backup went).
    await rmdir(path.dirname(final)).catch(() => {}); // ENOTEMPTY: other backups remain
    if (existed) this.log.info('backup deleted', { server: serverUid, backup: backupUid });
    return { deleted: existed };
  }

  /** Restores an archive into a stopped server's data dir, atomically (see the file comment). */
  runRestore(p: RestoreRunParams): Promise<RestoreRunResult> {
    const running = this.restores.get(p.restoreUid);
    if (running) return running;
    const promise = (async () => {
      const rec = await readJson<RestoreRecord>(this.restoreRecordPath(p.restoreUid));
      if (rec?.phase === 'completed' && rec.result) return rec.result;
      if (rec?.phase === 'failed') throw new BackupJobError(rec.code ?? 'failed', rec.message ?? 'the restore failed');
      if (p.attach) throw new BackupJobError('not_found', `no restore job ${p.restoreUid} is running on this node and none finished: the agent was restarted during the restore`);
      try {
        const result = await this.restore(p);
        await this.recordRestore(p.restoreUid, { phase: 'completed', result });
        return result;
      } catch (err) {
        const e = err instanceof BackupJobError ? err : new BackupJobError('failed', (err as Error).message);
        // Refusals that depend on the moment (server running) are not recorded: a retry may succeed.
        if (e.code !== 'conflict') await this.recordRestore(p.restoreUid, { phase: 'failed', code: e.code, message: e.message }).catch(() => {});
        throw e;
      }
    })();
    this.restores.set(p.restoreUid, promise);
    void promise.finally(() => this.restores.delete(p.restoreUid)).catch(() => {});
    return promise;
  }

  private async recordRestore(restoreUid: string, rec: RestoreRecord): Promise<void> {
    const file = this.restoreRecordPath(restoreUid);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeJsonAtomic(file, rec);
  }

  private async restore(p: RestoreRunParams): Promise<RestoreRunResult> {
    const startedAt = new Date().toISOString();
    if (await this.opts.isRunning(p.uid)) {
      throw new BackupJobError('conflict', `server ${p.uid} is running: stop it before restoring a backup into its data directory`);
    }
    const archive = this.archivePath(p.backup.serverUid, p.backup.backupUid);
    if (!existsSync(archive)) throw new BackupJobError('not_found', `backup archive ${archive} does not exist on this node`);
    const data = await this.opts.resolveDataDir(p.dataDir);
    const { tmp, old } = restorePaths(data, checkUid('restore uid', p.restoreUid));
    await mkdir(path.dirname(data), { recursive: true });
    await rm(tmp, { recursive: true, force: true });
    const dataExists = existsSync(data);
    this.log.info('restore started', { server: p.uid, restore: p.restoreUid, archive, dataDir: data, truncate: !!p.truncate });
    let entries: number;
    try {
      if (!p.truncate && dataExists) await hardLinkTree(data, tmp);
      else await mkdir(tmp, { mode: 0o755 });
      ({ entries } = await extractBackupArchive(archive, tmp, p.sha256, { slowMs: this.slowMs }));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      // node-tar may still create a parent dir of an entry it was on when the stream broke (it makes
      // missing parents, the extraction root included): check once more a moment later.
      await new Promise((r) => setTimeout(r, 50));
      if (existsSync(tmp)) await rm(tmp, { recursive: true, force: true }).catch(() => {});
      if (err instanceof ChecksumMismatchError) throw new BackupJobError('checksum_mismatch', err.message);
      if (err instanceof UnsafeArchiveEntryError) throw new BackupJobError('unsafe_archive', err.message);
      throw new BackupJobError('failed', `extracting ${archive} failed: ${(err as Error).message}; the data directory was not changed`);
    }
    // The swap. A crash between the two renames leaves data missing and .old present: the agent's
    // start-up recovery renames it back (recoverBackupState).
    if (dataExists) await rename(data, old);
    await rename(tmp, data);
    await fsyncDir(path.dirname(data));
    const result: RestoreRunResult = { startedAt, completedAt: new Date().toISOString(), entries };
    await this.recordRestore(p.restoreUid, { phase: 'completed', result });
    this.log.info('restore completed', { server: p.uid, restore: p.restoreUid, entries });
    // The previous tree goes after the answer: the restore is complete (and recorded) once the swap is
    // done; an agent killed meanwhile finishes the removal on start (recoverBackupState).
    void rm(old, { recursive: true, force: true }).catch((err) => this.log.warn('could not remove the data replaced by a restore', { dir: old, err: (err as Error).message }));
    return result;
  }
}

/** The sibling directories a restore of `data` uses. */
export function restorePaths(data: string, restoreUid: string): { tmp: string; old: string } {
  const parent = path.dirname(data);
  const base = path.basename(data);
  return { tmp: path.join(parent, `.${base}.restore-${restoreUid}`), old: path.join(parent, `.${base}.old-${restoreUid}`) };
}

/**
 * Copies a tree as hard links (same inodes: owners, modes and contents kept, no data copied), for a
 * restore that lays the archive over the current files. Extraction unlinks before writing, so the
 * live tree's files are never written through.
 */
async function hardLinkTree(src: string, dest: string): Promise<void> {
  const st = await lstat(src);
  await mkdir(dest, { mode: st.mode & 0o7777 });
  await chown(dest, st.uid, st.gid).catch(() => {});
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dest, entry.name);
    if (entry.isDirectory()) await hardLinkTree(from, to);
    else if (entry.isSymbolicLink()) {
      const s = await lstat(from);
      await symlink(await readlink(from), to);
      await lchown(to, s.uid, s.gid).catch(() => {});
      await lutimes(to, s.atime, s.mtime).catch(() => {});
    } else if (entry.isFile()) await link(from, to);
    // sockets, FIFOs, devices: not data; left behind
  }
  await utimes(dest, st.atime, st.mtime).catch(() => {});
}

export interface RecoveryReport {
  partialsRemoved: number;
  orphanRecordsRemoved: number;
  extractionsRemoved: number;
  swapsRolledBack: string[];
  swapsFinished: string[];
}

/**
 * Runs when the agent starts, before it takes requests: removes what dead jobs left (partial archives,
 * records without an archive, half-extracted restore dirs) and finishes or undoes an interrupted swap:
 * data missing + .old present → the old data goes back (the restore failed); both present → the swap
 * had completed, .old goes. Restore outcomes found this way are recorded for the controller.
 */
export async function recoverBackupState(o: { serversRoot: string; backupsRoot: string; log?: Logger }): Promise<RecoveryReport> {
  const log = o.log ?? createLogger({ component: 'agent.backups' });
  const report: RecoveryReport = { partialsRemoved: 0, orphanRecordsRemoved: 0, extractionsRemoved: 0, swapsRolledBack: [], swapsFinished: [] };
  const restoresDir = path.join(o.backupsRoot, 'restores');
  const record = async (restoreUid: string, rec: RestoreRecord) => {
    const file = path.join(restoresDir, `${restoreUid}.json`);
    if (existsSync(file)) return;
    await mkdir(restoresDir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(file, rec);
  };

  for (const serverDir of await readdir(o.backupsRoot, { withFileTypes: true }).catch(() => [])) {
    if (!serverDir.isDirectory() || serverDir.name === 'restores') continue;
    const dir = path.join(o.backupsRoot, serverDir.name);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.endsWith('.partial') || name.endsWith('.tmp')) {
        await rm(path.join(dir, name), { force: true });
        report.partialsRemoved++;
      } else if (name.endsWith('.json') && !names.includes(name.replace(/\.json$/, '.tar.gz'))) {
        await rm(path.join(dir, name), { force: true });
        report.orphanRecordsRemoved++;
      }
    }
  }

  const RESTORE_DIR = /^\.(.+)\.(restore|old)-([A-Za-z0-9][A-Za-z0-9_-]*)$/;
  for (const ns of await readdir(o.serversRoot, { withFileTypes: true }).catch(() => [])) {
    if (!ns.isDirectory()) continue;
    const nsDir = path.join(o.serversRoot, ns.name);
    for (const name of await readdir(nsDir).catch(() => [] as string[])) {
      const m = RESTORE_DIR.exec(name);
      if (!m) continue;
      const [, base, kind, restoreUid] = m;
      const full = path.join(nsDir, name);
      const data = path.join(nsDir, base);
      if (kind === 'restore') {
        await rm(full, { recursive: true, force: true });
        report.extractionsRemoved++;
        await record(restoreUid, { phase: 'failed', code: 'interrupted', message: 'the agent stopped while the archive was being extracted; the data directory was not changed' });
      } else if (!existsSync(data)) {
        await rename(full, data);
        await fsyncDir(nsDir);
        report.swapsRolledBack.push(`${ns.name}/${base}`);
        await record(restoreUid, { phase: 'failed', code: 'interrupted', message: 'the agent stopped in the middle of swapping the data directory; the previous data was put back' });
      } else {
        await rm(full, { recursive: true, force: true });
        report.swapsFinished.push(`${ns.name}/${base}`);
        await record(restoreUid, { phase: 'completed', result: { startedAt: '', completedAt: new Date().toISOString(), entries: 0 } });
      }
    }
  }
  // Outcomes older than a week are of no use to anyone.
  const weekAgo = Date.now() - 7 * 86_400_000;
  for (const name of await readdir(restoresDir).catch(() => [] as string[])) {
    const s = await stat(path.join(restoresDir, name)).catch(() => undefined);
    if (s && s.mtimeMs < weekAgo) await rm(path.join(restoresDir, name), { force: true });
  }
  if (report.partialsRemoved || report.orphanRecordsRemoved || report.extractionsRemoved || report.swapsRolledBack.length || report.swapsFinished.length) {
    log.warn('cleaned up after interrupted backups/restores', { ...report });
  }
  return report;
}
