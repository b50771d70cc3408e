// Backups and restores (agent/backups/) against GNU tar + gzip on the same data, in the same run.
//
//   node dist/bench/backups.js            (BENCH_BACKUP_MB=100 for a quick run; default 1024 = 1 GiB)
//   BENCH_RUNS (default 2): each operation runs this many times, interleaved with its reference; median.
//
// Data: a server-like directory of mixed files: 45 % incompressible (random "region" files of 4–12 MiB),
// 35 % compressible text (log lines), 20 % many small files (2–64 KiB, half random half text).
//
//   backup : BackupManager.createBackup — node-tar + zlib gzip (level 6, as gzip's default), sha256 of
//            the archive computed on the way, fsync, record, rename — vs `tar czf` (two processes: tar
//            and gzip -6 in a pipe, so two cores on a two-core machine).
//   restore: BackupManager.runRestore with truncate — extraction into a sibling temp dir with the strict
//            entry filter and sha256 check, the atomic swap, and removing the old tree — vs `tar xzf` into
//            an empty directory. Extraction alone (extractBackupArchive) is shown as well.
// Archive sizes are compared too (same gzip level: they should be within a few per cent).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BackupManager } from '../agent/backups/manager.ts';
import { extractBackupArchive } from '../agent/backups/archive.ts';
import { resolveDataDir } from '../agent/rpc-handlers.ts';
import { createLogger } from '../lib/log.ts';
import { fmt, median, num, ratio, runIfMain, sh, throughputRows } from './lib.ts';

const MiB = 1024 * 1024;

/** Deterministic-ish pseudo text: log lines with counters (compresses roughly like real logs). */
function textBlock(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `[${String(10 + (i % 14)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}] [Server thread/INFO]: Player${(seed * 31 + i) % 97} moved to ${i * 13 % 1000},${64 + (i % 30)},${(i * 17) % 1000} (chunk ${i % 4096})\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

export async function makeDataDir(dir: string, totalBytes: number): Promise<{ files: number }> {
  let files = 0;
  const put = async (rel: string, buf: Buffer) => {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), buf);
    files++;
  };
  let random = Math.floor(totalBytes * 0.45);
  for (let i = 0; random > 0; i++) {
    const size = Math.min(random, (4 + (i % 9)) * MiB);
    await put(`world/region/r.${i % 32}.${Math.floor(i / 32)}.mca`, randomBytes(size));
    random -= size;
  }
  let text = Math.floor(totalBytes * 0.35);
  for (let i = 0; text > 0; i++) {
    const size = Math.min(text, 2 * MiB + (i % 5) * 512 * 1024);
    await put(`logs/${2024 + (i % 3)}-${String(1 + (i % 12)).padStart(2, '0')}-${i}.log`, textBlock(size, i));
    text -= size;
  }
  let small = Math.floor(totalBytes * 0.2);
  for (let i = 0; small > 0; i++) {
    const size = Math.min(small, 2048 + ((i * 7919) % (62 * 1024)));
    await put(`plugins/p${i % 40}/data/${i}.${i % 2 ? 'dat' : 'yml'}`, i % 2 ? randomBytes(size) : textBlock(size, i));
    small -= size;
  }
  return { files };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function mustSh(cmd: string, args: string[]): Promise<void> {
  const r = await sh(cmd, args, 3600_000);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.out}`);
}

export async function run(): Promise<void> {
  const mb = num('BENCH_BACKUP_MB', 1024);
  const runs = num('BENCH_RUNS', 2);
  const root = await mkdtemp(path.join(tmpdir(), 'gantry-bench-backups-'));
  const serversRoot = path.join(root, 'agent/servers');
  const backupsRoot = path.join(root, 'agent/backups');
  const data = path.join(serversRoot, 'default/bench');
  const log = createLogger({ bench: 'backups' }, 'error');
  const mgr = new BackupManager({ serversRoot, backupsRoot, resolveDataDir: (d) => resolveDataDir(serversRoot, d), isRunning: async () => false, log, slowMs: 0 });
  try {
    const t0 = performance.now();
    const { files } = await makeDataDir(data, mb * MiB);
    const du = await sh('du', ['-sb', data]);
    const bytes = Number(du.out.split(/\s/)[0]);
    console.log(`data: ${fmt(bytes / MiB, 0)} MiB in ${fmt(files)} files (generated in ${fmt((performance.now() - t0) / 1000, 1)} s); ${runs} run(s) each, median`);
    await sh('sync', []);

    const backupMs: number[] = [];
    const tarCzfMs: number[] = [];
    const extractMs: number[] = [];
    const restoreMs: number[] = [];
    const tarXzfMs: number[] = [];
    let gantrySize = 0;
    let tarSize = 0;
    let lastSha = '';
    let lastBackup = '';
    for (let i = 0; i < runs; i++) {
      // backup vs tar czf (interleaved; archives removed between runs so the disk does not fill)
      const uid = `bench-${i}`;
      const b = await timed(() => mgr.createBackup({ uid: 'srv', backupUid: uid, dataDir: 'default/bench' }));
      backupMs.push(b.ms);
      gantrySize = b.value.sizeBytes;
      const tgz = path.join(root, `ref-${i}.tgz`);
      tarCzfMs.push((await timed(() => mustSh('tar', ['czf', tgz, '-C', data, '.']))).ms);
      tarSize = (await stat(tgz)).size;

      // extraction alone vs tar xzf, both into an empty directory
      const ex = path.join(root, 'extract');
      await mkdir(ex);
      extractMs.push((await timed(() => extractBackupArchive(b.value.path, ex, b.value.sha256))).ms);
      await rm(ex, { recursive: true, force: true });
      const tx = path.join(root, 'tarx');
      await mkdir(tx);
      tarXzfMs.push((await timed(() => mustSh('tar', ['xzf', tgz, '-C', tx]))).ms);
      await rm(tx, { recursive: true, force: true });

      // the full restore: extract + checksum + swap + remove the old tree
      restoreMs.push((await timed(() => mgr.runRestore({ uid: 'srv', restoreUid: `r-${i}`, dataDir: 'default/bench', backup: { serverUid: 'srv', backupUid: uid }, sha256: b.value.sha256, truncate: true }))).ms);

      await rm(tgz, { force: true });
      if (lastBackup) await mgr.deleteBackup(lastBackup, 'srv');
      lastBackup = uid;
      lastSha = b.value.sha256;
    }
    const row = throughputRows(bytes, { what: 34, ref: 10 });
    row('backup (archive+sha256+fsync)', median(backupMs), median(tarCzfMs), 'tar czf');
    row('extract (filter+sha256)', median(extractMs), median(tarXzfMs), 'tar xzf');
    row('restore (extract+swap+rm old)', median(restoreMs), median(tarXzfMs), 'tar xzf');
    console.log(`archive size: gantry ${fmt(gantrySize / MiB, 1)} MiB vs tar czf ${fmt(tarSize / MiB, 1)} MiB (${ratio(gantrySize, tarSize)}); last sha256 ${lastSha.slice(0, 12)}…`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
