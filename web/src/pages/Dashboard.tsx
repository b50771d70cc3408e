// The dashboard: nodes (online, load) and servers (phase, address, CPU and memory sparklines), live
// over /ws, with phase filters and a search box. The server list is re-read every 15 s for servers
// created or deleted elsewhere; phases and stats arrive as they change.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useApp } from '../app-context.tsx';
import { t } from '../i18n/index.ts';
import type { MetricPoint, Node, Server } from '../api/types.ts';
import type { LiveMessage } from '../api/live.ts';
import { useLoad } from '../ui/hooks.ts';
import { Badge, Button, Empty, ErrorBox, PageHead, PhaseBadge, Spinner } from '../ui/kit.tsx';
import { Sparkline } from '../ui/Sparkline.tsx';
import { Link } from '../router.tsx';
import { matches, parseQuery } from '../lib/filter.ts';
import { PHASES } from '../lib/phase.ts';
import { newSeries, type ServerSeries } from '../lib/series.ts';
import { mib, percent } from '../lib/format.ts';
import { tk } from '../i18n/index.ts';
import { CreateServerDialog } from './CreateServer.tsx';

/** The socket allows 100 subscriptions; the first 100 servers shown are live, the rest refresh with the list. */
const LIVE_LIMIT = 100;

function NodeStrip() {
  const { api, can } = useApp();
  const nodes = useLoad(async () => {
    const list = await api.get<Node[]>('/api/nodes');
    const since = new Date(Date.now() - 3 * 60_000).toISOString();
    const loads = await Promise.all(
      list.map((n) =>
        api
          .get<{ points: MetricPoint[] }>(`/api/nodes/${encodeURIComponent(n.id)}/metrics`, { start: since })
          .then((m) => m.points[m.points.length - 1])
          .catch(() => undefined),
      ),
    );
    return list.map((n, i) => ({ node: n, load: loads[i] }));
  }, [api], { intervalMs: 15_000 });
  if (!can('node.read')) return null;
  if (nodes.error) return <ErrorBox error={nodes.error} onRetry={nodes.reload} />;
  if (!nodes.data) return <Spinner />;
  return (
    <section aria-labelledby="nodes-title" className="node-strip">
      <h2 id="nodes-title" className="sr-only">
        {t('nav.nodes')}
      </h2>
      {nodes.data.length === 0 ? <Empty>{t('node.none')}</Empty> : null}
      <ul className="node-cards">
        {nodes.data.map(({ node, load }) => (
          <li key={node.id} className="card node-card">
            <div className="node-card-head">
              <strong>{node.name}</strong>
              <Badge tone={node.isOnline ? 'ok' : 'bad'}>{node.isOnline ? t('node.online') : t('node.offline')}</Badge>
            </div>
            <dl className="kv">
              <dt>{t('node.cpu')}</dt>
              <dd>{load ? percent(load.cpu) : '—'}</dd>
              <dt>{t('node.memory')}</dt>
              <dd>{load && load.memoryLimitBytes ? percent((load.memoryBytes / load.memoryLimitBytes) * 100) : '—'}</dd>
              <dt>{t('node.servers')}</dt>
              <dd>{node.servers.length}</dd>
            </dl>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Dashboard() {
  const { api, live, can } = useApp();
  const servers = useLoad(() => api.all<Server>('/api/servers'), [api], { intervalMs: 15_000 });
  const [query, setQuery] = useState('');
  const [phases, setPhases] = useState<Set<string>>(new Set());
  const [creating, setCreating] = useState(false);
  const [, setTick] = useState(0);
  const phaseOf = useRef(new Map<string, string>());
  const series = useRef(new Map<string, ServerSeries>());
  const pending = useRef(false);

  const list = servers.data ?? [];
  // A fresh list carries every server's phase as of now; live updates take over from there.
  useEffect(() => phaseOf.current.clear(), [servers.data]);
  const shown = useMemo(() => {
    const q = parseQuery(query);
    return list.filter((s) => matches({ ...s, status: phaseOf.current.get(s.id) ?? s.status }, q, phases));
    // phaseOf changes trigger a re-render through setTick
  }, [list, query, phases]);

  // Live: one subscription per server in view (up to the socket's limit), re-rendered at most once a frame.
  const liveIds = shown.slice(0, LIVE_LIMIT).map((s) => s.id).join('\n');
  useEffect(() => {
    const ids = liveIds ? liveIds.split('\n') : [];
    const rerender = () => {
      if (pending.current) return;
      pending.current = true;
      requestAnimationFrame(() => {
        pending.current = false;
        setTick((n) => n + 1);
      });
    };
    const offs = ids.map((id) =>
      live.subscribe(id, ['server_state_update', 'resource_stats'], (m: LiveMessage) => {
        if (m.type === 'server_state_update' || m.type === 'subscribed') {
          if (typeof m.state === 'string') phaseOf.current.set(id, m.state);
          rerender();
        } else if (m.type === 'resource_stats') {
          let s = series.current.get(id);
          if (!s) series.current.set(id, (s = newSeries(60)));
          s.time.push(Date.parse(String(m.timestamp)));
          s.cpu.push(Number(m.cpu) || 0);
          s.memoryMb.push(Number(m.memoryMb) || 0);
          rerender();
        }
      }),
    );
    return () => offs.forEach((off) => off());
  }, [liveIds, live]);

  const counts = useMemo(() => {
    const c = new Map<string, number>();
    for (const s of list) {
      const p = phaseOf.current.get(s.id) ?? s.status;
      c.set(p, (c.get(p) ?? 0) + 1);
    }
    return c;
  }, [list, servers.data]);

  return (
    <div className="page">
      <PageHead title={t('nav.dashboard')}>
        {can('server.create') ? (
          <Button variant="primary" onClick={() => setCreating(true)}>
            {t('server.create')}
          </Button>
        ) : null}
      </PageHead>
      <NodeStrip />
      <section aria-labelledby="servers-title" className="card">
        <header className="card-head">
          <h2 id="servers-title">{t('dashboard.servers', { n: shown.length, total: list.length })}</h2>
        </header>
        <div className="filters">
          <label className="search">
            <span className="sr-only">{t('dashboard.search')}</span>
            <input type="search" placeholder={t('dashboard.searchPlaceholder')} aria-label={t('dashboard.search')} value={query} onChange={(e) => setQuery(e.target.value)} />
          </label>
          <div className="chips" role="group" aria-label={t('dashboard.filterPhase')}>
            {PHASES.filter((p) => counts.get(p)).map((p) => (
              <button
                key={p}
                type="button"
                className={`chip${phases.has(p) ? ' on' : ''}`}
                aria-pressed={phases.has(p)}
                onClick={() => {
                  const next = new Set(phases);
                  if (next.has(p)) next.delete(p);
                  else next.add(p);
                  setPhases(next);
                }}
              >
                {tk(`phase.${p}`)} <span className="chip-count">{counts.get(p)}</span>
              </button>
            ))}
          </div>
        </div>
        <ErrorBox error={servers.error} onRetry={servers.reload} />
        {!servers.data && !servers.error ? <Spinner /> : null}
        {servers.data && !list.length ? <Empty>{t('dashboard.noServers')}</Empty> : null}
        {servers.data && list.length > 0 && !shown.length ? <Empty>{t('dashboard.noMatch')}</Empty> : null}
        {shown.length ? (
          <table className="table servers-table" data-testid="servers">
            <thead>
              <tr>
                <th scope="col">{t('server.name')}</th>
                <th scope="col">{t('server.phase')}</th>
                <th scope="col">{t('server.address')}</th>
                <th scope="col">{t('server.node')}</th>
                <th scope="col">{t('server.cpu')}</th>
                <th scope="col">{t('server.memory')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => {
                const ser = series.current.get(s.id);
                const cpu = ser?.cpu.last() ?? s.cpuUsage;
                const mem = ser?.memoryMb.last() ?? s.memoryUsageMb;
                return (
                  <tr key={s.id} data-server={s.id}>
                    <th scope="row" data-label={t('server.name')}>
                      <Link to={`/servers/${encodeURIComponent(s.id)}`}>{s.name}</Link>
                      <div className="muted small">{s.id}</div>
                    </th>
                    <td data-label={t('server.phase')}>
                      <PhaseBadge phase={phaseOf.current.get(s.id) ?? s.status} />
                    </td>
                    <td data-label={t('server.address')}>
                      <code>{s.address ?? '—'}</code>
                    </td>
                    <td data-label={t('server.node')}>{s.nodeId ?? '—'}</td>
                    <td data-label={t('server.cpu')} className="spark-cell">
                      <Sparkline values={ser?.cpu.values() ?? []} max={s.allocatedCpuCores * 100} label={t('server.cpuSpark', { name: s.name })} />
                      <span>{percent(cpu)}</span>
                    </td>
                    <td data-label={t('server.memory')} className="spark-cell">
                      <Sparkline values={ser?.memoryMb.values() ?? []} max={s.allocatedMemoryMb} label={t('server.memorySpark', { name: s.name })} />
                      <span>
                        {mib(mem)} / {mib(s.allocatedMemoryMb)}
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : null}
        {shown.length > LIVE_LIMIT ? <p className="muted small">{t('dashboard.liveLimit', { n: LIVE_LIMIT })}</p> : null}
      </section>
      <CreateServerDialog open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}
