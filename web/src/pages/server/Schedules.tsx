// Schedules (Catalyst tasks ↔ Schedule resources): a cron expression in a time zone with a helper
// that shows the next runs, one action (command, power, backup), enable/disable, run now, delete.
import { Fragment, useMemo, useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { locale, t, tk } from '../../i18n/index.ts';
import type { Server, Task } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Badge, Button, Confirm, FormDialog, Input, ListTable, Select, Check } from '../../ui/kit.tsx';
import { CRON_PRESETS, nextRuns } from '../../lib/cron.ts';
import { dateTime, relativeTime } from '../../lib/format.ts';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';

const ACTIONS = ['command', 'start', 'stop', 'restart', 'kill', 'backup'] as const;
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

interface Form {
  id?: string;
  name: string;
  schedule: string;
  timeZone: string;
  action: string;
  payload: string;
  enabled: boolean;
}

export function CronHelper({ expr, timeZone }: { expr: string; timeZone: string }) {
  const preview = useMemo(() => nextRuns(expr, timeZone, 5), [expr, timeZone]);
  return (
    <div className="cron-help" aria-live="polite">
      {preview.error ? (
        <p className="error-text" role="alert">
          {preview.error}
        </p>
      ) : (
        <>
          <p className="muted small">{t('cron.nextRuns', { zone: timeZone })}</p>
          <ol className="next-runs">
            {preview.runs.map((d) => (
              <li key={d.getTime()}>{dateTime(d, locale, timeZone)}</li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}

export default function SchedulesTab({ server, can }: { server: Server; can: (p: string) => boolean }) {
  const { api, toast, can: canGlobal } = useApp();
  const list = useLoad(() => api.get<Task[]>('/api/tasks', { serverId: server.id }), [server.id], { intervalMs: 10_000 });
  const [form, setForm] = useState<Form>();
  const [error, setError] = useState<unknown>();
  const [deleting, setDeleting] = useState<Task>();
  const [yaml, setYaml] = useState<string>();

  const edit = (task?: Task) => {
    const payload = task?.payload as { command?: string; note?: string } | null | undefined;
    setForm(
      task
        ? { id: task.id, name: task.name, schedule: task.schedule, timeZone: task.timeZone ?? 'UTC', action: task.action, payload: payload?.command ?? payload?.note ?? '', enabled: task.enabled }
        : { name: '', schedule: '0 4 * * *', timeZone: browserZone(), action: 'command', payload: '', enabled: true },
    );
  };

  const save = async () => {
    if (!form) return;
    const payload = form.action === 'command' ? { command: form.payload } : form.action === 'backup' && form.payload ? { note: form.payload } : null;
    const body = { name: form.name, schedule: form.schedule, timeZone: form.timeZone, enabled: form.enabled, ...(form.action === 'steps' ? {} : { action: form.action, payload }) };
    if (form.id) await api.call('PUT', `/api/tasks/${encodeURIComponent(form.id)}`, { body });
    else await api.call('POST', '/api/tasks', { body: { ...body, serverId: server.id } });
    toast(t('schedules.saved', { name: form.name }));
    setForm(undefined);
    await list.reload();
  };

  const run = async (task: Task) => {
    setError(undefined);
    try {
      await api.call('POST', `/api/tasks/${encodeURIComponent(task.id)}/execute`);
      toast(t('schedules.runRequested', { name: task.name }));
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };

  const rows = list.data ?? [];
  return (
    <div className="card">
      <header className="card-head">
        <h2>{t('tab.schedules')}</h2>
        {can('task.create') ? (
          <div className="card-actions">
            <Button variant="primary" onClick={() => edit()}>
              {t('schedules.create')}
            </Button>
          </div>
        ) : null}
      </header>
      <ListTable loaded={list} error={error} empty={t('schedules.none')} columns={[t('schedules.name'), t('schedules.when'), t('schedules.action'), t('schedules.last'), t('schedules.next')]}>
            {rows.map((task) => {
              const payload = task.payload as { command?: string } | null;
              return (
                <Fragment key={task.id}>
                <tr data-task={task.name}>
                  <th scope="row" data-label={t('schedules.name')}>
                    {task.name} {!task.enabled ? <Badge tone="idle">{t('schedules.disabled')}</Badge> : null}
                  </th>
                  <td data-label={t('schedules.when')}>
                    <code>{task.schedule}</code> <span className="muted small">{task.timeZone}</span>
                  </td>
                  <td data-label={t('schedules.action')}>
                    {tk(`schedules.action.${task.action}`)} {payload?.command ? <code>{payload.command}</code> : null}
                  </td>
                  <td data-label={t('schedules.last')}>{task.lastRunAt ? relativeTime(task.lastRunAt) : '—'}</td>
                  <td data-label={t('schedules.next')}>{task.enabled && task.nextRunAt ? dateTime(task.nextRunAt) : '—'}</td>
                  <td className="row-actions">
                    {can('task.execute') ? <Button variant="ghost" onClick={() => void run(task)}>{t('schedules.runNow')}</Button> : null}
                    {can('task.update') && task.action !== 'steps' ? <Button variant="ghost" onClick={() => edit(task)}>{t('common.edit')}</Button> : null}
                    {canGlobal('resource.read') ? <Button variant="ghost" aria-expanded={yaml === task.id} onClick={() => setYaml(yaml === task.id ? undefined : task.id)}>{t('yaml.title')}</Button> : null}
                    {can('task.delete') ? <Button variant="ghost" onClick={() => setDeleting(task)}>{t('common.delete')}</Button> : null}
                  </td>
                </tr>
                {yaml === task.id ? (
                  <tr className="yaml-row">
                    <td colSpan={6}>
                      <ResourceYaml kind="Schedule" name={task.id} canEdit={canGlobal('resource.write')} />
                    </td>
                  </tr>
                ) : null}
                </Fragment>
              );
            })}
      </ListTable>
      <FormDialog open={!!form} wide grid onClose={() => setForm(undefined)} title={form?.id ? t('schedules.edit') : t('schedules.create')} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('schedules.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Select label={t('schedules.action')} value={form.action} onChange={(e) => setForm({ ...form, action: e.target.value })} options={ACTIONS.map((a) => ({ value: a, label: tk(`schedules.action.${a}`) }))} />
            {form.action === 'command' || form.action === 'backup' ? (
              <Input label={form.action === 'command' ? t('schedules.command') : t('backups.note')} required={form.action === 'command'} value={form.payload} onChange={(e) => setForm({ ...form, payload: e.target.value })} />
            ) : null}
            <Input label={t('schedules.cron')} hint={t('schedules.cronHint')} required value={form.schedule} onChange={(e) => setForm({ ...form, schedule: e.target.value })} className="mono" />
            <Input label={t('schedules.timeZone')} required value={form.timeZone} onChange={(e) => setForm({ ...form, timeZone: e.target.value })} />
            <div className="span-all">
              <div className="chips" role="group" aria-label={t('cron.presets')}>
                {CRON_PRESETS.map((p) => (
                  <button key={p.expr} type="button" className={`chip${form.schedule === p.expr ? ' on' : ''}`} aria-pressed={form.schedule === p.expr} onClick={() => setForm({ ...form, schedule: p.expr })}>
                    {tk(p.label)}
                  </button>
                ))}
              </div>
              <CronHelper expr={form.schedule} timeZone={form.timeZone} />
              <Check label={t('schedules.enabled')} checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} />
            </div>
          </>
        ) : null}
      </FormDialog>
      <Confirm
        open={!!deleting}
        title={t('schedules.deleteTitle')}
        message={t('schedules.deleteMessage', { name: deleting?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `/api/tasks/${encodeURIComponent(deleting!.id)}`);
          await list.reload();
        }}
      />
    </div>
  );
}
