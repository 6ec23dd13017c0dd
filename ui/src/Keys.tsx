// API keys, for admin keys: list, create (the key is shown once, with a copy button) and revoke.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { client, ok, type paths } from './api.ts';
import { ErrorBox, useAction, useLoad, when } from './ui.tsx';

type Created = paths['/v1/keys']['post']['responses'][200]['content']['application/json'];

export function Keys() {
  const keys = useLoad(() => ok(client.GET('/v1/keys')), []);
  const [created, setCreated] = useState<Created | null>(null);
  const revoking = useAction();
  return (
    <section>
      <h1>API keys</h1>
      <p className="muted">Keys for the HTTP API, MCP and this UI. A key is shown once, when it is created; Exemplar keeps only its hash.</p>
      <ErrorBox error={keys.error} />
      <CreateKey onCreated={(k) => (setCreated(k), keys.reload())} />
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      <ErrorBox error={revoking.error} />
      {keys.data && (
        <div className="table-wrap">
          <table aria-label="API keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scopes</th>
                <th scope="col" className="wide-only">
                  Prefix
                </th>
                <th scope="col" className="wide-only">
                  Created
                </th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.items.map((k) => (
                <tr key={k.id} data-id={k.id}>
                  <td>{k.name || <span className="muted">(no name)</span>}</td>
                  <td>{k.scopes.join(', ')}</td>
                  <td className="wide-only">
                    <code>{k.prefix}…</code>
                  </td>
                  <td className="wide-only">{when(k.createdAt)}</td>
                  <td>{when(k.lastUsedAt)}</td>
                  <td>
                    {k.revokedAt ? (
                      <span className="tag">revoked {when(k.revokedAt)}</span>
                    ) : (
                      <button
                        type="button"
                        className="danger"
                        disabled={revoking.busy}
                        aria-label={`Revoke ${k.name || k.prefix}`}
                        onClick={() => {
                          if (confirm(`Revoke the key "${k.name || k.prefix}"? Every request with it is refused from now on${k.scopes.includes('admin') ? ', and if it is the key you are signed in with, you are signed out' : ''}.`))
                            void revoking.act(async () => {
                              await ok(client.POST('/v1/keys/{id}/revoke', { params: { path: { id: k.id } } }));
                              keys.reload();
                            });
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CreateKey({ onCreated }: { onCreated: (k: Created) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState('');
  const { busy, error, act } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const scope = scopes.split(/[\s,]+/).filter(Boolean);
      if (!scope.length) throw new Error('Give at least one scope: admin, read:<agent> or write:<agent>.');
      onCreated(await ok(client.POST('/v1/keys', { body: { scope, ...(name.trim() ? { name: name.trim() } : {}) } })));
      setName('');
      setScopes('');
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-key">
      <h2 id="create-key">Create a key</h2>
      <div className="grid">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="cursor on alice's laptop" />
        </label>
        <label>
          Scopes
          <input value={scopes} onChange={(e) => setScopes(e.target.value)} placeholder="read:code-helper write:support-bot" required />
        </label>
      </div>
      <p className="hint">
        <code>admin</code> can do everything, <code>read:&lt;agent&gt;</code> can see one agent, <code>write:&lt;agent&gt;</code> can see and change it. Separate several with spaces.
      </p>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Creating…' : 'Create key'}
      </button>
    </form>
  );
}

function NewKey({ created, onDone }: { created: Created; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => input.current?.select(), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
    } catch {
      // No clipboard permission (an http page on another host): select it for Ctrl+C.
      input.current?.select();
      document.execCommand?.('copy');
    }
    setCopied(true);
  };
  return (
    <div className="card new-key" role="status" aria-labelledby="new-key-title">
      <h2 id="new-key-title">Key "{created.name || created.prefix}" created</h2>
      <p>
        <strong>Copy it now: it is not shown again.</strong> Scopes: {created.scopes.join(', ')}.
      </p>
      <div className="row">
        <input ref={input} readOnly value={created.key} aria-label="The new key" className="mono" onFocus={(e) => e.target.select()} />
        <button type="button" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <button type="button" className="link" onClick={onDone}>
        I have stored it: hide the key
      </button>
    </div>
  );
}
