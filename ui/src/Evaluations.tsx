// The Evaluations tab (issue 15): the agent's eval set, a form that estimates an evaluation (a dry
// run) before it starts one, the runs with their scores, and two runs side by side per example,
// filterable to losses. Loaded only when the tab opens. Answers are shown as plain text (React
// escapes it): a model's answer is never turned into HTML here.
import { Fragment, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import {
  ApiError,
  client,
  ok,
  type Agent,
  type EvalComparison,
  type EvalPair,
  type EvalRunBody,
  type EvalRunOutcome,
  type EvalRunSummary,
  type EvalScores,
  type EvalSet,
  type EvalSetCreated,
  type PromptVersion,
} from './api.ts';
import { Empty, ErrorBox, Progress, scoreText, useAction, useLoad, when } from './ui.tsx';
import './evaluations.css';

type Provider = NonNullable<EvalRunBody['provider']>;

/** The API's field names as this tab's forms label them, so an error names the field the person sees. */
const FIELDS: Record<string, string> = {
  version: 'Version',
  promptVersion: 'Version',
  against: 'Against',
  evalSet: 'Eval set version',
  evalSetVersion: 'Eval set version',
  provider: 'Provider',
  model: 'Model',
  judge: 'LLM judge',
  judgeProvider: 'Judge provider',
  'judge.provider': 'Judge provider',
  judgeModel: 'Judge model',
  'judge.model': 'Judge model',
  contains: 'Answer contains',
  'checks.contains': 'Answer contains',
  regex: 'Regular expression',
  'checks.regex': 'Regular expression',
  exact: 'Exact match',
  'checks.exact': 'Exact match',
  json: 'Valid JSON',
  'checks.json': 'Valid JSON',
  concurrency: 'Concurrency',
  maxTokens: 'Max tokens per answer',
  size: 'Size',
  seed: 'Seed',
  margin: 'Margin',
  a: 'Run A',
  b: 'Run B',
  runId: 'Run',
};

/** The server's error in this tab's words: the field by its label here, and the CLI's hints as steps in this tab. */
export function uiError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  let text = err.message
    .replace(/create one first: exemplar eval set create --agent \S+/, 'create one first under “Eval set” above')
    .replace(/run one first: exemplar eval run .*$/, 'run one first with “Run an evaluation” above');
  const m = /^([\w.]+): /.exec(text);
  if (m && FIELDS[m[1]]) text = `${FIELDS[m[1]]}: ${text.slice(m[0].length)}`;
  if (text === err.message) return err;
  return err instanceof ApiError ? new ApiError(text, err.status, err.code) : new Error(text);
}

const promptName = (v: number | null) => (v === null ? 'no system prompt' : `v${v}`);
const signed = (x: number, digits = 3) => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(digits)}`;
const money = (usd: number | null) => (usd === null ? '—' : `$${usd < 0.01 && usd > 0 ? usd.toFixed(4) : usd.toFixed(2)}`);

/** A whole number typed into a form: '' is "not set"; anything else must be in range, or the field is named. */
function wholeNumber(label: string, raw: string, min: number, max: number): number | undefined {
  if (raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${label} must be a whole number from ${min} to ${max}.`);
  return n;
}

export default function Evaluations({ agent }: { agent: Agent }) {
  const path = { agent: agent.name };
  const set = useLoad(
    () =>
      ok(client.GET('/v1/agents/{agent}/eval-set', { params: { path } })).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null; // no eval set yet
        throw err;
      }),
    [agent.name],
  );
  const runs = useLoad(() => ok(client.GET('/v1/agents/{agent}/evaluations', { params: { path } })), [agent.name]);
  const versions = useLoad(() => ok(client.GET('/v1/agents/{agent}/prompt/versions', { params: { path } })), [agent.name]);
  const [compare, setCompare] = useState<{ a: string; b: string; margin: number } | null>(null);
  return (
    <div className="tab-body evaluations">
      <EvalSetCard agent={agent} set={set.data} error={set.error} onCreated={set.reload} />
      <ErrorBox error={versions.error} />
      {versions.data && set.data !== undefined && (
        <RunForm
          agent={agent}
          versions={versions.data.items}
          evalSet={set.data}
          onRan={runs.reload}
          onCompare={(a, b) => setCompare({ a, b, margin: 0 })}
        />
      )}
      <RunList agent={agent} runs={runs.data?.items} error={runs.error} onCompare={(a, b, margin) => setCompare({ a, b, margin })} />
      {compare && <CompareView agent={agent} {...compare} onClose={() => setCompare(null)} />}
    </div>
  );
}

