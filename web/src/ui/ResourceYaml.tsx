// The YAML of a resource, as the Kubernetes-shaped API holds it: view it (what to commit, without
// server-managed fields and status), download it, or edit and replace it (a stale edit is refused
// with a Conflict, shown as the API's message).
import { lazy, Suspense, useState } from 'react';
import { parse, stringify } from 'yaml';
import { useApp } from '../app-context.tsx';
import { t } from '../i18n/index.ts';
import { forCommit, type KubeObject } from '../api/kube.ts';
import { ApiError } from '../api/errors.ts';
import { useLoad } from './hooks.ts';
import { Button, CopyButton, ErrorBox, Spinner, downloadLink } from './kit.tsx';

const CodeEditor = lazy(() => import('./CodeEditor.tsx').then((m) => ({ default: m.CodeEditor })));

export function ResourceYaml({ kind, name, namespace, canEdit }: { kind: string; name: string; namespace?: string; canEdit: boolean }) {
  const { kube, toast } = useApp();
  const obj = useLoad(() => kube.get(kind, name, namespace), [kind, name, namespace]);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  if (obj.error) return <ErrorBox error={obj.error} onRetry={obj.reload} />;
  if (!obj.data) return <Spinner />;
  const view = stringify(forCommit(obj.data));
  const download = () => {
    const url = URL.createObjectURL(new Blob([view], { type: 'application/yaml' }));
    downloadLink(url, `${kind.toLowerCase()}-${name}.yaml`);
    URL.revokeObjectURL(url);
  };
  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      let doc: KubeObject;
      try {
        doc = parse(text) as KubeObject;
      } catch (err) {
        throw new Error(t('yaml.invalid', { message: (err as Error).message }));
      }
      if (!doc || typeof doc !== 'object') throw new Error(t('yaml.notObject'));
      // The edit applies to the version shown; status stays the controller's.
      const shown = obj.data!;
      const next = { ...doc, metadata: { ...doc.metadata, resourceVersion: shown.metadata.resourceVersion } };
      try {
        obj.set(await kube.replace(next));
      } catch (err) {
        // A Conflict from a status write alone (the controller reporting) is no edit to lose: when what
        // a user commits is unchanged since it was shown, apply onto the newer version once.
        if (!(err instanceof ApiError) || err.status !== 409) throw err;
        const latest = await kube.get(kind, name, namespace);
        if (stringify(forCommit(latest)) !== stringify(forCommit(shown))) throw err;
        obj.set(await kube.replace({ ...next, metadata: { ...next.metadata, resourceVersion: latest.metadata.resourceVersion } }));
      }
      setEditing(false);
      toast(t('yaml.saved', { name }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="yaml-panel">
      <div className="card-actions">
        <CopyButton text={view} />
        <Button variant="ghost" onClick={download}>
          {t('yaml.download')}
        </Button>
        {canEdit && !editing ? (
          <Button onClick={() => { setText(view); setError(undefined); setEditing(true); }}>
            {t('common.edit')}
          </Button>
        ) : null}
        {editing ? (
          <>
            <Button variant="primary" busy={busy} onClick={() => void save()}>
              {t('yaml.apply')}
            </Button>
            <Button onClick={() => setEditing(false)}>{t('common.cancel')}</Button>
          </>
        ) : null}
      </div>
      <ErrorBox error={error} />
      <Suspense fallback={<Spinner />}>
        {editing ? (
          <CodeEditor key="edit" value={text} lang="yaml" label={t('yaml.editorLabel', { name })} onChange={setText} onSave={() => void save()} />
        ) : (
          <CodeEditor key={`view-${obj.data.metadata.resourceVersion}`} value={view} lang="yaml" label={t('yaml.viewLabel', { name })} readOnly />
        )}
      </Suspense>
    </div>
  );
}
