// Fixed-window rate limits as Catalyst documents them: auth routes 10/min per IP, everything else
// 200/min per user (per IP before authentication), `rate-limit.bypass` exempt. Counters live in memory:
// one process serves the API (embedded mode).

export interface LimitRule {
  limit: number;
  windowMs: number;
}

export interface LimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch seconds when the window resets. */
  resetAt: number;
  /** Seconds until reset (for Retry-After). */
  retryAfter: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  hit(key: string, rule: LimitRule): LimitResult {
    const t = this.now();
    this.sweep(t);
    let w = this.windows.get(key);
    if (!w || w.resetAt <= t) {
      w = { count: 0, resetAt: t + rule.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    const retryAfter = Math.max(1, Math.ceil((w.resetAt - t) / 1000));
    return { allowed: w.count <= rule.limit, limit: rule.limit, remaining: Math.max(0, rule.limit - w.count), resetAt: Math.ceil(w.resetAt / 1000), retryAfter };
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < 60_000) return;
    this.lastSweep = t;
    for (const [k, w] of this.windows) if (w.resetAt <= t) this.windows.delete(k);
  }
}
