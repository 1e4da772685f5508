import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, type Health, type Me, setCsrfToken, setSessionLostHandler } from './api';
import { ErrorText } from './components';
import { connectEvents, disconnectEvents, useLiveStatus } from './events';
import { BackupsPage } from './pages/backups';
import { RestoresPage } from './pages/restores';
import { AuditPage } from './pages/audit';
import { ServicesPage } from './pages/services';
import { ChangeMyPasswordDialog, UsersPage } from './pages/users';
import './style.css';

type PageId = 'backups' | 'restores' | 'services' | 'users' | 'audit';
// `admin`: offered to administrators only. Others who type the address get the API's refusal.
const PAGES: { id: PageId; title: string; admin?: boolean }[] = [
  { id: 'backups', title: 'Backup Management' },
  { id: 'restores', title: 'Restoration Management' },
  { id: 'services', title: 'Services' },
  { id: 'users', title: 'Users', admin: true },
  { id: 'audit', title: 'Audit Log', admin: true },
];

function pageFromHash(): PageId {
  const h = location.hash.replace(/^#\/?/, '');
  return (PAGES.find((p) => p.id === h)?.id ?? 'backups') as PageId;
}

function Login({ onLogin, notice }: { onLogin: (me: Me) => void; notice: string }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const userRef = useRef<HTMLInputElement>(null);
  useEffect(() => userRef.current?.focus(), []);
  return (
    <main class="login" id="main">
      <form
        class="card login-card"
        aria-labelledby="login-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const r = await call<{ user: Me; csrf_token: string }>('POST', '/auth/login', { user, password, cookie: true });
            setCsrfToken(r.csrf_token);
            onLogin({ ...r.user, csrf_token: r.csrf_token });
          } catch (err) {
            setError(err as ApiError);
            setBusy(false);
          }
        }}
      >
        <div class="brand brand-large" aria-hidden="true">
          <span class="logo">⟲</span> flinkbr
        </div>
        <h1 id="login-title">Log in to the flinkbr console</h1>
        <p class="muted">Backup and restoration of Apache Flink metadata.</p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <div class="field">
          <label for="login-user">User name</label>
          <input id="login-user" ref={userRef} autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input
            id="login-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <ErrorText error={error} />
        <button type="submit" class="primary wide" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="hint">The first start writes the administrator's password to <code>&lt;state_dir&gt;/initial-admin-password</code>.</p>
      </form>
    </main>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined); // undefined: still asking
  const [page, setPage] = useState<PageId>(pageFromHash());
  const [notice, setNotice] = useState('');
  const [live, setLive] = useState(false);
  const [logoutError, setLogoutError] = useState<ApiError | null>(null);
  const [changingPassword, setChangingPassword] = useState(false);
  const [passwordNotice, setPasswordNotice] = useState('');
  const [health, setHealth] = useState<Health | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useLiveStatus(setLive);

  useEffect(() => {
    setSessionLostHandler(() => {
      setCsrfToken('');
      disconnectEvents();
      setNotice('Your session has ended (expired or logged out elsewhere). Log in again.');
      setMe(null);
    });
    call<Me>('GET', '/auth/me')
      .then((m) => {
        setCsrfToken(m.csrf_token ?? '');
        setMe(m);
      })
      .catch(() => setMe(null));
    const onHash = () => setPage(pageFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    if (!me) return;
    connectEvents();
    // The manager's role and the active manager's address, from daemons that run in a highly
    // available pair; nothing is shown when health does not say.
    call<Health>('GET', '/health')
      .then(setHealth)
      .catch(() => setHealth(null));
  }, [me]);

  // Moving between pages puts focus on the new page's title, for keyboard and screen readers.
  useEffect(() => {
    if (me) headingRef.current?.focus();
    const t = PAGES.find((p) => p.id === page)!.title;
    document.title = `${t} · flinkbr`;
  }, [page, !!me]);

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null)
    return (
      <Login
        notice={notice}
        onLogin={(m) => {
          setNotice('');
          setMe(m);
        }}
      />
    );

  const canOperate = me.role !== 'viewer';
  const isAdmin = me.role === 'administrator';
  const title = PAGES.find((p) => p.id === page)!.title;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="brand" aria-hidden="true">
          <span class="logo">⟲</span> flinkbr
        </div>
        <nav aria-label="Pages">
          <ul>
            {PAGES.filter((p) => isAdmin || !p.admin).map((p) => (
              <li>
                <a href={`#/${p.id}`} aria-current={p.id === page ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          <span class={`live ${live ? 'on' : 'off'}`} title={live ? 'Receiving live updates' : 'Live updates paused; reconnecting'}>
            {live ? 'Live' : 'Offline'}
          </span>
          {health?.role && (
            <span class="manager" data-testid="manager-role" title="This manager's role in its highly available pair">
              {health.role}
              {health.active_address && health.role !== 'active' && <> · active: {health.active_address}</>}
            </span>
          )}
          <span class="who">
            {me.name} <span class="role">({me.role})</span>
          </span>
          <button type="button" onClick={() => setChangingPassword(true)}>
            Change my password
          </button>
          <button
            type="button"
            onClick={async () => {
              setLogoutError(null);
              try {
                await call('POST', '/auth/logout');
                setCsrfToken('');
                disconnectEvents();
                setNotice('You have logged out.');
                setMe(null);
              } catch (e) {
                setLogoutError(e as ApiError);
              }
            }}
          >
            Log out
          </button>
        </div>
      </header>
      {changingPassword && (
        <ChangeMyPasswordDialog
          onClose={() => setChangingPassword(false)}
          onDone={() => setPasswordNotice('Your password was changed.')}
        />
      )}
      {passwordNotice && (
        <div class="banner">
          <p class="notice" role="status">
            {passwordNotice}
          </p>
        </div>
      )}
      {logoutError && (
        <div class="banner">
          <ErrorText error={logoutError} />
        </div>
      )}
      <main id="main" class="content">
        <h1 tabIndex={-1} ref={headingRef}>
          {title}
        </h1>
        {page === 'backups' && <BackupsPage canOperate={canOperate} />}
        {page === 'restores' && <RestoresPage canOperate={canOperate} />}
        {page === 'services' && <ServicesPage canOperate={canOperate} />}
        {page === 'users' && <UsersPage me={me} />}
        {page === 'audit' && <AuditPage />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
