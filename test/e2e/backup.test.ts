// Backup and Restore end to end: `gantry up` (controller + local agent child process + real Docker),
// the test game server writing /data/console.log and /data/saved, and the agent killed with -9 in the
// middle of a backup and of a restore. GANTRY_TEST_BACKUP_SLOW_MS slows archive streaming down
// (ms per 64 KiB) so the kill lands inside the job; small archives are barely affected.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, GameNode, GameServer, Restore } from '../../crds/types.ts';
import { until } from '../helpers/wait.ts';
import { treeSnapshot } from '../helpers/tree.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-backup';
const NS = 'default';
process.env.GANTRY_TEST_BACKUP_SLOW_MS = '40'; // inherited by the local agent (a child process)

const snapshot = (root: string) => treeSnapshot(root, { linkOwner: false });

describe('Backup and Restore end to end (real container, agent killed with -9)', () => {
  // Imported lazily so an unrelated module error elsewhere names itself in the failure.
  let gantry: Awaited<ReturnType<typeof import('../../bin/commands/up.ts').startEmbedded>>;
  let dataDir: string;
  let serverUid: string;
  const agentDir = () => path.join(dataDir, 'agent');
  const serverData = (name: string) => path.join(agentDir(), 'servers', NS, name);
  const get = async <T,>(kind: string, name: string) => (await gantry.store.get(kind, NS, name)) as unknown as T;
  const tryGet = <T,>(kind: string, name: string) => get<T>(kind, name).catch(() => undefined);
  const create = (kind: string, name: string, spec: Record<string, unknown>) => gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind, metadata: { name, namespace: NS }, spec });
  const phaseOf = async (kind: string, name: string) => (await tryGet<Backup | Restore | GameServer>(kind, name))?.status?.phase;
  const waitPhase = async <T extends Backup | Restore>(kind: string, name: string, phase: string, ms = 120_000): Promise<T> =>
    until(`${kind} ${name} ${phase}`, async () => {
      const o = await tryGet<T>(kind, name);
      if (o?.status?.phase && o.status.phase !== phase && ['completed', 'failed'].includes(o.status.phase)) throw new Error(`${kind} ${name} ended ${o.status.phase}: ${o.status.message}`);
      return o?.status?.phase === phase ? o : undefined;
    }, ms);
  const setState = async (state: 'Running' | 'Stopped') => {
    await gantry.store.patch('GameServer', NS, 'bk', { spec: { state } });
    await until(`bk ${state}`, async () => (await phaseOf('GameServer', 'bk')) === (state === 'Running' ? 'running' : 'stopped'));
  };
  const killAgent = async () => {
    const pid = gantry.localAgent!.pid!;
    process.kill(pid, 'SIGKILL');
    await until('the agent back (a new process, connected)', () => gantry.localAgent!.pid && gantry.localAgent!.pid !== pid && gantry.hub.isConnected(NODE));
  };

  beforeAll(async () => {
    const { startEmbedded } = await import('../../bin/commands/up.ts');
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-backup-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    await until('the node Online', async () => ((await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.allocatable?.memoryMb);
    // Other suites may run servers on the same Docker engine at the same time: keep off their ports.
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    await gantry.store.patch('GameNode', undefined, NODE, { spec: { portRange: { start: base, end: base + 50 } } });
    await create('GameServer', 'bk', { templateRef: 'testgame', state: 'Running', resources: { memoryMb: 96, cpuCores: 0.25, diskMb: 200 } });
    await until('bk running', async () => (await phaseOf('GameServer', 'bk')) === 'running');
    serverUid = (await get<GameServer>('GameServer', 'bk')).metadata.uid!;
  }, 180_000);

  afterAll(async () => {
    await gantry?.stop();
    if (serverUid) await run('sh', ['-c', `docker rm -f $(docker ps -aq --filter label=gantry.dev/server-uid=${serverUid}) 2>/dev/null || true`]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  let original: Record<string, string>;
  let backupPath: string;

  it('backs up a stopped server\'s data (console.log, saved) into an archive on the node, with its sha256', async () => {
    await gantry.hub.call(NODE, 'sendCommand', { uid: serverUid, line: 'say before the backup' });
    await until('console.log written', async () => (await readFile(path.join(serverData('bk'), 'console.log'), 'utf8')).includes('say before the backup'));
    await setState('Stopped');
    expect(existsSync(path.join(serverData('bk'), 'saved'))).toBe(true);
    original = await snapshot(serverData('bk'));

    await writeFile(path.join(serverData('bk'), 'junk.tmp'), 'ignored'); // left out of the archive: not restored below
    await create('Backup', 'bk-1', { serverRef: 'bk', ignore: ['*.tmp'] });
    const b = await waitPhase<Backup>('Backup', 'bk-1', 'completed');
    await rm(path.join(serverData('bk'), 'junk.tmp'), { force: true });
    backupPath = b.status!.path!;
    expect(backupPath).toBe(path.join(agentDir(), 'backups', serverUid, `${b.metadata.uid}.tar.gz`));
    const bytes = await readFile(backupPath);
    expect(b.status!.sizeBytes).toBe(bytes.length);
    expect(b.status!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(b.status).toMatchObject({ nodeName: NODE, startedAt: expect.any(String), completedAt: expect.any(String) });
    const events = await gantry.events.list({ namespace: NS, kind: 'Backup', name: 'bk-1' });
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['BackupStarted', 'BackupCompleted']));
  });

  it('refuses a Restore while the server runs, leaving its data alone', async () => {
    await setState('Running');
    await create('Restore', 'rs-running', { backupRef: 'bk-1', serverRef: 'bk' });
    const r = await waitPhase<Restore>('Restore', 'rs-running', 'failed');
    expect(r.status!.message).toMatch(/must be stopped before a restore/);
    await setState('Stopped');
  });

  it('restores byte for byte after the files changed, and the server starts again on the restored data', async () => {
    const d = serverData('bk');
    await writeFile(path.join(d, 'console.log'), 'overwritten\n');
    await rm(path.join(d, 'saved'));
    await writeFile(path.join(d, 'added-later'), 'x');
    expect(await snapshot(d)).not.toEqual(original);

    await create('Restore', 'rs-1', { backupRef: 'bk-1', serverRef: 'bk', truncate: true });
    const r = await waitPhase<Restore>('Restore', 'rs-1', 'completed');
    expect(r.status).toMatchObject({ nodeName: NODE, startedAt: expect.any(String), completedAt: expect.any(String) });
    expect(await snapshot(d)).toEqual(original);
    expect((await readdir(path.dirname(d))).filter((n) => n.startsWith('.'))).toEqual([]);
    // The container (created before the restore) sees the restored directory when it starts again.
    await setState('Running');
    const containerId = (await get<GameServer>('GameServer', 'bk')).status!.containerId!;
    const inside = (await run('docker', ['exec', containerId, 'cat', '/data/saved'])).stdout;
    expect(inside).toBe(await readFile(path.join(d, 'saved'), 'utf8'));
    expect((await run('docker', ['exec', containerId, 'ls', '/data'])).stdout).not.toMatch(/added-later/);
    await setState('Stopped');
  });

  it('refuses to restore an archive whose checksum does not match, and changes nothing', async () => {
    await create('Backup', 'bk-corrupt', { serverRef: 'bk' });
    const b = await waitPhase<Backup>('Backup', 'bk-corrupt', 'completed');
    const bytes = await readFile(b.status!.path!);
    bytes[bytes.length - 20] ^= 0x55; // inside the gzip trailer: still "a gzip file", but not the one recorded
    await writeFile(b.status!.path!, bytes);
    await writeFile(path.join(serverData('bk'), 'marker'), 'current data');
    const before = await snapshot(serverData('bk'));
    await create('Restore', 'rs-corrupt', { backupRef: 'bk-corrupt', serverRef: 'bk', truncate: true });
    const r = await waitPhase<Restore>('Restore', 'rs-corrupt', 'failed');
    expect(r.status!.message).toMatch(/sha256 .*expected/);
    expect(await snapshot(serverData('bk'))).toEqual(before);
  });

  it('marks a Backup failed when its agent is killed mid-backup, and the agent removes the partial file', async () => {
    // ~6 MiB of incompressible data: ~100 chunks of 64 KiB at 40 ms each, a window of seconds.
    await writeFile(path.join(serverData('bk'), 'big.bin'), randomBytes(6 * 1024 * 1024));
    await create('Backup', 'bk-kill', { serverRef: 'bk' });
    const uid = (await get<Backup>('Backup', 'bk-kill')).metadata.uid!;
    const partial = path.join(agentDir(), 'backups', serverUid, `${uid}.tar.gz.partial`);
    await until('the backup writing its partial file', () => existsSync(partial));
    await killAgent();
    const b = await waitPhase<Backup>('Backup', 'bk-kill', 'failed');
    expect(b.status!.message).toMatch(/agent disconnected during backup/);
    expect(b.status!.sha256).toBeUndefined();
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(path.join(agentDir(), 'backups', serverUid, `${uid}.tar.gz`))).toBe(false);
  });

  it('keeps the old data when the agent is killed mid-restore, and cleans up after itself', async () => {
    await create('Backup', 'bk-big', { serverRef: 'bk' });
    await waitPhase<Backup>('Backup', 'bk-big', 'completed');
    await writeFile(path.join(serverData('bk'), 'marker'), 'data after bk-big');
    await rm(path.join(serverData('bk'), 'big.bin'));
    const before = await snapshot(serverData('bk'));

    await create('Restore', 'rs-kill', { backupRef: 'bk-big', serverRef: 'bk', truncate: true });
    const uid = (await get<Restore>('Restore', 'rs-kill')).metadata.uid!;
    const tmpDir = path.join(path.dirname(serverData('bk')), `.bk.restore-${uid}`);
    await until('the restore extracting', () => existsSync(tmpDir));
    await killAgent();
    const r = await waitPhase<Restore>('Restore', 'rs-kill', 'failed');
    expect(r.status!.message).toMatch(/agent disconnected during restore/);
    expect(await snapshot(serverData('bk'))).toEqual(before);
    expect((await readdir(path.dirname(serverData('bk')))).filter((n) => n.startsWith('.'))).toEqual([]);

    // And a restore run to its end afterwards brings bk-big's data back.
    await create('Restore', 'rs-after', { backupRef: 'bk-big', serverRef: 'bk', truncate: true });
    await waitPhase<Restore>('Restore', 'rs-after', 'completed');
    expect(await readFile(path.join(serverData('bk'), 'marker'), 'utf8')).toBe('current data');
    expect(existsSync(path.join(serverData('bk'), 'big.bin'))).toBe(true);
  });

  it('deleting a Backup removes its archive (finalizer); a ttl deletes it after it completed', async () => {
    expect(existsSync(backupPath)).toBe(true);
    await gantry.store.delete('Backup', NS, 'bk-1');
    await until('bk-1 gone', async () => !(await tryGet('Backup', 'bk-1')));
    expect(existsSync(backupPath)).toBe(false);
    expect(existsSync(backupPath.replace(/\.tar\.gz$/, '.json'))).toBe(false);

    await create('Backup', 'bk-ttl', { serverRef: 'bk', ttl: '3s' });
    const b = await waitPhase<Backup>('Backup', 'bk-ttl', 'completed');
    expect(Date.parse(b.status!.expiresAt!) - Date.parse(b.status!.completedAt!)).toBe(3000);
    await until('bk-ttl expired and gone', async () => !(await tryGet('Backup', 'bk-ttl')));
    expect(existsSync(b.status!.path!)).toBe(false);
  });
});
