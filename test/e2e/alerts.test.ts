// Alerts from real observations: `gantry up` embedded with its local agent, a container burning CPU
// through the test image's `burn` console command fires a CPU rule (delivered to a local HTTP
// receiver in the Discord shape) that resolves after `unburn`; stopping the agent fires node_offline.
// The metrics history receives the same samples.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../bin/commands/up.ts';
import { serverSeries } from '../../controller/metrics/history.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { until } from '../helpers/wait.ts';
const NODE = 'e2e-alerts';

interface DiscordBody {
  username: string;
  embeds: { title: string; description: string; color: number; timestamp: string; fields: { name: string; value: string }[] }[];
}

describe('alerts from real container stats', () => {
  let local: LocalGantry;
  let gantry: Embedded;
  let receiver: http.Server;
  let hookUrl: string;
  const received: { path: string; body: DiscordBody }[] = [];
  const server = () => local.server('hot');

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let data = '';
      req.on('data', (d) => (data += d));
      req.on('end', () => {
        received.push({ path: req.url!, body: JSON.parse(data) as DiscordBody });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/webhooks/1/secret`;

    local = await startLocalGantry('gantry-e2e-alerts-', NODE);
    gantry = local.gantry;
    await local.runServer('hot');
  }, 120_000);

  afterAll(async () => {
    await local?.stop(['hot']);
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it('CPU above 80 % of the limit for 5 s fires (Discord shape) while burning, resolves after unburn', async () => {
    await gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'AlertRule',
      metadata: { name: 'hot-cpu' },
      spec: {
        type: 'resource_threshold',
        severity: 'critical',
        target: { kind: 'GameServer', name: 'hot', namespace: 'default' },
        condition: { metric: 'cpu', operator: '>', value: 80, durationSeconds: 5 },
        actions: [{ url: hookUrl, format: 'discord' }],
      },
    });
    const s = await server();
    await gantry.hub.call(NODE, 'sendCommand', { uid: s.metadata.uid!, line: 'burn' });
    const [alert] = await until('a CPU alert', async () => {
      const l = await gantry.alerts!.list({ serverId: 'hot', type: 'resource_threshold', resolved: false });
      return l.length ? l : undefined;
    }, 90_000);
    expect(alert).toMatchObject({ rule: 'hot-cpu', severity: 'critical', nodeId: NODE, serverUid: s.metadata.uid, title: 'High CPU usage' });
    expect(alert!.metadata.value as number).toBeGreaterThan(80);
    const fired = await until('the Discord webhook', () => received.find((r) => r.body.embeds?.[0]?.title === '[CRITICAL] High CPU usage'));
    expect(fired.path).toBe('/api/webhooks/1/secret');
    expect(fired.body.username).toBe('Gantry');
    expect(fired.body.embeds[0]!.description).toMatch(/^CPU of server default\/hot is [\d.]+ % \(> 80 % for 5 s\)$/);
    expect(fired.body.embeds[0]!.fields).toEqual(expect.arrayContaining([{ name: 'Target', value: `server default/hot on node ${NODE}`, inline: true }]));

    await gantry.hub.call(NODE, 'sendCommand', { uid: s.metadata.uid!, line: 'unburn' });
    const resolved = await until('resolved', async () => {
      const a = await gantry.alerts!.get(alert!.id);
      return a.resolved ? a : undefined;
    }, 60_000);
    expect(resolved.resolution).toBe('condition cleared');
    await until('the resolved webhook', () => received.some((r) => r.body.embeds?.[0]?.title === '[RESOLVED] High CPU usage'));
    // One alert for the whole burn.
    expect(await gantry.alerts!.list({ rule: 'hot-cpu' })).toHaveLength(1);

    // The same samples went into the metrics history: the burn shows as a CPU peak.
    const hist = await gantry.metrics.query({ series: serverSeries(s.metadata.uid!), from: Date.now() - 10 * 60_000 });
    expect(hist.tier).toBe('raw');
    expect(Math.max(...hist.points.map((p) => p.cpu))).toBeGreaterThan(40);
  }, 180_000);

  it('node_offline fires when the agent is stopped', async () => {
    await gantry.store.create({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'AlertRule',
      metadata: { name: 'node-down' },
      spec: { type: 'node_offline', severity: 'critical', actions: [{ url: `${hookUrl}-nodes`, format: 'discord' }] },
    });
    await gantry.localAgent!.stop();
    const [a] = await until('a node_offline alert', async () => {
      const l = await gantry.alerts!.list({ type: 'node_offline', nodeId: NODE, resolved: false });
      return l.length ? l : undefined;
    }, 90_000);
    expect(a).toMatchObject({ title: 'Node offline', severity: 'critical', serverId: null });
    const hook = await until('the node webhook', () => received.find((r) => r.path.endsWith('-nodes')));
    expect(hook.body.embeds[0]!.title).toBe('[CRITICAL] Node offline');
    const stats = await gantry.alerts!.stats();
    expect(stats.byType.node_offline).toBe(1);
    expect(stats.unresolved).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
