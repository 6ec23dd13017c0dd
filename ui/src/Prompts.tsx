import { useEffect, useState, type FormEvent } from 'react';
import { availableRoutes, client, ok, type Agent, type EvalRunSummary, type PostBody, type PromptDiff, type PromptVersion } from './api.ts';

type Provider = NonNullable<PostBody<'/v1/agents/{agent}/prompt/optimize'>['provider']>;
import { Empty, ErrorBox, Progress, scoreText, useAction, useLoad, when } from './ui.tsx';

export function Prompts({ agent }: { agent: Agent }) {
  const base = agent.name;
  const path = { agent: base };
  const versions = useLoad(() => ok(client.GET('/v1/agents/{agent}/prompt/versions', { params: { path } })), [agent.name]);
  const items = versions.data?.items ?? [];
  // Each version's latest score: the newest completed evaluation run of it (the list is newest first).
  const evaluations = useLoad(
    async () => ((await availableRoutes()).has('GET /v1/agents/{agent}/evaluations') ? ok(client.GET('/v1/agents/{agent}/evaluations', { params: { path } })) : null),
    [agent.name],
  );
  const latest = new Map<number | null, EvalRunSummary>();
  for (const r of evaluations.data?.items ?? []) if (r.status === 'completed' && !latest.has(r.promptVersion)) latest.set(r.promptVersion, r);
  const baseline = latest.get(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [provider, setProvider] = useState<Provider | ''>('heuristic');
  const production = items.find((v) => v.labels.includes('production'));
  const candidate = items.find((v) => v.labels.includes('candidate'));

  const act = async (label: string, fn: () => Promise<string>) => {
    setBusy(label);
    setError(null);
    setNotice(null);
    try {
      setNotice(await fn());
      versions.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const optimize = () =>
    act('Optimizing the prompt from the best and worst examples…', async () => {
      const r = await ok(client.POST('/v1/agents/{agent}/prompt/optimize', { params: { path }, body: provider ? { provider } : {} }));
      return `Optimized (${r.method}, ${r.examplesUsed} examples): saved version ${r.version} as ${r.label}.`;
    });
  const promote = () =>
    act('Promoting…', async () => {
      const v = await ok(client.POST('/v1/agents/{agent}/prompt/promote', { params: { path }, body: { expectedVersion: production?.version ?? 0 } }));
      return `Version ${v.version} is now production.`;
    });
  const rollback = () =>
    act('Rolling back…', async () => {
      const v = await ok(client.POST('/v1/agents/{agent}/prompt/rollback', { params: { path }, body: {} }));
      return `Rolled back: production is now version ${v.version} (the content of version ${v.basedOnVersion}).`;
    });

  return (
    <div className="tab-body">
      <div className="card">
        <h2>Actions</h2>
        <p className="muted">
          Production: {production ? `v${production.version}` : 'none'} · Candidate: {candidate ? `v${candidate.version}` : 'none'}
          {baseline && (
            <>
              {' '}
              · No system prompt scores <LatestScore run={baseline} />
            </>
          )}
        </p>
        <div className="row wrap">
          <label>
            Optimizer
            <select value={provider} onChange={(e) => setProvider(e.target.value as Provider | '')}>
              <option value="heuristic">Heuristic (offline)</option>
              <option value="anthropic">Anthropic</option>
              <option value="openai">OpenAI-compatible</option>
              <option value="">Server default</option>
            </select>
          </label>
          <button type="button" onClick={optimize} disabled={busy !== null}>
            Optimize prompt
          </button>
          <button type="button" onClick={promote} disabled={busy !== null || !candidate || candidate === production}>
            Promote candidate
          </button>
          <button type="button" className="secondary" onClick={rollback} disabled={busy !== null || !production}>
            Roll back production
          </button>
        </div>
        {busy && <Progress value={null} label={busy} />}
        {notice && (
          <p role="status" className="ok">
            {notice}
          </p>
        )}
        <ErrorBox error={error} />
      </div>
      <NewVersion base={base} latest={items[0]?.version ?? 0} onSaved={versions.reload} />
      <ErrorBox error={versions.error ?? evaluations.error} />
      {versions.data && items.length === 0 ? (
        <Empty>No prompt versions yet. Write the first one above, or optimize to draft one from the examples.</Empty>
      ) : (
        items.length > 0 && (
          <>
            <Diff base={base} versions={items} />
            <h2>History</h2>
            <ol className="versions" reversed>
              {items.map((v) => (
                <li key={v.version} className="card">
                  <p>
                    <strong>v{v.version}</strong> {v.labels.map((l) => <span key={l} className={`tag ${l}`}>{l}</span>)} <span className="muted">
                      {v.source}
                      {v.basedOnVersion ? ` from v${v.basedOnVersion}` : ''}
                      {v.model ? ` · ${v.model}` : ''} · {v.createdByName} · {when(v.createdAt)}
                    </span>
                  </p>
                  {evaluations.data && (
                    <p className="small" data-testid={`latest-score-v${v.version}`}>
                      Latest score: {latest.has(v.version) ? <LatestScore run={latest.get(v.version)!} /> : <span className="muted">not evaluated yet</span>}
                    </p>
                  )}
                  {v.note && <p className="muted">{v.note}</p>}
                  <details>
                    <summary>Show prompt</summary>
                    <pre>{v.content}</pre>
                  </details>
                </li>
              ))}
            </ol>
          </>
        )
      )}
    </div>
  );
}

/** "0.72 (0.65–0.79), eval set v2", with the run's model and date on hover. */
function LatestScore({ run }: { run: EvalRunSummary }) {
  return (
    <span className="latest-score" title={`${run.provider}/${run.model}${run.judgeModel ? `, judge ${run.judgeModel}` : ', no judge'} · ${run.scored}/${run.items} scored · ${when(run.createdAt)}`}>
      <strong>{scoreText(run.meanScore, run.interval)}</strong>, eval set v{run.evalSetVersion}
    </span>
  );
}

function NewVersion({ base, latest, onSaved }: { base: string; latest: number; onSaved: () => void }) {
  const [content, setContent] = useState('');
  const [label, setLabel] = useState('candidate');
  const { busy, error, act } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act(async () => {
      await ok(client.POST('/v1/agents/{agent}/prompt/versions', { params: { path: { agent: base } }, body: { content, expectedVersion: latest, ...(label ? { label } : {}) } }));
      setContent('');
      onSaved();
    });
  };
  return (
    <details className="card">
      <summary>Write a new version</summary>
      <form onSubmit={submit}>
        <label>
          System prompt
          <textarea name="content" rows={5} required value={content} onChange={(e) => setContent(e.target.value)} />
        </label>
        <div className="row wrap">
          <label>
            Label
            <select value={label} onChange={(e) => setLabel(e.target.value)}>
              <option value="candidate">candidate (a draft to try; promote it when ready)</option>
              <option value="production">production (live at once)</option>
              <option value="">none</option>
            </select>
          </label>
          <button type="submit" disabled={busy || !content.trim()}>
            Save version
          </button>
        </div>
        <ErrorBox error={error} />
      </form>
    </details>
  );
}

function Diff({ base, versions }: { base: string; versions: PromptVersion[] }) {
  const newest = versions[0].version;
  const [from, setFrom] = useState(versions[1]?.version ?? newest);
  const [to, setTo] = useState(newest);
  useEffect(() => {
    setTo(newest);
    setFrom(versions[1]?.version ?? newest);
  }, [newest, versions]);
  const [diff, setDiff] = useState<PromptDiff | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    ok(client.GET('/v1/agents/{agent}/prompt/diff', { params: { path: { agent: base }, query: { from, to } } })).then(
      (d) => live && setDiff(d),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [base, from, to]);
  const options = versions.map((v) => (
    <option key={v.version} value={v.version}>
      v{v.version}
      {v.labels.length ? ` (${v.labels.join(', ')})` : ''}
    </option>
  ));
  return (
    <section className="card" aria-labelledby="diff-title">
      <h2 id="diff-title">Compare versions</h2>
      <div className="row wrap">
        <label>
          From
          <select value={from} onChange={(e) => setFrom(Number(e.target.value))}>
            {options}
          </select>
        </label>
        <label>
          To
          <select value={to} onChange={(e) => setTo(Number(e.target.value))}>
            {options}
          </select>
        </label>
      </div>
      <ErrorBox error={error} />
      {diff && (
        <div className="diff">
          <div>
            <h3>v{diff.from}</h3>
            <p className="diff-text" data-testid="diff-from">
              {diff.words.filter((w) => !w.added).map((w, i) => (w.removed ? <del key={i}>{w.value}</del> : <span key={i}>{w.value}</span>))}
            </p>
          </div>
          <div>
            <h3>v{diff.to}</h3>
            <p className="diff-text" data-testid="diff-to">
              {diff.words.filter((w) => !w.removed).map((w, i) => (w.added ? <ins key={i}>{w.value}</ins> : <span key={i}>{w.value}</span>))}
            </p>
          </div>
        </div>
      )}
    </section>
  );
}
