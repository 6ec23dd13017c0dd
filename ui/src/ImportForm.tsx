import { useRef, useState, type FormEvent } from 'react';
import { ApiError, importWithProgress, type Agent, type ImportResult } from './api.ts';
import { ErrorBox, Progress } from './ui.tsx';

/** The server's invalid-file error speaks CLI ("pass --skip-invalid"); say it in the UI's words. */
function uiWording(err: unknown): unknown {
  if (!(err instanceof ApiError) || err.code !== 'invalid_file') return err;
  const msg = err.message.replace(/\s*Fix them, or pass --skip-invalid to import the valid lines only\.?/, '');
  return new Error(`${msg} Fix the file, or tick "Skip invalid lines" to import the valid lines only.`);
}

export function ImportForm({ agent, onDone }: { agent: Agent; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [skipInvalid, setSkipInvalid] = useState(false);
  const [progress, setProgress] = useState<{ value: number | null; label: string } | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) return setError(new Error('Choose a JSONL or CSV file first.'));
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
      setError(uiWording(err));
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
