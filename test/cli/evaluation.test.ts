import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JUDGE_SYSTEM } from '../../src/evaluation/judge.ts';
import { cliEnv } from '../support/app.ts';
import { OPENAI_TEST_KEY, startLocalOpenAIChat, type LocalLlmServer } from '../llm/llm-servers.ts';

// The evaluation commands as a shell user runs them, against a local Chat Completions server. The
// CLI runs asynchronously: the server lives in this process and must keep answering meanwhile.

const BIN = path.resolve('bin/exemplar.js');
const run = promisify(execFile);
let t: Awaited<ReturnType<typeof cliEnv>>;
let chat: LocalLlmServer;
let tmp: string;

beforeAll(async () => {
  t = await cliEnv();
  chat = await startLocalOpenAIChat();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-cli-eval-'));
  // The optimizer gets a new prompt; the agent answers with its system prompt's first word, so v2's answers mention the panel.
  chat.reply = ({ system, prompt }) => {
    if (prompt.includes('<current_prompt>')) return '<improved_prompt>v3: name the panel.</improved_prompt>';
    if (system === JUDGE_SYSTEM) return '{"rationale": "both are as good", "verdict": "tie"}';
    return system?.startsWith('v2') ? `Open panel ${prompt.split(' ').pop()}.` : 'Not sure.';
  };
});
afterAll(async () => {
  await t.close();
  await chat.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const { DATABASE_URL: _, ANTHROPIC_API_KEY: __, ...parentEnv } = process.env;
  const env = { ...parentEnv, ...t.env, OPENAI_BASE_URL: chat.baseURL, OPENAI_API_KEY: OPENAI_TEST_KEY };
  try {
    const r = await run(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('exemplar eval', () => {
  it('pins an eval set, estimates, runs two versions, compares them and gates an optimization', async () => {
    const file = path.join(tmp, 'ev.jsonl');
    const lines = [];
    for (let i = 0; i < 12; i++) {
      lines.push(JSON.stringify({ prompt: `where is setting ${i}`, completion: `Open panel ${i}.`, reward_score: 0.9, example_type: 'positive' }));
      if (i % 3 === 0) lines.push(JSON.stringify({ prompt: `where is setting ${i}`, completion: 'Not sure.', reward_score: 0.1, example_type: 'negative' }));
    }
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    expect((await cli(['agents', 'create', 'ev-cli'])).code).toBe(0);
    expect((await cli(['examples', 'import', file, '--agent', 'ev-cli'])).code).toBe(0);
    fs.writeFileSync(path.join(tmp, 'v1.txt'), 'v1: be brief.');
    fs.writeFileSync(path.join(tmp, 'v2.txt'), 'v2: name the panel.');
    expect((await cli(['prompt', 'set', path.join(tmp, 'v1.txt'), '--agent', 'ev-cli', '--label', 'production'])).code).toBe(0);
    expect((await cli(['prompt', 'set', path.join(tmp, 'v2.txt'), '--agent', 'ev-cli'])).code).toBe(0);

    const created = await cli(['eval', 'set', 'create', '--agent', 'ev-cli', '--size', '8', '--seed', '3']);
    expect(created.stdout, created.stderr).toMatch(/^Created Eval set version 1 of ev-cli: 8 items, \d+ contrasts? \(seed 3, [0-9a-f]{12}\)\./);
    const shown = JSON.parse((await cli(['--json', 'eval', 'set', 'show', '--agent', 'ev-cli'])).stdout);
    expect(shown.members.filter((m: { role: string }) => m.role === 'item')).toHaveLength(8);

    const dry = await cli(['eval', 'run', '--agent', 'ev-cli', '--version', '2', '--against', 'production', '--provider', 'openai', '--dry-run']);
    expect(dry.stdout, dry.stderr).toMatch(/^Dry run \(version 2\): 16 requests \(0 cached\).*\nDry run \(version 1\): 16 requests \(0 cached\)/);
    expect(chat.requests).toHaveLength(0);

    const ran = await cli(['eval', 'run', '--agent', 'ev-cli', '--version', '2', '--against', '1', '--provider', 'openai', '--no-judge', '--check-contains', 'panel']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/^Run [0-9a-f-]{36} \(version 2, eval set v1, openai\/.*, no judge\): completed, 8\/8 scored/);
    expect(ran.stdout).toMatch(/\nRun [0-9a-f-]{36} \(version 1, /);
    expect(ran.stdout).toContain('version 2 against version 1 on eval set v1: 8 wins, 0 ties, 0 losses; the gate opens');

    const list = JSON.parse((await cli(['--json', 'eval', 'list', '--agent', 'ev-cli'])).stdout);
    expect(list.items.map((r: { promptVersion: number }) => r.promptVersion)).toEqual([1, 2]);
    const detail = await cli(['eval', 'show', list.items[1].id, '--agent', 'ev-cli']);
    expect(detail.stdout.split('\n').filter((l) => /^\s+\d\.\d{3}\s+[0-9a-f-]{36}\s+where is setting/.test(l))).toHaveLength(8);

    const compared = JSON.parse((await cli(['--json', 'eval', 'compare', '--agent', 'ev-cli', '--a', '1', '--b', '2'])).stdout);
    expect(compared.comparison).toMatchObject({ n: 8, wins: 8, losses: 0 });
    expect(compared.pairs[0].answerB).toMatch(/^Open panel/);

    // The optimizer's v3 answers like v1 ("Not sure.") and the judge calls every pair even: no better
    // than production, so it stays a candidate.
    const optimized = await cli(['optimize', '--agent', 'ev-cli', '--provider', 'openai', '--promote-if-better']);
    expect(optimized.code, optimized.stderr).toBe(0);
    expect(optimized.stdout).toMatch(/Saved version 3 as candidate\. .*\nNot promoted, kept as candidate: against production \(version 1\) on eval set version 1, not shown to be better/);

    const bad = await cli(['eval', 'run', '--agent', 'ev-cli', '--version', 'latest']);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('--version: must be a version number, production or none') });
  }, 240_000);
});
