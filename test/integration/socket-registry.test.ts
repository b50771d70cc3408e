// The WebSocket registry on a real HTTP server: upgrades routed by path (query ignored), a path no
// endpoint serves refused with 404 before the upgrade, a path taken twice refused at registration.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SocketRegistry } from '../../api/ws/registry.ts';

describe('socket registry', () => {
  let server: Server;
  let url: string;
  const registry = new SocketRegistry();
  const echo = (name: string) => {
    const wss = new WebSocketServer({ noServer: true });
    return { handleUpgrade: (req: Parameters<WebSocketServer['handleUpgrade']>[0], socket: Parameters<WebSocketServer['handleUpgrade']>[1], head: Buffer) => wss.handleUpgrade(req, socket, head, (ws) => ws.send(name)) };
  };

  beforeAll(async () => {
    registry.register('/ws', echo('catalyst'), 'catalyst');
    registry.register('/compat/panel/ws/v1/monitor', echo('panel'), 'panel');
    server = createServer();
    server.on('upgrade', (req, socket, head) => registry.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const first = (p: string) => new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(url + p);
    ws.once('message', (d) => {
      resolve(d.toString());
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`${res.statusCode} ${body.trim()}`)));
    });
    ws.once('error', reject);
  });

  it('routes each path to its endpoint, whatever the query', async () => {
    expect(await first('/ws?token=x')).toBe('catalyst');
    expect(await first('/compat/panel/ws/v1/monitor')).toBe('panel');
    expect(registry.endpoints()).toEqual([{ path: '/ws', owner: 'catalyst' }, { path: '/compat/panel/ws/v1/monitor', owner: 'panel' }]);
  });

  it('refuses unknown paths before the upgrade, and a path registered twice', async () => {
    await expect(first('/nope')).rejects.toThrow('404 no WebSocket endpoint at /nope');
    await expect(first('/ws/extra')).rejects.toThrow(/404/);
    expect(() => registry.register('/ws', echo('other'), 'other')).toThrow('WebSocket path /ws is already served by catalyst; other cannot take it');
    const off = registry.register('/temp', echo('temp'), 'temp');
    expect(await first('/temp')).toBe('temp');
    off();
    await expect(first('/temp')).rejects.toThrow(/404/);
  });
});
