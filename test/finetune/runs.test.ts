import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { FULL_ACCESS, type Access } from '../../src/access/access.ts';
import { buildDataset } from '../../src/datasets/builder.ts';
import { validateExample } from '../../src/examples/example.ts';
import { canTransition } from '../../src/finetune/types.ts';
import { loadLlmConfig } from '../../src/llm/provider.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';
import { FT_TEST_KEY, startFineTuneServer, type LocalFineTuneServer } from './openai-ft-server.ts';

const TOPICS = [
  'read a csv file in python', 'reverse a linked list in java', 'center a div with css grid', 'debounce a function in javascript',
  'connect to postgres from go', 'write a dockerfile for node', 'parse json in rust with serde', 'sort a dictionary by value in python',
  'make an http request with curl', 'create a git branch and push it', 'write a unit test with vitest', 'read environment variables in bash',
  'format dates in typescript', 'handle errors in async await code', 'create a virtualenv on windows', 'add an index to a sql table',
];

let env: TestEnv;
let server: LocalFineTuneServer;
let agentId: string;
// The run folders go here on both databases (the postgres test app has no data directory of its own).
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-runs-'));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

async function call(name: string, input: unknown, access: Access = FULL_ACCESS): Promise<any> {
  const op = findOperation(name);
  if (!op) throw new Error(`no operation ${name}`);
  return invoke(op, input, { app: env.app, actor: ACTOR, access });
}

async function waitFor(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  server = await startFineTuneServer();
  env = await openTestApp({ dataDir, llm: { ...loadLlmConfig({}), openaiApiKey: FT_TEST_KEY, openaiBaseUrl: server.baseURL } });
  const agent = await env.app.agents.create({ name: 'ft-agent', description: 'fine-tuning tests' }, ACTOR);
  agentId = agent.id;
  const examples = TOPICS.flatMap((topic, i) => [
    validateExample({ prompt: `How do I ${topic}?`, completion: `Here is how to ${topic}: step ${i} with a worked example.`, rewardScore: 0.9, exampleType: 'positive' }, 1 << 20),
    validateExample({ prompt: `How do I ${topic}?`, completion: `No idea about ${topic}.`, rewardScore: 0.1, exampleType: 'negative' }, 1 << 20),
  ]);
  await env.app.examples.addMany('ft-agent', examples, ACTOR);
});

