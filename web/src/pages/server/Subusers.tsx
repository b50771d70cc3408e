// Subusers: other users given chosen permissions on this server (only those the caller holds here).
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { PermissionInfo, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Button, Check, Confirm, FormDialog, Input, ListTable, Section } from '../../ui/kit.tsx';

interface Subuser {
  userId: string;
  username: string | null;
  email: string | null;
  permissions: string[];
}

/** The per-server permissions, from the live catalogue when readable, else the caller's own on the server. */
function usePermissions(server: Server): string[] {
  const { api } = useApp();
  const cat = useLoad(() => api.get<PermissionInfo[]>('/api/admin/permissions').catch(() => [] as PermissionInfo[]), []);
  const fromCatalogue = (cat.data ?? []).filter((p) => p.serverScoped).map((p) => p.name);
  return fromCatalogue.length ? fromCatalogue : (server.permissions ?? []).filter((p) => !p.includes('*'));
}

export default function SubusersTab({ server }: { server: Server }) {
  const { api, toast } = useApp();
  const base = `/api/servers/${encodeURIComponent(server.id)}/subusers`;
  const list = useLoad(() => api.get<Subuser[]>(base), [server.id]);
  const all = usePermissions(server);
  const [edit, setEdit] = useState<{ userId?: string; email: string; permissions: Set<string> }>();
  const [removing, setRemoving] = useState<Subuser>();

  const save = async () => {
    if (!edit) return;
    const permissions = [...edit.permissions];
    if (edit.userId) await api.call('PUT', `${base}/${encodeURIComponent(edit.userId)}`, { body: { permissions } });
    else await api.call('POST', base, { body: { email: edit.email, permissions } });
    toast(t('subusers.saved'));
    setEdit(undefined);
    await list.reload();
  };

  return (
    <Section
      title={t('tab.users')}
      actions={
        <Button variant="primary" onClick={() => { setEdit({ email: '', permissions: new Set(['server.read', 'server.logs.read']) }); }}>
          {t('subusers.add')}
        </Button>
      }
    >
      <ListTable loaded={list} empty={t('subusers.none')} columns={[t('users.user'), t('subusers.permissions')]}>
            {(list.data ?? []).map((u) => (
              <tr key={u.userId}>
                <th scope="row" data-label={t('users.user')}>
                  {u.username ?? u.userId} <div className="muted small">{u.email}</div>
                </th>
                <td data-label={t('subusers.permissions')}>{u.permissions.join(', ')}</td>
                <td className="row-actions">
                  <Button variant="ghost" onClick={() => { setEdit({ userId: u.userId, email: u.email ?? '', permissions: new Set(u.permissions) }); }}>
                    {t('common.edit')}
                  </Button>
                  <Button variant="ghost" onClick={() => setRemoving(u)}>
                    {t('common.remove')}
                  </Button>
                </td>
              </tr>
            ))}
      </ListTable>
      <FormDialog open={!!edit} wide title={edit?.userId ? t('subusers.edit') : t('subusers.add')} onClose={() => setEdit(undefined)} onSubmit={save}>
        {edit ? (
          <>
            {!edit.userId ? <Input label={t('auth.email')} type="email" required value={edit.email} onChange={(e) => setEdit({ ...edit, email: e.target.value })} /> : null}
            <fieldset className="perm-grid">
              <legend>{t('subusers.permissions')}</legend>
              {all.map((p) => (
                <Check key={p} label={p} checked={edit.permissions.has(p)} onChange={(e) => { const next = new Set(edit.permissions); if (e.target.checked) next.add(p); else next.delete(p); setEdit({ ...edit, permissions: next }); }} />
              ))}
            </fieldset>
          </>
        ) : null}
      </FormDialog>
      <Confirm
        open={!!removing}
        title={t('subusers.removeTitle')}
        message={t('subusers.removeMessage', { name: removing?.username ?? removing?.userId ?? '' })}
        confirmLabel={t('common.remove')}
        onClose={() => setRemoving(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `${base}/${encodeURIComponent(removing!.userId)}`);
          await list.reload();
        }}
      />
    </Section>
  );
}
