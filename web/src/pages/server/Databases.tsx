// Databases of the server on the admin's MySQL/MariaDB hosts: create one (its own user and a random
// password), see and copy the credentials, rotate the password, drop it (with confirmation).
import { Fragment, useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { DatabaseHost, ServerDatabase, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Button, Confirm, CopyButton, FormDialog, Input, ListTable, Section, Select } from '../../ui/kit.tsx';
import { dateTime } from '../../lib/format.ts';

export default function DatabasesTab({ server, can }: { server: Server; can: (p: string) => boolean }) {
  const { api, toast, can: canGlobal } = useApp();
  const base = `/api/servers/${encodeURIComponent(server.id)}/databases`;
  const list = useLoad(() => api.get<ServerDatabase[]>(base), [server.id]);
  // Staff may choose the host; everyone else gets the one with room.
  const hosts = useLoad(() => (canGlobal('database.hosts') ? api.get<DatabaseHost[]>('/api/admin/database-hosts') : Promise.resolve([] as DatabaseHost[])), []);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState('');
  const [hostId, setHostId] = useState('');
  const [shown, setShown] = useState<Set<string>>(new Set());
  const [rotating, setRotating] = useState<ServerDatabase>();
  const [dropping, setDropping] = useState<ServerDatabase>();

  const create = async () => {
    await api.call('POST', base, { body: { name, ...(hostId ? { hostId } : {}) } });
    toast(t('databases.created', { name }));
    setCreating(false);
    setName('');
    await list.reload();
  };

  return (
    <Section title={t('tab.databases')} actions={can('database.create') ? <Button variant="primary" onClick={() => setCreating(true)}>{t('databases.create')}</Button> : null}>
      <ListTable loaded={list} empty={t('databases.none')} columns={[t('databases.name'), t('databases.endpoint'), t('databases.username'), t('databases.password'), t('databases.created_')]}>
        {(list.data ?? []).map((d) => {
          const visible = shown.has(d.id);
          return (
            <Fragment key={d.id}>
              <tr data-database={d.name}>
                <th scope="row" data-label={t('databases.name')}>
                  <code>{d.name}</code>
                </th>
                <td data-label={t('databases.endpoint')}>
                  <code>
                    {d.host}:{d.port}
                  </code>
                </td>
                <td data-label={t('databases.username')}>
                  <code>{d.username}</code>
                </td>
                <td data-label={t('databases.password')}>
                  <code data-testid="db-password">{visible ? d.password : '••••••••'}</code>{' '}
                  <Button variant="ghost" aria-pressed={visible} onClick={() => { const n = new Set(shown); if (visible) n.delete(d.id); else n.add(d.id); setShown(n); }}>
                    {visible ? t('databases.hide') : t('databases.show')}
                  </Button>
                  <CopyButton text={d.password} />
                </td>
                <td data-label={t('databases.created_')}>{dateTime(d.createdAt)}</td>
                <td className="row-actions">
                  {can('database.rotate') ? <Button variant="ghost" onClick={() => setRotating(d)}>{t('databases.rotate')}</Button> : null}
                  {can('database.delete') ? <Button variant="ghost" onClick={() => setDropping(d)}>{t('common.delete')}</Button> : null}
                </td>
              </tr>
            </Fragment>
          );
        })}
      </ListTable>
      <FormDialog open={creating} title={t('databases.create')} submitLabel={t('databases.createSubmit')} onClose={() => setCreating(false)} onSubmit={create}>
        <Input label={t('databases.name')} hint={t('databases.nameHint')} required pattern="[A-Za-z0-9_]+" maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        {hosts.data?.length ? <Select label={t('databases.host')} value={hostId} onChange={(e) => setHostId(e.target.value)} options={[{ value: '', label: t('databases.anyHost') }, ...hosts.data.map((h) => ({ value: h.id, label: `${h.name} (${h.host}:${h.port})` }))]} /> : null}
      </FormDialog>
      <Confirm
        open={!!rotating}
        danger={false}
        title={t('databases.rotateTitle')}
        message={t('databases.rotateMessage', { name: rotating?.name ?? '' })}
        confirmLabel={t('databases.rotate')}
        onClose={() => setRotating(undefined)}
        onConfirm={async () => {
          await api.call('POST', `${base}/${encodeURIComponent(rotating!.id)}/rotate`);
          toast(t('databases.rotated', { name: rotating!.name }));
          await list.reload();
        }}
      />
      <Confirm
        open={!!dropping}
        title={t('databases.dropTitle')}
        message={t('databases.dropMessage', { name: dropping?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDropping(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `${base}/${encodeURIComponent(dropping!.id)}`);
          await list.reload();
        }}
      />
    </Section>
  );
}
