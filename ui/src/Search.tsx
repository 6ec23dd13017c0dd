import { useState, type FormEvent } from 'react';
import { api, enc, type Agent, type ExampleType, type SearchResponse } from './api.ts';
import { Bar, Empty, ErrorBox, useAction } from './ui.tsx';

export function Search({ agent }: { agent: Agent }) {
  const [query, setQuery] = useState('');
  const [alpha, setAlpha] = useState(agent.similarityWeight);
  const [beta, setBeta] = useState(agent.scoreWeight);
  const [minScore, setMinScore] = useState('0');
  const [type, setType] = useState('');
  const [topK, setTopK] = useState('10');
  const [res, setRes] = useState<SearchResponse | null>(null);
  const { busy, error, act } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act(async () => {
      setRes(
        await api<SearchResponse>('POST', `/v1/agents/${enc(agent.name)}/search`, {
          query,
          similarityWeight: alpha,
          scoreWeight: beta,
          minScore: Number(minScore) || 0,
          topK: Number(topK) || 10,
          ...(type ? { exampleType: type as ExampleType } : {}),
        }),
      );
    });
  };
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
            <input type="number" min={0} max={1} step={0.05} value={minScore} onChange={(e) => setMinScore(e.target.value)} />
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
              hybrid = α·(1+similarity)/2 + β·reward with α {res.similarityWeight}, β {res.scoreWeight} · index model {res.model}
            </p>
            <ol className="results">
              {res.results.map((r) => (
                <li key={r.id} className="card result">
                  <div className="result-text">
                    <p className="prompt">
                      <span className={`tag ${r.exampleType}`}>{r.exampleType}</span> {r.input}
                    </p>
                    <p className="completion">{r.output}</p>
                  </div>
                  <div className="bars">
                    <Bar label="Similarity" kind="sim" value={(1 + r.similarity) / 2} text={r.similarity.toFixed(3)} />
                    <Bar label="Reward" kind="reward" value={r.score} />
                    <Bar label="Hybrid" kind="hybrid" value={r.hybridScore} />
                  </div>
                </li>
              ))}
            </ol>
          </>
        ))}
    </div>
  );
}
