// The file manager: browse, upload (button or drag and drop, with progress), edit text files with
// highlighting, rename/move, chmod, archive and extract, delete with confirmation, download links.
import { lazy, Suspense, useState, type DragEvent } from 'react';
import { useApp } from '../../app-context.tsx';
import { t, tk } from '../../i18n/index.ts';
import type { FileEntry, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Button, Confirm, Dialog, Empty, ErrorBox, Input, Spinner, downloadLink } from '../../ui/kit.tsx';
import { baseName, crumbs, isArchive, join, languageOf, modeString, parent, parseMode } from '../../lib/paths.ts';
import { bytes, dateTime } from '../../lib/format.ts';
import { uploadFiles, type UploadProgress } from '../../lib/upload.ts';

const CodeEditor = lazy(() => import('../../ui/CodeEditor.tsx').then((m) => ({ default: m.CodeEditor })));

type Dlg = { kind: 'rename' | 'chmod' | 'mkdir' | 'newfile' | 'compress'; entry?: FileEntry } | { kind: 'delete'; paths: string[] } | undefined;

function modeBits(e: FileEntry): number | undefined {
  const m = (e as { modeBits?: number }).modeBits;
  if (typeof m === 'number') return m;
  return typeof e.mode === 'string' ? parseMode(e.mode.length === 4 ? e.mode.slice(1) : e.mode) : e.mode;
}

