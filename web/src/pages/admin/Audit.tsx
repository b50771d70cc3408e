// The audit log: every mutating call and every refusal, filtered by user, action or resource.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { AuditEntry } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Input, PageHead, Section } from '../../ui/kit.tsx';
import { AuditTable } from './AuditTable.tsx';

export default function AuditPage() {
  const { api } = useApp();
  const [filter, setFilter] = useState({ action: '', resourceType: '', resourceId: '' });
  const [applied, setApplied] = useState(filter);
  const [before, setBefore] = useState<string[]>([]);
  const cursor = before[before.length - 1];
  const page = useLoad(() => api.get<AuditEntry[]>('/api/admin/audit-logs', { ...applied, before: cursor, limit: 50 }), [applied, cursor]);
  return (
    <div className="page">
      <PageHead title={t('nav.audit')} />
      <Section title={t('audit.filters')}>
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); setBefore([]); setApplied(filter); }}>
          <Input label={t('audit.action')} placeholder="server.*" value={filter.action} onChange={(e) => setFilter({ ...filter, action: e.target.value })} />
          <Input label={t('audit.resourceType')} placeholder="server" value={filter.resourceType} onChange={(e) => setFilter({ ...filter, resourceType: e.target.value })} />
          <Input label={t('audit.resourceId')} value={filter.resourceId} onChange={(e) => setFilter({ ...filter, resourceId: e.target.value })} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary">{t('audit.apply')}</button>
          </div>
        </form>
      </Section>
      <Section title={t('audit.entries')}>
        <AuditTable page={page} onOlder={(id) => setBefore([...before, id])} onNewer={before.length ? () => setBefore(before.slice(0, -1)) : undefined} />
      </Section>
    </div>
  );
}
