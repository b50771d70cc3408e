// What was done to this server and by whom (its audit entries), newest first, paged backwards.
import { useState } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { AuditEntry, Server } from '../../api/types.ts';
import { useLoad } from '../../ui/hooks.ts';
import { Section } from '../../ui/kit.tsx';
import { AuditTable } from '../admin/AuditTable.tsx';

export default function ActivityTab({ server }: { server: Server }) {
  const { api } = useApp();
  const [before, setBefore] = useState<string[]>([]);
  const cursor = before[before.length - 1];
  const page = useLoad(() => api.get<AuditEntry[]>(`/api/servers/${encodeURIComponent(server.id)}/activity`, { before: cursor, limit: 50 }), [server.id, cursor]);
  return (
    <Section title={t('tab.activity')}>
      <AuditTable page={page} onOlder={(id) => setBefore([...before, id])} onNewer={before.length ? () => setBefore(before.slice(0, -1)) : undefined} showResource={false} />
    </Section>
  );
}
