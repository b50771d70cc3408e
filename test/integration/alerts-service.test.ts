// AlertService over a real store, the controller runtime, a fake wall clock and a real local HTTP
// receiver: CPU > 90 % for 300 s fires once and resolves; Discord/Slack/generic deliveries; retries;
// a hanging webhook never blocks evaluation; node_offline; server_crashed; hand resolution; filters
// and stats; open alerts survive a restart of the service.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertService } from '../../controller/alerts/service.ts';
import { Manager } from '../../controller/runtime/controller.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { AlertRule, AlertRuleSpec, GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { until, waitFor } from '../helpers/wait.ts';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** A local webhook receiver; `answer` decides the status per request (default 204), `hang` never answers. */
async function receiver() {
  const got: Received[] = [];
  const ctl = { answer: (_n: number, _path: string): number | 'hang' => 204 };
  let n = 0;
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      const a = ctl.answer(++n, req.url!);
      if (a === 'hang') return;
      if (a < 300) got.push({ path: req.url!, body: JSON.parse(data) as Record<string, unknown> });
      res.writeHead(a).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { got, ctl, url, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

describe('AlertService (real store, fake clock, local webhook receiver)', () => {
  let env: TestEnv;
  let mgr: Manager;
  let svc: AlertService;
  let clock: FakeClock;
  let hub: EventEmitter;
  let rx: Awaited<ReturnType<typeof receiver>>;

  const startService = async () => {
    mgr = new Manager({ store: env.store, log: env.log });
    svc = await AlertService.open({
      db: env.db, store: env.store, manager: mgr, hub, events: env.events, log: env.log, clock, startupGraceMs: 0,
      notifier: { timeoutMs: 300, retries: 2, backoffMs: 20 },
    });
    await mgr.start();
  };

  beforeEach(async () => {
    env = await openTestEnv();
    clock = new FakeClock();
    clock.t = Date.UTC(2026, 5, 1, 12, 0, 0);
    hub = new EventEmitter();
    rx = await receiver();
    await env.store.create<GameServer>({
      apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'mc', namespace: 'default', labels: { tier: 'gold' } },
      spec: { templateRef: 't', resources: { cpuCores: 1 } },
    });
    await env.store.patchStatus('GameServer', 'default', 'mc', { phase: 'running', nodeName: 'n1' });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'n1' }, spec: { address: '127.0.0.1' } });
    await env.store.patchStatus('GameNode', undefined, 'n1', { phase: 'Online' });
  });
  afterEach(async () => {
    await svc?.close();
    await mgr?.stop();
    await rx.close();
    await env.close();
  });

  const addRule = (name: string, spec: Partial<AlertRuleSpec>) =>
    env.store.create<AlertRule>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'AlertRule', metadata: { name }, spec: { type: 'resource_threshold', ...spec } as AlertRuleSpec });
  const uid = async () => (await env.store.get<GameServer>('GameServer', 'default', 'mc')).metadata.uid!;
  const sample = (u: string, cpuPercent: number): StatsSample => ({
    uid: u, containerId: 'c', time: clock.t, cpuPercent, onlineCpus: 2, memoryBytes: 100, memoryLimitBytes: 1000, memoryPercent: 10,
    networkRxBytes: 0, networkTxBytes: 0, blockReadBytes: 0, blockWriteBytes: 0, pids: 1, overDiskLimit: false,
  });
  /** One sample every 5 s for `seconds`. */
  const feed = (u: string, cpu: number, seconds: number) => {
    for (let s = 0; s < seconds; s += 5) {
      hub.emit('stats', 'n1', [sample(u, cpu)]);
      clock.advance(5000);
    }
  };
  const ruleReady = (name: string) => waitFor(() => !!mgr.informer<AlertRule>('AlertRule').getByName(undefined, name), `rule ${name} in the cache`);

  it('CPU > 90 % for 300 s: fires once after 300 s, Discord shape delivered, resolves when CPU drops', async () => {
    await startService();
    await addRule('high-cpu', {
      severity: 'critical', condition: { metric: 'cpu', operator: '>', value: 90, durationSeconds: 300 },
      actions: [{ url: `${rx.url}/discord`, format: 'discord' }, { url: `${rx.url}/slack`, format: 'slack' }, { url: `${rx.url}/generic` }],
    });
    await ruleReady('high-cpu');
    const u = await uid();
    feed(u, 95, 295);
    await svc.settled();
    expect(await svc.list()).toEqual([]);
    feed(u, 95, 10);
    await svc.settled();
    const [a] = await svc.list({ resolved: false });
    expect(a).toMatchObject({ rule: 'high-cpu', type: 'resource_threshold', severity: 'critical', serverId: 'mc', nodeId: 'n1', title: 'High CPU usage', resolved: false });
    expect(a!.message).toBe('CPU of server default/mc is 95 % (> 90 % for 300 s)');
    expect(a!.metadata).toMatchObject({ cpuUsage: 95, threshold: 90 });
    // Still high: no second alert.
    feed(u, 99, 60);
    await svc.settled();
    expect(await svc.list()).toHaveLength(1);
    const discord = rx.got.find((g) => g.path === '/discord')!.body as { embeds: { title: string; color: number; fields: unknown[] }[] };
    expect(discord.embeds[0]).toMatchObject({ title: '[CRITICAL] High CPU usage', color: 0xe74c3c });
    expect(rx.got.find((g) => g.path === '/slack')!.body).toMatchObject({ text: expect.stringContaining('High CPU usage') });
    expect(rx.got.find((g) => g.path === '/generic')!.body).toMatchObject({ event: 'alert.fired', alert: { id: a!.id } });

    feed(u, 20, 5);
    await svc.settled();
    const resolved = await svc.get(a!.id);
    expect(resolved).toMatchObject({ resolved: true, resolvedBy: null, resolution: 'condition cleared' });
    expect(rx.got.filter((g) => g.path === '/discord').map((g) => (g.body as { embeds: { title: string }[] }).embeds[0]!.title)).toEqual([
      '[CRITICAL] High CPU usage',
      '[RESOLVED] High CPU usage',
    ]);
    const rule = await until('rule status', async () => {
      const r = await env.store.get<AlertRule>('AlertRule', undefined, 'high-cpu');
      return r.status?.lastFiredAt && r.status.firing === 0 ? r : undefined;
    });
    expect(rule.status!.lastEvaluated).toBeTruthy();
  });

  it('a failing webhook is retried, a hanging one times out, and neither delays evaluation', async () => {
    rx.ctl.answer = (n, path) => (path === '/hang' ? 'hang' : n <= 2 ? 503 : 204);
    await startService();
    await addRule('cpu', { condition: { metric: 'cpu', operator: '>=', value: 50 }, actions: [{ url: `${rx.url}/flaky` }, { url: `${rx.url}/hang` }] });
    await ruleReady('cpu');
    const u = await uid();
    hub.emit('stats', 'n1', [sample(u, 80)]);
    // Evaluation went on while deliveries are pending: the alert is already being written.
    await waitFor(() => svc.notifier.stats.attempts > 0, 'a delivery attempt');
    clock.advance(5000);
    hub.emit('stats', 'n1', [sample(u, 10)]);
    await svc.settled();
    const all = await svc.list();
    expect(all).toHaveLength(1);
    expect(all[0]!.resolved).toBe(true);
    // Retries may reorder the two deliveries; each arrives once.
    expect(rx.got.filter((g) => g.path === '/flaky').map((g) => (g.body as { event: string }).event).sort()).toEqual(['alert.fired', 'alert.resolved']);
    expect(svc.notifier.stats.failed).toBe(2); // the hanging receiver, fired and resolved, each after 3 timed-out attempts
  });

  it('node_offline fires when the node goes Offline and resolves when it is back', async () => {
    await startService();
    await addRule('node-down', { type: 'node_offline', severity: 'critical', actions: [{ url: `${rx.url}/d`, format: 'discord' }] });
    await ruleReady('node-down');
    await env.store.patchStatus('GameNode', undefined, 'n1', { phase: 'Offline', lastHeartbeatTime: '2026-06-01T11:59:00Z' });
    const [a] = await until('a node_offline alert', async () => {
      await svc.settled();
      const l = await svc.list({ type: 'node_offline', resolved: false });
      return l.length ? l : undefined;
    });
    expect(a).toMatchObject({ nodeId: 'n1', serverId: null, title: 'Node offline', message: 'node n1 is offline (last heartbeat 2026-06-01T11:59:00Z)' });
    await env.store.patchStatus('GameNode', undefined, 'n1', { phase: 'Online' });
    await until('resolved', async () => {
      await svc.settled();
      return (await svc.get(a!.id)).resolved;
    });
  });

  it('server_crashed fires on phase crashed; hand resolution records the user; filters and stats', async () => {
    await startService();
    await addRule('crash', { type: 'server_crashed', severity: 'warning' });
    await addRule('mem', { condition: { metric: 'memory', operator: '>', value: 5 }, severity: 'info' });
    await ruleReady('crash');
    await ruleReady('mem');
    hub.emit('stats', 'n1', [sample(await uid(), 1)]);
    await env.store.patchStatus('GameServer', 'default', 'mc', { phase: 'crashed', exitCode: 3, crashCount: 1, message: 'crashed with exit code 3' });
    const crash = await until('a crash alert', async () => {
      await svc.settled();
      return (await svc.list({ type: 'server_crashed' }))[0];
    });
    expect(crash).toMatchObject({ serverId: 'mc', nodeId: 'n1', message: 'server default/mc crashed: crashed with exit code 3', metadata: { exitCode: 3, crashCount: 1 } });
    // The memory alert resolved itself: the server is not running any more.
    expect((await svc.list({ type: 'resource_threshold' }))[0]).toMatchObject({ resolved: true, resolution: 'the server is not running' });

    expect(await svc.list({ serverId: 'mc' })).toHaveLength(2);
    expect(await svc.list({ serverId: await uid(), severity: 'warning' })).toHaveLength(1);
    expect(await svc.list({ nodeId: 'elsewhere' })).toHaveLength(0);
    await expect(svc.list({ type: 'bogus' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/type must be one of/) });

    const r = await svc.resolve(crash.id, 'alice');
    expect(r).toMatchObject({ resolved: true, resolvedBy: 'alice', resolution: 'resolved by alice' });
    await expect(svc.resolve('nope', 'alice')).rejects.toMatchObject({ status: 404 });
    expect(await svc.bulkResolve([crash.id], 'bob')).toEqual([]);
    expect(await svc.stats()).toEqual({
      total: 2,
      unresolved: 0,
      byType: { resource_threshold: 1, node_offline: 0, server_crashed: 1 },
      bySeverity: { info: 1, warning: 1, critical: 0 },
    });
  });

  it('an open alert survives a restart of the service and resolves afterwards; deleting the rule resolves its alerts', async () => {
    await startService();
    await addRule('cpu', { condition: { metric: 'cpu', operator: '>', value: 50 } });
    await ruleReady('cpu');
    const u = await uid();
    hub.emit('stats', 'n1', [sample(u, 80)]);
    await svc.settled();
    expect(await svc.list({ resolved: false })).toHaveLength(1);
    await svc.close();
    await mgr.stop();

    await startService();
    await ruleReady('cpu');
    hub.emit('stats', 'n1', [sample(u, 80)]);
    await svc.settled();
    expect(await svc.list()).toHaveLength(1);
    await env.store.delete('AlertRule', undefined, 'cpu');
    await until('resolved by deletion', async () => {
      await svc.settled();
      return (await svc.list())[0]?.resolution === 'rule deleted';
    });
  });
});
