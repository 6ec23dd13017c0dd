import { useState } from 'react';
import { client, ok, type Agent } from './api.ts';
import { Empty, ErrorBox, Progress, useAction, useLoad, when } from './ui.tsx';

export function IndexTab({ agent }: { agent: Agent }) {
  const status = useLoad(() => ok(client.GET('/v1/index/status')), [agent.id]);
  const { busy, error, act } = useAction();
  const [done, setDone] = useState<string | null>(null);
  const s = status.data?.items.find((i) => i.agentId === agent.id);
  const rebuild = async () => {
    setDone(null);
    await act(async () => {
      const r = await ok(client.POST('/v1/index/sync', { body: { agent: agent.name, forceRebuild: true } }));
      setDone(`Rebuilt: ${r.agents[0]?.count ?? 0} examples indexed in ${Math.round(r.agents[0]?.ms ?? 0)} ms.`);
      status.reload();
    });
  };
  return (
    <div className="tab-body">
      <ErrorBox error={status.error} />
      {status.data && !s ? (
        <Empty>This agent has no index status yet.</Empty>
      ) : (
        s && (
          <dl className="stats card">
            <div>
              <dt>Indexed</dt>
              <dd>{s.count ?? 'not built'}</dd>
            </div>
            <div>
              <dt>Stored examples</dt>
              <dd>{s.examples}</dd>
            </div>
            <div>
              <dt>Sync lag</dt>
              <dd>
                {s.lagChanges} changes{s.lagChanges ? `, oldest ${s.lagSeconds.toFixed(1)} s` : ''}
              </dd>
            </div>
            <div>
              <dt>Last sync</dt>
              <dd>{when(s.lastSync)}</dd>
            </div>
            <div>
              <dt>Embedding model</dt>
              <dd>{s.model}</dd>
            </div>
          </dl>
        )
      )}
      <div className="row">
        <button type="button" onClick={rebuild} disabled={busy}>
          {busy ? 'Rebuilding…' : 'Rebuild index'}
        </button>
        <button type="button" className="secondary" onClick={status.reload}>
          Refresh
        </button>
      </div>
      {busy && <Progress value={null} label="Re-embedding every example into a fresh index…" />}
      {done && (
        <p role="status" className="ok">
          {done}
        </p>
      )}
      <ErrorBox error={error} />
    </div>
  );
}
