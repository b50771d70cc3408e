// New server from a template: name, template, optional node, limits and the template's variables.
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useApp } from '../app-context.tsx';
import { t } from '../i18n/index.ts';
import type { Node, Server, Template } from '../api/types.ts';
import { Button, Dialog, ErrorBox, Input, Select } from '../ui/kit.tsx';
import { navigate } from '../router.tsx';

export function CreateServerDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { api, can } = useApp();
  const [templates, setTemplates] = useState<Template[]>([]);
  const [nodes, setNodes] = useState<Node[]>([]);
  const [form, setForm] = useState({ name: '', templateId: '', nodeId: '', memory: '', cpu: '', disk: '' });
  const [env, setEnv] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open) return;
    setError(undefined);
    api.get<Template[]>('/api/templates').then((list) => {
      setTemplates(list);
      setForm((f) => ({ ...f, templateId: f.templateId || list[0]?.id || '' }));
    }, setError);
    if (can('node.read')) api.get<Node[]>('/api/nodes').then(setNodes, () => undefined);
  }, [open, api, can]);

  const template = useMemo(() => templates.find((x) => x.id === form.templateId), [templates, form.templateId]);
  const vars = (template?.variables ?? []).filter((v) => v.userEditable !== false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const environment = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== '' && vars.some((x) => x.name === k)));
      const body: Record<string, unknown> = { name: form.name, templateId: form.templateId };
      if (form.nodeId) body.nodeId = form.nodeId;
      if (form.memory) body.allocatedMemoryMb = Number(form.memory);
      if (form.cpu) body.allocatedCpuCores = Number(form.cpu);
      if (form.disk) body.allocatedDiskMb = Number(form.disk);
      if (Object.keys(environment).length) body.environment = environment;
      const s = await api.data<Server>('POST', '/api/servers', { body });
      onClose();
      navigate(`/servers/${encodeURIComponent(s.id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} onClose={onClose} title={t('server.create')} wide>
      <form onSubmit={submit} className="form-grid" id="create-server-form">
        <Input label={t('server.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        <Select label={t('server.template')} required value={form.templateId} onChange={(e) => setForm({ ...form, templateId: e.target.value })} options={templates.map((x) => ({ value: x.id, label: `${x.name} (${x.id})` }))} />
        {nodes.length ? <Select label={t('server.node')} value={form.nodeId} onChange={(e) => setForm({ ...form, nodeId: e.target.value })} options={[{ value: '', label: t('server.nodeAuto') }, ...nodes.map((n) => ({ value: n.id, label: `${n.name}${n.isOnline ? '' : ` (${t('node.offline')})`}` }))]} /> : null}
        <Input label={t('server.memoryMb')} type="number" min={64} placeholder={String(template?.resources?.memoryMb ?? 1024)} value={form.memory} onChange={(e) => setForm({ ...form, memory: e.target.value })} />
        <Input label={t('server.cpuCores')} type="number" min={0.1} step={0.1} placeholder={String(template?.resources?.cpuCores ?? 1)} value={form.cpu} onChange={(e) => setForm({ ...form, cpu: e.target.value })} />
        <Input label={t('server.diskMb')} type="number" min={0} placeholder={String(template?.resources?.diskMb ?? 10240)} value={form.disk} onChange={(e) => setForm({ ...form, disk: e.target.value })} />
        {vars.map((v) => (
          <Input key={v.name} label={v.displayName ? `${v.displayName} (${v.name})` : v.name} hint={v.description} required={v.required && !v.default} placeholder={v.default ?? ''} value={env[v.name] ?? ''} onChange={(e) => setEnv({ ...env, [v.name]: e.target.value })} />
        ))}
        <div className="span-all">
          <ErrorBox error={error} />
        </div>
        <div className="form-actions span-all">
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button type="submit" variant="primary" busy={busy} disabled={!form.templateId}>
            {t('server.createSubmit')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
