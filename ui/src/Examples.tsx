// The examples workbench: a dense, sortable grid (TanStack Table) with a total count, keyboard
// navigation, multi-select with bulk actions, inline reward editing, filters that re-run after a
// short pause, and a side panel (lazy-loaded, with Markdown) that shows and edits one example.
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { createColumnHelper, rowSelectionFeature, rowSortingFeature, tableFeatures, useTable, type RowSelectionState, type SortingState } from '@tanstack/react-table';
import { client, ok, type Agent, type Example, type ExampleType, type ListExamplesQuery } from './api.ts';
import { ImportForm } from './ImportForm.tsx';
import { Empty, ErrorBox, useAction, useDebounced, useLoad, when } from './ui.tsx';

const ExamplePanel = lazy(() => import('./ExamplePanel.tsx'));

type Sort = NonNullable<ListExamplesQuery['sort']>;
const PAGE = 50;

// Column sorting maps onto the API's sort orders (the server sorts; pages are cursors).
const SORTS: Record<string, { desc: Sort; asc: Sort }> = {
  createdAt: { desc: 'newest', asc: 'oldest' },
  rewardScore: { desc: 'best', asc: 'worst' },
  exampleType: { desc: 'negative_first', asc: 'positive_first' },
};
const SORT_LABELS: Record<Sort, string> = {
  newest: 'newest first',
  oldest: 'oldest first',
  best: 'best reward first',
  worst: 'worst reward first',
  positive_first: 'positive first',
  negative_first: 'negative first',
};
function toSort(sorting: SortingState): Sort {
  const s = sorting[0];
  const m = s && SORTS[s.id];
  return m ? (s.desc ? m.desc : m.asc) : 'newest';
}

const features = tableFeatures({ rowSortingFeature, rowSelectionFeature });
const col = createColumnHelper<typeof features, Example>();

function excerpt(text: string, n = 140): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

export interface FilterValues {
  type: '' | ExampleType;
  min: string;
  max: string;
  text: string;
  metadata: string;
  unrated: boolean;
}
const NO_FILTERS: FilterValues = { type: '', min: '', max: '', text: '', metadata: '', unrated: false };

/** Turns the filter form into list_examples' query, or says why it cannot match anything. */
export function filterQuery(f: FilterValues): { query: ListExamplesQuery; problem: string | null } {
  const query: ListExamplesQuery = {};
  const problems: string[] = [];
  if (f.type) query.exampleType = f.type;
  const num = (label: string, raw: string): number | undefined => {
    if (raw.trim() === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || n > 1) {
      problems.push(`${label} must be a number from 0 to 1 (got "${raw}").`);
      return undefined;
    }
    return n;
  };
  const min = num('Min reward', f.min);
  const max = num('Max reward', f.max);
  if (min !== undefined) query.minScore = min;
  if (max !== undefined) query.maxScore = max;
  if (min !== undefined && max !== undefined && min > max) problems.push(`Min reward ${min} is above max reward ${max}, so no example could match. Lower the minimum or raise the maximum.`);
  if (f.text.trim()) query.contains = f.text.trim();
  // Metadata: "key=value" pairs match values, bare "key" means the key is present; comma-separated.
  const meta: Record<string, unknown> = {};
  const keys: string[] = [];
  for (const part of f.metadata.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) keys.push(part);
    else {
      const k = part.slice(0, eq).trim();
      const raw = part.slice(eq + 1).trim();
      if (!k) {
        problems.push(`Metadata filter "${part}" has no key before "=".`);
        continue;
      }
      let v: unknown = raw;
      try {
        v = JSON.parse(raw);
      } catch {
        /* a plain string */
      }
      meta[k] = v;
    }
  }
  if (Object.keys(meta).length) query.metadata = meta;
  if (keys.length) query.metadataKeys = keys;
  if (f.unrated) query.needsReview = true;
  return { query, problem: problems.length ? problems.join(' ') : null };
}

