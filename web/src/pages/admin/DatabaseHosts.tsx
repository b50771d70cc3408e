// Database hosts: the MySQL/MariaDB servers that servers' databases are created on. Adding one logs
// in with its admin account first; the password is write-only (never shown again).
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { DatabaseHost } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Button, Confirm, FormDialog, Input, ListTable, PageHead, Section } from '../../ui/kit.tsx';

const empty = { name: '', host: '', port: '3306', username: '', password: '', maxDatabases: '' };

export default function DatabaseHostsPage() {
  const { api, toast } = useApp();
  const hosts = useLoad(() => api.get<DatabaseHost[]>('/api/admin/database-hosts'), []);
  const [form, setForm] = useState<typeof empty>();
  const [deleting, setDeleting] = useState<DatabaseHost>();
  const [error, setError] = useState<unknown>();

  const save = async () => {
    if (!form) return;
    await api.call('POST', '/api/admin/database-hosts', { body: { name: form.name, host: form.host, port: Number(form.port), username: form.username, password: form.password, ...(form.maxDatabases ? { maxDatabases: Number(form.maxDatabases) } : {}) } });
    toast(t('dbhosts.saved', { name: form.name }));
    setForm(undefined);
    await hosts.reload();
  };

  const test = async (h: DatabaseHost) => {
    setError(undefined);
    try {
      const r = await api.data<{ version?: string }>('POST', `/api/admin/database-hosts/${encodeURIComponent(h.id)}/test`);
      toast(t('dbhosts.reachable', { name: h.name, version: r?.version ?? '' }));
    } catch (err) {
      setError(err);
    }
  };

  return (
    <div className="page">
      <PageHead title={t('nav.databaseHosts')}>
        <Button variant="primary" onClick={() => setForm({ ...empty })}>
          {t('dbhosts.create')}
        </Button>
      </PageHead>
      <Section title={t('nav.databaseHosts')}>
        <ListTable loaded={hosts} error={error} empty={t('dbhosts.none')} columns={[t('dbhosts.name'), t('dbhosts.address'), t('dbhosts.username'), t('dbhosts.databases')]}>
          {(hosts.data ?? []).map((h) => (
            <tr key={h.id} data-host={h.name}>
              <th scope="row" data-label={t('dbhosts.name')}>{h.name}</th>
              <td data-label={t('dbhosts.address')}>
                <code>
                  {h.host}:{h.port}
                </code>
              </td>
              <td data-label={t('dbhosts.username')}>{h.username}</td>
              <td data-label={t('dbhosts.databases')}>
                {h.databaseCount}
                {h.maxDatabases !== null ? ` / ${h.maxDatabases}` : ''}
              </td>
              <td className="row-actions">
                <Button variant="ghost" onClick={() => void test(h)}>{t('dbhosts.test')}</Button>
                <Button variant="ghost" onClick={() => setDeleting(h)}>{t('common.delete')}</Button>
              </td>
            </tr>
          ))}
        </ListTable>
      </Section>
      <FormDialog open={!!form} wide grid title={t('dbhosts.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('dbhosts.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Input label={t('dbhosts.host')} required value={form.host} onChange={(e) => setForm({ ...form, host: e.target.value })} />
            <Input label={t('dbhosts.port')} type="number" min={1} max={65535} required value={form.port} onChange={(e) => setForm({ ...form, port: e.target.value })} />
            <Input label={t('dbhosts.username')} required autoComplete="off" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
            <Input label={t('dbhosts.password')} type="password" autoComplete="new-password" required value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
            <Input label={t('dbhosts.max')} hint={t('dbhosts.maxHint')} type="number" min={0} value={form.maxDatabases} onChange={(e) => setForm({ ...form, maxDatabases: e.target.value })} />
          </>
        ) : null}
      </FormDialog>
      <Confirm
        open={!!deleting}
        title={t('dbhosts.deleteTitle')}
        message={t('dbhosts.deleteMessage', { name: deleting?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `/api/admin/database-hosts/${encodeURIComponent(deleting!.id)}`);
          await hosts.reload();
        }}
      />
    </div>
  );
}
