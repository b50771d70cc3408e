import { describe, expect, it } from 'vitest';
import type { GameNode, GameServer, GameServerSpec, GameServerStatus, ServerTemplate } from '../../crds/types.ts';
import type { ObservedContainer } from '../../agent/runtime/events.ts';
import type { PlayerSample } from '../../agent/runtime/players.ts';
import { resolveDesired, type DesiredResult } from '../../controller/reconcilers/gameserver/desired.ts';
import {
  applyStatusPatch, crashBackoffMs, FINALIZER, getCondition, plan, planFailure, triggerPending,
  type Action, type PlanInput, type PlanResult,
} from '../../controller/reconcilers/gameserver/plan.ts';

// ---- fixtures ----------------------------------------------------------------------------------
const T0 = Date.parse('2026-03-01T12:00:00Z');
const at = (ms: number) => new Date(T0 + ms);
const iso = (ms: number) => at(ms).toISOString();
const UID = '0b6c2f9e-1111-4222-8333-444455556666';

const template = (over: Partial<ServerTemplate['spec']> = {}): ServerTemplate => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'ServerTemplate',
  metadata: { name: 'testgame' },
  spec: {
    image: 'gantry-test/gameserver:1',
    startCommand: '/gameserver.sh --port {{SERVER_PORT}}',
    stop: { type: 'command', value: 'stop' },
    readyPattern: 'Done! server ready',
    install: { script: 'date > /data/installed' },
    ports: [{ name: 'game', containerPort: 25565 }],
    variables: [{ name: 'MOTD', default: 'hi' }],
    ...over,
  },
});
const node: GameNode = { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'node-a' }, spec: { address: '10.0.0.5' } };

function newServer(spec: Partial<GameServerSpec> = {}, opts: { finalizer?: boolean; status?: GameServerStatus } = {}): GameServer {
  return {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'GameServer',
    metadata: { name: 'example', namespace: 'default', uid: UID, generation: 1, finalizers: opts.finalizer === false ? [] : [FINALIZER] },
    spec: { templateRef: 'testgame', nodeName: 'node-a', state: 'Running', stopTimeoutSeconds: 30, restartPolicy: { policy: 'on-failure', maxCrashCount: 5 }, ...spec },
    // Admitted (the scheduler wrote status.nodeName): the plan never writes it.
    status: opts.status ?? { nodeName: 'node-a', ports: [{ containerPort: 25565, protocol: 'TCP', hostPort: 27001 }] },
  };
}

// ---- a fake world: the store's status writes, the finalizer updates and an agent ------------------
interface World {
  server: GameServer;
  tmpl: ServerTemplate | undefined;
  observed?: ObservedContainer;
  nodeConnected: boolean;
  nowMs: number;
  /** the ready line was seen in the current run */
  ready: boolean;
  /** the next start exits at once with this code (a crash loop) */
  crashOnStart?: { code: number; oom?: boolean };
  seq: number;
  log: Action['type'][];
  /** the agent's latest player count */
  players?: PlayerSample;
}

function world(spec: Partial<GameServerSpec> = {}, over: Partial<World> = {}): World {
  return { server: newServer(spec), tmpl: template(), nodeConnected: true, nowMs: 0, ready: true, seq: 0, log: [], ...over };
}

const desiredOf = (w: World): DesiredResult => resolveDesired(w.server, w.tmpl, node);

function inputOf(w: World): PlanInput {
  return { server: w.server, desired: desiredOf(w), observed: w.observed, nodeConnected: w.nodeConnected, now: at(w.nowMs), recentConsoleMatchedReady: w.ready, players: w.players };
}

function simulate(w: World, a: Action): void {
  w.log.push(a.type);
  const o = w.observed;
  const stamp = () => iso(w.nowMs + ++w.seq);
  switch (a.type) {
    case 'addFinalizer':
      w.server.metadata.finalizers = [...(w.server.metadata.finalizers ?? []), a.finalizer];
      break;
    case 'removeFinalizer':
      w.server.metadata.finalizers = (w.server.metadata.finalizers ?? []).filter((f) => f !== a.finalizer);
      break;
    case 'create':
      if (o && o.state === 'running') throw new Error('agent: its container runs with another spec; stop it before re-creating');
      w.observed = { uid: UID, containerId: `c${++w.seq}`, state: 'created', oomKilled: false, ports: [], specHash: `agent-${a.hash}` };
      break;
    case 'start':
      if (!o) throw new Error('agent: no container');
      if (o.state === 'running') break;
      if (w.crashOnStart) {
        const started = stamp();
        w.observed = { ...o, state: 'exited', startedAt: started, finishedAt: stamp(), exitCode: w.crashOnStart.code, oomKilled: !!w.crashOnStart.oom };
      } else {
        w.observed = { ...o, state: 'running', startedAt: stamp(), exitCode: undefined, finishedAt: undefined, oomKilled: false };
      }
      break;
    case 'stop':
    case 'kill':
      if (o?.state === 'running') w.observed = { ...o, state: 'exited', exitCode: a.type === 'kill' ? 137 : 0, finishedAt: stamp() };
      break;
    case 'remove':
      w.observed = undefined;
      break;
    case 'ensureDataDir':
    case 'ensureImage':
    case 'install':
      break;
  }
}

/** One reconcile: plan, write progress, run the actions against the fake agent, write status. */
function step(w: World): PlanResult {
  const r = plan(inputOf(w));
  w.server.status = applyStatusPatch(w.server.status, r.progress);
  for (const a of r.actions) simulate(w, a);
  w.server.status = applyStatusPatch(w.server.status, r.status);
  return r;
}

const quiet = (r: PlanResult) => r.actions.length === 0 && Object.keys(r.status).length === 0 && Object.keys(r.progress).length === 0;

/** Reconciles until nothing changes; returns every step's result. Fails when it does not settle. */
function converge(w: World, max = 10): PlanResult[] {
  const out: PlanResult[] = [];
  for (let i = 0; i < max; i++) {
    const r = step(w);
    out.push(r);
    if (quiet(r)) return out;
  }
  throw new Error(`did not settle in ${max} steps: ${JSON.stringify(out.map((r) => r.actions.map((a) => a.type)))}`);
}

