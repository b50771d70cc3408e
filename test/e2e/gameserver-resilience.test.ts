// The reconcile loop under the cases that break panels: one-shot restarts, crash loops, an agent
// killed with -9, port collisions, deletion keeping data, and a GameServer arriving as a YAML file.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-resilience';

describe('GameServer reconciliation: the hard cases', () => {
  let gantry: Embedded;
  let dataDir: string;
  const get = async (name: string) => (await gantry.store.get('GameServer', 'default', name)) as unknown as GameServer;
  const phase = async (name: string) => (await get(name).catch(() => undefined))?.status?.phase;
  const create = (name: string, spec: Record<string, unknown>) =>
    gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', resources: { memoryMb: 96, cpuCores: 0.25, diskMb: 50 }, ...spec } });
  const startedAt = async (id: string) => JSON.parse((await run('docker', ['inspect', id])).stdout)[0].State.StartedAt as string;
  const condition = (s: GameServer, type: string) => s.status?.conditions?.find((c) => c.type === type);

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-res-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    await until('the node Online', async () => ((await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.allocatable?.memoryMb);
  });

  afterAll(async () => {
    const { items } = await gantry.store.list('GameServer');
    await gantry?.stop(); // first, so no controller restarts what is removed below
    for (const s of items) {
      const uid = s.metadata.uid;
      await run('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${uid}) 2>/dev/null || true`]);
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('applies a GameServer YAML from the manifests directory into a running container', async () => {
    await writeFile(
      path.join(gantry.manifests.dir, 'servers.yaml'),
      'apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata:\n  name: from-yaml\n  namespace: default\nspec:\n  templateRef: testgame\n  state: Running\n  resources: {memoryMb: 96, cpuCores: 0.25, diskMb: 50}\n',
    );
    await until('from-yaml running', async () => (await phase('from-yaml')) === 'running');
  });

  it('handles restartedAt exactly once', async () => {
    const before = (await get('from-yaml')).status!;
    const t1 = await startedAt(before.containerId!);
    const at = new Date().toISOString();
    await gantry.store.patch('GameServer', 'default', 'from-yaml', { spec: { restartedAt: at } });
    const after = await until('the restart handled', async () => {
      const s = await get('from-yaml');
      return s.status?.handledRestartedAt === at && s.status.phase === 'running' ? s : undefined;
    });
    const t2 = await startedAt(after.status!.containerId!);
    expect(t2).not.toBe(t1);
    // Nothing more happens: a second reconcile of the same trigger must not restart again.
    gantry.manager.controller('gameserver')!.enqueue('default/from-yaml');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await startedAt(after.status!.containerId!)).toBe(t2);
    const events = await gantry.events.list({ namespace: 'default', kind: 'GameServer', name: 'from-yaml' });
    expect(events.filter((e) => e.reason === 'Restarting').reduce((n, e) => n + (e.count ?? 1), 0)).toBe(1);
  });

  it('keeps a server running while its agent is killed with -9, and adopts it without a restart', async () => {
    const s = await get('from-yaml');
    const t1 = await startedAt(s.status!.containerId!);
    const pid = gantry.localAgent!.pid!;
    process.kill(pid, 'SIGKILL');
    await until('NodeReachable=False', async () => condition(await get('from-yaml'), 'NodeReachable')?.status === 'False');
    expect(await startedAt(s.status!.containerId!)).toBe(t1);
    await until('the agent back (a new process)', () => gantry.localAgent!.pid && gantry.localAgent!.pid !== pid && gantry.hub.isConnected(NODE));
    await until('NodeReachable=True and running', async () => {
      const g = await get('from-yaml');
      return condition(g, 'NodeReachable')?.status === 'True' && g.status?.phase === 'running';
    });
    expect(await startedAt(s.status!.containerId!)).toBe(t1);
  });

  it('counts crashes with back-off and stops at maxCrashCount', async () => {
    await create('crashy', { state: 'Running', environment: { BOOT_EXIT_CODE: '5' }, restartPolicy: { policy: 'on-failure', maxCrashCount: 2 } });
    const s = await until('crashed for good', async () => {
      const g = await get('crashy');
      return g.status?.phase === 'crashed' && g.status.crashCount === 2 && condition(g, 'Ready')?.reason === 'CrashLimitReached' ? g : undefined;
    }, 120_000);
    expect(s.status!.exitCode).toBe(5);
    const reasons = (await gantry.events.list({ namespace: 'default', kind: 'GameServer', name: 'crashy' })).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['CrashLoopBackOff', 'CrashLimitReached']));
  });

  it('refuses a second server asking for a host port already taken, and says why', async () => {
    const port = (await get('from-yaml')).status!.ports!.find((p) => p.primary)!.hostPort!;
    await create('port-thief', { state: 'Running', nodeName: NODE, ports: [{ containerPort: 25565, hostPort: port }] });
    const s = await until('Scheduled=False', async () => {
      const g = await get('port-thief');
      return condition(g, 'Scheduled')?.status === 'False' ? g : undefined;
    });
    expect(condition(s, 'Scheduled')!.message).toMatch(new RegExp(`port ${port}/TCP on node ${NODE} is already used by default/from-yaml`));
    expect(s.status?.containerId).toBeUndefined();
    // And it stays so: the lifecycle controller must not start an unadmitted server.
    gantry.manager.controller('gameserver')!.enqueue('default/port-thief');
    await new Promise((r) => setTimeout(r, 2000));
    const later = await get('port-thief');
    expect(condition(later, 'Scheduled')?.status).toBe('False');
    expect(later.status?.containerId).toBeUndefined();
    await gantry.store.delete('GameServer', 'default', 'port-thief');
    await until('port-thief gone', async () => !(await get('port-thief').catch(() => undefined)));
  });

  it('keeps the data on delete when asked to', async () => {
    await gantry.store.patch('GameServer', 'default', 'crashy', { spec: { keepDataOnDelete: true } });
    await gantry.store.delete('GameServer', 'default', 'crashy');
    await until('crashy gone', async () => !(await get('crashy').catch(() => undefined)));
    expect(existsSync(path.join(dataDir, 'agent/servers/default/crashy'))).toBe(true);
  });
});
