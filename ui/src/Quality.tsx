// Quality over time: agent_stats drawn with Recharts (loaded only when this tab opens). The same
// numbers come from `exemplar stats --agent A` and the MCP tool.
import { cloneElement, useEffect, useRef, useState, type ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { client, ok, type Agent, type paths } from './api.ts';
import { ErrorBox, useLoad } from './ui.tsx';

type Stats = paths['/v1/agents/{agent}/stats']['get']['responses'][200]['content']['application/json'];

const SOURCE_COLORS: Record<string, string> = {
  import: '#4f7fe0',
  ui: '#2f9e60',
  mcp: '#8a4fd0',
  rest: '#d08a1f',
  cli: '#3aa6b9',
  demo: '#9aa3ad',
  library: '#c2559d',
  database: '#b42318',
  unknown: '#cfd5dc',
};
const POS = '#2f9e60';
const NEG = '#d0453a';

export default function Quality({ agent }: { agent: Agent }) {
  const [weeks, setWeeks] = useState(12);
  const stats = useLoad(() => ok(client.GET('/v1/agents/{agent}/stats', { params: { path: { agent: agent.name }, query: { weeks, buckets: 10 } } })), [agent.name, weeks]);
  const s = stats.data;
  return (
    <div className="tab-body quality">
      <ErrorBox error={stats.error} />
      <label className="inline">
        Weeks
        <select value={weeks} onChange={(e) => setWeeks(Number(e.target.value))}>
          {[4, 12, 26, 52].map((w) => (
            <option key={w} value={w}>
              last {w}
            </option>
          ))}
        </select>
      </label>
      {!s ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <dl className="stats card">
            <div>
              <dt>Examples</dt>
              <dd>{s.total}</dd>
            </div>
            <div>
              <dt>Positive / negative</dt>
              <dd>
                {s.byType.positive} / {s.byType.negative}
              </dd>
            </div>
            <div>
              <dt>Mean / median reward</dt>
              <dd>
                {fmt(s.meanReward)} / {fmt(s.medianReward)}
              </dd>
            </div>
            <div>
              <dt>Never used in a search, dataset or run</dt>
              <dd data-testid="never-used">
                {s.usage.neverUsed} ({Math.round(s.usage.neverUsedShare * 100)}%)
              </dd>
            </div>
          </dl>
          <div className="charts">
            <Chart title="Reward histogram" note="Examples by current reward, split by type.">
              <BarChart data={s.rewardHistogram.map((b) => ({ ...b, bucket: `${b.from.toFixed(1)}–${b.to.toFixed(1)}` }))}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="bucket" fontSize={11} />
                <YAxis allowDecimals={false} fontSize={11} width={36} />
                <Tooltip />
                <Legend />
                <Bar dataKey="positive" stackId="t" fill={POS} isAnimationActive={false} />
                <Bar dataKey="negative" stackId="t" fill={NEG} isAnimationActive={false} />
              </BarChart>
            </Chart>
            <Chart title="Examples added by week and type" note="Weeks start on Monday (UTC).">
              <BarChart data={s.weeks}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="week" fontSize={11} tickFormatter={short} />
                <YAxis allowDecimals={false} fontSize={11} width={36} />
                <Tooltip />
                <Legend />
                <Bar dataKey="positive" stackId="t" fill={POS} isAnimationActive={false} />
                <Bar dataKey="negative" stackId="t" fill={NEG} isAnimationActive={false} />
              </BarChart>
            </Chart>
            <Chart title="Mean and median reward by week" note="Of the examples added that week, at their current reward.">
              <LineChart data={s.weeks}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="week" fontSize={11} tickFormatter={short} />
                <YAxis domain={[0, 1]} fontSize={11} width={36} />
                <Tooltip />
                <Legend />
                <Line dataKey="meanReward" name="mean" stroke="#2457c5" connectNulls isAnimationActive={false} />
                <Line dataKey="medianReward" name="median" stroke="#8a4fd0" strokeDasharray="4 3" connectNulls isAnimationActive={false} />
              </LineChart>
            </Chart>
            <Chart title="Examples added by week and source" note="Where examples came from: import, the UI, MCP, REST, the CLI, the demo, the library or the database.">
              <BarChart data={s.weeks.map((w) => ({ week: w.week, ...w.bySource }))}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="week" fontSize={11} tickFormatter={short} />
                <YAxis allowDecimals={false} fontSize={11} width={36} />
                <Tooltip />
                <Legend />
                {Object.keys(s.bySource)
                  .filter((k) => (s.bySource as Record<string, number>)[k] > 0)
                  .map((k) => (
                    <Bar key={k} dataKey={k} stackId="s" fill={SOURCE_COLORS[k] ?? '#888'} isAnimationActive={false} />
                  ))}
              </BarChart>
            </Chart>
          </div>
        </>
      )}
    </div>
  );
}

/** A titled chart as wide as its box (measured, so it follows the layout down to a phone's width). */
function Chart({ title, note, children }: { title: string; note: string; children: ReactElement<{ width?: number; height?: number }> }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setWidth(Math.floor(el.getBoundingClientRect().width));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return (
    <figure className="card chart" aria-label={title}>
      <figcaption>
        <strong>{title}</strong> <span className="muted small">{note}</span>
      </figcaption>
      <div className="chart-box" ref={box}>
        {width > 0 && cloneElement(children, { width, height: 220 })}
      </div>
    </figure>
  );
}

function fmt(n: number | null): string {
  return n === null ? '—' : n.toFixed(2);
}
function short(week: string): string {
  return week.slice(5);
}
