// Backups: create (name, note), progress while the agent archives, download (a one-time link),
// restore onto the stopped server, delete. The list is re-read every 2 s while one is in progress.
import { Fragment, useEffect, useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t, tk } from '../../i18n/index.ts';
import type { Backup, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Badge, Button, Confirm, FormDialog, Input, ListTable, Check, downloadLink } from '../../ui/kit.tsx';
import { bytes, dateTime } from '../../lib/format.ts';
import { ResourceYaml } from '../../ui/ResourceYaml.tsx';

const busyPhase = (s: string) => s === 'pending' || s === 'in_progress';
const tone = (s: string) => (s === 'completed' ? 'ok' : s === 'failed' ? 'bad' : 'busy');

export default function BackupsTab({ server, can, phase }: { server: Server; can: (p: string) => boolean; phase: string | undefined }) {
  const { api, toast, can: canGlobal } = useApp();
  const base = `/api/servers/${encodeURIComponent(server.id)}/backups`;
  // Every 2 s while one is being made (its progress), every 15 s otherwise (one made elsewhere).
  const [fast, setFast] = useState(false);
  const list = useLoad(() => api.get<Backup[]>(base), [server.id, fast], { intervalMs: fast ? 2000 : 15_000 });
  const anyBusy = !!list.data?.some((b) => busyPhase(b.status));
  useEffect(() => setFast(anyBusy), [anyBusy]);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<unknown>();
  const [restoring, setRestoring] = useState<Backup>();
  const [truncate, setTruncate] = useState(false);
  const [deleting, setDeleting] = useState<Backup>();
  const [yaml, setYaml] = useState<string>();

  const create = async () => {
    await api.call('POST', base, { body: { ...(name ? { name } : {}), ...(note ? { note } : {}) } });
    setFast(true);
    setCreating(false);
    setName('');
    setNote('');
    toast(t('backups.started'));
    await list.reload();
  };

  const download = async (b: Backup) => {
    setError(undefined);
    try {
      const { token } = await api.data<{ token: string }>('POST', '/api/auth/tokens', { body: { purpose: 'download', serverId: server.id, backupId: b.id } });
      downloadLink(`${base}/${encodeURIComponent(b.id)}/download?token=${encodeURIComponent(token)}`, `${b.name}.tar.gz`);
    } catch (err) {
      setError(err);
    }
  };

  const stopped = ['stopped', 'crashed', 'error'].includes(phase ?? '') && server.desiredState === 'stopped';
  const rows = list.data ?? [];
  return (
    <div className="card">
      <header className="card-head">
        <h2>{t('tab.backups')}</h2>
        {can('backup.create') ? (
          <div className="card-actions">
            <Button variant="primary" onClick={() => setCreating(true)}>
              {t('backups.create')}
            </Button>
          </div>
        ) : null}
      </header>
      <ListTable loaded={list} error={error} empty={t('backups.none')} columns={[t('backups.name'), t('backups.status'), t('backups.size'), t('backups.created')]}>
            {rows.map((b) => (
              <Fragment key={b.id}>
              <tr data-backup={b.name}>
                <th scope="row" data-label={t('backups.name')}>
                  {b.name}
                  {b.note ? <div className="muted small">{b.note}</div> : null}
                  {b.message && b.status === 'failed' ? <div className="error-text small">{b.message}</div> : null}
                </th>
                <td data-label={t('backups.status')}>
                  <Badge tone={tone(b.status)}>
                    {busyPhase(b.status) ? <span className="spinner" aria-hidden="true" /> : null} {tk(`backups.phase.${b.status}`)}
                  </Badge>
                </td>
                <td data-label={t('backups.size')}>{b.sizeBytes ? bytes(b.sizeBytes) : '—'}</td>
                <td data-label={t('backups.created')}>{dateTime(b.createdAt)}</td>
                <td className="row-actions">
                  {b.status === 'completed' ? <Button variant="ghost" onClick={() => void download(b)}>{t('files.download')}</Button> : null}
                  {b.status === 'completed' && can('backup.restore') ? (
                    <Button variant="ghost" onClick={() => { setTruncate(false); setRestoring(b); }}>
                      {t('backups.restore')}
                    </Button>
                  ) : null}
                  {canGlobal('resource.read') ? <Button variant="ghost" aria-expanded={yaml === b.id} onClick={() => setYaml(yaml === b.id ? undefined : b.id)}>{t('yaml.title')}</Button> : null}
                  {can('backup.delete') && !busyPhase(b.status) ? <Button variant="ghost" onClick={() => setDeleting(b)}>{t('common.delete')}</Button> : null}
                </td>
              </tr>
              {yaml === b.id ? (
                <tr className="yaml-row">
                  <td colSpan={5}>
                    <ResourceYaml kind="Backup" name={b.id} canEdit={canGlobal('resource.write')} />
                  </td>
                </tr>
              ) : null}
              </Fragment>
            ))}
      </ListTable>
      <FormDialog open={creating} onClose={() => setCreating(false)} title={t('backups.create')} submitLabel={t('backups.createSubmit')} onSubmit={create}>
        <Input label={t('backups.name')} placeholder={t('backups.namePlaceholder')} value={name} onChange={(e) => setName(e.target.value)} />
        <Input label={t('backups.note')} value={note} onChange={(e) => setNote(e.target.value)} />
      </FormDialog>
      <Confirm
        open={!!restoring}
        danger={false}
        title={t('backups.restoreTitle')}
        message={
          <>
            <p>{t('backups.restoreMessage', { name: restoring?.name ?? '' })}</p>
            {!stopped ? <p className="error-text">{t('backups.mustStop')}</p> : null}
            <Check label={t('backups.truncate')} checked={truncate} onChange={(e) => setTruncate(e.target.checked)} />
          </>
        }
        confirmLabel={t('backups.restore')}
        onClose={() => setRestoring(undefined)}
        onConfirm={async () => {
          await api.call('POST', `${base}/${encodeURIComponent(restoring!.id)}/restore`, { body: truncate ? { truncate: true } : {}, query: { wait: true } });
          toast(t('backups.restored', { name: restoring!.name }));
        }}
      />
      <Confirm
        open={!!deleting}
        title={t('backups.deleteTitle')}
        message={t('backups.deleteMessage', { name: deleting?.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(undefined)}
        onConfirm={async () => {
          await api.call('DELETE', `${base}/${encodeURIComponent(deleting!.id)}`);
          await list.reload();
        }}
      />
    </div>
  );
}
