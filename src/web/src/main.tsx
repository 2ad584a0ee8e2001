/** The dashboard's shell: header, navigation, the API token form, and the page the path names. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getToken, setToken, UNAUTHENTICATED_EVENT } from './api.js';
import { Link, usePath } from './router.js';
import { OverviewPage } from './pages/overview.js';
import { ClusterPage } from './pages/cluster.js';
import { MetricsPage } from './pages/metrics.js';
import { KvPage } from './pages/kv.js';
import { ObjectsPage } from './pages/objects.js';
import { FlowsPage } from './pages/flows.js';
import { MessagesPage } from './pages/messages.js';
import './styles.css';

const PAGES = [
  { path: '/', title: 'Overview', Page: OverviewPage },
  { path: '/cluster', title: 'Cluster', Page: ClusterPage },
  { path: '/monitoring', title: 'Metrics', Page: MetricsPage },
  { path: '/kv', title: 'Key-value', Page: KvPage },
  { path: '/objects', title: 'Objects', Page: ObjectsPage },
  { path: '/flows', title: 'Workflows', Page: FlowsPage },
  { path: '/messages', title: 'Messages', Page: MessagesPage },
] as const;

function TokenForm() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState(getToken());
  const [saved, setSaved] = useState(getToken() !== '');
  const [refusal, setRefusal] = useState('');
  useEffect(() => {
    // A 401 from any request opens the form with the server's reason (no token, revoked, expired).
    const onRefused = (e: Event): void => {
      setRefusal(String((e as CustomEvent).detail ?? ''));
      setOpen(true);
    };
    window.addEventListener(UNAUTHENTICATED_EVENT, onRefused);
    return () => window.removeEventListener(UNAUTHENTICATED_EVENT, onRefused);
  }, []);
  // OpenID Connect login, when the server has it (/auth/oidc answers JSON; otherwise it is the app's page).
  const [oidc, setOidc] = useState('');
  useEffect(() => {
    fetch('/auth/oidc')
      .then(async (r) => (r.ok && (r.headers.get('content-type') ?? '').includes('json') ? ((await r.json()) as { enabled?: boolean; loginUrl?: string }) : {}))
      .then((j) => setOidc(j.enabled === true && typeof j.loginUrl === 'string' ? j.loginUrl : ''))
      .catch(() => setOidc(''));
  }, []);
  return (
    <div class="token">
      <button type="button" class="ghost" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="token-toggle">
        {saved ? 'Token set' : 'Log in'}
      </button>
      {open && (
        <form
          class="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            setToken(value.trim());
            setSaved(value.trim() !== '');
            setOpen(false);
            location.reload();
          }}
        >
          {oidc !== '' && (
            <p>
              <a class="button" href={`${oidc}?return=${encodeURIComponent(location.pathname + location.search)}`} data-testid="oidc-login">
                Sign in with your organization
              </a>
            </p>
          )}
          <label>
            API token
            <input type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} placeholder="paste the token" />
          </label>
          {refusal !== '' && (
            <p class="note small" data-testid="token-refusal">
              The server asks for a token: {refusal}
            </p>
          )}
          <p class="muted small">Kept in this tab only (sessionStorage) and sent as a Bearer header.</p>
          <div class="row">
            <button type="submit">Save</button>
            <button
              type="button"
              class="ghost"
              onClick={() => {
                setValue('');
                setToken('');
                setSaved(false);
                setOpen(false);
              }}
            >
              Forget
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

function NotFound(props: { path: string }) {
  return (
    <section class="card">
      <h1>Not found</h1>
      <p>
        No page at <code>{props.path}</code>. <Link href="/">Go to the overview</Link>.
      </p>
    </section>
  );
}

function App() {
  const path = usePath();
  const page = PAGES.find((p) => p.path === path);
  document.title = page !== undefined ? `${page.title} · Flotilla` : 'Flotilla';
  return (
    <>
      <header class="top">
        <Link href="/" class="brand">
          Flotilla
        </Link>
        <nav>
          {PAGES.map((p) => (
            <Link key={p.path} href={p.path} current={p.path === path}>
              {p.title}
            </Link>
          ))}
        </nav>
        <TokenForm />
      </header>
      <main>{page !== undefined ? <page.Page /> : <NotFound path={path} />}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
