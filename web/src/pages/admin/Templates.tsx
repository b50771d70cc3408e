// Templates: list, create and edit (image, commands, ready line, ports, variables, install script,
// default limits), import a Pterodactyl egg (converted by the API: POST /api/templates/import/pterodactyl,
// previewed first), the ServerTemplate's YAML, delete.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { Template, TemplateVariable } from '../../api/types.ts';
import { useAction, useLoad } from '../../ui/hooks.ts';
import { Button, Check, Confirm, Dialog, Empty, ErrorBox, FormDialog, Input, PageHead, Section, Spinner, TextArea } from '../../ui/kit.tsx';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';
import { formatPorts, parsePorts } from '../../lib/ports.ts';

interface Form {
  editing?: string;
  id: string;
  name: string;
  description: string;
  dockerImage: string;
  startCommand: string;
  stopCommand: string;
  readyPattern: string;
  ports: string;
  installScript: string;
  memory: string;
  cpu: string;
  disk: string;
  variables: TemplateVariable[];
}

const empty: Form = { id: '', name: '', description: '', dockerImage: '', startCommand: '', stopCommand: 'stop', readyPattern: '', ports: '25565/TCP', installScript: '', memory: '', cpu: '', disk: '', variables: [] };

function toForm(x: Template): Form {
  return {
    editing: x.id,
    id: x.id,
    name: x.name,
    description: x.description ?? '',
    dockerImage: x.dockerImage,
    startCommand: x.startCommand,
    stopCommand: x.stopCommand ?? '',
    readyPattern: x.readyPattern ?? '',
    ports: formatPorts(x.ports),
    installScript: x.install?.script ?? '',
    memory: String(x.resources?.memoryMb ?? ''),
    cpu: String(x.resources?.cpuCores ?? ''),
    disk: String(x.resources?.diskMb ?? ''),
    variables: x.variables.map((v) => ({ ...v })),
  };
}

