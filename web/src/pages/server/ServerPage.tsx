// One server: header with phase, address and power buttons that follow the real phase transitions,
// and a tab per concern. The tab is part of the URL (/servers/ID/files), so it survives a reload.
import { lazy, Suspense, useEffect, useState } from 'react';
import { useApp, holds } from '../../app-context.tsx';
import { t, tk, type MessageKey } from '../../i18n/index.ts';
import type { Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Button, Confirm, CopyButton, ErrorBox, PageHead, PhaseBadge, Spinner, TabPanel, Tabs } from '../../ui/kit.tsx';
import { navigate } from '../../router.tsx';
import { allowedActions, goalOf, type PowerAction } from '../../lib/phase.ts';
import { ConsoleTab } from './Console.tsx';

const FilesTab = lazy(() => import('./Files.tsx'));
const BackupsTab = lazy(() => import('./Backups.tsx'));
const SchedulesTab = lazy(() => import('./Schedules.tsx'));
const DatabasesTab = lazy(() => import('./Databases.tsx'));
const StartupTab = lazy(() => import('./Startup.tsx'));
const SubusersTab = lazy(() => import('./Subusers.tsx'));
const ActivityTab = lazy(() => import('./Activity.tsx'));
const MetricsTab = lazy(() => import('./Metrics.tsx'));
const SettingsTab = lazy(() => import('./Settings.tsx'));

const TABS: { key: string; label: MessageKey; permission: string }[] = [
  { key: 'console', label: 'tab.console', permission: 'server.read' },
  { key: 'metrics', label: 'tab.metrics', permission: 'server.read' },
  { key: 'files', label: 'tab.files', permission: 'file.read' },
  { key: 'backups', label: 'tab.backups', permission: 'backup.read' },
  { key: 'schedules', label: 'tab.schedules', permission: 'task.read' },
  { key: 'databases', label: 'tab.databases', permission: 'database.read' },
  { key: 'startup', label: 'tab.startup', permission: 'server.read' },
  { key: 'users', label: 'tab.users', permission: 'server.subusers' },
  { key: 'activity', label: 'tab.activity', permission: 'server.activity' },
  { key: 'settings', label: 'tab.settings', permission: 'server.read' },
];

const POWER: { action: PowerAction; label: MessageKey; permission: string; variant: 'primary' | 'default' | 'danger' }[] = [
  { action: 'start', label: 'power.start', permission: 'server.start', variant: 'primary' },
  { action: 'restart', label: 'power.restart', permission: 'server.restart', variant: 'default' },
  { action: 'stop', label: 'power.stop', permission: 'server.stop', variant: 'default' },
  { action: 'kill', label: 'power.kill', permission: 'server.kill', variant: 'danger' },
];

export default function ServerPage({ id, tab }: { id: string; tab?: string }) {
  const { api, live, toast } = useApp();
  const server = useLoad(() => api.get<Server>(`/api/servers/${encodeURIComponent(id)}`), [id, api]);
  const [phase, setPhase] = useState<string>();
  const [pending, setPending] = useState<{ action: PowerAction; since: number }>();
  const [error, setError] = useState<unknown>();
  const [confirmKill, setConfirmKill] = useState(false);

  useEffect(() => {
    setPhase(undefined);
    return live.subscribe(id, ['server_state_update'], (m) => {
      if ((m.type === 'server_state_update' || m.type === 'subscribed') && typeof m.state === 'string') {
        setPhase(m.state);
        // The address, container and exit code move with the phase: read them again.
        if (m.type === 'server_state_update') void server.reload();
      }
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, live]);

  const s = server.data;
  const current = phase ?? s?.status;
  // A requested action is pending until the phase reaches its goal or settles somewhere else.
  useEffect(() => {
    if (!pending || !current) return;
    const goal = goalOf(pending.action);
    const settledElsewhere = ['crashed', 'error'].includes(current) && Date.now() - pending.since > 1000;
    if (current === goal || settledElsewhere) setPending(undefined);
  }, [current, pending]);

  if (server.error) return <ErrorBox error={server.error} onRetry={server.reload} />;
  if (!s) return <Spinner />;
  const perms = s.permissions ?? [];
  const can = (p: string) => holds(perms, p);
  const allowed = allowedActions(current, s.desiredState, s.suspended);
  const active = TABS.find((x) => x.key === tab && can(x.permission)) ?? TABS[0]!;

  const power = async (action: PowerAction) => {
    setError(undefined);
    try {
      await api.call('POST', `/api/servers/${encodeURIComponent(s.id)}/${action}`);
      setPending({ action, since: Date.now() });
      toast(tk(`power.requested.${action}`, { name: s.name }));
    } catch (err) {
      setError(err);
    }
  };

  const address = s.address ?? (s.node?.publicAddress && s.primaryHostPort ? `${s.node.publicAddress}:${s.primaryHostPort}` : null);
  return (
    <div className="page">
      <PageHead
        title={s.name}
        sub={
          <span className="server-sub">
            <PhaseBadge phase={current} />
            {pending ? <span className="pending">{tk(`power.pending.${pending.action}`)}</span> : null}
            {address ? (
              <span className="addr">
                <code>{address}</code> <CopyButton text={address} label={t('server.copyAddress')} />
              </span>
            ) : null}
            {s.suspended ? <span className="badge tone-bad">{t('server.suspended', { reason: s.suspensionReason ?? '' })}</span> : null}
          </span>
        }
      >
        <div className="power" role="group" aria-label={t('power.label')}>
          {POWER.filter((p) => can(p.permission)).map((p) => (
            <Button key={p.action} variant={p.variant} disabled={!allowed.has(p.action) || !!pending} busy={pending?.action === p.action} onClick={() => (p.action === 'kill' ? setConfirmKill(true) : void power(p.action))} data-action={p.action}>
              {t(p.label)}
            </Button>
          ))}
        </div>
      </PageHead>
      {s.statusMessage && ['crashed', 'error'].includes(current ?? '') ? <ErrorBox error={new Error(s.statusMessage)} /> : null}
      <ErrorBox error={error} />
      <Tabs label={t('server.sections')} tabs={TABS.filter((x) => can(x.permission)).map((x) => ({ key: x.key, label: t(x.label) }))} active={active.key} onChange={(k) => navigate(`/servers/${encodeURIComponent(s.id)}${k === 'console' ? '' : '/' + k}`)} />
      <TabPanel id={active.key}>
        <Suspense fallback={<Spinner />}>
          {active.key === 'console' ? <ConsoleTab server={s} canSend={can('server.console')} /> : null}
          {active.key === 'metrics' ? <MetricsTab server={s} /> : null}
          {active.key === 'files' ? <FilesTab server={s} can={can} /> : null}
          {active.key === 'backups' ? <BackupsTab server={s} can={can} phase={current} /> : null}
          {active.key === 'schedules' ? <SchedulesTab server={s} can={can} /> : null}
          {active.key === 'databases' ? <DatabasesTab server={s} can={can} /> : null}
          {active.key === 'startup' ? <StartupTab server={s} can={can} onSaved={server.reload} /> : null}
          {active.key === 'users' ? <SubusersTab server={s} /> : null}
          {active.key === 'activity' ? <ActivityTab server={s} /> : null}
          {active.key === 'settings' ? <SettingsTab server={s} can={can} onSaved={server.reload} /> : null}
        </Suspense>
      </TabPanel>
      <Confirm open={confirmKill} title={t('power.killTitle')} message={t('power.killMessage', { name: s.name })} confirmLabel={t('power.kill')} onClose={() => setConfirmKill(false)} onConfirm={() => power('kill')} />
    </div>
  );
}
