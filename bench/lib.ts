// Small helpers every benchmark uses: sizes from the environment, medians, number formats, ratios, a shell.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { compiledPath } from '../lib/package-files.ts';

/** A positive integer from the environment (e.g. BENCH_SERVERS), else the default. */
export const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : dflt;
};

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** `a / b` printed as a ratio, e.g. `0.92×`. */
export const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

/**
 * A printer of "ours vs reference" rows for `bytes` of data: seconds, MiB/s and the time ratio, the
 * columns padded to `what` and `ref` characters.
 */
export function throughputRows(bytes: number, widths: { what: number; ref: number }): (what: string, oursMs: number, refMs: number, refName: string) => void {
  const rate = (ms: number) => `${fmt(bytes / MB / (ms / 1000), 0)} MiB/s`;
  return (what, ours, ref, refName) =>
    console.log(`${what.padEnd(widths.what)} ${fmt(ours / 1000, 2).padStart(7)} s (${rate(ours).padStart(9)})   ${refName.padEnd(widths.ref)} ${fmt(ref / 1000, 2).padStart(7)} s (${rate(ref).padStart(9)})   ${ratio(ours, ref)} the time`);
}

/** Runs a command; never throws (code 1 on any failure, output of both streams). */
export function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }));
  });
}

/** Runs the benchmark when its file is the entry point (`node dist/bench/NAME.js`), not when imported by run.ts. */
export function runIfMain(moduleUrl: string, run: () => Promise<void>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(path.resolve(process.argv[1])).href) return;
  run().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}

export const MB = 1024 * 1024;

/** A byte count from /proc/<pid>/status (VmRSS, VmHWM, …). */
export const procStatus = (pid: number | 'self', key: string): number =>
  Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** Resets the process's peak RSS (VmHWM) to its current RSS, so a later VmHWM is the peak of what follows. */
export const resetPeakRss = (pid: number | 'self'): void => writeFileSync(`/proc/${pid}/clear_refs`, '5');

/** Writes `sizeMb` MiB of random bytes to `file`, then syncs (so the write does not spill into a timing). */
export async function writeRandomFile(file: string, sizeMb: number): Promise<void> {
  const block = randomBytes(MB);
  const w = createWriteStream(file);
  for (let i = 0; i < sizeMb; i++) if (!w.write(block)) await new Promise<void>((r) => w.once('drain', () => r()));
  await new Promise<void>((r) => w.end(() => r()));
  await sh('sync', []);
}

/** Seconds a command took; throws (`<what> failed: output`) when it fails. */
export async function timedSh(cmd: string, args: string[], timeoutMs: number, what = cmd): Promise<number> {
  const t0 = performance.now();
  const r = await sh(cmd, args, timeoutMs);
  const s = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`${what} failed: ${r.out}`);
  return s;
}

/** A real agent process serving files (test/integration/files-agent-child.ts, compiled), connected to `panel`. */
export function spawnFilesAgent(o: { panel: string; credential: string; serversRoot: string; maxUploadBytes: number; nodeFlags?: string[] }): ChildProcess {
  return spawn(process.execPath, [...(o.nodeFlags ?? []), compiledPath('test/integration/files-agent-child.ts')], {
    env: { ...process.env, PANEL: o.panel, CREDENTIAL: o.credential, SERVERS_ROOT: o.serversRoot, MAX_UPLOAD_BYTES: String(o.maxUploadBytes), GANTRY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
