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

const PAIRED: Format[] = ['openai-dpo', 'trl-preference'];

/** Numbers typed by people: '' is "not set"; anything else must be a number in range. */
function optionalNumber(label: string, raw: string, min: number, max: number): number | undefined {
  if (raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${label} must be a number from ${min} to ${max}.`);
  return n;
}

function DatasetBuilder({ agent }: { agent: Agent }) {
  const [format, setFormat] = useState<Format>('openai-sft');
  const [query, setQuery] = useState('');
  const [type, setType] = useState<'' | 'positive' | 'negative'>('');
  const [minScore, setMinScore] = useState('');
  const [maxScore, setMaxScore] = useState('');
  const [split, setSplit] = useState('0.1');
  const [seed, setSeed] = useState('');
  const [limit, setLimit] = useState('');
  const [redact, setRedact] = useState(false);
  const [dedupe, setDedupe] = useState(true);
  const [nearDup, setNearDup] = useState('');
  const { busy, error, act } = useAction();
  const [res, setRes] = useState<DatasetResult | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setRes(null); // a new build never shows the last one's result under its error
    await act(async () => {
      const min = optionalNumber('Min reward', minScore, 0, 1);
      const max = optionalNumber('Max reward', maxScore, 0, 1);
      if (min !== undefined && max !== undefined && min > max) throw new Error(`Min reward ${min} is above max reward ${max}: no example could be selected.`);
      const body: DatasetBody = {
        format,
        ...(query.trim() ? { query: query.trim() } : {}),
        ...(type ? { exampleType: type } : {}),
        ...(min !== undefined ? { minScore: min } : {}),
        ...(max !== undefined ? { maxScore: max } : {}),
        validationFraction: optionalNumber('The validation share', split, 0, 0.5) ?? 0,
        ...(seed.trim() ? { seed: optionalNumber('The seed', seed, 0, Number.MAX_SAFE_INTEGER) } : {}),
        ...(limit.trim() ? { limit: optionalNumber('Most examples', limit, 1, 1_000_000) } : {}),
        ...(nearDup.trim() ? { nearDuplicateThreshold: optionalNumber('The near-duplicate threshold', nearDup, 0, 1) } : {}),
        dedupe,
        redact,
      };
      setRes(await ok(client.POST('/v1/agents/{agent}/datasets', { params: { path: { agent: agent.name } }, body })));
    });
  };
  const paired = PAIRED.includes(format);
  const noPairs = res && paired && res.records === 0;
  return (
    <form className="card" onSubmit={submit} aria-labelledby="dataset-title">
      <h2 id="dataset-title">Build a dataset</h2>
      <div className="grid">
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as Format)}>
            {FORMATS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value as typeof type)}>
            <option value="">Default for the format</option>
            <option value="positive">Positive only</option>
            <option value="negative">Negative only</option>
          </select>
        </label>
        <label>
          Min reward
          <input type="number" min={0} max={1} step="any" value={minScore} onChange={(e) => setMinScore(e.target.value)} />
        </label>
        <label>
          Max reward
          <input type="number" min={0} max={1} step="any" value={maxScore} onChange={(e) => setMaxScore(e.target.value)} />
        </label>
        <label>
          Validation share (split, 0–0.5)
          <input type="number" min={0} max={0.5} step="any" value={split} onChange={(e) => setSplit(e.target.value)} />
        </label>
      </div>
      <label>
        Query (optional): the examples most relevant to it
        <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="e.g. reading csv files" />
      </label>
      <div className="row wrap">
        <label className="check">
          <input type="checkbox" checked={redact} onChange={(e) => setRedact(e.target.checked)} /> Redact emails, phone numbers and API keys
        </label>
        <label className="check">
          <input type="checkbox" checked={dedupe} onChange={(e) => setDedupe(e.target.checked)} /> Remove duplicates
        </label>
      </div>
      <details>
        <summary>More options</summary>
        <div className="grid">
          <label>
            Split seed
            <input type="number" step={1} min={0} value={seed} onChange={(e) => setSeed(e.target.value)} placeholder="random" />
          </label>
          <label>
            Most examples
            <input type="number" step={1} min={1} value={limit} onChange={(e) => setLimit(e.target.value)} placeholder="all" />
          </label>
          <label>
            Near-duplicate threshold (0 turns it off)
            <input type="number" min={0} max={1} step="any" value={nearDup} onChange={(e) => setNearDup(e.target.value)} placeholder="server default" />
          </label>
        </div>
      </details>
      {paired && <p className="hint">{format} pairs a positive and a negative example with the same prompt: prompts without both are left out.</p>}
      <button type="submit" disabled={busy}>
        {busy ? 'Building…' : 'Build dataset'}
      </button>
      {busy && <Progress value={null} label="Selecting, deduplicating and splitting examples…" />}
      <ErrorBox error={error} />
      {error && paired && /pair/i.test(String((error as Error).message)) ? <DpoHelp /> : null}
      {res && (
        <div role="status" className="ok">
          <p>
            {res.format}: {res.report.train.examples} train ({res.report.train.tokens} tokens), {res.report.validation.examples} validation ({res.report.validation.tokens} tokens) from{' '}
            {res.report.selected} selected; removed {res.report.removed.exactDuplicates} exact and {res.report.removed.nearDuplicates} near duplicates
            {res.report.removed.unpaired ? `, ${res.report.removed.unpaired} without a pair` : ''}.
          </p>
          {res.report.notes.map((n) => (
            <p key={n} className="muted">
              {n}
            </p>
          ))}
          {noPairs && <DpoHelp />}
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

function DpoHelp() {
  return (
    <p className="note" data-testid="dpo-help">
      No pair was found. A preference pair needs a <strong>positive</strong> and a <strong>negative</strong> example with the <strong>same prompt</strong>: the positive is the
      chosen answer, the negative the rejected one. Add a bad answer as a negative example for a prompt that already has a good one (or the reverse), or widen the
      reward range so both are selected.
    </p>
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
              <div className="row wrap">
                <button type="button" className="secondary" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
                  {open === r.id ? 'Hide details' : 'Details and logs'}
                </button>
                {!FINISHED.includes(r.status) && <CancelRun id={r.id} onDone={runs.reload} />}
              </div>
              {open === r.id && <RunDetail id={r.id} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const FINISHED = ['succeeded', 'failed', 'cancelled'];

function CancelRun({ id, onDone }: { id: string; onDone: () => void }) {
  const { busy, error, act } = useAction();
  return (
    <>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => {
          if (confirm('Cancel this run? A run that has started training is stopped where the backend allows it.'))
            void act(async () => {
              await ok(client.POST('/v1/runs/{id}/cancel', { params: { path: { id } } }));
              onDone();
            });
        }}
      >
        {busy ? 'Cancelling…' : 'Cancel run'}
      </button>
      <ErrorBox error={error} />
    </>
  );
}

function RunDetail({ id }: { id: string }) {
  const run = useLoad(() => ok(client.GET('/v1/runs/{id}', { params: { path: { id } } })), [id]);
  const logs = useLoad(() => ok(client.GET('/v1/runs/{id}/logs', { params: { path: { id } } })), [id]);
  const active = run.data && !FINISHED.includes(run.data.status);
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