const types = (r: PlanResult) => r.actions.map((a) => a.type);
const reasons = (r: PlanResult) => r.events.map((e) => e.reason);
const st = (w: World) => w.server.status ?? {};
const cond = (w: World, type: string) => getCondition(w.server.status, type);

/** A server that is up and ready (installed, created, started, ready line seen). */
function runningWorld(spec: Partial<GameServerSpec> = {}, over: Partial<World> = {}): World {
  const w = world(spec, over);
  converge(w);
  expect(st(w).phase).toBe('running');
  w.log = [];
  return w;
}

/** Asserts idempotence: the same observed state again gives no actions and an empty patch. */
function expectSettled(w: World) {
  const r = plan(inputOf(w));
  expect({ actions: r.actions, status: r.status, progress: r.progress, events: r.events }).toEqual({ actions: [], status: {}, progress: {}, events: [] });
}

// ---- the state table ---------------------------------------------------------------------------
interface Row {
  name: string;
  world: () => World;
  actions: Action['type'][];
  phase?: string;
  progressPhase?: string;
  requeueAfterMs?: number;
  status?: Partial<GameServerStatus>;
  events?: string[];
}

const rows: Row[] = [
  {
    name: 'no nodeName → Scheduled=False, nothing else',
    world: () => world({ nodeName: undefined }),
    actions: [],
    phase: undefined,
  },
  {
    name: 'finalizer missing → added first',
    world: () => { const w = world({ state: 'Stopped' }); w.server.metadata.finalizers = []; return w; },
    actions: ['addFinalizer', 'ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create'],
    progressPhase: 'installing',
    phase: 'stopped',
  },
  {
    name: 'node not connected → NodeReachable=False, no actions',
    world: () => { const w = runningWorld(); w.nodeConnected = false; return w; },
    actions: [],
    phase: 'running',
    events: ['NodeUnreachable'],
  },
  {
    name: 'first start with an install script → install, create, start',
    world: () => world(),
    actions: ['ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create', 'start'],
    progressPhase: 'installing',
    phase: 'starting',
    status: { installedAt: iso(0), nodeName: 'node-a' },
    events: ['Installing', 'Installed', 'Starting'],
  },
  {
    name: 'first start without an install script → data dir, create, start',
    world: () => world({}, { tmpl: template({ install: undefined }) }),
    actions: ['ensureDataDir', 'ensureImage', 'create', 'start'],
    phase: 'starting',
    events: ['Starting'],
  },
  {
    name: 'new server with state Stopped → installed and its container created, not started',
    world: () => world({ state: 'Stopped' }),
    actions: ['ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create'],
    progressPhase: 'installing',
    phase: 'stopped',
    status: { installedAt: iso(0), nodeName: 'node-a' },
    events: ['Installing', 'Installed'],
  },
  {
    name: 'new server with state Stopped, no install script → data dir, image, container; not started',
    world: () => world({ state: 'Stopped' }, { tmpl: template({ install: undefined }) }),
    actions: ['ensureDataDir', 'ensureImage', 'create'],
    progressPhase: 'installing',
    phase: 'stopped',
    status: { nodeName: 'node-a' },
    events: [],
  },
  {
    name: 'stopped, installed, container removed behind our back → created again, not started',
    world: () => { const w = world({ state: 'Stopped' }); converge(w); w.observed = undefined; return w; },
    actions: ['ensureDataDir', 'ensureImage', 'create'],
    progressPhase: 'installing',
    phase: 'stopped',
  },
  {
    name: 'reinstalledAt without an install script, stopped → installing, image checked, stopped',
    world: () => { const w = world({ state: 'Stopped' }, { tmpl: template({ install: undefined }) }); converge(w); w.server.spec!.reinstalledAt = iso(5000); return w; },
    actions: ['ensureImage'],
    progressPhase: 'installing',
    phase: 'stopped',
    status: { handledReinstalledAt: iso(5000) },
    events: ['Installing', 'Installed'],
  },
  {
    name: 'reinstalledAt without an install script, running → stop, start again',
    world: () => { const w = runningWorld({}, { tmpl: template({ install: undefined }) }); w.server.spec!.reinstalledAt = iso(5000); return w; },
    actions: ['stop', 'ensureImage', 'start'],
    progressPhase: 'installing',
    phase: 'starting',
    status: { handledReinstalledAt: iso(5000) },
    events: ['Installing', 'Starting'],
  },
  {
    name: 'running, ready line not seen → starting',
    world: () => { const w = world(); converge(w); w.server.status!.phase = 'starting'; w.ready = false; return w; },
    actions: [],
    phase: 'starting',
  },
  {
    name: 'desired Stopped, running → stop with the timeout',
    world: () => { const w = runningWorld({ stopTimeoutSeconds: 12 }); w.server.spec!.state = 'Stopped'; return w; },
    actions: ['stop'],
    progressPhase: 'stopping',
    phase: 'stopped',
    events: ['Stopping', 'Stopped'],
  },
  {
    name: 'desired Running, stopped on request earlier → start',
    world: () => { const w = runningWorld(); w.server.spec!.state = 'Stopped'; converge(w); w.server.spec!.state = 'Running'; return w; },
    actions: ['start'],
    phase: 'starting',
  },
  {
    name: 'crash → counted, back-off, no restart yet',
    world: () => { const w = runningWorld(); w.observed = { ...w.observed!, state: 'exited', exitCode: 3, finishedAt: iso(1000) }; w.nowMs = 2000; return w; },
    actions: [],
    phase: 'crashed',
    requeueAfterMs: 10_000,
    status: { crashCount: 1, exitCode: 3, lastCrashAt: iso(2000) },
    events: ['Crashed', 'CrashLoopBackOff'],
  },
  {
    name: 'OOM kill → a crash with reason OOMKilled',
    world: () => { const w = runningWorld(); w.observed = { ...w.observed!, state: 'exited', exitCode: 137, oomKilled: true }; return w; },
    actions: [],
    phase: 'crashed',
    requeueAfterMs: 10_000,
    status: { crashCount: 1, exitCode: 137, oomKilled: true },
    events: ['OOMKilled', 'CrashLoopBackOff'],
  },
  {
    name: 'restart policy never → crashed, no restart',
    world: () => { const w = runningWorld({ restartPolicy: { policy: 'never' } }); w.observed = { ...w.observed!, state: 'exited', exitCode: 1 }; return w; },
    actions: [],
    phase: 'crashed',
    status: { crashCount: 1 },
    events: ['Crashed'],
  },
  {
    name: 'clean exit with on-failure → stopped (Exited), no restart',
    world: () => { const w = runningWorld(); w.observed = { ...w.observed!, state: 'exited', exitCode: 0 }; return w; },
    actions: [],
    phase: 'stopped',
    status: { exitCode: 0 },
    events: ['Exited'],
  },
  {
    name: 'clean exit with always → restarted at once, not a crash',
    world: () => { const w = runningWorld({ restartPolicy: { policy: 'always' } }); w.observed = { ...w.observed!, state: 'exited', exitCode: 0 }; return w; },
    actions: ['start'],
    phase: 'starting',
    events: ['Exited', 'Starting'],
  },
  {
    name: 'restartedAt on a running server → stop then start',
    world: () => { const w = runningWorld(); w.server.spec!.restartedAt = iso(5000); return w; },
    actions: ['stop', 'start'],
    progressPhase: 'stopping',
    phase: 'starting',
    status: { handledRestartedAt: iso(5000) },
    events: ['Restarting', 'Starting'],
  },
  {
    name: 'killedAt (with Stopped, as the API sets it) → kill',
    world: () => { const w = runningWorld(); w.server.spec!.killedAt = iso(5000); w.server.spec!.state = 'Stopped'; return w; },
    actions: ['kill'],
    phase: 'stopped',
    status: { handledKilledAt: iso(5000) },
    events: ['Killed'],
  },
  {
    name: 'suspended while running → stop, phase suspended',
    world: () => { const w = runningWorld(); w.server.spec!.suspended = true; w.server.spec!.suspendReason = 'unpaid'; return w; },
    actions: ['stop'],
    progressPhase: 'stopping',
    phase: 'suspended',
    status: { message: 'suspended: unpaid' },
    events: ['Suspended'],
  },
  {
    name: 'spec changed while running → no action, pending recreate',
    world: () => { const w = runningWorld(); w.server.spec!.environment = { MOTD: 'new' }; return w; },
    actions: [],
    phase: 'running',
    events: ['RecreatePending'],
  },
  {
    name: 'spec changed while stopped → re-created at once',
    world: () => { const w = runningWorld(); w.server.spec!.state = 'Stopped'; converge(w); w.server.spec!.environment = { MOTD: 'new' }; return w; },
    actions: ['ensureImage', 'create'],
    phase: 'stopped',
    events: ['Recreating'],
  },
  {
    name: 'template missing, nothing running → phase error with the reason',
    world: () => world({}, { tmpl: undefined }),
    actions: [],
    phase: 'error',
    events: ['TemplateNotFound'],
  },
  {
    name: 'deletion of a running server → stop, remove with data, release',
    world: () => { const w = runningWorld(); w.server.metadata.deletionTimestamp = iso(9000); return w; },
    actions: ['stop', 'remove', 'removeFinalizer'],
    progressPhase: 'stopping',
    events: ['Deleting'],
  },
];

