// SFTP end to end with the real OpenSSH client (sshpass + sftp -b) against `gantry up` embedded:
// controller, SFTP server, local agent child process, real Docker and the test image. Every byte goes
// client → SFTP server → agent hub → agent → the server's data directory and back.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { signIn, signInAdmin } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = 'e2e-sftp';
const NS = 'default';
const SRV = 'sftp1';
const OTHER = 'sftp2';
const PASSWORD = 'correct horse battery';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('SFTP with the OpenSSH client', () => {
  let gantry: Embedded;
  let dataDir: string;
  let local: string;
  let adminToken: string;
  const serverData = (name = SRV) => path.join(gantry.dataDir, 'agent', 'servers', NS, name);
  const getServer = async (name: string) => (await gantry.store.get('GameServer', NS, name)) as unknown as GameServer;

  const sshArgs = (user: string) => [
    '-e', 'sftp', '-oBatchMode=no', '-oPubkeyAuthentication=no', '-oStrictHostKeyChecking=no', '-oUserKnownHostsFile=/dev/null',
    '-oLogLevel=ERROR', '-oNumberOfPasswordPrompts=1', '-P', String(gantry.sftp!.port),
  ].concat(['-b', '-', `${user}@127.0.0.1`]);

  /** Runs `sftp -b -` with the commands on stdin (the password in SSHPASS, not argv). */
  const sftp = (user: string, password: string, commands: string[], cwd = local): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn('sshpass', sshArgs(user), { cwd, env: { ...process.env, SSHPASS: password }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(commands.join('\n') + '\n');
    });

  const createServer = async (name: string) => {
    await gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name, namespace: NS },
      spec: { templateRef: 'testgame', state: 'Running', resources: { memoryMb: 96, cpuCores: 0.25, diskMb: 200 } },
    });
    await until(`${name} running`, async () => (await getServer(name)).status?.phase === 'running', 120_000);
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-sftp-'));
    local = path.join(dataDir, 'local');
    await mkdir(local);
    gantry = await startEmbedded({
      dataDir: path.join(dataDir, 'gantry'),
      port: 0,
      host: '127.0.0.1',
      sftpPort: 0,
      seedDir: path.join(ROOT, 'manifests/examples'),
      localAgent: { nodeName: NODE },
      // The wrong-password tests below must not trip the per-IP limit, except the one testing it.
      apiLimits: { authPerMinute: 12 },
    });
    await until('the local node Online', async () => ((await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.phase === 'Online');
    await createServer(SRV);
    await createServer(OTHER);
    // An SFTP token, not the access token: an administrator's access token carries every permission
    // name and is ~1400 characters, over the 1023 OpenSSH reads as a password (it truncates silently).
    const admin = await signInAdmin(gantry.api);
    const sid = gantry.api.accounts.listSessions(admin.userId)[0]!.id;
    adminToken = (await gantry.api.auth.tokens.sign('sftp', { userId: admin.userId, sid, scope: { serverId: SRV } })).token;
  }, 240_000);

  afterAll(async () => {
    const ids = await Promise.all([SRV, OTHER].map((n) => getServer(n).then((s) => s.status?.containerId, () => undefined)));
    await gantry?.stop();
    for (const id of ids) if (id) await new Promise((r) => spawn('docker', ['rm', '-f', id]).on('close', r));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('put, ls, get (byte for byte), mkdir, rename, rm — as the admin with an SFTP token', async () => {
    const blob = randomBytes(700 * 1024 + 123); // many 32 KiB READs/WRITEs, and a partial last one
    await writeFile(path.join(local, 'blob.bin'), blob);
    const r = await sftp(SRV, adminToken, ['put blob.bin', 'ls -l', 'mkdir worlds', 'rename blob.bin worlds/blob2.bin', 'get worlds/blob2.bin back.bin', 'ls worlds']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-rw-r--r--\s+1 gantry\s+gantry\s+716923 \w{3} [ \d]\d \d\d:\d\d blob\.bin/);
    expect(r.stdout).toContain('worlds/blob2.bin');
    expect((await readFile(path.join(local, 'back.bin'))).equals(blob)).toBe(true);
    expect((await readFile(path.join(serverData(), 'worlds/blob2.bin'))).equals(blob)).toBe(true);
    expect(existsSync(path.join(serverData(), 'blob.bin'))).toBe(false);
    // No temp file of the atomic upload is left behind.
    expect((await readdir(serverData())).filter((x) => x.startsWith('.gantry-tmp-'))).toEqual([]);

    const rm1 = await sftp(SRV, adminToken, ['rm worlds/blob2.bin', 'rmdir worlds']);
    expect(rm1.code).toBe(0);
    expect(existsSync(path.join(serverData(), 'worlds'))).toBe(false);

    const audit = await gantry.api.audit.list({ resourceId: SRV, limit: 50 });
    const actions = audit.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['sftp.write', 'sftp.rename', 'sftp.delete']));
  }, 60_000);

  it('refuses escapes: ../, /../../tmp, a symlink pointing outside', async () => {
    const secret = path.join(dataDir, 'outside-secret');
    await writeFile(secret, 'top secret\n');
    await symlink(secret, path.join(serverData(), 'leak'));
    await writeFile(path.join(local, 'x'), 'x\n');
    const marker = `gantry-sftp-escape-${randomBytes(4).toString('hex')}`;

    const a = await sftp(SRV, adminToken, ['get ../../etc/passwd passwd.copy']);
    expect(a.code).not.toBe(0);
    expect(existsSync(path.join(local, 'passwd.copy'))).toBe(false);

    const b = await sftp(SRV, adminToken, [`put x /../../tmp/${marker}`]);
    expect(b.code).not.toBe(0);
    expect(existsSync(`/tmp/${marker}`)).toBe(false);
    expect(existsSync(path.join(serverData(), 'tmp', marker))).toBe(false);

    const c = await sftp(SRV, adminToken, ['get leak leak.copy']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/denied|outside/i);
    expect(existsSync(path.join(local, 'leak.copy'))).toBe(false);

    // Writing through the link is refused too, and the outside file is untouched.
    const d = await sftp(SRV, adminToken, ['put x leak']);
    expect(d.code).not.toBe(0);
    expect(await readFile(secret, 'utf8')).toBe('top secret\n');

    const refused = (await gantry.api.audit.list({ action: 'sftp.refused', limit: 50 }));
    expect(refused.length).toBeGreaterThanOrEqual(3);
    await rm(path.join(serverData(), 'leak'));
  }, 60_000);

  it('<username>.<serverId> with the panel password; a wrong password is refused', async () => {
    const bob = await signIn(gantry.api, 'bob', ['user'], PASSWORD);
    await gantry.api.accounts.setServerGrant(NS, SRV, bob.userId, ['file.read', 'file.write', 'file.delete']);
    await writeFile(path.join(local, 'bob.txt'), 'from bob\n');
    const ok = await sftp(`bob.${SRV}`, PASSWORD, ['put bob.txt', 'ls']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(await readFile(path.join(serverData(), 'bob.txt'), 'utf8')).toBe('from bob\n');

    const wrong = await sftp(`bob.${SRV}`, 'not the password', ['ls']);
    expect(wrong.code).not.toBe(0);
    // No access to the other server: refused at login like a wrong password.
    const other = await sftp(`bob.${OTHER}`, PASSWORD, ['ls']);
    expect(other.code).not.toBe(0);
    const logins = (await gantry.api.audit.list({ action: 'sftp.refused', limit: 50 })).filter((e) => e.metadata.op === 'login');
    expect(logins.map((e) => e.metadata.reason)).toEqual(expect.arrayContaining(['invalid_credentials', 'missing_permission']));
  }, 60_000);

  it('an SFTP token works for its own server only; TOTP users cannot use the panel password', async () => {
    const carol = await signIn(gantry.api, 'carol', ['user'], PASSWORD);
    await gantry.api.accounts.setServerGrant(NS, SRV, carol.userId, ['file.read']);
    await gantry.api.accounts.setServerGrant(NS, OTHER, carol.userId, ['file.read']);
    const sid = gantry.api.accounts.listSessions(carol.userId)[0]!.id;
    const { token } = await gantry.api.auth.tokens.sign('sftp', { userId: carol.userId, sid, scope: { serverId: SRV } });
    expect((await sftp(SRV, token, ['ls'])).code).toBe(0);
    expect((await sftp(OTHER, token, ['ls'])).code).not.toBe(0);

    await gantry.api.accounts.setTotp(carol.userId, { secret: 'JBSWY3DPEHPK3PXP', enabled: true });
    expect((await sftp(`carol.${SRV}`, PASSWORD, ['ls'])).code).not.toBe(0);
    expect((await sftp(SRV, token, ['ls'])).code).toBe(0); // the token still works
    const totp = (await gantry.api.audit.list({ action: 'sftp.refused', limit: 50 })).find((e) => e.metadata.reason === 'totp_enabled');
    expect(totp).toBeTruthy();
  }, 60_000);

  it('a user without file.write cannot put (and sees an error); reading still works', async () => {
    await writeFile(path.join(local, 'nope.txt'), 'nope\n');
    const r = await sftp(SRV, (await signIn(gantry.api, 'carol', ['user'], PASSWORD)).token, ['ls', 'put nope.txt']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(existsSync(path.join(serverData(), 'nope.txt'))).toBe(false);
  }, 60_000);

  it('revoking a subuser grant mid-session fails the next operation', async () => {
    const dave = await signIn(gantry.api, 'dave', ['user'], PASSWORD);
    await gantry.api.accounts.setServerGrant(NS, SRV, dave.userId, ['file.read', 'file.write']);
    await writeFile(path.join(local, 'd1.txt'), 'one\n');
    await writeFile(path.join(local, 'd2.txt'), 'two\n');
    const child = spawn('sshpass', sshArgs(`dave.${SRV}`), { cwd: local, env: { ...process.env, SSHPASS: PASSWORD }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.write('put d1.txt\n');
    await until('the first upload on disk', () => existsSync(path.join(serverData(), 'd1.txt')), 30_000);
    await gantry.api.accounts.removeServerGrant(NS, SRV, dave.userId);
    child.stdin.end('put d2.txt\n');
    expect(await exited).not.toBe(0);
    expect(stderr).toMatch(/Permission denied|requires file\.write/);
    expect(existsSync(path.join(serverData(), 'd2.txt'))).toBe(false);
  }, 60_000);

  it('a deleted user loses the open session', async () => {
    const erin = await signIn(gantry.api, 'erin', ['user'], PASSWORD);
    await gantry.api.accounts.setServerGrant(NS, SRV, erin.userId, ['file.read', 'file.write']);
    await writeFile(path.join(local, 'e1.txt'), 'e\n');
    const child = spawn('sshpass', sshArgs(`erin.${SRV}`), { cwd: local, env: { ...process.env, SSHPASS: PASSWORD }, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.write('put e1.txt\n');
    await until('the upload on disk', () => existsSync(path.join(serverData(), 'e1.txt')), 30_000);
    expect(gantry.sftp!.connections).toBe(1);
    await gantry.api.accounts.deleteUser(erin.userId);
    // The server ends the connection at once, without waiting for another command.
    await until('the connection closed by the server', () => gantry.sftp!.connections === 0, 10_000);
    child.stdin.end('ls\n');
    expect(await exited).not.toBe(0);
  }, 60_000);

  it('a suspended server refuses logins', async () => {
    await gantry.store.patch('GameServer', NS, SRV, { spec: { suspended: true } });
    try {
      const r = await sftp(SRV, adminToken, ['ls']);
      expect(r.code).not.toBe(0);
      const entry = (await gantry.api.audit.list({ action: 'sftp.refused', limit: 50 })).find((e) => e.metadata.reason === 'suspended');
      expect(entry).toMatchObject({ status: 423, resourceId: SRV });
    } finally {
      await gantry.store.patch('GameServer', NS, SRV, { spec: { suspended: false } });
    }
    expect((await sftp(SRV, adminToken, ['ls'])).code).toBe(0);
  }, 60_000);

  it('the host key is generated once and kept 0600', async () => {
    const st = await stat(path.join(gantry.dataDir, 'sftp_host_key'));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('failed logins are rate-limited per IP: even the right password is refused then', async () => {
    for (let i = 0; i < 14; i++) await sftp(`bob.${SRV}`, `wrong ${i}`, ['ls']);
    const r = await sftp(`bob.${SRV}`, PASSWORD, ['ls']);
    expect(r.code).not.toBe(0);
    const limited = (await gantry.api.audit.list({ action: 'sftp.refused', limit: 5 })).find((e) => e.metadata.reason === 'rate_limited');
    expect(limited).toBeTruthy();
  }, 120_000);
});
