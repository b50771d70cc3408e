// Issue 15 §5 end to end: `gantry up` with its real local agent and real Docker runs a server whose
// template has a `query` section; the agent queries it with the Minecraft server list ping, the
// GameServer's status.players follows the answers (written when they change, not on every query),
// Catalyst's server answer carries them and /ws pushes server_players_update. The protocol responder
// is the test's own (test/helpers/query-responders.ts) on the host; the server uses host networking,
// so the agent's query of its query port reaches it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { GameServer, ServerTemplate } from '../../crds/types.ts';
import { signInAdmin, type SignedIn } from '../helpers/api.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { freePort } from '../helpers/mariadb.ts';
import { startSlpResponder, type Responder } from '../helpers/query-responders.ts';
import { until } from '../helpers/wait.ts';

const NODE = 'e2e-players';
const SERVER = 'cat-players-mc';
type Msg = Record<string, any>;

describe('player counts from a real query (real agent, real Docker)', () => {
  let g: LocalGantry;
  let admin: SignedIn;
  let slp: Responder;
  const get = (): Promise<GameServer> => g.server(SERVER);

  beforeAll(async () => {
    g = await startLocalGantry('gantry-e2e-players-', NODE);
    admin = await signInAdmin(g.gantry.api);
    slp = await startSlpResponder({ online: 3, max: 20, names: ['alice', 'bob', 'carol'] });
    const base = (await g.gantry.store.get('ServerTemplate', undefined, 'testgame')) as unknown as ServerTemplate;
    await g.gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'ServerTemplate',
      metadata: { name: 'testgame-query' },
      spec: { ...base.spec, install: undefined, ports: [{ name: 'game', containerPort: 25565, protocol: 'TCP' }, { name: 'query', containerPort: 25575, protocol: 'TCP' }], query: { type: 'minecraft', port: 25575, intervalSeconds: 5, timeoutSeconds: 2 } },
    });
    const gamePort = await freePort();
    await g.gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'GameServer',
      metadata: { name: SERVER, namespace: 'default' },
      spec: {
        templateRef: 'testgame-query', state: 'Running', owner: admin.userId, networkMode: 'host', resources: { memoryMb: 64, cpuCores: 0.5, diskMb: 50 },
        ports: [{ name: 'game', containerPort: 25565, hostPort: gamePort, primary: true }, { name: 'query', containerPort: 25575, hostPort: slp.port }],
      },
    });
  });

  afterAll(async () => {
    await g?.stop([SERVER]);
    await slp?.close();
  });

  it('status.players follows the query: on change only; Catalyst answers and /ws carry it; gone when stopped', async () => {
    const first = await until('status.players from the first query', async () => {
      const s = await get();
      return s.status?.phase === 'running' && s.status.players ? s : undefined;
    });
    expect(first.status!.players).toMatchObject({ online: 3, max: 20, names: ['alice', 'bob', 'carol'], updatedAt: expect.any(String) });
    expect(first.status!.players).not.toHaveProperty('error');

    const detail = await fetch(`${g.gantry.url}/api/servers/${SERVER}`, { headers: admin.headers }).then((r) => r.json() as Promise<{ data: Msg }>);
    expect(detail.data.players).toMatchObject({ online: 3, max: 20, names: ['alice', 'bob', 'carol'] });
    const list = await fetch(`${g.gantry.url}/api/servers`, { headers: admin.headers }).then((r) => r.json() as Promise<{ data: Msg[] }>);
    expect(list.data.find((s) => s.id === SERVER)!.players).toMatchObject({ online: 3, max: 20 });

    // more queries with the same answer: no new status.players (the agent sends changes only)
    const updatedAt = first.status!.players!.updatedAt;
    const answered = slp.queries;
    await until('two more queries answered', () => slp.queries >= answered + 2, 30_000);
    expect((await get()).status!.players!.updatedAt).toBe(updatedAt);

    const ws = new WebSocket(`${g.gantry.url.replace('http', 'ws')}/ws?token=${admin.token}`);
    const received: Msg[] = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString()) as Msg));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(JSON.stringify({ type: 'subscribe', serverId: SERVER, events: ['server_players_update', 'server_state_update'] }));
      await until('subscribed', () => received.find((m) => m.type === 'subscribed'), 10_000);
      slp.players.online = 4;
      slp.players.names.push('dave');
      const pushed = await until('server_players_update with 4 online', () => received.find((m) => m.type === 'server_players_update' && m.players?.online === 4), 30_000);
      expect(pushed).toMatchObject({ serverId: SERVER, players: { online: 4, max: 20, names: ['alice', 'bob', 'carol', 'dave'] } });
      expect((await get()).status!.players).toMatchObject({ online: 4 });

      await g.gantry.store.patch('GameServer', 'default', SERVER, { spec: { state: 'Stopped' } });
      await until('stopped, players gone', async () => {
        const s = await get();
        return s.status?.phase === 'stopped' && !s.status.players;
      });
      await until('server_players_update null', () => received.find((m) => m.type === 'server_players_update' && m.players === null), 10_000);
      const after = await fetch(`${g.gantry.url}/api/servers/${SERVER}`, { headers: admin.headers }).then((r) => r.json() as Promise<{ data: Msg }>);
      expect(after.data.players).toBeNull();
    } finally {
      ws.close();
    }
  });
});
