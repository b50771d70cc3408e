// Users and roles: create users with roles, disable, delete; roles with permissions from the catalogue.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { PermissionInfo, Role, User } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Badge, Button, Check, Confirm, Empty, ErrorBox, FormDialog, Input, ListTable, PageHead, Section, TabPanel, Tabs } from '../../ui/kit.tsx';
import { dateTime } from '../../lib/format.ts';

function UsersSection({ roles }: { roles: Role[] }) {
  const { api, can, toast, me } = useApp();
  const users = useLoad(() => api.all<User>('/api/admin/users'), []);
  const [form, setForm] = useState<{ id?: string; email: string; username: string; password: string; roleIds: Set<string>; disabled: boolean }>();
  const [deleting, setDeleting] = useState<User>();
  const save = async () => {
    if (!form) return;
    const body: Record<string, unknown> = { email: form.email, username: form.username, roleIds: [...form.roleIds] };
    if (form.password) body.password = form.password;
    if (form.id) await api.call('PUT', `/api/admin/users/${encodeURIComponent(form.id)}`, { body: { ...body, disabled: form.disabled } });
    else await api.call('POST', '/api/admin/users', { body });
    toast(t('users.saved', { name: form.username }));
    setForm(undefined);
    await users.reload();
  };
  return (
    <Section title={t('users.title')} actions={can('user.create') ? <Button variant="primary" onClick={() => { setForm({ email: '', username: '', password: '', roleIds: new Set(['user']), disabled: false }); }}>{t('users.create')}</Button> : null}>
      <ListTable loaded={users} empty={t('users.none')} columns={[t('users.user'), t('users.roles'), t('users.created')]}>
            {(users.data ?? []).map((u) => (
              <tr key={u.id}>
                <th scope="row" data-label={t('users.user')}>
                  {u.username} {u.disabled ? <Badge tone="bad">{t('users.disabled')}</Badge> : null} {u.totpEnabled ? <Badge tone="ok">2FA</Badge> : null}
                  <div className="muted small">{u.email}</div>
                </th>
                <td data-label={t('users.roles')}>{(u.roles ?? []).map((r) => r.name).join(', ')}</td>
                <td data-label={t('users.created')}>{dateTime(u.createdAt)}</td>
                <td className="row-actions">
                  {can('user.update') ? <Button variant="ghost" onClick={() => { setForm({ id: u.id, email: u.email, username: u.username, password: '', roleIds: new Set((u.roles ?? []).map((r) => r.id)), disabled: !!u.disabled }); }}>{t('common.edit')}</Button> : null}
                  {can('user.delete') && u.id !== me?.id ? <Button variant="ghost" onClick={() => setDeleting(u)}>{t('common.delete')}</Button> : null}
                </td>
              </tr>
            ))}
      </ListTable>
      <FormDialog open={!!form} wide grid title={form?.id ? t('users.edit') : t('users.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('auth.email')} type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
            <Input label={t('auth.username')} required value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
            <Input label={form.id ? t('users.newPassword') : t('auth.password')} type="password" autoComplete="new-password" required={!form.id} value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
            <fieldset className="span-all perm-grid">
              <legend>{t('users.roles')}</legend>
              {roles.map((r) => (
                <Check key={r.id} label={r.name} checked={form.roleIds.has(r.id)} onChange={(e) => { const next = new Set(form.roleIds); if (e.target.checked) next.add(r.id); else next.delete(r.id); setForm({ ...form, roleIds: next }); }} />
              ))}
            </fieldset>
            {form.id ? <Check label={t('users.disabled')} checked={form.disabled} onChange={(e) => setForm({ ...form, disabled: e.target.checked })} /> : null}
          </>
        ) : null}
      </FormDialog>
      <Confirm open={!!deleting} title={t('users.deleteTitle')} message={t('users.deleteMessage', { name: deleting?.username ?? '' })} confirmLabel={t('common.delete')} onClose={() => setDeleting(undefined)} onConfirm={async () => { await api.call('DELETE', `/api/admin/users/${encodeURIComponent(deleting!.id)}`); await users.reload(); }} />
    </Section>
  );
}

