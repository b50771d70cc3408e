// Startup: the template's start command and the server's variables (those the user may edit can be
// changed here; a change takes effect at the next start).
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { Server, Template } from '../../api/types.ts';
import { useAction, useLoad } from '../../ui/hooks.ts';
import { Button, ErrorBox, Input, Section, Spinner } from '../../ui/kit.tsx';

export default function StartupTab({ server, can, onSaved }: { server: Server; can: (p: string) => boolean; onSaved: () => Promise<void> }) {
  const { api, toast } = useApp();
  const tmpl = useLoad(() => api.get<Template>(`/api/templates/${encodeURIComponent(server.templateId)}`), [server.templateId]);
  const [values, setValues] = useState<Record<string, string>>({});
  const env = server.environment ?? {};
  const changed = Object.entries(values).filter(([k, v]) => (env[k] ?? '') !== v);
  const save = useAction(async () => {
    await api.call('PUT', `/api/servers/${encodeURIComponent(server.id)}`, { body: { environment: Object.fromEntries(changed) } });
    toast(t('startup.saved'));
    setValues({});
    await onSaved();
  });
  if (tmpl.error) return <ErrorBox error={tmpl.error} />;
  if (!tmpl.data) return <Spinner />;
  return (
    <>
      <Section title={t('startup.command')}>
        <pre className="code-block">{tmpl.data.startCommand}</pre>
        <p className="muted small">
          {t('startup.image')} <code>{server.image ?? tmpl.data.dockerImage}</code>
        </p>
      </Section>
      <Section title={t('startup.variables')}>
        {tmpl.data.variables.length === 0 ? <p className="muted">{t('startup.noVariables')}</p> : null}
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); void save.run(); }}>
          {tmpl.data.variables.map((v) => {
            const editable = v.userEditable !== false && can('server.update');
            return (
              <Input
                key={v.name}
                label={v.displayName ? `${v.displayName} (${v.name})` : v.name}
                hint={[v.description, v.pattern ? t('startup.pattern', { pattern: v.pattern }) : ''].filter(Boolean).join(' — ')}
                value={values[v.name] ?? env[v.name] ?? ''}
                placeholder={v.default ?? ''}
                readOnly={!editable}
                required={v.required && !v.default}
                onChange={(e) => setValues({ ...values, [v.name]: e.target.value })}
              />
            );
          })}
          <div className="span-all">
            <ErrorBox error={save.error} />
          </div>
          {can('server.update') && tmpl.data.variables.length ? (
            <div className="form-actions span-all">
              <Button type="submit" variant="primary" busy={save.busy} disabled={!changed.length}>
                {t('common.save')}
              </Button>
            </div>
          ) : null}
        </form>
      </Section>
    </>
  );
}
