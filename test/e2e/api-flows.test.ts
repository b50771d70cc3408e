// Catalyst's documented flows over HTTP against a running Gantry (embedded: controller, API and a
// local agent process, real Docker, test image gantry-test/gameserver:1):
//   flow 1: register, use the token, log in;
//   flow 2: create a server, install it, start it (running), logs show the ready line, a console
//           command's echo appears in the logs, stop it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode } from '../../crds/types.ts';
import { signInAdmin } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-api-flows';

describe('Catalyst flows over HTTP with real Docker', () => {
  let gantry: Embedded;
  let dataDir: string;
  let userToken: string;
  let containerId: string | undefined;

  const http = async (method: string, p: string, body?: unknown, token = userToken) => {
    const res = await fetch(gantry.url + p, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const logLines = async (id: string): Promise<string[]> => (await http('GET', `/api/servers/${id}/logs?limit=1000`)).body.data.map((l: { data: string }) => l.data.replace(/\n$/, ''));

  beforeAll(async () => {
    await run('bash', [path.join(ROOT, 'scripts/docker-engine.sh'), 'ensure']);
    await run('bash', [path.join(ROOT, 'test/images/build.sh')]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-flows-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE } });
    await until('the local node Online', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
  });

  afterAll(async () => {
    await gantry?.stop();
    if (containerId) await run('docker', ['rm', '-f', containerId]).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('flow 1: registers over HTTP, uses the token, logs in again', async () => {
    const reg = await http('POST', '/api/auth/register', { email: 'flow@example.com', username: 'flowuser', password: 'SecurePassword123!' }, '');
    expect(reg.status).toBe(200);
    expect(reg.body.data).toMatchObject({ email: 'flow@example.com', username: 'flowuser' });
    const me = await http('GET', '/api/auth/me', undefined, reg.body.data.token);
    expect(me).toMatchObject({ status: 200, body: { data: { email: 'flow@example.com', username: 'flowuser' } } });
    const login = await http('POST', '/api/auth/login', { email: 'flow@example.com', password: 'SecurePassword123!' }, '');
    expect(login.status).toBe(200);
    userToken = login.body.data.token;
    expect((await http('GET', '/api/auth/me')).body.data.id).toBe(me.body.data.id);
    // A registered user may not create servers until an operator allows it.
    expect((await http('POST', '/api/servers', { name: 'x', templateId: 'testgame' })).status).toBe(403);
  });

  it('flow 2: create, install, start (running), logs show the ready line, a command echoes, stop', async () => {
    // The operator gives registered users self-service creation.
    const role = await gantry.api.accounts.createRole({ name: 'Self-service', permissions: ['server.create'] });
    const user = gantry.api.accounts.findUser('flowuser')!;
    await gantry.api.accounts.setUserRoles(user.id, ['user', role.id]);

    const created = await http('POST', '/api/servers', {
      name: 'Flow Two',
      description: 'flow 2',
      templateId: 'testgame',
      nodeId: NODE,
      allocatedMemoryMb: 128,
      allocatedCpuCores: 0.5,
      allocatedDiskMb: 100,
      environment: { MOTD: 'flow two' },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ id: 'flow-two', name: 'Flow Two', status: 'stopped', nodeId: NODE, ownerId: user.id });
    const id = created.body.data.id as string;

    expect((await http('POST', `/api/servers/${id}/install`)).body).toMatchObject({ success: true, message: 'Installation started', serverId: id });
    await until('the install done', async () => {
      const s = (await http('GET', `/api/servers/${id}`)).body.data;
      return s.status === 'stopped' && s.conditions.some((c: { type: string; status: string; reason: string }) => c.type === 'Installed' && c.status === 'True' && c.reason === 'Installed');
    });

    const start = await http('POST', `/api/servers/${id}/start?wait=true&waitSeconds=120`);
    expect(start.body).toMatchObject({ success: true, message: 'Server is running', status: 'running', reached: true });
    const running = (await http('GET', `/api/servers/${id}`)).body.data;
    expect(running).toMatchObject({ status: 'running', node: { id: NODE, isOnline: true }, template: { id: 'testgame' } });
    containerId = running.containerId;
    expect(running.containerName).toBeTruthy();

    // The ready line can reach the status (through the agent's own history) a few ms before the
    // hub's buffer receives its batch: wait for it rather than race it.
    const lines = await until('the ready line in the logs', async () => {
      const l = await logLines(id);
      return l.includes('Done! server ready') ? l : undefined;
    });
    expect(lines).toContain('[boot] installed=yes');
    expect(lines).toContain('[boot] port=25565 motd=flow two');

    expect(await http('POST', `/api/servers/${id}/command`, { command: 'say hi' })).toMatchObject({ status: 200, body: { success: true, message: 'Command sent' } });
    await until('the echo in the logs', async () => {
      const l = await logLines(id);
      return l.includes('> say hi') && l.includes('[say] hi');
    });
    expect((await http('GET', `/api/servers/${id}/logs?stream=stderr`)).body.data).toEqual([]);

    const stop = await http('POST', `/api/servers/${id}/stop?wait=true&waitSeconds=120`, { timeout: 20 });
    expect(stop.body).toMatchObject({ success: true, message: 'Server is stopped', status: 'stopped', reached: true });
    const refused = await http('POST', `/api/servers/${id}/command`, { command: 'say late' });
    expect(refused.status).toBe(409);

    // Owners do not delete by default; the administrator does, and the finalizer removes the container.
    expect((await http('DELETE', `/api/servers/${id}`)).status).toBe(403);
    const admin = await signInAdmin(gantry.api);
    expect((await http('DELETE', `/api/servers/${id}`, undefined, admin.token)).body).toMatchObject({ success: true, message: 'Server deleted successfully' });
    await until('the server gone', async () => (await http('GET', `/api/servers/${id}`, undefined, admin.token)).status === 404);
    const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${created.body.data.uuid}`]);
    expect(ps.stdout.trim()).toBe('');
    containerId = undefined;
  });
});