function ImportEgg({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: () => void }) {
  const { api, toast } = useApp();
  const [text, setText] = useState('');
  const [preview, setPreview] = useState<{ template: Template; warnings: string[] }>();
  const run = useAction(async (dryRun: boolean) => {
    let egg: unknown;
    try {
      egg = JSON.parse(text);
    } catch (err) {
      throw new Error(t('templates.eggNotJson', { message: (err as Error).message }));
    }
    const r = await api.data<{ template: Template; warnings: string[] }>('POST', '/api/templates/import/pterodactyl', { body: egg, query: dryRun ? { dryRun: true } : undefined });
    if (dryRun) return setPreview(r);
    toast(t('templates.imported', { name: r.template.name }));
    setText('');
    setPreview(undefined);
    onDone();
    onClose();
  });
  return (
    <Dialog
      open={open}
      wide
      title={t('templates.importTitle')}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button busy={run.busy} disabled={!text} onClick={() => void run.run(true)}>
            {t('templates.preview')}
          </Button>
          <Button variant="primary" busy={run.busy} disabled={!preview} onClick={() => void run.run(false)}>
            {t('templates.importSubmit')}
          </Button>
        </>
      }
    >
      <p className="muted">{t('templates.importIntro')}</p>
      <label className="btn file-pick">
        {t('templates.chooseEgg')}
        <input
          type="file"
          accept="application/json,.json"
          className="sr-only"
          aria-label={t('templates.chooseEgg')}
          onChange={async (e) => {
            const f = e.target.files?.[0];
            if (f) {
              setText(await f.text());
              setPreview(undefined);
            }
          }}
        />
      </label>
      <TextArea label={t('templates.eggJson')} rows={8} className="mono" value={text} onChange={(e) => { setText(e.target.value); setPreview(undefined); }} />
      <ErrorBox error={run.error} />
      {preview ? (
        <div className="egg-preview">
          <h3>{preview.template.name}</h3>
          <dl className="kv kv-wide">
            <dt>{t('templates.image')}</dt>
            <dd><code>{preview.template.dockerImage}</code></dd>
            <dt>{t('templates.startCommand')}</dt>
            <dd><code>{preview.template.startCommand}</code></dd>
            <dt>{t('templates.variables')}</dt>
            <dd>{preview.template.variables.map((v) => v.name).join(', ') || '—'}</dd>
          </dl>
          {preview.warnings.length ? (
            <ul className="warnings">
              {preview.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </Dialog>
  );
}

export default function TemplatesPage() {
  const { api, can, toast } = useApp();
  const list = useLoad(() => api.get<Template[]>('/api/templates'), []);
  const [form, setForm] = useState<Form>();
  const [importing, setImporting] = useState(false);
  const [yaml, setYaml] = useState<string>();
  const [deleting, setDeleting] = useState<Template>();

  const save = async () => {
    if (!form) return;
    const ports = parsePorts(form.ports);
    if ('bad' in ports) throw new Error(t('templates.badPort', { port: ports.bad }));
    const body: Record<string, unknown> = {
      name: form.name,
      description: form.description,
      dockerImage: form.dockerImage,
      startCommand: form.startCommand,
      ...(form.stopCommand ? { stopCommand: form.stopCommand } : {}),
      readyPattern: form.readyPattern,
      ports: ports.ports,
      variables: form.variables.filter((v) => v.name),
      install: form.installScript ? { script: form.installScript } : null,
      resources: { ...(form.memory ? { memoryMb: Number(form.memory) } : {}), ...(form.cpu ? { cpuCores: Number(form.cpu) } : {}), ...(form.disk ? { diskMb: Number(form.disk) } : {}) },
    };
    if (form.editing) await api.call('PUT', `/api/templates/${encodeURIComponent(form.editing)}`, { body });
    else await api.call('POST', '/api/templates', { body: { ...body, ...(form.id ? { id: form.id } : {}) } });
    toast(t('templates.saved', { name: form.name }));
    setForm(undefined);
    await list.reload();
  };

  const setVar = (i: number, patch: Partial<TemplateVariable>) => setForm(form && { ...form, variables: form.variables.map((v, j) => (j === i ? { ...v, ...patch } : v)) });

  return (
    <div className="page">
      <PageHead title={t('nav.templates')}>
        {can('template.create') ? (
          <>
            <Button onClick={() => setImporting(true)}>{t('templates.import')}</Button>
            <Button variant="primary" onClick={() => { setForm({ ...empty, variables: [] }); }}>
              {t('templates.create')}
            </Button>
          </>
        ) : null}
      </PageHead>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {!list.data && !list.error ? <Spinner /> : null}
      {list.data && !list.data.length ? <Empty>{t('templates.none')}</Empty> : null}
      {list.data?.map((x) => (
        <Section
          key={x.id}
          title={x.name}
          actions={
            <>
              {can('template.update') ? <Button onClick={() => { setForm(toForm(x)); }}>{t('common.edit')}</Button> : null}
              {can('resource.read') ? <Button variant="ghost" aria-expanded={yaml === x.id} onClick={() => setYaml(yaml === x.id ? undefined : x.id)}>{t('yaml.title')}</Button> : null}
              {can('template.delete') ? <Button variant="ghost" onClick={() => setDeleting(x)}>{t('common.delete')}</Button> : null}
            </>
          }
        >
          {x.description ? <p className="muted">{x.description}</p> : null}
          <dl className="kv kv-wide">
            <dt>{t('templates.id')}</dt>
            <dd><code>{x.id}</code></dd>
            <dt>{t('templates.image')}</dt>
            <dd><code>{x.dockerImage}</code></dd>
            <dt>{t('templates.startCommand')}</dt>
            <dd><code>{x.startCommand}</code></dd>
            <dt>{t('templates.variables')}</dt>
            <dd>{x.variables.map((v) => v.name).join(', ') || '—'}</dd>
          </dl>
          {yaml === x.id ? <ResourceYaml kind="ServerTemplate" name={x.id} canEdit={can('resource.write')} /> : null}
        </Section>
      ))}
      <FormDialog open={!!form} wide grid title={form?.editing ? t('templates.edit') : t('templates.create')} onClose={() => setForm(undefined)} onSubmit={save}>
        {form ? (
          <>
            {!form.editing ? <Input label={t('templates.id')} hint={t('templates.idHint')} value={form.id} onChange={(e) => setForm({ ...form, id: e.target.value })} /> : null}
            <Input label={t('templates.name')} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            <Input label={t('templates.image')} required value={form.dockerImage} onChange={(e) => setForm({ ...form, dockerImage: e.target.value })} />
            <Input label={t('templates.startCommand')} required className="mono" value={form.startCommand} onChange={(e) => setForm({ ...form, startCommand: e.target.value })} />
            <Input label={t('templates.stopCommand')} value={form.stopCommand} onChange={(e) => setForm({ ...form, stopCommand: e.target.value })} />
            <Input label={t('templates.readyPattern')} hint={t('templates.readyHint')} className="mono" value={form.readyPattern} onChange={(e) => setForm({ ...form, readyPattern: e.target.value })} />
            <Input label={t('templates.ports')} hint={t('templates.portsHint')} value={form.ports} onChange={(e) => setForm({ ...form, ports: e.target.value })} />
            <Input label={t('server.memoryMb')} type="number" value={form.memory} onChange={(e) => setForm({ ...form, memory: e.target.value })} />
            <Input label={t('server.cpuCores')} type="number" step={0.1} value={form.cpu} onChange={(e) => setForm({ ...form, cpu: e.target.value })} />
            <Input label={t('server.diskMb')} type="number" value={form.disk} onChange={(e) => setForm({ ...form, disk: e.target.value })} />
            <div className="span-all">
              <TextArea label={t('settings.description')} rows={2} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
              <TextArea label={t('templates.install')} rows={4} className="mono" value={form.installScript} onChange={(e) => setForm({ ...form, installScript: e.target.value })} />
              <fieldset className="vars">
                <legend>{t('templates.variables')}</legend>
                {form.variables.map((v, i) => (
                  <div key={i} className="var-row">
                    <Input label={t('templates.varName', { n: i + 1 })} value={v.name} onChange={(e) => setVar(i, { name: e.target.value.toUpperCase() })} />
                    <Input label={t('templates.varDefault', { n: i + 1 })} value={v.default ?? ''} onChange={(e) => setVar(i, { default: e.target.value })} />
                    <Input label={t('templates.varDescription', { n: i + 1 })} value={v.description ?? ''} onChange={(e) => setVar(i, { description: e.target.value })} />
                    <Check label={t('templates.varRequired', { n: i + 1 })} checked={!!v.required} onChange={(e) => setVar(i, { required: e.target.checked })} />
                    <Check label={t('templates.varEditable', { n: i + 1 })} checked={v.userEditable !== false} onChange={(e) => setVar(i, { userEditable: e.target.checked })} />
                    <Button variant="ghost" onClick={() => setForm({ ...form, variables: form.variables.filter((_, j) => j !== i) })}>
                      {t('common.remove')}
                    </Button>
                  </div>
                ))}
                <Button onClick={() => setForm({ ...form, variables: [...form.variables, { name: '' }] })}>{t('templates.addVariable')}</Button>
              </fieldset>
            </div>
          </>
        ) : null}
      </FormDialog>
      <ImportEgg open={importing} onClose={() => setImporting(false)} onDone={() => void list.reload()} />
      <Confirm
        open={!!deleting}
        title={t('templates.deleteTitle')}
        message={t('templates.deleteMessage', { name: deleting?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `/api/templates/${encodeURIComponent(deleting!.id)}`);
          await list.reload();
        }}
      />
    </div>
  );
}
