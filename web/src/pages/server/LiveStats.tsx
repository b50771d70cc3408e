// CPU, memory and network of the running container, live from the socket's resource_stats.
import { useEffect, useRef, useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { Server } from '../../api/types.ts';
import { newSeries } from '../../lib/series.ts';
import { bytes, mib, percent } from '../../lib/format.ts';
import { Sparkline } from '../../ui/Sparkline.tsx';

export function LiveStats({ server }: { server: Server }) {
  const { live } = useApp();
  const series = useRef(newSeries(90));
  const [last, setLast] = useState<{ cpu: number; memoryMb: number; sent: number; received: number; diskMb?: number }>();
  useEffect(() => {
    series.current = newSeries(90);
    return live.subscribe(server.id, ['resource_stats'], (m) => {
      if (m.type !== 'resource_stats') return;
      series.current.cpu.push(Number(m.cpu) || 0);
      series.current.memoryMb.push(Number(m.memoryMb) || 0);
      setLast({ cpu: Number(m.cpu) || 0, memoryMb: Number(m.memoryMb) || 0, sent: Number(m.networkSent) || 0, received: Number(m.networkReceived) || 0, diskMb: m.diskMb === undefined ? undefined : Number(m.diskMb) });
    });
  }, [live, server.id]);
  return (
    <aside className="card live-stats" aria-label={t('stats.title')}>
      <h2>{t('stats.title')}</h2>
      <div className="stat">
        <span>{t('server.cpu')}</span>
        <strong>{percent(last?.cpu ?? server.cpuUsage)}</strong>
        <Sparkline values={series.current.cpu.values()} max={server.allocatedCpuCores * 100} width={160} height={32} label={t('server.cpuSpark', { name: server.name })} />
      </div>
      <div className="stat">
        <span>{t('server.memory')}</span>
        <strong>
          {mib(last?.memoryMb ?? server.memoryUsageMb)} / {mib(server.allocatedMemoryMb)}
        </strong>
        <Sparkline values={series.current.memoryMb.values()} max={server.allocatedMemoryMb} width={160} height={32} label={t('server.memorySpark', { name: server.name })} />
      </div>
      <div className="stat">
        <span>{t('stats.network')}</span>
        <strong>
          ↑ {bytes(last?.sent ?? 0)} ↓ {bytes(last?.received ?? 0)}
        </strong>
      </div>
      <div className="stat">
        <span>{t('stats.disk')}</span>
        <strong>
          {mib(last?.diskMb ?? server.diskUsageMb ?? null)} / {server.allocatedDiskMb ? mib(server.allocatedDiskMb) : t('stats.unlimited')}
        </strong>
      </div>
    </aside>
  );
}
