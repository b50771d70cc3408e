// The GameServer state machine as a pure function: (server, desired, observed) → actions + status.
// No I/O, no clock (input.now), no randomness: the same input always gives the same plan, so it is
// tested over the whole state table without Docker (test/unit/gameserver-plan.test.ts).
//
// status.nodeName is never written here: the scheduler sets it at admission and only the transfer
// controller moves it (controller/reconcilers/transfer/); until admission the executor passes the
// server as unbound.
//
// Executor contract (the reconciler that calls this):
//   1. observed = the hub's container for server.metadata.uid on status.nodeName (undefined when none);
//      nodeConnected = that node's agent is connected AND has sent its snapshot since (hub `synced`).
//      recentConsoleMatchedReady = desired.readyPattern matched a console line since observed.startedAt.
//   2. If result.progress is non-empty, patch status with it BEFORE running the actions (it shows the
//      long steps — installing, stopping — while they run).
//   3. Run result.actions in order (each maps to one agent RPC with uid = metadata.uid, or a metadata
//      update for the finalizer actions); stop at the first failure.
//   4. All succeeded → patch status with result.status (skip when empty), record result.events.
//      A failure → patch status with planFailure(...).status, record its events, then throw (or return
//      { requeue: true }) so the work queue retries with backoff.
//   5. Return { requeueAfterMs: result.requeueAfterMs }.
// Status patches are JSON merge patches of `status` (null deletes a field; `conditions` is always the
// whole list). The plan only returns fields that changed, so writing it cannot loop.
//
// Why status is written after the actions: the one-shot triggers (handled*At), specHash and
// installedAt are recorded only once their action succeeded, so a crash of the controller between
// action and status write repeats the action (at-least-once, never lost). Restart/stop/create/start
// are idempotent at the agent; a repeated restart is the only visible effect.
import type { Condition, DateTime, GameServer, GameServerPhase, GameServerStatus } from '../../../crds/types.ts';
import type { ContainerSpec, InstallSpec } from '../../../agent/runtime/spec.ts';
import type { ObservedContainer } from '../../../agent/runtime/events.ts';
import type { PlayerSample } from '../../../agent/runtime/players.ts';
import { isDesiredError, type Desired, type DesiredResult } from './desired.ts';
import { currentNode, dataDirOf, isMoving } from '../../../crds/placement.ts';

export const FINALIZER = 'gantry.dev/cleanup';
/** First crash-loop delay; doubles per consecutive crash up to CRASH_BACKOFF_MAX_MS. */
export const CRASH_BACKOFF_INITIAL_MS = 10_000;
export const CRASH_BACKOFF_MAX_MS = 300_000;
/** A run at least this long before crashing starts the consecutive-crash count over (like kubelet). */
export const CRASH_COUNT_RESET_AFTER_RUN_MS = 10 * 60_000;
/** A start was issued but the agent has not reported the new run yet: look again after this long. */
export const START_PENDING_REQUEUE_MS = 5_000;
export const DEFAULT_MAX_CRASH_COUNT = 5;

export type StatusPatch = { [K in keyof GameServerStatus]?: GameServerStatus[K] | null };

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export type Action =
  | { type: 'addFinalizer'; finalizer: string }
  | { type: 'removeFinalizer'; finalizer: string }
  /** Creates the server's data dir on its node (before anything that may fail, so files work at once). */
  | { type: 'ensureDataDir'; dataDir: string }
  | { type: 'ensureImage'; image: string }
  | { type: 'install'; spec: ContainerSpec; install: InstallSpec }
  /** Creates the container; the agent replaces a stopped container of another spec (recreate). */
  | { type: 'create'; spec: ContainerSpec; hash: string; recreate: boolean }
  | { type: 'start' }
  | { type: 'stop'; timeoutSeconds: number }
  | { type: 'kill'; signal: string }
  | { type: 'remove'; removeData: boolean; dataDir: string };

export type ActionType = Action['type'];

export interface PlanInput {
  server: GameServer;
  /** resolveDesired(server, template, node); may be its error. */
  desired: DesiredResult;
  observed?: ObservedContainer;
  nodeConnected: boolean;
  now: Date;
  /** The ready pattern matched a console line since the observed container (run) started. */
  recentConsoleMatchedReady?: boolean;
  /** The agent's latest player count of this server (templates with a query). */
  players?: PlayerSample;
}