describe('gameserver plan: state table', () => {
  it.each(rows)('$name', (row) => {
    const w = row.world();
    w.log = [];
    const r = step(w);
    expect(types(r)).toEqual(row.actions);
    if ('phase' in row) expect(st(w).phase).toBe(row.phase);
    if (row.progressPhase) expect(r.progress.phase).toBe(row.progressPhase);
    else expect(r.progress.phase).toBeUndefined();
    expect(r.requeueAfterMs).toBe(row.requeueAfterMs);
    if (row.status) expect(st(w)).toMatchObject(row.status);
    if (row.events) expect(reasons(r)).toEqual(row.events);
  });

  it.each(rows)('settles after the step, then re-planning is a no-op: $name', (row) => {
    const w = row.world();
    step(w);
    // the fake agent applied the actions: reconciling on reaches a fixpoint (or a timed wait) ...
    converge(w);
    // ... where the same observed state gives no actions, an empty patch and no events
    expectSettled(w);
  });
});

describe('gameserver plan: lifecycle', () => {
  it('a fresh server converges to running and then plans nothing at all', () => {
    const w = world();
    const steps = converge(w);
    expect(w.log).toEqual(['ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create', 'start']);
    expect(st(w)).toMatchObject({ phase: 'running', containerId: 'c1', specHash: expect.stringMatching(/^[0-9a-f]{16}$/), nodeName: 'node-a', address: '10.0.0.5:27001', observedGeneration: 1 });
    expect(st(w).ports).toEqual([{ name: 'game', containerPort: 25565, protocol: 'TCP', hostPort: 27001, primary: true }]);
    expect(cond(w, 'Ready')).toMatchObject({ status: 'True', reason: 'Running' });
    expect(cond(w, 'Installed')).toMatchObject({ status: 'True', reason: 'Installed' });
    expect(cond(w, 'Scheduled')).toMatchObject({ status: 'True' });
    expect(cond(w, 'NodeReachable')).toMatchObject({ status: 'True' });
    expect(steps.flatMap(reasons)).toEqual(['Installing', 'Installed', 'Starting', 'Started', 'Running']);
    expectSettled(w);
    // time passing changes nothing (no timestamps rewritten)
    w.nowMs = 3_600_000;
    expectSettled(w);
  });

  it('waits for the ready line: starting until the executor reports it, then running', () => {
    const w = world({}, { ready: false });
    converge(w);
    expect(st(w).phase).toBe('starting');
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'Starting' });
    const t = cond(w, 'Ready')!.lastTransitionTime;
    w.ready = true;
    w.nowMs = 5000;
    const r = step(w);
    expect(r.status.phase).toBe('running');
    expect(cond(w, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: iso(5000) });
    expect(t).not.toBe(iso(5000));
    // once running, it stays running for this run even if the executor forgets the line
    w.ready = false;
    expectSettled(w);
  });

  it('without a readyPattern the server is running as soon as the container runs', () => {
    const w = world({}, { ready: false, tmpl: template({ readyPattern: undefined }) });
    converge(w);
    expect(st(w).phase).toBe('running');
  });

  it('lastTransitionTime changes only when a condition status changes', () => {
    const w = runningWorld();
    w.nowMs = 10_000;
    w.server.spec!.state = 'Stopped';
    converge(w);
    const ready = cond(w, 'Ready')!;
    expect(ready).toMatchObject({ status: 'False', reason: 'Stopped', lastTransitionTime: iso(10_000) });
    const scheduled = cond(w, 'Scheduled')!;
    expect(scheduled.lastTransitionTime).toBe(iso(0));
    // another False reason later: the transition time stays
    w.nowMs = 20_000;
    w.server.spec!.suspended = true;
    converge(w);
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'Suspended', lastTransitionTime: iso(10_000) });
  });

  it('a generation bump is observed once (status and conditions), then nothing', () => {
    const w = runningWorld();
    w.server.metadata.generation = 2;
    w.server.spec!.displayName = 'Renamed';
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(r.status.observedGeneration).toBe(2);
    expect(st(w).conditions!.every((c) => c.observedGeneration === 2)).toBe(true);
    expectSettled(w);
  });

  it('state Stopped: graceful stop, the exit is recorded, never counted as a crash', () => {
    const w = runningWorld();
    w.server.spec!.state = 'Stopped';
    const r = step(w);
    expect(r.actions).toEqual([{ type: 'stop', timeoutSeconds: 30 }]);
    expect(r.progress).toMatchObject({ phase: 'stopping' });
    expect(r.status.phase).toBe('stopped');
    converge(w);
    expect(st(w)).toMatchObject({ phase: 'stopped', exitCode: 0 });
    expect(st(w).crashCount ?? 0).toBe(0);
    // a stop that ended in SIGKILL (exit 137) is not a crash either
    const w2 = runningWorld();
    w2.server.spec!.state = 'Stopped';
    step(w2);
    w2.observed = { ...w2.observed!, exitCode: 137 };
    converge(w2);
    expect(st(w2)).toMatchObject({ phase: 'stopped', exitCode: 137 });
    expect(st(w2).crashCount ?? 0).toBe(0);
  });

  it('a container removed behind our back is created again', () => {
    const w = runningWorld();
    w.observed = undefined;
    const before = st(w).containerId;
    const r = step(w);
    expect(types(r)).toEqual(['ensureDataDir', 'ensureImage', 'create', 'start']);
    converge(w);
    expect(st(w).phase).toBe('running');
    expect(st(w).containerId).toBe(w.observed!.containerId);
    expect(st(w).containerId).not.toBe(before);
    expect(w.log.filter((t) => t === 'install')).toEqual([]);
  });

  it('a container in state created (start failed earlier) is started', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'created', startedAt: undefined };
    w.server.status!.phase = 'error';
    expect(types(step(w))).toEqual(['start']);
  });
});

