// `gantry up` embedded with its local agent (real Docker) for e2e tests, with a running server on the
// test template, and the teardown that leaves no container or data dir behind.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startEmbedded, type Embedded, type UpOptions } from '../../bin/commands/up.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { until } from './wait.ts';
import { PACKAGE_ROOT } from '../../lib/package-files.ts';

const ROOT = PACKAGE_ROOT;
const run = promisify(execFile);

export interface LocalGantry {
  gantry: Embedded;
  dataDir: string;
  /** The GameServer `name` (default namespace) as stored now. */
  server(name: string): Promise<GameServer>;
  /** Creates a GameServer on the testgame template with state Running and waits until it runs. */
  runServer(name: string): Promise<GameServer>;
  /** Stops gantry, removes the containers of `servers` (also ones left by a restart) and the data dir. */
  stop(servers: string[]): Promise<void>;
}

/** Starts gantry (example manifests seeded, its local agent as `node`, a random port range) in a fresh data dir; waits for the node Online. */
export async function startLocalGantry(prefix: string, node: string, extra: Partial<UpOptions> = {}): Promise<LocalGantry> {
  const dataDir = await mkdtemp(path.join(tmpdir(), prefix));
  const gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: node }, ...extra });
  const server = async (name: string) => (await gantry.store.get('GameServer', 'default', name)) as unknown as GameServer;
  try {
    await until('the local node Online', async () => ((await gantry.store.get('GameNode', undefined, node)) as unknown as GameNode).status?.phase === 'Online');
    // Other suites may run servers on the same Docker engine at the same time: keep off their ports.
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    await gantry.store.patch('GameNode', undefined, node, { spec: { portRange: { start: base, end: base + 50 } } });
  } catch (err) {
    await gantry.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    gantry,
    dataDir,
    server,
    async runServer(name) {
      await gantry.store.create({
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'GameServer',
        metadata: { name, namespace: 'default' },
        spec: { templateRef: 'testgame', state: 'Running', resources: { memoryMb: 64, cpuCores: 0.5, diskMb: 50 } },
      });
      await until('the server running', async () => (await server(name)).status?.phase === 'running');
      return server(name);
    },
    async stop(servers) {
      const found = await Promise.all(servers.map((n) => server(n).catch(() => undefined)));
      await gantry.stop();
      for (const s of found) if (s?.status?.containerId) await run('docker', ['rm', '-f', s.status.containerId]).catch(() => undefined);
      for (const n of servers) await run('sh', ['-c', `docker ps -aq --filter label=gantry.dev/server-name=${n} | xargs -r docker rm -f`]).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
