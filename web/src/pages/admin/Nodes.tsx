// Nodes: list with online state, versions and capacity vs allocation; create one (the answer is a
// one-time enrolment command to copy onto the machine), issue a new token, edit capacity, YAML, delete.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { Node } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Badge, Button, Confirm, CopyButton, Dialog, Empty, ErrorBox, FormDialog, Input, PageHead, Section, Spinner } from '../../ui/kit.tsx';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';
import { mib, relativeTime } from '../../lib/format.ts';

interface Enrol {
  command: string;
  expiresAt: string;
  nodeName: string;
}

const emptyForm = { id: '', name: '', hostname: '', memory: '', cpu: '', disk: '', portStart: '', portEnd: '' };

export default function NodesPage() {
  const { api, can, toast } = useApp();
  const nodes = useLoad(() => api.get<Node[]>('/api/nodes'), [], { intervalMs: 10_000 });
  const [form, setForm] = useState<typeof emptyForm & { editing?: string }>();
  const [enrol, setEnrol] = useState<Enrol>();
  const [yaml, setYaml] = useState<string>();
  const [deleting, setDeleting] = useState<Node>();
  const [error, setError] = useState<unknown>();

  const token = async (name: string) => {
    setError(undefined);
    try {
      setEnrol(await api.data<Enrol>('POST', `/api/nodes/${encodeURIComponent(name)}/deployment-token`, { body: {} }));
    } catch (err) {
      setError(err);
    }
  };

  const save = async () => {
    if (!form) return;
    const body: Record<string, unknown> = { name: form.name, hostname: form.hostname };
    if (form.memory) body.maxMemoryMb = Number(form.memory);
    if (form.cpu) body.maxCpuCores = Number(form.cpu);
    if (form.disk) body.maxDiskMb = Number(form.disk);
    if (form.portStart && form.portEnd) body.portRange = { start: Number(form.portStart), end: Number(form.portEnd) };
    if (form.editing) {
      await api.call('PUT', `/api/nodes/${encodeURIComponent(form.editing)}`, { body });
      toast(t('nodes.saved'));
    } else {
      if (form.id) body.id = form.id;
      // Creating answers a one-time deployment token with the command to run on the node.
      const d = await api.data<Node & { command?: string; expiresAt?: string }>('POST', '/api/nodes', { body });
      if (d.command) setEnrol({ command: d.command, expiresAt: d.expiresAt ?? '', nodeName: d.id });
      else await token(d.id);
    }
    setForm(undefined);
    await nodes.reload();
  };

  return (
    <div className="page">
      <PageHead title={t('nav.nodes')}>
        {can('node.create') ? (
          <Button variant="primary" onClick={() => setForm({ ...emptyForm })}>
            {t('nodes.create')}
          </Button>
        ) : null}
      </PageHead>
      <ErrorBox error={error ?? nodes.error} />
      {!nodes.data && !nodes.error ? <Spinner /> : null}
      {nodes.data && !nodes.data.length ? <Empty>{t('node.none')}</Empty> : null}
      {nodes.data?.map((n) => (
        <Section
          key={n.id}
          title={n.name}
          actions={
            <>
              <Badge tone={n.isOnline ? 'ok' : 'bad'}>{n.isOnline ? t('node.online') : t('node.offline')}</Badge>
              {can('node.deploy') ? <Button onClick={() => void token(n.id)}>{t('nodes.newToken')}</Button> : null}
              {can('node.update') ? (
                <Button onClick={() => { setForm({ ...emptyForm, editing: n.id, name: n.name, hostname: n.hostname, memory: String(n.maxMemoryMb ?? ''), cpu: String(n.maxCpuCores ?? ''), disk: String(n.maxDiskMb ?? ''), portStart: String(n.portRange?.start ?? ''), portEnd: String(n.portRange?.end ?? '') }); }}>
                  {t('common.edit')}
                </Button>
              ) : null}
              {can('resource.read') ? <Button variant="ghost" onClick={() => setYaml(yaml === n.id ? undefined : n.id)} aria-expanded={yaml === n.id}>{t('yaml.title')}</Button> : null}
              {can('node.delete') ? <Button variant="ghost" onClick={() => setDeleting(n)}>{t('common.delete')}</Button> : null}
            </>
          }
        >
          <dl className="kv kv-wide">
            <dt>{t('nodes.id')}</dt>
            <dd><code>{n.id}</code></dd>
            <dt>{t('nodes.address')}</dt>
            <dd><code>{n.hostname}</code></dd>
            <dt>{t('nodes.lastSeen')}</dt>
            <dd>{relativeTime(n.lastSeenAt)}</dd>
            <dt>{t('nodes.agent')}</dt>
            <dd>{n.agentVersion ?? '—'} / Docker {n.dockerVersion ?? '—'}</dd>
            <dt>{t('nodes.memory')}</dt>
            <dd>{mib(n.allocated?.memoryMb ?? 0)} / {mib(n.maxMemoryMb)}</dd>
            <dt>{t('nodes.cpu')}</dt>
            <dd>{n.allocated?.cpuCores ?? 0} / {n.maxCpuCores ?? '—'}</dd>
            <dt>{t('nodes.disk')}</dt>
            <dd>{mib(n.allocated?.diskMb ?? 0)} / {mib(n.maxDiskMb)}</dd>
            <dt>{t('nodes.ports')}</dt>
            <dd>{n.portRange ? `${n.portRange.start}–${n.portRange.end}` : '—'}</dd>
            <dt>{t('node.servers')}</dt>
            <dd>{n.servers.length}</dd>
          </dl>
          {yaml === n.id ? <ResourceYaml kind="GameNode" name={n.id} canEdit={can('resource.write')} /> : null}
        </Section>
      ))}
      <FormDialog open={!!form} wide grid title={form?.editing ? t('nodes.edit') : t('nodes.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            <Input label={t('nodes.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Input label={t('nodes.address')} hint={t('nodes.addressHint')} required value={form.hostname} onChange={(e) => setForm({ ...form, hostname: e.target.value })} />
            <Input label={t('nodes.memoryMb')} type="number" min={0} value={form.memory} onChange={(e) => setForm({ ...form, memory: e.target.value })} />
            <Input label={t('nodes.cpuCores')} type="number" min={0} step={0.5} value={form.cpu} onChange={(e) => setForm({ ...form, cpu: e.target.value })} />
            <Input label={t('nodes.diskMb')} type="number" min={0} value={form.disk} onChange={(e) => setForm({ ...form, disk: e.target.value })} />
            <Input label={t('nodes.portStart')} type="number" min={1} max={65535} value={form.portStart} onChange={(e) => setForm({ ...form, portStart: e.target.value })} />
            <Input label={t('nodes.portEnd')} type="number" min={1} max={65535} value={form.portEnd} onChange={(e) => setForm({ ...form, portEnd: e.target.value })} />
          </>
        ) : null}
      </FormDialog>
      <Dialog open={!!enrol} title={t('nodes.enrolTitle', { name: enrol?.nodeName ?? '' })} onClose={() => setEnrol(undefined)} footer={<Button onClick={() => setEnrol(undefined)}>{t('common.close')}</Button>}>
        <p>{t('nodes.enrolIntro')}</p>
        <pre className="code-block" data-testid="enrol-command">{enrol?.command}</pre>
        {enrol ? <CopyButton text={enrol.command} /> : null}
        {enrol?.expiresAt ? <p className="muted small">{t('nodes.enrolExpires', { when: relativeTime(enrol.expiresAt) })}</p> : null}
      </Dialog>
      <Confirm
        open={!!deleting}
        title={t('nodes.deleteTitle')}
        message={t('nodes.deleteMessage', { name: deleting?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `/api/nodes/${encodeURIComponent(deleting!.id)}`);
          await nodes.reload();
        }}
      />
    </div>
  );
}