describe('gameserver plan: one-shot triggers run exactly once', () => {
  it('restartedAt: one stop+start, recorded; the same value never again; a newer one again', () => {
    const w = runningWorld();
    w.server.spec!.restartedAt = iso(5000);
    converge(w);
    expect(w.log).toEqual(['stop', 'start']);
    expect(st(w)).toMatchObject({ handledRestartedAt: iso(5000), phase: 'running' });
    w.log = [];
    converge(w);
    expect(w.log).toEqual([]);
    // an older value (clock skew, replayed manifest) is ignored
    w.server.spec!.restartedAt = iso(4000);
    converge(w);
    expect(w.log).toEqual([]);
    w.server.spec!.restartedAt = iso(9000);
    converge(w);
    expect(w.log).toEqual(['stop', 'start']);
  });

  it('restartedAt on a server that exited by itself starts it (the way to start it again)', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'exited', exitCode: 0 };
    converge(w);
    expect(st(w).phase).toBe('stopped');
    w.log = [];
    w.server.spec!.restartedAt = iso(5000);
    const r = step(w);
    expect(types(r)).toEqual(['start']);
    converge(w);
    expect(st(w).phase).toBe('running');
  });

  it('restartedAt while desired Stopped is recorded and does nothing', () => {
    const w = world({ state: 'Stopped' });
    converge(w);
    w.server.spec!.restartedAt = iso(5000);
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(r.status.handledRestartedAt).toBe(iso(5000));
    expect(reasons(r)).toEqual(['RestartSkipped']);
    expectSettled(w);
  });

  it('the handled value is written only after the actions (status), not with the progress', () => {
    const w = runningWorld();
    w.server.spec!.restartedAt = iso(5000);
    const r = plan(inputOf(w));
    expect(r.progress.handledRestartedAt).toBeUndefined();
    expect(r.status.handledRestartedAt).toBe(iso(5000));
  });

  it('killedAt with Stopped: kill once; exit 137 is not a crash; stays stopped', () => {
    const w = runningWorld();
    w.server.spec!.killedAt = iso(5000);
    w.server.spec!.state = 'Stopped';
    converge(w);
    expect(w.log).toEqual(['kill']);
    expect(st(w)).toMatchObject({ phase: 'stopped', exitCode: 137, handledKilledAt: iso(5000) });
    expect(st(w).crashCount ?? 0).toBe(0);
    expectSettled(w);
  });

  it('killedAt alone (state still Running) kills and starts again, without counting a crash', () => {
    const w = runningWorld();
    w.server.spec!.killedAt = iso(5000);
    converge(w);
    expect(w.log).toEqual(['kill', 'start']);
    expect(st(w)).toMatchObject({ phase: 'running', handledKilledAt: iso(5000) });
    expect(st(w).crashCount ?? 0).toBe(0);
  });

  it('killedAt on a stopped server is just recorded', () => {
    const w = world({ state: 'Stopped' });
    converge(w);
    w.server.spec!.killedAt = iso(5000);
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(r.status.handledKilledAt).toBe(iso(5000));
  });

  it('reinstalledAt on a running server: stop, install, start; recorded once', () => {
    const w = runningWorld();
    w.nowMs = 7000;
    w.server.spec!.reinstalledAt = iso(6000);
    const r = step(w);
    expect(types(r)).toEqual(['stop', 'ensureImage', 'install', 'start']);
    expect(r.progress).toMatchObject({ phase: 'installing' });
    expect(r.progress.handledReinstalledAt).toBeUndefined();
    expect(r.status).toMatchObject({ handledReinstalledAt: iso(6000), installedAt: iso(7000), phase: 'starting' });
    converge(w);
    expect(st(w).phase).toBe('running');
    w.log = [];
    converge(w);
    expect(w.log).toEqual([]);
  });

  it('reinstalledAt on a stopped server: install only, stays stopped (progress phase is rewritten)', () => {
    const w = world({ state: 'Stopped' });
    converge(w);
    w.server.spec!.reinstalledAt = iso(6000);
    const r = step(w);
    expect(types(r)).toEqual(['ensureImage', 'install']);
    expect(r.progress.phase).toBe('installing');
    // the final write must set phase back although it equals the status before the progress write
    expect(r.status.phase).toBe('stopped');
    expect(st(w)).toMatchObject({ phase: 'stopped', handledReinstalledAt: iso(6000) });
    expect(cond(w, 'Installed')).toMatchObject({ status: 'True', reason: 'Installed' });
    expectSettled(w);
  });

  it('a pending restart is satisfied by the start after an install', () => {
    const w = runningWorld();
    w.server.spec!.reinstalledAt = iso(6000);
    w.server.spec!.restartedAt = iso(6000);
    converge(w);
    expect(w.log).toEqual(['stop', 'ensureImage', 'install', 'start']);
    expect(st(w).handledRestartedAt).toBe(iso(6000));
  });

  it('triggerPending compares times, not strings', () => {
    expect(triggerPending(undefined, undefined)).toBe(false);
    expect(triggerPending('2026-01-01T00:00:00Z', undefined)).toBe(true);
    expect(triggerPending('2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z')).toBe(false);
    expect(triggerPending('2026-01-01T00:00:01Z', '2026-01-01T00:00:00Z')).toBe(true);
    expect(triggerPending('garbage', '2026-01-01T00:00:00Z')).toBe(false);
  });
});

