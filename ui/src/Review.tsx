// The review queue, like Argilla's: one example at a time, rated from the keyboard.
// 1-5 set the reward (0, 0.25, 0.5, 0.75, 1) and move on; p / n set the type; j / k move; e edits.
// Every rating is a PATCH, so it lands in the example's reward history under the key's name.
import { useCallback, useEffect, useRef, useState } from 'react';
import { client, ok, type Agent, type Example, type ExampleType, type ListExamplesQuery } from './api.ts';
import ExamplePanel, { Markdown } from './ExamplePanel.tsx';
import { Empty, ErrorBox, useLoad, when } from './ui.tsx';

export const BUCKETS = [0, 0.25, 0.5, 0.75, 1];
const QUEUE = 200;

export default function Review({ agent }: { agent: Agent }) {
  const [onlyUnrated, setOnlyUnrated] = useState(true);
  const [type, setType] = useState<'' | ExampleType>('');
  const [text, setText] = useState('');
  const [applied, setApplied] = useState<ListExamplesQuery>({ needsReview: true, sort: 'oldest' });
  const queue = useLoad(() => ok(client.GET('/v1/agents/{agent}/examples', { params: { path: { agent: agent.name }, query: { ...applied, limit: QUEUE } } })), [agent.name, JSON.stringify(applied)]);
  // The queue is fixed once loaded (a rated example stays in place), with local copies of what changed.
  const [items, setItems] = useState<Example[]>([]);
  const [index, setIndex] = useState(0);
  const [rated, setRated] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const stage = useRef<HTMLDivElement>(null);
  // Keys can come faster than renders: the handlers read the queue and position from refs.
  const itemsRef = useRef<Example[]>([]);
  const indexRef = useRef(0);
  const move = (i: number) => {
    indexRef.current = Math.max(0, Math.min(i, itemsRef.current.length));
    setIndex(indexRef.current);
  };
  useEffect(() => {
    itemsRef.current = queue.data?.items ?? [];
    setItems(itemsRef.current);
    move(0);
  }, [queue.data]);
  const current = items[index];

  const rate = useCallback(
    async (patch: { rewardScore?: number; exampleType?: ExampleType }, advance: boolean) => {
      const at = indexRef.current;
      const before = itemsRef.current[at];
      if (!before) return;
      const body = { rewardScore: patch.rewardScore ?? before.rewardScore, exampleType: patch.exampleType ?? before.exampleType };
      setError(null);
      // Optimistic: show the new values and move on at once; a failure is shown and undone.
      const replace = (x: Example) => {
        itemsRef.current = itemsRef.current.map((e) => (e.id === x.id ? x : e));
        setItems(itemsRef.current);
      };
      replace({ ...before, ...body });
      if (advance) move(at + 1);
      try {
        await ok(client.PATCH('/v1/examples/{id}', { params: { path: { id: before.id } }, body }));
        setRated((n) => n + 1);
      } catch (err) {
        setError(err);
        replace(before);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  );

  useEffect(() => {
    if (editing) return;
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest('input, textarea, select, [contenteditable=true]') || e.ctrlKey || e.metaKey || e.altKey) return;
      const bucket = '12345'.indexOf(e.key);
      if (bucket >= 0) void rate({ rewardScore: BUCKETS[bucket] }, true);
      else if (e.key === 'p') void rate({ exampleType: 'positive' }, false);
      else if (e.key === 'n') void rate({ exampleType: 'negative' }, false);
      else if (e.key === 'j' || e.key === 'ArrowRight') move(indexRef.current + 1);
      else if (e.key === 'k' || e.key === 'ArrowLeft') move(indexRef.current - 1);
      else if (e.key === 'e' && itemsRef.current[indexRef.current]) setEditing(true);
      else return;
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [editing]);

  return (
    <div className="tab-body review">
      <form
        className="filters"
        aria-label="Review queue"
        onSubmit={(e) => {
          e.preventDefault();
          setRated(0);
          setApplied({ ...(onlyUnrated ? { needsReview: true } : {}), ...(type ? { exampleType: type } : {}), ...(text.trim() ? { contains: text.trim() } : {}), sort: 'oldest' });
        }}
      >
        <label className="check">
          <input type="checkbox" checked={onlyUnrated} onChange={(e) => setOnlyUnrated(e.target.checked)} /> Only examples not yet rated
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value as typeof type)}>
            <option value="">Any</option>
            <option value="positive">Positive</option>
            <option value="negative">Negative</option>
          </select>
        </label>
        <label className="grow">
          Text
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="prompt or completion contains…" />
        </label>
        <button type="submit">Start review</button>
      </form>
      <p className="hint keys">
        <kbd>1</kbd>–<kbd>5</kbd> reward 0 / 0.25 / 0.5 / 0.75 / 1 and next · <kbd>p</kbd> positive · <kbd>n</kbd> negative · <kbd>j</kbd> / <kbd>k</kbd> next / previous · <kbd>e</kbd> edit
      </p>
      <ErrorBox error={queue.error ?? error} />
      <p className="muted" aria-live="polite" data-testid="review-progress">
        {queue.data ? `${Math.min(index + 1, items.length)} of ${items.length}${queue.data.total > items.length ? ` (${queue.data.total} in all)` : ''} · ${rated} rated this session` : 'Loading…'}
      </p>
      {queue.data && items.length === 0 ? (
        <Empty>Nothing to review: every example matching these filters has been rated.</Empty>
      ) : current ? (
        <div className="card review-card" ref={stage} data-id={current.id} aria-label="Example under review">
          <p className="muted small">
            <span className={`tag ${current.exampleType}`} data-testid="review-type">
              {current.exampleType}
            </span>{' '}
            reward <strong data-testid="review-reward">{current.rewardScore}</strong> · created {when(current.createdAt)} · {current.id.slice(0, 8)}
          </p>
          <h3>Prompt</h3>
          <Markdown text={current.prompt} label="Prompt" />
          <h3>Completion</h3>
          <Markdown text={current.completion} label="Completion" />
          <div className="row wrap review-buttons" role="group" aria-label="Rate">
            {BUCKETS.map((b, i) => (
              <button key={b} type="button" className={current.rewardScore === b ? '' : 'secondary'} onClick={() => void rate({ rewardScore: b }, true)}>
                {i + 1}: {b}
              </button>
            ))}
            <button type="button" className={current.exampleType === 'positive' ? '' : 'secondary'} onClick={() => void rate({ exampleType: 'positive' }, false)}>
              p: positive
            </button>
            <button type="button" className={current.exampleType === 'negative' ? '' : 'secondary'} onClick={() => void rate({ exampleType: 'negative' }, false)}>
              n: negative
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(true)}>
              e: edit
            </button>
          </div>
        </div>
      ) : (
        items.length > 0 && <Empty>End of the queue: {rated} rated. Start the review again for the rest.</Empty>
      )}
      {editing && current && (
        <ExamplePanel
          agent={agent.name}
          id={current.id}
          startEditing
          onClose={() => setEditing(false)}
          onSaved={() => {
            void ok(client.GET('/v1/examples/{id}', { params: { path: { id: current.id } } })).then((x) => {
              itemsRef.current = itemsRef.current.map((e) => (e.id === x.id ? { ...e, ...x } : e));
              setItems(itemsRef.current);
            });
          }}
        />
      )}
    </div>
  );
}