// ---- The eval set ----------------------------------------------------------------------------

function EvalSetCard({ agent, set, error, onCreated }: { agent: Agent; set: EvalSet | null | undefined; error: unknown; onCreated: () => void }) {
  const [size, setSize] = useState('');
  const [seed, setSeed] = useState('1');
  const { busy, error: createError, act } = useAction();
  const [created, setCreated] = useState<EvalSetCreated | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    await act(async () => {
      const body = { size: wholeNumber('Size', size, 1, 1_000_000), seed: wholeNumber('Seed', seed, 0, 2 ** 31 - 1) ?? 1 };
      setCreated(await ok(client.POST('/v1/agents/{agent}/eval-sets', { params: { path: { agent: agent.name } }, body })));
      onCreated();
    });
  };
  const changed = set?.members.filter((m) => m.changed) ?? [];
  return (
    <section className="card" aria-labelledby="evalset-title">
      <h2 id="evalset-title">Eval set</h2>
      <ErrorBox error={error} />
      {set === undefined && !error && <p aria-busy="true">Loading…</p>}
      {set === null && (
        <Empty>
          No eval set yet. An eval set pins a seeded sample of the positive examples (and the negative answers to the same prompts, as contrast). Its examples
          are held out: never used to optimize a prompt, as few-shot examples or in a dataset.
        </Empty>
      )}
      {set && (
        <>
          <dl className="stats" data-testid="evalset">
            <div>
              <dt>Version</dt>
              <dd>v{set.version}</dd>
            </div>
            <div>
              <dt>Items (asked)</dt>
              <dd>{set.items}</dd>
            </div>
            <div>
              <dt>Contrasts (bad answers)</dt>
              <dd>{set.contrasts}</dd>
            </div>
            <div>
              <dt>Changed since pinned</dt>
              <dd className={set.changed ? 'warn-text' : undefined}>{set.changed}</dd>
            </div>
          </dl>
          <p className="muted small">
            Seed {set.seed} · {set.requestedSize} requested · <span className="mono" title={`sha256 of the members: ${set.contentHash}`}>{set.contentHash.slice(0, 12)}</span> · pinned{' '}
            {when(set.createdAt)}
          </p>
          {changed.length > 0 && (
            <details>
              <summary>
                {changed.length} member{changed.length === 1 ? ' was' : 's were'} edited or deleted since the set was pinned
              </summary>
              <p className="hint">Runs use their current text; create a new version to pin the set again.</p>
              <ul className="mono small">
                {changed.map((m) => (
                  <li key={m.exampleId}>
                    {m.role} {m.exampleId}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
      {/* Open while there is no set; after that, as the person left it (a new set does not close it). */}
      <details className="inner" open={formOpen || set === null} onToggle={(e) => setFormOpen(e.currentTarget.open)}>
        <summary>{set ? 'Create a new version' : 'Create eval set'}</summary>
        <form onSubmit={submit} aria-label="Create eval set">
          <div className="row wrap">
            <label>
              Size
              <input type="number" min={1} step={1} value={size} onChange={(e) => setSize(e.target.value)} placeholder="a fifth of the positives, ≤ 50" />
            </label>
            <label>
              Seed
              <input type="number" min={0} step={1} value={seed} onChange={(e) => setSeed(e.target.value)} />
            </label>
            <button type="submit" disabled={busy}>
              {busy ? 'Creating…' : 'Create eval set'}
            </button>
          </div>
        </form>
      </details>
      <ErrorBox error={uiError(createError)} />
      {created && (
        <p role="status" className="ok" data-testid="evalset-created">
          {created.created ? 'Created' : 'Unchanged: the latest version already holds this selection,'} eval set version {created.version}: {created.items} items,{' '}
          {created.contrasts} contrasts.
        </p>
      )}
    </section>
  );
}

// ---- Running an evaluation -------------------------------------------------------------------

const side = (v: string): string | number => (/^[0-9]+$/.test(v) ? Number(v) : v);

function RunForm({
  agent,
  versions,
  evalSet,
  onRan,
  onCompare,
}: {
  agent: Agent;
  versions: PromptVersion[];
  evalSet: EvalSet | null;
  onRan: () => void;
  onCompare: (a: string, b: string) => void;
}) {
  const production = versions.find((v) => v.labels.includes('production'));
  const candidate = versions.find((v) => v.labels.includes('candidate'));
  const challenger = candidate && candidate !== production;
  const [version, setVersion] = useState(challenger ? String(candidate.version) : production ? 'production' : 'none');
  const [against, setAgainst] = useState(challenger && production ? 'production' : '');
  const [evalSetVersion, setEvalSetVersion] = useState('');
  const [provider, setProvider] = useState<Provider | ''>('');
  const [model, setModel] = useState('');
  const [judge, setJudge] = useState(true);
  const [judgeProvider, setJudgeProvider] = useState<Provider | ''>('');
  const [judgeModel, setJudgeModel] = useState('');
  const [contains, setContains] = useState('');
  const [regex, setRegex] = useState('');
  const [exact, setExact] = useState(false);
  const [json, setJson] = useState(false);
  const [concurrency, setConcurrency] = useState('4');
  const [maxTokens, setMaxTokens] = useState('');
  const estimating = useAction();
  const running = useAction();
  const [estimate, setEstimate] = useState<{ key: string; outcome: EvalRunOutcome } | null>(null);
  const [result, setResult] = useState<EvalRunOutcome | null>(null);
  const [elapsed, setElapsed] = useState(0);

  const label = (v: string) => (v === 'production' ? `production${production ? ` (v${production.version})` : ''}` : v === 'none' ? 'no system prompt' : `v${v}`);

  /** The request, checked field by field in the form's words. */
  const build = (dryRun: boolean): EvalRunBody => {
    if (against && against === version) throw new Error(`Against: choose another version than ${label(version)}, or “Do not compare”.`);
    if (regex.trim()) {
      try {
        new RegExp(regex);
      } catch (err) {
        throw new Error(`Regular expression: is not valid: ${(err as Error).message}`);
      }
    }
    const body: EvalRunBody = { version: side(version), judge, dryRun };
    if (against) body.against = side(against);
    const es = wholeNumber('Eval set version', evalSetVersion, 1, 1_000_000);
    if (es !== undefined) body.evalSet = es;
    if (provider) body.provider = provider;
    if (model.trim()) body.model = model.trim();
    if (judge && judgeProvider) body.judgeProvider = judgeProvider;
    if (judge && judgeModel.trim()) body.judgeModel = judgeModel.trim();
    if (contains) body.contains = contains;
    if (regex.trim()) body.regex = regex;
    if (exact) body.exact = true;
    if (json) body.json = true;
    body.concurrency = wholeNumber('Concurrency', concurrency, 1, 16) ?? 4;
    const mt = wholeNumber('Max tokens per answer', maxTokens, 1, 32_000);
    if (mt !== undefined) body.maxTokens = mt;
    return body;
  };
  let currentKey: string | null;
  try {
    currentKey = JSON.stringify(build(false));
  } catch {
    currentKey = null;
  }
  const fresh = estimate !== null && estimate.key === currentKey;

  const estimateNow = async (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    setEstimate(null);
    await estimating.act(async () => {
      const body = build(true);
      const outcome = await ok(client.POST('/v1/agents/{agent}/evaluations', { params: { path: { agent: agent.name } }, body }));
      setEstimate({ key: JSON.stringify({ ...body, dryRun: false }), outcome });
    });
  };
  const runNow = () =>
    running.act(async () => {
      const body = build(false);
      const outcome = await ok(client.POST('/v1/agents/{agent}/evaluations', { params: { path: { agent: agent.name } }, body }));
      setEstimate(null);
      setResult(outcome);
      onRan();
    });

  useEffect(() => {
    if (!running.busy) return;
    const started = Date.now();
    setElapsed(0);
    const t = setInterval(() => setElapsed(Math.round((Date.now() - started) / 1000)), 1000);
    return () => clearInterval(t);
  }, [running.busy]);

  const options = versions.map((v) => (
    <option key={v.version} value={v.version}>
      v{v.version}
      {v.labels.length ? ` (${v.labels.join(', ')})` : ''}
    </option>
  ));
  const busy = estimating.busy || running.busy;
  const e = estimate?.outcome.estimate;
  return (
    <section className="card" aria-labelledby="run-title">
      <h2 id="run-title">Run an evaluation</h2>
      {!evalSet && <p className="hint">Create an eval set first: an evaluation asks its items.</p>}
      <form onSubmit={estimateNow} aria-labelledby="run-title">
        <fieldset disabled={running.busy} className="plain">
          <div className="grid">
            <label>
              Version
              <select value={version} onChange={(ev) => setVersion(ev.target.value)}>
                {production && <option value="production">production (v{production.version})</option>}
                {options}
                <option value="none">none (no system prompt)</option>
              </select>
            </label>
            <label>
              Against
              <select value={against} onChange={(ev) => setAgainst(ev.target.value)}>
                <option value="">Do not compare</option>
                {production && <option value="production">production (v{production.version})</option>}
                {options}
                <option value="none">none (no system prompt)</option>
              </select>
            </label>
            <label>
              Eval set version
              <input type="number" min={1} step={1} value={evalSetVersion} onChange={(ev) => setEvalSetVersion(ev.target.value)} placeholder={evalSet ? `latest (v${evalSet.version})` : 'latest'} />
            </label>
            <label>
              Provider
              <select value={provider} onChange={(ev) => setProvider(ev.target.value as Provider | '')}>
                <option value="">Server default</option>
                <option value="anthropic">Anthropic</option>
                <option value="openai">OpenAI-compatible</option>
              </select>
            </label>
            <label>
              Model
              <input value={model} onChange={(ev) => setModel(ev.target.value)} placeholder="provider default" />
            </label>
          </div>
          <label className="check">
            <input type="checkbox" checked={judge} onChange={(ev) => setJudge(ev.target.checked)} /> LLM judge (compares each answer with the reference; off: offline scorers only)
          </label>
          {judge && (
            <div className="grid">
              <label>
                Judge provider
                <select value={judgeProvider} onChange={(ev) => setJudgeProvider(ev.target.value as Provider | '')}>
                  <option value="">Same as the answers</option>
                  <option value="anthropic">Anthropic</option>
                  <option value="openai">OpenAI-compatible</option>
                </select>
              </label>
              <label>
                Judge model
                <input value={judgeModel} onChange={(ev) => setJudgeModel(ev.target.value)} placeholder="same as the answers" />
              </label>
            </div>
          )}
          <details>
            <summary>Checks and limits</summary>
            <p className="hint">Each check scores every answer 1 or 0, next to the similarity to the reference.</p>
            <div className="grid">
              <label>
                Answer contains
                <input value={contains} onChange={(ev) => setContains(ev.target.value)} placeholder="text" />
              </label>
              <label>
                Regular expression
                <input value={regex} onChange={(ev) => setRegex(ev.target.value)} placeholder="e.g. ^Use " className="mono" />
              </label>
              <label>
                Concurrency
                <input type="number" min={1} max={16} step={1} value={concurrency} onChange={(ev) => setConcurrency(ev.target.value)} />
              </label>
              <label>
                Max tokens per answer
                <input type="number" min={1} max={32000} step={1} value={maxTokens} onChange={(ev) => setMaxTokens(ev.target.value)} placeholder="server default" />
              </label>
            </div>
            <div className="row wrap">
              <label className="check">
                <input type="checkbox" checked={exact} onChange={(ev) => setExact(ev.target.checked)} /> Exact match with the reference
              </label>
              <label className="check">
                <input type="checkbox" checked={json} onChange={(ev) => setJson(ev.target.checked)} /> Valid JSON
              </label>
            </div>
          </details>
          <button type="submit" disabled={busy || !evalSet}>
            {estimating.busy ? 'Estimating…' : 'Estimate cost'}
          </button>
        </fieldset>
        <ErrorBox error={uiError(estimating.error)} />
      </form>

      {e && (
        <div className="note estimate" role="status" data-testid="estimate">
          <p>
            <strong>Estimate</strong> for {promptName(e.promptVersion)} on eval set v{e.evalSetVersion}: {e.items} items, {e.requests.total} requests ({e.requests.answers} answers
            {e.judge ? `, ${e.requests.judge} judge verdicts` : ''}; {e.requests.cached} already cached), about {e.inputTokens.toLocaleString()} tokens in and{' '}
            {e.outputTokens.toLocaleString()} out, {e.costUsd === null ? 'cost unknown (no price is known for this model; the server takes one from EXEMPLAR_LLM_PRICE)' : `about ${money(e.costUsd)}`}.
          </p>
          <p className="muted small">
            Answers by {e.provider}/{e.model}; {e.judge ? `judged by ${e.judge.provider}/${e.judge.model}` : 'no judge'}.
            {against && ` The comparison also runs ${label(against)} on the same items: about as much again, less what is cached.`}
          </p>
          {estimate.outcome.notes.map((n) => (
            <p key={n} className="small">
              {n}
            </p>
          ))}
          {fresh ? (
            <div className="row wrap">
              <button type="button" onClick={() => void runNow()} disabled={busy}>
                {running.busy ? 'Running…' : 'Run evaluation'}
              </button>
              <button type="button" className="secondary" onClick={() => setEstimate(null)} disabled={running.busy}>
                Change options
              </button>
            </div>
          ) : (
            <p className="small">The options changed since this estimate: estimate again before running.</p>
          )}
        </div>
      )}
      {running.busy && (
        <Progress
          value={null}
          label={`Evaluating ${label(version)}${against ? ` and ${label(against)}` : ''}: ${e ? `${e.items} items, ${e.requests.total - e.requests.cached} requests to make` : ''}, ${elapsed} s. The answers are cached as they come: running the same evaluation again resumes where it stopped.`}
        />
      )}
      <ErrorBox error={uiError(running.error)} />
      {result?.run && <RunOutcome outcome={result} onCompare={onCompare} />}
    </section>
  );
}

function runLine(r: EvalRunSummary): string {
  return (
    `${promptName(r.promptVersion)} on eval set v${r.evalSetVersion}: ${r.status}, ${r.scored}/${r.items} scored, mean ${scoreText(r.meanScore, r.interval)}` +
    `${r.cachedItems ? `, ${r.cachedItems} from the cache` : ''}${r.costUsd !== null ? `, ${money(r.costUsd)}` : ''}`
  );
}

function RunOutcome({ outcome, onCompare }: { outcome: EvalRunOutcome; onCompare: (a: string, b: string) => void }) {
  const { run, baseline, comparison } = outcome;
  if (!run) return null;
  const failed = run.status !== 'completed' || (baseline && baseline.status !== 'completed');
  return (
    <div className={failed ? 'note' : 'ok'} role="status" data-testid="eval-result">
      <p>
        <strong>Run {run.status}</strong>: {runLine(run)}
      </p>
      {run.error && <p className="error">{run.error}</p>}
      {baseline && <p>Against: {runLine(baseline)}</p>}
      {baseline?.error && <p className="error">{baseline.error}</p>}
      {comparison && (
        <>
          <p data-testid="eval-result-comparison">
            {promptName(comparison.b.promptVersion)} against {promptName(comparison.a.promptVersion)}: {comparison.comparison.wins} wins, {comparison.comparison.ties} ties,{' '}
            {comparison.comparison.losses} losses; mean difference {signed(comparison.comparison.meanDifference)}.{' '}
            {comparison.gate.promote ? 'The gate opens' : 'The gate stays shut'}: {comparison.gate.reason}
          </p>
          <button type="button" className="secondary" onClick={() => onCompare(comparison.a.id, comparison.b.id)}>
            Side by side
          </button>
        </>
      )}
      {outcome.notes.map((n) => (
        <p key={n} className="small">
          {n}
        </p>
      ))}
    </div>
  );
}

// ---- The runs ---------------------------------------------------------------------------------

function runOption(r: EvalRunSummary): string {
  return `${promptName(r.promptVersion)} · eval set v${r.evalSetVersion} · ${r.model}${r.judgeModel ? ' + judge' : ''} · ${scoreText(r.meanScore, null)} · ${when(r.createdAt)}`;
}

function RunList({ agent, runs, error, onCompare }: { agent: Agent; runs: EvalRunSummary[] | undefined; error: unknown; onCompare: (a: string, b: string, margin: number) => void }) {
  const [open, setOpen] = useState<string | null>(null);
  const completed = useMemo(() => (runs ?? []).filter((r) => r.status === 'completed'), [runs]);
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  const [margin, setMargin] = useState('0');
  const [problem, setProblem] = useState<unknown>(null);
  // Default pair: the newest run and the newest run of another prompt on the same eval set and
  // scoring, the later prompt version as B (the challenger).
  useEffect(() => {
    const ids = new Set(completed.map((r) => r.id));
    if (ids.has(a) && ids.has(b)) return;
    const newest = completed[0];
    if (!newest) return;
    const other =
      completed.find((r) => r.promptVersion !== newest.promptVersion && r.evalSetVersion === newest.evalSetVersion && r.scoringHash === newest.scoringHash) ??
      completed.find((r) => r.id !== newest.id);
    if (!other) return;
    const [older, newer] = (other.promptVersion ?? 0) < (newest.promptVersion ?? 0) ? [other, newest] : [newest, other];
    setA(older.id);
    setB(newer.id);
  }, [completed]); // eslint-disable-line react-hooks/exhaustive-deps
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const m = Number(margin || 0);
    if (!(m >= 0 && m < 1)) return setProblem(new Error('Margin must be a number from 0 up to (not including) 1.'));
    if (a === b) return setProblem(new Error('Run B: choose another run than run A.'));
    onCompare(a, b, m);
  };
  const opts = completed.map((r) => (
    <option key={r.id} value={r.id}>
      {runOption(r)}
    </option>
  ));
  return (
    <section aria-labelledby="eval-runs-title">
      <h2 id="eval-runs-title">Evaluation runs</h2>
      <ErrorBox error={error} />
      {runs && runs.length === 0 && <Empty>No evaluation runs yet. Estimate and run one above.</Empty>}
      {completed.length >= 2 && (
        <form className="card" onSubmit={submit} aria-labelledby="compare-title">
          <h3 id="compare-title">Compare two runs</h3>
          <div className="grid">
            <label>
              Run A (baseline)
              <select value={a} onChange={(e) => setA(e.target.value)}>
                {opts}
              </select>
            </label>
            <label>
              Run B (challenger)
              <select value={b} onChange={(e) => setB(e.target.value)}>
                {opts}
              </select>
            </label>
            <label>
              Margin
              <input type="number" min={0} max={0.99} step="any" value={margin} onChange={(e) => setMargin(e.target.value)} />
            </label>
          </div>
          <p className="hint">The gate opens when the lower bound of the mean difference B − A is above the margin.</p>
          <button type="submit">Compare side by side</button>
          <ErrorBox error={problem} />
        </form>
      )}
      {runs && runs.length > 0 && (
        <table className="stack eval-runs" aria-labelledby="eval-runs-title">
          <thead>
            <tr>
              <th>When</th>
              <th>Prompt</th>
              <th>Eval set</th>
              <th>Status</th>
              <th className="num">Mean (interval)</th>
              <th className="num">Scored</th>
              <th>Model</th>
              <th>Judge</th>
              <th className="num">Cost</th>
              <th>
                <span className="visually-hidden">Answers</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <Fragment key={r.id}>
              <tr data-run={r.id}>
                <td data-label="When">{when(r.createdAt)}</td>
                <td data-label="Prompt">{promptName(r.promptVersion)}</td>
                <td data-label="Eval set">v{r.evalSetVersion}</td>
                <td data-label="Status">
                  <span className={`tag status-${r.status === 'completed' ? 'succeeded' : r.status}`}>{r.status}</span>
                  {r.error && <span className="cell-error">{r.error}</span>}
                </td>
                <td data-label="Mean (interval)" className="num" data-testid="run-score" title={r.interval ? `${Math.round(r.interval.confidence * 100)}% confidence interval` : undefined}>
                  {scoreText(r.meanScore, r.interval)}
                </td>
                <td data-label="Scored" className="num">
                  {r.scored}/{r.items}
                  {r.failedItems ? ` (${r.failedItems} failed)` : ''}
                </td>
                <td data-label="Model">
                  {r.provider}/{r.model}
                </td>
                <td data-label="Judge">{r.judgeModel ? `${r.judgeProvider}/${r.judgeModel}` : 'none'}</td>
                <td data-label="Cost" className="num">
                  {money(r.costUsd)}
                </td>
                <td data-label="">
                  <button type="button" className="link" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
                    {open === r.id ? 'Hide answers' : 'Answers'}
                  </button>
                </td>
              </tr>
              {open === r.id && (
                <tr className="detail-row">
                  <td colSpan={10}>
                    <RunDetail agent={agent} id={r.id} />
                  </td>
                </tr>
              )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const PAGE = 50;

/** Long lists show PAGE items at a time; this offers the next page while there is more. */
function ShowMore({ total, shown, onMore }: { total: number; shown: number; onMore: () => void }) {
  if (total <= shown) return null;
  return (
    <button type="button" className="secondary" onClick={onMore}>
      Show {Math.min(PAGE, total - shown)} more of {total - shown}
    </button>
  );
}

function RunDetail({ agent, id }: { agent: Agent; id: string }) {
  const run = useLoad(() => ok(client.GET('/v1/agents/{agent}/evaluations/{run}', { params: { path: { agent: agent.name, run: id } } })), [agent.name, id]);
  const [shown, setShown] = useState(PAGE);
  if (run.error) return <ErrorBox error={uiError(run.error)} />;
  if (!run.data) return <p aria-busy="true">Loading the answers…</p>;
  const results = run.data.results;
  return (
    <div className="run-answers">
      <ol className="plain-list">
        {results.slice(0, shown).map((x) => (
          <li key={x.exampleId} className="result-item">
            <p>
              <strong>{x.primaryScore === null ? '—' : x.primaryScore.toFixed(2)}</strong> {x.cached && <span className="tag">cached</span>}{' '}
              {x.verdict && <span className="tag">judge: {x.verdict === 'answer' ? 'the answer' : x.verdict === 'reference' ? 'the reference' : 'tie'}</span>}{' '}
              <span className="muted small">
                {x.latencyMs} ms · {x.inputTokens + x.outputTokens} tokens
              </span>
            </p>
            <p className="prompt">{x.prompt ?? '(the example was deleted)'}</p>
            {x.error && <p className="error">{x.error}</p>}
            <details>
              <summary>Answer and reference</summary>
              <TextBlock label="Answer" text={x.answer} />
              <TextBlock label="Reference" text={x.reference ?? '(deleted)'} />
              {x.scores && <ScoreParts scores={x.scores} />}
              {x.rationale && <p className="small">Judge: {x.rationale}</p>}
            </details>
          </li>
        ))}
      </ol>
      <ShowMore total={results.length} shown={shown} onMore={() => setShown(shown + PAGE)} />
    </div>
  );
}

function TextBlock({ label, text }: { label: string; text: string }) {
  return (
    <div className="text-part">
      <span className="part-label">{label}</span>
      <div className="text-block">{text || <span className="muted">(empty)</span>}</div>
    </div>
  );
}

function ScoreParts({ scores }: { scores: EvalScores }) {
  const checks = (['exact', 'contains', 'regex', 'json'] as const).filter((k) => scores[k] !== undefined);
  return (
    <p className="muted small">
      similarity {scores.similarity.toFixed(2)} (to the reference {scores.referenceCosine.toFixed(2)}
      {scores.contrastCosine !== null ? `, to the bad answers ${scores.contrastCosine.toFixed(2)}` : ''})
      {scores.judge !== undefined ? ` · judge ${scores.judge}` : ''}
      {checks.map((k) => ` · ${k} ${scores[k]}`).join('')}
    </p>
  );
}

// ---- Side by side ------------------------------------------------------------------------------

type Outcome = 'win' | 'tie' | 'loss';
type Filter = 'all' | 'loss' | 'tie' | 'win';
/** As the server counts them: B − A beyond ±1e-9 is a win or a loss. */
const outcomeOf = (p: EvalPair): Outcome => (p.difference > 1e-9 ? 'win' : p.difference < -1e-9 ? 'loss' : 'tie');
const OUTCOME_LABEL: Record<Outcome, string> = { win: 'B wins', tie: 'tie', loss: 'B loses' };

function CompareView({ agent, a, b, margin, onClose }: { agent: Agent; a: string; b: string; margin: number; onClose: () => void }) {
  const cmp = useLoad(
    () => ok(client.GET('/v1/agents/{agent}/evaluations/compare', { params: { path: { agent: agent.name }, query: { a, b, ...(margin ? { margin } : {}) } } })),
    [agent.name, a, b, margin],
  );
  const heading = useRef<HTMLHeadingElement>(null);
  const [filter, setFilter] = useState<Filter>('all');
  const [shown, setShown] = useState(PAGE);
  useEffect(() => {
    heading.current?.focus({ preventScroll: true });
    heading.current?.scrollIntoView({ block: 'start' });
  }, [a, b, margin]);
  useEffect(() => setShown(PAGE), [filter, a, b]);
  const c = cmp.data;
  const pairs = useMemo(() => {
    if (!c) return [];
    const all = c.pairs.map((p, i) => ({ p, i: i + 1, outcome: outcomeOf(p) }));
    if (filter === 'all') return all;
    const some = all.filter((x) => x.outcome === filter);
    // The largest losses (or wins) first.
    return filter === 'loss' ? some.sort((x, y) => x.p.difference - y.p.difference) : filter === 'win' ? some.sort((x, y) => y.p.difference - x.p.difference) : some;
  }, [c, filter]);
  const nameA = c ? promptName(c.a.promptVersion) : 'A';
  const nameB = c ? promptName(c.b.promptVersion) : 'B';
  return (
    <section className="card compare" aria-labelledby="compare-view-title">
      <div className="compare-head">
        <h2 id="compare-view-title" ref={heading} tabIndex={-1}>
          Side by side{c ? `: ${nameB} against ${nameA}` : ''}
        </h2>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBox error={uiError(cmp.error)} />
      {!c && !cmp.error && <p aria-busy="true">Comparing…</p>}
      {c && <CompareSummary c={c} nameA={nameA} nameB={nameB} />}
      {c && (
        <>
          <fieldset className="filter-group" aria-label="Show examples">
            <legend>Show</legend>
            {(
              [
                ['all', `All (${c.comparison.n})`],
                ['loss', `Losses (${c.comparison.losses})`],
                ['tie', `Ties (${c.comparison.ties})`],
                ['win', `Wins (${c.comparison.wins})`],
              ] as const
            ).map(([id, text]) => (
              <label key={id} className="check">
                <input type="radio" name="pair-filter" value={id} checked={filter === id} onChange={() => setFilter(id)} /> {text}
              </label>
            ))}
          </fieldset>
          {filter !== 'all' && filter !== 'tie' && <p className="hint">{filter === 'loss' ? 'Largest losses first.' : 'Largest wins first.'}</p>}
          {pairs.length === 0 && <Empty>No {filter === 'loss' ? 'losses' : filter === 'win' ? 'wins' : filter === 'tie' ? 'ties' : 'examples'} in this comparison.</Empty>}
          <ol className="plain-list pairs">
            {pairs.slice(0, shown).map(({ p, i, outcome }) => (
              <li key={p.exampleId} className={`pair ${outcome}`} data-testid="pair" data-outcome={outcome}>
                <h3>
                  Example {i} <span className={`tag ${outcome}`}>{OUTCOME_LABEL[outcome]}</span>{' '}
                  <span className="muted small">
                    B − A {signed(p.difference, 2)} · <span className="mono">{p.exampleId.slice(0, 8)}</span>
                  </span>
                </h3>
                <TextBlock label="Prompt" text={p.prompt ?? '(the example was deleted)'} />
                <TextBlock label="Reference" text={p.reference ?? '(deleted)'} />
                <div className="pair-answers">
                  <Answer which="A" name={nameA} text={p.answerA} score={p.scoreA} scores={p.scoresA} rationale={p.rationaleA} />
                  <Answer which="B" name={nameB} text={p.answerB} score={p.scoreB} scores={p.scoresB} rationale={p.rationaleB} />
                </div>
              </li>
            ))}
          </ol>
          <ShowMore total={pairs.length} shown={shown} onMore={() => setShown(shown + PAGE)} />
        </>
      )}
    </section>
  );
}

function CompareSummary({ c, nameA, nameB }: { c: EvalComparison; nameA: string; nameB: string }) {
  const k = c.comparison;
  const pct = Math.round(k.interval.confidence * 100);
  return (
    <>
      <p className="muted small">
        Eval set v{c.evalSetVersion} · A: {runOption(c.a)} · B: {runOption(c.b)}
      </p>
      <dl className="stats" data-testid="compare-summary">
        <div>
          <dt>Wins / ties / losses of B</dt>
          <dd data-testid="wtl">
            {k.wins} / {k.ties} / {k.losses}
          </dd>
        </div>
        <div>
          <dt>
            Mean {nameA} → {nameB}
          </dt>
          <dd>
            {k.meanA.toFixed(3)} → {k.meanB.toFixed(3)}
          </dd>
        </div>
        <div>
          <dt>Mean difference B − A ({pct}% interval)</dt>
          <dd data-testid="mean-difference">
            {signed(k.meanDifference)} <span className="small">({signed(k.interval.lower)} to {signed(k.interval.upper)})</span>
          </dd>
        </div>
        <div>
          <dt>Sign test p</dt>
          <dd>{k.signTestP.toPrecision(2)}</dd>
        </div>
      </dl>
      <p className={c.gate.promote ? 'ok' : 'note'} data-testid="gate">
        <strong>{c.gate.promote ? `The gate opens: ${nameB} may replace ${nameA}.` : 'The gate stays shut.'}</strong> {c.gate.reason}
      </p>
    </>
  );
}

function Answer({ which, name, text, score, scores, rationale }: { which: 'A' | 'B'; name: string; text: string; score: number; scores: EvalScores | null; rationale: string | null }) {
  return (
    <section className="answer" aria-label={`Answer ${which} (${name})`}>
      <p className="part-label">
        Answer {which} ({name}) · score <strong data-testid={`score-${which}`}>{score.toFixed(2)}</strong>
      </p>
      <div className="text-block" data-testid={`answer-${which}`}>
        {text || <span className="muted">(empty)</span>}
      </div>
      {scores && <ScoreParts scores={scores} />}
      <p className="small rationale">
        {rationale ? (
          <>
            <strong>Judge:</strong> {rationale}
          </>
        ) : (
          <span className="muted">{scores?.judge === undefined ? 'No judge: scored by the offline scorers.' : 'The judge gave no reason.'}</span>
        )}
      </p>
    </section>
  );
}