describe('gameserver plan: crashes, back-off and the crash limit', () => {
  it('back-off doubles from 10 s and is capped at 5 min', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(crashBackoffMs)).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('a crash loop: count rises, each restart waits its back-off, the limit stops it, a reset starts it', () => {
    const w = runningWorld({ restartPolicy: { policy: 'on-failure', maxCrashCount: 4 } });
    w.crashOnStart = { code: 3 };
    w.observed = { ...w.observed!, state: 'exited', exitCode: 3, finishedAt: iso(1) };
    const delays: (number | undefined)[] = [];
    for (let crash = 1; crash <= 4; crash++) {
      const r = step(w); // counts the crash
      expect(st(w).crashCount).toBe(crash);
      expect(r.actions).toEqual([]);
      delays.push(r.requeueAfterMs);
      if (crash === 4) {
        expect(st(w).phase).toBe('crashed');
        expect(cond(w, 'Ready')).toMatchObject({ reason: 'CrashLimitReached' });
        expect(reasons(r)).toEqual(['Crashed', 'CrashLimitReached']);
        break;
      }
      expect(cond(w, 'Ready')).toMatchObject({ reason: 'CrashLoopBackOff' });
      // too early: still waiting, the remaining time is requeued, nothing written
      w.nowMs += r.requeueAfterMs! - 1000;
      const early = step(w);
      expect(early.actions).toEqual([]);
      expect(early.requeueAfterMs).toBe(1000);
      expect(early.status).toEqual({});
      expect(early.events).toEqual([]);
      w.nowMs += 1000;
      expect(types(step(w))).toEqual(['start']); // the fake agent crashes it at once
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, undefined]);
    // at the limit: no more restarts, however long we wait
    w.nowMs += 3_600_000;
    expectSettled(w);
    // crashCountResetAt: count back to 0, started at once
    w.crashOnStart = undefined;
    w.server.spec!.crashCountResetAt = iso(w.nowMs);
    const r = step(w);
    expect(types(r)).toEqual(['start']);
    expect(st(w)).toMatchObject({ crashCount: 0, handledCrashCountResetAt: iso(w.nowMs) });
    expect(reasons(r)).toContain('CrashCountReset');
    converge(w);
    expect(st(w).phase).toBe('running');
  });

  it('maxCrashCount 0 means no limit', () => {
    const w = runningWorld({ restartPolicy: { policy: 'on-failure', maxCrashCount: 0 } });
    w.server.status!.crashCount = 40;
    w.observed = { ...w.observed!, state: 'exited', exitCode: 1 };
    const r = step(w);
    expect(st(w).crashCount).toBe(41);
    expect(r.requeueAfterMs).toBe(300_000);
    expect(cond(w, 'Ready')!.reason).toBe('CrashLoopBackOff');
  });

  it('a crash after a long run starts the count over', () => {
    const w = runningWorld();
    w.server.status!.crashCount = 3;
    const started = w.observed!.startedAt!;
    w.observed = { ...w.observed!, state: 'exited', exitCode: 1, finishedAt: new Date(Date.parse(started) + 11 * 60_000).toISOString() };
    const r = step(w);
    expect(st(w).crashCount).toBe(1);
    expect(r.requeueAfterMs).toBe(10_000);
  });

  it('a crash is counted once, even if the agent reports the same exit again', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'exited', exitCode: 2 };
    step(w);
    expect(st(w).crashCount).toBe(1);
    expectSettled(w);
  });

  it('start issued, new run not reported yet: waits instead of counting the old exit again', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'exited', exitCode: 2 };
    step(w);
    w.nowMs = 10_000;
    const r = step(w);
    expect(types(r)).toEqual(['start']);
    // the agent's report of the new run is late: observed still shows the old exit
    w.observed = { ...w.observed!, state: 'exited', exitCode: 2, startedAt: st(w).startedAt };
    const stale = plan(inputOf(w));
    expect(stale.actions).toEqual([]);
    expect(stale.status).toEqual({});
    expect(stale.requeueAfterMs).toBe(5000);
    expect(st(w).crashCount).toBe(1);
  });

  it('an OOM crash records oomKilled and the reason; the next run clears the exit fields', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'exited', exitCode: 137, oomKilled: true };
    const r = step(w);
    expect(st(w)).toMatchObject({ oomKilled: true, exitCode: 137, crashCount: 1, phase: 'crashed' });
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'OOMKilled' });
    expect(r.events[0].message).toMatch(/out of memory/);
    w.nowMs = 10_000;
    converge(w);
    expect(st(w).phase).toBe('running');
    expect(st(w).oomKilled).toBeUndefined();
    expect(st(w).exitCode).toBeUndefined();
    expect(st(w).crashCount).toBe(1);
  });

  it('crash while starting (before the ready line) counts too', () => {
    const w = world({}, { ready: false });
    converge(w);
    expect(st(w).phase).toBe('starting');
    w.observed = { ...w.observed!, state: 'exited', exitCode: 1 };
    step(w);
    expect(st(w)).toMatchObject({ phase: 'crashed', crashCount: 1 });
  });

  it('an explicit restart starts a server stopped at the crash limit', () => {
    const w = runningWorld({ restartPolicy: { policy: 'on-failure', maxCrashCount: 1 } });
    w.observed = { ...w.observed!, state: 'exited', exitCode: 1 };
    step(w);
    expect(cond(w, 'Ready')!.reason).toBe('CrashLimitReached');
    w.server.spec!.restartedAt = iso(1000);
    expect(types(step(w))).toEqual(['start']);
  });

  it('switching the policy to always restarts a server that exited cleanly', () => {
    const w = runningWorld();
    w.observed = { ...w.observed!, state: 'exited', exitCode: 0 };
    converge(w);
    expect(w.log).toEqual([]);
    w.server.spec!.restartPolicy = { policy: 'always' };
    expect(types(step(w))).toEqual(['start']);
  });
});

