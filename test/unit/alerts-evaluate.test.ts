// The pure parts of alerting: the fire/resolve state machine with durations, comparisons, metric
// values as percentages of limits, rule targeting, and the webhook bodies.
import { describe, expect, it } from 'vitest';
import { compare, metricValue, ruleApplies, ruleTargetKind, step, type TrackState } from '../../controller/alerts/evaluate.ts';
import { webhookBody } from '../../controller/alerts/webhooks.ts';
import type { Alert } from '../../controller/alerts/store.ts';
import type { StatsSample } from '../../agent/runtime/stats.ts';
import type { AlertRule, AlertRuleSpec, GameServer } from '../../crds/types.ts';

const rule = (spec: Partial<AlertRuleSpec>): AlertRule => ({ apiVersion: 'gantry.dev/v1alpha1', kind: 'AlertRule', metadata: { name: 'r' }, spec: { type: 'resource_threshold', ...spec } });
const server = (name: string, ns = 'default', labels: Record<string, string> = {}, cpuCores?: number): GameServer => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name, namespace: ns, labels },
  spec: { templateRef: 't', resources: cpuCores ? { cpuCores } : undefined },
});
const sample = (over: Partial<StatsSample> = {}): StatsSample => ({
  uid: 'u', containerId: 'c', time: 0, cpuPercent: 45, onlineCpus: 4, memoryBytes: 300, memoryLimitBytes: 1000, memoryPercent: 30,
  networkRxBytes: 0, networkTxBytes: 0, blockReadBytes: 0, blockWriteBytes: 0, pids: 1, overDiskLimit: false, ...over,
});

describe('step (fire/resolve with a duration)', () => {
  it('fires once the condition has held for the duration, once, and resolves when it clears', () => {
    const st: TrackState = { open: false };
    expect(step(st, true, 1000, 300_000)).toEqual({ waitUntil: 301_000 });
    expect(step(st, true, 200_000, 300_000)).toEqual({ waitUntil: 301_000 });
    expect(step(st, true, 301_000, 300_000)).toEqual({ fire: true, heldMs: 300_000 });
    expect(step(st, true, 400_000, 300_000)).toBeNull();
    expect(step(st, false, 401_000, 300_000)).toEqual({ resolve: true });
    expect(step(st, false, 402_000, 300_000)).toBeNull();
  });

  it('a dip below the threshold starts the count again', () => {
    const st: TrackState = { open: false };
    step(st, true, 0, 10_000);
    step(st, false, 5_000, 10_000);
    expect(step(st, true, 6_000, 10_000)).toEqual({ waitUntil: 16_000 });
    expect(step(st, true, 12_000, 10_000)).toEqual({ waitUntil: 16_000 });
  });

  it('duration 0 fires on the first sample', () => {
    expect(step({ open: false }, true, 5, 0)).toEqual({ fire: true, heldMs: 0 });
  });
});

describe('compare and metricValue', () => {
  it.each([
    ['>', 91, 90, true],
    ['>', 90, 90, false],
    ['>=', 90, 90, true],
    ['<', 1, 2, true],
    ['<=', 2, 2, true],
    ['==', 3, 3, true],
    ['==', 3, 4, false],
  ] as const)('%s %d %d = %s', (op, a, b, want) => expect(compare(op, a, b)).toBe(want));

  it('cpu is a percentage of the server\'s CPU limit, else of the online CPUs', () => {
    expect(metricValue('cpu', sample({ cpuPercent: 49 }), server('a', 'default', {}, 0.5))).toBeCloseTo(98);
    expect(metricValue('cpu', sample({ cpuPercent: 200, onlineCpus: 4 }), server('a'))).toBe(50);
  });

  it('memory and disk are percentages of their limits; disk without a limit and a first network sample are unknown', () => {
    expect(metricValue('memory', sample(), undefined)).toBe(30);
    expect(metricValue('disk', sample({ disk: { bytes: 250, files: 1, truncated: false, measuredAt: 0 }, diskLimitBytes: 1000 }), undefined)).toBe(25);
    expect(metricValue('disk', sample(), undefined)).toBeUndefined();
    expect(metricValue('network_rx', sample(), undefined)).toBeUndefined();
    expect(metricValue('network_tx', sample(), undefined, { rx: 1, tx: 2 })).toBe(2);
  });
});

describe('ruleApplies', () => {
  it('defaults the target kind by type and narrows by name, namespace and labels', () => {
    expect(ruleTargetKind(rule({ type: 'node_offline' }))).toBe('GameNode');
    expect(ruleTargetKind(rule({ type: 'server_crashed' }))).toBe('GameServer');
    const s = server('mc', 'team-a', { tier: 'gold' });
    expect(ruleApplies(rule({}), s, 'GameServer')).toBe(true);
    expect(ruleApplies(rule({}), s, 'GameNode')).toBe(false);
    expect(ruleApplies(rule({ target: { kind: 'GameServer', name: 'mc' } }), s, 'GameServer')).toBe(true);
    expect(ruleApplies(rule({ target: { kind: 'GameServer', name: 'other' } }), s, 'GameServer')).toBe(false);
    expect(ruleApplies(rule({ target: { kind: 'GameServer', namespace: 'team-b' } }), s, 'GameServer')).toBe(false);
    expect(ruleApplies(rule({ selector: { tier: 'gold' } }), s, 'GameServer')).toBe(true);
    expect(ruleApplies(rule({ selector: { tier: 'silver' } }), s, 'GameServer')).toBe(false);
    expect(ruleApplies(rule({ enabled: false }), s, 'GameServer')).toBe(false);
  });
});

describe('webhook bodies', () => {
  const alert: Alert = {
    id: 'a1', rule: 'high-cpu', target: 'GameServer:default/mc', serverId: 'mc', serverNamespace: 'default', serverUid: 'u', nodeId: 'n1',
    type: 'resource_threshold', severity: 'critical', title: 'High CPU usage', message: 'CPU of server default/mc is 98 %', metadata: {},
    resolved: false, resolvedAt: null, resolvedBy: null, resolution: null, createdAt: '2026-01-01T00:00:00.000Z',
  };

  it('Discord: an embed with title, description, severity colour, timestamp and fields', () => {
    expect(webhookBody('discord', 'fired', alert)).toEqual({
      username: 'Gantry',
      embeds: [
        {
          title: '[CRITICAL] High CPU usage',
          description: 'CPU of server default/mc is 98 %',
          color: 0xe74c3c,
          timestamp: '2026-01-01T00:00:00.000Z',
          fields: [
            { name: 'Target', value: 'server default/mc on node n1', inline: true },
            { name: 'Type', value: 'resource_threshold', inline: true },
            { name: 'Rule', value: 'high-cpu', inline: true },
          ],
          footer: { text: 'alert a1' },
        },
      ],
    });
  });

  it('Slack: text plus a coloured attachment; resolved events are green', () => {
    const body = webhookBody('slack', 'resolved', { ...alert, resolved: true, resolvedAt: '2026-01-01T00:05:00.000Z', resolution: 'condition cleared' }) as {
      text: string;
      attachments: { color: string; title: string; ts: number }[];
    };
    expect(body.text).toBe('[RESOLVED] High CPU usage: CPU of server default/mc is 98 % — resolved: condition cleared');
    expect(body.attachments[0]).toMatchObject({ color: '#2ecc71', title: '[RESOLVED] High CPU usage', ts: Date.UTC(2026, 0, 1, 0, 5) / 1000 });
  });

  it('generic: the event name and the alert as the API shows it', () => {
    expect(webhookBody('generic', 'fired', alert)).toEqual({ event: 'alert.fired', alert });
  });
});
