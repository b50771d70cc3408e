// The signed-in user's own account: password, two-factor sign-in (enrol with the authenticator's
// URI and secret, recovery codes shown once), sessions.
import { useState } from 'react';
import { useApp } from '../app-context.tsx';
import { t } from '../i18n/index.ts';
import { useLoad } from '../ui/hooks.ts';
import { Badge, Button, CopyButton, ErrorBox, Input, PageHead, Section } from '../ui/kit.tsx';
import { dateTime } from '../lib/format.ts';

interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt?: string;
  ip?: string | null;
  userAgent?: string | null;
  current?: boolean;
}

export default function AccountPage() {
  const { api, me, reloadMe, toast } = useApp();
  const [pw, setPw] = useState({ current: '', next: '' });
  const [enrol, setEnrol] = useState<{ secret: string; otpauthUri: string }>();
  const [code, setCode] = useState('');
  const [disablePw, setDisablePw] = useState('');
  const [recovery, setRecovery] = useState<string[]>();
  const [error, setError] = useState<unknown>();
  const sessions = useLoad(() => api.get<SessionInfo[]>('/api/auth/sessions'), []);
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="page">
      <PageHead title={t('account.title')} sub={me ? `${me.username} · ${me.email}` : undefined} />
      <ErrorBox error={error} />
      <Section title={t('account.password')}>
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); void run(async () => { await api.call('POST', '/api/auth/password', { body: { currentPassword: pw.current, newPassword: pw.next } }); setPw({ current: '', next: '' }); toast(t('account.passwordChanged')); }); }}>
          <Input label={t('account.currentPassword')} type="password" autoComplete="current-password" required value={pw.current} onChange={(e) => setPw({ ...pw, current: e.target.value })} />
          <Input label={t('account.newPassword')} type="password" autoComplete="new-password" required value={pw.next} onChange={(e) => setPw({ ...pw, next: e.target.value })} />
          <div className="form-actions"><Button type="submit" variant="primary">{t('account.changePassword')}</Button></div>
        </form>
      </Section>
      <Section title={t('account.twoFactor')} actions={me?.totpEnabled ? <Badge tone="ok">{t('account.twoFactorOn')}</Badge> : <Badge tone="idle">{t('account.twoFactorOff')}</Badge>}>
        {recovery ? (
          <div>
            <p>{t('account.recoveryIntro')}</p>
            <pre className="code-block">{recovery.join('\n')}</pre>
            <CopyButton text={recovery.join('\n')} />
          </div>
        ) : null}
        {!me?.totpEnabled && !enrol ? <Button onClick={() => void run(async () => setEnrol(await api.data('POST', '/api/auth/2fa/enroll')))}>{t('account.enable2fa')}</Button> : null}
        {enrol ? (
          <form onSubmit={(e) => { e.preventDefault(); void run(async () => { const r = await api.data<{ recoveryCodes: string[] }>('POST', '/api/auth/2fa/verify', { body: { code } }); setRecovery(r.recoveryCodes); setEnrol(undefined); setCode(''); await reloadMe(); }); }}>
            <p>{t('account.enrolIntro')}</p>
            <p>
              {t('account.secret')} <code>{enrol.secret}</code> <CopyButton text={enrol.secret} />
            </p>
            <p className="break">
              <code>{enrol.otpauthUri}</code> <CopyButton text={enrol.otpauthUri} />
            </p>
            <Input label={t('auth.totpCode')} inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value.trim())} />
            <Button type="submit" variant="primary">{t('account.verify')}</Button>
          </form>
        ) : null}
        {me?.totpEnabled ? (
          <form onSubmit={(e) => { e.preventDefault(); void run(async () => { await api.call('POST', '/api/auth/2fa/disable', { body: { password: disablePw, code } }); setCode(''); setDisablePw(''); await reloadMe(); toast(t('account.disabled2fa')); }); }}>
            <Input label={t('auth.password')} type="password" autoComplete="current-password" required value={disablePw} onChange={(e) => setDisablePw(e.target.value)} />
            <Input label={t('auth.totpCode')} inputMode="numeric" required value={code} onChange={(e) => setCode(e.target.value.trim())} />
            <Button type="submit" variant="danger">{t('account.disable2fa')}</Button>
          </form>
        ) : null}
      </Section>
      <Section title={t('account.sessions')}>
        <ErrorBox error={sessions.error} />
        <ul className="plain-list">
          {(sessions.data ?? []).map((s) => (
            <li key={s.id}>
              {dateTime(s.createdAt)} · {s.ip ?? '—'} · <span className="muted small">{s.userAgent ?? ''}</span> {s.current ? <Badge tone="ok">{t('account.thisSession')}</Badge> : (
                <Button variant="ghost" onClick={() => void run(async () => { await api.call('DELETE', `/api/auth/sessions/${encodeURIComponent(s.id)}`); await sessions.reload(); })}>{t('account.revoke')}</Button>
              )}
            </li>
          ))}
        </ul>
      </Section>
    </div>
  );
}