describe('gameserver plan: spec changes (recreate)', () => {
  it('running: pending recreate (condition + message), applied at the next stop', () => {
    const w = runningWorld();
    const oldHash = st(w).specHash;
    w.server.spec!.environment = { MOTD: 'changed' };
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(cond(w, 'UpToDate')).toMatchObject({ status: 'False', reason: 'PendingRecreate' });
    expect(st(w).message).toMatch(/re-created at the next stop/);
    expectSettled(w);
    // stop → the next reconcile re-creates the stopped container at once
    w.server.spec!.state = 'Stopped';
    converge(w);
    expect(w.log).toEqual(['stop', 'ensureImage', 'create']);
    expect(st(w).specHash).not.toBe(oldHash);
    expect(cond(w, 'UpToDate')).toMatchObject({ status: 'True' });
    expect(st(w).message).toBeUndefined();
    const create = w.observed!;
    expect(create.state).toBe('created');
    w.server.spec!.state = 'Running';
    w.log = [];
    converge(w);
    expect(w.log).toEqual(['start']);
  });

  it('running + restartedAt: stop, re-create, start in one go', () => {
    const w = runningWorld();
    w.server.spec!.resources = { memoryMb: 512 };
    step(w);
    w.server.spec!.restartedAt = iso(1000);
    const r = step(w);
    expect(types(r)).toEqual(['stop', 'ensureImage', 'create', 'start']);
    const create = r.actions.find((a) => a.type === 'create');
    expect(create).toMatchObject({ recreate: true, spec: { memoryMb: 512 } });
    expect(reasons(r)).toEqual(['Restarting', 'Recreating', 'Starting']);
    converge(w);
    expect(cond(w, 'UpToDate')!.status).toBe('True');
  });

  it('a crashed container with an old spec is re-created when restarted', () => {
    const w = runningWorld();
    w.server.spec!.environment = { MOTD: 'changed' };
    step(w);
    w.observed = { ...w.observed!, state: 'exited', exitCode: 1 };
    step(w);
    w.nowMs = 10_000;
    expect(types(step(w))).toEqual(['ensureImage', 'create', 'start']);
  });

  it('an adopted container without a recorded hash is re-created at its next stop, never installed over', () => {
    const w = runningWorld();
    delete w.server.status!.specHash;
    delete w.server.status!.installedAt;
    w.server.status!.conditions = w.server.status!.conditions!.filter((c) => c.type !== 'Installed');
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(cond(w, 'Installed')).toMatchObject({ status: 'True', reason: 'Adopted' });
    expect(cond(w, 'UpToDate')).toMatchObject({ status: 'False' });
    // even if the container goes away later, an adopted server is not installed
    w.observed = undefined;
    expect(types(step(w))).toEqual(['ensureDataDir', 'ensureImage', 'create', 'start']);
  });
});

describe('gameserver plan: node, scheduling, suspension, errors', () => {
  it('no nodeName: only Scheduled=False, keeping a reason the scheduler wrote', () => {
    const w = world({ nodeName: undefined });
    const r = step(w);
    expect(r.status).toEqual({ observedGeneration: 1, conditions: [expect.objectContaining({ type: 'Scheduled', status: 'False', reason: 'Pending' })] });
    w.server.status!.conditions = [{ type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: 'no node has 4096 MiB free', lastTransitionTime: iso(0) }];
    expectSettled(w);
  });

  it('node unreachable: the event once, containers untouched, then reachable again', () => {
    const w = runningWorld();
    w.nodeConnected = false;
    w.server.spec!.state = 'Stopped'; // even a wanted stop waits for the node
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(cond(w, 'NodeReachable')).toMatchObject({ status: 'False', reason: 'NodeUnreachable' });
    expect(st(w).phase).toBe('running');
    expectSettled(w);
    w.nodeConnected = true;
    const back = step(w);
    expect(reasons(back)).toContain('NodeReachable');
    expect(types(back)).toEqual(['stop']);
  });

  it('spec.nodeName differing from where the data is → transferring, no actions', () => {
    const w = runningWorld();
    w.server.spec!.state = 'Stopped';
    converge(w);
    w.server.spec!.nodeName = 'node-b';
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(st(w).phase).toBe('transferring');
    expectSettled(w);
  });

  it('a transfer under way (status.transfer Streaming) holds the container, also after spec.nodeName went back', () => {
    const w = runningWorld();
    w.server.spec!.state = 'Stopped';
    converge(w);
    w.server.status!.transfer = { id: 'x1', from: 'node-a', to: 'node-b', phase: 'Streaming' };
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(st(w)).toMatchObject({ phase: 'transferring', message: 'moving the data from node node-a to node node-b' });
    expectSettled(w);
    // Cleaning up after the move (or after a rollback): the server is on its data node and works.
    w.server.status!.transfer = { id: 'x1', from: 'node-a', to: 'node-b', phase: 'CleaningTarget' };
    w.server.spec!.state = 'Running';
    converge(w);
    expect(st(w).phase).toBe('running');
  });

  it('never writes status.nodeName: the scheduler admits, the transfer controller moves it', () => {
    const w = world();
    const written = [...converge(w), ...converge(Object.assign(w, { server: { ...w.server, spec: { ...w.server.spec!, state: 'Stopped' as const } } }))];
    for (const r of written) {
      expect(r.status).not.toHaveProperty('nodeName');
      expect(r.progress).not.toHaveProperty('nodeName');
    }
  });

  it('suspension: triggers are swallowed; unsuspending starts it again (desired Running)', () => {
    const w = runningWorld();
    w.server.spec!.suspended = true;
    converge(w);
    expect(st(w).phase).toBe('suspended');
    w.log = [];
    w.server.spec!.restartedAt = iso(1000);
    w.server.spec!.killedAt = iso(1000);
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(st(w)).toMatchObject({ handledRestartedAt: iso(1000), handledKilledAt: iso(1000) });
    expectSettled(w);
    w.server.spec!.suspended = false;
    converge(w);
    expect(w.log).toEqual(['start']);
    expect(st(w).phase).toBe('running');
  });

  it('a broken template does not take a running server down; stop still works', () => {
    const w = runningWorld();
    w.tmpl = template({ variables: [{ name: 'TOKEN', required: true }] });
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(st(w).phase).toBe('running');
    expect(st(w).message).toMatch(/required variable "TOKEN"/);
    expect(reasons(r)).toEqual(['InvalidVariable']);
    expectSettled(w);
    w.server.spec!.state = 'Stopped';
    converge(w);
    expect(w.log).toEqual(['stop']);
    expect(st(w).phase).toBe('stopped');
  });

  it('desired error while not running → phase error; fixed → starts', () => {
    const w = world({}, { tmpl: undefined });
    converge(w);
    expect(st(w)).toMatchObject({ phase: 'error', message: 'ServerTemplate "testgame" does not exist' });
    expect(cond(w, 'Ready')).toMatchObject({ status: 'False', reason: 'TemplateNotFound' });
    w.tmpl = template();
    converge(w);
    expect(st(w).phase).toBe('running');
    expect(st(w).message).toBeUndefined();
  });
});

