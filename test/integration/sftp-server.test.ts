// The SFTP server over the real hub and a real agent process (files-agent-child.ts: the agent's
// connection, RPC dispatcher, confined file handlers and byte streams), without Docker. The client is
// ssh2's own, to reach what OpenSSH's batch client does not: seeks, out-of-order writes, open flags,
// a cut connection in the middle of an upload. test/e2e/sftp.test.ts covers OpenSSH end to end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2, { type SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SftpServer } from '../../api/sftp/server.ts';
import { signIn } from '../helpers/api.ts';
import { eventually, startHarness, type Harness } from './hub-harness.ts';
import { compiledPath } from '../../lib/package-files.ts';

const STATUS = ssh2.utils.sftp.STATUS_CODE;
const PASSWORD = 'correct horse battery';

let h: Harness;
let base: string;
let data: string;
let child: ChildProcess;
let sftpServer: SftpServer;
let adminToken: string;

interface Session {
  conn: ssh2.Client;
  sftp: SFTPWrapper;
  closed: Promise<void>;
}

function connect(username: string, password: string): Promise<Session> {
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    const closed = new Promise<void>((r) => conn.on('close', () => r()));
    conn.on('error', reject);
    conn.on('ready', () => conn.sftp((err, sftp) => (err ? reject(err) : resolve({ conn, sftp, closed }))));
    conn.connect({ host: '127.0.0.1', port: sftpServer.port, username, password, tryKeyboard: false });
  });
}

/** The SFTP status code of a failed call (or 'ok'). */
const codeOf = (p: Promise<unknown>): Promise<number | 'ok'> => p.then(() => 'ok' as const, (e: { code?: number }) => e.code ?? -1);
const p = <T,>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> => new Promise((res, rej) => fn((err, v) => (err ? rej(err) : res(v as T))));

beforeAll(async () => {
  h = await startHarness();
  const cred = await h.enrolledNode('node-a');
  base = await mkdtemp(path.join(os.tmpdir(), 'gantry-sftp-int-'));
  data = path.join(base, 'servers/default/srv');
  await mkdir(data, { recursive: true });
  await writeFile(path.join(base, 'outside-secret'), 'top secret\n');
  child = spawn(process.execPath, [compiledPath('test/integration/files-agent-child.ts')], {
    env: { ...process.env, PANEL: h.url, CREDENTIAL: cred.credential, SERVERS_ROOT: path.join(base, 'servers'), GANTRY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`agent child exited with ${code}`)));
  });
  await eventually(() => h.hub.isConnected('node-a'), 'agent connected');
  await h.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'srv', namespace: 'default' }, spec: { templateRef: 'testgame', nodeName: 'node-a' } });
  // Admitted, as the scheduler would (files are where the data is: status.nodeName).
  await h.env.store.patchStatus('GameServer', 'default', 'srv', { nodeName: 'node-a' });
  sftpServer = new SftpServer({ svc: h.api, dataDir: base, serverCacheMs: 0 });
  await sftpServer.start({ port: 0, host: '127.0.0.1' });
  adminToken = h.admin.token;
}, 60_000);

