// Resource graphs over a chosen range: CPU, memory, network, disk from the metrics history.
import { useMemo, useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t, tk } from '../../i18n/index.ts';
import type { MetricPoint, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Empty, ErrorBox, Spinner } from '../../ui/kit.tsx';
import { TimeChart } from '../../ui/TimeChart.tsx';
import { RANGES } from '../../lib/series.ts';
import { bytes, percent } from '../../lib/format.ts';

const fmtPct = (v: number) => percent(v, 0);
const fmtBytes = (v: number) => bytes(v);
const fmtRate = (v: number) => `${bytes(v)}/s`;

export default function MetricsTab({ server }: { server: Server }) {
  const { api } = useApp();
  const [range, setRange] = useState('1h');
  const r = RANGES.find((x) => x.key === range)!;
  const data = useLoad(
    () => api.get<{ points: MetricPoint[] }>(`/api/servers/${encodeURIComponent(server.id)}/metrics`, { start: new Date(Date.now() - r.ms).toISOString(), interval: r.interval }),
    [server.id, range],
    { intervalMs: r.ms <= 3_600_000 ? 10_000 : 60_000 },
  );
  const charts = useMemo(() => {
    const pts = data.data?.points ?? [];
    const span: [number, number] = [Date.now() - r.ms, Date.now()];
    const times = pts.map((p) => Date.parse(p.timestamp));
    return {
      span,
      times,
      cpu: [{ label: t('server.cpu'), values: pts.map((p) => p.cpu), color: '#60a5fa' }],
      memory: [{ label: t('server.memory'), values: pts.map((p) => p.memoryBytes), color: '#a78bfa' }],
      network: [
        { label: t('metrics.rx'), values: pts.map((p) => p.networkRxBps), color: '#34d399' },
        { label: t('metrics.tx'), values: pts.map((p) => p.networkTxBps), color: '#fbbf24' },
      ],
      disk: [{ label: t('stats.disk'), values: pts.map((p) => p.diskBytes), color: '#f472b6' }],
    };
  }, [data.data, r.ms]);
  return (
    <div className="card">
      <header className="card-head">
        <h2>{t('tab.metrics')}</h2>
        <div className="chips" role="group" aria-label={t('metrics.range')}>
          {RANGES.map((x) => (
            <button key={x.key} type="button" className={`chip${x.key === range ? ' on' : ''}`} aria-pressed={x.key === range} onClick={() => setRange(x.key)}>
              {tk(`metrics.range.${x.key}`)}
            </button>
          ))}
        </div>
      </header>
      <ErrorBox error={data.error} onRetry={data.reload} />
      {!data.data && !data.error ? <Spinner /> : null}
      {data.data && !charts.times.length ? <Empty>{t('metrics.none')}</Empty> : null}
      {charts.times.length ? (
        <div className="charts">
          <TimeChart title={t('metrics.cpuTitle')} times={charts.times} series={charts.cpu} format={fmtPct} range={charts.span} floor={Math.max(10, server.allocatedCpuCores * 100)} />
          <TimeChart title={t('metrics.memoryTitle')} times={charts.times} series={charts.memory} format={fmtBytes} range={charts.span} floor={server.allocatedMemoryMb * 1024 * 1024} />
          <TimeChart title={t('metrics.networkTitle')} times={charts.times} series={charts.network} format={fmtRate} range={charts.span} floor={1024} />
          <TimeChart title={t('metrics.diskTitle')} times={charts.times} series={charts.disk} format={fmtBytes} range={charts.span} floor={server.allocatedDiskMb ? server.allocatedDiskMb * 1024 * 1024 : 1024 * 1024} />
        </div>
      ) : null}
    </div>
  );
}
