// Moving a server's data dir between nodes: the agent's half of the `transfer.*` RPCs (the controller
// relays the bytes between the two agents, so the nodes never need to reach each other).
//
//   source  transfer.send     packs the data dir (backups/archive.ts packDataDir: an uncompressed tar,
//                             symlinks inside the tree kept, ones pointing outside left out and
//                             counted) straight into a byte stream to the controller, hashing it on the
//                             way: no temp file, nothing written on the source.
//   target  transfer.receive  extracts the stream into servers/<ns>/.<name>.transfer-<id> beside the
//                             data dir with the strict entry filter (one absolute path, `..`, hard
//                             link, device or escaping symlink refuses the whole transfer), hashing
//                             what arrives, then records the staged tree (transfers/<id>.json).
//   target  transfer.commit   checks the sha256 the source computed against the staged one, swaps the
//                             staged tree in (data → .<name>.transfer-old-<id>, staged → data), makes
//                             it durable (syncfs of the file system, fsync of the parent), records the
//                             data dir's inode: the confirmation after which the source copy may go.
//   target  transfer.abort    removes the staged tree; undoes a commit only while the data dir is
//                             still the very tree that commit put there (same inode), so an abort that
//                             arrives late never deletes a later transfer's data.
//
// Recovery at agent start (recoverTransferState, before any request): a staging dir without a staged
// record was cut off mid-stream and goes; a staged one stays (the controller may still commit it;
// after 7 days it goes); a swap interrupted between its renames is finished or put back.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { ByteStreams } from '../../lib/byte-streams.ts';
import type { TransferAbortParams, TransferCommitParams, TransferReceiveParams, TransferReceiveResult, TransferSendParams, TransferSendResult } from '../protocol.ts';
import { Meter, packDataDir, quiesce, slowStages, strictUnpack } from '../backups/archive.ts';
import { fsyncDir, readJson, safeUid, writeJsonAtomic } from '../backups/durable.ts';

const run = promisify(execFile);

