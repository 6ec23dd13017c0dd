// The side panel of the examples grid: one example in full (Markdown and code rendered, then
// sanitised by DOMPurify), an editor for all of it, and its reward history. Loaded on first open,
// so the Markdown libraries stay out of the first load.
import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { client, ok, type ExampleDetail, type ExampleType } from './api.ts';
import { ErrorBox, useAction, useLoad, when } from './ui.tsx';

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

/** Markdown to safe HTML: marked renders, DOMPurify removes scripts, handlers and javascript: links. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}

export function Markdown({ text, label }: { text: string; label: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className="markdown" aria-label={label} dangerouslySetInnerHTML={{ __html: html }} />;
}

interface Draft {
  prompt: string;
  completion: string;
  reward: string;
  type: ExampleType;
  metadata: string;
}

export default function ExamplePanel({ agent, id, onClose, onSaved, startEditing }: { agent: string; id: string | null; onClose: () => void; onSaved: (id: string | null) => void; startEditing?: boolean }) {
  const detail = useLoad(() => (id ? ok(client.GET('/v1/examples/{id}', { params: { path: { id } } })) : Promise.resolve(null)), [id]);
  const heading = useRef<HTMLHeadingElement>(null);
  const [editing, setEditing] = useState(id === null || !!startEditing);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [onClose]);
  const ex = detail.data;
  return (
    <aside className="panel" role="dialog" aria-modal="false" aria-labelledby="panel-title">
      <div className="panel-head">
        <h2 id="panel-title" tabIndex={-1} ref={heading}>
          {id ? `Example ${id.slice(0, 8)}` : 'New example'}
        </h2>
        <button type="button" className="secondary" onClick={onClose} aria-label="Close the example panel">
          Close
        </button>
      </div>
      <ErrorBox error={detail.error} />
      {id && !ex && !detail.error && <p aria-busy="true">Loading…</p>}
      {ex && !editing && (
        <>
          <p className="muted small">
            <span className={`tag ${ex.exampleType}`}>{ex.exampleType}</span> reward <strong>{ex.rewardScore}</strong> · created {when(ex.createdAt)}
            {ex.source ? ` · from ${ex.source}` : ''}
          </p>
          <h3>Prompt</h3>
          <Markdown text={ex.prompt} label="Prompt" />
          <h3>Completion</h3>
          <Markdown text={ex.completion} label="Completion" />
          <h3>Metadata</h3>
          {Object.keys(ex.metadata).length ? <pre className="meta">{JSON.stringify(ex.metadata, null, 2)}</pre> : <p className="muted">none</p>}
          <button type="button" onClick={() => setEditing(true)}>
            Edit
          </button>
          <History example={ex} />
        </>
      )}
      {editing && (id === null || ex) && (
        <Editor
          agent={agent}
          example={ex ?? null}
          onCancel={() => (id ? setEditing(false) : onClose())}
          onSaved={(savedId) => {
            setEditing(false);
            detail.reload();
            onSaved(savedId);
          }}
        />
      )}
    </aside>
  );
}

function History({ example }: { example: ExampleDetail }) {
  const history = example.history;
  return (
    <section aria-labelledby="history-title">
      <h3 id="history-title">Reward history</h3>
      {history.length === 0 ? (
        <p className="muted">Not rated since it was created.</p>
      ) : (
        <ol className="history">
          {history.map((h, i) => (
            <li key={i}>
              {when(h.at)} · <strong>{h.actorName}</strong>: {h.oldReward} → {h.newReward}
              {h.oldType !== h.newType ? `, ${h.oldType} → ${h.newType}` : ''}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Editor({ agent, example, onCancel, onSaved }: { agent: string; example: ExampleDetail | null; onCancel: () => void; onSaved: (id: string | null) => void }) {
  const [d, setD] = useState<Draft>(() => ({
    prompt: example?.prompt ?? '',
    completion: example?.completion ?? '',
    reward: example ? String(example.rewardScore) : '0.5',
    type: example?.exampleType ?? 'positive',
    metadata: example && Object.keys(example.metadata).length ? JSON.stringify(example.metadata, null, 2) : '',
  }));
  const [preview, setPreview] = useState(false);
  const { busy, error, act } = useAction();
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((x) => ({ ...x, [k]: v }));
  const uid = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const reward = Number(d.reward);
      if (d.reward.trim() === '' || !Number.isFinite(reward) || reward < 0 || reward > 1) throw new Error('The reward must be a number from 0 to 1, e.g. 0.33.');
      let metadata: Record<string, unknown> = {};
      if (d.metadata.trim()) {
        try {
          metadata = JSON.parse(d.metadata) as Record<string, unknown>;
        } catch {
          throw new Error('Metadata must be a JSON object, e.g. {"source": "prod"}.');
        }
        if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new Error('Metadata must be a JSON object, e.g. {"source": "prod"}.');
      }
      if (!d.prompt.trim()) throw new Error('The prompt cannot be empty.');
      if (example) {
        const body: { prompt?: string; completion?: string; rewardScore?: number; exampleType?: ExampleType; metadata?: Record<string, unknown> } = {};
        if (d.prompt !== example.prompt) body.prompt = d.prompt;
        if (d.completion !== example.completion) body.completion = d.completion;
        if (reward !== example.rewardScore) body.rewardScore = reward;
        if (d.type !== example.exampleType) body.exampleType = d.type;
        if (JSON.stringify(metadata) !== JSON.stringify(example.metadata)) body.metadata = metadata;
        if (Object.keys(body).length) await ok(client.PATCH('/v1/examples/{id}', { params: { path: { id: example.id } }, body }));
        onSaved(example.id);
      } else {
        const created = await ok(client.POST('/v1/agents/{agent}/examples', { params: { path: { agent } }, body: { prompt: d.prompt, completion: d.completion, rewardScore: reward, exampleType: d.type, metadata } }));
        onSaved(created.id);
      }
    });
  };
  return (
    <form className="editor" onSubmit={submit} aria-label={example ? 'Edit the example' : 'Add an example'}>
      <label htmlFor={`${uid}-prompt`}>Prompt</label>
      <textarea id={`${uid}-prompt`} rows={5} value={d.prompt} onChange={(e) => set('prompt', e.target.value)} required />
      <label htmlFor={`${uid}-completion`}>Completion</label>
      <textarea id={`${uid}-completion`} rows={8} value={d.completion} onChange={(e) => set('completion', e.target.value)} />
      <label className="check">
        <input type="checkbox" checked={preview} onChange={(e) => setPreview(e.target.checked)} /> Preview Markdown
      </label>
      {preview && (
        <div className="card">
          <Markdown text={d.prompt} label="Prompt preview" />
          <hr />
          <Markdown text={d.completion} label="Completion preview" />
        </div>
      )}
      <div className="row wrap">
        <label>
          Reward
          <input type="number" min={0} max={1} step="any" inputMode="decimal" value={d.reward} onChange={(e) => set('reward', e.target.value)} />
        </label>
        <label>
          Type
          <select value={d.type} onChange={(e) => set('type', e.target.value as ExampleType)}>
            <option value="positive">Positive</option>
            <option value="negative">Negative</option>
          </select>
        </label>
      </div>
      <label htmlFor={`${uid}-metadata`}>Metadata (JSON object)</label>
      <textarea id={`${uid}-metadata`} rows={4} className="mono" value={d.metadata} onChange={(e) => set('metadata', e.target.value)} placeholder='{"source": "prod"}' />
      <ErrorBox error={error} />
      <div className="row">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : example ? 'Save changes' : 'Add example'}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
