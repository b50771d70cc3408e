// An audit page (the global log or one server's activity): who, what, on which resource, outcome.
import { t } from '../../i18n/index.ts';
import type { AuditEntry } from '../../api/types.ts';
import type { Loaded } from '../../ui/hooks.ts';
import { Badge, Button, ListTable } from '../../ui/kit.tsx';
import { dateTime } from '../../lib/format.ts';

export function AuditTable({ page, onOlder, onNewer, showResource = true }: { page: Loaded<AuditEntry[]>; onOlder: (id: string) => void; onNewer?: () => void; showResource?: boolean }) {
  const rows = page.data ?? [];
  return (
    <>
      <ListTable loaded={page} empty={t('audit.none')} className="audit-table" actions={false} columns={[t('audit.time'), t('audit.user'), t('audit.action'), ...(showResource ? [t('audit.resource')] : []), t('audit.outcome')]}>
            {rows.map((e) => (
              <tr key={e.id}>
                <td data-label={t('audit.time')}>{dateTime(e.createdAt)}</td>
                <td data-label={t('audit.user')}>{e.username ?? '—'}</td>
                <th scope="row" data-label={t('audit.action')}>
                  <code>{e.action}</code>
                  {typeof e.metadata?.path === 'string' ? <div className="muted small">{e.metadata.path}</div> : null}
                </th>
                {showResource ? (
                  <td data-label={t('audit.resource')}>
                    {e.resourceType ?? ''} {e.resourceId ? <code>{e.resourceId}</code> : null}
                  </td>
                ) : null}
                <td data-label={t('audit.outcome')}>
                  <Badge tone={e.status < 300 ? 'ok' : 'bad'}>{e.status}</Badge>
                </td>
              </tr>
            ))}
      </ListTable>
      <div className="pager">
        {onNewer ? <Button onClick={onNewer}>{t('audit.newer')}</Button> : null}
        {rows.length ? <Button onClick={() => onOlder(rows[rows.length - 1]!.id)}>{t('audit.older')}</Button> : null}
      </div>
    </>
  );
}
