// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4), which is what `/metrics` serves.
//
// Dependency-free on purpose (prom-client is not installed and the format is simple). Rules followed:
// - one `# HELP` and one `# TYPE` line per metric family, HELP text escaping `\` and newline;
// - label values escape `\`, `"` and newline; names are checked against the Prometheus grammar;
// - histogram buckets are cumulative, always end with `le="+Inf"`, and come with `_sum` and `_count`;
// - a metric without labels is rendered as 0 before it is touched (so it exists from the start);
//   a labelled one has no series until a label set is used (or pre-touched with `labels(...)`).
// Registering the same name again with the same type and label names returns the existing metric,
// so several controllers (or managers in tests) can share one registry; a mismatch throws.

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Record<string, string | number>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; +Inf is implied. Default: Prometheus' default buckets. */
  buckets?: readonly number[];
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Sample values as Prometheus writes them: +Inf, -Inf, NaN, otherwise the shortest round-trip form. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricType;

  constructor(opts: MetricOptions, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(opts.name)) throw new Error(`invalid metric name "${opts.name}"`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new Error(`invalid label name "${l}" on metric ${opts.name}`);
      if (reserved.includes(l)) throw new Error(`label name "${l}" is reserved on metric ${opts.name}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`duplicate label names on metric ${opts.name}`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...labelNames];
  }

  /** The series key and rendered label pairs for a label set (every declared label required, no others). */
  protected series(labels: Labels | undefined): { key: string; pairs: string[] } {
    const given = labels ?? {};
    for (const k of Object.keys(given)) {
      if (!this.labelNames.includes(k)) throw new Error(`metric ${this.name} has no label "${k}"`);
    }
    const pairs: string[] = [];
    for (const l of this.labelNames) {
      const v = given[l];
      if (v === undefined) throw new Error(`metric ${this.name} needs label "${l}"`);
      pairs.push(`${l}="${escapeLabelValue(String(v))}"`);
    }
    return { key: pairs.join(','), pairs };
  }

  header(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
  }

  abstract lines(): string[];
  abstract reset(): void;
}

const braces = (pairs: readonly string[]) => (pairs.length ? `{${pairs.join(',')}}` : '');

class ScalarMetric extends Metric {
  readonly type: MetricType;
  protected readonly values = new Map<string, { pairs: string[]; value: number }>();

  constructor(type: 'counter' | 'gauge', opts: MetricOptions) {
    super(opts);
    this.type = type;
    if (!this.labelNames.length) this.values.set('', { pairs: [], value: 0 });
  }

  protected cell(labels: Labels | undefined) {
    const { key, pairs } = this.series(labels);
    let c = this.values.get(key);
    if (!c) {
      c = { pairs, value: 0 };
      this.values.set(key, c);
    }
    return c;
  }

  /** Creates the series at 0 if it does not exist yet (so it renders before the first event). */
  labels(labels: Labels): this {
    this.cell(labels);
    return this;
  }

  get(labels?: Labels): number {
    return this.values.get(this.series(labels).key)?.value ?? 0;
  }

  /** Drops one series (e.g. a controller that no longer exists). */
  remove(labels: Labels): void {
    this.values.delete(this.series(labels).key);
  }

  reset(): void {
    for (const c of this.values.values()) c.value = 0;
  }

  lines(): string[] {
    return [...this.values.values()].map((c) => `${this.name}${braces(c.pairs)} ${formatValue(c.value)}`);
  }
}

export class Counter extends ScalarMetric {
  constructor(opts: MetricOptions) {
    super('counter', opts);
  }

  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name} can only go up (inc by ${by})`);
    this.cell(labels).value += by;
  }
}

export class Gauge extends ScalarMetric {
  constructor(opts: MetricOptions) {
    super('gauge', opts);
  }

  set(labels: Labels | undefined, value: number): void {
    this.cell(labels).value = value;
  }

  inc(labels?: Labels, by = 1): void {
    this.cell(labels).value += by;
  }

  dec(labels?: Labels, by = 1): void {
    this.cell(labels).value -= by;
  }
}

interface HistogramCell {
  pairs: string[];
  counts: number[]; // per bucket, not cumulative; the last one is +Inf
  sum: number;
  count: number;
}

export class Histogram extends Metric {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  private readonly cells = new Map<string, HistogramCell>();

