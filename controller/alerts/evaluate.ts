// Pure parts of alert evaluation: which objects a rule applies to, a metric's value from a stats
// sample, the comparison, and the per (rule, target) state machine that turns "the condition holds
// now" into fire / resolve with durationSeconds.
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { AlertMetric, AlertOperator, AlertRule, GameNode, GameServer } from '../../crds/types.ts';

export type TargetKind = 'GameServer' | 'GameNode';

/** The kind a rule watches: target.kind, else GameNode for node_offline and GameServer otherwise. */
export function ruleTargetKind(rule: AlertRule): TargetKind {
  return rule.spec?.target?.kind ?? (rule.spec?.type === 'node_offline' ? 'GameNode' : 'GameServer');
}

export function ruleApplies(rule: AlertRule, obj: GameServer | GameNode, kind: TargetKind): boolean {
  const spec = rule.spec;
  if (!spec || spec.enabled === false) return false;
  if (ruleTargetKind(rule) !== kind) return false;
  const t = spec.target;
  if (t?.name && t.name !== obj.metadata.name) return false;
  if (kind === 'GameServer' && t?.namespace && t.namespace !== (obj.metadata.namespace ?? 'default')) return false;
  for (const [k, v] of Object.entries(spec.selector ?? {})) if (obj.metadata.labels?.[k] !== v) return false;
  return true;
}

export function compare(op: AlertOperator, a: number, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
  }
  return false;
}

/**
 * A metric of a server's sample. cpu/memory/disk are percentages of the server's limit (cpu: 100 % =
 * all of spec.resources.cpuCores busy; without a CPU limit, of the node's online CPUs); network in
 * bytes/s (`rates` are computed by the caller from consecutive samples). Undefined: not measurable
 * (no disk limit, no earlier sample for a rate) — the rule's state does not change.
 */
export function metricValue(metric: AlertMetric, s: StatsSample, server: GameServer | undefined, rates?: { rx: number; tx: number }): number | undefined {
  switch (metric) {
    case 'cpu': {
      const cores = server?.spec?.resources?.cpuCores || s.onlineCpus || 1;
      return s.cpuPercent / cores;
    }
    case 'memory':
      return s.memoryLimitBytes > 0 ? (s.memoryBytes / s.memoryLimitBytes) * 100 : s.memoryPercent;
    case 'disk':
      return s.diskLimitBytes && s.disk ? (s.disk.bytes / s.diskLimitBytes) * 100 : undefined;
    case 'network_rx':
      return rates?.rx;
    case 'network_tx':
      return rates?.tx;
  }
  return undefined;
}

export interface TrackState {
  /** When the condition started holding (ms); undefined while it does not. */
  since?: number;
  /** An alert is open for this (rule, target). */
  open: boolean;
}

export type Transition = { fire: true; heldMs: number } | { resolve: true } | { waitUntil: number } | null;

/** One evaluation: the condition holds or not at `now`; duration in ms. Mutates and returns the transition. */
export function step(st: TrackState, holds: boolean, now: number, durationMs: number): Transition {
  if (!holds) {
    st.since = undefined;
    if (st.open) {
      st.open = false;
      return { resolve: true };
    }
    return null;
  }
  st.since ??= now;
  if (st.open) return null;
  const held = now - st.since;
  if (held >= durationMs) {
    st.open = true;
    return { fire: true, heldMs: held };
  }
  return { waitUntil: st.since + durationMs };
}