function Editor({ server, path, onClose }: { server: Server; path: string; onClose: () => void }) {
  const { api, toast } = useApp();
  const file = useLoad(() => api.get<{ content: string }>(`/api/servers/${encodeURIComponent(server.id)}/files/contents`, { path }), [path]);
  const [text, setText] = useState<string>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>();
  const save = async () => {
    if (text === undefined) return;
    setSaving(true);
    setError(undefined);
    try {
      await api.call('POST', `/api/servers/${encodeURIComponent(server.id)}/files/write`, { body: { path, content: text } });
      toast(t('files.saved', { path }));
      file.set({ content: text });
      setText(undefined);
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  return (
    <div className="editor-pane card">
      <header className="card-head">
        <h2>
          {t('files.editing')} <code>{path}</code>
        </h2>
        <div className="card-actions">
          <Button variant="primary" busy={saving} disabled={text === undefined} onClick={save}>
            {t('common.save')}
          </Button>
          <Button onClick={onClose}>{t('common.close')}</Button>
        </div>
      </header>
      <ErrorBox error={file.error ?? error} />
      {file.data ? (
        <Suspense fallback={<Spinner />}>
          <CodeEditor key={path} value={file.data.content} lang={languageOf(path)} label={t('files.editorLabel', { path })} onChange={setText} onSave={save} />
        </Suspense>
      ) : !file.error ? (
        <Spinner />
      ) : null}
    </div>
  );
}

export default function FilesTab({ server, can }: { server: Server; can: (p: string) => boolean }) {
  const { api, session, toast } = useApp();
  const base = `/api/servers/${encodeURIComponent(server.id)}/files`;
  const [dir, setDir] = useState('/');
  const [editing, setEditing] = useState<string>();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [dlg, setDlg] = useState<Dlg>();
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<UploadProgress & { names: string }>();
  const [dragging, setDragging] = useState(false);
  const list = useLoad(() => api.get<FileEntry[]>(base, { path: dir }), [dir, server.id]);
  const writable = can('file.write');

  const entries = [...(list.data ?? [])].sort((a, b) => Number(!!b.isDirectory) - Number(!!a.isDirectory) || a.name.localeCompare(b.name));
  const pathOf = (e: FileEntry) => e.path ?? join(dir, e.name);

  const act = async (fn: () => Promise<unknown>, ok?: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      if (ok) toast(ok);
      setDlg(undefined);
      setSelected(new Set());
      await list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const upload = async (files: File[]) => {
    if (!files.length) return;
    setError(undefined);
    const names = files.map((f) => f.name).join(', ');
    setProgress({ loaded: 0, total: files.reduce((n, f) => n + f.size, 0), names });
    try {
      await uploadFiles(session, server.id, dir, files, (p) => setProgress({ ...p, names }));
      toast(t('files.uploaded', { n: files.length }));
      await list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setProgress(undefined);
    }
  };

  const download = async (p: string) => {
    try {
      const { token } = await api.data<{ token: string }>('POST', '/api/auth/tokens', { body: { purpose: 'download', serverId: server.id, path: p } });
      downloadLink(`${base}/download?path=${encodeURIComponent(p)}&token=${encodeURIComponent(token)}`, baseName(p));
    } catch (err) {
      setError(err);
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (writable) void upload([...e.dataTransfer.files]);
  };

  const openDlg = (d: Dlg, initial = '') => {
    setError(undefined);
    setValue(initial);
    setDlg(d);
  };

  const submitDlg = () => {
    if (!dlg || dlg.kind === 'delete') return;
    const e = dlg.entry;
    switch (dlg.kind) {
      case 'rename':
        return act(() => api.call('POST', `${base}/rename`, { body: { from: pathOf(e!), to: value.startsWith('/') ? value : join(parent(pathOf(e!)), value) } }), t('files.renamed'));
      case 'chmod': {
        const mode = parseMode(value);
        if (mode === undefined) return setError(new Error(t('files.badMode')));
        return act(() => api.call('POST', `${base}/chmod`, { body: { path: pathOf(e!), mode: mode.toString(8).padStart(3, '0') } }), t('files.chmodDone'));
      }
      case 'mkdir':
        return act(() => api.call('POST', `${base}/create`, { body: { path: join(dir, value), isDirectory: true } }));
      case 'newfile':
        return act(async () => {
          await api.call('POST', `${base}/create`, { body: { path: join(dir, value), content: '' } });
          setEditing(join(dir, value));
        });
      case 'compress':
        return act(() => api.call('POST', `${base}/compress`, { body: { paths: [...selected], archiveName: value } }), t('files.compressed', { name: value }));
    }
  };

  const toggle = (p: string) => {
    const next = new Set(selected);
    if (next.has(p)) next.delete(p);
    else next.add(p);
    setSelected(next);
  };

  if (editing) return <Editor server={server} path={editing} onClose={() => { setEditing(undefined); void list.reload(); }} />;

  return (
    <div className={`files card${dragging ? ' dropping' : ''}`} onDragOver={(e) => { if (writable) { e.preventDefault(); setDragging(true); } }} onDragLeave={() => setDragging(false)} onDrop={onDrop} data-testid="file-manager">
      <div className="files-bar">
        <nav aria-label={t('files.location')} className="crumbs">
          {crumbs(dir).map((c, i, all) => (
            <span key={c.path}>
              {i === all.length - 1 ? <span aria-current="location">{c.name}</span> : <button type="button" className="link" onClick={() => setDir(c.path)}>{c.name}</button>}
              {i > 0 && i < all.length - 1 ? ' / ' : i === 0 && all.length > 1 ? ' ' : ''}
            </span>
          ))}
        </nav>
        {writable ? (
          <div className="files-actions">
            <label className="btn btn-primary file-pick">
              {t('files.upload')}
              <input type="file" multiple className="sr-only" aria-label={t('files.upload')} onChange={(e) => { void upload([...(e.target.files ?? [])]); e.target.value = ''; }} />
            </label>
            <Button onClick={() => openDlg({ kind: 'newfile' })}>{t('files.newFile')}</Button>
            <Button onClick={() => openDlg({ kind: 'mkdir' })}>{t('files.newFolder')}</Button>
            <Button disabled={!selected.size} onClick={() => openDlg({ kind: 'compress' }, `archive-${new Date().toISOString().slice(0, 10)}.tar.gz`)}>{t('files.compress')}</Button>
            {can('file.delete') ? <Button variant="danger" disabled={!selected.size} onClick={() => openDlg({ kind: 'delete', paths: [...selected] })}>{t('files.deleteSelected', { n: selected.size })}</Button> : null}
          </div>
        ) : null}
      </div>
      {writable ? <p className="muted small">{t('files.dropHint')}</p> : null}
      {progress ? (
        <div className="upload-progress" role="status">
          <span>{t('files.uploading', { names: progress.names })}</span>
          <progress max={progress.total || 1} value={progress.loaded} aria-label={t('files.uploadProgress')} />
          <span>{progress.total ? Math.round((progress.loaded / progress.total) * 100) : 0}%</span>
        </div>
      ) : null}
      <ErrorBox error={error ?? list.error} onRetry={list.error ? list.reload : undefined} />
      {list.loading && !list.data ? <Spinner /> : null}
      {list.data && !entries.length ? <Empty>{t('files.empty')}</Empty> : null}
      {entries.length ? (
        <table className="table files-table">
          <thead>
            <tr>
              <th scope="col"><span className="sr-only">{t('files.select')}</span></th>
              <th scope="col">{t('files.name')}</th>
              <th scope="col">{t('files.size')}</th>
              <th scope="col">{t('files.mode')}</th>
              <th scope="col">{t('files.modified')}</th>
              <th scope="col"><span className="sr-only">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {dir !== '/' ? (
              <tr>
                <td />
                <td colSpan={5}>
                  <button type="button" className="link" onClick={() => setDir(parent(dir))}>
                    ↑ {t('files.up')}
                  </button>
                </td>
              </tr>
            ) : null}
            {entries.map((e) => {
              const p = pathOf(e);
              const bits = modeBits(e);
              return (
                <tr key={p} data-file={e.name}>
                  <td>
                    <input type="checkbox" aria-label={t('files.selectOne', { name: e.name })} checked={selected.has(p)} onChange={() => toggle(p)} />
                  </td>
                  <th scope="row" data-label={t('files.name')}>
                    {e.isDirectory ? (
                      <button type="button" className="link" onClick={() => { setSelected(new Set()); setDir(p); }}>
                        📁 {e.name}
                      </button>
                    ) : (
                      <button type="button" className="link" onClick={() => (e.size <= 2 * 1024 * 1024 ? setEditing(p) : void download(p))}>
                        {e.name}
                      </button>
                    )}
                  </th>
                  <td data-label={t('files.size')}>{e.isDirectory ? '—' : bytes(e.size)}</td>
                  <td data-label={t('files.mode')}>
                    <code>{bits === undefined ? '—' : modeString(bits)}</code>
                  </td>
                  <td data-label={t('files.modified')}>{dateTime(e.modified ?? e.modifiedAt)}</td>
                  <td className="row-actions">
                    {!e.isDirectory ? <Button variant="ghost" onClick={() => void download(p)}>{t('files.download')}</Button> : null}
                    {writable && isArchive(e.name) ? <Button variant="ghost" onClick={() => void act(() => api.call('POST', `${base}/decompress`, { body: { archivePath: p, targetPath: dir } }), t('files.extracted', { name: e.name }))}>{t('files.extract')}</Button> : null}
                    {writable ? <Button variant="ghost" onClick={() => openDlg({ kind: 'rename', entry: e }, e.name)}>{t('files.rename')}</Button> : null}
                    {writable ? <Button variant="ghost" onClick={() => openDlg({ kind: 'chmod', entry: e }, bits === undefined ? '644' : bits.toString(8).padStart(3, '0'))}>{t('files.chmod')}</Button> : null}
                    {can('file.delete') ? <Button variant="ghost" onClick={() => openDlg({ kind: 'delete', paths: [p] })}>{t('common.delete')}</Button> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      <Dialog
        open={!!dlg && dlg.kind !== 'delete'}
        onClose={() => setDlg(undefined)}
        title={dlg && dlg.kind !== 'delete' ? tk(`files.dlg.${dlg.kind}`) : ''}
        footer={
          <>
            <Button onClick={() => setDlg(undefined)}>{t('common.cancel')}</Button>
            <Button variant="primary" busy={busy} onClick={() => void submitDlg()}>
              {t('common.ok')}
            </Button>
          </>
        }
      >
        <form onSubmit={(e) => { e.preventDefault(); void submitDlg(); }}>
          <Input label={dlg && dlg.kind !== 'delete' ? tk(`files.dlgField.${dlg.kind}`) : ''} hint={dlg?.kind === 'chmod' ? t('files.modeHint') : undefined} value={value} autoFocus required onChange={(e) => setValue(e.target.value)} />
        </form>
        <ErrorBox error={error} />
      </Dialog>
      <Confirm
        open={dlg?.kind === 'delete'}
        title={t('files.deleteTitle')}
        message={
          <>
            <p>{t('files.deleteMessage')}</p>
            <ul>{dlg?.kind === 'delete' ? dlg.paths.map((p) => <li key={p}><code>{p}</code></li>) : null}</ul>
          </>
        }
        confirmLabel={t('common.delete')}
        onClose={() => setDlg(undefined)}
        onConfirm={async () => {
          if (dlg?.kind !== 'delete') return;
          const r = await api.call<{ data?: { path: string; deleted: boolean; error?: string; message?: string }[] }>('POST', `${base}/delete`, { body: { paths: dlg.paths } });
          const failed = (r.data ?? []).filter((x) => !x.deleted && x.error !== 'not_found');
          if (failed.length) {
            await list.reload();
            throw new Error(failed.map((x) => `${x.path}: ${x.message ?? x.error ?? t('files.notDeleted')}`).join('; '));
          }
          setSelected(new Set());
          toast(t('files.deleted', { n: dlg.paths.length }));
          await list.reload();
        }}
      />
    </div>
  );
}
