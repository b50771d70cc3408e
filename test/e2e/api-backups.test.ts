// Backups over HTTP against a running Gantry (embedded: controller, API, local agent child process,
// real Docker, the test image): create through the API (a Backup resource owned by the server) →
// completed → the downloaded archive matches its sha256 → files change → restore while running is
// refused (409) → stopped → restore → the files are back; listing, 404s, permissions, delete
// (finalizer removes the archive), and deleting the server deletes its backups.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { Backup, GameNode } from '../../crds/types.ts';
import { signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-api-backups';
const SERVER = 'bk-api';

describe('backups over HTTP (real agent, real Docker)', () => {
  let gantry: Embedded;
  let dataDir: string;
  let admin: SignedIn;
  let owner: SignedIn;
  let stranger: SignedIn;
  let viewer: SignedIn;
  let backupId: string;
  let sha256: string;
  const serverData = () => path.join(dataDir, 'agent', 'servers', 'default', SERVER);

  const call = async (method: string, p: string, body?: unknown, who: SignedIn = owner) => {
    const res = await fetch(gantry.url + p, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...who.headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const b = (p = '') => `/api/servers/${SERVER}/backups${p}`;
  const phase = async () => (await call('GET', `/api/servers/${SERVER}`)).body.data.status as string;

  beforeAll(async () => {
    await run('bash', [path.join(ROOT, 'scripts/docker-engine.sh'), 'ensure']);
    await run('bash', [path.join(ROOT, 'test/images/build.sh')]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-api-backups-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE }, apiLimits: { userPerMinute: 100_000 } });
    await until('the local node Online', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
    admin = await signInAdmin(gantry.api);
    owner = await signIn(gantry.api, 'owner');
    stranger = await signIn(gantry.api, 'stranger');
    viewer = await signIn(gantry.api, 'viewer');
    const created = await call('POST', '/api/servers', { name: SERVER, templateId: 'testgame', nodeId: NODE, ownerId: owner.userId, allocatedMemoryMb: 128, allocatedCpuCores: 0.5, allocatedDiskMb: 512 }, admin);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await call('POST', `/api/servers/${SERVER}/install`)).status).toBe(200);
    await until('installed', async () => {
      const s = (await call('GET', `/api/servers/${SERVER}`)).body.data;
      return s.status === 'stopped' && s.conditions.some((c: { type: string; status: string }) => c.type === 'Installed' && c.status === 'True');
    }, 120_000);
    await gantry.api.accounts.setServerGrant('default', SERVER, viewer.userId, ['server.read', 'backup.read']);
  }, 300_000);

  afterAll(async () => {
    await gantry?.stop();
    const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-name=${SERVER}`]).catch(() => ({ stdout: '' }));
    for (const id of ps.stdout.split('\n').filter(Boolean)) await run('docker', ['rm', '-f', id]).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('creates a backup through the API and waits for it', async () => {
    await writeFile(path.join(serverData(), 'world.dat'), 'original world\n');
    await writeFile(path.join(serverData(), 'skip.log'), 'ignored\n');
    const r = await call('POST', `${b()}?wait=true&timeout=120`, { name: 'manual-backup-1', ignore: ['*.log'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ success: true, message: 'Backup completed', backupName: 'manual-backup-1' });
    backupId = r.body.backupId;
    expect(backupId).toMatch(new RegExp(`^${SERVER}-`));
    const data = r.body.data;
    expect(data).toMatchObject({ id: backupId, serverId: SERVER, name: 'manual-backup-1', status: 'completed', nodeId: NODE, ignore: ['*.log'] });
    expect(data.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(data.sizeBytes).toBeGreaterThan(0);
    expect(typeof data.sizeMb).toBe('number');
    sha256 = data.checksum.slice('sha256:'.length);

    // The resource: owned by the server, labelled, named as Catalyst's name says.
    const res = (await gantry.store.get('Backup', 'default', backupId)) as unknown as Backup;
    const server = await gantry.store.get('GameServer', 'default', SERVER);
    expect(res.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'GameServer', name: SERVER, uid: server.metadata.uid })]);
    expect(res.metadata.annotations?.['gantry.dev/backup-name']).toBe('manual-backup-1');

    const list = await call('GET', b());
    expect(list.body.data.map((x: { id: string }) => x.id)).toEqual([backupId]);
    expect((await call('GET', b(`/${backupId}`))).body.data).toMatchObject({ id: backupId, status: 'completed' });
    expect((await call('GET', b(`/${res.metadata.uid}`))).body.data.id).toBe(backupId);
  }, 180_000);

  it('downloads the archive and it matches the recorded sha256', async () => {
    const res = await fetch(gantry.url + b(`/${backupId}/download`), { headers: owner.headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="manual-backup-1.tar.gz"');
    expect(res.headers.get('x-checksum-sha256')).toBe(sha256);
    const buf = Buffer.from(await res.arrayBuffer());
    expect(String(buf.length)).toBe(res.headers.get('content-length'));
    expect(createHash('sha256').update(buf).digest('hex')).toBe(sha256);
    // The archive holds world.dat and not the ignored log.
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bk-dl-'));
    await writeFile(path.join(dir, 'a.tar.gz'), buf);
    const { stdout } = await run('tar', ['tzf', path.join(dir, 'a.tar.gz')]);
    expect(stdout).toContain('world.dat');
    expect(stdout).not.toContain('skip.log');
    await rm(dir, { recursive: true, force: true });
    // The viewer may read backups; a stranger does not see the server.
    expect((await fetch(gantry.url + b(`/${backupId}/download`), { headers: viewer.headers })).status).toBe(200);
    expect((await call('GET', b(), undefined, stranger)).status).toBe(404);
    expect((await call('GET', b('/nope'))).status).toBe(404);
  });

  it('refuses a restore while the server runs (409), restores once stopped', async () => {
    await writeFile(path.join(serverData(), 'world.dat'), 'changed world\n');
    await writeFile(path.join(serverData(), 'new.dat'), 'added after the backup\n');
    expect((await call('POST', `/api/servers/${SERVER}/start?wait=true&waitSeconds=120`)).body).toMatchObject({ status: 'running' });
    const refused = await call('POST', b(`/${backupId}/restore`), {});
    expect(refused).toMatchObject({ status: 409, body: { reason: 'server_not_stopped' } });
    expect(await gantry.store.list('Restore', { namespace: 'default' }).then((l) => l.items.length)).toBe(0);
    // Without backup.restore: 403 (the viewer), before anything else.
    expect((await call('POST', b(`/${backupId}/restore`), {}, viewer)).status).toBe(403);

    expect((await call('POST', `/api/servers/${SERVER}/stop?wait=true&waitSeconds=120`, { timeout: 20 })).body).toMatchObject({ status: 'stopped' });
    expect(await phase()).toBe('stopped');
    const r = await call('POST', `${b(`/${backupId}/restore`)}?wait=true&timeout=120`, { truncate: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ success: true, message: 'Backup restored', data: { status: 'completed', backupId, truncate: true } });
    expect(await readFile(path.join(serverData(), 'world.dat'), 'utf8')).toBe('original world\n');
    expect(existsSync(path.join(serverData(), 'new.dat'))).toBe(false);
    // Through the file API as well.
    expect((await call('GET', `/api/servers/${SERVER}/files/contents?path=/world.dat`)).body.data.content).toBe('original world\n');
    const audit = await gantry.api.audit.list({ action: 'backup.restore' });
    expect(audit.map((a) => a.status).sort()).toEqual([200, 403, 409]);
  }, 300_000);

  it('deletes a backup (the finalizer removes its archive); deleting the server deletes its backups', async () => {
    const archive = path.join(dataDir, 'agent', 'backups');
    const second = await call('POST', `${b()}?wait=true&timeout=120`, {});
    expect(second.body.data.status).toBe('completed');
    const secondUid = second.body.data.uuid as string;
    const findArchive = async (uid: string) => (await run('find', [archive, '-name', `${uid}.tar.gz`])).stdout.trim();
    expect(await findArchive(secondUid)).not.toBe('');

    expect((await call('DELETE', b(`/${second.body.backupId}`), undefined, viewer)).status).toBe(403);
    expect((await call('DELETE', b(`/${second.body.backupId}`))).body).toEqual({ success: true, message: 'Backup deleted successfully' });
    await until('the backup gone', async () => (await call('GET', b(`/${second.body.backupId}`))).status === 404);
    expect(await findArchive(secondUid)).toBe('');

    const firstUid = (await call('GET', b(`/${backupId}`))).body.data.uuid as string;
    expect((await call('DELETE', `/api/servers/${SERVER}`, undefined, admin)).status).toBe(200);
    await until('the backups of the deleted server gone', async () => (await gantry.store.list('Backup', { namespace: 'default' })).items.length === 0, 120_000);
    await until('its archive removed', async () => (await findArchive(firstUid)) === '');
  }, 300_000);
});
