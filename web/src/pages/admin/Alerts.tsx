// Alerts that fired (resolve one or many) and the rules that fire them (thresholds, node offline,
// server crashed; webhooks).
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t, tk } from '../../i18n/index.ts';
import type { Alert, AlertRule } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Badge, Button, Check, Confirm, Empty, ErrorBox, FormDialog, Input, ListTable, PageHead, Section, Select, Spinner, TabPanel, Tabs } from '../../ui/kit.tsx';
import { dateTime } from '../../lib/format.ts';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';

const sevTone = (s: string) => (s === 'critical' ? 'bad' : s === 'warning' ? 'busy' : 'idle');

function AlertList() {
  const { api, can, toast } = useApp();
  const [resolved, setResolved] = useState(false);
  const alerts = useLoad(() => api.get<Alert[]>('/api/alerts', { resolved, limit: 200 }), [resolved], { intervalMs: 15_000 });
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>();
  const resolve = async (ids: string[]) => {
    setError(undefined);
    try {
      if (ids.length === 1) await api.call('POST', `/api/alerts/${encodeURIComponent(ids[0]!)}/resolve`);
      else await api.call('POST', '/api/alerts/bulk-resolve', { body: { alertIds: ids } });
      toast(t('alerts.resolved', { n: ids.length }));
      setPicked(new Set());
      await alerts.reload();
    } catch (err) {
      setError(err);
    }
  };
  const rows = alerts.data ?? [];
  return (
    <Section
      title={t('alerts.title')}
      actions={
        <>
          <Check label={t('alerts.showResolved')} checked={resolved} onChange={(e) => setResolved(e.target.checked)} />
          {can('alert.resolve') ? <Button disabled={!picked.size} onClick={() => void resolve([...picked])}>{t('alerts.resolveSelected', { n: picked.size })}</Button> : null}
        </>
      }
    >
      <ListTable loaded={alerts} error={error} empty={t('alerts.none')} select columns={[t('alerts.alert'), t('alerts.severity'), t('alerts.target'), t('alerts.when')]}>
            {rows.map((a) => (
              <tr key={a.id}>
                <td>{!a.resolved ? <input type="checkbox" aria-label={t('files.selectOne', { name: a.title })} checked={picked.has(a.id)} onChange={() => { const n = new Set(picked); if (n.has(a.id)) n.delete(a.id); else n.add(a.id); setPicked(n); }} /> : null}</td>
                <th scope="row" data-label={t('alerts.alert')}>
                  {a.title}
                  <div className="muted small">{a.message}</div>
                </th>
                <td data-label={t('alerts.severity')}><Badge tone={sevTone(a.severity)}>{tk(`alerts.sev.${a.severity}`)}</Badge></td>
                <td data-label={t('alerts.target')}>{a.serverId ?? a.nodeId ?? '—'}</td>
                <td data-label={t('alerts.when')}>{dateTime(a.createdAt)}{a.resolvedAt ? ` → ${dateTime(a.resolvedAt)}` : ''}</td>
                <td className="row-actions">{!a.resolved && can('alert.resolve') ? <Button variant="ghost" onClick={() => void resolve([a.id])}>{t('alerts.resolve')}</Button> : null}</td>
              </tr>
            ))}
      </ListTable>
    </Section>
  );
}

interface RuleForm {
  id?: string;
  name: string;
  type: string;
  targetId: string;
  metric: string;
  operator: string;
  value: string;
  duration: string;
  severity: string;
  webhook: string;
  format: string;
  enabled: boolean;
}

