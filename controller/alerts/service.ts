// AlertService: evaluates AlertRules as observations arrive — every stats sample from the agent hub
// (resource_threshold), every GameNode change (node_offline), every GameServer change (server_crashed)
// — instead of polling. One open alert per (rule, target), resolved automatically when the condition
// clears (or the target stops, goes away, or the rule is deleted or disabled) or by hand.
//
// Evaluation is synchronous and in memory (the hub calls its listeners synchronously); database
// writes and webhooks run afterwards, chained per (rule, target) so fire and resolve are written in
// order. A failing webhook is the notifier's business and never delays evaluation.
//
// Decisions:
// - durationSeconds counts from the first sample that met the condition (on this controller's clock);
//   a sample that does not meet it starts the count again. node_offline and server_crashed honour
//   condition.durationSeconds too, with a timer, since no sample stream re-evaluates them.
// - A threshold alert resolves when its server stops running (no samples will ever clear it).
// - Resolving by hand acknowledges the occurrence: no new alert while the condition keeps holding; a
//   new one once it has cleared and holds again. cooldownSeconds limits notifications per (rule,
//   target), not alerts.
// - Targets deleted while Gantry was down: their open alerts are resolved once the caches synced.
// - node_offline waits startupGraceMs after start (default 60 s) before judging a node it has not
//   yet seen Online: the hub marks every node Offline on shutdown, and agents need a moment to
//   reconnect. A node seen Online since start is judged at once.
import type { EventEmitter } from 'node:events';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { AlertRule, GameNode, GameServer } from '../../crds/types.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import type { EventSink } from '../events/recorder.ts';
import type { Manager } from '../runtime/controller.ts';
import { keyOf, type Informer } from '../runtime/informer.ts';
import type { Clock } from '../runtime/workqueue.ts';
import type { SqlDb } from '../store/sql-db.ts';
import type { ResourceStore } from '../store/types.ts';
import { compare, metricValue, ruleApplies, step, type TargetKind, type TrackState } from './evaluate.ts';
import { AlertError, AlertStore, type Alert, type AlertFilter, type AlertStats } from './store.ts';
import { WebhookNotifier, type AlertEvent, type WebhookNotifierOptions } from './webhooks.ts';
import { dataNode } from '../../crds/placement.ts';
import type { GoneServer, PerServerState } from '../lifecycle/server-reaper.ts';

