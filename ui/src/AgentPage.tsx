import { client, enc, ok } from './api.ts';
import { lazy, Suspense } from 'react';
import { Examples } from './Examples.tsx';
import { IndexTab } from './IndexTab.tsx';
import { Prompts } from './Prompts.tsx';
import { Runs } from './Runs.tsx';
import { Search } from './Search.tsx';
import { ErrorBox, Link, useLoad } from './ui.tsx';

const Review = lazy(() => import('./Review.tsx'));
const Quality = lazy(() => import('./Quality.tsx'));
const Evaluations = lazy(() => import('./Evaluations.tsx'));

const TABS = [
  ['examples', 'Examples'],
  ['review', 'Review'],
  ['quality', 'Quality'],
  ['search', 'Search'],
  ['prompts', 'Prompt versions'],
  ['evaluations', 'Evaluations'],
  ['index', 'Index'],
  ['runs', 'Datasets & runs'],
] as const;

export function AgentPage({ name, tab, go }: { name: string; tab: string; go: (to: string) => void }) {
  const agent = useLoad(() => ok(client.GET('/v1/agents/{agent}', { params: { path: { agent: name } } })), [name]);
  const base = `/agents/${enc(name)}`;
  if (agent.error)
    return (
      <section>
        <h1>{name}</h1>
        <ErrorBox error={agent.error} />
        <Link to="/" go={go}>
          Back to the agents
        </Link>
      </section>
    );
  const a = agent.data;
  return (
    <section>
      <p className="crumbs">
        <Link to="/" go={go}>
          Agents
        </Link>{' '}
        /
      </p>
      <h1>{name}</h1>
      {a && (
        <p className="muted agent-meta">
          {a.description && <span className="desc">{a.description} · </span>}
          <span>{a.exampleCount} examples</span> · <span>α {a.similarityWeight}</span> · <span>β {a.scoreWeight}</span> · <span>{a.embeddingModel}</span>
        </p>
      )}
      <nav className="tabs" aria-label="Agent sections">
        {TABS.map(([id, label]) => (
          <Link key={id} to={id === 'examples' ? base : `${base}/${id}`} go={go} current={tab === id}>
            {label}
          </Link>
        ))}
      </nav>
      {a &&
        (tab === 'examples' ? (
          <Examples agent={a} onChange={agent.reload} />
        ) : tab === 'review' ? (
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <Review agent={a} />
          </Suspense>
        ) : tab === 'quality' ? (
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <Quality agent={a} />
          </Suspense>
        ) : tab === 'search' ? (
          <Search agent={a} onAgentChanged={agent.reload} />
        ) : tab === 'prompts' ? (
          <Prompts agent={a} />
        ) : tab === 'evaluations' ? (
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <Evaluations agent={a} />
          </Suspense>
        ) : tab === 'index' ? (
          <IndexTab agent={a} />
        ) : tab === 'runs' ? (
          <Runs agent={a} />
        ) : (
          <p>Unknown tab.</p>
        ))}
    </section>
  );
}
