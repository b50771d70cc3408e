// The Prometheus text format the `/metrics` endpoint serves: HELP/TYPE lines, label escaping,
// histogram buckets (cumulative, +Inf, _sum, _count), and the runtime's metric names.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, runtimeMetrics } from '../../controller/runtime/metrics.ts';

describe('MetricsRegistry', () => {
  it('renders counters and gauges with HELP and TYPE lines; an unlabelled metric starts at 0', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'jobs_total', help: 'Jobs done.' });
    const g = r.gauge({ name: 'temperature', help: 'Current temperature.', labelNames: ['room'] });
    expect(r.render()).toBe(['# HELP jobs_total Jobs done.', '# TYPE jobs_total counter', 'jobs_total 0', '# HELP temperature Current temperature.', '# TYPE temperature gauge', ''].join('\n'));
    c.inc();
    c.inc(undefined, 2.5);
    g.set({ room: 'a' }, 21.5);
    g.inc({ room: 'b' });
    g.dec({ room: 'b' }, 3);
    expect(r.render()).toBe(
      [
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total 3.5',
        '# HELP temperature Current temperature.',
        '# TYPE temperature gauge',
        'temperature{room="a"} 21.5',
        'temperature{room="b"} -2',
        '',
      ].join('\n'),
    );
    expect(c.get()).toBe(3.5);
    expect(() => c.inc(undefined, -1)).toThrow(/only go up/);
  });

  it('escapes label values (backslash, quote, newline) and HELP text (backslash, newline)', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'x_total', help: 'Line one\nback\\slash "quotes" stay', labelNames: ['path', 'b'] });
    c.inc({ path: 'C:\\dir\n"quoted"', b: 7 });
    const lines = r.render().split('\n');
    expect(lines[0]).toBe('# HELP x_total Line one\\nback\\\\slash "quotes" stay');
    expect(lines[2]).toBe('x_total{path="C:\\\\dir\\n\\"quoted\\"",b="7"} 1');
  });

  it('renders histograms with cumulative buckets, +Inf, _sum and _count (le is inclusive)', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['op'], buckets: [0.1, 1] });
    for (const v of [0.05, 0.1, 0.5, 1, 5]) h.observe({ op: 'get' }, v);
    h.labels({ op: 'put' });
    expect(r.render()).toBe(
      [
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{op="get",le="0.1"} 2',
        'latency_seconds_bucket{op="get",le="1"} 4',
        'latency_seconds_bucket{op="get",le="+Inf"} 5',
        'latency_seconds_sum{op="get"} 6.65',
        'latency_seconds_count{op="get"} 5',
        'latency_seconds_bucket{op="put",le="0.1"} 0',
        'latency_seconds_bucket{op="put",le="1"} 0',
        'latency_seconds_bucket{op="put",le="+Inf"} 0',
        'latency_seconds_sum{op="put"} 0',
        'latency_seconds_count{op="put"} 0',
        '',
      ].join('\n'),
    );
    expect(h.get({ op: 'get' })).toEqual({ count: 5, sum: 6.65 });
  });

  it('an unlabelled histogram renders its empty series; special values use Prometheus spelling', () => {
    const r = new MetricsRegistry();
    r.histogram({ name: 'h', help: 'h', buckets: [1] });
    const g = r.gauge({ name: 'g', help: 'g', labelNames: ['k'] });
    g.set({ k: 'inf' }, Infinity);
    g.set({ k: 'ninf' }, -Infinity);
    g.set({ k: 'nan' }, NaN);
    const text = r.render();
    expect(text).toContain('h_bucket{le="1"} 0\nh_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n');
    expect(text).toContain('g{k="inf"} +Inf\ng{k="ninf"} -Inf\ng{k="nan"} NaN\n');
  });

  it('rejects bad names, unknown or missing labels, and le on histograms; re-registering returns the same metric', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter({ name: '1bad', help: '' })).toThrow(/invalid metric name/);
    expect(() => r.counter({ name: 'ok', help: '', labelNames: ['bad-label'] })).toThrow(/invalid label name/);
    expect(() => r.counter({ name: 'ok2', help: '', labelNames: ['__reserved'] })).toThrow(/invalid label name/);
    expect(() => r.histogram({ name: 'h', help: '', labelNames: ['le'] })).toThrow(/reserved/);
    expect(() => r.histogram({ name: 'h2', help: '', buckets: [1, 1] })).toThrow(/ascending/);
    const c = r.counter({ name: 'c_total', help: 'c', labelNames: ['a'] });
    expect(() => c.inc({})).toThrow(/needs label "a"/);
    expect(() => c.inc({ a: '1', b: '2' })).toThrow(/no label "b"/);
    expect(r.counter({ name: 'c_total', help: 'c', labelNames: ['a'] })).toBe(c);
    expect(() => r.gauge({ name: 'c_total', help: 'c', labelNames: ['a'] })).toThrow(/already registered/);
    expect(() => r.counter({ name: 'c_total', help: 'c', labelNames: ['b'] })).toThrow(/already registered/);
  });

  it('collectors run before render; an empty registry renders nothing', () => {
    const r = new MetricsRegistry();
    expect(r.render()).toBe('');
    const g = r.gauge({ name: 'queue', help: 'q' });
    let n = 0;
    const off = r.addCollector(() => g.set(undefined, ++n));
    expect(r.render()).toContain('queue 1\n');
    expect(r.render()).toContain('queue 2\n');
    off();
    expect(r.render()).toContain('queue 2\n');
    expect(PROMETHEUS_CONTENT_TYPE).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('the runtime metrics have the documented names, types and labels', () => {
    const r = new MetricsRegistry();
    const m = runtimeMetrics(r);
    m.queueDepth.set({ name: 'gs' }, 2);
    m.queueAdds.inc({ name: 'gs' });
    m.queueRetries.inc({ name: 'gs' });
    m.reconcileTotal.inc({ controller: 'gs', result: 'success' });
    m.reconcileErrors.inc({ controller: 'gs' });
    m.reconcileDuration.observe({ controller: 'gs' }, 0.02);
    m.informerRelists.inc({ kind: 'GameServer' });
    const text = r.render();
    for (const line of [
      '# TYPE gantry_workqueue_depth gauge',
      'gantry_workqueue_depth{name="gs"} 2',
      '# TYPE gantry_workqueue_adds_total counter',
      'gantry_workqueue_adds_total{name="gs"} 1',
      'gantry_workqueue_retries_total{name="gs"} 1',
      '# TYPE gantry_reconcile_total counter',
      'gantry_reconcile_total{controller="gs",result="success"} 1',
      'gantry_reconcile_errors_total{controller="gs"} 1',
      '# TYPE gantry_reconcile_duration_seconds histogram',
      'gantry_reconcile_duration_seconds_bucket{controller="gs",le="0.025"} 1',
      'gantry_reconcile_duration_seconds_bucket{controller="gs",le="+Inf"} 1',
      'gantry_reconcile_duration_seconds_count{controller="gs"} 1',
      'gantry_informer_relists_total{kind="GameServer"} 1',
    ]) {
      expect(text.split('\n')).toContain(line);
    }
    // Calling it again on the same registry shares the metrics.
    expect(runtimeMetrics(r).queueDepth).toBe(m.queueDepth);
  });
});