afterAll(async () => {
  await sftpServer?.stop();
  child?.kill('SIGTERM');
  await h?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('SFTP server over the hub and a real agent', () => {
  it('uploads through many writes and reads back with seeks', async () => {
    const s = await connect('srv', adminToken);
    const blob = randomBytes(1024 * 1024 + 77);
    await p<void>((cb) => s.sftp.writeFile('/big.bin', blob, cb));
    expect((await readFile(path.join(data, 'big.bin'))).equals(blob)).toBe(true);
    expect((await p<Buffer>((cb) => s.sftp.readFile('/big.bin', cb))).equals(blob)).toBe(true);

    const handle = await p<Buffer>((cb) => s.sftp.open('/big.bin', 'r', cb));
    const readAt = (pos: number, len: number) =>
      new Promise<Buffer>((res, rej) => s.sftp.read(handle, Buffer.alloc(len), 0, len, pos, (err, n, buf) => (err ? rej(err) : res(buf.subarray(0, n)))));
    expect((await readAt(500_000, 1000)).equals(blob.subarray(500_000, 501_000))).toBe(true); // forward skip
    expect((await readAt(10, 100)).equals(blob.subarray(10, 110))).toBe(true); // backwards: reopened
    expect((await readAt(blob.length - 7, 100)).equals(blob.subarray(blob.length - 7))).toBe(true); // far ahead: reopened, short at the end
    expect((await p<ssh2.Stats>((cb) => s.sftp.fstat(handle, cb))).size).toBe(blob.length);
    await p<void>((cb) => s.sftp.close(handle, cb));
    s.conn.end();
  });

  it('refuses out-of-order writes and leaves nothing behind', async () => {
    const s = await connect('srv', adminToken);
    const handle = await p<Buffer>((cb) => s.sftp.open('/sparse.bin', 'w', cb));
    const write = (pos: number, buf: Buffer) => p<void>((cb) => s.sftp.write(handle, buf, 0, buf.length, pos, cb));
    await write(0, Buffer.from('hello'));
    expect(await codeOf(write(100, Buffer.from('world')))).toBe(STATUS.OP_UNSUPPORTED);
    expect(await codeOf(p<void>((cb) => s.sftp.close(handle, cb)))).not.toBe('ok');
    expect(existsSync(path.join(data, 'sparse.bin'))).toBe(false);
    expect((await readdir(data)).filter((n) => n.startsWith('.gantry-tmp-'))).toEqual([]);
    s.conn.end();
  });

  it('a connection cut mid-upload writes nothing', async () => {
    const s = await connect('srv', adminToken);
    const handle = await p<Buffer>((cb) => s.sftp.open('/cut.bin', 'w', cb));
    await p<void>((cb) => s.sftp.write(handle, Buffer.alloc(64 * 1024, 1), 0, 64 * 1024, 0, cb));
    s.conn.end();
    await s.closed;
    await eventually(async () => (await readdir(data)).filter((n) => n.startsWith('.gantry-tmp-')).length === 0, 'temp file removed');
    expect(existsSync(path.join(data, 'cut.bin'))).toBe(false);
  });

  it('open flags: exclusive create, no create, append, a missing parent', async () => {
    const s = await connect('srv', adminToken);
    await writeFile(path.join(data, 'exists.txt'), 'x');
    expect(await codeOf(p((cb) => s.sftp.open('/exists.txt', 'wx', cb)))).toBe(STATUS.FAILURE);
    expect(await codeOf(p((cb) => s.sftp.open('/exists.txt', 'a', cb)))).toBe(STATUS.OP_UNSUPPORTED);
    expect(await codeOf(p((cb) => s.sftp.open('/exists.txt', 'r+', cb)))).toBe(STATUS.OP_UNSUPPORTED);
    expect(await codeOf(p((cb) => s.sftp.open('/no/such/dir.txt', 'w', cb)))).toBe(STATUS.NO_SUCH_FILE);
    expect(existsSync(path.join(data, 'no'))).toBe(false);
    expect(await codeOf(p((cb) => s.sftp.open('/missing.txt', 'r', cb)))).toBe(STATUS.NO_SUCH_FILE);
    s.conn.end();
  });

  it('stat, lstat, readdir, realpath, chmod, readlink, rename onto an existing name, rmdir of a non-empty dir', async () => {
    const s = await connect('srv', adminToken);
    await mkdir(path.join(data, 'dir'), { recursive: true });
    await writeFile(path.join(data, 'dir/a.txt'), 'aaa');
    await symlink('dir/a.txt', path.join(data, 'inner-link'));
    expect(await p<string>((cb) => s.sftp.realpath('../../..', cb))).toBe('/');
    expect(await p<string>((cb) => s.sftp.realpath('dir/../dir/./x', cb))).toBe('/dir/x');
    const st = await p<ssh2.Stats>((cb) => s.sftp.stat('/inner-link', cb));
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(3);
    expect((await p<ssh2.Stats>((cb) => s.sftp.lstat('/inner-link', cb))).isSymbolicLink()).toBe(true);
    expect(await p<string>((cb) => s.sftp.readlink('/inner-link', cb))).toBe('dir/a.txt');
    const list = await p<ssh2.FileEntry[]>((cb) => s.sftp.readdir('/dir', cb));
    expect(list.map((e) => e.filename)).toEqual(['a.txt']);
    expect(list[0]!.longname).toMatch(/^-rw-r--r-- +1 gantry +gantry +3 \w{3} [ \d]\d /);
    await p<void>((cb) => s.sftp.chmod('/dir/a.txt', 0o600, cb));
    expect((await stat(path.join(data, 'dir/a.txt'))).mode & 0o777).toBe(0o600);
    // chmod never goes through a link (the agent refuses).
    expect(await codeOf(p<void>((cb) => s.sftp.chmod('/inner-link', 0o777, cb)))).toBe(STATUS.FAILURE);
    await writeFile(path.join(data, 'b.txt'), 'b');
    expect(await codeOf(p<void>((cb) => s.sftp.rename('/b.txt', '/dir/a.txt', cb)))).toBe(STATUS.FAILURE);
    expect(await readFile(path.join(data, 'dir/a.txt'), 'utf8')).toBe('aaa');
    expect(await codeOf(p<void>((cb) => s.sftp.rmdir('/dir', cb)))).toBe(STATUS.FAILURE);
    expect(await codeOf(p<void>((cb) => s.sftp.unlink('/dir', cb)))).toBe(STATUS.FAILURE);
    expect(existsSync(path.join(data, 'dir/a.txt'))).toBe(true);
    expect(await codeOf(p<void>((cb) => s.sftp.symlink('/etc/passwd', '/mine', cb)))).toBe(STATUS.OP_UNSUPPORTED);
    s.conn.end();
  });

  it('escapes are refused: .., an outside symlink (stat, read, write), and audited', async () => {
    const s = await connect('srv', adminToken);
    await symlink(path.join(base, 'outside-secret'), path.join(data, 'leak'));
    expect(await codeOf(p((cb) => s.sftp.stat('/../outside-secret', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await codeOf(p((cb) => s.sftp.open('/../../outside-secret', 'r', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await codeOf(p((cb) => s.sftp.stat('/leak', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await codeOf(p((cb) => s.sftp.open('/leak', 'r', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await codeOf(p((cb) => s.sftp.open('/leak', 'w', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await readFile(path.join(base, 'outside-secret'), 'utf8')).toBe('top secret\n');
    const refused = await h.api.audit.list({ action: 'sftp.refused' });
    expect(refused.filter((e) => e.resourceId === 'srv' && e.status === 403).length).toBeGreaterThanOrEqual(4);
    s.conn.end();
  });

  it('per-operation permissions: revoked grant, deleted user, logout of a token session', async () => {
    const u = await signIn(h.api, 'sub1', ['user'], PASSWORD);
    await h.api.accounts.setServerGrant('default', 'srv', u.userId, ['file.read']);
    const s = await connect('sub1.srv', PASSWORD);
    expect(await codeOf(p((cb) => s.sftp.readdir('/', cb)))).toBe('ok');
    expect(await codeOf(p((cb) => s.sftp.open('/new.txt', 'w', cb)))).toBe(STATUS.PERMISSION_DENIED);
    expect(await codeOf(p((cb) => s.sftp.unlink('/exists.txt', cb)))).toBe(STATUS.PERMISSION_DENIED);
    await h.api.accounts.removeServerGrant('default', 'srv', u.userId);
    expect(await codeOf(p((cb) => s.sftp.readdir('/', cb)))).toBe(STATUS.PERMISSION_DENIED);
    await h.api.accounts.deleteUser(u.userId);
    await s.closed; // the server ends the connection

    const v = await signIn(h.api, 'sub2', ['user'], PASSWORD);
    await h.api.accounts.setServerGrant('default', 'srv', v.userId, ['file.read']);
    const t = await connect('srv', v.token);
    expect(await codeOf(p((cb) => t.sftp.readdir('/', cb)))).toBe('ok');
    await h.api.accounts.revokeAllSessions(v.userId, 'logout');
    await t.closed;
  });

  it('a connection that never logs in is closed after the grace time', async () => {
    const graceful = new SftpServer({ svc: h.api, dataDir: base, loginGraceMs: 300 });
    await graceful.start({ port: 0, host: '127.0.0.1' });
    try {
      const sock = net.connect(graceful.port, '127.0.0.1');
      sock.on('data', () => undefined);
      await new Promise<void>((r) => sock.on('close', () => r()));
      expect(graceful.connections).toBe(0);
    } finally {
      await graceful.stop();
    }
  });

  it('login refusals: wrong password, unknown server, token for another server, suspended', async () => {
    await expect(connect('admin.srv', 'wrong')).rejects.toThrow(/authentication/i);
    await expect(connect('srv', 'not-a-token')).rejects.toThrow(/authentication/i);
    await expect(connect('nope', adminToken)).rejects.toThrow(/authentication/i);
    const sid = h.api.accounts.listSessions(h.admin.userId)[0]!.id;
    const { token } = await h.api.auth.tokens.sign('sftp', { userId: h.admin.userId, sid, scope: { serverId: 'other' } });
    await expect(connect('srv', token)).rejects.toThrow(/authentication/i);
    const good = await h.api.auth.tokens.sign('sftp', { userId: h.admin.userId, sid, scope: { serverId: 'srv' } });
    (await connect('srv', good.token)).conn.end();
    await h.env.store.patch('GameServer', 'default', 'srv', { spec: { suspended: true } });
    await expect(connect('srv', good.token)).rejects.toThrow(/authentication/i);
    await h.env.store.patch('GameServer', 'default', 'srv', { spec: { suspended: false } });
    const reasons = (await h.api.audit.list({ action: 'sftp.refused' })).filter((e) => e.metadata.op === 'login').map((e) => e.metadata.reason);
    expect(reasons).toEqual(expect.arrayContaining(['invalid_credentials', 'server_not_found', 'token_scope', 'suspended']));
  });
});
