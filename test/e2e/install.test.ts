// Issue 15 §2 end to end ("install means installed"): `gantry up` with its real local agent and real
// Docker. A server created stopped through Catalyst's API gets its install script run, its image
// checked and its container created without being started, so the file manager works before the first
// start; POST .../install shows installing → stopped on /ws; an image that is absent (no registry here)
// is a clear error condition, not a hang, and the files still work.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { GameServer } from '../../crds/types.ts';
import { signInAdmin, type SignedIn } from '../helpers/api.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { until } from '../helpers/wait.ts';

const run = promisify(execFile);
const NODE = 'e2e-install';
const SERVER = 'cat-install-one';
const NOIMAGE = 'cat-install-noimage';
const ABSENT_IMAGE = `gantry-test/absent-${process.pid}:1`;
type Msg = Record<string, any>;

describe('install: pull, data dir and container before the first start (real agent, real Docker)', () => {
  let g: LocalGantry;
  let admin: SignedIn;
  const call = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(g.gantry.url + p, { method, headers: { ...admin.headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const upload = async (server: string, name: string, content: string) => {
    const form = new FormData();
    form.append('path', '/');
    form.append('file', new Blob([content]), name);
    const res = await fetch(`${g.gantry.url}/api/servers/${server}/files/upload`, { method: 'POST', headers: admin.headers, body: form });
    return { status: res.status, body: (await res.json()) as any };
  };
  const dataOf = (name: string) => path.join(g.dataDir, 'agent', 'servers', 'default', name);
  const containerState = async (id: string) => (await run('docker', ['inspect', '-f', '{{.State.Status}}', id])).stdout.trim();

  beforeAll(async () => {
    g = await startLocalGantry('gantry-e2e-install-', NODE);
    admin = await signInAdmin(g.gantry.api);
  });

  afterAll(async () => {
    await g?.stop([SERVER, NOIMAGE]);
  });

  it('a server created stopped is installed and its container created, not started; files work before any start', async () => {
    const created = await call('POST', '/api/servers', { id: SERVER, name: 'Install one', templateId: 'testgame', nodeId: NODE, allocatedMemoryMb: 64, allocatedCpuCores: 0.5, allocatedDiskMb: 50 });
    expect(created.status).toBe(201);
    const s = await until('installed and created, stopped', async () => {
      const x = await g.server(SERVER);
      return x.status?.phase === 'stopped' && x.status.containerId && x.status.installedAt ? x : undefined;
    });
    expect(s.spec?.state).toBe('Stopped');
    expect(s.status?.conditions?.find((c) => c.type === 'Installed')).toMatchObject({ status: 'True', reason: 'Installed' });
    expect(await containerState(s.status!.containerId!)).toBe('created');
    // the install script wrote into the data dir
    expect((await readFile(path.join(dataOf(SERVER), 'installed'), 'utf8')).length).toBeGreaterThan(0);

    const up = await upload(SERVER, 'world.dat', 'a world uploaded before the first start\n');
    expect(up.status).toBe(200);
    expect(await readFile(path.join(dataOf(SERVER), 'world.dat'), 'utf8')).toBe('a world uploaded before the first start\n');
    const list = await call('GET', `/api/servers/${SERVER}/files?path=/`);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body.data)).toContain('world.dat');
    const detail = await call('GET', `/api/servers/${SERVER}`);
    expect(detail.body.data).toMatchObject({ status: 'stopped', containerId: s.status!.containerId });
  });

  it('POST .../install answers at once and /ws shows installing then stopped; the upload survives, nothing starts', async () => {
    const ws = new WebSocket(`${g.gantry.url.replace('http', 'ws')}/ws?token=${admin.token}`);
    const received: Msg[] = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString()) as Msg));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(JSON.stringify({ type: 'subscribe', serverId: SERVER, events: ['server_state_update', 'server_log'] }));
      await until('subscribed', () => received.find((m) => m.type === 'subscribed'), 10_000);
      const before = await g.server(SERVER);
      const r = await call('POST', `/api/servers/${SERVER}/install`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ success: true, message: 'Installation started', serverId: SERVER });
      await until('installing then stopped on /ws', () => {
        const states = received.filter((m) => m.type === 'server_state_update').map((m) => m.state);
        const i = states.indexOf('installing');
        return i >= 0 && states.indexOf('stopped', i) > i;
      });
      const updates = received.filter((m) => m.type === 'server_state_update');
      expect(updates[0]).toMatchObject({ serverId: SERVER, state: 'installing', previousState: 'stopped' });
      expect(updates.map((u) => u.state)).not.toContain('running');
      // the install's output reached the console subscribers
      expect(received.some((m) => m.type === 'server_log' && /installing into \/data/.test(m.data))).toBe(true);
      const after = await g.server(SERVER);
      expect(after.status?.handledReinstalledAt).toBe(after.spec?.reinstalledAt);
      expect(Date.parse(after.status!.installedAt!)).toBeGreaterThan(Date.parse(before.status!.installedAt!));
      expect(await containerState(after.status!.containerId!)).toBe('created');
      expect(await readFile(path.join(dataOf(SERVER), 'world.dat'), 'utf8')).toContain('before the first start');
    } finally {
      ws.close();
    }
  });

  it('an image that is not on the node (no registry reachable): phase error naming it, no hang; the files work all the same', async () => {
    const tmpl = (await g.gantry.store.get('ServerTemplate', undefined, 'testgame')) as any;
    await g.gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ServerTemplate',
      metadata: { name: 'testgame-noimage' },
      spec: { ...tmpl.spec, image: ABSENT_IMAGE, install: undefined },
    });
    const created = await call('POST', '/api/servers', { id: NOIMAGE, name: 'No image', templateId: 'testgame-noimage', nodeId: NODE, allocatedMemoryMb: 64, allocatedCpuCores: 0.5, allocatedDiskMb: 50 });
    expect(created.status).toBe(201);
    const s: GameServer = await until('phase error (image unavailable)', async () => {
      const x = await g.server(NOIMAGE);
      return x.status?.phase === 'error' ? x : undefined;
    });
    expect(s.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ImageUnavailable' });
    expect(s.status?.message).toContain(`image "${ABSENT_IMAGE}" is not present on this node and could not be pulled`);
    expect(s.status?.containerId).toBeUndefined();
    const up = await upload(NOIMAGE, 'config.txt', 'uploaded while the image is missing\n');
    expect(up.status).toBe(200);
    expect(await readFile(path.join(dataOf(NOIMAGE), 'config.txt'), 'utf8')).toBe('uploaded while the image is missing\n');
  });
});
