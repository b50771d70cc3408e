// Signed out: first-run setup (while no user exists), else sign-in with the second factor when the
// account has one. The page the user wanted stays in the URL and is opened after signing in.
import { useEffect, useState, type FormEvent } from 'react';
import { useApp } from '../app-context.tsx';
import { t } from '../i18n/index.ts';
import { ApiError } from '../api/errors.ts';
import type { SessionData } from '../api/session.ts';
import { Button, ErrorBox, Input, Spinner } from '../ui/kit.tsx';

export function AuthPage() {
  const { api, session } = useApp();
  const [needsSetup, setNeedsSetup] = useState<boolean>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [login, setLogin] = useState('');
  const [email, setEmail] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [code, setCode] = useState('');
  const [needCode, setNeedCode] = useState(false);
  const [useRecovery, setUseRecovery] = useState(false);

  useEffect(() => {
    api
      .get<{ needsSetup: boolean }>('/api/setup/status')
      .then((s) => setNeedsSetup(s.needsSetup))
      .catch((err) => {
        setError(err);
        setNeedsSetup(false);
      });
  }, [api]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (needsSetup && password !== confirm) return setError(new Error(t('auth.passwordMismatch')));
    setBusy(true);
    try {
      const body = needsSetup
        ? { email, username, password }
        : { ...(login.includes('@') ? { email: login } : { username: login }), password, ...(needCode && code ? (useRecovery ? { recoveryCode: code } : { totpCode: code }) : {}) };
      const data = await api.data<SessionData>('POST', needsSetup ? '/api/auth/setup' : '/api/auth/login', { body, anonymous: true });
      session.set(data);
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'totp_required') setNeedCode(true);
      else if (err instanceof ApiError && err.reason === 'setup_done') setNeedsSetup(false);
      setError(err instanceof ApiError && err.reason === 'totp_required' ? undefined : err);
    } finally {
      setBusy(false);
    }
  };

  if (needsSetup === undefined) return <Spinner />;
  return (
    <main className="auth" id="main">
      <form className="auth-card card" onSubmit={submit} aria-labelledby="auth-title">
        <h1 id="auth-title">{needsSetup ? t('auth.setupTitle') : t('auth.loginTitle')}</h1>
        <p className="muted">{needsSetup ? t('auth.setupIntro') : t('auth.loginIntro')}</p>
        {needsSetup ? (
          <>
            <Input label={t('auth.email')} type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <Input label={t('auth.username')} autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
          </>
        ) : (
          <Input label={t('auth.login')} autoComplete="username" required value={login} onChange={(e) => setLogin(e.target.value)} />
        )}
        <Input label={t('auth.password')} type="password" autoComplete={needsSetup ? 'new-password' : 'current-password'} required value={password} onChange={(e) => setPassword(e.target.value)} />
        {needsSetup ? <Input label={t('auth.confirmPassword')} type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} /> : null}
        {needCode ? (
          <>
            <Input
              label={useRecovery ? t('auth.recoveryCode') : t('auth.totpCode')}
              hint={useRecovery ? undefined : t('auth.totpHint')}
              inputMode={useRecovery ? 'text' : 'numeric'}
              autoComplete="one-time-code"
              autoFocus
              required
              value={code}
              onChange={(e) => setCode(e.target.value.trim())}
            />
            <Button variant="ghost" onClick={() => setUseRecovery((r) => !r)}>
              {useRecovery ? t('auth.useTotp') : t('auth.useRecovery')}
            </Button>
          </>
        ) : null}
        <ErrorBox error={error} />
        <Button type="submit" variant="primary" busy={busy}>
          {needsSetup ? t('auth.createAdmin') : t('auth.signIn')}
        </Button>
      </form>
    </main>
  );
}
