import { useEffect, useRef, useState, type FormEvent } from 'react';
import { client, ok, type Agent, type ExampleType, type SearchResponse, type TuneResult } from './api.ts';
import { Bar, Empty, ErrorBox, useAction, useDebounced } from './ui.tsx';

export function Search({ agent, onAgentChanged }: { agent: Agent; onAgentChanged?: () => void }) {
  const [query, setQuery] = useState('');
  const [alpha, setAlpha] = useState(agent.similarityWeight);
  const [beta, setBeta] = useState(agent.scoreWeight);
  const [minScore, setMinScore] = useState('0');
  const [type, setType] = useState('');
  const [topK, setTopK] = useState('10');
  const [res, setRes] = useState<SearchResponse | null>(null);
  /** The query the results are for, and this query's judgments by example id. */
  const [asked, setAsked] = useState('');
  const [grades, setGrades] = useState<Map<string, number>>(new Map());
  const { busy, error, act } = useAction();
  const judging = useAction();
  const seq = useRef(0);
  const search = () =>
    act(async () => {
      const n = ++seq.current;
      const [found, judged] = await Promise.all([
        ok(client.POST('/v1/agents/{agent}/search', { params: { path: { agent: agent.name } }, body: {
          query,
          similarityWeight: alpha,
          scoreWeight: beta,
          minScore: Number(minScore) || 0,
          topK: Number(topK) || 10,
          ...(type ? { exampleType: type as ExampleType } : {}),
        } })),
        ok(client.GET('/v1/agents/{agent}/judgments', { params: { path: { agent: agent.name }, query: { query } } })),
      ]);
      if (n !== seq.current) return; // a later search is on its way
      setRes(found);
      setAsked(query);
      setGrades(new Map(judged.items.map((j) => [j.exampleId, j.grade])));
    });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void search();
  };
  // Sliders and filters re-run the search after a short pause, once there is a query.
  const settled = useDebounced(JSON.stringify([query, alpha, beta, minScore, type, topK]), 400);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    if (query.trim()) void search();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settled]);
  const judge = (exampleId: string, grade: number) =>
    judging.act(async () => {
      await ok(client.POST('/v1/agents/{agent}/judgments', { params: { path: { agent: agent.name } }, body: { query: asked, exampleId, grade } }));
      setGrades((g) => new Map(g).set(exampleId, grade));
    });
  return (
    <div className="tab-body">
      <form className="card" onSubmit={submit} aria-label="Search playground">
        <label>
          Query
          <input type="search" name="query" required value={query} onChange={(e) => setQuery(e.target.value)} placeholder="What is the agent asked to do?" />
        </label>
        <div className="grid">
          <label>
            α similarity weight: <output>{alpha.toFixed(2)}</output>
            <input type="range" name="alpha" min={0} max={1} step={0.05} value={alpha} onChange={(e) => setAlpha(Number(e.target.value))} />
          </label>
          <label>
            β reward weight: <output>{beta.toFixed(2)}</output>
            <input type="range" name="beta" min={0} max={1} step={0.05} value={beta} onChange={(e) => setBeta(Number(e.target.value))} />
          </label>
          <label>
            Min reward
            <input type="number" min={0} max={1} step="any" value={minScore} onChange={(e) => setMinScore(e.target.value)} />
          </label>
          <label>
            Type
            <select value={type} onChange={(e) => setType(e.target.value)}>
              <option value="">Any</option>
              <option value="positive">Positive</option>
              <option value="negative">Negative</option>
            </select>
          </label>
          <label>
            Results
            <input type="number" min={1} max={200} value={topK} onChange={(e) => setTopK(e.target.value)} />
          </label>
        </div>
        <button type="submit" disabled={busy || !query.trim()}>
          {busy ? 'Searching…' : 'Search'}
        </button>
      </form>
      <ErrorBox error={error} />
      {res &&
        (res.results.length === 0 ? (
          <Empty>No examples matched. Lower the minimum reward or import examples first.</Empty>
        ) : (
          <>
            <p className="muted">
              hybrid = α·similarity + β·reward with α {res.similarityWeight}, β {res.scoreWeight} · similarity is the cosine, −1..1
              (below 0: the example points away from the query) · index model {res.model}
            </p>
            <p className="muted">Mark each result relevant or not to this query: your judgments measure and tune the search below.</p>
            <ErrorBox error={judging.error} />
            <ol className="results">
              {res.results.map((r) => {
                const grade = grades.get(r.id);
                return (
                  <li key={r.id} className="card result">
                    <div className="result-text">
                      <p className="prompt">
                        <span className={`tag ${r.exampleType}`}>{r.exampleType}</span> {r.input}
                      </p>
                      <p className="completion">{r.output}</p>
                      <div className="judge" role="group" aria-label={`Judge result ${r.rank}`}>
                        <button type="button" className={grade !== undefined && grade > 0 ? 'chosen' : ''} aria-pressed={grade !== undefined && grade > 0} onClick={() => judge(r.id, 1)}>
                          Relevant
                        </button>
                        <button type="button" className={grade === 0 ? 'chosen' : ''} aria-pressed={grade === 0} onClick={() => judge(r.id, 0)}>
                          Not relevant
                        </button>
                      </div>
                    </div>
                    <div className="bars">
                      {r.similarity !== null && <Bar label="Similarity" kind="sim" value={Math.max(0, r.similarity)} text={r.similarity.toFixed(3)} />}
                      <Bar label="Reward" kind="reward" value={r.score} />
                      {r.hybridScore !== null && <Bar label="Hybrid" kind="hybrid" value={r.hybridScore} />}
                    </div>
                  </li>
                );
              })}
            </ol>
          </>
        ))}
      <Tuning agent={agent} onApplied={(a, b) => { setAlpha(a); setBeta(b); onAgentChanged?.(); }} />
    </div>
  );
}

