// kill -9 of `gantry up` in the middle of a reconcile: after a restart there is exactly one
// container for the server and the state converges. The local agent dies with it (its lifeline)
// and comes back with the new process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.ts';
import { adminEnv, loginHttp } from '../helpers/api.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);
const BASE = '/k8s/apis/gantry.dev/v1alpha1/namespaces/default/gameservers';

interface Up {
  proc: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

async function startUp(dataDir: string): Promise<Up> {
  const proc = spawn(GANTRY, ['up', '--port', '0', '--sftp-port', '0', '--host', '127.0.0.1', '--node-name', 'e2e-crash', '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'info', ...adminEnv() },
  });
  const exited = new Promise((r) => proc.on('exit', r));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"msg":"gantry is up".*?"url":"([^"]+)"/.exec(buf);
      if (m) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`gantry up exited: ${buf.slice(-500)}`)));
  });
  return { proc, url, exited };
}

const containersOf = async (uid: string) =>
  (await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${uid}`])).stdout.split('\n').filter(Boolean);

describe('kill -9 of the controller mid-reconcile', () => {
  let dataDir = '';
  let up: Up | undefined;
  let uid = '';
  let auth: Record<string, string> = {};

  afterAll(async () => {
    if (up && up.proc.exitCode === null) {
      up.proc.kill('SIGTERM');
      await up.exited;
    }
    if (uid) await run('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${uid}) 2>/dev/null || true`]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('leaves no duplicate container and converges after the restart', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-crash-'));
    up = await startUp(dataDir);
    const url = up.url;
    auth = await loginHttp(url);
    await until('the local node Online', async () => {
      const n = (await (await fetch(`${url}/k8s/apis/gantry.dev/v1alpha1/gamenodes/e2e-crash`, { headers: auth })).json()) as { status?: { phase?: string; allocatable?: unknown } };
      return n.status?.phase === 'Online' && n.status.allocatable;
    });
    const res = await fetch(`${url}${BASE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ metadata: { name: 'survivor' }, spec: { templateRef: 'testgame', state: 'Running', resources: { memoryMb: 96, cpuCores: 0.25, diskMb: 50 } } }),
    });
    expect(res.status).toBe(201);
    uid = ((await res.json()) as { metadata: { uid: string } }).metadata.uid;

    // The moment the container exists, the reconcile that created it is still running (start and
    // the status write come after): that is when the controller dies.
    await until('the container to be created', async () => (await containersOf(uid)).length > 0, 60_000);
    up.proc.kill('SIGKILL');
    await up.exited;

    up = await startUp(dataDir);
    const url2 = up.url;
    const server = await until('phase running after the restart', async () => {
      const s = (await (await fetch(`${url2}${BASE}/survivor`, { headers: auth })).json()) as { status?: { phase?: string; containerId?: string } };
      return s.status?.phase === 'running' ? s : undefined;
    }, 120_000);
    const containers = await containersOf(uid);
    expect(containers).toHaveLength(1);
    expect(server.status!.containerId!.startsWith(containers[0])).toBe(true);
  });
});
