import { useEffect, useState, type FormEvent } from 'react';
import { availableRoutes, client, ok, type Agent, type DatasetBody, type DatasetResult, type PostBody, type Run } from './api.ts';

type Format = DatasetBody['format'];
type Backend = PostBody<'/v1/agents/{agent}/runs'>['backend'];
import { Empty, ErrorBox, Progress, useAction, useLoad, when } from './ui.tsx';

// Formats the dataset builder knows (the server validates; an unknown one gets its error message shown).
const FORMATS: Format[] = ['openai-sft', 'openai-dpo', 'trl-prompt-completion', 'trl-conversational', 'trl-preference', 'trl-kto', 'axolotl-alpaca', 'axolotl-chat-template'];

export function Runs({ agent }: { agent: Agent }) {
  const routes = useLoad(() => availableRoutes(), []);
  if (!routes.data) return <p aria-busy="true">Loading…</p>;
  const datasets = routes.data.has('POST /v1/agents/{agent}/datasets');
  const runs = routes.data.has('GET /v1/agents/{agent}/runs');
  return (
    <div className="tab-body">
      {datasets ? <DatasetBuilder agent={agent} /> : <Empty>Dataset builds are not available on this server.</Empty>}
      {runs ? <RunList agent={agent} canCreate={routes.data.has('POST /v1/agents/{agent}/runs')} /> : <Empty>Fine-tuning runs are not available on this server.</Empty>}
    </div>
  );
}

function download(name: string, text: string) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/jsonl' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function DatasetBuilder({ agent }: { agent: Agent }) {
  const [format, setFormat] = useState<Format>('openai-sft');
  const [minScore, setMinScore] = useState('');
  const { busy, error, act } = useAction();
  const [res, setRes] = useState<DatasetResult | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act(async () => {
      setRes(await ok(client.POST('/v1/agents/{agent}/datasets', { params: { path: { agent: agent.name } }, body: { format, ...(minScore !== '' ? { minScore: Number(minScore) } : {}) } })));
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="dataset-title">
      <h2 id="dataset-title">Build a dataset</h2>
      <div className="row wrap">
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as Format)}>
            {FORMATS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        <label>
          Min reward
          <input type="number" min={0} max={1} step={0.05} value={minScore} onChange={(e) => setMinScore(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Building…' : 'Build dataset'}
        </button>
      </div>
      {busy && <Progress value={null} label="Selecting, deduplicating and splitting examples…" />}
      <ErrorBox error={error} />
      {res && (
        <div role="status" className="ok">
          <p>
            {res.format}: {res.report.train.examples} train ({res.report.train.tokens} tokens), {res.report.validation.examples} validation ({res.report.validation.tokens} tokens) from{' '}
            {res.report.selected} selected; removed {res.report.removed.exactDuplicates} exact and {res.report.removed.nearDuplicates} near duplicates.
          </p>
          {res.report.notes.map((n) => (
            <p key={n} className="muted">
              {n}
            </p>
          ))}
          <div className="row">
            <button type="button" className="secondary" onClick={() => download(`${agent.name}-${res.format}-train.jsonl`, res.train)}>
              Download train.jsonl
            </button>
            {res.validation && (
              <button type="button" className="secondary" onClick={() => download(`${agent.name}-${res.format}-validation.jsonl`, res.validation)}>
                Download validation.jsonl
              </button>
            )}
          </div>
        </div>
      )}
    </form>
  );
}

function RunList({ agent, canCreate }: { agent: Agent; canCreate: boolean }) {
  const runs = useLoad(() => ok(client.GET('/v1/agents/{agent}/runs', { params: { path: { agent: agent.name } } })), [agent.name]);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Fine-tuning runs</h2>
      {canCreate && <CreateRun agent={agent} onCreated={(r) => (runs.reload(), setOpen(r.id))} />}
      <ErrorBox error={runs.error} />
      {runs.data && runs.data.items.length === 0 ? (
        <Empty>No fine-tuning runs yet.</Empty>
      ) : (
        <ul className="runs">
          {runs.data?.items.map((r) => (
            <li key={r.id} className="card">
              <p>
                <span className={`tag status-${r.status}`}>{r.status}</span> <strong>{r.baseModel}</strong> · {r.backend} · {r.datasetFormat} · {when(r.createdAt)}
                {r.resultModel && <> → {r.resultModel}</>}
              </p>
              {r.error && <p className="error">{r.error}</p>}
              <button type="button" className="secondary" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
                {open === r.id ? 'Hide details' : 'Details and logs'}
              </button>
              {open === r.id && <RunDetail id={r.id} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function RunDetail({ id }: { id: string }) {
  const run = useLoad(() => ok(client.GET('/v1/runs/{id}', { params: { path: { id } } })), [id]);
  const logs = useLoad(() => ok(client.GET('/v1/runs/{id}/logs', { params: { path: { id } } })), [id]);
  const active = run.data && !['succeeded', 'failed', 'cancelled'].includes(run.data.status);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => (run.reload(), logs.reload()), 5000);
    return () => clearInterval(t);
  }, [active]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div className="run-detail">
      <ErrorBox error={run.error ?? logs.error} />
      {run.data && (
        <>
          {run.data.examples && (
            <p>
              {run.data.examples.train} train / {run.data.examples.validation} validation examples
            </p>
          )}
          <ol className="history">
            {run.data.statusHistory.map((h, i) => (
              <li key={i}>
                {h.status} · {when(h.at)}
              </li>
            ))}
          </ol>
        </>
      )}
      <h3>Log</h3>
      <pre className="log">{logs.data ? logs.data.logs || '(no log yet)' : '…'}</pre>
    </div>
  );
}

function CreateRun({ agent, onCreated }: { agent: Agent; onCreated: (r: Run) => void }) {
  const [backend, setBackend] = useState<Backend>('external');
  const [baseModel, setBaseModel] = useState('');
  const [format, setFormat] = useState<Format>('openai-sft');
  const { busy, error, act } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act(async () => {
      onCreated(await ok(client.POST('/v1/agents/{agent}/runs', { params: { path: { agent: agent.name } }, body: { backend, baseModel, format } })));
    });
  };
  return (
    <details className="card">
      <summary>Start a run</summary>
      <form onSubmit={submit}>
        <div className="row wrap">
          <label>
            Backend
            <select value={backend} onChange={(e) => setBackend(e.target.value as Backend)}>
              <option value="external">external</option>
              <option value="openai">openai</option>
              <option value="local">local</option>
            </select>
          </label>
          <label>
            Base model
            <input required value={baseModel} onChange={(e) => setBaseModel(e.target.value)} placeholder="gpt-4.1-mini-2025-04-14" />
          </label>
          <label>
            Format
            <select value={format} onChange={(e) => setFormat(e.target.value as Format)}>
              {FORMATS.map((f) => (
                <option key={f}>{f}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy}>
            {busy ? 'Starting…' : 'Start run'}
          </button>
        </div>
        <ErrorBox error={error} />
      </form>
    </details>
  );
}