  constructor(opts: HistogramOptions) {
    super(opts, ['le']);
    const buckets = [...(opts.buckets ?? DEFAULT_BUCKETS)].filter((b) => b !== Infinity);
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]!)) throw new Error(`histogram ${opts.name}: bucket bounds must be numbers`);
      if (i > 0 && buckets[i]! <= buckets[i - 1]!) throw new Error(`histogram ${opts.name}: buckets must be strictly ascending`);
    }
    this.buckets = buckets;
    if (!this.labelNames.length) this.cell(undefined);
  }

  private cell(labels: Labels | undefined): HistogramCell {
    const { key, pairs } = this.series(labels);
    let c = this.cells.get(key);
    if (!c) {
      c = { pairs, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  labels(labels: Labels): this {
    this.cell(labels);
    return this;
  }

  observe(labels: Labels | undefined, value: number): void {
    const c = this.cell(labels);
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    c.counts[i]!++;
    c.sum += value;
    c.count++;
  }

  /** Starts a timer; calling the returned function observes the elapsed seconds and returns them. */
  startTimer(labels?: Labels): (more?: Labels) => number {
    const start = process.hrtime.bigint();
    return (more) => {
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe({ ...labels, ...more }, s);
      return s;
    };
  }

  /** Count and sum of one series (tests, diagnostics). */
  get(labels?: Labels): { count: number; sum: number } {
    const c = this.cells.get(this.series(labels).key);
    return { count: c?.count ?? 0, sum: c?.sum ?? 0 };
  }

  reset(): void {
    for (const c of this.cells.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }

  lines(): string[] {
    const out: string[] = [];
    for (const c of this.cells.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += c.counts[i]!;
        const le = i < this.buckets.length ? formatValue(this.buckets[i]!) : '+Inf';
        out.push(`${this.name}_bucket${braces([...c.pairs, `le="${le}"`])} ${cumulative}`);
      }
      out.push(`${this.name}_sum${braces(c.pairs)} ${formatValue(c.sum)}`);
      out.push(`${this.name}_count${braces(c.pairs)} ${c.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly collectors = new Set<() => void>();

  counter(opts: MetricOptions): Counter {
    return this.register(opts, 'counter', () => new Counter(opts));
  }

  gauge(opts: MetricOptions): Gauge {
    return this.register(opts, 'gauge', () => new Gauge(opts));
  }

  histogram(opts: HistogramOptions): Histogram {
    return this.register(opts, 'histogram', () => new Histogram(opts));
  }

  /** Runs before every render (for values that are cheaper to read than to track). Returns an unregister function. */
  addCollector(fn: () => void): () => void {
    this.collectors.add(fn);
    return () => this.collectors.delete(fn);
  }

  get(name: string): Counter | Gauge | Histogram | undefined {
    return this.metrics.get(name) as Counter | Gauge | Histogram | undefined;
  }

  /** Every metric in the text exposition format, in registration order, ending with a newline. */
  render(): string {
    for (const fn of this.collectors) fn();
    const out: string[] = [];
    for (const m of this.metrics.values()) out.push(...m.header(), ...m.lines());
    return out.length ? out.join('\n') + '\n' : '';
  }

  /** Zeroes every value (series stay). */
  resetAll(): void {
    for (const m of this.metrics.values()) m.reset();
  }

  private register<M extends Metric>(opts: MetricOptions, type: MetricType, make: () => M): M {
    const existing = this.metrics.get(opts.name);
    if (existing) {
      const same = existing.type === type && existing.labelNames.join(',') === (opts.labelNames ?? []).join(',');
      if (!same) throw new Error(`metric ${opts.name} is already registered as a ${existing.type} with labels [${existing.labelNames.join(', ')}]`);
      return existing as M;
    }
    const m = make();
    this.metrics.set(opts.name, m);
    return m;
  }
}

/** The runtime's own metrics (names fixed; one set per registry). */
export interface RuntimeMetrics {
  queueDepth: Gauge;
  queueAdds: Counter;
  queueRetries: Counter;
  reconcileTotal: Counter;
  reconcileErrors: Counter;
  reconcileDuration: Histogram;
  informerRelists: Counter;
}

/** Reconciles span milliseconds (cache hits) to a minute (an image pull through the agent). */
export const RECONCILE_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function runtimeMetrics(registry: MetricsRegistry): RuntimeMetrics {
  return {
    queueDepth: registry.gauge({ name: 'gantry_workqueue_depth', help: 'Keys waiting in the work queue (not counting delayed or in-flight keys).', labelNames: ['name'] }),
    queueAdds: registry.counter({ name: 'gantry_workqueue_adds_total', help: 'Keys added to the work queue (a key already queued is not counted again).', labelNames: ['name'] }),
    queueRetries: registry.counter({ name: 'gantry_workqueue_retries_total', help: 'Rate-limited re-adds (retries with backoff).', labelNames: ['name'] }),
    reconcileTotal: registry.counter({ name: 'gantry_reconcile_total', help: 'Reconciles by result.', labelNames: ['controller', 'result'] }),
    reconcileErrors: registry.counter({ name: 'gantry_reconcile_errors_total', help: 'Reconciles that failed with an error.', labelNames: ['controller'] }),
    reconcileDuration: registry.histogram({
      name: 'gantry_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
    }),
    informerRelists: registry.counter({ name: 'gantry_informer_relists_total', help: 'Lists after the first one (after a 410 Gone, an ERROR event or a dropped watch).', labelNames: ['kind'] }),
  };
}
