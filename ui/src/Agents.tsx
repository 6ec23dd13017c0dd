import { useState, type FormEvent } from 'react';
import { client, enc, ok, type Agent } from './api.ts';
import { Empty, ErrorBox, Link, useAction, useLoad } from './ui.tsx';

export function Agents({ go }: { go: (to: string) => void }) {
  const agents = useLoad(() => ok(client.GET('/v1/agents')), []);
  return (
    <section>
      <h1>Agents</h1>
      <ErrorBox error={agents.error} />
      {agents.loading && !agents.data ? (
        <p aria-busy="true">Loading…</p>
      ) : agents.data && agents.data.items.length === 0 ? (
        <Empty>No agents yet. Create the first one below.</Empty>
      ) : (
        agents.data && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col" className="num">Examples</th>
                  <th scope="col" className="num wide-only">α / β</th>
                  <th scope="col" className="wide-only">Embeddings</th>
                </tr>
              </thead>
              <tbody>
                {agents.data.items.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <Link to={`/agents/${enc(a.name)}`} go={go}>
                        {a.name}
                      </Link>
                    </td>
                    <td className="clip">{a.description || <span className="muted">—</span>}</td>
                    <td className="num">{a.exampleCount}</td>
                    <td className="num wide-only">
                      {a.similarityWeight} / {a.scoreWeight}
                    </td>
                    <td className="wide-only">{a.embeddingModel}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}
      <CreateAgent onCreated={(a) => go(`/agents/${enc(a.name)}`)} />
    </section>
  );
}

function CreateAgent({ onCreated }: { onCreated: (a: Agent) => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [alpha, setAlpha] = useState('0.6');
  const [beta, setBeta] = useState('0.4');
  const { busy, error, act } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act(async () => {
      onCreated(await ok(client.POST('/v1/agents', { body: { name: name.trim(), description, similarityWeight: Number(alpha), scoreWeight: Number(beta) } })));
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-agent">
      <h2 id="create-agent">Create an agent</h2>
      <div className="grid">
        <label>
          Name
          <input name="name" required value={name} onChange={(e) => setName(e.target.value)} placeholder="code-helper" />
        </label>
        <label>
          α (similarity weight)
          <input name="alpha" type="number" min={0} max={1} step="any" value={alpha} onChange={(e) => setAlpha(e.target.value)} />
        </label>
        <label>
          β (reward weight)
          <input name="beta" type="number" min={0} max={1} step="any" value={beta} onChange={(e) => setBeta(e.target.value)} />
        </label>
      </div>
      <label>
        Description
        <textarea name="description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Creating…' : 'Create agent'}
      </button>
    </form>
  );
}
