// The agent's player queries (agent/runtime/players.ts, through gamedig) against real protocol
// responders run by the test: Minecraft server list ping over TCP and Source A2S over UDP. Counts and
// names are read, only changes are reported, a dead port is an error that keeps the last counts,
// concurrency stays within its bound, and an unknown gamedig type is a clear error.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlayerPoller, gamedigQuery, type PlayerSample, type QueryFn } from '../../agent/runtime/players.ts';
import { LABEL_QUERY } from '../../agent/runtime/spec.ts';
import { queryTarget } from '../../controller/reconcilers/gameserver/desired.ts';
import { startA2sResponder, startSlpResponder, type Responder } from '../helpers/query-responders.ts';
import { freePort } from '../helpers/mariadb.ts';
import { until } from '../helpers/wait.ts';

const label = (type: string, port: number, extra: Record<string, unknown> = {}) => ({
  [LABEL_QUERY]: JSON.stringify({ type, host: '127.0.0.1', port, intervalSeconds: 1, timeoutSeconds: 2, ...extra }),
});

describe('player queries against real protocol responders', () => {
  let slp: Responder;
  let a2s: Responder;

  beforeAll(async () => {
    slp = await startSlpResponder({ online: 3, max: 20, names: ['alice', 'bob', 'carol'] });
    a2s = await startA2sResponder({ online: 2, max: 24, names: ['dave', 'erin'] });
  });
  afterAll(async () => {
    await slp?.close();
    await a2s?.close();
  });

  it('gamedig reads Minecraft SLP (TCP) and Source A2S (UDP, with challenges) as the template aliases name them', async () => {
    const mc = queryTarget({ type: 'minecraft' }, [{ containerPort: 25565, hostPort: slp.port, protocol: 'TCP', primary: true }], 'bridge', '0.0.0.0');
    expect(mc).toEqual({ type: 'protocol-minecraftvanilla', host: '127.0.0.1', port: slp.port, intervalSeconds: 30, timeoutSeconds: 5 });
    if ('error' in mc) throw new Error(mc.error);
    expect(await gamedigQuery({ type: mc.type, host: mc.host, port: mc.port, timeoutMs: 3000 })).toEqual({ online: 3, max: 20, names: ['alice', 'bob', 'carol'] });
    const src = queryTarget({ type: 'source', port: 27015 }, [{ containerPort: 27015, hostPort: 1, protocol: 'TCP', primary: true }, { containerPort: 27015, hostPort: a2s.port, protocol: 'UDP' }], 'bridge', '0.0.0.0');
    if ('error' in src) throw new Error(src.error);
    expect(src).toMatchObject({ type: 'protocol-valve', port: a2s.port });
    const answer = await gamedigQuery({ type: src.type, host: src.host, port: src.port, timeoutMs: 3000 });
    expect({ ...answer, names: answer.names.sort() }).toEqual({ online: 2, max: 24, names: ['dave', 'erin'] });
  });

  it('the poller reports counts, then only changes; a vanished responder is an error with the last counts; back again clears it', async () => {
    const sent: PlayerSample[][] = [];
    const targets = [
      { uid: 'mc-1', labels: label('protocol-minecraftvanilla', slp.port) },
      { uid: 'src-1', labels: label('protocol-valve', a2s.port) },
      { uid: 'plain', labels: {} },
    ];
    const poller = new PlayerPoller({ targets: () => targets, onChange: (s) => sent.push(s), tickMs: 100 });
    poller.start();
    try {
      const latest = (uid: string) => sent.flat().filter((s) => s.uid === uid).at(-1);
      await until('both counted', () => latest('mc-1')?.online === 3 && latest('src-1')?.online === 2, 20_000);
      expect(latest('mc-1')).toMatchObject({ online: 3, max: 20, names: ['alice', 'bob', 'carol'] });
      expect(latest('mc-1')).not.toHaveProperty('error');
      expect(latest('src-1')).toMatchObject({ online: 2, max: 24 });
      expect([...latest('src-1')!.names!].sort()).toEqual(['dave', 'erin']);
      expect(sent.flat().some((s) => s.uid === 'plain')).toBe(false);
      // more queries with the same answer: nothing sent
      const before = sent.flat().length;
      const queried = slp.queries;
      await until('two more SLP queries', () => slp.queries >= queried + 2, 20_000);
      expect(sent.flat().length).toBe(before);
      // a change is sent once
      slp.players.online = 4;
      slp.players.names.push('dan');
      await until('the change sent', () => latest('mc-1')?.online === 4, 20_000);
      expect(latest('mc-1')!.names).toEqual(['alice', 'bob', 'carol', 'dan']);
      // the responder goes away: an error, the last counts kept
      const port = slp.port;
      await slp.close();
      await until('the error sent', () => latest('mc-1')?.error, 20_000);
      expect(latest('mc-1')).toMatchObject({ online: 4, max: 20 });
      expect(latest('mc-1')!.error).toMatch(/ECONNREFUSED|refused|timed? ?out/i);
      slp = await startSlpResponder(slp.players, port);
      await until('recovered', () => latest('mc-1') && !latest('mc-1')!.error, 20_000);
      // the full picture for a new connection
      expect(poller.current().map((s) => s.uid).sort()).toEqual(['mc-1', 'src-1']);
      // a server that stops running is forgotten
      targets.splice(1, 1);
      await until('src forgotten', () => poller.current().every((s) => s.uid !== 'src-1'), 5_000);
    } finally {
      poller.stop();
    }
  });

  it('bounded: never more than `concurrency` queries in flight, a hanging server costs its timeout and no more', async () => {
    // a TCP port that accepts and never answers
    const conns = new Set<net.Socket>();
    const silent = net.createServer((sock) => {
      conns.add(sock);
      sock.resume(); // read (and so see the client's FIN), never answer
      sock.on('close', () => conns.delete(sock));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as net.AddressInfo).port;
    let inFlight = 0;
    let peak = 0;
    const query: QueryFn = async (q) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        return await gamedigQuery(q);
      } finally {
        inFlight--;
      }
    };
    const targets = Array.from({ length: 12 }, (_, i) => ({ uid: `s${i}`, labels: label('protocol-minecraftvanilla', silentPort, { timeoutSeconds: 1 }) }));
    const sent: PlayerSample[] = [];
    const poller = new PlayerPoller({ targets: () => targets, onChange: (s) => sent.push(...s), concurrency: 3, tickMs: 50, query });
    poller.start();
    try {
      await until('every server reported an error', () => new Set(sent.filter((s) => s.error).map((s) => s.uid)).size === 12, 30_000);
      expect(peak).toBeLessThanOrEqual(3);
      expect(sent.find((s) => s.error)!.error).toMatch(/time/i);
    } finally {
      poller.stop();
      // every timed-out query closed its connection
      await until('no connection left open', () => conns.size === 0, 10_000);
      await new Promise((r) => silent.close(r));
    }
  });

  it('an unknown type, a port nothing listens on, and a query the template cannot resolve are errors, not crashes', async () => {
    const dead = await freePort();
    const targets = [
      { uid: 'bad-type', labels: label('no-such-game-xyz', slp.port) },
      { uid: 'dead', labels: label('protocol-minecraftvanilla', dead) },
      { uid: 'unresolved', labels: { [LABEL_QUERY]: JSON.stringify(queryTarget({ type: 'minecraft', port: 1234 }, [{ containerPort: 25565, hostPort: 1, primary: true }], 'bridge', '0.0.0.0')) } },
      { uid: 'garbage', labels: { [LABEL_QUERY]: '{not json' } },
    ];
    const sent: PlayerSample[] = [];
    const poller = new PlayerPoller({ targets: () => targets, onChange: (s) => sent.push(...s), tickMs: 50 });
    poller.start();
    try {
      await until('four errors', () => new Set(sent.filter((s) => s.error).map((s) => s.uid)).size === 4, 20_000);
      const err = (uid: string) => sent.find((s) => s.uid === uid)!.error;
      expect(err('bad-type')).toMatch(/Invalid game: no-such-game-xyz/);
      expect(err('dead')).toMatch(/ECONNREFUSED|refused/i);
      expect(err('unresolved')).toBe("query port 1234 is not one of the server's ports (25565/TCP)");
      expect(err('garbage')).toMatch(/not a query spec/);
    } finally {
      poller.stop();
    }
  });
});
