// Settings: name and limits, the GameServer's YAML (view/edit), and deleting the server.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { useAction } from '../../ui/hooks.ts';
import { t } from '../../i18n/index.ts';
import type { Server } from '../../api/types.ts';
import { Button, Confirm, ErrorBox, Input, Section } from '../../ui/kit.tsx';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';
import { navigate } from '../../router.tsx';

export default function SettingsTab({ server, can, onSaved }: { server: Server; can: (p: string) => boolean; onSaved: () => Promise<void> }) {
  const { api, toast, can: canGlobal } = useApp();
  const [form, setForm] = useState({ name: server.name, description: server.description ?? '', memory: String(server.allocatedMemoryMb), cpu: String(server.allocatedCpuCores), disk: String(server.allocatedDiskMb) });
  const [deleting, setDeleting] = useState(false);
  // Saving here changes the resource: the YAML below is read again rather than left stale.
  const [rev, setRev] = useState(0);
  const staff = canGlobal('server.update');
  const save = useAction(async () => {
    const body: Record<string, unknown> = {};
    if (form.name !== server.name) body.name = form.name;
    if (form.description !== (server.description ?? '')) body.description = form.description;
    if (staff && Number(form.memory) !== server.allocatedMemoryMb) body.allocatedMemoryMb = Number(form.memory);
    if (staff && Number(form.cpu) !== server.allocatedCpuCores) body.allocatedCpuCores = Number(form.cpu);
    if (staff && Number(form.disk) !== server.allocatedDiskMb) body.allocatedDiskMb = Number(form.disk);
    await api.call('PUT', `/api/servers/${encodeURIComponent(server.id)}`, { body });
    toast(t('settings.saved'));
    setRev((r) => r + 1);
    await onSaved();
  });
  return (
    <>
      {can('server.update') ? (
        <Section title={t('settings.general')}>
          <form className="form-grid" onSubmit={(e) => { e.preventDefault(); void save.run(); }}>
            <Input label={t('server.name')} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Input label={t('settings.description')} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
            <Input label={t('server.memoryMb')} type="number" min={64} readOnly={!staff} value={form.memory} onChange={(e) => setForm({ ...form, memory: e.target.value })} />
            <Input label={t('server.cpuCores')} type="number" step={0.1} min={0.1} readOnly={!staff} value={form.cpu} onChange={(e) => setForm({ ...form, cpu: e.target.value })} />
            <Input label={t('server.diskMb')} type="number" min={0} readOnly={!staff} value={form.disk} onChange={(e) => setForm({ ...form, disk: e.target.value })} />
            <div className="span-all">
              <ErrorBox error={save.error} />
            </div>
            <div className="form-actions span-all">
              <Button type="submit" variant="primary" busy={save.busy}>
                {t('common.save')}
              </Button>
            </div>
          </form>
        </Section>
      ) : null}
      <Section title={t('yaml.title')}>
        <ResourceYaml key={rev} kind="GameServer" name={server.id} canEdit={canGlobal('resource.write')} />
      </Section>
      {can('server.delete') ? (
        <Section title={t('settings.danger')}>
          <p>{t('settings.deleteHint')}</p>
          <Button variant="danger" onClick={() => setDeleting(true)}>
            {t('settings.delete')}
          </Button>
        </Section>
      ) : null}
      <Confirm
        open={deleting}
        title={t('settings.deleteTitle')}
        message={t('settings.deleteMessage', { name: server.name })}
        confirmLabel={t('settings.delete')}
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          await api.call('DELETE', `/api/servers/${encodeURIComponent(server.id)}`);
          toast(t('settings.deleted', { name: server.name }));
          navigate('/');
        }}
      />
    </>
  );
}
