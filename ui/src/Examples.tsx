import { useRef, useState, type FormEvent } from 'react';
import { client, importWithProgress, ok, type Agent, type Example, type ExampleType, type ImportResult } from './api.ts';
import { Empty, ErrorBox, Progress, useAction, useLoad, when } from './ui.tsx';

type Sort = 'newest' | 'oldest' | 'best' | 'worst';
const SORT_LABELS: Record<Sort, string> = { newest: 'Newest first', oldest: 'Oldest first', best: 'Best reward first', worst: 'Worst reward first' };

interface Filter {
  sort?: Sort;
  exampleType?: ExampleType;
  minScore?: number;
  maxScore?: number;
  contains?: string;
}
const PAGE = 20;

export function Examples({ agent, onChange }: { agent: Agent; onChange: () => void }) {
  const [filter, setFilter] = useState<Filter>({});
  // Cursors of the pages seen so far: the API pages forward only, so "Previous" goes back through these.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(
    () => ok(client.GET('/v1/agents/{agent}/examples', { params: { path: { agent: agent.name }, query: { ...filter, limit: PAGE, cursor } } })),
    [agent.name, JSON.stringify(filter), cursor],
  );
  const changed = () => {
    page.reload();
    onChange();
  };
  return (
    <div className="tab-body">
      <ImportForm agent={agent} onDone={() => (setCursors([undefined]), changed())} />
      <FilterForm onApply={(f) => (setFilter(f), setCursors([undefined]))} />
      <ErrorBox error={page.error} />
      <p className="muted" aria-live="polite">
        {SORT_LABELS[filter.sort ?? 'newest']} · page {cursors.length}
        {page.loading && ' · loading…'}
      </p>
      {page.data && page.data.items.length === 0 ? (
        <Empty>{Object.keys(filter).some((k) => k !== 'sort') ? 'No examples match these filters.' : 'No examples yet. Import a JSONL or CSV file above.'}</Empty>
      ) : (
        <ul className="examples">
          {page.data?.items.map((e) => <ExampleRow key={e.id} example={e} onChange={changed} />)}
        </ul>
      )}
      <div className="pager">
        <button type="button" className="secondary" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Previous
        </button>
        <button type="button" className="secondary" disabled={!page.data?.nextCursor} onClick={() => setCursors((c) => [...c, page.data!.nextCursor!])}>
          Next →
        </button>
      </div>
    </div>
  );
}

function FilterForm({ onApply }: { onApply: (f: Filter) => void }) {
  const [sort, setSort] = useState<Sort>('newest');
  const [type, setType] = useState('');
  const [min, setMin] = useState('');
  const [max, setMax] = useState('');
  const [text, setText] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const f: Filter = {};
    if (sort !== 'newest') f.sort = sort;
    if (type) f.exampleType = type as ExampleType;
    if (min !== '') f.minScore = Number(min);
    if (max !== '') f.maxScore = Number(max);
    if (text.trim()) f.contains = text.trim();
    onApply(f);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter examples">
      <label>
        Sort
        <select value={sort} onChange={(e) => setSort(e.target.value as Sort)}>
          {(Object.keys(SORT_LABELS) as Sort[]).map((s) => (
            <option key={s} value={s}>
              {SORT_LABELS[s]}
            </option>
          ))}
        </select>
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
        Min reward
        <input type="number" min={0} max={1} step={0.05} value={min} onChange={(e) => setMin(e.target.value)} />
      </label>
      <label>
        Max reward
        <input type="number" min={0} max={1} step={0.05} value={max} onChange={(e) => setMax(e.target.value)} />
      </label>
      <label className="grow">
        Text
        <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="prompt or completion contains…" />
      </label>
      <button type="submit">Apply filters</button>
    </form>
  );
}

function ExampleRow({ example, onChange }: { example: Example; onChange: () => void }) {
  const [reward, setReward] = useState(String(example.rewardScore));
  const [type, setType] = useState<ExampleType>(example.exampleType);
  const { busy, error, act } = useAction();
  const dirty = Number(reward) !== example.rewardScore || type !== example.exampleType;
  const run = async (fn: () => Promise<unknown>) => {
    await act(async () => {
      await fn();
      onChange();
    });
  };
  const idShort = example.id.slice(0, 8);
  return (
    <li className="card example">
      <div className="example-text">
        <p className="prompt">{example.prompt}</p>
        <p className="completion">{example.completion}</p>
        <p className="muted small">
          {idShort} · {when(example.createdAt)}
        </p>
      </div>
      <form
        className="example-edit"
        onSubmit={(e) => {
          e.preventDefault();
          void run(() => ok(client.PATCH('/v1/examples/{id}', { params: { path: { id: example.id } }, body: { rewardScore: Number(reward), exampleType: type } })));
        }}
      >
        <label>
          Reward
          <input type="number" min={0} max={1} step={0.05} value={reward} onChange={(e) => setReward(e.target.value)} aria-label={`Reward of example ${idShort}`} />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value as ExampleType)} aria-label={`Type of example ${idShort}`}>
            <option value="positive">Positive</option>
            <option value="negative">Negative</option>
          </select>
        </label>
        <div className="row">
          <button type="submit" disabled={!dirty || busy}>
            Save
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (confirm('Delete this example? This cannot be undone.')) void run(() => ok(client.POST('/v1/examples/delete', { body: { ids: [example.id] } })));
            }}
          >
            Delete
          </button>
        </div>
        <ErrorBox error={error} />
      </form>
    </li>
  );
}

function ImportForm({ agent, onDone }: { agent: Agent; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [skipInvalid, setSkipInvalid] = useState(false);
  const [progress, setProgress] = useState<{ value: number | null; label: string } | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) return setError(new Error('choose a JSONL or CSV file first'));
    setError(null);
    setResult(null);
    try {
      setProgress({ value: 0, label: `Reading ${file.name}…` });
      const data = await readText(file, (f) => setProgress({ value: f * 0.2, label: `Reading ${file.name}…` }));
      const res = await importWithProgress(agent.name, { data, fileName: file.name, skipInvalid }, (loaded, total) =>
        setProgress(
          total && loaded < total
            ? { value: 0.2 + (loaded / total) * 0.8, label: `Uploading ${Math.round((loaded / total) * 100)}%…` }
            : { value: null, label: 'Importing and embedding on the server…' },
        ),
      );
      setProgress({ value: 1, label: 'Done' });
      setResult(res);
      onDone();
    } catch (err) {
      setProgress(null);
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="import-title">
      <h2 id="import-title">Import examples</h2>
      <div className="row wrap">
        <label>
          JSONL or CSV file
          <input ref={input} type="file" name="file" accept=".jsonl,.json,.csv,.txt,application/json,text/csv" />
        </label>
        <label className="check">
          <input type="checkbox" checked={skipInvalid} onChange={(e) => setSkipInvalid(e.target.checked)} /> Skip invalid lines
        </label>
        <button type="submit" disabled={progress !== null && progress.value !== 1}>
          Import
        </button>
      </div>
      {progress && <Progress value={progress.value} label={progress.label} />}
      <ErrorBox error={error} />
      {result && (
        <div role="status" className="ok">
          Imported {result.added} examples from {result.lines} lines ({result.duplicates} duplicates skipped{result.invalid ? `, ${result.invalid} invalid` : ''}).
          {result.problems.length > 0 && (
            <ul>
              {result.problems.slice(0, 20).map((p) => (
                <li key={`${p.line}-${p.field}`}>{p.message}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </form>
  );
}

function readText(file: File, onProgress: (fraction: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.onload = () => resolve(String(reader.result));
    reader.readAsText(file);
  });
}