const BY_UID = 'byUid';
const wall: Clock = { now: () => Date.now(), setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

export interface AlertServiceOptions {
  /** The main database (alerts are kept with the resources). */
  db: SqlDb;
  store: ResourceStore;
  /** Its shared informers for AlertRule, GameServer and GameNode are used; open before manager.start(). */
  manager: Manager;
  /** The agent hub (its 'stats' event). */
  hub?: Pick<EventEmitter, 'on' | 'off'>;
  events?: EventSink;
  log?: Logger;
  clock?: Clock;
  notifier?: WebhookNotifier | WebhookNotifierOptions;
  startupGraceMs?: number;
  /** AlertRule status.lastEvaluated is written at most this often (default 60 s). */
  statusIntervalMs?: number;
}

interface Track extends TrackState {
  rule: string;
  target: string;
  /** The server the open alert is about (targets are names; a re-created server is another one). */
  serverUid?: string;
  alertId?: string;
  notified?: boolean;
  lastNotifiedAt?: number;
  timer?: unknown;
}

const targetKey = (kind: TargetKind, obj: { metadata: { name: string; namespace?: string } }) =>
  kind === 'GameNode' ? `GameNode:${obj.metadata.name}` : `GameServer:${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
const trackKey = (rule: string, target: string) => `${rule}\u0000${target}`;
const pct = (n: number) => (Math.round(n * 10) / 10).toString();
const METRIC_NAMES = { cpu: 'CPU', memory: 'Memory', disk: 'Disk', network_rx: 'Network receive', network_tx: 'Network transmit' } as const;

export class AlertService implements PerServerState {
  readonly stateName = 'open alerts';
  readonly alerts: AlertStore;
  readonly notifier: WebhookNotifier;
  private readonly opts: AlertServiceOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly rules: Informer<AlertRule>;
  private readonly servers: Informer<GameServer>;
  private readonly nodes: Informer<GameNode>;
  private readonly tracks = new Map<string, Track>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly prevNet = new Map<string, { t: number; rx: number; tx: number }>();
  private readonly ruleWrites = new Map<string, { at: number; pending: boolean; fired?: string }>();
  private thresholdRules: AlertRule[] = [];
  /** Nodes seen Online since start: the startup grace is for nodes not heard from yet. */
  private readonly seenOnline = new Set<string>();
  private readonly startedAt: number;
  private readonly onHubStats = (node: string, samples: StatsSample[]) => this.onStats(node, samples);
  private closed = false;

  private constructor(opts: AlertServiceOptions, alerts: AlertStore) {
    this.opts = opts;
    this.alerts = alerts;
    this.log = opts.log ?? rootLogger.child({ component: 'alerts' });
    this.clock = opts.clock ?? wall;
    this.startedAt = this.clock.now();
    this.notifier = opts.notifier instanceof WebhookNotifier ? opts.notifier : new WebhookNotifier({ log: this.log, ...(opts.notifier ?? {}) });
    this.rules = opts.manager.informer<AlertRule>('AlertRule');
    this.servers = opts.manager.informer<GameServer>('GameServer', { [BY_UID]: (s: GameServer) => s.metadata.uid });
    this.nodes = opts.manager.informer<GameNode>('GameNode');
  }

  static async open(opts: AlertServiceOptions): Promise<AlertService> {
    const clock = opts.clock ?? wall;
    const alerts = await AlertStore.open(opts.db, () => new Date(clock.now()));
    const svc = new AlertService(opts, alerts);
    for (const a of await alerts.openAlerts()) {
      svc.tracks.set(trackKey(a.rule, a.target), { rule: a.rule, target: a.target, serverUid: a.serverUid ?? undefined, open: true, alertId: a.id, notified: true, since: clock.now() });
    }
    svc.wire();
    return svc;
  }

  private wire(): void {
    this.rules.addEventHandler({
      onAdd: (r) => this.onRule(r),
      onUpdate: (o, n) => o !== n && this.onRule(n),
      onDelete: (r) => this.dropRule(r.metadata.name, 'rule deleted'),
    });
    this.servers.addEventHandler({
      onAdd: (s) => this.onServer(s),
      onUpdate: (o, n) => o !== n && this.onServer(n),
      onDelete: (s) => {
        if (s.metadata.uid) this.prevNet.delete(s.metadata.uid);
        this.dropTarget(targetKey('GameServer', s), 'server deleted');
      },
    });
    this.nodes.addEventHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (o, n) => o !== n && this.onNode(n),
      onDelete: (n) => this.dropTarget(targetKey('GameNode', n), 'node deleted'),
    });
    this.opts.hub?.on('stats', this.onHubStats);
    void Promise.all([this.rules.waitForSync(), this.servers.waitForSync(), this.nodes.waitForSync()]).then((ok) => ok.every(Boolean) && this.sweep());
  }

  private targetObject(target: string): GameServer | GameNode | undefined {
    return target.startsWith('GameNode:') ? this.nodes.get(target.slice('GameNode:'.length)) : this.servers.get(target.slice('GameServer:'.length));
  }

  /** Open alerts whose rule or target went away while Gantry was down. */
  private sweep(): void {
    if (this.closed) return;
    for (const [k, t] of this.tracks) {
      if (!t.open) continue;
      const why = !this.rules.get(t.rule) ? 'rule deleted' : !this.targetObject(t.target) ? 'target deleted' : undefined;
      if (!why) continue;
      this.forceResolve(t, why);
      this.tracks.delete(k);
    }
  }

  // ---- queries for the API ----------------------------------------------------------------------

  list(filter?: AlertFilter): Promise<Alert[]> {
    return this.alerts.list(filter);
  }

  get(id: string): Promise<Alert> {
    return this.alerts.get(id);
  }

  stats(): Promise<AlertStats> {
    return this.alerts.stats();
  }

  /** Resolves one alert by hand. Throws AlertError 404 for an unknown id; an already resolved alert is returned as it is. */
  async resolve(id: string, by: string): Promise<Alert> {
    const a = await this.alerts.get(id);
    if (a.resolved) return a;
    const [done] = await this.bulkResolve([id], by);
    return done ?? (await this.alerts.get(id));
  }

  /** Resolves open alerts by hand; returns the ones this call resolved. */
  async bulkResolve(ids: readonly string[], by: string): Promise<Alert[]> {
    if (!Array.isArray(ids) || ids.some((i) => typeof i !== 'string' || !i)) throw new AlertError('alertIds must be an array of alert ids', 400);
    if (ids.length > 1000) throw new AlertError(`at most 1000 alerts at once, not ${ids.length}`, 400);
    if (typeof by !== 'string' || !by) throw new AlertError('the resolving user is required', 400);
    const done = await this.alerts.resolve([...new Set(ids)], by, `resolved by ${by}`);
    for (const a of done) {
      const t = this.tracks.get(trackKey(a.rule, a.target));
      if (t && t.alertId === a.id) {
        // Acknowledged: while the condition still holds the track stays latched (no new alert for
        // the same occurrence); once it clears, a new occurrence fires a new alert.
        t.alertId = undefined;
        this.notifyResolved(t, a);
      }
      this.touchRule(a.rule, true);
    }
    return done;
  }

  /** Every write and webhook queued so far has been made (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
    await this.notifier.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.opts.hub?.off('stats', this.onHubStats);
    for (const t of this.tracks.values()) if (t.timer !== undefined) this.clock.clearTimeout(t.timer);
    await Promise.all([...this.chains.values()]);
    await this.notifier.close();
  }

  // ---- evaluation -------------------------------------------------------------------------------

  /** Container stats from a node: every resource_threshold rule that applies is evaluated. */
  onStats(node: string, samples: readonly StatsSample[]): void {
    if (this.closed || !this.thresholdRules.length) {
      for (const s of samples) this.rate(s);
      return;
    }
    const now = this.clock.now();
    for (const s of samples) {
      const rates = this.rate(s);
      const server = this.servers.byIndex(BY_UID, s.uid)[0];
      if (!server) continue;
      const target = targetKey('GameServer', server);
      for (const rule of this.thresholdRules) {
        if (!ruleApplies(rule, server, 'GameServer')) continue;
        const c = rule.spec!.condition!;
        const v = metricValue(c.metric, s, server, rates);
        if (v === undefined) continue;
        const holds = compare(c.operator, v, c.value);
        this.transition(rule, target, holds, now, (c.durationSeconds ?? 0) * 1000, () => {
          const what = METRIC_NAMES[c.metric];
          const unit = c.metric.startsWith('network') ? ' B/s' : ' %';
          const held = c.durationSeconds ? ` for ${c.durationSeconds} s` : '';
          return {
            serverId: server.metadata.name,
            serverNamespace: server.metadata.namespace ?? 'default',
            serverUid: server.metadata.uid ?? null,
            nodeId: node,
            title: c.operator.startsWith('>') ? `High ${what} usage` : `${what} ${c.operator} ${c.value}${unit.trim()}`,
            message: `${what} of server ${server.metadata.namespace ?? 'default'}/${server.metadata.name} is ${pct(v)}${unit} (${c.operator} ${c.value}${unit}${held})`,
            metadata: { metric: c.metric, value: v, operator: c.operator, threshold: c.value, durationSeconds: c.durationSeconds ?? 0, [`${c.metric}Usage`]: v },
          };
        });
      }
    }
    this.touchRules(this.thresholdRules);
  }

  private rate(s: StatsSample): { rx: number; tx: number } | undefined {
    const prev = this.prevNet.get(s.uid);
    this.prevNet.set(s.uid, { t: s.time, rx: s.networkRxBytes, tx: s.networkTxBytes });
    if (!prev || s.time <= prev.t || s.networkRxBytes < prev.rx || s.networkTxBytes < prev.tx) return undefined;
    const sec = (s.time - prev.t) / 1000;
    return { rx: (s.networkRxBytes - prev.rx) / sec, tx: (s.networkTxBytes - prev.tx) / sec };
  }

  private onRule(r: AlertRule): void {
    this.thresholdRules = this.rules.list().filter((x) => x.spec?.type === 'resource_threshold' && x.spec.enabled !== false && x.spec.condition);
    if (r.spec?.enabled === false) return this.dropRule(r.metadata.name, 'rule disabled');
    // A changed rule may no longer apply to targets it fired for (a missing target is sweep()'s job:
    // during the initial sync it may simply not be in the cache yet).
    for (const t of this.tracks.values()) {
      if (t.rule !== r.metadata.name || !t.open) continue;
      const obj = this.targetObject(t.target);
      if (obj && !ruleApplies(r, obj, t.target.startsWith('GameNode:') ? 'GameNode' : 'GameServer')) this.forceResolve(t, 'the rule no longer applies to this target');
    }
    if (r.spec?.type === 'node_offline') for (const n of this.nodes.list()) this.evalNode(r, n);
    if (r.spec?.type === 'server_crashed') for (const s of this.servers.list()) this.evalCrash(r, s);
  }

  private onServer(s: GameServer): void {
    if (this.closed) return;
    const target = targetKey('GameServer', s);
    // An alert still open for a server of this name that was deleted (while Gantry was down, or before
    // the reaper got to it) is not this server's: resolve it rather than let it attach here.
    for (const [k, t] of this.tracks) {
      if (t.target !== target || !t.serverUid || t.serverUid === s.metadata.uid) continue;
      this.forceResolve(t, 'server deleted (a new server has its name)');
      this.tracks.delete(k);
    }
    if (s.status?.phase !== 'running') {
      for (const t of this.tracks.values()) {
        if (t.target !== target) continue;
        const rule = this.rules.get(t.rule);
        if (rule?.spec?.type === 'resource_threshold' && (t.open || t.since !== undefined)) this.forceResolve(t, 'the server is not running');
      }
    }
    for (const r of this.rules.list()) if (r.spec?.type === 'server_crashed') this.evalCrash(r, s);
  }

  private onNode(n: GameNode): void {
    if (this.closed) return;
    if (n.status?.phase === 'Online') this.seenOnline.add(n.metadata.name);
    for (const r of this.rules.list()) if (r.spec?.type === 'node_offline') this.evalNode(r, n);
  }

  private evalCrash(rule: AlertRule, s: GameServer): void {
    if (!ruleApplies(rule, s, 'GameServer')) return;
    const holds = s.status?.phase === 'crashed';
    const target = targetKey('GameServer', s);
    this.transition(rule, target, holds, this.clock.now(), (rule.spec!.condition?.durationSeconds ?? 0) * 1000, () => ({
      serverId: s.metadata.name,
      serverNamespace: s.metadata.namespace ?? 'default',
      serverUid: s.metadata.uid ?? null,
      nodeId: dataNode(s) ?? null,
      title: 'Server crashed',
      message: `server ${s.metadata.namespace ?? 'default'}/${s.metadata.name} crashed${s.status?.message ? `: ${s.status.message}` : ''}`,
      metadata: { exitCode: s.status?.exitCode ?? null, crashCount: s.status?.crashCount ?? 0, oomKilled: s.status?.oomKilled ?? false },
    }), () => this.servers.get(keyOf(s)) && this.evalCrash(rule, this.servers.get(keyOf(s))!));
    this.touchRule(rule.metadata.name, false);
  }

  private evalNode(rule: AlertRule, n: GameNode): void {
    if (!ruleApplies(rule, n, 'GameNode')) return;
    const now = this.clock.now();
    const graceEnd = this.startedAt + (this.opts.startupGraceMs ?? 60_000);
    const offline = n.status?.phase === 'Offline';
    const target = targetKey('GameNode', n);
    const recheck = () => {
      const cur = this.nodes.get(n.metadata.name);
      if (cur) this.evalNode(rule, cur);
    };
    if (offline && now < graceEnd && !this.seenOnline.has(n.metadata.name) && !this.tracks.get(trackKey(rule.metadata.name, target))?.open) {
      this.arm(trackKey(rule.metadata.name, target), rule.metadata.name, target, graceEnd, recheck);
      return;
    }
    this.transition(rule, target, offline, now, (rule.spec!.condition?.durationSeconds ?? 0) * 1000, () => ({
      serverId: null,
      serverNamespace: null,
      serverUid: null,
      nodeId: n.metadata.name,
      title: 'Node offline',
      message: `node ${n.metadata.name} is offline${n.status?.lastHeartbeatTime ? ` (last heartbeat ${n.status.lastHeartbeatTime})` : ''}${n.status?.message ? `: ${n.status.message}` : ''}`,
      metadata: { lastHeartbeatTime: n.status?.lastHeartbeatTime ?? null },
    }), recheck);
    this.touchRule(rule.metadata.name, false);
  }

  private track(rule: string, target: string): Track {
    const key = trackKey(rule, target);
    let t = this.tracks.get(key);
    if (!t) {
      t = { rule, target, open: false };
      this.tracks.set(key, t);
    }
    return t;
  }

  private arm(key: string, rule: string, target: string, at: number, fn: () => void): void {
    const t = this.tracks.get(key) ?? this.track(rule, target);
    if (t.timer !== undefined) this.clock.clearTimeout(t.timer);
    t.timer = this.clock.setTimeout(() => {
      t.timer = undefined;
      if (!this.closed) fn();
    }, Math.max(1, at - this.clock.now()));
  }

  private transition(
    rule: AlertRule,
    target: string,
    holds: boolean,
    now: number,
    durationMs: number,
    describe: () => Pick<Alert, 'serverId' | 'serverNamespace' | 'serverUid' | 'nodeId' | 'title' | 'message' | 'metadata'>,
    recheck?: () => void,
  ): void {
    const t = this.track(rule.metadata.name, target);
    const tr = step(t, holds, now, durationMs);
    if (!tr) {
      if (!holds && !t.open && t.timer !== undefined) {
        this.clock.clearTimeout(t.timer);
        t.timer = undefined;
      }
      return;
    }
    if ('waitUntil' in tr) {
      if (recheck && t.timer === undefined) this.arm(trackKey(t.rule, t.target), t.rule, t.target, tr.waitUntil, recheck);
      return;
    }
    if ('resolve' in tr) {
      this.closeTrack(t, 'condition cleared');
      return;
    }
    const d = describe();
    t.serverUid = d.serverUid ?? undefined;
    const spec = rule.spec!;
    this.chain(t, async () => {
      const a = await this.alerts.open({ rule: rule.metadata.name, target, type: spec.type, severity: spec.severity ?? 'warning', ...d, metadata: { ...d.metadata, heldMs: tr.heldMs } });
      if (!a) return; // already open (e.g. loaded at start)
      t.alertId = a.id;
      this.log.info('alert fired', { rule: a.rule, target, alert: a.id, message: a.message });
      this.record(rule, 'Warning', 'AlertFired', `${a.title}: ${a.message}`);
      const cooldown = (spec.cooldownSeconds ?? 300) * 1000;
      if (t.lastNotifiedAt === undefined || this.clock.now() - t.lastNotifiedAt >= cooldown) {
        t.lastNotifiedAt = this.clock.now();
        t.notified = true;
        this.send(rule, 'fired', a);
      } else t.notified = false;
      this.touchRule(rule.metadata.name, true, a.createdAt);
    });
  }

  /** Resolves an open alert because of something other than the condition (server stopped, rule gone). */
  private forceResolve(t: Track, why: string): void {
    t.since = undefined;
    if (t.timer !== undefined) {
      this.clock.clearTimeout(t.timer);
      t.timer = undefined;
    }
    if (!t.open) return;
    t.open = false;
    this.closeTrack(t, why);
  }

  private closeTrack(t: Track, why: string): void {
    this.chain(t, async () => {
      const id = t.alertId;
      t.alertId = undefined;
      if (!id) return;
      const [a] = await this.alerts.resolve([id], null, why);
      if (!a) return;
      this.log.info('alert resolved', { rule: a.rule, target: a.target, alert: a.id, why });
      const rule = this.rules.get(t.rule);
      if (rule) this.record(rule, 'Normal', 'AlertResolved', `${a.title} resolved: ${why}`);
      this.notifyResolved(t, a);
      this.touchRule(t.rule, true);
    });
  }

  private notifyResolved(t: Track, a: Alert): void {
    const rule = this.rules.get(t.rule);
    if (rule && t.notified) this.send(rule, 'resolved', a);
    t.notified = false;
  }

  private dropRule(name: string, why: string): void {
    this.thresholdRules = this.thresholdRules.filter((r) => r.metadata.name !== name);
    for (const [k, t] of this.tracks) {
      if (t.rule !== name) continue;
      this.forceResolve(t, why);
      this.tracks.delete(k);
    }
  }

  // PerServerState (controller/lifecycle/server-reaper.ts): open alerts of deleted servers resolve.
  knownServerUids(): string[] {
    return [...new Set([...this.tracks.values()].map((t) => t.serverUid).filter((u): u is string => !!u))];
  }

  forgetServers(gone: readonly GoneServer[]): void {
    const uids = new Set(gone.map((g) => g.uid));
    for (const [k, t] of this.tracks) {
      if (!t.serverUid || !uids.has(t.serverUid)) continue;
      this.forceResolve(t, 'server deleted');
      this.tracks.delete(k);
    }
  }

  private dropTarget(target: string, why: string): void {
    for (const [k, t] of this.tracks) {
      if (t.target !== target) continue;
      this.forceResolve(t, why);
      this.tracks.delete(k);
    }
  }

  private chain(t: Track, fn: () => Promise<void>): void {
    const key = trackKey(t.rule, t.target);
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(fn)
      .catch((err) => this.log.error('alert write failed', { err, rule: t.rule, target: t.target }));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private send(rule: AlertRule, event: AlertEvent, a: Alert): void {
    for (const act of rule.spec?.actions ?? []) this.notifier.notify(act.url, act.format ?? 'generic', event, a);
  }

  private record(rule: AlertRule, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.opts.events
      ?.record({ kind: 'AlertRule', apiVersion: rule.apiVersion, name: rule.metadata.name, uid: rule.metadata.uid }, type, reason, message)
      .catch((err) => this.log.warn('could not record an event', { err }));
  }

  private touchRules(rules: readonly AlertRule[]): void {
    for (const r of rules) this.touchRule(r.metadata.name, false);
  }

  /** AlertRule status: firing and lastFiredAt at once, lastEvaluated at most every statusIntervalMs. */
  private touchRule(name: string, changed: boolean, firedAt?: string): void {
    const now = this.clock.now();
    const w = this.ruleWrites.get(name) ?? { at: 0, pending: false };
    this.ruleWrites.set(name, w);
    if (firedAt) w.fired = firedAt;
    if (w.pending || (!changed && now - w.at < (this.opts.statusIntervalMs ?? 60_000))) return;
    w.pending = true;
    w.at = now;
    queueMicrotask(() => {
      w.pending = false;
      if (this.closed) return;
      let firing = 0;
      for (const t of this.tracks.values()) if (t.rule === name && t.open) firing++;
      const patch: Record<string, unknown> = { lastEvaluated: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'), firing };
      if (w.fired) patch.lastFiredAt = w.fired;
      this.opts.store.patchStatus('AlertRule', undefined, name, patch).catch((err) => {
        if ((err as { code?: number }).code !== 404) this.log.warn('could not write AlertRule status', { err, rule: name });
      });
    });
  }
}