function RuleList() {
  const { api, can, toast } = useApp();
  const rules = useLoad(() => api.get<AlertRule[]>('/api/alert-rules'), []);
  const [form, setForm] = useState<RuleForm>();
  const [yaml, setYaml] = useState<string>();
  const [deleting, setDeleting] = useState<AlertRule>();
  const edit = (r?: AlertRule) => {
    const c = (r?.conditions ?? {}) as { metric?: string; operator?: string; value?: number; duration?: number };
    const a = (r?.actions?.[0] ?? {}) as { url?: string; format?: string };
    setForm({ id: r?.id, name: r?.name ?? '', type: r?.type ?? 'resource_threshold', targetId: r?.targetId ?? '*', metric: c.metric ?? 'cpu', operator: c.operator ?? '>', value: String(c.value ?? 90), duration: String(c.duration ?? 60), severity: r?.severity ?? 'warning', webhook: a.url ?? '', format: a.format ?? 'generic', enabled: r?.enabled ?? true });
  };
  const save = async () => {
    if (!form) return;
    const body: Record<string, unknown> = {
      name: form.name,
      type: form.type,
      target: form.type === 'node_offline' ? 'node' : 'server',
      targetId: form.targetId || '*',
      severity: form.severity,
      enabled: form.enabled,
      conditions: form.type === 'resource_threshold' ? { metric: form.metric, operator: form.operator, value: Number(form.value), duration: Number(form.duration) } : null,
      actions: form.webhook ? [{ type: 'webhook', url: form.webhook, format: form.format }] : [],
    };
    if (form.id) await api.call('PUT', `/api/alert-rules/${encodeURIComponent(form.id)}`, { body });
    else await api.call('POST', '/api/alert-rules', { body });
    toast(t('rules.saved', { name: form.name }));
    setForm(undefined);
    await rules.reload();
  };
  const list = rules.data ?? [];
  return (
    <Section title={t('rules.title')} actions={can('alert.rules') ? <Button variant="primary" onClick={() => edit()}>{t('rules.create')}</Button> : null}>
      <ErrorBox error={rules.error} />
      {!rules.data && !rules.error ? <Spinner /> : null}
      {rules.data && !list.length ? <Empty>{t('rules.none')}</Empty> : null}
      {list.map((r) => (
        <div key={r.id} className="rule-row">
          <div>
            <strong>{r.name}</strong> <Badge tone={r.firing ? 'bad' : r.enabled ? 'ok' : 'idle'}>{r.firing ? t('rules.firing') : r.enabled ? t('rules.enabled') : t('schedules.disabled')}</Badge>
            <div className="muted small">{tk(`rules.type.${r.type}`)} · {r.targetId ?? '*'}</div>
          </div>
          <div className="row-actions">
            {can('alert.rules') ? <Button variant="ghost" onClick={() => edit(r)}>{t('common.edit')}</Button> : null}
            {can('resource.read') ? <Button variant="ghost" aria-expanded={yaml === r.id} onClick={() => setYaml(yaml === r.id ? undefined : r.id)}>{t('yaml.title')}</Button> : null}
            {can('alert.rules') ? <Button variant="ghost" onClick={() => setDeleting(r)}>{t('common.delete')}</Button> : null}
          </div>
          {yaml === r.id ? <ResourceYaml kind="AlertRule" name={r.id} canEdit={can('resource.write')} /> : null}
        </div>
      ))}
      <FormDialog open={!!form} wide grid title={form?.id ? t('rules.edit') : t('rules.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('rules.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Select label={t('rules.type')} value={form.type} onChange={(e) => setForm({ ...form, type: e.target.value })} options={['resource_threshold', 'server_crashed', 'node_offline'].map((x) => ({ value: x, label: tk(`rules.type.${x}`) }))} />
            <Input label={t('rules.target')} hint={t('rules.targetHint')} value={form.targetId} onChange={(e) => setForm({ ...form, targetId: e.target.value })} />
            <Select label={t('alerts.severity')} value={form.severity} onChange={(e) => setForm({ ...form, severity: e.target.value })} options={['info', 'warning', 'critical'].map((x) => ({ value: x, label: tk(`alerts.sev.${x}`) }))} />
            {form.type === 'resource_threshold' ? (
              <>
                <Select label={t('rules.metric')} value={form.metric} onChange={(e) => setForm({ ...form, metric: e.target.value })} options={['cpu', 'memory', 'disk', 'network_rx', 'network_tx'].map((x) => ({ value: x, label: tk(`rules.metric.${x}`) }))} />
                <Select label={t('rules.operator')} value={form.operator} onChange={(e) => setForm({ ...form, operator: e.target.value })} options={['>', '>=', '<', '<=', '=='].map((x) => ({ value: x, label: x }))} />
                <Input label={t('rules.value')} type="number" value={form.value} onChange={(e) => setForm({ ...form, value: e.target.value })} />
                <Input label={t('rules.duration')} type="number" min={0} value={form.duration} onChange={(e) => setForm({ ...form, duration: e.target.value })} />
              </>
            ) : null}
            <Input label={t('rules.webhook')} type="url" value={form.webhook} onChange={(e) => setForm({ ...form, webhook: e.target.value })} />
            <Select label={t('rules.format')} value={form.format} onChange={(e) => setForm({ ...form, format: e.target.value })} options={['generic', 'discord', 'slack'].map((x) => ({ value: x, label: x }))} />
            <Check label={t('rules.enabled')} checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} />
          </>
        ) : null}
      </FormDialog>
      <Confirm open={!!deleting} title={t('rules.deleteTitle')} message={t('rules.deleteMessage', { name: deleting?.name ?? '' })} confirmLabel={t('common.delete')} onClose={() => setDeleting(undefined)} onConfirm={async () => { await api.call('DELETE', `/api/alert-rules/${encodeURIComponent(deleting!.id)}`); await rules.reload(); }} />
    </Section>
  );
}

export default function AlertsPage() {
  const { can } = useApp();
  const [tab, setTab] = useState('alerts');
  return (
    <div className="page">
      <PageHead title={t('nav.alerts')} />
      <Tabs label={t('nav.alerts')} active={tab} onChange={setTab} tabs={[{ key: 'alerts', label: t('alerts.title') }, ...(can('alert.rules') ? [{ key: 'rules', label: t('rules.title') }] : [])]} />
      <TabPanel id={tab}>{tab === 'alerts' ? <AlertList /> : <RuleList />}</TabPanel>
    </div>
  );
}
