import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, TEST_DB } from '../support/app.ts';

const BIN = path.resolve('bin/exemplar.js');
let t: Awaited<ReturnType<typeof cliEnv>>;
let tmp: string;
beforeAll(async () => {
  t = await cliEnv();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-cli-files-'));
});
afterAll(async () => {
  await t.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function cli(args: string[], input?: string) {
  const { DATABASE_URL: _, ...parentEnv } = process.env;
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...parentEnv, ...t.env }, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('exemplar CLI', () => {
  it('runs SQL; a one-off command on PGlite gets the whole timeout, as no one waits behind it', () => {
    // generate_series of 300,000: over the 50 ms a server gives each gateway query on PGlite, well within 5 s.
    const sql = 'SELECT count(*)::int AS n FROM generate_series(1, 300000)';
    const r = cli(['--json', 'sql', sql]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: [{ n: 300000 }], truncated: false });
    if (TEST_DB === 'pglite') {
      const { DATABASE_URL: _, ...parentEnv } = process.env;
      const limited = spawnSync(process.execPath, [BIN, 'sql', sql], { env: { ...parentEnv, ...t.env, EXEMPLAR_SQL_EMBEDDED_MAX_MS: '50' }, encoding: 'utf8' });
      expect(limited.status).not.toBe(0);
      expect(limited.stderr).toMatch(/would run longer than 50 ms.*EXEMPLAR_SQL_EMBEDDED_MAX_MS/);
    }
  });

  it('loads the demo agent, and running it again adds nothing', () => {
    const first = cli(['--json', 'demo']);
    expect(first.code, first.stderr).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out).toMatchObject({ agent: 'demo-coding-assistant', created: true });
    expect(out.examples).toBeGreaterThanOrEqual(300);
    expect(out.positive).toBeGreaterThan(0);
    expect(out.negative).toBeGreaterThan(0);
    const again = JSON.parse(cli(['--json', 'demo']).stdout);
    expect(again).toMatchObject({ created: false, added: 0, examples: out.examples });
  });

  it('creates, shows, updates and lists agents, as tables or JSON', () => {
    expect(cli(['agents', 'create', 'cli-agent', '--description', 'made by a test', '--alpha', '0.7', '--beta', '0.3']).stdout).toMatch(/Created agent "cli-agent"/);
    const shown = JSON.parse(cli(['--json', 'agents', 'show', 'cli-agent']).stdout);
    expect(shown).toMatchObject({ name: 'cli-agent', similarityWeight: 0.7, scoreWeight: 0.3, exampleCount: 0 });
    cli(['agents', 'update', 'cli-agent', '--description', 'changed']);
    const list = cli(['agents', 'list']);
    expect(list.stdout).toMatch(/cli-agent\s+0\s+0\.700\s+0\.300\s+changed/);
  });

  it('imports a file with a progress-capable import, exports it, and deletes with --yes', () => {
    const file = path.join(tmp, 'in.csv');
    fs.writeFileSync(file, 'prompt,completion,reward_score,example_type\nq1,a1,0.9,positive\nq2,a2,0.1,negative\n');
    cli(['agents', 'create', 'io']);
    const imported = cli(['examples', 'import', file, '--agent', 'io']);
    expect(imported.stdout).toContain('Imported 2 examples (0 duplicates skipped)');
    const out = path.join(tmp, 'out.jsonl');
    expect(cli(['examples', 'export', '--agent', 'io', '--type', 'positive', '--out', out]).stderr).toContain('Exported 1 example.');
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ prompt: 'q1', reward_score: 0.9 });
    const ids = JSON.parse(cli(['--json', 'examples', 'list', '--agent', 'io']).stdout).items.map((e: { id: string }) => e.id);
    expect(cli(['examples', 'delete', ...ids]).code).toBe(2); // no --yes, no terminal: refuses
    expect(cli(['examples', 'delete', ...ids, '--yes']).stdout).toContain('Deleted 2 examples');
  });

  it('reads a file from stdin with -', () => {
    cli(['agents', 'create', 'stdin']);
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    const r = cli(['--json', 'examples', 'import', '-', '--agent', 'stdin', '--reward', '1', '--type', 'positive'], `${line}\n`);
    expect(JSON.parse(r.stdout)).toMatchObject({ added: 1 });
  });

  it('reports bad input with the line, exit code 2, and JSON errors with --json', () => {
    const file = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(file, '{"prompt":"a","completion":"b","reward_score":0.5,"example_type":"positive"}\nnot json\n');
    cli(['agents', 'create', 'bad']);
    const r = cli(['examples', 'import', file, '--agent', 'bad']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 2: not valid JSON/);
    expect(r.stderr).toContain('--skip-invalid');
    const flag = cli(['examples', 'add', '--agent', 'bad', '--prompt', 'p', '--completion', 'c', '--reward', '2', '--type', 'positive']);
    expect(flag.stderr).toContain('error: --reward: must be between 0 and 1');
    // Every invalid input exits 2, in the user's own words: the flag typed, the value typed.
    const choice = cli(['examples', 'list', '--agent', 'bad', '--type', 'good']);
    expect([choice.code, choice.stderr]).toEqual([2, expect.stringContaining("argument 'good' is invalid. Allowed choices are positive, negative")]);
    expect(cli(['examples', 'list', '--agent', 'bad', '--min-score', 'high'])).toMatchObject({ code: 2, stderr: 'error: --min-score: must be a number, got "high"\n' });
    expect(cli(['examples', 'import', path.join(tmp, 'missing.jsonl'), '--agent', 'bad'])).toMatchObject({ code: 2, stderr: `error: cannot read ${path.join(tmp, 'missing.jsonl')}: no such file\n` });
    expect(cli(['no-such-command']).code).toBe(2);
    // One line with its newline is one line, and one example is not "examples".
    fs.writeFileSync(file, '{"prompt":"one","completion":"b","reward_score":0.5,"example_type":"positive"}\n');
    const one = cli(['--json', 'examples', 'import', file, '--agent', 'bad']);
    expect(JSON.parse(one.stdout)).toMatchObject({ lines: 1, added: 1 });
    expect(cli(['examples', 'import', file, '--agent', 'bad']).stdout).toContain('Imported 0 examples (1 duplicate skipped).');
    const json = cli(['--json', 'agents', 'show', 'nobody']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'not_found', message: 'agent not found: nobody', details: { entity: 'agent', key: 'nobody' } } });
  });

  it('teaches through --help', () => {
    const help = cli(['--help']).stdout;
    expect(help).toContain('Quick start');
    expect(help).toContain('agents');
    const importHelp = cli(['examples', 'import', '--help']).stdout;
    expect(importHelp).toContain('--skip-invalid');
    expect(importHelp).toContain('Examples:');
    expect(importHelp).toContain('exemplar examples import data.jsonl --agent code-helper');
    expect(cli(['--help']).stdout).toContain('--json');
  });

  it('writes whole outputs through a pipe: a 50k-row export and a large --json carry the bytes a file gets', () => {
    const file = path.join(tmp, 'big.jsonl');
    fs.writeFileSync(file, Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ prompt: `question number ${i}`, completion: `answer ${i}`, reward_score: (i % 100) / 100, example_type: i % 2 ? 'positive' : 'negative' })).join('\n'));
    expect(cli(['agents', 'create', 'piped']).code).toBe(0);
    expect(cli(['examples', 'import', file, '--agent', 'piped']).code).toBe(0);
    const out = path.join(tmp, 'export.jsonl');
    expect(cli(['examples', 'export', '--agent', 'piped', '--out', out]).code).toBe(0);
    const piped = cli(['examples', 'export', '--agent', 'piped']); // spawnSync reads stdout through a pipe
    expect(piped.code).toBe(0);
    expect(Buffer.byteLength(piped.stdout)).toBe(fs.statSync(out).size);
    expect(piped.stdout.trim().split('\n')).toHaveLength(50_000);
    const json = cli(['--json', 'examples', 'list', '--agent', 'piped', '--limit', '1000']);
    expect(json.stdout.length).toBeGreaterThan(65_536);
    expect(JSON.parse(json.stdout).items).toHaveLength(1000);
    // A reader that stops early is not an error: no stack trace.
    const { DATABASE_URL: _, ...parentEnv } = process.env;
    const head = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" examples export --agent piped | head -c 100`], { env: { ...parentEnv, ...t.env }, encoding: 'utf8' });
    expect(head.stdout).toHaveLength(100);
    expect(head.stderr).not.toMatch(/EPIPE|at .*\.ts/);
  });

  it('takes the global options before or after the command', () => {
    const before = JSON.parse(cli(['--json', 'agents', 'list']).stdout);
    const after = JSON.parse(cli(['agents', 'list', '--json']).stdout);
    expect(after).toEqual(before);
  });

  it('measures and tunes search on a labelled file, under `search` beside plain searches', () => {
    const file = path.join(tmp, 'questions.jsonl');
    fs.writeFileSync(file, [
      '{"query": "load csv rows as dicts in python", "relevant": [{"prompt": "How do I read a CSV file into a list", "exampleType": "positive"}]}',
      '{"query": "undo the last git commit", "relevant": [{"prompt": "How do I undo my last commit", "exampleType": "positive", "grade": 2}]}',
    ].join('\n'));
    const evaluated = cli(['search', 'eval', file, '--agent', 'demo-coding-assistant', '--compare', '0.6,0.4', '1,0']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toContain('2 questions (labelled set) on agent "demo-coding-assistant"');
    expect(evaluated.stdout).toMatch(/similarity weight +score weight +hit@1 +hit@5 +mrr@10 +ndcg@10/);
    const json = JSON.parse(cli(['--json', 'search', 'eval', file, '--agent', 'demo-coding-assistant']).stdout);
    expect(json.settings.map((x: { similarityWeight: number }) => x.similarityWeight)).toEqual([0.6, 1]);
    const tuned = JSON.parse(cli(['search', 'tune', file, '--agent', 'demo-coding-assistant', '--step', '0.25', '--json']).stdout);
    expect(tuned.grid).toHaveLength(5);
    expect(tuned.applied).toBe(false);
    // A plain search still works, with or without a query.
    expect(cli(['search', 'undo the last git commit', '--agent', 'demo-coding-assistant', '--top-k', '1']).stdout).toContain('undo');
    const noQuery = JSON.parse(cli(['--json', 'search', '--agent', 'demo-coding-assistant', '--type', 'negative', '--top-k', '2']).stdout);
    expect(noQuery.results.map((r: { similarity: null }) => r.similarity)).toEqual([null, null]);
    // Bad lines are named, with exit code 2.
    fs.writeFileSync(file, '{"query": "x", "relevant": ["How do I read a CSV file into a list"]}\n{"query": "y"}\n');
    const bad = cli(['search', 'eval', file, '--agent', 'demo-coding-assistant']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 2: relevant: is required');
    expect(cli(['search', 'eval', '--agent', 'demo-coding-assistant']).stderr).toContain('has no relevance judgments yet');
  });
});