export function Examples({ agent, onChange }: { agent: Agent; onChange: () => void }) {
  const [filters, setFilters] = useState<FilterValues>(NO_FILTERS);
  const applied = useDebounced(filters, 350);
  const { query, problem } = useMemo(() => filterQuery(applied), [applied]);
  const [sorting, setSorting] = useState<SortingState>([{ id: 'createdAt', desc: true }]);
  const sort = toSort(sorting);
  // Cursors of the pages seen so far: the API pages forward only, so "Previous" goes back through these.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const key = JSON.stringify([agent.name, query, sort]);
  useEffect(() => setCursors([undefined]), [key]);
  const page = useLoad(
    () => (problem ? Promise.resolve(undefined) : ok(client.GET('/v1/agents/{agent}/examples', { params: { path: { agent: agent.name }, query: { ...query, sort, limit: PAGE, cursor } } }))),
    [key, cursor, problem],
  );
  const [rowSelection, setRowSelection] = useState<RowSelectionState>({});
  const [open, setOpen] = useState<string | 'new' | null>(null);
  const [focusIndex, setFocusIndex] = useState(0);
  const tableRef = useRef<HTMLTableElement>(null);
  const pageTop = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setRowSelection({});
    setFocusIndex(0);
  }, [page.data]);

  const changed = () => {
    page.reload();
    onChange();
  };

  const columns = useMemo(
    () =>
      col.columns([
        col.display({
          id: 'select',
          header: ({ table }) => (
            <input
              type="checkbox"
              aria-label="Select all on this page"
              checked={table.getIsAllRowsSelected()}
              ref={(el) => {
                if (el) el.indeterminate = table.getIsSomeRowsSelected();
              }}
              onChange={table.getToggleAllRowsSelectedHandler()}
            />
          ),
          cell: ({ row }) => (
            <input type="checkbox" tabIndex={-1} aria-label={`Select example ${row.original.id.slice(0, 8)}`} checked={row.getIsSelected()} onChange={row.getToggleSelectedHandler()} />
          ),
        }),
        col.accessor('prompt', { header: 'Prompt', enableSorting: false, cell: (c) => <span className="cell-text">{excerpt(c.getValue())}</span> }),
        col.accessor('completion', { header: 'Completion', enableSorting: false, cell: (c) => <span className="cell-text muted">{excerpt(c.getValue())}</span> }),
        col.accessor('rewardScore', { header: 'Reward', sortDescFirst: true, cell: (c) => <RewardCell example={c.row.original} onSaved={changed} /> }),
        col.accessor('exampleType', { header: 'Type', cell: (c) => <span className={`tag ${c.getValue()}`}>{c.getValue()}</span> }),
        col.accessor('metadata', {
          header: 'Metadata',
          enableSorting: false,
          cell: (c) => {
            const keys = Object.keys(c.getValue() ?? {});
            return keys.length ? <span className="meta-keys">{keys.join(', ')}</span> : <span className="muted">—</span>;
          },
        }),
        col.accessor('createdAt', { header: 'Created', sortDescFirst: true, cell: (c) => <time dateTime={c.getValue()}>{when(c.getValue())}</time> }),
      ]),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [agent.name],
  );
  const rows = page.data?.items ?? EMPTY;
  const table = useTable({
    features,
    columns,
    data: rows,
    getRowId: (r) => r.id,
    state: { sorting, rowSelection },
    onSortingChange: (u) => setSorting((s) => (typeof u === 'function' ? u(s) : u)),
    onRowSelectionChange: (u) => setRowSelection((s) => (typeof u === 'function' ? u(s) : u)),
    manualSorting: true,
    enableSortingRemoval: false,
    enableMultiSort: false,
  });
  const selected = Object.keys(rowSelection).filter((id) => rowSelection[id]);

  const focusRow = (i: number) => {
    const n = rows.length;
    if (!n) return;
    const j = Math.max(0, Math.min(n - 1, i));
    setFocusIndex(j);
    tableRef.current?.querySelector<HTMLElement>(`tbody tr[data-index="${j}"]`)?.focus();
  };
  const onGridKey = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    const target = e.target as HTMLElement;
    if (target.tagName !== 'TR') return; // typing in a cell's input
    const row = table.getRowModel().rows[focusIndex];
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        focusRow(focusIndex + 1);
        break;
      case 'ArrowUp':
      case 'k':
        focusRow(focusIndex - 1);
        break;
      case 'Home':
        focusRow(0);
        break;
      case 'End':
        focusRow(rows.length - 1);
        break;
      case ' ':
      case 'x':
        row?.toggleSelected();
        break;
      case 'Enter':
      case 'o':
        if (row) setOpen(row.original.id);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const total = page.data?.total;
  const first = (cursors.length - 1) * PAGE + 1;
  return (
    <div className="tab-body" ref={pageTop}>
      <div className="row wrap toolbar">
        <button type="button" onClick={() => setOpen('new')}>
          Add example
        </button>
        <details className="import-details">
          <summary>Import a file</summary>
          <ImportForm agent={agent} onDone={() => (setCursors([undefined]), changed())} />
        </details>
      </div>
      <FilterForm value={filters} onChange={setFilters} problem={problem} />
      <ErrorBox error={page.error} />
      <p className="muted count" aria-live="polite">
        {problem ? (
          'No search: fix the filters above.'
        ) : total === undefined ? (
          'Loading…'
        ) : (
          <>
            <strong data-testid="total">{total}</strong> {total === 1 ? 'example matches' : 'examples match'}
            {rows.length > 0 && ` · showing ${first}–${first + rows.length - 1}`} · {SORT_LABELS[sort]}
            {page.loading && ' · loading…'}
          </>
        )}
      </p>
      {selected.length > 0 && <BulkBar ids={selected} onDone={changed} onClear={() => setRowSelection({})} />}
      {page.data && rows.length === 0 ? (
        <Empty>{JSON.stringify(applied) !== JSON.stringify(NO_FILTERS) ? 'No examples match these filters.' : 'No examples yet. Add one, or import a JSONL or CSV file above.'}</Empty>
      ) : (
        <div className="grid-wrap">
          <table className="data-grid" ref={tableRef} aria-label={`Examples of ${agent.name}`} aria-rowcount={total}>
            <thead>
              {table.getHeaderGroups().map((g) => (
                <tr key={g.id}>
                  {g.headers.map((h) => {
                    const sorted = h.column.getIsSorted();
                    return (
                      <th key={h.id} scope="col" className={`col-${h.column.id}`} aria-sort={sorted ? (sorted === 'asc' ? 'ascending' : 'descending') : undefined}>
                        {h.column.getCanSort() ? (
                          <button type="button" className="sort" onClick={h.column.getToggleSortingHandler()}>
                            <table.FlexRender header={h} />
                            <span aria-hidden="true">{sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ' ↕'}</span>
                          </button>
                        ) : (
                          <table.FlexRender header={h} />
                        )}
                      </th>
                    );
                  })}
                </tr>
              ))}
            </thead>
            <tbody onKeyDown={onGridKey}>
              {table.getRowModel().rows.map((row, i) => (
                <tr
                  key={row.id}
                  data-index={i}
                  data-id={row.id}
                  tabIndex={i === focusIndex ? 0 : -1}
                  aria-selected={row.getIsSelected()}
                  className={`${row.getIsSelected() ? 'selected' : ''} ${open === row.id ? 'open' : ''}`}
                  onFocus={() => setFocusIndex(i)}
                  onClick={(e) => {
                    const t = e.target as HTMLElement;
                    if (t.closest('input, button, select, a')) return;
                    setFocusIndex(i);
                    setOpen(row.id);
                  }}
                >
                  {row.getAllCells().map((cell) => (
                    <td key={cell.id} className={`col-${cell.column.id}`}>
                      <table.FlexRender cell={cell} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="hint">Keys in the grid: ↑/↓ or j/k move, Space or x selects, Enter opens the example.</p>
      <div className="pager">
        <button
          type="button"
          className="secondary"
          disabled={cursors.length === 1}
          onClick={() => {
            setCursors((c) => c.slice(0, -1));
            pageTop.current?.scrollIntoView({ block: 'start' });
          }}
        >
          ← Previous
        </button>
        <span className="muted">page {cursors.length}</span>
        <button
          type="button"
          className="secondary"
          disabled={!page.data?.nextCursor}
          onClick={() => {
            setCursors((c) => [...c, page.data!.nextCursor!]);
            scrollTo({ top: 0 });
            document.getElementById('main')?.focus({ preventScroll: true });
          }}
        >
          Next →
        </button>
      </div>
      {open && (
        <Suspense fallback={<aside className="panel" aria-busy="true">Loading…</aside>}>
          <ExamplePanel
            key={open}
            agent={agent.name}
            id={open === 'new' ? null : open}
            onClose={() => {
              setOpen(null);
              focusRow(focusIndex);
            }}
            onSaved={(id) => {
              changed();
              if (id) setOpen(id);
            }}
          />
        </Suspense>
      )}
    </div>
  );
}
const EMPTY: Example[] = [];

/** The reward, editable in place: any value from 0 to 1 (0.33 too), saved on Enter or when leaving the cell. */
function RewardCell({ example, onSaved }: { example: Example; onSaved: () => void }) {
  const [value, setValue] = useState(String(example.rewardScore));
  const { busy, error, act } = useAction();
  useEffect(() => setValue(String(example.rewardScore)), [example.rewardScore]);
  const n = Number(value);
  const valid = value.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 1;
  const save = () => {
    if (!valid || n === example.rewardScore) return;
    void act(async () => {
      await ok(client.PATCH('/v1/examples/{id}', { params: { path: { id: example.id } }, body: { rewardScore: n } }));
      onSaved();
    });
  };
  return (
    <span className="reward-cell">
      <input
        type="number"
        min={0}
        max={1}
        step="any"
        inputMode="decimal"
        value={value}
        disabled={busy}
        aria-label={`Reward of example ${example.id.slice(0, 8)}`}
        aria-invalid={!valid}
        onChange={(e) => setValue(e.target.value)}
        onBlur={save}
        onKeyDown={(e) => {
          if (e.key === 'Enter') save();
          if (e.key === 'Escape') setValue(String(example.rewardScore));
        }}
      />
      {(error || !valid) && (
        <span className="cell-error" role="alert">
          {error ? String((error as Error).message) : '0 to 1'}
        </span>
      )}
    </span>
  );
}

function BulkBar({ ids, onDone, onClear }: { ids: string[]; onDone: () => void; onClear: () => void }) {
  const [reward, setReward] = useState('');
  const { busy, error, act } = useAction();
  const [done, setDone] = useState<string | null>(null);
  const run = (body: { action: 'set_type'; exampleType: ExampleType } | { action: 'set_reward'; rewardScore: number } | { action: 'delete' }) =>
    act(async () => {
      setDone(null);
      const r = await ok(client.POST('/v1/examples/bulk', { body: { ids, ...body } }));
      setDone(`${r.action === 'delete' ? 'Deleted' : 'Changed'} ${r.affected} example${r.affected === 1 ? '' : 's'}.`);
      onDone();
    });
  const n = Number(reward);
  const rewardOk = reward.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 1;
  return (
    <div className="bulk card" role="region" aria-label="Bulk actions">
      <strong>{ids.length} selected</strong>
      <button type="button" className="secondary" disabled={busy} onClick={() => run({ action: 'set_type', exampleType: 'positive' })}>
        Mark positive
      </button>
      <button type="button" className="secondary" disabled={busy} onClick={() => run({ action: 'set_type', exampleType: 'negative' })}>
        Mark negative
      </button>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (rewardOk) void run({ action: 'set_reward', rewardScore: n });
        }}
      >
        <label>
          Reward for all
          <input type="number" min={0} max={1} step="any" value={reward} onChange={(e) => setReward(e.target.value)} />
        </label>
        <button type="submit" className="secondary" disabled={busy || !rewardOk}>
          Set reward
        </button>
      </form>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => {
          if (confirm(`Delete ${ids.length} example${ids.length === 1 ? '' : 's'}? This cannot be undone.`)) void run({ action: 'delete' });
        }}
      >
        Delete
      </button>
      <button type="button" className="link" onClick={onClear}>
        Clear selection
      </button>
      {done && (
        <span role="status" className="ok-inline">
          {done}
        </span>
      )}
      <ErrorBox error={error} />
    </div>
  );
}

function FilterForm({ value, onChange, problem }: { value: FilterValues; onChange: (f: FilterValues) => void; problem: string | null }) {
  const set = <K extends keyof FilterValues>(k: K, v: FilterValues[K]) => onChange({ ...value, [k]: v });
  return (
    <form className="filters" aria-label="Filter examples" onSubmit={(e) => e.preventDefault()}>
      <label>
        Type
        <select value={value.type} onChange={(e) => set('type', e.target.value as FilterValues['type'])}>
          <option value="">Any</option>
          <option value="positive">Positive</option>
          <option value="negative">Negative</option>
        </select>
      </label>
      <label>
        Min reward
        <input type="number" min={0} max={1} step="any" inputMode="decimal" value={value.min} onChange={(e) => set('min', e.target.value)} aria-invalid={!!problem && /Min reward/.test(problem)} />
      </label>
      <label>
        Max reward
        <input type="number" min={0} max={1} step="any" inputMode="decimal" value={value.max} onChange={(e) => set('max', e.target.value)} aria-invalid={!!problem && /max reward|Max reward/.test(problem)} />
      </label>
      <label className="grow">
        Text
        <input type="search" value={value.text} onChange={(e) => set('text', e.target.value)} placeholder="prompt or completion contains…" />
      </label>
      <label className="grow">
        Metadata
        <input type="search" value={value.metadata} onChange={(e) => set('metadata', e.target.value)} placeholder="source=prod, ticket" />
      </label>
      <label className="check">
        <input type="checkbox" checked={value.unrated} onChange={(e) => set('unrated', e.target.checked)} /> Not yet rated
      </label>
      {problem && (
        <p className="error filter-problem" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