describe('gameserver plan: action failures (planFailure)', () => {
  it('install failure: phase error, sticky (no retry loop), retried on reinstalledAt', () => {
    const w = world();
    const input = inputOf(w);
    const r = plan(input);
    const install = r.actions.find((a) => a.type === 'install')!;
    w.server.status = applyStatusPatch(w.server.status, r.progress);
    const f = planFailure(input, r, install, { code: 'failed', message: 'script exited with 2' });
    w.server.status = applyStatusPatch(w.server.status, f.status);
    expect(st(w).phase).toBe('error');
    expect(cond(w, 'Installed')).toMatchObject({ status: 'False', reason: 'InstallFailed', message: 'install failed: script exited with 2' });
    expect(f.events).toEqual([{ type: 'Warning', reason: 'InstallFailed', message: 'install failed: script exited with 2' }]);
    expect(st(w).installedAt).toBeUndefined();
    converge(w);
    expect(w.log).toEqual([]);
    expect(st(w).phase).toBe('error');
    w.server.spec!.reinstalledAt = iso(1000);
    converge(w);
    expect(w.log).toEqual(['ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create', 'start']);
    expect(st(w).phase).toBe('running');
  });

  it('a failed reinstall records the trigger so it does not loop', () => {
    const w = runningWorld();
    w.server.spec!.reinstalledAt = iso(1000);
    const input = inputOf(w);
    const r = plan(input);
    w.server.status = applyStatusPatch(w.server.status, r.progress);
    const f = planFailure(input, r, r.actions.find((a) => a.type === 'install')!, { message: 'boom' });
    expect(f.status.handledReinstalledAt).toBe(iso(1000));
  });

  it('start failure (disk limit): phase error with the reason; the next reconcile tries again', () => {
    const w = world({}, { tmpl: template({ install: undefined }) });
    const input = inputOf(w);
    const r = plan(input);
    simulate(w, r.actions[0]);
    simulate(w, r.actions[1]);
    simulate(w, r.actions[2]); // created, then start fails
    const f = planFailure(input, r, r.actions[3], { code: 'disk_limit', message: 'disk usage over the 1024 MiB limit' });
    w.server.status = applyStatusPatch(w.server.status, f.status);
    expect(st(w)).toMatchObject({ phase: 'error', message: 'start failed: disk usage over the 1024 MiB limit' });
    expect(cond(w, 'Ready')!.reason).toBe('DiskLimitExceeded');
    expect(types(step(w))).toEqual(['start']);
  });

  it('image missing on a stopped server: the data dir is made first, then phase error ImageUnavailable; retried', () => {
    const w = world({ state: 'Stopped' }, { tmpl: template({ install: undefined }) });
    const input = inputOf(w);
    const r = plan(input);
    expect(types(r)).toEqual(['ensureDataDir', 'ensureImage', 'create']);
    w.server.status = applyStatusPatch(w.server.status, r.progress);
    const f = planFailure(input, r, r.actions[1], { code: 'image_unavailable', message: 'image "gantry-test/gameserver:1" is not present on this node and could not be pulled: no such host' });
    w.server.status = applyStatusPatch(w.server.status, f.status);
    expect(st(w)).toMatchObject({ phase: 'error', message: expect.stringContaining('ensureImage failed: image "gantry-test/gameserver:1" is not present') });
    expect(cond(w, 'Ready')!.reason).toBe('ImageUnavailable');
    // the next reconcile (the work queue's back-off) tries again, and succeeds once the image is there
    expect(types(step(w))).toEqual(['ensureDataDir', 'ensureImage', 'create']);
    expect(st(w).phase).toBe('stopped');
  });

  it('an install that failed on a stopped server stays in error until reinstalledAt', () => {
    const w = world({ state: 'Stopped' });
    const input = inputOf(w);
    const r = plan(input);
    w.server.status = applyStatusPatch(w.server.status, r.progress);
    w.server.status = applyStatusPatch(w.server.status, planFailure(input, r, r.actions.find((a) => a.type === 'install')!, { message: 'exit 1' }).status);
    converge(w);
    expect(w.log).toEqual([]);
    expect(st(w)).toMatchObject({ phase: 'error', message: 'the install script failed; set spec.reinstalledAt to run it again' });
    w.server.spec!.reinstalledAt = iso(1000);
    converge(w);
    expect(w.log).toEqual(['ensureDataDir', 'ensureImage', 'install', 'ensureImage', 'create']);
    expect(st(w).phase).toBe('stopped');
  });

  it('finalizer conflicts only retry', () => {
    const w = world();
    w.server.metadata.finalizers = [];
    const input = inputOf(w);
    const r = plan(input);
    expect(planFailure(input, r, r.actions[0], { message: 'conflict' })).toEqual({ status: {}, events: [] });
  });
});