export interface PlanResult {
  actions: Action[];
  /** Written before the actions run (empty: nothing to write). */
  progress: StatusPatch;
  /** Written after every action succeeded (empty: nothing changed). */
  status: StatusPatch;
  events: PlanEvent[];
  requeueAfterMs?: number;
}

type ReadyReason = string;

const RUNNING_STATES = new Set(['running', 'paused', 'restarting']);
const EXITED_STATES = new Set(['exited', 'dead']);
const CONDITION_ORDER = ['Scheduled', 'NodeReachable', 'Installed', 'Ready', 'UpToDate'];

/** Crash-loop delay before the restart that follows crash number `crashCount` (1-based). */
export function crashBackoffMs(crashCount: number): number {
  if (crashCount <= 0) return 0;
  return Math.min(CRASH_BACKOFF_INITIAL_MS * 2 ** Math.min(crashCount - 1, 30), CRASH_BACKOFF_MAX_MS);
}

/** A one-shot trigger is pending when set and newer than (and different from) the handled value. */
export function triggerPending(requested: DateTime | undefined, handled: DateTime | undefined): boolean {
  if (!requested || requested === handled) return false;
  if (!handled) return true;
  const r = Date.parse(requested);
  const h = Date.parse(handled);
  if (Number.isNaN(r)) return false;
  return Number.isNaN(h) || r > h;
}

export function getCondition(status: GameServerStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The merge patch turning `from` into `to` (top-level fields; null = delete). */
export function diffStatus(from: GameServerStatus, to: GameServerStatus): StatusPatch {
  const patch: Record<string, unknown> = {};
  const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
  for (const k of keys) {
    const a = (from as Record<string, unknown>)[k];
    const b = (to as Record<string, unknown>)[k];
    if (same(a, b)) continue;
    patch[k] = b === undefined ? null : clone(b);
  }
  return patch as StatusPatch;
}

/** Applies a merge patch to a status (what the store does; used by tests and the executor's cache). */
export function applyStatusPatch(status: GameServerStatus | undefined, patch: StatusPatch): GameServerStatus {
  const out: Record<string, unknown> = clone(status ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || v === undefined) delete out[k];
    else out[k] = clone(v);
  }
  return out as GameServerStatus;
}

class Planner {
  readonly actions: Action[] = [];
  readonly events: PlanEvent[] = [];
  readonly orig: GameServerStatus;
  readonly st: GameServerStatus;
  progress: GameServerStatus | undefined;
  requeueAfterMs: number | undefined;
  message: string | undefined;
  readonly now: string;
  readonly gen: number | undefined;
  /** The observed container, unless it is gone. */
  readonly obs: ObservedContainer | undefined;
  justCrashed = false;
  /** The whole state was looked at (node reachable): every owned condition reflects this generation. */
  evaluated = false;

  constructor(readonly input: PlanInput) {
    this.orig = clone(input.server.status ?? {});
    this.st = clone(this.orig);
    this.now = input.now.toISOString();
    this.gen = input.server.metadata.generation;
    const o = input.observed;
    this.obs = o && o.state !== 'removed' ? o : undefined;
  }

  get spec() {
    return this.input.server.spec ?? { templateRef: '' };
  }
  get running(): boolean {
    return !!this.obs && RUNNING_STATES.has(this.obs.state);
  }
  get exited(): boolean {
    return !!this.obs && EXITED_STATES.has(this.obs.state);
  }
  get uid(): string {
    return this.input.server.metadata.uid ?? '';
  }

