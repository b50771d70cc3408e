// A server's data dir moved between two real agents through the controller's hub (hub harness: store,
// enrolment, AgentHub on a real HTTP server; agent/agent.ts Agents on real Docker, real WebSockets,
// real files and node-tar): the relay, the target's verified swap and its durability, aborts that undo
// exactly their own commit, a target whose disk fills up (a real 4 MiB tmpfs), an archive entry escaping
// the tree (refused by the strict filter), and the agent's recovery after a kill in each phase.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { recoverTransferState, TransferManager, transferPaths } from '../../agent/transfers/manager.ts';
import { RelayError } from '../../controller/hub/files/hub-files.ts';
import { ByteStreams, type StreamControl } from '../../lib/byte-streams.ts';
import { createLogger } from '../../lib/log.ts';
import { treeSnapshot } from '../helpers/tree.ts';
import { eventually, startHarness, type Harness } from './hub-harness.ts';

const run = promisify(execFile);
const RUN = randomBytes(4).toString('hex');
const UID = `c0ffee00-${RUN}-4000-8000-000000000001`;
const log = createLogger({ test: 'transfer-agents' }, 'error');
const MB = 1024 * 1024;

let h: Harness;
const agents: Agent[] = [];
const dirs: string[] = [];
let tmpfs: string | undefined;

async function startAgent(node: string, dataDir?: string): Promise<{ agent: Agent; dataDir: string }> {
  const cred = await h.enrolledNode(node);
  const dir = dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `gantry-tr-${node}-`)));
  if (!dataDir) dirs.push(dir);
  const agent = new Agent({ panel: h.url, credential: cred.credential, nodeName: node, dataDir: dir, log, scopeLabels: { 'gantry.test.run': RUN }, connection: { backoff: { initialMs: 50, maxMs: 500 } } });
  agents.push(agent);
  await agent.start();
  await eventually(() => h.hub.isConnected(node), `${node} connected`);
  return { agent, dataDir: dir };
}

/** A data dir with what a game leaves behind, and what must not travel. */
async function gameData(root: string, bigMb = 3): Promise<void> {
  await mkdir(path.join(root, 'world/region'), { recursive: true });
  await writeFile(path.join(root, 'world/level.dat'), randomBytes(bigMb * MB));
  await writeFile(path.join(root, 'world/region/r.0.0.mca'), randomBytes(256 * 1024));
  await writeFile(path.join(root, 'server.properties'), 'motd=moved\n', { mode: 0o640 });
  await writeFile(path.join(root, 'secret.key'), 'k', { mode: 0o600 });
  await mkdir(path.join(root, 'empty'), { mode: 0o750 });
  await symlink('world/level.dat', path.join(root, 'level-link'));
  await symlink('world', path.join(root, 'world-link'));
  await symlink('../../../../etc/passwd', path.join(root, 'escape-rel'));
  await symlink('/etc/passwd', path.join(root, 'escape-abs'));
  await run('mkfifo', [path.join(root, 'pipe')]);
  await writeFile(path.join(root, 'hard-a'), 'same inode\n');
  await link(path.join(root, 'hard-a'), path.join(root, 'hard-b'));
  await chmod(path.join(root, 'world'), 0o755);
}

/** What must arrive: everything but the escaping links and the FIFO (hard links arrive as two files). */
const movable = (snap: Record<string, string>) => Object.fromEntries(Object.entries(snap).filter(([k]) => !['escape-rel', 'escape-abs', 'pipe'].includes(k)));