/** An error with an RPC code (rpc-handlers.ts errorBody passes `code` on). */
export class TransferError extends Error {
  override readonly name = 'TransferError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Test knobs (environment of the agent process): ms of delay per 64 KiB sent, and a byte offset of
 *  the stream to flip after hashing (corruption in transit: the target's checksum must catch it). */
export const SLOW_ENV = 'GANTRY_TEST_TRANSFER_SLOW_MS';
export const CORRUPT_ENV = 'GANTRY_TEST_TRANSFER_CORRUPT_AT';

/** Staged trees nobody committed (the controller rolled back while this node was away) go after this. */
export const STAGED_MAX_AGE_MS = 7 * 86_400_000;

export interface TransferManagerOptions {
  serversRoot: string;
  /** DATA/transfers: the records. */
  transfersRoot: string;
  resolveDataDir: (dataDir: string) => Promise<string>;
  /** Whether the server's container is running on this node (its data is then not moved). */
  isRunning: (uid: string) => Promise<boolean>;
  streams: ByteStreams;
  log?: Logger;
  slowMs?: number;
  corruptAt?: number;
}

interface TransferRecord {
  phase: 'staged' | 'committing' | 'committed' | 'aborted' | 'failed';
  uid: string;
  dataDir: string;
  sha256?: string;
  bytes?: number;
  entries?: number;
  stagedAt?: string;
  committedAt?: string;
  /** The committed data dir's identity: what an abort may remove. */
  dev?: number;
  ino?: number;
  message?: string;
}

/** The sibling directories a transfer of `data` uses. */
export function transferPaths(data: string, transferId: string): { staging: string; old: string } {
  const parent = path.dirname(data);
  const base = path.basename(data);
  return { staging: path.join(parent, `.${base}.transfer-${transferId}`), old: path.join(parent, `.${base}.transfer-old-${transferId}`) };
}

const STAGING_DIR = /^\.(.+)\.transfer-([A-Za-z0-9][A-Za-z0-9_-]*)$/;
const OLD_DIR = /^\.(.+)\.transfer-old-([A-Za-z0-9][A-Za-z0-9_-]*)$/;

/** Flips one byte at `offset` of the stream (test knob). */
class Corrupt extends Transform {
  private seen = 0;
  constructor(private readonly offset: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    const at = this.offset - this.seen;
    this.seen += chunk.length;
    if (at >= 0 && at < chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[at]! ^= 0xff;
    }
    cb(null, chunk);
  }
}

/** syncfs(2) of the file system holding `dir` (coreutils `sync -f`): every extracted file durable at once. */
async function syncFileSystem(dir: string): Promise<void> {
  await run('sync', ['-f', dir], { timeout: 10 * 60_000 });
}

const codeOf = (err: unknown): string | undefined => (err as { code?: unknown })?.code as string | undefined;

export class TransferManager {
  private readonly log: Logger;
  private readonly receiving = new Map<string, { stream: Readable; done: Promise<unknown> }>();
  private readonly slowMs: number;
  private readonly corruptAt: number | undefined;

  constructor(private readonly o: TransferManagerOptions) {
    this.log = o.log ?? createLogger({ component: 'agent.transfers' });
    this.slowMs = o.slowMs ?? (Number(process.env[SLOW_ENV]) || 0);
    const corrupt = o.corruptAt ?? Number(process.env[CORRUPT_ENV]);
    this.corruptAt = Number.isInteger(corrupt) && corrupt >= 0 ? corrupt : undefined;
  }

  private recordPath(transferId: string): string {
    return path.join(this.o.transfersRoot, `${transferId}.json`);
  }

  private async record(transferId: string, rec: TransferRecord): Promise<void> {
    await mkdir(this.o.transfersRoot, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.recordPath(transferId), rec);
  }

  private checkId(transferId: string): void {
    if (!safeUid(transferId)) throw new TransferError('invalid_params', `transfer id "${transferId}" is not a valid id`);
  }

  /** Source: streams the data dir as a tar; resolves once the last byte went out, with its sha256. */
  async send(p: TransferSendParams): Promise<TransferSendResult> {
    this.checkId(p.transferId);
    if (await this.o.isRunning(p.uid)) throw new TransferError('conflict', `server ${p.uid} is running on this node: stop it before transferring its data`);
    const data = await this.o.resolveDataDir(p.dataDir);
    const st = await stat(data).catch(() => undefined);
    if (!st?.isDirectory()) throw new TransferError('not_found', `the server's data directory ${data} does not exist on this node`);
    const { stream: pack, stats } = packDataDir(data);
    const meter = new Meter();
    const stages: Transform[] = [meter, ...slowStages({ slowMs: this.slowMs }), ...(this.corruptAt !== undefined ? [new Corrupt(this.corruptAt)] : [])];
    // Piped, not pipeline()d into a sink: the last stage itself is what the byte stream reads, so no
    // extra copy; a failure anywhere ends the last stage with it.
    let out: Readable = pack;
    for (const stage of stages) {
      out.once('error', (err) => stages.at(-1)!.destroy(err));
      out = out.pipe(stage);
    }
    this.log.info('transfer send started', { server: p.uid, transfer: p.transferId, dataDir: data });
    try {
      await this.o.streams.send(p.streamId, out, { credit: p.window });
    } catch (err) {
      pack.destroy();
      for (const stage of stages) stage.destroy();
      const code = codeOf(err);
      throw new TransferError(code && /^[a-z_]+$/.test(code) ? code : 'failed', `sending ${data} failed: ${(err as Error).message}`);
    }
    const result: TransferSendResult = { sha256: meter.hash.digest('hex'), bytes: meter.bytes, entries: stats.entries, skipped: stats.skipped, skippedCount: stats.skippedCount };
    this.log.info('transfer send completed', { server: p.uid, transfer: p.transferId, bytes: result.bytes, entries: result.entries, skipped: result.skippedCount });
    return result;
  }

  /** Target: extracts the stream into the staging dir beside the data dir and records it. */
  async receive(p: TransferReceiveParams): Promise<TransferReceiveResult> {
    this.checkId(p.transferId);
    if (this.receiving.has(p.transferId)) throw new TransferError('conflict', `transfer ${p.transferId} is already being received`);
    const prev = await readJson<TransferRecord>(this.recordPath(p.transferId));
    if (prev) throw new TransferError('conflict', `transfer ${p.transferId} was already received here (${prev.phase})`);
    const data = await this.o.resolveDataDir(p.dataDir);
    const { staging } = transferPaths(data, p.transferId);
    await mkdir(path.dirname(data), { recursive: true });
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { mode: 0o755 });
    // Credit goes out on the first read: the staging dir exists before a byte is sent.
    const incoming = this.o.streams.receive(p.streamId);
    const meter = new Meter();
    const { unpack, entries, unsafe } = strictUnpack(staging);
    const extracting = pipeline(incoming, meter, unpack as unknown as NodeJS.WritableStream);
    this.receiving.set(p.transferId, { stream: incoming, done: extracting.catch(() => {}) });
    this.log.info('transfer receive started', { server: p.uid, transfer: p.transferId, staging });
    try {
      await extracting;
      if (unsafe()) throw unsafe();
    } catch (err) {
      // node-tar may still have file operations in flight: let them settle before the staging dir goes.
      await quiesce(unpack);
      this.o.streams.abort(p.streamId, err);
      await rm(staging, { recursive: true, force: true }).catch(() => {});
      throw this.receiveError(err, unsafe(), data);
    } finally {
      this.receiving.delete(p.transferId);
    }
    const result: TransferReceiveResult = { sha256: meter.hash.digest('hex'), bytes: meter.bytes, entries: entries() };
    await this.record(p.transferId, { phase: 'staged', uid: p.uid, dataDir: data, sha256: result.sha256, bytes: result.bytes, entries: result.entries, stagedAt: new Date().toISOString() });
    this.log.info('transfer staged', { server: p.uid, transfer: p.transferId, bytes: result.bytes, entries: result.entries });
    return result;
  }

  private receiveError(err: unknown, unsafe: Error | undefined, data: string): TransferError {
    if (unsafe) return new TransferError('unsafe_archive', unsafe.message);
    const code = codeOf(err);
    if (code === 'ENOSPC' || code === 'EDQUOT') return new TransferError('no_space', `this node ran out of disk space while receiving the data of ${data}: ${(err as Error).message}`);
    if (err instanceof TransferError) return err;
    if ((err as Error)?.name === 'StreamError' && code) return new TransferError(code, `receiving ${data} failed: ${(err as Error).message}`);
    return new TransferError('failed', `receiving ${data} failed: ${(err as Error).message}`);
  }

  /** Target: swaps the staged tree in once its sha256 matches the source's; idempotent. */
  async commit(p: TransferCommitParams): Promise<{ committedAt: string }> {
    this.checkId(p.transferId);
    const rec = await readJson<TransferRecord>(this.recordPath(p.transferId));
    if (rec?.phase === 'committed') return { committedAt: rec.committedAt ?? new Date().toISOString() };
    const data = await this.o.resolveDataDir(p.dataDir);
    const { staging, old } = transferPaths(data, p.transferId);
    if (!rec || (rec.phase !== 'staged' && rec.phase !== 'committing') || !existsSync(staging)) {
      throw new TransferError('not_found', `no staged data of transfer ${p.transferId} on this node${rec ? ` (${rec.phase})` : ''}`);
    }
    if (rec.sha256 !== p.sha256) {
      await rm(staging, { recursive: true, force: true });
      await this.record(p.transferId, { ...rec, phase: 'failed', message: 'checksum mismatch' });
      throw new TransferError('checksum_mismatch', `the data received has sha256 ${rec.sha256}, the source sent ${p.sha256}: the transfer was damaged on the way; nothing was changed here`);
    }
    if (await this.o.isRunning(p.uid)) throw new TransferError('conflict', `server ${p.uid} has a running container on this node: its data directory is not replaced`);
    // Recorded before the renames: a crash between them is finished or undone at start-up.
    await this.record(p.transferId, { ...rec, phase: 'committing' });
    if (existsSync(data)) await rename(data, old);
    await rename(staging, data);
    await fsyncDir(path.dirname(data));
    await syncFileSystem(data);
    const st = await stat(data);
    const committedAt = new Date().toISOString();
    await this.record(p.transferId, { ...rec, phase: 'committed', committedAt, dev: st.dev, ino: st.ino });
    this.log.info('transfer committed', { server: p.uid, transfer: p.transferId, dataDir: data });
    void rm(old, { recursive: true, force: true }).catch((err) => this.log.warn('removing the replaced data dir failed', { dir: old, err }));
    return { committedAt };
  }

  /** Target: forgets a transfer that will not complete (see the file comment for what it removes). */
  async abort(p: TransferAbortParams): Promise<{ removedStaging: boolean; removedData: boolean }> {
    this.checkId(p.transferId);
    const running = this.receiving.get(p.transferId);
    if (running) {
      running.stream.destroy(new TransferError('cancelled', 'the transfer was aborted'));
      await running.done;
    }
    const data = await this.o.resolveDataDir(p.dataDir);
    const { staging } = transferPaths(data, p.transferId);
    const rec = await readJson<TransferRecord>(this.recordPath(p.transferId));
    const removedStaging = existsSync(staging);
    await rm(staging, { recursive: true, force: true });
    let removedData = false;
    if (rec?.phase === 'committed' && rec.ino !== undefined) {
      const st = await stat(data).catch(() => undefined);
      if (st && st.ino === rec.ino && st.dev === rec.dev) {
        if (await this.o.isRunning(p.uid)) throw new TransferError('conflict', `server ${p.uid} runs on this node from the transferred data: not removed`);
        await rm(data, { recursive: true, force: true });
        removedData = true;
      }
    }
    await this.record(p.transferId, { ...(rec ?? { uid: p.uid, dataDir: data }), phase: 'aborted' });
    this.log.info('transfer aborted', { server: p.uid, transfer: p.transferId, removedStaging, removedData });
    return { removedStaging, removedData };
  }
}

export interface TransferRecoveryReport {
  stagingRemoved: number;
  swapsFinished: string[];
  swapsRolledBack: string[];
}

/** Runs at agent start, before requests (see the file comment). */
export async function recoverTransferState(o: { serversRoot: string; transfersRoot: string; log?: Logger; now?: number }): Promise<TransferRecoveryReport> {
  const log = o.log ?? createLogger({ component: 'agent.transfers' });
  const now = o.now ?? Date.now();
  const report: TransferRecoveryReport = { stagingRemoved: 0, swapsFinished: [], swapsRolledBack: [] };
  const recordOf = (id: string) => readJson<TransferRecord>(path.join(o.transfersRoot, `${id}.json`));
  const write = async (id: string, rec: TransferRecord) => {
    await mkdir(o.transfersRoot, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(path.join(o.transfersRoot, `${id}.json`), rec);
  };
  for (const ns of await readdir(o.serversRoot, { withFileTypes: true }).catch(() => [])) {
    if (!ns.isDirectory()) continue;
    const nsDir = path.join(o.serversRoot, ns.name);
    const names = await readdir(nsDir).catch(() => [] as string[]);
    for (const name of names) {
      const old = OLD_DIR.exec(name);
      const staged = old ? undefined : STAGING_DIR.exec(name);
      const m = old ?? staged;
      if (!m) continue;
      const [, base, id] = m as unknown as [string, string, string];
      const full = path.join(nsDir, name);
      const data = path.join(nsDir, base);
      const rec = await recordOf(id);
      if (staged) {
        const stagedAgo = rec?.stagedAt ? now - Date.parse(rec.stagedAt) : Infinity;
        if (rec?.phase === 'committing') {
          // The swap had not moved the staged tree in: put the previous data back, keep it staged.
          const oldDir = transferPaths(data, id).old;
          if (!existsSync(data) && existsSync(oldDir)) {
            await rename(oldDir, data);
            await fsyncDir(nsDir);
            report.swapsRolledBack.push(`${ns.name}/${base}`);
          }
          await write(id, { ...rec, phase: 'staged' });
        } else if (rec?.phase !== 'staged' || stagedAgo > STAGED_MAX_AGE_MS) {
          await rm(full, { recursive: true, force: true });
          report.stagingRemoved++;
          if (rec?.phase === 'staged') await write(id, { ...rec, phase: 'aborted', message: 'never committed; removed after 7 days' });
        }
      } else if (rec?.phase === 'committed') {
        await rm(full, { recursive: true, force: true });
      } else if (rec?.phase === 'committing' && existsSync(data) && !existsSync(transferPaths(data, id).staging)) {
        // Both renames happened: the swap is complete, the previous data can go.
        const st = await stat(data);
        await write(id, { ...rec, phase: 'committed', committedAt: new Date(now).toISOString(), dev: st.dev, ino: st.ino });
        report.swapsFinished.push(`${ns.name}/${base}`);
        await rm(full, { recursive: true, force: true });
      }
      // (an old dir of a swap still under way — the staged tree not moved in — is put back above)
    }
  }
  // A swap interrupted after the staged tree moved in, when there was no previous data (no old dir).
  for (const name of await readdir(o.transfersRoot).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(o.transfersRoot, name);
    const id = name.slice(0, -5);
    const rec = await readJson<TransferRecord>(file);
    if (rec?.phase === 'committing' && existsSync(rec.dataDir) && !existsSync(transferPaths(rec.dataDir, id).staging)) {
      const st = await stat(rec.dataDir);
      await write(id, { ...rec, phase: 'committed', committedAt: new Date(now).toISOString(), dev: st.dev, ino: st.ino });
      report.swapsFinished.push(path.relative(o.serversRoot, rec.dataDir));
    }
    const s = await stat(file).catch(() => undefined);
    if (s && now - s.mtimeMs > STAGED_MAX_AGE_MS && rec?.phase !== 'staged') await rm(file, { force: true });
  }
  if (report.stagingRemoved || report.swapsFinished.length || report.swapsRolledBack.length) log.warn('cleaned up after interrupted transfers', { ...report });
  return report;
}
