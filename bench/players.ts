// Player queries: what the agent's poller costs over bare gamedig, and what publishing costs the
// controller.
//
//   node dist/bench/players.js      (BENCH_QUERY_SERVERS=500, BENCH_QUERY_CONCURRENCY=8, BENCH_PLANS=1000)
//
//   (a) one round of N servers through PlayerPoller (bounded, deduplicated), against a real Minecraft
//       SLP responder on loopback, vs the same N gamedig queries run directly with the same concurrency.
//   (b) the GameServer plan for N running servers whose player count did not change since the last
//       query (the steady state of a big node): µs per plan and status writes, vs the same plans with
//       no player sample at all. Writing on every query would be N writes per interval.
import { performance } from 'node:perf_hooks';
import { PlayerPoller, gamedigQuery, type PlayerSample } from '../agent/runtime/players.ts';
import { LABEL_QUERY } from '../agent/runtime/spec.ts';
import { resolveDesired } from '../controller/reconcilers/gameserver/desired.ts';
import { applyStatusPatch, FINALIZER, plan, type PlanInput } from '../controller/reconcilers/gameserver/plan.ts';
import type { GameNode, GameServer, ServerTemplate } from '../crds/types.ts';
import { startSlpResponder } from '../test/helpers/query-responders.ts';
import { fmt, num, ratio, runIfMain } from './lib.ts';

async function pooled(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

export async function run(): Promise<void> {
  const n = num('BENCH_QUERY_SERVERS', 500);
  const concurrency = num('BENCH_QUERY_CONCURRENCY', 8);
  const slp = await startSlpResponder({ online: 7, max: 50, names: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'] });
  try {
    const q = { type: 'protocol-minecraftvanilla', host: '127.0.0.1', port: slp.port, timeoutMs: 2000 };
    await gamedigQuery(q); // warm-up
    let t0 = performance.now();
    await pooled(n, concurrency, () => gamedigQuery(q));
    const bareMs = performance.now() - t0;

    const targets = Array.from({ length: n }, (_, i) => ({ uid: `srv-${i}`, labels: { [LABEL_QUERY]: JSON.stringify({ type: q.type, host: q.host, port: q.port, intervalSeconds: 3600, timeoutSeconds: 2 }) } }));
    const seen = new Set<string>();
    const poller = new PlayerPoller({ targets: () => targets, onChange: (s) => s.forEach((x) => seen.add(x.uid)), concurrency, tickMs: 5 });
    t0 = performance.now();
    poller.start();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (seen.size === n) {
          clearInterval(t);
          resolve();
        }
      }, 2);
    });
    const pollMs = performance.now() - t0;
    poller.stop();
    console.log(`(a) one query round of ${fmt(n)} servers, ${concurrency} at a time: poller ${fmt(pollMs)} ms (${fmt((n / pollMs) * 1000)}/s) vs bare gamedig ${fmt(bareMs)} ms (${fmt((n / bareMs) * 1000)}/s): ${ratio(pollMs, bareMs)}`);
  } finally {
    await slp.close();
  }

  // (b)
  const plans = num('BENCH_PLANS', 1000);
  const template: ServerTemplate = { apiVersion: 'gantry.dev/v1alpha1', kind: 'ServerTemplate', metadata: { name: 't' }, spec: { image: 'x:1', startCommand: '/run', ports: [{ containerPort: 25565 }], query: { type: 'minecraft' } } };
  const node: GameNode = { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'n' }, spec: { address: '10.0.0.1' } };
  const inputs: PlanInput[] = [];
  for (let i = 0; i < plans; i++) {
    const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const server: GameServer = {
      apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer',
      metadata: { name: `s${i}`, namespace: 'default', uid, generation: 1, finalizers: [FINALIZER] },
      spec: { templateRef: 't', nodeName: 'n', state: 'Running' },
      status: { nodeName: 'n', ports: [{ containerPort: 25565, hostPort: 27000 + (i % 1000), protocol: 'TCP' }] },
    };
    const desired = resolveDesired(server, template, node);
    const observed = { uid, containerId: `c${i}`, state: 'running' as const, startedAt: '2026-01-01T00:00:00.000Z', oomKilled: false, ports: [] };
    const sample: PlayerSample = { uid, time: Date.parse('2026-01-01T00:01:00Z'), online: 3, max: 20, names: ['a', 'b', 'c'] };
    const base: PlanInput = { server, desired, observed, nodeConnected: true, now: new Date('2026-01-01T00:02:00Z'), players: sample };
    // settle: create/start, then the first player write
    for (let k = 0; k < 4; k++) {
      const r = plan({ ...base, server });
      server.status = applyStatusPatch(applyStatusPatch(server.status, r.progress), r.status);
      if (r.actions.some((a) => a.type === 'create')) server.status.specHash = (desired as { hash: string }).hash;
    }
    inputs.push({ ...base, server, players: { ...sample, time: sample.time + 30_000 } });
  }
  const measure = (withPlayers: boolean) => {
    let writes = 0;
    const t = performance.now();
    for (const inp of inputs) {
      const r = plan(withPlayers ? inp : { ...inp, players: undefined, server: { ...inp.server, status: { ...inp.server.status, players: undefined } } });
      if (Object.keys(r.status).length) writes++;
    }
    return { us: ((performance.now() - t) * 1000) / inputs.length, writes };
  };
  measure(true);
  measure(false);
  const w = measure(true);
  const wo = measure(false);
  console.log(`(b) planning ${fmt(plans)} running servers with an unchanged player count: ${fmt(w.us, 1)} µs/plan, ${w.writes} status writes (writing every query: ${fmt(plans)}) vs ${fmt(wo.us, 1)} µs/plan without players: ${ratio(w.us, wo.us)}`);
}

runIfMain(import.meta.url, run);