describe('gameserver plan: deletion', () => {
  it('running server: graceful stop, container and data removed, finalizer released', () => {
    const w = runningWorld();
    w.server.metadata.deletionTimestamp = iso(1000);
    const r = step(w);
    expect(r.actions).toEqual([
      { type: 'stop', timeoutSeconds: 30 },
      { type: 'remove', removeData: true, dataDir: 'default/example' },
      { type: 'removeFinalizer', finalizer: FINALIZER },
    ]);
    expect(w.server.metadata.finalizers).toEqual([]);
    expect(w.observed).toBeUndefined();
  });

  it('keepDataOnDelete keeps the data', () => {
    const w = runningWorld({ keepDataOnDelete: true });
    w.server.spec!.state = 'Stopped';
    converge(w);
    w.server.metadata.deletionTimestamp = iso(1000);
    const r = step(w);
    expect(r.actions).toEqual([
      { type: 'remove', removeData: false, dataDir: 'default/example' },
      { type: 'removeFinalizer', finalizer: FINALIZER },
    ]);
    expect(reasons(r)).toEqual(['Deleting']);
    expect(r.events[0].message).toMatch(/keeping the data/);
  });

  it('no container any more: data still removed (by dataDir), then released', () => {
    const w = runningWorld();
    w.observed = undefined;
    w.server.metadata.deletionTimestamp = iso(1000);
    expect(types(step(w))).toEqual(['remove', 'removeFinalizer']);
  });

  it('never scheduled: released at once', () => {
    const w = world({ nodeName: undefined });
    delete w.server.status!.nodeName;
    w.server.metadata.deletionTimestamp = iso(1000);
    expect(plan(inputOf(w)).actions).toEqual([{ type: 'removeFinalizer', finalizer: FINALIZER }]);
  });

  it('node unreachable: waits (the container is not forgotten)', () => {
    const w = runningWorld();
    w.nodeConnected = false;
    w.server.metadata.deletionTimestamp = iso(1000);
    const r = step(w);
    expect(r.actions).toEqual([]);
    expect(cond(w, 'NodeReachable')!.status).toBe('False');
    expectSettled(w);
  });

  it('not our finalizer any more: nothing to do', () => {
    const w = runningWorld();
    w.server.metadata.deletionTimestamp = iso(1000);
    w.server.metadata.finalizers = ['other.io/x'];
    expectSettled(w);
  });
});

describe('gameserver plan: idempotence over the settled states', () => {
  const settled: [string, () => World][] = [
    ['running', () => runningWorld()],
    ['stopped', () => { const w = runningWorld(); w.server.spec!.state = 'Stopped'; converge(w); return w; }],
    ['never started', () => { const w = world({ state: 'Stopped' }); converge(w); return w; }],
    ['suspended', () => { const w = runningWorld(); w.server.spec!.suspended = true; converge(w); return w; }],
    ['crash limit', () => { const w = runningWorld({ restartPolicy: { policy: 'on-failure', maxCrashCount: 1 } }); w.observed = { ...w.observed!, state: 'exited', exitCode: 1 }; converge(w); return w; }],
    ['exited cleanly', () => { const w = runningWorld(); w.observed = { ...w.observed!, state: 'exited', exitCode: 0 }; converge(w); return w; }],
    ['unreachable', () => { const w = runningWorld(); w.nodeConnected = false; converge(w); return w; }],
    ['error', () => { const w = world({}, { tmpl: undefined }); converge(w); return w; }],
  ];
  it.each(settled)('%s: re-planning gives no actions, no patch, no events', (_n, make) => {
    const w = make();
    expectSettled(w);
    w.nowMs += 1_000_000;
    expectSettled(w);
  });

  it('a status patch holds only what changed, and null deletes', () => {
    const w = runningWorld();
    w.server.spec!.state = 'Stopped';
    step(w);
    const r = step(w); // records the exit of the stopped container
    expect(Object.keys(r.status).sort()).toEqual(['exitCode']);
  });
});

describe('gameserver plan: player counts (status.players)', () => {
  const sample = (over: Partial<PlayerSample> = {}): PlayerSample => ({ uid: UID, time: T0 + 1000, online: 3, max: 20, names: ['alice', 'bob', 'carol'], ...over });

  it('published while running; the same answer from a later query is no status write; a change is one', () => {
    const w = runningWorld();
    w.players = sample();
    let r = step(w);
    expect(r.status.players).toEqual({ online: 3, max: 20, names: ['alice', 'bob', 'carol'], updatedAt: iso(1000) });
    expect(r.actions).toEqual([]);
    w.players = sample({ time: T0 + 31_000 });
    expectSettled(w);
    w.players = sample({ time: T0 + 61_000, online: 2, names: ['alice', 'carol'] });
    r = step(w);
    expect(r.status).toEqual({ players: { online: 2, max: 20, names: ['alice', 'carol'], updatedAt: iso(61_000) } });
    expectSettled(w);
  });

  it('a failing query keeps the last counts and says why; success clears the error', () => {
    const w = runningWorld();
    w.players = sample();
    step(w);
    w.players = sample({ time: T0 + 31_000, error: 'connect ECONNREFUSED 127.0.0.1:27001' });
    expect(step(w).status.players).toMatchObject({ online: 3, error: 'connect ECONNREFUSED 127.0.0.1:27001' });
    w.players = sample({ time: T0 + 61_000 });
    expect(step(w).status.players).not.toHaveProperty('error');
  });

  it('gone when the server stops, is stopped by this plan, or the agent has no count', () => {
    const w = runningWorld();
    w.players = sample();
    step(w);
    w.server.spec!.state = 'Stopped';
    const r = step(w);
    expect(types(r)).toEqual(['stop']);
    expect(r.status.players).toBeNull();
    const w2 = runningWorld();
    w2.players = sample();
    step(w2);
    w2.players = undefined;
    expect(step(w2).status.players).toBeNull();
  });
});