afterAll(async () => {
  await env?.close();
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('status transitions', () => {
  it('only move forward, and terminal states are final', () => {
    expect(canTransition('pending', 'running')).toBe(true);
    expect(canTransition('queued', 'validating')).toBe(false);
    expect(canTransition('running', 'running')).toBe(false);
    for (const t of ['succeeded', 'failed', 'cancelled'] as const) {
      for (const to of ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const) expect(canTransition(t, to)).toBe(false);
    }
  });
});

describe('openai backend (official SDK against a local wire-format server)', () => {
  it('uploads the built dataset, creates a supervised job, and the poller takes it to succeeded', async () => {
    server.nextPlan = { statuses: ['validating_files', 'queued', 'running', 'succeeded'], fineTunedModel: 'ft:gpt-4o-mini:exemplar::ok1' };
    const spec = { agent: 'ft-agent', format: 'openai-sft' as const, validationFraction: 0.2, seed: 7 };
    const run = await call('create_run', { ...spec, backend: 'openai', baseModel: 'gpt-4o-mini', hyperparameters: { n_epochs: 2 } });
    expect(run.status).toBe('validating');
    expect(run.externalId).toMatch(/^ftjob-/);

    // The uploaded files are byte for byte the built dataset, and the run records its examples.
    const built = await buildDataset(env.app, spec);
    expect(run.datasetSha256).toBe(built.sha256.train);
    expect(run.validationSha256).toBe(built.sha256.validation);
    const job = server.jobs.get(run.externalId)!;
    const trainFile = server.files.get(job.body.training_file)!;
    expect(trainFile.purpose).toBe('fine-tune');
    expect(trainFile.sha256).toBe(built.sha256.train);
    expect(trainFile.content).toBe(built.train);
    expect(server.files.get(job.body.validation_file)!.sha256).toBe(built.sha256.validation);
    expect(job.body.model).toBe('gpt-4o-mini');
    expect(job.body.method).toEqual({ type: 'supervised', supervised: { hyperparameters: { n_epochs: 2 } } });
    const rows = await env.app.runs.examples(run.id);
    const expected = built.records.map((r) => ({ exampleId: r.id, contentHash: r.contentHash, split: r.split }));
    const key = (r: { exampleId: string }) => r.exampleId;
    expect([...rows].sort((a, b) => key(a).localeCompare(key(b)))).toEqual([...expected].sort((a, b) => key(a).localeCompare(key(b))));
    expect(run.examples.train).toBe(built.records.filter((r) => r.split === 'train').length);
    expect(run.examples.validation).toBe(built.records.filter((r) => r.split === 'validation').length);

    const poller = await env.app.runs.startPoller({ pollMs: 20 });
    try {
      await waitFor(async () => (await env.app.runs.get(run.id)).status === 'succeeded');
    } finally {
      await poller.stop();
    }
    const done = await call('get_run', { id: run.id });
    expect(done.resultModel).toBe('ft:gpt-4o-mini:exemplar::ok1');
    expect(done.statusHistory.map((h: { status: string }) => h.status)).toEqual(['pending', 'validating', 'queued', 'running', 'succeeded']);
    expect(done.finishedAt).not.toBeNull();
    const { logs } = await call('get_run_logs', { id: run.id });
    expect(logs).toContain('Created fine-tuning job');
    expect(logs).toContain('training loss=1.23');
    expect(logs).toContain('successfully completed');
    expect(logs.split('Step 1/10').length).toBe(2); // each event logged once
    expect(JSON.stringify(done) + logs).not.toContain(FT_TEST_KEY);
    expect(server.requests.every((r) => r.auth === `Bearer ${FT_TEST_KEY}`)).toBe(true);
    const { items } = await call('list_runs', { agent: 'ft-agent' });
    expect(items.map((r: { id: string }) => r.id)).toContain(run.id);
  });

  it('uses method dpo for openai-dpo datasets', async () => {
    server.nextPlan = { statuses: ['queued'] };
    const run = await call('create_run', { agent: 'ft-agent', format: 'openai-dpo', backend: 'openai', baseModel: 'gpt-4o-mini', hyperparameters: { beta: 0.2 } });
    const job = server.jobs.get(run.externalId)!;
    expect(job.body.method).toEqual({ type: 'dpo', dpo: { hyperparameters: { beta: 0.2 } } });
    expect(run.datasetFormat).toBe('openai-dpo');
    await call('cancel_run', { id: run.id });
  });

  it('records a failed job with its error message', async () => {
    server.nextPlan = {
      statuses: ['validating_files', 'failed'],
      error: { code: 'invalid_training_file', message: 'The training file has lines that are not valid JSON', param: 'training_file' },
    };
    const run = await call('create_run', { agent: 'ft-agent', format: 'openai-sft', backend: 'openai', baseModel: 'gpt-4o-mini' });
    await env.app.runs.refresh(run.id);
    const failed = await env.app.runs.get(run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('The training file has lines that are not valid JSON');
    expect(failed.error).toContain('invalid_training_file');
    expect(failed.resultModel).toBeNull();
    expect((await env.app.runs.logs(run.id)).logs).toContain('error: The training file has lines');
  });

  it('cancels a job; a finished run cannot be cancelled again', async () => {
    server.nextPlan = { statuses: ['validating_files', 'queued', 'running', 'succeeded'], fineTunedModel: 'ft:never' };
    const run = await call('create_run', { agent: 'ft-agent', format: 'openai-sft', backend: 'openai', baseModel: 'gpt-4o-mini' });
    await env.app.runs.refresh(run.id);
    const cancelled = await call('cancel_run', { id: run.id });
    expect(cancelled.status).toBe('cancelled');
    expect(server.jobs.get(run.externalId)!.status).toBe('cancelled');
    expect(server.requests.some((r) => r.method === 'POST' && r.path === `/v1/fine_tuning/jobs/${run.externalId}/cancel`)).toBe(true);
    await env.app.runs.refresh(run.id);
    const after = await env.app.runs.get(run.id);
    expect(after.status).toBe('cancelled');
    expect(after.resultModel).toBeNull();
    await expect(call('cancel_run', { id: run.id })).rejects.toMatchObject({ code: 'invalid_transition' });
  });

  it('refuses formats and hyperparameters OpenAI does not take, before recording anything', async () => {
    await expect(call('create_run', { agent: 'ft-agent', format: 'trl-kto', backend: 'openai', baseModel: 'gpt-4o-mini' })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(
      call('create_run', { agent: 'ft-agent', format: 'openai-sft', backend: 'openai', baseModel: 'gpt-4o-mini', hyperparameters: { lora_r: 8 } }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('local backend', () => {
  it('writes the Axolotl config and dataset, runs the command, captures its log and records success', async () => {
    const command = `node -e "console.log('epoch 1 loss 0.9'); console.error('warning on stderr'); console.log('epoch 2 loss 0.5')" && test -s {config} && test -s {train} && echo dir {dir}`;
    const run = await call('create_run', { agent: 'ft-agent', format: 'axolotl-alpaca', backend: 'local', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', command });
    expect(run.status).toBe('running');
    await waitFor(async () => {
      await env.app.runs.refresh(run.id);
      return (await env.app.runs.get(run.id)).status === 'succeeded';
    });
    const done = await env.app.runs.get(run.id);
    expect(done.resultModel).toBe(path.join(done.dir, 'output'));
    const { logs } = await env.app.runs.logs(run.id);
    expect(logs).toContain('epoch 1 loss 0.9');
    expect(logs).toContain('warning on stderr');
    expect(logs).toContain('epoch 2 loss 0.5');
    expect(logs).toContain(`dir ${done.dir}`);
    const yaml = parseYaml(fs.readFileSync(path.join(done.dir, 'axolotl.yaml'), 'utf8'));
    expect(yaml).toMatchObject({ adapter: 'lora', lora_r: 16, lora_alpha: 32, lora_dropout: 0.05, learning_rate: 0.0002, num_epochs: 3 });
    expect(yaml.datasets[0]).toMatchObject({ path: path.join(done.dir, 'train.jsonl'), type: 'alpaca' });
    expect(sha(fs.readFileSync(path.join(done.dir, 'train.jsonl'), 'utf8'))).toBe(done.datasetSha256);
  });

  it('records a non-zero exit code as a failure, with the log; the poller notices by itself', async () => {
    const poller = await env.app.runs.startPoller({ pollMs: 50 });
    try {
      const run = await call('create_run', {
        agent: 'ft-agent', format: 'trl-prompt-completion', backend: 'local', baseModel: 'tiny', hyperparameters: { qlora: true },
        command: 'echo "loading {config}"; echo boom >&2; exit 3',
      });
      await waitFor(async () => (await env.app.runs.get(run.id)).status === 'failed');
      const failed = await env.app.runs.get(run.id);
      expect(failed.error).toBe('the training command exited with code 3');
      const { logs } = await env.app.runs.logs(run.id);
      expect(logs).toContain('boom');
      expect(logs).toContain('trl-sft.yaml');
      const yaml = parseYaml(fs.readFileSync(path.join(failed.dir, 'trl-sft.yaml'), 'utf8'));
      expect(yaml).toMatchObject({ trainer: 'sft', load_in_4bit: true, use_peft: true });
      // {config} inside double quotes gets the bare path.
      expect(logs).toContain(`loading ${path.join(failed.dir, 'trl-sft.yaml')}\n`);
    } finally {
      await poller.stop();
    }
  });

  it('cancels a running command', async () => {
    const run = await call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'local', baseModel: 'tiny', command: 'echo started; sleep 30' });
    const cancelled = await call('cancel_run', { id: run.id });
    expect(cancelled.status).toBe('cancelled');
    await env.app.runs.refresh(run.id);
    expect((await env.app.runs.get(run.id)).status).toBe('cancelled');
  });

  it('only takes a per-run command from the CLI (no API key)', async () => {
    const keyAccess: Access = { keyId: 'key-1', admin: true, read: new Set(), write: new Set() };
    await expect(
      call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'local', baseModel: 'tiny', command: 'echo pwned' }, keyAccess),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });
});

describe('external backend', () => {
  it('registers a run and follows the updates an external system sends', async () => {
    const run = await call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'external', baseModel: 'llama-3-8b', externalId: 'job-42' });
    expect(run.status).toBe('pending');
    expect(run.externalId).toBe('job-42');
    expect(run.examples.total).toBeGreaterThan(0);
    await call('update_run', { id: run.id, status: 'running', logLines: ['epoch 1/3', 'loss 1.1'] });
    const done = await call('update_run', { id: run.id, status: 'succeeded', resultModel: 'org/llama-3-8b-ft', logLines: ['done'] });
    expect(done.status).toBe('succeeded');
    expect(done.resultModel).toBe('org/llama-3-8b-ft');
    expect(done.statusHistory.map((h: { status: string }) => h.status)).toEqual(['pending', 'running', 'succeeded']);
    expect((await call('get_run_logs', { id: run.id })).logs).toBe('epoch 1/3\nloss 1.1\ndone\n');
    const tail = await call('get_run_logs', { id: run.id, offset: 'epoch 1/3\n'.length });
    expect(tail.logs).toBe('loss 1.1\ndone\n');

    // Terminal states are final; invalid transitions are refused and change nothing.
    await expect(call('update_run', { id: run.id, status: 'running' })).rejects.toMatchObject({ code: 'invalid_transition', status: 409 });
    await expect(call('cancel_run', { id: run.id })).rejects.toMatchObject({ code: 'invalid_transition' });
    expect((await env.app.runs.get(run.id)).statusHistory).toHaveLength(3);

    const audit = await env.app.db.query<{ action: string }>(`SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY id`, [run.id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['run.create', 'run.status', 'run.status']);
  });

  it('refuses a backwards move, and update_run on runs the poller follows', async () => {
    const run = await call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'external', baseModel: 'm' });
    await call('update_run', { id: run.id, status: 'running' });
    await expect(call('update_run', { id: run.id, status: 'queued' })).rejects.toMatchObject({ code: 'invalid_transition' });
    const failed = await call('update_run', { id: run.id, status: 'failed', error: 'out of memory' });
    expect(failed.error).toBe('out of memory');
    const { items } = await call('list_runs', { agent: 'ft-agent', backend: undefined, status: 'running' });
    expect(items.every((r: { status: string }) => r.status === 'running')).toBe(true);
    const local = (await env.app.runs.list('ft-agent')).find((r) => r.backend === 'local')!;
    await expect(call('update_run', { id: local.id, status: 'succeeded' })).rejects.toMatchObject({ code: 'invalid_transition' });
  });

  it('checks access: read keys may look but not change; other agents see nothing', async () => {
    const run = await call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'external', baseModel: 'm' });
    const reader: Access = { keyId: 'k-read', admin: false, read: new Set([agentId]), write: new Set() };
    const stranger: Access = { keyId: 'k-other', admin: false, read: new Set(), write: new Set(['00000000-0000-0000-0000-000000000000']) };
    expect((await call('get_run', { id: run.id }, reader)).id).toBe(run.id);
    expect((await call('list_runs', { agent: 'ft-agent' }, reader)).items.length).toBeGreaterThan(0);
    await expect(call('update_run', { id: run.id, status: 'running' }, reader)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(call('cancel_run', { id: run.id }, reader)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(call('create_run', { agent: 'ft-agent', format: 'trl-conversational', backend: 'external', baseModel: 'm' }, reader)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(call('get_run', { id: run.id }, stranger)).rejects.toMatchObject({ code: 'not_found' });
    await expect(call('get_run_logs', { id: run.id }, stranger)).rejects.toMatchObject({ code: 'not_found' });
  });
});