/** Measures the search on the judgments made so far, and tunes α and β on them. */
function Tuning({ agent, onApplied }: { agent: Agent; onApplied: (alpha: number, beta: number) => void }) {
  const [result, setResult] = useState<TuneResult | null>(null);
  const { busy, error, act } = useAction();
  const run = (apply: boolean) =>
    act(async () => {
      setResult(null);
      const r = await ok(client.POST('/v1/agents/{agent}/search/tune', { params: { path: { agent: agent.name } }, body: { apply } }));
      setResult(r);
      if (r.applied) onApplied(r.best.similarityWeight, r.best.scoreWeight);
    });
  const better = result && result.best.ndcgAt10 > result.current.ndcgAt10;
  return (
    <section className="card" aria-label="Search tuning">
      <h3>Relevance of this agent's search</h3>
      <p className="muted">
        Runs every judged query through the search for α from 0 to 1 (β = 1 − α) and scores it: hit@1 and hit@5 (a relevant result first, or in
        the top 5), and nDCG@10, which also rewards putting the better-rated relevant examples first.
      </p>
      <button type="button" disabled={busy} onClick={() => run(false)}>
        {busy ? 'Measuring…' : 'Measure on my judgments'}
      </button>
      <ErrorBox error={error} />
      {result && (
        <div aria-label="Tuning result">
          <p>
            {result.questions} judged {result.questions === 1 ? 'query' : 'queries'}. Now (α {result.current.similarityWeight}, β {result.current.scoreWeight}): hit@1{' '}
            {result.current.hitAt1}, hit@5 {result.current.hitAt5}, nDCG@10 {result.current.ndcgAt10}. Best (α {result.best.similarityWeight}, β{' '}
            {result.best.scoreWeight}): hit@1 {result.best.hitAt1}, hit@5 {result.best.hitAt5}, nDCG@10 {result.best.ndcgAt10}.
            {result.applied ? ' Applied.' : ''}
          </p>
          {better && !result.applied && (
            <button type="button" disabled={busy} onClick={() => run(true)}>
              Use α {result.best.similarityWeight}, β {result.best.scoreWeight}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
