// Transfers between nodes end to end: `gantry up` (controller, API, its local agent as node A) and
// second and third agents as their own processes (`gantry agent`, nodes B and C), all on the one real
// Docker engine, the test game server's data moved through the controller. The happy path (data byte
// for byte, symlinks inside kept, host ports re-allocated from the target's range, one container,
// grants, backups and tasks working after the move), then every failure the issue lists — target
// offline before the start, target killed with -9 mid-stream, source killed with -9 mid-stream, a
// checksum mismatch (GANTRY_TEST_TRANSFER_CORRUPT_AT), a full disk (a real 4 MiB tmpfs), the
// controller restarted mid-transfer — each ending back on the source, data intact, a clear condition,
// nothing left behind, exactly one container; and a last move that completes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../bin/commands/up.ts';
import type { Backup, GameNode, GameServer } from '../../crds/types.ts';
import { CORRUPT_ENV, SLOW_ENV } from '../../agent/transfers/manager.ts';
import { signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { treeSnapshot } from '../helpers/tree.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY_BIN = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);
const RUN = randomBytes(3).toString('hex');
const A = `e2e-tra-${RUN}`;
const B = `e2e-trb-${RUN}`;
const C = `e2e-trc-${RUN}`;
const ID = `tr-${RUN}`;
const MB = 1024 * 1024;
/** Slow enough on B's sends (ms per 64 KiB) that a kill lands mid-stream: ~6 MiB take ~3 s. */
const SLOW = { [SLOW_ENV]: '30' };

describe('transfers between nodes (three agents on one engine, kill -9, a full disk, a controller restart)', () => {
  let gantry: Embedded;
  let dataDir: string;
  let port: number;
  let admin: SignedIn;
  let bob: SignedIn;
  let uid: string;
  const base = 30_000 + Math.floor(Math.random() * 250) * 100;
  const ranges: Record<string, { start: number; end: number }> = { [A]: { start: base, end: base + 30 }, [B]: { start: base + 40, end: base + 70 }, [C]: { start: base + 80, end: base + 99 } };
  const dirs: Record<string, string> = {};
  const agents = new Map<string, ChildProcess>();
  let tmpfs: string | undefined;

  const serverDir = (node: string) => path.join(node === A ? path.join(dataDir, 'agent') : dirs[node]!, 'servers/default', ID);
  const leftovers = async (node: string) => (await readdir(path.dirname(serverDir(node))).catch(() => [] as string[])).filter((n) => n.startsWith('.'));
  const get = async () => (await gantry.store.get('GameServer', 'default', ID)) as unknown as GameServer;
  const transferred = (s: GameServer) => s.status?.conditions?.find((c) => c.type === 'Transferred');
  const api = async (who: SignedIn, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${gantry.url}${p}`, { method, headers: { 'content-type': 'application/json', ...who.headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined, headers: res.headers };
  };
  const power = async (action: 'start' | 'stop') => {
    const r = await api(admin, 'POST', `/api/servers/${ID}/${action}?wait=true&waitSeconds=120`);
    expect(r.body, JSON.stringify(r.body)).toMatchObject({ success: true, reached: true });
  };
  /** The node labels of every container of the server on the engine. */
  const containerNodes = async () => (await run('docker', ['ps', '-a', '--filter', `label=gantry.dev/server-uid=${uid}`, '--format', '{{.Label "gantry.dev/node"}}'])).stdout.split('\n').filter(Boolean);
  const oneContainerOn = (node: string) => until(`exactly one container, on ${node}`, async () => JSON.stringify(await containerNodes()) === JSON.stringify([node]), 60_000);
  /** No transfer under way or cleaning up, spec and status on one node. */
  const settled = () =>
    until('the transfer settled', async () => {
      const s = await get();
      return !s.status?.transfer && s.spec?.nodeName === s.status?.nodeName && s.status?.phase !== 'transferring' && !(s.metadata.finalizers ?? []).includes('gantry.dev/transfer') ? s : undefined;
    }, 180_000);

  async function spawnAgent(node: string, env: Record<string, string> = {}): Promise<void> {
    const dir = dirs[node]!;
    const token = existsSync(path.join(dir, 'credential.json')) ? {} : { GANTRY_TOKEN_DEPLOY: (await gantry.nodes.issueDeploymentToken(node, 600_000)).token };
    const child = spawn(GANTRY_BIN, ['agent', '--panel', gantry.url, '--data-dir', dir], { env: { ...process.env, ...token, ...env, GANTRY_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'] });
    agents.set(node, child);
    await until(`${node} connected`, () => gantry.hub.node(node)?.synced && gantry.hub.isConnected(node), 60_000);
    await until(`${node} Online`, async () => ((await gantry.store.get('GameNode', undefined, node)) as unknown as GameNode).status?.phase === 'Online');
  }
  async function stopAgent(node: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = agents.get(node);
    agents.delete(node);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
  async function addNode(node: string, spec: Record<string, unknown> = {}): Promise<void> {
    dirs[node] ??= await mkdtemp(path.join(tmpdir(), `gantry-e2e-${node}-`));
    await gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: node }, spec: { address: '127.0.0.1', portRange: ranges[node], ...spec } });
  }
  async function up(): Promise<void> {
    const { startEmbedded } = await import('../../bin/commands/up.ts');
    gantry = await startEmbedded({ dataDir, port, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: A } });
    port = gantry.port;
    admin = await signInAdmin(gantry.api);
    await until(`${A} Online`, async () => ((await gantry.store.get('GameNode', undefined, A)) as unknown as GameNode).status?.phase === 'Online' && gantry.hub.node(A)?.synced);
  }
  const transfer = (target: string, wait = true) => api(admin, 'POST', `/api/servers/${ID}/transfer${wait ? '?wait=true&waitSeconds=180' : ''}`, { targetNodeId: target });
  /** Starts a transfer and runs `during` once the target's staging dir exists (the stream is under way). */
  async function midStream(from: string, to: string, during: () => Promise<void>): Promise<void> {
    expect((await transfer(to, false)).body).toMatchObject({ success: true, message: 'Server transfer initiated', server: { previousNode: from, targetNode: to } });
    await until(`the data streaming into ${to}`, async () => (await leftovers(to)).some((n) => n.includes('.transfer-')), 60_000);
    await during();
  }
  /** A rolled-back transfer: back on `source` with its data as it was, `reason` in the condition, nothing left on `target`. */
  async function expectRolledBack(source: string, target: string, reason: string, message: RegExp, before: Record<string, string>): Promise<void> {
    const s = await settled();
    expect(s.status?.nodeName).toBe(source);
    expect(transferred(s)).toMatchObject({ status: 'False', reason });
    expect(transferred(s)!.message).toMatch(message);
    expect(transferred(s)!.message).toMatch(new RegExp(`the server stays on node ${source} with its data$`));
    expect(await treeSnapshot(serverDir(source))).toEqual(before);
    await until(`nothing left on ${target}`, async () => (await leftovers(target)).length === 0 && !existsSync(serverDir(target)), 60_000);
    await oneContainerOn(source);
    expect((await gantry.events.list({ namespace: 'default', kind: 'GameServer', name: ID })).some((e) => e.reason === 'TransferFailed' && e.message.includes(reason === 'TargetDiskFull' ? 'disk space' : ''))).toBe(true);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-transfer-'));
    port = 0;
    await up();
    await gantry.store.patch('GameNode', undefined, A, { spec: { portRange: ranges[A] } });
    await addNode(B);
    await spawnAgent(B, SLOW);
    // The server, made through the API on node A, run once (console.log, saved), then stopped.
    const created = await api(admin, 'POST', '/api/servers', { id: ID, name: 'Transfer test', templateId: 'testgame', nodeId: A, allocatedMemoryMb: 64, allocatedCpuCores: 0.25, allocatedDiskMb: 500 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    uid = created.body.data.uuid;
    await until('installed on A', async () => (await get()).status?.phase === 'stopped' && (await containerNodes()).length === 1, 120_000);
    await power('start');
    expect((await api(admin, 'POST', `/api/servers/${ID}/command`, { command: 'say before the move' })).status).toBe(200);
    await until('console.log written', () => existsSync(path.join(serverDir(A), 'console.log')));
    await power('stop');
    const d = serverDir(A);
    await mkdir(path.join(d, 'world/region'), { recursive: true });
    await writeFile(path.join(d, 'world/big.bin'), randomBytes(6 * MB));
    await writeFile(path.join(d, 'world/region/r.0.0.mca'), randomBytes(64 * 1024));
    await writeFile(path.join(d, 'ops.json'), '[]\n', { mode: 0o600 });
    await symlink('world/big.bin', path.join(d, 'latest-world'));
    await symlink('/etc', path.join(d, 'host-etc')); // points outside: never moved
    bob = await signIn(gantry.api, `bob-${RUN}`);
    expect((await api(admin, 'POST', `/api/servers/${ID}/subusers`, { userId: bob.userId, permissions: ['server.read', 'file.read', 'backup.read'] })).status).toBe(201);
  }, 300_000);

  afterAll(async () => {
    for (const node of [...agents.keys()]) await stopAgent(node, 'SIGTERM');
    await gantry?.stop();
    if (uid) await run('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${uid}) 2>/dev/null || true`]);
    if (tmpfs) await run('umount', [tmpfs]).catch(() => undefined);
    for (const d of [...Object.values(dirs), dataDir]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('refuses a target that is offline before the start: 400 from the API, and a YAML edit is rolled back with a clear condition', async () => {
    await stopAgent(B, 'SIGTERM');
    await until(`${B} offline`, () => !gantry.hub.isConnected(B));
    const before = await treeSnapshot(serverDir(A));
    expect(await transfer(B)).toMatchObject({ status: 400, body: { message: `Target node ${B} is offline`, reason: 'target_offline' } });
    // The declarative way: spec.nodeName edited as a manifest or kubectl would.
    await gantry.store.patch('GameServer', 'default', ID, { spec: { nodeName: B } });
    const s = await until('refused and set back', async () => {
      const x = await get();
      return x.spec?.nodeName === A && transferred(x)?.reason === 'TargetOffline' ? x : undefined;
    });
    expect(transferred(s)!.message).toBe(`transfer from ${A} to ${B} refused: node ${B} is offline; spec.nodeName is set back to ${A}`);
    expect((await settled()).status?.phase).toBe('stopped');
    expect(await treeSnapshot(serverDir(A))).toEqual(before);
    await oneContainerOn(A);
    await spawnAgent(B, SLOW);
  });

  it('moves the data A → B: byte for byte, inner symlinks kept, ports from B\'s range, one container; grants, backups and tasks work after', async () => {
    const original = await treeSnapshot(serverDir(A));
    const oldBackup = await api(admin, 'POST', `/api/servers/${ID}/backups?wait=true`, { name: 'before-move' });
    expect(oldBackup.body).toMatchObject({ success: true, message: 'Backup completed' });
    const task = await api(admin, 'POST', '/api/tasks', { name: 'yearly backup', serverId: ID, action: 'backup', schedule: '0 0 1 1 *' });
    expect(task.status).toBe(201);

    const r = await transfer(B);
    expect(r.body, JSON.stringify(r.body)).toMatchObject({ success: true, message: 'Server transferred successfully', reached: true, server: { id: ID, previousNode: A, currentNode: B, targetNode: B } });
    const s = await settled();
    expect(s.status?.nodeName).toBe(B);
    expect(transferred(s)).toMatchObject({ status: 'True', reason: 'TransferCompleted' });
    expect(transferred(s)!.message).toMatch(new RegExp(`^moved from node ${A} to node ${B} \\(\\d+ bytes, \\d+ entries, sha256 [0-9a-f]{64}\\); 1 entry was not moved \\(.*: host-etc\\)$`));
    const { ['host-etc']: _outside, ...movable } = original;
    expect(await treeSnapshot(serverDir(B))).toEqual(movable);
    expect(existsSync(serverDir(A))).toBe(false);
    expect([...(await leftovers(A)), ...(await leftovers(B))]).toEqual([]);
    await oneContainerOn(B);
    const hostPort = s.status!.ports!.find((p) => p.primary)!.hostPort!;
    expect(hostPort).toBeGreaterThanOrEqual(ranges[B]!.start);
    expect(hostPort).toBeLessThanOrEqual(ranges[B]!.end);

    // It runs on B, on its moved data, reachable on the new port.
    await power('start');
    const containerId = (await get()).status!.containerId!;
    expect((await run('docker', ['exec', containerId, 'cat', '/data/console.log'])).stdout).toMatch(/say before the move/);
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(hostPort, '127.0.0.1', () => (sock.end(), resolve()));
      sock.once('error', reject);
    });
    await power('stop');

    // A subuser's grant is keyed by the server's uid, which did not change.
    expect((await api(bob, 'GET', `/api/servers/${ID}`)).status).toBe(200);
    // The backup taken on A stays on A: listed, downloadable while A is online, not restorable here.
    const backups = await api(admin, 'GET', `/api/servers/${ID}/backups`);
    expect(backups.body.data.map((b: { name: string }) => b.name)).toContain('before-move');
    const download = await fetch(`${gantry.url}/api/servers/${ID}/backups/${oldBackup.body.backupId}/download`, { headers: admin.headers });
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(Number(download.headers.get('content-length')));
    const restore = await api(admin, 'POST', `/api/servers/${ID}/backups/${oldBackup.body.backupId}/restore`, {});
    expect(restore).toMatchObject({ status: 409, body: { reason: 'cross_node' } });
    // New backups and scheduled tasks happen on B.
    expect((await api(admin, 'POST', `/api/tasks/${task.body.data.id}/execute`)).status).toBe(200);
    const scheduled = await until('the task\'s backup completed', async () => {
      const list = (await gantry.store.list('Backup', { namespace: 'default' })).items as unknown as Backup[];
      return list.find((b) => b.metadata.labels?.['gantry.dev/schedule'] && b.spec?.serverRef === ID && b.status?.phase === 'completed');
    }, 120_000);
    expect(scheduled.status?.nodeName).toBe(B);
  });

  it('rolls back when the target\'s agent is killed with -9 mid-stream', async () => {
    const before = await treeSnapshot(serverDir(B));
    const pid = gantry.localAgent!.pid!;
    await midStream(B, A, async () => void process.kill(pid, 'SIGKILL'));
    await until('the local agent back', () => gantry.localAgent!.pid && gantry.localAgent!.pid !== pid && gantry.hub.isConnected(A), 60_000);
    await expectRolledBack(B, A, 'TargetUnreachable', new RegExp(`the agent of node ${A} disconnected during the transfer`), before);
  });

  it('rolls back when the source\'s agent is killed with -9 mid-stream', async () => {
    const before = await treeSnapshot(serverDir(B));
    await midStream(B, A, () => stopAgent(B, 'SIGKILL'));
    const s = await until('rolled back', async () => (transferred(await get())?.reason === 'SourceUnreachable' ? get() : undefined), 60_000);
    expect(s.spec?.nodeName).toBe(B);
    await spawnAgent(B, SLOW);
    await expectRolledBack(B, A, 'SourceUnreachable', new RegExp(`the agent of node ${B} disconnected during the transfer`), before);
  });

  it('rolls back when the data arrives damaged: the target\'s checksum catches it and nothing is swapped in', async () => {
    await stopAgent(B, 'SIGTERM');
    await spawnAgent(B, { [CORRUPT_ENV]: String(3 * MB) });
    const before = await treeSnapshot(serverDir(B));
    const r = await transfer(A);
    expect(r.body).toMatchObject({ success: true, message: 'Server transfer failed', reached: false, reason: 'ChecksumMismatch' });
    await expectRolledBack(B, A, 'ChecksumMismatch', new RegExp(`the data reached node ${A} damaged .*sha256`), before);
    await stopAgent(B, 'SIGTERM');
    await spawnAgent(B, SLOW);
  });

  it('rolls back when the target\'s disk fills up (a 4 MiB tmpfs), leaving nothing there', async () => {
    tmpfs = await mkdtemp(path.join(tmpdir(), `gantry-e2e-${C}-`));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tmpfs]);
    dirs[C] = tmpfs;
    // The operator declares more disk than the file system has (overcommit): the fit passes, the disk does not.
    await addNode(C, { capacity: { memoryMb: 4096, cpuCores: 2, diskMb: 100_000 } });
    await spawnAgent(C);
    const before = await treeSnapshot(serverDir(B));
    const r = await transfer(C);
    expect(r.body).toMatchObject({ reached: false, reason: 'TargetDiskFull' });
    await expectRolledBack(B, C, 'TargetDiskFull', new RegExp(`node ${C} ran out of disk space`), before);
    await stopAgent(C, 'SIGTERM');
  });

  it('rolls back when the controller restarts mid-transfer', async () => {
    const before = await treeSnapshot(serverDir(B));
    await midStream(B, A, async () => {
      // As in a crash: the controllers stop deciding at once (the move's job dies unanswered with the
      // process), then everything else goes; a new controller starts on the same data.
      await gantry.manager.stop();
      await gantry.stop();
      await up();
    });
    await until(`${B} reconnected`, () => gantry.hub.isConnected(B), 90_000);
    await expectRolledBack(B, A, 'ControllerRestarted', /the controller restarted during the transfer/, before);
  });

  it('after all that, a move B → A completes: the data on A, ports from A\'s range, the copy on B gone', async () => {
    const before = await treeSnapshot(serverDir(B));
    const r = await transfer(A);
    expect(r.body).toMatchObject({ message: 'Server transferred successfully', server: { currentNode: A } });
    const s = await settled();
    expect(await treeSnapshot(serverDir(A))).toEqual(before);
    expect(existsSync(serverDir(B))).toBe(false);
    await oneContainerOn(A);
    const hostPort = s.status!.ports!.find((p) => p.primary)!.hostPort!;
    expect(hostPort).toBeGreaterThanOrEqual(ranges[A]!.start);
    expect(hostPort).toBeLessThanOrEqual(ranges[A]!.end);
  });
});
