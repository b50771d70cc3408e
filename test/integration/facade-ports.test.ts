// `gantry up --facade-port catalyst=PORT`: the facade alone at / on a port of its own, beside the main
// port, started and stopped with the rest (embedded mode, no agent).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { signInAdmin } from '../helpers/api.ts';

describe('a facade on a port of its own', () => {
  let g: Embedded;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-facade-port-'));
    g = await startEmbedded({ dataDir: dir, port: 0, host: '127.0.0.1', facadePorts: { catalyst: 0 } });
  });
  afterAll(async () => {
    await g?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the facade\'s routes and its catch-all there, and only those', async () => {
    const url = g.facadeUrls.catalyst!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toBe(g.url);
    const doc = await fetch(`${url}/api/openapi.json`);
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toBe('3.1.0');
    expect(await (await fetch(`${url}/api/auth/me`)).json()).toMatchObject({ statusCode: 401, reason: 'no_token' });
    // The Kubernetes dialect and the system routes belong to the main port.
    const kube = await fetch(`${url}/k8s/version`);
    expect(kube.status).toBe(404);
    expect(await kube.json()).toMatchObject({ statusCode: 404, reason: 'no_route' });
    expect((await fetch(`${g.url}/k8s/version`)).status).toBe(200);
  });

  it('serves the facade\'s sockets there too, the same endpoints as on the main port', async () => {
    const admin = await signInAdmin(g.api, 'port-admin');
    const open = (base: string, p: string) => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}${p}?token=${admin.token}`);
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    const pong = (ws: WebSocket) => new Promise<unknown>((resolve) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.send(JSON.stringify({ type: 'ping' }));
    });
    const own = await open(g.facadeUrls.catalyst!, '/ws');
    const main = await open(g.url, '/ws');
    expect(await pong(own)).toEqual({ type: 'pong' });
    expect(await pong(main)).toEqual({ type: 'pong' });
    own.close();
    main.close();
    // The agent's path belongs to the main port only.
    await expect(open(g.facadeUrls.catalyst!, '/api/agent/connect')).rejects.toThrow(/404/);
  });

  it('refuses an unknown facade name', async () => {
    await expect(startEmbedded({ dataDir: path.join(dir, 'other'), port: 0, host: '127.0.0.1', facadePorts: { nopanel: 0 } })).rejects.toThrow(/no facade "nopanel"/);
  });
});