describe('exemplar serve --demo (npm start)', () => {
  it('loads the demo on first start, prints a sign-in link once, serves the API, and stops cleanly on SIGTERM', async () => {
    const start = async () => {
      const { DATABASE_URL: _, ...parentEnv } = process.env;
      const child = spawn(process.execPath, [BIN, 'serve', '--demo', '--port', '0'], { env: { ...parentEnv, ...t.env } });
      let err = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /serving (http:\/\/[^:]+:\d+)/.exec(err);
          if (m && (err.includes('#key=') || err.includes('Sign in'))) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
      });
      return { child, url, err: () => err };
    };
    const first = await start();
    const key = /#key=(exm_[\w-]+)/.exec(first.err())?.[1];
    expect(key).toBeTruthy();
    const agents = await (await fetch(`${first.url}/v1/agents`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(agents.items.map((a: { name: string }) => a.name)).toContain('demo-coding-assistant');
    first.child.kill('SIGTERM');
    expect(await new Promise((r) => first.child.once('exit', r))).toBe(0);
    const second = await start();
    expect(second.err()).not.toContain('#key=');
    expect(second.err()).toContain('Sign in to the web UI with an API key');
    if (TEST_DB === 'pglite') {
      // The server owns the embedded database; CLI commands run in it, through <data dir>/server.json.
      const channel = path.join(t.env.EXEMPLAR_DATA_DIR, 'server.json');
      expect(fs.statSync(channel).mode & 0o777).toBe(0o600); // only this user can read its token
      const listed = cli(['--json', 'agents', 'list']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout).items.map((a: { name: string }) => a.name)).toContain('demo-coding-assistant');
      const created = cli(['keys', 'create', '--scope', 'admin', '--name', 'beside the server']);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stderr).toMatch(new RegExp(`Sign in to the web UI of the running server: ${second.url}/#key=exm_`));
      // Errors keep their exit codes and words.
      expect(cli(['agents', 'show', 'nobody'])).toMatchObject({ code: 1, stderr: 'error: agent not found: nobody\n' });
      expect(cli(['examples', 'list', '--agent', 'demo-coding-assistant', '--limit', '0']).code).toBe(2);
      // Without the token, the channel is not there.
      const { token } = JSON.parse(fs.readFileSync(channel, 'utf8')) as { token: string };
      const body = JSON.stringify({ operation: 'list_agents', input: {} });
      expect((await fetch(`${second.url}/local/invoke`, { method: 'POST', body })).status).toBe(404);
      expect((await fetch(`${second.url}/local/invoke`, { method: 'POST', body, headers: { authorization: `Bearer ${token}x` } })).status).toBe(404);
      expect((await fetch(`${second.url}/local/invoke`, { method: 'POST', body, headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
      expect(fs.existsSync(channel)).toBe(false);
      expect(cli(['agents', 'list']).code).toBe(0); // and the CLI opens the database itself again
    } else {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  });
});

describe.runIf(TEST_DB === 'pglite')('the embedded database', () => {
  it('refuses a second process clearly instead of letting two processes write one folder', async () => {
    const { Exemplar } = await import('../../src/exemplar.ts');
    const { loadConfig } = await import('../../src/config/config.ts');
    const app = await Exemplar.open(loadConfig({ EXEMPLAR_DATA_DIR: t.env.EXEMPLAR_DATA_DIR }));
    try {
      const r = cli(['agents', 'list']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`is in use by process ${process.pid}`);
    } finally {
      await app.close();
    }
    expect(cli(['agents', 'list']).code).toBe(0);
  });
});