describe('transfer between two agents through the hub', () => {
  let a: { agent: Agent; dataDir: string };
  let b: { agent: Agent; dataDir: string };
  const dataOf = (x: { dataDir: string }) => path.join(x.dataDir, 'servers/default/mc');
  const relay = (transferId: string, source = 'tr-a', target = 'tr-b') => h.hub.files.relayData({ source, target, uid: UID, transferId, dataDir: 'default/mc' });
  const commit = (node: string, transferId: string, sha256: string) => h.hub.call(node, 'transfer.commit', { uid: UID, transferId, dataDir: 'default/mc', sha256 });
  const abort = (node: string, transferId: string) => h.hub.call(node, 'transfer.abort', { uid: UID, transferId, dataDir: 'default/mc' });

  beforeAll(async () => {
    h = await startHarness();
    a = await startAgent('tr-a');
    b = await startAgent('tr-b');
    await gameData(dataOf(a));
  }, 60_000);

  afterAll(async () => {
    for (const x of agents) await x.stop();
    await h?.close();
    if (tmpfs) await run('umount', [tmpfs]).catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('streams the tree, staged beside the target\'s data dir; commit verifies and swaps it in: byte for byte, modes and inner symlinks kept', async () => {
    const before = await treeSnapshot(dataOf(a));
    const sourceFiles = await treeSnapshot(a.dataDir);
    const { sent, received } = await relay('aaa1');
    expect(received).toEqual({ sha256: sent.sha256, bytes: sent.bytes, entries: sent.entries });
    expect(sent.bytes).toBeGreaterThan(3 * MB);
    expect(sent.skippedCount).toBe(3);
    expect(sent.skipped.sort()).toEqual(['escape-abs', 'escape-rel', 'pipe']);
    // Nothing written on the source (no temp file), nothing in place on the target before the commit.
    expect(await treeSnapshot(a.dataDir)).toEqual(sourceFiles);
    expect(existsSync(dataOf(b))).toBe(false);
    expect(existsSync(transferPaths(dataOf(b), 'aaa1').staging)).toBe(true);

    expect(await commit('tr-b', 'aaa1', sent.sha256)).toMatchObject({ committedAt: expect.any(String) });
    expect(await treeSnapshot(dataOf(b))).toEqual(movable(before));
    expect((await stat(path.join(dataOf(b), 'hard-b'))).nlink).toBe(1);
    expect((await readdir(path.dirname(dataOf(b)))).filter((n) => n.startsWith('.'))).toEqual([]);
    // Idempotent: a commit repeated (an answer lost on the way) says done and changes nothing.
    expect(await commit('tr-b', 'aaa1', sent.sha256)).toMatchObject({ committedAt: expect.any(String) });
  });

  it('a sha256 other than what arrived is refused at commit: the data dir stays as it was, the staged tree goes', async () => {
    const current = await treeSnapshot(dataOf(b));
    await writeFile(path.join(dataOf(a), 'server.properties'), 'motd=changed on the source\n');
    const { sent } = await relay('bbb2');
    await expect(commit('tr-b', 'bbb2', 'f'.repeat(64))).rejects.toMatchObject({ code: 'checksum_mismatch' });
    expect(await treeSnapshot(dataOf(b))).toEqual(current);
    expect(existsSync(transferPaths(dataOf(b), 'bbb2').staging)).toBe(false);
    await expect(commit('tr-b', 'bbb2', sent.sha256)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('an abort undoes only its own commit: a later transfer\'s data dir is never removed by an older abort', async () => {
    const { sent } = await relay('ccc3');
    await commit('tr-b', 'ccc3', sent.sha256);
    expect(await abort('tr-b', 'aaa1')).toEqual({ removedStaging: false, removedData: false });
    expect(existsSync(path.join(dataOf(b), 'server.properties'))).toBe(true);
    expect(await abort('tr-b', 'ccc3')).toEqual({ removedStaging: false, removedData: true });
    expect(existsSync(dataOf(b))).toBe(false);
    // Before a commit, an abort removes the staged tree.
    await relay('ddd4');
    expect(await abort('tr-b', 'ddd4')).toEqual({ removedStaging: true, removedData: false });
    expect(await readdir(path.dirname(dataOf(b)))).toEqual([]);
  });

  it('the target running out of disk: the relay fails with no_space blamed on the target, nothing left behind on either side', async () => {
    tmpfs = await mkdtemp(path.join(os.tmpdir(), 'gantry-tr-small-'));
    dirs.push(tmpfs);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', tmpfs]);
    const c = await startAgent('tr-c', tmpfs);
    const err = await relay('eee5', 'tr-a', 'tr-c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayError);
    expect(err).toMatchObject({ side: 'target', nodeName: 'tr-c', code: 'no_space' });
    expect((err as Error).message).toMatch(/ran out of disk space/);
    expect(await readdir(path.join(c.dataDir, 'servers/default'))).toEqual([]);
    expect(h.hub.files.active).toBe(0);
    // The source is fine and can send again.
    const { sent } = await relay('fff6');
    await abort('tr-b', 'fff6');
    expect(sent.skippedCount).toBe(3);
  });

  it('a source that cannot send (no data dir) fails the relay blamed on the source; the target removes its staging dir', async () => {
    const err = await h.hub.files.relayData({ source: 'tr-a', target: 'tr-b', uid: UID, transferId: 'ggg7', dataDir: 'default/none' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ side: 'source', nodeName: 'tr-a', code: 'not_found' });
    await eventually(async () => !existsSync(transferPaths(path.join(b.dataDir, 'servers/default/none'), 'ggg7').staging), 'the staging dir removed');
  });
});

describe('the target\'s strict filter', () => {
  it('refuses the whole transfer at an entry escaping the tree, and removes what it had extracted', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'gantry-tr-strict-'));
    dirs.push(root);
    // A controller end and an agent end joined in memory (the bytes are real tar, the files real).
    let agentEnd!: ByteStreams;
    const controllerEnd = new ByteStreams({ control: (m: StreamControl) => (queueMicrotask(() => agentEnd.onControl(m)), true), data: (f) => (queueMicrotask(() => agentEnd.onData(f)), true) });
    agentEnd = new ByteStreams({ control: (m: StreamControl) => (queueMicrotask(() => controllerEnd.onControl(m)), true), data: (f) => (queueMicrotask(() => controllerEnd.onData(f)), true) });
    const m = new TransferManager({ serversRoot: path.join(root, 'servers'), transfersRoot: path.join(root, 'transfers'), resolveDataDir: async (d) => path.join(root, 'servers', d), isRunning: async () => false, streams: agentEnd, log });
    const entry = (p: string, type: 'File' | 'Directory' | 'SymbolicLink', body = '', linkpath?: string) => {
      const hdr = new Header({ path: p, type, mode: type === 'Directory' ? 0o755 : 0o644, size: type === 'File' ? body.length : 0, mtime: new Date(), ...(linkpath ? { linkpath } : {}) });
      hdr.encode();
      const pad = body.length % 512 ? 512 - (body.length % 512) : 0;
      return Buffer.concat([hdr.block!, Buffer.from(body), Buffer.alloc(pad)]);
    };
    for (const [name, evil] of [['abs', entry('./evil', 'SymbolicLink', '', '/etc')], ['rel', entry('./sub/evil', 'SymbolicLink', '', '../../outside')], ['dotdot', entry('../outside.txt', 'File', 'x')]] as const) {
      const tarball = Buffer.concat([entry('./', 'Directory'), entry('./ok.txt', 'File', 'fine'), entry('./sub/', 'Directory'), evil, Buffer.alloc(1024)]);
      const receiving = m.receive({ uid: UID, transferId: `s${name}`, dataDir: `ns/${name}`, streamId: 7 });
      const sending = controllerEnd.send(7, Readable.from([tarball]), { credit: 0 }).catch((e: unknown) => e);
      await expect(receiving, name).rejects.toMatchObject({ code: 'unsafe_archive' });
      await sending;
      expect(await readdir(path.join(root, 'servers/ns'))).toEqual([]);
    }
    expect(existsSync(path.join(root, 'outside.txt'))).toBe(false);
  });
});

describe('recovery at agent start', () => {
  it('removes half-received trees, keeps staged ones, finishes or undoes an interrupted swap', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'gantry-tr-recover-'));
    dirs.push(root);
    const servers = path.join(root, 'servers');
    const records = path.join(root, 'transfers');
    const ns = path.join(servers, 'default');
    await mkdir(records, { recursive: true });
    const record = (id: string, rec: object) => writeFile(path.join(records, `${id}.json`), JSON.stringify({ uid: UID, ...rec }));
    const dir = async (p: string, marker: string) => {
      await mkdir(p, { recursive: true });
      await writeFile(path.join(p, 'marker'), marker);
    };
    // cut off mid-stream: no record
    await dir(transferPaths(path.join(ns, 'half'), 'h1').staging, 'partial');
    // staged, waiting for a commit
    await dir(transferPaths(path.join(ns, 'staged'), 's1').staging, 'staged');
    await record('s1', { phase: 'staged', dataDir: path.join(ns, 'staged'), stagedAt: new Date().toISOString() });
    // killed between `data → old` and `staged → data`: the previous data goes back, the tree stays staged
    await dir(transferPaths(path.join(ns, 'mid'), 'm1').staging, 'new');
    await dir(transferPaths(path.join(ns, 'mid'), 'm1').old, 'previous');
    await record('m1', { phase: 'committing', dataDir: path.join(ns, 'mid'), stagedAt: new Date().toISOString() });
    // killed after `staged → data` (no previous data): committed
    await dir(path.join(ns, 'done'), 'new');
    await record('d1', { phase: 'committing', dataDir: path.join(ns, 'done') });
    // killed after both renames, with previous data: committed, the old tree removed
    await dir(path.join(ns, 'both'), 'new');
    await dir(transferPaths(path.join(ns, 'both'), 'b1').old, 'previous');
    await record('b1', { phase: 'committing', dataDir: path.join(ns, 'both') });

    const report = await recoverTransferState({ serversRoot: servers, transfersRoot: records, log });
    expect(report.stagingRemoved).toBe(1);
    expect(report.swapsRolledBack).toEqual(['default/mid']);
    expect(report.swapsFinished.sort()).toEqual(['default/both', 'default/done']);
    expect((await readdir(ns)).sort()).toEqual(['.mid.transfer-m1', '.staged.transfer-s1', 'both', 'done', 'mid'].sort());
    expect(await readFile(path.join(ns, 'mid/marker'), 'utf8')).toBe('previous');
    const rec = async (id: string) => JSON.parse(await readFile(path.join(records, `${id}.json`), 'utf8'));
    expect(await rec('m1')).toMatchObject({ phase: 'staged' });
    expect(await rec('d1')).toMatchObject({ phase: 'committed', ino: (await stat(path.join(ns, 'done'))).ino });
    expect(await rec('b1')).toMatchObject({ phase: 'committed' });
    // Run twice: nothing more to do.
    expect(await recoverTransferState({ serversRoot: servers, transfersRoot: records, log })).toEqual({ stagingRemoved: 0, swapsFinished: [], swapsRolledBack: [] });
  });
});
