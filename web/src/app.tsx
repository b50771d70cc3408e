// The shell: signed out → setup or login; signed in → navigation, the page of the current route,
// toasts. Pages other than the dashboard load on demand (the console and editor are large).
import { lazy, Suspense, useEffect, useState } from 'react';
import { useApp } from './app-context.tsx';
import { Link, navigate, useLocation } from './router.tsx';
import { resolve, type RouteDef } from './lib/router.ts';
import { t, tk, type MessageKey } from './i18n/index.ts';
import { Spinner, ErrorBox } from './ui/kit.tsx';
import { ErrorBoundary } from './ui/ErrorBoundary.tsx';
import { applyTheme, storedTheme, type ThemeChoice } from './theme.ts';
import { Dashboard } from './pages/Dashboard.tsx';
import { AuthPage } from './pages/Auth.tsx';

const ServerPage = lazy(() => import('./pages/server/ServerPage.tsx'));
const NodesPage = lazy(() => import('./pages/admin/Nodes.tsx'));
const TemplatesPage = lazy(() => import('./pages/admin/Templates.tsx'));
const UsersPage = lazy(() => import('./pages/admin/Users.tsx'));
const AlertsPage = lazy(() => import('./pages/admin/Alerts.tsx'));
const AuditPage = lazy(() => import('./pages/admin/Audit.tsx'));
const DatabaseHostsPage = lazy(() => import('./pages/admin/DatabaseHosts.tsx'));
const AccountPage = lazy(() => import('./pages/Account.tsx'));

export const ROUTES: readonly RouteDef[] = [
  { name: 'dashboard', pattern: '/' },
  { name: 'server', pattern: '/servers/:id/:tab?' },
  { name: 'nodes', pattern: '/admin/nodes' },
  { name: 'templates', pattern: '/admin/templates' },
  { name: 'users', pattern: '/admin/users' },
  { name: 'alerts', pattern: '/admin/alerts' },
  { name: 'audit', pattern: '/admin/audit' },
  { name: 'databaseHosts', pattern: '/admin/database-hosts' },
  { name: 'account', pattern: '/account' },
];

const NAV: { to: string; label: MessageKey; route: string; permission?: string }[] = [
  { to: '/', label: 'nav.dashboard', route: 'dashboard' },
  { to: '/admin/nodes', label: 'nav.nodes', route: 'nodes', permission: 'node.read' },
  { to: '/admin/templates', label: 'nav.templates', route: 'templates', permission: 'template.read' },
  { to: '/admin/users', label: 'nav.users', route: 'users', permission: 'user.read' },
  { to: '/admin/alerts', label: 'nav.alerts', route: 'alerts', permission: 'alert.read' },
  { to: '/admin/database-hosts', label: 'nav.databaseHosts', route: 'databaseHosts', permission: 'database.hosts' },
  { to: '/admin/audit', label: 'nav.audit', route: 'audit', permission: 'admin.read' },
];

function ThemeSwitch() {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme());
  return (
    <label className="theme-switch">
      <span className="sr-only">{t('theme.label')}</span>
      <select
        value={choice}
        aria-label={t('theme.label')}
        onChange={(e) => {
          const v = e.target.value as ThemeChoice;
          setChoice(v);
          applyTheme(v);
        }}
      >
        <option value="system">{t('theme.system')}</option>
        <option value="dark">{t('theme.dark')}</option>
        <option value="light">{t('theme.light')}</option>
      </select>
    </label>
  );
}

function LiveIndicator() {
  const { live } = useApp();
  const [status, setStatus] = useState(live.status);
  useEffect(() => live.onStatus((s) => setStatus(s)), [live]);
  return (
    <span className={`live-dot live-${status}`} role="status" title={tk(`live.${status}`)}>
      <span className="sr-only">{tk(`live.${status}`)}</span>
    </span>
  );
}

function Shell() {
  const { me, can, signOut, toasts } = useApp();
  const { pathname } = useLocation();
  const route = resolve(ROUTES, pathname);
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [pathname]);
  const page = (() => {
    switch (route?.name) {
      case 'dashboard':
        return <Dashboard />;
      case 'server':
        return <ServerPage id={route.params.id!} tab={route.params.tab} />;
      case 'nodes':
        return <NodesPage />;
      case 'templates':
        return <TemplatesPage />;
      case 'users':
        return <UsersPage />;
      case 'alerts':
        return <AlertsPage />;
      case 'audit':
        return <AuditPage />;
      case 'databaseHosts':
        return <DatabaseHostsPage />;
      case 'account':
        return <AccountPage />;
      default:
        return <ErrorBox error={new Error(t('app.notFound', { path: pathname }))} />;
    }
  })();
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <button type="button" className="icon-btn menu-btn" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen((o) => !o)}>
          <span aria-hidden="true">☰</span>
          <span className="sr-only">{t('app.menu')}</span>
        </button>
        <Link to="/" className="brand">
          Gantry
        </Link>
        <LiveIndicator />
        <div className="topbar-end">
          <ThemeSwitch />
          <Link to="/account" className="user-link">
            {me?.username ?? '…'}
          </Link>
          <button type="button" className="btn btn-ghost" onClick={() => void signOut()}>
            {t('auth.logout')}
          </button>
        </div>
      </header>
      <nav id="nav" className={`sidebar${menuOpen ? ' open' : ''}`} aria-label={t('app.navigation')}>
        <ul>
          {NAV.filter((n) => !n.permission || can(n.permission)).map((n) => (
            <li key={n.to}>
              <Link to={n.to} aria-current={route?.name === n.route ? 'page' : undefined}>
                {t(n.label)}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="main" tabIndex={-1}>
        <ErrorBoundary resetKey={pathname}>
          <Suspense fallback={<Spinner />}>{page}</Suspense>
        </ErrorBoundary>
      </main>
      <div className="toasts" aria-live="polite" role="status">
        {toasts.map((x) => (
          <div key={x.id} className={`toast toast-${x.tone}`}>
            {x.text}
          </div>
        ))}
      </div>
    </div>
  );
}

export function App() {
  const { session } = useApp();
  const [signedIn, setSignedIn] = useState(!!session.current);
  useEffect(() => session.onChange((s) => setSignedIn(!!s)), [session]);
  useEffect(() => {
    // Coming back from the sign-in page: go where the user was headed.
    if (signedIn && (location.pathname === '/login' || location.pathname === '/setup')) navigate(new URLSearchParams(location.search).get('next') ?? '/', { replace: true });
  }, [signedIn]);
  return signedIn ? <Shell /> : <AuthPage />;
}