function RolesSection({ roles, reload }: { roles: Role[]; reload: () => Promise<void> }) {
  const { api, can, toast } = useApp();
  const catalogue = useLoad(() => api.get<PermissionInfo[]>('/api/admin/permissions'), []);
  const [form, setForm] = useState<{ id?: string; name: string; description: string; permissions: Set<string> }>();
  const [deleting, setDeleting] = useState<Role>();
  const save = async () => {
    if (!form) return;
    const body = { name: form.name, description: form.description, permissions: [...form.permissions] };
    if (form.id) await api.call('PUT', `/api/admin/roles/${encodeURIComponent(form.id)}`, { body });
    else await api.call('POST', '/api/admin/roles', { body });
    toast(t('roles.saved', { name: form.name }));
    setForm(undefined);
    await reload();
  };
  return (
    <Section title={t('roles.title')} actions={can('role.write') ? <Button variant="primary" onClick={() => { setForm({ name: '', description: '', permissions: new Set() }); }}>{t('roles.create')}</Button> : null}>
      {!roles.length ? <Empty>{t('roles.none')}</Empty> : null}
      <table className="table">
        <thead>
          <tr>
            <th scope="col">{t('roles.name')}</th>
            <th scope="col">{t('roles.permissions')}</th>
            <th scope="col"><span className="sr-only">{t('common.actions')}</span></th>
          </tr>
        </thead>
        <tbody>
          {roles.map((r) => (
            <tr key={r.id}>
              <th scope="row" data-label={t('roles.name')}>
                {r.name}
                {r.description ? <div className="muted small">{r.description}</div> : null}
              </th>
              <td data-label={t('roles.permissions')}>{r.permissions.join(', ')}</td>
              <td className="row-actions">
                {can('role.write') ? <Button variant="ghost" onClick={() => { setForm({ id: r.id, name: r.name, description: r.description ?? '', permissions: new Set(r.permissions) }); }}>{t('common.edit')}</Button> : null}
                {can('role.write') ? <Button variant="ghost" onClick={() => setDeleting(r)}>{t('common.delete')}</Button> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <FormDialog open={!!form} wide title={form?.id ? t('roles.edit') : t('roles.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('roles.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Input label={t('settings.description')} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
            <fieldset className="perm-grid">
              <legend>{t('roles.permissions')}</legend>
              {['*', ...(catalogue.data ?? []).map((p) => p.name)].map((p) => (
                <Check key={p} label={p === '*' ? t('roles.everything') : p} title={catalogue.data?.find((x) => x.name === p)?.description} checked={form.permissions.has(p)} onChange={(e) => { const next = new Set(form.permissions); if (e.target.checked) next.add(p); else next.delete(p); setForm({ ...form, permissions: next }); }} />
              ))}
            </fieldset>
            <ErrorBox error={catalogue.error} />
          </>
        ) : null}
      </FormDialog>
      <Confirm open={!!deleting} title={t('roles.deleteTitle')} message={t('roles.deleteMessage', { name: deleting?.name ?? '' })} confirmLabel={t('common.delete')} onClose={() => setDeleting(undefined)} onConfirm={async () => { await api.call('DELETE', `/api/admin/roles/${encodeURIComponent(deleting!.id)}`); await reload(); }} />
    </Section>
  );
}

export default function UsersPage() {
  const { api, can } = useApp();
  const [tab, setTab] = useState('users');
  const roles = useLoad(() => (can('role.read') ? api.get<Role[]>('/api/admin/roles') : Promise.resolve([] as Role[])), []);
  return (
    <div className="page">
      <PageHead title={t('nav.users')} />
      <Tabs label={t('nav.users')} active={tab} onChange={setTab} tabs={[{ key: 'users', label: t('users.title') }, ...(can('role.read') ? [{ key: 'roles', label: t('roles.title') }] : [])]} />
      <TabPanel id={tab}>
        <ErrorBox error={roles.error} />
        {tab === 'users' ? <UsersSection roles={roles.data ?? []} /> : <RolesSection roles={roles.data ?? []} reload={roles.reload} />}
      </TabPanel>
    </div>
  );
}
