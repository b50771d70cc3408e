// Webhook delivery for alerts: a generic JSON body, or a message Discord / Slack render. Deliveries go
// through a bounded queue with a few workers, each POST with a timeout and retries with backoff on
// network errors, 5xx and 429; evaluation only enqueues, so a slow or dead webhook never holds it up.
// A full queue drops the newest delivery and counts it.
import type { AlertSeverity } from '../../crds/types.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import type { Alert } from './store.ts';

export type WebhookFormat = 'generic' | 'discord' | 'slack';
export type AlertEvent = 'fired' | 'resolved';

const COLORS: Record<AlertSeverity, number> = { info: 0x3498db, warning: 0xf1c40f, critical: 0xe74c3c };
const RESOLVED_COLOR = 0x2ecc71;
const hex = (n: number) => `#${n.toString(16).padStart(6, '0')}`;

function targetText(a: Alert): string {
  if (a.serverId) return `server ${a.serverNamespace ? `${a.serverNamespace}/` : ''}${a.serverId}${a.nodeId ? ` on node ${a.nodeId}` : ''}`;
  return a.nodeId ? `node ${a.nodeId}` : a.target;
}

/** The body to POST for an alert event in a webhook format. */
export function webhookBody(format: WebhookFormat, event: AlertEvent, a: Alert): unknown {
  const title = event === 'fired' ? `[${a.severity.toUpperCase()}] ${a.title}` : `[RESOLVED] ${a.title}`;
  const when = event === 'fired' ? a.createdAt : (a.resolvedAt ?? new Date().toISOString());
  const detail = event === 'fired' ? a.message : `${a.message} — resolved${a.resolution ? `: ${a.resolution}` : ''}`;
  switch (format) {
    case 'discord':
      return {
        username: 'Gantry',
        embeds: [
          {
            title: title.slice(0, 256),
            description: detail.slice(0, 4096),
            color: event === 'fired' ? COLORS[a.severity] : RESOLVED_COLOR,
            timestamp: when,
            fields: [
              { name: 'Target', value: targetText(a).slice(0, 1024), inline: true },
              { name: 'Type', value: a.type, inline: true },
              { name: 'Rule', value: a.rule.slice(0, 1024), inline: true },
            ],
            footer: { text: `alert ${a.id}` },
          },
        ],
      };
    case 'slack':
      return {
        text: `${title}: ${detail}`,
        attachments: [
          {
            color: hex(event === 'fired' ? COLORS[a.severity] : RESOLVED_COLOR),
            title,
            text: detail,
            fields: [
              { title: 'Target', value: targetText(a), short: true },
              { title: 'Type', value: a.type, short: true },
              { title: 'Rule', value: a.rule, short: true },
            ],
            footer: `alert ${a.id}`,
            ts: Math.floor(Date.parse(when) / 1000),
          },
        ],
      };
    default:
      return { event: `alert.${event}`, alert: a };
  }
}

export interface WebhookNotifierOptions {
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First retry delay, doubling (default 1 s). */
  backoffMs?: number;
  concurrency?: number;
  maxQueue?: number;
  log?: Logger;
  fetch?: typeof fetch;
}

interface Delivery {
  url: string;
  format: WebhookFormat;
  event: AlertEvent;
  alert: Alert;
}

export class WebhookNotifier {
  readonly stats = { sent: 0, failed: 0, dropped: 0, attempts: 0 };
  private readonly queue: Delivery[] = [];
  private readonly opts: Required<Omit<WebhookNotifierOptions, 'log' | 'fetch'>>;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly inflight = new Set<AbortController>();

  constructor(opts: WebhookNotifierOptions = {}) {
    this.opts = {
      timeoutMs: opts.timeoutMs ?? 5000,
      retries: opts.retries ?? 3,
      backoffMs: opts.backoffMs ?? 1000,
      concurrency: opts.concurrency ?? 4,
      maxQueue: opts.maxQueue ?? 1000,
    };
    this.log = opts.log ?? rootLogger.child({ component: 'webhooks' });
    this.fetchFn = opts.fetch ?? fetch;
  }

  /** Queues a delivery; returns at once. */
  notify(url: string, format: WebhookFormat, event: AlertEvent, alert: Alert): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxQueue) {
      this.stats.dropped++;
      this.log.warn('webhook queue full; delivery dropped', { url: redact(url), alert: alert.id });
      return;
    }
    this.queue.push({ url, format, event, alert });
    this.pump();
  }

  /** Resolves when nothing is queued or being delivered. */
  idle(): Promise<void> {
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Drops what is queued and aborts deliveries under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    for (const c of this.inflight) c.abort(new Error('shutting down'));
    await this.idle();
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.queue.length) {
      const d = this.queue.shift()!;
      this.running++;
      void this.deliver(d).finally(() => {
        this.running--;
        this.pump();
        if (!this.running && !this.queue.length) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async deliver(d: Delivery): Promise<void> {
    const body = JSON.stringify(webhookBody(d.format, d.event, d.alert));
    let lastErr = '';
    for (let attempt = 0; attempt <= this.opts.retries && !this.closed; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, this.opts.backoffMs * 2 ** (attempt - 1)));
      if (this.closed) break;
      const ctl = new AbortController();
      this.inflight.add(ctl);
      const timer = setTimeout(() => ctl.abort(new Error(`timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
      this.stats.attempts++;
      try {
        const res = await this.fetchFn(d.url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'Gantry-Alerts' }, body, signal: ctl.signal });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.stats.sent++;
          return;
        }
        lastErr = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break; // the receiver refuses this body: retrying will not help
      } catch (err) {
        const e = err as Error;
        lastErr = ctl.signal.aborted ? String((ctl.signal.reason as Error)?.message ?? 'aborted') : (e.cause as Error)?.message ?? e.message;
      } finally {
        clearTimeout(timer);
        this.inflight.delete(ctl);
      }
    }
    this.stats.failed++;
    this.log.warn('webhook delivery failed', { url: redact(d.url), format: d.format, event: d.event, alert: d.alert.id, error: lastErr });
  }
}

/** Webhook URLs carry their secret in the path (Discord, Slack): log only scheme, host and port. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}
