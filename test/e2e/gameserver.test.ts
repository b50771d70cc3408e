// The reconcile loop end to end: GameServer resources written to the store become real containers
// through the scheduler, the GameServer controller, the hub and a real local agent process.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { until } from '../helpers/wait.ts';
import { httpGet } from '../helpers/net.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-reconcile';

describe('GameServer reconciliation with real Docker', () => {
  let gantry: Embedded;
  let dataDir: string;
  const get = async () => (await gantry.store.get('GameServer', 'default', 'e2e')) as unknown as GameServer;
  const patch = (spec: Record<string, unknown>) => gantry.store.patch('GameServer', 'default', 'e2e', { spec });
  const inspect = async (id: string) => JSON.parse((await run('docker', ['inspect', id])).stdout)[0];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-gs-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    await until('the local node Online and Ready', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
  });

  afterAll(async () => {
    const s = await get().catch(() => undefined);
    await gantry?.stop(); // first, so no controller restarts what is removed below
    if (s?.status?.containerId) await run('docker', ['rm', '-f', s.status.containerId]).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('schedules, installs nothing, creates and starts; running after the ready line; the port answers', async () => {
    await gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name: 'e2e', namespace: 'default' },
      spec: { templateRef: 'testgame', state: 'Running', resources: { memoryMb: 128, cpuCores: 0.5, diskMb: 100 }, environment: { MOTD: 'first' } },
    });
    const s = await until('phase running', async () => ((await get()).status?.phase === 'running' ? get() : undefined));
    expect(s.spec!.nodeName).toBe(NODE);
    expect(s.status!.nodeName).toBe(NODE);
    expect(s.metadata.finalizers).toContain('gantry.dev/cleanup');
    const port = s.status!.ports!.find((p) => p.primary)!.hostPort!;
    expect(port).toBeGreaterThanOrEqual(27000);
    expect(await httpGet(port)).toMatch(/200 OK/);
    const info = await inspect(s.status!.containerId!);
    expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(info.Config.Env).toContain('MOTD=first');
    const conditions = Object.fromEntries(s.status!.conditions!.map((c) => [c.type, c.status]));
    expect(conditions).toMatchObject({ Scheduled: 'True', Ready: 'True', NodeReachable: 'True' });
  });

  it('recreates the container with a changed environment at the next restart', async () => {
    const before = (await get()).status!.containerId!;
    await patch({ environment: { MOTD: 'second' } });
    await until('UpToDate=False', async () => (await get()).status?.conditions?.some((c) => c.type === 'UpToDate' && c.status === 'False'));
    await patch({ restartedAt: new Date().toISOString() });
    const s = await until('a new running container', async () => {
      const g = await get();
      return g.status?.phase === 'running' && g.status.containerId !== before ? g : undefined;
    });
    expect((await inspect(s.status!.containerId!)).Config.Env).toContain('MOTD=second');
  });

  it('stops gracefully through the stop command when state turns Stopped', async () => {
    await patch({ state: 'Stopped' });
    // The phase follows the stop at once; the exit code arrives with the agent's observation of the exit.
    const s = await until('phase stopped with its exit code', async () => {
      const g = await get();
      return g.status?.phase === 'stopped' && g.status.exitCode !== undefined ? g : undefined;
    });
    expect(s.status!.exitCode).toBe(0);
    expect(existsSync(path.join(dataDir, 'agent/servers/default/e2e/saved'))).toBe(true);
  });

  it('counts a crash and restarts after the back-off', async () => {
    await patch({ state: 'Running' });
    const s = await until('running again', async () => ((await get()).status?.phase === 'running' ? get() : undefined));
    await gantry.hub.call(NODE, 'sendCommand', { uid: s.metadata.uid!, line: 'crash' });
    const crashed = await until('crash counted', async () => ((await get()).status?.crashCount === 1 ? get() : undefined));
    expect(crashed.status!.exitCode).toBe(3);
    await until('restarted after the back-off', async () => (await get()).status?.phase === 'running', 60_000);
    const events = await gantry.events.list({ namespace: 'default', kind: 'GameServer', name: 'e2e' });
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Crashed']));
  });

  it('deletes through the finalizer: container and data removed, then the object goes', async () => {
    const s = await get();
    await gantry.store.delete('GameServer', 'default', 'e2e');
    await until('the object gone', async () => !(await get().catch(() => undefined)));
    const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${s.metadata.uid}`]);
    expect(ps.stdout.trim()).toBe('');
    expect(existsSync(path.join(dataDir, 'agent/servers/default/e2e'))).toBe(false);
  });
});
