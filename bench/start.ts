// Start time of the `gantry` command, beside `node -e 0` measured in the same run.
//
//   node dist/bench/start.js      (BENCH_STARTS=5 for the median of 5; default 7)
//
//   (a) `gantry up` (bin/gantry: the shim, its build check, the compiled dist/) from spawn until
//       /healthz answers 200, on a data dir that already exists (a restart; the first start of a
//       fresh dir, which creates the database, JWT secret and SSH host key, is printed once too).
//       Local agent off (its start is the agent's, and it would adopt containers); SFTP on a free port.
//   (b) `gantry get gs` against that server (an access token in GANTRY_TOKEN): spawn to exit.
//   Each beside the floor `node -e 0`, and beside the same command run from the sources through tsx
//   (`node --import tsx bin/cli.ts`, how every process ran before dist/): what the build saves.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PACKAGE_ROOT as ROOT } from '../lib/package-files.ts';
import { TEST_ADMIN, adminEnv, loginHttp } from '../test/helpers/api.ts';
import { fmt, median, num, ratio, runIfMain } from './lib.ts';

const GANTRY = [path.join(ROOT, 'bin/gantry')];
const TSX = [process.execPath, '--disable-warning=ExperimentalWarning', '--import', path.join(ROOT, 'node_modules/tsx/dist/loader.mjs'), path.join(ROOT, 'bin/cli.ts')];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Milliseconds from spawn to exit; throws when the command fails. */
function timedRun(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${argv.join(' ')} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** `gantry up` until /healthz answers 200 (ms), then SIGTERM and wait for its exit. */
async function timedUp(argv: string[], dataDir: string): Promise<{ ms: number; url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = spawn(argv[0], [...argv.slice(1), 'up', '--port', String(port), '--host', '127.0.0.1', '--sftp-port', '0', '--no-agent', '--data-dir', dataDir], {
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn', ...adminEnv() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gantry up exited ${child.exitCode}: ${err.slice(-500)}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t0;
  return {
    ms,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function run(): Promise<void> {
  const n = num('BENCH_STARTS', 7);
  const dirs = { dist: await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-start-')), tsx: await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-start-tsx-')) };
  try {
    const floor: number[] = [];
    const up = { dist: [] as number[], tsx: [] as number[] };
    const get = { dist: [] as number[], tsx: [] as number[] };
    const first = { dist: 0, tsx: 0 };
    for (const v of ['dist', 'tsx'] as const) {
      const u = await timedUp(v === 'dist' ? GANTRY : TSX, dirs[v]);
      first[v] = u.ms;
      await u.stop();
    }
    // Interleaved, so load that comes and goes on the shared machine touches every figure alike.
    for (let i = 0; i < n; i++) {
      floor.push(await timedRun([process.execPath, '-e', '0']));
      for (const v of ['dist', 'tsx'] as const) {
        const argv = v === 'dist' ? GANTRY : TSX;
        const u = await timedUp(argv, dirs[v]);
        up[v].push(u.ms);
        const auth = await loginHttp(u.url, TEST_ADMIN);
        const env = { ...process.env, GANTRY_TOKEN: auth.authorization.slice('Bearer '.length), GANTRY_CONFIG_DIR: dirs[v] };
        get[v].push(await timedRun([...argv, 'get', 'gs', '-A', '--server', u.url], env));
        await u.stop();
      }
    }
    const f = median(floor);
    const ms = (x: number) => `${fmt(x)} ms`.padStart(8);
    console.log(`median of ${n}; machine load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    console.log(`    node -e 0 (floor)                           ${ms(f)}`);
    for (const [what, xs] of [['gantry up → /healthz 200 (restart)', up], ['gantry get gs', get]] as const) {
      const d = median(xs.dist);
      const t = median(xs.tsx);
      console.log(`    ${what.padEnd(40)}${ms(d)}   ${ratio(d, f)} node -e 0;  through tsx ${ms(t)} → ${ratio(d, t)} of it`);
    }
    console.log(`    gantry up → /healthz 200 (first start)      ${ms(first.dist)}   ${ratio(first.dist, f)} node -e 0;  through tsx ${ms(first.tsx)} → ${ratio(first.dist, first.tsx)} of it`);
  } finally {
    for (const d of Object.values(dirs)) await rm(d, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
