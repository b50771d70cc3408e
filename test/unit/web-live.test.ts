// The panel's live socket (web/src/api/live.ts) against a ws server speaking the /ws protocol's
// subscribe/answer order: subscriptions are the union per server, a console that opens asks for its
// history and gets the answer marked `replay`, everything is re-subscribed after a reconnect with a
// fresh token, and 4401 (session over) stops reconnecting.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { LiveSocket, type LiveMessage, type SocketLike } from '../../web/src/api/live.ts';
import { waitFor } from '../helpers/wait.ts';

interface Seen {
  token: string;
  msgs: Record<string, unknown>[];
  socket: WebSocket;
}

async function server(): Promise<{ wss: WebSocketServer; url: string; conns: Seen[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const conns: Seen[] = [];
  wss.on('connection', (socket, req) => {
    const seen: Seen = { token: new URL(req.url!, 'http://x').searchParams.get('token') ?? '', msgs: [], socket };
    conns.push(seen);
    socket.on('message', (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      seen.msgs.push(m);
      if (m.type === 'subscribe') {
        socket.send(JSON.stringify({ type: 'subscribed', serverId: m.serverId, events: m.events, state: 'running' }));
        for (let i = 0; i < Number(m.history ?? 0); i++) socket.send(JSON.stringify({ type: 'server_log', serverId: m.serverId, data: `old ${i}\n` }));
      }
    });
  });
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, conns };
}

describe('web: live socket', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
  });

  it('unions events per server, marks the history replay, re-subscribes after a reconnect', async () => {
    const s = await server();
    let n = 0;
    const live = new LiveSocket({ url: (t) => `${s.url}/ws?token=${t}`, token: async () => `tok-${++n}`, connect: (u) => new WebSocket(u) as unknown as SocketLike, backoffMs: [20, 40] });
    stop = async () => {
      live.stop();
      await new Promise<void>((r) => s.wss.close(() => r()));
    };
    const state: LiveMessage[] = [];
    const consoleMsgs: LiveMessage[] = [];
    live.subscribe('web-a', ['server_state_update'], (m) => state.push(m));
    live.start();
    await waitFor(() => live.status === 'open' && state.length === 1, 'the first subscribe answered');
    expect(s.conns[0]!.token).toBe('tok-1');
    expect(s.conns[0]!.msgs[0]).toEqual({ type: 'subscribe', serverId: 'web-a', events: ['server_state_update'] });

    const offConsole = live.subscribe('web-a', ['server_log', 'server_state_update'], (m) => consoleMsgs.push(m), 3);
    await waitFor(() => consoleMsgs.filter((m) => m.type === 'server_log').length === 3, 'the history');
    expect(s.conns[0]!.msgs[1]).toEqual({ type: 'subscribe', serverId: 'web-a', events: ['server_state_update', 'server_log'], history: 3 });
    expect(consoleMsgs[0]).toMatchObject({ type: 'subscribed', replay: true });
    // The state listener saw its own first answer as no replay.
    expect(state[0]).toMatchObject({ type: 'subscribed', replay: false });

    // A console that opens again gets the history again, even with the same events.
    offConsole();
    const again: LiveMessage[] = [];
    live.subscribe('web-a', ['server_log'], (m) => again.push(m), 2);
    await waitFor(() => again.filter((m) => m.type === 'server_log').length === 2, 'the second replay');
    expect(again[0]).toMatchObject({ type: 'subscribed', replay: true });

    // The server goes away: a new connection with a new token, every server subscribed again.
    s.conns[0]!.socket.terminate();
    await waitFor(() => s.conns.length === 2 && s.conns[1]!.msgs.length === 1, 'the reconnect', 5000);
    expect(s.conns[1]!.token).toBe('tok-2');
    expect(s.conns[1]!.msgs[0]).toMatchObject({ type: 'subscribe', serverId: 'web-a', history: 3 });
    expect(live.sendInput('web-a', 'say hi')).toBe(true);
    await waitFor(() => s.conns[1]!.msgs.some((m) => m.type === 'console_input'), 'the input');
    expect(s.conns[1]!.msgs.at(-1)).toEqual({ type: 'console_input', serverId: 'web-a', data: 'say hi' });
  });

  it('4401 means the session is over: closed, no reconnect; input refused while closed', async () => {
    const s = await server();
    const live = new LiveSocket({ url: (t) => `${s.url}/ws?token=${t}`, token: async () => 't', connect: (u) => new WebSocket(u) as unknown as SocketLike, backoffMs: [10, 20] });
    stop = async () => {
      live.stop();
      await new Promise<void>((r) => s.wss.close(() => r()));
    };
    const statuses: string[] = [];
    live.onStatus((st, detail) => statuses.push(`${st}${detail ? ':' + detail : ''}`));
    live.start();
    await waitFor(() => live.status === 'open', 'open');
    s.conns[0]!.socket.close(4401, 'session ended');
    await waitFor(() => live.status === 'closed', 'closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.conns).toHaveLength(1);
    expect(statuses.at(-1)).toBe('closed:session ended');
    expect(live.sendInput('web-a', 'x')).toBe(false);
  });
});