  event(type: PlanEvent['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  setCondition(type: string, status: Condition['status'], reason: string, message?: string): void {
    const conds = this.st.conditions ?? [];
    const i = conds.findIndex((c) => c.type === type);
    const prev = i >= 0 ? conds[i] : undefined;
    const next: Condition = { type, status, reason };
    if (message) next.message = message;
    next.lastTransitionTime = prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : this.now;
    if (this.gen !== undefined) next.observedGeneration = this.gen;
    if (i >= 0) conds[i] = next;
    else {
      // keep a stable, readable order for conditions this controller owns
      const rank = (t: string) => (CONDITION_ORDER.indexOf(t) < 0 ? CONDITION_ORDER.length : CONDITION_ORDER.indexOf(t));
      const at = conds.findIndex((c) => rank(c.type) > rank(type));
      if (at < 0) conds.push(next);
      else conds.splice(at, 0, next);
    }
    this.st.conditions = conds;
  }

  readyReason(): string | undefined {
    return getCondition(this.st, 'Ready')?.reason;
  }

  setPhase(phase: GameServerPhase): void {
    this.st.phase = phase;
  }

  /** Ready condition + phase together; an event when the reason changes (or `force`). */
  ready(phase: GameServerPhase, reason: ReadyReason, message: string | undefined, ev?: { type: PlanEvent['type']; reason?: string; message?: string; force?: boolean }): void {
    const before = getCondition(this.orig, 'Ready');
    const changed = before?.reason !== reason || this.orig.phase !== phase;
    this.setPhase(phase);
    this.setCondition('Ready', phase === 'running' ? 'True' : 'False', reason, message);
    if (ev && (changed || ev.force)) this.event(ev.type, ev.reason ?? reason, ev.message ?? message ?? reason);
  }

  /** Records what the status looks like while the long actions run (written before them). */
  announce(phase: GameServerPhase, conditions: [string, Condition['status'], string, string?][] = []): void {
    const saved = clone(this.st);
    this.setPhase(phase);
    for (const c of conditions) this.setCondition(...c);
    this.progress = clone(this.st);
    // the final status starts again from the pre-announce draft
    Object.keys(this.st).forEach((k) => delete (this.st as Record<string, unknown>)[k]);
    Object.assign(this.st, saved);
  }

  requeue(ms: number): void {
    this.requeueAfterMs = this.requeueAfterMs === undefined ? ms : Math.min(this.requeueAfterMs, ms);
  }

  // ---- the plan ------------------------------------------------------------------------------

  run(): void {
    const { server } = this.input;
    const meta = server.metadata;
    if (this.gen !== undefined) this.st.observedGeneration = this.gen;
    const hasFinalizer = (meta.finalizers ?? []).includes(FINALIZER);

    if (meta.deletionTimestamp) {
      if (hasFinalizer) this.deletion();
      return;
    }
    if (!hasFinalizer) this.actions.push({ type: 'addFinalizer', finalizer: FINALIZER });

    const nodeName = this.spec.nodeName;
    if (!nodeName) {
      const sched = getCondition(this.st, 'Scheduled');
      // the scheduler writes the reason it cannot place the server; keep it
      if (!sched || sched.status !== 'False') this.setCondition('Scheduled', 'False', 'Pending', 'waiting for the scheduler to pick a node');
      this.message = this.orig.message;
      return;
    }
    this.setCondition('Scheduled', 'True', 'Scheduled', `bound to node ${nodeName}`);

    if (isMoving({ spec: this.spec, status: this.st })) {
      const moving = this.st.transfer?.phase === 'Streaming' ? this.st.transfer : undefined;
      // The data lives on status.nodeName: moving it is the transfer controller's job, and the
      // container is left alone until it flipped status.nodeName (or rolled spec.nodeName back).
      this.st.phase = 'transferring';
      this.message = moving ? `moving the data from node ${moving.from} to node ${moving.to}` : `data is on node ${this.st.nodeName}, spec.nodeName is ${nodeName}: waiting for the transfer`;
      return;
    }

    if (!this.input.nodeConnected) {
      const prev = getCondition(this.st, 'NodeReachable');
      this.setCondition('NodeReachable', 'False', 'NodeUnreachable', `the agent of node ${nodeName} is not connected; the container is left as it is`);
      if (prev?.status !== 'False') this.event('Warning', 'NodeUnreachable', `node ${nodeName} is unreachable; the server's container is left untouched`);
      this.message = `node ${nodeName} unreachable`;
      return;
    }
    const prevReach = getCondition(this.st, 'NodeReachable');
    this.setCondition('NodeReachable', 'True', 'AgentConnected', undefined);
    if (prevReach?.status === 'False') this.event('Normal', 'NodeReachable', `node ${nodeName} is reachable again`);

    this.evaluated = true;
    this.observe();
    this.decide();
    this.publishPlayers();
  }

  /**
   * status.players while the server runs (absent otherwise). Rewritten only when the count, the
   * names or the error change: a new query with the same answer is not a status write.
   */
  publishPlayers(): void {
    const p = this.input.players;
    const ending = this.actions.some((a) => a.type === 'stop' || a.type === 'kill' || a.type === 'remove');
    if (!p || !this.running || ending) {
      delete this.st.players;
      return;
    }
    const prev = this.st.players;
    if (prev && prev.online === p.online && prev.max === p.max && same(prev.names, p.names) && prev.error === p.error) return;
    this.st.players = { online: p.online, max: p.max, ...(p.names?.length ? { names: [...p.names] } : {}), updatedAt: new Date(p.time).toISOString(), ...(p.error ? { error: p.error } : {}) };
  }

  /** Brings status in line with the observed container: id, run, exit accounting. */
  observe(): void {
    const obs = this.obs;
    if (!obs) {
      delete this.st.containerId;
      return;
    }
    const sameContainer = this.st.containerId === obs.containerId;
    this.st.containerId = obs.containerId;
    if (this.running) {
      if (!sameContainer || this.st.startedAt !== obs.startedAt) {
        // a new run
        if (obs.startedAt) this.st.startedAt = obs.startedAt;
        else delete this.st.startedAt;
        delete this.st.exitCode;
        delete this.st.oomKilled;
        this.event('Normal', 'Started', `container started${obs.startedAt ? ` at ${obs.startedAt}` : ''}`);
      }
      return;
    }
    if (this.exited) {
      const processed = sameContainer && this.st.exitCode !== undefined && this.st.startedAt === obs.startedAt;
      if (!processed) this.exitObserved(obs);
    }
  }

  exitObserved(obs: ObservedContainer): void {
    const code = obs.exitCode ?? -1;
    const oom = obs.oomKilled;
    this.st.exitCode = code;
    if (oom) this.st.oomKilled = true;
    else delete this.st.oomKilled;
    if (obs.startedAt) this.st.startedAt = obs.startedAt;
    else delete this.st.startedAt;
    const believedRunning = this.orig.phase === 'starting' || this.orig.phase === 'running';
    const wantRunning = this.spec.state === 'Running' && !this.spec.suspended;
    if (!(believedRunning && wantRunning)) {
      // We stopped or killed it, or nobody wanted it running: an expected exit.
      const keep = this.readyReason() === 'Killed' ? 'Killed' : 'Stopped';
      this.ready('stopped', keep, undefined);
      if (this.orig.phase === 'stopping' || this.orig.phase === 'starting' || this.orig.phase === 'running') this.event('Normal', 'Stopped', `container exited with code ${code}`);
      return;
    }
    if (code !== 0 || oom) {
      let count = this.st.crashCount ?? 0;
      if (obs.startedAt && obs.finishedAt && Date.parse(obs.finishedAt) - Date.parse(obs.startedAt) >= CRASH_COUNT_RESET_AFTER_RUN_MS) count = 0;
      this.st.crashCount = count + 1;
      this.st.lastCrashAt = this.now;
      this.justCrashed = true;
      const reason = oom ? 'OOMKilled' : 'Crashed';
      const what = oom ? `killed for running out of memory (limit ${this.memoryLimit()}), exit code ${code}` : `crashed with exit code ${code}`;
      this.ready('crashed', reason, what);
      this.event('Warning', reason, `${what} (crash ${this.st.crashCount})`);
      return;
    }
    this.ready('stopped', 'Exited', 'the server exited by itself with code 0');
    this.event('Normal', 'Exited', 'the server exited by itself with code 0');
  }

  memoryLimit(): string {
    const d = this.input.desired;
    const mb = isDesiredError(d) ? undefined : d.containerSpec.memoryMb;
    return mb ? `${mb} MiB` : 'unknown';
  }

  decide(): void {
    const spec = this.spec;
    const desired = this.input.desired;

    // crash count reset
    if (triggerPending(spec.crashCountResetAt, this.st.handledCrashCountResetAt)) {
      this.st.handledCrashCountResetAt = spec.crashCountResetAt;
      if (this.st.crashCount) this.event('Normal', 'CrashCountReset', `crash count ${this.st.crashCount} reset to 0`);
      this.st.crashCount = 0;
    }

    // suspended: stopped, every trigger swallowed
    if (spec.suspended) {
      this.swallowTriggers();
      const msg = spec.suspendReason ? `suspended: ${spec.suspendReason}` : 'suspended';
      if (this.running) {
        this.announce('stopping', [['Ready', 'False', 'Suspended', msg]]);
        this.actions.push({ type: 'stop', timeoutSeconds: this.stopTimeout() });
      }
      this.ready('suspended', 'Suspended', msg, { type: 'Normal' });
      this.message = msg;
      return;
    }

    // kill
    if (triggerPending(spec.killedAt, this.st.handledKilledAt)) {
      this.st.handledKilledAt = spec.killedAt;
      if (this.running) {
        this.actions.push({ type: 'kill', signal: 'SIGKILL' });
        this.ready('stopped', 'Killed', 'killed on request', { type: 'Normal', force: true });
        return;
      }
    }

    if (!isDesiredError(desired)) {
      this.st.ports = desired.ports;
      if (desired.address) this.st.address = desired.address;
      else delete this.st.address;
    }

    if (spec.state !== 'Running') return this.wantStopped();

    if (isDesiredError(desired)) {
      const { reason, message } = desired.error;
      this.message = message;
      if (triggerPending(spec.restartedAt, this.st.handledRestartedAt)) this.event('Warning', reason, `restart not possible: ${message}`);
      if (this.running) {
        // a broken template or variable must not take a running server down
        this.ready(this.runningPhase(), this.readyReason() ?? 'Running', getCondition(this.st, 'Ready')?.message);
        if (this.orig.message !== message) this.event('Warning', reason, `${message} (the running container is kept)`);
        return;
      }
      this.ready('error', reason, message, { type: 'Warning' });
      return;
    }

    if (this.install()) return;
    if (getCondition(this.st, 'Installed')?.reason === 'InstallFailed') {
      const msg = 'the install script failed; set spec.reinstalledAt to run it again';
      this.message = msg;
      if (!this.running) this.ready('error', 'InstallFailed', msg);
      return;
    }

    const hashMismatch = !!this.obs && this.st.specHash !== desired.hash;
    if (this.obs) this.setCondition('UpToDate', hashMismatch ? 'False' : 'True', hashMismatch ? 'PendingRecreate' : 'SpecApplied', hashMismatch ? 'the container runs an older spec; it is re-created at its next stop (or set spec.restartedAt)' : undefined);

    // restart
    if (triggerPending(spec.restartedAt, this.st.handledRestartedAt)) {
      if (this.running) this.announce('stopping', [['Ready', 'False', 'Restarting', 'restarting on request']]);
      this.st.handledRestartedAt = spec.restartedAt;
      if (this.running) {
        this.event('Normal', 'Restarting', 'restarting on request');
        this.actions.push({ type: 'stop', timeoutSeconds: this.stopTimeout() });
        this.startActions(true);
        return;
      }
      this.startActions(!!this.obs);
      return;
    }

    if (!this.obs) return this.startActions(false);
    if (this.obs.state === 'created') return this.startActions(true);
    if (this.running) {
      if (hashMismatch && getCondition(this.orig, 'UpToDate')?.reason !== 'PendingRecreate') {
        this.event('Normal', 'RecreatePending', 'the spec changed: the container is re-created at its next stop');
      }
      if (hashMismatch) this.message = 'spec changed: re-created at the next stop';
      const phase = this.runningPhase();
      if (phase === 'running') this.ready('running', 'Running', undefined, { type: 'Normal', message: 'the server is ready' });
      else this.ready('starting', 'Starting', 'waiting for the ready line', undefined);
      return;
    }
    // exited (already accounted for by observe())
    const phase = this.st.phase;
    if (phase === 'starting' || phase === 'running') {
      // a start went out but the agent has not reported the new run yet
      this.requeue(START_PENDING_REQUEUE_MS);
      return;
    }
    const policy = spec.restartPolicy?.policy ?? 'on-failure';
    if (phase === 'crashed') {
      const count = this.st.crashCount ?? 0;
      const max = spec.restartPolicy?.maxCrashCount ?? DEFAULT_MAX_CRASH_COUNT;
      const exit = this.exitDescription();
      if (policy === 'never') {
        this.message = `${exit}; restart policy never`;
        this.ready('crashed', this.readyReason() === 'OOMKilled' ? 'OOMKilled' : 'Crashed', this.message);
        return;
      }
      if (max > 0 && count >= max) {
        this.message = `${exit}; crashed ${count} times in a row (maxCrashCount ${max}): not restarted until spec.crashCountResetAt is set`;
        this.ready('crashed', 'CrashLimitReached', this.message, { type: 'Warning', force: this.justCrashed });
        return;
      }
      const at = Date.parse(this.st.lastCrashAt ?? this.now) + crashBackoffMs(count);
      const remaining = at - this.input.now.getTime();
      if (remaining > 0) {
        this.message = `${exit}; back-off: restarting at ${new Date(at).toISOString()}`;
        this.ready('crashed', 'CrashLoopBackOff', this.message, { type: 'Warning', force: this.justCrashed, message: `${exit}; restarting in ${Math.ceil(remaining / 1000)}s (crash ${count})` });
        this.requeue(remaining);
        return;
      }
      return this.startActions(true);
    }
    if (this.readyReason() === 'Exited' && policy !== 'always') {
      this.message = `exited by itself (code ${this.st.exitCode}); restart policy ${policy} does not restart it: set spec.restartedAt to start it`;
      this.ready('stopped', 'Exited', this.message);
      return;
    }
    this.startActions(true);
  }

  exitDescription(): string {
    return this.st.oomKilled ? `out of memory (exit code ${this.st.exitCode})` : `exit code ${this.st.exitCode}`;
  }

  runningPhase(): 'starting' | 'running' {
    const d = this.input.desired;
    if (this.orig.phase === 'running' && this.orig.startedAt === this.obs?.startedAt) return 'running';
    if (isDesiredError(d)) return this.input.recentConsoleMatchedReady === false ? 'starting' : 'running';
    return !d.readyPattern || this.input.recentConsoleMatchedReady ? 'running' : 'starting';
  }

  stopTimeout(): number {
    return this.spec.stopTimeoutSeconds ?? 30;
  }

  swallowTriggers(): void {
    const s = this.spec;
    if (triggerPending(s.restartedAt, this.st.handledRestartedAt)) this.st.handledRestartedAt = s.restartedAt;
    if (triggerPending(s.killedAt, this.st.handledKilledAt)) this.st.handledKilledAt = s.killedAt;
    if (triggerPending(s.reinstalledAt, this.st.handledReinstalledAt)) this.st.handledReinstalledAt = s.reinstalledAt;
  }

  /** create (when needed) + start; `hasContainer` false → always create. */
  startActions(hasContainer: boolean): void {
    const d = this.input.desired;
    if (isDesiredError(d)) return;
    const mismatch = !hasContainer || !this.obs || this.st.specHash !== d.hash;
    if (mismatch) this.createActions(d, !!this.obs);
    this.actions.push({ type: 'start' });
    this.ready('starting', 'Starting', 'starting', { type: 'Normal', force: true, message: `starting: ${d.commandLine}` });
  }

  /** The data dir (when there is no container yet: it is made first, so files work even if the image is missing), the image, the container. */
  createActions(d: Desired, recreate: boolean): void {
    if (recreate) this.event('Normal', 'Recreating', 're-creating the container with the changed spec');
    if (!this.obs) this.ensureDataDir();
    this.actions.push({ type: 'ensureImage', image: d.containerSpec.image });
    this.actions.push({ type: 'create', spec: d.containerSpec, hash: d.hash, recreate });
    this.st.specHash = d.hash;
    this.setCondition('UpToDate', 'True', 'SpecApplied', undefined);
  }

  ensureDataDir(): void {
    if (!this.actions.some((a) => a.type === 'ensureDataDir')) this.actions.push({ type: 'ensureDataDir', dataDir: dataDirOf(this.input.server) });
  }

  /**
   * Install on the first reconcile once bound (whatever spec.state: a created server's files and
   * container exist before its first start) and on reinstalledAt. The install script runs when the
   * template has one; either way the image is made present and the container created. Returns true
   * when it planned the install.
   */
  install(): boolean {
    const d = this.input.desired;
    if (isDesiredError(d)) return false;
    const spec = this.spec;
    const reinstall = triggerPending(spec.reinstalledAt, this.st.handledReinstalledAt);
    if (!d.install) {
      this.setCondition('Installed', 'True', 'NoInstallScript', undefined);
      // Without a script, installing is: the image present, the container (and data dir) created.
      if (!reinstall) return false;
    } else {
      const installed = getCondition(this.st, 'Installed');
      if (!reinstall) {
        if (this.st.installedAt || installed?.status === 'True') return false;
        if (installed?.reason === 'InstallFailed') return false;
        if (this.obs) {
          // a container exists (adopted, or status was lost): never run the install over its data
          this.setCondition('Installed', 'True', 'Adopted', 'an existing container was adopted; not installing over its data');
          return false;
        }
      }
    }
    const why = reinstall ? 'reinstalling on request' : spec.state === 'Running' ? 'installing before the first start' : 'installing (the server stays stopped)';
    const conditions: [string, Condition['status'], string, string?][] = [['Ready', 'False', 'Installing', why]];
    if (d.install) conditions.unshift(['Installed', 'False', 'Installing', why]);
    this.announce('installing', conditions);
    if (reinstall) this.st.handledReinstalledAt = spec.reinstalledAt;
    this.event('Normal', 'Installing', why);
    if (this.running) this.actions.push({ type: 'stop', timeoutSeconds: this.stopTimeout() });
    if (!this.obs) this.ensureDataDir();
    if (d.install) {
      this.actions.push({ type: 'ensureImage', image: d.install.image });
      this.actions.push({ type: 'install', spec: d.containerSpec, install: d.install });
      this.st.installedAt = this.now;
      this.setCondition('Installed', 'True', 'Installed', undefined);
      this.event('Normal', 'Installed', 'the install script finished');
    } else if (this.obs && this.st.specHash === d.hash) {
      // nothing to re-create: the image is still checked (present → a no-op at the agent)
      this.actions.push({ type: 'ensureImage', image: d.containerSpec.image });
    }
    if (spec.state === 'Running') {
      // the server starts fresh after the install: a pending restart is satisfied by it
      if (triggerPending(spec.restartedAt, this.st.handledRestartedAt)) this.st.handledRestartedAt = spec.restartedAt;
      this.startActions(!!this.obs);
    } else {
      if (!this.obs || this.st.specHash !== d.hash) this.createActions(d, !!this.obs);
      if (!d.install) this.event('Normal', 'Installed', 'the image is present and the container created');
      this.ready('stopped', 'Stopped', undefined);
    }
    return true;
  }

  wantStopped(): void {
    const d = this.input.desired;
    const spec = this.spec;
    if (triggerPending(spec.restartedAt, this.st.handledRestartedAt)) {
      this.st.handledRestartedAt = spec.restartedAt;
      this.event('Normal', 'RestartSkipped', 'restart requested while the desired state is Stopped: nothing to restart');
    }
    if (!isDesiredError(d)) {
      if (this.install()) return;
      if (getCondition(this.st, 'Installed')?.reason === 'InstallFailed' && !this.running) {
        this.message = 'the install script failed; set spec.reinstalledAt to run it again';
        this.ready('error', 'InstallFailed', this.message);
        return;
      }
    }
    if (this.running) {
      this.announce('stopping', [['Ready', 'False', 'Stopping', 'stopping on request']]);
      this.event('Normal', 'Stopping', `stopping (timeout ${this.stopTimeout()}s)`);
      this.actions.push({ type: 'stop', timeoutSeconds: this.stopTimeout() });
      this.ready('stopped', 'Stopped', undefined, { type: 'Normal', force: true, message: 'stopped on request' });
      return;
    }
    const reason = this.readyReason() === 'Killed' && this.orig.phase === 'stopped' ? 'Killed' : 'Stopped';
    if (!this.obs && !isDesiredError(d)) {
      // Bound but no container (installed or adopted before, the container removed since): create it,
      // so files, the image and the container exist while the server stays stopped.
      this.announce('installing', [['Ready', 'False', 'Installing', 'creating the container (the server stays stopped)']]);
      this.createActions(d, false);
    } else if (this.obs && !isDesiredError(d) && this.st.specHash !== d.hash) {
      // stopped: re-create at once, so the next start is quick and the UI shows the new settings
      this.event('Normal', 'Recreating', 're-creating the stopped container with the changed spec');
      this.actions.push({ type: 'ensureImage', image: d.containerSpec.image });
      this.actions.push({ type: 'create', spec: d.containerSpec, hash: d.hash, recreate: true });
      this.st.specHash = d.hash;
    }
    if (this.obs && !isDesiredError(d)) this.setCondition('UpToDate', 'True', 'SpecApplied', undefined);
    this.ready('stopped', reason, undefined);
    if (isDesiredError(d)) this.message = d.error.message;
  }

  deletion(): void {
    const spec = this.spec;
    const nodeName = currentNode({ spec, status: this.st });
    const keep = spec.keepDataOnDelete === true;
    if (!nodeName) {
      this.actions.push({ type: 'removeFinalizer', finalizer: FINALIZER });
      return;
    }
    if (!this.input.nodeConnected) {
      const prev = getCondition(this.st, 'NodeReachable');
      this.setCondition('NodeReachable', 'False', 'NodeUnreachable', `waiting for node ${nodeName} to remove the container`);
      if (prev?.status !== 'False') this.event('Warning', 'NodeUnreachable', `cannot clean up: node ${nodeName} is unreachable`);
      this.message = `deleting: waiting for node ${nodeName}`;
      return;
    }
    this.event('Normal', 'Deleting', keep ? 'removing the container; keeping the data (keepDataOnDelete)' : 'removing the container and its data');
    if (this.running) {
      this.announce('stopping', [['Ready', 'False', 'Deleting', 'stopping before deletion']]);
      this.actions.push({ type: 'stop', timeoutSeconds: this.stopTimeout() });
    }
    this.actions.push({ type: 'remove', removeData: !keep, dataDir: dataDirOf(this.input.server) });
    this.actions.push({ type: 'removeFinalizer', finalizer: FINALIZER });
    this.ready('stopped', 'Deleting', 'deleting');
  }

  result(): PlanResult {
    if (this.message !== undefined) this.st.message = this.message;
    else delete this.st.message;
    // every condition this controller owns was evaluated against this generation
    if (this.evaluated && this.gen !== undefined && this.st.conditions) {
      for (const c of this.st.conditions) if (CONDITION_ORDER.includes(c.type)) c.observedGeneration = this.gen;
    }
    const progress = this.progress ? diffStatus(this.orig, this.progress) : {};
    const status = diffStatus(this.orig, this.st);
    // a field the progress write changed must be set again by the final write
    for (const k of Object.keys(progress) as (keyof GameServerStatus)[]) {
      if (!(k in status)) (status as Record<string, unknown>)[k] = this.st[k] === undefined ? null : clone(this.st[k]);
    }
    const out: PlanResult = { actions: this.actions, progress, status, events: this.events };
    if (this.requeueAfterMs !== undefined) out.requeueAfterMs = this.requeueAfterMs;
    return out;
  }
}

/** Plans one reconcile of a GameServer (pure). */
export function plan(input: PlanInput): PlanResult {
  const p = new Planner(input);
  p.run();
  return p.result();
}

const FAILURE_REASONS: Record<ActionType, string> = {
  addFinalizer: 'FinalizerFailed',
  removeFinalizer: 'FinalizerFailed',
  ensureDataDir: 'DataDirFailed',
  ensureImage: 'ImageUnavailable',
  install: 'InstallFailed',
  create: 'CreateFailed',
  start: 'StartFailed',
  stop: 'StopFailed',
  kill: 'KillFailed',
  remove: 'RemoveFailed',
};

/**
 * The status to write when `failed` (an action of `result`) failed: phase error with the reason, the
 * Installed condition for an install (sticky: retried only on a new spec.reinstalledAt), and the
 * trigger that asked for the install recorded so it does not loop. Relative to the status after
 * result.progress was written. Finalizer failures (conflicts) only retry.
 */
export function planFailure(input: PlanInput, result: PlanResult, failed: Action, error: { code?: string; message: string }): { status: StatusPatch; events: PlanEvent[] } {
  if (failed.type === 'addFinalizer' || failed.type === 'removeFinalizer') return { status: {}, events: [] };
  const base = applyStatusPatch(input.server.status, result.progress);
  const server: GameServer = { ...input.server, status: base };
  const p = new Planner({ ...input, server });
  // what the actions before the failed one achieved is recorded all the same
  const done = result.actions.slice(0, Math.max(0, result.actions.indexOf(failed)));
  const carry = (k: keyof GameServerStatus) => {
    const v = result.status[k];
    if (v !== undefined) (p.st as Record<string, unknown>)[k] = v === null ? undefined : clone(v);
  };
  if (done.some((a) => a.type === 'create')) carry('specHash');
  if (done.some((a) => a.type === 'install')) {
    ['installedAt', 'handledReinstalledAt'].forEach((k) => carry(k as keyof GameServerStatus));
    p.setCondition('Installed', 'True', 'Installed');
  }
  const reason = error.code === 'disk_limit' && failed.type === 'start' ? 'DiskLimitExceeded' : FAILURE_REASONS[failed.type];
  const message = `${failed.type} failed: ${error.message}`;
  if (failed.type === 'install') {
    p.setCondition('Installed', 'False', 'InstallFailed', message);
    const req = input.server.spec?.reinstalledAt;
    if (req && result.status.handledReinstalledAt === req) p.st.handledReinstalledAt = req;
  }
  p.ready('error', reason, message);
  p.st.message = message;
  return { status: diffStatus(base, p.st), events: [{ type: 'Warning', reason, message }] };
}
