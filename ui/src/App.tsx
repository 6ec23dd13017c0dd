import { useEffect, useState, type FormEvent } from 'react';
import { clearKey, client, getKey, onUnauthorized, setKey, takeKeyFromFragment } from './api.ts';
import { Keys } from './Keys.tsx';
import { FocusOnNavigate } from './focus.tsx';
import { AgentPage } from './AgentPage.tsx';
import { Agents } from './Agents.tsx';
import { ErrorBox, Link, usePath } from './ui.tsx';

export function App() {
  const [key, setKeyState] = useState(getKey());
  const [rejected, setRejected] = useState(false);
  const [path, go] = usePath();
  useEffect(
    () =>
      onUnauthorized(() => {
        setKeyState(null);
        setRejected(true);
      }),
    [],
  );
  // A ready link (#key=...) opened in a tab that already shows the UI changes only the fragment.
  useEffect(() => {
    const on = () => {
      takeKeyFromFragment();
      setKeyState(getKey());
      setRejected(false);
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  if (!key) return <KeyScreen rejected={rejected} onKey={(k, remember) => (setKey(k, remember), setKeyState(k), setRejected(false))} />;
  const m = /^\/agents\/([^/]+)(?:\/([\w-]+))?\/?$/.exec(path);
  const keysPage = path === '/keys';
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" go={go} className="brand">
          Exemplar
        </Link>
        <nav aria-label="Main">
          <Link to="/" go={go} current={path === '/'}>
            Agents
          </Link>
          <AdminLinks go={go} path={path} signedIn={key} />
          <a href="/docs">API docs</a>
        </nav>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            clearKey();
            setKeyState(null);
          }}
        >
          Sign out
        </button>
      </header>
      <FocusOnNavigate path={path} />
      <main id="main" tabIndex={-1}>
        {m ? <AgentPage name={decodeURIComponent(m[1])} tab={m[2] ?? 'examples'} go={go} /> : path === '/' ? <Agents go={go} /> : keysPage ? <Keys /> : <NotFound go={go} />}
      </main>
    </>
  );
}

/** The Keys link, for keys that may manage keys (admin): asked of the server once per key. */
function AdminLinks({ go, path, signedIn }: { go: (to: string) => void; path: string; signedIn: string }) {
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    let live = true;
    client.GET('/v1/keys').then(
      (r) => live && setAdmin(r.response.ok),
      () => live && setAdmin(false),
    );
    return () => {
      live = false;
    };
  }, [signedIn]);
  if (!admin) return null;
  return (
    <Link to="/keys" go={go} current={path === '/keys'}>
      Keys
    </Link>
  );
}

function NotFound({ go }: { go: (to: string) => void }) {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        <Link to="/" go={go}>
          Back to the agents
        </Link>
      </p>
    </section>
  );
}

function KeyScreen({ onKey, rejected }: { onKey: (key: string, remember: boolean) => void; rejected: boolean }) {
  const [value, setValue] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(rejected ? new Error('The server did not accept that API key. Enter another.') : null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    // Check the key before keeping it.
    const res = await fetch('/v1/agents', { headers: { authorization: `Bearer ${value.trim()}` } }).catch(() => null);
    setBusy(false);
    if (!res) return setError(new Error('cannot reach the server'));
    if (res.ok) return onKey(value.trim(), remember);
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    setError(new Error(body.error?.message ?? `the server answered HTTP ${res.status}`));
  };
  return (
    <main id="main" className="key-screen">
      <form onSubmit={submit} className="card">
        <h1>Exemplar</h1>
        <p>Enter an API key to manage agents. Create one with <code>exemplar keys create --scope admin</code>.</p>
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} aria-describedby="remember-warning" /> Stay signed in on this browser
        </label>
        <p id="remember-warning" className="hint">
          {remember
            ? 'The key will be saved in this browser (localStorage) until you sign out: anyone who uses this browser profile, and any script that runs on this page, can read it. Do not choose this on a shared computer.'
            : 'The key is kept in this browser tab only (sessionStorage) and is forgotten when the tab closes.'}
        </p>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy || !value.trim()}>
          {busy ? 'Checking…' : 'Continue'}
        </button>
      </form>
    </main>
  );
}
